#!/bin/bash
# The audit log on a real local cluster (docs/audit.md): operator commands accepted and
# refused (with the reason), a switchover and the lease grant it brings, nodes joining,
# both coordinators' starts, and an alert a node reports (an input that does not load) and
# its clearing, and a forced takeover with the fencing it brings appear in
# 'tandemctl audit show --json'; the cluster's chain
# verifies with both coordinators' anchors (signed every 2 s here) checked against their
# public keys; the two coordinators' mirrors hold the same chain; an export verifies on
# its own; and each kind of tampering of a mirror copy (edited, removed, inserted,
# reordered, truncated against the other site's mirror) is found and its sequence number
# named, with exit code 4.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.

TANDEM_AUDIT_ANCHOR_S=2 tdm_cluster_up --cycle 6
# shellcheck source=/dev/null
source "$TDM_CL/cluster.env"
holder=$(tdm_holder $Z)
[ -n "$holder" ] || tdm_fail "nobody holds $Z"
to=node-a
[ "$holder" = node-a ] && to=node-b

tdm_assert_fails "switchover to an unknown node" tdm_ctl switchover --zone $Z --to nobody
tdm_assert_fails "drain of an unknown node" tdm_ctl drain nobody
tdm_assert_ok "switchover $holder -> $to" tdm_ctl switchover --zone $Z --to "$to" --wait 30

# every expected event, as JSON lines; prints what is missing
SHOW=$TDM_TMP/show.jsonl
have_events() {
	tdm_ctl audit show --json >"$SHOW" 2>"$TDM_TMP/show.err" || return 1
	python3 - "$SHOW" "$to" <<'PY'
import json, sys
es = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
to = sys.argv[2]
def has(pred):
    return any(pred(e) for e in es)
want = {
    "refused switchover to nobody, with the reason":
        lambda e: e["type"] == "operator.refuse" and "coord.switchover" in e["details"]
        and "nobody" in e["details"] and e["actor"] == "operator:operator"
        and e["level"] == "warning",
    "refused drain of an unknown node":
        lambda e: e["type"] == "operator.refuse" and "coord.drain node=nobody" in e["details"],
    "accepted switchover":
        lambda e: e["type"] == "operator.accept" and "coord.switchover" in e["details"]
        and e["zone"] == "example.",
    "switchover pending": lambda e: e["type"] == "switchover.pending",
    "lease granted to the target":
        lambda e: e["type"] == "lease.grant" and to in e["details"] and e["zone"] == "example.",
    "node-a joined": lambda e: e["type"] == "node.join" and "node-a" in e["details"],
    "node-b joined": lambda e: e["type"] == "node.join" and "node-b" in e["details"],
    "coord-a started": lambda e: e["type"] == "coord.start" and e["coord"] == "coord-a",
    "coord-b started": lambda e: e["type"] == "coord.start" and e["coord"] == "coord-b",
    "an anchor by coord-a": lambda e: e["type"] == "audit.anchor" and e["coord"] == "coord-a",
    "an anchor by coord-b": lambda e: e["type"] == "audit.anchor" and e["coord"] == "coord-b",
}
missing = [k for k, p in want.items() if not has(p)]
seqs = [e["seq"] for e in es]
if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
    print("numbers not consecutive"); sys.exit(1)
if missing:
    print("missing: " + "; ".join(missing)); sys.exit(1)
print("%d entries, every expected event there" % len(es))
PY
}
tdm_wait 60 "the expected audit events" have_events >/dev/null
tdm_pass "$(have_events)"

# an alert the node reports (an input that does not load) and its clearing reach the log
IN=$TDM_CL/$to/in/example.zone
cp "$IN" "$TDM_TMP/orig.zone"
printf 'this is not a zone\n' >"$IN.new" && mv -f "$IN.new" "$IN"
alert_logged() { # TYPE
	tdm_ctl audit show --type "$1" --zone $Z --json 2>/dev/null | grep -q "\"actor\":\"node:$to\""
}
tdm_wait 60 "alert.input-refused of $to in the audit log" alert_logged alert.input-refused
cp "$TDM_TMP/orig.zone" "$IN.new" && mv -f "$IN.new" "$IN"
tdm_wait 60 "the alert's clearing in the audit log" alert_logged alert.cleared
tdm_pass "a node's alert (input-refused) and its clearing are in the audit log"

# the filters: --type prefix and --zone
tdm_ctl audit show --type operator. --zone $Z >"$TDM_TMP/filtered.txt"
grep -q 'operator.accept' "$TDM_TMP/filtered.txt" || tdm_fail "show --type operator. --zone: no accepted command" -- "$TDM_TMP/filtered.txt"
if grep -v -q 'operator\.' "$TDM_TMP/filtered.txt"; then
	tdm_fail "show --type operator.: other types shown" -- "$TDM_TMP/filtered.txt"
fi
tdm_pass "audit show filters by type prefix and zone"

# the cluster's chain, anchors checked against both coordinators' public keys
tdm_ctl audit verify --anchor-keys "$AUDIT_ANCHOR_KEYS" >"$TDM_TMP/verify.out" ||
	tdm_fail "the cluster's chain does not verify" -- "$TDM_TMP/verify.out"
python3 - "$TDM_TMP/verify.out" <<'PY' || tdm_fail "no anchor was verified" -- "$TDM_TMP/verify.out"
import re, sys
m = re.search(r"(\d+) anchors \((\d+) verified\)", open(sys.argv[1]).read())
sys.exit(0 if m and int(m.group(2)) >= 2 and m.group(1) == m.group(2) else 1)
PY
tdm_pass "the cluster's chain verifies: $(head -1 "$TDM_TMP/verify.out")"

