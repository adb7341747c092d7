#!/bin/bash
# The cluster's lease and margin, and the names an operator gives (real etcd, two
# coordinators on one prefix, tandemctl and coordctl_driver as clients).
#  - coord-a (--lease-ms 10000 --margin-ms 2000) initialises the store: those become the
#    cluster's. coord-b with the same flags starts; coord-x with --lease-ms 30000
#    --margin-ms 9000 refuses to start, naming both pairs of values; --margin-ms 0 is
#    refused with a clear message; coord-c without flags starts and takes the stored ones.
#  - 'tandemctl cluster params' refuses a margin of 0 or not below lease/3 before sending;
#    --lease-ms 15000 --margin-ms 4000 is accepted, audited, and every coordinator's status
#    reports it (each picks it up on its next state read); a coordinator started with the
#    old flags is now refused.
#  - one process per node, and alerts: a second instance of node-a1 is refused (an alert
#    line in the log, an 'instance' alert in status); node-a1's blocking alert for the zone
#    refuses it the lease and as a switchover target, and status (text and --json) shows
#    it per node and per zone; an empty list clears it; a release sent by a copy of
#    node-b1 does not end node-b1's lease.
#  - zone add of '..', 'a..b', '.', a 64-octet label, a 256-octet name, 'a/b.', and a name
#    holding a newline and a forged "takeover accepted" line: tandemctl refuses each before
#    sending (exit 2, the reason said); sent anyway (coordctl_driver), the coordinator
#    refuses each; 'EXAMPLE.' beside 'example.' is refused as existing; no zone slot is
#    used, and no line of the coordinator's log starts with the forged prefix.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=etcd.sh
source "$(dirname "$0")/etcd.sh"

tdm_coordd_setup "$@"
K=$TDM_TMP/keys
tdm_etcd_start 1

mkdir -p "$K"
for who in coord op1 node-a1 node-b1; do
	"$DRIVER" keygen "$K/$who.pub" "$K/$who.secret" || tdm_fail "keygen $who"
done
pub() { awk '$1 == "public" { print $2 }' "$K/$1.pub"; }
{
	printf 'op1 operator %s\n' "$(pub op1)"
	printf 'node-a1 node %s\n' "$(pub node-a1)"
	printf 'node-b1 node %s\n' "$(pub node-b1)"
} >"$TDM_TMP/allow"

PIDS=()
stop_all() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}
tdm_on_exit stop_all
# start_coord NAME [FLAGS...]: starts a coordinator (NAME.out, NAME.err); STARTED_PID
start_coord() {
	local name=$1
	shift
	"$COORD" --insecure-etcd --etcd "$(tdm_etcd_endpoints)" --listen 'tcp://127.0.0.1:*' --key "$K/coord.secret" \
		--allow "$TDM_TMP/allow" --name "$name" --prefix /test/params/ \
		--audit-mirror "$TDM_TMP/audit-$name.jsonl" "$@" \
		>"$TDM_TMP/$name.out" 2>"$TDM_TMP/$name.err" &
	STARTED_PID=$!
	PIDS+=("$STARTED_PID")
}
# endpoint_of NAME PID: waits for the coordinator's endpoint
endpoint_of() { tdm_coord_endpoint "$TDM_TMP/$1.out" "$2" "$TDM_TMP/$1.err"; }
# refused_start NAME WHAT FLAGS...: the coordinator must exit non-zero within 20 s
refused_start() {
	local name=$1 what=$2
	shift 2
	start_coord "$name" "$@"
	local pid=$STARTED_PID rc=0
	for _ in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && tdm_fail "$what: $name still runs" -- "$TDM_TMP/$name.err"
	wait "$pid" || rc=$?
	[ "$rc" -ne 0 ] || tdm_fail "$what: $name exited 0" -- "$TDM_TMP/$name.err"
	grep -q listening "$TDM_TMP/$name.out" && tdm_fail "$what: $name listened"
	return 0
}

start_coord coord-a --lease-ms 10000 --margin-ms 2000
EPA=$(endpoint_of coord-a "$STARTED_PID")
start_coord coord-b --lease-ms 10000 --margin-ms 2000
EPB=$(endpoint_of coord-b "$STARTED_PID")
tdm_pass "coord-a and coord-b (10000/2000) serve"

refused_start coord-x "other values" --lease-ms 30000 --margin-ms 9000
tdm_assert_grep "both values named" \
	'refusing to start: --lease-ms 30000 --margin-ms 9000 disagree with the cluster.s stored lease 10000 ms, margin 2000 ms' \
	"$TDM_TMP/coord-x.err"
