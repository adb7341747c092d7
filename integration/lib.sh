# shellcheck shell=bash
# Helpers for tandem's integration tests (and deploy/quickstart.sh): temp dirs, SoftHSM
# tokens, binaries, validators and assertions. Sourcing defines functions only; a test
# calls tdm_setup to get its temp dir and the cleanup trap.
#
#   source "$(dirname "$0")/lib.sh"
#   tdm_setup "$@"                 # TDM_BUILD, TDM_SRC, TDM_TMP, EXIT trap
#   tdm_token "$TDM_TMP/hsm" tok   # SOFTHSM2_CONF, TDM_PIN_FILE, TDM_TOKEN
#   tdm_signzone -o example --ksk "$(tdm_key_uri ksk)" ... -f out in
#   tdm_assert_ok "signing" tdm_signzone ...

TDM_NAME=${TDM_NAME:-$(basename "${0%.sh}")}

# tdm_log, tdm_fail (FAIL with the message and the tail of any files given after --), the
# SoftHSM token helpers and tdm_free_ports are shared with deploy/: deploy/lib.sh.
# shellcheck source-path=SCRIPTDIR source=../deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../deploy/lib.sh"

tdm_pass() { printf '[%s] ok: %s\n' "$TDM_NAME" "$*" >&2; }

# tdm_coord_endpoint OUT PID ERR [SECONDS]: waits (default 15 s) until the tandem-coord
# started in the background with stdout to OUT prints its "listening ENDPOINT" line, and
# prints ENDPOINT. OUT may not exist yet (the background shell creates it); PID exiting or
# the time running out fails the test with the tail of ERR. Call it as EP=$(...).
tdm_coord_endpoint() {
	local out=$1 pid=$2 err=$3 secs=${4:-15} ep='' until
	until=$((SECONDS + secs))
	while :; do
		[ ! -f "$out" ] || ep=$(awk '$1 == "listening" { print $2 }' "$out")
		[ -z "$ep" ] || break
		kill -0 "$pid" 2>/dev/null || tdm_fail "tandem-coord (pid $pid) exited at start" -- "$err"
		[ "$SECONDS" -lt "$until" ] || tdm_fail "tandem-coord printed no endpoint in $secs s" -- "$err"
		sleep 0.1
	done
	printf '%s\n' "$ep"
}

# ---- setup and cleanup ------------------------------------------------------------------

TDM_CLEANUPS=()

# Registers a command string to run at exit (last registered runs first).
tdm_on_exit() { TDM_CLEANUPS=("$1" "${TDM_CLEANUPS[@]}"); }

tdm_cleanup() {
	local rc=$? c
	for c in "${TDM_CLEANUPS[@]}"; do
		eval "$c" || true
	done
	if [ -n "${TDM_TMP:-}" ] && [ -d "$TDM_TMP" ]; then
		if [ "${TDM_KEEP:-0}" = 1 ]; then
			tdm_log "kept $TDM_TMP (TDM_KEEP=1)"
		else
			rm -rf "$TDM_TMP"
		fi
	fi
	if [ "$rc" -eq 0 ]; then
		tdm_log "PASS"
	else
		tdm_log "FAILED (exit $rc)"
	fi
	exit "$rc"
}

# tdm_setup [BUILD_DIR]: finds the build and source dirs, makes a private temp dir that is
# removed at exit (kept with TDM_KEEP=1), and checks the validators are installed.
tdm_setup() {
	tdm_setup_dirs "$@"
	# resolved here, at top level, so a missing binary stops the test at once instead of
	# turning into a "command not found" that an expected-failure check would accept
	TDM_SIGNZONE=$(tdm_bin tandem-signzone)
	TDM_ZONEGEN=$(tdm_bin tandem-zonegen)
	tdm_need python3 softhsm2-util dnssec-verify kzonecheck ldns-verify-zone
}

