#!/bin/bash
# Two sites, one SMK: a scripted 2-of-3 ceremony installs the SMK on two SoftHSM token stores
# (two SOFTHSM2_CONF dirs, two "sites"); keys generated on site A are exported wrapped under
# the SMK, imported on site B, and the same zone signed on both at the same --now must be
# byte-identical (RSA PKCS#1 v1.5 is deterministic). Also: smk-check agrees on both sites, and
# the command line refuses too few cards, mixed ceremonies, a wrong passphrase, a tampered
# card, a tampered / truncated archive and an archive from another SMK, changing nothing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
tdm_setup "$@"
CEREMONY=$(tdm_bin tandem-ceremony)
CTL=$(tdm_bin tandemctl)
now=$(date +%s)

# ---- the ceremony (offline machine): 3 cards, any 2 install the SMK --------------------------
(umask 077 && printf '%s\n' 'card one passphrase' 'card two passphrase' 'card three passphrase' \
	>"$TDM_TMP/pass")
tdm_assert_ok "smk-new 2-of-3 (drill KDF cost)" \
	"$CEREMONY" smk-new --shares 3 --threshold 2 --out "$TDM_TMP/cards" --kdf-cost 12 --drill \
	--passphrase-file "$TDM_TMP/pass"
check=$(awk '/^check value:/ { print $3 }' "$TDM_OUT")
[ ${#check} -eq 64 ] || tdm_fail "smk-new printed no check value" -- "$TDM_OUT"
for i in 1 2 3; do
	card=$TDM_TMP/cards/card-0$i.tandem-card
	[ -f "$card" ] || tdm_fail "card $i missing"
	[ "$(stat -c %a "$card")" = 600 ] || tdm_fail "card $i is not mode 0600"
done
grep -q 'card one passphrase' "$TDM_TMP"/cards/* && tdm_fail "a passphrase is in a card file"
tdm_assert_fails "smk-new below the KDF floor without --drill" \
	"$CEREMONY" smk-new --shares 2 --threshold 2 --out "$TDM_TMP/weak" --kdf-cost 12 \
	--passphrase-file "$TDM_TMP/pass"
tdm_assert_fails "smk-new refuses to overwrite cards" \
	"$CEREMONY" smk-new --shares 3 --threshold 2 --out "$TDM_TMP/cards" --kdf-cost 12 --drill \
	--passphrase-file "$TDM_TMP/pass"
# cards 2 and 3, so their passphrases are lines 2 and 3
(umask 077 && sed -n '2,3p' "$TDM_TMP/pass" >"$TDM_TMP/pass23")

# a second ceremony, for the "another SMK" and "mixed ceremonies" refusals
tdm_assert_ok "second ceremony (1-of-1)" \
	"$CEREMONY" smk-new --shares 1 --threshold 1 --out "$TDM_TMP/other" --kdf-cost 12 --drill \
	--passphrase-file "$TDM_TMP/pass"

# ---- site B first: the refusals, each leaving the token without an SMK -----------------------
tdm_token "$TDM_TMP/siteB" siteB
confB=$SOFTHSM2_CONF pinB=$TDM_PIN_FILE soB=$TDM_SO_PIN_FILE
uriB="pkcs11:token=siteB;pin-source=$pinB"
install_b() { SOFTHSM2_CONF=$confB "$CEREMONY" smk-install --module "$TDM_MODULE" --token "$uriB" \
	--so-pin-source "$soB" --drill "$@"; }
check_b() { SOFTHSM2_CONF=$confB "$CEREMONY" smk-check --module "$TDM_MODULE" --token "$uriB"; }

tdm_assert_fails "too few cards" install_b --passphrase-file "$TDM_TMP/pass23" \
	"$TDM_TMP/cards/card-02.tandem-card"
tdm_assert_grep "too few cards: says so" 'too few|exactly 2' "$TDM_ERR"
tdm_assert_eq "too few cards: exit 2 (input refused)" 2 "$TDM_RC"
(umask 077 && printf '%s\n' 'card two passphrase' 'card one passphrase' >"$TDM_TMP/pass-mixed")
tdm_assert_fails "cards from two ceremonies" install_b --passphrase-file "$TDM_TMP/pass-mixed" \
	"$TDM_TMP/cards/card-02.tandem-card" "$TDM_TMP/other/card-01.tandem-card"
tdm_assert_grep "mixed ceremonies: says so" 'another ceremony' "$TDM_ERR"
(umask 077 && printf '%s\n' 'card two passphrase' 'not the passphrase' >"$TDM_TMP/pass-wrong")
tdm_assert_fails "wrong passphrase" install_b --passphrase-file "$TDM_TMP/pass-wrong" \
	"$TDM_TMP/cards/card-02.tandem-card" "$TDM_TMP/cards/card-03.tandem-card"
tdm_assert_grep "wrong passphrase: names the card" 'card 3: wrong passphrase' "$TDM_ERR"
tdm_assert_eq "wrong passphrase: exit 4 (refused by a check)" 4 "$TDM_RC"
tampered=$TDM_TMP/card-03.tampered
python3 - "$TDM_TMP/cards/card-03.tandem-card" "$tampered" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[-5] ^= 0x01  # inside the sealed share
open(sys.argv[2], "wb").write(data)
PY
tdm_assert_fails "tampered card" install_b --passphrase-file "$TDM_TMP/pass23" \
	"$TDM_TMP/cards/card-02.tandem-card" "$tampered"
tdm_assert_grep "tampered card: says so" 'altered|wrong passphrase' "$TDM_ERR"
tdm_assert_eq "tampered card: exit 4" 4 "$TDM_RC"
chmod 644 "$TDM_TMP/pass23"
tdm_assert_fails "passphrase file readable by others" install_b --passphrase-file "$TDM_TMP/pass23" \
	"$TDM_TMP/cards/card-02.tandem-card" "$TDM_TMP/cards/card-03.tandem-card"
chmod 600 "$TDM_TMP/pass23"
tdm_assert_fails "still no SMK on site B" check_b

# ---- the SMK on both sites -------------------------------------------------------------------
tdm_assert_ok "install on site B (cards 2 and 3)" install_b --passphrase-file "$TDM_TMP/pass23" \
	"$TDM_TMP/cards/card-02.tandem-card" "$TDM_TMP/cards/card-03.tandem-card"
tdm_assert_grep "install prints the check value" "$check" "$TDM_OUT"
tdm_assert_fails "a second install is refused" install_b --passphrase-file "$TDM_TMP/pass23" \
	"$TDM_TMP/cards/card-02.tandem-card" "$TDM_TMP/cards/card-03.tandem-card"
tdm_assert_grep "second install: same SMK, nothing to do" 'same check value' "$TDM_ERR"

tdm_token "$TDM_TMP/siteA" siteA
confA=$SOFTHSM2_CONF pinA=$TDM_PIN_FILE soA=$TDM_SO_PIN_FILE
uriA="pkcs11:token=siteA;pin-source=$pinA"
check_a() { SOFTHSM2_CONF=$confA "$CEREMONY" smk-check --module "$TDM_MODULE" --token "$uriA"; }
tdm_assert_ok "install on site A (cards 1 and 2)" \
	env SOFTHSM2_CONF="$confA" "$CEREMONY" smk-install --module "$TDM_MODULE" --token "$uriA" \
	--so-pin-source "$soA" --drill --passphrase-file "$TDM_TMP/pass" \
	"$TDM_TMP/cards/card-01.tandem-card" "$TDM_TMP/cards/card-02.tandem-card"
tdm_assert_ok "smk-check on A" check_a
checkA=$(awk '{ print $NF }' "$TDM_OUT")
tdm_assert_ok "smk-check on B" check_b
checkB=$(awk '{ print $NF }' "$TDM_OUT")
tdm_assert_eq "smk-check: A equals the ceremony" "$check" "$checkA"
tdm_assert_eq "smk-check: B equals A" "$checkA" "$checkB"

# ---- keys on A, archive, import on B ---------------------------------------------------------
zone=$TDM_TMP/example.zone
cp "$TDM_SRC/conf/example.zone" "$zone"
sign() { # CONF PINFILE TOKEN OUT [ARGS...]
	local conf=$1 pin=$2 tok=$3 out=$4
	shift 4
	SOFTHSM2_CONF=$conf tdm_signzone -o example --nsec3 -a rsasha256 --now "$now" \
		--ksk "pkcs11:token=$tok;object=ksk-example;pin-source=$pin" \
		--zsk "pkcs11:token=$tok;object=zsk-example;pin-source=$pin" "$@" -f "$out" "$zone"
}
tdm_assert_ok "site A generates keys and signs" sign "$confA" "$pinA" siteA "$TDM_TMP/a.signed" --gen-keys
tdm_assert_ok "site A: a 2nd ZSK for rsasha512 (algorithm kept through the archive)" \
	env SOFTHSM2_CONF="$confA" "$TDM_SIGNZONE" --module "$TDM_MODULE" -o example -a rsasha512 \
	--now "$now" --ksk "pkcs11:token=siteA;object=ksk512;pin-source=$pinA" \
	--zsk "pkcs11:token=siteA;object=zsk512;pin-source=$pinA" --gen-keys \
	-f "$TDM_TMP/a512.signed" "$zone"
tdm_assert_fails "site B cannot sign yet" sign "$confB" "$pinB" siteB "$TDM_TMP/b.signed"

archive=$TDM_TMP/keys.archive
tdm_assert_ok "archive-export on A" \
	env SOFTHSM2_CONF="$confA" "$CTL" keys archive-export --module "$TDM_MODULE" --token "$uriA" \
	--out "$archive"
tdm_assert_grep "export: four keys" 'exported 4 key' "$TDM_OUT"
[ "$(stat -c %a "$archive")" = 600 ] || tdm_fail "archive is not mode 0600"
tdm_assert_fails "archive-export --zone needs --state" \
	env SOFTHSM2_CONF="$confA" "$CTL" keys archive-export --module "$TDM_MODULE" --token "$uriA" \
	--out "$TDM_TMP/x.archive" --zone example
[ ! -e "$TDM_TMP/x.archive" ] || tdm_fail "archive-export --zone without --state wrote an archive"

import_b() { SOFTHSM2_CONF=$confB "$CTL" keys archive-import --module "$TDM_MODULE" --token "$uriB" "$1"; }

# refusals first: each must leave B unable to sign
size=$(stat -c %s "$archive")
head -c $((size - 7)) "$archive" >"$TDM_TMP/truncated.archive"
tdm_assert_fails "truncated archive" import_b "$TDM_TMP/truncated.archive"
tdm_assert_eq "truncated archive: exit 2" 2 "$TDM_RC"
python3 - "$archive" "$TDM_TMP/tampered.archive" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0x01  # inside some key's wrapped bytes or metadata
open(sys.argv[2], "wb").write(data)
PY
tdm_assert_fails "tampered archive" import_b "$TDM_TMP/tampered.archive"
tdm_assert_grep "tampered archive: says so" 'altered|tampered' "$TDM_ERR"
tdm_assert_eq "tampered archive: exit 4" 4 "$TDM_RC"

tdm_token "$TDM_TMP/siteC" siteC
confC=$SOFTHSM2_CONF
uriC="pkcs11:token=siteC;pin-source=$TDM_PIN_FILE"
tdm_assert_ok "site C gets the other ceremony's SMK" \
	env SOFTHSM2_CONF="$confC" "$CEREMONY" smk-install --module "$TDM_MODULE" --token "$uriC" \
	--so-pin-source "$TDM_SO_PIN_FILE" --drill --passphrase-file "$TDM_TMP/pass" \
	"$TDM_TMP/other/card-01.tandem-card"
tdm_assert_fails "archive from another SMK" \
	env SOFTHSM2_CONF="$confC" "$CTL" keys archive-import --module "$TDM_MODULE" --token "$uriC" "$archive"
tdm_assert_grep "another SMK: says so" 'another SMK' "$TDM_ERR"
tdm_assert_eq "another SMK: exit 4" 4 "$TDM_RC"
tdm_assert_fails "nothing imported on C" \
	env SOFTHSM2_CONF="$confC" "$TDM_SIGNZONE" --module "$TDM_MODULE" -o example --now "$now" \
	--ksk "pkcs11:token=siteC;object=ksk-example;pin-source=$TDM_PIN_FILE" \
	--zsk "pkcs11:token=siteC;object=zsk-example;pin-source=$TDM_PIN_FILE" -f "$TDM_TMP/c.signed" "$zone"
tdm_assert_fails "site B still cannot sign after the refusals" sign "$confB" "$pinB" siteB "$TDM_TMP/b.signed"

tdm_assert_ok "archive-import on B" import_b "$archive"
tdm_assert_grep "import: four keys" 'imported 4 key' "$TDM_OUT"
tdm_assert_ok "archive-import again skips them all" import_b "$archive"
tdm_assert_grep "second import: skipped" 'imported 0 key.*4 already present' "$TDM_OUT"

# ---- the test that matters: same zone, same time, byte-identical ----------------------------
tdm_assert_ok "site B signs with the imported keys" sign "$confB" "$pinB" siteB "$TDM_TMP/b.signed"
tdm_assert_same_file "A and B sign byte-identically" "$TDM_TMP/a.signed" "$TDM_TMP/b.signed"
tdm_assert_ok "site B signs with the rsasha512 keys" \
	env SOFTHSM2_CONF="$confB" "$TDM_SIGNZONE" --module "$TDM_MODULE" -o example -a rsasha512 \
	--now "$now" --ksk "pkcs11:token=siteB;object=ksk512;pin-source=$pinB" \
	--zsk "pkcs11:token=siteB;object=zsk512;pin-source=$pinB" -f "$TDM_TMP/b512.signed" "$zone"
tdm_assert_same_file "rsasha512: A and B sign byte-identically" "$TDM_TMP/a512.signed" "$TDM_TMP/b512.signed"
tdm_validate example "$TDM_TMP/b.signed" "site B's zone"

# B can pass the keys on: its imported keys are archivable under the same SMK
tdm_assert_ok "archive-export on B" \
	env SOFTHSM2_CONF="$confB" "$CTL" keys archive-export --module "$TDM_MODULE" --token "$uriB" \
	--out "$TDM_TMP/fromB.archive"
tdm_assert_grep "export from B: four keys" 'exported 4 key' "$TDM_OUT"
