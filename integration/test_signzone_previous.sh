#!/bin/bash
# tandem-signzone --previous: sign a generated 2,000-delegation zone, change a few
# delegations (removed, added, DS changed), sign again with the first output as the previous
# version: the unchanged RRsets keep their RRSIGs byte for byte (as many as the summary says
# were reused), and the result passes dnssec-verify, kzonecheck, ldns-verify-zone and the
# gate. A previous version signed with another ZSK gives none of its signatures to the new
# one; one with a broken signature is not used (full signing, with a warning); a previous
# file that does not load is refused before any signing. --cycles 2 --cycle-input: the change
# signed on the version held in memory updates the NSEC3 chain (records kept, only the new
# names hashed) and its output equals that of the same change signed from the file; with
# --hold-input the runs sign copies of the held input's arrays, the last one making only the
# SOA's signature.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"

tdm_token "$TDM_TMP/hsm" previous
tdm_zonegen -o tld -n 2000 --seed 11 >"$TDM_TMP/v1.zone"
keys=(--ksk "$(tdm_key_uri ksk)" --zsk "$(tdm_key_uri zsk)" -a rsasha256 --nsec3 -j 2)
now=$(date +%s)
now=$((now - now % 900))

tdm_assert_ok "first signing" \
	tdm_signzone -o tld "${keys[@]}" --gen-keys --now "$now" -v -f "$TDM_TMP/v1.signed" "$TDM_TMP/v1.zone"
tdm_assert_grep "first signing: all new" 'rrsigs: new=[1-9][0-9]* reused=0 refreshed=0' "$TDM_ERR"

# The change: every 100th delegation goes, every 100th signed one gets another DS digest,
# and 20 new delegations (10 with DS) arrive.
awk '
	$4 == "NS" && $1 != "tld." && !($1 in seen) { seen[$1] = ++n }
	{ i = seen[$1] }
	i && i % 100 == 0 { next }
	$4 == "DS" && i % 100 == 7 { $8 = "00" substr($8, 3) }
	{ print }
	END {
		for (k = 0; k < 20; k++) {
			printf "new%d.tld. 86400 IN NS ns1.dns-host1.net.\n", k
			if (k % 2 == 0)
				printf "new%d.tld. 86400 IN DS %d 8 2 %064d\n", k, 1000 + k, k
		}
	}' "$TDM_TMP/v1.zone" >"$TDM_TMP/v2.zone"
changed=$(diff "$TDM_TMP/v1.zone" "$TDM_TMP/v2.zone" | grep -c '^[<>]' || true)
[ "$changed" -ge 40 ] || tdm_fail "the change touched only $changed lines"

tdm_assert_ok "signing with --previous" \
	tdm_signzone -o tld "${keys[@]}" --now $((now + 900)) --previous "$TDM_TMP/v1.signed" -v \
	-f "$TDM_TMP/v2.signed" "$TDM_TMP/v2.zone"
cp "$TDM_ERR" "$TDM_TMP/v2.err"
read -r new reused refreshed < <(sed -n 's/^rrsigs: new=\([0-9]*\) reused=\([0-9]*\) refreshed=\([0-9]*\)$/\1 \2 \3/p' "$TDM_TMP/v2.err")
[ -n "${reused:-}" ] || tdm_fail "no rrsigs line in the summary" -- "$TDM_TMP/v2.err"
total=$(tdm_rrtype_count RRSIG "$TDM_TMP/v2.signed")
tdm_assert_eq "every RRSIG is new, reused or refreshed" "$total" "$((new + reused + refreshed))"
# The RRSIG records of the output that are byte for byte in the previous version
rrsigs() { awk '$4 == "RRSIG"' "$1" | sort; }
rrsigs "$TDM_TMP/v1.signed" >"$TDM_TMP/v1.rrsig"
rrsigs "$TDM_TMP/v2.signed" >"$TDM_TMP/v2.rrsig"
same=$(comm -12 "$TDM_TMP/v1.rrsig" "$TDM_TMP/v2.rrsig" | wc -l)
tdm_assert_eq "byte-identical RRSIGs = reused" "$reused" "$same"
[ $((same * 100)) -ge $((total * 95)) ] || tdm_fail "only $same of $total RRSIGs kept"
# a changed DS, a new delegation and the SOA are signed anew
diff "$TDM_TMP/v1.zone" "$TDM_TMP/v2.zone" >"$TDM_TMP/change.diff" || true
ds_owner=$(awk '$1 == ">" && $5 == "DS" && !found { print $2; found = 1 }' "$TDM_TMP/change.diff")
[ -n "$ds_owner" ] || tdm_fail "no changed DS in the diff"
for owner in "$ds_owner" new0.tld. tld.; do
	type=DS
	if [ "$owner" = tld. ]; then type=SOA; fi
	awk -v o="$owner" -v t="$type" '$1 == o && $5 == t' "$TDM_TMP/v2.rrsig" >"$TDM_TMP/one.rrsig"
	[ -s "$TDM_TMP/one.rrsig" ] || tdm_fail "$owner $type: not signed"
	if comm -12 "$TDM_TMP/v1.rrsig" "$TDM_TMP/one.rrsig" | grep -q .; then
		tdm_fail "$owner $type: its old RRSIG was kept"
	fi
