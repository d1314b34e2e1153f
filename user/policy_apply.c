// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <bpf/bpf.h>

#include "log.h"
#include "policy_apply.h"
#include "policy_pattern.h"

/* --- the BPF backend ------------------------------------------------------------------------ */

static const char *const map_names[POLICY_MAP__COUNT] = {
	[POLICY_MAP_CONFIG] = "policy_config",	    [POLICY_MAP_OF_SLOT] = "policy_of_slot",
	[POLICY_MAP_DEFAULTS] = "policy_defaults",  [POLICY_MAP_FILE_RULES] = "file_rules",
	[POLICY_MAP_FILE_INODES] = "file_inodes",   [POLICY_MAP_NAME_GLOBS] = "name_globs",
	[POLICY_MAP_BINSETS] = "binsets",	    [POLICY_MAP_NET_RULES] = "net_rules",
	[POLICY_MAP_FILE_ANCHORS] = "file_anchors",
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
};

/* Where the generation sits in each key: first, except in the LPM key (after prefixlen). */
static __u32 key_gen(enum policy_map map, const void *key)
{
	const __u32 *words = key;

	return map == POLICY_MAP_NET_RULES ? words[1] : words[0];
}

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
};

static int bpf_update(struct policy_backend *b, enum policy_map map, const void *key,
		      const void *val)
{
	struct policy_backend_bpf *bb = (struct policy_backend_bpf *)b;
	struct policy_batch *q = &bb->batch[map];

	/* The switch itself (policy_config) and LPM tries (no batch op) go one at a time. */
	if (map == POLICY_MAP_CONFIG || map == POLICY_MAP_NET_RULES) {
		if (bpf_map_update_elem(bb->fd[map], key, val, BPF_ANY))
			return log_errno(errno, "map '%s': update", map_names[map]);
		return 0;
	}
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 1024;
		unsigned char *k = realloc(q->keys, cap * key_sizes[map]);
		unsigned char *v = k ? realloc(q->vals, cap * val_sizes[map]) : NULL;

		if (k)
			q->keys = k;
		if (!v)
			return -ENOMEM;
		q->vals = v;
		q->cap = cap;
	}
	memcpy(q->keys + q->n * key_sizes[map], key, key_sizes[map]);
	memcpy(q->vals + q->n * val_sizes[map], val, val_sizes[map]);
	q->n++;
	return 0;
}

static int bpf_flush(struct policy_backend *b)
{
	struct policy_backend_bpf *bb = (struct policy_backend_bpf *)b;
	int map;

	for (map = 0; map < POLICY_MAP__COUNT; map++) {
		struct policy_batch *q = &bb->batch[map];
		size_t done = 0;

		while (done < q->n) {
			__u32 count = q->n - done;
			LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);

			if (bpf_map_update_batch(bb->fd[map], q->keys + done * key_sizes[map],
						 q->vals + done * val_sizes[map], &count, &opts)) {
				int err = errno;
				size_t total = q->n;

				q->n = 0;
				return log_errno(err, "map '%s': batch update (%zu of %zu written)",
						 map_names[map], done + count, total);
			}
			done += count;
		}
		q->n = 0;
	}
	return 0;
}

void policy_backend__bpf_free(struct policy_backend_bpf *b)
{
	int map;

	for (map = 0; map < POLICY_MAP__COUNT; map++) {
		free(b->batch[map].keys);
		free(b->batch[map].vals);
		memset(&b->batch[map], 0, sizeof(b->batch[map]));
	}
}

/* Collect the keys of `gen`, key by key (an LPM trie has no batch operations). */
static int collect_gen_keys(int fd, enum policy_map map, __u32 gen, unsigned char **out,
			    size_t *n_out)
{
	size_t ksz = key_sizes[map], n = 0, cap = 0;
	unsigned char key[64], next[64], *doomed = NULL;
	bool more;

	more = bpf_map_get_next_key(fd, NULL, key) == 0;
	while (more) {
		more = bpf_map_get_next_key(fd, key, next) == 0;
		if (key_gen(map, key) == gen) {
			if (n == cap) {
				unsigned char *grown;

				cap = cap ? cap * 2 : 256;
				grown = realloc(doomed, cap * ksz);
				if (!grown) {
					free(doomed);
					return -ENOMEM;
				}
				doomed = grown;
			}
			memcpy(doomed + n++ * ksz, key, ksz);
		}
		memcpy(key, next, ksz);
	}
	*out = doomed;
	*n_out = n;
	return 0;
}

