#!/bin/bash
# The offline KSK on a cluster (docs/keys.md, "Offline KSK in a cluster"). Two KSKs are made
# on an "offline" SoftHSM token that no cluster process can reach; the operator imports
# their DNSKEYs into the cluster's key set before adding the zone; the lease holder makes
# the ZSKs in its HSM and both sites import them. Without an SKR the zone is not signed and
# the holder says so. `keys ksr --cluster` asks for a request: the holder plans the period
# (two one-hour slots, the first ending 90 s from now; the drill policy rolls the ZSK inside
# it, so the holder makes the successor now) and records it; the ceremony signs it; a
# tampered response is refused with nothing changed; the good one is imported. Then: the
# holder publishes, the standby's shadow digests agree, a switchover hands the zone to the
# other site, which signs with the same SKR; after the slot boundary the published DNSKEY
# RRSIG is slot 2's. Every published zone validates (dnssec-verify, and the gate against
# the KSKs' DS as `keys ds --cluster` prints it); no serial was published twice.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
CEREMONY=$(tdm_bin tandem-ceremony)
Z=offline.example.
POLICY=$TDM_DATA/offline-drill-policy.yaml

tdm_cluster_up --policy "$POLICY" --cycle 4 --late-zone "$Z" --skr-margin 600

# ---- the ceremony's token: two KSKs (active and standby); nothing of it reaches the cluster ---
tdm_token "$TDM_TMP/offline" offline
confOff=$SOFTHSM2_CONF pinOff=$TDM_PIN_FILE
unset SOFTHSM2_CONF
kskA="pkcs11:token=offline;object=ksk-a;pin-source=$pinOff"
kskB="pkcs11:token=offline;object=ksk-b;pin-source=$pinOff"
offline() { SOFTHSM2_CONF=$confOff "$@"; }
cp "$TDM_SRC/conf/example.zone" "$TDM_TMP/scratch.zone"
tdm_assert_ok "offline: make two KSKs" offline "$TDM_SIGNZONE" --module "$TDM_MODULE" -o example \
	--ksk "$kskA" --ksk "$kskB" --zsk "pkcs11:token=offline;object=scratch;pin-source=$pinOff" \
	--gen-keys -f "$TDM_TMP/scratch.signed" "$TDM_TMP/scratch.zone"
tdm_assert_ok "offline: the KSKs' DNSKEYs" offline "$CEREMONY" skr-sign --module "$TDM_MODULE" \
	--ksk "$kskA" --ksk "$kskB" --zone "$Z" --dnskey-out "$TDM_TMP/ksk.dnskey"

# ---- the KSKs enter the cluster before the zone does ------------------------------------------
tdm_assert_ok "ksk-import --cluster before zone add" tdm_ctl keys ksk-import --cluster --zone "$Z" \
	-p "$POLICY" "$TDM_TMP/ksk.dnskey"
tdm_assert_ok "zone add" tdm_ctl zone add "$Z"
has_zsk() { [ "$(tdm_status_get "len([k for k in zone('$Z')['keys'] if k.get('role') == 'zsk' and len(k['acks']) == 2])")" -ge 1 ]; }
tdm_wait 60 "the holder's first ZSK, imported at both sites" has_zsk
holder=$(tdm_holder "$Z")
[ -n "$holder" ] || tdm_fail "nobody holds $Z"
other=node-a
[ "$holder" = node-a ] && other=node-b
alerted() { grep -q "zone $Z: ALERT: no imported SKR has a signed DNSKEY RRset for now" "$TDM_CL/log/$holder.log"; }
tdm_wait 30 "the holder's alert: no SKR" alerted
[ ! -e "$TDM_CL/$holder/out/${Z}zone" ] || tdm_fail "$Z published without an SKR"
! grep -q "zone $Z: ksk key" "$TDM_CL"/log/node-*.log ||
	tdm_fail "a KSK was made online for an offline-KSK zone" -- "$TDM_CL/log/$holder.log"
offline_ksks() { [ "$(tdm_status_get "len([k for k in zone('$Z')['keys'] if k['offline'] and k['role'] == 'ksk' and not k['acks']])")" = 2 ]; }
offline_ksks || tdm_fail "status --json does not list the two offline KSKs (no site holds them)"
tdm_pass "offline KSKs imported, ZSKs made online, nothing signed without an SKR"

# ---- the request: planned by the lease holder -------------------------------------------------
now=$(date +%s)
start=$((now - 3600 + 90)) # slot 1 ends 90 s from now
boundary=$((start + 3600))
tdm_assert_ok "keys ksr --cluster" tdm_ctl keys ksr --cluster --zone "$Z" --out "$TDM_TMP/q.ksr" \
	--start "$start" --period 2h --slots 2 --overlap 1h --inception-offset 1h --wait 60
cp "$TDM_OUT" "$TDM_TMP/ksr.out"
tdm_assert_grep "ksr: two slots" '2 slots' "$TDM_TMP/ksr.out"
grep -q "key signing request made: 2 slots" "$TDM_CL/log/$holder.log" ||
	tdm_fail "the holder did not say it made the request" -- "$TDM_CL/log/$holder.log"
# the ZSK the drill policy rolls to within the period was made now, archived, held by both sites
planned=$(grep -c "zone $Z: zsk key [0-9]* (tag [0-9]*) made and archived" "$TDM_CL/log/$holder.log")
[ "$planned" -ge 2 ] || tdm_fail "the holder made no ZSK for the plan" -- "$TDM_CL/log/$holder.log"
two_sites() { [ "$(tdm_status_get "min(len(k['acks']) for k in zone('$Z')['keys'] if not k['offline'])")" = 2 ]; }
tdm_wait 30 "every ZSK of the plan at both sites" two_sites
tdm_pass "the lease holder planned the request and made its future ZSK"

