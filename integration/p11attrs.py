#!/usr/bin/env python3
# p11attrs.py MODULE TOKEN PIN_FILE LABEL: for the one private key labelled LABEL on token
# TOKEN, prints its key type and the attributes that keep it in the token, one per line
# ("CKA_SENSITIVE true", ...), and whether reading its CKA_VALUE is refused ("value
# refused" or "value readable"). The PIN is read from a file, never argv.
import ctypes
import sys

module, token, pin_file, label = sys.argv[1:5]
with open(pin_file, "rb") as f:
    pin = f.read().split(b"\n")[0]
ULONG = ctypes.c_ulong
lib = ctypes.CDLL(module)
CKR_ATTRIBUTE_SENSITIVE = 0x11


def call(name, *args, ok=(0,)):
    fn = getattr(lib, name)
    fn.restype = ULONG
    rv = fn(*args)
    if rv not in ok:
        sys.exit("p11attrs: %s failed: CKR 0x%x" % (name, rv))
    return rv


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
    sys.exit("p11attrs: no token %s" % token)
session = ULONG(0)
call("C_OpenSession", ULONG(slot), ULONG(0x4), None, None, ctypes.byref(session))
call("C_Login", session, ULONG(1), pin, ULONG(len(pin)))  # CKU_USER
want = ctypes.create_string_buffer(label.encode(), len(label))
cls = ULONG(3)  # CKO_PRIVATE_KEY
tmpl = (Attr * 2)(
    Attr(0x3, ctypes.cast(want, ctypes.c_void_p), len(label)),  # CKA_LABEL
    Attr(0x0, ctypes.cast(ctypes.byref(cls), ctypes.c_void_p), ctypes.sizeof(cls)),  # CKA_CLASS
)
call("C_FindObjectsInit", session, tmpl, ULONG(2))
found = (ULONG * 8)()
got = ULONG(0)
call("C_FindObjects", session, found, ULONG(8), ctypes.byref(got))
call("C_FindObjectsFinal", session)
if got.value != 1:
    sys.exit("p11attrs: %d private keys labelled %s" % (got.value, label))
obj = found[0]

ktype = ULONG(0)
a = (Attr * 1)(Attr(0x100, ctypes.cast(ctypes.byref(ktype), ctypes.c_void_p), ctypes.sizeof(ktype)))
call("C_GetAttributeValue", session, obj, a, ULONG(1))
print("CKA_KEY_TYPE %s" % {0x40: "CKK_EC_EDWARDS", 0x3: "CKK_EC", 0x0: "CKK_RSA"}.get(ktype.value, hex(ktype.value)))
for name, typ in (("CKA_SENSITIVE", 0x103), ("CKA_EXTRACTABLE", 0x162),
                  ("CKA_ALWAYS_SENSITIVE", 0x165), ("CKA_NEVER_EXTRACTABLE", 0x164),
                  ("CKA_WRAP_WITH_TRUSTED", 0x210)):
    v = ctypes.c_ubyte(0xAA)
    a = (Attr * 1)(Attr(typ, ctypes.cast(ctypes.byref(v), ctypes.c_void_p), 1))
    call("C_GetAttributeValue", session, obj, a, ULONG(1))
    print("%s %s" % (name, "true" if v.value == 1 else "false" if v.value == 0 else "?"))
buf = ctypes.create_string_buffer(256)
a = (Attr * 1)(Attr(0x11, ctypes.cast(buf, ctypes.c_void_p), 256))  # CKA_VALUE
rv = call("C_GetAttributeValue", session, obj, a, ULONG(1), ok=(0, CKR_ATTRIBUTE_SENSITIVE))
print("value %s" % ("refused" if rv == CKR_ATTRIBUTE_SENSITIVE else "readable"))
call("C_Logout", session)
call("C_CloseSession", session)
call("C_Finalize", None)
