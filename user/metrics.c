// SPDX-License-Identifier: Apache-2.0
/*
 * The metrics registry and its /metrics endpoint (metrics.h). The registry is plain atomics; the
 * only lock guards the first sighting of a rule name. Rendering writes through open_memstream,
 * once per scrape, on libmicrohttpd's thread.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "log.h"
#include "metrics.h"

struct metric_class {
	int uid_plus1; /* 0: free slot */
	uint64_t count;
};

struct metric_rule {
	char *name;
	uint64_t count;
};

struct metrics {
	uint64_t values[METRIC__COUNT];
	uint64_t drops[METRIC_DROP__COUNT];
	struct metric_class classes[METRICS_MAX_CLASSES];
	uint64_t classes_other;
	pthread_mutex_t rules_lock;
	struct metric_rule rules[METRICS_MAX_RULES];
	int n_rules; /* written under rules_lock, read with an acquire load */
	uint64_t rules_other;
	int enforcement[3]; /* exec, file, network: enum aw_level + 1, 0 when unknown */
	struct MHD_Daemon *httpd;
};

static const char *const drop_names[METRIC_DROP__COUNT] = {
	[METRIC_DROP_RING_BUFFER] = "ring_buffer",
	[METRIC_DROP_DECODE] = "decode",
	[METRIC_DROP_ENCODE] = "encode",
	[METRIC_DROP_SINK] = "sink",
};

static const char *const action_names[3] = {"exec", "file", "network"};

struct scalar_def {
	enum metric_id id;
	const char *name;
	const char *type;
	const char *help;
};

/* Unlabelled metrics, in the order they are rendered. */
static const struct scalar_def scalars[] = {
	{METRIC_KAFKA_QUEUE_MESSAGES, "agentwatch_kafka_queue_messages", "gauge",
	 "Messages and requests in librdkafka's queue."},
	{METRIC_KAFKA_IN_FLIGHT, "agentwatch_kafka_in_flight_messages", "gauge",
	 "Records handed to librdkafka without a delivery report yet."},
	{METRIC_KAFKA_UP, "agentwatch_kafka_up", "gauge",
	 "1 while the Kafka brokers are believed reachable, 0 while records go to the spool."},
	{METRIC_KAFKA_BROKERS_UP, "agentwatch_kafka_brokers_up", "gauge",
	 "Kafka brokers librdkafka holds an open connection to."},
	{METRIC_KAFKA_DELIVERED, "agentwatch_kafka_delivered_total", "counter",
	 "Records acknowledged by the Kafka broker."},
	{METRIC_KAFKA_DELIVERY_ERRORS, "agentwatch_kafka_delivery_errors_total", "counter",
	 "Delivery reports with an error (the record was spooled); purges at shutdown excluded."},
	{METRIC_KAFKA_SPOOLED, "agentwatch_kafka_spooled_total", "counter",
	 "Records written to the spool instead of Kafka."},
	{METRIC_SPOOL_BYTES, "agentwatch_spool_bytes", "gauge", "Bytes of spool segments on disk."},
	{METRIC_SPOOL_RECORDS, "agentwatch_spool_records", "gauge",
	 "Records in the spool not yet replayed."},
	{METRIC_SPOOL_REPLAYED, "agentwatch_spool_replayed_total", "counter",
	 "Spooled records delivered to Kafka."},
	{METRIC_GAP_EVENTS, "agentwatch_gap_events_total", "counter",
	 "Gap events emitted, each reporting records that were lost."},
	{METRIC_POLICY_GENERATION, "agentwatch_policy_generation", "gauge",
	 "Generation of the policy applied in the kernel."},
	{METRIC_POLICY_RELOAD_FAILURES, "agentwatch_policy_reload_failures_total", "counter",
	 "Policy reloads rejected."},
};

struct metrics *metrics__new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	pthread_mutex_init(&m->rules_lock, NULL);
	return m;
}

void metrics__free(struct metrics *m)
{
	int i;

	if (!m)
		return;
	metrics__stop(m);
	for (i = 0; i < m->n_rules; i++)
		free(m->rules[i].name);
	pthread_mutex_destroy(&m->rules_lock);
	free(m);
}

