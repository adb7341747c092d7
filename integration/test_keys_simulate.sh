#!/bin/bash
# The key-state machine end to end. `tandemctl keys simulate` runs three years of rollovers
# on a fake clock with keys made in SoftHSM, signing and gating the zone at every event and
# checking every DS/DNSKEY/RRSIG mix a resolver may cache: dps-default and modern, an
# emergency ZSK and KSK rollover, and an RSASHA256 -> ECDSAP256SHA256 algorithm rollover,
# each with zero validation failures; 30 days of 15-minute update cycles with reuse. Then the `tandemctl keys` state commands on a real
# token: generate, list, ds, ds-seen, ds-gone, rollover, emergency, and their refusals.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"
CTL=$(tdm_bin tandemctl)
tdm_token "$TDM_TMP/hsm" keys
DPS=$TDM_SRC/conf/dps-default.yaml
MODERN=$TDM_SRC/conf/modern.yaml

# ---- simulations ----------------------------------------------------------------------------

# sim_check WHAT MIN_ZSK MIN_KSK ARGS...: the simulation passes, its last line is the summary,
# with at least MIN_ZSK / MIN_KSK completed rollovers and no validation failure.
sim_check() {
	local what=$1 minz=$2 mink=$3 line
	shift 3
	tdm_assert_ok "simulate: $what" "$CTL" keys simulate --module "$TDM_MODULE" "$@"
	line=$(tail -n 1 "$TDM_OUT")
	local re='^summary: zsk_rollovers=([0-9]+) ksk_rollovers=([0-9]+) validation_failures=([0-9]+)$'
	[[ $line =~ $re ]] || tdm_fail "$what: last line is not the summary: '$line'" -- "$TDM_OUT"
	local z=${BASH_REMATCH[1]} k=${BASH_REMATCH[2]} f=${BASH_REMATCH[3]}
	[ "$f" -eq 0 ] || tdm_fail "$what: $f validation failures" -- "$TDM_OUT"
	[ "$z" -ge "$minz" ] || tdm_fail "$what: $z ZSK rollovers, expected at least $minz" -- "$TDM_OUT"
	[ "$k" -ge "$mink" ] || tdm_fail "$what: $k KSK rollovers, expected at least $mink" -- "$TDM_OUT"
	tdm_assert_no_grep "$what: no failure lines" '(GATE|VALIDATION) FAILURE:' "$TDM_OUT"
	cp "$TDM_OUT" "$TDM_TMP/sim-$(printf '%s' "$what" | tr -c 'A-Za-z0-9' '_').out"
	tdm_pass "$what: $line"
}

# line_no FILE ERE: number of the first line matching ERE (fails when none does).
line_no() {
	local n
	n=$(grep -nE -m1 -- "$2" "$1" | cut -d: -f1)
	[ -n "$n" ] || tdm_fail "no line matches /$2/" -- "$1"
	printf '%s\n' "$n"
}

sim_check "dps-default 3 years" 11 2 -p "$DPS" --years 3
out=$TDM_OUT
# the DPS's timings (issue 9): one key per role to start with, a ZSK successor published 7 days
# and a KSK successor 30 days before they sign, no standby in between
[ "$(grep -c '^2026-01-01 00:00:00 .*generated in the HSM' "$out")" -eq 2 ] ||
	tdm_fail "dps: expected one KSK and one ZSK at the start" -- "$out"
tdm_pass "dps: one KSK and one ZSK at the start"
tdm_assert_grep "dps: ZSK pre-published 7 days before the roll" \
	'^2026-03-25 00:00:00 .*zsk .*generated -> published' "$out"
tdm_assert_grep "dps: planned ZSK rollover at 90 days" \
	'^2026-04-01 00:00:00 .*zsk .*ready -> active .*planned rollover' "$out"
tdm_assert_grep "dps: KSK pre-published 30 days before the roll" \
	'^2026-12-02 00:00:00 .*ksk .*generated -> published' "$out"
tdm_assert_grep "dps: KSK successor DS seen at the parent" 'parent: DS of ksk [0-9]+ published' "$out"
tdm_assert_grep "dps: KSK rollover after a year" \
	'^2027-01-01 00:00:00 .*ksk .*ready -> active .*planned rollover' "$out"
