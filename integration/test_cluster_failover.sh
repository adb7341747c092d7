#!/bin/bash
# Failover: a whole local cluster (3 etcd members, 2 coordinators, node-a at site A and
# node-b at site B, each with its own SoftHSM token holding the same SMK) signs the example
# zone; the standby's shadow digest agrees with the active's; kill -9 of the active node:
# the standby takes the lease (a higher epoch) and publishes the next serial, of its own
# site's residue class; the published zones validate with dnssec-verify; across both nodes'
# publication logs no serial has two digests and serials rise. The killed node, started
# again, becomes the standby and agrees with the new active's digest. Then a delivery that
# reached only the active's site: the active dies, and the standby, whose input is older
# than the committed one, takes the lease but publishes nothing until its input catches up.
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
B=node-a
[ "$A" = node-a ] && B=node-b
epoch1=$(tdm_status_get "zone('$Z')['epoch']")
s1=$(tdm_last_serial "$A" $Z)
[ -n "$s1" ] || tdm_fail "$A holds $Z but published nothing"
tdm_validate_published "$A" $Z
tdm_pass "$A published $Z serial $s1 (epoch $epoch1), dnssec-verify accepts it"

# The standby's shadow run of the same serial must give the same digest (RSA).
agrees() { grep -q "serial $s1: $B agrees" "$TDM_CL"/log/coord-*.log; }
tdm_wait 30 "$B's shadow digest of serial $s1" agrees
[ "$(tdm_status_get "zone('$Z')['alerts']")" = 0 ] || tdm_fail "digest alerts raised"
tdm_pass "$B shadow-signed serial $s1 with the same digest"

kill -9 "$(cat "$TDM_CL/run/$A.pid")"
tdm_log "killed $A (kill -9)"
tdm_wait 60 "$B to publish above $s1" tdm_published_after "$B" $Z "$s1"
s2=$(tdm_last_serial "$B" $Z)
[ "$(tdm_holder $Z)" = "$B" ] || tdm_fail "$B published but does not hold $Z"
epoch2=$(tdm_status_get "zone('$Z')['epoch']")
[ "$epoch2" -gt "$epoch1" ] || tdm_fail "epoch did not rise: $epoch1 -> $epoch2"
site_b=$(tdm_status_get "node('$B')['site']")
want=$([ "$site_b" = A ] && echo 0 || echo 1)
[ $((s2 % 2)) = "$want" ] || tdm_fail "serial $s2 of $B (site $site_b) is outside its residue class"
tdm_validate_published "$B" $Z
tdm_pass "$B took over: serial $s1 -> $s2, epoch $epoch1 -> $epoch2, dnssec-verify accepts it"

# The old active comes back as the standby.
bash "$TDM_CL/run/$A.start"
back() { grep -q "serial $s2: $A agrees" "$TDM_CL"/log/coord-*.log; }
tdm_wait 60 "$A back, shadow-signing serial $s2" back
[ "$(tdm_holder $Z)" = "$B" ] || tdm_fail "$A took $Z back from $B"
tdm_pass "$A is back as the standby and agrees"

# A new delivery reaches site B only: B re-signs it at once. Then B dies: A takes the lease
# but its input is older than the committed one, so it publishes nothing and says so, until
# the delivery reaches it too.
sed -i 's/2024010101 ; serial/2024010105 ; serial/' "$TDM_CL/$B/in/example.zone"
newer() { [ "$(tdm_status_get "zone('$Z')['input_serial']")" = 2024010105 ]; }
tdm_wait 30 "$B to sign the newer input" newer
s3=$(tdm_status_get "zone('$Z')['serial']")
kill -9 "$(cat "$TDM_CL/run/$B.pid")"
refused() { grep -q "not publishing: input .* has SOA serial 2024010101, older than 2024010105" "$TDM_CL/log/$A.log"; }
tdm_wait 60 "$A to refuse its older input" refused
tdm_published_after "$A" $Z "$s3" && tdm_fail "$A published from an input older than the committed one"
cp "$TDM_CL/$B/in/example.zone" "$TDM_CL/$A/in/example.zone"
tdm_wait 40 "$A to publish once its input is current" tdm_published_after "$A" $Z "$s3"
tdm_validate_published "$A" $Z
tdm_check_publications node-a node-b
tdm_pass "an older input is not published; no serial published twice"
tdm_cluster_sanitizer_check
