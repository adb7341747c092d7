#!/bin/bash
# A lost, fenced site no longer freezes key management (issue 9 item 1). The drill policy
# rolls the ZSK every 40 s. Site A's node dies while site B holds the zone, and the operator
# fences site A (a takeover by B, requested and approved by sa1 + so1: node-a's CURVE key
# revoked on both coordinators). The successor ZSK made at B never gets A's import, so it cannot activate
# ("not yet at every site") and the old ZSK would sign past its lifetime. A site suspend of
# A (the direct command refused: it needs approvals; requested and approved, audited) takes
# A out of the acknowledgement set and the lease candidates: the new ZSK activates with B's import alone and signs what B
# publishes (RRSIG key tags). Suspending B, the last site not suspended, is refused.
# Site A rebuilt the documented way for a fenced node (docs/cluster.md, disaster recovery,
# step 5): `tandemctl node remove node-a`, a new CURVE key (`tandemctl net keygen`) put in
# the allow-list in place of the old one, the coordinators restarted one at a time (they
# read the allow-list at start), node-a started on its token with the new key, then
# `site resume A`: node-a registers anew, imports every key, acknowledges each, and is a
# healthy standby whose shadow digest agrees. No serial is published twice.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.

tdm_cluster_up --policy "$TDM_DATA/drill-policy.yaml" --cycle 3
key_in() {
	tdm_status_get "next((k['id'] for k in zone('$Z')['keys'] if k.get('role') == '$2' and k.get('state') == '$1'), None)" || true
}
if [ "$(tdm_holder $Z)" != node-b ]; then
	tdm_assert_ok "switchover to node-b" tdm_ctl switchover --zone $Z --to node-b --wait 30
fi
[ -n "$(key_in active zsk)" ] || tdm_fail "no active ZSK" -- "$TDM_CL/log/node-b.log"

kill -9 "$(cat "$TDM_CL/run/node-a.pid")"
tdm_log "killed node-a (site A lost)"
# site A is gone for good: the operator fences it. node-b holds the zone, so nothing waits
# for a lease to run out; node-a's key leaves both coordinators' allow-lists.
tdm_assert_ok "takeover of site B, approved by sa1 + so1" tdm_approved takeover site=B
tdm_assert_grep "the takeover names node-a" 'node-a' "$TDM_OUT"
[ "$(tdm_status_get "node('node-a')['state']")" = fenced ] || tdm_fail "node-a is not fenced"
revoked() {
	local c
	for c in coord-a coord-b; do
		grep -q "fence: revoked key .* (node-a) of fenced member" "$TDM_CL/log/$c.log" || return 1
	done
}
tdm_wait 30 "both coordinators to revoke node-a's key" revoked
[ "$(tdm_holder $Z)" = node-b ] || tdm_fail "node-b lost $Z in the takeover"
tdm_pass "site A fenced: node-a's key revoked on both coordinators, node-b still holds $Z"
# the next successor is made at B but cannot activate without A's import: node-b makes and
# archives it, and does not ask its activation while the status shows no import at site A
# (docs/node.md, "Keys"; the coordinator would refuse it, tests/unit/coord)
from_b=$(($(wc -l <"$TDM_CL/log/node-b.log") + 1))
made() {
	tail -n +"$from_b" "$TDM_CL/log/node-b.log" |
		grep -Eo "zsk key [0-9]+ \(tag [0-9]+\) made and archived" | head -1
}
frozen() { [ -n "$(made)" ]; }
tdm_wait 150 "node-b to make a successor ZSK that site A never imports" frozen
zsk2=$(made | awk '{ print $3 }')
sleep 5
zsk_old=$(key_in active zsk)
if [ -z "$zsk_old" ] || [ "$zsk_old" = "$zsk2" ]; then
	tdm_fail "ZSK $zsk2 activated without site A"
fi
tdm_pass "ZSK $zsk2 waits for site A's import (ZSK $zsk_old still signs): rollovers are frozen"

tdm_assert_fails "suspending an unknown site" tdm_approved site-suspend site=Q
tdm_assert_fails "site suspend A without approvals" tdm_ctl site suspend A
tdm_assert_grep "the direct command names the request" "tandemctl request site-suspend site=A" "$TDM_ERR"
tdm_assert_ok "site suspend A, approved by sa1 + so1" tdm_approved site-suspend site=A
tdm_assert_grep "the decision says what suspend does" "site A suspended" "$TDM_OUT"
grep -Eq "audit: request.execute .*site-suspend site=A executed" "$TDM_CL"/log/coord-*.log ||
	tdm_fail "no audit line for the suspend" -- "$TDM_CL"/log/coord-*.log
