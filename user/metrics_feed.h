/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What feeds the metrics registry (metrics.h) from the daemon: every event as it goes to the
 * sinks (events by OCSF class, denials by the deciding rule's name), and once a second what the
 * kernel and the stream count (ring-buffer drops by reason from the per-CPU drop counters,
 * malformed records, events the encoder refused, and the policy generation in force).
 * A NULL registry is ignored, so callers need no test of their own.
 */
#ifndef AGENTWATCH_METRICS_FEED_H
#define AGENTWATCH_METRICS_FEED_H

#include <stddef.h>

#include "event.h"

struct metrics;
struct observe;
struct stream;

/* The OCSF class an event is encoded as (user/ocsf.h's table), or -1 for control records. */
int metrics_feed__class_uid(const struct aw_event *ev);
/*
 * One event on its way to the sinks, after the stream enriched it (rule name, disposition), and
 * its JSON. A document with no struct aw_event behind it (ev NULL: a policy change the daemon
 * reports) is counted by the class_uid in its JSON.
 */
void metrics_feed__event(struct metrics *m, const struct aw_event *ev, const char *json,
			 size_t len);
/*
 * Mirror the cumulative counters: ring-buffer drops summed over CPUs, decode and encode
 * failures, and the generation in the kernel's policy_config (0 until a policy is applied).
 */
void metrics_feed__sample(struct metrics *m, struct observe *obs, const struct stream *st);

#endif /* AGENTWATCH_METRICS_FEED_H */