/* The same for hash maps, many keys per syscall. */
static int collect_gen_keys_batch(int fd, enum policy_map map, __u32 gen, unsigned char **out,
				  size_t *n_out)
{
	size_t ksz = key_sizes[map], vsz = val_sizes[map], n = 0, cap = 0;
	const __u32 chunk = 4096;
	unsigned char *keys = malloc(chunk * ksz), *vals = malloc(chunk * vsz);
	unsigned char *doomed = NULL;
	__u64 in_batch = 0, out_batch = 0;
	bool first = true, done = false;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	while (!done) {
		__u32 count = chunk, i;

		if (bpf_map_lookup_batch(fd, first ? NULL : &in_batch, &out_batch, keys, vals,
					 &count, NULL)) {
			if (errno != ENOENT) {
				err = -errno;
				goto out;
			}
			done = true; /* the last chunk: count says how many it holds */
		}
		first = false;
		in_batch = out_batch;
		for (i = 0; i < count; i++) {
			if (key_gen(map, keys + i * ksz) != gen)
				continue;
			if (n == cap) {
				unsigned char *grown;

				cap = cap ? cap * 2 : 1024;
				grown = realloc(doomed, cap * ksz);
				if (!grown) {
					err = -ENOMEM;
					goto out;
				}
				doomed = grown;
			}
			memcpy(doomed + n++ * ksz, keys + i * ksz, ksz);
		}
	}
out:
	free(keys);
	free(vals);
	if (err) {
		free(doomed);
		return err;
	}
	*out = doomed;
	*n_out = n;
	return 0;
}

static int bpf_delete_gen(struct policy_backend *b, enum policy_map map, __u32 gen)
{
	struct policy_backend_bpf *bb = (struct policy_backend_bpf *)b;
	unsigned char *doomed = NULL;
	int fd = bb->fd[map], err;
	size_t n = 0, i;

	/* Collect first: deleting while iterating a hash map can restart the walk. */
	if (map == POLICY_MAP_NET_RULES)
		err = collect_gen_keys(fd, map, gen, &doomed, &n);
	else
		err = collect_gen_keys_batch(fd, map, gen, &doomed, &n);
	if (err)
		return err;
	if (map == POLICY_MAP_NET_RULES) {
		for (i = 0; i < n; i++)
			bpf_map_delete_elem(fd, doomed + i * key_sizes[map]);
	} else {
		for (i = 0; i < n;) {
			__u32 count = n - i;

			if (bpf_map_delete_batch(fd, doomed + i * key_sizes[map], &count, NULL) &&
			    count == 0)
				break;
			i += count;
		}
	}
	free(doomed);
	return (int)n;
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
	b->ops.flush = bpf_flush;
	b->ops.delete_gen = bpf_delete_gen;
	b->ops.config = bpf_config;
	memcpy(b->fd, fd, sizeof(b->fd));
}

/* --- protected files by identity ------------------------------------------------------------- */

__u32 policy_apply__kernel_dev(unsigned long long st_dev)
{
	return (major(st_dev) << 20) | minor(st_dev);
}

struct inode_writer {
	struct policy_backend *b;
	const struct policy_image *img;
	__u32 gen, set;
	size_t written, entered, skipped;
};

