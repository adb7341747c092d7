/* Writes the fuzz targets' seed corpora (tests/fuzz/corpus/NAME/) from real messages made by
 * tandem's own packers and encoders, so that a seed is what a peer or a file really holds:
 *   fuzz_make_seeds SRCDIR OUTDIR
 * The text seeds (zone, config, policy files) are copied from SRCDIR's conf/ and
 * integration/data/. Every key and passphrase here is a test-only constant, never a
 * secret; the wrapped keys and MACs are random bytes. docs/fuzzing.md says when to rerun it. */
#include "archive.h"
#include "archive.pb-c.h"
#include "audit_log.h"
#include "coordrpc.h"
#include "coordrpc_audit.h"
#include "crypto.h"
#include "kasp_skr.h"
#include "tandem_error.h"

#include <errno.h>
#include <ldns/ldns.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FUZZ_CARD_PASS   "fuzz-test-only-passphrase"
#define FUZZ_TSIG_SECRET "ZnV6ei10ZXN0LW9ubHktdHNpZy1zZWNyZXQtMDAwMSE="
#define FUZZ_NOTIFY_ID   0x4e46

static const char *g_out;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_make_seeds: %s\n", what);
	exit(1);
}

/* Writes OUT/target/name: an optional prefix byte (prefix < 0: none), then data. */
static void seed(const char *target, const char *name, int prefix, const void *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", g_out, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		die(path);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", g_out, target, name);
	FILE *fp = fopen(path, "wb");
	if (fp == NULL) {
		die(path);
	}
	if (prefix >= 0) {
		fputc(prefix, fp);
	}
	if (len > 0 && fwrite(data, 1, len, fp) != len) {
		die(path);
	}
	fclose(fp);
}

/* A file of the source tree as a seed. */
static void seed_file(const char *src, const char *rel, const char *target, const char *name,
		      int prefix)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", src, rel);
	FILE *fp = fopen(path, "rb");
	if (fp == NULL) {
		die(path);
	}
	char *buf = malloc(1 << 20);
	size_t n = buf != NULL ? fread(buf, 1, (1 << 20) - 1, fp) : 0;
	fclose(fp);
	seed(target, name, prefix, buf, n);
	free(buf);
}

/* ---- coordrpc ---- */

