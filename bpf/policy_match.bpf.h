/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The policy matchers (contract and deciding order: include/agentwatch/policy.h).
 *
 * File and exec decisions start from a canonical path already resolved into the per-CPU path
 * buffer (bpf/path.bpf.h) at [off, AW_PATH_SCRATCH). One left-to-right pass hashes it (FNV-1a:
 * the whole path, every directory prefix, the basename and its configured prefixes), then a
 * fixed set of lookups per directory level collects rule references. Nothing here loops over
 * rules: the work grows with path depth only.
 *
 * The same functions run in the LSM hooks and, through bpf/policy_test.bpf.c, under
 * BPF_PROG_TEST_RUN, so the matcher is tested on its own.
 */
#ifndef AGENTWATCH_POLICY_MATCH_BPF_H
#define AGENTWATCH_POLICY_MATCH_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <agentwatch/policy.h>
#include "path.bpf.h"
#include "policy_maps.bpf.h"

/* Which list's default posture applies. */
#define AW_LIST_FILES 0
#define AW_LIST_EXEC  1

struct aw_decision {
	__u8 action; /* AW_ACT_* */
	__u8 audit_mode;
	__u8 pad[2];
	__u32 rule_id;
};

struct aw_match_state {
	/* hashing pass */
	__u32 pos;
	__u32 ndirs;
	__u32 name_start;
	__u32 name_len;
	__u64 h;
	__u64 name_h;
	__u64 dirs[64]; /* D() of each ancestor directory; AW_PATH_DEPTH + 1 used */
	__u64 pre[AW_NAME_LENS];
	__u64 suf[AW_NAME_LENS];
	struct aw_policy_config cfg;
	/* lookups */
	__u32 gen; /* what keys carry: AW_POLICY_BANK(cfg.gen) */
	__u32 set;
	__u32 access;
	__u32 nrefs;
	__u32 overflow;
	__u32 level;
	struct aw_rule_ref refs[AW_MATCH_REFS];
	/* name glob evaluation */
	char glob[AW_NAME_GLOB_MAX];
	__u32 gp, gs, gstar, gmark, glen, matched;
	/* deciding */
	__u64 exe_hash; /* H(current executable); given by the query under test */
	__u64 xhash;
	__u32 xpos;
	__u32 have_exe, any_allow;
	__u32 d_action, d_audit_mode, d_rule_id;
	/* the query and result of aw_policy_path / aw_policy_net */
	__u32 q_off, q_access, q_dev, q_list;
	__u64 q_ino;
	__u32 q_addr[4];
	__u32 r_action, r_audit_mode, r_rule_id, r_set;
	/* the anchor the walk hit (policy.h, "Anchors"): the rest below it starts at q_anchor_off */
	__u32 q_anchor, q_anchor_off, q_anchor_dev;
	__u64 q_anchor_ino;
	/* the walked path's hash at position cap_pos (the anchor's), and one pass's decision */
	__u32 cap_pos;
	__u64 cap_h;
	__u32 p_action, p_audit_mode, p_rule_id;
	/* '[...]' class evaluation */
	__u32 cls_q, cls_neg, cls_hit, cls_done, cls_first;
	char cls_c;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct aw_match_state);
} match_scratch SEC(".maps");

static __always_inline struct aw_match_state *aw_match_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&match_scratch, &zero);
}

static __always_inline struct aw_path_buf *aw_path_buf(void)
{
	__u32 key = AW_PATH_BUF_FILE;

	return bpf_map_lookup_elem(&path_scratch, &key);
}

static __always_inline struct aw_path_buf *aw_exe_buf(void)
{
	__u32 key = AW_PATH_BUF_EXE;

	return bpf_map_lookup_elem(&path_scratch, &key);
}

/* The active generation and name-length tables; false when no policy was ever applied. */
static __always_inline bool aw_policy_load_config(struct aw_match_state *m)
{
	__u32 zero = 0;
	struct aw_policy_config *cfg = bpf_map_lookup_elem(&policy_config, &zero);

	if (!cfg || !cfg->gen)
		return false;
	m->cfg = *cfg;
	m->gen = AW_POLICY_BANK(cfg->gen);
	return true;
}

/* The policy set of an agent slot in the active generation, 0 when it has none. */
static __always_inline __u32 aw_policy_set_of(__u32 gen, __u32 slot)
{
	struct aw_policy_slot_key key = {.gen = gen, .slot = slot};
	__u32 *set = bpf_map_lookup_elem(&policy_of_slot, &key);

	return set ? *set : 0;
}

