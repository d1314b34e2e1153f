/* SPDX-License-Identifier: Apache-2.0 */
// Policies: the `agentwatch.dev/v1` `AgentPolicy` documents of rules/README.md, read with libyaml
// into a validated tree that keeps the source position of every value, so that the compiler
// (user/policy_image.h) can still point at the YAML when an agent's context makes a rule fail.
//
// Loading is all or nothing: policy_collection__load() reads every file, keeps going after an
// error to list them all (each `FILE:LINE:COL: FIELD: what is wrong`, 1-based as editors count),
// and fails as a whole when there was any. A YAML syntax error stops the reading of its file
// (libyaml cannot resume), not of the others.
//
// Rule ids are collection-wide and stable for a given set of files: files in the order given
// (a directory's *.yaml and *.yml sorted by name), documents in file order, rules in the order
// files, exec, network, syscalls and within each list as written; the first rule is 1. Events
// name rules by id, and policy_image's rule table maps ids back to names and positions.
//
// Patterns (files, exec, except) are checked here against the key kinds of
// include/agentwatch/policy.h with placeholder values for ${HOME} and ${WORKSPACE}; the compiler
// checks them again with the agent's values.
#ifndef AGENTWATCH_POLICY_H_USER
#define AGENTWATCH_POLICY_H_USER

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <agentwatch/event.h> /* AW_ACC_*, which policy.h extends */
#include <agentwatch/policy.h>
#include <agentwatch/syscall.h>

#include "k8s.h"
#include "selector.h"

#define POLICY_API_VERSION   "agentwatch.dev/v1"
#define POLICY_KIND	     "AgentPolicy"
#define POLICY_NAME_MAX	     253 /* metadata.name, as Kubernetes object names */
#define POLICY_RULE_NAME_MAX 63

/* The lists of a policy; also the `list` of a rule. */
enum policy_list {
	POLICY_FILES = 0,
	POLICY_EXEC = 1,
	POLICY_NETWORK = 2,
	POLICY_SYSCALLS = 3,
	POLICY_LISTS,
};

/* syscall classes, in AW_SC_* bit order */
#define POLICY_SC_CLASSES 7

/* Where a value was written: 1-based line and column. `file` is owned by the collection. */
struct policy_pos {
	const char *file;
	unsigned int line;
	unsigned int col;
};

/* A string from the YAML and where it was. */
struct policy_str {
	char *s;
	struct policy_pos pos;
};

struct policy_strv {
	struct policy_str *v;
	int n;
};

/* `binaries:` of a file rule, `parent:` of an exec rule: exact executable paths. */
struct policy_bins {
	__u8 flags; /* 0 (any binary), AW_REF_BIN_ONLY or AW_REF_BIN_EXCEPT */
	struct policy_strv paths;
};

struct policy_cidr {
	__u8 addr[16]; /* IPv6 form: an IPv4 CIDR is ::ffff:a.b.c.d */
	__u8 bits;     /* prefix length in that form: an IPv4 /n is 96 + n */
	bool v4;       /* written as IPv4 */
	struct policy_pos pos;
};

struct policy_ports {
	__u16 lo, hi; /* inclusive */
};

struct policy_rule {
	__u32 id; /* collection-wide, from 1 */
	char *name;
	struct policy_pos pos; /* the rule's `name:` value */
	enum policy_list list;
	__u8 action; /* AW_ACT_ALLOW, AW_ACT_AUDIT or AW_ACT_DENY */

	/* files and exec */
	struct policy_strv paths;  /* patterns, as written (variables unexpanded) */
	struct policy_strv except; /* patterns that cancel this rule (AW_REF_EXCEPT) */
	__u8 access;		   /* AW_ACC_* bits; AW_ACC_EXEC for exec rules */
	struct policy_bins bins;

	/* network */
	struct policy_cidr *cidrs;
	int n_cidrs;
	struct policy_ports *ports; /* none: every port */
	int n_ports;
	__u8 protos; /* AW_PROTO_* */

	/* syscalls */
	__u32 classes;		      /* AW_SC_* */
	struct aw_syscall_mask names; /* syscalls to report (action audit) */
	int n_names;
};

