#!/bin/bash
# Compare before publish (issue 11, DPS 6.6; docs/node.md "Compare before publish"). Two
# nodes, RSA: the standby's shadow digest must equal the active's.
#  - compare-before-publish: wait (the default): every serial the active publishes has its
#    publish.log line written after the coordinator logged the standby's matching report
#    ("effect: zone Z serial S: NODE agrees"), and the node says which standby agreed;
#  - require (both nodes restarted with that policy): with the standby stopped (kill -STOP)
#    the next serial is committed but not published, the zone alert compare-held shows in
#    `tandemctl status` (text and --json) and in the active's metrics, the lease stays
#    renewed; the standby resumed (kill -CONT), the serial is published and the alert clears.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd curl
Z=example.
POL=$TDM_TMP/policy.yaml
cp "$TDM_SRC/conf/dps-default.yaml" "$POL"
grep -q '^  compare-before-publish: wait' "$POL" || tdm_fail "conf/dps-default.yaml does not show compare-before-publish: wait"

tdm_cluster_up --cycle 3 --policy "$POL"
has_holder() { [ -n "$(tdm_holder $Z)" ]; }
tdm_wait 60 "an active node for $Z" has_holder
active=$(tdm_holder $Z)
case $active in node-a) standby=node-b ;; node-b) standby=node-a ;; *) tdm_fail "unexpected active '$active'" ;; esac
tdm_log "active $active, standby $standby"

# ---- wait: each publication after the coordinator has the standby's agreeing report ------------
s0=$(tdm_last_serial "$active" $Z)
s0=${s0:-0}
three_more() {
	local n
	n=$(awk -v z=$Z -v s="$s0" '$2 == z && $3 > s' "$(tdm_publog "$active")" | wc -l)
	[ "$n" -ge 3 ]
}
tdm_wait 120 "$active to publish 3 serials of $Z above $s0" three_more
# Each serial: the active's own line says it was published on the standby's report, and the
# coordinator logged that report no later than 1 s after the publication. (The coordinator
# stores the report, then logs it: a node may read the stored state and publish before the
# line is written, so the two times are compared with that slack. A publication without the
# report would come at the commit or at compare-timeout, 30 s: neither hides in 1 s, and the
# node's line would not name the standby.)
python3 - "$(tdm_publog "$active")" "$Z" "$s0" "$standby" "$TDM_CL/log/$active.log" "$TDM_CL"/log/coord-*.log <<'PY' || tdm_fail "a serial was published before the standby's agreeing report" -- "$TDM_CL"/log/coord-*.log
import calendar, re, sys, time
publog, zone, s0, standby, nodelog, coords = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6:]
on_report = set()
npat = re.compile(r"zone (\S+): published serial (\d+) .*; standby (\S+) reported the same digest after")
for line in open(nodelog):
    m = npat.search(line)
    if m and m.group(1) == zone and m.group(3) == standby:
        on_report.add(int(m.group(2)))
agree = {}
pat = re.compile(r"^(\S+)Z tandem-coord: effect: zone (\S+) serial (\d+): (\S+) agrees$")
for path in coords:
    for line in open(path):
        m = pat.match(line.rstrip("\n"))
        if not m or m.group(2) != zone or m.group(4) != standby:
            continue
        stamp, ms = m.group(1).split(".")
        t = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S")) * 1000 + int(ms)
        s = int(m.group(3))
        agree[s] = min(t, agree.get(s, t))
bad = checked = 0
for line in open(publog):
    t, z, serial, digest, epoch = line.split()
    if z != zone or int(serial) <= s0:
        continue
    serial, t = int(serial), int(t)
    checked += 1
    if serial not in on_report:
        print("serial %d: the active's log does not say it was published on %s's report" % (serial, standby))
        bad += 1
    elif serial not in agree:
        print("serial %d published at %d: no agreeing report from %s logged" % (serial, t, standby))
        bad += 1
    elif agree[serial] > t + 1000:
        print("serial %d published at %d, %d ms before the coordinator had %s's report"
              % (serial, t, agree[serial] - t, standby))
        bad += 1
    else:
        print("serial %d: report at %d, published %d ms later" % (serial, agree[serial], t - agree[serial]))
sys.exit(1 if bad or checked < 3 else 0)
PY
tdm_assert_grep "$active says which standby agreed" \
	"published serial [0-9]+ .*; standby $standby reported the same digest after" "$TDM_CL/log/$active.log"
tdm_pass "wait: every serial above $s0 was published after $standby's agreeing report"

