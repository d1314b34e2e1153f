/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Per-agent counters, kept by the BPF programs in map `agent_counters` (per-CPU array indexed
 * by agent slot, agent.h) and read by `agentwatch top` straight from bpffs, so they keep
 * counting while a daemon restarts. Sum the per-CPU values; every field only grows.
 *
 * Pinned, with `agents_by_cgroup` (slot -> name), under /sys/fs/bpf/agentwatch/<instance>/:
 * <instance> is "daemon" for `agentwatch run` and "exec-<pid>" for a standalone
 * `agentwatch exec` (removed when it exits).
 */
#ifndef AGENTWATCH_COUNTERS_H
#define AGENTWATCH_COUNTERS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

struct aw_agent_counters {
	__u64 execs;
	__u64 forks; /* new processes, threads excluded */
	__u64 exits;
	__u64 opens;
	__u64 connects;	   /* connect and sendmsg with a destination */
	__u64 syscalls;	   /* while syscall observation is on */
	__u64 denials;	   /* refused by the kernel */
	__u64 would_block; /* audit-mode or kill-fallback denials */
	__u64 dropped;	   /* this agent's events lost to a full ring buffer */
	__u64 pad[3];
};
_Static_assert(sizeof(struct aw_agent_counters) == 96, "aw_agent_counters wire size");

#define AW_PIN_ROOT "/sys/fs/bpf/agentwatch"

#endif /* AGENTWATCH_COUNTERS_H */
