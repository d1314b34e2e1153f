// SPDX-License-Identifier: Apache-2.0
/*
 * Findings as OCSF 1.8.0 Detection Finding (class 2004, category 2 Findings, activity 1 Create):
 *
 *   severity_id, confidence_id, confidence_score   the detector's judgement
 *   finding_info   uid (deterministic: the same evidence gives the same uid, so a replay after a
 *                  crash or a rebalance repeats a finding rather than inventing a new one),
 *                  title, desc (the explanation), types [detector], analytic {name, type_id},
 *                  first_seen_time, last_seen_time, related_events [{uid: source metadata.uid}]
 *   evidences      [{data: {feature_type, feature}}] plus, when the feature is a destination,
 *                  a dst_endpoint {ip, port}
 *   message        the explanation
 *   unmapped       ai_agents [{uid, instance_uid, name}] (the 1.9.0-dev ai_agent object, as in
 *                  the events), agents_total, detector, feature {type, value}, evidence_uids
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "detect_sketch.h"
#include "json_writer.h"

static const char *const kind_names[DETECT_K__COUNT] = {
	[DETECT_K_NOVEL_BINARY] = "novel-binary",
	[DETECT_K_NOVEL_EGRESS] = "novel-egress",
	[DETECT_K_NOVEL_SENSITIVE] = "novel-sensitive-read",
	[DETECT_K_RATE] = "rate-anomaly",
	[DETECT_K_SEQ_EXFIL] = "seq-sensitive-read-egress",
	[DETECT_K_SEQ_ARCHIVE] = "seq-archive-egress",
	[DETECT_K_SEQ_BYPASS] = "seq-denial-bypass",
	[DETECT_K_CAMPAIGN] = "campaign",
};

static const char *const kind_titles[DETECT_K__COUNT] = {
	[DETECT_K_NOVEL_BINARY] = "Agent executed a binary new for its kind",
	[DETECT_K_NOVEL_EGRESS] = "Agent connected to a destination new for its kind",
	[DETECT_K_NOVEL_SENSITIVE] = "Agent read a sensitive file class new for its kind",
	[DETECT_K_RATE] = "Agent activity rate far above its baseline",
	[DETECT_K_SEQ_EXFIL] = "Sensitive read followed by egress to a new destination",
	[DETECT_K_SEQ_ARCHIVE] = "File burst, archiver and egress to a new destination",
	[DETECT_K_SEQ_BYPASS] = "Denied access retried through an alternate path",
	[DETECT_K_CAMPAIGN] = "Rare behaviour in many agents at once",
};

/* OCSF analytic type_id: 2 Behavioral, 3 Statistical. */
static const uint8_t kind_analytic[DETECT_K__COUNT] = {
	[DETECT_K_NOVEL_BINARY] = 2, [DETECT_K_NOVEL_EGRESS] = 2, [DETECT_K_NOVEL_SENSITIVE] = 2,
	[DETECT_K_RATE] = 3,	     [DETECT_K_SEQ_EXFIL] = 2,	  [DETECT_K_SEQ_ARCHIVE] = 2,
	[DETECT_K_SEQ_BYPASS] = 2,   [DETECT_K_CAMPAIGN] = 3,
};

static const char *const feature_names[DETECT_FT__COUNT] = {
	[DETECT_FT_DST] = "destination",    [DETECT_FT_BIN] = "binary",
	[DETECT_FT_FILE] = "file",	    [DETECT_FT_CMD] = "command-line shape",
	[DETECT_FT_RULE] = "denied rule",   [DETECT_FT_CLASS] = "sensitive class",
	[DETECT_FT_METRIC] = "rate metric",
};

const char *detect_kind__name(enum detect_kind k)
{
	return (unsigned int)k < DETECT_K__COUNT ? kind_names[k] : "unknown";
}

const char *detect_feature_type__name(enum detect_feature_type t)
{
	return (unsigned int)t < DETECT_FT__COUNT ? feature_names[t] : "unknown";
}

