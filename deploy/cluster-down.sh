#!/bin/bash
# Stops the cluster deploy/cluster-up.sh started in DIR: its resolver (Unbound) and secondary
# (NSD) if it started them, then nodes, then coordinators, then etcd
# (SIGTERM, SIGKILL after a bounded wait), and removes the network namespaces it made.
# Idempotent. A pid is signalled only if that process's command line is the expected program
# started for DIR (so a reused pid or a stranger's process is never touched); processes
# found in the namespaces that it did not start are named, not touched.
#
# Usage: deploy/cluster-down.sh DIR
# Env: TANDEM_CLUSTER_STOP_TIMEOUT (seconds before SIGKILL, default 10).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
TDM_NAME=cluster-down
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$SRC/deploy/lib.sh"

if [ $# -ne 1 ] || [ "${1#-}" != "$1" ]; then
	printf 'usage: deploy/cluster-down.sh DIR\n' >&2
	exit 1
fi
if [ ! -d "$1" ]; then
	tdm_log "$1: no such directory, nothing to stop"
	exit 0
fi
DIR=$(cd "$1" && pwd)
WAIT=${TANDEM_CLUSTER_STOP_TIMEOUT:-10}
case $WAIT in '' | *[!0-9]*) tdm_fail "TANDEM_CLUSTER_STOP_TIMEOUT: seconds" ;; esac

# prog NAME: the program a process of this name runs.
prog() {
	case $1 in
	etcd-*) printf 'etcd\n' ;;
	coord-*) printf 'tandem-coord\n' ;;
	node-*) printf 'tandemd\n' ;;
	nsd) printf 'nsd\n' ;;
	unbound) printf 'unbound\n' ;;
	*) printf '\n' ;;
	esac
}

# ours NAME PID: PID is the process cluster-up started as NAME for this DIR.
ours() {
	local p
	p=$(prog "$1")
	[ -n "$p" ] && tdm_pid_is "$2" "$p" "$DIR/"
}

# stop_group NAME-GLOB: SIGTERM to every live process of the group, SIGKILL to those left
# after WAIT seconds, then removes their pid files.
stop_group() {
	local glob=$1 f name pid left deadline
	local names=() pids=()
	for f in "$DIR"/run/$glob.pid; do
		[ -f "$f" ] || continue
		name=$(basename "$f" .pid)
		pid=$(head -n 1 "$f" 2>/dev/null || true)
		if ours "$name" "$pid"; then
			kill -TERM "$pid" 2>/dev/null || true
			names+=("$name")
			pids+=("$pid")
			tdm_log "SIGTERM $name (pid $pid)"
		elif [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ -n "$(tr -d '\0' <"/proc/$pid/cmdline" 2>/dev/null)" ]; then
			tdm_log "$name: pid $pid is not $(prog "$name") for $DIR: left alone"
		fi
	done
	deadline=$(($(date +%s) + WAIT))
	while :; do
		left=0
		for i in "${!pids[@]}"; do
			ours "${names[i]}" "${pids[i]}" && left=1
		done
		[ "$left" = 1 ] || break
		if [ "$(date +%s)" -ge "$deadline" ]; then
			for i in "${!pids[@]}"; do
				if ours "${names[i]}" "${pids[i]}"; then
					tdm_log "SIGKILL ${names[i]} (pid ${pids[i]}): still running after ${WAIT} s"
					kill -KILL "${pids[i]}" 2>/dev/null || true
				fi
			done
			sleep 0.5
			break
		fi
		sleep 0.2
	done
	for f in "$DIR"/run/$glob.pid; do
		[ -f "$f" ] || continue
		name=$(basename "$f" .pid)
		pid=$(head -n 1 "$f" 2>/dev/null || true)
		if ours "$name" "$pid"; then
			tdm_log "$name (pid $pid) did not stop"
		else
			rm -f "$f"
		fi
	done
}

if [ -d "$DIR/run" ]; then
	stop_group unbound
	stop_group nsd
	stop_group 'node-*'
	stop_group 'coord-*'
	stop_group 'etcd-*'
fi

# ---- network namespaces ---------------------------------------------------------------------------
if [ -f "$DIR/netns" ]; then
	HASH=$(printf '%s' "$DIR" | sha256sum | cut -c1-8)
	kept=()
	while read -r role ns _; do
		case $role in '' | '#'*) continue ;; esac
		case $ns in
		tdm-"$HASH"-hub | tdm-"$HASH"-a | tdm-"$HASH"-b | tdm-"$HASH"-w | tdm-"$HASH"-d) ;;
		*)
			tdm_log "$DIR/netns names '$ns', not a namespace of this cluster: left alone"
			continue
			;;
		esac
		ip netns list 2>/dev/null | awk '{ print $1 }' | grep -qxF "$ns" || continue
		others=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
		[ -z "$others" ] || tdm_log "namespace $ns still holds processes cluster-up did not start (pids $others): they keep it alive"
		if ip netns del "$ns"; then
			tdm_log "removed network namespace $ns"
		else
			kept+=("$ns")
		fi
	done <"$DIR/netns"
	if [ "${#kept[@]}" -eq 0 ]; then
		rm -f "$DIR/netns"
	else
		tdm_fail "could not remove namespace(s) ${kept[*]}"
	fi
fi
left=$(find "$DIR/run" -name '*.pid' 2>/dev/null | wc -l)
[ "$left" -eq 0 ] || tdm_fail "$left process(es) still running: see $DIR/run"
# The nodes' token stores cluster-up put on tmpfs (only a path of the form it makes).
if [ -f "$DIR/run/hsm-store" ]; then
	store=$(head -n 1 "$DIR/run/hsm-store")
	[[ $store =~ ^/dev/shm/tandem-hsm\.[A-Za-z0-9]{6}$ ]] || store=''
	if [ -n "$store" ] && [ -d "$store" ] && [ -O "$store" ]; then
		rm -rf -- "$store"
		tdm_log "removed the nodes' SoftHSM stores in $store"
	fi
	rm -f "$DIR/run/hsm-store"
fi
tdm_log "cluster in $DIR stopped"
