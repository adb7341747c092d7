# shellcheck shell=bash disable=SC2034
# (the PEERS_* variables are set here for the scripts that source this file)
# Real DNS peers for integration tests: NSD and Knot as secondaries (or Knot as a stand-in
# primary) pulling a zone with TSIG, and Unbound as a validating resolver that trusts the
# zone's DS and reaches the zone through a stub. Every process runs in the foreground as
# the current user, on free 127.0.0.1 ports, with its config, pid, database and log files
# in a directory of the test's; each start registers its stop with tdm_on_exit, and every
# wait is bounded. Sourced after lib.sh (tdm_setup must have run); defines functions only.
#
#   source "$(dirname "$0")/peers.sh"
#   peers_tsig_key "$TDM_TMP/xfr.key" xfr-key hmac-sha256    # NAME ALGORITHM BASE64 (0600)
#   peers_knot_primary "$TDM_TMP/pri" tld "$signed" "$TDM_TMP/xfr.key"
#   peers_nsd_secondary "$TDM_TMP/nsd" tld "127.0.0.1@$PEERS_KNOT_PORT" "$TDM_TMP/xfr.key"
#   peers_wait_serial 127.0.0.1 "$PEERS_NSD_PORT" tld 2026120701 60
#   peers_unbound "$TDM_TMP/ub" tld "$TDM_TMP/tld.ds" "127.0.0.1@$PEERS_NSD_PORT"
#   kdig -p "$PEERS_UNBOUND_PORT" @127.0.0.1 +dnssec www.tld A
#
# Secrets: the TSIG key lives in a 0600 file and in 0600 configs, never on a command line.

# peers_tsig_key FILE NAME ALGORITHM: a fresh random key (32 bytes, base64) written to FILE
# (mode 0600) as one line "NAME ALGORITHM SECRET", the format of cluster-up's tsig.key.
peers_tsig_key() {
	local file=$1 name=$2 alg=$3
	case $alg in hmac-sha256 | hmac-sha512) ;; *) tdm_fail "peers_tsig_key: algorithm '$alg' (hmac-sha256 or hmac-sha512)" ;; esac
	(
		umask 077
		printf '%s %s %s\n' "$name" "$alg" "$(openssl rand -base64 32)" >"$file"
	) || tdm_fail "peers_tsig_key: cannot write $file"
}

# peers_secret_mode FILE: fails unless FILE (a config holding the TSIG secret) is 0600.
peers_secret_mode() {
	local mode
	mode=$(stat -c %a "$1") || tdm_fail "cannot stat $1"
	[ "$mode" = 600 ] || tdm_fail "$1 holds the TSIG secret with mode $mode, not 600"
}

# peers_key_field FILE N: field N (1 name, 2 algorithm, 3 secret) of a key file.
peers_key_field() {
	awk -v n="$2" 'NR == 1 { print $n }' "$1"
}

# peers_serial ADDR PORT ZONE: the SOA serial the server at ADDR PORT answers for ZONE
# (empty when it has none: no answer, SERVFAIL, timeout).
peers_serial() { tdm_dns_serial "$@"; }

# peers_wait_serial ADDR PORT ZONE SERIAL SECONDS [PID LOG]: waits until the server answers
# SERIAL for ZONE; fails after SECONDS (or when PID exits) with the tail of LOG.
peers_wait_serial() {
	local addr=$1 port=$2 zone=$3 want=$4 secs=$5 pid=${6:-} log=${7:-} until got=''
	until=$((SECONDS + secs))
	while :; do
		got=$(peers_serial "$addr" "$port" "$zone")
		[ "$got" != "$want" ] || return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			tdm_fail "$zone@$addr:$port: the server (pid $pid) exited while waiting for serial $want" -- "$log"
		fi
		[ "$SECONDS" -lt "$until" ] || tdm_fail "$zone@$addr:$port: serial '$got', not $want after $secs s" -- "$log"
		sleep 0.2
	done
}

# peers_wait_answers ADDR PORT PID LOG WHAT: waits (30 s) until the server answers a UDP
# query at all (any rcode), failing when PID exits.
peers_wait_answers() {
	local addr=$1 port=$2 pid=$3 log=$4 what=$5 until
	until=$((SECONDS + 30))
	while ! kdig -p "$port" "@$addr" +norec +timeout=1 +retry=0 . SOA >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || tdm_fail "$what (pid $pid) exited at start" -- "$log"
		[ "$SECONDS" -lt "$until" ] || tdm_fail "$what did not answer on $addr@$port in 30 s" -- "$log"
		sleep 0.2
	done
}

# peers_stop PID WORD: SIGTERM, a bounded wait (10 s), then SIGKILL; only a process whose
# command line still holds WORD (its config path), so a reused pid is never hit.
peers_stop() {
	local pid=$1 word=$2 i
	# (tdm_pid_is may race with the exit it waits for: its read error is noise)
	tdm_pid_is "$pid" "$word" 2>/dev/null || return 0
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		tdm_pid_is "$pid" "$word" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}

