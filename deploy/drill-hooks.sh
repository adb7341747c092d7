#!/bin/bash
# The fault actions of `tandemctl drill` (docs/drills.md) for a local cluster started with
# deploy/cluster-up.sh DIR: cluster-up writes DIR/drill-hooks, whose lines call this script.
#
# Usage: deploy/drill-hooks.sh DIR ACTION [ARG...]
#   stop-site A|B          kill -9 the site's node, coordinator and etcd member
#   start-site A|B         start them again (DIR/run/NAME.start), etcd first (healthy)
#   stop-coordinator A|B   kill -9 the site's coordinator
#   start-coordinator A|B  start it again
#   stop-etcd-leader       kill -9 the etcd member that leads; prints its name (etcd-X)
#   start-etcd etcd-X      start that member again; waits until it is healthy
#   partition A|B          cut the site off (deploy/partition.sh isolate; --netns clusters)
#   heal A|B               every link up again (deploy/partition.sh heal)
#   hsm-off node-X         the node's SoftHSM token store moved aside (as an HSM unplugged)
#   hsm-on node-X          put back
#   rebuild-node node-X    the node rebuilt from nothing but the archive: stopped, its token
#                          store, working files and publications wiped, a new empty token
#                          (same label and PIN files), the SMK installed from the threshold
#                          of the ceremony's cards it got at cluster-up (smk-check must give
#                          the ceremony's check value), then started: it imports every key
#                          from the wrapped-key archive in etcd by itself
#   fetch-zone NODE ZONE FILE   copy what NODE publishes of ZONE to FILE
#   resolve ZONE           the SOA serial of ZONE as the cluster's validating Unbound answers
#                          it with the AD bit (DIR/peers.env); exit 1 without AD
#
# Every kill is guarded: the pid from DIR/run must be the expected program started for DIR.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
TDM_NAME=drill-hooks
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$SRC/deploy/lib.sh"

usage() {
	printf 'usage: deploy/drill-hooks.sh DIR ACTION [ARG...] (see the head of this script)\n' >&2
	exit 1
}
[ $# -ge 2 ] || usage
[ -d "$1" ] || tdm_fail "$1: no such directory"
DIR=$(cd "$1" && pwd)
action=$2
shift 2
[ -f "$DIR/cluster.env" ] || tdm_fail "$DIR is not a cluster started by cluster-up.sh (no cluster.env)"

# site ARG: a or b from A, B, a, b; fails otherwise.
site() {
	case ${1,,} in
	a | b) printf '%s\n' "${1,,}" ;;
	*) tdm_fail "site '$1': A or B" ;;
	esac
}

# prog NAME: the program a process of this name runs.
prog() {
	case $1 in
	etcd-*) printf 'etcd\n' ;;
	coord-*) printf 'tandem-coord\n' ;;
	node-*) printf 'tandemd\n' ;;
	*) tdm_fail "no process named '$1' in a local cluster" ;;
	esac
}

# kill_hard NAME: SIGKILL to the process started as NAME, if it runs; waits until it is gone.
kill_hard() {
	local name=$1 pid p i
	p=$(prog "$name")
	pid=$(cat "$DIR/run/$name.pid" 2>/dev/null || true)
	if ! tdm_pid_is "$pid" "$p" "$DIR/"; then
		tdm_log "$name is not running"
		return 0
	fi
	kill -9 "$pid"
	for ((i = 0; i < 100; i++)); do
		tdm_pid_is "$pid" "$p" "$DIR/" || break
		sleep 0.1
	done
	tdm_log "killed $name (pid $pid, SIGKILL)"
}

