/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agentwatch top's data model, with no kernel, socket or terminal in it: snapshots of per-agent
 * counters in, rows with rates out, sorted and filtered; events in, per-agent aggregates out
 * (process table, recent events, denials by rule, egress destinations, files touched). The
 * sources (user/top_source.c) fill it, the views (user/top_view.c, the --once printers in
 * user/top.c) read it, and tests/unit/test_top_model.c drives it with hand-made snapshots.
 *
 * Identity: a row is one agent of one instance, keyed by (instance, slot, root cgroup id);
 * <instance> is the pin directory's name ("daemon", "exec-<pid>"). Events name their agent by
 * agent uid, so they are matched by (instance, agent uid).
 *
 * Rates are deltas between the last two snapshots over the time between them. A counter that
 * went down (the maps were recreated, a slot was reused) starts over: no rate for that interval.
 *
 * Every table is bounded: what does not fit is counted, never allocated.
 */
#ifndef AGENTWATCH_TOP_MODEL_H
#define AGENTWATCH_TOP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <agentwatch/agent.h>
#include <agentwatch/counters.h>

#include "features.h"

#define TOP_INSTANCE_LEN 32
#define TOP_POD_LEN	 40
#define TOP_CTR_LEN	 68
#define TOP_DEST_LEN	 64 /* "[v6]:port/proto" */
#define TOP_FILTER_LEN	 64

#define TOP_RECENT_MAX	 128 /* recent events kept per agent */
#define TOP_PROCS_MAX	 256 /* processes tracked per agent (from events) */
#define TOP_TALLY_MAX	 128 /* distinct files, destinations, denials per agent */
#define TOP_DETAIL_LEN	 160
#define TOP_EXE_LEN	 96
#define TOP_RULE_LEN	 48
#define TOP_EVSTATE_MAX	 1024 /* agents with event state; the least recent is recycled */
#define TOP_EVSTATE_KEEP 30   /* snapshots an agent's event state outlives the agent */

/* The columns of the agent list, in screen order. */
enum top_col {
	TOP_COL_NAME,
	TOP_COL_SESSION,
	TOP_COL_POD,
	TOP_COL_PROCS,
	TOP_COL_EXECS,	  /* execs/s */
	TOP_COL_OPENS,	  /* file opens/s */
	TOP_COL_CONNECTS, /* connects/s */
	TOP_COL_SYSCALLS, /* syscalls/s, while observed */
	TOP_COL_DENIALS,  /* refused by the kernel, total */
	TOP_COL_DENY_RATE,
	TOP_COL_AUDITS, /* would have been refused (audit mode, kill fallback), total */
	TOP_COL_DROPPED,
	TOP_COL_EGRESS,
	TOP_COL_ENFORCE,
	TOP_COL__COUNT,
};

struct top_col_info {
	const char *title; /* as in the header row */
	const char *key;   /* --sort and JSON name */
	int width;	   /* preferred width; NAME takes what is left over */
	int min_width;
	int drop_order; /* columns with lower values go first when the screen is narrow; 0 never */
	bool numeric;	/* sorted descending by default, right-aligned */
};

const struct top_col_info *top_col__info(enum top_col col);
/* The column whose key (or title) is `name`, case-insensitive, or -ENOENT. */
int top_col__parse(const char *name);

/* Effective enforcement of an agent: no policy, not known, or the weakest level that applies. */
#define TOP_ENF_UNKNOWN (-2) /* the policy maps are not readable */
#define TOP_ENF_NONE	(-1) /* no policy applies: observed only */
const char *top_enforce__name(int enforce);

/* One agent as the sources saw it at one instant. Strings are NUL-terminated. */
struct top_sample {
	char instance[TOP_INSTANCE_LEN];
	__u32 slot;
	__u64 cgroup_id; /* the agent's root cgroup */
	char name[AW_AGENT_NAME_LEN];
	char agent_uid[AW_AGENT_UID_LEN];
	char session[AW_AGENT_UID_LEN];
	char pod[TOP_POD_LEN];	     /* Kubernetes pod uid, "" when not known */
	char container[TOP_CTR_LEN]; /* container id, "" when not known */
	struct aw_agent_counters c;  /* summed over CPUs, cumulative */
	int procs;		     /* live processes in its cgroup subtree; -1 unknown */
	int enforce;		     /* TOP_ENF_* or enum aw_level */
	int enforce_file, enforce_exec, enforce_net; /* the same per action */
};

