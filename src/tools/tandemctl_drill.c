/* tandemctl drill: disaster-recovery drills against a running cluster, faults injected through
 * the operator's hook commands, measured from the coordinator's status and reported as JSON
 * and Markdown (docs/drills.md). */
#include "coordrpc.h"
#include "coordrpc_audit.h"
#include "tandem_error.h"
#include "tandem_serial.h"
#include "tandemctl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Exit codes (tandemctl.h); a drill that ran and failed is 4. */
enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_INPUT = 2, EXIT_REFUSED = 4, EXIT_COORD = 5 };

#define DRILL_WORDS_MAX   32
#define DRILL_HOOKS_MAX   32
#define DRILL_LINE_MAX    1024
#define DRILL_OUTPUT_MAX  8192
#define DRILL_SERIALS_MAX 4096
#define DRILL_POLL_MS     400

enum {
	OPT_COORD = 256,
	OPT_COORD_PUB,
	OPT_KEY,
	OPT_ZONE,
	OPT_REPORT,
	OPT_REALLY,
	OPT_HOOKS,
	OPT_HOOK_TIMEOUT,
	OPT_WAIT,
};

/* The actions a hooks file may map; {placeholders} each takes. */
static const char *const hook_actions[] = {
    "stop-site",        "start-site", "stop-coordinator", "start-coordinator",
    "stop-etcd-leader", "start-etcd", "partition",        "heal",
    "hsm-off",          "hsm-on",     "fetch-zone",       "resolve",
    "rebuild-node"};

typedef struct drill_hook {
	char action[32];
	size_t nwords;
	char *words[DRILL_WORDS_MAX]; /* owned */
} drill_hook_t;

/* One serial seen committed during the drill. */
typedef struct drill_serial {
	uint32_t serial;
	uint8_t digest[COORD_DIGEST_LEN];
	char node[COORD_ID_MAX];
	uint64_t epoch;
	bool fetched; /* its published file was checked */
	bool skipped; /* the node's file showed a later serial first: never checked */
} drill_serial_t;

typedef struct drill {
	const char *who;
	const char *scenario;
	char zone[COORD_ZONE_MAX];
	const char *report_dir;
	unsigned hook_timeout_s;
	unsigned wait_s;
	tandemctl_coord_t *coord;
	size_t nhooks;
	drill_hook_t hooks[DRILL_HOOKS_MAX];
	coordrpc_status_t *st; /* the last status read */
	char stamp[32];        /* YYYYMMDDTHHMMSSZ of the start */
	char base[4096];       /* REPORT/drill-STAMP-SCENARIO */
	json_t *timeline;
	json_t *validation;
	json_t *invariants; /* list of strings: violations */
	/* the starting shape */
	char active[COORD_ID_MAX];
	uint32_t active_site;
	char other[COORD_ID_MAX]; /* a node of another site */
	uint32_t serial_before;
	uint32_t zone_alerts_before;
	/* what was seen */
	size_t nserials;
	drill_serial_t serials[DRILL_SERIALS_MAX];
	bool have_last;
	uint32_t last_serial;
	uint64_t last_epoch;
	uint64_t fault_ms;     /* UNIX ms the fault was injected; 0 none */
	uint64_t recovered_ms; /* UNIX ms of the first publication that ended it */
	char recovered_by[COORD_ID_MAX];
	uint32_t recovered_serial;
	bool failed;
	char fail_why[512];
	uint64_t audit_from; /* the audit chain's head before the drill */
	bool hook_optional;  /* the next hook's failure is not the drill's (fetch-zone) */
	uint64_t restore_ms; /* UNIX ms the restoring began */
	char approval[COORDRPC_REQ_ID_MAX]; /* the executed drill request (production), "" */
	size_t ncoords;                     /* the coordinators known at the start */
	char coords[COORDRPC_COORDS_MAX + 1][COORD_ID_MAX];
} drill_t;

/* Set by SIGINT or SIGTERM: the drill stops waiting and restores what it can (a second
 * signal ends it at once). */
static volatile sig_atomic_t drill_interrupted;

static void on_interrupt(int sig)
{
	drill_interrupted = 1;
	signal(sig, SIG_DFL);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void utc_ms(char *out, size_t size, uint64_t ms)
{
	time_t s = (time_t)(ms / 1000u);
	struct tm tm;
	gmtime_r(&s, &tm);
	char b[32];
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, size, "%s.%03uZ", b, (unsigned)(ms % 1000u));
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
	nanosleep(&ts, NULL);
}

static void usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: tandemctl drill SCENARIO [--zone Z] [--report DIR] [--really] [--hooks FILE]\n"
	    "                       [--hook-timeout S] [--wait S] [--coord ... --coord-pub ... "
	    "--key ...]\n"
	    "       tandemctl drill list [--report DIR]\n"
	    "scenarios: switchover-roundtrip, site-loss, coordinator-loss, partition, hsm-loss,\n"
	    "           etcd-leader-loss, archive-restore (docs/drills.md)\n"
	    "--hooks FILE: the fault actions' commands (default TANDEM_DRILL_HOOKS); --report "
	    "DIR:\n"
	    "where reports go (default TANDEM_DRILL_REPORT, else .)\n");
}

/* ---- the timeline ------------------------------------------------------------------------ */

/* Adds a step (and prints it): what happened, at UNIX ms t. Returns the step (borrowed). */
static json_t *step(drill_t *d, uint64_t t, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static json_t *step(drill_t *d, uint64_t t, const char *what, const char *fmt, ...)
{
	char detail[1024], utc[40];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	utc_ms(utc, sizeof(utc), t);
	json_t *s = json_pack("{s:s, s:I, s:s, s:s}", "utc", utc, "unix_ms", (json_int_t)t, "step",
			      what, "detail", detail);
	json_array_append_new(d->timeline, s);
	printf("%s %-12s %s\n", utc, what, detail);
	fflush(stdout);
	return s;
}

static void fail(drill_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(drill_t *d, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!d->failed) {
		snprintf(d->fail_why, sizeof(d->fail_why), "%s", why);
	}
	d->failed = true;
	step(d, now_ms(), "fail", "%s", why);
}

/* ---- hooks ------------------------------------------------------------------------------- */

static bool hook_action_known(const char *a)
{
	for (size_t i = 0; i < sizeof(hook_actions) / sizeof(hook_actions[0]); i++) {
		if (strcmp(a, hook_actions[i]) == 0) {
			return true;
		}
	}
	return false;
}

static void hooks_free(drill_t *d)
{
	for (size_t i = 0; i < d->nhooks; i++) {
		for (size_t w = 0; w < d->hooks[i].nwords; w++) {
			free(d->hooks[i].words[w]);
		}
	}
	d->nhooks = 0;
}

/* Loads the hooks file: `ACTION COMMAND [ARG...]` per line, words split at blanks, `#`
 * comments. It runs commands: refused when others may write it. Returns an exit code. */
static int hooks_load(drill_t *d, const char *path)
{
	struct stat sb;
	char line[DRILL_LINE_MAX];
	int rc = EXIT_INPUT;
	unsigned lineno = 0;
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		fprintf(stderr, "%s: hooks file %s: %s\n", d->who, path, strerror(errno));
		return EXIT_INPUT;
	}
	if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
		fprintf(stderr, "%s: hooks file %s: not a regular file\n", d->who, path);
		goto out;
	}
	if ((sb.st_mode & 022) != 0) {
		fprintf(stderr,
			"%s: hooks file %s: group or others may write it (mode %03o); it names "
			"commands the drill runs: chmod go-w it\n",
			d->who, path, (unsigned)(sb.st_mode & 0777));
		goto out;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		size_t len = strlen(line);
		if (len > 0 && line[len - 1] != '\n' && !feof(fp)) {
			fprintf(stderr, "%s: %s:%u: line longer than %d characters\n", d->who, path,
				lineno, DRILL_LINE_MAX - 2);
			goto out;
		}
		char *hash = strchr(line, '#');
		if (hash != NULL) {
			*hash = '\0';
		}
		char *save = NULL;
		char *tok = strtok_r(line, " \t\r\n", &save);
		if (tok == NULL) {
			continue;
		}
		if (!hook_action_known(tok)) {
			fprintf(
			    stderr,
			    "%s: %s:%u: unknown action '%.40s' (stop-site, start-site, "
			    "stop-coordinator, start-coordinator, stop-etcd-leader, start-etcd, "
			    "partition, heal, hsm-off, hsm-on, fetch-zone, resolve, "
			    "rebuild-node)\n",
			    d->who, path, lineno, tok);
			goto out;
		}
		for (size_t i = 0; i < d->nhooks; i++) {
			if (strcmp(d->hooks[i].action, tok) == 0) {
				fprintf(stderr, "%s: %s:%u: action %s given twice\n", d->who, path,
					lineno, tok);
				goto out;
			}
		}
		if (d->nhooks == DRILL_HOOKS_MAX) {
			fprintf(stderr, "%s: %s:%u: too many lines\n", d->who, path, lineno);
			goto out;
		}
		drill_hook_t *h = &d->hooks[d->nhooks++];
		snprintf(h->action, sizeof(h->action), "%s", tok);
		while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
			if (h->nwords == DRILL_WORDS_MAX) {
				fprintf(stderr, "%s: %s:%u: more than %d words\n", d->who, path,
					lineno, DRILL_WORDS_MAX);
				goto out;
			}
			h->words[h->nwords] = strdup(tok);
			if (h->words[h->nwords] == NULL) {
				fprintf(stderr, "%s: out of memory\n", d->who);
				goto out;
			}
			h->nwords++;
		}
		if (h->nwords == 0) {
			fprintf(stderr, "%s: %s:%u: action %s has no command\n", d->who, path,
				lineno, h->action);
			goto out;
		}
	}
	rc = EXIT_OK;
