#!/bin/bash
# etcd over TLS (issue 14): an etcd member with client-certificate authentication
# (--client-cert-auth, a CA of the test's own) and tandem-coord in front of it.
#  - the coordinator with the CA, its certificate and key starts and serves (its store
#    reads and writes go over TLS);
#  - a coordinator whose certificate comes from another CA is refused by etcd: it does not
#    start, and its log says why (the TLS failure, not "unavailable");
#  - a client without a certificate gets nothing from the member;
#  - the coordinator refuses before connecting: a plain http:// endpoint without
#    --insecure-etcd, an https:// endpoint with only some of the TLS files, and a key
#    file that group or others may read.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"
tdm_need etcd curl openssl timeout
COORD=$TDM_BUILD/src/coordd/tandem-coord
CTL=$TDM_BUILD/src/tools/tandemctl

T=$TDM_TMP/tls
tdm_tls_ca "$T"
tdm_tls_cert "$T" etcd-1
tdm_tls_cert "$T" coord-a
OTHER=$TDM_TMP/other
tdm_tls_ca "$OTHER" "another CA"
tdm_tls_cert "$OTHER" coord-x

mapfile -t ports < <(tdm_free_ports 2)
CP=${ports[0]} PP=${ports[1]}
EP=https://127.0.0.1:$CP
etcd --name m1 --data-dir "$TDM_TMP/etcd" \
	--listen-client-urls "$EP" --advertise-client-urls "$EP" \
	--listen-peer-urls "https://127.0.0.1:$PP" --initial-advertise-peer-urls "https://127.0.0.1:$PP" \
	--initial-cluster "m1=https://127.0.0.1:$PP" --initial-cluster-state new \
	--cert-file "$T/etcd-1.pem" --key-file "$T/etcd-1.key" --trusted-ca-file "$T/ca.pem" \
	--client-cert-auth --peer-cert-file "$T/etcd-1.pem" --peer-key-file "$T/etcd-1.key" \
	--peer-trusted-ca-file "$T/ca.pem" --peer-client-cert-auth \
	--logger zap --log-outputs stderr 2>"$TDM_TMP/etcd.log" &
EPID=$!
PIDS=("$EPID")
stop_all() {
	local p
	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}
tdm_on_exit stop_all
GOOD=(--cacert "$T/ca.pem" --cert "$T/coord-a.pem" --key "$T/coord-a.key")
healthy() { curl -s --max-time 2 "${GOOD[@]}" "$EP/health" | grep -q '"health":"true"'; }
for _ in $(seq 1 150); do healthy && break; sleep 0.2; done
healthy || tdm_fail "the TLS etcd member is not healthy after 30 s" -- "$TDM_TMP/etcd.log"
tdm_pass "etcd serves TLS with client-certificate authentication at $EP"

if curl -s --max-time 5 --cacert "$T/ca.pem" "$EP/health" >"$TDM_TMP/nocert.out" 2>&1 &&
	grep -q '"health"' "$TDM_TMP/nocert.out"; then
	tdm_fail "a client without a certificate was answered" -- "$TDM_TMP/nocert.out"
fi
tdm_pass "a client without a certificate gets no answer"

K=$TDM_TMP/keys
mkdir -p "$K"
for who in coord op1; do
	"$CTL" net keygen --public "$K/$who.pub" --secret "$K/$who.secret" >/dev/null || tdm_fail "keygen $who"
done
printf 'op1 operator %s\n' "$(awk '$1 == "public" { print $2 }' "$K/op1.pub")" >"$TDM_TMP/allow"
BASE=(--listen 'tcp://127.0.0.1:*' --key "$K/coord.secret" --allow "$TDM_TMP/allow" --prefix /test/tls/)

# refused NAME WHAT ARGS...: tandem-coord must exit non-zero within 30 s, its stderr
# matching WHAT
refused() {
	local name=$1 what=$2 rc=0
	shift 2
	timeout 30 "$COORD" "${BASE[@]}" --name "$name" "$@" >"$TDM_TMP/$name.out" 2>"$TDM_TMP/$name.err" || rc=$?
	[ "$rc" -ne 0 ] || tdm_fail "$name started" -- "$TDM_TMP/$name.err"
	[ "$rc" -ne 124 ] || tdm_fail "$name neither started nor gave up in 30 s" -- "$TDM_TMP/$name.err"
	grep -qE -- "$what" "$TDM_TMP/$name.err" || tdm_fail "$name: no '$what' in its log" -- "$TDM_TMP/$name.err"
	! grep -q '^listening ' "$TDM_TMP/$name.out" || tdm_fail "$name listened"
}

refused plain "plain HTTP refused" --etcd "http://127.0.0.1:$CP"
tdm_pass "http:// without --insecure-etcd: refused before connecting"
refused partial "TLS needs the CA, the client certificate and its key" --etcd "$EP" --etcd-ca "$T/ca.pem"
tdm_pass "https:// with only the CA: refused"
cp "$T/coord-a.key" "$TDM_TMP/loose.key"
chmod 644 "$TDM_TMP/loose.key"
refused loose "client key .*group or others may access it" --etcd "$EP" --etcd-ca "$T/ca.pem" \
	--etcd-cert "$T/coord-a.pem" --etcd-key "$TDM_TMP/loose.key"
tdm_pass "a client key that others may read: refused"
refused otherca "refused this client's certificate" --etcd "$EP" --etcd-ca "$T/ca.pem" \
	--etcd-cert "$OTHER/coord-x.pem" --etcd-key "$OTHER/coord-x.key"
tdm_pass "a certificate from another CA is refused by etcd, and the log says so"

"$COORD" "${BASE[@]}" --name coord-a --etcd "$EP" --etcd-ca "$T/ca.pem" \
	--etcd-cert "$T/coord-a.pem" --etcd-key "$T/coord-a.key" \
	>"$TDM_TMP/coord-a.out" 2>"$TDM_TMP/coord-a.err" &
PIDS+=("$!")
CEP=$(tdm_coord_endpoint "$TDM_TMP/coord-a.out" "$!" "$TDM_TMP/coord-a.err" 30)
export TANDEM_COORD=$CEP TANDEM_COORD_PUB=$K/coord.pub TANDEM_KEY=$K/op1.secret
tdm_assert_ok "zone add over the TLS store" timeout 30 "$CTL" zone add example.
tdm_assert_ok "status over the TLS store" timeout 30 "$CTL" status --json
tdm_assert_grep "the zone is in etcd's state" '"example."' "$TDM_OUT"
tdm_pass "the coordinator with the CA's certificate serves, its state in etcd over TLS"
