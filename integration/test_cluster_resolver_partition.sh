#!/bin/bash
# A partition of the active site with a real secondary and a validating resolver (issue 11,
# "Tests with real peers"; docs/cluster.md "A secondary and a resolver"): deploy/cluster-up.sh
# --netns --secondary nsd --resolver puts sites A, B and W in network namespaces and the NSD
# and the Unbound in a fourth, D, at neither signing site. With node-a the active signer,
# site A is cut off (deploy/partition.sh isolate A); node-b takes over and NSD reaches its
# next serial with no operator action (by node-b's NOTIFY: the zone's SOA refresh is an
# hour), through the transfer server at site B's address; Unbound, trusting the DS of
# `tandemctl keys ds --cluster`, still validates a positive answer and a signed
# delegation's DS. Then heal: node-a comes back as the standby, and the serials NSD held
# (sampled at every poll, and each transfer in its log) never went backwards. Last,
# cluster-down stops NSD and Unbound and removes all four namespaces. Root only.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd ip kdig nsd unbound unbound-checkconf ldns-key2ds
[ "$(id -u)" = 0 ] || tdm_fail "this test creates network namespaces: run it as root"
Z=example.

# the drill policy: TTLs of 5 s, and the KSK's DS asked of the parent seconds after the
# first signing (cluster-up waits up to 120 s for `keys ds --cluster` to print it)
export TANDEM_CLUSTER_DS_TIMEOUT=120
tdm_cluster_up --netns --policy "$TDM_DATA/drill-policy.yaml" --cycle 3 --secondary nsd --resolver
# shellcheck source=/dev/null
source "$TDM_CL/cluster.env"
[ -f "$TDM_CL/peers.env" ] || tdm_fail "cluster-up wrote no peers.env" -- "$TDM_TMP/cluster-up.out"
# shellcheck source=/dev/null
source "$TDM_CL/peers.env"
for v in PEERS_NETNS NSD_ADDR NSD_PORT NSD_PID UNBOUND_ADDR UNBOUND_PORT UNBOUND_PID UNBOUND_TA HUB_NETNS; do
	[ -n "${!v:-}" ] || tdm_fail "peers.env or cluster.env has no $v" -- "$TDM_CL/peers.env"
done
[ "$UNBOUND_TA_SOURCE" = "$Z=keys-ds" ] ||
	tdm_fail "the trust anchor is not the DS of 'keys ds --cluster' ($UNBOUND_TA_SOURCE)" -- "$TDM_TMP/cluster-up.out"

# ---- the topology: NSD and Unbound in site D, the nodes' transfer servers at their sites ------
NET=${SITE_A_IP%.*}
if [ "$NSD_ADDR" != "$NET.4" ] || [ "$UNBOUND_ADDR" != "$NET.4" ]; then
	tdm_fail "NSD at $NSD_ADDR, Unbound at $UNBOUND_ADDR: not site D's $NET.4"
fi
tdm_assert_grep "DIR/netns lists site D" "^D $PEERS_NETNS vd\$" "$TDM_CL/netns"
for p in "$NSD_PID" "$UNBOUND_PID"; do
	ip netns identify "$p" | grep -qxF "$PEERS_NETNS" ||
		tdm_fail "pid $p runs in namespace '$(ip netns identify "$p")', not $PEERS_NETNS"
done
ax_a=$(tdm_status_get "node('node-a')['axfr']")
ax_b=$(tdm_status_get "node('node-b')['axfr']")
case $ax_a in "$SITE_A_IP":[0-9]*) ;; *) tdm_fail "node-a's axfr is '$ax_a', not $SITE_A_IP:PORT" ;; esac
case $ax_b in "$SITE_B_IP":[0-9]*) ;; *) tdm_fail "node-b's axfr is '$ax_b', not $SITE_B_IP:PORT" ;; esac
[ "$NSD_PRIMARIES" = "${ax_a%:*}@${ax_a##*:} ${ax_b%:*}@${ax_b##*:}" ] ||
	tdm_fail "NSD's primaries '$NSD_PRIMARIES' are not the nodes' axfr fields ($ax_a, $ax_b)"
tdm_assert_grep "cluster-up printed where NSD is" "secondary: *NSD $NSD_ADDR@$NSD_PORT" "$TDM_TMP/cluster-up.out"
tdm_assert_grep "cluster-up printed how to ask Unbound" \
	"resolver: *Unbound $UNBOUND_ADDR@$UNBOUND_PORT \(ip netns exec $PEERS_NETNS kdig" "$TDM_TMP/cluster-up.out"
tdm_pass "NSD $NSD_ADDR@$NSD_PORT and Unbound in $PEERS_NETNS; primaries $ax_a (A), $ax_b (B)"

