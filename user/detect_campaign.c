// SPDX-License-Identifier: Apache-2.0
/*
 * Stage 2 of the detector: cross-agent campaigns (docs/detect.md, "Stage 2").
 *
 * A campaign is a feature (destination, binary, file, command-line shape, denied rule) that is
 * rare in the fleet's history yet shows up in several distinct agents within a window. Input is
 * stage 1's observations: one per agent and feature, with the session's context bits.
 *
 *   history   count-min sketch of distinct (feature, agent) observations, halved every
 *             history_halflife: "how many agents ever showed this", in fixed memory;
 *   tracked   only rare features are tracked, in a fixed-size 4-way table: per feature the
 *             last FEAT_AGENTS agents (exact, with times, context and evidence) and a 256-bit
 *             linear-counting sketch of all its agents; eviction prefers single-agent entries;
 *   fleet     two rotating HyperLogLogs of the agents seen, for "how many agents are active".
 *
 * Decision, for a tracked feature that is rare (agents before the window <= rare_max):
 *   - >= campaign_k agents in the window, >= campaign_ctx_agents of them with suspicious
 *     context: a campaign, reported at once (High);
 *   - >= campaign_k_plain agents within campaign_plain_window_ms (a fast spread) without that
 *     context: held for campaign_hold_ms; if it then
 *     covers more than campaign_fleet_max of the active fleet it is a rollout (a new mirror
 *     everyone uses) and suppressed, else reported (Medium).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "detect_sketch.h"

#define FEAT_WAYS    4
#define FEAT_AGENTS  12
#define MAX_HELD     256
#define CMS_WIDTH    (1u << 15)
#define HISTORY_HALF (24ULL * 3600 * 1000)
#define LC_BITS	     256

struct fagent {
	uint64_t hash, first_ms, last_ms;
	uint8_t ctx;
	struct detect_identity id;
	char evuid[DETECT_EVUID_MAX];
};

struct feature {
	uint64_t hash;
	uint8_t type;
	uint8_t reported, held, suppressed;
	uint32_t n;	   /* entries used in agents[] */
	uint32_t prior;	   /* history estimate when tracking began */
	uint32_t expired;  /* agents dropped from agents[] after they left the window */
	uint32_t overflow; /* agents dropped from agents[] while still in it */
	uint8_t in_warmup; /* first seen while the history was still being learned */
	uint64_t first_ms, last_ms, hold_until;
	uint64_t lc[LC_BITS / 64]; /* linear counting of every agent while tracked */
	char value[DETECT_FEATURE_MAX];
	struct fagent agents[FEAT_AGENTS];
};

struct detect_stage2 {
	struct detect_config cfg;
	struct cms history;
	struct hll fleet[2];
	uint64_t fleet_epoch; /* fleet[epoch & 1] is the current half-window */
	uint64_t first_ms, now_ms, decay_ms;
	uint32_t n_buckets, n_features;
	struct feature **tab;
	uint32_t n_held;
	uint64_t held[MAX_HELD];
};

struct detect_stage2 *detect_stage2__new(const struct detect_config *cfg)
{
	struct detect_stage2 *s = calloc(1, sizeof(*s));
	uint32_t n = 1;

	if (!s)
		return NULL;
	s->cfg = *cfg;
	while (n * FEAT_WAYS < (cfg->max_features ? cfg->max_features : 1))
		n <<= 1;
	s->n_buckets = n;
	s->tab = calloc((size_t)n * FEAT_WAYS, sizeof(*s->tab));
	if (!s->tab || cms__init(&s->history, CMS_WIDTH)) {
		free(s->tab);
		free(s);
		return NULL;
	}
	return s;
}

void detect_stage2__free(struct detect_stage2 *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < (size_t)s->n_buckets * FEAT_WAYS; i++)
		free(s->tab[i]);
	free(s->tab);
	cms__free(&s->history);
	free(s);
}

size_t detect_stage2__memory(const struct detect_stage2 *s)
{
	return sizeof(*s) + (size_t)s->n_buckets * FEAT_WAYS * sizeof(*s->tab) +
	       (size_t)s->n_features * sizeof(struct feature) +
	       (size_t)CMS_DEPTH * s->history.width * sizeof(uint32_t);
}

