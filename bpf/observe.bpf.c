// SPDX-License-Identifier: GPL-2.0
/*
 * Observation of watched agents: exec/fork/exit, file opens and network egress, one ring-buffer
 * record each (include/agentwatch/event.h). Every program first asks which agent the current
 * task belongs to (agent.bpf.h); an unwatched task costs that lookup and nothing more.
 *
 * File opens come from the syscall exit tracepoints, resolved from the struct file the returned
 * fd points to (never from the user's path string), or, where BPF-LSM works, from lsm/file_open;
 * the loader enables one source, never both.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <agentwatch/syscall.h>
#include "agent.bpf.h"
#include "core_fixes.bpf.h"
#include "emit.bpf.h"
#include "lsm.bpf.h"
#include "policy_match.bpf.h"
#include "verdict.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define AW_AF_INET	2
#define AW_AF_INET6	10
#define AW_AF_PACKET	17
#define AW_SOCK_RAW	3 /* enum sock_type */
#define AW_IPPROTO_RAW	255
#define AW_SOL_IP	0
#define AW_IP_HDRINCL	3
#define AW_SOL_IPV6	41
#define AW_IPV6_HDRINCL 36

/* --- process lifecycle ------------------------------------------------------------------- */

/*
 * Programs that may decide come in two variants, chosen at load time: one that only observes,
 * and one with the policy code (the verifier checks every global function a program holds,
 * reachable or not, so observation alone must not carry the matcher).
 */
static __always_inline int aw_on_exec(struct task_struct *task, struct linux_binprm *bprm,
				      bool decide)
{
	struct aw_agent *agent = aw_agent_of_current();
	struct aw_exec_ids ids = {}, *parent_ids;
	struct aw_exec_event *e;
	struct aw_event_buf *ev;
	struct mm_struct *mm;
	__u32 size = sizeof(*e), ppid, tgid = task->tgid;
	unsigned long args_start, args_end;

	if (!agent)
		return 0;
	AW_COUNT(agent->slot, execs);
	ev = aw_event_scratch();
	if (!ev)
		return 0;
	e = (void *)ev->data;
	aw_fill_hdr(&e->hdr, AW_EV_EXEC);
	ppid = aw_task_ppid(task);
	parent_ids = bpf_map_lookup_elem(&exec_ids_by_tgid, &ppid);
	ids.exec_id = AW_EXEC_ID(e->hdr.ktime_ns, tgid);
	ids.parent_exec_id = parent_ids ? parent_ids->exec_id : 0;
	bpf_map_update_elem(&exec_ids_by_tgid, &tgid, &ids, BPF_ANY);

	aw_fill_task(&e->task, agent);
	e->task.ppid = ppid;
	e->parent_exec_id = ids.parent_exec_id;
	e->ino = BPF_CORE_READ(bprm, file, f_inode, i_ino);
	e->dev = BPF_CORE_READ(bprm, file, f_inode, i_sb, s_dev);
	e->argc = BPF_CORE_READ(bprm, argc);
	e->rule_id = 0;
	aw_append_path(ev, &size, &e->path, aw_file_path(BPF_CORE_READ(bprm, file)));

	mm = BPF_CORE_READ(task, mm);
	args_start = BPF_CORE_READ(mm, arg_start);
	args_end = BPF_CORE_READ(mm, arg_end);
	aw_append_user(ev, &size, &e->argv, (void *)args_start, args_end - args_start, AW_ARGV_MAX);
	aw_append_path(ev, &size, &e->cwd, &task->fs->pwd);
	if (decide) {
		/* No LSM to refuse it: the exec happened; report a deny, or kill as asked. */
		struct aw_verdict v;

		aw_exec_verdict(agent, BPF_CORE_READ(bprm, file), false, true, &v);
		e = (void *)ev->data;
		e->hdr.flags |= v.evflags;
		e->rule_id = v.rule_id;
	}
	aw_submit(ev, size);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tp_sched_process_exec, struct task_struct *task, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	return aw_on_exec(task, bprm, false);
}

