// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch events: a client of the daemon's control socket (user/control.h). With --follow it
 * prints the daemon's event stream, one summary line per event, or the OCSF lines themselves
 * with --json; without, the daemon's agents and counters.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>

#include "cli.h"
#include "control.h"
#include "log.h"

struct events_opts {
	const char *socket;
	bool follow, json;
};

/* What a follower learnt about each agent from the "agent" notices. */
struct known_agent {
	char uid[AW_AGENT_UID_LEN];
	char label[96]; /* " pod=<uid> ctr=<id>", or "" */
};

struct follow_state {
	struct known_agent *agents;
	size_t n, cap;
};

static void events_usage(FILE *out)
{
	fprintf(out,
		"Usage: agentwatch events [--follow] [--json] [--socket PATH]\n\n"
		"Talk to the node daemon (agentwatch run) over its control socket.\n"
		"Without --follow: its agents (slot, name, cgroup, Kubernetes identity) and its\n"
		"event and drop counters. With --follow: every event from now on, as one line "
		"each:\n"
		"  TIME  AGENT [pod=.. ctr=..]  WHAT  DETAILS\n"
		"until interrupted. Events the daemon had to drop because this client read too\n"
		"slowly are reported on stderr.\n\n"
		"Options:\n"
		"  -f, --follow        stream events\n"
		"      --json          print the OCSF 1.8.0 lines (with --follow) or the status "
		"object\n"
		"      --socket PATH   the daemon's control socket (default: %s)\n\n"
		"EXAMPLES\n"
		"  sudo agentwatch events\n"
		"  sudo agentwatch events --follow\n"
		"  sudo agentwatch events --follow --json | jq 'select(.class_uid == 1001)'\n",
		CONTROL_SOCKET_DEFAULT);
}