void detect_config__defaults(struct detect_config *c)
{
	memset(c, 0, sizeof(*c));
	c->kind_warmup_ms = 30 * 60 * 1000ULL;
	c->established_agents = 3;
	c->novelty_per_hour = 3;
	c->rate_bucket_ms = 60 * 1000ULL;
	c->rate_alpha = 0.05;
	c->rate_warmup = 20;
	c->rate_z = 8.0;
	c->rate_ratio = 6.0;
	c->rate_min[DETECT_M_OPENS] = 2000;
	c->rate_min[DETECT_M_EXECS] = 150;
	c->rate_min[DETECT_M_CONNECTS] = 100;
	c->rate_min[DETECT_M_DENIALS] = 20;
	c->seq_exfil_ms = 5 * 60 * 1000ULL;
	c->burst_reads = 20;
	c->burst_ms = 15 * 1000ULL;
	c->archive_egress_ms = 5 * 60 * 1000ULL;
	c->deny_alt_ms = 10 * 60 * 1000ULL;
	c->context_ms = 5 * 60 * 1000ULL;
	c->campaign_k = 3;
	c->campaign_ctx_agents = 3;
	c->campaign_k_plain = 10;
	c->campaign_plain_window_ms = 30 * 60 * 1000ULL;
	c->campaign_window_ms = 6 * 3600 * 1000ULL;
	c->campaign_rare_max = 2;
	c->campaign_hold_ms = 10 * 60 * 1000ULL;
	c->campaign_fleet_max = 0.2;
	c->campaign_warmup_ms = 30 * 60 * 1000ULL;
	c->max_agents = 65536;
	c->max_features = 16384;
	c->max_evidence = 8;
}

void detect_finding__seal(struct detect_finding *f)
{
	uint64_t h = detect_hash(f->feature, strlen(f->feature), 0xf1 + f->kind);

	if (f->n_agents) {
		h = detect_hash(f->agents[0].uid, strlen(f->agents[0].uid), h);
		if (f->kind != DETECT_K_CAMPAIGN)
			h = detect_hash(f->agents[0].session, strlen(f->agents[0].session), h);
	}
	if (f->kind != DETECT_K_CAMPAIGN && f->n_evidence)
		h = detect_hash(f->evidence[0], strlen(f->evidence[0]), h);
	f->uid = h;
}

static const char *const severity_names[] = {"Unknown", "Informational", "Low",	 "Medium",
					     "High",	"Critical",	 "Fatal"};
static const char *const confidence_names[] = {"Unknown", "Low", "Medium", "High"};

/* "ip:port" -> dst_endpoint, when the value has that shape. */
static void write_endpoint(struct json_writer *w, const char *v)
{
	const char *colon = strrchr(v, ':');
	unsigned long port;
	char *end;

	if (!colon || colon == v)
		return;
	port = strtoul(colon + 1, &end, 10);
	if (*end || port > 65535)
		return;
	json_writer__key(w, "dst_endpoint");
	json_writer__object_begin(w);
	json_writer__kv_string_len(w, "ip", v, (size_t)(colon - v));
	json_writer__kv_uint(w, "port", port);
	json_writer__object_end(w);
}

