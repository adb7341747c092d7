#!/bin/bash
# A complete local tandem cluster under DIR: 3 etcd members (site A, site B, witness W), a
# coordinator per site (coord-a, coord-b), a node per site (node-a, node-b) running tandemd,
# each node with its own SoftHSM token store holding the SMK of one scripted ceremony, CURVE
# keys and an allow-list, and DIR/tandemctl for the operator. Waits until every zone has a
# committed serial, then prints the status. docs/cluster.md has the whole tour.
#
# Usage: deploy/cluster-up.sh DIR [--zones N] [--netns] [--lease-ms MS] [--cycle S]
#                             [--policy FILE] [--late-zone NAME]... [--skr-margin S]
#                             [--etcd-plain] [--zone-records N] [--threads N]
#                             [--notify ADDR:PORT]... [--primary ADDR:PORT] [--review-listen]
#                             [--secondary nsd [--resolver [--resolver-stub NAME=ADDR@PORT]...]]
#   DIR          must not exist or be empty
#   --zones N    N generated zones z1.example. .. zN.example. (default: conf/example.zone),
#                N at most 1024 (the coordinator's COORD_ZONES_MAX)
#   --zone-records N  records per generated zone (tandem-zonegen -n; default 50)
#   --netns      each site (A, B, W) in its own network namespace behind a private bridge,
#                for deploy/partition.sh (root only); with --secondary nsd a fourth, D (the
#                distribution site: NSD and Unbound), at neither signing site
#   --lease-ms   the coordinators' lease (must exceed 3 x the 2 s margin)
#   --cycle S    tandemd's signing cycle in seconds
#   --policy F   the nodes' signing policy (default conf/dps-default.yaml)
#   --late-zone NAME  a generated zone the nodes are given but the cluster does not hold
#                yet: it is signed once an operator adds it (tandemctl zone add), e.g.
#                an offline-KSK zone whose KSKs are imported first (docs/keys.md)
#   --skr-margin S  tandemd's offline-KSK margin in seconds (default 3 days)
#   --threads N  tandemd's signing threads (default tandemd's: 1)
#   --notify ADDR:PORT  a secondary every node NOTIFYs after each of its publications
#   --review-listen  each node's review port on 127.0.0.1 (a free port, TSIG with
#                DIR/tsig.key): its review hooks read the version under review by AXFR there
#                (docs/node.md, "Review hooks")
#   --primary ADDR:PORT  a hidden primary every node takes every zone's input from (IXFR/AXFR
#                with DIR/tsig.key, on its NOTIFY and the SOA refresh timer; docs/dist.md)
#                (repeatable; signed with DIR/tsig.key; docs/dist.md)
#   --secondary nsd  an NSD secondary of every zone on a free 127.0.0.1 port (DIR/nsd; with
#                --netns on port 53 of site D's address), both nodes' transfer servers its
#                primaries (TSIG with DIR/tsig.key), every node NOTIFYing it; waits until it
#                holds each zone's committed serial
#   --resolver   a validating Unbound on a free 127.0.0.1 port (DIR/unbound; with --netns
#                port 5300 of site D's address) trusting each
#                zone's DS from 'tandemctl keys ds --cluster', the zones through a stub at
#                the NSD, everything else refused (needs --secondary nsd). Both are listed
#                in DIR/peers.env (docs/cluster.md, "A secondary and a resolver")
#   --resolver-stub NAME=ADDR@PORT  one more stub zone for the Unbound, e.g. an unsigned
#                child served elsewhere (repeatable; with --netns ADDR is reached from D)
#   --etcd-plain etcd without TLS (the coordinators get --insecure-etcd); by default the
#                members and coordinators use TLS with client certificates from a CA made
#                in DIR/tls (docs/etcd.md, "TLS")
# Env: TANDEM_BUILD (default REPO/build; built with cmake when a binary is missing), JOBS,
#      TANDEM_CLUSTER_TIMEOUT (seconds to wait for the serials, default 120),
#      TANDEM_CLUSTER_DS_TIMEOUT (seconds --resolver waits, for all zones together, for
#      'keys ds --cluster' to print a zone's DS before it takes the DS of the published KSK
#      instead, default 30),
#      TANDEM_CLUSTER_NO_NODES=1 (debugging aid: etcd and coordinators only, no tandemd),
#      TANDEM_P11_MODULE (the PKCS#11 module, default SoftHSMv2's),
#      TANDEM_CLUSTER_HSM_TMPFS (1, the default: the nodes' SoftHSM token stores on /dev/shm
#      when it is a tmpfs, removed by cluster-down; 0: under DIR/node-X/hsm),
#      TANDEM_AUDIT_ANCHOR_S, TANDEM_AUDIT_RETENTION_S (the coordinators' audit anchor
#      interval and retention, default 3600 and one year; docs/audit.md).
# Stop it with deploy/cluster-down.sh DIR. On failure everything started is stopped, and
# the logs stay in DIR/log.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
TDM_NAME=cluster-up
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$SRC/deploy/lib.sh"

usage() {
	sed -n '/^# Usage:/,/^# the logs stay/p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 1
}

DIR='' NZONES=0 ZONE_RECORDS=50 NETNS=0 LEASE_MS='' CYCLE='' POLICY=$SRC/conf/dps-default.yaml SKR_MARGIN=''
THREADS=''
NOTIFY=()
PRIMARY=''
REVIEW_LISTEN=0
SECONDARY='' RESOLVER=0
RESOLVER_STUBS=()
ETCD_TLS=1
LATE_ZONES=()
while [ $# -gt 0 ]; do
	case $1 in
	--zones)
		[ $# -ge 2 ] || usage
		NZONES=$2
		shift 2
		;;
	--zone-records)
		[ $# -ge 2 ] || usage
		ZONE_RECORDS=$2
		shift 2
		;;
	--netns)
		NETNS=1
		shift
		;;
	--etcd-plain)
		ETCD_TLS=0
		shift
		;;
	--review-listen)
		REVIEW_LISTEN=1
		shift
		;;
	--lease-ms)
		[ $# -ge 2 ] || usage
		LEASE_MS=$2
		shift 2
		;;
	--policy)
		[ $# -ge 2 ] || usage
		POLICY=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
		shift 2
		;;
	--cycle)
		[ $# -ge 2 ] || usage
		CYCLE=$2
		shift 2
		;;
	--late-zone)
		[ $# -ge 2 ] || usage
		case $2 in *.) LATE_ZONES+=("$2") ;; *) LATE_ZONES+=("$2.") ;; esac
		shift 2
		;;
	--skr-margin)
		[ $# -ge 2 ] || usage
		SKR_MARGIN=$2
		shift 2
		;;
	--threads)
		[ $# -ge 2 ] || usage
		THREADS=$2
		shift 2
		;;
	--notify)
		[ $# -ge 2 ] || usage
		NOTIFY+=("$2")
		shift 2
		;;
	--primary)
		[ $# -ge 2 ] || usage
		PRIMARY=$2
		shift 2
		;;
	--secondary)
		[ $# -ge 2 ] || usage
		SECONDARY=$2
		shift 2
		;;
	--resolver)
		RESOLVER=1
		shift
		;;
	--resolver-stub)
		[ $# -ge 2 ] || usage
		RESOLVER_STUBS+=("$2")
		shift 2
		;;
	-h | --help) usage ;;
	-*) usage ;;
	*)
		[ -z "$DIR" ] || usage
		DIR=$1
		shift
		;;
	esac