out:
	fclose(fp);
	return rc;
}

static const drill_hook_t *hook_find(const drill_t *d, const char *action)
{
	for (size_t i = 0; i < d->nhooks; i++) {
		if (strcmp(d->hooks[i].action, action) == 0) {
			return &d->hooks[i];
		}
	}
	return NULL;
}

/* Replaces {site} {node} {member} {zone} {file} in word by the values given (NULL: left). */
static bool expand(char *out, size_t size, const char *word, const char *const vals[5])
{
	static const char *const names[5] = {"{site}", "{node}", "{member}", "{zone}", "{file}"};
	size_t o = 0;
	for (const char *p = word; *p != '\0';) {
		bool done = false;
		for (size_t k = 0; k < 5 && !done; k++) {
			size_t n = strlen(names[k]);
			if (vals[k] != NULL && strncmp(p, names[k], n) == 0) {
				size_t v = strlen(vals[k]);
				if (o + v >= size) {
					return false;
				}
				memcpy(out + o, vals[k], v);
				o += v;
				p += n;
				done = true;
			}
		}
		if (!done) {
			if (o + 1 >= size) {
				return false;
			}
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	return true;
}

/*
 * Runs a hook: no shell, stdin /dev/null, stdout and stderr captured (first
 * DRILL_OUTPUT_MAX bytes), its process group killed after the timeout. Records a timeline step
 * with its argv, exit status and output; *last_line gets the last line of its output when not
 * NULL. Returns true when it exited 0.
 */
static bool hook_run(drill_t *d, const char *action, const char *site, const char *node,
		     const char *member, const char *file, char *last_line, size_t ll_size)
{
	const drill_hook_t *h = hook_find(d, action);
	const char *vals[5] = {site, node, member, d->zone, file};
	char *argv[DRILL_WORDS_MAX + 1];
	char shown[2048] = "";
	char out[DRILL_OUTPUT_MAX + 1];
	size_t olen = 0, sl = 0;
	int pipefd[2] = {-1, -1};
	bool ok = false;

	memset(argv, 0, sizeof(argv));
	if (h == NULL) {
		fail(d, "the hooks file has no '%s' action", action);
		return false;
	}
	for (size_t w = 0; w < h->nwords; w++) {
		char buf[1024];
		if (!expand(buf, sizeof(buf), h->words[w], vals) ||
		    (argv[w] = strdup(buf)) == NULL) {
			fail(d, "hook %s: word %zu too long", action, w + 1);
			goto out;
		}
		sl += (size_t)snprintf(shown + sl, sl < sizeof(shown) ? sizeof(shown) - sl : 0,
				       "%s%s", w > 0 ? " " : "", buf);
		if (sl >= sizeof(shown)) {
			sl = sizeof(shown) - 1;
		}
	}
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		fail(d, "hook %s: pipe: %s", action, strerror(errno));
		goto out;
	}
	uint64_t t0 = now_ms();
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		fail(d, "hook %s: fork: %s", action, strerror(errno));
		goto out;
	}
	if (pid == 0) {
		setpgid(0, 0);
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0) {
			dup2(null, 0);
		}
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	close(pipefd[1]);
	pipefd[1] = -1;
	uint64_t deadline = now_ms() + (uint64_t)d->hook_timeout_s * 1000u;
	bool timed_out = false, exited = false, eof = false;
	int status = 0;
	/* until it exits (a daemon it started may keep the pipe: it is not waited for), then
	 * what it wrote before */
	while (!exited || !eof) {
		if (!exited) {
			pid_t w = waitpid(pid, &status, WNOHANG);
			exited = w == pid || (w < 0 && errno != EINTR);
		}
		uint64_t n = now_ms();
		if (!exited && n >= deadline) {
			timed_out = true;
			kill(-pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
			}
			break;
		}
		struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
		int pr = poll(&pfd, 1, exited ? 0 : 100);
		if (pr < 0 && errno == EINTR) {
			continue;
		}
		if (pr <= 0) {
			eof = exited;
			continue;
		}
		char buf[1024];
		ssize_t r = read(pipefd[0], buf, sizeof(buf));
		if (r <= 0) {
			eof = true;
			continue;
		}
		size_t take = (size_t)r;
		if (take > DRILL_OUTPUT_MAX - olen) {
			take = DRILL_OUTPUT_MAX - olen;
		}
		memcpy(out + olen, buf, take);
		olen += take;
	}
	out[olen] = '\0';
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	ok = !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	json_t *s = step(d, t0, "hook", "%s: %s -> %s", action, shown,
			 timed_out ? "timed out" : (ok ? "ok" : "failed"));
	json_t *jargv = json_array();
	for (size_t w = 0; w < h->nwords; w++) {
		json_array_append_new(jargv, json_string(argv[w]));
	}
	json_object_set_new(s, "action", json_string(action));
	json_object_set_new(s, "argv", jargv);
	json_object_set_new(s, "exit", json_integer(code));
	json_object_set_new(s, "timed_out", json_boolean(timed_out));
	json_object_set_new(s, "duration_ms", json_integer((json_int_t)(now_ms() - t0)));
	/* the report holds text: bytes outside printable ASCII (and newline, tab) shown as '?' */
	for (size_t i = 0; i < olen; i++) {
		unsigned char ch = (unsigned char)out[i];
		if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch > 0x7e) {
			out[i] = '?';
		}
	}
	json_object_set_new(s, "output", json_stringn(out, olen));
	if (last_line != NULL && ll_size > 0) {
		last_line[0] = '\0';
		while (olen > 0 && (out[olen - 1] == '\n' || out[olen - 1] == '\r')) {
			out[--olen] = '\0';
		}
		const char *nl = strrchr(out, '\n');
		const char *from = nl != NULL ? nl + 1 : out;
		size_t fl = strlen(from);
		if (fl >= ll_size) {
			fl = ll_size - 1;
		}
		memcpy(last_line, from, fl);
		last_line[fl] = '\0';
	}
	if (!ok && !d->hook_optional) {
		fail(d, "hook %s (%s) %s (exit %d)", action, shown,
		     timed_out ? "timed out" : "failed", code);
	}
out:
	if (pipefd[0] >= 0) {
		close(pipefd[0]);
	}
	if (pipefd[1] >= 0) {
		close(pipefd[1]);
	}
	for (size_t w = 0; w < DRILL_WORDS_MAX; w++) {
		free(argv[w]);
	}
	return ok;
}

/* ---- observing the cluster ------------------------------------------------------------ */

static const coordrpc_zone_status_t *zone_of(const drill_t *d)
{
	for (size_t z = 0; z < d->st->nzones && z < COORD_ZONES_MAX; z++) {
		if (strcmp(d->st->zones[z].name, d->zone) == 0) {
			return &d->st->zones[z];
		}
	}
	return NULL;
}

static const coordrpc_node_status_t *node_of(const drill_t *d, const char *name)
{
	for (size_t i = 0; i < d->st->nnodes && i < COORD_NODES_MAX; i++) {
		if (strcmp(d->st->nodes[i].name, name) == 0) {
			return &d->st->nodes[i];
		}
	}
	return NULL;
}

static char site_letter(uint32_t s)
{
	return (char)('A' + (s < 26 ? s : 25));
}

