/* Files written whole or not at all, and secrets wiped from memory. */
#ifndef TANDEM_FILE_H
#define TANDEM_FILE_H

#include <stddef.h>
#include <stdio.h>

/*
 * An atomic file: written to a temporary file beside the target
 * ("PATH.tmp.XXXXXX", mode 0644 unless told), then fsync'd and renamed over
 * the target by tandem_afile_commit(). tandem_afile_abort() removes the
 * temporary file and leaves the target untouched.
 */
typedef struct tandem_afile tandem_afile_t;

/* Opens a temporary file for path. Errors: TANDEM_EIO (errno kept). */
int tandem_afile_open(const char *path, int mode, tandem_afile_t **out);
/* The stdio stream to write to (borrowed). */
FILE *tandem_afile_stream(tandem_afile_t *f);
/* The temporary file's path (borrowed), e.g. to check it before commit. */
const char *tandem_afile_tmp_path(const tandem_afile_t *f);
/*
 * Flushes, fsyncs and closes the temporary file, so that only the rename is left: a
 * caller can record what it is about to put in place first. f stays open for commit or
 * abort. Errors: TANDEM_EIO (errno kept: ENOSPC when the disk is full), TANDEM_EINVAL.
 */
int tandem_afile_sync(tandem_afile_t *f);
/* Flushes, fsyncs (unless tandem_afile_sync did), renames over the target, fsyncs the
 * directory, frees f. On failure the temporary file is removed. Errors: TANDEM_EIO (errno
 * kept), TANDEM_EINVAL. */
int tandem_afile_commit(tandem_afile_t *f);
/* Removes the temporary file and frees f; NULL-safe. */
void tandem_afile_abort(tandem_afile_t *f);

/* Reads a whole small file (at most max bytes) into a NUL-terminated buffer.
 * Errors: TANDEM_ENOENT, TANDEM_EIO, TANDEM_ERANGE (too large). */
int tandem_file_read(const char *path, size_t max, char **out, size_t *out_len);

/*
 * Reads a file holding a secret (PIN, passphrase) like tandem_file_read, but
 * first refuses it with TANDEM_EPERM when group or others may read or write
 * it (mode & 077), as ssh does for private keys: a PIN in a loose file is no
 * longer a secret. The caller wipes and frees *out.
 */
int tandem_secret_read(const char *path, size_t max, char **out, size_t *out_len);

/*
 * Makes the process unable to leave a core file or be ptrace-attached by
 * other users (RLIMIT_CORE 0, PR_SET_DUMPABLE 0): PINs and passphrases pass
 * through its memory. Tools call it first thing. Errors: TANDEM_EPERM.
 */
int tandem_proc_harden(void);

/* Overwrites n bytes at p in a way the compiler cannot drop. */
void tandem_wipe(void *p, size_t n);

#endif
