#!/bin/bash
# The publish gate (tandem-signzone --verify-only) must catch tampering: a flipped RRSIG
# byte, a missing NSEC3 record, signatures outside their validity window; each failure
# names the owner. It must accept an untampered zone, and zones signed by ldns-signzone
# and dnssec-signzone.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"
tdm_need knsec3hash ldns-signzone ldns-keygen dnssec-signzone dnssec-keygen

tdm_token "$TDM_TMP/hsm" tamper
now=$(date +%s)
zone=$TDM_TMP/example.zone
cp "$TDM_SRC/conf/example.zone" "$zone"
good=$TDM_TMP/good.signed
tdm_assert_ok "sign example (NSEC3, RSA)" \
	tdm_signzone -o example --nsec3 -a rsasha256 --ksk "$(tdm_key_uri ksk)" --zsk "$(tdm_key_uri zsk)" \
	--gen-keys --now "$now" -f "$good" "$zone"
tdm_assert_ok "untampered zone passes the gate" tdm_signzone -o example --verify-only "$good" --now "$now"
tdm_assert_ok "untampered zone passes ldns-verify-zone" ldns-verify-zone "$good"

# ---- 1: one byte of one RRSIG flipped (the signature over www.example. A) -----------------
flip=$TDM_TMP/flipped.signed
awk '
	function rtype() { return $3 == "IN" ? $4 : $3 }
	function covered() { return $3 == "IN" ? $5 : $4 }
	!done && tolower($1) == "www.example." && rtype() == "RRSIG" && covered() == "A" {
		# the longest field after the signer name is (part of) the base64 signature
		first = ($3 == "IN") ? 13 : 12; best = first
		for (i = first; i <= NF; i++) if (length($i) > length($best)) best = i
		c = substr($best, 6, 1)
		$best = substr($best, 1, 5) (c == "A" ? "B" : "A") substr($best, 7)
		done = 1
	}
	{ print }
	END { if (!done) exit 1 }' "$good" >"$flip" || tdm_fail "no RRSIG for www.example. A found to tamper with"
cmp -s "$good" "$flip" && tdm_fail "flipping a signature byte changed nothing"
tdm_assert_fails "flipped RRSIG: ldns-verify-zone (tamper sanity check)" ldns-verify-zone "$flip"
tdm_assert_fails "flipped RRSIG: gate refuses" tdm_signzone -o example --verify-only "$flip" --now "$now"
tdm_assert_grep "flipped RRSIG: message names the owner" '(^|[^a-z0-9.-])www\.example\.?([^a-z0-9-]|$)' "$TDM_ERR"

# ---- 2: the NSEC3 record of www.example. removed (with its RRSIG) ---------------------------
hash=$(knsec3hash - 1 0 www.example. | awk '{ print tolower($1) }')
[ -n "$hash" ] || tdm_fail "knsec3hash gave nothing"
pred=$(awk -v h="$hash" '($3 == "IN" ? $4 : $3) == "NSEC3" && tolower($(($3 == "IN") ? 9 : 8)) == h { print tolower($1) }' "$good")
nsec3rm=$TDM_TMP/nsec3-removed.signed
awk -v o="$hash.example." '
	function rtype() { return $3 == "IN" ? $4 : $3 }
	function covered() { return $3 == "IN" ? $5 : $4 }
	tolower($1) == o && (rtype() == "NSEC3" || (rtype() == "RRSIG" && covered() == "NSEC3")) { n++; next }
	{ print }
	END { if (n != 2) exit 1 }' "$good" >"$nsec3rm" ||
	tdm_fail "expected to remove exactly one NSEC3 record and its RRSIG at $hash.example."
[ -n "$pred" ] || tdm_fail "no NSEC3 record points at $hash (is the chain in the output?)"
tdm_assert_fails "NSEC3 removed: ldns-verify-zone (tamper sanity check)" ldns-verify-zone "$nsec3rm"
tdm_assert_fails "NSEC3 removed: gate refuses" tdm_signzone -o example --verify-only "$nsec3rm" --now "$now"
tdm_assert_grep "NSEC3 removed: message names the owner (www.example., $hash or $pred)" \
	"(^|[^a-z0-9.-])www\.example\.?([^a-z0-9-]|$)|${hash}|${pred//./\\.}" "$TDM_ERR"