static void hexs(char *out, const uint8_t *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		snprintf(out + 2 * i, 3, "%02x", in[i]);
	}
}

/* The SOA serial of a zone file in presentation format: the first record whose type field
 * is SOA. False when none. */
static bool file_serial(const char *path, uint32_t *serial)
{
	char line[4096];
	bool found = false;
	FILE *fp = fopen(path, "r");
	if (fp == NULL) {
		return false;
	}
	while (!found && fgets(line, sizeof(line), fp) != NULL) {
		char *tok[12], *save = NULL;
		size_t n = 0;
		for (char *t = strtok_r(line, " \t\r\n", &save); t != NULL && n < 12;
		     t = strtok_r(NULL, " \t\r\n", &save)) {
			tok[n++] = t;
		}
		for (size_t i = 1; i + 3 < n; i++) {
			if (strcmp(tok[i], "SOA") == 0) {
				char *end = NULL;
				unsigned long v = strtoul(tok[i + 3], &end, 10);
				if (*end == '\0' && v <= UINT32_MAX) {
					*serial = (uint32_t)v;
					found = true;
				}
				break;
			}
		}
	}
	fclose(fp);
	return found;
}

/* Runs a validator (no shell) on a file; its output goes into the report beside it. */
static bool validator_run(drill_t *d, const char *const *argv, const char *out_path)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		return false;
	}
	if (pid == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
		int null = open("/dev/null", O_RDONLY);
		if (fd < 0 || null < 0) {
			_exit(127);
		}
		dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	/* bounded as the hooks are: a validator that hangs fails the serial, not the drill's
	 * restore */
	int status = 0;
	uint64_t deadline = now_ms() + (uint64_t)d->hook_timeout_s * 1000u;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR)) {
			break;
		}
		if (now_ms() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
			}
			return false;
		}
		sleep_ms(20);
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static bool have_program(const char *name)
{
	const char *path = getenv("PATH");
	if (path == NULL) {
		return false;
	}
	char *copy = strdup(path), *save = NULL;
	bool found = false;
	for (char *dir = copy != NULL ? strtok_r(copy, ":", &save) : NULL; dir != NULL && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", dir, name);
		found = access(p, X_OK) == 0;
	}
	free(copy);
	return found;
}

static void validation_add(drill_t *d, const char *validator, uint32_t serial, bool pass,
			   const char *node, const char *detail)
{
	json_array_append_new(d->validation,
			      json_pack("{s:s, s:I, s:s, s:s, s:s}", "validator", validator,
					"serial", (json_int_t)serial, "verdict",
					pass ? "pass" : "fail", "node", node, "detail", detail));
	step(d, now_ms(), "validate", "%s on %s's serial %" PRIu32 ": %s", validator, node, serial,
	     pass ? "pass" : "FAIL");
	if (!pass) {
		fail(d, "%s refuses serial %" PRIu32 " as published by %s", validator, serial,
		     node);
	}
}

/* Fetches what node publishes (hook fetch-zone) and, when its file is a serial seen
 * committed and not yet checked, runs the external validators on it. */
static void fetch_and_validate(drill_t *d, const char *node)
{
	char file[4200], out[4300];
	uint32_t serial = 0;
	snprintf(file, sizeof(file), "%s.zones/fetched.zone", d->base);
	if (hook_find(d, "fetch-zone") == NULL) {
		return;
	}
	/* a node that is down, or has not written the file yet, is asked again later */
	d->hook_optional = true;
	bool ok = hook_run(d, "fetch-zone", NULL, node, NULL, file, NULL, 0);
	d->hook_optional = false;
	if (!ok) {
		return;
	}
	if (!file_serial(file, &serial)) {
		fail(d, "the zone %s fetched from %s has no SOA", d->zone, node);
		return;
	}
	drill_serial_t *s = NULL;
	for (size_t i = 0; i < d->nserials; i++) {
		if (d->serials[i].serial == serial) {
			s = &d->serials[i];
		}
	}
	/* the node's earlier serials not fetched in time will not show again */
	for (size_t i = 0; i < d->nserials; i++) {
		drill_serial_t *o = &d->serials[i];
		if (!o->fetched && strcmp(o->node, node) == 0 &&
		    tandem_serial_gt(serial, o->serial)) {
			o->skipped = true;
		}
	}
	if (s == NULL || s->fetched) {
		return; /* not a serial of the drill, or checked already */
	}
	s->fetched = true;
	char kept[4300];
	snprintf(kept, sizeof(kept), "%s.zones/%s-%" PRIu32 ".zone", d->base, node, serial);
	rename(file, kept);
	const char *dv[] = {"dnssec-verify", "-q", "-o", d->zone, kept, NULL};
	snprintf(out, sizeof(out), "%s.zones/%s-%" PRIu32 ".dnssec-verify.out", d->base, node,
		 serial);
	validation_add(d, "dnssec-verify", serial, validator_run(d, dv, out), node, out);
	if (have_program("ldns-verify-zone")) {
		const char *lv[] = {"ldns-verify-zone", kept, NULL};
		snprintf(out, sizeof(out), "%s.zones/%s-%" PRIu32 ".ldns-verify-zone.out", d->base,
			 node, serial);
		validation_add(d, "ldns-verify-zone", serial, validator_run(d, lv, out), node, out);
	}
}

/*
 * Reads the status once (quietly: during a fault a coordinator may not answer) and checks
 * what changed: a new committed serial must be above the last (RFC 1982), one serial has one
 * digest, epochs never fall and one epoch has one committer; a digest alert fails the drill.
 * Returns true when a status was read.
 */
static bool observe(drill_t *d)
{
	if (tandemctl_coord_status_quiet(d->coord, d->st) != TANDEM_OK) {
		return false;
	}
	if (d->st->stale) {
		/* a coordinator without etcd answers from the state it last read: older than
		 * what was seen, so no evidence of commits (nor of a serial going back) */
		return true;
	}
	const coordrpc_zone_status_t *z = zone_of(d);
	if (z == NULL || z->removed) {
		fail(d, "zone %s is gone from the cluster", d->zone);
		return true;
	}
	if (z->alerts > d->zone_alerts_before || z->alert_open) {
		char msg[600];
		snprintf(msg, sizeof(msg), "digest alert on %s (serial %" PRIu32 ", node %s)",
			 d->zone, z->alert_serial, z->alert_node);
		if (json_array_size(d->invariants) == 0 ||
		    strcmp(json_string_value(
			       json_array_get(d->invariants, json_array_size(d->invariants) - 1)),
			   msg) != 0) {
			json_array_append_new(d->invariants, json_string(msg));
			fail(d, "%s", msg);
		}
	}
	if (!z->has_committed) {
		return true;
	}
	if (d->have_last && z->serial == d->last_serial) {
		return true;
	}
	if (d->have_last && !tandem_serial_gt(z->serial, d->last_serial)) {
		char msg[200];
		snprintf(msg, sizeof(msg), "serial went from %" PRIu32 " to %" PRIu32,
			 d->last_serial, z->serial);
		json_array_append_new(d->invariants, json_string(msg));
		fail(d, "%s", msg);
	}
	if (d->have_last && z->epoch < d->last_epoch) {
		char msg[200];
		snprintf(msg, sizeof(msg), "epoch went from %" PRIu64 " to %" PRIu64, d->last_epoch,
			 z->epoch);
		json_array_append_new(d->invariants, json_string(msg));
		fail(d, "%s", msg);
	}
	/* the epoch the serial was committed under: the lease's epoch may already be the next
	 * holder's while the last commit is still the old holder's */
	uint64_t cepoch = z->committed_epoch != 0 ? z->committed_epoch : z->epoch;
	for (size_t i = 0; i < d->nserials; i++) {
		const drill_serial_t *o = &d->serials[i];
		if (o->serial == z->serial && memcmp(o->digest, z->digest, COORD_DIGEST_LEN) != 0) {
			char msg[200];
			snprintf(msg, sizeof(msg), "serial %" PRIu32 " committed with two digests",
				 z->serial);
			json_array_append_new(d->invariants, json_string(msg));
			fail(d, "%s", msg);
		}
		if (o->epoch == cepoch && strcmp(o->node, z->committed_by) != 0) {
			char msg[200];
			snprintf(msg, sizeof(msg), "epoch %" PRIu64 " committed by %s and by %s",
				 cepoch, o->node, z->committed_by);
			json_array_append_new(d->invariants, json_string(msg));
			fail(d, "%s", msg);
		}
	}
	if (d->nserials < DRILL_SERIALS_MAX) {
		drill_serial_t *s = &d->serials[d->nserials++];
		s->serial = z->serial;
		memcpy(s->digest, z->digest, COORD_DIGEST_LEN);
		snprintf(s->node, sizeof(s->node), "%s", z->committed_by);
		s->epoch = cepoch;
	}
	char hx[2 * COORD_DIGEST_LEN + 1];
	hexs(hx, z->digest, 8);
	step(d, now_ms(), "commit", "serial %" PRIu32 " by %s, epoch %" PRIu64 ", digest %s...",
	     z->serial, z->committed_by, cepoch, hx);
	d->have_last = true;
	d->last_serial = z->serial;
	d->last_epoch = z->epoch;
	return true;
}

