#!/bin/bash
# tandem-coord end to end: a 1-member etcd, CURVE keys and an allow-list, two coordinators
# (coord-a, coord-b) on ephemeral 127.0.0.1 ports over the same etcd prefix, driven by
# coordctl_driver: two nodes register (sites A and B, with publish addresses), both ask for
# the zone's lease (one grant, epoch 1, one HELD), a commit with the current epoch is
# accepted and one with a stale epoch refused, status shows the holder. An operator key adds
# a zone, drains and undrains a node and switches the zone over (each audited); roles are
# enforced both ways. A key added by node-a1 with its archive entry cannot be activated until
# node-b1 (site B) acks it; keys.get returns the archive bytes and both acks. The zone's key
# set (coord.keyset.put/get): the holder's put at revision 0 is accepted, a second put at 0
# refused as a conflict, a put at the returned revision accepted; the non-holder, a stale
# epoch and a node speaking for another are refused; an operator's put is accepted and
# audited; garbage and another zone's key set are refused; get returns the last bytes.
# tandemctl keys list/rollover --cluster read and write it at the revision read, keys
# generate --cluster is refused, tandemctl status shows the kasp keys. An operator's key set
# for a zone not added yet is accepted (a node's is not); the SKR book (coord.skr.get/put)
# exists only for a zone of the cluster and garbage is refused. The offline-KSK commands
# with --cluster: ksk-import before zone add (refusals: a ZSK, a zone with online KSKs),
# ksr (refused without an offline KSK; --wait timing out leaves the ask; the holder's
# refusal and a replaced ask are reported; the request bytes come back exact, this test
# standing in for the lease holder), skr-import (garbage, an unknown request, an ended
# period refused; a response signed with dnssec-signzone accepted), keys list's book. Malformed
# bodies and another version are refused. A takeover without force is refused; with force
# for site A (through coord-a) it fences node-b1, whose requests coord-b stops answering
# within 3 s. A key not in the allow-list gets no answer and its refusal shows in the log.
# SIGTERM: exit 0.
#
# Driver: tests/unit/coordd/coordctl_driver (exit 0 accepted, 2 refused, 4 no answer).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=etcd.sh
source "$(dirname "$0")/etcd.sh"

# Not tdm_setup: this test needs neither the signer nor the validators.
tdm_coordd_setup "$@"
K=$TDM_TMP/keys
ZONE=example.com.
DIGEST=$(printf 'signed zone' | sha256sum | cut -c1-64)

tdm_etcd_start 1

# ---- keys and allow-list ----------------------------------------------------------------
mkdir -p "$K"
for who in coord node-a1 node-b1 op1 stranger; do
	"$DRIVER" keygen "$K/$who.pub" "$K/$who.secret" || tdm_fail "keygen $who"
done
pub() { awk '$1 == "public" { print $2 }' "$K/$1.pub"; }
{
	printf '# test cluster\n'
	printf 'node-a1 node %s\n' "$(pub node-a1)"
	printf 'node-b1 node %s\n' "$(pub node-b1)"
	printf 'op1 operator %s\n' "$(pub op1)"
} >"$TDM_TMP/allow"

# ---- the daemons ---------------------------------------------------------------------------
COORD_PID=
COORD2_PID=
stop_coord() {
	local pid
	for pid in "$COORD_PID" "$COORD2_PID"; do
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill -9 "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
}
tdm_on_exit stop_coord
# start_coord NAME: starts a coordinator writing NAME.out/NAME.err; sets STARTED_PID
start_coord() {
	local name=$1
	"$COORD" --insecure-etcd --etcd "$(tdm_etcd_endpoints)" --listen 'tcp://127.0.0.1:*' --key "$K/coord.secret" \
		--allow "$TDM_TMP/allow" --name "$name" --prefix /test/coordd/ --zone "$ZONE" \
		--pid-file "$TDM_TMP/$name.pid" --audit-mirror "$TDM_TMP/audit-$name.jsonl" \
		>"$TDM_TMP/$name.out" 2>"$TDM_TMP/$name.err" &
	STARTED_PID=$!
}
# endpoint_of NAME PID: waits for the coordinator's endpoint
endpoint_of() {
	local ep
	ep=$(tdm_coord_endpoint "$TDM_TMP/$1.out" "$2" "$TDM_TMP/$1.err")
	case $ep in tcp://127.0.0.1:*) ;; *) tdm_fail "unexpected endpoint $ep" ;; esac
	printf '%s\n' "$ep"
}
start_coord coord-a
COORD_PID=$STARTED_PID
start_coord coord-b
COORD2_PID=$STARTED_PID
EP=$(endpoint_of coord-a "$COORD_PID")
EP2=$(endpoint_of coord-b "$COORD2_PID")
LOG=$TDM_TMP/coord-a.err
LOG2=$TDM_TMP/coord-b.err
tdm_assert_eq "pid file" "$COORD_PID" "$(cat "$TDM_TMP/coord-a.pid")"
tdm_pass "tandem-coord listening on $EP and $EP2"

# as WHO: the driver with WHO's key against coord-a; as2 against coord-b; bounded inside
# (timeout x attempts) and outside
as() {
	local who=$1
	shift
	timeout 20 "$DRIVER" -e "$EP" -s "$K/coord.pub" -k "$K/$who.secret" -t 2000 -a 2 "$@"
}
as2() {
	local who=$1
	shift
	timeout 20 "$DRIVER" -e "$EP2" -s "$K/coord.pub" -k "$K/$who.secret" -t 2000 -a 2 "$@"
}
# expect_rc RC WHAT CMD...: runs CMD, expects exit RC
expect_rc() {
	local want=$1 what=$2
	shift 2
	tdm_run "rc-$want" "$@"
	[ "$TDM_RC" -eq "$want" ] || tdm_fail "$what: expected exit $want, got $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
}

# ---- registration and the lease ---------------------------------------------------------
tdm_assert_ok "register node-a1 at site A" as node-a1 register node-a1 A /srv/a1
tdm_assert_ok "register node-b1 at site B" as node-b1 register node-b1 B /srv/b1-old
tdm_assert_ok "node-b1 registers again, through coord-b" as2 node-b1 register node-b1 B /srv/b1
tdm_run impersonate as node-b1 register node-a1 A
[ "$TDM_RC" -eq 5 ] || tdm_fail "node-b1 registering as node-a1: expected exit 5, got $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
tdm_pass "a node cannot speak for another"

