#!/bin/bash
# Compare before publish of a zone whose signatures are not deterministic (ECDSA; issue 11,
# DPS 6.6; docs/node.md "Compare before publish"). Two nodes, conf/modern.yaml (ECDSA P-256)
# with compare-before-publish: require; the zone is added without digest comparison (the
# RRSIGs differ between sites), so the standby compares the nosig digest and verifies the
# active's version, read from the active's transfer server, with its own gate:
#  - every serial the active publishes has the coordinator's record of the standby's
#    agreement "(nosig digest, the active's signatures verified)" and was published on that
#    report (the active's line); the standby says it read and verified the active's version;
#    status says the zone is compared without RRSIGs;
#  - the standby's site gets another input with the same SOA serial (one TXT more): its
#    nosig digest differs, the coordinator raises the digest-mismatch alert saying the records
#    other than RRSIGs differ, and the active publishes nothing while the committed serial
#    moves on; the input put back, publication resumes;
#  - the standby restarted with another TSIG secret under the cluster key's name: it cannot
#    read the active's version, reports it not verified, the alert says so, nothing is
#    published.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd curl
Z=example.
POL=$TDM_TMP/policy.yaml
sed 's/^zone: { serial: increment, propagation-delay: 1h }/zone: { serial: increment, propagation-delay: 1h, compare-before-publish: require, compare-timeout: 5s }/' \
	"$TDM_SRC/conf/modern.yaml" >"$POL"
grep -q 'compare-before-publish: require' "$POL" || tdm_fail "cannot set require in $POL"
grep -q 'algorithm: ecdsap256sha256' "$POL" || tdm_fail "conf/modern.yaml is not ECDSA"

tdm_cluster_up --cycle 3 --policy "$POL"
[ "$(tdm_status_get "zone('$Z')['compare_digests']")" = False ] ||
	tdm_fail "$Z was added with digest comparison (ECDSA: cluster-up adds it without)"
has_holder() { [ -n "$(tdm_holder $Z)" ]; }
tdm_wait 60 "an active node for $Z" has_holder
active=$(tdm_holder $Z)
case $active in node-a) standby=node-b ;; node-b) standby=node-a ;; *) tdm_fail "unexpected active '$active'" ;; esac
tdm_log "active $active, standby $standby"

# ---- each publication after the standby's agreement -------------------------------------------
s0=$(tdm_last_serial "$active" $Z)
s0=${s0:-0}
two_more() {
	local n
	n=$(awk -v z=$Z -v s="$s0" '$2 == z && $3 > s' "$(tdm_publog "$active")" | wc -l)
	[ "$n" -ge 2 ]
}
tdm_wait 90 "$active to publish 2 serials of $Z above $s0" two_more
# The coordinator logs its effect after the state is stored, so its log line may come a few
# ms after the active read the report in the status and published: each published serial
# must have the coordinator's nosig agreement and the active's own line saying it published
# on the standby's report (it publishes only on a status that shows it).
python3 - "$(tdm_publog "$active")" "$Z" "$s0" "$standby" "$TDM_CL/log/$active.log" "$TDM_CL"/log/coord-*.log <<'PY' || tdm_fail "a serial was published without the standby's agreement" -- "$TDM_CL"/log/coord-*.log "$TDM_CL/log/$active.log"
import re, sys
publog, zone, s0, standby, alog, coords = (sys.argv[1], sys.argv[2], int(sys.argv[3]),
                                           sys.argv[4], sys.argv[5], sys.argv[6:])
agree = set()
pat = re.compile(r"effect: zone (\S+) serial (\d+): (\S+) agrees "
                 r"\(nosig digest, the active's signatures verified\)$")
for path in coords:
    for line in open(path):
        m = pat.search(line.rstrip("\n"))
        if m and m.group(1) == zone and m.group(3) == standby:
            agree.add(int(m.group(2)))
said = set()
pub = re.compile(r"zone (\S+): published serial (\d+) .*; standby (\S+) reported the same digest after")
for line in open(alog):
    m = pub.search(line)
    if m and m.group(1) == zone and m.group(3) == standby:
        said.add(int(m.group(2)))
bad = checked = 0
for line in open(publog):
    t, z, serial, digest, epoch = line.split()
    if z != zone or int(serial) <= s0:
        continue
    serial = int(serial)
    checked += 1
    if serial not in agree or serial not in said:
        print("serial %d published: coordinator agreement %s, active's line %s"
              % (serial, serial in agree, serial in said))
        bad += 1
    else:
        print("serial %d: %s agreed (nosig, verified), published on its report" % (serial, standby))
sys.exit(1 if bad or checked < 2 else 0)
PY
tdm_assert_grep "$standby read and verified the active's version" \
	"shadow run of serial [0-9]+: the active's version read and verified by this node's gate" \
	"$TDM_CL/log/$standby.log"
