// SPDX-License-Identifier: Apache-2.0
/*
 * OCSF 1.8.0 encoder. The mapping is documented in ocsf.h; the schema ids used here are checked
 * by tests/unit/test_ocsf.c against the schema files themselves.
 *
 * Speed: everything that does not depend on the event (class and activity names, metadata,
 * device) is rendered once into struct ocsf_ctx and copied; the rest goes through the
 * json_writer, which checks for room once per piece and escapes eight bytes at a time.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "json_writer.h"
#include "ocsf.h"

/* Ids from the OCSF 1.8.0 schema; a class_uid is its category uid * 1000 + the class file's uid. */
enum {
	CATEGORY_SYSTEM = 1,  /* categories.json "system" */
	CATEGORY_NETWORK = 4, /* categories.json "network" */

	CLASS_FILE_ACTIVITY = 1001,    /* events/system/file_activity.json, uid 1 */
	CLASS_KERNEL_ACTIVITY = 1003,  /* events/system/kernel_activity.json, uid 3 */
	CLASS_PROCESS_ACTIVITY = 1007, /* events/system/process_activity.json, uid 7 */
	CLASS_NETWORK_ACTIVITY = 4001, /* events/network/network_activity.json, uid 1 */

	ACTIVITY_OTHER = 99, /* base_event.json activity_id */

	/* dictionary.json launch_type_id */
	LAUNCH_FORK = 2,
	LAUNCH_EXEC = 3,
	LAUNCH_OTHER = 99,

	/* objects/file.json type_id: "If the distinction is not known ... use Regular File" */
	FILE_TYPE_REGULAR = 1,
	FILE_TYPE_FOLDER = 2,

	/* dictionary.json direction_id */
	DIRECTION_UNKNOWN = 0,
	DIRECTION_INBOUND = 1,
	DIRECTION_OUTBOUND = 2,

	KERNEL_TYPE_SYSCALL = 2, /* objects/kernel.json type_id "System Call" */
	OS_TYPE_LINUX = 200,	 /* objects/os.json type_id */
	DEVICE_TYPE_UNKNOWN = 0, /* dictionary.json type_id */
};

struct kind_def {
	unsigned int category_uid;
	const char *category_name;
	unsigned int class_uid;
	const char *class_name;
	unsigned int activity_id;
	const char *activity_name;
};

#define SYSTEM_CLASS(uid, name)	 CATEGORY_SYSTEM, "System Activity", uid, name
#define NETWORK_CLASS(uid, name) CATEGORY_NETWORK, "Network Activity", uid, name

static const struct kind_def kinds[OCSF_KIND__COUNT] = {
	[OCSF_EXEC] = {SYSTEM_CLASS(CLASS_PROCESS_ACTIVITY, "Process Activity"), 1, "Launch"},
	[OCSF_FORK] = {SYSTEM_CLASS(CLASS_PROCESS_ACTIVITY, "Process Activity"), 1, "Launch"},
	[OCSF_THREAD] = {SYSTEM_CLASS(CLASS_PROCESS_ACTIVITY, "Process Activity"), 1, "Launch"},
	[OCSF_EXIT] = {SYSTEM_CLASS(CLASS_PROCESS_ACTIVITY, "Process Activity"), 2, "Terminate"},
	[OCSF_FILE_OPEN] = {SYSTEM_CLASS(CLASS_FILE_ACTIVITY, "File System Activity"), 14, "Open"},
	[OCSF_NET_CONNECT] = {NETWORK_CLASS(CLASS_NETWORK_ACTIVITY, "Network Activity"), 1, "Open"},
	[OCSF_NET_SENDMSG] = {NETWORK_CLASS(CLASS_NETWORK_ACTIVITY, "Network Activity"), 6,
			      "Traffic"},
	[OCSF_NET_BIND] = {NETWORK_CLASS(CLASS_NETWORK_ACTIVITY, "Network Activity"),
			   ACTIVITY_OTHER, "Bind"},
	[OCSF_NET_LISTEN] = {NETWORK_CLASS(CLASS_NETWORK_ACTIVITY, "Network Activity"), 7,
			     "Listen"},
	[OCSF_NET_ACCEPT] = {NETWORK_CLASS(CLASS_NETWORK_ACTIVITY, "Network Activity"), 1, "Open"},
	[OCSF_SYSCALL] = {SYSTEM_CLASS(CLASS_KERNEL_ACTIVITY, "Kernel Activity"), 4, "Invoke"},
};

/* clang-format off */
#define LIT(s) { s, sizeof(s) - 1 }
/* clang-format on */
struct literal {
	const char *s;
	size_t len;
};

