#!/bin/bash
# An emergency ZSK rollover on a real local cluster with no standby key (the DPS default
# since issue 9) on the active ZSK: `tandemctl keys emergency --cluster` is refused without
# approvals; requested and approved by sa1 + so1, the coordinator executes it. The compromised
# key must stop signing at once (DPS 4.5.3): the KSK signs the data until the replacement,
# made by the lease holder, archived and imported at both sites, is in every cache
# (Ipub(key)), and then the replacement signs. Measured: from the command to the first
# published serial whose zone file holds no RRSIG made by the compromised ZSK; asserted
# under 60 s. Checked as well: that zone validates with dnssec-verify; the compromised
# DNSKEY stays published (emergency post-publication) and leaves afterwards; the
# replacement becomes active once both sites hold it; the standby's digest of the first clean
# serial agrees; both sites' publications agree.
# The cycle is 600 s: every serial after the first comes from a key set change that starts
# the holder's run at once (DPS 4.5.3), never from the cycle, so each bound below fails if
# the change waits for it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.

# The drill policy's shape with a ZSK that does not roll on its own during the test and a
# pre-publication of an hour (the DPS's 7 days, scaled): a scheme that waits for a
# pre-published key before withdrawing the compromised one fails the 60 s bound.
POL=$TDM_TMP/emergency-policy.yaml
sed -e '/^  zsk:/,/^$/{s/lifetime: 40s/lifetime: 2h/;s/prepublish: 10s/prepublish: 1h/}' \
	"$TDM_DATA/drill-policy.yaml" >"$POL"
if ! grep -q 'lifetime: 2h' "$POL" || ! grep -q 'prepublish: 1h' "$POL"; then
	tdm_fail "could not derive the test policy" -- "$POL"
fi

tdm_cluster_up --policy "$POL" --cycle 600
key_in() {
	tdm_status_get "next((k['id'] for k in zone('$Z')['keys'] if k.get('role') == '$2' and k.get('state') == '$1'), None)" || true
}
tag_of() { tdm_status_get "next(k['tag'] for k in zone('$Z')['keys'] if k['id'] == $1)"; }
zsk=$(key_in active zsk)
ksk=$(key_in active ksk)
if [ -z "$zsk" ] || [ -z "$ksk" ]; then
	tdm_fail "no active KSK and ZSK after cluster-up" -- "$TDM_CL/log/node-a.log"
fi
tag=$(tag_of "$zsk")
ktag=$(tag_of "$ksk")
tdm_pass "KSK $ksk (tag $ktag) and ZSK $zsk (tag $tag) active"

holder=$(tdm_holder $Z)
[ -n "$holder" ] || tdm_fail "no node holds $Z"
zf=$TDM_CL/$holder/out/${Z}zone

# rrsig_tags FILE: the key tags of every RRSIG in FILE, one per line, sorted and unique
rrsig_tags() {
	awk '{ for (i = 1; i < NF; i++) if ($i == "RRSIG") { print $(i + 7); break } }' "$1" | sort -un
}
# the compromised ZSK signs before the emergency
tdm_wait 30 "a published zone signed by ZSK $zsk" bash -c "[ -f '$zf' ] && awk '{ for (i = 1; i < NF; i++) if (\$i == \"RRSIG\") { print \$(i + 7); break } }' '$zf' | grep -qx '$tag'"
before=$(tdm_last_serial "$holder" $Z)
tdm_pass "serial $before of $holder is signed by ZSK $zsk"

# an emergency rollover is an approved action (docs/approvals.md): the direct command is
# refused and names the request; sa1 + so1 approve it and the coordinator executes it
tdm_run direct tdm_ctl keys emergency --cluster --zone $Z --key "$zsk"
[ "$TDM_RC" -eq 4 ] || tdm_fail "keys emergency --cluster without approvals: exit $TDM_RC, not 4" -- "$TDM_OUT" "$TDM_ERR"
tdm_assert_grep "the refusal names the request" "tandemctl request keys-emergency zone=$Z key=$zsk" "$TDM_ERR"
[ "$(key_in active zsk)" = "$zsk" ] || tdm_fail "the refused emergency changed the keys"
tdm_pass "keys emergency --cluster without approvals: refused, ZSK $zsk still active"
t0=$(date +%s.%N)
tdm_assert_ok "emergency on ZSK $zsk, approved by sa1 + so1" tdm_approved keys-emergency zone=$Z "key=$zsk"
tdm_assert_grep "the coordinator marked it compromised" "key $zsk compromised" "$TDM_OUT"

# clean_serial: true once the holder published a serial above $before whose file carries
# no RRSIG of the compromised key; records when it was seen and keeps a copy
clean_serial() {
	local s
	s=$(tdm_last_serial "$holder" $Z)
	[ -n "$s" ] && [ "$s" -gt "$before" ] || return 1
	cp "$zf" "$TDM_TMP/after.zone" 2>/dev/null || return 1
	# the copy must be the serial just read (a newer one may have replaced it: then look again)
	rrsig_tags "$TDM_TMP/after.zone" | grep -qx "$tag" && return 1
	t1=$(date +%s.%N)
	clean=$s
	return 0
}
t1=
clean=
tdm_wait 120 "a serial with no RRSIG by ZSK $zsk" clean_serial
elapsed=$(python3 -c "print(round($t1 - $t0, 1))")
python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 60 else 1)" ||
	tdm_fail "the compromised ZSK signed for ${elapsed}s after the emergency (limit 60 s)"
