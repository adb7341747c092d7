#!/bin/bash
# zones: a local two-site cluster (deploy/cluster-up.sh) with N small zones (tandem-zonegen -n
# 10 each), measured:
#   start-up: from the start of cluster-up, and from the nodes' start (their pid files), to
#             every zone published (the first line of each zone in either publish.log);
#             target < 120 s from the nodes' start;
#   steady:   over WINDOW s (default 60) with nothing to do but renew leases and heartbeat:
#             etcd puts and transactions per second (read-only transactions included: a
#             decision about one zone reads the cluster key and the zone's in one), bytes
#             per second the members received from clients (etcd_mvcc_put_total,
#             etcd_mvcc_txn_total,
#             etcd_network_client_grpc_received_bytes_total, summed over the members; puts
#             and transactions divided by 3, as every member applies every write), the CPU
#             the coordinators used;
#             and where a zone's time went (zones_timeline.py: each step of its keys' way),
#             and each node's coordinator calls (tandem_coord_call_duration_seconds);
#   leases:   each node's grants and missed deadlines ("stop publishing") from its log;
#   drain:    `tandemctl drain` of the node holding most zones, until the other node holds
#             every zone and has published each zone it took over since the drain; target
#             < 30 s.
# Usage: integration/bench/zones.sh [N=500]
# Env:   TANDEM_BUILD (default ./build), WORKDIR (default a temp dir; either is removed at the
#        end unless KEEP=1),
#        WINDOW (seconds of steady state sampled, default 60), STRICT=1 (exit 1 when a
#        target is missed), CYCLE (tandemd --cycle, default 900: few commits in the window),
#        POLICY (the nodes' policy, default conf/modern.yaml: ECDSA P-256, whose keys a
#        SoftHSM token makes in milliseconds; conf/dps-default.yaml's RSA-2048 KSK takes
#        seconds per zone, in tandemd's loop).
set -euo pipefail

