#!/bin/bash
# A zone signed by tandem-signzone (NSEC3; signed and unsigned delegations, glue, empty
# non-terminals, a wildcard) reaches real secondaries and validates in a real resolver:
# a primary serves it (knotd as a stand-in until tandemd serves; PRIMARY below), NSD and
# Knot as secondaries pull it with TSIG, and Unbound, trusting the zone's DS only, resolves
# through each of them: answers with AD where the zone is signed, an insecure referral
# without AD, NXDOMAIN and NODATA proven by NSEC3 with AD. Then a new version: our NOTIFY
# sender (dist_notify) tells both secondaries, they reach it long before their refresh
# timer (3600 s), by IXFR holding only the difference (the primary's transfer log). Then a
# version with one byte of one RRSIG changed: SERVFAIL for that name, the rest still AD.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=peers.sh
source "$(dirname "$0")/peers.sh"
tdm_setup "$@"
tdm_need nsd knotd knotc unbound unbound-checkconf kdig dnssec-dsfromkey openssl

NOTIFY_SEND=$TDM_BUILD/tests/unit/dist/notify_send
[ -x "$NOTIFY_SEND" ] || tdm_fail "$NOTIFY_SEND not built"
ZONE=example
KEY=$TDM_TMP/xfr.key
peers_tsig_key "$KEY" xfr-key hmac-sha256

# ---- the zone, three versions -------------------------------------------------------------
tdm_token "$TDM_TMP/hsm" dist
NOW=$(date +%s)
SIGN=(-o "$ZONE" --nsec3 -a rsasha256 --ksk "$(tdm_key_uri ksk)" --zsk "$(tdm_key_uri zsk)"
	--ksk-bits 2048 --zsk-bits 1024 --now "$NOW" -j 2)
cp "$TDM_SRC/conf/example.zone" "$TDM_TMP/v1.zone"
tdm_assert_ok "sign v1" tdm_signzone "${SIGN[@]}" --gen-keys -f "$TDM_TMP/v1.signed" "$TDM_TMP/v1.zone"
# v2: a change of a few delegations (one added with DS, one removed)
{
	grep -v '^sibling ' "$TDM_TMP/v1.zone"
	printf 'added 86400 IN NS ns1.dns-hosting.net.\nadded 86400 IN DS 4242 8 2 %s\n' \
		3C1F3A5D7E9B2C4D6E8F0A1B2C3D4E5F60718293A4B5C6D7E8F9011223344556
} >"$TDM_TMP/v2.zone"
tdm_assert_ok "sign v2 (reusing v1's signatures)" tdm_signzone "${SIGN[@]}" --previous "$TDM_TMP/v1.signed" \
	-f "$TDM_TMP/v2.signed" "$TDM_TMP/v2.zone"
tdm_assert_ok "sign v3" tdm_signzone "${SIGN[@]}" --previous "$TDM_TMP/v2.signed" \
	-f "$TDM_TMP/v3.signed" "$TDM_TMP/v2.zone"
serial_of() { awk '($3 == "IN" ? $4 : $3) == "SOA" { print ($3 == "IN" ? $7 : $6); exit }' "$1"; }
S1=$(serial_of "$TDM_TMP/v1.signed")
S2=$(serial_of "$TDM_TMP/v2.signed")
S3=$(serial_of "$TDM_TMP/v3.signed")
{ [ "$S1" -lt "$S2" ] && [ "$S2" -lt "$S3" ]; } || tdm_fail "serials do not grow: $S1 $S2 $S3"
tdm_validate "$ZONE" "$TDM_TMP/v2.signed" "v2"

