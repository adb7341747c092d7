#!/bin/bash
# Offline KSK, one quarter: the KSKs live only on an "offline" SoftHSM token, the ZSKs on the
# "online" one (two SOFTHSM2_CONF dirs). The online key state learns the KSKs' DNSKEYs
# (ksk-import), plans the quarter and writes a key signing request (keys ksr, which makes the
# planned successor ZSK in the online HSM), the offline ceremony signs it (tandem-ceremony
# skr-sign), the online site checks and stores the response (keys skr-import), and then at
# every slot boundary t (and t-1s) the zone is signed with the pre-signed DNSKEY RRset
# (tandem-signzone --skr) and checked by dnssec-verify and the gate with the KSK's DS.
# Near the end of the SKR, signing is refused with a message and OUT is left untouched; a
# tampered or foreign SKR is refused by skr-import, leaving the state untouched.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"
CEREMONY=$(tdm_bin tandem-ceremony)
CTL=$(tdm_bin tandemctl)
zone=$TDM_TMP/example.zone
cp "$TDM_SRC/conf/example.zone" "$zone"
state=$TDM_TMP/state
day=86400
start=$(($(date +%s) / day * day + day)) # the quarter: tomorrow 00:00 UTC, 9 slots of 10 days
t0=$((start - 15 * day))                  # the zone's first keys: the ZSK rolls at start + 75d
slot=$((10 * day))
end=$((start + 9 * slot))
margin=$((3 * day))

# dnssec-verify checks RRSIG validity at the clock's time and has no option to change it, so it
# runs under a tiny LD_PRELOAD shim that shifts CLOCK_REALTIME to $TDM_FAKE_NOW (libfaketime's
# idea in 30 lines; the tandem tools take --now instead).
tdm_need cc
cat >"$TDM_TMP/fakenow.c" <<'EOF_C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
typedef int (*cg_t)(clockid_t, struct timespec *);
int clock_gettime(clockid_t clk, struct timespec *ts)
{
	cg_t real = (cg_t)dlsym(RTLD_NEXT, "clock_gettime");
	int r = real(clk, ts);
	const char *fake = getenv("TDM_FAKE_NOW");
	if (r == 0 && fake != NULL && (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE)) {
		ts->tv_sec = (time_t)atoll(fake);
	}
	return r;
}
int gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;
	int r = clock_gettime(CLOCK_REALTIME, &ts);
	(void)tz;
	if (r == 0 && tv != NULL) {
		tv->tv_sec = ts.tv_sec;
		tv->tv_usec = ts.tv_nsec / 1000;
	}
	return r;
}
time_t time(time_t *t)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (t != NULL) {
		*t = ts.tv_sec;
	}
	return ts.tv_sec;
}
EOF_C
cc -shared -fPIC -o "$TDM_TMP/fakenow.so" "$TDM_TMP/fakenow.c" -ldl ||
	tdm_fail "cannot build the clock shim for dnssec-verify"
# verify_at T FILE: dnssec-verify with the clock at T
verify_at() { TDM_FAKE_NOW=$1 LD_PRELOAD=$TDM_TMP/fakenow.so dnssec-verify -q -o example "$2"; }

# ---- the offline token: two KSKs (active + standby) ------------------------------------------
tdm_token "$TDM_TMP/offline" offline
confOff=$SOFTHSM2_CONF pinOff=$TDM_PIN_FILE
kskA="pkcs11:token=offline;object=ksk-a;pin-source=$pinOff"
kskB="pkcs11:token=offline;object=ksk-b;pin-source=$pinOff"
offline() { SOFTHSM2_CONF=$confOff "$@"; }
# tandem-signzone --gen-keys makes key pairs in the HSM; the zone it signs is thrown away
tdm_assert_ok "offline: make two KSKs" offline "$TDM_SIGNZONE" --module "$TDM_MODULE" -o example \
	--ksk "$kskA" --ksk "$kskB" --zsk "pkcs11:token=offline;object=scratch;pin-source=$pinOff" \
	--gen-keys -f "$TDM_TMP/scratch.signed" "$zone"
