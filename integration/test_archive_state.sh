#!/bin/bash
# The archive with the key state: `tandemctl keys generate` makes a zone's keys on site A;
# `archive-export --state` carries exactly those keys (not the other tandem keys on the token)
# with role, state, times and the KSK's real (flags 257) key tag; `archive-import --state` on
# site B prints that metadata and records in B's key state that B's HSM holds each key. A
# state that lists a key the token lacks, or a corrupt state, is refused and nothing written.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"
CEREMONY=$(tdm_bin tandem-ceremony)
CTL=$(tdm_bin tandemctl)
now=1767225600 # 2026-01-01T00:00:00Z

# ---- one SMK on two sites (a 1-of-1 drill ceremony) -----------------------------------------
(umask 077 && printf '%s\n' 'the only passphrase' >"$TDM_TMP/pass")
tdm_assert_ok "smk-new 1-of-1 (drill)" \
	"$CEREMONY" smk-new --shares 1 --threshold 1 --out "$TDM_TMP/cards" --kdf-cost 12 --drill \
	--passphrase-file "$TDM_TMP/pass"
card=$TDM_TMP/cards/card-01.tandem-card
tdm_token "$TDM_TMP/siteA" siteA
confA=$SOFTHSM2_CONF uriA="pkcs11:token=siteA;pin-source=$TDM_PIN_FILE" pinA=$TDM_PIN_FILE
tdm_assert_ok "install on A" env SOFTHSM2_CONF="$confA" "$CEREMONY" smk-install \
	--module "$TDM_MODULE" --token "$uriA" --so-pin-source "$TDM_SO_PIN_FILE" --drill \
	--passphrase-file "$TDM_TMP/pass" "$card"
tdm_token "$TDM_TMP/siteB" siteB
confB=$SOFTHSM2_CONF uriB="pkcs11:token=siteB;pin-source=$TDM_PIN_FILE" pinB=$TDM_PIN_FILE
tdm_assert_ok "install on B" env SOFTHSM2_CONF="$confB" "$CEREMONY" smk-install \
	--module "$TDM_MODULE" --token "$uriB" --so-pin-source "$TDM_SO_PIN_FILE" --drill \
	--passphrase-file "$TDM_TMP/pass" "$card"

ctl_a() { SOFTHSM2_CONF=$confA "$CTL" keys "$@"; }
ctl_b() { SOFTHSM2_CONF=$confB "$CTL" keys "$@"; }
# ks show FILE | ks clear-imported FILE OUT: reads or rewrites a keystate.pb (a minimal protobuf
# wire codec: KeyStateFile.state(2) -> KeyState.zones(2) -> Zone.keys(5) -> Key.label(6),
# Key.imported(10); the checksum is recomputed), standing in for a state made elsewhere.
ks() {
	python3 - "$@" <<'PY'
import hashlib, sys

def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7f) << s; s += 7
        if c < 0x80:
            return v, i

def enc_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7f; v >>= 7
        if v:
            out.append(c | 0x80)
        else:
            out.append(c)
            return bytes(out)

def parse(b):
    i, fields = 0, []
    while i < len(b):
        key, i = varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v = b[i:i + n]; i += n
        else:
            raise SystemExit("unexpected wire type %d" % wt)
        fields.append([f, wt, v])
    return fields

def build(fields):
    out = bytearray()
    for f, wt, v in fields:
        out += enc_varint(f << 3 | wt)
        out += enc_varint(v) if wt == 0 else enc_varint(len(v)) + v
    return bytes(out)

def get(fields, f):
    return [x for x in fields if x[0] == f]

def keys(state):
    for z in get(parse(state), 2):
        for k in get(parse(z[2]), 5):
            yield z, k

mode, path = sys.argv[1], sys.argv[2]
top = parse(open(path, "rb").read())
state = get(top, 2)[0][2]
if mode == "show":
    for _, k in keys(state):
        kf = parse(k[2])
        label = get(kf, 6)[0][2].decode()
        imp = get(kf, 10)
        print(label, imp[0][2] if imp else 0)
elif mode == "clear-imported":
    st = parse(state)
    for z in get(st, 2):
        zf = parse(z[2])
        for k in get(zf, 5):
            k[2] = build([x for x in parse(k[2]) if x[0] != 10])
        z[2] = build(zf)
    state = build(st)
    for x in top:
        if x[0] == 2:
            x[2] = state
        if x[0] == 3:
            x[2] = hashlib.sha256(state).digest()
    open(sys.argv[3], "wb").write(build(top))
PY
}