# etcd_healthy etcd-X: waits (30 s at most) until the member answers its health check.
etcd_healthy() {
	local S=${1#etcd-} i tls=() ep_var
	S=${S^^}
	# shellcheck source=/dev/null
	source "$DIR/cluster.env"
	[ -z "$ETCD_CACERT" ] || tls=(--cacert "$ETCD_CACERT" --cert "$ETCD_CERT" --key "$ETCD_KEY")
	ep_var=ETCD_${S}_CLIENT
	for ((i = 0; i < 60; i++)); do
		if ETCDCTL_API=3 etcdctl "${tls[@]}" --endpoints "${!ep_var}" --command-timeout=2s \
			endpoint health >/dev/null 2>&1; then
			tdm_log "$1 is healthy"
			return 0
		fi
		sleep 0.5
	done
	tdm_fail "$1 did not become healthy within 30 s"
}

# start_again NAME: starts NAME as cluster-up.sh did, unless it runs.
start_again() {
	local name=$1 pid
	pid=$(cat "$DIR/run/$name.pid" 2>/dev/null || true)
	if tdm_pid_is "$pid" "$(prog "$name")" "$DIR/"; then
		tdm_log "$name runs already (pid $pid)"
		return 0
	fi
	[ -x "$DIR/run/$name.start" ] || tdm_fail "no $DIR/run/$name.start"
	bash "$DIR/run/$name.start"
	tdm_log "started $name again"
}

node_name() {
	case $1 in
	node-a | node-b) printf '%s\n' "$1" ;;
	*) tdm_fail "node '$1': node-a or node-b" ;;
	esac
}

case $action in
stop-site)
	[ $# -eq 1 ] || usage
	s=$(site "$1")
	kill_hard "node-$s"
	kill_hard "coord-$s"
	kill_hard "etcd-$s"
	;;
start-site)
	[ $# -eq 1 ] || usage
	s=$(site "$1")
	start_again "etcd-$s"
	etcd_healthy "etcd-$s"
	start_again "coord-$s"
	start_again "node-$s"
	;;
stop-coordinator)
	[ $# -eq 1 ] || usage
	kill_hard "coord-$(site "$1")"
	;;
start-coordinator)
	[ $# -eq 1 ] || usage
	start_again "coord-$(site "$1")"
	;;
stop-etcd-leader)
	[ $# -eq 0 ] || usage
	# shellcheck source=/dev/null
	source "$DIR/cluster.env"
	tls=()
	[ -z "$ETCD_CACERT" ] || tls=(--cacert "$ETCD_CACERT" --cert "$ETCD_CERT" --key "$ETCD_KEY")
	leader=
	for s in A B W; do
		ep_var=ETCD_${s}_CLIENT
		st=$(ETCDCTL_API=3 etcdctl "${tls[@]}" --endpoints "${!ep_var}" --command-timeout=3s \
			endpoint status -w json 2>/dev/null) || continue
		if python3 -c 'import json,sys; s=json.load(sys.stdin)[0]["Status"]; sys.exit(0 if s["header"]["member_id"] == s["leader"] else 1)' <<<"$st"; then
			leader=etcd-${s,,}
			break
		fi
	done
	[ -n "$leader" ] || tdm_fail "no etcd member says it leads"
	kill_hard "$leader"
	printf '%s\n' "$leader"
	;;
start-etcd)
	[ $# -eq 1 ] || usage
	case $1 in etcd-a | etcd-b | etcd-w) ;; *) tdm_fail "member '$1': etcd-a, etcd-b or etcd-w" ;; esac
	start_again "$1"
	etcd_healthy "$1"
	;;
partition)
	[ $# -eq 1 ] || usage
	"$SRC/deploy/partition.sh" "$DIR" isolate "${1^^}"
	;;
heal)
	"$SRC/deploy/partition.sh" "$DIR" heal
	;;