static int write_inode(struct inode_writer *w, const char *path, const struct stat *st)
{
	struct aw_inode_key key = {
		.gen = w->gen,
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
	err = w->b->update(w->b, POLICY_MAP_FILE_INODES, &key, &val);
	if (!err)
		w->written++;
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

static int resolve_request(struct inode_writer *w, const struct policy_inode_req *req)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int err = 0;

	w->set = req->set;
	w->entered = 0;
	switch (req->kind) {
	case AW_FK_EXACT:
		/* stat follows a symlink: the target is what the kernel opens and must protect */
		if (stat(req->path, &st))
			return 0;
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

static int write_image(struct policy_backend *b, const struct policy_image *img, __u32 gen,
		       struct policy_apply_stats *st)
{
	struct inode_writer w = {.b = b, .img = img, .gen = gen};
	size_t i;
	int err;

	for (i = 0; i < (size_t)img->n_slots; i++) {
		struct aw_policy_slot_key key = img->slots[i].key;

		key.gen = gen;
		if ((err = b->update(b, POLICY_MAP_OF_SLOT, &key, &img->slots[i].set)))
			return err;
	}
	for (i = 0; i < (size_t)img->n_sets; i++) {
		struct aw_policy_set_key key = {.gen = gen, .set = img->sets[i].set};

		if ((err = b->update(b, POLICY_MAP_DEFAULTS, &key, &img->sets[i].defaults)))
			return err;
	}
	for (i = 0; i < img->n_files; i++) {
		struct aw_file_key key = img->files[i].key;

		key.gen = gen;
		if ((err = b->update(b, POLICY_MAP_FILE_RULES, &key, &img->files[i].val)))
			return err;
	}
	for (i = 0; i < (size_t)img->n_globs; i++) {
		struct aw_glob_key key = {.gen = gen, .index = i};

		if ((err = b->update(b, POLICY_MAP_NAME_GLOBS, &key, &img->globs[i])))
			return err;
	}
	for (i = 0; i < img->n_binsets; i++) {
		struct aw_binset_key key = img->binsets[i].key;
		__u8 one = 1;

		key.gen = gen;
		if ((err = b->update(b, POLICY_MAP_BINSETS, &key, &one)))
			return err;
	}
	for (i = 0; i < img->n_nets; i++) {
		struct aw_net_key key = img->nets[i].key;

		key.gen = gen;
		if ((err = b->update(b, POLICY_MAP_NET_RULES, &key, &img->nets[i].val)))
			return err;
	}
	st->records = img->n_slots + img->n_sets + img->n_files + img->n_globs + img->n_binsets +
		      img->n_nets;
	for (i = 0; i < img->n_inodes; i++) {
		if ((err = resolve_request(&w, &img->inodes[i])))
			return err;
	}
	st->inodes = w.written;
	st->inode_skipped = w.skipped;
	st->records += w.written;
	err = policy_anchor__write(b, img, gen, st);
	st->records += st->anchors;
	return err;
}

static int switch_to(struct policy_backend *b, const struct aw_policy_config *cfg)
{
	__u32 zero = 0;

	return b->update(b, POLICY_MAP_CONFIG, &zero, cfg);
}

static void delete_generation(struct policy_backend *b, __u32 gen, size_t *deleted)
{
	int map, n;

	for (map = 0; map < POLICY_MAP__COUNT; map++) {
		if (map == POLICY_MAP_CONFIG)
			continue;
		n = b->delete_gen(b, map, gen);
		if (n > 0 && deleted)
			*deleted += n;
	}
}

static __u32 next_gen(__u32 gen)
{
	return gen + 1 ? gen + 1 : 1; /* 0 means "no policy": skip it on wrap-around */
}

int policy_apply(struct policy_backend *b, const struct policy_image *img,
		 struct policy_apply_stats *st)
{
	struct policy_apply_stats local = {};
	struct aw_policy_config cur, cfg;
	__u32 gen;
	int err;

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	err = b->config(b, &cur);
	if (err)
		return err;
	gen = next_gen(cur.gen);
	/* Leftovers of an earlier failed apply must not mix into this generation. */
	delete_generation(b, gen, NULL);
	err = write_image(b, img, gen, st);
	if (!err && b->flush)
		err = b->flush(b);
	if (err) {
		delete_generation(b, gen, NULL);
		return err;
	}
	policy_image__config(img, gen, &cfg);
	err = switch_to(b, &cfg);
	if (err) {
		delete_generation(b, gen, NULL);
		return err;
	}
	st->gen = gen;
	if (cur.gen)
		delete_generation(b, cur.gen, &st->deleted);
	return 0;
}

int policy_apply__clear(struct policy_backend *b, struct policy_apply_stats *st)
{
	struct policy_apply_stats local = {};
	struct aw_policy_config cur, cfg = {};
	int err;

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	err = b->config(b, &cur);
	if (err)
		return err;
	cfg.gen = next_gen(cur.gen);
	err = switch_to(b, &cfg);
	if (err)
		return err;
	st->gen = cfg.gen;
	if (cur.gen)
		delete_generation(b, cur.gen, &st->deleted);
	return 0;
}
