// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch top's reader of the event stream (user/top_event.c): lines made by the real OCSF
 * encoder for every kind of event are read back field by field; also escapes, the follow
 * protocol's replies and notices, and malformed lines.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "ocsf.h"
#include "top_source.h"

static struct ocsf_ctx ctx;
static char buf[16384], scratch[8192];

static const struct aw_agent agent = {
	.slot = 3,
	.root_cgroup_id = 9001,
	.name = "claude",
	.agent_uid = "0b7c6a52-3f7e-4a39-9d55-1f2e3d4c5b6a",
	.session_uid = "s-42",
};

static int setup(void **state)
{
	struct ocsf_node node = {.hostname = "node-1", .kernel_release = "6.1.0"};

	return ocsf_ctx__init(&ctx, &node);
}

static void base(struct aw_event *ev, __u8 type)
{
	memset(ev, 0, sizeof(*ev));
	ev->event_id = 42;
	ev->wall_ns = 1712345678901234567ULL;
	ev->type = type;
	ev->task.pid = ev->task.tgid = 1234;
	ev->task.ppid = 1000;
	ev->task.agent_slot = 3;
	ev->task.cgroup_id = 9002;
	memcpy(ev->task.comm, "python3", 8);
	ev->agent = &agent;
	ev->enforcement = AW_LEVEL_CGROUP;
}

/* Encode with the daemon's encoder, then read back. */
static struct top_line parse(const struct aw_event *ev)
{
	struct top_line l;
	int len = ocsf__encode(ev, &ctx, buf, sizeof(buf));

	assert_true(len > 0);
	assert_int_equal(top_line__parse(buf, (size_t)len, &l, scratch, sizeof(scratch)), 0);
	assert_int_equal(l.kind, TOP_LINE_EVENT);
	assert_string_equal(l.ev.agent_uid, agent.agent_uid);
	assert_int_equal(l.ev.time_ms, 1712345678901ULL);
	return l;
}

static void test_exec_fork_exit(void **state)
{
	static const char argv[] = "git\0commit\0-m\0a \"quoted\" message";
	struct aw_event ev;
	struct top_line l;

	base(&ev, AW_EV_EXEC);
	ev.exec.path = "/usr/bin/git";
	ev.exec.argv = argv;
	ev.exec.argv_len = sizeof(argv) - 1;
	ev.exec.argc = 4;
	ev.exec.cwd = "/work";
	l = parse(&ev);
	assert_int_equal(l.ev.kind, TOP_EV_EXEC);
	assert_int_equal(l.ev.pid, 1234);
	assert_int_equal(l.ev.ppid, 1000);
	assert_string_equal(l.ev.comm, "python3");
	assert_string_equal(l.ev.path, "/usr/bin/git");
	assert_non_null(strstr(l.ev.cmdline, "\"quoted\""));
	assert_int_equal(l.ev.disp, TOP_DISP_ALLOWED);

	base(&ev, AW_EV_FORK);
	ev.task.pid = ev.task.tgid = 1300;
	ev.fork.parent_pid = ev.fork.parent_tgid = 1234;
	l = parse(&ev);
	assert_int_equal(l.ev.kind, TOP_EV_FORK);
	assert_int_equal(l.ev.pid, 1300);
	assert_int_equal(l.ev.ppid, 1234);

	/* A new thread is not a process: not an event top shows. */
	ev.fork.thread = true;
	assert_true(ocsf__encode(&ev, &ctx, buf, sizeof(buf)) > 0);
	{
		struct top_line t;

		assert_int_equal(top_line__parse(buf, strlen(buf), &t, scratch, sizeof(scratch)),
				 -EINVAL);
	}

	base(&ev, AW_EV_EXIT);
	ev.exit.code = 3;
	l = parse(&ev);
	assert_int_equal(l.ev.kind, TOP_EV_EXIT);
	assert_int_equal(l.ev.pid, 1234);
}

