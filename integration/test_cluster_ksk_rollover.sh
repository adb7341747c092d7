#!/bin/bash
# A KSK rollover on the cluster (issue 9 item 6), double-DS with the DNSKEY pre-published
# (docs/keys.md), under integration/data/ksk-drill-policy.yaml (KSK lifetime 60 s,
# prepublish 30 s, postpublish 30 s; the ZSK does not roll). Checked: the first KSK's DS is
# submitted (CDS in the published zone) and recorded seen with `tandemctl keys ds-seen
# --cluster`; its successor is generated and published, its DS submitted (its CDS
# published); a switchover hands the zone (and the key-state machine) to the other node
# meanwhile; the successor does not take over while its DS is not seen, even past its
# prepublish time; after ds-seen it becomes active and the old KSK is retired; the old
# KSK's DS withdrawal is asked for and it is not removed, even past its postpublish time,
# until `ds-gone`; then it is removed. Every key is imported at both sites, digests never
# disagree, both sites' zones validate, no serial is published twice.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.

tdm_cluster_up --policy "$TDM_DATA/ksk-drill-policy.yaml" --cycle 3
# key_in STATE ROLE: the id of a key of ROLE in STATE ('' when none)
key_in() {
	tdm_status_get "next((k['id'] for k in zone('$Z')['keys'] if k.get('role') == '$2' and k.get('state') == '$1'), None)" || true
}
# key_get ID FIELD: a field of key ID in the cluster's key set ('' when the key is gone)
key_get() { tdm_status_get "next((k.get('$2') for k in zone('$Z')['keys'] if k['id'] == $1), None)" || true; }
# cds_of ID: the published zone of the holder carries a CDS for key ID's tag
cds_of() {
	local h tag
	h=$(tdm_holder $Z)
	tag=$(key_get "$1" tag)
	[ -n "$h" ] && [ -n "$tag" ] &&
		awk -v t="$tag" '$4 == "CDS" && $5 == t { f = 1 } END { exit !f }' "$TDM_CL/$h/out/${Z}zone"
}

ksk1=$(key_in active ksk)
[ -n "$ksk1" ] || tdm_fail "no active KSK after cluster-up" -- "$TDM_CL/log/node-a.log"
submitted1() { [ "$(key_get "$ksk1" ds)" = submitted ]; }
tdm_wait 30 "KSK $ksk1's DS to be submitted" submitted1
tdm_wait 30 "a CDS of KSK $ksk1 in the published zone" cds_of "$ksk1"
tdm_assert_ok "ds-seen for KSK $ksk1" tdm_ctl keys ds-seen --cluster --zone $Z --key "$ksk1"
[ "$(key_get "$ksk1" ds)" = seen ] || tdm_fail "KSK $ksk1's DS is not 'seen'"
tdm_pass "KSK $ksk1 active, its DS submitted (CDS published) and seen"

# the successor: generated about 30 s after the first KSK (lifetime - prepublish)
successor() { tdm_status_get "next((k['id'] for k in zone('$Z')['keys'] if k.get('role') == 'ksk' and k['id'] != $ksk1), None)" || true; }
have_successor() { [ -n "$(successor)" ]; }
tdm_wait 90 "a successor KSK" have_successor
ksk2=$(successor)
t_ksk2=$SECONDS
submitted2() { [ "$(key_get "$ksk2" ds)" = submitted ]; }
tdm_wait 60 "KSK $ksk2's DS to be submitted" submitted2
tdm_wait 30 "a CDS of KSK $ksk2 in the published zone" cds_of "$ksk2"
tdm_pass "successor KSK $ksk2 published, its DS submitted (CDS published)"

holder=$(tdm_holder $Z)
to=node-a
[ "$holder" = node-a ] && to=node-b
tdm_assert_ok "switchover mid-rollover: $holder -> $to" tdm_ctl switchover --zone $Z --to $to --wait 30
[ "$(tdm_holder $Z)" = "$to" ] || tdm_fail "$to does not hold $Z after the switchover"
tdm_pass "switchover $holder -> $to during the KSK rollover"

# Past the successor's prepublish (30 s) and the old KSK's lifetime, without ds-seen: the
# old KSK keeps signing.
while [ $((SECONDS - t_ksk2)) -lt 45 ]; do sleep 1; done
[ "$(key_get "$ksk1" state)" = active ] || tdm_fail "KSK $ksk1 left 'active' before $ksk2's DS was seen"
[ "$(key_get "$ksk2" state)" != active ] || tdm_fail "KSK $ksk2 became active before its DS was seen"
tdm_pass "no handover before the successor's DS is seen (KSK $ksk2 published for $((SECONDS - t_ksk2)) s)"

tdm_assert_ok "ds-seen for KSK $ksk2" tdm_ctl keys ds-seen --cluster --zone $Z --key "$ksk2"
active2() { [ "$(key_get "$ksk2" state)" = active ]; }
tdm_wait 60 "KSK $ksk2 to become active" active2
[ "$(key_get "$ksk1" state)" = retired ] || tdm_fail "KSK $ksk1 is '$(key_get "$ksk1" state)', not retired"
tdm_pass "KSK $ksk1 -> KSK $ksk2 after ds-seen; KSK $ksk1 retired"

retracting() { [ "$(key_get "$ksk1" ds)" = retracting ]; }
tdm_wait 60 "KSK $ksk1's DS withdrawal to be asked for" retracting
t_ret=$SECONDS
# past its postpublish (30 s) without ds-gone, the old KSK stays
while [ $((SECONDS - t_ret)) -lt 35 ]; do sleep 1; done
st=$(key_get "$ksk1" state)
if [ -z "$st" ] || [ "$st" = removed ]; then
	tdm_fail "KSK $ksk1 was removed before ds-gone"
fi
tdm_pass "KSK $ksk1 stays published while its DS withdrawal is pending"
tdm_assert_ok "ds-gone for KSK $ksk1" tdm_ctl keys ds-gone --cluster --zone $Z --key "$ksk1"
gone() {
	local st
	st=$(key_get "$ksk1" state)
	[ -z "$st" ] || [ "$st" = removed ]
}
tdm_wait 60 "KSK $ksk1 to be removed after ds-gone" gone
tdm_pass "KSK $ksk1 removed after ds-gone"

acks=$(tdm_status_get "min(len(k['acks']) for k in zone('$Z')['keys'] if k.get('state') not in (None, 'removed'))")
[ "$acks" = 2 ] || tdm_fail "a live key is not imported at both sites"
[ "$(tdm_status_get "zone('$Z')['alerts']")" = 0 ] || tdm_fail "a standby digest disagreed"
tdm_check_publications node-a node-b
tdm_validate_published node-a $Z
tdm_validate_published node-b $Z
tdm_pass "both sites' zones validate; digests agreed; no serial published twice"
tdm_cluster_sanitizer_check
