// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch-bench-encode: OCSF encode throughput on one core.
 *
 * Encodes a fixed mix of events (every class, realistic strings, 300+ bytes each) in a loop for
 * a few seconds, pinned to the CPU it starts on; then the same events as ring-buffer records
 * through decoder__decode() and the encoder, which is the daemon's per-event work. In the same
 * run it measures a baseline: copying the same, already encoded lines with memcpy. The ratio
 * between the two is the figure to compare across machines; the absolute rate is this
 * machine's. The RESULT lines are for tests/bench/run.sh (`make bench`).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "decode.h"
#include "ocsf.h"

#define MIX_SIZE 16
#define BATCH	 4096
#define OUT_MAX	 8192
#define WIRE_MAX 4096

static const struct aw_agent agent = {
	.slot = 7,
	.root_cgroup_id = 48213,
	.name = "claude-code",
	.agent_uid = "0b7c6a52-3f7e-4a39-9d55-1f2e3d4c5b6a",
	.session_uid = "sess-2024-04-05T10:11:12Z-8f3a",
};

static const char argv_git[] = "git\0-C\0/home/dev/src/agentwatch\0commit\0-m\0fix: the OCSF "
			       "encoder's escaping of \"odd\" paths\0";
static const char argv_curl[] = "curl\0-sSL\0https://example.com/install.sh\0-o\0/tmp/install.sh";

static void base(struct aw_event *ev, __u8 type, __u64 id)
{
	memset(ev, 0, sizeof(*ev));
	ev->event_id = id;
	ev->boot_ns = 86400ULL * 1000000000ULL + id * 1000;
	ev->wall_ns = 1712345678901234567ULL + id * 1000;
	ev->type = type;
	ev->task.pid = 48213 + (__u32)id;
	ev->task.tgid = 48213 + (__u32)id;
	ev->task.ppid = 48100;
	ev->task.uid = 1000;
	ev->task.gid = 1000;
	ev->task.agent_slot = 7;
	ev->task.cgroup_id = 48217;
	ev->task.exec_id = AW_EXEC_ID(ev->boot_ns, ev->task.tgid);
	memcpy(ev->task.comm, "node", 5);
	ev->agent = &agent;
	ev->enforcement = AW_LEVEL_LSM;
	ev->n_ancestors = 3;
	ev->ancestors[0] = "/usr/bin/bash";
	ev->ancestors[1] = "/usr/local/bin/node";
	ev->ancestors[2] = "/usr/local/bin/claude";
}

static void net(struct aw_event *ev, __u8 op, __u8 family, __u8 proto, const char *dst, __u16 dport)
{
	ev->net.op = op;
	ev->net.family = family;
	ev->net.proto = proto;
	ev->net.source = AW_SRC_CGROUP;
	ev->net.dport = dport;
	ev->net.sport = 43512;
	inet_pton(family, dst, ev->net.daddr);
	inet_pton(family, family == AF_INET ? "10.244.1.17" : "fd00:10:244:1::17", ev->net.saddr);
}

/*
 * A mix weighted like an agent's stream: mostly file opens, then network, then processes.
 * Returns how many events it made.
 */
