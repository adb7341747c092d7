#!/bin/bash
# tandem-zonegen --change K: the zone of the same arguments with exactly K/3 delegations
# removed (with their glue), K/3 given a new DS and the rest added, every other record
# (the apex aside, which carries the --serial given) byte for byte as without --change;
# the same arguments give the same bytes, another --change-seed another choice; a change
# larger than the zone is refused. (integration/bench/incremental.sh feeds it to tandemd.)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"

gen() { tdm_zonegen -o tld -n 3000 --seed 5 --ds-share 0.2 "$@"; }
gen >"$TDM_TMP/base.zone"
gen --serial 2024010102 --change 301 --change-seed 9 >"$TDM_TMP/c1.zone"
gen --serial 2024010102 --change 301 --change-seed 9 >"$TDM_TMP/c2.zone"
gen --serial 2024010102 --change 301 --change-seed 10 >"$TDM_TMP/c3.zone"
cmp -s "$TDM_TMP/c1.zone" "$TDM_TMP/c2.zone" || tdm_fail "the same --change arguments gave different zones"
cmp -s "$TDM_TMP/c1.zone" "$TDM_TMP/c3.zone" && tdm_fail "another --change-seed gave the same zone"
tdm_pass "same arguments, same bytes; another --change-seed, another zone"

# counts: removed, added, DS changed, anything else changed (delegation = owner of an NS
# set below the apex; glue belongs to the delegation it sits under)
counts() {
	python3 - "$1" "$2" <<'PY'
import sys
from collections import defaultdict
def load(path):
    recs = defaultdict(list)
    for line in open(path):
        f = line.split()
        if f[3] != "SOA":
            recs[f[0]].append(line)
    return recs
a, b = load(sys.argv[1]), load(sys.argv[2])
def delegs(r):
    return {n for n, v in r.items() if n != "tld." and any(x.split()[3] == "NS" for x in v)}
da, db = delegs(a), delegs(b)
def under(name, ds):
    return next((d for d in ds if name.endswith("." + d)), None)
removed, added = da - db, db - da
ds_changed = other = 0
for n in da & db:
    if sorted(a[n]) == sorted(b[n]):
        continue
    if sorted(x for x in a[n] if x.split()[3] != "DS") == sorted(x for x in b[n] if x.split()[3] != "DS"):
        ds_changed += 1
    else:
        other += 1
for n in set(a) | set(b):
    if n in da or n in db or sorted(a.get(n, [])) == sorted(b.get(n, [])):
        continue
    # glue: only under a removed or added delegation
    if not (under(n, removed) or under(n, added)):
        other += 1
print(len(removed), len(added), ds_changed, other)
PY
}
read -r rm add ds other < <(counts "$TDM_TMP/base.zone" "$TDM_TMP/c1.zone")
[ "$rm $add $ds $other" = "100 101 100 0" ] ||
	tdm_fail "--change 301: removed $rm, added $add, DS changed $ds, other changes $other (want 100 101 100 0)"
tdm_pass "--change 301: 100 removed, 101 added, 100 with a new DS, nothing else changed"
grep -q '^tld\. 86400 IN SOA .* 2024010102 ' "$TDM_TMP/c1.zone" || tdm_fail "--serial not in the changed zone's SOA"

gen --change 0 | cmp -s - "$TDM_TMP/base.zone" || tdm_fail "--change 0 is not the unchanged zone"
if tdm_zonegen -o tld -n 10 --change 40 >"$TDM_TMP/big.zone" 2>"$TDM_TMP/big.err"; then
	tdm_fail "--change 40 of a 10-delegation zone was accepted"
fi
grep -q 'more than the 10 of the zone' "$TDM_TMP/big.err" || tdm_fail "no clear refusal" -- "$TDM_TMP/big.err"
tdm_pass "--change 0 is the zone itself; a change larger than the zone is refused"
