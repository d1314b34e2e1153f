// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch top's sources (top_source.h): the pinned maps of every instance, the agents'
 * cgroups, and the instances' control sockets. Nothing here blocks for long: sockets are
 * non-blocking, a daemon that does not answer is retried every TOP_RETRY_MS.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include <agentwatch/agent.h>
#include <agentwatch/counters.h>
#include <agentwatch/event.h>
#include <agentwatch/policy.h>
#include <agentwatch/syscall.h>

#include "control.h"
#include "features.h"
#include "k8s.h"
#include "top_source.h"

#define TOP_RETRY_MS	    2000
#define TOP_STATUS_STALE_MS 3000
#define TOP_LINE_MAX	    (16 << 20) /* a status reply with thousands of agents fits */
#define TOP_READ_BUDGET	    (4 << 20)  /* bytes read per connection per dispatch */
#define TOP_CG_DEPTH	    8	       /* cgroup levels below an agent's root that are counted */
#define TOP_BATCH	    256
#define AW_FILEID_KERNFS    0xfe

enum top_map {
	MAP_AGENTS,
	MAP_COUNTERS,
	MAP_DROPS,
	MAP_SYSCALLS,
	MAP_POLICY_CONFIG,
	MAP_POLICY_OF_SLOT,
	MAP_POLICY_DEFAULTS,
	MAP__COUNT,
};

/* Pin names are the maps' names (observe__pin). The first two are required. */
static const char *const map_names[MAP__COUNT] = {
	[MAP_AGENTS] = "agents_by_cgroup",	   [MAP_COUNTERS] = "agent_counters",
	[MAP_DROPS] = "drops_by_reason",	   [MAP_SYSCALLS] = "syscall_counts",
	[MAP_POLICY_CONFIG] = "policy_config",	   [MAP_POLICY_OF_SLOT] = "policy_of_slot",
	[MAP_POLICY_DEFAULTS] = "policy_defaults",
};

struct top_conn {
	int fd; /* -1: not connected */
	char *buf;
	size_t len, cap;
	bool ok;      /* follow: the server accepted */
	bool waiting; /* status: a request is outstanding */
	long long retry_ms;
};

struct top_instance {
	char name[TOP_INSTANCE_LEN];
	pid_t pid; /* exec-<pid>; 0 for others */
	int fd[MAP__COUNT];
	ino_t ino; /* of the agent_counters pin: a new inode means new maps */
	struct top_conn follow;
	bool present;
};

struct top_cgroup {
	__u64 id;
	int fd;	   /* -1: not openable */
	int err;   /* why not */
	bool used; /* by an agent of the current snapshot */
	struct k8s_identity k8s;
};

struct top_source {
	struct top_source_opts opts;
	char pin_root[1024];
	char daemon_sock[108]; /* sun_path */
	char sock_dir[108];
	int mount_fd;
	int ncpus;
	struct aw_agent_counters *percpu;
	__u64 *percpu_u64;
	struct top_instance *inst;
	size_t n_inst, cap_inst;
	struct top_cgroup *cgs;
	size_t n_cgs, cap_cgs;
	struct top_sample *samples;
	size_t n_samples, cap_samples;
	int slot_index[AW_AGENT_SLOTS]; /* sample index + 1 of each slot, for one instance */
	struct top_header_sample hdr0;	/* node, kernel, capabilities */
	struct top_conn status;
	struct json_object *last_status;
	long long status_ms;
	struct json_tokener *tok;
	unsigned long long follow_dropped;
	char scratch[16384]; /* the decoded strings of one event */
	__u64 batch_keys[TOP_BATCH];
	struct aw_agent batch_vals[TOP_BATCH];
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- connections ----------------------------------------------------------------------------- */

static void conn_init(struct top_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void conn_close(struct top_conn *c, long long retry_ms)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	conn_init(c);
	c->retry_ms = retry_ms;
}

/* Connect and send one request line, without waiting for its answer. */
static int conn_open(struct top_conn *c, const char *path, const char *request)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(request);
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A Unix socket connects at once or not at all. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    send(fd, request, len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len) {
		int err = -errno;

		close(fd);
		return err;
	}
	c->fd = fd;
	c->len = 0;
	c->ok = false;
	return 0;
}

