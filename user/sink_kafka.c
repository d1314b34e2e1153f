// SPDX-License-Identifier: Apache-2.0
/*
 * The Kafka sink (contract: sink_kafka.h; operator's guide: docs/kafka.md).
 *
 * Two threads touch it. The daemon's thread calls write(): it formats the key and headers and
 * calls rd_kafka_producev() with no blocking, or appends to the spool. The sink's own thread
 * (kafka_poll_thread) serves librdkafka's callbacks (delivery reports, errors), replays the
 * spool, emits gap events, syncs the spool and updates the metrics. What both threads read is
 * atomic; the spool has its own lock.
 *
 * Delivery report opaque: librdkafka gives no timestamp for a message that failed, so the opaque
 * carries it. Its low two bits say what the record is:
 *   01  a live record, timestamp_ms << 2
 *   11  a gap event, timestamp_ms << 2
 *   00  a replayed record: a struct kafka_replay (malloc'ed) with its spool ticket and time
 * A failed live record is spooled under the bound; a failed replayed record or gap event is
 * spooled with SPOOL_F_FORCE (it is not new data), then the ticket is acked.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <librdkafka/rdkafka.h>

#include "event.h"
#include "json_writer.h"
#include "log.h"
#include "metrics.h"
#include "ocsf.h"
#include "sink_kafka.h"

#define KAFKA_OPQ_LIVE	    1U
#define KAFKA_OPQ_GAP	    3U
#define KAFKA_MAX_TOPICS    32
#define KAFKA_REPLAY_BATCH  2048  /* records replayed per poll-loop turn */
#define KAFKA_REPLAY_WINDOW 10000 /* replayed records in flight at most */
#define KAFKA_PROBE_MS	    1000  /* while down: one replayed record a second */
#define KAFKA_GAP_MS	    1000  /* gap events at most once a second */
#define KAFKA_METRICS_MS    500
#define KAFKA_STATS_MS	    "1000" /* librdkafka statistics (brokers up), with --metrics */
#define KAFKA_LOG_MS	    10000  /* the same librdkafka error at most every 10 s */
#define KAFKA_PURGE_WAIT_MS 3000
#define KAFKA_CLASS_SCAN    512
#define KAFKA_NODE_MAX	    128
#define KAFKA_GAP_JSON_MAX  4096

/*
 * Defaults for a node agent; -X properties are applied after these, so an operator overrides
 * any of them. docs/kafka.md explains each.
 */
static const char *const kafka_defaults[][2] = {
	{"client.id", "agentwatch"},
	{"enable.idempotence", "true"},
	{"acks", "all"},
	{"compression.type", "lz4"},
	{"linger.ms", "20"},
	{"queue.buffering.max.messages", "100000"},
	{"queue.buffering.max.kbytes", "65536"},
	{"message.timeout.ms", "60000"},
	{"reconnect.backoff.ms", "100"},
	{"reconnect.backoff.max.ms", "5000"},
	{"socket.keepalive.enable", "true"},
	{"partitioner", "murmur2_random"},
};

struct kafka_replay {
	void *ticket;
	int64_t timestamp_ms;
};

struct kafka_topic {
	int class_uid; /* -1: looked up by name (replay) */
	char *name;
	rd_kafka_topic_t *rkt;
};

struct sink_kafka {
	struct sink base;
	rd_kafka_t *rk;
	struct spool *spool;
	struct metrics *metrics;
	struct ocsf_ctx *ocsf_own;
	const struct ocsf_ctx *ocsf;
	char *topic_tmpl;
	bool per_class; /* the template has {class} or {class_name} */
	char node[KAFKA_NODE_MAX];
	size_t node_len;
	int flush_timeout_ms;
	int outage_ms;
	uint64_t queue_max;

	/* The writer's topics by class, and the poll thread's by name: each used by one thread. */
	struct kafka_topic wtopics[KAFKA_MAX_TOPICS];
	int n_wtopics;
	struct kafka_topic rtopics[KAFKA_MAX_TOPICS];
	int n_rtopics;

	pthread_t poller;
	bool poller_running;
	int stop;
	bool purged; /* close purged librdkafka: nothing more goes to Kafka */

	/* Shared between the threads: atomics. */
	int up;
	int fatal;
	uint64_t in_flight;
	uint64_t replay_in_flight;
	uint64_t last_progress_ms;
	struct sink_kafka_stats c; /* the counters of sink_kafka__stats() */

	/* Poll thread only. */
	uint64_t seen_delivered; /* delivered count at the last outage check */
	uint64_t last_probe_ms, last_gap_ms, last_metrics_ms, last_log_ms;
	int last_log_err;
	unsigned int log_suppressed;
	uint64_t gap_seq;
};

static const struct sink_ops kafka_ops;