# tdm_setup_dirs [BUILD_DIR]: the part of tdm_setup every test needs: the build and source
# dirs (TDM_BUILD, TDM_SRC, TDM_DATA, exported as TANDEM_BUILD and TANDEM_SRCDIR), a private
# temp dir TDM_TMP removed at exit (kept with TDM_KEEP=1), and the exit trap.
tdm_setup_dirs() {
	local here
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	TDM_SRC=${TANDEM_SRCDIR:-$(dirname "$here")}
	TDM_BUILD=${1:-${TANDEM_BUILD:-$TDM_SRC/build}}
	[ -d "$TDM_BUILD" ] || tdm_fail "build dir $TDM_BUILD does not exist (pass it as \$1 or TANDEM_BUILD)"
	TDM_BUILD=$(cd "$TDM_BUILD" && pwd)
	export TDM_DATA=$TDM_SRC/integration/data
	TDM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tandem-${TDM_NAME}.XXXXXX")
	trap tdm_cleanup EXIT
	trap 'exit 130' INT TERM
	export TANDEM_BUILD=$TDM_BUILD TANDEM_SRCDIR=$TDM_SRC
	tdm_log "build $TDM_BUILD, temp $TDM_TMP"
}

# tdm_coordd_setup [BUILD_DIR]: tdm_setup_dirs for a coordinator test without a cluster (no
# signer or validator needed), its programs COORD, CTL and DRIVER
# (tests/unit/coordd/coordctl_driver), each checked built, and TDM_ETCD_DIR for etcd.sh.
tdm_coordd_setup() {
	tdm_setup_dirs "$@"
	COORD=$TDM_BUILD/src/coordd/tandem-coord
	CTL=$TDM_BUILD/src/tools/tandemctl
	DRIVER=$TDM_BUILD/tests/unit/coordd/coordctl_driver
	local b
	for b in "$COORD" "$CTL" "$DRIVER"; do
		[ -x "$b" ] || tdm_fail "$b not found (build it first)"
	done
	tdm_need etcd curl python3 timeout
	export TDM_ETCD_DIR=$TDM_TMP/etcd
}

# tdm_need TOOL...: fails (does not skip) when a tool the test relies on is missing.
tdm_need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || tdm_fail "required tool '$t' not found (run deploy/install-deps.sh)"
	done
}

# tdm_bin NAME: path of a tandem binary in the build tree (fails if it is not built).
tdm_bin() {
	local p
	for p in "$TDM_BUILD/src/tools/$1" "$TDM_BUILD/integration/bench/$1" "$TDM_BUILD/$1"; do
		if [ -x "$p" ]; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	tdm_fail "binary '$1' not found under $TDM_BUILD (is it built?)"
}

# tdm_module, tdm_random_pin, tdm_p11_init_token, tdm_token, tdm_key_uri: deploy/lib.sh.

# ---- running tandem tools -------------------------------------------------------------------

# tdm_signzone ARGS...: tandem-signzone with the test's module.
tdm_signzone() {
	"$TDM_SIGNZONE" --module "$TDM_MODULE" "$@"
}

# tdm_zonegen ARGS...: tandem-zonegen.
tdm_zonegen() {
	"$TDM_ZONEGEN" "$@"
}

# tdm_run NAME CMD...: runs CMD with stdout/stderr in $TDM_TMP/NAME.out / NAME.err, sets
# TDM_RC to its exit status, TDM_OUT / TDM_ERR to the files, and never trips set -e.
tdm_run() {
	local name=$1
	shift
	TDM_OUT=$TDM_TMP/$name.out
	TDM_ERR=$TDM_TMP/$name.err
	TDM_RC=0
	"$@" >"$TDM_OUT" 2>"$TDM_ERR" || TDM_RC=$?
}

# ---- assertions -----------------------------------------------------------------------------

