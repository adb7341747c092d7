#!/bin/bash
# Token hygiene (issue 9 item 3): the SO of the active node's token adds a second trusted AES
# key of a value they know (the user could then wrap every tandem key under it and read it in
# clear). The node finds it within a cycle, raises the node-wide blocking alert
# "token-hygiene" naming the key, reports itself unhealthy and gives up its lease: the other
# site takes over and publishes. Once the key is gone, the alert clears and the node is
# healthy again (the standby).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd
Z=example.

# rogue_key create|destroy NODE: as the SO of NODE's token (SO PIN read from its file, never
# on a command line), creates or destroys the public token AES key "rogue" (CKA_TRUSTED,
# CKA_WRAP, id beef).
rogue_key() {
	env SOFTHSM2_CONF="$TDM_CL/$2/hsm/softhsm2.conf" python3 - "$1" "$2" "$TDM_CL/$2/hsm/so.pin" \
		"$(tdm_module)" <<'PY'
import ctypes, sys
action, label, so_file, module = sys.argv[1:5]
with open(so_file, "rb") as f:
    so_pin = f.read().split(b"\n")[0]
ULONG = ctypes.c_ulong
lib = ctypes.CDLL(module)

def call(name, *args):
    fn = getattr(lib, name)
    fn.restype = ULONG
    rv = fn(*args)
    if rv != 0:
        sys.exit("rogue-key: %s failed: CKR 0x%x" % (name, rv))

class Attr(ctypes.Structure):
    _fields_ = [("type", ULONG), ("value", ctypes.c_void_p), ("len", ULONG)]

def attr(t, raw):
    buf = ctypes.create_string_buffer(raw, len(raw))
    keep.append(buf)
    return Attr(t, ctypes.cast(buf, ctypes.c_void_p), len(raw))

keep = []
uln = lambda v: bytes(ULONG(v))
yes, no = b"\x01", b"\x00"
CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_KEY_TYPE, CKA_ID = 0, 1, 2, 3, 0x100, 0x102
CKA_WRAP, CKA_EXTRACTABLE, CKA_VALUE, CKA_TRUSTED = 0x106, 0x162, 0x11, 0x86
call("C_Initialize", None)
n = ULONG(0)
call("C_GetSlotList", ctypes.c_ubyte(1), None, ctypes.byref(n))
slots = (ULONG * n.value)()
call("C_GetSlotList", ctypes.c_ubyte(1), slots, ctypes.byref(n))
slot = None
for s in slots[: n.value]:
    info = ctypes.create_string_buffer(1024)
    call("C_GetTokenInfo", ULONG(s), info)
    if info.raw[:32].rstrip(b" ").decode(errors="replace") == label:
        slot = s
if slot is None:
    sys.exit("rogue-key: no token " + label)
session = ULONG(0)
call("C_OpenSession", ULONG(slot), ULONG(0x6), None, None, ctypes.byref(session))
call("C_Login", session, ULONG(0), so_pin, ULONG(len(so_pin)))  # CKU_SO
h = ULONG(0)
if action == "create":
    t = (Attr * 10)(attr(CKA_CLASS, uln(4)), attr(CKA_KEY_TYPE, uln(0x1f)),
                    attr(CKA_TOKEN, yes), attr(CKA_PRIVATE, no), attr(CKA_LABEL, b"rogue"),
                    attr(CKA_ID, b"\xbe\xef"), attr(CKA_VALUE, b"\x42" * 32),
                    attr(CKA_TRUSTED, yes), attr(CKA_WRAP, yes), attr(CKA_EXTRACTABLE, no))
    call("C_CreateObject", session, t, ULONG(10), ctypes.byref(h))
else:
    t = (Attr * 1)(attr(CKA_LABEL, b"rogue"))
    call("C_FindObjectsInit", session, t, ULONG(1))
    got = ULONG(0)
    call("C_FindObjects", session, ctypes.byref(h), ULONG(1), ctypes.byref(got))
    call("C_FindObjectsFinal", session)
    if got.value != 1:
        sys.exit("rogue-key: no key rogue")
    call("C_DestroyObject", session, h)
call("C_Logout", session)
call("C_CloseSession", session)
call("C_Finalize", None)
PY
}