static struct sink_kafka *to_kafka(struct sink *s)
{
	return (struct sink_kafka *)s;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void add(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static void sub(uint64_t *c, uint64_t n)
{
	__atomic_fetch_sub(c, n, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static bool is_up(struct sink_kafka *k)
{
	return __atomic_load_n(&k->up, __ATOMIC_RELAXED) &&
	       !__atomic_load_n(&k->fatal, __ATOMIC_RELAXED);
}

static void set_up(struct sink_kafka *k, bool up, const char *why)
{
	int old = __atomic_exchange_n(&k->up, up, __ATOMIC_RELAXED);

	if (old == (int)up)
		return;
	if (up)
		log_info("kafka: brokers reachable again: sending, replaying the spool");
	else
		log_warn("kafka: %s: spooling records until a delivery succeeds", why);
}

/* --- names ------------------------------------------------------------------------------- */

int sink_kafka__class_uid(const char *json, size_t len)
{
	static const char key[] = "\"class_uid\":";
	const char *p, *end;
	int v = 0;

	if (len > KAFKA_CLASS_SCAN)
		len = KAFKA_CLASS_SCAN;
	p = memmem(json, len, key, sizeof(key) - 1);
	if (!p)
		return -ENOENT;
	end = json + len;
	p += sizeof(key) - 1;
	if (p == end || *p < '0' || *p > '9')
		return -ENOENT;
	for (; p < end && *p >= '0' && *p <= '9' && v < 100000000; p++)
		v = v * 10 + (*p - '0');
	return v;
}

static const char *class_name(int class_uid)
{
	switch (class_uid) {
	case 1001:
		return "file_activity";
	case 1003:
		return "kernel_activity";
	case 1007:
		return "process_activity";
	case 1008:
		return "event_log_activity";
	case 2004:
		return "detection_finding";
	case 4001:
		return "network_activity";
	case 6002:
		return "application_lifecycle"; /* policy loads and reloads */
	}
	return NULL;
}

int sink_kafka__topic_name(const char *tmpl, int class_uid, char *buf, size_t size)
{
	const char *p = tmpl;
	size_t n = 0;

	while (*p) {
		char tmp[32];
		const char *sub = NULL;
		size_t skip = 1, sl;

		if (!strncmp(p, "{class}", 7)) {
			snprintf(tmp, sizeof(tmp), "%d", class_uid);
			sub = tmp;
			skip = 7;
		} else if (!strncmp(p, "{class_name}", 12)) {
			sub = class_name(class_uid);
			if (!sub) {
				snprintf(tmp, sizeof(tmp), "class_%d", class_uid);
				sub = tmp;
			}
			skip = 12;
		}
		sl = sub ? strlen(sub) : 1;
		if (n + sl >= size)
			return -ENAMETOOLONG;
		memcpy(buf + n, sub ? sub : p, sl);
		n += sl;
		p += skip;
	}
	buf[n] = '\0';
	return 0;
}

static bool tmpl_per_class(const char *tmpl)
{
	return strstr(tmpl, "{class}") || strstr(tmpl, "{class_name}");
}

/* The writer's topic for a class (one topic when the template has no class in it). */
static struct kafka_topic *writer_topic(struct sink_kafka *k, int class_uid)
{
	char name[256];
	struct kafka_topic *t;
	int i;

	if (!k->per_class)
		class_uid = 0;
	for (i = 0; i < k->n_wtopics; i++)
		if (k->wtopics[i].class_uid == class_uid)
			return &k->wtopics[i];
	if (k->n_wtopics == KAFKA_MAX_TOPICS ||
	    sink_kafka__topic_name(k->topic_tmpl, class_uid, name, sizeof(name)))
		return NULL;
	t = &k->wtopics[k->n_wtopics];
	t->name = strdup(name);
	if (!t->name)
		return NULL;
	t->rkt = rd_kafka_topic_new(k->rk, name, NULL);
	if (!t->rkt) {
		log_error("kafka: topic '%s': %s", name, rd_kafka_err2str(rd_kafka_last_error()));
		free(t->name);
		return NULL;
	}
	t->class_uid = class_uid;
	k->n_wtopics++;
	return t;
}

/*
 * The poll thread's handle for a topic by name: cached, or a new reference the caller drops
 * (*owned) when the cache is full.
 */
static rd_kafka_topic_t *reader_topic(struct sink_kafka *k, const char *name, size_t len,
				      bool *owned)
{
	char buf[256];
	struct kafka_topic *t;
	int i;

	*owned = false;
	if (len >= sizeof(buf))
		return NULL;
	memcpy(buf, name, len);
	buf[len] = '\0';
	for (i = 0; i < k->n_rtopics; i++)
		if (!strcmp(k->rtopics[i].name, buf))
			return k->rtopics[i].rkt;
	if (k->n_rtopics == KAFKA_MAX_TOPICS) {
		*owned = true;
		return rd_kafka_topic_new(k->rk, buf, NULL);
	}
	t = &k->rtopics[k->n_rtopics];
	t->name = strdup(buf);
	if (!t->name)
		return NULL;
	t->rkt = rd_kafka_topic_new(k->rk, buf, NULL);
	if (!t->rkt) {
		free(t->name);
		return NULL;
	}
	t->class_uid = -1;
	k->n_rtopics++;
	return t->rkt;
}

/* --- spooling ---------------------------------------------------------------------------- */

/* A record we could not keep: count it (the spool's gap already holds it, or gets it here). */
static void kafka_lost(struct sink_kafka *k, int64_t ts_ms, bool in_gap)
{
	if (!in_gap)
		spool__note_loss(k->spool, ts_ms, 1);
	sink_stat__add(&k->base.stats.dropped, 1);
	add(&k->c.dropped, 1);
}

/* Spool a record; returns 0 or the spool's -errno, the loss counted. */
static int kafka_spool(struct sink_kafka *k, const struct spool_record *rec, unsigned int flags)
{
	int err = spool__append(k->spool, rec, flags);

	if (!err) {
		add(&k->c.spooled, 1);
		return 0;
	}
	kafka_lost(k, rec->timestamp_ms, true);
	return err;
}

static void *kafka_opaque(int64_t ts, unsigned int tag)
{
	return (void *)(uintptr_t)(((uint64_t)(ts > 0 ? ts : 0) << 2) | tag);
}

/* Spool the record of a delivery report. */
static int kafka_spool_message(struct sink_kafka *k, const rd_kafka_message_t *m, int64_t ts,
			       unsigned int flags)
{
	struct spool_record rec = {0};
	rd_kafka_headers_t *hdrs;
	const char *topic = rd_kafka_topic_name(m->rkt);

	rec.timestamp_ms = ts;
	rec.topic = topic;
	rec.topic_len = strlen(topic);
	rec.key = m->key;
	rec.key_len = m->key_len;
	rec.value = m->payload;
	rec.value_len = m->len;
	if (!rd_kafka_message_headers(m, &hdrs)) {
		const char *name;
		const void *val;
		size_t i, sz;

		for (i = 0;
		     i < SPOOL_MAX_HEADERS && !rd_kafka_header_get_all(hdrs, i, &name, &val, &sz);
		     i++)
			rec.headers[i] = (struct spool_header){name, strlen(name), val, sz};
		rec.n_headers = (unsigned int)i;
	}
	return kafka_spool(k, &rec, flags);
}

/* Errors that no retry will fix: the record is dropped (and counted) rather than re-spooled. */
static bool kafka_err_permanent(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
		return true;
	default:
		return false;
	}
}

/* --- librdkafka callbacks ---------------------------------------------------------------- */

static void kafka_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct sink_kafka *k = opaque;
	uintptr_t o = (uintptr_t)m->_private;
	struct kafka_replay *rp = (o & 3) ? NULL : (struct kafka_replay *)o;
	bool replayed = rp != NULL;
	int64_t ts = rp ? rp->timestamp_ms : (int64_t)(o >> 2);

	if (!m->err) {
		sink_stat__add(&k->base.stats.delivered, 1);
		add(&k->c.delivered, 1);
		if (replayed)
			add(&k->c.replayed, 1);
		/* Progress is noticed by kafka_check_outage() from the delivered count. */
		if (!__atomic_load_n(&k->up, __ATOMIC_RELAXED))
			set_up(k, true, NULL);
	} else if (kafka_err_permanent(m->err)) {
		log_error("kafka: record of %zu bytes refused for good (%s): dropped", m->len,
			  rd_kafka_err2str(m->err));
		sink_stat__add(&k->base.stats.errors, 1);
		add(&k->c.delivery_errors, 1);
		kafka_lost(k, ts, false);
	} else {
		bool purged = m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
			      m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;

		if (purged) {
			add(&k->c.purged, 1);
		} else {
			sink_stat__add(&k->base.stats.errors, 1);
			add(&k->c.delivery_errors, 1);
			set_up(k, false, rd_kafka_err2str(m->err));
		}
		kafka_spool_message(k, m, ts, (o & 3) == KAFKA_OPQ_LIVE ? 0 : SPOOL_F_FORCE);
	}
	if (replayed) {
		spool__ack(k->spool, rp->ticket);
		sub(&k->replay_in_flight, 1);
		free(rp);
	}
	sub(&k->in_flight, 1);
}

static void kafka_on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct sink_kafka *k = opaque;
	uint64_t now = mono_ms();

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char buf[512];

		rd_kafka_fatal_error(rk, buf, sizeof(buf));
		log_error("kafka: fatal error: %s; every record goes to the spool until agentwatch "
			  "is restarted (an idempotence ACL or broker version problem: see "
			  "docs/kafka.md)",
			  buf);
		__atomic_store_n(&k->fatal, 1, __ATOMIC_RELAXED);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		set_up(k, false, "all brokers down");
	/* Connection errors repeat at every reconnect: one line per error per 10 s. */
	if (err == k->last_log_err && now - k->last_log_ms < KAFKA_LOG_MS) {
		k->log_suppressed++;
		return;
	}
	if (k->log_suppressed)
		log_warn("kafka: %s (%u similar messages suppressed)", reason, k->log_suppressed);
	else
		log_warn("kafka: %s", reason);
	k->last_log_err = err;
	k->last_log_ms = now;
	k->log_suppressed = 0;
}

/*
 * librdkafka's statistics (with --metrics only): how many brokers it holds a connection to.
 * Bootstrap entries (nodeid -1) are left out, so each broker counts once.
 */
static int kafka_on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct sink_kafka *k = opaque;
	struct json_object *root, *brokers, *v;
	uint64_t up = 0;

