/* The daemons' log sink: stderr, or RFC 3164 lines over a Unix datagram syslog socket. */
#include "tandem_log.h"
#include "tandem_encode.h"
#include "tandem_text.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* LOG_DAEMON (3) << 3 | severity: info (6), notice (5), warning (4). */
#define LOG_PRI_INFO    30
#define LOG_PRI_NOTICE  29
#define LOG_PRI_WARNING 28
/* A syslog datagram at most this long (RFC 3164 asks relays for 1024; local daemons
 * take more, and a longer line is cut, never split into two events). */
#define LOG_DGRAM_MAX 8192

/* The process's one sink (see tandem_log_open); the lock keeps a reconnect and a send from
 * two threads apart. */
static struct {
	pthread_mutex_t lock;
	tandem_log_target_t target;
	const char *program, *who, *path;
	int fd; /* the connected syslog socket; -1: not connected */
} sink = {PTHREAD_MUTEX_INITIALIZER, TANDEM_LOG_STDERR, "tandem", NULL, TANDEM_LOG_SOCKET, -1};

/* Lines below it are dropped (tandem_log_set_level). */
static _Atomic int log_level = TANDEM_LOG_INFO;

bool tandem_log_level_parse(const char *s, tandem_log_level_t *out)
{
	static const char *const names[] = {"info", "notice", "warning"};
	for (size_t i = 0; s != NULL && out != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (tandem_log_level_t)i;
			return true;
		}
	}
	return false;
}

void tandem_log_set_level(tandem_log_level_t level)
{
	log_level = (int)level;
}

bool tandem_log_target_parse(const char *s, tandem_log_target_t *out)
{
	if (s == NULL || out == NULL) {
		return false;
	}
	if (strcmp(s, "stderr") == 0) {
		*out = TANDEM_LOG_STDERR;
		return true;
	}
	if (strcmp(s, "syslog") == 0) {
		*out = TANDEM_LOG_SYSLOG;
		return true;
	}
	return false;
}

void tandem_log_open(tandem_log_target_t target, const char *program, const char *who,
		     const char *socket_path)
{
	pthread_mutex_lock(&sink.lock);
	sink.target = target;
	sink.program = program != NULL ? program : "tandem";
	sink.who = who;
	sink.path = socket_path != NULL ? socket_path : TANDEM_LOG_SOCKET;
	if (sink.fd >= 0) {
		close(sink.fd);
		sink.fd = -1;
	}
	pthread_mutex_unlock(&sink.lock);
}

void tandem_log_close(void)
{
	pthread_mutex_lock(&sink.lock);
	if (sink.fd >= 0) {
		close(sink.fd);
		sink.fd = -1;
	}
	sink.target = TANDEM_LOG_STDERR;
	pthread_mutex_unlock(&sink.lock);
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void to_stderr(const char *line)
{
	char stamp[32];
	if (sink.who != NULL) {
		fprintf(stderr, "%s %s %s: %s\n", tandem_utc_ms(wall_ms(), stamp, sizeof(stamp)),
			sink.program, sink.who, line);
	} else {
		fprintf(stderr, "%s %s: %s\n", tandem_utc_ms(wall_ms(), stamp, sizeof(stamp)),
			sink.program, line);
	}
	fflush(stderr);
}

/* Connects the syslog socket (caller holds the lock). */
static bool syslog_connect(void)
{
	struct sockaddr_un sa;
	if (sink.fd >= 0) {
		return true;
	}
	if (strlen(sink.path) >= sizeof(sa.sun_path)) {
		return false;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, sink.path, strlen(sink.path) + 1);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return false;
	}
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return false;
	}
	sink.fd = fd;
	return true;
}

/* One datagram; false when the socket did not take it (caller holds the lock). */
static bool to_syslog(tandem_log_level_t sev, const char *line)
{
	char msg[LOG_DGRAM_MAX], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm) == 0) {
		snprintf(stamp, sizeof(stamp), "Jan  1 00:00:00");
	}
	int pri = sev == TANDEM_LOG_WARNING  ? LOG_PRI_WARNING
		  : sev == TANDEM_LOG_NOTICE ? LOG_PRI_NOTICE
					     : LOG_PRI_INFO;
	int n = snprintf(msg, sizeof(msg), "<%d>%s %s[%ld]: %s%s%s", pri, stamp, sink.program,
			 (long)getpid(), sink.who != NULL ? sink.who : "",
			 sink.who != NULL ? ": " : "", line);
	size_t len = n < 0 ? 0 : (size_t)n >= sizeof(msg) ? sizeof(msg) - 1 : (size_t)n;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!syslog_connect()) {
			return false;
		}
		if (send(sink.fd, msg, len, MSG_NOSIGNAL) == (ssize_t)len) {
			return true;
		}
		/* the daemon restarted (a stale socket) or refused: connect again once */
		int err = errno;
		close(sink.fd);
		sink.fd = -1;
		if (err != ECONNREFUSED && err != ENOTCONN && err != EBADF) {
			return false;
		}
	}
	return false;
}

static void log_at(tandem_log_level_t sev, const char *line)
{
	if (line == NULL || (int)sev < log_level) {
		return;
	}
	pthread_mutex_lock(&sink.lock);
	if (sink.target != TANDEM_LOG_SYSLOG || !to_syslog(sev, line)) {
		to_stderr(line);
	}
	pthread_mutex_unlock(&sink.lock);
}

void tandem_log_line(const char *line)
{
	log_at(line != NULL && strstr(line, "ALERT") != NULL ? TANDEM_LOG_WARNING
							     : TANDEM_LOG_NOTICE,
	       line);
}

void tandem_log_line_info(const char *line)
{
	log_at(TANDEM_LOG_INFO, line);
}

static void logf_at(bool info, const char *fmt, va_list ap)
{
	char line[1024], safe[4 * sizeof(line)];
	vsnprintf(line, sizeof(line), fmt, ap);
	const char *esc = tandem_escape(safe, sizeof(safe), line);
	if (info) {
		tandem_log_line_info(esc);
	} else {
		tandem_log_line(esc);
	}
}

void tandem_logf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	logf_at(false, fmt, ap);
	va_end(ap);
}

void tandem_logf_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	logf_at(true, fmt, ap);
	va_end(ap);
}
