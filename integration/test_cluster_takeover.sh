#!/bin/bash
# Disaster recovery, as docs/cluster.md tells the operator to do it: site A (node-a, coord-a,
# etcd-a) and the witness's etcd are lost while node-a is the active signer. Site B alone
# holds one etcd member of three: no quorum, so nothing is granted and node-b publishes
# nothing. The operator restarts site B's etcd member with --force-new-cluster (a one-member
# cluster with all the data), then runs `tandemctl takeover --site B --force`: node-a is
# fenced (its CURVE key revoked, the epoch raised), node-b publishes the next serial of its
# residue class, and the published zone validates. node-a, started again, gets no answer from
# any coordinator and publishes nothing; status shows it fenced. No serial has two digests.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd curl
Z=example.

tdm_cluster_up --cycle 5
if [ "$(tdm_holder $Z)" != node-a ]; then
	tdm_ctl switchover --zone $Z --to node-a --wait 30 >/dev/null || tdm_fail "node-a could not take $Z"
fi
# node-a's own publication first (after a switchover it may not have one yet): the serial
# site B must publish above
a_published() { [ -n "$(tdm_last_serial node-a $Z)" ]; }
tdm_wait 60 "node-a to publish $Z" a_published
epoch1=$(tdm_status_get "zone('$Z')['epoch']")
s1=$(tdm_last_serial node-a $Z)

# The disaster: site A and the witness are gone.
for p in node-a coord-a etcd-a etcd-w; do
	kill -9 "$(cat "$TDM_CL/run/$p.pid")"
done
t_loss=$(date +%s%3N)
tdm_log "killed node-a, coord-a, etcd-a and etcd-w (kill -9)"
expect_no_quorum() { ! tdm_ctl status >/dev/null 2>&1; }
tdm_wait 30 "status to fail without quorum" expect_no_quorum
sleep 15 # longer than lease + margin: still nothing may be granted
tdm_published_after node-b $Z "$s1" && tdm_fail "node-b published without an etcd quorum"
tdm_pass "site B alone has no quorum and publishes nothing"

# Recovery step 1: etcd-b becomes a one-member cluster with the data it has.
epid=$(cat "$TDM_CL/run/etcd-b.pid")
kill "$epid"
# gone before it starts again on the same data dir and ports (a second etcd-b would fail to
# start: under load the old one took more than the second this test used to give it)
etcd_b_gone() { ! kill -0 "$epid" 2>/dev/null; }
tdm_wait 60 "etcd-b to exit" etcd_b_gone
sed 's| </dev/null| --force-new-cluster </dev/null|' "$TDM_CL/run/etcd-b.start" >"$TDM_TMP/etcd-b.force"
bash "$TDM_TMP/etcd-b.force"
status_ok() { tdm_ctl status >/dev/null 2>&1; }
tdm_wait 40 "status through coord-b after --force-new-cluster" status_ok
# Recovery step 2: site B takes over; site A is fenced.
# (multi-person control: the recovered cluster keeps its role table, so the forced takeover
# is requested and approved by sa1 + so1, docs/approvals.md)
tdm_assert_ok "takeover of site B, approved by sa1 (SA) and so1 (SO)" tdm_approved takeover site=B
tdm_assert_grep "node-a fenced" 'node-a' "$TDM_OUT"
[ "$(tdm_status_get "node('node-a')['state']")" = fenced ] || tdm_fail "node-a is not fenced"
tdm_wait 40 "node-b to publish above $s1" tdm_published_after node-b $Z "$s1"
s2=$(tdm_last_serial node-b $Z)
epoch2=$(tdm_status_get "zone('$Z')['epoch']")
[ "$epoch2" -gt "$epoch1" ] || tdm_fail "the epoch did not rise: $epoch1 -> $epoch2"
[ $((s2 % 2)) = 1 ] || tdm_fail "serial $s2 of site B is not odd"
tdm_validate_published node-b $Z
tdm_pass "after the takeover node-b publishes serial $s2 (epoch $epoch2)"

# The lost node comes back: fenced, unanswered, silent.
bash "$TDM_CL/run/node-a.start"
sleep 12
late=$(awk -v t="$t_loss" -v z=$Z '$2 == z && $1 > t' "$(tdm_publog node-a)")
[ -z "$late" ] || tdm_fail "fenced node-a published: $late"
grep -q "revok" "$TDM_CL/log/coord-b.log" || tdm_fail "coord-b did not log the revocation" -- "$TDM_CL/log/coord-b.log"
[ "$(tdm_holder $Z)" = node-b ] || tdm_fail "node-b lost $Z to a fenced node"
tdm_check_publications node-a node-b
tdm_pass "the fenced node-a, back, publishes nothing; no serial published twice"
