/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Conventions every LSM program in agentwatch follows.
 *
 * - The deny value is the kernel's own EPERM, taken from the uapi header, never retyped.
 * - A program first passes through a non-zero `ret`: an earlier LSM (or an earlier BPF program
 *   on the same hook) already decided to deny, and returning 0 would throw that decision away.
 */
#ifndef AGENTWATCH_LSM_BPF_H
#define AGENTWATCH_LSM_BPF_H

#include <asm-generic/errno-base.h>

#define AW_LSM_DENY (-EPERM)

/* Use as the first statement of every LSM program body. */
#define AW_LSM_PASS_EARLIER_DENY(ret) \
	do {                          \
		if (ret)              \
			return ret;   \
	} while (0)

#endif /* AGENTWATCH_LSM_BPF_H */