done
[ -n "$DIR" ] || usage
case $NZONES in '' | *[!0-9]*) tdm_fail "--zones: a number 1..1024" ;; esac
if [ "$NZONES" -gt 1024 ]; then tdm_fail "--zones: a number 1..1024 (the coordinator holds 1024 zones)"; fi
case $ZONE_RECORDS in '' | *[!0-9]*) tdm_fail "--zone-records: a number of records" ;; esac
case $LEASE_MS in *[!0-9]*) tdm_fail "--lease-ms: milliseconds" ;; esac
case $CYCLE in *[!0-9]*) tdm_fail "--cycle: seconds" ;; esac
case $SKR_MARGIN in *[!0-9]*) tdm_fail "--skr-margin: seconds" ;; esac
case $THREADS in *[!0-9]*) tdm_fail "--threads: a number of signing threads" ;; esac
for z in "${LATE_ZONES[@]}"; do
	case $z in *[!a-z0-9.-]* | .*) tdm_fail "--late-zone: a lowercase zone name, not '$z'" ;; esac
done
NO_NODES=${TANDEM_CLUSTER_NO_NODES:-0}
TIMEOUT=${TANDEM_CLUSTER_TIMEOUT:-120}
DS_TIMEOUT=${TANDEM_CLUSTER_DS_TIMEOUT:-30}
case $DS_TIMEOUT in '' | *[!0-9]*) tdm_fail "TANDEM_CLUSTER_DS_TIMEOUT: seconds" ;; esac
case $SECONDARY in '' | nsd) ;; *) tdm_fail "--secondary: 'nsd' is the one secondary it starts, not '$SECONDARY'" ;; esac
[ "$RESOLVER" = 0 ] || [ "$SECONDARY" = nsd ] || tdm_fail "--resolver needs --secondary nsd (it reaches the zones through the NSD)"
[ "${#RESOLVER_STUBS[@]}" -eq 0 ] || [ "$RESOLVER" = 1 ] || tdm_fail "--resolver-stub needs --resolver"
for st in "${RESOLVER_STUBS[@]}"; do
	case $st in
	[a-z0-9]*=*@[0-9]*) ;;
	*) tdm_fail "--resolver-stub: NAME=ADDR@PORT (e.g. insecure.example.=127.0.0.1@5300), not '$st'" ;;
	esac
done
if [ -n "$SECONDARY" ]; then
	[ "$NO_NODES" != 1 ] || tdm_fail "--secondary needs the nodes (TANDEM_CLUSTER_NO_NODES=1 starts none)"
fi

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
if [ -n "$(ls -A "$DIR")" ]; then
	tdm_fail "$DIR is not empty: stop its cluster (deploy/cluster-down.sh $DIR) and remove it, or pick another DIR"
fi

# ---- tools and binaries -----------------------------------------------------------------
peer_tools=()
[ -z "$SECONDARY" ] || peer_tools+=(nsd kdig)
[ "$RESOLVER" = 0 ] || peer_tools+=(unbound unbound-checkconf ldns-key2ds)
for t in etcd curl python3 softhsm2-util sha256sum setsid "${peer_tools[@]}"; do
	command -v "$t" >/dev/null 2>&1 || tdm_fail "required tool '$t' not found (run deploy/install-deps.sh)"
done
if [ "$NETNS" = 1 ]; then
	command -v ip >/dev/null 2>&1 || tdm_fail "--netns needs 'ip' (iproute2)"
	[ "$(id -u)" = 0 ] || tdm_fail "--netns needs root (it creates network namespaces)"
fi
BUILD=${TANDEM_BUILD:-$SRC/build}
bin_path() {
	case $1 in
	tandem-coord) printf '%s\n' "$BUILD/src/coordd/tandem-coord" ;;
	tandemd) printf '%s\n' "$BUILD/src/tandemd/tandemd" ;;
	*) printf '%s\n' "$BUILD/src/tools/$1" ;;
	esac
}
wanted=(tandem-coord tandemctl tandem-ceremony tandem-zonegen)
[ "$NO_NODES" = 1 ] || wanted+=(tandemd)
missing=()
for b in "${wanted[@]}"; do
	[ -x "$(bin_path "$b")" ] || missing+=("$b")
done
if [ "${#missing[@]}" -gt 0 ]; then
	tdm_log "building ${missing[*]} in $BUILD"
	cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null ||
		tdm_fail "cmake configure failed in $BUILD"
	cmake --build "$BUILD" -j "${JOBS:-2}" --target "${missing[@]}" >"$DIR/build.log" 2>&1 ||
		tdm_fail "build failed" -- "$DIR/build.log"
fi
BUILD=$(cd "$BUILD" && pwd)
COORD=$(bin_path tandem-coord)
CTL=$(bin_path tandemctl)
CEREMONY=$(bin_path tandem-ceremony)
ZONEGEN=$(bin_path tandem-zonegen)
TANDEMD=$(bin_path tandemd)
MODULE=$(tdm_module)