# peers_nsd_secondary DIR ZONE "ADDR@PORT..." KEYFILE [EXTRA_ZONE_LINES]: NSD as a
# secondary for ZONE, its primaries the list given (each with the TSIG key), NOTIFY taken
# from 127.0.0.1 with the key (and AXFR given to it, for comparisons), transfers (IXFR
# first, AXFR fallback) signed; the config is deploy/lib.sh's tdm_nsd_conf (0600). Sets
# PEERS_NSD_PORT, PEERS_NSD_PID, PEERS_NSD_LOG, PEERS_NSD_CONF. nsd-control is off.
peers_nsd_secondary() {
	local dir=$1 zone=$2 primaries=$3 keyfile=$4 extra=${5:-}
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	# a port chosen beforehand (PEERS_NSD_PORT set: a primary NOTIFYs it), else a free one
	PEERS_NSD_PORT=${PEERS_NSD_PORT:-$(tdm_free_ports 1)}
	PEERS_NSD_CONF=$dir/nsd.conf
	PEERS_NSD_LOG=$dir/nsd.log
	tdm_nsd_conf "$PEERS_NSD_CONF" "$dir" "$PEERS_NSD_PORT" "$keyfile" "$zone" "$primaries"
	[ -z "$extra" ] || printf '%s\n' "$extra" >>"$PEERS_NSD_CONF"
	peers_secret_mode "$PEERS_NSD_CONF"
	nsd -d -c "$PEERS_NSD_CONF" >>"$PEERS_NSD_LOG" 2>&1 &
	PEERS_NSD_PID=$!
	tdm_on_exit "peers_stop $PEERS_NSD_PID $PEERS_NSD_CONF"
	peers_wait_answers 127.0.0.1 "$PEERS_NSD_PORT" "$PEERS_NSD_PID" "$PEERS_NSD_LOG" "nsd"
}

# peers_knot_conf_common DIR PORT KEYFILE: the server, control, log, key and acl parts of
# a knotd config (acl "tsig" allows transfer and notify with the key from 127.0.0.1).
peers_knot_conf_common() {
	local dir=$1 port=$2 keyfile=$3
	cat <<-EOF
		server:
		    rundir: "$dir"
		    pidfile: "$dir/knot.pid"
		    listen: 127.0.0.1@$port
		    background-workers: 1
		    udp-workers: 1
		    tcp-workers: 1
		control:
		    listen: "$dir/knot.sock"
		log:
		  - target: "$dir/knot.log"
		    any: info
		database:
		    storage: "$dir/db"
		key:
		  - id: "$(peers_key_field "$keyfile" 1)"
		    algorithm: $(peers_key_field "$keyfile" 2)
		    secret: "$(peers_key_field "$keyfile" 3)"
		acl:
		  - id: tsig
		    address: 127.0.0.1
		    key: "$(peers_key_field "$keyfile" 1)"
		    action: [transfer, notify]
	EOF
}

# peers_knot_start DIR WHAT: runs knotd on DIR/knot.conf; sets PEERS_KNOT_PID.
peers_knot_start() {
	local dir=$1 what=$2
	peers_secret_mode "$dir/knot.conf"
	knotd -c "$dir/knot.conf" >>"$dir/knot.log" 2>&1 &
	PEERS_KNOT_PID=$!
	tdm_on_exit "peers_stop $PEERS_KNOT_PID $dir/knot.conf"
	peers_wait_answers 127.0.0.1 "$PEERS_KNOT_PORT" "$PEERS_KNOT_PID" "$dir/knot.log" "$what"
}

# peers_knot_primary DIR ZONE FILE KEYFILE [ZONE2 FILE2]: knotd as the primary of ZONE from
# FILE (and of an optional second zone), transfers with the key only, no NOTIFY of its
# own, the zone file re-read as a difference (zonefile-load: difference) so that a reload
# puts the change in the journal and IXFR serves it. Sets PEERS_KNOT_PORT, PEERS_KNOT_PID,
# PEERS_KNOT_DIR (reload: peers_knot_reload DIR ZONE).
peers_knot_primary() {
	local dir=$1 zone=$2 file=$3 keyfile=$4 zone2=${5:-} file2=${6:-}
	mkdir -p "$dir/db"
	dir=$(cd "$dir" && pwd)
	PEERS_KNOT_PORT=$(tdm_free_ports 1)
	PEERS_KNOT_DIR=$dir
	# made 0600 before the secret goes in: the subshell's umask does not cover the
	# redirection of its output
	(umask 077 && : >"$dir/knot.conf")
	(
		peers_knot_conf_common "$dir" "$PEERS_KNOT_PORT" "$keyfile"
		cat <<-EOF
			template:
			  - id: default
			    zonefile-sync: -1
			    zonefile-load: difference
			    journal-content: changes
			    semantic-checks: off
			    acl: tsig
			zone:
			  - domain: "$zone"
			    file: "$file"
		EOF
		[ -z "$zone2" ] || printf '  - domain: "%s"\n    file: "%s"\n' "$zone2" "$file2"
	) >"$dir/knot.conf"
	peers_knot_start "$dir" "knotd (primary)"
}

