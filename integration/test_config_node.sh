#!/bin/bash
# tandemd from a YAML config file (issue 14, docs/config.md): in a local cluster, node-b is
# stopped and started again from a file that says what its command line said (the zones and
# coordinators as lists of mappings); it registers and publishes. SIGHUP applies a new cycle,
# names a changed key that needs a restart, and the node signs on (before, SIGHUP killed
# tandemd); a file turned bad is refused at its line and the node signs on.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd timeout
Z=example.

tdm_cluster_up --cycle 3

# node-b's command line as cluster-up.sh started it, as a YAML file
tdm_node_cmdline node-b
CONF=$TDM_TMP/tandemd-b.yaml
{
	printf '# node-b, written from its command line (integration/test_config_node.sh)\n'
	tdm_node_yaml node-b "${TDM_NODE_ZONES[@]}"
} >"$CONF"
envs=("${TDM_NODE_ENV[@]}")
bin=$TDM_NODE_BIN
tdm_run check env "${envs[@]}" "$bin" --check-config -c "$CONF"
[ "$TDM_RC" = 0 ] || tdm_fail "node-b's file does not pass --check-config" -- "$CONF" "$TDM_OUT" "$TDM_ERR"
tdm_pass "node-b's command line as a YAML file passes --check-config"

# stop node-b and start it from the file
kill -TERM "$(cat "$TDM_CL/run/node-b.pid")"
gone_b() { [ ! -s "$TDM_CL/run/node-b.pid" ]; }
tdm_wait 60 "node-b to stop" gone_b
LOG=$TDM_TMP/node-b-yaml.log
env "${envs[@]}" "$bin" -c "$CONF" >"$LOG" 2>&1 &
PID=$!
stop_b() { kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
tdm_on_exit stop_b
registered() { grep -q "registered at site B" "$LOG"; }
tdm_wait 60 "node-b from its file to register" registered
kill -0 "$PID" || tdm_fail "node-b from its file exited" -- "$LOG"
if [ "$(tdm_holder $Z)" != node-b ]; then
	held() { [ -n "$(tdm_holder $Z)" ]; }
	tdm_wait 60 "a holder of $Z" held
	tdm_ctl switchover --zone $Z --to node-b --wait 60 >"$TDM_TMP/switchover.out" 2>&1 ||
		tdm_fail "could not make node-b the active signer" -- "$TDM_TMP/switchover.out" "$LOG"
fi
s0=$(tdm_last_serial node-b $Z)
tdm_wait 60 "node-b from its file to publish" tdm_published_after node-b $Z "${s0:-0}"
tdm_pass "tandemd started from a YAML file registers and publishes"

# SIGHUP: the cycle is applied; a key that needs a restart is named; the node signs on
sed -i "s/^cycle: .*/cycle: 4s/" "$CONF"
printf 'threads: 2\n' >>"$CONF"
line=$(wc -l <"$CONF")
kill -HUP "$PID"
reloaded() { grep -q "reload: $CONF read, " "$LOG"; }
tdm_wait 30 "the reload line" reloaded
tdm_assert_grep "the cycle is applied" "reload: cycle now 4 s \\(from each zone's next run\\)" "$LOG"
tdm_assert_grep "a key that needs a restart is named" \
	"reload: threads changed \\(line $line\\), needs a restart: not applied" "$LOG"
tdm_assert_grep "the reload sums up" "reload: $CONF read, 2 key\\(s\\) changed, 1 applied" "$LOG"
s0=$(tdm_last_serial node-b $Z)
tdm_wait 60 "node-b to publish after SIGHUP" tdm_published_after node-b $Z "$s0"
kill -0 "$PID" || tdm_fail "node-b died on SIGHUP" -- "$LOG"
tdm_pass "SIGHUP: the cycle applied, threads named as needing a restart; node-b signs on"

# the same file again: the cycle is in force already; threads still needs the restart
kill -HUP "$PID"
twice() { [ "$(grep -c "reload: $CONF read, " "$LOG")" -ge 2 ]; }
tdm_wait 30 "the second reload line" twice
tdm_assert_grep "only threads is named again" "reload: $CONF read, 1 key\\(s\\) changed, 0 applied" "$LOG"
[ "$(grep -c 'reload: cycle now' "$LOG")" = 1 ] || tdm_fail "the cycle was applied twice" -- "$LOG"
tdm_pass "SIGHUP with the same file: nothing applied twice; the pending restart named again"

printf 'cycle: soon\n' >>"$CONF"
kill -HUP "$PID"
refused() { grep -q "the config in force stays" "$LOG"; }
tdm_wait 30 "the refusal" refused
tdm_assert_grep "the bad key is refused at its line" \
	"reload: $CONF:$(wc -l <"$CONF"): cycle: given twice" "$LOG"
s0=$(tdm_last_serial node-b $Z)
tdm_wait 60 "node-b to publish after a bad reload" tdm_published_after node-b $Z "$s0"
tdm_pass "SIGHUP with a bad file: refused at its line; node-b signs on"
tdm_check_publications node-a node-b
