# shellcheck shell=bash
# Shared shell helpers for deploy/ scripts and the integration tests (integration/lib.sh
# sources this file): logging, the SoftHSMv2 module, private token stores whose PINs never
# appear on a command line, free ports, and process checks. Sourcing defines functions only.
#
#   source "$SRC/deploy/lib.sh"
#   tdm_token "$DIR/hsm" label     # SOFTHSM2_CONF, TDM_PIN_FILE, TDM_SO_PIN_FILE, TDM_MODULE
#   mapfile -t ports < <(tdm_free_ports 4)
#
# A script may define its own tdm_log / tdm_fail after sourcing (integration/lib.sh does).

TDM_NAME=${TDM_NAME:-$(basename "${0%.sh}")}

tdm_log() { printf '[%s] %s\n' "$TDM_NAME" "$*" >&2; }

# tdm_fail MSG [-- FILE...]: prints FAIL with the message (and the tail of each file) and
# exits 1.
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

# ---- ports and processes ------------------------------------------------------------------

# tdm_free_ports N: N distinct free TCP ports on 127.0.0.1, one per line (bound to port 0 all
# at once so that they differ, then released).
tdm_free_ports() {
	python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
    s.close()
PY
}

# tdm_pid_is PID WORD...: the process PID is alive and its command line contains every WORD
# (e.g. the program name and the directory it was started for). Guards every kill against a
# pid that was reused by a process we did not start.
tdm_pid_is() {
	local pid=$1 cmdline w
	shift
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	[ -r "/proc/$pid/cmdline" ] || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[ -n "$cmdline" ] || return 1 # a zombie has an empty command line
	for w in "$@"; do
		case $cmdline in *"$w"*) ;; *) return 1 ;; esac
	done
	return 0
}

# ---- a small CA for etcd's TLS (docs/etcd.md, "TLS") -------------------------------------
# tdm_tls_ca DIR [NAME]: a CA (EC P-256, 10 years) in DIR/ca.pem with its key DIR/ca.key.
tdm_tls_ca() {
	local d=$1 name=${2:-tandem local etcd CA}
	mkdir -p "$d"
	chmod 700 "$d"
	(
		umask 077
		openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-keyout "$d/ca.key" -out "$d/ca.pem" -days 3650 -subj "/CN=$name" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$d/openssl.err"
	) || tdm_fail "openssl could not make the CA in $d" -- "$d/openssl.err"
}

# tdm_tls_cert DIR NAME [IP...]: DIR/NAME.pem and DIR/NAME.key (0600) signed by DIR's CA, for
# TLS server and client use (etcd's gateway presents a member's certificate as a client);
# the IPs (and 127.0.0.1, localhost) are its subject alternative names.
tdm_tls_cert() {
	local d=$1 name=$2 san="DNS:localhost,IP:127.0.0.1" ip
	shift 2
	for ip in "$@"; do
		[ "$ip" = 127.0.0.1 ] || san="$san,IP:$ip"
	done
	printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n' \
		"$san" >"$d/$name.ext"
	(
		umask 077
		openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-keyout "$d/$name.key" -out "$d/$name.csr" -subj "/CN=$name" 2>"$d/openssl.err" &&
			openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
				-CAcreateserial -out "$d/$name.pem" -days 825 -extfile "$d/$name.ext" \
				2>>"$d/openssl.err"
	) || tdm_fail "openssl could not make the certificate $name in $d" -- "$d/openssl.err"
	chmod 644 "$d/$name.pem"
	rm -f "$d/$name.csr" "$d/$name.ext"
}

# ---- real DNS peers: NSD as a secondary, Unbound as a validating resolver ------------------
# Config writers shared by deploy/cluster-up.sh (--secondary nsd, --resolver) and the
# integration tests. Each writes one file and starts nothing; the caller runs the daemon in
# the foreground (nsd -d, unbound -d) as the current user.

