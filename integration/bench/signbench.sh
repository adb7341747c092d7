#!/bin/bash
# signbench: tandem-signzone against the HSM raw bound and other signers, on one generated zone.
# Usage: integration/bench/signbench.sh [N=100000]
# Env:   TANDEM_BUILD (default ./build), WORKDIR (default a temp dir, removed unless KEEP=1),
#        STRICT=1 (exit 1 when a target is missed), SKIP="ods kzonesign ldns bind rawbound"
#        (signers to leave out), ODSBENCH (default ../shared/bench/odsbench.sh beside the repo).
# All signers: NSEC3 (no opt-out, 0 iterations, empty salt), RSASHA256 KSK 2048 / ZSK 1024,
# SoftHSMv2 for the HSM signers, file keys for ldns-signzone and dnssec-signzone.
# Every signer's output is checked once with dnssec-verify (not timed). See docs/benchmarks.md.
set -euo pipefail

N=${1:-100000}
case $N in '' | *[!0-9]*) echo "usage: $0 [DELEGATIONS]" >&2 && exit 2 ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
TDM_NAME=signbench
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$SRC/integration/lib.sh"
BUILD=$(cd "${TANDEM_BUILD:-$SRC/build}" && pwd)
TDM_BUILD=$BUILD
ODSBENCH=${ODSBENCH:-$SRC/../shared/bench/odsbench.sh}
SKIP=" ${SKIP:-} "
ORIGIN=tld
skipped() { [[ $SKIP == *" $1 "* ]]; }

if [ -n "${WORKDIR:-}" ]; then
	W=$WORKDIR
	mkdir -p "$W"
else
	W=$(mktemp -d "${TMPDIR:-/tmp}/signbench.XXXXXX")