tdm_assert_ok "node-a1 asks for the lease" as node-a1 request "$ZONE" node-a1
tdm_assert_grep "granted with epoch 1" '^accepted epoch=1 ' "$TDM_OUT"
tdm_run lease-b as node-b1 request "$ZONE" node-b1
[ "$TDM_RC" -eq 2 ] || tdm_fail "second lease request: expected refusal (exit 2), got $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
tdm_assert_grep "second request refused as held" '^refused lease held' "$TDM_OUT"
tdm_pass "one grant, one refusal"

# ---- commits --------------------------------------------------------------------------------
tdm_assert_ok "commit with epoch 1" as node-a1 commit "$ZONE" node-a1 1 2 "$DIGEST"
tdm_run stale as node-a1 commit "$ZONE" node-a1 0 4 "$DIGEST"
[ "$TDM_RC" -eq 2 ] || tdm_fail "stale commit: expected refusal (exit 2), got $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
tdm_assert_grep "stale epoch refused" '^refused stale epoch' "$TDM_OUT"
tdm_assert_grep "refusal logged" 'refused commit from node-a1: stale epoch' "$LOG"
tdm_run notholder as node-b1 commit "$ZONE" node-b1 1 3 "$DIGEST"
[ "$TDM_RC" -eq 2 ] || tdm_fail "commit by the standby: expected refusal, got $TDM_RC" -- "$TDM_OUT"
tdm_pass "commits fenced by epoch and holder"

# ---- a node's lease batch -------------------------------------------------------------------
# Each item answered as alone, in order: a renewal accepted, a stale epoch and an unknown zone
# refused, nothing else touched; a batch naming another node, or one zone twice, is refused.
ZONE2=batch.example.
tdm_assert_ok "operator adds a second zone" as op1 zone-add "$ZONE2" 0
tdm_assert_ok "batch of renewals" as node-a1 batch node-a1 "renew:$ZONE:1" "renew:$ZONE2:7" \
	"request:nope.example."
tdm_assert_grep "the renewal accepted" "^lease $ZONE accepted epoch=1 expiry_ms=[1-9]" "$TDM_OUT"
tdm_assert_grep "another zone refused alone" "^lease $ZONE2 refused " "$TDM_OUT"
tdm_assert_grep "an unknown zone refused" '^lease nope.example. refused unknown zone' "$TDM_OUT"
[ "$(grep -c '^lease ' "$TDM_OUT")" = 3 ] || tdm_fail "batch: not one result per item" -- "$TDM_OUT"
tdm_assert_grep "refusal logged" 'refused lease-request from node-a1: unknown zone' "$LOG"
expect_rc 5 "a batch for another node" as node-b1 batch node-a1 "renew:$ZONE:1"
expect_rc 5 "a batch naming one zone twice" as node-a1 batch node-a1 "renew:$ZONE:1" "request:$ZONE"
tdm_assert_grep "the refusal names the field" 'items: zone .* twice' "$TDM_ERR"
tdm_pass "lease batch answered per zone"

# ---- replays ---------------------------------------------------------------------------------
# A request captured and sent again (same request id, same bytes) gets the reply already
# given and changes nothing; the same id with another body, and a request sent two minutes
# ago, are refused by the transport and logged.
T=$(date +%s%3N)
DIGEST6=$(printf 'serial 6' | sha256sum | cut -c1-64)
tdm_assert_ok "commit serial 6 (fixed request id)" as node-a1 -r 7 -T "$T" commit "$ZONE" node-a1 1 6 "$DIGEST6"
tdm_assert_ok "the same request again" as node-a1 -r 7 -T "$T" commit "$ZONE" node-a1 1 6 "$DIGEST6"
[ "$(grep -c "serial 6 committed by node-a1" "$LOG")" = 1 ] ||
	tdm_fail "the replayed commit was applied twice" -- "$LOG"
expect_rc 5 "the same request id with another body" \
	as node-a1 -r 7 -T "$T" commit "$ZONE" node-a1 1 8 "$DIGEST"
tdm_assert_grep "replay logged" 'request id reused' "$LOG"
expect_rc 5 "a request from outside the time window" \
	as node-a1 -T $((T - 120000)) heartbeat node-a1 1
tdm_pass "replays refused, retries harmless"

# ---- status ---------------------------------------------------------------------------------
# a node counts as healthy only while heard within the node timeout: on a loaded machine the
# steps above can outlast it, so both report in just before the status is read
tdm_assert_ok "node-a1 reports in" as node-a1 heartbeat node-a1 1
tdm_assert_ok "node-b1 reports in" as node-b1 heartbeat node-b1 1
tdm_assert_ok "status" as node-b1 status
tdm_assert_grep "holder shown" "^zone $ZONE holder=node-a1 epoch=1 serial=6 left_ms=[1-9]" "$TDM_OUT"
tdm_assert_grep "node-a1 shown" '^node node-a1 site=A state=up healthy=1 publish=/srv/a1$' "$TDM_OUT"
tdm_assert_grep "node-b1 shown" '^node node-b1 site=B state=up healthy=1 publish=/srv/b1$' "$TDM_OUT"
tdm_assert_grep "coordinator and parameters" \
	'^coordinator coord-a leader=coord-[ab] lease_ms=10000 margin_ms=2000 nsites=2 modulus=2$' "$TDM_OUT"

# ---- roles --------------------------------------------------------------------------------
expect_rc 5 "a node sending an operator request" as node-a1 zone-add other.example. 0
tdm_assert_grep "role named" 'operator role' "$TDM_ERR"
expect_rc 5 "an operator sending a node request" as op1 heartbeat op1 1
tdm_assert_grep "role named" 'must come from that node' "$TDM_ERR"
tdm_assert_grep "refused operator request audited" \
	'audit: operator op1: coord.heartbeat -: refused: ' "$LOG"
tdm_pass "roles enforced both ways"