static void test_file_open_denied(void **state)
{
	struct aw_event ev;
	struct top_line l;

	base(&ev, AW_EV_FILE_OPEN);
	/* Quotes, backslashes, a control character and UTF-8 survive the round trip. */
	ev.file.path = "/home/u/.ssh/id_\"rsa\\\x01-\xc3\xa9";
	ev.file.access = AW_ACC_READ | AW_ACC_WRITE | AW_ACC_TRUNC;
	ev.file.ret = -EPERM;
	ev.file.source = AW_SRC_LSM;
	ev.flags = AW_EVF_DENIED;
	ev.disposition = AW_DISP_BLOCKED;
	ev.rule_id = 7;
	ev.rule = "ssh-keys";
	l = parse(&ev);
	assert_int_equal(l.ev.kind, TOP_EV_OPEN);
	assert_string_equal(l.ev.path, "/home/u/.ssh/id_\"rsa\\\x01-\xc3\xa9");
	assert_int_equal(l.ev.access, AW_ACC_READ | AW_ACC_WRITE | AW_ACC_TRUNC);
	assert_int_equal(l.ev.disp, TOP_DISP_BLOCKED);
	assert_string_equal(l.ev.rule, "ssh-keys");
	assert_string_equal(l.ev.status, "EPERM");
	assert_int_equal(l.ev.pid, 1234);
	assert_int_equal(l.ev.ppid, 1000);
	assert_string_equal(l.ev.comm, "python3");

	ev.disposition = AW_DISP_WOULD_BLOCK;
	ev.flags = AW_EVF_AUDIT;
	ev.file.ret = 3;
	l = parse(&ev);
	assert_int_equal(l.ev.disp, TOP_DISP_WOULD_BLOCK);
	assert_null(l.ev.status);
}

static void test_network(void **state)
{
	struct aw_event ev;
	struct top_line l;

	base(&ev, AW_EV_NET);
	ev.net.op = AW_NET_CONNECT;
	ev.net.family = AF_INET;
	ev.net.proto = IPPROTO_TCP;
	ev.net.source = AW_SRC_CGROUP;
	inet_pton(AF_INET, "140.82.112.3", ev.net.daddr);
	ev.net.dport = 443;
	l = parse(&ev);
	assert_int_equal(l.ev.kind, TOP_EV_CONNECT);
	assert_string_equal(l.ev.ip, "140.82.112.3");
	assert_int_equal(l.ev.port, 443);
	assert_string_equal(l.ev.proto, "tcp");

	ev.net.op = AW_NET_SENDMSG;
	ev.net.family = AF_INET6;
	ev.net.proto = IPPROTO_UDP;
	inet_pton(AF_INET6, "2001:db8::53", ev.net.daddr);
	ev.net.dport = 53;
	l = parse(&ev);
	assert_int_equal(l.ev.kind, TOP_EV_SEND);
	assert_string_equal(l.ev.ip, "2001:db8::53");
	assert_string_equal(l.ev.proto, "udp");

	/* accept: the peer is the source endpoint. */
	ev.net.op = AW_NET_ACCEPT;
	ev.net.family = AF_INET;
	ev.net.proto = IPPROTO_TCP;
	memset(ev.net.daddr, 0, sizeof(ev.net.daddr));
	inet_pton(AF_INET, "10.0.0.9", ev.net.daddr);
	ev.net.dport = 51000;
	inet_pton(AF_INET, "10.0.0.1", ev.net.saddr);
	ev.net.sport = 8080;
	l = parse(&ev);
	assert_int_equal(l.ev.kind, TOP_EV_ACCEPT);
	assert_string_equal(l.ev.ip, "10.0.0.9");
	assert_int_equal(l.ev.port, 51000);

	ev.net.op = AW_NET_LISTEN;
	assert_int_equal(parse(&ev).ev.kind, TOP_EV_LISTEN);
	ev.net.op = AW_NET_BIND;
	assert_int_equal(parse(&ev).ev.kind, TOP_EV_BIND);

	/* A refused connect carries its rule. */
	ev.net.op = AW_NET_CONNECT;
	ev.disposition = AW_DISP_BLOCKED;
	ev.flags = AW_EVF_DENIED;
	ev.rule = "cloud-metadata";
	ev.net.ret = -EPERM;
	l = parse(&ev);
	assert_int_equal(l.ev.disp, TOP_DISP_BLOCKED);
	assert_string_equal(l.ev.rule, "cloud-metadata");
}

