#!/bin/sh
# Install tandem's build, test and benchmark dependencies from Debian packages (idempotent).
set -eu
# python3: integration/lib.sh initialises SoftHSM tokens through PKCS#11 (PINs never in argv);
# time, opendnssec, knot (keymgr), sqlite3: integration/bench/signbench.sh.
# faketime, libfaketime: integration/test_clock_skew.sh runs a coordinator with its clock ahead.
# libmicrohttpd-dev: the daemons' metrics endpoint; prometheus: only for promtool, which the
# tests use to check the exposition and the alert rules (its server is not wanted running).
# libsystemd-dev: sd_notify for the systemd units.
# libknot-dev: Knot's zone scanner (libzscanner), which reads zone files (src/dns/dns_load.c).
# libevent-dev: the transfer server (src/dist), as NSD and Unbound use it.
# nsd, unbound, knot-dnsutils (kdig): the distribution tests' secondary, validating resolver and
# transfer client; their system services are not wanted running (started per test on loopback).
# clang-14, libclang-rt-14-dev: libFuzzer and its sanitizer runtimes, for the fuzz targets
# (tests/fuzz, integration/fuzz/run.sh).
PKGS="build-essential cmake pkg-config clang-format
libssl-dev libsystemd-dev libmicrohttpd-dev openssl libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
libldns-dev ldnsutils libknot-dev libp11-kit-dev p11-kit softhsm2 opensc
check libsubunit-dev libyaml-dev libcurl4-openssl-dev libjansson-dev
bind9-utils bind9-dnsutils knot-dnssecutils knot-host
etcd-server etcd-client iproute2 bc
python3 time shellcheck faketime libfaketime prometheus
opendnssec knot sqlite3
libevent-dev nsd unbound knot-dnsutils
clang-14 libclang-rt-14-dev"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages:$missing (run as root)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
	# Debian starts the servers it just installed: we only wanted their programs
	for svc in prometheus nsd unbound knot; do
		case " $missing " in *" $svc "*)
			if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
				systemctl disable --now "$svc" >/dev/null 2>&1 || true
			elif [ -x "/etc/init.d/$svc" ]; then
				"/etc/init.d/$svc" stop >/dev/null 2>&1 || true
			fi
			;;
		esac
	done
fi
