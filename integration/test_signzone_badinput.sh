#!/bin/bash
# Bad input zones are refused with "FILE:LINE: reason" and a non-zero exit, and a previous
# OUT file is left byte-for-byte untouched (no temp files left either). Occluded data under
# a delegation is only a warning: signing succeeds and that data stays unsigned.
#
# Fixtures: integration/data/bad/*.zone. Each has a "; expect: ERE" header line (the reason,
# matched case-insensitively on the same stderr line as FILE:LINE:) and marks the offending
# line(s) with "; <-- error"; a fixture with no marked line accepts any line number or none.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"

tdm_token "$TDM_TMP/hsm" badinput
keys=(--ksk "$(tdm_key_uri ksk)" --zsk "$(tdm_key_uri zsk)" -a ecdsap256sha256 --nsec3)

# make the keys once on a good zone, so each bad case fails on its input and nothing else
tdm_assert_ok "key generation on a good zone" \
	tdm_signzone -o example "${keys[@]}" --gen-keys -f "$TDM_TMP/good.signed" "$TDM_SRC/conf/example.zone"

fixtures=("$TDM_DATA"/bad/*.zone)
[ "${#fixtures[@]}" -ge 8 ] || tdm_fail "expected at least 8 fixtures in $TDM_DATA/bad, found ${#fixtures[@]}"

for fixture in "${fixtures[@]}"; do
	name=$(basename "$fixture" .zone)
	base=$(basename "$fixture")
	expect=$(sed -n 's/^; expect: //p' "$fixture")
	[ -n "$expect" ] || tdm_fail "$base: no '; expect:' line"
	lines=$(grep -n '; <-- error' "$fixture" | cut -d: -f1 | paste -sd'|' -) || true
	# no marked line (missing SOA): "FILE:LINE: reason" or "FILE: reason"
	if [ -n "$lines" ]; then linere="(${lines}):"; else linere="([0-9]+:)?"; fi

	# a previous good output, with an old mtime, alone in its directory
	outdir=$TDM_TMP/out-$name
	mkdir "$outdir"
	printf '; previous signed zone for %s\nexample. 3600 IN TXT "keep me"\n' "$name" >"$outdir/zone.signed"
	touch -d '2001-02-03 04:05:06' "$outdir/zone.signed"
	cp -p "$outdir/zone.signed" "$TDM_TMP/$name.before"

	tdm_assert_fails "$name: refused" tdm_signzone -o example "${keys[@]}" -f "$outdir/zone.signed" "$fixture"
	err=$TDM_ERR
	# FILE:LINE: reason, all on one line (the file as given or its base name)
	grep -E "(^|[[:space:]/])${base//./\\.}:${linere}[[:space:]]" "$err" >"$TDM_TMP/$name.located" ||
		tdm_fail "$name: no '$base:LINE:' message with LINE in {${lines:-any}}" -- "$err"
	grep -Eiq -- "$expect" "$TDM_TMP/$name.located" ||
		tdm_fail "$name: the $base:LINE: message does not match /$expect/" -- "$err"
	tdm_assert_same_file "$name: previous OUT untouched" "$TDM_TMP/$name.before" "$outdir/zone.signed"
	[ "$(stat -c %Y "$outdir/zone.signed")" = "$(stat -c %Y "$TDM_TMP/$name.before")" ] ||
		tdm_fail "$name: OUT's mtime changed (was it rewritten?)"
	left=$(find "$outdir" -mindepth 1 ! -name zone.signed)
	[ -z "$left" ] || tdm_fail "$name: files left beside OUT: $left"
	tdm_pass "$name: $(head -n 1 "$TDM_TMP/$name.located")"
done

# missing OUT must stay missing
tdm_assert_fails "syntax error, no previous OUT" \
	tdm_signzone -o example "${keys[@]}" -f "$TDM_TMP/new/zone.signed" "$TDM_DATA/bad/syntax-error.zone"
[ ! -e "$TDM_TMP/new/zone.signed" ] || tdm_fail "OUT created although the input was refused"

# a missing input file is an error too
tdm_assert_fails "missing input file" \
	tdm_signzone -o example "${keys[@]}" -f "$TDM_TMP/none.signed" "$TDM_TMP/does-not-exist.zone"

# ---- occluded data: a warning, and left unsigned ----------------------------------------
occ=$TDM_DATA/occluded.zone
for denial in nsec nsec3; do
	out=$TDM_TMP/occluded.$denial.signed
	tdm_assert_ok "occluded ($denial): signing succeeds" \
		tdm_signzone -o example "${keys[@]/--nsec3/--$denial}" -f "$out" "$occ"
	err=$TDM_ERR
	tdm_assert_grep "occluded ($denial): warning about occluded data" 'occlud' "$err"
	read -ra owners <<<"$(sed -n 's/^; occluded: //p' "$occ")"
	[ "${#owners[@]}" -ge 2 ] || tdm_fail "occluded.zone: no '; occluded:' owner list"
	for owner in "${owners[@]}"; do
		grep -Fiq "$owner" "$err" || tdm_fail "occluded ($denial): warning does not name $owner" -- "$err"
		awk -v o="$owner" 'tolower($1) == o && ($3 == "IN" ? $4 : $3) ~ /^(RRSIG|NSEC)$/ { print; bad = 1 }
			END { exit bad }' "$out" >"$TDM_TMP/occ.hits" ||
			tdm_fail "occluded ($denial): $owner is signed or in the denial chain" -- "$TDM_TMP/occ.hits"
	done
	# the delegation's DS is signed, its NS and glue are not
	awk '($3 == "IN" ? $4 : $3) == "RRSIG" && tolower($1) == "sub.example." && ($3 == "IN" ? $5 : $4) == "DS" { f = 1 } END { exit !f }' "$out" ||
		tdm_fail "occluded ($denial): DS at sub.example. not signed"
	awk '($3 == "IN" ? $4 : $3) == "RRSIG" && (tolower($1) == "ns1.sub.example." || (tolower($1) == "sub.example." && ($3 == "IN" ? $5 : $4) == "NS")) { print; bad = 1 }
		END { exit bad }' "$out" >"$TDM_TMP/occ.glue" ||
		tdm_fail "occluded ($denial): glue or delegation NS signed" -- "$TDM_TMP/occ.glue"
	tdm_assert_ok "occluded ($denial): dnssec-verify" dnssec-verify -o example "$out"
	tdm_assert_ok "occluded ($denial): --verify-only" tdm_signzone -o example --verify-only "$out"
done
