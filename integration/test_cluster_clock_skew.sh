#!/bin/bash
# Clock skew (issue 8, item 4): a local cluster (deploy/cluster-up.sh) whose coord-a is
# restarted under libfaketime with its clock 5 s ahead (drift margin 2000 ms: the limit is
# 1000 ms). coord-a measures coord-b (round trip) and node-a (one way) 5 s behind it, the
# majority disowns its clock: its log raises the alert once, `tandemctl status --json`
# says clock_skewed (from coord-a) and coord-a skewed in coord-b's list of coordinators,
# the text says CLOCK SKEWED. coord-a grants nothing (no grant, no lapse, no timer
# leadership; node requests refused with "coordinator clock skewed") while the cluster
# keeps publishing through coord-b. The clock is set right at run time (the faketime file
# says +0): the alert clears in coord-a's log and in both coordinators' status. No serial
# is published with two digests.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd curl python3
FAKETIME_LIB=
for f in /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 /usr/lib/*/faketime/libfaketimeMT.so.1; do
	[ -f "$f" ] && FAKETIME_LIB=$f && break
done
[ -n "$FAKETIME_LIB" ] || tdm_fail "libfaketime not found (Debian: libfaketime; deploy/install-deps.sh)"
Z=example.

tdm_cluster_up --cycle 5
# shellcheck disable=SC1091
source "$TDM_CL/cluster.env"
LOG_A=$TDM_CL/log/coord-a.log
# status_b EXPR: like tdm_status_get, from coord-b alone
status_b() {
	"$TDM_BUILD/src/tools/tandemctl" status --json --coord "$COORD_B_ENDPOINT" --coord-pub "$COORD_B_PUB" \
		--key "$OPERATOR_KEY" 2>/dev/null |
		python3 -c 'import json, sys; s = json.load(sys.stdin); c = {x["name"]: x for x in s["coordinators"]}; v = eval(sys.argv[1]); print("" if v is None else v)' "$1"
}
# gone PID: the process has exited
gone() { ! kill -0 "$1" 2>/dev/null; }
# max_serial: the highest serial of Z either node published
max_serial() {
	local a b
	a=$(tdm_last_serial node-a $Z)
	b=$(tdm_last_serial node-b $Z)
	printf '%s\n' "$(((${a:-0} > ${b:-0}) ? ${a:-0} : ${b:-0}))"
}

# ---- before: the clocks agree -----------------------------------------------------------
measured_b() { [ -n "$(status_b 'c["coord-a"]["offset_ms"]')" ]; }
tdm_wait 30 "coord-b to measure coord-a's clock" measured_b
off=$(status_b 'c["coord-a"]["offset_ms"]')
[ "${off#-}" -lt 1000 ] || tdm_fail "coord-a's clock is $off ms off coord-b's before any fault"
[ "$(tdm_status_get 's["clock_skewed"]')" = False ] || tdm_fail "a coordinator says skewed before any fault"
tdm_pass "the clocks agree: coord-a is $off ms off coord-b"

# ---- coord-a restarted 5 s ahead ---------------------------------------------------------
pid=$(cat "$TDM_CL/run/coord-a.pid")
kill "$pid"
tdm_wait 20 "coord-a to stop" gone "$pid"
FT=$TDM_TMP/coord-a.faketime
printf '+5s\n' >"$FT"
sed "s|^setsid |setsid env LD_PRELOAD=$FAKETIME_LIB FAKETIME_TIMESTAMP_FILE=$FT FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 |" \
	"$TDM_CL/run/coord-a.start" >"$TDM_TMP/coord-a.fake"
grep -q "FAKETIME_TIMESTAMP_FILE" "$TDM_TMP/coord-a.fake" || tdm_fail "cannot rewrite coord-a's start script" -- "$TDM_CL/run/coord-a.start"
lines=$(wc -l <"$LOG_A")
bash "$TDM_TMP/coord-a.fake"
tdm_log "coord-a restarted with its clock 5 s ahead (libfaketime)"
alert() { tail -n +"$((lines + 1))" "$LOG_A" | grep -q "clock: ALERT: this coordinator's clock is +"; }
tdm_wait 40 "coord-a's clock alert" alert
serial_at_alert=$(max_serial)
tail -n +"$((lines + 1))" "$LOG_A" >"$TDM_TMP/coord-a.after"
tdm_assert_grep "the alert names the offset" "clock: ALERT: this coordinator's clock is \+(4|5)[0-9]{3} ms off the median" "$TDM_TMP/coord-a.after"
tdm_pass "coord-a raises the clock alert in its log"

# status through coord-a (the first coordinator): this coordinator's clock is skewed
skewed_a() { [ "$(tdm_status_get 's["coordinator"] + " " + str(s["clock_skewed"])')" = "coord-a True" ]; }
tdm_wait 20 "coord-a's status to say clock_skewed" skewed_a
tdm_ctl status --json >"$TDM_TMP/status-a.json" || tdm_fail "status through coord-a failed"
python3 - "$TDM_TMP/status-a.json" <<'PY' || tdm_fail "coord-a's status does not show coord-b 5 s behind" -- "$TDM_TMP/status-a.json"
import json, sys
s = json.load(open(sys.argv[1]))
c = {x["name"]: x for x in s["coordinators"]}
assert s["clock_skewed"] is True
assert -6000 < c["coord-b"]["offset_ms"] < -4000, c
PY
tdm_ctl status >"$TDM_TMP/status-a.txt" || true
tdm_assert_grep "text status: CLOCK SKEWED" '^CLOCK SKEWED: coord-a' "$TDM_TMP/status-a.txt"
# coord-b's view: coord-a skewed, coord-b itself not
skewed_b() { [ "$(status_b 'str(c["coord-a"]["skewed"]) + " " + str(s["clock_skewed"])')" = "True False" ]; }
tdm_wait 20 "coord-b's status to say coord-a is skewed" skewed_b
off=$(status_b 'c["coord-a"]["offset_ms"]')
if [ "$off" -le 4000 ] || [ "$off" -ge 6000 ]; then
	tdm_fail "coord-b measures coord-a $off ms off, not about +5000"
fi
tdm_pass "status --json: coord-a says clock_skewed, coord-b lists coord-a skewed by $off ms"

# ---- the cluster keeps publishing; coord-a grants nothing ----------------------------------------
# The nodes went to coord-b while coord-a was down; node-a restarted asks coord-a first.
pid=$(cat "$TDM_CL/run/node-a.pid")
kill "$pid"
tdm_wait 30 "node-a to stop" gone "$pid"
serial_at_restart=$(max_serial)
bash "$TDM_CL/run/node-a.start"
tdm_log "node-a restarted (coord-a first in its list)"
refused() { tail -n +"$((lines + 1))" "$LOG_A" | grep -q "refused .* from node-a: coordinator coord-a: its clock is +"; }
tdm_wait 60 "coord-a to refuse node-a's requests for its clock" refused
above_restart() { [ "$(max_serial)" -gt "$serial_at_restart" ]; }
tdm_wait 120 "a serial of $Z above $serial_at_restart through coord-b" above_restart
tdm_pass "the cluster published serial $(max_serial) after the alert (was $serial_at_alert, $serial_at_restart at node-a's restart)"
tail -n +"$((lines + 1))" "$LOG_A" | sed -n '/clock: ALERT/,$p' >"$TDM_TMP/coord-a.skewed"
tdm_assert_no_grep "coord-a grants nothing while skewed" 'lease granted|lapsed|took the timer leadership' "$TDM_TMP/coord-a.skewed"
tdm_assert_grep "coord-b decides meanwhile" 'lease granted|renewed|committed' "$TDM_CL/log/coord-b.log"
tdm_pass "coord-a refuses node requests and grants nothing while its clock is skewed"

# ---- the clock set right at run time: the alert clears --------------------------------------
printf '+0\n' >"$FT"
tdm_log "coord-a's clock set right"
cleared() { grep -q "clock: this coordinator's clock agrees with the majority again" "$LOG_A"; }
tdm_wait 40 "coord-a's alert to clear in its log" cleared
clear_a() { [ "$(tdm_status_get 's["coordinator"] + " " + str(s["clock_skewed"])')" = "coord-a False" ]; }
tdm_wait 20 "coord-a's status to clear" clear_a
clear_b() { [ "$(status_b 'c["coord-a"]["skewed"]')" = False ]; }
tdm_wait 20 "coord-b's status to clear coord-a" clear_b
tdm_pass "the alert clears once coord-a's clock is right"
tdm_check_publications node-a node-b
tdm_cluster_sanitizer_check