tdm_assert_grep "dps: old DS withdrawn after the roll" '^2027-01-01 13:15:00 .*ksk .*retracting' "$out"
tdm_assert_grep "dps: old KSK removed after 30 days" '^2027-01-31 00:00:00 .*ksk .*retired -> removed' "$out"
tdm_assert_no_grep "dps: nothing published a year ahead" '^2026-01-0[2-9] .*-> published' "$out"
sim_check "modern 3 years" 11 2 -p "$MODERN" --years 3
tdm_assert_grep "modern: ECDSA keys" 'zsk .* alg 13 ' "$TDM_OUT"

# emergencies with no standby (item 2): a ZSK stops signing at once, the KSK signs the data
# until the replacement made at once is in every cache (13h); a KSK's replacement signs the
# DNSKEY RRset at once, the DS is swapped and the compromised KSK stops once the new DS is
# in every cache. All of it signed, gated and cache-checked at every event.
sim_check "emergency ZSK at day 200" 11 2 -p "$DPS" --years 3 --emergency-zsk 200
out=$TDM_OUT
tdm_assert_grep "emergency ZSK: injected" '^2026-07-20 00:00:00  inject: zsk' "$out"
tdm_assert_grep "emergency ZSK: compromised key withdrawn from signing at once" \
	'^2026-07-20 00:00:00  zsk .*active -> retired .*emergency' "$out"
tdm_assert_grep "emergency ZSK: replacement made at once" \
	'^2026-07-20 00:00:00  zsk .*generated -> published' "$out"
tdm_assert_grep "emergency ZSK: replacement signs once in every cache" \
	'^2026-07-20 13:00:00  zsk .*published -> active .*emergency' "$out"
tdm_assert_grep "emergency ZSK: removed after the 2-day emergency post-publication" \
	'^2026-07-22 00:00:00  zsk .*retired -> removed' "$out"

sim_check "emergency ZSK on day 1" 11 2 -p "$DPS" --years 3 --emergency-zsk 1
tdm_assert_grep "emergency ZSK day 1: withdrawn at once" \
	'^2026-01-02 00:00:00  zsk .*active -> retired .*emergency' "$TDM_OUT"

sim_check "emergency KSK at day 400" 11 2 -p "$DPS" --years 3 --emergency-ksk 400
out=$TDM_OUT
tdm_assert_grep "emergency KSK: replacement signs at once" \
	'^2027-02-05 00:00:00  ksk .*published -> active .*emergency' "$out"
tdm_assert_grep "emergency KSK: compromised DS withdrawn once RRsets it alone signed are out of caches" \
	'^2027-02-05 13:15:00  ksk .*retracting .*DS swap' "$out"
tdm_assert_grep "emergency KSK: compromised key stops signing once the new DS is cached" \
	'^2027-02-06 15:00:00  ksk .*active -> retired .*emergency' "$out"
tdm_assert_grep "emergency KSK: removed after the 7-day emergency post-publication" \
	'^2027-02-13 15:00:00  ksk .*retired -> removed' "$out"

# with `standby: true` (the scheme before issue 9) a ready standby takes over at once
SB=$TDM_TMP/standby.yaml
printf 'policy: standby\nkeys:\n  ksk: { standby: true }\n  zsk: { standby: true }\n' >"$SB"
sim_check "standby option: emergency ZSK at day 200" 11 2 -p "$SB" --years 3 --emergency-zsk 200
tdm_assert_grep "standby option: standby takes over at once" \
	'^2026-07-20 00:00:00  zsk .*ready -> active .*emergency' "$TDM_OUT"

sim_check "algorithm rollover RSASHA256 -> ECDSAP256SHA256 at day 500" 11 2 \
	-p "$DPS" --years 3 --algorithm-rollover 500:ecdsap256sha256
out=$TDM_OUT
s1=$(line_no "$out" 'algorithm rollover 1/5')
s2=$(line_no "$out" 'algorithm rollover 2/5')
s3=$(line_no "$out" 'algorithm rollover 3/5')
s4=$(line_no "$out" 'algorithm rollover 4/5')
s5=$(line_no "$out" 'algorithm rollover 5/5')
if ! { [ "$s1" -lt "$s2" ] && [ "$s2" -lt "$s3" ] && [ "$s3" -lt "$s4" ] && [ "$s4" -lt "$s5" ]; }; then
	tdm_fail "algorithm rollover steps out of order ($s1 $s2 $s3 $s4 $s5)" -- "$out"
