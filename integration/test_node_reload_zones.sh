#!/bin/bash
# Zones added and removed on a running tandemd by SIGHUP (issue 14, docs/config.md "Reload"),
# and a zone removed from the cluster no longer served (issue 11, docs/dist.md). A cluster of
# three zones; node-b restarted from a YAML file that lists only z1 and z2:
#  - z3 added to the file, SIGHUP: node-b logs it added, takes z3 over by switchover and
#    publishes it, and serves it by AXFR (kdig, TSIG) at its published serial; no restart;
#  - z2 (held by node-b) taken out of the file, SIGHUP with both coordinators stopped:
#    node-b logs it removed, and its lease released once they answer again (sent again),
#    which the coordinators log as leaving (no preference window for node-b);
#    AXFR of z2 from node-b is NOTAUTH; node-a takes z2 and publishes it; z3 goes on being
#    published by node-b, and nothing more of z2; z2's series leave node-b's metrics;
#  - xfr-acl, notify and log-level changed in the file, SIGHUP: an AXFR from 127.0.0.1 is
#    refused by the new ACL, a secondary added to notify is NOTIFYed of the zones served at
#    once, a publication at log-level notice has no log line; all taken out again: AXFR
#    served again;
#  - z1 removed from the cluster (tandemctl zone remove): node-b stops serving it (NOTAUTH)
#    and says so once; z3 goes on;
#  - z3 taken out of the file while node-b's run of a big new input of it is under way
#    (halted at a fault point while the SIGHUP is sent): the run is dropped when it ends,
#    nothing of it published; node-a takes z3.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd timeout kdig curl
Z1=z1.example.
Z2=z2.example.
Z3=z3.example.

# a zone taken out of node-b has no standby: node-a publishes it after compare-timeout
sed 's/^\(  compare-timeout:\).*/\1 3s/' "$TDM_SRC/conf/dps-default.yaml" >"$TDM_TMP/policy.yaml"
grep -q '^  compare-timeout: 3s$' "$TDM_TMP/policy.yaml" || tdm_fail "no compare-timeout in the policy" -- "$TDM_TMP/policy.yaml"
tdm_cluster_up --zones 3 --cycle 3 --policy "$TDM_TMP/policy.yaml"

# node-b's command line as cluster-up.sh started it (its cycle is the file's: CYCLE below)
tdm_node_cmdline node-b cycle
envs=("${TDM_NODE_ENV[@]}")
bin=$TDM_NODE_BIN
CONF=$TDM_TMP/tandemd-b.yaml
for z in $Z1 $Z2 $Z3; do
	[ -n "${TDM_NODE_INPUT[$z]:-}" ] || tdm_fail "no input for $z in node-b's start line" -- "$TDM_CL/run/node-b.start"
done
CYCLE=3
extra=() # more lines of node-b's file (xfr-acl, notify)
# write_conf ZONE...: node-b's file with these zones and cycle $CYCLE, and the extra lines
write_conf() {
	{
		printf '# node-b, written from its command line (integration/test_node_reload_zones.sh)\n'
		[ "${#extra[@]}" = 0 ] || printf '%s\n' "${extra[@]}"
		printf 'cycle: %s\n' "$CYCLE"
		tdm_node_yaml node-b "$@"
	} >"$CONF.new"
	mv "$CONF.new" "$CONF"
}
write_conf $Z1 $Z2

