/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What `rules explain --open` learns from this machine's file system, as the kernel would when
 * the agent opens the path here: symlinks resolved (the kernel decides on the opened file's own
 * dentries), and an ancestor that is another name (bind mount, open_tree clone) of a directory
 * the rules name, found by the anchors the applier would write (include/agentwatch/policy.h,
 * "Anchors"). Paths that do not exist here are decided by name only, as given.
 */
#ifndef AGENTWATCH_RULES_FS_H
#define AGENTWATCH_RULES_FS_H

#include <limits.h>
#include <stddef.h>
#include <linux/types.h>

struct policy_image;

struct rules_fs_path {
	char walked[PATH_MAX]; /* the path the kernel's dentry walk gives */
	bool resolved;	       /* walked differs from the query: symlinks were followed */
	char via[PATH_MAX];    /* the deepest proper ancestor that is an alias, or "" */
	char anchor[PATH_MAX]; /* the canonical name of the directory via is another name of */
	size_t rest_len;       /* bytes of walked below via ("/name...") */
};

/* Fill *out for `path` (absolute) and set `set` of img; 0, or -errno (-ENOMEM). */
int rules_fs__resolve(const struct policy_image *img, __u32 set, const char *path,
		      struct rules_fs_path *out);

#endif /* AGENTWATCH_RULES_FS_H */