# ---- 3: checked after expiry, and before inception ----------------------------------------
owner_type='(^|[[:space:]:])([a-z0-9*_-]+\.)*example\.[[:space:]]+[A-Z0-9]+:'
tdm_assert_fails "60 days later: gate refuses (expired)" \
	tdm_signzone -o example --verify-only "$good" --now $((now + 60 * 86400))
tdm_assert_grep "expired: 'owner TYPE: reason' message" "$owner_type" "$TDM_ERR"
tdm_assert_grep "expired: reason says so" 'expir|validity|not valid|window' "$TDM_ERR"
tdm_assert_fails "30 days earlier: gate refuses (not yet valid)" \
	tdm_signzone -o example --verify-only "$good" --now $((now - 30 * 86400))
tdm_assert_grep "not yet valid: 'owner TYPE: reason' message" "$owner_type" "$TDM_ERR"

# the untampered zone still passes at the signing time (the gate keeps no state)
tdm_assert_ok "untampered zone still passes" tdm_signzone -o example --verify-only "$good" --now "$now"

# ---- other signers' output passes the gate ---------------------------------------------------
mkdir "$TDM_TMP/ldns" "$TDM_TMP/bind"
(
	cd "$TDM_TMP/ldns"
	ldns-keygen -a RSASHA256 -b 1024 example >zsk.name
	ldns-keygen -k -a RSASHA256 -b 2048 example >ksk.name
) || tdm_fail "ldns-keygen failed"
zsk=$TDM_TMP/ldns/$(cat "$TDM_TMP/ldns/zsk.name")
ksk=$TDM_TMP/ldns/$(cat "$TDM_TMP/ldns/ksk.name")
tdm_assert_ok "ldns-signzone NSEC3" ldns-signzone -n -s '' -t 0 -f "$TDM_TMP/ldns.nsec3.signed" "$zone" "$zsk" "$ksk"
tdm_assert_ok "ldns-signzone NSEC" ldns-signzone -f "$TDM_TMP/ldns.nsec.signed" "$zone" "$zsk" "$ksk"
tdm_assert_ok "dnssec-keygen KSK" dnssec-keygen -q -K "$TDM_TMP/bind" -a RSASHA256 -b 2048 -f KSK example
tdm_assert_ok "dnssec-keygen ZSK" dnssec-keygen -q -K "$TDM_TMP/bind" -a RSASHA256 -b 1024 example
tdm_assert_ok "dnssec-signzone NSEC3" \
	dnssec-signzone -S -K "$TDM_TMP/bind" -d "$TDM_TMP/bind" -3 - -H 0 -o example -f "$TDM_TMP/bind.nsec3.signed" "$zone"
tdm_assert_ok "dnssec-signzone NSEC" \
	dnssec-signzone -S -K "$TDM_TMP/bind" -d "$TDM_TMP/bind" -o example -f "$TDM_TMP/bind.nsec.signed" "$zone"
for f in ldns.nsec3 ldns.nsec bind.nsec3 bind.nsec; do
	grep -q 'RRSIG' "$TDM_TMP/$f.signed" || tdm_fail "$f: no RRSIGs in the output"
	tdm_assert_ok "gate accepts $f" tdm_signzone -o example --verify-only "$TDM_TMP/$f.signed"
done
# and catches a flipped byte in one of them too
awk '!d && ($3 == "IN" ? $4 : $3) == "RRSIG" && tolower($1) == "www.example." {
		c = substr($NF, 6, 1); $NF = substr($NF, 1, 5) (c == "A" ? "B" : "A") substr($NF, 7); d = 1 }
	{ print } END { exit !d }' "$TDM_TMP/ldns.nsec3.signed" >"$TDM_TMP/ldns.flipped" ||
	tdm_fail "no RRSIG at www.example. in ldns output"
tdm_assert_fails "gate refuses a tampered ldns-signzone zone" tdm_signzone -o example --verify-only "$TDM_TMP/ldns.flipped"
tdm_assert_grep "tampered ldns zone: message names the owner" '(^|[^a-z0-9.-])www\.example\.?([^a-z0-9-]|$)' "$TDM_ERR"