kill -TERM "$(cat "$TDM_CL/run/node-b.pid")"
gone_b() { [ ! -s "$TDM_CL/run/node-b.pid" ]; }
tdm_wait 60 "node-b to stop" gone_b
LOG=$TDM_TMP/node-b-yaml.log
FAULT=$TDM_TMP/fault # armed below (tandem_fault.h): absent, nothing happens
env "${envs[@]}" TANDEM_FAULT_FILE="$FAULT" "$bin" -c "$CONF" >"$LOG" 2>&1 &
PID=$!
stop_b() { kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
tdm_on_exit stop_b
registered() { grep -q "registered at site B" "$LOG"; }
tdm_wait 60 "node-b from its file to register" registered
XB=$(sed -n 's/.*transfers served on \([^ ]*\) .*/\1/p' "$LOG" | tail -n 1)
[ -n "$XB" ] || tdm_fail "no transfer server address in node-b's log" -- "$LOG"
read -r KNAME KALG KSECRET <"$TDM_CL/tsig.key"
TSIG="$KALG:$KNAME:$KSECRET"

# to_b ZONE: node-b made the zone's active signer, and it publishes it
to_b() {
	local z=$1 s0
	held() { [ -n "$(tdm_holder "$z")" ]; }
	tdm_wait 60 "a holder of $z" held
	if [ "$(tdm_holder "$z")" != node-b ]; then
		tdm_ctl switchover --zone "$z" --to node-b --wait 60 >"$TDM_TMP/switchover.out" 2>&1 ||
			tdm_fail "could not make node-b the active signer of $z" -- "$TDM_TMP/switchover.out" "$LOG"
	fi
	s0=$(tdm_last_serial node-b "$z")
	tdm_wait 60 "node-b to publish $z" tdm_published_after node-b "$z" "${s0:-0}"
}
# axfr ZONE: kdig's AXFR of the zone from node-b (TSIG), into $TDM_TMP/axfr.ZONE
axfr() {
	timeout 30 kdig +tcp +time=5 +retry=0 -y "$TSIG" @"${XB%:*}" -p "${XB##*:}" "$1" AXFR \
		>"$TDM_TMP/axfr.$1" 2>&1 || true
}
# axfr_serial ZONE: the serial of the AXFR's first SOA, or nothing
axfr_serial() {
	axfr "$1"
	awk '$4 == "SOA" { print $7; exit }' "$TDM_TMP/axfr.$1"
}
# notauth ZONE: node-b answers NOTAUTH to AXFR of the zone
notauth() {
	axfr "$1"
	grep -q 'NOTAUTH' "$TDM_TMP/axfr.$1" && ! awk '$4 == "SOA"' "$TDM_TMP/axfr.$1" | grep -q .
}
# the metrics page node-b serves (its address from its log)
MB=$(sed -n 's/.*metrics on http:\/\/\([^ /]*\)\/metrics.*/\1/p' "$LOG" | tail -n 1)
[ -n "$MB" ] || tdm_fail "no metrics address in node-b's log" -- "$LOG"
metrics_has() { curl -sf "http://$MB/metrics" | grep -q "zone=\"$1\""; }

to_b $Z2
notauth $Z3 || tdm_fail "node-b serves $Z3 before it has it" -- "$TDM_TMP/axfr.$Z3"
tdm_pass "node-b from a file with $Z1 and $Z2 signs $Z2 and serves nothing for $Z3"

# --- add z3 ------------------------------------------------------------------------------
write_conf $Z1 $Z2 $Z3
kill -HUP "$PID"
added() { grep -q "reload: zone $Z3 added" "$LOG"; }
tdm_wait 30 "the line of $Z3 added" added
tdm_assert_grep "the reload sums up" "reload: $CONF read, 1 key\\(s\\) changed, 0 applied, 1 zone\\(s\\) added or removed" "$LOG"
to_b $Z3
served3() { [ "$(axfr_serial $Z3)" = "$(tdm_last_serial node-b $Z3)" ]; }
tdm_wait 30 "node-b to serve $Z3 at its published serial" served3
[ "$(awk '$4 == "RRSIG"' "$TDM_TMP/axfr.$Z3" | wc -l)" -gt 0 ] || tdm_fail "the AXFR of $Z3 holds no RRSIG" -- "$TDM_TMP/axfr.$Z3"
kill -0 "$PID" || tdm_fail "node-b exited" -- "$LOG"
tdm_wait 30 "$Z3 in node-b's metrics" metrics_has $Z3
tdm_pass "SIGHUP added $Z3: node-b signs it, publishes it and serves it by AXFR, no restart"

# --- xfr-acl and notify on SIGHUP --------------------------------------------------------
# a secondary that only listens: every NOTIFY's zone name, one a line
NPORT=$(tdm_free_ports 1)
python3 - "$NPORT" "$TDM_TMP/notified" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(300)
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        try:
            msg, _ = s.recvfrom(65535)
        except socket.timeout:
            break
        if len(msg) < 13 or (msg[2] >> 3) & 0xF != 4:  # opcode NOTIFY
            continue
        i, labels = 12, []
        while i < len(msg) and msg[i] != 0:
            labels.append(msg[i + 1:i + 1 + msg[i]].decode("ascii", "replace"))
            i += 1 + msg[i]
        out.write(".".join(labels).lower() + ".\n")
PY
NPID=$!
stop_listener() { kill "$NPID" 2>/dev/null || true; }
tdm_on_exit stop_listener
extra=("xfr-acl:" "  - '127.0.0.2/32'" "notify:" "  - '127.0.0.1:$NPORT'" "log-level: notice")
write_conf $Z1 $Z2 $Z3
kill -HUP "$PID"
tdm_wait 30 "node-b to apply xfr-acl" grep -q "reload: xfr-acl now 1 entry" "$LOG"
tdm_assert_grep "node-b applies notify" "reload: notify now 1 entry" "$LOG"
refused3() {
	axfr $Z3
	grep -q 'REFUSED' "$TDM_TMP/axfr.$Z3" && ! awk '$4 == "SOA"' "$TDM_TMP/axfr.$Z3" | grep -q .
}
tdm_wait 30 "AXFR of $Z3 from 127.0.0.1 refused by the new xfr-acl" refused3
notified3() { grep -qxF "$Z3" "$TDM_TMP/notified" 2>/dev/null; }
tdm_wait 30 "the new notify secondary to be told of $Z3" notified3
# log-level notice: a publication after it is in publish.log, not in the log
tdm_assert_grep "node-b applies log-level" "reload: log-level now notice" "$LOG"
q3=$(tdm_last_serial node-b $Z3)
tdm_wait 60 "node-b to publish $Z3 at log-level notice" tdm_published_after node-b $Z3 "${q3:-0}"
q3=$(tdm_last_serial node-b $Z3)
tdm_assert_no_grep "log-level notice: no routine line for serial $q3" "zone $Z3: published serial $q3 " "$LOG"
extra=()
write_conf $Z1 $Z2 $Z3
kill -HUP "$PID"
tdm_wait 30 "node-b to go back to no xfr-acl" grep -q "reload: xfr-acl now 0 entries" "$LOG"
tdm_assert_grep "node-b back at log-level info" "reload: log-level now info" "$LOG"
tdm_wait 30 "node-b to serve $Z3 again" served3
kill -0 "$PID" || tdm_fail "node-b exited" -- "$LOG"
tdm_pass "SIGHUP applied xfr-acl (127.0.0.1 refused, then allowed again), notify (the new secondary was NOTIFYed of $Z3) and log-level"

# --- remove z2 (held by node-b) ----------------------------------------------------------
to_b $Z2
write_conf $Z1 $Z3
# the coordinators stopped for the SIGHUP: the release gets no answer and is sent again once
# they answer (else node-b's node lease, renewed for z1 and z3, would keep z2 node-b's)
cpids=$(cat "$TDM_CL"/run/coord-*.pid | tr '\n' ' ')
# shellcheck disable=SC2086 # one pid a word
kill -STOP $cpids
tdm_on_exit "kill -CONT $cpids 2>/dev/null || true"
kill -HUP "$PID"
removed() { grep -q "reload: zone $Z2 removed" "$LOG"; }
tdm_wait 30 "the line of $Z2 removed" removed
# shellcheck disable=SC2086
kill -CONT $cpids
released() { grep -q "zone $Z2: lease released (epoch [0-9]*): removed, sent again" "$LOG"; }
tdm_wait 30 "node-b to send the unanswered release of $Z2 again" released
tdm_wait 10 "AXFR of $Z2 from node-b refused" notauth $Z2
tdm_pass "SIGHUP removed $Z2: node-b gave its lease back and answers NOTAUTH for it"
# released as leaving: the coordinator keeps no preference window for node-b's site
left() { grep -q "zone $Z2: node-b released epoch [0-9]* (it no longer has the zone)" "$TDM_CL"/log/coord-*.log; }
tdm_wait 10 "the coordinators to log node-b's release as leaving" left
a_holds() { [ "$(tdm_holder $Z2)" = node-a ]; }
tdm_wait 30 "node-a to take $Z2" a_holds
s0=$(tdm_last_serial node-a $Z2)
tdm_wait 60 "node-a to publish $Z2" tdm_published_after node-a $Z2 "${s0:-0}"
s0=$(tdm_last_serial node-b $Z3)
tdm_wait 60 "node-b to publish $Z3 on" tdm_published_after node-b $Z3 "$s0"
no_z2() { ! metrics_has $Z2; }
tdm_wait 10 "$Z2's series to leave node-b's metrics" no_z2
# two more publications of z3 (two cycles): meanwhile node-b publishes nothing of z2
s2=$(tdm_last_serial node-b $Z2)
for _ in 1 2; do
	s0=$(tdm_last_serial node-b $Z3)
	tdm_wait 60 "node-b to publish $Z3 on" tdm_published_after node-b $Z3 "$s0"
done
tdm_assert_eq "node-b publishes nothing of $Z2 after its removal" "$s2" "$(tdm_last_serial node-b $Z2)"
tdm_pass "node-a took $Z2 over; node-b signs $Z3 on; $Z2 left node-b's metrics"

# --- z1 removed from the cluster ---------------------------------------------------------
to_b $Z1
[ -n "$(axfr_serial $Z1)" ] || tdm_fail "node-b does not serve $Z1" -- "$TDM_TMP/axfr.$Z1"
tdm_ctl zone remove $Z1 >"$TDM_TMP/remove.out" 2>&1 || tdm_fail "zone remove $Z1 failed" -- "$TDM_TMP/remove.out"
unserved() { grep -q "zone $Z1: removed from the cluster: serial [0-9]* no longer served" "$LOG"; }
tdm_wait 30 "node-b to say $Z1 is no longer served" unserved
tdm_wait 10 "AXFR of $Z1 from node-b refused" notauth $Z1
s0=$(tdm_last_serial node-b $Z3)
tdm_wait 60 "node-b to publish $Z3 on" tdm_published_after node-b $Z3 "$s0"
[ "$(grep -c "zone $Z1: removed from the cluster" "$LOG")" = 1 ] ||
	tdm_fail "the removal from the cluster is said more than once" -- "$LOG"
kill -0 "$PID" || tdm_fail "node-b exited" -- "$LOG"
tdm_pass "$Z1 removed from the cluster: node-b no longer serves it, says so once, signs $Z3 on"

# --- z3 removed while its run is under way -----------------------------------------------
# A long cycle first (applied from the next run on): then node-b's only run (z1 is the
# cluster's no more) is the one a new input of z3 starts. That input adds 3000 delegations,
# so the run takes a while; it halts at run-signing (its input loaded, nothing signed).
# SIGHUP without z3 is sent while node-b is stopped, then SIGCONT: the loop takes the SIGHUP
# while the run signs, and drops what the run makes.
CYCLE=600
write_conf $Z1 $Z3
kill -HUP "$PID"
long() { grep -q "reload: cycle now 600 s" "$LOG"; }
tdm_wait 30 "the cycle of 600 s applied" long
s0=$(tdm_last_serial node-b $Z3)
tdm_wait 60 "node-b's last short-cycle run of $Z3" tdm_published_after node-b $Z3 "$s0"
s3=$(tdm_last_serial node-b $Z3)
printf 'run-signing 1 stop\n' >"$FAULT"
in3=${TDM_NODE_INPUT[$Z3]}
awk -v s=$((s3 + 1000)) '$4 == "SOA" && !done { $7 = s; done = 1 } { print }
	END { for (i = 0; i < 3000; i++) printf "big%d.z3.example. 86400 IN NS ns.big%d.example.net.\n", i, i }' \
	"$in3" >"$in3.new"
mv "$in3.new" "$in3"
halted() { [ -e "$FAULT.hit" ]; }
tdm_wait 60 "node-b's run of $Z3 to halt at run-signing" halted
stopped() { [ "$(awk '{ print $3 }' "/proc/$PID/stat" 2>/dev/null)" = T ]; }
tdm_wait 10 "node-b to be stopped" stopped
write_conf $Z1
kill -HUP "$PID"
kill -CONT "$PID"
tdm_wait 30 "the line of $Z3 removed mid-run" \
	grep -q "reload: zone $Z3 removed (its run is abandoned when it ends)" "$LOG"
tdm_wait 60 "node-b to drop the run of $Z3" \
	grep -q "zone $Z3: its signing run ended after the zone was removed: nothing kept" "$LOG"
tdm_pass "$Z3 removed mid-run: its run ended and was dropped"
b3_gone() { [ "$(tdm_holder $Z3)" = node-a ]; }
tdm_wait 30 "node-a to take $Z3" b3_gone
a3=$(tdm_last_serial node-a $Z3)
tdm_wait 60 "node-a to publish $Z3" tdm_published_after node-a $Z3 "${a3:-0}"
tdm_wait 10 "AXFR of $Z3 from node-b refused" notauth $Z3
tdm_assert_eq "node-b published nothing of $Z3 from the run it dropped" "$s3" "$(tdm_last_serial node-b $Z3)"
kill -0 "$PID" || tdm_fail "node-b exited" -- "$LOG"
tdm_pass "node-a took $Z3 over; node-b serves it no more"
tdm_check_publications node-a node-b
# under the ASan build (TANDEM_SANITIZER_CHECK=1): node-b stopped cleanly for its leak report
if [ "${TANDEM_SANITIZER_CHECK:-0}" = 1 ]; then
	kill -TERM "$PID"
	b_exited() { ! kill -0 "$PID" 2>/dev/null; }
	tdm_wait 60 "node-b to stop" b_exited
	! grep -q -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG" ||
		tdm_fail "sanitizer report in node-b's log" -- "$LOG"
	tdm_cluster_sanitizer_check
fi
