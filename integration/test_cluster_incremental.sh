#!/bin/bash
# Incremental signing on a local cluster (issue 10): every run reuses the signatures of
# the version before it that are still valid and not due, and both sites build on the same
# version, so the standby's digest still agrees.
#  - steady state: the active's runs reuse (the summary line's "reused" > 0) and the
#    standby agrees on each serial;
#  - a change of the input (one delegation added, the SOA serial raised) at both sites: the
#    active loads it from its changed lines ("changed lines parsed"), the next serial signs
#    only what changed (a few new RRSIGs, the rest reused) and the standby agrees;
#  - the change is an entry of the active's journal (from the serial published before it),
#    and the standby's journal holds the same changeset (the same checksum);
#  - kill -9 of both nodes and a restart: the nodes take their own copies (publication,
#    shadow copy) of the committed serial again, so the next run reuses signatures (not
#    a full re-sign) and the standby agrees again;
#  - kill -9 of the active: the standby takes over from its own copy and its first run
#    reuses signatures.
# The gate: a run that builds on the version the node published checks what changed (the
# summary says "incremental" and verifies a few RRSIGs); the first run after a restart or a
# takeover checks the whole zone ("full").
# Throughout, no serial is published with two digests and the published zones validate.
# The policy adds ZONEMD (zone.zonemd: simple-sha384): a record that changes in every
# version on top of the reused signatures; the published zone's ZONEMD must verify
# (ldns-verify-zone -ZZ) and the standby's copy must still agree.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.

sed 's/^zone:$/zone:\n  zonemd: simple-sha384/' "$TDM_SRC/conf/dps-default.yaml" >"$TDM_TMP/policy.yaml"
grep -q "^  zonemd: simple-sha384" "$TDM_TMP/policy.yaml" || tdm_fail "could not add zonemd to the policy"
tdm_cluster_up --cycle 3 --policy "$TDM_TMP/policy.yaml"
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z after cluster-up"
B=node-a
[ "$A" = node-a ] && B=node-b
log() { printf '%s\n' "$TDM_CL/log/$1.log"; }

# run_field NODE KIND SERIAL FIELD: new, reused or refreshed of NODE's KIND ("signing",
# "shadow") run of SERIAL ('' when there is none)
run_field() {
	local n
	case $4 in new) n=1 ;; reused) n=2 ;; *) n=3 ;; esac
	grep "zone $Z: $2 run: serial $3, " "$(log "$1")" | tail -n 1 |
		sed -nE "s/.*RRSIGs ([0-9]+) new \/ ([0-9]+) reused \/ ([0-9]+) refreshed.*/\\$n/p"
}
agrees() { grep -q "zone $Z: shadow run of serial $2: .*$1 agrees" "$(log "$1")"; }
# reused_after NODE SERIAL: NODE published a serial above SERIAL whose run reused signatures
# (its serial in PUB); the standby SBY agrees on it
PUB=
incremental_after() {
	local s r
	s=$(tdm_last_serial "$1" $Z)
	[ -n "$s" ] && [ "$s" -gt "$2" ] || return 1
	r=$(run_field "$1" signing "$s" reused)
	[ -n "$r" ] && [ "$r" -gt 0 ] || return 1
	PUB=$s
}

tdm_wait 60 "$A to publish a serial that reuses signatures" incremental_after "$A" 0
tdm_wait 60 "$B to agree on serial $PUB" agrees "$B" "$PUB"
tdm_pass "steady state: $A's serial $PUB reused $(run_field "$A" signing "$PUB" reused) RRSIGs, made $(run_field "$A" signing "$PUB" new); $B agrees"

records() { grep "zone $Z: signing run: serial $2, " "$(log "$1")" | tail -n 1 | sed -nE 's/.*, ([0-9]+) records,.*/\1/p'; }
REC0=$(records "$A" "$PUB")

# ---- a change at both sites ------------------------------------------------------------
for n in node-a node-b; do
	in=$TDM_CL/$n/in/example.zone
	sed 's/2024010101 ; serial/2024010102 ; serial/' "$in" >"$in.new"
	printf 'added 86400 IN NS ns1.added.example.net.\nadded 86400 IN NS ns2.added.example.net.\n' >>"$in.new"
	mv "$in.new" "$in"
done
changed() {
	local s r nw
	s=$(tdm_last_serial "$A" $Z)
	[ -n "$s" ] || return 1
	[ "$(records "$A" "$s")" -gt "$REC0" ] || return 1 # the run that read the new input
	nw=$(run_field "$A" signing "$s" new)
	r=$(run_field "$A" signing "$s" reused)
	[ -n "$nw" ] && [ -n "$r" ] && [ "$r" -gt 20 ] || return 1
	PUB=$s
}
tdm_wait 60 "$A to publish the change" changed
# the input was loaded from its changed lines, not parsed whole (dns_zone_load_delta)
line=$(grep "zone $Z: signing run: serial $PUB, " "$(log "$A")" | tail -n 1)
[[ $line == *"changed lines parsed"* ]] ||
	tdm_fail "$A parsed the changed input whole: $line" -- "$(grep "parsed whole" "$(log "$A")")"
