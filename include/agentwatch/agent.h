/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Agent identity: the contract between userspace, which registers agents, and the BPF programs,
 * which attribute every action to one.
 *
 * An agent is a cgroup v2 subtree. Map `agents_by_cgroup` (hash, key: __u64 cgroup id, value:
 * struct aw_agent) holds the agent's root cgroup and every descendant cgroup seen so far.
 * Attribution of the current task:
 *   1. look up bpf_get_current_cgroup_id()                 -> hit: O(1), the common case;
 *   2. on a miss, look up its ancestors from the root down, for cgroup levels below
 *      AW_AGENT_MAX_LEVEL; a hit is copied to the descendant's id so its next lookup is step 1;
 *      a miss is remembered in the LRU `unwatched_cgroups`, which userspace clears whenever it
 *      registers an agent.
 * New cgroups (tracepoint cgroup_mkdir, which runs before any process can enter them):
 *   - under a watched cgroup: added with the parent's value, so nested cgroups are attributed
 *     from their first process;
 *   - elsewhere, when the path (relative to the v2 root) starts with one of the daemon's selector
 *     prefixes (rodata `watch_prefixes`, the literal part of each glob before its first wildcard):
 *     added as { slot AW_AGENT_SLOT_PENDING, root_cgroup_id = its own id } and reported with an
 *     AW_EV_CGROUP_MKDIR record. The daemon reads that record before any event of the cgroup's
 *     processes, matches the full glob, and then writes the real agent or deletes the entry.
 *
 * `slot` (1..AW_AGENT_SLOTS-1) indexes per-agent arrays such as `agent_counters`; 0 means
 * "no agent". Strings are NUL-terminated and NUL-padded.
 *
 * Example: `agentwatch exec --name claude --session s-42 -- claude` creates cgroup
 * .../agentwatch/claude-<uuid> with id 9001 and writes
 *   agents_by_cgroup[9001] = { slot 3, policy_id 0, root_cgroup_id 9001, name "claude",
 *                              agent_uid "<uuid>", session_uid "s-42" }
 * before the agent's first instruction runs; a `make` it spawns into a child cgroup 9002 is
 * attributed through step 2 and cached as agents_by_cgroup[9002] = the same value.
 */
#ifndef AGENTWATCH_AGENT_H
#define AGENTWATCH_AGENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define AW_AGENT_SLOTS 1024
/* Slot of a cgroup that matched a selector prefix and awaits the daemon's full match. */
#define AW_AGENT_SLOT_PENDING (AW_AGENT_SLOTS - 1)
#define AW_WATCH_PREFIXES     8
#define AW_WATCH_PREFIX_LEN   128
#define AW_AGENT_MAX_LEVEL    16
#define AW_AGENT_NAME_LEN     64
#define AW_AGENT_UID_LEN      40

struct aw_agent {
	__u32 slot;
	__u32 policy_id; /* policy set applied to this agent; 0 = none */
	__u64 root_cgroup_id;
	char name[AW_AGENT_NAME_LEN];
	char agent_uid[AW_AGENT_UID_LEN];
	char session_uid[AW_AGENT_UID_LEN];
};
_Static_assert(sizeof(struct aw_agent) == 160, "aw_agent wire size");

#endif /* AGENTWATCH_AGENT_H */