/* Node-wide facts at one instant. Unknown values: -1 (or false for the *_known flags). */
struct top_header_sample {
	char node[65];
	char kernel[65];
	bool caps_known;
	struct aw_capabilities caps;
	long long policy_gen;
	int instances;		  /* live instances found under the pin root */
	int stale_instances;	  /* pin directories whose exec process is gone */
	bool daemon;		  /* the daemon answered its status request */
	long long events;	  /* the daemon's events counter (cumulative) */
	unsigned long long drops; /* ring-buffer drops of every instance (cumulative) */
	bool sink_known;
	bool kafka_up;
	long long kafka_queue; /* librdkafka's queue depth */
	long long spool_bytes;
	unsigned long long follow_dropped; /* event lines the daemons did not send to top */
};

struct top_snapshot {
	double t; /* seconds on a monotonic clock */
	struct top_header_sample hdr;
	size_t n;
	const struct top_sample *agents;
};

/* --- events ---------------------------------------------------------------------------------- */

enum top_ev_kind {
	TOP_EV_EXEC,
	TOP_EV_FORK,
	TOP_EV_EXIT,
	TOP_EV_OPEN,
	TOP_EV_CONNECT,
	TOP_EV_SEND,
	TOP_EV_BIND,
	TOP_EV_LISTEN,
	TOP_EV_ACCEPT,
	TOP_EV_SYSCALL,
	TOP_EV_OTHER,
	TOP_EV__COUNT,
};
const char *top_ev_kind__name(enum top_ev_kind kind);

enum top_disp {
	TOP_DISP_ALLOWED,
	TOP_DISP_BLOCKED,
	TOP_DISP_WOULD_BLOCK,
};

/* One event, as parsed from the stream (user/top_source.c). Pointers are valid during the call. */
struct top_event {
	enum top_ev_kind kind;
	unsigned long long time_ms; /* wall clock, ms since the epoch */
	const char *agent_uid;
	unsigned int pid, ppid;
	const char *comm;
	const char *path;    /* exec: the binary; open: the file */
	const char *cmdline; /* exec */
	const char *ip;	     /* network: the peer (connect, sendmsg, accept) or local address */
	unsigned int port;
	const char *proto;
	const char *syscall;
	const char *status;  /* errno name of a failure, or NULL */
	unsigned int access; /* AW_ACC_* of an open */
	enum top_disp disp;
	const char *rule;
};

struct top_recent {
	unsigned long long time_ms;
	unsigned int pid;
	char comm[16];
	enum top_ev_kind kind;
	enum top_disp disp;
	char detail[TOP_DETAIL_LEN];
	char rule[TOP_RULE_LEN];
};

struct top_proc {
	unsigned int pid, ppid; /* 0 = free entry */
	char comm[16];
	char exe[TOP_EXE_LEN];
	bool exited;
	unsigned long long last_ms;
	unsigned long long execs, forks, opens, connects, denials;
};

/* A bounded count of distinct keys (files, destinations, denials). */
struct top_tally_entry {
	unsigned long long hash;
	unsigned long long count;
	unsigned long long last_ms;
	unsigned int flags; /* files: AW_ACC_* seen; denials: 1 << TOP_DISP_* seen */
	enum top_ev_kind kind;
	char key[TOP_DETAIL_LEN]; /* path, "ip:port/proto", or a denial's target */
	char tag[TOP_RULE_LEN];	  /* denials: the rule name */
};

struct top_tally {
	struct top_tally_entry e[TOP_TALLY_MAX];
	unsigned short index[TOP_TALLY_MAX * 2]; /* open addressing: entry + 1, 0 = empty */
	size_t n;
	unsigned long long other; /* counts of keys that did not fit */
};

/* What the events said about one agent since top started. */
struct top_agent_events {
	char instance[TOP_INSTANCE_LEN];
	char agent_uid[AW_AGENT_UID_LEN];
	unsigned long long seen; /* events */
	unsigned long long last_ms;
	int orphaned;				  /* snapshots in a row without its agent */
	struct top_recent recent[TOP_RECENT_MAX]; /* a ring: newest at recent[(head - 1) % MAX] */
	size_t head, n_recent;
	struct top_proc procs[TOP_PROCS_MAX];
	size_t n_procs;
	unsigned long long procs_other;
	struct top_tally files, egress, denials;
};

