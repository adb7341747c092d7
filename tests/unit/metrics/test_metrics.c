/* The metrics module: the exposition text (escaping, families, histograms) and the endpoint. */
#include "metrics.h"
#include "tandem_error.h"

#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

START_TEST(test_escaping_and_values)
{
	metrics_buf_t b = {0};
	metrics_family(&b, "tandem_x", METRICS_GAUGE, "a help\\line\nnext");
	metrics_sample(&b, "tandem_x", (const char *[]){"zone", "a\"b\\c\nd", "kind", "new", NULL},
		       3);
	metrics_sample(&b, "tandem_x", NULL, 0.25);
	metrics_sample(&b, "tandem_x", NULL, 1e20);
	ck_assert_ptr_nonnull(b.data);
	ck_assert_ptr_nonnull(strstr(b.data, "# HELP tandem_x a help\\\\line\\nnext\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "# TYPE tandem_x gauge\n"));
	ck_assert_ptr_nonnull(
	    strstr(b.data, "tandem_x{zone=\"a\\\"b\\\\c\\nd\",kind=\"new\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "tandem_x 0.25\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "tandem_x 1e+20\n"));
	ck_assert(!b.failed);
	metrics_buf_free(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_histogram_cumulative)
{
	static const double bounds[] = {1, 5, 10};
	metrics_histogram_t h;
	metrics_buf_t b = {0};
	metrics_histogram_init(&h, bounds, 3);
	double obs[] = {0.5, 1, 3, 7, 20, 20};
	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++) {
		metrics_histogram_observe(&h, obs[i]);
	}
	metrics_histogram_write(&b, "tandem_d", (const char *[]){"zone", "z.", NULL}, &h);
	ck_assert_ptr_nonnull(strstr(b.data, "tandem_d_bucket{zone=\"z.\",le=\"1\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "tandem_d_bucket{zone=\"z.\",le=\"5\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "tandem_d_bucket{zone=\"z.\",le=\"10\"} 4\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "tandem_d_bucket{zone=\"z.\",le=\"+Inf\"} 6\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "tandem_d_sum{zone=\"z.\"} 51.5\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "tandem_d_count{zone=\"z.\"} 6\n"));
	metrics_buf_free(&b);
}
END_TEST

/* GET path from 127.0.0.1:port; returns the whole reply (malloc'ed) */
static char *http_get(uint16_t port, const char *path)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	char req[256];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
	ck_assert_int_eq(write(fd, req, (size_t)n), n);
	size_t cap = 65536, len = 0;
	char *buf = calloc(1, cap);
	ck_assert_ptr_nonnull(buf);
	ssize_t r;
	while (len + 1 < cap && (r = read(fd, buf + len, cap - 1 - len)) > 0) {
		len += (size_t)r;
	}
	close(fd);
	return buf;
}

static void scrape_extra(void *ctx, metrics_buf_t *b)
{
	int *calls = ctx;
	(*calls)++;
	metrics_sample(b, "tandem_scraped", NULL, *calls);
}

START_TEST(test_server)
{
	metrics_server_t *s = NULL;
	const char *why = NULL;
	int calls = 0;
	ck_assert_int_eq(metrics_server_start("localhost:0", NULL, NULL, &s, &why), TANDEM_EINVAL);
	ck_assert_ptr_nonnull(why);
	ck_assert_int_eq(metrics_server_start("127.0.0.1:99999", NULL, NULL, &s, &why),
			 TANDEM_EINVAL);
	ck_assert_int_eq(metrics_server_start("127.0.0.1", NULL, NULL, &s, &why), TANDEM_EINVAL);
	ck_assert_int_eq(metrics_server_start("127.0.0.1:0", scrape_extra, &calls, &s, &why),
			 TANDEM_OK);
	uint16_t port = metrics_server_port(s);
	ck_assert_uint_gt(port, 0);
	char want[64];
	snprintf(want, sizeof(want), "127.0.0.1:%u", (unsigned)port);
	ck_assert_str_eq(metrics_server_address(s), want);
	/* the same address again: in use */
	metrics_server_t *s2 = NULL;
	ck_assert_int_eq(metrics_server_start(want, NULL, NULL, &s2, &why), TANDEM_EIO);
	ck_assert_ptr_null(s2);

	metrics_buf_t b = {0};
	metrics_family(&b, "tandem_one", METRICS_COUNTER, "one");
	metrics_sample(&b, "tandem_one", NULL, 1);
	metrics_server_publish_take(s, &b);
	ck_assert_ptr_null(b.data);
	char *r = http_get(port, "/metrics");
	ck_assert_ptr_nonnull(strstr(r, "200 OK"));
	ck_assert_ptr_nonnull(strstr(r, "text/plain; version=0.0.4"));
	ck_assert_ptr_nonnull(strstr(r, "tandem_one 1\n"));
	ck_assert_ptr_nonnull(strstr(r, "tandem_scraped 1\n"));
	free(r);
	/* a newer publication replaces the text */
	metrics_sample(&b, "tandem_two", NULL, 2);
	metrics_server_publish_take(s, &b);
	r = http_get(port, "/metrics");
	ck_assert_ptr_null(strstr(r, "tandem_one"));
	ck_assert_ptr_nonnull(strstr(r, "tandem_two 2\n"));
	ck_assert_ptr_nonnull(strstr(r, "tandem_scraped 2\n"));
	free(r);
	r = http_get(port, "/");
	ck_assert_ptr_nonnull(strstr(r, "404"));
	free(r);
	metrics_server_stop(s);
	metrics_server_stop(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_escaping_and_values);
	tcase_add_test(tc, test_histogram_cumulative);
	tcase_add_test(tc, test_server);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
