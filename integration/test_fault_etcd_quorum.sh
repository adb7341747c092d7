#!/bin/bash
# Fault: etcd loses its quorum while the active node commits (issue 13, "Fault injection").
# With the active signing every 3 s, two of the three etcd members (the sites' own, the
# witness survives) go the moment the active's log shows a finished signing run, so the
# commit that follows meets a coordinator without a quorum: etcd-a is killed (kill -9: its
# port refuses), etcd-b stopped (SIGSTOP: calls to it hang until the client's timeout).
# Then:
#  - detected and alerted: the coordinators log the loss, their metrics say
#    tandem_coord_etcd_reachable 0, `tandemctl status` answers STALE ("etcd has no quorum",
#    exit 5);
#  - nothing bad published: every serial any node published was committed (a coordinator's
#    "serial S committed" effect), the active stops publishing at its lease deadline, and no
#    node publishes anything while the quorum is gone;
#  - recovery without an operator: etcd-a started again and etcd-b continued (SIGCONT),
#    status is fresh, a node
#    publishes a serial above the last one, no serial has two digests, serials and epochs
#    rise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd curl python3
Z=example.

tdm_cluster_up --cycle 3
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z after cluster-up"
LOG=$TDM_CL/log/$A.log
s0=$(tdm_last_serial "$A" $Z)
tdm_wait 30 "$A's next publication" tdm_published_after "$A" $Z "${s0:-0}"

# all publications so far, both nodes
published_count() {
	local n total=0 f
	for n in node-a node-b; do
		f=$(tdm_publog $n)
		[ -f "$f" ] && total=$((total + $(wc -l <"$f")))
	done
	echo "$total"
}
coord_metrics() {
	local ep
	ep=$(sed -n 's/^metrics //p' "$TDM_CL/log/$1.log" | tail -n 1)
	[ -n "$ep" ] || return 1
	curl -fsS --max-time 5 "http://$ep/metrics"
}

# ---- the quorum goes just as a run ends (its commit follows) -----------------------------------
runs=$(grep -c "zone $Z: signing run: " "$LOG" || true)
ran() { [ "$(grep -c "zone $Z: signing run: " "$LOG" || true)" -gt "$runs" ]; }
until=$((SECONDS + 30))
while ! ran; do
	[ "$SECONDS" -lt "$until" ] || tdm_fail "no signing run of $A within 30 s" -- "$LOG"
	sleep 0.02
done
la=$(wc -l <"$LOG")
lca=$(wc -l <"$TDM_CL/log/coord-a.log")
lcb=$(wc -l <"$TDM_CL/log/coord-b.log")
# etcd-a dies (its port refuses at once), etcd-b hangs (SIGSTOP: calls to it time out)
kill -9 "$(cat "$TDM_CL/run/etcd-a.pid")"
kill -STOP "$(cat "$TDM_CL/run/etcd-b.pid")"
cont_b() { kill -CONT "$(cat "$TDM_CL/run/etcd-b.pid")" 2>/dev/null || true; }
tdm_on_exit cont_b
t_kill=$(date +%s)
tdm_log "etcd-a killed and etcd-b stopped right after $A's run (only etcd-w answers)"
lost() {
	tail -n +"$((lca + 1))" "$TDM_CL/log/coord-a.log" | grep "store: .*status answers from the state read" >/dev/null ||
		tail -n +"$((lcb + 1))" "$TDM_CL/log/coord-b.log" | grep "store: .*status answers from the state read" >/dev/null
}
tdm_wait 30 "a coordinator to log the lost quorum" lost
unreachable() { coord_metrics coord-a | grep -q '^tandem_coord_etcd_reachable 0'; }
tdm_wait 30 "coord-a's metrics to say etcd is unreachable" unreachable
stale_status() {
	local rc=0
	tdm_ctl status >"$TDM_TMP/status.txt" 2>&1 || rc=$?
	[ "$rc" = 5 ] && grep -q "STALE" "$TDM_TMP/status.txt" && grep -q "etcd has no quorum" "$TDM_TMP/status.txt"
}
tdm_wait 30 "tandemctl status to answer STALE: etcd has no quorum (exit 5)" stale_status
tdm_pass "the lost quorum is seen $(($(date +%s) - t_kill)) s after the kill: coordinator log, metrics, status STALE (exit 5)"
stopped() { tail -n +"$((la + 1))" "$LOG" | grep -q "zone $Z: stop publishing under epoch [0-9]*: "; }
tdm_wait 60 "$A to stop publishing at its lease deadline" stopped
n_stop=$(published_count)
# a few cycles without a quorum: nobody publishes
sleep_cycles() { [ $(($(date +%s) - t_kill)) -ge 15 ]; }
tdm_wait 30 "15 s without a quorum" sleep_cycles
[ "$(published_count)" = "$n_stop" ] || tdm_fail "a node published while etcd had no quorum"
tdm_pass "$A stopped publishing at its lease deadline; nothing published without a quorum"

# ---- the members come back: recovery without an operator -------------------------------------
sMax=$(tdm_last_serial node-a $Z)
sB=$(tdm_last_serial node-b $Z)
[ "${sB:-0}" -gt "${sMax:-0}" ] && sMax=$sB
bash "$TDM_CL/run/etcd-a.start"
cont_b
t_back=$(date +%s)
fresh() { tdm_ctl status >/dev/null 2>&1; }
tdm_wait 60 "tandemctl status to be fresh again" fresh
above() { tdm_published_after node-a $Z "$sMax" || tdm_published_after node-b $Z "$sMax"; }
tdm_wait 90 "a node to publish $Z above $sMax" above
tdm_pass "published again $(($(date +%s) - t_back)) s after the members came back (holder $(tdm_holder $Z))"

# every published serial was committed by a coordinator (the effect line) under that epoch
python3 - "$(tdm_publog node-a)" "$(tdm_publog node-b)" "$TDM_CL"/log/coord-*.log <<'PY' || tdm_fail "a serial was published without a commit"
import re, sys
committed = set()
for path in sys.argv[3:]:
    for line in open(path, errors="replace"):
        m = re.search(r"effect: zone (\S+): serial (\d+) committed by (\S+), epoch (\d+)", line)
        if m:
            committed.add((m.group(1), int(m.group(2)), m.group(3), int(m.group(4))))
bad = n = 0
for path, node in ((sys.argv[1], "node-a"), (sys.argv[2], "node-b")):
    try:
        lines = open(path).read().split("\n")
    except FileNotFoundError:
        continue
    for line in filter(None, lines):
        t, zone, serial, digest, epoch = line.split()
        n += 1
        if (zone, int(serial), node, int(epoch)) not in committed:
            print("%s published %s serial %s epoch %s: no commit of it" % (node, zone, serial, epoch))
            bad += 1
print("%d publications, %d commits seen" % (n, len(committed)))
sys.exit(1 if bad else 0)
PY
tdm_check_publications node-a node-b
tdm_pass "every publication was committed first; no serial with two digests; serials and epochs rise"
tdm_cluster_sanitizer_check