/* Without BPF-LSM, with a policy: decide after the fact. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(tp_sched_process_exec_decide, struct task_struct *task, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	return aw_on_exec(task, bprm, true);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tp_sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	struct aw_agent *agent = aw_agent_of_current();
	struct aw_exec_ids *ids, child_ids;
	struct aw_fork_event *e;
	struct aw_event_buf *ev;
	__u32 child_tgid, parent_tgid;

	if (!agent)
		return 0;
	child_tgid = BPF_CORE_READ(child, tgid);
	parent_tgid = BPF_CORE_READ(parent, tgid);
	ev = aw_event_scratch();
	if (!ev)
		return 0;
	e = (void *)ev->data;
	aw_fill_hdr(&e->hdr, AW_EV_FORK);
	/* A new process gets its own id; a new thread shares its process's. */
	ids = bpf_map_lookup_elem(&exec_ids_by_tgid, &parent_tgid);
	if (child_tgid != parent_tgid) {
		AW_COUNT(agent->slot, forks);
		child_ids.exec_id = AW_EXEC_ID(e->hdr.ktime_ns, child_tgid);
		child_ids.parent_exec_id = ids ? ids->exec_id : 0;
		bpf_map_update_elem(&exec_ids_by_tgid, &child_tgid, &child_ids, BPF_ANY);
		ids = &child_ids;
	}
	aw_fill_task(&e->task, agent);
	e->task.pid = BPF_CORE_READ(child, pid);
	e->task.tgid = child_tgid;
	e->task.ppid = child_tgid == parent_tgid ? aw_task_ppid(parent) : parent_tgid;
	e->task.exec_id = ids ? ids->exec_id : 0;
	e->parent_pid = BPF_CORE_READ(parent, pid);
	e->parent_tgid = parent_tgid;
	e->clone_thread = child_tgid == parent_tgid;
	e->pad = 0;
	aw_submit(ev, sizeof(*e));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tp_sched_process_exit, struct task_struct *task)
{
	struct aw_agent *agent;
	struct aw_exit_event *e;
	struct aw_event_buf *ev;
	__u32 tgid;

	/* Only the last thread of a process reports its exit. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	agent = aw_agent_of_current();
	tgid = BPF_CORE_READ(task, tgid);
	if (!agent) {
		bpf_map_delete_elem(&exec_ids_by_tgid, &tgid);
		return 0;
	}
	AW_COUNT(agent->slot, exits);
	ev = aw_event_scratch();
	if (ev) {
		e = (void *)ev->data;
		aw_fill_hdr(&e->hdr, AW_EV_EXIT);
		aw_fill_task(&e->task, agent);
		e->task.ppid = aw_task_ppid(task);
		e->exit_code = BPF_CORE_READ(task, exit_code);
		e->pad = 0;
		aw_submit(ev, sizeof(*e));
	}
	bpf_map_delete_elem(&exec_ids_by_tgid, &tgid);
	return 0;
}

/* --- file opens ---------------------------------------------------------------------------- */

static __always_inline __u32 aw_access_of(struct file *file, __u32 open_flags)
{
	__u32 mode = BPF_CORE_READ(file, f_mode), access = 0;

	if (mode & AW_FMODE_READ)
		access |= AW_ACC_READ;
	if (mode & AW_FMODE_WRITE)
		access |= AW_ACC_WRITE;
	if (mode & AW_FMODE_CREATED)
		access |= AW_ACC_CREATE;
	if (open_flags & AW_O_TRUNC)
		access |= AW_ACC_TRUNC;
	return access;
}

static __always_inline void aw_emit_file(struct aw_agent *agent, struct file *file,
					 __u32 open_flags, __u32 access, __s32 ret, __u8 source,
					 const struct aw_verdict *v)
{
	struct aw_file_event *e;
	struct aw_event_buf *ev;
	__u32 size = sizeof(*e);

	ev = aw_event_scratch();
	if (!ev)
		return;
	e = (void *)ev->data;
	aw_fill_hdr(&e->hdr, AW_EV_FILE_OPEN);
	e->hdr.flags = v->evflags;
	aw_fill_task(&e->task, agent);
	e->task.ppid = aw_task_ppid((struct task_struct *)bpf_get_current_task_btf());
	e->ino = BPF_CORE_READ(file, f_inode, i_ino);
	e->dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	e->access = access;
	e->flags = open_flags;
	e->ret = ret;
	e->source = source;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	e->rule_id = v->rule_id;
	e->pad2 = 0;
	if (v->resolved)
		aw_append_resolved(ev, &size, &e->path, v->off, v->truncated);
	else
		aw_append_path(ev, &size, &e->path, aw_file_path(file));
	aw_submit(ev, size);
}

/* The rule access bits an open asks for: truncating is writing. */
static __always_inline __u32 aw_open_access(struct file *file, __u32 open_flags)
{
	__u32 access = aw_access_of(file, open_flags);

	if (access & AW_ACC_TRUNC)
		access |= AW_ACC_WRITE;
	return access;
}

/*
 * The open(2) flags of the syscall now returning, from the registers it was called with (the
 * kernel's saved copy, not user memory). struct file keeps no O_CREAT, O_EXCL or O_TRUNC, and
 * reading them here means no sys_enter program: an enter tracepoint would put one more probe on
 * every syscall of every process. `arg` is the flags' position (1-based); 0: creat(2).
 */
static __always_inline __u32 aw_open_syscall_flags(int arg)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	switch (arg) {
	case 0:
		return AW_O_CREAT | AW_O_TRUNC | 1;
	case 2:
		return (__u32)PT_REGS_PARM2_CORE_SYSCALL(regs);
	case 3:
		return (__u32)PT_REGS_PARM3_CORE_SYSCALL(regs);
	default: /* openat2: the flags are in struct open_how, in user memory; f_flags only */
		return 0;
	}
}

/* The fd the syscall returned, looked up in the task's own fd table: the kernel's file. */
static __always_inline struct file *aw_fd_file(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	unsigned int max = BPF_CORE_READ(task, files, fdt, max_fds);
	struct file *file = NULL;

	if (fd < 0 || fd >= max)
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
}

