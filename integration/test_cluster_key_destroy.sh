#!/bin/bash
# Retired keys leave the HSMs (DPS 5.2.10; issue 9 item 5). A ZSK rollover on the cluster
# with the drill policy (ZSK lifetime 40 s, keys.archive-retention 30 s): once the old ZSK
# reaches `removed` in the key set, the coordinator retires it, each node destroys it in its
# SoftHSM token (C_DestroyObject on the private and public objects) and says so, and status
# lists both destroys. Checked on each node's token by logging in and searching the label
# (integration/p11count.py): two objects before, none after; the new ZSK is still on both.
# After the retention the key leaves the coordinator's table and its wrapped copy in etcd
# (PREFIX/archive/ZONE/ID) is emptied, the key stays; the published zones still validate.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd etcdctl
Z=example.

tdm_cluster_up --policy "$TDM_DATA/drill-policy.yaml" --cycle 3
MODULE=$(tdm_module)
# objects NODE ID: how many objects labelled as key ID of the zone NODE's token holds
objects() {
	SOFTHSM2_CONF=$TDM_CL/$1/hsm/softhsm2.conf python3 "$TDM_SRC/integration/p11count.py" \
		"$MODULE" "$1" "$TDM_CL/$1/hsm/user.pin" "tandem-example-$2"
}
key_in() {
	tdm_status_get "next((k['id'] for k in zone('$Z')['keys'] if k.get('role') == '$2' and k.get('state') == '$1'), None)" || true
}
zsk1=$(key_in active zsk)
[ -n "$zsk1" ] || tdm_fail "no active ZSK after cluster-up" -- "$TDM_CL/log/node-a.log"
for n in node-a node-b; do
	tdm_assert_eq "$n's token holds ZSK $zsk1 (private and public)" 2 "$(objects $n "$zsk1")"
done
tdm_pass "ZSK $zsk1 is in both tokens"
# shellcheck source=/dev/null
. "$TDM_CL/cluster.env"
mapfile -t etls < <(tdm_cluster_etcd_tls)
# generous timeouts: on a loaded machine etcdctl's defaults (2 s to dial over TLS) can run out
ETCDCTL=(etcdctl --endpoints "$ETCD_ENDPOINTS" --dial-timeout 10s --command-timeout 20s "${etls[@]}")
ARCHIVE_KEY=/tandem/v1/archive/example./$zsk1
# archived: the length of ZSK 1's archive entry ("-" when there is no such key); fails when
# etcdctl does (an unreachable etcd must not read as an empty entry)
archived() {
	local out
	out=$("${ETCDCTL[@]}" get --keys-only "$ARCHIVE_KEY") || return 1
	if [ -z "$out" ]; then
		printf -- '-\n'
		return 0
	fi
	# wc -c: the value is binary; an emptied one prints as a lone newline (1)
	out=$("${ETCDCTL[@]}" get --print-value-only "$ARCHIVE_KEY" | wc -c) || return 1
	printf '%s\n' "$out"
}
len=$(archived) || tdm_fail "etcdctl cannot read the archive"
if [ "$len" = - ] || [ "$len" -le 100 ]; then
	tdm_fail "ZSK $zsk1 has no archive entry in etcd ($len)"
fi

new_zsk_active() {
	local z
	z=$(key_in active zsk)
	[ -n "$z" ] && [ "$z" != "$zsk1" ]
}
tdm_wait 120 "a new ZSK to become active" new_zsk_active
zsk2=$(key_in active zsk)
tdm_pass "ZSK $zsk1 -> ZSK $zsk2"

destroyed_by_both() {
	[ "$(tdm_status_get "sorted(next(k for k in zone('$Z')['keys'] if k['id'] == $zsk1)['destroyed'])")" = "['node-a', 'node-b']" ]
}
tdm_wait 120 "ZSK $zsk1 to be destroyed at both sites" destroyed_by_both
[ "$(tdm_status_get "next(k for k in zone('$Z')['keys'] if k['id'] == $zsk1)['retired']")" = True ] ||
	tdm_fail "ZSK $zsk1 is not retired in status"
tdm_assert_ok "status (text)" tdm_ctl status
tdm_assert_grep "status lists the destroys" "key $zsk1 destroyed in the HSMs of: node-(a|b) node-(a|b)" "$TDM_OUT"
for n in node-a node-b; do
	tdm_assert_eq "$n's token no longer holds ZSK $zsk1" 0 "$(objects $n "$zsk1")"
	tdm_assert_eq "$n's token still holds ZSK $zsk2" 2 "$(objects $n "$zsk2")"
	grep -q "retired key $zsk1 (tag [0-9]*) destroyed in the HSM" "$TDM_CL/log/$n.log" ||
		tdm_fail "$n did not log the destroy of key $zsk1" -- "$TDM_CL/log/$n.log"
done
tdm_pass "ZSK $zsk1 destroyed in both HSMs, recorded with the key"

# after the retention: out of the table, the wrapped copy emptied (the id stays taken)
gone() { [ "$(tdm_status_get "$zsk1 in [k['id'] for k in zone('$Z')['keys']]")" = False ]; }
tdm_wait 90 "ZSK $zsk1 to leave the key table after the retention" gone
# the coordinator empties the entry just after the purge: wait for it (etcdctl may also fail
# for a moment under load), then the key must still be there, empty
emptied() {
	len=$(archived) || return 1
	[ "$len" = - ] || [ "$len" -le 1 ]
}
tdm_wait 60 "the archive entry of ZSK $zsk1 to be emptied after the retention" emptied
[ "$len" != - ] || tdm_fail "the emptied archive entry of ZSK $zsk1 is gone (its id would be free again)"
tdm_pass "ZSK $zsk1 purged after the retention: archive entry emptied"

tdm_check_publications node-a node-b
holder=$(tdm_holder $Z)
tdm_validate_published "$holder" $Z
tdm_pass "the published zone validates; no serial published twice"
tdm_cluster_sanitizer_check