static bool serial_pending(const drill_serial_t *s)
{
	return !s->fetched && !s->skipped;
}

/* Validates what each node that committed during the drill publishes, when its file shows
 * a serial not yet checked: one fetch per such node and poll (a node that is down does not
 * hold up the others). */
static void validate_pending(drill_t *d)
{
	const char *done[COORD_NODES_MAX];
	size_t ndone = 0;
	for (size_t i = 0; i < d->nserials && ndone < COORD_NODES_MAX; i++) {
		const char *node = d->serials[i].node;
		bool seen = false;
		for (size_t k = 0; k < ndone && !seen; k++) {
			seen = strcmp(done[k], node) == 0;
		}
		if (serial_pending(&d->serials[i]) && !seen) {
			done[ndone++] = node;
			fetch_and_validate(d, node);
		}
	}
}

typedef bool (*drill_cond_fn)(drill_t *d, const void *arg);

/* Polls until cond holds on a fresh status or wait_s pass; checks every status read. */
static bool wait_for(drill_t *d, const char *what, drill_cond_fn cond, const void *arg)
{
	uint64_t deadline = now_ms() + (uint64_t)d->wait_s * 1000u;
	step(d, now_ms(), "wait", "%s (at most %u s)", what, d->wait_s);
	for (;;) {
		if (observe(d) && !d->st->stale && cond(d, arg)) {
			step(d, now_ms(), "done", "%s", what);
			return true;
		}
		validate_pending(d);
		if (drill_interrupted) {
			fail(d, "%s: interrupted (SIGINT or SIGTERM)", what);
			return false;
		}
		if (now_ms() >= deadline) {
			fail(d, "%s: not within %u s", what, d->wait_s);
			return false;
		}
		sleep_ms(DRILL_POLL_MS);
	}
}

/* A serial above `after` committed by a node of a site other than `site` (site == UINT32_MAX:
 * by any node; a node name in arg->node: by that node). */
typedef struct pub_cond {
	uint32_t after;
	uint32_t not_site; /* UINT32_MAX: any */
	const char *node;  /* NULL: any */
} pub_cond_t;

static bool published(drill_t *d, const void *arg)
{
	const pub_cond_t *c = arg;
	const coordrpc_zone_status_t *z = zone_of(d);
	if (z == NULL || !z->has_committed || !tandem_serial_gt(z->serial, c->after)) {
		return false;
	}
	if (c->node != NULL && strcmp(z->committed_by, c->node) != 0) {
		return false;
	}
	if (c->not_site != UINT32_MAX) {
		const coordrpc_node_status_t *n = node_of(d, z->committed_by);
		if (n == NULL || n->site == c->not_site) {
			return false;
		}
	}
	return true;
}

/* Waits for the first publication after the fault that the scenario counts as recovery;
 * records it as the RTO. */
static bool wait_recovery(drill_t *d, const char *what, uint32_t not_site)
{
	pub_cond_t c = {.after = d->serial_before, .not_site = not_site, .node = NULL};
	if (!wait_for(d, what, published, &c)) {
		return false;
	}
	const coordrpc_zone_status_t *z = zone_of(d);
	d->recovered_ms = now_ms();
	d->recovered_serial = z->serial;
	snprintf(d->recovered_by, sizeof(d->recovered_by), "%s", z->committed_by);
	step(d, d->recovered_ms, "recovered", "serial %" PRIu32 " by %s, %.1f s after the fault",
	     z->serial, z->committed_by, (double)(d->recovered_ms - d->fault_ms) / 1000.0);
	return true;
}

static bool node_back(drill_t *d, const void *arg)
{
	const coordrpc_node_status_t *n = node_of(d, arg);
	/* heard of since the restore began (clocks of one cluster agree within its margin) */
	return n != NULL && n->healthy && n->state == COORD_NODE_UP &&
	       n->last_seen_ms >= d->restore_ms && d->st->now_ms < n->last_seen_ms + 5000u;
}

static bool holder_is(drill_t *d, const void *arg)
{
	const coordrpc_zone_status_t *z = zone_of(d);
	return z != NULL && strcmp(z->holder, arg) == 0;
}

/* The operator's switchover of the zone to node; refusals are retried until the wait ends
 * (a node that came back is refused until it acknowledged every key). */
static bool switch_to(drill_t *d, const char *node)
{
	coordrpc_request_t req;
	coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
	uint64_t deadline = now_ms() + (uint64_t)d->wait_s * 1000u;
	bool ok = false;
	memset(&req, 0, sizeof(req));
	req.kind = COORDRPC_SWITCHOVER;
	snprintf(req.zone, sizeof(req.zone), "%s", d->zone);
	snprintf(req.target, sizeof(req.target), "%s", node);
	if (dec == NULL) {
		fail(d, "out of memory");
		return false;
	}
	observe(d);
	if (holder_is(d, node)) {
		free(dec);
		return true;
	}
	for (;;) {
		memset(dec, 0, sizeof(*dec));
		int rc = tandemctl_coord_decide(d->coord, &req, dec);
		if (rc == EXIT_OK && dec->accepted) {
			step(d, now_ms(), "switchover", "%s to %s: accepted: %s", d->zone, node,
			     dec->text);
			ok = true;
			break;
		}
		if (now_ms() >= deadline || drill_interrupted) {
			fail(d, "switchover of %s to %s refused: %s", d->zone, node,
			     rc == EXIT_OK ? dec->text : "no coordinator answered");
			break;
		}
		observe(d);
		if (holder_is(d, node)) {
			ok = true;
			break;
		}
		sleep_ms(1000);
	}
	coordrpc_decision_deinit(dec);
	free(dec);
	return ok;
}

/* Switches the zone back to the node that was active at the start and waits until it
 * publishes a serial above the last one seen. */
static bool restore_active(drill_t *d)
{
	char what[600];
	if (d->restore_ms == 0) {
		d->restore_ms = now_ms();
	}
	snprintf(what, sizeof(what), "%s healthy and seen by the coordinator", d->active);
	if (!wait_for(d, what, node_back, d->active)) {
		return false;
	}
	if (!switch_to(d, d->active)) {
		return false;
	}
	pub_cond_t c = {.after = d->last_serial, .not_site = UINT32_MAX, .node = d->active};
	snprintf(what, sizeof(what), "%s to publish %s again", d->active, d->zone);
	return wait_for(d, what, published, &c);
}

/* ---- the audit trail ------------------------------------------------------------------- */

static bool audit_head(drill_t *d, uint64_t *head)
{
	coordrpc_audit_page_t page;
	memset(&page, 0, sizeof(page));
	if (tandemctl_coord_audit_get(d->coord, UINT64_MAX / 2, 1, &page) != EXIT_OK) {
		return false;
	}
	*head = page.head_seq;
	coordrpc_audit_page_deinit(&page);
	return true;
}

/* The audit entries written since the drill began (by its own notes, the coordinators'
 * role changes, approvals, ...). */
static json_t *audit_window(drill_t *d)
{
	json_t *arr = json_array();
	uint64_t from = d->audit_from + 1;
	for (unsigned pages = 0; pages < 100; pages++) {
		coordrpc_audit_page_t page;
		memset(&page, 0, sizeof(page));
		if (tandemctl_coord_audit_get(d->coord, from, COORDRPC_AUDIT_PAGE_MAX, &page) !=
		    EXIT_OK) {
			json_array_append_new(
			    arr, json_pack("{s:s}", "error", "the audit log could not be read"));
			break;
		}
		for (size_t i = 0; i < page.nlines; i++) {
			json_t *e = json_loads(page.lines[i], 0, NULL);
			json_array_append_new(arr, e != NULL ? e : json_string(page.lines[i]));
		}
		size_t n = page.nlines;
		uint64_t head = page.head_seq;
		coordrpc_audit_page_deinit(&page);
		if (n == 0 || from + n > head) {
			break;
		}
		from += n;
	}
	return arr;
}