fi
tdm_pass "algorithm rollover: signatures, DNSKEY, DS swap, DNSKEY removal, signature removal, in order"
tdm_assert_grep "algorithm rollover: new KSK's DS seen" 'parent: DS of ksk [0-9]+ published' "$out"
if awk -v s5="$s5" 'NR > s5 && / (ksk|zsk) .* alg 8 .*(-> active|generated)/ { bad = 1 } END { exit !bad }' "$out"; then
	tdm_fail "an RSASHA256 key was activated or made after the algorithm rollover" -- "$out"
fi
tdm_pass "algorithm rollover: only ECDSAP256SHA256 keys afterwards"

# 30 days as a node runs them (issue 10): signed every 15 minutes, each run an update of the
# last (signatures reused and refreshed), ZSKs rolled every 10 days and once in an
# emergency; the caches are checked against the keys the zone's data really carries (a
# stopped ZSK's reused signatures included): no failure, no signature ever near expiry
# (the refresh time, 2 days, is always left), and most signatures kept from run to run.
R30=$TDM_TMP/roll30.yaml
printf 'policy: roll30\nkeys:\n  zsk: { lifetime: 10d }\n' >"$R30"
for emerg in "" 5; do
	what="30 days of 15-minute cycles${emerg:+, emergency ZSK at day $emerg}"
	sim_check "$what" 2 0 -p "$R30" --days 30 --cycle -q ${emerg:+--emergency-zsk "$emerg"}
	re='^signatures: ([0-9]+) made, ([0-9]+) reused; least validity left at any run: ([0-9]+) s$'
	line=$(grep -E '^signatures: ' "$TDM_OUT") || tdm_fail "$what: no signatures line" -- "$TDM_OUT"
	[[ $line =~ $re ]] || tdm_fail "$what: bad signatures line '$line'" -- "$TDM_OUT"
	made=${BASH_REMATCH[1]} reused=${BASH_REMATCH[2]} left=${BASH_REMATCH[3]}
	[ "$left" -gt 172800 ] || tdm_fail "$what: a signature had only $left s left" -- "$TDM_OUT"
	[ "$reused" -gt $((made * 10)) ] ||
		tdm_fail "$what: $made signatures made and only $reused reused" -- "$TDM_OUT"
	tdm_pass "$what: $made made, $reused reused, at least $left s of validity left"
done

tdm_assert_ok "simulate on a given token" "$CTL" keys simulate --module "$TDM_MODULE" \
	--token "pkcs11:token=keys;pin-source=$TDM_PIN_FILE" -p "$MODERN" --years 1 -q
tdm_assert_grep "given token: summary" '^summary: .* validation_failures=0$' "$TDM_OUT"

# a policy whose timing is unsafe is refused before anything runs
bad=$TDM_TMP/unsafe.yaml
printf 'policy: unsafe\nkeys:\n  zsk: { postpublish: 1h, emergency-postpublish: 1h }\n' >"$bad"
tdm_assert_fails "simulate: unsafe policy refused" "$CTL" keys simulate -p "$bad" --years 1
tdm_assert_grep "unsafe policy: reason names the line" 'unsafe.yaml:3:' "$TDM_ERR"
tdm_assert_fails "simulate: bad --algorithm-rollover" "$CTL" keys simulate -p "$DPS" \
	--algorithm-rollover 100:rsamd5

# ---- state commands on a real token ---------------------------------------------------------
# (with the standby option: the first four keys, then a DPS-default zone's emergency below)

ST=$TDM_TMP/state
URI="pkcs11:token=keys;pin-source=$TDM_PIN_FILE"
T0=1767225600
k() { "$CTL" keys "$@" --state "$ST" --zone example; }

tdm_assert_fails "generate without policy or token for a new zone" k generate --now "$T0"
tdm_assert_ok "generate the first keys" k generate -p "$SB" --token "$URI" --module "$TDM_MODULE" --now "$T0"
[ "$(grep -c '^generated ' "$TDM_OUT")" -eq 4 ] || tdm_fail "expected 4 keys generated" -- "$TDM_OUT"
tdm_assert_grep "generate: initial keys active" 'ksk key 1 .*generated -> active' "$TDM_OUT"
[ -s "$ST/keystate.pb" ] || tdm_fail "no state file in $ST"
tdm_assert_ok "list" k list --now "$T0"
tdm_assert_grep "list: KSK 1 active" '^1 +ksk +8 +[0-9]+ +active ' "$TDM_OUT"
tdm_assert_grep "list: KSK 2 published" '^2 +ksk +8 +[0-9]+ +published ' "$TDM_OUT"
tdm_assert_grep "list: ZSK 3 active" '^3 +zsk +8 +[0-9]+ +active ' "$TDM_OUT"
tdm_assert_grep "list: next event is the DS submission" '^next event: 2026-01-01T13:00:00Z' "$TDM_OUT"
tdm_assert_ok "ds before the DNSKEY is in caches" k ds --now "$T0"
[ ! -s "$TDM_OUT" ] || tdm_fail "ds printed records too early" -- "$TDM_OUT"

