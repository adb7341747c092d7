#!/bin/bash
# One running instance per node. (1) A second tandemd with node-a's own command line (same
# --work and --out) is refused at once, naming the running one's pid. (2) A second tandemd
# with node-b's key and token but its own --work and --out, started while node-b holds the
# zone: the coordinators refuse its instance, it raises the "instance" alert and publishes
# nothing; no serial is published twice anywhere; stopping it does not take node-b's lease
# away. (3) kill -9 of node-b and a restart (a new instance): it registers again once the
# old instance has been silent for the node timeout, and is the standby (it shadow-signs
# and agrees) within a bound.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd timeout
Z=example.

tdm_cluster_up --cycle 3
if [ "$(tdm_holder $Z)" != node-b ]; then
	tdm_ctl switchover --zone $Z --to node-b --wait 60 >"$TDM_TMP/switchover.out" 2>&1 ||
		tdm_fail "could not make node-b the active signer" -- "$TDM_TMP/switchover.out"
fi
tdm_wait 30 "node-b to publish" tdm_published_after node-b $Z 0

# node_cmd NODE: the node's tandemd command line (env, binary, arguments) as cluster-up.sh
# started it, one word per line, without --pid-file.
node_cmd() {
	local line
	line=$(grep '^setsid' "$TDM_CL/run/$1.start")
	line=${line#setsid }
	line=${line%% </dev/null*}
	local words=() skip=0 w
	eval "words=($line)"
	for w in "${words[@]}"; do
		if [ "$skip" = 1 ]; then
			skip=0
			continue
		fi
		if [ "$w" = --pid-file ]; then
			skip=1
			continue
		fi
		printf '%s\n' "$w"
	done
}

# (1) the same directories
mapfile -t cmd < <(node_cmd node-a)
pid_a=$(cat "$TDM_CL/run/node-a.pid")
t0=$(date +%s%3N)
rc=0
timeout 20 "${cmd[@]}" >"$TDM_TMP/second.out" 2>&1 || rc=$?
took=$(($(date +%s%3N) - t0))
[ "$rc" != 124 ] || tdm_fail "a second tandemd in node-a's directories kept running" -- "$TDM_TMP/second.out"
[ "$rc" != 0 ] || tdm_fail "a second tandemd in node-a's directories exited 0" -- "$TDM_TMP/second.out"
grep -q "another tandemd runs there (pid $pid_a " "$TDM_TMP/second.out" ||
	tdm_fail "the refusal does not name pid $pid_a" -- "$TDM_TMP/second.out"
[ "$took" -le 5000 ] || tdm_fail "the second tandemd took $took ms to be refused"
kill -0 "$pid_a" || tdm_fail "node-a died"
tdm_pass "a second tandemd in node-a's directories was refused in $took ms, naming pid $pid_a"

# (2) node-b's key in other directories
mapfile -t cmd < <(node_cmd node-b)
for i in "${!cmd[@]}"; do
	case ${cmd[$i]} in
	--out) cmd[i + 1]=$TDM_TMP/imp-out ;;
	--work) cmd[i + 1]=$TDM_TMP/imp-work ;;
	esac
done
epoch=$(tdm_status_get "zone('$Z')['epoch']")
"${cmd[@]}" >"$TDM_TMP/impostor.log" 2>&1 &
imp=$!
tdm_on_exit "kill -9 $imp 2>/dev/null || true"
refused() { grep -q "ALERT instance: another instance of node node-b is running" "$TDM_TMP/impostor.log"; }
tdm_wait 30 "the second node-b to be refused" refused
s0=$(tdm_last_serial node-b $Z)
tdm_wait 30 "node-b to publish on" tdm_published_after node-b $Z "$s0"
s0=$(tdm_last_serial node-b $Z)
tdm_wait 30 "node-b to publish on" tdm_published_after node-b $Z "$s0"
[ ! -s "$TDM_TMP/imp-out/publish.log" ] || tdm_fail "the second node-b published" -- "$TDM_TMP/imp-out/publish.log"
logs=()
for n in node-a node-b; do
	[ ! -f "$(tdm_publog $n)" ] || logs+=("$(tdm_publog $n)")
done
dups=$(awk '{ print $2, $3 }' "${logs[@]}" | sort | uniq -d)
[ -z "$dups" ] || tdm_fail "serials published twice: $dups"
kill -TERM "$imp"
gone() { ! kill -0 "$imp" 2>/dev/null; }
tdm_wait 30 "the second node-b to stop" gone
tdm_pass "the second node-b was refused and published nothing"
s0=$(tdm_last_serial node-b $Z)
tdm_wait 30 "node-b to publish on" tdm_published_after node-b $Z "$s0"
[ "$(tdm_holder $Z)" = node-b ] || tdm_fail "node-b lost $Z when the second node-b stopped"
[ "$(tdm_status_get "zone('$Z')['epoch']")" = "$epoch" ] ||
	tdm_fail "the epoch moved on: node-b's lease was released or lost"
grep -q "zone $Z: stop publishing" "$TDM_CL/log/node-b.log" &&
	tdm_fail "node-b stopped publishing" -- "$TDM_CL/log/node-b.log"
tdm_pass "stopping the second node-b left node-b's lease alone"

# (3) kill -9 and restart: a new instance
nreg=$(grep -c "registered at site B" "$TDM_CL/log/node-b.log")
kill -9 "$(cat "$TDM_CL/run/node-b.pid")"
bash "$TDM_CL/run/node-b.start"
t0=$(date +%s)
registered() { [ "$(grep -c "registered at site B" "$TDM_CL/log/node-b.log")" -gt "$nreg" ]; }
tdm_wait 60 "the restarted node-b to register" registered
tdm_pass "the restarted node-b registered after $(($(date +%s) - t0)) s"
standby() {
	local h s
	h=$(tdm_holder $Z)
	[ -n "$h" ] || return 1
	s=$(tdm_last_serial "$h" $Z)
	[ -n "$s" ] || return 1
	if [ "$h" = node-b ]; then
		tdm_published_after node-b $Z "$s0"
	else
		grep -q "serial $s: node-b agrees" "$TDM_CL"/log/coord-*.log
	fi
}
tdm_wait 90 "the restarted node-b to be the standby or active" standby
tdm_check_publications node-a node-b
tdm_pass "the restarted node-b is back within $(($(date +%s) - t0)) s; no serial published twice"
tdm_cluster_sanitizer_check
