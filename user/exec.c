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
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "cli.h"
#include "control.h"
#include "enforce.h"
#include "features.h"
#include "log.h"
#include "observe.h"
#include "ocsf.h"
#include "policy_links.h"
#include "registry.h"
#include "sink.h"
#include "stream.h"
#include "syscalls.h"

struct exec_opts {
	const char *name;
	const char *session;
	const char *workspace;
	const char *events;
	const char *cgroup_parent;
	const char *socket;
	const char *home;
	char *policies[16];
	int n_policies;
	struct policy_link_scan link_scan;
	bool summary;
	bool syscalls;
	struct aw_syscall_mask syscall_events;
};

static volatile sig_atomic_t pending_signal;

/*
 * A standalone exec is an instance of its own, as `agentwatch top` finds it: its maps pinned
 * under AW_PIN_ROOT/exec-<pid>/ (observe__pin), and its events served the way the daemon serves
 * them (control.h: hello, status, follow) on exec-<pid>.sock next to the daemon's socket. The
 * stream writes through this tee: to the --events sink and to the socket's followers.
 */
struct exec_instance {
	struct sink base;
	struct sink *sink;
	struct control_server *ctl;
	int epfd;
	struct registry_agent agent;
	unsigned long long events;
};

static int tee_write(struct sink *s, const struct aw_event *ev, const char *json, size_t len)
{
	struct exec_instance *in = (struct exec_instance *)s;

	in->events++;
	if (in->ctl)
		control_server__broadcast(in->ctl, json, len);
	return sink__write(in->sink, ev, json, len);
}

static int tee_flush(struct sink *s)
{
	struct exec_instance *in = (struct exec_instance *)s;

	if (in->ctl)
		control_server__flush(in->ctl);
	return sink__flush(in->sink);
}

static int tee_reopen(struct sink *s)
{
	return sink__reopen(((struct exec_instance *)s)->sink);
}

static void tee_close(struct sink *s)
{
	/* exec closes its sink itself */
}

static const struct sink_ops tee_ops = {
	.name = "exec",
	.write = tee_write,
	.flush = tee_flush,
	.reopen = tee_reopen,
	.close = tee_close,
};

static int on_request(void *ctx, const struct control_request *req, struct json_object *reply,
		      char *err, size_t errlen)
{
	struct exec_instance *in = ctx;
	struct json_object *agents, *counters;

	switch (req->op) {
	case CONTROL_OP_HELLO:
	case CONTROL_OP_STATUS:
		json_object_object_add(reply, "version", json_object_new_string(AW_VERSION));
		json_object_object_add(reply, "pid", json_object_new_int(getpid()));
		if (req->op == CONTROL_OP_HELLO)
			return 0;
		agents = json_object_new_array();
		json_object_array_add(agents, control__agent_json(&in->agent));
		json_object_object_add(reply, "agents", agents);
		counters = json_object_new_object();
		json_object_object_add(counters, "events", json_object_new_uint64(in->events));
		json_object_object_add(reply, "counters", counters);
		return 0;
	default:
		snprintf(err, errlen,
			 "a standalone agentwatch exec serves hello, status and follow");
		return -EINVAL;
	}
}

static void on_follow(void *ctx, struct control_client *c)
{
	struct exec_instance *in = ctx;
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "notice", json_object_new_string("agent"));
	json_object_object_add(o, "agent", control__agent_json(&in->agent));
	control_client__send(c, o);
	json_object_put(o);
}

static const struct control_ops instance_ops = {.request = on_request, .follow = on_follow};

/* Serve the events socket; failing costs `agentwatch top` only this agent's events. */
static void instance_open(struct exec_instance *in, const char *name, const char *daemon_socket)
{
	char dir[108], path[108], *slash;
	int err;

	snprintf(dir, sizeof(dir), "%s", daemon_socket);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	snprintf(path, sizeof(path), "%.76s/%.24s.sock", dir, name);
	in->epfd = epoll_create1(EPOLL_CLOEXEC);
	err = in->epfd < 0 ? -errno
			   : control_server__open(&in->ctl, path, in->epfd, &instance_ops, in);
	if (err)
		log_warn("exec: no event socket at %s (%s)", path, strerror(-err));
}

