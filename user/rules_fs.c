// SPDX-License-Identifier: Apache-2.0
/* rules explain on this machine's file system (rules_fs.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy_apply.h"
#include "policy_image.h"
#include "rules_fs.h"

struct anchor_list {
	__u32 set;
	struct {
		__u32 dev;
		__u64 ino;
		char *dir;
	} * v;
	size_t n, cap;
};

static int collect(void *ctx, __u32 set, const char *dir, __u32 dev, __u64 ino,
		   const struct aw_file_anchor *val)
{
	struct anchor_list *l = ctx;

	(void)val;
	if (set != l->set)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		void *v = realloc(l->v, cap * sizeof(*l->v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].dev = dev;
	l->v[l->n].ino = ino;
	l->v[l->n].dir = strdup(*dir ? dir : "/");
	return l->v[l->n++].dir ? 0 : -ENOMEM;
}

/*
 * `path` with the symlinks of its longest existing prefix resolved, and the rest as given:
 * the name the kernel's dentry walk gives once the file exists.
 */
static void resolve_links(const char *path, char *out, size_t size)
{
	char prefix[PATH_MAX], real[PATH_MAX];
	size_t len = strlen(path);

	snprintf(out, size, "%s", path);
	if (len >= sizeof(prefix))
		return;
	memcpy(prefix, path, len + 1);
	for (;;) {
		char *slash;

		if (realpath(prefix, real)) {
			const char *rest = path + strlen(prefix);

			snprintf(out, size, "%s%s", strcmp(real, "/") || !*rest ? real : "", rest);
			return;
		}
		slash = strrchr(prefix, '/');
		if (!slash || slash == prefix)
			return;
		*slash = '\0';
	}
}

int rules_fs__resolve(const struct policy_image *img, __u32 set, const char *path,
		      struct rules_fs_path *out)
{
	struct anchor_list l = {.set = set};
	char prefix[PATH_MAX];
	int err;

	memset(out, 0, sizeof(*out));
	resolve_links(path, out->walked, sizeof(out->walked));
	out->resolved = strcmp(out->walked, path) != 0;
	err = policy_anchor__each(img, collect, &l);
	/* the deepest proper ancestor whose inode is an anchor: the kernel keeps that hit */
	snprintf(prefix, sizeof(prefix), "%s", out->walked);
	while (!err && l.n) {
		char *slash = strrchr(prefix, '/');
		struct stat st;
		size_t i;

		if (!slash)
			break;
		*slash = '\0';
		if (stat(*prefix ? prefix : "/", &st))
			continue;
		for (i = 0; i < l.n; i++)
			if (l.v[i].ino == st.st_ino &&
			    l.v[i].dev == policy_apply__kernel_dev(st.st_dev))
				break;
		if (i == l.n) {
			if (!*prefix)
				break;
			continue;
		}
		/* the walk reached it by its own name: no alias (the kernel skips that pass) */
		if (strcmp(l.v[i].dir, *prefix ? prefix : "/")) {
			snprintf(out->via, sizeof(out->via), "%s", *prefix ? prefix : "/");
			snprintf(out->anchor, sizeof(out->anchor), "%s", l.v[i].dir);
			out->rest_len = strlen(out->walked) - strlen(prefix);
		}
		break;
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].dir);
	free(l.v);
	return err;
}
