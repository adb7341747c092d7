#!/bin/bash
# The last sensitive actions and events of issue 12 (docs/approvals.md, docs/audit.md) on a
# real local cluster, under the KSK drill policy (a KSK successor within a minute):
#  - the first archive-grant table (node-a, node-b) is written and audited at bootstrap;
#  - a KSK's DS marked seen (tandemctl keys ds-seen --cluster) is its own audit event,
#    ds.seen, with the zone and key;
#  - key-remove: one approval waits; SA + SO execute it once, and a key that still signs is
#    refused with the reason (it stays active); the standby KSK named by its tag, approved by
#    SA + WI, is removed (then destroyed in the HSMs) and a further approval is refused;
#  - a new node (node-c at site B: its own CURVE key in the allow-list, its own SoftHSM
#    token holding the ceremony's SMK) is refused the archive: it imports nothing, raises the
#    archive-grant alert naming the request, archive.refuse is audited; after an approved
#    archive-distribute (SA + WI) it imports every key, each key.import audited with node-c;
#  - offline: keys generate --state and keys archive-export write chained entries to a 0600
#    file beside the state; audit import-offline adds them to the chain once (a second import
#    adds nothing, an edited file is refused) and audit verify still passes.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd softhsm2-util
Z=example.

tdm_cluster_up --policy "$TDM_DATA/ksk-drill-policy.yaml" --cycle 3
OPS=$TDM_CL/operators

# audited ERE: some coordinator logged an audit line matching ERE
audited() {
	grep -Eq "audit: $1" "$TDM_CL"/log/coord-*.log || tdm_fail "no audit line /audit: $1/" -- \
		"$TDM_CL"/log/coord-a.log "$TDM_CL"/log/coord-b.log
}
# req_id FILE: the id on the last line ("request ID") of a request's output
req_id() { tail -n 1 "$1" | awk '$1 == "request" { print $2 }'; }
# field ID EXPR: a python expression on the request's JSON (bound to r)
field() {
	tdm_ctl request show "$1" --json | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$2"
}
key_in() { # STATE ROLE: the id of a key of ROLE in STATE ('' when none)
	tdm_status_get "next((k['id'] for k in zone('$Z')['keys'] if k.get('role') == '$2' and k.get('state') == '$1'), None)" || true
}
key_get() { tdm_status_get "next((k.get('$2') for k in zone('$Z')['keys'] if k['id'] == $1), None)" || true; }

audited "archive.grant notice coord:coord-[ab]: first grant table: node-a node-b may import"
tdm_pass "the first grant table (node-a, node-b) written and audited at bootstrap"

# ---- ds.seen ----------------------------------------------------------------------------------
ksk1=$(key_in active ksk)
[ -n "$ksk1" ] || tdm_fail "no active KSK after cluster-up"
submitted1() { [ "$(key_get "$ksk1" ds)" = submitted ]; }
tdm_wait 60 "KSK $ksk1's DS to be submitted" submitted1
tdm_assert_ok "ds-seen for KSK $ksk1" tdm_ctl keys ds-seen --cluster --zone $Z --key "$ksk1"
audited "ds.seen notice operator:operator: zone $Z: the parent serves the DS of KSK $ksk1 "
grep -E "audit: ds.seen " "$TDM_CL"/log/coord-*.log | grep -vq "KSK $ksk1 " &&
	tdm_fail "a ds.seen for another key than $ksk1" -- "$TDM_CL"/log/coord-a.log
tdm_assert_ok "audit show --type ds.seen" tdm_ctl audit show --type ds.seen --json
python3 - "$TDM_OUT" "$Z" "$ksk1" <<'PY' || tdm_fail "ds.seen not in the chain with zone and key" -- "$TDM_OUT"
import json, sys
es = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(es) == 1 and es[0]["zone"] == sys.argv[2] and es[0]["key"] == int(sys.argv[3]), es
PY
tdm_pass "ds-seen of KSK $ksk1: one ds.seen entry with its zone and key"

# ---- key-remove ---------------------------------------------------------------------------------
zsk=$(key_in active zsk)
tdm_assert_ok "request key-remove of the active ZSK" tdm_ctl request key-remove zone=$Z key="$zsk"
id1=$(req_id "$TDM_OUT")
[ -n "$id1" ] || tdm_fail "no request id" -- "$TDM_OUT"
tdm_assert_ok "approval by sa1" tdm_ctl approve "$id1" --key "$OPS/sa1.secret"
tdm_assert_grep "one approval waits" "1 of 2: waiting" "$TDM_OUT"
[ "$(field "$id1" 'r["state"]')" = pending ] || tdm_fail "request $id1 is not pending after one approval"
tdm_assert_fails "approval by so1 (executed: refused)" tdm_ctl approve "$id1" --key "$OPS/so1.secret"
tdm_assert_grep "the refusal names the reason" "key $zsk not removed: active, it still signs" "$TDM_ERR"
[ "$(field "$id1" 'r["state"]')" = refused ] || tdm_fail "removing the signing ZSK was not refused: $(field "$id1" 'r')"
field "$id1" 'r["outcome"]' | grep "it still signs" >/dev/null ||
	tdm_fail "the refusal does not say the key still signs: $(field "$id1" 'r["outcome"]')"