# both mirrors: the same chain once both caught up (the chain goes quiet: anchors only
# follow new content)
A=$TDM_TMP/mirror-a.jsonl B=$TDM_TMP/mirror-b.jsonl
mirrors_agree() {
	cp "$AUDIT_MIRROR_A" "$A" && cp "$AUDIT_MIRROR_B" "$B" || return 1
	[ "$(stat -c %a "$AUDIT_MIRROR_A")" = 600 ] || return 1
	tdm_ctl audit verify --file "$A" --against "$B" --anchor-keys "$AUDIT_ANCHOR_KEYS" >/dev/null 2>&1 &&
		tdm_ctl audit verify --file "$B" --against "$A" --anchor-keys "$AUDIT_ANCHOR_KEYS" >/dev/null 2>&1
}
tdm_wait 60 "both coordinators' mirrors verify and agree" mirrors_agree
n=$(wc -l <"$A")
[ "$n" -ge 20 ] || tdm_fail "the mirrors hold only $n entries"
tdm_pass "both mirrors (0600) verify with their anchors and agree: $n entries"

# an export verifies on its own, from the start or from a time on; read 7 entries per
# request, it is the same
tdm_ctl audit export >"$TDM_TMP/export.jsonl"
tdm_ctl audit export --page 7 >"$TDM_TMP/export-paged.jsonl"
head -n "$(wc -l <"$TDM_TMP/export.jsonl")" "$TDM_TMP/export-paged.jsonl" | cmp -s - "$TDM_TMP/export.jsonl" ||
	tdm_fail "an export read 7 entries at a time differs" -- "$TDM_TMP/export-paged.jsonl"
tdm_assert_ok "the cluster's chain verifies read 7 entries at a time" tdm_ctl audit verify --page 7
tdm_assert_ok "the export verifies" tdm_ctl audit verify --file "$TDM_TMP/export.jsonl"
since=$(python3 -c 'import json,sys; l=[json.loads(x) for x in open(sys.argv[1])]; print(l[len(l)//2]["time"][:19] + "Z")' "$TDM_TMP/export.jsonl")
tdm_ctl audit export --since "$since" >"$TDM_TMP/export-since.jsonl"
m=$(wc -l <"$TDM_TMP/export-since.jsonl")
if [ "$m" -eq 0 ] || [ "$m" -ge "$(wc -l <"$TDM_TMP/export.jsonl")" ]; then
	tdm_fail "export --since $since: $m entries"
fi
tdm_assert_ok "an export --since verifies" tdm_ctl audit verify --file "$TDM_TMP/export-since.jsonl"

# tampering with a copy of a mirror: each kind found, its sequence number named, exit 4
expect_fault() { # WHAT FILE PATTERN [verify options]
	local what=$1 file=$2 pattern=$3 rc=0
	shift 3
	tdm_ctl audit verify --file "$file" "$@" >"$TDM_TMP/tamper.out" 2>&1 || rc=$?
	[ "$rc" = 4 ] || tdm_fail "$what: verify exited $rc, not 4" -- "$TDM_TMP/tamper.out"
	grep -q -- "$pattern" "$TDM_TMP/tamper.out" || tdm_fail "$what: no '$pattern'" -- "$TDM_TMP/tamper.out"
	tdm_pass "$what: $(grep -m1 -o -- "$pattern.*" "$TDM_TMP/tamper.out")"
}
T=$TDM_TMP/tampered.jsonl
sed '5s/"details":"./"details":"X/' "$A" >"$T"
expect_fault "an edited entry" "$T" "seq 5: edited"
sed '7d' "$A" >"$T"
expect_fault "a removed entry" "$T" "seq 7: removed"
sed '9p' "$A" >"$T"
expect_fault "an inserted entry" "$T" "seq 9: inserted"
awk 'NR == 11 { held = $0; next } NR == 12 { print; print held; next } { print }' "$A" >"$T"
expect_fault "two entries swapped" "$T" "seq 11: reordered"
head -n $((n - 3)) "$A" >"$T"
tdm_assert_ok "a truncated copy holds on its own" tdm_ctl audit verify --file "$T"
expect_fault "a truncated mirror against the other site's" "$T" "seq $((n - 2)): truncated" --against "$B"
# an anchor that does not verify against the keys given: another key file
"$TDM_CL/tandemctl" audit keygen --name coord-a --secret "$TDM_TMP/x.secret" --public "$TDM_TMP/x.pub" >/dev/null
expect_fault "anchors against another key" "$A" "bad anchor" --anchor-keys "$TDM_TMP/x.pub"

# a forced takeover by the site that does not hold the zone: the takeover and the fencing of
# the other site's node are recorded, critical
taker=A fenced=node-b
[ "$to" = node-a ] && taker=B fenced=node-a
# (a forced takeover needs the approvals of two people: sa1 and so1, docs/approvals.md)
tdm_assert_ok "takeover site=$taker, approved by sa1 and so1" tdm_approved takeover site=$taker
takeover_logged() {
	tdm_ctl audit show --json >"$SHOW" 2>/dev/null || return 1
	python3 - "$SHOW" "$fenced" <<'PY'
import json, sys
es = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
fence = any(e["type"] == "node.fence" and sys.argv[2] in e["details"] and e["level"] == "critical"
            for e in es)
take = any(e["type"] == "takeover" and e["level"] == "critical" for e in es)
acc = any(e["type"] == "request.execute" and "takeover" in e["details"] for e in es)
sys.exit(0 if fence and take and acc else 1)
PY
}
tdm_wait 30 "the takeover and the fencing of $fenced in the audit log" takeover_logged
tdm_pass "a forced takeover, its epoch bump and the fencing of $fenced are in the audit log"

tdm_cluster_sanitizer_check
