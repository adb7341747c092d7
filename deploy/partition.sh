#!/bin/bash
# Network partitions for a cluster started with deploy/cluster-up.sh DIR --netns.
#
# Usage: deploy/partition.sh DIR isolate A|B|W|D cut that site off from all others (D, the
#                                                distribution site, with --secondary nsd)
#        deploy/partition.sh DIR heal            restore every link
#        deploy/partition.sh DIR status          which sites are cut off
#
# Each site's namespace is joined to the hub's bridge by one veth pair. Isolating a site sets
# the hub side of its pair down: the site keeps its address and routes (its own processes
# still talk to one another), but every packet to or from the other sites is dropped, so
# peers see timeouts as in a real WAN cut, not instant errors. Isolating two sites leaves
# each of the three alone. A cluster started with --secondary nsd has a fourth site, D,
# where its NSD and Unbound run: isolating A leaves them reaching B.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
TDM_NAME=partition
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$SRC/deploy/lib.sh"

usage() {
	printf 'usage: deploy/partition.sh DIR isolate A|B|W|D | heal | status\n' >&2
	exit 1
}
[ $# -ge 2 ] || usage
[ -d "$1" ] || tdm_fail "$1: no such directory"
DIR=$(cd "$1" && pwd)
action=$2
if [ ! -f "$DIR/netns" ] && grep -qx 'TANDEM_CLUSTER_NETNS=1' "$DIR/cluster.env" 2>/dev/null; then
	tdm_fail "the --netns cluster in $DIR is stopped (its namespaces are gone)"
fi
if [ ! -f "$DIR/netns" ]; then
	tdm_fail "$DIR is not a --netns cluster (no $DIR/netns): partitions need each site in its own network namespace; start it with deploy/cluster-up.sh DIR --netns"
fi
[ "$(id -u)" = 0 ] || tdm_fail "partition.sh needs root (ip link in the cluster's namespaces)"

HUB=$(awk '$1 == "hub" { print $2 }' "$DIR/netns")
[ -n "$HUB" ] || tdm_fail "$DIR/netns names no hub namespace"
ip netns list | awk '{ print $1 }' | grep -qxF "$HUB" ||
	tdm_fail "namespace $HUB is gone: is the cluster in $DIR still up?"

# sites: every site listed in DIR/netns, one per line.
sites() { awk '$1 != "hub" && $1 !~ /^#/ { print $1 }' "$DIR/netns"; }

# link SITE: the hub-side link of a site (A, B, W), or nothing.
link() { awk -v s="$1" '$1 == s { print $3 }' "$DIR/netns"; }

set_link() { # SITE up|down
	local l
	l=$(link "$1")
	[ -n "$l" ] || tdm_fail "no site $1 in $DIR/netns (sites: $(sites | tr '\n' ' '))"
	ip -n "$HUB" link set "$l" "$2"
}

case $action in
isolate)
	[ $# -eq 3 ] || usage
	site=${3^^}
	set_link "$site" down
	tdm_log "site $site isolated (link $(link "$site") down in $HUB)"
	;;
heal)
	[ $# -eq 2 ] || usage
	while read -r site; do
		set_link "$site" up
	done < <(sites)
	tdm_log "every site linked again"
	;;
status)
	[ $# -eq 2 ] || usage
	while read -r site; do
		if ip -n "$HUB" -o link show "$(link "$site")" | grep -q '[<,]UP[,>]'; then
			printf '%s linked\n' "$site"
		else
			printf '%s isolated\n' "$site"
		fi
	done < <(sites)
	;;
*) usage ;;
esac
