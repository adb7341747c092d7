#!/bin/bash
# The signed file written off the cycle, and the cycle of an unchanged input (issue 10).
#  - the file: each publication (publish.log line) is followed by the file, written by the
#    node's writer thread: it eventually has the zone digest of the last line;
#  - no change: a run of the cycle timer copies the unsigned zone kept in memory without
#    even reading the untouched input ("input untouched, not read"), an identical copy of the
#    input renamed into place is compared with the good copy (or hashed in pieces when that
#    copy is out of the page cache), not read whole or parsed ("input unchanged (compared with
#    its good copy), parse skipped"); no new RRSIG but the SOA's, and the standby agrees;
#  - a file that lags: both nodes started with the writer delayed (TANDEMD_TEST_WRITE_DELAY_MS,
#    test-only), serials published and shadowed, both killed (kill -9) before any file caught
#    up, started again without the delay: each node brings its lagging file up to the serial
#    of its last publish.log line from its journal at start ("brought up to date from the
#    journal (digest checked) and written"; a node with no published file of its own does
#    it in its first run, from its shadow copy), the active's first run builds on it
#    (signatures reused, not a full signing), and the standby agrees.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.

tdm_cluster_up --cycle 3
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z after cluster-up"
B=node-a
[ "$A" = node-a ] && B=node-b
log() { printf '%s\n' "$TDM_CL/log/$1.log"; }
agrees() { grep -q "zone $Z: shadow run of serial $2: .*$1 agrees" "$(log "$1")"; }
run_line() { grep "zone $Z: signing run: serial $2, " "$(log "$1")" | tail -n 1; }
# file_current NODE: NODE's file has the digest of its last publish.log line
file_current() { tdm_file_current "$1" $Z; }
in_sync() {
	local s
	s=$(tdm_last_serial "$1" $Z)
	[ -n "$s" ] && agrees "$2" "$s"
}

# ---- the file follows the publication ---------------------------------------------------------
tdm_wait 60 "$A to publish" tdm_published_after "$A" $Z 0
tdm_wait 60 "$A's file to have its last publication's digest" file_current "$A"
grep -q "zone $Z: wrote serial [0-9]* to .*${Z}zone" "$(log "$A")" ||
	tdm_fail "$A did not say it wrote the file" -- "$(log "$A")"
tdm_pass "$A's file follows its publications (written off the cycle)"

# ---- no change: the cycle timer, then an identical copy renamed into place ------------------
# unchanged_after NODE SERIAL: NODE published a serial above SERIAL from the kept unsigned zone
UNCH=
unchanged_after() {
	local s line
	s=$(tdm_last_serial "$1" $Z)
	[ -n "$s" ] && [ "$s" -gt "$2" ] || return 1
	line=$(run_line "$1" "$s")
	[[ $line == *"input untouched, not read, parse skipped"* ]] || return 1
	UNCH=$s
}
s0=$(tdm_last_serial "$A" $Z)
tdm_wait 60 "$A to publish a cycle of the unchanged input" unchanged_after "$A" "$s0"
nw=$(run_line "$A" "$UNCH" | sed -nE 's/.*RRSIGs ([0-9]+) new .*/\1/p')
[ "$nw" = 1 ] || tdm_fail "the unchanged cycle of serial $UNCH made $nw new RRSIGs, not only the SOA's: $(run_line "$A" "$UNCH")"
tdm_wait 60 "$B to agree on serial $UNCH" agrees "$B" "$UNCH"
tdm_pass "timer cycle of an untouched input: serial $UNCH read and parsed nothing, 1 new RRSIG (SOA); $B agrees"
in=$TDM_CL/$A/in/example.zone
mark=$(wc -l <"$(log "$A")")
cp "$in" "$in.new"
mv "$in.new" "$in"
renamed_unchanged() {
	tail -n +"$((mark + 1))" "$(log "$A")" | grep "zone $Z: signing run: serial " |
		grep -qE "input unchanged \((compared with its good copy|hashed in pieces)\), parse skipped"
}
tdm_wait 60 "$A to sign the identical copy without parsing it" renamed_unchanged
tdm_pass "an identical copy renamed into place (a new inode) is compared with the good copy, not read whole or parsed again"

