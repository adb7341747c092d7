#!/bin/bash
# tandem-coord end to end: a 1-member etcd, CURVE keys and an allow-list, the daemon on an
# ephemeral 127.0.0.1 port, driven by coordctl_driver: two nodes register (sites A and B),
# both ask for the zone's lease (one grant, epoch 1, one HELD), a commit with the current
# epoch is accepted and one with a stale epoch refused, status shows the holder. A key not
# in the allow-list gets no answer and its refusal shows in the daemon's log. SIGTERM: exit 0.
#
# Driver: tests/unit/coordd/coordctl_driver (exit 0 accepted, 2 refused, 4 no answer).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=etcd.sh
source "$(dirname "$0")/etcd.sh"

# Not tdm_setup: this test needs neither the signer nor the validators.
TDM_SRC=${TANDEM_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
TDM_BUILD=${1:-${TANDEM_BUILD:-$TDM_SRC/build}}
TDM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tandem-${TDM_NAME}.XXXXXX")
trap tdm_cleanup EXIT
trap 'exit 130' INT TERM
DRIVER=$TDM_BUILD/tests/unit/coordd/coordctl_driver
COORD=$TDM_BUILD/src/coordd/tandem-coord
[ -x "$DRIVER" ] || tdm_fail "coordctl_driver not found at $DRIVER"
[ -x "$COORD" ] || tdm_fail "tandem-coord not found at $COORD"
tdm_need etcd curl python3 timeout
TDM_ETCD_DIR=$TDM_TMP/etcd
K=$TDM_TMP/keys
ZONE=example.com.
DIGEST=$(printf 'signed zone' | sha256sum | cut -c1-64)

tdm_etcd_start 1

# ---- keys and allow-list ----------------------------------------------------------------
mkdir -p "$K"
for who in coord node-a1 node-b1 stranger; do
	"$DRIVER" keygen "$K/$who.pub" "$K/$who.secret" || tdm_fail "keygen $who"
done
pub() { awk '$1 == "public" { print $2 }' "$K/$1.pub"; }
{
	printf '# test cluster\n'
	printf 'node-a1 node %s\n' "$(pub node-a1)"
	printf 'node-b1 node %s\n' "$(pub node-b1)"
} >"$TDM_TMP/allow"

# ---- the daemon ---------------------------------------------------------------------------
COORD_PID=
stop_coord() {
	if [ -n "$COORD_PID" ] && kill -0 "$COORD_PID" 2>/dev/null; then
		kill -9 "$COORD_PID" 2>/dev/null || true
		wait "$COORD_PID" 2>/dev/null || true
	fi
}
tdm_on_exit stop_coord
"$COORD" --etcd "$(tdm_etcd_endpoints)" --listen 'tcp://127.0.0.1:*' --key "$K/coord.secret" \
	--allow "$TDM_TMP/allow" --name coord-a --prefix /test/coordd/ --zone "$ZONE" \
	--pid-file "$TDM_TMP/coord.pid" >"$TDM_TMP/coord.out" 2>"$TDM_TMP/coord.err" &
COORD_PID=$!
EP=
for _ in $(seq 1 100); do
	EP=$(awk '$1 == "listening" { print $2 }' "$TDM_TMP/coord.out")
	[ -z "$EP" ] || break
	kill -0 "$COORD_PID" 2>/dev/null || tdm_fail "tandem-coord exited at start" -- "$TDM_TMP/coord.err"
	sleep 0.1
done
[ -n "$EP" ] || tdm_fail "tandem-coord did not print its endpoint in 10 s" -- "$TDM_TMP/coord.err"
case $EP in tcp://127.0.0.1:*) ;; *) tdm_fail "unexpected endpoint $EP" ;; esac
tdm_assert_eq "pid file" "$COORD_PID" "$(cat "$TDM_TMP/coord.pid")"
tdm_pass "tandem-coord listening on $EP"

# as WHO: the driver with WHO's key; bounded inside (timeout x attempts) and outside
as() {
	local who=$1
	shift
	timeout 20 "$DRIVER" -e "$EP" -s "$K/coord.pub" -k "$K/$who.secret" -t 2000 -a 2 "$@"
}

# ---- registration and the lease ---------------------------------------------------------
tdm_assert_ok "register node-a1 at site A" as node-a1 register node-a1 A
tdm_assert_ok "register node-b1 at site B" as node-b1 register node-b1 B
tdm_run impersonate as node-b1 register node-a1 A
[ "$TDM_RC" -eq 5 ] || tdm_fail "node-b1 registering as node-a1: expected exit 5, got $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
tdm_pass "a node cannot speak for another"

tdm_assert_ok "node-a1 asks for the lease" as node-a1 request "$ZONE" node-a1
tdm_assert_grep "granted with epoch 1" '^accepted epoch=1 ' "$TDM_OUT"
tdm_run lease-b as node-b1 request "$ZONE" node-b1
[ "$TDM_RC" -eq 2 ] || tdm_fail "second lease request: expected refusal (exit 2), got $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
tdm_assert_grep "second request refused as held" '^refused lease held' "$TDM_OUT"
tdm_pass "one grant, one refusal"

# ---- commits --------------------------------------------------------------------------------
tdm_assert_ok "commit with epoch 1" as node-a1 commit "$ZONE" node-a1 1 2 "$DIGEST"
tdm_run stale as node-a1 commit "$ZONE" node-a1 0 4 "$DIGEST"
[ "$TDM_RC" -eq 2 ] || tdm_fail "stale commit: expected refusal (exit 2), got $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
tdm_assert_grep "stale epoch refused" '^refused stale epoch' "$TDM_OUT"
tdm_assert_grep "refusal logged" 'refused commit from node-a1: stale epoch' "$TDM_TMP/coord.err"
tdm_run notholder as node-b1 commit "$ZONE" node-b1 1 3 "$DIGEST"
[ "$TDM_RC" -eq 2 ] || tdm_fail "commit by the standby: expected refusal, got $TDM_RC" -- "$TDM_OUT"
tdm_pass "commits fenced by epoch and holder"

# ---- status ---------------------------------------------------------------------------------
tdm_assert_ok "status" as node-b1 status
tdm_assert_grep "holder shown" "^zone $ZONE holder=node-a1 epoch=1 serial=2 left_ms=[1-9]" "$TDM_OUT"
tdm_assert_grep "node-a1 shown" '^node node-a1 site=A state=0 healthy=1$' "$TDM_OUT"
tdm_assert_grep "node-b1 shown" '^node node-b1 site=B state=0 healthy=1$' "$TDM_OUT"

# ---- an unknown key -------------------------------------------------------------------------
t0=$(date +%s)
tdm_run stranger timeout 20 "$DRIVER" -e "$EP" -s "$K/coord.pub" -k "$K/stranger.secret" \
	-t 500 -a 2 status
[ "$TDM_RC" -eq 4 ] || tdm_fail "unknown key: expected no answer (exit 4), got $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
[ $(($(date +%s) - t0)) -le 5 ] || tdm_fail "unknown key: the wait was not bounded"
for _ in $(seq 1 50); do
	grep -qF -- "$(pub stranger)" "$TDM_TMP/coord.err" && break
	sleep 0.1
done
grep -F -- "$(pub stranger)" "$TDM_TMP/coord.err" | grep -q 'refused connection' ||
	tdm_fail "the stranger's refusal is not in the daemon's log" -- "$TDM_TMP/coord.err"
if grep -qF -- "$(awk '$1 == "secret" { print $2 }' "$K/coord.secret")" "$TDM_TMP/coord.err"; then
	tdm_fail "the coordinator's secret key is in its log"
fi
tdm_pass "unknown key unanswered and logged"

# ---- SIGTERM --------------------------------------------------------------------------------
kill -TERM "$COORD_PID"
rc=
for _ in $(seq 1 100); do
	if ! kill -0 "$COORD_PID" 2>/dev/null; then
		rc=0
		wait "$COORD_PID" || rc=$?
		break
	fi
	sleep 0.1
done
[ -n "$rc" ] || tdm_fail "tandem-coord did not stop within 10 s of SIGTERM" -- "$TDM_TMP/coord.err"
COORD_PID=
[ "$rc" -eq 0 ] || tdm_fail "tandem-coord exited $rc after SIGTERM" -- "$TDM_TMP/coord.err"
[ ! -e "$TDM_TMP/coord.pid" ] || tdm_fail "pid file left behind"
tdm_pass "SIGTERM: clean exit"
