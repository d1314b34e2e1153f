// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "clock.h"
#include "log.h"
#include "policy_apply.h"
#include "policy_links.h"
#include "policy_pattern.h"

/* --- the BPF backend ------------------------------------------------------------------------ */

static const char *const map_names[POLICY_MAP__COUNT] = {
	[POLICY_MAP_CONFIG] = "policy_config",	    [POLICY_MAP_OF_SLOT] = "policy_of_slot",
	[POLICY_MAP_DEFAULTS] = "policy_defaults",  [POLICY_MAP_FILE_RULES] = "file_rules",
	[POLICY_MAP_FILE_INODES] = "file_inodes",   [POLICY_MAP_NAME_GLOBS] = "name_globs",
	[POLICY_MAP_BINSETS] = "binsets",	    [POLICY_MAP_NET_RULES] = "net_rules",
	[POLICY_MAP_FILE_ANCHORS] = "file_anchors", [POLICY_MAP_RULE_VERDICTS] = "rule_verdicts",
};

static const size_t key_sizes[POLICY_MAP__COUNT] = {
	[POLICY_MAP_CONFIG] = sizeof(__u32),
	[POLICY_MAP_OF_SLOT] = sizeof(struct aw_policy_slot_key),
	[POLICY_MAP_DEFAULTS] = sizeof(struct aw_policy_set_key),
	[POLICY_MAP_FILE_RULES] = sizeof(struct aw_file_key),
	[POLICY_MAP_FILE_INODES] = sizeof(struct aw_inode_key),
	[POLICY_MAP_NAME_GLOBS] = sizeof(struct aw_glob_key),
	[POLICY_MAP_BINSETS] = sizeof(struct aw_binset_key),
	[POLICY_MAP_NET_RULES] = sizeof(struct aw_net_key),
	[POLICY_MAP_FILE_ANCHORS] = sizeof(struct aw_inode_key),
	[POLICY_MAP_RULE_VERDICTS] = sizeof(__u32),
};

static const size_t val_sizes[POLICY_MAP__COUNT] = {
	[POLICY_MAP_CONFIG] = sizeof(struct aw_policy_config),
	[POLICY_MAP_OF_SLOT] = sizeof(__u32),
	[POLICY_MAP_DEFAULTS] = sizeof(struct aw_policy_defaults),
	[POLICY_MAP_FILE_RULES] = sizeof(struct aw_rule_val),
	[POLICY_MAP_FILE_INODES] = sizeof(struct aw_rule_val),
	[POLICY_MAP_NAME_GLOBS] = sizeof(struct aw_name_glob),
	[POLICY_MAP_BINSETS] = sizeof(__u8),
	[POLICY_MAP_NET_RULES] = sizeof(struct aw_net_val),
	[POLICY_MAP_FILE_ANCHORS] = sizeof(struct aw_file_anchor),
	[POLICY_MAP_RULE_VERDICTS] = sizeof(struct aw_rule_verdict),
};

/*
 * Maps BPF programs write into (in the active bank): such a bank is re-read before it is
 * rewritten. file_anchors, though found on the file system like file_inodes, are written by
 * the applier alone.
 */
static const bool kernel_writes[POLICY_MAP__COUNT] = {
	/* lsm/file_open adds the files created under a denied pattern (policy.h) */
	[POLICY_MAP_FILE_INODES] = true,
};

#define POLICY_KEY_MAX 32
/* The largest value of an array map (its "deleted" entries are written zero). */
#define POLICY_VAL_MAX_ARRAY sizeof(struct aw_rule_verdict)

static size_t rec_size(enum policy_map map)
{
	return key_sizes[map] + val_sizes[map];
}

/*
 * Where a key holds its bank: a gen field (net_rules: after prefixlen), or for the
 * rule_verdicts array the index's bank part (index = bank * AW_RULES_MAX + rule_id).
 */
static size_t key_bank_off(enum policy_map map)
{
	return map == POLICY_MAP_NET_RULES ? 4 : 0;
}

static void key_set_bank(enum policy_map map, void *key, __u32 gen)
{
	unsigned char *at = (unsigned char *)key + key_bank_off(map);

	if (map == POLICY_MAP_RULE_VERDICTS) {
		__u32 idx;

		memcpy(&idx, at, sizeof(idx));
		gen = idx % AW_RULES_MAX + AW_POLICY_BANK(gen) * AW_RULES_MAX;
	}
	memcpy(at, &gen, sizeof(gen));
}

static __u32 key_bank(enum policy_map map, const void *key)
{
	__u32 word;

	memcpy(&word, (const unsigned char *)key + key_bank_off(map), sizeof(word));
	return map == POLICY_MAP_RULE_VERDICTS ? word / AW_RULES_MAX : word;
}

