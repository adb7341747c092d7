#!/bin/bash
# RFC 8945 5.3.1 in the transfers in (docs/dist.md, "Input by transfer", TSIG): a primary may
# leave messages of a multi-message transfer unsigned, at most 99 in a row, the first and the
# last signed; the MAC of the next signed message covers the unsigned ones. A primary of the
# test's (python, hmac-sha256 by hand, one record per message) serves an AXFR to the
# dist_xfrin library (xfrin_fetch):
#  - every 40th message signed (and the first and last): taken, every record written;
#  - the same with one unsigned message changed after the MAC was made: refused (tsig);
#  - the last message unsigned: refused (tsig);
#  - 100 unsigned messages in a row: refused (tsig).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"
FETCH=$TDM_BUILD/integration/bench/xfrin_fetch
[ -x "$FETCH" ] || tdm_fail "$FETCH not built"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SECRET=$(head -c 32 /dev/urandom | base64 -w0)
(umask 077 && printf 'xfr-key hmac-sha256 %s\n' "$SECRET" >"$TDM_TMP/tsig.key")
MODE=$TDM_TMP/mode
echo gaps >"$MODE"

cat >"$TDM_TMP/primary.py" <<'EOF'
import base64, hmac, hashlib, socket, struct, sys, threading, time
port, secretfile, modefile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
name, alg, secret = open(secretfile).read().split()
KEY = base64.b64decode(secret)
def wname(s):
    return b''.join(bytes([len(l)]) + l.encode() for l in s.rstrip('.').split('.')) + b'\0'
KNAME, ALG, ORIGIN = wname(name), wname('hmac-sha256'), wname('example')
N = 150  # delegations: one record per message, SOA first and last
def rr(owner, rtype, rdata, ttl=3600):
    return owner + struct.pack('!HHIH', rtype, 1, ttl, len(rdata)) + rdata
SOA = rr(ORIGIN, 6, wname('ns1.example') + wname('admin.example') + struct.pack('!5I', 7, 3600, 900, 604800, 300))
RECORDS = [SOA, rr(ORIGIN, 2, wname('ns1.example')), rr(wname('ns1.example'), 1, bytes([192, 0, 2, 1]))]
RECORDS += [rr(wname('d%d.example' % i), 2, wname('ns1.example')) for i in range(N)]
RECORDS += [SOA]
def skip_name(m, p):
    while True:
        b = m[p]
        if b == 0:
            return p + 1
        if b & 0xC0 == 0xC0:
            return p + 2
        p += b + 1
def parse(m):  # id, question (wire), qtype, the request's MAC
    qid, _, qd, an, ns, ar = struct.unpack('!6H', m[:12])
    p = skip_name(m, 12)
    qtype = struct.unpack('!H', m[p:p + 2])[0]
    question = m[12:p + 4]
    p += 4
    mac = b''
    for _ in range(an + ns + ar):
        p = skip_name(m, p)
        t, _, _, rdlen = struct.unpack('!HHIH', m[p:p + 10])
        rd = m[p + 10:p + 10 + rdlen]
        if t == 250:
            a = skip_name(rd, 0)
            ml = struct.unpack('!H', rd[a + 8:a + 10])[0]
            mac = rd[a + 10:a + 10 + ml]
        p += 10 + rdlen
    return qid, question, qtype, mac
def message(qid, question, answers):
    return struct.pack('!6H', qid, 0x8400, 1, len(answers), 0, 0) + question + b''.join(answers)
def sign(msg, prior, unsigned, first):
    timers = struct.pack('!HIH', 0, int(time.time()), 300)  # 48-bit time, fudge
    data = struct.pack('!H', len(prior)) + prior + b''.join(unsigned) + msg
    if first:
        data += KNAME + struct.pack('!HI', 255, 0) + ALG + timers + struct.pack('!HH', 0, 0)
    else:
        data += timers
    mac = hmac.new(KEY, data, hashlib.sha256).digest()
    rdata = ALG + timers + struct.pack('!H', len(mac)) + mac + msg[:2] + struct.pack('!HH', 0, 0)
    out = bytearray(msg + KNAME + struct.pack('!HHIH', 250, 255, 0, len(rdata)) + rdata)
    out[10:12] = struct.pack('!H', struct.unpack('!H', msg[10:12])[0] + 1)
    return bytes(out), mac
