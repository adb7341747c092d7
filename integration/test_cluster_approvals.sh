#!/bin/bash
# Multi-person control on a real local cluster (issue 12, DPS 4.2; docs/approvals.md). The
# demo role table of cluster-up.sh: sa1 sa2 (SA), so1 so2 (SO), wi1 wi2 (WI). A forced
# takeover needs one SA and one SO or WI:
#  - the direct `tandemctl takeover --force` is refused and names the request to make;
#  - one approval (sa1) records and waits: nothing is fenced;
#  - sa1 again (the same person) and sa2 (the same role, no open place) are refused;
#  - so1's signature of request 1 replayed for request 2, a key that is not registered, a
#    request past its (short) expiry, and a secret file others may read are refused;
#  - registering a person or a key in a second role is refused, as is a second bootstrap;
#  - sa1 + so1 execute it exactly once: node-a is fenced, a further approval is refused
#    and the coordinators log one execution;
#  - a cancelled request takes no approvals; a registration approved by sa1 + wi1 executes;
#  - break glass: etcd loses the role table (a cluster rebuilt without its data); the
#    coordinators' mirrors hold it, it is written back, and the direct command still
#    refuses;
#  - a ceremony record (tandem-ceremony record) signed by the three people present imports
#    and is audited; edited after signing, or missing a signature, it is refused;
#  - a policy change (params-set) by sa2 + wi2: the direct command refused, the request
#    executed, status shows the new lease;
#  - an operator key on a PKCS#11 token (keygen --pkcs11): its private key is sensitive and
#    never extractable (integration/p11attrs.py), a wrong PIN signs and records nothing, a
#    request approved by it (sa3) and by a file key (so2) executes, and a ceremony record it
#    signs (tandem-ceremony record-sign --key pkcs11:...) verifies against the role table;
#  - every step has its "audit:" line in the coordinators' logs.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd

tdm_cluster_up --cycle 5
OPS=$TDM_CL/operators

# req_id FILE: the id on the last line ("request ID") of a request's output
req_id() {
	local id
	id=$(tail -n 1 "$1" | awk '$1 == "request" { print $2 }')
	[ -n "$id" ] || tdm_fail "no 'request ID' last line" -- "$1"
	printf '%s\n' "$id"
}
# field ID EXPR: a python expression on the request's JSON (bound to r)
field() {
	tdm_ctl request show "$1" --json | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$2"
}
# audited ERE: some coordinator logged an audit line matching ERE
audited() {
	grep -Eq "audit: $1" "$TDM_CL"/log/coord-*.log || tdm_fail "no audit line /audit: $1/" -- \
		"$TDM_CL"/log/coord-a.log "$TDM_CL"/log/coord-b.log
}
refused() { # WHAT ERE CMD...: exit 4 (or 2 for local refusals: REFUSE_RC) with ERE in stderr
	local what=$1 ere=$2
	shift 2
	tdm_run refused "$@"
	[ "$TDM_RC" -eq "${REFUSE_RC:-4}" ] || tdm_fail "$what: exit $TDM_RC, not ${REFUSE_RC:-4}" -- "$TDM_OUT" "$TDM_ERR"
	tdm_assert_grep "$what" "$ere" "$TDM_ERR"
	tdm_pass "$what: refused"
}

# ---- the direct command refuses -------------------------------------------------------------
refused "direct forced takeover" "tandemctl request takeover site=B" tdm_ctl takeover --site B --force
audited "operator operator: coord.takeover site=B force=yes: refused: takeover needs approvals"

# ---- one approval waits -----------------------------------------------------------------------
tdm_assert_ok "request takeover site=B" tdm_ctl request takeover site=B
id1=$(req_id "$TDM_OUT")
tdm_assert_grep "the text to sign names the action" "^action takeover$" "$TDM_OUT"
tdm_assert_grep "the text to sign has the arguments" "^args site=B$" "$TDM_OUT"
tdm_assert_grep "the text to sign has the expiry" "^expires [0-9]+ " "$TDM_OUT"
audited "request.create notice operator:operator: request $id1 takeover site=B"
[ "$(field "$id1" 'r["state"]')" = pending ] || tdm_fail "request $id1 is not pending"
tdm_assert_ok "approval by sa1" tdm_ctl approve "$id1" --key "$OPS/sa1.secret"
tdm_assert_grep "sa1's approval waits" "1 of 2: waiting" "$TDM_OUT"
audited "request.approve notice approver:sa1: request $id1"
[ "$(field "$id1" 'r["state"], len(r["approvals"]), r["approvals"][0]["operator"]')" = "('pending', 1, 'sa1')" ] ||
	tdm_fail "request $id1 after sa1: $(field "$id1" 'r')"
