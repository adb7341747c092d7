#!/bin/bash
# NOTIFY out and a real secondary through a failover (issue 11, docs/dist.md): NSD lists both
# sites' nodes as primaries (TSIG, refresh timer far away) and every node NOTIFYs it after
# each of its own publications (--notify):
#  - NSD takes the active's first publication;
#  - a changed input: the active NOTIFYs, NSD takes the new serial by IXFR (its log says so)
#    and answers with it, long before its refresh timer;
#  - kill -9 of the active: the other node takes over, publishes, NOTIFYs, and NSD reaches
#    its serial with no operator action, by IXFR (its first own publication serves the
#    journal's changesets, the standby's shadow ones included); its zone then equals what
#    that node published.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=peers.sh
source "$(dirname "$0")/peers.sh"
tdm_setup "$@"
tdm_need etcd kdig nsd ldns-read-zone
Z=example.

PEERS_NSD_PORT=$(tdm_free_ports 1)
# a long cycle: serials change only when the test changes the input or kills the active
tdm_cluster_up --cycle 600 --notify "127.0.0.1:$PEERS_NSD_PORT"
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z"
B=node-a
[ "$A" = node-a ] && B=node-b
published() { [ -n "$(tdm_last_serial "$A" $Z)" ]; }
tdm_wait 90 "$A to publish $Z" published
S=$(tdm_last_serial "$A" $Z)

# xfr_port NODE: the port the node's transfer server bound (its log says it)
xfr_port() {
	sed -n 's/.*transfers served on [^ ]*:\([0-9]*\) .*/\1/p' "$TDM_CL/log/$1.log" | tail -n 1
}
PA=$(xfr_port "$A")
PB=$(xfr_port "$B")
if [ -z "$PA" ] || [ -z "$PB" ]; then
	tdm_fail "no transfer server port in the nodes' logs"
fi
# the site of each node on loopback: cluster-up binds every node on 127.0.0.1 without --netns
peers_nsd_secondary "$TDM_TMP/nsd" "${Z%.}" "127.0.0.1@$PA 127.0.0.1@$PB" "$TDM_CL/tsig.key"
peers_wait_serial 127.0.0.1 "$PEERS_NSD_PORT" "${Z%.}" "$S" 90 "$PEERS_NSD_PID" "$PEERS_NSD_LOG"
tdm_pass "NSD took serial $S from $A"

# ---- a changed input: NOTIFY, then IXFR -------------------------------------------------
for n in node-a node-b; do
	in=$TDM_CL/$n/in/example.zone
	sed 's/2024010101 ; serial/2024010102 ; serial/' "$in" >"$in.new"
	printf 'notified 86400 IN NS ns1.notified.example.net.\n' >>"$in.new"
	mv "$in.new" "$in"
done
tdm_wait 120 "$A to publish the change" tdm_published_after "$A" $Z "$S"
S2=$(tdm_last_serial "$A" $Z)
peers_wait_serial 127.0.0.1 "$PEERS_NSD_PORT" "${Z%.}" "$S2" 60 "$PEERS_NSD_PID" "$PEERS_NSD_LOG"
answered() { grep -q "notify 127.0.0.1@$PEERS_NSD_PORT: took serial $S2" "$TDM_CL/log/$A.log"; }
tdm_wait 30 "$A to log NSD's answer to its NOTIFY of $S2" answered
tdm_assert_grep "NSD got the NOTIFY of $S2" "notify for example\.? from 127\.0\.0\.1 serial $S2" "$PEERS_NSD_LOG"
# NSD logs each transfer's size: the one to S2 is the difference, not the zone (IXFR)
xfr_bytes() { sed -n "s/.*received update to serial $1 .* of \([0-9]*\) bytes.*/\1/p" "$PEERS_NSD_LOG" | head -n 1; }
full=$(xfr_bytes "$S")
diff=$(xfr_bytes "$S2")
if [ -z "$full" ] || [ -z "$diff" ] || [ "$((diff * 2))" -ge "$full" ]; then
	tdm_fail "NSD's transfer to $S2 (${diff:-?} bytes) is not an IXFR against the zone's ${full:-?} bytes" -- "$PEERS_NSD_LOG"
fi
tdm_pass "NOTIFY of $S2 answered, NSD at $S2 by IXFR ($diff bytes; the zone $full)"

# ---- kill -9 of the active: the secondary follows the new active --------------------------
kill -KILL "$(cat "$TDM_CL/run/$A.pid")"
took_over() { [ "$(tdm_holder $Z)" = "$B" ] && tdm_published_after "$B" $Z "$S2"; }
tdm_wait 180 "$B to take $Z over and publish" took_over
S3=$(tdm_last_serial "$B" $Z)
peers_wait_serial 127.0.0.1 "$PEERS_NSD_PORT" "${Z%.}" "$S3" 90 "$PEERS_NSD_PID" "$PEERS_NSD_LOG"
# the operator's file is written after the publication (docs/node.md): wait for it
file_at() { [ "$(awk '$4 == "SOA" { print $7; exit }' "$TDM_CL/$B/out/${Z%.}.zone" 2>/dev/null)" = "$S3" ]; }
tdm_wait 60 "$B's file to hold $S3" file_at
after=$(xfr_bytes "$S3")
if [ -z "$after" ] || [ "$((after * 2))" -ge "$full" ]; then
	tdm_fail "NSD's transfer to $S3 from $B (${after:-?} bytes) is not an IXFR against the zone's $full bytes" -- "$PEERS_NSD_LOG"
fi
kdig -p "$PEERS_NSD_PORT" @127.0.0.1 -k <(awk '{ print $2 ":" $1 ":" $3 }' "$TDM_CL/tsig.key") \
	+tcp +nocomments +nostats +notsig "${Z%.}" AXFR 2>/dev/null |
	grep -v -e '^;' -e '^$' -e $'\tTSIG\t' | sed '$d' >"$TDM_TMP/nsd.zone"
ldns-read-zone -z "$TDM_TMP/nsd.zone" >"$TDM_TMP/nsd.sorted" 2>/dev/null
ldns-read-zone -z "$TDM_CL/$B/out/${Z%.}.zone" >"$TDM_TMP/b.sorted" 2>/dev/null
tdm_assert_same_file "NSD's zone is what $B published (serial $S3)" "$TDM_TMP/b.sorted" "$TDM_TMP/nsd.sorted"
tdm_pass "after kill -9 of $A, NSD reached $B's serial $S3 with no operator action, by IXFR ($after bytes)"
tdm_cluster_sanitizer_check
