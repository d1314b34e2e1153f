// SPDX-License-Identifier: Apache-2.0
/*
 * The daemon's side of the metrics (metrics_feed.h): per event on the daemon's thread, and a
 * sample of the kernel's counters from the once-a-second check.
 */
#include <bpf/bpf.h>
#include <agentwatch/policy.h>

#include "metrics.h"
#include "metrics_feed.h"
#include "observe.h"
#include "policy_apply.h"
#include "sink_kafka.h"
#include "stream.h"

int metrics_feed__class_uid(const struct aw_event *ev)
{
	switch (ev->type) {
	case AW_EV_EXEC:
	case AW_EV_FORK:
	case AW_EV_EXIT:
		return 1007; /* Process Activity */
	case AW_EV_FILE_OPEN:
		return 1001; /* File System Activity */
	case AW_EV_NET:
		return 4001; /* Network Activity */
	case AW_EV_SYSCALL:
		return 1003; /* Kernel Activity */
	default:
		return -1;
	}
}

void metrics_feed__event(struct metrics *m, const struct aw_event *ev, const char *json, size_t len)
{
	if (!m)
		return;
	if (!ev) {
		metrics__add_event(m, json ? sink_kafka__class_uid(json, len) : -1);
		return;
	}
	metrics__add_event(m, metrics_feed__class_uid(ev));
	if (ev->disposition == AW_DISP_BLOCKED)
		metrics__add_denial(m, ev->rule);
}

/* The active generation from policy_config[0]; 0 when the map cannot be read. */
static __u32 policy_generation(struct observe *obs)
{
	struct aw_policy_config cfg = {};
	int fd[POLICY_MAP__COUNT];
	__u32 key = 0;

	observe__policy_map_fds(obs, fd);
	if (fd[POLICY_MAP_CONFIG] < 0 || bpf_map_lookup_elem(fd[POLICY_MAP_CONFIG], &key, &cfg))
		return 0;
	return cfg.gen;
}

void metrics_feed__sample(struct metrics *m, struct observe *obs, const struct stream *st)
{
	__u64 drops[AW_DROP__MAX], malformed = 0;

	if (!m || !obs)
		return;
	observe__drops(obs, drops, &malformed);
	metrics__set(m, METRIC_RING_BUFFER_FULL, drops[AW_DROP_RINGBUF_FULL]);
	metrics__set(m, METRIC_RING_BUFFER_NO_SCRATCH, drops[AW_DROP_SCRATCH]);
	metrics__set_drop(m, METRIC_DROP_RING_BUFFER,
			  drops[AW_DROP_RINGBUF_FULL] + drops[AW_DROP_SCRATCH]);
	metrics__set_drop(m, METRIC_DROP_DECODE, malformed);
	if (st)
		metrics__set_drop(m, METRIC_DROP_ENCODE, stream__encode_errors(st));
	metrics__set(m, METRIC_POLICY_GENERATION, policy_generation(obs));
}