static void test_syscall(void **state)
{
	struct aw_event ev;
	struct top_line l;

	base(&ev, AW_EV_SYSCALL);
	ev.sys.nr = 101;
	ev.sys.name = "ptrace";
	l = parse(&ev);
	assert_int_equal(l.ev.kind, TOP_EV_SYSCALL);
	assert_string_equal(l.ev.syscall, "ptrace");
}

static void test_protocol_lines(void **state)
{
	static const char ok[] = "{\"ok\":true}";
	static const char refused[] = "{\"ok\":false,\"error\":\"no\"}";
	static const char dropped[] = "{\"notice\":\"dropped\",\"count\":17,\"total\":40}";
	static const char agent_notice[] = "{\"notice\":\"agent\",\"agent\":{\"slot\":3,\"name\":"
					   "\"x\",\"k8s\":{\"pod_uid\":\"p\"}}}";
	struct top_line l;

	assert_int_equal(top_line__parse(ok, strlen(ok), &l, scratch, sizeof(scratch)), 0);
	assert_int_equal(l.kind, TOP_LINE_REPLY);
	assert_true(l.ok);
	assert_int_equal(top_line__parse(refused, strlen(refused), &l, scratch, sizeof(scratch)),
			 0);
	assert_int_equal(l.kind, TOP_LINE_REPLY);
	assert_false(l.ok);
	assert_int_equal(top_line__parse(dropped, strlen(dropped), &l, scratch, sizeof(scratch)),
			 0);
	assert_int_equal(l.kind, TOP_LINE_NOTICE);
	assert_string_equal(l.notice, "dropped");
	assert_int_equal(l.count, 17);
	assert_int_equal(top_line__parse(agent_notice, strlen(agent_notice), &l, scratch,
					 sizeof(scratch)),
			 0);
	assert_string_equal(l.notice, "agent");
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{",
		"{\"class_uid\":1001",
		"{\"class_uid\":1001,}",
		"{\"unmapped\":{\"ai_agent\":{\"uid\":\"abc}}}",
		"{\"unmapped\":{\"ai_agent\":{\"uid\":\"\\u12\"}}}",
		"{\"class_uid\":1001}", /* no agent */
		"not json",
	};
	struct top_line l;
	size_t i;
	int len;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (top_line__parse(bad[i], strlen(bad[i]), &l, scratch, sizeof(scratch)) !=
		    -EINVAL)
			fail_msg("accepted: %s", bad[i]);
	/* Every prefix of a real line is refused, never read past its end. */
	{
		struct aw_event ev;

		base(&ev, AW_EV_FILE_OPEN);
		ev.file.path = "/etc/hostname";
		len = ocsf__encode(&ev, &ctx, buf, sizeof(buf));
		assert_true(len > 0);
		for (i = 0; i < (size_t)len; i++) {
			char copy[16384];

			memcpy(copy, buf, i);
			assert_int_equal(top_line__parse(copy, i, &l, scratch, sizeof(scratch)),
					 -EINVAL);
		}
	}
	/* Too little scratch: strings are cut, the line is still read. */
	{
		static const char line[] = "{\"class_uid\":1001,\"activity_id\":14,\"file\":{"
					   "\"path\":\"/a/very/long/"
					   "path\"},\"unmapped\":{\"ai_agent\":{\"uid\":\"u1\"}}}";
		char small[12];

		assert_int_equal(top_line__parse(line, strlen(line), &l, small, sizeof(small)), 0);
		assert_non_null(l.ev.path);
		assert_true(strlen(l.ev.path) < sizeof(small));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_fork_exit), cmocka_unit_test(test_file_open_denied),
		cmocka_unit_test(test_network),	       cmocka_unit_test(test_syscall),
		cmocka_unit_test(test_protocol_lines), cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