static uint32_t lc_count(const struct feature *f)
{
	unsigned int zeros = 0, i;

	for (i = 0; i < LC_BITS / 64; i++)
		zeros += 64 - (unsigned int)__builtin_popcountll(f->lc[i]);
	if (!zeros)
		zeros = 1;
	return (uint32_t)(LC_BITS * detect_ln((double)LC_BITS / zeros) + 0.5);
}

static void lc_add(struct feature *f, uint64_t agent)
{
	uint64_t x = detect_mix64(agent ^ 0x5bd1e995ULL) % LC_BITS;

	f->lc[x / 64] |= 1ULL << (x % 64);
}

static struct feature **feature_slot(struct detect_stage2 *s, uint64_t h)
{
	struct feature **b = &s->tab[(h % s->n_buckets) * FEAT_WAYS];
	int i;

	for (i = 0; i < FEAT_WAYS; i++)
		if (b[i] && b[i]->hash == h)
			return &b[i];
	return NULL;
}

/* Room for a new feature: an empty way, or evict the least valuable one. */
static struct feature **feature_room(struct detect_stage2 *s, uint64_t h, struct detect_stats *st)
{
	struct feature **b = &s->tab[(h % s->n_buckets) * FEAT_WAYS], **victim = NULL;
	int i;

	for (i = 0; i < FEAT_WAYS; i++)
		if (!b[i])
			return &b[i];
	for (i = 0; i < FEAT_WAYS; i++) {
		/* Fewest agents first, then the oldest; a held candidate last of all. */
		uint64_t score = ((uint64_t)(b[i]->held ? 1 : 0) << 62) |
				 ((uint64_t)(b[i]->n > 15 ? 15 : b[i]->n) << 56) |
				 (b[i]->last_ms >> 8);
		uint64_t best = victim ? (((uint64_t)((*victim)->held ? 1 : 0) << 62) |
					  ((uint64_t)((*victim)->n > 15 ? 15 : (*victim)->n)
					   << 56) |
					  ((*victim)->last_ms >> 8))
				       : UINT64_MAX;

		if (score < best)
			victim = &b[i];
	}
	free(*victim);
	*victim = NULL;
	s->n_features--;
	st->features_evicted++;
	return victim;
}

static void fleet_add(struct detect_stage2 *s, uint64_t agent, uint64_t now)
{
	uint64_t half = s->cfg.campaign_window_ms / 2 ? s->cfg.campaign_window_ms / 2 : 1;
	uint64_t epoch = now / half;

	if (epoch > s->fleet_epoch) {
		/* The older half is forgotten; the window is [W/2, W] long. */
		if (epoch > s->fleet_epoch + 1)
			memset(&s->fleet[(epoch + 1) & 1], 0, sizeof(s->fleet[0]));
		memset(&s->fleet[epoch & 1], 0, sizeof(s->fleet[0]));
		s->fleet_epoch = epoch;
	}
	hll__add(&s->fleet[epoch & 1], agent);
}

static double fleet_count(const struct detect_stage2 *s)
{
	struct hll h = s->fleet[0];

	hll__merge(&h, &s->fleet[1]);
	return hll__count(&h);
}

struct window {
	uint32_t n, n_ctx;
	uint32_t n_old;	   /* listed agents last seen before the window: history */
	uint32_t n_recent; /* agents whose first sighting is within campaign_plain_window_ms */
	uint8_t ctx;
	uint64_t first_ms;
};

static struct window window_of(const struct detect_stage2 *s, const struct feature *f, uint64_t now)
{
	struct window w = {.first_ms = UINT64_MAX};
	uint32_t i;

	for (i = 0; i < f->n; i++) {
		const struct fagent *a = &f->agents[i];

		if (now > a->last_ms + s->cfg.campaign_window_ms) {
			w.n_old++;
			continue;
		}
		w.n++;
		if (now <= a->first_ms + s->cfg.campaign_plain_window_ms)
			w.n_recent++;
		if (a->ctx) {
			w.n_ctx++;
			w.ctx |= a->ctx;
		}
		if (a->first_ms < w.first_ms)
			w.first_ms = a->first_ms;
	}
	return w;
}

