#!/bin/bash
# axfr: a full AXFR of one signed zone of N delegations (ldns-signzone, Ed25519, NSEC3) from
# tandem's transfer server (dist_serve, the dist library) and from knotd serving the same
# file, in the same run; the client is kdig with TSIG (hmac-sha256) on 127.0.0.1. Prints
# the records, the bytes kdig received and the seconds of each transfer (the best of RUNS).
# Target (issue 11): dist no slower than knotd.
# Usage: integration/bench/axfr.sh [N=100000]
# Env:   TANDEM_BUILD (default ./build), RUNS (default 3), KEEP=1 keeps the work dir.
set -euo pipefail

N=${1:-100000}
case $N in '' | *[!0-9]* | 0) echo "usage: $0 [N]" >&2 && exit 2 ;; esac
RUNS=${RUNS:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${TANDEM_BUILD:-$SRC/build}" && pwd)
SERVE=$BUILD/integration/bench/dist_serve
[ -x "$SERVE" ] || { echo "axfr: $SERVE not built" >&2 && exit 1; }
for t in kdig knotd ldns-signzone ldns-keygen; do
	command -v "$t" >/dev/null || { echo "axfr: needs $t" >&2 && exit 1; }
done
W=$(mktemp -d)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ "${KEEP:-0}" = 1 ]; then echo "axfr: kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT

# ---- the zone -----------------------------------------------------------------------------
{
	printf '\044ORIGIN example.\n\044TTL 3600\n'
	printf '@ SOA ns1.example. admin.example. 1 3600 900 604800 300\n@ NS ns1.example.\n'
	printf 'ns1 A 192.0.2.1\n'
	awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) {
		printf "d%d NS ns1.d%d.example.\n", i, i
		if (i % 10 == 0) printf "d%d DS %d 13 2 %064x\n", i, i % 65536, i
	} }'
} >"$W/example.zone"
(cd "$W" && ldns-keygen -a ED25519 -k example. >keybase)
t0=$(date +%s.%N)
ldns-signzone -n -t 0 -s ab -f "$W/example.signed" "$W/example.zone" "$W/$(cat "$W/keybase")"
t1=$(date +%s.%N)
echo "zone: $N delegations signed by ldns-signzone in $(echo "$t1 - $t0" | bc) s"

SECRET=$(head -c 32 /dev/urandom | base64 -w0)
(umask 077 && printf 'bench hmac-sha256 %s\n' "$SECRET" >"$W/tsig.key")

# ---- dist_serve --------------------------------------------------------------------------
mkfifo "$W/hold"
"$SERVE" "$W/example.signed" example. "$W/tsig.key" <"$W/hold" >"$W/dist.out" 2>&1 &
PIDS+=($!)
exec 3>"$W/hold" # open until the end: dist_serve runs while it is
DADDR=
for _ in $(seq 1 600); do
	DADDR=$(awk '$1 == "xfr" { print $2 }' "$W/dist.out")
	[ -z "$DADDR" ] || break
	sleep 0.5
done
[ -n "$DADDR" ] || { echo "axfr: dist_serve did not start" >&2 && cat "$W/dist.out" >&2 && exit 1; }

# ---- knotd ---------------------------------------------------------------------------------
KPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$W/knot"
cat >"$W/knot/knot.conf" <<EOC
server:
    listen: 127.0.0.1@$KPORT
    rundir: $W/knot
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
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: example.
    file: $W/example.signed
    acl: xfr
log:
  - target: $W/knot/knot.log
    any: warning
EOC
knotd -c "$W/knot/knot.conf" >"$W/knot/out" 2>&1 &
PIDS+=($!)
ok=
for _ in $(seq 1 600); do
	if kdig @127.0.0.1 -p "$KPORT" +time=2 +retry=0 -y "hmac-sha256:bench:$SECRET" example. SOA 2>/dev/null |
		grep -q 'status: NOERROR'; then
		ok=1
		break
	fi
	sleep 0.5
done
[ -n "$ok" ] || { echo "axfr: knotd did not serve the zone" >&2 && cat "$W/knot/out" "$W/knot/knot.log" >&2 && exit 1; }

# ---- the transfers -------------------------------------------------------------------------
# xfr NAME ADDR PORT: the best of RUNS AXFRs ("records bytes seconds")
xfr() {
	local best='' i s e secs rr bytes
	for i in $(seq 1 "$RUNS"); do
		s=$(date +%s.%N)
		kdig "@$2" -p "$3" +tcp +time=120 +retry=0 -y "hmac-sha256:bench:$SECRET" example. AXFR \
			>"$W/$1.$i.out" 2>&1
		e=$(date +%s.%N)
		secs=$(echo "$e - $s" | bc)
		if grep -q '^;; \(WARNING\|ERROR\)' "$W/$1.$i.out"; then
			echo "axfr: $1: kdig failed" >&2 && tail -n 3 "$W/$1.$i.out" >&2 && exit 1
		fi
		rr=$(grep -c -v -e '^;' -e '^$' -e $'\tTSIG\t' "$W/$1.$i.out")
		bytes=$(sed -n 's/^;; Received \([0-9]*\) B.*/\1/p' "$W/$1.$i.out")
		if [ -z "$best" ] || [ "$(echo "$secs < ${best##* }" | bc)" = 1 ]; then
			best="$rr $bytes $secs"
		fi
	done
	echo "$best"
}
read -r drr dbytes dsecs <<<"$(xfr dist "${DADDR%:*}" "${DADDR##*:}")"
read -r krr kbytes ksecs <<<"$(xfr knot 127.0.0.1 "$KPORT")"
printf '%-6s %10s records %12s bytes %8s s\n' dist "$drr" "$dbytes" "$dsecs" knotd "$krr" "$kbytes" "$ksecs"
[ "$drr" = "$krr" ] || echo "axfr: the record counts differ" >&2
if [ "$(echo "$dsecs <= $ksecs" | bc)" = 1 ]; then
	echo "target met: dist no slower than knotd"
else
	echo "target missed: dist $(echo "scale=2; $dsecs / $ksecs" | bc) x knotd's time"
fi
