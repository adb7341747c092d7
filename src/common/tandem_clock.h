/* The monotonic clock, for durations and deadlines within one process. */
#ifndef TANDEM_CLOCK_H
#define TANDEM_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds (never steps; not comparable across processes). */
uint64_t tandem_mono_ms(void);

/* CLOCK_MONOTONIC in seconds, with its fraction (stage times in logs). */
double tandem_mono_s(void);

#endif