/* Agents that showed the feature before the window: the fleet's history of it. */
static uint32_t prior_agents(const struct feature *f, const struct window *w)
{
	return f->prior + f->expired + w->n_old;
}

static int ctx_names(uint8_t ctx, char *buf, size_t size)
{
	static const char *const names[] = {"unusual sensitive reads", "denials",
					    "unusual binaries", "per-agent findings"};
	size_t n = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < 4; i++)
		if (ctx & (1u << i))
			n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s",
					      n ? ", " : "", names[i]);
	return 0;
}

static int report(struct detect_stage2 *s, struct feature *f, const struct window *w, bool plain,
		  double fleet, const struct detect_sink *out, struct detect_stats *st)
{
	struct detect_finding fd;
	char ctxs[128];
	uint32_t i, prior = prior_agents(f, w);

	memset(&fd, 0, sizeof(fd));
	fd.kind = DETECT_K_CAMPAIGN;
	fd.feature_type = f->type;
	fd.time_ms = s->now_ms;
	fd.first_ms = w->first_ms;
	fd.last_ms = s->now_ms;
	snprintf(fd.feature, sizeof(fd.feature), "%s", f->value);
	for (i = 0; i < f->n && fd.n_agents < DETECT_AGENTS_MAX; i++) {
		const struct fagent *a = &f->agents[i];

		if (s->now_ms > a->last_ms + s->cfg.campaign_window_ms)
			continue;
		fd.agents[fd.n_agents++] = a->id;
		if (fd.n_evidence < s->cfg.max_evidence && fd.n_evidence < DETECT_EVIDENCE_MAX &&
		    a->evuid[0])
			memcpy(fd.evidence[fd.n_evidence++], a->evuid, DETECT_EVUID_MAX);
	}
	fd.agents_total = w->n + f->overflow;
	if (plain) {
		fd.severity_id = 3;
		fd.confidence = 50;
	} else {
		fd.severity_id = w->n_ctx >= 2 * s->cfg.campaign_ctx_agents ? 5 : 4;
		fd.confidence = (uint8_t)(w->n_ctx >= 2 * s->cfg.campaign_ctx_agents ? 90 : 80);
	}
	fd.confidence_id = fd.confidence >= 75 ? 3 : 2;
	ctx_names(w->ctx, ctxs, sizeof(ctxs));
	snprintf(fd.explain, sizeof(fd.explain),
		 "%s %s was seen in %u distinct agents within %llu min (%u of them with %s), "
		 "but in only %u agent%s of the fleet before; %.0f agents are active. The same "
		 "rare "
		 "behaviour in many agents at once points at a shared cause: an injected prompt in "
		 "a "
		 "shared repository, a poisoned package or a malicious tool server",
		 detect_feature_type__name(f->type), f->value, w->n + f->overflow,
		 (unsigned long long)(s->cfg.campaign_window_ms / 60000), w->n_ctx,
		 plain ? "suspicious context" : ctxs, prior, prior == 1 ? "" : "s", fleet);
	detect_finding__seal(&fd);
	f->reported = 1;
	st->findings[DETECT_K_CAMPAIGN]++;
	return out && out->finding ? out->finding(out->ctx, &fd) : 0;
}

/* Held candidates whose hold has run out: report or suppress as a rollout. */
static int decide_held(struct detect_stage2 *s, bool all, const struct detect_sink *out,
		       struct detect_stats *st)
{
	uint32_t i = 0;
	int err;

	while (i < s->n_held) {
		struct feature **slot = feature_slot(s, s->held[i]);
		struct feature *f = slot ? *slot : NULL;
		struct window w;
		double fleet;

		if (f && !all && s->now_ms < f->hold_until && !f->reported) {
			i++;
			continue;
		}
		s->held[i] = s->held[--s->n_held];
		if (!f || f->reported)
			continue;
		f->held = 0;
		w = window_of(s, f, s->now_ms);
		fleet = fleet_count(s);
		if (prior_agents(f, &w) > s->cfg.campaign_rare_max)
			continue;
		if (fleet > 0 && lc_count(f) > s->cfg.campaign_fleet_max * fleet) {
			f->suppressed = 1;
			st->rollouts_suppressed++;
			continue;
		}
		if ((err = report(s, f, &w, true, fleet, out, st)))
			return err;
	}
	return 0;
}