N=${1:-500}
case $N in '' | *[!0-9]* | 0) echo "usage: $0 [N]" >&2 && exit 2 ;; esac
WINDOW=${WINDOW:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
TDM_NAME=zones
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$SRC/integration/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../cluster.sh
source "$SRC/integration/cluster.sh"
TDM_SRC=$SRC
TDM_BUILD=$(cd "${TANDEM_BUILD:-$SRC/build}" && pwd)
if [ -n "${WORKDIR:-}" ]; then
	TDM_TMP=$WORKDIR
	mkdir -p "$TDM_TMP"
else
	TDM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/zones.XXXXXX")
fi
[ "${KEEP:-0}" = 1 ] && TDM_KEEP=1 # lib.sh's cleanup removes TDM_TMP unless TDM_KEEP=1
trap tdm_cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }
# first_pubs NODE... : "ZONE TIME" of each zone's first publication in those nodes' logs.
first_pubs() {
	local n
	for n in "$@"; do cat "$(tdm_publog "$n")" 2>/dev/null || true; done |
		awk '!($2 in t) || $1 < t[$2] { t[$2] = $1 } END { for (z in t) print z, t[z] }'
}
# etcd_sample: puts, txns and bytes received, summed over the members.
etcd_sample() {
	local e out p=0 t=0 b=0
	for e in ${ETCD_ENDPOINTS//,/ }; do
		out=$(curl -s --max-time 5 "${etls[@]}" "$e/metrics") || return 1
		p=$(awk -v v="$p" '$1 == "etcd_mvcc_put_total" { printf "%d", v + $2 }' <<<"$out")
		t=$(awk -v v="$t" '$1 == "etcd_mvcc_txn_total" { printf "%d", v + $2 }' <<<"$out")
		b=$(awk -v v="$b" '$1 == "etcd_network_client_grpc_received_bytes_total" { printf "%d", v + $2 }' <<<"$out")
	done
	printf '%s %s %s\n' "$p" "$t" "$b"
}
# cpu_ticks NAME...: user + system clock ticks of those processes (their pid files).
cpu_ticks() {
	local n sum=0 pid
	for n in "$@"; do
		pid=$(cat "$TDM_CL/run/$n.pid")
		sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
	done
	printf '%s\n' "$sum"
}
missed=0

t_start=$(now_ms)
# cluster-up itself, not tdm_cluster_up: its wait for every zone's publication asks the status
# of each zone in turn (500 tandemctl calls a try at 500 zones, longer than its bound); the
# publish.logs are read below instead
TDM_CL=$TDM_TMP/cluster
tdm_on_exit tdm_cluster_down
TANDEM_CLUSTER_TIMEOUT=${TANDEM_CLUSTER_TIMEOUT:-900} TANDEM_BUILD=$TDM_BUILD \
	"$SRC/deploy/cluster-up.sh" "$TDM_CL" --zones "$N" --zone-records 10 --cycle "${CYCLE:-900}" \
	--policy "${POLICY:-$SRC/conf/modern.yaml}" >"$TDM_TMP/cluster-up.out" 2>&1 ||
	tdm_fail "cluster-up.sh failed" -- "$TDM_TMP/cluster-up.out"
t_up=$(now_ms)
t_nodes=$(stat -c %Y "$TDM_CL/run/node-a.pid" "$TDM_CL/run/node-b.pid" | sort -n | head -n 1)000
all_pub() { [ "$(first_pubs node-a node-b | grep -c .)" -ge "$N" ]; }
tdm_wait 600 "all $N zones published" all_pub
t_all=$(first_pubs node-a node-b | awk '{ print $2 }' | sort -n | tail -n 1)
startup=$(python3 -c "print('%.1f' % (($t_all - $t_nodes) / 1000))")
python3 "$HERE/zones_timeline.py" "$TDM_CL" >&2 || true
tdm_log "start-up: cluster-up took $(((t_up - t_start) / 1000)) s; every zone published $(python3 -c "print('%.1f' % (($t_all - $t_start) / 1000))") s after its start, $startup s after the nodes' start (target < 120 s)"
python3 -c "import sys; sys.exit(0 if $startup < 120 else 1)" || missed=1
# each node's coordinator calls so far (tandem_coord_call_duration_seconds): count, mean and
# the bucket bounds of the median and 90th percentile
for n in node-a node-b; do
	addr=$(tdm_status_get "node('$n').get('metrics', '')") || addr=
	[ -n "$addr" ] || continue
	curl -s --max-time 5 "http://$addr/metrics" | python3 -c '
import sys
name, le, count, total = sys.argv[1], {}, 0, 0.0
for line in sys.stdin:
    f = line.split()
    if line.startswith("tandem_coord_call_duration_seconds_bucket"):
        b = line.split("le=\"")[1].split("\"")[0]
        le[float("inf") if b == "+Inf" else float(b)] = float(f[-1])
    elif line.startswith("tandem_coord_call_duration_seconds_count"):
        count = float(f[-1])
    elif line.startswith("tandem_coord_call_duration_seconds_sum"):
        total = float(f[-1])
def q(p):
    return next((b for b in sorted(le) if le[b] >= p * count), float("nan"))
if count:
    print("[zones] %s: %d coordinator calls, mean %.1f ms, median <= %g ms, p90 <= %g ms"
          % (name, count, 1000 * total / count, 1000 * q(0.5), 1000 * q(0.9)), file=sys.stderr)
' "$n" || true
done

# shellcheck source=/dev/null
. "$TDM_CL/cluster.env"
mapfile -t etls < <(tdm_cluster_etcd_tls)
read -r p0 x0 b0 < <(etcd_sample) || tdm_fail "etcd metrics unreadable"
c0=$(cpu_ticks coord-a coord-b)
sleep "$WINDOW" # the measuring window
read -r p1 x1 b1 < <(etcd_sample) || tdm_fail "etcd metrics unreadable"
c1=$(cpu_ticks coord-a coord-b)
hz=$(getconf CLK_TCK)
python3 - "$N" "$WINDOW" "$p0" "$p1" "$x0" "$x1" "$b0" "$b1" "$c0" "$c1" "$hz" <<'PY'
import sys
n, w = int(sys.argv[1]), float(sys.argv[2])
p0, p1, x0, x1, b0, b1, c0, c1, hz = (float(v) for v in sys.argv[3:])
puts, txns = (p1 - p0) / 3 / w, (x1 - x0) / 3 / w
print("[zones] steady state, %d zones, %.0f s: %.1f puts/s, %.1f txns/s (read-only ones "
      "included), %.0f bytes/s received "
      "from clients (%.0f per put), coordinators' CPU %.0f %%"
      % (n, w, puts, txns, (b1 - b0) / w, (b1 - b0) / max(puts * w, 1), 100 * (c1 - c0) / hz / w),
      file=sys.stderr)
PY

# leases: the grants each node logged and the deadlines it missed ("stop publishing"), so far
lease_counts() {
	local n out=""
	for n in node-a node-b; do
		out="$out $n $(grep -c 'lease granted' "$TDM_CL/log/$n.log" || true) granted, $(grep -c 'stop publishing' "$TDM_CL/log/$n.log" || true) stop publishing;"
	done
	printf '%s\n' "${out# }"
}
tdm_log "leases before the drain: $(lease_counts)"

from=$(tdm_status_get 'max(("node-a", "node-b"), key=lambda n: sum(1 for z in s["zones"] if z["active_node"] == n))')
to=node-a
[ "$from" = node-a ] && to=node-b
tdm_status_get "' '.join(z['name'] for z in s['zones'] if z['active_node'] == '$from')" | tr ' ' '\n' >"$TDM_TMP/moved"
held=$(grep -c . "$TDM_TMP/moved")
t0=$(now_ms)
tdm_ctl drain "$from" >"$TDM_TMP/drain.out" || tdm_fail "drain $from failed" -- "$TDM_TMP/drain.out"
# shellcheck disable=SC2317 # called through tdm_wait
moved_pubs() { # the first publication by $to since the drain of each zone moved: "ZONE TIME"
	awk -v t="$t0" 'NR == FNR { m[$1] = 1; next } $1 >= t && ($2 in m) && !($2 in s) { s[$2] = $1 }
		END { for (z in s) print z, s[z] }' "$TDM_TMP/moved" "$(tdm_publog "$to")"
}
# shellcheck disable=SC2317 # called through tdm_wait
drained() {
	[ "$(moved_pubs | grep -c .)" -ge "$held" ] &&
		[ "$(tdm_status_get "sum(1 for z in s['zones'] if z['active_node'] == '$to')")" = "$N" ]
}
tdm_wait 300 "every zone published by $to after the drain" drained
t1=$(moved_pubs | awk '{ print $2 }' | sort -n | tail -n 1)
drain=$(python3 -c "print('%.1f' % (($t1 - $t0) / 1000))")
tdm_log "drain of $from ($held zones held): every zone published by $to $drain s after the drain (target < 30 s)"
python3 -c "import sys; sys.exit(0 if $drain < 30 else 1)" || missed=1
tdm_log "leases after the drain: $(lease_counts)"
tdm_ctl undrain "$from" >/dev/null || tdm_fail "undrain $from failed"
tdm_check_publications node-a node-b
if [ "$missed" = 1 ] && [ "${STRICT:-0}" = 1 ]; then
	tdm_fail "a target was missed"
fi