static __always_inline int aw_open_exit(long ret, int flags_arg, bool decide)
{
	struct aw_agent *agent = aw_agent_of_current();
	struct file *file;
	__u32 flags;

	if (!agent)
		return 0;
	if (ret < 0)
		return 0;
	file = aw_fd_file(ret);
	if (file) {
		struct aw_verdict v;

		AW_COUNT(agent->slot, opens);
		flags = aw_open_syscall_flags(flags_arg) | BPF_CORE_READ(file, f_flags);
		/* The open already happened: a deny can only be reported, or punished. */
		v.evflags = 0;
		v.rule_id = 0;
		v.resolved = false;
		v.truncated = false;
		v.deny = false;
		v.off = AW_PATH_SCRATCH;
		if (decide)
			aw_file_verdict(agent, file, aw_open_access(file, flags), false, &v);
		aw_track_written(agent, file, aw_access_of(file, flags));
		aw_emit_file(agent, file, flags, aw_access_of(file, flags), ret, AW_SRC_TRACEPOINT,
			     &v);
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int tp_sys_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return aw_open_exit(ctx->ret, 3, false);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int tp_sys_exit_openat_decide(struct trace_event_raw_sys_exit *ctx)
{
	return aw_open_exit(ctx->ret, 3, true);
}

SEC("tracepoint/syscalls/sys_exit_open")
int tp_sys_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return aw_open_exit(ctx->ret, 2, false);
}

SEC("tracepoint/syscalls/sys_exit_open")
int tp_sys_exit_open_decide(struct trace_event_raw_sys_exit *ctx)
{
	return aw_open_exit(ctx->ret, 2, true);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int tp_sys_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	return aw_open_exit(ctx->ret, 0, false);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int tp_sys_exit_creat_decide(struct trace_event_raw_sys_exit *ctx)
{
	return aw_open_exit(ctx->ret, 0, true);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int tp_sys_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return aw_open_exit(ctx->ret, -1, false);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int tp_sys_exit_openat2_decide(struct trace_event_raw_sys_exit *ctx)
{
	return aw_open_exit(ctx->ret, -1, true);
}

/*
 * With BPF-LSM: every open, io_uring's included, decided on the kernel's struct file: its
 * canonical path and its inode, whatever name or fd the agent came through.
 */
static __always_inline int aw_on_file_open(struct file *file, int ret, bool decide)
{
	struct aw_agent *agent;
	struct aw_verdict v;
	__u32 flags;

	AW_LSM_PASS_EARLIER_DENY(ret);
	agent = aw_agent_of_current();
	if (!agent)
		return 0;
	AW_COUNT(agent->slot, opens);
	flags = BPF_CORE_READ(file, f_flags);
	v.evflags = 0;
	v.rule_id = 0;
	v.resolved = false;
	v.truncated = false;
	v.deny = false;
	v.off = AW_PATH_SCRATCH;
	if (decide)
		aw_file_verdict(agent, file, aw_open_access(file, flags), true, &v);
	if (!v.deny)
		aw_track_written(agent, file, aw_access_of(file, flags));
	aw_emit_file(agent, file, flags, aw_access_of(file, flags), v.deny ? AW_LSM_DENY : 0,
		     AW_SRC_LSM, &v);
	return v.deny ? AW_LSM_DENY : 0;
}

SEC("lsm/file_open")
int BPF_PROG(lsm_file_open, struct file *file, int ret)
{
	return aw_on_file_open(file, ret, false);
}

SEC("lsm/file_open")
int BPF_PROG(lsm_file_open_decide, struct file *file, int ret)
{
	return aw_on_file_open(file, ret, true);
}

/* --- exec: the binary the kernel is about to run, and executable mappings ------------------ */

/* A refused exec never reaches sched_process_exec: report it here. */
static __always_inline void aw_emit_exec_denied(struct aw_agent *agent, struct linux_binprm *bprm,
						const struct aw_verdict *v)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct aw_exec_event *e;
	struct aw_event_buf *ev;
	__u32 size = sizeof(*e);

	ev = aw_event_scratch();
	if (!ev)
		return;
	e = (void *)ev->data;
	aw_fill_hdr(&e->hdr, AW_EV_EXEC);
	e->hdr.flags = v->evflags;
	aw_fill_task(&e->task, agent);
	e->task.ppid = aw_task_ppid(task);
	e->parent_exec_id = e->task.exec_id;
	e->ino = BPF_CORE_READ(bprm, file, f_inode, i_ino);
	e->dev = BPF_CORE_READ(bprm, file, f_inode, i_sb, s_dev);
	e->argc = BPF_CORE_READ(bprm, argc);
	e->rule_id = v->rule_id;
	if (v->resolved)
		aw_append_resolved(ev, &size, &e->path, v->off, v->truncated);
	else
		aw_append_path(ev, &size, &e->path, aw_file_path(BPF_CORE_READ(bprm, file)));
	e->argv.off = size;
	e->argv.len = 0;
	aw_append_path(ev, &size, &e->cwd, &task->fs->pwd);
	aw_submit(ev, size);
}

SEC("lsm/bprm_check_security")
int BPF_PROG(lsm_bprm_check_security, struct linux_binprm *bprm, int ret)
{
	struct aw_agent *agent;
	struct aw_verdict v;

	AW_LSM_PASS_EARLIER_DENY(ret);
	agent = aw_agent_of_current();
	if (!agent)
		return 0;
	aw_exec_verdict(agent, BPF_CORE_READ(bprm, file), true, true, &v);
	if (!v.evflags)
		return 0; /* sched_process_exec reports the exec once it happened */
	if (v.deny)
		aw_emit_exec_denied(agent, bprm, &v);
	return v.deny ? AW_LSM_DENY : 0;
}

/*
 * PROT_EXEC mappings: how the dynamic loader runs a binary (ld.so ./prog) without exec'ing it.
 * Only rules decide here, not the exec default posture, so an allow-list does not refuse
 * every shared library.
 */
SEC("lsm/mmap_file")
int BPF_PROG(lsm_mmap_file, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags, int ret)
{
	struct aw_agent *agent;
	struct aw_verdict v;

	AW_LSM_PASS_EARLIER_DENY(ret);
	if (!file || !(prot & 0x4 /* PROT_EXEC */))
		return 0;
	agent = aw_agent_of_current();
	if (!agent)
		return 0;
	aw_exec_verdict(agent, file, true, false, &v);
	if (v.evflags)
		aw_emit_file(agent, file, BPF_CORE_READ(file, f_flags), AW_ACC_EXEC,
			     v.deny ? AW_LSM_DENY : 0, AW_SRC_LSM, &v);
	return v.deny ? AW_LSM_DENY : 0;
}

/* --- network egress (cgroup socket hooks) ---------------------------------------------------- */

/*
 * The destination as the policy sees it: 16 bytes, IPv4 in the ::ffff:a.b.c.d form. An
 * IPv4-mapped IPv6 address is that IPv4 address already; a NAT64 one (64:ff9b::/96) is turned
 * into it. Returns true when the destination is IPv4.
 */
static __always_inline bool aw_net_dest(struct bpf_sock_addr *ctx, bool v6, __u32 w[4])
{
	if (!v6) {
		w[0] = 0;
		w[1] = 0;
		w[2] = bpf_htonl(0xffff);
		w[3] = ctx->user_ip4;
		return true;
	}
	/* ctx fields need constant offsets: no loop */
	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	if (w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff))
		return true;
	if (w[0] == bpf_htonl(0x0064ff9b) && w[1] == 0 && w[2] == 0) {
		w[2] = bpf_htonl(0xffff);
		w[0] = 0;
		return true;
	}
	return false;
}

/* Observe, and for egress decide, one socket address operation. Returns the hook's verdict. */
static __always_inline int aw_cgroup_net(struct bpf_sock_addr *ctx, __u8 op, bool v6)
{
	struct aw_agent *agent = aw_agent_of_current();
	struct aw_decision d = {.action = AW_ACT_NONE};
	struct aw_match_state *m;
	struct aw_net_event *e;
	struct aw_event_buf *ev;
	__u32 w[4], evflags = 0;
	__u16 port;
	bool v4;

	if (!agent)
		return 1;
	v4 = aw_net_dest(ctx, v6, w);
	port = bpf_ntohs(ctx->user_port);
	if (op != AW_NET_BIND)
		AW_COUNT(agent->slot, connects);
	if (net_verdicts && op != AW_NET_BIND &&
	    aw_policy_query_net(agent->slot, w, port,
				ctx->protocol == 17 ? AW_PROTO_UDP : AW_PROTO_TCP) &&
	    (m = aw_match_result())) {
		d.action = m->r_action;
		d.rule_id = m->r_rule_id;
		if (d.action == AW_ACT_DENY)
			evflags = m->r_audit_mode ? AW_EVF_AUDIT : AW_EVF_DENIED;
	}
	ev = aw_event_scratch();
	if (ev) {
		e = (void *)ev->data;
		aw_fill_hdr(&e->hdr, AW_EV_NET);
		e->hdr.flags = evflags;
		aw_fill_task(&e->task, agent);
		e->op = op;
		e->proto = ctx->protocol;
		e->source = AW_SRC_CGROUP;
		e->sport = 0;
		e->dport = port;
		e->ret = evflags & AW_EVF_DENIED ? -EPERM : 0;
		e->rule_id = d.action >= AW_ACT_AUDIT ? d.rule_id : 0;
		__builtin_memset(e->saddr, 0, sizeof(e->saddr));
		__builtin_memset(e->daddr, 0, sizeof(e->daddr));
		e->family = v4 ? AW_AF_INET : AW_AF_INET6;
		if (v4)
			__builtin_memcpy(e->daddr, &w[3], 4);
		else
			__builtin_memcpy(e->daddr, w, 16);
		aw_submit(ev, sizeof(*e));
	}
	return evflags & AW_EVF_DENIED ? 0 : 1;
}

SEC("cgroup/connect4")
int cgroup_connect4(struct bpf_sock_addr *ctx)
{
	return aw_cgroup_net(ctx, AW_NET_CONNECT, false);
}

SEC("cgroup/connect6")
int cgroup_connect6(struct bpf_sock_addr *ctx)
{
	return aw_cgroup_net(ctx, AW_NET_CONNECT, true);
}

SEC("cgroup/sendmsg4")
int cgroup_sendmsg4(struct bpf_sock_addr *ctx)
{
	return aw_cgroup_net(ctx, AW_NET_SENDMSG, false);
}

SEC("cgroup/sendmsg6")
int cgroup_sendmsg6(struct bpf_sock_addr *ctx)
{
	return aw_cgroup_net(ctx, AW_NET_SENDMSG, true);
}

SEC("cgroup/bind4")
int cgroup_bind4(struct bpf_sock_addr *ctx)
{
	return aw_cgroup_net(ctx, AW_NET_BIND, false);
}

SEC("cgroup/bind6")
int cgroup_bind6(struct bpf_sock_addr *ctx)
{
	return aw_cgroup_net(ctx, AW_NET_BIND, true);
}

/* TCP listen and accept (cgroup sock_ops) */
#include "observe_listen.bpf.h"

/* --- new cgroups ------------------------------------------------------------------------------ */

/* The daemon's selector prefixes (include/agentwatch/agent.h), set before load. */
const volatile __u32 watch_prefix_count;
const volatile char watch_prefixes[AW_WATCH_PREFIXES][AW_WATCH_PREFIX_LEN];

static __always_inline bool aw_has_prefix(const char *path, __u32 i)
{
	int j;

	for (j = 0; j < AW_WATCH_PREFIX_LEN; j++) {
		char c = watch_prefixes[i & (AW_WATCH_PREFIXES - 1)][j];

		if (!c)
			return true;
		if (path[j] != c)
			return false;
	}
	return true;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(tp_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	struct aw_agent *parent_agent, pending = {.slot = AW_AGENT_SLOT_PENDING};
	struct aw_cgroup_event *e;
	struct aw_event_buf *ev;
	__u64 id, parent_id;
	__u32 i, size = sizeof(*e);
	bool match = false;
	long n;

	/* Only the v2 hierarchy (hierarchy id 0) names agents. */
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0;
	id = BPF_CORE_READ(cgrp, kn, id);
	parent_id = BPF_CORE_READ(cgrp, self.parent, cgroup, kn, id);
	parent_agent = bpf_map_lookup_elem(&agents_by_cgroup, &parent_id);
	if (parent_agent)
		bpf_map_update_elem(&agents_by_cgroup, &id, parent_agent, BPF_NOEXIST);
	else if (!watch_prefix_count)
		return 0;

	ev = aw_event_scratch();
	if (!ev)
		return 0;
	e = (void *)ev->data;
	n = bpf_probe_read_kernel_str(&ev->data[sizeof(*e)], AW_PATH_SCRATCH, path);
	if (n <= 0)
		return 0;
	if (!parent_agent) {
		for (i = 0; i < AW_WATCH_PREFIXES; i++) {
			if (i >= watch_prefix_count)
				break;
			if (aw_has_prefix((const char *)&ev->data[sizeof(*e)], i)) {
				match = true;
				break;
			}
		}
		if (!match)
			return 0;
		pending.root_cgroup_id = id;
		bpf_map_update_elem(&agents_by_cgroup, &id, &pending, BPF_NOEXIST);
	}
	aw_fill_hdr(&e->hdr, AW_EV_CGROUP_MKDIR);
	aw_fill_task(&e->task, parent_agent);
	e->task.ppid = aw_task_ppid((struct task_struct *)bpf_get_current_task_btf());
	e->new_cgroup_id = id;
	e->parent_cgroup_id = parent_id;
	e->level = BPF_CORE_READ(cgrp, level);
	e->inherited = parent_agent != NULL;
	e->path.off = sizeof(*e);
	e->path.len = n - 1; /* without the NUL */
	e->pad = 0;
	size += n - 1;
	aw_submit(ev, size);
	return 0;
}

/* --- syscall observation (include/agentwatch/syscall.h) ---------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct aw_syscall_key);
	__type(value, __u64);
} syscall_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct aw_syscall_mask);
} syscall_event_mask SEC(".maps");

/*
 * A Kernel Activity event of the current task's syscall `nr` (regs: its saved registers, for
 * the first arguments): observed (flags 0, rule 0), or denied, audited or killed by `rule_id`.
 */
static __always_inline void aw_emit_syscall(const struct aw_agent *agent, struct pt_regs *regs,
					    long nr, __u8 flags, __u32 rule_id)
{
	struct aw_event_buf *ev = aw_event_scratch();
	struct aw_syscall_event *e;

	if (!ev)
		return;
	e = (void *)ev->data;
	aw_fill_hdr(&e->hdr, AW_EV_SYSCALL);
	e->hdr.flags = flags;
	aw_fill_task(&e->task, agent);
	e->task.ppid = aw_task_ppid((struct task_struct *)bpf_get_current_task_btf());
	e->nr = nr;
	e->rule_id = rule_id;
	e->args[0] = AW_SYSCALL_ARG0(regs);
	e->args[1] = AW_SYSCALL_ARG1(regs);
	e->args[2] = AW_SYSCALL_ARG2(regs);
	aw_submit(ev, sizeof(*e));
}

/* The saved registers of the current task's syscall (LSM hooks: the syscall that called it). */
static __always_inline struct pt_regs *aw_current_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs((struct task_struct *)bpf_get_current_task_btf());
}

/* Loaded only when syscall observation is asked for (the loader turns autoload on). */
SEC("tp_btf/sys_enter")
int BPF_PROG(tp_sys_enter, struct pt_regs *regs, long id)
{
	struct aw_agent *agent = aw_agent_of_current();
	struct aw_syscall_key key;
	struct aw_syscall_mask *mask;
	__u64 one = 1, *count;
	__u32 zero = 0;

	if (!agent || id < 0 || id >= AW_SYSCALL_MAX)
		return 0;
	AW_COUNT(agent->slot, syscalls);
	key.slot = agent->slot;
	key.nr = id;
	count = bpf_map_lookup_elem(&syscall_counts, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&syscall_counts, &key, &one, BPF_NOEXIST);

	mask = bpf_map_lookup_elem(&syscall_event_mask, &zero);
	if (mask && (mask->bits[(id / 64) & (AW_SYSCALL_MASK_WORDS - 1)] & (1ULL << (id % 64))))
		aw_emit_syscall(agent, regs, id, 0, 0);
	return 0;
}

/* --- file aliasing: delete, rename and link of protected files ----------------------------- */

/*
 * Writing a protected file by renaming another over it, moving it out of its protected name,
 * and hardlinking it to a name no rule covers are all decided here, on the dentries and the
 * inode, so a rule's protection follows the file and not just one of its names.
 */
static __always_inline int aw_path_op(struct dentry *dentry, struct vfsmount *mnt, __u32 access)
{
	struct aw_agent *agent = aw_agent_of_current();
	struct aw_verdict v;
	struct inode *inode;

	if (!agent)
		return 0;
	inode = BPF_CORE_READ(dentry, d_inode);
	aw_verdict_path(agent, dentry, mnt, access, inode ? BPF_CORE_READ(inode, i_sb, s_dev) : 0,
			inode ? BPF_CORE_READ(inode, i_ino) : 0, AW_LIST_FILES, true, false, &v);
	if (v.evflags) {
		struct aw_file_event *e;
		struct aw_event_buf *ev = aw_event_scratch();
		__u32 size = sizeof(*e);

		if (ev) {
			e = (void *)ev->data;
			aw_fill_hdr(&e->hdr, AW_EV_FILE_OPEN);
			e->hdr.flags = v.evflags;
			aw_fill_task(&e->task, agent);
			e->ino = inode ? BPF_CORE_READ(inode, i_ino) : 0;
			e->dev = inode ? BPF_CORE_READ(inode, i_sb, s_dev) : 0;
			e->access = access;
			e->flags = 0;
			e->ret = v.deny ? AW_LSM_DENY : 0;
			e->source = AW_SRC_LSM;
			e->pad[0] = e->pad[1] = e->pad[2] = 0;
			e->rule_id = v.rule_id;
			e->pad2 = 0;
			if (!v.resolved) {
				/* a binary check reused the path buffer: walk again */
				struct aw_path_buf *pb = aw_path_buf();

				if (pb)
					v.off = aw_path_resolve_dm(dentry, mnt, pb, &v.truncated);
			}
			aw_append_resolved(ev, &size, &e->path, v.off, v.truncated);
			aw_submit(ev, size);
		}
	}
	return v.deny ? AW_LSM_DENY : 0;
}

SEC("lsm/path_unlink")
int BPF_PROG(lsm_path_unlink, const struct path *dir, struct dentry *dentry, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	return aw_path_op(dentry, BPF_CORE_READ(dir, mnt), AW_ACC_DELETE);
}

SEC("lsm/path_rename")
int BPF_PROG(lsm_path_rename, const struct path *old_dir, struct dentry *old_dentry,
	     const struct path *new_dir, struct dentry *new_dentry, unsigned int flags, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	/* Moving a protected file to a name no rule covers is a way to read it. */
	ret = aw_path_op(old_dentry, BPF_CORE_READ(old_dir, mnt), AW_ACC_RENAME | AW_ACC_READ);
	if (ret)
		return ret;
	/* Landing on a protected name writes it (rename-over) or creates it. */
	return aw_path_op(new_dentry, BPF_CORE_READ(new_dir, mnt),
			  AW_ACC_WRITE | AW_ACC_CREATE | AW_ACC_RENAME);
}

SEC("lsm/path_link")
int BPF_PROG(lsm_path_link, struct dentry *old_dentry, const struct path *new_dir,
	     struct dentry *new_dentry, int ret)
{
	struct vfsmount *mnt = BPF_CORE_READ(new_dir, mnt); /* a link never crosses mounts */

	AW_LSM_PASS_EARLIER_DENY(ret);
	/* A new name for a protected file is a way to read it: link counts as read too. */
	ret = aw_path_op(old_dentry, mnt, AW_ACC_LINK | AW_ACC_READ);
	if (ret)
		return ret;
	return aw_path_op(new_dentry, mnt, AW_ACC_CREATE);
}

/* --- syscall classes ------------------------------------------------------------------------ */

/*
 * A denied syscall class (AW_SC_*) for the current agent: refuse it with EPERM in an LSM hook,
 * or, from a syscall tracepoint where no LSM can refuse, report it or SIGKILL as the policy says.
 * Reported as a Kernel Activity event; rule_id is AW_RULE_SYSCALL_CLASS(bit).
 */
static __always_inline int aw_syscall_class(__u32 class_bit, bool can_deny)
{
	struct aw_agent *agent = aw_agent_of_current();
	struct aw_policy_defaults *defs;
	struct aw_match_state *m;
	struct pt_regs *regs;
	__u32 set, evflags, bit;
	bool deny = false;

	if (!agent)
		return 0;
	m = aw_policy_begin(agent->slot, &set);
	if (!m)
		return 0;
	defs = aw_policy_defaults_of(m->gen, set);
	if (!defs || !(defs->syscall_deny & class_bit))
		return 0;
	if (defs->syscall_audit_mode & class_bit) {
		evflags = AW_EVF_AUDIT;
	} else if (can_deny) {
		evflags = AW_EVF_DENIED;
		deny = true;
	} else if (defs->flags & AW_DEF_FALLBACK_KILL) {
		bpf_send_signal(9);
		evflags = AW_EVF_KILLED;
	} else {
		evflags = AW_EVF_AUDIT;
	}
	for (bit = 0; bit < 32; bit++)
		if (class_bit == 1U << bit)
			break;
	regs = aw_current_regs();
	aw_emit_syscall(agent, regs, AW_SYSCALL_NR(regs), evflags, AW_RULE_SYSCALL_CLASS(bit));
	return deny ? AW_LSM_DENY : 0;
}

/* bpf(2): the hook gained a `kernel` argument in Linux 6.12; the loader picks the variant. */
SEC("lsm/bpf")
int BPF_PROG(lsm_bpf_3, int cmd, union bpf_attr *attr, unsigned int size, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	return aw_syscall_class(AW_SC_BPF, true);
}

SEC("lsm/bpf")
int BPF_PROG(lsm_bpf_4, int cmd, union bpf_attr *attr, unsigned int size, bool kernel, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	return kernel ? 0 : aw_syscall_class(AW_SC_BPF, true);
}

/* ptrace of anything but a process of the same agent. */
SEC("lsm/ptrace_access_check")
int BPF_PROG(lsm_ptrace_access_check, struct task_struct *child, unsigned int mode, int ret)
{
	struct aw_agent *agent, *child_agent;
	__u64 child_cg;

	AW_LSM_PASS_EARLIER_DENY(ret);
	agent = aw_agent_of_current();
	if (!agent)
		return 0;
	/* Reading (ps, /proc/PID/stat) is not attaching; PTRACE_MODE_ATTACH is (0x02). */
	if (!(mode & 0x02))
		return 0;
	child_cg = BPF_CORE_READ(child, cgroups, dfl_cgrp, kn, id);
	child_agent = bpf_map_lookup_elem(&agents_by_cgroup, &child_cg);
	if (child_agent && child_agent->slot == agent->slot)
		return 0;
	return aw_syscall_class(AW_SC_PTRACE, true);
}

SEC("lsm/sb_mount")
int BPF_PROG(lsm_sb_mount, const char *dev_name, const struct path *path, const char *type,
	     unsigned long flags, void *data, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	return aw_syscall_class(AW_SC_MOUNT, true);
}

SEC("lsm/sb_umount")
int BPF_PROG(lsm_sb_umount, struct vfsmount *mnt, int flags, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	return aw_syscall_class(AW_SC_MOUNT, true);
}

SEC("lsm/move_mount")
int BPF_PROG(lsm_move_mount, const struct path *from_path, const struct path *to_path, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	return aw_syscall_class(AW_SC_MOUNT, true);
}

/* finit_module and kexec_file_load read their image through this hook. */
SEC("lsm/kernel_read_file")
int BPF_PROG(lsm_kernel_read_file, struct file *file, enum kernel_read_file_id id, bool contents,
	     int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	if (id == bpf_core_enum_value(enum kernel_read_file_id, READING_MODULE))
		return aw_syscall_class(AW_SC_MODULE, true);
	if (id == bpf_core_enum_value(enum kernel_read_file_id, READING_KEXEC_IMAGE) ||
	    id == bpf_core_enum_value(enum kernel_read_file_id, READING_KEXEC_INITRAMFS))
		return aw_syscall_class(AW_SC_KEXEC, true);
	return 0;
}

/* init_module and kexec_load hand the image over in memory. */
SEC("lsm/kernel_load_data")
int BPF_PROG(lsm_kernel_load_data, enum kernel_load_data_id id, bool contents, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	if (id == bpf_core_enum_value(enum kernel_load_data_id, LOADING_MODULE))
		return aw_syscall_class(AW_SC_MODULE, true);
	if (id == bpf_core_enum_value(enum kernel_load_data_id, LOADING_KEXEC_IMAGE))
		return aw_syscall_class(AW_SC_KEXEC, true);
	return 0;
}

/* perf_event_open: the hook lost its `type` argument in Linux 6.x; the loader picks. */
SEC("lsm/perf_event_open")
int BPF_PROG(lsm_perf_event_open_2, struct perf_event_attr *attr, int type, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	return aw_syscall_class(AW_SC_PERF_EVENT_OPEN, true);
}

SEC("lsm/perf_event_open")
int BPF_PROG(lsm_perf_event_open_1, struct perf_event_attr *attr, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	return aw_syscall_class(AW_SC_PERF_EVENT_OPEN, true);
}

SEC("lsm/userns_create")
int BPF_PROG(lsm_userns_create, const struct cred *cred, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	return aw_syscall_class(AW_SC_USERNS, true);
}

/*
 * Without BPF-LSM: the same classes seen at syscall entry, where nothing can be refused; the
 * loader attaches these only when a policy denies syscall classes and no LSM hook is loaded.
 */
SEC("tracepoint/syscalls/sys_enter_bpf")
int tp_sc_bpf(void *ctx)
{
	return aw_syscall_class(AW_SC_BPF, false);
}

SEC("tracepoint/syscalls/sys_enter_ptrace")
int tp_sc_ptrace(void *ctx)
{
	return aw_syscall_class(AW_SC_PTRACE, false);
}

SEC("tracepoint/syscalls/sys_enter_mount")
int tp_sc_mount(void *ctx)
{
	return aw_syscall_class(AW_SC_MOUNT, false);
}

SEC("tracepoint/syscalls/sys_enter_umount")
int tp_sc_umount(void *ctx)
{
	return aw_syscall_class(AW_SC_MOUNT, false);
}

SEC("tracepoint/syscalls/sys_enter_init_module")
int tp_sc_init_module(void *ctx)
{
	return aw_syscall_class(AW_SC_MODULE, false);
}

SEC("tracepoint/syscalls/sys_enter_finit_module")
int tp_sc_finit_module(void *ctx)
{
	return aw_syscall_class(AW_SC_MODULE, false);
}

SEC("tracepoint/syscalls/sys_enter_kexec_load")
int tp_sc_kexec_load(void *ctx)
{
	return aw_syscall_class(AW_SC_KEXEC, false);
}

SEC("tracepoint/syscalls/sys_enter_perf_event_open")
int tp_sc_perf_event_open(void *ctx)
{
	return aw_syscall_class(AW_SC_PERF_EVENT_OPEN, false);
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int tp_sc_unshare(struct trace_event_raw_sys_enter *ctx)
{
	/* CLONE_NEWUSER */
	return ctx->args[0] & 0x10000000 ? aw_syscall_class(AW_SC_USERNS, false) : 0;
}

/* --- more ways to write or run a protected file -------------------------------------------- */

/* Creating a name: O_CREAT reaches here before file_open, so a refused create leaves nothing. */
SEC("lsm/path_mknod")
int BPF_PROG(lsm_path_mknod, const struct path *dir, struct dentry *dentry, umode_t mode,
	     unsigned int dev, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	return aw_path_op(dentry, BPF_CORE_READ(dir, mnt), AW_ACC_CREATE);
}

SEC("lsm/path_mkdir")
int BPF_PROG(lsm_path_mkdir, const struct path *dir, struct dentry *dentry, umode_t mode, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	return aw_path_op(dentry, BPF_CORE_READ(dir, mnt), AW_ACC_CREATE);
}

/* A symlink planted at a protected name writes it as surely as a file would. */
SEC("lsm/path_symlink")
int BPF_PROG(lsm_path_symlink, const struct path *dir, struct dentry *dentry, const char *old_name,
	     int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	return aw_path_op(dentry, BPF_CORE_READ(dir, mnt), AW_ACC_CREATE | AW_ACC_WRITE);
}

/* truncate(2) and ftruncate(2) write without an open for writing. */
SEC("lsm/path_truncate")
int BPF_PROG(lsm_path_truncate, const struct path *path, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	return aw_path_op(BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt),
			  AW_ACC_WRITE | AW_ACC_TRUNC);
}

/* Turning a mapping executable later is mmap(PROT_EXEC) by another name. */
SEC("lsm/file_mprotect")
int BPF_PROG(lsm_file_mprotect, struct vm_area_struct *vma, unsigned long reqprot,
	     unsigned long prot, int ret)
{
	struct aw_agent *agent;
	struct aw_verdict v;
	struct file *file;

	AW_LSM_PASS_EARLIER_DENY(ret);
	file = BPF_CORE_READ(vma, vm_file);
	if (!file || !(prot & 0x4 /* PROT_EXEC */))
		return 0;
	agent = aw_agent_of_current();
	if (!agent)
		return 0;
	aw_exec_verdict(agent, file, true, false, &v);
	if (v.evflags)
		aw_emit_file(agent, file, BPF_CORE_READ(file, f_flags), AW_ACC_EXEC,
			     v.deny ? AW_LSM_DENY : 0, AW_SRC_LSM, &v);
	return v.deny ? AW_LSM_DENY : 0;
}

/*
 * Packets whose destination the kernel does not see (AF_PACKET frames, IP headers the caller
 * writes: IPPROTO_RAW, IP_HDRINCL): refused to an agent whose policy denies some egress
 * (AW_DEF_DENY_RAW_PACKETS), since no network rule can be checked on them. Reported as a Kernel
 * Activity event of the syscall, rule AW_RULE_RAW_PACKETS.
 */
static __always_inline int aw_raw_packets(void)
{
	struct aw_agent *agent = aw_agent_of_current();
	struct aw_policy_defaults *defs;
	struct aw_match_state *m;
	struct pt_regs *regs;
	__u32 set;

	if (!agent)
		return 0;
	m = aw_policy_begin(agent->slot, &set);
	if (!m)
		return 0;
	defs = aw_policy_defaults_of(m->gen, set);
	if (!defs || !(defs->flags & AW_DEF_DENY_RAW_PACKETS))
		return 0;
	regs = aw_current_regs();
	aw_emit_syscall(agent, regs, AW_SYSCALL_NR(regs), AW_EVF_DENIED, AW_RULE_RAW_PACKETS);
	return AW_LSM_DENY;
}

/* A socket (made anywhere) whose packets' destination is user data. */
static __always_inline bool aw_raw_packet_socket(struct socket *sock)
{
	struct sock *sk = BPF_CORE_READ(sock, sk);

	if (!sk)
		return false;
	if (BPF_CORE_READ(sk, __sk_common.skc_family) == AW_AF_PACKET)
		return true;
	return BPF_CORE_READ(sock, type) == AW_SOCK_RAW &&
	       BPF_CORE_READ(sk, sk_protocol) == AW_IPPROTO_RAW;
}

SEC("lsm/socket_create")
int BPF_PROG(lsm_socket_create, int family, int type, int protocol, int kern, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	if (kern)
		return 0;
	if (family == AW_AF_PACKET || ((family == AW_AF_INET || family == AW_AF_INET6) &&
				       (type & 0xf) == AW_SOCK_RAW && protocol == AW_IPPROTO_RAW))
		return aw_raw_packets();
	return 0;
}

SEC("lsm/socket_setsockopt")
int BPF_PROG(lsm_socket_setsockopt, struct socket *sock, int level, int optname, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	if ((level == AW_SOL_IP && optname == AW_IP_HDRINCL) ||
	    (level == AW_SOL_IPV6 && optname == AW_IPV6_HDRINCL))
		return aw_raw_packets();
	return 0;
}

/*
 * Egress decided on the caller, not the socket: the cgroup hooks run for the cgroup that made
 * the socket, so one made outside the agent and passed in would escape them. The address is the
 * kernel's copy of the sockaddr.
 */
static __always_inline int aw_lsm_net(struct socket *sock, struct sockaddr *addr, __u8 op)
{
	struct aw_agent *agent = aw_agent_of_current();
	struct aw_match_state *m;
	__u16 family, port = 0;
	__u32 w[4] = {}, proto, dport;
	struct aw_net_event *e;
	struct aw_event_buf *ev;
	__u32 evflags = 0, rule = 0;

	if (!agent || !addr)
		return 0;
	family = BPF_CORE_READ(addr, sa_family);
	if (family == AW_AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)addr;

		w[2] = bpf_htonl(0xffff);
		w[3] = BPF_CORE_READ(sin, sin_addr.s_addr);
		port = bpf_ntohs(BPF_CORE_READ(sin, sin_port));
	} else if (family == AW_AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)addr;

		bpf_probe_read_kernel(w, sizeof(w), &sin6->sin6_addr);
		port = bpf_ntohs(BPF_CORE_READ(sin6, sin6_port));
		if (w[0] == bpf_htonl(0x0064ff9b) && w[1] == 0 && w[2] == 0) {
			w[0] = 0;
			w[2] = bpf_htonl(0xffff); /* NAT64: the IPv4 address it carries */
		}
	} else {
		return 0;
	}
	proto = BPF_CORE_READ(sock, sk, sk_protocol) == 17 ? AW_PROTO_UDP : AW_PROTO_TCP;
	dport = port;
	if (BPF_CORE_READ(sock, type) == AW_SOCK_RAW) {
		/* A raw socket: the kernel routes by this address, but the port (and, for UDP
		 * or TCP built by hand, the protocol header) is user data: every port. */
		dport = AW_PORT_ANY;
		port = 0;
	}
	if (!aw_policy_query_net(agent->slot, w, dport, proto) || !(m = aw_match_result()))
		return 0;
	if (m->r_action != AW_ACT_DENY)
		return 0;
	rule = m->r_rule_id;
	evflags = m->r_audit_mode ? AW_EVF_AUDIT : AW_EVF_DENIED;
	ev = aw_event_scratch();
	if (ev) {
		bool v4 = w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff);

		e = (void *)ev->data;
		aw_fill_hdr(&e->hdr, AW_EV_NET);
		e->hdr.flags = evflags;
		aw_fill_task(&e->task, agent);
		e->op = op;
		e->proto = proto == AW_PROTO_UDP ? 17 : 6;
		e->source = AW_SRC_LSM;
		e->sport = 0;
		e->dport = port;
		e->ret = evflags & AW_EVF_DENIED ? AW_LSM_DENY : 0;
		e->rule_id = rule;
		__builtin_memset(e->saddr, 0, sizeof(e->saddr));
		__builtin_memset(e->daddr, 0, sizeof(e->daddr));
		e->family = v4 ? AW_AF_INET : AW_AF_INET6;
		if (v4)
			__builtin_memcpy(e->daddr, &w[3], 4);
		else
			__builtin_memcpy(e->daddr, w, 16);
		aw_submit(ev, sizeof(*e));
	}
	return evflags & AW_EVF_DENIED ? AW_LSM_DENY : 0;
}

SEC("lsm/socket_connect")
int BPF_PROG(lsm_socket_connect, struct socket *sock, struct sockaddr *address, int addrlen,
	     int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	if (aw_raw_packet_socket(sock))
		return aw_raw_packets();
	return aw_lsm_net(sock, address, AW_NET_CONNECT);
}

SEC("lsm/socket_sendmsg")
int BPF_PROG(lsm_socket_sendmsg, struct socket *sock, struct msghdr *msg, int size, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	if (aw_raw_packet_socket(sock))
		return aw_raw_packets();
	/* Only sends that name a destination; a connected socket's was decided at connect. */
	return aw_lsm_net(sock, (struct sockaddr *)BPF_CORE_READ(msg, msg_name), AW_NET_SENDMSG);
}