static bool warm_at(const struct detect_stage2 *s, uint64_t t)
{
	return t >= s->first_ms + s->cfg.campaign_warmup_ms;
}

int detect_stage2__obs(struct detect_stage2 *s, const struct detect_obs *o,
		       const struct detect_sink *out, struct detect_stats *st)
{
	uint64_t h = o->feature_hash | 1;
	struct feature **slot, *f;
	struct fagent *a = NULL;
	struct window w;
	uint32_t i, est;
	int err;

	if (!s->first_ms) {
		s->first_ms = o->time_ms;
		s->decay_ms = o->time_ms;
	} else if (o->time_ms < s->first_ms) {
		s->first_ms = o->time_ms; /* the earliest event seen, whatever the arrival order */
	}
	if (o->time_ms > s->now_ms)
		s->now_ms = o->time_ms;
	if (s->now_ms >= s->decay_ms + HISTORY_HALF) {
		cms__decay(&s->history);
		s->decay_ms = s->now_ms;
	}
	fleet_add(s, o->agent_hash, o->time_ms);
	if (s->n_held && (err = decide_held(s, false, out, st)))
		return err;

	slot = feature_slot(s, h);
	if (slot && (*slot)->in_warmup && warm_at(s, o->time_ms)) {
		/* Learned during warm-up: its agents are in the history; judge it afresh. */
		free(*slot);
		*slot = NULL;
		s->n_features--;
		slot = NULL;
	}
	if (!slot) {
		est = cms__get(&s->history, h);
		cms__add(&s->history, h);
		/* Common already: never a campaign, not worth a slot. */
		if (est > s->cfg.campaign_rare_max)
			return 0;
		slot = feature_room(s, h, st);
		f = calloc(1, sizeof(*f));
		if (!f)
			return -ENOMEM;
		f->hash = h;
		f->type = o->type;
		f->prior = est;
		f->first_ms = o->time_ms;
		f->in_warmup = !warm_at(s, o->time_ms);
		snprintf(f->value, sizeof(f->value), "%s", o->feature);
		*slot = f;
		s->n_features++;
	}
	f = *slot;
	if (o->time_ms > f->last_ms)
		f->last_ms = o->time_ms;
	for (i = 0; i < f->n; i++)
		if (f->agents[i].hash == o->agent_hash) {
			a = &f->agents[i];
			break;
		}
	if (!a) {
		if (f->n) /* the first agent was counted when the entry was made */
			cms__add(&s->history, h);
		lc_add(f, o->agent_hash);
		if (f->n < FEAT_AGENTS) {
			a = &f->agents[f->n++];
		} else {
			a = &f->agents[0];
			for (i = 1; i < f->n; i++)
				if (f->agents[i].last_ms < a->last_ms)
					a = &f->agents[i];
			if (o->time_ms > a->last_ms + s->cfg.campaign_window_ms)
				f->expired++;
			else
				f->overflow++;
		}
		memset(a, 0, sizeof(*a));
		a->hash = o->agent_hash;
		a->first_ms = o->time_ms;
		a->id = o->agent;
		memcpy(a->evuid, o->event_uid, sizeof(a->evuid));
	}
	if (o->time_ms > a->last_ms)
		a->last_ms = o->time_ms;
	a->ctx |= o->ctx;

	/* Judged at the observation's own time, not the shard's latest: partitions of stage 1
	 * interleave differently with one consumer or three, and the decision must not care. */
	if (f->reported || f->suppressed || !warm_at(s, o->time_ms))
		return 0;
	w = window_of(s, f, o->time_ms);
	if (prior_agents(f, &w) > s->cfg.campaign_rare_max) {
		/* No longer rare: stop tracking it. */
		free(f);
		*slot = NULL;
		s->n_features--;
		return 0;
	}
	/* Context in enough agents, and in at least half of them: a feature many clean agents
	 * share is not made a campaign by a few suspicious sessions that also touched it. */
	if (w.n >= s->cfg.campaign_k && w.n_ctx >= s->cfg.campaign_ctx_agents && 2 * w.n_ctx >= w.n)
		return report(s, f, &w, false, fleet_count(s), out, st);
	if (s->cfg.campaign_k_plain && w.n_recent >= s->cfg.campaign_k_plain && !f->held &&
	    s->n_held < MAX_HELD) {
		f->held = 1;
		f->hold_until = s->now_ms + s->cfg.campaign_hold_ms;
		s->held[s->n_held++] = h;
	}
	return 0;
}

