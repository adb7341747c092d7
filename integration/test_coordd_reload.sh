#!/bin/bash
# SIGHUP makes tandem-coord read its allow-list again (issue 14: what can change without a
# restart): an operator key added to the file is admitted after the signal, one removed is
# refused after the next; a file that does not load is refused with its reason and the
# allow-list in force stays (the operators it admits go on working). Each reload is logged
# with what changed by name and recorded in the audit log.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=etcd.sh
source "$(dirname "$0")/etcd.sh"
tdm_setup "$@"
tdm_need etcd timeout
COORD=$TDM_BUILD/src/coordd/tandem-coord
CTL=$TDM_BUILD/src/tools/tandemctl
TDM_ETCD_DIR=$TDM_TMP/etcd
tdm_etcd_start 1
K=$TDM_TMP/keys
mkdir -p "$K"
for who in coord op1 op2; do
	"$CTL" net keygen --public "$K/$who.pub" --secret "$K/$who.secret" >/dev/null || tdm_fail "keygen $who"
done
pub() { awk '$1 == "public" { print $2 }' "$K/$1.pub"; }
ALLOW=$TDM_TMP/allow
printf 'op1 operator %s\n' "$(pub op1)" >"$ALLOW"
LOG=$TDM_TMP/coord.err
"$COORD" --insecure-etcd --etcd "$(tdm_etcd_endpoints)" --listen 'tcp://127.0.0.1:*' \
	--key "$K/coord.secret" --allow "$ALLOW" --name coord-a --prefix /test/reload/ \
	--audit-mirror "$TDM_TMP/audit.jsonl" >"$TDM_TMP/coord.out" 2>"$LOG" &
PID=$!
stop() { kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
tdm_on_exit stop
EP=$(tdm_coord_endpoint "$TDM_TMP/coord.out" "$PID" "$LOG")
# as WHO: tandemctl with WHO's key (a short timeout: a refused key gets no answer)
as() {
	local who=$1
	shift
	TANDEM_COORD=$EP TANDEM_COORD_PUB=$K/coord.pub TANDEM_KEY=$K/$who.secret \
		TANDEM_COORD_TIMEOUT_MS=1500 timeout 30 "$CTL" "$@"
}
answers() { as "$1" status >/dev/null 2>&1; }
tdm_assert_ok "op1 is admitted" as op1 status
answers op2 && tdm_fail "op2 was answered before it is in the allow-list"
tdm_pass "op2 is not admitted yet"

# reloads N: waits until the log has N reload lines
reloads() { [ "$(grep -c 'reload: ' "$LOG")" -ge "$1" ]; }
printf 'op2 operator %s\n' "$(pub op2)" >>"$ALLOW"
kill -HUP "$PID"
for _ in $(seq 1 300); do reloads 1 && break; sleep 0.1; done
tdm_assert_grep "the reload says who came" "reload: allow-list .* 2 entries, 1 added, 0 removed \+op2" "$LOG"
for _ in $(seq 1 100); do answers op2 && break; sleep 0.3; done
answers op2 || tdm_fail "op2 is not admitted after the reload" -- "$LOG"
tdm_pass "SIGHUP: op2 added to the file is admitted"

cp "$ALLOW" "$TDM_TMP/allow.good"
printf 'op3 operator not-a-z85-key\n' >>"$ALLOW"
kill -HUP "$PID"
for _ in $(seq 1 300); do reloads 2 && break; sleep 0.1; done
tdm_assert_grep "a bad file is refused with its reason" "reload: --allow refused, the allow-list in force stays" "$LOG"
tdm_assert_grep "the refusal names the line" "allow:3" "$LOG"
answers op1 || tdm_fail "op1 lost its access to a bad reload" -- "$LOG"
answers op2 || tdm_fail "op2 lost its access to a bad reload" -- "$LOG"
kill -0 "$PID" || tdm_fail "the coordinator died on a bad reload" -- "$LOG"
tdm_pass "a file that does not load: refused, the allow-list in force stays"

grep -v '^op2 ' "$TDM_TMP/allow.good" >"$ALLOW"
kill -HUP "$PID"
for _ in $(seq 1 300); do reloads 3 && break; sleep 0.1; done
tdm_assert_grep "the reload says who went" "reload: allow-list .* 1 entries, 0 added, 1 removed -op2" "$LOG"
gone=0
for _ in $(seq 1 20); do
	if ! answers op2; then gone=1 && break; fi
	sleep 0.5
done
[ "$gone" = 1 ] || tdm_fail "op2 is still answered after its removal" -- "$LOG"
answers op1 || tdm_fail "op1 lost its access" -- "$LOG"
tdm_pass "SIGHUP: op2 removed from the file is refused; op1 stays"

recorded() { as op1 audit show --type config. --json 2>/dev/null | grep -c 'allow-list reloaded' | grep -qx 2; }
for _ in $(seq 1 50); do recorded && break; sleep 0.2; done
recorded || tdm_fail "the two reloads are not both in the audit log" -- "$LOG"
tdm_pass "both reloads are in the audit log (config.allow-reload)"
