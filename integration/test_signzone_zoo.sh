#!/bin/bash
# Unusual record types and name shapes (integration/data/zoo.zone): tandem-signzone's output
# passes dnssec-verify, ldns-verify-zone and kzonecheck for RSASHA256 and ECDSAP256SHA256,
# NSEC and NSEC3; and an update signed with --previous (a DNAME and an empty non-terminal's
# only name gone, a DS added to an insecure delegation, a wildcard under new empty
# non-terminals, a name that keeps an empty non-terminal alive) has the same records,
# RRSIGs aside, as a full signing of the same input, and passes the validators.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"
tdm_need dnssec-verify ldns-verify-zone ldns-read-zone kzonecheck

tdm_token "$TDM_TMP/hsm" zoo
in=$TDM_SRC/integration/data/zoo.zone
now=$(date +%s)

# validators: exit status and a line of what they said on failure
validate() {
	local what=$1 out=$2
	dnssec-verify -o zoo.test "$out" >"$out.dv" 2>&1 || tdm_fail "$what: dnssec-verify: $(grep -v '^$' "$out.dv" | head -3)"
	ldns-verify-zone "$out" >"$out.lv" 2>&1 || tdm_fail "$what: ldns-verify-zone: $(tail -3 "$out.lv")"
	kzonecheck -o zoo.test -d on "$out" >"$out.kz" 2>&1 || tdm_fail "$what: kzonecheck: $(tail -3 "$out.kz")"
}

# every RRSIG's original TTL is the TTL of the RRset it covers (a reused signature over an
# RRset whose TTL changed would still verify: its original TTL is what is hashed)
ttls_agree() {
	local what=$1 out=$2 bad
	bad=$(ldns-read-zone -c "$out" | awk -F'\t' '
		$4 == "RRSIG" { split($5, f, " "); sig[$1 " " f[1]] = f[4]; next }
		{ ttl[$1 " " $4] = $2 }
		END { for (k in sig) if (!(k in ttl) || sig[k] != ttl[k]) print k ": RRSIG original TTL " sig[k] ", RRset TTL " ttl[k] }' | head -3)
	[ -z "$bad" ] || tdm_fail "$what: $bad"
}

# the records of a signed file without its RRSIGs, canonical and sorted
records() {
	ldns-read-zone -c "$1" | awk -F'\t' '$4 != "RRSIG"' | sort
}

for alg in rsasha256 ecdsap256sha256; do
	case $alg in
	rsasha256) keys=(--ksk "$(tdm_key_uri ksk-rsa)" --zsk "$(tdm_key_uri zsk-rsa)") ;;
	*) keys=(--ksk "$(tdm_key_uri ksk-ec)" --zsk "$(tdm_key_uri zsk-ec)") ;;
	esac
	for denial in nsec nsec3; do
		out=$TDM_TMP/zoo.$alg.$denial
		tdm_assert_ok "$alg $denial: sign" \
			tdm_signzone -o zoo.test "--$denial" -a "$alg" "${keys[@]}" --gen-keys -j 2 --now "$now" -f "$out" "$in"
		validate "$alg $denial" "$out"
		ttls_agree "$alg $denial" "$out"
		# RFC 9077: the denial records live min(SOA TTL, SOA MINIMUM) = 300 s here, below
		# the policy's 3600
		[ "$(ldns-read-zone -c "$out" | awk -F'\t' '$4 == "NSEC" || $4 == "NSEC3" { print $2 }' | sort -u)" = 300 ] ||
			tdm_fail "$alg $denial: NSEC/NSEC3 TTLs are not min(SOA TTL, SOA MINIMUM) = 300"
		# every type of the input is in the output, signed where it is authoritative
		for t in SVCB HTTPS CAA CNAME DNAME TLSA SRV NAPTR LOC SSHFP URI CERT PTR HINFO SPF OPENPGPKEY TYPE65280; do
			ldns-read-zone -c "$out" | awk -F'\t' -v t="$t" '$4 == t { f = 1 } END { exit !f }' ||
				tdm_fail "$alg $denial: no $t record in the output"
		done
		[ "$(ldns-read-zone -c "$out" | awk -F'\t' '$1 == "dup.zoo.test." && $4 == "A"' | wc -l)" = 1 ] ||
			tdm_fail "$alg $denial: the duplicate A record of dup.zoo.test. was not made one"
		[ "$(ldns-read-zone -c "$out" | awk -F'\t' '$1 == "ttl.zoo.test." && $4 == "A" { print $2 }' | sort -u | wc -l)" = 1 ] ||
			tdm_fail "$alg $denial: the two A records of ttl.zoo.test. do not have one TTL"
	done
done
tdm_log "4 signings: every type present, dnssec-verify, ldns-verify-zone and kzonecheck pass"

# the update: against the RSA versions above
# (the SOA MINIMUM goes from 300 to 120: every denial record's TTL with it)
sed -e 's/2024010101 3600 900 1814400 300/2024010102 3600 900 1814400 120/' -e '/^dname /d' -e '/^ent\.x\.y /d' "$in" >"$TDM_TMP/zoo2.zone"
grep -q '1814400 120$' "$TDM_TMP/zoo2.zone" || tdm_fail "the update's SOA edit did not apply"
cat >>"$TDM_TMP/zoo2.zone" <<'ZONE'
insec IN DS 2371 13 2 1F987CC6583E92DF0890718C42A1A6A5C8B5E6C8A6E3D2C1B0A9F8E7D6C5B4A3
*.new.deep IN A 192.0.2.200
z.y IN TXT "x.y goes, y stays"
ZONE
keys=(--ksk "$(tdm_key_uri ksk-rsa)" --zsk "$(tdm_key_uri zsk-rsa)" -a rsasha256 -j 2)
later=$((now + 3600))
for denial in nsec nsec3; do
	prev=$TDM_TMP/zoo.rsasha256.$denial
	tdm_assert_ok "$denial: update" \
		tdm_signzone -o zoo.test "--$denial" "${keys[@]}" --now "$later" -v --previous "$prev" -f "$TDM_TMP/inc.$denial" "$TDM_TMP/zoo2.zone"
	tdm_assert_grep "$denial: the update reused signatures" 'rrsigs: new=[0-9]* reused=[1-9]' "$TDM_ERR"
	tdm_assert_ok "$denial: full signing of the same input" \
		tdm_signzone -o zoo.test "--$denial" "${keys[@]}" --now "$later" -f "$TDM_TMP/full.$denial" "$TDM_TMP/zoo2.zone"
	validate "$denial update" "$TDM_TMP/inc.$denial"
	ttls_agree "$denial update" "$TDM_TMP/inc.$denial"
	records "$TDM_TMP/inc.$denial" >"$TDM_TMP/inc.$denial.rr"
	records "$TDM_TMP/full.$denial" >"$TDM_TMP/full.$denial.rr"
	diff -u "$TDM_TMP/full.$denial.rr" "$TDM_TMP/inc.$denial.rr" >"$TDM_TMP/diff.$denial" ||
		tdm_fail "$denial: the update's records differ from a full signing's: $(head -12 "$TDM_TMP/diff.$denial")"
	! grep -q '^dname\.zoo\.test\.' "$TDM_TMP/inc.$denial.rr" || tdm_fail "$denial: the removed DNAME is still there"
	grep -q "^insec\.zoo\.test\..*DS" "$TDM_TMP/inc.$denial.rr" || tdm_fail "$denial: the new DS is missing"
done
tdm_pass "updates (NSEC and NSEC3) equal a full signing, RRSIGs aside, and validate"
