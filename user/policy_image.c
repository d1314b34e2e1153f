// SPDX-License-Identifier: Apache-2.0
/*
 * The policy image's storage: growable record arrays, the hash indexes the compiler merges
 * through and the reference matcher looks up with (one probe sequence per key, so a lookup costs
 * the same with 10 rules or 100 000), and a string pool that lives as long as the image.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy_image.h"
#include "policy_pattern.h"

/*
 * Open addressing, linear probing. Each slot keeps 32 bits of the key's hash next to the
 * record index, so a probe that misses (most lookups of a decision do) never touches a record.
 */
struct policy_slot {
	__u32 idx; /* record index + 1; 0 = empty */
	__u32 tag; /* high half of the key's hash */
};

struct policy_index {
	struct policy_slot *slot;
	size_t mask;
	size_t n;
};

#define POOL_CHUNK 65536

struct pool_chunk {
	struct pool_chunk *next;
	size_t used, size;
	char data[];
};

struct policy_strpool {
	struct pool_chunk *head;
};

struct policy_image *policy_image__new(void)
{
	struct policy_image *img = calloc(1, sizeof(*img));

	if (!img)
		return NULL;
	img->file_idx = calloc(1, sizeof(*img->file_idx));
	img->net_idx = calloc(1, sizeof(*img->net_idx));
	img->bin_idx = calloc(1, sizeof(*img->bin_idx));
	img->pool = calloc(1, sizeof(*img->pool));
	if (!img->file_idx || !img->net_idx || !img->bin_idx || !img->pool) {
		policy_image__free(img);
		return NULL;
	}
	return img;
}

static void index_free(struct policy_index *ix)
{
	if (ix)
		free(ix->slot);
	free(ix);
}

void policy_image__free(struct policy_image *img)
{
	if (!img)
		return;
	for (size_t i = 0; i < img->n_files; i++)
		free(img->files[i].gb);
	for (int i = 0; i < img->n_sets; i++)
		free(img->sets[i].policies);
	for (int i = 0; i < img->n_binset_ids; i++)
		free(img->binset_defs[i]);
	free(img->binset_defs);
	free(img->rules);
	free(img->sets);
	free(img->slots);
	free(img->files);
	free(img->inodes);
	free(img->globs);
	free(img->binsets);
	free(img->nets);
	index_free(img->file_idx);
	index_free(img->net_idx);
	index_free(img->bin_idx);
	if (img->pool) {
		struct pool_chunk *c = img->pool->head, *next;

		for (; c; c = next) {
			next = c->next;
			free(c);
		}
		free(img->pool);
	}
	free(img);
}

const char *policy_image__strdup(struct policy_image *img, const char *s)
{
	size_t n = strlen(s) + 1;
	struct pool_chunk *c = img->pool->head;
	char *p;

	if (!c || c->size - c->used < n) {
		size_t size = n > POOL_CHUNK ? n : POOL_CHUNK;

		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->size = size;
		c->used = 0;
		c->next = img->pool->head;
		img->pool->head = c;
	}
	p = c->data + c->used;
	memcpy(p, s, n);
	c->used += n;
	return p;
}

