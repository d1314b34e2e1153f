// SPDX-License-Identifier: GPL-2.0
/*
 * Feature probes for `agentwatch doctor` and for choosing programs at load time.
 *
 * Every program here is tiny and loaded alone (userspace turns autoload off for the others), so a
 * verifier or attach failure names exactly one kernel feature. Programs that can fire only count
 * events from the probing process (`probe_tgid`), so a probe never touches the rest of the system.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "core_fixes.bpf.h"
#include "lsm.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 probe_tgid;
/* The inode the LSM deny probe refuses to open; set by userspace before attach. */
const volatile __u64 deny_ino;
const volatile __u32 deny_dev;

__u64 hits;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_ringbuf SEC(".maps");

static __always_inline bool from_prober(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == probe_tgid;
}

/* Denies opening one sentinel file, for the prober only: proves BPF-LSM really enforces. */
SEC("lsm/file_open")
int BPF_PROG(probe_lsm_file_open, struct file *file, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	if (!from_prober())
		return 0;
	__sync_fetch_and_add(&hits, 1);
	if (BPF_CORE_READ(file, f_inode, i_ino) == deny_ino &&
	    BPF_CORE_READ(file, f_inode, i_sb, s_dev) == deny_dev)
		return AW_LSM_DENY;
	return 0;
}

SEC("lsm/bprm_check_security")
int BPF_PROG(probe_lsm_bprm_check, struct linux_binprm *bprm, int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	return 0;
}

SEC("lsm/socket_connect")
int BPF_PROG(probe_lsm_socket_connect, struct socket *sock, struct sockaddr *address, int addrlen,
	     int ret)
{
	AW_LSM_PASS_EARLIER_DENY(ret);
	return 0;
}

/* bpf_d_path is allowed only on an allow-list of hooks; file_open is the one agentwatch uses. */
SEC("lsm/file_open")
int BPF_PROG(probe_d_path, struct file *file, int ret)
{
	char buf[64];

	AW_LSM_PASS_EARLIER_DENY(ret);
	if (from_prober())
		bpf_d_path((struct path *)&file->f_path, buf, sizeof(buf));
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(probe_tp_btf, struct pt_regs *regs, long id)
{
	if (from_prober())
		__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int probe_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	if (from_prober())
		__sync_fetch_and_add(&hits, 1);
	return 0;
}

/* One record per syscall of the prober: proves reserve/submit and the userspace consumer. */
SEC("raw_tracepoint/sys_enter")
int probe_ringbuf_submit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 *rec;

	if (!from_prober())
		return 0;
	rec = bpf_ringbuf_reserve(&probe_ringbuf, sizeof(*rec), 0);
	if (!rec)
		return 0;
	*rec = ctx->args[1];
	bpf_ringbuf_submit(rec, 0);
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int probe_send_signal(struct bpf_raw_tracepoint_args *ctx)
{
	/* Signal 0 checks the helper without delivering anything; the program is never attached. */
	if (from_prober())
		bpf_send_signal(0);
	return 0;
}

/* Denies every connect: userspace attaches it only to a scratch cgroup holding one test child. */
SEC("cgroup/connect4")
int probe_cgroup_connect4(struct bpf_sock_addr *ctx)
{
	return 0;
}

SEC("cgroup/connect6")
int probe_cgroup_connect6(struct bpf_sock_addr *ctx)
{
	return 1;
}

/* Socket storage that follows a listener into the connections it accepts, as observe's does. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, __u64);
} probe_listeners SEC(".maps");

/*
 * Counts listen(2) calls in the scratch cgroup it is attached to, with every helper and read the
 * observe object's cgroup_sock_ops uses: a hit means listen and accept events will work.
 */
SEC("sockops")
int probe_sock_ops(struct bpf_sock_ops *ctx)
{
	struct bpf_sock *bsk = ctx->sk;
	struct task_struct *task;
	struct sock *sk;
	__u64 *v;

	if (ctx->op != BPF_SOCK_OPS_TCP_LISTEN_CB || !bsk)
		return 1;
	sk = (struct sock *)bpf_skc_to_tcp_sock(bsk);
	if (!sk)
		return 1;
	task = bpf_get_current_task_btf();
	if (BPF_CORE_READ(aw_sock_cgroup(sk), kn, id) !=
	    BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id))
		return 1;
	v = bpf_sk_storage_get(&probe_listeners, bsk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (v)
		__sync_fetch_and_add(&hits, 1);
	return 1;
}
