#!/bin/bash
# The active node's HSM goes away (its SoftHSM token store is moved aside, as an HSM
# unplugged or its device gone): the node raises the node-wide blocking "hsm" alert and
# gives its leases up within a cycle, so the other site takes the zone over and publishes;
# it does not keep failing run after run while holding the lease. The store put back, the
# node opens its token again by itself (new sessions, login), clears the alert and, without
# a restart, signs again: a switchover back to it publishes the next serial.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.

tdm_cluster_up --cycle 3
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z after cluster-up"
B=node-a
[ "$A" = node-a ] && B=node-b
tdm_wait 30 "$A's next cycle" tdm_published_after "$A" $Z "$(tdm_last_serial "$A" $Z)"
pid=$(cat "$TDM_CL/run/$A.pid")

store=$TDM_CL/$A/hsm/tokens
[ -d "$store" ] || tdm_fail "no token store at $store"
put_back() { [ ! -d "$store.away" ] || mv "$store.away" "$store"; }
tdm_on_exit put_back
mv "$store" "$store.away"
t_gone=$(date +%s)
tdm_log "$A's token store moved aside"

alerted() { grep -q "ALERT hsm: token $A does not answer" "$TDM_CL/log/$A.log"; }
tdm_wait 30 "$A to raise the hsm alert" alerted
tdm_pass "$A raised the hsm alert $(($(date +%s) - t_gone)) s after its token went"
sA=$(tdm_last_serial "$A" $Z)
tdm_wait 60 "$B to take $Z over and publish above $sA" tdm_published_after "$B" $Z "$sA"
[ "$(tdm_holder $Z)" = "$B" ] || tdm_fail "$B published but does not hold $Z"
kill -0 "$pid" || tdm_fail "$A exited"
tdm_pass "$B took $Z over after $(($(date +%s) - t_gone)) s"

put_back
t_back=$(date +%s)
recovered() { grep -q "hsm: token $A answers again" "$TDM_CL/log/$A.log"; }
tdm_wait 30 "$A to open its token again" recovered
tdm_pass "$A opened its token again $(($(date +%s) - t_back)) s after it came back"

# The coordinator learns of the cleared alert from the node's next heartbeat: an operator
# switches over once status shows the node healthy (a switchover to an unhealthy node is
# refused, as it must be; CI once asked in between).
healthy_again() { [ "$(tdm_status_get "node('$A')['healthy']")" = True ]; }
tdm_wait 60 "the coordinator to see $A healthy" healthy_again
sB=$(tdm_last_serial "$B" $Z)
tdm_ctl switchover --zone $Z --to "$A" --wait 60 >"$TDM_TMP/switchover.out" 2>&1 ||
	tdm_fail "switchover back to $A refused" -- "$TDM_TMP/switchover.out"
tdm_wait 60 "$A to publish above $sB" tdm_published_after "$A" $Z "$sB"
[ "$(cat "$TDM_CL/run/$A.pid")" = "$pid" ] || tdm_fail "$A was restarted"
tdm_validate_published "$A" $Z
tdm_check_publications node-a node-b
tdm_pass "$A signs again without a restart; no serial published twice"
tdm_cluster_sanitizer_check
