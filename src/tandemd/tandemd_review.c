/* tandemd's review hooks: the operator's command run without a shell, bounded in time and
 * output, its exit status the verdict; and the loopback review port serving what it reviews. */
#include "tandemd_review.h"
#include "tandem_clock.h"

#include "dist.h"
#include "dns_zone.h"
#include "kasp_policy.h"
#include "tandem_error.h"
#include "tandem_log.h"
#include "tandem_text.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Appends the bytes to the one-line output: newlines as " | ", control bytes as '?'. */
static void tdm_review_keep(tdm_review_result_t *res, size_t *len, const char *buf, size_t n)
{
	for (size_t i = 0; i < n && *len + 4 < sizeof(res->output); i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c == '\n') {
			if (*len > 0 &&
			    strcmp(res->output + (*len >= 3 ? *len - 3 : 0), " | ") != 0) {
				memcpy(res->output + *len, " | ", 3);
				*len += 3;
			}
		} else {
			res->output[(*len)++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
		}
		res->output[*len] = '\0';
	}
}

/* The first line of the kept output (after the hook ended). */
static void tdm_review_first_line(tdm_review_result_t *res)
{
	size_t len = strlen(res->output);
	while (len >= 3 && strcmp(res->output + len - 3, " | ") == 0) {
		len -= 3; /* a trailing newline is no separator */
		res->output[len] = '\0';
	}
	const char *end = strstr(res->output, " | ");
	size_t n = end != NULL ? (size_t)(end - res->output) : strlen(res->output);
	snprintf(res->first_line, sizeof(res->first_line), "%.*s", (int)n, res->output);
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void tdm_review_child(int out, char *const *argv, char *const *envp)
{
	int null = open("/dev/null", O_RDONLY);
	if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) {
		_exit(126);
	}
	/* the HSM's, the coordinator's and the journal's descriptors stay with tandemd */
	if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0) {
		for (int fd = 3; fd < 65536; fd++) {
			(void)close(fd);
		}
	}
	sigset_t none;
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	execve(argv[0], argv, envp);
	static const char msg[] = "cannot run the review command\n";
	(void)!write(1, msg, sizeof(msg) - 1);
	_exit(127);
}

