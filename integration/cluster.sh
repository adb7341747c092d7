# shellcheck shell=bash
# Helpers for the cluster tests: a whole local cluster (deploy/cluster-up.sh) under $TDM_TMP,
# its status as JSON, and the checks every cluster test makes on what the nodes published.
# Source after lib.sh and tdm_setup.

TDM_CL=

# tdm_cluster_up [cluster-up options]: starts the cluster under $TDM_TMP/cluster (stopped
# at exit, whatever happens) and waits until every zone has a committed serial.
tdm_cluster_up() {
	TDM_CL=$TDM_TMP/cluster
	tdm_on_exit tdm_cluster_down
	TANDEM_BUILD=$TDM_BUILD "$TDM_SRC/deploy/cluster-up.sh" "$TDM_CL" "$@" \
		>"$TDM_TMP/cluster-up.out" 2>&1 ||
		tdm_fail "cluster-up.sh $* failed" -- "$TDM_TMP/cluster-up.out"
	# cluster-up returns once every zone has a committed serial; its holder publishes it a
	# moment later (after the standby's report: compare before publish). Tests read
	# publish.log at once, so the first publication of every zone is waited for here.
	tdm_wait 120 "every zone's first publication" tdm_cluster_published
	tdm_log "cluster up under $TDM_CL"
}

# tdm_cluster_published: every zone of the cluster's status has a holder that published it.
tdm_cluster_published() {
	local zones z h
	zones=$(tdm_status_get "' '.join(z['name'] for z in s['zones'])") || return 1
	for z in $zones; do
		h=$(tdm_holder "$z")
		[ -n "$h" ] && tdm_published_after "$h" "$z" 0 || return 1
	done
}

tdm_cluster_down() {
	if [ -n "$TDM_CL" ] && [ -d "$TDM_CL" ]; then
		"$TDM_SRC/deploy/cluster-down.sh" "$TDM_CL" >"$TDM_TMP/cluster-down.out" 2>&1 || true
		if [ "${TDM_KEEP:-0}" = 1 ]; then
			tdm_log "logs kept in $TDM_CL/log"
		fi
	fi
}

