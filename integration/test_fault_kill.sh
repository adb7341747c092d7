#!/bin/bash
# Fault injection (issue 13): a node killed (SIGKILL) at the points of a cycle where a random
# kill -9 rarely lands, over many iterations on a local cluster, never leaves a
# half-written or unverified published zone, a serial going back, or one serial with two
# contents; after each restart the cluster publishes again with no operator action, and
# the published file and the journal agree.
# The points (tandem_fault(), docs/testing.md "Fault points"), in turn:
#   run-gated         signed and gated, nothing journaled or committed
#   journal-appended  the changeset in the journal, the commit not yet sent
#   commit-accepted   the coordinator accepted the commit, the publish.log line not written
#   published         the publish.log line fsync'ed, the file not yet written
#   writer-written    the file's temporary copy written, not yet renamed
# Whichever node reaches the point first dies there (the standby journals and writes its
# shadow copy too); the other publishes a new serial before the dead one is started again, so
# a node killed between its publish.log line and its file comes back as the standby and must
# bring its file up to date from its journal by itself (tdm_files_catch_up). Each iteration arms one point for its Nth pass (N random, 1 to 3).
# Iterations: TANDEM_FAULT_ITERATIONS (default 5, one per point: the suite's share; run
# 50 or more on demand: TANDEM_FAULT_ITERATIONS=50 bash integration/test_fault_kill.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.
ITER=${TANDEM_FAULT_ITERATIONS:-5}
case $ITER in '' | *[!0-9]*) tdm_fail "TANDEM_FAULT_ITERATIONS: a number" ;; esac
points=(run-gated journal-appended commit-accepted published writer-written)

export TANDEM_FAULT_FILE=$TDM_TMP/fault
tdm_cluster_up --cycle 2
unset TANDEM_FAULT_FILE
tdm_wait 90 "a first publication" tdm_published_after "$(tdm_holder $Z)" $Z 0

# top: the highest serial any node published
top() {
	local a b
	a=$(tdm_last_serial node-a $Z)
	b=$(tdm_last_serial node-b $Z)
	echo $((${a:-0} > ${b:-0} ? ${a:-0} : ${b:-0}))
}
dead_node() {
	local n pid
	for n in node-a node-b; do
		pid=$(cat "$TDM_CL/run/$n.pid" 2>/dev/null || true)
		if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
			DEAD=$n
			return 0
		fi
	done
	return 1
}
hit() { [ -e "$TDM_TMP/fault.hit" ]; }
# journal_has NODE SERIAL: NODE's journal holds an entry ending at SERIAL
journal_has() {
	"$(tdm_bin tandem-journal)" show "$TDM_CL/$1/work/${Z}journal" 2>/dev/null | awk -v s="$2" '$3 == s { f = 1 } END { exit !f }'
}

declare -A kills=()
for ((i = 1; i <= ITER; i++)); do
	p=${points[$(((i - 1) % ${#points[@]}))]}
	n=$((1 + RANDOM % 3))
	printf '%s %s\n' "$p" "$n" >"$TDM_TMP/fault"
	tdm_wait 120 "iteration $i: a node to reach fault point $p ($n)" hit
	mv "$TDM_TMP/fault.hit" "$TDM_TMP/fault.$i"
	DEAD=
	tdm_wait 30 "iteration $i: the node that hit $p to be gone" dead_node
	grep -q "fault point $p hit $n: killing myself" "$TDM_CL/log/$DEAD.log" ||
		tdm_fail "iteration $i: $DEAD died without its fault line" -- "$TDM_CL/log/$DEAD.log"
	kills[$DEAD]=$((${kills[$DEAD]:-0} + 1))
	at=$(top)
	other=node-a
	[ "$DEAD" = node-a ] && other=node-b
	# the cluster goes on by itself: the other node publishes a serial above the one at the
	# kill (taking over when the dead node was the active) before the dead one comes back,
	# which then starts as the standby: its file must still catch up with its publish.log
	tdm_wait 120 "iteration $i: $other to publish after $DEAD died at $p" tdm_published_after "$other" $Z "$at"
	TANDEM_FAULT_FILE=$TDM_TMP/fault bash "$TDM_CL/run/$DEAD.start"
	tdm_log "iteration $i ($p on $DEAD): checking the publications"
	tdm_check_publications node-a node-b
	h=$(tdm_holder $Z)
	s=$(tdm_last_serial "$h" $Z)
	tdm_wait 30 "iteration $i: $h's journal to hold its published serial $s" journal_has "$h" "$s"
	tdm_log "iteration $i: $DEAD killed at $p (pass $n) at serial $at; $h published $s since"
done

# every file any node has put in place validates, and the holder's is current
for n in node-a node-b; do
	[ -f "$TDM_CL/$n/out/${Z}zone" ] || continue
	tdm_validate_published "$n" $Z
done
tdm_check_publications node-a node-b
tdm_pass "$ITER kills at ${#points[@]} fault points (node-a ${kills[node-a]:-0}, node-b ${kills[node-b]:-0}): serials only rose, no serial with two digests, files current and valid, journals agree"
