#!/bin/bash
# The local cluster with a real secondary and a validating resolver (issue 11, docs/cluster.md
# "A secondary and a resolver"): deploy/cluster-up.sh --secondary nsd --resolver starts an NSD
# pulling example. from both nodes' transfer servers (TSIG, NOTIFY from every node) and an
# Unbound trusting the DS that `tandemctl keys ds --cluster` prints, reaching the zone through
# the NSD. Through them, with the AD bit where the zone is signed: a positive answer, a
# wildcard, signed delegations' DS, the insecure delegation (NODATA for its DS, proven, and
# an answer from the unsigned child without AD; the NSD's referral carries NSEC3 and no
# DS), NXDOMAIN and NODATA with NSEC3 proofs. Then kill -9 of the active node: NSD reaches the
# new active's next serial with no operator action and Unbound, fetching again (TTLs of 5 s),
# still validates. Last, cluster-down.sh stops NSD and Unbound with the rest.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=peers.sh
source "$(dirname "$0")/peers.sh"
tdm_setup "$@"
tdm_need etcd kdig nsd unbound unbound-checkconf knotd knotc ldns-key2ds
Z=example.

# the unsigned child under the insecure delegation, served by a knotd beside the cluster
cat >"$TDM_TMP/insecure.zone" <<'ZONE'
insecure.example. 5 IN SOA ns.insecure.example. h.insecure.example. 1 3600 600 86400 5
insecure.example. 5 IN NS ns.insecure.example.
ns.insecure.example. 5 IN A 203.0.113.60
www.insecure.example. 5 IN A 203.0.113.99
ZONE
peers_tsig_key "$TDM_TMP/child.key" child-key hmac-sha256
peers_knot_primary "$TDM_TMP/child" insecure.example "$TDM_TMP/insecure.zone" "$TDM_TMP/child.key"

# the drill policy: TTLs of 5 s, and the KSK's DS asked of the parent seconds after the
# first signing, so that `keys ds --cluster` has it for the trust anchor (waited for up to
# 120 s on a loaded machine before cluster-up would fall back to the published KSK's DS)
export TANDEM_CLUSTER_DS_TIMEOUT=120
tdm_cluster_up --policy "$TDM_DATA/drill-policy.yaml" --cycle 3 --secondary nsd --resolver \
	--resolver-stub "insecure.example.=127.0.0.1@$PEERS_KNOT_PORT"
[ -f "$TDM_CL/peers.env" ] || tdm_fail "cluster-up wrote no peers.env" -- "$TDM_TMP/cluster-up.out"
# shellcheck source=/dev/null
source "$TDM_CL/peers.env"
for v in NSD_PORT NSD_PID UNBOUND_PORT UNBOUND_PID UNBOUND_TA; do
	[ -n "${!v:-}" ] || tdm_fail "peers.env has no $v" -- "$TDM_CL/peers.env"
done
[ "$UNBOUND_TA_SOURCE" = "$Z=keys-ds" ] ||
	tdm_fail "the trust anchor is not the DS of 'keys ds --cluster' ($UNBOUND_TA_SOURCE)" -- "$TDM_TMP/cluster-up.out"
tdm_assert_ok "keys ds --cluster" tdm_ctl keys ds --cluster --zone $Z
grep -E "^example\. [0-9]+ IN DS " "$TDM_OUT" | sed 's/ ;.*//' >"$TDM_TMP/ds.now"
tdm_assert_same_file "Unbound's trust anchor is the cluster's DS" "$TDM_TMP/ds.now" "$UNBOUND_TA"
mode=$(stat -c %a "$NSD_CONF")
[ "$mode" = 600 ] || tdm_fail "NSD's config holds the TSIG secret with mode $mode, not 600"
tdm_assert_grep "cluster-up printed where NSD is" "secondary: *NSD 127\.0\.0\.1@$NSD_PORT" "$TDM_TMP/cluster-up.out"
tdm_assert_grep "cluster-up printed where Unbound is" "resolver: *Unbound 127\.0\.0\.1@$UNBOUND_PORT" "$TDM_TMP/cluster-up.out"
tdm_pass "NSD on $NSD_PORT (primaries $NSD_PRIMARIES), Unbound on $UNBOUND_PORT trusting $(wc -l <"$UNBOUND_TA") DS"