# ---- site A: the zone's keys, and other tandem keys on the same token -----------------------
# The DPS policy with a permanent standby per role (`standby: true`), so that the archive
# carries keys in two states of each role (active, published).
SBPOL=$TDM_TMP/standby.yaml
printf 'policy: standby\nkeys:\n  ksk: { standby: true }\n  zsk: { standby: true }\n' >"$SBPOL"
SA=$TDM_TMP/stateA
tdm_assert_ok "generate example.'s keys on A" ctl_a generate --state "$SA" --zone example. \
	-p "$SBPOL" --token "$uriA" --module "$TDM_MODULE" --now "$now"
[ "$(grep -c '^generated ' "$TDM_OUT")" -eq 4 ] || tdm_fail "expected 4 keys generated" -- "$TDM_OUT"
gen_out=$TDM_TMP/generate.out
cp "$TDM_OUT" "$gen_out"
# "generated ksk key 1 (tag 12345, algorithm 8) as example-ksk-1"
tag_of() { sed -n "s/^generated .* (tag \\([0-9]*\\), algorithm [0-9]*) as $1\$/\\1/p" "$gen_out"; }
ksk1=$(tag_of example-ksk-1) ksk2=$(tag_of example-ksk-2) zsk3=$(tag_of example-zsk-3)
if [ -z "$ksk1" ] || [ -z "$ksk2" ] || [ -z "$zsk3" ]; then
	tdm_fail "no key tags in the generate output" -- "$gen_out"
fi
tdm_assert_ok "generate other.'s keys on A, in another state" ctl_a generate --state "$TDM_TMP/other" \
	--zone other. -p "$SBPOL" --token "$uriA" --module "$TDM_MODULE" --now "$now"

# ---- refusals: nothing written --------------------------------------------------------------
arch=$TDM_TMP/example.archive
tdm_assert_fails "--zone without --state" ctl_a archive-export --module "$TDM_MODULE" \
	--token "$uriA" --zone example. --out "$arch"
tdm_assert_fails "a zone the state does not hold" ctl_a archive-export --module "$TDM_MODULE" \
	--token "$uriA" --state "$SA" --zone nosuch. --out "$arch"
tdm_assert_grep "unknown zone: says so" 'nosuch\. is not in the key state' "$TDM_ERR"
tdm_assert_fails "a directory without key state" ctl_a archive-export --module "$TDM_MODULE" \
	--token "$uriA" --state "$TDM_TMP/cards" --out "$arch"
tdm_assert_grep "no state: says so" 'holds no key state' "$TDM_ERR"
mkdir "$TDM_TMP/corrupt"
python3 - "$SA/keystate.pb" "$TDM_TMP/corrupt/keystate.pb" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0x01
open(sys.argv[2], "wb").write(data)
PY
tdm_assert_fails "a corrupt key state" ctl_a archive-export --module "$TDM_MODULE" \
	--token "$uriA" --state "$TDM_TMP/corrupt" --out "$arch"
tdm_assert_eq "corrupt state: exit 2" 2 "$TDM_RC"
tdm_assert_grep "corrupt state: says so" 'checksum mismatch|corrupt' "$TDM_ERR"
# site B's token holds the SMK but none of the state's keys
tdm_assert_fails "the state lists keys the token lacks" ctl_b archive-export --module "$TDM_MODULE" \
	--token "$uriB" --state "$SA" --out "$arch"
tdm_assert_eq "missing keys: exit 3" 3 "$TDM_RC"
for l in example-ksk-1 example-ksk-2 example-zsk-3 example-zsk-4; do
	tdm_assert_grep "missing keys: names $l" "key $l: listed in the key state but not on token siteB" "$TDM_ERR"
done
[ ! -e "$arch" ] || tdm_fail "an archive was written despite the refusals"

# ---- export with the state: exactly example.'s four keys ------------------------------------
tdm_assert_ok "archive-export --state on A" ctl_a archive-export --module "$TDM_MODULE" \
	--token "$uriA" --state "$SA" --out "$arch" --now "$now"
tdm_assert_grep "export: four keys" '^exported 4 key' "$TDM_OUT"
tdm_assert_grep "export: KSK 1 with its real tag" "example\\. ksk 1 example-ksk-1: tag $ksk1, algorithm 8, state active" "$TDM_OUT"
tdm_assert_grep "export: ZSK 4 published" 'example\. zsk 4 example-zsk-4: tag [0-9]+, algorithm 8, state published' "$TDM_OUT"
[ "$(grep -c 'skipped other-.*not in the key state' "$TDM_ERR")" -eq 4 ] ||
	tdm_fail "export: the four keys of other. should be listed as skipped" -- "$TDM_ERR"
