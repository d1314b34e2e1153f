// SPDX-License-Identifier: Apache-2.0
/*
 * Metrics: the exposition text (families once, label values escaped, enforcement as a
 * labelled gauge, bounded label sets), counts that add up under concurrent updates, and the
 * HTTP endpoint (200 on /metrics with the right content type, 404, 405, bad addresses).
 * tests/e2e/kafka.sh also runs `promtool check metrics` on a live scrape.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "metrics.h"
#include "metrics_feed.h"

static char *render(struct metrics *m)
{
	char *text;
	size_t len;

	assert_int_equal(metrics__render(m, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	return text;
}

/* The value of the sample line that starts with `series ` (name and labels), or -1. */
static long long sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while ((p = strstr(p, series))) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return atoll(p + n + 1);
		p += n;
	}
	return -1;
}

static int count(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_render_basics(void **state)
{
	struct metrics *m = metrics__new();
	char *t;

	assert_non_null(m);
	metrics__add(m, METRIC_KAFKA_DELIVERED, 5);
	metrics__add(m, METRIC_KAFKA_DELIVERED, 2);
	metrics__set(m, METRIC_KAFKA_QUEUE_MESSAGES, 42);
	metrics__set(m, METRIC_SPOOL_TORN, 3);
	metrics__add_drop(m, METRIC_DROP_RING_BUFFER, 9);
	metrics__set_drop(m, METRIC_DROP_SINK, 4);
	assert_int_equal(metrics__get(m, METRIC_KAFKA_DELIVERED), 7);
	t = render(m);
	assert_int_equal(sample(t, "agentwatch_kafka_delivered_total"), 7);
	assert_int_equal(sample(t, "agentwatch_kafka_queue_messages"), 42);
	assert_int_equal(sample(t, "agentwatch_spool_skipped_total{reason=\"torn\"}"), 3);
	assert_int_equal(sample(t, "agentwatch_spool_skipped_total{reason=\"corrupt\"}"), 0);
	assert_int_equal(sample(t, "agentwatch_drops_total{reason=\"ring_buffer\"}"), 9);
	assert_int_equal(sample(t, "agentwatch_drops_total{reason=\"sink\"}"), 4);
	assert_int_equal(sample(t, "agentwatch_drops_total{reason=\"decode\"}"), 0);
	assert_int_equal(sample(t, "agentwatch_build_info{version=\"" AW_VERSION "\"}"), 1);
	/* One HELP and one TYPE per family. */
	assert_int_equal(count(t, "# TYPE agentwatch_drops_total counter\n"), 1);
	assert_int_equal(count(t, "# HELP agentwatch_drops_total "), 1);
	assert_int_equal(count(t, "# TYPE agentwatch_kafka_up gauge\n"), 1);
	assert_int_equal(t[strlen(t) - 1], '\n');
	free(t);
	metrics__free(m);
}

static void test_classes(void **state)
{
	struct metrics *m = metrics__new();
	char *t;
	int i;

	metrics__add_event(m, 1007);
	metrics__add_event(m, 1007);
	metrics__add_event(m, 4001);
	metrics__add_event(m, 0);
	metrics__add_event(m, -5); /* not a class: other */
	for (i = 0; i < 40; i++)   /* past the bound: other */
		metrics__add_event(m, 6000 + i);
	t = render(m);
	assert_int_equal(sample(t, "agentwatch_events_total{class_uid=\"1007\"}"), 2);
	assert_int_equal(sample(t, "agentwatch_events_total{class_uid=\"4001\"}"), 1);
	assert_int_equal(sample(t, "agentwatch_events_total{class_uid=\"0\"}"), 1);
	/* 3 classes took slots; 29 of the 40 new ones fit, 11 and the bad one are other. */
	assert_int_equal(sample(t, "agentwatch_events_total{class_uid=\"other\"}"), 12);
	assert_int_equal(count(t, "agentwatch_events_total{class_uid="), METRICS_MAX_CLASSES + 1);
	free(t);
	metrics__free(m);
}

static void test_denials_escaping(void **state)
{
	struct metrics *m = metrics__new();
	char *t;

	metrics__add_denial(m, "ssh-keys");
	metrics__add_denial(m, "ssh-keys");
	metrics__add_denial(m, "odd \"name\" with \\ and\nnewline");
	metrics__add_denial(m, NULL);
	metrics__add_denial(m, "");
	t = render(m);
	assert_int_equal(sample(t, "agentwatch_denials_total{rule=\"ssh-keys\"}"), 2);
	assert_int_equal(sample(t, "agentwatch_denials_total{rule=\"odd \\\"name\\\" with \\\\ "
				   "and\\nnewline\"}"),
			 1);
	assert_int_equal(sample(t, "agentwatch_denials_total{rule=\"unknown\"}"), 2);
	free(t);
	metrics__free(m);
}

/* The daemon's feed: classes from event types, denials only for blocked events, by rule name. */
static void test_feed_events(void **state)
{
	static const char policy_change[] = "{\"class_uid\":6002,\"activity_id\":1}";
	struct metrics *m = metrics__new();
	struct aw_event ev = {.type = AW_EV_FILE_OPEN};
	char *t;
	int i;

	for (i = 0; i < 3; i++)
		metrics_feed__event(m, &ev, NULL, 0);
	ev.disposition = AW_DISP_BLOCKED;
	ev.rule = "no-secrets";
	metrics_feed__event(m, &ev, NULL, 0);
	ev.type = AW_EV_NET;
	ev.rule = "egress-allowlist";
	metrics_feed__event(m, &ev, NULL, 0);
	metrics_feed__event(m, &ev, NULL, 0);
	ev.disposition = AW_DISP_WOULD_BLOCK; /* audit mode: not a denial */
	metrics_feed__event(m, &ev, NULL, 0);
	ev.type = AW_EV_EXEC;
	ev.disposition = AW_DISP_ALLOWED;
	metrics_feed__event(m, &ev, NULL, 0);
	ev.type = AW_EV_FORK;
	metrics_feed__event(m, &ev, NULL, 0);
	ev.type = AW_EV_SYSCALL;
	metrics_feed__event(m, &ev, NULL, 0);
	metrics_feed__event(NULL, &ev, NULL, 0); /* no registry: ignored */
	/* A document without an event behind it: its class from the JSON. */
	metrics_feed__event(m, NULL, policy_change, strlen(policy_change));
	t = render(m);
	assert_int_equal(sample(t, "agentwatch_events_total{class_uid=\"1001\"}"), 4);
	assert_int_equal(sample(t, "agentwatch_events_total{class_uid=\"4001\"}"), 3);
	assert_int_equal(sample(t, "agentwatch_events_total{class_uid=\"1007\"}"), 2);
	assert_int_equal(sample(t, "agentwatch_events_total{class_uid=\"1003\"}"), 1);
	assert_int_equal(sample(t, "agentwatch_events_total{class_uid=\"6002\"}"), 1);
	assert_int_equal(sample(t, "agentwatch_denials_total{rule=\"no-secrets\"}"), 1);
	assert_int_equal(sample(t, "agentwatch_denials_total{rule=\"egress-allowlist\"}"), 2);
	assert_int_equal(count(t, "agentwatch_denials_total{"), 2);
	assert_int_equal(metrics_feed__class_uid(&(struct aw_event){.type = AW_EV_CGROUP_MKDIR}),
			 -1);
	free(t);
	metrics__free(m);
}

/* Ring-buffer drops by reason and the brokers gauge are their own families. */
static void test_ring_buffer_and_brokers(void **state)
{
	struct metrics *m = metrics__new();
	char *t;

	metrics__set(m, METRIC_RING_BUFFER_FULL, 17);
	metrics__set(m, METRIC_RING_BUFFER_NO_SCRATCH, 2);
	metrics__set(m, METRIC_KAFKA_BROKERS_UP, 3);
	t = render(m);
	assert_int_equal(sample(t, "agentwatch_ring_buffer_drops_total{reason=\"full\"}"), 17);
	assert_int_equal(sample(t, "agentwatch_ring_buffer_drops_total{reason=\"no_scratch\"}"), 2);
	assert_int_equal(sample(t, "agentwatch_kafka_brokers_up"), 3);
	assert_int_equal(count(t, "# TYPE agentwatch_ring_buffer_drops_total counter\n"), 1);
	assert_int_equal(count(t, "# TYPE agentwatch_kafka_brokers_up gauge\n"), 1);
	free(t);
	metrics__free(m);
}

static void test_enforcement(void **state)
{
	struct aw_capabilities caps = {
		.exec = AW_LEVEL_LSM, .file = AW_LEVEL_AUDIT, .network = AW_LEVEL_CGROUP};
	struct metrics *m = metrics__new();
	char *t = render(m);

	/* Unknown until set: the family alone. */
	assert_int_equal(count(t, "agentwatch_enforcement_level{"), 0);
	free(t);
	metrics__set_enforcement(m, &caps);
	t = render(m);
	assert_int_equal(sample(t, "agentwatch_enforcement_level{action=\"exec\",level=\"lsm\"}"),
			 1);
	assert_int_equal(sample(t, "agentwatch_enforcement_level{action=\"exec\",level=\"audit\"}"),
			 0);
	assert_int_equal(sample(t, "agentwatch_enforcement_level{action=\"file\",level=\"audit\"}"),
			 1);
	assert_int_equal(sample(t, "agentwatch_enforcement_level{action=\"network\",level="
				   "\"cgroup\"}"),
			 1);
	assert_int_equal(count(t, "agentwatch_enforcement_level{"), 15);
	assert_int_equal(count(t, "agentwatch_enforcement_level{action=\"file\""), 5);
	free(t);
	metrics__free(m);
}

#define THREADS 4
#define PER	20000

static void *hammer(void *arg)
{
	struct metrics *m = arg;
	char rule[16];
	int i;

	for (i = 0; i < PER; i++) {
		metrics__add_event(m, 1000 + i % 5);
		metrics__add(m, METRIC_KAFKA_DELIVERED, 1);
		snprintf(rule, sizeof(rule), "r%d", i % 7);
		if (i % 10 == 0)
			metrics__add_denial(m, rule);
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	struct metrics *m = metrics__new();
	pthread_t th[THREADS];
	long long sum = 0;
	char series[96];
	char *t;
	int i;

	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer, m), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	t = render(m);
	assert_int_equal(sample(t, "agentwatch_kafka_delivered_total"), THREADS * PER);
	for (i = 0; i < 5; i++) {
		snprintf(series, sizeof(series), "agentwatch_events_total{class_uid=\"%d\"}",
			 1000 + i);
		assert_int_equal(sample(t, series), THREADS * PER / 5);
	}
	assert_int_equal(count(t, "agentwatch_events_total{class_uid="), 5);
	for (i = 0; i < 7; i++) {
		snprintf(series, sizeof(series), "agentwatch_denials_total{rule=\"r%d\"}", i);
		assert_true(sample(t, series) > 0);
		sum += sample(t, series);
	}
	assert_int_equal(sum, THREADS * PER / 10);
	assert_int_equal(count(t, "agentwatch_denials_total{rule="), 7);
	free(t);
	metrics__free(m);
}

/* One HTTP request to 127.0.0.1:port; the whole response, NUL-terminated (caller frees). */
static char *http(int port, const char *request)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	ssize_t n;
	int fd;

	assert_non_null(buf);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	while ((n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	return buf;
}

static void test_http(void **state)
{
	struct metrics *m = metrics__new();
	char *r;
	int port;

	assert_int_equal(metrics__port(m), 0);
	assert_int_equal(metrics__start(m, "127.0.0.1:0"), 0);
	assert_int_equal(metrics__start(m, "127.0.0.1:0"), -EALREADY);
	port = metrics__port(m);
	assert_true(port > 0);
	metrics__add(m, METRIC_GAP_EVENTS, 3);

	r = http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	assert_non_null(strstr(r, "HTTP/1.1 200"));
	assert_non_null(strstr(r, "text/plain; version=0.0.4"));
	assert_non_null(strstr(r, "\r\n\r\n# HELP agentwatch_build_info"));
	assert_int_equal(sample(strstr(r, "\r\n\r\n") + 4, "agentwatch_gap_events_total"), 3);
	free(r);
	r = http(port, "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	assert_non_null(strstr(r, "HTTP/1.1 404"));
	free(r);
	r = http(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
		       "Connection: close\r\n\r\n");
	assert_non_null(strstr(r, "HTTP/1.1 405"));
	free(r);
	metrics__stop(m);
	assert_int_equal(metrics__port(m), 0);
	metrics__free(m);
}

static void test_bad_addresses(void **state)
{
	static const char *const bad[] = {"9464", "host:", ":port", "[::1]9464", "[::1", ":99999x"};
	struct metrics *m = metrics__new();
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(metrics__start(m, bad[i]), -EINVAL);
	assert_int_equal(metrics__start(m, "127.0.0.1:99999"), -EINVAL);
	/* IPv6 loopback, if this machine has it. */
	if (!metrics__start(m, "[::1]:0")) {
		assert_true(metrics__port(m) > 0);
		metrics__stop(m);
	}
	metrics__free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_basics),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_denials_escaping),
		cmocka_unit_test(test_enforcement),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_feed_events),
		cmocka_unit_test(test_ring_buffer_and_brokers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
