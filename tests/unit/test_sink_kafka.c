// SPDX-License-Identifier: Apache-2.0
/*
 * The Kafka sink against librdkafka's in-process mock cluster: records carry the agent (or the
 * node) as key, the event time as timestamp and the four headers; a topic template routes by
 * class; with the brokers down, records go to the spool and close purges the rest there; a new
 * sink replays the spool; a full spool ends in a gap event with the right count, which is valid
 * OCSF 1.8.0 (Event Log Activity). Also the helpers and bad properties.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "ocsf.h"
#include "sink_kafka.h"
#include "spool.h"

/* The validator is built into this test: the Makefile compiles each tests/unit/test_*.c alone. */
#include "ocsf_schema.c"

#define NODE "node-7f3a"

static const struct aw_agent agent = {
	.slot = 3,
	.agent_uid = "0b7c6a52-3f7e-4a39-9d55-1f2e3d4c5b6a",
	.name = "claude",
};

struct fixture {
	rd_kafka_t *mock_rk;
	rd_kafka_mock_cluster_t *mc;
	const char *bootstrap;
	char dir[64];
	struct ocsf_ctx ocsf;
};

static int setup(void **state)
{
	struct ocsf_node node = {.hostname = "vm", .node_uid = NODE, .product_version = "9.9.9"};
	struct fixture *f = calloc(1, sizeof(*f));
	char errstr[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (!f)
		return -1;
	/* The mock's own client has no brokers: keep its CONFWARN quiet. */
	rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
	f->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!f->mock_rk)
		return -1;
	f->mc = rd_kafka_mock_cluster_new(f->mock_rk, 1);
	if (!f->mc)
		return -1;
	f->bootstrap = rd_kafka_mock_cluster_bootstraps(f->mc);
	snprintf(f->dir, sizeof(f->dir), "/tmp/aw-test-kafka.XXXXXX");
	if (!mkdtemp(f->dir) || ocsf_ctx__init(&f->ocsf, &node))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[512];
	struct dirent *de;
	DIR *d = opendir(f->dir);

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", f->dir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	rd_kafka_mock_cluster_destroy(f->mc);
	rd_kafka_destroy(f->mock_rk);
	free(f);
	return 0;
}

static struct sink *new_sink(struct fixture *f, const char *topic, bool spool, int flush_ms,
			     const char *const *props, size_t n_props)
{
	struct sink_kafka_opts o = {
		.brokers = f->bootstrap,
		.topic = topic,
		.node_id = NODE,
		.props = props,
		.n_props = n_props,
		.spool_dir = spool ? f->dir : NULL,
		.flush_timeout_ms = flush_ms,
		.ocsf = &f->ocsf,
	};
	struct sink *s = sink_kafka__new(&o);

	assert_non_null(s);
	return s;
}

/* A small OCSF-shaped document: the sink only looks at class_uid. */
static int doc(char *buf, size_t size, int class_uid, uint64_t id)
{
	return snprintf(buf, size,
			"{\"activity_id\":1,\"class_uid\":%d,\"metadata\":{\"uid\":\"%" PRIu64
			"\"},\"pad\":\"%0200d\"}",
			class_uid, id, 0);
}

static void write_events(struct sink *s, uint64_t from, uint64_t to, int class_uid)
{
	struct aw_event ev;
	char buf[512];
	uint64_t id;

	for (id = from; id <= to; id++) {
		int len = doc(buf, sizeof(buf), class_uid, id);

		memset(&ev, 0, sizeof(ev));
		ev.event_id = id;
		ev.wall_ns = 1712345678000000000ULL + id * 1000000ULL;
		ev.agent = id % 2 ? &agent : NULL;
		sink__write(s, &ev, buf, (size_t)len);
	}
}

struct consumed {
	int n;
	uint64_t ids[4096];
	int gaps;
	int64_t gap_lost, gap_first, gap_last; /* over every gap event */
};

static const char *header(rd_kafka_message_t *m, const char *name, size_t *len)
{
	rd_kafka_headers_t *h;
	const void *v;

	if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, len))
		return NULL;
	return v;
}

/* A gap event: add up what it reports. */
static void check_gap(rd_kafka_message_t *m, struct consumed *out)
{
	json_object *g = json_tokener_parse(strndupa((const char *)m->payload, m->len));
	int64_t first, last;

	assert_non_null(g);
	assert_int_equal(m->key_len, strlen(NODE));
	first = json_object_get_int64(json_object_object_get(g, "start_time"));
	last = json_object_get_int64(json_object_object_get(g, "end_time"));
	if (!out->gaps || first < out->gap_first)
		out->gap_first = first;
	if (!out->gaps || last > out->gap_last)
		out->gap_last = last;
	out->gap_lost += json_object_get_int64(json_object_object_get(g, "count"));
	json_object_put(g);
	out->gaps++;
}