# v3 with exactly one byte of the RRSIG over www.example. A changed
python3 - "$TDM_TMP/v3.signed" "$TDM_TMP/v3.bad" <<'PY'
import base64, sys
src, dst = sys.argv[1:3]
done = False
with open(src) as f, open(dst, "w") as out:
    for line in f:
        w = line.split()
        if not done and len(w) > 9 and w[0] == "www.example." and "RRSIG" in w[2:4] and w[w.index("RRSIG") + 1] == "A":
            i = w.index("RRSIG")
            sig = bytearray(base64.b64decode("".join(w[i + 9:])))
            sig[len(sig) // 2] ^= 0x01
            line = " ".join(w[: i + 9] + [base64.b64encode(bytes(sig)).decode()]) + "\n"
            done = True
        out.write(line)
sys.exit(0 if done else "no RRSIG over www.example. A found")
PY
if tdm_signzone -o "$ZONE" --verify-only "$TDM_TMP/v3.bad" --now "$NOW" >"$TDM_TMP/gate-bad.out" 2>&1; then
	tdm_fail "the gate passed the zone with a changed RRSIG byte (the test's corruption is void)"
fi

# the trust anchor: the DS of the KSK (SHA-256), what the parent would publish
dnssec-dsfromkey -2 -f "$TDM_TMP/v1.signed" "$ZONE." >"$TDM_TMP/ta.ds" 2>"$TDM_TMP/ds.err" ||
	tdm_fail "dnssec-dsfromkey failed" -- "$TDM_TMP/ds.err"
[ "$(grep -c ' DS ' "$TDM_TMP/ta.ds")" -eq 1 ] || tdm_fail "expected one DS for the KSK" -- "$TDM_TMP/ta.ds"

# the unsigned child under the insecure delegation, served beside the zone (a stub in Unbound)
cat >"$TDM_TMP/insecure.zone" <<'EOF'
insecure.example. 3600 IN SOA ns.insecure.example. h.insecure.example. 1 3600 600 86400 300
insecure.example. 3600 IN NS ns.insecure.example.
ns.insecure.example. 3600 IN A 203.0.113.60
www.insecure.example. 3600 IN A 203.0.113.99
EOF

# ---- the primary ----------------------------------------------------------------------------
# PRIMARY is the ADDR@PORT the secondaries pull from. Today knotd serves the signed file
# (zonefile-load: difference, so a reload puts the change in its journal for IXFR);
# primary_publish FILE makes FILE the served version.
CUR=$TDM_TMP/current.signed
cp "$TDM_TMP/v1.signed" "$CUR"
peers_knot_primary "$TDM_TMP/primary" "$ZONE" "$CUR" "$KEY" insecure.example "$TDM_TMP/insecure.zone"
PRIMARY=127.0.0.1@$PEERS_KNOT_PORT
PRIMARY_DIR=$PEERS_KNOT_DIR
primary_publish() {
	cp "$1" "$CUR.tmp" && mv "$CUR.tmp" "$CUR"
	peers_knot_reload "$PRIMARY_DIR" "$ZONE"
}
peers_wait_serial 127.0.0.1 "${PRIMARY#*@}" "$ZONE" "$S1" 30
tdm_pass "primary serves $ZONE serial $S1 on $PRIMARY"

# ---- the secondaries ------------------------------------------------------------------------
peers_nsd_secondary "$TDM_TMP/nsd" "$ZONE" "$PRIMARY" "$KEY"
NSD_PORT=$PEERS_NSD_PORT
NSD_PID=$PEERS_NSD_PID
NSD_LOG=$PEERS_NSD_LOG
peers_knot_secondary "$TDM_TMP/knot2" "$ZONE" "$PRIMARY" "$KEY"
KNOT_PORT=$PEERS_KNOT_PORT
KNOT_PID=$PEERS_KNOT_PID
KNOT_LOG=$PEERS_KNOT_DIR/knot.log
peers_wait_serial 127.0.0.1 "$NSD_PORT" "$ZONE" "$S1" 60 "$NSD_PID" "$NSD_LOG"
tdm_pass "NSD pulled serial $S1 with TSIG"
peers_wait_serial 127.0.0.1 "$KNOT_PORT" "$ZONE" "$S1" 60 "$KNOT_PID" "$KNOT_LOG"
tdm_pass "Knot pulled serial $S1 with TSIG"
tdm_assert_grep "NSD: the transfer was TSIG-verified" "serial $S1 .*TSIG verified with key xfr-key" "$NSD_LOG"

# a secondary's copy equals the signed file, record for record (AXFR from it, with the key)
same_as_signed() { # WHAT PORT FILE
	local what=$1 port=$2 file=$3
	kdig -p "$port" @127.0.0.1 -k <(awk '{ print $2 ":" $1 ":" $3 }' "$KEY") +norec +notsig \
		"$ZONE" AXFR >"$TDM_TMP/$what.axfr" 2>&1 || tdm_fail "$what: AXFR from it failed" -- "$TDM_TMP/$what.axfr"
	# compare as (owner type rdata) after one canonical print by ldns-read-zone
	grep -v '^;' "$TDM_TMP/$what.axfr" | awk 'NF' >"$TDM_TMP/$what.rrs"
	ldns-read-zone -c "$TDM_TMP/$what.rrs" 2>/dev/null | sort -u >"$TDM_TMP/$what.canon" ||
		tdm_fail "$what: ldns-read-zone could not read its AXFR" -- "$TDM_TMP/$what.rrs"
	ldns-read-zone -c "$file" | sort -u >"$TDM_TMP/$what.want"
	tdm_assert_same_file "$what: the secondary's zone equals the signed file" "$TDM_TMP/$what.want" "$TDM_TMP/$what.canon"
	tdm_pass "$what: $(wc -l <"$TDM_TMP/$what.canon") records, equal to $(basename "$file")"
}

# ---- validating through a secondary ---------------------------------------------------------
# q PORT NAME TYPE: one query through Unbound (DO set), sets STATUS, FLAGS, ANSWER_N, OUT.
q() {
	OUT=$TDM_TMP/q.$2.$3.out
	kdig -p "$1" @127.0.0.1 +dnssec +timeout=5 +retry=2 "$2" "$3" >"$OUT" 2>&1 || tdm_fail "kdig $2 $3 failed" -- "$OUT"
	STATUS=$(sed -n 's/.*status: \([A-Z]*\);.*/\1/p' "$OUT" | head -1)
	FLAGS=$(sed -n 's/^;; Flags: \([a-z ]*\);.*/\1/p' "$OUT" | head -1)
	ANSWER_N=$(sed -n 's/.*ANSWER: \([0-9]*\);.*/\1/p' "$OUT" | head -1)
}
has_ad() { case " $FLAGS " in *" ad "*) return 0 ;; *) return 1 ;; esac }
expect() { # WHAT PORT NAME TYPE STATUS ad|noad MIN_ANSWERS
	q "$2" "$3" "$4"
	[ "$STATUS" = "$5" ] || tdm_fail "$1: $3 $4: status $STATUS, expected $5" -- "$OUT" "$PEERS_UNBOUND_LOG"
	if [ "$6" = ad ]; then
		has_ad || tdm_fail "$1: $3 $4: no AD bit (flags: $FLAGS)" -- "$OUT" "$PEERS_UNBOUND_LOG"
	else
		! has_ad || tdm_fail "$1: $3 $4: AD set on an insecure answer (flags: $FLAGS)" -- "$OUT"
	fi
	[ "${ANSWER_N:-0}" -ge "$7" ] || tdm_fail "$1: $3 $4: $ANSWER_N answers, expected at least $7" -- "$OUT"
	tdm_pass "$1: $3 $4 $5 ${6/noad/without AD}"
}