static int build_mix(struct aw_event *mix)
{
	static const char *const paths[] = {
		"/home/dev/src/agentwatch/user/ocsf.c",
		"/home/dev/.config/claude/settings.json",
		"/usr/lib/x86_64-linux-gnu/libssl.so.3",
		"/home/dev/src/agentwatch/node_modules/.package-lock.json",
		"/etc/ld.so.cache",
	};
	struct aw_event *ev = mix;
	__u64 id = 1;
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++, ev++) {
		base(ev, AW_EV_FILE_OPEN, id++);
		ev->file.path = paths[i];
		ev->file.access = AW_ACC_READ;
		ev->file.flags = O_RDONLY | O_CLOEXEC;
		ev->file.ret = 23;
		ev->file.ino = 1048577 + i;
		ev->file.dev = (259U << 20) | 2;
		ev->file.source = AW_SRC_LSM;
	}
	base(ev, AW_EV_FILE_OPEN, id++);
	ev->file.path = "/home/dev/src/agentwatch/build/tests/unit/test_ocsf.o";
	ev->file.access = AW_ACC_WRITE | AW_ACC_CREATE | AW_ACC_TRUNC;
	ev->file.flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
	ev->file.ret = 24;
	ev->file.ino = 2097153;
	ev->file.dev = (259U << 20) | 2;
	ev->file.source = AW_SRC_LSM;
	ev++;
	base(ev, AW_EV_FILE_OPEN, id++);
	ev->file.path = "/home/dev/.ssh/id_ed25519";
	ev->file.access = AW_ACC_READ;
	ev->file.flags = O_RDONLY;
	ev->file.ret = -EPERM;
	ev->file.source = AW_SRC_LSM;
	ev->disposition = AW_DISP_BLOCKED;
	ev->flags = AW_EVF_DENIED;
	ev->rule = "ssh-keys";
	ev++;
	base(ev, AW_EV_NET, id++);
	net(ev, AW_NET_CONNECT, AF_INET, IPPROTO_TCP, "140.82.112.3", 443);
	ev++;
	base(ev, AW_EV_NET, id++);
	net(ev, AW_NET_CONNECT, AF_INET6, IPPROTO_TCP, "2606:4700:4700::1111", 443);
	ev++;
	base(ev, AW_EV_NET, id++);
	net(ev, AW_NET_SENDMSG, AF_INET, IPPROTO_UDP, "10.96.0.10", 53);
	ev++;
	base(ev, AW_EV_EXEC, id++);
	ev->exec.path = "/usr/bin/git";
	ev->exec.argv = argv_git;
	ev->exec.argv_len = sizeof(argv_git) - 1;
	ev->exec.argc = 6;
	ev->exec.cwd = "/home/dev/src/agentwatch";
	ev->exec.parent_exec_id = AW_EXEC_ID(86400ULL * 1000000000ULL, 48100);
	ev->exec.ino = 3145729;
	ev->exec.dev = (259U << 20) | 2;
	ev++;
	base(ev, AW_EV_EXEC, id++);
	ev->exec.path = "/usr/bin/curl";
	ev->exec.argv = argv_curl;
	ev->exec.argv_len = sizeof(argv_curl) - 1;
	ev->exec.argc = 5;
	ev->exec.cwd = "/tmp";
	ev->exec.ino = 3145730;
	ev->exec.dev = (259U << 20) | 2;
	ev->disposition = AW_DISP_WOULD_BLOCK;
	ev->enforcement = AW_LEVEL_AUDIT;
	ev->rule = "no-curl-pipe-sh";
	ev++;
	base(ev, AW_EV_FORK, id++);
	ev->fork.parent_pid = 48100;
	ev->fork.parent_tgid = 48100;
	ev++;
	base(ev, AW_EV_EXIT, id++);
	ev->exit.code = 1;
	ev++;
	base(ev, AW_EV_SYSCALL, id++);
	ev->sys.nr = 101;
	ev->sys.name = "ptrace";
	ev->sys.args[0] = 16;
	ev->sys.args[1] = 48300;
	ev++;
	base(ev, AW_EV_NET, id++);
	net(ev, AW_NET_ACCEPT, AF_INET, IPPROTO_TCP, "10.244.3.9", 51234);
	ev->net.sport = 8080;
	ev++;
	return (int)(ev - mix);
}

/* Append a string to a record being built; returns its (offset, length). */
static struct aw_str put_str(char *rec, __u32 *size, const char *s, size_t len)
{
	struct aw_str str = {.off = (__u16)*size, .len = (__u16)len};

	memcpy(rec + *size, s, len);
	*size += (__u32)len;
	return str;
}

