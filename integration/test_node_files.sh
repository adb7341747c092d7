#!/bin/bash
# tandemd's files. (1) A configuration that is refused (a zone name that would write
# outside --out, like ../../x., or a missing key file) creates neither --out nor --work.
# (2) The temporary files a node killed mid-write left in --out and --work (one a complete
# signed zone) are removed when it starts again; other files stay. (3) A full disk: the
# active's --out is a small tmpfs (in a private mount namespace: this script runs itself
# under unshare -m, as root) filled up; its next publication or file write fails with "No
# space left on device" and the "disk" alert, the file is never half-written; once space is
# freed the file follows the last publication within a few seconds, not a whole retry
# period later.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
if [ -z "${TDM_MOUNT_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || tdm_fail "this test mounts a tmpfs in its own mount namespace: run it as root"
	command -v unshare >/dev/null || tdm_fail "required tool 'unshare' not found"
	exec env TDM_MOUNT_NS=1 unshare -m --propagation private bash "$0" "$@"
fi
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.
TANDEMD=$TDM_BUILD/src/tandemd/tandemd
[ -x "$TANDEMD" ] || tdm_fail "tandemd is not built under $TDM_BUILD"

# ---- (1) a refused configuration makes no directory ---------------------------------------
refused_makes_nothing() { # WHAT NEEDLE ARGS...
	local what=$1 needle=$2
	shift 2
	local dir=$TDM_TMP/refused rc=0
	rm -rf "$dir"
	mkdir -p "$dir"
	"$TANDEMD" --name n --site A --key "$dir/missing.secret" --coord tcp://127.0.0.1:9 \
		--coord-pub "$dir/missing.pub" --token "pkcs11:token=none;pin-source=$dir/pin" \
		--out "$dir/out" --work "$dir/work" "$@" >"$TDM_TMP/refused.out" 2>&1 || rc=$?
	[ "$rc" != 0 ] || tdm_fail "$what: tandemd started" -- "$TDM_TMP/refused.out"
	grep -q -- "$needle" "$TDM_TMP/refused.out" || tdm_fail "$what: no '$needle'" -- "$TDM_TMP/refused.out"
	if [ -e "$dir/out" ] || [ -e "$dir/work" ]; then
		tdm_fail "$what: refused, but it made $(find "$dir" -mindepth 1 -type d | tr '\n' ' ')"
	fi
	if [ -e "$dir/x.zone" ] || [ -e "$TDM_TMP/x.zone" ]; then
		tdm_fail "$what: wrote outside --out"
	fi
	tdm_pass "$what: refused ($needle), no directory made"
}
refused_makes_nothing "zone ../../x." "not a zone name" --zone "../../x.=$TDM_SRC/conf/example.zone"
refused_makes_nothing "zone a/b." "not a zone name" --zone "a/b.=$TDM_SRC/conf/example.zone"
refused_makes_nothing "missing key" "missing.secret" --zone "example.=$TDM_SRC/conf/example.zone"

# ---- (2) temporary files left by a kill -9 ----------------------------------------------------
tdm_cluster_up --cycle 600
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z after cluster-up"
S=node-a
[ "$A" = node-a ] && S=node-b
kill -9 "$(cat "$TDM_CL/run/$S.pid")"
cp "$TDM_CL/$A/out/example.zone" "$TDM_CL/$S/out/example.zone.tmp.AbC123"
printf 'half a zone\n' >"$TDM_CL/$S/work/example.shadow.tmp.Zz9y8X"
printf 'not ours\n' >"$TDM_CL/$S/out/notes.tmp.123456"
nstart=$(grep -c "zone(s), .* coordinator(s)" "$TDM_CL/log/$S.log" || true)
bash "$TDM_CL/run/$S.start"
started() { [ "$(grep -c "zone(s), .* coordinator(s)" "$TDM_CL/log/$S.log" || true)" -gt "$nstart" ]; }
tdm_wait 30 "$S to start again" started
[ ! -e "$TDM_CL/$S/out/example.zone.tmp.AbC123" ] || tdm_fail "$S left a signed zone's temporary file in out/"
[ ! -e "$TDM_CL/$S/work/example.shadow.tmp.Zz9y8X" ] || tdm_fail "$S left a shadow temporary file in work/"
[ -e "$TDM_CL/$S/out/notes.tmp.123456" ] || tdm_fail "$S removed a file that is not its own"
grep -q "example.zone.tmp.AbC123: removed" "$TDM_CL/log/$S.log" || tdm_fail "$S did not say what it removed"
[ "$(stat -c %a "$TDM_CL/$S/work")" = 700 ] || tdm_fail "$S's work dir is not 0700"
tdm_pass "$S removed its leftover temporary files at start, and only those"

# ---- (3) a full disk ------------------------------------------------------------------------
OUT=$TDM_CL/$A/out
mount -t tmpfs -o size=1m tmpfs "$OUT"
tdm_on_exit "umount -l '$OUT' 2>/dev/null || true"
in=$TDM_CL/$A/in/example.zone
sed -i 's/2024010101 ; serial/2024010102 ; serial/' "$in"
log=$OUT/publish.log
published() { [ -s "$log" ] && [ "$(awk 'END { print NF }' "$log")" = 5 ]; }
tdm_wait 60 "$A to publish into the tmpfs" published
s1=$(tdm_last_serial "$A" $Z)
dd if=/dev/zero of="$OUT/fill" bs=4k >/dev/null 2>&1 || true
sed -i 's/2024010102 ; serial/2024010103 ; serial/' "$in"
full() { grep -q "zone $Z: ALERT disk: .*No space left on device" "$TDM_CL/log/$A.log"; }
tdm_wait 60 "$A to name the full disk" full
tdm_pass "$A: $(grep -m1 "ALERT disk" "$TDM_CL/log/$A.log" | cut -d' ' -f4-)"
# the publication (its publish.log line) may fit where the file does not: the file is then
# written again and again (docs/node.md), never half: it stays the last one written whole
tries() { [ "$(grep -c "run failed: \|not published: .*No space\|is not written: No space" "$TDM_CL/log/$A.log")" -ge 3 ]; }
tdm_wait 60 "$A to try again while the disk is full" tries
f=$OUT/example.zone
J=$(tdm_bin tandem-journal)
got=$("$J" digest $Z "$f") || tdm_fail "$f does not load while the disk is full: half-written?"
awk -v d="$got" '$4 == d { found = 1 } END { exit !found }' "$log" ||
	tdm_fail "$f has a digest no publish.log line has: half-written?"
rm -f "$OUT/fill"
t_free=$(date +%s%3N)
# caught_up: the file has the digest of the last publish.log line, a serial above s1
caught_up() {
	tdm_published_after "$A" $Z "$s1" || return 1
	[ "$("$J" digest $Z "$f" 2>/dev/null)" = "$(awk -v z=$Z '$2 == z { d = $4 } END { print d }' "$log")" ]
}
tdm_wait 60 "$A's file to follow its publication once space is back" caught_up
after=$(($(date +%s%3N) - t_free))
[ "$after" -le 10000 ] || tdm_fail "$A's file followed $after ms after space came back (at most 10000)"
# the node clears the alert when its loop sees the writer's news, just after the rename
cleared() { grep -q "zone $Z: disk space is back" "$TDM_CL/log/$A.log"; }
tdm_wait 30 "$A to clear its disk alert" cleared
tdm_pass "$A's file has its last publication's digest $after ms after space came back"
tdm_cluster_sanitizer_check