T13=$((T0 + 13 * 3600))
tdm_assert_ok "ds after 13 hours" k ds --now "$T13"
[ "$(grep -cE '^example\. 86400 IN DS [0-9]+ 8 2 [0-9A-F]{64} ; key [12],' "$TDM_OUT")" -eq 2 ] ||
	tdm_fail "expected the DS of KSKs 1 and 2" -- "$TDM_OUT"
tag1=$(awk '$1 == 1 && $2 == "ksk" { print $4 }' "$TDM_TMP/ok-list.out")
tdm_assert_grep "ds: key 1's record carries its tag" "^example\\. 86400 IN DS $tag1 8 2 " "$TDM_OUT"
# the same DS, computed by BIND from the DNSKEY the signer publishes for that HSM key
cp "$TDM_OUT" "$TDM_TMP/ds13.out"
tdm_assert_ok "sign with the generated keys" tdm_signzone -o example --now "$T13" \
	--ksk "$(tdm_key_uri example-ksk-1)" --zsk "$(tdm_key_uri example-zsk-3)" \
	-f "$TDM_TMP/example.signed" "$TDM_SRC/conf/example.zone"
tdm_assert_ok "dnssec-dsfromkey" dnssec-dsfromkey -2 -f "$TDM_TMP/example.signed" example
bind_ds=$(awk -v t="$tag1" '{ for (i = 1; i < NF; i++) if ($i == "DS" && $(i + 1) == t) {
	d = ""; for (j = i + 4; j <= NF; j++) d = d $j; print $(i + 1), $(i + 2), $(i + 3), toupper(d) } }' "$TDM_OUT")
ours=$(awk -v t="$tag1" '$5 == t { print $5, $6, $7, $8 }' "$TDM_TMP/ds13.out")
if [ -z "$ours" ] || [ "$bind_ds" != "$ours" ]; then
	tdm_fail "DS differs from BIND's: '$ours' vs '$bind_ds'" -- "$TDM_OUT"
fi
tdm_pass "ds: key 1's DS equals dnssec-dsfromkey's"
tdm_assert_ok "a state command applies the DS submission" k list --now "$T13"
tdm_assert_grep "list: DS submitted" '^1 +ksk .* submitted ' "$TDM_OUT"
tdm_assert_grep "list: CDS pending" 'pending: the parent' "$TDM_OUT"

T14=$((T0 + 14 * 3600))
tdm_assert_fails "ds-seen for a ZSK" k ds-seen --key 3 --now "$T14"
tdm_assert_grep "ds-seen ZSK: says why" 'no DS waiting' "$TDM_ERR"
tdm_assert_fails "ds-seen for an unknown key" k ds-seen --key 99 --now "$T14"
tdm_assert_grep "ds-seen unknown: says why" 'no key 99' "$TDM_ERR"
tdm_assert_fails "ds-gone for a key with no withdrawal pending" k ds-gone --key 1 --now "$T14"
tdm_assert_fails "emergency for an unknown key" k emergency --key 99 --now "$T14"
tdm_assert_fails "rollover without --role" k rollover --now "$T14"
cp "$ST/keystate.pb" "$TDM_TMP/before-seen.pb"
tdm_assert_ok "ds-seen KSK 1" k ds-seen --key 1 --now "$T14"
tdm_assert_ok "ds-seen KSK 2" k ds-seen --key 2 --now "$T14"
tdm_assert_fails "ds-seen twice" k ds-seen --key 1 --now "$T14"
tdm_assert_ok "list after ds-seen" k list --now "$T14"
tdm_assert_grep "list: DS seen" '^2 +ksk .* seen ' "$TDM_OUT"

# a ZSK rollover by hand once the standby is ready (7 days)
T8D=$((T0 + 8 * 86400))
tdm_assert_ok "manual ZSK rollover" k rollover --role zsk --now "$T8D"
tdm_assert_grep "rollover: ZSK 3 retired" 'zsk key 3 .*active -> retired' "$TDM_OUT"
tdm_assert_grep "rollover: ZSK 4 takes over" 'zsk key 4 .*ready -> active' "$TDM_OUT"
tdm_assert_grep "rollover: a new successor is wanted" 'pending: 1 key\(s\) to generate' "$TDM_OUT"
tdm_assert_ok "generate the successor" k generate --module "$TDM_MODULE" --now "$T8D"
tdm_assert_grep "generate: successor ZSK 5" 'generated zsk key 5' "$TDM_OUT"