tdm_assert_ok "offline: the KSKs' DNSKEYs" offline "$CEREMONY" skr-sign --module "$TDM_MODULE" \
	--ksk "$kskA" --ksk "$kskB" --zone example. --dnskey-out "$TDM_TMP/ksk.dnskey"
[ "$(grep -c 'IN DNSKEY 257 3 8 ' "$TDM_TMP/ksk.dnskey")" -eq 2 ] ||
	tdm_fail "two KSK DNSKEY records expected" -- "$TDM_TMP/ksk.dnskey"

# ---- the online state: offline KSKs, online ZSKs ---------------------------------------------
tdm_token "$TDM_TMP/online" online
confOn=$SOFTHSM2_CONF pinOn=$TDM_PIN_FILE
online() { SOFTHSM2_CONF=$confOn "$@"; }
ctl() { online "$CTL" keys "$1" --state "$state" "${@:2}"; }
tdm_assert_ok "ksk-import (new zone)" ctl ksk-import --zone example -p dps-default \
	--token "pkcs11:token=online;pin-source=$pinOn" --module "$TDM_MODULE" --now "$t0" \
	"$TDM_TMP/ksk.dnskey"
tdm_assert_grep "ksk-import: two KSKs" '2 offline KSK' "$TDM_OUT"
tdm_assert_ok "generate: only ZSKs online" ctl generate --zone example --module "$TDM_MODULE" --now "$t0"
tdm_assert_no_grep "generate: no KSK made online" 'generated ksk' "$TDM_OUT"
tdm_assert_grep "generate: one ZSK (no standby: the DPS default)" 'generated zsk key 3' "$TDM_OUT"
tdm_assert_no_grep "generate: no second ZSK" 'generated zsk key 4' "$TDM_OUT"
tdm_assert_ok "ds-seen KSK 1" ctl ds-seen --zone example --key 1 --now $((t0 + 14 * 3600))
tdm_assert_ok "ds-seen KSK 2" ctl ds-seen --zone example --key 2 --now $((t0 + 14 * 3600))
tdm_assert_ok "ds" ctl ds --zone example --now "$start"
grep -E '^example\. [0-9]+ IN DS ' "$TDM_OUT" | sed 's/ ;.*//' >"$TDM_TMP/example.ds"
[ "$(wc -l <"$TDM_TMP/example.ds")" -eq 2 ] || tdm_fail "two DS records expected" -- "$TDM_OUT"
keys_before=$(sha256sum "$state/keystate.pb")

# ---- the request, the ceremony, the import ---------------------------------------------------
tdm_assert_ok "ksr for a quarter" ctl ksr --zone example --module "$TDM_MODULE" --now "$start" \
	--start "$start" --period 90d --slots 9 --out "$TDM_TMP/q.ksr"
cp "$TDM_OUT" "$TDM_TMP/ksr.out"
tdm_assert_grep "ksr: 9 slots" '9 slots' "$TDM_TMP/ksr.out"
tdm_assert_grep "ksr: the successor ZSK made for the plan" '1 new' "$TDM_TMP/ksr.out"
[ "$(sha256sum "$state/keystate.pb")" = "$keys_before" ] || tdm_fail "ksr changed the key state"
tdm_assert_ok "skr-sign (offline)" offline "$CEREMONY" skr-sign --module "$TDM_MODULE" \
	--ksk "$kskA" --ksk "$kskB" --now "$start" --out "$TDM_TMP/q.skr" "$TDM_TMP/q.ksr"
tdm_assert_grep "skr-sign: 9 RRSIGs (KSK 1 signs, KSK 2 is the standby)" 'signed 9 RRSIG' "$TDM_OUT"
tdm_assert_fails "skr-sign refuses an unknown KSK in the request" offline "$CEREMONY" skr-sign \
	--module "$TDM_MODULE" --ksk "$kskA" --now "$start" --out "$TDM_TMP/x.skr" "$TDM_TMP/q.ksr"
tdm_assert_grep "unknown KSK: says so" 'not one of the --ksk keys' "$TDM_ERR"

# tampered responses first: each refused, state and skr dir untouched
skr_before=$(ls "$state/skr")
tamper() { # IN OUT OFFSET-FROM-END
	python3 - "$1" "$2" "$3" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) - int(sys.argv[3])] ^= 0x01
