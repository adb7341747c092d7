#!/bin/bash
# The etcd leader and a coordinator die during signing: with the active node signing every
# 3 s, kill -9 the etcd member that leads and the active node's own site's coordinator at
# once. The two surviving etcd members keep a quorum and elect a leader; the node moves to the
# other coordinator; signing resumes (a publication after the kill), with no serial published
# twice and serials and epochs only rising across both nodes. Both come back from their
# DIR/run/NAME.start and the cluster keeps signing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd curl
Z=example.

tdm_cluster_up --cycle 3
# shellcheck source=/dev/null
source "$TDM_CL/cluster.env"
active=$(tdm_holder $Z)
[ -n "$active" ] || tdm_fail "nobody holds $Z"
site=${active#node-}

# The etcd leader: the member whose own id is the leader id it reports.
# cluster-up's default: etcd over TLS with client certificates, nothing in the clear
mapfile -t etls < <(tdm_cluster_etcd_tls)
[ "${#etls[@]}" -eq 6 ] || tdm_fail "cluster.env names no etcd client certificate"
for ep in ${ETCD_ENDPOINTS//,/ }; do
	case $ep in https://*) ;; *) tdm_fail "etcd endpoint $ep is not TLS" ;; esac
	if curl -s -m 3 --cacert "${etls[1]}" "$ep/health" | grep -q health; then
		tdm_fail "etcd at $ep answered a client without a certificate"
	fi
done
grep -q -- "--etcd-cert" "$TDM_CL/run/coord-a.start" || tdm_fail "coord-a was not given its etcd certificate"
tdm_pass "etcd over TLS: https endpoints, a client without a certificate gets nothing"
leader=
for s in a b w; do
	var=ETCD_${s^^}_CLIENT
	st=$(curl -s -m 3 "${etls[@]}" -X POST "${!var}/v3/maintenance/status" -d '{}') || continue
	if python3 -c '
import json, sys
s = json.loads(sys.argv[1])
sys.exit(0 if s["header"]["member_id"] == s["leader"] else 1)' "$st"; then
		leader=$s
	fi
done
[ -n "$leader" ] || tdm_fail "no etcd member says it leads"
tdm_log "etcd leader: etcd-$leader; active node $active (coordinator coord-$site)"

# published_any_after T: some node published $Z after T (ms).
published_any_after() {
	local logs=() n
	for n in node-a node-b; do
		[ -f "$(tdm_publog $n)" ] && logs+=("$(tdm_publog $n)")
	done
	awk -v t="$1" -v z=$Z '$2 == z && $1 > t { f = 1 } END { exit !f }' "${logs[@]}"
}
tdm_wait 20 "a first cycle" published_any_after "$(date +%s%3N)"

t_kill=$(date +%s%3N)
kill -9 "$(cat "$TDM_CL/run/etcd-$leader.pid")" "$(cat "$TDM_CL/run/coord-$site.pid")"
tdm_log "killed etcd-$leader and coord-$site (kill -9)"
tdm_wait 60 "a publication after the kill" published_any_after $((t_kill + 500))
holder=$(tdm_holder $Z)
tdm_pass "signing resumed after the kill ($holder holds $Z)"

bash "$TDM_CL/run/etcd-$leader.start"
bash "$TDM_CL/run/coord-$site.start"
t_back=$(date +%s%3N)
coord_back() { grep -q "coord-$site serving" <(tail -n 50 "$TDM_CL/log/coord-$site.log"); }
tdm_wait 30 "coord-$site back" coord_back
tdm_wait 30 "a publication after the restart" published_any_after "$t_back"
tdm_pass "etcd-$leader and coord-$site are back; signing goes on"

tdm_check_publications node-a node-b
tdm_validate_published "$(tdm_holder $Z)" $Z
tdm_pass "no double publication; the published zone validates"
