#!/bin/bash
# tandem-coord --no-compare-digests (config key no-compare-digests): the zones of its zone list
# are added without the standbys' digest comparison, as ECDSA and EdDSA zones need (their
# signatures differ at each signing: compared, every shadow run would raise "digest
# mismatch"). Without it they are compared (RSA); a zone already in the cluster keeps what it
# was added with.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=etcd.sh
source "$(dirname "$0")/etcd.sh"
tdm_setup "$@"
tdm_need etcd python3 timeout
COORD=$TDM_BUILD/src/coordd/tandem-coord
CTL=$TDM_BUILD/src/tools/tandemctl
TDM_ETCD_DIR=$TDM_TMP/etcd
tdm_etcd_start 1
for who in coord op; do
	"$CTL" net keygen --public "$TDM_TMP/$who.pub" --secret "$TDM_TMP/$who.secret" >/dev/null || tdm_fail "keygen $who"
done
printf 'op operator %s\n' "$(awk '$1 == "public" { print $2 }' "$TDM_TMP/op.pub")" >"$TDM_TMP/allow"
PID=
stop() { [ -z "$PID" ] || { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; }
tdm_on_exit stop
# run N ARGS...: the coordinator (run N) with ARGS; EP its endpoint
run() {
	local n=$1
	shift
	stop
	"$COORD" --insecure-etcd --etcd "$(tdm_etcd_endpoints)" --listen 'tcp://127.0.0.1:*' \
		--key "$TDM_TMP/coord.secret" --allow "$TDM_TMP/allow" --name coord-a --prefix /test/compare/ \
		--audit-mirror "$TDM_TMP/audit.jsonl" "$@" >"$TDM_TMP/coord$n.out" 2>"$TDM_TMP/coord$n.err" &
	PID=$!
	EP=$(tdm_coord_endpoint "$TDM_TMP/coord$n.out" "$PID" "$TDM_TMP/coord$n.err" 60)
}
# compared ZONE: "True" or "False", as status --json says
compared() {
	TANDEM_COORD=$EP TANDEM_COORD_PUB=$TDM_TMP/coord.pub TANDEM_KEY=$TDM_TMP/op.secret \
		timeout 60 "$CTL" status --json --no-keysets >"$TDM_TMP/status.json" || tdm_fail "status"
	python3 -c 'import json, sys
print(next(z["compare_digests"] for z in json.load(open(sys.argv[1]))["zones"] if z["name"] == sys.argv[2]))' \
		"$TDM_TMP/status.json" "$1"
}

run 1 --no-compare-digests --zone ec.example.
tdm_assert_eq "a zone added with --no-compare-digests" False "$(compared ec.example.)"
tdm_pass "--no-compare-digests: the zone's digests are not compared"

printf 'etcd: [%s]\ninsecure-etcd: true\nlisten: tcp://127.0.0.1:*\nkey: %s\nallow: %s\nname: coord-a\nprefix: /test/compare/\naudit-mirror: %s\nzone: [ec2.example.]\nno-compare-digests: true\n' \
	"$(tdm_etcd_endpoints)" "$TDM_TMP/coord.secret" "$TDM_TMP/allow" "$TDM_TMP/audit.jsonl" >"$TDM_TMP/coord.yaml"
chmod 600 "$TDM_TMP/coord.yaml"
"$COORD" --check-config -c "$TDM_TMP/coord.yaml" >"$TDM_TMP/check.out" 2>&1 || tdm_fail "the config file is refused" -- "$TDM_TMP/check.out"
stop
"$COORD" -c "$TDM_TMP/coord.yaml" >"$TDM_TMP/coord2.out" 2>"$TDM_TMP/coord2.err" &
PID=$!
EP=$(tdm_coord_endpoint "$TDM_TMP/coord2.out" "$PID" "$TDM_TMP/coord2.err" 60)
tdm_assert_eq "a zone added from a file with no-compare-digests: true" False "$(compared ec2.example.)"
tdm_pass "config key no-compare-digests: the zone's digests are not compared"

run 3 --zone ec.example. --zone rsa.example.
tdm_assert_eq "a zone added without the flag" True "$(compared rsa.example.)"
tdm_assert_eq "a zone already there keeps what it was added with" False "$(compared ec.example.)"
tdm_pass "without it the digests are compared; a zone already there is unchanged"
