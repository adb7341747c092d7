#!/bin/bash
# Records the signer makes itself are never taken from the unsigned input (issue 8): a zone
# feed with a foreign DNSKEY, CDS, CDNSKEY and RRSIG appended signs to exactly the zone the
# clean input gives (same DNSKEY RRset, no CDS/CDNSKEY: those come only from the key set),
# with one warning per dropped type naming FILE:LINE; dnssec-verify accepts it. With the
# policy's zone.signer-owned: refuse, the input is refused with FILE:LINE per type.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"
tdm_need dnssec-keygen dnssec-dsfromkey

tdm_token "$TDM_TMP/hsm" owned
keys=(--ksk "$(tdm_key_uri ksk)" --zsk "$(tdm_key_uri zsk)" -a ecdsap256sha256 --nsec)
now=$(date +%s)

clean=$TDM_SRC/conf/example.zone
tdm_assert_ok "clean input signs (keys generated)" \
	tdm_signzone -o example "${keys[@]}" --gen-keys --now "$now" -f "$TDM_TMP/clean.signed" "$clean"
tdm_assert_no_grep "clean input: no dropped-record warning" 'dropped' "$TDM_ERR"

# the feed's own key: what someone who controls the zone feed would ask the parent to trust
kfile=$(dnssec-keygen -q -K "$TDM_TMP" -a ECDSAP256SHA256 -f KSK example)
dnskey=$(awk '$4 == "DNSKEY" || $3 == "DNSKEY"' "$TDM_TMP/$kfile.key" | sed -E 's/.*DNSKEY[[:space:]]+//')
cds=$(dnssec-dsfromkey -2 "$TDM_TMP/$kfile.key" | sed -E 's/.*[[:space:]]DS[[:space:]]+//')
if [ -z "$dnskey" ] || [ -z "$cds" ]; then tdm_fail "could not make the foreign DNSKEY/CDS"; fi

tainted=$TDM_TMP/tainted.zone
cp "$clean" "$tainted"
base=$(wc -l <"$tainted")
{
	printf 'example. 3600 IN CDS %s\n' "$cds"
	printf 'example. 3600 IN CDNSKEY %s\n' "$dnskey"
	printf 'example. 3600 IN DNSKEY %s\n' "$dnskey"
	printf 'www.example. 3600 IN RRSIG A 13 2 3600 20300101000000 20200101000000 4711 example. %s\n' \
		"$(head -c 64 /dev/urandom | base64 -w0)"
} >>"$tainted"
line_cds=$((base + 1)) line_cdnskey=$((base + 2)) line_dnskey=$((base + 3)) line_rrsig=$((base + 4))

tdm_assert_ok "tainted input signs" \
	tdm_signzone -o example "${keys[@]}" --now "$now" -f "$TDM_TMP/tainted.signed" "$tainted"
err=$TDM_ERR
for t in "CDS:$line_cds" "CDNSKEY:$line_cdnskey" "DNSKEY:$line_dnskey" "RRSIG:$line_rrsig"; do
	type=${t%%:*} line=${t#*:}
	tdm_assert_grep "warning names $type at tainted.zone:$line" \
		"tainted\.zone:$line: warning: 1 $type record in the input .*dropped" "$err"
	[ "$(grep -c " 1 $type record in the input" "$err")" = 1 ] ||
		tdm_fail "expected exactly one warning line for $type" -- "$err"
done

out=$TDM_TMP/tainted.signed
tdm_assert_eq "no CDS in the signed zone" 0 "$(tdm_rrtype_count CDS "$out")"
tdm_assert_eq "no CDNSKEY in the signed zone" 0 "$(tdm_rrtype_count CDNSKEY "$out")"
grep -Fq -- "$(printf '%s' "$dnskey" | awk '{print $NF}')" "$out" &&
	tdm_fail "the foreign key is in the signed zone" -- "$out"
# the signed zones are the same but for the (randomised ECDSA) signatures
strip() { awk '($3 == "IN" ? $4 : $3) != "RRSIG"' "$1"; }
strip "$TDM_TMP/clean.signed" >"$TDM_TMP/clean.nosig"
strip "$out" >"$TDM_TMP/tainted.nosig"
tdm_assert_same_file "tainted and clean inputs give the same records" \
	"$TDM_TMP/clean.nosig" "$TDM_TMP/tainted.nosig"
tdm_assert_eq "as many RRSIGs as from the clean input" \
	"$(tdm_rrtype_count RRSIG "$TDM_TMP/clean.signed")" "$(tdm_rrtype_count RRSIG "$out")"
tdm_assert_ok "tainted: dnssec-verify" dnssec-verify -o example "$out"

# ---- signer-owned: refuse ----------------------------------------------------------------
cat >"$TDM_TMP/refuse.yaml" <<'YAML'
policy: refuse-owned
keys:
  ksk: { algorithm: ecdsap256sha256 }
  zsk: { algorithm: ecdsap256sha256 }
zone: { signer-owned: refuse }
YAML
printf '; previous\n' >"$TDM_TMP/refused.signed"
cp "$TDM_TMP/refused.signed" "$TDM_TMP/refused.before"
tdm_run refuse tdm_signzone -o example "${keys[@]}" -p "$TDM_TMP/refuse.yaml" --now "$now" \
	-f "$TDM_TMP/refused.signed" "$tainted"
tdm_assert_eq "refuse: exit 2 (input refused)" 2 "$TDM_RC"
for t in "CDS:$line_cds" "CDNSKEY:$line_cdnskey" "DNSKEY:$line_dnskey" "RRSIG:$line_rrsig"; do
	type=${t%%:*} line=${t#*:}
	tdm_assert_grep "refuse: names $type at tainted.zone:$line" \
		"tainted\.zone:$line: 1 $type record in the input .*refuse" "$TDM_ERR"
done
tdm_assert_same_file "refuse: previous OUT untouched" "$TDM_TMP/refused.before" "$TDM_TMP/refused.signed"
tdm_assert_ok "refuse policy: the clean input signs" \
	tdm_signzone -o example "${keys[@]}" -p "$TDM_TMP/refuse.yaml" --now "$now" \
	-f "$TDM_TMP/clean2.signed" "$clean"
