#!/bin/bash
# The transfer server on a local cluster (issue 11, "Serving the signed zone", docs/dist.md).
# Each node runs --xfr-listen on a free port with the cluster's TSIG key (DIR/tsig.key):
#  - kdig AXFR from the active node, TSIG-signed, equals the file it published, record for
#    record, and its SOA over UDP is the serial of its last publish.log line;
#  - status --json gives each node's transfer server address as its `axfr`;
#  - the standby, which has published nothing itself, serves nothing (NOTAUTH): never its
#    shadow copy;
#  - a request with a wrong secret or without TSIG gets no record, and the node logs the
#    refusal;
#  - a change of the input (a delegation added): IXFR from the serial before it holds
#    exactly the journal's changeset (its SOAs, removed and added records), not the zone;
#  - the node restarted (SIGTERM: its lease goes to the other node): at once it serves
#    what it last published itself, with the journal's changesets for IXFR.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd kdig ldns-read-zone python3
Z=example.

# a long cycle: the zone stays at one serial while the test compares
tdm_cluster_up --cycle 600
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z"
B=node-a
[ "$A" = node-a ] && B=node-b
published() { [ -n "$(tdm_last_serial "$A" $Z)" ]; }
tdm_wait 60 "$A to publish $Z" published
S=$(tdm_last_serial "$A" $Z)

# xfr_addr NODE: the ADDR:PORT the node's transfer server bound (its log says it)
xfr_addr() {
	sed -n 's/.*transfers served on \([^ ]*\) .*/\1/p' "$TDM_CL/log/$1.log" | tail -n 1
}
XA=$(xfr_addr "$A")
XB=$(xfr_addr "$B")
if [ -z "$XA" ] || [ -z "$XB" ]; then
	tdm_fail "no transfer server address in the nodes' logs" -- "$TDM_CL/log/$A.log" "$TDM_CL/log/$B.log"
fi
# status --json lists each node's transfer server as its `axfr`, as the node registered it
AA=$(tdm_status_get "node('$A')['axfr']" || true)
AB=$(tdm_status_get "node('$B')['axfr']" || true)
tdm_assert_eq "status --json: $A's axfr is its transfer server" "$XA" "$AA"
tdm_assert_eq "status --json: $B's axfr is its transfer server" "$XB" "$AB"
read -r KNAME KALG KSECRET <"$TDM_CL/tsig.key"
[ "$(stat -c %a "$TDM_CL/tsig.key")" = 600 ] || tdm_fail "tsig.key is not mode 0600"

# kdig_to NODE_ADDR OUT ARGS...: kdig against ADDR:PORT, output to OUT
kdig_to() {
	local addr=$1 out=$2
	shift 2
	timeout 60 kdig "@${addr%:*}" -p "${addr##*:}" +retry=0 +time=20 +nocomments +nostats "$@" \
		>"$out" 2>&1 || true
}
# records OUT: kdig's records, comments and TSIG left out
records() { grep -v -e '^;' -e '^$' -e $'\tTSIG\t' "$1" || true; }
YKEY=(-y "$KALG:$KNAME:$KSECRET")

kdig_to "$XA" "$TDM_TMP/soa.out" "${YKEY[@]}" $Z SOA
soa=$(records "$TDM_TMP/soa.out" | awk '$4 == "SOA" { print $7 }')
tdm_assert_eq "SOA over UDP from $A is its last publication" "$S" "$soa"

kdig_to "$XA" "$TDM_TMP/axfr.out" +tcp "${YKEY[@]}" $Z AXFR
tdm_assert_no_grep "kdig verified every message's TSIG" '^;; (WARNING|ERROR)' "$TDM_TMP/axfr.out"
records "$TDM_TMP/axfr.out" >"$TDM_TMP/axfr.rrs"
first=$(awk 'NR == 1 { print $4, $7 }' "$TDM_TMP/axfr.rrs")
last=$(tail -n 1 "$TDM_TMP/axfr.rrs" | awk '{ print $4, $7 }')
tdm_assert_eq "the AXFR opens with the SOA of $S" "SOA $S" "$first"
tdm_assert_eq "the AXFR closes with the SOA of $S" "SOA $S" "$last"
sed '$d' "$TDM_TMP/axfr.rrs" >"$TDM_TMP/axfr.zone"
ldns-read-zone -z "$TDM_TMP/axfr.zone" >"$TDM_TMP/axfr.sorted" 2>/dev/null
ldns-read-zone -z "$TDM_CL/$A/out/${Z%.}.zone" >"$TDM_TMP/pub.sorted" 2>/dev/null
[ "$(tdm_last_serial "$A" $Z)" = "$S" ] || tdm_fail "$A published again during the test"
tdm_assert_same_file "the AXFR from $A is its published file, record for record" \
	"$TDM_TMP/pub.sorted" "$TDM_TMP/axfr.sorted"
tdm_pass "$(wc -l <"$TDM_TMP/axfr.sorted") records transferred"

# the standby published nothing itself: it serves nothing
[ -z "$(tdm_last_serial "$B" $Z)" ] || tdm_fail "$B published $Z though it is the standby"
kdig_to "$XB" "$TDM_TMP/b.out" "${YKEY[@]}" $Z SOA
tdm_assert_grep "the standby $B answers NOTAUTH" NOTAUTH "$TDM_TMP/b.out"