/* Severity, action and disposition (security_control profile), by disposition. */
static const struct literal outcomes[] = {
	[AW_DISP_ALLOWED] = LIT("\"severity_id\":1,\"severity\":\"Informational\","
				"\"action_id\":1,\"action\":\"Allowed\","
				"\"disposition_id\":1,\"disposition\":\"Allowed\""),
	[AW_DISP_BLOCKED] = LIT("\"severity_id\":3,\"severity\":\"Medium\","
				"\"action_id\":2,\"action\":\"Denied\","
				"\"disposition_id\":2,\"disposition\":\"Blocked\","
				"\"is_alert\":true"),
	[AW_DISP_WOULD_BLOCK] = LIT("\"severity_id\":3,\"severity\":\"Medium\","
				    "\"action_id\":3,\"action\":\"Observed\","
				    "\"disposition_id\":15,\"disposition\":\"Detected\","
				    "\"is_alert\":true"),
};

static const struct literal status_success = LIT("\"status_id\":1,\"status\":\"Success\"");
static const struct literal status_failure = LIT("\"status_id\":2,\"status\":\"Failure\"");

#define ERRNO_NAME(e) [e] = #e
static const char *const errno_names[] = {
	ERRNO_NAME(EPERM),	   ERRNO_NAME(ENOENT),	     ERRNO_NAME(ESRCH),
	ERRNO_NAME(EINTR),	   ERRNO_NAME(EIO),	     ERRNO_NAME(ENXIO),
	ERRNO_NAME(E2BIG),	   ERRNO_NAME(ENOEXEC),	     ERRNO_NAME(EBADF),
	ERRNO_NAME(ECHILD),	   ERRNO_NAME(EAGAIN),	     ERRNO_NAME(ENOMEM),
	ERRNO_NAME(EACCES),	   ERRNO_NAME(EFAULT),	     ERRNO_NAME(EBUSY),
	ERRNO_NAME(EEXIST),	   ERRNO_NAME(EXDEV),	     ERRNO_NAME(ENODEV),
	ERRNO_NAME(ENOTDIR),	   ERRNO_NAME(EISDIR),	     ERRNO_NAME(EINVAL),
	ERRNO_NAME(ENFILE),	   ERRNO_NAME(EMFILE),	     ERRNO_NAME(ETXTBSY),
	ERRNO_NAME(EFBIG),	   ERRNO_NAME(ENOSPC),	     ERRNO_NAME(EROFS),
	ERRNO_NAME(EMLINK),	   ERRNO_NAME(EPIPE),	     ERRNO_NAME(ENAMETOOLONG),
	ERRNO_NAME(ENOSYS),	   ERRNO_NAME(ELOOP),	     ERRNO_NAME(ENOTSOCK),
	ERRNO_NAME(EMSGSIZE),	   ERRNO_NAME(EPROTOTYPE),   ERRNO_NAME(EPROTONOSUPPORT),
	ERRNO_NAME(EOPNOTSUPP),	   ERRNO_NAME(EAFNOSUPPORT), ERRNO_NAME(EADDRINUSE),
	ERRNO_NAME(EADDRNOTAVAIL), ERRNO_NAME(ENETDOWN),     ERRNO_NAME(ENETUNREACH),
	ERRNO_NAME(ECONNABORTED),  ERRNO_NAME(ECONNRESET),   ERRNO_NAME(ENOBUFS),
	ERRNO_NAME(EISCONN),	   ERRNO_NAME(ENOTCONN),     ERRNO_NAME(ETIMEDOUT),
	ERRNO_NAME(ECONNREFUSED),  ERRNO_NAME(EHOSTUNREACH), ERRNO_NAME(EALREADY),
	ERRNO_NAME(EINPROGRESS),   ERRNO_NAME(EDQUOT),	     ERRNO_NAME(ENOTEMPTY),
};

int ocsf__kind(const struct aw_event *ev)
{
	switch (ev->type) {
	case AW_EV_EXEC:
		return OCSF_EXEC;
	case AW_EV_FORK:
		return ev->fork.thread ? OCSF_THREAD : OCSF_FORK;
	case AW_EV_EXIT:
		return OCSF_EXIT;
	case AW_EV_FILE_OPEN:
		return OCSF_FILE_OPEN;
	case AW_EV_NET:
		switch (ev->net.op) {
		case AW_NET_CONNECT:
			return OCSF_NET_CONNECT;
		case AW_NET_SENDMSG:
			return OCSF_NET_SENDMSG;
		case AW_NET_BIND:
			return OCSF_NET_BIND;
		case AW_NET_LISTEN:
			return OCSF_NET_LISTEN;
		case AW_NET_ACCEPT:
			return OCSF_NET_ACCEPT;
		}
		break;
	case AW_EV_SYSCALL:
		return OCSF_SYSCALL;
	}
	return -EINVAL;
}

/* --- small writers ---------------------------------------------------------------------- */

static void write_bounded(struct json_writer *w, const char *s, size_t max)
{
	json_writer__string_len(w, s, strnlen(s, max));
}

