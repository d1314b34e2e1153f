// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proc_cache.h"

static struct proc_info info(__u32 tgid, __u32 ppid, __u32 slot, __u64 exec_id, const char *path)
{
	return (struct proc_info){
		.tgid = tgid,
		.ppid = ppid,
		.agent_slot = slot,
		.exec_id = exec_id,
		.start_ns = 0,
		.path = path,
		.path_len = path ? strlen(path) : 0,
	};
}

static void insert(struct proc_cache *c, __u32 tgid, __u32 ppid, __u32 slot, const char *path)
{
	struct proc_info i = info(tgid, ppid, slot, 1000 + tgid, path);

	assert_int_equal(proc_cache__insert(c, &i), 0);
}

static void exec(struct proc_cache *c, __u32 tgid, __u64 exec_id, const char *path)
{
	const struct proc_entry *e = proc_cache__lookup(c, tgid);
	struct proc_info i = info(tgid, 0, e ? e->agent_slot : 0, exec_id, path);

	assert_int_equal(proc_cache__on_exec(c, &i), 0);
}

static struct proc_cache_stats stats(struct proc_cache *c)
{
	struct proc_cache_stats st;

	proc_cache__stats(c, &st);
	return st;
}

static void test_new_free(void **state)
{
	struct proc_cache *c;

	errno = 0;
	assert_null(proc_cache__new(0));
	assert_int_equal(errno, EINVAL);
	assert_null(proc_cache__new((size_t)1 << 31));
	assert_int_equal(errno, EINVAL);
	proc_cache__free(NULL);

	c = proc_cache__new(1);
	assert_non_null(c);
	assert_int_equal(stats(c).capacity, 1);
	assert_int_equal(stats(c).live, 0);
	assert_null(proc_cache__lookup(c, 1));
	proc_cache__free(c);
}

static void test_bad_args(void **state)
{
	struct proc_cache *c = proc_cache__new(8);
	struct proc_info i = info(0, 1, 0, 1, "/bin/sh");
	const char *paths[4];
	struct proc_cache_stats st;

	assert_int_equal(proc_cache__insert(c, &i), -EINVAL);
	assert_int_equal(proc_cache__insert(c, NULL), -EINVAL);
	assert_int_equal(proc_cache__insert(NULL, &i), -EINVAL);
	assert_int_equal(proc_cache__on_exec(c, &i), -EINVAL);
	assert_int_equal(proc_cache__on_fork(c, 0, 5, 0, 0), -EINVAL);
	assert_int_equal(proc_cache__on_fork(c, 5, 0, 0, 0), -EINVAL);
	assert_int_equal(proc_cache__on_fork(NULL, 1, 2, 0, 0), -EINVAL);
	assert_int_equal(proc_cache__on_exit(NULL, 1), -EINVAL);
	assert_int_equal(proc_cache__on_exit(c, 77), -ENOENT);
	assert_null(proc_cache__lookup(NULL, 1));
	assert_int_equal(proc_cache__ancestry(c, 77, paths, 4), -ENOENT);
	insert(c, 1, 0, 0, "/sbin/init");
	assert_int_equal(proc_cache__ancestry(c, 1, NULL, 4), -EINVAL);
	assert_int_equal(proc_cache__ancestry(c, 1, paths, -1), -EINVAL);
	assert_int_equal(proc_cache__ancestry(NULL, 1, paths, 4), -EINVAL);
	assert_int_equal(proc_cache__ancestry(c, 1, paths, 0), 0);
	proc_cache__stats(NULL, &st);
	assert_int_equal(st.capacity, 0);
	proc_cache__stats(c, NULL);
	proc_cache__free(c);
}

