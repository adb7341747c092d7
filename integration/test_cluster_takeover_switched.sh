#!/bin/bash
# A forced takeover right after switchovers must still wait out the old holder's lease.
# The zone goes node-a -> node-b -> node-a by switchover; node-a keeps renewing. Then
# `tandemctl takeover --site B --force` fences node-a. node-b may be granted the lease only
# after node-a's lease (as status showed it just before the takeover) plus the margin: its
# first publication must come after that, and after node-a's last publication, so the two
# never publish at the same time. (The coordinator used to remember node-b as the zone's
# last holder and let it in ~0.5 s after the takeover while node-a's lease ran.)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.

tdm_cluster_up --cycle 4
if [ "$(tdm_holder $Z)" != node-a ]; then
	tdm_assert_ok "switchover to node-a" tdm_ctl switchover --zone $Z --to node-a --wait 40
fi
tdm_assert_ok "switchover node-a -> node-b" tdm_ctl switchover --zone $Z --to node-b --wait 40
tdm_assert_ok "switchover node-b -> node-a" tdm_ctl switchover --zone $Z --to node-a --wait 40
[ "$(tdm_holder $Z)" = node-a ] || tdm_fail "node-a does not hold $Z after the switchovers"

# node-a's lease as the coordinator sees it, just before the takeover: it runs at least
# until then (a renewal in between only moves it later).
json=$(tdm_ctl status --json)
read -r expiry margin < <(printf '%s' "$json" | python3 -c '
import json, sys
s = json.load(sys.stdin)
z = next(z for z in s["zones"] if z["name"] == sys.argv[1])
assert z["active_node"] == "node-a", z
print(z["expiry_ms"], s["margin_ms"])
' $Z)
t_to=$(date +%s%3N)
tdm_assert_ok "takeover of site B, approved by sa1 + so1" tdm_approved takeover site=B
tdm_log "takeover at $t_to; node-a's lease runs until at least $expiry, margin $margin ms"

first_b() { awk -v t="$t_to" -v z=$Z '$2 == z && $1 > t { print $1; exit }' "$(tdm_publog node-b)"; }
b_published() { [ -n "$(first_b)" ]; }
tdm_wait 60 "node-b to publish after the takeover" b_published
tb=$(first_b)
last_a=$(awk -v z=$Z '$2 == z { t = $1 } END { print (t == "" ? 0 : t) }' "$(tdm_publog node-a)")
tdm_log "node-b first published at $tb (takeover + $((tb - t_to)) ms); node-a last at $last_a"
[ "$tb" -ge $((expiry + margin)) ] ||
	tdm_fail "node-b published at $tb, before node-a's lease + margin ended ($((expiry + margin)))" -- \
		"$TDM_CL/log/coord-a.log" "$TDM_CL/log/coord-b.log"
[ "$tb" -gt "$last_a" ] || tdm_fail "node-a published at $last_a, after node-b began at $tb"
tdm_check_publications node-a node-b
tdm_pass "node-b began $((tb - expiry - margin)) ms after node-a's lease + margin; never two publishers"
