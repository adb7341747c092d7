/* Fuzz target: the transfer server's answer to one message (src/dist/dist_answer.c,
 * dist_handle: SOA, AXFR, IXFR, NOTIFY and anything else a client sends), with no socket:
 * a server with no listen address serves a small zone (serial 2, with the changeset from
 * serial 1 for IXFR) and each input is answered once as a UDP datagram and once on a TCP
 * connection, whose transfer (if one starts) is run to its end. The message id's low bits
 * pick the server and the client's address: an odd id goes to a server that requires TSIG,
 * an even one to a server where it is optional (so the fuzzer reaches the answers); id & 2
 * comes from ::1, which the ACL admits only with the test-only key, else from 127.0.0.1; with
 * id & 0x8000 the harness signs the message afresh with that key (an input cannot carry a
 * TSIG time that stays current), so the signed answers and transfers are fuzzed too. Other
 * signed messages are checked against the key (and fail on the MAC or the time). */
#include "dist.h"
#include "dist_server_internal.h"
#include "dns_diff.h"
#include "dns_zone.h"
#include "fuzz_util.h"
#include "tandem_error.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* test-only TSIG secret (base64 of "fuzz-test-only-tsig-secret-0001!") */
#define FUZZ_TSIG_SECRET "ZnV6ei10ZXN0LW9ubHktdHNpZy1zZWNyZXQtMDAwMSE="

static const char zone_v1[] = "$TTL 3600\n"
			      "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
			      "@ IN NS ns1\n"
			      "ns1 IN A 192.0.2.1\n"
			      "www IN A 192.0.2.10\n"
			      "sub IN NS ns.sub\n"
			      "ns.sub IN A 192.0.2.53\n";
static const char zone_v2[] = "$TTL 3600\n"
			      "@ IN SOA ns1 hostmaster 2 7200 3600 1209600 300\n"
			      "@ IN NS ns1\n"
			      "ns1 IN A 192.0.2.1\n"
			      "www IN A 192.0.2.20\n"
			      "www IN AAAA 2001:db8::20\n"
			      "mail IN MX 10 www\n"
			      "sub IN NS ns.sub\n"
			      "ns.sub IN A 192.0.2.53\n";

static dist_server_t *g_srv, *g_strict;
static dist_key_t *g_key;

static void quiet(void *arg, const char *line)
{
	(void)arg;
	(void)line;
}

static dns_zone_t *load(const char *text)
{
	dns_load_opts_t opts = {.origin = "example."};
	FILE *fp = fmemopen((void *)text, strlen(text), "r");
	tandem_diag_t *diag = NULL;
	dns_zone_t *zone = NULL;
	if (fp == NULL || tandem_diag_new(&diag) != TANDEM_OK ||
	    dns_zone_load_stream(fp, "fuzz.zone", &opts, diag, &zone) != TANDEM_OK) {
		abort();
	}
	tandem_diag_free(diag);
	fclose(fp);
	return zone;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	tandem_diag_t *diag = NULL;
	if (tandem_diag_new(&diag) != TANDEM_OK ||
	    dist_key_new("fuzz-key.", "hmac-sha256", FUZZ_TSIG_SECRET, diag, &g_key) != TANDEM_OK) {
		abort();
	}
	static const dist_key_t *keys[1];
	keys[0] = g_key;
	static const char *const acl[] = {"127.0.0.0/8", "::/0,fuzz-key."};
	dist_conf_t conf = {
	    .keys = keys, .nkeys = 1, .acl = acl, .nacl = 2, .tsig_optional = true, .log = quiet};
	if (dist_server_new(&conf, diag, &g_srv) != TANDEM_OK) {
		abort();
	}
	conf.tsig_optional = false;
	if (dist_server_new(&conf, diag, &g_strict) != TANDEM_OK) {
		abort();
	}
	dns_zone_t *z1 = load(zone_v1), *z2 = load(zone_v2);
	dns_changeset_t *cs = NULL;
	dist_version_t *v = NULL;
	if (dns_zone_diff(z1, z2, &cs) != TANDEM_OK || dist_version_new_take(z2, &v) != TANDEM_OK ||
	    dist_version_add_take(v, cs) != TANDEM_OK ||
	    dist_publish(g_srv, "example.", v) != TANDEM_OK ||
	    dist_publish(g_strict, "example.", v) != TANDEM_OK) {
		abort();
	}
	dist_version_unref(v);
	dns_zone_free(z1);
	tandem_diag_free(diag);
	return 0;
}

/* The message signed afresh with the test-only key (any TSIG it had dropped): *wire
 * malloc'd, or false when ldns cannot parse or sign it. */
static bool resign(const uint8_t *data, size_t size, uint8_t **wire, size_t *len)
{
	ldns_pkt *p = NULL;
	bool ok = false;
	if (ldns_wire2pkt(&p, data, size) != LDNS_STATUS_OK) {
		return false;
	}
	ldns_rr_free(ldns_pkt_tsig(p));
	ldns_pkt_set_tsig(p, NULL);
	ok = ldns_pkt_tsig_sign(p, "fuzz-key.", FUZZ_TSIG_SECRET, 300, "hmac-sha256.", NULL) ==
		 LDNS_STATUS_OK &&
	     ldns_pkt2wire(wire, p, len) == LDNS_STATUS_OK;
	ldns_pkt_free(p);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
	dist_server_t *srv = (id & 1) ? g_strict : g_srv;
	uint8_t *signed_wire = NULL;
	size_t signed_len = 0;
	if ((id & 0x8000) && resign(data, size, &signed_wire, &signed_len)) {
		data = signed_wire;
		size = signed_len;
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (id & 2) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
		a6->sin6_family = AF_INET6;
		a6->sin6_addr = in6addr_loopback;
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
		a4->sin_family = AF_INET;
		a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	const struct sockaddr *addr = (const struct sockaddr *)&ss;
	uint8_t *reply = NULL;
	size_t rlen = 0;

	/* over UDP */
	dist_handle(srv, NULL, data, size, addr, "fuzz", &reply, &rlen);
	free(reply);

	/* over TCP: a transfer that starts is read to its end (a small zone: a few messages) */
	dist_conn_t *c = calloc(1, sizeof(*c));
	if (c != NULL) {
		c->srv = srv;
		dist_handle(srv, c, data, size, addr, "fuzz", &reply, &rlen);
		free(reply);
		if (c->xfr_busy) {
			bool done = false;
			for (unsigned i = 0; i < 64 && !done; i++) {
				const uint8_t *wire = NULL; /* the connection's: not freed here */
				size_t len = 0;
				if (dist_xfr_next(c, &wire, &len, &done) != TANDEM_OK) {
					break;
				}
			}
			if (!done) {
				abort(); /* a zone of a few records takes a message or two */
			}
			dist_xfr_end(c);
		}
		free(c);
	}
	free(signed_wire);
	return 0;
}
