#!/bin/bash
# A node whose main loop is stuck (an HSM call, a disk, a long key generation) keeps its
# leases: the renewal thread renews them meanwhile. The holder's loop thread is made to
# sleep 25 s (fault point `loop-NODE 1 pause 25`: only that thread sleeps), more than twice
# the cluster's 10 s lease. Throughout, the coordinators see the same holder and epoch;
# afterwards the holder never said "stop publishing", the other node never took the zone,
# and the cluster goes on signing under the same epoch.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.
PAUSE=25

export TANDEM_FAULT_FILE=$TDM_TMP/fault # absent until armed: inert
tdm_cluster_up --cycle 20
unset TANDEM_FAULT_FILE
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z after cluster-up"
E=$(tdm_status_get "zone('$Z')['epoch']")
LOG=$TDM_CL/log/$A.log
s1=$(tdm_last_serial "$A" $Z)

printf 'loop-%s 1 pause %s\n' "$A" "$PAUSE" >"$TDM_TMP/fault"
hit() { grep -q "fault point loop-$A hit" "$LOG"; }
tdm_wait 60 "$A's loop to reach the fault point" hit
tdm_log "$A's loop sleeps ${PAUSE}s (epoch $E)"
t0=$SECONDS
# while the loop sleeps (past the lease and its margin): the coordinators still see A
held_by_a() {
	[ "$(tdm_holder $Z)" = "$A" ] &&
		[ "$(tdm_status_get "zone('$Z')['epoch']")" = "$E" ]
}
# (a look takes seconds on a loaded machine: at least one must start after the lease and
# its margin, 12 s, had run out without renewals)
checks=0 late=0
while [ $((SECONDS - t0)) -lt $((PAUSE - 1)) ]; do
	at=$((SECONDS - t0))
	held_by_a || tdm_fail "$Z left $A (or its epoch moved) ${at} s into the stall" -- "$LOG"
	checks=$((checks + 1))
	[ "$at" -lt 13 ] || late=$((late + 1))
	sleep 1
done
[ "$late" -ge 1 ] || tdm_fail "no look at the status 13 s or more into the stall ($checks looks)"
tdm_pass "$A held $Z under epoch $E throughout its loop's ${PAUSE}s stall ($checks looks, $late after 13 s)"

resumed() { grep -q "fault point loop-$A hit" "$LOG" && [ $((SECONDS - t0)) -ge "$PAUSE" ]; }
tdm_wait 60 "the stall to end" resumed
sleep 2 # the loop takes the renewals' answers at its next turn
tdm_assert_no_grep "$A kept publishing" "zone $Z: stop publishing under epoch" "$LOG"
held_by_a || tdm_fail "$Z left $A after the stall"
B=node-a
[ "$A" != node-a ] || B=node-b
tdm_assert_no_grep "$B never took $Z" "zone $Z: lease granted" "$TDM_CL/log/$B.log"
tdm_pass "after the stall $A still holds $Z under epoch $E; it never said stop; $B never took it"

# and the cluster signs on: A publishes its next cycle under the same epoch
tdm_wait 90 "$A to publish above $s1" tdm_published_after "$A" $Z "$s1"
[ "$(tdm_status_get "zone('$Z')['epoch']")" = "$E" ] || tdm_fail "the epoch moved after the stall"
tdm_check_publications node-a node-b
tdm_pass "$A published serial $(tdm_last_serial "$A" $Z) after the stall, epoch $E"
tdm_cluster_sanitizer_check