validate_through() { # WHAT PORT
	local what=$1 port=$2 u
	peers_unbound "$TDM_TMP/ub-$what" "$ZONE" "$TDM_TMP/ta.ds" "127.0.0.1@$port" \
		"insecure.$ZONE 127.0.0.1@${PRIMARY#*@}"
	u=$PEERS_UNBOUND_PORT
	expect "$what" "$u" "www.$ZONE" A NOERROR ad 1
	expect "$what" "$u" "$ZONE" DNSKEY NOERROR ad 2
	expect "$what" "$u" "x.promo.$ZONE" A NOERROR ad 1 # wildcard, NSEC3 proof of no closer match
	expect "$what" "$u" "secure.$ZONE" DS NOERROR ad 1
	expect "$what" "$u" "shop.brand.$ZONE" DS NOERROR ad 1
	expect "$what" "$u" "insecure.$ZONE" DS NOERROR ad 0 # NODATA: no DS, proven
	[ "$ANSWER_N" -eq 0 ] || tdm_fail "$what: insecure.$ZONE DS has an answer" -- "$OUT"
	expect "$what" "$u" "www.insecure.$ZONE" A NOERROR noad 1 # the insecure delegation
	expect "$what" "$u" "nothere.$ZONE" A NXDOMAIN ad 0
	grep -q 'NSEC3' "$OUT" || tdm_fail "$what: NXDOMAIN without NSEC3 records" -- "$OUT"
	expect "$what" "$u" "www.$ZONE" TXT NOERROR ad 0 # NODATA
	[ "$ANSWER_N" -eq 0 ] || tdm_fail "$what: www TXT NODATA has an answer" -- "$OUT"
	grep -q 'NSEC3' "$OUT" || tdm_fail "$what: NODATA without NSEC3 records" -- "$OUT"
	expect "$what" "$u" "nic.$ZONE" A NOERROR ad 0 # an empty non-terminal
	[ "$ANSWER_N" -eq 0 ] || tdm_fail "$what: the empty non-terminal has an answer" -- "$OUT"
	peers_unbound_stop
}

