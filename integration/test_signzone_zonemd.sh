#!/bin/bash
# ZONEMD (RFC 8976) by policy (zone.zonemd): tandem-signzone puts one SIMPLE ZONEMD at the
# apex with the new serial, signed, in the apex's denial bitmap; ldns-verify-zone checks its
# digest (-ZZ: a valid ZONEMD is required, DNSSEC too), as do Unbound (auth-zone with
# zonemd-check) and tandem's gate; kzonecheck and dnssec-verify accept the zone
# too. A ZONEMD made by ldns-signzone is accepted by tandem's gate, and a
# glue record changed after signing (no RRSIG covers glue, so only ZONEMD can catch it) is
# refused by both ldns and tandem's gate. Signature reuse (--previous) makes a new ZONEMD.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"

tdm_token "$TDM_TMP/hsm" zonemd
tdm_zonegen -o tld -n 300 --seed 11 >"$TDM_TMP/tld.zone"
keys=(--ksk "$(tdm_key_uri ksk)" --zsk "$(tdm_key_uri zsk)" -a rsasha256 --ksk-bits 2048 --zsk-bits 1024)

for hash in sha384 sha512; do
	for denial in nsec3 nsec; do
		what="zonemd simple-$hash $denial"
		printf 'policy: zonemd\nzone:\n  zonemd: simple-%s\n' "$hash" >"$TDM_TMP/p.yaml"
		out=$TDM_TMP/tld.$hash.$denial.signed
		tdm_assert_ok "$what: sign" tdm_signzone -o tld -p "$TDM_TMP/p.yaml" "--$denial" "${keys[@]}" \
			--gen-keys -j 2 -f "$out" "$TDM_TMP/tld.zone"
		n=$(tdm_rrtype_count ZONEMD "$out")
		[ "$n" -eq 1 ] || tdm_fail "$what: $n ZONEMD records, expected 1"
		serial=$(awk '$4 == "SOA" { print $7; exit }' "$out")
		awk -v s="$serial" -v h="$([ $hash = sha384 ] && echo 1 || echo 2)" \
			'$4 == "ZONEMD" && $1 == "tld." && $5 == s && $6 == 1 && $7 == h { ok = 1 } END { exit !ok }' "$out" ||
			tdm_fail "$what: the ZONEMD is not 'tld. ... ZONEMD $serial 1 <hash>'" -- "$out"
		awk '$4 == "RRSIG" && $5 == "ZONEMD" { ok = 1 } END { exit !ok }' "$out" ||
			tdm_fail "$what: the ZONEMD RRset is not signed"
		tdm_assert_ok "$what: ldns-verify-zone -ZZ" ldns-verify-zone -ZZ "$out"
		tdm_validate tld "$out" "$what"
	done
done

# Unbound as a consumer that checks ZONEMD (auth-zone with zonemd-check, absence refused):
# ub_load FILE NAME serves FILE and prints "ok" (the zone's SOA answered) or "failed" (no
# answer and Unbound's "ZONEMD verification failed" warning).
ub_load() {
	local file=$1 name=$2 dir port pid until out verdict=""
	dir=$TDM_TMP/ub-$name
	mkdir -p "$dir"
	port=$(tdm_free_ports 1)
	cat >"$dir/unbound.conf" <<UB
server:
	interface: 127.0.0.1
	port: $port
	do-daemonize: no
	username: ""
	chroot: ""
	directory: "$dir"
	pidfile: "$dir/unbound.pid"
	use-syslog: no
	module-config: "iterator"
	access-control: 127.0.0.0/8 allow
auth-zone:
	name: "tld"
	zonefile: "$file"
	for-downstream: yes
	for-upstream: no
	fallback-enabled: no
	zonemd-check: yes
	zonemd-reject-absence: yes
UB
	unbound -d -c "$dir/unbound.conf" >"$dir/log" 2>&1 &
	pid=$!
	until=$((SECONDS + 30))
	while [ -z "$verdict" ]; do
		out=$(kdig -p "$port" @127.0.0.1 +norec +timeout=1 +retry=0 tld SOA 2>&1 || true)
		if grep -q "status: NOERROR" <<<"$out" && grep -q "^tld\..*SOA" <<<"$out"; then
			verdict=ok
		elif grep -q "status: SERVFAIL" <<<"$out" && grep -q "ZONEMD verification failed" "$dir/log"; then
			verdict=failed
		elif ! kill -0 "$pid" 2>/dev/null; then
			verdict="exited"
		elif [ "$SECONDS" -ge "$until" ]; then
			verdict="no answer in 30 s"
		else
			sleep 0.2
		fi
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	echo "$verdict"
}
[ "$(ub_load "$TDM_TMP/tld.sha384.nsec3.signed" good)" = ok ] ||
	tdm_fail "unbound's zonemd-check refused tandem's ZONEMD" -- "$TDM_TMP/ub-good/log"
