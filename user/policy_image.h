/* SPDX-License-Identifier: Apache-2.0 */
// The policy image: every map record a set of policies compiles to, as plain arrays in memory,
// before anything touches the kernel (include/agentwatch/policy.h is the contract for each
// record). The applier (user/policy_apply.c, with libbpf) writes them with the generation it
// chooses: every key here carries gen 0.
//
//   struct policy_image *img = policy_image__new();
//   policy_image__compile(img, &collection, set, &agent, &errs);   // once per policy set
//   ... write img->files[], img->binsets[], img->globs[], img->nets[], img->sets[].defaults,
//       img->slots[], policy_image__config(); resolve img->inodes[] with stat()/a walk ...
//   policy_image__free(img);
//
// Records come in a deterministic order (sets in compile order; within a set, rules in id
// order, each rule's patterns as written), so the same files and agents give the same image.
//
// Reference matcher: policy_image__decide_*() take the decision the kernel's matcher
// (bpf/policy_match.bpf.h, bpf/verdict.bpf.h) takes on this image: the same hashes, the same
// lookups in the same order, the same deciding rules. `agentwatch rules explain` and the
// differential test against the BPF matcher (tools/policy-testrun.c) run on it. It does not
// model file_inodes (the kernel's by-identity entries): queries are paths. Anchors (the
// canonical names of directories, by identity) are modelled by
// policy_image__decide_file_alias(), given the alias.
//
// Deciding, as both implement it (include/agentwatch/policy.h, "Deciding", made precise):
//   - only references whose access bits meet the request are collected, the first
//     POLICY_MATCH_REFS of them in lookup order; more than that fails closed (DENY, rule
//     AW_RULE_DEFAULT, unless a collected DENY decides anyway);
//   - a collected EXCEPT reference cancels every collected reference with its rule_id;
//   - a reference's action and audit mode are its rule's verdict (policy_image__verdict(),
//     the kernel's rule_verdicts entry), not the reference's;
//   - strength: DENY > DENY of an audit-mode policy (would block) > AUDIT; among equals the
//     lowest rule_id (the rule written first) decides; an ALLOW decides only when none of
//     those applies, and is reported as rule 0 (explain still names the allowing rule);
//   - nothing applies: the list's default posture; rule AW_RULE_DEFAULT, or 0 when it is
//     allow; AW_DEF_AUDIT_MODE makes a deny by AW_RULE_DEFAULT "would block";
//   - exec: execProtections after the rules (memfd first, then agent-written), rule
//     AW_RULE_MEMFD or AW_RULE_AGENT_WRITTEN, except that a would-block one (AW_DEF_AUDIT_MODE)
//     does not replace an enforced deny;
//   - AW_FK_UNDER_NAME hashes aw_hash_mix(D(dir), 0, fnv(name)).
#ifndef AGENTWATCH_POLICY_IMAGE_H
#define AGENTWATCH_POLICY_IMAGE_H

#include <stdbool.h>
#include <stdio.h>
#include <agentwatch/policy.h>
#include <agentwatch/syscall.h>

#include "policy.h"

/* The rule table: ids -> names, where they were written, and their verdicts. */
struct policy_rule_info {
	__u32 id;
	const char *name;
	const char *policy;
	enum policy_list list;
	__u8 action;	 /* AW_ACT_* as written */
	bool audit_mode; /* its policy's spec.mode */
	const char *file;
	unsigned int line, col;
};

/* file_rules */
struct policy_file_rec {
	struct aw_file_key key;
	struct aw_rule_val val; /* AW_FK_CHILD_GLOB: refs empty, globs[] index img->globs + 1 */
	const char *dir;	/* EXACT: the path; otherwise the directory, "" for / */
	const char *name;	/* UNDER_NAME: the name; prefix and suffix kinds: the literal */
	struct policy_glob_build *gb; /* private: CHILD_GLOB while its set is compiled */
};