refused_start coord-z "margin 0" --margin-ms 0
tdm_assert_grep "margin 0 said" 'bad --lease-ms 10000 / --margin-ms 0: the margin must be above 0' \
	"$TDM_TMP/coord-z.err"
tdm_pass "a coordinator with other values, or a margin of 0, does not start"

start_coord coord-c
EPC=$(endpoint_of coord-c "$STARTED_PID")
tdm_assert_grep "coord-c took the stored values" 'lease 10000 ms, margin 2000 ms' "$TDM_TMP/coord-c.err"

ctl_at() {
	local ep=$1
	shift
	TANDEM_COORD="$ep" TANDEM_COORD_PUB="$K/coord.pub" TANDEM_KEY="$K/op1.secret" \
		timeout 30 "$CTL" "$@"
}
ctl() { ctl_at "$EPA" "$@"; }
# params_at EP: "LEASE MARGIN" as that coordinator's status reports them
params_at() {
	ctl_at "$1" status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(s["lease_ms"], s["margin_ms"])'
}
for ep in "$EPA" "$EPB" "$EPC"; do
	tdm_assert_eq "status at $ep" "10000 2000" "$(params_at "$ep")"
done

# tandemctl checks before sending
for bad in "--lease-ms 10000 --margin-ms 0" "--lease-ms 9000 --margin-ms 3000" "--lease-ms 10000"; do
	# shellcheck disable=SC2086
	tdm_run "params $bad" ctl cluster params $bad
	[ "$TDM_RC" -ne 0 ] || tdm_fail "cluster params $bad accepted"
done
tdm_run "params margin 0" ctl cluster params --lease-ms 10000 --margin-ms 0
[ "$TDM_RC" -eq 2 ] || tdm_fail "margin 0: exit $TDM_RC, not 2"
tdm_assert_grep "margin 0 reason" 'the margin must be above 0 and below a third of the lease' "$TDM_ERR"
# the coordinator checks too (a client that does not)
for bad in "10000 0" "9000 3000" "0 0"; do
	# shellcheck disable=SC2086
	tdm_run "driver params-set $bad" timeout 20 "$DRIVER" -e "$EPA" -s "$K/coord.pub" \
		-k "$K/op1.secret" params-set $bad
	[ "$TDM_RC" -eq 2 ] || tdm_fail "params-set $bad sent as is: exit $TDM_RC, not refused" -- "$TDM_OUT" "$TDM_ERR"
	tdm_assert_grep "coordinator's reason" 'margin must be above 0' "$TDM_OUT"
done
tdm_assert_eq "refusals changed nothing" "10000 2000" "$(params_at "$EPB")"

tdm_assert_ok "cluster params 15000/4000" ctl cluster params --lease-ms 15000 --margin-ms 4000
tdm_assert_grep "audited" 'audit: operator op1: coord.params.set lease_ms=15000 margin_ms=4000: accepted' \
	"$TDM_TMP/coord-a.err"
for ep in "$EPA" "$EPB" "$EPC"; do
	tdm_assert_eq "status at $ep after the change" "15000 4000" "$(params_at "$ep")"
done
refused_start coord-y "the old values" --lease-ms 10000 --margin-ms 2000
tdm_assert_grep "new stored values named" 'stored lease 15000 ms, margin 4000 ms' "$TDM_TMP/coord-y.err"
tdm_pass "cluster params reaches every coordinator; the old flags are refused now"

# ---- names ------------------------------------------------------------------------------
tdm_assert_ok "zone add example." ctl zone add example.
label64=$(printf 'a%.0s' $(seq 1 64))
l63=$(printf 'b%.0s' $(seq 1 63))
l62=$(printf 'b%.0s' $(seq 1 62))
name256="$l63.$l63.$l63.$l62."
FORGED='2026-12-06T00:00:00.000Z tandem-coord: audit: operator op1: coord.takeover site=B force=yes: accepted'
NL="x.
$FORGED"
zones_now() { ctl_at "$EPB" status --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["zones"]))'; }
before=$(zones_now)
i=0
for bad in '..' 'a..b' '.' "$label64.example." "$name256" 'a/b.' "$NL" 'EXAMPLE.'; do
	shown=$(printf '%s' "$bad" | head -c 40 | tr '\n' '~')
	i=$((i + 1))
	tdm_run "zoneadd-$i" ctl zone add "$bad"
	if [ "$bad" = EXAMPLE. ]; then
		[ "$TDM_RC" -eq 4 ] || tdm_fail "zone add EXAMPLE.: exit $TDM_RC, not refused (4)" -- "$TDM_OUT" "$TDM_ERR"
		tdm_assert_grep "EXAMPLE. exists" 'exists as example\.' "$TDM_ERR"
		continue
	fi
	[ "$TDM_RC" -eq 2 ] || tdm_fail "zone add '$shown': exit $TDM_RC, not 2" -- "$TDM_OUT" "$TDM_ERR"
	tdm_assert_grep "reason for '$shown'" "zone name '.*': " "$TDM_ERR"
	# sent anyway: the coordinator refuses it (exit 2, refused) or the codec does (5)
	tdm_run "driver-zoneadd-$i" timeout 20 "$DRIVER" -e "$EPB" -s "$K/coord.pub" \
		-k "$K/op1.secret" zone-add "$bad" 1
	[ "$TDM_RC" -eq 2 ] || [ "$TDM_RC" -eq 5 ] ||
		tdm_fail "coordinator accepted zone '$shown': exit $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
