// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch-bench-top: what `agentwatch top` costs, and a fixture to test it with.
 *
 *   agentwatch-bench-top [--seconds S] [--agentwatch PATH]
 *     The benchmark (make bench). A fixture instance with 100 agents, each a real cgroup with a
 *     live process in it, whose counters move every 100 ms; `agentwatch top -d 1` runs against
 *     it in a 200x50 pseudo-terminal, and its CPU time (utime + stime from /proc/<pid>/stat)
 *     over S seconds (default 15), after a 3 s warm-up, is reported as a share of one core:
 *       RESULT top.cpu.agents1           baseline: the same with one agent
 *       RESULT top.cpu.agents100         counters only
 *       RESULT top.cpu.agents100_events  plus 200 events/s on the instance's event socket
 *
 *   agentwatch-bench-top fixture --pin-root DIR --socket-dir DIR [--agents N] [--event-rate R]
 *     Only the fixture, until SIGTERM or SIGINT; prints "ready exec-<pid>" once it can be read.
 *     The instance looks like a standalone `agentwatch exec`: maps created with the layout of
 *     bpf/ (bpf_map_create), pinned under DIR/exec-<pid>/, and the control socket protocol of
 *     user/control.h on <socket dir>/exec-<pid>.sock, with OCSF lines from the real encoder.
 *     Agent 0 is "fx-denied": under a policy (generation 1), refused 10 opens of
 *     /root/.ssh/id_rsa per second by rule "ssh-keys", and connecting to 10.1.2.3:443. Agent 1
 *     has a name longer than any column. The others are fx-002, fx-003, ...; agent i opens
 *     (i % 7 + 1) files and, when i % 5 == 0, connects once per 100 ms tick.
 *
 * Both need root: BPF maps, bpffs and cgroups.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include <agentwatch/agent.h>
#include <agentwatch/counters.h>
#include <agentwatch/event.h>
#include <agentwatch/policy.h>
#include <agentwatch/syscall.h>

#include "cgroup.h"
#include "control.h"
#include "event.h"
#include "features.h"
#include "ocsf.h"

#define TICK_MS	    100
#define WARMUP_S    3
#define LONG_NAME   "fx-long-agent-name-that-no-column-is-wide-enough-for-0123456789"
#define DENIED_PATH "/root/.ssh/id_rsa"

enum { M_AGENTS, M_COUNTERS, M_DROPS, M_SYSCALLS, M_PCONFIG, M_PSLOT, M_PDEFAULTS, M__COUNT };

static const struct {
	const char *name;
	enum bpf_map_type type;
	__u32 key, value, max;
} maps[M__COUNT] = {
	[M_AGENTS] = {"agents_by_cgroup", BPF_MAP_TYPE_HASH, 8, sizeof(struct aw_agent), 16384},
	[M_COUNTERS] = {"agent_counters", BPF_MAP_TYPE_PERCPU_ARRAY, 4,
			sizeof(struct aw_agent_counters), AW_AGENT_SLOTS},
	[M_DROPS] = {"drops_by_reason", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, AW_DROP__MAX},
	[M_SYSCALLS] = {"syscall_counts", BPF_MAP_TYPE_HASH, sizeof(struct aw_syscall_key), 8,
			65536},
	[M_PCONFIG] = {"policy_config", BPF_MAP_TYPE_ARRAY, 4, sizeof(struct aw_policy_config), 1},
	[M_PSLOT] = {"policy_of_slot", BPF_MAP_TYPE_HASH, sizeof(struct aw_policy_slot_key), 4,
		     2048},
	[M_PDEFAULTS] = {"policy_defaults", BPF_MAP_TYPE_HASH, sizeof(struct aw_policy_set_key),
			 sizeof(struct aw_policy_defaults), 2048},
};

struct fixture {
	char pin_root[256], inst[32], inst_dir[300], sock[256], cg_root[PATH_MAX - 64];
	int fd[M__COUNT];
	int n, ncpus, epfd, event_rate;
	struct aw_agent *agents;
	struct aw_agent_counters *cnt, *percpu;
	pid_t *kids;
	struct control_server *ctl;
	struct ocsf_ctx ocsf;
	unsigned long long tick, event_id;
};

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	stop = 1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- the instance's socket ------------------------------------------------------------------- */

