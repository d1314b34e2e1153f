/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which agent the current task belongs to (contract: include/agentwatch/agent.h).
 * Unwatched tasks are remembered in a small LRU so their cost is one or two hash lookups,
 * not an ancestor walk; userspace clears that cache whenever it registers an agent.
 */
#ifndef AGENTWATCH_AGENT_BPF_H
#define AGENTWATCH_AGENT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <agentwatch/agent.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct aw_agent);
} agents_by_cgroup SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, __u8);
} unwatched_cgroups SEC(".maps");

/*
 * Walk the current task's cgroup ancestors from the root down (the helper answers 0 past the
 * task's own level), so no task_struct is needed: the same code runs in tracing and in cgroup
 * socket programs.
 */
static __always_inline struct aw_agent *aw_agent_of_current(void)
{
	__u64 cgid = bpf_get_current_cgroup_id();
	struct aw_agent *agent;
	__u8 one = 1;
	int level;

	agent = bpf_map_lookup_elem(&agents_by_cgroup, &cgid);
	if (agent)
		return agent;
	if (bpf_map_lookup_elem(&unwatched_cgroups, &cgid))
		return NULL;

	for (level = 1; level < AW_AGENT_MAX_LEVEL; level++) {
		__u64 anc = bpf_get_current_ancestor_cgroup_id(level);

		if (anc == 0 || anc == cgid)
			break;
		agent = bpf_map_lookup_elem(&agents_by_cgroup, &anc);
		if (agent) {
			/* Cache the descendant so its next lookup is O(1). */
			bpf_map_update_elem(&agents_by_cgroup, &cgid, agent, BPF_NOEXIST);
			return agent;
		}
	}
	bpf_map_update_elem(&unwatched_cgroups, &cgid, &one, BPF_ANY);
	return NULL;
}

#endif /* AGENTWATCH_AGENT_BPF_H */
