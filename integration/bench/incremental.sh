#!/bin/bash
# incremental: tandemd's incremental signing on a local two-site cluster, and the same change
# through knotd and ods-signerd (issue 10, "Benchmark"). One generated zone of N delegations,
# RSASHA256 KSK 2048 / ZSK 1024, NSEC3 (no opt-out, 0 iterations, empty salt), SoftHSMv2:
#  1. full:     the big input renamed into place at both sites; time to the active's
#               publication (publish.log), its RRSIGs, its VmHWM;
#  2. change:   tandem-zonegen --change K (K/3 removed, K/3 new DS, the rest added) renamed
#               into place at both sites; two times at the active: rename -> commit (the
#               new version committed and gate-verified: issue 10's target) and rename ->
#               publication (after the standby's agreement: compare-before-publish); the
#               standby's shadow run (from the active's commit to its digest report) and
#               both runs' new RRSIGs;
#  3. nochange: an identical copy of the input renamed into place (a cycle with no input
#               change and no signature due); the same two times, new RRSIGs;
#  4. memory:   each tandemd's VmHWM holding the zone, against knotd's;
#  5. knotd (zonefile-load: difference, automatic signing, journal on, PKCS#11 keystore on
#     SoftHSMv2, 2 signing threads): the initial signing, then the same changed file and
#     `knotc zone-reload`, timed to the new serial; ods-signerd (2 threads): the initial
#     signing, then the changed input and `ods-signer sign`, timed to its NotifyCommand.
# Every signer's changed output is checked once with dnssec-verify (not timed).
# RESUME=DIR (DIR: the WORKDIR of a kept run, KEEP=1): instead of 1., the kept cluster is
# copied into WORKDIR and started again (every process from its start script, the paths
# rewritten to the copy, this build's binaries): both nodes start from their last signed
# zone (full gate, signatures reused); the first run after the restart is timed and its
# VmHWM taken, then 2.-4. run, then knotd and ods-signerd on DIR's two inputs (big, then
# changed; SKIP="knot ods" leaves them out, SKIP=tandem runs only them). DIR is only read. The
# change is the one of DIR's two inputs the kept nodes do not hold, with its SOA serial
# raised above theirs (for a kept run that ended on the changed zone: the 1,000 changes
# undone).
# Usage: integration/bench/incremental.sh [N=1000000]
# Env:   TANDEM_BUILD (default ./build), WORKDIR (default a temp dir, removed unless KEEP=1),
#        CHANGES (default 1000), THREADS (signing threads of every signer, default 2),
#        STRICT=1 (exit 1 when a target is missed), SKIP="tandem knot ods" (signers to leave out;
#        "verify": no dnssec-verify at the end),
#        RESUME=DIR (above; N is then DIR's).
# See docs/benchmarks.md, "incremental".
set -euo pipefail

