/* tandemd's hold on its directories: one running process per --work and per --out, the
 * temporary files a killed process left there, and the process's instance id. */
#ifndef TANDEMD_LOCK_H
#define TANDEMD_LOCK_H

#include <stddef.h>

/* Hex characters of an instance id, plus the NUL. */
#define TDM_INSTANCE_LEN 33

/*
 * Takes an exclusive lock (flock) on DIR/NAME, creating it (mode 0600), and writes this
 * process's pid in it. The lock lasts as long as *fd stays open (the kernel drops it when
 * the process dies, even by kill -9). Errors: TANDEM_EEXIST when another process holds it
 * (*holder: the pid it wrote, 0 if unreadable), TANDEM_EIO (errno kept).
 */
int tdm_lock_take(const char *dir, const char *name, int *fd, long *holder);

/* Called for each file tdm_tmp_sweep removes (or fails to: err is then the errno). */
typedef void (*tdm_tmp_fn)(void *arg, const char *path, int err);

/*
 * Removes the temporary files tandem_afile writes beside a target ("TARGET.tmp.XXXXXX")
 * whose target name ends in `suffix` ("zone", "shadow"), left in dir by a process killed
 * while it wrote them. Only regular files are touched. Call it holding dir's lock.
 * Errors: TANDEM_EIO (dir unreadable; errno kept).
 */
int tdm_tmp_sweep(const char *dir, const char *suffix, tdm_tmp_fn fn, void *arg);

/* Draws a random 128-bit instance id as 32 lowercase hex characters into out.
 * Errors: TANDEM_ENOMEM (no randomness). */
int tdm_instance_draw(char out[TDM_INSTANCE_LEN]);

#endif
