/* audit module tests: the entry encoding, the chain, each kind of tampering, anchors, the cut. */
#include "audit_log.h"
#include "tandem_error.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0     1796601600000ull /* 2026-12-07T00:00:00Z: a fixed clock */
#define NLINES 40

/* A chain of n entries as lines; an anchor by signer (when not NULL) at entry anchor_at. */
typedef struct copy {
	size_t n;
	char line[NLINES][AUDIT_LINE_MAX];
	audit_entry_t e[NLINES];
} copy_t;

static void seal_and_encode(copy_t *c, size_t i, const uint8_t *prev)
{
	size_t len = 0;
	ck_assert_int_eq(audit_entry_seal(&c->e[i], i + 1, prev), TANDEM_OK);
	ck_assert_int_eq(audit_entry_encode(&c->e[i], c->line[i], AUDIT_LINE_MAX, &len), TANDEM_OK);
}

static copy_t *make_copy(size_t n, const audit_signer_t *signer, size_t anchor_at)
{
	copy_t *c = calloc(1, sizeof(*c));
	ck_assert_ptr_nonnull(c);
	c->n = n;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *prev = i > 0 ? c->e[i - 1].hash : NULL;
		if (signer != NULL && i == anchor_at) {
			ck_assert_int_eq(audit_anchor_make(signer, "coord-a", T0 + i * 1000u, i,
							   c->e[i - 1].hash, &c->e[i]),
					 TANDEM_OK);
		} else {
			char details[64];
			snprintf(details, sizeof(details), "event %zu", i + 1);
			tandem_audit_event_t ev = {.type = "lease.grant",
						   .level = TANDEM_AUDIT_INFO,
						   .actor = "node:node-a",
						   .zone = "example.",
						   .key_id = (int64_t)i,
						   .details = details};
			audit_entry_from_event(&ev, i % 2 ? "coord-b" : "coord-a", T0 + i * 1000u,
					       &c->e[i]);
		}
		seal_and_encode(c, i, prev);
	}
	return c;
}

/* Verifies lines (in the order given by idx, or 0..n-1) and returns the verdict. */
static audit_verdict_t verify_lines(char (*lines)[AUDIT_LINE_MAX], size_t n,
				    const audit_keyring_t *kr, audit_chain_t **keep)
{
	audit_chain_t *ch = NULL;
	audit_verdict_t v;
	ck_assert_int_eq(audit_chain_new(1, NULL, kr, &ch), TANDEM_OK);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(audit_chain_add_line(ch, lines[i], strlen(lines[i])), TANDEM_OK);
	}
	ck_assert_int_eq(audit_chain_verify(ch, &v), TANDEM_OK);
	if (keep != NULL) {
		*keep = ch;
	} else {
		audit_chain_free(ch);
	}
	return v;
}

static audit_signer_t *signer_new(uint8_t fill)
{
	uint8_t seed[AUDIT_KEY_LEN];
	audit_signer_t *s = NULL;
	memset(seed, fill, sizeof(seed));
	ck_assert_int_eq(audit_signer_new(seed, &s), TANDEM_OK);
	return s;
}

START_TEST(entry_roundtrip_and_canonical)
{
	tandem_audit_event_t ev = {.type = "operator.command",
				   .level = TANDEM_AUDIT_WARNING,
				   .actor = "operator:op\n1",
				   .zone = NULL,
				   .key_id = -7,
				   .details = "quote \" back\\slash \x01 high \xc3\xa9"};
	audit_entry_t e, d;
	char line[AUDIT_LINE_MAX];
	size_t len = 0;
	audit_entry_from_event(&ev, "coord-a", T0 + 123, &e);
	ck_assert_int_eq(e.key_id, -1);
	ck_assert_str_eq(e.zone, "");
	ck_assert_ptr_null(strchr(e.actor, '\n')); /* a newline cannot forge another line */
	ck_assert_int_eq(audit_entry_seal(&e, 5, NULL), TANDEM_OK);
	ck_assert_int_eq(audit_entry_encode(&e, line, sizeof(line), &len), TANDEM_OK);
	ck_assert_ptr_null(strchr(line, '\n'));
	ck_assert_ptr_nonnull(strstr(line, "\"time\":\"2026-12-07T00:00:00.123Z\""));
	ck_assert_int_eq(audit_entry_decode(line, len, NULL, &d), TANDEM_OK);
	ck_assert_uint_eq(d.seq, 5);
	ck_assert_uint_eq(d.time_ms, T0 + 123);
	ck_assert_str_eq(d.details, e.details);
	ck_assert_str_eq(d.actor, e.actor);
	ck_assert_int_eq(d.level, TANDEM_AUDIT_WARNING);
	ck_assert_mem_eq(d.hash, e.hash, AUDIT_HASH_LEN);
	/* the same values in another spelling are not an entry */
	char other[AUDIT_LINE_MAX];
	snprintf(other, sizeof(other), "%s", line);
	char *p = strstr(other, "\"seq\":5");
	ck_assert_ptr_nonnull(p);
	memmove(p + 7, p + 6, strlen(p + 6) + 1);
	p[6] = '0'; /* "seq":05 */
	ck_assert_int_eq(audit_entry_decode(other, strlen(other), NULL, &d), TANDEM_ESYNTAX);
	ck_assert_int_eq(audit_entry_decode(line, len - 1, NULL, &d), TANDEM_ESYNTAX);
	ck_assert_int_eq(audit_entry_decode("{}", 2, NULL, &d), TANDEM_ESYNTAX);
	/* an event without a type or actor still makes an entry that seals (a sink's queue
	 * would otherwise hold it forever) */
	tandem_audit_event_t bare = {.type = "", .actor = NULL, .key_id = -1};
	audit_entry_from_event(&bare, "", T0, &e);
	ck_assert_str_eq(e.type, "unknown");
	ck_assert_str_eq(e.actor, "unknown");
	ck_assert_int_eq(audit_entry_seal(&e, 1, NULL), TANDEM_OK);
}
END_TEST

