#!/bin/bash
# Fault: the active node's HSM goes away in the middle of a signing run (issue 13, "Fault
# injection"; test_node_hsm_loss.sh takes the token away between runs). Both nodes' input
# gets 2000 new delegations at once (a run that makes thousands of signatures). The active
# halts at the fault point run-signing (the input loaded, nothing signed yet: "run-signing 1
# stop", docs/testing.md), its token store is moved aside, and it goes on (SIGCONT) into
# signing without its HSM. Then:
#  - detected and alerted: that run fails in the HSM, the node-wide blocking "hsm" alert;
#  - nothing bad published: the active publishes nothing from that run; the other site
#    takes the zone over and publishes the new input, which dnssec-verify accepts; no serial
#    with two digests, serials and epochs rise;
#  - recovery without an operator: the store put back, the node opens its token again
#    and reports itself healthy.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd dnssec-verify
Z=z1.example.

export TANDEM_FAULT_FILE=$TDM_TMP/fault
tdm_cluster_up --zones 1 --cycle 3
unset TANDEM_FAULT_FILE
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z after cluster-up"
B=node-a
[ "$A" = node-a ] && B=node-b
LOG=$TDM_CL/log/$A.log
tdm_wait 30 "$A's next cycle" tdm_published_after "$A" $Z "$(tdm_last_serial "$A" $Z)"

# the new input: 2000 delegations more (owners "add-...": no name of the old input), the
# SOA serial raised
in=$TDM_CL/$A/in/${Z%.}.zone
"$(tdm_bin tandem-zonegen)" -o $Z -n 2000 --seed 77 |
	awk -v z=$Z '$1 != z && $1 !~ /^[a-z]\.nic\./ { print "add-" $0 }' >"$TDM_TMP/add.zone"
[ "$(wc -l <"$TDM_TMP/add.zone")" -gt 4000 ] || tdm_fail "tandem-zonegen made too few records"
sed 's/ 2024010101 3600 900 / 2024010102 3600 900 /' "$in" >"$TDM_TMP/new.zone"
grep -q ' 2024010102 3600 900 ' "$TDM_TMP/new.zone" || tdm_fail "cannot raise the SOA serial of $in"
cat "$TDM_TMP/add.zone" >>"$TDM_TMP/new.zone"
for n in node-a node-b; do
	cp "$TDM_TMP/new.zone" "$TDM_CL/$n/in/${Z%.}.zone.new"
done
store=$TDM_CL/$A/hsm/tokens
[ -d "$store" ] || tdm_fail "no token store at $store"
put_back() { [ ! -d "$store.away" ] || mv "$store.away" "$store"; }
tdm_on_exit put_back
lines=$(wc -l <"$LOG")
npub=$(wc -l <"$(tdm_publog "$A")")
# the active's next run halts once its input is loaded (only an active run passes there)
printf 'run-signing 1 stop\n' >"$TDM_TMP/fault"
for n in node-a node-b; do
	mv "$TDM_CL/$n/in/${Z%.}.zone.new" "$TDM_CL/$n/in/${Z%.}.zone"
done
halted() { [ -e "$TDM_TMP/fault.hit" ]; }
tdm_wait 60 "$A's run to halt at run-signing" halted
pid=$(cat "$TDM_CL/run/$A.pid")
stopped() { [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" = T ]; }
tdm_wait 10 "$A (pid $pid) to be stopped" stopped
mv "$store" "$store.away"
t_gone=$(date +%s%3N)
kill -CONT "$pid"
tdm_log "$A halted in a run with its input loaded; its token store moved aside; it goes on"
after() { tail -n +"$((lines + 1))" "$LOG"; }
failed() { after | grep -q "zone $Z: signing run failed"; }
tdm_wait 60 "$A's run to fail" failed
# the run was under way when the store went: no run of the new input ended before it
after | grep -m1 -B1000 "zone $Z: signing run failed" >"$TDM_TMP/before-fail.log" || true
if grep -q "zone $Z: signing run: serial" "$TDM_TMP/before-fail.log"; then
	tdm_fail "a run ended before the one that failed: the store did not go mid-run" -- "$TDM_TMP/before-fail.log"
fi
alerted() { after | grep -q "ALERT hsm: token $A does not answer"; }
tdm_wait 30 "$A to raise the hsm alert" alerted
tdm_pass "$A's run failed in the HSM $(($(date +%s%3N) - t_gone)) ms after its token went; hsm alert raised"
sA=$(tdm_last_serial "$A" $Z)
tdm_wait 90 "$B to take $Z over and publish above $sA" tdm_published_after "$B" $Z "$sA"
[ "$(wc -l <"$(tdm_publog "$A")")" = "$npub" ] || tdm_fail "$A published after its token went"
tdm_validate_published "$B" $Z
grep -q '^add-' "$TDM_CL/$B/out/${Z%.}.zone" || tdm_fail "$B's zone lacks the new delegations"
tdm_pass "$B publishes the new input (dnssec-verify); $A published nothing from the failed run"

put_back
recovered() { after | grep -q "hsm: token $A answers again"; }
tdm_wait 30 "$A to open its token again" recovered
healthy_again() { [ "$(tdm_status_get "node('$A')['healthy']")" = True ]; }
tdm_wait 60 "the coordinator to see $A healthy" healthy_again
tdm_check_publications node-a node-b
tdm_pass "$A signs again without a restart (healthy); no serial published twice"
tdm_cluster_sanitizer_check
