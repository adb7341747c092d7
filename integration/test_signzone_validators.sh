#!/bin/bash
# tandem-signzone output must satisfy three independent validators (BIND dnssec-verify,
# Knot kzonecheck, ldns-verify-zone) and its own gate, for NSEC and NSEC3, RSASHA256 and
# ECDSAP256SHA256, on conf/example.zone and a generated 2,000-delegation zone; and RSA
# signing with a fixed --now must be byte-for-byte reproducible (also across thread counts).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"

tdm_token "$TDM_TMP/hsm" validators
cp "$TDM_SRC/conf/example.zone" "$TDM_TMP/example.zone"
tdm_zonegen -o tld -n 2000 --seed 7 >"$TDM_TMP/tld.zone"
[ "$(tdm_rrtype_count NS "$TDM_TMP/tld.zone")" -ge 4000 ] || tdm_fail "zonegen gave too few NS records"

# zone origin pairs
zones=("example:$TDM_TMP/example.zone" "tld:$TDM_TMP/tld.zone")

for alg in rsasha256 ecdsap256sha256; do
	case $alg in
	rsasha256) keys=(--ksk "$(tdm_key_uri ksk-rsa)" --zsk "$(tdm_key_uri zsk-rsa)" --ksk-bits 2048 --zsk-bits 1024) ;;
	*) keys=(--ksk "$(tdm_key_uri ksk-ec)" --zsk "$(tdm_key_uri zsk-ec)") ;;
	esac
	for denial in nsec nsec3; do
		for z in "${zones[@]}"; do
			origin=${z%%:*}
			in=${z#*:}
			out=$TDM_TMP/$origin.$alg.$denial.signed
			what="$origin $alg $denial"
			tdm_assert_ok "$what: sign" \
				tdm_signzone -o "$origin" "--$denial" -a "$alg" "${keys[@]}" --gen-keys -j 2 -f "$out" "$in"
			[ -s "$out" ] || tdm_fail "$what: output $out missing or empty"
			# the right kind of denial, and signatures on it
			if [ "$denial" = nsec3 ]; then
				[ "$(tdm_rrtype_count NSEC3 "$out")" -gt 0 ] || tdm_fail "$what: no NSEC3 records"
				[ "$(tdm_rrtype_count NSEC "$out")" -eq 0 ] || tdm_fail "$what: NSEC records in an NSEC3 zone"
				[ "$(tdm_rrtype_count NSEC3PARAM "$out")" -eq 1 ] || tdm_fail "$what: expected one NSEC3PARAM"
			else
				[ "$(tdm_rrtype_count NSEC "$out")" -gt 0 ] || tdm_fail "$what: no NSEC records"
				[ "$(tdm_rrtype_count NSEC3 "$out")" -eq 0 ] || tdm_fail "$what: NSEC3 records in an NSEC zone"
			fi
			[ "$(tdm_rrtype_count DNSKEY "$out")" -ge 2 ] || tdm_fail "$what: expected a KSK and a ZSK DNSKEY"
			tdm_validate "$origin" "$out" "$what"
		done
	done
done

# The generated zone with NSEC3: one RRSIG per DS set and per NSEC3 record, plus the apex
# sets; never on delegation NS or glue.
out=$TDM_TMP/tld.rsasha256.nsec3.signed
nds=$(tdm_rrtype_count DS "$TDM_TMP/tld.zone")
nn3=$(tdm_rrtype_count NSEC3 "$out")
nsig=$(tdm_rrtype_count RRSIG "$out")
[ "$nn3" -ge 2000 ] || tdm_fail "tld nsec3: $nn3 NSEC3 records for 2000 delegations (no opt-out expected)"
if [ "$nsig" -lt $((nds + nn3)) ] || [ "$nsig" -gt $((nds + nn3 + 20)) ]; then
	tdm_fail "tld nsec3: $nsig RRSIGs, expected $nds (DS) + $nn3 (NSEC3) + a few apex sets"
fi
awk '($3 == "IN" ? $4 : $3) == "RRSIG" && ($3 == "IN" ? $5 : $4) == "NS" && $1 != "tld." { print; exit 1 }' \
	"$out" >"$TDM_TMP/deleg-ns-sig" || tdm_fail "tld nsec3: delegation NS RRset signed" -- "$TDM_TMP/deleg-ns-sig"
tdm_pass "tld nsec3: $nsig RRSIGs ($nds DS + $nn3 NSEC3 + apex)"

# Determinism: same input, same keys, same --now, RSA (PKCS#1 v1.5 is deterministic).
now=$(date +%s)
rsa=(--ksk "$(tdm_key_uri ksk-rsa)" --zsk "$(tdm_key_uri zsk-rsa)" -a rsasha256 --nsec3)
for z in "${zones[@]}"; do
	origin=${z%%:*}
	in=${z#*:}
	tdm_assert_ok "$origin: deterministic run 1" tdm_signzone -o "$origin" "${rsa[@]}" --now "$now" -j 2 -f "$TDM_TMP/$origin.det1" "$in"
	tdm_assert_ok "$origin: deterministic run 2" tdm_signzone -o "$origin" "${rsa[@]}" --now "$now" -j 2 -f "$TDM_TMP/$origin.det2" "$in"
	tdm_assert_ok "$origin: deterministic run 3 (-j1)" tdm_signzone -o "$origin" "${rsa[@]}" --now "$now" -j 1 -f "$TDM_TMP/$origin.det3" "$in"
	tdm_assert_same_file "$origin: same --now twice" "$TDM_TMP/$origin.det1" "$TDM_TMP/$origin.det2"
	tdm_assert_same_file "$origin: -j2 vs -j1" "$TDM_TMP/$origin.det1" "$TDM_TMP/$origin.det3"
	[ "$(tdm_rrtype_count RRSIG "$TDM_TMP/$origin.det1")" -gt 0 ] || tdm_fail "$origin: deterministic output has no RRSIGs"
	tdm_pass "$origin: byte-identical output with --now $now"
done
# a different --now must give different signatures (else --now is ignored)
tdm_assert_ok "example: sign at now+1d" tdm_signzone -o example "${rsa[@]}" --now $((now + 86400)) -f "$TDM_TMP/example.det4" "$TDM_TMP/example.zone"
if cmp -s "$TDM_TMP/example.det1" "$TDM_TMP/example.det4"; then
	tdm_fail "example: signing at --now and --now+1 day gave identical output"
fi
