// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proc_cache.h"

#define NIL UINT32_MAX

/* An immutable binary path shared by the processes that run it (a fork takes a reference). */
struct proc_path {
	__u32 refs;
	__u32 len;
	char s[];
};

enum node_state {
	NODE_FREE,
	NODE_LIVE,
	NODE_GHOST,
};

struct node {
	struct proc_entry e;
	struct proc_path *path; /* NULL = unknown; e.path points into it, or at "" */
	__u32 hnext;		/* next in the hash bucket's chain */
	__u32 prev, next;	/* in the list of its state */
	__u32 mark;		/* ancestry walk that last visited it */
	__u8 state;		/* enum node_state */
};

/* Intrusive list of node indices: head = newest, tail = oldest. */
struct list {
	__u32 head, tail;
	size_t n;
};

struct proc_cache {
	struct node *nodes;
	__u32 *buckets;
	unsigned int hash_shift;
	size_t capacity;
	struct list lists[3]; /* by enum node_state: free, live LRU, ghosts in exit order */
	__u32 walk_gen;
	struct proc_cache_stats stats;
};

static const char unknown_path[] = "";

/* --- paths ------------------------------------------------------------------------------ */

static struct proc_path *path_new(const char *s, size_t len, bool *truncated)
{
	struct proc_path *p;

	len = strnlen(s, len);
	*truncated = len > PROC_CACHE_PATH_MAX - 1;
	if (*truncated)
		len = PROC_CACHE_PATH_MAX - 1;
	p = malloc(sizeof(*p) + len + 1);
	if (!p)
		return NULL;
	p->refs = 1;
	p->len = (__u32)len;
	memcpy(p->s, s, len);
	p->s[len] = '\0';
	return p;
}

static void path_put(struct proc_path *p)
{
	if (p && --p->refs == 0)
		free(p);
}

/* Point n at path p (a reference the caller hands over), releasing the old one. */
static void node_set_path(struct node *n, struct proc_path *p, bool truncated)
{
	path_put(n->path);
	n->path = p;
	n->e.path = p ? p->s : unknown_path;
	n->e.path_truncated = p && truncated;
}

/* --- lists -------------------------------------------------------------------------------- */

static void list_unlink(struct proc_cache *c, __u32 i)
{
	struct node *n = &c->nodes[i];
	struct list *l = &c->lists[n->state];

	if (n->prev != NIL)
		c->nodes[n->prev].next = n->next;
	else
		l->head = n->next;
	if (n->next != NIL)
		c->nodes[n->next].prev = n->prev;
	else
		l->tail = n->prev;
	n->prev = n->next = NIL;
	l->n--;
}

static void list_push_head(struct proc_cache *c, __u32 i, enum node_state state)
{
	struct node *n = &c->nodes[i];
	struct list *l = &c->lists[state];

	n->state = (__u8)state;
	n->prev = NIL;
	n->next = l->head;
	if (l->head != NIL)
		c->nodes[l->head].prev = i;
	else
		l->tail = i;
	l->head = i;
	l->n++;
}

static void touch(struct proc_cache *c, __u32 i)
{
	if (c->nodes[i].state == NODE_LIVE && c->lists[NODE_LIVE].head != i) {
		list_unlink(c, i);
		list_push_head(c, i, NODE_LIVE);
	}
}

/* --- hash index --------------------------------------------------------------------------- */

static __u32 bucket_of(const struct proc_cache *c, __u32 tgid)
{
	/* Fibonacci hashing: sequential pids spread over the high bits. */
	return (__u32)(((__u64)tgid * 0x9e3779b97f4a7c15ULL) >> c->hash_shift);
}

static __u32 find(const struct proc_cache *c, __u32 tgid)
{
	__u32 i;

	for (i = c->buckets[bucket_of(c, tgid)]; i != NIL; i = c->nodes[i].hnext)
		if (c->nodes[i].e.tgid == tgid)
			return i;
	return NIL;
}

static void hash_add(struct proc_cache *c, __u32 i)
{
	__u32 *head = &c->buckets[bucket_of(c, c->nodes[i].e.tgid)];

	c->nodes[i].hnext = *head;
	*head = i;
}

static void hash_del(struct proc_cache *c, __u32 i)
{
	__u32 *link = &c->buckets[bucket_of(c, c->nodes[i].e.tgid)];

	while (*link != i)
		link = &c->nodes[*link].hnext;
	*link = c->nodes[i].hnext;
	c->nodes[i].hnext = NIL;
}

