/* tandemd's offline KSK: the pre-signed DNSKEY RRset a signing run uses, from the zone's SKR
 * book. */
#include "tandemd_skr.h"

#include "hsm.h"
#include "tandem_error.h"
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(COORD_SKR_ID_LEN == KASP_SKR_ID_LEN, "one request id length");

int tdm_skr_presign(const kasp_skrbook_t *book, const signer_key_t *keys, size_t nkeys, uint64_t t,
		    const uint8_t *want_id, tandem_arena_t *arena, signer_conf_t *conf,
		    uint8_t id[COORD_SKR_ID_LEN], tandem_diag_t *diag)
{
	kasp_skr_rdata_t *need = calloc(nkeys ? nkeys : 1, sizeof(*need));
	if (need == NULL) {
		return TANDEM_ENOMEM;
	}
	size_t nneed = 0;
	int ret = TANDEM_OK;
	for (size_t i = 0; i < nkeys && ret == TANDEM_OK; i++) {
		if (keys[i].unpublished) {
			continue;
		}
		uint8_t rd[HSM_DNSKEY_MAX];
		size_t len = sizeof(rd);
		ret = hsm_key_dnskey_rdata(keys[i].key, keys[i].sep ? 257 : 256, rd, &len);
		if (ret == TANDEM_OK && len > KASP_SKR_RDATA_MAX) {
			ret = TANDEM_ERANGE;
		}
		if (ret == TANDEM_OK) {
			need[nneed].len = (uint16_t)len;
			memcpy(need[nneed].data, rd, len);
			nneed++;
		}
	}
	kasp_skr_t *skr = NULL;
	if (ret == TANDEM_OK) {
		ret = kasp_skrbook_pick(book, t, want_id, need, nneed, diag, &skr);
	}
	if (ret == TANDEM_OK) {
		ret = pipeline_skr_presign(skr, t, arena, conf, NULL);
	}
	if (ret == TANDEM_OK) {
		memcpy(id, skr->request_id, COORD_SKR_ID_LEN);
	}
	kasp_skr_free(skr);
	free(need);
	return ret;
}
