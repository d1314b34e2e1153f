// SPDX-License-Identifier: Apache-2.0
/*
 * OCSF encoder tests: every class and activity is encoded, parsed back with json-c and validated
 * against the OCSF 1.8.0 schema files (tests/ocsf/schema-1.8.0, see ocsf_schema.h), then checked
 * field by field. Also: the JSON writer's escaping against a plain reference, IPv6 text against
 * inet_ntop, -ENOSPC at every too-small size, and the validator catching broken events.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "json_writer.h"
#include "ocsf.h"

/* The validator is built into this test: the Makefile compiles each tests/unit/test_*.c alone. */
#include "ocsf_schema.c"

static struct ocsf_schema schema;
static struct ocsf_ctx ctx;

static const struct aw_agent agent = {
	.slot = 3,
	.root_cgroup_id = 9001,
	.name = "claude",
	.agent_uid = "0b7c6a52-3f7e-4a39-9d55-1f2e3d4c5b6a",
	.session_uid = "s-42",
};

#define WALL_NS 1712345678901234567ULL
#define WALL_MS 1712345678901LL

/* --- helpers ------------------------------------------------------------------------------ */

static void base_event(struct aw_event *ev, __u8 type)
{
	memset(ev, 0, sizeof(*ev));
	ev->event_id = 42;
	ev->boot_ns = 123456789;
	ev->wall_ns = WALL_NS;
	ev->type = type;
	ev->task.pid = 1234;
	ev->task.tgid = 1234;
	ev->task.ppid = 1000;
	ev->task.uid = 1001;
	ev->task.gid = 1001;
	ev->task.agent_slot = 3;
	ev->task.cgroup_id = 9002;
	ev->task.exec_id = AW_EXEC_ID(123456789ULL, 1234);
	memcpy(ev->task.comm, "python3", 8);
	ev->agent = &agent;
	ev->enforcement = AW_LEVEL_LSM;
}

static json_object *parse_strict(const char *buf, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len)
		fail_msg("not strict JSON (%s): %s",
			 json_tokener_error_desc(json_tokener_get_error(tok)), buf);
	json_tokener_free(tok);
	return o;
}

/* Encode, check it is one line of strict JSON, validate it against the schema; caller puts. */
static json_object *encode_valid(const struct aw_event *ev)
{
	static char buf[65536];
	struct ocsf_report r;
	json_object *o;
	int n, i;

	n = ocsf__encode(ev, &ctx, buf, sizeof(buf));
	if (n <= 0)
		fail_msg("ocsf__encode: %d", n);
	assert_int_equal(strlen(buf), n);
	for (i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			fail_msg("raw control byte 0x%02x at %d: %s", buf[i], i, buf);
	o = parse_strict(buf, (size_t)n);
	if (ocsf_schema__validate(&schema, o, &r)) {
		print_error("%s\n", buf);
		fail_msg("%d schema error(s):\n%s", r.errors, r.text);
	}
	return o;
}

/* "a.b[2].c" */
static json_object *at(json_object *o, const char *path)
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && o; tok = strtok_r(NULL, ".", &save)) {
		char *br = strchr(tok, '[');
		int idx = br ? atoi(br + 1) : 0;

		if (br)
			*br = '\0';
		if (*tok)
			o = get(o, tok);
		if (br)
			o = json_object_is_type(o, json_type_array)
				    ? json_object_array_get_idx(o, (size_t)idx)
				    : NULL;
	}
	return o;
}

static const char *show(json_object *v)
{
	return v ? json_object_to_json_string(v) : "(absent)";
}

static void expect_int(json_object *o, const char *path, int64_t want)
{
	json_object *v = at(o, path);

	if (!v || !json_object_is_type(v, json_type_int) || json_object_get_int64(v) != want)
		fail_msg("%s: want %lld, got %s", path, (long long)want, show(v));
}

static void expect_str(json_object *o, const char *path, const char *want)
{
	json_object *v = at(o, path);

	if (!v || !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), want))
		fail_msg("%s: want \"%s\", got %s", path, want, show(v));
}

static void expect_true(json_object *o, const char *path)
{
	json_object *v = at(o, path);

	if (!v || !json_object_is_type(v, json_type_boolean) || !json_object_get_boolean(v))
		fail_msg("%s: want true, got %s", path, show(v));
}

static void expect_absent(json_object *o, const char *path)
{
	json_object *v = at(o, path);

	if (v)
		fail_msg("%s: want absent, got %s", path, show(v));
}

static void expect_class(json_object *o, int class_uid, int activity_id)
{
	expect_int(o, "class_uid", class_uid);
	expect_int(o, "category_uid", class_uid / 1000);
	expect_int(o, "activity_id", activity_id);
	expect_int(o, "type_uid", (int64_t)class_uid * 100 + activity_id);
}

/* The members every event has, whatever its class. */
static void expect_common(json_object *o)
{
	expect_int(o, "time", WALL_MS);
	expect_str(o, "metadata.version", "1.8.0");
	expect_str(o, "metadata.product.name", "agentwatch");
	expect_str(o, "metadata.product.vendor_name", "agentwatch");
	expect_str(o, "metadata.product.version", "9.8.7");
	expect_str(o, "metadata.uid", "42");
	expect_str(o, "device.hostname", "node-1.example");
	expect_str(o, "device.uid", "4c4c4544004e3510804cb4c04f4e3232");
	expect_str(o, "device.boot_uid", "b60a4ab6-82ca-4715-b722-5fc9d142858b");
	expect_str(o, "unmapped.enforcement", "lsm");
	expect_int(o, "unmapped.cgroup_id", 9002);
	expect_str(o, "unmapped.ai_agent.uid", agent.agent_uid);
	expect_str(o, "unmapped.ai_agent.instance_uid", "s-42");
	expect_str(o, "unmapped.ai_agent.name", "claude");
}

static void expect_outcome(json_object *o, int disposition_id, int action_id, int status_id)
{
	expect_int(o, "disposition_id", disposition_id);
	expect_int(o, "action_id", action_id);
	if (status_id)
		expect_int(o, "status_id", status_id);
	else
		expect_absent(o, "status_id");
	if (disposition_id == 1) {
		expect_int(o, "severity_id", 1);
		expect_absent(o, "is_alert");
	} else {
		expect_int(o, "severity_id", 3);
		expect_true(o, "is_alert");
	}
}

/* --- process activity --------------------------------------------------------------------- */

static const char exec_argv[] = "python3\0-c\0print('hi')\0--out=/tmp/x y\0\0";

static void exec_event(struct aw_event *ev)
{
	base_event(ev, AW_EV_EXEC);
	ev->exec.path = "/usr/bin/python3.11";
	ev->exec.argv = exec_argv;
	ev->exec.argv_len = sizeof(exec_argv) - 1;
	ev->exec.argc = 5;
	ev->exec.cwd = "/home/dev/project";
	ev->exec.parent_exec_id = AW_EXEC_ID(100000000ULL, 1000);
	ev->exec.ino = 393231;
	ev->exec.dev = (259U << 20) | 2;
	ev->n_ancestors = 3;
	ev->ancestors[0] = "/usr/bin/bash";
	ev->ancestors[1] = "/usr/local/bin/node";
	ev->ancestors[2] = "/usr/local/bin/claude";
}

