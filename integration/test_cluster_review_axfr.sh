#!/bin/bash
# The review port (issue 11, docs/node.md "Review hooks"): a cluster whose nodes have
# --review-listen and whose policy names a hook for both stages that reads the version under
# review by AXFR from TANDEM_REVIEW_AXFR with the cluster's TSIG key (read from
# TANDEM_REVIEW_KEY_FILE, never passed in the environment) and rejects unless:
#  - the AXFR's SOA serial is TANDEM_SERIAL, and it holds what is reviewed (the new input's
#    TXT; RRSIGs in the signed stage only);
#  - the node's public transfer port does not serve that serial meanwhile (signed stage).
# The test then checks that both hooks approved the new input (so every check above held),
# that the public port serves it only after the hooks, and that the review port serves
# nothing once the hook ended (NOTAUTH) and refuses a request without TSIG.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd kdig
Z=example.

HOOK=$TDM_TMP/review.sh
CALLS=$TDM_TMP/review.calls
cat >"$HOOK" <<EOF
#!/bin/sh
# a review hook that reads the zone by AXFR from the review port; \$1: the stage
umask 077
node=\$(echo "\$TANDEM_ZONE_FILE" | sed -n 's|.*/\(node-[ab]\)/work/.*|\1|p')
k=\$(mktemp) && out=\$(mktemp) || exit 9
trap 'rm -f "\$k" "\$out"' EXIT
read -r name alg secret <"\$TANDEM_REVIEW_KEY_FILE"
printf '%s:%s:%s\n' "\$alg" "\$name" "\$secret" >"\$k"
kdig @127.0.0.1 -p "\${TANDEM_REVIEW_AXFR##*:}" +retry=0 +time=10 -k "\$k" AXFR "\$TANDEM_ZONE" >"\$out" 2>&1
got=\$(awk '\$4 == "SOA" { print \$7; exit }' "\$out")
txt=\$(grep -c 'review-axfr' "\$out")
sigs=\$(awk '\$4 == "RRSIG"' "\$out" | wc -l)
public=unknown
if [ -s "$TDM_TMP/public-\$node" ]; then
	pub=\$(cat "$TDM_TMP/public-\$node")
	public=\$(kdig @"\${pub%:*}" -p "\${pub##*:}" +retry=0 +time=10 -k "\$k" +short SOA "\$TANDEM_ZONE" | awk 'NF == 7 && \$3 ~ /^[0-9]+\$/ { print \$3; exit }')
fi
echo "\$1 \$TANDEM_SERIAL axfr=\$got txt=\$txt sigs=\$sigs public=\${public:-none} key=\$TANDEM_REVIEW_KEY at=\$TANDEM_REVIEW_AXFR node=\$node" >>"$CALLS"
env | grep -q "\$secret" && { echo "the TSIG secret is in the hook's environment"; exit 1; }
[ "\$got" = "\$TANDEM_SERIAL" ] || { echo "review AXFR gave serial '\$got', not \$TANDEM_SERIAL"; head -n 5 "\$out"; exit 1; }
if [ "\$1" = signed ]; then
	[ "\$sigs" -gt 0 ] || { echo "no RRSIG in the signed zone's AXFR"; exit 1; }
	[ "\$public" != "\$TANDEM_SERIAL" ] || { echo "the public port serves \$TANDEM_SERIAL during its review"; exit 1; }
else
	[ "\$sigs" = 0 ] || { echo "RRSIGs in the unsigned input's AXFR"; exit 1; }
fi
echo "ok \$TANDEM_SERIAL by AXFR"
EOF
chmod 0755 "$HOOK"
cat >"$TDM_TMP/policy.yaml" <<EOF
policy: review-axfr-test
zone:
  review-unsigned: $HOOK unsigned
  review-signed: $HOOK signed
  review-timeout: 30s
EOF

tdm_cluster_up --cycle 6 --policy "$TDM_TMP/policy.yaml" --review-listen
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z after cluster-up"
B=node-a
[ "$A" = node-a ] && B=node-b
LOG=$TDM_CL/log/$A.log
grep -Eq "review port on 127\.0\.0\.1:[0-9]+ \(tcp and udp, TSIG key tandem-xfr\.\)" "$LOG" ||
	tdm_fail "$A does not log its review port" -- "$LOG"
for n in "$A" "$B"; do
	addr=$(tdm_status_get "node('$n')['axfr']" || true)
	[ -n "$addr" ] || tdm_fail "no public transfer address for $n in the status"
	printf '%s\n' "$addr" >"$TDM_TMP/public-$n"
