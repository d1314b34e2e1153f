/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the running kernel lets agentwatch do, found by probing for real: tiny BPF programs are
 * loaded, attached and triggered (user/probe.c), and system facts are read from /proc and /sys.
 * `agentwatch doctor` prints this; the loaders use the same answers to choose programs, so what
 * doctor says is what `run` and `exec` do.
 */
#ifndef AGENTWATCH_FEATURES_H
#define AGENTWATCH_FEATURES_H

#include <stdbool.h>
#include <linux/capability.h>
#include <linux/types.h>

#include "cgroup.h"

/* Probe ids double as the stable keys of doctor's JSON "probes" object. */
#define AW_PROBES(X)                                                                            \
	X(BTF, "btf", "kernel BTF at /sys/kernel/btf/vmlinux")                                  \
	X(BPFFS, "bpffs", "bpffs mounted at /sys/fs/bpf")                                       \
	X(RINGBUF, "ringbuf", "BPF ring buffer: records reserved in a program reach userspace") \
	X(TP_BTF, "tp_btf", "tp_btf program attached to sys_enter and fired")                   \
	X(RAW_TP, "raw_tracepoint", "raw tracepoint attached to sys_enter and fired")           \
	X(CGROUP_SOCK_ADDR, "cgroup_sock_addr",                                                 \
	  "cgroup/connect4 attached to a cgroup and denied a connect")                          \
	X(CGROUP_CONNECT6, "cgroup_connect6", "cgroup/connect6 loads")                          \
	X(CGROUP_SOCK_OPS, "cgroup_sock_ops",                                                   \
	  "cgroup sock_ops attached to a cgroup and saw a TCP listen")                          \
	X(LSM_LOAD, "lsm_load", "a BPF-LSM program (file_open) loads and attaches")             \
	X(LSM_ENFORCE, "lsm_enforce", "a BPF-LSM program denied a file open with EPERM")        \
	X(LSM_BPRM, "lsm_bprm_check", "lsm/bprm_check_security loads and attaches")             \
	X(LSM_SOCKET_CONNECT, "lsm_socket_connect", "lsm/socket_connect loads and attaches")    \
	X(D_PATH, "bpf_d_path", "bpf_d_path from lsm/file_open loads")                          \
	X(SEND_SIGNAL, "bpf_send_signal", "bpf_send_signal from a raw tracepoint loads")

#define AW_PROBE_ENUM(id, key, what) AW_PROBE_##id,
enum aw_probe_id { AW_PROBES(AW_PROBE_ENUM) AW_PROBE__COUNT };
#undef AW_PROBE_ENUM

struct aw_probe_result {
	bool ok;
	int err;	  /* -errno of the step that failed, 0 when ok */
	char detail[160]; /* which step failed and why, or what was observed */
};

/* Enforcement levels, weakest first. Their names appear in events and in doctor. */
enum aw_level {
	AW_LEVEL_UNAVAILABLE,
	AW_LEVEL_AUDIT,	 /* observed only */
	AW_LEVEL_KILL,	 /* SIGKILL from a tracepoint: cannot guarantee the syscall did not run */
	AW_LEVEL_CGROUP, /* cgroup socket hooks: the syscall fails with EPERM */
	AW_LEVEL_LSM,	 /* BPF-LSM on the kernel object: the syscall fails with EPERM */
};

struct aw_capabilities {
	enum aw_level file;
	enum aw_level exec;
	enum aw_level network;
	bool syscall_observation;
	bool inbound_tcp; /* TCP listen and accept events (cgroup sock_ops) */
	bool event_transport;
};

struct aw_features {
	char release[65];
	char machine[65];
	struct cgroup_mounts cgroups;
	/* Active LSM list, as the kernel reports it, and where it came from. */
	bool lsm_known;
	char lsm_list[256];
	const char *lsm_source; /* "securityfs", "cmdline" or "unknown" */
	bool bpf_in_lsm_list;
	int config_bpf_lsm; /* 1 = y, 0 = not set, -1 = kernel config not readable */
	__u64 cap_eff;
	struct aw_probe_result probes[AW_PROBE__COUNT];
};

/*
 * Make sure tracefs is mounted at /sys/kernel/tracing, where libbpf looks up tracepoint ids;
 * mounts it when missing (root only). Returns 0 or -errno.
 */
int features__ensure_tracefs(void);

/* The same for bpffs at /sys/fs/bpf, where counters and enforcement maps are pinned. */
int features__ensure_bpffs(void);

/* Fill everything: system facts, then every BPF probe. Never fails; failures are results. */
void features__probe(struct aw_features *f);
/* Only the system facts (no BPF); used by unit tests and by features__probe. */
void features__read_system(struct aw_features *f);
/* Run the BPF probes (user/probe.c). */
void probe__run_all(struct aw_features *f);

void features__capabilities(const struct aw_features *f, struct aw_capabilities *caps);
/* True when file, exec and network enforcement, syscall observation and transport all work. */
bool features__full_enforcement(const struct aw_capabilities *caps);

const char *aw_level__name(enum aw_level level);
const char *aw_probe__key(enum aw_probe_id probe);
const char *aw_probe__what(enum aw_probe_id probe);

/* Does a comma-separated LSM list (as in /sys/kernel/security/lsm) contain `name`? */
bool lsm_list__contains(const char *list, const char *name);

static inline bool features__has_cap(const struct aw_features *f, int cap)
{
	return f->cap_eff & (1ULL << cap);
}

#endif /* AGENTWATCH_FEATURES_H */