static void test_exec(void **state)
{
	struct aw_event ev;
	json_object *o;
	char uid[32];

	exec_event(&ev);
	o = encode_valid(&ev);
	expect_class(o, 1007, 1);
	expect_str(o, "class_name", "Process Activity");
	expect_str(o, "activity_name", "Launch");
	expect_common(o);
	expect_outcome(o, 1, 1, 1);
	expect_int(o, "launch_type_id", 3);
	expect_str(o, "launch_type", "Exec");
	expect_int(o, "process.pid", 1234);
	snprintf(uid, sizeof(uid), "%llu", (unsigned long long)ev.task.exec_id);
	expect_str(o, "process.uid", uid);
	expect_str(o, "process.name", "python3");
	/* arguments that a shell would split are quoted, a quote inside as '\'' */
	expect_str(o, "process.cmd_line", "python3 -c 'print('\\''hi'\\'')' '--out=/tmp/x y' ''");
	expect_str(o, "process.file.path", "/usr/bin/python3.11");
	expect_str(o, "process.file.name", "python3.11");
	expect_str(o, "process.file.parent_folder", "/usr/bin");
	expect_str(o, "process.file.uid", "259:2:393231");
	expect_int(o, "process.file.type_id", 1);
	expect_str(o, "process.working_directory", "/home/dev/project");
	expect_str(o, "process.user.uid", "1001");
	expect_int(o, "process.created_time", WALL_MS);
	expect_int(o, "process.parent_process.pid", 1000);
	snprintf(uid, sizeof(uid), "%llu", (unsigned long long)ev.exec.parent_exec_id);
	expect_str(o, "process.parent_process.uid", uid);
	expect_int(o, "actor.process.pid", 1000);
	expect_str(o, "actor.process.uid", uid);
	expect_str(o, "unmapped.ancestry[0]", "/usr/bin/bash");
	expect_str(o, "unmapped.ancestry[2]", "/usr/local/bin/claude");
	expect_absent(o, "unmapped.ancestry[3]");
	expect_absent(o, "metadata.is_truncated");
	expect_absent(o, "unmapped.invalid_utf8");
	json_object_put(o);
}

static void test_exec_minimal(void **state)
{
	struct aw_event ev;
	json_object *o;

	exec_event(&ev);
	ev.exec.argv = NULL;
	ev.exec.argv_len = 0;
	ev.exec.cwd = NULL;
	ev.exec.ino = 0;
	ev.exec.parent_exec_id = 0;
	ev.agent = NULL;
	ev.n_ancestors = 0;
	ev.flags = AW_EVF_TRUNCATED;
	o = encode_valid(&ev);
	expect_class(o, 1007, 1);
	expect_str(o, "process.cmd_line", ""); /* OCSF: '' when unavailable */
	expect_absent(o, "process.working_directory");
	expect_absent(o, "process.file.uid");
	expect_absent(o, "process.parent_process.uid");
	expect_absent(o, "unmapped.ai_agent");
	expect_absent(o, "unmapped.ancestry");
	expect_true(o, "metadata.is_truncated");
	json_object_put(o);
}

static void test_exec_blocked(void **state)
{
	struct aw_event ev;
	json_object *o;

	exec_event(&ev);
	ev.flags = AW_EVF_DENIED;
	ev.disposition = AW_DISP_BLOCKED;
	ev.rule = "no-curl";
	o = encode_valid(&ev);
	expect_outcome(o, 2, 2, 2);
	expect_str(o, "disposition", "Blocked");
	expect_str(o, "unmapped.rule", "no-curl");
	json_object_put(o);
}

static void test_fork(void **state)
{
	struct aw_event ev;
	json_object *o;

	base_event(&ev, AW_EV_FORK);
	ev.task.pid = ev.task.tgid = 1240;
	ev.fork.parent_pid = 1234;
	ev.fork.parent_tgid = 1234;
	o = encode_valid(&ev);
	expect_class(o, 1007, 1);
	expect_common(o);
	expect_int(o, "launch_type_id", 2);
	expect_str(o, "launch_type", "Fork");
	expect_int(o, "process.pid", 1240);
	expect_absent(o, "process.ptid");
	expect_int(o, "process.parent_process.pid", 1234);
	expect_int(o, "actor.process.pid", 1234);
	expect_int(o, "process.created_time", WALL_MS);
	json_object_put(o);

	ev.fork.thread = true;
	ev.task.pid = 1241;
	ev.task.tgid = 1234;
	o = encode_valid(&ev);
	expect_int(o, "launch_type_id", 99);
	expect_str(o, "launch_type", "Thread");
	expect_int(o, "process.pid", 1234);
	expect_int(o, "process.ptid", 1241);
	json_object_put(o);
}

static void test_exit(void **state)
{
	struct aw_event ev;
	json_object *o;

	base_event(&ev, AW_EV_EXIT);
	ev.exit.code = 3;
	o = encode_valid(&ev);
	expect_class(o, 1007, 2);
	expect_str(o, "activity_name", "Terminate");
	expect_common(o);
	expect_int(o, "exit_code", 3);
	expect_absent(o, "unmapped.signal");
	expect_int(o, "process.pid", 1234);
	expect_int(o, "actor.process.pid", 1234);
	expect_int(o, "process.terminated_time", WALL_MS);
	json_object_put(o);

	ev.exit.code = 0;
	ev.exit.signal = 9;
	o = encode_valid(&ev);
	expect_absent(o, "exit_code");
	expect_int(o, "unmapped.signal", 9);
	json_object_put(o);
}

/* --- file system activity ----------------------------------------------------------------- */

static void file_event(struct aw_event *ev, const char *path, __u32 access, __u32 flags)
{
	base_event(ev, AW_EV_FILE_OPEN);
	ev->file.path = path;
	ev->file.access = access;
	ev->file.flags = flags;
	ev->file.ret = 5;
	ev->file.ino = 777;
	ev->file.dev = (8U << 20) | 1;
	ev->file.source = AW_SRC_TRACEPOINT;
}

static void test_file_open_read(void **state)
{
	struct aw_event ev;
	json_object *o;

	file_event(&ev, "/home/dev/.ssh/config", AW_ACC_READ, O_RDONLY | O_CLOEXEC);
	o = encode_valid(&ev);
	expect_class(o, 1001, 14);
	expect_str(o, "class_name", "File System Activity");
	expect_str(o, "activity_name", "Open");
	expect_common(o);
	expect_outcome(o, 1, 1, 1);
	expect_str(o, "file.path", "/home/dev/.ssh/config");
	expect_str(o, "file.name", "config");
	expect_str(o, "file.parent_folder", "/home/dev/.ssh");
	expect_str(o, "file.uid", "8:1:777");
	expect_int(o, "file.type_id", 1);
	expect_int(o, "access_mask", O_RDONLY | O_CLOEXEC);
	expect_str(o, "unmapped.access[0]", "read");
	expect_absent(o, "unmapped.access[1]");
	expect_str(o, "unmapped.source", "tracepoint");
	expect_int(o, "actor.process.pid", 1234);
	expect_str(o, "actor.process.name", "python3");
	expect_str(o, "actor.process.user.uid", "1001");
	expect_int(o, "actor.process.parent_process.pid", 1000);
	expect_absent(o, "unmapped.ancestry");
	json_object_put(o);

	/* ppid 0: the record did not say, so no parent rather than pid 0 */
	ev.task.ppid = 0;
	o = encode_valid(&ev);
	expect_absent(o, "actor.process.parent_process");
	json_object_put(o);

	/* Ancestry, when the decoder gives it, comes with every class. */
	ev.n_ancestors = 1;
	ev.ancestors[0] = "/usr/bin/bash";
	o = encode_valid(&ev);
	expect_str(o, "unmapped.ancestry[0]", "/usr/bin/bash");
	json_object_put(o);
}

