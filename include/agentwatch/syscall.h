/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * Syscall observation: the contract between the loader and the sys_enter program of
 * bpf/observe.bpf.c. The program is attached only when someone asked for syscall observation;
 * otherwise no process pays for it.
 *
 * Map `syscall_counts` (hash, key: struct aw_syscall_key, value: __u64): how many times each
 * agent (slot) entered each syscall (native x86-64 numbers below AW_SYSCALL_MAX). Always
 * maintained while the program is attached.
 *
 * Map `syscall_event_mask` (array, 1 entry, value: struct aw_syscall_mask): bit `nr` set means
 * every entry of syscall `nr` by a watched task is also one AW_EV_SYSCALL record.
 *
 * Example: `agentwatch exec --syscall-events ptrace,mount -- agent` attaches the program and sets
 * bits 101 (ptrace) and 165 (mount); a ptrace(PTRACE_ATTACH, 42) by slot 3 adds 1 to
 * syscall_counts[{3, 101}] and emits a record with args {16, 42, 0}.
 */
#ifndef AGENTWATCH_SYSCALL_H
#define AGENTWATCH_SYSCALL_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define AW_SYSCALL_MAX	      512
#define AW_SYSCALL_MASK_WORDS (AW_SYSCALL_MAX / 64)

struct aw_syscall_key {
	__u32 slot;
	__u32 nr;
};
_Static_assert(sizeof(struct aw_syscall_key) == 8, "aw_syscall_key wire size");

struct aw_syscall_mask {
	__u64 bits[AW_SYSCALL_MASK_WORDS];
};
_Static_assert(sizeof(struct aw_syscall_mask) == 64, "aw_syscall_mask wire size");

#endif /* AGENTWATCH_SYSCALL_H */