static void rpc_request(coordrpc_kind_t kind, const char *name, void (*fill)(coordrpc_request_t *))
{
	coordrpc_request_t *r = calloc(1, sizeof(*r));
	r->kind = kind;
	snprintf(r->node, sizeof(r->node), "node-a1");
	snprintf(r->zone, sizeof(r->zone), "example.");
	snprintf(r->instance, sizeof(r->instance), "0123456789abcdef0123456789abcdef");
	r->site = 1;
	r->epoch = 7;
	r->serial = 2026120701;
	if (fill != NULL) {
		fill(r);
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	if (coordrpc_request_pack(r, &buf, &len) != TANDEM_OK) {
		die(name);
	}
	seed("coordrpc", name, (int)kind, buf, len);
	free(buf);
	free(r);
}

static void fill_register(coordrpc_request_t *r)
{
	r->healthy = true;
	snprintf(r->publish, sizeof(r->publish), "/var/lib/tandem/out");
	snprintf(r->metrics, sizeof(r->metrics), "http://127.0.0.1:9153/metrics");
	r->nalerts = 1;
	snprintf(r->alerts[0].zone, sizeof(r->alerts[0].zone), "example.");
	snprintf(r->alerts[0].kind, sizeof(r->alerts[0].kind), "input-missing");
	snprintf(r->alerts[0].text, sizeof(r->alerts[0].text), "no input file");
}

static void fill_commit(coordrpc_request_t *r)
{
	for (size_t i = 0; i < sizeof(r->digest); i++) {
		r->digest[i] = (uint8_t)i;
	}
	r->sign_time = 1796601600;
	r->nsec3 = true;
	r->salt_len = 4;
	memcpy(r->salt, "\xab\xcd\xef\x01", 4);
	r->input_serial = 2026120700;
	r->base_serial = 2026120699;
	r->keyset_revision = 3;
}

static void fill_key_add(coordrpc_request_t *r)
{
	static uint8_t archive[40] = {8, 1, 18, 4, 't', 'e', 's', 't'};
	r->key_id = 4;
	r->key_tag = 12345;
	r->archive = archive; /* borrowed: not deinit'd */
	r->archive_len = sizeof(archive);
}

static void fill_keyset_put(coordrpc_request_t *r)
{
	static uint8_t ks[16] = {8, 1, 18, 8, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.'};
	r->keyset = ks;
	r->keyset_len = sizeof(ks);
	r->revision = 2;
}

static void fill_switchover(coordrpc_request_t *r)
{
	snprintf(r->target, sizeof(r->target), "node-b1");
}

static void fill_zone_add(coordrpc_request_t *r)
{
	r->compare_digests = true;
	r->has_serial = true;
}

static void fill_params(coordrpc_request_t *r)
{
	r->lease_ms = 30000;
	r->margin_ms = 5000;
}

static void fill_request_create(coordrpc_request_t *r)
{
	snprintf(r->action, sizeof(r->action), "takeover");
	snprintf(r->args, sizeof(r->args), "site=2 force=1");
	r->ttl_ms = 3600000;
}

static void fill_request_approve(coordrpc_request_t *r)
{
	snprintf(r->req_id, sizeof(r->req_id), "0123456789abcdef");
	r->has_sig = true;
	memset(r->pub, 0x11, sizeof(r->pub));
	memset(r->sig, 0x22, sizeof(r->sig));
}

static void fill_bootstrap(coordrpc_request_t *r)
{
	static char doc[] = "{\"roles\":{\"security-officer\":[\"alice\"]}}";
	r->doc = (uint8_t *)doc;
	r->doc_len = strlen(doc);
}

static void seeds_coordrpc(void)
{
	rpc_request(COORDRPC_REGISTER, "register", fill_register);
	rpc_request(COORDRPC_HEARTBEAT, "heartbeat", fill_register);
	rpc_request(COORDRPC_LEASE_REQUEST, "lease-request", NULL);
	rpc_request(COORDRPC_LEASE_RENEW, "lease-renew", NULL);
	rpc_request(COORDRPC_COMMIT, "commit", fill_commit);
	rpc_request(COORDRPC_DIGEST_REPORT, "digest-report", fill_commit);
	rpc_request(COORDRPC_KEY_ADD, "key-add", fill_key_add);
	rpc_request(COORDRPC_KEY_ACK, "key-ack", fill_key_add);
	rpc_request(COORDRPC_STATUS, "status", NULL);
	rpc_request(COORDRPC_ZONE_ADD, "zone-add", fill_zone_add);
	rpc_request(COORDRPC_SWITCHOVER, "switchover", fill_switchover);
	rpc_request(COORDRPC_TAKEOVER, "takeover", NULL);
	rpc_request(COORDRPC_KEYSET_PUT, "keyset-put", fill_keyset_put);
	rpc_request(COORDRPC_PARAMS_SET, "params-set", fill_params);
	rpc_request(COORDRPC_KEY_PURGE, "key-purge", fill_key_add);
	rpc_request(COORDRPC_REQUEST_CREATE, "request-create", fill_request_create);
	rpc_request(COORDRPC_REQUEST_APPROVE, "request-approve", fill_request_approve);
	rpc_request(COORDRPC_OPERATORS_BOOTSTRAP, "operators-bootstrap", fill_bootstrap);
	rpc_request(COORDRPC_ZONE_APPROVE, "zone-approve", NULL);

	/* replies: the target's picks after the request kinds */
	int pick = COORDRPC_KIND_LAST + 1;
	uint8_t *buf = NULL;
	size_t len = 0;
	coordrpc_decision_t dec;
	memset(&dec, 0, sizeof(dec));
	dec.accepted = true;
	dec.epoch = 8;
	dec.expiry_ms = 1796601630000;
	dec.neffects = 1;
	snprintf(dec.effects[0], sizeof(dec.effects[0]), "lease granted");
	snprintf(dec.text, sizeof(dec.text), "ok");
	if (coordrpc_decision_pack(&dec, &buf, &len) != TANDEM_OK) {
		die("decision");
	}
	seed("coordrpc", "decision", pick, buf, len);
	free(buf);

	coordrpc_status_t *st = calloc(1, sizeof(*st));
	st->now_ms = 1796601600000;
	snprintf(st->coordinator, sizeof(st->coordinator), "coord-a");
	snprintf(st->leader, sizeof(st->leader), "coord-a");
	st->nnodes = 1;
	snprintf(st->nodes[0].name, sizeof(st->nodes[0].name), "node-a1");
	st->nodes[0].site = 1;
	st->nodes[0].healthy = true;
	st->nzones = 1;
	coordrpc_zone_status_t *z = &st->zones[0];
	snprintf(z->name, sizeof(z->name), "example.");
	snprintf(z->holder, sizeof(z->holder), "node-a1");
	z->epoch = 8;
	z->has_committed = true;
	z->serial = 2026120701;
	z->nkeys = 1;
	z->keys[0].id = 1;
	z->keys[0].tag = 12345;
	z->keys[0].active = true;
	z->keys[0].nacks = 1;
	snprintf(z->keys[0].acks[0], sizeof(z->keys[0].acks[0]), "node-a1");
	if (coordrpc_status_pack(st, &buf, &len) != TANDEM_OK) {
		die("status");
	}
	seed("coordrpc", "status-reply", pick + 1, buf, len);
	free(buf);
	free(st);

	coordrpc_keys_t *keys = calloc(1, sizeof(*keys));
	static uint8_t archive[24] = {8, 1};
	snprintf(keys->zone, sizeof(keys->zone), "example.");
	keys->nkeys = 1;
	keys->keys[0].id = 1;
	keys->keys[0].tag = 12345;
	keys->keys[0].archive = archive;
	keys->keys[0].archive_len = sizeof(archive);
	if (coordrpc_keys_pack(keys, &buf, &len) != TANDEM_OK) {
		die("keys");
	}
	seed("coordrpc", "keys-reply", pick + 2, buf, len);
	free(buf);
	free(keys);

	coordrpc_keyset_t ks;
	memset(&ks, 0, sizeof(ks));
	static uint8_t keyset[12] = {8, 1};
	snprintf(ks.zone, sizeof(ks.zone), "example.");
	ks.keyset = keyset;
	ks.keyset_len = sizeof(keyset);
	ks.revision = 4;
	if (coordrpc_keyset_pack(&ks, &buf, &len) != TANDEM_OK) {
		die("keyset");
	}
	seed("coordrpc", "keyset-reply", pick + 3, buf, len);
	free(buf);

	if (coordrpc_audit_get_pack(17, 100, &buf, &len) != TANDEM_OK) {
		die("audit get");
	}
	seed("coordrpc", "audit-get", pick + 4, buf, len);
	free(buf);
}

/* ---- audit ---- */

/* test-only anchor key seed (fuzz_audit.c holds its public half) */
static const uint8_t audit_seed[AUDIT_KEY_LEN] = "fuzz-test-only-audit-anchor-key";

static void seeds_audit(void)
{
	audit_entry_t e[4];
	char lines[4][AUDIT_LINE_MAX + 1];
	size_t lens[4];
	uint8_t prev[AUDIT_HASH_LEN] = {0};
	static const char *types[] = {"lease.grant", "key.generate", "request.approve"};
	audit_signer_t *signer = NULL;
	if (audit_signer_new(audit_seed, &signer) != TANDEM_OK) {
		die("audit signer");
	}
	for (int i = 0; i < 4; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		if (i < 3) {
			e[i].time_ms = 1796601600000 + (uint64_t)i * 1000;
			snprintf(e[i].coord, sizeof(e[i].coord), "coord-a");
			snprintf(e[i].actor, sizeof(e[i].actor),
				 i == 2 ? "operator:alice" : "node-a1");
			snprintf(e[i].type, sizeof(e[i].type), "%s", types[i]);
			e[i].level = (tandem_audit_level_t)i;
			snprintf(e[i].zone, sizeof(e[i].zone), "example.");
			e[i].key_id = i == 1 ? 3 : -1;
			snprintf(e[i].details, sizeof(e[i].details), "serial=%d epoch=%d",
				 2026120700 + i, i + 1);
		} else if (audit_anchor_make(signer, "coord-a", 1796601604000, 3, prev, &e[i]) !=
			   TANDEM_OK) {
			die("audit anchor");
		}
		if (audit_entry_seal(&e[i], (uint64_t)i + 1, prev) != TANDEM_OK ||
		    audit_entry_encode(&e[i], lines[i], sizeof(lines[i]), &lens[i]) != TANDEM_OK) {
			die("audit entry");
		}
		memcpy(prev, e[i].hash, sizeof(prev));
	}
	char chain[4 * (AUDIT_LINE_MAX + 1)];
	size_t n = 0;
	for (int i = 0; i < 4; i++) {
		memcpy(chain + n, lines[i], lens[i]);
		n += lens[i];
		chain[n++] = '\n';
	}
	seed("audit", "entry", -1, lines[1], lens[1]);
	seed("audit", "chain-anchored", -1, chain, n);
	seed("audit", "chain-excerpt", -1, chain + lens[0] + 1, n - lens[0] - 1);
	uint8_t pub[AUDIT_KEY_LEN];
	char hex[2 * AUDIT_KEY_LEN + 1], kr[256];
	audit_signer_public(signer, pub);
	int kn = snprintf(kr, sizeof(kr), "# audit public keys\nfuzz-coord %s\n",
			  audit_hex(pub, sizeof(pub), hex));
	seed("audit", "keyring", -1, kr, (size_t)kn);
	printf("audit anchor public key: %s\n", hex);
	audit_signer_free(signer);
}

/* ---- cards and archives ---- */

static void seeds_cards(void)
{
	const char *pass[3] = {FUZZ_CARD_PASS, FUZZ_CARD_PASS, FUZZ_CARD_PASS};
	uint8_t *cards[3];
	size_t lens[3];
	archive_card_info_t info;
	tandem_diag_t *diag = NULL;
	if (tandem_diag_new(&diag) != TANDEM_OK ||
	    archive_ceremony_new(3, 2, ARCHIVE_KDF_MIN, 1796601600, pass, diag, cards, lens,
				 &info) != TANDEM_OK) {
		die("ceremony");
	}
	for (int i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof(name), "card-%d-of-3", i + 1);
		seed("card", name, -1, cards[i], lens[i]);
		free(cards[i]);
	}
	tandem_diag_free(diag);
}

static void fake_dnskey(uint16_t flags, uint8_t n, uint8_t *out, size_t *len)
{
	out[0] = (uint8_t)(flags >> 8);
	out[1] = (uint8_t)flags;
	out[2] = 3;
	out[3] = 8; /* RSASHA256 */
	out[4] = 3; /* exponent length */
	out[5] = 1;
	out[6] = 0;
	out[7] = 1;
	for (size_t i = 8; i < 72; i++) {
		out[i] = (uint8_t)(n * 31 + i);
	}
	out[8] |= 0x80;
	*len = 72;
}

static void seeds_archive(void)
{
	uint8_t dnskey[2][72], wrapped[2][40], id[2][8], check[32], mac[32];
	size_t dlen = 0;
	Tandem__ArchiveKey k[2];
	Tandem__ArchiveKey *kp[2] = {&k[0], &k[1]};
	static const char *labels[2] = {"example.-ksk-1", "example.-zsk-2"};
	for (int i = 0; i < 2; i++) {
		tandem__archive_key__init(&k[i]);
		fake_dnskey(i == 0 ? 257 : 256, (uint8_t)i, dnskey[i], &dlen);
		memset(wrapped[i], 0x5a + i, sizeof(wrapped[i]));
		memset(id[i], 0x10 + i, sizeof(id[i]));
		k[i].label = (char *)labels[i];
		k[i].id = (ProtobufCBinaryData){sizeof(id[i]), id[i]};
		k[i].algorithm = 8;
		k[i].bits = 2048;
		k[i].role = i == 0 ? TANDEM__ARCHIVE_ROLE__ARCHIVE_ROLE_KSK
				   : TANDEM__ARCHIVE_ROLE__ARCHIVE_ROLE_ZSK;
		k[i].state = "active";
		k[i].created = 1796601600;
		k[i].active = 1796601600;
		k[i].dnskey = (ProtobufCBinaryData){dlen, dnskey[i]};
		k[i].key_tag = crypto_key_tag(dnskey[i], dlen);
		k[i].wrapped = (ProtobufCBinaryData){sizeof(wrapped[i]), wrapped[i]};
	}
	memset(check, 0xc4, sizeof(check));
	memset(mac, 0x3a, sizeof(mac));
	Tandem__ArchivePayload p = TANDEM__ARCHIVE_PAYLOAD__INIT;
	p.version = 1;
	p.smk_check = (ProtobufCBinaryData){sizeof(check), check};
	p.created = 1796601600;
	p.source_token = "site-a";
	p.n_keys = 2;
	p.keys = kp;
	uint8_t pbuf[4096], abuf[4200];
	size_t plen = tandem__archive_payload__pack(&p, pbuf);
	Tandem__Archive a = TANDEM__ARCHIVE__INIT;
	a.version = 1;
	a.payload = (ProtobufCBinaryData){plen, pbuf};
	a.mac = (ProtobufCBinaryData){sizeof(mac), mac};
	size_t alen = tandem__archive__pack(&a, abuf);
	seed("archive", "two-keys", -1, abuf, alen);
	p.n_keys = 0;
	plen = tandem__archive_payload__pack(&p, pbuf);
	a.payload = (ProtobufCBinaryData){plen, pbuf};
	alen = tandem__archive__pack(&a, abuf);
	seed("archive", "empty", -1, abuf, alen);
}

/* ---- SKR ---- */

static void seeds_skr(void)
{
	kasp_skr_t *skr = calloc(1, sizeof(*skr));
	snprintf(skr->zone, sizeof(skr->zone), "example.");
	memset(skr->request_id, 0x42, sizeof(skr->request_id));
	skr->created = 1796601600;
	skr->nslots = 3;
	for (size_t s = 0; s < skr->nslots; s++) {
		kasp_skr_slot_t *sl = &skr->slots[s];
		sl->start = 1797000000 + s * 864000;
		sl->end = sl->start + 864000;
		sl->inception = (uint32_t)sl->start - 3600;
		sl->expiration = (uint32_t)sl->end + 432000;
		sl->ttl = 3600;
		size_t len = 0;
		fake_dnskey(256, (uint8_t)(10 + s), sl->keys[0].data, &len);
		sl->keys[0].len = (uint16_t)len;
		fake_dnskey(257, 1, sl->keys[1].data, &len);
		sl->keys[1].len = (uint16_t)len;
		sl->nkeys = 2;
		sl->signers[0] = 1;
		sl->nsigners = 1;
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	if (kasp_skr_encode(skr, &buf, &len) != TANDEM_OK) {
		die("ksr");
	}
	seed("skr", "request", 0, buf, len);
	uint8_t sha[32];
	kasp_skr_sha256(buf, len, sha);
	free(buf);
	skr->response = true;
	memcpy(skr->request_sha256, sha, sizeof(sha));
	for (size_t s = 0; s < skr->nslots; s++) {
		kasp_skr_slot_t *sl = &skr->slots[s];
		/* an RRSIG RDATA: DNSKEY, alg 8, 1 label, TTL, expiration, inception, tag,
		 * signer example., a fake signature */
		uint8_t *r = sl->sigs[0].data;
		size_t n = 0;
		r[n++] = 0;
		r[n++] = 48;
		r[n++] = 8;
		r[n++] = 1;
		uint32_t v[3] = {3600, sl->expiration, sl->inception};
		for (int i = 0; i < 3; i++) {
			r[n++] = (uint8_t)(v[i] >> 24);
			r[n++] = (uint8_t)(v[i] >> 16);
			r[n++] = (uint8_t)(v[i] >> 8);
			r[n++] = (uint8_t)v[i];
		}
		uint16_t tag = crypto_key_tag(sl->keys[1].data, sl->keys[1].len);
		r[n++] = (uint8_t)(tag >> 8);
		r[n++] = (uint8_t)tag;
		memcpy(r + n,
		       "\x07"
		       "example\x00",
		       9);
		n += 9;
		memset(r + n, 0x77, 256);
		n += 256;
		sl->sigs[0].len = (uint16_t)n;
		sl->nsigs = 1;
	}
	if (kasp_skr_encode(skr, &buf, &len) != TANDEM_OK) {
		die("skr");
	}
	seed("skr", "response", 1, buf, len);
	free(buf);
	free(skr);
}

/* ---- DNS messages ---- */

static void pkt_seed(const char *target, const char *name, int prefix, ldns_pkt *p)
{
	uint8_t *wire = NULL;
	size_t len = 0;
	if (ldns_pkt2wire(&wire, p, &len) != LDNS_STATUS_OK) {
		die(name);
	}
	seed(target, name, prefix, wire, len);
	free(wire);
	ldns_pkt_free(p);
}

static ldns_pkt *query(const char *zone, ldns_rr_type t, ldns_rr_class c)
{
	ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str(zone), t, c, 0);
	if (p == NULL) {
		die("query");
	}
	ldns_pkt_set_id(p, 0x1234);
	return p;
}

static void push_soa(ldns_pkt *p, ldns_pkt_section s, unsigned serial)
{
	char text[128];
	ldns_rr *rr = NULL;
	snprintf(text, sizeof(text),
		 "example. 3600 IN SOA ns1.example. hostmaster.example. %u "
		 "7200 3600 1209600 300",
		 serial);
	if (ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) != LDNS_STATUS_OK ||
	    !ldns_pkt_push_rr(p, s, rr)) {
		die("soa");
	}
}

