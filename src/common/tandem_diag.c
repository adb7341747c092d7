/* A thread-safe list of diagnostic messages. */
#include "tandem_diag.h"
#include "tandem_error.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tandem_diag {
	pthread_mutex_t lock;
	size_t count;
	size_t kept;
	char *msg[TANDEM_DIAG_KEEP];
	int code[TANDEM_DIAG_KEEP];
};

int tandem_diag_new(tandem_diag_t **out)
{
	if (out == NULL) {
		return TANDEM_EINVAL;
	}
	tandem_diag_t *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		return TANDEM_ENOMEM;
	}
	pthread_mutex_init(&d->lock, NULL);
	*out = d;
	return TANDEM_OK;
}

void tandem_diag_clear(tandem_diag_t *diag)
{
	if (diag == NULL) {
		return;
	}
	pthread_mutex_lock(&diag->lock);
	for (size_t i = 0; i < diag->kept; i++) {
		free(diag->msg[i]);
		diag->msg[i] = NULL;
	}
	diag->kept = 0;
	diag->count = 0;
	pthread_mutex_unlock(&diag->lock);
}

void tandem_diag_free(tandem_diag_t *diag)
{
	if (diag == NULL) {
		return;
	}
	tandem_diag_clear(diag);
	pthread_mutex_destroy(&diag->lock);
	free(diag);
}

void tandem_diag_add(tandem_diag_t *diag, int code, const char *fmt, ...)
{
	if (diag == NULL || fmt == NULL) {
		return;
	}
	char *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0) {
		text = NULL;
	}
	va_end(ap);

	pthread_mutex_lock(&diag->lock);
	diag->count++;
	if (diag->kept < TANDEM_DIAG_KEEP && text != NULL) {
		diag->msg[diag->kept] = text;
		diag->code[diag->kept] = code;
		diag->kept++;
		text = NULL;
	}
	pthread_mutex_unlock(&diag->lock);
	free(text);
}

size_t tandem_diag_count(const tandem_diag_t *diag)
{
	return diag == NULL ? 0 : diag->count;
}

size_t tandem_diag_kept(const tandem_diag_t *diag)
{
	return diag == NULL ? 0 : diag->kept;
}

const char *tandem_diag_msg(const tandem_diag_t *diag, size_t i)
{
	return (diag == NULL || i >= diag->kept) ? NULL : diag->msg[i];
}

int tandem_diag_code(const tandem_diag_t *diag, size_t i)
{
	return (diag == NULL || i >= diag->kept) ? TANDEM_OK : diag->code[i];
}