# ---- require: both nodes restarted with the policy --------------------------------------------
sed -i 's/^  compare-before-publish: wait/  compare-before-publish: require/; s/^  compare-timeout: 30s/  compare-timeout: 3s/' "$POL"
grep -q '^  compare-before-publish: require' "$POL" || tdm_fail "cannot set require in $POL"
gone() { ! kill -0 "$1" 2>/dev/null; }
for n in node-a node-b; do
	pid=$(cat "$TDM_CL/run/$n.pid")
	kill "$pid"
	tdm_wait 30 "$n to stop" gone "$pid"
done
for n in node-a node-b; do
	bash "$TDM_CL/run/$n.start"
done
tdm_log "both nodes restarted with compare-before-publish: require, compare-timeout: 3s"
tdm_wait 90 "an active node for $Z after the restart" has_holder
active=$(tdm_holder $Z)
case $active in node-a) standby=node-b ;; node-b) standby=node-a ;; *) tdm_fail "unexpected active '$active'" ;; esac
mark=$(wc -l <"$TDM_CL/log/$active.log")
s1=$(tdm_last_serial "$active" $Z)
s1=${s1:-0}
tdm_wait 90 "$active to publish above $s1 under require" tdm_published_after "$active" $Z "$s1"
agreed_since() { tail -n +"$((mark + 1))" "$TDM_CL/log/$active.log" | grep -Eq "; standby $standby reported the same digest after"; }
tdm_wait 30 "$active to publish a serial $standby agreed on" agreed_since
tdm_pass "require: $active publishes once $standby agrees"

# The standby stops answering: the next serial is committed and held.
spid=$(cat "$TDM_CL/run/$standby.pid")
kill -STOP "$spid"
tdm_on_exit "kill -CONT $spid 2>/dev/null || true"
tdm_log "$standby stopped (kill -STOP)"
# an agreement the standby sent just before it stopped may still publish one more serial:
# the last one published is read once the hold is in force (compare-held), not before
p0=$(tdm_last_serial "$active" $Z)
committed_above() { [ "$(tdm_status_get "zone('$Z')['serial']")" -gt "$p0" ]; }
tdm_wait 60 "a serial of $Z committed above $p0" committed_above
held_on() { [ "$(tdm_status_get "'compare-held' in [a['kind'] for a in zone('$Z')['node_alerts'] if a['node'] == '$active']")" = "$1" ]; }
held_alert() { held_on True; }
tdm_wait 60 "compare-held on $active in status --json" held_alert
held=$(tdm_status_get "zone('$Z')['serial']")
p1=$(tdm_last_serial "$active" $Z)
[ "$p1" != "$held" ] || tdm_fail "serial $held is both held (compare-held) and published"
tdm_ctl status >"$TDM_TMP/status.txt"
tdm_assert_grep "text status shows compare-held" "ALERT compare-held on $active: serial $held committed and NOT published" "$TDM_TMP/status.txt"
metrics=$(tdm_status_get "node('$active')['metrics']")
[ -n "$metrics" ] || tdm_fail "$active reports no metrics endpoint"
# the metrics page is rendered by the node's loop: it may follow the status by a moment
metrics_held() {
	curl -fsS "http://$metrics/metrics" >"$TDM_TMP/metrics.txt" 2>/dev/null &&
		grep -Eq '^tandem_alert\{.*reason="compare-held"' "$TDM_TMP/metrics.txt"
}
tdm_wait 30 "$active's metrics to export compare-held" metrics_held
# Held for several lease periods: not published, still the holder (renewed all along).
lease_ms=$(tdm_status_get "s['lease_ms']")
sleep $(((lease_ms * 2 + 999) / 1000))
[ "$(tdm_last_serial "$active" $Z)" = "$p1" ] || tdm_fail "$active published $(tdm_last_serial "$active" $Z) while $standby was stopped"
[ "$(tdm_holder $Z)" = "$active" ] || tdm_fail "$active lost $Z while it held serial $held"
[ "$(tdm_status_get "zone('$Z')['serial']")" = "$held" ] || tdm_fail "the committed serial moved while $held was held"
tdm_pass "require: serial $held committed, not published, compare-held shown; $active still holds $Z"

# The standby comes back: it shadows the held serial, agrees, and the serial is published.
kill -CONT "$spid"
tdm_log "$standby resumed (kill -CONT)"
published_held() { [ "$(tdm_last_serial "$active" $Z)" = "$held" ] || tdm_published_after "$active" $Z "$held"; }
tdm_wait 90 "$active to publish the held serial $held" published_held
grep -q " $Z $held " "$(tdm_publog "$active")" || tdm_fail "serial $held was never published"
cleared() { held_on False; }
tdm_wait 30 "compare-held to clear" cleared
tdm_check_publications node-a node-b
tdm_pass "the standby back: serial $held published, compare-held cleared, no serial published twice"
tdm_cluster_sanitizer_check
