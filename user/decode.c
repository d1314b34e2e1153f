// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "decode.h"

static int copy_str(const void *rec, size_t size, struct aw_str s, char *dst, size_t cap)
{
	if ((size_t)s.off + s.len > size || s.len >= cap)
		return -EINVAL;
	memcpy(dst, (const char *)rec + s.off, s.len);
	dst[s.len] = '\0';
	return 0;
}

static int decode_exec(struct decoder *d, const struct aw_exec_event *e, size_t size,
		       struct aw_event *ev)
{
	if (copy_str(e, size, e->path, d->path, sizeof(d->path)) ||
	    copy_str(e, size, e->argv, d->argv, sizeof(d->argv)) ||
	    copy_str(e, size, e->cwd, d->cwd, sizeof(d->cwd)))
		return -EINVAL;
	ev->exec.path = d->path;
	ev->exec.argv = d->argv;
	ev->exec.argv_len = e->argv.len;
	ev->exec.argc = e->argc;
	ev->exec.cwd = d->cwd;
	ev->exec.parent_exec_id = e->parent_exec_id;
	ev->exec.ino = e->ino;
	ev->exec.dev = e->dev;
	ev->rule_id = e->rule_id;
	return 0;
}

static int decode_file(struct decoder *d, const struct aw_file_event *e, size_t size,
		       struct aw_event *ev)
{
	if (copy_str(e, size, e->path, d->path, sizeof(d->path)))
		return -EINVAL;
	ev->file.path = d->path;
	ev->file.access = e->access;
	ev->file.flags = e->flags;
	ev->file.ret = e->ret;
	ev->file.ino = e->ino;
	ev->file.dev = e->dev;
	ev->file.source = e->source;
	ev->rule_id = e->rule_id;
	return 0;
}

static int decode_cgroup(struct decoder *d, const struct aw_cgroup_event *e, size_t size,
			 struct aw_event *ev)
{
	if (copy_str(e, size, e->path, d->path, sizeof(d->path)))
		return -EINVAL;
	ev->cgroup.id = e->new_cgroup_id;
	ev->cgroup.parent_id = e->parent_cgroup_id;
	ev->cgroup.level = e->level;
	ev->cgroup.inherited = e->inherited;
	ev->cgroup.path = d->path;
	return 0;
}

static int decode_net(const struct aw_net_event *e, struct aw_event *ev)
{
	if (e->family != AF_INET && e->family != AF_INET6)
		return -EINVAL;
	ev->net.op = e->op;
	ev->net.family = e->family;
	ev->net.proto = e->proto;
	ev->net.source = e->source;
	memcpy(ev->net.saddr, e->saddr, sizeof(ev->net.saddr));
	memcpy(ev->net.daddr, e->daddr, sizeof(ev->net.daddr));
	ev->net.sport = e->sport;
	ev->net.dport = e->dport;
	ev->net.ret = e->ret;
	ev->rule_id = e->rule_id;
	return 0;
}

/* Fixed size of each record type; strings follow. */
static size_t fixed_size(__u8 type)
{
	switch (type) {
	case AW_EV_EXEC:
		return sizeof(struct aw_exec_event);
	case AW_EV_FORK:
		return sizeof(struct aw_fork_event);
	case AW_EV_EXIT:
		return sizeof(struct aw_exit_event);
	case AW_EV_FILE_OPEN:
		return sizeof(struct aw_file_event);
	case AW_EV_NET:
		return sizeof(struct aw_net_event);
	case AW_EV_SYSCALL:
		return sizeof(struct aw_syscall_event);
	case AW_EV_CGROUP_MKDIR:
		return sizeof(struct aw_cgroup_event);
	}
	return 0;
}

static int decode_body(struct decoder *d, const void *data, size_t size, struct aw_event *ev)
{
	const struct aw_event_hdr *hdr = data;
	const struct aw_fork_event *fork;
	const struct aw_exit_event *exit;
	const struct aw_syscall_event *sys;

	switch (hdr->type) {
	case AW_EV_EXEC:
		return decode_exec(d, data, size, ev);
	case AW_EV_FORK:
		fork = data;
		ev->fork.parent_pid = fork->parent_pid;
		ev->fork.parent_tgid = fork->parent_tgid;
		ev->fork.thread = fork->clone_thread;
		return 0;
	case AW_EV_EXIT:
		exit = data;
		ev->exit.signal = exit->exit_code & 0x7f;
		ev->exit.code = ev->exit.signal ? 0 : (exit->exit_code >> 8) & 0xff;
		return 0;
	case AW_EV_FILE_OPEN:
		return decode_file(d, data, size, ev);
	case AW_EV_NET:
		return decode_net(data, ev);
	case AW_EV_CGROUP_MKDIR:
		return decode_cgroup(d, data, size, ev);
	case AW_EV_SYSCALL:
		sys = data;
		ev->sys.nr = sys->nr;
		ev->rule_id = sys->rule_id;
		ev->sys.name = NULL;
		memcpy(ev->sys.args, sys->args, sizeof(ev->sys.args));
		return 0;
	}
	return -EPROTONOSUPPORT;
}

int decoder__decode(struct decoder *d, const void *data, size_t size, struct aw_event *ev)
{
	const struct aw_event_hdr *hdr = data;
	const struct aw_exec_event *any = data; /* every record has hdr then task */
	size_t fixed;
	int err;

	if (size < sizeof(*hdr) || hdr->size > size) {
		d->malformed++;
		return -EINVAL;
	}
	if (hdr->version != AW_EVENT_VERSION || !(fixed = fixed_size(hdr->type))) {
		d->malformed++;
		return -EPROTONOSUPPORT;
	}
	if (hdr->size < fixed) {
		d->malformed++;
		return -EINVAL;
	}
	memset(ev, 0, sizeof(*ev));
	ev->type = hdr->type;
	ev->flags = hdr->flags;
	ev->boot_ns = hdr->ktime_ns;
	ev->task = any->task;
	/* A kill could not stop the syscall: the event says it would have been blocked, and its
	 * enforcement level (stream.c) says the task was killed. */
	ev->disposition = hdr->flags & AW_EVF_DENIED			? AW_DISP_BLOCKED
			  : hdr->flags & (AW_EVF_AUDIT | AW_EVF_KILLED) ? AW_DISP_WOULD_BLOCK
									: AW_DISP_ALLOWED;
	err = decode_body(d, data, hdr->size, ev);
	if (err) {
		d->malformed++;
		return err;
	}
	d->decoded++;
	return 0;
}
