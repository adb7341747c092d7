#!/bin/bash
# Inputs that must not be signed as they are, on a whole local cluster (the active's input
# is DIR/NODE/in/example.zone):
#  - a FIFO in place of the input (a stand-in for a hung network file system): the active
#    refuses it at once (alert input-not-regular), keeps its lease and keeps publishing the
#    last good input; a regular file in its place is signed again;
#  - an input that does not load: alert input-refused naming FILE:LINE, the last good input
#    stays published; a fixed input clears it;
#  - an input written in place slowly (half, a 3 s pause, the rest) is never published half;
#  - an input truncated on a record boundary (head -n 40, renamed in: 4 of 5 delegations
#    gone) is held (alert input-held), the published zone keeps every delegation, until
#    the operator accepts its serial (tandemctl zone accept-input);
#  - a node started without its input says so at once (alert input-missing, blocking), is
#    not handed the zone on a switchover, and clears the alert when the input appears.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.

# Only the active's input is changed here (a FIFO, broken and shrinking files): the standby,
# whose input stays the original, cannot compare those serials, so compare-before-publish
# would hold each one for its timeout. It is off here; test_cluster_compare covers it.
sed 's/^\(  compare-before-publish:\) wait /\1 off  /' "$TDM_SRC/conf/dps-default.yaml" \
	>"$TDM_TMP/policy.yaml"
grep -q 'compare-before-publish: off' "$TDM_TMP/policy.yaml" || tdm_fail "no policy with compare off"
tdm_cluster_up --cycle 8 --policy "$TDM_TMP/policy.yaml"
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z after cluster-up"
B=node-a
[ "$A" = node-a ] && B=node-b
IN=$TDM_CL/$A/in/example.zone
LOG=$TDM_CL/log/$A.log
cp "$IN" "$TDM_TMP/orig.zone"

# version SERIAL: the original input with another SOA serial, on stdout.
version() { sed "s/2024010101 ; serial/$1 ; serial/" "$TDM_TMP/orig.zone"; }
# put FILE: renames FILE into place as the active's input (a new inode, as deliveries do).
put() { cp "$1" "$IN.new" && mv -f "$IN.new" "$IN"; }
# in_serial: the input serial of the zone's last commit.
in_serial() { tdm_status_get "zone('$Z')['input_serial']"; }
in_serial_is() { [ "$(in_serial)" = "$1" ]; }
# delegations FILE: delegation points (NS owners below the apex) in a zone file.
delegations() { awk '$3 == "IN" && $4 == "NS" && $1 != "example." { print $1 }' "$1" | sort -u | wc -l; }
# logged PATTERN: the active's log has a line matching PATTERN (extended regex).
logged() { grep -Eq "$1" "$LOG"; }
# status_alert NODE KIND [TEXT]: tandemctl status --json shows NODE's alert KIND for the zone
# (its reason containing TEXT); no_status_alert NODE KIND: it does not.
status_alert() {
	[ "$(tdm_status_get "any(a['kind'] == '$2' and a['zone'] == '$Z' and '${3:-}' in a['reason'] for a in node('$1')['alerts'])")" = True ]
}
no_status_alert() { ! status_alert "$1" "$2" && [ "$(tdm_status_get "len(node('$1')['alerts'])")" != "" ]; }
# holds: A still holds the zone and the coordinator sees it healthy.
holds() { [ "$(tdm_holder $Z)" = "$A" ] && [ "$(tdm_status_get "node('$A')['healthy']")" = True ]; }

[ "$(delegations "$TDM_CL/$A/out/example.zone")" = 5 ] || tdm_fail "the published zone lacks delegations"

