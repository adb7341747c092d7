/* coordrpc's audit read: the request and the page through pack and unpack, and refusals. */
#include "audit.pb-c.h"
#include "coordrpc.h"
#include "coordrpc_audit.h"
#include "tandem_error.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(get_roundtrip_and_clamp)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t from = 0;
	uint32_t limit = 0;
	ck_assert_int_eq(coordrpc_audit_get_pack(42, 10, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_audit_get_unpack(buf, len, NULL, &from, &limit), TANDEM_OK);
	ck_assert_uint_eq(from, 42);
	ck_assert_uint_eq(limit, 10);
	free(buf);
	/* 0 and too many both mean a full page */
	ck_assert_int_eq(coordrpc_audit_get_pack(1, 100000, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_audit_get_unpack(buf, len, NULL, &from, &limit), TANDEM_OK);
	ck_assert_uint_eq(limit, COORDRPC_AUDIT_PAGE_MAX);
	free(buf);
	/* another version is refused */
	Tandem__AuditGet m = TANDEM__AUDIT_GET__INIT;
	uint8_t raw[64];
	m.version = COORDRPC_VERSION + 1;
	len = tandem__audit_get__pack(&m, raw);
	ck_assert_int_eq(coordrpc_audit_get_unpack(raw, len, NULL, &from, &limit), TANDEM_EINVAL);
	const uint8_t junk[] = {0xff, 0xff, 0xff};
	ck_assert_int_eq(coordrpc_audit_get_unpack(junk, sizeof(junk), NULL, &from, &limit),
			 TANDEM_EINVAL);
}
END_TEST

START_TEST(page_roundtrip_and_refusals)
{
	coordrpc_audit_page_t p, q;
	char *lines[] = {"{\"seq\":1}", "{\"seq\":2}"};
	uint8_t pub[AUDIT_KEY_LEN];
	uint8_t *buf = NULL;
	size_t len = 0;
	memset(&p, 0, sizeof(p));
	memset(pub, 9, sizeof(pub));
	p.base_seq = 3;
	memset(p.base_prev, 1, sizeof(p.base_prev));
	p.head_seq = 4;
	memset(p.head_hash, 2, sizeof(p.head_hash));
	p.nlines = 2;
	p.lines = lines;
	ck_assert_int_eq(audit_keyring_add(&p.keys, "coord-a", pub), TANDEM_OK);
	ck_assert_int_eq(coordrpc_audit_page_pack(&p, &buf, &len), TANDEM_OK);
	ck_assert_int_eq(coordrpc_audit_page_unpack(buf, len, NULL, &q), TANDEM_OK);
	ck_assert_uint_eq(q.base_seq, 3);
	ck_assert_uint_eq(q.head_seq, 4);
	ck_assert_mem_eq(q.base_prev, p.base_prev, AUDIT_HASH_LEN);
	ck_assert_mem_eq(q.head_hash, p.head_hash, AUDIT_HASH_LEN);
	ck_assert_uint_eq(q.nlines, 2);
	ck_assert_str_eq(q.lines[1], "{\"seq\":2}");
	ck_assert_uint_eq(q.keys.n, 1);
	ck_assert_str_eq(q.keys.keys[0].name, "coord-a");
	ck_assert_mem_eq(q.keys.keys[0].pub, pub, AUDIT_KEY_LEN);
	coordrpc_audit_page_deinit(&q);
	free(buf);
	/* a hash of another length, and a key under a bad name, are refused */
	Tandem__AuditPage m = TANDEM__AUDIT_PAGE__INIT;
	Tandem__AuditAnchorKey k = TANDEM__AUDIT_ANCHOR_KEY__INIT, *kp = &k;
	uint8_t h[AUDIT_HASH_LEN] = {0}, raw[512];
	m.version = COORDRPC_VERSION;
	m.base_prev.data = h;
	m.base_prev.len = 31;
	m.head_hash.data = h;
	m.head_hash.len = AUDIT_HASH_LEN;
	len = tandem__audit_page__pack(&m, raw);
	ck_assert_int_eq(coordrpc_audit_page_unpack(raw, len, NULL, &q), TANDEM_EINVAL);
	m.base_prev.len = AUDIT_HASH_LEN;
	k.name = "bad name\n";
	k.pub.data = pub;
	k.pub.len = AUDIT_KEY_LEN;
	m.n_keys = 1;
	m.keys = &kp;
	len = tandem__audit_page__pack(&m, raw);
	ck_assert_int_eq(coordrpc_audit_page_unpack(raw, len, NULL, &q), TANDEM_EINVAL);
	/* too many lines cannot be packed */
	p.nlines = COORDRPC_AUDIT_PAGE_MAX + 1;
	ck_assert_int_eq(coordrpc_audit_page_pack(&p, &buf, &len), TANDEM_EINVAL);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("coordrpc_audit");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, get_roundtrip_and_clamp);
	tcase_add_test(tc, page_roundtrip_and_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
