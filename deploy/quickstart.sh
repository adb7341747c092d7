#!/bin/bash
# Quickstart: install dependencies, build, make a SoftHSMv2 token, sign conf/example.zone
# with keys generated in the HSM, and verify the result twice (tandem's gate, BIND's
# dnssec-verify). Usage: deploy/quickstart.sh [WORKDIR]   (default ./quickstart-work)
# Env: BUILD_DIR (default build), JOBS (default 2), SKIP_DEPS=1, SKIP_BUILD=1.
# The PIN is random, kept in WORKDIR/hsm/user.pin (mode 0600) and given to tandem only as a
# pin-source file in the key URI; it never appears on a command line. Running it again
# reuses the token and its keys.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-./quickstart-work}
BUILD=${BUILD_DIR:-$SRC/build}
JOBS=${JOBS:-2}
ORIGIN=example
TDM_NAME=quickstart
# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh
source "$SRC/integration/lib.sh"

say() { printf '\n==> %s\n' "$*"; }

if [ "${SKIP_DEPS:-0}" != 1 ]; then
	say "dependencies (deploy/install-deps.sh)"
	sh "$SRC/deploy/install-deps.sh"
fi
if [ "${SKIP_BUILD:-0}" != 1 ]; then
	say "build in $BUILD"
	cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$BUILD" -j "$JOBS" --target tandem-signzone tandem-zonegen
fi
TDM_BUILD=$(cd "$BUILD" && pwd)
SIGNZONE=$(tdm_bin tandem-signzone)

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
say "SoftHSMv2 token 'quickstart' in $WORK/hsm"
tdm_token "$WORK/hsm" quickstart
MODULE=$TDM_MODULE
echo "SOFTHSM2_CONF=$SOFTHSM2_CONF"
echo "PIN file: $TDM_PIN_FILE ($(stat -c %a "$TDM_PIN_FILE"))"

KSK=$(tdm_key_uri ksk-example)
ZSK=$(tdm_key_uri zsk-example)
SIGNED=$WORK/example.zone.signed
say "signing $SRC/conf/example.zone (NSEC3, RSASHA256 KSK 2048 / ZSK 1024, keys made in the HSM)"
echo "key URIs: $KSK"
echo "          $ZSK"
"$SIGNZONE" -o "$ORIGIN" --nsec3 -a rsasha256 --ksk-bits 2048 --zsk-bits 1024 \
	--module "$MODULE" --ksk "$KSK" --zsk "$ZSK" --gen-keys -v \
	-f "$SIGNED" "$SRC/conf/example.zone"

say "verifying with tandem's gate (--verify-only)"
"$SIGNZONE" -o "$ORIGIN" --verify-only "$SIGNED"
echo "tandem-signzone --verify-only: ok"

say "verifying with BIND's dnssec-verify"
dnssec-verify -o "$ORIGIN" "$SIGNED"

say "done"
cat <<EOF
signed zone:  $SIGNED
  ($(tdm_rrtype_count RRSIG "$SIGNED") RRSIGs, $(tdm_rrtype_count NSEC3 "$SIGNED") NSEC3 records)
DS for the parent:
$(awk '($3 == "IN" ? $4 : $3) == "DNSKEY" && ($3 == "IN" ? $5 : $4) == 257' "$SIGNED" >"$WORK/ksk.dnskey" &&
	dnssec-dsfromkey -2 -f "$WORK/ksk.dnskey" "$ORIGIN" 2>/dev/null | sed 's/^/  /' || echo "  (dnssec-dsfromkey failed)")
token:        SOFTHSM2_CONF=$SOFTHSM2_CONF (token 'quickstart', PIN in $TDM_PIN_FILE)
sign again:   SOFTHSM2_CONF=$SOFTHSM2_CONF $SIGNZONE -o $ORIGIN \\
                --module $MODULE --ksk '$KSK' --zsk '$ZSK' -f OUT IN
EOF