# the secondary itself gives the insecure referral: NS, glue, an NSEC3 proof, no DS
referral_from() { # WHAT PORT
	local out=$TDM_TMP/referral.$1
	kdig -p "$2" @127.0.0.1 +norec +dnssec "www.insecure.$ZONE" A >"$out" 2>&1 || tdm_fail "$1: referral query" -- "$out"
	grep -Eq "^insecure\.$ZONE\.[[:space:]].*NS[[:space:]]" "$out" || tdm_fail "$1: no NS in the referral" -- "$out"
	grep -Eq '[[:space:]]NSEC3[[:space:]]' "$out" || tdm_fail "$1: no NSEC3 in the insecure referral" -- "$out"
	! grep -Eq "^insecure\.$ZONE\.[[:space:]].*[[:space:]]DS[[:space:]]" "$out" || tdm_fail "$1: DS in the insecure referral" -- "$out"
	grep -q 'flags: qr' "$out" || grep -q 'Flags: qr' "$out" || tdm_fail "$1: no answer header" -- "$out"
	! grep -Eq 'Flags: [a-z ]*aa' "$out" || tdm_fail "$1: a referral with AA" -- "$out"
	tdm_pass "$1: insecure referral with NSEC3 proof, no DS, no AA"
}

for sec in nsd:$NSD_PORT knot:$KNOT_PORT; do
	same_as_signed "${sec%%:*}-v1" "${sec#*:}" "$TDM_TMP/v1.signed"
	referral_from "${sec%%:*}" "${sec#*:}"
	validate_through "${sec%%:*}" "${sec#*:}"
done

# ---- a new version: NOTIFY, IXFR --------------------------------------------------------------
axfr_bytes=$(awk '/AXFR, outgoing/ && /finished/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^bytes/) b = $i } END { print b + 0 }' "$PRIMARY_DIR/knot.log")
[ "$axfr_bytes" -gt 0 ] || tdm_fail "no AXFR size in the primary's log" -- "$PRIMARY_DIR/knot.log"
primary_publish "$TDM_TMP/v2.signed"
peers_wait_serial 127.0.0.1 "${PRIMARY#*@}" "$ZONE" "$S2" 30
# the secondaries still hold S1: nothing told them yet (refresh is 3600 s)
[ "$(peers_serial 127.0.0.1 "$NSD_PORT" "$ZONE")" = "$S1" ] || tdm_fail "NSD moved before the NOTIFY"
[ "$(peers_serial 127.0.0.1 "$KNOT_PORT" "$ZONE")" = "$S1" ] || tdm_fail "Knot moved before the NOTIFY"
# a NOTIFY signed with the right key name but another secret is refused by both, and
# neither moves
peers_tsig_key "$TDM_TMP/wrong.key" xfr-key hmac-sha256
tdm_assert_fails "NOTIFY with a wrong TSIG secret" \
	"$NOTIFY_SEND" -n 2 "$ZONE" "$S2" "$TDM_TMP/wrong.key" "127.0.0.1@$NSD_PORT" "127.0.0.1@$KNOT_PORT"
