#!/bin/bash
# Input by transfer from a hidden primary (issue 11, docs/dist.md "Input by transfer"): knotd
# serves the unsigned zone with TSIG behind a small relay of the test's (python, on loopback),
# and every node of a two-node cluster takes its input from the relay (--primary):
#  - the nodes transfer the primary's zone (their input file held another serial: IXFR
#    answered with the whole zone) and the active publishes it (its marker record);
#  - a change on the primary: knotd's NOTIFY, an IXFR of the difference, published; the
#    run applied the IXFR to the unsigned copy it holds (`... from IXFR (1 changes), no
#    reload`, no fallback to the file), the published records are the primary's and
#    dnssec-verify accepts the zone;
#  - the relay breaks the transfer off halfway: refused (truncated), logged, counted in
#    tandem_xfrin_refused_total, the input file and the published zone unchanged;
#  - the relay changes the case of one letter of the answers (the TSIG MAC no longer
#    verifies): refused (tsig), same checks;
#  - a NOTIFY from 127.0.0.2, outside the ACL (the primary's address): REFUSED, logged,
#    counted, no check of the primary;
#  - the relay passing again: the node catches up by IXFR at its retry timer;
#  - the relay answering nothing for longer than the SOA's expire (12 s): the zone alert
#    input-transfer in the log, status --json and the metrics, the zone still published;
#    the primary back: the alert clears.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=peers.sh
source "$(dirname "$0")/peers.sh"
tdm_setup "$@"
tdm_need etcd knotd knotc ldns-notify python3 curl
Z=example.

mapfile -t ports < <(tdm_free_ports 2)
PEERS_KNOT_PORT=${ports[0]}
RELAY_PORT=${ports[1]}
MODE=$TDM_TMP/relay.mode
echo pass >"$MODE"

# ---- the relay: UDP and TCP to knotd; "cut" sends half of the first TCP message and closes,
# "badsig" flips the case of the question's first letter in every answer (names compare
# without case, the MAC covers the bytes), "drop" answers nothing
cat >"$TDM_TMP/relay.py" <<'EOF'
import socket, sys, threading
lport, uport, modefile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def mode():
    try:
        return open(modefile).read().strip()
    except OSError:
        return 'pass'
def flip(m):
    m = bytearray(m)
    if len(m) > 13 and chr(m[13]).isalpha():
        m[13] ^= 0x20
    return bytes(m)
def recvn(c, n):
    b = b''
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            return None
        b += d
    return b
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', lport))
    while True:
        q, a = s.recvfrom(65535)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(2)
        try:
            u.sendto(q, ('127.0.0.1', uport))
            r, _ = u.recvfrom(65535)
        except OSError:
            continue
        finally:
            u.close()
        if mode() == 'badsig':
            r = flip(r)
        if mode() != 'drop':
            s.sendto(r, a)
