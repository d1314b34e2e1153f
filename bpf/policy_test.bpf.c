// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only entry to the real policy matcher: a raw tracepoint program, never attached, that
 * tests run with BPF_PROG_TEST_RUN. The query goes in, and the decision comes out, through the
 * one-entry map `policy_query` (include/agentwatch/policy_test.h). (A SEC("syscall") program
 * would take the query as its context, but it is sleepable and may not use the LPM trie.) The
 * matcher is the same header the LSM and cgroup hooks include; only the executable's hash comes
 * from the query.
 */
#define AW_POLICY_TEST_EXE_HASH
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <agentwatch/policy_test.h>
#include "policy_match.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, AW_POLICY_TEST_QUERIES);
	__type(key, __u32);
	__type(value, struct aw_policy_query);
} policy_query SEC(".maps");

/* How many policy_query entries the timed program cycles through, and the next one. */
__u32 timed_queries;
__u32 timed_next;

static __always_inline int decide_query(__u32 index)
{
	struct aw_path_buf *buf = aw_path_buf();
	struct aw_decision d = {};
	struct aw_policy_query *q;
	struct aw_match_state *m;
	__u32 set, len, off;

	q = bpf_map_lookup_elem(&policy_query, &index);
	if (!q)
		return 0;
	q->applied = 0;
	m = aw_policy_begin(q->slot, &set);
	if (!m || !buf)
		return 0;
	m->exe_hash = q->exe_hash;
	if (q->kind == AW_QUERY_NET) {
		__u32 a[4];

		__builtin_memcpy(a, q->addr, 16);
		/* AW_PROTO_ANY: a raw socket, decided for every port */
		if (!aw_policy_query_net(
			    q->slot, a, q->proto == AW_PROTO_ANY ? AW_PORT_ANY : q->port, q->proto))
			return 0;
	} else {
		len = q->path_len;
		if (len == 0 || len > sizeof(q->path) - 1)
			return 0;
		off = AW_PATH_SCRATCH - len;
		bpf_probe_read_kernel(&buf->data[off & (AW_PATH_SCRATCH - 1)],
				      len & (AW_PATH_SCRATCH - 1), q->path);
		/* An alias: the last anchor_len bytes are the rest below anchor (dev, ino). */
		m->q_anchor = q->anchor_len && q->anchor_len <= len;
		m->q_anchor_off = AW_PATH_SCRATCH - (q->anchor_len & (AW_PATH_SCRATCH - 1));
		m->q_anchor_dev = q->anchor_dev;
		m->q_anchor_ino = q->anchor_ino;
		if (!aw_policy_query_path(q->slot, off, q->access, q->dev, q->ino, q->list))
			return 0;
	}
	m = aw_match_result();
	if (!m)
		return 0;
	d.action = m->r_action;
	d.audit_mode = m->r_audit_mode;
	d.rule_id = m->r_rule_id;
	q->applied = 1;
	q->action = d.action;
	q->audit_mode = d.audit_mode;
	q->rule_id = d.rule_id;
	return 0;
}

SEC("raw_tp/sys_enter")
int policy_test_decide(void *ctx)
{
	return decide_query(0);
}

/*
 * The same for timing: BPF_PROG_TEST_RUN repeats only packet programs, and reports their mean
 * duration, so the benchmark runs the matcher from a tc program over a dummy packet.
 */
SEC("tc")
int policy_test_decide_timed(struct __sk_buff *skb)
{
	__u32 n = timed_queries, i = timed_next;

	timed_next = i + 1 < n ? i + 1 : 0;
	decide_query(i < n ? i : 0);
	return 0;
}
