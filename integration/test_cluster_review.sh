#!/bin/bash
# Review hooks (issue 11) on a whole local cluster whose policy names a hook for both stages
# (a script in the test's temp dir that logs each call and rejects a marker record):
#  - a clean input passes both hooks once (not again each cycle), and the standby runs none;
#  - an input holding the marker is rejected by the unsigned hook: the zone stays at its last
#    published version (its signatures refreshed), alert review-rejected in status --json
#    naming the stage, serial and the hook's first line; approve of another serial is
#    refused; `tandemctl zone reject` keeps it held (recorded in status and the audit log);
#  - a new input is reviewed again; `tandemctl zone approve` publishes it without the hook;
#  - a marker only the signed hook looks for is rejected after the gate, before the commit;
#  - a hook that hangs is killed at review-timeout (15 s, longer than the 9 s lease) and
#    counts as a rejection, while the active keeps renewing: the zone is not lost to the
#    other site.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.

HOOK=$TDM_TMP/review.sh
CALLS=$TDM_TMP/review.calls
cat >"$HOOK" <<EOF
#!/bin/sh
# a review hook: logs its call; rejects the marker records; hangs while $TDM_TMP/hang exists
echo "\$1 \$TANDEM_STAGE \$TANDEM_ZONE \$TANDEM_SERIAL \$TANDEM_ZONE_FILE \$(stat -c %a "\$TANDEM_ZONE_FILE")" >> "$CALLS"
[ -r "\$TANDEM_ZONE_FILE" ] || { echo "cannot read \$TANDEM_ZONE_FILE"; exit 2; }
if [ -e "$TDM_TMP/hang" ]; then echo "hanging on \$TANDEM_SERIAL"; sleep 300; fi
if grep -q review-marker "\$TANDEM_ZONE_FILE"; then
	echo "marker record in \$TANDEM_STAGE serial \$TANDEM_SERIAL"
	echo "a second line" >&2
	exit 1
fi
if [ "\$1" = signed ] && grep -q signed-marker "\$TANDEM_ZONE_FILE"; then
	echo "signed marker in serial \$TANDEM_SERIAL"
	exit 1
fi
echo "ok \$TANDEM_SERIAL"
EOF
chmod 0755 "$HOOK"
cat >"$TDM_TMP/policy.yaml" <<EOF
policy: review-test
zone:
  review-unsigned: $HOOK unsigned
  review-signed: $HOOK signed
  review-timeout: 15s
EOF

tdm_cluster_up --cycle 6 --lease-ms 9000 --policy "$TDM_TMP/policy.yaml"
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z after cluster-up"
B=node-a
[ "$A" = node-a ] && B=node-b
IN=$TDM_CL/$A/in/example.zone
BIN=$TDM_CL/$B/in/example.zone
LOG=$TDM_CL/log/$A.log
OUT=$TDM_CL/$A/out/example.zone
cp "$IN" "$TDM_TMP/orig.zone"

# version SERIAL [RECORD]: the original input with another SOA serial (and RECORD), on stdout.
version() {
	sed "s/2024010101 ; serial/$1 ; serial/" "$TDM_TMP/orig.zone"
	[ -z "${2:-}" ] || printf '%s\n' "$2"
}
# put SERIAL [RECORD]: that version renamed into place as both nodes' input.
put() {
	version "$@" >"$TDM_TMP/v.zone"
	cp "$TDM_TMP/v.zone" "$IN.new" && mv -f "$IN.new" "$IN"
	cp "$TDM_TMP/v.zone" "$BIN.new" && mv -f "$BIN.new" "$BIN"
}
in_serial() { tdm_status_get "zone('$Z')['input_serial']"; }
in_serial_is() { [ "$(in_serial)" = "$1" ]; }
logged() { grep -Eq "$1" "$LOG"; }
status_alert() {
	[ "$(tdm_status_get "any(a['kind'] == '$2' and a['zone'] == '$Z' and '${3:-}' in a['reason'] for a in node('$1')['alerts'])")" = True ]
}
no_status_alert() { ! status_alert "$1" "$2" && [ "$(tdm_status_get "len(node('$1')['alerts'])")" != "" ]; }
holds() { [ "$(tdm_holder $Z)" = "$A" ]; }
# calls STAGE SERIAL: how many times the hook was called for that stage and serial (each
# line: STAGE TANDEM_STAGE TANDEM_ZONE TANDEM_SERIAL TANDEM_ZONE_FILE ITS_MODE).
calls() { awk -v s="$1" -v n="$2" '$1 == s && $4 == n' "$CALLS" 2>/dev/null | wc -l; }
# refreshed: the active published a new serial (a refresh of the last good input) since $s0
refreshed() { tdm_published_after "$A" $Z "$s0"; }

