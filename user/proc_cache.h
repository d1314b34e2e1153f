/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process cache: what userspace remembers of each process so that every event carries its
 * ancestry (the binary chain up to the agent root) without reading /proc.
 *
 * It is fed from the exec, fork and exit records (include/agentwatch/event.h) and, at start-up,
 * from one /proc scan through proc_cache__insert(). Keyed by tgid: threads are not processes
 * here, so a fork with clone_thread set, and the exit of any thread but the last, are not
 * passed in.
 *
 * Bounds. capacity entries are allocated up front, in one array with a chained hash index (as
 * many buckets as entries, rounded up to a power of two) and intrusive lists; every operation
 * is O(1) expected, proc_cache__ancestry() O(max).
 * Binary paths are owned, immutable and reference-counted, so a fork shares its parent's path
 * instead of copying it; each is at most PROC_CACHE_PATH_MAX bytes and each entry holds one, so
 * memory never exceeds capacity * (sizeof entry + PROC_CACHE_PATH_MAX) plus the index.
 *
 * Exit. An exited process stays cached as a "ghost" so that its children, which may outlive it,
 * still show it in their ancestry (`sh -c 'agent-tool &'`). Ghosts sit on their own list in
 * exit order and are reclaimed, oldest first, before any live entry is evicted: they only ever
 * occupy room no live process needs. A live entry is evicted only when the cache is full of
 * live ones, least recently used first; that is counted in proc_cache_stats.evictions, and an
 * ancestry walk then just stops at the missing parent. A walk marks each ancestor used, nearest
 * first, so ancestors end up more recent than their descendants: a leaf, which costs one chain,
 * goes before the ancestor every chain below it runs through.
 *
 * Reused tgids. A fork or insert of a tgid that is cached (a ghost, or a live entry whose exit
 * was missed) replaces that entry. A child whose parent's tgid was reused would then see the
 * new process as its parent; the walk detects this when start times are known, because a
 * parent never starts after its child (start_ns 0 means unknown and disables the check).
 *
 * Pointers returned (entries, paths) stay valid until the next call that changes the cache:
 * insert, on_fork, on_exec, on_exit, or a lookup/ancestry, which reorders the LRU list but
 * frees nothing. Not thread-safe: the event loop owns it.
 */
#ifndef AGENTWATCH_PROC_CACHE_H
#define AGENTWATCH_PROC_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define PROC_CACHE_PATH_MAX 4096 /* longest binary path kept, NUL included; longer is cut */

/* A cached process, as callers see it. */
struct proc_entry {
	__u32 tgid;
	__u32 ppid; /* tgid of the parent when it forked this process (or at the /proc scan) */
	__u32 agent_slot; /* 0 = not in an agent */
	bool exited;	  /* a ghost: kept for its children's ancestry */
	bool path_truncated;
	__u64 exec_id;	      /* of the image it runs; a fork shares its parent's until it execs */
	__u64 parent_exec_id; /* exec_id of the parent's image when this image began */
	__u64 start_ns;	      /* process start, boot-time ns; 0 = unknown */
	const char *path;     /* binary; "" when unknown (forked from an uncached parent) */
};

/* What the exec record, or a /proc scan, says about a process. */
struct proc_info {
	__u32 tgid;
	__u32 ppid;
	__u32 agent_slot;
	__u64 exec_id;
	__u64 parent_exec_id;
	__u64 start_ns;
	const char *path; /* path_len bytes, need not be NUL-terminated; NULL = unknown */
	size_t path_len;
};

struct proc_cache_stats {
	size_t capacity;
	size_t live;
	size_t exited;	  /* ghosts */
	__u64 evictions;  /* live entries pushed out for room: their children lose ancestry */
	__u64 reclaimed;  /* ghosts reused for room (expected, harmless) */
	__u64 replaced;	  /* fork/insert of a tgid that was cached: reuse or a missed exit */
	__u64 path_nomem; /* paths dropped because malloc failed */
};

struct proc_cache;

/* A cache for at most capacity processes (1..2^30). NULL with errno set on failure. */
struct proc_cache *proc_cache__new(size_t capacity);
void proc_cache__free(struct proc_cache *c);

/*
 * Seed or overwrite one process from /proc (or any full description). Returns 0, -EINVAL for
 * tgid 0, or -ENOMEM when the path could not be stored (the entry is kept without it).
 */
int proc_cache__insert(struct proc_cache *c, const struct proc_info *info);

/*
 * child_tgid was forked by parent_tgid. The child inherits the parent's binary, exec_id and
 * parent_exec_id until it execs; if the parent is not cached, the binary is unknown. Returns 0
 * or -EINVAL for a zero tgid.
 */
int proc_cache__on_fork(struct proc_cache *c, __u32 parent_tgid, __u32 child_tgid, __u32 agent_slot,
			__u64 start_ns);

/*
 * info->tgid exec'd info->path. A cached entry keeps its ppid and start time (the exec record's
 * ppid is the current parent, which after a re-parenting is no longer the one in the ancestry);
 * an uncached one is created from info. parent_exec_id 0 is taken from the cached parent.
 * Returns 0, -EINVAL for tgid 0, or -ENOMEM (the entry is kept with its binary unknown).
 */
int proc_cache__on_exec(struct proc_cache *c, const struct proc_info *info);

/* tgid exited: it becomes a ghost. Returns 0 or -ENOENT when it was not cached. */
int proc_cache__on_exit(struct proc_cache *c, __u32 tgid);

/* The entry for tgid, ghosts included, or NULL. A live hit becomes most recently used. */
const struct proc_entry *proc_cache__lookup(struct proc_cache *c, __u32 tgid);

/*
 * Fill paths with the binaries from tgid up, nearest first: paths[0] is tgid's own. Stops after
 * max entries, at a parent that is not cached, at ppid 0, at a parent in another agent_slot
 * (the walk left the agent), at a parent that started after its child (a reused tgid), or at a
 * cycle. Returns the number filled, -ENOENT when tgid is not cached, -EINVAL for a bad argument.
 */
int proc_cache__ancestry(struct proc_cache *c, __u32 tgid, const char **paths, int max);

void proc_cache__stats(const struct proc_cache *c, struct proc_cache_stats *st);

#endif /* AGENTWATCH_PROC_CACHE_H */
