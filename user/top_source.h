/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where agentwatch top's data comes from (docs/top.md says the same for operators):
 *
 *   counters   the maps every instance pins under <pin root>/<instance>/ (counters.h):
 *              agents_by_cgroup (who), agent_counters (how much), drops_by_reason and, when
 *              pinned, syscall_counts and the policy maps policy_config, policy_of_slot and
 *              policy_defaults (effective enforcement). Read with the bpf(2) syscall directly,
 *              so they keep counting while a daemon restarts. <instance> is "daemon" or
 *              "exec-<pid>"; an exec-<pid> directory whose process is gone is stale and skipped.
 *   processes  the agent's cgroup subtree, opened by cgroup id (open_by_handle_at on the cgroup
 *              v2 mount): cgroup.procs of it and of every descendant; /proc/<pid> for the tree.
 *   events     the instance's control socket (control.h), op "follow": the daemon's is
 *              --socket (default /run/agentwatch/agentwatch.sock); a standalone exec serves
 *              its own next to it, <dir of --socket>/exec-<pid>.sock. Without one, top shows
 *              counters only.
 *   header     uname, the kernel's capabilities (features.h), and the daemon's "status"
 *              reply: counters.events, policy.generation, kafka.{up,queue_depth,spool_bytes};
 *              members the daemon does not send are shown as n/a.
 */
#ifndef AGENTWATCH_TOP_SOURCE_H
#define AGENTWATCH_TOP_SOURCE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include "top_model.h"

struct top_source;

struct top_source_opts {
	const char *pin_root; /* default AW_PIN_ROOT */
	const char *socket;   /* the daemon's control socket; default CONTROL_SOCKET_DEFAULT */
	bool events;	      /* follow the instances' event streams */
};

int top_source__open(struct top_source **out, const struct top_source_opts *opts);
void top_source__close(struct top_source *s);
/*
 * Read every instance's maps and the agents' cgroups into snap (its memory belongs to the
 * source and stays valid until the next call). Also sends the daemon a status request whose
 * reply the next snapshot uses. Returns 0 or -errno.
 */
int top_source__snapshot(struct top_source *s, struct top_snapshot *snap);
/* The connections to poll for input: fills fds (up to max) and returns how many. */
int top_source__pollfds(struct top_source *s, struct pollfd *fds, int max);
/* Read what arrived on the connections, without blocking; events go to the model. */
void top_source__dispatch(struct top_source *s, struct top_model *m);

/* Is the instance's event stream connected (and accepted)? */
bool top_source__following(const struct top_source *s, const char *instance);
/* Where the instance's event stream comes from: its control socket's path. */
void top_source__socket_of(const struct top_source *s, const char *instance, char *buf,
			   size_t size);

/* A live process of an agent, for the drill-in view. */
struct top_live_proc {
	unsigned int pid, ppid;
	char comm[16];
	char cmdline[128];
};

/* The live processes in an agent's cgroup subtree: how many were written to out, or -errno. */
int top_source__procs(struct top_source *s, const struct top_sample *agent,
		      struct top_live_proc *out, size_t max);

struct top_syscall_count {
	unsigned int nr;
	unsigned long long count;
};

/* An agent's most frequent syscalls (when syscall_counts is pinned): how many, or -errno. */
int top_source__syscalls(struct top_source *s, const struct top_sample *agent,
			 struct top_syscall_count *out, size_t max);

/* One line of a follow stream (control.h): the reply, a notice, or an event (OCSF). */
enum top_line_kind {
	TOP_LINE_EVENT,
	TOP_LINE_NOTICE,
	TOP_LINE_REPLY,
};

struct top_line {
	enum top_line_kind kind;
	bool ok;		  /* reply: {"ok":true} */
	const char *notice;	  /* notice: which ("agent", "dropped", ...) */
	unsigned long long count; /* notice "dropped": the lines lost */
	struct top_event ev;	  /* event */
};

/*
 * Parse one line (user/top_event.c). Strings are decoded into scratch (cut if it is too small)
 * and point there. Returns 0, or -EINVAL for a malformed line or an event top does not show
 * (no agent, a new thread).
 */
int top_line__parse(const char *line, size_t len, struct top_line *out, char *scratch, size_t size);

#endif /* AGENTWATCH_TOP_SOURCE_H */