// file_inodes requests: the applier finds the files that exist now and writes
// {gen, set, dev, ino} -> val for each (policy.h). Made for keys holding a DENY reference:
//   AW_FK_EXACT       `path` itself
//   AW_FK_SUBTREE     everything below `path` (a walk; `path` itself has its own EXACT request)
//   AW_FK_CHILD_ANY   `path`'s entries; CHILD_PREFIX/SUFFIX/GLOB those whose name matches
//                     `name` as a prefix, a suffix or a name glob (policy_glob__match())
//   AW_FK_UNDER_NAME  files at any depth below `path` ("" for /) named `name`; UNDER_PREFIX
//                     and UNDER_SUFFIX those whose name has `name` as a prefix or a suffix;
//                     only the multi-link ones (the link inventory, policy_links.h): a file
//                     with one name is matched by that name, and only a second name escapes it
// policy_image__inode_value() gives the value for one file found, with the references its
// path gets minus those an `except:` cancels there (so an excepted file gets no entry).
struct policy_inode_req {
	__u32 set;
	__u8 kind;
	const char *path;
	const char *name;
	struct aw_rule_val val;
};

/* binsets: {gen, binset, H(path)} -> present */
struct policy_binset_rec {
	struct aw_binset_key key;
	const char *path;
};

/* net_rules: LPM {64 + bits, gen, set, addr} -> refs, covering prefixes' rules pushed down */
struct policy_net_rec {
	struct aw_net_key key;
	struct aw_net_val val;
	int n_refs; /* used entries of val.refs */
	int n_own;  /* val.refs[0..n_own) are this prefix's own rules; the rest came from above */
};

/* One policy set: policy_defaults {gen, set}, syscall_classes, and what explain needs. */
struct policy_set_rec {
	__u32 set;
	struct aw_policy_defaults defaults;    /* syscall_deny is also the syscall_classes value */
	struct aw_syscall_mask syscall_events; /* syscalls reported (rules with names:) */
	__u32 sc_rule[POLICY_SC_CLASSES];      /* the rule deciding each class in syscall_deny */
	const char *agent;		       /* compiled for this agent, or NULL */
	const char **policies;		       /* names of the merged policies */
	int n_policies;
};

/* policy_of_slot {gen, slot} -> set */
struct policy_slot_rec {
	struct aw_policy_slot_key key;
	__u32 set;
};

struct policy_image {
	struct policy_rule_info *rules; /* rules[i].id == i + 1 */
	__u32 n_rules;
	struct policy_set_rec *sets;
	int n_sets;
	struct policy_slot_rec *slots;
	int n_slots;
	struct policy_file_rec *files;
	size_t n_files;
	struct policy_inode_req *inodes;
	size_t n_inodes;
	struct aw_name_glob *globs; /* name_globs: index i is referenced as i + 1 */
	int n_globs;
	struct policy_binset_rec *binsets;
	size_t n_binsets;
	int n_binset_ids; /* binset ids 1..n_binset_ids */
	struct policy_net_rec *nets;
	size_t n_nets;
	/* policy_config's name-length tables, node-wide (every set shares them), ascending */
	__u8 prefix_lens[AW_NAME_LENS], n_prefix_lens;
	__u8 suffix_lens[AW_NAME_LENS], n_suffix_lens;

	/* private: capacities, indexes, string storage */
	size_t cap_files, cap_inodes, cap_binsets, cap_nets;
	int cap_sets, cap_slots, cap_globs;
	struct policy_index *file_idx, *net_idx, *bin_idx;
	__u8 net_lens[17];  /* bitmap of prefix bits (0..128) used by any net record */
	char **binset_defs; /* id - 1 -> sorted paths joined by '\n' */
	struct policy_strpool *pool;
};

struct policy_image *policy_image__new(void);
void policy_image__free(struct policy_image *img);

/*
 * Compile the policies of `c` that select `agent` into policy set `set` (>= 1, not compiled
 * before), with the agent's ${HOME} and ${WORKSPACE}; add a policy_of_slot record when
 * agent->slot is not 0. Returns 0; -ENOENT when no policy selects the agent (nothing added);
 * -EINVAL with every problem in errs (file:line:col of the rule or pattern concerned), after
 * which the image must be discarded; -EEXIST for a set compiled before; -ENOMEM.
 * Every compile into one image must use the same collection (rule ids are its).
 */
int policy_image__compile(struct policy_image *img, const struct policy_collection *c, __u32 set,
			  const struct policy_agent *agent, struct policy_errors *errs);
/* The same for a given list of policies, selector or not (rules dump and check). */
int policy_image__compile_policies(struct policy_image *img, const struct policy_collection *c,
				   __u32 set, const struct policy *const *pols, int n,
				   const struct policy_agent *agent, struct policy_errors *errs);

