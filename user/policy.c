// SPDX-License-Identifier: Apache-2.0
/*
 * Policy collections: loading files and directories, error lists, agent selection and the
 * names used in messages. The YAML itself is read in policy_parse.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"

void policy_errors__add(struct policy_errors *e, const struct policy_pos *pos, const char *fmt, ...)
{
	struct policy_error *v;
	char text[1024];
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (e->n == e->cap) {
		int cap = e->cap ? e->cap * 2 : 16;

		v = realloc(e->v, cap * sizeof(*v));
		if (!v)
			return;
		e->v = v;
		e->cap = cap;
	}
	if (pos && pos->file) {
		if (asprintf(&msg, "%s:%u:%u: %s", pos->file, pos->line, pos->col, text) < 0)
			return;
	} else {
		msg = strdup(text);
		if (!msg)
			return;
	}
	e->v[e->n++] = (struct policy_error){
		.msg = msg,
		.file = pos ? pos->file : NULL,
		.line = pos ? pos->line : 0,
		.col = pos ? pos->col : 0,
	};
}

static int error_cmp(const void *a, const void *b)
{
	const struct policy_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return 0;
}

void policy_errors__sort(struct policy_errors *e, int from)
{
	/* insertion sort: stable, and the lists are short and mostly in order already */
	for (int i = from + 1; i < e->n; i++) {
		struct policy_error t = e->v[i];
		int j = i;

		while (j > from && error_cmp(&e->v[j - 1], &t) > 0) {
			e->v[j] = e->v[j - 1];
			j--;
		}
		e->v[j] = t;
	}
}

void policy_errors__print(const struct policy_errors *e, FILE *out)
{
	for (int i = 0; i < e->n; i++)
		fprintf(out, "%s\n", e->v[i].msg);
}

void policy_errors__free(struct policy_errors *e)
{
	for (int i = 0; i < e->n; i++)
		free(e->v[i].msg);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

void policy_collection__init(struct policy_collection *c)
{
	memset(c, 0, sizeof(*c));
}

static void strv_free(struct policy_strv *v)
{
	for (int i = 0; i < v->n; i++)
		free(v->v[i].s);
	free(v->v);
	v->v = NULL;
	v->n = 0;
}

void policy__free(struct policy *p)
{
	for (int i = 0; i < p->n_rules; i++) {
		struct policy_rule *r = &p->rules[i];

		free(r->name);
		strv_free(&r->paths);
		strv_free(&r->except);
		strv_free(&r->bins.paths);
		free(r->cidrs);
		free(r->ports);
	}
	free(p->rules);
	for (int i = 0; i < p->selector.n_agents; i++)
		selector__free(&p->selector.agents[i].sel);
	free(p->selector.agents);
	for (int i = 0; i < p->selector.n_cgroups; i++)
		selector__free(&p->selector.cgroups[i].sel);
	free(p->selector.cgroups);
	strv_free(&p->selector.pod_uids);
	strv_free(&p->selector.container_ids);
	free(p->selector.workspace);
	free(p->name);
	memset(p, 0, sizeof(*p));
}

void policy_collection__free(struct policy_collection *c)
{
	for (int i = 0; i < c->n; i++)
		policy__free(&c->pols[i]);
	free(c->pols);
	for (int i = 0; i < c->n_files; i++)
		free(c->files[i]);
	free(c->files);
	memset(c, 0, sizeof(*c));
}

static int read_file(const char *path, char **text, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	int fd, err;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(buf);
		return err;
	}
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *p = realloc(buf, cap * 2);

			if (!p) {
				err = -ENOMEM;
				goto out_free;
			}
			buf = p;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out_free;
		}
		if (r == 0)
			break;
		n += r;
	}
	close(fd);
	*text = buf;
	*len = n;
	return 0;
out_free:
	close(fd);
	free(buf);
	return err;
}

static int load_file(struct policy_collection *c, const char *path, struct policy_errors *errs)
{
	char *text = NULL;
	size_t len = 0;
	int ret;

	ret = read_file(path, &text, &len);
	if (ret) {
		policy_errors__add(errs, NULL, "%s: %s", path, strerror(-ret));
		return ret;
	}
	ret = policy_collection__parse(c, path, text, len, errs);
	free(text);
	return ret;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_policy_file(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".ym"
											    "l"));
}