# ---- validating through the secondary ------------------------------------------------------
# q NAME TYPE: one query through Unbound (DO set); sets STATUS, FLAGS, ANSWER_N, OUT
q() {
	OUT=$TDM_TMP/q.$1.$2.out
	kdig -p "$UNBOUND_PORT" @127.0.0.1 +dnssec +timeout=5 +retry=2 "$1" "$2" >"$OUT" 2>&1 || tdm_fail "kdig $1 $2 failed" -- "$OUT"
	STATUS=$(sed -n 's/.*status: \([A-Z]*\);.*/\1/p' "$OUT" | head -1)
	FLAGS=$(sed -n 's/^;; Flags: \([a-z ]*\);.*/\1/p' "$OUT" | head -1)
	ANSWER_N=$(sed -n 's/.*ANSWER: \([0-9]*\);.*/\1/p' "$OUT" | head -1)
}
has_ad() { case " $FLAGS " in *" ad "*) return 0 ;; *) return 1 ;; esac }
expect() { # WHAT NAME TYPE STATUS ad|noad MIN_ANSWERS
	q "$2" "$3"
	[ "$STATUS" = "$4" ] || tdm_fail "$1: $2 $3: status $STATUS, expected $4" -- "$OUT" "$UNBOUND_LOG"
	if [ "$5" = ad ]; then
		has_ad || tdm_fail "$1: $2 $3: no AD bit (flags: $FLAGS)" -- "$OUT" "$UNBOUND_LOG"
	else
		! has_ad || tdm_fail "$1: $2 $3: AD set on an insecure answer (flags: $FLAGS)" -- "$OUT"
	fi
	[ "${ANSWER_N:-0}" -ge "$6" ] || tdm_fail "$1: $2 $3: $ANSWER_N answers, expected at least $6" -- "$OUT"
	tdm_pass "$1: $2 $3 $4 ${5/noad/without AD}"
}
validate() { # WHAT
	expect "$1" "www.$Z" A NOERROR ad 1
	expect "$1" "x.promo.$Z" A NOERROR ad 1 # wildcard: NSEC3 proof of no closer match
	expect "$1" "secure.$Z" DS NOERROR ad 1
	expect "$1" "shop.brand.$Z" DS NOERROR ad 1
	expect "$1" "insecure.$Z" DS NOERROR ad 0 # no DS, proven: the delegation is insecure
	[ "$ANSWER_N" -eq 0 ] || tdm_fail "$1: insecure.$Z DS has an answer" -- "$OUT"
	expect "$1" "www.insecure.$Z" A NOERROR noad 1 # the unsigned child, through the referral
	expect "$1" "nothere.$Z" A NXDOMAIN ad 0
	grep -q 'NSEC3' "$OUT" || tdm_fail "$1: NXDOMAIN without NSEC3 records" -- "$OUT"
	expect "$1" "www.$Z" TXT NOERROR ad 0 # NODATA
	[ "$ANSWER_N" -eq 0 ] || tdm_fail "$1: www TXT NODATA has an answer" -- "$OUT"
	grep -q 'NSEC3' "$OUT" || tdm_fail "$1: NODATA without NSEC3 records" -- "$OUT"
}
validate "before"

# the secondary itself gives the insecure referral: NS and glue, an NSEC3 proof, no DS, no AA
kdig -p "$NSD_PORT" @127.0.0.1 +norec +dnssec "www.insecure.$Z" A >"$TDM_TMP/referral" 2>&1 ||
	tdm_fail "referral query to NSD" -- "$TDM_TMP/referral"
