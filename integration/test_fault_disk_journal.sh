#!/bin/bash
# Fault: the disk of the active node's journal (--work) fills up (issue 13, "Fault
# injection"; the full --out is test_node_files.sh's part 3). The active's --work is a small
# tmpfs (mounted in a private mount namespace: this script runs itself under unshare -m, as
# root; without the right to mount it exits 77, ctest's "skipped", saying so), filled until
# a write fails. Then:
#  - detected and alerted: the run fails and the zone's blocking "disk" alert is raised
#    naming the journal file and "No space left on device" (log,
#    tandem_alert{reason="disk"} in the node's metrics, the node's alerts in
#    `tandemctl status --json`);
#  - nothing bad published: nothing the journal does not hold is committed or published (no
#    publish.log line while the disk is full), the published file keeps the digest of its
#    last publish.log line, and the journal is not corrupt (tandem-journal show reads it);
#  - recovery without an operator: space freed, the zone is published again within seconds
#    of the node's retry, the alert clears, and the journal's newest entry ends at the
#    serial last published.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
if [ -z "${TDM_MOUNT_NS:-}" ]; then
	if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null ||
		! unshare -m --propagation private true 2>/dev/null; then
		echo "SKIP: this test mounts a tmpfs in a mount namespace of its own (unshare -m), which needs root" >&2
		exit 77
	fi
	exec env TDM_MOUNT_NS=1 unshare -m --propagation private bash "$0" "$@"
fi
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd curl
Z=example.
N=node-a
J=$(tdm_bin tandem-journal)

tdm_cluster_up --cycle 3
LOG=$TDM_CL/log/$N.log
WORK=$TDM_CL/$N/work
gone() { ! kill -0 "$1" 2>/dev/null; }

# ---- node-a restarted on a 2 MiB tmpfs --work, made the active ------------------------------
pid=$(cat "$TDM_CL/run/$N.pid")
kill "$pid"
tdm_wait 30 "$N to stop" gone "$pid"
cp -a "$WORK" "$TDM_TMP/work.saved"
if ! mount -t tmpfs -o size=2m,mode=0700 tmpfs "$WORK"; then
	echo "SKIP: mount -t tmpfs is not permitted here" >&2
	exit 77
fi
tdm_on_exit "umount -l '$WORK' 2>/dev/null || true"
cp -a "$TDM_TMP/work.saved/." "$WORK/"
bash "$TDM_CL/run/$N.start"
healthy() { [ "$(tdm_status_get "node('$N')['healthy']")" = True ]; }
tdm_wait 60 "$N to be back and healthy" healthy
active() {
	local h
	h=$(tdm_holder $Z)
	[ "$h" = $N ] && return 0
	[ -n "$h" ] && tdm_ctl switchover --zone $Z --to $N --wait 30 >>"$TDM_TMP/switchover.out" 2>&1
	[ "$(tdm_holder $Z)" = $N ]
}
tdm_wait 120 "$N to be the active of $Z" active
s0=$(tdm_last_serial $N $Z)
tdm_wait 60 "$N to publish with its journal on the tmpfs" tdm_published_after $N $Z "${s0:-0}"
jfile=$(find "$WORK" -maxdepth 1 -name '*journal' -type f | head -n 1)
[ -n "$jfile" ] || tdm_fail "no journal in $WORK"
"$J" show "$jfile" >/dev/null || tdm_fail "$jfile does not read before the fault"
tdm_pass "$N is the active with its journal $jfile on a 2 MiB tmpfs"