# ---- failure: stop what was started, keep the logs ------------------------------------------
STARTED=()  # NAME:PID of every process started
DONE=0
on_exit() {
	local rc=$? e
	rm -f "$DIR/run/status.json.tmp"
	[ "$DONE" = 1 ] && return 0
	[ "$rc" -ne 0 ] || rc=1
	trap - EXIT
	tdm_log "stopping what was started (logs stay in $DIR/log)"
	# a daemon that died before writing its pid file is still named by its pid here
	for e in "${STARTED[@]}"; do
		[ -e "$DIR/run/${e%%:*}.pid" ] || printf '%s\n' "${e#*:}" >"$DIR/run/${e%%:*}.pid"
	done
	"$SRC/deploy/cluster-down.sh" "$DIR" >&2 || true
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# proc_fail NAME WHY: a process failed; prints its log tail and exits.
proc_fail() {
	tdm_fail "$1: $2" -- "$DIR/log/$1.log"
}

# ---- layout, addresses, namespaces ------------------------------------------------------------
mkdir -p "$DIR/log" "$DIR/run" "$DIR/keys" "$DIR/zones" "$DIR/etcd"
chmod 700 "$DIR/etcd" "$DIR/keys"
HASH=$(printf '%s' "$DIR" | sha256sum | cut -c1-8)
SITES=(a b w)
declare -A IP NS CPORT PPORT
# d: where the secondary and the resolver run (with --netns a site of its own, D, so that
# cutting off a signing site leaves them the other; on loopback the machine itself)
IP[d]=127.0.0.1 NS[d]=
NSD_PORT='' UNBOUND_PORT=''
if [ "$NETNS" = 1 ]; then
	NET=10.213.$((16#${HASH:0:2}))
	NS_HUB=tdm-$HASH-hub
	n=1
	for s in "${SITES[@]}"; do
		IP[$s]=$NET.$n
		NS[$s]=tdm-$HASH-$s
		CPORT[$s]=2379
		PPORT[$s]=2380
		n=$((n + 1))
	done
	COORD_PORT_A=7400 COORD_PORT_B=7400
	peer_sites=()
	if [ -n "$SECONDARY" ]; then
		IP[d]=$NET.4
		NS[d]=tdm-$HASH-d
		NSD_PORT=53 UNBOUND_PORT=5300 # the site's own address: fixed ports
		peer_sites=(d)
	fi
	for ns in "$NS_HUB" "${NS[a]}" "${NS[b]}" "${NS[w]}" ${NS[d]:+"${NS[d]}"}; do
		if ip netns list | awk '{ print $1 }' | grep -qxF "$ns"; then
			tdm_fail "network namespace $ns exists already: is a cluster for $DIR running? (deploy/cluster-down.sh $DIR)"
		fi
	done
	# DIR/netns lists what cluster-down.sh removes and partition.sh cuts: ROLE NAMESPACE LINK
	printf '# network namespaces of this cluster: ROLE NAMESPACE HUB-SIDE-LINK (cluster-up.sh)\n' >"$DIR/netns"
	printf 'hub %s -\n' "$NS_HUB" >>"$DIR/netns"
	ip netns add "$NS_HUB"
	ip -n "$NS_HUB" link set lo up
	ip -n "$NS_HUB" link add br0 type bridge
	ip -n "$NS_HUB" link set br0 up
	for s in "${SITES[@]}" "${peer_sites[@]}"; do
		printf '%s %s v%s\n' "${s^^}" "${NS[$s]}" "$s" >>"$DIR/netns"
		ip netns add "${NS[$s]}"
		ip -n "${NS[$s]}" link set lo up
		ip -n "$NS_HUB" link add "v$s" type veth peer name eth0 netns "${NS[$s]}"
		ip -n "$NS_HUB" link set "v$s" master br0 up
		ip -n "${NS[$s]}" addr add "${IP[$s]}/24" dev eth0
		ip -n "${NS[$s]}" link set eth0 up
	done
	tdm_log "network namespaces ${NS[a]}, ${NS[b]}, ${NS[w]}${NS[d]:+, ${NS[d]}} on $NET.0/24 (bridge in $NS_HUB)"
else
	# 10: two more for the secondary and the resolver, picked in the same call so that none
	# is one of the cluster's
	mapfile -t ports < <(tdm_free_ports 10)
	[ "${#ports[@]}" -eq 10 ] || tdm_fail "could not pick free ports"
	i=0
	for s in "${SITES[@]}"; do
		IP[$s]=127.0.0.1
		NS[$s]=
		CPORT[$s]=${ports[i]}
		PPORT[$s]=${ports[i + 1]}
		i=$((i + 2))
	done
	COORD_PORT_A=${ports[6]} COORD_PORT_B=${ports[7]}
	[ -z "$SECONDARY" ] || NSD_PORT=${ports[8]} UNBOUND_PORT=${ports[9]}
fi
# the secondary's address is known now: every node is started with --notify to it
[ -z "$SECONDARY" ] || NOTIFY+=("${IP[d]}:$NSD_PORT")
# etcd's TLS: a CA in DIR/tls, a certificate per member (its site's address), one per
# coordinator and one for the operator's tools (etcdctl, curl: ETCD_CACERT/CERT/KEY in
# cluster.env). Every connection, member to member and client to member, shows a
# certificate of this CA.
TLS=$DIR/tls
ETCD_SCHEME=http
ETCD_CURL_TLS=()
if [ "$ETCD_TLS" = 1 ]; then
	ETCD_SCHEME=https
	tdm_tls_ca "$TLS"
	for s in "${SITES[@]}"; do tdm_tls_cert "$TLS" "etcd-$s" "${IP[$s]}"; done
	for n in coord-a coord-b client; do tdm_tls_cert "$TLS" "$n"; done
	ETCD_CURL_TLS=(--cacert "$TLS/ca.pem" --cert "$TLS/client.pem" --key "$TLS/client.key")
fi
# etcd_tls_flags SITE: the member's TLS flags (none with --etcd-plain)
etcd_tls_flags() {
	[ "$ETCD_TLS" = 1 ] || return 0
	printf '%s\n' --cert-file "$TLS/etcd-$1.pem" --key-file "$TLS/etcd-$1.key" \
		--trusted-ca-file "$TLS/ca.pem" --client-cert-auth \
		--peer-cert-file "$TLS/etcd-$1.pem" --peer-key-file "$TLS/etcd-$1.key" \
		--peer-trusted-ca-file "$TLS/ca.pem" --peer-client-cert-auth
}
etcd_url() { printf '%s://%s:%s' "$ETCD_SCHEME" "${IP[$1]}" "${CPORT[$1]}"; }
etcd_peer_url() { printf '%s://%s:%s' "$ETCD_SCHEME" "${IP[$1]}" "${PPORT[$1]}"; }
ETCD_CLUSTER="etcd-a=$(etcd_peer_url a),etcd-b=$(etcd_peer_url b),etcd-w=$(etcd_peer_url w)"
COORD_EP_A=tcp://${IP[a]}:$COORD_PORT_A
COORD_EP_B=tcp://${IP[b]}:$COORD_PORT_B
coord_port() { if [ "$1" = a ]; then printf '%s' "$COORD_PORT_A"; else printf '%s' "$COORD_PORT_B"; fi; }

# in_site SITE CMD...: CMD in the site's namespace (or here without --netns).
in_site() {
	local s=$1
	shift
	if [ -n "${NS[$s]}" ]; then
		ip netns exec "${NS[$s]}" "$@"
	else
		"$@"
	fi
}

# start NAME SITE PIDMODE CMD...: starts CMD detached (own session, stdin /dev/null, output
# in DIR/log/NAME.log) in the site. PIDMODE "shell" writes DIR/run/NAME.pid from $!; "own"
# leaves it to the daemon's --pid-file. setsid, ip netns exec and env all exec, so $! is the
# daemon itself. Also writes DIR/run/NAME.start, which starts it again the same way.
start() {
	local name=$1 s=$2 mode=$3
	shift 3
	local pre=()
	[ -z "${NS[$s]}" ] || pre=(ip netns exec "${NS[$s]}")
	setsid "${pre[@]}" "$@" </dev/null >>"$DIR/log/$name.log" 2>&1 &
	local pid=$!
	# DIR/run/NAME.start starts it again the same way (tests and drills restart killed
	# processes with it; cluster-down.sh stops the new one through its pid file).
	{
		printf '#!/bin/bash\n# starts %s again as cluster-up.sh did\nsetsid' "$name"
		printf ' %q' "${pre[@]}" "$@"
		printf ' </dev/null >>%q 2>&1 &\n' "$DIR/log/$name.log"
		[ "$mode" != shell ] || printf 'echo "$!" >%q\n' "$DIR/run/$name.pid"
	} >"$DIR/run/$name.start"
	chmod 755 "$DIR/run/$name.start"
	STARTED+=("$name:$pid")
	[ "$mode" != shell ] || printf '%s\n' "$pid" >"$DIR/run/$name.pid"
	tdm_log "started $name (pid $pid)"
}

# alive NAME: the process started as NAME is still running.
alive() {
	local e
	for e in "${STARTED[@]}"; do
		if [ "${e%%:*}" = "$1" ]; then
			# by its state, not its command line: that reads empty for a zombie, but also
			# for a process in the middle of exec (setsid, then env, then the program),
			# which once made a node that was starting count as one that had exited
			local st
			st=$(sed -n 's/.*) \([A-Za-z]\) .*/\1/p' "/proc/${e#*:}/stat" 2>/dev/null)
			[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
			return
		fi
	done
	return 1
}

# check_alive: fails naming the first started process that has died.
check_alive() {
	local e
	for e in "${STARTED[@]}"; do
		alive "${e%%:*}" || proc_fail "${e%%:*}" "exited (pid ${e#*:})"
	done
}

# ---- etcd: one member per site and the witness -----------------------------------------------
# --pre-vote: a member cut off from the others (a partitioned site) must not force an election
# when it comes back (etcd 3.4 has it off by default): without it, the heal of a partition cost
# the cluster a second or more without a leader, just when the sites meet again.
# --max-txn-ops: a decision about every zone (a tick lapsing leases, a drain, a takeover) writes
# one key per zone it changes in one transaction (docs/etcd.md, "The keys tandem keeps").
for s in "${SITES[@]}"; do
	mapfile -t tls < <(etcd_tls_flags "$s")
	start "etcd-$s" "$s" shell etcd --name "etcd-$s" --data-dir "$DIR/etcd/$s" \
		--listen-client-urls "$(etcd_url "$s")" --advertise-client-urls "$(etcd_url "$s")" \
		--listen-peer-urls "$(etcd_peer_url "$s")" \
		--initial-advertise-peer-urls "$(etcd_peer_url "$s")" \
		--initial-cluster "$ETCD_CLUSTER" --initial-cluster-token "tandem-$HASH" \
		--initial-cluster-state new --pre-vote --max-txn-ops 4096 --logger zap --log-outputs stderr "${tls[@]}"
done
deadline=$(($(date +%s) + 30))
for s in "${SITES[@]}"; do
	until in_site "$s" curl -s --max-time 2 "${ETCD_CURL_TLS[@]}" "$(etcd_url "$s")/health" 2>/dev/null | grep -q '"health":"true"'; do
		check_alive
		[ "$(date +%s)" -lt "$deadline" ] || proc_fail "etcd-$s" "not healthy after 30 s"
		sleep 0.3
	done
done
tdm_log "etcd healthy: $(etcd_url a),$(etcd_url b),$(etcd_url w)"

# ---- CURVE keys and the allow-list ---------------------------------------------------------------
for who in coord-a coord-b node-a node-b operator; do
	"$CTL" net keygen --public "$DIR/keys/$who.pub" --secret "$DIR/keys/$who.secret" >/dev/null ||
		tdm_fail "tandemctl net keygen for $who failed"
done
# each coordinator's audit anchor key (Ed25519) and its mirror of the audit log (docs/audit.md)
for s in a b; do
	"$CTL" audit keygen --name "coord-$s" --public "$DIR/keys/coord-$s.audit.pub" \
		--secret "$DIR/keys/coord-$s.audit.secret" >/dev/null || tdm_fail "audit keygen for coord-$s failed"
	mkdir -p "$DIR/audit-$s" && chmod 700 "$DIR/audit-$s"
done
cat "$DIR/keys/coord-a.audit.pub" "$DIR/keys/coord-b.audit.pub" >"$DIR/keys/audit-anchor-keys"
pub() { awk '$1 == "public" { print $2 }' "$DIR/keys/$1.pub"; }
{
	printf '# who may talk to the coordinators of this cluster: NAME ROLE KEY (cluster-up.sh)\n'
	printf 'node-a node %s\n' "$(pub node-a)"
	printf 'node-b node %s\n' "$(pub node-b)"
	printf 'operator operator %s\n' "$(pub operator)"
	# each coordinator measures the other's clock (tandem-coord --peer)
	printf 'coord-a coordinator %s\n' "$(pub coord-a)"
	printf 'coord-b coordinator %s\n' "$(pub coord-b)"
} >"$DIR/allow"

# ---- the SMK ceremony: 3 cards, any 2 install it; node-a gets cards 1+2, node-b 2+3 ---------------
CER=$DIR/ceremony
mkdir -p "$CER"
chmod 700 "$CER"
(umask 077 && for i in 1 2 3; do printf 'drill card %s %s\n' "$i" "$(tdm_random_pin)"; done >"$CER/pass")
(umask 077 && sed -n '1,2p' "$CER/pass" >"$CER/pass-a" && sed -n '2,3p' "$CER/pass" >"$CER/pass-b")
"$CEREMONY" smk-new --shares 3 --threshold 2 --out "$CER/cards" --kdf-cost 12 --drill \
	--passphrase-file "$CER/pass" >"$CER/smk-new.out" 2>&1 || tdm_fail "smk-new failed" -- "$CER/smk-new.out"
CHECK=$(awk '/^check value:/ { print $3 }' "$CER/smk-new.out")
[ "${#CHECK}" -eq 64 ] || tdm_fail "smk-new printed no check value" -- "$CER/smk-new.out"
declare -A CONF PIN
# The token stores on tmpfs (TANDEM_CLUSTER_HSM_TMPFS, default 1 where /dev/shm is a writable
# tmpfs): SoftHSM's file store rewrites an object's file (truncate, write) for every attribute
# it sets, and ext4 pushes each rewritten file to disk (auto_da_alloc), about 100 ms per key
# pair made against 18 ms on tmpfs (docs/ceremony.md). node-X/hsm/tokens is a link to
# /dev/shm/tandem-hsm.XXXXXX/node-X, named in DIR/run/hsm-store; cluster-down removes it (a
# local cluster's keys do not outlive it; the archive in etcd holds them wrapped anyway).
HSM_STORE=''
if [ "${TANDEM_CLUSTER_HSM_TMPFS:-1}" = 1 ] && [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
	[ -w /dev/shm ]; then
	HSM_STORE=$(mktemp -d /dev/shm/tandem-hsm.XXXXXX)
	printf '%s\n' "$HSM_STORE" >"$DIR/run/hsm-store"
fi
for s in a b; do
	if [ -n "$HSM_STORE" ]; then
		(umask 077 && mkdir -p "$HSM_STORE/node-$s/tokens" "$DIR/node-$s/hsm")
		ln -s "$HSM_STORE/node-$s/tokens" "$DIR/node-$s/hsm/tokens"
	fi
	tdm_token "$DIR/node-$s/hsm" "node-$s"
	CONF[$s]=$SOFTHSM2_CONF
	PIN[$s]=$TDM_PIN_FILE
	unset SOFTHSM2_CONF # each process gets its own store, never this shell's
	if [ "$s" = a ]; then cards=("$CER/cards/card-01.tandem-card" "$CER/cards/card-02.tandem-card"); else cards=("$CER/cards/card-02.tandem-card" "$CER/cards/card-03.tandem-card"); fi
	env SOFTHSM2_CONF="${CONF[$s]}" "$CEREMONY" smk-install --module "$MODULE" \
		--token "pkcs11:token=node-$s;pin-source=${PIN[$s]}" --so-pin-source "$TDM_SO_PIN_FILE" \
		--drill --passphrase-file "$CER/pass-$s" "${cards[@]}" >"$CER/install-$s.out" 2>&1 ||
		tdm_fail "smk-install on node-$s failed" -- "$CER/install-$s.out"
	got=$(env SOFTHSM2_CONF="${CONF[$s]}" "$CEREMONY" smk-check --module "$MODULE" \
		--token "pkcs11:token=node-$s;pin-source=${PIN[$s]}" 2>"$CER/check-$s.err" | awk '{ print $NF }')
	[ "$got" = "$CHECK" ] || tdm_fail "node-$s holds check value '$got', not the ceremony's $CHECK" -- "$CER/check-$s.err"
done
printf '%s\n' "$CHECK" >"$CER/check-value"
tdm_log "SMK installed on node-a (cards 1, 2) and node-b (cards 2, 3), check value $CHECK"

# ---- zones: one copy of every input per node ------------------------------------------------------
ZONE_NAMES=()
if [ "$NZONES" -eq 0 ]; then
	cp "$SRC/conf/example.zone" "$DIR/zones/example.zone"
	ZONE_NAMES=(example.)
else
	for ((i = 1; i <= NZONES; i++)); do
		"$ZONEGEN" -o "z$i.example." -n "$ZONE_RECORDS" --seed "$i" >"$DIR/zones/z$i.example.zone" ||
			tdm_fail "tandem-zonegen z$i.example. failed"
		ZONE_NAMES+=("z$i.example.")
	done
fi
for ((i = 0; i < ${#LATE_ZONES[@]}; i++)); do
	z=${LATE_ZONES[$i]}
	"$ZONEGEN" -o "$z" -n 50 --seed $((100 + i)) >"$DIR/zones/${z%.}.zone" ||
		tdm_fail "tandem-zonegen $z failed"
done
for s in a b; do
	mkdir -p "$DIR/node-$s/in" "$DIR/node-$s/out" "$DIR/node-$s/work"
	for z in "${ZONE_NAMES[@]}" "${LATE_ZONES[@]}"; do
		cp "$DIR/zones/${z%.}.zone" "$DIR/node-$s/in/${z%.}.zone"
	done
done

# ---- the operator's tandemctl and the test environment -------------------------------------------------
{
	printf '#!/bin/bash\n'
	printf '# tandemctl for the cluster in %s: its coordinators and the operator key (cluster-up.sh)\n' "$DIR"
	printf 'export TANDEM_COORD=%q\n' "$COORD_EP_A,$COORD_EP_B"
	printf 'export TANDEM_COORD_PUB=%q\n' "$DIR/keys/coord-a.pub,$DIR/keys/coord-b.pub"
	printf 'export TANDEM_KEY=%q\n' "$DIR/keys/operator.secret"
	printf '# tandemctl drill: this cluster'"'"'s fault actions and where reports go (docs/drills.md)\n'
	# shellcheck disable=SC2016 # expanded when DIR/tandemctl runs: the caller's value wins
	printf 'export TANDEM_DRILL_HOOKS=${TANDEM_DRILL_HOOKS:-%q}\n' "$DIR/drill-hooks"
	# shellcheck disable=SC2016
	printf 'export TANDEM_DRILL_REPORT=${TANDEM_DRILL_REPORT:-%q}\n' "$DIR"
	if [ "$NETNS" = 1 ]; then
		printf '# run from the witness site, which reaches both coordinators\n'
		printf 'exec ip netns exec %q %q "$@"\n' "${NS[w]}" "$CTL"
	else
		printf 'exec %q "$@"\n' "$CTL"
	fi
} >"$DIR/tandemctl"
chmod 755 "$DIR/tandemctl"
# DIR/drill-hooks: tandemctl drill's fault actions for this cluster (docs/drills.md), one
# command per action, words split at blanks: so neither path may hold one.
case "$SRC$DIR" in
*[[:space:]]*) tdm_log "no $DIR/drill-hooks: a path holds a blank" ;;
*)
	{
		printf '# tandemctl drill hooks for the cluster in %s (cluster-up.sh; docs/drills.md)\n' "$DIR"
		for a in 'stop-site {site}' 'start-site {site}' 'stop-coordinator {site}' \
			'start-coordinator {site}' 'stop-etcd-leader' 'start-etcd {member}' \
			'hsm-off {node}' 'hsm-on {node}' 'rebuild-node {node}' \
			'fetch-zone {node} {zone} {file}'; do
			printf '%-18s %s %s %s\n' "${a%% *}" "$SRC/deploy/drill-hooks.sh" "$DIR" "$a"
		done
		if [ "$NETNS" = 1 ]; then
			printf '%-18s %s %s %s\n' partition "$SRC/deploy/drill-hooks.sh" "$DIR" 'partition {site}'
			printf '%-18s %s %s %s\n' heal "$SRC/deploy/drill-hooks.sh" "$DIR" 'heal {site}'
		fi
		[ "$RESOLVER" = 0 ] || printf '%-18s %s %s %s\n' resolve "$SRC/deploy/drill-hooks.sh" "$DIR" 'resolve {zone}'
	} >"$DIR/drill-hooks"
	chmod 644 "$DIR/drill-hooks"
	;;
esac
{
	printf '# the cluster in %s (cluster-up.sh); source it from bash\n' "$DIR"
	printf 'TANDEM_CLUSTER_DIR=%q\n' "$DIR"
	printf 'TANDEM_CLUSTER_NETNS=%q\n' "$NETNS"
	printf 'TANDEM_CLUSTER_NO_NODES=%q\n' "$NO_NODES"
	printf 'TANDEM_CLUSTER_BUILD=%q\n' "$BUILD"
	printf 'TANDEM_CLUSTER_ZONES=%q\n' "${ZONE_NAMES[*]}"
	printf 'TANDEM_CLUSTER_NODES=%q\n' "node-a node-b"
	printf 'TANDEM_CLUSTER_COORDS=%q\n' "coord-a coord-b"
	printf 'TANDEM_CLUSTER_LEASE_MS=%q\n' "$LEASE_MS"
	printf 'TANDEM_CLUSTER_CYCLE=%q\n' "$CYCLE"
	printf 'TANDEM_CLUSTER_POLICY=%q\n' "$POLICY"
	printf 'TANDEM_CLUSTER_CHECK_VALUE=%q\n' "$CHECK"
	printf 'ETCD_ENDPOINTS=%q\n' "$(etcd_url a),$(etcd_url b),$(etcd_url w)"
	if [ "$ETCD_TLS" = 1 ]; then
		printf 'ETCD_CACERT=%q\nETCD_CERT=%q\nETCD_KEY=%q\n' "$TLS/ca.pem" "$TLS/client.pem" "$TLS/client.key"
	else
		printf 'ETCD_CACERT=\nETCD_CERT=\nETCD_KEY=\n'
	fi
	for s in "${SITES[@]}"; do
		S=${s^^}
		printf 'SITE_%s_IP=%q\n' "$S" "${IP[$s]}"
		printf 'SITE_%s_NETNS=%q\n' "$S" "${NS[$s]}"
		printf 'ETCD_%s_CLIENT=%q\n' "$S" "$(etcd_url "$s")"
		printf 'ETCD_%s_PEER=%q\n' "$S" "$(etcd_peer_url "$s")"
	done
	[ "$NETNS" = 0 ] || printf 'HUB_NETNS=%q\n' "$NS_HUB"
	printf 'COORD_A_ENDPOINT=%q\nCOORD_B_ENDPOINT=%q\n' "$COORD_EP_A" "$COORD_EP_B"
	printf 'COORD_A_PUB=%q\nCOORD_B_PUB=%q\n' "$DIR/keys/coord-a.pub" "$DIR/keys/coord-b.pub"
	printf 'OPERATOR_KEY=%q\n' "$DIR/keys/operator.secret"
	printf 'AUDIT_MIRROR_A=%q\nAUDIT_MIRROR_B=%q\n' "$DIR/audit-a/audit.jsonl" "$DIR/audit-b/audit.jsonl"
	printf 'AUDIT_ANCHOR_KEYS=%q\n' "$DIR/keys/audit-anchor-keys"
	printf 'OPERATORS_DIR=%q\n' "$DIR/operators"
	printf 'SOFTHSM_MODULE=%q\n' "$MODULE"
	for s in a b; do
		S=${s^^}
		printf 'NODE_%s_NAME=%q\n' "$S" "node-$s"
		printf 'NODE_%s_SOFTHSM2_CONF=%q\n' "$S" "${CONF[$s]}"
		printf 'NODE_%s_TOKEN=%q\n' "$S" "pkcs11:token=node-$s;pin-source=${PIN[$s]}"
		printf 'NODE_%s_OUT=%q\n' "$S" "$DIR/node-$s/out"
		printf 'NODE_%s_WORK=%q\n' "$S" "$DIR/node-$s/work"
		printf 'NODE_%s_IN=%q\n' "$S" "$DIR/node-$s/in"
	done
} >"$DIR/cluster.env"

# ---- coordinators: one per site, own site's etcd member first ---------------------------------------
start_coord() { # SITE(a|b) PORT ETCD-LIST
	local s=$1 port=$2 etcd=$3 args z o
	if [ "$s" = a ]; then o=b; else o=a; fi
	args=(--etcd "$etcd" --listen "tcp://${IP[$s]}:$port" --key "$DIR/keys/coord-$s.secret"
		--allow "$DIR/allow" --name "coord-$s" --pid-file "$DIR/run/coord-$s.pid"
		--peer "coord-$o=tcp://${IP[$o]}:$(coord_port "$o")"
		--audit-key "$DIR/keys/coord-$s.audit.secret" --audit-mirror "$DIR/audit-$s/audit.jsonl"
		--audit-anchor-interval "${TANDEM_AUDIT_ANCHOR_S:-3600}"
		--audit-retention "${TANDEM_AUDIT_RETENTION_S:-31536000}"
		--role-mirror "$DIR/run/coord-$s.operators.json")
	# the nodes the cluster is set up with may import every zone's keys from the archive; a
	# node added later needs an approved archive-distribute (docs/approvals.md)
	args+=(--archive-grant node-a --archive-grant node-b)
	[ -z "$LEASE_MS" ] || args+=(--lease-ms "$LEASE_MS")
	args+=(--metrics "${IP[$s]}:0") # a free port; status --json says which ("metrics")
	if [ "$ETCD_TLS" = 1 ]; then
		args+=(--etcd-ca "$TLS/ca.pem" --etcd-cert "$TLS/coord-$s.pem" --etcd-key "$TLS/coord-$s.key")
	else
		args+=(--insecure-etcd)
	fi
	for z in "${ZONE_NAMES[@]}"; do args+=(--zone "$z"); done
	# ECDSA and EdDSA signatures differ at each signing: the standbys' digests can only be
	# compared for RSA (docs/coordinator.md, "Standby digests")
	if grep -Eiq '^[^#]*algorithm:[[:space:]]*(ecdsa|ed25519|ed448)' "$POLICY"; then
		args+=(--no-compare-digests)
	fi
	start "coord-$s" "$s" own "$COORD" "${args[@]}"
	local deadline=$(($(date +%s) + 30))
	until grep -q '^listening ' "$DIR/log/coord-$s.log" 2>/dev/null && [ -s "$DIR/run/coord-$s.pid" ]; do
		alive "coord-$s" || proc_fail "coord-$s" "exited at start"
		[ "$(date +%s)" -lt "$deadline" ] || proc_fail "coord-$s" "not listening after 30 s"
		sleep 0.2
	done
}
start_coord a "$COORD_PORT_A" "$(etcd_url a),$(etcd_url b),$(etcd_url w)"
start_coord b "$COORD_PORT_B" "$(etcd_url b),$(etcd_url a),$(etcd_url w)"
tdm_log "coordinators: coord-a $COORD_EP_A, coord-b $COORD_EP_B"

# ---- demo operators for multi-person control (docs/approvals.md): two per role, the first role
# table of the cluster; their Ed25519 secrets in DIR/operators/NAME.secret (0600) -----------------
mkdir -p "$DIR/operators"
chmod 700 "$DIR/operators"
for op in sa1:SA sa2:SA so1:SO so2:SO wi1:WI wi2:WI; do
	"$CTL" operator keygen --secret "$DIR/operators/${op%%:*}.secret" \
		--public "$DIR/operators/${op%%:*}.pub" >/dev/null || tdm_fail "operator keygen ${op%%:*} failed"
	printf '%s %s %s\n' "${op%%:*}" "${op##*:}" "$DIR/operators/${op%%:*}.pub"
done >"$DIR/operators/table"
"$DIR/tandemctl" operator bootstrap "$DIR/operators/table" >"$DIR/run/operators.out" 2>&1 ||
	tdm_fail "operator bootstrap failed" -- "$DIR/run/operators.out" "$DIR/log/coord-a.log"
tdm_log "operators sa1 sa2 (SA), so1 so2 (SO), wi1 wi2 (WI): secrets in $DIR/operators"

# ---- the cluster's TSIG key for transfers (docs/dist.md): one line NAME ALGORITHM SECRET, 0600 ----------
(
	umask 077
	printf 'tandem-xfr hmac-sha256 %s\n' "$(head -c 32 /dev/urandom | base64 -w0)" >"$DIR/tsig.key"
) || tdm_fail "cannot write $DIR/tsig.key"

# ---- nodes --------------------------------------------------------------------------------------------
start_node() { # SITE(a|b): its own site's coordinator first
	local s=$1 o args z xport
	if [ "$s" = a ]; then o=b; else o=a; fi
	args=(--name "node-$s" --site "${s^^}"
		--coord "tcp://${IP[$s]}:$(coord_port "$s")" --coord-pub "$DIR/keys/coord-$s.pub"
		--coord "tcp://${IP[$o]}:$(coord_port "$o")" --coord-pub "$DIR/keys/coord-$o.pub")
	args+=(--key "$DIR/keys/node-$s.secret" --module "$MODULE"
		--token "pkcs11:token=node-$s;pin-source=${PIN[$s]}"
		--policy "$POLICY")
	for z in "${ZONE_NAMES[@]}" "${LATE_ZONES[@]}"; do
		args+=(--zone "$z=$DIR/node-$s/in/${z%.}.zone")
	done
	args+=(--out "$DIR/node-$s/out" --work "$DIR/node-$s/work" --pid-file "$DIR/run/node-$s.pid")
	args+=(--smk-check "$CHECK") # the ceremony's SMK: the token hygiene check compares it
	args+=(--metrics "${IP[$s]}:0") # a free port; status --json says which (nodes[].metrics)
	# the transfer server on a free port: the node's log says which ("xfr ADDR:PORT"). With
	# --netns on port 53 of the site's address, as a real primary: a secondary then takes a
	# NOTIFY (sent from any port) as coming from that primary and asks it first (NSD matches
	# the sender against its request-xfr entries, port included when one is written)
	xport=0
	[ "$NETNS" = 0 ] || xport=53
	args+=(--xfr-listen "${IP[$s]}:$xport" --tsig-key "$DIR/tsig.key")
	# the review port: loopback in the node's own namespace (with --netns too)
	[ "$REVIEW_LISTEN" = 0 ] || args+=(--review-listen 127.0.0.1:0)
	[ -z "$CYCLE" ] || args+=(--cycle "$CYCLE")
	[ -z "$SKR_MARGIN" ] || args+=(--skr-margin "$SKR_MARGIN")
	[ -z "$THREADS" ] || args+=(--threads "$THREADS")
	for nfy in "${NOTIFY[@]}"; do
		args+=(--notify "$nfy")
	done
	if [ -n "$PRIMARY" ]; then
		for z in "${ZONE_NAMES[@]}"; do
			args+=(--primary "$z=$PRIMARY")
		done
	fi
	start "node-$s" "$s" own env SOFTHSM2_CONF="${CONF[$s]}" "$TANDEMD" "${args[@]}"
}
if [ "$NO_NODES" = 1 ]; then
	tdm_log "TANDEM_CLUSTER_NO_NODES=1: no tandemd started (debugging aid)"
else
	start_node a
	start_node b
fi

# ---- wait until the coordinators answer and every zone has a committed serial ---------------------------
STATUS=$DIR/run/status.json
deadline=$(($(date +%s) + TIMEOUT))
for n in node-a node-b; do
	[ "$NO_NODES" != 1 ] || break
	until [ -s "$DIR/run/$n.pid" ]; do
		alive "$n" || proc_fail "$n" "exited at start"
		[ "$(date +%s)" -lt "$deadline" ] || proc_fail "$n" "wrote no pid file in ${TIMEOUT} s"
		sleep 0.2
	done
done
pending=
while :; do
	check_alive
	# without the key sets: one call per poll, not one more per zone (hundreds of zones)
	if "$DIR/tandemctl" status --json --no-keysets >"$STATUS.tmp" 2>"$DIR/run/status.err"; then
		mv "$STATUS.tmp" "$STATUS"
		[ "$NO_NODES" != 1 ] || break
		pending=$(python3 -c '
import json, sys
st = json.load(open(sys.argv[1]))
print(" ".join(z["name"] for z in st["zones"] if not z.get("removed") and z["serial"] is None))
' "$STATUS") || pending="(unreadable status: $STATUS)"
		[ -n "$pending" ] || break
	else
		pending="(no coordinator answered: $(tail -n 1 "$DIR/run/status.err"))"
	fi
	if [ "$(date +%s)" -ge "$deadline" ]; then
		tdm_fail "after ${TIMEOUT} s still without a committed serial: $pending" -- \
			"$DIR/log/node-a.log" "$DIR/log/node-b.log" "$DIR/log/coord-a.log" "$DIR/log/coord-b.log"
	fi
	sleep 1
done
rm -f "$STATUS.tmp"

# ---- the secondary and the resolver (--secondary nsd, --resolver) -------------------------------------
# committed_serial ZONE: the zone's committed serial in the last status read
committed_serial() {
	python3 -c '
import json, sys
st = json.load(open(sys.argv[1]))
print(next((z["serial"] for z in st["zones"] if z["name"] == sys.argv[2]), ""))
' "$STATUS" "$1"
}
# xfr_addr NODE: the ADDR:PORT its transfer server bound (its log says it)
xfr_addr() {
	sed -n 's/.*transfers served on \([^ ]*:[0-9]*\) .*/\1/p' "$DIR/log/$1.log" 2>/dev/null | tail -n 1
}
# dns_answers PORT PID NAME: waits (30 s) until the server on site D's ADDR@PORT answers a
# query (asked from D: with --netns nothing outside the namespaces reaches it)
dns_answers() {
	local until=$(($(date +%s) + 30))
	while ! in_site d kdig -p "$1" "@${IP[d]}" +norec +timeout=1 +retry=0 . SOA >/dev/null 2>&1; do
		alive "$3" || proc_fail "$3" "exited at start"
		[ "$(date +%s)" -lt "$until" ] || proc_fail "$3" "did not answer on ${IP[d]}@$1 in 30 s"
		sleep 0.2
	done
}
if [ -n "$SECONDARY" ]; then
	primaries=''
	for n in node-a node-b; do
		until a=$(xfr_addr "$n") && [ -n "$a" ]; do
			check_alive
			[ "$(date +%s)" -lt "$deadline" ] || proc_fail "$n" "printed no transfer server address in ${TIMEOUT} s"
			sleep 0.2
		done
		primaries="$primaries${primaries:+ }${a%:*}@${a##*:}"
	done
	mkdir -p "$DIR/nsd"
	chmod 700 "$DIR/nsd"
	# NOTIFY and AXFR from the nodes' and D's own addresses: loopback, or the cluster's /24
	TDM_PEER_ACL=127.0.0.1
	[ "$NETNS" = 0 ] || TDM_PEER_ACL=$NET.0/24
	TDM_PEER_ACL=$TDM_PEER_ACL tdm_nsd_conf "$DIR/nsd/nsd.conf" "$DIR/nsd" "${IP[d]}@$NSD_PORT" \
		"$DIR/tsig.key" "${ZONE_NAMES[*]}" "$primaries"
	# nsd -d stays in the foreground as the current user; its own log is DIR/nsd/nsd.log
	start nsd d shell nsd -d -c "$DIR/nsd/nsd.conf"
	dns_answers "$NSD_PORT" "$(cat "$DIR/run/nsd.pid")" nsd
	for z in "${ZONE_NAMES[@]}"; do
		want=$(committed_serial "$z")
		until got=$(tdm_dns_serial "${IP[d]}" "$NSD_PORT" "${z%.}" "${NS[d]}") && [ -n "$got" ] && [ "$got" -ge "$want" ]; do
			check_alive
			[ "$(date +%s)" -lt $((deadline + 60)) ] ||
				tdm_fail "NSD holds serial '${got:-}' of $z, not the committed $want" -- "$DIR/nsd/nsd.log"
			sleep 0.3
		done
	done
	tdm_log "NSD on ${IP[d]}@$NSD_PORT holds every zone (primaries $primaries)"
fi
TA_SOURCE=''
if [ "$RESOLVER" = 1 ]; then
	mkdir -p "$DIR/unbound"
	: >"$DIR/unbound/ta.ds"
	# one deadline for all zones: with many zones and no DS yet, DS_TIMEOUT once, not per zone
	ds_until=$(($(date +%s) + DS_TIMEOUT))
	for z in "${ZONE_NAMES[@]}"; do
		# the DS the parent is asked for; a KSK whose DNSKEY is not yet in caches (the
		# policy's DNSKEY TTL and propagation delay) has none: then the DS of the published KSK
		while :; do
			"$DIR/tandemctl" keys ds --cluster --zone "$z" >"$DIR/unbound/keys-ds.out" 2>&1 || true
			grep -E "^${z//./\\.} [0-9]+ IN DS " "$DIR/unbound/keys-ds.out" | sed 's/ ;.*//' >"$DIR/unbound/ds.tmp" || true
			[ ! -s "$DIR/unbound/ds.tmp" ] || break
			[ "$(date +%s)" -lt "$ds_until" ] || break
			sleep 1
		done
		if [ -s "$DIR/unbound/ds.tmp" ]; then
			TA_SOURCE="${TA_SOURCE:+$TA_SOURCE }$z=keys-ds"
		else
			tdm_log "$z: no DS from 'keys ds --cluster' in ${DS_TIMEOUT} s ($(tail -n 1 "$DIR/unbound/keys-ds.out")); the DS of the KSK NSD serves instead"
			in_site d kdig -p "$NSD_PORT" "@${IP[d]}" +norec +tcp +nocomments +nostats +noquestion "$z" DNSKEY 2>/dev/null |
				awk '$4 == "DNSKEY" && $5 == 257' >"$DIR/unbound/ksk.tmp" || true
			[ -s "$DIR/unbound/ksk.tmp" ] || tdm_fail "$z: NSD serves no KSK (DNSKEY flags 257)"
			: >"$DIR/unbound/ds.tmp"
			while read -r line; do
				printf '%s\n' "$line" >"$DIR/unbound/one.key"
				(cd "$DIR/unbound" && ldns-key2ds -n -2 one.key >>ds.tmp 2>>ldns-key2ds.err) ||
					tdm_fail "$z: ldns-key2ds failed" -- "$DIR/unbound/ldns-key2ds.err"
			done <"$DIR/unbound/ksk.tmp"
			rm -f "$DIR/unbound/ksk.tmp" "$DIR/unbound/one.key"
			TA_SOURCE="${TA_SOURCE:+$TA_SOURCE }$z=published-ksk"
		fi
		cat "$DIR/unbound/ds.tmp" >>"$DIR/unbound/ta.ds"
	done
	rm -f "$DIR/unbound/ds.tmp"
	stubs=()
	for st in "${RESOLVER_STUBS[@]}"; do stubs+=("${st%%=*} ${st#*=}"); done
	ub_acl=
	[ "$NETNS" = 0 ] || ub_acl=$NET.0/24
	TDM_PEER_ACL=$ub_acl tdm_unbound_conf "$DIR/unbound/unbound.conf" "$DIR/unbound" "${IP[d]}@$UNBOUND_PORT" \
		"$DIR/unbound/ta.ds" "${ZONE_NAMES[*]}" "${IP[d]}@$NSD_PORT" "${stubs[@]}"
	unbound-checkconf "$DIR/unbound/unbound.conf" >"$DIR/unbound/checkconf.out" 2>&1 ||
		tdm_fail "unbound-checkconf refused the config" -- "$DIR/unbound/checkconf.out"
	start unbound d shell unbound -d -c "$DIR/unbound/unbound.conf"
	dns_answers "$UNBOUND_PORT" "$(cat "$DIR/run/unbound.pid")" unbound
	# it validates: the first zone's SOA with the AD bit
	z=${ZONE_NAMES[0]}
	ad_until=$(($(date +%s) + 30))
	until in_site d kdig -p "$UNBOUND_PORT" "@${IP[d]}" +dnssec +timeout=3 +retry=1 "$z" SOA 2>/dev/null | grep -Eq '^;; Flags: [a-z ]*\bad\b'; do
		check_alive
		[ "$(date +%s)" -lt "$ad_until" ] || tdm_fail "Unbound does not validate $z (no AD in 30 s)" -- "$DIR/unbound/unbound.log"
		sleep 0.5
	done
	tdm_log "Unbound on ${IP[d]}@$UNBOUND_PORT validates $z (trust anchors: $TA_SOURCE)"
fi
if [ -n "$SECONDARY" ]; then
	{
		printf '# the secondary and the resolver of the cluster in %s (cluster-up.sh); pids in run/NAME.pid\n' "$DIR"
		# PEERS_NETNS: the namespace to query them from (empty: the machine's own loopback)
		printf 'PEERS_NETNS=%q\n' "${NS[d]}"
		printf 'NSD_ADDR=%q\nNSD_PORT=%q\nNSD_PID=%q\nNSD_CONF=%q\nNSD_LOG=%q\nNSD_PRIMARIES=%q\n' "${IP[d]}" "$NSD_PORT" \
			"$(cat "$DIR/run/nsd.pid")" "$DIR/nsd/nsd.conf" "$DIR/nsd/nsd.log" "$primaries"
		if [ "$RESOLVER" = 1 ]; then
			printf 'UNBOUND_ADDR=%q\nUNBOUND_PORT=%q\nUNBOUND_PID=%q\nUNBOUND_CONF=%q\nUNBOUND_LOG=%q\n' "${IP[d]}" "$UNBOUND_PORT" \
				"$(cat "$DIR/run/unbound.pid")" "$DIR/unbound/unbound.conf" "$DIR/unbound/unbound.log"
			printf 'UNBOUND_TA=%q\nUNBOUND_TA_SOURCE=%q\n' "$DIR/unbound/ta.ds" "$TA_SOURCE"
		fi
	} >"$DIR/peers.env"
fi

DONE=1
trap - EXIT
"$DIR/tandemctl" status || true
# how an operator queries the peers: from site D's namespace with --netns
peer_dig=kdig
[ -z "${NS[d]}" ] || peer_dig="ip netns exec ${NS[d]} kdig"
cat <<EOF

cluster up in $DIR$([ "$NETNS" = 1 ] && printf ' (network namespaces %s, %s, %s%s)' "${NS[a]}" "${NS[b]}" "${NS[w]}" "${NS[d]:+, ${NS[d]}}")
  operator:      $DIR/tandemctl status [--json]     (docs/cluster.md)
  coordinators:  coord-a $COORD_EP_A, coord-b $COORD_EP_B
  etcd:          $(etcd_url a),$(etcd_url b),$(etcd_url w)
  published:     $DIR/node-a/out, $DIR/node-b/out (publish.log in each)
  logs, pids:    $DIR/log/NAME.log, $DIR/run/NAME.pid
  for tests:     $DIR/cluster.env$([ -n "$SECONDARY" ] && printf '\n  secondary:     NSD %s@%s (primaries %s; %s/nsd)' "${IP[d]}" "$NSD_PORT" "$primaries" "$DIR")$([ "$RESOLVER" = 1 ] && printf '\n  resolver:      Unbound %s@%s (%s -p %s @%s +dnssec NAME; %s/unbound)' "${IP[d]}" "$UNBOUND_PORT" "$peer_dig" "$UNBOUND_PORT" "${IP[d]}" "$DIR")$([ -n "$SECONDARY" ] && printf '\n  peers:         %s/peers.env' "$DIR")
  approvers:     $DIR/operators/NAME.secret (sa1 sa2 SA, so1 so2 SO, wi1 wi2 WI; docs/approvals.md)
  stop:          $SRC/deploy/cluster-down.sh $DIR$([ "$NETNS" = 1 ] && printf '\n  partition:     %s/deploy/partition.sh %s isolate A|B|W%s ; ... heal' "$SRC" "$DIR" "${NS[d]:+|D}")
EOF