/* One record: headers, key, timestamp; its id goes to out. */
static void check_message(rd_kafka_message_t *m, struct consumed *out)
{
	rd_kafka_timestamp_type_t tst;
	const char *v, *cls;
	size_t len, clen;
	char num[24];
	uint64_t id;
	int64_t ts;

	assert_int_equal(m->err, 0);
	v = header(m, "schema", &len);
	assert_non_null(v);
	assert_memory_equal(v, "ocsf/1.8.0", len);
	v = header(m, "node", &len);
	assert_non_null(v);
	assert_memory_equal(v, NODE, len);
	cls = header(m, "ocsf_class", &clen);
	assert_non_null(cls);
	v = header(m, "event_id", &len);
	assert_non_null(v);
	if (clen == 4 && !memcmp(cls, "1008", 4)) {
		assert_true(len > 4 && !memcmp(v, "gap-", 4));
		check_gap(m, out);
		return;
	}
	assert_true(len < sizeof(num));
	memcpy(num, v, len);
	num[len] = '\0';
	id = strtoull(num, NULL, 10);
	/* Key: the agent for odd ids, the node for even ones. */
	if (id % 2) {
		assert_int_equal(m->key_len, strlen(agent.agent_uid));
		assert_memory_equal(m->key, agent.agent_uid, m->key_len);
	} else {
		assert_int_equal(m->key_len, strlen(NODE));
		assert_memory_equal(m->key, NODE, m->key_len);
	}
	ts = rd_kafka_message_timestamp(m, &tst);
	assert_int_equal(tst, RD_KAFKA_TIMESTAMP_CREATE_TIME);
	assert_int_equal(ts, 1712345678000LL + (int64_t)id);
	assert_true(out->n < 4096);
	out->ids[out->n++] = id;
}

