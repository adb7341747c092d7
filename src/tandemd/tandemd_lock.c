/* tandemd's hold on its directories, its leftover temporary files and its instance id. */
#include "tandemd_lock.h"

#include "tandem_error.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

int tdm_lock_take(const char *dir, const char *name, int *fd, long *holder)
{
	char path[4096];
	*holder = 0;
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return TANDEM_EIO;
	}
	int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f < 0) {
		return TANDEM_EIO;
	}
	if (flock(f, LOCK_EX | LOCK_NB) != 0) {
		int saved = errno;
		if (saved == EWOULDBLOCK) {
			char buf[32] = "";
			ssize_t n = pread(f, buf, sizeof(buf) - 1, 0);
			if (n > 0) {
				buf[n] = '\0';
				*holder = strtol(buf, NULL, 10);
			}
		}
		close(f);
		errno = saved;
		return saved == EWOULDBLOCK ? TANDEM_EEXIST : TANDEM_EIO;
	}
	char line[32];
	int n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (ftruncate(f, 0) != 0 || pwrite(f, line, (size_t)n, 0) != n) {
		int saved = errno;
		close(f);
		errno = saved;
		return TANDEM_EIO;
	}
	*fd = f;
	return TANDEM_OK;
}

/* Whether name is TARGET.tmp.XXXXXX (mkstemp's six letters and digits) with TARGET ending
 * in suffix. */
static bool tmp_name(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);
	static const char tag[] = ".tmp.";
	if (n < s + sizeof(tag) - 1 + 6 + 1) {
		return false;
	}
	const char *x = name + n - 6;
	for (size_t i = 0; i < 6; i++) {
		char c = x[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
			return false;
		}
	}
	const char *t = x - (sizeof(tag) - 1);
	return memcmp(t, tag, sizeof(tag) - 1) == 0 && memcmp(t - s, suffix, s) == 0;
}

int tdm_tmp_sweep(const char *dir, const char *suffix, tdm_tmp_fn fn, void *arg)
{
	DIR *dp = opendir(dir);
	if (dp == NULL) {
		return TANDEM_EIO;
	}
	struct dirent *e;
	while ((e = readdir(dp)) != NULL) {
		if (!tmp_name(e->d_name, suffix)) {
			continue;
		}
		struct stat st;
		if (fstatat(dirfd(dp), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode)) {
			continue;
		}
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		int err = unlinkat(dirfd(dp), e->d_name, 0) == 0 ? 0 : errno;
		fn(arg, path, err);
	}
	closedir(dp);
	return TANDEM_OK;
}

int tdm_instance_draw(char out[TDM_INSTANCE_LEN])
{
	unsigned char id[16];
	if (RAND_bytes(id, sizeof(id)) != 1) {
		return TANDEM_ENOMEM;
	}
	for (size_t i = 0; i < sizeof(id); i++) {
		snprintf(out + 2 * i, 3, "%02x", id[i]);
	}
	return TANDEM_OK;
}
