// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "control.h"
#include "registry.h"

static int parse(const char *line, struct control_request *req, char *err)
{
	err[0] = '\0';
	return control__parse_request(line, strlen(line), req, err, 256);
}

static void expect_bad(const char *line, const char *want)
{
	struct control_request req;
	char err[256];

	if (parse(line, &req, err) != -EINVAL)
		fail_msg("accepted: %s", line);
	if (strncmp(err, want, strlen(want)))
		fail_msg("'%s': want '%s...', got '%s'", line, want, err);
}

static void test_parse_ops(void **state)
{
	struct control_request req;
	char err[256];

	assert_int_equal(parse("{\"op\":\"hello\"}", &req, err), 0);
	assert_int_equal(req.op, CONTROL_OP_HELLO);
	assert_int_equal(parse(" {\"op\": \"status\", \"future\": [1, 2]} \r", &req, err), 0);
	assert_int_equal(req.op, CONTROL_OP_STATUS);
	assert_int_equal(parse("{\"op\":\"follow\"}", &req, err), 0);
	assert_int_equal(req.op, CONTROL_OP_FOLLOW);
	assert_int_equal(
		parse("{\"op\":\"unregister\",\"cgroup\":\"/sys/fs/cgroup/a\"}", &req, err), 0);
	assert_int_equal(req.op, CONTROL_OP_UNREGISTER);
	assert_string_equal(req.cgroup, "/sys/fs/cgroup/a");
}

static void test_parse_register(void **state)
{
	struct control_request req;
	char err[256];

	assert_int_equal(parse("{\"op\":\"register\",\"cgroup\":\"/sys/fs/cgroup/agentwatch/c-1\","
			       "\"name\":\"claude\",\"session\":\"s-42\"}",
			       &req, err),
			 0);
	assert_int_equal(req.op, CONTROL_OP_REGISTER);
	assert_string_equal(req.cgroup, "/sys/fs/cgroup/agentwatch/c-1");
	assert_true(req.has_name);
	assert_string_equal(req.name, "claude");
	assert_true(req.has_session);
	assert_string_equal(req.session, "s-42");

	/* name and session are optional; null counts as absent */
	assert_int_equal(
		parse("{\"op\":\"register\",\"cgroup\":\"/a\",\"session\":null}", &req, err), 0);
	assert_false(req.has_name);
	assert_false(req.has_session);
	assert_false(req.has_home);
	assert_false(req.has_workspace);

	/* the agent's ${HOME} and ${WORKSPACE} for the daemon's policies */
	assert_int_equal(parse("{\"op\":\"register\",\"cgroup\":\"/a\",\"home\":\"/home/al\","
			       "\"workspace\":\"/home/al/src\"}",
			       &req, err),
			 0);
	assert_true(req.has_home);
	assert_string_equal(req.home, "/home/al");
	assert_true(req.has_workspace);
	assert_string_equal(req.workspace, "/home/al/src");
}

static void test_parse_errors(void **state)
{
	char long_name[128], line[256];

	expect_bad("", "not JSON");
	expect_bad("{\"op\":", "not JSON");
	expect_bad("[\"hello\"]", "a request is a JSON object");
	expect_bad("{\"op\":\"status\"} {}", "text after the request object");
	expect_bad("{}", "missing 'op'");
	expect_bad("{\"op\":7}", "'op' must be a string");
	expect_bad("{\"op\":\"reboot\"}", "unknown op 'reboot'");
	expect_bad("{\"op\":\"register\"}", "'cgroup' must be an absolute path");
	expect_bad("{\"op\":\"register\",\"cgroup\":\"rel/a\"}", "'cgroup' must be an absolute "
								 "path");
	expect_bad("{\"op\":\"unregister\",\"cgroup\":[\"/a\"]}", "'cgroup' must be a string");
	expect_bad("{\"op\":\"register\",\"cgroup\":\"/a\",\"name\":\"\"}", "'name' must be a "
									    "non-empty string");
	expect_bad("{\"op\":\"register\",\"cgroup\":\"/a\",\"name\":\"a\\u0000b\"}", "'name' must "
										     "be a "
										     "non-empty "
										     "string "
										     "without NUL");
	expect_bad("{\"op\":\"register\",\"cgroup\":\"/a\",\"home\":\"al\"}", "'home' must be "
									      "an absolute path");
	expect_bad("{\"op\":\"register\",\"cgroup\":\"/a\",\"workspace\":\"src\"}", "'workspace' "
										    "must be an "
										    "absolute "
										    "path");
	expect_bad("{\"op\":\"register\",\"cgroup\":\"/a\",\"home\":1}", "'home' must be a "
									 "string");
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	snprintf(line, sizeof(line), "{\"op\":\"register\",\"cgroup\":\"/a\",\"name\":\"%s\"}",
		 long_name);
	expect_bad(line, "'name' is longer than 63 bytes");
}

