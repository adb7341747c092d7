#!/bin/bash
# Config files (issue 14, docs/config.md): every conf/ example passes --check-config, which
# makes nothing; docs/config.md's key tables are what --print-schema prints; broken files
# are each refused with the right line; a secret file others can read is refused with its
# path and mode; a tandem-coord started from a YAML file serves (the command line
# overriding a key); SIGHUP adds a zone added to the file, keeps one taken out, names a key
# that needs a restart, keeps the config in force when the file turns bad; SIGTERM after it
# all is a clean exit.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=etcd.sh
source "$(dirname "$0")/etcd.sh"
tdm_setup "$@"
tdm_need etcd timeout
COORD=$TDM_BUILD/src/coordd/tandem-coord
NODE=$TDM_BUILD/src/tandemd/tandemd
CTL=$TDM_BUILD/src/tools/tandemctl
for b in "$COORD" "$NODE" "$CTL"; do [ -x "$b" ] || tdm_fail "$b is not built"; done

# ---- the examples -------------------------------------------------------------------------------
n=0
for f in "$TDM_SRC"/conf/tandemd-*.yaml "$TDM_SRC"/conf/tandem-coord-*.yaml; do
	case $(basename "$f") in tandemd-*) bin=$NODE ;; *) bin=$COORD ;; esac
	tdm_run check "$bin" --check-config -c "$f"
	[ "$TDM_RC" = 0 ] || tdm_fail "$f does not pass --check-config" -- "$TDM_OUT" "$TDM_ERR"
	grep -qx "$f: OK" "$TDM_OUT" || tdm_fail "$f: no OK line" -- "$TDM_OUT"
	n=$((n + 1))
done
[ "$n" -ge 4 ] || tdm_fail "only $n example files in conf/"
tdm_pass "the $n conf/ examples pass --check-config"

# ---- tandemctl --help lists every command it runs -----------------------------------------------
# Each line of --help names a command (its words, up to the first argument): every one must reach
# the group that runs it (its --help exits 0, no "unknown command"). The other way round, main()
# hands on only a command --help lists (src/tools/tandemctl.c): a word it does not list is
# refused in every group. (No etcd needed: before anything starts.)
tdm_run ctl-help "$CTL" --help
[ "$TDM_RC" = 0 ] || tdm_fail "tandemctl --help: exit $TDM_RC" -- "$TDM_ERR"
mapfile -t ctl_cmds < <(python3 - "$TDM_OUT" <<'EOF'
import re, sys
for line in open(sys.argv[1]):
    m = re.match(r"  ([a-z].*)$", line.rstrip("\n"))
    if not m:
        continue
    words = []
    for t in re.split(r"  +", m.group(1))[0].split():
        if not re.fullmatch(r"[a-z][a-z-]*", t):
            break
        words.append(t)
    print(" ".join(words))
EOF
)
[ "${#ctl_cmds[@]}" -ge 40 ] || tdm_fail "tandemctl --help lists only ${#ctl_cmds[@]} commands" -- "$TDM_OUT"
for want in "cluster params" "zone accept-input" "zone approve" "zone reject" "operator rules" \
	"site suspend" "keys emergency" "audit import-ceremony" "request cancel" "approve"; do
	# not grep -q in a pipe: under pipefail printf's SIGPIPE, when grep stops at an early
	# match, failed the check now and then
	printf '%s\n' "${ctl_cmds[@]}" | grep -xF -- "$want" >/dev/null ||
		tdm_fail "tandemctl --help does not list '$want'" -- "$TDM_OUT"
