#!/bin/bash
# Input by transfer from NSD as the hidden primary (docs/dist.md, "Input by transfer"): an
# AXFR of many messages, each signed by NSD (RFC 8945 5.3.1) and each verified by the
# dist_xfrin library (xfrin_fetch: the first over the query's MAC, the next ones over the
# previous MAC and the timers), taken record for record into the input file.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=peers.sh
source "$(dirname "$0")/peers.sh"
tdm_setup "$@"
tdm_need nsd kdig ldns-read-zone python3
FETCH=$(tdm_bin xfrin_fetch)

# a zone of many messages: 4,000 delegations with glue (8,003 records)
D=$TDM_TMP/nsd
mkdir -p "$D"
{
	printf '\044ORIGIN example.\n\044TTL 3600\n'
	printf '@ SOA ns1.example. admin.example. 7 3600 900 604800 300\n@ NS ns1.example.\n'
	printf 'ns1 A 192.0.2.1\n'
	awk 'BEGIN { for (i = 0; i < 4000; i++)
		printf "d%d NS ns1.d%d.example.\nns1.d%d A 198.51.100.%d\n", i, i, i, i % 250 }'
} >"$D/example.zone"
peers_tsig_key "$TDM_TMP/xfr.key" xfr-key hmac-sha256
PORT=$(tdm_free_ports 1)
# NSD as a primary: the zone file, transfers given to 127.0.0.1 with the key
tdm_nsd_conf "$D/nsd.conf" "$D" "$PORT" "$TDM_TMP/xfr.key" example ""
nsd -d -c "$D/nsd.conf" >>"$D/nsd.log" 2>&1 &
NSD_PID=$!
tdm_on_exit "peers_stop $NSD_PID $D/nsd.conf"
peers_wait_answers 127.0.0.1 "$PORT" "$NSD_PID" "$D/nsd.log" "nsd (primary)"
peers_wait_serial 127.0.0.1 "$PORT" example 7 60 "$NSD_PID" "$D/nsd.log"

# how many messages NSD sends
kdig -p "$PORT" @127.0.0.1 -k <(awk '{ print $2 ":" $1 ":" $3 }' "$TDM_TMP/xfr.key") +tcp \
	+multiline example AXFR >"$TDM_TMP/kdig.out" 2>&1 || true
msgs=$(sed -n 's/^;; Received [0-9]* B (\([0-9]*\) messages.*/\1/p' "$TDM_TMP/kdig.out")
[ "${msgs:-0}" -gt 2 ] || tdm_fail "NSD's AXFR came in ${msgs:-?} messages, not many" -- "$TDM_TMP/kdig.out"

"$FETCH" example. "127.0.0.1:$PORT" "$TDM_TMP/xfr.key" "$TDM_TMP/input.zone" 1 60 >"$TDM_TMP/fetch.log" 2>&1 ||
	tdm_fail "xfrin_fetch did not take NSD's AXFR" -- "$TDM_TMP/fetch.log"
tdm_assert_grep "an AXFR (the input file held nothing)" "xfrin example\.: AXFR from 127\.0\.0\.1:$PORT: serial 7, 8003 records written" "$TDM_TMP/fetch.log"
ldns-read-zone -z "$D/example.zone" >"$TDM_TMP/want.sorted" 2>/dev/null
ldns-read-zone -z "$TDM_TMP/input.zone" >"$TDM_TMP/got.sorted" 2>/dev/null
tdm_assert_same_file "the input file is NSD's zone, record for record" "$TDM_TMP/want.sorted" "$TDM_TMP/got.sorted"
tdm_pass "NSD's AXFR in $msgs messages, every one verified, taken whole"