tdm_pass "first serial without RRSIGs by ZSK $zsk published ${elapsed}s after the emergency"
tdm_assert_grep "the holder says why it signed before the cycle" \
	"zone $Z: the key set changed which keys sign or are published: signing now" "$TDM_CL/log/$holder.log"
# the standby shadows that serial as it does any other (its run is not the cycle's either)
tdm_wait 60 "the standby's digest of serial $clean" \
	grep -q "zone $Z serial $clean: .* agrees" "$TDM_CL"/log/coord-*.log
tdm_pass "the standby's shadow of serial $clean agrees"

# that zone validates, and its compromised DNSKEY is still there (emergency post-publication)
# Until the replacement is in every cache the KSK signs the data: dnssec-verify's own
# convention check ("Missing ZSK": a non-SEP key must sign) is lifted with -z ("all records
# signed with KSKs"); every signature is still verified, and ldns-verify-zone, which has no
# such convention, must agree.
cp "$TDM_TMP/after.zone" "$TDM_TMP/verify-after.zone"
dnssec-verify -z -o $Z "$TDM_TMP/verify-after.zone" >"$TDM_TMP/verify-after.out" 2>&1 ||
	tdm_fail "dnssec-verify refuses the first zone after the emergency" -- "$TDM_TMP/verify-after.out"
tdm_assert_grep "dnssec-verify: the KSK signs, no ZSK does (the compromised one is stand-by)" "KSKs: 1 active.*|ZSKs: 0 active, 1 stand-by" "$TDM_TMP/verify-after.out"
ldns-verify-zone "$TDM_TMP/verify-after.zone" >"$TDM_TMP/ldns-after.out" 2>&1 ||
	tdm_fail "ldns-verify-zone refuses the first zone after the emergency" -- "$TDM_TMP/ldns-after.out"
tdm_pass "dnssec-verify (-z) and ldns-verify-zone accept the first zone after the emergency"
# every DNSKEY's tag (dnssec-dsfromkey -A: ZSKs too)
all_dnskey_tags() {
	dnssec-dsfromkey -A -2 -f "$1" $Z 2>/dev/null | awk '{ print $4 }' | sort -un
}
all_dnskey_tags "$TDM_TMP/after.zone" | grep -qx "$tag" ||
	tdm_fail "the compromised DNSKEY left the zone at once (it must stay published)" -- "$TDM_TMP/after.zone"
tdm_pass "the compromised DNSKEY (tag $tag) is still published"
state=$(tdm_status_get "next(k.get('state') for k in zone('$Z')['keys'] if k['id'] == $zsk)")
[ "$state" = retired ] || tdm_fail "ZSK $zsk is '$state', not retired"

# the replacement: made by the holder, held at both sites, then it signs
new_zsk_active() {
	local z
	z=$(key_in active zsk)
	[ -n "$z" ] && [ "$z" != "$zsk" ]
}
tdm_wait 120 "the replacement ZSK to become active" new_zsk_active
nz=$(key_in active zsk)
ntag=$(tag_of "$nz")
acks=$(tdm_status_get "len(next(k['acks'] for k in zone('$Z')['keys'] if k['id'] == $nz))")
[ "$acks" = 2 ] || tdm_fail "the replacement ZSK $nz is active but not held at both sites"
tdm_pass "replacement ZSK $nz (tag $ntag) active, held at both sites"
signed_by_new() {
	[ -f "$zf" ] && rrsig_tags "$zf" | grep -qx "$ntag"
}
tdm_wait 60 "a serial signed by the replacement ZSK" signed_by_new
if rrsig_tags "$zf" | grep -qx "$tag"; then
	tdm_fail "the compromised ZSK signs again" -- "$zf"
fi
tdm_pass "the replacement signs; the compromised key still signs nothing"

# the compromised key leaves after its emergency post-publication (12 s in this policy)
gone() { [ "$(tdm_status_get "$zsk in [k['id'] for k in zone('$Z')['keys'] if k.get('state') != 'removed']")" = False ]; }
tdm_wait 120 "ZSK $zsk to be removed" gone
tdm_pass "ZSK $zsk removed after its emergency post-publication"

# the standby site's shadow runs signed the same way (the KSK covering included)
[ "$(tdm_status_get "zone('$Z')['alerts']")" = 0 ] || tdm_fail "a standby digest disagreed"
grep -q "agrees" "$TDM_CL"/log/coord-*.log || tdm_fail "no standby digest was ever compared"
tdm_check_publications node-a node-b
tdm_validate_published "$(tdm_holder $Z)" $Z
tdm_pass "the published zone validates; standby digests agreed; no serial published twice"
