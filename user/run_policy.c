// SPDX-License-Identifier: Apache-2.0
/* The daemon's policies: loading, agents, hot reload. Rules in run_policy.h. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/timerfd.h>

#include "control.h"
#include "enforce.h"
#include "log.h"
#include "metrics.h"
#include "observe.h"
#include "ocsf.h"
#include "policy.h"
#include "policy_links.h"
#include "run_policy.h"
#include "stream.h"

#define RUN_POLICY_WATCH_MAX 64

/* One inotify watch: a directory, and the file name in it that matters (NULL: any policy). */
struct policy_watch {
	int wd;
	char *dir;
	char *name;
};

struct run_policy {
	struct enforce *enf;
	struct stream *st;
	struct run_policy_opts o;
	char *home, *workspace; /* the defaults (NULL: see run_policy.h) */
	struct loop_source inotify_src, timer_src;
	struct policy_watch watches[RUN_POLICY_WATCH_MAX];
	int n_watches;
};

static const char *rule_name(const void *ctx, __u32 rule_id)
{
	return enforce__rule_name(ctx, rule_id);
}

/* The generation in the kernel and the failed reloads, for Prometheus (user/metrics.h). */
static void publish(struct run_policy *rp)
{
	if (!rp->o.metrics)
		return;
	metrics__set(rp->o.metrics, METRIC_POLICY_GENERATION, enforce__generation(rp->enf));
	metrics__set(rp->o.metrics, METRIC_POLICY_RELOAD_FAILURES,
		     enforce__reload_failures(rp->enf));
}

static void report(struct run_policy *rp, bool ok, __u32 prev, const char *trigger,
		   const char *agent)
{
	struct ocsf_policy_change pc;

	enforce__describe_change(rp->enf, ok, prev, trigger, &pc);
	pc.agent = agent;
	stream__policy_change(rp->st, &pc);
	stream__flush(rp->st);
	publish(rp);
}

static void rewatch(struct run_policy *rp);

void run_policy__reload(struct run_policy *rp, const char *trigger)
{
	__u32 prev = enforce__generation(rp->enf);
	int err;

	rewatch(rp);
	if (rp->o.drain)
		rp->o.drain(rp->o.ctx);
	err = enforce__reload(rp->enf); /* logs what failed; the old generation stays */
	if (!err)
		log_info("policy: reloaded (%s): generation %u in force", trigger,
			 enforce__generation(rp->enf));
	report(rp, !err, prev, trigger, NULL);
}

/* --- inotify, debounced ------------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

static bool relevant(const struct policy_watch *w, const char *name)
{
	if (!strcmp(name, "..data"))
		return true; /* a ConfigMap volume swapped its files in one rename */
	if (w->name)
		return !strcmp(name, w->name);
	return name[0] != '.' && (ends_with(name, ".yaml") || ends_with(name, ".yml"));
}

static struct policy_watch *watch_of(struct run_policy *rp, int wd)
{
	for (int i = 0; i < rp->n_watches; i++)
		if (rp->watches[i].wd == wd)
			return &rp->watches[i];
	return NULL;
}

static void arm_debounce(struct run_policy *rp)
{
	struct itimerspec its = {.it_value.tv_nsec = RUN_POLICY_DEBOUNCE_MS * 1000000L};

	if (timerfd_settime(rp->timer_src.fd, 0, &its, NULL))
		log_errno(errno, "policy: debounce timer");
}

static void inotify_ready(struct loop_source *src, unsigned int events)
{
	struct run_policy *rp = (struct run_policy *)((char *)src -
						      offsetof(struct run_policy, inotify_src));
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	ssize_t n;

	while ((n = read(src->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ie = (const struct inotify_event *)p;
			struct policy_watch *w = watch_of(rp, ie->wd);

			p += sizeof(*ie) + ie->len;
			if (!w)
				continue;
			if (ie->mask & IN_IGNORED) {
				log_warn("policy: '%s' is gone: its changes are no longer watched "
					 "(SIGHUP reloads, and watches it again once it is back)",
					 w->dir);
				w->wd = -1;
			} else if (ie->len && relevant(w, ie->name)) {
				changed = true;
			}
		}
	}
	if (changed)
		arm_debounce(rp); /* re-armed by every change: reload after a quiet period */
}

static void timer_ready(struct loop_source *src, unsigned int events)
{
	struct run_policy *rp = (struct run_policy *)((char *)src -
						      offsetof(struct run_policy, timer_src));
	__u64 expirations;

	if (read(src->fd, &expirations, sizeof(expirations)) == sizeof(expirations))
		run_policy__reload(rp, "inotify");
}

static int loop_add(int epfd, struct loop_source *src)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = src};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, src->fd, &ev) ? -errno : 0;
}

