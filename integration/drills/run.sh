#!/bin/bash
# shellcheck disable=SC2015 # "[ A ] && B || tdm_fail": fails when either does not hold
# Every drill tandemctl drill can run on a local cluster (docs/drills.md): one cluster, in
# network namespaces when root (so that `partition` runs too), the scenarios one after the
# other, each report checked: result pass, an RTO, serials that rose, every validation a
# pass with dnssec-verify among them, no invariant violated, the starting holder back, and
# the drill's own drill.start and drill.end in its audit window. Then the production flag: a
# production cluster is refused without --really and without an executed `drill` request,
# drilled with both, and turned off only through an approved request. Bad hooks files are
# refused with their line. The reports stay as test output in DRILL_REPORTS (default
# BUILD/drill-reports/STAMP, one directory per run). With NSD, Unbound and kdig installed the
# cluster has an NSD and a validating Unbound (with --netns in the distribution site D), and
# each report must hold the resolver's verdict too.
#
# Usage: integration/drills/run.sh [BUILD_DIR]   (DRILL_NETNS=0 forces a loopback cluster)
set -euo pipefail
TDM_NAME=drills
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../cluster.sh
source "$(dirname "$0")/../cluster.sh"
tdm_setup "$@"
tdm_need etcd etcdctl
CTL=$(tdm_bin tandemctl)
REPORTS=${DRILL_REPORTS:-$TDM_BUILD/drill-reports/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$REPORTS"
REPORTS=$(cd "$REPORTS" && pwd)

# ---- bad input, before any cluster -------------------------------------------------------
printf 'stop-site /bin/true {site}\nreboot-site /bin/true\n' >"$TDM_TMP/bad.hooks"
chmod 644 "$TDM_TMP/bad.hooks"
rc=0
"$CTL" drill site-loss --hooks "$TDM_TMP/bad.hooks" --report "$TDM_TMP" >"$TDM_TMP/bad.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "bad.hooks:2: unknown action 'reboot-site'" "$TDM_TMP/bad.out" ||
	tdm_fail "an unknown hook action was not refused with its line (exit $rc)" -- "$TDM_TMP/bad.out"
printf 'stop-site /bin/true {site}\nstart-site /bin/true {site}\n' >"$TDM_TMP/open.hooks"
chmod 666 "$TDM_TMP/open.hooks"
rc=0
"$CTL" drill site-loss --hooks "$TDM_TMP/open.hooks" --report "$TDM_TMP" >"$TDM_TMP/open.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q 'group or others may write it' "$TDM_TMP/open.out" ||
	tdm_fail "a hooks file others may write was not refused (exit $rc)" -- "$TDM_TMP/open.out"
chmod 644 "$TDM_TMP/open.hooks"
rc=0
"$CTL" drill partition --hooks "$TDM_TMP/open.hooks" --report "$TDM_TMP" >"$TDM_TMP/part.out" 2>&1 || rc=$?
[ "$rc" = 4 ] && grep -q "needs the hook action 'partition'" "$TDM_TMP/part.out" ||
	tdm_fail "partition without a partition hook was not refused (exit $rc)" -- "$TDM_TMP/part.out"
rc=0
"$CTL" drill site-loss --hooks "$TDM_TMP/open.hooks" --wait 0 >"$TDM_TMP/w.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q -- '--wait: 1..3600 seconds' "$TDM_TMP/w.out" ||
	tdm_fail "--wait 0 was not refused (exit $rc)" -- "$TDM_TMP/w.out"
tdm_pass "bad hooks files and scenarios this cluster cannot run are refused, saying why"

# ---- the cluster -----------------------------------------------------------------------------
NETNS=${DRILL_NETNS:-auto}
if [ "$NETNS" = auto ]; then
	NETNS=0
	[ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || NETNS=1
fi
opts=(--cycle 3 --lease-ms 7000 --policy "$TDM_DATA/drill-policy.yaml")
RESOLVER=0
[ "$NETNS" = 0 ] || opts+=(--netns)
if command -v nsd >/dev/null && command -v unbound >/dev/null && command -v kdig >/dev/null; then
	# the drills' resolve hook (with --netns the NSD and Unbound are in site D, which a
	# partition of A or B leaves linked)
	RESOLVER=1
	opts+=(--secondary nsd --resolver)
fi
tdm_cluster_up "${opts[@]}"
[ -f "$TDM_CL/drill-hooks" ] || tdm_fail "cluster-up wrote no $TDM_CL/drill-hooks"
Z=example.
start_holder=$(tdm_holder $Z)
[ -n "$start_holder" ] || tdm_fail "nobody holds $Z after cluster-up"

# check_report FILE SCENARIO: the report's fields say the drill passed and restored the shape.
check_report() {
	python3 - "$1" "$2" "$RESOLVER" <<'PY' || tdm_fail "report $1 is not a passed $2 drill" -- "$1"
import json, sys
r = json.load(open(sys.argv[1]))
sc = sys.argv[2]
def need(cond, what):
    if not cond:
        sys.exit("report: " + what)
for k in ("scenario", "result", "rto_s", "serial_before", "serial_after", "validation",
          "timeline", "audit", "zone", "active_before", "active_after"):
    need(k in r, "no field " + k)
need(r["scenario"] == sc, "scenario " + str(r["scenario"]))
need(r["result"] == "pass", "result " + str(r["result"]) + ": " + str(r.get("why")))
need(isinstance(r["rto_s"], (int, float)) and r["rto_s"] > 0, "rto_s " + str(r["rto_s"]))
d = (r["serial_after"] - r["serial_before"]) % 2**32
need(0 < d < 2**31, "serials %s -> %s" % (r["serial_before"], r["serial_after"]))
need(r["validation"], "no validation")
need(all(v["verdict"] == "pass" for v in r["validation"]), "a validation failed")
need(any(v["validator"] == "dnssec-verify" for v in r["validation"]), "no dnssec-verify")
need(sys.argv[3] == "0" or any(v["validator"] == "resolver" for v in r["validation"]),
     "no resolver validation")
need(r["invariant_violations"] == [], "invariants: " + str(r["invariant_violations"]))
need(r["active_after"] == r["active_before"], "holder %s, was %s" % (r["active_after"], r["active_before"]))
steps = [t["step"] for t in r["timeline"]]
for s in ("start", "fault", "recovered", "end"):
    need(s in steps, "no %s step in the timeline" % s)
need(all("utc" in t and "unix_ms" in t for t in r["timeline"]), "timeline without times")
types = [(a.get("type"), a.get("details", "")) for a in r["audit"]]
need(any(t == "drill.start" and ("scenario=" + sc) in d for t, d in types), "no drill.start in audit")
need(any(t == "drill.end" and "result=pass" in d for t, d in types), "no drill.end in audit")
PY
}

# drill SCENARIO [ARGS...]: runs it; the exit status must be 0 and its report a pass.
drill() {
	local sc=$1 out=$TDM_TMP/drill-$1.out before after
	shift
	before=$(find "$REPORTS" -maxdepth 1 -name "drill-*-$sc.json" | wc -l)
	"$TDM_CL/tandemctl" drill "$sc" --report "$REPORTS" --wait 120 "$@" >"$out" 2>&1 ||
		tdm_fail "drill $sc failed" -- "$out"
	after=$(find "$REPORTS" -maxdepth 1 -name "drill-*-$sc.json" | sort | tail -1)
	[ "$(find "$REPORTS" -maxdepth 1 -name "drill-*-$sc.json" | wc -l)" -gt "$before" ] ||
		tdm_fail "drill $sc wrote no report" -- "$out"
	[ -f "${after%.json}.md" ] || tdm_fail "drill $sc wrote no Markdown report"
	check_report "$after" "$sc"
	tdm_pass "$sc: $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("RTO %.1f s, serial %d -> %d, %d validations" % (r["rto_s"], r["serial_before"], r["serial_after"], len(r["validation"])))' "$after")"
}

scenarios=(switchover-roundtrip site-loss coordinator-loss)
[ "$NETNS" = 0 ] || scenarios+=(partition)
scenarios+=(hsm-loss etcd-leader-loss archive-restore)
for sc in "${scenarios[@]}"; do
	drill "$sc"
done
[ "$(tdm_holder $Z)" = "$start_holder" ] || tdm_fail "$Z is not back with $start_holder"

# a drill whose serials cannot be fetched validates nothing: it does not pass
printf 'heal /bin/true\n' >"$TDM_TMP/nofetch.hooks"
rc=0
tdm_ctl drill switchover-roundtrip --hooks "$TDM_TMP/nofetch.hooks" --report "$TDM_TMP" >"$TDM_TMP/nf.out" 2>&1 || rc=$?
[ "$rc" = 4 ] && grep -q 'no serial published during the drill was validated' "$TDM_TMP/nf.out" ||
	tdm_fail "a drill that validated nothing was not failed (exit $rc)" -- "$TDM_TMP/nf.out"
tdm_pass "a drill without fetch-zone fails: nothing it published was validated"

# ---- a production cluster ------------------------------------------------------------------
tdm_ctl cluster production on >"$TDM_TMP/prod.out" 2>&1 || tdm_fail "production on refused" -- "$TDM_TMP/prod.out"
[ "$(tdm_status_get 's["production"]')" = True ] || tdm_fail "status --json does not say production"
rc=0
tdm_ctl drill switchover-roundtrip --report "$REPORTS" >"$TDM_TMP/p1.out" 2>&1 || rc=$?
[ "$rc" = 4 ] && grep -q 'marked production: a drill needs --really' "$TDM_TMP/p1.out" ||
	tdm_fail "a production cluster was drilled without --really (exit $rc)" -- "$TDM_TMP/p1.out"
rc=0
tdm_ctl drill switchover-roundtrip --report "$REPORTS" --really >"$TDM_TMP/p2.out" 2>&1 || rc=$?
[ "$rc" = 4 ] && grep -q "no executed request 'drill scenario=switchover-roundtrip'" "$TDM_TMP/p2.out" ||
	tdm_fail "a production cluster was drilled without an approved request (exit $rc)" -- "$TDM_TMP/p2.out"
tdm_approved drill scenario=site-loss >"$TDM_TMP/p3.out" 2>&1 || tdm_fail "drill request refused" -- "$TDM_TMP/p3.out"
rc=0
tdm_ctl drill switchover-roundtrip --report "$REPORTS" --really >"$TDM_TMP/p4.out" 2>&1 || rc=$?
[ "$rc" = 4 ] || tdm_fail "an approval of another scenario let switchover-roundtrip run" -- "$TDM_TMP/p4.out"
tdm_approved drill scenario=switchover-roundtrip >"$TDM_TMP/p5.out" 2>&1 ||
	tdm_fail "drill request refused" -- "$TDM_TMP/p5.out"
drill switchover-roundtrip --really
latest=$(find "$REPORTS" -maxdepth 1 -name 'drill-*-switchover-roundtrip.json' | sort | tail -1)
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if any(a.get("type") == "drill.start" and "request=" in a.get("details", "") for a in r["audit"]) else 1)' "$latest" ||
	tdm_fail "the production drill's drill.start does not name its request" -- "$latest"
rc=0
tdm_ctl cluster production off >"$TDM_TMP/p6.out" 2>&1 || rc=$?
[ "$rc" = 4 ] && grep -q 'needs approvals' "$TDM_TMP/p6.out" ||
	tdm_fail "production off without approvals (exit $rc)" -- "$TDM_TMP/p6.out"
tdm_approved production-off >"$TDM_TMP/p7.out" 2>&1 || tdm_fail "production-off request refused" -- "$TDM_TMP/p7.out"
tdm_ctl cluster production >"$TDM_TMP/p8.out" 2>&1 && grep -q 'production: off' "$TDM_TMP/p8.out" ||
	tdm_fail "production is not off after the approved request" -- "$TDM_TMP/p8.out"
[ "$(tdm_status_get 's["production"]')" = False ] || tdm_fail "status --json still says production"
tdm_pass "production: refused without --really and a drill request of that scenario; off only with approvals"

tdm_ctl drill list --report "$REPORTS" >"$TDM_TMP/list.out" 2>&1 || tdm_fail "drill list failed" -- "$TDM_TMP/list.out"
for sc in "${scenarios[@]}"; do
	grep -q " $sc .* pass " "$TDM_TMP/list.out" || tdm_fail "drill list shows no passed $sc" -- "$TDM_TMP/list.out"
done
cat "$TDM_TMP/list.out" >&2
tdm_pass "reports in $REPORTS"
