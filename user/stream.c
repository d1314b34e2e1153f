// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "ocsf.h"
#include "proc_cache.h"
#include "stream.h"
#include "syscalls.h"

#define STREAM_BUF (64 * 1024) /* the largest event, escaped six times over, fits */

#define STREAM_PROCS 16384 /* processes whose ancestry is remembered */

struct stream {
	struct sink *sink;
	struct proc_cache *procs;
	struct aw_capabilities caps;
	struct ocsf_ctx ocsf;
	__u64 last_event_id;
	__s64 boot_to_wall_ns;	 /* CLOCK_REALTIME - CLOCK_BOOTTIME */
	__u64 offset_checked_ns; /* boot time of the last offset refresh */
	__u64 by_type[AW_EV__MAX];
	__u64 denied, encode_errors;
	stream_rule_name_fn rule_name;
	const void *rule_name_ctx;
	char buf[STREAM_BUF];
};

static __u64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Refreshed every second so wall-clock time follows NTP adjustments. */
static void refresh_clock_offset(struct stream *s, __u64 boot_ns)
{
	if (s->offset_checked_ns && boot_ns - s->offset_checked_ns < 1000000000ULL)
		return;
	s->boot_to_wall_ns = (__s64)(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME));
	s->offset_checked_ns = boot_ns;
}

enum aw_level stream__enforcement(const struct aw_capabilities *caps, __u8 type)
{
	enum aw_level level;

	switch (type) {
	case AW_EV_EXEC:
		level = caps->exec;
		break;
	case AW_EV_FILE_OPEN:
		level = caps->file;
		break;
	case AW_EV_NET:
		level = caps->network;
		break;

	case AW_EV_SYSCALL:
		/* syscall classes are refused by LSM hooks, where the kernel has them */
		level = caps->file == AW_LEVEL_LSM ? AW_LEVEL_LSM : AW_LEVEL_AUDIT;
		break;
	default:
		level = AW_LEVEL_AUDIT;
		break;
	}
	/* Where the kernel cannot refuse, what agentwatch does is record. */
	return level == AW_LEVEL_UNAVAILABLE ? AW_LEVEL_AUDIT : level;
}

int stream__new(struct stream **out, struct sink *sink, const struct aw_capabilities *caps)
{
	struct stream *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->sink = sink;
	s->caps = *caps;
	s->procs = proc_cache__new(STREAM_PROCS);
	if (!s->procs) {
		free(s);
		return -ENOMEM;
	}
	err = ocsf_ctx__init_host(&s->ocsf, AW_VERSION);
	if (err) {
		proc_cache__free(s->procs);
		free(s);
		return log_errno(err, "ocsf: node facts");
	}
	*out = s;
	return 0;
}

/* Keep the process cache in step with the lifecycle records, before the event is encoded. */
static void track_process(struct stream *s, const struct aw_event *ev)
{
	struct proc_info info = {};

	switch (ev->type) {
	case AW_EV_FORK:
		if (!ev->fork.thread)
			proc_cache__on_fork(s->procs, ev->fork.parent_tgid, ev->task.tgid,
					    ev->task.agent_slot, ev->boot_ns);
		break;
	case AW_EV_EXEC:
		info.tgid = ev->task.tgid;
		info.ppid = ev->task.ppid;
		info.agent_slot = ev->task.agent_slot;
		info.exec_id = ev->task.exec_id;
		info.parent_exec_id = ev->exec.parent_exec_id;
		info.start_ns = ev->boot_ns;
		info.path = ev->exec.path;
		info.path_len = strlen(ev->exec.path);
		proc_cache__on_exec(s->procs, &info);
		break;
	}
}

