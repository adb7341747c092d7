#!/usr/bin/env python3
# p11count.py MODULE TOKEN PIN_FILE LABEL: prints how many objects (private keys included:
# it logs in) labelled LABEL token TOKEN holds. The PIN is read from a file, never argv.
import ctypes
import sys

module, token, pin_file, label = sys.argv[1:5]
with open(pin_file, "rb") as f:
    pin = f.read().split(b"\n")[0]
ULONG = ctypes.c_ulong
lib = ctypes.CDLL(module)


def call(name, *args):
    fn = getattr(lib, name)
    fn.restype = ULONG
    rv = fn(*args)
    if rv != 0:
        sys.exit("p11count: %s failed: CKR 0x%x" % (name, rv))


class Attr(ctypes.Structure):
    _fields_ = [("type", ULONG), ("value", ctypes.c_void_p), ("len", ULONG)]


call("C_Initialize", None)
n = ULONG(0)
call("C_GetSlotList", ctypes.c_ubyte(1), None, ctypes.byref(n))
slots = (ULONG * n.value)()
call("C_GetSlotList", ctypes.c_ubyte(1), slots, ctypes.byref(n))
slot = None
for s in slots[: n.value]:
    info = ctypes.create_string_buffer(1024)  # CK_TOKEN_INFO: label[32] first
    call("C_GetTokenInfo", ULONG(s), info)
    if info.raw[:32].rstrip(b" ").decode(errors="replace") == token:
        slot = s
if slot is None:
    sys.exit("p11count: no token %s" % token)
session = ULONG(0)
call("C_OpenSession", ULONG(slot), ULONG(0x4), None, None, ctypes.byref(session))
call("C_Login", session, ULONG(1), pin, ULONG(len(pin)))  # CKU_USER
want = ctypes.create_string_buffer(label.encode(), len(label))
tmpl = (Attr * 1)(Attr(3, ctypes.cast(want, ctypes.c_void_p), len(label)))  # CKA_LABEL
call("C_FindObjectsInit", session, tmpl, ULONG(1))
found = (ULONG * 64)()
got = ULONG(0)
call("C_FindObjects", session, found, ULONG(64), ctypes.byref(got))
call("C_FindObjectsFinal", session)
call("C_Logout", session)
call("C_CloseSession", session)
call("C_Finalize", None)
print(got.value)