nw=$(run_field "$A" signing "$PUB" new)
# the delegation's NSEC3 record, the chain neighbour's, the SOA, maybe the NSEC3 of an ENT
if [ "$nw" -lt 2 ] || [ "$nw" -gt 8 ]; then
	tdm_fail "the change of one delegation made $nw new RRSIGs" -- "$(log "$A")"
fi
tdm_wait 60 "$B to agree on serial $PUB" agrees "$B" "$PUB"
tdm_pass "one delegation added: serial $PUB made $nw RRSIGs, reused $(run_field "$A" signing "$PUB" reused); $B agrees"
# gate_of NODE SERIAL: "full N" or "incremental N" (N: RRSIGs verified) of NODE's run of SERIAL
gate_of() {
	grep "zone $Z: signing run: serial $2, " "$(log "$1")" | tail -n 1 |
		sed -nE 's/.*, gate [0-9.]+ s \((full|incremental), ([0-9]+) verified\),.*/\1 \2/p'
}
g=$(gate_of "$A" "$PUB")
all=$((nw + $(run_field "$A" signing "$PUB" reused)))
# the new RRSIGs and the apex's (SOA, NS, MX, DNSKEY, NSEC3PARAM ...: 8 in this zone)
case $g in
incremental\ *)
	v=${g#* }
	if [ "$v" -lt "$nw" ] || [ "$v" -gt $((nw + 8)) ] || [ "$v" -ge "$all" ]; then
		tdm_fail "the incremental gate of serial $PUB verified $v of $all RRSIGs" -- "$(log "$A")"
	fi
	;;
*) tdm_fail "serial $PUB was not gated incrementally: '$g'" -- "$(log "$A")" ;;
esac
first=$(grep -m1 "zone $Z: signing run: serial " "$(log "$A")" |
	sed -nE 's/.*, gate [0-9.]+ s \((full|incremental), .*/\1/p')
[ "$first" = full ] || tdm_fail "$A's first run was not gated whole: '$first'" -- "$(log "$A")"
tdm_pass "gate: $A's first run checked the whole zone; serial $PUB was checked incrementally ($g verified)"

# ---- the journals: the change is an entry at both sites, the same changeset ---------------
JOURNAL=$(tdm_bin tandem-journal)
# entry NODE SERIAL: NODE's journal entry that ends at SERIAL ("INDEX FROM TO REMOVED ADDED
# SHA256"), '' when there is none
entry() { "$JOURNAL" show "$TDM_CL/$1/work/${Z}journal" | awk -v s="$2" '$3 == s' | tail -n 1; }
prev=$(awk -v z=$Z -v s="$PUB" '$2 == z && $3 == s { print p; exit } $2 == z { p = $3 }' "$(tdm_publog "$A")")
[ -n "$prev" ] || tdm_fail "$A published no serial before $PUB" -- "$(tdm_publog "$A")"
ea=$(entry "$A" "$PUB")
[ -n "$ea" ] || tdm_fail "$A's journal has no entry ending at serial $PUB" -- "$("$JOURNAL" show "$TDM_CL/$A/work/${Z}journal")"
read -r _ from _ removed added sum_a <<<"$ea"
[ "$from" = "$prev" ] || tdm_fail "$A's journal entry for serial $PUB starts at $from, not at the serial published before it ($prev)"
# the delegation's NS pair, its NSEC3 and the neighbour's, SOA RRSIG ...: added, and the
# replaced RRSIGs removed
if [ "$added" -lt 4 ] || [ "$removed" -lt 1 ]; then
	tdm_fail "$A's journal entry $prev -> $PUB: $removed removed, $added added"
fi
same_entry() { [ "$(entry "$B" "$PUB" | awk '{ print $2, $6 }')" = "$from $sum_a" ]; }
tdm_wait 30 "$B's journal to hold the same changeset $prev -> $PUB" same_entry
tdm_pass "journals: $A's entry $prev -> $PUB ($removed removed, $added added), $B's has the same checksum"

# in_sync ACTIVE STANDBY: the standby has shadowed (and agreed on) the active's latest
# publication. The kills below come right after it holds: a standby that missed the last
# serial cannot follow an incremental run, and asks for a full one (tested elsewhere:
# test_cluster_failover, test_node_overrun), which is not what these steps measure.
in_sync() {
	local s
	s=$(tdm_last_serial "$1" $Z)
	[ -n "$s" ] && agrees "$2" "$s"
}

