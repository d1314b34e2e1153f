/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Building and sending ring-buffer records (layout: include/agentwatch/event.h).
 *
 * A record is built in a per-CPU scratch buffer (fixed part, then strings), then copied into the
 * ring with bpf_ringbuf_output(). Wake-ups are batched: a record wakes the consumer only once the
 * ring holds `wakeup_bytes` of unread data; otherwise the consumer's poll timeout flushes it.
 * A failed output is counted per CPU by reason and never changes what the hook decides.
 */
#ifndef AGENTWATCH_EMIT_BPF_H
#define AGENTWATCH_EMIT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <agentwatch/agent.h>
#include <agentwatch/event.h>
#include "counters.bpf.h"
#include "path.bpf.h"

#define AW_EVENT_MAX  8191  /* largest record, bytes */
#define AW_EVENT_MASK 8191  /* offsets into the scratch record are masked with this */
#define AW_EVENT_BUF  16384 /* scratch size: any masked offset plus a bounded copy fits */

/* Tunables set by the loader before load. */
const volatile __u64 wakeup_bytes = 256 * 1024;

struct aw_event_buf {
	__u8 data[AW_EVENT_BUF];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct aw_event_buf);
} event_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AW_DROP__MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops_by_reason SEC(".maps");

/* exec ids of live watched processes, so every record can carry its process's exec_id. */
struct aw_exec_ids {
	__u64 exec_id;
	__u64 parent_exec_id;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* tgid */
	__type(value, struct aw_exec_ids);
} exec_ids_by_tgid SEC(".maps");

static __always_inline void aw_count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drops_by_reason, &reason);

	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline struct aw_event_buf *aw_event_scratch(void)
{
	__u32 zero = 0;
	struct aw_event_buf *buf = bpf_map_lookup_elem(&event_scratch, &zero);

	if (!buf)
		aw_count_drop(AW_DROP_SCRATCH);
	return buf;
}

static __always_inline void aw_fill_hdr(struct aw_event_hdr *hdr, __u8 type)
{
	hdr->version = AW_EVENT_VERSION;
	hdr->type = type;
	hdr->flags = 0;
	hdr->ktime_ns = bpf_ktime_get_boot_ns();
}

/* Fills everything but ppid, which needs the task_struct (tracing programs: aw_task_ppid). */
static __always_inline void aw_fill_task(struct aw_task *t, const struct aw_agent *agent)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	struct aw_exec_ids *ids;
	__u32 tgid = pid_tgid >> 32;

	t->pid = (__u32)pid_tgid;
	t->tgid = tgid;
	t->ppid = 0;
	t->uid = (__u32)uid_gid;
	t->gid = uid_gid >> 32;
	t->agent_slot = agent ? agent->slot : 0;
	t->cgroup_id = bpf_get_current_cgroup_id();
	ids = bpf_map_lookup_elem(&exec_ids_by_tgid, &tgid);
	t->exec_id = ids ? ids->exec_id : 0;
	bpf_get_current_comm(t->comm, sizeof(t->comm));
}

static __always_inline __u32 aw_task_ppid(struct task_struct *task)
{
	return BPF_CORE_READ(task, real_parent, tgid);
}

/*
 * Append the path already resolved at [off, AW_PATH_SCRATCH) of the per-CPU path buffer at
 * *size; record its place in *s.
 */
static __always_inline void aw_append_resolved(struct aw_event_buf *ev, __u32 *size,
					       struct aw_str *s, __u32 off, bool truncated)
{
	__u32 zero = 0, len, at = *size;
	struct aw_path_buf *pb = bpf_map_lookup_elem(&path_scratch, &zero);
	struct aw_event_hdr *hdr = (void *)ev->data;

	s->off = at;
	s->len = 0;
	if (!pb || off > AW_PATH_SCRATCH)
		return;
	len = AW_PATH_SCRATCH - off;
	if (at + len > AW_EVENT_MAX) {
		len = AW_EVENT_MAX > at ? AW_EVENT_MAX - at : 0;
		truncated = true;
	}
	len &= AW_PATH_SCRATCH * 2 - 1;
	if (len > AW_PATH_SCRATCH)
		len = AW_PATH_SCRATCH;
	bpf_probe_read_kernel(&ev->data[at & AW_EVENT_MASK], len,
			      &pb->data[off & (AW_PATH_SCRATCH - 1)]);
	if (truncated)
		hdr->flags |= AW_EVF_TRUNCATED;
	s->len = len;
	*size = at + len;
}

/* Append the canonical path of `path` at *size; record its place in *s. */
static __always_inline void aw_append_path(struct aw_event_buf *ev, __u32 *size, struct aw_str *s,
					   struct path *path)
{
	__u32 zero = 0, off;
	struct aw_path_buf *pb = bpf_map_lookup_elem(&path_scratch, &zero);
	bool truncated;

	if (!pb) {
		s->off = *size;
		s->len = 0;
		return;
	}
	off = aw_path_resolve(path, pb, &truncated);
	aw_append_resolved(ev, size, s, off, truncated);
}

/* Append up to `max` bytes of user memory (argv); strings stay NUL-separated. */
static __always_inline void aw_append_user(struct aw_event_buf *ev, __u32 *size, struct aw_str *s,
					   const void *uptr, __u32 ulen, __u32 max)
{
	struct aw_event_hdr *hdr = (void *)ev->data;
	__u32 at = *size, len = ulen;

	s->off = at;
	s->len = 0;
	if (len > max) {
		len = max;
		hdr->flags |= AW_EVF_TRUNCATED;
	}
	if (at + len > AW_EVENT_MAX)
		return;
	len &= 4095;
	if (bpf_probe_read_user(&ev->data[at & AW_EVENT_MASK], len, uptr))
		return;
	s->len = len;
	*size = at + len;
}

static __always_inline void aw_submit(struct aw_event_buf *ev, __u32 size)
{
	struct aw_event_hdr *hdr = (void *)ev->data;
	__u64 flags;
	__u32 slot;

	if (size > AW_EVENT_MAX)
		size = AW_EVENT_MAX;
	hdr->size = size;
	flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									      : BPF_RB_NO_WAKEUP;
	/* Every record has its task right after the header: count per agent on the way out. */
	slot = ((struct aw_task *)(ev->data + sizeof(*hdr)))->agent_slot;
	if (hdr->flags & AW_EVF_DENIED)
		AW_COUNT(slot, denials);
	else if (hdr->flags & (AW_EVF_AUDIT | AW_EVF_KILLED))
		AW_COUNT(slot, would_block);
	if (bpf_ringbuf_output(&events, ev->data, size & AW_EVENT_MASK, flags)) {
		aw_count_drop(AW_DROP_RINGBUF_FULL);
		AW_COUNT(slot, dropped);
	}
}

#endif /* AGENTWATCH_EMIT_BPF_H */