# ---- operator requests ---------------------------------------------------------------------
tdm_assert_ok "operator adds a zone" as op1 zone-add other.example. 0
tdm_assert_grep "zone add audited" \
	'audit: operator op1: coord.zone.add zone=other.example. compare_digests=no: accepted' "$LOG"
tdm_assert_ok "operator drains node-b1" as op1 drain node-b1
tdm_assert_ok "status" as op1 status
tdm_assert_grep "node-b1 drained" '^node node-b1 site=B state=drained ' "$TDM_OUT"
tdm_assert_ok "operator undrains node-b1" as2 op1 undrain node-b1
tdm_assert_grep "undrain audited on coord-b" 'audit: operator op1: coord.undrain node=node-b1: accepted' "$LOG2"
tdm_assert_ok "node-a1 renews" as node-a1 renew "$ZONE" node-a1 1
tdm_assert_ok "operator switches the zone over to node-b1" as op1 switchover "$ZONE" node-b1
tdm_assert_grep "switchover effect" '^effect: ' "$TDM_OUT"
tdm_assert_ok "status" as op1 status
tdm_assert_grep "switchover pending" "^zone $ZONE holder=node-a1 .* switch_to=node-b1 " "$TDM_OUT"
tdm_pass "operator requests decided and audited"

# ---- keys -----------------------------------------------------------------------------------
printf 'wrapped key entry \001\002\377' >"$TDM_TMP/archive7"
ARCHIVE_HEX=$(od -An -tx1 -v "$TDM_TMP/archive7" | tr -d ' \n')
tdm_assert_ok "node-a1 adds key 7" as node-a1 key-add "$ZONE" node-a1 7 4242 "$TDM_TMP/archive7"
expect_rc 2 "activation before site B acks" as node-a1 key-activate "$ZONE" node-a1 7
tdm_assert_grep "missing site named" '^refused .*site B' "$TDM_OUT"
expect_rc 2 "the same key id again" as2 node-b1 key-add "$ZONE" node-b1 7 4242 "$TDM_TMP/archive7"
tdm_assert_ok "node-b1 acks key 7" as2 node-b1 key-ack "$ZONE" node-b1 7
tdm_assert_ok "activation once both sites hold it" as node-a1 key-activate "$ZONE" node-a1 7
expect_rc 2 "removing a key the key set has not removed" as node-a1 key-remove "$ZONE" node-a1 7
tdm_assert_grep "removal refused with the reason" 'not removed' "$TDM_OUT"
tdm_assert_ok "keys.get" as2 op1 keys "$ZONE"
tdm_assert_grep "archive and acks returned" \
	"^key 7 tag=4242 active=1 acks=node-a1,node-b1 archive=$ARCHIVE_HEX\$" "$TDM_OUT"
tdm_pass "key add, ack, activate, keys.get"

# ---- the zone's key set ---------------------------------------------------------------------
for n in 1 2 3; do
	"$DRIVER" keyset-make "$ZONE" "policy-$n.yaml" "$TDM_TMP/keyset$n" || tdm_fail "keyset-make $n"
done
"$DRIVER" keyset-make other.example. policy-x.yaml "$TDM_TMP/keyset-other" || tdm_fail "keyset-make other"
printf 'not a key set' >"$TDM_TMP/keyset-garbage"
tdm_assert_ok "node-a1 renews" as node-a1 renew "$ZONE" node-a1 1
tdm_assert_ok "keyset.get before any put" as node-b1 keyset-get "$ZONE"
tdm_assert_grep "none yet" "^keyset $ZONE revision=0 bytes=0\$" "$TDM_OUT"
tdm_assert_ok "the holder writes the first key set" as node-a1 keyset-put "$ZONE" node-a1 1 0 "$TDM_TMP/keyset1"
REV1=$(awk '$1 == "revision" { print $2 }' "$TDM_OUT")
[ "${REV1:-0}" -gt 0 ] || tdm_fail "no revision in the decision" -- "$TDM_OUT"
expect_rc 2 "a second put at revision 0" as2 node-a1 keyset-put "$ZONE" node-a1 1 0 "$TDM_TMP/keyset2"
tdm_assert_grep "refused as a conflict" "^refused key set changed: zone $ZONE: the key set changed since revision 0" "$TDM_OUT"
tdm_assert_ok "a put at the returned revision, through coord-b" \
	as2 node-a1 keyset-put "$ZONE" node-a1 1 "$REV1" "$TDM_TMP/keyset2"
REV2=$(awk '$1 == "revision" { print $2 }' "$TDM_OUT")
[ "${REV2:-0}" -gt "$REV1" ] || tdm_fail "revision did not rise: $REV1 -> $REV2" -- "$TDM_OUT"
tdm_assert_grep "accepted write logged" "coord.keyset.put from node-a1: zone $ZONE: key set written at revision $REV2" "$LOG2"
expect_rc 2 "a put by the non-holder" as node-b1 keyset-put "$ZONE" node-b1 1 "$REV2" "$TDM_TMP/keyset3"
tdm_assert_grep "not the holder" '^refused not the lease holder' "$TDM_OUT"
expect_rc 2 "a put with a stale epoch" as node-a1 keyset-put "$ZONE" node-a1 0 "$REV2" "$TDM_TMP/keyset3"
tdm_assert_grep "stale epoch" '^refused stale epoch' "$TDM_OUT"
expect_rc 5 "node-b1 speaking for node-a1" as node-b1 keyset-put "$ZONE" node-a1 1 "$REV2" "$TDM_TMP/keyset3"
tdm_assert_grep "sender named" 'must come from that node' "$TDM_ERR"
tdm_assert_ok "an operator writes the key set" as op1 keyset-put "$ZONE" - 0 "$REV2" "$TDM_TMP/keyset3"
REV3=$(awk '$1 == "revision" { print $2 }' "$TDM_OUT")
tdm_assert_grep "operator put audited" \
	"audit: operator op1: coord.keyset.put zone=$ZONE revision=$REV2: accepted: zone $ZONE: key set written at revision $REV3\$" "$LOG"
expect_rc 2 "an operator put at a stale revision" as op1 keyset-put "$ZONE" - 0 "$REV2" "$TDM_TMP/keyset1"
tdm_assert_grep "stale operator put audited" \
	"audit: operator op1: coord.keyset.put zone=$ZONE revision=$REV2: refused: zone $ZONE: the key set changed since revision $REV2" "$LOG"
