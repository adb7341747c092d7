#!/bin/bash
# Prometheus metrics on a running local cluster (issue 14, "Metrics"). Every node and
# coordinator serves /metrics on the address status --json gives (nodes[].metrics, the
# answering coordinator's "metrics", coordinators[].metrics for the others); each scrape
# passes `promtool check metrics`, and the values are the cluster's own:
#  - the active node says role 1 and the serial it last wrote to publish.log, the standby
#    role 0; both are healthy with HSM sessions open;
#  - tandem_zone_rrsig_expiry_earliest_seconds is within a minute of the earliest RRSIG
#    expiration in the published file (computed here from the file itself);
#  - the coordinators: etcd reachable, 3 members up, exactly one timer leader, the zone's
#    committed serial at least the active node's;
#  - the standby's input taken away: tandem_zone_input_held 1 and tandem_alert
#    {reason="input-missing"} on that node, tandem_coord_node_alert on the coordinator;
#  - a path other than /metrics is 404; conf/tandem-alerts.yml passes promtool check rules.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd curl promtool python3
Z=example.

tdm_cluster_up --cycle 3
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z"
B=node-a
[ "$A" = node-a ] && B=node-b

# addresses from status: the nodes', this coordinator's, the other coordinator's (once probed)
addr() { tdm_status_get "$1" || true; }
peer_known() { [ -n "$(addr "s['coordinators'][0]['metrics'] if s['coordinators'] else ''")" ]; }
tdm_wait 30 "the other coordinator's metrics address in status" peer_known
MA=$(addr "node('$A')['metrics']")
MB=$(addr "node('$B')['metrics']")
MC1=$(addr "s['metrics']")
MC2=$(addr "s['coordinators'][0]['metrics']")
for m in "$MA" "$MB" "$MC1" "$MC2"; do
	case $m in 127.0.0.1:[0-9]*) ;; *) tdm_fail "not a metrics address: '$m'" ;; esac
done
[ "$MC1" != "$MC2" ] || tdm_fail "both coordinators report one address $MC1"
tdm_pass "status --json: metrics of $A ($MA), $B ($MB), the coordinators ($MC1, $MC2)"

# scrape NAME ADDR: the exposition into $TDM_TMP/NAME.prom, checked by promtool
scrape() {
	curl -sf --max-time 10 "http://$2/metrics" >"$TDM_TMP/$1.prom" || tdm_fail "scrape of $1 at $2 failed"
	promtool check metrics <"$TDM_TMP/$1.prom" >"$TDM_TMP/$1.promtool" 2>&1 ||
		tdm_fail "promtool check metrics: $1" -- "$TDM_TMP/$1.promtool"
}
# value NAME METRIC{LABELS}: the sample's value ('' when absent)
value() { awk -v k="$2" '$1 == k { print $2 }' "$TDM_TMP/$1.prom"; }
for n in A B C1 C2; do
	var=M$n
	scrape "$n" "${!var}"
done
tdm_pass "four scrapes pass promtool check metrics"

tdm_assert_eq "$A is active" 1 "$(value A "tandem_zone_role{zone=\"$Z\"}")"
# incremental runs: signatures kept from the previous version are counted as reused
reused() {
	scrape A "$MA"
	local r
	r=$(value A "tandem_zone_signatures_total{zone=\"$Z\",kind=\"reused\"}")
	[ -n "$r" ] && [ "$r" -gt 0 ]
}
tdm_wait 60 "$A to count reused signatures" reused
tdm_pass "$A: $(value A "tandem_zone_signatures_total{zone=\"$Z\",kind=\"reused\"}") reused and $(value A "tandem_zone_signatures_total{zone=\"$Z\",kind=\"new\"}") new RRSIGs counted"
tdm_assert_eq "$B is standby" 0 "$(value B "tandem_zone_role{zone=\"$Z\"}")"
for n in A B; do
	tdm_assert_eq "node $n healthy" 1 "$(value $n tandem_healthy)"
	[ "$(value $n tandem_hsm_sessions)" -ge 1 ] || tdm_fail "node $n has no HSM session open"
done

