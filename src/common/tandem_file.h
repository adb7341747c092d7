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
/* Flushes, fsyncs, renames over the target, fsyncs the directory, frees f. */
int tandem_afile_commit(tandem_afile_t *f);
/* Removes the temporary file and frees f; NULL-safe. */
void tandem_afile_abort(tandem_afile_t *f);

/* Reads a whole small file (at most max bytes) into a NUL-terminated buffer.
 * Errors: TANDEM_ENOENT, TANDEM_EIO, TANDEM_ERANGE (too large). */
int tandem_file_read(const char *path, size_t max, char **out, size_t *out_len);

/* Overwrites n bytes at p in a way the compiler cannot drop. */
void tandem_wipe(void *p, size_t n);

#endif
