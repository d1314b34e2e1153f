// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch run: the node daemon. One process, one thread, one epoll loop over the ring
 * buffer, the control socket and its clients, and a signalfd; the loop's timeout is the batch
 * flush timer. The observe programs are loaded once, with the socket hooks on the cgroup v2
 * root, and the agents come and go in their maps:
 *   - at start, every existing cgroup a watch glob matches is registered (user/registry.h says
 *     which agent every other cgroup belongs to);
 *   - a new cgroup under a glob's literal prefix reaches the kernel map as "pending" and the
 *     ring as a cgroup_mkdir record, before any process can enter it; the daemon matches the
 *     full glob and writes the real agent, or deletes the entry. Events that carry the pending
 *     slot come after that record in the ring and are attributed through the cgroup table;
 *   - `agentwatch exec` registers its cgroups over the control socket (user/control.h);
 *   - once a second every agent's cgroup is checked, by id, and agents whose cgroup is gone
 *     are removed, after the events already in the ring were delivered.
 * Events go, as OCSF JSON lines, to --events and to the socket's followers.
 * With --rules, every agent is also put under its policies (user/run_policy.h) before its
 * cgroup gets its own slot in the kernel, and taken out when it is removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <dirent.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "cli.h"
#include "config.h"
#include "control.h"
#include "metrics.h"
#include "metrics_feed.h"
#include "sink_kafka.h"
#include "features.h"
#include "log.h"
#include "observe.h"
#include "registry.h"
#include "run_policy.h"
#include "sink.h"
#include "stream.h"

#define RUN_FLUSH_MS	 100 /* longest an event waits in the ring or a buffer */
#define RUN_CHECK_MS	 1000
#define RUN_PRUNE_EVERY	 10 /* checks between prunes of the cgroup table */
#define AW_FILEID_KERNFS 0xfe
#define RUN_EPOLL_EVENTS 32
#define RUN_EXEC_PARENT	 "agentwatch"

struct daemon;

/* What the stream writes to: the --events sink, and every follower of the control socket. */
struct tee_sink {
	struct sink base;
	struct daemon *d;
};

struct daemon {
	struct config cfg;
	char mount[PATH_MAX]; /* the cgroup v2 mount, no trailing '/' */
	int mount_fd;
	char exec_parent[PATH_MAX];
	struct aw_capabilities caps;
	struct observe *obs;
	struct stream *st;
	struct sink *sink;
	struct tee_sink tee;
	struct control_server *ctl;
	struct registry *reg;
	int epfd;
	struct loop_source ring_src, sig_src;
	bool stop, slots_full_warned;
	unsigned long long events, unattributed;
	const struct run_opts *opts;
	struct metrics *metrics;   /* --metrics: Prometheus text at /metrics */
	struct run_policy *policy; /* --rules: the policies in force; NULL without */
};

