/* Fuzz target: the NOTIFY sender's check of a datagram that comes back
 * (dist_notify_answer_check, src/dist/dist_notify.c), with no socket: the NOTIFY it answers
 * is for example. with query id 0x4e46; the first byte's low bit says whether that NOTIFY
 * was signed with the test-only key (then the answer must verify over its MAC). */
#include "dist_internal.h"
#include "fuzz_util.h"

#include <stdlib.h>

/* test-only TSIG secret, as fuzz_xfr.c's */
#define FUZZ_TSIG_SECRET "ZnV6ei10ZXN0LW9ubHktdHNpZy1zZWNyZXQtMDAwMSE="
#define FUZZ_ID          0x4e46

static ldns_rdf *g_zone;
static ldns_rdf *g_mac;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	static const uint8_t mac[32] = {0x4e, 0x46, 1, 2, 3, 4, 5, 6, 7, 8};
	g_zone = ldns_dname_new_frm_str("example.");
	g_mac = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, sizeof(mac), mac);
	if (g_zone == NULL || g_mac == NULL) {
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) {
		return 0;
	}
	bool tsig = data[0] & 1;
	int rcode = -1;
	const char *why =
	    dist_notify_answer_check(g_zone, FUZZ_ID, tsig ? "fuzz-key." : NULL, FUZZ_TSIG_SECRET,
				     tsig ? g_mac : NULL, data + 1, size - 1, &rcode);
	if (why == NULL && (rcode < 0 || rcode > 15)) {
		abort(); /* an accepted answer has its rcode */
	}
	return 0;
}