[ "$(tdm_status_get "node('node-a')['state']")" = up ] || tdm_fail "node-a changed state on one approval"
tdm_pass "one approval: recorded, the takeover waits (node-a still up)"

# ---- the same person, the same role ------------------------------------------------------------
refused "sa1 approving twice" "distinct people" tdm_ctl approve "$id1" --key "$OPS/sa1.secret"
audited "request.refuse warning approver:sa1: approval of request $id1 refused: sa1 approved"
refused "sa2 after sa1 (both SA)" "fills no open place" tdm_ctl approve "$id1" --key "$OPS/sa2.secret"
audited "request.refuse warning approver:sa2: .*fills no open place"
[ "$(field "$id1" 'len(r["approvals"])')" = 1 ] || tdm_fail "a refused approval was counted"

# ---- replay, unregistered key, loose secret ------------------------------------------------------
tdm_assert_ok "request 2 (takeover site=B)" tdm_ctl request takeover site=B
id2=$(req_id "$TDM_OUT")
tdm_assert_ok "so1 signs request 1 without sending" tdm_ctl approve "$id1" --key "$OPS/so1.secret" --sign-only
sig=$(awk '$1 == "signature" { print $2 }' "$TDM_OUT")
[ "${#sig}" -eq 128 ] || tdm_fail "no signature printed" -- "$TDM_OUT"
refused "so1's approval of request 1 replayed for request 2" "does not verify for request $id2" \
	tdm_ctl approve "$id2" --signature "$sig" --public "$OPS/so1.pub"
audited "request.refuse warning approver:so1: approval of request $id2 refused: the signature"
tdm_assert_ok "keygen for an unregistered person" tdm_ctl operator keygen --secret "$TDM_TMP/eve.secret" --public "$TDM_TMP/eve.pub"
[ "$(stat -c %a "$TDM_TMP/eve.secret")" = 600 ] || tdm_fail "the secret is not 0600"
[ "$(wc -l <"$TDM_TMP/eve.pub")" = 1 ] || tdm_fail "the public key file is not one line"
refused "an unregistered key" "not registered" tdm_ctl approve "$id2" --key "$TDM_TMP/eve.secret"
audited "request.refuse warning operator:operator: approval of request $id2 refused: the approving key is not registered"
cp "$OPS/wi1.secret" "$TDM_TMP/loose.secret"
chmod 644 "$TDM_TMP/loose.secret"
REFUSE_RC=2 refused "a secret others may read" "group or others" tdm_ctl approve "$id2" --key "$TDM_TMP/loose.secret"
[ "$(field "$id2" 'len(r["approvals"])')" = 0 ] || tdm_fail "request $id2 counted a refused approval"

# ---- expiry ----------------------------------------------------------------------------------
tdm_assert_ok "request 3 with a 1 s expiry" tdm_ctl request takeover site=B --ttl 1
id3=$(req_id "$TDM_OUT")
expired() { [ "$(field "$id3" 'r["state"]')" = expired ]; }
tdm_wait 30 "request $id3 to expire" expired
refused "an approval after the expiry" "is expired" tdm_ctl approve "$id3" --key "$OPS/sa1.secret"
audited "request.expire notice coord:coord-[ab]: request $id3 takeover site=B expired"

# ---- one person, one role ------------------------------------------------------------------
refused "sa1's key registered again as an SO" "registered already, as sa1" \
	tdm_ctl request operator-register name=sa1-so role=SO "pub=$(cat "$OPS/sa1.pub")"
refused "so1 registered again as a WI" "so1 is registered already" \
	tdm_ctl request operator-register name=so1 role=WI "pub=$(cat "$TDM_TMP/eve.pub")"
audited "request.refuse warning operator:operator: request operator-register .*registered already"
refused "a second bootstrap" "exists already" tdm_ctl operator bootstrap "$OPS/table"
audited "operators.bootstrap warning operator:operator: refused: the role table exists already"

# ---- SA + SO execute, once -----------------------------------------------------------------------
tdm_assert_ok "approval by so1: the quorum" tdm_ctl approve "$id1" --key "$OPS/so1.secret"
tdm_assert_grep "the takeover executed" "request $id1 executed" "$TDM_OUT"
tdm_assert_grep "its effects name node-a" "effect: .*node-a" "$TDM_OUT"
[ "$(tdm_status_get "node('node-a')['state']")" = fenced ] || tdm_fail "node-a is not fenced"
[ "$(field "$id1" 'r["state"], [a["operator"] for a in r["approvals"]]')" = "('executed', ['sa1', 'so1'])" ] ||
	tdm_fail "request $id1 after the quorum: $(field "$id1" 'r')"
