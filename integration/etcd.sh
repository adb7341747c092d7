# shellcheck shell=bash
# Real etcd clusters for tests: N members (1 or 3) on free 127.0.0.1 ports, data dirs in a
# temp dir, killed and removed at exit. Sourcing defines functions only; works on its own or
# after lib.sh (then its tdm_fail, tdm_log and tdm_on_exit are used).
#
#   source "$(dirname "$0")/etcd.sh"
#   tdm_etcd_start 3              # TDM_ETCD_N members; waits until all are healthy
#   ep=$(tdm_etcd_endpoints)      # "http://127.0.0.1:P1,http://127.0.0.1:P2,..."
#   tdm_etcd_endpoint 2           # client URL of member 2 alone
#   tdm_etcd_kill 1               # kill -9 member 1 (its data dir stays)
#   tdm_etcd_restart 1            # start member 1 again on the same ports and data dir
#   tdm_etcd_wait_healthy 15      # every running member says {"health":"true"} (bounded)
#   tdm_etcd_stop_all             # kill -9 every member (also done at exit)
#
# Env: TDM_ETCD_DIR (default: a fresh temp dir, removed at exit unless TDM_KEEP=1),
#      TDM_ETCD_ARGS (extra etcd flags), TDM_ETCD_TIMEOUT (seconds to wait, default 20).
# Only loopback: every listen and advertise URL is http://127.0.0.1:PORT. Ports are picked
# free at run time (bound to port 0 by python3, all at once so they differ, then released).

TDM_ETCD_N=0
TDM_ETCD_PIDS=()
TDM_ETCD_CPORTS=()
TDM_ETCD_PPORTS=()
TDM_ETCD_CLUSTER=
TDM_ETCD_OWN_DIR=0

tdm_etcd_log() {
	if declare -F tdm_log >/dev/null; then
		tdm_log "etcd: $*"
	else
		printf '[etcd] %s\n' "$*" >&2
	fi
}

tdm_etcd_fail() {
	if declare -F tdm_fail >/dev/null; then
		tdm_fail "etcd: $*" -- "${TDM_ETCD_DIR:-/nonexistent}"/m*.log
	fi
	printf '[etcd] FAIL: %s\n' "$*" >&2
	exit 1
}

# tdm_etcd_run I: starts member I (1-based) in the background with the cluster's flags.
tdm_etcd_run() {
	local i=$1 cport=${TDM_ETCD_CPORTS[$1 - 1]} pport=${TDM_ETCD_PPORTS[$1 - 1]}
	local extra=()
	if [ -n "${TDM_ETCD_ARGS:-}" ]; then
		read -r -a extra <<<"$TDM_ETCD_ARGS"
	fi
	etcd --name "m$i" --data-dir "$TDM_ETCD_DIR/m$i.data" \
		--listen-client-urls "http://127.0.0.1:$cport" \
		--advertise-client-urls "http://127.0.0.1:$cport" \
		--listen-peer-urls "http://127.0.0.1:$pport" \
		--initial-advertise-peer-urls "http://127.0.0.1:$pport" \
		--initial-cluster "$TDM_ETCD_CLUSTER" \
		--initial-cluster-token "tandem-test-$$" \
		--initial-cluster-state new \
		--logger zap --log-outputs stderr \
		"${extra[@]}" >>"$TDM_ETCD_DIR/m$i.log" 2>&1 &
	TDM_ETCD_PIDS[i - 1]=$!
}

# tdm_etcd_start N: starts an N-member cluster and waits until every member is healthy.
tdm_etcd_start() {
	local n=$1 i ports
	if [ "$n" -lt 1 ] || [ "$n" -gt 7 ]; then
		tdm_etcd_fail "member count must be 1..7, not $n"
	fi
	command -v etcd >/dev/null 2>&1 || tdm_etcd_fail "etcd not found (Debian: etcd-server)"
	command -v curl >/dev/null 2>&1 || tdm_etcd_fail "curl not found"
	if [ -z "${TDM_ETCD_DIR:-}" ]; then
		TDM_ETCD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tandem-etcd.XXXXXX")
		TDM_ETCD_OWN_DIR=1
	fi
	mkdir -p "$TDM_ETCD_DIR"
	if declare -F tdm_on_exit >/dev/null; then
		tdm_on_exit tdm_etcd_cleanup
	else
		trap tdm_etcd_cleanup EXIT
	fi
	mapfile -t ports < <(tdm_free_ports $((2 * n))) # deploy/lib.sh, through lib.sh
	[ "${#ports[@]}" -eq $((2 * n)) ] || tdm_etcd_fail "could not pick free ports"
	TDM_ETCD_N=$n
	TDM_ETCD_CLUSTER=
	for ((i = 1; i <= n; i++)); do
		TDM_ETCD_CPORTS[i - 1]=${ports[2 * i - 2]}
		TDM_ETCD_PPORTS[i - 1]=${ports[2 * i - 1]}
		TDM_ETCD_CLUSTER+="${TDM_ETCD_CLUSTER:+,}m$i=http://127.0.0.1:${ports[2 * i - 1]}"
	done
	for ((i = 1; i <= n; i++)); do
		tdm_etcd_run "$i"
	done
	tdm_etcd_log "started $n member(s) in $TDM_ETCD_DIR: $(tdm_etcd_endpoints)"
	tdm_etcd_wait_healthy "${TDM_ETCD_TIMEOUT:-20}"
}