void stream__on_event(const struct aw_event *in, void *ctx)
{
	struct stream *s = ctx;
	struct aw_event ev = *in;
	__u64 now;
	int len, n;

	/* Control records (new cgroups) are for the daemon, not the audit stream. */
	if (ev.type == AW_EV_CGROUP_MKDIR)
		return;
	refresh_clock_offset(s, ev.boot_ns);
	ev.wall_ns = ev.boot_ns + s->boot_to_wall_ns;
	/* Node-unique across restarts: wall-clock ns, forced strictly increasing. */
	now = clock_ns(CLOCK_REALTIME);
	s->last_event_id = now > s->last_event_id ? now : s->last_event_id + 1;
	ev.event_id = s->last_event_id;
	ev.enforcement = stream__enforcement(&s->caps, ev.type);
	if (ev.flags & AW_EVF_KILLED)
		ev.enforcement = AW_LEVEL_KILL;
	/* A network decision says which hook took it. */
	if (ev.type == AW_EV_NET && ev.net.source == AW_SRC_CGROUP &&
	    ev.enforcement == AW_LEVEL_LSM)
		ev.enforcement = AW_LEVEL_CGROUP;
	/* listen and accept are observed, never refused */
	if (ev.type == AW_EV_NET && ev.net.source == AW_SRC_SOCK_OPS)
		ev.enforcement = AW_LEVEL_AUDIT;
	if (ev.rule_id && s->rule_name)
		ev.rule = s->rule_name(s->rule_name_ctx, ev.rule_id);
	track_process(s, &ev);
	if (!ev.task.ppid) {
		const struct proc_entry *pe = proc_cache__lookup(s->procs, ev.task.tgid);

		if (pe)
			ev.task.ppid = pe->ppid;
	}
	n = proc_cache__ancestry(s->procs, ev.task.tgid, ev.ancestors, AW_ANCESTRY_MAX);
	ev.n_ancestors = n > 0 ? n : 0;
	if (ev.type == AW_EV_SYSCALL)
		ev.sys.name = syscalls__name(ev.sys.nr);

	if (ev.type < AW_EV__MAX)
		s->by_type[ev.type]++;
	if (ev.disposition == AW_DISP_BLOCKED)
		s->denied++;
	len = ocsf__encode(&ev, &s->ocsf, s->buf, sizeof(s->buf));
	if (len < 0) {
		s->encode_errors++;
		log_debug("event %llu: encode: %s", (unsigned long long)ev.event_id,
			  strerror(-len));
		return;
	}
	sink__write(s->sink, &ev, s->buf, len);
	if (ev.type == AW_EV_EXIT)
		proc_cache__on_exit(s->procs, ev.task.tgid);
}

int stream__policy_change(struct stream *s, struct ocsf_policy_change *pc)
{
	__u64 now = clock_ns(CLOCK_REALTIME);
	int len;

	s->last_event_id = now > s->last_event_id ? now : s->last_event_id + 1;
	pc->event_id = s->last_event_id;
	pc->wall_ns = now;
	len = ocsf__encode_policy_change(pc, &s->ocsf, s->buf, sizeof(s->buf));
	if (len < 0) {
		s->encode_errors++;
		return log_errno(-len, "policy event: encode");
	}
	return sink__write(s->sink, NULL, s->buf, len);
}

void stream__set_rule_names(struct stream *s, stream_rule_name_fn fn, const void *ctx)
{
	s->rule_name = fn;
	s->rule_name_ctx = ctx;
}

int stream__flush(struct stream *s)
{
	return sink__flush(s->sink);
}

void stream__print_summary(const struct stream *s, FILE *out)
{
	struct sink_stats st;

	sink__stats(s->sink, &st);
	fprintf(out,
		"agentwatch: summary: %llu exec, %llu fork, %llu exit, %llu file open, %llu "
		"network, "
		"%llu denied; %llu written to %s, %llu dropped, %llu not encodable\n",
		(unsigned long long)s->by_type[AW_EV_EXEC],
		(unsigned long long)s->by_type[AW_EV_FORK],
		(unsigned long long)s->by_type[AW_EV_EXIT],
		(unsigned long long)s->by_type[AW_EV_FILE_OPEN],
		(unsigned long long)s->by_type[AW_EV_NET], (unsigned long long)s->denied,
		(unsigned long long)st.events, sink__name(s->sink), (unsigned long long)st.dropped,
		(unsigned long long)s->encode_errors);
}

__u64 stream__encode_errors(const struct stream *s)
{
	return s->encode_errors;
}

void stream__free(struct stream *s)
{
	if (!s)
		return;
	proc_cache__free(s->procs);
	free(s);
}
