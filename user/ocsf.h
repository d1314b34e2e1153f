/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OCSF 1.8.0 encoder: one decoded event (user/event.h) becomes one line of JSON.
 *
 * Mapping (ids from the OCSF 1.8.0 schema, events/system/ and events/network/):
 *
 *   record           class                    activity             notes
 *   exec             1007 Process Activity    1 Launch             launch_type_id 3 Exec
 *   fork (process)   1007 Process Activity    1 Launch             launch_type_id 2 Fork
 *   fork (thread)    1007 Process Activity    1 Launch             launch_type_id 99 "Thread"
 *   exit             1007 Process Activity    2 Terminate          exit_code, or unmapped.signal
 *   file open        1001 File System Act.    14 Open              access_mask = open(2) flags
 *   net connect      4001 Network Activity    1 Open               direction 2 Outbound
 *   net sendmsg      4001 Network Activity    6 Traffic            direction 2 Outbound
 *   net bind         4001 Network Activity    99 Other "Bind"      direction 0 Unknown
 *   net listen       4001 Network Activity    7 Listen             direction 1 Inbound
 *   net accept       4001 Network Activity    1 Open               direction 1 Inbound
 *   syscall          1003 Kernel Activity     4 Invoke             kernel.type_id 2 System Call
 *
 * Outcome (security_control profile; the kernel's answer, not whether the syscall succeeded):
 *   allowed       action_id 1 Allowed,  disposition_id 1 Allowed,   severity_id 1 Informational
 *   blocked       action_id 2 Denied,   disposition_id 2 Blocked,   severity_id 3 Medium, is_alert
 *   would block   action_id 3 Observed, disposition_id 15 Detected, severity_id 3 Medium, is_alert
 * status_id is 1 Success, or 2 Failure when the operation was blocked or returned an error
 * (status_code then names the errno); kernel activity carries no status.
 *
 * Network endpoints follow the record: daddr/dport is the address the syscall names (connect and
 * sendmsg: the destination; bind: the address to bind; accept: the peer), saddr/sport the
 * socket's own address when known (zero otherwise). src_endpoint is the initiator and
 * dst_endpoint the responder: connect and sendmsg write the peer as dst and the local address,
 * if known, as src; accept writes the peer as src and the local address as dst; bind and listen
 * write the local address as dst. A v4-mapped IPv6 address is written as IPv4.
 *
 * Process objects: process.uid is the exec_id; exec and fork put the parent in actor.process and
 * process.parent_process; exit and every other class put the task in actor.process.
 *
 * Kubernetes and containers (event.k8s, from the agent's cgroup path): the task's process object
 * carries `container` {uid: container id, runtime, pod_uuid, orchestrator "Kubernetes"} and
 * metadata.profiles names "container" (OCSF 1.8.0 has `container` in the process object through
 * that profile); a container-less pod cgroup has no container object. unmapped.k8s {pod_uid,
 * qos} carries what OCSF has no place for: a static pod's UID (a config hash, not a UUID) and
 * the QoS class.
 *
 * Not in OCSF 1.8.0, under "unmapped": ai_agent {uid, instance_uid, name} (as the 1.9.0-dev
 * ai_agent object), enforcement (aw_level__name), cgroup_id, rule, ancestry (binary paths: the
 * process's own, then its ancestors' up to the agent root, whenever the decoder supplied them),
 * source (tracepoint, lsm, cgroup, sock_ops), access (file), signal (exit), syscall {nr, args}
 * (kernel), k8s {pod_uid, qos}, invalid_utf8 (a string had bytes that were not UTF-8 and were
 * replaced with U+FFFD).
 */
#ifndef AGENTWATCH_OCSF_H
#define AGENTWATCH_OCSF_H

#include <stdbool.h>
#include <stddef.h>

#include "event.h"

#define OCSF_SCHEMA_VERSION "1.8.0"
#define OCSF_PRODUCT_NAME   "agentwatch"

/* Facts about this node, the same in every event. Any may be NULL or "" when unknown. */
struct ocsf_node {
	const char *hostname;
	const char *node_uid; /* stable id of the machine: /etc/machine-id */
	const char *boot_uid; /* /proc/sys/kernel/random/boot_id */
	const char *kernel_release;
	const char *product_version;
};

/* Kinds of event the encoder tells apart: one (class, activity) each. */
enum ocsf_kind {
	OCSF_EXEC,
	OCSF_FORK,
	OCSF_THREAD,
	OCSF_EXIT,
	OCSF_FILE_OPEN,
	OCSF_NET_CONNECT,
	OCSF_NET_SENDMSG,
	OCSF_NET_BIND,
	OCSF_NET_LISTEN,
	OCSF_NET_ACCEPT,
	OCSF_SYSCALL,
	OCSF_KIND__COUNT,
};

struct ocsf_fragment {
	size_t len;
	char json[240];
};

/*
 * Everything the encoder writes that does not depend on the event, rendered once by
 * ocsf_ctx__init() so that encoding copies it. Read-only afterwards: one ctx may serve many
 * threads.
 */
struct ocsf_ctx {
	char hostname[256];
	char node_uid[64];
	char boot_uid[64];
	char product_version[64];
	struct ocsf_fragment classes[OCSF_KIND__COUNT]; /* "activity_id":..,"type_name":".." */
	struct ocsf_fragment metadata;			/* members of "metadata" before "uid" */
	struct ocsf_fragment metadata_container;	/* the same, with the container profile */
	size_t device_len;
	char device[2048]; /* "device":{...} */
};

/* Returns 0 or -ENAMETOOLONG when a field does not fit. */
int ocsf_ctx__init(struct ocsf_ctx *ctx, const struct ocsf_node *node);
/* Same, with this host's facts: hostname, /etc/machine-id, boot_id and kernel release. */
int ocsf_ctx__init_host(struct ocsf_ctx *ctx, const char *product_version);

/*
 * Encode one event as one line of JSON (no newline) into buf, NUL-terminated. Returns the length
 * (NUL excluded), -ENOSPC if it does not fit in `size` bytes, or -EINVAL for an event type or
 * network operation it does not know. 4 KiB fits typical events; escaping can make a string up to
 * six times longer, so on -ENOSPC retry with a larger buffer.
 */
int ocsf__encode(const struct aw_event *ev, const struct ocsf_ctx *ctx, char *buf, size_t size);

/* The (class, activity) an event maps to; -EINVAL if none. */
int ocsf__kind(const struct aw_event *ev);

/*
 * A policy load or reload (user/ocsf_policy.c), not a kernel event, so that a SIEM sees every
 * change of the policy in force, and every reload that failed and left the old one in force:
 *
 *   6002 Application Lifecycle, activity 8 Update; app = agentwatch (product), its feature
 *   {name "policy", version "<generation in force afterwards>"}
 *   loaded:  status_id 1 Success, severity_id 1 Informational
 *   failed:  status_id 2 Failure, severity_id 4 High, status_detail = the errors (one
 *            FILE:LINE:COL: message a line), message says which generation stays in force
 *   unmapped.policy = {generation, previous_generation, trigger ("start", "sighup",
 *            "inotify"), paths [..], errors [..] (failed only), reload_failures}
 */
struct ocsf_policy_change {
	__u64 event_id;
	__u64 wall_ns;
	bool ok;
	__u32 generation;	   /* in force afterwards: the new one, or the old one kept */
	__u32 previous_generation; /* in force before */
	const char *trigger;	   /* start, inotify, sighup, agent-added, agent-removed */
	const char *agent;	   /* agent-added, agent-removed: the agent's name */
	char *const *paths;
	int n_paths;
	const char *errors; /* failed: one message a line */
	unsigned int reload_failures;
};

/* Encode as ocsf__encode does (same return values). */
int ocsf__encode_policy_change(const struct ocsf_policy_change *pc, const struct ocsf_ctx *ctx,
			       char *buf, size_t size);

#endif /* AGENTWATCH_OCSF_H */
