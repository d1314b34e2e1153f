/* SPDX-License-Identifier: (GPL-2.0 OR Apache-2.0) */
/*
 * The ring-buffer records that BPF programs send to userspace. Shared by bpf/ and user/.
 *
 * Every record starts with struct aw_event_hdr; `size` is the whole record, header included,
 * so a reader can skip a type it does not know. Variable-length strings (paths, argv) are
 * appended after the fixed part and located by (offset, length) pairs relative to the record
 * start; a length never counts a terminating NUL and strings are not NUL-terminated on the wire.
 *
 *  offset 0        1        2                 4                                 8
 *         +--------+--------+-----------------+---------------------------------+
 *       0 | version|  type  |      size       |  flags (AW_EVF_*)               |
 *         +--------+--------+-----------------+---------------------------------+
 *       8 |                    ktime_ns (bpf_ktime_get_boot_ns)                  |
 *         +----------------------------------------------------------------------+
 *      16 | struct aw_task: pid, tgid, ppid, uid, gid, agent_slot, cgroup_id,     |
 *         |                 exec_id, comm[16]                        (56 bytes)  |
 *         +----------------------------------------------------------------------+
 *      72 | type-specific fixed part (struct aw_<type>_event minus the above)    |
 *         +----------------------------------------------------------------------+
 *         | strings, packed, each at its (offset, len)                           |
 *         +----------------------------------------------------------------------+
 *
 * Only fixed-width integer types and arrays: the same bytes are read by the BPF side and by
 * userspace. Each struct has a size assertion that both compilers check.
 */
#ifndef AGENTWATCH_EVENT_H
#define AGENTWATCH_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define AW_EVENT_VERSION 1

enum {
	AW_EV_EXEC = 1,
	AW_EV_FORK = 2,
	AW_EV_EXIT = 3,
	AW_EV_FILE_OPEN = 4,
	AW_EV_NET = 5,
	AW_EV_SYSCALL = 6,
	AW_EV_CGROUP_MKDIR = 7,
	AW_EV__MAX,
};

/* aw_event_hdr.flags */
#define AW_EVF_TRUNCATED (1U << 0) /* a string was cut to fit its bound */
#define AW_EVF_DENIED	 (1U << 1) /* the kernel refused the operation (disposition: blocked) */
#define AW_EVF_AUDIT	 (1U << 2) /* a rule matched in audit mode (would have been blocked) */
#define AW_EVF_KILLED	 (1U << 3) /* no way to refuse here: the task was sent SIGKILL instead */

struct aw_event_hdr {
	__u8 version;
	__u8 type;
	__u16 size;
	__u32 flags;
	__u64 ktime_ns;
};
_Static_assert(sizeof(struct aw_event_hdr) == 16, "aw_event_hdr wire size");

#define AW_COMM_LEN 16

/* Who did it. agent_slot indexes the agent table (include/agentwatch/agent.h); 0 = no agent. */
struct aw_task {
	__u32 pid;  /* thread id */
	__u32 tgid; /* process id */
	__u32 ppid; /* tgid of the real parent; 0 where the hook cannot read it (socket hooks) */
	__u32 uid;
	__u32 gid;
	__u32 agent_slot;
	__u64 cgroup_id;
	__u64 exec_id; /* this process instance's id (AW_EXEC_ID; see aw_exec_event) */
	char comm[AW_COMM_LEN];
};
_Static_assert(sizeof(struct aw_task) == 56, "aw_task wire size");

/* A string appended after the fixed part. */
struct aw_str {
	__u16 off; /* from the start of the record */
	__u16 len;
};

/*
 * exec: the binary is resolved from the kernel's struct file of the new image, never argv[0].
 * exec_id names one process image and is unique per node (AW_EXEC_ID): the boot-time clock of the
 * exec or fork in ~µs, with the tgid in the low 22 bits; one tgid cannot exec twice within the
 * same microsecond. A fork gets a fresh id too, whose parent_exec_id is the forking process's.
 */
#define AW_EXEC_ID(boot_ns, tgid) ((((__u64)(boot_ns) >> 10) << 22) | ((tgid)&0x3fffff))
struct aw_exec_event {
	struct aw_event_hdr hdr;
	struct aw_task task;
	__u64 parent_exec_id;
	__u64 ino;
	__u32 dev; /* kernel dev_t encoding (MKDEV) */
	__u32 argc;
	struct aw_str path; /* canonical binary path */
	struct aw_str argv; /* NUL-separated arguments, bounded by AW_ARGV_MAX */
	struct aw_str cwd;
	__u32 rule_id; /* the deciding rule of a refused or reported exec, 0 when none */
};
_Static_assert(sizeof(struct aw_exec_event) == 112, "aw_exec_event wire size");

struct aw_fork_event {
	struct aw_event_hdr hdr;
	struct aw_task task; /* the new child */
	__u32 parent_pid;
	__u32 parent_tgid;
	__u32 clone_thread; /* 1 for a new thread in an existing process */
	__u32 pad;
};
_Static_assert(sizeof(struct aw_fork_event) == 88, "aw_fork_event wire size");

