/* A bump allocator: chunks linked in a list, freed together. */
#include "tandem_arena.h"
#include "tandem_error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__ /* defined by the headers above */
#include <malloc.h>
#endif

typedef struct chunk {
	struct chunk *next;
	size_t size;
	size_t used;
	_Alignas(16) unsigned char data[];
} chunk_t;

struct tandem_arena {
	chunk_t *head;
	size_t chunk_size;
	size_t total;
};

int tandem_arena_new(size_t chunk_size, tandem_arena_t **out)
{
	if (out == NULL) {
		return TANDEM_EINVAL;
	}
	tandem_arena_t *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		return TANDEM_ENOMEM;
	}
	a->chunk_size = chunk_size ? chunk_size : (1u << 20);
	*out = a;
	return TANDEM_OK;
}

void tandem_arena_free(tandem_arena_t *arena)
{
	if (arena == NULL) {
		return;
	}
	chunk_t *c = arena->head;
	while (c != NULL) {
		chunk_t *next = c->next;
		free(c);
		c = next;
	}
	free(arena);
}

void *tandem_arena_alloc(tandem_arena_t *arena, size_t n)
{
	if (arena == NULL) {
		return NULL;
	}
	n = (n + 7) & ~(size_t)7;
	chunk_t *c = arena->head;
	if (c == NULL || c->size - c->used < n) {
		size_t size = n > arena->chunk_size ? n : arena->chunk_size;
		chunk_t *fresh = malloc(sizeof(*fresh) + size);
		if (fresh == NULL) {
			return NULL;
		}
		fresh->size = size;
		fresh->used = 0;
		/* A big one-off allocation goes behind the current chunk so the
		 * current chunk's free space is not wasted. */
		if (c != NULL && size > arena->chunk_size) {
			fresh->next = c->next;
			c->next = fresh;
		} else {
			fresh->next = c;
			arena->head = fresh;
		}
		arena->total += size;
		c = fresh;
	}
	void *p = c->data + c->used;
	c->used += n;
	return p;
}

void *tandem_arena_memdup(tandem_arena_t *arena, const void *src, size_t n)
{
	void *p = tandem_arena_alloc(arena, n);
	if (p != NULL && n > 0) {
		memcpy(p, src, n);
	}
	return p;
}

void tandem_arena_merge_take(tandem_arena_t *dst, tandem_arena_t *src)
{
	if (dst == NULL || src == NULL) {
		tandem_arena_free(src);
		return;
	}
	chunk_t *c = src->head;
	while (c != NULL) {
		chunk_t *next = c->next;
		/* Keep dst's head (it has free space) first. */
		if (dst->head == NULL) {
			c->next = NULL;
			dst->head = c;
		} else {
			c->next = dst->head->next;
			dst->head->next = c;
		}
		c = next;
	}
	dst->total += src->total;
	src->head = NULL;
	tandem_arena_free(src);
}

size_t tandem_arena_size(const tandem_arena_t *arena)
{
	return arena == NULL ? 0 : arena->total;
}

bool tandem_malloc_tune(void)
{
#ifdef __GLIBC__
	/* a fixed threshold also turns glibc's dynamic one off */
	return mallopt(M_MMAP_THRESHOLD, (int)TANDEM_MMAP_THRESHOLD) == 1;
#else
	return true;
#endif
}

void tandem_malloc_release(void)
{
#ifdef __GLIBC__
	(void)malloc_trim(0);
#endif
}
