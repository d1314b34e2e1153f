/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Canonical paths from kernel objects, without bpf_d_path (which only LSM and a few fentry hooks
 * may call). The walk goes from a struct path's dentry up through d_parent, crossing mounts via
 * mnt_mountpoint/mnt_parent, to the root of the mount namespace. So symlinks, "..", relative
 * paths and /proc/self/fd re-opens all come out as the file's real location: the dentry is what
 * the kernel opened, whatever string the caller passed.
 *
 * The result is built backwards in a per-CPU scratch buffer. Offsets are masked to
 * AW_PATH_SCRATCH - 1 and name lengths to 255 so the verifier can bound every access. The walk
 * runs under bpf_loop() (Linux 5.17+).
 */
#ifndef AGENTWATCH_PATH_BPF_H
#define AGENTWATCH_PATH_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <agentwatch/event.h>

#define AW_PATH_SCRATCH 4096 /* power of two; the buffer is twice this for masked writes */

struct aw_path_buf {
	char data[AW_PATH_SCRATCH * 2];
};

/*
 * Two buffers per CPU: AW_PATH_BUF_FILE for the file an operation names, AW_PATH_BUF_EXE for the
 * current task's executable (a binary condition of a rule), so resolving the one never
 * overwrites the other in the middle of a decision.
 */
#define AW_PATH_BUF_FILE 0
#define AW_PATH_BUF_EXE	 1

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct aw_path_buf);
} path_scratch SEC(".maps");

struct aw_path_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	__u32 off;
	__u32 done;
	__u32 buf_key; /* AW_PATH_BUF_* */
	__u32 pad;
};

/*
 * One component per call, under bpf_loop(): the verifier checks this body once instead of once
 * per iteration, which a 48-deep walk with mount crossings would not survive.
 */
static long aw_path_step(__u32 i, void *ctx)
{
	struct aw_path_walk *w = ctx;
	/* Plain copies: BPF_CORE_READ on w->field would relocate our own struct too. */
	struct dentry *dentry = w->dentry, *mnt_root, *parent;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct aw_path_buf *buf;
	__u32 key = w->buf_key, off = w->off, len;
	struct qstr name;

	buf = bpf_map_lookup_elem(&path_scratch, &key);
	if (!buf || off > AW_PATH_SCRATCH)
		return 1;
	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (dentry != mnt_root || mnt == mnt_parent) {
			/* the namespace root, or a disconnected dentry */
			w->done = 1;
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mnt_parent;
		w->vfsmnt = &mnt_parent->mnt;
		return 0;
	}
	name = BPF_CORE_READ(dentry, d_name);
	len = name.len & 255;
	if (len + 1 > off)
		return 1;
	off -= len;
	bpf_probe_read_kernel(&buf->data[off & (AW_PATH_SCRATCH - 1)], len, name.name);
	off -= 1;
	buf->data[off & (AW_PATH_SCRATCH - 1)] = '/';
	w->off = off;
	w->dentry = parent;
	return 0;
}

/* Start a walk of (dentry, vfsmnt) into path_scratch[buf_key]. */
static __always_inline void aw_path_walk_init(struct aw_path_walk *w, struct dentry *dentry,
					      struct vfsmount *vfsmnt, __u32 buf_key)
{
	w->dentry = dentry;
	w->vfsmnt = vfsmnt;
	w->mnt = container_of(vfsmnt, struct mount, mnt);
	w->off = AW_PATH_SCRATCH;
	w->done = 0;
	w->buf_key = buf_key;
	w->pad = 0;
}

/* The offset where a finished walk's path starts in buf (path_scratch[w->buf_key]). */
static __always_inline __u32 aw_path_walk_finish(struct aw_path_walk *w, struct aw_path_buf *buf,
						 bool *truncated)
{
	__u32 off;

	*truncated = !w->done;
	off = w->off;
	if (off > AW_PATH_SCRATCH)
		off = AW_PATH_SCRATCH;
	if (off == AW_PATH_SCRATCH) {
		off -= 1;
		buf->data[off & (AW_PATH_SCRATCH - 1)] = '/';
	}
	return off;
}

/*
 * Resolve (dentry, vfsmnt) into the per-CPU scratch buffer `buf` (path_scratch[buf_key]).
 * Returns the offset where the NUL-less path starts; it ends at AW_PATH_SCRATCH. Sets
 * *truncated when the walk hit AW_PATH_DEPTH or the buffer's size before reaching the root.
 */
static __always_inline __u32 aw_path_resolve_into(struct dentry *dentry, struct vfsmount *vfsmnt,
						  struct aw_path_buf *buf, __u32 buf_key,
						  bool *truncated)
{
	struct aw_path_walk w;

	aw_path_walk_init(&w, dentry, vfsmnt, buf_key);
	bpf_loop(AW_PATH_DEPTH, aw_path_step, &w, 0);
	return aw_path_walk_finish(&w, buf, truncated);
}

/* The same into the file buffer (path_scratch[AW_PATH_BUF_FILE]). */
static __always_inline __u32 aw_path_resolve_dm(struct dentry *dentry, struct vfsmount *vfsmnt,
						struct aw_path_buf *buf, bool *truncated)
{
	return aw_path_resolve_into(dentry, vfsmnt, buf, AW_PATH_BUF_FILE, truncated);
}

static __always_inline __u32 aw_path_resolve(struct path *path, struct aw_path_buf *buf,
					     bool *truncated)
{
	return aw_path_resolve_dm(BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt), buf,
				  truncated);
}

#endif /* AGENTWATCH_PATH_BPF_H */