START_TEST(chain_intact_verifies)
{
	audit_signer_t *s = signer_new(1);
	audit_keyring_t kr;
	uint8_t pub[AUDIT_KEY_LEN];
	memset(&kr, 0, sizeof(kr));
	audit_signer_public(s, pub);
	ck_assert_int_eq(audit_keyring_add(&kr, "coord-a", pub), TANDEM_OK);
	copy_t *c = make_copy(30, s, 20);
	audit_verdict_t v = verify_lines(c->line, c->n, &kr, NULL);
	ck_assert_msg(v.fault == AUDIT_FAULT_NONE, "%s", v.text);
	ck_assert_uint_eq(v.first_seq, 1);
	ck_assert_uint_eq(v.last_seq, 30);
	ck_assert_uint_eq(v.anchors, 1);
	ck_assert_uint_eq(v.anchors_checked, 1);
	ck_assert_uint_eq(v.anchored_seq, 20);
	/* without keys the anchor is counted, not checked */
	v = verify_lines(c->line, c->n, NULL, NULL);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_NONE);
	ck_assert_uint_eq(v.anchors_checked, 0);
	free(c);
	audit_signer_free(s);
}
END_TEST

START_TEST(tamper_edited)
{
	copy_t *c = make_copy(20, NULL, 0);
	/* a field changed, the hash left: the entry does not hash to its hash */
	char *p = strstr(c->line[6], "event 7");
	ck_assert_ptr_nonnull(p);
	p[6] = '8';
	audit_verdict_t v = verify_lines(c->line, c->n, NULL, NULL);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_EDITED);
	ck_assert_uint_eq(v.seq, 7);
	ck_assert_ptr_nonnull(strstr(v.text, "seq 7: edited"));
	free(c);
	/* a field changed and its hash recomputed: the next entry's prev no longer names it */
	c = make_copy(20, NULL, 0);
	snprintf(c->e[9].details, sizeof(c->e[9].details), "forged");
	seal_and_encode(c, 9, c->e[8].hash);
	v = verify_lines(c->line, c->n, NULL, NULL);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_EDITED);
	ck_assert_uint_eq(v.seq, 10);
	free(c);
}
END_TEST

START_TEST(tamper_removed)
{
	copy_t *c = make_copy(20, NULL, 0);
	memmove(c->line[4], c->line[5], (c->n - 5) * AUDIT_LINE_MAX); /* seq 5 gone */
	audit_verdict_t v = verify_lines(c->line, c->n - 1, NULL, NULL);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_REMOVED);
	ck_assert_uint_eq(v.seq, 5);
	ck_assert_ptr_nonnull(strstr(v.text, "seq 5: removed"));
	free(c);
}
END_TEST

START_TEST(tamper_inserted)
{
	/* a forged entry that chains to seq 8 and hashes right, placed after seq 8 or after
	 * the genuine seq 9: either way the intruder's line is named */
	for (int after = 0; after < 2; after++) {
		copy_t *c = make_copy(20, NULL, 0);
		copy_t *f = make_copy(20, NULL, 0);
		snprintf(f->e[8].details, sizeof(f->e[8].details), "forged");
		seal_and_encode(f, 8, c->e[7].hash);
		char(*lines)[AUDIT_LINE_MAX] = calloc(21, AUDIT_LINE_MAX);
		size_t k = 0;
		for (size_t i = 0; i < 20; i++) {
			if (i == 8 && after == 0) {
				memcpy(lines[k++], f->line[8], AUDIT_LINE_MAX);
			}
			memcpy(lines[k++], c->line[i], AUDIT_LINE_MAX);
			if (i == 8 && after == 1) {
				memcpy(lines[k++], f->line[8], AUDIT_LINE_MAX);
			}
		}
		audit_verdict_t v = verify_lines(lines, 21, NULL, NULL);
		ck_assert_int_eq(v.fault, AUDIT_FAULT_INSERTED);
		ck_assert_uint_eq(v.seq, 9);
		ck_assert_uint_eq(v.line, after == 0 ? 9 : 10);
		ck_assert_ptr_nonnull(strstr(v.text, "seq 9: inserted"));
		free(lines);
		free(c);
		free(f);
	}
}
END_TEST

