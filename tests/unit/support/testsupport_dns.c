/* Test support for tests of zones. */
#include "testsupport_dns.h"

#include "tandem_error.h"

#include <check.h>
#include <stdio.h>

char *ts_zone_text(const dns_zone_t *z)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(dns_zone_write(z, fp), TANDEM_OK);
	ck_assert_int_eq(fclose(fp), 0);
	return buf;
}