static void test_fork_inherits(void **state)
{
	struct proc_cache *c = proc_cache__new(16);
	const struct proc_entry *p, *ch;

	struct proc_info i = info(100, 1, 3, 5000, "/usr/bin/claude");
	i.parent_exec_id = 4000;
	i.start_ns = 10;
	assert_int_equal(proc_cache__insert(c, &i), 0);
	assert_int_equal(proc_cache__on_fork(c, 100, 101, 3, 20), 0);
	p = proc_cache__lookup(c, 100);
	ch = proc_cache__lookup(c, 101);
	assert_non_null(p);
	assert_non_null(ch);
	assert_int_equal(ch->tgid, 101);
	assert_int_equal(ch->ppid, 100);
	assert_int_equal(ch->agent_slot, 3);
	assert_int_equal(ch->exec_id, 5000);
	assert_int_equal(ch->parent_exec_id, 4000);
	assert_int_equal(ch->start_ns, 20);
	assert_false(ch->exited);
	assert_string_equal(ch->path, "/usr/bin/claude");
	assert_ptr_equal(ch->path, p->path); /* shared, not copied */
	proc_cache__free(c);
}

static void test_fork_from_unknown_parent(void **state)
{
	struct proc_cache *c = proc_cache__new(16);
	const struct proc_entry *e;
	const char *paths[4];

	assert_int_equal(proc_cache__on_fork(c, 55, 56, 2, 0), 0);
	e = proc_cache__lookup(c, 56);
	assert_non_null(e);
	assert_string_equal(e->path, "");
	assert_int_equal(e->exec_id, 0);
	assert_int_equal(e->ppid, 55);
	assert_int_equal(proc_cache__ancestry(c, 56, paths, 4), 1);
	assert_string_equal(paths[0], "");
	proc_cache__free(c);
}

static void test_exec(void **state)
{
	struct proc_cache *c = proc_cache__new(16);
	const struct proc_entry *e, *p;
	struct proc_info i;
	const char *before;

	insert(c, 10, 1, 1, "/bin/bash");
	assert_int_equal(proc_cache__on_fork(c, 10, 11, 1, 0), 0);
	p = proc_cache__lookup(c, 10);

	/* fork + exec of the same binary keeps the shared copy */
	before = proc_cache__lookup(c, 11)->path;
	exec(c, 11, 7777, "/bin/bash");
	e = proc_cache__lookup(c, 11);
	assert_ptr_equal(e->path, before);
	assert_int_equal(e->exec_id, 7777);
	assert_int_equal(e->parent_exec_id, p->exec_id); /* 0 given: taken from the parent */

	/* a new binary */
	i = info(11, 999, 4, 8888, "/usr/bin/make");
	i.parent_exec_id = 1234;
	i.start_ns = 55;
	assert_int_equal(proc_cache__on_exec(c, &i), 0);
	e = proc_cache__lookup(c, 11);
	assert_string_equal(e->path, "/usr/bin/make");
	assert_int_equal(e->exec_id, 8888);
	assert_int_equal(e->parent_exec_id, 1234);
	assert_int_equal(e->ppid, 10);	    /* kept: the parent it was forked by */
	assert_int_equal(e->start_ns, 55);  /* was unknown, now known */
	assert_int_equal(e->agent_slot, 4); /* the exec record is current */
	assert_string_equal(proc_cache__lookup(c, 10)->path, "/bin/bash");

	/* an exec of an uncached process creates it */
	i = info(300, 10, 1, 9, "/usr/bin/git");
	assert_int_equal(proc_cache__on_exec(c, &i), 0);
	e = proc_cache__lookup(c, 300);
	assert_non_null(e);
	assert_int_equal(e->ppid, 10);
	assert_string_equal(e->path, "/usr/bin/git");
	assert_int_equal(e->parent_exec_id, proc_cache__lookup(c, 10)->exec_id);

	/* no path: unknown binary */
	i = info(300, 10, 1, 10, NULL);
	assert_int_equal(proc_cache__on_exec(c, &i), 0);
	assert_string_equal(proc_cache__lookup(c, 300)->path, "");
	proc_cache__free(c);
}