expect_rc 5 "garbage bytes" as op1 keyset-put "$ZONE" - 0 "$REV3" "$TDM_TMP/keyset-garbage"
tdm_assert_grep "garbage named" 'coord.keyset.put: keyset: ' "$TDM_ERR"
expect_rc 5 "another zone's key set" as node-a1 keyset-put "$ZONE" node-a1 1 "$REV3" "$TDM_TMP/keyset-other"
tdm_assert_grep "zone mismatch named" 'the key set of zone other.example., not of' "$TDM_ERR"
tdm_assert_ok "keyset.get" as node-b1 keyset-get "$ZONE" "$TDM_TMP/keyset-got"
tdm_assert_grep "last revision" "^keyset $ZONE revision=$REV3 bytes=" "$TDM_OUT"
cmp -s "$TDM_TMP/keyset3" "$TDM_TMP/keyset-got" || tdm_fail "keyset.get did not return the last bytes written"
# an offline-KSK zone's key set (its imported KSKs) is written before the zone is added:
# only by an operator
tdm_assert_ok "keyset.get of a zone not added yet" as op1 keyset-get nowhere.example.
tdm_assert_grep "none yet" '^keyset nowhere.example. revision=0 bytes=0$' "$TDM_OUT"
"$DRIVER" keyset-make nowhere.example. policy-x.yaml "$TDM_TMP/keyset-nowhere" || tdm_fail "keyset-make nowhere"
expect_rc 2 "a node's put for a zone not added" as node-a1 keyset-put nowhere.example. node-a1 1 0 "$TDM_TMP/keyset-nowhere"
tdm_assert_grep "unknown zone named" 'zone nowhere.example.: not known' "$TDM_OUT"
tdm_assert_ok "an operator's put for a zone not added yet" as op1 keyset-put nowhere.example. - 0 0 "$TDM_TMP/keyset-nowhere"
# the SKR book: only for a zone of the cluster, and only bytes that are a valid book
expect_rc 5 "skr.get of an unknown zone" as op1 skr-get nowhere.example.
tdm_assert_grep "unknown zone named" 'zone nowhere.example. is not known' "$TDM_ERR"
tdm_assert_ok "skr.get before any put" as node-b1 skr-get "$ZONE"
tdm_assert_grep "no book yet" "^skr $ZONE revision=0 bytes=0\$" "$TDM_OUT"
expect_rc 5 "garbage as an SKR book" as op1 skr-put "$ZONE" - 0 0 "$TDM_TMP/keyset-garbage"
tdm_assert_grep "book refusal named" 'coord.skr.put: SKR book: ' "$TDM_ERR"
expect_rc 5 "a key set as an SKR book" as op1 skr-put "$ZONE" - 0 0 "$TDM_TMP/keyset3"
tdm_pass "key set: conditional puts by the holder and the operator, reads"

# ---- tandemctl on the cluster's key set -----------------------------------------------------
CTL=$TDM_BUILD/src/tools/tandemctl
[ -x "$CTL" ] || tdm_fail "tandemctl not found at $CTL"
ctl() {
	TANDEM_COORD="$EP,$EP2" TANDEM_COORD_PUB="$K/coord.pub,$K/coord.pub" TANDEM_KEY="$K/op1.secret" \
		timeout 30 "$CTL" "$@"
}
KT0=1767225600 # 2026-01-01
"$DRIVER" keyset-make "$ZONE" dps-default "$TDM_TMP/keyset-keys" "$KT0" || tdm_fail "keyset-make with keys"
tdm_assert_ok "the first keys, written by the operator" as op1 keyset-put "$ZONE" - 0 "$REV3" "$TDM_TMP/keyset-keys"
REV4=$(awk '$1 == "revision" { print $2 }' "$TDM_OUT")
tdm_assert_ok "keys list --cluster" ctl keys list --cluster --zone "${ZONE%.}" --now $((KT0 + 60))
tdm_assert_grep "active KSK listed" '^1 +ksk +[0-9]+ +[0-9]+ +active ' "$TDM_OUT"
tdm_assert_grep "active ZSK listed" '^2 +zsk +[0-9]+ +[0-9]+ +active ' "$TDM_OUT" # DPS: no standby
tdm_assert_ok "keys list --cluster saves nothing" as op1 keyset-get "$ZONE"
tdm_assert_grep "revision unchanged" "^keyset $ZONE revision=$REV4 " "$TDM_OUT"
tdm_assert_ok "keys rollover --cluster" ctl keys rollover --cluster --zone "$ZONE" --role zsk --now $((KT0 + 120))
tdm_assert_grep "written back" "^key set of $ZONE written at revision [0-9]" "$TDM_OUT"
REV5=$(sed -n "s/^key set of $ZONE written at revision \([0-9]*\)\$/\1/p" "$TDM_OUT")
[ "${REV5:-0}" -gt "$REV4" ] || tdm_fail "rollover: revision $REV4 -> ${REV5:-none}" -- "$TDM_OUT"
tdm_assert_grep "rollover written by the operator, audited" \
	"audit: operator op1: coord.keyset.put zone=$ZONE revision=$REV4: accepted" "$LOG"
