/* SPDX-License-Identifier: GPL-2.0 */
/* Per-agent counters (contract: include/agentwatch/counters.h). Per-CPU: no atomics needed. */
#ifndef AGENTWATCH_COUNTERS_BPF_H
#define AGENTWATCH_COUNTERS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <agentwatch/agent.h>
#include <agentwatch/counters.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AW_AGENT_SLOTS);
	__type(key, __u32);
	__type(value, struct aw_agent_counters);
} agent_counters SEC(".maps");

static __always_inline struct aw_agent_counters *aw_counters(__u32 slot)
{
	return bpf_map_lookup_elem(&agent_counters, &slot);
}

#define AW_COUNT(slot, field)                                      \
	do {                                                       \
		struct aw_agent_counters *__c = aw_counters(slot); \
		if (__c)                                           \
			__c->field++;                              \
	} while (0)

#endif /* AGENTWATCH_COUNTERS_BPF_H */