/* One glob of spec.selector.agents or .cgroups. */
struct policy_glob {
	struct selector sel;
	struct policy_pos pos;
};

/* spec.selector: each field given must match (AND); within a field any entry may (OR). */
struct policy_selector {
	struct policy_glob *agents; /* over "/" + agent name, selector.h syntax */
	int n_agents;
	struct policy_glob *cgroups; /* over the agent's absolute cgroup path */
	int n_cgroups;
	struct policy_strv pod_uids;	  /* exact */
	struct policy_strv container_ids; /* full id, or a prefix of at least 12 hex digits */
	char *workspace;		  /* ${WORKSPACE} of the agents it selects; NULL: none */
	struct policy_pos workspace_pos;
};

struct policy {
	char *name;
	struct policy_pos pos; /* metadata.name's value */
	bool audit_mode;       /* spec.mode: audit */
	__u8 defaults[3];      /* AW_ACT_* posture of files, exec, network; 0 = not given */
	__u8 flags;	       /* AW_DEF_* */
	struct policy_selector selector;
	struct policy_rule *rules; /* files, then exec, network, syscalls */
	int n_rules;
};

/* One problem: msg is "FILE:LINE:COL: text" (positions 1-based). */
struct policy_error {
	char *msg;
	const char *file;
	unsigned int line;
	unsigned int col;
};

struct policy_errors {
	struct policy_error *v;
	int n;
	int cap;
};

void policy_errors__add(struct policy_errors *e, const struct policy_pos *pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Sort the messages added since `from` (all from one file) by line and column, stably. */
void policy_errors__sort(struct policy_errors *e, int from);
void policy_errors__print(const struct policy_errors *e, FILE *out);
void policy_errors__free(struct policy_errors *e);

struct policy_collection {
	struct policy *pols;
	int n;
	int cap;
	char **files; /* names used in positions */
	int n_files;
	__u32 n_rules; /* ids 1..n_rules */
};

void policy_collection__init(struct policy_collection *c);
void policy_collection__free(struct policy_collection *c);
/*
 * Parse YAML held in memory (one or more documents); `name` is the file name in messages.
 * Policies of the text are added only when the whole text is valid. Returns 0, or -EINVAL with
 * every problem in `errs`.
 */
int policy_collection__parse(struct policy_collection *c, const char *name, const char *text,
			     size_t len, struct policy_errors *errs);
/*
 * Read files and directories (a directory: its *.yaml and *.yml, not hidden, sorted by name, not
 * recursive). Returns 0, -EINVAL when any policy is bad (all problems in `errs`; the caller must
 * not use the collection then), or -errno for an unreadable path (also in `errs`).
 */
int policy_collection__load(struct policy_collection *c, char *const *paths, int n,
			    struct policy_errors *errs);
/* The rule with this id, or NULL; *pol (optional) gets its policy. */
const struct policy_rule *policy_collection__rule(const struct policy_collection *c, __u32 id,
						  const struct policy **pol);

/* Who a policy set is compiled for. */
struct policy_agent {
	const char *name;		/* agent name; NULL matches no `agents:` glob */
	const char *cgroup;		/* absolute cgroup path; NULL matches no `cgroups:` glob */
	const struct k8s_identity *k8s; /* NULL: parsed from `cgroup` (k8s.h) */
	const char *home;		/* ${HOME}; NULL: a rule that uses it is an error */
	const char *workspace;		/* ${WORKSPACE}; likewise */
	bool workspace_is_default;	/* a default: a selector's workspace replaces it */
	__u32 slot;			/* agent slot (agent.h); 0: no policy_of_slot record */
};

bool policy__selects(const struct policy *p, const struct policy_agent *a);
/* Free what one parsed policy holds (the collection does this for its own). */
void policy__free(struct policy *p);

/* Names used in messages and dumps. */
const char *policy_list__name(enum policy_list l);
const char *policy_action__name(__u8 action); /* "allow", "audit", "deny", "none" */
/* Syscall class names ("bpf", "ptrace", ...) by bit index; NULL past the last. */
const char *policy_sc__name(int bit);
/* "read,write" for AW_ACC_* bits; returns buf. */
const char *policy_access__format(__u8 access, char *buf, size_t len);

#endif /* AGENTWATCH_POLICY_H_USER */
