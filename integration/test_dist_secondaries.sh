#!/bin/bash
# The dist library's transfer server (dist_serve: each message written once with its own
# name compression and TSIG, docs/dist.md) with NSD and Knot as secondaries, TSIG
# (hmac-sha256) on every message (issue 11):
#  - both pull the signed zone (3,000 delegations: many messages) by AXFR, and each one's
#    copy (its AXFR to kdig) equals the signed file, record for record;
#  - a new version published with its changeset and NOTIFYed: both reach it by IXFR (their
#    logs say so), and their copies equal the new file.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=peers.sh
source "$(dirname "$0")/peers.sh"
tdm_setup "$@"
tdm_need nsd knotd kdig ldns-signzone ldns-keygen ldns-read-zone
SERVE=$TDM_BUILD/integration/bench/dist_serve
NOTIFY=$TDM_BUILD/tests/unit/dist/notify_send
for b in "$SERVE" "$NOTIFY"; do [ -x "$b" ] || tdm_fail "$b not built"; done
ZONE=example.
S1=2026120700
S2=2026120800

# ---- two versions of the zone, signed with one key and fixed dates ------------------------------
ZONEGEN=$(tdm_bin tandem-zonegen)
"$ZONEGEN" -o $ZONE -n 3000 --seed 7 --serial $S1 >"$TDM_TMP/v1.zone"
"$ZONEGEN" -o $ZONE -n 3000 --seed 7 --serial $S2 --change 30 >"$TDM_TMP/v2.zone"
(cd "$TDM_TMP" && ldns-keygen -a ED25519 -k $ZONE >keybase)
for v in v1 v2; do
	ldns-signzone -n -t 0 -s ab -i 20260101000000 -e 20270101000000 -f "$TDM_TMP/$v.signed" \
		"$TDM_TMP/$v.zone" "$TDM_TMP/$(cat "$TDM_TMP/keybase")" ||
		tdm_fail "ldns-signzone $v"
	ldns-read-zone -z "$TDM_TMP/$v.signed" >"$TDM_TMP/$v.sorted" 2>/dev/null
done
KEY=$TDM_TMP/tsig.key
peers_tsig_key "$KEY" xfr-key hmac-sha256
YKEY=(-y "$(peers_key_field "$KEY" 2):$(peers_key_field "$KEY" 1):$(peers_key_field "$KEY" 3)")

# wait_for SECONDS WHAT CMD...: runs CMD every 0.2 s until it succeeds; fails after SECONDS
wait_for() {
	local until=$((SECONDS + $1)) what=$2
	shift 2
	until "$@"; do
		[ "$SECONDS" -lt "$until" ] || tdm_fail "no $what within the time" -- "$TDM_TMP/dist.out"
		sleep 0.2
	done
}

# ---- the primary: dist_serve ------------------------------------------------------------------
mkfifo "$TDM_TMP/hold"
"$SERVE" "$TDM_TMP/v1.signed" $ZONE "$KEY" "$TDM_TMP/v2.signed" <"$TDM_TMP/hold" \
	>"$TDM_TMP/dist.out" 2>&1 &
SERVE_PID=$!
exec 3>"$TDM_TMP/hold" # dist_serve runs while this is open; "next" publishes v2
tdm_on_exit "exec 3>&-; kill $SERVE_PID 2>/dev/null || true"
served() { grep -q '^xfr ' "$TDM_TMP/dist.out"; }
wait_for 60 "dist_serve listening" served
DPORT=$(awk '$1 == "xfr" { sub(/.*:/, "", $2); print $2 }' "$TDM_TMP/dist.out")
PRIMARY=127.0.0.1@$DPORT

