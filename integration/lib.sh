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

tdm_log() { printf '[%s] %s\n' "$TDM_NAME" "$*" >&2; }

# Prints FAIL with the message (and the tail of any files given after --) and exits 1.
tdm_fail() {
	local msg=$1 f
	shift
	printf '[%s] FAIL: %s\n' "$TDM_NAME" "$msg" >&2
	if [ "${1:-}" = "--" ]; then
		shift
		for f in "$@"; do
			[ -s "$f" ] || continue
			printf '[%s] ---- %s (last 30 lines) ----\n' "$TDM_NAME" "$(basename "$f")" >&2
			tail -n 30 "$f" >&2
		done
	fi
	exit 1
}

tdm_pass() { printf '[%s] ok: %s\n' "$TDM_NAME" "$*" >&2; }

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
	# resolved here, at top level, so a missing binary stops the test at once instead of
	# turning into a "command not found" that an expected-failure check would accept
	TDM_SIGNZONE=$(tdm_bin tandem-signzone)
	TDM_ZONEGEN=$(tdm_bin tandem-zonegen)
	tdm_need python3 softhsm2-util dnssec-verify kzonecheck ldns-verify-zone
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

# The SoftHSMv2 PKCS#11 module (override with TANDEM_P11_MODULE).
tdm_module() {
	local p
	if [ -n "${TANDEM_P11_MODULE:-}" ]; then
		printf '%s\n' "$TANDEM_P11_MODULE"
		return 0
	fi
	for p in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
		/usr/lib64/pkcs11/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
		if [ -f "$p" ]; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	tdm_fail "libsofthsm2.so not found (install softhsm2 or set TANDEM_P11_MODULE)"
}

# ---- SoftHSM tokens -----------------------------------------------------------------------

# tdm_random_pin: 16 hex digits from /dev/urandom.
tdm_random_pin() { od -An -N8 -tx1 /dev/urandom | tr -d ' \n'; }

# tdm_p11_init_token MODULE LABEL SO_PIN_FILE USER_PIN_FILE: initialises the first free slot
# as token LABEL with the SO PIN and user PIN read from files (first line). softhsm2-util and
# pkcs11-tool take PINs only on the command line or from a terminal, so this calls the
# module's C_InitToken / C_InitPIN directly (python3 ctypes): no PIN ever appears in argv.
tdm_p11_init_token() {
	python3 - "$@" <<'PY'
import ctypes, sys
module, label, so_file, pin_file = sys.argv[1:5]

def read_pin(path):
    with open(path, "rb") as f:
        pin = f.read().split(b"\n")[0]
    if not 4 <= len(pin) <= 255:
        sys.exit("p11-init-token: PIN in %s must be 4..255 bytes" % path)
    return pin

so_pin, user_pin = read_pin(so_file), read_pin(pin_file)
if len(label.encode()) > 32:
    sys.exit("p11-init-token: label longer than 32 bytes")
ULONG = ctypes.c_ulong
lib = ctypes.CDLL(module)

def call(name, *args):
    fn = getattr(lib, name)
    fn.restype = ULONG
    rv = fn(*args)
    if rv != 0:
        sys.exit("p11-init-token: %s failed: CKR 0x%x" % (name, rv))

CKF_TOKEN_INITIALIZED = 0x400
call("C_Initialize", None)
n = ULONG(0)
call("C_GetSlotList", ctypes.c_ubyte(1), None, ctypes.byref(n))
slots = (ULONG * n.value)()
call("C_GetSlotList", ctypes.c_ubyte(1), slots, ctypes.byref(n))
free = None
for slot in slots[: n.value]:
    info = ctypes.create_string_buffer(1024)  # CK_TOKEN_INFO: label[32] ... flags at 96
    call("C_GetTokenInfo", ULONG(slot), info)
    flags = ULONG.from_buffer_copy(info.raw[96 : 96 + ctypes.sizeof(ULONG)]).value
    if flags & CKF_TOKEN_INITIALIZED:
        if info.raw[:32].rstrip(b" ").decode(errors="replace") == label:
            sys.exit("p11-init-token: a token labelled '%s' already exists" % label)
    elif free is None:
        free = slot
if free is None:
    sys.exit("p11-init-token: no free slot")
call("C_InitToken", ULONG(free), so_pin, ULONG(len(so_pin)), label.encode().ljust(32, b" "))
session = ULONG(0)
call("C_OpenSession", ULONG(free), ULONG(0x6), None, None, ctypes.byref(session))
call("C_Login", session, ULONG(0), so_pin, ULONG(len(so_pin)))  # CKU_SO
call("C_InitPIN", session, user_pin, ULONG(len(user_pin)))
call("C_Logout", session)
call("C_CloseSession", session)
call("C_Finalize", None)
PY
}

# tdm_token DIR LABEL: a private SoftHSMv2 token store in DIR with one token LABEL.
# Exports SOFTHSM2_CONF; sets TDM_TOKEN, TDM_PIN_FILE (0600, random user PIN),
# TDM_SO_PIN_FILE and TDM_MODULE. An existing token LABEL in DIR is reused.
tdm_token() {
	local dir=$1 label=$2
	(umask 077 && mkdir -p "$dir/tokens")
	dir=$(cd "$dir" && pwd)
	TDM_MODULE=$(tdm_module)
	TDM_TOKEN=$label
	TDM_PIN_FILE=$dir/user.pin
	TDM_SO_PIN_FILE=$dir/so.pin
	if [ ! -f "$dir/softhsm2.conf" ]; then
		printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
			"$dir" >"$dir/softhsm2.conf"
	fi
	export SOFTHSM2_CONF=$dir/softhsm2.conf
	(
		umask 077
		[ -s "$TDM_PIN_FILE" ] || tdm_random_pin >"$TDM_PIN_FILE"
		[ -s "$TDM_SO_PIN_FILE" ] || tdm_random_pin >"$TDM_SO_PIN_FILE"
	)
	if softhsm2-util --show-slots 2>/dev/null | grep -Eq "^[[:space:]]*Label:[[:space:]]+${label}[[:space:]]*\$"; then
		return 0
	fi
	tdm_p11_init_token "$TDM_MODULE" "$label" "$TDM_SO_PIN_FILE" "$TDM_PIN_FILE" ||
		tdm_fail "cannot initialise SoftHSM token '$label' in $dir"
}

# tdm_key_uri OBJECT [TOKEN] [PINFILE]: the PKCS#11 URI of a key on the current token.
tdm_key_uri() {
	printf 'pkcs11:token=%s;object=%s;pin-source=%s\n' "${2:-$TDM_TOKEN}" "$1" "${3:-$TDM_PIN_FILE}"
}

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
