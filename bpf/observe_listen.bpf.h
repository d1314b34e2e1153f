/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inbound TCP of watched agents: each listen(2) and each connection accepted, from one cgroup
 * sock_ops program attached where the cgroup socket hooks are (included by observe.bpf.c).
 *
 *   BPF_SOCK_OPS_TCP_LISTEN_CB           runs inside listen(2), on the listening task itself: the
 *                                        record's task is that task, and the listening socket
 *                                        keeps a copy of it in `listeners_by_socket`.
 *   BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB  runs when an incoming handshake completes, in softirq,
 *                                        on whatever task the CPU was running (on loopback, the
 *                                        connecting client). Nothing of the current task is
 *                                        used: the agent comes from the new socket's cgroup
 *                                        (the listener's, which the kernel copies into it) and
 *                                        the task from the listener's copy, which BPF_F_CLONE
 *                                        carries into the new socket. So an accept record names
 *                                        the process that listened, not the one that will call
 *                                        accept(2), which the kernel does not know yet; a
 *                                        listener that began before its agent was registered
 *                                        has no copy, and its accepts carry pid 0.
 *
 * Attribution goes through the socket's cgroup (agent.h's walk, from a struct cgroup instead of
 * the current task), so a socket of an unwatched cgroup costs a hash lookup or two and nothing
 * else. Records are built on the stack rather than in the per-CPU scratch record, which a
 * softirq could overwrite under a tracing program that is filling it.
 */
#ifndef AGENTWATCH_OBSERVE_LISTEN_BPF_H
#define AGENTWATCH_OBSERVE_LISTEN_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "agent.bpf.h"
#include "core_fixes.bpf.h"
#include "emit.bpf.h"

#ifndef AW_AF_INET
#define AW_AF_INET  2
#define AW_AF_INET6 10
#endif

/* Who listened on a socket; cloned into every connection the socket accepts. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct aw_task);
} listeners_by_socket SEC(".maps");

/* The agent of a cgroup: its own, else its nearest registered ancestor's (cached, as in
 * agent.bpf.h). */
static __always_inline struct aw_agent *aw_agent_of_cgroup(struct cgroup *cg)
{
	struct aw_agent *agent;
	struct cgroup *anc = cg;
	__u64 id, anc_id;
	__u8 one = 1;
	int level;

	if (!cg)
		return NULL;
	id = BPF_CORE_READ(cg, kn, id);
	agent = bpf_map_lookup_elem(&agents_by_cgroup, &id);
	if (agent)
		return agent;
	if (bpf_map_lookup_elem(&unwatched_cgroups, &id))
		return NULL;
	for (level = 1; level < AW_AGENT_MAX_LEVEL; level++) {
		anc = BPF_CORE_READ(anc, self.parent, cgroup);
		if (!anc)
			break;
		anc_id = BPF_CORE_READ(anc, kn, id);
		agent = bpf_map_lookup_elem(&agents_by_cgroup, &anc_id);
		if (agent) {
			bpf_map_update_elem(&agents_by_cgroup, &id, agent, BPF_NOEXIST);
			return agent;
		}
	}
	bpf_map_update_elem(&unwatched_cgroups, &id, &one, BPF_ANY);
	return NULL;
}

/* aw_fill_task for a task_struct: sock_ops programs have no bpf_get_current_* helpers. */
static __always_inline void aw_fill_task_of(struct aw_task *t, struct task_struct *task, __u32 slot)
{
	struct aw_exec_ids *ids;
	__u32 tgid = BPF_CORE_READ(task, tgid);

	t->pid = BPF_CORE_READ(task, pid);
	t->tgid = tgid;
	t->ppid = aw_task_ppid(task);
	t->uid = BPF_CORE_READ(task, cred, uid.val);
	t->gid = BPF_CORE_READ(task, cred, gid.val);
	t->agent_slot = slot;
	t->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	ids = bpf_map_lookup_elem(&exec_ids_by_tgid, &tgid);
	t->exec_id = ids ? ids->exec_id : 0;
	BPF_CORE_READ_STR_INTO(&t->comm, task, comm);
}

static __always_inline bool aw_v4_mapped(const __u32 w[4])
{
	return w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff);
}

/*
 * The socket's local side into saddr/sport and, for an accepted connection, the peer into
 * daddr/dport (event.h). An IPv6 socket talking to an IPv4 peer (dual stack) holds v4-mapped
 * addresses: the record says IPv4, as connect does.
 */