/* An array's entries all exist: a zero value is one the bank does not hold ("deleted"). */
static bool map_is_array(enum policy_map map)
{
	return map == POLICY_MAP_RULE_VERDICTS;
}

static bool is_zero(const unsigned char *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* --- record tables: what a bank holds, keys without their generation ----------------------- */

static __u64 key_hash(const unsigned char *key, size_t ksz)
{
	__u64 h = 0x9e3779b97f4a7c15ULL, w;
	size_t i;

	for (i = 0; i < ksz; i += sizeof(__u32)) {
		__u32 word;

		memcpy(&word, key + i, sizeof(word));
		w = word;
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 29;
	}
	return h;
}

static int records_add(struct policy_records *r, enum policy_map map, const void *key,
		       const void *val)
{
	size_t ksz = key_sizes[map], rsz = rec_size(map);
	unsigned char *rec;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1024;
		unsigned char *grown = realloc(r->recs, cap * rsz);

		if (!grown)
			return -ENOMEM;
		r->recs = grown;
		r->cap = cap;
	}
	rec = r->recs + r->n++ * rsz;
	memcpy(rec, key, ksz);
	key_set_bank(map, rec, 0);
	memcpy(rec + ksz, val, val_sizes[map]);
	return 0;
}

/* The index slot of `key` (generation zeroed), or the empty slot where it belongs. */
static size_t table_slot(const struct policy_table *t, enum policy_map map, const void *key)
{
	size_t ksz = key_sizes[map], rsz = rec_size(map);
	size_t i = key_hash(key, ksz) & (t->cap - 1);

	while (t->slots[i] && memcmp(t->r.recs + (t->slots[i] - 1) * rsz, key, ksz))
		i = (i + 1) & (t->cap - 1);
	return i;
}

/* The record of `key`, by position, or -1. */
static long table_find(const struct policy_table *t, enum policy_map map, const void *key)
{
	size_t i;

	if (!t->cap)
		return -1;
	i = table_slot(t, map, key);
	return t->slots[i] ? (long)t->slots[i] - 1 : -1;
}

/*
 * Index the records, one per key: a later record of a key gives it its value (as a later map
 * update would) and is dropped; the order of first appearance stays.
 */
static int table_index(struct policy_table *t, enum policy_map map)
{
	size_t ksz = key_sizes[map], rsz = rec_size(map), cap = t->cap ? t->cap : 1024, i, n = 0;

	while (cap < t->r.n * 2)
		cap *= 2;
	if (cap != t->cap) {
		__u32 *slots = malloc(cap * sizeof(*slots));

		if (!slots)
			return -ENOMEM;
		free(t->slots);
		t->slots = slots;
		t->cap = cap;
	}
	memset(t->slots, 0, t->cap * sizeof(*t->slots));
	for (i = 0; i < t->r.n; i++) {
		const unsigned char *rec = t->r.recs + i * rsz;
		size_t s = table_slot(t, map, rec);

		if (t->slots[s]) {
			memcpy(t->r.recs + (t->slots[s] - 1) * rsz + ksz, rec + ksz, rsz - ksz);
			continue;
		}
		if (n != i)
			memcpy(t->r.recs + n * rsz, rec, rsz);
		t->slots[s] = ++n;
	}
	t->r.n = n;
	return 0;
}

static void table_free(struct policy_table *t)
{
	free(t->r.recs);
	free(t->slots);
	free(t->seen);
	memset(t, 0, sizeof(*t));
}

/* --- the BPF backend ------------------------------------------------------------------------ */

static int batch_add(struct policy_batch *q, enum policy_map map, const void *key, __u32 gen,
		     const void *val)
{
	size_t ksz = key_sizes[map], vsz = val ? val_sizes[map] : 0;

	if ((q->n + 1) * ksz > q->key_cap) {
		size_t cap = q->key_cap ? q->key_cap * 2 : 4096 * POLICY_KEY_MAX;
		unsigned char *k = realloc(q->keys, cap);

		if (!k)
			return -ENOMEM;
		q->keys = k;
		q->key_cap = cap;
	}
	if ((q->n + 1) * vsz > q->val_cap) {
		size_t cap = q->val_cap ? q->val_cap * 2 : 4096 * 128;
		unsigned char *v = realloc(q->vals, cap);

		if (!v)
			return -ENOMEM;
		q->vals = v;
		q->val_cap = cap;
	}
	memcpy(q->keys + q->n * ksz, key, ksz);
	key_set_bank(map, q->keys + q->n * ksz, gen);
	if (vsz)
		memcpy(q->vals + q->n * vsz, val, vsz);
	q->n++;
	return 0;
}

