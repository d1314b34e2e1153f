// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch exec: launch one agent, race-free, in a fresh cgroup that is registered before the
 * agent's first instruction runs, stream its events, and clean everything up when it ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "cli.h"
#include "features.h"
#include "log.h"
#include "observe.h"
#include "sink.h"
#include "stream.h"
#include "syscalls.h"

struct exec_opts {
	const char *name;
	const char *session;
	const char *workspace;
	const char *events;
	const char *cgroup_parent;
	bool summary;
	bool syscalls;
	struct aw_syscall_mask syscall_events;
};

static volatile sig_atomic_t pending_signal;

static void on_signal(int sig)
{
	pending_signal = sig;
}

static void exec_usage(FILE *out)
{
	fprintf(out, "Usage: agentwatch exec [options] -- CMD [ARGS...]\n\n"
		     "Run CMD as a watched agent: in a fresh cgroup registered before CMD starts, "
		     "with\n"
		     "every exec, fork, exit, file open and connect of CMD and its descendants "
		     "streamed\n"
		     "as OCSF 1.8.0 JSON lines. Exits with CMD's status (128+N if a signal N "
		     "killed it).\n"
		     "On exit, processes CMD left behind in its cgroup are killed and the cgroup, "
		     "programs\n"
		     "and maps are removed.\n\n"
		     "Options:\n"
		     "  --name NAME           agent name (default: CMD's basename)\n"
		     "  --session ID          session id (default: a random UUID)\n"
		     "  --workspace DIR       the agent's workspace, exported as "
		     "AGENTWATCH_WORKSPACE\n"
		     "  --events FILE|-       where events go: a file (reopened on SIGHUP), - for "
		     "stdout\n"
		     "                        (default: stderr)\n"
		     "  --cgroup-parent DIR   where agent cgroups are made (default: "
		     "<cgroup2>/agentwatch)\n"
		     "  --summary             print a per-agent summary to stderr at the end\n\n"
		     "CMD sees AGENTWATCH_AGENT (the agent uid) and AGENTWATCH_SESSION.\n\n"
		     "EXAMPLES\n"
		     "  sudo agentwatch exec -- sh -c 'cat /etc/hostname'\n"
		     "  sudo agentwatch exec --name claude --workspace ~/src --events "
		     "/var/log/aw.jsonl -- "
		     "claude\n");
}

static void random_uuid(char *out, size_t len)
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		memset(b, 0, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	snprintf(out, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static int parse_opts(int argc, char **argv, struct exec_opts *o)
{
	char err[128];
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"session", required_argument, NULL, 's'},
		{"workspace", required_argument, NULL, 'w'},
		{"events", required_argument, NULL, 'e'},
		{"cgroup-parent", required_argument, NULL, 'c'},
		{"summary", no_argument, NULL, 'S'},
		{"syscalls", no_argument, NULL, 'y'},
		{"syscall-events", required_argument, NULL, 'Y'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	int c;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->name = optarg;
			break;
		case 's':
			o->session = optarg;
			break;
		case 'w':
			o->workspace = optarg;
			break;
		case 'e':
			o->events = optarg;
			break;
		case 'c':
			o->cgroup_parent = optarg;
			break;
		case 'S':
			o->summary = true;
			break;
		case 'y':
			o->syscalls = true;
			break;
		case 'Y':
			if (syscalls__parse_list(optarg, &o->syscall_events, err, sizeof(err))) {
				fprintf(stderr, "agentwatch exec: --syscall-events: %s\n", err);
				return -EINVAL;
			}
			o->syscalls = true;
			break;
		case 'h':
			exec_usage(stdout);
			return 1;
		default:
			exec_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "agentwatch exec: no command given (agentwatch exec -- CMD)\n");
		return -EINVAL;
	}
	return 0;
}

static struct sink *open_sink(const char *events)
{
	if (!events)
		return sink_file__new("/dev/stderr");
	if (strcmp(events, "-") == 0)
		return sink_stdout__new();
	return sink_file__new(events);
}

