#!/bin/bash
# A lost etcd quorum must not look like a dead coordinator (issue 8, item 15). A 3-member
# etcd and one tandem-coord over it; tandemctl status answers fresh. Two members are killed
# (quorum lost): every tandemctl status still answers within 5 s, from the coordinator's
# last known state, marked stale with its age and the store error ("etcd has no quorum"),
# in --json and in the text; it exits 5 (printed, but not the current state). An operator
# decision is refused within 5 s instead of hanging, and a node asking for the status gets
# the store error (never a stale status). Given a second coordinator that has a quorum (an
# etcd of its own here), tandemctl prints that one's fresh status. The coordinator logs
# the loss once.
# The members come back: status is fresh again (exit 0) and the log says etcd serves again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=etcd.sh
source "$(dirname "$0")/etcd.sh"

tdm_coordd_setup "$@"
K=$TDM_TMP/keys
ZONE=example.com.

tdm_etcd_start 3

mkdir -p "$K"
for who in coord op1 node-a1; do
	"$CTL" net keygen --public "$K/$who.pub" --secret "$K/$who.secret" >/dev/null || tdm_fail "keygen $who"
done
pub() { awk '$1 == "public" { print $2 }' "$K/$1.pub"; }
{
	printf 'op1 operator %s\n' "$(pub op1)"
	printf 'node-a1 node %s\n' "$(pub node-a1)"
} >"$TDM_TMP/allow"

COORD_PID=
stop_coord() {
	if [ -n "$COORD_PID" ] && kill -0 "$COORD_PID" 2>/dev/null; then
		kill -9 "$COORD_PID" 2>/dev/null || true
		wait "$COORD_PID" 2>/dev/null || true
	fi
}
tdm_on_exit stop_coord
LOG=$TDM_TMP/coord.err
"$COORD" --insecure-etcd --etcd "$(tdm_etcd_endpoints)" --listen 'tcp://127.0.0.1:*' --key "$K/coord.secret" \
	--allow "$TDM_TMP/allow" --name coord-a --prefix /test/quorum/ --zone "$ZONE" \
	--audit-mirror "$TDM_TMP/audit-coord-a.jsonl" \
	>"$TDM_TMP/coord.out" 2>"$LOG" &
COORD_PID=$!
EP=$(tdm_coord_endpoint "$TDM_TMP/coord.out" "$COORD_PID" "$LOG")
export TANDEM_COORD=$EP TANDEM_COORD_PUB=$K/coord.pub TANDEM_KEY=$K/op1.secret
unset TANDEM_COORD_TIMEOUT_MS # tandemctl's default wait, as an operator has it