# tdm_cluster_sanitizer_check: with TANDEM_SANITIZER_CHECK=1 (tests/run.sh, over the
# ASan/UBSan build), stops the cluster cleanly, so that leak reports are written at exit,
# and fails if any process's log holds a sanitizer report.
tdm_cluster_sanitizer_check() {
	[ "${TANDEM_SANITIZER_CHECK:-0}" = 1 ] || return 0
	"$TDM_SRC/deploy/cluster-down.sh" "$TDM_CL" >"$TDM_TMP/cluster-down.out" 2>&1 || true
	local bad=()
	mapfile -t bad < <(grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$TDM_CL"/log/*.log)
	[ ${#bad[@]} -eq 0 ] || tdm_fail "sanitizer reports in: ${bad[*]}" -- "${bad[@]}"
	tdm_pass "no sanitizer report in any process's log"
}

# tdm_cluster_etcd_tls: the client TLS flags (--cacert, --cert, --key: curl's and etcdctl's
# spelling alike) for the cluster's etcd members, one per line; nothing with --etcd-plain.
tdm_cluster_etcd_tls() {
	local ca cert key
	ca=$(sed -n 's/^ETCD_CACERT=//p' "$TDM_CL/cluster.env")
	cert=$(sed -n 's/^ETCD_CERT=//p' "$TDM_CL/cluster.env")
	key=$(sed -n 's/^ETCD_KEY=//p' "$TDM_CL/cluster.env")
	[ -n "$ca" ] || return 0
	printf '%s\n' --cacert "$ca" --cert "$cert" --key "$key"
}

# tdm_ctl ARGS: the cluster's tandemctl.
tdm_ctl() { "$TDM_CL/tandemctl" "$@"; }

# tdm_approved ACTION KEY=VALUE...: a sensitive action through multi-person control
# (docs/approvals.md): requests it, then approves it as the demo operators sa1 (SA) and so1
# (SO); prints the request and both approvals' answers. Fails (non-zero) when any step does.
tdm_approved() {
	local out id
	out=$(tdm_ctl request "$@") || return 1
	printf '%s\n' "$out"
	id=$(printf '%s\n' "$out" | awk '$1 == "request" { id = $2 } END { print id }')
	[ -n "$id" ] || return 1
	tdm_ctl approve "$id" --key "$TDM_CL/operators/sa1.secret" || return 1
	tdm_ctl approve "$id" --key "$TDM_CL/operators/so1.secret"
}

# tdm_status_get EXPR: evaluates a python expression on the status JSON (bound to s);
# prints the result ('' for None). Exits non-zero when no coordinator answers.
tdm_status_get() {
	local json
	json=$(tdm_ctl status --json 2>/dev/null) || return 1
	printf '%s' "$json" | python3 -c '
import json, sys
s = json.load(sys.stdin)
def zone(name):
    return next(z for z in s["zones"] if z["name"] == name)
def node(name):
    return next(n for n in s["nodes"] if n["name"] == name)
v = eval(sys.argv[1])
print("" if v is None else v)
' "$1"
}

# tdm_holder ZONE: the zone's active node ('' when none).
tdm_holder() { tdm_status_get "zone('$1')['active_node']" || true; }

# tdm_wait SECONDS WHAT CMD...: runs CMD every 0.2 s until it succeeds; fails after SECONDS,
# showing the tail of every node's and coordinator's log.
tdm_wait() {
	local secs=$1 what=$2
	shift 2
	local until=$((SECONDS + secs))
	while ! "$@"; do
		[ "$SECONDS" -lt "$until" ] ||
			tdm_fail "timed out after ${secs}s waiting for: $what" -- \
				"$TDM_CL"/log/node-*.log "$TDM_CL"/log/coord-*.log
		sleep 0.2
	done
}

# tdm_publog NODE: the node's publish.log (may not exist yet).
tdm_publog() { printf '%s\n' "$TDM_CL/$1/out/publish.log"; }

# tdm_last_serial NODE ZONE: the last serial NODE published for ZONE ('' when none).
tdm_last_serial() {
	local log
	log=$(tdm_publog "$1")
	[ -f "$log" ] || return 0
	awk -v z="$2" '$2 == z { s = $3 } END { if (s != "") print s }' "$log"
}

# tdm_published_after NODE ZONE SERIAL: true when NODE has published ZONE above SERIAL
# (plain integer comparison: the tests never wrap). An empty SERIAL (the node had published
# nothing yet, e.g. right after a switchover to it) means any publication.
tdm_published_after() {
	local s
	s=$(tdm_last_serial "$1" "$2")
	[ -n "$s" ] && [ "$s" -gt "${3:-0}" ]
}

# tdm_check_publications NODE...: across every publish.log of the nodes named: no serial
# of a zone published with two digests, serials of each zone strictly rising in time
# order, and each node's current file having the zone digest (v1, tandem-journal digest) of
# its last line.
tdm_check_publications() {
	local logs=() n
	for n in "$@"; do
		[ -f "$(tdm_publog "$n")" ] && logs+=("$(tdm_publog "$n")")
	done
	[ ${#logs[@]} -gt 0 ] || tdm_fail "no node published anything"
	python3 - "${logs[@]}" <<'PY' || tdm_fail "publication check failed"
import sys
rows = []
for path in sys.argv[1:]:
    for line in open(path):
        t, zone, serial, digest, epoch = line.split()
        rows.append((int(t), zone, int(serial), digest, int(epoch), path))
bad = 0
seen = {}
for t, zone, serial, digest, epoch, path in rows:
    key = (zone, serial)
    if key in seen and seen[key][0] != digest:
        print("serial %d of %s published with two digests: %s (%s) and %s (%s)"
              % (serial, zone, seen[key][0], seen[key][1], digest, path))
        bad += 1
    seen.setdefault(key, (digest, path))
rows.sort()
last = {}
for t, zone, serial, digest, epoch, path in rows:
    if zone in last and serial <= last[zone][0]:
        print("%s: serial %d published at %d after %d (%s)" % (zone, serial, t, last[zone][0], path))
        bad += 1
    if zone in last and epoch < last[zone][1]:
        print("%s: epoch %d published at %d after epoch %d (%s)" % (zone, epoch, t, last[zone][1], path))
        bad += 1
    last[zone] = (serial, epoch)
print("%d publications, %d zones checked" % (len(rows), len(last)))
sys.exit(1 if bad else 0)
PY
	# A running node appends its line, then its writer puts the file in place off the
	# cycle (docs/node.md): a line newer than the file is seen for a while, so each file
	# gets looks for up to 30 s.
	local log f z want got try
	for n in "$@"; do
		log=$(tdm_publog "$n")
		[ -f "$log" ] || continue
		while read -r z; do
			f=$TDM_CL/$n/out/${z}zone
			for try in $(seq 1 100); do
				want=$(awk -v z="$z" '$2 == z { d = $4 } END { print d }' "$log")
				got=$("$(tdm_bin tandem-journal)" digest "$z" "$f" 2>/dev/null)
				[ "$want" = "$got" ] && break
				[ "$try" = 100 ] && tdm_fail "$f does not have the digest of its last publish.log line"
				sleep 0.3
			done
		done < <(awk '{ print $2 }' "$log" | sort -u)
	done
}

# tdm_file_current NODE ZONE: NODE's file of ZONE has the zone digest of its last publish.log
# line (the writer puts the file in place after the publication: docs/node.md).
tdm_file_current() {
	local want got
	want=$(awk -v z="$2" '$2 == z { d = $4 } END { print d }' "$(tdm_publog "$1")" 2>/dev/null)
	got=$("$(tdm_bin tandem-journal)" digest "$2" "$TDM_CL/$1/out/${2}zone" 2>/dev/null) || return 1
	[ -n "$want" ] && [ "$want" = "$got" ]
}

# tdm_validate_published NODE ZONE: dnssec-verify on the zone NODE publishes, once its file
# has caught up with its last publication.
tdm_validate_published() {
	local f=$TDM_CL/$1/out/${2}zone
	tdm_wait 60 "$1's file of $2 to follow its last publication" tdm_file_current "$1" "$2"
	[ -f "$f" ] || tdm_fail "$1 has not published $2"
	cp "$f" "$TDM_TMP/verify.zone"
	dnssec-verify -q -o "$2" "$TDM_TMP/verify.zone" >"$TDM_TMP/verify.out" 2>&1 ||
		tdm_fail "dnssec-verify refuses $f" -- "$TDM_TMP/verify.out"
}

# tdm_node_cmdline NODE [OPTION...]: NODE's command line as cluster-up.sh started it, taken
# apart for a test that starts it from a YAML file instead (tdm_node_yaml): TDM_NODE_ENV (the
# env words), TDM_NODE_BIN (tandemd), TDM_NODE_ZONES (zone names in order), TDM_NODE_INPUT
# (zone name -> input file), and the rest of its --option value pairs as YAML lines in
# TDM_NODE_OPTS, but for pid-file and the OPTIONs named (which the test writes itself).
tdm_node_cmdline() {
	local who=$1 line w i=0 opt val
	shift
	local -a words
	line=$(grep '^setsid' "$TDM_CL/run/$who.start")
	line=${line#setsid }
	line=${line%% </dev/null*}
	eval "words=($line)"
	TDM_NODE_ENV=()
	TDM_NODE_BIN=
	TDM_NODE_ZONES=()
	TDM_NODE_COORDS=()
	TDM_NODE_PUBS=()
	TDM_NODE_OPTS=()
	declare -gA TDM_NODE_INPUT=()
	while [ "$i" -lt "${#words[@]}" ]; do
		w=${words[$i]}
		i=$((i + 1))
		case $w in
		env) ;;
		*=*) TDM_NODE_ENV+=("$w") ;;
		*/tandemd)
			TDM_NODE_BIN=$w
			break
			;;
		esac
	done
	[ -n "$TDM_NODE_BIN" ] || tdm_fail "no tandemd in $who's start line" -- "$TDM_CL/run/$who.start"
	while [ "$i" -lt "${#words[@]}" ]; do
		opt=${words[$i]#--}
		val=${words[$((i + 1))]}
		i=$((i + 2))
		case " pid-file $* " in *" $opt "*) continue ;; esac
		case $opt in
		zone)
			TDM_NODE_ZONES+=("${val%%=*}")
			TDM_NODE_INPUT[${val%%=*}]=${val#*=}
			;;
		coord) TDM_NODE_COORDS+=("$val") ;;
		coord-pub) TDM_NODE_PUBS+=("$val") ;;
		*) TDM_NODE_OPTS+=("$(printf "%s: '%s'" "$opt" "$val")") ;;
		esac
	done
	if [ "${#TDM_NODE_ZONES[@]}" -lt 1 ] || [ "${#TDM_NODE_COORDS[@]}" != 2 ]; then
		tdm_fail "$who's command line not understood" -- "$TDM_CL/run/$who.start"
	fi
}

# tdm_node_yaml NODE ZONE...: the YAML file of NODE (after tdm_node_cmdline NODE) with these
# zones, its own pid-file, and its coordinators, on stdout.
tdm_node_yaml() {
	local who=$1 z j
	shift
	[ "${#TDM_NODE_OPTS[@]}" = 0 ] || printf '%s\n' "${TDM_NODE_OPTS[@]}"
	printf "pid-file: '%s'\n" "$TDM_CL/run/$who.pid"
	printf 'zone:\n'
	for z in "$@"; do printf "  - name: '%s'\n    input: '%s'\n" "$z" "${TDM_NODE_INPUT[$z]}"; done
	printf 'coord:\n'
	for j in "${!TDM_NODE_COORDS[@]}"; do
		printf "  - endpoint: '%s'\n    public-key: '%s'\n" "${TDM_NODE_COORDS[$j]}" "${TDM_NODE_PUBS[$j]}"
	done
}