[ "$(tdm_status_get "s['suspended_sites']")" = "['A']" ] || tdm_fail "status --json does not list site A as suspended"
tdm_assert_ok "status (text)" tdm_ctl status
tdm_assert_grep "status shows the suspended site" "^sites suspended: A" "$TDM_OUT"
tdm_run suspend-b tdm_approved site-suspend site=B
[ "$TDM_RC" = 4 ] || tdm_fail "suspending the last site: exit $TDM_RC, not 4 (refused)" -- "$TDM_OUT" "$TDM_ERR"
grep -q "last site not suspended" "$TDM_OUT" "$TDM_ERR" || tdm_fail "no reason given for refusing B" -- "$TDM_OUT" "$TDM_ERR"
tdm_pass "suspending B, the last site, is refused"

zsk2_active() { [ "$(key_in active zsk)" = "$zsk2" ]; }
tdm_wait 120 "ZSK $zsk2 to activate at site B alone" zsk2_active
tag2=$(tdm_status_get "next(k['tag'] for k in zone('$Z')['keys'] if k['id'] == $zsk2)")
s0=$(tdm_last_serial node-b $Z)
tdm_wait 60 "node-b to publish again" tdm_published_after node-b $Z "$s0"
signs() {
	python3 - "$TDM_CL/node-b/out/${Z}zone" "$1" <<'PY'
import sys
path, tag = sys.argv[1], sys.argv[2]
tags = set()
for line in open(path):
    f = line.split()
    # NAME TTL IN RRSIG COVERED ALG LABELS OTTL EXP INC TAG SIGNER SIG
    if len(f) > 10 and f[2] == "IN" and f[3] == "RRSIG" and f[4] not in ("DNSKEY", "CDS", "CDNSKEY"):
        tags.add(f[10])
sys.exit(0 if tag in tags else 1)
PY
}
tdm_wait 60 "node-b's zone to be signed by ZSK $zsk2 (tag $tag2)" signs "$tag2"
tdm_validate_published node-b $Z
tdm_pass "ZSK $zsk2 (tag $tag2) active with B's import alone and signs the published zone"

# site A rebuilt the way a fenced node comes back (docs/cluster.md, disaster recovery, step
# 5): the fenced member removed, a new CURVE key in the allow-list in place of the old one,
# the coordinators restarted one at a time to read it, node-a started on its own token with
# the new key; then the operator resumes the site.
tdm_assert_ok "node remove node-a" tdm_ctl node remove node-a
[ "$(tdm_status_get "any(n['name'] == 'node-a' for n in s['nodes'])")" = False ] ||
	tdm_fail "node-a still a member after node remove"
NEWPUB=$TDM_CL/keys/node-a.rebuilt.pub
NEWSEC=$TDM_CL/keys/node-a.rebuilt.secret
tdm_assert_ok "net keygen for the rebuilt node-a" tdm_ctl net keygen --public "$NEWPUB" --secret "$NEWSEC"
newkey=$(awk '$1 == "public" { print $2 }' "$NEWPUB")
oldkey=$(awk '$1 == "public" { print $2 }' "$TDM_CL/keys/node-a.pub")
if [ -z "$newkey" ] || [ "$newkey" = "$oldkey" ]; then
	tdm_fail "no new key for node-a" -- "$NEWPUB"
fi
awk -v k="$newkey" '$1 == "node-a" { $3 = k } { print }' "$TDM_CL/allow" >"$TDM_CL/allow.new"
mv "$TDM_CL/allow.new" "$TDM_CL/allow"
[ "$(awk '$1 == "node-a" { print $3 }' "$TDM_CL/allow")" = "$newkey" ] ||
	tdm_fail "node-a's new key not in the allow-list" -- "$TDM_CL/allow"