/* The child: join the agent's cgroup, then become CMD. Never returns. */
static void run_agent(const char *cgroup, const struct aw_agent *agent, const char *workspace,
		      char **cmd)
{
	int err = cgroup__enter(cgroup);

	if (err) {
		log_errno(err, "cgroup '%s': enter", cgroup);
		_exit(126);
	}
	signal(SIGPIPE, SIG_DFL);
	setenv("AGENTWATCH_AGENT", agent->agent_uid, 1);
	setenv("AGENTWATCH_SESSION", agent->session_uid, 1);
	if (workspace)
		setenv("AGENTWATCH_WORKSPACE", workspace, 1);
	execvp(cmd[0], cmd);
	log_errno(errno, "exec '%s'", cmd[0]);
	_exit(errno == ENOENT ? 127 : 126);
}

struct syscall_top {
	__u32 nr[8];
	__u64 count[8];
};

/* Keep the eight most frequent syscalls, by insertion into a sorted array. */
static void add_syscall_count(__u32 nr, __u64 count, void *ctx)
{
	struct syscall_top *top = ctx;
	int i, j;

	for (i = 0; i < 8 && top->count[i] >= count; i++)
		;
	if (i == 8)
		return;
	for (j = 7; j > i; j--) {
		top->nr[j] = top->nr[j - 1];
		top->count[j] = top->count[j - 1];
	}
	top->nr[i] = nr;
	top->count[i] = count;
}

static void print_syscall_summary(struct observe *obs)
{
	struct syscall_top top = {};
	int i;

	observe__syscall_counts(obs, 1, add_syscall_count, &top);
	fprintf(stderr, "agentwatch: syscalls:");
	for (i = 0; i < 8 && top.count[i]; i++)
		fprintf(stderr, " %s=%llu", syscalls__name(top.nr[i]) ?: "?",
			(unsigned long long)top.count[i]);
	fprintf(stderr, "\n");
}

static void print_summary(struct observe *obs, struct stream *st, bool syscalls)
{
	__u64 drops[AW_DROP__MAX], malformed;
	char line[128];
	long rss_kib = -1;
	FILE *f;

	stream__print_summary(st, stderr);
	observe__drops(obs, drops, &malformed);
	f = fopen("/proc/self/status", "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &rss_kib) == 1)
			break;
	if (f)
		fclose(f);
	fprintf(stderr,
		"agentwatch: transport: %llu dropped (ring buffer full), %llu dropped (no "
		"scratch), "
		"%llu malformed; RSS %ld KiB\n",
		(unsigned long long)drops[AW_DROP_RINGBUF_FULL],
		(unsigned long long)drops[AW_DROP_SCRATCH], (unsigned long long)malformed, rss_kib);
	if (syscalls)
		print_syscall_summary(obs);
}

static int exit_status_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return AW_EXIT_FAIL;
}

/* Stream events until CMD exits; forward SIGINT/SIGTERM/SIGHUP to it meanwhile. */
static int supervise(struct observe *obs, struct stream *st, struct sink *sink, pid_t child)
{
	int status = 0, err;

	for (;;) {
		err = observe__poll(obs, stream__on_event, st);
		if (err < 0 && err != -EINTR)
			log_errno(err, "ring buffer 'events': poll");
		stream__flush(st);
		if (pending_signal) {
			int sig = pending_signal;

			pending_signal = 0;
			if (sig == SIGHUP)
				sink__reopen(sink);
			else
				kill(child, sig);
		}
		pid_t r = waitpid(child, &status, WNOHANG);
		if (r == child)
			return exit_status_of(status);
		if (r < 0 && errno != EINTR)
			return log_errno(errno, "waitpid"), AW_EXIT_FAIL;
	}
}