/* policy_config for generation `gen`: the name-length tables. */
void policy_image__config(const struct policy_image *img, __u32 gen, struct aw_policy_config *out);
const struct policy_set_rec *policy_image__set(const struct policy_image *img, __u32 set);
const struct policy_rule_info *policy_image__rule(const struct policy_image *img, __u32 id);
/*
 * Rule `id`'s rule_verdicts value (include/agentwatch/policy.h, "Verdicts"): its action and
 * AW_REF_AUDIT_MODE when its policy is in audit mode; zero for an id the image has no rule for.
 */
struct aw_rule_verdict policy_image__verdict(const struct policy_image *img, __u32 id);
/* Lookups as the kernel does them (NULL: no such key). */
const struct policy_file_rec *policy_image__file(const struct policy_image *img, __u32 set,
						 __u8 kind, __u64 hash);
const struct policy_net_rec *policy_image__lpm(const struct policy_image *img, __u32 set,
					       const __u8 addr[16]);
bool policy_image__in_binset(const struct policy_image *img, __u8 binset, __u64 hash);
/*
 * The file_inodes value for the file at `path` (found by resolving an inode request): its
 * path's DENY references not cancelled there by an except. Beyond AW_RULE_REFS the strongest
 * are kept (enforced before audit-mode, unconditional before binary-conditioned, then by rule
 * id): the path lookups still see them all. Returns 0, or -ENOENT when none is left (write no
 * entry).
 */
int policy_image__inode_value(const struct policy_image *img, __u32 set, const char *path,
			      struct aw_rule_val *out);
/*
 * The value of an inode reached by several protected names: `into` gains add's references,
 * in the same keeping order and bound.
 */
void policy_image__inode_value_merge(const struct policy_image *img, struct aw_rule_val *into,
				     const struct aw_rule_val *add);

/* ---- decisions (the reference matcher, policy_match.c) ---- */

enum policy_verdict {
	POLICY_NO_POLICY = 0, /* the set has no defaults record: no policy, allowed silently */
	POLICY_ALLOW,	      /* allowed, no event beyond observation */
	POLICY_AUDIT,	      /* allowed and reported (AW_EVF_AUDIT) */
	POLICY_WOULD_BLOCK,   /* a deny of an audit-mode policy: allowed and reported */
	POLICY_DENY,	      /* refused (-EPERM) and reported (AW_EVF_DENIED) */
};

/* One reference a lookup found, for explain. */
struct policy_match {
	__u32 rule_id;
	__u8 action, access, flags, binset; /* the reference (file) */
	__u16 port_lo, port_hi;		    /* the reference (network) */
	__u8 protos;
	__u8 kind;	   /* AW_FK_* of the key; 0 for network */
	bool applies;	   /* it counted: access, binary, port and protocol conditions held */
	__u8 miss;	   /* when not: POLICY_MISS_* */
	bool cancelled;	   /* an applicable EXCEPT cancelled its rule */
	const char *where; // the key, decoded: "SUBTREE /home/ada/.ssh/**" or a CIDR
	char where_buf[160];
};

/* Why a reference found did not count. */
enum {
	POLICY_MISS_NONE = 0,
	POLICY_MISS_ACCESS = 1,	  /* its access bits do not meet the request */
	POLICY_MISS_BINARY = 2,	  /* the executable is (not) in its binset */
	POLICY_MISS_PORT = 3,	  /* port or protocol */
	POLICY_MISS_TOO_MANY = 4, /* beyond the POLICY_MATCH_REFS the kernel holds */
};

#define POLICY_MATCHES_MAX 64

struct policy_decision {
	enum policy_verdict verdict;
	__u8 action;	 /* AW_ACT_* of the deciding reference or posture */
	__u32 rule_id;	 /* as the kernel reports it (see "Deciding" above) */
	bool by_default; /* the list's default posture decided */
	bool overflow;	 /* more references than the kernel holds: failed closed */
	int decider;	 /* index in matches of the deciding (or allowing) reference, or -1 */
	int n_matches;	 /* references found (at most POLICY_MATCHES_MAX kept) */
	/*
	 * A file query on this machine's file system (user/rules_fs.h), set by the caller after
	 * deciding; NULL: not looked at. walked: the name the kernel's walk gives (resolved: it
	 * differs from the query); via, anchor: an alias of an anchored directory, or NULL.
	 */
	const char *walked, *via, *anchor;
	bool resolved;
	struct policy_match matches[POLICY_MATCHES_MAX];
};