/* The audit window once it holds the drill's drill.end: a coordinator appends its events to
 * the chain in etcd from a queue, within a loop turn or a few (15 s at most; then the window
 * as it is, and a timeline step saying so). */
static json_t *audit_window_end(drill_t *d, const char *scenario)
{
	char want[96];
	snprintf(want, sizeof(want), "scenario=%s ", scenario);
	uint64_t deadline = now_ms() + 15000u;
	for (;;) {
		json_t *arr = audit_window(d), *v;
		size_t i;
		json_array_foreach(arr, i, v)
		{
			const char *type = json_string_value(json_object_get(v, "type"));
			const char *det = json_string_value(json_object_get(v, "details"));
			if (type != NULL && det != NULL && strcmp(type, "drill.end") == 0 &&
			    strncmp(det, want, strlen(want)) == 0) {
				return arr;
			}
		}
		if (now_ms() >= deadline) {
			step(d, now_ms(), "audit", "drill.end is not in the audit log after 15 s");
			return arr;
		}
		json_decref(arr);
		sleep_ms(500);
	}
}

/* A drill note in the audit log through the coordinator (drill.start, drill.end). */
static void audit_note(drill_t *d, const char *type, const char *args)
{
	coordrpc_request_t req;
	coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
	memset(&req, 0, sizeof(req));
	if (dec == NULL) {
		return;
	}
	req.kind = COORDRPC_DRILL_NOTE;
	snprintf(req.action, sizeof(req.action), "%s", type);
	snprintf(req.args, sizeof(req.args), "%.*s", (int)sizeof(req.args) - 1, args);
	int rc = tandemctl_coord_decide(d->coord, &req, dec);
	if (rc != EXIT_OK || !dec->accepted) {
		fail(d, "audit note %s refused: %s", type,
		     rc == EXIT_OK ? dec->text : "no coordinator answered");
	} else {
		step(d, now_ms(), "audit", "%s %s", type, args);
	}
	coordrpc_decision_deinit(dec);
	free(dec);
}

/* ---- the scenarios ---------------------------------------------------------------------- */

static void fault(drill_t *d, const char *what)
{
	d->fault_ms = now_ms();
	step(d, d->fault_ms, "fault", "%s", what);
}

static void run_switchover_roundtrip(drill_t *d)
{
	fault(d, "planned switchover to the other site");
	if (!switch_to(d, d->other) ||
	    !wait_recovery(d, "the other site to publish", d->active_site)) {
		return;
	}
	restore_active(d);
}

static void run_site_loss(drill_t *d)
{
	char site[2] = {site_letter(d->active_site), '\0'};
	fault(d, "every process of the active site stopped hard");
	bool stopped = hook_run(d, "stop-site", site, NULL, NULL, NULL, NULL, 0);
	if (stopped) {
		wait_recovery(d, "the other site to publish", d->active_site);
	}
	d->restore_ms = now_ms();
	if (hook_run(d, "start-site", site, NULL, NULL, NULL, NULL, 0) && !d->failed) {
		restore_active(d);
	}
}

/* Every coordinator known at the start answers again, or is seen by the one that answers
 * (its clock measured) after the restart. */
static bool coords_back(drill_t *d, const void *arg)
{
	const uint64_t *since = arg;
	for (size_t k = 0; k < d->ncoords; k++) {
		bool seen = strcmp(d->st->coordinator, d->coords[k]) == 0;
		for (size_t i = 0; !seen && i < d->st->ncoords && i < COORDRPC_COORDS_MAX; i++) {
			const coordrpc_coord_clock_t *c = &d->st->coords[i];
			seen = strcmp(c->name, d->coords[k]) == 0 && c->seen_ms >= *since &&
			       c->seen_ms + 5000u > d->st->now_ms;
		}
		if (!seen) {
			return false;
		}
	}
	return true;
}

static void run_coordinator_loss(drill_t *d)
{
	char site[2] = {site_letter(d->active_site), '\0'};
	fault(d, "the active site's coordinator stopped hard");
	if (hook_run(d, "stop-coordinator", site, NULL, NULL, NULL, NULL, 0)) {
		wait_recovery(d, "a publication after the fault", UINT32_MAX);
	}
	uint64_t restart = now_ms();
	d->restore_ms = now_ms();
	if (hook_run(d, "start-coordinator", site, NULL, NULL, NULL, NULL, 0) && !d->failed) {
		if (wait_for(d, "every coordinator answering again", coords_back, &restart)) {
			restore_active(d);
		}
	}
}

static void run_partition(drill_t *d)
{
	char site[2] = {site_letter(d->active_site), '\0'};
	fault(d, "the active site cut off from the others");
	if (hook_run(d, "partition", site, NULL, NULL, NULL, NULL, 0)) {
		wait_recovery(d, "the other site to publish", d->active_site);
	}
	d->restore_ms = now_ms();
	if (hook_run(d, "heal", site, NULL, NULL, NULL, NULL, 0) && !d->failed) {
		restore_active(d);
	}
}

static void run_hsm_loss(drill_t *d)
{
	fault(d, "the active node's token made unavailable");
	if (hook_run(d, "hsm-off", NULL, d->active, NULL, NULL, NULL, 0)) {
		wait_recovery(d, "the other site to publish", d->active_site);
	}
	d->restore_ms = now_ms();
	if (hook_run(d, "hsm-on", NULL, d->active, NULL, NULL, NULL, 0) && !d->failed) {
		restore_active(d);
	}
}

static void run_etcd_leader_loss(drill_t *d)
{
	char member[128] = "";
	fault(d, "the etcd leader stopped hard");
	if (!hook_run(d, "stop-etcd-leader", NULL, NULL, NULL, NULL, member, sizeof(member))) {
		return;
	}
	if (member[0] == '\0' ||
	    strspn(member, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			   "0123456789._-") != strlen(member)) {
		fail(d, "stop-etcd-leader printed no member name as its last line of output "
			"(letters, digits, '.', '_', '-')");
		return;
	}
	wait_recovery(d, "a publication after the fault", UINT32_MAX);
	d->restore_ms = now_ms();
	if (hook_run(d, "start-etcd", NULL, NULL, member, NULL, NULL, 0) && !d->failed) {
		pub_cond_t c = {.after = d->last_serial, .not_site = UINT32_MAX, .node = NULL};
		wait_for(d, "a publication after the member's restart", published, &c);
		restore_active(d);
	}
}

/* The rebuilt node (arg) acknowledged every active key of the zone and reported the
 * committed serial's digest, matching. */
static bool shadow_proven(drill_t *d, const void *arg)
{
	const char *node = arg;
	const coordrpc_zone_status_t *z = zone_of(d);
	if (z == NULL || !z->has_committed || !node_back(d, node)) {
		return false;
	}
	for (size_t k = 0; k < z->nkeys && k < COORD_KEYS_MAX; k++) {
		bool acked = !z->keys[k].active;
		for (size_t a = 0; !acked && a < z->keys[k].nacks && a < COORD_NODES_MAX; a++) {
			acked = strcmp(z->keys[k].acks[a], node) == 0;
		}
		if (!acked) {
			return false;
		}
	}
	return z->report_serial == z->serial && strcmp(z->report_node, node) == 0 &&
	       z->report_match;
}

static void run_archive_restore(drill_t *d)
{
	const coordrpc_zone_status_t *z = zone_of(d);
	if (!z->compare_digests) {
		fail(d, "%s is not compared (--no-compare-digests): a shadow digest proves nothing",
		     d->zone);
		return;
	}
	fault(d, "the standby node rebuilt from the archive, an empty token and the SMK cards");
	d->restore_ms = now_ms();
	if (!hook_run(d, "rebuild-node", NULL, d->other, NULL, NULL, NULL, 0)) {
		return;
	}
	char what[300];
	snprintf(what, sizeof(what),
		 "%s to hold every active key and report the committed serial's digest, matching",
		 d->other);
	if (wait_for(d, what, shadow_proven, d->other)) {
		z = zone_of(d);
		d->recovered_ms = now_ms();
		d->recovered_serial = z->serial;
		snprintf(d->recovered_by, sizeof(d->recovered_by), "%s", d->other);
		step(d, d->recovered_ms, "recovered",
		     "%s's shadow run of serial %" PRIu32 " matches the committed digest, %.1f s "
		     "after the fault",
		     d->other, z->serial, (double)(d->recovered_ms - d->fault_ms) / 1000.0);
	}
}

