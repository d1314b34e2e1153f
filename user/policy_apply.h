/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The applier: a compiled policy image (policy_image.h) into the kernel's policy maps as one
 * atomic switch (include/agentwatch/policy.h, "Generations"). The maps hold two banks; keys carry
 * AW_POLICY_BANK(generation), and between reloads both banks hold the policy in force.
 *   1. read the active generation g from policy_config; g + 1 uses the other bank;
 *   2. write into that bank only what differs from what it holds (changed or new records,
 *      deleted ones; rule_verdicts, an array, gets a zero verdict for a deleted one: policy.h,
 *      "Verdicts"). Records found on the live file system are staged afresh on every apply
 *      and compared like the others: the file_inodes of the protected files that exist now
 *      and the file_anchors of the directories the rules name (policy_anchor.c);
 *   3. write policy_config with g + 1: from here on every decision uses the new policy
 *      (the reload latency ends here);
 *   4. wait for an RCU grace period (no BPF program still runs on g), then bring g's bank to
 *      the new image too, so that the next reload again writes only its differences.
 * A failure before step 3 leaves generation g in force: a bad or half-written policy is never
 * visible. The bank it left behind is re-read from the kernel by the next apply.
 *
 * The kernel side is reached through struct policy_backend, so the logic is testable without
 * a kernel; policy_backend__bpf() is the real one, over the map fds of a loaded object.
 */
#ifndef AGENTWATCH_POLICY_APPLY_H
#define AGENTWATCH_POLICY_APPLY_H

#include <stdbool.h>
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
	POLICY_MAP_RULE_VERDICTS, /* an ARRAY: the key is an index whose bank part is the gen */
	POLICY_MAP__COUNT,
};

struct policy_links;

struct policy_backend {
	/*
	 * The link inventory (policy_links.h) the UNDER_* inode requests are resolved from, kept
	 * across applies so that a reload walks nothing it walked before. NULL: every apply walks
	 * afresh (policy_backend__bpf makes one; policy_backend__set_link_scan sets its scope).
	 */
	struct policy_links *links;
	/* Stage one record of the image being applied (the key's generation field is ignored). */
	int (*update)(struct policy_backend *b, enum policy_map map, const void *key,
		      const void *val);
	/*
	 * Make the bank of generation `gen` hold exactly the staged records, writing only the
	 * differences. `was_active`: BPF programs may have written into that bank. Adds the
	 * records written and deleted to *written and *deleted.
	 */
	int (*write_bank)(struct policy_backend *b, __u32 gen, bool was_active, size_t *written,
			  size_t *deleted);
	/* Write policy_config: the switch. */
	int (*set_config)(struct policy_backend *b, const struct aw_policy_config *cfg);
	/* Wait until no BPF program still runs with a policy_config read before the switch. */
	int (*wait_readers)(struct policy_backend *b);
	/* The staged records are in force (true) or abandoned (false); staging starts afresh. */
	void (*commit)(struct policy_backend *b, bool in_force);
	/* The active policy_config (gen 0 when no policy was ever applied). */
	int (*config)(struct policy_backend *b, struct aw_policy_config *cfg);
};

/* Records of one map in the order staged (key size + value size each), generation zeroed. */
struct policy_records {
	unsigned char *recs;
	size_t n, cap;
};

/*
 * What a bank holds: its records, one per key, in the order they were staged (so that a new
 * image of the same policy compares in lockstep, without a lookup per record), and an index by
 * key (open addressing) for the records that moved.
 */
struct policy_table {
	struct policy_records r;
	__u32 *slots;	     /* index + 1 into r, 0 = empty */
	unsigned char *seen; /* per record, during a comparison */
	size_t cap, seen_cap;
};

/* What a bank is known to hold. */
enum policy_bank_state {
	POLICY_BANK_UNKNOWN, /* re-read it from the kernel before writing it */
	POLICY_BANK_CURRENT, /* the records in force (`current`) */
	POLICY_BANK_STAGED,  /* the staged records */
};

/* Keys and values waiting for one BPF_MAP_*_BATCH call (capacities in bytes). */
struct policy_batch {
	unsigned char *keys, *vals;
	size_t n, key_cap, val_cap;
};