done
tdm_pass "tld: $same of $total RRSIGs reused ($new new, $refreshed refreshed) after $changed changed lines"
tdm_validate tld "$TDM_TMP/v2.signed" "incremental tld"

# The same change as a second run on the version in memory (--cycle-input): only the names
# new to the chain are hashed, the rest of the NSEC3 chain is kept, and the output has the same records
# as the run from the file (RRSIGs aside: their times differ).
tdm_assert_ok "the change as a second cycle" \
	tdm_signzone -o tld "${keys[@]}" --now $((now + 900)) --previous "$TDM_TMP/v1.signed" -v \
	--cycles 2 --cycle-input "$TDM_TMP/v2.zone" -f "$TDM_TMP/v2c.signed" "$TDM_TMP/v1.zone"
read -r hashed kept < <(sed -n 's/^cycle 2: nsec3: hashed=\([0-9]*\) kept=\([0-9]*\)$/\1 \2/p' "$TDM_ERR")
[ -n "${kept:-}" ] || tdm_fail "no 'cycle 2: nsec3:' line" -- "$TDM_ERR"
# hashed: the chain's new owners (the new delegations, and the glue of removed ones that is
# authoritative now, with its ENT)
n3owners() { awk '$4 == "NSEC3" { print $1 }' "$1" | sort; }
n3owners "$TDM_TMP/v1.signed" >"$TDM_TMP/v1.n3"
n3owners "$TDM_TMP/v2c.signed" >"$TDM_TMP/v2c.n3"
tdm_assert_eq "cycle 2: only the new owners hashed" "$(comm -13 "$TDM_TMP/v1.n3" "$TDM_TMP/v2c.n3" | wc -l)" "$hashed"
n3=$(tdm_rrtype_count NSEC3 "$TDM_TMP/v2c.signed")
[ "$kept" -gt $((n3 * 9 / 10)) ] || tdm_fail "cycle 2: only $kept of $n3 NSEC3 records kept"
norrsig() { awk '$4 != "RRSIG" && $4 != "SOA" && $4 != "ZONEMD"' "$1" | sort; }
norrsig "$TDM_TMP/v2.signed" >"$TDM_TMP/v2.records"
norrsig "$TDM_TMP/v2c.signed" >"$TDM_TMP/v2c.records"
tdm_assert_same_file "cycle 2: the records of the run from the file" "$TDM_TMP/v2.records" "$TDM_TMP/v2c.records"
tdm_validate tld "$TDM_TMP/v2c.signed" "cycle 2"
tdm_run no-cycles tdm_signzone -o tld "${keys[@]}" --cycle-input "$TDM_TMP/v2.zone" -f "$TDM_TMP/x.signed" "$TDM_TMP/v1.zone"
tdm_assert_eq "--cycle-input without --cycles: usage" 1 "$TDM_RC"
tdm_assert_ok "the change held in memory (--hold-input)" \
	tdm_signzone -o tld "${keys[@]}" --now $((now + 900)) --previous "$TDM_TMP/v1.signed" -v \
	--cycles 3 --cycle-input "$TDM_TMP/v2.zone" --hold-input -f "$TDM_TMP/v2h.signed" "$TDM_TMP/v1.zone"
