/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Enforcement at run time: the loaded policies, the agents they are compiled for, and the
 * generation in the kernel. Every change (an agent added or removed, a reload) compiles one
 * complete image for all current agents and applies it as one atomic switch (policy_apply.h);
 * a change that fails to compile or apply leaves the policy in force untouched.
 */
#ifndef AGENTWATCH_ENFORCE_H
#define AGENTWATCH_ENFORCE_H

#include "features.h"
#include "policy.h"
#include "policy_apply.h"

struct enforce;

struct enforce_agent {
	__u32 slot;
	const char *name;
	const char *cgroup; /* absolute cgroup path */
	const char *home;   /* ${HOME} */
	const char *workspace;
	bool workspace_is_default; /* a selector's spec.selector.workspace replaces it */
};

/*
 * Load and check policies from files or directories, for a kernel with `caps`. Every problem
 * is printed as file:line:col; nothing half-loads. `fd`: the policy maps (policy_apply.h order).
 */
int enforce__open(struct enforce **out, char *const *paths, int n_paths,
		  const struct aw_capabilities *caps, const int fd[POLICY_MAP__COUNT]);
/*
 * Look for multi-link files (the link inventory, user/policy_links.h) only within these
 * absolute directories, `n == 0`: nowhere (--link-scan, config linkScan:). Without this call,
 * the whole directories the any-depth deny rules name are walked, once per process. Call it
 * before the first agent is added. -EINVAL for a relative path, -E2BIG beyond
 * POLICY_LINKS_SCOPE_MAX.
 */
int enforce__set_link_scan(struct enforce *e, const char *const *dirs, int n);
/*
 * Put an agent under the policies that select it (by name, cgroup and the Kubernetes identity
 * parsed from the cgroup path). An agent already there with the same slot is replaced. On error
 * the policy in force is unchanged, and does not cover this agent.
 */
int enforce__add_agent(struct enforce *e, const struct enforce_agent *agent);
int enforce__remove_agent(struct enforce *e, __u32 slot);
/*
 * Hold: agents added or removed from now on change nothing in the kernel until
 * enforce__release() puts them all in force with one compile and one switch (the daemon's
 * agents at start: one generation, not one per agent). When that fails, release adds the held
 * agents one by one, so only those whose policy cannot compile stay out; it returns -EINVAL
 * then (each failure logged), else 0.
 */
void enforce__hold(struct enforce *e);
int enforce__release(struct enforce *e);
/*
 * The daemon's pending cgroups (AW_AGENT_SLOT_PENDING, include/agentwatch/agent.h: made under a
 * watch glob's prefix, not yet matched and registered by the daemon) get the merge of every
 * loaded policy, with these ${HOME} and ${WORKSPACE}: the strictest combination, because the
 * agent's own selection is not known yet. It lasts from the cgroup's mkdir to its registration.
 * A merge that cannot compile is left out with a warning (those cgroups then have no policy
 * until registered); other errors as enforce__add_agent.
 */
int enforce__set_pending(struct enforce *e, const char *home, const char *workspace);
/* Re-read the same paths: on any error the old policy stays in force. */
int enforce__reload(struct enforce *e);
/*
 * What made the last open, add, remove or reload fail, one message a line (policy errors as
 * FILE:LINE:COL: ...); "" after a success. Also logged when it happened.
 */
const char *enforce__last_error(const struct enforce *e);
/* The policy files and directories, as given to enforce__open. */
char *const *enforce__paths(const struct enforce *e, int *n);
/*
 * Describe the outcome of a load or reload as a policy change event (ocsf.h): `ok`, the
 * generation in force before (`prev`) and now, the paths, the errors of a failure, and what
 * triggered it ("start", "sighup", "inotify").
 */
struct ocsf_policy_change;
void enforce__describe_change(const struct enforce *e, bool ok, __u32 prev, const char *trigger,
			      struct ocsf_policy_change *out);
/* The name of a rule in the policy now in force ("default", "execProtections" for built-ins). */
const char *enforce__rule_name(const struct enforce *e, __u32 rule_id);
/* The generation in force, and how many reloads failed. */
__u32 enforce__generation(const struct enforce *e);
unsigned int enforce__reload_failures(const struct enforce *e);
void enforce__free(struct enforce *e);

#endif /* AGENTWATCH_ENFORCE_H */
