/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * The query that tests hand to bpf/policy_test.bpf.c through BPF_PROG_TEST_RUN: the real kernel
 * matcher (bpf/policy_match.bpf.h) decides it against whatever the policy maps hold, and writes
 * its decision back into the same struct.
 */
#ifndef AGENTWATCH_POLICY_TEST_H
#define AGENTWATCH_POLICY_TEST_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/*
 * Entries of the policy_query map. The untimed program decides entry 0; the timed one cycles
 * through the first `timed_queries` entries (a variable of the program), one per run, so that
 * a benchmark's repeated runs do not all hit the same cache lines.
 */
#define AW_POLICY_TEST_QUERIES 256

enum {
	AW_QUERY_PATH = 0, /* file or exec access to `path` (and inode dev/ino if non-zero) */
	AW_QUERY_NET = 1,  /* egress to addr/port/proto */
};

struct aw_policy_query {
	/* in */
	__u32 slot;   /* agent slot: policy_of_slot picks its set */
	__u32 kind;   /* AW_QUERY_* */
	__u32 access; /* AW_ACC_* requested */
	__u32 list;   /* 0 files, 1 exec: which default posture applies */
	__u32 dev;
	__u32 path_len;
	__u64 ino;
	__u64 exe_hash; /* H(executable path) of the task asking */
	__u8 addr[16];	/* IPv4 as ::ffff:a.b.c.d */
	__u16 port;
	__u8 proto; /* AW_PROTO_TCP or AW_PROTO_UDP; AW_PROTO_ANY: a raw socket (AW_PORT_ANY) */
	__u8 pad;
	/* out */
	__u32 applied; /* 0 when no policy applies to the slot */
	__u32 action;  /* AW_ACT_* */
	__u32 audit_mode;
	__u32 rule_id;
	__u32 pad2;
	char path[4096]; /* canonical path, path_len bytes, no NUL needed */
	/* in: the path reached through an alias of an anchored directory (policy.h, "Anchors"):
	 * its last anchor_len bytes ("/rest") lie below the directory (anchor_dev, anchor_ino);
	 * anchor_len 0: no anchor */
	__u32 anchor_len;
	__u32 anchor_dev;
	__u64 anchor_ino;
};
_Static_assert(sizeof(struct aw_policy_query) == 4192, "aw_policy_query wire size");

#endif /* AGENTWATCH_POLICY_TEST_H */