done
groups=()
for c in "${ctl_cmds[@]}"; do
	read -ra w <<<"$c"
	tdm_run ctl-cmd "$CTL" "${w[@]}" --help
	if [ "$TDM_RC" != 0 ] || grep -q "unknown command" "$TDM_ERR" || [ ! -s "$TDM_OUT" ]; then
		tdm_fail "tandemctl $c --help: exit $TDM_RC (--help lists a command no group runs)" -- "$TDM_OUT" "$TDM_ERR"
	fi
	# request ACTION takes any word (the coordinator names the actions it knows)
	if [ "${#w[@]}" -ge 2 ] && [ "${w[0]}" != request ]; then
		groups+=("${w[0]}")
	fi
done
mapfile -t groups < <(printf '%s\n' "${groups[@]}" "nosuch" | sort -u)
for g in "${groups[@]}"; do
	tdm_run ctl-unknown "$CTL" "$g" no-such-command
	if [ "$TDM_RC" != 1 ] || ! grep -q "unknown command '$g no-such-command'" "$TDM_ERR"; then
		tdm_fail "tandemctl $g no-such-command: exit $TDM_RC, not refused as unknown" -- "$TDM_OUT" "$TDM_ERR"
	fi
done
tdm_pass "tandemctl --help lists ${#ctl_cmds[@]} commands, each run by its group; an unlisted word is refused in ${#groups[@]} groups"

# ---- the example is one cluster -----------------------------------------------------------------
# the coordinators use the three etcd members' client URLs, the members agree on the cluster,
# each node's coordinators are the coordinators' listen endpoints, own site first
python3 - "$TDM_SRC/conf" >"$TDM_TMP/example.out" 2>&1 <<'EOF' || tdm_fail "the conf/ example is not one cluster" -- "$TDM_TMP/example.out"
import re, sys
d = sys.argv[1]
env = {}
for m in ("a", "b", "witness"):
    env[m] = dict(l.split("=", 1) for l in open(f"{d}/etcd-{m}.env").read().splitlines()
                  if l and not l.startswith("#"))
clusters = {e["ETCD_INITIAL_CLUSTER"] for e in env.values()}
assert len(clusters) == 1, clusters
members = dict(x.split("=", 1) for x in clusters.pop().split(","))
clients = set()
for e in env.values():
    assert members[e["ETCD_NAME"]] == e["ETCD_INITIAL_ADVERTISE_PEER_URLS"], e["ETCD_NAME"]
    clients.add(e["ETCD_ADVERTISE_CLIENT_URLS"])
listen = {}
for s in ("a", "b"):
    text = open(f"{d}/tandem-coord-{s}.yaml").read()
    urls = re.findall(r"^  - (https://\S+)", text, re.M)
    assert set(urls) == clients, (s, urls, clients)
    assert urls[0] == env[s]["ETCD_ADVERTISE_CLIENT_URLS"], (s, "own member first")
    listen[s] = re.search(r"^listen: (\S+)", text, re.M).group(1)
for s, o in (("a", "b"), ("b", "a")):
    text = open(f"{d}/tandemd-{s}.yaml").read()
    eps = re.findall(r"^  - endpoint: (\S+)", text, re.M)
    assert eps == [listen[s], listen[o]], (s, eps)
    peer = re.search(r"endpoint: (\S+)", open(f"{d}/tandem-coord-{s}.yaml").read()).group(1)
    assert peer == listen[o], (s, "peer", peer)
print("one cluster")
EOF
tdm_pass "conf/: the etcd members, coordinators and nodes of the example name each other"

# ---- the example runs under the units -----------------------------------------------------------
# the units write only their StateDirectory (ProtectSystem=strict): every path the example has a
# daemon write (out, work, the mirrors, a pid file) must lie under it; every etcd member has the
# settings docs/etcd.md asks for
python3 - "$TDM_SRC" >"$TDM_TMP/units.out" 2>&1 <<'EOF' || tdm_fail "the conf/ example writes outside the units' state directories" -- "$TDM_TMP/units.out"
import re, sys
src = sys.argv[1]
def state_dir(unit, instance):
    text = open(f"{src}/deploy/systemd/{unit}.in").read()
    return "/var/lib/" + re.search(r"^StateDirectory=(\S+)", text, re.M).group(1).replace("%i", instance) + "/"