/*
 * Read what is there and call fn for every complete line. Returns 0, or -errno when the
 * connection is over (end of stream, error, a line longer than TOP_LINE_MAX).
 */
static int conn_read(struct top_conn *c, void (*fn)(const char *line, size_t len, void *ctx),
		     void *ctx)
{
	size_t budget = TOP_READ_BUDGET;

	while (budget) {
		size_t start = 0;
		ssize_t n;
		char *nl;

		if (c->cap - c->len < 65536) {
			size_t cap = c->cap ? 2 * c->cap : 131072;
			char *buf;

			if (cap > TOP_LINE_MAX)
				return -EPROTO;
			buf = realloc(c->buf, cap);
			if (!buf)
				return -ENOMEM;
			c->buf = buf;
			c->cap = cap;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		if (n == 0)
			return -EPIPE;
		c->len += (size_t)n;
		budget = (size_t)n < budget ? budget - (size_t)n : 0;
		while ((nl = memchr(c->buf + start, '\n', c->len - start))) {
			*nl = '\0';
			fn(c->buf + start, (size_t)(nl - c->buf) - start, ctx);
			start = (size_t)(nl - c->buf) + 1;
		}
		memmove(c->buf, c->buf + start, c->len - start);
		c->len -= start;
	}
	return 0;
}

/* --- parsing the stream ---------------------------------------------------------------------- */

static struct json_object *get(struct json_object *o, const char *path)
{
	char key[64];

	while (o && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path += n + (dot ? 1 : 0);
	}
	return o;
}

static long long get_int(struct json_object *o, const char *path, long long dflt)
{
	o = get(o, path);
	if (!o ||
	    (!json_object_is_type(o, json_type_int) && !json_object_is_type(o, json_type_boolean)))
		return dflt;
	return json_object_get_int64(o);
}

struct follow_ctx {
	struct top_source *s;
	struct top_instance *inst;
	struct top_model *m;
};

static struct json_object *parse_line(struct top_source *s, const char *line, size_t len)
{
	struct json_object *obj;

	json_tokener_reset(s->tok);
	obj = json_tokener_parse_ex(s->tok, line, (int)len);
	if (obj && !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		obj = NULL;
	}
	return obj;
}

static void on_follow_line(const char *line, size_t len, void *ctx)
{
	struct follow_ctx *f = ctx;
	struct top_line l;

	if (top_line__parse(line, len, &l, f->s->scratch, sizeof(f->s->scratch)))
		return;
	switch (l.kind) {
	case TOP_LINE_REPLY:
		f->inst->follow.ok = l.ok;
		break;
	case TOP_LINE_NOTICE:
		if (!strcmp(l.notice, "dropped"))
			f->s->follow_dropped += l.count;
		break;
	case TOP_LINE_EVENT:
		top_model__event(f->m, f->inst->name, &l.ev);
		break;
	}
}

static void on_status_line(const char *line, size_t len, void *ctx)
{
	struct top_source *s = ctx;
	struct json_object *obj = parse_line(s, line, len);

	if (!obj)
		return;
	s->status.waiting = false;
	if (get_int(obj, "ok", 0)) {
		json_object_put(s->last_status);
		s->last_status = obj;
		s->status_ms = now_ms();
		return;
	}
	json_object_put(obj);
}

/* --- instances ------------------------------------------------------------------------------- */

static void instance_close_maps(struct top_instance *in)
{
	int i;

	for (i = 0; i < MAP__COUNT; i++) {
		if (in->fd[i] >= 0)
			close(in->fd[i]);
		in->fd[i] = -1;
	}
	in->ino = 0;
}

/* Open the instance's pins; the optional ones may be missing. */
static int instance_open_maps(struct top_source *s, struct top_instance *in, ino_t ino)
{
	char path[PATH_MAX];
	int i;

	instance_close_maps(in);
	for (i = 0; i < MAP__COUNT; i++) {
		snprintf(path, sizeof(path), "%s/%s/%s", s->pin_root, in->name, map_names[i]);
		in->fd[i] = bpf_obj_get(path);
		if (in->fd[i] < 0 && i <= MAP_COUNTERS) {
			int err = -errno;

			instance_close_maps(in);
			return err;
		}
		if (in->fd[i] < 0)
			in->fd[i] = -1;
	}
	in->ino = ino;
	return 0;
}

static void instance_free(struct top_instance *in)
{
	instance_close_maps(in);
	conn_close(&in->follow, 0);
}

static int instance_cmp(const void *a, const void *b)
{
	const struct top_instance *x = a, *y = b;

	/* The daemon first, then exec instances by name. */
	if (!strcmp(x->name, "daemon") != !strcmp(y->name, "daemon"))
		return !strcmp(x->name, "daemon") ? -1 : 1;
	return strcmp(x->name, y->name);
}

static struct top_instance *instance_get(struct top_source *s, const char *name)
{
	struct top_instance *in;
	size_t i;

	for (i = 0; i < s->n_inst; i++)
		if (!strcmp(s->inst[i].name, name))
			return &s->inst[i];
	if (s->n_inst == s->cap_inst) {
		size_t cap = s->cap_inst ? 2 * s->cap_inst : 8;

		in = realloc(s->inst, cap * sizeof(*in));
		if (!in)
			return NULL;
		s->inst = in;
		s->cap_inst = cap;
	}
	in = &s->inst[s->n_inst++];
	memset(in, 0, sizeof(*in));
	snprintf(in->name, sizeof(in->name), "%s", name);
	for (i = 0; i < MAP__COUNT; i++)
		in->fd[i] = -1;
	conn_init(&in->follow);
	if (!strncmp(name, "exec-", 5))
		in->pid = (pid_t)strtol(name + 5, NULL, 10);
	return in;
}

/* Find the instances under the pin root; open new ones, drop vanished and stale ones. */
static void scan_instances(struct top_source *s, struct top_header_sample *hdr)
{
	struct dirent *de;
	struct stat st;
	char path[PATH_MAX];
	DIR *d = opendir(s->pin_root);
	size_t i;

	for (i = 0; i < s->n_inst; i++)
		s->inst[i].present = false;
	while (d && (de = readdir(d))) {
		struct top_instance *in;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= TOP_INSTANCE_LEN)
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", s->pin_root, de->d_name,
			 map_names[MAP_COUNTERS]);
		if (stat(path, &st))
			continue; /* not (yet) an instance */
		in = instance_get(s, de->d_name);
		if (!in)
			break;
		/* An exec instance whose process is gone left its pins behind: stale. */
		if (in->pid > 0 && kill(in->pid, 0) && errno == ESRCH) {
			hdr->stale_instances++;
			continue;
		}
		if (in->ino != st.st_ino && instance_open_maps(s, in, st.st_ino))
			continue;
		in->present = true;
	}
	if (d)
		closedir(d);
	for (i = s->n_inst; i-- > 0;) {
		if (s->inst[i].present)
			continue;
		instance_free(&s->inst[i]);
		s->inst[i] = s->inst[--s->n_inst];
	}
	if (s->n_inst > 1)
		qsort(s->inst, s->n_inst, sizeof(*s->inst), instance_cmp);
	hdr->instances = (int)s->n_inst;
}