# ---- the serials NSD holds, sampled at every poll: they may only rise --------------------------
SAMPLES=$TDM_TMP/nsd.serials
: >"$SAMPLES"
nsd_serial() {
	local got
	got=$(tdm_dns_serial "$NSD_ADDR" "$NSD_PORT" "${Z%.}" "$PEERS_NETNS")
	[ -z "$got" ] || printf '%s %s\n' "$(date +%s%3N)" "$got" >>"$SAMPLES"
	printf '%s\n' "$got"
}
nsd_at_least() { # SERIAL
	local got
	got=$(nsd_serial)
	[ -n "$got" ] && [ "$got" -ge "$1" ]
}
# q NAME TYPE: one query to Unbound from site D (DO set); sets STATUS, FLAGS, ANSWER_N, OUT
q() {
	OUT=$TDM_TMP/q.$1.$2.out
	ip netns exec "$PEERS_NETNS" kdig -p "$UNBOUND_PORT" "@$UNBOUND_ADDR" +dnssec +timeout=5 +retry=2 "$1" "$2" \
		>"$OUT" 2>&1 || tdm_fail "kdig $1 $2 failed" -- "$OUT"
	STATUS=$(sed -n 's/.*status: \([A-Z]*\);.*/\1/p' "$OUT" | head -1)
	FLAGS=$(sed -n 's/^;; Flags: \([a-z ]*\);.*/\1/p' "$OUT" | head -1)
	ANSWER_N=$(sed -n 's/.*ANSWER: \([0-9]*\);.*/\1/p' "$OUT" | head -1)
}
validates() { # WHAT: a positive answer and a signed delegation's DS, both with AD
	local n t
	for n in "www.$Z A" "secure.$Z DS"; do
		t=${n#* }
		q "${n% *}" "$t"
		if [ "$STATUS" != NOERROR ] || [ "${ANSWER_N:-0}" -lt 1 ]; then
			tdm_fail "$1: $n: status $STATUS, $ANSWER_N answers" -- "$OUT" "$UNBOUND_LOG"
		fi
		case " $FLAGS " in *" ad "*) ;; *) tdm_fail "$1: $n without the AD bit (flags: $FLAGS)" -- "$OUT" "$UNBOUND_LOG" ;; esac
		grep -Eq "[[:space:]]${t}[[:space:]]" "$OUT" || tdm_fail "$1: no $t record in the answer" -- "$OUT"
	done
	tdm_pass "$1: www.$Z A and secure.$Z DS validate (AD)"
}
# ub_at_least SERIAL: Unbound answers the zone's SOA with AD and SERIAL or a later one
ub_at_least() {
	local got
	ip netns exec "$PEERS_NETNS" kdig -p "$UNBOUND_PORT" "@$UNBOUND_ADDR" +dnssec +timeout=3 +retry=1 $Z SOA \
		>"$TDM_TMP/ub.soa" 2>&1 || return 1
	grep -Eq '^;; Flags: [a-z ]*\bad\b' "$TDM_TMP/ub.soa" || return 1
	got=$(awk '!/^;/ && $4 == "SOA" { print $7; exit }' "$TDM_TMP/ub.soa")
	[ -n "$got" ] && [ "$got" -ge "$1" ]
}
validates "before the partition"

# ---- node-a active, NSD following it ------------------------------------------------------------
if [ "$(tdm_holder $Z)" != node-a ]; then
	tdm_ctl switchover --zone $Z --to node-a --wait 30 >/dev/null ||
		tdm_fail "could not make node-a the active signer"
fi
s0=$(tdm_last_serial node-a $Z)
tdm_wait 30 "node-a's next cycle" tdm_published_after node-a $Z "${s0:-0}"
s1=$(tdm_last_serial node-a $Z)
tdm_wait 60 "NSD to reach node-a's serial $s1" nsd_at_least "$s1"
tdm_pass "node-a signs $Z; NSD holds its serial $s1"

# ---- cut site A off ------------------------------------------------------------------------------
"$TDM_SRC/deploy/partition.sh" "$TDM_CL" isolate A >"$TDM_TMP/isolate.out" 2>&1 ||
	tdm_fail "partition.sh isolate A failed" -- "$TDM_TMP/isolate.out"
"$TDM_SRC/deploy/partition.sh" "$TDM_CL" status >"$TDM_TMP/pstatus.out" 2>&1
tdm_assert_grep "partition status: A isolated" '^A isolated$' "$TDM_TMP/pstatus.out"
tdm_assert_grep "partition status: D linked" '^D linked$' "$TDM_TMP/pstatus.out"
t0=$SECONDS
nsd_lines=$(wc -l <"$NSD_LOG")
sA=$(tdm_last_serial node-a $Z)
tdm_log "site A isolated; node-a's last serial $sA"

tdm_wait 90 "node-b to take $Z over and publish above $sA" tdm_published_after node-b $Z "$sA"
[ "$(tdm_holder $Z)" = node-b ] || tdm_fail "node-b published but does not hold $Z"
sB=$(tdm_last_serial node-b $Z)
tdm_pass "site B took over: serial $sB after $((SECONDS - t0)) s"