writes = {"tandemd": ("out", "work", "pid-file"),
          "tandem-coord": ("audit-mirror", "audit-archive", "role-mirror", "pid-file")}
bad = []
for s in ("a", "b"):
    for prog, unit in (("tandemd", "tandemd@.service"), ("tandem-coord", "tandem-coord@.service")):
        text = open(f"{src}/conf/{prog}-{s}.yaml").read()
        inst = re.search(r"^name: (\S+)", text, re.M).group(1)
        inst = inst if prog == "tandemd" else inst.removeprefix("coord-")
        top = state_dir(unit, inst)
        for key in writes[prog]:
            m = re.search(rf"^{key}: (\S+)", text, re.M)
            if m and not m.group(1).startswith(top):
                bad.append(f"conf/{prog}-{s}.yaml: {key}: {m.group(1)} is not under {top}")
for m in ("a", "b", "witness"):
    text = open(f"{src}/conf/etcd-{m}.env").read()
    for want in ("ETCD_PRE_VOTE=true", "ETCD_MAX_TXN_OPS=4096"):
        if want not in text.splitlines():
            bad.append(f"conf/etcd-{m}.env: no {want}")
print("\n".join(bad) if bad else "all under the state directories")
sys.exit(1 if bad else 0)
EOF
tdm_pass "conf/: the example writes only where the units may, and the etcd members have pre-vote and max-txn-ops"

# ---- --check-config touches nothing ------------------------------------------------------------
N=$TDM_TMP/untouched
cat >"$TDM_TMP/node.yaml" <<EOF
name: node-x
site: B
key: $N/keys/node-x.secret
coord:
  - endpoint: tcp://127.0.0.1:1
    public-key: $N/keys/coord.pub
token: pkcs11:token=node-x;pin-source=$N/pin
zone:
  - name: example
    input: $N/in/example.zone
out: $N/out
work: $N/work
pid-file: $N/tandemd.pid
metrics: 127.0.0.1:0
EOF
tdm_run check-node "$NODE" --check-config -c "$TDM_TMP/node.yaml"
[ "$TDM_RC" = 0 ] || tdm_fail "a complete node file does not pass --check-config" -- "$TDM_OUT" "$TDM_ERR"
[ ! -e "$N" ] || tdm_fail "--check-config made $(find "$N" | head -n 5 | tr '\n' ' ')"
tdm_pass "tandemd --check-config: OK, and no directory or pid file made"

# review-listen: loopback only, and with a tsig-key (docs/node.md, "Review hooks")
K0=$TDM_TMP/review-tsig.key
(umask 077 && printf 'k hmac-sha256 %s\n' "$(head -c 32 /dev/urandom | base64 -w0)" >"$K0")
for bad in "0.0.0.0:5300|not a loopback address" "192.0.2.1:0|not a loopback address" \
	"127.0.0.1:0|needs a --tsig-key"; do
	{
		cat "$TDM_TMP/node.yaml"
		printf 'review-listen: %s\n' "${bad%%|*}"
		[ "${bad##*|}" = "needs a --tsig-key" ] || printf 'tsig-key: [%s]\n' "$K0"
	} >"$TDM_TMP/review.yaml"
	tdm_run check-review "$NODE" --check-config -c "$TDM_TMP/review.yaml"
	[ "$TDM_RC" = 1 ] || tdm_fail "review-listen ${bad%%|*} passed --check-config" -- "$TDM_OUT" "$TDM_ERR"
	tdm_assert_grep "review-listen ${bad%%|*} refused" "--review-listen.*${bad##*|}" "$TDM_ERR"
