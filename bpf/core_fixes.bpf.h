/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every kernel-version workaround lives here, each naming the kernel change it bridges.
 * Programs call these helpers instead of reading the moved fields themselves.
 */
#ifndef AGENTWATCH_CORE_FIXES_BPF_H
#define AGENTWATCH_CORE_FIXES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

/*
 * f_mode bits are macros, absent from BTF. FMODE_CREATED (set when this open created the file)
 * has been 1 << 20 since it was introduced in v4.19 for atomic_open.
 */
#define AW_FMODE_READ	 0x1U
#define AW_FMODE_WRITE	 0x2U
#define AW_FMODE_CREATED (1U << 20)

/* O_* flags as the x86-64/generic uapi defines them. */
#define AW_O_ACCMODE 00000003
#define AW_O_CREAT   00000100
#define AW_O_TRUNC   00001000

/*
 * struct file.f_path is `const struct path` in recent kernels (so in the 6.18 BTF this tree's
 * vmlinux.h comes from) and plain in older ones; bpf_d_path and the path walker take a plain one.
 */
static __always_inline struct path *aw_file_path(struct file *file)
{
	return (struct path *)__builtin_preserve_access_index(&file->f_path);
}

/*
 * The first three syscall arguments from the pt_regs that tp_btf/sys_enter receives. Register
 * names are per architecture; this tree builds for x86-64 (di, si, dx).
 */
#define AW_SYSCALL_NR(regs)   BPF_CORE_READ(regs, orig_ax)
#define AW_SYSCALL_ARG0(regs) BPF_CORE_READ(regs, di)
#define AW_SYSCALL_ARG1(regs) BPF_CORE_READ(regs, si)
#define AW_SYSCALL_ARG2(regs) BPF_CORE_READ(regs, dx)

/*
 * The cgroup v2 a socket belongs to (the one it was made in). Since Linux 5.15 ("bpf, cgroups:
 * Fix cgroup v2 fallback on v1/v2 mixed mode") sock_cgroup_data holds a plain `cgroup` pointer;
 * before, `val` held it unless its low bit said net_cls/net_prio data had taken its place (then
 * the socket's v2 cgroup is not known here: NULL).
 */
struct sock_cgroup_data___pre_5_15 {
	__u64 val;
} __attribute__((preserve_access_index));

static __always_inline struct cgroup *aw_sock_cgroup(struct sock *sk)
{
	struct sock_cgroup_data___pre_5_15 *old;
	__u64 val;

	if (bpf_core_field_exists(struct sock_cgroup_data, cgroup))
		return BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
	old = (void *)__builtin_preserve_access_index(&sk->sk_cgrp_data);
	val = BPF_CORE_READ(old, val);
	return val & 1 ? NULL : (struct cgroup *)val;
}

#endif /* AGENTWATCH_CORE_FIXES_BPF_H */