open(sys.argv[2], "wb").write(data)
PY
}
tamper "$TDM_TMP/q.skr" "$TDM_TMP/bad-sig.skr" 3 # inside the last slot's last RRSIG
tdm_assert_fails "skr-import: a tampered RRSIG" ctl skr-import --now "$start" "$TDM_TMP/bad-sig.skr"
tdm_assert_grep "tampered RRSIG: says so" 'does not verify|refused' "$TDM_ERR"
head -c 200 "$TDM_TMP/q.skr" >"$TDM_TMP/short.skr"
tdm_assert_fails "skr-import: a truncated SKR" ctl skr-import --now "$start" "$TDM_TMP/short.skr"
tdm_assert_fails "skr-import: a request is not a response" ctl skr-import --now "$start" "$TDM_TMP/q.ksr"
tdm_assert_fails "skr-import: after the period" ctl skr-import --now $((end + 1)) "$TDM_TMP/q.skr"
tdm_assert_grep "after the period: says so" 'expired|ended' "$TDM_ERR"
[ "$(sha256sum "$state/keystate.pb")" = "$keys_before" ] || tdm_fail "a refused import changed the key state"
tdm_assert_eq "a refused import stores nothing" "$skr_before" "$(ls "$state/skr")"

tdm_assert_ok "skr-import" ctl skr-import --now "$start" "$TDM_TMP/q.skr"
skr=$(awk '/^stored as / { print $3 }' "$TDM_OUT")
[ -f "$skr" ] || tdm_fail "skr-import stored nothing" -- "$TDM_OUT"
# each step on the state is in its offline audit file (docs/audit.md, "Offline events")
for t in ksk.import key.generate ksr.create skr.import; do
	grep -q "\"type\":\"$t\"" "$state/audit-offline.jsonl" ||
		tdm_fail "no $t entry in the offline audit file" -- "$state/audit-offline.jsonl"
done
tdm_assert_ok "the offline audit file verifies" "$CTL" audit verify --file "$state/audit-offline.jsonl"

# a second request for the same quarter: its response does not answer the first one
tdm_assert_ok "a second ksr" ctl ksr --zone example --module "$TDM_MODULE" --now "$start" \
	--start "$start" --period 90d --slots 9 --out "$TDM_TMP/q2.ksr"