/*
 * Start a decision for an agent slot: the scratch state with the active generation loaded, and
 * the slot's policy set in *set. NULL when no policy applies (the common, cheap case).
 */
static __always_inline struct aw_match_state *aw_policy_begin(__u32 slot, __u32 *set)
{
	struct aw_match_state *m = aw_match_state();

	if (!m || !aw_policy_load_config(m))
		return NULL;
	*set = aw_policy_set_of(m->gen, slot);
	return *set ? m : NULL;
}

static __always_inline struct aw_policy_defaults *aw_policy_defaults_of(__u32 gen, __u32 set)
{
	struct aw_policy_set_key key = {.gen = gen, .set = set};

	return bpf_map_lookup_elem(&policy_defaults, &key);
}

/* --- hashing pass: one component (or one '/') per call, bytes bounded by 256 -------------- */

static long aw_hash_component(__u32 i, void *ctx)
{
	struct aw_match_state *m = aw_match_state();
	struct aw_path_buf *buf = aw_path_buf();
	__u32 pos, j, k;

	if (!m || !buf)
		return 1;
	pos = m->pos;
	for (j = 0; j < 256; j++) {
		char c;

		if (pos >= AW_PATH_SCRATCH)
			break;
		c = buf->data[pos & (AW_PATH_SCRATCH - 1)];
		if (c == '/') {
			if (j > 0)
				break; /* the next call starts at this '/' */
			if (pos == m->cap_pos)
				m->cap_h = m->h;
			if (m->ndirs < AW_PATH_DEPTH + 1)
				m->dirs[m->ndirs & 63] = m->h;
			m->ndirs++;
			m->name_h = AW_FNV_OFFSET;
			m->name_len = 0;
			m->name_start = pos + 1;
		} else {
			m->name_h = aw_fnv1a_step(m->name_h, c);
			m->name_len++;
			for (k = 0; k < AW_NAME_LENS; k++)
				if (k < m->cfg.n_prefix_lens &&
				    m->name_len == m->cfg.prefix_lens[k])
					m->pre[k] = m->name_h;
		}
		m->h = aw_fnv1a_step(m->h, c);
		pos++;
	}
	m->pos = pos;
	return pos >= AW_PATH_SCRATCH ? 1 : 0;
}

/* Hash of the last `len` bytes of the basename (len <= 255). */
static __always_inline __u64 aw_name_suffix_hash(struct aw_match_state *m, struct aw_path_buf *buf,
						 __u32 len)
{
	__u64 h = AW_FNV_OFFSET;
	__u32 j, start = AW_PATH_SCRATCH - len;

	for (j = 0; j < 255; j++) {
		if (j >= len)
			break;
		h = aw_fnv1a_step(h, buf->data[(start + j) & (AW_PATH_SCRATCH - 1)]);
	}
	return h;
}

/*
 * Hash the path at [off, AW_PATH_SCRATCH) of the path buffer into m; with an anchor, as the
 * continuation of the anchor directory's canonical name (policy.h, "Anchors").
 */
static __always_inline int aw_policy_hash_path(struct aw_match_state *m, __u32 off,
					       const struct aw_file_anchor *a)
{
	struct aw_path_buf *buf = aw_path_buf();
	__u32 k;

	if (!buf)
		return -1;
	m->pos = off;
	m->ndirs = 0;
	m->h = AW_FNV_OFFSET;
	if (a) {
		m->h = a->h;
		m->ndirs = a->ndirs;
		for (k = 0; k < AW_POLICY_LEVELS; k++)
			m->dirs[k] = a->dirs[k];
	}
	m->name_h = AW_FNV_OFFSET;
	m->name_len = 0;
	m->name_start = off;
	for (k = 0; k < AW_NAME_LENS; k++) {
		m->pre[k] = 0;
		m->suf[k] = 0;
	}
	bpf_loop(AW_PATH_DEPTH + 2, aw_hash_component, NULL, 0);
	for (k = 0; k < AW_NAME_LENS; k++) {
		__u32 len = m->cfg.suffix_lens[k];

		if (k >= m->cfg.n_suffix_lens || len == 0 || len > m->name_len)
			continue;
		m->suf[k] = aw_name_suffix_hash(m, buf, len);
	}
	/* A prefix length the basename does not reach must not match. */
	for (k = 0; k < AW_NAME_LENS; k++)
		if (k < m->cfg.n_prefix_lens && m->name_len < m->cfg.prefix_lens[k])
			m->pre[k] = 0;
	return 0;
}

