// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch top's data model (top_model.h): rates, sorting, filtering and the per-agent event
 * aggregates. Pure: no kernel, no sockets, no terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <agentwatch/event.h>

#include "top_model.h"

/* --- columns --------------------------------------------------------------------------------- */

static const struct top_col_info cols[TOP_COL__COUNT] = {
	[TOP_COL_NAME] = {"NAME", "name", 20, 12, 0, false},
	[TOP_COL_SESSION] = {"SESSION", "session", 10, 8, 2, false},
	[TOP_COL_POD] = {"POD/CTR", "pod", 22, 10, 1, false},
	[TOP_COL_PROCS] = {"PROCS", "procs", 5, 5, 0, true},
	[TOP_COL_EXECS] = {"EXEC/s", "execs", 6, 6, 0, true},
	[TOP_COL_OPENS] = {"OPEN/s", "opens", 6, 6, 0, true},
	[TOP_COL_CONNECTS] = {"CONN/s", "connects", 6, 6, 0, true},
	[TOP_COL_SYSCALLS] = {"SYSC/s", "syscalls", 6, 6, 4, true},
	[TOP_COL_DENIALS] = {"DENY", "denials", 5, 5, 0, true},
	[TOP_COL_DENY_RATE] = {"DENY/s", "denial_rate", 6, 6, 0, true},
	[TOP_COL_AUDITS] = {"AUDIT", "audits", 5, 5, 3, true},
	[TOP_COL_DROPPED] = {"DROP", "dropped", 5, 5, 0, true},
	[TOP_COL_EGRESS] = {"TOP EGRESS", "egress", 21, 10, 5, false},
	[TOP_COL_ENFORCE] = {"ENFORCE", "enforce", 7, 6, 0, false},
};

const struct top_col_info *top_col__info(enum top_col col)
{
	return (unsigned int)col < TOP_COL__COUNT ? &cols[col] : NULL;
}

int top_col__parse(const char *name)
{
	int i;

	for (i = 0; i < TOP_COL__COUNT; i++)
		if (!strcasecmp(name, cols[i].key) || !strcasecmp(name, cols[i].title))
			return i;
	return -ENOENT;
}

const char *top_enforce__name(int enforce)
{
	if (enforce == TOP_ENF_NONE)
		return "none";
	if (enforce < 0)
		return "n/a";
	return aw_level__name((enum aw_level)enforce);
}

const char *top_ev_kind__name(enum top_ev_kind kind)
{
	static const char *const names[TOP_EV__COUNT] = {
		[TOP_EV_EXEC] = "exec",	      [TOP_EV_FORK] = "fork",
		[TOP_EV_EXIT] = "exit",	      [TOP_EV_OPEN] = "open",
		[TOP_EV_CONNECT] = "connect", [TOP_EV_SEND] = "send",
		[TOP_EV_BIND] = "bind",	      [TOP_EV_LISTEN] = "listen",
		[TOP_EV_ACCEPT] = "accept",   [TOP_EV_SYSCALL] = "syscall",
		[TOP_EV_OTHER] = "other",
	};

	return (unsigned int)kind < TOP_EV__COUNT ? names[kind] : "other";
}

/* --- formatting ------------------------------------------------------------------------------ */

int top__fit(char *dst, size_t size, const char *src, int width)
{
	size_t len = src ? strlen(src) : 0, i, n;

	if (!size)
		return 0;
	if (width < 0)
		width = 0;
	if ((size_t)width >= size)
		width = (int)size - 1;
	n = len <= (size_t)width ? len : (size_t)width;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (len > (size_t)width && width > 0)
		dst[n - 1] = '~';
	dst[n] = '\0';
	return (int)n;
}

