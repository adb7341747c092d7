/* Fault points for tests (tandem_fault.h). */
#include "tandem_fault.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned fault_hits; /* calls at the armed point since the file appeared */
static char fault_armed[64];

void tandem_fault(const char *point)
{
	const char *path = getenv("TANDEM_FAULT_FILE");
	struct stat st;
	if (path == NULL || *path == '\0' || stat(path, &st) != 0) {
		return;
	}
	pthread_mutex_lock(&fault_lock);
	FILE *f = fopen(path, "re");
	char want[64] = "", how[16] = "";
	unsigned n = 1, secs = 0;
	if (f != NULL) {
		if (fscanf(f, "%63s %u %15s %u", want, &n, how, &secs) < 1) {
			want[0] = '\0';
		}
		fclose(f);
	}
	bool stop = strcmp(how, "stop") == 0;
	/* "POINT N pause S": this thread sleeps S seconds */
	unsigned pause_s = strcmp(how, "pause") == 0 ? secs : 0;
	if (strcmp(want, fault_armed) != 0) {
		/* a new fault: count its point from here */
		snprintf(fault_armed, sizeof(fault_armed), "%s", want);
		fault_hits = 0;
	}
	if (want[0] != '\0' && strcmp(want, point) == 0 && ++fault_hits >= (n ? n : 1)) {
		char hit[4096];
		snprintf(hit, sizeof(hit), "%s.hit", path);
		(void)rename(path, hit);
		if (pause_s > 0) {
			fprintf(stderr, "fault point %s hit %u: this thread pauses %u s\n", point,
				fault_hits, pause_s);
		} else {
			fprintf(stderr, "fault point %s hit %u: %s\n", point, fault_hits,
				stop ? "stopping myself (SIGSTOP): SIGCONT goes on"
				     : "killing myself");
		}
		fflush(stderr);
		fault_armed[0] = '\0';
		fault_hits = 0;
		pthread_mutex_unlock(&fault_lock);
		if (pause_s > 0) {
			struct timespec t = {(time_t)pause_s, 0};
			while (nanosleep(&t, &t) != 0) {
			}
			return;
		}
		raise(stop ? SIGSTOP : SIGKILL);
		return;
	}
	pthread_mutex_unlock(&fault_lock);
}