/* Read every partition of a topic from the start (legacy consumer: no group needed). */
static void consume(struct fixture *f, const char *topic, struct consumed *out)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const struct rd_kafka_metadata *md;
	rd_kafka_queue_t *q;
	rd_kafka_topic_t *rkt;
	char errstr[256];
	rd_kafka_t *rk;
	int p, parts, eofs = 0;

	rd_kafka_conf_set(conf, "bootstrap.servers", f->bootstrap, errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	assert_non_null(rk);
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	assert_int_equal(rd_kafka_metadata(rk, 0, rkt, &md, 5000), 0);
	assert_int_equal(md->topic_cnt, 1);
	parts = md->topics[0].partition_cnt;
	rd_kafka_metadata_destroy(md);
	memset(out, 0, sizeof(*out));
	/* All partitions at once into one queue, until each has reported its end. */
	q = rd_kafka_queue_new(rk);
	for (p = 0; p < parts; p++)
		assert_int_equal(rd_kafka_consume_start_queue(rkt, p, RD_KAFKA_OFFSET_BEGINNING, q),
				 0);
	while (eofs < parts) {
		rd_kafka_message_t *m = rd_kafka_consume_queue(q, 5000);

		assert_non_null(m);
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			eofs++;
		else
			check_message(m, out);
		rd_kafka_message_destroy(m);
	}
	for (p = 0; p < parts; p++)
		rd_kafka_consume_stop(rkt, p);
	rd_kafka_queue_destroy(q);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Every id from..to exactly once (duplicates allowed when dups). */
static void expect_ids(struct consumed *c, uint64_t from, uint64_t to, bool dups)
{
	uint64_t want = from;
	int i;

	qsort(c->ids, (size_t)c->n, sizeof(c->ids[0]), cmp_u64);
	for (i = 0; i < c->n; i++) {
		if (i && c->ids[i] == c->ids[i - 1]) {
			assert_true(dups);
			continue;
		}
		assert_int_equal(c->ids[i], want);
		want++;
	}
	assert_int_equal(want, to + 1);
}

/* --- tests ------------------------------------------------------------------------------- */

static void test_class_uid(void **state)
{
	char big[1024];

	assert_int_equal(sink_kafka__class_uid("{\"activity_id\":1,\"class_uid\":1007}", 34), 1007);
	assert_int_equal(sink_kafka__class_uid("{\"class_uid\":0}", 15), 0);
	assert_int_equal(sink_kafka__class_uid("{\"class_uid\":\"x\"}", 17), -ENOENT);
	assert_int_equal(sink_kafka__class_uid("{}", 2), -ENOENT);
	/* Only the first 512 bytes are looked at. */
	memset(big, ' ', sizeof(big));
	memcpy(big + 600, "\"class_uid\":4001", 16);
	assert_int_equal(sink_kafka__class_uid(big, sizeof(big)), -ENOENT);
	memcpy(big + 100, "\"class_uid\":4001", 16);
	assert_int_equal(sink_kafka__class_uid(big, sizeof(big)), 4001);
}

static void test_topic_name(void **state)
{
	char buf[64];

	assert_int_equal(sink_kafka__topic_name("agentwatch.{class}", 1007, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "agentwatch.1007");
	assert_int_equal(sink_kafka__topic_name("aw-{class_name}", 4001, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "aw-network_activity");
	assert_int_equal(sink_kafka__topic_name("aw-{class_name}", 1008, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "aw-event_log_activity");
	assert_int_equal(sink_kafka__topic_name("aw-{class_name}", 6002, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "aw-application_lifecycle");
	assert_int_equal(sink_kafka__topic_name("aw-{class_name}", 6003, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "aw-class_6003");
	assert_int_equal(sink_kafka__topic_name("plain", 1001, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "plain");
	assert_int_equal(sink_kafka__topic_name("{class}{class}{class}", 1001, buf, 8),
			 -ENAMETOOLONG);
}

/* The gap event is valid OCSF 1.8.0 Event Log Activity and says what was lost. */
static void test_gap_event_ocsf(void **state)
{
	struct fixture *f = *state;
	struct spool_gap gap = {.lost = 1234, .first_ms = 1712345678001, .last_ms = 1712345679999};
	struct ocsf_schema schema;
	struct ocsf_report r = {0};
	json_object *o, *u;
	char root[PATH_MAX], buf[4096];
	int len;

	len = sink_kafka__gap_event(&f->ocsf, &gap, "gap-1", 1712345680000, buf, sizeof(buf));
	assert_true(len > 300);
	o = json_tokener_parse(buf);
	assert_non_null(o);
	assert_non_null(ocsf_schema__locate(root, sizeof(root)));
	assert_int_equal(ocsf_schema__open(&schema, root), 0);
	if (ocsf_schema__validate(&schema, o, &r))
		fail_msg("gap event is not valid OCSF:\n%s\n%s", r.text, buf);
	assert_int_equal(json_object_get_int(json_object_object_get(o, "class_uid")), 1008);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "count")), 1234);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "start_time")),
			 1712345678001LL);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "end_time")),
			 1712345679999LL);
	assert_true(json_object_object_get_ex(o, "unmapped", &u));
	assert_true(json_object_object_get_ex(u, "agentwatch_gap", &u));
	assert_int_equal(json_object_get_int64(json_object_object_get(u, "lost")), 1234);
	json_object_put(o);
	ocsf_schema__close(&schema);

	/* Too small a buffer is an error, never a cut document. */
	assert_int_equal(sink_kafka__gap_event(&f->ocsf, &gap, "gap-1", 1, buf, 100), -ENOSPC);
}

static void test_bad_properties(void **state)
{
	struct fixture *f = *state;
	const char *unknown[] = {"no.such.property=1"};
	const char *malformed[] = {"linger.ms"};
	const char *bad_value[] = {"linger.ms=forever"};
	struct sink_kafka_opts o = {.brokers = f->bootstrap, .n_props = 1};

	o.props = unknown;
	assert_null(sink_kafka__new(&o));
	assert_int_equal(errno, EINVAL);
	o.props = malformed;
	assert_null(sink_kafka__new(&o));
	assert_int_equal(errno, EINVAL);
	o.props = bad_value;
	assert_null(sink_kafka__new(&o));
	assert_int_equal(errno, EINVAL);
	o.brokers = NULL;
	o.n_props = 0;
	assert_null(sink_kafka__new(&o));
	assert_int_equal(errno, EINVAL);
}

/* Key, timestamp, headers; a topic template routes by class; -X overrides a default. */
static void test_deliver(void **state)
{
	struct fixture *f = *state;
	const char *props[] = {"linger.ms=1", "compression.type=zstd"};
	struct sink_kafka_stats st;
	struct sink_stats ss;
	struct consumed c;
	struct sink *s = new_sink(f, "t.{class}", true, 0, props, 2);

	write_events(s, 1, 300, 1001);
	write_events(s, 301, 400, 4001);
	assert_int_equal(sink_kafka__wait_idle(s, 10000), 0);
	assert_int_equal(sink_kafka__stats(s, &st), 0);
	assert_int_equal(st.delivered, 400);
	assert_int_equal(st.spooled + st.dropped + st.delivery_errors, 0);
	assert_true(st.up);
	sink__stats(s, &ss);
	assert_int_equal(ss.events, 400);
	assert_int_equal(ss.delivered, 400);
	sink__close(s);

	consume(f, "t.1001", &c);
	expect_ids(&c, 1, 300, false);
	consume(f, "t.4001", &c);
	expect_ids(&c, 301, 400, false);
}