static int bpf_update(struct policy_backend *b, enum policy_map map, const void *key,
		      const void *val)
{
	struct policy_backend_bpf *bb = (struct policy_backend_bpf *)b;

	if (map == POLICY_MAP_CONFIG)
		return -EINVAL; /* the switch is set_config */
	return records_add(&bb->staged[map], map, key, val);
}

/* Write the batch's records: hash maps in batches, the LPM trie (no batch ops) one by one. */
static int write_records(int fd, enum policy_map map, const struct policy_batch *q)
{
	size_t ksz = key_sizes[map], vsz = val_sizes[map], done = 0;

	while (done < q->n) {
		__u32 count = q->n - done;
		LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
		int err;

		if (map == POLICY_MAP_NET_RULES) {
			count = 1;
			err = bpf_map_update_elem(fd, q->keys + done * ksz, q->vals + done * vsz,
						  BPF_ANY);
		} else {
			err = bpf_map_update_batch(fd, q->keys + done * ksz, q->vals + done * vsz,
						   &count, &opts);
		}
		if (err)
			return log_errno(errno, "map '%s': update (%zu of %zu written)",
					 map_names[map], done + count, q->n);
		done += count;
	}
	return 0;
}

/* Delete the batch's keys; an array's are written zero (the batch holds zero values). */
static int delete_records(int fd, enum policy_map map, const struct policy_batch *q)
{
	size_t ksz = key_sizes[map], done = 0;

	if (map_is_array(map))
		return write_records(fd, map, q);
	while (done < q->n) {
		__u32 count = q->n - done;
		int err;

		if (map == POLICY_MAP_NET_RULES) {
			count = 1;
			err = bpf_map_delete_elem(fd, q->keys + done * ksz);
		} else {
			err = bpf_map_delete_batch(fd, q->keys + done * ksz, &count, NULL);
		}
		if (err && errno != ENOENT)
			return log_errno(errno, "map '%s': delete (%zu of %zu deleted)",
					 map_names[map], done + count, q->n);
		if (err)
			count++; /* that key was gone already */
		done += count;
	}
	return 0;
}

/*
 * Read what bank `bank` of `map` holds in the kernel (an LPM trie has no batch operations; an
 * array's zero entries are not held).
 */
static int read_bank(int fd, enum policy_map map, __u32 bank, struct policy_table *out)
{
	size_t ksz = key_sizes[map], vsz = val_sizes[map];
	const __u32 chunk = 4096;
	unsigned char *keys = malloc(chunk * ksz), *vals = malloc(chunk * vsz);
	__u64 in_batch = 0, out_batch = 0;
	bool first = true, done = false;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	if (map == POLICY_MAP_NET_RULES) {
		bool more = bpf_map_get_next_key(fd, NULL, keys) == 0;

		while (more && !err) {
			more = bpf_map_get_next_key(fd, keys, keys + ksz) == 0;
			if (key_bank(map, keys) == bank && bpf_map_lookup_elem(fd, keys, vals) == 0)
				err = records_add(&out->r, map, keys, vals);
			memcpy(keys, keys + ksz, ksz);
		}
		goto out;
	}
	while (!done && !err) {
		__u32 count = chunk, i;

		if (bpf_map_lookup_batch(fd, first ? NULL : &in_batch, &out_batch, keys, vals,
					 &count, NULL)) {
			if (errno != ENOENT) {
				err = log_errno(errno, "map '%s': read", map_names[map]);
				break;
			}
			done = true; /* the last chunk: count says how many it holds */
		}
		first = false;
		in_batch = out_batch;
		for (i = 0; i < count && !err; i++) {
			if (key_bank(map, keys + i * ksz) != bank ||
			    (map_is_array(map) && is_zero(vals + i * vsz, vsz)))
				continue;
			err = records_add(&out->r, map, keys + i * ksz, vals + i * vsz);
		}
	}
out:
	free(keys);
	free(vals);
	return err ? err : table_index(out, map);
}

/*
 * Bring bank `bank` of `map` from `base` to the staged records. Both are in staging order, so
 * the records of an unchanged stretch compare in lockstep; a record out of step is looked up by
 * key, and the comparison resumes after it.
 */
static int write_differences(struct policy_backend_bpf *bb, enum policy_map map, __u32 bank,
			     struct policy_table *base, size_t *written, size_t *deleted)
{
	const struct policy_records *staged = &bb->staged[map];
	size_t ksz = key_sizes[map], vsz = val_sizes[map], rsz = rec_size(map), i, j = 0;
	const unsigned char *was;
	int err = 0;

