/* The serial module: RFC 1982 comparison, the modes, floors, the wrap at 2^32, residue classes. */
#include "tandem_error.h"
#include "tandem_serial.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#define NOW 1795000000u /* 2026-11-18T08:26:40Z, a fixed signing time */

START_TEST(compare)
{
	ck_assert(tandem_serial_gt(2, 1));
	ck_assert(!tandem_serial_gt(1, 2));
	ck_assert(!tandem_serial_gt(5, 5));
	ck_assert(tandem_serial_gt(0, 0xffffffffu)); /* wraps */
	ck_assert(tandem_serial_gt(0x7fffffffu, 0));
	ck_assert(!tandem_serial_gt(0x80000000u, 0)); /* undefined: not greater */
	ck_assert(!tandem_serial_gt(0, 0x80000000u));
	ck_assert(tandem_serial_gt(0x80000000u, 1));
	ck_assert(!tandem_serial_gt(1, 0x80000000u));
}
END_TEST

START_TEST(modes)
{
	uint32_t s = 0;
	ck_assert_int_eq(tandem_serial_next(TANDEM_SERIAL_KEEP, 7, false, 0, NOW, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 7);
	ck_assert_int_eq(tandem_serial_next(TANDEM_SERIAL_KEEP, 7, true, 6, NOW, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 7);
	s = 99;
	ck_assert_int_eq(tandem_serial_next(TANDEM_SERIAL_KEEP, 7, true, 7, NOW, &s),
			 TANDEM_SIGNER_ESERIAL);
	ck_assert_uint_eq(s, 99); /* not written on failure */
	ck_assert_int_eq(tandem_serial_next(TANDEM_SERIAL_INCREMENT, 7, false, 0, NOW, &s),
			 TANDEM_OK);
	ck_assert_uint_eq(s, 8);
	ck_assert_int_eq(tandem_serial_next(TANDEM_SERIAL_INCREMENT, 7, true, 100, NOW, &s),
			 TANDEM_OK);
	ck_assert_uint_eq(s, 101);
	ck_assert_int_eq(tandem_serial_next(TANDEM_SERIAL_UNIXTIME, 5, false, 0, NOW, &s),
			 TANDEM_OK);
	ck_assert_uint_eq(s, NOW);
	/* unixtime behind the current serial: current + 1 */
	ck_assert_int_eq(tandem_serial_next(TANDEM_SERIAL_UNIXTIME, NOW + 10, false, 0, NOW, &s),
			 TANDEM_OK);
	ck_assert_uint_eq(s, NOW + 11);
	/* 2026-11-18 as a date counter, then the counter of the day */
	ck_assert_int_eq(
	    tandem_serial_next(TANDEM_SERIAL_DATECOUNTER, 2025010105, false, 0, NOW, &s),
	    TANDEM_OK);
	ck_assert_uint_eq(s, 2026111800);
	ck_assert_int_eq(
	    tandem_serial_next(TANDEM_SERIAL_DATECOUNTER, 2026111800, false, 0, NOW, &s),
	    TANDEM_OK);
	ck_assert_uint_eq(s, 2026111801);
	ck_assert_int_eq(tandem_serial_next((tandem_serial_mode_t)9, 1, false, 0, NOW, &s),
			 TANDEM_EINVAL);
	ck_assert_int_eq(tandem_serial_next(TANDEM_SERIAL_KEEP, 1, false, 0, NOW, NULL),
			 TANDEM_EINVAL);
}
END_TEST

START_TEST(wrap_around)
{
	uint32_t s = 0;
	/* increment across 2^32: 0 follows 0xffffffff */
	ck_assert_int_eq(
	    tandem_serial_next(TANDEM_SERIAL_INCREMENT, 0xffffffffu, false, 0, NOW, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 0);
	/* a floor just past the wrap */
	ck_assert_int_eq(tandem_serial_next(TANDEM_SERIAL_INCREMENT, 0xfffffff0u, true, 3, NOW, &s),
			 TANDEM_OK);
	ck_assert_uint_eq(s, 4);
	/* unixtime 2^31 or more ahead of the current serial cannot be reached: refused,
	 * not wrapped into a serial that compares lower */
	ck_assert_int_eq(
	    tandem_serial_next(TANDEM_SERIAL_UNIXTIME, NOW - 0x80000000u, false, 0, NOW, &s),
	    TANDEM_OK);
	ck_assert_uint_eq(s, NOW - 0x80000000u + 1); /* NOW is not above: current + 1 */
	ck_assert_int_eq(
	    tandem_serial_next(TANDEM_SERIAL_INCREMENT, 5, true, 5 + 0x7fffffffu, NOW, &s),
	    TANDEM_SIGNER_ESERIAL);
}
END_TEST

/* The next serial of a site's class (moved here with the function from the coordinator's
 * tests): cases, then a property: above, in class, minimal. */
START_TEST(residue_classes)
{
	uint32_t s;
	ck_assert_int_eq(tandem_serial_in_class(true, 100, 0, 2, 0, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 102);
	ck_assert_int_eq(tandem_serial_in_class(true, 100, 1, 2, 0, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 101);
	ck_assert_int_eq(tandem_serial_in_class(true, 100, 0, 2, 2024010100u, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 2024010100u);
	ck_assert_int_eq(tandem_serial_in_class(true, 100, 0, 2, 2024010101u, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 2024010102u);
	ck_assert_int_eq(tandem_serial_in_class(false, 0, 1, 2, 2024010100u, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 2024010101u);
	ck_assert_int_eq(tandem_serial_in_class(false, 0, 0, 2, 0, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 0);
	/* across the wrap (RFC 1982): 0 follows 0xffffffff */
	ck_assert_int_eq(tandem_serial_in_class(true, 0xffffffffu, 0, 2, 0, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 0);
	ck_assert_int_eq(tandem_serial_in_class(true, 0xfffffffeu, 1, 2, 0xfffffffeu, &s),
			 TANDEM_OK);
	ck_assert_uint_eq(s, 0xffffffffu);
	ck_assert_int_eq(tandem_serial_in_class(true, 0xfffffffeu, 1, 2, 0, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 1); /* 0 is itself above 0xfffffffe: the candidate counts */
	ck_assert_int_eq(tandem_serial_in_class(true, 0xffffffffu, 1, 2, 0xfffffff0u, &s),
			 TANDEM_OK);
	ck_assert_uint_eq(s, 1);
	/* a candidate just past the wrap is above */
	ck_assert_int_eq(tandem_serial_in_class(true, 0xfffffff0u, 0, 2, 4, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 4);
	/* a modulus that does not divide 2^32: the class is of the value, not the sum */
	ck_assert_int_eq(tandem_serial_in_class(true, 0xfffffffeu, 1, 3, 0xfffffffeu, &s),
			 TANDEM_OK);
	ck_assert_uint_eq(s % 3, 1);
	ck_assert(tandem_serial_gt(s, 0xfffffffeu));
	ck_assert_uint_eq(s, 1);
	/* too far ahead for RFC 1982 */
	ck_assert_int_eq(tandem_serial_in_class(true, 0, 0, 2, 0x7fffffffu, &s),
			 TANDEM_SIGNER_ESERIAL);
	ck_assert_int_eq(tandem_serial_in_class(true, 0, 0, 0, 0, &s), TANDEM_EINVAL);
	ck_assert_int_eq(tandem_serial_in_class(true, 0, 2, 2, 0, &s), TANDEM_EINVAL);
	ck_assert_int_eq(tandem_serial_in_class(true, 0, 0, 2, 0, NULL), TANDEM_EINVAL);
	ck_assert_int_eq(tandem_serial_in_class(true, 0, 0, TANDEM_SERIAL_MODULUS_MAX + 1, 0, &s),
			 TANDEM_EINVAL);
	/* modulus 1: any serial; the candidate stands when above the committed one */
	ck_assert_int_eq(tandem_serial_in_class(false, 0, 0, 1, 12345, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 12345);
	ck_assert_int_eq(tandem_serial_in_class(true, 200, 0, 1, 100, &s), TANDEM_OK);
	ck_assert_uint_eq(s, 201);
	/* property: above, in class, and minimal (one assertion at the end: Check records
	 * every assertion that passes) */
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int bad = 0, tried = 0;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint32_t last = (uint32_t)x, m = 1 + (uint32_t)(x >> 32) % 7;
		uint32_t res = (uint32_t)(x >> 40) % m;
		uint32_t cand =
		    (x >> 50) & 1 ? last + (uint32_t)(x >> 52) % 50 : (uint32_t)(x >> 16);
		if (tandem_serial_in_class(true, last, res, m, cand, &s) != TANDEM_OK) {
			continue;
		}
		tried++;
		bad += !tandem_serial_gt(s, last) || s % m != res;
		uint32_t start = tandem_serial_gt(cand, last) ? cand : last + 1;
		for (uint32_t v = start; v != s; v++) {
			bad += v % m == res;
		}
	}
	ck_assert_int_eq(bad, 0);
	ck_assert_int_gt(tried, 19000);
}
END_TEST

/* A mode's result raised into a class is above the floor and in the class, for random
 * inputs (one assertion at the end: Check records every assertion that passes). */
START_TEST(mode_then_class_property)
{
	uint64_t x = 0x243f6a8885a308d3ull;
	int bad = 0, tried = 0;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint32_t input = (uint32_t)x, floor = input + (uint32_t)(x >> 40) % 1000 - 500;
		uint32_t m = 1 + (uint32_t)(x >> 32) % 4, res = (uint32_t)(x >> 50) % m;
		tandem_serial_mode_t mode = (tandem_serial_mode_t)((x >> 60) % 4);
		uint32_t cand = 0, s = 0;
		if (tandem_serial_next(mode, input, false, 0, NOW, &cand) != TANDEM_OK ||
		    tandem_serial_in_class(true, floor, res, m, cand, &s) != TANDEM_OK) {
			continue;
		}
		tried++;
		bad += !tandem_serial_gt(s, floor) || s % m != res;
	}
	ck_assert_int_eq(bad, 0);
	ck_assert_int_gt(tried, 10000);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("serial");
	TCase *tc = tcase_create("serial");
	tcase_add_test(tc, compare);
	tcase_add_test(tc, modes);
	tcase_add_test(tc, wrap_around);
	tcase_add_test(tc, residue_classes);
	tcase_add_test(tc, mode_then_class_property);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