refused "a further approval (wi1)" "approvals are closed" tdm_ctl approve "$id1" --key "$OPS/wi1.secret"
n=$(grep -Ec "audit: request.execute [a-z]+ coord:coord-[ab]: request $id1 " "$TDM_CL"/log/coord-*.log | awk -F: '{ s += $NF } END { print s }')
[ "$n" = 1 ] || tdm_fail "request $id1 executed $n times" -- "$TDM_CL"/log/coord-a.log "$TDM_CL"/log/coord-b.log
audited "request.execute notice coord:coord-[ab]: request $id1 takeover site=B executed"
tdm_pass "sa1 + so1: the takeover executed once (node-a fenced)"

# ---- cancel; a registration through approvals ---------------------------------------------------
tdm_assert_ok "cancel request 2" tdm_ctl request cancel "$id2"
audited "request.cancel notice operator:operator: request $id2"
refused "an approval of a cancelled request" "is cancelled" tdm_ctl approve "$id2" --key "$OPS/sa1.secret"
tdm_assert_ok "request: register eve as WI" tdm_ctl request operator-register name=eve role=WI "pub=$(cat "$TDM_TMP/eve.pub")"
id4=$(req_id "$TDM_OUT")
tdm_assert_ok "sa1 approves the registration" tdm_ctl approve "$id4" --key "$OPS/sa1.secret"
tdm_assert_ok "wi1 approves the registration" tdm_ctl approve "$id4" --key "$OPS/wi1.secret"
tdm_assert_ok "operator list" tdm_ctl operator list
tdm_assert_grep "eve is registered as WI" "^eve +WI $(cat "$TDM_TMP/eve.pub")" "$TDM_OUT"
audited "request.execute notice coord:coord-[ab]: request $id4 operator-register name=eve role=WI"
tdm_assert_ok "request list --json" tdm_ctl request list --json
python3 - "$TDM_OUT" "$id1" "$id2" "$id3" "$id4" <<'PY' || tdm_fail "request list --json" -- "$TDM_OUT"
import json, sys
reqs = {r["id"]: r for r in json.load(open(sys.argv[1]))["requests"]}
want = dict(zip(sys.argv[2:], ["executed", "cancelled", "expired", "executed"]))
for i, state in want.items():
    assert reqs[i]["state"] == state, (i, reqs[i])
PY
tdm_pass "request list --json: executed, cancelled, expired, executed"

# ---- a ceremony record, signed by the people present (DPS 5.1.1) -------------------------------
CER=$TDM_CL/ceremony
REC=$TDM_TMP/ceremony.record
tdm_assert_ok "tandem-ceremony record" "$TDM_BUILD/src/tools/tandem-ceremony" record --out "$REC" \
	--what "SMK drill: 3 cards, any 2 install it" --check-value "$(cat "$CER/check-value")" \
	--card-holder card-01=alice --card-holder card-02=bob --card-holder card-03=carol \
	--present sa1:SA --present so1:SO --present wi1:WI
for p in sa1 so1; do
	tdm_assert_ok "$p signs the record" "$TDM_BUILD/src/tools/tandem-ceremony" record-sign "$REC" --name $p --key "$OPS/$p.secret"
done
refused "a record wi1 has not signed yet" "wi1 was present but has not signed" tdm_ctl operator record-import "$REC"
audited "ceremony.refuse warning operator:operator: ceremony record sha256 [0-9a-f]{64} refused: wi1 was present"
tdm_assert_ok "wi1 signs the record" "$TDM_BUILD/src/tools/tandem-ceremony" record-sign "$REC" --name wi1 --key "$OPS/wi1.secret"
tdm_assert_ok "record-verify against the role table" tdm_ctl operator record-verify "$REC"
# tandemctl audit import-ceremony is the same import, under the audit commands
tdm_assert_ok "audit import-ceremony" tdm_ctl audit import-ceremony "$REC"
digest=$(sha256sum "$REC" | cut -c1-64)
audited "ceremony.record notice operator:operator: ceremony record sha256 $digest: SMK drill: 3 cards, any 2 install it; signed by sa1 \(SA\), so1 \(SO\), wi1 \(WI\)"
in_chain() { tdm_ctl audit show --type ceremony. --json 2>/dev/null | grep -q "$digest"; }
tdm_wait 30 "the ceremony record in the audit chain" in_chain
sed 's/^card-holder card-02 bob$/card-holder card-02 mallory/' "$REC" >"$TDM_TMP/edited.record"
cmp -s "$REC" "$TDM_TMP/edited.record" && tdm_fail "the record was not edited"
refused "the record edited after signing" "does not verify" tdm_ctl operator record-import "$TDM_TMP/edited.record"
REFUSE_RC=4 refused "record-verify --offline of the edited record" "does not verify" \
	tdm_ctl operator record-verify "$TDM_TMP/edited.record" --offline