static void run_usage(FILE *out)
{
	fprintf(out,
		"Usage: agentwatch run [options]\n\n"
		"The node daemon: watch every cgroup a glob matches as an agent, existing ones "
		"and\n"
		"new ones from their first process on, plus the agents `agentwatch exec` "
		"registers,\n"
		"and write their events as OCSF 1.8.0 JSON lines. Serves the control socket that\n"
		"`agentwatch exec` and `agentwatch events` use. SIGHUP reopens the events file\n"
		"and reloads the rules; SIGTERM or SIGINT delivers what is in flight and\n"
		"exits 0.\n\n"
		"With --rules, every agent is confined by the AgentPolicy documents that\n"
		"select it (rules/README.md), from its first process on: the agents of the\n"
		"watch globs, with --home and --workspace as ${HOME} and ${WORKSPACE}\n"
		"(default: the home of the cgroup's owner, and no workspace), and the agents\n"
		"`agentwatch exec` registers, with exec's own. Changes to the rules are\n"
		"reloaded atomically (inotify, %d ms after the last change; SIGHUP); a bad\n"
		"reload keeps the policy in force. Each load and reload, good or bad, is an\n"
		"OCSF Application Lifecycle event (class 6002).\n\n"
		"Every cgroup a glob matches is an agent of its own; a cgroup no glob matches\n"
		"belongs to its nearest agent ancestor.\n\n"
		"Options (flags override the config file; --watch replaces its list):\n"
		"  --config FILE       YAML config (apiVersion: %s, kind: %s)\n"
		"  --watch GLOB        a cgroup path glob, e.g. "
		"'/sys/fs/cgroup/kubepods.slice/**';\n"
		"                      repeatable\n"
		"  --events FILE|-     where events go; - is stdout (default)\n"
		"  --socket PATH       control socket (default: %s)\n"
		"  --cgroup-root DIR   the cgroup v2 mount (default: from /proc/self/mountinfo)\n"
		"  --sink file|kafka   where events go (default: file, see --events)\n"
		"  --brokers LIST      Kafka bootstrap servers (--sink kafka)\n"
		"  --topic NAME        Kafka topic; {class} makes one topic per OCSF class\n"
		"  -X KEY=VALUE        any librdkafka property, after agentwatch's defaults\n"
		"                      (TLS, SASL, ...; docs/kafka.md)\n"
		"  --spool-dir DIR     on-disk spool for what Kafka cannot take now\n"
		"  --metrics ADDR:PORT serve Prometheus metrics at /metrics\n"
		"  --rules FILE|DIR    enforce these AgentPolicy files (repeatable; replaces the\n"
		"                      config's rules:)\n"
		"  --home DIR          ${HOME} of agents the daemon finds itself\n"
		"  --workspace DIR     ${WORKSPACE} of agents the daemon finds itself\n"
		"  --link-scan DIR|none\n"
		"                      look for files with several names (hard links made\n"
		"                      before the start) only in DIR (repeatable; replaces the\n"
		"                      config's linkScan:), or nowhere; default: the whole\n"
		"                      directories any-depth deny rules such as **/.env* name\n"
		"                      (for that rule: /), walked once per start\n"
		"  --require-enforcement\n"
		"                      refuse to start (exit 1) unless file, exec and network\n"
		"                      enforcement all work here ('agentwatch doctor')\n\n"
		"EXAMPLES\n"
		"  sudo agentwatch run --watch '/sys/fs/cgroup/kubepods.slice/**' \\\n"
		"      --events /var/log/agentwatch/events.jsonl\n"
		"  sudo agentwatch run --watch '/sys/fs/cgroup/kubepods.slice/**' --sink kafka \\\n"
		"      --brokers kafka:9092 --spool-dir /var/lib/agentwatch/spool --metrics :9464\n"
		"  sudo agentwatch run --watch '/sys/fs/cgroup/agents.slice/*' \\\n"
		"      --rules /etc/agentwatch/rules --require-enforcement\n"
		"  sudo agentwatch run --config /etc/agentwatch/daemon.yaml\n"
		"  sudo agentwatch events --follow       # from another terminal\n",
		RUN_POLICY_DEBOUNCE_MS, CONFIG_API_VERSION, CONFIG_KIND, CONTROL_SOCKET_DEFAULT);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- the tee sink ---------------------------------------------------------------------------- */

static int tee_write(struct sink *s, const struct aw_event *ev, const char *json, size_t len)
{
	struct daemon *d = ((struct tee_sink *)s)->d;

	metrics_feed__event(d->metrics, ev, json, len);
	control_server__broadcast(d->ctl, json, len);
	return sink__write(d->sink, ev, json, len);
}

static int tee_flush(struct sink *s)
{
	struct daemon *d = ((struct tee_sink *)s)->d;

	control_server__flush(d->ctl);
	return sink__flush(d->sink);
}

static int tee_reopen(struct sink *s)
{
	return sink__reopen(((struct tee_sink *)s)->d->sink);
}

static void tee_close(struct sink *s)
{
	/* The daemon closes its sink itself. */
}

static const struct sink_ops tee_ops = {
	.name = "daemon",
	.write = tee_write,
	.flush = tee_flush,
	.reopen = tee_reopen,
	.close = tee_close,
};

/* --- agents ---------------------------------------------------------------------------------- */

static void on_event(const struct aw_event *ev, void *ctx);

/* Deliver what is in the ring now, so that it is attributed before the agents change. */
static void drain(struct daemon *d)
{
	int n = observe__drain(d->obs, on_event, d);

	if (n < 0)
		log_errno(n, "ring buffer 'events': consume");
}

static void notice_agent(struct daemon *d, const char *what, const struct registry_agent *a)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "notice", json_object_new_string(what));
	json_object_object_add(o, "agent", control__agent_json(a));
	control_server__notice(d->ctl, o);
}

/* Put an agent under the policies that select it (--rules); the client's ${HOME}, if given. */
static int policy_add_agent(struct daemon *d, const struct aw_agent *a, const char *path,
			    const struct control_request *req)
{
	int err;

	if (!d->policy)
		return 0;
	err = run_policy__add_agent(
		d->policy, a->slot, a->name, path, req && req->has_home ? req->home : NULL,
		req && req->has_workspace ? req->workspace : NULL,
		req && req->has_workspace_default ? req->workspace_default : NULL);
	if (err)
		log_error("agent '%s': cgroup '%s': not under the policy: %s", a->name, path,
			  run_policy__last_error(d->policy)[0] ? run_policy__last_error(d->policy)
							       : strerror(-err));
	return err;
}

/*
 * Make the cgroup an agent (or give an agent a new name and session), in the kernel map first.
 * Returns its slot or -errno.
 */
static int register_cgroup(struct daemon *d, __u64 id, const char *path,
			   const struct control_request *req, enum registry_source source)
{
	struct registry_agent *old = registry__agent_by_cgroup(d->reg, id);
	struct aw_agent a = {};
	struct k8s_identity k8s;
	int slot, err;

	registry__identify(d->mount, path, &a, &k8s);
	if (req && req->has_name)
		snprintf(a.name, sizeof(a.name), "%s", req->name);
	if (req && req->has_session)
		snprintf(a.session_uid, sizeof(a.session_uid), "%s", req->session);
	else
		registry__uuid4(a.session_uid);
	slot = old ? (int)old->agent.slot : observe__free_slot(d->obs);
	if (slot < 0) {
		if (!d->slots_full_warned)
			log_warn("agents: all %d slots in use; cgroup '%s' and later ones are not "
				 "agents of their own",
				 AW_AGENT_SLOT_PENDING - 1, path);
		d->slots_full_warned = true;
		return slot;
	}
	a.slot = (__u32)slot;
	a.root_cgroup_id = id;
	/* Its policy is in force before the cgroup leaves the pending slot (or enters any). */
	err = policy_add_agent(d, &a, path, req);
	if (err && source == REGISTRY_CLIENT)
		return err; /* the client refuses to run its command unconfined */
	err = observe__add_agent(d->obs, id, &a);
	if (err && d->policy && !old)
		run_policy__remove_agent(d->policy, a.slot, a.name);
	if (!err)
		err = registry__add(d->reg, &a, path, &k8s, source);
	if (err)
		return log_errno(err, "agent '%s': register cgroup '%s'", a.name, path);
	log_debug("agent '%s' (slot %d): cgroup '%s'", a.name, slot, path);
	notice_agent(d, "agent", registry__agent(d->reg, (__u32)slot));
	return slot;
}