static void test_file_open_write_create(void **state)
{
	struct aw_event ev;
	json_object *o;

	file_event(&ev, "/tmp/out.txt", AW_ACC_WRITE | AW_ACC_CREATE | AW_ACC_TRUNC,
		   O_WRONLY | O_CREAT | O_TRUNC);
	o = encode_valid(&ev);
	expect_class(o, 1001, 14);
	expect_str(o, "unmapped.access[0]", "write");
	expect_str(o, "unmapped.access[1]", "create");
	expect_str(o, "unmapped.access[2]", "truncate");
	expect_int(o, "access_mask", O_WRONLY | O_CREAT | O_TRUNC);
	json_object_put(o);

	file_event(&ev, "/etc/shadow", AW_ACC_READ | AW_ACC_WRITE, O_RDWR);
	o = encode_valid(&ev);
	expect_str(o, "unmapped.access[0]", "read");
	expect_str(o, "unmapped.access[1]", "write");
	json_object_put(o);
}

static void test_file_shapes(void **state)
{
	struct aw_event ev;
	json_object *o;

	file_event(&ev, "/proc/1", AW_ACC_READ, O_RDONLY | O_DIRECTORY);
	o = encode_valid(&ev);
	expect_int(o, "file.type_id", 2);
	expect_str(o, "file.name", "1");
	expect_str(o, "file.parent_folder", "/proc");
	json_object_put(o);

	file_event(&ev, "/", AW_ACC_READ, O_RDONLY | O_DIRECTORY);
	o = encode_valid(&ev);
	expect_str(o, "file.name", "/");
	expect_str(o, "file.path", "/");
	expect_absent(o, "file.parent_folder");
	json_object_put(o);

	file_event(&ev, "/vmlinuz", AW_ACC_READ, O_RDONLY);
	o = encode_valid(&ev);
	expect_str(o, "file.name", "vmlinuz");
	expect_str(o, "file.parent_folder", "/");
	json_object_put(o);

	file_event(&ev, "anon_inode:[eventfd]", AW_ACC_READ, O_RDONLY);
	ev.file.ino = 0;
	o = encode_valid(&ev);
	expect_str(o, "file.name", "anon_inode:[eventfd]");
	expect_absent(o, "file.parent_folder");
	expect_absent(o, "file.uid");
	json_object_put(o);

	file_event(&ev, NULL, AW_ACC_READ, O_RDONLY);
	o = encode_valid(&ev);
	expect_str(o, "file.name", "");
	json_object_put(o);
}

static void test_file_blocked(void **state)
{
	struct aw_event ev;
	json_object *o;

	file_event(&ev, "/home/dev/.ssh/id_ed25519", AW_ACC_READ, O_RDONLY);
	ev.flags = AW_EVF_DENIED;
	ev.disposition = AW_DISP_BLOCKED;
	ev.file.ret = -EPERM;
	ev.file.source = AW_SRC_LSM;
	ev.rule = "ssh-keys";
	o = encode_valid(&ev);
	expect_outcome(o, 2, 2, 2);
	expect_str(o, "status", "Failure");
	expect_str(o, "status_code", "EPERM");
	expect_str(o, "unmapped.rule", "ssh-keys");
	expect_str(o, "unmapped.source", "lsm");
	json_object_put(o);
}

static void test_file_would_block(void **state)
{
	struct aw_event ev;
	json_object *o;

	file_event(&ev, "/home/dev/.aws/credentials", AW_ACC_READ, O_RDONLY);
	ev.flags = AW_EVF_AUDIT;
	ev.disposition = AW_DISP_WOULD_BLOCK;
	ev.enforcement = AW_LEVEL_AUDIT;
	ev.rule = "cloud-creds";
	o = encode_valid(&ev);
	expect_outcome(o, 15, 3, 1);
	expect_str(o, "disposition", "Detected");
	expect_str(o, "action", "Observed");
	expect_str(o, "unmapped.enforcement", "audit");
	expect_str(o, "unmapped.rule", "cloud-creds");
	json_object_put(o);
}

static void test_file_error(void **state)
{
	struct aw_event ev;
	json_object *o;

	file_event(&ev, "/nonexistent", AW_ACC_READ, O_RDONLY);
	ev.file.ret = -ENOENT;
	o = encode_valid(&ev);
	expect_outcome(o, 1, 1, 2);
	expect_str(o, "status_code", "ENOENT");
	json_object_put(o);

	ev.file.ret = -4095; /* no name: the number */
	o = encode_valid(&ev);
	expect_str(o, "status_code", "4095");
	json_object_put(o);
}

/* --- network activity --------------------------------------------------------------------- */

static void net_event(struct aw_event *ev, __u8 op, __u8 family, __u8 proto, const char *src,
		      __u16 sport, const char *dst, __u16 dport)
{
	base_event(ev, AW_EV_NET);
	ev->net.op = op;
	ev->net.family = family;
	ev->net.proto = proto;
	ev->net.source = AW_SRC_CGROUP;
	ev->net.sport = sport;
	ev->net.dport = dport;
	if (src)
		assert_int_equal(inet_pton(family, src, ev->net.saddr), 1);
	if (dst)
		assert_int_equal(inet_pton(family, dst, ev->net.daddr), 1);
}

static void test_net_connect_v4(void **state)
{
	struct aw_event ev;
	json_object *o;

	net_event(&ev, AW_NET_CONNECT, AF_INET, IPPROTO_TCP, "10.1.2.3", 40000, "93.184.216.34",
		  443);
	o = encode_valid(&ev);
	expect_class(o, 4001, 1);
	expect_str(o, "class_name", "Network Activity");
	expect_str(o, "category_name", "Network Activity");
	expect_common(o);
	expect_outcome(o, 1, 1, 1);
	expect_str(o, "dst_endpoint.ip", "93.184.216.34");
	expect_int(o, "dst_endpoint.port", 443);
	expect_str(o, "src_endpoint.ip", "10.1.2.3");
	expect_int(o, "src_endpoint.port", 40000);
	expect_str(o, "connection_info.protocol_name", "tcp");
	expect_int(o, "connection_info.protocol_num", 6);
	expect_int(o, "connection_info.protocol_ver_id", 4);
	expect_int(o, "connection_info.direction_id", 2);
	expect_str(o, "unmapped.source", "cgroup");
	expect_int(o, "actor.process.pid", 1234);
	json_object_put(o);
}