# ---- a FIFO in place of the input ------------------------------------------------------------
s0=$(tdm_last_serial "$A" $Z)
mkfifo "$TDM_TMP/fifo"
mv -f "$TDM_TMP/fifo" "$IN"
tdm_wait 10 "$A to refuse the FIFO" logged "ALERT input-not-regular: .*is a fifo, not a regular file"
tdm_wait 10 "the status to show the alert" status_alert "$A" input-not-regular "is a fifo"
tdm_wait 60 "$A to publish the last good input again" tdm_published_after "$A" $Z "$s0"
holds || tdm_fail "$A lost the lease or its health over a FIFO input"
[ "$(delegations "$TDM_CL/$A/out/example.zone")" = 5 ] || tdm_fail "$A published something else"
tdm_pass "a FIFO input is refused at once; $A keeps the lease and the last good version"
version 2024010102 >"$TDM_TMP/v2.zone"
put "$TDM_TMP/v2.zone"
tdm_wait 30 "$A to sign the regular file that replaced the FIFO" in_serial_is 2024010102
tdm_wait 10 "the alert to clear" logged "alert input-not-regular cleared"
tdm_wait 10 "the status to clear it" no_status_alert "$A" input-not-regular
tdm_pass "a regular file in its place is signed again"

# ---- an input that does not load -------------------------------------------------------------
version 2024010103 | sed 's/^www              3600 IN A     192.0.2.80/www 3600 IN A 192.0.2.300/' \
	>"$TDM_TMP/v3.zone"
grep -q 192.0.2.300 "$TDM_TMP/v3.zone" || tdm_fail "the broken input was not made"
put "$TDM_TMP/v3.zone"
tdm_wait 20 "$A to refuse the broken input, naming FILE:LINE" \
	logged "ALERT input-refused: $IN:[0-9]+: "
tdm_wait 10 "the status to show the alert with FILE:LINE" status_alert "$A" input-refused "$IN:29: "
s1=$(tdm_last_serial "$A" $Z)
tdm_wait 60 "$A to publish the last good input again" tdm_published_after "$A" $Z "$s1"
in_serial_is 2024010102 || tdm_fail "a refused input was committed"
holds || tdm_fail "$A lost the lease or its health over a refused input"
version 2024010104 >"$TDM_TMP/v4.zone"
put "$TDM_TMP/v4.zone"
tdm_wait 30 "$A to sign the fixed input" in_serial_is 2024010104
tdm_wait 10 "the alert to clear" logged "alert input-refused cleared"
tdm_wait 10 "the status to clear it" no_status_alert "$A" input-refused
tdm_pass "a broken input is refused with FILE:LINE and the last good version stays; fixed, it is signed"

# ---- a slow write in place: never published half ----------------------------------------------
{
	version 2024010106
	for i in $(seq 1 20); do printf 'extra%d 3600 IN TXT "line %d"\n' "$i" "$i"; done
} >"$TDM_TMP/v6.zone"
n6=$(wc -l <"$TDM_TMP/v6.zone")
head -n $((n6 - 10)) "$TDM_TMP/v6.zone" >"$TDM_TMP/v6.half"
tail -n 10 "$TDM_TMP/v6.zone" >"$TDM_TMP/v6.rest"
# every 0.2 s, how many of the 20 extra records the published zone holds
extras() { grep -Ec '^extra[0-9]+\.example\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+TXT' "$TDM_CL/$A/out/example.zone" || true; }
(
	while :; do
		extras
		sleep 0.2
	done
) >"$TDM_TMP/extras.seen" 2>/dev/null &
WATCH=$!
tdm_on_exit "kill $WATCH 2>/dev/null || true"
cat "$TDM_TMP/v6.half" >"$IN" # same inode: written in place
sleep 3
cat "$TDM_TMP/v6.rest" >>"$IN"
tdm_wait 40 "$A to sign the whole in-place write" in_serial_is 2024010106
# committed, then published and written by the writer: the file follows within moments
all_extras() { [ "$(extras)" = 20 ]; }
tdm_wait 30 "the published zone to hold the 20 new records" all_extras
sleep 0.5 # one more look of the watcher at the whole file
kill "$WATCH" 2>/dev/null || true
wait "$WATCH" 2>/dev/null || true
if sort -u "$TDM_TMP/extras.seen" | grep -Evq '^(0|20)$'; then
	tdm_fail "a half-written input was published (extra records seen: $(sort -nu "$TDM_TMP/extras.seen" | tr '\n' ' '))"