done
{
	cat "$TDM_TMP/node.yaml"
	printf 'review-listen: 127.0.0.1:0\ntsig-key: [%s]\n' "$K0"
} >"$TDM_TMP/review.yaml"
tdm_run check-review "$NODE" --check-config -c "$TDM_TMP/review.yaml"
[ "$TDM_RC" = 0 ] || tdm_fail "review-listen 127.0.0.1:0 with a tsig-key is refused" -- "$TDM_OUT" "$TDM_ERR"
tdm_pass "review-listen: a non-loopback address, or no tsig-key, is refused; loopback with a key passes"

# ---- docs/config.md holds what the schemas print ------------------------------------------------
for prog in tandemd tandem-coord; do
	if [ "$prog" = tandemd ]; then bin=$NODE; else bin=$COORD; fi
	"$bin" --print-schema >"$TDM_TMP/$prog.schema"
	awk -v p="$prog" '$0 ~ "^<!-- end schema " p " -->" { on = 0 }
		on { print }
		$0 ~ "^<!-- schema " p ":" { on = 1 }' "$TDM_SRC/docs/config.md" >"$TDM_TMP/$prog.doc"
	[ -s "$TDM_TMP/$prog.doc" ] || tdm_fail "docs/config.md has no schema section for $prog"
	diff -u "$TDM_TMP/$prog.doc" "$TDM_TMP/$prog.schema" >"$TDM_TMP/$prog.diff" ||
		tdm_fail "docs/config.md disagrees with $prog --print-schema (regenerate it)" -- "$TDM_TMP/$prog.diff"
done
tdm_pass "docs/config.md's key tables are the schemas' (--print-schema)"

# ---- ten broken files, each refused at its line -------------------------------------------------
B=$TDM_TMP/broken
mkdir -p "$B"
# refused BIN LINE NEEDLE TEXT: TEXT as a file must be refused by --check-config with
# "FILE:LINE: ...NEEDLE..." and exit 1
refused() {
	local bin=$1 line=$2 needle=$3 text=$4 f
	f=$B/t$RANDOM.yaml
	printf '%s' "$text" >"$f"
	tdm_run broken "$bin" --check-config -c "$f"
	[ "$TDM_RC" = 1 ] || tdm_fail "$f was not refused (exit $TDM_RC)" -- "$f" "$TDM_OUT" "$TDM_ERR"
	grep -qF "$f:$line: " "$TDM_ERR" || tdm_fail "$f: no message at line $line" -- "$f" "$TDM_ERR"
	grep -F "$f:$line: " "$TDM_ERR" | grep -F -- "$needle" >/dev/null ||
		tdm_fail "$f:$line: not '$needle'" -- "$TDM_ERR"
	grep -qx "$f: refused" "$TDM_OUT" || tdm_fail "$f: no 'refused' line" -- "$TDM_OUT"
}
refused "$NODE" 2 "nmae: unknown key" $'name: n\nnmae: x\n'
refused "$NODE" 3 "did you mean 'pid-file'" $'name: n\nsite: A\npid_file: /run/x\n'
refused "$NODE" 2 "threads: 'four' is not a whole number from 1 to 64" $'name: n\nthreads: four\n'
refused "$NODE" 1 "cycle: '2d' is 172800 s, outside 1..86400 s" $'cycle: 2d\n'
refused "$NODE" 2 "site: 'E' is not A, B, C or D" $'name: n\nsite: E\n'
refused "$NODE" 3 "name: given twice (first on line 1)" $'name: a\nsite: A\nname: b\n'
refused "$NODE" 3 "not valid YAML" $'name: a\nzone: [x\nout: /o\n'
refused "$NODE" 4 "zone.input: missing" $'zone:\n  - name: a.\n    input: /a\n  - name: b.\n'
refused "$NODE" 1 "a PIN is never written in the config file" $'token: pkcs11:token=t;pin-value=1234\n'
refused "$COORD" 2 "metrics: 'localhost' is not HOST:PORT" $'name: c\nmetrics: localhost\n'
refused "$COORD" 3 "etcd[2]: 'etcd2:2379' is not an http:// or https:// URL" $'etcd:\n  - https://127.0.0.1:2379\n  - etcd2:2379\n'
f=$B/params.yaml
printf 'etcd: http://127.0.0.1:1\nlisten: tcp://127.0.0.1:*\nkey: /k\nallow: /a\nlease-ms: 3000\nmargin-ms: 2000\n' >"$f"
tdm_run params "$COORD" --check-config -c "$f"
[ "$TDM_RC" = 1 ] || tdm_fail "a margin above a third of the lease passed --check-config" -- "$TDM_OUT" "$TDM_ERR"
tdm_assert_grep "the lease and margin are checked together" \
	"lease-ms 3000 / margin-ms 2000: the margin must be above 0 and below a third of the lease" "$TDM_ERR"
