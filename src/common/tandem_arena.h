/* A bump allocator for the many small, long-lived pieces of a zone. */
#ifndef TANDEM_ARENA_H
#define TANDEM_ARENA_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Memory is handed out from large chunks and released all at once by
 * tandem_arena_free(). One arena is used by one thread at a time; parallel
 * workers each own an arena and hand it over when done (tandem_arena_merge).
 */
typedef struct tandem_arena tandem_arena_t;

/* Creates an arena whose chunks are at least chunk_size bytes (0: 1 MiB). */
int tandem_arena_new(size_t chunk_size, tandem_arena_t **out);
/* Frees the arena and everything allocated from it; NULL-safe. */
void tandem_arena_free(tandem_arena_t *arena);
/* n bytes aligned to 8, or NULL when out of memory. Never freed alone. */
void *tandem_arena_alloc(tandem_arena_t *arena, size_t n);
/* A copy of n bytes of src in the arena, or NULL. */
void *tandem_arena_memdup(tandem_arena_t *arena, const void *src, size_t n);
/* Moves every chunk of src into dst and frees src (dst now owns them). */
void tandem_arena_merge_take(tandem_arena_t *dst, tandem_arena_t *src);
/* Bytes of chunks held (for memory reports). */
size_t tandem_arena_size(const tandem_arena_t *arena);

/* Allocations of at least this size get pages of their own (tandem_malloc_tune). */
#define TANDEM_MMAP_THRESHOLD (256u << 10)

/*
 * For a process that holds several versions of a big zone (tandemd, tandem-signzone
 * --cycles): every allocation of TANDEM_MMAP_THRESHOLD bytes or more (arena chunks, node
 * arrays) gets pages of its own, returned to the system when freed. glibc otherwise raises
 * its mmap threshold each time such a block is freed, so that the next versions' chunks come
 * from the malloc heaps, where the freed ones leave holes the other threads' heaps cannot
 * reuse (docs/benchmarks.md, "memory"). Call once at start, before any thread. Returns
 * false when the C library refused (the process works the same, with more memory).
 */
bool tandem_malloc_tune(void);

/*
 * Gives the free pages inside the malloc heaps back to the system (glibc's malloc_trim):
 * small blocks a big job freed (a digest state's buckets, a gate's tables) otherwise stay
 * resident until reused, and count in the next job's peak. Call when such a job's results
 * were taken; it locks each malloc arena briefly.
 */
void tandem_malloc_release(void);

#endif