static void test_net_connect_v6(void **state)
{
	struct aw_event ev;
	json_object *o;

	net_event(&ev, AW_NET_CONNECT, AF_INET6, IPPROTO_TCP, NULL, 0, "2001:db8:0:0:1:0:0:1",
		  8443);
	o = encode_valid(&ev);
	expect_class(o, 4001, 1);
	expect_str(o, "dst_endpoint.ip", "2001:db8::1:0:0:1");
	expect_int(o, "dst_endpoint.port", 8443);
	expect_absent(o, "src_endpoint"); /* not bound yet: nothing known */
	expect_int(o, "connection_info.protocol_ver_id", 6);
	json_object_put(o);
}

static void test_net_connect_mapped_v4(void **state)
{
	struct aw_event ev;
	json_object *o;

	/* As the wire should carry it: unmapped, family AF_INET. */
	net_event(&ev, AW_NET_CONNECT, AF_INET, IPPROTO_TCP, NULL, 0, "1.2.3.4", 80);
	o = encode_valid(&ev);
	expect_str(o, "dst_endpoint.ip", "1.2.3.4");
	expect_int(o, "connection_info.protocol_ver_id", 4);
	json_object_put(o);

	/* Still mapped: the encoder unmaps it too. */
	net_event(&ev, AW_NET_CONNECT, AF_INET6, IPPROTO_TCP, "::ffff:10.0.0.2", 5000,
		  "::ffff:1.2.3.4", 80);
	o = encode_valid(&ev);
	expect_str(o, "dst_endpoint.ip", "1.2.3.4");
	expect_str(o, "src_endpoint.ip", "10.0.0.2");
	expect_int(o, "connection_info.protocol_ver_id", 4);
	json_object_put(o);
}

static void test_net_sendmsg_udp(void **state)
{
	struct aw_event ev;
	json_object *o;

	net_event(&ev, AW_NET_SENDMSG, AF_INET, IPPROTO_UDP, NULL, 0, "8.8.8.8", 53);
	o = encode_valid(&ev);
	expect_class(o, 4001, 6);
	expect_str(o, "activity_name", "Traffic");
	expect_str(o, "dst_endpoint.ip", "8.8.8.8");
	expect_int(o, "dst_endpoint.port", 53);
	expect_str(o, "connection_info.protocol_name", "udp");
	expect_int(o, "connection_info.protocol_num", 17);
	expect_int(o, "connection_info.direction_id", 2);
	json_object_put(o);
}

static void test_net_bind_listen_accept(void **state)
{
	struct aw_event ev;
	json_object *o;

	/* bind: the address bind(2) names is in daddr, as the cgroup bind hooks see it */
	net_event(&ev, AW_NET_BIND, AF_INET, IPPROTO_TCP, NULL, 0, "0.0.0.0", 8080);
	o = encode_valid(&ev);
	expect_class(o, 4001, 99);
	expect_str(o, "activity_name", "Bind");
	expect_str(o, "type_name", "Network Activity: Other");
	expect_str(o, "dst_endpoint.ip", "0.0.0.0");
	expect_int(o, "dst_endpoint.port", 8080);
	expect_absent(o, "src_endpoint");
	expect_int(o, "connection_info.direction_id", 0);
	json_object_put(o);

	net_event(&ev, AW_NET_LISTEN, AF_INET6, IPPROTO_TCP, "::", 8080, NULL, 0);
	o = encode_valid(&ev);
	expect_class(o, 4001, 7);
	expect_str(o, "dst_endpoint.ip", "::");
	expect_int(o, "dst_endpoint.port", 8080);
	expect_int(o, "connection_info.direction_id", 1);
	expect_int(o, "connection_info.protocol_ver_id", 6);
	json_object_put(o);

	/* listen with its address where bind has it */
	net_event(&ev, AW_NET_LISTEN, AF_INET, IPPROTO_TCP, NULL, 0, "127.0.0.1", 9090);
	o = encode_valid(&ev);
	expect_str(o, "dst_endpoint.ip", "127.0.0.1");
	expect_int(o, "dst_endpoint.port", 9090);
	json_object_put(o);

	net_event(&ev, AW_NET_ACCEPT, AF_INET, IPPROTO_TCP, "10.0.0.5", 8080, "10.0.0.9", 51000);
	ev.net.source = AW_SRC_SOCK_OPS;
	o = encode_valid(&ev);
	expect_str(o, "unmapped.source", "sock_ops");
	expect_class(o, 4001, 1);
	expect_str(o, "src_endpoint.ip", "10.0.0.9");
	expect_int(o, "src_endpoint.port", 51000);
	expect_str(o, "dst_endpoint.ip", "10.0.0.5");
	expect_int(o, "dst_endpoint.port", 8080);
	expect_int(o, "connection_info.direction_id", 1);
	json_object_put(o);
}

/* --- Kubernetes and containers ------------------------------------------------------------ */

static const struct k8s_identity k8s_container = {
	.pod_uid = "0f3a6a8e-5c1b-4d6e-9f2a-7b8c9d0e1f2a",
	.container_id = "4d2b6f0e8a1c3e5f7a9b0c2d4e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f",
	.runtime = "containerd",
	.qos = "burstable",
};

static bool profile_listed(json_object *o, const char *name)
{
	json_object *p = at(o, "metadata.profiles");
	size_t i;

	for (i = 0; p && i < json_object_array_length(p); i++)
		if (!strcmp(json_object_get_string(json_object_array_get_idx(p, i)), name))
			return true;
	return false;
}

static void expect_container(json_object *o, const char *process)
{
	char path[64];

	assert_true(profile_listed(o, "container"));
	snprintf(path, sizeof(path), "%s.container.uid", process);
	expect_str(o, path, k8s_container.container_id);
	snprintf(path, sizeof(path), "%s.container.runtime", process);
	expect_str(o, path, "containerd");
	snprintf(path, sizeof(path), "%s.container.pod_uuid", process);
	expect_str(o, path, k8s_container.pod_uid);
	snprintf(path, sizeof(path), "%s.container.orchestrator", process);
	expect_str(o, path, "Kubernetes");
	expect_str(o, "unmapped.k8s.pod_uid", k8s_container.pod_uid);
	expect_str(o, "unmapped.k8s.qos", "burstable");
}