/* --- cgroups --------------------------------------------------------------------------------- */

static struct top_cgroup *cgroup_get(struct top_source *s, __u64 id)
{
	struct {
		struct file_handle fh;
		__u64 id;
	} h = {.fh.handle_bytes = sizeof(__u64), .fh.handle_type = AW_FILEID_KERNFS, .id = id};
	char link[64], path[PATH_MAX];
	struct top_cgroup *cg;
	ssize_t n;
	size_t i;

	for (i = 0; i < s->n_cgs; i++)
		if (s->cgs[i].id == id)
			return &s->cgs[i];
	if (s->n_cgs == s->cap_cgs) {
		size_t cap = s->cap_cgs ? 2 * s->cap_cgs : 64;

		cg = realloc(s->cgs, cap * sizeof(*cg));
		if (!cg)
			return NULL;
		s->cgs = cg;
		s->cap_cgs = cap;
	}
	cg = &s->cgs[s->n_cgs++];
	memset(cg, 0, sizeof(*cg));
	cg->id = id;
	cg->fd = s->mount_fd < 0 ? -1
				 : open_by_handle_at(s->mount_fd, &h.fh,
						     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->fd < 0) {
		cg->err = s->mount_fd < 0 ? -ENOENT : -errno;
		return cg;
	}
	/* Its path names the pod and container, if any. */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", cg->fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n > 0) {
		path[n] = '\0';
		k8s__parse_cgroup_path(path, &cg->k8s);
	}
	return cg;
}