typedef struct drill_scenario {
	const char *name;
	void (*run)(drill_t *d);
	const char *needs[3]; /* hook actions it needs */
	const char *rto;      /* what its RTO measures */
} drill_scenario_t;

static const drill_scenario_t scenarios[] = {
    {"switchover-roundtrip",
     run_switchover_roundtrip,
     {NULL},
     "switchover request to the other site's first publication"},
    {"site-loss",
     run_site_loss,
     {"stop-site", "start-site", NULL},
     "active site stopped to the other site's first publication"},
    {"coordinator-loss",
     run_coordinator_loss,
     {"stop-coordinator", "start-coordinator", NULL},
     "active site's coordinator stopped to the next publication"},
    {"partition",
     run_partition,
     {"partition", "heal", NULL},
     "active site cut off to the other site's first publication"},
    {"hsm-loss",
     run_hsm_loss,
     {"hsm-off", "hsm-on", NULL},
     "active node's token gone to the other site's first publication"},
    {"etcd-leader-loss",
     run_etcd_leader_loss,
     {"stop-etcd-leader", "start-etcd", NULL},
     "etcd leader stopped to the next publication"},
    {"archive-restore",
     run_archive_restore,
     {"rebuild-node", NULL},
     "standby's rebuild began to its shadow digest matching the committed serial"},
};

/* ---- the report --------------------------------------------------------------------------- */

static int write_file(drill_t *d, const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
	if (fd < 0) {
		fprintf(stderr, "%s: %s: %s\n", d->who, path, strerror(errno));
		return EXIT_INPUT;
	}
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			fprintf(stderr, "%s: %s: %s\n", d->who, path, strerror(errno));
			close(fd);
			return EXIT_INPUT;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fprintf(stderr, "%s: %s: %s\n", d->who, path, strerror(errno));
		return EXIT_INPUT;
	}
	return EXIT_OK;
}

/* The Markdown rendering of a report. */
static char *report_md(json_t *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	if (fp == NULL) {
		return NULL;
	}
	json_t *v;
	size_t i;
	fprintf(fp, "# Drill %s: %s\n\n", json_string_value(json_object_get(r, "scenario")),
		json_string_value(json_object_get(r, "result")));
	fprintf(fp, "| field | value |\n|---|---|\n");
	const char *fields[] = {"zone",         "started",       "ended",        "rto_s",
				"rto",          "serial_before", "serial_after", "active_before",
				"active_after", "recovered_by",  "why"};
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		v = json_object_get(r, fields[i]);
		if (v == NULL) {
			continue;
		}
		char *s = json_is_string(v)
			      ? strdup(json_string_value(v))
			      : json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
		fprintf(fp, "| %s | %s |\n", fields[i], s != NULL ? s : "");
		free(s);
	}
	fprintf(fp,
		"\n## Validation\n\n| validator | node | serial | verdict |\n|---|---|---|---|\n");
	json_array_foreach(json_object_get(r, "validation"), i, v)
	{
		fprintf(fp, "| %s | %s | %" JSON_INTEGER_FORMAT " | %s |\n",
			json_string_value(json_object_get(v, "validator")),
			json_string_value(json_object_get(v, "node")),
			json_integer_value(json_object_get(v, "serial")),
			json_string_value(json_object_get(v, "verdict")));
	}
	fprintf(fp, "\nSerials committed but not checked (their file was replaced before it was "
		    "fetched): ");
	json_array_foreach(json_object_get(r, "unchecked_serials"), i, v)
	{
		fprintf(fp, "%s%" JSON_INTEGER_FORMAT, i > 0 ? ", " : "", json_integer_value(v));
	}
	fprintf(fp, "%s\n\n## Invariants\n\n",
		json_array_size(json_object_get(r, "unchecked_serials")) == 0 ? "none" : "");
	if (json_array_size(json_object_get(r, "invariant_violations")) == 0) {
		fprintf(fp, "One publisher per epoch, serials only rise, one digest per serial, no "
			    "digest alert: held.\n");
	}
	json_array_foreach(json_object_get(r, "invariant_violations"), i, v)
	{
		fprintf(fp, "- VIOLATED: %s\n", json_string_value(v));
	}
	fprintf(fp, "\n## Timeline (UTC)\n\n| time | step | detail |\n|---|---|---|\n");
	json_array_foreach(json_object_get(r, "timeline"), i, v)
	{
		fprintf(fp, "| %s | %s | %s |\n", json_string_value(json_object_get(v, "utc")),
			json_string_value(json_object_get(v, "step")),
			json_string_value(json_object_get(v, "detail")));
	}
	fprintf(fp, "\n## Audit entries of the drill's window\n\n");
	json_array_foreach(json_object_get(r, "audit"), i, v)
	{
		fprintf(fp, "- %s %s %s %s: %s\n", json_string_value(json_object_get(v, "time")),
			json_string_value(json_object_get(v, "actor")),
			json_string_value(json_object_get(v, "type")),
			json_string_value(json_object_get(v, "level")),
			json_string_value(json_object_get(v, "details")) != NULL
			    ? json_string_value(json_object_get(v, "details"))
			    : "");
	}
	fclose(fp);
	return buf;
}

static int report_write(drill_t *d, const drill_scenario_t *sc, uint64_t start_ms)
{
	char started[40], ended[40], path[4200];
	uint64_t end = now_ms();
	utc_ms(started, sizeof(started), start_ms);
	utc_ms(ended, sizeof(ended), end);
	json_t *unchecked = json_array();
	for (size_t i = 0; i < d->nserials; i++) {
		if (!d->serials[i].fetched) {
			json_array_append_new(unchecked, json_integer(d->serials[i].serial));
		}
	}
	const coordrpc_zone_status_t *z = zone_of(d);
	json_t *r = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "scenario",
	    sc->name, "result", d->failed ? "fail" : "pass", "zone", d->zone, "started", started,
	    "ended", ended, "rto", sc->rto, "active_before", d->active, "serial_before",
	    (json_int_t)d->serial_before, "serial_after",
	    d->have_last ? json_integer(d->last_serial) : json_null(), "rto_s",
	    d->recovered_ms != 0 ? json_real((double)(d->recovered_ms - d->fault_ms) / 1000.0)
				 : json_null(),
	    "active_after",
	    z != NULL && z->holder[0] != '\0' ? json_string(z->holder) : json_null(), "validation",
	    json_incref(d->validation), "timeline", json_incref(d->timeline),
	    "invariant_violations", json_incref(d->invariants));
	json_object_set_new(r, "unchecked_serials", unchecked);
	json_object_set_new(r, "recovered_by",
			    d->recovered_by[0] != '\0' ? json_string(d->recovered_by)
						       : json_null());
	json_object_set_new(r, "recovered_serial",
			    d->recovered_ms != 0 ? json_integer(d->recovered_serial) : json_null());
	if (d->failed) {
		json_object_set_new(r, "why", json_string(d->fail_why));
	}
	json_object_set_new(r, "audit", audit_window_end(d, sc->name));
	char *js = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
	char *md = report_md(r);
	int rc = EXIT_INPUT;
	if (js != NULL && md != NULL) {
		snprintf(path, sizeof(path), "%s.json", d->base);
		char *jsnl = NULL;
		if (asprintf(&jsnl, "%s\n", js) >= 0) {
			rc = write_file(d, path, jsnl);
			free(jsnl);
		}
		snprintf(path, sizeof(path), "%s.md", d->base);
		if (rc == EXIT_OK) {
			rc = write_file(d, path, md);
		}
	}
	if (rc == EXIT_OK) {
		printf("report: %s.json, %s.md\n", d->base, d->base);
	}
	free(js);
	free(md);
	json_decref(r);
	return rc;
}

