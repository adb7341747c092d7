/* Unit tests of the clock judgement: round-trip and one-way offsets, the median band, ties. */
#include "coord_clock.h"

#include <check.h>

#include <stdlib.h>

#define T0    1700000000000ull
#define LIMIT 1000u /* half the default 2000 ms margin */

START_TEST(test_exchange)
{
	coord_clock_sample_t s;
	/* the other clock 5 s ahead, 40 ms round trip, answered half way */
	ck_assert(coord_clock_exchange(T0, T0 + 20 + 5000, T0 + 40, &s));
	ck_assert_int_eq(s.offset_ms, 5000);
	ck_assert_uint_eq(s.error_ms, 20);
	/* behind: a negative offset; an odd round trip rounds the error up */
	ck_assert(coord_clock_exchange(T0, T0 - 3000, T0 + 41, &s));
	ck_assert_int_eq(s.offset_ms, -3020);
	ck_assert_uint_eq(s.error_ms, 21);
	/* answered at once or at the very end: still within the error */
	ck_assert(coord_clock_exchange(T0, T0, T0 + 100, &s));
	ck_assert_int_le(s.offset_ms - (int64_t)s.error_ms, 0);
	ck_assert_int_ge(s.offset_ms + (int64_t)s.error_ms, 0);
	/* our clock stepped back during the exchange: no measurement */
	s.offset_ms = 7;
	ck_assert(!coord_clock_exchange(T0 + 10, T0, T0, &s));
	ck_assert_int_eq(s.offset_ms, 7);
	ck_assert(!coord_clock_exchange(T0, T0, T0, NULL));
}
END_TEST

START_TEST(test_oneway)
{
	coord_clock_sample_t s = coord_clock_oneway(T0 - 5000, T0 + 3);
	ck_assert_int_eq(s.offset_ms, -5003);
	ck_assert_uint_eq(s.error_ms, 0);
	s = coord_clock_oneway(T0 + 200, T0);
	ck_assert_int_eq(s.offset_ms, 200);
}
END_TEST

/* The skewed coordinator's view: the other coordinator and a node both 5 s behind it. */
START_TEST(test_judge_self_ahead)
{
	coord_clock_sample_t s[] = {{-5000, 10}, {-5004, 0}};
	coord_clock_verdict_t v;
	ck_assert(coord_clock_judge(s, 2, LIMIT, &v));
	ck_assert(v.decidable);
	ck_assert(v.skewed);
	ck_assert_int_eq(v.offset_ms, 5000); /* ours minus the upper middle value */
	ck_assert(!v.peer_skewed[0] && !v.peer_skewed[1]);
	ck_assert(v.peer_far[0] && v.peer_far[1]);
	ck_assert_uint_eq(v.used, 2);
}
END_TEST

/* The good coordinator's view: the skewed one ahead, its own node with it. */
START_TEST(test_judge_peer_ahead)
{
	coord_clock_sample_t s[] = {{5000, 10}, {-3, 0}};
	coord_clock_verdict_t v;
	ck_assert(coord_clock_judge(s, 2, LIMIT, &v));
	ck_assert(v.decidable);
	ck_assert(!v.skewed);
	ck_assert_int_eq(v.offset_ms, 0);
	ck_assert(v.peer_skewed[0]);
	ck_assert(!v.peer_skewed[1]);
	ck_assert(v.peer_far[0] && !v.peer_far[1]);
}
END_TEST

/* Behind works the same way. */
START_TEST(test_judge_self_behind)
{
	coord_clock_sample_t s[] = {{4000, 5}, {3990, 0}, {4010, 0}};
	coord_clock_verdict_t v;
	ck_assert(coord_clock_judge(s, 3, LIMIT, &v));
	ck_assert(v.skewed);
	ck_assert_int_eq(v.offset_ms, -3990);
}
END_TEST

/* Two clocks, or two against two: a disagreement is seen but nobody is blamed. */
START_TEST(test_judge_ties)
{
	coord_clock_verdict_t v;
	coord_clock_sample_t one[] = {{5000, 10}};
	ck_assert(coord_clock_judge(one, 1, LIMIT, &v));
	ck_assert(!v.decidable);
	ck_assert(!v.skewed);
	ck_assert(!v.peer_skewed[0]);
	ck_assert(v.peer_far[0]);
	coord_clock_sample_t three[] = {{0, 0}, {5000, 0}, {5000, 0}};
	ck_assert(coord_clock_judge(three, 3, LIMIT, &v));
	ck_assert(v.decidable);
	ck_assert(!v.skewed);
	ck_assert(!v.peer_skewed[0] && !v.peer_skewed[1] && !v.peer_skewed[2]);
	ck_assert(coord_clock_judge(NULL, 0, LIMIT, &v));
	ck_assert(!v.decidable);
}
END_TEST

/* Within the limit, and the error bound: a sample is blamed only beyond its error; one
 * whose error reaches the limit is not counted at all. */
START_TEST(test_judge_limits)
{
	coord_clock_verdict_t v;
	coord_clock_sample_t near[] = {{1000, 0}, {-1000, 0}};
	ck_assert(coord_clock_judge(near, 2, LIMIT, &v));
	ck_assert(v.decidable);
	ck_assert(!v.skewed && !v.peer_skewed[0] && !v.peer_skewed[1]);
	coord_clock_sample_t unsure[] = {{1500, 600}, {0, 0}};
	ck_assert(coord_clock_judge(unsure, 2, LIMIT, &v));
	ck_assert(!v.peer_skewed[0]); /* 1500 - 600 is within the band */
	ck_assert(!v.peer_far[0]);
	coord_clock_sample_t vague[] = {{-8000, 1000}, {-8000, 1500}};
	ck_assert(coord_clock_judge(vague, 2, LIMIT, &v));
	ck_assert_uint_eq(v.used, 0);
	ck_assert(!v.decidable && !v.skewed);
	coord_clock_sample_t many[COORD_CLOCK_MAX + 1] = {{0, 0}};
	ck_assert(!coord_clock_judge(many, COORD_CLOCK_MAX + 1, LIMIT, &v));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("coord_clock");
	TCase *tc = tcase_create("clock");
	tcase_add_test(tc, test_exchange);
	tcase_add_test(tc, test_oneway);
	tcase_add_test(tc, test_judge_self_ahead);
	tcase_add_test(tc, test_judge_peer_ahead);
	tcase_add_test(tc, test_judge_self_behind);
	tcase_add_test(tc, test_judge_ties);
	tcase_add_test(tc, test_judge_limits);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
