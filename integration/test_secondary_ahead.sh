#!/bin/bash
# A secondary ahead of the cluster (issue 11, docs/dist.md "Secondaries"): NSD's copy of the
# zone already holds a serial far above (RFC 1982) the one the active published, so it
# ignores the active's NOTIFYs and transfers. The active asks each --notify secondary for the
# zone's SOA (TSIG-signed) and raises the zone alert secondary-ahead, naming the secondary
# and both serials; status --json shows it and the metrics export the secondary's serial.
# Once NSD is back at the cluster's serial the alert clears.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=peers.sh
source "$(dirname "$0")/peers.sh"
tdm_setup "$@"
tdm_need etcd kdig nsd curl python3
Z=example.

PEERS_NSD_PORT=$(tdm_free_ports 1)
SEC="127.0.0.1:$PEERS_NSD_PORT"
tdm_cluster_up --cycle 600 --notify "$SEC"
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z"
B=node-a
[ "$A" = node-a ] && B=node-b
published() { [ -n "$(tdm_last_serial "$A" $Z)" ]; }
tdm_wait 90 "$A to publish $Z" published
S=$(tdm_last_serial "$A" $Z)
out=$TDM_CL/$A/out/${Z%.}.zone
file_at() { [ "$(awk '$4 == "SOA" { print $7; exit }' "$out" 2>/dev/null)" = "$1" ]; }
tdm_wait 60 "$A's file to hold $S" file_at "$S"

xfr_port() {
	sed -n 's/.*transfers served on [^ ]*:\([0-9]*\) .*/\1/p' "$TDM_CL/log/$1.log" | tail -n 1
}
PA=$(xfr_port "$A")
PB=$(xfr_port "$B")
if [ -z "$PA" ] || [ -z "$PB" ]; then
	tdm_fail "no transfer server port in the nodes' logs"
fi

# NSD's copy: what A published, its serial a million above (in RFC 1982 terms)
HIGH=$(((S + 1000000) % 4294967296))
mkdir -p "$TDM_TMP/nsd"
awk -v h="$HIGH" '$4 == "SOA" && !done { $7 = h; done = 1 } { print }' "$out" >"$TDM_TMP/nsd/${Z%.}.zone"
peers_nsd_secondary "$TDM_TMP/nsd" "${Z%.}" "127.0.0.1@$PA 127.0.0.1@$PB" "$TDM_CL/tsig.key"
peers_wait_serial 127.0.0.1 "$PEERS_NSD_PORT" "${Z%.}" "$HIGH" 30 "$PEERS_NSD_PID" "$PEERS_NSD_LOG"
tdm_pass "NSD answers serial $HIGH, above $A's $S"

LOG=$TDM_CL/log/$A.log
logged() { grep -Eq "$1" "$LOG"; }
status_alert() {
	[ "$(tdm_status_get "any(a['kind'] == '$2' and a['zone'] == '$Z' and '${3:-}' in a['reason'] for a in node('$1')['alerts'])")" = True ]
}
no_status_alert() { ! status_alert "$1" "$2" && [ "$(tdm_status_get "len(node('$1')['alerts'])")" != "" ]; }
# the SOA query is retried every 10 s while unanswered (NSD was not up at the publication)
tdm_wait 60 "$A to raise secondary-ahead" \
	logged "ALERT secondary-ahead: secondary $SEC answers serial $HIGH, above $S "
tdm_wait 20 "the status to show the alert" status_alert "$A" secondary-ahead "serial $HIGH, above $S"
metrics=$(tdm_status_get "node('$A')['metrics']")
[ -n "$metrics" ] || tdm_fail "$A reports no metrics endpoint"
sec_metric() {
	curl -fsS "http://$metrics/metrics" >"$TDM_TMP/metrics.txt" &&
		grep -Eq "^tandem_secondary_serial\\{zone=\"$Z\",secondary=\"$SEC\"\\} $1\$" "$TDM_TMP/metrics.txt"
}
tdm_wait 10 "the metrics to show NSD's serial $HIGH" sec_metric "$HIGH"
tdm_assert_grep "metrics export the alert" "^tandem_alert\\{zone=\"$Z\",reason=\"secondary-ahead\"" "$TDM_TMP/metrics.txt"
[ "$(tdm_last_serial "$A" $Z)" = "$S" ] || tdm_fail "$A published again: the alert must not change the zone"
tdm_pass "secondary-ahead raised: status --json and metrics show NSD at $HIGH"

# ---- NSD back at the cluster's serial: the alert clears -----------------------------------
peers_stop "$PEERS_NSD_PID" "$PEERS_NSD_CONF"
rm -f "$TDM_TMP/nsd/${Z%.}.zone" "$TDM_TMP/nsd/xfrd.state" "$TDM_TMP/nsd/zone.list"
peers_nsd_secondary "$TDM_TMP/nsd" "${Z%.}" "127.0.0.1@$PA 127.0.0.1@$PB" "$TDM_CL/tsig.key"
# a new publication: NOTIFY, NSD takes it, the node asks its SOA again
for n in node-a node-b; do
	in=$TDM_CL/$n/in/example.zone
	sed 's/2024010101 ; serial/2024010102 ; serial/' "$in" >"$in.new"
	mv "$in.new" "$in"
done
tdm_wait 120 "$A to publish the change" tdm_published_after "$A" $Z "$S"
S2=$(tdm_last_serial "$A" $Z)
peers_wait_serial 127.0.0.1 "$PEERS_NSD_PORT" "${Z%.}" "$S2" 90 "$PEERS_NSD_PID" "$PEERS_NSD_LOG"
tdm_wait 90 "the alert to clear" logged "zone $Z: alert secondary-ahead cleared"
tdm_wait 20 "the status to clear it" no_status_alert "$A" secondary-ahead
tdm_wait 10 "the metrics to show NSD's serial $S2" sec_metric "$S2"
tdm_pass "NSD at $S2: secondary-ahead cleared in the log, status --json and metrics"
tdm_cluster_sanitizer_check