	if (base->seen_cap < base->r.n) {
		unsigned char *seen = realloc(base->seen, base->r.n);

		if (!seen)
			return -ENOMEM;
		base->seen = seen;
		base->seen_cap = base->r.n;
	}
	if (base->r.n)
		memset(base->seen, 0, base->r.n);
	bb->puts.n = bb->dels.n = 0;
	for (i = 0; i < staged->n && !err; i++) {
		const unsigned char *rec = staged->recs + i * rsz;
		long k;

		if (j < base->r.n && !memcmp(rec, base->r.recs + j * rsz, rsz)) {
			base->seen[j++] = 1;
			continue;
		}
		k = table_find(base, map, rec);
		was = k < 0 ? NULL : base->r.recs + k * rsz + ksz;
		if (k >= 0) {
			base->seen[k] = 1;
			j = k + 1;
		}
		if (!was || memcmp(was, rec + ksz, vsz))
			err = batch_add(&bb->puts, map, rec, bank, rec + ksz);
	}
	/* base has one record per key: one not seen is a key the staged records lack */
	for (j = 0; j < base->r.n && !err; j++) {
		static const unsigned char zero[POLICY_VAL_MAX_ARRAY];

		if (!base->seen[j])
			err = batch_add(&bb->dels, map, base->r.recs + j * rsz, bank,
					map_is_array(map) ? zero : NULL);
	}
	if (err)
		return err;
	/* Deletions first: the map never holds more than two banks' worth of records. */
	err = delete_records(bb->fd[map], map, &bb->dels);
	if (!err)
		err = write_records(bb->fd[map], map, &bb->puts);
	if (!err) {
		*deleted += bb->dels.n;
		*written += bb->puts.n;
	}
	return err;
}

static int bpf_write_bank(struct policy_backend *b, __u32 gen, bool was_active, size_t *written,
			  size_t *deleted)
{
	struct policy_backend_bpf *bb = (struct policy_backend_bpf *)b;
	__u32 bank = AW_POLICY_BANK(gen);
	int map, err = 0;

	for (map = 0; map < POLICY_MAP__COUNT && !err; map++) {
		struct policy_table read = {};
		struct policy_table *base = &read;

		if (map == POLICY_MAP_CONFIG)
			continue;
		if (was_active && kernel_writes[map])
			err = read_bank(bb->fd[map], map, bank, &read);
		else if (bb->bank[bank] == POLICY_BANK_CURRENT)
			base = &bb->current[map];
		else
			err = read_bank(bb->fd[map], map, bank, &read);
		if (!err)
			err = write_differences(bb, map, bank, base, written, deleted);
		table_free(&read);
	}
	bb->bank[bank] = err ? POLICY_BANK_UNKNOWN : POLICY_BANK_STAGED;
	return err;
}

static int bpf_set_config(struct policy_backend *b, const struct aw_policy_config *cfg)
{
	struct policy_backend_bpf *bb = (struct policy_backend_bpf *)b;
	__u32 zero = 0;

	if (bpf_map_update_elem(bb->fd[POLICY_MAP_CONFIG], &zero, cfg, BPF_ANY))
		return log_errno(errno, "map 'policy_config': update");
	return 0;
}

/*
 * The kernel waits for an RCU grace period after every update of a map-in-map
 * (maybe_wait_bpf_programs() in kernel/bpf/syscall.c), so that userspace knows no
 * non-sleepable BPF program still uses what it replaced. The policy programs are all
 * non-sleepable: after this, none still decides with the policy_config read before the switch.
 */
static int bpf_wait_readers(struct policy_backend *b)
{
	struct policy_backend_bpf *bb = (struct policy_backend_bpf *)b;
	__u32 zero = 0;

	if (bb->rcu_outer < 0) {
		LIBBPF_OPTS(bpf_map_create_opts, opts);

		if (bb->rcu_inner < 0)
			bb->rcu_inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "aw_rcu_inner",
						       sizeof(__u32), sizeof(__u32), 1, NULL);
		if (bb->rcu_inner < 0)
			return log_errno(errno, "map 'aw_rcu_inner': create");
		opts.inner_map_fd = bb->rcu_inner;
		bb->rcu_outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "aw_rcu_wait",
					       sizeof(__u32), sizeof(__u32), 1, &opts);
		if (bb->rcu_outer < 0)
			return log_errno(errno, "map 'aw_rcu_wait': create");
	}
	if (bpf_map_update_elem(bb->rcu_outer, &zero, &bb->rcu_inner, BPF_ANY))
		return log_errno(errno, "map 'aw_rcu_wait': update");
	return 0;
}