/* A cgroup that is not an agent itself belongs to `owner`; write that to the kernel too. */
static void place_under(struct daemon *d, __u64 id, const struct registry_agent *owner,
			__u32 kernel_slot)
{
	registry__map_cgroup(d->reg, id, owner->agent.slot);
	/* The kernel copied the pending entry, or an agent further up than the nearest one. */
	if (kernel_slot != owner->agent.slot)
		observe__add_agent(d->obs, id, &owner->agent);
}

static void remove_agent(struct daemon *d, struct registry_agent *a)
{
	char name[sizeof(a->agent.name)];
	__u32 slot;

	drain(d);
	if (!a->agent.slot)
		return; /* the drain removed it already */
	slot = a->agent.slot;
	memcpy(name, a->agent.name, sizeof(name));
	log_debug("agent '%s' (slot %u): removed", a->agent.name, slot);
	observe__remove_agent(d->obs, a->cgroup_id);
	notice_agent(d, "agent_removed", a);
	registry__remove(d->reg, slot);
	if (d->policy)
		run_policy__remove_agent(d->policy, slot, name);
}

static void full_path(const struct daemon *d, const char *rel, char *out, size_t size)
{
	snprintf(out, size, "%s%s", d->mount, strcmp(rel, "/") ? rel : "");
	if (!out[0])
		snprintf(out, size, "/");
}

/* A cgroup_mkdir record: decide about a new cgroup before its first process's events. */
static void on_cgroup_mkdir(struct daemon *d, const struct aw_event *ev)
{
	__u64 id = ev->cgroup.id;
	__u32 kernel_slot = ev->cgroup.inherited ? ev->task.agent_slot : AW_AGENT_SLOT_PENDING;
	struct registry_agent *owner;
	struct aw_agent k;
	char path[PATH_MAX];

	if (registry__agent_by_cgroup(d->reg, id))
		return; /* registered already: over the socket, or by the startup walk */
	full_path(d, ev->cgroup.path, path, sizeof(path));
	if (config__watches(&d->cfg, path) &&
	    register_cgroup(d, id, path, NULL, REGISTRY_SELECTOR) > 0)
		return;
	owner = registry__attribute(d->reg, ev->cgroup.parent_id,
				    ev->cgroup.inherited ? ev->task.agent_slot : 0);
	if (owner) {
		place_under(d, id, owner, kernel_slot);
		return;
	}
	/* Nobody's: drop the kernel's pending entry, or the copy of one made before it went. */
	if (!ev->cgroup.inherited)
		observe__remove_agent(d->obs, id);
	else if (!observe__lookup_cgroup(d->obs, id, &k) && !registry__agent(d->reg, k.slot))
		observe__remove_agent(d->obs, k.root_cgroup_id);
}

static void on_event(const struct aw_event *ev, void *ctx)
{
	struct daemon *d = ctx;
	struct registry_agent *a;
	struct aw_event e;

	if (ev->type == AW_EV_CGROUP_MKDIR) {
		on_cgroup_mkdir(d, ev);
		return;
	}
	a = registry__attribute(d->reg, ev->task.cgroup_id, ev->task.agent_slot);
	if (!a) {
		d->unattributed++;
		return;
	}
	e = *ev;
	e.agent = &a->agent;
	e.k8s = a->k8s.pod_uid[0] || a->k8s.container_id[0] ? &a->k8s : NULL;
	e.task.agent_slot = a->agent.slot;
	d->events++;
	stream__on_event(&e, d->st);
}

static bool cgroup_alive(__u64 id, void *ctx)
{
	struct daemon *d = ctx;
	struct {
		struct file_handle fh;
		__u64 id;
	} h = {.fh.handle_bytes = sizeof(__u64), .fh.handle_type = AW_FILEID_KERNFS, .id = id};
	int fd = open_by_handle_at(d->mount_fd, &h.fh, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		return true;
	}
	return errno != ESTALE && errno != ENOENT;
}

/* Remove the agents whose cgroup is gone; now and then forget vanished cgroups below them. */
static void check_agents(struct daemon *d, bool prune)
{
	__u32 slot;

	for (slot = 1; slot < AW_AGENT_SLOT_PENDING; slot++) {
		struct registry_agent *a = registry__agent(d->reg, slot);

		if (a && !cgroup_alive(a->cgroup_id, d))
			remove_agent(d, a);
	}
	if (prune)
		registry__prune(d->reg, cgroup_alive, d);
}

