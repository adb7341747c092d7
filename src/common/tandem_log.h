/* The daemons' log sink: one line per event, on stderr (the journal's) or sent to syslog. */
#ifndef TANDEM_LOG_H
#define TANDEM_LOG_H

#include <stdbool.h>

typedef enum {
	TANDEM_LOG_STDERR = 0, /* "UTC-TIME PROGRAM [WHO]: LINE" on stderr (the default) */
	TANDEM_LOG_SYSLOG,     /* "<PRI>TIME PROGRAM[PID]: WHO: LINE" to a syslog socket */
} tandem_log_target_t;

/* How much a line matters (syslog's severities): routine per-cycle lines are info, the
 * other events notice, lines that say ALERT warning. */
typedef enum {
	TANDEM_LOG_INFO = 0,
	TANDEM_LOG_NOTICE,
	TANDEM_LOG_WARNING,
} tandem_log_level_t;

/* "info", "notice" or "warning" into *out; false for anything else (*out untouched). */
bool tandem_log_level_parse(const char *s, tandem_log_level_t *out);

/* Lines below level are dropped from now on (the daemons' log-level key, applied on SIGHUP
 * too); info (everything) until set. Safe from any thread. */
void tandem_log_set_level(tandem_log_level_t level);

/* The default syslog socket. */
#define TANDEM_LOG_SOCKET "/dev/log"

/* "stderr" or "syslog" into *out; false for anything else (*out untouched). */
bool tandem_log_target_parse(const char *s, tandem_log_target_t *out);

/*
 * Sets the process's sink, once at start before any thread logs: program is the daemon's
 * name ("tandemd"), who the node or coordinator name its lines carry (NULL: none on
 * stderr), socket_path the syslog socket (NULL: TANDEM_LOG_SOCKET). All strings are
 * borrowed for the process's life. The sink is the process's one (as libc's openlog is):
 * the daemons' log functions are called from hundreds of places without a context.
 * Syslog: the socket is connected on the first line; a line it does not take (no
 * socket, a full buffer) goes to stderr instead, so no event is lost, and the next line
 * tries the socket again.
 */
void tandem_log_open(tandem_log_target_t target, const char *program, const char *who,
		     const char *socket_path);

/* One event: line is one line, already escaped (no newline); never a secret. Severity is
 * warning for a line that says ALERT, else notice. Safe from any thread. */
void tandem_log_line(const char *line);

/* One routine event (a run's summary, a publication): as tandem_log_line, at info. */
void tandem_log_line_info(const char *line);

/* printf-style: the line made (at most 1023 bytes), escaped (tandem_escape: whatever a peer
 * or an operator sent cannot forge another line), then tandem_log_line / _info. */
void tandem_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tandem_logf_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Closes the syslog socket (at exit); stderr again afterwards. */
void tandem_log_close(void);

#endif
