/* The service manager's side of a daemon: readiness, status and the watchdog (sd_notify). */
#ifndef TANDEM_SERVICE_H
#define TANDEM_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Under systemd with Type=notify (deploy/systemd/), a daemon says READY once it serves,
 * a one-line STATUS when its state changes, and pings the watchdog from its main loop so
 * that a loop stuck in a call is restarted. Outside systemd (no NOTIFY_SOCKET) every call
 * is a no-op. The daemon owns one tandem_service_t, filled by tandem_service_init.
 */
typedef struct tandem_service {
	uint64_t watchdog_ms; /* systemd's WatchdogSec, 0 when none */
	uint64_t last_ping_ms;
} tandem_service_t;

/* Reads the watchdog interval systemd gave this process (if any). */
void tandem_service_init(tandem_service_t *svc);
/* READY=1 with a status line (NULL: none). */
void tandem_service_ready(const char *status);
/* STATUS=line (one line; longer ones are cut). */
void tandem_service_status(const char *status);
/* STOPPING=1, before a clean exit. */
void tandem_service_stopping(void);
/* WATCHDOG=1 when half the interval has passed since the last ping, at monotonic time now_ms. */
void tandem_service_watchdog(tandem_service_t *svc, uint64_t now_ms);

#endif
