#!/bin/bash
# tandemd applies the signer-owned rule too (issue 8): a zone feed that appends a foreign
# CDS, CDNSKEY and DNSKEY to the unsigned input does not get them published. The active
# node's next zone after the change holds none of them (its DNSKEY RRset is the key set's,
# and CDS/CDNSKEY, if any, are the key set's own), and dnssec-verify accepts it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=cluster.sh
source "$(dirname "$0")/cluster.sh"
tdm_setup "$@"
tdm_need etcd curl dnssec-keygen dnssec-dsfromkey
Z=example.

tdm_cluster_up --cycle 5
holder=$(tdm_holder $Z)
[ -n "$holder" ] || tdm_fail "nobody holds $Z"
# cluster-up returns once a serial is committed; the holder publishes it after the standby's
# report (compare before publish), a moment later
tdm_wait 90 "$holder's first publication" tdm_published_after "$holder" $Z 0
s1=$(tdm_last_serial "$holder" $Z)

# the feed's own key, and the DS change it would ask the parent for
kfile=$(dnssec-keygen -q -K "$TDM_TMP" -a ECDSAP256SHA256 -f KSK example)
dnskey=$(awk '$4 == "DNSKEY" || $3 == "DNSKEY"' "$TDM_TMP/$kfile.key" | sed -E 's/.*DNSKEY[[:space:]]+//')
cds=$(dnssec-dsfromkey -2 "$TDM_TMP/$kfile.key" | sed -E 's/.*[[:space:]]DS[[:space:]]+//')
if [ -z "$dnskey" ] || [ -z "$cds" ]; then tdm_fail "could not make the foreign DNSKEY/CDS"; fi
keyb64=$(printf '%s' "$dnskey" | awk '{ print $NF }')
digest=$(printf '%s' "$cds" | awk '{ print toupper($NF) }')

for n in node-a node-b; do
	in=$TDM_CL/$n/in/example.zone
	cp "$in" "$TDM_TMP/$n.new"
	{
		printf 'example. 3600 IN CDS %s\n' "$cds"
		printf 'example. 3600 IN CDNSKEY %s\n' "$dnskey"
		printf 'example. 3600 IN DNSKEY %s\n' "$dnskey"
	} >>"$TDM_TMP/$n.new"
	mv "$TDM_TMP/$n.new" "$in" # at once: the node never reads half a file
done
tdm_log "appended a foreign CDS, CDNSKEY and DNSKEY to both nodes' inputs"

tdm_wait 90 "$holder to publish above $s1" tdm_published_after "$holder" $Z "$s1"
# one more: the first may have started before the change
s2=$(tdm_last_serial "$holder" $Z)
tdm_wait 90 "$holder to publish above $s2" tdm_published_after "$holder" $Z "$s2"
tdm_wait 30 "$holder's file to follow" tdm_file_current "$holder" $Z
cp "$TDM_CL/$holder/out/example.zone" "$TDM_TMP/published.zone"
pub=$TDM_TMP/published.zone
if grep -Fq -- "$keyb64" "$pub"; then
	grep -F -- "$keyb64" "$pub" >"$TDM_TMP/hits" || true
	tdm_fail "the foreign key is published" -- "$TDM_TMP/hits"
fi
if tr '[:lower:]' '[:upper:]' <"$pub" | tr -d ' \t' | grep -Fq -- "$digest"; then
	tdm_fail "the foreign CDS is published"
fi
tdm_pass "$holder published no foreign DNSKEY, CDS or CDNSKEY"
tdm_validate_published "$holder" $Z
tdm_pass "the published zone validates"
tdm_check_publications node-a node-b
tdm_cluster_sanitizer_check
