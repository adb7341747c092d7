/* Helpers shared by the fuzz targets (tests/fuzz, docs/fuzzing.md): an input as a file the
 * loaders can open by path (a memfd: nothing is written to disk), and as a C string. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An input as a file: fd open on an anonymous memory file, path "/proc/self/fd/N". */
typedef struct fuzz_file {
	int fd;
	char path[64];
} fuzz_file_t;

/* Writes data into a new memory file. Returns 0, or -1 (the input is then skipped). */
static inline int fuzz_file_open(fuzz_file_t *f, const uint8_t *data, size_t size)
{
	f->fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (f->fd < 0) {
		return -1;
	}
	size_t off = 0;
	while (off < size) {
		ssize_t n = write(f->fd, data + off, size - off);
		if (n <= 0) {
			close(f->fd);
			return -1;
		}
		off += (size_t)n;
	}
	snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
	return 0;
}

static inline void fuzz_file_close(fuzz_file_t *f)
{
	close(f->fd);
}

/* A NUL-terminated copy of the input (malloc'd), or NULL. */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

#endif