static __always_inline void aw_sockops_endpoints(struct bpf_sock_ops *ctx, struct aw_net_event *e,
						 bool peer)
{
	__u32 l[4], r[4], ip4;

	e->sport = ctx->local_port;			   /* host byte order */
	e->dport = peer ? bpf_ntohl(ctx->remote_port) : 0; /* the port in the upper half */
	if (ctx->family == AW_AF_INET) {
		e->family = AW_AF_INET;
		ip4 = ctx->local_ip4;
		__builtin_memcpy(e->saddr, &ip4, 4);
		if (peer) {
			ip4 = ctx->remote_ip4;
			__builtin_memcpy(e->daddr, &ip4, 4);
		}
		return;
	}
	/* ctx fields need constant offsets: no loop */
	l[0] = ctx->local_ip6[0];
	l[1] = ctx->local_ip6[1];
	l[2] = ctx->local_ip6[2];
	l[3] = ctx->local_ip6[3];
	r[0] = r[1] = r[2] = r[3] = 0;
	if (peer) {
		r[0] = ctx->remote_ip6[0];
		r[1] = ctx->remote_ip6[1];
		r[2] = ctx->remote_ip6[2];
		r[3] = ctx->remote_ip6[3];
	}
	if (peer ? aw_v4_mapped(r) : aw_v4_mapped(l)) {
		e->family = AW_AF_INET;
		__builtin_memcpy(e->saddr, &l[3], 4);
		if (peer)
			__builtin_memcpy(e->daddr, &r[3], 4);
		return;
	}
	e->family = AW_AF_INET6;
	__builtin_memcpy(e->saddr, l, 16);
	if (peer)
		__builtin_memcpy(e->daddr, r, 16);
}

/* aw_submit for a fixed-size record built on the stack. */
static __always_inline void aw_submit_net(struct aw_net_event *e)
{
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes
			      ? BPF_RB_FORCE_WAKEUP
			      : BPF_RB_NO_WAKEUP;

	e->hdr.size = sizeof(*e);
	if (bpf_ringbuf_output(&events, e, sizeof(*e), flags)) {
		aw_count_drop(AW_DROP_RINGBUF_FULL);
		AW_COUNT(e->task.agent_slot, dropped);
	}
}

static __always_inline void aw_net_event_init(struct aw_net_event *e, __u8 op)
{
	__builtin_memset(e, 0, sizeof(*e));
	aw_fill_hdr(&e->hdr, AW_EV_NET);
	e->op = op;
	e->proto = 6; /* IPPROTO_TCP: sock_ops runs for TCP only */
	e->source = AW_SRC_SOCK_OPS;
}

static __always_inline void aw_on_listen(struct bpf_sock_ops *ctx)
{
	struct bpf_sock *bsk = ctx->sk;
	struct aw_net_event e;
	struct aw_agent *agent;
	struct aw_task *saved;
	struct sock *sk;

	if (!bsk)
		return;
	sk = (struct sock *)bpf_skc_to_tcp_sock(bsk);
	if (!sk)
		return;
	agent = aw_agent_of_cgroup(aw_sock_cgroup(sk));
	if (!agent)
		return;
	aw_net_event_init(&e, AW_NET_LISTEN);
	aw_fill_task_of(&e.task, bpf_get_current_task_btf(), agent->slot);
	aw_sockops_endpoints(ctx, &e, false);
	saved = bpf_sk_storage_get(&listeners_by_socket, bsk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (saved)
		*saved = e.task;
	aw_submit_net(&e);
}

static __always_inline void aw_on_accept(struct bpf_sock_ops *ctx)
{
	struct bpf_sock *bsk = ctx->sk;
	struct aw_task *listener;
	struct aw_net_event e;
	struct aw_agent *agent;
	struct cgroup *cg;
	struct sock *sk;

	if (!bsk)
		return;
	sk = (struct sock *)bpf_skc_to_tcp_sock(bsk);
	if (!sk)
		return;
	cg = aw_sock_cgroup(sk);
	agent = aw_agent_of_cgroup(cg);
	if (!agent)
		return;
	aw_net_event_init(&e, AW_NET_ACCEPT);
	listener = bpf_sk_storage_get(&listeners_by_socket, bsk, 0, 0);
	if (listener) {
		e.task = *listener;
		/* The copy names the listener, not this connection: free it now. */
		bpf_sk_storage_delete(&listeners_by_socket, bsk);
	} else {
		e.task.cgroup_id = BPF_CORE_READ(cg, kn, id);
	}
	e.task.agent_slot = agent->slot;
	aw_sockops_endpoints(ctx, &e, true);
	aw_submit_net(&e);
}

SEC("sockops")
int cgroup_sock_ops(struct bpf_sock_ops *ctx)
{
	switch (ctx->op) {
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		aw_on_listen(ctx);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		aw_on_accept(ctx);
		break;
	}
	return 1;
}

#endif /* AGENTWATCH_OBSERVE_LISTEN_BPF_H */
