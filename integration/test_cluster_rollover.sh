#!/bin/bash
# A ZSK rollover on the cluster, with the key state in etcd: the drill policy
# (integration/data/drill-policy.yaml) rolls the ZSK every 40 s. The lease holder runs the
# key-state machine on the cluster's copy, makes each new key in its HSM and archives it;
# the other site imports it; a key signs only once every site holds it. Half-way through,
# a switchover hands the zone (and the machine) to the other node, which carries the
# rollover on. Checked: a new ZSK becomes active and the first one is retired then removed
# (from the key set, then from the coordinator's key table);
# every key of the key set is imported at both sites; the standby's digests never disagree;
# every published zone of both sites validates with dnssec-verify at the end; no serial
# was published twice. `tandemctl keys ds-seen --cluster` records the parent's DS.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.

tdm_cluster_up --policy "$TDM_DATA/drill-policy.yaml" --cycle 3
# key_in STATE ROLE: the id of a key of ROLE in STATE ('' when none)
key_in() {
	tdm_status_get "next((k['id'] for k in zone('$Z')['keys'] if k.get('role') == '$2' and k.get('state') == '$1'), None)" || true
}
zsk1=$(key_in active zsk)
[ -n "$zsk1" ] || tdm_fail "no active ZSK after cluster-up" -- "$TDM_CL/log/node-a.log"
ksk=$(key_in active ksk)
[ -n "$ksk" ] || tdm_fail "no active KSK after cluster-up"
tdm_pass "key set in the cluster: KSK $ksk and ZSK $zsk1 active"

# the operator's view of the same key set
tdm_assert_ok "keys list --cluster" tdm_ctl keys list --cluster --zone $Z
tdm_assert_grep "keys list shows the active ZSK" "active" "$TDM_OUT"
ds_of() { tdm_status_get "next(k['ds'] for k in zone('$Z')['keys'] if k['id'] == $1)"; }
submitted() { [ "$(ds_of "$ksk")" = submitted ]; }
tdm_wait 30 "the KSK's DS to be submitted (CDS published)" submitted
tdm_assert_ok "keys ds --cluster prints the DS" tdm_ctl keys ds --cluster --zone $Z
tdm_assert_grep "a DS record" " DS " "$TDM_OUT"
tdm_assert_ok "ds-seen for the KSK" tdm_ctl keys ds-seen --cluster --zone $Z --key "$ksk"
[ "$(ds_of "$ksk")" = seen ] ||
	tdm_fail "the KSK's DS state is not 'seen'"
tdm_pass "the operator's ds-seen is in the cluster's key set"

new_zsk_active() {
	local z
	z=$(key_in active zsk)
	[ -n "$z" ] && [ "$z" != "$zsk1" ]
}
sleep 15
holder=$(tdm_holder $Z)
to=node-a
[ "$holder" = node-a ] && to=node-b
tdm_assert_ok "switchover mid-rollover: $holder -> $to" tdm_ctl switchover --zone $Z --to $to --wait 20
tdm_wait 90 "a new ZSK to become active" new_zsk_active
zsk2=$(key_in active zsk)
tdm_pass "ZSK $zsk1 -> ZSK $zsk2"
# removed from the key set, retired in the coordinator's key table (its acks no longer
# gate leases), then gone from it after the drill's keys.archive-retention (30 s)
gone() { [ "$(tdm_status_get "$zsk1 in [k['id'] for k in zone('$Z')['keys']]")" = False ]; }
tdm_wait 120 "ZSK $zsk1 to be removed" gone
grep -q "key $zsk1 (tag [0-9]*) retired in the cluster's key table" "$TDM_CL"/log/node-*.log ||
	tdm_fail "no node said key $zsk1 was retired in the cluster's key table"
grep -q "key $zsk1 (tag [0-9]*) purged" "$TDM_CL"/log/node-*.log ||
	tdm_fail "no node said key $zsk1 was purged"
tdm_pass "ZSK $zsk1 retired and removed"

# every key of the key set is held at both sites, and no digest ever disagreed
acks=$(tdm_status_get "min(len(k['acks']) for k in zone('$Z')['keys'] if k.get('state') not in (None, 'removed'))")
[ "$acks" = 2 ] || tdm_fail "a live key is not imported at both sites"
[ "$(tdm_status_get "zone('$Z')['alerts']")" = 0 ] || tdm_fail "a standby digest disagreed"
grep -q "agrees" "$TDM_CL"/log/coord-*.log || tdm_fail "no standby digest was ever compared"
tdm_check_publications node-a node-b
tdm_validate_published node-a $Z
tdm_validate_published node-b $Z
tdm_pass "both sites' zones validate; digests agreed; no serial published twice"