START_TEST(tamper_reordered)
{
	copy_t *c = make_copy(20, NULL, 0);
	char tmp[AUDIT_LINE_MAX];
	memcpy(tmp, c->line[11], AUDIT_LINE_MAX);
	memcpy(c->line[11], c->line[12], AUDIT_LINE_MAX);
	memcpy(c->line[12], tmp, AUDIT_LINE_MAX);
	audit_verdict_t v = verify_lines(c->line, c->n, NULL, NULL);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_REORDERED);
	ck_assert_uint_eq(v.seq, 12);
	ck_assert_ptr_nonnull(strstr(v.text, "seq 12: reordered"));
	free(c);
}
END_TEST

START_TEST(tamper_malformed)
{
	copy_t *c = make_copy(10, NULL, 0);
	snprintf(c->line[3], AUDIT_LINE_MAX, "not json");
	audit_verdict_t v = verify_lines(c->line, c->n, NULL, NULL);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_MALFORMED);
	ck_assert_uint_eq(v.seq, 4);
	ck_assert_uint_eq(v.line, 4);
	free(c);
}
END_TEST

START_TEST(truncated_against_other_copy)
{
	copy_t *c = make_copy(25, NULL, 0);
	audit_chain_t *full = NULL, *cut = NULL;
	audit_verdict_t v = verify_lines(c->line, 25, NULL, &full);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_NONE);
	v = verify_lines(c->line, 21, NULL, &cut);   /* the last 4 entries removed */
	ck_assert_int_eq(v.fault, AUDIT_FAULT_NONE); /* on its own, a cut copy holds */
	ck_assert_int_eq(audit_chain_compare(cut, full, &v), TANDEM_OK);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_TRUNCATED);
	ck_assert_uint_eq(v.seq, 22);
	ck_assert_ptr_nonnull(strstr(v.text, "seq 22: truncated"));
	/* the longer copy is fine against the shorter: the other is behind */
	ck_assert_int_eq(audit_chain_compare(full, cut, &v), TANDEM_OK);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_NONE);
	audit_chain_free(cut);
	/* a copy whose chain was rebuilt from seq 15 on differs from the other */
	copy_t *f = make_copy(25, NULL, 0);
	snprintf(f->e[14].details, sizeof(f->e[14].details), "forged");
	for (size_t i = 14; i < 25; i++) {
		seal_and_encode(f, i, f->e[i - 1].hash);
	}
	v = verify_lines(f->line, 25, NULL, &cut);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_NONE);
	ck_assert_int_eq(audit_chain_compare(cut, full, &v), TANDEM_OK);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_DIVERGENT);
	ck_assert_uint_eq(v.seq, 15);
	audit_chain_free(cut);
	audit_chain_free(full);
	free(f);
	free(c);
}
END_TEST

START_TEST(anchor_faults)
{
	audit_signer_t *s = signer_new(1), *other = signer_new(2);
	audit_keyring_t kr;
	uint8_t pub[AUDIT_KEY_LEN];
	memset(&kr, 0, sizeof(kr));
	audit_signer_public(s, pub);
	ck_assert_int_eq(audit_keyring_add(&kr, "coord-a", pub), TANDEM_OK);
	/* a chain rebuilt before the anchor: the anchor signs a hash this copy does not hold */
	copy_t *c = make_copy(20, s, 12);
	snprintf(c->e[5].details, sizeof(c->e[5].details), "forged");
	for (size_t i = 5; i < 20; i++) {
		if (i != 12) {
			seal_and_encode(c, i, c->e[i - 1].hash);
		} else {
			seal_and_encode(c, i, c->e[i - 1].hash); /* the anchor's details kept */
		}
	}
	audit_verdict_t v = verify_lines(c->line, c->n, NULL, NULL);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_ANCHOR);
	ck_assert_uint_eq(v.seq, 13);
	free(c);
	/* an anchor by a key not given */
	c = make_copy(20, other, 12);
	v = verify_lines(c->line, c->n, &kr, NULL);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_ANCHOR);
	ck_assert_uint_eq(v.seq, 13);
	ck_assert_ptr_nonnull(strstr(v.text, "not among the anchor keys"));
	free(c);
	/* a signature altered (and the entry's hash made anew, the chain rebuilt) */
	c = make_copy(20, s, 12);
	char *sig = strstr(c->e[12].details, "sig=");
	ck_assert_ptr_nonnull(sig);
	sig[4] = sig[4] == '0' ? '1' : '0';
	for (size_t i = 12; i < 20; i++) {
		seal_and_encode(c, i, c->e[i - 1].hash);
	}
	v = verify_lines(c->line, c->n, &kr, NULL);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_ANCHOR);
	ck_assert_uint_eq(v.seq, 13);
	ck_assert_ptr_nonnull(strstr(v.text, "does not verify"));
	free(c);
	audit_signer_free(s);
	audit_signer_free(other);
}
END_TEST