# ---- a clean input: both hooks approve, once --------------------------------------------------
put 2024010102
tdm_wait 60 "$A to sign the clean input" in_serial_is 2024010102
sig2=$(tdm_last_serial "$A" $Z)
[ "$(calls unsigned 2024010102)" = 1 ] || tdm_fail "the unsigned hook ran $(calls unsigned 2024010102) times for 2024010102" -- "$CALLS"
grep -Eq "^signed signed $Z [0-9]+ $TDM_CL/$A/work/example\.review\.[A-Za-z0-9]{6} 600$" "$CALLS" || tdm_fail "the signed hook did not run" -- "$CALLS"
# each hook read a private copy in the active's --work (mode 0600), not the input itself
awk -v w="$TDM_CL/$A/work/" '$4 == "2024010102" && (index($5, w) != 1 || $6 != "600")' "$CALLS" |
	grep -q . && tdm_fail "the unsigned hook did not read a private copy in --work" -- "$CALLS"
grep -Eq "^unsigned unsigned $Z 2024010102 $TDM_CL/$A/work/example\.review\.[A-Za-z0-9]{6} 600$" "$CALLS" ||
	tdm_fail "no call with the private copy" -- "$CALLS"
logged "review-unsigned of serial 2024010102: approved \(exit 0, [0-9.]+ s\): ok 2024010102" ||
	tdm_fail "no log line with the hook's verdict and output" -- "$LOG"
# a few cycles later: no new call for the same version, on either node (the standby runs none)
s0=$sig2
tdm_wait 60 "two more publications" tdm_published_after "$A" $Z $((sig2 + 2))
[ "$(calls unsigned 2024010102)" = 1 ] || tdm_fail "the hook ran again for a reviewed version (or on the standby)" -- "$CALLS"
tdm_pass "a clean input passes both hooks once; the standby runs none"

# ---- the unsigned hook rejects: held --------------------------------------------------------
put 2024010103 'marker 3600 IN TXT "review-marker"'
tdm_wait 30 "$A to hold the input" \
	logged "ALERT review-rejected: unsigned serial 2024010103 rejected by the review hook \(exit 1\): marker record in unsigned serial 2024010103"
logged "review-unsigned of serial 2024010103: REJECTED \(exit 1, .*marker record in unsigned serial 2024010103 \| a second line" ||
	tdm_fail "the log line lacks the hook's output" -- "$LOG"
tdm_wait 10 "the status to show the alert" status_alert "$A" review-rejected "unsigned serial 2024010103"
s0=$(tdm_last_serial "$A" $Z)
tdm_wait 60 "$A to refresh the last published version" refreshed
in_serial_is 2024010102 || tdm_fail "the rejected input was committed"
if grep -q review-marker "$OUT"; then tdm_fail "the rejected input was published"; fi
holds || tdm_fail "$A lost the lease over a rejected input"
tdm_validate_published "$A" $Z
tdm_pass "rejected by the unsigned hook: held at the last version, its signatures refreshed"

tdm_run approve-other tdm_ctl zone approve $Z 2024010199
[ "$TDM_RC" -eq 4 ] || tdm_fail "approve of a serial not held: exit $TDM_RC, not 4" -- "$TDM_OUT" "$TDM_ERR"
grep -q "serial 2024010199 is not held by a review hook (held: unsigned 2024010103 on $A)" "$TDM_ERR" ||
	tdm_fail "the refusal does not say what is held" -- "$TDM_ERR"
tdm_pass "approve of a serial that is not held is refused, naming the one that is"

tdm_assert_ok "zone reject 2024010103" tdm_ctl zone reject $Z 2024010103
tdm_wait 10 "the decision in status --json" \
	test "$(tdm_status_get "zone('$Z')['review_decision']")" = reject