/*
 * The BPF backend keeps the records in force (by key) and the staged ones per map, so that a
 * bank is brought to a new image by writing only the differences (BPF_MAP_UPDATE_BATCH and
 * BPF_MAP_DELETE_BATCH per map; one syscall per record for the LPM trie, which has no batch
 * operations; zero values written in a batch for the rule_verdicts array, which has no delete).
 */
struct policy_backend_bpf {
	struct policy_backend ops;
	int fd[POLICY_MAP__COUNT];
	struct policy_table current[POLICY_MAP__COUNT];
	struct policy_records staged[POLICY_MAP__COUNT];
	enum policy_bank_state bank[2];
	struct policy_batch puts, dels;
	int rcu_outer, rcu_inner; /* an ARRAY_OF_MAPS whose update waits for a grace period */
};

/*
 * A backend over map fds, in enum policy_map order, with a link inventory of its own;
 * policy_backend__bpf_free releases both.
 */
void policy_backend__bpf(struct policy_backend_bpf *b, const int fd[POLICY_MAP__COUNT]);
void policy_backend__bpf_free(struct policy_backend_bpf *b);
/*
 * Walk for multi-link files only within these absolute directories (n == 0: nowhere), instead
 * of the whole directories the UNDER_* rules name (policy_links__set_scope: -EINVAL, -E2BIG).
 * Call before the first apply.
 */
int policy_backend__set_link_scan(struct policy_backend *b, const char *const *dirs, int n);

struct policy_apply_stats {
	__u32 gen;	       /* the generation now active */
	size_t records;	       /* records staged, inode and anchor entries included */
	size_t inodes;	       /* file_inodes entries from existing files */
	size_t inode_skipped;  /* files a walk left out (over the per-request bound) */
	size_t anchors;	       /* file_anchors entries of existing directories */
	size_t anchor_skipped; /* directories left without one (over POLICY_ANCHORS_MAX) */
	size_t written;	       /* records written to reach the new generation (its differences) */
	size_t deleted;	       /* records deleted to reach it */
	/* Milliseconds (CLOCK_MONOTONIC) from the call: */
	double staged_ms; /* records staged, protected files and anchored directories stat()ed */
	double switch_ms; /* the new generation in force: the reload latency */
	double total_ms;  /* the old bank brought to the new image too (after the switch) */
	size_t synced;	  /* records written or deleted in the old bank after the switch */
	/* The link inventory (policy_links.h) UNDER_* requests are resolved from: */
	size_t link_files;	  /* multi-link files it holds (all walks so far) */
	size_t links_protected;	  /* file_inodes entries written for them */
	bool link_walk_truncated; /* a bound of the inventory was reached (some files left out) */
	unsigned link_walks;	  /* roots walked by this apply (0: all cached, or none needed) */
	size_t link_visited;	  /* directory entries those walks visited */
	double link_walk_ms;	  /* their time */
};

/* Files one inode request may enter (a walk of a large protected tree stops there). */
#define POLICY_INODES_PER_REQ 20000
/* file_inodes entries of one generation (the map holds two); more are skipped, counted. */
#define POLICY_INODES_MAX 32768

/* file_anchors entries of one generation (the map holds two); more are skipped, counted. */
#define POLICY_ANCHORS_MAX 8192

/*
 * The anchors of the directories the image's file rules name, as they exist now
 * (user/policy_anchor.c; include/agentwatch/policy.h, "Anchors"): fn is called once per
 * (set, directory inode), with the kernel's dev_t encoding; a non-zero return stops the walk.
 */
typedef int (*policy_anchor_fn)(void *ctx, __u32 set, const char *dir, __u32 dev, __u64 ino,
				const struct aw_file_anchor *val);
int policy_anchor__each(const struct policy_image *img, policy_anchor_fn fn, void *ctx);
/*
 * Stage their file_anchors entries (b->update; the applier puts them into a bank like every
 * other record), counted in st->anchors and st->anchor_skipped.
 */
int policy_anchor__write(struct policy_backend *b, const struct policy_image *img,
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