[ "$(stat -c %a "$arch")" = 600 ] || tdm_fail "archive is not mode 0600"
tdm_assert_ok "--zone picks the zone" ctl_a archive-export --module "$TDM_MODULE" \
	--token "$uriA" --state "$SA" --zone EXAMPLE --out "$TDM_TMP/zone.archive" --now "$now"
tdm_assert_grep "--zone: four keys" '^exported 4 key' "$TDM_OUT"
tdm_assert_ok "archive-export without the state takes every tandem key" ctl_a archive-export \
	--module "$TDM_MODULE" --token "$uriA" --out "$TDM_TMP/all.archive" --now "$now"
tdm_assert_grep "no state: eight keys" '^exported 8 key' "$TDM_OUT"

# ---- site B: a key state that does not yet know B holds the keys ----------------------------
SB=$TDM_TMP/stateB
mkdir -m 700 "$SB"
ks clear-imported "$SA/keystate.pb" "$SB/keystate.pb"
ks show "$SB/keystate.pb" >"$TDM_TMP/before.txt"
tdm_assert_grep "B's state: nothing imported yet" '^example-ksk-1 0$' "$TDM_TMP/before.txt"
tdm_assert_ok "archive-import --state on B" ctl_b archive-import --module "$TDM_MODULE" \
	--token "$uriB" --state "$SB" "$arch"
tdm_assert_grep "import: four keys" '^imported 4 key' "$TDM_OUT"
tdm_assert_grep "import: KSK 1's metadata" "example-ksk-1: ksk, tag $ksk1, algorithm 8, state active, created 2026-01-01T00:00:00Z, published 2026-01-01T00:00:00Z, active 2026-01-01T00:00:00Z; imported" "$TDM_OUT"
tdm_assert_grep "import: KSK 2 is a published KSK" "example-ksk-2: ksk, tag $ksk2, algorithm 8, state published" "$TDM_OUT"
tdm_assert_grep "import: ZSK 3 is a ZSK" "example-zsk-3: zsk, tag $zsk3, algorithm 8, state active" "$TDM_OUT"
tdm_assert_grep "import: recorded in B's state" 'stateB: 4 key\(s\) recorded as held at this site, 0 already' "$TDM_OUT"
ks show "$SB/keystate.pb" >"$TDM_TMP/after.txt"
[ "$(grep -c ' 1$' "$TDM_TMP/after.txt")" -eq 4 ] ||
	tdm_fail "B's state should record the four keys as imported" -- "$TDM_TMP/after.txt"
tdm_assert_ok "B's state still loads" ctl_b list --state "$SB" --zone example. --now "$now"
tdm_assert_ok "import again: nothing new" ctl_b archive-import --module "$TDM_MODULE" \
	--token "$uriB" --state "$SB" "$arch"
tdm_assert_grep "second import: already present" 'example-ksk-1: ksk.*; already present' "$TDM_OUT"
tdm_assert_grep "second import: already recorded" '0 key\(s\) recorded as held at this site, 4 already' "$TDM_OUT"

# without the state, a KSK travels with flags 256 and the tag of those flags
tdm_assert_ok "import the archive made without the state" ctl_b archive-import \
	--module "$TDM_MODULE" --token "$uriB" "$TDM_TMP/all.archive"
tdm_assert_grep "no-state archive: no metadata" 'example-ksk-1: tag [0-9]+, algorithm 8, no key-state metadata' "$TDM_OUT"
tdm_assert_no_grep "no-state archive: the KSK's tag is not the real one" "example-ksk-1: tag $ksk1," "$TDM_OUT"

# ---- both sites sign the zone alike with the carried keys -----------------------------------
zone=$TDM_TMP/example.zone
cp "$TDM_SRC/conf/example.zone" "$zone"
sign() { # CONF TOKEN PIN OUT
	SOFTHSM2_CONF=$1 tdm_signzone -o example --nsec3 -a rsasha256 --now "$now" \
		--ksk "pkcs11:token=$2;object=example-ksk-1;pin-source=$3" \
		--zsk "pkcs11:token=$2;object=example-zsk-3;pin-source=$3" -f "$4" "$zone"
}
tdm_assert_ok "A signs with example.'s keys" sign "$confA" siteA "$pinA" "$TDM_TMP/a.signed"
tdm_assert_ok "B signs with the imported keys" sign "$confB" siteB "$pinB" "$TDM_TMP/b.signed"
tdm_assert_same_file "A and B sign byte-identically" "$TDM_TMP/a.signed" "$TDM_TMP/b.signed"
