/* Test fixture: a real single-member etcd of the test's own, on free loopback ports. */
#include "etcd_fixture.h"
#include "coord_etcd.h"
#include "tandem_error.h"
#include "testsupport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Fails the test (or, before the tests run, the whole program): Check's asserts only
 * work inside a test. */
static void die(const char *what)
{
	fprintf(stderr, "etcd_fixture: %s\n", what);
	exit(EXIT_FAILURE);
}

double etcd_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void etcd_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* n distinct free TCP ports on 127.0.0.1 (all bound at once, then released). */
void etcd_free_ports(int n, int *ports)
{
	int fds[8];
	if (n > 8) {
		die("too many ports");
	}
	for (int i = 0; i < n; i++) {
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t len = sizeof(a);
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof(a)) != 0 ||
		    getsockname(fds[i], (struct sockaddr *)&a, &len) != 0) {
			die("cannot pick a free port");
		}
		ports[i] = ntohs(a.sin_port);
	}
	for (int i = 0; i < n; i++) {
		close(fds[i]);
	}
}

static void print_log(const etcd_proc_t *e)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "tail -n 20 '%s/etcd.log' >&2", e->dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "(no etcd log)\n");
	}
}

/* Waits (at most 20 s) until the etcd answers /health with "true". */
static void etcd_wait_healthy(etcd_proc_t *e)
{
	const char *ep[] = {e->endpoint};
	coord_etcd_opts_t o = {.timeout_ms = 1000};
	coord_etcd_t *c = NULL;
	if (coord_etcd_new(ep, 1, &o, NULL, &c) != TANDEM_OK) {
		die("cannot make a client");
	}
	double t0 = etcd_now_s();
	for (;;) {
		coord_etcd_status_t st;
		if (coord_etcd_endpoint_status(c, 0, NULL, &st) == TANDEM_OK && st.healthy) {
			break;
		}
		int status;
		if (waitpid(e->pid, &status, WNOHANG) == e->pid) {
			print_log(e);
			die("etcd exited during start-up");
		}
		if (etcd_now_s() - t0 > 20) {
			print_log(e);
			die("etcd not healthy after 20 s");
		}
		etcd_sleep_ms(100);
	}
	coord_etcd_free(c);
}

void etcd_start(etcd_proc_t *e)
{
	int ports[2];
	char client[64], peer[64], cluster[96], data[300], log[300];
	memset(e, 0, sizeof(*e));
	ts_tmpdir(e->dir, sizeof(e->dir));
	etcd_free_ports(2, ports);
	snprintf(client, sizeof(client), "http://127.0.0.1:%d", ports[0]);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", ports[1]);
	snprintf(cluster, sizeof(cluster), "tandem-test=%s", peer);
	snprintf(data, sizeof(data), "%s/data", e->dir);
	snprintf(log, sizeof(log), "%s/etcd.log", e->dir);
	snprintf(e->endpoint, sizeof(e->endpoint), "%s", client);
	const char *bin = getenv("TANDEM_ETCD") ? getenv("TANDEM_ETCD") : "etcd";
	pid_t parent = getpid();
	e->pid = fork();
	if (e->pid < 0) {
		die("fork failed");
	}
	if (e->pid == 0) {
		/* dies with the process that started it, even if a test aborts */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) {
			_exit(127);
		}
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execlp(bin, bin, "--name", "tandem-test", "--data-dir", data,
		       "--listen-client-urls", client, "--advertise-client-urls", client,
		       "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		       "--initial-cluster", cluster, "--initial-cluster-state", "new", "--logger",
		       "zap", "--log-outputs", "stderr", (char *)NULL);
		fprintf(stderr, "cannot run %s\n", bin);
		_exit(127);
	}
	etcd_wait_healthy(e);
}

void etcd_stop(etcd_proc_t *e)
{
	if (e->pid > 0) {
		kill(e->pid, SIGKILL);
		waitpid(e->pid, NULL, 0);
		e->pid = 0;
	}
	if (e->dir[0] != '\0') {
		ts_rmtree(e->dir);
		e->dir[0] = '\0';
	}
}
