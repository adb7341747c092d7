#!/bin/bash
# With two of three etcd members gone, the survivor must refuse linearizable reads and
# transactions with the no-quorum error (exit 3 of etcd_driver) within a bounded time, never
# answer them from its stale copy; a serializable read is the only thing it serves. With the
# two members back, everything works again and nothing written before was lost.
#
# Driver: tests/unit/coord/etcd_driver from the build (override with TANDEM_ETCD_DRIVER);
# exit codes 0 ok, 2 conflict, 3 no quorum, 4 unavailable.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=etcd.sh
source "$(dirname "$0")/etcd.sh"

# Not tdm_setup: this test needs neither the signer nor the validators.
TDM_SRC=${TANDEM_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
TDM_BUILD=${1:-${TANDEM_BUILD:-$TDM_SRC/build}}
TDM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tandem-${TDM_NAME}.XXXXXX")
trap tdm_cleanup EXIT
trap 'exit 130' INT TERM
DRIVER=${TANDEM_ETCD_DRIVER:-$TDM_BUILD/tests/unit/coord/etcd_driver}
[ -x "$DRIVER" ] || tdm_fail "etcd_driver not found at $DRIVER (build the etcd_driver target)"
tdm_need etcd curl python3
TDM_ETCD_DIR=$TDM_TMP/etcd

# Every driver call is bounded: 1.5 s per endpoint (plus a short leader probe) inside, and
# `timeout` outside in case the client itself hangs.
drv() { timeout 20 "$DRIVER" -t 1500 "$@"; }

tdm_etcd_start 3
all=$(tdm_etcd_endpoints)
e3=$(tdm_etcd_endpoint 3)

tdm_assert_ok "put through the cluster" drv "$all" put /t/quorum/k before
tdm_assert_ok "create through member 3" drv "$e3" create /t/quorum/c one
tdm_assert_ok "read through member 3" drv "$e3" get /t/quorum/k
tdm_assert_grep "member 3 reads the value" '^before ' "$TDM_OUT"
tdm_assert_ok "status of all members" drv "$all" status
[ "$(grep -c 'healthy=true' "$TDM_OUT")" -eq 3 ] || tdm_fail "not all members healthy" -- "$TDM_OUT"
tdm_assert_ok "member list" drv "$e3" members
[ "$(wc -l <"$TDM_OUT")" -eq 3 ] || tdm_fail "member list is not 3 members" -- "$TDM_OUT"

# ---- quorum lost: members 1 and 2 killed ---------------------------------------------------
tdm_etcd_kill 1
tdm_etcd_kill 2
start=$(date +%s)
# The survivor may still believe in its leader for an election timeout (1 s); until it
# notices, a request can only time out (exit 4). It must never succeed (exit 0).
rc=4
while [ "$rc" -ne 3 ]; do
	tdm_run noquorum-get drv "$e3" get /t/quorum/k
	rc=$TDM_RC
	[ "$rc" -ne 0 ] || tdm_fail "linearizable read answered without quorum" -- "$TDM_OUT"
	[ "$rc" -eq 3 ] || [ "$rc" -eq 4 ] || tdm_fail "unexpected exit $rc" -- "$TDM_ERR"
	[ $(($(date +%s) - start)) -le 15 ] || tdm_fail "no ENOQUORUM within 15 s" -- "$TDM_ERR"
done
tdm_assert_grep "no-quorum error named" 'no quorum' "$TDM_ERR"
tdm_pass "linearizable read refused without quorum after $(($(date +%s) - start)) s"

t0=$(date +%s)
tdm_run noquorum-create drv "$e3" create /t/quorum/c2 two
[ "$TDM_RC" -eq 3 ] || tdm_fail "create without quorum: expected exit 3, got $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
tdm_run noquorum-put drv "$e3" put /t/quorum/p during
[ "$TDM_RC" -eq 3 ] || tdm_fail "put without quorum: expected exit 3, got $TDM_RC" -- "$TDM_OUT" "$TDM_ERR"
# through the whole list: 1 and 2 refuse connections, 3 has no leader: still no quorum
tdm_run noquorum-all drv "$all" get /t/quorum/k
[ "$TDM_RC" -eq 3 ] || tdm_fail "read via all endpoints: expected exit 3, got $TDM_RC" -- "$TDM_ERR"
[ $(($(date +%s) - t0)) -le 12 ] || tdm_fail "refusals took $(($(date +%s) - t0)) s"
tdm_pass "transactions refused without quorum"

# a serializable read is served from the local copy: allowed only when asked for
tdm_assert_ok "serializable read from the survivor" drv -s "$e3" get /t/quorum/k
tdm_assert_grep "stale-able read gives the last value" '^before ' "$TDM_OUT"
tdm_run noquorum-status drv "$e3" status
tdm_assert_grep "survivor reports no leader" 'healthy=false .*leader=0 ' "$TDM_OUT"

# ---- quorum back ----------------------------------------------------------------------------
tdm_etcd_restart 1
tdm_etcd_restart 2
tdm_etcd_wait_healthy 20
tdm_assert_ok "read after recovery" drv "$e3" get /t/quorum/k
tdm_assert_grep "value kept" '^before ' "$TDM_OUT"
tdm_assert_ok "create after recovery" drv "$e3" create /t/quorum/c2 two
tdm_run create-again drv "$all" create /t/quorum/c2 three
[ "$TDM_RC" -eq 2 ] || tdm_fail "second create: expected conflict (exit 2), got $TDM_RC" -- "$TDM_ERR"
tdm_assert_ok "read the created key via member 1" drv "$(tdm_etcd_endpoint 1)" get /t/quorum/c2
tdm_assert_grep "created value replicated" '^two ' "$TDM_OUT"