[ "$(key_get "$zsk" state)" = active ] || tdm_fail "ZSK $zsk is $(key_get "$zsk" state), not active"
tdm_pass "key-remove of the signing ZSK $zsk: waits on one approval, refused on SA + SO (it still signs)"

successor() { tdm_status_get "next((k['id'] for k in zone('$Z')['keys'] if k.get('role') == 'ksk' and k['id'] != $ksk1 and k.get('state') in ('published', 'ready')), None)" || true; }
have_successor() { [ -n "$(successor)" ]; }
tdm_wait 90 "a published successor KSK" have_successor
ksk2=$(successor)
tag2=$(key_get "$ksk2" tag)
tdm_assert_ok "request key-remove by tag" tdm_ctl request key-remove zone=$Z key="$tag2"
id2=$(req_id "$TDM_OUT")
tdm_assert_ok "approval by sa2" tdm_ctl approve "$id2" --key "$OPS/sa2.secret"
tdm_assert_ok "approval by wi1" tdm_ctl approve "$id2" --key "$OPS/wi1.secret"
[ "$(field "$id2" 'r["state"]')" = executed ] || tdm_fail "key-remove of KSK $ksk2 not executed: $(field "$id2" 'r')"
field "$id2" 'r["outcome"]' | grep "key $ksk2 (tag $tag2) removed" >/dev/null ||
	tdm_fail "the outcome does not name key $ksk2 (tag $tag2): $(field "$id2" 'r["outcome"]')"
[ "$(key_get "$ksk2" state)" = removed ] || tdm_fail "KSK $ksk2 is $(key_get "$ksk2" state), not removed"
tdm_assert_fails "a third approval" tdm_ctl approve "$id2" --key "$OPS/so2.secret"
tdm_assert_grep "the third approval: not pending" "executed" "$TDM_ERR"
n=$(cat "$TDM_CL"/log/coord-*.log | grep -cE "audit: request.execute .*request $id2 ")
[ "$n" = 1 ] || tdm_fail "request $id2 executed $n times" -- "$TDM_CL"/log/coord-a.log
destroyed() { grep -q "key $ksk2 (tag $tag2) destroyed in the HSM" "$TDM_CL/log/node-a.log" &&
	grep -q "key $ksk2 (tag $tag2) destroyed in the HSM" "$TDM_CL/log/node-b.log"; }
tdm_wait 60 "KSK $ksk2 destroyed in both HSMs" destroyed
tdm_pass "key-remove of KSK $ksk2 by its tag $tag2: SA + WI, executed once, destroyed at both sites"