static int parse_opts(int argc, char **argv, struct events_opts *o)
{
	static const struct option opts[] = {
		{"follow", no_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{"socket", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	int c;

	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o->follow = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 's':
			o->socket = optarg;
			break;
		case 'h':
			events_usage(stdout);
			return 1;
		default:
			events_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "agentwatch events: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* --- reading OCSF objects -------------------------------------------------------------------- */

static struct json_object *get(struct json_object *o, const char *path)
{
	char key[64];
	const char *dot;

	while (o && path) {
		dot = strchr(path, '.');
		snprintf(key, sizeof(key), "%.*s", dot ? (int)(dot - path) : (int)strlen(path),
			 path);
		if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path = dot ? dot + 1 : NULL;
	}
	return o;
}

static const char *get_str(struct json_object *o, const char *path)
{
	struct json_object *v = get(o, path);

	return v ? json_object_get_string(v) : NULL;
}

static long long get_int(struct json_object *o, const char *path, long long dflt)
{
	struct json_object *v = get(o, path);

	return v ? json_object_get_int64(v) : dflt;
}

/* --- follow ---------------------------------------------------------------------------------- */

static void remember_agent(struct follow_state *fs, struct json_object *agent)
{
	const char *uid = get_str(agent, "agent_uid");
	const char *pod = get_str(agent, "k8s.pod_uid"), *ctr = get_str(agent, "k8s.container_id");
	struct known_agent *k = NULL;
	size_t i;

	if (!uid)
		return;
	for (i = 0; i < fs->n; i++)
		if (!strcmp(fs->agents[i].uid, uid))
			k = &fs->agents[i];
	if (!k) {
		if (fs->n == fs->cap) {
			size_t cap = fs->cap ? 2 * fs->cap : 32;
			struct known_agent *a = realloc(fs->agents, cap * sizeof(*a));

			if (!a)
				return;
			fs->agents = a;
			fs->cap = cap;
		}
		k = &fs->agents[fs->n++];
		snprintf(k->uid, sizeof(k->uid), "%s", uid);
	}
	snprintf(k->label, sizeof(k->label), "%s%.36s%s%.12s", pod ? " pod=" : "", pod ? pod : "",
		 ctr ? " ctr=" : "", ctr ? ctr : "");
}

static const char *agent_label(const struct follow_state *fs, const char *uid)
{
	size_t i;

	for (i = 0; uid && i < fs->n; i++)
		if (!strcmp(fs->agents[i].uid, uid))
			return fs->agents[i].label;
	return "";
}

static void handle_notice(struct follow_state *fs, struct json_object *o, const char *notice)
{
	if (!strcmp(notice, "agent"))
		remember_agent(fs, get(o, "agent"));
	else if (!strcmp(notice, "dropped"))
		fprintf(stderr,
			"agentwatch events: the daemon dropped %lld events for this client (%lld "
			"in all): it read too slowly\n",
			get_int(o, "count", 0), get_int(o, "total", 0));
}

/* WHAT and DETAILS of one event. */
static void describe(struct json_object *ev, char *what, size_t wlen, char *details, size_t dlen)
{
	long long cls = get_int(ev, "class_uid", 0), act = get_int(ev, "activity_id", 0);
	long long pid = get_int(ev, "actor.process.pid", get_int(ev, "process.pid", -1));
	const char *s;

	switch (cls) {
	case 1007:
		pid = get_int(ev, "process.pid", pid);
		if (act == 2) {
			snprintf(what, wlen, "exit");
			if (get(ev, "exit_code"))
				snprintf(details, dlen, "pid %lld code %lld", pid,
					 get_int(ev, "exit_code", 0));
			else
				snprintf(details, dlen, "pid %lld signal %lld", pid,
					 get_int(ev, "unmapped.signal", 0));
		} else if (get_int(ev, "launch_type_id", 0) == 3) {
			snprintf(what, wlen, "exec");
			s = get_str(ev, "process.cmd_line");
			snprintf(details, dlen, "pid %lld %s%s%s%s", pid,
				 get_str(ev, "process.file.path") ?: "?", s ? " [" : "", s ?: "",
				 s ? "]" : "");
		} else {
			snprintf(what, wlen, "%s",
				 get_int(ev, "launch_type_id", 0) == 2 ? "fork" : "thread");
			snprintf(details, dlen, "pid %lld parent %lld", pid,
				 get_int(ev, "actor.process.pid", -1));
		}
		break;
	case 1001: {
		struct json_object *acc = get(ev, "unmapped.access");
		size_t i, n = 0;

		snprintf(what, wlen, "open");
		n = (size_t)snprintf(details, dlen, "pid %lld %s", pid,
				     get_str(ev, "file.path") ?: "?");
		for (i = 0; acc && i < json_object_array_length(acc) && n < dlen; i++)
			n += (size_t)snprintf(
				details + n, dlen - n, "%s%s", i ? "," : " (",
				json_object_get_string(json_object_array_get_idx(acc, i)));
		if (acc && json_object_array_length(acc) && n < dlen)
			snprintf(details + n, dlen - n, ")");
		break;
	}
	case 4001:
		snprintf(what, wlen, "net");
		snprintf(details, dlen, "pid %lld %s %s %s:%lld", pid,
			 get_str(ev, "activity_name") ?: "?",
			 get_str(ev, "connection_info.protocol_name") ?: "?",
			 get_str(ev, "dst_endpoint.ip") ?: "?",
			 get_int(ev, "dst_endpoint.port", 0));
		break;
	case 1003:
		snprintf(what, wlen, "syscall");
		snprintf(details, dlen, "pid %lld %s", pid, get_str(ev, "kernel.name") ?: "?");
		break;
	case 6002: /* a policy load or reload (user/ocsf.h, struct ocsf_policy_change) */
		snprintf(what, wlen, "policy");
		s = get_str(ev, "status_detail");
		snprintf(details, dlen, "%s%s%.*s", get_str(ev, "message") ?: "?", s ? ": " : "",
			 s ? (int)strcspn(s, "\n") : 0, s ?: "");
		break;
	default:
		snprintf(what, wlen, "%s", get_str(ev, "class_name") ?: "event");
		snprintf(details, dlen, "pid %lld", pid);
		break;
	}
}

static void print_event(const struct follow_state *fs, struct json_object *ev)
{
	long long ms = get_int(ev, "time", 0), disp = get_int(ev, "disposition_id", 1);
	const char *uid = get_str(ev, "unmapped.ai_agent.uid");
	char when[32], what[16], details[1024];
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	details[0] = '\0';
	describe(ev, what, sizeof(what), details, sizeof(details));
	printf("%s.%03lld  %s%s  %-7s %s%s\n", when, ms % 1000,
	       get_str(ev, "unmapped.ai_agent.name") ?: "-", agent_label(fs, uid), what, details,
	       disp == 2    ? "  BLOCKED"
	       : disp == 15 ? "  WOULD-BLOCK"
			    : "");
}

static int follow(struct control_conn *c, const struct events_opts *o)
{
	struct json_object *req = json_object_new_object(), *reply;
	struct follow_state fs = {};
	const char *line;
	char err[256];
	int n, ret;

	json_object_object_add(req, "op", json_object_new_string("follow"));
	ret = control_conn__call(c, req, &reply, err, sizeof(err));
	json_object_put(req);
	if (ret) {
		fprintf(stderr, "agentwatch events: follow: %s\n",
			ret == -EREMOTEIO ? err : strerror(-ret));
		return AW_EXIT_FAIL;
	}
	json_object_put(reply);
	for (;;) {
		struct json_object *ev;
		const char *notice;

		n = control_conn__read_line(c, &line, -1);
		if (n == -EINTR)
			continue;
		if (n < 0)
			break;
		ev = json_tokener_parse(line);
		notice = ev ? get_str(ev, "notice") : NULL;
		if (notice)
			handle_notice(&fs, ev, notice);
		else if (o->json)
			printf("%s\n", line);
		else if (ev)
			print_event(&fs, ev);
		json_object_put(ev);
		if (fflush(stdout))
			break; /* the reader went away */
	}
	free(fs.agents);
	if (n == -EPIPE) {
		fprintf(stderr, "agentwatch events: the daemon closed the stream\n");
		return AW_EXIT_OK;
	}
	if (n < 0)
		fprintf(stderr, "agentwatch events: %s\n", strerror(-n));
	return n < 0 ? AW_EXIT_FAIL : AW_EXIT_OK;
}

/* --- status ---------------------------------------------------------------------------------- */

static void print_status(struct json_object *st)
{
	struct json_object *agents = get(st, "agents"), *watch = get(st, "watch");
	static const char *const counters[] = {
		"events",    "unattributed",   "ringbuf_full", "no_scratch",
		"malformed", "written",	       "sink_dropped", "sink_errors",
		"followers", "follow_dropped", "refused",
	};
	size_t i, n = agents ? json_object_array_length(agents) : 0;

	printf("agentwatch %s, daemon pid %lld, cgroup v2 at %s\n", get_str(st, "version") ?: "?",
	       get_int(st, "pid", 0), get_str(st, "cgroup_root") ?: "?");
	printf("watch:");
	for (i = 0; watch && i < json_object_array_length(watch); i++)
		printf(" %s", json_object_get_string(json_object_array_get_idx(watch, i)));
	printf("%s\n\n%-5s %-24s %-8s %s\n", watch && json_object_array_length(watch) ? "" : " -",
	       "SLOT", "NAME", "SOURCE", "CGROUP");
	for (i = 0; i < n; i++) {
		struct json_object *a = json_object_array_get_idx(agents, i);
		const char *pod = get_str(a, "k8s.pod_uid"), *ctr = get_str(a, "k8s.container_id");

		printf("%-5lld %-24s %-8s %s", get_int(a, "slot", 0), get_str(a, "name") ?: "-",
		       get_str(a, "source") ?: "-", get_str(a, "cgroup") ?: "-");
		if (pod || ctr)
			printf("  (pod %s, container %.12s)", pod ?: "-", ctr ?: "-");
		printf("\n");
	}
	if (!n)
		printf("(no agents)\n");
	printf("\n");
	for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		printf("%s%s %lld", i ? ", " : "", counters[i],
		       get_int(get(st, "counters"), counters[i], 0));
	printf("\n");
}

static int status(struct control_conn *c, const struct events_opts *o)
{
	struct json_object *req = json_object_new_object(), *reply;
	char err[256];
	int ret;

	json_object_object_add(req, "op", json_object_new_string("status"));
	ret = control_conn__call(c, req, &reply, err, sizeof(err));
	json_object_put(req);
	if (ret) {
		fprintf(stderr, "agentwatch events: status: %s\n",
			ret == -EREMOTEIO ? err : strerror(-ret));
		return AW_EXIT_FAIL;
	}
	if (o->json)
		printf("%s\n",
		       json_object_to_json_string_ext(
			       reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		print_status(reply);
	json_object_put(reply);
	return AW_EXIT_OK;
}

int do_events(int argc, char **argv)
{
	struct events_opts o = {.socket = CONTROL_SOCKET_DEFAULT};
	struct control_conn c;
	int ret;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret > 0 ? AW_EXIT_OK : AW_EXIT_USAGE;
	ret = control_conn__open(&c, o.socket);
	if (ret) {
		if (ret == -ENOENT || ret == -ECONNREFUSED)
			fprintf(stderr,
				"agentwatch events: no daemon answers on '%s' (start one with "
				"'agentwatch run')\n",
				o.socket);
		else
			fprintf(stderr, "agentwatch events: '%s': %s%s\n", o.socket, strerror(-ret),
				ret == -EACCES ? " (the control socket is for root only)" : "");
		return AW_EXIT_FAIL;
	}
	ret = o.follow ? follow(&c, &o) : status(&c, &o);
	control_conn__close(&c);
	return ret;
}