static void test_path_bounds(void **state)
{
	struct proc_cache *c = proc_cache__new(4);
	char *longp = malloc(PROC_CACHE_PATH_MAX * 2);
	const struct proc_entry *e;
	struct proc_info i;

	assert_non_null(longp);
	memset(longp, 'x', PROC_CACHE_PATH_MAX * 2);
	longp[0] = '/';

	/* not NUL-terminated: only path_len bytes are read */
	i = info(1, 0, 0, 1, NULL);
	i.path = longp;
	i.path_len = 5;
	assert_int_equal(proc_cache__insert(c, &i), 0);
	e = proc_cache__lookup(c, 1);
	assert_string_equal(e->path, "/xxxx");
	assert_false(e->path_truncated);

	/* longer than the bound: cut and flagged */
	i.path_len = PROC_CACHE_PATH_MAX * 2;
	assert_int_equal(proc_cache__on_exec(c, &i), 0);
	e = proc_cache__lookup(c, 1);
	assert_int_equal(strlen(e->path), PROC_CACHE_PATH_MAX - 1);
	assert_true(e->path_truncated);

	/* a fork inherits the flag */
	assert_int_equal(proc_cache__on_fork(c, 1, 2, 0, 0), 0);
	assert_true(proc_cache__lookup(c, 2)->path_truncated);

	/* exactly the bound minus the NUL fits */
	i.path_len = PROC_CACHE_PATH_MAX - 1;
	assert_int_equal(proc_cache__on_exec(c, &i), 0);
	e = proc_cache__lookup(c, 1);
	assert_false(e->path_truncated);
	assert_int_equal(strlen(e->path), PROC_CACHE_PATH_MAX - 1);

	/* an embedded NUL ends the path */
	memcpy(longp, "/a\0b", 4);
	i.path_len = 4;
	assert_int_equal(proc_cache__on_exec(c, &i), 0);
	assert_string_equal(proc_cache__lookup(c, 1)->path, "/a");
	free(longp);
	proc_cache__free(c);
}

static void test_exit_ghosts(void **state)
{
	struct proc_cache *c = proc_cache__new(16);
	const struct proc_entry *e;
	const char *paths[8];

	insert(c, 1, 0, 5, "/usr/bin/agent");
	assert_int_equal(proc_cache__on_fork(c, 1, 2, 5, 0), 0);
	exec(c, 2, 20, "/bin/sh");
	assert_int_equal(proc_cache__on_fork(c, 2, 3, 5, 0), 0);
	exec(c, 3, 30, "/usr/bin/curl");

	/* sh exits; curl, now an orphan, still shows it */
	assert_int_equal(proc_cache__on_exit(c, 2), 0);
	e = proc_cache__lookup(c, 2);
	assert_non_null(e);
	assert_true(e->exited);
	assert_int_equal(stats(c).live, 2);
	assert_int_equal(stats(c).exited, 1);
	assert_int_equal(proc_cache__ancestry(c, 3, paths, 8), 3);
	assert_string_equal(paths[0], "/usr/bin/curl");
	assert_string_equal(paths[1], "/bin/sh");
	assert_string_equal(paths[2], "/usr/bin/agent");

	/* exiting twice is harmless */
	assert_int_equal(proc_cache__on_exit(c, 2), 0);
	assert_int_equal(stats(c).exited, 1);

	/* an exec read after the exit revives it */
	exec(c, 2, 21, "/bin/true");
	assert_false(proc_cache__lookup(c, 2)->exited);
	assert_int_equal(stats(c).exited, 0);
	proc_cache__free(c);
}