static int watch_dir(struct run_policy *rp, struct policy_watch *w)
{
	w->wd = inotify_add_watch(rp->inotify_src.fd, w->dir,
				  IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
					  IN_DELETE | IN_ATTRIB | IN_MODIFY);
	return w->wd < 0 ? -errno : 0;
}

/* A watched directory that went away and is back (made again) is watched again. */
static void rewatch(struct run_policy *rp)
{
	for (int i = 0; i < rp->n_watches; i++)
		if (rp->watches[i].wd < 0 && !watch_dir(rp, &rp->watches[i]))
			log_info("policy: watching '%s' again", rp->watches[i].dir);
}

/* Watch the directory of a rules path (a directory: itself; a file: its parent, for its name). */
static int add_watch(struct run_policy *rp, const char *path)
{
	struct policy_watch *w;
	const char *name = NULL, *slash;
	char dir[PATH_MAX];
	struct stat st;
	int err;

	if (rp->n_watches == RUN_POLICY_WATCH_MAX)
		return log_errno(E2BIG, "policy: more than %d rules paths to watch",
				 RUN_POLICY_WATCH_MAX);
	if (stat(path, &st))
		return log_errno(errno, "policy: '%s'", path);
	snprintf(dir, sizeof(dir), "%s", path);
	if (!S_ISDIR(st.st_mode)) {
		slash = strrchr(path, '/');
		name = slash ? slash + 1 : path;
		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == path)
			snprintf(dir, sizeof(dir), "/");
		else
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	}
	w = &rp->watches[rp->n_watches];
	w->dir = strdup(dir);
	w->name = name ? strdup(name) : NULL;
	rp->n_watches++; /* freed with the others from here on */
	if (!w->dir || (name && !w->name))
		return -ENOMEM;
	err = watch_dir(rp, w);
	if (err)
		return log_errno(err, "policy: inotify on '%s'", dir);
	log_debug("policy: watching '%s'%s%s", dir, name ? " for " : "", name ? name : "");
	return 0;
}

static int start_watching(struct run_policy *rp)
{
	int i, err;

	rp->inotify_src.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	rp->inotify_src.ready = inotify_ready;
	if (rp->inotify_src.fd < 0)
		return log_errno(errno, "policy: inotify");
	rp->timer_src.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	rp->timer_src.ready = timer_ready;
	if (rp->timer_src.fd < 0)
		return log_errno(errno, "policy: timerfd");
	for (i = 0; i < rp->o.n_paths; i++) {
		err = add_watch(rp, rp->o.paths[i]);
		if (err)
			return err;
	}
	err = loop_add(rp->o.epfd, &rp->inotify_src);
	if (!err)
		err = loop_add(rp->o.epfd, &rp->timer_src);
	return err ? log_errno(err, "policy: epoll") : 0;
}

/* --- agents -------------------------------------------------------------------------------- */

/* The home directory (passwd) of uid, into buf; NULL when unknown. */
static const char *user_home(uid_t uid, char *buf, size_t size)
{
	struct passwd pw, *res = NULL;
	char pwbuf[4096];

	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) || !res || !pw.pw_dir ||
	    pw.pw_dir[0] != '/')
		return NULL;
	snprintf(buf, size, "%s", pw.pw_dir);
	return buf;
}

/* The home directory of the user owning `cgroup`, into buf; NULL when unknown. */
static const char *owner_home(const char *cgroup, char *buf, size_t size)
{
	struct stat st;

	return stat(cgroup, &st) ? NULL : user_home(st.st_uid, buf, size);
}

int run_policy__add_agent(struct run_policy *rp, __u32 slot, const char *name, const char *cgroup,
			  const char *home, const char *workspace, const char *workspace_default)
{
	char owner[PATH_MAX];
	struct enforce_agent ea = {
		.slot = slot,
		.name = name,
		.cgroup = cgroup,
		.home = home ?: rp->home ?: owner_home(cgroup, owner, sizeof(owner)) ?: "/root",
		.workspace = workspace ?: workspace_default ?: rp->workspace ?: RUN_POLICY_NO_WORKSPACE,
		.workspace_is_default = !workspace,
	};

	__u32 prev = enforce__generation(rp->enf);
	int err = enforce__add_agent(rp->enf, &ea);

	/* A new agent is a new generation (its policy set): auditable like a reload. */
	if (err || enforce__generation(rp->enf) != prev)
		report(rp, !err, prev, "agent-added", name);
	else
		publish(rp);
	return err;
}