static void bpf_commit(struct policy_backend *b, bool in_force)
{
	struct policy_backend_bpf *bb = (struct policy_backend_bpf *)b;
	int map, i;

	for (i = 0; i < 2; i++) {
		if (bb->bank[i] == POLICY_BANK_STAGED && in_force)
			bb->bank[i] = POLICY_BANK_CURRENT;
		else
			bb->bank[i] = POLICY_BANK_UNKNOWN; /* a policy no longer tracked */
	}
	for (map = 0; map < POLICY_MAP__COUNT; map++) {
		struct policy_records *r = &bb->staged[map];

		if (in_force) {
			struct policy_records was = bb->current[map].r;

			bb->current[map].r = *r;
			*r = was;
			if (table_index(&bb->current[map], map)) {
				/* without the records in force, both banks are re-read */
				bb->current[map].r.n = 0;
				bb->bank[0] = bb->bank[1] = POLICY_BANK_UNKNOWN;
			}
		}
		r->n = 0;
	}
}

void policy_backend__bpf_free(struct policy_backend_bpf *b)
{
	int map;

	for (map = 0; map < POLICY_MAP__COUNT; map++) {
		table_free(&b->current[map]);
		free(b->staged[map].recs);
		memset(&b->staged[map], 0, sizeof(b->staged[map]));
	}
	free(b->puts.keys);
	free(b->puts.vals);
	free(b->dels.keys);
	free(b->dels.vals);
	memset(&b->puts, 0, sizeof(b->puts));
	memset(&b->dels, 0, sizeof(b->dels));
	if (b->rcu_outer >= 0)
		close(b->rcu_outer);
	if (b->rcu_inner >= 0)
		close(b->rcu_inner);
	b->rcu_outer = b->rcu_inner = -1;
	policy_links__free(b->ops.links);
	b->ops.links = NULL;
}

static int bpf_config(struct policy_backend *b, struct aw_policy_config *cfg)
{
	struct policy_backend_bpf *bb = (struct policy_backend_bpf *)b;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(bb->fd[POLICY_MAP_CONFIG], &zero, cfg))
		return log_errno(errno, "map 'policy_config': read");
	return 0;
}

void policy_backend__bpf(struct policy_backend_bpf *b, const int fd[POLICY_MAP__COUNT])
{
	memset(b, 0, sizeof(*b));
	b->ops.update = bpf_update;
	b->ops.write_bank = bpf_write_bank;
	b->ops.set_config = bpf_set_config;
	b->ops.wait_readers = bpf_wait_readers;
	b->ops.commit = bpf_commit;
	b->ops.config = bpf_config;
	memcpy(b->fd, fd, sizeof(b->fd));
	b->rcu_outer = b->rcu_inner = -1;
	b->ops.links = policy_links__new(); /* NULL: each apply walks afresh */
}

int policy_backend__set_link_scan(struct policy_backend *b, const char *const *dirs, int n)
{
	if (!b->links && !(b->links = policy_links__new()))
		return -ENOMEM;
	return policy_links__set_scope(b->links, dirs, n);
}

/* --- protected files by identity ------------------------------------------------------------- */

__u32 policy_apply__kernel_dev(unsigned long long st_dev)
{
	return (major(st_dev) << 20) | minor(st_dev);
}

#define MISSING_DIRS 8

struct inode_writer {
	struct policy_backend *b;
	const struct policy_image *img;
	__u32 set;
	size_t written, entered, skipped;
	char *missing[MISSING_DIRS]; /* paths this walk found missing, most recent ones */
	unsigned int next_missing;
	struct policy_links *links; /* UNDER_* requests: the multi-link files */
	unsigned char *linked;	    /* per inventory file: resolved for links_set already */
	__u32 links_set;
	size_t links_written;
	/* files with several names: one entry per inode, the rules of every name (stage_multi) */
	struct inode_entry {
		struct aw_inode_key key;
		struct aw_rule_val val;
	} * multi;
	size_t n_multi, cap_multi;
};

/* At or below a path this walk found missing: nothing there to protect, no syscall needed. */
static bool under_missing(const struct inode_writer *w, const char *path)
{
	for (int i = 0; i < MISSING_DIRS; i++) {
		size_t len = w->missing[i] ? strlen(w->missing[i]) : 0;

		if (len && !strncmp(path, w->missing[i], len) && (!path[len] || path[len] == '/'))
			return true;
	}
	return false;
}