/* Live processes in a cgroup and its descendants, or -errno. */
static int count_procs(int dirfd, int depth)
{
	char buf[4096];
	struct dirent *de;
	int n = 0, fd, dfd;
	ssize_t r;
	DIR *d;

	fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < r; i++)
			n += buf[i] == '\n';
	close(fd);
	if (depth >= TOP_CG_DEPTH)
		return n;
	dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return n;
	}
	while ((de = readdir(d))) {
		int sub, k;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sub < 0)
			continue;
		k = count_procs(sub, depth + 1);
		if (k > 0)
			n += k;
		close(sub);
	}
	closedir(d);
	return n;
}

/* --- reading one instance -------------------------------------------------------------------- */

static struct top_sample *sample_add(struct top_source *s)
{
	struct top_sample *a;

	if (s->n_samples == s->cap_samples) {
		size_t cap = s->cap_samples ? 2 * s->cap_samples : 64;

		a = realloc(s->samples, cap * sizeof(*a));
		if (!a)
			return NULL;
		s->samples = a;
		s->cap_samples = cap;
	}
	a = &s->samples[s->n_samples++];
	memset(a, 0, sizeof(*a));
	return a;
}

static void copy_bounded(char *dst, size_t size, const char *src, size_t src_size)
{
	size_t n = strnlen(src, src_size);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void take_agent(struct top_source *s, const struct top_instance *in, __u64 cgid,
		       const struct aw_agent *v)
{
	struct top_sample *a;
	int idx;

	if (!v->slot || v->slot >= AW_AGENT_SLOT_PENDING)
		return; /* no agent, or one the daemon has not decided about yet */
	idx = s->slot_index[v->slot];
	if (idx && cgid != v->root_cgroup_id)
		return; /* a descendant of an agent already seen */
	if (!idx) {
		a = sample_add(s);
		if (!a)
			return;
		s->slot_index[v->slot] = (int)s->n_samples;
	} else {
		a = &s->samples[idx - 1];
	}
	snprintf(a->instance, sizeof(a->instance), "%s", in->name);
	a->slot = v->slot;
	a->cgroup_id = v->root_cgroup_id;
	copy_bounded(a->name, sizeof(a->name), v->name, sizeof(v->name));
	copy_bounded(a->agent_uid, sizeof(a->agent_uid), v->agent_uid, sizeof(v->agent_uid));
	copy_bounded(a->session, sizeof(a->session), v->session_uid, sizeof(v->session_uid));
}

/* Every entry of agents_by_cgroup, in batches where the kernel can. */
static int read_agents(struct top_source *s, const struct top_instance *in)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u64 token = 0, key, next;
	bool first = true;
	__u32 count, i;
	int err;

	for (;;) {
		count = TOP_BATCH;
		err = bpf_map_lookup_batch(in->fd[MAP_AGENTS], first ? NULL : &token, &token,
					   s->batch_keys, s->batch_vals, &count, &opts);
		if (err < 0 && errno != ENOENT) {
			if (first)
				goto one_by_one; /* no batch ops on this kernel */
			return -errno;
		}
		for (i = 0; i < count; i++)
			take_agent(s, in, s->batch_keys[i], &s->batch_vals[i]);
		if (err < 0)
			return 0; /* ENOENT: that was the last batch */
		first = false;
	}
one_by_one:
	for (err = bpf_map_get_next_key(in->fd[MAP_AGENTS], NULL, &key); !err;
	     err = bpf_map_get_next_key(in->fd[MAP_AGENTS], &key, &next), key = next) {
		struct aw_agent v;

		if (!bpf_map_lookup_elem(in->fd[MAP_AGENTS], &key, &v))
			take_agent(s, in, key, &v);
	}
	return 0;
}

static void sum_counters(const struct aw_agent_counters *pc, int ncpus,
			 struct aw_agent_counters *out)
{
	int i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < ncpus; i++) {
		out->execs += pc[i].execs;
		out->forks += pc[i].forks;
		out->exits += pc[i].exits;
		out->opens += pc[i].opens;
		out->connects += pc[i].connects;
		out->syscalls += pc[i].syscalls;
		out->denials += pc[i].denials;
		out->would_block += pc[i].would_block;
		out->dropped += pc[i].dropped;
	}
}