# the active's serial and expiry against its published file: scrape until the metrics and
# the file describe the same publication (a new one may land in between)
pubfile=$TDM_CL/$A/out/${Z%.}.zone
same=0
for _ in $(seq 1 30); do
	scrape A "$MA"
	ms=$(value A "tandem_zone_serial{zone=\"$Z\"}")
	fs=$(tdm_last_serial "$A" $Z)
	exp=$(value A "tandem_zone_rrsig_expiry_earliest_seconds{zone=\"$Z\"}")
	now=$(date +%s)
	true_exp=$(python3 -c '
import calendar, sys, time
least = None
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) > 8 and f[3] == "RRSIG":
        t = calendar.timegm(time.strptime(f[8], "%Y%m%d%H%M%S"))
        least = t if least is None else min(least, t)
print(least)' "$pubfile")
	fs2=$(tdm_last_serial "$A" $Z)
	if [ -n "$ms" ] && [ "$ms" = "$fs" ] && [ "$fs" = "$fs2" ]; then
		same=1
		break
	fi
	sleep 0.5
done
[ "$same" = 1 ] || tdm_fail "the metrics never showed the serial of the published file (last: metric $ms, file $fs)"
tdm_pass "$A: tandem_zone_serial $ms is the serial in publish.log"
diff=$(python3 -c 'import sys; print(abs(float(sys.argv[1]) - (int(sys.argv[2]) - int(sys.argv[3]))))' "$exp" "$true_exp" "$now")
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 60 else 1)' "$diff" ||
	tdm_fail "earliest-expiry metric $exp s, the file says $((true_exp - now)) s"
tdm_pass "$A: earliest RRSIG expiry $exp s, within ${diff} s of the published file's"

# the coordinators render their state as read each second: they catch up with the commit
caught_up() {
	local cs
	scrape "$1" "$2"
	cs=$(value "$1" "tandem_zone_committed_serial{zone=\"$Z\"}")
	[ -n "$cs" ] && [ "$cs" -ge "$ms" ]
}
tdm_wait 30 "coordinator 1's committed serial to reach $ms" caught_up C1 "$MC1"
tdm_wait 30 "coordinator 2's committed serial to reach $ms" caught_up C2 "$MC2"
for n in C1 C2; do
	tdm_assert_eq "coordinator $n reaches etcd" 1 "$(value $n tandem_coord_etcd_reachable)"
	tdm_assert_eq "coordinator $n sees 3 etcd members" 3 "$(value $n tandem_etcd_members_up)"
done
tdm_assert_eq "one timer leader" 1 "$(($(value C1 tandem_coord_leader) + $(value C2 tandem_coord_leader)))"
tdm_pass "coordinators: etcd reachable, 3 members up, one leader, committed serial >= $ms"

# the standby's input goes away: held-input metrics on the node and the coordinator (the
# alert does not block: the node signs its last good copy meanwhile)
mv "$TDM_CL/$B/in/example.zone" "$TDM_TMP/example.zone.away"
held() {
	scrape B "$MB"
	[ "$(value B "tandem_zone_input_held{zone=\"$Z\"}")" = 1 ] &&
		[ "$(value B "tandem_alert{zone=\"$Z\",reason=\"input-missing\",blocking=\"false\"}")" = 1 ]
}
tdm_wait 60 "$B's metrics to show the missing input" held
coord_alert() {
	scrape C1 "$MC1"
	[ "$(value C1 "tandem_coord_node_alert{node=\"$B\",zone=\"$Z\",reason=\"input-missing\"}")" = 1 ]
}
tdm_wait 60 "the coordinator's metrics to show $B's alert" coord_alert
tdm_pass "a missing input: tandem_zone_input_held and tandem_alert on $B, tandem_coord_node_alert on the coordinator"
mv "$TDM_TMP/example.zone.away" "$TDM_CL/$B/in/example.zone"

code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://$MA/other")
tdm_assert_eq "a path other than /metrics" 404 "$code"
tdm_assert_ok "promtool check rules conf/tandem-alerts.yml" promtool check rules "$TDM_SRC/conf/tandem-alerts.yml"