void run_policy__remove_agent(struct run_policy *rp, __u32 slot, const char *name)
{
	__u32 prev = enforce__generation(rp->enf);
	int err = enforce__remove_agent(rp->enf, slot);

	if (err)
		log_errno(err, "policy: agent slot %u: remove", slot);
	if (err || enforce__generation(rp->enf) != prev)
		report(rp, !err, prev, "agent-removed", name);
	else
		publish(rp);
}

void run_policy__hold(struct run_policy *rp)
{
	enforce__hold(rp->enf);
}

void run_policy__release(struct run_policy *rp, const char *trigger)
{
	__u32 prev = enforce__generation(rp->enf);
	int err = enforce__release(rp->enf);

	if (err || enforce__generation(rp->enf) != prev)
		report(rp, !err, prev, trigger, NULL);
}

const char *run_policy__last_error(const struct run_policy *rp)
{
	return enforce__last_error(rp->enf);
}

struct json_object *run_policy__status_json(const struct run_policy *rp)
{
	struct json_object *o = json_object_new_object(), *paths = json_object_new_array();
	char *const *p;
	int i, n;

	p = enforce__paths(rp->enf, &n);
	for (i = 0; i < n; i++)
		json_object_array_add(paths, json_object_new_string(p[i]));
	json_object_object_add(o, "generation",
			       json_object_new_uint64(enforce__generation(rp->enf)));
	json_object_object_add(o, "reload_failures",
			       json_object_new_uint64(enforce__reload_failures(rp->enf)));
	json_object_object_add(o, "paths", paths);
	return o;
}

/* --- lifetime ------------------------------------------------------------------------------ */

int run_policy__check(char *const *paths, int n_paths)
{
	struct policy_collection c;
	struct policy_errors errs = {};
	int err;

	policy_collection__init(&c);
	err = policy_collection__load(&c, paths, n_paths, &errs);
	policy_errors__print(&errs, stderr);
	policy_errors__free(&errs);
	policy_collection__free(&c);
	return err;
}

int run_policy__open(struct run_policy **out, const struct run_policy_opts *o,
		     const struct aw_capabilities *caps, struct observe *obs, struct stream *st)
{
	struct run_policy *rp = calloc(1, sizeof(*rp));
	char own_home[PATH_MAX];
	int fd[POLICY_MAP__COUNT], err;

	if (!rp)
		return -ENOMEM;
	rp->o = *o;
	rp->st = st;
	rp->inotify_src.fd = rp->timer_src.fd = -1;
	rp->home = o->home ? strdup(o->home) : NULL;
	rp->workspace = o->workspace ? strdup(o->workspace) : NULL;
	if ((o->home && !rp->home) || (o->workspace && !rp->workspace)) {
		err = -ENOMEM;
		goto out_free;
	}
	observe__policy_map_fds(obs, fd);
	err = enforce__open(&rp->enf, o->paths, o->n_paths, caps, fd);
	if (err)
		goto out_free;
	rp->o.paths = enforce__paths(rp->enf, &rp->o.n_paths); /* its copies outlive the caller's */
	rp->o.link_scan = NULL; /* the caller's; enforce keeps its own copy */
	if (o->link_scan && o->link_scan->set) {
		err = enforce__set_link_scan(rp->enf, o->link_scan->dirs, o->link_scan->n);
		if (err)
			goto out_free;
	}
	/* Whose cgroup a pending one will be is not known yet: the daemon's user stands in. */
	err = enforce__set_pending(rp->enf,
				   rp->home ?: user_home(geteuid(), own_home, sizeof(own_home))
						   ?: "/root",
				   rp->workspace ?: RUN_POLICY_NO_WORKSPACE);
	if (err)
		goto out_free;
	err = start_watching(rp);
	if (err)
		goto out_free;
	stream__set_rule_names(st, rule_name, rp->enf);
	report(rp, true, 0, "start", NULL);
	if (caps->file != AW_LEVEL_LSM)
		log_warn("policy: this kernel cannot refuse file, exec or syscall operations "
			 "(no BPF-LSM): those rules only report (or kill, with fallback: kill); "
			 "network rules are enforced by cgroup hooks");
	*out = rp;
	return 0;
out_free:
	run_policy__free(rp);
	return err;
}

void run_policy__free(struct run_policy *rp)
{
	int i;

	if (!rp)
		return;
	if (rp->st)
		stream__set_rule_names(rp->st, NULL, NULL);
	for (i = 0; i < rp->n_watches; i++) {
		free(rp->watches[i].dir);
		free(rp->watches[i].name);
	}
	if (rp->inotify_src.fd >= 0)
		close(rp->inotify_src.fd); /* closing also takes it out of the epoll set */
	if (rp->timer_src.fd >= 0)
		close(rp->timer_src.fd);
	enforce__free(rp->enf);
	free(rp->home);
	free(rp->workspace);
	free(rp);
}