/* The level an action gets under a policy: the kernel's, or its fallback where it cannot deny. */
static int action_level(enum aw_level kernel, bool kill_fallback)
{
	if (kernel >= AW_LEVEL_CGROUP)
		return kernel;
	return kill_fallback ? AW_LEVEL_KILL : AW_LEVEL_AUDIT;
}

static void enforcement(const struct top_source *s, const struct top_instance *in,
			struct top_sample *a, long long gen)
{
	struct aw_policy_slot_key k = {.slot = a->slot};
	struct aw_policy_set_key dk = {};
	struct aw_policy_defaults defs = {};
	__u32 set;

	a->enforce = a->enforce_file = a->enforce_exec = a->enforce_net = TOP_ENF_UNKNOWN;
	if (gen < 0 || in->fd[MAP_POLICY_OF_SLOT] < 0 || !s->hdr0.caps_known)
		return;
	k.gen = AW_POLICY_BANK((__u32)gen);
	if (bpf_map_lookup_elem(in->fd[MAP_POLICY_OF_SLOT], &k, &set)) {
		a->enforce = a->enforce_file = a->enforce_exec = a->enforce_net = TOP_ENF_NONE;
		return;
	}
	dk.gen = AW_POLICY_BANK((__u32)gen);
	dk.set = set;
	if (in->fd[MAP_POLICY_DEFAULTS] >= 0)
		bpf_map_lookup_elem(in->fd[MAP_POLICY_DEFAULTS], &dk, &defs);
	if (defs.flags & AW_DEF_AUDIT_MODE) {
		a->enforce = a->enforce_file = a->enforce_exec = a->enforce_net = AW_LEVEL_AUDIT;
		return;
	}
	a->enforce_file = action_level(s->hdr0.caps.file, defs.flags & AW_DEF_FALLBACK_KILL);
	a->enforce_exec = action_level(s->hdr0.caps.exec, defs.flags & AW_DEF_FALLBACK_KILL);
	a->enforce_net = action_level(s->hdr0.caps.network, defs.flags & AW_DEF_FALLBACK_KILL);
	a->enforce = a->enforce_file;
	if (a->enforce_exec < a->enforce)
		a->enforce = a->enforce_exec;
	if (a->enforce_net < a->enforce)
		a->enforce = a->enforce_net;
}

static void read_instance(struct top_source *s, struct top_instance *in,
			  struct top_header_sample *hdr)
{
	size_t first = s->n_samples, i;
	long long gen = -1;
	__u32 k;

	if (in->fd[MAP_POLICY_CONFIG] >= 0) {
		struct aw_policy_config pc;

		k = 0;
		if (!bpf_map_lookup_elem(in->fd[MAP_POLICY_CONFIG], &k, &pc)) {
			gen = pc.gen;
			/* The daemon's policy is the node's; else the first instance's. */
			if (hdr->policy_gen < 0 || !strcmp(in->name, "daemon"))
				hdr->policy_gen = gen;
		}
	}
	if (in->fd[MAP_DROPS] >= 0) {
		for (k = 0; k < AW_DROP__MAX; k++) {
			if (bpf_map_lookup_elem(in->fd[MAP_DROPS], &k, s->percpu_u64))
				continue;
			for (int c = 0; c < s->ncpus; c++)
				hdr->drops += s->percpu_u64[c];
		}
	}
	read_agents(s, in);
	for (i = first; i < s->n_samples; i++) {
		struct top_sample *a = &s->samples[i];
		struct top_cgroup *cg;

		s->slot_index[a->slot] = 0;
		k = a->slot;
		if (!bpf_map_lookup_elem(in->fd[MAP_COUNTERS], &k, s->percpu))
			sum_counters(s->percpu, s->ncpus, &a->c);
		enforcement(s, in, a, gen);
		a->procs = -1;
		cg = cgroup_get(s, a->cgroup_id);
		if (!cg)
			continue;
		cg->used = true;
		snprintf(a->pod, sizeof(a->pod), "%s", cg->k8s.pod_uid);
		snprintf(a->container, sizeof(a->container), "%s", cg->k8s.container_id);
		if (cg->fd >= 0)
			a->procs = count_procs(cg->fd, 0);
		else if (cg->err == -ESTALE || cg->err == -ENOENT)
			a->procs = 0; /* the cgroup is gone: nothing runs in it */
		if (a->procs < -1)
			a->procs = -1;
	}
}