static int on_request(void *ctx, const struct control_request *req, struct json_object *reply,
		      char *err, size_t errlen)
{
	if (req->op == CONTROL_OP_HELLO || req->op == CONTROL_OP_STATUS) {
		json_object_object_add(reply, "pid", json_object_new_int(getpid()));
		return 0;
	}
	snprintf(err, errlen, "the fixture serves hello, status and follow");
	return -EINVAL;
}

static void on_follow(void *ctx, struct control_client *c)
{
}

static const struct control_ops fixture_ops = {.request = on_request, .follow = on_follow};

static void serve(struct fixture *f)
{
	struct epoll_event evs[16];
	int n, i;

	n = epoll_wait(f->epfd, evs, 16, 0);
	for (i = 0; i < n; i++) {
		struct loop_source *src = evs[i].data.ptr;

		src->ready(src, evs[i].events);
	}
	control_server__flush(f->ctl);
}

/* One event of agent `a` through the real OCSF encoder, to every follower. */
static void emit(struct fixture *f, int a, __u8 type, const char *path, const __u8 *ip4, __u16 port,
		 bool denied)
{
	struct aw_event ev = {};
	struct timespec ts;
	char buf[8192];
	int len;

	clock_gettime(CLOCK_REALTIME, &ts);
	ev.event_id = ++f->event_id;
	ev.wall_ns = (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
	ev.type = type;
	ev.task.pid = ev.task.tgid = (__u32)f->kids[a];
	ev.task.agent_slot = f->agents[a].slot;
	ev.task.cgroup_id = f->agents[a].root_cgroup_id;
	snprintf(ev.task.comm, sizeof(ev.task.comm), "fx-worker");
	ev.agent = &f->agents[a];
	ev.enforcement = AW_LEVEL_AUDIT;
	ev.disposition = denied ? AW_DISP_BLOCKED : AW_DISP_ALLOWED;
	if (denied) {
		ev.flags = AW_EVF_DENIED;
		ev.rule_id = 7;
		ev.rule = "ssh-keys";
	}
	if (type == AW_EV_FILE_OPEN) {
		ev.file.path = path;
		ev.file.access = AW_ACC_READ;
		ev.file.ret = denied ? -EPERM : 3;
		ev.file.source = AW_SRC_TRACEPOINT;
	} else {
		ev.net.op = AW_NET_CONNECT;
		ev.net.family = AF_INET;
		ev.net.proto = IPPROTO_TCP;
		ev.net.source = AW_SRC_CGROUP;
		memcpy(ev.net.daddr, ip4, 4);
		ev.net.dport = port;
	}
	len = ocsf__encode(&ev, &f->ocsf, buf, sizeof(buf));
	if (len > 0)
		control_server__broadcast(f->ctl, buf, (size_t)len);
}

/* --- the maps -------------------------------------------------------------------------------- */

static int put_counters(struct fixture *f, int a)
{
	__u32 slot = f->agents[a].slot;

	memset(f->percpu, 0, (size_t)f->ncpus * sizeof(*f->percpu));
	f->percpu[0] = f->cnt[a];
	return bpf_map_update_elem(f->fd[M_COUNTERS], &slot, f->percpu, BPF_ANY);
}

static void tick(struct fixture *f)
{
	static const __u8 denied_peer[4] = {10, 1, 2, 3}, peer[4] = {192, 0, 2, 7};
	int a, budget = f->event_rate * TICK_MS / 1000;
	char path[64];

	f->tick++;
	for (a = 0; a < f->n; a++) {
		struct aw_agent_counters *c = &f->cnt[a];

		c->opens += (__u64)(a % 7 + 1);
		c->execs += a % 3 == 0;
		c->forks += a % 3 == 0;
		c->exits += a % 3 == 0;
		c->connects += a % 5 == 0;
		c->syscalls += 50;
		if (a == 0)
			c->denials++;
		put_counters(f, a);
	}
	if (!f->ctl)
		return;
	/* The named shapes first, then filler opens round-robin up to the event rate. */
	emit(f, 0, AW_EV_FILE_OPEN, DENIED_PATH, NULL, 0, true);
	emit(f, 0, AW_EV_NET, NULL, denied_peer, 443, false);
	if (f->n > 2)
		emit(f, 2, AW_EV_NET, NULL, peer, 8443, false);
	for (budget -= 3; budget > 0; budget--) {
		a = (int)((f->tick * 7 + (unsigned long long)budget) % (unsigned long long)f->n);
		snprintf(path, sizeof(path), "/work/src/file%llu.c", (f->tick + budget) % 50);
		emit(f, a, AW_EV_FILE_OPEN, path, NULL, 0, false);
	}
	control_server__flush(f->ctl);
}

static void fixture_close(struct fixture *f)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; f->kids && i < f->n; i++)
		if (f->kids[i] > 0)
			kill(f->kids[i], SIGKILL);
	for (i = 0; f->kids && i < f->n; i++)
		if (f->kids[i] > 0)
			waitpid(f->kids[i], NULL, 0);
	for (i = 0; i < f->n; i++) {
		snprintf(path, sizeof(path), "%s/a%03d", f->cg_root, i);
		cgroup__remove(path, 2000);
	}
	if (f->cg_root[0])
		rmdir(f->cg_root);
	for (i = 0; i < M__COUNT; i++) {
		snprintf(path, sizeof(path), "%s/%s", f->inst_dir, maps[i].name);
		unlink(path);
		if (f->fd[i] >= 0)
			close(f->fd[i]);
	}
	if (f->inst_dir[0])
		rmdir(f->inst_dir);
	if (f->ctl)
		control_server__close(f->ctl);
	if (f->epfd >= 0)
		close(f->epfd);
	free(f->agents);
	free(f->cnt);
	free(f->percpu);
	free(f->kids);
}

