// SPDX-License-Identifier: Apache-2.0
/*
 * Anchors (include/agentwatch/policy.h, "Anchors"): the directories the file rules name, by
 * identity, with the hash state of the name the rules spell them by. The kernel finds them
 * among a file's dentry ancestors, so a file made after the policy was applied and reached
 * through a bind mount or an open_tree() clone of such a directory is still decided by the
 * name the rules know.
 *
 * For each file_rules record holding a DENY or AUDIT reference: its directory (EXACT: the
 * parent of its path), or the nearest existing ancestor of it below "/", stat()ed now. "/"
 * itself is never an anchor: every walk ends there anyway. Each (set, directory) is written
 * once; the first name seen for a directory inode wins.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy_apply.h"
#include "policy_pattern.h"

/*
 * Names and inodes already handled, and names found missing, as 64-bit fingerprints in an
 * open-addressing set.
 */
struct anchor_seen {
	__u64 *slots;
	size_t cap, n;
};

/* tag: 1 a name handled for `set`, 2 a directory inode anchored for `set`, 3 a missing name */
static __u64 fingerprint(__u32 tag, __u32 set, __u64 a, __u64 b)
{
	__u64 h = aw_hash_mix((__u64)tag << 32 | set, a, b);

	return h ? h : 1; /* 0 marks an empty slot */
}

/* Insert fp; *added is false when it was there already. */
static int seen_add(struct anchor_seen *s, __u64 fp, bool *added)
{
	size_t i;

	if (2 * (s->n + 1) > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256, j;
		__u64 *slots = calloc(cap, sizeof(*slots));

		if (!slots)
			return -ENOMEM;
		for (j = 0; j < s->cap; j++) {
			if (!s->slots[j])
				continue;
			for (i = s->slots[j] & (cap - 1); slots[i]; i = (i + 1) & (cap - 1))
				;
			slots[i] = s->slots[j];
		}
		free(s->slots);
		s->slots = slots;
		s->cap = cap;
	}
	for (i = fp & (s->cap - 1); s->slots[i]; i = (i + 1) & (s->cap - 1)) {
		if (s->slots[i] == fp) {
			*added = false;
			return 0;
		}
	}
	s->slots[i] = fp;
	s->n++;
	*added = true;
	return 0;
}

static bool seen_has(const struct anchor_seen *s, __u64 fp)
{
	size_t i;

	if (!s->cap)
		return false;
	for (i = fp & (s->cap - 1); s->slots[i]; i = (i + 1) & (s->cap - 1))
		if (s->slots[i] == fp)
			return true;
	return false;
}

/* Some reference's rule decides (its verdict is DENY or AUDIT). */
static bool refs_decide(const struct policy_image *img, const struct aw_rule_ref *refs)
{
	int r;

	for (r = 0; r < AW_RULE_REFS; r++) {
		__u8 action;

		if (!refs[r].rule_id || (refs[r].flags & AW_REF_EXCEPT))
			continue;
		action = policy_image__verdict(img, refs[r].rule_id).action;
		if (action == AW_ACT_DENY || action == AW_ACT_AUDIT)
			return true;
	}
	return false;
}

static bool record_decides(const struct policy_image *img, const struct policy_file_rec *rec)
{
	int g;

	if (rec->key.kind != AW_FK_CHILD_GLOB)
		return refs_decide(img, rec->val.refs);
	for (g = 0; g < AW_NAME_GLOBS && rec->val.globs[g]; g++)
		if (rec->val.globs[g] <= img->n_globs &&
		    refs_decide(img, img->globs[rec->val.globs[g] - 1].refs))
			return true;
	return false;
}

void policy_anchor__value(const char *dir, struct aw_file_anchor *a)
{
	__u64 h = AW_FNV_OFFSET;
	const char *p;

	memset(a, 0, sizeof(*a));
	for (p = dir; *p; p++) {
		if (*p == '/') {
			if (a->ndirs < AW_POLICY_LEVELS)
				a->dirs[a->ndirs] = h;
			a->ndirs++;
		}
		h = aw_fnv1a_step(h, (__u8)*p);
	}
	a->h = h;
}