/* --- the daemon's status --------------------------------------------------------------------- */

static void status_header(struct top_source *s, struct top_header_sample *hdr, long long now)
{
	struct json_object *st = s->last_status, *kafka;

	if (!st || now - s->status_ms > TOP_STATUS_STALE_MS)
		return;
	hdr->daemon = true;
	hdr->events = get_int(st, "counters.events", -1);
	if (get(st, "policy.generation"))
		hdr->policy_gen = get_int(st, "policy.generation", hdr->policy_gen);
	kafka = get(st, "kafka");
	if (kafka) {
		hdr->sink_known = true;
		hdr->kafka_up = get_int(kafka, "up", 0) != 0;
		hdr->kafka_queue = get_int(kafka, "queue_depth", -1);
		hdr->spool_bytes = get_int(kafka, "spool_bytes", -1);
	}
}

void top_source__socket_of(const struct top_source *s, const char *instance, char *buf, size_t size)
{
	if (!strcmp(instance, "daemon"))
		snprintf(buf, size, "%s", s->daemon_sock);
	else
		snprintf(buf, size, "%s/%s.sock", s->sock_dir, instance);
}

bool top_source__following(const struct top_source *s, const char *instance)
{
	size_t i;

	for (i = 0; i < s->n_inst; i++)
		if (!strcmp(s->inst[i].name, instance))
			return s->inst[i].follow.fd >= 0 && s->inst[i].follow.ok;
	return false;
}

static void connect_all(struct top_source *s, long long now)
{
	static const char status_req[] = "{\"op\":\"status\"}\n";
	char path[PATH_MAX];
	size_t i;

	/* One status request per snapshot; its reply serves the next one. */
	if (s->status.fd >= 0 && !s->status.waiting) {
		if (send(s->status.fd, status_req, sizeof(status_req) - 1,
			 MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(status_req) - 1)
			s->status.waiting = true;
		else
			conn_close(&s->status, now + TOP_RETRY_MS);
	} else if (s->status.fd < 0 && now >= s->status.retry_ms) {
		if (conn_open(&s->status, s->daemon_sock, status_req) == 0)
			s->status.waiting = true;
		else
			s->status.retry_ms = now + TOP_RETRY_MS;
	}
	if (!s->opts.events)
		return;
	for (i = 0; i < s->n_inst; i++) {
		struct top_instance *in = &s->inst[i];

		if (in->follow.fd >= 0 || now < in->follow.retry_ms)
			continue;
		top_source__socket_of(s, in->name, path, sizeof(path));
		if (conn_open(&in->follow, path, "{\"op\":\"follow\"}\n"))
			in->follow.retry_ms = now + TOP_RETRY_MS;
	}
}

int top_source__snapshot(struct top_source *s, struct top_snapshot *snap)
{
	struct top_header_sample hdr = s->hdr0;
	long long now = now_ms();
	size_t i;

	hdr.policy_gen = -1;
	hdr.events = -1;
	hdr.kafka_queue = hdr.spool_bytes = -1;
	scan_instances(s, &hdr);
	s->n_samples = 0;
	for (i = 0; i < s->n_cgs; i++)
		s->cgs[i].used = false;
	for (i = 0; i < s->n_inst; i++)
		read_instance(s, &s->inst[i], &hdr);
	/* Forget the cgroups of agents that are gone. */
	for (i = s->n_cgs; i-- > 0;) {
		if (s->cgs[i].used)
			continue;
		if (s->cgs[i].fd >= 0)
			close(s->cgs[i].fd);
		s->cgs[i] = s->cgs[--s->n_cgs];
	}
	status_header(s, &hdr, now);
	hdr.follow_dropped = s->follow_dropped;
	connect_all(s, now);

	memset(snap, 0, sizeof(*snap));
	snap->t = (double)now / 1000.0;
	snap->hdr = hdr;
	snap->n = s->n_samples;
	snap->agents = s->samples;
	return 0;
}

int top_source__pollfds(struct top_source *s, struct pollfd *fds, int max)
{
	int n = 0;
	size_t i;

	if (s->status.fd >= 0 && n < max)
		fds[n++] = (struct pollfd){.fd = s->status.fd, .events = POLLIN};
	for (i = 0; i < s->n_inst && n < max; i++)
		if (s->inst[i].follow.fd >= 0)
			fds[n++] = (struct pollfd){.fd = s->inst[i].follow.fd, .events = POLLIN};
	return n;
}

void top_source__dispatch(struct top_source *s, struct top_model *m)
{
	long long now = now_ms();
	size_t i;

	if (s->status.fd >= 0 && conn_read(&s->status, on_status_line, s) < 0)
		conn_close(&s->status, now + TOP_RETRY_MS);
	for (i = 0; i < s->n_inst; i++) {
		struct top_instance *in = &s->inst[i];
		struct follow_ctx ctx = {.s = s, .inst = in, .m = m};

		if (in->follow.fd >= 0 && conn_read(&in->follow, on_follow_line, &ctx) < 0)
			conn_close(&in->follow, now + TOP_RETRY_MS);
	}
}

/* --- drill-in -------------------------------------------------------------------------------- */

static int collect_pids(int dirfd, int depth, struct top_live_proc *out, size_t max, size_t *n)
{
	char buf[4096];
	struct dirent *de;
	size_t have = 0, start, i;
	int fd, dfd;
	ssize_t r;
	DIR *d;

	fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* One pid per line; a line the buffer cut is kept for the next read. */
	while (*n < max && (r = read(fd, buf + have, sizeof(buf) - have)) > 0) {
		have += (size_t)r;
		for (start = i = 0; i < have && *n < max; i++) {
			if (buf[i] != '\n')
				continue;
			out[(*n)++].pid = (unsigned int)strtoul(buf + start, NULL, 10);
			start = i + 1;
		}
		memmove(buf, buf + start, have - start);
		have -= start;
	}
	close(fd);
	if (depth >= TOP_CG_DEPTH)
		return 0;
	dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	while ((de = readdir(d))) {
		int sub;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sub < 0)
			continue;
		collect_pids(sub, depth + 1, out, max, n);
		close(sub);
	}
	closedir(d);
	return 0;
}