static void test_k8s_container(void **state)
{
	struct k8s_identity static_pod = k8s_container, pod_only = {0};
	struct aw_event ev;
	json_object *o;

	exec_event(&ev);
	ev.k8s = &k8s_container;
	o = encode_valid(&ev);
	expect_container(o, "process");
	expect_absent(o, "actor.process.container"); /* the parent: not said to be in it */
	json_object_put(o);

	base_event(&ev, AW_EV_FORK);
	ev.fork.parent_pid = ev.fork.parent_tgid = 1000;
	ev.k8s = &k8s_container;
	o = encode_valid(&ev);
	expect_container(o, "process");
	json_object_put(o);

	base_event(&ev, AW_EV_EXIT);
	ev.k8s = &k8s_container;
	o = encode_valid(&ev);
	expect_container(o, "process");
	json_object_put(o);

	net_event(&ev, AW_NET_CONNECT, AF_INET, IPPROTO_TCP, NULL, 0, "10.0.0.9", 443);
	ev.k8s = &k8s_container;
	o = encode_valid(&ev);
	expect_container(o, "actor.process");
	json_object_put(o);

	/* A static pod's UID is a hash, not a UUID: only unmapped.k8s carries it. */
	snprintf(static_pod.pod_uid, sizeof(static_pod.pod_uid), "%s",
		 "6b3f1c0e2d4a5b6c7d8e9f0a1b2c3d4e");
	static_pod.runtime[0] = '\0';
	net_event(&ev, AW_NET_CONNECT, AF_INET, IPPROTO_TCP, NULL, 0, "10.0.0.9", 443);
	ev.k8s = &static_pod;
	o = encode_valid(&ev);
	expect_str(o, "actor.process.container.uid", k8s_container.container_id);
	expect_absent(o, "actor.process.container.pod_uuid");
	expect_absent(o, "actor.process.container.runtime");
	expect_str(o, "actor.process.container.orchestrator", "Kubernetes");
	expect_str(o, "unmapped.k8s.pod_uid", static_pod.pod_uid);
	json_object_put(o);

	/* A pod's own cgroup is no container: no container object, no container profile. */
	snprintf(pod_only.pod_uid, sizeof(pod_only.pod_uid), "%s", k8s_container.pod_uid);
	net_event(&ev, AW_NET_CONNECT, AF_INET, IPPROTO_TCP, NULL, 0, "10.0.0.9", 443);
	ev.k8s = &pod_only;
	o = encode_valid(&ev);
	assert_false(profile_listed(o, "container"));
	expect_absent(o, "actor.process.container");
	expect_str(o, "unmapped.k8s.pod_uid", k8s_container.pod_uid);
	expect_absent(o, "unmapped.k8s.qos");
	json_object_put(o);

	/* Outside Kubernetes: neither. */
	net_event(&ev, AW_NET_CONNECT, AF_INET, IPPROTO_TCP, NULL, 0, "10.0.0.9", 443);
	o = encode_valid(&ev);
	assert_false(profile_listed(o, "container"));
	expect_absent(o, "unmapped.k8s");
	json_object_put(o);
}

static void test_net_outcomes(void **state)
{
	struct aw_event ev;
	json_object *o;

	net_event(&ev, AW_NET_CONNECT, AF_INET, IPPROTO_TCP, NULL, 0, "169.254.169.254", 80);
	ev.disposition = AW_DISP_BLOCKED;
	ev.enforcement = AW_LEVEL_CGROUP;
	ev.net.ret = -EPERM;
	ev.rule = "no-imds";
	o = encode_valid(&ev);
	expect_outcome(o, 2, 2, 2);
	expect_str(o, "status_code", "EPERM");
	expect_str(o, "unmapped.enforcement", "cgroup");
	json_object_put(o);

	ev.disposition = AW_DISP_ALLOWED;
	ev.rule = NULL;
	ev.net.ret = -EINPROGRESS; /* non-blocking connect under way: not a failure */
	o = encode_valid(&ev);
	expect_outcome(o, 1, 1, 1);
	expect_str(o, "status_code", "EINPROGRESS");
	json_object_put(o);

	ev.net.ret = -ECONNREFUSED;
	o = encode_valid(&ev);
	expect_outcome(o, 1, 1, 2);
	expect_str(o, "status_code", "ECONNREFUSED");
	json_object_put(o);

	ev.net.proto = 253; /* experimental: no name, the number stays */
	ev.net.ret = 0;
	o = encode_valid(&ev);
	expect_absent(o, "connection_info.protocol_name");
	expect_int(o, "connection_info.protocol_num", 253);
	json_object_put(o);
}

/* IPv6 text is RFC 5952; compare with glibc for addresses it does not print dotted. */
static void test_net_ipv6_text(void **state)
{
	struct aw_event ev;
	unsigned int seed = 12345;
	int i, j;

	for (i = 0; i < 2000; i++) {
		char want[INET6_ADDRSTRLEN];
		json_object *o, *ip;
		__u8 *a;

		net_event(&ev, AW_NET_CONNECT, AF_INET6, IPPROTO_TCP, NULL, 0, NULL, 443);
		a = ev.net.daddr;
		for (j = 0; j < 8; j++) {
			int r = rand_r(&seed) % 4;
			__u16 g = r == 0   ? 0
				  : r == 1 ? (__u16)(rand_r(&seed) & 0xf)
					   : (__u16)rand_r(&seed);

			if (rand_r(&seed) % 3 == 0)
				g = 0; /* more zero runs */
			a[2 * j] = (__u8)(g >> 8);
			a[2 * j + 1] = (__u8)g;
		}
		/* glibc prints ::a.b.c.d and ::ffff:a.b.c.d dotted; mapped ones are IPv4 to us */
		if (!memcmp(a, "\0\0\0\0\0\0\0\0\0\0", 10) &&
		    ((a[10] == 0 && a[11] == 0) || (a[10] == 0xff && a[11] == 0xff)))
			continue;
		assert_non_null(inet_ntop(AF_INET6, a, want, sizeof(want)));
		o = encode_valid(&ev);
		ip = at(o, "dst_endpoint.ip");
		if (!ip || strcmp(json_object_get_string(ip), want))
			fail_msg("ipv6: want %s, got %s", want, show(ip));
		json_object_put(o);
	}
}

/* --- kernel activity ---------------------------------------------------------------------- */

static void test_syscall(void **state)
{
	struct aw_event ev;
	json_object *o;

	base_event(&ev, AW_EV_SYSCALL);
	ev.sys.nr = 101;
	ev.sys.name = "ptrace";
	ev.sys.args[0] = 16;
	ev.sys.args[1] = 4321;
	ev.sys.args[2] = 0xffffffffffffffffULL;
	o = encode_valid(&ev);
	expect_class(o, 1003, 4);
	expect_str(o, "class_name", "Kernel Activity");
	expect_str(o, "activity_name", "Invoke");
	expect_common(o);
	expect_absent(o, "status_id");
	expect_str(o, "kernel.name", "ptrace");
	expect_str(o, "kernel.system_call", "ptrace");
	expect_int(o, "kernel.type_id", 2);
	expect_int(o, "unmapped.syscall.nr", 101);
	expect_str(o, "unmapped.syscall.args[0]", "0x10");
	expect_str(o, "unmapped.syscall.args[1]", "0x10e1");
	expect_str(o, "unmapped.syscall.args[2]", "0xffffffffffffffff");
	expect_int(o, "actor.process.pid", 1234);
	json_object_put(o);

	ev.sys.name = NULL;
	ev.sys.nr = 451;
	o = encode_valid(&ev);
	expect_str(o, "kernel.name", "syscall_451");
	json_object_put(o);
}

/* --- escaping, buffer limits, errors ------------------------------------------------------ */