tdm_pass "ceremony record: signed by sa1, so1, wi1, imported and audited; edits refused"

# ---- break glass: the role table lost from etcd comes back from the coordinators' mirrors --------
# each coordinator compares its mirror with etcd every 5 s
mirrored() { grep -q '"name":"eve"' "$TDM_CL/run/coord-$1.operators.json" 2>/dev/null; }
for s in a b; do
	tdm_wait 30 "coord-$s's role mirror to have eve" mirrored $s
done
# shellcheck source=/dev/null
source "$TDM_CL/cluster.env"
key=$(printf '%s' /tandem/v1/operators | base64 -w0)
mapfile -t etls < <(tdm_cluster_etcd_tls)
curl -sf "${etls[@]}" -X POST "$ETCD_B_CLIENT/v3/kv/deleterange" -d "{\"key\":\"$key\"}" >"$TDM_TMP/delete.out" ||
	tdm_fail "could not delete the role table from etcd" -- "$TDM_TMP/delete.out"
grep -q '"deleted":"1"' "$TDM_TMP/delete.out" || tdm_fail "no role table deleted" -- "$TDM_TMP/delete.out"
refused "direct forced takeover with the table gone from etcd" "needs approvals" tdm_ctl takeover --site A --force
audited "operators.restore critical coord:coord-[ab]: etcd had no role table: restored from the mirror .* \(7 operators\)"
tdm_assert_ok "operator list after the restore" tdm_ctl operator list
tdm_assert_grep "the restored table has eve" "^eve +WI" "$TDM_OUT"
refused "a bootstrap over the mirror" "exists already" tdm_ctl operator bootstrap "$OPS/table"
tdm_pass "break glass: the role table restored from the mirror; approvals still required"