# ---- both nodes killed and restarted -----------------------------------------------------
tdm_wait 60 "$B to have shadowed $A's latest serial" in_sync "$A" "$B"
kill -9 "$(cat "$TDM_CL/run/node-a.pid")" "$(cat "$TDM_CL/run/node-b.pid")"
before=$(tdm_status_get "zone('$Z')['serial']")
mark_a=$(wc -l <"$(log node-a)")
mark_b=$(wc -l <"$(log node-b)")
bash "$TDM_CL/run/node-a.start"
bash "$TDM_CL/run/node-b.start"
tdm_log "killed both nodes at serial $before (kill -9), started them again"
# after_restart NODE MARK: the log lines since the restart
after_restart() { tail -n +"$(($2 + 1))" "$(log "$1")"; }
restarted_incremental() {
	local h s line
	h=$(tdm_holder $Z)
	[ -n "$h" ] || return 1
	s=$(tdm_last_serial "$h" $Z)
	[ -n "$s" ] && [ "$s" -gt "$before" ] || return 1
	local mark=$mark_a
	[ "$h" = node-b ] && mark=$mark_b
	line=$(after_restart "$h" "$mark" | grep "zone $Z: signing run: serial $s, " | tail -n 1)
	[ -n "$line" ] || return 1
	printf '%s\n' "$line" >"$TDM_TMP/restart-run.line"
	PUB=$s
	H=$h
}
H=
tdm_wait 90 "a publication after the restart" restarted_incremental
r=$(sed -nE 's/.*RRSIGs ([0-9]+) new \/ ([0-9]+) reused.*/\2/p' "$TDM_TMP/restart-run.line")
if [ -z "$r" ] || [ "$r" -le 20 ]; then
	tdm_fail "the first run after the restart signed in full: $(cat "$TDM_TMP/restart-run.line")"
fi
S=node-a
[ "$H" = node-a ] && S=node-b
standby_agrees_later() {
	local s
	s=$(tdm_last_serial "$H" $Z)
	agrees "$S" "$s" || agrees "$S" "$PUB"
}
tdm_wait 90 "$S to agree again after the restart" standby_agrees_later
mark=$mark_a
[ "$H" = node-b ] && mark=$mark_b
first=$(after_restart "$H" "$mark" | grep -m1 "zone $Z: signing run: serial ")
[[ $first == *", gate "*" s (full, "* ]] ||
	tdm_fail "the first run after the restart was not gated whole: $first"
# the node that published the committed serial loads its file once: the transfer server
# serves that copy, and its first run (signing, or shadowing the other node's next serial)
# builds on the very same copy, unless it adopted its own copy of the serial it shadows
shared=
for n in node-a node-b; do
	m=$mark_a
	[ "$n" = node-b ] && m=$mark_b
	after_restart "$n" "$m" | grep -F "zone $Z: serving serial $before (published by this node)" >/dev/null || continue
	first_any=$(after_restart "$n" "$m" | grep -m1 -E "zone $Z: (signing|shadow) run: serial ")
	case $first_any in
	*", built on serial $before as loaded at start (the copy served)"*) shared+=" $n" ;;
	*"taken from this node's own copy"*) ;;
	*) tdm_fail "$n serves serial $before from its file, but its first run did not build on that copy: $first_any" ;;
	esac
done
[ -n "$shared" ] || grep -qF "serving serial $before (published by this node)" <(after_restart node-a "$mark_a") <(after_restart node-b "$mark_b") ||
	tdm_fail "neither node serves serial $before, its own publication, after the restart"
tdm_pass "after kill -9 of both nodes: $H's serial $PUB reused $r RRSIGs from its own copy (gated whole); $S agrees again; built on the copy served:${shared:- none (adopted)}"

# ---- a takeover continues incrementally ----------------------------------------------------
tdm_wait 60 "$S to have shadowed $H's latest serial" in_sync "$H" "$S"
last=$(tdm_last_serial "$H" $Z)
mark=$(wc -l <"$(log "$S")")
kill -9 "$(cat "$TDM_CL/run/$H.pid")"
taken_incremental() {
	local s line
	s=$(tdm_last_serial "$S" $Z)
	[ -n "$s" ] && [ "$s" -gt "$last" ] || return 1
	line=$(after_restart "$S" "$mark" | grep "zone $Z: signing run: serial $s, " | tail -n 1)
	[ -n "$line" ] || return 1
	printf '%s\n' "$line" >"$TDM_TMP/takeover-run.line"
	PUB=$s
}
tdm_wait 90 "$S to take over and publish" taken_incremental
r=$(sed -nE 's/.*RRSIGs ([0-9]+) new \/ ([0-9]+) reused.*/\2/p' "$TDM_TMP/takeover-run.line")
if [ -z "$r" ] || [ "$r" -le 20 ]; then
	tdm_fail "the first run after the takeover signed in full: $(cat "$TDM_TMP/takeover-run.line")"
fi
first=$(after_restart "$S" "$mark" | grep -m1 "zone $Z: signing run: serial ")
[[ $first == *", gate "*" s (full, "* ]] ||
	tdm_fail "the first run after the takeover was not gated whole: $first"
tdm_pass "takeover: $S's first serial $PUB reused $r RRSIGs (gated whole)"
tdm_validate_published "$S" $Z
ldns-verify-zone -ZZ "$TDM_TMP/verify.zone" >"$TDM_TMP/ldns-zonemd.out" 2>&1 ||
	tdm_fail "ldns-verify-zone -ZZ refuses the published zone's ZONEMD" -- "$TDM_TMP/ldns-zonemd.out"
tdm_check_publications node-a node-b
tdm_pass "no serial published twice; the published zone validates, its ZONEMD too"
