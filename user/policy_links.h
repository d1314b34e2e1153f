/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The link inventory: every regular file with more than one name (st_nlink > 1) below the
 * directories the applier asks for, as (dev, ino, path). Only such a file can be reached under
 * a name other than the one a rule matches: a file with one link is matched by that name (and
 * through bind mounts, chroots and namespaces by anchors). The applier gives the multi-link
 * files that an any-depth deny rule (AW_FK_UNDER_*) names an inode entry, so that a hard link
 * made before the policy was applied, under a name no rule covers, is still refused
 * (include/agentwatch/policy.h, "Protected files are matched by identity too").
 *
 * A walk: lstat() every entry, never follow a symlink; descend into mounts, except pseudo
 * file systems (policy_links__pseudo_fs: proc, sysfs, cgroup, ...); skip a directory that is
 * its own ancestor (a bind mount loop); at most POLICY_LINKS_DEPTH levels. Bounded per
 * inventory: POLICY_LINKS_VISIT_MAX entries visited and POLICY_LINKS_FILES_MAX files kept;
 * past either the inventory is `truncated` (reported; paths still match by name).
 *
 * Cache: a root is walked once per inventory (per process: the applier's backend owns one), and
 * a root below one already walked is not walked again, so a reload walks nothing new unless
 * its rules name a new root. Links made after a walk are not seen until the next start.
 *
 * Scope (`agentwatch exec|run --link-scan DIR`, config `linkScan:`): by default a root is
 * walked whole. With a scope, only where the root and a scope directory meet (the deeper of
 * the two, when one is at or below the other); an empty scope (`none`) walks nothing.
 */
#ifndef AGENTWATCH_POLICY_LINKS_H
#define AGENTWATCH_POLICY_LINKS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define POLICY_LINKS_VISIT_MAX 2000000 /* entries one inventory visits, all walks together */
#define POLICY_LINKS_FILES_MAX 100000  /* multi-link files it keeps */
#define POLICY_LINKS_DEPTH     64      /* directory levels below a root */
#define POLICY_LINKS_SCOPE_MAX 16      /* --link-scan directories */

struct policy_link_file {
	unsigned long long dev; /* st_dev */
	__u64 ino;
	char *path;  /* absolute, as the walk reached it */
	size_t base; /* offset of the last component in path */
};

struct policy_links {
	struct policy_link_file *files;
	size_t n, cap;
	char **roots; /* walked: no root at or below one of these is walked again */
	size_t n_roots, cap_roots;
	char **asked; /* every root policy_links__cover was given (a hash set): covered already */
	size_t n_asked, cap_asked;
	/* files[] indexes by name and by reversed name (policy_links__named), valid when
	 * indexed == n */
	size_t *by_name, *by_rname, indexed;
	bool scoped; /* walk only within scope[] (none when n_scope is 0) */
	char **scope;
	size_t n_scope;
	size_t visit_max, files_max; /* the bounds (POLICY_LINKS_*; tests lower them) */
	/* what the walks did, since the inventory was made: */
	size_t visited;	   /* directory entries visited */
	bool truncated;	   /* a bound was reached: some files were left out */
	unsigned walks;	   /* roots walked */
	double walk_ms;	   /* their time (CLOCK_MONOTONIC) */
	size_t skipped_fs; /* pseudo file system mounts not entered */
};

/* The scope as an operator gives it: --link-scan DIR (repeatable) or none, config linkScan:. */
struct policy_link_scan {
	bool set;  /* given: walk only within dirs[] */
	bool none; /* `none`: walk nothing (n is 0) */
	int n;
	const char *dirs[POLICY_LINKS_SCOPE_MAX]; /* absolute; the caller owns the strings */
};

/*
 * Add one value: `none` or an absolute directory. -EINVAL (`none` among directories, a
 * relative path) or -E2BIG (more than POLICY_LINKS_SCOPE_MAX), with a message in err.
 */
int policy_link_scan__add(struct policy_link_scan *s, const char *arg, char *err, size_t errlen);

/* A new, empty inventory with the default bounds and no scope (NULL: out of memory). */
struct policy_links *policy_links__new(void);
void policy_links__free(struct policy_links *l);
/*
 * Restrict the walks to these absolute directories (n == 0: walk nothing). -EINVAL for a
 * relative path, -E2BIG beyond POLICY_LINKS_SCOPE_MAX. Call before the first walk.
 */
int policy_links__set_scope(struct policy_links *l, const char *const *dirs, int n);
/*
 * Make sure the files below `root` ("" or "/": the whole tree) that the scope allows are in
 * the inventory: walk what no earlier walk covered. Returns 0 or -errno (out of memory); a
 * directory that cannot be read is left out silently.
 */
int policy_links__cover(struct policy_links *l, const char *root);
/* policy_links__cover(root) was called before: it has nothing left to do (a hash lookup). */
bool policy_links__asked(const struct policy_links *l, const char *root);
/*
 * The files whose name is `name` (AW_FK_UNDER_NAME), starts with it (UNDER_PREFIX) or ends with
 * it (UNDER_SUFFIX): *first points at n indexes into files[]. O(log n) (an index sorted by
 * name, built once after the walks). Returns n, or -ENOMEM.
 */
long policy_links__named(struct policy_links *l, int kind, const char *name, const size_t **first);
/* `path` is `dir` or below it ("" and "/" hold everything). */
bool policy_links__below(const char *path, const char *dir);
/* A file system the walks do not enter (statfs f_type: proc, sysfs, cgroup, devpts, ...). */
bool policy_links__pseudo_fs(long f_type);

#endif /* AGENTWATCH_POLICY_LINKS_H */
