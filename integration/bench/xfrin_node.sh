#!/bin/bash
# xfrin_node: input by transfer at the node (docs/dist.md "Input by transfer", docs/node.md
# "Input by IXFR"): a two-node local cluster takes zone example. from knotd (TSIG, NOTIFY to
# both nodes); the zone grows to N delegations (each with its glue A), taken and signed; then
# CHANGES delegations are replaced on knotd (its NOTIFY, an IXFR of the difference) and the
# time from the active node's log line of that NOTIFY to its line of the new serial's commit
# is printed, with the run's summary (what the load did: `IXFR applied` or `parse`).
# Usage: integration/bench/xfrin_node.sh [N=100000] [CHANGES=1000]
# Env:   TANDEM_BUILD (default ./build), KEEP=1 keeps the work dir.
set -euo pipefail

N=${1:-100000}
CHANGES=${2:-1000}
case $N$CHANGES in *[!0-9]*) echo "usage: $0 [N] [CHANGES]" >&2 && exit 2 ;; esac
[ "$CHANGES" -le "$N" ] || { echo "xfrin_node: CHANGES above N" >&2 && exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
TDM_NAME=xfrin_node
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$SRC/integration/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../cluster.sh
source "$SRC/integration/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../peers.sh
source "$SRC/integration/peers.sh"
TDM_SRC=$SRC
TDM_BUILD=$(cd "${TANDEM_BUILD:-$SRC/build}" && pwd)
TDM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/xfrin_node.XXXXXX")
[ "${KEEP:-0}" = 1 ] && TDM_KEEP=1
trap tdm_cleanup EXIT
trap 'exit 130' INT TERM
tdm_need etcd knotd knotc python3
Z=example.

# zone SERIAL FIRST: N delegations dFIRST.. with glue, SOA refresh 3600 (NOTIFY drives it)
zone() {
	printf '\044ORIGIN example.\n\044TTL 3600\n'
	printf '@ SOA ns1.example. admin.example. %s 3600 900 604800 300\n@ NS ns1.example.\n' "$1"
	printf 'ns1 A 192.0.2.1\n'
	awk -v n="$N" -v f="$2" 'BEGIN { for (i = f; i < f + n; i++) {
		printf "d%d NS ns1.d%d.example.\nns1.d%d A 198.51.100.%d\n", i, i, i, i % 250
	} }'
}

PORT=$(tdm_free_ports 1)
PEERS_KNOT_PORT=$PORT
tdm_cluster_up --cycle 86400 --primary "127.0.0.1:$PORT"
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z"
xfr_port() { sed -n 's/.*transfers served on [^ ]*:\([0-9]*\) .*/\1/p' "$TDM_CL/log/$1.log" | tail -n 1; }
PA=$(xfr_port node-a)
PB=$(xfr_port node-b)
KEYF=$TDM_CL/tsig.key
mkdir -p "$TDM_TMP/pri"
zone 2026120700 0 >"$TDM_TMP/pri/example.zone"
peers_knot_hidden_primary "$TDM_TMP/pri" "$PORT" "$KEYF" "$PA" "$PB"

LOG=$TDM_CL/log/$A.log
# after PATTERN WHAT: a line matching WHAT after the first line matching PATTERN
after() { awk -v p="$1" -v w="$2" '$0 ~ p { seen = 1 } seen && $0 ~ w { ok = 1 } END { exit !ok }' "$LOG"; }
committed_after() { after "$1" 'zone example\.: serial [0-9]* committed'; }
T0=$(date +%s)
tdm_wait 1800 "$A to commit the $N-delegation zone" committed_after 'xfrin example\.: .* serial 2026120700'
echo "the $N-delegation zone taken and committed in $(($(date +%s) - T0)) s (wall: the first transfer and a full signing)"
# published once the standby reported the same digest (its shadow: the change's base)
tdm_wait 600 "$A to publish it" after 'xfrin example\.: .* serial 2026120700' 'zone example\.: published serial'

L0=$(wc -l <"$LOG")
zone 2026120701 "$CHANGES" >"$TDM_TMP/pri/example.zone"
peers_knot_reload "$TDM_TMP/pri" example
tdm_wait 600 "$A to commit the change" committed_after 'xfrin example\.: IXFR from .*-> 2026120701'

# ms of an ISO time stamp (the log's first field)
ms() { python3 -c 'import sys, datetime; print(int(datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00")).timestamp() * 1000))' "$1"; }
tail -n +"$((L0 + 1))" "$LOG" >"$TDM_TMP/change.log"
NOTIFY=$(grep -m1 'xfrin example\.: NOTIFY from' "$TDM_TMP/change.log" | cut -d' ' -f1)
COMMIT=$(grep -m1 "zone example\.: serial [0-9]* committed" "$TDM_TMP/change.log" | cut -d' ' -f1)
if [ -z "$NOTIFY" ] || [ -z "$COMMIT" ]; then tdm_fail "no NOTIFY or commit line" -- "$TDM_TMP/change.log"; fi
echo "IXFR of $CHANGES replaced delegations: NOTIFY to committed $(echo "scale=2; ($(ms "$COMMIT") - $(ms "$NOTIFY")) / 1000" | bc) s"
grep -m1 'xfrin example\.: IXFR from' "$TDM_TMP/change.log" | sed 's/^[^ ]* [^ ]* [^ ]* /  /'
grep -m1 'input: zone example\.' "$TDM_TMP/change.log" | sed 's/^[^ ]* [^ ]* [^ ]* /  /' || true
grep -m1 'zone example\.: signing run' "$TDM_TMP/change.log" | sed 's/^[^ ]* [^ ]* [^ ]* /  /'