# refusals: a wrong secret, no TSIG
wrong=$(head -c 32 /dev/urandom | base64 -w0)
kdig_to "$XA" "$TDM_TMP/bad.out" +tcp -y "$KALG:$KNAME:$wrong" $Z AXFR
[ -z "$(records "$TDM_TMP/bad.out")" ] || tdm_fail "an AXFR with a wrong secret got records"
tdm_assert_grep "a wrong secret gets BADSIG" BADSIG "$TDM_TMP/bad.out"
kdig_to "$XA" "$TDM_TMP/none.out" +tcp $Z AXFR
[ -z "$(records "$TDM_TMP/none.out")" ] || tdm_fail "an AXFR without TSIG got records"
logged() { grep -q "refused AXFR $Z .*no TSIG" "$TDM_CL/log/$A.log"; }
tdm_wait 10 "$A to log the refusal" logged
if grep -qF -- "$KSECRET" "$TDM_CL/log/$A.log"; then
	tdm_fail "the TSIG secret is in $A's log"
fi
tdm_pass "refusals answered and logged"

# ---- IXFR after a change of the input ----------------------------------------------------
AXFR_N=$(wc -l <"$TDM_TMP/axfr.rrs")
for n in node-a node-b; do
	in=$TDM_CL/$n/in/example.zone
	sed 's/2024010101 ; serial/2024010102 ; serial/' "$in" >"$in.new"
	printf 'added 86400 IN NS ns1.added.example.net.\n' >>"$in.new"
	mv "$in.new" "$in"
done
tdm_wait 90 "$A to publish the change" tdm_published_after "$A" $Z "$S"
S2=$(tdm_last_serial "$A" $Z)
kdig_to "$XA" "$TDM_TMP/ixfr.out" +tcp "${YKEY[@]}" $Z "IXFR=$S"
tdm_assert_no_grep "kdig verified the IXFR's TSIG" '^;; (WARNING|ERROR)' "$TDM_TMP/ixfr.out"
records "$TDM_TMP/ixfr.out" >"$TDM_TMP/ixfr.rrs"
IXFR_N=$(wc -l <"$TDM_TMP/ixfr.rrs")
tdm_assert_eq "the IXFR opens with the new SOA" "SOA $S2" "$(awk 'NR == 1 { print $4, $7 }' "$TDM_TMP/ixfr.rrs")"
tdm_assert_eq "then the old SOA" "SOA $S" "$(awk 'NR == 2 { print $4, $7 }' "$TDM_TMP/ixfr.rrs")"
tdm_assert_grep "the IXFR adds the delegation" '^added\.example\.[[:space:]].*NS' "$TDM_TMP/ixfr.rrs"
# the journal's entries from S to S2: removed + added records, and four SOAs per entry... one
# opening and closing SOA, an old and a new SOA per changeset
JOURNAL=$(tdm_bin tandem-journal)
want=$("$JOURNAL" show "$TDM_CL/$A/work/${Z}journal" |
	awk -v s="$S" -v e="$S2" '$2 == s { on = 1 } on { n += $4 + $5 + 2; if ($3 == e) { print n + 2; exit } }')
[ -n "$want" ] || tdm_fail "$A's journal has no entries from $S to $S2" -- \
	<("$JOURNAL" show "$TDM_CL/$A/work/${Z}journal")
tdm_assert_eq "the IXFR $S -> $S2 holds the journal's changesets" "$want" "$IXFR_N"
[ "$IXFR_N" -lt "$AXFR_N" ] || tdm_fail "the IXFR ($IXFR_N records) is not smaller than the zone ($AXFR_N)"
tdm_pass "IXFR $S -> $S2: $IXFR_N records (the zone: $AXFR_N)"

# ---- a restart: served at once, what it published itself ----------------------------------
starts=$(grep -c "transfers served on" "$TDM_CL/log/$A.log")
pid=$(cat "$TDM_CL/run/$A.pid")
kill -TERM "$pid"
gone() { ! kill -0 "$pid" 2>/dev/null; }
tdm_wait 60 "$A to stop" gone
"$TDM_CL/run/$A.start"
restarted() { [ "$(grep -c "transfers served on" "$TDM_CL/log/$A.log")" -gt "$starts" ]; }
tdm_wait 60 "$A to start its transfer server again" restarted
XA=$(xfr_addr "$A")
kdig_to "$XA" "$TDM_TMP/soa2.out" "${YKEY[@]}" $Z SOA
soa=$(records "$TDM_TMP/soa2.out" | awk '$4 == "SOA" { print $7 }')
[ -n "$soa" ] || tdm_fail "$A serves no SOA after its restart" -- "$TDM_TMP/soa2.out"
awk -v z=$Z '$2 == z { print $3 }' "$(tdm_publog "$A")" | grep -qx "$soa" ||
	tdm_fail "$A serves serial $soa after its restart, which it never published" -- "$(tdm_publog "$A")"
[ "$soa" -ge "$S2" ] || tdm_fail "$A serves $soa after its restart, older than its last publication $S2"
kdig_to "$XA" "$TDM_TMP/ixfr2.out" +tcp "${YKEY[@]}" $Z "IXFR=$S"
records "$TDM_TMP/ixfr2.out" >"$TDM_TMP/ixfr2.rrs"
tdm_assert_eq "after the restart, IXFR from $S opens with the served SOA" "SOA $soa" \
	"$(awk 'NR == 1 { print $4, $7 }' "$TDM_TMP/ixfr2.rrs")"
tdm_assert_eq "and is an IXFR (the old SOA next), from the journal" "SOA $S" \
	"$(awk 'NR == 2 { print $4, $7 }' "$TDM_TMP/ixfr2.rrs")"
tdm_pass "after a restart $A serves serial $soa, its own, with IXFR from the journal"
tdm_cluster_sanitizer_check