# tandem-coord reads --allow only at start: each coordinator in turn stops and starts again
# as cluster-up.sh started it (DIR/run/coord-X.start), the other one answering meanwhile
restart_coord() {
	local c=$1 pid from
	pid=$(cat "$TDM_CL/run/$c.pid")
	kill "$pid"
	stopped() { ! kill -0 "$pid" 2>/dev/null; }
	tdm_wait 30 "$c (pid $pid) to stop" stopped
	from=$(($(wc -l <"$TDM_CL/log/$c.log") + 1))
	bash "$TDM_CL/run/$c.start"
	listening() { tail -n +"$from" "$TDM_CL/log/$c.log" | grep -q '^listening '; }
	tdm_wait 30 "$c to listen again" listening
	answers() { tdm_status_get "len(s['zones'])" >/dev/null; }
	tdm_wait 30 "the coordinators to answer status" answers
	tdm_log "restarted $c with the new allow-list"
}
restart_coord coord-a
restart_coord coord-b
OLDSEC=$(printf %q "$TDM_CL/keys/node-a.secret")
sed "s|--key $OLDSEC |--key $(printf %q "$NEWSEC") |" "$TDM_CL/run/node-a.start" >"$TDM_TMP/node-a.start"
grep -qF -- "--key $(printf %q "$NEWSEC") " "$TDM_TMP/node-a.start" ||
	tdm_fail "node-a.start has no --key to replace" -- "$TDM_CL/run/node-a.start"
cp "$TDM_TMP/node-a.start" "$TDM_CL/run/node-a.start"
bash "$TDM_CL/run/node-a.start"
registered() {
	[ "$(tdm_status_get "next((n['state'] for n in s['nodes'] if n['name'] == 'node-a'), None)")" = up ]
}
tdm_wait 60 "node-a to register anew under its new key" registered
tdm_pass "node-a removed, registered anew under a new CURVE key"
tdm_assert_ok "site resume A" tdm_ctl site resume A
grep -q "audit: operator operator: coord.site.resume site=A: accepted" "$TDM_CL"/log/coord-*.log ||
	tdm_fail "no audit line for the resume"
[ "$(tdm_status_get "s['suspended_sites']")" = "[]" ] || tdm_fail "site A still suspended"
all_acked() {
	[ "$(tdm_status_get "all('node-a' in k['acks'] for k in zone('$Z')['keys'] if k['active'])")" = True ]
}
tdm_wait 90 "node-a to acknowledge every active key" all_acked
standby() {
	[ "$(tdm_status_get "node('node-a')['healthy'] and node('node-a')['role']")" = standby ]
}
tdm_wait 60 "node-a to be a healthy standby" standby
s1=$(tdm_last_serial node-b $Z)
tdm_wait 60 "node-b to publish above $s1" tdm_published_after node-b $Z "$s1"
s2=$(tdm_last_serial node-b $Z)
# a shadow digest of a serial committed after the resume (node-a may have agreed before
# the kill, as the standby of an earlier serial)
agrees() {
	local last
	last=$(grep -Eho "serial [0-9]+: node-a agrees" "$TDM_CL"/log/coord-*.log | awk '{ print $2 }' |
		tr -d : | sort -n | tail -1)
	[ -n "$last" ] && [ "$last" -gt "$s1" ]
}
tdm_wait 90 "node-a's shadow digest to agree" agrees
[ "$(tdm_status_get "zone('$Z')['alerts']")" = 0 ] || tdm_fail "a standby digest disagreed"
tdm_pass "site A back: node-a holds every key and agrees as the standby (serial $s2)"

# keys retired (or retired and purged) while node-a was down leave its HSM too: its token
# ends up holding the same keys as node-b's
MODULE=$(tdm_module)
objects() {
	SOFTHSM2_CONF=$TDM_CL/$1/hsm/softhsm2.conf python3 "$TDM_SRC/integration/p11count.py" \
		"$MODULE" "$1" "$TDM_CL/$1/hsm/user.pin" "tandem-example-$2"
}
top=$(tdm_status_get "max(k['id'] for k in zone('$Z')['keys'])")
same_keys() {
	local id a b
	for id in $(seq 1 "$top"); do
		a=$(objects node-a "$id")
		b=$(objects node-b "$id")
		[ "$a" = "$b" ] || return 1
	done
}
tdm_wait 60 "node-a's token to hold the same keys 1..$top as node-b's" same_keys
old_gone() { [ "$(objects node-a "$zsk_old")" = 0 ]; }
tdm_wait 90 "ZSK $zsk_old (active when node-a died, rolled since) to leave node-a's HSM" old_gone
tdm_pass "the keys removed while node-a was down are destroyed in its HSM too"
tdm_check_publications node-a node-b
tdm_cluster_sanitizer_check
