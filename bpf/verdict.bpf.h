/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Verdicts: what the policy (policy_match.bpf.h) says about one operation of one agent, turned
 * into what the hook does. A hook that can refuse (LSM, cgroup) refuses; one that cannot
 * (a tracepoint after the fact) reports "would block", or sends SIGKILL where the policy asked
 * for that fallback (AW_DEF_FALLBACK_KILL), which cannot undo the syscall.
 */
#ifndef AGENTWATCH_VERDICT_BPF_H
#define AGENTWATCH_VERDICT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <agentwatch/agent.h>
#include <agentwatch/event.h>
#include "core_fixes.bpf.h"
#include "policy_match.bpf.h"

/* What the policy said about one operation, and where its path was resolved. */
struct aw_verdict {
	__u32 evflags; /* AW_EVF_DENIED, AW_EVF_AUDIT, AW_EVF_KILLED */
	__u32 rule_id;
	__u32 off;     /* the path is at [off, AW_PATH_SCRATCH) of the path buffer ... */
	bool resolved; /* ... when this is set */
	bool truncated;
	bool deny; /* refuse the operation (only where the hook can) */
};

/*
 * Resolve (dentry, mnt) and decide `access` for the agent's policy. `can_deny`: this hook can
 * refuse; otherwise a deny becomes "would block" or, where the policy asks, SIGKILL.
 * `default_applies`: the list's default posture decides too (not for mmap, so an exec
 * allow-list does not refuse every shared library).
 */
static __always_inline void aw_verdict_path(struct aw_agent *agent, struct dentry *dentry,
					    struct vfsmount *mnt, __u32 access, __u32 dev,
					    __u64 ino, __u8 list, bool can_deny,
					    bool default_applies, struct aw_verdict *v)
{
	struct aw_policy_defaults *defs;
	struct aw_match_state *m;
	struct aw_path_buf *buf;
	__u32 set;

	v->evflags = 0;
	v->rule_id = 0;
	v->off = AW_PATH_SCRATCH;
	v->resolved = false;
	v->truncated = false;
	v->deny = false;
	/* Cheap first: no policy for this agent, no path walk. */
	m = aw_policy_begin(agent->slot, &set);
	buf = aw_path_buf();
	if (!m || !buf)
		return;
	v->off = aw_path_resolve_anchored(m, dentry, mnt, buf, set, &v->truncated);
	v->resolved = true;
	if (!aw_policy_query_path(agent->slot, v->off, access, dev, ino, list))
		return;
	m = aw_match_result();
	if (!m)
		return;
	if (!default_applies && m->r_rule_id == AW_RULE_DEFAULT)
		return;
	if (m->r_action == AW_ACT_ALLOW || m->r_action == AW_ACT_NONE)
		return;
	v->rule_id = m->r_rule_id;
	if (m->r_action == AW_ACT_AUDIT)
		return;
	/* A deny. */
	if (m->r_audit_mode) {
		v->evflags = AW_EVF_AUDIT;
	} else if (can_deny) {
		v->evflags = AW_EVF_DENIED;
		v->deny = true;
	} else {
		defs = aw_policy_defaults_of(m->gen, m->r_set);
		if (defs && (defs->flags & AW_DEF_FALLBACK_KILL)) {
			bpf_send_signal(9);
			v->evflags = AW_EVF_KILLED;
		} else {
			v->evflags = AW_EVF_AUDIT;
		}
	}
}

/* Remember files the agent wrote, so exec of them can be refused (AW_DEF_DENY_AGENT_WRITTEN_EXEC). */
static __always_inline void aw_track_written(struct aw_agent *agent, struct file *file,
					     __u32 access)
{
	struct aw_written_key key;
	__u8 one = 1;

	if (!(access & (AW_ACC_WRITE | AW_ACC_CREATE)))
		return;
	key.slot = agent->slot;
	key.dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	key.ino = BPF_CORE_READ(file, f_inode, i_ino);
	bpf_map_update_elem(&agent_written, &key, &one, BPF_ANY);
}

static __always_inline void aw_file_verdict(struct aw_agent *agent, struct file *file, __u32 access,
					    bool can_deny, struct aw_verdict *v)
{
	struct path *path = aw_file_path(file);

	aw_verdict_path(agent, BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt), access,
			BPF_CORE_READ(file, f_inode, i_sb, s_dev),
			BPF_CORE_READ(file, f_inode, i_ino), AW_LIST_FILES, can_deny, true, v);
}

/* Set when a policy may apply: the cgroup socket hooks decide egress. */
const volatile bool net_verdicts;

/*
 * Built-in exec protections a policy turns on: files the agent itself wrote (a copied or
 * renamed binary is refused even though its name matches nothing), and files without a name
 * (memfd, O_TMPFILE, deleted: i_nlink == 0).
 */
static __always_inline void aw_exec_protections(struct aw_agent *agent, struct file *file,
						bool can_deny, struct aw_verdict *v)
{
	struct aw_policy_defaults *defs;
	struct aw_written_key key;
	struct aw_match_state *m;
	__u32 set, rule = 0;

	m = aw_policy_begin(agent->slot, &set);
	if (!m)
		return;
	defs = aw_policy_defaults_of(m->gen, set);
	if (!defs)
		return;
	if ((defs->flags & AW_DEF_DENY_MEMFD_EXEC) && BPF_CORE_READ(file, f_inode, __i_nlink) == 0)
		rule = AW_RULE_MEMFD;
	key.slot = agent->slot;
	key.dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	key.ino = BPF_CORE_READ(file, f_inode, i_ino);
	if (!rule && (defs->flags & AW_DEF_DENY_AGENT_WRITTEN_EXEC) &&
	    bpf_map_lookup_elem(&agent_written, &key))
		rule = AW_RULE_AGENT_WRITTEN;
	if (!rule)
		return;
	/* The protections decide before path rules do, unless that would weaken a deny. */
	if ((defs->flags & AW_DEF_AUDIT_MODE) && (v->evflags & (AW_EVF_DENIED | AW_EVF_KILLED)))
		return;
	v->rule_id = rule;
	if (defs->flags & AW_DEF_AUDIT_MODE) {
		v->evflags = AW_EVF_AUDIT;
	} else if (can_deny) {
		v->evflags = AW_EVF_DENIED;
		v->deny = true;
	} else if (defs->flags & AW_DEF_FALLBACK_KILL) {
		bpf_send_signal(9);
		v->evflags = AW_EVF_KILLED;
	} else {
		v->evflags = AW_EVF_AUDIT;
	}
}

static __always_inline void aw_exec_verdict(struct aw_agent *agent, struct file *file,
					    bool can_deny, bool default_applies,
					    struct aw_verdict *v)
{
	struct path *path = aw_file_path(file);

	aw_verdict_path(agent, BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt), AW_ACC_EXEC,
			BPF_CORE_READ(file, f_inode, i_sb, s_dev),
			BPF_CORE_READ(file, f_inode, i_ino), AW_LIST_EXEC, can_deny,
			default_applies, v);
	aw_exec_protections(agent, file, can_deny, v);
}

#endif /* AGENTWATCH_VERDICT_BPF_H */
