#!/bin/bash
# The node says "stop publishing" at its lease's deadline, not after the calls it is
# waiting in: both coordinators are frozen (SIGSTOP) while node X holds the zone, so every
# renewal goes unanswered (each call waits its timeout at each coordinator in turn). The
# node's "stop publishing ... (deadline T)" line must be stamped within 100 ms of T, the
# deadline it computed from its last granted renewal (sent + lease - margin), both read
# from the node's own log (so a loaded machine does not matter). The coordinators thawed,
# the cluster signs on.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.

tdm_cluster_up --cycle 600
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z after cluster-up"
s1=$(tdm_last_serial "$A" $Z)

thaw() {
	local c
	for c in coord-a coord-b; do
		kill -CONT "$(cat "$TDM_CL/run/$c.pid" 2>/dev/null)" 2>/dev/null || true
	done
}
tdm_on_exit thaw
for c in coord-a coord-b; do
	kill -STOP "$(cat "$TDM_CL/run/$c.pid")"
done
tdm_log "both coordinators frozen; $A holds $Z"

stopped() { grep -q "zone $Z: stop publishing under epoch .*could not be renewed in time" "$TDM_CL/log/$A.log"; }
tdm_wait 60 "$A to stop publishing" stopped
line=$(grep -m1 "zone $Z: stop publishing under epoch .*could not be renewed in time" "$TDM_CL/log/$A.log")
tdm_log "$line"
late=$(python3 - "$line" <<'PY'
import re, sys
from datetime import datetime
line = sys.argv[1]
def ms(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000
said = re.match(r"(\S+) tandemd ", line)
deadline = re.search(r"\(deadline (\S+)\)", line)
if not said or not deadline:
    print("unparsable")
    sys.exit(0)
print(int(round(ms(said.group(1)) - ms(deadline.group(1)))))
PY
)
case $late in
'' | unparsable) tdm_fail "no deadline in the stop line: $line" ;;
esac
# both stamps are truncated to the millisecond from two clock readings: -2 ms is "at once"
[ "$late" -ge -2 ] || tdm_fail "$A said it stopped $((-late)) ms before its deadline"
[ "$late" -le 100 ] || tdm_fail "$A said it stopped $late ms after its deadline (at most 100)"
tdm_pass "$A said 'stop publishing' $late ms after its deadline"
[ "$(tdm_last_serial "$A" $Z)" = "$s1" ] || tdm_fail "$A published while the coordinators were frozen"

thaw
tdm_log "coordinators thawed"
signs_again() { [ -n "$(tdm_holder $Z)" ]; }
tdm_wait 60 "a node to hold $Z again" signs_again
tdm_check_publications node-a node-b
tdm_pass "after the thaw $(tdm_holder $Z) holds $Z; no serial published twice"
tdm_cluster_sanitizer_check