/* ---- drill list ---------------------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_list(const char *who, const char *dir)
{
	DIR *dp = opendir(dir);
	char *names[1024];
	size_t n = 0;
	if (dp == NULL) {
		fprintf(stderr, "%s: report directory %s: %s\n", who, dir, strerror(errno));
		return EXIT_INPUT;
	}
	struct dirent *de;
	while ((de = readdir(dp)) != NULL && n < 1024) {
		size_t len = strlen(de->d_name);
		if (strncmp(de->d_name, "drill-", 6) == 0 && len > 5 &&
		    strcmp(de->d_name + len - 5, ".json") == 0) {
			names[n] = strdup(de->d_name);
			if (names[n] != NULL) {
				n++;
			}
		}
	}
	closedir(dp);
	qsort(names, n, sizeof(names[0]), name_cmp);
	printf("%-24s %-22s %-6s %-8s %-12s %s\n", "started", "scenario", "result", "rto_s",
	       "serials", "report");
	for (size_t i = 0; i < n; i++) {
		char path[4200];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		json_error_t err;
		json_t *r = json_load_file(path, 0, &err);
		if (r == NULL) {
			printf("%-24s %-22s %-6s (unreadable: %s)\n", "?", "?", "?", err.text);
		} else {
			json_t *rto = json_object_get(r, "rto_s");
			char rtos[32] = "-", ser[40];
			if (json_is_number(rto)) {
				snprintf(rtos, sizeof(rtos), "%.1f", json_number_value(rto));
			}
			snprintf(ser, sizeof(ser),
				 "%" JSON_INTEGER_FORMAT "->%" JSON_INTEGER_FORMAT,
				 json_integer_value(json_object_get(r, "serial_before")),
				 json_integer_value(json_object_get(r, "serial_after")));
			const char *st = json_string_value(json_object_get(r, "started"));
			const char *sc = json_string_value(json_object_get(r, "scenario"));
			const char *res = json_string_value(json_object_get(r, "result"));
			printf("%-24s %-22s %-6s %-8s %-12s %s\n", st != NULL ? st : "?",
			       sc != NULL ? sc : "?", res != NULL ? res : "?", rtos, ser, path);
			json_decref(r);
		}
		free(names[i]);
	}
	return EXIT_OK;
}

/* ---- the command --------------------------------------------------------------------------- */

/* The starting shape: the zone (given, or the first live one), its active node, a node of
 * another site; refuses a cluster not in a shape a drill can start from. */
static int shape(drill_t *d, const char *zone_opt)
{
	const coordrpc_zone_status_t *z = NULL;
	if (zone_opt != NULL) {
		size_t len = strlen(zone_opt);
		if (len == 0 || len + 2 > sizeof(d->zone)) {
			fprintf(stderr, "%s: --zone: bad name\n", d->who);
			return EXIT_INPUT;
		}
		snprintf(d->zone, sizeof(d->zone), "%s%s", zone_opt,
			 zone_opt[len - 1] == '.' ? "" : ".");
		z = zone_of(d);
		if (z == NULL || z->removed) {
			fprintf(stderr, "%s: zone %s is not in the cluster\n", d->who, d->zone);
			return EXIT_INPUT;
		}
	} else {
		for (size_t i = 0; i < d->st->nzones && i < COORD_ZONES_MAX && z == NULL; i++) {
			if (!d->st->zones[i].removed) {
				z = &d->st->zones[i];
			}
		}
		if (z == NULL) {
			fprintf(stderr, "%s: the cluster signs no zone\n", d->who);
			return EXIT_REFUSED;
		}
		snprintf(d->zone, sizeof(d->zone), "%s", z->name);
	}
	if (z->holder[0] == '\0' || !z->has_committed) {
		fprintf(stderr,
			"%s: nobody holds %s with a committed serial: not a shape to drill from\n",
			d->who, d->zone);
		return EXIT_REFUSED;
	}
	const coordrpc_node_status_t *a = node_of(d, z->holder);
	if (a == NULL) {
		fprintf(stderr, "%s: %s's holder %s is not a member\n", d->who, d->zone, z->holder);
		return EXIT_REFUSED;
	}
	snprintf(d->active, sizeof(d->active), "%s", a->name);
	d->active_site = a->site;
	for (size_t i = 0; i < d->st->nnodes && i < COORD_NODES_MAX; i++) {
		const coordrpc_node_status_t *n = &d->st->nodes[i];
		if (n->site != a->site && n->healthy && n->state == COORD_NODE_UP) {
			snprintf(d->other, sizeof(d->other), "%s", n->name);
			break;
		}
	}
	if (d->other[0] == '\0') {
		fprintf(stderr,
			"%s: no healthy node of another site than %c: a drill would leave %s "
			"unsigned\n",
			d->who, site_letter(a->site), d->zone);
		return EXIT_REFUSED;
	}
	d->serial_before = z->serial;
	d->zone_alerts_before = z->alerts;
	snprintf(d->coords[d->ncoords++], COORD_ID_MAX, "%s", d->st->coordinator);
	for (size_t i = 0; i < d->st->ncoords && i < COORDRPC_COORDS_MAX; i++) {
		snprintf(d->coords[d->ncoords++], COORD_ID_MAX, "%s", d->st->coords[i].name);
	}
	if (z->alert_open) {
		fprintf(stderr, "%s: %s has an open digest alert: resolve it before a drill\n",
			d->who, d->zone);
		return EXIT_REFUSED;
	}
	return EXIT_OK;
}

/* A production cluster (tandemctl cluster production on) is drilled only with --really and
 * an executed request `drill scenario=S` whose expiry has not passed (docs/drills.md).
 * Returns an exit code; prints why it refuses. */
static int production_check(drill_t *d, const char *scenario, bool really)
{
	coordrpc_request_t req;
	coordrpc_decision_t *dec = calloc(1, sizeof(*dec));
	char want[COORDRPC_ARGS_MAX];
	int rc;
	if (dec == NULL) {
		return EXIT_COORD;
	}
	memset(&req, 0, sizeof(req));
	req.kind = COORDRPC_PRODUCTION;
	rc = tandemctl_coord_decide(d->coord, &req, dec);
	if (rc != EXIT_OK) {
		goto out;
	}
	if (strcmp(dec->text, "production: off") == 0) {
		goto out;
	}
	if (strcmp(dec->text, "production: on") != 0) {
		fprintf(stderr, "%s: the production flag is unreadable: %s\n", d->who, dec->text);
		rc = EXIT_COORD;
		goto out;
	}
	if (!really) {
		fprintf(stderr,
			"%s: this cluster is marked production: a drill needs --really and an "
			"approved request (tandemctl request drill scenario=%s)\n",
			d->who, scenario);
		rc = EXIT_REFUSED;
		goto out;
	}
	coordrpc_decision_deinit(dec);
	memset(dec, 0, sizeof(*dec));
	req.kind = COORDRPC_REQUEST_GET; /* req_id "": every request */
	rc = tandemctl_coord_decide(d->coord, &req, dec);
	if (rc != EXIT_OK) {
		goto out;
	}
	json_t *doc =
	    dec->doc != NULL ? json_loadb((const char *)dec->doc, dec->doc_len, 0, NULL) : NULL;
	json_t *v;
	size_t i;
	const char *found = NULL;
	uint64_t now = now_ms();
	snprintf(want, sizeof(want), "scenario=%s", scenario);
	json_array_foreach(json_object_get(doc, "requests"), i, v)
	{
		const char *action = json_string_value(json_object_get(v, "action"));
		const char *args = json_string_value(json_object_get(v, "args"));
		const char *state = json_string_value(json_object_get(v, "state"));
		json_int_t expiry = json_integer_value(json_object_get(v, "expiry_ms"));
		if (action != NULL && strcmp(action, "drill") == 0 && args != NULL &&
		    strcmp(args, want) == 0 && state != NULL && strcmp(state, "executed") == 0 &&
		    expiry > 0 && (uint64_t)expiry > now) {
			found = json_string_value(json_object_get(v, "id"));
		}
	}
	if (found != NULL) {
		printf("production cluster: drill %s approved by request %s\n", scenario, found);
		snprintf(d->approval, sizeof(d->approval), "%.16s", found);
	} else {
		fprintf(stderr,
			"%s: this cluster is marked production and no executed request 'drill "
			"scenario=%s' is within its expiry: tandemctl request drill scenario=%s, "
			"then its approvals (docs/approvals.md)\n",
			d->who, scenario, scenario);
		rc = EXIT_REFUSED;
	}
	json_decref(doc);
out:
	coordrpc_decision_deinit(dec);
	free(dec);
	return rc;
}