tdm_pass "unbound (auth-zone zonemd-check) verifies tandem's ZONEMD"

# the policy refuses an unknown value, naming the key
printf 'policy: bad\nzone:\n  zonemd: sha1\n' >"$TDM_TMP/bad.yaml"
if tdm_signzone -o tld -p "$TDM_TMP/bad.yaml" "${keys[@]}" -f "$TDM_TMP/bad.signed" "$TDM_TMP/tld.zone" 2>"$TDM_TMP/bad.err"; then
	tdm_fail "zone.zonemd: sha1 was accepted"
fi
grep -q "zonemd.*sha1.*not off, simple-sha384 or simple-sha512" "$TDM_TMP/bad.err" ||
	tdm_fail "zone.zonemd: sha1 refused without naming the key and the values" -- "$TDM_TMP/bad.err"
[ ! -e "$TDM_TMP/bad.signed" ] || tdm_fail "a refused policy left an output file"
tdm_pass "zone.zonemd: sha1 refused with the key and the values named"

# glue changed after signing: every RRSIG still verifies, only the ZONEMD digest differs
signed=$TDM_TMP/tld.sha384.nsec3.signed
glue=$(awk '$4 == "A" && $1 ~ /^ns[0-9]*\./ && $1 != "tld." { print $1; exit }' "$signed")
[ -n "$glue" ] || tdm_fail "no glue A record found in the signed zone"
awk -v g="$glue" '!done && $1 == g && $4 == "A" { $5 = "192.0.2.254"; done = 1 } { print }' "$signed" >"$TDM_TMP/tampered"
cmp -s "$signed" "$TDM_TMP/tampered" && tdm_fail "tampering changed nothing"
if ldns-verify-zone -ZZ "$TDM_TMP/tampered" >"$TDM_TMP/ldns.out" 2>&1; then
	tdm_fail "ldns-verify-zone accepted a zone whose glue changed after the ZONEMD" -- "$TDM_TMP/ldns.out"
fi
if tdm_signzone -o tld --verify-only "$TDM_TMP/tampered" >"$TDM_TMP/gate.out" 2>&1; then
	tdm_fail "tandem's gate accepted a zone whose glue changed after the ZONEMD" -- "$TDM_TMP/gate.out"
fi
grep -q "ZONEMD" "$TDM_TMP/gate.out" || tdm_fail "the gate's refusal does not name ZONEMD" -- "$TDM_TMP/gate.out"
[ "$(ub_load "$TDM_TMP/tampered" tampered)" = failed ] ||
	tdm_fail "unbound's zonemd-check accepted the tampered zone" -- "$TDM_TMP/ub-tampered/log"
tdm_pass "glue changed after signing: refused by ldns-verify-zone, unbound and tandem's gate (ZONEMD)"

# a ZONEMD made by another implementation (ldns-signzone) passes tandem's gate
(cd "$TDM_TMP" && ldns-keygen -a RSASHA256 -b 1024 tld >ldns.zsk && ldns-keygen -k -a RSASHA256 -b 2048 tld >ldns.ksk)
(cd "$TDM_TMP" && ldns-signzone -z simple:sha384 -n -f tld.ldns.signed tld.zone "$(cat ldns.zsk)" "$(cat ldns.ksk)")
tdm_assert_ok "ldns-signzone's ZONEMD: ldns-verify-zone -ZZ" ldns-verify-zone -ZZ "$TDM_TMP/tld.ldns.signed"
tdm_assert_ok "ldns-signzone's ZONEMD: tandem's gate" tdm_signzone -o tld --verify-only "$TDM_TMP/tld.ldns.signed"

# signing again with --previous reuses signatures and makes a new, valid ZONEMD
tdm_assert_ok "resign with --previous" tdm_signzone -o tld -p "$TDM_TMP/p.yaml" --nsec3 "${keys[@]}" \
	--previous "$signed" -j 2 -f "$TDM_TMP/tld.again" "$TDM_TMP/tld.zone"
tdm_assert_ok "resigned: ldns-verify-zone -ZZ" ldns-verify-zone -ZZ "$TDM_TMP/tld.again"
old=$(awk '$4 == "ZONEMD" { print $5; exit }' "$signed")
new=$(awk '$4 == "ZONEMD" { print $5; exit }' "$TDM_TMP/tld.again")
[ "$old" != "$new" ] || tdm_fail "the resigned zone's ZONEMD serial did not change ($old)"
tdm_pass "ZONEMD: sha384 and sha512, NSEC and NSEC3, checked by four validators; reuse makes a new one"