tdm_assert_grep "notify_send: NSD not counted as answered" "^127\.0\.0\.1@$NSD_PORT failed " "$TDM_OUT"
tdm_assert_grep "notify_send: Knot not counted as answered" "^127\.0\.0\.1@$KNOT_PORT failed " "$TDM_OUT"
tdm_assert_grep "NSD logged the bad TSIG" "bad tsig signature for key xfr-key" "$NSD_LOG"
sleep 2 # had either taken it, it would be transferring now
[ "$(peers_serial 127.0.0.1 "$NSD_PORT" "$ZONE")" = "$S1" ] || tdm_fail "NSD moved on a NOTIFY with a bad TSIG"
[ "$(peers_serial 127.0.0.1 "$KNOT_PORT" "$ZONE")" = "$S1" ] || tdm_fail "Knot moved on a NOTIFY with a bad TSIG"
t0=$SECONDS
tdm_assert_ok "notify_send tells NSD and Knot of serial $S2" \
	"$NOTIFY_SEND" "$ZONE" "$S2" "$KEY" "127.0.0.1@$NSD_PORT" "127.0.0.1@$KNOT_PORT"
tdm_assert_grep "notify_send: NSD answered" "^127\.0\.0\.1@$NSD_PORT answered $S2 " "$TDM_OUT"
tdm_assert_grep "notify_send: Knot answered" "^127\.0\.0\.1@$KNOT_PORT answered $S2 " "$TDM_OUT"
peers_wait_serial 127.0.0.1 "$NSD_PORT" "$ZONE" "$S2" 60 "$NSD_PID" "$NSD_LOG"
peers_wait_serial 127.0.0.1 "$KNOT_PORT" "$ZONE" "$S2" 60 "$KNOT_PID" "$KNOT_LOG"
tdm_pass "NSD and Knot reached serial $S2 $((SECONDS - t0)) s after the NOTIFY (refresh timer: 3600 s)"
tdm_assert_grep "NSD logged our NOTIFY" "notify for $ZONE\.? from 127\.0\.0\.1 serial $S2" "$NSD_LOG"
# what the primary sent each of them for S1 -> S2: IXFR, and much smaller than the AXFR
ixfr_n=$(grep -c "IXFR, outgoing.*started, serial $S1 -> $S2" "$PRIMARY_DIR/knot.log" || true)
[ "$ixfr_n" -eq 2 ] || tdm_fail "expected 2 IXFRs $S1 -> $S2 from the primary, saw $ixfr_n" -- "$PRIMARY_DIR/knot.log"
ixfr_max=$(awk '/IXFR, outgoing/ && /finished/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^bytes/ && $i > m) m = $i } END { print m + 0 }' "$PRIMARY_DIR/knot.log")
[ "$ixfr_max" -gt 0 ] || tdm_fail "no IXFR size in the primary's log" -- "$PRIMARY_DIR/knot.log"
[ $((ixfr_max * 2)) -lt "$axfr_bytes" ] || tdm_fail "IXFR of $ixfr_max bytes is not well below the AXFR's $axfr_bytes" -- "$PRIMARY_DIR/knot.log"
# and what an IXFR from S1 holds is exactly the difference between the two signed files
# (records removed and added, the SOAs aside)
kdig -p "${PRIMARY#*@}" @127.0.0.1 -k <(awk '{ print $2 ":" $1 ":" $3 }' "$KEY") +norec +notsig \
	"$ZONE" "IXFR=$S1" >"$TDM_TMP/ixfr.out" 2>&1 || tdm_fail "IXFR query to the primary" -- "$TDM_TMP/ixfr.out"