/*
 * Strength of a deciding reference: an enforced DENY > a DENY of an audit-mode policy (would
 * block) > AUDIT. Among equals the lowest rule_id (the rule written first) decides, so the
 * kernel and the reference matcher name the same rule.
 */
static __always_inline __u32 aw_strength(__u32 action, __u32 audit_mode)
{
	if (action == AW_ACT_DENY)
		return audit_mode ? 3 : 4;
	return action == AW_ACT_AUDIT ? 2 : 0;
}

static __always_inline bool aw_ref_beats(__u32 action, __u32 audit_mode, __u32 rule_id,
					 __u32 cur_action, __u32 cur_audit_mode, __u32 cur_rule_id)
{
	__u32 a = aw_strength(action, audit_mode), b = aw_strength(cur_action, cur_audit_mode);

	return a > b || (a == b && a && rule_id < cur_rule_id);
}

/* --- collecting rule references ------------------------------------------------------------ */

static __always_inline void aw_collect(struct aw_match_state *m, const struct aw_rule_val *val)
{
	int r;

	if (!val)
		return;
	for (r = 0; r < AW_RULE_REFS; r++) {
		const struct aw_rule_ref *ref = &val->refs[r];
		__u32 n = m->nrefs;

		if (!ref->rule_id || !(ref->access & m->access))
			continue;
		if (n >= AW_MATCH_REFS) {
			m->overflow = 1;
			return;
		}
		m->refs[n & (AW_MATCH_REFS - 1)] = *ref;
		m->nrefs = n + 1;
	}
}

static __always_inline void aw_lookup_file(struct aw_match_state *m, __u32 kind, __u64 hash)
{
	struct aw_file_key key = {.gen = m->gen, .set = m->set, .kind = kind, .hash = hash};

	aw_collect(m, bpf_map_lookup_elem(&file_rules, &key));
}

/* Lookups for one ancestor directory: SUBTREE, UNDER_NAME, UNDER_PREFIX/SUFFIX per length. */
static long aw_lookup_level(__u32 d, void *ctx)
{
	struct aw_match_state *m = aw_match_state();
	__u64 dir;
	__u32 k;

	if (!m || d >= m->ndirs || d > AW_PATH_DEPTH)
		return 1;
	dir = m->dirs[d & 63];
	aw_lookup_file(m, AW_FK_SUBTREE, dir);
	aw_lookup_file(m, AW_FK_UNDER_NAME, aw_hash_mix(dir, 0, m->name_h));
	for (k = 0; k < AW_NAME_LENS; k++) {
		if (k < m->cfg.n_prefix_lens && m->pre[k])
			aw_lookup_file(m, AW_FK_UNDER_PREFIX,
				       aw_hash_mix(dir, m->cfg.prefix_lens[k], m->pre[k]));
		if (k < m->cfg.n_suffix_lens && m->suf[k])
			aw_lookup_file(m, AW_FK_UNDER_SUFFIX,
				       aw_hash_mix(dir, m->cfg.suffix_lens[k], m->suf[k]));
	}
	return 0;
}

/* --- name globs: '*', '?', '[...]' over the basename, one step per call -------------------- */

/* One element of a '[...]' class per call (state in m->cls_*), so its loop is verified once. */
static long aw_class_step(__u32 i, void *ctx)
{
	struct aw_match_state *m = aw_match_state();
	__u32 q;
	char lo, hi;

	if (!m)
		return 1;
	q = m->cls_q;
	if (q >= AW_NAME_GLOB_MAX)
		goto unterminated;
	lo = m->glob[q & 63];
	if (!lo)
		goto unterminated;
	if (lo == ']' && !m->cls_first) {
		m->cls_q = q + 1; /* just past ']' */
		m->cls_done = 1;
		return 1;
	}
	m->cls_first = 0;
	if (lo == '\\' && q + 1 < AW_NAME_GLOB_MAX) {
		q++;
		lo = m->glob[q & 63];
	}
	hi = lo;
	if (q + 2 < AW_NAME_GLOB_MAX && m->glob[(q + 1) & 63] == '-' &&
	    m->glob[(q + 2) & 63] != ']' && m->glob[(q + 2) & 63]) {
		hi = m->glob[(q + 2) & 63];
		q += 2;
	}
	if (m->cls_c >= lo && m->cls_c <= hi)
		m->cls_hit = 1;
	m->cls_q = q + 1;
	return 0;
unterminated: /* the compiler never emits one; treat it as no match */
	m->cls_done = 0;
	return 1;
}

