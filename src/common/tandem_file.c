/* Atomic file replacement (temp, fsync, rename) and secret wiping. */
#include "tandem_file.h"
#include "tandem_error.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

struct tandem_afile {
	FILE *fp;
	char *path;
	char *tmp;
	bool synced; /* written, fsync'ed and closed: only the rename is left */
};

int tandem_afile_open(const char *path, int mode, tandem_afile_t **out)
{
	if (path == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	tandem_afile_t *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		return TANDEM_ENOMEM;
	}
	int fd = -1;
	f->path = strdup(path);
	if (f->path == NULL || asprintf(&f->tmp, "%s.tmp.XXXXXX", path) < 0) {
		f->tmp = NULL;
		goto fail;
	}
	fd = mkstemp(f->tmp);
	if (fd < 0) {
		goto fail;
	}
	if (fchmod(fd, (mode_t)(mode ? mode : 0644)) != 0) {
		goto fail;
	}
	f->fp = fdopen(fd, "w");
	if (f->fp == NULL) {
		goto fail;
	}
	setvbuf(f->fp, NULL, _IOFBF, 1 << 20);
	*out = f;
	return TANDEM_OK;
fail : {
	int saved = errno;
	if (fd >= 0) {
		close(fd);
		unlink(f->tmp);
	}
	free(f->tmp);
	free(f->path);
	free(f);
	errno = saved;
	return TANDEM_EIO;
}
}

FILE *tandem_afile_stream(tandem_afile_t *f)
{
	return f == NULL ? NULL : f->fp;
}

const char *tandem_afile_tmp_path(const tandem_afile_t *f)
{
	return f == NULL ? NULL : f->tmp;
}

static void sync_parent_dir(const char *path)
{
	char *copy = strdup(path);
	if (copy == NULL) {
		return;
	}
	int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	free(copy);
}

int tandem_afile_sync(tandem_afile_t *f)
{
	if (f == NULL) {
		return TANDEM_EINVAL;
	}
	if (f->synced) {
		return TANDEM_OK;
	}
	if (f->fp == NULL) { /* an earlier sync failed and closed it */
		errno = EIO;
		return TANDEM_EIO;
	}
	int ret = TANDEM_OK, saved = 0;
	if (fflush(f->fp) != 0 || ferror(f->fp) || fsync(fileno(f->fp)) != 0) {
		ret = TANDEM_EIO;
		saved = errno;
	}
	if (fclose(f->fp) != 0 && ret == TANDEM_OK) {
		ret = TANDEM_EIO;
		saved = errno;
	}
	f->fp = NULL;
	if (ret != TANDEM_OK) {
		errno = saved != 0 ? saved : EIO;
		return ret;
	}
	f->synced = true;
	return TANDEM_OK;
}

int tandem_afile_commit(tandem_afile_t *f)
{
	if (f == NULL) {
		return TANDEM_EINVAL;
	}
	int ret = tandem_afile_sync(f);
	if (ret == TANDEM_OK && rename(f->tmp, f->path) != 0) {
		ret = TANDEM_EIO;
	}
	int saved = errno;
	if (ret != TANDEM_OK) {
		unlink(f->tmp);
	} else {
		sync_parent_dir(f->path);
	}
	free(f->tmp);
	free(f->path);
	free(f);
	errno = saved;
	return ret;
}

void tandem_afile_abort(tandem_afile_t *f)
{
	if (f == NULL) {
		return;
	}
	if (f->fp != NULL) {
		fclose(f->fp);
	}
	unlink(f->tmp);
	free(f->tmp);
	free(f->path);
	free(f);
}

int tandem_file_read(const char *path, size_t max, char **out, size_t *out_len)
{
	if (path == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	/* Plain read(2) into our own buffer: stdio would keep a copy of the
	 * contents (often a PIN) in a buffer it frees without wiping. */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return errno == ENOENT ? TANDEM_ENOENT : TANDEM_EIO;
	}
	int ret = TANDEM_OK;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap + 1);
	if (buf == NULL) {
		ret = TANDEM_ENOMEM;
		goto out;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= max) {
				ret = TANDEM_ERANGE;
				goto out;
			}
			/* Grow by copying, so no unwiped copy is left by realloc. */
			char *bigger = malloc(cap * 2 + 1);
			if (bigger == NULL) {
				ret = TANDEM_ENOMEM;
				goto out;
			}
			memcpy(bigger, buf, len);
			tandem_wipe(buf, cap + 1);
			free(buf);
			buf = bigger;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			ret = TANDEM_EIO;
			goto out;
		}
		if (n == 0) {
			break;
		}
		len += (size_t)n;
	}
	if (len > max) {
		ret = TANDEM_ERANGE;
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	if (out_len != NULL) {
		*out_len = len;
	}
	buf = NULL;
out:
	if (buf != NULL) {
		tandem_wipe(buf, cap + 1);
		free(buf);
	}
	close(fd);
	return ret;
}

int tandem_secret_read(const char *path, size_t max, char **out, size_t *out_len)
{
	if (path == NULL || out == NULL) {
		return TANDEM_EINVAL;
	}
	struct stat st;
	if (stat(path, &st) != 0) {
		return errno == ENOENT ? TANDEM_ENOENT : TANDEM_EIO;
	}
	if ((st.st_mode & 077) != 0) {
		return TANDEM_EPERM;
	}
	return tandem_file_read(path, max, out, out_len);
}

int tandem_proc_harden(void)
{
	struct rlimit none = {0, 0};
	if (setrlimit(RLIMIT_CORE, &none) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		return TANDEM_EPERM;
	}
	return TANDEM_OK;
}

void tandem_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0) {
		OPENSSL_cleanse(p, n);
	}
}