/* `path` does not exist: remember its topmost missing ancestor, for the requests below it. */
static void note_missing(struct inode_writer *w, const char *path)
{
	char dir[PATH_MAX], *slash;
	struct stat st;
	size_t len = strlen(path);

	if (len >= sizeof(dir))
		return;
	memcpy(dir, path, len + 1);
	while ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		if (stat(dir, &st) == 0 || errno != ENOENT) {
			*slash = '/';
			break;
		}
	}
	free(w->missing[w->next_missing]);
	w->missing[w->next_missing] = strdup(dir);
	w->next_missing = (w->next_missing + 1) % MISSING_DIRS;
}

static int write_inode(struct inode_writer *w, const char *path, const struct stat *st)
{
	struct aw_inode_key key = {
		.set = w->set,
		.ino = st->st_ino,
		.dev = policy_apply__kernel_dev(st->st_dev),
	};
	struct aw_rule_val val;
	int err;

	/* Half of file_inodes is this generation's: beyond that, paths still match. */
	if (w->written >= POLICY_INODES_MAX) {
		w->skipped++;
		return 0;
	}
	err = policy_image__inode_value(w->img, w->set, path, &val);
	if (err == -ENOENT)
		return 0; /* an except: leaves this file free */
	if (err)
		return err;
	if (st->st_nlink > 1) {
		/* another of its names may be protected too: staged once all are known */
		if (w->n_multi == w->cap_multi) {
			size_t cap = w->cap_multi ? w->cap_multi * 2 : 64;
			struct inode_entry *m = realloc(w->multi, cap * sizeof(*m));

			if (!m)
				return -ENOMEM;
			w->multi = m;
			w->cap_multi = cap;
		}
		w->multi[w->n_multi++] = (struct inode_entry){.key = key, .val = val};
		w->written++;
		return 0;
	}
	err = w->b->update(w->b, POLICY_MAP_FILE_INODES, &key, &val);
	if (!err)
		w->written++;
	return err;
}

static int inode_key_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct inode_entry *)a)->key, &((const struct inode_entry *)b)->key,
		      sizeof(struct aw_inode_key));
}

/* Stage one entry per multi-link inode, with the references of every protected name. */
static int stage_multi(struct inode_writer *w)
{
	size_t i, j;
	int err = 0;

	qsort(w->multi, w->n_multi, sizeof(*w->multi), inode_key_cmp);
	for (i = 0; i < w->n_multi && !err; i = j) {
		for (j = i + 1; j < w->n_multi && !inode_key_cmp(&w->multi[i], &w->multi[j]); j++) {
			policy_image__inode_value_merge(w->img, &w->multi[i].val, &w->multi[j].val);
			w->written--; /* counted once per inode */
		}
		err = w->b->update(w->b, POLICY_MAP_FILE_INODES, &w->multi[i].key,
				   &w->multi[i].val);
	}
	return err;
}

static bool name_matches(const struct policy_inode_req *req, const char *name)
{
	size_t len = strlen(name), lit = req->name ? strlen(req->name) : 0;

	switch (req->kind) {
	case AW_FK_CHILD_ANY:
		return true;
	case AW_FK_CHILD_PREFIX:
		return len >= lit && strncmp(name, req->name, lit) == 0;
	case AW_FK_CHILD_SUFFIX:
		return len >= lit && strcmp(name + len - lit, req->name) == 0;
	case AW_FK_CHILD_GLOB:
		return policy_glob__match(req->name, name, len);
	}
	return false;
}

/* Every file below dir (not following symlinks), bounded by POLICY_INODES_PER_REQ. */
static int walk_tree(struct inode_writer *w, const char *dir, int depth)
{
	struct dirent *de;
	DIR *d;
	int err = 0;

	if (depth > 32)
		return 0;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR || errno == EACCES ? 0 : -errno;
	while (!err && (de = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (w->entered++ >= POLICY_INODES_PER_REQ) {
			w->skipped++;
			continue;
		}
		if (lstat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode))
			err = walk_tree(w, path, depth + 1);
		else if (S_ISREG(st.st_mode))
			err = write_inode(w, path, &st);
	}
	closedir(d);
	return err;
}

/*
 * UNDER_*: the inventory's multi-link files below req->path whose name matches, as they are
 * now (a name found at start may since hold another file, or none). A file several requests
 * of a set match is written once: its value holds every rule its path gets.
 */
static int resolve_under(struct inode_writer *w, const struct policy_inode_req *req)
{
	struct policy_links *l = w->links;
	const size_t *ix;
	long n;
	int err = 0;

	if (!l)
		return 0;
	if (req->set != w->links_set) {
		memset(w->linked, 0, l->n);
		w->links_set = req->set;
	}
	n = policy_links__named(l, req->kind, req->name, &ix);
	if (n < 0)
		return (int)n;
	for (long k = 0; k < n && !err; k++) {
		size_t i = ix[k], before = w->written;
		const struct policy_link_file *f = &l->files[i];
		struct stat st;

		if (w->linked[i] || !policy_links__below(f->path, req->path))
			continue;
		w->linked[i] = 1;
		if (lstat(f->path, &st) || !S_ISREG(st.st_mode))
			continue;
		err = write_inode(w, f->path, &st);
		w->links_written += w->written - before;
	}
	return err;
}

