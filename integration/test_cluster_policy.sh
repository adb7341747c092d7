#!/bin/bash
# Signing policies stored in the cluster (docs/policy.md, "In a cluster") on a running
# cluster: `tandemctl policy put` refuses a bad file with its file and line and stores
# nothing; a good one is stored under its SHA-256; giving it to a zone that was signed
# already, and changing it while the zone uses it, each need approvals (policy-set, one SA
# and one SO or WI), and each is in the audit log with the old and new digest. The change
# (NSEC3 -> NSEC) reaches both nodes without a restart: the holder publishes the zone with
# NSEC, and the standby's shadow run of that serial agrees on its digest. A policy altered
# in etcd behind the coordinator's back (its text no longer matches its SHA-256) is
# refused by the nodes, which raise the alert `policy` and keep signing as before. The
# zone's policy also sets compare-before-publish: under one with `require`, a stopped standby
# holds publication (compare-held) though the nodes' own files say `wait`.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd etcdctl
Z=example.

tdm_cluster_up --cycle 3
holder=$(tdm_holder $Z)
[ -n "$holder" ] || tdm_fail "no holder of $Z after cluster-up"
pids_before=$(cat "$TDM_CL"/run/node-*.pid | sort | tr '\n' ' ')

# a bad file: refused here with its line, nothing sent or stored
printf 'policy: p1\nsignatures:\n  validity: 8x\n' >"$TDM_TMP/bad.yaml"
tdm_assert_fails "a bad policy is refused" tdm_ctl policy put p1 "$TDM_TMP/bad.yaml"
tdm_assert_grep "the refusal names the file and line" "bad.yaml:3: " "$TDM_ERR"
tdm_assert_grep "nothing stored" "nothing stored" "$TDM_ERR"
printf 'policy: p2\n' >"$TDM_TMP/p2.yaml"
tdm_assert_fails "a file naming another policy is refused" tdm_ctl policy put p1 "$TDM_TMP/p2.yaml"

# the DPS policy under the name p1 (what the nodes' own file says): stored
printf 'policy: p1\n' >"$TDM_TMP/p1.yaml"
d1=$(sha256sum "$TDM_TMP/p1.yaml" | cut -d' ' -f1)
tdm_assert_ok "policy put p1" tdm_ctl policy put p1 "$TDM_TMP/p1.yaml"
tdm_assert_grep "stored under its SHA-256" "sha256=$d1" "$TDM_OUT"
tdm_assert_ok "policy list" tdm_ctl policy list
tdm_assert_grep "p1 listed with its digest and no zone" "^p1 *$d1 *0\$" "$TDM_OUT"
tdm_assert_ok "policy show p1" tdm_ctl policy show p1
tdm_assert_grep "show gives the text" "^policy: p1\$" "$TDM_OUT"

# the zone has been signed: giving it a policy needs approvals
tdm_assert_fails "zone policy without approvals" tdm_ctl zone policy $Z p1
tdm_assert_grep "names the request to make" "tandemctl request policy-set name=p1 digest=$d1 zone=$Z" "$TDM_ERR"
tdm_approved policy-set name=p1 digest="$d1" zone=$Z >"$TDM_TMP/approve1.out" 2>&1 ||
	tdm_fail "policy-set of the zone's policy was not executed" -- "$TDM_TMP/approve1.out"
tdm_assert_ok "policy list" tdm_ctl policy list
tdm_assert_grep "p1 is the zone's" "^p1 *$d1 *1 $Z\$" "$TDM_OUT"
tdm_wait 60 "both nodes to take p1 for $Z" \
	grep -q "zone $Z: signs with the cluster's policy p1 sha256=$d1" "$TDM_CL/log/node-a.log"
tdm_wait 60 "node-b to take p1 for $Z" \
	grep -q "zone $Z: signs with the cluster's policy p1 sha256=$d1" "$TDM_CL/log/node-b.log"
tdm_pass "both nodes sign $Z with the cluster's p1"