static bool may_match_under(const struct daemon *d, const char *path)
{
	int i;

	for (i = 0; i < d->cfg.n_watch; i++)
		if (selector__may_match_under(&d->cfg.watch[i], path))
			return true;
	return false;
}

/* Register the existing cgroups at and below path (a PATH_MAX buffer holding len bytes). */
static void walk(struct daemon *d, char *path, size_t len, struct registry_agent *nearest)
{
	struct registry_agent *a;
	struct dirent *de;
	DIR *dir;
	__u64 id;
	int slot;

	if (cgroup__id(path, &id))
		return;
	a = registry__agent_by_cgroup(d->reg, id);
	if (!a && config__watches(&d->cfg, path)) {
		slot = register_cgroup(d, id, path, NULL, REGISTRY_SELECTOR);
		a = slot > 0 ? registry__agent(d->reg, (__u32)slot) : NULL;
	}
	if (a)
		nearest = a;
	else if (nearest)
		place_under(d, id, nearest, 0);
	if (!nearest && !may_match_under(d, path))
		return;
	dir = opendir(path);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		size_t n = strlen(de->d_name);

		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (len + 1 + n >= PATH_MAX)
			continue;
		path[len] = '/';
		memcpy(path + len + 1, de->d_name, n + 1);
		walk(d, path, len + 1 + n, nearest);
		path[len] = '\0';
	}
	closedir(dir);
}

/* --- the control socket ---------------------------------------------------------------------- */

/* The canonical form of a cgroup path a client gave; it must be under the mount. */
static int client_cgroup(const struct daemon *d, const char *given, char *out, char *err,
			 size_t errlen)
{
	size_t mlen = strlen(d->mount);

	if (!realpath(given, out)) {
		snprintf(err, errlen, "cgroup '%s': %s", given, strerror(errno));
		return -errno;
	}
	if (strncmp(out, d->mount, mlen) || (out[mlen] && out[mlen] != '/')) {
		snprintf(err, errlen, "cgroup '%s' is not under the cgroup v2 mount '%s'", given,
			 d->mount);
		return -EINVAL;
	}
	return 0;
}

static int op_register(struct daemon *d, const struct control_request *req,
		       struct json_object *reply, char *err, size_t errlen)
{
	struct registry_agent *a;
	char path[PATH_MAX];
	__u64 id;
	int slot, ret;

	ret = client_cgroup(d, req->cgroup, path, err, errlen);
	if (ret)
		return ret;
	ret = cgroup__id(path, &id);
	if (ret) {
		snprintf(err, errlen, "cgroup '%s': %s", path, strerror(-ret));
		return ret;
	}
	slot = register_cgroup(d, id, path, req, REGISTRY_CLIENT);
	if (slot < 0 && d->policy && run_policy__last_error(d->policy)[0]) {
		snprintf(err, errlen, "cgroup '%s': cannot put it under the policy: %s", path,
			 run_policy__last_error(d->policy));
		return slot;
	}
	if (slot < 0) {
		snprintf(err, errlen, "cgroup '%s': cannot register: %s", path, strerror(-slot));
		return slot;
	}
	a = registry__agent(d->reg, (__u32)slot);
	json_object_object_add(reply, "slot", json_object_new_int(slot));
	json_object_object_add(reply, "agent_uid", json_object_new_string(a->agent.agent_uid));
	json_object_object_add(reply, "session_uid", json_object_new_string(a->agent.session_uid));
	return 0;
}

/* Idempotent: the once-a-second check may have seen the cgroup go before the client asked. */
static int op_unregister(struct daemon *d, const struct control_request *req,
			 struct json_object *reply)
{
	struct registry_agent *a = registry__agent_by_path(d->reg, req->cgroup);
	char path[PATH_MAX];
	__u64 id;

	/* The client's cgroup may be gone already; then its path is all there is. */
	if (!a && realpath(req->cgroup, path)) {
		a = registry__agent_by_path(d->reg, path);
		if (!a && !cgroup__id(path, &id))
			a = registry__agent_by_cgroup(d->reg, id);
	}
	json_object_object_add(reply, "removed", json_object_new_boolean(a != NULL));
	if (a)
		remove_agent(d, a);
	return 0;
}