tdm_assert_grep "--hold-input: parsed once" "^cycle 2: input .*v2.zone parsed and held" "$TDM_ERR"
tdm_assert_grep "--hold-input: not loaded again" "^cycle 3: timing: load=0.000 " "$TDM_ERR"
tdm_assert_grep "--hold-input: cycle 3 signs the SOA only" "^cycle 3: rrsigs: new=1 reused=[1-9][0-9]* refreshed=0$" "$TDM_ERR"
norrsig "$TDM_TMP/v2h.signed" >"$TDM_TMP/v2h.records"
tdm_assert_same_file "--hold-input: the records of the run from the file" "$TDM_TMP/v2.records" "$TDM_TMP/v2h.records"
tdm_validate tld "$TDM_TMP/v2h.signed" "--hold-input"
tdm_run no-cycles-hold tdm_signzone -o tld "${keys[@]}" --hold-input -f "$TDM_TMP/x.signed" "$TDM_TMP/v1.zone"
tdm_assert_eq "--hold-input without --cycles: usage" 1 "$TDM_RC"
tdm_pass "cycle 2 on the version in memory: $hashed hashed, $kept of $n3 NSEC3 records kept"

# Another ZSK, the old one gone: nothing of v1 is kept.
keys2=(--ksk "$(tdm_key_uri ksk)" --zsk "$(tdm_key_uri zsk2)" -a rsasha256 --nsec3 -j 2)
tdm_assert_ok "signing with another ZSK and --previous" \
	tdm_signzone -o tld "${keys2[@]}" --gen-keys --now $((now + 1800)) --previous "$TDM_TMP/v1.signed" -v \
	-f "$TDM_TMP/v3.signed" "$TDM_TMP/v2.zone"
tdm_assert_grep "another ZSK: nothing reused" 'rrsigs: new=[0-9]+ reused=0 refreshed=[0-9]+' "$TDM_ERR"
rrsigs "$TDM_TMP/v3.signed" >"$TDM_TMP/v3.rrsig"
kept=$(comm -12 "$TDM_TMP/v1.rrsig" "$TDM_TMP/v3.rrsig" | wc -l)
tdm_assert_eq "another ZSK: RRSIGs in common with v1" 0 "$kept"
tdm_validate tld "$TDM_TMP/v3.signed" "another ZSK"

# A previous version with a broken signature fails the gate: a warning, then a full signing.
awk 'BEGIN { OFS = "\t" }
	$4 == "RRSIG" && $5 == "DS" && !done {
		c = substr($NF, 10, 1); $NF = substr($NF, 1, 9) (c == "A" ? "B" : "A") substr($NF, 11); done = 1
	}
	{ print }' "$TDM_TMP/v1.signed" >"$TDM_TMP/v1.tampered"
cmp -s "$TDM_TMP/v1.signed" "$TDM_TMP/v1.tampered" && tdm_fail "tampering changed nothing"
tdm_assert_ok "signing with a tampered --previous" \
	tdm_signzone -o tld "${keys[@]}" --now $((now + 900)) --previous "$TDM_TMP/v1.tampered" -v \
	-f "$TDM_TMP/v4.signed" "$TDM_TMP/v2.zone"
tdm_assert_grep "tampered previous: warning" "warning: previous version .*v1.tampered fails the gate .*signing in full" "$TDM_ERR"
tdm_assert_grep "tampered previous: nothing reused" 'rrsigs: new=[0-9]+ reused=0 refreshed=0' "$TDM_ERR"
tdm_assert_ok "tampered previous: the output passes the gate" tdm_signzone -o tld --verify-only "$TDM_TMP/v4.signed"

# A previous version that does not load: refused, exit 2, the output untouched.
printf 'this is not a zone\n' >"$TDM_TMP/bad.signed"
cp "$TDM_TMP/v3.signed" "$TDM_TMP/v3.copy"
tdm_run bad-previous tdm_signzone -o tld "${keys[@]}" --now $((now + 2700)) --previous "$TDM_TMP/bad.signed" \
	-f "$TDM_TMP/v3.signed" "$TDM_TMP/v2.zone"
tdm_assert_eq "bad previous: exit code" 2 "$TDM_RC"
tdm_assert_grep "bad previous: says which file" "previous version .*bad.signed refused" "$TDM_ERR"
tdm_assert_same_file "bad previous: output untouched" "$TDM_TMP/v3.copy" "$TDM_TMP/v3.signed"