grep -v '^;' "$TDM_TMP/ixfr.out" | awk 'NF && $4 != "SOA"' >"$TDM_TMP/ixfr.rrs"
ldns-read-zone -c "$TDM_TMP/ixfr.rrs" 2>/dev/null | awk '$4 != "SOA"' | sort >"$TDM_TMP/ixfr.canon"
ldns-read-zone -c "$TDM_TMP/v1.signed" | awk '$4 != "SOA"' | sort >"$TDM_TMP/v1.canon"
ldns-read-zone -c "$TDM_TMP/v2.signed" | awk '$4 != "SOA"' | sort >"$TDM_TMP/v2.canon"
{
	comm -23 "$TDM_TMP/v1.canon" "$TDM_TMP/v2.canon"
	comm -13 "$TDM_TMP/v1.canon" "$TDM_TMP/v2.canon"
} | sort >"$TDM_TMP/diff.canon"
[ -s "$TDM_TMP/diff.canon" ] || tdm_fail "v1 and v2 do not differ"
tdm_assert_same_file "the IXFR holds the difference v1 -> v2, nothing else" "$TDM_TMP/diff.canon" "$TDM_TMP/ixfr.canon"
tdm_pass "IXFR $S1 -> $S2: $ixfr_max bytes, $(wc -l <"$TDM_TMP/diff.canon") records changed of $(wc -l <"$TDM_TMP/v2.canon"); AXFR $axfr_bytes bytes"
tdm_assert_grep "NSD: update to $S2 from the primary" "received update to serial $S2 .*from 127\.0\.0\.1@${PRIMARY#*@}" "$NSD_LOG"
# NSD's own count of what it received: the IXFR to S2 against the AXFR of S1
nsd_bytes() { awk -v s="serial $1 " 'index($0, "received update to " s) { for (i = 1; i < NF; i++) if ($(i + 1) == "bytes") b = $i } END { print b + 0 }' "$NSD_LOG"; }
nb1=$(nsd_bytes "$S1")
nb2=$(nsd_bytes "$S2")
{ [ "$nb2" -gt 0 ] && [ $((nb2 * 2)) -lt "$nb1" ]; } || tdm_fail "NSD received $nb2 bytes for $S2 against $nb1 for the AXFR of $S1" -- "$NSD_LOG"
tdm_pass "NSD's log: $nb1 bytes for the AXFR of $S1, $nb2 bytes for the IXFR to $S2"
same_as_signed nsd-v2 "$NSD_PORT" "$TDM_TMP/v2.signed"
same_as_signed knot-v2 "$KNOT_PORT" "$TDM_TMP/v2.signed"
peers_unbound "$TDM_TMP/ub-v2" "$ZONE" "$TDM_TMP/ta.ds" "127.0.0.1@$NSD_PORT"
expect "nsd v2" "$PEERS_UNBOUND_PORT" "added.$ZONE" DS NOERROR ad 1
expect "nsd v2" "$PEERS_UNBOUND_PORT" "sibling.$ZONE" NS NXDOMAIN ad 0
peers_unbound_stop

# ---- one RRSIG byte changed: SERVFAIL -------------------------------------------------------
primary_publish "$TDM_TMP/v3.bad"
tdm_assert_ok "notify_send: serial $S3" \
	"$NOTIFY_SEND" "$ZONE" "$S3" "$KEY" "127.0.0.1@$NSD_PORT" "127.0.0.1@$KNOT_PORT"
peers_wait_serial 127.0.0.1 "$NSD_PORT" "$ZONE" "$S3" 60 "$NSD_PID" "$NSD_LOG"
peers_wait_serial 127.0.0.1 "$KNOT_PORT" "$ZONE" "$S3" 60 "$KNOT_PID" "$KNOT_LOG"
for sec in nsd:$NSD_PORT knot:$KNOT_PORT; do
	peers_unbound "$TDM_TMP/ub-bad-${sec%%:*}" "$ZONE" "$TDM_TMP/ta.ds" "127.0.0.1@${sec#*:}"
	expect "${sec%%:*} bad RRSIG" "$PEERS_UNBOUND_PORT" "www.$ZONE" A SERVFAIL noad 0
	expect "${sec%%:*} bad RRSIG" "$PEERS_UNBOUND_PORT" "mail.$ZONE" A NOERROR ad 1
	tdm_assert_grep "${sec%%:*}: Unbound says why" "validation failure <www\.$ZONE\. A IN>" "$PEERS_UNBOUND_LOG"
	peers_unbound_stop
done