# an emergency KSK rollover: the standby's DS is at the parent, so it takes over at once
T40=$((T0 + 40 * 86400))
tdm_assert_ok "emergency KSK 1" k emergency --key 1 --now "$T40"
tdm_assert_grep "emergency: KSK 1 withdrawn from signing" 'ksk key 1 .*active -> retired .*emergency' "$TDM_OUT"
tdm_assert_grep "emergency: KSK 2 signs" 'ksk key 2 .*ready -> active .*emergency' "$TDM_OUT"
tdm_assert_ok "ds after the emergency" k ds --now "$((T40 + 14 * 3600))"
tdm_assert_grep "ds: KSK 2 still wanted" '; key 2,' "$TDM_OUT"
tdm_assert_no_grep "ds: KSK 1 withdrawn" '; key 1,' "$TDM_OUT"
tdm_assert_ok "ds-gone KSK 1" k ds-gone --key 1 --now "$((T40 + 15 * 3600))"
tdm_assert_ok "list a week later" k list --now "$((T40 + 7 * 86400))"
tdm_assert_grep "list: KSK 1 removed after the emergency post-publication" '^1 +ksk .* removed' "$TDM_OUT"

# a DPS-default zone (no standby): a ZSK emergency on day 1 withdraws the key at once and
# asks for a replacement, which signs once it is in every cache
ST2=$TDM_TMP/state2
k2() { "$CTL" keys "$@" --state "$ST2" --zone dps.example; }  # other HSM labels
tdm_assert_ok "dps: generate the first keys" k2 generate -p "$DPS" --token "$URI" --module "$TDM_MODULE" --now "$T0"
[ "$(grep -c '^generated ' "$TDM_OUT")" -eq 2 ] || tdm_fail "expected 2 keys generated" -- "$TDM_OUT"
T1D=$((T0 + 86400))
tdm_assert_ok "dps: emergency ZSK 2 on day 1" k2 emergency --key 2 --now "$T1D"
tdm_assert_grep "dps emergency: ZSK 2 withdrawn at once" 'zsk key 2 .*active -> retired .*emergency' "$TDM_OUT"
tdm_assert_grep "dps emergency: the KSK signs the data" 'the KSK signs the zone' "$TDM_OUT"
tdm_assert_grep "dps emergency: a replacement is wanted" 'pending: 1 key\(s\) to generate' "$TDM_OUT"
tdm_assert_ok "dps: generate the replacement" k2 generate --module "$TDM_MODULE" --now "$((T1D + 60))"
tdm_assert_grep "dps emergency: replacement ZSK 3 published" 'zsk key 3 .*generated -> published' "$TDM_OUT"
tdm_assert_ok "dps: list 13 hours later" k2 list --now "$((T1D + 60 + 13 * 3600))"
tdm_assert_grep "dps emergency: ZSK 3 signs" '^3 +zsk .* active ' "$TDM_OUT"

# a corrupt or newer state file is refused and left alone
cp "$ST/keystate.pb" "$TDM_TMP/good.pb"
size=$(stat -c %s "$ST/keystate.pb")
head -c $((size - 7)) "$TDM_TMP/good.pb" >"$ST/keystate.pb"
cp "$ST/keystate.pb" "$TDM_TMP/truncated.pb"
tdm_assert_fails "list: truncated state refused" k list
tdm_assert_grep "truncated: says why" 'truncated' "$TDM_ERR"
tdm_assert_fails "ds-seen on a truncated state refused" k ds-seen --key 2
tdm_assert_same_file "truncated state left untouched" "$TDM_TMP/truncated.pb" "$ST/keystate.pb"
python3 - "$TDM_TMP/good.pb" "$ST/keystate.pb" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
assert data[0] == 0x08 and data[1] == 1, "the file starts with its version field"
data[1] = 9
open(sys.argv[2], "wb").write(data)
PY
tdm_assert_fails "list: state from a newer tandem refused" k list
tdm_assert_grep "newer: says why" 'newer tandem' "$TDM_ERR"
cp "$TDM_TMP/good.pb" "$ST/keystate.pb"
tdm_assert_ok "the good state still loads" k list
