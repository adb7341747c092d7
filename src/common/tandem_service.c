/* sd_notify for tandemd and tandem-coord: readiness, status and watchdog pings. */
#include "tandem_service.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>

void tandem_service_init(tandem_service_t *svc)
{
	uint64_t usec = 0;

	svc->watchdog_ms = 0;
	svc->last_ping_ms = 0;
	/* > 0: this process is the one systemd watches (WATCHDOG_PID matches) */
	if (sd_watchdog_enabled(0, &usec) > 0) {
		svc->watchdog_ms = usec / 1000;
	}
}

void tandem_service_ready(const char *status)
{
	if (status != NULL) {
		sd_notifyf(0, "READY=1\nSTATUS=%.200s", status);
	} else {
		sd_notify(0, "READY=1");
	}
}

void tandem_service_status(const char *status)
{
	if (status != NULL) {
		sd_notifyf(0, "STATUS=%.200s", status);
	}
}

void tandem_service_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

void tandem_service_watchdog(tandem_service_t *svc, uint64_t now_ms)
{
	if (svc->watchdog_ms == 0 || now_ms - svc->last_ping_ms < svc->watchdog_ms / 2) {
		return;
	}
	sd_notify(0, "WATCHDOG=1");
	svc->last_ping_ms = now_ms;
}