# peers_knot_hidden_primary DIR PORT KEYFILE PORT_A PORT_B: a knotd on PORT serving the zone
# example. from DIR/example.zone (written by the caller) as the hidden primary of node-a and
# node-b (their transfer servers on PORT_A and PORT_B): it sends them NOTIFY, they transfer
# with the TSIG key of KEYFILE. Sets PEERS_KNOT_PID.
peers_knot_hidden_primary() {
	local dir=$1 port=$2 keyfile=$3 pa=$4 pb=$5
	mkdir -p "$dir/db"
	# the config holds the TSIG secret: 0600 from the start
	(umask 077 && : >"$dir/knot.conf")
	{
		peers_knot_conf_common "$dir" "$port" "$keyfile"
		cat <<-EOF
			remote:
			  - id: node-a
			    address: 127.0.0.1@$pa
			    key: "$(peers_key_field "$keyfile" 1)"
			  - id: node-b
			    address: 127.0.0.1@$pb
			    key: "$(peers_key_field "$keyfile" 1)"
			zone:
			  - domain: example
			    file: "$dir/example.zone"
			    zonefile-sync: -1
			    zonefile-load: difference
			    journal-content: changes
			    semantic-checks: off
			    acl: tsig
			    notify: [node-a, node-b]
		EOF
	} >"$dir/knot.conf"
	peers_knot_start "$dir" "knotd (hidden primary)"
}

# peers_knot_reload DIR ZONE: knotc zone-reload (blocking) for the knotd in DIR.
peers_knot_reload() {
	knotc -c "$1/knot.conf" -t 30 -b zone-reload "$2" >"$1/knotc.out" 2>&1 ||
		tdm_fail "knotc zone-reload $2 failed" -- "$1/knotc.out" "$1/knot.log"
}

# peers_knot_secondary DIR ZONE "ADDR@PORT..." KEYFILE: knotd as a secondary of ZONE with
# the primaries given, TSIG on transfers and NOTIFY. Sets PEERS_KNOT_PORT, PEERS_KNOT_PID,
# PEERS_KNOT_DIR.
peers_knot_secondary() {
	local dir=$1 zone=$2 primaries=$3 keyfile=$4 p i=0 list=''
	mkdir -p "$dir/db" "$dir/zones"
	dir=$(cd "$dir" && pwd)
	PEERS_KNOT_PORT=$(tdm_free_ports 1)
	PEERS_KNOT_DIR=$dir
	# made 0600 before the secret goes in: the subshell's umask does not cover the
	# redirection of its output
	(umask 077 && : >"$dir/knot.conf")
	(
		peers_knot_conf_common "$dir" "$PEERS_KNOT_PORT" "$keyfile"
		echo "remote:"
		for p in $primaries; do
			printf '  - id: primary%d\n    address: %s\n    key: "%s"\n' "$i" "$p" "$(peers_key_field "$keyfile" 1)"
			list="$list${list:+, }primary$i"
			i=$((i + 1))
		done
		cat <<-EOF
			zone:
			  - domain: "$zone"
			    storage: "$dir/zones"
			    master: [$list]
			    acl: tsig
			    zonefile-sync: -1
		EOF
	) >"$dir/knot.conf"
	peers_knot_start "$dir" "knotd (secondary)"
}

# peers_unbound DIR ZONE TAFILE "ADDR@PORT" ["STUB ADDR@PORT"...]: Unbound validating with
# the trust anchor in TAFILE (DS records), ZONE reached through a stub at ADDR@PORT (and
# more stubs, e.g. for an unsigned child), everything else refused locally: no root hints
# traffic (deploy/lib.sh's tdm_unbound_conf). Sets PEERS_UNBOUND_PORT, PEERS_UNBOUND_PID,
# PEERS_UNBOUND_LOG.
peers_unbound() {
	local dir=$1 zone=$2 ta=$3 addr=$4
	shift 4
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	PEERS_UNBOUND_PORT=$(tdm_free_ports 1)
	PEERS_UNBOUND_LOG=$dir/unbound.log
	tdm_unbound_conf "$dir/unbound.conf" "$dir" "$PEERS_UNBOUND_PORT" "$ta" "$zone" "$addr" "$@"
	unbound-checkconf "$dir/unbound.conf" >"$dir/checkconf.out" 2>&1 ||
		tdm_fail "unbound-checkconf refused the config" -- "$dir/checkconf.out"
	unbound -d -c "$dir/unbound.conf" >>"$PEERS_UNBOUND_LOG" 2>&1 &
	PEERS_UNBOUND_PID=$!
	tdm_on_exit "peers_stop $PEERS_UNBOUND_PID $dir/unbound.conf"
	peers_wait_answers 127.0.0.1 "$PEERS_UNBOUND_PORT" "$PEERS_UNBOUND_PID" "$PEERS_UNBOUND_LOG" "unbound"
}

# peers_unbound_stop: stops the last Unbound started (a fresh one has an empty cache).
peers_unbound_stop() {
	peers_stop "$PEERS_UNBOUND_PID" unbound.conf
}