# a change of a policy a zone uses: staged, needs approvals, then in force
printf 'policy: p1\ndenial: { type: nsec }\n' >"$TDM_TMP/p1-nsec.yaml"
d2=$(sha256sum "$TDM_TMP/p1-nsec.yaml" | cut -d' ' -f1)
tdm_assert_fails "a change of p1 needs approvals" tdm_ctl policy put p1 "$TDM_TMP/p1-nsec.yaml"
tdm_assert_grep "names the request" "tandemctl request policy-set name=p1 digest=$d2" "$TDM_ERR"
tdm_assert_ok "policy show p1" tdm_ctl policy show p1
tdm_assert_grep "still the old text until approved" "sha256=$d1" "$TDM_OUT"
tdm_approved policy-set name=p1 digest="$d2" >"$TDM_TMP/approve2.out" 2>&1 ||
	tdm_fail "policy-set of p1 was not executed" -- "$TDM_TMP/approve2.out"
tdm_assert_ok "policy show p1" tdm_ctl policy show p1
tdm_assert_grep "the new text in force" "sha256=$d2" "$TDM_OUT"

# both sites take it at their next run, without a restart
for n in node-a node-b; do
	tdm_wait 60 "$n to take the new p1" \
		grep -q "zone $Z: signs with the cluster's policy p1 sha256=$d2" "$TDM_CL/log/$n.log"
done
holder=$(tdm_holder $Z)
nsec_published() {
	local f="$TDM_CL/$holder/out/${Z}zone"
	tdm_file_current "$holder" $Z || return 1
	[ "$(tdm_rrtype_count NSEC3 "$f")" = 0 ] && [ "$(tdm_rrtype_count NSEC "$f")" -gt 0 ]
}
tdm_wait 60 "$holder to publish $Z with NSEC" nsec_published
serial=$(tdm_last_serial "$holder" $Z)
agreed() {
	[ "$(tdm_status_get "(zone('$Z')['standby_report'] or {}).get('serial', 0) >= $serial and zone('$Z')['standby_report']['match']")" = True ]
}
tdm_wait 60 "the standby to agree on a serial signed with NSEC" agreed
[ "$(tdm_status_get "zone('$Z')['policy_sha256']")" = "$d2" ] ||
	tdm_fail "the last commit does not name the new policy's digest"
grep -q "serial [0-9]* was signed with policy sha256=.*: not compared" "$TDM_CL"/log/node-*.log &&
	tdm_log "a shadow run across the change was not compared (as documented)"
[ "$(tdm_status_get "zone('$Z')['alerts']")" = 0 ] || tdm_fail "a standby digest disagreed"
pids_after=$(cat "$TDM_CL"/run/node-*.pid | sort | tr '\n' ' ')
[ "$pids_before" = "$pids_after" ] || tdm_fail "a node restarted ($pids_before / $pids_after)"
tdm_pass "NSEC3 -> NSEC published by $holder, the standby agrees, no restart"

# a policy altered in etcd (text and header no longer agree): refused by both nodes
# shellcheck source=/dev/null
. "$TDM_CL/cluster.env"
mapfile -t etls < <(tdm_cluster_etcd_tls)
printf 'tandem-policy v1 sha256=%s\npolicy: p1\n' "$d2" >"$TDM_TMP/altered"
etcdctl --endpoints "$ETCD_ENDPOINTS" --dial-timeout 10s --command-timeout 20s "${etls[@]}" \
	put /tandem/v1/policies/p1 <"$TDM_TMP/altered" >"$TDM_TMP/etcdctl.out" 2>&1 ||
	tdm_fail "etcdctl put failed" -- "$TDM_TMP/etcdctl.out"
policy_alert() {
	[ "$(tdm_status_get "any(a['kind'] == 'policy' and a['zone'] == '$Z' for a in node('$1')['alerts'])")" = True ]
}
for n in node-a node-b; do
	tdm_wait 60 "$n to raise the alert policy" policy_alert $n
	grep -q "ALERT policy: the cluster's policy p1 is altered (digest): keeps signing with p1" \
		"$TDM_CL/log/$n.log" || tdm_fail "$n did not log the altered policy" -- "$TDM_CL/log/$n.log"