static void test_escaping(void **state)
{
	/*
	 * Quote, backslash, newline, tab, control bytes, DEL, then invalid UTF-8: a lone 0xff, an
	 * overlong '/', a lone continuation byte, a surrogate, a truncated 3-byte sequence; then
	 * valid 2- and 4-byte characters.
	 */
	static const char path[] = "/tmp/a\"b\\c\nd\te\x01\x1f\x7f|\xff|\xc0\xaf|\x80|\xed\xa0\x80|"
				   "\xe2\x82|caf\xc3\xa9 \xf0\x9f\x98\x80/f";
	static const char want[] = "/tmp/"
				   "a\"b\\c\nd\te\x01\x1f\x7f|\xef\xbf\xbd|"
				   "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd|"
				   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
				   "caf\xc3\xa9 "
				   "\xf0\x9f\x98\x80/f";
	struct aw_event ev;
	char buf[8192];
	json_object *o;
	int n;

	file_event(&ev, path, AW_ACC_READ, O_RDONLY);
	n = ocsf__encode(&ev, &ctx, buf, sizeof(buf));
	assert_true(n > 0);
	assert_non_null(strstr(buf, "\"path\":\"/tmp/a\\\"b\\\\c\\nd\\te\\u0001\\u001f\\u007f|"));
	o = encode_valid(&ev);
	expect_str(o, "file.path", want);
	expect_str(o, "file.name", "f");
	expect_true(o, "unmapped.invalid_utf8");
	json_object_put(o);

	/* In argv too, and in the comm, which is cut at 16 bytes even without a NUL. */
	exec_event(&ev);
	ev.exec.argv = "a\nb\0\x01\0";
	ev.exec.argv_len = 6;
	memcpy(ev.task.comm, "0123456789abcdefXX", 16);
	o = encode_valid(&ev);
	expect_str(o, "process.cmd_line", "'a\nb' '\x01'");
	expect_str(o, "process.name", "0123456789abcdef");
	expect_absent(o, "unmapped.invalid_utf8");
	json_object_put(o);
}

static void test_enospc(void **state)
{
	static char full[16384], buf[16384 + 64];
	struct aw_event ev;
	int len, size, n;

	exec_event(&ev);
	len = ocsf__encode(&ev, &ctx, full, sizeof(full));
	assert_true(len > 300);
	for (size = 0; size <= len; size++) {
		memset(buf, 0xa5, sizeof(buf));
		n = ocsf__encode(&ev, &ctx, buf, (size_t)size);
		if (n != -ENOSPC)
			fail_msg("size %d of %d: want -ENOSPC, got %d", size, len, n);
		for (n = size; n < size + 64; n++)
			if ((unsigned char)buf[n] != 0xa5)
				fail_msg("size %d: byte %d written past the end", size, n);
		if (size && !memchr(buf, '\0', (size_t)size))
			fail_msg("size %d: not NUL-terminated", size);
	}
	n = ocsf__encode(&ev, &ctx, buf, (size_t)len + 1);
	assert_int_equal(n, len);
	assert_memory_equal(buf, full, (size_t)len + 1);
}

static void test_invalid(void **state)
{
	struct aw_event ev;
	char buf[4096];

	base_event(&ev, 0);
	assert_int_equal(ocsf__encode(&ev, &ctx, buf, sizeof(buf)), -EINVAL);
	base_event(&ev, AW_EV__MAX);
	assert_int_equal(ocsf__encode(&ev, &ctx, buf, sizeof(buf)), -EINVAL);
	net_event(&ev, 0, AF_INET, IPPROTO_TCP, NULL, 0, "1.1.1.1", 1);
	assert_int_equal(ocsf__encode(&ev, &ctx, buf, sizeof(buf)), -EINVAL);
	file_event(&ev, "/x", AW_ACC_READ, O_RDONLY);
	ev.disposition = (enum aw_disposition)7;
	assert_int_equal(ocsf__encode(&ev, &ctx, buf, sizeof(buf)), -EINVAL);
}