# tdm_etcd_endpoint I: the client URL of member I.
tdm_etcd_endpoint() {
	printf 'http://127.0.0.1:%s\n' "${TDM_ETCD_CPORTS[$1 - 1]}"
}

# tdm_etcd_endpoints: every member's client URL, comma-separated, in member order.
tdm_etcd_endpoints() {
	local i out=
	for ((i = 1; i <= TDM_ETCD_N; i++)); do
		out+="${out:+,}http://127.0.0.1:${TDM_ETCD_CPORTS[i - 1]}"
	done
	printf '%s\n' "$out"
}

# tdm_etcd_running I: member I's process is alive.
tdm_etcd_running() {
	local pid=${TDM_ETCD_PIDS[$1 - 1]:-}
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# tdm_etcd_healthy I: member I answers /health with "true" (within 2 seconds).
tdm_etcd_healthy() {
	curl -s --max-time 2 "$(tdm_etcd_endpoint "$1")/health" 2>/dev/null | grep -q '"health":"true"'
}

# tdm_etcd_wait_healthy [SECONDS]: waits until every running member is healthy; fails the
# test after SECONDS (default 20), or at once if a member process has died.
tdm_etcd_wait_healthy() {
	local limit=${1:-20} start i ok
	start=$(date +%s)
	while :; do
		ok=1
		for ((i = 1; i <= TDM_ETCD_N; i++)); do
			[ -n "${TDM_ETCD_PIDS[i - 1]:-}" ] || continue
			tdm_etcd_running "$i" || tdm_etcd_fail "member m$i (pid ${TDM_ETCD_PIDS[i - 1]}) exited"
			tdm_etcd_healthy "$i" || ok=0
		done
		[ "$ok" = 1 ] && return 0
		[ $(($(date +%s) - start)) -lt "$limit" ] || tdm_etcd_fail "cluster not healthy after ${limit}s"
		sleep 0.2
	done
}

# tdm_etcd_kill I: kill -9 member I and reaps it; its data dir stays for tdm_etcd_restart.
tdm_etcd_kill() {
	local pid=${TDM_ETCD_PIDS[$1 - 1]:-}
	[ -n "$pid" ] || return 0
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	TDM_ETCD_PIDS[$1 - 1]=
	tdm_etcd_log "killed member m$1 (pid $pid)"
}

# tdm_etcd_restart I: starts member I again (same ports, same data dir). Does not wait;
# call tdm_etcd_wait_healthy once enough members are back for a quorum.
tdm_etcd_restart() {
	[ -z "${TDM_ETCD_PIDS[$1 - 1]:-}" ] || tdm_etcd_fail "member m$1 is still running"
	tdm_etcd_run "$1"
	tdm_etcd_log "restarted member m$1 (pid ${TDM_ETCD_PIDS[$1 - 1]})"
}

# tdm_etcd_stop_all: kill -9 every member.
tdm_etcd_stop_all() {
	local i
	for ((i = 1; i <= TDM_ETCD_N; i++)); do
		tdm_etcd_kill "$i"
	done
}

# tdm_etcd_cleanup: stops every member and removes the data dir if this file made it.
tdm_etcd_cleanup() {
	tdm_etcd_stop_all
	if [ "$TDM_ETCD_OWN_DIR" = 1 ] && [ -d "${TDM_ETCD_DIR:-}" ]; then
		if [ "${TDM_KEEP:-0}" = 1 ]; then
			tdm_etcd_log "kept $TDM_ETCD_DIR (TDM_KEEP=1)"
		else
			rm -rf "$TDM_ETCD_DIR"
		fi
	fi
}