/* "dev:ino" with dev as "major:minor" (the kernel's MKDEV, as /proc/self/mountinfo prints it). */
static void write_file_uid(struct json_writer *w, __u32 dev, __u64 ino)
{
	char buf[20], *q;

	json_writer__key(w, "uid");
	json_writer__char(w, '"');
	q = json_writer__format_u64(buf, dev >> 20);
	json_writer__raw(w, q, (size_t)(buf + 20 - q));
	json_writer__char(w, ':');
	q = json_writer__format_u64(buf, dev & 0xfffff);
	json_writer__raw(w, q, (size_t)(buf + 20 - q));
	json_writer__char(w, ':');
	q = json_writer__format_u64(buf, ino);
	json_writer__raw(w, q, (size_t)(buf + 20 - q));
	json_writer__char(w, '"');
	w->comma = true;
}

/* "file": path split into name and parent_folder ("/" is its own name, with no folder). */
static void write_file(struct json_writer *w, const char *path, unsigned int type_id, __u32 dev,
		       __u64 ino)
{
	size_t len = path ? strlen(path) : 0;
	const char *slash = len ? memrchr(path, '/', len) : NULL;
	bool root = len == 1 && slash;

	if (!path)
		path = "";
	json_writer__key(w, "file");
	json_writer__object_begin(w);
	json_writer__kv_uint(w, "type_id", type_id);
	json_writer__key(w, "name");
	if (!slash || root)
		json_writer__string_len(w, path, len);
	else
		json_writer__string_len(w, slash + 1, len - (size_t)(slash + 1 - path));
	json_writer__kv_string_len(w, "path", path, len);
	if (slash && !root) {
		size_t dir = (size_t)(slash - path);

		json_writer__kv_string_len(w, "parent_folder", dir ? path : "/", dir ? dir : 1);
	}
	if (ino)
		write_file_uid(w, dev, ino);
	json_writer__object_end(w);
}

/* Characters a POSIX shell leaves alone (and UTF-8), so that cmd_line needs no quotes for them. */
static bool shell_safe(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80)
		return true;
	switch (c) {
	case '_':
	case '@':
	case '%':
	case '+':
	case '=':
	case ':':
	case ',':
	case '.':
	case '/':
	case '-':
		return true;
	}
	return false;
}

/* One argument, single-quoted as a shell would need it ('it'\''s'), JSON-escaped. */
static void write_shell_word(struct json_writer *w, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && shell_safe((unsigned char)s[i]); i++)
		;
	if (n && i == n) {
		json_writer__escape(w, s, n);
		return;
	}
	json_writer__char(w, '\'');
	while (n) {
		const char *q = memchr(s, '\'', n);
		size_t k = q ? (size_t)(q - s) : n;

		json_writer__escape(w, s, k);
		if (!q)
			break;
		json_writer__raw(w, "'\\\\''", 5); /* '\'' inside a JSON string */
		s += k + 1;
		n -= k + 1;
	}
	json_writer__char(w, '\'');
}

/*
 * cmd_line from the NUL-separated argv: arguments joined by spaces, each quoted when a shell
 * would need it, so that `sh -c 'rm -rf /'` is not read back as four words.
 */
static void write_cmd_line(struct json_writer *w, const char *argv, size_t len)
{
	const char *p = argv, *end = argv + len;

	json_writer__key(w, "cmd_line");
	json_writer__char(w, '"');
	while (p && p < end) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		size_t n = nul ? (size_t)(nul - p) : (size_t)(end - p);

		if (p != argv)
			json_writer__char(w, ' ');
		write_shell_word(w, p, n);
		p += n + 1;
	}
	json_writer__char(w, '"');
	w->comma = true;
}

static size_t format_ipv4(char *out, const __u8 *a)
{
	char buf[20], *p = out, *q;
	int i;

	for (i = 0; i < 4; i++) {
		if (i)
			*p++ = '.';
		q = json_writer__format_u64(buf, a[i]);
		memcpy(p, q, (size_t)(buf + 20 - q));
		p += buf + 20 - q;
	}
	return (size_t)(p - out);
}

/* RFC 5952: lower-case hex, no leading zeros, the longest run (>= 2) of zero groups as "::". */
static size_t format_ipv6(char *out, const __u8 *a)
{
	static const char hex[] = "0123456789abcdef";
	int best = -1, best_len = 0, run = 0, i;
	char *p = out;
	__u16 g[8];

	for (i = 0; i < 8; i++) {
		g[i] = (__u16)(a[2 * i] << 8 | a[2 * i + 1]);
		run = g[i] ? 0 : run + 1;
		if (run > best_len) {
			best_len = run;
			best = i - run + 1;
		}
	}
	if (best_len < 2)
		best = -1;
	for (i = 0; i < 8; i++) {
		int shift, started = 0;

		if (i == best) {
			*p++ = ':';
			*p++ = ':';
			i += best_len - 1;
			continue;
		}
		if (i && i != best + best_len)
			*p++ = ':';
		for (shift = 12; shift >= 0; shift -= 4) {
			unsigned int d = (g[i] >> shift) & 0xf;

			if (d || started || !shift) {
				*p++ = hex[d];
				started = 1;
			}
		}
	}
	return (size_t)(p - out);
}

