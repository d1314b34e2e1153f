/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's policies (`agentwatch run --rules DIR|FILE`, config `rules:`): every agent the
 * daemon registers is put under the policies that select it (user/enforce.h), before its
 * cgroup is moved to its own slot in the kernel, and taken out when the daemon removes it.
 *
 * ${HOME} and ${WORKSPACE} of an agent, first that applies:
 *   - registered by `agentwatch exec` over the control socket: the client's values (exec's
 *     --home or $HOME, --workspace or its current directory);
 *   - the daemon's defaults: `--home`/`--workspace`, config `home:`/`workspace:`;
 *   - ${HOME}: the home directory (passwd) of the user owning the agent's cgroup directory (a
 *     delegated user cgroup belongs to its user; others to root), /root if it has none;
 *   - ${WORKSPACE}: none, written as RUN_POLICY_NO_WORKSPACE, a path under /proc where no file
 *     can exist: a rule excepting the workspace then excepts nothing (fail-closed).
 * Cgroups made under a watch glob's prefix and not yet registered (the pending slot) are under
 * the merge of every policy, with the daemon's defaults (enforce__set_pending), so a cgroup
 * made after start is confined from its first process, before the daemon has matched it.
 *
 * Reloads, each atomic (enforce__reload): SIGHUP (run.c calls run_policy__reload), and inotify
 * on every rules directory and on the directory of every rules file, debounced: a reload runs
 * once nothing changed for RUN_POLICY_DEBOUNCE_MS. In a directory, changes to *.yaml and *.yml
 * (not hidden) count, and to `..data` (a Kubernetes ConfigMap volume swaps that symlink); for a
 * file, changes to that name. A watched directory that is removed is watched again by the next
 * reload that finds it back (SIGHUP). Every load and reload, good or bad, is an event (OCSF 6002,
 * ocsf.h struct ocsf_policy_change); a bad one keeps the generation in force and is also
 * logged, FILE:LINE:COL per error.
 */
#ifndef AGENTWATCH_RUN_POLICY_H
#define AGENTWATCH_RUN_POLICY_H

#include <linux/types.h>
#include <json-c/json.h>

#include "features.h"

#define RUN_POLICY_DEBOUNCE_MS	200
#define RUN_POLICY_NO_WORKSPACE "/proc/agentwatch-no-workspace"

struct metrics;
struct observe;
struct policy_link_scan;
struct stream;
struct run_policy;

struct run_policy_opts {
	char *const *paths; /* files and directories, as enforce__open takes them */
	int n_paths;
	const char *home;      /* default ${HOME}; NULL: the cgroup owner's home */
	const char *workspace; /* default ${WORKSPACE}; NULL: RUN_POLICY_NO_WORKSPACE */
	int epfd;	       /* the daemon's epoll set: inotify and the debounce timer join it */
	struct metrics *metrics; /* policy_generation, policy_reload_failures_total; or NULL */
	/* Called before a reload: deliver what the ring holds, named by the old rules. */
	void (*drain)(void *ctx);
	void *ctx;
	/* where to look for hard links (--link-scan, linkScan:; enforce__set_link_scan), or NULL */
	const struct policy_link_scan *link_scan;
};

/*
 * Read and check the policies without a kernel (before the slow load): 0, or -errno after
 * printing every error as FILE:LINE:COL.
 */
int run_policy__check(char *const *paths, int n_paths);
/*
 * Load the policies (errors as FILE:LINE:COL), put the pending set in force and start
 * watching the paths. `obs` must have been loaded with observe_opts.enforce. Reports the load
 * as an event on `st`, which then names rules from the policy in force.
 */
int run_policy__open(struct run_policy **out, const struct run_policy_opts *o,
		     const struct aw_capabilities *caps, struct observe *obs, struct stream *st);
/*
 * Put an agent under its policies. home and workspace: the client's values, or NULL for the
 * defaults above; without a workspace, a policy's spec.selector.workspace is the agent's
 * ${WORKSPACE} in that policy, else workspace_default (the client's fallback), else the
 * daemon's. Each change of generation is reported like a reload, with trigger agent-added or
 * agent-removed and the agent's name. Returns 0 or -errno (the policy in force is then
 * unchanged, and the agent not under it); the error text is in run_policy__last_error().
 */
int run_policy__add_agent(struct run_policy *rp, __u32 slot, const char *name, const char *cgroup,
			  const char *home, const char *workspace, const char *workspace_default);
/* Take an agent (name: for the event) from its policies. */
void run_policy__remove_agent(struct run_policy *rp, __u32 slot, const char *name);
/*
 * Between hold and release, agents added or removed wait, and go in force together with one
 * generation, reported with `trigger` (the daemon holds while it registers the agents it finds
 * at start: "agents-at-start"). An agent whose policy cannot compile stays out (logged).
 */
void run_policy__hold(struct run_policy *rp);
void run_policy__release(struct run_policy *rp, const char *trigger);
/* Reload now (SIGHUP: trigger "sighup"), and report it. */
void run_policy__reload(struct run_policy *rp, const char *trigger);
const char *run_policy__last_error(const struct run_policy *rp);
/* {"generation":N,"reload_failures":N,"paths":[..]} for the status reply. */
struct json_object *run_policy__status_json(const struct run_policy *rp);
void run_policy__free(struct run_policy *rp);

#endif /* AGENTWATCH_RUN_POLICY_H */