/* Serve the socket's clients, without waiting. */
static void instance_serve(struct exec_instance *in)
{
	struct epoll_event evs[16];
	int n, i;

	if (!in->ctl)
		return;
	n = epoll_wait(in->epfd, evs, 16, 0);
	for (i = 0; i < n; i++) {
		struct loop_source *src = evs[i].data.ptr;

		src->ready(src, evs[i].events);
	}
	control_server__flush(in->ctl);
}

static void instance_close(struct exec_instance *in)
{
	if (in->ctl)
		control_server__close(in->ctl);
	if (in->epfd >= 0)
		close(in->epfd);
}

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
		     "  --summary             print a per-agent summary to stderr at the end\n"
		     "  --policy FILE|DIR     enforce these AgentPolicy files (repeatable; see\n"
		     "                        rules/README.md); SIGHUP reloads them, and an event\n"
		     "                        (OCSF 6002) reports each load and reload\n"
		     "  --home DIR            ${HOME} in the policy (default: $HOME)\n"
		     "  --link-scan DIR|none  look for files with several names (hard links "
		     "made\n"
		     "                        before the start) only in DIR (repeatable), or "
		     "nowhere;\n"
		     "                        default: the whole directories any-depth deny "
		     "rules\n"
		     "                        such as **/.env* name (for that rule: /), walked "
		     "once\n"
		     "                        per start\n"
		     "  --socket PATH         the daemon's control socket (default: "
		     "/run/agentwatch/agentwatch.sock)\n\n"
		     "When the node daemon (agentwatch run) answers on its control socket, CMD's "
		     "cgroup\n"
		     "is made under the daemon's exec parent and registered with it before CMD "
		     "starts,\n"
		     "and the events go to the daemon's sinks. --events, --syscalls and "
		     "--syscall-events\n"
		     "make exec watch CMD by itself instead, and so does --policy. Through the "
		     "daemon,\n"
		     "the daemon's policies (agentwatch run --rules) confine CMD from its start, "
		     "with\n"
		     "--home (default $HOME) and --workspace (default: the current directory) as\n"
		     "${HOME} and ${WORKSPACE}.\n\n"
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
		{"socket", required_argument, NULL, 'k'},
		{"policy", required_argument, NULL, 'P'},
		{"home", required_argument, NULL, 'H'},
		{"link-scan", required_argument, NULL, 'L'},
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
		case 'k':
			o->socket = optarg;
			break;
		case 'P':
			if (o->n_policies == (int)(sizeof(o->policies) / sizeof(o->policies[0]))) {
				fprintf(stderr, "agentwatch exec: too many --policy\n");
				return -EINVAL;
			}
			o->policies[o->n_policies++] = optarg;
			break;
		case 'H':
			o->home = optarg;
			break;
		case 'L':
			if (policy_link_scan__add(&o->link_scan, optarg, err, sizeof(err))) {
				fprintf(stderr, "agentwatch exec: --link-scan: %s\n", err);
				return -EINVAL;
			}
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
	if (o->link_scan.set && !o->n_policies) {
		fprintf(stderr, "agentwatch exec: --link-scan applies to --policy (through the "
				"daemon, agentwatch run --link-scan sets it)\n");
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

static const char *rule_name(const void *ctx, __u32 rule_id)
{
	return enforce__rule_name(ctx, rule_id);
}

/*
 * Load the --policy files (every error printed as file:line:col), compile them for this agent
 * and put them in force. An error refuses to run CMD: it would run unconfined.
 */
static int start_policy(const struct exec_opts *o, const struct aw_capabilities *caps,
			struct observe *obs, struct stream *st, const char *cgroup,
			const struct aw_agent *agent, struct enforce **out)
{
	char cwd[PATH_MAX];
	struct enforce_agent ea = {
		.slot = agent->slot,
		.name = agent->name,
		.cgroup = cgroup,
		.home = o->home ? o->home : getenv("HOME"),
		.workspace = o->workspace ? o->workspace : getcwd(cwd, sizeof(cwd)),
		.workspace_is_default = !o->workspace,
	};
	struct ocsf_policy_change pc;
	int fd[POLICY_MAP__COUNT], err;

	observe__policy_map_fds(obs, fd);
	err = enforce__open(out, (char *const *)o->policies, o->n_policies, caps, fd);
	if (err)
		return err;
	if (o->link_scan.set) {
		err = enforce__set_link_scan(*out, o->link_scan.dirs, o->link_scan.n);
		if (err)
			return err;
	}
	err = enforce__add_agent(*out, &ea);
	if (err)
		return err;
	stream__set_rule_names(st, rule_name, *out);
	enforce__describe_change(*out, true, 0, "start", &pc);
	stream__policy_change(st, &pc);
	if (caps->file != AW_LEVEL_LSM)
		log_warn("policy: this kernel cannot refuse file, exec or syscall operations "
			 "(no BPF-LSM): those rules only report (or kill, with fallback: kill); "
			 "network rules are enforced by cgroup hooks");
	return 0;
}

/*
 * SIGHUP: re-read the policies; a bad one keeps the old generation in force. Either way an event
 * says what is in force now (ocsf.h, struct ocsf_policy_change).
 */
static void reload_policy(struct enforce *enf, struct observe *obs, struct stream *st)
{
	struct ocsf_policy_change pc;
	__u32 prev = enforce__generation(enf);
	int err;

	/* Events decided by the old generation are named by its rules. */
	while (observe__drain(obs, stream__on_event, st) > 0)
		;
	err = enforce__reload(enf);
	if (!err)
		log_info("policy: reloaded: generation %u in force", enforce__generation(enf));
	enforce__describe_change(enf, !err, prev, "sighup", &pc);
	stream__policy_change(st, &pc);
	stream__flush(st);
}

/*
 * Stream events until CMD exits; forward SIGINT/SIGTERM to it meanwhile; SIGHUP reopens the
 * events file and reloads the policy.
 */
static int supervise(struct observe *obs, struct stream *st, struct sink *sink, struct enforce *enf,
		     struct exec_instance *in, pid_t child)
{
	int status = 0, err;

	for (;;) {
		err = observe__poll(obs, stream__on_event, st);
		if (err < 0 && err != -EINTR)
			log_errno(err, "ring buffer 'events': poll");
		stream__flush(st);
		instance_serve(in);
		if (pending_signal) {
			int sig = pending_signal;

			pending_signal = 0;
			if (sig == SIGHUP) {
				sink__reopen(sink);
				if (enf)
					reload_policy(enf, obs, st);
			} else
				kill(child, sig);
		}
		pid_t r = waitpid(child, &status, WNOHANG);
		if (r == child)
			return exit_status_of(status);
		if (r < 0 && errno != EINTR)
			return log_errno(errno, "waitpid"), AW_EXIT_FAIL;
	}
}

/* Forward SIGINT and SIGTERM to CMD while waiting for it (see exec_with_daemon). */
static int wait_forwarding(pid_t child)
{
	int status;

	for (;;) {
		if (pending_signal) {
			kill(child, pending_signal);
			pending_signal = 0;
		}
		if (waitpid(child, &status, 0) == child)
			return exit_status_of(status);
		if (errno != EINTR)
			return log_errno(errno, "waitpid"), AW_EXIT_FAIL;
	}
}

/*
 * The daemon watches: make CMD's cgroup where the daemon says, register it over the socket
 * before CMD exists (as race-free as the standalone path), and hand it back afterwards.
 */
static int exec_with_daemon(const struct exec_opts *o, struct control_conn *conn, char **cmd)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct aw_agent agent = {};
	char parent[PATH_MAX], cgroup[PATH_MAX], suffix[40], cwd[PATH_MAX];
	int err, rc = AW_EXIT_FAIL;
	pid_t child;

	snprintf(agent.name, sizeof(agent.name), "%s", o->name ? o->name : basename(cmd[0]));
	if (o->session)
		snprintf(agent.session_uid, sizeof(agent.session_uid), "%s", o->session);
	err = control_exec__hello(conn, parent, sizeof(parent));
	if (err)
		return log_errno(err, "control socket: hello"), AW_EXIT_FAIL;
	if (o->cgroup_parent)
		snprintf(parent, sizeof(parent), "%s", o->cgroup_parent);
	random_uuid(suffix, sizeof(suffix));
	if (snprintf(cgroup, sizeof(cgroup), "%s/%s-%.8s", parent, agent.name, suffix) >=
	    (int)sizeof(cgroup)) {
		log_error("cgroup '%s': path too long", parent);
		return AW_EXIT_FAIL;
	}
	err = cgroup__mkdir_p(cgroup);
	if (err) {
		log_errno(err, "cgroup '%s': mkdir", cgroup);
		goto out_rm_cgroup;
	}
	err = control_exec__register(conn, cgroup, &agent, o->session != NULL,
				     o->home ? o->home : getenv("HOME"), o->workspace,
				     getcwd(cwd, sizeof(cwd)));
	if (err) {
		if (err != -EREMOTEIO)
			log_errno(err, "cgroup '%s': register with the daemon", cgroup);
		goto out_rm_cgroup;
	}
	/* Without SA_RESTART, so that a signal wakes waitpid to forward it. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	child = fork();
	if (child < 0) {
		log_errno(errno, "fork");
		goto out_unregister;
	}
	if (child == 0)
		run_agent(cgroup, &agent, o->workspace, cmd);
	rc = wait_forwarding(child);
	cgroup__kill_all(cgroup);
	/* Removed before unregistering: the daemon then has every event of CMD's processes. */
	err = cgroup__remove(cgroup, 2000);
	if (err)
		log_errno(err, "cgroup '%s': remove", cgroup);
	if (o->summary)
		fprintf(stderr,
			"agentwatch: summary: agent '%s' %s (session %s): events went to "
			"the daemon's sinks\n",
			agent.name, agent.agent_uid, agent.session_uid);
out_unregister:
	control_exec__unregister(conn, cgroup);
out_rm_cgroup:
	cgroup__remove(cgroup, 2000);
	if (!o->cgroup_parent)
		rmdir(parent); /* fails, as it should, while another agent still uses it */
	return rc;
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
	struct enforce *enf = NULL;
	struct stream *st = NULL;
	struct sink *sink;
	struct exec_instance inst = {.base.ops = &tee_ops, .epfd = -1};
	char pin[32];
	__u64 cgid;
	int err, rc = AW_EXIT_FAIL, cgfd = -1;
	pid_t child;

	err = parse_opts(argc, argv, &o);
	if (err)
		return err > 0 ? AW_EXIT_OK : AW_EXIT_USAGE;
	argv += optind;

	/* A daemon, if one runs, watches CMD, unless exec is asked to stream by itself. */
	if (!o.events && !o.syscalls && !o.n_policies) {
		struct control_conn conn;

		err = control_conn__open(&conn, o.socket ? o.socket : CONTROL_SOCKET_DEFAULT);
		if (!err) {
			rc = exec_with_daemon(&o, &conn, argv);
			control_conn__close(&conn);
			return rc;
		}
		if (o.socket)
			return log_errno(err, "control socket '%s'", o.socket), AW_EXIT_FAIL;
	}

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
	oo.inbound_tcp = caps.inbound_tcp;
	oo.cgroup_fd = cgfd;
	oo.syscalls = o.syscalls;
	oo.syscall_events = o.syscall_events;
	oo.enforce = o.n_policies > 0;
	err = observe__open_and_load(&obs, &oo);
	if (err)
		goto out_close_sink;
	inst.sink = sink;
	err = stream__new(&st, &inst.base, &caps);
	if (err)
		goto out_destroy_obs;
	snprintf(pin, sizeof(pin), "exec-%d", getpid());
	err = observe__pin(obs, pin);
	if (err)
		goto out_free_stream;
	/*
	 * Registered, its policy in force and the programs attached before CMD exists: its first
	 * instruction is already watched and confined.
	 */
	err = observe__add_agent(obs, cgid, &agent);
	if (!err && o.n_policies)
		err = start_policy(&o, &caps, obs, st, cgroup, &agent, &enf);
	if (!err)
		err = observe__attach(obs);
	if (err)
		goto out_free_enforce;
	inst.agent = (struct registry_agent){
		.agent = agent, .cgroup_id = cgid, .path = cgroup, .source = REGISTRY_CLIENT};
	instance_open(&inst, pin, o.socket ? o.socket : CONTROL_SOCKET_DEFAULT);

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

	rc = supervise(obs, st, sink, enf, &inst, child);
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
out_free_enforce:
	instance_close(&inst);
	enforce__free(enf);
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
