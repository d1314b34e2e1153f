/* SPDX-License-Identifier: Apache-2.0 */
/* Elapsed time on CLOCK_MONOTONIC, for the stats the policy applier reports. */
#ifndef AGENTWATCH_CLOCK_H
#define AGENTWATCH_CLOCK_H

#include <time.h>

/* Milliseconds since t0 (taken with clock_gettime(CLOCK_MONOTONIC)). */
static inline double clock__ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

#endif /* AGENTWATCH_CLOCK_H */
