/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loader and consumer for bpf/observe.bpf.c: open, size and choose programs from the feature
 * probes, load, register agents, attach, then drain the ring buffer into decoded events.
 */
#ifndef AGENTWATCH_OBSERVE_H
#define AGENTWATCH_OBSERVE_H

#include <stdbool.h>

#include <agentwatch/syscall.h>

#include "event.h"
#include "features.h"

struct observe;

struct observe_opts {
	/* BPF-LSM enforces here: load every lsm/ program (file opens then come from
	 * lsm/file_open instead of the syscall tracepoints) */
	bool lsm_file_open;
	int cgroup_fd; /* cgroup to attach the socket hooks to (an agent's or the v2 root) */
	/* Literal prefixes of the daemon's selector globs, relative to the cgroup v2 root
	 * (e.g. "/kubepods.slice/"): new cgroups under them are reported before first use. */
	int n_watch_prefixes;
	const char *watch_prefixes[AW_WATCH_PREFIXES];
	bool syscalls; /* attach sys_enter: per-agent syscall counts */
	/* Load and attach the cgroup sock_ops program (TCP listen and accept events); the probe
	 * AW_PROBE_CGROUP_SOCK_OPS says whether this kernel can. An attach failure is logged and
	 * leaves the other programs working. */
	bool inbound_tcp;
	/* Policies may apply: load the enforcement hooks (BPF-LSM), or without BPF-LSM the
	 * tracepoint decisions and the syscall-class tracepoints (report, or SIGKILL under
	 * AW_DEF_FALLBACK_KILL). Without it only observation programs load. */
	bool enforce;
	struct aw_syscall_mask syscall_events; /* and one event per entry of these */
	__u64 wakeup_bytes;  /* unread bytes in the ring that force a wake-up; 0 = default */
	int poll_timeout_ms; /* the timer flush: longest an event waits without a wake-up */
};

typedef void (*observe_event_fn)(const struct aw_event *ev, void *ctx);

int observe__open_and_load(struct observe **out, const struct observe_opts *opts);
/* A free agent slot (1..AW_AGENT_SLOTS-2), or -ENOSPC. The slot is taken by add_agent. */
int observe__free_slot(struct observe *o);
/*
 * Register an agent's root cgroup (or re-register a pending one with its real identity);
 * clears the negative attribution cache.
 */
int observe__add_agent(struct observe *o, __u64 cgroup_id, const struct aw_agent *agent);
/* Forget an agent: its root and every descendant cgroup attributed to it; frees its slot. */
int observe__remove_agent(struct observe *o, __u64 cgroup_id);
/* The agent a cgroup is attributed to in the kernel map (pending ones included). */
int observe__lookup_cgroup(struct observe *o, __u64 cgroup_id, struct aw_agent *agent);
int observe__attach(struct observe *o);
/* Detach every program: no record is written after this; what the ring holds stays drainable. */
void observe__detach(struct observe *o);
/* Wait up to the poll timeout, then deliver every record in the ring. Returns records or -errno. */
int observe__poll(struct observe *o, observe_event_fn fn, void *ctx);
/* Deliver what is in the ring without waiting. */
int observe__drain(struct observe *o, observe_event_fn fn, void *ctx);
/* An fd that polls readable when the ring has records to drain (for the daemon's epoll loop). */
int observe__epoll_fd(struct observe *o);
/* Drops summed over CPUs, by reason (AW_DROP_*); also malformed records. */
void observe__drops(struct observe *o, __u64 drops[AW_DROP__MAX], __u64 *malformed);
/* Call fn for every (syscall, count) an agent slot made, while syscall observation is on. */
int observe__syscall_counts(struct observe *o, __u32 slot,
			    void (*fn)(__u32 nr, __u64 count, void *ctx), void *ctx);
/*
 * Pin the maps `agentwatch top` reads (include/agentwatch/counters.h) under
 * AW_PIN_ROOT/<instance>/, mounting bpffs if needed; observe__destroy unpins them unless
 * observe__keep_pins() was called (the daemon keeps them across restarts).
 */
int observe__pin(struct observe *o, const char *instance);
void observe__keep_pins(struct observe *o);
/* The policy map fds, in enum policy_map order (user/policy_apply.h). */
void observe__policy_map_fds(struct observe *o, int fd[10]);
/* The agent registered for an agent slot, or NULL. */
const struct aw_agent *observe__agent(struct observe *o, __u32 slot);
void observe__destroy(struct observe *o);

#endif /* AGENTWATCH_OBSERVE_H */
