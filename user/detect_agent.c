// SPDX-License-Identifier: Apache-2.0
/*
 * Stage 1 of the detector: per-agent state and the detectors that need only one agent's events
 * (docs/detect.md, "Stage 1").
 *
 *   novelty    an agent does something no agent of its kind did before: first binary, first
 *              egress destination (ip:port), first read of a sensitive path class. The kind's
 *              baseline is learned silently for kind_warmup_ms; after that an item is
 *              "established" once established_agents distinct agents used it.
 *   rates      per agent, per minute: opens, execs, connects, denials against an EWMA mean
 *              and EW variance of the agent's own active minutes, after a warm-up.
 *   sequences  per session: sensitive read -> egress to a new destination; burst of reads ->
 *              archiver -> egress to a new destination; a denial -> the same file through
 *              another path (hardlink, copy) or exec of a binary the session wrote.
 *
 * It also turns events into compact feature observations for stage 2, at most one per agent
 * and feature (a small per-agent cache), each carrying its session's context bits.
 *
 * Memory: a fixed-size record per agent (no per-agent growth), at most max_agents per shard
 * with least-recently-active eviction, and per kind two fixed item tables.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "detect_features.h"
#include "detect_sketch.h"

#define DEDUP_SLOTS 128
#define SESSIONS    2
#define DENY_RING   4
#define WRITE_RING  16
#define READ_SLOTS  16
#define FIRED_RING  8
#define AGENT_WAYS  8
#define ITEM_WAYS   4
#define ITEM_SLOTS  8192 /* per kind and table: binaries, destinations */
#define MAX_KINDS   64
#define PATH_KEEP   96
#define ITEM_WARM   0x1 /* learned during the kind's warm-up */
#define NOVEL_RING  8

struct rate {
	uint32_t count; /* this bucket */
	uint32_t threshold;
	float mean, var;
	uint32_t n; /* active buckets seen */
	uint8_t fired;
	uint8_t pad[3];
};

struct denial {
	uint64_t ms, path_h, base_h, inode_h;
	uint8_t exec;
	char evuid[DETECT_EVUID_MAX];
	char path[PATH_KEEP];
};

struct written {
	uint64_t ms, path_h;
};

struct read_slot {
	uint32_t sec;
	uint32_t n;
};

struct session {
	uint64_t key, last_ms;
	char uid[DETECT_UID_MAX];
	/* last sensitive read that counts for S1 */
	uint64_t sens_ms;
	uint8_t sens_class;
	char sens_evuid[DETECT_EVUID_MAX];
	char sens_path[PATH_KEEP];
	/* context for stage 2 */
	uint64_t ctx_ms[4]; /* by bit of DETECT_CTX_* */
	uint64_t novel_bin; /* the binary that set DETECT_CTX_NOVEL */
	/* reads per second, and the last archiver exec */
	struct read_slot reads[READ_SLOTS];
	uint64_t arch_ms;
	uint32_t arch_reads;
	char arch_evuid[DETECT_EVUID_MAX];
	char arch_path[PATH_KEEP];
	struct denial deny[DENY_RING];
	struct written wr[WRITE_RING];
	uint64_t fired[FIRED_RING];
	uint8_t deny_next, wr_next, fired_next;
};

struct agent {
	uint64_t key, last_ms, bucket;
	uint32_t kind;
	uint32_t classes; /* sensitive classes this agent read */
	char uid[DETECT_UID_MAX];
	char name[DETECT_NAME_MAX];
	struct rate rate[DETECT_M__COUNT];
	uint64_t novel_ms[NOVEL_RING]; /* times of the last novelty findings */
	uint64_t dedup[DEDUP_SLOTS];
	struct session sess[SESSIONS];
};

struct item {
	uint64_t h;
	uint8_t agents;
	uint8_t flags;
	uint8_t pad[6];
};

struct kind {
	uint64_t key, first_ms;
	char name[DETECT_NAME_MAX];
	uint8_t class_agents[DETECT_PC__COUNT];
	uint8_t class_flags[DETECT_PC__COUNT];
	struct item *bins, *dests; /* ITEM_SLOTS each */
};

struct detect_stage1 {
	struct detect_config cfg;
	uint32_t n_buckets; /* agent table: n_buckets * AGENT_WAYS pointers */
	uint32_t n_agents;
	struct agent **agents;
	uint32_t n_kinds;
	struct kind kinds[MAX_KINDS];
};

/* ---- tables ----------------------------------------------------------------------------- */

struct detect_stage1 *detect_stage1__new(const struct detect_config *cfg)
{
	struct detect_stage1 *s = calloc(1, sizeof(*s));
	uint32_t n = 1;

	if (!s)
		return NULL;
	s->cfg = *cfg;
	while (n * AGENT_WAYS < 2 * (cfg->max_agents ? cfg->max_agents : 1))
		n <<= 1;
	s->n_buckets = n;
	s->agents = calloc((size_t)n * AGENT_WAYS, sizeof(*s->agents));
	if (!s->agents) {
		free(s);
		return NULL;
	}
	return s;
}