# tdm_nsd_conf FILE DIR [ADDR@]PORT KEYFILE "ZONE..." "ADDR@PORT...": an NSD config (mode
# 0600: it holds the TSIG secret) for a secondary of every ZONE on ADDR@PORT (default
# 127.0.0.1) with its state, pid and log files in DIR, pulling from each primary with the
# key in KEYFILE (one line "NAME ALGORITHM BASE64SECRET", cluster-up's tsig.key), taking
# NOTIFY signed with it from TDM_PEER_ACL, and giving AXFR with it to TDM_PEER_ACL (for
# comparisons). TDM_PEER_ACL is an address or PREFIX/LEN, default 127.0.0.1 (cluster-up
# --netns: the cluster's /24, where the nodes' transfer servers are). Transfers are tried
# as IXFR first. A primary on port 53 is written without the port (see below). nsd-control
# is off.
tdm_nsd_conf() {
	local file=$1 dir=$2 port=$3 keyfile=$4 zones=$5 primaries=$6 name alg secret z p
	local addr=127.0.0.1 acl=${TDM_PEER_ACL:-127.0.0.1}
	case $port in *@*) addr=${port%@*} port=${port##*@} ;; esac
	read -r name alg secret _ <"$keyfile" || tdm_fail "tdm_nsd_conf: cannot read $keyfile"
	[ -n "$secret" ] || tdm_fail "tdm_nsd_conf: $keyfile is not 'NAME ALGORITHM SECRET'"
	# the file is made 0600 before the secret goes in (a redirection after a subshell's
	# umask would still open it with the caller's)
	(umask 077 && : >"$file") || tdm_fail "tdm_nsd_conf: cannot write $file"
	chmod 600 "$file"
	{
		cat <<-CONF
			server:
			    ip-address: $addr@$port
			    port: $port
			    do-ip6: no
			    username: ""
			    chroot: ""
			    zonesdir: "$dir"
			    database: ""
			    zonelistfile: "$dir/zone.list"
			    xfrdfile: "$dir/xfrd.state"
			    xfrdir: "$dir/xfr"
			    pidfile: "$dir/nsd.pid"
			    logfile: "$dir/nsd.log"
			    verbosity: 2
			    server-count: 1
			    reuseport: no
			    xfrd-reload-timeout: 0
			remote-control:
			    control-enable: no
			key:
			    name: "$name"
			    algorithm: $alg
			    secret: "$secret"
		CONF
		for z in $zones; do
			z=${z%.}
			printf 'zone:\n    name: "%s"\n    zonefile: "%s/%s.zone"\n' "$z" "$dir" "$z"
			printf '    allow-notify: %s %s\n    provide-xfr: %s %s\n' "$acl" "$name" "$acl" "$name"
			for p in $primaries; do
				# ADDR@53 as ADDR alone: NSD then transfers on port 53 and takes a NOTIFY
				# from ADDR, whatever its source port, as this primary's (it asks the
				# NOTIFY's sender first; with a port written, only a NOTIFY from that port)
				printf '    request-xfr: %s %s\n' "${p%@53}" "$name"
			done
		done
	} >"$file" || tdm_fail "tdm_nsd_conf: cannot write $file"
	mkdir -p "$dir/xfr"
}

# tdm_unbound_conf FILE DIR [ADDR@]PORT TAFILE "ZONE..." ADDR@PORT ["NAME ADDR@PORT"...]: an
# Unbound config on ADDR@PORT (default 127.0.0.1) that validates with the DS records in
# TAFILE as trust anchors, reaches every ZONE through a stub at ADDR@PORT (and each further
# NAME through its own stub, e.g. an unsigned child served elsewhere), and refuses
# everything else locally: no root traffic. It answers queries from the loopback and from
# TDM_PEER_ACL (PREFIX/LEN, e.g. cluster-up --netns's /24). Its pid and log files go to
# DIR; remote control is off.
tdm_unbound_conf() {
	local file=$1 dir=$2 port=$3 ta=$4 zones=$5 addr=$6 z s listen=127.0.0.1
	shift 6
	case $port in *@*) listen=${port%@*} port=${port##*@} ;; esac
	{
		cat <<-CONF
			server:
			    interface: $listen@$port
			    port: $port
			    do-ip6: no
			    username: ""
			    chroot: ""
			    directory: "$dir"
			    pidfile: "$dir/unbound.pid"
			    logfile: "$dir/unbound.log"
			    use-syslog: no
			    verbosity: 1
			    val-log-level: 2
			    num-threads: 1
			    do-not-query-localhost: no
			    qname-minimisation: no
			    aggressive-nsec: no
			    prefetch: no
			    module-config: "validator iterator"
			    trust-anchor-file: "$ta"
			    local-zone: "." refuse
		CONF
		[ -z "${TDM_PEER_ACL:-}" ] || printf '    access-control: %s allow\n' "$TDM_PEER_ACL"
		for z in $zones; do
			z=${z%.}
			printf 'server:\n    local-zone: "%s." transparent\nstub-zone:\n    name: "%s."\n    stub-addr: %s\n' \
				"$z" "$z" "$addr"
		done
		for s in "$@"; do
			printf 'server:\n    local-zone: "%s" transparent\nstub-zone:\n    name: "%s"\n    stub-addr: %s\n' \
				"${s%% *}" "${s%% *}" "${s#* }"
		done
		printf 'remote-control:\n    control-enable: no\n'
	} >"$file" || tdm_fail "tdm_unbound_conf: cannot write $file"
}

# tdm_dns_serial ADDR PORT ZONE [NETNS]: the SOA serial the server answers for ZONE (empty
# when it has none: no answer, SERVFAIL, timeout), asked from the network namespace NETNS
# when one is given (cluster-up --netns's peers). Always succeeds: a server that is not up
# yet (kdig fails) must not end a caller running under set -e and pipefail.
tdm_dns_serial() {
	local pre=()
	[ -z "${4:-}" ] || pre=(ip netns exec "$4")
	{ "${pre[@]}" kdig -p "$2" "@$1" +norec +timeout=2 +retry=0 +short "$3" SOA 2>/dev/null || true; } |
		awk 'NF >= 7 { print $3; exit }'
}
