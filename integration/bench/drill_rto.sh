#!/bin/bash
# drill_rto: the RTO `tandemctl drill` measures (docs/drills.md) over RUNS runs of each
# scenario on one local cluster (deploy/cluster-up.sh --cycle 3 --lease-ms LEASE_MS, in
# network namespaces when root so that `partition` runs; else site-loss only). Every drill
# must pass (each restores the cluster for the next). Prints min / median / max per scenario.
# Usage: integration/bench/drill_rto.sh [RUNS=10]
# Env:   TANDEM_BUILD (default ./build), LEASE_MS (default 7000), SCENARIOS (default
#        "site-loss partition"), WORKDIR (default a temp dir, removed unless KEEP=1; the
#        reports are in WORKDIR/reports).
set -euo pipefail

RUNS=${1:-10}
case $RUNS in '' | *[!0-9]* | 0) echo "usage: $0 [RUNS]" >&2 && exit 2 ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
TDM_NAME=drill_rto
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$SRC/integration/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../cluster.sh
source "$SRC/integration/cluster.sh"
TDM_SRC=$SRC
TDM_BUILD=$(cd "${TANDEM_BUILD:-$SRC/build}" && pwd)
if [ -n "${WORKDIR:-}" ]; then
	TDM_TMP=$WORKDIR
	mkdir -p "$TDM_TMP"
	TDM_KEEP=1
else
	TDM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/drill_rto.XXXXXX")
	[ "${KEEP:-0}" = 1 ] && TDM_KEEP=1
fi
trap tdm_cleanup EXIT
trap 'exit 130' INT TERM

NETNS=0
[ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || NETNS=1
read -r -a scenarios <<<"${SCENARIOS:-site-loss partition}"
opts=(--cycle 3 --lease-ms "${LEASE_MS:-7000}" --policy "$SRC/integration/data/drill-policy.yaml")
if [ "$NETNS" = 1 ]; then
	opts+=(--netns)
else
	tdm_log "not root: no network namespaces, so no partition drill"
	read -r -a scenarios <<<"$(printf '%s\n' "${scenarios[@]}" | grep -vx partition | tr '\n' ' ')"
fi
tdm_cluster_up "${opts[@]}"
mkdir -p "$TDM_TMP/reports"

for sc in "${scenarios[@]}"; do
	for ((i = 1; i <= RUNS; i++)); do
		out=$TDM_TMP/$sc-$i.out
		"$TDM_CL/tandemctl" drill "$sc" --report "$TDM_TMP/reports" --wait 120 >"$out" 2>&1 ||
			tdm_fail "drill $sc (run $i) failed" -- "$out"
		tdm_log "$sc run $i: $(grep -o 'recovered .*' "$out")"
	done
done

python3 - "$TDM_TMP/reports" "${LEASE_MS:-7000}" "${scenarios[@]}" <<'PY'
import glob, json, statistics, sys
d, lease, scs = sys.argv[1], sys.argv[2], sys.argv[3:]
print("lease %s ms, margin 2000 ms, cycle 3 s" % lease)
print("%-22s %4s %7s %7s %7s" % ("scenario", "runs", "min s", "median", "max s"))
for sc in scs:
    rto = [json.load(open(f))["rto_s"] for f in glob.glob("%s/drill-*-%s.json" % (d, sc))]
    print("%-22s %4d %7.1f %7.1f %7.1f" % (sc, len(rto), min(rto), statistics.median(rto), max(rto)))
PY