int do_exec(int argc, char **argv)
{
	struct exec_opts o = {};
	struct observe_opts oo = {};
	struct aw_capabilities caps;
	struct aw_features *feat;
	struct aw_agent agent = {.slot = 1};
	char cgroup[PATH_MAX], parent[PATH_MAX];
	struct observe *obs = NULL;
	struct stream *st = NULL;
	struct sink *sink;
	__u64 cgid;
	int err, rc = AW_EXIT_FAIL, cgfd = -1;
	pid_t child;

	err = parse_opts(argc, argv, &o);
	if (err)
		return err > 0 ? AW_EXIT_OK : AW_EXIT_USAGE;
	argv += optind;

	feat = calloc(1, sizeof(*feat));
	if (!feat)
		return AW_EXIT_FAIL;
	features__probe(feat);
	features__capabilities(feat, &caps);
	if (!caps.event_transport || feat->cgroups.n_v2 == 0) {
		log_error("exec: this kernel lacks %s; run 'agentwatch doctor'",
			  caps.event_transport ? "a cgroup v2 mount" : "the BPF ring buffer");
		goto out_free_feat;
	}

	snprintf(agent.name, sizeof(agent.name), "%s", o.name ? o.name : basename(argv[0]));
	random_uuid(agent.agent_uid, sizeof(agent.agent_uid));
	if (o.session)
		snprintf(agent.session_uid, sizeof(agent.session_uid), "%s", o.session);
	else
		random_uuid(agent.session_uid, sizeof(agent.session_uid));
	if (o.cgroup_parent)
		snprintf(parent, sizeof(parent), "%s", o.cgroup_parent);
	else if (snprintf(parent, sizeof(parent), "%.*s/agentwatch", PATH_MAX - 16,
			  feat->cgroups.v2[0]) >= (int)sizeof(parent))
		goto out_free_feat;
	if (snprintf(cgroup, sizeof(cgroup), "%s/%s-%.8s", parent, agent.name, agent.agent_uid) >=
	    (int)sizeof(cgroup)) {
		log_error("cgroup '%s': path too long", parent);
		goto out_free_feat;
	}

	err = cgroup__mkdir_p(cgroup);
	if (err) {
		log_errno(err, "cgroup '%s': mkdir", cgroup);
		goto out_rm_cgroup;
	}
	err = cgroup__id(cgroup, &cgid);
	cgfd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (err || cgfd < 0) {
		log_errno(err ? err : errno, "cgroup '%s': open", cgroup);
		goto out_close_cgfd;
	}
	agent.root_cgroup_id = cgid;

	sink = open_sink(o.events);
	if (!sink) {
		log_errno(errno, "events '%s': open", o.events ? o.events : "stderr");
		goto out_close_cgfd;
	}
	oo.lsm_file_open = caps.file == AW_LEVEL_LSM;
	oo.cgroup_fd = cgfd;
	oo.syscalls = o.syscalls;
	oo.syscall_events = o.syscall_events;
	err = observe__open_and_load(&obs, &oo);
	if (err)
		goto out_close_sink;
	err = stream__new(&st, sink, &caps);
	if (err)
		goto out_destroy_obs;
	/* Registered and attached before CMD exists: its first instruction is already watched. */
	err = observe__add_agent(obs, cgid, &agent);
	if (!err)
		err = observe__attach(obs);
	if (err)
		goto out_free_stream;

	/* Loading parsed the kernel BTF several times over; give that memory back. */
	malloc_trim(0);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	child = fork();
	if (child < 0) {
		log_errno(errno, "fork");
		goto out_free_stream;
	}
	if (child == 0)
		run_agent(cgroup, &agent, o.workspace, argv);

	rc = supervise(obs, st, sink, child);
	/* What CMD left behind goes with it, so the cgroup can be removed. */
	cgroup__kill_all(cgroup);
	err = cgroup__remove(cgroup, 2000);
	if (err)
		log_errno(err, "cgroup '%s': remove", cgroup);
	while (observe__drain(obs, stream__on_event, st) > 0)
		;
	stream__flush(st);
	if (o.summary)
		print_summary(obs, st, o.syscalls);
out_free_stream:
	stream__free(st);
out_destroy_obs:
	observe__destroy(obs);
out_close_sink:
	sink__close(sink);
out_close_cgfd:
	if (cgfd >= 0)
		close(cgfd);
out_rm_cgroup:
	cgroup__remove(cgroup, 2000);
	if (!o.cgroup_parent)
		rmdir(parent); /* fails, as it should, while another agent still uses it */
out_free_feat:
	free(feat);
	return rc;
}