expect_rc 2 "ds-seen --cluster of an unknown key" ctl keys ds-seen --cluster --zone "$ZONE" --key 99 --now $((KT0 + 180))
expect_rc 4 "keys generate --cluster" ctl keys generate --cluster --zone "$ZONE"
tdm_assert_grep "the holder makes keys" "lease holder makes keys" "$TDM_ERR"
expect_rc 1 "--state and --cluster together" ctl keys list --cluster --state "$TDM_TMP" --zone "$ZONE"
tdm_assert_ok "a coordinator key with a kasp key's id" as node-a1 key-add "$ZONE" node-a1 1 4243 "$TDM_TMP/archive7"
tdm_assert_ok "tandemctl status" ctl status
tdm_assert_grep "kasp keys in the status" '^    kasp key 1 ksk active, DS ' "$TDM_OUT"
tdm_assert_grep "key set revision in the status" "^    key set revision $REV5, 2 key" "$TDM_OUT"
tdm_assert_ok "tandemctl status --json" ctl status --json
python3 - "$TDM_OUT" "$ZONE" "$REV5" <<'PY' || tdm_fail "status --json: key set fields" -- "$TDM_OUT"
import json, sys
st = json.load(open(sys.argv[1]))
z = [z for z in st["zones"] if z["name"] == sys.argv[2]][0]
assert z["keyset_revision"] == int(sys.argv[3]), z["keyset_revision"]
keys = {k["id"]: k for k in z["keys"]}
assert keys[1]["role"] == "ksk" and keys[1]["state"] == "active" and keys[1]["ds"], keys[1]
assert keys[7]["role"] is None and keys[7]["state"] is None and keys[7]["ds"] is None, keys[7]
other = [z for z in st["zones"] if z["name"] == "other.example."][0]
assert other["keyset_revision"] is None and other["signed_keyset_revision"] is None, other
PY
tdm_pass "tandemctl keys --cluster and status on the cluster's key set"

# An offline-KSK zone in the cluster: its KSKs' DNSKEYs go into the key set before the zone is
# added (ksk-import --cluster); ksr --cluster leaves an ask in the zone's SKR book and waits
# for the lease holder to record the request. No tandemd runs here: the test plays the holder
# (skr-put of a book it makes), and with nobody playing it ksr times out and leaves its ask.
# skr-import --cluster checks a response against the book's requests.
tdm_need dnssec-keygen
OZ=offline.example.
mkdir -p "$TDM_TMP/okeys"
KSKF=$TDM_TMP/okeys/$(dnssec-keygen -q -K "$TDM_TMP/okeys" -a RSASHA256 -b 2048 -f KSK -n ZONE "$OZ").key
ZSKF=$TDM_TMP/okeys/$(dnssec-keygen -q -K "$TDM_TMP/okeys" -a RSASHA256 -b 1024 -n ZONE "$OZ").key
[ -f "$KSKF" ] || tdm_fail "dnssec-keygen made no KSK file"
[ -f "$ZSKF" ] || tdm_fail "dnssec-keygen made no ZSK file"
KSKTAG=$(sed -n 's/.*keyid \([0-9]*\),.*/\1/p' "$KSKF")
# skrpb response OUT START [ASKHEX REQFILE SIGNEDZONE]: a response for the one-slot request
# from START (the KSK and the ZSK): well formed but not signed, to a request id no book holds;
# or the one for request REQFILE (id ASKHEX) with the KSK's RRSIG over the DNSKEY RRset from
# SIGNEDZONE (dnssec-signzone -O full). skrpb book OUT START ASKHEX REFUSED [REQOUT]: an SKR
# book with that ask and, with REQOUT, the request the holder made for it (that one slot),
# also written to REQOUT. Protobuf (proto/skr.proto) by hand: python3 has no protobuf module.
cat >"$TDM_TMP/skrpb.py" <<'PY'
import base64, calendar, hashlib, sys, time
def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out
def vi(f, n): return varint(f << 3) + varint(n)
def ld(f, b): return varint(f << 3 | 2) + varint(len(b)) + b
def rdata(path):
    rr = [l for l in open(path) if not l.startswith(";")][0].split()
    return int(rr[3]).to_bytes(2, "big") + bytes([int(rr[4]), int(rr[5])]) + base64.b64decode("".join(rr[6:]))
ksk, zsk, zone, cmd, out, start = sys.argv[1], sys.argv[2], sys.argv[3].encode(), sys.argv[4], sys.argv[5], int(sys.argv[6])
keys = sorted([rdata(ksk), rdata(zsk)])
slot = (vi(1, start) + vi(2, start + 86400) + vi(3, start - 3600) + vi(4, start + 6 * 86400)
        + vi(5, 3600) + b"".join(ld(6, k) for k in keys) + vi(7, keys.index(rdata(ksk))))
def name(n): return b"".join(bytes([len(l)]) + l.lower().encode() for l in n.rstrip(".").split(".")) + b"\0"
def epoch(t): return calendar.timegm(time.strptime(t, "%Y%m%d%H%M%S"))
def rrsig(path):
    f = [l.split() for l in open(path) if l.split()[3:5] == ["RRSIG", "DNSKEY"]][0]
    return (bytes([0, 48, int(f[5]), int(f[6])]) + int(f[7]).to_bytes(4, "big")
            + epoch(f[8]).to_bytes(4, "big") + epoch(f[9]).to_bytes(4, "big")
            + int(f[10]).to_bytes(2, "big") + name(f[11]) + base64.b64decode("".join(f[12:])))
if cmd == "response" and len(sys.argv) > 7:
    req_id, req_hash = bytes.fromhex(sys.argv[7]), hashlib.sha256(open(sys.argv[8], "rb").read()).digest()
    data = (vi(1, 1) + ld(2, zone) + ld(3, req_id) + ld(4, req_hash) + vi(5, start)
            + ld(6, slot + ld(8, rrsig(sys.argv[9]))))
elif cmd == "response":
    data = (vi(1, 1) + ld(2, zone) + ld(3, bytes(range(16))) + ld(4, bytes(32)) + vi(5, start)
            + ld(6, slot + ld(8, bytes(64))))
else:
    ask_id, refused = bytes.fromhex(sys.argv[7]), sys.argv[8].encode()
    ask = (ld(1, ask_id) + vi(2, start) + vi(3, 10 * 86400) + vi(4, 9) + vi(5, 3600) + vi(6, 5 * 86400)
           + vi(7, start) + ld(8, refused))
    data = vi(1, 1) + ld(2, zone) + ld(3, ask)
    if len(sys.argv) > 9:
        req = vi(1, 1) + ld(2, zone) + ld(3, ask_id) + vi(4, start) + ld(5, slot)
        open(sys.argv[9], "wb").write(req)
        data += ld(4, ld(1, req))