done
for bad in 'a b' 'node/x' '.x'; do
	i=$((i + 1))
	tdm_run "drain-$i" ctl drain "$bad"
	[ "$TDM_RC" -eq 2 ] || tdm_fail "drain '$bad': exit $TDM_RC, not 2"
	tdm_assert_grep "node reason" "node name '.*': " "$TDM_ERR"
done
tdm_run "switchover to a bad node" ctl switchover --zone example. --to 'x y'
[ "$TDM_RC" -eq 2 ] || tdm_fail "switchover --to 'x y': exit $TDM_RC, not 2"
tdm_run "accept-input of a bad zone" ctl zone accept-input 'a..b' 5
[ "$TDM_RC" -eq 2 ] || tdm_fail "accept-input a..b: exit $TDM_RC, not 2"
tdm_assert_eq "no zone slot used" "$before" "$(zones_now)"
for f in "$TDM_TMP"/coord-*.err; do
	if grep -n '^2026-12-06T00:00:00.000Z' "$f"; then
		tdm_fail "$f holds a forged line" -- "$f"
	fi
done
tdm_assert_grep "the refusal is logged, escaped" 'x\.\\x0a2026-12-06T00:00:00.000Z' "$TDM_TMP/coord-b.err"
tdm_pass "bad zone and node names refused by tandemctl and by the coordinator; no forged log line"

# ---- one process per node, and alerts -----------------------------------------------------
I1=0123456789abcdef0123456789abcdef
I2=fedcba9876543210fedcba9876543210
I3=00000000000000000000000000000003
I4=00000000000000000000000000000004
as() {
	local who=$1 ep=$2
	shift 2
	timeout 20 "$DRIVER" -e "$ep" -s "$K/coord.pub" -k "$K/$who.secret" -t 2000 -a 2 "$@"
}
tdm_assert_ok "node-a1 registers (instance 1)" as node-a1 "$EPA" -I $I1 register node-a1 A /srv/a1
tdm_run second-instance as node-a1 "$EPB" -I $I2 register node-a1 A /srv/a1
[ "$TDM_RC" -eq 2 ] || tdm_fail "a second instance of node-a1: exit $TDM_RC, not refused" -- "$TDM_OUT" "$TDM_ERR"
tdm_assert_grep "refused as another instance" "^refused another instance of the node is registered: alert: node node-a1: instance $I2 refused" "$TDM_OUT"
tdm_assert_grep "alert line in coord-b's log" "refused register from node-a1: .*alert: node node-a1: instance $I2" "$TDM_TMP/coord-b.err"
tdm_run hb-copy as node-a1 "$EPA" -I $I2 heartbeat node-a1 1
[ "$TDM_RC" -eq 2 ] || tdm_fail "the copy's heartbeat: exit $TDM_RC, not refused"
tdm_assert_ok "status through coord-c" as op1 "$EPC" status
tdm_assert_grep "instance in status" "^instance node-a1 $I1\$" "$TDM_OUT"
tdm_assert_grep "rival in status" "^alert node-a1 zone=- kind=instance blocking=0 text=another process \(instance $I2\)" "$TDM_OUT"
tdm_pass "a second process with node-a1's key is refused and shown"

tdm_assert_ok "node-b1 registers" as node-b1 "$EPA" -I $I3 register node-b1 B /srv/b1
tdm_assert_ok "node-a1 reports a blocking alert" as node-a1 "$EPA" -I $I1 \
	-W 'example.:input-missing:1:no file /srv/in/example.zone' -W '-:disk:0:92% full' heartbeat node-a1 1