/* Ghosts make room before any live entry is evicted, oldest exit first. */
static void test_ghosts_reclaimed_first(void **state)
{
	struct proc_cache *c = proc_cache__new(4);
	struct proc_cache_stats st;

	insert(c, 1, 0, 0, "/a");
	insert(c, 2, 0, 0, "/b");
	insert(c, 3, 0, 0, "/c");
	insert(c, 4, 0, 0, "/d");
	assert_int_equal(proc_cache__on_exit(c, 3), 0);
	assert_int_equal(proc_cache__on_exit(c, 1), 0);
	/* 1 and 2 are the least recently used live ones, but ghosts go first */
	insert(c, 5, 0, 0, "/e");
	assert_null(proc_cache__lookup(c, 3)); /* the oldest ghost */
	assert_non_null(proc_cache__lookup(c, 1));
	insert(c, 6, 0, 0, "/f");
	assert_null(proc_cache__lookup(c, 1));
	st = stats(c);
	assert_int_equal(st.reclaimed, 2);
	assert_int_equal(st.evictions, 0);
	assert_int_equal(st.live, 4);
	assert_int_equal(st.exited, 0);
	for (__u32 t = 2; t <= 6; t += (t == 2 ? 2 : 1))
		assert_non_null(proc_cache__lookup(c, t));
	proc_cache__free(c);
}

static void test_lru_eviction(void **state)
{
	struct proc_cache *c = proc_cache__new(3);

	insert(c, 1, 0, 0, "/a");
	insert(c, 2, 0, 0, "/b");
	insert(c, 3, 0, 0, "/c");
	assert_non_null(proc_cache__lookup(c, 1)); /* 2 is now least recently used */
	insert(c, 4, 0, 0, "/d");
	assert_null(proc_cache__lookup(c, 2));
	assert_non_null(proc_cache__lookup(c, 1));
	assert_non_null(proc_cache__lookup(c, 3));
	assert_non_null(proc_cache__lookup(c, 4));
	assert_int_equal(stats(c).evictions, 1);
	/* lookup order now 1, 3, 4: the next eviction takes 1 */
	insert(c, 5, 0, 0, "/e");
	assert_null(proc_cache__lookup(c, 1));
	assert_int_equal(stats(c).evictions, 2);
	proc_cache__free(c);
}

/* A fork whose parent is the LRU tail of a full cache still inherits from it. */
static void test_fork_evicting_parent(void **state)
{
	struct proc_cache *c = proc_cache__new(1);
	const struct proc_entry *e;

	insert(c, 1, 0, 0, "/only");
	assert_int_equal(proc_cache__on_fork(c, 1, 2, 0, 0), 0);
	e = proc_cache__lookup(c, 2);
	assert_non_null(e);
	assert_string_equal(e->path, "/only");
	assert_int_equal(e->exec_id, 1001);
	assert_null(proc_cache__lookup(c, 1));
	assert_int_equal(stats(c).evictions, 1);
	proc_cache__free(c);
}

static void test_replace(void **state)
{
	struct proc_cache *c = proc_cache__new(8);
	const struct proc_entry *e;

	insert(c, 1, 0, 0, "/init");
	insert(c, 7, 1, 0, "/old");
	assert_int_equal(proc_cache__on_exit(c, 7), 0);
	/* the tgid is reused by a new fork */
	assert_int_equal(proc_cache__on_fork(c, 1, 7, 0, 0), 0);
	e = proc_cache__lookup(c, 7);
	assert_false(e->exited);
	assert_string_equal(e->path, "/init");
	assert_int_equal(stats(c).replaced, 1);
	assert_int_equal(stats(c).live, 2);
	assert_int_equal(stats(c).exited, 0);
	/* and a fork onto oneself (corrupt input) neither crashes nor leaks */
	assert_int_equal(proc_cache__on_fork(c, 7, 7, 0, 0), 0);
	assert_string_equal(proc_cache__lookup(c, 7)->path, "/init");
	assert_int_equal(proc_cache__lookup(c, 7)->ppid, 7);
	proc_cache__free(c);
}

/* init(1) -> sshd(2) -> bash(3) -> agentwatch exec = agent(4, slot 9) -> sh(5) -> make(6) */
static struct proc_cache *chain(void)
{
	struct proc_cache *c = proc_cache__new(64);

	insert(c, 1, 0, 0, "/sbin/init");
	insert(c, 2, 1, 0, "/usr/sbin/sshd");
	insert(c, 3, 2, 0, "/bin/bash");
	insert(c, 4, 3, 9, "/usr/bin/agent");
	insert(c, 5, 4, 9, "/bin/sh");
	insert(c, 6, 5, 9, "/usr/bin/make");
	return c;
}