open(out, "wb").write(data)
PY
skrpb() { python3 "$TDM_TMP/skrpb.py" "$KSKF" "$ZSKF" "$OZ" "$@" || tdm_fail "skrpb $1 failed"; }
# ksr_bg NAME ARGS...: keys ksr --cluster of the offline zone in the background (KSR_PID,
# NAME.out, NAME.err); waits for its ask and sets ASK (its id) and RSKR (the book's revision)
ksr_bg() {
	local name=$1
	shift
	ctl keys ksr --cluster --zone "$OZ" "$@" >"$TDM_TMP/$name.out" 2>"$TDM_TMP/$name.err" &
	KSR_PID=$!
	ASK=
	for _ in $(seq 1 100); do
		ASK=$(sed -n 's/^asked the lease holder of .* (ask \([0-9a-f]*\), .*/\1/p' "$TDM_TMP/$name.out")
		[ -z "$ASK" ] || break
		sleep 0.1
	done
	[ "${#ASK}" -eq 32 ] || tdm_fail "$name: no ask id printed" -- "$TDM_TMP/$name.out" "$TDM_TMP/$name.err"
	tdm_assert_ok "skr.get" as op1 skr-get "$OZ"
	RSKR=$(sed -n "s/^skr $OZ revision=\([0-9]*\) .*/\1/p" "$TDM_OUT")
}
# ksr_rc NAME: waits for the background ksr; sets TDM_RC, TDM_OUT, TDM_ERR
ksr_rc() {
	TDM_RC=0
	wait "$KSR_PID" || TDM_RC=$?
	TDM_OUT=$TDM_TMP/$1.out
	TDM_ERR=$TDM_TMP/$1.err
}

expect_rc 1 "ksk-import: neither --state nor --cluster" "$CTL" keys ksk-import --zone "$OZ" "$KSKF"
expect_rc 1 "ksr: --state with --cluster" ctl keys ksr --cluster --state "$TDM_TMP" --zone "$OZ" --out "$TDM_TMP/x.ksr"
expect_rc 1 "ksk-import --cluster of a new zone without -p" ctl keys ksk-import --cluster --zone "$OZ" "$KSKF"
tdm_assert_grep "asks for -p" 'give -p POLICY' "$TDM_ERR"
tdm_assert_ok "ksk-import --cluster, zone not added yet" \
	ctl keys ksk-import --cluster --zone "${OZ%.}" -p dps-default --now "$KT0" "$KSKF"
tdm_assert_grep "KSK imported" "^imported offline KSK $KSKTAG as key 1 \(offline:ksk-$KSKTAG\)" "$TDM_OUT"
tdm_assert_grep "key set written" "^key set of $OZ written at revision [0-9]" "$TDM_OUT"
ROZ=$(sed -n "s/^key set of $OZ written at revision \([0-9]*\)\$/\1/p" "$TDM_OUT")
tdm_assert_ok "keys list --cluster of the offline zone" ctl keys list --cluster --zone "$OZ" --now $((KT0 + 60))
tdm_assert_grep "offline KSK listed" "^1 +ksk +8 +$KSKTAG .* offline:ksk-$KSKTAG\$" "$TDM_OUT"
tdm_assert_grep "not in the cluster yet" '^SKR book: none \(the zone is not in the cluster yet' "$TDM_OUT"
expect_rc 2 "ksk-import --cluster of a ZSK" ctl keys ksk-import --cluster --zone "$OZ" --now "$KT0" "$ZSKF"
tdm_assert_grep "not a KSK" 'is not a KSK .*nothing changed' "$TDM_ERR"
tdm_assert_ok "keyset.get" as op1 keyset-get "$OZ"
tdm_assert_grep "nothing written" "^keyset $OZ revision=$ROZ " "$TDM_OUT"
expect_rc 4 "ksk-import --cluster into a zone with online KSKs" \
	ctl keys ksk-import --cluster --zone "$ZONE" --now "$KT0" "$KSKF"
tdm_assert_grep "imported before zone add" "imported before 'tandemctl zone add'; nothing changed" "$TDM_ERR"
tdm_assert_ok "keyset.get" as op1 keyset-get "$ZONE"
tdm_assert_grep "nothing written" "^keyset $ZONE revision=$REV5 " "$TDM_OUT"
expect_rc 4 "ksr --cluster of a zone without an offline KSK" \
	ctl keys ksr --cluster --zone "$ZONE" --out "$TDM_TMP/x.ksr" --wait 2
tdm_assert_grep "no offline KSK" 'has no offline KSK' "$TDM_ERR"
expect_rc 2 "ksr --cluster before zone add" ctl keys ksr --cluster --zone "$OZ" --out "$TDM_TMP/x.ksr" --wait 2
tdm_assert_grep "zone add asked for" "zone $OZ is not in the cluster" "$TDM_ERR"
tdm_assert_ok "zone add of the offline zone" ctl zone add "$OZ"

t0=$(date +%s)
expect_rc 5 "ksr --cluster with no lease holder" \
	ctl keys ksr --cluster --zone "$OZ" --out "$TDM_TMP/o.ksr" --start $((KT0 + 86400)) --wait 2 --now "$KT0"
[ $(($(date +%s) - t0)) -le 10 ] || tdm_fail "ksr --cluster --wait 2 took $(($(date +%s) - t0)) s"
ASK=$(sed -n 's/^asked the lease holder of .* (ask \([0-9a-f]*\), .*/\1/p' "$TDM_OUT")
[ "${#ASK}" -eq 32 ] || tdm_fail "ksr --cluster: no ask id printed" -- "$TDM_OUT"
tdm_assert_grep "timeout names the zone and the status" "zone $OZ: .*tandemctl status" "$TDM_ERR"
[ ! -e "$TDM_TMP/o.ksr" ] || tdm_fail "ksr --cluster wrote a request after a timeout"
tdm_assert_ok "keys list --cluster shows the open ask" ctl keys list --cluster --zone "$OZ" --now $((KT0 + 60))
tdm_assert_grep "book listed" '^SKR book revision [0-9]+: 0 request\(s\)$' "$TDM_OUT"
tdm_assert_grep "ask left in the book" \
	"^ask $ASK  asked 2026-01-01T00:00:00Z  for 2026-01-02T00:00:00Z \.\. 2026-04-02T00:00:00Z  9 slots  waiting for the lease holder" "$TDM_OUT"
tdm_assert_grep "nothing pre-signed" '^no signed DNSKEY RRset covers now' "$TDM_OUT"