struct anchor_walk {
	struct anchor_seen seen;
	policy_anchor_fn fn;
	void *ctx;
};

/* Hand the anchor of `dir` (or of its nearest existing ancestor) for `set` to fn. */
static int anchor_dir(struct anchor_walk *w, __u32 set, char *dir)
{
	struct aw_file_anchor val;
	struct stat sb;
	bool added;
	char *slash;
	int err;

	while (dir[0]) {
		bool parent_missing = false;

		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			__u64 parent;

			*slash = '\0';
			parent = policy_hash__str(dir);
			*slash = '/';
			parent_missing = seen_has(&w->seen, fingerprint(3, 0, parent, 0));
			/* missing too, and what is above it was handled: the common case of many
			 * rules under one missing tree, without a stat() or an insertion each */
			if (parent_missing && seen_has(&w->seen, fingerprint(1, set, parent, 0)))
				return 0;
		}
		err = seen_add(&w->seen, fingerprint(1, set, policy_hash__str(dir), 0), &added);
		if (err || !added)
			return err; /* this name (and so its ancestors) was handled */
		/* Below a directory found missing: no stat() */
		if (!parent_missing) {
			if (stat(dir, &sb) == 0)
				break;
			if (errno != ENOENT && errno != ENOTDIR)
				return 0; /* unreadable: the name alone still matches */
		}
		err = seen_add(&w->seen, fingerprint(3, 0, policy_hash__str(dir), 0), &added);
		if (err || !slash)
			return err;
		*slash = '\0';
	}
	if (!dir[0] || !S_ISDIR(sb.st_mode))
		return 0;
	err = seen_add(&w->seen, fingerprint(2, set, sb.st_ino, sb.st_dev), &added);
	if (err || !added)
		return err;
	policy_anchor__value(dir, &val);
	if (val.ndirs > AW_PATH_DEPTH)
		return 0; /* deeper than the kernel's walk keeps */
	return w->fn(w->ctx, set, dir, policy_apply__kernel_dev(sb.st_dev), sb.st_ino, &val);
}

int policy_anchor__each(const struct policy_image *img, policy_anchor_fn fn, void *ctx)
{
	struct anchor_walk w = {.fn = fn, .ctx = ctx};
	char dir[PATH_MAX];
	size_t i;
	int err = 0;

	for (i = 0; !err && i < img->n_files; i++) {
		const struct policy_file_rec *rec = &img->files[i];
		char *slash;

		if (!rec->dir || !record_decides(img, rec))
			continue;
		if (strlen(rec->dir) >= sizeof(dir))
			continue;
		strcpy(dir, rec->dir);
		if (rec->key.kind == AW_FK_EXACT) {
			slash = strrchr(dir, '/');
			if (!slash)
				continue;
			*slash = '\0';
		}
		if (dir[0] != '/')
			continue; /* "" is the root: never an anchor */
		err = anchor_dir(&w, rec->key.set, dir);
	}
	free(w.seen.slots);
	return err;
}

struct anchor_writer {
	struct policy_backend *b;
	struct policy_apply_stats *st;
};

static int write_anchor(void *ctx, __u32 set, const char *dir, __u32 dev, __u64 ino,
			const struct aw_file_anchor *val)
{
	struct anchor_writer *w = ctx;
	/* no bank: the applier writes the record into the bank it brings up to date */
	struct aw_inode_key key = {.set = set, .ino = ino, .dev = dev};
	int err;

	if (w->st->anchors >= POLICY_ANCHORS_MAX) {
		w->st->anchor_skipped++;
		return 0;
	}
	err = w->b->update(w->b, POLICY_MAP_FILE_ANCHORS, &key, val);
	if (!err)
		w->st->anchors++;
	return err;
}

int policy_anchor__write(struct policy_backend *b, const struct policy_image *img,
			 struct policy_apply_stats *st)
{
	struct anchor_writer w = {.b = b, .st = st};

	return policy_anchor__each(img, write_anchor, &w);
}
