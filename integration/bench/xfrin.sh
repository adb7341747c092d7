#!/bin/bash
# xfrin: input by transfer (docs/dist.md, "Input by transfer") of an unsigned zone of N
# delegations from knotd (TSIG hmac-sha256, loopback) by the dist_xfrin library
# (xfrin_fetch): the first transfer (the whole zone, written as the input file), then, after
# CHANGES delegations are replaced on the primary, the IXFR applied to the records in memory
# and the file written again, then a fresh start reading that file back. The seconds are the
# library's own wall time (from after the primary's SOA answer to the file renamed into
# place), beside the CPU time of each xfrin_fetch process (the box may be shared).
# Usage: integration/bench/xfrin.sh [N=100000] [CHANGES=1000]
# Env:   TANDEM_BUILD (default ./build), KEEP=1 keeps the work dir.
set -euo pipefail

N=${1:-100000}
CHANGES=${2:-1000}
case $N$CHANGES in *[!0-9]*) echo "usage: $0 [N] [CHANGES]" >&2 && exit 2 ;; esac
[ "$CHANGES" -le "$N" ] || { echo "xfrin: CHANGES above N" >&2 && exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${TANDEM_BUILD:-$SRC/build}" && pwd)
FETCH=$BUILD/integration/bench/xfrin_fetch
[ -x "$FETCH" ] || { echo "xfrin: $FETCH not built" >&2 && exit 1; }
for t in kdig knotd knotc python3; do
	command -v "$t" >/dev/null || { echo "xfrin: needs $t" >&2 && exit 1; }
done
W=$(mktemp -d)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ "${KEEP:-0}" = 1 ]; then echo "xfrin: kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT

# zone SERIAL FIRST: N delegations dFIRST.. with glue
zone() {
	printf '\044ORIGIN example.\n\044TTL 3600\n'
	printf '@ SOA ns1.example. admin.example. %s 3600 900 604800 300\n@ NS ns1.example.\n' "$1"
	printf 'ns1 A 192.0.2.1\n'
	awk -v n="$N" -v f="$2" 'BEGIN { for (i = f; i < f + n; i++) {
		printf "d%d NS ns1.d%d.example.\nns1.d%d A 198.51.100.%d\n", i, i, i, i % 250
	} }'
}
zone 1 0 >"$W/example.zone"
SECRET=$(head -c 32 /dev/urandom | base64 -w0)
(umask 077 && printf 'bench hmac-sha256 %s\n' "$SECRET" >"$W/tsig.key" &&
	printf 'hmac-sha256:bench:%s\n' "$SECRET" >"$W/kdig.key")

KPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$W/knot"
(umask 077 && : >"$W/knot/knot.conf")
cat >"$W/knot/knot.conf" <<EOC
server:
    listen: 127.0.0.1@$KPORT
    rundir: $W/knot
control:
    listen: $W/knot/knot.sock
database:
    storage: $W/knot
key:
  - id: bench
    algorithm: hmac-sha256
    secret: $SECRET
acl:
  - id: xfr
    key: bench
    action: transfer
template:
  - id: default
    semantic-checks: off
    journal-content: changes
    zonefile-load: difference
    zonefile-sync: -1
zone:
  - domain: example.
    file: $W/example.zone
    acl: xfr
log:
  - target: $W/knot/knot.log
    any: warning
EOC
knotd -c "$W/knot/knot.conf" >"$W/knot/out" 2>&1 &
PIDS+=($!)
serial() { kdig @127.0.0.1 -p "$KPORT" +time=2 +retry=0 +short -k "$W/kdig.key" example. SOA 2>/dev/null | awk 'NR == 1 { print $3 }'; }
for _ in $(seq 1 600); do
	[ "$(serial)" != 1 ] || break
	sleep 0.5
done
[ "$(serial)" = 1 ] || { echo "xfrin: knotd did not serve the zone" >&2 && cat "$W/knot/out" >&2 && exit 1; }

# fetch COUNT LOG: xfrin_fetch until COUNT transfers (10 minutes at most)
fetch() {
	"$FETCH" example. "127.0.0.1:$KPORT" "$W/tsig.key" "$W/input.zone" "$1" 600 >"$W/$2" 2>&1 ||
		{ echo "xfrin: xfrin_fetch failed" >&2 && cat "$W/$2" >&2 && exit 1; }
}
secs() { sed -n "s/.*$1.*(\([0-9.]*\) s)\$/\1/p" "$W/$2" | tail -n 1; }

fetch 1 first.log
echo "first transfer (AXFR): $(secs 'AXFR from' first.log) s, $(stat -c %s "$W/input.zone") bytes written; the process's $(sed -n 's/^cpu: //p' "$W/first.log")"

# CHANGES delegations replaced (the first CHANGES out, as many new ones in), knotd reloads
# the file as a difference: its IXFR holds only them
"$FETCH" example. "127.0.0.1:$KPORT" "$W/tsig.key" "$W/input.zone" 1 600 >"$W/ixfr.log" 2>&1 &
FPID=$!
PIDS+=("$FPID")
for _ in $(seq 1 600); do
	! grep -q 'read back' "$W/ixfr.log" || break
	sleep 0.2
done
zone 2 "$CHANGES" >"$W/example.zone"
knotc -c "$W/knot/knot.conf" -t 120 -b zone-reload example. >/dev/null
wait "$FPID" || { echo "xfrin: the IXFR did not come" >&2 && cat "$W/ixfr.log" >&2 && exit 1; }
echo "read back at start: $(secs 'read back' ixfr.log) s"
echo "IXFR of $CHANGES replaced delegations: $(secs 'IXFR from' ixfr.log) s ($(sed -n 's/.*, \([0-9]*\) records changed.*/\1/p' "$W/ixfr.log") records changed); the process's (read back and IXFR) $(sed -n 's/^cpu: //p' "$W/ixfr.log")"
