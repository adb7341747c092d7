#!/bin/bash
# The transfer server on a local cluster (issue 11, "Serving the signed zone", docs/dist.md).
# Each node runs --xfr-listen on a free port with the cluster's TSIG key (DIR/tsig.key):
#  - kdig AXFR from the active node, TSIG-signed, equals the file it published, record for
#    record, and its SOA over UDP is the serial of its last publish.log line;
#  - the standby, which has published nothing itself, serves nothing (NOTAUTH): never its
#    shadow copy;
#  - a request with a wrong secret or without TSIG gets no record, and the node logs the
#    refusal.
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
tdm_cluster_sanitizer_check