tdm_assert_grep "second ksr: the planned ZSK is reused" '0 new, 1 already' "$TDM_OUT"
rm "$state"/skr/*"$(awk '/^key signing request/ { print $4 }' "$TDM_OUT")".ksr
tdm_assert_ok "skr-sign the second request" offline "$CEREMONY" skr-sign --module "$TDM_MODULE" \
	--ksk "$kskA" --ksk "$kskB" --now "$start" --out "$TDM_TMP/q2.skr" "$TDM_TMP/q2.ksr"
tdm_assert_fails "skr-import: an unrecorded request id" ctl skr-import --now "$start" "$TDM_TMP/q2.skr"
tdm_assert_grep "unrecorded request: says so" 'no request recorded' "$TDM_ERR"

# ---- signing through the quarter -------------------------------------------------------------
# sign_at T: brings the key state to T (adopting the pre-generated ZSK when it is due), signs
# with the active ZSK and the SKR, and checks the output with dnssec-verify and the gate.
sign_at() {
	local t=$1 label out=$TDM_TMP/signed.$1
	tdm_assert_ok "generate at $t" ctl generate --zone example --module "$TDM_MODULE" --now "$t"
	tdm_assert_ok "list at $t" ctl list --zone example --now "$t"
	label=$(awk '$2 == "zsk" && $5 == "active" { print $NF }' "$TDM_OUT")
	[ -n "$label" ] || tdm_fail "no active ZSK at $t" -- "$TDM_OUT"
	tdm_assert_ok "sign at $t (ZSK $label)" online "$TDM_SIGNZONE" --module "$TDM_MODULE" \
		-o example --skr "$skr" --now "$t" --ds "$TDM_TMP/example.ds" \
		--zsk "pkcs11:token=online;object=$label;pin-source=$pinOn" -f "$out" "$zone"
	cp "$TDM_ERR" "$TDM_TMP/sign.$t.err"
	echo "$t $label" >>"$TDM_TMP/zsk-by-time"
	tdm_assert_ok "dnssec-verify at $t" verify_at "$t" "$out"
	tdm_assert_ok "gate at $t" online "$TDM_SIGNZONE" -o example --verify-only "$out" \
		--ds "$TDM_TMP/example.ds" --now "$t"
}
for k in 0 1 2 3 4 5 6 7 8; do
	b=$((start + k * slot))
	[ "$k" -eq 0 ] || sign_at $((b - 1))
	sign_at "$b"
done
# the last slot: fine until the margin, with a warning inside twice the margin
sign_at $((end - margin - 1))
tdm_assert_grep "warning inside twice the margin" 'warning: SKR ends .* within twice' \
	"$TDM_TMP/sign.$((end - margin - 1)).err"
tdm_assert_no_grep "no warning earlier" 'warning' "$TDM_TMP/sign.$((start + 8 * slot)).err"
cat "$TDM_TMP"/ok-generate_at_*.out >"$TDM_TMP/generate-all.out"
tdm_assert_grep "the planned ZSK was adopted when due, not made anew" \
	'adopted the pre-generated \(keys ksr\) zsk key 4' "$TDM_TMP/generate-all.out"
tdm_assert_no_grep "no other ZSK generated during the quarter" '^generated' "$TDM_TMP/generate-all.out"
# the ZSK rolled inside the quarter (start + 75d, inside slot 8) to its successor, made for
# the plan (published 7 days before): both ZSKs signed in turn
tdm_assert_eq "ZSK at slot 8's start" example-zsk-3 "$(awk -v t=$((start + 7 * slot)) '$1 == t { print $2 }' "$TDM_TMP/zsk-by-time")"
tdm_assert_eq "ZSK at slot 9's start" example-zsk-4 "$(awk -v t=$((start + 8 * slot)) '$1 == t { print $2 }' "$TDM_TMP/zsk-by-time")"
out=$TDM_TMP/signed.$((end - margin - 1))
cp "$out" "$TDM_TMP/before"
t=$((end - margin))
tdm_assert_fails "refused within the margin" online "$TDM_SIGNZONE" --module "$TDM_MODULE" -o example \
	--skr "$skr" --now "$t" --ds "$TDM_TMP/example.ds" \
	--zsk "pkcs11:token=online;object=example-zsk-4;pin-source=$pinOn" -f "$out" "$zone"
tdm_assert_eq "refused within the margin: exit 4" 4 "$TDM_RC"
tdm_assert_grep "refused: names the end and the margin" \
	"SKR ends $(date -u -d "@$end" +%Y-%m-%dT%H:%MZ), within the 3d margin: get the next SKR signed" "$TDM_ERR"
tdm_assert_same_file "refused: OUT untouched" "$TDM_TMP/before" "$out"
tdm_assert_fails "refused after the SKR" online "$TDM_SIGNZONE" --module "$TDM_MODULE" -o example \
	--skr "$skr" --now $((end + 1)) --zsk "pkcs11:token=online;object=example-zsk-4;pin-source=$pinOn" \
	-f "$out" "$zone"
tdm_assert_eq "refused after the SKR: exit 4" 4 "$TDM_RC"
tdm_assert_same_file "refused after the SKR: OUT untouched" "$TDM_TMP/before" "$out"
tdm_assert_fails "--skr with --ksk is a usage error" online "$TDM_SIGNZONE" --module "$TDM_MODULE" \
	-o example --skr "$skr" --ksk "$kskA" --zsk "pkcs11:token=online;object=example-zsk-4;pin-source=$pinOn" \
	-f "$out" "$zone"
tdm_assert_eq "--skr with --ksk: exit 1" 1 "$TDM_RC"
# the shim is not a no-op: the first slot's zone is refused once its DNSKEY RRSIG has expired
tdm_assert_fails "dnssec-verify: first slot's zone after its RRSIG window" \
	verify_at $((start + slot + 5 * day + 1)) "$TDM_TMP/signed.$start"
tdm_assert_fails "gate: first slot's zone after its RRSIG window" online "$TDM_SIGNZONE" -o example \
	--verify-only "$TDM_TMP/signed.$start" --ds "$TDM_TMP/example.ds" --now $((start + slot + 5 * day + 1))