static void test_ctx(void **state)
{
	struct ocsf_ctx *c = malloc(sizeof(*c));
	char long_name[300];
	struct ocsf_node node = {.hostname = long_name};
	struct aw_event ev;
	json_object *o;

	assert_non_null(c);
	memset(long_name, 'h', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(ocsf_ctx__init(c, &node), -ENAMETOOLONG);

	/* The real host: whatever it is, events stay valid. */
	assert_int_equal(ocsf_ctx__init_host(c, "1.2.3"), 0);
	assert_true(c->hostname[0] != '\0');
	file_event(&ev, "/etc/hosts", AW_ACC_READ, O_RDONLY);
	{
		char buf[8192];
		struct ocsf_report r;
		int n = ocsf__encode(&ev, c, buf, sizeof(buf));

		assert_true(n > 0);
		o = parse_strict(buf, (size_t)n);
		if (ocsf_schema__validate(&schema, o, &r))
			fail_msg("%s%s", r.text, buf);
		expect_str(o, "metadata.product.version", "1.2.3");
		expect_str(o, "device.hostname", c->hostname);
		expect_str(o, "device.os.name", "Linux");
		expect_int(o, "device.os.type_id", 200);
		json_object_put(o);
	}
	free(c);
}

/* --- policy lifecycle ---------------------------------------------------------------------- */

static json_object *encode_policy_valid(const struct ocsf_policy_change *pc)
{
	static char buf[16384];
	struct ocsf_report r;
	json_object *o;
	int n = ocsf__encode_policy_change(pc, &ctx, buf, sizeof(buf));

	if (n <= 0)
		fail_msg("ocsf__encode_policy_change: %d", n);
	assert_int_equal(strlen(buf), n);
	assert_null(strchr(buf, '\n'));
	o = parse_strict(buf, (size_t)n);
	if (ocsf_schema__validate(&schema, o, &r)) {
		print_error("%s\n", buf);
		fail_msg("%d schema error(s):\n%s", r.errors, r.text);
	}
	return o;
}

static void test_policy_change_loaded(void **state)
{
	char *paths[] = {"/etc/agentwatch/rules", "/srv/extra.yaml"};
	struct ocsf_policy_change pc = {
		.event_id = 42,
		.wall_ns = WALL_MS * 1000000ULL + 999,
		.ok = true,
		.generation = 7,
		.previous_generation = 6,
		.trigger = "inotify",
		.paths = paths,
		.n_paths = 2,
	};
	json_object *o = encode_policy_valid(&pc);

	expect_class(o, 6002, 8);
	expect_str(o, "class_name", "Application Lifecycle");
	expect_str(o, "activity_name", "Update");
	expect_str(o, "type_name", "Application Lifecycle: Update");
	expect_str(o, "category_name", "Application Activity");
	expect_int(o, "time", WALL_MS);
	expect_str(o, "metadata.uid", "42");
	expect_str(o, "metadata.version", "1.8.0");
	expect_int(o, "status_id", 1);
	expect_int(o, "severity_id", 1);
	expect_absent(o, "status_detail");
	expect_str(o, "message", "policy generation 7 in force (was 6)");
	expect_str(o, "app.name", "agentwatch");
	expect_str(o, "app.version", "9.8.7");
	expect_str(o, "app.feature.name", "policy");
	expect_str(o, "app.feature.version", "7");
	expect_str(o, "device.hostname", "node-1.example");
	expect_int(o, "unmapped.policy.generation", 7);
	expect_int(o, "unmapped.policy.previous_generation", 6);
	expect_str(o, "unmapped.policy.trigger", "inotify");
	expect_str(o, "unmapped.policy.paths[1]", "/srv/extra.yaml");
	expect_absent(o, "unmapped.policy.errors");
	expect_absent(o, "unmapped.policy.agent");
	expect_int(o, "unmapped.policy.reload_failures", 0);
	json_object_put(o);

	/* A generation an agent brought names the agent. */
	pc.trigger = "agent-added";
	pc.agent = "claude-7";
	o = encode_policy_valid(&pc);
	expect_str(o, "unmapped.policy.trigger", "agent-added");
	expect_str(o, "unmapped.policy.agent", "claude-7");
	json_object_put(o);
}

static void test_policy_change_failed(void **state)
{
	char *paths[] = {"/etc/agentwatch/rules"};
	const char *errors = "/etc/agentwatch/rules/p.yaml:11:13: YAML: did not find expected key\n"
			     "/etc/agentwatch/rules/q.yaml:4:7: metadata.name: \"quoted\"\n";
	struct ocsf_policy_change pc = {
		.event_id = 43,
		.wall_ns = WALL_MS * 1000000ULL,
		.ok = false,
		.generation = 7,
		.previous_generation = 7,
		.trigger = "sighup",
		.paths = paths,
		.n_paths = 1,
		.errors = errors,
		.reload_failures = 3,
	};
	json_object *o = encode_policy_valid(&pc);
	char buf[64];

	expect_class(o, 6002, 8);
	expect_int(o, "status_id", 2);
	expect_str(o, "status", "Failure");
	expect_int(o, "severity_id", 4);
	expect_str(o, "status_detail", errors);
	expect_str(o, "message", "policy reload failed; generation 7 stays in force");
	expect_str(o, "app.feature.version", "7");
	expect_str(o, "unmapped.policy.errors[0]",
		   "/etc/agentwatch/rules/p.yaml:11:13: YAML: did not find expected key");
	expect_str(o, "unmapped.policy.errors[1]",
		   "/etc/agentwatch/rules/q.yaml:4:7: metadata.name: \"quoted\"");
	expect_absent(o, "unmapped.policy.errors[2]");
	expect_int(o, "unmapped.policy.reload_failures", 3);
	json_object_put(o);

	/* Too small a buffer is -ENOSPC, as for kernel events. */
	assert_int_equal(ocsf__encode_policy_change(&pc, &ctx, buf, sizeof(buf)), -ENOSPC);
}

/* --- the JSON writer ---------------------------------------------------------------------- */

/* A byte-at-a-time reference for json_writer__escape, written independently of it. */
static size_t reference_escape(char *out, const unsigned char *s, size_t n, unsigned int *replaced)
{
	size_t i = 0, o = 0;

	while (i < n) {
		unsigned char c = s[i];
		unsigned int cp = 0, len = 0, k;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			const char *named = c == '\n'	? "\\n"
					    : c == '\r' ? "\\r"
					    : c == '\t' ? "\\t"
					    : c == '\b' ? "\\b"
					    : c == '\f' ? "\\f"
							: NULL;

			if (named) {
				memcpy(out + o, named, 2);
				o += 2;
			} else {
				o += (size_t)sprintf(out + o, "\\u%04x", c);
			}
			i++;
			continue;
		}
		if (c < 0x80) {
			out[o++] = (char)c;
			i++;
			continue;
		}
		/* decode, then reject what does not round-trip to the shortest, valid code point */
		if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		}
		for (k = 1; len && k < len; k++) {
			if (i + k >= n || (s[i + k] & 0xc0) != 0x80) {
				len = 0;
				break;
			}
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (len &&
		    ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		     (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)))
			len = 0;
		if (!len) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			(*replaced)++;
			i++;
			continue;
		}
		memcpy(out + o, s + i, len);
		o += len;
		i += len;
	}
	return o;
}

static void test_writer_escape_random(void **state)
{
	static const unsigned char alphabet[] = {'a',  '/',  ' ',  '"',	 '\\', '\n', 0x00,
						 0x01, 0x1f, 0x7f, 0x80, 0xbf, 0xc2, 0xc0,
						 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5,
						 0xff, 0xa0, 0x90, 0x8f};
	unsigned int seed = 777;
	int iter;

	for (iter = 0; iter < 20000; iter++) {
		unsigned char in[64];
		char got[512], want[512];
		unsigned int want_replaced = 0;
		size_t n = (size_t)(rand_r(&seed) % 40), i, wlen;
		struct json_writer w;
		int len;

		for (i = 0; i < n; i++)
			in[i] = rand_r(&seed) % 2 ? 'a' + (rand_r(&seed) % 26)
						  : alphabet[rand_r(&seed) % sizeof(alphabet)];
		json_writer__init(&w, got, sizeof(got));
		json_writer__escape(&w, (const char *)in, n);
		len = json_writer__finish(&w);
		wlen = reference_escape(want, in, n, &want_replaced);
		want[wlen] = '\0';
		if (len != (int)wlen || strcmp(got, want) || w.replaced != want_replaced)
			fail_msg("iteration %d: got \"%s\" (%u), want \"%s\" (%u)", iter, got,
				 w.replaced, want, want_replaced);
	}
}

static void test_writer_basics(void **state)
{
	char buf[512];
	struct json_writer w;
	int len;

	json_writer__init(&w, buf, sizeof(buf));
	json_writer__object_begin(&w);
	json_writer__kv_uint(&w, "u0", 0);
	json_writer__kv_uint(&w, "umax", UINT64_MAX);
	json_writer__kv_int(&w, "imin", INT64_MIN);
	json_writer__kv_int(&w, "neg", -7);
	json_writer__key(&w, "s");
	json_writer__uint_string(&w, 18446744073709551615ULL);
	json_writer__kv_bool(&w, "t", true);
	json_writer__kv_bool(&w, "f", false);
	json_writer__kv_string(&w, "null", NULL);
	json_writer__key(&w, "a");
	json_writer__array_begin(&w);
	json_writer__array_begin(&w);
	json_writer__array_end(&w);
	json_writer__object_begin(&w);
	json_writer__object_end(&w);
	json_writer__uint(&w, 10);
	json_writer__string(&w, "x");
	json_writer__array_end(&w);
	json_writer__key_string(&w, "k\"ey");
	json_writer__string_len(&w, "ab\0c", 4);
	json_writer__object_end(&w);
	len = json_writer__finish(&w);
	assert_string_equal(buf, "{\"u0\":0,\"umax\":18446744073709551615,"
				 "\"imin\":-9223372036854775808,\"neg\":-7,"
				 "\"s\":\"18446744073709551615\",\"t\":true,\"f\":false,\"null\":"
				 "null,"
				 "\"a\":[[],{},10,\"x\"],\"k\\\"ey\":\"ab\\u0000c\"}");
	assert_int_equal(len, strlen(buf));

	json_writer__init(&w, NULL, 0);
	json_writer__string(&w, "x");
	assert_int_equal(json_writer__finish(&w), -ENOSPC);

	json_writer__init(&w, buf, 1);
	json_writer__object_begin(&w);
	assert_int_equal(json_writer__finish(&w), -ENOSPC);
	assert_int_equal(buf[0], '\0');

	json_writer__init(&w, buf, 3);
	json_writer__object_begin(&w);
	json_writer__object_end(&w);
	assert_int_equal(json_writer__finish(&w), 2);
	assert_string_equal(buf, "{}");
}

