#!/bin/bash
# The systemd side of the daemons (issue 14, service units). The units in deploy/systemd,
# installed by `cmake --install`, pass `systemd-analyze verify` with nothing to say (a unit
# with a misspelt key, the control case, does not). tandem-coord speaks the sd_notify
# protocol as Type=notify needs it, to a datagram socket of the test's as NOTIFY_SOCKET:
# READY=1 with a STATUS line once it serves, WATCHDOG=1 pings at least every half of
# WATCHDOG_USEC, STOPPING=1 on SIGTERM. Without NOTIFY_SOCKET nothing changes (every other
# test runs the daemons so).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=etcd.sh
source "$(dirname "$0")/etcd.sh"
tdm_setup "$@"
tdm_need systemd-analyze etcd python3 timeout
COORD=$TDM_BUILD/src/coordd/tandem-coord
CTL=$TDM_BUILD/src/tools/tandemctl

# ---- the units ----------------------------------------------------------------------------
dest=$TDM_TMP/dest
prefix=/usr/local
tdm_assert_ok "cmake --install into a DESTDIR" \
	env DESTDIR="$dest" cmake --install "$TDM_BUILD" --prefix "$prefix"
units=$dest$prefix/lib/systemd/system
for u in tandemd@.service tandem-coord@.service tandem-etcd.service; do
	[ -f "$units/$u" ] || tdm_fail "$u not installed in $units"
done
[ -f "$dest$prefix/lib/sysusers.d/tandem.conf" ] || tdm_fail "no sysusers.d/tandem.conf"
# verify needs the programs where ExecStart names them: point the copies into the DESTDIR
chk=$TDM_TMP/units
mkdir -p "$chk"
for u in tandemd@ tandem-coord@; do
	sed "s#^ExecStart=$prefix/#ExecStart=$dest$prefix/#" "$units/$u.service" >"$chk/${u}x.service"
done
cp "$units/tandem-etcd.service" "$chk/"
# verify_quiet UNIT...: systemd-analyze verify exits 0 and prints nothing
verify_quiet() {
	local out rc=0
	out=$(cd "$chk" && systemd-analyze verify "$@" 2>&1) || rc=$?
	[ "$rc" -eq 0 ] && [ -z "$out" ] && return 0
	printf '%s\n' "$out" >"$TDM_TMP/verify.out"
	return 1
}
verify_quiet ./tandemd@x.service ./tandem-coord@x.service ./tandem-etcd.service ||
	tdm_fail "systemd-analyze verify finds fault with the units" -- "$TDM_TMP/verify.out"
tdm_pass "systemd-analyze verify: the three units, nothing to say"
for key in Type=notify WatchdogSec= ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes \
	User=tandem Restart=on-failure ReadWritePaths=; do
	grep -q "^$key" "$chk/tandemd@x.service" || tdm_fail "tandemd@.service lacks $key"
	grep -q "^$key" "$chk/tandem-coord@x.service" || tdm_fail "tandem-coord@.service lacks $key"
done
tdm_pass "both daemons' units: Type=notify, watchdog, restart, a dedicated user, hardening"
sed 's/^WatchdogSec=/WatchdgSec=/' "$chk/tandemd@x.service" >"$chk/broken@x.service"
! verify_quiet ./broken@x.service || tdm_fail "a misspelt key passed the check"
tdm_assert_grep "the control case is named" "Unknown key 'WatchdgSec'" "$TDM_TMP/verify.out"
tdm_pass "a unit with a misspelt key does not pass"

# ---- sd_notify ----------------------------------------------------------------------------
TDM_ETCD_DIR=$TDM_TMP/etcd
tdm_etcd_start 1
K=$TDM_TMP/keys
mkdir -p "$K"
for who in coord op1; do
	"$CTL" net keygen --public "$K/$who.pub" --secret "$K/$who.secret" >/dev/null || tdm_fail "keygen $who"
done
printf 'op1 operator %s\n' "$(awk '$1 == "public" { print $2 }' "$K/op1.pub")" >"$TDM_TMP/allow"

SOCK=$TDM_TMP/notify.sock
MSGS=$TDM_TMP/notify.msgs
# a listener that writes each datagram as one line (newlines inside as '|'), for 120 s at most
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(1.0)
end = time.time() + 120
with open(sys.argv[2], "a", buffering=1) as f:
    f.write("listening\n")
    while time.time() < end:
        try:
            d = s.recv(4096)
        except socket.timeout:
            continue
        f.write("%.3f %s\n" % (time.time(), d.decode().replace("\n", "|")))
' "$SOCK" "$MSGS" &
LPID=$!
COORD_PID=
stop_procs() {
	for p in $COORD_PID $LPID; do
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}
tdm_on_exit stop_procs
listening() { [ -f "$MSGS" ] && grep -q '^listening$' "$MSGS"; }
for _ in $(seq 1 100); do listening && break; sleep 0.1; done
listening || tdm_fail "the notify listener did not start"

NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=6000000 "$COORD" --insecure-etcd --etcd "$(tdm_etcd_endpoints)" \
	--listen 'tcp://127.0.0.1:*' --key "$K/coord.secret" --allow "$TDM_TMP/allow" \
	--name coord-a --prefix /test/systemd/ >"$TDM_TMP/coord.out" 2>"$TDM_TMP/coord.err" &
COORD_PID=$!
EP=$(tdm_coord_endpoint "$TDM_TMP/coord.out" "$COORD_PID" "$TDM_TMP/coord.err")
ready() { grep -q "READY=1|STATUS=coord-a serving $EP" "$MSGS"; }
for _ in $(seq 1 150); do ready && break; sleep 0.1; done
ready || tdm_fail "no READY=1 with the serving STATUS" -- "$MSGS" "$TDM_TMP/coord.err"
tdm_pass "READY=1 with 'STATUS=coord-a serving $EP'"
# pings about every 3 s (half of WATCHDOG_USEC, generous: a loaded machine slows the loop's
# etcd calls): 4 of them within 40 s
pings() { [ "$(grep -c ' WATCHDOG=1$' "$MSGS")" -ge 4 ]; }
for _ in $(seq 1 400); do pings && break; sleep 0.1; done
pings || tdm_fail "fewer than 4 watchdog pings in 40 s" -- "$MSGS"
# and never more than the interval apart once they started (under load: the half interval
# is the daemon's aim, the whole interval is what systemd enforces)
gap=$(awk '$2 == "WATCHDOG=1" { if (p != "" && $1 - p > g) g = $1 - p; p = $1 } END { printf "%d", g * 1000 }' "$MSGS")
[ "$gap" -le 6000 ] || tdm_fail "watchdog pings ${gap} ms apart (WATCHDOG_USEC 6 s)" -- "$MSGS"
tdm_pass "WATCHDOG=1 pings, at most ${gap} ms apart"
kill -TERM "$COORD_PID"
stopping() { grep -q ' STOPPING=1$' "$MSGS"; }
for _ in $(seq 1 150); do stopping && break; sleep 0.1; done
stopping || tdm_fail "no STOPPING=1 after SIGTERM" -- "$MSGS"
tdm_pass "STOPPING=1 on SIGTERM"