def signed_ones(mode, n):  # which of the n messages carry a TSIG
    if mode == 'last':
        return set(range(n - 1))
    if mode == 'hundred':
        return {0} | set(range(101, n))
    return {0, n - 1} | set(range(0, n, 40))  # gaps, badgap: 39 unsigned in a row
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', port))
    while True:
        q, a = s.recvfrom(65535)
        qid, question, _, mac = parse(q)
        s.sendto(sign(message(qid, question, [SOA]), mac, [], True)[0], a)
def recvn(c, n):
    b = b''
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise OSError('closed')
        b += d
    return b
def conn(c):
    try:
        mode = open(modefile).read().strip()
        q = recvn(c, struct.unpack('!H', recvn(c, 2))[0])
        qid, question, _, prior = parse(q)
        n = len(RECORDS)
        signed = signed_ones(mode, n)
        pending = []
        for i, r in enumerate(RECORDS):
            msg = message(qid, question, [r])
            if i in signed:
                out, prior = sign(msg, prior, pending, i == 0)
                pending = []
            else:
                pending.append(msg)
                out = msg
                if mode == 'badgap' and i == 5:  # changed after it was covered
                    out = msg[:-2] + bytes([msg[-2] ^ 1]) + msg[-1:]
            c.sendall(struct.pack('!H', len(out)) + out)
    except OSError:
        pass
    finally:
        c.close()
threading.Thread(target=udp, daemon=True).start()
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(('127.0.0.1', port))
t.listen(8)
while True:
    c, _ = t.accept()
    threading.Thread(target=conn, args=(c,), daemon=True).start()
EOF
python3 "$TDM_TMP/primary.py" "$PORT" "$TDM_TMP/tsig.key" "$MODE" >"$TDM_TMP/primary.log" 2>&1 &
tdm_on_exit "kill $!"

# fetch MODE: one xfrin_fetch against the primary in MODE (its log in fetch.MODE.log)
fetch() {
	echo "$1" >"$MODE"
	rm -f "$TDM_TMP/in.zone"
	"$FETCH" example. "127.0.0.1:$PORT" "$TDM_TMP/tsig.key" "$TDM_TMP/in.zone" 1 "${2:-30}" \
		>"$TDM_TMP/fetch.$1.log" 2>&1
}

fetch gaps || tdm_fail "the transfer with unsigned messages was not taken" -- "$TDM_TMP/fetch.gaps.log"
tdm_assert_grep "taken by AXFR" "xfrin example\.: AXFR from 127\.0\.0\.1:$PORT: serial 7, 153 records written" "$TDM_TMP/fetch.gaps.log"
[ "$(grep -c '^d[0-9]*\.example\.' "$TDM_TMP/in.zone")" = 150 ] || tdm_fail "the input file lacks delegations" -- "$TDM_TMP/in.zone"
tdm_pass "an AXFR with 39 unsigned messages in a row between signed ones: taken, all 153 records"

for m in badgap last hundred; do
	if fetch "$m" 4; then tdm_fail "$m: a transfer was taken" -- "$TDM_TMP/fetch.$m.log"; fi
	[ ! -e "$TDM_TMP/in.zone" ] || tdm_fail "$m: the input file was written"
done
tdm_assert_grep "a changed unsigned message: refused" "refused \(tsig\): AXFR from .*: the TSIG MAC does not verify over the unsigned messages before it" "$TDM_TMP/fetch.badgap.log"
tdm_assert_grep "the last message unsigned: refused" "refused \(tsig\): AXFR from .*: its last message \(154\) is unsigned" "$TDM_TMP/fetch.last.log"
tdm_assert_grep "100 unsigned in a row: refused" "refused \(tsig\): AXFR from .*: message 101: 100 messages in a row without TSIG" "$TDM_TMP/fetch.hundred.log"
tdm_pass "refused (tsig): an unsigned message changed, the last message unsigned, 100 unsigned in a row"