# The cycle bounds how long a rogue key goes unnoticed.
tdm_cluster_up --cycle 10
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z after cluster-up"
B=node-a
[ "$A" = node-a ] && B=node-b
[ "$(tdm_status_get "node('$A')['healthy']")" = True ] || tdm_fail "$A is unhealthy on a clean token"
[ "$(tdm_status_get "node('$A')['alerts']")" = "[]" ] || tdm_fail "$A has alerts on a clean token"
s1=$(tdm_last_serial "$A" $Z)
[ -n "$s1" ] || tdm_fail "$A holds $Z but published nothing"
tdm_pass "$A holds $Z on a clean token (serial $s1)"

rogue_key create "$A"
tdm_log "the SO of $A's token added a trusted AES key 'rogue'"
alerted() {
	tdm_status_get "[a['reason'] for a in node('$A')['alerts'] if a['kind'] == 'token-hygiene' and a['blocking'] and a['zone'] is None]" |
		grep -q 'secret key label="rogue" id=beef: CKA_TRUSTED=true'
}
tdm_wait 60 "$A to raise the token-hygiene alert" alerted
[ "$(tdm_status_get "node('$A')['healthy']")" = False ] || tdm_fail "$A still reports itself healthy"
grep -q 'secret key label="rogue" id=beef: CKA_TRUSTED=true' "$TDM_CL/log/$A.log" ||
	tdm_fail "$A did not log the rogue key" -- "$TDM_CL/log/$A.log"
tdm_pass "$A found the rogue trusted key, names it in its alert and reports itself unhealthy"

taken() { [ "$(tdm_holder $Z)" = "$B" ]; }
tdm_wait 60 "$B to take $Z" taken
tdm_wait 60 "$B to publish above $s1" tdm_published_after "$B" $Z "$s1"
s2=$(tdm_last_serial "$B" $Z)
tdm_validate_published "$B" $Z
tdm_pass "$B took over $Z and published serial $s2"

rogue_key destroy "$A"
cleared() {
	[ "$(tdm_status_get "node('$A')['healthy']")" = True ] &&
		[ "$(tdm_status_get "[a for a in node('$A')['alerts'] if a['kind'] == 'token-hygiene']")" = "[]" ]
}
tdm_wait 60 "$A to clear the alert once the key is gone" cleared
[ "$(tdm_holder $Z)" = "$B" ] || tdm_fail "$A took $Z back from $B"
tdm_pass "the key gone, $A is healthy again and stays the standby"

# An SO who replaced the SMK with a key of their own under the same label is caught by the
# ceremony's check value (cluster-up gives each node --smk-check): $A, the standby, started
# again with another check value finds its SMK wrong, and says so
check=$(cat "$TDM_CL/ceremony/check-value")
wrong=$(printf '%s' "$check" | tr '0-9a-f' '1-9a-f0')
sed "s/--smk-check $check/--smk-check $wrong/" "$TDM_CL/run/$A.start" >"$TDM_TMP/$A.wrong"
grep -q -- "--smk-check $wrong" "$TDM_TMP/$A.wrong" || tdm_fail "cannot rewrite $A's start script" -- "$TDM_CL/run/$A.start"
pid_gone() { ! kill -0 "$1" 2>/dev/null; }
pid=$(cat "$TDM_CL/run/$A.pid")
kill -TERM "$pid"
tdm_wait 30 "$A to stop" pid_gone "$pid"
from=$(($(wc -l <"$TDM_CL/log/$A.log") + 1))
bash "$TDM_TMP/$A.wrong"
wrong_smk() {
	tail -n "+$from" "$TDM_CL/log/$A.log" | grep 'ALERT token-hygiene' >/dev/null &&
		tail -n "+$from" "$TDM_CL/log/$A.log" | grep -i 'check value' >/dev/null
}
tdm_wait 60 "$A to find its SMK's check value wrong" wrong_smk
unhealthy() { [ "$(tdm_status_get "node('$A')['healthy']")" = False ]; }
tdm_wait 60 "$A to report itself unhealthy" unhealthy
[ "$(tdm_holder $Z)" = "$B" ] || tdm_fail "$A took $Z with a wrong SMK"
tdm_pass "$A started with another SMK check value than its token's: unhealthy, token-hygiene alert"
pid=$(cat "$TDM_CL/run/$A.pid")
kill -TERM "$pid"
tdm_wait 30 "$A to stop" pid_gone "$pid"
tdm_check_publications node-a node-b
tdm_cluster_sanitizer_check