int tdm_review_run(const tdm_review_req_t *req, tdm_review_result_t *res)
{
	memset(res, 0, sizeof(*res));
	double t0 = tandem_mono_s();
	char cmd[KASP_REVIEW_CMD_MAX], why[256];
	char *argv[KASP_REVIEW_WORDS_MAX + 1];
	size_t argc = 0;
	int fds[2] = {-1, -1};
	pid_t pid = -1;
	int ret = TANDEM_OK;
	if (req == NULL || req->command == NULL || req->zone == NULL || req->stage == NULL ||
	    req->file == NULL || strlen(req->command) >= sizeof(cmd)) {
		snprintf(res->reason, sizeof(res->reason), "no review command");
		return TANDEM_EINVAL;
	}
	snprintf(cmd, sizeof(cmd), "%s", req->command);
	if (kasp_review_split(cmd, argv, &argc, why, sizeof(why)) != TANDEM_OK) {
		snprintf(res->reason, sizeof(res->reason), "the command %.100s", why);
		return TANDEM_EINVAL;
	}
	if (access(argv[0], X_OK) != 0) {
		snprintf(res->reason, sizeof(res->reason), "cannot run %.60s: %.50s", argv[0],
			 strerror(errno));
		snprintf(res->first_line, sizeof(res->first_line), "%s", res->reason);
		goto out;
	}
	char env[8][KASP_REVIEW_CMD_MAX + 64];
	snprintf(env[0], sizeof(env[0]), "PATH=/usr/local/bin:/usr/bin:/bin");
	snprintf(env[1], sizeof(env[1]), "TANDEM_ZONE=%s", req->zone);
	snprintf(env[2], sizeof(env[2]), "TANDEM_SERIAL=%" PRIu32, req->serial);
	int n = snprintf(env[3], sizeof(env[3]), "TANDEM_ZONE_FILE=%s", req->file);
	snprintf(env[4], sizeof(env[4]), "TANDEM_STAGE=%s", req->stage);
	if (n < 0 || (size_t)n >= sizeof(env[3])) {
		snprintf(res->reason, sizeof(res->reason), "the zone file's name is too long");
		ret = TANDEM_ERANGE;
		goto out;
	}
	char *envp[9] = {env[0], env[1], env[2], env[3], env[4], NULL};
	if (req->axfr != NULL && req->key != NULL && req->key_file != NULL) {
		snprintf(env[5], sizeof(env[5]), "TANDEM_REVIEW_AXFR=%s", req->axfr);
		snprintf(env[6], sizeof(env[6]), "TANDEM_REVIEW_KEY=%s", req->key);
		n = snprintf(env[7], sizeof(env[7]), "TANDEM_REVIEW_KEY_FILE=%s", req->key_file);
		if (n < 0 || (size_t)n >= sizeof(env[7])) {
			snprintf(res->reason, sizeof(res->reason),
				 "the key file's name is too long");
			ret = TANDEM_ERANGE;
			goto out;
		}
		envp[5] = env[5];
		envp[6] = env[6];
		envp[7] = env[7];
	}
	if (pipe2(fds, O_CLOEXEC) != 0) {
		snprintf(res->reason, sizeof(res->reason), "no pipe: %.80s", strerror(errno));
		ret = TANDEM_ENOMEM;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(res->reason, sizeof(res->reason), "no process: %.80s", strerror(errno));
		ret = TANDEM_ENOMEM;
		goto out;
	}
	if (pid == 0) {
		(void)setpgid(0, 0);
		tdm_review_child(fds[1], argv, envp);
	}
	(void)setpgid(pid, pid); /* both sides: no race with the kill below */
	close(fds[1]);
	fds[1] = -1;
	(void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
	double deadline = t0 + (double)req->timeout_s;
	size_t len = 0;
	int status = 0;
	bool exited = false;
	while (!exited) {
		double left = deadline - tandem_mono_s();
		if (left <= 0) {
			(void)kill(-pid, SIGKILL);
			(void)waitpid(pid, &status, 0);
			res->timed_out = true;
			exited = true;
			break;
		}
		if (fds[0] >= 0) {
			struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
			int wait_ms = left > 0.05 ? 50 : 1;
			if (poll(&pfd, 1, wait_ms) > 0) {
				char buf[4096];
				ssize_t got = read(fds[0], buf, sizeof(buf));
				if (got > 0) {
					tdm_review_keep(res, &len, buf, (size_t)got);
				} else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
					close(fds[0]);
					fds[0] = -1;
				}
			}
		} else {
			struct timespec nap = {.tv_nsec = 20 * 1000 * 1000};
			nanosleep(&nap, NULL);
		}
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			exited = true;
		} else if (w < 0 && errno != EINTR) {
			snprintf(res->reason, sizeof(res->reason), "lost the hook: %.80s",
				 strerror(errno));
			(void)kill(-pid, SIGKILL);
			goto out;
		}
	}
	/* what the hook wrote just before it ended, and nothing it left running */
	if (fds[0] >= 0) {
		char buf[4096];
		ssize_t got;
		while ((got = read(fds[0], buf, sizeof(buf))) > 0) {
			tdm_review_keep(res, &len, buf, (size_t)got);
		}
	}
	(void)kill(-pid, SIGKILL);
	if (res->timed_out) {
		snprintf(res->reason, sizeof(res->reason),
			 "killed after the timeout of %" PRIu32 " s", req->timeout_s);
	} else if (WIFEXITED(status)) {
		res->approved = WEXITSTATUS(status) == 0;
		snprintf(res->reason, sizeof(res->reason), "exit %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		snprintf(res->reason, sizeof(res->reason), "killed by signal %d", WTERMSIG(status));
	}
	tdm_review_first_line(res);
out:
	if (fds[0] >= 0) {
		close(fds[0]);
	}
	if (fds[1] >= 0) {
		close(fds[1]);
	}
	res->seconds = tandem_mono_s() - t0;
	return ret;
}

int tdm_review_copy(const char *src, const char *dir, const char *prefix, char *path, size_t size)
{
	int in = -1, out = -1;
	int ret = TANDEM_EIO;
	int n = snprintf(path, size, "%s/%s.XXXXXX", dir, prefix);
	if (n < 0 || (size_t)n >= size) {
		return TANDEM_ERANGE;
	}
	in = open(src, O_RDONLY | O_CLOEXEC);
	out = in >= 0 ? mkostemp(path, O_CLOEXEC) : -1; /* mode 0600 */
	if (out < 0) {
		goto out;
	}
	char buf[65536];
	for (;;) {
		ssize_t got = read(in, buf, sizeof(buf));
		if (got == 0) {
			break;
		}
		if (got < 0) {
			if (errno == EINTR) {
				continue;
			}
			goto out;
		}
		for (ssize_t off = 0; off < got;) {
			ssize_t w = write(out, buf + off, (size_t)(got - off));
			if (w < 0 && errno != EINTR) {
				goto out;
			}
			off += w > 0 ? w : 0;
		}
	}
	ret = TANDEM_OK;
out:
	if (in >= 0) {
		close(in);
	}
	if (out >= 0) {
		int saved = errno;
		if (close(out) != 0 && ret == TANDEM_OK) {
			ret = TANDEM_EIO;
		}
		if (ret != TANDEM_OK) {
			(void)unlink(path);
		}
		errno = saved;
	}
	return ret;
}

struct tdm_review_srv {
	dist_key_t *keys[TDM_REVIEW_KEYS_MAX];
	size_t nkeys;
	dist_server_t *srv;
	char address[80];        /* "127.0.0.1:PORT", the port bound */
	char key_file[PATH_MAX]; /* the first key's file */
};

