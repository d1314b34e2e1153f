/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agentwatch detect: cross-agent anomaly detection over the OCSF audit stream.
 *
 * The detector reads agentwatch's OCSF JSON lines (from a file or Kafka), keeps per-agent and
 * per-feature state, and writes OCSF Detection Findings (class 2004). docs/detect.md explains
 * the detectors, their parameters and the Kafka topology; this header is the engine's API.
 *
 *   line ──detect_input__parse──▶ struct detect_event
 *        ──detect_stage1__event──▶ per-agent findings (novelty, rates, sequences)
 *                                 + struct detect_obs (compact feature observations)
 *   obs  ──detect_stage2__obs────▶ campaign findings (rare feature in ≥k agents within W)
 *
 * State is kept per shard. A shard is what one Kafka partition owns: stage 1 shards are keyed
 * by agent, stage 2 shards by feature, so each piece of state lives in exactly one shard and a
 * shard moves between consumers as a whole (detect_state.c serializes one). Offline input uses
 * one shard of each stage.
 *
 * All time is event time (the events' "time", in ms), so a replay gives the same findings as
 * the live run, whatever the consumer count or speed.
 *
 * Functions return 0 or -errno. Nothing here is thread-safe: a shard belongs to one thread.
 */
#ifndef AGENTWATCH_DETECT_H
#define AGENTWATCH_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- input: the fields the detector reads from one OCSF event --------------------------- */

struct detect_str {
	const char *p; /* not NUL-terminated; NULL when absent */
	uint32_t len;
};

/* Which fields were present, as bits (1u << DETECT_F_*). */
enum detect_field {
	DETECT_F_CLASS_UID,
	DETECT_F_ACTIVITY_ID,
	DETECT_F_TIME,
	DETECT_F_DISPOSITION_ID,
	DETECT_F_ACTION_ID,
	DETECT_F_LAUNCH_TYPE_ID,
	DETECT_F_EVENT_UID,  /* metadata.uid */
	DETECT_F_EXE_PATH,   /* process.file.path */
	DETECT_F_EXE_UID,    /* process.file.uid (dev:ino) */
	DETECT_F_CMD_LINE,   /* process.cmd_line */
	DETECT_F_ACTOR_NAME, /* actor.process.name */
	DETECT_F_FILE_PATH,
	DETECT_F_FILE_UID,
	DETECT_F_ACCESS_MASK,
	DETECT_F_ACCESS, /* unmapped.access[] */
	DETECT_F_DST_IP,
	DETECT_F_DST_PORT,
	DETECT_F_DIRECTION_ID,
	DETECT_F_AGENT_UID, /* unmapped.ai_agent.uid */
	DETECT_F_SESSION,   /* unmapped.ai_agent.instance_uid */
	DETECT_F_AGENT_NAME,
	DETECT_F_IMAGE, /* container.image.name: the agent kind when present */
	DETECT_F_RULE,	/* unmapped.rule */
	DETECT_F__COUNT,
};

/* Access bits, from unmapped.access or access_mask. */
#define DETECT_ACC_READ	  0x1
#define DETECT_ACC_WRITE  0x2
#define DETECT_ACC_CREATE 0x4
#define DETECT_ACC_TRUNC  0x8
#define DETECT_ACC_EXEC	  0x10

enum detect_ev_type {
	DETECT_EV_IGNORED, /* a known class the detector does not use (exit, fork, syscall) */
	DETECT_EV_EXEC,
	DETECT_EV_FILE,
	DETECT_EV_NET,
};

struct detect_event {
	uint32_t have; /* bits of enum detect_field */
	uint32_t class_uid;
	uint32_t activity_id;
	uint32_t disposition_id;
	uint32_t action_id;
	uint32_t launch_type_id;
	uint32_t direction_id;
	uint32_t access; /* DETECT_ACC_* */
	uint64_t access_mask;
	uint64_t time_ms;
	uint32_t dst_port;
	enum detect_ev_type type; /* set by detect_event__classify() */
	bool denied;		  /* blocked, or would have been (audit mode) */
	struct detect_str s[DETECT_F__COUNT];
};

/*
 * Parse one JSON line. `scratch` holds unescaped copies of strings that had escapes; the
 * event's strings point into `line` or `scratch`, so both must outlive the event.
 * Returns 0, -EINVAL for malformed JSON (or not an object), -E2BIG when nesting or the
 * scratch space is exhausted.
 */
int detect_input__parse(const char *line, size_t len, struct detect_event *ev, char *scratch,
			size_t scratch_size);
/*
 * Sets ev->type and ev->denied. Returns 0, -EPROTONOSUPPORT for a class_uid the detector does
 * not know, or -ENODATA when a field the class needs is missing.
 */
int detect_event__classify(struct detect_event *ev);

/* ---- configuration ---------------------------------------------------------------------- */

enum detect_metric {
	DETECT_M_OPENS,
	DETECT_M_EXECS,
	DETECT_M_CONNECTS,
	DETECT_M_DENIALS,
	DETECT_M__COUNT,
};

struct detect_config {
	/* novelty */
	uint64_t kind_warmup_ms;     /* learn a kind's baseline silently this long */
	uint32_t established_agents; /* an item used by this many agents is normal for the kind */
	uint32_t novelty_per_hour;   /* novelty findings per agent and hour, at most */
	/* rates */
	uint64_t rate_bucket_ms;
	double rate_alpha;		    /* EWMA weight of a new active bucket */
	uint32_t rate_warmup;		    /* active buckets before the agent is judged */
	double rate_z;			    /* deviations above the mean */
	double rate_ratio;		    /* and at least this multiple of the mean */
	uint32_t rate_min[DETECT_M__COUNT]; /* and at least this many in the bucket */
	/* sequences */
	uint64_t seq_exfil_ms;	    /* sensitive read -> new egress */
	uint32_t burst_reads;	    /* reads around an archive exec that make a burst */
	uint64_t burst_ms;	    /* the window around the archive exec */
	uint64_t archive_egress_ms; /* archive exec -> new egress */
	uint64_t deny_alt_ms;	    /* denial -> alternate path */
	uint64_t context_ms;	    /* how long a session stays "suspicious" for stage 2 */
	/* campaigns */
	uint32_t campaign_k;		   /* distinct agents, with context */
	uint32_t campaign_ctx_agents;	   /* of which this many had suspicious context */
	uint32_t campaign_k_plain;	   /* distinct agents, without context (0: never) */
	uint64_t campaign_plain_window_ms; /* ... whose first sighting is this recent */
	uint64_t campaign_window_ms;
	uint32_t campaign_rare_max; /* distinct agents before the window for "rare" */
	uint64_t campaign_hold_ms;  /* how long a context-free candidate is watched */
	double campaign_fleet_max;  /* share of active agents above which it is a rollout */
	uint64_t campaign_warmup_ms;
	uint32_t max_agents;   /* per stage-1 shard */
	uint32_t max_features; /* per stage-2 shard */
	uint32_t max_evidence; /* event ids per finding */
};

void detect_config__defaults(struct detect_config *c);

/* ---- outputs ---------------------------------------------------------------------------- */

enum detect_kind {
	DETECT_K_NOVEL_BINARY,
	DETECT_K_NOVEL_EGRESS,
	DETECT_K_NOVEL_SENSITIVE,
	DETECT_K_RATE,
	DETECT_K_SEQ_EXFIL,
	DETECT_K_SEQ_ARCHIVE,
	DETECT_K_SEQ_BYPASS,
	DETECT_K_CAMPAIGN,
	DETECT_K__COUNT,
};

enum detect_feature_type {
	DETECT_FT_DST,	  /* ip:port */
	DETECT_FT_BIN,	  /* executable path, home directories folded to ~ */
	DETECT_FT_FILE,	  /* file path of security interest, folded */
	DETECT_FT_CMD,	  /* command-line shape */
	DETECT_FT_RULE,	  /* denied rule */
	DETECT_FT_CLASS,  /* sensitive path class (stage 1 only) */
	DETECT_FT_METRIC, /* rate metric (stage 1 only) */
	DETECT_FT__COUNT,
};

const char *detect_kind__name(enum detect_kind k);
const char *detect_feature_type__name(enum detect_feature_type t);

#define DETECT_UID_MAX	    48 /* agent and session uids (UUIDs are 36) */
#define DETECT_NAME_MAX	    48
#define DETECT_EVUID_MAX    32
#define DETECT_FEATURE_MAX  192
#define DETECT_EVIDENCE_MAX 16
#define DETECT_AGENTS_MAX   16

struct detect_identity {
	char uid[DETECT_UID_MAX];
	char session[DETECT_UID_MAX];
	char name[DETECT_NAME_MAX];
};

/* Context bits a feature observation carries from its session (see docs/detect.md). */
#define DETECT_CTX_SENSITIVE 0x1 /* read of a sensitive class unusual for the kind */
#define DETECT_CTX_DENIED    0x2 /* a denial */
#define DETECT_CTX_NOVEL     0x4 /* exec of an unusual binary, or one from a writable dir */
#define DETECT_CTX_FINDING   0x8 /* a stage-1 finding */

/* A compact feature observation, stage 1 -> stage 2: first time an agent shows a feature. */
struct detect_obs {
	uint64_t feature_hash; /* of type and value */
	uint64_t agent_hash;
	uint64_t time_ms;
	uint8_t type; /* enum detect_feature_type */
	uint8_t ctx;  /* DETECT_CTX_* */
	char feature[DETECT_FEATURE_MAX];
	struct detect_identity agent;
	char event_uid[DETECT_EVUID_MAX];
};

struct detect_finding {
	enum detect_kind kind;
	uint8_t severity_id;   /* OCSF: 1 Informational .. 5 Critical */
	uint8_t confidence_id; /* OCSF: 1 Low, 2 Medium, 3 High */
	uint8_t confidence;    /* 0..100 */
	uint8_t feature_type;  /* enum detect_feature_type */
	uint64_t time_ms;      /* event time of the triggering event */
	uint64_t first_ms, last_ms;
	uint64_t uid; /* deterministic: the same evidence gives the same finding uid */
	char feature[DETECT_FEATURE_MAX];
	uint32_t n_agents;     /* listed below */
	uint32_t agents_total; /* distinct agents involved (may exceed the list) */
	struct detect_identity agents[DETECT_AGENTS_MAX];
	uint32_t n_evidence;
	char evidence[DETECT_EVIDENCE_MAX][DETECT_EVUID_MAX];
	char explain[640];
};

struct detect_sink {
	void *ctx;
	/* Return 0 or -errno; an error stops the run. */
	int (*finding)(void *ctx, const struct detect_finding *f);
	int (*obs)(void *ctx, const struct detect_obs *o);
};

/* ---- counters --------------------------------------------------------------------------- */

struct detect_stats {
	uint64_t lines;
	uint64_t events; /* used */
	uint64_t ignored;
	uint64_t malformed;
	uint64_t unknown_class;
	uint64_t missing_field;
	uint64_t observations;
	uint64_t findings[DETECT_K__COUNT];
	uint64_t agents_evicted;
	uint64_t features_evicted;
	uint64_t baseline_full;
	uint64_t rollouts_suppressed;
};

/* ---- stage 1: per-agent detectors -------------------------------------------------------- */

struct detect_stage1;

struct detect_stage1 *detect_stage1__new(const struct detect_config *cfg);
void detect_stage1__free(struct detect_stage1 *s);
int detect_stage1__event(struct detect_stage1 *s, const struct detect_event *ev,
			 const struct detect_sink *out, struct detect_stats *st);
uint32_t detect_stage1__agents(const struct detect_stage1 *s);
size_t detect_stage1__memory(const struct detect_stage1 *s);
int detect_stage1__save(const struct detect_stage1 *s, FILE *f);
struct detect_stage1 *detect_stage1__load(const struct detect_config *cfg, FILE *f);

/* ---- stage 2: cross-agent campaigns ------------------------------------------------------ */

struct detect_stage2;

struct detect_stage2 *detect_stage2__new(const struct detect_config *cfg);
void detect_stage2__free(struct detect_stage2 *s);
int detect_stage2__obs(struct detect_stage2 *s, const struct detect_obs *o,
		       const struct detect_sink *out, struct detect_stats *st);
/* Decide the candidates still held (end of input). */
int detect_stage2__flush(struct detect_stage2 *s, const struct detect_sink *out,
			 struct detect_stats *st);
size_t detect_stage2__memory(const struct detect_stage2 *s);
int detect_stage2__save(const struct detect_stage2 *s, FILE *f);
struct detect_stage2 *detect_stage2__load(const struct detect_config *cfg, FILE *f);

/* ---- findings as OCSF 2004 -------------------------------------------------------------- */

/* One line of JSON (no newline); returns the length, or -ENOSPC. */
int detect_finding__encode(const struct detect_finding *f, char *buf, size_t size);
/* The finding's uid from its kind, feature and first agent; fills f->uid. */
void detect_finding__seal(struct detect_finding *f);

/* ---- response hook ---------------------------------------------------------------------- */

/*
 * Ask the local daemon to freeze an agent's cgroup: sends {"op":"freeze","agent_uid":...,
 * "reason":...} as one JSON line on the control socket and reads one reply line.
 * Returns 0 when the reply says "ok":true, -errno otherwise.
 */
int detect_respond__freeze(const char *socket_path, const char *agent_uid, const char *reason);

/* ---- the verb --------------------------------------------------------------------------- */

int do_detect(int argc, char **argv);

#endif /* AGENTWATCH_DETECT_H */