static int resolve_request(struct inode_writer *w, const struct policy_inode_req *req)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int err = 0;

	w->set = req->set;
	w->entered = 0;
	if (req->kind >= AW_FK_UNDER_NAME)
		return resolve_under(w, req);
	/* stat follows a symlink: the target is what the kernel opens and must protect */
	if (under_missing(w, req->path))
		return 0;
	if (stat(req->path, &st)) {
		if (errno == ENOENT)
			note_missing(w, req->path);
		return 0;
	}
	switch (req->kind) {
	case AW_FK_EXACT:
		return write_inode(w, req->path, &st);
	case AW_FK_SUBTREE:
		return walk_tree(w, req->path, 0);
	}
	d = opendir(req->path);
	if (!d)
		return 0;
	while (!err && (de = readdir(d))) {
		char path[PATH_MAX];

		if (de->d_name[0] == '.' && (!de->d_name[1] || strcmp(de->d_name, "..") == 0))
			continue;
		if (!name_matches(req, de->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", strcmp(req->path, "/") ? req->path : "",
			     de->d_name) >= (int)sizeof(path))
			continue;
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		err = write_inode(w, path, &st);
	}
	closedir(d);
	return err;
}

/* --- the switch ---------------------------------------------------------------------------- */

static int by_length(const void *a, const void *b)
{
	size_t la = strlen(*(const char *const *)a), lb = strlen(*(const char *const *)b);

	return la < lb ? -1 : la > lb;
}

/*
 * The inventory of every directory an UNDER_* request names, walked where no earlier apply
 * did (shallowest first, so that a deeper one is found covered). A reload that names no new
 * directory costs one hash lookup per request.
 */
static int cover_links(struct policy_links *l, const struct policy_image *img,
		       struct policy_apply_stats *st)
{
	unsigned walks = l->walks;
	size_t visited = l->visited, n = 0, i;
	double ms = l->walk_ms;
	const char **roots;
	int err = 0;

	roots = malloc((img->n_inodes ? img->n_inodes : 1) * sizeof(*roots));
	if (!roots)
		return -ENOMEM;
	for (i = 0; i < img->n_inodes; i++)
		if (img->inodes[i].kind >= AW_FK_UNDER_NAME &&
		    !policy_links__asked(l, img->inodes[i].path))
			roots[n++] = img->inodes[i].path;
	qsort(roots, n, sizeof(*roots), by_length);
	for (i = 0; i < n && !err; i++)
		if (!i || strcmp(roots[i], roots[i - 1]))
			err = policy_links__cover(l, roots[i]);
	free(roots);
	st->link_walks = l->walks - walks;
	st->link_visited = l->visited - visited;
	st->link_walk_ms = l->walk_ms - ms;
	st->link_files = l->n;
	st->link_walk_truncated = l->truncated;
	return err;
}

/*
 * rule_verdicts: every rule id of the image, index rule_id in bank 0 (policy.h, "Verdicts").
 * Staged in id order, so a reload that changes no verdict compares them in lockstep.
 */
static int stage_verdicts(struct policy_backend *b, const struct policy_image *img)
{
	for (__u32 id = 1; id <= img->n_rules; id++) {
		struct aw_rule_verdict v = policy_image__verdict(img, id);
		int err;

		if (v.action && (err = b->update(b, POLICY_MAP_RULE_VERDICTS, &id, &v)))
			return err;
	}
	return 0;
}

/*
 * Stage every record of the image (NULL: none), the protected files' inodes and the anchors of
 * the directories the rules name, both as the file system holds them now.
 */
static int stage_image(struct policy_backend *b, const struct policy_image *img,
		       struct policy_apply_stats *st)
{
	struct inode_writer w = {.b = b, .img = img};
	struct policy_links *own = NULL, *links = b->links;
	size_t i;
	int err;