static int fixture_open(struct fixture *f, const char *pin_root, const char *sock_dir, int n,
			int event_rate)
{
	struct cgroup_mounts cg;
	char path[PATH_MAX];
	int i, err;

	memset(f, 0, sizeof(*f));
	f->epfd = -1;
	for (i = 0; i < M__COUNT; i++)
		f->fd[i] = -1;
	f->n = n;
	f->event_rate = event_rate;
	f->ncpus = libbpf_num_possible_cpus();
	f->agents = calloc((size_t)n, sizeof(*f->agents));
	f->cnt = calloc((size_t)n, sizeof(*f->cnt));
	f->kids = calloc((size_t)n, sizeof(*f->kids));
	f->percpu = calloc((size_t)(f->ncpus > 0 ? f->ncpus : 1), sizeof(*f->percpu));
	if (!f->agents || !f->cnt || !f->kids || !f->percpu || f->ncpus <= 0)
		return -ENOMEM;
	snprintf(f->inst, sizeof(f->inst), "exec-%d", getpid());
	snprintf(f->pin_root, sizeof(f->pin_root), "%s", pin_root);
	snprintf(f->inst_dir, sizeof(f->inst_dir), "%s/%s", pin_root, f->inst);
	err = features__ensure_bpffs();
	if (err)
		return err;
	if ((mkdir(pin_root, 0700) && errno != EEXIST) || mkdir(f->inst_dir, 0700))
		return -errno;
	for (i = 0; i < M__COUNT; i++) {
		f->fd[i] = bpf_map_create(maps[i].type, maps[i].name, maps[i].key, maps[i].value,
					  maps[i].max, NULL);
		if (f->fd[i] < 0)
			return -errno;
		snprintf(path, sizeof(path), "%s/%s", f->inst_dir, maps[i].name);
		if (bpf_obj_pin(f->fd[i], path))
			return -errno;
	}

	/* One real cgroup per agent, with one process in it. */
	err = cgroup__find_mounts(&cg);
	if (err || !cg.n_v2)
		return err ? err : -ENOENT;
	snprintf(f->cg_root, sizeof(f->cg_root), "%.3900s/agentwatch-bench-%d", cg.v2[0], getpid());
	for (i = 0; i < n; i++) {
		struct aw_agent *a = &f->agents[i];
		__u64 id;

		snprintf(path, sizeof(path), "%s/a%03d", f->cg_root, i);
		err = cgroup__mkdir_p(path);
		if (!err)
			err = cgroup__id(path, &id);
		if (err)
			return err;
		f->kids[i] = fork();
		if (f->kids[i] < 0)
			return -errno;
		if (f->kids[i] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			if (cgroup__enter(path))
				_exit(1);
			for (;;)
				pause();
		}
		a->slot = (__u32)i + 1;
		a->root_cgroup_id = id;
		if (i == 0)
			snprintf(a->name, sizeof(a->name), "fx-denied");
		else if (i == 1)
			snprintf(a->name, sizeof(a->name), "%s", LONG_NAME);
		else
			snprintf(a->name, sizeof(a->name), "fx-%03d", i);
		snprintf(a->agent_uid, sizeof(a->agent_uid), "00000000-0000-4000-8000-%012d", i);
		snprintf(a->session_uid, sizeof(a->session_uid), "fx-session-%d", i);
		if (bpf_map_update_elem(f->fd[M_AGENTS], &id, a, BPF_ANY))
			return -errno;
		if (put_counters(f, i))
			return -errno;
	}
	/* Agent 0 is under a policy: generation 1, set 1, default posture enforced. */
	{
		struct aw_policy_config pc = {.gen = 1};
		struct aw_policy_slot_key sk = {.gen = 1, .slot = 1};
		struct aw_policy_set_key dk = {.gen = 1, .set = 1};
		struct aw_policy_defaults defs = {};
		__u32 zero = 0, set = 1;

		if (bpf_map_update_elem(f->fd[M_PCONFIG], &zero, &pc, BPF_ANY) ||
		    bpf_map_update_elem(f->fd[M_PSLOT], &sk, &set, BPF_ANY) ||
		    bpf_map_update_elem(f->fd[M_PDEFAULTS], &dk, &defs, BPF_ANY))
			return -errno;
	}

	if (!sock_dir)
		return 0;
	err = ocsf_ctx__init_host(&f->ocsf, AW_VERSION);
	if (err)
		return err;
	snprintf(f->sock, sizeof(f->sock), "%.200s/%s.sock", sock_dir, f->inst);
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (f->epfd < 0)
		return -errno;
	return control_server__open(&f->ctl, f->sock, f->epfd, &fixture_ops, f);
}