# tdm_assert_ok WHAT CMD...: CMD must exit 0.
tdm_assert_ok() {
	local what=$1 name
	shift
	name=ok-$(printf '%s' "$what" | tr -c 'A-Za-z0-9._-' '_' | cut -c1-60)
	tdm_run "$name" "$@"
	[ "$TDM_RC" -eq 0 ] || tdm_fail "$what: expected success, got exit $TDM_RC from: $*" -- "$TDM_OUT" "$TDM_ERR"
	tdm_pass "$what"
}

# tdm_assert_fails WHAT CMD...: CMD must exit non-zero (and not be killed by a signal).
tdm_assert_fails() {
	local what=$1 name
	shift
	name=fail-$(printf '%s' "$what" | tr -c 'A-Za-z0-9._-' '_' | cut -c1-60)
	tdm_run "$name" "$@"
	[ "$TDM_RC" -ne 0 ] || tdm_fail "$what: expected failure, got exit 0 from: $*" -- "$TDM_OUT" "$TDM_ERR"
	if [ "$TDM_RC" -eq 126 ] || [ "$TDM_RC" -eq 127 ]; then
		tdm_fail "$what: could not run: $*" -- "$TDM_ERR"
	fi
	[ "$TDM_RC" -lt 128 ] || tdm_fail "$what: killed by signal $((TDM_RC - 128)) (crash?): $*" -- "$TDM_ERR"
	tdm_pass "$what (exit $TDM_RC)"
}

# tdm_assert_eq WHAT EXPECTED ACTUAL
tdm_assert_eq() {
	[ "$2" = "$3" ] || tdm_fail "$1: expected '$2', got '$3'"
}

# tdm_assert_grep WHAT ERE FILE: some line of FILE matches ERE (case-insensitive).
tdm_assert_grep() {
	grep -Eiq -- "$2" "$3" || tdm_fail "$1: no line matches /$2/ in $(basename "$3")" -- "$3"
}

# tdm_assert_no_grep WHAT ERE FILE: no line of FILE matches ERE.
tdm_assert_no_grep() {
	if grep -Ei -- "$2" "$3" >"$TDM_TMP/nogrep.hits"; then
		tdm_fail "$1: unexpected lines match /$2/ in $(basename "$3")" -- "$TDM_TMP/nogrep.hits"
	fi
}

# tdm_assert_same_file WHAT A B: byte-identical files.
tdm_assert_same_file() {
	[ -f "$2" ] || tdm_fail "$1: $2 missing"
	[ -f "$3" ] || tdm_fail "$1: $3 missing"
	if ! cmp -s "$2" "$3"; then
		diff "$2" "$3" | head -n 20 >"$TDM_TMP/cmp.diff" || true
		tdm_fail "$1: $(basename "$2") and $(basename "$3") differ" -- "$TDM_TMP/cmp.diff"
	fi
}

# tdm_rrtype_count TYPE FILE: records of TYPE in a zone file printed one per line
# (owner TTL [CLASS] TYPE ...; comments and directives ignored).
tdm_rrtype_count() {
	awk -v t="$1" '
		/^[[:space:]]*(;|$|\$)/ { next }
		{ ty = ($3 == "IN" || $3 == "CH") ? $4 : $3; if (ty == t) n++ }
		END { print n + 0 }' "$2"
}

# ---- validators -----------------------------------------------------------------------------

# tdm_validate ORIGIN FILE [WHAT]: the independent validators and the gate must accept FILE.
tdm_validate() {
	local origin=$1 file=$2 what=${3:-$(basename "$2")}
	tdm_assert_ok "$what: dnssec-verify" dnssec-verify -o "$origin" "$file"
	tdm_assert_ok "$what: kzonecheck" kzonecheck -o "$origin" -d on "$file"
	tdm_assert_ok "$what: ldns-verify-zone" ldns-verify-zone "$file"
	tdm_assert_ok "$what: tandem --verify-only" tdm_signzone -o "$origin" --verify-only "$file"
}
