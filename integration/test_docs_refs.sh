#!/bin/bash
# The operator's pages name only tests that exist (issue 13): docs/dps-map.md,
# docs/operator-guide.md and docs/runbooks/*.md cite test scripts, unit test files and the
# unit tests in them as evidence; every path they name under integration/, tests/unit/,
# conf/ and deploy/ must exist, and every unit test named in brackets after a test file
# ("`tests/unit/x/test_x.c` (`name`, `prefix_*`)") must be a START_TEST of that file. A
# renamed or deleted test then breaks this test instead of leaving the map pointing at
# nothing. A control case checks that a made-up name is caught.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"

check() {
	python3 - "$TDM_SRC" "$@" <<'EOF'
import glob, os, re, sys
src, pages = sys.argv[1], sys.argv[2:]
bad, refs, names = [], 0, 0
for page in pages:
    text = open(page).read()
    rel = os.path.relpath(page, src)
    for p in sorted(set(re.findall(r"\b(?:integration|tests/unit|conf|deploy)/[A-Za-z0-9_./-]*[A-Za-z0-9_/]", text))):
        refs += 1
        if not os.path.exists(os.path.join(src, p)):
            bad.append(f"{rel}: {p} does not exist")
    for t in sorted(set(re.findall(r"`(test_[a-z0-9_]+\.sh)`", text))):
        refs += 1
        if not os.path.exists(os.path.join(src, "integration", t)):
            bad.append(f"{rel}: integration/{t} does not exist")
    for f, inner in re.findall(r"`(tests/unit/[A-Za-z0-9_/]+\.c)` \(([^)]*)\)", text):
        path = os.path.join(src, f)
        if not os.path.exists(path):
            continue  # reported above
        tests = set(re.findall(r"START_TEST\((\w+)\)", open(path).read()))
        for n in re.findall(r"`([a-z][a-z0-9_]*\*?)`", inner):
            names += 1
            ok = any(t.startswith(n[:-1]) for t in tests) if n.endswith("*") else n in tests
            if not ok:
                bad.append(f"{rel}: {n} is not a test of {f}")
print(f"{len(pages)} pages, {refs} paths, {names} unit test names")
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
}

pages=("$TDM_SRC/docs/dps-map.md" "$TDM_SRC/docs/operator-guide.md" "$TDM_SRC"/docs/runbooks/*.md)
[ "${#pages[@]}" -ge 8 ] || tdm_fail "expected the DPS map, the guide and six runbooks, found ${#pages[@]} pages"
check "${pages[@]}" >"$TDM_TMP/refs.out" 2>&1 || tdm_fail "the pages name tests that do not exist" -- "$TDM_TMP/refs.out"
grep -q ' 0 unit test names' "$TDM_TMP/refs.out" && tdm_fail "no unit test names found: the pattern is broken" -- "$TDM_TMP/refs.out"
tdm_pass "every test the operator's pages name exists ($(head -1 "$TDM_TMP/refs.out"))"

# control: a page naming a test that is not there, and a path that is not there, is refused
cat >"$TDM_TMP/bad.md" <<'EOF'
| 6.1 | x | y | `tests/unit/kasp/test_kasp.c` (`test_defaults_are_dps`, `test_no_such_thing`), `integration/test_nowhere.sh` |
EOF
if check "$TDM_TMP/bad.md" >"$TDM_TMP/bad.out" 2>&1; then
	tdm_fail "a made-up test name passed" -- "$TDM_TMP/bad.out"
fi
grep -q 'test_no_such_thing is not a test of tests/unit/kasp/test_kasp.c' "$TDM_TMP/bad.out" ||
	tdm_fail "the made-up unit test is not named" -- "$TDM_TMP/bad.out"
grep -q 'integration/test_nowhere.sh does not exist' "$TDM_TMP/bad.out" ||
	tdm_fail "the made-up script is not named" -- "$TDM_TMP/bad.out"
tdm_pass "a made-up unit test and script are caught, each named"
