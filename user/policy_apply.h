/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The applier: a compiled policy image (policy_image.h) into the kernel's policy maps as one
 * atomic switch (include/agentwatch/policy.h, "Generations"):
 *   1. read the active generation g from policy_config;
 *   2. write every record of the image under generation g + 1, and the file_inodes of the
 *      protected files that exist now;
 *   3. write policy_config with g + 1: from here on every decision uses the new policy;
 *   4. delete every key of generation g.
 * A failure before step 3 deletes what it wrote and leaves generation g in force: a bad or
 * half-written policy is never visible.
 *
 * The kernel side is reached through struct policy_backend, so the logic is testable without
 * a kernel; policy_backend__bpf() is the real one, over the map fds of a loaded object.
 */
#ifndef AGENTWATCH_POLICY_APPLY_H
#define AGENTWATCH_POLICY_APPLY_H

#include <stddef.h>
#include <agentwatch/policy.h>

#include "policy_image.h"

enum policy_map {
	POLICY_MAP_CONFIG,
	POLICY_MAP_OF_SLOT,
	POLICY_MAP_DEFAULTS,
	POLICY_MAP_FILE_RULES,
	POLICY_MAP_FILE_INODES,
	POLICY_MAP_NAME_GLOBS,
	POLICY_MAP_BINSETS,
	POLICY_MAP_NET_RULES,
	POLICY_MAP_FILE_ANCHORS,
	POLICY_MAP__COUNT,
};

struct policy_backend {
	/* Write one record. */
	int (*update)(struct policy_backend *b, enum policy_map map, const void *key,
		      const void *val);
	/* Make every update so far visible (a batching backend writes them here). */
	int (*flush)(struct policy_backend *b);
	/* Delete every key of `gen` from `map`; returns the number deleted or -errno. */
	int (*delete_gen)(struct policy_backend *b, enum policy_map map, __u32 gen);
	/* The active policy_config (gen 0 when no policy was ever applied). */
	int (*config)(struct policy_backend *b, struct aw_policy_config *cfg);
};

struct policy_batch {
	unsigned char *keys, *vals;
	size_t n, cap;
};

/* Updates are batched per map (BPF_MAP_UPDATE_BATCH) and written by flush. */
struct policy_backend_bpf {
	struct policy_backend ops;
	int fd[POLICY_MAP__COUNT];
	struct policy_batch batch[POLICY_MAP__COUNT];
};

/* A backend over map fds, in enum policy_map order; policy_backend__bpf_free releases it. */
void policy_backend__bpf(struct policy_backend_bpf *b, const int fd[POLICY_MAP__COUNT]);
void policy_backend__bpf_free(struct policy_backend_bpf *b);

struct policy_apply_stats {
	__u32 gen;	       /* the generation now active */
	size_t records;	       /* records written, inode entries included */
	size_t inodes;	       /* file_inodes entries from existing files */
	size_t inode_skipped;  /* files a walk left out (over the per-request bound) */
	size_t anchors;	       /* file_anchors entries (policy_anchor.c) */
	size_t anchor_skipped; /* directories left without one (over POLICY_ANCHORS_MAX) */
	size_t deleted;	       /* keys of the old generation removed */
};

/* Files one inode request may enter (a walk of a large protected tree stops there). */
#define POLICY_INODES_PER_REQ 20000
/* file_inodes entries of one generation (the map holds two); more are skipped, counted. */
#define POLICY_INODES_MAX 32768

/* file_anchors entries of one generation (the map holds two). */
#define POLICY_ANCHORS_MAX 8192

/*
 * The anchors of the directories the image's file rules name, as they exist now
 * (user/policy_anchor.c; include/agentwatch/policy.h, "Anchors"): fn is called once per
 * (set, directory inode), with the kernel's dev_t encoding; a non-zero return stops the walk.
 */
typedef int (*policy_anchor_fn)(void *ctx, __u32 set, const char *dir, __u32 dev, __u64 ino,
				const struct aw_file_anchor *val);
int policy_anchor__each(const struct policy_image *img, policy_anchor_fn fn, void *ctx);
/* Their file_anchors entries under generation `gen`, counted in st. */
int policy_anchor__write(struct policy_backend *b, const struct policy_image *img, __u32 gen,
			 struct policy_apply_stats *st);
/* The anchor value of directory `dir` (its canonical name's hash state). */
void policy_anchor__value(const char *dir, struct aw_file_anchor *a);

int policy_apply(struct policy_backend *b, const struct policy_image *img,
		 struct policy_apply_stats *st);

/* Turn every policy off: an empty generation becomes active. */
int policy_apply__clear(struct policy_backend *b, struct policy_apply_stats *st);

/* The kernel's dev_t encoding (MKDEV) of a userspace st_dev, as inode keys use it. */
__u32 policy_apply__kernel_dev(unsigned long long st_dev);

#endif /* AGENTWATCH_POLICY_APPLY_H */