# ---- the ceremony, then the import ------------------------------------------------------------
tdm_assert_ok "skr-sign (offline)" offline "$CEREMONY" skr-sign --module "$TDM_MODULE" \
	--ksk "$kskA" --ksk "$kskB" --out "$TDM_TMP/q.skr" "$TDM_TMP/q.ksr"
python3 - "$TDM_TMP/q.skr" "$TDM_TMP/bad.skr" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) - 3] ^= 0x01 # inside the last slot's last RRSIG
open(sys.argv[2], "wb").write(data)
PY
tdm_assert_ok "list before" tdm_ctl keys list --cluster --zone "$Z"
grep -i "awaiting\|ask" "$TDM_OUT" >"$TDM_TMP/book.before" || true
tdm_assert_fails "skr-import --cluster: a tampered RRSIG" tdm_ctl keys skr-import --cluster "$TDM_TMP/bad.skr"
tdm_assert_grep "tampered: nothing changed" 'nothing changed' "$TDM_ERR"
tdm_assert_fails "skr-import --cluster: a request is not a response" tdm_ctl keys skr-import --cluster "$TDM_TMP/q.ksr"
[ ! -e "$TDM_CL/$holder/out/${Z}zone" ] || tdm_fail "$Z published with a refused SKR"
tdm_assert_ok "skr-import --cluster" tdm_ctl keys skr-import --cluster "$TDM_TMP/q.skr"
tdm_ctl audit show --type skr.import --zone "$Z" --json >"$TDM_TMP/skr-audit.jsonl"
grep -q '"actor":"operator:operator"' "$TDM_TMP/skr-audit.jsonl" ||
	tdm_fail "the SKR import is not in the audit log" -- "$TDM_TMP/skr-audit.jsonl"
tdm_assert_ok "list after" tdm_ctl keys list --cluster --zone "$Z"
tdm_assert_grep "list: the book covers the period" "cover until" "$TDM_OUT"

# ---- signing with the SKR at both sites -------------------------------------------------------
# the parent is asked for the active KSK's DS once the holder has stepped the key set
ds_asked() { [ -n "$(tdm_status_get "next((k['id'] for k in zone('$Z')['keys'] if k.get('role') == 'ksk' and k.get('ds') in ('submitted', 'seen')), None)")" ]; }
tdm_wait 30 "the KSK's DS to be asked of the parent" ds_asked
tdm_assert_ok "keys ds --cluster" tdm_ctl keys ds --cluster --zone "$Z"
{ grep -E "^${Z//./\\.} [0-9]+ IN DS " "$TDM_OUT" || true; } | sed 's/ ;.*//' >"$TDM_TMP/z.ds"
[ "$(wc -l <"$TDM_TMP/z.ds")" -ge 1 ] || tdm_fail "no DS printed" -- "$TDM_OUT"
# check_with_ds NODE: the node's published zone passes dnssec-verify and the gate with the DS
check_with_ds() {
	tdm_validate_published "$1" "$Z"
	tdm_assert_ok "gate with the DS ($1)" "$TDM_SIGNZONE" -o "$Z" --verify-only \
		"$TDM_CL/$1/out/${Z}zone" --ds "$TDM_TMP/z.ds"
}
published() { [ -n "$(tdm_last_serial "$1" "$Z")" ]; }
tdm_wait 60 "$holder to publish $Z with the SKR" published "$holder"
check_with_ds "$holder"
compared() { grep -q "zone $Z serial [0-9]*: node-[ab] agrees" "$TDM_CL"/log/coord-*.log; }
tdm_wait 60 "the standby's shadow digest to be compared" compared
tdm_pass "$holder signs with the pre-signed DNSKEY RRset; the standby's digest agrees"

s1=$(tdm_last_serial "$holder" "$Z")
tdm_assert_ok "switchover $holder -> $other" tdm_ctl switchover --zone "$Z" --to "$other" --wait 30
tdm_wait 60 "$other to publish above $s1" tdm_published_after "$other" "$Z" "$s1"
check_with_ds "$other"
tdm_pass "$other signs with the same SKR after a switchover"

# ---- the slot boundary ------------------------------------------------------------------------
incept() { # the DNSKEY RRSIG's inception in NODE's published zone (YYYYMMDDHHMMSS)
	awk '$4 == "RRSIG" && $5 == "DNSKEY" { print $10; exit }' "$TDM_CL/$1/out/${Z}zone"
}
want1=$(date -u -d "@$((start - 3600))" +%Y%m%d%H%M%S)
want2=$(date -u -d "@$((boundary - 3600))" +%Y%m%d%H%M%S)
tdm_assert_eq "slot 1's DNSKEY RRSIG before the boundary" "$want1" "$(incept "$other")"
while [ "$(date +%s)" -le "$boundary" ]; do sleep 1; done
# a serial signed just before the boundary may still be published just after it (its commit
# waits for the standby's digest): wait for slot 2's signature itself, not for the next serial
slot2() { [ "$(incept "$other")" = "$want2" ]; }
tdm_wait 60 "$other to publish slot 2's DNSKEY RRSIG after the boundary" slot2
check_with_ds "$other"
[ "$(tdm_status_get "zone('$Z')['alerts']")" = 0 ] || tdm_fail "a standby digest disagreed"
tdm_check_publications node-a node-b
tdm_pass "slot 2 after the boundary; zones valid at both sites; no serial published twice"
tdm_cluster_sanitizer_check
