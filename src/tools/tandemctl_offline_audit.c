/* tandemctl's offline audit file: a locally chained append-only file of audit entries. */
#include "tandemctl_offline_audit.h"
#include "audit_log.h"
#include "tandem_error.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

/* The largest offline file read back (its chain is checked before each append). */
#define OFFLINE_MAX (16u * 1024u * 1024u)

bool offline_audit_path(const char *path, const char *dir, const char *file, char *out, size_t size)
{
	int n;
	if (path != NULL) {
		n = snprintf(out, size, "%s", path);
	} else if (dir != NULL) {
		n = snprintf(out, size, "%s/%s", dir, OFFLINE_AUDIT_NAME);
	} else {
		const char *slash = file != NULL ? strrchr(file, '/') : NULL;
		n = slash == NULL ? snprintf(out, size, "%s", OFFLINE_AUDIT_NAME)
				  : snprintf(out, size, "%.*s/%s", (int)(slash - file), file,
					     OFFLINE_AUDIT_NAME);
	}
	return n > 0 && (size_t)n < size;
}

void offline_audit_actor(char *out, size_t size)
{
	const struct passwd *pw = getpwuid(geteuid());
	snprintf(out, size, "offline:%.60s", pw != NULL && pw->pw_name != NULL ? pw->pw_name : "?");
}

/* Reads the open file whole and verifies it from entry 1: its last seq and hash. */
static int chain_tail(int fd, const char *path, uint64_t *last, uint8_t hash[AUDIT_HASH_LEN],
		      char *why, size_t size)
{
	struct stat sb;
	audit_chain_t *c = NULL;
	audit_verdict_t v;
	char *text = NULL;
	int ret = TANDEM_OK;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(why, size, "%s: not a regular file", path);
		return TANDEM_EIO;
	}
	if ((sb.st_mode & 077) != 0) {
		snprintf(why, size,
			 "%s: group or others may read or write it (mode %03o): chmod 600", path,
			 (unsigned)(sb.st_mode & 0777));
		return TANDEM_EPERM;
	}
	if ((uint64_t)sb.st_size > OFFLINE_MAX) {
		snprintf(why, size, "%s: larger than %u bytes: import it and start a new one", path,
			 OFFLINE_MAX);
		return TANDEM_ERANGE;
	}
	*last = 0;
	memset(hash, 0, AUDIT_HASH_LEN);
	if (sb.st_size == 0) {
		return TANDEM_OK;
	}
	text = malloc((size_t)sb.st_size + 1);
	ssize_t got = text == NULL ? -1 : pread(fd, text, (size_t)sb.st_size, 0);
	if (text == NULL) {
		ret = TANDEM_ENOMEM;
	} else if (got != (ssize_t)sb.st_size) {
		snprintf(why, size, "%s: cannot read it: %s", path, strerror(errno));
		ret = TANDEM_EIO;
	} else if (text[got - 1] != '\n') {
		snprintf(why, size, "%s: its last line is cut (no newline): not appended to", path);
		ret = TANDEM_ESYNTAX;
	}
	if (ret == TANDEM_OK) {
		ret = audit_chain_new(1, NULL, NULL, &c);
	}
	if (ret == TANDEM_OK) {
		ret = audit_chain_add_text(c, text, (size_t)got);
	}
	if (ret == TANDEM_OK) {
		ret = audit_chain_verify(c, &v);
	}
	if (ret == TANDEM_OK && v.fault != AUDIT_FAULT_NONE) {
		snprintf(why, size, "%s: %s: not appended to", path, v.text);
		ret = TANDEM_ESYNTAX;
	}
	if (ret == TANDEM_OK) {
		*last = v.last_seq;
		memcpy(hash, v.last_hash, AUDIT_HASH_LEN);
	}
	audit_chain_free(c);
	free(text);
	return ret;
}

int offline_audit_check(const char *path, char *why, size_t size)
{
	uint64_t last = 0;
	uint8_t hash[AUDIT_HASH_LEN];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		return TANDEM_OK;
	}
	if (fd < 0) {
		snprintf(why, size, "%s: %s", path, strerror(errno));
		return TANDEM_EIO;
	}
	int ret = chain_tail(fd, path, &last, hash, why, size);
	close(fd);
	return ret;
}

int offline_audit_append(const char *path, const tandem_audit_event_t *evs, size_t n, char *why,
			 size_t size)
{
	uint64_t last = 0;
	uint8_t hash[AUDIT_HASH_LEN];
	char line[AUDIT_LINE_MAX + 1];
	struct timeval tv;
	int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, size, "%s: %s", path, strerror(errno));
		return TANDEM_EIO;
	}
	int ret = flock(fd, LOCK_EX) == 0 ? TANDEM_OK : TANDEM_EIO;
	if (ret != TANDEM_OK) {
		snprintf(why, size, "%s: cannot lock it: %s", path, strerror(errno));
	} else {
		ret = chain_tail(fd, path, &last, hash, why, size);
	}
	gettimeofday(&tv, NULL);
	uint64_t now_ms = (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
	for (size_t i = 0; ret == TANDEM_OK && i < n; i++) {
		audit_entry_t e;
		size_t len = 0;
		audit_entry_from_event(&evs[i], OFFLINE_AUDIT_COORD, now_ms, &e);
		ret = audit_entry_seal(&e, last + 1, last == 0 ? NULL : hash);
		if (ret == TANDEM_OK) {
			ret = audit_entry_encode(&e, line, sizeof(line) - 1, &len);
		}
		if (ret != TANDEM_OK) {
			snprintf(why, size, "%s: entry %zu not encoded: %s", path, i + 1,
				 tandem_strerror(ret));
			break;
		}
		line[len++] = '\n';
		if (write(fd, line, len) != (ssize_t)len) {
			snprintf(why, size, "%s: cannot write: %s", path, strerror(errno));
			ret = TANDEM_EIO;
			break;
		}
		last = e.seq;
		memcpy(hash, e.hash, AUDIT_HASH_LEN);
	}
	if (ret == TANDEM_OK && fsync(fd) != 0) {
		snprintf(why, size, "%s: fsync: %s", path, strerror(errno));
		ret = TANDEM_EIO;
	}
	close(fd);
	return ret;
}
