/* Test fixture: a real single-member etcd of the test's own, on free loopback ports. */
#ifndef ETCD_FIXTURE_H
#define ETCD_FIXTURE_H

#include <sys/types.h>

/* One etcd process on free 127.0.0.1 ports, its data in a temp dir. */
typedef struct etcd_proc {
	pid_t pid;
	char dir[256];
	char endpoint[64]; /* "http://127.0.0.1:PORT" */
} etcd_proc_t;

/*
 * Starts a single-member etcd ($TANDEM_ETCD or "etcd" from PATH) and waits (at
 * most 20 s) until it answers /health with "true". The member dies with the
 * process that started it (PR_SET_PDEATHSIG). Exits the process with a message
 * on failure: Check's asserts work only inside a test.
 */
void etcd_start(etcd_proc_t *e);
/* kill -9, reap, remove the data dir; safe to call twice. */
void etcd_stop(etcd_proc_t *e);

/* Monotonic seconds. */
double etcd_now_s(void);
/* Sleeps ms milliseconds. */
void etcd_sleep_ms(long ms);
/* n (at most 8) distinct free TCP ports on 127.0.0.1 (bound at once, then released). */
void etcd_free_ports(int n, int *ports);

#endif