# ---- a policy change: the cluster's lease, approved by sa2 + wi2 ----------------------------------
read -r lease margin < <(tdm_ctl status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(s["lease_ms"], s["margin_ms"])')
new=$((lease + 3000))
refused "direct cluster params" "tandemctl request params-set lease_ms=$new margin_ms=$margin" \
	tdm_ctl cluster params --lease-ms "$new" --margin-ms "$margin"
tdm_assert_ok "request params-set" tdm_ctl request params-set "lease_ms=$new" "margin_ms=$margin"
id5=$(req_id "$TDM_OUT")
tdm_assert_ok "wi2 approves the lease change" tdm_ctl approve "$id5" --key "$OPS/wi2.secret"
tdm_assert_ok "sa2 approves the lease change" tdm_ctl approve "$id5" --key "$OPS/sa2.secret"
tdm_assert_grep "the lease change executed" "request $id5 executed" "$TDM_OUT"
[ "$(tdm_status_get "s['lease_ms']")" = "$new" ] || tdm_fail "status does not show lease $new ms"
audited "request.execute notice coord:coord-[ab]: request $id5 params-set lease_ms=$new margin_ms=$margin executed"
tdm_pass "params-set by wi2 + sa2: lease now $new ms"

# ---- key generation outside the schedule: a manual rollover needs an SA, an SO and a WI ----------
Z=example.
zsks() { tdm_status_get "len([k for k in zone('$Z')['keys'] if k.get('role') == 'zsk'])"; }
nz=$(zsks)
refused "direct keys rollover --cluster" "tandemctl request keygen zone=$Z role=zsk" \
	tdm_ctl keys rollover --cluster --zone $Z --role zsk
[ "$(zsks)" = "$nz" ] || tdm_fail "the refused rollover changed the keys"
tdm_assert_ok "request keygen" tdm_ctl request keygen "zone=$Z" role=zsk
id6=$(req_id "$TDM_OUT")
tdm_assert_ok "sa1 approves the key generation" tdm_ctl approve "$id6" --key "$OPS/sa1.secret"
tdm_assert_ok "so1 approves the key generation" tdm_ctl approve "$id6" --key "$OPS/so1.secret"
tdm_assert_grep "two of three wait for a WI" "2 of 3: waiting" "$TDM_OUT"
[ "$(zsks)" = "$nz" ] || tdm_fail "the key generation ran before the quorum"
tdm_assert_ok "wi1 approves the key generation" tdm_ctl approve "$id6" --key "$OPS/wi1.secret"
tdm_assert_grep "the key generation executed" "request $id6 executed" "$TDM_OUT"
more_zsks() { [ "$(zsks)" -gt "$nz" ]; }
tdm_wait 90 "a successor ZSK in the key set" more_zsks
audited "request.execute notice coord:coord-[ab]: request $id6 keygen zone=$Z role=zsk executed"
tdm_pass "keygen by sa1 + so1 + wi1: a successor ZSK was made ($(zsks) ZSKs)"

# ---- the approval rules: one value in etcd, changed by an approved rules-set ---------------------
# shellcheck source=/dev/null
source "$TDM_CL/cluster.env"
rules_of() { # COORD-ENDPOINT COORD-PUB: the rules as that coordinator has them
	tdm_ctl operator rules --coord "$1" --coord-pub "$2"
}
tdm_assert_ok "operator rules" rules_of "$COORD_A_ENDPOINT" "$COORD_A_PUB"
tdm_assert_grep "keygen needs an SA, an SO and a WI" "^keygen SA SO WI$" "$TDM_OUT"
refused "rules-set with a role that does not exist" "not SA, SO or WI|roles SA, SO, WI" \
	tdm_ctl request rules-set action=keygen "slots=SA,XX"
tdm_assert_ok "request rules-set keygen" tdm_ctl request rules-set action=keygen "slots=SA,SO|WI"
id7=$(req_id "$TDM_OUT")
tdm_assert_ok "sa1 approves the rules change" tdm_ctl approve "$id7" --key "$OPS/sa1.secret"
tdm_assert_grep "a rules change needs two people" "1 of 2: waiting" "$TDM_OUT"
tdm_assert_ok "wi1 approves the rules change" tdm_ctl approve "$id7" --key "$OPS/wi1.secret"
tdm_assert_grep "the rules change executed" "request $id7 executed" "$TDM_OUT"
for c in A B; do
	ep=COORD_${c}_ENDPOINT pubf=COORD_${c}_PUB
	tdm_assert_ok "operator rules at coord-${c,,}" rules_of "${!ep}" "${!pubf}"
	tdm_assert_grep "coord-${c,,} has the new keygen rule" "^keygen SA SO\|WI$" "$TDM_OUT"
done
audited "request.execute notice coord:coord-[ab]: request $id7 rules-set action=keygen slots=SA,SO\|WI executed"
tdm_pass "rules-set by sa1 + wi1: both coordinators apply keygen = SA + SO|WI (from etcd)"

# ---- an operator key on a PKCS#11 token: keygen there, approve with it -------------------------
# (its own SoftHSM store; this shell's SOFTHSM2_CONF is put back after)
had_conf=${SOFTHSM2_CONF+x} old_conf=${SOFTHSM2_CONF-}
tdm_token "$TDM_TMP/ophsm" operators
uri="pkcs11:token=operators;pin-source=$TDM_PIN_FILE"
tdm_assert_ok "keygen sa3 on the token" tdm_ctl operator keygen sa3 --pkcs11 "$uri" --public "$TDM_TMP/sa3.pub"
tdm_assert_grep "keygen names the token and the object" "^operator key $(cat "$TDM_TMP/sa3.pub") \(on token operators, object sa3, not extractable\)$" "$TDM_OUT"
python3 "$TDM_SRC/integration/p11attrs.py" "$TDM_MODULE" operators "$TDM_PIN_FILE" sa3 >"$TDM_TMP/sa3.attrs" ||
	tdm_fail "cannot read sa3's attributes on the token"
for want in "CKA_KEY_TYPE CKK_EC_EDWARDS" "CKA_SENSITIVE true" "CKA_EXTRACTABLE false" \
	"CKA_NEVER_EXTRACTABLE true" "CKA_WRAP_WITH_TRUSTED false" "value refused"; do
	tdm_assert_grep "sa3's private key: $want" "^$want$" "$TDM_TMP/sa3.attrs"
done
REFUSE_RC=2 refused "a second keygen under the same label" "already holds an object labelled sa3" \
	tdm_ctl operator keygen sa3 --pkcs11 "$uri" --public "$TDM_TMP/sa3-again.pub"
REFUSE_RC=2 refused "a keygen over an existing public file" "sa3.pub: File exists" \
	tdm_ctl operator keygen sa4 --pkcs11 "$uri" --public "$TDM_TMP/sa3.pub"
[ "$(python3 "$TDM_SRC/integration/p11count.py" "$TDM_MODULE" operators "$TDM_PIN_FILE" sa4)" = 0 ] ||
	tdm_fail "the refused keygen left a key sa4 on the token"
tdm_assert_ok "request: register sa3 (token key) as SA" tdm_ctl request operator-register name=sa3 role=SA "pub=$(cat "$TDM_TMP/sa3.pub")"
id8=$(req_id "$TDM_OUT")
tdm_assert_ok "sa1 approves sa3's registration" tdm_ctl approve "$id8" --key "$OPS/sa1.secret"
tdm_assert_ok "so1 approves sa3's registration" tdm_ctl approve "$id8" --key "$OPS/so1.secret"
tdm_assert_grep "sa3's registration executed" "request $id8 executed" "$TDM_OUT"
tdm_assert_ok "keygen for wi3 (a file)" tdm_ctl operator keygen --secret "$TDM_TMP/wi3.secret" --public "$TDM_TMP/wi3.pub"
tdm_assert_ok "request: register wi3" tdm_ctl request operator-register name=wi3 role=WI "pub=$(cat "$TDM_TMP/wi3.pub")"
id9=$(req_id "$TDM_OUT")
(umask 077 && echo 271828 >"$TDM_TMP/wrong.pin")
REFUSE_RC=2 refused "sa3's token with a wrong PIN" "CKR_PIN_INCORRECT" \
	tdm_ctl approve "$id9" --key "pkcs11:token=operators;object=sa3;pin-source=$TDM_TMP/wrong.pin"
tdm_assert_no_grep "the wrong PIN is not printed" "271828" "$TDM_ERR"
tdm_assert_no_grep "no text was signed with a wrong PIN" "^request $id9$" "$TDM_OUT"
[ "$(field "$id9" 'len(r["approvals"])')" = 0 ] || tdm_fail "an approval was recorded with a wrong PIN"
tdm_assert_ok "sa3 approves with the token key" tdm_ctl approve "$id9" --key "pkcs11:token=operators;object=sa3;pin-source=$TDM_PIN_FILE"
tdm_assert_grep "sa3's token approval counts" "approval by sa3 \(SA\) recorded; 1 of 2: waiting" "$TDM_OUT"
audited "request.approve notice approver:sa3: request $id9"
tdm_assert_ok "so2 approves with a file key" tdm_ctl approve "$id9" --key "$OPS/so2.secret"
tdm_assert_grep "token key + file key executed it" "request $id9 executed" "$TDM_OUT"
[ "$(field "$id9" 'r["state"], [a["operator"] for a in r["approvals"]]')" = "('executed', ['sa3', 'so2'])" ] ||
	tdm_fail "request $id9: $(field "$id9" 'r')"
tdm_assert_ok "operator list" tdm_ctl operator list
tdm_assert_grep "wi3 is registered" "^wi3 +WI $(cat "$TDM_TMP/wi3.pub")" "$TDM_OUT"
# a ceremony record signed on the token (tandem-ceremony record-sign --key pkcs11:...)
REC3=$TDM_TMP/token.record
CEREMONY=$TDM_BUILD/src/tools/tandem-ceremony
tdm_assert_ok "a record with sa3 and so2 present" "$CEREMONY" record --out "$REC3" --what "token drill" \
	--present sa3:SA --present so2:SO
tdm_assert_ok "sa3 signs the record on the token" "$CEREMONY" record-sign "$REC3" --name sa3 \
	--key "pkcs11:token=operators;object=sa3;pin-source=$TDM_PIN_FILE"
tdm_assert_ok "so2 signs the record (file)" "$CEREMONY" record-sign "$REC3" --name so2 --key "$OPS/so2.secret"
tdm_assert_ok "record-verify: sa3's token signature, against the role table" tdm_ctl operator record-verify "$REC3"
if [ -n "$had_conf" ]; then export SOFTHSM2_CONF=$old_conf; else unset SOFTHSM2_CONF; fi
tdm_pass "sa3's key on a PKCS#11 token: sensitive, never extractable; a wrong PIN signs nothing; sa3 (token) + so2 (file) executed request $id9 and signed a ceremony record"