/* Grow an array of `size`-byte records to hold one more; -ENOMEM. */
static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	void *p;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	p = realloc(*arr, ncap * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static __u64 mix64(__u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static __u64 file_key_hash(__u32 set, __u8 kind, __u64 hash)
{
	return mix64(hash ^ ((__u64)set << 8) ^ kind);
}

static __u64 net_key_hash(__u32 set, const __u8 addr[16], __u8 bits)
{
	__u64 a, b;

	memcpy(&a, addr, 8);
	memcpy(&b, addr + 8, 8);
	return mix64(a ^ mix64(b ^ ((__u64)set << 8) ^ bits));
}

/* Rehash into twice the slots when 1/2 full; `hash_of(i)` gives record i's hash. */
static int index_reserve(struct policy_index *ix, const struct policy_image *img,
			 __u64 (*hash_of)(const struct policy_image *, __u32))
{
	struct policy_slot *slot;
	size_t size, i;

	if (ix->slot && (ix->n + 1) * 2 <= ix->mask + 1)
		return 0;
	size = ix->slot ? (ix->mask + 1) * 2 : 256;
	slot = calloc(size, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	if (ix->slot) {
		for (i = 0; i <= ix->mask; i++) {
			size_t h;

			if (!ix->slot[i].idx)
				continue;
			h = hash_of(img, ix->slot[i].idx - 1) & (size - 1);
			while (slot[h].idx)
				h = (h + 1) & (size - 1);
			slot[h] = ix->slot[i];
		}
		free(ix->slot);
	}
	ix->slot = slot;
	ix->mask = size - 1;
	return 0;
}

/* Put record `idx` (0-based) with key hash `kh` into the index (room reserved). */
static void index_put(struct policy_index *ix, __u64 kh, size_t idx)
{
	size_t h;

	for (h = kh & ix->mask; ix->slot[h].idx; h = (h + 1) & ix->mask)
		;
	ix->slot[h] = (struct policy_slot){(__u32)idx + 1, (__u32)(kh >> 32)};
	ix->n++;
}

static __u64 file_rec_hash(const struct policy_image *img, __u32 i)
{
	const struct aw_file_key *k = &img->files[i].key;

	return file_key_hash(k->set, (__u8)k->kind, k->hash);
}

static __u64 net_rec_hash(const struct policy_image *img, __u32 i)
{
	const struct aw_net_key *k = &img->nets[i].key;

	return net_key_hash(k->set, k->addr, (__u8)(k->prefixlen - 64));
}

static __u64 bin_rec_hash(const struct policy_image *img, __u32 i)
{
	const struct aw_binset_key *k = &img->binsets[i].key;

	return mix64(k->hash ^ k->binset);
}

const struct policy_file_rec *policy_image__file(const struct policy_image *img, __u32 set,
						 __u8 kind, __u64 hash)
{
	const struct policy_index *ix = img->file_idx;
	__u64 kh = file_key_hash(set, kind, hash);
	size_t h;

	if (!ix->slot)
		return NULL;
	for (h = kh & ix->mask; ix->slot[h].idx; h = (h + 1) & ix->mask) {
		const struct policy_file_rec *r;

		if (ix->slot[h].tag != (__u32)(kh >> 32))
			continue;
		r = &img->files[ix->slot[h].idx - 1];
		if (r->key.hash == hash && r->key.set == set && r->key.kind == kind)
			return r;
	}
	return NULL;
}

struct policy_file_rec *policy_image__file_get(struct policy_image *img, __u32 set, __u8 kind,
					       __u64 hash, const char *dir, const char *name)
{
	struct policy_index *ix = img->file_idx;
	struct policy_file_rec *r;

	r = (struct policy_file_rec *)policy_image__file(img, set, kind, hash);
	if (r)
		return r;
	if (index_reserve(ix, img, file_rec_hash) ||
	    grow((void **)&img->files, &img->cap_files, img->n_files, sizeof(*img->files)))
		return NULL;
	r = &img->files[img->n_files];
	memset(r, 0, sizeof(*r));
	r->key = (struct aw_file_key){.set = set, .kind = kind, .hash = hash};
	r->dir = policy_image__strdup(img, dir);
	r->name = name ? policy_image__strdup(img, name) : NULL;
	if (!r->dir || (name && !r->name))
		return NULL;
	index_put(ix, file_key_hash(set, kind, hash), img->n_files++);
	return r;
}

static void mask_addr(const __u8 in[16], __u8 bits, __u8 out[16])
{
	for (int i = 0; i < 16; i++) {
		int keep = bits - i * 8;

		out[i] = keep >= 8 ? in[i] : keep <= 0 ? 0 : (__u8)(in[i] & (0xff << (8 - keep)));
	}
}

static struct policy_net_rec *net_find(const struct policy_image *img, __u32 set,
				       const __u8 addr[16], __u8 bits)
{
	const struct policy_index *ix = img->net_idx;
	__u64 kh = net_key_hash(set, addr, bits);
	size_t h;

	if (!ix->slot)
		return NULL;
	for (h = kh & ix->mask; ix->slot[h].idx; h = (h + 1) & ix->mask) {
		struct policy_net_rec *r;

		if (ix->slot[h].tag != (__u32)(kh >> 32))
			continue;
		r = &img->nets[ix->slot[h].idx - 1];
		if (r->key.set == set && r->key.prefixlen == 64u + bits &&
		    !memcmp(r->key.addr, addr, 16))
			return r;
	}
	return NULL;
}

struct policy_net_rec *policy_image__net_get(struct policy_image *img, __u32 set,
					     const __u8 addr[16], __u8 bits)
{
	struct policy_index *ix = img->net_idx;
	struct policy_net_rec *r;
	__u8 a[16];

	mask_addr(addr, bits, a);
	r = net_find(img, set, a, bits);
	if (r)
		return r;
	if (index_reserve(ix, img, net_rec_hash) ||
	    grow((void **)&img->nets, &img->cap_nets, img->n_nets, sizeof(*img->nets)))
		return NULL;
	r = &img->nets[img->n_nets];
	memset(r, 0, sizeof(*r));
	r->key.prefixlen = 64u + bits;
	r->key.set = set;
	memcpy(r->key.addr, a, 16);
	index_put(ix, net_key_hash(set, a, bits), img->n_nets++);
	img->net_lens[bits / 8] |= (__u8)(1 << (bits % 8));
	return r;
}

const struct policy_net_rec *policy_image__lpm(const struct policy_image *img, __u32 set,
					       const __u8 addr[16])
{
	for (int bits = 128; bits >= 0; bits--) {
		const struct policy_net_rec *r;
		__u8 a[16];

		if (!(img->net_lens[bits / 8] & (1 << (bits % 8))))
			continue;
		mask_addr(addr, (__u8)bits, a);
		r = net_find(img, set, a, (__u8)bits);
		if (r)
			return r;
	}
	return NULL;
}

bool policy_image__in_binset(const struct policy_image *img, __u8 binset, __u64 hash)
{
	const struct policy_index *ix = img->bin_idx;
	size_t h;

	if (!ix->slot)
		return false;
	for (h = mix64(hash ^ binset) & ix->mask; ix->slot[h].idx; h = (h + 1) & ix->mask) {
		const struct aw_binset_key *k = &img->binsets[ix->slot[h].idx - 1].key;

		if (k->hash == hash && k->binset == binset)
			return true;
	}
	return false;
}

int policy_image__binset_add(struct policy_image *img, __u8 binset, const char *path)
{
	struct policy_index *ix = img->bin_idx;
	struct policy_binset_rec *r;
	__u64 hash = policy_hash__str(path);

	if (policy_image__in_binset(img, binset, hash))
		return 0;
	if (index_reserve(ix, img, bin_rec_hash) ||
	    grow((void **)&img->binsets, &img->cap_binsets, img->n_binsets, sizeof(*img->binsets)))
		return -ENOMEM;
	r = &img->binsets[img->n_binsets];
	r->key = (struct aw_binset_key){.binset = binset, .hash = hash};
	r->path = policy_image__strdup(img, path);
	if (!r->path)
		return -ENOMEM;
	index_put(ix, mix64(hash ^ binset), img->n_binsets++);
	return 0;
}

const struct policy_set_rec *policy_image__set(const struct policy_image *img, __u32 set)
{
	for (int i = 0; i < img->n_sets; i++)
		if (img->sets[i].set == set)
			return &img->sets[i];
	return NULL;
}

const struct policy_rule_info *policy_image__rule(const struct policy_image *img, __u32 id)
{
	return id >= 1 && id <= img->n_rules ? &img->rules[id - 1] : NULL;
}

struct aw_rule_verdict policy_image__verdict(const struct policy_image *img, __u32 id)
{
	const struct policy_rule_info *r = policy_image__rule(img, id);
	struct aw_rule_verdict v = {0};

	if (r) {
		v.action = r->action;
		v.flags = r->audit_mode ? AW_REF_AUDIT_MODE : 0;
	}
	return v;
}

void policy_image__config(const struct policy_image *img, __u32 gen, struct aw_policy_config *out)
{
	memset(out, 0, sizeof(*out));
	out->gen = gen;
	out->n_prefix_lens = img->n_prefix_lens;
	out->n_suffix_lens = img->n_suffix_lens;
	memcpy(out->prefix_lens, img->prefix_lens, sizeof(out->prefix_lens));
	memcpy(out->suffix_lens, img->suffix_lens, sizeof(out->suffix_lens));
}