static bool ipv6_is_v4_mapped(const __u8 *a)
{
	static const __u8 prefix[12] = {[10] = 0xff, [11] = 0xff};

	return !memcmp(a, prefix, sizeof(prefix));
}

/* The IP version an address is written as: a v4-mapped IPv6 address counts as IPv4. */
static int ip_version(__u8 family, const __u8 *addr)
{
	return family == AF_INET6 && !ipv6_is_v4_mapped(addr) ? 6 : 4;
}

static void write_ip(struct json_writer *w, __u8 family, const __u8 *addr)
{
	char buf[48];
	size_t n;

	if (family != AF_INET6)
		n = format_ipv4(buf, addr);
	else if (ipv6_is_v4_mapped(addr))
		n = format_ipv4(buf, addr + 12);
	else
		n = format_ipv6(buf, addr);
	json_writer__key(w, "ip");
	json_writer__string_len(w, buf, n);
}

static void write_endpoint(struct json_writer *w, bool dst, __u8 family, const __u8 *addr,
			   __u16 port)
{
	if (dst)
		json_writer__key(w, "dst_endpoint");
	else
		json_writer__key(w, "src_endpoint");
	json_writer__object_begin(w);
	write_ip(w, family, addr);
	json_writer__kv_uint(w, "port", port);
	json_writer__object_end(w);
}

static bool endpoint_known(const __u8 *addr, __u16 port)
{
	static const __u8 zero[16];

	return port || memcmp(addr, zero, sizeof(zero));
}

static const char *protocol_name(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "ipv6-icmp";
	case IPPROTO_SCTP:
		return "sctp";
	case IPPROTO_UDPLITE:
		return "udplite";
	}
	return NULL;
}

static const char *source_name(__u8 source)
{
	switch (source) {
	case AW_SRC_TRACEPOINT:
		return "tracepoint";
	case AW_SRC_LSM:
		return "lsm";
	case AW_SRC_CGROUP:
		return "cgroup";
	case AW_SRC_SOCK_OPS:
		return "sock_ops";
	}
	return NULL;
}

static void write_status(struct json_writer *w, bool failed, int ret)
{
	const struct literal *st = failed ? &status_failure : &status_success;

	json_writer__fragment(w, st->s, st->len);
	if (ret < 0) {
		unsigned int e = (unsigned int)-ret;

		json_writer__key(w, "status_code");
		if (e < sizeof(errno_names) / sizeof(errno_names[0]) && errno_names[e])
			json_writer__string(w, errno_names[e]);
		else
			json_writer__uint_string(w, e);
	}
}

/* --- process objects -------------------------------------------------------------------- */

static void write_user(struct json_writer *w, __u32 uid)
{
	json_writer__key(w, "user");
	json_writer__object_begin(w);
	json_writer__key(w, "uid");
	json_writer__uint_string(w, uid);
	json_writer__object_end(w);
}

/* A process known only by pid and, when known, exec_id (a parent). */
static void write_process_ref(struct json_writer *w, __u32 pid, __u64 exec_id)
{
	json_writer__object_begin(w);
	json_writer__kv_uint(w, "pid", pid);
	if (exec_id) {
		json_writer__key(w, "uid");
		json_writer__uint_string(w, exec_id);
	}
	json_writer__object_end(w);
}

/*
 * The binary chain as the decoder gave it: the process's own binary, then its ancestors' up to
 * the agent root. Not process.ancestry, an array of process objects that starts at the parent;
 * not process.lineage, which OCSF 1.4.0 deprecated.
 */
static void write_ancestry(struct json_writer *w, const struct aw_event *ev)
{
	int i, n = ev->n_ancestors < AW_ANCESTRY_MAX ? ev->n_ancestors : AW_ANCESTRY_MAX;

	if (n <= 0)
		return;
	json_writer__key(w, "ancestry");
	json_writer__array_begin(w);
	for (i = 0; i < n; i++)
		json_writer__string(w, ev->ancestors[i] ? ev->ancestors[i] : "");
	json_writer__array_end(w);
}

