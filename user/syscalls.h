/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Syscall names and numbers of the native ABI (x86-64), generated at build time from the libc's
 * uapi header (build/gen/syscall_names.h), and the lists users give to --syscall-events.
 */
#ifndef AGENTWATCH_SYSCALLS_H
#define AGENTWATCH_SYSCALLS_H

#include <stddef.h>
#include <agentwatch/syscall.h>

/* The name of syscall `nr`, or NULL when the table has none. */
const char *syscalls__name(unsigned int nr);
/* The number of syscall `name`, or -ENOENT. */
int syscalls__number(const char *name);
/*
 * Parse a comma-separated list of syscall names ("ptrace,mount") into `mask`. On an unknown name
 * returns -ENOENT and says which, with its 1-based column, in `err`.
 */
int syscalls__parse_list(const char *list, struct aw_syscall_mask *mask, char *err, size_t errlen);

#endif /* AGENTWATCH_SYSCALLS_H */