static int load_dir(struct policy_collection *c, const char *path, struct policy_errors *errs)
{
	char **names = NULL;
	int n = 0, cap = 0, ret = 0, r;
	struct dirent *de;
	DIR *d;

	d = opendir(path);
	if (!d) {
		ret = -errno;
		policy_errors__add(errs, NULL, "%s: %s", path, strerror(errno));
		return ret;
	}
	while ((de = readdir(d))) {
		if (!is_policy_file(de->d_name))
			continue;
		if (n == cap) {
			char **p;

			cap = cap ? cap * 2 : 16;
			p = realloc(names, cap * sizeof(*p));
			if (!p) {
				ret = -ENOMEM;
				goto out;
			}
			names = p;
		}
		if (asprintf(&names[n], "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/",
			     de->d_name) < 0) {
			ret = -ENOMEM;
			goto out;
		}
		n++;
	}
	qsort(names, n, sizeof(*names), name_cmp);
	for (int i = 0; i < n; i++) {
		r = load_file(c, names[i], errs);
		if (r && !ret)
			ret = r;
	}
out:
	closedir(d);
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

int policy_collection__load(struct policy_collection *c, char *const *paths, int n,
			    struct policy_errors *errs)
{
	int ret = 0, r;

	for (int i = 0; i < n; i++) {
		struct stat st;

		if (stat(paths[i], &st)) {
			r = -errno;
			policy_errors__add(errs, NULL, "%s: %s", paths[i], strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			r = load_dir(c, paths[i], errs);
		} else {
			r = load_file(c, paths[i], errs);
		}
		if (r && (!ret || ret == -EINVAL))
			ret = r;
	}
	return ret;
}

const struct policy_rule *policy_collection__rule(const struct policy_collection *c, __u32 id,
						  const struct policy **pol)
{
	for (int i = 0; i < c->n; i++) {
		const struct policy *p = &c->pols[i];

		if (p->n_rules && id >= p->rules[0].id && id <= p->rules[p->n_rules - 1].id) {
			if (pol)
				*pol = p;
			return &p->rules[id - p->rules[0].id];
		}
	}
	return NULL;
}

static bool container_matches(const char *want, const char *id)
{
	size_t n = strlen(want);

	return *id && n <= strlen(id) && !strncmp(want, id, n);
}

bool policy__selects(const struct policy *p, const struct policy_agent *a)
{
	const struct policy_selector *s = &p->selector;
	struct k8s_identity k8s = {0};
	const struct k8s_identity *id = a->k8s;
	bool hit;
	int i;

	if (s->n_agents) {
		char *name;

		if (!a->name || asprintf(&name, "/%s", a->name) < 0)
			return false;
		for (i = 0, hit = false; i < s->n_agents && !hit; i++)
			hit = selector__match(&s->agents[i].sel, name);
		free(name);
		if (!hit)
			return false;
	}
	if (s->n_cgroups) {
		if (!a->cgroup)
			return false;
		for (i = 0, hit = false; i < s->n_cgroups && !hit; i++)
			hit = selector__match(&s->cgroups[i].sel, a->cgroup);
		if (!hit)
			return false;
	}
	if (!s->pod_uids.n && !s->container_ids.n)
		return true;
	if (!id) {
		if (a->cgroup)
			k8s__parse_cgroup_path(a->cgroup, &k8s);
		id = &k8s;
	}
	if (s->pod_uids.n) {
		for (i = 0, hit = false; i < s->pod_uids.n && !hit; i++)
			hit = *id->pod_uid && !strcmp(s->pod_uids.v[i].s, id->pod_uid);
		if (!hit)
			return false;
	}
	if (s->container_ids.n) {
		for (i = 0, hit = false; i < s->container_ids.n && !hit; i++)
			hit = container_matches(s->container_ids.v[i].s, id->container_id);
		if (!hit)
			return false;
	}
	return true;
}

const char *policy_list__name(enum policy_list l)
{
	static const char *const names[] = {"files", "exec", "network", "syscalls"};

	return l < POLICY_LISTS ? names[l] : "?";
}

const char *policy_action__name(__u8 action)
{
	static const char *const names[] = {"none", "allow", "audit", "deny"};

	return action <= AW_ACT_DENY ? names[action] : "?";
}

const char *policy_sc__name(int bit)
{
	static const char *const names[POLICY_SC_CLASSES] = {
		"bpf", "ptrace", "mount", "module", "kexec", "perf_event_open", "userns",
	};

	return bit >= 0 && bit < POLICY_SC_CLASSES ? names[bit] : NULL;
}

const char *policy_access__format(__u8 access, char *buf, size_t len)
{
	static const struct {
		__u8 bit;
		const char *name;
	} names[] = {
		{AW_ACC_READ, "read"},	    {AW_ACC_WRITE, "write"}, {AW_ACC_CREATE, "create"},
		{AW_ACC_TRUNC, "truncate"}, {AW_ACC_EXEC, "exec"},   {AW_ACC_DELETE, "delete"},
		{AW_ACC_RENAME, "rename"},  {AW_ACC_LINK, "link"},
	};
	size_t off = 0;

	buf[0] = '\0';
	if (access == AW_ACC_ALL) {
		snprintf(buf, len, "all");
		return buf;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(access & names[i].bit))
			continue;
		int n = snprintf(buf + off, len - off, "%s%s", off ? "," : "", names[i].name);

		if (n < 0 || (size_t)n >= len - off)
			break;
		off += n;
	}
	if (!off)
		snprintf(buf, len, "none");
	return buf;
}
