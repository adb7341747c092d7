#!/bin/bash
# Site isolation, in network namespaces the test creates (deploy/cluster-up.sh --netns; root):
# site A (its node, its coordinator and its etcd member) is cut off from site B and the
# witness while node-a is the active signer with a short cycle. Site A stops publishing within
# its lease (no publication by node-a later than the cut plus the lease); site B, with the
# witness's etcd quorum, takes over after expiry plus margin and publishes above A's last
# serial; when A returns (heal) node-a becomes the standby and agrees with B's digest. Across
# the whole run, checked over every publication of both sites: no serial was published twice
# with different digests, serials and epochs only rose, and every current file matches its
# log. The published zones validate.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd ip
[ "$(id -u)" = 0 ] || tdm_fail "this test creates network namespaces: run it as root"
Z=example.
LEASE_MS=10000

tdm_cluster_up --netns --cycle 3
holder=$(tdm_holder $Z)
if [ "$holder" != node-a ]; then
	tdm_ctl switchover --zone $Z --to node-a --wait 30 >/dev/null ||
		tdm_fail "could not make node-a the active signer"
fi
# a few cycles of node-a alone, and node-b's shadow agreeing
s0=$(tdm_last_serial node-a $Z)
tdm_wait 60 "node-a's next cycle" tdm_published_after node-a $Z "$s0"
tdm_pass "node-a signs $Z every 3 s"

"$TDM_SRC/deploy/partition.sh" "$TDM_CL" isolate A >"$TDM_TMP/isolate.out" 2>&1 ||
	tdm_fail "partition.sh isolate A failed" -- "$TDM_TMP/isolate.out"
t_cut=$(date +%s%3N)
sA=$(tdm_last_serial node-a $Z)
tdm_log "site A isolated at $t_cut; node-a's last serial so far $sA"

tdm_wait 60 "node-b to publish above $sA" tdm_published_after node-b $Z "$sA"
sB=$(tdm_last_serial node-b $Z)
[ "$(tdm_holder $Z)" = node-b ] || tdm_fail "node-b published but does not hold $Z"
tdm_pass "site B took over: serial $sB"

# node-a's publications after the cut must stop within its lease.
late=$(awk -v t=$((t_cut + LEASE_MS)) -v z=$Z '$2 == z && $1 > t' "$(tdm_publog node-a)")
[ -z "$late" ] || tdm_fail "node-a published after its lease ran out: $late"
said_stop() { grep -q "stop publishing" "$TDM_CL/log/node-a.log"; }
tdm_wait 20 "node-a to say it stopped publishing" said_stop
sleep 4 # two more of node-a's cycles
late=$(awk -v t=$((t_cut + LEASE_MS)) -v z=$Z '$2 == z && $1 > t' "$(tdm_publog node-a)")
[ -z "$late" ] || tdm_fail "isolated node-a kept publishing: $late"
tdm_pass "isolated site A stopped publishing within its lease"

"$TDM_SRC/deploy/partition.sh" "$TDM_CL" heal >"$TDM_TMP/heal.out" 2>&1 ||
	tdm_fail "partition.sh heal failed" -- "$TDM_TMP/heal.out"
t_heal=$(date +%s%3N)
# Back as the standby: it shadow-signs a serial node-b commits after the heal, and agrees.
agrees_after_heal() {
	local s
	s=$(tdm_last_serial node-b $Z)
	grep -q "serial $s: node-a agrees" "$TDM_CL"/log/coord-*.log
}
tdm_wait 60 "node-a back as the standby, agreeing with node-b" agrees_after_heal
[ "$(tdm_holder $Z)" = node-b ] || tdm_fail "node-a took $Z back after the heal" -- \
	"$TDM_CL/log/node-b.log" "$TDM_CL/log/node-a.log" "$TDM_CL/log/coord-b.log" "$TDM_CL/log/coord-a.log"
late=$(awk -v t="$t_heal" -v z=$Z '$2 == z && $1 > t' "$(tdm_publog node-a)")
[ -z "$late" ] || tdm_fail "node-a published after the heal without a lease: $late"
tdm_pass "after the heal node-a is the standby"

tdm_check_publications node-a node-b
tdm_validate_published node-a $Z
tdm_validate_published node-b $Z
tdm_pass "no serial published twice with different digests; both published zones validate"
