#!/bin/bash
# An algorithm rollover (RFC 6781 double signature: RSASHA256 -> RSASHA512) started by a
# change of the zone's cluster policy on a running cluster, carried across a switchover
# (docs/policy.md, "In a cluster"; docs/keys.md). The drill policy's periods are seconds.
# Checked: the holder starts the rollover from the changed policy without a restart; the
# other node finishes it after a switchover once the parent's DS set is recorded; the
# published zone then has only algorithm 10 keys and validates; no standby digest
# disagreed; no serial was published twice.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.

tdm_cluster_up --policy "$TDM_DATA/drill-policy.yaml" --cycle 3
key_in() {
	tdm_status_get "next((k['id'] for k in zone('$Z')['keys'] if k.get('role') == '$2' and k.get('state') == '$1'), None)" || true
}
ksk1=$(key_in active ksk)
[ -n "$ksk1" ] || tdm_fail "no active KSK after cluster-up"
pids_before=$(cat "$TDM_CL"/run/node-*.pid | sort | tr '\n' ' ')

# the zone takes the drill policy from the cluster, then its algorithm changes
cp "$TDM_DATA/drill-policy.yaml" "$TDM_TMP/d1.yaml"
d1=$(sha256sum "$TDM_TMP/d1.yaml" | cut -d' ' -f1)
tdm_assert_ok "policy put drill" tdm_ctl policy put drill "$TDM_TMP/d1.yaml"
tdm_approved policy-set name=drill digest="$d1" zone=$Z >"$TDM_TMP/a1.out" 2>&1 ||
	tdm_fail "the zone's policy was not set" -- "$TDM_TMP/a1.out"
# the zone secure first (as a real one is): the drill policy's short timings ask for the
# first KSK's DS within seconds, and the parent is said to serve it. Without this the old
# KSK has no DS to retract, and whether it had one depended on which came first, the DS's
# submission or the algorithm change.
ds_of() { tdm_status_get "next((k['ds'] for k in zone('$Z')['keys'] if k['id'] == $1), None)" || true; }
ksk1_submitted() { [ "$(ds_of "$ksk1")" = submitted ]; }
tdm_wait 90 "the first KSK's DS to be submitted under the drill policy" ksk1_submitted
tdm_assert_ok "ds-seen for the first KSK $ksk1" tdm_ctl keys ds-seen --cluster --zone $Z --key "$ksk1"
ksk1_seen() { [ "$(ds_of "$ksk1")" = seen ]; }
tdm_wait 30 "the first KSK's DS to be seen" ksk1_seen
sed 's/algorithm: rsasha256/algorithm: rsasha512/' "$TDM_DATA/drill-policy.yaml" >"$TDM_TMP/d2.yaml"
d2=$(sha256sum "$TDM_TMP/d2.yaml" | cut -d' ' -f1)
tdm_assert_fails "the algorithm change needs approvals" tdm_ctl policy put drill "$TDM_TMP/d2.yaml"
tdm_approved policy-set name=drill digest="$d2" >"$TDM_TMP/a2.out" 2>&1 ||
	tdm_fail "the algorithm change was not approved" -- "$TDM_TMP/a2.out"
tdm_wait 60 "the holder to start the algorithm rollover" \
	grep -q "algorithm rollover 1/5" "$TDM_CL/log/node-a.log" "$TDM_CL/log/node-b.log"
tdm_pass "the policy change started an algorithm rollover, no restart"

# half-way: the other node takes the zone and the rollover
holder=$(tdm_holder $Z)
to=node-a
[ "$holder" = node-a ] && to=node-b
tdm_assert_ok "switchover mid-rollover: $holder -> $to" tdm_ctl switchover --zone $Z --to $to --wait 30

# the parent's DS set changes: the new KSK's DS in, the old one's out
new_ksk() {
	tdm_status_get "next((k['id'] for k in zone('$Z')['keys'] if k.get('role') == 'ksk' and k['id'] != $ksk1 and k.get('ds') == 'submitted'), None)" || true
}
has_new_ksk() { [ -n "$(new_ksk)" ]; }
tdm_wait 120 "the new KSK's DS to be submitted" has_new_ksk
ksk2=$(new_ksk)
tdm_assert_ok "ds-seen for the new KSK $ksk2" tdm_ctl keys ds-seen --cluster --zone $Z --key "$ksk2"
retracting() { [ "$(ds_of "$ksk1")" = retracting ]; }
tdm_wait 60 "the old KSK's DS to be retracted" retracting
tdm_assert_ok "ds-gone for the old KSK $ksk1" tdm_ctl keys ds-gone --cluster --zone $Z --key "$ksk1"
tdm_wait 120 "the algorithm rollover to end" \
	grep -q "algorithm rollover 5/5" "$TDM_CL/log/node-a.log" "$TDM_CL/log/node-b.log"
grep -q "algorithm rollover 5/5" "$TDM_CL/log/$to.log" ||
	tdm_fail "the rollover did not end on $to, which holds the zone since the switchover"
tdm_pass "the algorithm rollover ended on $to after the switchover"

# what the holder publishes: algorithm 10 only, and valid
holder=$(tdm_holder $Z)
only_alg10() {
	local f="$TDM_CL/$holder/out/${Z}zone"
	tdm_file_current "$holder" $Z || return 1
	[ "$(awk '$4 == "DNSKEY" && $7 != 10' "$f" | wc -l)" = 0 ] &&
		[ "$(awk '$4 == "DNSKEY" && $7 == 10' "$f" | wc -l)" -ge 2 ]
}
tdm_wait 60 "$holder to publish only algorithm 10 keys" only_alg10
[ "$(tdm_status_get "zone('$Z')['alerts']")" = 0 ] || tdm_fail "a standby digest disagreed"
pids_after=$(cat "$TDM_CL"/run/node-*.pid | sort | tr '\n' ' ')
[ "$pids_before" = "$pids_after" ] || tdm_fail "a node restarted"
tdm_check_publications node-a node-b
tdm_validate_published "$holder" $Z
tdm_pass "RSASHA256 -> RSASHA512 on a live cluster through a policy change"
tdm_cluster_sanitizer_check