static void seeds_xfr(void)
{
	pkt_seed("xfr", "soa", -1, query("example.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN));
	pkt_seed("xfr", "axfr", -1, query("example.", LDNS_RR_TYPE_AXFR, LDNS_RR_CLASS_IN));
	ldns_pkt *p = query("example.", LDNS_RR_TYPE_IXFR, LDNS_RR_CLASS_IN);
	push_soa(p, LDNS_SECTION_AUTHORITY, 1);
	pkt_seed("xfr", "ixfr-from-1", -1, p);
	p = query("example.", LDNS_RR_TYPE_IXFR, LDNS_RR_CLASS_IN);
	push_soa(p, LDNS_SECTION_AUTHORITY, 0);
	pkt_seed("xfr", "ixfr-unknown-serial", -1, p);
	pkt_seed("xfr", "axfr-other-zone", -1,
		 query("example.org.", LDNS_RR_TYPE_AXFR, LDNS_RR_CLASS_IN));
	pkt_seed("xfr", "soa-class-ch", -1, query("example.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_CH));
	p = query("example.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN);
	ldns_pkt_set_opcode(p, LDNS_PACKET_NOTIFY);
	push_soa(p, LDNS_SECTION_ANSWER, 3);
	pkt_seed("xfr", "notify", -1, p);
	p = query("example.", LDNS_RR_TYPE_AXFR, LDNS_RR_CLASS_IN);
	if (ldns_pkt_tsig_sign(p, "fuzz-key.", FUZZ_TSIG_SECRET, 300, "hmac-sha256.", NULL) !=
	    LDNS_STATUS_OK) {
		die("tsig");
	}
	pkt_seed("xfr", "axfr-tsig", -1, p);
	p = query("example.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN);
	if (ldns_pkt_tsig_sign(p, "other-key.", FUZZ_TSIG_SECRET, 300, "hmac-sha256.", NULL) !=
	    LDNS_STATUS_OK) {
		die("tsig");
	}
	pkt_seed("xfr", "soa-tsig-badkey", -1, p);
	/* the id's low bits pick the server and the address (fuzz_xfr.c) */
	p = query("example.", LDNS_RR_TYPE_AXFR, LDNS_RR_CLASS_IN);
	ldns_pkt_set_id(p, 0x1235);
	pkt_seed("xfr", "axfr-strict-unsigned", -1, p);
	p = query("example.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN);
	ldns_pkt_set_id(p, 0x1236);
	pkt_seed("xfr", "soa-v6-unsigned", -1, p);
	p = query("example.", LDNS_RR_TYPE_IXFR, LDNS_RR_CLASS_IN);
	ldns_pkt_set_id(p, 0x1237);
	push_soa(p, LDNS_SECTION_AUTHORITY, 1);
	if (ldns_pkt_tsig_sign(p, "fuzz-key.", FUZZ_TSIG_SECRET, 300, "hmac-sha256.", NULL) !=
	    LDNS_STATUS_OK) {
		die("tsig");
	}
	pkt_seed("xfr", "ixfr-strict-v6-tsig", -1, p);
	/* id & 0x8000: fuzz_xfr.c signs these afresh */
	p = query("example.", LDNS_RR_TYPE_AXFR, LDNS_RR_CLASS_IN);
	ldns_pkt_set_id(p, 0x9237);
	pkt_seed("xfr", "axfr-resigned-strict-v6", -1, p);
	p = query("example.", LDNS_RR_TYPE_IXFR, LDNS_RR_CLASS_IN);
	ldns_pkt_set_id(p, 0x9235);
	push_soa(p, LDNS_SECTION_AUTHORITY, 1);
	pkt_seed("xfr", "ixfr-resigned-strict", -1, p);
	p = query("example.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN);
	ldns_pkt_set_id(p, 0x9234);
	pkt_seed("xfr", "soa-resigned", -1, p);
}

static void seeds_notify_answer(void)
{
	static const uint8_t mac[32] = {0x4e, 0x46, 1, 2, 3, 4, 5, 6, 7, 8};
	for (int signed_ = 0; signed_ < 2; signed_++) {
		for (int rcode = 0; rcode < 6; rcode += 5) {
			ldns_pkt *p = query("example.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN);
			ldns_pkt_set_id(p, FUZZ_NOTIFY_ID);
			ldns_pkt_set_opcode(p, LDNS_PACKET_NOTIFY);
			ldns_pkt_set_qr(p, true);
			ldns_pkt_set_aa(p, true);
			ldns_pkt_set_rcode(p, (uint8_t)rcode);
			if (signed_) {
				ldns_rdf *m = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA,
								    sizeof(mac), mac);
				if (ldns_pkt_tsig_sign(p, "fuzz-key.", FUZZ_TSIG_SECRET, 300,
						       "hmac-sha256.", m) != LDNS_STATUS_OK) {
					die("tsig");
				}
				ldns_rdf_deep_free(m);
			}
			char name[32];
			snprintf(name, sizeof(name), "%s-rcode-%d", signed_ ? "tsig" : "plain",
				 rcode);
			pkt_seed("notify_answer", name, signed_, p);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: fuzz_make_seeds SRCDIR OUTDIR\n");
		return 2;
	}
	const char *src = argv[1];
	g_out = argv[2];
	if (mkdir(g_out, 0755) != 0 && errno != EEXIST) {
		die(g_out);
	}
	seeds_coordrpc();
	seeds_audit();
	seeds_cards();
	seeds_archive();
	seeds_skr();
	seeds_xfr();
	seeds_notify_answer();
	/* text inputs, from the tree: the prefix byte picks the target's mode */
	seed_file(src, "conf/example.zone", "zone", "example-drop", 0);
	seed_file(src, "conf/example.zone", "zone", "example-refuse", 1);
	seed_file(src, "integration/data/occluded.zone", "zone", "occluded", 0x80);
	seed_file(src, "conf/tandemd-a.yaml", "conf", "tandemd-a", 0);
	seed_file(src, "conf/tandem-coord-a.yaml", "conf", "tandem-coord-a", 1);
	seed_file(src, "conf/dps-default.yaml", "policy", "dps-default", -1);
	seed_file(src, "conf/modern.yaml", "policy", "modern", -1);
	seed_file(src, "integration/data/offline-drill-policy.yaml", "policy", "offline-drill", -1);
	return 0;
}