# the holder cannot plan: it says why in the ask
ksr_bg ksr-refused --out "$TDM_TMP/o.ksr" --wait 20 --now "$KT0"
skrpb book "$TDM_TMP/book-refused" "$KT0" "$ASK" "no HSM session"
tdm_assert_ok "the holder refuses the ask" as op1 skr-put "$OZ" - 0 "$RSKR" "$TDM_TMP/book-refused"
ksr_rc ksr-refused
[ "$TDM_RC" -eq 4 ] || tdm_fail "ksr --cluster refused by the holder: expected exit 4, got $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
tdm_assert_grep "the holder's reason" '^tandemctl keys ksr: the lease holder cannot plan: no HSM session$' "$TDM_ERR"
tdm_assert_ok "keys list --cluster shows the refusal" ctl keys list --cluster --zone "$OZ" --now "$KT0"
tdm_assert_grep "refusal listed" "^ask $ASK .* refused by the lease holder: no HSM session\$" "$TDM_OUT"
# another ksr's ask replaces this one's
ksr_bg ksr-replaced --out "$TDM_TMP/o.ksr" --wait 20 --now "$KT0"
skrpb book "$TDM_TMP/book-other" "$KT0" 00112233445566778899aabbccddeeff ""
tdm_assert_ok "another ask" as op1 skr-put "$OZ" - 0 "$RSKR" "$TDM_TMP/book-other"
ksr_rc ksr-replaced
[ "$TDM_RC" -eq 4 ] || tdm_fail "ksr --cluster replaced: expected exit 4, got $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
tdm_assert_grep "replaced, said so" 'another .tandemctl keys ksr. replaced' "$TDM_ERR"
# the holder records the request (a slot from tomorrow: dnssec-signzone signs it below): ksr
# writes its exact bytes
S0=$(($(date +%s) / 3600 * 3600 + 86400))
S0T=$(date -u -d "@$S0" +%Y-%m-%dT%H:%M:%SZ)
S1T=$(date -u -d "@$((S0 + 86400))" +%Y-%m-%dT%H:%M:%SZ)
ksr_bg ksr-ok --out "$TDM_TMP/o.ksr" --wait 20 --now "$KT0"
skrpb book "$TDM_TMP/book-ok" "$S0" "$ASK" "" "$TDM_TMP/made.ksr"
tdm_assert_ok "the holder records the request" as op1 skr-put "$OZ" - 0 "$RSKR" "$TDM_TMP/book-ok"
ksr_rc ksr-ok
[ "$TDM_RC" -eq 0 ] || tdm_fail "ksr --cluster: expected success, got exit $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
tdm_assert_grep "request summary" "^key signing request $ASK for $OZ: $S0T \.\. $S1T, 1 slots\$" "$TDM_OUT"
tdm_assert_grep "its slot, the KSK signing" "^slot  1  $S0T \.\. $S1T  keys .*\b$KSKTAG\*" "$TDM_OUT"
tdm_assert_grep "where it went" "^written to $TDM_TMP/o.ksr " "$TDM_OUT"
cmp -s "$TDM_TMP/made.ksr" "$TDM_TMP/o.ksr" || tdm_fail "ksr --cluster did not write the holder's request bytes"
tdm_assert_ok "keys list --cluster shows the request" ctl keys list --cluster --zone "$OZ" --now "$S0"
tdm_assert_grep "request listed" "^request $ASK  $S0T \.\. $S1T  1 slots  awaiting the KSK ceremony\$" "$TDM_OUT"
tdm_assert_grep "ask answered" "^ask $ASK .* planned: the request with this id\$" "$TDM_OUT"
tdm_assert_grep "nothing pre-signed yet" '^no signed DNSKEY RRset covers now' "$TDM_OUT"
tdm_pass "keys ksr --cluster: timeout, refusal, replacement, the holder's request"

tdm_assert_ok "skr.get" as op1 skr-get "$OZ"
RSKR=$(sed -n "s/^skr $OZ revision=\([0-9]*\) .*/\1/p" "$TDM_OUT")
printf 'not a signed key response' >"$TDM_TMP/garbage.skr"
expect_rc 2 "skr-import --cluster of garbage" ctl keys skr-import --cluster --now "$KT0" "$TDM_TMP/garbage.skr"
tdm_assert_grep "garbage refused" 'garbage.skr refused; nothing changed' "$TDM_ERR"
skrpb response "$TDM_TMP/unknown.skr" $((KT0 + 86400))
expect_rc 4 "skr-import --cluster of a response to an unknown request" \
	ctl keys skr-import --cluster --now "$KT0" "$TDM_TMP/unknown.skr"
tdm_assert_grep "unknown request named" "answers no request of $OZ in the cluster" "$TDM_ERR"
tdm_assert_grep "nothing changed" 'unknown.skr refused; nothing changed' "$TDM_ERR"
tdm_assert_ok "skr.get" as op1 skr-get "$OZ"
tdm_assert_grep "book unchanged" "^skr $OZ revision=$RSKR " "$TDM_OUT"
# the ceremony, played by dnssec-signzone: the KSK's RRSIG over the slot's DNSKEY RRset
{
	printf '%s 3600 IN SOA ns.%s h.%s 1 3600 600 86400 300\n' "$OZ" "$OZ" "$OZ"
	printf '%s 3600 IN NS ns.%s\nns.%s 3600 IN A 192.0.2.1\n' "$OZ" "$OZ" "$OZ"
	grep -hv '^;' "$KSKF" "$ZSKF" | sed 's/ IN DNSKEY / 3600 IN DNSKEY /'
} >"$TDM_TMP/ceremony.zone"
dnssec-signzone -P -q -O full -K "$TDM_TMP/okeys" -d "$TDM_TMP" -x -s $((S0 - 3600)) -e $((S0 + 6 * 86400)) -o "$OZ" \
	-f "$TDM_TMP/ceremony.signed" "$TDM_TMP/ceremony.zone" "${KSKF%.key}" "${ZSKF%.key}" >/dev/null ||
	tdm_fail "dnssec-signzone failed"
