#!/bin/bash
# failover: recovery time of a local two-site cluster (deploy/cluster-up.sh, default lease
# 10 s, margin 2 s).
#   RTO: from kill -9 of the active node to the standby's first published zone (the time
#        in its publish.log), over RUNS runs (the killed node is started again, and back as
#        the standby, before the next run).
#   switchover: from `tandemctl switchover` to the target's first published zone, RUNS times.
# Prints min / median / max of each and the targets (RTO median < 15 s, switchover < 2 s).
# Usage: integration/bench/failover.sh [RUNS=10]
# Env:   TANDEM_BUILD (default ./build), WORKDIR (default a temp dir, removed unless KEEP=1),
#        STRICT=1 (exit 1 when a target is missed), ZONES (--zones for cluster-up; default:
#        the example zone).
set -euo pipefail

RUNS=${1:-10}
case $RUNS in '' | *[!0-9]* | 0) echo "usage: $0 [RUNS]" >&2 && exit 2 ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
TDM_NAME=failover
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$SRC/integration/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../cluster.sh
source "$SRC/integration/cluster.sh"
TDM_SRC=$SRC
TDM_BUILD=$(cd "${TANDEM_BUILD:-$SRC/build}" && pwd)
# tdm_cleanup removes TDM_TMP at exit unless TDM_KEEP=1: a WORKDIR, or KEEP=1, is kept
if [ -n "${WORKDIR:-}" ]; then
	TDM_TMP=$WORKDIR
	mkdir -p "$TDM_TMP"
	TDM_KEEP=1
else
	TDM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/failover.XXXXXX")
	[ "${KEEP:-0}" = 1 ] && TDM_KEEP=1
fi
trap tdm_cleanup EXIT
trap 'exit 130' INT TERM
Z=example.
args=(--cycle 900)
[ -n "${ZONES:-}" ] && args+=(--zones "$ZONES") && Z=z1.example.

now_ms() { date +%s%3N; }
# first_pub_after NODE T: the time of NODE's first publication of $Z at or after T (ms).
first_pub_after() {
	local log
	log=$(tdm_publog "$1")
	[ -f "$log" ] || return 1
	awk -v z="$Z" -v t="$2" '$2 == z && $1 >= t { print $1; found = 1; exit } END { exit !found }' "$log"
}
# shellcheck disable=SC2317 # called through tdm_wait
published_after() { first_pub_after "$@" >/dev/null; }
other() { if [ "$1" = node-a ]; then echo node-b; else echo node-a; fi; }
# shellcheck disable=SC2317 # called through tdm_wait
healthy() { [ "$(tdm_status_get "node('$1')['healthy']")" = True ]; }
stats() {
	python3 -c '
import statistics, sys
v = sorted(float(x) for x in sys.argv[2:])
print("%-11s runs %2d  min %6.2f s  median %6.2f s  max %6.2f s" % (sys.argv[1], len(v), v[0], statistics.median(v), v[-1]))
' "$@"
}
median() { python3 -c 'import statistics, sys; print("%.2f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

tdm_cluster_up "${args[@]}"
rto=()
for i in $(seq 1 "$RUNS"); do
	a=$(tdm_holder $Z)
	b=$(other "$a")
	tdm_wait 60 "$b healthy" healthy "$b"
	t0=$(now_ms)
	kill -9 "$(cat "$TDM_CL/run/$a.pid")"
	tdm_wait 90 "$b to publish after the kill" published_after "$b" "$t0"
	t1=$(first_pub_after "$b" "$t0")
	rto+=("$(python3 -c "print(($t1 - $t0) / 1000)")")
	tdm_log "run $i: killed $a, $b published after ${rto[-1]} s"
	bash "$TDM_CL/run/$a.start"
	tdm_wait 60 "$a back" healthy "$a"
done
sw=()
for i in $(seq 1 "$RUNS"); do
	a=$(tdm_holder $Z)
	b=$(other "$a")
	t0=$(now_ms)
	tdm_ctl switchover --zone $Z --to "$b" --wait 30 >/dev/null
	t1=$(first_pub_after "$b" "$t0")
	sw+=("$(python3 -c "print(($t1 - $t0) / 1000)")")
	tdm_log "switchover $i: $a -> $b published after ${sw[-1]} s"
	sleep 1
done
tdm_check_publications node-a node-b
echo "== failover ($RUNS runs, lease $(tdm_status_get "s['lease_ms']") ms)"
stats RTO "${rto[@]}"
stats switchover "${sw[@]}"
mr=$(median "${rto[@]}")
ms=$(python3 -c 'import sys; print("%.2f" % max(float(x) for x in sys.argv[1:]))' "${sw[@]}")
missed=0
python3 -c "import sys; sys.exit(0 if $mr < 15 else 1)" || missed=1
python3 -c "import sys; sys.exit(0 if $ms < 2 else 1)" || missed=1
echo "targets: RTO median < 15 s ($mr), every switchover < 2 s (max $ms): $([ $missed = 0 ] && echo met || echo MISSED)"
[ "${STRICT:-0}" = 1 ] && [ $missed = 1 ] && exit 1
exit 0
