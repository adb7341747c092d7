#!/bin/bash
# Quickstart: install dependencies, build, start a local two-site cluster with a witness
# (deploy/cluster-up.sh: 3 etcd members, a coordinator and a signing node per site, each node
# with its own SoftHSMv2 token holding the SMK of a scripted ceremony), let it sign
# conf/example.zone, verify what each site published with BIND's dnssec-verify, and show the
# cluster's status.
# Usage: deploy/quickstart.sh [WORKDIR]   (default ./quickstart-work; the cluster is in
#        WORKDIR/cluster, stopped with deploy/cluster-down.sh WORKDIR/cluster)
# Env: BUILD_DIR (default build), JOBS (default 2), SKIP_DEPS=1, SKIP_BUILD=1.
# Running it again stops the previous quickstart cluster and starts a new one. PINs are
# random, in 0600 files, and never on a command line.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-./quickstart-work}
BUILD=${BUILD_DIR:-$SRC/build}
JOBS=${JOBS:-2}
TDM_NAME=quickstart
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$SRC/deploy/lib.sh"

say() { printf '\n==> %s\n' "$*"; }

if [ "${SKIP_DEPS:-0}" != 1 ]; then
	say "dependencies (deploy/install-deps.sh)"
	sh "$SRC/deploy/install-deps.sh"
fi
if [ "${SKIP_BUILD:-0}" != 1 ]; then
	say "build in $BUILD"
	cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$BUILD" -j "$JOBS" --target tandemd tandem-coord tandemctl tandem-ceremony \
		tandem-signzone tandem-zonegen
fi
BUILD=$(cd "$BUILD" && pwd)

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
CL=$WORK/cluster
if [ -d "$CL" ]; then
	say "stopping the previous quickstart cluster in $CL"
	"$SRC/deploy/cluster-down.sh" "$CL" || true
	rm -rf "$CL"
fi

say "a local two-site cluster in $CL (deploy/cluster-up.sh)"
TANDEM_BUILD=$BUILD "$SRC/deploy/cluster-up.sh" "$CL"

say "what each site published, checked with BIND's dnssec-verify"
for n in node-a node-b; do
	f=$CL/$n/out/example.zone
	if [ -f "$f" ]; then
		dnssec-verify -q -o example. "$f"
		echo "$f: serial $(awk '$2 == "example." { s = $3 } END { print s }' "$CL/$n/out/publish.log"), dnssec-verify: ok"
	else
		echo "$n has not published yet (it is the standby: it signs in shadow and compares digests)"
	fi
done

say "status ($CL/tandemctl status)"
"$CL/tandemctl" status

cat <<EOF

The cluster keeps running. Try:
  $CL/tandemctl status --json
  $CL/tandemctl switchover --zone example. --to node-b --wait 10
  kill -9 \$(cat $CL/run/node-a.pid)      # the standby takes over within ~12 s
  $SRC/deploy/cluster-down.sh $CL         # stop everything
docs/cluster.md has the tour; docs/signzone.md the one-shot signer (tandem-signzone).
EOF