fi
W=$(cd "$W" && pwd)
TDM_TMP=$W/tmp
mkdir -p "$TDM_TMP"
cleanup() {
	if [ "${KEEP:-0}" = 1 ] || [ -n "${WORKDIR:-}" ]; then
		echo "signbench: work files kept in $W" >&2
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT

tdm_need dnssec-verify ldns-signzone ldns-keygen dnssec-signzone dnssec-keygen softhsm2-util python3 bc
[ -x /usr/bin/time ] || tdm_fail "/usr/bin/time not found (apt-get install time)"
SIGNZONE=$(tdm_bin tandem-signzone)
ZONEGEN=$(tdm_bin tandem-zonegen)
MODULE=$(tdm_module)
TIME=(/usr/bin/time -f '%e %M')

# results: R_<key>_{s,kb,sigs,note}
declare -A RS RKB RSIGS RNOTE ROK
record() { # key seconds kb sigs note
	RS[$1]=$2
	RKB[$1]=$3
	RSIGS[$1]=$4
	RNOTE[$1]=${5:-}
}
say() { printf 'signbench: %s\n' "$*" >&2; }
# verify KEY FILE: dnssec-verify once per signer (not timed)
verify() {
	if dnssec-verify -o "$ORIGIN" "$2" >"$W/verify-$1.log" 2>&1; then
		ROK[$1]=ok
	else
		ROK[$1]=FAILED
		say "dnssec-verify FAILED for $1 ($2):"
		tail -n 5 "$W/verify-$1.log" >&2
	fi
}
count_rrsig() { tdm_rrtype_count RRSIG "$1"; }
# the number for key=VALUE[unit] in a line ("gate=1.23", "gate=1.23s", "gate=850ms")
field_seconds() {
	printf '%s\n' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {
		v = $2; m = 1
		if (v ~ /ms$/) { m = 0.001; sub(/ms$/, "", v) } else if (v ~ /us$/) { m = 0.000001; sub(/us$/, "", v) } else sub(/s$/, "", v)
		printf "%.3f\n", v * m; exit }'
}

# ---- the zone --------------------------------------------------------------------------------
ZONE=$W/$ORIGIN.zone
"$ZONEGEN" -o "$ORIGIN" -n "$N" --ds-share 0.2 --seed 42 >"$ZONE"
say "zone: $N delegations, $(wc -l <"$ZONE") records, in $W"

# ---- tandem-signzone (PKCS#11 on SoftHSMv2) --------------------------------------------------
tdm_token "$W/hsm-tandem" bench
KSK=$(tdm_key_uri ksk)
ZSK=$(tdm_key_uri zsk)
TKEYS=(-o "$ORIGIN" --nsec3 -a rsasha256 --ksk-bits 2048 --zsk-bits 1024 --ksk "$KSK" --zsk "$ZSK"
	--module "$MODULE")
# keys first, on a one-delegation zone, so key generation is not timed
"$ZONEGEN" -o "$ORIGIN" -n 1 >"$W/keygen.zone"
"$SIGNZONE" "${TKEYS[@]}" --gen-keys -f "$W/keygen.signed" "$W/keygen.zone" 2>"$W/keygen.err" ||
	tdm_fail "tandem-signzone key generation failed" -- "$W/keygen.err"

GATE="" SIGN=""
for j in 1 2; do
	out=$W/tandem-j$j.signed
	say "tandem-signzone -j$j ..."
	"${TIME[@]}" -o "$W/tandem-j$j.time" "$SIGNZONE" "${TKEYS[@]}" -v -j "$j" -f "$out" "$ZONE" \
		2>"$W/tandem-j$j.err" || tdm_fail "tandem-signzone -j$j failed" -- "$W/tandem-j$j.err"
	read -r s kb <"$W/tandem-j$j.time"
	record "tandem-$j" "$s" "$kb" "$(count_rrsig "$out")"
	timing=$(grep -m1 'timing:' "$W/tandem-j$j.err" || true)
	if [ "$j" = 2 ] && [ -n "$timing" ]; then
		GATE=$(field_seconds "$timing" gate)
		SIGN=$(field_seconds "$timing" sign)
		RNOTE[tandem-2]="$timing"
	fi
done
verify tandem-2 "$W/tandem-j2.signed"
SIGS=${RSIGS[tandem-2]}
say "tandem made $SIGS RRSIGs"

# ---- raw bound: the same key, the same number of signatures, no DNS work ---------------------
if ! skipped rawbound; then
	if RAW=$(tdm_bin hsm_rawbound 2>/dev/null); then
		for t in 1 2; do
			say "hsm_rawbound --threads $t --count $SIGS ..."
			line=$("$RAW" --module "$MODULE" --token bench --key zsk --pin-file "$TDM_PIN_FILE" \
				--threads "$t" --count "$SIGS" 2>"$W/rawbound-$t.err" | grep 'rawbound' | tail -n 1) ||
				tdm_fail "hsm_rawbound --threads $t failed" -- "$W/rawbound-$t.err"
			record "rawbound-$t" "$(field_seconds "$line" seconds)" "" "$(printf '%s\n' "$line" | tr ' ' '\n' | sed -n 's/^count=//p')" "$line"
		done
	else
		say "hsm_rawbound not built under $BUILD: raw bound skipped"
	fi
fi

# ---- OpenDNSSEC (ods-signerd, SoftHSMv2) -----------------------------------------------------
if ! skipped ods; then
	if ! command -v ods-signerd >/dev/null; then
		say "opendnssec not installed: skipped"
	elif [ "$(id -u)" -ne 0 ]; then
		say "odsbench needs root: skipped"
	elif [ ! -f "$ODSBENCH" ]; then
		say "$ODSBENCH not found: skipped"
	else
		say "OpenDNSSEC (odsbench.sh) ..."
		if NOCHANGE_RUNS=1 THREADS=2 bash "$ODSBENCH" "$ZONE" "$W/ods" "$ORIGIN" >"$W/ods.out" 2>&1; then
			l=$(grep '^ods-signer-full ' "$W/ods.out" | head -n 1)
			# "ods-signer-full 61.3 s 812345 KB"
			record ods "$(awk '{ print $2 }' <<<"$l")" "$(awk '{ print $4 }' <<<"$l")" \
				"$(grep -m1 'rrsigs:' "$W/ods.out" | awk '{ print $2 }')" "$(grep '^ods-signer-full-clear' "$W/ods.out" | head -n 1)"
			if grep -q "dnssec-verify ok: .*full.signed" "$W/ods.out"; then ROK[ods]=ok; else ROK[ods]=FAILED; fi
		else
			say "odsbench.sh failed (see $W/ods.out):"
			tail -n 5 "$W/ods.out" >&2
		fi
	fi
fi

# ---- kzonesign (Knot 3.2, PKCS#11 keystore on SoftHSMv2) -------------------------------------
if ! skipped kzonesign; then
	if ! command -v kzonesign >/dev/null || ! command -v keymgr >/dev/null; then
		say "kzonesign/keymgr not installed (knot-dnssecutils, knot): skipped"
	else
		K=$W/knot
		mkdir -p "$K/db" "$K/zones" "$K/out" "$K/run"
		cp "$ZONE" "$K/zones/$ORIGIN.zone"
		(
			tdm_token "$K/hsm" knot
			# kzonesign reads its PIN from knot.conf (pin-value): this file is 0600, in the bench's
			# own temp dir, and the token exists only for this run.
			umask 077
			cat >"$K/knot.conf" <<EOF
server:
    rundir: "$K/run"
database:
    storage: "$K/db"
keystore:
  - id: hsm
    backend: pkcs11
    config: "pkcs11:token=knot;pin-value=$(cat "$TDM_PIN_FILE") $MODULE"
policy:
  - id: bench
    keystore: hsm
    manual: on
    algorithm: rsasha256
    ksk-size: 2048
    zsk-size: 1024
    nsec3: on
    nsec3-iterations: 0
    nsec3-salt-length: 0
    nsec3-opt-out: off
    rrsig-lifetime: 8d
    rrsig-refresh: 2d
    signing-threads: 2
template:
  - id: default
    storage: "$K/zones"
zone:
  - domain: $ORIGIN
    file: "$K/zones/$ORIGIN.zone"
    dnssec-signing: on
    dnssec-policy: bench
    zonefile-load: whole
    journal-content: none
EOF
			keymgr -c "$K/knot.conf" "$ORIGIN" generate algorithm=rsasha256 size=2048 ksk=yes zsk=no >/dev/null
			keymgr -c "$K/knot.conf" "$ORIGIN" generate algorithm=rsasha256 size=1024 ksk=no zsk=yes >/dev/null
			say "kzonesign (signing-threads 2) ..."
			"${TIME[@]}" -o "$K/time" kzonesign -c "$K/knot.conf" -o "$K/out" "$ORIGIN" >"$K/kzonesign.log" 2>&1
		) || tdm_fail "kzonesign run failed" -- "$W/knot/kzonesign.log"
		read -r s kb <"$K/time"
		record kzonesign "$s" "$kb" "$(count_rrsig "$K/out/$ORIGIN.zone")"
		verify kzonesign "$K/out/$ORIGIN.zone"
	fi
fi

# ---- ldns-signzone and dnssec-signzone (file keys) ---------------------------------------------
if ! skipped ldns; then
	mkdir -p "$W/ldns"
	(
		cd "$W/ldns"
		ldns-keygen -a RSASHA256 -b 1024 "$ORIGIN" >zsk.name
		ldns-keygen -k -a RSASHA256 -b 2048 "$ORIGIN" >ksk.name
		say "ldns-signzone -n ..."
		"${TIME[@]}" -o time ldns-signzone -n -s '' -t 0 -f signed "$ZONE" "$(cat zsk.name)" "$(cat ksk.name)" 2>err
	) || tdm_fail "ldns-signzone failed" -- "$W/ldns/err"
	read -r s kb <"$W/ldns/time"
	record ldns "$s" "$kb" "$(count_rrsig "$W/ldns/signed")"
	verify ldns "$W/ldns/signed"
fi
if ! skipped bind; then
	mkdir -p "$W/bind"
	dnssec-keygen -q -K "$W/bind" -a RSASHA256 -b 2048 -f KSK "$ORIGIN" >/dev/null
	dnssec-keygen -q -K "$W/bind" -a RSASHA256 -b 1024 "$ORIGIN" >/dev/null
	say "dnssec-signzone -n 2 -3 - ..."
	"${TIME[@]}" -o "$W/bind/time" dnssec-signzone -n 2 -3 - -H 0 -S -K "$W/bind" -d "$W/bind" -O full -o "$ORIGIN" \
		-f "$W/bind/signed" "$ZONE" >"$W/bind/log" 2>&1 || tdm_fail "dnssec-signzone failed" -- "$W/bind/log"
	read -r s kb <"$W/bind/time"
	record bind "$s" "$kb" "$(count_rrsig "$W/bind/signed")"
	verify bind "$W/bind/signed"
fi

# ---- report ------------------------------------------------------------------------------------
row() { # key label threads
	local k=$1 s=${RS[$1]:-} kb=${RKB[$1]:-} n=${RSIGS[$1]:-} rate="" mb=""
	[ -n "$s" ] || {
		printf '%-18s %7s %9s %10s %8s %11s  %s\n' "$2" "$3" "-" "-" "-" "-" "skipped"
		return
	}
	[ -n "$n" ] && [ "$(bc -l <<<"$s > 0")" = 1 ] && rate=$(printf '%.0f' "$(bc -l <<<"$n / $s")")
	[ -n "$kb" ] && mb=$(printf '%.1f' "$(bc -l <<<"$kb / 1024")")
	printf '%-18s %7s %9.2f %10s %8s %11s  %s\n' "$2" "$3" "$s" "${mb:--}" "${n:--}" "${rate:--}" "${ROK[$1]:-}"
}
echo
echo "signbench: $N delegations, NSEC3, RSASHA256 KSK 2048 / ZSK 1024, $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-18s %7s %9s %10s %8s %11s  %s\n' signer threads wall_s peak_MB rrsigs rrsigs/s dnssec-verify
row rawbound-1 hsm_rawbound 1
row rawbound-2 hsm_rawbound 2
row tandem-1 tandem-signzone 1
row tandem-2 tandem-signzone 2
row ods ods-signerd 2
row kzonesign kzonesign 2
row ldns ldns-signzone 1
row bind dnssec-signzone 2
[ -n "${RNOTE[tandem-2]:-}" ] && echo "tandem -j2 ${RNOTE[tandem-2]}"
[ -n "${RNOTE[ods]:-}" ] && echo "ods warm full re-sign: ${RNOTE[ods]}"

missed=0
# ratio LABEL NUM DEN OP TARGET: prints NUM/DEN and whether "ratio OP TARGET" holds
ratio() {
	local label=$1 num=$2 den=$3 op=$4 target=$5 r verdict
	if [ -z "$num" ] || [ -z "$den" ] || [ "$(bc -l <<<"$den == 0")" = 1 ]; then
		printf '%-34s %8s   target %s %s  n/a\n' "$label" "-" "$op" "$target"
		return
	fi
	r=$(bc -l <<<"$num / $den")
	if [ "$(bc -l <<<"$r $op $target")" = 1 ]; then verdict=met; else
		verdict=MISSED
		missed=$((missed + 1))
	fi
	printf '%-34s %8.2f   target %s %s  %s\n' "$label" "$r" "$op" "$target" "$verdict"
}
echo
echo "ratios"
ratio "tandem-j1 / rawbound-1 (time)" "${RS[tandem-1]:-}" "${RS[rawbound-1]:-}" "<=" 1.15
ratio "tandem-j2 / rawbound-2 (time)" "${RS[tandem-2]:-}" "${RS[rawbound-2]:-}" "<=" 1.15
ratio "ODS / tandem-j2 (time)" "${RS[ods]:-}" "${RS[tandem-2]:-}" ">=" 1.35
ratio "kzonesign / tandem-j2 (time)" "${RS[kzonesign]:-}" "${RS[tandem-2]:-}" ">=" 1.8
ratio "tandem-j2 / kzonesign (peak RSS)" "${RKB[tandem-2]:-}" "${RKB[kzonesign]:-}" "<=" 1.0
ratio "gate / sign (tandem-j2)" "$GATE" "$SIGN" "<" 0.3

bad=0
for k in "${!ROK[@]}"; do [ "${ROK[$k]}" = ok ] || bad=1; done
if [ "$bad" = 1 ]; then
	echo "signbench: some output failed dnssec-verify" >&2
	exit 1
fi
if [ "$missed" -gt 0 ] && [ "${STRICT:-0}" = 1 ]; then
	echo "signbench: $missed target(s) missed" >&2
	exit 1
fi