static void test_ancestry(void **state)
{
	struct proc_cache *c = chain();
	const char *paths[8];

	/* stops where the agent slot changes */
	assert_int_equal(proc_cache__ancestry(c, 6, paths, 8), 3);
	assert_string_equal(paths[0], "/usr/bin/make");
	assert_string_equal(paths[1], "/bin/sh");
	assert_string_equal(paths[2], "/usr/bin/agent");
	/* stops at max */
	assert_int_equal(proc_cache__ancestry(c, 6, paths, 2), 2);
	assert_string_equal(paths[1], "/bin/sh");
	assert_int_equal(proc_cache__ancestry(c, 6, paths, 1), 1);
	/* outside any agent: up to init, which has ppid 0 */
	assert_int_equal(proc_cache__ancestry(c, 3, paths, 8), 3);
	assert_string_equal(paths[2], "/sbin/init");
	/* stops at a missing parent */
	insert(c, 20, 19, 9, "/x");
	assert_int_equal(proc_cache__ancestry(c, 20, paths, 8), 1);
	proc_cache__free(c);
}

static void test_ancestry_cycles(void **state)
{
	struct proc_cache *c = proc_cache__new(16);
	const char *paths[16];

	/* 1 -> 2 -> 3 -> 1: only corrupt input can do this, and start times are unknown */
	insert(c, 1, 3, 0, "/a");
	insert(c, 2, 1, 0, "/b");
	insert(c, 3, 2, 0, "/c");
	assert_int_equal(proc_cache__ancestry(c, 3, paths, 16), 3);
	assert_string_equal(paths[0], "/c");
	assert_string_equal(paths[1], "/b");
	assert_string_equal(paths[2], "/a");
	/* its own parent */
	insert(c, 9, 9, 0, "/self");
	assert_int_equal(proc_cache__ancestry(c, 9, paths, 16), 1);
	/* repeated walks reuse marks correctly */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(proc_cache__ancestry(c, 1, paths, 16), 3);
	proc_cache__free(c);
}

/* A parent whose tgid was reused after the child started is not the child's parent. */
static void test_ancestry_reused_tgid(void **state)
{
	struct proc_cache *c = proc_cache__new(16);
	const char *paths[8];
	struct proc_info i;

	i = info(10, 1, 0, 1, "/bin/old-parent");
	i.start_ns = 100;
	assert_int_equal(proc_cache__insert(c, &i), 0);
	assert_int_equal(proc_cache__on_fork(c, 10, 11, 0, 200), 0);
	assert_int_equal(proc_cache__ancestry(c, 11, paths, 8), 2);
	assert_int_equal(proc_cache__on_exit(c, 10), 0);
	assert_int_equal(proc_cache__ancestry(c, 11, paths, 8), 2); /* the ghost still counts */
	/* tgid 10 comes back as a new process, younger than 11 */
	i = info(10, 1, 0, 2, "/bin/impostor");
	i.start_ns = 300;
	assert_int_equal(proc_cache__insert(c, &i), 0);
	assert_int_equal(proc_cache__ancestry(c, 11, paths, 8), 1);
	assert_string_equal(paths[0], "/bin/old-parent");
	proc_cache__free(c);
}

/*
 * The walk stops cleanly where eviction removed an ancestor, and it leaves ancestors more
 * recently used than their descendants: evicting a leaf costs one entry, an ancestor every chain
 * through it.
 */