struct aw_exit_event {
	struct aw_event_hdr hdr;
	struct aw_task task;
	__u32 exit_code; /* task->exit_code: (status << 8) | signal, as wait(2) sees it */
	__u32 pad;
};
_Static_assert(sizeof(struct aw_exit_event) == 80, "aw_exit_event wire size");

/* aw_file_event.access */
#define AW_ACC_READ   (1U << 0)
#define AW_ACC_WRITE  (1U << 1)
#define AW_ACC_CREATE (1U << 2)
#define AW_ACC_TRUNC  (1U << 3)
#define AW_ACC_EXEC   (1U << 4)

/* Where a record was produced, which also says how strong a deny there could be. */
enum {
	AW_SRC_TRACEPOINT = 1, /* syscall exit tracepoint; path from the fd's struct file */
	AW_SRC_LSM = 2,	       /* BPF-LSM hook on the kernel object */
	AW_SRC_CGROUP = 3,     /* cgroup socket hook */
	AW_SRC_SOCK_OPS = 4,   /* cgroup sock_ops program: TCP listen and accept, observed only */
};

struct aw_file_event {
	struct aw_event_hdr hdr;
	struct aw_task task;
	__u64 ino;
	__u32 dev;    /* kernel dev_t encoding (MKDEV) */
	__u32 access; /* AW_ACC_* */
	__u32 flags;  /* open(2) flags as the kernel saw them (f_flags) */
	__s32 ret;    /* fd or -errno of the open; 0 from an LSM hook that allowed it */
	__u8 source;  /* AW_SRC_* */
	__u8 pad[3];
	struct aw_str
		path;  /* canonical path from struct path: symlinks, .. and fd re-opens resolved */
	__u32 rule_id; /* the deciding rule, 0 when none */
	__u32 pad2;
};
_Static_assert(sizeof(struct aw_file_event) == 112, "aw_file_event wire size");

enum {
	AW_NET_CONNECT = 1,
	AW_NET_SENDMSG = 2,
	AW_NET_BIND = 3,
	AW_NET_LISTEN = 4,
	AW_NET_ACCEPT = 5,
};

/*
 * Addresses as the hook saw them. daddr/dport is always the address the syscall named: the
 * peer for connect and sendmsg, the local address for bind. saddr/sport is the socket's local
 * side where the hook knows it (0 from the cgroup connect/sendmsg hooks, which run before the
 * kernel picks a source address).
 *
 * listen and accept (source AW_SRC_SOCK_OPS, bpf/observe_listen.bpf.h): saddr/sport is the
 * listening or accepted socket's local address, daddr/dport the accepted peer (0 for listen).
 * An accept's task is the process that listened, as it was at listen(2); pid, tgid and comm
 * are 0 when the listener began before its agent was watched.
 */
struct aw_net_event {
	struct aw_event_hdr hdr;
	struct aw_task task;
	__u8 op;	/* AW_NET_* */
	__u8 family;	/* AF_INET or AF_INET6 after unmapping: a v4-mapped v6 address is AF_INET */
	__u8 proto;	/* IPPROTO_TCP / IPPROTO_UDP */
	__u8 source;	/* AW_SRC_* */
	__u16 sport;	/* host byte order */
	__u16 dport;	/* host byte order */
	__u8 saddr[16]; /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__s32 ret;
	__u32 rule_id;
};
_Static_assert(sizeof(struct aw_net_event) == 120, "aw_net_event wire size");

struct aw_syscall_event {
	struct aw_event_hdr hdr;
	struct aw_task task;
	__u32 nr;      /* syscall number of the kernel's native ABI */
	__u32 rule_id; /* AW_RULE_SYSCALL_CLASS of a denied class, 0 when only observed */
	__u64 args[3];
};
_Static_assert(sizeof(struct aw_syscall_event) == 104, "aw_syscall_event wire size");

/*
 * A cgroup was made whose path starts with one of the daemon's selector prefixes, or under a
 * watched cgroup (then it is already attributed: task.agent_slot is its agent's). Emitted before
 * any process can enter it, so the daemon decides about it before it sees the first process's
 * events. `path` is relative to the cgroup v2 root, as the kernel names it.
 */
struct aw_cgroup_event {
	struct aw_event_hdr hdr;
	struct aw_task task; /* who ran mkdir */
	__u64 new_cgroup_id;
	__u64 parent_cgroup_id;
	__u32 level;
	__u32 inherited; /* 1 when the parent was watched and the kernel attributed it already */
	struct aw_str path;
	__u32 pad;
};
_Static_assert(sizeof(struct aw_cgroup_event) == 104, "aw_cgroup_event wire size");

/* Bounds on the strings a record carries. */
#define AW_PATH_DEPTH 48 /* path components walked from a dentry; deeper paths are cut at the top */
#define AW_PATH_MAX   4096
#define AW_ARGV_MAX   1024
#define AW_CWD_MAX    1024

/* Ring-buffer drop reasons, counted per CPU (map `drops_by_reason`). */
enum {
	AW_DROP_RINGBUF_FULL = 0, /* reserve/output failed: the consumer is behind */
	AW_DROP_SCRATCH = 1,	  /* no per-CPU scratch buffer */
	AW_DROP__MAX,
};

#endif /* AGENTWATCH_EVENT_H */
