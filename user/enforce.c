// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <agentwatch/agent.h>

#include "enforce.h"
#include "log.h"
#include "ocsf.h"
#include "policy_image.h"

#define ENFORCE_MAX_AGENTS AW_AGENT_SLOTS
#define ENFORCE_ERROR_MAX  4096 /* bytes of error text kept for the last failure */

struct enforce_slot {
	bool used;
	__u32 slot;
	char *name, *cgroup, *home, *workspace;
	bool workspace_is_default;
	bool deferred; /* added while held: in force from enforce__release() */
};

struct enforce {
	char **paths;
	int n_paths;
	struct aw_capabilities caps;
	struct policy_collection coll;
	struct policy_image *img; /* the image in force */
	struct policy_backend_bpf backend;
	struct enforce_slot agents[ENFORCE_MAX_AGENTS];
	struct enforce_slot pending; /* used: compile the pending set (enforce__set_pending) */
	bool pending_failed;	     /* it did not compile: pending cgroups have no policy */
	bool held;		     /* enforce__hold(): agents wait for enforce__release() */
	bool changed_while_held;
	__u32 gen;
	unsigned int reload_failures;
	char last_error[ENFORCE_ERROR_MAX];
};

/* Keep the text of a failure for enforce__last_error(), one message a line. */
static void record_error(struct enforce *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void record_error(struct enforce *e, const char *fmt, ...)
{
	size_t len = strlen(e->last_error);
	va_list ap;

	if (len && len + 1 < sizeof(e->last_error))
		e->last_error[len++] = '\n';
	va_start(ap, fmt);
	vsnprintf(e->last_error + len, sizeof(e->last_error) - len, fmt, ap);
	va_end(ap);
}

/* Print policy errors (FILE:LINE:COL: ...) and keep them. */
static void record_errors(struct enforce *e, const struct policy_errors *errs)
{
	policy_errors__print(errs, stderr);
	for (int i = 0; i < errs->n; i++)
		record_error(e, "%s", errs->v[i].msg);
}

static int load_collection(struct enforce *e, struct policy_collection *c)
{
	struct policy_errors errs = {};
	int err;

	policy_collection__init(c);
	err = policy_collection__load(c, e->paths, e->n_paths, &errs);
	if (err) {
		record_errors(e, &errs);
		policy_collection__free(c);
	}
	policy_errors__free(&errs);
	return err;
}

/* A policy that says `requireEnforcement: lsm` is refused loudly where BPF-LSM cannot enforce. */
static int check_requirements(struct enforce *e, const struct policy_image *img)
{
	int i;

	for (i = 0; i < img->n_sets; i++) {
		const struct policy_set_rec *set = &img->sets[i];

		if ((set->defaults.flags & AW_DEF_REQUIRE_LSM) && e->caps.file != AW_LEVEL_LSM) {
			record_error(e,
				     "agent '%s': a policy of %s requires BPF-LSM enforcement, "
				     "which this kernel does not give (file enforcement: %s; "
				     "see 'agentwatch doctor')",
				     set->agent ? set->agent : "?",
				     set->n_policies ? set->policies[0] : "its set",
				     aw_level__name(e->caps.file));
			log_error("%s", e->last_error);
			return -EOPNOTSUPP;
		}
	}
	return 0;
}

static struct policy_agent agent_of(const struct enforce_slot *a)
{
	return (struct policy_agent){.name = a->name,
				     .cgroup = a->cgroup,
				     .home = a->home,
				     .workspace = a->workspace,
				     .workspace_is_default = a->workspace_is_default,
				     .slot = a->slot};
}

/*
 * The pending set: every policy of `c`, merged, for cgroups that a watch glob may match and
 * that wait for the daemon's decision (AW_AGENT_SLOT_PENDING). Compiled into an image of its
 * own first, so that a set that cannot compile (the merge of every policy overflowing a key)
 * costs only itself: it is then left out, with a warning.
 */
static int compile_pending(struct enforce *e, const struct policy_collection *c,
			   struct policy_image **img, __u32 set)
{
	struct policy_errors errs = {};
	const struct policy **pols;
	struct policy_agent pa;
	int i, err;

	if (!e->pending.used || !c->n)
		return 0;
	pols = calloc(c->n, sizeof(*pols));
	if (!pols)
		return -ENOMEM;
	for (i = 0; i < c->n; i++)
		pols[i] = &c->pols[i];
	pa = agent_of(&e->pending);
	err = policy_image__compile_policies(*img, c, set, pols, c->n, &pa, &errs);
	free(pols);
	if (err == -EINVAL) {
		if (!e->pending_failed) {
			log_warn("policy: the merge of every policy, for cgroups not yet "
				 "registered, does not compile; they have no policy until "
				 "registered:");
			policy_errors__print(&errs, stderr);
		}
		e->pending_failed = true;
		policy_image__free(*img);
		*img = policy_image__new();
		err = *img ? 0 : -ENOMEM;
	} else if (!err) {
		e->pending_failed = false;
	}
	policy_errors__free(&errs);
	return err;
}

/* Compile every current agent from `c` into a new image and switch the kernel to it. */
static int rebuild(struct enforce *e, const struct policy_collection *c)
{
	struct policy_errors errs = {};
	struct policy_apply_stats st;
	struct policy_image *img;
	__u32 set = 0;
	int i, err = 0;

	img = policy_image__new();
	if (!img)
		return -ENOMEM;
	err = compile_pending(e, c, &img, ++set);
	for (i = 0; i < ENFORCE_MAX_AGENTS && !err; i++) {
		struct enforce_slot *a = &e->agents[i];
		struct policy_agent pa;

		if (!a->used)
			continue;
		pa = agent_of(a);
		err = policy_image__compile(img, c, ++set, &pa, &errs);
		if (err == -ENOENT)
			err = 0; /* no policy selects this agent */
	}
	if (err) {
		record_errors(e, &errs);
		goto out_free_img;
	}
	err = check_requirements(e, img);
	if (err)
		goto out_free_img;
	err = policy_apply(&e->backend.ops, img, &st);
	if (err) {
		record_error(e, "policy: apply: %s", strerror(-err));
		log_errno(err, "policy: apply");
		goto out_free_img;
	}
	log_debug("policy: generation %u in force after %.1f ms (%zu records, %zu protected "
		  "inodes, %zu of them multi-link files of any-depth rules, %zu anchors; %zu "
		  "written, %zu deleted); spare bank in step after %.1f ms",
		  st.gen, st.switch_ms, st.records, st.inodes, st.links_protected, st.anchors,
		  st.written, st.deleted, st.total_ms);
	if (st.anchor_skipped)
		log_warn("policy: %zu directories rules name were left without an anchor (files "
			 "in them are still matched by path)",
			 st.anchor_skipped);
	if (st.inode_skipped)
		log_warn("policy: %zu files of large protected trees were left without an inode "
			 "entry (they are still matched by path)",
			 st.inode_skipped);
	e->gen = st.gen;
	policy_image__free(e->img);
	e->img = img;
	img = NULL;
out_free_img:
	policy_image__free(img);
	policy_errors__free(&errs);
	return err;
}

int enforce__open(struct enforce **out, char *const *paths, int n_paths,
		  const struct aw_capabilities *caps, const int fd[POLICY_MAP__COUNT])
{
	struct enforce *e = calloc(1, sizeof(*e));
	int i, err;

	if (!e)
		return -ENOMEM;
	e->caps = *caps;
	e->paths = calloc(n_paths + 1, sizeof(*e->paths));
	if (!e->paths) {
		free(e);
		return -ENOMEM;
	}
	for (i = 0; i < n_paths; i++)
		e->paths[i] = strdup(paths[i]);
	e->n_paths = n_paths;
	policy_backend__bpf(&e->backend, fd);
	err = load_collection(e, &e->coll);
	if (err) {
		for (i = 0; i < n_paths; i++)
			free(e->paths[i]);
		free(e->paths);
		free(e);
		return err;
	}
	*out = e;
	return 0;
}

int enforce__set_link_scan(struct enforce *e, const char *const *dirs, int n)
{
	return policy_backend__set_link_scan(&e->backend.ops, dirs, n);
}

static void free_slot(struct enforce_slot *a)
{
	free(a->name);
	free(a->cgroup);
	free(a->home);
	free(a->workspace);
	memset(a, 0, sizeof(*a));
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int fill_slot(struct enforce_slot *a, const struct enforce_agent *agent)
{
	a->used = true;
	a->slot = agent->slot;
	a->name = dup_or_null(agent->name);
	a->cgroup = dup_or_null(agent->cgroup);
	a->home = dup_or_null(agent->home);
	a->workspace = dup_or_null(agent->workspace);
	a->workspace_is_default = agent->workspace_is_default;
	if ((agent->name && !a->name) || (agent->cgroup && !a->cgroup) ||
	    (agent->home && !a->home) || (agent->workspace && !a->workspace)) {
		free_slot(a);
		return -ENOMEM;
	}
	return 0;
}

int enforce__add_agent(struct enforce *e, const struct enforce_agent *agent)
{
	struct enforce_slot *a = NULL, old = {};
	int i, err;

	e->last_error[0] = '\0';
	/* An agent registered again (a new name, say) is replaced in one switch. */
	for (i = 0; i < ENFORCE_MAX_AGENTS && !a; i++)
		if (e->agents[i].used && e->agents[i].slot == agent->slot)
			a = &e->agents[i];
	if (a) {
		old = *a;
		memset(a, 0, sizeof(*a));
	}
	for (i = 0; i < ENFORCE_MAX_AGENTS && !a; i++)
		if (!e->agents[i].used)
			a = &e->agents[i];
	if (!a)
		return log_errno(ENOSPC, "policy: more than %d agents", ENFORCE_MAX_AGENTS);
	err = fill_slot(a, agent);
	if (!err && e->held) {
		a->deferred = true;
		e->changed_while_held = true;
		free_slot(&old);
		return 0;
	}
	if (!err)
		err = rebuild(e, &e->coll);
	if (err) {
		/* the agent runs under no policy of ours: the caller must refuse it */
		free_slot(a);
		if (old.used)
			*a = old; /* what is in force still has the old entry */
	} else {
		free_slot(&old);
	}
	return err;
}

int enforce__set_pending(struct enforce *e, const char *home, const char *workspace)
{
	struct enforce_agent pa = {
		.slot = AW_AGENT_SLOT_PENDING,
		.name = "(cgroups not yet registered)",
		.home = home,
		.workspace = workspace,
		.workspace_is_default = true,
	};
	struct enforce_slot old = e->pending;
	int err;

	e->last_error[0] = '\0';
	memset(&e->pending, 0, sizeof(e->pending));
	err = fill_slot(&e->pending, &pa);
	if (!err)
		err = rebuild(e, &e->coll);
	if (err) {
		free_slot(&e->pending);
		e->pending = old;
	} else {
		free_slot(&old);
	}
	return err;
}

int enforce__remove_agent(struct enforce *e, __u32 slot)
{
	int i;

	e->last_error[0] = '\0';
	for (i = 0; i < ENFORCE_MAX_AGENTS; i++)
		if (e->agents[i].used && e->agents[i].slot == slot)
			free_slot(&e->agents[i]);
	if (e->held) {
		e->changed_while_held = true;
		return 0;
	}
	return rebuild(e, &e->coll);
}

void enforce__hold(struct enforce *e)
{
	e->held = true;
}

int enforce__release(struct enforce *e)
{
	char errors[ENFORCE_ERROR_MAX] = "";
	struct enforce_slot *retry;
	int i, n = 0, err, failed = 0;
	size_t len = 0;

	e->held = false;
	if (!e->changed_while_held)
		return 0;
	e->changed_while_held = false;
	e->last_error[0] = '\0';
	err = rebuild(e, &e->coll);
	if (!err) {
		for (i = 0; i < ENFORCE_MAX_AGENTS; i++)
			e->agents[i].deferred = false;
		return 0;
	}
	/* Some agent's policy did not compile: put the others in force one by one. */
	log_warn("policy: the agents added together failed; adding them one by one");
	retry = calloc(ENFORCE_MAX_AGENTS, sizeof(*retry));
	if (!retry)
		return -ENOMEM;
	for (i = 0; i < ENFORCE_MAX_AGENTS; i++) {
		if (!e->agents[i].used || !e->agents[i].deferred)
			continue;
		retry[n++] = e->agents[i];
		memset(&e->agents[i], 0, sizeof(e->agents[i]));
	}
	for (i = 0; i < n; i++) {
		struct enforce_agent ea = {
			.slot = retry[i].slot,
			.name = retry[i].name,
			.cgroup = retry[i].cgroup,
			.home = retry[i].home,
			.workspace = retry[i].workspace,
			.workspace_is_default = retry[i].workspace_is_default,
		};

		if (enforce__add_agent(e, &ea)) {
			log_error("policy: agent '%s' (cgroup '%s'): not under the policy: %s",
				  ea.name ? ea.name : "?", ea.cgroup ? ea.cgroup : "?",
				  e->last_error);
			/* for the event: "agent 'NAME': <error>", one line each */
			if (len < sizeof(errors))
				len += snprintf(errors + len, sizeof(errors) - len,
						"%sagent '%s': %s", failed ? "\n" : "",
						ea.name ? ea.name : "?", e->last_error);
			failed++;
		}
		free_slot(&retry[i]);
	}
	free(retry);
	if (failed)
		snprintf(e->last_error, sizeof(e->last_error), "%s", errors);
	return failed ? -EINVAL : 0;
}

int enforce__reload(struct enforce *e)
{
	struct policy_collection next;
	int err;

	e->last_error[0] = '\0';
	err = load_collection(e, &next); /* frees `next` itself on error */
	if (err)
		goto out_failed;
	err = rebuild(e, &next);
	if (err) {
		policy_collection__free(&next);
		goto out_failed;
	}
	/* The image in force now refers to the new collection's rules. */
	policy_collection__free(&e->coll);
	e->coll = next;
	return 0;
out_failed:
	e->reload_failures++;
	log_error("policy: reload failed; generation %u stays in force", e->gen);
	return err;
}

const char *enforce__rule_name(const struct enforce *e, __u32 rule_id)
{
	const struct policy_rule_info *info;

	switch (rule_id) {
	case 0:
		return NULL;
	case AW_RULE_DEFAULT:
		return "default";
	case AW_RULE_AGENT_WRITTEN:
		return "execProtections.denyAgentWritten";
	case AW_RULE_MEMFD:
		return "execProtections.denyMemfd";
	case AW_RULE_RAW_PACKETS:
		return "network.rawPackets";
	}
	if (rule_id >= AW_RULE_SYSCALL_CLASS(0) && rule_id < AW_RULE_SYSCALL_CLASS(32)) {
		const char *cls = policy_sc__name(rule_id - AW_RULE_SYSCALL_CLASS(0));

		return cls ? cls : "syscalls";
	}
	info = e && e->img ? policy_image__rule(e->img, rule_id) : NULL;
	return info ? info->name : NULL;
}

const char *enforce__last_error(const struct enforce *e)
{
	return e->last_error;
}

char *const *enforce__paths(const struct enforce *e, int *n)
{
	*n = e->n_paths;
	return e->paths;
}

void enforce__describe_change(const struct enforce *e, bool ok, __u32 prev, const char *trigger,
			      struct ocsf_policy_change *out)
{
	*out = (struct ocsf_policy_change){
		.ok = ok,
		.generation = e->gen,
		.previous_generation = prev,
		.trigger = trigger,
		.paths = e->paths,
		.n_paths = e->n_paths,
		.errors = ok ? NULL : e->last_error,
		.reload_failures = e->reload_failures,
	};
}

__u32 enforce__generation(const struct enforce *e)
{
	return e->gen;
}

unsigned int enforce__reload_failures(const struct enforce *e)
{
	return e->reload_failures;
}

void enforce__free(struct enforce *e)
{
	int i;

	if (!e)
		return;
	for (i = 0; i < ENFORCE_MAX_AGENTS; i++)
		free_slot(&e->agents[i]);
	free_slot(&e->pending);
	for (i = 0; i < e->n_paths; i++)
		free(e->paths[i]);
	free(e->paths);
	policy_image__free(e->img);
	policy_collection__free(&e->coll);
	policy_backend__bpf_free(&e->backend);
	free(e);
}