tdm_assert_grep "its effect" '^effect: alert: node node-a1 zone example. input-missing \(blocking\): no file' "$TDM_OUT"
tdm_assert_grep "logged" 'effect: alert: node node-a1 zone example. input-missing' "$TDM_TMP/coord-a.err"
tdm_run a1-request as node-a1 "$EPB" -I $I1 request example. node-a1
[ "$TDM_RC" -eq 2 ] || tdm_fail "node-a1 with a blocking alert got the lease" -- "$TDM_OUT"
tdm_assert_grep "refused for the alert" '^refused node reported a blocking alert: zone example.: node node-a1 reports input-missing' "$TDM_OUT"
tdm_assert_ok "node-b1 takes the lease" as node-b1 "$EPB" -I $I3 request example. node-b1
EPOCH=$(sed -n 's/^accepted epoch=\([0-9]*\) .*/\1/p' "$TDM_OUT")
[ -n "$EPOCH" ] || tdm_fail "no epoch" -- "$TDM_OUT"
tdm_run so-a1 ctl switchover --zone example. --to node-a1
[ "$TDM_RC" -eq 4 ] || tdm_fail "switchover to node-a1 (blocking alert): exit $TDM_RC, not refused" -- "$TDM_OUT" "$TDM_ERR"
tdm_assert_grep "switchover refusal" 'refused \(node reported a blocking alert\)' "$TDM_ERR"
tdm_assert_ok "status text" ctl_at "$EPB" status
tdm_assert_grep "node alert in text" '^    ALERT input-missing zone example. \(blocking\): no file /srv/in/example.zone$' "$TDM_OUT"
tdm_assert_grep "node-wide alert in text" '^    ALERT disk: 92% full$' "$TDM_OUT"
tdm_assert_grep "zone alert in text" '^    ALERT input-missing on node-a1 \(blocking\): no file' "$TDM_OUT"
ctl_at "$EPC" status --json >"$TDM_TMP/status.json"
python3 - "$TDM_TMP/status.json" <<'PY' || tdm_fail "status --json lacks the alerts" -- "$TDM_TMP/status.json"
import json, sys
s = json.load(open(sys.argv[1]))
n = next(n for n in s["nodes"] if n["name"] == "node-a1")
assert n["instance"] == "0123456789abcdef0123456789abcdef", n
kinds = {(a["zone"], a["kind"], a["blocking"]) for a in n["alerts"]}
assert ("example.", "input-missing", True) in kinds, kinds
assert (None, "disk", False) in kinds, kinds
z = next(z for z in s["zones"] if z["name"] == "example.")
assert [(a["node"], a["kind"]) for a in z["node_alerts"]] == [("node-a1", "input-missing")], z
assert z["active_node"] == "node-b1", z
PY
tdm_pass "node-a1's blocking alert keeps it from the zone; status shows it per node and zone"

tdm_run copy-release as node-b1 "$EPA" -I $I4 release example. node-b1 "$EPOCH"
[ "$TDM_RC" -eq 2 ] || tdm_fail "a copy's release: exit $TDM_RC, not refused" -- "$TDM_OUT"
tdm_assert_grep "refused as another instance" '^refused another instance of the node is registered' "$TDM_OUT"
holder=$(ctl_at "$EPB" status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(next(z for z in s["zones"] if z["name"] == "example.")["active_node"])')
tdm_assert_eq "node-b1 still holds the zone" node-b1 "$holder"
tdm_assert_ok "node-a1 clears its alerts" as node-a1 "$EPA" -I $I1 heartbeat node-a1 1
tdm_assert_grep "cleared" '^effect: node node-a1 zone example.: input-missing cleared' "$TDM_OUT"
tdm_assert_ok "the switchover now" ctl switchover --zone example. --to node-a1
tdm_pass "a copy's release leaves the lease; cleared alerts lift the refusal"

# ---- accept-input -------------------------------------------------------------------------
tdm_assert_ok "zone accept-input" ctl zone accept-input example 2026120101
tdm_assert_grep "accept-input audited" 'audit: operator op1: coord.zone.accept-input zone=example. serial=2026120101: accepted' \
	"$TDM_TMP/coord-a.err"
got=$(ctl_at "$EPC" status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(next(z for z in s["zones"] if z["name"] == "example.")["accepted_input_serial"])')
tdm_assert_eq "accepted_input_serial in status" 2026120101 "$got"
tdm_assert_ok "status text" ctl_at "$EPC" status
tdm_assert_grep "status text shows it" 'input serial 2026120101 accepted by the operator' "$TDM_OUT"
tdm_pass "zone accept-input recorded and shown"