/* --- entries ------------------------------------------------------------------------------ */

/* Take a node out of use: its list, the index, its path. */
static void node_release(struct proc_cache *c, __u32 i)
{
	list_unlink(c, i);
	hash_del(c, i);
	node_set_path(&c->nodes[i], NULL, false);
}

/*
 * A node for tgid, indexed and at the head of the live list with its fields cleared: the one
 * tgid already has, else a free one, else the oldest ghost, else the least recently used live
 * entry.
 */
static __u32 node_get(struct proc_cache *c, __u32 tgid)
{
	struct node *n;
	__u32 i = find(c, tgid);

	if (i != NIL) {
		c->stats.replaced++;
		list_unlink(c, i);
		hash_del(c, i);
	} else if ((i = c->lists[NODE_FREE].tail) != NIL) {
		list_unlink(c, i);
	} else if ((i = c->lists[NODE_GHOST].tail) != NIL) {
		c->stats.reclaimed++;
		node_release(c, i);
	} else {
		i = c->lists[NODE_LIVE].tail;
		c->stats.evictions++;
		node_release(c, i);
	}
	n = &c->nodes[i];
	node_set_path(n, NULL, false);
	n->e = (struct proc_entry){.tgid = tgid, .path = unknown_path};
	hash_add(c, i);
	list_push_head(c, i, NODE_LIVE);
	return i;
}

struct proc_cache *proc_cache__new(size_t capacity)
{
	struct proc_cache *c;
	size_t n_buckets = 2;
	unsigned int bits = 1;