done
PUB=$(cat "$TDM_TMP/public-$A")
KEYF=$TDM_TMP/kdig.key
(
	umask 077
	read -r name alg secret <"$TDM_CL/tsig.key"
	printf '%s:%s:%s\n' "$alg" "$name" "$secret" >"$KEYF"
)
# the SOA serial of $Z on A's public port (kdig +short adds the TSIG after the SOA's line)
pub_serial() {
	kdig @"${PUB%:*}" -p "${PUB##*:}" +retry=0 +time=10 -k "$KEYF" +short SOA $Z |
		awk 'NF == 7 && $3 ~ /^[0-9]+$/ { print $3; exit }'
}
pub_at_least() {
	local s
	s=$(pub_serial)
	[ -n "$s" ] && [ "$s" -ge "$1" ]
}
old=$(pub_serial)
[ -n "$old" ] || tdm_fail "the public port of $A serves no SOA of $Z"

# ---- a new input: both hooks read it by AXFR from the review port and approve ----------------
IN=$TDM_CL/$A/in/example.zone
BIN=$TDM_CL/$B/in/example.zone
sed "s/2024010101 ; serial/2024010102 ; serial/" "$IN" >"$TDM_TMP/v.zone"
printf 'review 3600 IN TXT "review-axfr 2024010102"\n' >>"$TDM_TMP/v.zone"
cp "$TDM_TMP/v.zone" "$IN.new" && mv -f "$IN.new" "$IN"
cp "$TDM_TMP/v.zone" "$BIN.new" && mv -f "$BIN.new" "$BIN"
in_serial_is() { [ "$(tdm_status_get "zone('$Z')['input_serial']")" = "$1" ]; }
tdm_wait 90 "$A to sign the new input (both hooks approving)" in_serial_is 2024010102
grep -Eq "^unsigned 2024010102 axfr=2024010102 txt=1 sigs=0 public=[0-9]+ key=tandem-xfr\. at=127\.0\.0\.1:[0-9]+ node=$A$" "$CALLS" ||
	tdm_fail "the unsigned hook did not read the input by AXFR from the review port" -- "$CALLS" "$LOG"
line=$(grep -E "^signed [0-9]+ axfr=[0-9]+ txt=1 " "$CALLS" | tail -n 1)
[ -n "$line" ] || tdm_fail "the signed hook did not read the new version by AXFR" -- "$CALLS" "$LOG"
read -r _ sig axfr _ sigs public _ at _ <<<"$line"
[ "$axfr" = "axfr=$sig" ] || tdm_fail "the signed hook's AXFR had another serial: $line"
[ "${sigs#sigs=}" -gt 0 ] || tdm_fail "no RRSIG in the signed AXFR: $line"
case $public in
public=[0-9]*) [ "$public" != "public=$sig" ] || tdm_fail "the public port served $sig during its review: $line" ;;
*) tdm_fail "the public port did not answer the old serial while the hook ran: $line" ;;
esac
grep -q "review-signed of serial $sig: approved (exit 0, [0-9.]* s): ok $sig by AXFR" "$LOG" ||
	tdm_fail "no approval of the signed serial $sig logged" -- "$LOG"
tdm_pass "both hooks read the version under review by AXFR (TSIG) from the review port; the public port served ${public#public=} meanwhile"

# ---- afterwards: the public port has it, the review port nothing -----------------------------
tdm_wait 60 "the public port to serve the reviewed serial $sig (or a later one)" \
	pub_at_least "$sig"
REV=${at#at=}
tdm_run review-after kdig @127.0.0.1 -p "${REV##*:}" +retry=0 +time=10 -k "$KEYF" SOA $Z
grep -q "NOTAUTH" "$TDM_OUT" || tdm_fail "the review port still answers for $Z after the hook" -- "$TDM_OUT"
tdm_run review-unsigned kdig @127.0.0.1 -p "${REV##*:}" +retry=0 +time=10 SOA $Z
grep -q "REFUSED" "$TDM_OUT" || tdm_fail "the review port answered a request without TSIG" -- "$TDM_OUT"
grep -q "review port: xfr: refused SOA example. from 127.0.0.1" "$LOG" ||
	tdm_fail "the review port's refusals are not logged" -- "$LOG"
tdm_pass "after the hook the review port serves nothing (NOTAUTH), and refuses unsigned requests"
tdm_check_publications "$A" "$B"
tdm_cluster_sanitizer_check
