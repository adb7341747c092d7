/* Test support for tests of zones (link tandem_testsupport_dns). */
#ifndef TESTSUPPORT_DNS_H
#define TESTSUPPORT_DNS_H

#include "dns_zone.h"

/* The zone as dns_zone_write gives it, in a malloc'd string (the caller frees it); fails
 * the test when the zone cannot be written. */
char *ts_zone_text(const dns_zone_t *z);

#endif