/* Flags of policy_image__decide_exec(): what the kernel knows of the file. */
#define POLICY_EXEC_AGENT_WRITTEN \
	(1U << 0)		    /* the agent wrote it (AW_DEF_DENY_AGENT_WRITTEN_EXEC) */
#define POLICY_EXEC_MEMFD (1U << 1) /* memfd or anonymous (AW_DEF_DENY_MEMFD_EXEC) */

/*
 * Open (or delete, rename, ...) `path` (canonical, absolute) with AW_ACC_* `access` by a task
 * running `exe` (its canonical path; NULL: none is in any binset). Default posture: files.
 */
int policy_image__decide_file(const struct policy_image *img, __u32 set, const char *path,
			      __u32 access, const char *exe, struct policy_decision *d);
/*
 * The same for a file the kernel reached through an alias of an anchored directory
 * (include/agentwatch/policy.h, "Anchors"): `walked` is the path its dentry walk gave, its
 * last `rest_len` bytes ("/name...") lie below the directory whose canonical name is
 * `anchor_dir`. The stronger of the decisions on `walked` and on anchor_dir + rest, as the
 * kernel takes it. Which directories are anchors depends on the file system at apply time:
 * policy_anchor__each() (user/policy_apply.h) lists them.
 */
int policy_image__decide_file_alias(const struct policy_image *img, __u32 set, const char *walked,
				    size_t rest_len, const char *anchor_dir, __u32 access,
				    const char *exe, struct policy_decision *d);
/*
 * exec of `path` by a task running `exe` (at bprm_check the current task is the parent, so
 * `parent:` binsets test `exe`). Access AW_ACC_EXEC; default posture: exec. `flags` says what
 * execProtections look at (POLICY_EXEC_*).
 */
int policy_image__decide_exec(const struct policy_image *img, __u32 set, const char *path,
			      const char *exe, __u32 flags, struct policy_decision *d);
/*
 * connect/sendmsg to addr:port. family AF_INET (addr: 4 bytes) or AF_INET6 (16 bytes; mapped
 * and NAT64 64:ff9b::/96 addresses are matched as IPv4); proto IPPROTO_TCP or IPPROTO_UDP, or
 * IPPROTO_RAW for a raw IP socket, whose port is decided as every port (policy.h, AW_PORT_ANY).
 */
int policy_image__decide_connect(const struct policy_image *img, __u32 set, int family,
				 const void *addr, __u16 port, int proto,
				 struct policy_decision *d);
/* Is syscall class `sc_bit` (AW_SC_*) denied, would-block or free for the set? */
int policy_image__decide_syscall(const struct policy_image *img, __u32 set, __u32 sc_bit,
				 struct policy_decision *d);

const char *policy_verdict__name(enum policy_verdict v); /* "allow", "deny", "would-block", ... */

/* ---- dumps (policy_dump.c) ---- */

/* One line per record, keys decoded, rule names resolved; or one JSON document. */
int policy_image__dump(const struct policy_image *img, FILE *out, bool json);
/* A decision as text (lines) or one JSON object, naming the rule and the matching key. */
void policy_decision__print(const struct policy_image *img, const struct policy_decision *d,
			    FILE *out, bool json);

/* ---- building (policy_compile.c uses these) ---- */

/* A copy of s that lives as long as the image. */
const char *policy_image__strdup(struct policy_image *img, const char *s);
/* The record of a file key, created empty when absent (dir, name copied); NULL: no memory. */
struct policy_file_rec *policy_image__file_get(struct policy_image *img, __u32 set, __u8 kind,
					       __u64 hash, const char *dir, const char *name);
/* The record of a network prefix, created empty when absent; NULL: no memory. */
struct policy_net_rec *policy_image__net_get(struct policy_image *img, __u32 set,
					     const __u8 addr[16], __u8 bits);
/* Add a binset record; -ENOMEM. */
int policy_image__binset_add(struct policy_image *img, __u8 binset, const char *path);

#endif /* AGENTWATCH_POLICY_IMAGE_H */
