#!/bin/bash
# `cpack -G DEB` builds one installable Debian package (issue 14, packaging): its control
# data names the package, the project's version, the shared libraries' packages (found by
# dpkg-shlibdeps) and the postinst that makes the service user; dpkg installs it into a
# scratch root (its own dpkg database: unpacked, so no maintainer script touches this
# machine), and the programs, units, sysusers file, example configs and docs are where the
# configured prefix says; the installed tandemctl runs from there.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"
tdm_need cpack dpkg dpkg-deb dpkg-shlibdeps
[ -f "$TDM_BUILD/CPackConfig.cmake" ] || tdm_fail "no CPackConfig.cmake in $TDM_BUILD"
prefix=$(sed -n 's/^set(CPACK_PACKAGING_INSTALL_PREFIX "\(.*\)")$/\1/p' "$TDM_BUILD/CPackConfig.cmake")
[ -n "$prefix" ] || tdm_fail "CPackConfig.cmake names no install prefix"
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$TDM_BUILD/CPackConfig.cmake")

tdm_assert_ok "cpack -G DEB" cpack -G DEB -B "$TDM_TMP/pkg" --config "$TDM_BUILD/CPackConfig.cmake"
debs=("$TDM_TMP"/pkg/tandem_*.deb)
if [ "${#debs[@]}" -ne 1 ] || [ ! -f "${debs[0]}" ]; then
	tdm_fail "not one tandem_*.deb" -- "$TDM_OUT"
fi
deb=${debs[0]}
tdm_pass "built $(basename "$deb")"

field() { dpkg-deb -f "$deb" "$1"; }
tdm_assert_eq "Package" tandem "$(field Package)"
tdm_assert_eq "Version" "$version" "$(field Version)"
deps=$(field Depends)
for lib in libldns3 libzmq5 libp11-kit0 libprotobuf-c1 libssl3 libcurl4 libjansson4 libsystemd0; do
	case ", $deps," in *", $lib "* | *", $lib,"*) ;; *) tdm_fail "Depends lacks $lib: $deps" ;; esac
done
tdm_pass "Depends names the shared libraries' packages"
dpkg-deb --ctrl-tarfile "$deb" | tar -t | grep -q '^\./postinst$' || tdm_fail "no postinst"
dpkg-deb -I "$deb" postinst | grep -q 'systemd-sysusers' || tdm_fail "postinst makes no user"
tdm_pass "postinst makes the service user"

root=$TDM_TMP/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
: >"$root/var/lib/dpkg/status"
tdm_assert_ok "dpkg --unpack into a scratch root" \
	dpkg --root="$root" --force-depends --force-not-root --unpack "$deb"
tdm_assert_ok "dpkg -s in the scratch root" dpkg --root="$root" -s tandem
tdm_assert_grep "dpkg knows the package" '^Status: install ok unpacked' "$TDM_OUT"
p=$root$prefix
for f in bin/tandemd bin/tandem-coord bin/tandemctl bin/tandem-ceremony bin/tandem-signzone \
	lib/systemd/system/tandemd@.service lib/systemd/system/tandem-coord@.service \
	lib/systemd/system/tandem-etcd.service lib/sysusers.d/tandem.conf \
	share/tandem/dps-default.yaml share/tandem/systemd/tandemd-node-a.env.example \
	share/tandem/examples/tandemd-a.yaml share/tandem/examples/tandem-coord-a.yaml share/doc/tandem/config.md \
	share/doc/tandem/README.md share/doc/tandem/systemd.md; do
	[ -e "$p/$f" ] || tdm_fail "$prefix/$f not in the package"
done
grep -q "^ExecStart=$prefix/bin/tandemd " "$p/lib/systemd/system/tandemd@.service" ||
	tdm_fail "tandemd@.service does not start $prefix/bin/tandemd"
tdm_pass "programs, units, sysusers file, examples and docs under $prefix"
cd "$TDM_TMP"
tdm_assert_ok "the installed tandemctl --version" "$p/bin/tandemctl" --version
tdm_assert_eq "its version" "tandemctl $version" "$(cat "$TDM_OUT")"