	if (!img)
		return 0;
	for (i = 0; i < (size_t)img->n_slots; i++) {
		if ((err = b->update(b, POLICY_MAP_OF_SLOT, &img->slots[i].key,
				     &img->slots[i].set)))
			return err;
	}
	for (i = 0; i < (size_t)img->n_sets; i++) {
		struct aw_policy_set_key key = {.set = img->sets[i].set};

		if ((err = b->update(b, POLICY_MAP_DEFAULTS, &key, &img->sets[i].defaults)))
			return err;
	}
	for (i = 0; i < img->n_files; i++) {
		if ((err = b->update(b, POLICY_MAP_FILE_RULES, &img->files[i].key,
				     &img->files[i].val)))
			return err;
	}
	for (i = 0; i < (size_t)img->n_globs; i++) {
		struct aw_glob_key key = {.index = i};

		if ((err = b->update(b, POLICY_MAP_NAME_GLOBS, &key, &img->globs[i])))
			return err;
	}
	for (i = 0; i < img->n_binsets; i++) {
		__u8 one = 1;

		if ((err = b->update(b, POLICY_MAP_BINSETS, &img->binsets[i].key, &one)))
			return err;
	}
	for (i = 0; i < img->n_nets; i++) {
		if ((err = b->update(b, POLICY_MAP_NET_RULES, &img->nets[i].key,
				     &img->nets[i].val)))
			return err;
	}
	if ((err = stage_verdicts(b, img)))
		return err;
	st->records = img->n_slots + img->n_sets + img->n_files + img->n_globs + img->n_binsets +
		      img->n_nets + img->n_rules;
	if (!links && !(links = own = policy_links__new()))
		return -ENOMEM;
	err = cover_links(links, img, st);
	w.links = links;
	w.linked = calloc(links->n ? links->n : 1, 1);
	if (!err && !w.linked)
		err = -ENOMEM;
	for (i = 0; i < img->n_inodes && !err; i++)
		err = resolve_request(&w, &img->inodes[i]);
	if (!err)
		err = stage_multi(&w);
	for (i = 0; i < MISSING_DIRS; i++)
		free(w.missing[i]);
	free(w.multi);
	free(w.linked);
	policy_links__free(own);
	if (err)
		return err;
	st->links_protected = w.links_written;
	if (st->link_walks)
		log_info("policy: link inventory: %u director%s walked in %.0f ms (%zu entries%s): "
			 "%zu files with several names, %zu of them protected by identity",
			 st->link_walks, st->link_walks == 1 ? "y" : "ies", st->link_walk_ms,
			 st->link_visited,
			 st->link_walk_truncated ? ", truncated: some files were left out" : "",
			 st->link_files, st->links_protected);
	st->inodes = w.written;
	st->inode_skipped = w.skipped;
	st->records += w.written;
	err = policy_anchor__write(b, img, st);
	st->records += st->anchors;
	return err;
}

static __u32 next_gen(__u32 gen)
{
	/* 0 means "no policy": skip it on wrap-around, and keep alternating banks */
	return gen + 1 ? gen + 1 : 2;
}

static int apply_image(struct policy_backend *b, const struct policy_image *img,
		       struct policy_apply_stats *st)
{
	struct policy_apply_stats local = {};
	struct aw_policy_config cur, cfg = {};
	size_t synced_w = 0, synced_d = 0;
	struct timespec t0;
	__u32 gen, old;
	int err;

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = b->config(b, &cur);
	if (err)
		return err;
	gen = next_gen(cur.gen);
	err = stage_image(b, img, st);
	st->staged_ms = clock__ms_since(&t0);
	/* The bank of gen is not in use: no decision sees what is written there. */
	if (!err)
		err = b->write_bank(b, gen, false, &st->written, &st->deleted);
	if (!err) {
		if (img)
			policy_image__config(img, gen, &cfg);
		cfg.gen = gen;
		err = b->set_config(b, &cfg);
	}
	if (err) {
		b->commit(b, false);
		return err;
	}
	st->gen = gen;
	st->switch_ms = clock__ms_since(&t0);

	/*
	 * The new generation is in force. Once no program still decides with the old one, its
	 * bank gets the new image too, so that the next reload writes only its differences.
	 */
	old = next_gen(gen);
	err = cur.gen ? b->wait_readers(b) : 0;
	if (!err)
		err = b->write_bank(b, old, cur.gen != 0, &synced_w, &synced_d);
	if (err)
		log_warn("policy: generation %u in force; the spare bank is rewritten at the next "
			 "reload (%s)",
			 gen, strerror(-err));
	b->commit(b, true);
	st->synced = synced_w + synced_d;
	st->total_ms = clock__ms_since(&t0);
	return 0;
}

int policy_apply(struct policy_backend *b, const struct policy_image *img,
		 struct policy_apply_stats *st)
{
	return apply_image(b, img, st);
}

int policy_apply__clear(struct policy_backend *b, struct policy_apply_stats *st)
{
	return apply_image(b, NULL, st);
}
