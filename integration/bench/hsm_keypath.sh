#!/bin/bash
# hsm_keypath: the cost per key of tandem's key path on SoftHSM tokens that already hold many
# objects: make a key on token A, check the SMK, wrap it, export it to an archive entry, import
# that entry into token B (both tokens filled with FILL objects first; one SoftHSM store).
# Usage: integration/bench/hsm_keypath.sh [FILL=3000] [KEYS=20] [ALG=13]
# Env:   TANDEM_BUILD (default ./build), BACKEND (SoftHSM objectstore.backend, default file).
set -euo pipefail
FILL=${1:-3000}
KEYS=${2:-20}
ALG=${3:-13}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
TDM_NAME=hsm_keypath
# shellcheck source-path=SCRIPTDIR source=../../deploy/lib.sh
source "$SRC/deploy/lib.sh"
BUILD=$(cd "${TANDEM_BUILD:-$SRC/build}" && pwd)
DIR=$(mktemp -d "${TMPDIR:-/tmp}/hsm_keypath.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
mkdir -p "$DIR/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = %s\nlog.level = ERROR\nslots.removable = false\n' \
	"$DIR" "${BACKEND:-file}" >"$DIR/softhsm2.conf"
tdm_token "$DIR" bench-a
tdm_token "$DIR" bench-b
${WRAP:-} "$BUILD/integration/bench/hsm_keypath" --module "$TDM_MODULE" --token bench-a --token2 bench-b \
	--pin-file "$TDM_PIN_FILE" --so-pin-file "$TDM_SO_PIN_FILE" --fill "$FILL" --keys "$KEYS" --alg "$ALG"
