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

#endif /* AGENTWATCH_CGROUP_H */