static void test_ancestry_with_eviction(void **state)
{
	struct proc_cache *c = proc_cache__new(8);
	const char *paths[16];
	char name[16];

	for (__u32 t = 1; t <= 8; t++) {
		snprintf(name, sizeof(name), "/bin/p%u", t);
		insert(c, t, t - 1, 1, name);
	}
	assert_int_equal(proc_cache__ancestry(c, 8, paths, 16), 8);
	assert_string_equal(paths[7], "/bin/p1");

	/* make 3 the least recently used, then need room */
	for (__u32 t = 1; t <= 8; t++)
		if (t != 3)
			assert_non_null(proc_cache__lookup(c, t));
	insert(c, 100, 0, 2, "/other");
	assert_int_equal(proc_cache__ancestry(c, 8, paths, 16), 5);
	assert_string_equal(paths[4], "/bin/p4");
	assert_int_equal(stats(c).evictions, 1);

	/* oldest first now: 1 2 100 8 7 6 5 4 */
	insert(c, 101, 0, 2, "/other");
	insert(c, 102, 0, 2, "/other");
	insert(c, 103, 0, 2, "/other");
	insert(c, 104, 0, 2, "/other");
	assert_int_equal(stats(c).evictions, 5);
	assert_null(proc_cache__lookup(c, 1));
	assert_null(proc_cache__lookup(c, 2));
	assert_null(proc_cache__lookup(c, 100));
	assert_null(proc_cache__lookup(c, 8)); /* the leaf went before its ancestors */
	for (__u32 t = 4; t <= 7; t++)
		assert_non_null(proc_cache__lookup(c, t));
	assert_int_equal(proc_cache__ancestry(c, 7, paths, 16), 4);
	proc_cache__free(c);
}

/* Reference model: what the cache must say about a tgid whenever it says anything. */
struct model {
	bool present, exited, own_exec;
	__u32 ppid, slot;
	__u64 exec_id, start_ns;
	int path; /* index into paths[], for processes that exec'd */
};

static const char *const model_paths[] = {"/bin/sh", "/usr/bin/python3", "/usr/bin/git",
					  "/usr/bin/node", "/usr/local/bin/agent"};

#define MODEL_PIDS 4096

static void model_check(struct proc_cache *c, const struct model *m, __u32 t)
{
	const struct proc_entry *e = proc_cache__lookup(c, t);

	if (!e)
		return; /* evicted: allowed */
	assert_true(m[t].present);
	assert_int_equal(e->tgid, t);
	assert_int_equal(e->ppid, m[t].ppid);
	assert_int_equal(e->agent_slot, m[t].slot);
	assert_int_equal(e->exited, m[t].exited);
	assert_int_equal(e->start_ns, m[t].start_ns);
	if (m[t].own_exec) {
		assert_int_equal(e->exec_id, m[t].exec_id);
		assert_string_equal(e->path, model_paths[m[t].path]);
	}
}

static void run_model(size_t capacity, int ops, unsigned int seed)
{
	struct proc_cache *c = proc_cache__new(capacity);
	struct model *m = calloc(MODEL_PIDS, sizeof(*m));
	size_t distinct = 0;
	struct proc_cache_stats st;

	assert_non_null(c);
	assert_non_null(m);
	for (int op = 0; op < ops; op++) {
		__u32 t = 1 + (__u32)(rand_r(&seed) % (MODEL_PIDS - 1));
		__u32 p = 1 + (__u32)(rand_r(&seed) % (MODEL_PIDS - 1));
		int kind = (int)(rand_r(&seed) % 4);

		switch (kind) {
		case 0: /* fork */
			if (t == p)
				break;
			assert_int_equal(proc_cache__on_fork(c, p, t, p % 3, (__u64)op + 1), 0);
			distinct += !m[t].present;
			m[t] = (struct model){.present = true,
					      .ppid = p,
					      .slot = p % 3,
					      .start_ns = (__u64)op + 1};
			break;
		case 1: { /* exec */
			int path = (int)(rand_r(&seed) % 5);
			struct proc_info i = info(t, p, t % 3, (__u64)op << 8, model_paths[path]);

			i.start_ns = (__u64)op + 1;
			/* An uncached process (new, or evicted) is created from the record. */
			bool cached = proc_cache__lookup(c, t) != NULL;

			assert_int_equal(proc_cache__on_exec(c, &i), 0);
			if (!cached) {
				distinct += !m[t].present;
				m[t] = (struct model){
					.present = true, .ppid = p, .start_ns = (__u64)op + 1};
			}
			m[t].exited = false;
			m[t].own_exec = true;
			m[t].exec_id = (__u64)op << 8;
			m[t].path = path;
			m[t].slot = t % 3;
			break;
		}
		case 2: /* exit */
			if (proc_cache__on_exit(c, t) == 0) {
				assert_true(m[t].present);
				m[t].exited = true;
			}
			break;
		default:
			model_check(c, m, t);
			break;
		}
		if (op % 997 == 0) {
			proc_cache__stats(c, &st);
			assert_true(st.live + st.exited <= capacity);
		}
	}
	/* Nothing is dropped but for room: the cache is full, or holds all there is. */
	proc_cache__stats(c, &st);
	assert_int_equal(st.live + st.exited, distinct < capacity ? distinct : capacity);
	for (__u32 t = 1; t < MODEL_PIDS; t++)
		model_check(c, m, t);
	if (capacity >= MODEL_PIDS)
		assert_int_equal(st.evictions + st.reclaimed, 0);
	free(m);
	proc_cache__free(c);
}