/* Does the class at m->glob[p] ('[' ...) match c? Sets *next to the index after ']'. */
static __always_inline bool aw_class_match(struct aw_match_state *m, __u32 p, char c, __u32 *next)
{
	__u32 q = p + 1;

	m->cls_neg = 0;
	if (q < AW_NAME_GLOB_MAX && (m->glob[q & 63] == '!' || m->glob[q & 63] == '^')) {
		m->cls_neg = 1;
		q++;
	}
	m->cls_q = q;
	m->cls_c = c;
	m->cls_hit = 0;
	m->cls_done = 0;
	m->cls_first = 1;
	bpf_loop(AW_NAME_GLOB_MAX, aw_class_step, NULL, 0);
	if (!m->cls_done)
		return false;
	*next = m->cls_q;
	return m->cls_hit != m->cls_neg;
}

static long aw_glob_step(__u32 i, void *ctx)
{
	struct aw_match_state *m = aw_match_state();
	struct aw_path_buf *buf = aw_path_buf();
	__u32 p, s, next = 0;
	char pc, c;

	if (!m || !buf)
		return 1;
	p = m->gp;
	s = m->gs;
	if (s >= m->name_len) {
		/* Name consumed: the rest of the glob must be all '*'. A constant-indexed loop, so
		 * the compiler cannot turn the index into a pointer the verifier cannot bound. */
		__u32 j, idx;

		m->matched = 1;
		for (j = 0; j < AW_NAME_GLOB_MAX; j++) {
			char gc;

			idx = p + j;
			if (idx >= AW_NAME_GLOB_MAX)
				break;
			idx &= 63;
			barrier_var(idx); /* keep the mask: no pointer the verifier cannot bound */
			gc = m->glob[idx];
			if (!gc)
				break;
			if (gc != '*') {
				m->matched = 0;
				break;
			}
		}
		return 1;
	}
	c = buf->data[(m->name_start + s) & (AW_PATH_SCRATCH - 1)];
	pc = p < AW_NAME_GLOB_MAX ? m->glob[p & 63] : 0;
	if (pc == '*') {
		m->gstar = p;
		m->gmark = s;
		m->gp = p + 1;
		return 0;
	}
	if (pc == '?' || (pc == '[' && aw_class_match(m, p, c, &next)) ||
	    (pc == '\\' && p + 1 < AW_NAME_GLOB_MAX && m->glob[(p + 1) & 63] == c) ||
	    (pc && pc != '[' && pc != '\\' && pc != '?' && pc == c)) {
		if (pc == '[')
			m->gp = next;
		else if (pc == '\\')
			m->gp = p + 2;
		else
			m->gp = p + 1;
		m->gs = s + 1;
		return 0;
	}
	if (m->gstar != (__u32)-1) {
		m->gp = m->gstar + 1;
		m->gmark++;
		m->gs = m->gmark;
		return 0;
	}
	m->matched = 0;
	return 1;
}

static __always_inline bool aw_glob_match_name(struct aw_match_state *m)
{
	m->gp = 0;
	m->gs = 0;
	m->gstar = (__u32)-1;
	m->gmark = 0;
	m->matched = 0;
	bpf_loop((AW_NAME_GLOB_MAX + 1) * 256, aw_glob_step, NULL, 0);
	return m->matched;
}

static __always_inline void aw_lookup_child_globs(struct aw_match_state *m, __u64 parent)
{
	struct aw_file_key key = {
		.gen = m->gen, .set = m->set, .kind = AW_FK_CHILD_GLOB, .hash = parent};
	struct aw_rule_val *val = bpf_map_lookup_elem(&file_rules, &key);
	struct aw_glob_key gkey = {.gen = m->gen};
	struct aw_name_glob *glob;
	int g;

	if (!val)
		return;
	for (g = 0; g < AW_NAME_GLOBS; g++) {
		if (!val->globs[g])
			break;
		gkey.index = val->globs[g] - 1;
		glob = bpf_map_lookup_elem(&name_globs, &gkey);
		if (!glob)
			continue;
		__builtin_memcpy(m->glob, glob->glob, sizeof(m->glob));
		if (aw_glob_match_name(m)) {
			/* re-look-up: the glob map value may not outlive the loop's map calls */
			glob = bpf_map_lookup_elem(&name_globs, &gkey);
			if (glob)
				aw_collect(m, (const struct aw_rule_val *)glob->refs);
		}
	}
}

/* --- binary conditions ---------------------------------------------------------------------- */