skrpb response "$TDM_TMP/signed.skr" "$S0" "$ASK" "$TDM_TMP/o.ksr" "$TDM_TMP/ceremony.signed"
tdm_assert_ok "skr-import --cluster of the signed response" ctl keys skr-import --cluster --now "$S0" "$TDM_TMP/signed.skr"
tdm_assert_grep "accepted" "^signed key response for $OZ accepted: 1 slots, $S0T \.\. $S1T\$" "$TDM_OUT"
tdm_assert_grep "DS warning" "^warning: the parent does not serve KSK $KSKTAG's DS yet" "$TDM_OUT"
tdm_assert_grep "recorded" "^recorded in the cluster's SKR book of $OZ at revision [0-9]+ \(request $ASK\)" "$TDM_OUT"
tdm_assert_ok "skr.get" as op1 skr-get "$OZ" "$TDM_TMP/book-got"
[ "$(sed -n "s/^skr $OZ revision=\([0-9]*\) .*/\1/p" "$TDM_OUT")" -gt "$RSKR" ] || tdm_fail "the book was not written" -- "$TDM_OUT"
tdm_assert_ok "keys list --cluster shows the signed request" ctl keys list --cluster --zone "$OZ" --now "$S0"
tdm_assert_grep "signed" "^request $ASK  $S0T \.\. $S1T  1 slots  signed " "$TDM_OUT"
tdm_assert_grep "covered" "^pre-signed DNSKEY RRsets cover until $S1T\$" "$TDM_OUT"
expect_rc 4 "the same response, after its period" \
	ctl keys skr-import --cluster --now $((S0 + 86400)) "$TDM_TMP/signed.skr"
tdm_assert_grep "nothing changed" 'signed.skr refused; nothing changed' "$TDM_ERR"
tdm_pass "tandemctl keys ksk-import, ksr, skr-import --cluster"

# ---- malformed requests ---------------------------------------------------------------------
expect_rc 5 "an undecodable body" as node-a1 raw coord.commit ffffffff0f
tdm_assert_grep "undecodable named" 'undecodable' "$TDM_ERR"
expect_rc 5 "another version" as node-a1 raw coord.status 0802
tdm_assert_grep "version named" 'coord.status: field version: 2' "$TDM_ERR"
expect_rc 5 "an unknown type" as node-a1 raw coord.bogus -
tdm_pass "malformed requests refused"

# ---- forced takeover and fencing across coordinators ----------------------------------------
expect_rc 2 "takeover without force" as op1 takeover A
tdm_assert_grep "force asked for" '^refused .*force' "$TDM_OUT"
tdm_assert_grep "unforced takeover audited" 'audit: operator op1: coord.takeover site=A force=no: refused' "$LOG"
tdm_assert_ok "node-b1 answered by coord-b before the takeover" as2 node-b1 heartbeat node-b1 1
tdm_assert_ok "takeover by site A, forced, through coord-a" as op1 takeover A force
t0=$(date +%s%N)
tdm_assert_grep "fence effect" '^effect: .*node-b1' "$TDM_OUT"
fenced=
while [ $((($(date +%s%N) - t0) / 1000000)) -lt 3000 ]; do
	tdm_run fenced timeout 10 "$DRIVER" -e "$EP2" -s "$K/coord.pub" -k "$K/node-b1.secret" \
		-t 300 -a 1 heartbeat node-b1 1
	if [ "$TDM_RC" -eq 4 ]; then
		fenced=yes
		break
	fi
	[ "$TDM_RC" -eq 2 ] || tdm_fail "node-b1 after the takeover: expected refusal or no answer, got $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
done
[ -n "$fenced" ] || tdm_fail "coord-b still answers node-b1 3 s after the takeover" -- "$LOG2"
tdm_assert_grep "revocation logged by coord-b" 'fence: revoked key .* \(node-b1\)' "$LOG2"
expect_rc 4 "coord-a does not answer node-b1 either" timeout 10 "$DRIVER" -e "$EP" \
	-s "$K/coord.pub" -k "$K/node-b1.secret" -t 300 -a 1 status
tdm_assert_ok "status" as op1 status
tdm_assert_grep "node-b1 fenced" '^node node-b1 site=B state=fenced ' "$TDM_OUT"
[ "$(grep -c 'fence: revoked key .* (node-b1)' "$LOG2")" -eq 1 ] || tdm_fail "revocation logged more than once" -- "$LOG2"
tdm_pass "takeover fences node-b1 on both coordinators"

# ---- an unknown key -------------------------------------------------------------------------
t0=$(date +%s)
tdm_run stranger timeout 20 "$DRIVER" -e "$EP" -s "$K/coord.pub" -k "$K/stranger.secret" \
	-t 500 -a 2 status
[ "$TDM_RC" -eq 4 ] || tdm_fail "unknown key: expected no answer (exit 4), got $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
[ $(($(date +%s) - t0)) -le 5 ] || tdm_fail "unknown key: the wait was not bounded"
for _ in $(seq 1 50); do
	grep -qF -- "$(pub stranger)" "$LOG" && break
	sleep 0.1
done
grep -F -- "$(pub stranger)" "$LOG" | grep 'refused connection' >/dev/null ||
	tdm_fail "the stranger's refusal is not in the daemon's log" -- "$LOG"
if grep -qF -- "$(awk '$1 == "secret" { print $2 }' "$K/coord.secret")" "$LOG" "$LOG2"; then
	tdm_fail "the coordinator's secret key is in its log"
fi
tdm_pass "unknown key unanswered and logged"

# ---- SIGTERM --------------------------------------------------------------------------------
kill -TERM "$COORD_PID"
rc=
for _ in $(seq 1 100); do
	if ! kill -0 "$COORD_PID" 2>/dev/null; then
		rc=0
		wait "$COORD_PID" || rc=$?
		break
	fi
	sleep 0.1
done
[ -n "$rc" ] || tdm_fail "tandem-coord did not stop within 10 s of SIGTERM" -- "$LOG"
COORD_PID=
[ "$rc" -eq 0 ] || tdm_fail "tandem-coord exited $rc after SIGTERM" -- "$LOG"
[ ! -e "$TDM_TMP/coord-a.pid" ] || tdm_fail "pid file left behind"
tdm_pass "SIGTERM: clean exit"