# ---- a file that lags the journal, and a restart -------------------------------------------
tdm_wait 60 "$B to have shadowed $A's latest serial" in_sync "$A" "$B"
kill -9 "$(cat "$TDM_CL/run/node-a.pid")" "$(cat "$TDM_CL/run/node-b.pid")"
file_serial=$(tdm_last_serial "$A" $Z)
mark_a=$(wc -l <"$(log node-a)")
TANDEMD_TEST_WRITE_DELAY_MS=600000 bash "$TDM_CL/run/node-a.start"
TANDEMD_TEST_WRITE_DELAY_MS=600000 bash "$TDM_CL/run/node-b.start"
tdm_log "both nodes started again with the file writer delayed by 600 s (test-only)"
lagging() {
	local h s
	h=$(tdm_holder $Z)
	[ -n "$h" ] || return 1
	s=$(tdm_last_serial "$h" $Z)
	[ -n "$s" ] && [ "$s" -gt "$file_serial" ] || return 1
	# two publications after the restart, the standby agreeing on the last one
	[ "$(tail -n +"$((mark_a + 1))" "$(log "$h")" | grep -c "zone $Z: published serial " || true)" -ge 2 ] ||
		[ "$(awk -v z=$Z -v f="$file_serial" '$2 == z && $3 > f' "$(tdm_publog "$h")" | wc -l)" -ge 2 ] ||
		return 1
	local o=node-a
	[ "$h" = node-a ] && o=node-b
	agrees "$o" "$s" || return 1
	H=$h
	O=$o
	LAG=$s
}
H=
O=
LAG=
tdm_wait 120 "serials published and shadowed while the files lag" lagging
file_current "$H" && tdm_fail "$H's file already has serial $LAG: the writer was not delayed"
kill -9 "$(cat "$TDM_CL/run/node-a.pid")" "$(cat "$TDM_CL/run/node-b.pid")"
tdm_log "killed both nodes at serial $LAG, $H's file still at an older serial"
mark_h=$(wc -l <"$(log "$H")")
mark_o=$(wc -l <"$(log "$O")")
# the node whose file lags starts first and takes the lease, so that its first run is the
# one that must build on the file and the journal; the other follows as its standby
bash "$TDM_CL/run/$H.start"
# (its own log: the status names the killed holder until that lease runs out)
holds_h() { tail -n +"$((mark_h + 1))" "$(log "$H")" | grep -q "zone $Z: lease granted"; }
tdm_wait 120 "$H to take the lease after the restart" holds_h
bash "$TDM_CL/run/$O.start"
replayed() {
	local h s line mark=$mark_h
	h=$(tdm_holder $Z)
	[ -n "$h" ] || return 1
	[ "$h" = "$O" ] && mark=$mark_o
	s=$(tdm_last_serial "$h" $Z)
	[ -n "$s" ] && [ "$s" -gt "$LAG" ] || return 1
	line=$(tail -n +"$((mark + 1))" "$(log "$h")" | grep "zone $Z: signing run: serial " | head -n 1)
	[ -n "$line" ] || return 1
	printf '%s\n' "$line" >"$TDM_TMP/replay.line"
	H2=$h
	PUB=$(sed -nE 's/.*signing run: serial ([0-9]+), .*/\1/p' <<<"$line")
}
H2=
PUB=
tdm_wait 90 "a publication after the restart" replayed
line=$(cat "$TDM_TMP/replay.line")
# the journal brought the node's copy up to serial LAG: at start, when it had a published
# file that lagged (tdm_files_catch_up), else in its first run, from its shadow copy (a
# node that was the standby before has no published file of its own)
caught_up() { tail -n +"$((mark_h + 1))" "$(log "$H")" | grep "zone $Z: .* held serial [0-9]*, publish.log says $LAG was published: brought up to date from the journal (digest checked) and written" >/dev/null; }
caught_up || [[ $line == *"built on serial $LAG from its file and the journal"* ]] ||
	tdm_fail "neither $H's start nor its first run brought its copy up to serial $LAG from the journal: $line" -- "$(log "$H")"
r=$(sed -nE 's/.*RRSIGs ([0-9]+) new \/ ([0-9]+) reused.*/\2/p' <<<"$line")
if [ -z "$r" ] || [ "$r" -le 20 ]; then
	tdm_fail "the first run after the restart signed in full: $line"
fi
S2=node-a
[ "$H2" = node-a ] && S2=node-b
later_agrees() {
	local s
	s=$(tdm_last_serial "$H2" $Z)
	agrees "$S2" "$s"
}
tdm_wait 90 "$S2 to agree after the restart" later_agrees
tdm_wait 60 "$H2's file to catch up" file_current "$H2"
tdm_pass "restart with a lagging file: $H brought its copy up to $LAG from its journal; $H2's serial $PUB reused $r RRSIGs; $S2 agrees; the file caught up"
tdm_validate_published "$H2" $Z
# both nodes' files were brought up to date at start (docs/node.md)
tdm_check_publications node-a node-b
tdm_pass "no serial published twice; the published zone validates"