def conn(c):
    m = mode()
    u = None
    try:
        u = socket.create_connection(('127.0.0.1', uport), timeout=20)
        h = recvn(c, 2)
        q = recvn(c, int.from_bytes(h, 'big'))
        u.sendall(h + q)
        while True:
            h = recvn(u, 2)
            if h is None:
                break
            msg = recvn(u, int.from_bytes(h, 'big'))
            if m == 'cut':
                c.sendall(h + msg[:len(msg) // 2])
                break
            if m == 'badsig':
                msg = flip(msg)
            c.sendall(h + msg)
    except (OSError, TypeError):
        pass
    finally:
        c.close()
        if u is not None:
            u.close()
threading.Thread(target=udp, daemon=True).start()
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(('127.0.0.1', lport))
t.listen(16)
while True:
    c, _ = t.accept()
    threading.Thread(target=conn, args=(c,), daemon=True).start()
EOF
python3 "$TDM_TMP/relay.py" "$RELAY_PORT" "$PEERS_KNOT_PORT" "$MODE" >"$TDM_TMP/relay.log" 2>&1 &
RELAY_PID=$!
tdm_on_exit "kill $RELAY_PID"

# the cluster first (it writes the TSIG key the primary shares); knotd is not up yet, so the
# nodes publish their own input's serial and retry the primary
tdm_cluster_up --cycle 600 --primary "127.0.0.1:$RELAY_PORT"
A=$(tdm_holder $Z)
[ -n "$A" ] || tdm_fail "nobody holds $Z"
published() { [ -n "$(tdm_last_serial "$A" $Z)" ]; }
tdm_wait 90 "$A to publish $Z" published
xfr_port() {
	sed -n 's/.*transfers served on [^ ]*:\([0-9]*\) .*/\1/p' "$TDM_CL/log/$1.log" | tail -n 1
}
PA=$(xfr_port node-a)
PB=$(xfr_port node-b)
if [ -z "$PA" ] || [ -z "$PB" ]; then tdm_fail "no transfer server port in the nodes' logs"; fi

# ---- knotd, the hidden primary: the zone at serial 5 with a marker; NOTIFYs both nodes ----
zone_at() { # SERIAL MARKER...: conf/example.zone at SERIAL, refresh and retry 10 s, expire 12 s
	local serial=$1 m
	shift
	sed -e "s/2024010101 ; serial/$serial ; serial/" -e 's/900        ; retry/10 ; retry/' \
		-e 's/1814400    ; expire/12 ; expire/' -e 's/3600       ; refresh/10 ; refresh/' \
		"$TDM_SRC/conf/example.zone"
	for m in "$@"; do printf '%s 86400 IN NS ns1.%s.example.net.\n' "$m" "$m"; done
}
mkdir -p "$TDM_TMP/pri"
zone_at 2024010105 xfr-one >"$TDM_TMP/pri/example.zone"
KEYF=$TDM_CL/tsig.key
peers_knot_hidden_primary "$TDM_TMP/pri" "$PEERS_KNOT_PORT" "$KEYF" "$PA" "$PB"

out_has() { grep -q "^$2[[:space:]]" "$TDM_CL/$A/out/example.zone" 2>/dev/null; }
in_has() { grep -q "^$2\.example\.[[:space:]]" "$TDM_CL/$A/in/example.zone" 2>/dev/null; }
tdm_wait 90 "$A to publish the primary's zone (marker xfr-one)" out_has "$A" 'xfr-one\.example\.'
tdm_assert_grep "$A took the whole zone" "xfrin example\.: IXFR \(the whole zone\) from 127\.0\.0\.1:$RELAY_PORT: serial 2024010105" "$TDM_CL/log/$A.log"
tdm_pass "$A transferred the primary's zone (serial 2024010105) and published it"

# ---- a change on the primary: NOTIFY, IXFR ------------------------------------------------
zone_at 2024010106 xfr-one xfr-two >"$TDM_TMP/pri/example.zone"
peers_knot_reload "$TDM_TMP/pri" example
tdm_wait 90 "$A to publish the change (marker xfr-two)" out_has "$A" 'xfr-two\.example\.'
tdm_assert_grep "the primary's NOTIFY started it" "xfrin example\.: NOTIFY from 127\.0\.0\.1#" "$TDM_CL/log/$A.log"
tdm_assert_grep "an IXFR of one record" "xfrin example\.: IXFR from 127\.0\.0\.1:$RELAY_PORT: serial 2024010105 -> 2024010106, 1 records changed" "$TDM_CL/log/$A.log"
S2=$(tdm_last_serial "$A" $Z)
tdm_pass "NOTIFY, IXFR 2024010105 -> 2024010106, published as $S2"
# the IXFR became the run's input directly: applied to the unsigned copy held, the file the
# transfer wrote not parsed again (docs/node.md, "Input by IXFR")
ixfr_line="input: zone example\. serial 2024010106 from IXFR \(1 changes\), no reload"
tdm_assert_grep "the IXFR signed without re-loading the input" "$ixfr_line" "$TDM_CL/log/$A.log"
tdm_assert_no_grep "no IXFR fell back to the file" "the IXFR to serial .* not applied" "$TDM_CL/log/$A.log"
# its records are the primary's (DNSSEC, the SOA and the TTLs, which the policy sets, aside),
# and the signed zone verifies
data_of() {
	ldns-read-zone -c -s -n -e DNSKEY -e CDS -e CDNSKEY -e NSEC3PARAM -e ZONEMD "$1" 2>/dev/null |
		awk '{ $2 = ""; print }' | sort
}
kdig -p "$PEERS_KNOT_PORT" -y "$(awk '{ print $2 ":" $1 ":" $3 }' "$KEYF")" @127.0.0.1 example. AXFR +nocomments +nostats +noquestion |
	awk '$4 != "TSIG" && !($4 == "SOA" && seen++)' >"$TDM_TMP/primary.zone"
data_of "$TDM_TMP/primary.zone" >"$TDM_TMP/primary.data"
cp "$TDM_CL/$A/out/example.zone" "$TDM_TMP/published.zone"
data_of "$TDM_TMP/published.zone" >"$TDM_TMP/published.data"
grep -q 'xfr-two' "$TDM_TMP/primary.data" || tdm_fail "the primary's AXFR lacks its own change"
tdm_assert_same_file "the published records are the primary's" "$TDM_TMP/primary.data" "$TDM_TMP/published.data"
tdm_validate_published "$A" $Z
tdm_pass "the IXFR was the run's update (no reload): the published records are the primary's, dnssec-verify passes"

MA=$(tdm_status_get "node('$A')['metrics']")
metric() { curl -s "http://$MA/metrics" | awk -v k="tandem_xfrin_refused_total{zone=\"example.\",reason=\"$1\"}" '$1 == k { print $2 }'; }
# unchanged: the input file, the published file and serial
unchanged() {
	local what=$1
	cmp -s "$TDM_TMP/in.before" "$TDM_CL/$A/in/example.zone" || tdm_fail "$what: the input file changed"
	cmp -s "$TDM_TMP/out.before" "$TDM_CL/$A/out/example.zone" || tdm_fail "$what: the published zone changed"
	[ "$(tdm_last_serial "$A" $Z)" = "$S2" ] || tdm_fail "$what: a serial was published after $S2"
}
cp "$TDM_CL/$A/in/example.zone" "$TDM_TMP/in.before"
cp "$TDM_CL/$A/out/example.zone" "$TDM_TMP/out.before"

# ---- a transfer that breaks off halfway ----------------------------------------------------
echo cut >"$MODE"
zone_at 2024010107 xfr-one xfr-two xfr-three >"$TDM_TMP/pri/example.zone"
peers_knot_reload "$TDM_TMP/pri" example
cut_seen() { grep -q "xfrin example\.: refused (truncated): IXFR from 127\.0\.0\.1:$RELAY_PORT broke off" "$TDM_CL/log/$A.log"; }
tdm_wait 60 "$A to refuse the transfer cut halfway" cut_seen
counted() { [ "$(metric "$1")" -ge 1 ] 2>/dev/null; }
tdm_wait 10 "tandem_xfrin_refused_total{reason=truncated}" counted truncated
unchanged "after the cut transfer"
tdm_pass "a transfer cut halfway: refused (truncated), counted, input and published zone unchanged"

# ---- answers whose TSIG does not verify --------------------------------------------------
echo badsig >"$MODE"
bad_seen() { grep -q "xfrin example\.: refused (tsig): SOA answer from 127\.0\.0\.1:$RELAY_PORT: the TSIG MAC does not verify" "$TDM_CL/log/$A.log"; }
tdm_wait 60 "$A to refuse an answer with a bad TSIG (at its retry timer)" bad_seen
tdm_wait 10 "tandem_xfrin_refused_total{reason=tsig}" counted tsig
unchanged "after the bad TSIG"
tdm_pass "an answer with a bad TSIG MAC: refused (tsig), counted, nothing changed"

# ---- a NOTIFY from outside the ACL ---------------------------------------------------------
acl_seen() { grep -q "xfrin example\.: refused (notify-acl): NOTIFY for example\. from 127\.0\.0\.2#" "$TDM_CL/log/$A.log"; }
notify_from_2() { ldns-notify -I 127.0.0.2 -r 1 -z example -s 2024010109 -p "$1" 127.0.0.1 >>"$TDM_TMP/notify.out" 2>&1 || true; }
notify_from_2 "$([ "$A" = node-a ] && echo "$PA" || echo "$PB")"
tdm_wait 30 "$A to refuse the NOTIFY from 127.0.0.2" acl_seen
tdm_assert_no_grep "no check started by it" "NOTIFY from 127\.0\.0\.2#" "$TDM_CL/log/$A.log"
tdm_wait 10 "tandem_xfrin_refused_total{reason=notify-acl}" counted notify-acl
unchanged "after the NOTIFY from outside the ACL"
tdm_pass "a NOTIFY from 127.0.0.2: REFUSED, logged, counted, nothing checked"

# ---- the primary reachable again: the node catches up -------------------------------------
echo pass >"$MODE"
tdm_wait 90 "$A to publish 2024010107 (marker xfr-three)" out_has "$A" 'xfr-three\.example\.'
tdm_assert_grep "by IXFR" "IXFR from 127\.0\.0\.1:$RELAY_PORT: serial 2024010106 -> 2024010107" "$TDM_CL/log/$A.log"
in_has "$A" xfr-three || tdm_fail "the input file lacks the new record"
tdm_pass "with the relay passing again, $A took 2024010107 by IXFR and published it"

# ---- the primary silent past the SOA's expire: the zone alert input-transfer ---------------
S3=$(tdm_last_serial "$A" $Z)
status_alert() { [ "$(tdm_status_get "any(a['kind'] == 'input-transfer' and a['zone'] == '$Z' for a in node('$A')['alerts'])")" = "$1" ]; }
# (the bad-TSIG stretch above may have outlasted the 12 s: that alert clears on catching up)
tdm_wait 60 "no alert input-transfer before the silence" status_alert False
alerts() { grep -c "zone example\.: ALERT input-transfer: .*expire (12 s" "$TDM_CL/log/$A.log" || true; }
before=$(alerts)
echo drop >"$MODE"
raised() { [ "$(alerts)" -gt "$before" ]; }
tdm_wait 60 "$A to raise the alert input-transfer" raised
tdm_wait 30 "the alert input-transfer in $A's status" status_alert True
in_metrics() { curl -s "http://$MA/metrics" | grep -q "^tandem_alert{zone=\"$Z\",reason=\"input-transfer\""; }
tdm_wait 10 "the alert in $A's metrics" in_metrics
[ "$(tdm_last_serial "$A" $Z)" = "$S3" ] || tdm_fail "a serial was published while the primary was silent"
echo pass >"$MODE"
tdm_wait 60 "the alert input-transfer to clear" status_alert False
tdm_pass "the primary silent past its SOA's expire: input-transfer raised (log, status, metrics), cleared when it answers"
tdm_cluster_sanitizer_check