	root = json_tokener_parse(json);
	if (!root)
		return 0;
	if (json_object_object_get_ex(root, "brokers", &brokers) &&
	    json_object_is_type(brokers, json_type_object)) {
		json_object_object_foreach (brokers, name, b) {
			(void)name;
			if (!json_object_object_get_ex(b, "nodeid", &v) ||
			    json_object_get_int(v) < 0)
				continue;
			if (json_object_object_get_ex(b, "state", &v) &&
			    !strcmp(json_object_get_string(v), "UP"))
				up++;
		}
	}
	json_object_put(root);
	metrics__set(k->metrics, METRIC_KAFKA_BROKERS_UP, up);
	return 0; /* librdkafka frees json */
}

static void kafka_on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	log_debug("kafka: librdkafka %s: %s", fac, buf);
}

/* --- write ------------------------------------------------------------------------------- */

static int kafka_write(struct sink *s, const struct aw_event *ev, const char *json, size_t len)
{
	struct sink_kafka *k = to_kafka(s);
	char clsbuf[20], idbuf[20];
	const char *key = k->node, *id = NULL, *cls;
	size_t key_len = k->node_len, id_len = 0, cls_len;
	int class_uid = sink_kafka__class_uid(json, len);
	int64_t ts = ev ? (int64_t)(ev->wall_ns / 1000000) : (int64_t)wall_ms();
	struct kafka_topic *t;
	rd_kafka_resp_err_t err;
	struct spool_record rec;

	sink_stat__add(&s->stats.events, 1);
	sink_stat__add(&s->stats.bytes, len);
	if (class_uid < 0)
		class_uid = 0;
	cls = json_writer__format_u64(clsbuf, (uint64_t)class_uid);
	cls_len = (size_t)(clsbuf + sizeof(clsbuf) - cls);
	if (ev) {
		id = json_writer__format_u64(idbuf, ev->event_id);
		id_len = (size_t)(idbuf + sizeof(idbuf) - id);
		if (ev->agent && ev->agent->agent_uid[0]) {
			key = ev->agent->agent_uid;
			key_len = strnlen(key, sizeof(ev->agent->agent_uid));
		}
	}
	t = writer_topic(k, class_uid);
	if (!t) {
		kafka_lost(k, ts, false);
		return -ENOMEM;
	}

	if (is_up(k)) {
		/* Count it in flight first: its delivery report may come before producev returns. */
		if (__atomic_fetch_add(&k->in_flight, 1, __ATOMIC_RELAXED) == 0)
			__atomic_store_n(&k->last_progress_ms, mono_ms(), __ATOMIC_RELAXED);
		err = rd_kafka_producev(k->rk, RD_KAFKA_V_RKT(t->rkt),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					RD_KAFKA_V_VALUE((void *)json, len),
					RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_TIMESTAMP(ts),
					RD_KAFKA_V_HEADER("ocsf_class", cls, (ssize_t)cls_len),
					RD_KAFKA_V_HEADER("event_id", id, id ? (ssize_t)id_len : 0),
					RD_KAFKA_V_HEADER("node", k->node, (ssize_t)k->node_len),
					RD_KAFKA_V_HEADER("schema", SINK_KAFKA_SCHEMA,
							  sizeof(SINK_KAFKA_SCHEMA) - 1),
					RD_KAFKA_V_OPAQUE(kafka_opaque(ts, KAFKA_OPQ_LIVE)),
					RD_KAFKA_V_END);
		if (!err) {
			add(&k->c.produced, 1);
			return 0;
		}
		sub(&k->in_flight, 1);
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			add(&k->c.queue_full, 1);
		} else if (kafka_err_permanent(err)) {
			log_error("kafka: record of %zu bytes refused (%s): dropped", len,
				  rd_kafka_err2str(err));
			sink_stat__add(&s->stats.errors, 1);
			kafka_lost(k, ts, false);
			return -EMSGSIZE;
		} else {
			sink_stat__add(&s->stats.errors, 1);
		}
	}

	memset(&rec, 0, sizeof(rec));
	rec.timestamp_ms = ts;
	rec.topic = t->name;
	rec.topic_len = strlen(t->name);
	rec.key = key;
	rec.key_len = key_len;
	rec.headers[rec.n_headers++] = (struct spool_header){"ocsf_class", 10, cls, cls_len};
	if (id)
		rec.headers[rec.n_headers++] = (struct spool_header){"event_id", 8, id, id_len};
	else
		rec.headers[rec.n_headers++] = (struct spool_header){"event_id", 8, "", 0};
	rec.headers[rec.n_headers++] = (struct spool_header){"node", 4, k->node, k->node_len};
	rec.headers[rec.n_headers++] = (struct spool_header){"schema", 6, SINK_KAFKA_SCHEMA,
							     strlen(SINK_KAFKA_SCHEMA)};
	rec.value = json;
	rec.value_len = len;
	return kafka_spool(k, &rec, 0);
}