	if (capacity == 0 || capacity > (1U << 30)) {
		errno = EINVAL;
		return NULL;
	}
	while (n_buckets < capacity) {
		n_buckets <<= 1;
		bits++;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->nodes = calloc(capacity, sizeof(*c->nodes));
	c->buckets = malloc(n_buckets * sizeof(*c->buckets));
	if (!c->nodes || !c->buckets) {
		proc_cache__free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->capacity = capacity;
	c->hash_shift = 64 - bits;
	memset(c->buckets, 0xff, n_buckets * sizeof(*c->buckets)); /* all NIL */
	for (int s = 0; s < 3; s++)
		c->lists[s] = (struct list){NIL, NIL, 0};
	for (size_t i = 0; i < capacity; i++) {
		c->nodes[i].hnext = NIL;
		c->nodes[i].e.path = unknown_path;
		list_push_head(c, (__u32)i, NODE_FREE);
	}
	c->stats.capacity = capacity;
	return c;
}

void proc_cache__free(struct proc_cache *c)
{
	if (!c)
		return;
	if (c->nodes)
		for (size_t i = 0; i < c->capacity; i++)
			path_put(c->nodes[i].path);
	free(c->nodes);
	free(c->buckets);
	free(c);
}

int proc_cache__insert(struct proc_cache *c, const struct proc_info *info)
{
	struct proc_path *p = NULL;
	bool truncated = false;
	struct node *n;

	if (!c || !info || !info->tgid)
		return -EINVAL;
	if (info->path) {
		p = path_new(info->path, info->path_len, &truncated);
		if (!p)
			c->stats.path_nomem++;
	}
	n = &c->nodes[node_get(c, info->tgid)];
	n->e.ppid = info->ppid;
	n->e.agent_slot = info->agent_slot;
	n->e.exec_id = info->exec_id;
	n->e.parent_exec_id = info->parent_exec_id;
	n->e.start_ns = info->start_ns;
	node_set_path(n, p, truncated);
	return info->path && !p ? -ENOMEM : 0;
}

int proc_cache__on_fork(struct proc_cache *c, __u32 parent_tgid, __u32 child_tgid, __u32 agent_slot,
			__u64 start_ns)
{
	struct proc_path *p = NULL;
	struct proc_entry from = {};
	bool truncated = false;
	struct node *n;
	__u32 i;

	if (!c || !parent_tgid || !child_tgid)
		return -EINVAL;
	/* Take what the child inherits before node_get() can evict the parent. */
	i = find(c, parent_tgid);
	if (i != NIL) {
		touch(c, i);
		from = c->nodes[i].e;
		p = c->nodes[i].path;
		truncated = from.path_truncated;
		if (p)
			p->refs++;
	}
	n = &c->nodes[node_get(c, child_tgid)];
	n->e.ppid = parent_tgid;
	n->e.agent_slot = agent_slot;
	n->e.exec_id = from.exec_id;
	n->e.parent_exec_id = from.parent_exec_id;
	n->e.start_ns = start_ns;
	node_set_path(n, p, truncated);
	return 0;
}

int proc_cache__on_exec(struct proc_cache *c, const struct proc_info *info)
{
	struct proc_path *p = NULL;
	bool truncated = false;
	struct node *n;
	size_t len;
	__u32 i, parent;

	if (!c || !info || !info->tgid)
		return -EINVAL;
	i = find(c, info->tgid);
	if (i == NIL) {
		i = node_get(c, info->tgid);
		c->nodes[i].e.ppid = info->ppid;
	} else if (c->nodes[i].state == NODE_GHOST) {
		list_unlink(c, i); /* an exec record read after the exit record: alive after all */
		list_push_head(c, i, NODE_LIVE);
		c->nodes[i].e.exited = false;
	} else {
		touch(c, i);
	}
	n = &c->nodes[i];
	if (!n->e.start_ns)
		n->e.start_ns = info->start_ns;
	n->e.agent_slot = info->agent_slot;
	n->e.exec_id = info->exec_id;
	n->e.parent_exec_id = info->parent_exec_id;
	if (!n->e.parent_exec_id && n->e.ppid && (parent = find(c, n->e.ppid)) != NIL)
		n->e.parent_exec_id = c->nodes[parent].e.exec_id;

	if (!info->path) {
		node_set_path(n, NULL, false);
		return 0;
	}
	/* Re-exec of the same binary (and fork + exec of the parent's) keeps the shared copy. */
	len = strnlen(info->path, info->path_len);
	if (n->path && !n->e.path_truncated && n->path->len == len &&
	    memcmp(n->path->s, info->path, len) == 0)
		return 0;
	p = path_new(info->path, len, &truncated);
	node_set_path(n, p, truncated);
	if (!p) {
		c->stats.path_nomem++;
		return -ENOMEM;
	}
	return 0;
}

int proc_cache__on_exit(struct proc_cache *c, __u32 tgid)
{
	__u32 i;

	if (!c)
		return -EINVAL;
	i = find(c, tgid);
	if (i == NIL)
		return -ENOENT;
	if (c->nodes[i].state == NODE_LIVE) {
		list_unlink(c, i);
		list_push_head(c, i, NODE_GHOST);
		c->nodes[i].e.exited = true;
	}
	return 0;
}

const struct proc_entry *proc_cache__lookup(struct proc_cache *c, __u32 tgid)
{
	__u32 i;

	if (!c)
		return NULL;
	i = find(c, tgid);
	if (i == NIL)
		return NULL;
	touch(c, i);
	return &c->nodes[i].e;
}

/* A fresh mark for one walk; on wrap-around, old marks are cleared so none can collide. */
static __u32 next_walk_gen(struct proc_cache *c)
{
	if (++c->walk_gen == 0) {
		for (size_t i = 0; i < c->capacity; i++)
			c->nodes[i].mark = 0;
		c->walk_gen = 1;
	}
	return c->walk_gen;
}

int proc_cache__ancestry(struct proc_cache *c, __u32 tgid, const char **paths, int max)
{
	const struct proc_entry *cur, *up;
	__u32 i, j, gen;
	int n = 0;

	if (!c || !paths || max < 0)
		return -EINVAL;
	i = find(c, tgid);
	if (i == NIL)
		return -ENOENT;
	gen = next_walk_gen(c);
	while (n < max) {
		cur = &c->nodes[i].e;
		c->nodes[i].mark = gen;
		paths[n++] = cur->path;
		touch(c, i);
		if (!cur->ppid || (j = find(c, cur->ppid)) == NIL)
			break;
		up = &c->nodes[j].e;
		if (c->nodes[j].mark == gen)
			break; /* a cycle: only corrupt input makes one */
		if (up->agent_slot != cur->agent_slot)
			break; /* left the agent */
		if (up->start_ns && cur->start_ns && up->start_ns > cur->start_ns)
			break; /* the parent's tgid now belongs to a younger process */
		i = j;
	}
	return n;
}

void proc_cache__stats(const struct proc_cache *c, struct proc_cache_stats *st)
{
	if (!st)
		return;
	if (!c) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = c->stats;
	st->live = c->lists[NODE_LIVE].n;
	st->exited = c->lists[NODE_GHOST].n;
}
