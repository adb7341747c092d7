#!/bin/bash
# The audit log's retention (docs/audit.md, "The coordinator"): one tandem-coord over a real
# etcd with a retention of 3 s moves the older entries from etcd to dated archive files
# (0600) beside its mirror; nothing is lost: the archives followed by what etcd keeps make
# the whole chain, which verifies across the cut and agrees with the mirror (which is not
# cut); the cluster's own chain verifies from etcd's base, whose prev is the last archived
# hash; and every move is itself recorded ("audit.archive").
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=etcd.sh
source "$(dirname "$0")/etcd.sh"

tdm_coordd_setup "$@"
K=$TDM_TMP/keys
tdm_etcd_start 1

mkdir -p "$K" "$TDM_TMP/audit"
for who in coord op1; do
	"$DRIVER" keygen "$K/$who.pub" "$K/$who.secret" || tdm_fail "keygen $who"
done
"$CTL" audit keygen --name coord-a --secret "$K/audit.secret" --public "$K/audit.pub" >/dev/null
printf 'op1 operator %s\n' "$(awk '$1 == "public" { print $2 }' "$K/op1.pub")" >"$TDM_TMP/allow"

MIRROR=$TDM_TMP/audit/audit.jsonl
"$COORD" --insecure-etcd --etcd "$(tdm_etcd_endpoints)" --listen 'tcp://127.0.0.1:*' --key "$K/coord.secret" \
	--allow "$TDM_TMP/allow" --name coord-a --prefix /test/audit/ --audit-mirror "$MIRROR" \
	--audit-key "$K/audit.secret" --audit-anchor-interval 1 --audit-retention 3 \
	>"$TDM_TMP/coord.out" 2>"$TDM_TMP/coord.err" &
COORD_PID=$!
stop_coord() {
	kill -9 "$COORD_PID" 2>/dev/null || true
	wait "$COORD_PID" 2>/dev/null || true
}
tdm_on_exit stop_coord
EP=$(tdm_coord_endpoint "$TDM_TMP/coord.out" "$COORD_PID" "$TDM_TMP/coord.err")
export TANDEM_COORD=$EP TANDEM_COORD_PUB=$K/coord.pub TANDEM_KEY=$K/op1.secret

for i in 1 2 3 4 5; do
	"$CTL" zone add "z$i.example." >/dev/null || tdm_fail "zone add z$i.example."
done

archives() { compgen -G "$TDM_TMP/audit/audit-archive-*.jsonl" >/dev/null; }
tdm_wait_for() { # SECONDS WHAT CMD...
	local until=$((SECONDS + $1)) what=$2
	shift 2
	until "$@"; do
		[ "$SECONDS" -lt "$until" ] || tdm_fail "timed out waiting for: $what" -- "$TDM_TMP/coord.err"
		sleep 0.2
	done
}
tdm_wait_for 60 "an archive file" archives
"$CTL" zone add z6.example. >/dev/null || tdm_fail "zone add z6.example."
grep -q 'audit: retention: seq 1 to ' "$TDM_TMP/coord.err" || tdm_fail "no retention line in the log" -- "$TDM_TMP/coord.err"
for f in "$TDM_TMP"/audit/audit-archive-*.jsonl; do
	[ "$(stat -c %a "$f")" = 600 ] || tdm_fail "$f: mode $(stat -c %a "$f")"
done
tdm_pass "entries past the retention moved to $(find "$TDM_TMP/audit" -name 'audit-archive-*' | wc -l) archive file(s), mode 0600"

# what etcd keeps starts after the cut and verifies from its base
EXPORT=$TDM_TMP/export.jsonl
have_z6() {
	"$CTL" audit export >"$EXPORT" && grep -q 'z6.example.' "$EXPORT" && grep -q '"type":"audit.archive"' "$EXPORT"
}
tdm_wait_for 30 "z6 and an audit.archive entry in the chain" have_z6
first=$(head -1 "$EXPORT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seq"])')
[ "$first" -gt 1 ] || tdm_fail "etcd still holds seq 1 after the cut"
"$CTL" audit verify --anchor-keys "$K/audit.pub" >"$TDM_TMP/verify.out" ||
	tdm_fail "the chain left in etcd does not verify across the cut" -- "$TDM_TMP/verify.out"
tdm_pass "etcd keeps seq $first on, which verifies from its base: $(head -1 "$TDM_TMP/verify.out")"

# archives + etcd = the whole chain, the same as the mirror; nothing dropped
cp "$MIRROR" "$TDM_TMP/mirror.jsonl"
"$CTL" audit export >"$EXPORT"
ALL=$TDM_TMP/all.jsonl
python3 - "$ALL" "$EXPORT" "$TDM_TMP"/audit/audit-archive-*.jsonl <<'PY' || tdm_fail "archives and etcd do not join"
import json, sys
out, export, archives = sys.argv[1], sys.argv[2], sorted(sys.argv[3:])
lines = [l for a in archives for l in open(a)]
seen = {json.loads(l)["seq"] for l in lines}
lines += [l for l in open(export) if json.loads(l)["seq"] not in seen]
open(out, "w").writelines(lines)
seqs = [json.loads(l)["seq"] for l in lines]
sys.exit(0 if seqs == list(range(1, len(seqs) + 1)) else 1)
PY
"$CTL" audit verify --file "$ALL" --against "$TDM_TMP/mirror.jsonl" --anchor-keys "$K/audit.pub" \
	>"$TDM_TMP/all.out" || tdm_fail "archives + etcd do not verify against the mirror" -- "$TDM_TMP/all.out"
tdm_pass "archives + etcd: one chain from seq 1, verified across every cut, agreeing with the mirror"
"$CTL" audit verify --file "$TDM_TMP/mirror.jsonl" --anchor-keys "$K/audit.pub" >/dev/null ||
	tdm_fail "the mirror (never cut) does not verify from seq 1"
tdm_pass "the mirror keeps everything from seq 1"

# a clean stop: the coordinator records it and exits 0 (with TANDEM_SANITIZER_CHECK=1, over
# the ASan/UBSan build, without a sanitizer report)
kill -TERM "$COORD_PID"
rc=0
wait "$COORD_PID" || rc=$?
[ "$rc" = 0 ] || tdm_fail "tandem-coord exited $rc after SIGTERM" -- "$TDM_TMP/coord.err"
tail -n 3 "$MIRROR" | grep '"type":"coord.stop"' >/dev/null || tdm_fail "the stop is not among the mirror's last entries"
if [ "${TANDEM_SANITIZER_CHECK:-0}" = 1 ] &&
	grep -q -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TDM_TMP/coord.err"; then
	tdm_fail "sanitizer report from tandem-coord" -- "$TDM_TMP/coord.err"
fi
tdm_pass "SIGTERM: the stop recorded, exit 0"