/*
 * Delivery is asynchronous: the sink's thread serves delivery reports and librdkafka batches on
 * its own (linger.ms). Nothing to do here, and nothing here may block.
 */
static int kafka_flush(struct sink *s)
{
	return 0;
}

/* --- the sink's thread: replay, outage, gap, metrics ------------------------------------- */

/* Produce one spooled record; 0, or librdkafka's error. */
static rd_kafka_resp_err_t kafka_produce_record(struct sink_kafka *k,
						const struct spool_record *rec, void *opaque)
{
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(rec->n_headers ? rec->n_headers : 1);
	rd_kafka_resp_err_t err;
	rd_kafka_topic_t *rkt;
	bool owned;
	unsigned int i;

	for (i = 0; i < rec->n_headers; i++)
		rd_kafka_header_add(hdrs, rec->headers[i].name, (ssize_t)rec->headers[i].name_len,
				    rec->headers[i].value, (ssize_t)rec->headers[i].value_len);
	rkt = reader_topic(k, rec->topic, rec->topic_len, &owned);
	if (!rkt) {
		rd_kafka_headers_destroy(hdrs);
		return RD_KAFKA_RESP_ERR__INVALID_ARG;
	}
	if (__atomic_fetch_add(&k->in_flight, 1, __ATOMIC_RELAXED) == 0)
		__atomic_store_n(&k->last_progress_ms, mono_ms(), __ATOMIC_RELAXED);
	err = rd_kafka_producev(k->rk, RD_KAFKA_V_RKT(rkt),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_VALUE((void *)rec->value, rec->value_len),
				RD_KAFKA_V_KEY(rec->key_len ? rec->key : NULL, rec->key_len),
				RD_KAFKA_V_TIMESTAMP(rec->timestamp_ms), RD_KAFKA_V_HEADERS(hdrs),
				RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
	if (err) {
		sub(&k->in_flight, 1);
		rd_kafka_headers_destroy(hdrs);
	} else {
		add(&k->c.produced, 1);
	}
	if (owned)
		rd_kafka_topic_destroy(rkt);
	return err;
}

/*
 * Replay oldest first: while up, in batches, keeping half of librdkafka's queue for live
 * records; while down, one probe record a second, whose delivery report brings the sink up.
 */
static void kafka_replay(struct sink_kafka *k, uint64_t now)
{
	unsigned int budget, i;

	if (__atomic_load_n(&k->fatal, __ATOMIC_RELAXED))
		return;
	if (is_up(k)) {
		budget = KAFKA_REPLAY_BATCH;
	} else {
		if (get(&k->replay_in_flight) || now - k->last_probe_ms < KAFKA_PROBE_MS)
			return;
		k->last_probe_ms = now;
		budget = 1;
	}
	for (i = 0; i < budget; i++) {
		struct kafka_replay *rp;
		struct spool_record rec;
		rd_kafka_resp_err_t err;
		void *ticket;

		if (get(&k->replay_in_flight) >= KAFKA_REPLAY_WINDOW ||
		    (uint64_t)rd_kafka_outq_len(k->rk) >= k->queue_max / 2)
			return;
		if (spool__peek(k->spool, &rec, &ticket))
			return;
		rp = malloc(sizeof(*rp));
		if (!rp)
			return;
		rp->ticket = ticket;
		rp->timestamp_ms = rec.timestamp_ms;
		add(&k->replay_in_flight, 1);
		err = kafka_produce_record(k, &rec, rp);
		if (!err) {
			spool__consume(k->spool);
			continue;
		}
		free(rp);
		sub(&k->replay_in_flight, 1);
		if (kafka_err_permanent(err)) {
			log_error("kafka: spooled record of %zu bytes refused (%s): dropped",
				  rec.value_len, rd_kafka_err2str(err));
			spool__consume(k->spool);
			spool__ack(k->spool, ticket);
			kafka_lost(k, rec.timestamp_ms, false);
			continue;
		}
		return; /* queue full or worse: try again next turn */
	}
}

/* Up, but nothing delivered for outage_ms while records are outstanding: treat as down. */
static void kafka_check_outage(struct sink_kafka *k, uint64_t now)
{
	uint64_t delivered = get(&k->c.delivered), last;

	if (delivered != k->seen_delivered) {
		k->seen_delivered = delivered;
		__atomic_store_n(&k->last_progress_ms, now, __ATOMIC_RELAXED);
	}
	last = __atomic_load_n(&k->last_progress_ms, __ATOMIC_RELAXED);

	if (is_up(k) && get(&k->in_flight) && now > last && now - last > (uint64_t)k->outage_ms)
		set_up(k, false, "no delivery report in time");
}

int sink_kafka__gap_event(const struct ocsf_ctx *ctx, const struct spool_gap *gap, const char *uid,
			  uint64_t now_ms, char *buf, size_t size)
{
	struct json_writer w;
	char msg[256];

	snprintf(msg, sizeof(msg),
		 "agentwatch lost %" PRIu64 " audit events with times from %" PRId64 " to %" PRId64
		 " (ms since the epoch): Kafka could not take them and the spool was full or "
		 "unavailable",
		 gap->lost, gap->first_ms, gap->last_ms);
	json_writer__init(&w, buf, size);
	json_writer__object_begin(&w);
	json_writer__kv_uint(&w, "activity_id", 99);
	json_writer__kv_string(&w, "activity_name", "Drop");
	json_writer__kv_uint(&w, "category_uid", 1);
	json_writer__kv_string(&w, "category_name", "System Activity");
	json_writer__kv_uint(&w, "class_uid", SINK_KAFKA_GAP_CLASS_UID);
	json_writer__kv_string(&w, "class_name", "Event Log Activity");
	json_writer__kv_uint(&w, "type_uid", SINK_KAFKA_GAP_CLASS_UID * 100 + 99);
	json_writer__kv_string(&w, "type_name", "Event Log Activity: Other");
	json_writer__kv_uint(&w, "severity_id", 4);
	json_writer__kv_string(&w, "severity", "High");
	json_writer__kv_uint(&w, "status_id", 2);
	json_writer__kv_string(&w, "status", "Failure");
	json_writer__kv_string(&w, "status_detail", "spool full or unavailable");
	json_writer__kv_string(&w, "message", msg);
	json_writer__kv_uint(&w, "time", now_ms);
	json_writer__kv_int(&w, "start_time", gap->first_ms);
	json_writer__kv_int(&w, "end_time", gap->last_ms);
	json_writer__kv_uint(&w, "count", gap->lost);
	json_writer__kv_string(&w, "log_provider", OCSF_PRODUCT_NAME);
	json_writer__kv_string(&w, "log_name", "kafka-spool");
	json_writer__key(&w, "metadata");
	json_writer__object_begin(&w);
	json_writer__kv_string(&w, "version", OCSF_SCHEMA_VERSION);
	json_writer__key(&w, "product");
	json_writer__object_begin(&w);
	json_writer__kv_string(&w, "name", OCSF_PRODUCT_NAME);
	json_writer__kv_string(&w, "vendor_name", OCSF_PRODUCT_NAME);
	if (ctx->product_version[0])
		json_writer__kv_string(&w, "version", ctx->product_version);
	json_writer__object_end(&w);
	json_writer__kv_string(&w, "uid", uid);
	json_writer__object_end(&w);
	json_writer__fragment(&w, ctx->device, ctx->device_len);
	json_writer__key(&w, "unmapped");
	json_writer__object_begin(&w);
	json_writer__key(&w, "agentwatch_gap");
	json_writer__object_begin(&w);
	json_writer__kv_uint(&w, "lost", gap->lost);
	json_writer__kv_int(&w, "first_lost_time", gap->first_ms);
	json_writer__kv_int(&w, "last_lost_time", gap->last_ms);
	json_writer__object_end(&w);
	json_writer__object_end(&w);
	json_writer__object_end(&w);
	return json_writer__finish(&w);
}

/*
 * Report records lost since the last gap event: at most once a second, and only where it can go
 * (Kafka up, or room in the spool), so that one event covers one stretch of loss. `now_mode`
 * (close) skips both conditions: to Kafka if up and not yet purged, else into the spool
 * whatever the bound.
 */
static void kafka_gap(struct sink_kafka *k, uint64_t now, bool now_mode)
{
	char json[KAFKA_GAP_JSON_MAX], uid[48], cls[16], topic[256];
	struct spool_record rec = {0};
	struct spool_gap gap;
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__STATE;
	uint64_t wnow = wall_ms();
	int len;

	if (!now_mode) {
		if (now - k->last_gap_ms < KAFKA_GAP_MS)
			return;
		k->last_gap_ms = now;
		if (!is_up(k) && !spool__has_room(k->spool))
			return;
	}
	if (!spool__take_gap(k->spool, &gap))
		return;
	snprintf(uid, sizeof(uid), "gap-%" PRIu64 "-%" PRIu64, wnow * 1000000, ++k->gap_seq);
	len = sink_kafka__gap_event(k->ocsf, &gap, uid, wnow, json, sizeof(json));
	if (len < 0 ||
	    sink_kafka__topic_name(k->topic_tmpl, SINK_KAFKA_GAP_CLASS_UID, topic, sizeof(topic))) {
		log_error("kafka: gap event: does not fit; %" PRIu64 " lost records unreported",
			  gap.lost);
		return;
	}
	log_warn("kafka: %" PRIu64 " records lost (times %" PRId64 "..%" PRId64 " ms); reported by "
		 "gap event %s",
		 gap.lost, gap.first_ms, gap.last_ms, uid);
	snprintf(cls, sizeof(cls), "%d", SINK_KAFKA_GAP_CLASS_UID);
	rec.timestamp_ms = (int64_t)wnow;
	rec.topic = topic;
	rec.topic_len = strlen(topic);
	rec.key = k->node;
	rec.key_len = k->node_len;
	rec.n_headers = 4;
	rec.headers[0] = (struct spool_header){"ocsf_class", 10, cls, strlen(cls)};
	rec.headers[1] = (struct spool_header){"event_id", 8, uid, strlen(uid)};
	rec.headers[2] = (struct spool_header){"node", 4, k->node, k->node_len};
	rec.headers[3] = (struct spool_header){"schema", 6, SINK_KAFKA_SCHEMA,
					       strlen(SINK_KAFKA_SCHEMA)};
	rec.value = json;
	rec.value_len = (size_t)len;
	add(&k->c.gap_events, 1);
	add(&k->c.gap_lost, gap.lost);
	sink_stat__add(&k->base.stats.events, 1); /* a document of this sink's own */
	if (!k->purged && is_up(k))
		err = kafka_produce_record(k, &rec, kafka_opaque(rec.timestamp_ms, KAFKA_OPQ_GAP));
	if (err)
		kafka_spool(k, &rec, SPOOL_F_FORCE);
}

static void kafka_publish_metrics(struct sink_kafka *k, uint64_t now, bool force)
{
	struct sink_kafka_stats st;
	struct metrics *m = k->metrics;

	if (!m || (!force && now - k->last_metrics_ms < KAFKA_METRICS_MS))
		return;
	k->last_metrics_ms = now;
	sink_kafka__stats(&k->base, &st);
	metrics__set(m, METRIC_KAFKA_QUEUE_MESSAGES, st.queue_depth);
	metrics__set(m, METRIC_KAFKA_IN_FLIGHT, st.in_flight);
	metrics__set(m, METRIC_KAFKA_UP, st.up);
	metrics__set(m, METRIC_KAFKA_DELIVERED, st.delivered);
	metrics__set(m, METRIC_KAFKA_DELIVERY_ERRORS, st.delivery_errors);
	metrics__set(m, METRIC_KAFKA_SPOOLED, st.spooled);
	metrics__set(m, METRIC_SPOOL_BYTES, st.spool.bytes);
	metrics__set(m, METRIC_SPOOL_RECORDS, st.spool.records);
	metrics__set(m, METRIC_SPOOL_REPLAYED, st.replayed);
	metrics__set(m, METRIC_SPOOL_CORRUPT, st.spool.corrupt);
	metrics__set(m, METRIC_SPOOL_TORN, st.spool.torn);
	metrics__set(m, METRIC_GAP_EVENTS, st.gap_events);
	metrics__set_drop(m, METRIC_DROP_SINK, st.dropped);
}

static void *kafka_poll_thread(void *arg)
{
	struct sink_kafka *k = arg;

	while (!__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now;

		rd_kafka_poll(k->rk, 50);
		now = mono_ms();
		kafka_check_outage(k, now);
		kafka_replay(k, now);
		kafka_gap(k, now, false);
		spool__tick(k->spool, now);
		kafka_publish_metrics(k, now, false);
	}
	return NULL;
}

/* --- close ------------------------------------------------------------------------------- */

static void kafka_free(struct sink_kafka *k)
{
	int i;

	for (i = 0; i < k->n_wtopics; i++) {
		rd_kafka_topic_destroy(k->wtopics[i].rkt);
		free(k->wtopics[i].name);
	}
	for (i = 0; i < k->n_rtopics; i++) {
		rd_kafka_topic_destroy(k->rtopics[i].rkt);
		free(k->rtopics[i].name);
	}
	if (k->rk)
		rd_kafka_destroy(k->rk);
	spool__close(k->spool);
	free(k->ocsf_own);
	free(k->topic_tmpl);
	free(k);
}

/*
 * Flush for at most flush_timeout_ms, then purge what is queued and in flight: every purged
 * record's delivery report puts it in the spool. Then the gap, then the spool is closed.
 */
static void kafka_close(struct sink *s)
{
	struct sink_kafka *k = to_kafka(s);
	uint64_t deadline;

	if (k->poller_running) {
		__atomic_store_n(&k->stop, 1, __ATOMIC_RELEASE);
		rd_kafka_yield(k->rk);
		pthread_join(k->poller, NULL);
		k->poller_running = false;
	}
	if (is_up(k))
		kafka_gap(k, mono_ms(), true); /* flushed with the rest */
	if (!__atomic_load_n(&k->fatal, __ATOMIC_RELAXED) && k->flush_timeout_ms > 0 &&
	    get(&k->in_flight))
		rd_kafka_flush(k->rk, k->flush_timeout_ms);
	if (get(&k->in_flight)) {
		log_info("kafka: %" PRIu64 " records not delivered within %d ms: spooling them",
			 get(&k->in_flight), k->flush_timeout_ms);
		rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		deadline = mono_ms() + KAFKA_PURGE_WAIT_MS;
		while (get(&k->in_flight) && mono_ms() < deadline)
			rd_kafka_poll(k->rk, 50);
	}
	k->purged = true;
	if (get(&k->in_flight)) {
		/* Should not happen: librdkafka reports every purged message. */
		log_error("kafka: %" PRIu64 " records unaccounted for at close: counted lost",
			  get(&k->in_flight));
		spool__note_loss(k->spool, (int64_t)wall_ms(), get(&k->in_flight));
		sink_stat__add(&s->stats.dropped, get(&k->in_flight));
		add(&k->c.dropped, get(&k->in_flight));
	}
	kafka_gap(k, mono_ms(), true);
	kafka_publish_metrics(k, mono_ms(), true);
	kafka_free(k);
}

/* --- construction ------------------------------------------------------------------------ */

static void read_node_id(char *buf, size_t size)
{
	FILE *f = fopen("/etc/machine-id", "re");

	buf[0] = '\0';
	if (f) {
		if (fgets(buf, (int)size, f))
			buf[strcspn(buf, "\r\n")] = '\0';
		fclose(f);
	}
	if (!buf[0] && gethostname(buf, size - 1))
		snprintf(buf, size, "unknown");
	buf[size - 1] = '\0';
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *val, const char *what)
{
	char errstr[512];

	if (rd_kafka_conf_set(conf, key, val, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		log_error("kafka: %s '%s=%s': %s", what, key, val, errstr);
		return -EINVAL;
	}
	return 0;
}

static int kafka_configure(struct sink_kafka *k, const struct sink_kafka_opts *o,
			   rd_kafka_conf_t *conf)
{
	char buf[64];
	size_t i, n = sizeof(buf);
	int err;

	for (i = 0; i < sizeof(kafka_defaults) / sizeof(kafka_defaults[0]); i++) {
		err = conf_set(conf, kafka_defaults[i][0], kafka_defaults[i][1], "default");
		if (err)
			return err;
	}
	if (o->brokers && o->brokers[0]) {
		err = conf_set(conf, "bootstrap.servers", o->brokers, "--brokers");
		if (err)
			return err;
	}
	if (o->metrics) {
		/* Before -X, which may change the interval (0 turns the brokers gauge off). */
		err = conf_set(conf, "statistics.interval.ms", KAFKA_STATS_MS, "default");
		if (err)
			return err;
		rd_kafka_conf_set_stats_cb(conf, kafka_on_stats);
	}
	for (i = 0; i < o->n_props; i++) {
		const char *eq = strchr(o->props[i], '=');
		char key[256];

		if (!eq || eq == o->props[i] || (size_t)(eq - o->props[i]) >= sizeof(key)) {
			log_error("kafka: -X '%s': expected key=value", o->props[i]);
			return -EINVAL;
		}
		memcpy(key, o->props[i], (size_t)(eq - o->props[i]));
		key[eq - o->props[i]] = '\0';
		err = conf_set(conf, key, eq + 1, "-X");
		if (err)
			return err;
	}
	n = sizeof(buf);
	if (rd_kafka_conf_get(conf, "bootstrap.servers", buf, &n) != RD_KAFKA_CONF_OK || n <= 1) {
		log_error("kafka: no brokers: give --brokers or -X bootstrap.servers=...");
		return -EINVAL;
	}
	n = sizeof(buf);
	k->queue_max = 100000;
	if (rd_kafka_conf_get(conf, "queue.buffering.max.messages", buf, &n) == RD_KAFKA_CONF_OK)
		k->queue_max = strtoull(buf, NULL, 10);
	rd_kafka_conf_set_dr_msg_cb(conf, kafka_on_delivery);
	rd_kafka_conf_set_error_cb(conf, kafka_on_error);
	rd_kafka_conf_set_log_cb(conf, kafka_on_log);
	rd_kafka_conf_set_opaque(conf, k);
	return 0;
}

struct sink *sink_kafka__new(const struct sink_kafka_opts *o)
{
	struct spool_opts so = {
		.dir = o->spool_dir,
		.max_bytes = o->spool_max_bytes,
		.segment_bytes = o->spool_segment_bytes,
		.fsync = o->spool_fsync,
	};
	struct sink_kafka *k = calloc(1, sizeof(*k));
	rd_kafka_conf_t *conf = NULL;
	char errstr[512];
	int err;

	if (!k) {
		errno = ENOMEM;
		return NULL;
	}
	k->base.ops = &kafka_ops;
	k->up = 1;
	k->last_progress_ms = mono_ms();
	k->flush_timeout_ms = o->flush_timeout_ms ? o->flush_timeout_ms
						  : SINK_KAFKA_DEFAULT_FLUSH_MS;
	k->outage_ms = o->outage_ms > 0 ? o->outage_ms : SINK_KAFKA_DEFAULT_OUTAGE_MS;
	k->metrics = o->metrics;
	k->topic_tmpl = strdup(o->topic && o->topic[0] ? o->topic : SINK_KAFKA_DEFAULT_TOPIC);
	if (!k->topic_tmpl) {
		err = -ENOMEM;
		goto out_free;
	}
	k->per_class = tmpl_per_class(k->topic_tmpl);
	if (o->node_id && o->node_id[0])
		snprintf(k->node, sizeof(k->node), "%s", o->node_id);
	else
		read_node_id(k->node, sizeof(k->node));
	k->node_len = strlen(k->node);
	if (o->ocsf) {
		k->ocsf = o->ocsf;
	} else {
		k->ocsf_own = malloc(sizeof(*k->ocsf_own));
		if (!k->ocsf_own) {
			err = -ENOMEM;
			goto out_free;
		}
		err = ocsf_ctx__init_host(k->ocsf_own, AW_VERSION);
		if (err)
			goto out_free;
		k->ocsf = k->ocsf_own;
	}

	err = spool__open(&k->spool, &so);
	if (err)
		goto out_free;

	conf = rd_kafka_conf_new();
	err = kafka_configure(k, o, conf);
	if (err)
		goto out_free;
	k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!k->rk) {
		log_error("kafka: producer: %s", errstr);
		err = -EINVAL;
		goto out_free;
	}
	conf = NULL; /* the producer owns it */

	err = pthread_create(&k->poller, NULL, kafka_poll_thread, k);
	if (err) {
		err = -err;
		goto out_free;
	}
	k->poller_running = true;
	return &k->base;

out_free:
	if (conf)
		rd_kafka_conf_destroy(conf);
	kafka_free(k);
	errno = -err;
	return NULL;
}

int sink_kafka__stats(struct sink *s, struct sink_kafka_stats *out)
{
	struct sink_kafka *k = to_kafka(s);

	if (s->ops != &kafka_ops)
		return -EINVAL;
	out->produced = get(&k->c.produced);
	out->delivered = get(&k->c.delivered);
	out->delivery_errors = get(&k->c.delivery_errors);
	out->purged = get(&k->c.purged);
	out->queue_full = get(&k->c.queue_full);
	out->spooled = get(&k->c.spooled);
	out->replayed = get(&k->c.replayed);
	out->dropped = get(&k->c.dropped);
	out->gap_events = get(&k->c.gap_events);
	out->gap_lost = get(&k->c.gap_lost);
	out->in_flight = get(&k->in_flight);
	out->queue_depth = (uint64_t)rd_kafka_outq_len(k->rk);
	out->up = __atomic_load_n(&k->up, __ATOMIC_RELAXED);
	out->fatal = __atomic_load_n(&k->fatal, __ATOMIC_RELAXED);
	spool__stats(k->spool, &out->spool);
	return 0;
}

int sink_kafka__wait_idle(struct sink *s, int timeout_ms)
{
	struct sink_kafka *k = to_kafka(s);
	uint64_t deadline = mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	if (s->ops != &kafka_ops)
		return -EINVAL;
	for (;;) {
		if (!get(&k->in_flight) && !spool__pending(k->spool))
			return 0;
		if (mono_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(20000);
	}
}

static const struct sink_ops kafka_ops = {
	.name = "kafka",
	.write = kafka_write,
	.flush = kafka_flush,
	.close = kafka_close,
};