tdm_pass "eleven broken files: each refused at its line with its reason; lease and margin checked together"

# ---- secret files -------------------------------------------------------------------------------
K=$TDM_TMP/keys
mkdir -p "$K"
for who in coord op1; do
	"$CTL" net keygen --public "$K/$who.pub" --secret "$K/$who.secret" >/dev/null || tdm_fail "keygen $who"
done
pub() { awk '$1 == "public" { print $2 }' "$K/$1.pub"; }
ALLOW=$TDM_TMP/allow
printf 'op1 operator %s\n' "$(pub op1)" >"$ALLOW"
chmod 644 "$K/coord.secret"
printf 'etcd: http://127.0.0.1:1\nlisten: tcp://127.0.0.1:*\nkey: %s\nallow: %s\n' \
	"$K/coord.secret" "$ALLOW" >"$B/secret.yaml"
tdm_run secret "$COORD" --check-config -c "$B/secret.yaml"
[ "$TDM_RC" = 1 ] || tdm_fail "a key file of mode 0644 was accepted" -- "$TDM_OUT" "$TDM_ERR"
tdm_assert_grep "the refusal names the file, the line, the path and the mode" \
	"secret.yaml:3: key: $K/coord.secret is mode 0644: group or others can read it" "$TDM_ERR"
chmod 600 "$K/coord.secret"
tdm_run secret-ok "$COORD" --check-config -c "$B/secret.yaml"
[ "$TDM_RC" = 0 ] || tdm_fail "mode 0600 is refused" -- "$TDM_OUT" "$TDM_ERR"
tdm_pass "a secret file others can read is refused with its path and mode; 0600 passes"

