#!/bin/bash
# `cmake --install` puts the five programs in bin/, the docs in share/doc/tandem and the
# example policies and zone in share/tandem; the installed tandemctl runs from there.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"

dest=$TDM_TMP/dest
prefix=/usr/local
tdm_assert_ok "cmake --install into a DESTDIR" \
	env DESTDIR="$dest" cmake --install "$TDM_BUILD" --prefix "$prefix"
root=$dest$prefix
for prog in tandemd tandem-coord tandemctl tandem-ceremony tandem-signzone; do
	[ -x "$root/bin/$prog" ] || tdm_fail "$prog not installed in $root/bin" -- "$TDM_OUT"
done
tdm_pass "the five programs are in bin/"
for f in share/doc/tandem/README.md share/doc/tandem/signzone.md share/doc/tandem/policy.md \
	share/doc/tandem/operator-guide.md share/doc/tandem/dps-map.md \
	share/doc/tandem/runbooks/site-loss.md \
	share/tandem/dps-default.yaml share/tandem/modern.yaml share/tandem/example.zone; do
	[ -f "$root/$f" ] || tdm_fail "$f not installed" -- "$TDM_OUT"
done
tdm_pass "docs in share/doc/tandem, examples in share/tandem"
# nothing outside the prefix
outside=$(find "$dest" -mindepth 1 -not -path "$root" -not -path "$root/*" -type f)
[ -z "$outside" ] || tdm_fail "installed outside $prefix: $outside"

# the installed programs run from there, away from the build and source trees
cd "$TDM_TMP"
tdm_assert_ok "installed tandemctl --version" "$root/bin/tandemctl" --version
tdm_assert_grep "tandemctl --version prints a version" '^tandemctl [0-9]+\.[0-9]+\.[0-9]+$' "$TDM_OUT"
tdm_assert_ok "installed tandemctl --help" "$root/bin/tandemctl" --help
tdm_assert_grep "tandemctl --help prints the usage" '^usage: tandemctl' "$TDM_OUT"
tdm_assert_ok "installed tandem-signzone --help" \
	"$root/bin/tandem-signzone" --help
