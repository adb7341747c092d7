#!/bin/bash
# log-target: syslog (issue 14, "Logs"): tandemd and tandem-coord send each log line as one
# datagram to the syslog socket (--syslog-socket; here a Unix datagram socket this test
# binds) in syslog's format, with the program, its pid, and the node's or coordinator's
# name, and write none of those lines on stderr; the zone is in the line; no PIN is; a
# socket that is not there sends the lines to stderr instead (no event is lost); a target
# other than stderr or syslog is refused.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=etcd.sh
source "$(dirname "$0")/etcd.sh"
tdm_setup "$@"
tdm_need etcd python3 timeout
COORD=$TDM_BUILD/src/coordd/tandem-coord
NODE=$TDM_BUILD/src/tandemd/tandemd
CTL=$TDM_BUILD/src/tools/tandemctl
SOCK=$TDM_TMP/log.sock
# until_ok SECONDS WHAT CMD...: CMD every 0.2 s until it succeeds; fails after SECONDS
until_ok() {
	local until=$((SECONDS + $1)) what=$2
	shift 2
	while ! "$@"; do
		[ "$SECONDS" -lt "$until" ] || tdm_fail "timed out after $1 s waiting for: $what" -- "$GOT"
		sleep 0.2
	done
}
GOT=$TDM_TMP/syslog.got

# The test's syslog daemon: one line per datagram into $GOT, for at most 300 s.
python3 - "$SOCK" "$GOT" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(1)
end = time.monotonic() + 300
with open(sys.argv[2], "ab", buffering=0) as out:
    while time.monotonic() < end:
        try:
            out.write(s.recv(65536).replace(b"\n", b" ") + b"\n")
        except socket.timeout:
            pass
PY
RECV=$!
tdm_on_exit "kill $RECV 2>/dev/null; wait $RECV 2>/dev/null"
for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || tdm_fail "the test's syslog socket is not there"
touch "$GOT"

# ---- tandemd: a node whose PKCS#11 module does not load logs why, then stops -------------
"$CTL" net keygen --public "$TDM_TMP/n.pub" --secret "$TDM_TMP/n.secret" >/dev/null || tdm_fail "keygen"
PIN=pin-$RANDOM$RANDOM-never-logged
printf '%s\n' "$PIN" >"$TDM_TMP/pin"
chmod 600 "$TDM_TMP/pin"
touch "$TDM_TMP/x.zone"
node() { # node SOCKET [OPTION...]: tandemd with the token's module failing to start
	local sock=$1
	shift
	SOFTHSM2_CONF=$TDM_TMP/absent.conf timeout 60 "$NODE" --name node-x --site A \
		--key "$TDM_TMP/n.secret" --coord tcp://127.0.0.1:1 --coord-pub "$TDM_TMP/n.pub" \
		--token "pkcs11:token=t;pin-source=$TDM_TMP/pin" \
		--module /usr/lib/softhsm/libsofthsm2.so --zone "x.example.=$TDM_TMP/x.zone" \
		--out "$TDM_TMP/out" --work "$TDM_TMP/work" --log-target syslog --syslog-socket "$sock" "$@"
}
node "$SOCK" 2>"$TDM_TMP/node.err" && tdm_fail "tandemd started without its HSM module"
# shellcheck disable=SC2317 # called through until_ok
node_line() { grep -q '^<29>[A-Z][a-z][a-z] [ 0-9][0-9] [0-9:]\{8\} tandemd\[[0-9]*\]: node-x: HSM: PKCS#11 module cannot be loaded$' "$GOT"; }
until_ok 30 "tandemd's line at the syslog socket" node_line
tdm_assert_no_grep "tandemd's line is not on stderr too" "module cannot be loaded" "$TDM_TMP/node.err"
tdm_pass "tandemd: one syslog line per event, with its name and pid (severity notice)"

# log-level warning: only ALERT lines; the failure above is not one, so nothing comes
before=$(grep -c 'module cannot be loaded' "$GOT")
node "$SOCK" --log-level warning 2>"$TDM_TMP/node-w.err" && tdm_fail "tandemd started without its HSM module"
node "$SOCK" 2>/dev/null && tdm_fail "tandemd started without its HSM module"
# the second run's line (the default level) came: the first run's would be before it, were it sent
until_ok 30 "the second run's line" eval "[ \"\$(grep -c 'module cannot be loaded' \"\$GOT\")\" -ge $((before + 1)) ]"
tdm_assert_eq "log-level warning: the notice line was not sent" "$((before + 1))" "$(grep -c 'module cannot be loaded' "$GOT")"
tdm_assert_no_grep "log-level warning: not on stderr either" "module cannot be loaded" "$TDM_TMP/node-w.err"
tdm_assert_fails "--log-level debug is refused" "$NODE" --log-level debug --name n
tdm_pass "log-level warning drops the lines below it; a level other than info, notice or warning is refused"

node "$TDM_TMP/absent.sock" 2>"$TDM_TMP/node2.err" && tdm_fail "tandemd started without its HSM module"
tdm_assert_grep "no syslog socket: the line goes to stderr" \
	'^[0-9T:.-]*Z tandemd node-x: HSM: PKCS#11 module cannot be loaded$' "$TDM_TMP/node2.err"
tdm_pass "tandemd: without a syslog socket the lines go to stderr"

tdm_assert_fails "--log-target journald is refused" "$NODE" --log-target journald --name n
tdm_pass "a log target other than stderr or syslog is refused"

# ---- tandem-coord: a zone added at start is one line naming the zone and the coordinator -
TDM_ETCD_DIR=$TDM_TMP/etcd
tdm_etcd_start 1
"$CTL" net keygen --public "$TDM_TMP/c.pub" --secret "$TDM_TMP/c.secret" >/dev/null || tdm_fail "keygen"
: >"$TDM_TMP/allow"
"$COORD" --insecure-etcd --etcd "$(tdm_etcd_endpoints)" --listen 'tcp://127.0.0.1:*' \
	--key "$TDM_TMP/c.secret" --allow "$TDM_TMP/allow" --name coord-x --prefix /test/syslog/ \
	--audit-mirror "$TDM_TMP/audit.jsonl" --zone z1.example. \
	--log-target syslog --syslog-socket "$SOCK" >"$TDM_TMP/coord.out" 2>"$TDM_TMP/coord.err" &
CPID=$!
tdm_on_exit "kill -9 $CPID 2>/dev/null; wait $CPID 2>/dev/null"
tdm_coord_endpoint "$TDM_TMP/coord.out" "$CPID" "$TDM_TMP/coord.err" 60 >/dev/null
# shellcheck disable=SC2317 # called through until_ok
coord_line() { grep -q "^<29>.* tandem-coord\[$CPID\]: coord-x: effect: zone z1\.example\. added$" "$GOT"; }
until_ok 60 "tandem-coord's line for the zone at the syslog socket" coord_line
kill "$CPID"
wait "$CPID" 2>/dev/null || true
tdm_assert_no_grep "tandem-coord's lines are not on stderr too" "effect: zone" "$TDM_TMP/coord.err"
tdm_pass "tandem-coord: one syslog line per event, with the zone and the coordinator's name"

tdm_assert_no_grep "no PIN in any line" "$PIN" "$GOT"
tdm_pass "$(grep -c . "$GOT") syslog lines, none with a secret"