static void add_u64(struct json_object *o, const char *key, unsigned long long v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void op_status(struct daemon *d, struct json_object *reply)
{
	struct json_object *agents = json_object_new_array(), *watch = json_object_new_array();
	struct json_object *counters = json_object_new_object();
	__u64 drops[AW_DROP__MAX], malformed;
	struct control_stats cs;
	struct sink_stats ss;
	__u32 slot;
	int i;

	for (i = 0; i < d->cfg.n_watch; i++)
		json_object_array_add(watch, json_object_new_string(d->cfg.watch[i].glob));
	for (slot = 1; slot < AW_AGENT_SLOT_PENDING; slot++) {
		struct registry_agent *a = registry__agent(d->reg, slot);

		if (a)
			json_object_array_add(agents, control__agent_json(a));
	}
	observe__drops(d->obs, drops, &malformed);
	sink__stats(d->sink, &ss);
	control_server__stats(d->ctl, &cs);
	add_u64(counters, "events", d->events);
	add_u64(counters, "unattributed", d->unattributed);
	add_u64(counters, "ringbuf_full", drops[AW_DROP_RINGBUF_FULL]);
	add_u64(counters, "no_scratch", drops[AW_DROP_SCRATCH]);
	add_u64(counters, "malformed", malformed);
	add_u64(counters, "written", ss.delivered);
	add_u64(counters, "sink_dropped", ss.dropped);
	add_u64(counters, "sink_errors", ss.errors);
	add_u64(counters, "followers", (unsigned long long)cs.followers);
	add_u64(counters, "follow_dropped", cs.follow_dropped);
	add_u64(counters, "refused", cs.refused);
	json_object_object_add(reply, "version", json_object_new_string(AW_VERSION));
	json_object_object_add(reply, "pid", json_object_new_int(getpid()));
	json_object_object_add(reply, "cgroup_root", json_object_new_string(d->mount));
	json_object_object_add(reply, "watch", watch);
	json_object_object_add(reply, "agents", agents);
	json_object_object_add(reply, "counters", counters);
	if (d->policy)
		json_object_object_add(reply, "policy", run_policy__status_json(d->policy));
}

static int on_request(void *ctx, const struct control_request *req, struct json_object *reply,
		      char *err, size_t errlen)
{
	struct daemon *d = ctx;

	switch (req->op) {
	case CONTROL_OP_HELLO:
		json_object_object_add(reply, "version", json_object_new_string(AW_VERSION));
		json_object_object_add(reply, "pid", json_object_new_int(getpid()));
		json_object_object_add(reply, "cgroup_root", json_object_new_string(d->mount));
		json_object_object_add(reply, "exec_parent",
				       json_object_new_string(d->exec_parent));
		return 0;
	case CONTROL_OP_REGISTER:
		return op_register(d, req, reply, err, errlen);
	case CONTROL_OP_UNREGISTER:
		return op_unregister(d, req, reply);
	case CONTROL_OP_STATUS:
		op_status(d, reply);
		return 0;
	default:
		snprintf(err, errlen, "op not handled");
		return -EINVAL;
	}
}

/* A new follower first learns who the agents are. */
static void on_follow(void *ctx, struct control_client *c)
{
	struct daemon *d = ctx;
	__u32 slot;

	for (slot = 1; slot < AW_AGENT_SLOT_PENDING; slot++) {
		struct registry_agent *a = registry__agent(d->reg, slot);
		struct json_object *o;

		if (!a)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "notice", json_object_new_string("agent"));
		json_object_object_add(o, "agent", control__agent_json(a));
		control_client__send(c, o);
		json_object_put(o);
	}
}

static const struct control_ops control_ops = {
	.request = on_request,
	.follow = on_follow,
};

/* --- the loop -------------------------------------------------------------------------------- */

static void ring_ready(struct loop_source *src, unsigned int events)
{
	/* The loop drains the ring after every wake-up. */
}

static void signal_ready(struct loop_source *src, unsigned int events)
{
	struct daemon *d = (struct daemon *)((char *)src - offsetof(struct daemon, sig_src));
	struct signalfd_siginfo si;

	while (read(src->fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			int err = sink__reopen(d->sink);

			if (err)
				log_errno(err, "events: reopen");
			else
				log_info("events: reopened");
			if (d->policy)
				run_policy__reload(d->policy, "sighup");
		} else {
			d->stop = true;
		}
	}
}

static int loop_add(struct daemon *d, struct loop_source *src)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = src};

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, src->fd, &ev) ? -errno : 0;
}

static int event_loop(struct daemon *d)
{
	struct epoll_event evs[RUN_EPOLL_EVENTS];
	long long next_check = now_ms() + RUN_CHECK_MS;
	unsigned int checks = 0;
	int i, n;

	while (!d->stop) {
		n = epoll_wait(d->epfd, evs, RUN_EPOLL_EVENTS, RUN_FLUSH_MS);
		if (n < 0 && errno != EINTR)
			return log_errno(errno, "epoll_wait");
		for (i = 0; i < n; i++) {
			struct loop_source *src = evs[i].data.ptr;

			src->ready(src, evs[i].events);
		}
		/* Records written without a wake-up wait at most one timeout. */
		drain(d);
		stream__flush(d->st);
		if (now_ms() >= next_check) {
			check_agents(d, ++checks % RUN_PRUNE_EVERY == 0);
			metrics_feed__sample(d->metrics, d->obs, d->st);
			stream__flush(d->st);
			next_check = now_ms() + RUN_CHECK_MS;
		}
	}
	return 0;
}

/* --- setup ----------------------------------------------------------------------------------- */

#define RUN_MAX_PROPS 64

struct run_opts {
	const char *config, *events, *socket, *cgroup_root;
	int n_watch;
	const char *watch[CONFIG_MAX_WATCH];
	/* --sink kafka: the Kafka sink (user/sink_kafka.h, docs/kafka.md) */
	const char *sink, *brokers, *topic, *spool_dir, *metrics;
	const char *props[RUN_MAX_PROPS];
	size_t n_props;
	/* --rules: policies (user/run_policy.h) */
	int n_rules;
	const char *rules[CONFIG_MAX_RULES];
	const char *home, *workspace;
	struct policy_link_scan link_scan;
	bool require_enforcement;
};