int detect_finding__encode(const struct detect_finding *f, char *buf, size_t size)
{
	uint8_t sev = f->severity_id <= 6 ? f->severity_id : 0;
	uint8_t conf = f->confidence_id <= 3 ? f->confidence_id : 0;
	char uid[24];
	struct json_writer w;
	uint32_t i;

	snprintf(uid, sizeof(uid), "%016llx", (unsigned long long)f->uid);
	json_writer__init(&w, buf, size);
	json_writer__object_begin(&w);
	json_writer__kv_uint(&w, "activity_id", 1);
	json_writer__kv_string(&w, "activity_name", "Create");
	json_writer__kv_uint(&w, "category_uid", 2);
	json_writer__kv_string(&w, "category_name", "Findings");
	json_writer__kv_uint(&w, "class_uid", 2004);
	json_writer__kv_string(&w, "class_name", "Detection Finding");
	json_writer__kv_uint(&w, "type_uid", 200401);
	json_writer__kv_string(&w, "type_name", "Detection Finding: Create");
	json_writer__kv_uint(&w, "severity_id", sev);
	json_writer__kv_string(&w, "severity", severity_names[sev]);
	json_writer__kv_uint(&w, "confidence_id", conf);
	json_writer__kv_string(&w, "confidence", confidence_names[conf]);
	json_writer__kv_uint(&w, "confidence_score", f->confidence);
	json_writer__kv_bool(&w, "is_alert", true);
	json_writer__kv_uint(&w, "status_id", 1);
	json_writer__kv_string(&w, "status", "New");
	json_writer__kv_uint(&w, "time", f->time_ms);
	json_writer__kv_uint(&w, "start_time", f->first_ms);
	json_writer__kv_uint(&w, "end_time", f->last_ms);
	json_writer__kv_string(&w, "message", f->explain);

	json_writer__key(&w, "metadata");
	json_writer__object_begin(&w);
	json_writer__kv_string(&w, "version", "1.8.0");
	json_writer__key(&w, "product");
	json_writer__object_begin(&w);
	json_writer__kv_string(&w, "name", "agentwatch");
	json_writer__kv_string(&w, "vendor_name", "agentwatch");
	json_writer__kv_string(&w, "version", AW_VERSION);
	json_writer__object_end(&w);
	json_writer__kv_string(&w, "uid", uid);
	json_writer__object_end(&w);

	json_writer__key(&w, "finding_info");
	json_writer__object_begin(&w);
	json_writer__kv_string(&w, "uid", uid);
	json_writer__kv_string(&w, "title", kind_titles[f->kind]);
	json_writer__kv_string(&w, "desc", f->explain);
	json_writer__key(&w, "types");
	json_writer__array_begin(&w);
	json_writer__string(&w, kind_names[f->kind]);
	json_writer__array_end(&w);
	json_writer__key(&w, "analytic");
	json_writer__object_begin(&w);
	json_writer__kv_string(&w, "name", kind_names[f->kind]);
	json_writer__kv_uint(&w, "type_id", kind_analytic[f->kind]);
	json_writer__kv_string(&w, "type",
			       kind_analytic[f->kind] == 3 ? "Statistical" : "Behavioral");
	json_writer__object_end(&w);
	json_writer__kv_uint(&w, "first_seen_time", f->first_ms);
	json_writer__kv_uint(&w, "last_seen_time", f->last_ms);
	if (f->n_evidence) {
		json_writer__key(&w, "related_events");
		json_writer__array_begin(&w);
		for (i = 0; i < f->n_evidence; i++) {
			json_writer__object_begin(&w);
			json_writer__kv_string(&w, "uid", f->evidence[i]);
			json_writer__object_end(&w);
		}
		json_writer__array_end(&w);
		json_writer__kv_uint(&w, "related_events_count", f->n_evidence);
	}
	json_writer__object_end(&w);

	json_writer__key(&w, "evidences");
	json_writer__array_begin(&w);
	json_writer__object_begin(&w);
	json_writer__kv_string(&w, "name", detect_feature_type__name(f->feature_type));
	json_writer__key(&w, "data");
	json_writer__object_begin(&w);
	json_writer__kv_string(&w, "feature_type", detect_feature_type__name(f->feature_type));
	json_writer__kv_string(&w, "feature", f->feature);
	json_writer__object_end(&w);
	if (f->feature_type == DETECT_FT_DST)
		write_endpoint(&w, f->feature);
	json_writer__object_end(&w);
	json_writer__array_end(&w);

	json_writer__key(&w, "unmapped");
	json_writer__object_begin(&w);
	json_writer__kv_string(&w, "detector", kind_names[f->kind]);
	json_writer__key(&w, "feature");
	json_writer__object_begin(&w);
	json_writer__kv_string(&w, "type", detect_feature_type__name(f->feature_type));
	json_writer__kv_string(&w, "value", f->feature);
	json_writer__object_end(&w);
	json_writer__kv_uint(&w, "agents_total", f->agents_total);
	json_writer__key(&w, "ai_agents");
	json_writer__array_begin(&w);
	for (i = 0; i < f->n_agents; i++) {
		json_writer__object_begin(&w);
		json_writer__kv_string(&w, "uid", f->agents[i].uid);
		if (f->agents[i].session[0])
			json_writer__kv_string(&w, "instance_uid", f->agents[i].session);
		if (f->agents[i].name[0])
			json_writer__kv_string(&w, "name", f->agents[i].name);
		json_writer__object_end(&w);
	}
	json_writer__array_end(&w);
	json_writer__key(&w, "evidence_uids");
	json_writer__array_begin(&w);
	for (i = 0; i < f->n_evidence; i++)
		json_writer__string(&w, f->evidence[i]);
	json_writer__array_end(&w);
	json_writer__object_end(&w);
	json_writer__object_end(&w);
	return json_writer__finish(&w);
}