/* H(path of the current task's executable), computed once per decision when a ref needs it. */
#ifdef AW_POLICY_TEST_EXE_HASH
/* bpf/policy_test.bpf.c: the query names the executable; the test runner is not the agent. */
static __always_inline __u64 aw_current_exe_hash(struct aw_match_state *m)
{
	return m->exe_hash;
}
#else
/* FNV-1a of 256 bytes of the executable's path buffer from m->xpos per call. */
static long aw_hash_chunk(__u32 i, void *ctx)
{
	struct aw_match_state *m = aw_match_state();
	struct aw_path_buf *buf = aw_exe_buf();
	__u32 pos, j;
	__u64 h;

	if (!m || !buf)
		return 1;
	pos = m->xpos;
	h = m->xhash;
	for (j = 0; j < 256; j++) {
		if (pos >= AW_PATH_SCRATCH)
			break;
		h = aw_fnv1a_step(h, buf->data[pos & (AW_PATH_SCRATCH - 1)]);
		pos++;
	}
	m->xpos = pos;
	m->xhash = h;
	return pos >= AW_PATH_SCRATCH ? 1 : 0;
}

static __always_inline __u64 aw_current_exe_hash(struct aw_match_state *m)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	struct aw_path_buf *buf;
	struct path *path;
	bool truncated;

	buf = aw_exe_buf();
	if (!exe || !buf)
		return 0;
	path = aw_file_path(exe);
	m->xpos = aw_path_resolve_into(BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt), buf,
				       AW_PATH_BUF_EXE, &truncated);
	m->xhash = AW_FNV_OFFSET;
	bpf_loop(AW_PATH_SCRATCH / 256, aw_hash_chunk, NULL, 0);
	return m->xhash;
}
#endif

/*
 * Rule rule_id's verdict in bank `gen` (policy.h, "Verdicts"): an array lookup the verifier
 * inlines. NULL for an id out of range; {0} for an id the bank has no rule for. Either fails
 * closed at the caller.
 */
static __always_inline const struct aw_rule_verdict *aw_rule_verdict_of(__u32 gen, __u32 rule_id)
{
	__u32 idx;

	if (rule_id >= AW_RULES_MAX || gen > 1)
		return NULL;
	idx = gen * AW_RULES_MAX + rule_id;
	return bpf_map_lookup_elem(&rule_verdicts, &idx);
}

static __always_inline bool aw_in_binset(__u32 gen, __u8 binset, __u64 exe_hash)
{
	struct aw_binset_key key = {.gen = gen, .binset = binset, .hash = exe_hash};

	return bpf_map_lookup_elem(&binsets, &key) != NULL;
}

/* One collected reference per call: is it cancelled, does its binary condition hold, is its
 * rule's verdict stronger than what we have? The verifier sees this body once. */
static long aw_decide_ref(__u32 i, void *ctx)
{
	struct aw_match_state *m = aw_match_state();
	const struct aw_rule_verdict *v;
	struct aw_rule_ref ref;
	__u32 j, action, audit_mode;

	if (!m || i >= m->nrefs || i >= AW_MATCH_REFS)
		return 1;
	ref = m->refs[i & (AW_MATCH_REFS - 1)];
	if (ref.flags & AW_REF_EXCEPT)
		return 0;
	for (j = 0; j < AW_MATCH_REFS && !(ref.flags & AW_REF_IDENTITY); j++) {
		if (j >= m->nrefs)
			break;
		if ((m->refs[j].flags & AW_REF_EXCEPT) && m->refs[j].rule_id == ref.rule_id)
			return 0; /* cancelled by an except: pattern (of a name, not of an inode) */
	}
	if (ref.binset && (ref.flags & (AW_REF_BIN_ONLY | AW_REF_BIN_EXCEPT))) {
		bool in;

		if (!m->have_exe) {
			m->exe_hash = aw_current_exe_hash(m);
			m->have_exe = 1;
		}
		in = aw_in_binset(m->gen, ref.binset, m->exe_hash);
		if ((ref.flags & AW_REF_BIN_ONLY) ? !in : in)
			return 0;
	}
	v = aw_rule_verdict_of(m->gen, ref.rule_id);
	if (!v || !v->action) {
		m->overflow = 1; /* no verdict (impossible by construction): fail closed */
		return 0;
	}
	action = v->action;
	audit_mode = !!(v->flags & AW_REF_AUDIT_MODE);
	if (action == AW_ACT_ALLOW) {
		m->any_allow = 1;
		return 0;
	}
	if (aw_ref_beats(action, audit_mode, ref.rule_id, m->d_action, m->d_audit_mode,
			 m->d_rule_id)) {
		m->d_action = action;
		m->d_rule_id = ref.rule_id;
		m->d_audit_mode = audit_mode;
	}
	return 0;
}

