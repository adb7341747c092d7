#!/bin/bash
# Fault: the active node's clock steps forward, then back (issue 13, "Fault injection").
# node-a runs under libfaketime with a control file the test rewrites at run time
# (FAKETIME_NO_CACHE; the monotonic clock stays real, as an NTP step leaves it) and is made
# the active of the zone. Its clock then steps 1 h forward, and later to 1 h behind:
#  - detected and alerted: the coordinators refuse its messages as outside their time
#    window (their log says so); node-a raises its node-wide "clock" alert (log and
#    tandem_alert{reason="clock"} in its metrics) naming its offset;
#  - nothing bad published: node-a stops publishing at its lease deadline (its monotonic
#    clock) and publishes nothing more while its clock is off; node-b takes the zone over
#    and publishes; every publication is checked (no serial with two digests, serials
#    rising per node) and node-b's zone passes dnssec-verify;
#  - recovery without an operator: the clock set right, node-a's messages are accepted, the
#    alert clears and node-a becomes healthy again (a switchover back to it then publishes,
#    its RRSIGs valid at the real time).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd python3 curl dnssec-verify
FAKETIME_LIB=
for f in /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 /usr/lib/*/faketime/libfaketimeMT.so.1; do
	[ -f "$f" ] && FAKETIME_LIB=$f && break
done
[ -n "$FAKETIME_LIB" ] || tdm_fail "libfaketime not found (Debian: libfaketime; deploy/install-deps.sh)"
Z=example.
N=node-a

tdm_cluster_up --cycle 3
LOG=$TDM_CL/log/$N.log
gone() { ! kill -0 "$1" 2>/dev/null; }

# ---- node-a restarted under libfaketime (+0), made the active --------------------------------
FT=$TDM_TMP/$N.faketime
printf '+0\n' >"$FT"
pid=$(cat "$TDM_CL/run/$N.pid")
kill "$pid"
tdm_wait 30 "$N to stop" gone "$pid"
sed "s|^setsid |setsid env LD_PRELOAD=$FAKETIME_LIB FAKETIME_TIMESTAMP_FILE=$FT FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 |" \
	"$TDM_CL/run/$N.start" >"$TDM_TMP/$N.fake"
grep -q FAKETIME_TIMESTAMP_FILE "$TDM_TMP/$N.fake" || tdm_fail "cannot rewrite $N's start script" -- "$TDM_CL/run/$N.start"
bash "$TDM_TMP/$N.fake"
healthy() { [ "$(tdm_status_get "node('$N')['healthy']")" = True ]; }
tdm_wait 60 "$N to be back and healthy" healthy
# the active: node-a itself, or a switchover to it from the other node (nobody may hold the
# zone for a moment while node-a's release is being taken up)
active() {
	local h
	h=$(tdm_holder $Z)
	[ "$h" = $N ] && return 0
	[ -n "$h" ] && tdm_ctl switchover --zone $Z --to $N --wait 30 >>"$TDM_TMP/switchover.out" 2>&1
	[ "$(tdm_holder $Z)" = $N ]
}
tdm_wait 120 "$N to be the active of $Z" active
s0=$(tdm_last_serial $N $Z)
tdm_wait 60 "$N to publish $Z under libfaketime" tdm_published_after $N $Z "${s0:-0}"
tdm_pass "$N (libfaketime, +0) is the active and publishes"

# ---- +1 h: cut off, alerted, nothing published, node-b takes over -----------------------------
metrics() {
	local ep
	ep=$(sed -n 's/^metrics //p' "$LOG" | tail -n 1)
	curl -fsS --max-time 5 "http://$ep/metrics"
}
clock_metric() { metrics | grep -q '^tandem_alert{zone="",reason="clock"'; }
printf '+3600\n' >"$FT"
t_step=$(date +%s)
sA=$(tdm_last_serial $N $Z)
tdm_log "$N's clock stepped 1 h forward (last serial $sA)"
alerted() { grep -q "ALERT clock: every coordinator refuses this node's messages .*(this clock +3[56][0-9][0-9] s off theirs)" "$LOG"; }
tdm_wait 60 "$N's clock alert" alerted
tdm_wait 30 "$N's metrics to show the clock alert" clock_metric
tdm_assert_grep "the coordinators log the refusals" "refused connection .* name $N: message outside the time window" "$TDM_CL"/log/coord-*.log
tdm_pass "$N alerted $(($(date +%s) - t_step)) s after the step: $(grep -m1 "ALERT clock" "$LOG" | cut -d' ' -f4- | cut -c1-150)"
stopped() { grep -q "zone $Z: stop publishing under epoch [0-9]*: the lease could not be renewed in time" "$LOG"; }
tdm_wait 60 "$N to stop publishing at its lease deadline" stopped
n_stop=$(wc -l <"$(tdm_publog $N)")
tdm_wait 90 "node-b to take $Z over and publish above $sA" tdm_published_after node-b $Z "$sA"
tdm_pass "node-b publishes $Z $(($(date +%s) - t_step)) s after $N's clock stepped"

# ---- -1 h: still cut off -------------------------------------------------------------------------
printf -- '-3600\n' >"$FT"
tdm_log "$N's clock stepped to 1 h behind"
behind() { grep -q "ALERT clock: .*(this clock -3[56][0-9][0-9] s off theirs)" "$LOG"; }
tdm_wait 60 "$N's alert to name the clock 1 h behind" behind
sB=$(tdm_last_serial node-b $Z)
tdm_wait 60 "node-b to publish on above $sB" tdm_published_after node-b $Z "$sB"
[ "$(wc -l <"$(tdm_publog $N)")" = "$n_stop" ] || tdm_fail "$N published while its clock was off"
tdm_validate_published node-b $Z
tdm_pass "$N published nothing while its clock was off (+1 h, then -1 h); node-b's zone validates"

# ---- the clock set right: recovery without an operator ------------------------------------------
printf '+0\n' >"$FT"
t_back=$(date +%s)
cleared() { grep -q "clock: the coordinators accept this node's messages again (alert clock cleared)" "$LOG"; }
tdm_wait 60 "$N's clock alert to clear" cleared
no_clock_metric() { metrics >"$TDM_TMP/metrics.txt" && ! grep -q '^tandem_alert{zone="",reason="clock"' "$TDM_TMP/metrics.txt"; }
tdm_wait 30 "$N's metrics to drop the clock alert" no_clock_metric
tdm_wait 60 "$N to be healthy again" healthy
tdm_pass "$N recovered $(($(date +%s) - t_back)) s after its clock was set right"
sB=$(tdm_last_serial node-b $Z)
tdm_wait 120 "$N to be the active of $Z again" active
tdm_wait 60 "$N to publish above $sB" tdm_published_after $N $Z "$sB"
tdm_wait 60 "$N's file to follow its last publication" tdm_file_current $N $Z
python3 - "$TDM_CL/$N/out/${Z}zone" <<'PY' || tdm_fail "$N published signatures not valid now"
import calendar, sys, time
now = time.time()
bad = n = 0
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 11 or f[3] != "RRSIG":
        continue
    exp = calendar.timegm(time.strptime(f[8], "%Y%m%d%H%M%S"))
    inc = calendar.timegm(time.strptime(f[9], "%Y%m%d%H%M%S"))
    n += 1
    if inc > now or exp <= now:
        bad += 1
        if bad < 4:
            print("not valid now:", line.strip())
print("%d RRSIGs, %d not valid now" % (n, bad))
sys.exit(1 if bad or n == 0 else 0)
PY
tdm_validate_published $N $Z
tdm_check_publications node-a node-b
tdm_pass "$N signs again: every RRSIG valid now; no serial published twice, serials rise"
tdm_cluster_sanitizer_check