/* Whether "HOST:PORT" or "[HOST6]:PORT" names a loopback host; its host part into host. */
static bool tdm_review_loopback(const char *listen, char *host, size_t size)
{
	const char *colon = strrchr(listen, ':');
	if (colon == NULL || colon == listen || (size_t)(colon - listen) >= size) {
		return false;
	}
	size_t hl = (size_t)(colon - listen);
	memcpy(host, listen, hl);
	host[hl] = '\0';
	unsigned char a[16];
	if (inet_pton(AF_INET, host, a) == 1) {
		return a[0] == 127;
	}
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		char in6[64];
		snprintf(in6, sizeof(in6), "%.*s", (int)(hl - 2), host + 1);
		return inet_pton(AF_INET6, in6, a) == 1 && memcmp(a, &in6addr_loopback, 16) == 0;
	}
	return false;
}

bool tdm_review_listen_ok(const char *listen)
{
	char host[64];
	return listen != NULL && tdm_review_loopback(listen, host, sizeof(host));
}

/* The port's refusals, one log line each (the server's thread). */
static void tdm_review_srv_log(void *arg, const char *line)
{
	(void)arg;
	char l[600], safe[4 * sizeof(l)];
	snprintf(l, sizeof(l), "review port: %s", line);
	tandem_log_line(tandem_escape(safe, sizeof(safe), l));
}

int tdm_review_srv_start(const char *listen, const char *const *key_files, size_t nkeys,
			 tandem_diag_t *diag, tdm_review_srv_t **out)
{
	*out = NULL;
	char host[64];
	if (!tdm_review_loopback(listen, host, sizeof(host))) {
		tandem_diag_add(
		    diag, TANDEM_ESYNTAX,
		    "--review-listen %s: not a loopback address (127.0.0.0/8 or [::1]): "
		    "the version under review is served to this host only",
		    listen);
		return TANDEM_ESYNTAX;
	}
	if (nkeys == 0) {
		tandem_diag_add(
		    diag, TANDEM_EINVAL,
		    "--review-listen needs a --tsig-key: the review port requires TSIG");
		return TANDEM_EINVAL;
	}
	if (nkeys > TDM_REVIEW_KEYS_MAX || strlen(key_files[0]) >= PATH_MAX) {
		tandem_diag_add(diag, TANDEM_EINVAL, "--review-listen: too many keys, or too long");
		return TANDEM_EINVAL;
	}
	tdm_review_srv_t *rs = calloc(1, sizeof(*rs));
	if (rs == NULL) {
		return TANDEM_ENOMEM;
	}
	int ret = TANDEM_OK;
	for (size_t i = 0; i < nkeys && ret == TANDEM_OK; i++) {
		ret = dist_key_load(key_files[i], diag, &rs->keys[i]);
		rs->nkeys += ret == TANDEM_OK;
	}
	const char *addrs[1] = {listen};
	dist_conf_t conf = {
	    .listen = addrs,
	    .nlisten = 1,
	    .keys = (const dist_key_t *const *)rs->keys,
	    .nkeys = rs->nkeys,
	    .max_ixfr_ratio = -1,
	    .max_clients = 8,
	    .log = tdm_review_srv_log,
	};
	if (ret == TANDEM_OK) {
		ret = dist_server_new(&conf, diag, &rs->srv);
	}
	if (ret != TANDEM_OK) {
		tdm_review_srv_free(rs);
		return ret;
	}
	snprintf(rs->address, sizeof(rs->address), "%s:%u", host, dist_server_port(rs->srv, 0));
	snprintf(rs->key_file, sizeof(rs->key_file), "%s", key_files[0]);
	printf("review %s\n", rs->address);
	fflush(stdout);
	*out = rs;
	return TANDEM_OK;
}

void tdm_review_srv_free(tdm_review_srv_t *rs)
{
	if (rs == NULL) {
		return;
	}
	dist_server_free(rs->srv);
	for (size_t i = 0; i < rs->nkeys; i++) {
		dist_key_free(rs->keys[i]);
	}
	free(rs);
}

void tdm_review_srv_req(const tdm_review_srv_t *rs, tdm_review_req_t *req)
{
	req->axfr = rs->address;
	req->key = dist_key_name(rs->keys[0]);
	req->key_file = rs->key_file;
}

int tdm_review_srv_serve(tdm_review_srv_t *rs, const char *zone, const char *path,
			 tandem_diag_t *diag)
{
	/* every record as the hook's file has it: the signed zone's own too */
	dns_load_opts_t opts = {.origin = zone, .keep_dnssec = true};
	dns_zone_t *z = NULL;
	dist_version_t *v = NULL;
	int ret = dns_zone_load(path, &opts, diag, &z);
	if (ret == TANDEM_OK) {
		ret = dist_version_new_take(z, &v); /* z is the version's (or freed) */
	}
	if (ret == TANDEM_OK) {
		ret = dist_publish(rs->srv, zone, v);
	}
	dist_version_unref(v); /* the server holds its own reference */
	return ret;
}

void tdm_review_srv_unserve(tdm_review_srv_t *rs, const char *zone)
{
	if (rs != NULL) {
		(void)dist_publish(rs->srv, zone, NULL);
	}
}