static void read_proc(struct top_live_proc *p)
{
	char path[64], buf[512], *lparen, *rparen;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/stat", p->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			/* "pid (comm) S ppid ...": comm may hold ')' itself, so take the last. */
			lparen = strchr(buf, '(');
			rparen = strrchr(buf, ')');
			if (lparen && rparen > lparen) {
				size_t len = (size_t)(rparen - lparen - 1);

				if (len >= sizeof(p->comm))
					len = sizeof(p->comm) - 1;
				memcpy(p->comm, lparen + 1, len);
				p->comm[len] = '\0';
				sscanf(rparen + 1, " %*c %u", &p->ppid);
			}
		}
	}
	snprintf(path, sizeof(path), "/proc/%u/cmdline", p->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, p->cmdline, sizeof(p->cmdline) - 1);
		close(fd);
		if (n < 0)
			n = 0;
		while (n > 0 && p->cmdline[n - 1] == '\0')
			n--;
		p->cmdline[n] = '\0';
		for (ssize_t i = 0; i < n; i++)
			if (p->cmdline[i] == '\0')
				p->cmdline[i] = ' ';
	}
}

int top_source__procs(struct top_source *s, const struct top_sample *agent,
		      struct top_live_proc *out, size_t max)
{
	struct top_cgroup *cg = cgroup_get(s, agent->cgroup_id);
	size_t n = 0, i;
	int err;

	if (!cg)
		return -ENOMEM;
	cg->used = true;
	if (cg->fd < 0)
		return cg->err;
	err = collect_pids(cg->fd, 0, out, max, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		unsigned int pid = out[i].pid;

		memset(&out[i], 0, sizeof(out[i]));
		out[i].pid = pid;
		read_proc(&out[i]);
	}
	return (int)n;
}

static int syscall_cmp(const void *a, const void *b)
{
	const struct top_syscall_count *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->nr < y->nr ? -1 : x->nr > y->nr;
}

