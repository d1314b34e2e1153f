/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cgroup v2 discovery. Agents are cgroup v2 subtrees, so everything starts from where the v2
 * hierarchy is mounted: /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid ones.
 */
#ifndef AGENTWATCH_CGROUP_H
#define AGENTWATCH_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>

#define CGROUP_MAX_MOUNTS 8

struct cgroup_mounts {
	int n_v2;
	char v2[CGROUP_MAX_MOUNTS][PATH_MAX]; /* cgroup2 mount points, in mountinfo order */
	bool v1;			      /* some cgroup v1 hierarchy is mounted too */
};

/* Parse a mountinfo stream (proc(5) format). Returns 0 or -errno. */
int cgroup__parse_mountinfo(FILE *f, struct cgroup_mounts *m);
/* Same, for /proc/self/mountinfo. */
int cgroup__find_mounts(struct cgroup_mounts *m);
/* "unified", "hybrid", "legacy" (v1 only) or "none". */
const char *cgroup__layout(const struct cgroup_mounts *m);

/* The 64-bit cgroup id of a cgroup v2 directory (what bpf_get_current_cgroup_id returns). */
int cgroup__id(const char *path, __u64 *id);
/* mkdir -p of a cgroup directory under a cgroup2 mount. */
int cgroup__mkdir_p(const char *path);
/* Move the calling process into the cgroup at `path`. */
int cgroup__enter(const char *path);
/* SIGKILL every process in the cgroup subtree (cgroup.kill where the kernel has it). */
int cgroup__kill_all(const char *path);
/* Remove a cgroup subtree once it is empty, waiting up to timeout_ms for killed tasks to go. */
int cgroup__remove(const char *path, int timeout_ms);

#endif /* AGENTWATCH_CGROUP_H */
