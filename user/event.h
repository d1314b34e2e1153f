/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A decoded audit event: the wire record (include/agentwatch/event.h) plus what userspace adds
 * (event id, wall-clock time, agent identity, ancestry, enforcement level). Encoders (OCSF) and
 * sinks only ever see this struct. Strings point into the record or into caches that outlive
 * the call; none is owned by the event.
 */
#ifndef AGENTWATCH_USER_EVENT_H
#define AGENTWATCH_USER_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <agentwatch/event.h>
#include <agentwatch/agent.h>

#include "features.h"
#include "k8s.h"

#define AW_ANCESTRY_MAX 8

enum aw_disposition {
	AW_DISP_ALLOWED = 0,
	AW_DISP_BLOCKED,     /* the kernel refused it */
	AW_DISP_WOULD_BLOCK, /* a rule in audit mode matched */
};

struct aw_event {
	__u64 event_id; /* per-node unique across restarts (wall-clock ns, strictly increasing) */
	__u64 boot_ns;	/* from the record */
	__u64 wall_ns;	/* CLOCK_REALTIME of the event, ns since the epoch */
	__u8 type;	/* AW_EV_* */
	__u32 flags;	/* AW_EVF_* */
	struct aw_task task;
	const struct aw_agent *agent; /* NULL when not attributed to an agent */
	/* The agent's pod and container, parsed from its cgroup path (daemon); NULL outside one */
	const struct k8s_identity *k8s;
	enum aw_level enforcement; /* what the kernel allowed for this kind of action */
	enum aw_disposition disposition;
	__u32 rule_id;	  /* the deciding rule (policy.h), 0 when none */
	const char *rule; /* its name, or NULL */

	/*
	 * Binary chain: [0] is this process's own binary, then its parent's, and so on up to the
	 * agent root (exec paths; "" where unknown).
	 */
	int n_ancestors;
	const char *ancestors[AW_ANCESTRY_MAX];

	union {
		struct {
			const char *path;
			const char *argv; /* NUL-separated */
			size_t argv_len;
			__u32 argc;
			const char *cwd;
			__u64 parent_exec_id;
			__u64 ino;
			__u32 dev;
		} exec;
		struct {
			__u32 parent_pid, parent_tgid;
			bool thread;
		} fork;
		struct {
			int code;   /* exit status, when not signalled */
			int signal; /* terminating signal, 0 if it exited */
		} exit;
		struct {
			const char *path;
			__u32 access; /* AW_ACC_* */
			__u32 flags;
			__s32 ret;
			__u64 ino;
			__u32 dev;
			__u8 source; /* AW_SRC_* */
		} file;
		struct {
			__u8 op, family, proto, source;
			__u8 saddr[16], daddr[16];
			__u16 sport, dport;
			__s32 ret;
		} net;
		struct {
			__u32 nr;
			const char *name; /* syscall name, or NULL if unknown */
			__u64 args[3];
		} sys;
		struct {
			__u64 id, parent_id;
			__u32 level;
			bool inherited;
			const char *path; /* relative to the cgroup v2 root */
		} cgroup;
	};
};

#endif /* AGENTWATCH_USER_EVENT_H */