/*
 * Decide from the collected references (policy.h, "Deciding"). `default_action` applies when
 * nothing but EXCEPT references matched. A reference table overflow, or an applicable
 * reference without a verdict, fails closed.
 */
static __always_inline void aw_decide(struct aw_match_state *m, __u8 default_action,
				      struct aw_decision *d)
{
	m->d_action = AW_ACT_NONE;
	m->d_audit_mode = 0;
	m->d_rule_id = 0;
	m->any_allow = 0;
	bpf_loop(AW_MATCH_REFS, aw_decide_ref, NULL, 0);
	d->action = m->d_action;
	d->rule_id = m->d_rule_id;
	d->audit_mode = m->d_audit_mode;
	if (m->overflow && d->action != AW_ACT_DENY) {
		d->action = AW_ACT_DENY;
		d->rule_id = AW_RULE_DEFAULT;
		d->audit_mode = 0; /* failing closed is never "would block" */
	}
	if (d->action == AW_ACT_NONE) {
		if (m->any_allow) {
			d->action = AW_ACT_ALLOW;
		} else {
			d->action = default_action ? default_action : AW_ACT_ALLOW;
			d->rule_id = d->action == AW_ACT_ALLOW ? 0 : AW_RULE_DEFAULT;
		}
	}
}

/*
 * Decide access `access` to the path at [off, AW_PATH_SCRATCH) of the path buffer (and, when
 * known, to inode (dev, ino)) for policy set `set`; with an anchor `a`, to its canonical name
 * continued by the rest at [off, AW_PATH_SCRATCH) (the inode was looked up by the first pass).
 * Returns false when no policy applies.
 */
static __always_inline bool aw_policy_decide_path(struct aw_match_state *m, __u32 set, __u32 off,
						  __u32 access, __u32 dev, __u64 ino, __u8 list,
						  const struct aw_file_anchor *a,
						  struct aw_decision *d)
{
	struct aw_policy_defaults *defs;
	struct aw_inode_key ikey = {};
	__u64 parent;
	__u32 k;

	m->set = set;
	m->access = access;
	m->nrefs = 0;
	m->overflow = 0;
	if (aw_policy_hash_path(m, off, a))
		return false;

	if (ino && !a) {
		ikey.gen = m->gen;
		ikey.set = set;
		ikey.ino = ino;
		ikey.dev = dev;
		aw_collect(m, bpf_map_lookup_elem(&file_inodes, &ikey));
	}
	aw_lookup_file(m, AW_FK_EXACT, m->h);
	bpf_loop(AW_PATH_DEPTH + 1, aw_lookup_level, NULL, 0);
	if (m->ndirs > 0 && m->ndirs <= AW_PATH_DEPTH + 1) {
		parent = m->dirs[(m->ndirs - 1) & 63];
		aw_lookup_file(m, AW_FK_CHILD_ANY, parent);
		for (k = 0; k < AW_NAME_LENS; k++) {
			if (k < m->cfg.n_prefix_lens && m->pre[k])
				aw_lookup_file(m, AW_FK_CHILD_PREFIX,
					       aw_hash_mix(parent, m->cfg.prefix_lens[k],
							   m->pre[k]));
			if (k < m->cfg.n_suffix_lens && m->suf[k])
				aw_lookup_file(m, AW_FK_CHILD_SUFFIX,
					       aw_hash_mix(parent, m->cfg.suffix_lens[k],
							   m->suf[k]));
		}
		aw_lookup_child_globs(m, parent);
	}

	defs = aw_policy_defaults_of(m->gen, set);
	aw_decide(m, defs ? (list == AW_LIST_EXEC ? defs->exec : defs->files) : AW_ACT_ALLOW, d);
	if (d->rule_id == AW_RULE_DEFAULT && defs && (defs->flags & AW_DEF_AUDIT_MODE))
		d->audit_mode = 1;
	return true;
}

/*
 * Decide an egress to `addr` (16 bytes; IPv4 in the ::ffff:a.b.c.d form), `port` (host order,
 * or AW_PORT_ANY for a raw socket), protocol bit AW_PROTO_TCP or AW_PROTO_UDP.
 */
static __always_inline void aw_policy_decide_net(struct aw_match_state *m, __u32 set,
						 const __u8 *addr, __u32 port, __u8 proto,
						 struct aw_decision *d)
{
	struct aw_net_key key = {.prefixlen = 64 + 128, .gen = m->gen, .set = set};
	struct aw_policy_defaults *defs;
	const struct aw_rule_verdict *v;
	struct aw_net_val *val;
	bool any_allow = false, no_verdict = false;
	int i;

