/* SPDX-License-Identifier: Apache-2.0 */
// The daemon's agents (`agentwatch run`): which cgroups are agents, what each is called, and
// which agent every cgroup the daemon has seen belongs to. Userspace only; the kernel's view is
// the agents_by_cgroup map (include/agentwatch/agent.h), which user/run.c keeps in step.
//
// Rule: every cgroup a watch glob matches is an agent of its own, and a cgroup no glob matches
// belongs to its nearest agent ancestor. So with `/sys/fs/cgroup/kubepods.slice/**` each pod
// and each container is an agent, and a process is attributed to the innermost one.
//
// Identity (registry__identify), from the cgroup path alone, so the same cgroup gets the same
// agent uid across daemon restarts and on every node:
//   the cgroup of a container    name "pod-<pod uid>/<first 12 hex of the container id>"
//     (k8s.h)                    ("<12 hex>" outside a pod); agent uid = UUIDv5("container:<id>")
//   the cgroup of a pod          name "pod-<pod uid>"; agent uid = UUIDv5("pod:<pod uid>")
//   any other cgroup             name = its last path component; agent uid =
//                                UUIDv5("cgroup:<path relative to the cgroup v2 mount>"), the
//                                same whether v2 is mounted at /sys/fs/cgroup or .../unified
// UUIDv5 (RFC 9562: SHA-1, name-based) in the namespace REGISTRY_UUID_NS. A container's id
// changes when it restarts, so its agent uid does too; a cgroup recreated at the same path keeps
// its uid. The session uid is a fresh random UUID per registration: it tells two lifetimes of
// one agent apart. A cgroup below a container's (init.scope in a systemd container) is named by
// path but keeps the container's Kubernetes identity.
//
// The cgroup table maps cgroup id -> slot for agent roots and for every other cgroup the daemon
// placed under an agent (the startup walk and cgroup_mkdir records). It, not the kernel's tag,
// attributes an event whose cgroup it knows: a process in a cgroup made an instant ago carries
// the pending slot (or its parent's agent) until the daemon has written the cgroup's own entry,
// and the mkdir record that precedes its events in the ring has put it in the table already.
#ifndef AGENTWATCH_REGISTRY_H
#define AGENTWATCH_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <agentwatch/agent.h>

#include "k8s.h"

#define REGISTRY_UUID_NS  "b96804b1-bc6a-468e-abae-5636c9de1d86"
#define REGISTRY_UUID_LEN 37 /* 36 characters and the NUL */

enum registry_source {
	REGISTRY_SELECTOR = 1, /* a watch glob matched it */
	REGISTRY_CLIENT = 2,   /* registered over the control socket (agentwatch exec) */
};

struct registry_agent {
	struct aw_agent agent; /* as in the kernel map; agent.slot is 0 when the entry is free */
	__u64 cgroup_id;       /* the agent's root cgroup (agent.root_cgroup_id) */
	char *path;	       /* absolute */
	struct k8s_identity k8s;
	enum registry_source source;
};

struct registry_cgroup {
	__u64 id;
	__u32 slot;
};

struct registry {
	struct registry_agent agents[AW_AGENT_SLOTS]; /* by slot; 0 and the pending slot unused */
	int n_agents;
	struct registry_cgroup *cgroups; /* sorted by id */
	size_t n_cgroups, cap_cgroups;
};

/* Name, agent uid and Kubernetes identity of the cgroup at `path` under the v2 mount. */
void registry__identify(const char *mount, const char *path, struct aw_agent *agent,
			struct k8s_identity *k8s);
/* UUIDv5 of `name` in namespace `ns` (a UUID string), lowercase, into out. -EINVAL for a bad ns. */
int registry__uuid5(const char *ns, const char *name, char out[REGISTRY_UUID_LEN]);
/* A random (version 4) UUID. */
void registry__uuid4(char out[REGISTRY_UUID_LEN]);

struct registry *registry__new(void);
void registry__free(struct registry *r);

/*
 * Record an agent (agent->slot is its slot, agent->root_cgroup_id its cgroup) and map its cgroup
 * to it. A slot in use is replaced. Returns 0, -ERANGE for a bad slot, -ENOMEM.
 */
int registry__add(struct registry *r, const struct aw_agent *agent, const char *path,
		  const struct k8s_identity *k8s, enum registry_source source);
/* Forget the agent in `slot` and every cgroup mapped to it. */
void registry__remove(struct registry *r, __u32 slot);

/* The agent in slot, or NULL. */
struct registry_agent *registry__agent(struct registry *r, __u32 slot);
/* The agent whose root cgroup is `cgroup_id`, or NULL. */
struct registry_agent *registry__agent_by_cgroup(struct registry *r, __u64 cgroup_id);
/* The agent whose root is at `path` (compared as given), or NULL. */
struct registry_agent *registry__agent_by_path(struct registry *r, const char *path);

/* Map a cgroup below an agent to that agent's slot (replacing an earlier mapping). */
int registry__map_cgroup(struct registry *r, __u64 cgroup_id, __u32 slot);
void registry__unmap_cgroup(struct registry *r, __u64 cgroup_id);
/* The slot a cgroup is mapped to, 0 when unknown. */
__u32 registry__cgroup_slot(const struct registry *r, __u64 cgroup_id);

/*
 * Who an event belongs to: the agent its cgroup is mapped to, else the agent of the slot the
 * kernel tagged it with (never the pending slot), else NULL.
 */
struct registry_agent *registry__attribute(struct registry *r, __u64 cgroup_id, __u32 slot);

/* Unmap every cgroup below an agent (not agent roots) for which alive() says false. */
void registry__prune(struct registry *r, bool (*alive)(__u64 cgroup_id, void *ctx), void *ctx);

#endif /* AGENTWATCH_REGISTRY_H */