static bool is_uuid(const char *s)
{
	int i;

	for (i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return s[36] == '\0';
}

static bool has_container(const struct aw_event *ev)
{
	return ev->k8s && ev->k8s->container_id[0];
}

/* The container the task runs in (container profile), when its agent is one. */
static void write_container(struct json_writer *w, const struct aw_event *ev)
{
	const struct k8s_identity *k = ev->k8s;

	if (!has_container(ev))
		return;
	json_writer__key(w, "container");
	json_writer__object_begin(w);
	json_writer__kv_string(w, "uid", k->container_id);
	if (k->runtime[0])
		json_writer__kv_string(w, "runtime", k->runtime);
	if (k->pod_uid[0]) {
		/* a static pod's UID is a config hash, not a UUID: unmapped.k8s has it */
		if (is_uuid(k->pod_uid))
			json_writer__kv_string(w, "pod_uuid", k->pod_uid);
		json_writer__kv_string(w, "orchestrator", "Kubernetes");
	}
	json_writer__object_end(w);
}

/* The members every process object of the event's own task starts with. */
static void write_task_members(struct json_writer *w, const struct aw_task *t)
{
	json_writer__kv_uint(w, "pid", t->tgid);
	if (t->pid != t->tgid)
		json_writer__kv_uint(w, "ptid", t->pid);
	if (t->exec_id) {
		json_writer__key(w, "uid");
		json_writer__uint_string(w, t->exec_id);
	}
	json_writer__key(w, "name");
	write_bounded(w, t->comm, sizeof(t->comm));
}

/* The event's task as a full process object: as actor of a file, network or kernel event. */
static void write_task_process(struct json_writer *w, const struct aw_event *ev)
{
	json_writer__object_begin(w);
	write_task_members(w, &ev->task);
	write_user(w, ev->task.uid);
	if (ev->task.ppid) { /* 0: the record did not say */
		json_writer__key(w, "parent_process");
		write_process_ref(w, ev->task.ppid, 0);
	}
	write_container(w, ev);
	json_writer__object_end(w);
}

static void write_actor_task(struct json_writer *w, const struct aw_event *ev)
{
	json_writer__key(w, "actor");
	json_writer__object_begin(w);
	json_writer__key(w, "process");
	write_task_process(w, ev);
	json_writer__object_end(w);
}

static void write_actor_ref(struct json_writer *w, __u32 pid, __u64 exec_id)
{
	json_writer__key(w, "actor");
	json_writer__object_begin(w);
	json_writer__key(w, "process");
	write_process_ref(w, pid, exec_id);
	json_writer__object_end(w);
}

/* --- classes ---------------------------------------------------------------------------- */

static void write_exec(struct json_writer *w, const struct aw_event *ev, __u64 time_ms)
{
	const struct aw_task *t = &ev->task;

	write_status(w, ev->disposition == AW_DISP_BLOCKED, 0);
	write_actor_ref(w, t->ppid, ev->exec.parent_exec_id);
	json_writer__key(w, "process");
	json_writer__object_begin(w);
	write_task_members(w, t);
	write_cmd_line(w, ev->exec.argv, ev->exec.argv ? ev->exec.argv_len : 0);
	write_file(w, ev->exec.path, FILE_TYPE_REGULAR, ev->exec.dev, ev->exec.ino);
	write_user(w, t->uid);
	json_writer__kv_uint(w, "created_time", time_ms);
	if (ev->exec.cwd)
		json_writer__kv_string(w, "working_directory", ev->exec.cwd);
	json_writer__key(w, "parent_process");
	write_process_ref(w, t->ppid, ev->exec.parent_exec_id);
	write_container(w, ev);
	json_writer__object_end(w);
	json_writer__kv_uint(w, "launch_type_id", LAUNCH_EXEC);
	json_writer__kv_string(w, "launch_type", "Exec");
}

static void write_fork(struct json_writer *w, const struct aw_event *ev, __u64 time_ms)
{
	const struct aw_task *t = &ev->task;

	write_status(w, ev->disposition == AW_DISP_BLOCKED, 0);
	write_actor_ref(w, ev->fork.parent_tgid, 0);
	json_writer__key(w, "process");
	json_writer__object_begin(w);
	write_task_members(w, t);
	write_user(w, t->uid);
	json_writer__kv_uint(w, "created_time", time_ms);
	json_writer__key(w, "parent_process");
	write_process_ref(w, ev->fork.parent_tgid, 0);
	write_container(w, ev);
	json_writer__object_end(w);
	if (ev->fork.thread) {
		json_writer__kv_uint(w, "launch_type_id", LAUNCH_OTHER);
		json_writer__kv_string(w, "launch_type", "Thread");
	} else {
		json_writer__kv_uint(w, "launch_type_id", LAUNCH_FORK);
		json_writer__kv_string(w, "launch_type", "Fork");
	}
}

static void write_exit(struct json_writer *w, const struct aw_event *ev, __u64 time_ms)
{
	const struct aw_task *t = &ev->task;

	write_status(w, false, 0);
	json_writer__key(w, "actor");
	json_writer__object_begin(w);
	json_writer__key(w, "process");
	json_writer__object_begin(w);
	write_task_members(w, t);
	json_writer__object_end(w);
	json_writer__object_end(w);
	json_writer__key(w, "process");
	json_writer__object_begin(w);
	write_task_members(w, t);
	write_user(w, t->uid);
	json_writer__kv_uint(w, "terminated_time", time_ms);
	if (t->ppid) {
		json_writer__key(w, "parent_process");
		write_process_ref(w, t->ppid, 0);
	}
	write_container(w, ev);
	json_writer__object_end(w);
	if (!ev->exit.signal)
		json_writer__kv_int(w, "exit_code", ev->exit.code);
}

static void write_file_open(struct json_writer *w, const struct aw_event *ev)
{
	int ret = ev->file.ret;

	write_status(w, ev->disposition == AW_DISP_BLOCKED || ret < 0, ret);
	write_actor_task(w, ev);
	write_file(w, ev->file.path,
		   (ev->file.flags & O_DIRECTORY) ? FILE_TYPE_FOLDER : FILE_TYPE_REGULAR,
		   ev->file.dev, ev->file.ino);
	json_writer__kv_uint(w, "access_mask", ev->file.flags);
}

static void write_net(struct json_writer *w, const struct aw_event *ev, int kind)
{
	const __u8 *local = ev->net.saddr, *peer = ev->net.daddr;
	__u16 lport = ev->net.sport, pport = ev->net.dport;
	int ret = ev->net.ret, direction = DIRECTION_OUTBOUND, version;
	const char *proto = protocol_name(ev->net.proto);
	__u8 family = ev->net.family;

	/* A non-blocking connect that is under way has not failed. */
	write_status(w, ev->disposition == AW_DISP_BLOCKED || (ret < 0 && ret != -EINPROGRESS),
		     ret);
	write_actor_task(w, ev);
	switch (kind) {
	case OCSF_NET_CONNECT:
	case OCSF_NET_SENDMSG:
		if (endpoint_known(local, lport))
			write_endpoint(w, false, family, local, lport);
		write_endpoint(w, true, family, peer, pport);
		version = ip_version(family, peer);
		break;
	case OCSF_NET_ACCEPT:
		direction = DIRECTION_INBOUND;
		write_endpoint(w, false, family, peer, pport);
		write_endpoint(w, true, family, local, lport);
		version = ip_version(family, peer);
		break;
	case OCSF_NET_LISTEN:
		/* listen(2) names no address: the socket's own, wherever the record has it */
		direction = DIRECTION_INBOUND;
		if (!endpoint_known(local, lport)) {
			local = peer;
			lport = pport;
		}
		write_endpoint(w, true, family, local, lport);
		version = ip_version(family, local);
		break;
	default:
		/* bind: the address bind(2) names, the local one, as the responder it mostly is */
		direction = DIRECTION_UNKNOWN;
		write_endpoint(w, true, family, peer, pport);
		version = ip_version(family, peer);
		break;
	}
	json_writer__key(w, "connection_info");
	json_writer__object_begin(w);
	if (proto)
		json_writer__kv_string(w, "protocol_name", proto);
	json_writer__kv_uint(w, "protocol_num", ev->net.proto);
	json_writer__kv_uint(w, "protocol_ver_id", version);
	json_writer__kv_uint(w, "direction_id", direction);
	json_writer__object_end(w);
}

static void write_syscall(struct json_writer *w, const struct aw_event *ev)
{
	char buf[32];
	const char *name = ev->sys.name;

	if (!name) {
		snprintf(buf, sizeof(buf), "syscall_%u", ev->sys.nr);
		name = buf;
	}
	write_actor_task(w, ev);
	json_writer__key(w, "kernel");
	json_writer__object_begin(w);
	json_writer__kv_string(w, "name", name);
	json_writer__kv_uint(w, "type_id", KERNEL_TYPE_SYSCALL);
	json_writer__kv_string(w, "system_call", name);
	json_writer__object_end(w);
}

static void write_hex(struct json_writer *w, __u64 v)
{
	static const char hex[] = "0123456789abcdef";
	char buf[18], *p = buf + sizeof(buf);

	do {
		*--p = hex[v & 0xf];
		v >>= 4;
	} while (v);
	*--p = 'x';
	*--p = '0';
	json_writer__string_len(w, p, (size_t)(buf + sizeof(buf) - p));
}

static void write_access(struct json_writer *w, __u32 access)
{
	static const struct {
		__u32 bit;
		struct literal name;
	} names[] = {
		{AW_ACC_READ, LIT("\"read\"")},
		{AW_ACC_WRITE, LIT("\"write\"")},
		{AW_ACC_CREATE, LIT("\"create\"")},
		{AW_ACC_TRUNC, LIT("\"truncate\"")},
		{AW_ACC_EXEC, LIT("\"exec\"")},
		/* the policy's access bits (include/agentwatch/policy.h) */
		{1U << 5, LIT("\"delete\"")},
		{1U << 6, LIT("\"rename\"")},
		{1U << 7, LIT("\"link\"")},
	};
	size_t i;

	json_writer__key(w, "access");
	json_writer__array_begin(w);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (access & names[i].bit)
			json_writer__fragment(w, names[i].name.s, names[i].name.len);
	json_writer__array_end(w);
}

static void write_unmapped(struct json_writer *w, const struct aw_event *ev)
{
	const char *source = NULL;
	int i;

	json_writer__key(w, "unmapped");
	json_writer__object_begin(w);
	json_writer__kv_string(w, "enforcement", aw_level__name(ev->enforcement));
	json_writer__kv_uint(w, "cgroup_id", ev->task.cgroup_id);
	if (ev->agent) {
		const struct aw_agent *a = ev->agent;

		json_writer__key(w, "ai_agent");
		json_writer__object_begin(w);
		if (a->agent_uid[0]) {
			json_writer__key(w, "uid");
			write_bounded(w, a->agent_uid, sizeof(a->agent_uid));
		}
		if (a->session_uid[0]) {
			json_writer__key(w, "instance_uid");
			write_bounded(w, a->session_uid, sizeof(a->session_uid));
		}
		if (a->name[0]) {
			json_writer__key(w, "name");
			write_bounded(w, a->name, sizeof(a->name));
		}
		json_writer__object_end(w);
	}
	if (ev->k8s && ev->k8s->pod_uid[0]) {
		json_writer__key(w, "k8s");
		json_writer__object_begin(w);
		json_writer__kv_string(w, "pod_uid", ev->k8s->pod_uid);
		if (ev->k8s->qos[0])
			json_writer__kv_string(w, "qos", ev->k8s->qos);
		json_writer__object_end(w);
	}
	if (ev->rule)
		json_writer__kv_string(w, "rule", ev->rule);
	write_ancestry(w, ev);
	switch (ev->type) {
	case AW_EV_FILE_OPEN:
		source = source_name(ev->file.source);
		write_access(w, ev->file.access);
		break;
	case AW_EV_NET:
		source = source_name(ev->net.source);
		break;
	case AW_EV_EXIT:
		if (ev->exit.signal)
			json_writer__kv_int(w, "signal", ev->exit.signal);
		break;
	case AW_EV_SYSCALL:
		json_writer__key(w, "syscall");
		json_writer__object_begin(w);
		json_writer__kv_uint(w, "nr", ev->sys.nr);
		json_writer__key(w, "args");
		json_writer__array_begin(w);
		for (i = 0; i < 3; i++)
			write_hex(w, ev->sys.args[i]);
		json_writer__array_end(w);
		json_writer__object_end(w);
		break;
	}
	if (source)
		json_writer__kv_string(w, "source", source);
	/* Last, so that it sees every string of the event. */
	if (w->replaced)
		json_writer__kv_bool(w, "invalid_utf8", true);
	json_writer__object_end(w);
}

int ocsf__encode(const struct aw_event *ev, const struct ocsf_ctx *ctx, char *buf, size_t size)
{
	int kind = ocsf__kind(ev);
	const struct ocsf_fragment *cls, *meta;
	unsigned int disp = ev->disposition;
	struct json_writer w;
	__u64 time_ms = ev->wall_ns / 1000000;

	if (kind < 0)
		return kind;
	if (disp >= sizeof(outcomes) / sizeof(outcomes[0]))
		return -EINVAL;
	cls = &ctx->classes[kind];

	json_writer__init(&w, buf, size);
	json_writer__object_begin(&w);
	json_writer__fragment(&w, cls->json, cls->len);
	json_writer__fragment(&w, outcomes[disp].s, outcomes[disp].len);
	json_writer__kv_uint(&w, "time", time_ms);

	json_writer__key(&w, "metadata");
	json_writer__object_begin(&w);
	meta = has_container(ev) ? &ctx->metadata_container : &ctx->metadata;
	json_writer__fragment(&w, meta->json, meta->len);
	json_writer__key(&w, "uid");
	json_writer__uint_string(&w, ev->event_id);
	if (ev->flags & AW_EVF_TRUNCATED)
		json_writer__kv_bool(&w, "is_truncated", true);
	json_writer__object_end(&w);
	json_writer__fragment(&w, ctx->device, ctx->device_len);

	switch (kind) {
	case OCSF_EXEC:
		write_exec(&w, ev, time_ms);
		break;
	case OCSF_FORK:
	case OCSF_THREAD:
		write_fork(&w, ev, time_ms);
		break;
	case OCSF_EXIT:
		write_exit(&w, ev, time_ms);
		break;
	case OCSF_FILE_OPEN:
		write_file_open(&w, ev);
		break;
	case OCSF_SYSCALL:
		write_syscall(&w, ev);
		break;
	default:
		write_net(&w, ev, kind);
		break;
	}
	write_unmapped(&w, ev);
	json_writer__object_end(&w);
	return json_writer__finish(&w);
}

/* --- context ---------------------------------------------------------------------------- */

static int copy_field(char *dst, size_t size, const char *src)
{
	size_t len = src ? strlen(src) : 0;

	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(dst, src ? src : "", len);
	dst[len] = '\0';
	return 0;
}

static int render_kind(struct ocsf_fragment *f, const struct kind_def *k)
{
	const char *caption = k->activity_id == ACTIVITY_OTHER ? "Other" : k->activity_name;
	struct json_writer w;
	int len;

	json_writer__init(&w, f->json, sizeof(f->json));
	json_writer__kv_uint(&w, "activity_id", k->activity_id);
	json_writer__kv_string(&w, "activity_name", k->activity_name);
	json_writer__kv_uint(&w, "category_uid", k->category_uid);
	json_writer__kv_string(&w, "category_name", k->category_name);
	json_writer__kv_uint(&w, "class_uid", k->class_uid);
	json_writer__kv_string(&w, "class_name", k->class_name);
	json_writer__kv_uint(&w, "type_uid", (__u64)k->class_uid * 100 + k->activity_id);
	json_writer__key(&w, "type_name");
	json_writer__char(&w, '"');
	json_writer__escape(&w, k->class_name, strlen(k->class_name));
	json_writer__escape(&w, ": ", 2);
	json_writer__escape(&w, caption, strlen(caption));
	json_writer__char(&w, '"');
	len = json_writer__finish(&w);
	if (len < 0)
		return len;
	f->len = (size_t)len;
	return 0;
}

static int render_metadata(struct ocsf_ctx *ctx, struct ocsf_fragment *f, bool container)
{
	struct json_writer w;
	int len;

	json_writer__init(&w, f->json, sizeof(f->json));
	json_writer__kv_string(&w, "version", OCSF_SCHEMA_VERSION);
	json_writer__key(&w, "product");
	json_writer__object_begin(&w);
	json_writer__kv_string(&w, "name", OCSF_PRODUCT_NAME);
	json_writer__kv_string(&w, "vendor_name", OCSF_PRODUCT_NAME);
	if (ctx->product_version[0])
		json_writer__kv_string(&w, "version", ctx->product_version);
	json_writer__object_end(&w);
	/* host: actor and device in network classes; security_control: action and disposition;
	 * container: process.container. */
	json_writer__key(&w, "profiles");
	json_writer__array_begin(&w);
	json_writer__string(&w, "host");
	json_writer__string(&w, "security_control");
	if (container)
		json_writer__string(&w, "container");
	json_writer__array_end(&w);
	len = json_writer__finish(&w);
	if (len < 0)
		return -ENAMETOOLONG;
	f->len = (size_t)len;
	return 0;
}

int ocsf_ctx__init(struct ocsf_ctx *ctx, const struct ocsf_node *node)
{
	struct json_writer w;
	int err, len, i;

	memset(ctx, 0, sizeof(*ctx));
	if ((err = copy_field(ctx->hostname, sizeof(ctx->hostname), node->hostname)) ||
	    (err = copy_field(ctx->node_uid, sizeof(ctx->node_uid), node->node_uid)) ||
	    (err = copy_field(ctx->boot_uid, sizeof(ctx->boot_uid), node->boot_uid)) ||
	    (err = copy_field(ctx->product_version, sizeof(ctx->product_version),
			      node->product_version)))
		return err;

	for (i = 0; i < OCSF_KIND__COUNT; i++) {
		err = render_kind(&ctx->classes[i], &kinds[i]);
		if (err)
			return err;
	}

	if ((err = render_metadata(ctx, &ctx->metadata, false)) ||
	    (err = render_metadata(ctx, &ctx->metadata_container, true)))
		return err;

	json_writer__init(&w, ctx->device, sizeof(ctx->device));
	json_writer__key(&w, "device");
	json_writer__object_begin(&w);
	json_writer__kv_uint(&w, "type_id", DEVICE_TYPE_UNKNOWN);
	json_writer__kv_string(&w, "hostname", ctx->hostname);
	if (ctx->node_uid[0])
		json_writer__kv_string(&w, "uid", ctx->node_uid);
	if (ctx->boot_uid[0])
		json_writer__kv_string(&w, "boot_uid", ctx->boot_uid);
	json_writer__key(&w, "os");
	json_writer__object_begin(&w);
	json_writer__kv_string(&w, "name", "Linux");
	json_writer__kv_uint(&w, "type_id", OS_TYPE_LINUX);
	if (node->kernel_release && node->kernel_release[0])
		json_writer__kv_string(&w, "kernel_release", node->kernel_release);
	json_writer__object_end(&w);
	json_writer__object_end(&w);
	len = json_writer__finish(&w);
	if (len < 0)
		return -ENAMETOOLONG;
	ctx->device_len = (size_t)len;
	return 0;
}

/* First line of a small file, without its newline; "" when it cannot be read. */
static void read_line(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

int ocsf_ctx__init_host(struct ocsf_ctx *ctx, const char *product_version)
{
	char hostname[256] = "", machine_id[64], boot_id[64];
	struct utsname uts;
	struct ocsf_node node = {
		.hostname = hostname,
		.node_uid = machine_id,
		.boot_uid = boot_id,
		.product_version = product_version,
	};

	if (gethostname(hostname, sizeof(hostname) - 1))
		hostname[0] = '\0';
	read_line("/etc/machine-id", machine_id, sizeof(machine_id));
	read_line("/proc/sys/kernel/random/boot_id", boot_id, sizeof(boot_id));
	if (!uname(&uts))
		node.kernel_release = uts.release;
	return ocsf_ctx__init(ctx, &node);
}