/* Run the fixture's clock until `until_ms` (or a stop signal), serving its socket. */
static void fixture_run(struct fixture *f, long long until_ms, int pty, long long *next_tick)
{
	char buf[65536];

	while (!stop && now_ms() < until_ms) {
		struct pollfd p[1] = {{.fd = pty, .events = POLLIN}};
		long long wait = *next_tick - now_ms();

		if (wait > 0)
			poll(p, pty >= 0 ? 1 : 0, (int)(wait < 50 ? wait : 50));
		/* top's screen output is read and thrown away, so it never blocks on the pty. */
		if (pty >= 0 && (p[0].revents & POLLIN) && read(pty, buf, sizeof(buf)) < 0)
			break;
		if (f->ctl)
			serve(f);
		if (now_ms() >= *next_tick) {
			tick(f);
			*next_tick += TICK_MS;
		}
	}
}

/* --- the benchmark --------------------------------------------------------------------------- */

/*
 * CPU time of a (single-threaded) process in ns: /proc/<pid>/schedstat has it to the
 * nanosecond; /proc/<pid>/stat's utime + stime, in clock ticks, where schedstat is missing.
 */
static int proc_cpu_ns(pid_t pid, unsigned long long *ns)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	fp = fopen(path, "re");
	if (fp) {
		int ok = fscanf(fp, "%llu", ns) == 1;

		fclose(fp);
		if (ok)
			return 0;
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fp = fopen(path, "re");
	if (!fp)
		return -errno;
	p = fgets(buf, sizeof(buf), fp);
	fclose(fp);
	p = p ? strrchr(buf, ')') : NULL;
	/* after "pid (comm)": state(3) ... utime(14) stime(15) */
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EINVAL;
	*ns = (ut + st) * (1000000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK));
	return 0;
}