/* Brokers down: records go to the spool, close purges the rest there; a new sink replays. */
static void test_outage_spool_replay(void **state)
{
	struct fixture *f = *state;
	const char *props[] = {"linger.ms=5"};
	struct sink_kafka_stats st;
	struct spool_opts so = {.dir = f->dir};
	struct spool_stats sst;
	struct consumed c;
	struct spool *sp;
	struct sink *s;
	int i;

	rd_kafka_mock_broker_set_down(f->mc, -1);
	s = new_sink(f, "outage", true, 300, props, 1);
	write_events(s, 1, 100, 1007);
	for (i = 0; i < 100; i++) { /* the sink notices: all brokers down */
		sink_kafka__stats(s, &st);
		if (!st.up)
			break;
		usleep(20000);
	}
	assert_false(st.up);
	write_events(s, 101, 200, 1007);
	sink_kafka__stats(s, &st);
	assert_true(st.spooled >= 100); /* at least the ones written while down */
	assert_int_equal(st.delivered, 0);
	sink__close(s); /* 300 ms flush, then purge into the spool */

	assert_int_equal(spool__open(&sp, &so), 0);
	spool__stats(sp, &sst);
	assert_int_equal(sst.records, 200);
	spool__close(sp);

	rd_kafka_mock_broker_set_up(f->mc, -1);
	s = new_sink(f, "outage", true, 0, props, 1);
	write_events(s, 201, 250, 1007);
	assert_int_equal(sink_kafka__wait_idle(s, 20000), 0);
	sink_kafka__stats(s, &st);
	assert_int_equal(st.replayed, 200);
	assert_int_equal(st.delivered, 250);
	assert_int_equal(st.spool.records, 0);
	sink__close(s);

	consume(f, "outage", &c);
	expect_ids(&c, 1, 250, false);
}

/* A full spool: drop newest; the gap event at close has the count and lands in the spool. */
static void test_spool_full_gap(void **state)
{
	struct fixture *f = *state;
	struct sink_kafka_opts o = {
		.brokers = f->bootstrap,
		.topic = "full",
		.node_id = NODE,
		.spool_dir = f->dir,
		.spool_max_bytes = 64 << 10,
		.spool_segment_bytes = 8 << 10,
		.flush_timeout_ms = 200,
		.outage_ms = 100,
		.ocsf = &f->ocsf,
	};
	const char *props[] = {"linger.ms=5"};
	struct sink_kafka_stats st;
	struct consumed c;
	struct sink *s;
	int i;

	o.props = props;
	o.n_props = 1;
	rd_kafka_mock_broker_set_down(f->mc, -1);
	s = sink_kafka__new(&o);
	assert_non_null(s);
	write_events(s, 1, 1, 1001);
	for (i = 0; i < 100; i++) {
		sink_kafka__stats(s, &st);
		if (!st.up)
			break;
		usleep(20000);
	}
	assert_false(st.up);
	write_events(s, 2, 1000, 1001); /* about 300 bytes each: the spool takes ~200 */
	sink_kafka__stats(s, &st);
	assert_true(st.dropped > 500);
	sink__close(s);

	rd_kafka_mock_broker_set_up(f->mc, -1);
	s = sink_kafka__new(&o);
	assert_non_null(s);
	assert_int_equal(sink_kafka__wait_idle(s, 20000), 0);
	sink__close(s);

	consume(f, "full", &c);
	/* Every id is either delivered or counted in a gap event (one here: loss stopped once). */
	assert_int_equal(c.gaps, 1);
	assert_int_equal(c.gap_lost, 1000 - c.n);
	assert_true(c.gap_first >= 1712345678001LL);
	assert_true(c.gap_last <= 1712345678000LL + 1000);
	/*
	 * Drop newest: what arrived is one unbroken run of ids (the first may have been lost
	 * instead: it waited in librdkafka's queue and was purged into a full spool at close).
	 */
	qsort(c.ids, (size_t)c.n, sizeof(c.ids[0]), cmp_u64);
	assert_true(c.n > 50);
	assert_true(c.ids[0] <= 2);
	assert_int_equal(c.ids[c.n - 1] - c.ids[0] + 1, (uint64_t)c.n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_class_uid),
		cmocka_unit_test(test_topic_name),
		cmocka_unit_test_setup_teardown(test_gap_event_ocsf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_properties, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outage_spool_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_full_gap, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