/* The i-th most recent event (0 = newest), or NULL. */
const struct top_recent *top_agent_events__recent(const struct top_agent_events *e, size_t i);
/* Entries of a tally sorted by count (descending), then key: fills out[] and returns how many. */
size_t top_tally__sorted(const struct top_tally *t, const struct top_tally_entry **out, size_t max);
/* The most frequent key of a tally, or NULL when empty. */
const char *top_tally__top(const struct top_tally *t);

/* --- rows and the model ---------------------------------------------------------------------- */

struct top_row {
	struct top_sample s;
	bool have_rates; /* false on an agent's first snapshot */
	double execs, opens, connects, syscalls, denials, dropped; /* per second */
	struct top_agent_events *ev; /* NULL until an event of this agent arrived */
};

struct top_header {
	struct top_header_sample s;
	bool have_rates;
	double events, drops; /* per second */
	double interval;      /* seconds between the last two snapshots */
};

struct top_model {
	struct top_header hdr;
	double t;
	struct top_row *rows; /* the agents of the last snapshot, in source order */
	size_t n_rows, cap_rows;
	size_t *order; /* visible rows: indexes into rows, filtered and sorted */
	size_t n_visible;
	enum top_col sort;
	bool reverse;
	char filter[TOP_FILTER_LEN];
	struct top_agent_events **evs; /* by (instance, agent uid) */
	size_t n_evs, cap_evs;
	unsigned long long events_seen;
	unsigned long long prev_actions; /* sum of action counters at the previous snapshot */
	bool have_prev;
};

void top_model__init(struct top_model *m);
void top_model__free(struct top_model *m);
/* Take a snapshot: rows and rates, then filter and sort again. 0 or -ENOMEM. */
int top_model__update(struct top_model *m, const struct top_snapshot *snap);
/* One event of agent `ev->agent_uid` of `instance`. 0, -EINVAL (no agent uid) or -ENOMEM. */
int top_model__event(struct top_model *m, const char *instance, const struct top_event *ev);
void top_model__set_sort(struct top_model *m, enum top_col col, bool reverse);
/* Substring (case-insensitive) of name, session, pod, container, instance, agent uid, egress. */
void top_model__set_filter(struct top_model *m, const char *filter);
bool top_model__matches(const struct top_row *r, const char *filter);
/* The i-th visible row, or NULL. */
const struct top_row *top_model__row(const struct top_model *m, size_t i);
/* The event state of an agent, or NULL when none of its events arrived. */
const struct top_agent_events *top_model__events(const struct top_model *m, const char *instance,
						 const char *agent_uid);
/* The visible row index of the agent (instance, slot, cgroup), or -ENOENT. */
int top_model__find(const struct top_model *m, const char *instance, __u32 slot, __u64 cgroup_id);
/* <0, 0, >0 as a sorts before b under the model's sort order. */
int top_model__compare(const struct top_model *m, const struct top_row *a, const struct top_row *b);

/* The text of one cell, not yet fitted to a width. */
void top_row__cell(const struct top_row *r, enum top_col col, char *buf, size_t size);
/* The agent's most frequent egress destination, or "". */
const char *top_row__egress(const struct top_row *r);

/* --- formatting ------------------------------------------------------------------------------ */

/*
 * Copy src into dst for a screen `width` columns wide: printable ASCII only (anything else
 * becomes '?'), cut to width with a '~' as its last column when longer. Returns the columns
 * used. dst must hold width + 1 bytes (size is checked).
 */
int top__fit(char *dst, size_t size, const char *src, int width);
/* 999, 1.2k, 12k, 123k, 1.2M, ... in at most 5 characters. */
void top__fmt_count(char *buf, size_t size, unsigned long long v);
/* 0, 0.5, 12, 123, 1.2k, ... */
void top__fmt_rate(char *buf, size_t size, double v);

/* --- process tree ---------------------------------------------------------------------------- */

struct top_tree_node {
	unsigned int pid, ppid;
	int depth; /* filled by top_tree__order */
};

/*
 * Order nodes depth-first, parents before children, siblings by pid; a node whose parent is not
 * in the list is a root. Fills depth. Returns 0 or -ENOMEM.
 */
int top_tree__order(struct top_tree_node *nodes, size_t n);

#endif /* AGENTWATCH_TOP_MODEL_H */