fi
tdm_pass "an input written in place with a 3 s pause was published whole, never half"

# ---- an input truncated on a record boundary: held ------------------------------------------
version 2024010107 | head -n 40 >"$TDM_TMP/v7.zone"
[ "$(delegations "$TDM_TMP/v7.zone")" = 1 ] || tdm_fail "the truncated input should keep 1 delegation"
put "$TDM_TMP/v7.zone"
tdm_wait 20 "$A to hold the truncated input" \
	logged "ALERT input-held: .*SOA serial 2024010107 removes 4 of 5 delegations"
tdm_wait 10 "the status to show the alert" status_alert "$A" input-held "removes 4 of 5"
s2=$(tdm_last_serial "$A" $Z)
tdm_wait 60 "$A to refresh the last good input" tdm_published_after "$A" $Z "$s2"
in_serial_is 2024010106 || tdm_fail "the truncated input was committed"
[ "$(delegations "$TDM_CL/$A/out/example.zone")" = 5 ] || tdm_fail "$A published the truncated input"
holds || tdm_fail "$A lost the lease or its health over a held input"
tdm_validate_published "$A" $Z
tdm_pass "a truncated input is held; the published zone keeps its 5 delegations"
tdm_assert_ok "accept-input 2024010107" tdm_ctl zone accept-input $Z 2024010107
tdm_wait 30 "$A to sign the accepted input" in_serial_is 2024010107
tdm_wait 30 "$A's file to follow" tdm_file_current "$A" $Z
[ "$(delegations "$TDM_CL/$A/out/example.zone")" = 1 ] || tdm_fail "the accepted input is not what was published"
tdm_wait 10 "the alert to clear" logged "alert input-held cleared"
tdm_wait 10 "the status to clear it" no_status_alert "$A" input-held
tdm_pass "accepted by the operator, the truncated input is published"

# ---- a node started without its input --------------------------------------------------------
BIN=$TDM_CL/$B/in/example.zone
BLOG=$TDM_CL/log/$B.log
bpid=$(cat "$TDM_CL/run/$B.pid")
kill -TERM "$bpid"
gone() { ! kill -0 "$bpid" 2>/dev/null; }
tdm_wait 30 "$B to stop" gone
rm -f "$BIN" "$TDM_CL/$B/work/example.input" # no input and no copy of an earlier one
skip=$(wc -l <"$BLOG")
bash "$TDM_CL/run/$B.start"
blogged() { tail -n +"$((skip + 1))" "$BLOG" | grep -Eq "$1"; }
tdm_wait 20 "$B to say its input is missing" \
	blogged "ALERT input-missing \(blocking\): $BIN: No such file or directory"
tdm_wait 10 "the status to show the alert" status_alert "$B" input-missing "No such file"
[ "$(tdm_status_get "[a['blocking'] for a in node('$B')['alerts'] if a['kind'] == 'input-missing'][0]")" = True ] ||
	tdm_fail "input-missing of a node that never loaded the zone is not blocking"
if tdm_ctl switchover --zone $Z --to "$B" --wait 15 >"$TDM_TMP/switch.out" 2>&1; then
	tdm_fail "a switchover to $B, which cannot read its input, was accepted"
fi
grep -q "input-missing" "$TDM_TMP/switch.out" ||
	tdm_fail "the switchover was not refused for $B's alert" -- "$TDM_TMP/switch.out"
sleep 2
blogged "zone $Z: lease granted" && tdm_fail "$B took the lease of a zone it cannot sign"
tdm_wait 30 "$A to hold $Z" holds
cp "$IN" "$BIN"
tdm_wait 20 "$B to clear its alert" blogged "alert input-missing cleared"
tdm_wait 10 "the status to clear it" no_status_alert "$B" input-missing
tdm_pass "a node without its input says so at once and is not handed the zone"

tdm_check_publications node-a node-b
tdm_cluster_sanitizer_check