# ---- a coordinator from a YAML file, and SIGHUP -------------------------------------------------
TDM_ETCD_DIR=$TDM_TMP/etcd
tdm_etcd_start 1
CONF=$TDM_TMP/tandem-coord.yaml
write_conf() { # extra lines after the base keys
	{
		printf '# a test coordinator (integration/test_config.sh)\n'
		printf 'etcd: [%s]\n' "$(tdm_etcd_endpoints)"
		printf 'insecure-etcd: true\n'
		printf 'listen: tcp://127.0.0.1:*\n'
		printf 'key: %s\n' "$K/coord.secret"
		printf 'allow: %s\n' "$ALLOW"
		printf 'name: coord-file\n'
		printf 'prefix: /test/config/\n'
		printf 'audit-mirror: %s\n' "$TDM_TMP/audit.jsonl"
		printf '%s' "${1:-}"
	} >"$CONF"
}
write_conf $'zone:\n  - one.example.\n'
LOG=$TDM_TMP/coord.err
# --name on the command line overrides the file's
"$COORD" -c "$CONF" --name coord-cli >"$TDM_TMP/coord.out" 2>"$LOG" &
PID=$!
stop() { kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
tdm_on_exit stop
EP=$(tdm_coord_endpoint "$TDM_TMP/coord.out" "$PID" "$LOG" 30)
tdm_assert_grep "the command line overrides the file's name" "coord-cli serving" "$LOG"
as() {
	TANDEM_COORD=$EP TANDEM_COORD_PUB=$K/coord.pub TANDEM_KEY=$K/op1.secret \
		TANDEM_COORD_TIMEOUT_MS=5000 timeout 60 "$CTL" "$@"
}
has_zone() { as status 2>/dev/null | grep -q "$1"; }
for _ in $(seq 1 100); do has_zone one.example. && break; sleep 0.3; done
has_zone one.example. || tdm_fail "the file's zone is not in the cluster" -- "$LOG"
tdm_pass "tandem-coord runs from a YAML file; its zone is in the cluster"

reloads() { [ "$(grep -c 'reload: .* read, ' "$LOG")" -ge "$1" ]; }
write_conf $'zone:\n  - one.example.\n  - two.example.\nmetrics: 127.0.0.1:0\n'
kill -HUP "$PID"
for _ in $(seq 1 300); do reloads 1 && break; sleep 0.1; done
reloads 1 || tdm_fail "no reload line 30 s after SIGHUP" -- "$LOG"
tdm_assert_grep "the new zone is added" "reload: zone two.example. added to the cluster" "$LOG"
tdm_assert_grep "a key that needs a restart is named" \
	"reload: metrics changed \(line 13\), needs a restart: not applied" "$LOG"
tdm_assert_grep "the reload sums up" "reload: $CONF read, 2 key\(s\) changed, 1 need a restart" "$LOG"
for _ in $(seq 1 100); do has_zone two.example. && break; sleep 0.3; done
has_zone two.example. || tdm_fail "two.example. is not in the cluster after the reload" -- "$LOG"
tdm_pass "SIGHUP: a zone added to the file joins the cluster; metrics named as needing a restart"

write_conf $'zone:\n  - one.example.\nmetrics: 127.0.0.1:0\n'
kill -HUP "$PID"
for _ in $(seq 1 300); do reloads 2 && break; sleep 0.1; done
reloads 2 || tdm_fail "no second reload line 30 s after SIGHUP" -- "$LOG"
tdm_assert_grep "a zone taken out of the file stays, and the log says how to remove it" \
	"reload: zone two.example. left the file; it stays in the cluster until 'tandemctl zone remove two.example.'" "$LOG"
as status 2>/dev/null | grep two.example. >/dev/null || tdm_fail "two.example. left the cluster" -- "$LOG"
tdm_pass "SIGHUP: a zone taken out of the file stays in the cluster (removal is an operator's)"

write_conf $'zone:\n  - one.example.\nthreads: 2\n'
kill -HUP "$PID"
for _ in $(seq 1 300); do grep -q 'the config in force stays' "$LOG" && break; sleep 0.1; done
tdm_assert_grep "a bad file is refused at its line" "reload: $CONF:12: threads: unknown key" "$LOG"
tdm_assert_grep "and the config in force stays" "reload: $CONF refused .*; the config in force stays" "$LOG"
kill -0 "$PID" || tdm_fail "the coordinator died on a bad reload" -- "$LOG"
as status >/dev/null || tdm_fail "the coordinator does not answer after a bad reload" -- "$LOG"
tdm_assert_no_grep "no zone leaves on a bad file" "zone one.example. left the file" "$LOG"
tdm_pass "SIGHUP with a bad file: refused at its line, the coordinator serves on"

# a clean stop after the reloads (under ASan/UBSan: no report, no leak of the configs)
kill -TERM "$PID"
stopped() { ! kill -0 "$PID" 2>/dev/null; }
for _ in $(seq 1 300); do stopped && break; sleep 0.1; done
stopped || tdm_fail "the coordinator did not stop within 30 s of SIGTERM" -- "$LOG"
rc=0
wait "$PID" || rc=$?
[ "$rc" = 0 ] || tdm_fail "the coordinator exited $rc on SIGTERM" -- "$LOG"
tdm_assert_no_grep "no sanitizer report" 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG"
tdm_pass "SIGTERM after the reloads: a clean exit"
