#!/bin/bash
# cycle: the stage times of tandem-signzone update cycles (--previous) on a generated zone: a
# cycle with no change and one with about 1,000 changed delegations, each with the whole gate
# (--gate-full) and with the incremental one. Usage: integration/bench/cycle.sh [N=100000]
# Env: TANDEM_BUILD (default ./build), WORKDIR (default a temp dir, removed unless KEEP=1),
#      BASE=DIR holding tld.zone, full.signed and hsm/ of an earlier full signing of the same
#      zone (as /work/base/run.sh makes them; copied, never changed) instead of signing here.
# RSASHA256 KSK 2048 / ZSK 1024, NSEC3 (no opt-out, 0 iterations, empty salt), SoftHSMv2.
set -euo pipefail

N=${1:-100000}
case $N in '' | *[!0-9]*) echo "usage: $0 [DELEGATIONS]" >&2 && exit 2 ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
TDM_NAME=cycle
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$SRC/integration/lib.sh"
BUILD=$(cd "${TANDEM_BUILD:-$SRC/build}" && pwd)
TDM_BUILD=$BUILD

if [ -n "${WORKDIR:-}" ]; then
	W=$WORKDIR
	mkdir -p "$W"
else
	W=$(mktemp -d "${TMPDIR:-/tmp}/cycle.XXXXXX")
fi
W=$(cd "$W" && pwd)
TDM_TMP=$W/tmp
mkdir -p "$TDM_TMP"
cleanup() {
	if [ "${KEEP:-0}" = 1 ] || [ -n "${WORKDIR:-}" ]; then
		echo "cycle: work files kept in $W" >&2
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
[ -x /usr/bin/time ] || tdm_fail "/usr/bin/time not found (apt-get install time)"
SIGNZONE=$(tdm_bin tandem-signzone)
ZONEGEN=$(tdm_bin tandem-zonegen)
MODULE=$(tdm_module)
say() { printf 'cycle: %s\n' "$*" >&2; }

if [ -n "${BASE:-}" ]; then
	cp -r "$BASE/hsm" "$W/hsm"
	cp "$BASE/tld.zone" "$W/tld.zone"
	cp "$BASE/full.signed" "$W/full.signed"
	export SOFTHSM2_CONF=$W/hsm/softhsm2.conf
	sed -i "s#$BASE/hsm#$W/hsm#g" "$SOFTHSM2_CONF"
	KSK="pkcs11:token=bench;object=ksk;pin-source=$W/hsm/user.pin"
	ZSK="pkcs11:token=bench;object=zsk;pin-source=$W/hsm/user.pin"
else
	"$ZONEGEN" -o tld -n "$N" --ds-share 0.2 --seed 42 >"$W/tld.zone"
	tdm_token "$W/hsm" bench
	KSK=$(tdm_key_uri ksk)
	ZSK=$(tdm_key_uri zsk)
fi
K=(-o tld --nsec3 -a rsasha256 --ksk-bits 2048 --zsk-bits 1024 --ksk "$KSK" --zsk "$ZSK"
	--module "$MODULE" -j2)
if [ ! -s "$W/full.signed" ]; then
	"$ZONEGEN" -o tld -n 1 >"$W/kg.zone"
	"$SIGNZONE" "${K[@]}" --gen-keys -f "$W/kg.signed" "$W/kg.zone"
	say "full signing of $N delegations"
	/usr/bin/time -f 'cycle: full: %e s %M KB' "$SIGNZONE" "${K[@]}" -v -f "$W/full.signed" \
		"$W/tld.zone" 2>"$W/full.err" || tdm_fail "full signing failed: $(cat "$W/full.err")"
	cat "$W/full.err" >&2
fi

# about 1,000 changes: every delegation whose index is 0, 1 or 2 mod (delegations / 333)
# is removed, gets other NS, or gets a DS; and 333 new delegations (a third with a DS)
awk -v n="$N" '
	BEGIN { step = int(n / 333); if (step < 3) step = 3 }
	$1 != last && $4 == "NS" && $1 !~ /^[a-c]\.nic\./ && $1 != "tld." { last = $1; k++ }
	$1 == last && $1 != "tld." && k % step == 0 { next }
	$1 == last && $1 != "tld." && k % step == 1 && $4 == "NS" { $5 = "ns" (NR % 2 + 1) ".changed.example." }
	{ print }
	$1 == last && $1 != "tld." && k % step == 2 && $4 == "NS" && !ds[$1]++ {
		print $1, 86400, "IN", "DS", "4242 13 2 " sprintf("%064d", k) }
	END {
		for (i = 0; i < 333; i++) {
			printf "added%d.tld. 86400 IN NS ns1.new.example.\n", i
			if (i % 3 == 0) printf "added%d.tld. 86400 IN DS 4243 13 2 %064d\n", i, i
		}
	}' "$W/tld.zone" >"$W/changed.zone"

run() { # NAME INPUT PREVIOUS [signzone options]
	local name=$1 in=$2 prev=$3
	shift 3
	/usr/bin/time -f "cycle: $name: %e s %M KB (wall, previous loaded and checked whole)" \
		"$SIGNZONE" "${K[@]}" -v "$@" --previous "$prev" -f "$W/$name.signed" "$in" \
		2>"$W/$name.err" || tdm_fail "$name failed: $(cat "$W/$name.err")"
	say "$name: $(grep -h '^timing:' "$W/$name.err")"
	say "$name: $(grep -h '^rrsigs:' "$W/$name.err")"
	say "$name: $(grep -h '^gate:' "$W/$name.err" || echo 'gate: (no gate line)')"
	grep -h '^cycle:' "$W/$name.err" >&2 || true
}
run same-gatefull "$W/tld.zone" "$W/full.signed" --gate-full
run same-incr "$W/tld.zone" "$W/full.signed"
run change-gatefull "$W/changed.zone" "$W/full.signed" --gate-full
run change-incr "$W/changed.zone" "$W/full.signed"
cmp -s <(grep -v RRSIG "$W/change-gatefull.signed" | grep -v SOA) \
	<(grep -v RRSIG "$W/change-incr.signed" | grep -v SOA) ||
	tdm_fail "the two gates let different zones through"