/* --- the validator must catch broken events ----------------------------------------------- */

static void expect_invalid(json_object *o, const char *what, const char *needle)
{
	struct ocsf_report r;

	if (!ocsf_schema__validate(&schema, o, &r))
		fail_msg("validator accepted %s: %s", what, json_object_to_json_string(o));
	if (!strstr(r.text, needle))
		fail_msg("%s: want an error about '%s', got:\n%s", what, needle, r.text);
}

static json_object *valid_file_event(void)
{
	struct aw_event ev;

	file_event(&ev, "/etc/passwd", AW_ACC_READ, O_RDONLY);
	ev.disposition = AW_DISP_BLOCKED;
	return encode_valid(&ev);
}

static void test_validator_catches(void **state)
{
	json_object *o;

	o = valid_file_event();
	json_object_object_del(o, "time");
	expect_invalid(o, "no time", "time: required attribute missing");
	json_object_put(o);

	o = valid_file_event();
	json_object_object_del(at(o, "file"), "name");
	expect_invalid(o, "no file.name", "file.name: required attribute missing");
	json_object_put(o);

	o = valid_file_event();
	json_object_object_add(o, "activity_id", json_object_new_int(42));
	expect_invalid(o, "activity 42", "not in the enum");
	json_object_put(o);

	o = valid_file_event();
	json_object_object_add(o, "status", json_object_new_string("Nope"));
	expect_invalid(o, "wrong caption", "status says 'Nope'");
	json_object_put(o);

	o = valid_file_event();
	json_object_object_add(at(o, "actor.process"), "pid", json_object_new_string("1"));
	expect_invalid(o, "string pid", "actor.process.pid: want a 32-bit integer");
	json_object_put(o);

	o = valid_file_event();
	json_object_object_add(o, "flavour", json_object_new_string("x"));
	expect_invalid(o, "unknown attribute", "flavour: not an attribute here");
	json_object_put(o);

	o = valid_file_event();
	json_object_object_add(at(o, "actor.process"), "lineage", json_object_new_array());
	expect_invalid(o, "deprecated lineage", "'lineage' is deprecated");
	json_object_put(o);

	o = valid_file_event();
	json_object_object_del(at(o, "metadata"), "profiles");
	expect_invalid(o, "no profiles", "needs profile 'security_control'");
	json_object_put(o);

	o = valid_file_event();
	json_object_object_add(o, "type_uid", json_object_new_int64(100101));
	expect_invalid(o, "wrong type_uid", "type_uid");
	json_object_put(o);

	o = valid_file_event();
	json_object_object_add(o, "class_uid", json_object_new_int(4242));
	expect_invalid(o, "unknown class", "no class 4242");
	json_object_put(o);

	o = valid_file_event();
	json_object_object_del(at(o, "actor.process"), "pid");
	json_object_object_del(at(o, "actor.process"), "uid");
	expect_invalid(o, "process with no id", "needs at least one of");
	json_object_put(o);

	{
		struct aw_event ev;

		net_event(&ev, AW_NET_CONNECT, AF_INET, IPPROTO_TCP, NULL, 0, "1.2.3.4", 80);
		o = encode_valid(&ev);
		json_object_object_add(at(o, "dst_endpoint"), "port", json_object_new_int(70000));
		expect_invalid(o, "port 70000", "out of range");
		json_object_put(o);

		o = encode_valid(&ev);
		json_object_object_add(at(o, "dst_endpoint"), "ip",
				       json_object_new_string("1.2.3"));
		expect_invalid(o, "bad ip", "not an IP address");
		json_object_put(o);

		o = encode_valid(&ev);
		json_object_object_del(o, "dst_endpoint");
		expect_invalid(o, "no endpoint", "needs at least one of");
		json_object_put(o);
	}
}

static int setup(void **state)
{
	struct ocsf_node node = {
		.hostname = "node-1.example",
		.node_uid = "4c4c4544004e3510804cb4c04f4e3232",
		.boot_uid = "b60a4ab6-82ca-4715-b722-5fc9d142858b",
		.kernel_release = "6.8.0-45-generic",
		.product_version = "9.8.7",
	};
	char root[PATH_MAX];
	const char *version;
	int err;

	if (!ocsf_schema__locate(root, sizeof(root))) {
		fprintf(stderr, "OCSF schema not found: set AW_OCSF_SCHEMA or run from the "
				"source tree (tests/ocsf/schema-1.8.0)\n");
		return -1;
	}
	err = ocsf_schema__open(&schema, root);
	if (err) {
		fprintf(stderr, "OCSF schema at %s: %s\n", root, strerror(-err));
		return -1;
	}
	version = get_string(schema_file(&schema, "version.json"), "version");
	if (!version || strcmp(version, OCSF_SCHEMA_VERSION)) {
		fprintf(stderr, "OCSF schema at %s is version %s, not %s\n", root,
			version ? version : "(unknown)", OCSF_SCHEMA_VERSION);
		return -1;
	}
	return ocsf_ctx__init(&ctx, &node);
}

static int teardown(void **state)
{
	if (getenv("AW_OCSF_SCHEMA_FILES")) {
		json_object_object_foreach (schema.files, rel, doc) {
			printf("%s\n", rel);
		}
	}
	ocsf_schema__close(&schema);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec),
		cmocka_unit_test(test_exec_minimal),
		cmocka_unit_test(test_exec_blocked),
		cmocka_unit_test(test_fork),
		cmocka_unit_test(test_exit),
		cmocka_unit_test(test_file_open_read),
		cmocka_unit_test(test_file_open_write_create),
		cmocka_unit_test(test_file_shapes),
		cmocka_unit_test(test_file_blocked),
		cmocka_unit_test(test_file_would_block),
		cmocka_unit_test(test_file_error),
		cmocka_unit_test(test_net_connect_v4),
		cmocka_unit_test(test_net_connect_v6),
		cmocka_unit_test(test_net_connect_mapped_v4),
		cmocka_unit_test(test_net_sendmsg_udp),
		cmocka_unit_test(test_net_bind_listen_accept),
		cmocka_unit_test(test_k8s_container),
		cmocka_unit_test(test_net_outcomes),
		cmocka_unit_test(test_net_ipv6_text),
		cmocka_unit_test(test_syscall),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_ctx),
		cmocka_unit_test(test_policy_change_loaded),
		cmocka_unit_test(test_policy_change_failed),
		cmocka_unit_test(test_writer_basics),
		cmocka_unit_test(test_writer_escape_random),
		cmocka_unit_test(test_validator_catches),
	};

	return cmocka_run_group_tests_name("ocsf", tests, setup, teardown);
}
