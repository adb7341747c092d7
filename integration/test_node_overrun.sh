#!/bin/bash
# A signing run that takes longer than the policy's max-run-time (here 4 s; a hung input or
# output file system, a stuck HSM: stood in for by an input far too big to sign in time)
# makes the active raise the zone's blocking run-overrun alert and give its lease up: the
# other site takes the zone over and publishes, the overrunning node publishes nothing.
# SIGTERM then stops that node within a few seconds although its run is still going (it
# is not waited for), and it releases its leases. Restarted, the node is the standby again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.
MAX_RUN=4

sed "s/^  resign-interval: .*/&\n  max-run-time: ${MAX_RUN}s/" "$TDM_SRC/conf/dps-default.yaml" >"$TDM_TMP/policy.yaml"
grep -q "max-run-time: ${MAX_RUN}s" "$TDM_TMP/policy.yaml" || tdm_fail "could not write the test policy"
tdm_cluster_up --cycle 600 --policy "$TDM_TMP/policy.yaml"
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z after cluster-up"
B=node-a
[ "$A" = node-a ] && B=node-b
s1=$(tdm_last_serial "$A" $Z)
[ -n "$s1" ] || tdm_fail "$A holds $Z but published nothing"

# An input that takes far longer than MAX_RUN to sign, put in place at once (rename).
"$TDM_ZONEGEN" -o $Z -n 300000 --seed 7 --serial 2024010102 >"$TDM_CL/$A/in/big.tmp"
mv "$TDM_CL/$A/in/big.tmp" "$TDM_CL/$A/in/example.zone"
t_big=$(date +%s)
overran() { grep -q "zone $Z: ALERT run-overrun" "$TDM_CL/log/$A.log"; }
tdm_wait 60 "$A to say its run overran" overran
tdm_pass "$A raised run-overrun after $(($(date +%s) - t_big)) s"
tdm_wait 60 "$B to take $Z over and publish above $s1" tdm_published_after "$B" $Z "$s1"
[ "$(tdm_holder $Z)" = "$B" ] || tdm_fail "$B published but does not hold $Z"
tdm_pass "$B took $Z over while $A's run overran"

ended() { grep -q "zone $Z: the run that overran ended" "$TDM_CL/log/$A.log"; }
ended && tdm_fail "$A's big run ended already: the input is not big enough for this test"
pid=$(cat "$TDM_CL/run/$A.pid")
t0=$(date +%s%3N)
kill -TERM "$pid"
gone() { ! kill -0 "$pid" 2>/dev/null; }
tdm_wait 30 "$A to exit after SIGTERM" gone
took=$(($(date +%s%3N) - t0))
[ "$took" -le 8000 ] || tdm_fail "$A took $took ms to stop on SIGTERM (at most 8000)"
grep -q "run still going after .* is left unfinished" "$TDM_CL/log/$A.log" ||
	tdm_fail "$A did not say it left its run" -- "$TDM_CL/log/$A.log"
[ "$(tdm_last_serial "$A" $Z)" = "$s1" ] || tdm_fail "$A published from the overrunning run"
tdm_pass "SIGTERM stopped $A in $took ms with its run still going"

# Back with its usual input: the standby again.
cp "$TDM_CL/$B/in/example.zone" "$TDM_CL/$A/in/example.zone"
bash "$TDM_CL/run/$A.start"
sB=$(tdm_last_serial "$B" $Z)
agrees() {
	local s
	s=$(tdm_last_serial "$B" $Z)
	grep -q "serial $s: $A agrees" "$TDM_CL"/log/coord-*.log
}
# a new input at B's site makes B sign a serial the restarted A shadow-signs
sed -i 's/2024010101 ; serial/2024010103 ; serial/' "$TDM_CL/$B/in/example.zone"
cp "$TDM_CL/$B/in/example.zone" "$TDM_CL/$A/in/example.zone"
tdm_wait 60 "$B to publish above $sB" tdm_published_after "$B" $Z "$sB"
tdm_wait 60 "$A back as the standby, agreeing with $B" agrees
tdm_check_publications node-a node-b
tdm_pass "$A is back as the standby; no serial published twice"
tdm_cluster_sanitizer_check
