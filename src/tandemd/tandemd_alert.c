/* tandemd's alerts: what keeps the node or one of its zones from signing. */
#include "tandemd_alert.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static tdm_alert_t *alerts_find(tdm_alerts_t *s, const char *zone, const char *kind)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->a[i].zone, zone) == 0 && strcmp(s->a[i].kind, kind) == 0) {
			return &s->a[i];
		}
	}
	return NULL;
}

bool tdm_alerts_raise(tdm_alerts_t *s, const char *zone, const char *kind, bool blocking,
		      const char *fmt, ...)
{
	char text[COORD_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	tdm_alert_t *a = alerts_find(s, zone, kind);
	if (a != NULL) {
		if (a->blocking == blocking && strcmp(a->text, text) == 0) {
			return false;
		}
	} else {
		if (s->n == TDM_ALERTS_MAX) {
			return false;
		}
		a = &s->a[s->n++];
		snprintf(a->zone, sizeof(a->zone), "%s", zone);
		snprintf(a->kind, sizeof(a->kind), "%s", kind);
	}
	snprintf(a->text, sizeof(a->text), "%s", text);
	a->blocking = blocking;
	return true;
}

bool tdm_alerts_clear(tdm_alerts_t *s, const char *zone, const char *kind)
{
	tdm_alert_t *a = alerts_find(s, zone, kind);
	if (a == NULL) {
		return false;
	}
	size_t i = (size_t)(a - s->a);
	memmove(&s->a[i], &s->a[i + 1], (s->n - i - 1) * sizeof(s->a[0]));
	s->n--;
	return true;
}

const tdm_alert_t *tdm_alerts_find(const tdm_alerts_t *s, const char *zone, const char *kind)
{
	return alerts_find((tdm_alerts_t *)s, zone, kind);
}

bool tdm_alerts_blocking(const tdm_alerts_t *s, const char *zone)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->a[i].blocking &&
		    (s->a[i].zone[0] == '\0' || strcmp(s->a[i].zone, zone) == 0)) {
			return true;
		}
	}
	return false;
}

bool tdm_alerts_node_blocked(const tdm_alerts_t *s)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->a[i].blocking && s->a[i].zone[0] == '\0') {
			return true;
		}
	}
	return false;
}