hsm-off)
	[ $# -eq 1 ] || usage
	n=$(node_name "$1")
	store=$DIR/$n/hsm/tokens
	[ -d "$store" ] || tdm_fail "no token store at $store (already off?)"
	mv "$store" "$store.away"
	tdm_log "$n's token store moved aside"
	;;
hsm-on)
	[ $# -eq 1 ] || usage
	n=$(node_name "$1")
	store=$DIR/$n/hsm/tokens
	if [ -d "$store.away" ]; then
		mv "$store.away" "$store"
		tdm_log "$n's token store put back"
	else
		tdm_log "$n's token store is in place"
	fi
	;;
rebuild-node)
	[ $# -eq 1 ] || usage
	n=$(node_name "$1")
	s=${n#node-}
	# shellcheck source=/dev/null
	source "$DIR/cluster.env"
	ceremony=$TANDEM_CLUSTER_BUILD/src/tools/tandem-ceremony
	[ -x "$ceremony" ] || tdm_fail "no $ceremony"
	cer=$DIR/ceremony
	if [ "$s" = a ]; then cards=("$cer/cards/card-01.tandem-card" "$cer/cards/card-02.tandem-card"); else cards=("$cer/cards/card-02.tandem-card" "$cer/cards/card-03.tandem-card"); fi
	kill_hard "$n"
	hsm=$DIR/$n/hsm
	[ ! -d "$hsm/tokens.away" ] || rm -rf "$hsm/tokens.away"
	# -H: the token store may be a link to tmpfs (cluster-up.sh, TANDEM_CLUSTER_HSM_TMPFS)
	find -H "$hsm/tokens" "$DIR/$n/work" "$DIR/$n/out" -mindepth 1 -delete
	tdm_log "$n: token store, working files and publications wiped"
	tdm_token "$hsm" "$n"
	tok="pkcs11:token=$n;pin-source=$hsm/user.pin"
	"$ceremony" smk-install --module "$SOFTHSM_MODULE" --token "$tok" \
		--so-pin-source "$hsm/so.pin" --drill --passphrase-file "$cer/pass-$s" "${cards[@]}" >&2 ||
		tdm_fail "smk-install on $n failed"
	got=$("$ceremony" smk-check --module "$SOFTHSM_MODULE" --token "$tok" | awk '{ print $NF }')
	[ "$got" = "$TANDEM_CLUSTER_CHECK_VALUE" ] ||
		tdm_fail "$n's new token holds check value '$got', not the ceremony's"
	unset SOFTHSM2_CONF
	tdm_log "$n: new token with the SMK (check value $got)"
	start_again "$n"
	;;
fetch-zone)
	[ $# -eq 3 ] || usage
	n=$(node_name "$1")
	zone=${2%.}
	case $zone in '' | */* | .*) tdm_fail "zone '$2'" ;; esac
	f=$DIR/$n/out/$zone.zone
	[ -f "$f" ] || tdm_fail "$n has not published $2 ($f)"
	cp "$f" "$3"
	;;
resolve)
	[ $# -eq 1 ] || usage
	[ -f "$DIR/peers.env" ] || tdm_fail "no resolver: $DIR/peers.env is missing"
	# shellcheck source=/dev/null
	source "$DIR/peers.env"
	[ -n "${UNBOUND_PORT:-}" ] || tdm_fail "no resolver in $DIR/peers.env"
	# with --netns the Unbound is in site D's namespace (PEERS_NETNS), at UNBOUND_ADDR
	pre=()
	[ -z "${PEERS_NETNS:-}" ] || pre=(ip netns exec "$PEERS_NETNS")
	out=$("${pre[@]}" kdig -p "$UNBOUND_PORT" "@${UNBOUND_ADDR:-127.0.0.1}" +dnssec +timeout=3 +retry=1 "$1" SOA 2>&1) ||
		tdm_fail "kdig: $out"
	serial=$(awk '$1 !~ /^;/ && $4 == "SOA" && NF >= 7 { print $7; exit }' <<<"$out")
	[ -n "$serial" ] || tdm_fail "the resolver gave no SOA for $1"
	if ! grep -q '^;; Flags:.* ad' <<<"$out"; then
		printf '%s\n' "$serial"
		tdm_fail "the resolver answered $1 SOA $serial without the AD bit"
	fi
	printf '%s\n' "$serial"
	;;
*) usage ;;
esac