done
serial=$(tdm_last_serial "$holder" $Z)
tdm_wait 60 "$holder to publish again" tdm_published_after "$holder" $Z "$serial"
nsec_published || tdm_fail "$holder no longer signs with the policy it had (NSEC)"
tdm_assert_fails "policy show refuses the altered text" tdm_ctl policy show p1
tdm_assert_grep "says why" "does not match its digest" "$TDM_ERR"
tdm_pass "an altered policy is refused by both nodes (alert policy), which sign on as before"

# the audit log has each change with the old and new digest
tdm_assert_ok "audit show policy.set" tdm_ctl audit show --type policy.
tdm_assert_grep "the change, old and new digest" "policy p1 sha256=$d1 -> sha256=$d2" "$TDM_OUT"
tdm_assert_grep "the staged change" "policy.stage" "$TDM_OUT"
tdm_assert_ok "audit show zone.policy" tdm_ctl audit show --type zone.policy
tdm_assert_grep "the zone's policy, named with its digest" "policy - -> p1 sha256=$d1" "$TDM_OUT"
# compare-before-publish is the zone's policy's, not the node's own file's (wait): under a
# cluster policy with require, a stopped standby holds publication with compare-held
printf 'policy: p3\ndenial: { type: nsec }\nzone: { compare-before-publish: require, compare-timeout: 2s }\n' \
	>"$TDM_TMP/p3.yaml"
d3=$(sha256sum "$TDM_TMP/p3.yaml" | cut -d' ' -f1)
tdm_assert_ok "policy put p3" tdm_ctl policy put p3 "$TDM_TMP/p3.yaml"
tdm_approved policy-set name=p3 digest="$d3" zone=$Z >"$TDM_TMP/approve3.out" 2>&1 ||
	tdm_fail "policy-set of p3 for the zone was not executed" -- "$TDM_TMP/approve3.out"
for n in node-a node-b; do
	tdm_wait 60 "$n to take p3" \
		grep -q "zone $Z: signs with the cluster's policy p3 sha256=$d3" "$TDM_CL/log/$n.log"
done
holder=$(tdm_holder $Z)
case $holder in node-a) standby=node-b ;; node-b) standby=node-a ;; *) tdm_fail "no holder of $Z ('$holder')" ;; esac
# a serial signed with p3 published (the standby agreed) before the standby stops
s3=$(tdm_last_serial "$holder" $Z)
tdm_wait 90 "$holder to publish after taking p3" tdm_published_after "$holder" $Z "$s3"
spid=$(cat "$TDM_CL/run/$standby.pid")
kill -STOP "$spid"
tdm_on_exit "kill -CONT $spid 2>/dev/null || true"
held_alert() { [ "$(tdm_status_get "'compare-held' in [a['kind'] for a in zone('$Z')['node_alerts'] if a['node'] == '$holder']")" = True ]; }
tdm_wait 90 "compare-held on $holder with $standby stopped" held_alert
held=$(tdm_status_get "zone('$Z')['serial']")
p1=$(tdm_last_serial "$holder" $Z)
[ "$held" != "$p1" ] || tdm_fail "compare-held raised but serial $held is published"
# held, not published late: several times compare-timeout (2 s) later, still unpublished
sleep 6
[ "$(tdm_last_serial "$holder" $Z)" = "$p1" ] ||
	tdm_fail "$holder published $(tdm_last_serial "$holder" $Z) while $standby was stopped (the node's own wait applied?)"
kill -CONT "$spid"
published_held() { [ "$(tdm_last_serial "$holder" $Z)" = "$held" ] || tdm_published_after "$holder" $Z "$held"; }
tdm_wait 90 "$holder to publish the held serial $held" published_held
tdm_pass "the zone's policy p3 (require) holds serial $held while $standby is stopped; published after"

tdm_check_publications node-a node-b
tdm_validate_published "$holder" $Z
tdm_cluster_sanitizer_check