	__builtin_memcpy(key.addr, addr, 16);
	d->action = AW_ACT_NONE;
	d->audit_mode = 0;
	d->rule_id = 0;
	val = bpf_map_lookup_elem(&net_rules, &key);
	for (i = 0; val && i < AW_NET_REFS; i++) {
		struct aw_net_ref ref = val->refs[i];

		__u8 action, audit_mode;

		if (!ref.rule_id)
			break;
		v = aw_rule_verdict_of(m->gen, ref.rule_id);
		if (!v || !v->action) {
			no_verdict = true; /* impossible by construction: fail closed below */
			continue;
		}
		action = v->action;
		audit_mode = !!(v->flags & AW_REF_AUDIT_MODE);
		if (!aw_net_ref_applies(&ref, action, port, proto))
			continue;
		if (action == AW_ACT_ALLOW) {
			any_allow = true;
			continue;
		}
		if (aw_ref_beats(action, audit_mode, ref.rule_id, d->action, d->audit_mode,
				 d->rule_id)) {
			d->action = action;
			d->rule_id = ref.rule_id;
			d->audit_mode = audit_mode;
		}
	}
	if (no_verdict && d->action != AW_ACT_DENY) {
		d->action = AW_ACT_DENY;
		d->rule_id = AW_RULE_DEFAULT;
		d->audit_mode = 0;
	}
	if (d->action != AW_ACT_NONE)
		return;
	if (any_allow) {
		d->action = AW_ACT_ALLOW;
		return;
	}
	defs = aw_policy_defaults_of(m->gen, set);
	d->action = defs && defs->network ? defs->network : AW_ACT_ALLOW;
	d->rule_id = d->action == AW_ACT_ALLOW ? 0 : AW_RULE_DEFAULT;
	if (d->rule_id == AW_RULE_DEFAULT && defs && (defs->flags & AW_DEF_AUDIT_MODE))
		d->audit_mode = 1;
}

/*
 * The two entry points the hooks call. They are global functions, so the verifier checks each
 * once per program instead of once per call site. A BPF function takes at most five arguments,
 * so the query rides in the per-CPU match state (aw_policy_query_path/_net fill it) and so does
 * the decision (aw_match_result). Each returns 1 when a policy decided, 0 when none applies.
 */
/*
 * One pass of a path decision into m->p_*: on the walked path (canonical 0), or on the canonical
 * name of the anchor the walk hit (canonical 1; 0 when there is none, or when the walked path
 * already spells it). Returns 1 when it decided.
 */
__noinline int aw_policy_path_pass(__u32 set, __u32 canonical)
{
	struct aw_match_state *m = aw_match_state();
	const struct aw_file_anchor *a = NULL;
	struct aw_decision d;
	__u32 off;

	if (!m)
		return 0;
	off = m->q_off;
	m->cap_pos = m->q_anchor ? m->q_anchor_off : (__u32)-1;
	if (canonical) {
		struct aw_inode_key key = {
			.gen = m->gen, .set = set, .ino = m->q_anchor_ino, .dev = m->q_anchor_dev};

		if (!m->q_anchor)
			return 0;
		a = bpf_map_lookup_elem(&file_anchors, &key);
		if (!a || a->h == m->cap_h)
			return 0;
		off = m->q_anchor_off;
		m->cap_pos = (__u32)-1;
	}
	if (off > AW_PATH_SCRATCH)
		return 0;
	if (!aw_policy_decide_path(m, set, off, m->q_access, m->q_dev, m->q_ino, m->q_list, a, &d))
		return 0;
	m->p_action = d.action;
	m->p_audit_mode = d.audit_mode;
	m->p_rule_id = d.rule_id;
	return 1;
}

/* Inlined into each caller: one more global function frame would not fit the stack. */
static __always_inline int aw_policy_path(__u32 slot)
{
	struct aw_match_state *m = aw_match_state();
	__u32 set;

	if (!m)
		return 0;
	m = aw_policy_begin(slot, &set);
	if (!m)
		return 0;
	m->have_exe = 0; /* the executable's hash serves both passes */
	m->cap_h = 0;
	if (!aw_policy_path_pass(set, 0))
		return 0;
	m->r_action = m->p_action;
	m->r_audit_mode = m->p_audit_mode;
	m->r_rule_id = m->p_rule_id;
	m->r_set = set;
	/* The stronger of the two names' decisions (policy.h, "Anchors"). */
	if (aw_policy_path_pass(set, 1) &&
	    aw_ref_beats(m->p_action, m->p_audit_mode, m->p_rule_id, m->r_action, m->r_audit_mode,
			 m->r_rule_id)) {
		m->r_action = m->p_action;
		m->r_audit_mode = m->p_audit_mode;
		m->r_rule_id = m->p_rule_id;
	}
	return 1;
}