# ---- the secondaries ----------------------------------------------------------------------------
peers_nsd_secondary "$TDM_TMP/nsd" $ZONE "$PRIMARY" "$KEY"
NSD_PORT=$PEERS_NSD_PORT
peers_knot_secondary "$TDM_TMP/knot" $ZONE "$PRIMARY" "$KEY"
KNOT_PORT=$PEERS_KNOT_PORT
KNOT_LOG=$PEERS_KNOT_DIR/knot.log
peers_wait_serial 127.0.0.1 "$NSD_PORT" $ZONE $S1 60 "$PEERS_NSD_PID" "$PEERS_NSD_LOG"
peers_wait_serial 127.0.0.1 "$KNOT_PORT" $ZONE $S1 60 "$PEERS_KNOT_PID" "$KNOT_LOG"

# same_zone NAME PORT VERSION: the secondary's copy (its AXFR to kdig) equals VERSION's file
same_zone() {
	local out=$TDM_TMP/$1.$3
	timeout 120 kdig @127.0.0.1 -p "$2" +tcp +retry=0 +time=30 "${YKEY[@]}" $ZONE AXFR \
		>"$out.axfr" 2>&1 || true
	tdm_assert_no_grep "$1's AXFR to kdig" '^;; (WARNING|ERROR)' "$out.axfr"
	grep -v -e '^;' -e '^$' -e $'\tTSIG\t' "$out.axfr" | sed '$d' >"$out.zone"
	ldns-read-zone -z "$out.zone" >"$out.sorted" 2>/dev/null
	tdm_assert_same_file "$1's copy of $3 is the signed file, record for record" \
		"$TDM_TMP/$3.sorted" "$out.sorted"
}
read -r abytes msgs <<<"$(kdig @127.0.0.1 -p "$DPORT" +tcp +retry=0 +time=30 "${YKEY[@]}" $ZONE AXFR 2>&1 |
	sed -n 's/^;; Received \([0-9]*\) B (\([0-9]*\) messages.*/\1 \2/p')"
[ "${msgs:-0}" -gt 5 ] || tdm_fail "the AXFR came in ${msgs:-no} messages, expected many"
same_zone nsd "$NSD_PORT" v1
same_zone knot "$KNOT_PORT" v1
tdm_pass "NSD and Knot pulled serial $S1 ($msgs signed messages) from dist_serve, record for record"

# ---- the next version: IXFR ---------------------------------------------------------------------
echo next >&3
published() { grep -q "^serial $S2" "$TDM_TMP/dist.out"; }
wait_for 60 "publication of $S2 by dist_serve" published
"$NOTIFY" $ZONE $S2 "$KEY" "127.0.0.1@$NSD_PORT" "127.0.0.1@$KNOT_PORT" >"$TDM_TMP/notify.out" 2>&1 ||
	tdm_fail "a secondary did not answer the NOTIFY" -- "$TDM_TMP/notify.out"
peers_wait_serial 127.0.0.1 "$NSD_PORT" $ZONE $S2 60 "$PEERS_NSD_PID" "$PEERS_NSD_LOG"
peers_wait_serial 127.0.0.1 "$KNOT_PORT" $ZONE $S2 60 "$PEERS_KNOT_PID" "$KNOT_LOG"
tdm_assert_grep "Knot took $S2 by IXFR" "IXFR, incoming.*finished" "$KNOT_LOG"
tdm_assert_grep "NSD took $S2" "received update to serial $S2 .*TSIG verified" "$PEERS_NSD_LOG"
# NSD's log does not name the kind of transfer: its size does (the AXFR's was $abytes bytes)
ibytes=$(sed -n "s/.*received update to serial $S2 .* of \([0-9]*\) bytes.*/\1/p" "$PEERS_NSD_LOG" | tail -n 1)
if [ "${ibytes:-0}" -eq 0 ] || [ $((ibytes * 10)) -ge "$abytes" ]; then
	tdm_fail "NSD's transfer of $S2 was ${ibytes:-?} bytes, not an IXFR well below the AXFR's $abytes" -- "$PEERS_NSD_LOG"
fi
same_zone nsd "$NSD_PORT" v2
same_zone knot "$KNOT_PORT" v2
tdm_pass "NSD and Knot reached $S2 by IXFR from dist_serve, record for record"
