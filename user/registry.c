// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "registry.h"

/* --- UUIDs ----------------------------------------------------------------------------------- */

/* SHA-1 (FIPS 180-4), only for name-based UUIDs: not used for anything secret. */
struct sha1 {
	uint32_t h[5];
	uint64_t bytes;
	unsigned char block[64];
	size_t n;
};

static uint32_t rol32(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_compress(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f, k, t;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = rol32(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol32(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

static void sha1_init(struct sha1 *s)
{
	static const uint32_t iv[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};

	memset(s, 0, sizeof(*s));
	memcpy(s->h, iv, sizeof(iv));
}

static void sha1_update(struct sha1 *s, const void *data, size_t len)
{
	const unsigned char *p = data;

	s->bytes += len;
	while (len) {
		size_t n = 64 - s->n < len ? 64 - s->n : len;

		memcpy(s->block + s->n, p, n);
		s->n += n;
		p += n;
		len -= n;
		if (s->n == 64) {
			sha1_compress(s->h, s->block);
			s->n = 0;
		}
	}
}

static void sha1_final(struct sha1 *s, unsigned char out[20])
{
	uint64_t bits = s->bytes * 8;
	unsigned char pad = 0x80, zero = 0, len[8];
	int i;

	sha1_update(s, &pad, 1);
	while (s->n != 56)
		sha1_update(s, &zero, 1);
	for (i = 0; i < 8; i++)
		len[i] = (unsigned char)(bits >> (56 - 8 * i));
	sha1_update(s, len, 8);
	for (i = 0; i < 20; i++)
		out[i] = (unsigned char)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

static void uuid_format(const unsigned char b[16], char out[REGISTRY_UUID_LEN])
{
	snprintf(out, REGISTRY_UUID_LEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
}

static int uuid_parse(const char *s, unsigned char b[16])
{
	int i, n = 0;

	for (i = 0; s[i] && n < 32; i++) {
		unsigned int v;

		if (s[i] == '-')
			continue;
		if (sscanf(s + i, "%1x", &v) != 1)
			return -EINVAL;
		if (n % 2 == 0)
			b[n / 2] = (unsigned char)(v << 4);
		else
			b[n / 2] |= (unsigned char)v;
		n++;
	}
	return n == 32 && !s[i] ? 0 : -EINVAL;
}

int registry__uuid5(const char *ns, const char *name, char out[REGISTRY_UUID_LEN])
{
	unsigned char nsb[16], digest[20];
	struct sha1 s;

	if (uuid_parse(ns, nsb))
		return -EINVAL;
	sha1_init(&s);
	sha1_update(&s, nsb, sizeof(nsb));
	sha1_update(&s, name, strlen(name));
	sha1_final(&s, digest);
	digest[6] = (digest[6] & 0x0f) | 0x50; /* version 5 */
	digest[8] = (digest[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	uuid_format(digest, out);
	return 0;
}

void registry__uuid4(char out[REGISTRY_UUID_LEN])
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		memset(b, 0, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	uuid_format(b, out);
}

/* --- identity -------------------------------------------------------------------------------- */

static void agent_uid(const char *kind, const char *value, struct aw_agent *agent)
{
	char name[4200];
	char uid[REGISTRY_UUID_LEN];

	snprintf(name, sizeof(name), "%s:%s", kind, value);
	registry__uuid5(REGISTRY_UUID_NS, name, uid);
	snprintf(agent->agent_uid, sizeof(agent->agent_uid), "%s", uid);
}

void registry__identify(const char *mount, const char *path, struct aw_agent *agent,
			struct k8s_identity *k8s)
{
	struct k8s_identity parent = {};
	size_t mlen = strlen(mount);
	char up[4096];
	const char *rel, *base;
	char *slash;

	while (mlen > 1 && mount[mlen - 1] == '/')
		mlen--;
	rel = !strncmp(path, mount, mlen) && (path[mlen] == '/' || !path[mlen]) ? path + mlen
										: path;
	if (!*rel)
		rel = "/";
	memset(k8s, 0, sizeof(*k8s));
	k8s__parse_cgroup_path(path, k8s);
	snprintf(up, sizeof(up), "%s", path);
	slash = strrchr(up, '/');
	if (slash && slash != up) {
		*slash = '\0';
		k8s__parse_cgroup_path(up, &parent);
	}

	if (k8s->container_id[0] && strcmp(k8s->container_id, parent.container_id)) {
		if (k8s->pod_uid[0])
			snprintf(agent->name, sizeof(agent->name), "pod-%s/%.12s", k8s->pod_uid,
				 k8s->container_id);
		else
			snprintf(agent->name, sizeof(agent->name), "%.12s", k8s->container_id);
		agent_uid("container", k8s->container_id, agent);
		return;
	}
	if (k8s->pod_uid[0] && strcmp(k8s->pod_uid, parent.pod_uid)) {
		snprintf(agent->name, sizeof(agent->name), "pod-%s", k8s->pod_uid);
		agent_uid("pod", k8s->pod_uid, agent);
		return;
	}
	base = strrchr(rel, '/');
	base = base && base[1] ? base + 1 : "root";
	snprintf(agent->name, sizeof(agent->name), "%s", base);
	agent_uid("cgroup", rel, agent);
}

/* --- the agent table and the cgroup table ---------------------------------------------------- */

struct registry *registry__new(void)
{
	return calloc(1, sizeof(struct registry));
}

void registry__free(struct registry *r)
{
	__u32 slot;

	if (!r)
		return;
	for (slot = 0; slot < AW_AGENT_SLOTS; slot++)
		free(r->agents[slot].path);
	free(r->cgroups);
	free(r);
}

/* Index of the first entry with id >= cgroup_id. */
static size_t cgroup_index(const struct registry *r, __u64 cgroup_id)
{
	size_t lo = 0, hi = r->n_cgroups;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->cgroups[mid].id < cgroup_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int registry__map_cgroup(struct registry *r, __u64 cgroup_id, __u32 slot)
{
	size_t i = cgroup_index(r, cgroup_id);

	if (i < r->n_cgroups && r->cgroups[i].id == cgroup_id) {
		r->cgroups[i].slot = slot;
		return 0;
	}
	if (r->n_cgroups == r->cap_cgroups) {
		size_t cap = r->cap_cgroups ? 2 * r->cap_cgroups : 64;
		struct registry_cgroup *c = realloc(r->cgroups, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		r->cgroups = c;
		r->cap_cgroups = cap;
	}
	memmove(&r->cgroups[i + 1], &r->cgroups[i], (r->n_cgroups - i) * sizeof(r->cgroups[0]));
	r->cgroups[i] = (struct registry_cgroup){.id = cgroup_id, .slot = slot};
	r->n_cgroups++;
	return 0;
}

void registry__unmap_cgroup(struct registry *r, __u64 cgroup_id)
{
	size_t i = cgroup_index(r, cgroup_id);

	if (i == r->n_cgroups || r->cgroups[i].id != cgroup_id)
		return;
	memmove(&r->cgroups[i], &r->cgroups[i + 1], (r->n_cgroups - i - 1) * sizeof(r->cgroups[0]));
	r->n_cgroups--;
}

__u32 registry__cgroup_slot(const struct registry *r, __u64 cgroup_id)
{
	size_t i = cgroup_index(r, cgroup_id);

	return i < r->n_cgroups && r->cgroups[i].id == cgroup_id ? r->cgroups[i].slot : 0;
}

static bool slot_valid(__u32 slot)
{
	return slot > 0 && slot < AW_AGENT_SLOT_PENDING;
}

int registry__add(struct registry *r, const struct aw_agent *agent, const char *path,
		  const struct k8s_identity *k8s, enum registry_source source)
{
	struct registry_agent *a;
	char *copy;
	int err;

	if (!slot_valid(agent->slot))
		return -ERANGE;
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	a = &r->agents[agent->slot];
	if (a->agent.slot && a->cgroup_id != agent->root_cgroup_id)
		registry__remove(r, agent->slot);
	err = registry__map_cgroup(r, agent->root_cgroup_id, agent->slot);
	if (err) {
		free(copy);
		return err;
	}
	if (!a->agent.slot)
		r->n_agents++;
	free(a->path);
	a->agent = *agent;
	a->cgroup_id = agent->root_cgroup_id;
	a->path = copy;
	if (k8s)
		a->k8s = *k8s;
	else
		memset(&a->k8s, 0, sizeof(a->k8s));
	a->source = source;
	return 0;
}

void registry__remove(struct registry *r, __u32 slot)
{
	struct registry_agent *a = registry__agent(r, slot);
	size_t i, n = 0;

	if (!a)
		return;
	for (i = 0; i < r->n_cgroups; i++)
		if (r->cgroups[i].slot != slot)
			r->cgroups[n++] = r->cgroups[i];
	r->n_cgroups = n;
	free(a->path);
	memset(a, 0, sizeof(*a));
	r->n_agents--;
}

struct registry_agent *registry__agent(struct registry *r, __u32 slot)
{
	return slot_valid(slot) && r->agents[slot].agent.slot ? &r->agents[slot] : NULL;
}

struct registry_agent *registry__agent_by_cgroup(struct registry *r, __u64 cgroup_id)
{
	struct registry_agent *a = registry__agent(r, registry__cgroup_slot(r, cgroup_id));

	return a && a->cgroup_id == cgroup_id ? a : NULL;
}

struct registry_agent *registry__agent_by_path(struct registry *r, const char *path)
{
	__u32 slot;

	for (slot = 1; slot < AW_AGENT_SLOT_PENDING; slot++)
		if (r->agents[slot].agent.slot && !strcmp(r->agents[slot].path, path))
			return &r->agents[slot];
	return NULL;
}

struct registry_agent *registry__attribute(struct registry *r, __u64 cgroup_id, __u32 slot)
{
	__u32 mapped = registry__cgroup_slot(r, cgroup_id);

	return registry__agent(r, mapped ? mapped : slot);
}

void registry__prune(struct registry *r, bool (*alive)(__u64 cgroup_id, void *ctx), void *ctx)
{
	size_t i, n = 0;

	for (i = 0; i < r->n_cgroups; i++) {
		const struct registry_cgroup *c = &r->cgroups[i];
		struct registry_agent *a = registry__agent(r, c->slot);

		if ((a && a->cgroup_id == c->id) || alive(c->id, ctx))
			r->cgroups[n++] = *c;
	}
	r->n_cgroups = n;
}