static int parse_opts(int argc, char **argv, struct run_opts *o)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"watch", required_argument, NULL, 'w'},
		{"events", required_argument, NULL, 'e'},
		{"socket", required_argument, NULL, 's'},
		{"cgroup-root", required_argument, NULL, 'r'},
		{"sink", required_argument, NULL, 'S'},
		{"brokers", required_argument, NULL, 'b'},
		{"topic", required_argument, NULL, 't'},
		{"spool-dir", required_argument, NULL, 'd'},
		{"metrics", required_argument, NULL, 'm'},
		{"rules", required_argument, NULL, 'R'},
		{"home", required_argument, NULL, 'H'},
		{"workspace", required_argument, NULL, 'W'},
		{"link-scan", required_argument, NULL, 'L'},
		{"require-enforcement", no_argument, NULL, 'E'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	char err[160];
	int c;

	while ((c = getopt_long(argc, argv, "hX:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'w':
			if (o->n_watch == CONFIG_MAX_WATCH) {
				fprintf(stderr, "agentwatch run: more than %d --watch globs\n",
					CONFIG_MAX_WATCH);
				return -EINVAL;
			}
			o->watch[o->n_watch++] = optarg;
			break;
		case 'e':
			o->events = optarg;
			break;
		case 's':
			o->socket = optarg;
			break;
		case 'r':
			o->cgroup_root = optarg;
			break;
		case 'S':
			if (strcmp(optarg, "file") && strcmp(optarg, "kafka")) {
				fprintf(stderr, "agentwatch run: --sink: 'file' or 'kafka'\n");
				return -EINVAL;
			}
			o->sink = optarg;
			break;
		case 'b':
			o->brokers = optarg;
			break;
		case 't':
			o->topic = optarg;
			break;
		case 'd':
			o->spool_dir = optarg;
			break;
		case 'm':
			o->metrics = optarg;
			break;
		case 'X':
			if (o->n_props == RUN_MAX_PROPS || !strchr(optarg, '=')) {
				fprintf(stderr, "agentwatch run: -X takes key=value (at most %d)\n",
					RUN_MAX_PROPS);
				return -EINVAL;
			}
			o->props[o->n_props++] = optarg;
			break;
		case 'R':
			if (o->n_rules == CONFIG_MAX_RULES) {
				fprintf(stderr, "agentwatch run: more than %d --rules\n",
					CONFIG_MAX_RULES);
				return -EINVAL;
			}
			o->rules[o->n_rules++] = optarg;
			break;
		case 'H':
		case 'W':
			if (optarg[0] != '/') {
				fprintf(stderr,
					"agentwatch run: --%s: an absolute path, not '%s'\n",
					c == 'H' ? "home" : "workspace", optarg);
				return -EINVAL;
			}
			*(c == 'H' ? &o->home : &o->workspace) = optarg;
			break;
		case 'L':
			if (policy_link_scan__add(&o->link_scan, optarg, err, sizeof(err))) {
				fprintf(stderr, "agentwatch run: --link-scan: %s\n", err);
				return -EINVAL;
			}
			break;
		case 'E':
			o->require_enforcement = true;
			break;
		case 'h':
			run_usage(stdout);
			return 1;
		default:
			run_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "agentwatch run: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* The config file, then the flags over it. Returns 0 or an exit status. */
static int load_config(struct daemon *d, const struct run_opts *o)
{
	char err[512];
	int i, ret;

	if (o->config) {
		ret = config__load(&d->cfg, o->config, err, sizeof(err));
		if (ret) {
			log_error("config: %s", err);
			return AW_EXIT_USAGE;
		}
	}
	if (o->n_watch)
		config__clear_watch(&d->cfg);
	for (i = 0; i < o->n_watch; i++) {
		if (config__add_watch(&d->cfg, o->watch[i], err, sizeof(err))) {
			log_error("--watch '%s': %s", o->watch[i], err);
			return AW_EXIT_USAGE;
		}
	}
#define OVERRIDE(field, flag)                        \
	do {                                         \
		if (flag) {                          \
			free(d->cfg.field);          \
			d->cfg.field = strdup(flag); \
			if (!d->cfg.field)           \
				return AW_EXIT_FAIL; \
		}                                    \
	} while (0)
	OVERRIDE(events, o->events);
	OVERRIDE(socket, o->socket);
	OVERRIDE(cgroup_root, o->cgroup_root);
	OVERRIDE(home, o->home);
	OVERRIDE(workspace, o->workspace);
#undef OVERRIDE
	if (o->n_rules)
		config__clear_rules(&d->cfg);
	for (i = 0; i < o->n_rules; i++)
		if (config__add_rules(&d->cfg, o->rules[i]))
			return AW_EXIT_FAIL;
	if (o->link_scan.set && config__set_link_scan(&d->cfg, &o->link_scan))
		return AW_EXIT_FAIL;
	if (o->require_enforcement)
		d->cfg.require_enforcement = true;
	return 0;
}

/* The cgroup v2 mount: --cgroup-root if given (it must be one), else the first in mountinfo. */
static int find_mount(struct daemon *d, const struct aw_features *feat)
{
	const char *m = d->cfg.cgroup_root;
	struct statfs sfs;
	size_t len;
	int i;

	if (!m && feat->cgroups.n_v2 == 0) {
		log_error("run: no cgroup v2 mount; run 'agentwatch doctor'");
		return -ENOENT;
	}
	if (!m)
		m = feat->cgroups.v2[0];
	if (statfs(m, &sfs))
		return log_errno(errno, "cgroup root '%s'", m);
	if (sfs.f_type != CGROUP2_SUPER_MAGIC) {
		log_error("cgroup root '%s': not a cgroup v2 mount", m);
		return -EINVAL;
	}
	if (!realpath(m, d->mount))
		return log_errno(errno, "cgroup root '%s'", m);
	/* Kernel paths are relative to the hierarchy's root: a directory below it will not do. */
	for (i = 0; i < feat->cgroups.n_v2; i++)
		if (!strcmp(feat->cgroups.v2[i], d->mount))
			break;
	if (i == feat->cgroups.n_v2) {
		log_error("cgroup root '%s': not a cgroup v2 mount point (cgroup v2 is at %s)", m,
			  feat->cgroups.n_v2 ? feat->cgroups.v2[0] : "no mount point");
		return -EINVAL;
	}
	len = strlen(d->mount);
	if (len == 1)
		d->mount[0] = '\0'; /* "/" : paths are joined as mount + relative path */
	if (snprintf(d->exec_parent, sizeof(d->exec_parent), "%s/%s", d->mount, RUN_EXEC_PARENT) >=
	    (int)sizeof(d->exec_parent))
		return -ENAMETOOLONG;
	return 0;
}

static struct sink *open_sink(struct daemon *d, const char *events)
{
	const struct run_opts *o = d->opts;

	if (o && o->sink && !strcmp(o->sink, "kafka")) {
		struct sink_kafka_opts ko = {
			.brokers = o->brokers,
			.topic = o->topic,
			.props = o->props,
			.n_props = o->n_props,
			.spool_dir = o->spool_dir,
			.metrics = d->metrics,
		};

		return sink_kafka__new(&ko);
	}
	if (!events || !strcmp(events, "-"))
		return sink_stdout__new();
	return sink_file__new(events);
}

static void drain_for_policy(void *ctx)
{
	drain(ctx);
}

/* --rules: the policies, in force (for pending cgroups) before the programs attach. */
static int start_policy(struct daemon *d)
{
	struct run_policy_opts po = {
		.paths = d->cfg.rules,
		.n_paths = d->cfg.n_rules,
		.home = d->cfg.home,
		.workspace = d->cfg.workspace,
		.link_scan = &d->cfg.link_scan,
		.epfd = d->epfd,
		.metrics = d->metrics,
		.drain = drain_for_policy,
		.ctx = d,
	};

	if (!d->cfg.n_rules)
		return 0;
	return run_policy__open(&d->policy, &po, &d->caps, d->obs, d->st);
}

/* Load, attach to the cgroup v2 root, and make the socket; the loop can start afterwards. */
static int start(struct daemon *d)
{
	char prefixes[AW_WATCH_PREFIXES][AW_WATCH_PREFIX_LEN], err[512];
	const char *socket = d->cfg.socket ? d->cfg.socket : CONTROL_SOCKET_DEFAULT;
	struct observe_opts oo = {.poll_timeout_ms = RUN_FLUSH_MS};
	char path[PATH_MAX];
	sigset_t set;
	int i, n, ret;

	n = config__watch_prefixes(&d->cfg, d->mount[0] ? d->mount : "/", prefixes, err,
				   sizeof(err));
	if (n < 0) {
		log_error("config: %s", err);
		return n;
	}
	for (i = 0; i < n; i++)
		oo.watch_prefixes[i] = prefixes[i];
	oo.n_watch_prefixes = n;
	oo.lsm_file_open = d->caps.file == AW_LEVEL_LSM;
	oo.enforce = d->cfg.n_rules > 0;
	oo.inbound_tcp = d->caps.inbound_tcp;

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return log_errno(errno, "epoll");
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sig_src.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	d->sig_src.ready = signal_ready;
	if (d->sig_src.fd < 0 || loop_add(d, &d->sig_src))
		return log_errno(errno, "signalfd");

	d->reg = registry__new();
	if (!d->reg)
		return -ENOMEM;
	if (d->opts && d->opts->metrics) {
		d->metrics = metrics__new();
		if (!d->metrics || metrics__start(d->metrics, d->opts->metrics))
			return log_errno(errno ? errno : EINVAL, "metrics '%s'", d->opts->metrics);
		metrics__set_enforcement(d->metrics, &d->caps);
	}
	d->sink = open_sink(d, d->cfg.events);
	if (!d->sink)
		return log_errno(errno, "events '%s': open", d->cfg.events);
	d->tee.base.ops = &tee_ops;
	d->tee.d = d;

	d->mount_fd = open(d->mount[0] ? d->mount : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->mount_fd < 0)
		return log_errno(errno, "cgroup root '%s'", d->mount);
	oo.cgroup_fd = d->mount_fd;
	ret = observe__open_and_load(&d->obs, &oo);
	if (ret)
		return ret;
	ret = stream__new(&d->st, &d->tee.base, &d->caps);
	if (ret)
		return ret;
	ret = start_policy(d);
	if (ret)
		return ret;
	/* Attached before the walk: a cgroup made meanwhile is reported by cgroup_mkdir. */
	ret = observe__attach(d->obs);
	if (ret)
		return ret;
	d->ring_src.fd = observe__epoll_fd(d->obs);
	d->ring_src.ready = ring_ready;
	ret = loop_add(d, &d->ring_src);
	if (ret)
		return log_errno(ret, "ring buffer 'events': epoll");

	snprintf(path, sizeof(path), "%s", d->mount[0] ? d->mount : "/");
	/* The agents found now go under their policies together: one compile, one switch. */
	if (d->policy)
		run_policy__hold(d->policy);
	walk(d, path, strlen(d->mount), NULL);
	if (d->policy)
		run_policy__release(d->policy, "agents-at-start");
	/* Listening last: a client that can connect finds the daemon ready. */
	ret = control_server__open(&d->ctl, socket, d->epfd, &control_ops, d);
	if (ret)
		return ret;
	/* Loading parsed the kernel BTF several times over; give that memory back. */
	malloc_trim(0);
	log_info("run: %d agents at start; %d watch globs (kernel prefixes:%s%s); control socket "
		 "'%s'",
		 d->reg->n_agents, d->cfg.n_watch, n ? " " : " none", n ? prefixes[0] : "", socket);
	for (i = 1; i < n; i++)
		log_debug("run: kernel prefix '%s'", prefixes[i]);
	return 0;
}

static void stop(struct daemon *d)
{
	if (d->obs && d->st) {
		observe__detach(d->obs); /* then the drain takes the very last records */
		drain(d);
		stream__flush(d->st);
	}
	run_policy__free(d->policy);
	control_server__close(d->ctl);
	observe__destroy(d->obs);
	stream__free(d->st);
	sink__close(d->sink); /* Kafka: a bounded flush, then what is left goes to the spool */
	metrics__free(d->metrics);
	registry__free(d->reg);
	config__free(&d->cfg);
	if (d->mount_fd >= 0)
		close(d->mount_fd);
	if (d->sig_src.fd >= 0)
		close(d->sig_src.fd);
	if (d->epfd >= 0)
		close(d->epfd);
}

/* Append "; "-separated text to a NUL-terminated buffer. */
static void append_missing(char *buf, size_t size, const char *what, const char *level)
{
	size_t n = strlen(buf);

	snprintf(buf + n, size - n, "%s%s%s%s%s", n ? "; " : "", what, level ? " (here: " : "",
		 level ? level : "", level ? ")" : "");
}

/* --require-enforcement: true, or false after naming what doctor's probes found missing. */
static bool full_enforcement(const struct daemon *d)
{
	const struct aw_capabilities *c = &d->caps;
	char missing[512] = "";

	if (features__full_enforcement(c))
		return true;
	if (c->file != AW_LEVEL_LSM)
		append_missing(missing, sizeof(missing), "file enforcement by BPF-LSM",
			       aw_level__name(c->file));
	if (c->exec != AW_LEVEL_LSM)
		append_missing(missing, sizeof(missing), "exec enforcement by BPF-LSM",
			       aw_level__name(c->exec));
	if (c->network < AW_LEVEL_CGROUP)
		append_missing(missing, sizeof(missing),
			       "network enforcement by BPF-LSM or cgroup socket hooks",
			       aw_level__name(c->network));
	if (!c->syscall_observation)
		append_missing(missing, sizeof(missing), "syscall observation", NULL);
	if (!c->event_transport)
		append_missing(missing, sizeof(missing), "the BPF ring buffer", NULL);
	log_error("run: --require-enforcement: this kernel lacks %s; see 'agentwatch doctor'",
		  missing);
	return false;
}

int do_run(int argc, char **argv)
{
	struct daemon *d;
	struct run_opts o = {};
	struct aw_features *feat;
	int ret, rc = AW_EXIT_FAIL;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret > 0 ? AW_EXIT_OK : AW_EXIT_USAGE;
	d = calloc(1, sizeof(*d));
	feat = calloc(1, sizeof(*feat));
	if (!d || !feat)
		goto out_free;
	d->mount_fd = d->epfd = d->sig_src.fd = -1;
	d->opts = &o;
	ret = load_config(d, &o);
	if (ret) {
		rc = ret;
		goto out_free_config;
	}
	/* Before the slow part: good rules, and one daemon per socket. */
	if (d->cfg.n_rules && run_policy__check(d->cfg.rules, d->cfg.n_rules)) {
		log_error("run: the rules have errors; nothing was loaded");
		rc = AW_EXIT_USAGE;
		goto out_free_config;
	}
	if (control__in_use(d->cfg.socket ? d->cfg.socket : CONTROL_SOCKET_DEFAULT)) {
		log_error("control socket '%s': another agentwatch daemon answers on it",
			  d->cfg.socket ? d->cfg.socket : CONTROL_SOCKET_DEFAULT);
		goto out_free_config;
	}
	features__probe(feat);
	features__capabilities(feat, &d->caps);
	if (d->cfg.require_enforcement && !full_enforcement(d))
		goto out_free_config;
	if (!d->caps.event_transport) {
		log_error("run: this kernel lacks the BPF ring buffer; run 'agentwatch doctor'");
		goto out_free_config;
	}
	if (find_mount(d, feat))
		goto out_free_config;
	if (!start(d) && !event_loop(d))
		rc = AW_EXIT_OK;
	stop(d);
	log_info("run: stopped");
	goto out_free;
out_free_config:
	config__free(&d->cfg);
out_free:
	free(feat);
	free(d);
	return rc;
}
