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
};

/*
 * Load and check policies from files or directories, for a kernel with `caps`. Every problem
 * is printed as file:line:col; nothing half-loads. `fd`: the policy maps (policy_apply.h order).
 */
int enforce__open(struct enforce **out, char *const *paths, int n_paths,
		  const struct aw_capabilities *caps, const int fd[POLICY_MAP__COUNT]);
int enforce__add_agent(struct enforce *e, const struct enforce_agent *agent);
int enforce__remove_agent(struct enforce *e, __u32 slot);
/* Re-read the same paths: on any error the old policy stays in force. */
int enforce__reload(struct enforce *e);
/* The name of a rule in the policy now in force ("default", "execProtections" for built-ins). */
const char *enforce__rule_name(const struct enforce *e, __u32 rule_id);
/* The generation in force, and how many reloads failed. */
__u32 enforce__generation(const struct enforce *e);
unsigned int enforce__reload_failures(const struct enforce *e);
void enforce__free(struct enforce *e);

#endif /* AGENTWATCH_ENFORCE_H */