# ---- a new node ---------------------------------------------------------------------------------
C=$TDM_CL/node-c
mkdir -p "$C/out" "$C/work"
"$TDM_CL/tandemctl" net keygen --public "$TDM_CL/keys/node-c.pub" --secret "$TDM_CL/keys/node-c.secret" >/dev/null
printf 'node-c node %s\n' "$(awk '$1 == "public" { print $2 }' "$TDM_CL/keys/node-c.pub")" >>"$TDM_CL/allow"
for s in a b; do kill -HUP "$(cat "$TDM_CL/run/coord-$s.pid")"; done
reloaded() { [ "$(grep -c "allow-list reloaded: 1 added" "$TDM_CL"/log/coord-*.log | awk -F: '{ n += $2 } END { print n }')" -ge 2 ]; }
tdm_wait 30 "both coordinators to take node-c's key" reloaded
(
	tdm_token "$C/hsm" node-c
	env SOFTHSM2_CONF="$SOFTHSM2_CONF" "$TDM_BUILD/src/tools/tandem-ceremony" smk-install \
		--module "$TDM_MODULE" --token "pkcs11:token=node-c;pin-source=$TDM_PIN_FILE" \
		--so-pin-source "$TDM_SO_PIN_FILE" --drill --passphrase-file "$TDM_CL/ceremony/pass-b" \
		"$TDM_CL/ceremony/cards/card-02.tandem-card" "$TDM_CL/ceremony/cards/card-03.tandem-card" \
		>"$TDM_TMP/install-c.out" 2>&1 || exit 1
	printf '%s\n%s\n' "$SOFTHSM2_CONF" "$TDM_PIN_FILE" >"$TDM_TMP/token-c"
) || tdm_fail "node-c's token and SMK" -- "$TDM_TMP/install-c.out"
{ read -r conf_c && read -r pin_c; } <"$TDM_TMP/token-c"
# node-b's command line, as node-c
line=$(grep '^setsid' "$TDM_CL/run/node-b.start")
line=${line#setsid }
line=${line%% </dev/null*}
words=()
eval "words=($line)"
cmd=()
for ((i = 0; i < ${#words[@]}; i++)); do
	w=${words[$i]}
	case $w in
	SOFTHSM2_CONF=*) w=SOFTHSM2_CONF=$conf_c ;;
	--pid-file)
		i=$((i + 1))
		continue
		;;
	--name | --key | --token | --out | --work)
		cmd+=("$w")
		i=$((i + 1))
		case $w in
		--name) w=node-c ;;
		--key) w=$TDM_CL/keys/node-c.secret ;;
		--token) w="pkcs11:token=node-c;pin-source=$pin_c" ;;
		--out) w=$C/out ;;
		--work) w=$C/work ;;
		esac
		;;
	--zone) ;;
	*=*/in/*.zone) w=${w/node-b/node-c} ;;
	esac
	cmd+=("$w")
done
cp -r "$TDM_CL/node-b/in" "$C/in"
setsid "${cmd[@]}" </dev/null >"$TDM_CL/log/node-c.log" 2>&1 &
pid_c=$!
tdm_on_exit "kill $pid_c 2>/dev/null || true"

alerted() { grep -q "ALERT archive-grant: node node-c holds no key of zone $Z (a new node): .*tandemctl request archive-distribute node=node-c zone=$Z" "$TDM_CL/log/node-c.log"; }
tdm_wait 60 "node-c's archive-grant alert" alerted
audited "archive.refuse warning node:node-c: node node-c holds no key of zone $Z"
acked_c() { tdm_status_get "sum(1 for k in zone('$Z')['keys'] if 'node-c' in k['acks'])"; }
[ "$(acked_c)" = 0 ] || tdm_fail "node-c imported a key before any grant" -- "$TDM_CL/log/node-c.log"
grep -q "imported into the HSM" "$TDM_CL/log/node-c.log" && tdm_fail "node-c imported a key before any grant" -- "$TDM_CL/log/node-c.log"
tdm_pass "new node-c: the archive withheld, its alert names the request, archive.refuse audited"

tdm_assert_ok "request archive-distribute node=node-c" tdm_ctl request archive-distribute node=node-c
id3=$(req_id "$TDM_OUT")
tdm_assert_ok "approval by so1" tdm_ctl approve "$id3" --key "$OPS/so1.secret"
tdm_assert_grep "one approval waits" "1 of 2: waiting" "$TDM_OUT"
tdm_assert_fails "sa1 fills no place beside so1" tdm_ctl approve "$id3" --key "$OPS/sa1.secret"
tdm_assert_ok "approval by wi2" tdm_ctl approve "$id3" --key "$OPS/wi2.secret"
[ "$(field "$id3" 'r["state"]')" = executed ] || tdm_fail "archive-distribute not executed: $(field "$id3" 'r')"
audited "archive.grant notice request:$id3: node node-c may import the keys of every zone"
all_c() { [ "$(tdm_status_get "all('node-c' in k['acks'] for k in zone('$Z')['keys'] if not k['retired'] and k.get('state') != 'removed')")" = True ]; }
tdm_wait 60 "node-c to import every key of $Z" all_c
tdm_assert_ok "audit show --type key.import" tdm_ctl audit show --type key.import --zone $Z --json
python3 - "$TDM_OUT" "$Z" "$(tdm_status_get "' '.join(str(k['id']) for k in zone('$Z')['keys'] if 'node-c' in k['acks'])")" <<'PY' ||
import json, sys
es = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
got = {e["key"] for e in es if e["actor"] == "node:node-c" and "node node-c imported" in e["details"]}
want = {int(k) for k in sys.argv[3].split()}
assert want and want <= got, (got, want)
PY
	tdm_fail "not every import of node-c is a key.import entry" -- "$TDM_OUT"
grep -q "alert archive-grant cleared" "$TDM_CL/log/node-c.log" ||
	tdm_fail "node-c's archive-grant alert not cleared" -- "$TDM_CL/log/node-c.log"
tdm_pass "after SO + WI approved archive-distribute, node-c imported every key (key.import audited)"

# ---- offline events ------------------------------------------------------------------------------
# an offline machine: its own token with the ceremony's SMK, a key state, no coordinator
O=$TDM_TMP/offline
mkdir -p "$O/state"
(
	tdm_token "$O/hsm" offline
	env SOFTHSM2_CONF="$SOFTHSM2_CONF" "$TDM_BUILD/src/tools/tandem-ceremony" smk-install \
		--module "$TDM_MODULE" --token "pkcs11:token=offline;pin-source=$TDM_PIN_FILE" \
		--so-pin-source "$TDM_SO_PIN_FILE" --drill --passphrase-file "$TDM_CL/ceremony/pass-a" \
		"$TDM_CL/ceremony/cards/card-01.tandem-card" "$TDM_CL/ceremony/cards/card-02.tandem-card" \
		>"$TDM_TMP/install-o.out" 2>&1 || exit 1
	printf '%s\n%s\n' "$SOFTHSM2_CONF" "$TDM_PIN_FILE" >"$TDM_TMP/token-o"
) || tdm_fail "the offline token and SMK" -- "$TDM_TMP/install-o.out"
{ read -r conf_o && read -r pin_o; } <"$TDM_TMP/token-o"
uri_o="pkcs11:token=offline;pin-source=$pin_o"
ctl_o() { env SOFTHSM2_CONF="$conf_o" "$TDM_BUILD/src/tools/tandemctl" "$@"; }
tdm_assert_ok "keys generate --state (offline)" ctl_o keys generate --state "$O/state" \
	--zone off.example. -p dps-default --token "$uri_o"
tdm_assert_ok "keys archive-export --state (offline)" ctl_o keys archive-export --token "$uri_o" \
	--state "$O/state" --out "$O/archive.pb"
A=$O/state/audit-offline.jsonl
[ "$(stat -c %a "$A")" = 600 ] || tdm_fail "$A is mode $(stat -c %a "$A"), not 600"
grep -q '"type":"key.generate"' "$A" || tdm_fail "no key.generate entry offline" -- "$A"
grep -q '"type":"archive.export"' "$A" || tdm_fail "no archive.export entry offline" -- "$A"
grep -q '"type":"key.step"' "$A" || tdm_fail "no key.step entry offline" -- "$A"
tdm_assert_ok "the offline file verifies on its own" tdm_ctl audit verify --file "$A"
n_off=$(grep -c . "$A")
tdm_assert_ok "audit import-offline" tdm_ctl audit import-offline "$A"
tdm_assert_grep "entries added" "entries 1\.\.$n_off added to the audit log" "$TDM_OUT"
tdm_assert_ok "audit show --type archive.export" tdm_ctl audit show --type archive.export --json
python3 - "$TDM_OUT" <<'PY' || tdm_fail "archive.export not in the chain as an offline entry" -- "$TDM_OUT"
import json, sys
es = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(es) == 1 and es[0]["actor"].startswith("offline:"), es
assert " seq " in es[0]["details"] and "archive-export" in es[0]["details"], es
PY
audited "audit.offline-import notice operator:operator: offline chain [0-9a-f]{64}: entries 1\.\.$n_off imported"
tdm_assert_ok "a second import" tdm_ctl audit import-offline "$A"
tdm_assert_grep "a second import adds nothing" "nothing new" "$TDM_OUT"
# a file others may read stops a key step before it changes anything
chmod 644 "$A"
sum=$(sha256sum <"$O/state/keystate.pb")
tdm_assert_fails "a key step with a loose offline audit file" ctl_o keys rollover --state "$O/state" \
	--zone off.example. --role zsk
tdm_assert_eq "a loose offline audit file: exit 5" 5 "$TDM_RC"
tdm_assert_grep "a loose offline audit file: says so" "group or others may read" "$TDM_ERR"
[ "$(sha256sum <"$O/state/keystate.pb")" = "$sum" ] || tdm_fail "the key state changed"
chmod 600 "$A"
sed -i '1s/"details":"/"details":"X/' "$A"
tdm_assert_fails "an edited offline file" tdm_ctl audit import-offline "$A"
tdm_assert_grep "the edited entry is named" "seq 1: edited" "$TDM_ERR"
# the coordinator checks it too (sent as it is, through the ceremony-record path)
tdm_assert_fails "an edited offline file sent unchecked" tdm_ctl operator record-import "$A"
tdm_assert_grep "the coordinator names the edited entry" "offline audit file refused: seq 1: edited" "$TDM_ERR"
audited "audit.offline-refuse warning operator:operator: offline audit file refused: seq 1: edited"
tdm_pass "offline events: written 0600 and chained, imported once, verified; a loose file stops a key step; an edit refused here and by the coordinator"

tdm_assert_ok "audit verify" tdm_ctl audit verify
tdm_pass "the audit chain verifies"