__noinline int aw_policy_net(__u32 slot, __u32 port, __u32 proto)
{
	struct aw_match_state *m;
	struct aw_decision d;
	__u32 set;

	m = aw_policy_begin(slot, &set);
	if (!m)
		return 0;
	aw_policy_decide_net(m, set, (const __u8 *)m->q_addr, port, proto, &d);
	m->r_action = d.action;
	m->r_audit_mode = d.audit_mode;
	m->r_rule_id = d.rule_id;
	m->r_set = set;
	return 1;
}

/*
 * Decide the path at `off`. The anchor fields (m->q_anchor*) come from the walk
 * (aw_path_resolve_anchored) or the test query, set by the caller just before.
 */
static __always_inline int aw_policy_query_path(__u32 slot, __u32 off, __u32 access, __u32 dev,
						__u64 ino, __u32 list)
{
	struct aw_match_state *m = aw_match_state();

	if (!m)
		return 0;
	m->q_off = off;
	m->q_access = access;
	m->q_dev = dev;
	m->q_ino = ino;
	m->q_list = list;
	if (m->q_anchor_off > AW_PATH_SCRATCH)
		m->q_anchor = 0;
	return aw_policy_path(slot);
}

/*
 * One step of a path walk that also looks up each proper ancestor's inode in file_anchors
 * ({m->gen, m->set}) and keeps the first hit in m->q_anchor*.
 */
static long aw_anchor_step(__u32 i, void *ctx)
{
	struct aw_path_walk *w = ctx;
	struct aw_match_state *m = aw_match_state();
	struct dentry *dentry = w->dentry;
	struct inode *inode;

	/* off below the end: a component was written, so this dentry is an ancestor */
	if (m && !m->q_anchor && w->off < AW_PATH_SCRATCH) {
		inode = BPF_CORE_READ(dentry, d_inode);
		if (inode) {
			struct aw_inode_key key = {.gen = m->gen, .set = m->set};

			key.ino = BPF_CORE_READ(inode, i_ino);
			key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
			if (bpf_map_lookup_elem(&file_anchors, &key)) {
				m->q_anchor = 1;
				m->q_anchor_off = w->off;
				m->q_anchor_dev = key.dev;
				m->q_anchor_ino = key.ino;
			}
		}
	}
	return aw_path_step(i, w);
}

/*
 * aw_path_resolve_dm() for a decision of policy set `set` (m from aw_policy_begin): the same
 * path, and in m->q_anchor* the deepest ancestor directory with a file_anchors entry. One
 * lookup per level.
 */
static __always_inline __u32 aw_path_resolve_anchored(struct aw_match_state *m,
						      struct dentry *dentry,
						      struct vfsmount *vfsmnt,
						      struct aw_path_buf *buf, __u32 set,
						      bool *truncated)
{
	struct aw_path_walk w;

	m->set = set;
	m->q_anchor = 0;
	m->q_anchor_off = 0;
	m->q_anchor_dev = 0;
	m->q_anchor_ino = 0;
	aw_path_walk_init(&w, dentry, vfsmnt, AW_PATH_BUF_FILE);
	bpf_loop(AW_PATH_DEPTH, aw_anchor_step, &w, 0);
	return aw_path_walk_finish(&w, buf, truncated);
}

/* addr: the destination, 16 bytes, IPv4 in the ::ffff:a.b.c.d form. */
static __always_inline int aw_policy_query_net(__u32 slot, const __u32 addr[4], __u32 port,
					       __u32 proto)
{
	struct aw_match_state *m = aw_match_state();

	if (!m)
		return 0;
	m->q_addr[0] = addr[0];
	m->q_addr[1] = addr[1];
	m->q_addr[2] = addr[2];
	m->q_addr[3] = addr[3];
	return aw_policy_net(slot, port, proto);
}

/* The decision the last aw_policy_path/aw_policy_net call left behind. */
static __always_inline struct aw_match_state *aw_match_result(void)
{
	return aw_match_state();
}

#endif /* AGENTWATCH_POLICY_MATCH_BPF_H */