static void test_encode(void **state)
{
	struct registry_agent a = {
		.agent = {.slot = 3, .name = "pod-x/abc", .agent_uid = "u-1", .session_uid = "s-1"},
		.cgroup_id = 9001,
		.path = "/sys/fs/cgroup/kubepods.slice/x",
		.k8s = {.pod_uid = "x", .container_id = "abc", .runtime = "containerd"},
		.source = REGISTRY_SELECTOR,
	};
	struct json_object *o = control__agent_json(&a);
	size_t len;

	assert_string_equal(control__line(o, &len), "{\"slot\":3,\"name\":\"pod-x/"
						    "abc\",\"cgroup\":\"/sys/fs/cgroup/"
						    "kubepods.slice/"
						    "x\",\"cgroup_id\":9001,\"agent_uid\":\"u-1\","
						    "\"session_uid\":\"s-1\",\"source\":"
						    "\"selector\",\"k8s\":{\"pod_uid\":"
						    "\"x\",\"container_id\":\"abc\",\"runtime\":"
						    "\"containerd\"}}");
	json_object_put(o);
	a.k8s.pod_uid[0] = a.k8s.container_id[0] = '\0';
	a.source = REGISTRY_CLIENT;
	o = control__agent_json(&a);
	assert_null(strstr(control__line(o, &len), "k8s"));
	assert_non_null(strstr(control__line(o, &len), "\"source\":\"client\""));
	json_object_put(o);
	o = control__error("no \"such\" cgroup");
	assert_string_equal(control__line(o, &len), "{\"ok\":false,\"error\":\"no \\\"such\\\" "
						    "cgroup\"}");
	assert_int_equal(len, strlen(control__line(o, &len)));
	json_object_put(o);
}

/* Take everything queued as one string. */
static void drain(struct control_queue *q, char *out, size_t size)
{
	size_t n = control_queue__pending(q);

	assert_true(n < size);
	memcpy(out, control_queue__data(q), n);
	out[n] = '\0';
	control_queue__consume(q, n);
}

static void test_queue_drops_and_tells(void **state)
{
	struct control_queue q;
	char out[512];

	control_queue__init(&q, 100);
	assert_int_equal(
		control_queue__push_event(&q, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 39), 0);
	assert_int_equal(
		control_queue__push_event(&q, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 39), 0);
	assert_int_equal(control_queue__pending(&q), 80);
	/* The third does not fit in 100 bytes: dropped and counted, nothing half-written. */
	assert_int_equal(control_queue__push_event(&q, "ccccccccccccccccccccccccccccccccccccccc",
						   39),
			 -ENOBUFS);
	assert_int_equal(control_queue__push_event(&q, "d", 1), -ENOBUFS);
	assert_int_equal(q.dropped, 2);
	assert_int_equal(control_queue__pending(&q), 80);

	/* The reader takes part of it: the rest stays in order. */
	control_queue__consume(&q, 40);
	assert_memory_equal(control_queue__data(&q), "bbb", 3);
	drain(&q, out, sizeof(out));
	assert_int_equal(strlen(out), 40);

	/* The next line is preceded by the notice of what this client missed. */
	assert_int_equal(control_queue__push_event(&q, "e", 1), 0);
	drain(&q, out, sizeof(out));
	assert_string_equal(out, "{\"notice\":\"dropped\",\"count\":2,\"total\":2}\ne\n");
	assert_int_equal(q.dropped, 0);
	assert_int_equal(q.dropped_total, 2);
	control_queue__free(&q);
}

static void test_queue_notice_without_new_event(void **state)
{
	struct control_queue q;
	char out[512];

	control_queue__init(&q, 64);
	assert_int_equal(
		control_queue__push_event(&q, "0123456789012345678901234567890123456789", 40), 0);
	assert_int_equal(control_queue__push_event(&q, "x", 1), 0);
	assert_int_equal(control_queue__push_event(&q, "0123456789012345678901234", 25), -ENOBUFS);
	/* No room for the notice yet: it waits, and counts what follows. */
	control_queue__notice_drops(&q);
	assert_int_equal(q.dropped, 1);
	/* "y" would fit, but the notice must come first: it is dropped too. */
	assert_int_equal(control_queue__push_event(&q, "y", 1), -ENOBUFS);
	assert_int_equal(q.dropped, 2);
	drain(&q, out, sizeof(out));
	assert_int_equal(control_queue__pending(&q), 0);
	control_queue__notice_drops(&q);
	drain(&q, out, sizeof(out));
	assert_string_equal(out, "{\"notice\":\"dropped\",\"count\":2,\"total\":2}\n");
	control_queue__free(&q);
}

static void test_queue_replies_are_whole(void **state)
{
	struct control_queue q;

	control_queue__init(&q, 16);
	assert_int_equal(control_queue__push(&q, "0123456789", 10), 0);
	assert_int_equal(control_queue__push(&q, "0123456789", 10), -ENOBUFS);
	assert_int_equal(q.dropped, 0); /* a reply is not an event: the caller decides */
	assert_int_equal(control_queue__pending(&q), 11);
	control_queue__free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ops),
		cmocka_unit_test(test_parse_register),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_queue_drops_and_tells),
		cmocka_unit_test(test_queue_notice_without_new_event),
		cmocka_unit_test(test_queue_replies_are_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