/* A random mix against a model: with room for all (nothing may be lost) and without. */
static void test_model(void **state)
{
	run_model(MODEL_PIDS, 200000, 1);
	run_model(512, 200000, 2);
	run_model(7, 50000, 3);
	run_model(1, 20000, 4);
}

/*
 * 100k processes through a 1000-entry cache: it stays at capacity, the heap stays under the
 * documented bound, and freeing returns it (valgrind and ASan check for leaks exactly).
 */
static void test_capacity_bound(void **state)
{
	const size_t cap = 1000;
	struct mallinfo2 before, full, after;
	struct proc_cache *c;
	struct proc_cache_stats st;
	const char *paths[8];
	char path[64];
	size_t bound;

	before = mallinfo2();
	c = proc_cache__new(cap);
	assert_non_null(c);
	for (__u32 t = 2; t < 100002; t++) {
		struct proc_info i;

		assert_int_equal(proc_cache__on_fork(c, t - 1, t, 1, t), 0);
		snprintf(path, sizeof(path), "/usr/bin/tool-%u", t % 5000);
		i = info(t, t - 1, 1, t, path);
		assert_int_equal(proc_cache__on_exec(c, &i), 0);
		if (t % 3 == 0)
			assert_int_equal(proc_cache__on_exit(c, t), 0);
	}
	proc_cache__stats(c, &st);
	assert_int_equal(st.live + st.exited, cap);
	assert_true(st.evictions + st.reclaimed >= 100000 - cap);
	full = mallinfo2();
	/* entries and index are well under 256 bytes each; paths here are short */
	bound = cap * (256 + 64);
	if (full.uordblks - before.uordblks > bound)
		fail_msg("heap grew by %zu bytes for %zu entries", full.uordblks - before.uordblks,
			 cap);
	/* the newest are there, and their chain is intact up to where eviction cut it */
	assert_true(proc_cache__ancestry(c, 100001, paths, 8) >= 2);
	proc_cache__free(c);
	after = mallinfo2();
	/* Chunks parked in glibc's per-thread cache still count as in use: allow a little. */
	assert_true(after.uordblks <= before.uordblks + 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_free),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_fork_inherits),
		cmocka_unit_test(test_fork_from_unknown_parent),
		cmocka_unit_test(test_exec),
		cmocka_unit_test(test_path_bounds),
		cmocka_unit_test(test_exit_ghosts),
		cmocka_unit_test(test_ghosts_reclaimed_first),
		cmocka_unit_test(test_lru_eviction),
		cmocka_unit_test(test_fork_evicting_parent),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_ancestry),
		cmocka_unit_test(test_ancestry_cycles),
		cmocka_unit_test(test_ancestry_reused_tgid),
		cmocka_unit_test(test_ancestry_with_eviction),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_capacity_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