void top__fmt_count(char *buf, size_t size, unsigned long long v)
{
	static const char units[] = "kMGTPE";
	int u = -1;
	unsigned long long frac = 0;

	if (v < 1000) {
		snprintf(buf, size, "%llu", v);
		return;
	}
	while (v >= 1000 && u < 5) {
		frac = v % 1000;
		v /= 1000;
		u++;
	}
	if (v < 10)
		snprintf(buf, size, "%llu.%llu%c", v, frac / 100, units[u]);
	else
		snprintf(buf, size, "%llu%c", v, units[u]);
}

void top__fmt_rate(char *buf, size_t size, double v)
{
	if (v <= 0)
		snprintf(buf, size, "0");
	else if (v < 9.95)
		snprintf(buf, size, "%.1f", v);
	else if (v < 999.5)
		snprintf(buf, size, "%.0f", v);
	else
		top__fmt_count(buf, size, (unsigned long long)(v + 0.5));
}

/* --- tallies --------------------------------------------------------------------------------- */

static unsigned long long fnv1a(unsigned long long h, const char *s)
{
	while (s && *s) {
		h ^= (unsigned char)*s++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static struct top_tally_entry *tally_add(struct top_tally *t, const char *key, const char *tag,
					 unsigned long long time_ms)
{
	unsigned long long h = fnv1a(fnv1a(0xcbf29ce484222325ULL, key) ^ 0x1f, tag);
	size_t mask = TOP_TALLY_MAX * 2 - 1, i;
	struct top_tally_entry *e;

	for (i = h & mask;; i = (i + 1) & mask) {
		unsigned short idx = t->index[i];

		if (!idx)
			break;
		e = &t->e[idx - 1];
		if (e->hash == h && !strncmp(e->key, key ? key : "", sizeof(e->key) - 1) &&
		    !strncmp(e->tag, tag ? tag : "", sizeof(e->tag) - 1))
			goto found;
	}
	if (t->n >= TOP_TALLY_MAX) {
		t->other++;
		return NULL;
	}
	e = &t->e[t->n++];
	t->index[i] = (unsigned short)t->n;
	e->hash = h;
	copy_str(e->key, sizeof(e->key), key);
	copy_str(e->tag, sizeof(e->tag), tag);
found:
	e->count++;
	if (time_ms > e->last_ms)
		e->last_ms = time_ms;
	return e;
}

static int tally_cmp(const void *a, const void *b)
{
	const struct top_tally_entry *x = *(const struct top_tally_entry *const *)a;
	const struct top_tally_entry *y = *(const struct top_tally_entry *const *)b;
	int c;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	c = strcmp(x->key, y->key);
	return c ? c : strcmp(x->tag, y->tag);
}

size_t top_tally__sorted(const struct top_tally *t, const struct top_tally_entry **out, size_t max)
{
	const struct top_tally_entry *all[TOP_TALLY_MAX];
	size_t i, n = t->n;

	for (i = 0; i < n; i++)
		all[i] = &t->e[i];
	qsort(all, n, sizeof(all[0]), tally_cmp);
	if (n > max)
		n = max;
	memcpy(out, all, n * sizeof(all[0]));
	return n;
}

const char *top_tally__top(const struct top_tally *t)
{
	const struct top_tally_entry *best = NULL, *e;
	size_t i;

	for (i = 0; i < t->n; i++) {
		e = &t->e[i];
		if (!best || e->count > best->count ||
		    (e->count == best->count && strcmp(e->key, best->key) < 0))
			best = e;
	}
	return best ? best->key : NULL;
}

/* --- event state ----------------------------------------------------------------------------- */

const struct top_recent *top_agent_events__recent(const struct top_agent_events *e, size_t i)
{
	if (!e || i >= e->n_recent)
		return NULL;
	return &e->recent[(e->head + TOP_RECENT_MAX - 1 - i) % TOP_RECENT_MAX];
}

static struct top_agent_events *evs_find(const struct top_model *m, const char *instance,
					 const char *uid)
{
	size_t i;

	for (i = 0; i < m->n_evs; i++)
		if (!strcmp(m->evs[i]->agent_uid, uid) && !strcmp(m->evs[i]->instance, instance))
			return m->evs[i];
	return NULL;
}

static void evs_remove(struct top_model *m, size_t i)
{
	free(m->evs[i]);
	m->evs[i] = m->evs[--m->n_evs];
}

static struct top_agent_events *evs_get(struct top_model *m, const char *instance, const char *uid)
{
	struct top_agent_events *e = evs_find(m, instance, uid);
	size_t i, oldest = 0;

	if (e)
		return e;
	if (m->n_evs >= TOP_EVSTATE_MAX) {
		for (i = 1; i < m->n_evs; i++)
			if (m->evs[i]->last_ms < m->evs[oldest]->last_ms)
				oldest = i;
		for (i = 0; i < m->n_rows; i++)
			if (m->rows[i].ev == m->evs[oldest])
				m->rows[i].ev = NULL;
		evs_remove(m, oldest);
	}
	if (m->n_evs == m->cap_evs) {
		size_t cap = m->cap_evs ? 2 * m->cap_evs : 16;
		struct top_agent_events **evs = realloc(m->evs, cap * sizeof(*evs));

		if (!evs)
			return NULL;
		m->evs = evs;
		m->cap_evs = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	copy_str(e->instance, sizeof(e->instance), instance);
	copy_str(e->agent_uid, sizeof(e->agent_uid), uid);
	m->evs[m->n_evs++] = e;
	/* A row of this agent learns about it now, not at the next snapshot. */
	for (i = 0; i < m->n_rows; i++)
		if (!strcmp(m->rows[i].s.agent_uid, uid) &&
		    !strcmp(m->rows[i].s.instance, instance))
			m->rows[i].ev = e;
	return e;
}

static struct top_proc *proc_get(struct top_agent_events *e, unsigned int pid, bool create)
{
	struct top_proc *victim = NULL;
	size_t i;

	if (!pid)
		return NULL;
	for (i = 0; i < e->n_procs; i++)
		if (e->procs[i].pid == pid)
			return &e->procs[i];
	if (!create)
		return NULL;
	if (e->n_procs < TOP_PROCS_MAX) {
		victim = &e->procs[e->n_procs++];
	} else {
		/* Full: recycle the process that exited longest ago, or else the quietest. */
		for (i = 0; i < e->n_procs; i++) {
			struct top_proc *p = &e->procs[i];

			if (!victim || (p->exited && !victim->exited) ||
			    (p->exited == victim->exited && p->last_ms < victim->last_ms))
				victim = p;
		}
		e->procs_other++;
	}
	memset(victim, 0, sizeof(*victim));
	victim->pid = pid;
	return victim;
}

static void format_detail(const struct top_event *ev, char *buf, size_t size)
{
	char acc[8] = "";
	int n = 0;

	switch (ev->kind) {
	case TOP_EV_EXEC:
		n = snprintf(buf, size, "%s",
			     ev->cmdline && *ev->cmdline ? ev->cmdline
			     : ev->path			 ? ev->path
							 : "");
		break;
	case TOP_EV_FORK:
		n = snprintf(buf, size, "child %u of %u", ev->pid, ev->ppid);
		break;
	case TOP_EV_OPEN:
		if (ev->access & AW_ACC_READ)
			strcat(acc, "r");
		if (ev->access & AW_ACC_WRITE)
			strcat(acc, "w");
		if (ev->access & AW_ACC_CREATE)
			strcat(acc, "c");
		if (ev->access & AW_ACC_TRUNC)
			strcat(acc, "t");
		if (ev->access & AW_ACC_EXEC)
			strcat(acc, "x");
		n = snprintf(buf, size, "%s%s%s", ev->path ? ev->path : "", *acc ? " " : "", acc);
		break;
	case TOP_EV_CONNECT:
	case TOP_EV_SEND:
	case TOP_EV_BIND:
	case TOP_EV_LISTEN:
	case TOP_EV_ACCEPT:
		if (ev->ip && strchr(ev->ip, ':'))
			n = snprintf(buf, size, "[%s]:%u/%s", ev->ip, ev->port,
				     ev->proto ? ev->proto : "?");
		else
			n = snprintf(buf, size, "%s:%u/%s", ev->ip ? ev->ip : "?", ev->port,
				     ev->proto ? ev->proto : "?");
		break;
	case TOP_EV_SYSCALL:
		n = snprintf(buf, size, "%s", ev->syscall ? ev->syscall : "?");
		break;
	default:
		buf[0] = '\0';
		break;
	}
	if (ev->status && n >= 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " (%s)", ev->status);
}

/* "ip:port" of a network event, the egress key. */
static void format_dest(const struct top_event *ev, char *buf, size_t size)
{
	if (ev->ip && strchr(ev->ip, ':'))
		snprintf(buf, size, "[%s]:%u", ev->ip, ev->port);
	else
		snprintf(buf, size, "%s:%u", ev->ip ? ev->ip : "?", ev->port);
}

int top_model__event(struct top_model *m, const char *instance, const struct top_event *ev)
{
	struct top_agent_events *e;
	struct top_recent *r;
	struct top_proc *p;
	char key[TOP_DETAIL_LEN];

	if (!ev->agent_uid || !*ev->agent_uid)
		return -EINVAL;
	e = evs_get(m, instance, ev->agent_uid);
	if (!e)
		return -ENOMEM;
	m->events_seen++;
	e->seen++;
	if (ev->time_ms > e->last_ms)
		e->last_ms = ev->time_ms;

	r = &e->recent[e->head];
	e->head = (e->head + 1) % TOP_RECENT_MAX;
	if (e->n_recent < TOP_RECENT_MAX)
		e->n_recent++;
	memset(r, 0, sizeof(*r));
	r->time_ms = ev->time_ms;
	r->pid = ev->pid;
	r->kind = ev->kind;
	r->disp = ev->disp;
	copy_str(r->comm, sizeof(r->comm), ev->comm);
	copy_str(r->rule, sizeof(r->rule), ev->rule);
	format_detail(ev, r->detail, sizeof(r->detail));

	/* The process table: forks make entries, exits mark them. */
	if (ev->kind == TOP_EV_FORK) {
		struct top_proc *parent = proc_get(e, ev->ppid, false), inherit = {};

		if (parent) {
			parent->forks++;
			inherit = *parent;
		}
		/* A child starts as a copy of its parent's image. */
		p = proc_get(e, ev->pid, true);
		if (p) {
			p->ppid = ev->ppid;
			memcpy(p->comm, inherit.comm, sizeof(p->comm));
			memcpy(p->exe, inherit.exe, sizeof(p->exe));
		}
	} else {
		p = proc_get(e, ev->pid, true);
	}
	if (p) {
		p->last_ms = ev->time_ms;
		if (ev->comm && *ev->comm)
			copy_str(p->comm, sizeof(p->comm), ev->comm);
		if (!p->ppid && ev->ppid && ev->kind != TOP_EV_FORK)
			p->ppid = ev->ppid;
		switch (ev->kind) {
		case TOP_EV_EXEC:
			p->execs++;
			p->exited = false;
			copy_str(p->exe, sizeof(p->exe), ev->path);
			break;
		case TOP_EV_EXIT:
			p->exited = true;
			break;
		case TOP_EV_OPEN:
			p->opens++;
			break;
		case TOP_EV_CONNECT:
		case TOP_EV_SEND:
			p->connects++;
			break;
		default:
			break;
		}
		if (ev->disp != TOP_DISP_ALLOWED)
			p->denials++;
	}

	if (ev->kind == TOP_EV_OPEN && ev->path) {
		struct top_tally_entry *t = tally_add(&e->files, ev->path, NULL, ev->time_ms);

		if (t)
			t->flags |= ev->access;
	}
	if ((ev->kind == TOP_EV_CONNECT || ev->kind == TOP_EV_SEND) && ev->ip) {
		struct top_tally_entry *t;

		format_dest(ev, key, sizeof(key));
		t = tally_add(&e->egress, key, ev->proto, ev->time_ms);
		if (t)
			t->flags |= 1U << ev->disp;
	}
	if (ev->disp != TOP_DISP_ALLOWED) {
		struct top_tally_entry *t;

		switch (ev->kind) {
		case TOP_EV_CONNECT:
		case TOP_EV_SEND:
		case TOP_EV_BIND:
		case TOP_EV_ACCEPT:
		case TOP_EV_LISTEN:
			format_dest(ev, key, sizeof(key));
			break;
		case TOP_EV_SYSCALL:
			copy_str(key, sizeof(key), ev->syscall);
			break;
		default:
			copy_str(key, sizeof(key), ev->path);
			break;
		}
		t = tally_add(&e->denials, key, ev->rule && *ev->rule ? ev->rule : "-",
			      ev->time_ms);
		if (t) {
			t->flags |= 1U << ev->disp;
			t->kind = ev->kind;
		}
	}
	return 0;
}

/* --- rows ------------------------------------------------------------------------------------ */

void top_model__init(struct top_model *m)
{
	memset(m, 0, sizeof(*m));
	m->sort = TOP_COL_OPENS;
	m->hdr.s.policy_gen = -1;
}

void top_model__free(struct top_model *m)
{
	while (m->n_evs)
		evs_remove(m, m->n_evs - 1);
	free(m->evs);
	free(m->rows);
	free(m->order);
	memset(m, 0, sizeof(*m));
}

static bool same_agent(const struct top_sample *a, const struct top_sample *b)
{
	return a->slot == b->slot && a->cgroup_id == b->cgroup_id &&
	       !strcmp(a->instance, b->instance);
}

static double rate(unsigned long long now, unsigned long long before, double dt)
{
	return now > before && dt > 0 ? (double)(now - before) / dt : 0;
}

static unsigned long long actions(const struct aw_agent_counters *c)
{
	return c->execs + c->forks + c->exits + c->opens + c->connects;
}

static void compute_rates(struct top_row *r, const struct top_row *prev, double dt)
{
	const struct aw_agent_counters *c = &r->s.c, *p = &prev->s.c;

	/* Counters only grow; one that went down belongs to new maps or a reused slot. */
	if (c->execs < p->execs || c->forks < p->forks || c->exits < p->exits ||
	    c->opens < p->opens || c->connects < p->connects || c->syscalls < p->syscalls ||
	    c->denials < p->denials || c->dropped < p->dropped || dt <= 0)
		return;
	r->have_rates = true;
	r->execs = rate(c->execs, p->execs, dt);
	r->opens = rate(c->opens, p->opens, dt);
	r->connects = rate(c->connects, p->connects, dt);
	r->syscalls = rate(c->syscalls, p->syscalls, dt);
	r->denials = rate(c->denials, p->denials, dt);
	r->dropped = rate(c->dropped, p->dropped, dt);
}

static void sort_rows(struct top_model *m);

int top_model__update(struct top_model *m, const struct top_snapshot *snap)
{
	struct top_row *rows = NULL;
	size_t *order = NULL, i, j;
	double dt = m->have_prev ? snap->t - m->t : 0;
	unsigned long long acts = 0;
	struct top_header *h = &m->hdr;

	if (snap->n) {
		rows = calloc(snap->n, sizeof(*rows));
		order = calloc(snap->n, sizeof(*order));
		if (!rows || !order) {
			free(rows);
			free(order);
			return -ENOMEM;
		}
	}
	for (i = 0; i < m->n_evs; i++)
		m->evs[i]->orphaned++;
	for (i = 0; i < snap->n; i++) {
		struct top_row *r = &rows[i];
		const struct top_row *prev = NULL;

		r->s = snap->agents[i];
		/* Sources keep their order, so the agent is most often at the same index. */
		if (i < m->n_rows && same_agent(&m->rows[i].s, &r->s))
			prev = &m->rows[i];
		for (j = 0; !prev && j < m->n_rows; j++)
			if (same_agent(&m->rows[j].s, &r->s))
				prev = &m->rows[j];
		if (prev)
			compute_rates(r, prev, dt);
		r->ev = evs_find(m, r->s.instance, r->s.agent_uid);
		if (r->ev)
			r->ev->orphaned = 0;
		acts += actions(&r->s.c);
	}
	for (i = m->n_evs; i-- > 0;)
		if (m->evs[i]->orphaned > TOP_EVSTATE_KEEP)
			evs_remove(m, i);

	/* The header: the daemon's event counter if it answered, else what the agents did. */
	h->have_rates = m->have_prev && dt > 0;
	h->interval = dt;
	h->events = h->drops = 0;
	if (h->have_rates) {
		if (snap->hdr.daemon && h->s.daemon && snap->hdr.events >= 0 && h->s.events >= 0)
			h->events = rate((unsigned long long)snap->hdr.events,
					 (unsigned long long)h->s.events, dt);
		else
			h->events = rate(acts, m->prev_actions, dt);
		h->drops = rate(snap->hdr.drops, h->s.drops, dt);
	}
	h->s = snap->hdr;
	m->prev_actions = acts;
	m->t = snap->t;
	m->have_prev = true;

	free(m->rows);
	free(m->order);
	m->rows = rows;
	m->order = order;
	m->n_rows = m->cap_rows = snap->n;
	sort_rows(m);
	return 0;
}

const char *top_row__egress(const struct top_row *r)
{
	const char *top = r->ev ? top_tally__top(&r->ev->egress) : NULL;

	return top ? top : "";
}

bool top_model__matches(const struct top_row *r, const char *f)
{
	if (!f || !*f)
		return true;
	return strcasestr(r->s.name, f) || strcasestr(r->s.session, f) || strcasestr(r->s.pod, f) ||
	       strcasestr(r->s.container, f) || strcasestr(r->s.instance, f) ||
	       strcasestr(r->s.agent_uid, f) || strcasestr(top_row__egress(r), f);
}

static int cmp_num(double a, double b)
{
	return a < b ? -1 : a > b;
}

/* Text with the empty string last. */
static int cmp_text(const char *a, const char *b)
{
	if (!*a != !*b)
		return *a ? -1 : 1;
	return strcasecmp(a, b);
}

static double rate_of(const struct top_row *r, double v)
{
	return r->have_rates ? v : 0;
}

/* Ascending "natural" order of a column: numbers small first, text A first. */
static int cmp_col(const struct top_row *a, const struct top_row *b, enum top_col col)
{
	switch (col) {
	case TOP_COL_NAME:
		return cmp_text(a->s.name, b->s.name);
	case TOP_COL_SESSION:
		return cmp_text(a->s.session, b->s.session);
	case TOP_COL_POD: {
		int c = cmp_text(a->s.pod, b->s.pod);

		return c ? c : cmp_text(a->s.container, b->s.container);
	}
	case TOP_COL_PROCS:
		return cmp_num(a->s.procs, b->s.procs);
	case TOP_COL_EXECS:
		return cmp_num(rate_of(a, a->execs), rate_of(b, b->execs));
	case TOP_COL_OPENS:
		return cmp_num(rate_of(a, a->opens), rate_of(b, b->opens));
	case TOP_COL_CONNECTS:
		return cmp_num(rate_of(a, a->connects), rate_of(b, b->connects));
	case TOP_COL_SYSCALLS:
		return cmp_num(rate_of(a, a->syscalls), rate_of(b, b->syscalls));
	case TOP_COL_DENIALS:
		return cmp_num((double)a->s.c.denials, (double)b->s.c.denials);
	case TOP_COL_DENY_RATE:
		return cmp_num(rate_of(a, a->denials), rate_of(b, b->denials));
	case TOP_COL_AUDITS:
		return cmp_num((double)a->s.c.would_block, (double)b->s.c.would_block);
	case TOP_COL_DROPPED:
		return cmp_num((double)a->s.c.dropped, (double)b->s.c.dropped);
	case TOP_COL_EGRESS:
		return cmp_text(top_row__egress(a), top_row__egress(b));
	case TOP_COL_ENFORCE: {
		/* Weakest first, unknown last. */
		int x = a->s.enforce == TOP_ENF_UNKNOWN ? 1000 : a->s.enforce;
		int y = b->s.enforce == TOP_ENF_UNKNOWN ? 1000 : b->s.enforce;

		return cmp_num(x, y);
	}
	default:
		return 0;
	}
}

int top_model__compare(const struct top_model *m, const struct top_row *a, const struct top_row *b)
{
	int c = cmp_col(a, b, m->sort);

	if ((unsigned int)m->sort < TOP_COL__COUNT && cols[m->sort].numeric)
		c = -c; /* the busiest first */
	if (m->reverse)
		c = -c;
	if (c)
		return c;
	c = strcmp(a->s.name, b->s.name);
	if (c)
		return c;
	c = strcmp(a->s.instance, b->s.instance);
	if (c)
		return c;
	return cmp_num(a->s.slot, b->s.slot);
}

static int order_cmp(const void *x, const void *y, void *ctx)
{
	const struct top_model *m = ctx;

	return top_model__compare(m, &m->rows[*(const size_t *)x], &m->rows[*(const size_t *)y]);
}

static void sort_rows(struct top_model *m)
{
	size_t i;

	m->n_visible = 0;
	for (i = 0; i < m->n_rows; i++)
		if (top_model__matches(&m->rows[i], m->filter))
			m->order[m->n_visible++] = i;
	if (m->n_visible > 1)
		qsort_r(m->order, m->n_visible, sizeof(m->order[0]), order_cmp, m);
}

void top_model__set_sort(struct top_model *m, enum top_col col, bool reverse)
{
	if ((unsigned int)col >= TOP_COL__COUNT)
		return;
	m->sort = col;
	m->reverse = reverse;
	sort_rows(m);
}

void top_model__set_filter(struct top_model *m, const char *filter)
{
	copy_str(m->filter, sizeof(m->filter), filter);
	sort_rows(m);
}

const struct top_row *top_model__row(const struct top_model *m, size_t i)
{
	return i < m->n_visible ? &m->rows[m->order[i]] : NULL;
}

const struct top_agent_events *top_model__events(const struct top_model *m, const char *instance,
						 const char *agent_uid)
{
	return evs_find(m, instance, agent_uid);
}

int top_model__find(const struct top_model *m, const char *instance, __u32 slot, __u64 cgroup_id)
{
	size_t i;

	for (i = 0; i < m->n_visible; i++) {
		const struct top_sample *s = &m->rows[m->order[i]].s;

		if (s->slot == slot && s->cgroup_id == cgroup_id && !strcmp(s->instance, instance))
			return (int)i;
	}
	return -ENOENT;
}

void top_row__cell(const struct top_row *r, enum top_col col, char *buf, size_t size)
{
	const struct top_sample *s = &r->s;

	switch (col) {
	case TOP_COL_NAME:
		if (*s->name)
			snprintf(buf, size, "%s", s->name);
		else
			snprintf(buf, size, "(slot %u)", s->slot);
		break;
	case TOP_COL_SESSION:
		snprintf(buf, size, "%s", *s->session ? s->session : "-");
		break;
	case TOP_COL_POD:
		if (*s->pod && *s->container)
			snprintf(buf, size, "%.8s/%.12s", s->pod, s->container);
		else if (*s->pod)
			snprintf(buf, size, "%s", s->pod);
		else if (*s->container)
			snprintf(buf, size, "ctr:%.12s", s->container);
		else
			snprintf(buf, size, "-");
		break;
	case TOP_COL_PROCS:
		if (s->procs < 0)
			snprintf(buf, size, "-");
		else
			top__fmt_count(buf, size, (unsigned long long)s->procs);
		break;
	case TOP_COL_EXECS:
	case TOP_COL_OPENS:
	case TOP_COL_CONNECTS:
	case TOP_COL_SYSCALLS:
	case TOP_COL_DENY_RATE: {
		double v = col == TOP_COL_EXECS	     ? r->execs
			   : col == TOP_COL_OPENS    ? r->opens
			   : col == TOP_COL_CONNECTS ? r->connects
			   : col == TOP_COL_SYSCALLS ? r->syscalls
						     : r->denials;

		/* No syscall count at all: syscall observation is off for this agent. */
		if (!r->have_rates || (col == TOP_COL_SYSCALLS && !s->c.syscalls))
			snprintf(buf, size, "-");
		else
			top__fmt_rate(buf, size, v);
		break;
	}
	case TOP_COL_DENIALS:
		top__fmt_count(buf, size, s->c.denials);
		break;
	case TOP_COL_AUDITS:
		top__fmt_count(buf, size, s->c.would_block);
		break;
	case TOP_COL_DROPPED:
		top__fmt_count(buf, size, s->c.dropped);
		break;
	case TOP_COL_EGRESS:
		snprintf(buf, size, "%s", *top_row__egress(r) ? top_row__egress(r) : "-");
		break;
	case TOP_COL_ENFORCE:
		snprintf(buf, size, "%s", top_enforce__name(s->enforce));
		break;
	default:
		if (size)
			buf[0] = '\0';
		break;
	}
}

/* --- process tree ---------------------------------------------------------------------------- */

static int node_cmp(const void *a, const void *b)
{
	const struct top_tree_node *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static const struct top_tree_node *node_find(const struct top_tree_node *nodes, size_t n,
					     unsigned int pid)
{
	struct top_tree_node key = {.pid = pid};

	return bsearch(&key, nodes, n, sizeof(*nodes), node_cmp);
}

int top_tree__order(struct top_tree_node *nodes, size_t n)
{
	struct top_tree_node *sorted, *out;
	size_t *stack, sp = 0, n_out = 0, i;
	bool *done;

	if (n < 1)
		return 0;
	sorted = malloc(n * sizeof(*sorted));
	out = malloc(n * sizeof(*out));
	stack = malloc(n * sizeof(*stack));
	done = calloc(n, sizeof(*done));
	if (!sorted || !out || !stack || !done) {
		free(sorted);
		free(out);
		free(stack);
		free(done);
		return -ENOMEM;
	}
	memcpy(sorted, nodes, n * sizeof(*nodes));
	qsort(sorted, n, sizeof(*sorted), node_cmp);

	/* Roots are nodes whose parent is absent (or themselves); then anything a cycle left out. */
	for (int pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			const struct top_tree_node *parent;

			if (done[i])
				continue;
			parent = sorted[i].ppid != sorted[i].pid
					 ? node_find(sorted, n, sorted[i].ppid)
					 : NULL;
			if (pass == 0 && parent)
				continue;
			sorted[i].depth = 0;
			done[i] = true;
			stack[sp++] = i;
			while (sp) {
				size_t cur = stack[--sp], k;

				out[n_out++] = sorted[cur];
				/* Push children in reverse so that the lowest pid comes out first. */
				for (k = n; k-- > 0;) {
					if (done[k] || sorted[k].ppid != sorted[cur].pid ||
					    k == cur)
						continue;
					done[k] = true;
					sorted[k].depth = sorted[cur].depth + 1;
					stack[sp++] = k;
				}
			}
		}
	}
	memcpy(nodes, out, n * sizeof(*nodes));
	free(sorted);
	free(out);
	free(stack);
	free(done);
	return 0;
}