grep -Eq "^insecure\.${Z}[[:space:]].*[[:space:]]NS[[:space:]]" "$TDM_TMP/referral" || tdm_fail "no NS in NSD's referral" -- "$TDM_TMP/referral"
grep -Eq '[[:space:]]NSEC3[[:space:]]' "$TDM_TMP/referral" || tdm_fail "no NSEC3 in the insecure referral" -- "$TDM_TMP/referral"
! grep -Eq "^insecure\.${Z}[[:space:]].*[[:space:]]DS[[:space:]]" "$TDM_TMP/referral" || tdm_fail "DS in the insecure referral" -- "$TDM_TMP/referral"
! grep -Eq '^;; Flags: [a-z ]*\baa\b' "$TDM_TMP/referral" || tdm_fail "a referral with AA" -- "$TDM_TMP/referral"
tdm_pass "NSD: insecure referral with an NSEC3 proof, no DS, no AA"

# ---- kill -9 of the active: NSD and Unbound follow the new active -----------------------------
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z"
B=node-a
[ "$A" = node-a ] && B=node-b
S2=$(tdm_last_serial "$A" $Z)
[ -n "$S2" ] || tdm_fail "$A published nothing"
t0=$SECONDS
kill -KILL "$(cat "$TDM_CL/run/$A.pid")"
took_over() { [ "$(tdm_holder $Z)" = "$B" ] && tdm_published_after "$B" $Z "$S2"; }
tdm_wait 180 "$B to take $Z over and publish" took_over
S3=$(tdm_last_serial "$B" $Z)
# serials move every few seconds (--cycle 3): NSD must reach S3 or a later one of B's
at_least() { # PORT SERIAL
	local got
	got=$(tdm_dns_serial 127.0.0.1 "$1" "${Z%.}")
	[ -n "$got" ] && [ "$got" -ge "$2" ]
}
tdm_wait 90 "NSD to reach $B's serial $S3" at_least "$NSD_PORT" "$S3"
t_nsd=$((SECONDS - t0))
tdm_assert_grep "NSD transferred from $B after the takeover" \
	"received update to serial [0-9]+ .*from 127\.0\.0\.1@$(sed -n 's/.*transfers served on [^ ]*:\([0-9]*\) .*/\1/p' "$TDM_CL/log/$B.log" | tail -n 1)" "$NSD_LOG"
# Unbound: the SOA it validates reaches S3 too (its cached copy expires after 5 s)
ub_at_least() {
	kdig -p "$UNBOUND_PORT" @127.0.0.1 +dnssec +timeout=3 +retry=1 "$Z" SOA >"$TDM_TMP/ub.soa" 2>&1 || return 1
	grep -Eq '^;; Flags: [a-z ]*\bad\b' "$TDM_TMP/ub.soa" || return 1
	local got
	got=$(awk '!/^;/ && $4 == "SOA" { print $7; exit }' "$TDM_TMP/ub.soa")
	[ -n "$got" ] && [ "$got" -ge "$S3" ]
}
tdm_wait 60 "Unbound to validate serial $S3 or later" ub_at_least
t_ub=$((SECONDS - t0))
validate "after kill -9 of $A"
tdm_pass "after kill -9 of $A, NSD and Unbound followed $B (serial $S3) with no operator action (NSD after ${t_nsd} s, Unbound after ${t_ub} s)"

# ---- cluster-down stops NSD and Unbound with the rest ------------------------------------------
tdm_assert_ok "cluster-down" "$TDM_SRC/deploy/cluster-down.sh" "$TDM_CL"
for p in "$NSD_PID:nsd" "$UNBOUND_PID:unbound"; do
	! tdm_pid_is "${p%%:*}" "${p#*:}" "$TDM_CL/" || tdm_fail "${p#*:} (pid ${p%%:*}) still runs after cluster-down"
done
tdm_pass "cluster-down stopped NSD and Unbound"