int top_source__syscalls(struct top_source *s, const struct top_sample *agent,
			 struct top_syscall_count *out, size_t max)
{
	struct top_syscall_count all[AW_SYSCALL_MAX];
	struct aw_syscall_key key, next;
	struct top_instance *in = NULL;
	size_t n = 0, i;
	__u64 count;
	int err;

	for (i = 0; i < s->n_inst; i++)
		if (!strcmp(s->inst[i].name, agent->instance))
			in = &s->inst[i];
	if (!in || in->fd[MAP_SYSCALLS] < 0)
		return -ENOENT;
	for (err = bpf_map_get_next_key(in->fd[MAP_SYSCALLS], NULL, &key); !err;
	     err = bpf_map_get_next_key(in->fd[MAP_SYSCALLS], &key, &next), key = next) {
		if (key.slot != agent->slot || key.nr >= AW_SYSCALL_MAX)
			continue;
		if (bpf_map_lookup_elem(in->fd[MAP_SYSCALLS], &key, &count))
			continue;
		all[n].nr = key.nr;
		all[n++].count = count;
		if (n == AW_SYSCALL_MAX)
			break;
	}
	qsort(all, n, sizeof(all[0]), syscall_cmp);
	if (n > max)
		n = max;
	memcpy(out, all, n * sizeof(all[0]));
	return (int)n;
}

/* --- life cycle ------------------------------------------------------------------------------ */

int top_source__open(struct top_source **out, const struct top_source_opts *opts)
{
	struct aw_features *feat;
	struct top_source *s;
	struct utsname un;
	char *slash;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->opts = *opts;
	s->mount_fd = -1;
	conn_init(&s->status);
	if (snprintf(s->pin_root, sizeof(s->pin_root), "%s", opts->pin_root ?: AW_PIN_ROOT) >=
		    (int)sizeof(s->pin_root) ||
	    snprintf(s->daemon_sock, sizeof(s->daemon_sock), "%s",
		     opts->socket ?: CONTROL_SOCKET_DEFAULT) >= (int)sizeof(s->daemon_sock)) {
		top_source__close(s);
		return -ENAMETOOLONG;
	}
	snprintf(s->sock_dir, sizeof(s->sock_dir), "%s", s->daemon_sock);
	slash = strrchr(s->sock_dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(s->sock_dir, sizeof(s->sock_dir), ".");
	s->ncpus = libbpf_num_possible_cpus();
	if (s->ncpus <= 0)
		goto out_free;
	s->percpu = calloc((size_t)s->ncpus, sizeof(*s->percpu));
	s->percpu_u64 = calloc((size_t)s->ncpus, sizeof(*s->percpu_u64));
	s->tok = json_tokener_new_ex(64);
	if (!s->percpu || !s->percpu_u64 || !s->tok)
		goto out_free;

	if (!uname(&un)) {
		snprintf(s->hdr0.node, sizeof(s->hdr0.node), "%s", un.nodename);
		snprintf(s->hdr0.kernel, sizeof(s->hdr0.kernel), "%s", un.release);
	}
	/* What this kernel enforces: the same probes doctor runs, once. */
	feat = calloc(1, sizeof(*feat));
	if (!feat)
		goto out_free;
	features__probe(feat);
	features__capabilities(feat, &s->hdr0.caps);
	s->hdr0.caps_known = feat->probes[AW_PROBE_BTF].ok && feat->probes[AW_PROBE_RINGBUF].ok;
	if (feat->cgroups.n_v2 > 0)
		s->mount_fd = open(feat->cgroups.v2[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(feat);
	*out = s;
	return 0;

out_free:
	top_source__close(s);
	return -ENOMEM;
}

void top_source__close(struct top_source *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n_inst; i++)
		instance_free(&s->inst[i]);
	for (i = 0; i < s->n_cgs; i++)
		if (s->cgs[i].fd >= 0)
			close(s->cgs[i].fd);
	conn_close(&s->status, 0);
	if (s->mount_fd >= 0)
		close(s->mount_fd);
	json_object_put(s->last_status);
	if (s->tok)
		json_tokener_free(s->tok);
	free(s->inst);
	free(s->cgs);
	free(s->samples);
	free(s->percpu);
	free(s->percpu_u64);
	free(s);
}