static uint64_t load(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

void metrics__add(struct metrics *m, enum metric_id id, uint64_t n)
{
	if (m && id < METRIC__COUNT)
		__atomic_fetch_add(&m->values[id], n, __ATOMIC_RELAXED);
}

void metrics__set(struct metrics *m, enum metric_id id, uint64_t v)
{
	if (m && id < METRIC__COUNT)
		__atomic_store_n(&m->values[id], v, __ATOMIC_RELAXED);
}

uint64_t metrics__get(struct metrics *m, enum metric_id id)
{
	return m && id < METRIC__COUNT ? load(&m->values[id]) : 0;
}

void metrics__add_drop(struct metrics *m, enum metric_drop reason, uint64_t n)
{
	if (m && reason < METRIC_DROP__COUNT)
		__atomic_fetch_add(&m->drops[reason], n, __ATOMIC_RELAXED);
}

void metrics__set_drop(struct metrics *m, enum metric_drop reason, uint64_t v)
{
	if (m && reason < METRIC_DROP__COUNT)
		__atomic_store_n(&m->drops[reason], v, __ATOMIC_RELAXED);
}

void metrics__add_event(struct metrics *m, int class_uid)
{
	int i, want = class_uid + 1;

	if (!m)
		return;
	if (class_uid < 0)
		goto other;
	for (i = 0; i < METRICS_MAX_CLASSES; i++) {
		struct metric_class *c = &m->classes[i];
		int cur = __atomic_load_n(&c->uid_plus1, __ATOMIC_ACQUIRE);

		/* Claim a free slot; if another thread claimed it first, cur gets its class. */
		if (!cur && __atomic_compare_exchange_n(&c->uid_plus1, &cur, want, false,
							__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			cur = want;
		if (cur == want) {
			__atomic_fetch_add(&c->count, 1, __ATOMIC_RELAXED);
			return;
		}
	}
other:
	__atomic_fetch_add(&m->classes_other, 1, __ATOMIC_RELAXED);
}

void metrics__add_denial(struct metrics *m, const char *rule)
{
	int i, n;

	if (!m)
		return;
	if (!rule || !rule[0])
		rule = "unknown";
	n = __atomic_load_n(&m->n_rules, __ATOMIC_ACQUIRE);
	for (i = 0; i < n; i++) {
		if (!strcmp(m->rules[i].name, rule)) {
			__atomic_fetch_add(&m->rules[i].count, 1, __ATOMIC_RELAXED);
			return;
		}
	}
	pthread_mutex_lock(&m->rules_lock);
	for (i = 0; i < m->n_rules; i++)
		if (!strcmp(m->rules[i].name, rule))
			break;
	if (i == m->n_rules) {
		char *name = i < METRICS_MAX_RULES ? strdup(rule) : NULL;

		if (!name) {
			pthread_mutex_unlock(&m->rules_lock);
			__atomic_fetch_add(&m->rules_other, 1, __ATOMIC_RELAXED);
			return;
		}
		m->rules[i].name = name;
		__atomic_store_n(&m->n_rules, i + 1, __ATOMIC_RELEASE);
	}
	__atomic_fetch_add(&m->rules[i].count, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&m->rules_lock);
}

void metrics__set_enforcement(struct metrics *m, const struct aw_capabilities *caps)
{
	if (!m)
		return;
	__atomic_store_n(&m->enforcement[0], (int)caps->exec + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&m->enforcement[1], (int)caps->file + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&m->enforcement[2], (int)caps->network + 1, __ATOMIC_RELAXED);
}

/* --- exposition format ------------------------------------------------------------------- */

/* A label value: backslash, double quote and newline escaped. */
static void put_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int metrics__render(struct metrics *m, char **out, size_t *len)
{
	static const enum aw_level levels[] = {AW_LEVEL_UNAVAILABLE, AW_LEVEL_AUDIT, AW_LEVEL_KILL,
					       AW_LEVEL_CGROUP, AW_LEVEL_LSM};
	FILE *f;
	size_t i, j;
	int n;

	*out = NULL;
	*len = 0;
	f = open_memstream(out, len);
	if (!f)
		return -ENOMEM;

	family(f, "agentwatch_build_info", "gauge", "agentwatch version.");
	fprintf(f, "agentwatch_build_info{version=\"");
	put_label(f, AW_VERSION);
	fprintf(f, "\"} 1\n");

	family(f, "agentwatch_events_total", "counter", "Audit events encoded, by OCSF class.");
	for (i = 0; i < METRICS_MAX_CLASSES; i++) {
		int uid = __atomic_load_n(&m->classes[i].uid_plus1, __ATOMIC_ACQUIRE);

		if (uid)
			fprintf(f, "agentwatch_events_total{class_uid=\"%d\"} %lu\n", uid - 1,
				(unsigned long)load(&m->classes[i].count));
	}
	if (load(&m->classes_other))
		fprintf(f, "agentwatch_events_total{class_uid=\"other\"} %lu\n",
			(unsigned long)load(&m->classes_other));

	family(f, "agentwatch_drops_total", "counter",
	       "Audit events lost, by where: ring_buffer, decode, encode, sink.");
	for (i = 0; i < METRIC_DROP__COUNT; i++)
		fprintf(f, "agentwatch_drops_total{reason=\"%s\"} %lu\n", drop_names[i],
			(unsigned long)load(&m->drops[i]));

	family(f, "agentwatch_ring_buffer_drops_total", "counter",
	       "Events the BPF programs could not put in the ring buffer, by reason: full (the "
	       "daemon is behind), no_scratch.");
	fprintf(f, "agentwatch_ring_buffer_drops_total{reason=\"full\"} %lu\n",
		(unsigned long)load(&m->values[METRIC_RING_BUFFER_FULL]));
	fprintf(f, "agentwatch_ring_buffer_drops_total{reason=\"no_scratch\"} %lu\n",
		(unsigned long)load(&m->values[METRIC_RING_BUFFER_NO_SCRATCH]));

	family(f, "agentwatch_denials_total", "counter",
	       "Operations the kernel refused, by deciding rule.");
	n = __atomic_load_n(&m->n_rules, __ATOMIC_ACQUIRE);
	for (i = 0; i < (size_t)n; i++) {
		fprintf(f, "agentwatch_denials_total{rule=\"");
		put_label(f, m->rules[i].name);
		fprintf(f, "\"} %lu\n", (unsigned long)load(&m->rules[i].count));
	}
	if (load(&m->rules_other))
		fprintf(f, "agentwatch_denials_total{rule=\"other\"} %lu\n",
			(unsigned long)load(&m->rules_other));

	for (i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		family(f, scalars[i].name, scalars[i].type, scalars[i].help);
		fprintf(f, "%s %lu\n", scalars[i].name,
			(unsigned long)load(&m->values[scalars[i].id]));
	}

	family(f, "agentwatch_spool_skipped_total", "counter",
	       "Unreadable spool stretches skipped on replay: corrupt, or a torn tail.");
	fprintf(f, "agentwatch_spool_skipped_total{reason=\"corrupt\"} %lu\n",
		(unsigned long)load(&m->values[METRIC_SPOOL_CORRUPT]));
	fprintf(f, "agentwatch_spool_skipped_total{reason=\"torn\"} %lu\n",
		(unsigned long)load(&m->values[METRIC_SPOOL_TORN]));

	family(f, "agentwatch_enforcement_level", "gauge",
	       "1 for the enforcement level the kernel allows for each action, 0 for the others.");
	for (i = 0; i < 3; i++) {
		int cur = __atomic_load_n(&m->enforcement[i], __ATOMIC_RELAXED);

		if (!cur)
			continue;
		for (j = 0; j < sizeof(levels) / sizeof(levels[0]); j++)
			fprintf(f, "agentwatch_enforcement_level{action=\"%s\",level=\"%s\"} %d\n",
				action_names[i], aw_level__name(levels[j]),
				cur - 1 == (int)levels[j]);
	}
	if (fclose(f)) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* --- HTTP ------------------------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *text)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	struct metrics *m = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t len;
	char *text;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
	if (!strcmp(url, "/"))
		return reply(c, MHD_HTTP_OK, "agentwatch: metrics at /metrics\n");
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "not found; metrics are at /metrics\n");
	if (metrics__render(m, &text, &len))
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* "HOST:PORT", "[V6]:PORT", ":PORT" -> host ("" for any) and port; -EINVAL if malformed. */
static int split_addr(const char *s, char *host, size_t hsize, char *port, size_t psize)
{
	const char *colon;
	size_t n;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		n = (size_t)(end - s - 1);
		if (n >= hsize)
			return -EINVAL;
		memcpy(host, s + 1, n);
		host[n] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		n = (size_t)(colon - s);
		if (n >= hsize)
			return -EINVAL;
		memcpy(host, s, n);
		host[n] = '\0';
	}
	n = strlen(colon + 1);
	if (!n || n >= psize || strspn(colon + 1, "0123456789") != n || atol(colon + 1) > 65535)
		return -EINVAL;
	memcpy(port, colon + 1, n + 1);
	return 0;
}

int metrics__start(struct metrics *m, const char *addr_port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
	char host[256], port[8];
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD;
	int err;

	if (m->httpd)
		return -EALREADY;
	if (split_addr(addr_port, host, sizeof(host), port, sizeof(port))) {
		log_error("metrics: '%s': expected HOST:PORT, [IPV6]:PORT or :PORT", addr_port);
		return -EINVAL;
	}
	err = getaddrinfo(host[0] ? host : "0.0.0.0", port, &hints, &ai);
	if (err) {
		log_error("metrics: '%s': %s", addr_port, gai_strerror(err));
		return -EINVAL;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->httpd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR,
				    ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)16,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
				    MHD_OPTION_END);
	err = errno;
	freeaddrinfo(ai);
	if (!m->httpd)
		return log_errno(err ? err : EADDRINUSE, "metrics: listen on '%s'", addr_port);
	return 0;
}

int metrics__port(struct metrics *m)
{
	const union MHD_DaemonInfo *info;

	if (!m->httpd)
		return 0;
	info = MHD_get_daemon_info(m->httpd, MHD_DAEMON_INFO_BIND_PORT);
	return info ? info->port : 0;
}

void metrics__stop(struct metrics *m)
{
	if (m->httpd) {
		MHD_stop_daemon(m->httpd);
		m->httpd = NULL;
	}
}