# ---- the disk fills up ---------------------------------------------------------------------------
metrics() {
	local ep
	ep=$(sed -n 's/^metrics //p' "$LOG" | tail -n 1)
	curl -fsS --max-time 5 "http://$ep/metrics"
}
publog=$(tdm_publog $N)
lines=$(wc -l <"$LOG")
dd if=/dev/zero of="$WORK/fill" bs=4k >/dev/null 2>&1 || true
t_full=$(date +%s)
# a run already past its journal may still publish: the count is taken at the alert
full() { tail -n +"$((lines + 1))" "$LOG" | grep -q "zone $Z: ALERT disk: .*No space left on device"; }
tdm_wait 60 "$N to name the full disk" full
n_full=$(wc -l <"$publog")
tdm_pass "$N alerted $(($(date +%s) - t_full)) s after the disk filled: $(tail -n +"$((lines + 1))" "$LOG" | grep -m1 "ALERT disk" | cut -d' ' -f4- | cut -c1-200)"
tail -n +"$((lines + 1))" "$LOG" | grep "zone $Z: ALERT disk: $jfile: No space left on device: nothing published" >/dev/null ||
	tdm_fail "$N's disk alert does not name the journal $jfile" -- "$LOG"
disk_metric() { metrics | grep -q "^tandem_alert{zone=\"$Z\",reason=\"disk\""; }
tdm_wait 30 "$N's metrics to show the disk alert" disk_metric
# the coordinators have it from the node's heartbeat: tandemctl status --json
disk_status() { [ "$(tdm_status_get "[a['kind'] for a in node('$N')['alerts'] if a['zone'] == '$Z' and a['blocking']]")" = "['disk']" ]; }
tdm_wait 30 "tandemctl status to list $N's blocking disk alert for $Z" disk_status
tries() { [ "$(tail -n +"$((lines + 1))" "$LOG" | grep -c "run failed")" -ge 3 ]; }
tdm_wait 60 "$N to try again while the disk is full" tries
[ "$(wc -l <"$publog")" = "$n_full" ] || tdm_fail "$N published while its journal could not be written"
"$J" show "$jfile" >"$TDM_TMP/journal-full.txt" || tdm_fail "$jfile does not read while the disk is full: corrupt?"
tdm_file_current $N $Z || tdm_fail "$N's file does not have the digest of its last publish.log line"
tdm_pass "nothing published while the disk was full; the journal reads ($(wc -l <"$TDM_TMP/journal-full.txt") entries) and the file is the last publication's"

# ---- space freed: published again, alert cleared -----------------------------------------------
sF=$(tdm_last_serial $N $Z)
rm -f "$WORK/fill"
t_free=$(date +%s)
tdm_wait 60 "a publication of $Z above $sF once space is back" tdm_published_after $N $Z "$sF"
cleared() { tail -n +"$((lines + 1))" "$LOG" | grep -q "zone $Z: disk space is back (alert disk cleared)"; }
tdm_wait 30 "$N to clear its disk alert" cleared
tdm_pass "$N published again $(($(date +%s) - t_free)) s after space came back"
no_disk_metric() { metrics >"$TDM_TMP/metrics.txt" && ! grep -q "^tandem_alert{zone=\"$Z\",reason=\"disk\"" "$TDM_TMP/metrics.txt"; }
tdm_wait 30 "$N's metrics to drop the disk alert" no_disk_metric
no_disk_status() { [ "$(tdm_status_get "[a['kind'] for a in node('$N')['alerts'] if a['kind'] == 'disk']")" = "[]" ]; }
tdm_wait 30 "tandemctl status to drop $N's disk alert" no_disk_status
# the journal's newest entry ends at the serial last published (the writer and the journal
# follow publish.log; a newer run may be in flight: looked at a few times)
journal_follows() {
	local last
	"$J" show "$jfile" >"$TDM_TMP/journal.txt" 2>&1 || return 1
	last=$(awk 'END { print $3 }' "$TDM_TMP/journal.txt")
	[ "$last" = "$(tdm_last_serial $N $Z)" ]
}
tdm_wait 30 "$N's journal to end at its last published serial" journal_follows
tdm_validate_published $N $Z
tdm_check_publications node-a node-b
tdm_pass "the journal ends at serial $(tdm_last_serial $N $Z), the last published; no serial published twice"
tdm_cluster_sanitizer_check