tdm_wait 20 "the alert to say the operator rejected it" status_alert "$A" review-rejected "and by the operator"
s0=$(tdm_last_serial "$A" $Z)
tdm_wait 60 "$A to refresh again" refreshed
in_serial_is 2024010102 || tdm_fail "the rejected input was committed after the operator's reject"
grep -q "audit: operator [a-z0-9]*: coord.zone.reject zone=$Z serial=2024010103: accepted" \
	"$TDM_CL"/log/coord-*.log || tdm_fail "the reject is not in the audit log" -- "$TDM_CL/log/coord-a.log"
tdm_pass "zone reject keeps it held, in the cluster state and the audit log"

# ---- a new input is reviewed again; approve publishes it without the hook --------------------
put 2024010104 'marker 3600 IN TXT "review-marker"'
tdm_wait 30 "$A to hold the new input" status_alert "$A" review-rejected "unsigned serial 2024010104"
tdm_assert_ok "zone approve 2024010104" tdm_ctl zone approve $Z 2024010104
tdm_wait 60 "$A to sign the approved input" in_serial_is 2024010104
# committed first; published after the standby's report, and the file written after that
tdm_wait 60 "$A's published file to hold the approved input" grep -q review-marker "$OUT"
[ "$(calls unsigned 2024010104)" = 1 ] || tdm_fail "the hook ran again for the approved input" -- "$CALLS"
tdm_wait 10 "the alert to clear" no_status_alert "$A" review-rejected
logged "alert review-rejected cleared" || tdm_fail "the clearing is not logged" -- "$LOG"
grep -q "audit: operator [a-z0-9]*: coord.zone.approve zone=$Z serial=2024010104: accepted" \
	"$TDM_CL"/log/coord-*.log || tdm_fail "the approve is not in the audit log"
tdm_pass "a new input is reviewed again; approved by the operator, it is published without the hook"

# ---- the signed hook rejects after the gate --------------------------------------------------
put 2024010105 'smark 3600 IN TXT "signed-marker"'
tdm_wait 30 "$A to hold the signed zone" status_alert "$A" review-rejected "signed serial"
status_alert "$A" review-rejected "signed marker in serial" || tdm_fail "the alert lacks the hook's line"
[ "$(calls unsigned 2024010105)" = 1 ] || tdm_fail "the unsigned hook did not approve it first"
in_serial_is 2024010104 || tdm_fail "a version the signed hook rejected was committed"
if grep -q signed-marker "$OUT"; then tdm_fail "a version the signed hook rejected was published"; fi
left=$(find "$TDM_CL/$A/work" -maxdepth 1 -name '*review.*' | wc -l)
[ "$left" = 0 ] || tdm_fail "the hook's private copy was left in --work"
put 2024010106
tdm_wait 60 "$A to sign the next clean input" in_serial_is 2024010106
tdm_wait 10 "the alert to clear" no_status_alert "$A" review-rejected
tdm_pass "the signed hook's rejection holds the zone; a new input clears it"

# ---- a hook that hangs: killed at the timeout, the lease kept ---------------------------------
touch "$TDM_TMP/hang"
t0=$(date +%s)
put 2024010107
tdm_wait 40 "the hook to be killed" \
	logged "review-unsigned of serial 2024010107: REJECTED \(killed after the timeout of 15 s"
t1=$(date +%s)
[ $((t1 - t0)) -ge 15 ] || tdm_fail "the hook was killed after $((t1 - t0)) s, before its timeout"
status_alert "$A" review-rejected "killed after the timeout of 15 s" ||
	tdm_wait 10 "the alert" status_alert "$A" review-rejected "killed after the timeout of 15 s"
holds || tdm_fail "$A lost $Z while its hook hung (the lease is 9 s, the hook 15 s)"
if grep -Eq "zone $Z: stop publishing under epoch" "$LOG"; then
	tdm_fail "$A's lease lapsed while the hook hung" -- "$LOG"
fi
in_serial_is 2024010106 || tdm_fail "the version whose hook hung was committed"
rm -f "$TDM_TMP/hang"
put 2024010108
tdm_wait 60 "$A to sign after the hang" in_serial_is 2024010108
holds || tdm_fail "$A lost $Z"
tdm_check_publications "$A" "$B"
tdm_pass "a hanging hook is killed at review-timeout and counts as a rejection; the lease was kept"