tdm_wait 90 "NSD to reach node-b's serial $sB" nsd_at_least "$sB"
t_nsd=$((SECONDS - t0))
# how it got there: node-b's NOTIFY (the SOA refresh is 3600 s, far beyond this wait), and a
# transfer from site B's address
tail -n +"$((nsd_lines + 1))" "$NSD_LOG" >"$TDM_TMP/nsd.after-cut"
tdm_assert_grep "NSD took node-b's NOTIFY" "notify for $Z from $SITE_B_IP serial" "$TDM_TMP/nsd.after-cut"
tdm_assert_grep "NSD transferred from node-b's site address" \
	"zone $Z received update to serial [0-9]+ .*from ${SITE_B_IP//./\\.}( |@53 )" "$TDM_TMP/nsd.after-cut"
# and it asked node-b first, the NOTIFY's sender, not the unreachable node-a it had used
# before (which costs a TCP connect timeout): the transfer servers are on port 53, so NSD
# matches the NOTIFY to its request-xfr entry (docs/cluster.md, "the distribution site D")
# (from the first NOTIFY of node-b to the first transfer after it, only: node-b may publish
# again at once, and NSD's lines of a second NOTIFY whose transfer is still going are not the
# first transfer's)
awk -v notify="notify for $Z from $SITE_B_IP " -v upd="zone $Z received update to serial" \
	'!on && index($0, notify) { on = 1 } on { print } on && index($0, upd) { exit }' \
	"$TDM_TMP/nsd.after-cut" >"$TDM_TMP/nsd.to-first"
tdm_assert_no_grep "NSD tried site A before node-b" "${SITE_A_IP//./\\.}\b" "$TDM_TMP/nsd.to-first"
tail -n 1 "$TDM_TMP/nsd.to-first" >"$TDM_TMP/nsd.first"
tdm_assert_grep "NSD's first transfer after node-b's NOTIFY came from node-b" \
	"zone $Z received update to serial [0-9]+ .*from ${SITE_B_IP//./\\.}( |@53 )" "$TDM_TMP/nsd.first"
tdm_wait 60 "Unbound to validate serial $sB or later" ub_at_least "$sB"
t_ub=$((SECONDS - t0))
validates "site A cut off"
tdm_pass "NSD reached $sB ${t_nsd} s after the cut, Unbound validated it after ${t_ub} s, no operator action"

# ---- heal: node-a back as the standby, nothing backwards at NSD ----------------------------------
"$TDM_SRC/deploy/partition.sh" "$TDM_CL" heal >"$TDM_TMP/heal.out" 2>&1 ||
	tdm_fail "partition.sh heal failed" -- "$TDM_TMP/heal.out"
agrees_after_heal() {
	local s
	nsd_serial >/dev/null # keep sampling NSD
	s=$(tdm_last_serial node-b $Z)
	grep -q "serial $s: node-a agrees" "$TDM_CL"/log/coord-*.log
}
tdm_wait 90 "node-a back as the standby, agreeing with node-b" agrees_after_heal
[ "$(tdm_holder $Z)" = node-b ] || tdm_fail "node-a took $Z back after the heal"
sH=$(tdm_last_serial node-b $Z)
tdm_wait 60 "NSD to reach node-b's serial $sH after the heal" nsd_at_least "$sH"
validates "after the heal"
# every sample and every transfer NSD logged: never a lower serial than the one before
awk 'NR > 1 && $2 < prev { print "sample " NR ": " $2 " after " prev; bad = 1 } { prev = $2 } END { exit bad }' \
	"$SAMPLES" >"$TDM_TMP/backwards" || tdm_fail "NSD's serial went backwards" -- "$TDM_TMP/backwards"
sed -n "s/.* zone $Z received update to serial \([0-9]*\) .*/\1/p" "$NSD_LOG" >"$TDM_TMP/nsd.updates"
[ "$(wc -l <"$TDM_TMP/nsd.updates")" -ge 2 ] || tdm_fail "NSD logged fewer than 2 transfers" -- "$NSD_LOG"
awk 'NR > 1 && $1 <= prev { print "update " NR ": " $1 " after " prev; bad = 1 } { prev = $1 } END { exit bad }' \
	"$TDM_TMP/nsd.updates" >"$TDM_TMP/backwards" || tdm_fail "NSD took a serial not above its last" -- "$TDM_TMP/backwards" "$NSD_LOG"
tdm_pass "node-a is the standby; NSD's $(wc -l <"$SAMPLES") samples and $(wc -l <"$TDM_TMP/nsd.updates") transfers only rose (to $sH)"
tdm_check_publications node-a node-b

# ---- cluster-down stops the peers and removes the four namespaces ---------------------------------
tdm_assert_ok "cluster-down" "$TDM_SRC/deploy/cluster-down.sh" "$TDM_CL"
for p in "$NSD_PID:nsd" "$UNBOUND_PID:unbound"; do
	! tdm_pid_is "${p%%:*}" "${p#*:}" "$TDM_CL/" || tdm_fail "${p#*:} (pid ${p%%:*}) still runs after cluster-down"
done
for ns in "$HUB_NETNS" "$SITE_A_NETNS" "$SITE_B_NETNS" "$SITE_W_NETNS" "$PEERS_NETNS"; do
	! ip netns list | awk '{ print $1 }' | grep -qxF "$ns" || tdm_fail "namespace $ns left after cluster-down"
done
tdm_pass "cluster-down stopped NSD and Unbound and removed the namespaces"