tdm_assert_grep "$standby checked a later version against the one it verified before" \
	"shadow run of serial [0-9]+: the active's version read and verified by this node's gate, incremental" \
	"$TDM_CL/log/$standby.log"
tdm_assert_grep "$active says which standby agreed" \
	"published serial [0-9]+ .*; standby $standby reported the same digest after" "$TDM_CL/log/$active.log"
tdm_ctl status >"$TDM_TMP/status.txt"
tdm_assert_grep "status says how the zone is compared" "compared without RRSIGs \(nosig\)" "$TDM_TMP/status.txt"
[ "$(tdm_status_get "zone('$Z')['nosig_digest'] is not None")" = True ] ||
	tdm_fail "status --json shows no nosig digest for $Z"
tdm_pass "require: every serial above $s0 was published after $standby verified it and agreed"

# ---- another input at the standby's site: mismatch, nothing published -------------------------
in=$TDM_CL/$standby/in/example.zone
cp "$in" "$TDM_TMP/standby-input.orig"
{
	cat "$TDM_TMP/standby-input.orig"
	printf 'tampered 3600 IN TXT "only at the standby site"\n'
} >"$in.tmp"
mv "$in.tmp" "$in"
tdm_log "$standby's input has one TXT more, same SOA serial"
mismatch() { grep -Eq "alert: digest mismatch on zone $Z serial [0-9]+ \(standby $standby, active $active\): the records other than RRSIGs differ" "$TDM_CL"/log/coord-*.log; }
tdm_wait 60 "the coordinator's digest-mismatch alert (records other than RRSIGs)" mismatch
tdm_wait 30 "$active to drop the serial" grep -Eq "committed but NOT published: standby $standby reported another digest" "$TDM_CL/log/$active.log"
p1=$(tdm_last_serial "$active" $Z)
c1=$(tdm_status_get "zone('$Z')['serial']")
[ "$(tdm_status_get "zone('$Z')['alert_open']")" = True ] || tdm_fail "status shows no open digest alert for $Z"
# the active signs again each cycle, the standby disagrees each time: two more commits, and
# none of them published
moved() { [ "$(tdm_status_get "zone('$Z')['serial']")" -gt $((c1 + 2)) ]; }
tdm_wait 60 "two more commits of $Z above $c1" moved
[ "$(tdm_last_serial "$active" $Z)" = "$p1" ] ||
	tdm_fail "$active published $(tdm_last_serial "$active" $Z) while $standby disagreed (last good $p1)"
tdm_pass "another input at $standby's site: digest mismatch (records), nothing published above $p1"

# ---- the input put back: agreement and publication again ---------------------------------------
cp "$TDM_TMP/standby-input.orig" "$in.tmp"
mv "$in.tmp" "$in"
tdm_wait 60 "$active to publish above $p1 again" tdm_published_after "$active" $Z "$p1"
tdm_check_publications node-a node-b
tdm_pass "the standby's input put back: $active publishes again"

# ---- the standby cannot read the active's version (another TSIG secret): not verified ---------
gone() { ! kill -0 "$1" 2>/dev/null; }
spid=$(cat "$TDM_CL/run/$standby.pid")
kill "$spid"
tdm_wait 30 "$standby to stop" gone "$spid"
read -r kname kalg _ <"$TDM_CL/tsig.key"
(
	umask 077
	printf '%s %s %s\n' "$kname" "$kalg" "$(head -c 32 /dev/urandom | base64)" >"$TDM_TMP/other.key"
)
sed "s#$TDM_CL/tsig.key#$TDM_TMP/other.key#g" "$TDM_CL/run/$standby.start" >"$TDM_TMP/standby.start"
grep -q "$TDM_TMP/other.key" "$TDM_TMP/standby.start" || tdm_fail "$standby's start script names no --tsig-key"
bash "$TDM_TMP/standby.start"
tdm_log "$standby restarted with another TSIG secret under the cluster key's name"
unverified() { grep -Eq "alert: digest mismatch on zone $Z serial [0-9]+ \(standby $standby, active $active\): the standby could not verify the active's version: cannot read it: .*TSIG" "$TDM_CL"/log/coord-*.log; }
tdm_wait 90 "the digest-mismatch alert: the standby could not verify the active's version" unverified
tdm_assert_grep "$standby says it could not verify" "the active's version NOT verified" "$TDM_CL/log/$standby.log"
p2=$(tdm_last_serial "$active" $Z)
c2=$(tdm_status_get "zone('$Z')['serial']")
moved2() { [ "$(tdm_status_get "zone('$Z')['serial']")" -gt $((c2 + 2)) ]; }
tdm_wait 60 "two more commits of $Z above $c2" moved2
[ "$(tdm_last_serial "$active" $Z)" = "$p2" ] ||
	tdm_fail "$active published $(tdm_last_serial "$active" $Z) while $standby could not verify it (last $p2)"
tdm_pass "a standby that cannot read the active's version: mismatch alert saying why, nothing published above $p2"
tdm_cluster_sanitizer_check