# ctl_timed NAME ARGS...: tandemctl ARGS with its time in ms in ELAPSED (bounded outside)
ctl_timed() {
	local name=$1 t0
	shift
	t0=$(date +%s%N)
	tdm_run "$name" timeout 30 "$CTL" "$@"
	ELAPSED=$((($(date +%s%N) - t0) / 1000000))
}
# json_get FILE EXPR: a python expression over the status JSON `s`
json_get() { python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

ctl_timed fresh status --json
[ "$TDM_RC" -eq 0 ] || tdm_fail "status with a quorum: exit $TDM_RC" -- "$TDM_OUT" "$TDM_ERR" "$LOG"
tdm_assert_eq "fresh status: stale" False "$(json_get "$TDM_OUT" 's["stale"]')"
tdm_assert_eq "fresh status: store_error" None "$(json_get "$TDM_OUT" 's["store_error"]')"
tdm_assert_eq "fresh status: the zone" "$ZONE" "$(json_get "$TDM_OUT" 's["zones"][0]["name"]')"
tdm_pass "status with a quorum: fresh, in ${ELAPSED} ms"
# as_node ARGS: the driver with node-a1's key (a node's view of the coordinator)
as_node() { timeout 20 "$DRIVER" -e "$EP" -s "$K/coord.pub" -k "$K/node-a1.secret" -t 2000 -a 1 "$@"; }
tdm_assert_ok "a node reads the status with a quorum" as_node status

# ---- quorum lost ------------------------------------------------------------------------
tdm_etcd_kill 2
tdm_etcd_kill 3
tdm_log "etcd members m2 and m3 killed: m1 alone has no quorum"
# Every call must answer within 5 s; the first ones may still find the store fresh (etcd
# takes an election timeout to notice), so wait (bounded) for the stale answer.
deadline=$((SECONDS + 40))
n=0
while :; do
	n=$((n + 1))
	ctl_timed "lost-$n" status --json
	[ "$ELAPSED" -le 5000 ] || tdm_fail "status without a quorum took ${ELAPSED} ms (exit $TDM_RC), over 5 s" -- "$TDM_OUT" "$TDM_ERR" "$LOG"
	# right after the kill, m1 may still believe it has a leader: "etcd does not answer"
	if [ "$TDM_RC" -ne 0 ] && [ -s "$TDM_OUT" ] && [ "$(json_get "$TDM_OUT" 's["stale"]')" = True ] &&
		json_get "$TDM_OUT" 's["store_error"]' | grep -q 'no quorum'; then
		break
	fi
	[ "$SECONDS" -lt "$deadline" ] || tdm_fail "no stale status within 40 s of losing the quorum (last: exit $TDM_RC)" -- "$TDM_OUT" "$TDM_ERR" "$LOG"
	sleep 0.5
done
tdm_assert_eq "stale status: exit code" 5 "$TDM_RC"
tdm_assert_grep "stale status: the store error" 'no quorum' <(json_get "$TDM_OUT" 's["store_error"]')
tdm_assert_eq "stale status: the zone still listed" "$ZONE" "$(json_get "$TDM_OUT" 's["zones"][0]["name"]')"
[ "$(json_get "$TDM_OUT" 's["state_age_ms"] > 0')" = True ] || tdm_fail "stale status: no state age" -- "$TDM_OUT"
tdm_assert_grep "stale status: said on stderr" 'stale' "$TDM_ERR"
tdm_pass "status without a quorum answers in ${ELAPSED} ms: stale, 'etcd has no quorum'"

# it keeps answering, every time within 5 s, and the text says so
sleep 2
for i in 1 2 3; do
	ctl_timed "again-$i" status --json
	[ "$ELAPSED" -le 5000 ] || tdm_fail "status $i without a quorum took ${ELAPSED} ms" -- "$TDM_ERR" "$LOG"
	tdm_assert_eq "status $i without a quorum: stale" True "$(json_get "$TDM_OUT" 's["stale"]')"
done
[ "$(json_get "$TDM_OUT" 's["state_age_ms"] >= 2000')" = True ] || tdm_fail "the state's age does not grow" -- "$TDM_OUT"
ctl_timed text status
[ "$ELAPSED" -le 5000 ] || tdm_fail "text status took ${ELAPSED} ms" -- "$TDM_ERR" "$LOG"
tdm_assert_eq "text status exit" 5 "$TDM_RC"
tdm_assert_grep "text status: STALE and why" '^STALE: .*ago: etcd has no quorum' "$TDM_OUT"
tdm_assert_grep "text status: the zone" "^  $ZONE" "$TDM_OUT"
tdm_pass "status keeps answering within 5 s, the text says STALE: etcd has no quorum"

# a decision is refused at once, not after etcd's timeouts
ctl_timed decide zone add other.example.
[ "$ELAPSED" -le 5000 ] || tdm_fail "zone add without a quorum took ${ELAPSED} ms" -- "$TDM_ERR" "$LOG"
[ "$TDM_RC" -ne 0 ] || tdm_fail "zone add without a quorum was accepted" -- "$TDM_OUT"
tdm_assert_grep "zone add refused: no quorum" 'no quorum' "$TDM_ERR"
tdm_pass "a decision without a quorum is refused in ${ELAPSED} ms"
tdm_assert_fails "a node gets no stale status" as_node status
tdm_assert_grep "a node is told to ask another coordinator" 'no fresh status; ask another coordinator' "$TDM_ERR"

# A second coordinator that still has a quorum (here: over an etcd of its own) is
# preferred: tandemctl asks it after coord-a's stale answer and prints its fresh one.
mapfile -t p2 < <(tdm_free_ports 2)
etcd --name solo --data-dir "$TDM_TMP/solo.etcd" --listen-client-urls "http://127.0.0.1:${p2[0]}" \
	--advertise-client-urls "http://127.0.0.1:${p2[0]}" --listen-peer-urls "http://127.0.0.1:${p2[1]}" \
	--initial-advertise-peer-urls "http://127.0.0.1:${p2[1]}" \
	--initial-cluster "solo=http://127.0.0.1:${p2[1]}" --logger zap --log-outputs stderr \
	>"$TDM_TMP/solo.etcd.log" 2>&1 &
SOLO_PID=$!
COORD2_PID=
stop_solo() {
	for pid in "$COORD2_PID" "$SOLO_PID"; do
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill -9 "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
}
tdm_on_exit stop_solo
solo_up() { curl -s --max-time 2 "http://127.0.0.1:${p2[0]}/health" | grep -q '"health":"true"'; }
for _ in $(seq 1 100); do solo_up && break; sleep 0.2; done
solo_up || tdm_fail "the second etcd is not healthy" -- "$TDM_TMP/solo.etcd.log"
"$COORD" --insecure-etcd --etcd "http://127.0.0.1:${p2[0]}" --listen 'tcp://127.0.0.1:*' --key "$K/coord.secret" \
	--allow "$TDM_TMP/allow" --name coord-b --prefix /test/quorum/ --zone "$ZONE" \
	--audit-mirror "$TDM_TMP/audit-coord-b.jsonl" \
	>"$TDM_TMP/coord2.out" 2>"$TDM_TMP/coord2.err" &
COORD2_PID=$!
EP2=$(tdm_coord_endpoint "$TDM_TMP/coord2.out" "$COORD2_PID" "$TDM_TMP/coord2.err")
TANDEM_COORD=$EP,$EP2 TANDEM_COORD_PUB=$K/coord.pub,$K/coord.pub ctl_timed prefer status --json
[ "$TDM_RC" -eq 0 ] || tdm_fail "status over a stale and a fresh coordinator: exit $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
tdm_assert_eq "the fresh coordinator's answer" "coord-b False" "$(json_get "$TDM_OUT" 's["coordinator"] + " " + str(s["stale"])')"
[ "$ELAPSED" -le 5000 ] || tdm_fail "status over a stale and a fresh coordinator took ${ELAPSED} ms"
tdm_pass "tandemctl prefers the coordinator with a quorum (${ELAPSED} ms)"
stop_solo
[ "$(grep -c 'status answers from the state' "$LOG")" -eq 1 ] ||
	tdm_fail "the loss is not logged exactly once" -- "$LOG"
tdm_assert_grep "the log says why" 'tandem-coord: store: etcd has no quorum' "$LOG"

# ---- quorum back ------------------------------------------------------------------------
tdm_etcd_restart 2
tdm_etcd_restart 3
tdm_etcd_wait_healthy 60
deadline=$((SECONDS + 60))
while :; do
	ctl_timed "back" status --json
	if [ "$TDM_RC" -eq 0 ] && [ "$(json_get "$TDM_OUT" 's["stale"]')" = False ]; then
		break
	fi
	[ "$SECONDS" -lt "$deadline" ] || tdm_fail "status not fresh 60 s after the quorum came back (exit $TDM_RC)" -- "$TDM_OUT" "$TDM_ERR" "$LOG"
	sleep 0.5
done
tdm_assert_eq "fresh again: store_error" None "$(json_get "$TDM_OUT" 's["store_error"]')"
tdm_assert_grep "the recovery is logged" 'store: etcd serves again' "$LOG"
tdm_assert_ok "a decision goes through again" timeout 30 "$CTL" zone add other.example.
tdm_pass "quorum back: status fresh again, decisions go through"