void detect_stage1__free(struct detect_stage1 *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < (size_t)s->n_buckets * AGENT_WAYS; i++)
		free(s->agents[i]);
	for (i = 0; i < s->n_kinds; i++) {
		free(s->kinds[i].bins);
		free(s->kinds[i].dests);
	}
	free(s->agents);
	free(s);
}

uint32_t detect_stage1__agents(const struct detect_stage1 *s)
{
	return s->n_agents;
}

size_t detect_stage1__memory(const struct detect_stage1 *s)
{
	return sizeof(*s) + (size_t)s->n_buckets * AGENT_WAYS * sizeof(*s->agents) +
	       (size_t)s->n_agents * sizeof(struct agent) +
	       (size_t)s->n_kinds * 2 * ITEM_SLOTS * sizeof(struct item);
}

static void copy_str(char *dst, size_t size, const struct detect_str *s)
{
	size_t n = s->p ? s->len : 0;

	if (n > size - 1)
		n = size - 1;
	if (n)
		memcpy(dst, s->p, n);
	dst[n] = '\0';
}

static void copy_cstr(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static struct kind *kind_get(struct detect_stage1 *s, const struct detect_str *name, uint64_t now,
			     struct detect_stats *st)
{
	uint64_t key = detect_hash(name->p, name->len, 7);
	struct kind *k;
	uint32_t i;

	for (i = 0; i < s->n_kinds; i++)
		if (s->kinds[i].key == key)
			return &s->kinds[i];
	if (s->n_kinds == MAX_KINDS) {
		st->baseline_full++;
		return &s->kinds[key % MAX_KINDS]; /* share: novelty is coarser, never wrong-way */
	}
	k = &s->kinds[s->n_kinds];
	k->bins = calloc(ITEM_SLOTS, sizeof(*k->bins));
	k->dests = calloc(ITEM_SLOTS, sizeof(*k->dests));
	if (!k->bins || !k->dests) {
		free(k->bins);
		free(k->dests);
		k->bins = k->dests = NULL;
		return NULL;
	}
	s->n_kinds++;
	k->key = key;
	k->first_ms = now;
	copy_str(k->name, sizeof(k->name), name);
	return k;
}

static bool kind_warm(const struct detect_stage1 *s, const struct kind *k, uint64_t now)
{
	return now >= k->first_ms + s->cfg.kind_warmup_ms;
}

/* Find h in a kind's item table; with `insert`, make room for it. NULL if absent. */
static struct item *item_find(struct item *tab, uint64_t h, bool insert, bool *created,
			      struct detect_stats *st)
{
	struct item *b = &tab[(h % (ITEM_SLOTS / ITEM_WAYS)) * ITEM_WAYS], *victim = NULL;
	int i;

	*created = false;
	h |= 1; /* 0 marks an empty slot */
	for (i = 0; i < ITEM_WAYS; i++)
		if (b[i].h == h)
			return &b[i];
	if (!insert)
		return NULL;
	for (i = 0; i < ITEM_WAYS; i++) {
		if (!b[i].h) {
			victim = &b[i];
			break;
		}
		if (!victim || b[i].agents < victim->agents)
			victim = &b[i];
	}
	if (victim->h)
		st->baseline_full++;
	memset(victim, 0, sizeof(*victim));
	victim->h = h;
	*created = true;
	return victim;
}

static struct agent *agent_get(struct detect_stage1 *s, const struct detect_event *ev,
			       struct detect_stats *st, bool *fresh)
{
	const struct detect_str *uid = &ev->s[DETECT_F_AGENT_UID];
	uint64_t key = detect_hash(uid->p, uid->len, 1) | 1;
	struct agent **b = &s->agents[(key % s->n_buckets) * AGENT_WAYS], **slot = NULL;
	const struct detect_str *kname;
	struct kind *k;
	struct agent *a;
	int i;

	*fresh = false;
	for (i = 0; i < AGENT_WAYS; i++) {
		if (b[i] && b[i]->key == key)
			return b[i];
	}
	for (i = 0; i < AGENT_WAYS; i++) {
		if (!b[i]) {
			slot = &b[i];
			break;
		}
		if (!slot || b[i]->last_ms < (*slot)->last_ms)
			slot = &b[i];
	}
	if (*slot || s->n_agents >= s->cfg.max_agents) {
		if (!*slot) {
			/* Table at its cap: evict the least recent agent of this bucket. */
			for (i = 0; i < AGENT_WAYS; i++)
				if (b[i] && (!*slot || b[i]->last_ms < (*slot)->last_ms))
					slot = &b[i];
			if (!*slot)
				return NULL;
		}
		free(*slot);
		*slot = NULL;
		s->n_agents--;
		st->agents_evicted++;
	}
	kname = ev->s[DETECT_F_IMAGE].len ? &ev->s[DETECT_F_IMAGE] : &ev->s[DETECT_F_AGENT_NAME];
	k = kind_get(s, kname, ev->time_ms, st);
	if (!k)
		return NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->key = key;
	a->kind = (uint32_t)(k - s->kinds);
	a->bucket = ev->time_ms / s->cfg.rate_bucket_ms;
	copy_str(a->uid, sizeof(a->uid), uid);
	copy_str(a->name, sizeof(a->name), kname);
	*slot = a;
	s->n_agents++;
	*fresh = true;
	return a;
}

static struct session *session_get(struct agent *a, const struct detect_event *ev)
{
	const struct detect_str *sid = &ev->s[DETECT_F_SESSION];
	uint64_t key = detect_hash(sid->p, sid->len, 2) | 1;
	struct session *victim = &a->sess[0];
	int i;

	for (i = 0; i < SESSIONS; i++)
		if (a->sess[i].key == key)
			return &a->sess[i];
	for (i = 1; i < SESSIONS; i++)
		if (a->sess[i].last_ms < victim->last_ms)
			victim = &a->sess[i];
	memset(victim, 0, sizeof(*victim));
	victim->key = key;
	copy_str(victim->uid, sizeof(victim->uid), sid);
	return victim;
}

/* ---- findings --------------------------------------------------------------------------- */

struct ctx {
	struct detect_stage1 *s;
	struct agent *a;
	struct session *ss;
	const struct detect_event *ev;
	const struct detect_sink *out;
	struct detect_stats *st;
	char evuid[DETECT_EVUID_MAX];
};

static void add_evidence(struct detect_finding *f, const char *evuid, uint32_t max)
{
	uint32_t i;

	if (!evuid || !evuid[0] || f->n_evidence >= max || f->n_evidence >= DETECT_EVIDENCE_MAX)
		return;
	for (i = 0; i < f->n_evidence; i++)
		if (!strcmp(f->evidence[i], evuid))
			return;
	snprintf(f->evidence[f->n_evidence++], DETECT_EVUID_MAX, "%s", evuid);
}

static int emit(struct ctx *c, enum detect_kind kind, uint8_t severity, uint8_t confidence,
		enum detect_feature_type ftype, const char *feature, uint64_t first_ms,
		const char *ev1, const char *ev2, const char *fmt, ...)
	__attribute__((format(printf, 10, 11)));

static int emit(struct ctx *c, enum detect_kind kind, uint8_t severity, uint8_t confidence,
		enum detect_feature_type ftype, const char *feature, uint64_t first_ms,
		const char *ev1, const char *ev2, const char *fmt, ...)
{
	struct session *ss = c->ss;
	uint64_t h = detect_hash(feature, strlen(feature), kind + 100) | 1;
	struct detect_finding f;
	va_list ap;
	int i;

	/* Once per session for the same kind and feature. */
	for (i = 0; i < FIRED_RING; i++)
		if (ss->fired[i] == h)
			return 0;
	ss->fired[ss->fired_next++ % FIRED_RING] = h;
	if (severity >= 3)
		ss->ctx_ms[3] = c->ev->time_ms; /* DETECT_CTX_FINDING */

	memset(&f, 0, sizeof(f));
	f.kind = kind;
	f.severity_id = severity;
	f.confidence = confidence;
	f.confidence_id = confidence >= 75 ? 3 : confidence >= 45 ? 2 : 1;
	f.feature_type = (uint8_t)ftype;
	f.time_ms = c->ev->time_ms;
	f.first_ms = first_ms ? first_ms : c->ev->time_ms;
	f.last_ms = c->ev->time_ms;
	snprintf(f.feature, sizeof(f.feature), "%s", feature);
	f.n_agents = 1;
	f.agents_total = 1;
	snprintf(f.agents[0].uid, sizeof(f.agents[0].uid), "%s", c->a->uid);
	snprintf(f.agents[0].session, sizeof(f.agents[0].session), "%s", ss->uid);
	snprintf(f.agents[0].name, sizeof(f.agents[0].name), "%s", c->a->name);
	add_evidence(&f, ev1, c->s->cfg.max_evidence);
	add_evidence(&f, ev2, c->s->cfg.max_evidence);
	add_evidence(&f, c->evuid, c->s->cfg.max_evidence);
	va_start(ap, fmt);
	vsnprintf(f.explain, sizeof(f.explain), fmt, ap);
	va_end(ap);
	detect_finding__seal(&f);
	c->st->findings[kind]++;
	return c->out && c->out->finding ? c->out->finding(c->out->ctx, &f) : 0;
}

/* ---- stage 2 observations --------------------------------------------------------------- */

static uint8_t session_ctx(const struct detect_stage1 *s, const struct session *ss, uint64_t now)
{
	uint8_t ctx = 0;
	int i;

	for (i = 0; i < 4; i++)
		if (ss->ctx_ms[i] && now - ss->ctx_ms[i] <= s->cfg.context_ms)
			ctx |= (uint8_t)(1u << i);
	return ctx;
}

/*
 * Record that the agent shows feature (type, value); emit an observation the first time, or
 * when the context has new bits. Returns whether it was the agent's first time.
 */
static int observe(struct ctx *c, enum detect_feature_type type, const char *value, size_t len,
		   uint8_t ctx, bool *first)
{
	uint64_t h = detect_hash(value, len, 1000 + type);
	uint64_t *slot = &c->a->dedup[(h >> 8) & (DEDUP_SLOTS - 1)];
	uint64_t tag = h & ~0xfULL;
	struct detect_obs o;

	*first = (*slot & ~0xfULL) != tag;
	if (!*first) {
		if ((*slot & 0xf & ctx) == ctx)
			return 0;
		ctx |= (uint8_t)(*slot & 0xf);
	}
	*slot = tag | ctx;
	if (!c->out || !c->out->obs)
		return 0;
	memset(&o, 0, offsetof(struct detect_obs, feature));
	o.feature_hash = h;
	o.agent_hash = c->a->key;
	o.time_ms = c->ev->time_ms;
	o.type = (uint8_t)type;
	o.ctx = ctx;
	if (len > sizeof(o.feature) - 1)
		len = sizeof(o.feature) - 1;
	memcpy(o.feature, value, len);
	o.feature[len] = '\0';
	memcpy(o.agent.uid, c->a->uid, sizeof(o.agent.uid));
	memcpy(o.agent.session, c->ss->uid, sizeof(o.agent.session));
	memcpy(o.agent.name, c->a->name, sizeof(o.agent.name));
	memcpy(o.event_uid, c->evuid, sizeof(o.event_uid));
	c->st->observations++;
	return c->out->obs(c->out->ctx, &o);
}

/* ---- rates ------------------------------------------------------------------------------ */

static const char *const metric_names[DETECT_M__COUNT] = {"opens", "execs", "connects", "denials"};

static void rate_close(const struct detect_config *cfg, struct rate *r, bool active)
{
	double x = r->count, mean = r->mean, sd, diff, incr, clip;

	if (active) {
		sd = detect_sqrt(r->var);
		/* A bucket that fired counts only up to the threshold: an attack does not
		 * teach the baseline that it is normal. */
		clip = r->n >= cfg->rate_warmup ? mean + cfg->rate_z * sd : x;
		if (r->fired && x > clip)
			x = clip;
		if (!r->n) {
			r->mean = (float)x;
			r->var = (float)(x + 1); /* Poisson-like prior */
		} else {
			double alpha = r->n < cfg->rate_warmup ? 1.0 / (r->n + 1) : cfg->rate_alpha;

			diff = x - mean;
			incr = alpha * diff;
			r->mean = (float)(mean + incr);
			r->var = (float)((1 - alpha) * (r->var + diff * incr));
		}
		r->n++;
	}
	r->count = 0;
	r->fired = 0;
}

static uint32_t rate_threshold(const struct detect_config *cfg, const struct rate *r,
			       enum detect_metric m)
{
	double t = r->mean + cfg->rate_z * detect_sqrt(r->var), t2 = r->mean * cfg->rate_ratio;

	if (t2 > t)
		t = t2;
	if (t < cfg->rate_min[m])
		t = cfg->rate_min[m];
	return t > 4e9 ? 4000000000u : (uint32_t)t + 1;
}

static void rate_advance(struct detect_stage1 *s, struct agent *a, uint64_t now)
{
	uint64_t b = now / s->cfg.rate_bucket_ms;
	int m;

	if (b <= a->bucket)
		return;
	for (m = 0; m < DETECT_M__COUNT; m++) {
		rate_close(&s->cfg, &a->rate[m], a->last_ms / s->cfg.rate_bucket_ms == a->bucket);
		a->rate[m].threshold = rate_threshold(&s->cfg, &a->rate[m], m);
	}
	a->bucket = b;
}

static int rate_count(struct ctx *c, enum detect_metric m)
{
	struct rate *r = &c->a->rate[m];
	const struct detect_config *cfg = &c->s->cfg;
	char feature[64];

	r->count++;
	if (r->fired || r->n < cfg->rate_warmup || r->count < r->threshold)
		return 0;
	r->fired = 1;
	snprintf(feature, sizeof(feature), "%s", metric_names[m]);
	return emit(c, DETECT_K_RATE, m == DETECT_M_DENIALS ? 4 : 3, 60, DETECT_FT_METRIC, feature,
		    (c->ev->time_ms / cfg->rate_bucket_ms) * cfg->rate_bucket_ms, NULL, NULL,
		    "agent %s (%s) made %u %s in under %llu s, against a learned mean of %.1f "
		    "(sd %.1f) per active %llu s over %u buckets",
		    c->a->uid, c->a->name, r->count, metric_names[m],
		    (unsigned long long)(cfg->rate_bucket_ms / 1000), r->mean, detect_sqrt(r->var),
		    (unsigned long long)(cfg->rate_bucket_ms / 1000), r->n);
}

/* ---- per-event detectors ---------------------------------------------------------------- */

static uint32_t reads_between(const struct session *ss, uint64_t from_ms, uint64_t to_ms)
{
	uint32_t from = (uint32_t)(from_ms / 1000), to = (uint32_t)(to_ms / 1000), n = 0;
	int i;

	for (i = 0; i < READ_SLOTS; i++)
		if (ss->reads[i].n && ss->reads[i].sec >= from && ss->reads[i].sec <= to)
			n += ss->reads[i].n;
	return n;
}

static void count_read(const struct detect_stage1 *s, struct session *ss, uint64_t now)
{
	uint32_t sec = (uint32_t)(now / 1000);
	struct read_slot *r = &ss->reads[sec % READ_SLOTS];

	if (r->sec != sec) {
		r->sec = sec;
		r->n = 0;
	}
	r->n++;
	if (ss->arch_ms && now > ss->arch_ms && now <= ss->arch_ms + s->cfg.burst_ms)
		ss->arch_reads++;
}

static bool was_written(const struct session *ss, uint64_t path_h, uint64_t now, uint64_t win)
{
	int i;

	for (i = 0; i < WRITE_RING; i++)
		if (ss->wr[i].path_h == path_h && now - ss->wr[i].ms <= win)
			return true;
	return false;
}

static void set_str(char *dst, size_t size, const struct detect_str *s)
{
	copy_str(dst, size, s);
}

static uint64_t str_hash(const struct detect_str *s, uint64_t seed)
{
	return s->len ? detect_hash(s->p, s->len, seed) | 1 : 0;
}

/* A denial, then the same thing through another path. */
static int check_bypass(struct ctx *c, const struct detect_str *path,
			const struct detect_str *inode, bool exec)
{
	struct session *ss = c->ss;
	uint64_t now = c->ev->time_ms, path_h = str_hash(path, 11), inode_h = str_hash(inode, 12);
	size_t blen;
	const char *base = detect_path__basename(path->p, path->len, &blen);
	uint64_t base_h = detect_hash(base, blen, 13) | 1;
	char p[PATH_KEEP];
	int i;

	for (i = 0; i < DENY_RING; i++) {
		struct denial *d = &ss->deny[i];
		const char *how = NULL;

		if (!d->ms || now - d->ms > c->s->cfg.deny_alt_ms || d->path_h == path_h)
			continue;
		if (inode_h && inode_h == d->inode_h)
			how = "the same file (same device and inode) through another path: a "
			      "hardlink, "
			      "bind mount or reopened descriptor";
		else if (base_h == d->base_h && was_written(ss, path_h, now, c->s->cfg.deny_alt_ms))
			how = "a copy the session wrote under the same name";
		else if (exec && d->exec && was_written(ss, path_h, now, c->s->cfg.deny_alt_ms))
			how = "exec of a binary the session wrote after its exec was denied";
		if (!how)
			continue;
		set_str(p, sizeof(p), path);
		return emit(c, DETECT_K_SEQ_BYPASS, 4, 80, DETECT_FT_FILE, d->path, d->ms, d->evuid,
			    NULL, "agent %s (%s) was denied %s of %s, then %s %s %llu s later: %s",
			    c->a->uid, c->a->name, d->exec ? "exec" : "open", d->path,
			    exec ? "executed" : "opened", p,
			    (unsigned long long)((now - d->ms) / 1000), how);
	}
	return 0;
}

static void push_denial(struct session *ss, const struct ctx *c, const struct detect_str *path,
			const struct detect_str *inode, bool exec)
{
	struct denial *d = &ss->deny[ss->deny_next++ % DENY_RING];
	size_t blen;
	const char *base = detect_path__basename(path->p, path->len, &blen);

	d->ms = c->ev->time_ms;
	d->path_h = str_hash(path, 11);
	d->inode_h = str_hash(inode, 12);
	d->base_h = detect_hash(base, blen, 13) | 1;
	d->exec = exec;
	memcpy(d->evuid, c->evuid, sizeof(d->evuid));
	set_str(d->path, sizeof(d->path), path);
}

/* At most novelty_per_hour novelty findings per agent: a scan is one story, not 400. */
static bool novelty_budget(struct ctx *c)
{
	uint64_t now = c->ev->time_ms, *oldest = &c->a->novel_ms[0];
	uint32_t i, recent = 0;

	for (i = 0; i < NOVEL_RING; i++) {
		if (c->a->novel_ms[i] && now - c->a->novel_ms[i] < 3600 * 1000ULL)
			recent++;
		if (c->a->novel_ms[i] < *oldest)
			oldest = &c->a->novel_ms[i];
	}
	if (recent >= c->s->cfg.novelty_per_hour)
		return false;
	*oldest = now ? now : 1;
	return true;
}

static bool established(const struct detect_stage1 *s, uint8_t flags, uint8_t agents)
{
	return (flags & ITEM_WARM) || agents >= s->cfg.established_agents;
}

static int on_exec(struct ctx *c, struct kind *k, uint8_t ctx)
{
	const struct detect_event *ev = c->ev;
	const struct detect_str *path = &ev->s[DETECT_F_EXE_PATH];
	struct session *ss = c->ss;
	bool warm = kind_warm(c->s, k, ev->time_ms), first, created;
	char folded[DETECT_FEATURE_MAX], shape[DETECT_FEATURE_MAX];
	uint64_t bin_h;
	size_t n;
	struct item *it;
	int err;

	if ((err = rate_count(c, DETECT_M_EXECS)))
		return err;
	if (ev->denied) {
		push_denial(ss, c, path, &ev->s[DETECT_F_EXE_UID], true);
		ss->ctx_ms[1] = ev->time_ms;
		if ((err = rate_count(c, DETECT_M_DENIALS)))
			return err;
	} else if ((err = check_bypass(c, path, &ev->s[DETECT_F_EXE_UID], true))) {
		return err;
	}

	n = detect_path__fold(path->p, path->len, folded, sizeof(folded));
	bin_h = detect_hash(folded, n, 21);
	/* A binary is no context for itself: its own novelty must not make it look suspicious. */
	if (ss->novel_bin == bin_h)
		ctx &= (uint8_t)~DETECT_CTX_NOVEL;
	if ((err = observe(c, DETECT_FT_BIN, folded, n, ctx, &first)))
		return err;
	if (ev->s[DETECT_F_CMD_LINE].len) {
		size_t m = detect_cmd__shape(ev->s[DETECT_F_CMD_LINE].p,
					     ev->s[DETECT_F_CMD_LINE].len, shape, sizeof(shape));
		bool f2;

		if ((err = observe(c, DETECT_FT_CMD, shape, m, ctx, &f2)))
			return err;
	}
	it = item_find(k->bins, bin_h, true, &created, c->st);
	if (created) {
		it->agents = 1;
		it->flags = warm ? 0 : ITEM_WARM;
		if (warm && !ev->denied && novelty_budget(c)) {
			bool wr = detect_path__is_writable_dir(path->p, path->len);

			err = emit(c, DETECT_K_NOVEL_BINARY, wr ? 3 : 2, wr ? 60 : 40,
				   DETECT_FT_BIN, folded, 0, NULL, NULL,
				   "agent %s executed %s, a binary no %s agent has executed "
				   "before%s",
				   c->a->uid, folded, k->name,
				   wr ? " (from a world-writable or cache directory)" : "");
			if (err)
				return err;
		}
	} else if (first && it->agents < 255) {
		it->agents++;
	}
	/* Context for stage 2: a binary run from a writable or cache directory (droppers). An
	 * unestablished binary is not enough: the long tail of benign tools is full of them. */
	if (detect_path__is_writable_dir(path->p, path->len)) {
		ss->ctx_ms[2] = ev->time_ms;
		ss->novel_bin = bin_h;
	}

	if (!ev->denied && detect_path__is_archiver(path->p, path->len)) {
		ss->arch_ms = ev->time_ms;
		ss->arch_reads = reads_between(ss, ev->time_ms - c->s->cfg.burst_ms, ev->time_ms);
		memcpy(ss->arch_evuid, c->evuid, sizeof(ss->arch_evuid));
		set_str(ss->arch_path, sizeof(ss->arch_path), path);
	}
	return 0;
}

static int on_file(struct ctx *c, struct kind *k, uint8_t ctx)
{
	const struct detect_event *ev = c->ev;
	const struct detect_str *path = &ev->s[DETECT_F_FILE_PATH];
	struct session *ss = c->ss;
	bool warm = kind_warm(c->s, k, ev->time_ms), first;
	enum detect_path_class pc = detect_path__class(path->p, path->len);
	bool writes = ev->access & (DETECT_ACC_WRITE | DETECT_ACC_CREATE | DETECT_ACC_TRUNC);
	char folded[DETECT_FEATURE_MAX];
	size_t n;
	int err;

	if ((err = rate_count(c, DETECT_M_OPENS)))
		return err;
	if (ev->denied) {
		push_denial(ss, c, path, &ev->s[DETECT_F_FILE_UID], false);
		ss->ctx_ms[1] = ev->time_ms;
		if ((err = rate_count(c, DETECT_M_DENIALS)))
			return err;
	} else {
		if ((err = check_bypass(c, path, &ev->s[DETECT_F_FILE_UID], false)))
			return err;
		if (ev->access & DETECT_ACC_READ)
			count_read(c->s, ss, ev->time_ms);
		if (writes) {
			struct written *w = &ss->wr[ss->wr_next++ % WRITE_RING];

			w->ms = ev->time_ms;
			w->path_h = str_hash(path, 11);
		}
	}

	/* Files of security interest: sensitive ones, and writes that persist. Writes to /tmp
	 * are not features by themselves (package extraction shares names across agents); a
	 * dropped binary shows up when it is executed. */
	if (pc != DETECT_PC_NONE || (writes && detect_path__is_persistence(path->p, path->len))) {
		n = detect_path__fold(path->p, path->len, folded, sizeof(folded));
		if ((err = observe(c, DETECT_FT_FILE, folded, n, ctx, &first)))
			return err;
	}
	if (pc == DETECT_PC_NONE || !(ev->access & DETECT_ACC_READ))
		return 0;

	/* A sensitive read: novelty of the class for the kind, and S1's first half. */
	{
		bool agent_first = !(c->a->classes & (1u << pc));
		bool is_new = !k->class_agents[pc];
		bool usual;

		c->a->classes |= 1u << pc;
		if (is_new)
			k->class_flags[pc] = warm ? 0 : ITEM_WARM;
		if (agent_first && k->class_agents[pc] < 255)
			k->class_agents[pc]++;
		usual = established(c->s, k->class_flags[pc], k->class_agents[pc]) &&
			!(is_new && warm);
		n = detect_path__fold(path->p, path->len, folded, sizeof(folded));
		if (is_new && warm && novelty_budget(c)) {
			err = emit(c, DETECT_K_NOVEL_SENSITIVE, 3, 60, DETECT_FT_CLASS,
				   detect_path_class__name(pc), 0, NULL, NULL,
				   "agent %s %s %s (%s), a class of sensitive file no %s agent has "
				   "read before",
				   c->a->uid, ev->denied ? "tried to read" : "read", folded,
				   detect_path_class__name(pc), k->name);
			if (err)
				return err;
		}
		/* Context for stage 2: credentials unusual for the kind. .env files are not
		 * credentials enough to make a session suspicious. */
		if (!usual && warm && pc != DETECT_PC_ENV_FILE)
			ss->ctx_ms[0] = ev->time_ms;
		/* .env files are part of many coding workflows: they count for S1 only when
		 * unusual for the kind; credentials always do. */
		if (!ev->denied && (pc != DETECT_PC_ENV_FILE || !usual)) {
			ss->sens_ms = ev->time_ms;
			ss->sens_class = (uint8_t)pc;
			memcpy(ss->sens_evuid, c->evuid, sizeof(ss->sens_evuid));
			copy_cstr(ss->sens_path, sizeof(ss->sens_path), folded);
		}
	}
	return 0;
}

static int on_net(struct ctx *c, struct kind *k, uint8_t ctx)
{
	const struct detect_event *ev = c->ev;
	const struct detect_str *ip = &ev->s[DETECT_F_DST_IP];
	struct session *ss = c->ss;
	bool warm = kind_warm(c->s, k, ev->time_ms), first, created, is_new;
	char dst[80];
	struct item *it;
	int n, err;

	if ((err = rate_count(c, DETECT_M_CONNECTS)))
		return err;
	if (ev->denied) {
		ss->ctx_ms[1] = ev->time_ms;
		if ((err = rate_count(c, DETECT_M_DENIALS)))
			return err;
	}
	if (detect_ip__is_local(ip->p, ip->len))
		return 0;
	n = snprintf(dst, sizeof(dst), "%.*s:%u", (int)(ip->len > 64 ? 64 : ip->len), ip->p,
		     ev->dst_port);
	if ((err = observe(c, DETECT_FT_DST, dst, (size_t)n, ctx, &first)))
		return err;
	it = item_find(k->dests, detect_hash(dst, (size_t)n, 22), true, &created, c->st);
	if (created) {
		it->agents = 1;
		it->flags = warm ? 0 : ITEM_WARM;
		if (warm && !ev->denied && novelty_budget(c)) {
			err = emit(c, DETECT_K_NOVEL_EGRESS, 2, 40, DETECT_FT_DST, dst, 0, NULL,
				   NULL,
				   "agent %s connected to %s, a destination no %s agent has used "
				   "before",
				   c->a->uid, dst, k->name);
			if (err)
				return err;
		}
	} else if (first && it->agents < 255) {
		it->agents++;
	}
	is_new = warm && !established(c->s, it->flags, it->agents);
	if (!is_new || ev->denied)
		return 0;

	/* S1: sensitive read, then egress to a new destination. */
	if (ss->sens_ms && ev->time_ms - ss->sens_ms <= c->s->cfg.seq_exfil_ms) {
		err = emit(c, DETECT_K_SEQ_EXFIL, 4, 80, DETECT_FT_DST, dst, ss->sens_ms,
			   ss->sens_evuid, NULL,
			   "agent %s (%s) read %s (%s) and %llu s later connected to %s, a "
			   "destination new for its kind: possible credential exfiltration",
			   c->a->uid, c->a->name, ss->sens_path,
			   detect_path_class__name(ss->sens_class),
			   (unsigned long long)((ev->time_ms - ss->sens_ms) / 1000), dst);
		if (err)
			return err;
	}
	/* S2: burst of reads around an archiver, then egress to a new destination. */
	if (ss->arch_ms && ev->time_ms - ss->arch_ms <= c->s->cfg.archive_egress_ms &&
	    ss->arch_reads >= c->s->cfg.burst_reads) {
		err = emit(c, DETECT_K_SEQ_ARCHIVE, 4, 75, DETECT_FT_DST, dst, ss->arch_ms,
			   ss->arch_evuid, NULL,
			   "agent %s (%s) read %u files around running %s, then %llu s later "
			   "connected to %s, a destination new for its kind: possible staged "
			   "exfiltration",
			   c->a->uid, c->a->name, ss->arch_reads, ss->arch_path,
			   (unsigned long long)((ev->time_ms - ss->arch_ms) / 1000), dst);
		if (err)
			return err;
	}
	return 0;
}

int detect_stage1__event(struct detect_stage1 *s, const struct detect_event *ev,
			 const struct detect_sink *out, struct detect_stats *st)
{
	struct ctx c = {.s = s, .ev = ev, .out = out, .st = st};
	bool fresh, first;
	struct kind *k;
	uint8_t ctx;
	int err = 0;

	c.a = agent_get(s, ev, st, &fresh);
	if (!c.a)
		return -ENOMEM;
	k = &s->kinds[c.a->kind];
	rate_advance(s, c.a, ev->time_ms);
	c.ss = session_get(c.a, ev);
	copy_str(c.evuid, sizeof(c.evuid), &ev->s[DETECT_F_EVENT_UID]);
	ctx = session_ctx(s, c.ss, ev->time_ms);

	switch (ev->type) {
	case DETECT_EV_EXEC:
		err = on_exec(&c, k, ctx);
		break;
	case DETECT_EV_FILE:
		err = on_file(&c, k, ctx);
		break;
	case DETECT_EV_NET:
		err = on_net(&c, k, ctx);
		break;
	default:
		break;
	}
	if (!err && ev->denied && ev->s[DETECT_F_RULE].len)
		err = observe(&c, DETECT_FT_RULE, ev->s[DETECT_F_RULE].p, ev->s[DETECT_F_RULE].len,
			      ctx, &first);
	if (ev->time_ms > c.a->last_ms)
		c.a->last_ms = ev->time_ms;
	if (ev->time_ms > c.ss->last_ms)
		c.ss->last_ms = ev->time_ms;
	st->events++;
	return err;
}

/* ---- state ------------------------------------------------------------------------------ */

#define S1_MAGIC 0x31544341574155ULL /* "UAWACT1" */

int detect_stage1__save(const struct detect_stage1 *s, FILE *f)
{
	uint64_t magic = S1_MAGIC;
	uint32_t i, sz = sizeof(struct agent);
	size_t j;

	if (fwrite(&magic, sizeof(magic), 1, f) != 1 || fwrite(&sz, sizeof(sz), 1, f) != 1 ||
	    fwrite(&s->n_kinds, sizeof(s->n_kinds), 1, f) != 1 ||
	    fwrite(&s->n_agents, sizeof(s->n_agents), 1, f) != 1)
		return -EIO;
	for (i = 0; i < s->n_kinds; i++) {
		const struct kind *k = &s->kinds[i];

		if (fwrite(k, sizeof(*k), 1, f) != 1 ||
		    fwrite(k->bins, sizeof(*k->bins), ITEM_SLOTS, f) != ITEM_SLOTS ||
		    fwrite(k->dests, sizeof(*k->dests), ITEM_SLOTS, f) != ITEM_SLOTS)
			return -EIO;
	}
	for (j = 0; j < (size_t)s->n_buckets * AGENT_WAYS; j++)
		if (s->agents[j] && fwrite(s->agents[j], sizeof(struct agent), 1, f) != 1)
			return -EIO;
	return 0;
}

struct detect_stage1 *detect_stage1__load(const struct detect_config *cfg, FILE *f)
{
	struct detect_stage1 *s = detect_stage1__new(cfg);
	uint32_t i, sz, n_kinds, n_agents;
	uint64_t magic;

	if (!s)
		return NULL;
	if (fread(&magic, sizeof(magic), 1, f) != 1 || magic != S1_MAGIC ||
	    fread(&sz, sizeof(sz), 1, f) != 1 || sz != sizeof(struct agent) ||
	    fread(&n_kinds, sizeof(n_kinds), 1, f) != 1 || n_kinds > MAX_KINDS ||
	    fread(&n_agents, sizeof(n_agents), 1, f) != 1)
		goto out_free;
	for (i = 0; i < n_kinds; i++) {
		struct kind *k = &s->kinds[i];

		if (fread(k, sizeof(*k), 1, f) != 1)
			goto out_free;
		k->bins = calloc(ITEM_SLOTS, sizeof(*k->bins));
		k->dests = calloc(ITEM_SLOTS, sizeof(*k->dests));
		s->n_kinds = i + 1;
		if (!k->bins || !k->dests ||
		    fread(k->bins, sizeof(*k->bins), ITEM_SLOTS, f) != ITEM_SLOTS ||
		    fread(k->dests, sizeof(*k->dests), ITEM_SLOTS, f) != ITEM_SLOTS)
			goto out_free;
	}
	for (i = 0; i < n_agents; i++) {
		struct agent *a = malloc(sizeof(*a));
		struct agent **b;
		int w;

		if (!a || fread(a, sizeof(*a), 1, f) != 1 || a->kind >= s->n_kinds) {
			free(a);
			goto out_free;
		}
		b = &s->agents[(a->key % s->n_buckets) * AGENT_WAYS];
		for (w = 0; w < AGENT_WAYS && b[w]; w++)
			;
		if (w == AGENT_WAYS || s->n_agents >= cfg->max_agents) {
			free(a); /* a smaller table than the saver's: drop the overflow */
			continue;
		}
		b[w] = a;
		s->n_agents++;
	}
	return s;

out_free:
	detect_stage1__free(s);
	errno = EINVAL;
	return NULL;
}