static bool parse_secs(const char *who, const char *opt, const char *s, unsigned max, unsigned *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v == 0 || v > max) {
		fprintf(stderr, "%s: %s: 1..%u seconds\n", who, opt, max);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

int tandemctl_drill(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"coord", required_argument, NULL, OPT_COORD},
	    {"coord-pub", required_argument, NULL, OPT_COORD_PUB},
	    {"key", required_argument, NULL, OPT_KEY},
	    {"zone", required_argument, NULL, OPT_ZONE},
	    {"report", required_argument, NULL, OPT_REPORT},
	    {"really", no_argument, NULL, OPT_REALLY},
	    {"hooks", required_argument, NULL, OPT_HOOKS},
	    {"hook-timeout", required_argument, NULL, OPT_HOOK_TIMEOUT},
	    {"wait", required_argument, NULL, OPT_WAIT},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	const char *coord = NULL, *coord_pub = NULL, *key = NULL, *zone = NULL, *hooks = NULL;
	bool really = false;
	drill_t *d = calloc(1, sizeof(*d));
	int c, rc = EXIT_USAGE;
	if (d == NULL) {
		fprintf(stderr, "tandemctl drill: out of memory\n");
		return EXIT_COORD;
	}
	d->who = "tandemctl drill";
	d->hook_timeout_s = 120;
	d->wait_s = 180;
	d->report_dir = getenv("TANDEM_DRILL_REPORT");
	hooks = getenv("TANDEM_DRILL_HOOKS");
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_COORD: coord = optarg; break;
		case OPT_COORD_PUB: coord_pub = optarg; break;
		case OPT_KEY: key = optarg; break;
		case OPT_ZONE: zone = optarg; break;
		case OPT_REPORT: d->report_dir = optarg; break;
		case OPT_REALLY: really = true; break;
		case OPT_HOOKS: hooks = optarg; break;
		case OPT_HOOK_TIMEOUT:
			if (!parse_secs(d->who, "--hook-timeout", optarg, 3600,
					&d->hook_timeout_s)) {
				rc = EXIT_INPUT;
				goto out;
			}
			break;
		case OPT_WAIT:
			if (!parse_secs(d->who, "--wait", optarg, 3600, &d->wait_s)) {
				rc = EXIT_INPUT;
				goto out;
			}
			break;
		case 'h':
			usage(stdout);
			rc = EXIT_OK;
			goto out;
		default: usage(stderr); goto out;
		}
	}
	if (d->report_dir == NULL || d->report_dir[0] == '\0') {
		d->report_dir = ".";
	}
	if (optind + 1 != argc) {
		usage(stderr);
		goto out;
	}
	d->scenario = argv[optind];
	if (strcmp(d->scenario, "list") == 0) {
		rc = cmd_list(d->who, d->report_dir);
		goto out;
	}
	const drill_scenario_t *sc = NULL;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (strcmp(scenarios[i].name, d->scenario) == 0) {
			sc = &scenarios[i];
		}
	}
	if (sc == NULL) {
		fprintf(stderr, "%s: unknown scenario '%.40s'\n", d->who, d->scenario);
		usage(stderr);
		goto out;
	}
	if (hooks == NULL || hooks[0] == '\0') {
		if (sc->needs[0] != NULL) {
			fprintf(stderr,
				"%s: %s needs a hooks file (--hooks FILE or TANDEM_DRILL_HOOKS; "
				"docs/drills.md)\n",
				d->who, sc->name);
			rc = EXIT_USAGE;
			goto out;
		}
	} else if ((rc = hooks_load(d, hooks)) != EXIT_OK) {
		goto out;
	}
	for (size_t i = 0; sc->needs[i] != NULL; i++) {
		if (hook_find(d, sc->needs[i]) == NULL) {
			fprintf(stderr,
				"%s: %s needs the hook action '%s', which %s does not map%s\n",
				d->who, sc->name, sc->needs[i], hooks,
				strcmp(sc->name, "partition") == 0
				    ? " (a local cluster has it only with --netns: its sites "
				      "in network namespaces)"
				    : "");
			rc = EXIT_REFUSED;
			goto out;
		}
	}
	struct stat sb;
	if (stat(d->report_dir, &sb) != 0 || !S_ISDIR(sb.st_mode) ||
	    access(d->report_dir, W_OK) != 0) {
		fprintf(stderr, "%s: report directory %s: not a writable directory\n", d->who,
			d->report_dir);
		rc = EXIT_INPUT;
		goto out;
	}
	rc = tandemctl_coord_open(d->who, coord, coord_pub, key, &d->coord);
	if (rc != EXIT_OK) {
		goto out;
	}
	d->st = calloc(1, sizeof(*d->st));
	if (d->st == NULL) {
		rc = EXIT_COORD;
		goto out;
	}
	if (tandemctl_coord_status_quiet(d->coord, d->st) != TANDEM_OK || d->st->stale) {
		fprintf(stderr, "%s: no fresh status from any coordinator: not a drill's start\n",
			d->who);
		rc = EXIT_COORD;
		goto out;
	}
	rc = production_check(d, sc->name, really);
	if (rc != EXIT_OK) {
		goto out;
	}
	rc = shape(d, zone);
	if (rc != EXIT_OK) {
		goto out;
	}
	uint64_t start = now_ms();
	time_t secs = (time_t)(start / 1000u);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(d->stamp, sizeof(d->stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(d->base, sizeof(d->base), "%s/drill-%s-%s", d->report_dir, d->stamp, sc->name);
	char zdir[4200];
	snprintf(zdir, sizeof(zdir), "%s.zones", d->base);
	if (mkdir(zdir, 0750) != 0) {
		fprintf(stderr, "%s: %s: %s\n", d->who, zdir, strerror(errno));
		rc = EXIT_INPUT;
		goto out;
	}
	d->timeline = json_array();
	d->validation = json_array();
	d->invariants = json_array();
	if (!audit_head(d, &d->audit_from)) {
		rc = EXIT_COORD;
		goto out;
	}
	char args[COORDRPC_ARGS_MAX + COORD_ZONE_MAX + 128];
	snprintf(args, sizeof(args), "scenario=%s zone=%s active=%s serial=%" PRIu32 "%s%s",
		 sc->name, d->zone, d->active, d->serial_before,
		 d->approval[0] != '\0' ? " request=" : "", d->approval);
	step(d, start, "start", "drill %s on %s: %s holds it (site %c), serial %" PRIu32, sc->name,
	     d->zone, d->active, site_letter(d->active_site), d->serial_before);
	audit_note(d, "drill.start", args);
	d->have_last = true;
	d->last_serial = d->serial_before;
	d->last_epoch = zone_of(d)->epoch;
	drill_serial_t *s0 = &d->serials[d->nserials++];
	s0->serial = d->serial_before;
	memcpy(s0->digest, zone_of(d)->digest, COORD_DIGEST_LEN);
	snprintf(s0->node, sizeof(s0->node), "%s", zone_of(d)->committed_by);
	s0->epoch = zone_of(d)->epoch;
	s0->fetched = true; /* published before the drill */
	signal(SIGINT, on_interrupt);
	signal(SIGTERM, on_interrupt);
	if (!d->failed) {
		sc->run(d);
	}
	/* what was committed last is checked too, and the resolver's view of it */
	for (unsigned i = 0; i < 20 && !d->failed; i++) {
		bool pending = false;
		observe(d);
		for (size_t k = 0; k < d->nserials; k++) {
			pending = pending || serial_pending(&d->serials[k]);
		}
		if (!pending) {
			break;
		}
		validate_pending(d);
		sleep_ms(DRILL_POLL_MS);
	}
	if (hook_find(d, "resolve") != NULL) {
		char line[64] = "";
		bool ok = hook_run(d, "resolve", NULL, NULL, NULL, NULL, line, sizeof(line));
		char *end = NULL;
		unsigned long v = strtoul(line, &end, 10);
		validation_add(d, "resolver", end != line && *end == '\0' ? (uint32_t)v : 0, ok,
			       "resolver", line);
	}
	if (d->fault_ms != 0 && d->recovered_ms == 0) {
		fail(d, "no recovery was measured");
	}
	bool validated = false;
	for (size_t i = 0; i < d->nserials; i++) {
		validated = validated || (d->serials[i].fetched && i > 0);
	}
	if (!validated) {
		fail(d, "no serial published during the drill was validated%s",
		     hook_find(d, "fetch-zone") == NULL
			 ? " (the hooks file has no fetch-zone action: docs/drills.md)"
			 : "");
	}
	snprintf(args, sizeof(args), "scenario=%s zone=%s result=%s", sc->name, d->zone,
		 d->failed ? "fail" : "pass");
	step(d, now_ms(), "end", "drill %s: %s", sc->name, d->failed ? "FAIL" : "pass");
	bool failed_before = d->failed;
	audit_note(d, "drill.end", args);
	d->failed = d->failed || failed_before;
	rc = report_write(d, sc, start);
	if (rc == EXIT_OK && d->failed) {
		fprintf(stderr, "%s: %s failed: %s\n", d->who, sc->name, d->fail_why);
		rc = EXIT_REFUSED;
	}
out:
	hooks_free(d);
	json_decref(d->timeline);
	json_decref(d->validation);
	json_decref(d->invariants);
	free(d->st);
	tandemctl_coord_close(d->coord);
	free(d);
	return rc;
}