/* `agentwatch top` against a fixture of n agents: its CPU as a percentage of one core. */
static int measure(const char *aw, int n, int event_rate, int seconds, double *pct)
{
	struct winsize ws = {.ws_row = 50, .ws_col = 200};
	char pin_root[128], sock_dir[128], sock[160], delay[] = "1";
	unsigned long long t0, t1;
	long long next_tick, start;
	struct fixture f;
	int pty = -1, err, status;
	pid_t top;

	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/agentwatch-bench-%d", getpid());
	snprintf(sock_dir, sizeof(sock_dir), "/run/agentwatch-bench-%d", getpid());
	snprintf(sock, sizeof(sock), "%s/agentwatch.sock", sock_dir);
	mkdir(sock_dir, 0700);
	err = fixture_open(&f, pin_root, event_rate ? sock_dir : NULL, n, event_rate);
	if (err)
		goto out;
	top = forkpty(&pty, NULL, NULL, &ws);
	if (top < 0) {
		err = -errno;
		goto out;
	}
	if (top == 0) {
		setenv("TERM", "xterm-256color", 1);
		execl(aw, "agentwatch", "top", "--pin-root", pin_root, "--socket", sock, "-d",
		      delay, (char *)NULL);
		_exit(127);
	}
	next_tick = now_ms();
	start = now_ms();
	fixture_run(&f, start + WARMUP_S * 1000, pty, &next_tick);
	err = proc_cpu_ns(top, &t0);
	start = now_ms();
	fixture_run(&f, start + seconds * 1000LL, pty, &next_tick);
	if (!err)
		err = proc_cpu_ns(top, &t1);
	if (!err)
		*pct = 100.0 * (double)(t1 - t0) / 1e9 / ((double)(now_ms() - start) / 1000.0);
	if (write(pty, "q", 1) != 1 || waitpid(top, &status, 0) != top)
		kill(top, SIGKILL);
	waitpid(top, NULL, WNOHANG);
out:
	if (pty >= 0)
		close(pty);
	fixture_close(&f);
	rmdir(pin_root);
	rmdir(sock_dir);
	return err;
}

static int bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{"seconds", required_argument, NULL, 's'},
		{"agentwatch", required_argument, NULL, 'a'},
		{},
	};
	char aw[PATH_MAX], self[PATH_MAX];
	double base = 0, v100 = 0, v100e = 0;
	int seconds = 15, c, err;
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	snprintf(aw, sizeof(aw), "%.4000s/agentwatch", dirname(self));
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's')
			seconds = atoi(optarg);
		else if (c == 'a')
			snprintf(aw, sizeof(aw), "%s", optarg);
		else
			return 2;
	}
	if (geteuid() != 0) {
		printf("SKIP top bench: needs root (BPF maps, bpffs, cgroups)\n");
		return 0;
	}
	if ((err = measure(aw, 1, 0, seconds, &base)) ||
	    (err = measure(aw, 100, 0, seconds, &v100)) ||
	    (err = measure(aw, 100, 200, seconds, &v100e))) {
		fprintf(stderr, "agentwatch-bench-top: %s\n", strerror(-err));
		return 1;
	}
	printf("RESULT top.cpu.agents1 %.3f %%core seconds=%d refresh_s=1\n", base, seconds);
	printf("RESULT top.cpu.agents100 %.3f %%core baseline=%.3f ratio=%.2f seconds=%d "
	       "refresh_s=1\n",
	       v100, base, base > 0 ? v100 / base : 0, seconds);
	printf("RESULT top.cpu.agents100_events %.3f %%core baseline=%.3f ratio=%.2f "
	       "events_per_s=200 seconds=%d refresh_s=1\n",
	       v100e, base, base > 0 ? v100e / base : 0, seconds);
	return 0;
}

/* --- the fixture ----------------------------------------------------------------------------- */

static int fixture_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pin-root", required_argument, NULL, 'p'},
		{"socket-dir", required_argument, NULL, 's'},
		{"agents", required_argument, NULL, 'n'},
		{"event-rate", required_argument, NULL, 'e'},
		{},
	};
	const char *pin_root = NULL, *sock_dir = NULL;
	int n = 5, rate = 30, c, err;
	long long next_tick;
	struct fixture f;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pin_root = optarg;
			break;
		case 's':
			sock_dir = optarg;
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 'e':
			rate = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (!pin_root || !sock_dir || n < 1 || n > AW_AGENT_SLOTS - 2 || rate < 0) {
		fprintf(stderr, "usage: agentwatch-bench-top fixture --pin-root DIR --socket-dir "
				"DIR [--agents N] [--event-rate R]\n");
		return 2;
	}
	mkdir(sock_dir, 0755);
	err = fixture_open(&f, pin_root, sock_dir, n, rate);
	if (err) {
		fprintf(stderr, "agentwatch-bench-top: fixture: %s\n", strerror(-err));
		fixture_close(&f);
		return 1;
	}
	printf("ready %s\n", f.inst);
	fflush(stdout);
	next_tick = now_ms();
	while (!stop)
		fixture_run(&f, now_ms() + 1000, -1, &next_tick);
	fixture_close(&f);
	rmdir(pin_root);
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_stop};

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && !strcmp(argv[1], "fixture"))
		return fixture_main(argc - 1, argv + 1);
	return bench(argc, argv);
}