N=${1:-1000000}
case $N in '' | *[!0-9]* | 0) echo "usage: $0 [DELEGATIONS]" >&2 && exit 2 ;; esac
K=${CHANGES:-1000}
case $K in '' | *[!0-9]* | 0) echo "CHANGES: a number of delegations" >&2 && exit 2 ;; esac
THREADS=${THREADS:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
TDM_NAME=incremental
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$SRC/integration/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../cluster.sh
source "$SRC/integration/cluster.sh"
TDM_SRC=$SRC
TDM_BUILD=$(cd "${TANDEM_BUILD:-$SRC/build}" && pwd)
SKIP=" ${SKIP:-} "
skipped() { [[ $SKIP == *" $1 "* ]]; }
# tdm_cleanup removes TDM_TMP at exit unless TDM_KEEP=1: a WORKDIR, or KEEP=1, is kept
if [ -n "${WORKDIR:-}" ]; then
	TDM_TMP=$WORKDIR
	mkdir -p "$TDM_TMP"
	TDM_KEEP=1
else
	TDM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/incremental.XXXXXX")
	[ "${KEEP:-0}" = 1 ] && TDM_KEEP=1
fi
TDM_TMP=$(cd "$TDM_TMP" && pwd)
W=$TDM_TMP
# a kept run is resumed later (RESUME): its tokens stay under its own directory, not on the
# tmpfs that cluster-down empties (deploy/cluster-up.sh, TANDEM_CLUSTER_HSM_TMPFS)
[ "${TDM_KEEP:-0}" = 1 ] && export TANDEM_CLUSTER_HSM_TMPFS=0
trap tdm_cleanup EXIT
trap 'exit 130' INT TERM
tdm_need etcd python3 dnssec-verify softhsm2-util bc
ZONEGEN=$(tdm_bin tandem-zonegen)
Z=z1.example.
ZF=${Z%.}.zone
# the input serials: the cluster starts on the 50-delegation zone of cluster-up (2024010101)
SERIAL_BIG=2026120700
SERIAL_CHANGED=2026120800
# generous bounds for a loaded 2-core machine: a full signing of N delegations at a few
# thousand signatures a second, twice over
FULL_BOUND=$((600 + N / 250))
STEP_BOUND=$((120 + N / 2000))

say() { printf 'incremental: %s\n' "$*" >&2; }
now_ms() { date +%s%3N; }
secs() { python3 -c "import sys; print('%.3f' % ((int(sys.argv[2]) - int(sys.argv[1])) / 1000))" "$1" "$2"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
# cpu_ticks PID: the user and system CPU time PID used so far, in clock ticks (the fields
# after the command name, which may hold blanks, in /proc/PID/stat)
cpu_ticks() { sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
TICKS=$(getconf CLK_TCK)
cpu_s() { python3 -c "import sys; print('%.2f' % ((int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3])))" "$1" "$2" "$TICKS"; }
mb() { python3 -c "import sys; print('%.0f' % (int(sys.argv[1]) / 1024))" "$1"; }
declare -A R # results: R[key]=value, printed at the end

# ---- the zones ----------------------------------------------------------------------------------
RESUME=${RESUME:-}
if [ -z "$RESUME" ]; then
	say "generating $N delegations and the change of $K in $W (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	"$ZONEGEN" -o "$Z" -n "$N" --ds-share 0.2 --seed 42 --serial "$SERIAL_BIG" >"$W/big.zone"
	"$ZONEGEN" -o "$Z" -n "$N" --ds-share 0.2 --seed 42 --serial "$SERIAL_CHANGED" \
		--change "$K" --change-seed 7 >"$W/changed.zone"
	CHANGE_ZONE=$W/changed.zone
fi

# ---- RESUME: the kept cluster, copied and started again -----------------------------------------
# soa_serial FILE: the SOA serial of a zone file as tandem-zonegen writes it (SOA on line 1)
soa_serial() { awk 'NR == 1 && $4 == "SOA" { print $7; exit }' "$1"; }
# same_but_soa A B: the two zone files are equal but for their first (SOA) line
same_but_soa() { cmp -s <(tail -n +2 "$1") <(tail -n +2 "$2"); }
# resume_rewrite FROM TO FILE...: FROM replaced by TO in each FILE (text files naming paths)
resume_rewrite() {
	local from=$1 to=$2
	shift 2
	sed -i "s|$from|$to|g" "$@"
}
# resume_port_free URL: the port of URL (scheme://host:port) is not in use
resume_port_free() { ! ss -Hltn "sport = :${1##*:}" | grep -q .; }
# resume_holder: A is the zone's holder
# shellcheck disable=SC2317 # called through tdm_wait
resume_holder() { A=$(tdm_holder "$Z") && [ -n "$A" ]; }
resume_cluster() {
	local old_dir old_build old_policy policy f n before t0 la lb l
	if [ ! -d "$RESUME/cluster/run" ] || [ ! -f "$RESUME/cluster/cluster.env" ]; then
		tdm_fail "RESUME=$RESUME: no kept cluster there (cluster/cluster.env, cluster/run/)"
	fi
	for f in big.zone changed.zone; do
		[ -s "$RESUME/$f" ] || tdm_fail "RESUME=$RESUME: no $f there"
	done
	[ ! -e "$W/cluster" ] || tdm_fail "$W/cluster exists: RESUME copies the kept cluster into an empty WORKDIR"
	old_dir=$(sed -n 's/^TANDEM_CLUSTER_DIR=//p' "$RESUME/cluster/cluster.env")
	old_build=$(sed -n 's/^TANDEM_CLUSTER_BUILD=//p' "$RESUME/cluster/cluster.env")
	old_policy=$(sed -n 's/^TANDEM_CLUSTER_POLICY=//p' "$RESUME/cluster/cluster.env")
	if [ -z "$old_dir" ] || [ -z "$old_build" ]; then
		tdm_fail "RESUME=$RESUME: cluster.env names no TANDEM_CLUSTER_DIR or TANDEM_CLUSTER_BUILD"
	fi
	for n in node-a node-b; do
		pid_alive "$RESUME/cluster/run/$n.pid" && tdm_fail "RESUME=$RESUME: $n still runs there"
	done
	while read -r f; do
		resume_port_free "$f" || tdm_fail "RESUME: the kept cluster's port ${f##*:} is in use"
	done < <(sed -nE 's/^(ETCD_._CLIENT|ETCD_._PEER|COORD_._ENDPOINT)=//p' "$RESUME/cluster/cluster.env")
	say "copying the kept cluster $RESUME/cluster to $W/cluster ($(du -sh "$RESUME/cluster" | cut -f1))"
	cp -a --reflink=auto "$RESUME/cluster" "$W/cluster"
	TDM_CL=$W/cluster
	tdm_on_exit tdm_cluster_down
	rm -f "$TDM_CL"/run/*.pid
	# the policy the kept run named, else (a worktree since removed) this tree's default
	policy=$old_policy
	[ -f "$policy" ] || policy=$SRC/conf/dps-default.yaml
	local files=("$TDM_CL/cluster.env" "$TDM_CL/tandemctl" "$TDM_CL"/run/*.start
		"$TDM_CL"/node-*/hsm/softhsm2.conf)
	[ -f "$TDM_CL/drill-hooks" ] && files+=("$TDM_CL/drill-hooks")
	resume_rewrite "$old_dir/" "$TDM_CL/" "${files[@]}"
	resume_rewrite "$old_dir\$" "$TDM_CL" "$TDM_CL/cluster.env"
	resume_rewrite "$old_build/" "$TDM_BUILD/" "${files[@]}"
	resume_rewrite "TANDEM_CLUSTER_BUILD=$old_build\$" "TANDEM_CLUSTER_BUILD=$TDM_BUILD" "$TDM_CL/cluster.env"
	[ "$policy" = "$old_policy" ] || resume_rewrite "$old_policy" "$policy" "${files[@]}"
	! grep -qF "$old_dir/" "$TDM_CL"/run/*.start || tdm_fail "RESUME: a start script still names $old_dir"

	# the kept inputs: the change is the one of big.zone and changed.zone the nodes do not
	# hold, with a serial above theirs; no change is an identical copy of it
	local held=$TDM_CL/node-a/in/$ZF src serial
	if same_but_soa "$held" "$RESUME/changed.zone"; then src=$RESUME/big.zone; else
		same_but_soa "$held" "$RESUME/big.zone" ||
			tdm_fail "RESUME: node-a's input is neither $RESUME/big.zone nor changed.zone"
		src=$RESUME/changed.zone
	fi
	serial=$(soa_serial "$held")
	[ -n "$serial" ] || tdm_fail "RESUME: no SOA serial on the first line of $held"
	serial=$((serial + 100))
	CHANGE_ZONE=$W/resume-change.zone
	{
		awk -v s="$serial" 'NR == 1 { $7 = s } { print; exit }' "$src"
		tail -n +2 "$src"
	} >"$CHANGE_ZONE"
	say "the change: $(basename "$src") with serial $serial (the nodes hold the other input)"

	before=0
	for n in node-a node-b; do
		l=$(tdm_last_serial "$n" "$Z")
		[ -n "$l" ] && [ "$l" -gt "$before" ] && before=$l
	done
	say "starting the kept cluster again (last serial published $before; load average $(cut -d' ' -f1-3 /proc/loadavg))"
	for n in etcd-a etcd-b etcd-w coord-a coord-b; do bash "$TDM_CL/run/$n.start"; done
	t0=$(now_ms)
	for n in node-a node-b; do bash "$TDM_CL/run/$n.start"; done
	tdm_wait "$FULL_BOUND" "a holder of $Z after the restart" resume_holder
	B='node-a'
	[ "$A" = node-a ] && B='node-b'
	tdm_wait "$FULL_BOUND" "$A's first publication after the restart" published_above "$A" "$before"
	tdm_wait "$STEP_BOUND" "$B to agree on serial $PUB after the restart" agrees "$B" "$PUB"
	la=$(run_line "$A" signing "$PUB")
	lb=$(run_line "$B" shadow "$PUB")
	R[restart_serial]=$PUB
	R[restart_commit_s]=$(secs "$t0" "$(commit_ms "$A" "$PUB")")
	R[restart_active_s]=$(secs "$t0" "$(pub_ms "$A" "$PUB")")
	R[restart_standby_s]=$(secs "$t0" "$(agree_ms "$B" "$PUB")")
	R[restart_new]=$(new_sigs "$la")
	R[restart_reused]=$(reused_sigs "$la")
	R[restart_standby_new]=$(new_sigs "$lb")
	R[restart_stages]=$(stages "$la")
	R[restart_standby_stages]=$(stages "$lb")
	R[restart_hwm_kb]=$(hwm_kb "$(pid "$A")")
	R[restart_standby_hwm_kb]=$(hwm_kb "$(pid "$B")")
	# the peak of the cycles below, not of the restart's loading of the signed file: Linux
	# resets VmHWM to VmRSS on "5" in clear_refs (root, or the same user)
	for n in "$A" "$B"; do
		echo 5 >"/proc/$(pid "$n")/clear_refs" 2>/dev/null ||
			say "cannot reset $n's VmHWM: the memory step includes the restart"
	done
	say "restart: $A published serial $PUB ${R[restart_active_s]} s after the nodes' start (${R[restart_new]} new RRSIGs, ${R[restart_reused]} reused); $B agreed after ${R[restart_standby_s]} s; VmHWM $A ${R[restart_hwm_kb]} kB, $B ${R[restart_standby_hwm_kb]} kB"
	say "  $A: $la"
	say "  $B: ${lb:-(no shadow run line)}"
}
# pid_alive PIDFILE: the process of PIDFILE runs
pid_alive() { [ -s "$1" ] && kill -0 "$(head -n 1 "$1")" 2>/dev/null; }

# ---- tandem: a local two-site cluster -----------------------------------------------------------
log() { printf '%s\n' "$TDM_CL/log/$1.log"; }
pid() { cat "$TDM_CL/run/$1.pid"; }
# run_line NODE KIND SERIAL: NODE's summary line of its KIND (signing, shadow) run of SERIAL
run_line() { grep "zone $Z: $2 run: serial $3, " "$(log "$1")" | tail -n 1; }
new_sigs() { sed -nE 's/.*RRSIGs ([0-9]+) new \/ ([0-9]+) reused \/ ([0-9]+) refreshed.*/\1/p' <<<"$1"; }
reused_sigs() { sed -nE 's/.*RRSIGs ([0-9]+) new \/ ([0-9]+) reused.*/\2/p' <<<"$1"; }
stages() { sed -nE 's/.* refreshed, (.*)$/\1/p' <<<"$1"; }
# agree_ms NODE SERIAL: the time (Unix ms) of NODE's report that it agrees on SERIAL
agree_ms() {
	local l
	l=$(grep "zone $Z: shadow run of serial $2: .*$1 agrees" "$(log "$1")" | tail -n 1) || return 1
	[ -n "$l" ] || return 1
	date -u -d "$(awk '{ print $1 }' <<<"$l")" +%s%3N
}
# shellcheck disable=SC2317 # agrees, published_above, in_sync: called through tdm_wait
agrees() { agree_ms "$@" >/dev/null; }
# commit_ms NODE SERIAL: the time (Unix ms) of NODE's commit of SERIAL (its log line, written
# once the run's gate verified the new version and the coordinators took the commit)
commit_ms() {
	local l
	l=$(grep "zone $Z: serial $2 committed" "$(log "$1")" | tail -n 1)
	[ -n "$l" ] || return 0
	date -u -d "$(awk '{ print $1 }' <<<"$l")" +%s%3N
}
# pub_ms NODE SERIAL: the time of NODE's publication of SERIAL (publish.log)
pub_ms() { awk -v z="$Z" -v s="$2" '$2 == z && $3 == s { print $1 }' "$(tdm_publog "$1")" | tail -n 1; }
# published_above NODE SERIAL: NODE published a serial above SERIAL (it goes to PUB)
PUB=
# shellcheck disable=SC2317
published_above() {
	local s
	s=$(tdm_last_serial "$1" "$Z")
	[ -n "$s" ] && [ "$s" -gt "$2" ] || return 1
	[ -n "$(run_line "$1" signing "$s")" ] || return 1
	PUB=$s
}
# shellcheck disable=SC2317
in_sync() {
	local s
	s=$(tdm_last_serial "$A" "$Z")
	[ -n "$s" ] && agrees "$B" "$s"
}
# deliver FILE: renames a copy of FILE onto both nodes' input at once; prints the time (ms)
deliver() {
	local n
	for n in node-a node-b; do cp "$1" "$TDM_CL/$n/in/$ZF.new"; done
	now_ms
	for n in node-a node-b; do mv "$TDM_CL/$n/in/$ZF.new" "$TDM_CL/$n/in/$ZF"; done
}
# step NAME FILE BOUND: delivers FILE, waits for the active's publication of it and the
# standby's agreement; records NAME_{commit_s,active_s,wait_s,standby_s,new,reused,
# standby_new,stages}: commit_s rename -> the active's commit (issue 10's "committed,
# verified new version at the active"), active_s rename -> its publication, wait_s commit ->
# publication (what compare-before-publish costs), standby_s commit -> the standby's agreement
step() {
	local name=$1 before t0 trn t1 t2 tc la lb
	tdm_wait "$3" "$B to have shadowed $A's latest serial" in_sync
	before=$(tdm_last_serial "$A" "$Z")
	say "$name: delivering $(basename "$2") (serial before: $before)"
	t0=$(deliver "$2")
	# the rename itself (the active's input's ctime, which tandemd's cycle line counts from):
	# t0 is taken before the two mv processes run, on a loaded machine tens of ms earlier
	trn=$(stat -c '%.3Z' "$TDM_CL/$A/in/$ZF" | tr -d .)
	tdm_wait "$3" "$A to publish after serial $before ($name)" published_above "$A" "$before"
	t1=$(pub_ms "$A" "$PUB")
	tdm_wait "$3" "$B to agree on serial $PUB ($name)" agrees "$B" "$PUB"
	t2=$(agree_ms "$B" "$PUB")
	tc=$(commit_ms "$A" "$PUB")
	[ -n "$tc" ] || tdm_fail "no commit line of serial $PUB in $A's log" -- "$(log "$A")"
	la=$(run_line "$A" signing "$PUB")
	lb=$(run_line "$B" shadow "$PUB")
	R[${name}_serial]=$PUB
	R[${name}_commit_s]=$(secs "$t0" "$tc")
	R[${name}_renamed_s]=$(secs "$t0" "$trn")
	R[${name}_rename_commit_s]=$(secs "$trn" "$tc")
	R[${name}_active_s]=$(secs "$t0" "$t1")
	R[${name}_wait_s]=$(secs "$tc" "$t1")
	R[${name}_standby_s]=$(secs "$tc" "$t2")
	R[${name}_new]=$(new_sigs "$la")
	R[${name}_reused]=$(reused_sigs "$la")
	R[${name}_standby_new]=$(new_sigs "$lb")
	R[${name}_stages]=$(stages "$la")
	R[${name}_standby_stages]=$(stages "$lb")
	say "$name: serial $PUB committed by $A after ${R[${name}_commit_s]} s, published after ${R[${name}_active_s]} s (${R[${name}_new]} new RRSIGs); $B agreed ${R[${name}_standby_s]} s after the commit (${R[${name}_standby_new]} new)"
	say "  $A: the rename's ctime $(secs "$t0" "$trn") s after t0; its ctime -> the commit's log line ${R[${name}_rename_commit_s]} s"
	say "  $A: $la"
	say "  $B: ${lb:-(no shadow run line)}"
	# where the active's cycle went: rename -> seen -> run start -> run -> commit -> publish
	R[${name}_cycle]=$(grep "zone $Z: published serial $PUB " "$(log "$A")" | tail -n 1 |
		sed -nE 's/.*, (cycle .*)$/\1/p')
	say "  $A: ${R[${name}_cycle]:-(no cycle line)}"
}

if [ -n "$RESUME" ]; then
	RESUME=$(cd "$RESUME" && pwd)
	# the peers sign the kept run's two inputs, big then changed, as in the kept run
	for f in big.zone changed.zone; do
		[ -s "$RESUME/$f" ] || tdm_fail "RESUME=$RESUME: no $f there"
		[ -e "$W/$f" ] || ln -s "$RESUME/$f" "$W/$f"
	done
fi
# tandem_bench: steps 1.-4. on the local cluster (RESUME: the kept one, started again)
tandem_bench() {
	if [ -n "$RESUME" ]; then
		A='' B=''
		resume_cluster
	else
		# A day's cycle: every run below is started by a rename of the input, none by the timer.
		tdm_cluster_up --zones 1 --cycle 86400 --threads "$THREADS"
		A=$(tdm_holder $Z)
		[ -n "$A" ] || tdm_fail "nobody holds $Z after cluster-up"
		B='node-a'
		[ "$A" = node-a ] && B='node-b'
	fi
	say "active $A, standby $B"
	if [ -z "$RESUME" ]; then
		step full "$W/big.zone" "$FULL_BOUND"
		R[full_hwm_kb]=$(hwm_kb "$(pid "$A")")
		say "full: $A's VmHWM ${R[full_hwm_kb]} kB"
	fi
	step change "$CHANGE_ZONE" "$STEP_BOUND"
	step nochange "$CHANGE_ZONE" "$STEP_BOUND"
	R[tandem_active_hwm_kb]=$(hwm_kb "$(pid "$A")")
	R[tandem_standby_hwm_kb]=$(hwm_kb "$(pid "$B")")
	say "VmHWM holding the zone: $A ${R[tandem_active_hwm_kb]} kB, $B ${R[tandem_standby_hwm_kb]} kB"
	tdm_check_publications node-a node-b
	# the changed version, as published, for dnssec-verify at the end (the nochange step's
	# serial is the same zone with another SOA serial)
	cp "$TDM_CL/$A/out/$ZF" "$W/tandem.signed"
	tdm_cluster_down
	TDM_CL=
}
if skipped tandem; then say "tandem skipped (SKIP=tandem): only the peers below run"; else tandem_bench; fi

# ---- knotd: zonefile-load difference, automatic signing, PKCS#11 on SoftHSMv2 -----------------
knot_serial() { # the serial knotd serves ('' while it has none)
	knotc -c "$KN/knot.conf" zone-read "$Z" @ SOA 2>/dev/null |
		awk '{ for (i = 1; i + 3 <= NF; i++) if ($i == "SOA") { print $(i + 3); exit } }'
}
# shellcheck disable=SC2317 # called through knot_wait
knot_serial_is_not() {
	local s
	s=$(knot_serial)
	[ -n "$s" ] && [ "$s" != "$1" ]
}
knot_wait() { # SECONDS WHAT CMD...
	local until=$((SECONDS + $1)) what=$2
	shift 2
	while ! "$@"; do
		kill -0 "$KPID" 2>/dev/null || tdm_fail "knotd exited ($what)" -- "$KN/knotd.log"
		[ "$SECONDS" -lt "$until" ] || tdm_fail "timed out after $1 s waiting for knotd: $what" -- "$KN/knotd.log"
		sleep 0.1
	done
}
KPID=
if ! skipped knot; then
	if ! command -v knotd >/dev/null || ! command -v keymgr >/dev/null; then
		say "knotd/keymgr not installed (knot): skipped"
	else
		KN=$W/knot
		mkdir -p "$KN/db" "$KN/zones" "$KN/run" "$KN/out"
		cp "$W/big.zone" "$KN/zones/$ZF"
		tdm_token "$KN/hsm" knot
		port=$(tdm_free_ports 1)
		# knotd reads its PIN from knot.conf (pin-value): this file is 0600, in the
		# benchmark's own temp dir, and the token exists only for this run.
		(
			umask 077
			cat >"$KN/knot.conf" <<EOF
server:
    rundir: "$KN/run"
    listen: 127.0.0.1@$port
log:
  - target: stderr
    any: info
database:
    storage: "$KN/db"
keystore:
  - id: hsm
    backend: pkcs11
    config: "pkcs11:token=knot;pin-value=$(cat "$TDM_PIN_FILE") $(tdm_module)"
policy:
  - id: bench
    keystore: hsm
    manual: on
    algorithm: rsasha256
    ksk-size: 2048
    zsk-size: 1024
    nsec3: on
    nsec3-iterations: 0
    nsec3-salt-length: 0
    nsec3-opt-out: off
    rrsig-lifetime: 8d
    rrsig-refresh: 2d
    signing-threads: $THREADS
template:
  - id: default
    storage: "$KN/zones"
zone:
  - domain: $Z
    file: "$KN/zones/$ZF"
    dnssec-signing: on
    dnssec-policy: bench
    zonefile-load: difference
    zonefile-sync: -1
    journal-content: changes
    journal-max-usage: 16G
EOF
		)
		keymgr -c "$KN/knot.conf" "$Z" generate algorithm=rsasha256 size=2048 ksk=yes zsk=no >/dev/null
		keymgr -c "$KN/knot.conf" "$Z" generate algorithm=rsasha256 size=1024 ksk=no zsk=yes >/dev/null
		say "knotd: initial signing of $N delegations ..."
		t0=$(now_ms)
		knotd -c "$KN/knot.conf" >"$KN/knotd.log" 2>&1 &
		KPID=$!
		tdm_on_exit "kill $KPID 2>/dev/null; wait $KPID 2>/dev/null"
		knot_wait "$FULL_BOUND" "the initial signing" knot_serial_is_not ""
		t1=$(now_ms)
		R[knot_full_s]=$(secs "$t0" "$t1")
		R[knot_full_hwm_kb]=$(hwm_kb "$KPID")
		before=$(knot_serial)
		say "knotd: serial $before after ${R[knot_full_s]} s; the change ..."
		cp "$W/changed.zone" "$KN/zones/$ZF.new"
		c0=$(cpu_ticks "$KPID")
		t0=$(now_ms)
		mv "$KN/zones/$ZF.new" "$KN/zones/$ZF"
		knotc -c "$KN/knot.conf" zone-reload "$Z" >/dev/null
		knot_wait "$STEP_BOUND" "a serial after $before" knot_serial_is_not "$before"
		t1=$(now_ms)
		R[knot_change_s]=$(secs "$t0" "$t1")
		R[knot_change_cpu_s]=$(cpu_s "$c0" "$(cpu_ticks "$KPID")")
		R[knot_hwm_kb]=$(hwm_kb "$KPID")
		say "knotd: serial $(knot_serial) after ${R[knot_change_s]} s; VmHWM ${R[knot_hwm_kb]} kB"
		knotc -c "$KN/knot.conf" -b -t 600 zone-flush "$Z" +outdir "$KN/out" >/dev/null ||
			tdm_fail "knotc zone-flush failed" -- "$KN/knotd.log"
		[ -s "$KN/out/$ZF" ] || tdm_fail "knotd flushed nothing to $KN/out" -- "$KN/knotd.log"
		kill "$KPID"
		wait "$KPID" 2>/dev/null || true
		KPID=
		cp "$KN/out/$ZF" "$W/knot.signed"
	fi
fi

# ---- ods-signerd (OpenDNSSEC 2.1, SoftHSMv2), set up as ../shared/bench/odsbench.sh does --------
# The packaged ods-signerd keeps its control socket and pid file at the compiled-in
# /run/opendnssec (one signer per machine); everything else lives under $W/ods. The time of a
# run: from its trigger to the signer's NotifyCommand (run right after the signed file is
# renamed into place): full = starting ods-signerd once the keys and signconf exist,
# change = `ods-signer sign ZONE` after the changed input was renamed into place.
# running PID: PID runs (an exited child not yet reaped, a zombie, does not)
running() { [ -n "$(sed -nE 's/^.*\) ([^Z]) .*/\1/p' "/proc/$1/stat" 2>/dev/null)" ]; }
# stop_pids PID...: SIGTERM, then SIGKILL to those still running after 30 s; reaped
stop_pids() {
	local p until=$((SECONDS + 30))
	kill "$@" 2>/dev/null || true
	for p in "$@"; do
		while running "$p" && [ "$SECONDS" -lt "$until" ]; do sleep 0.2; done
		if running "$p"; then
			say "pid $p still runs 30 s after SIGTERM: SIGKILL"
			kill -9 "$p" 2>/dev/null || true
		fi
		wait "$p" 2>/dev/null || true
	done
}
ods_notes() { if [ -f "$OW/run/notify.log" ]; then wc -l <"$OW/run/notify.log"; else echo 0; fi; }
ods_notify_ms() { tail -n 1 "$OW/run/notify.log" | awk '{ split($1, t, "."); print t[1] substr(t[2] "000", 1, 3) }'; }
ods_wait() { # SECONDS WHAT CMD...
	local until=$((SECONDS + $1)) what=$2
	shift 2
	while ! "$@"; do
		[ "$SECONDS" -lt "$until" ] ||
			tdm_fail "timed out waiting for OpenDNSSEC: $what" -- "$OW/log/signer.log" "$OW/log/enforcer.log"
		sleep 0.2
	done
}
# shellcheck disable=SC2317 # called through ods_wait
ods_notified_after() { [ "$(ods_notes)" -gt "$1" ]; }
# shellcheck disable=SC2317
ods_keys_ready() { [ -f "$OSC" ] && grep -q '<KSK' "$OSC" && grep -q '<ZSK' "$OSC"; }
# ods_idle PID: waits until PID has used no CPU for 2 s (the signer writes its backup after
# the notify), at most 10 minutes
ods_idle() {
	local a b i
	a=$(awk '{ print $14 + $15 }' "/proc/$1/stat")
	for ((i = 0; i < 300; i++)); do
		sleep 2
		b=$(awk '{ print $14 + $15 }' "/proc/$1/stat")
		[ "$a" != "$b" ] || return 0
		a=$b
	done
}
ods_stats() { grep '\[STATS\]' "$OW/log/signer.log" | tail -n 1 || true; }
ods_bench() {
	local o=${Z%.} t0 t1 n epid spid
	OW=$W/ods
	OSC=$OW/var/signconf/$o.xml
	mkdir -p "$OW"/{etc,run,log} "$OW"/var/{enforcer,signer,signconf,unsigned,signed}
	cp "$W/big.zone" "$OW/var/unsigned/$o"
	tdm_token "$OW/hsm" OpenDNSSEC
	# shellcheck disable=SC2016 # $(date ...), $1, $2: the notify script's own
	printf '#!/bin/sh\necho "$(date +%%s.%%N) $1 $2" >>%s/run/notify.log\n' "$OW" >"$OW/notify.sh"
	chmod 755 "$OW/notify.sh"
	# conf.xml holds the token's PIN: 0600, in the benchmark's own temp dir, for this run only
	(
		umask 077
		cat >"$OW/etc/conf.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Configuration>
  <RepositoryList>
    <Repository name="SoftHSM">
      <Module>$(tdm_module)</Module>
      <TokenLabel>OpenDNSSEC</TokenLabel>
      <PIN>$(cat "$TDM_PIN_FILE")</PIN>
      <SkipPublicKey/>
    </Repository>
  </RepositoryList>
  <Common>
    <Logging><Verbosity>4</Verbosity></Logging>
    <PolicyFile>$OW/etc/kasp.xml</PolicyFile>
    <ZoneListFile>$OW/etc/zonelist.xml</ZoneListFile>
  </Common>
  <Enforcer>
    <Datastore><SQLite>$OW/var/kasp.db</SQLite></Datastore>
    <AutomaticKeyGenerationPeriod>P6M</AutomaticKeyGenerationPeriod>
    <PidFile>$OW/run/enforcerd.pid</PidFile>
    <SocketFile>$OW/run/enforcer.sock</SocketFile>
    <WorkingDirectory>$OW/var/enforcer</WorkingDirectory>
    <WorkerThreads>1</WorkerThreads>
  </Enforcer>
  <Signer>
    <WorkingDirectory>$OW/var/signer</WorkingDirectory>
    <WorkerThreads>$THREADS</WorkerThreads>
    <SignerThreads>$THREADS</SignerThreads>
    <NotifyCommand>$OW/notify.sh %zone %zonefile</NotifyCommand>
  </Signer>
</Configuration>
EOF
	)
	cat >"$OW/etc/kasp.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<KASP>
  <Policy name="bench">
    <Description>incremental benchmark: RSASHA256 KSK 2048 / ZSK 1024, NSEC3 0 iterations, empty salt</Description>
    <Signatures>
      <Resign>PT2H</Resign>
      <Refresh>P2D</Refresh>
      <Validity><Default>P8D</Default><Denial>P8D</Denial></Validity>
      <Jitter>PT12H</Jitter>
      <InceptionOffset>PT3600S</InceptionOffset>
      <MaxZoneTTL>P1D</MaxZoneTTL>
    </Signatures>
    <Denial>
      <NSEC3>
        <Resalt>P100D</Resalt>
        <Hash><Algorithm>1</Algorithm><Iterations>0</Iterations><Salt length="0"/></Hash>
      </NSEC3>
    </Denial>
    <Keys>
      <TTL>PT3600S</TTL>
      <RetireSafety>PT3600S</RetireSafety>
      <PublishSafety>PT3600S</PublishSafety>
      <Purge>P14D</Purge>
      <KSK><Algorithm length="2048">8</Algorithm><Lifetime>P1Y</Lifetime><Repository>SoftHSM</Repository></KSK>
      <ZSK><Algorithm length="1024">8</Algorithm><Lifetime>P90D</Lifetime><Repository>SoftHSM</Repository></ZSK>
    </Keys>
    <Zone>
      <PropagationDelay>PT3600S</PropagationDelay>
      <SOA><TTL>PT3600S</TTL><Minimum>PT3600S</Minimum><Serial>counter</Serial></SOA>
    </Zone>
    <Parent>
      <PropagationDelay>PT9999S</PropagationDelay>
      <DS><TTL>PT3600S</TTL></DS>
      <SOA><TTL>PT172800S</TTL><Minimum>PT10800S</Minimum></SOA>
    </Parent>
  </Policy>
</KASP>
EOF
	printf '<?xml version="1.0" encoding="UTF-8"?>\n<ZoneList>\n</ZoneList>\n' >"$OW/etc/zonelist.xml"
	# ods-enforcer-db-setup has no -c: our conf.xml is bind-mounted over the packaged one in
	# a private mount namespace (nothing on disk changes); sqlite3 with the packaged schema
	# when that is not possible
	if ! unshare -m --propagation private sh -c \
		"mount --bind '$OW/etc/conf.xml' /etc/opendnssec/conf.xml && ods-enforcer-db-setup -f" \
		>"$OW/log/db-setup.log" 2>&1; then
		command -v sqlite3 >/dev/null || tdm_fail "ods-enforcer-db-setup failed and sqlite3 is missing" -- "$OW/log/db-setup.log"
		sqlite3 "$OW/var/kasp.db" </usr/share/opendnssec/schema.sqlite
		sqlite3 "$OW/var/kasp.db" 'INSERT INTO databaseVersion ( version ) VALUES ( 1 );'
	fi
	ods-kaspcheck -c "$OW/etc/conf.xml" >"$OW/log/kaspcheck.log" 2>&1 ||
		tdm_fail "ods-kaspcheck refused the configuration" -- "$OW/log/kaspcheck.log"
	mkdir -p /run/opendnssec
	ods-enforcerd -c "$OW/etc/conf.xml" -d >>"$OW/log/enforcer.log" 2>&1 &
	epid=$!
	tdm_on_exit "kill $epid 2>/dev/null; wait $epid 2>/dev/null"
	ods_wait 60 "the enforcer's socket" test -S "$OW/run/enforcer.sock"
	{
		ods-enforcer -s "$OW/run/enforcer.sock" policy import
		ods-enforcer -s "$OW/run/enforcer.sock" zone add --zone "$o" --policy bench \
			--in-type File --input "$OW/var/unsigned/$o" --out-type File \
			--output "$OW/var/signed/$o" --signerconf "$OSC"
	} >"$OW/log/enforcer-cmds.log" 2>&1 ||
		tdm_fail "ods-enforcer policy import / zone add failed" -- "$OW/log/enforcer-cmds.log"
	ods_wait 600 "KSK and ZSK in the signconf" ods_keys_ready

	say "ods-signerd: initial signing of $N delegations ..."
	n=$(ods_notes)
	t0=$(now_ms)
	ods-signerd -c "$OW/etc/conf.xml" -d >>"$OW/log/signer.log" 2>&1 &
	spid=$!
	tdm_on_exit "kill $spid 2>/dev/null; wait $spid 2>/dev/null"
	ods_wait "$FULL_BOUND" "the initial signing" ods_notified_after "$n"
	t1=$(ods_notify_ms)
	R[ods_full_s]=$(secs "$t0" "$t1")
	ods_idle "$spid"
	R[ods_full_hwm_kb]=$(hwm_kb "$spid")
	say "ods-signerd: signed after ${R[ods_full_s]} s: $(ods_stats)"

	cp "$W/changed.zone" "$OW/var/unsigned/$o.new"
	n=$(ods_notes)
	c0=$(cpu_ticks "$spid")
	t0=$(now_ms)
	mv "$OW/var/unsigned/$o.new" "$OW/var/unsigned/$o"
	ods-signer sign "$o" >"$OW/log/sign.out" 2>&1 || tdm_fail "ods-signer sign failed" -- "$OW/log/sign.out"
	ods_wait "$STEP_BOUND" "the changed zone's signing" ods_notified_after "$n"
	t1=$(ods_notify_ms)
	R[ods_change_s]=$(secs "$t0" "$t1")
	R[ods_change_cpu_s]=$(cpu_s "$c0" "$(cpu_ticks "$spid")")
	ods_idle "$spid"
	R[ods_hwm_kb]=$(hwm_kb "$spid")
	R[ods_change_new]=$(ods_stats | sed -nE 's/.*RRSIG\[new=([0-9]+).*/\1/p')
	R[ods_change_reused]=$(ods_stats | sed -nE 's/.*RRSIG\[new=[0-9]+ reused=([0-9]+).*/\1/p')
	say "ods-signerd: the change signed after ${R[ods_change_s]} s: $(ods_stats)"
	cp "$OW/var/signed/$o" "$W/ods.signed"
	# ods-enforcerd 2.1 does not end on SIGTERM here (the run hung 23 minutes in wait)
	stop_pids "$spid" "$epid"
}
if ! skipped ods; then
	if ! command -v ods-signerd >/dev/null; then
		say "opendnssec not installed: skipped"
	elif [ "$(id -u)" -ne 0 ]; then
		say "ods-signerd needs root here (/run/opendnssec, a mount namespace): skipped"
	elif [ -s /run/opendnssec/signerd.pid ] && kill -0 "$(cat /run/opendnssec/signerd.pid)" 2>/dev/null; then
		say "an ods-signerd runs already (pid $(cat /run/opendnssec/signerd.pid)): skipped"
	else
		ods_bench
	fi
fi

# ---- report -----------------------------------------------------------------------------------
declare -A VERIFY
verify() { # KEY FILE: dnssec-verify once (not timed)
	[ -f "$2" ] || return 0
	if dnssec-verify -q -o "$Z" "$2" >"$W/verify-$1.log" 2>&1; then VERIFY[$1]=ok; else
		VERIFY[$1]=FAILED
		say "dnssec-verify FAILED for $1 ($2):"
		tail -n 5 "$W/verify-$1.log" >&2
	fi
}
say "dnssec-verify of every changed output ..."
if skipped verify; then say "dnssec-verify skipped (SKIP=verify)"; else
	verify tandem "$W/tandem.signed"
	verify knot "$W/knot.signed"
	verify ods "$W/ods.signed"
fi

v() { printf '%s' "${R[$1]:--}"; }
mbv() { if [ -n "${R[$1]:-}" ]; then mb "${R[$1]}"; else printf -- -; fi; }
echo
[ -z "$RESUME" ] || echo "incremental: RESUME of the kept run $RESUME (steps 2-4)"
echo "incremental: $N delegations, $K changed ($((K / 3)) removed, $((K / 3)) new DS, $((K - 2 * (K / 3))) added), NSEC3, RSASHA256 KSK 2048 / ZSK 1024, SoftHSMv2, $THREADS signing threads, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
F='%-44s %10s %10s %10s %10s\n'
# shellcheck disable=SC2059 # F: the one row format
{
	printf "$F" step wall_s new_rrsigs reused peak_MB
	printf "$F" "tandem full: rename -> commit (active)" "$(v full_commit_s)" "$(v full_new)" "$(v full_reused)" "$(mbv full_hwm_kb)"
	printf "$F" "tandem full: rename -> publication" "$(v full_active_s)" - - -
	printf "$F" "tandem full: standby, commit -> agreement" "$(v full_standby_s)" "$(v full_standby_new)" - -
	if [ -n "$RESUME" ]; then
		printf "$F" "tandem restart: start -> commit (active)" "$(v restart_commit_s)" "$(v restart_new)" "$(v restart_reused)" "$(mbv restart_hwm_kb)"
		printf "$F" "tandem restart: start -> publication" "$(v restart_active_s)" - - -
		printf "$F" "tandem restart: start -> standby agrees" "$(v restart_standby_s)" "$(v restart_standby_new)" - "$(mbv restart_standby_hwm_kb)"
	fi
	printf "$F" "tandem change: mv started -> commit (active)" "$(v change_commit_s)" "$(v change_new)" "$(v change_reused)" -
	printf "$F" "tandem change: rename (ctime) -> commit" "$(v change_rename_commit_s)" - - -
	printf "$F" "tandem change: rename -> publication" "$(v change_active_s)" - - -
	printf "$F" "tandem change: standby, commit -> agreement" "$(v change_standby_s)" "$(v change_standby_new)" - -
	printf "$F" "tandem no change: mv started -> commit" "$(v nochange_commit_s)" "$(v nochange_new)" "$(v nochange_reused)" -
	printf "$F" "tandem no change: rename (ctime) -> commit" "$(v nochange_rename_commit_s)" - - -
	printf "$F" "tandem no change: rename -> publication" "$(v nochange_active_s)" - - -
	printf "$F" "tandemd holding the zone" - - - "$(mbv tandem_active_hwm_kb) / $(mbv tandem_standby_hwm_kb)"
	printf "$F" "knotd initial signing" "$(v knot_full_s)" - - "$(mbv knot_full_hwm_kb)"
	printf "$F" "knotd change (zone-reload)" "$(v knot_change_s)" - - "$(mbv knot_hwm_kb)"
	printf "$F" "ods-signerd initial signing" "$(v ods_full_s)" - - "$(mbv ods_full_hwm_kb)"
	printf "$F" "ods-signerd change (ods-signer sign)" "$(v ods_change_s)" "$(v ods_change_new)" "$(v ods_change_reused)" "$(mbv ods_hwm_kb)"
}
[ -z "$RESUME" ] || echo "stages, restart:  active: $(v restart_stages)"
[ -z "$RESUME" ] || echo "                  standby: $(v restart_standby_stages)"
echo "stages, change:   active: $(v change_stages)"
echo "                  standby: $(v change_standby_stages)"
echo "stages, no change: active: $(v nochange_stages)"
echo "cycle, change:    $(v change_cycle)"
echo "cycle, no change: $(v nochange_cycle)"
echo "peers' CPU on the change (both threads; a load-independent view): knotd $(v knot_change_cpu_s) s, ods-signerd $(v ods_change_cpu_s) s"
echo "dnssec-verify:    tandem ${VERIFY[tandem]:--}, knotd ${VERIFY[knot]:--}, ods-signerd ${VERIFY[ods]:--}"

missed=0
# target LABEL VALUE OP TARGET: prints whether "VALUE OP TARGET" holds
target() {
	local verdict
	if [ -z "$2" ] || [ "$2" = - ]; then
		printf '%-46s %10s   target %s %s  n/a\n' "$1" - "$3" "$4"
		return
	fi
	if [ "$(bc -l <<<"$2 $3 $4")" = 1 ]; then verdict=PASS; else
		verdict=MISS
		missed=$((missed + 1))
	fi
	printf '%-46s %10s   target %s %s  %s\n' "$1" "$2" "$3" "$4" "$verdict"
}
ratio() { # NUM DEN: NUM/DEN to 2 places ('' when either is missing or DEN is 0)
	[ -n "$1" ] && [ -n "$2" ] && [ "$(bc -l <<<"$2 > 0")" = 1 ] || return 0
	printf '%.2f' "$(bc -l <<<"$1 / $2")"
}
echo
echo "targets"
# issue 10: "time from the input's rename to the committed, verified new version at the
# active node"; the publication waits besides for the standby's digest (compare-before-publish)
# (from the rename itself, the input's ctime: the bench's mv of a file it has just written
# took up to 0.66 s at 1M: ext4 starts writing back a file renamed over another)
target "change: rename to active's commit (s)" "$(v change_rename_commit_s)" "<" 3
target "change: standby's run / active's (time)" "$(ratio "${R[change_standby_s]:-}" "${R[change_commit_s]:-}")" "<=" 1.10
sig_ratio=$(ratio "${R[change_standby_new]:-}" "${R[change_new]:-}")
target "change: standby's new RRSIGs / active's" "$sig_ratio" "<=" 1.10
target "change: active's new RRSIGs / standby's" "$(ratio "${R[change_new]:-}" "${R[change_standby_new]:-}")" "<=" 1.10
target "no change: rename to active's commit (s)" "$(v nochange_rename_commit_s)" "<" 1
# a new serial means a new SOA: its RRSIG is the one signature such a cycle must make
nochange_extra=
[ -z "${R[nochange_new]:-}" ] || nochange_extra=$((R[nochange_new] - 1))
target "no change: new RRSIGs besides the SOA's" "$nochange_extra" "<=" 0
gib=$(python3 -c "import sys; print('%.3f' % (int(sys.argv[1]) / 1048576))" "${R[tandem_active_hwm_kb]:-0}")
target "tandemd (active) peak RSS (GiB)" "$gib" "<" 1.5
target "tandemd / knotd peak RSS" "$(ratio "${R[tandem_active_hwm_kb]:-}" "${R[knot_hwm_kb]:-}")" "<" 1
target "knotd / tandem change time (to commit)" "$(ratio "${R[knot_change_s]:-}" "${R[change_commit_s]:-}")" ">=" 2
echo "ratio ods-signerd / tandem change time: $(ratio "${R[ods_change_s]:-}" "${R[change_commit_s]:-}")"
echo "publication (no target): change $(v change_active_s) s after the rename, of which $(v change_wait_s) s compare-before-publish's wait for the standby; no change $(v nochange_active_s) s, of which $(v nochange_wait_s) s"
echo "ratio knotd / tandem full signing time: $(ratio "${R[knot_full_s]:-}" "${R[full_commit_s]:-}")"

unverified=0
for k in "${!VERIFY[@]}"; do [ "${VERIFY[$k]}" = ok ] || unverified=1; done
if [ "$unverified" = 1 ]; then
	echo "incremental: some output failed dnssec-verify" >&2
	exit 1
fi
if [ "$missed" -gt 0 ] && [ "${STRICT:-0}" = 1 ]; then
	echo "incremental: $missed target(s) missed" >&2
	exit 1
fi
exit 0