START_TEST(retention_cut_verifies_across)
{
	copy_t *c = make_copy(30, NULL, 0);
	/* entries 1..12 older than the cutoff (and a late one from a slower clock after) */
	size_t k = audit_cut_count(c->e, c->n, T0 + 12 * 1000u);
	ck_assert_uint_eq(k, 12);
	ck_assert_uint_eq(audit_cut_count(c->e, c->n, T0 + 100000u * 1000u), 29); /* head kept */
	c->e[5].time_ms = T0 + 99 * 1000u;
	ck_assert_uint_eq(audit_cut_count(c->e, c->n, T0 + 12 * 1000u), 5);
	c->e[5].time_ms = T0 + 5 * 1000u;
	/* the archive (1..12) and the store (13..30) verify across the cut */
	audit_chain_t *arch = NULL, *rest = NULL;
	audit_verdict_t v = verify_lines(c->line, 12, NULL, &arch);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_NONE);
	ck_assert_int_eq(audit_chain_new(13, v.last_hash, NULL, &rest), TANDEM_OK);
	for (size_t i = 12; i < 30; i++) {
		ck_assert_int_eq(audit_chain_add_line(rest, c->line[i], strlen(c->line[i])),
				 TANDEM_OK);
	}
	ck_assert_int_eq(audit_chain_verify(rest, &v), TANDEM_OK);
	ck_assert_msg(v.fault == AUDIT_FAULT_NONE, "%s", v.text);
	audit_chain_free(rest);
	/* against another archive's last hash: the cut is named */
	uint8_t wrong[AUDIT_HASH_LEN];
	memset(wrong, 0x5a, sizeof(wrong));
	ck_assert_int_eq(audit_chain_new(13, wrong, NULL, &rest), TANDEM_OK);
	ck_assert_int_eq(audit_chain_add_line(rest, c->line[12], strlen(c->line[12])), TANDEM_OK);
	ck_assert_int_eq(audit_chain_verify(rest, &v), TANDEM_OK);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_CUT);
	ck_assert_uint_eq(v.seq, 13);
	audit_chain_free(rest);
	/* an excerpt (start 0) takes its first prev as given */
	ck_assert_int_eq(audit_chain_new(0, NULL, NULL, &rest), TANDEM_OK);
	ck_assert_int_eq(audit_chain_add_line(rest, c->line[12], strlen(c->line[12])), TANDEM_OK);
	ck_assert_int_eq(audit_chain_verify(rest, &v), TANDEM_OK);
	ck_assert_int_eq(v.fault, AUDIT_FAULT_NONE);
	audit_chain_free(rest);
	audit_chain_free(arch);
	free(c);
}
END_TEST

START_TEST(keyring_parse)
{
	audit_keyring_t kr;
	memset(&kr, 0, sizeof(kr));
	const char *good = "# anchor keys\n\ncoord-a "
			   "0101010101010101010101010101010101010101010101010101010101010101\n";
	ck_assert_int_eq(audit_keyring_parse(&kr, good, NULL), TANDEM_OK);
	ck_assert_uint_eq(kr.n, 1);
	ck_assert_str_eq(kr.keys[0].name, "coord-a");
	ck_assert_uint_eq(strlen(kr.keys[0].id), 16);
	ck_assert_int_eq(audit_keyring_parse(&kr, "coord-b 0101\n", NULL), TANDEM_ESYNTAX);
	ck_assert_int_eq(audit_keyring_parse(&kr, "coord-b\n", NULL), TANDEM_ESYNTAX);
}
END_TEST

static Suite *audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, entry_roundtrip_and_canonical);
	tcase_add_test(tc, chain_intact_verifies);
	tcase_add_test(tc, tamper_edited);
	tcase_add_test(tc, tamper_removed);
	tcase_add_test(tc, tamper_inserted);
	tcase_add_test(tc, tamper_reordered);
	tcase_add_test(tc, tamper_malformed);
	tcase_add_test(tc, truncated_against_other_copy);
	tcase_add_test(tc, anchor_faults);
	tcase_add_test(tc, retention_cut_verifies_across);
	tcase_add_test(tc, keyring_parse);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(audit_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