int detect_stage2__flush(struct detect_stage2 *s, const struct detect_sink *out,
			 struct detect_stats *st)
{
	return decide_held(s, true, out, st);
}

/* ---- state ------------------------------------------------------------------------------ */

#define S2_MAGIC 0x32544341574155ULL

int detect_stage2__save(const struct detect_stage2 *s, FILE *f)
{
	uint64_t magic = S2_MAGIC;
	uint32_t sz = sizeof(struct feature);
	size_t i;

	if (fwrite(&magic, sizeof(magic), 1, f) != 1 || fwrite(&sz, sizeof(sz), 1, f) != 1 ||
	    fwrite(s->fleet, sizeof(s->fleet), 1, f) != 1 ||
	    fwrite(&s->fleet_epoch, sizeof(uint64_t), 1, f) != 1 ||
	    fwrite(&s->first_ms, sizeof(uint64_t), 1, f) != 1 ||
	    fwrite(&s->now_ms, sizeof(uint64_t), 1, f) != 1 ||
	    fwrite(&s->decay_ms, sizeof(uint64_t), 1, f) != 1 ||
	    fwrite(&s->n_held, sizeof(s->n_held), 1, f) != 1 ||
	    fwrite(s->held, sizeof(s->held[0]), s->n_held, f) != s->n_held ||
	    fwrite(&s->n_features, sizeof(s->n_features), 1, f) != 1 || cms__save(&s->history, f))
		return -EIO;
	for (i = 0; i < (size_t)s->n_buckets * FEAT_WAYS; i++)
		if (s->tab[i] && fwrite(s->tab[i], sizeof(struct feature), 1, f) != 1)
			return -EIO;
	return 0;
}

struct detect_stage2 *detect_stage2__load(const struct detect_config *cfg, FILE *f)
{
	struct detect_stage2 *s = detect_stage2__new(cfg);
	uint32_t sz, n, i;
	uint64_t magic;

	if (!s)
		return NULL;
	cms__free(&s->history);
	if (fread(&magic, sizeof(magic), 1, f) != 1 || magic != S2_MAGIC ||
	    fread(&sz, sizeof(sz), 1, f) != 1 || sz != sizeof(struct feature) ||
	    fread(s->fleet, sizeof(s->fleet), 1, f) != 1 ||
	    fread(&s->fleet_epoch, sizeof(uint64_t), 1, f) != 1 ||
	    fread(&s->first_ms, sizeof(uint64_t), 1, f) != 1 ||
	    fread(&s->now_ms, sizeof(uint64_t), 1, f) != 1 ||
	    fread(&s->decay_ms, sizeof(uint64_t), 1, f) != 1 ||
	    fread(&s->n_held, sizeof(s->n_held), 1, f) != 1 || s->n_held > MAX_HELD ||
	    fread(s->held, sizeof(s->held[0]), s->n_held, f) != s->n_held ||
	    fread(&n, sizeof(n), 1, f) != 1 || cms__load(&s->history, f))
		goto out_free;
	for (i = 0; i < n; i++) {
		struct feature *ft = malloc(sizeof(*ft)), **b;
		int w;

		if (!ft || fread(ft, sizeof(*ft), 1, f) != 1) {
			free(ft);
			goto out_free;
		}
		b = &s->tab[(ft->hash % s->n_buckets) * FEAT_WAYS];
		for (w = 0; w < FEAT_WAYS && b[w]; w++)
			;
		if (w == FEAT_WAYS) {
			free(ft);
			continue;
		}
		b[w] = ft;
		s->n_features++;
	}
	return s;

out_free:
	if (!s->history.rows)
		cms__init(&s->history, CMS_WIDTH);
	detect_stage2__free(s);
	errno = EINVAL;
	return NULL;
}