/* The ring-buffer record the BPF side would have sent for ev; returns its size. */
static __u32 to_wire(const struct aw_event *ev, char *rec)
{
	union {
		struct aw_event_hdr hdr;
		struct aw_exec_event exec;
		struct aw_fork_event fork;
		struct aw_exit_event exit;
		struct aw_file_event file;
		struct aw_net_event net;
		struct aw_syscall_event sys;
	} *w = (void *)rec;
	__u32 size = 0;

	memset(rec, 0, WIRE_MAX);
	switch (ev->type) {
	case AW_EV_EXEC:
		size = sizeof(w->exec);
		w->exec.parent_exec_id = ev->exec.parent_exec_id;
		w->exec.ino = ev->exec.ino;
		w->exec.dev = ev->exec.dev;
		w->exec.argc = ev->exec.argc;
		w->exec.path = put_str(rec, &size, ev->exec.path, strlen(ev->exec.path));
		w->exec.argv = put_str(rec, &size, ev->exec.argv, ev->exec.argv_len);
		w->exec.cwd = put_str(rec, &size, ev->exec.cwd, strlen(ev->exec.cwd));
		break;
	case AW_EV_FORK:
		size = sizeof(w->fork);
		w->fork.parent_pid = ev->fork.parent_pid;
		w->fork.parent_tgid = ev->fork.parent_tgid;
		w->fork.clone_thread = ev->fork.thread;
		break;
	case AW_EV_EXIT:
		size = sizeof(w->exit);
		w->exit.exit_code = (__u32)(ev->exit.code << 8 | ev->exit.signal);
		break;
	case AW_EV_FILE_OPEN:
		size = sizeof(w->file);
		w->file.ino = ev->file.ino;
		w->file.dev = ev->file.dev;
		w->file.access = ev->file.access;
		w->file.flags = ev->file.flags;
		w->file.ret = ev->file.ret;
		w->file.source = ev->file.source;
		w->file.path = put_str(rec, &size, ev->file.path, strlen(ev->file.path));
		break;
	case AW_EV_NET:
		size = sizeof(w->net);
		w->net.op = ev->net.op;
		w->net.family = ev->net.family;
		w->net.proto = ev->net.proto;
		w->net.source = ev->net.source;
		w->net.sport = ev->net.sport;
		w->net.dport = ev->net.dport;
		memcpy(w->net.saddr, ev->net.saddr, 16);
		memcpy(w->net.daddr, ev->net.daddr, 16);
		w->net.ret = ev->net.ret;
		break;
	case AW_EV_SYSCALL:
		size = sizeof(w->sys);
		w->sys.nr = ev->sys.nr;
		memcpy(w->sys.args, ev->sys.args, sizeof(w->sys.args));
		break;
	}
	w->hdr.version = AW_EVENT_VERSION;
	w->hdr.type = ev->type;
	w->hdr.size = (__u16)size;
	w->hdr.flags = ev->flags;
	w->hdr.ktime_ns = ev->boot_ns;
	w->exec.task = ev->task; /* every record: hdr, then task */
	return size;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct result {
	double seconds;
	unsigned long long events, bytes;
};

static char out[OUT_MAX];

static int run_encode(const struct aw_event *mix, const struct ocsf_ctx *ctx, double seconds,
		      struct result *r)
{
	double start = now(), end = start + seconds, t;
	unsigned int i;

	memset(r, 0, sizeof(*r));
	do {
		for (i = 0; i < BATCH; i++) {
			int n = ocsf__encode(&mix[i % MIX_SIZE], ctx, out, sizeof(out));

			if (n < 0)
				return n;
			r->bytes += (unsigned long long)n;
		}
		r->events += BATCH;
		t = now();
	} while (t < end);
	r->seconds = t - start;
	return 0;
}

/* What the daemon does per record: decode, add what userspace knows, encode. */
static int run_decode_encode(char wire[MIX_SIZE][WIRE_MAX], const __u32 *sizes,
			     const struct aw_event *mix, const struct ocsf_ctx *ctx, double seconds,
			     struct result *r)
{
	static struct decoder dec;
	double start = now(), end = start + seconds, t;
	struct aw_event ev;
	unsigned int i;
	int err;

	memset(r, 0, sizeof(*r));
	do {
		for (i = 0; i < BATCH; i++) {
			const struct aw_event *src = &mix[i % MIX_SIZE];
			int n;

			err = decoder__decode(&dec, wire[i % MIX_SIZE], sizes[i % MIX_SIZE], &ev);
			if (err)
				return err;
			ev.event_id = src->event_id;
			ev.wall_ns = src->wall_ns;
			ev.agent = src->agent;
			ev.enforcement = src->enforcement;
			ev.rule = src->rule;
			ev.n_ancestors = src->n_ancestors; /* from the process cache */
			memcpy(ev.ancestors, src->ancestors, sizeof(ev.ancestors));
			ev.sys.name = ev.type == AW_EV_SYSCALL ? src->sys.name : ev.sys.name;
			n = ocsf__encode(&ev, ctx, out, sizeof(out));
			if (n < 0)
				return n;
			r->bytes += (unsigned long long)n;
		}
		r->events += BATCH;
		t = now();
	} while (t < end);
	r->seconds = t - start;
	return 0;
}

static void run_memcpy(char lines[MIX_SIZE][OUT_MAX], const size_t *lens, double seconds,
		       struct result *r)
{
	double start = now(), end = start + seconds, t;
	unsigned int i;

	memset(r, 0, sizeof(*r));
	do {
		for (i = 0; i < BATCH; i++) {
			size_t n = lens[i % MIX_SIZE];

			memcpy(out, lines[i % MIX_SIZE], n + 1);
			__asm__ __volatile__("" : : "r"(out) : "memory"); /* keep every copy */
			r->bytes += n;
		}
		r->events += BATCH;
		t = now();
	} while (t < end);
	r->seconds = t - start;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: agentwatch-bench-encode [-t SECONDS] [-p]\n"
		   "\n"
		   "Measure OCSF encode (and decode+encode) throughput on one core, against a\n"
		   "memcpy of the same encoded lines in the same run.\n"
		   "\n"
		   "  -t, --seconds SECONDS  time per measurement (default 2)\n"
		   "  -p, --print            print the event mix as encoded, then exit\n"
		   "  -h, --help             this help\n"
		   "\n"
		   "EXAMPLES\n"
		   "  agentwatch-bench-encode\n"
		   "  taskset -c 1 agentwatch-bench-encode -t 5\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"seconds", required_argument, NULL, 't'},
		{"print", no_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	static char lines[MIX_SIZE][OUT_MAX], wire[MIX_SIZE][WIRE_MAX];
	static struct ocsf_ctx ctx;
	struct ocsf_node node = {
		.hostname = "ip-10-0-12-34.eu-west-1.compute.internal",
		.node_uid = "4c4c4544004e3510804cb4c04f4e3232",
		.boot_uid = "b60a4ab6-82ca-4715-b722-5fc9d142858b",
		.kernel_release = "6.8.0-1015-aws",
		.product_version = AW_VERSION,
	};
	struct aw_event mix[MIX_SIZE];
	struct result enc, dec, base_r;
	__u32 sizes[MIX_SIZE];
	size_t lens[MIX_SIZE], min_len = SIZE_MAX;
	double seconds = 2, enc_ns, dec_ns, base_ns;
	bool print = false;
	cpu_set_t cpus;
	int c, i, err, cpu;

	while ((c = getopt_long(argc, argv, "t:ph", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			seconds = atof(optarg);
			if (seconds <= 0) {
				fprintf(stderr, "bench-encode: bad --seconds '%s'\n", optarg);
				return 2;
			}
			break;
		case 'p':
			print = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}

	err = ocsf_ctx__init(&ctx, &node);
	if (err) {
		fprintf(stderr, "bench-encode: ocsf context: %s\n", strerror(-err));
		return 1;
	}
	if (build_mix(mix) != MIX_SIZE) {
		fprintf(stderr, "bench-encode: the mix is not %d events\n", MIX_SIZE);
		return 1;
	}
	for (i = 0; i < MIX_SIZE; i++) {
		int n = ocsf__encode(&mix[i], &ctx, lines[i], OUT_MAX);

		if (n < 0) {
			fprintf(stderr, "bench-encode: event %d: %s\n", i, strerror(-n));
			return 1;
		}
		lens[i] = (size_t)n;
		sizes[i] = to_wire(&mix[i], wire[i]);
		if (lens[i] < min_len)
			min_len = lens[i];
		if (print)
			printf("%s\n", lines[i]);
	}
	if (print)
		return 0;

	/* One core: stay on the CPU we started on. */
	cpu = sched_getcpu();
	if (cpu >= 0) {
		CPU_ZERO(&cpus);
		CPU_SET(cpu, &cpus);
		sched_setaffinity(0, sizeof(cpus), &cpus);
	}

	err = run_encode(mix, &ctx, seconds / 10, &enc); /* warm up */
	if (!err)
		err = run_encode(mix, &ctx, seconds, &enc);
	if (err) {
		fprintf(stderr, "bench-encode: encode: %s\n", strerror(-err));
		return 1;
	}
	err = run_decode_encode(wire, sizes, mix, &ctx, seconds, &dec);
	if (err) {
		fprintf(stderr, "bench-encode: decode and encode: %s\n", strerror(-err));
		return 1;
	}
	run_memcpy(lines, lens, seconds, &base_r);

	enc_ns = enc.seconds * 1e9 / (double)enc.events;
	base_ns = base_r.seconds * 1e9 / (double)base_r.events;
	printf("encode: %.0f events/s (%.1f ns/event, avg %llu bytes, min %zu) on cpu %d\n",
	       (double)enc.events / enc.seconds, enc_ns, enc.bytes / enc.events, min_len, cpu);
	dec_ns = dec.seconds * 1e9 / (double)dec.events;
	printf("decode+encode: %.0f events/s (%.1f ns/event, avg %llu bytes)\n",
	       (double)dec.events / dec.seconds, dec_ns, dec.bytes / dec.events);
	printf("baseline memcpy of the same lines: %.0f events/s (%.1f ns/event)\n",
	       (double)base_r.events / base_r.seconds, base_ns);
	printf("ratio: encode = %.1f x memcpy; %.0f MB/s of JSON\n", enc_ns / base_ns,
	       (double)enc.bytes / enc.seconds / 1e6);
	/* For tests/bench/run.sh. */
	printf("RESULT ocsf.encode_rate %.0f events/s ratio=%.2f baseline=%.0f bytes=%llu\n",
	       (double)enc.events / enc.seconds, enc_ns / base_ns,
	       (double)base_r.events / base_r.seconds, enc.bytes / enc.events);
	printf("RESULT ocsf.encode_ns %.1f ns/event ratio=%.2f baseline=%.1f\n", enc_ns,
	       enc_ns / base_ns, base_ns);
	printf("RESULT ocsf.decode_encode_rate %.0f events/s ratio=%.2f baseline=%.0f\n",
	       (double)dec.events / dec.seconds, dec_ns / base_ns,
	       (double)base_r.events / base_r.seconds);
	return 0;
}
