// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch top: the live view of every watched agent on this node (top_view.c), or one
 * snapshot as a table or JSON (--once). The data model is top_model.c, the sources top_source.c;
 * docs/top.md is the operator's guide.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <agentwatch/counters.h>

#include "cli.h"
#include "control.h"
#include "log.h"
#include "top_model.h"
#include "top_source.h"
#include "top_view.h"

struct top_opts {
	double delay;
	bool once, json, reverse, no_events;
	int sort;
	const char *filter;
	const char *pin_root;
	const char *socket;
};

static void top_usage(FILE *out)
{
	fprintf(out,
		"Usage: agentwatch top [options]\n\n"
		"A live view of every watched agent on this node: one row per agent with its\n"
		"processes, execs/s, file opens/s, connects/s, syscalls/s (while observed), "
		"denials,\n"
		"dropped events, top egress destination and effective enforcement. Enter drills "
		"into\n"
		"one agent: its process tree, recent events, denials with rule names, egress and\n"
		"files. Counters are read from the maps pinned under the pin root (daemon and\n"
		"standalone exec instances alike); events from each instance's control socket.\n\n"
		"Options:\n"
		"  -d, --delay SECS    refresh interval (default 1; --once: the rate interval,\n"
		"                      0 for totals only)\n"
		"      --once          print one snapshot and exit\n"
		"      --json          with --once: JSON instead of a table\n"
		"      --sort COL      sort column: name session pod procs execs opens connects\n"
		"                      syscalls denials denial_rate audits dropped egress enforce\n"
		"  -r, --reverse       reverse the sort order\n"
		"      --filter TEXT   only agents whose name, session, pod, instance or egress\n"
		"                      contains TEXT\n"
		"      --no-events     counters only: do not follow the event streams\n"
		"      --pin-root DIR  where instances pin their maps (default %s)\n"
		"      --socket PATH   the daemon's control socket (default %s); a standalone\n"
		"                      exec's is exec-<pid>.sock in the same directory\n\n"
		"Keys: arrows select, Enter drill in, Esc back, s < > sort, r reverse, / filter,\n"
		"p pause, ? help, q quit.\n\n"
		"EXAMPLES\n"
		"  sudo agentwatch top\n"
		"  sudo agentwatch top -d 5 --sort denials\n"
		"  sudo agentwatch top --once\n"
		"  sudo agentwatch top --once --json | jq '.agents[] | {name, opens, connects}'\n",
		AW_PIN_ROOT, CONTROL_SOCKET_DEFAULT);
}

static int parse_opts(int argc, char **argv, struct top_opts *o)
{
	static const struct option opts[] = {
		{"delay", required_argument, NULL, 'd'},
		{"once", no_argument, NULL, 'o'},
		{"json", no_argument, NULL, 'j'},
		{"sort", required_argument, NULL, 's'},
		{"reverse", no_argument, NULL, 'r'},
		{"filter", required_argument, NULL, 'f'},
		{"no-events", no_argument, NULL, 'E'},
		{"pin-root", required_argument, NULL, 'P'},
		{"socket", required_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "d:rh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o->delay = strtod(optarg, &end);
			if (*end || !isfinite(o->delay) || o->delay < 0 || o->delay > 3600) {
				fprintf(stderr,
					"agentwatch top: --delay '%s': seconds, 0 to 3600\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'o':
			o->once = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 's':
			o->sort = top_col__parse(optarg);
			if (o->sort < 0) {
				fprintf(stderr, "agentwatch top: --sort '%s': no such column\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'r':
			o->reverse = true;
			break;
		case 'f':
			o->filter = optarg;
			break;
		case 'E':
			o->no_events = true;
			break;
		case 'P':
			o->pin_root = optarg;
			break;
		case 'S':
			o->socket = optarg;
			break;
		case 'h':
			top_usage(stdout);
			return 1;
		default:
			top_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "agentwatch top: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (o->json && !o->once) {
		fprintf(stderr, "agentwatch top: --json needs --once\n");
		return -EINVAL;
	}
	if (!o->once && o->delay < 0.1) {
		fprintf(stderr, "agentwatch top: --delay: at least 0.1 s for the live view\n");
		return -EINVAL;
	}
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int snapshot(struct top_source *src, struct top_model *m)
{
	struct top_snapshot snap;
	int err = top_source__snapshot(src, &snap);

	return err ? err : top_model__update(m, &snap);
}

/* --- --once ---------------------------------------------------------------------------------- */

/* Rates with two decimals (no libm: they are never negative). */
static double round2(double v)
{
	return (double)(long long)(v * 100 + 0.5) / 100;
}

static struct json_object *rate_json(bool have, double v)
{
	return have ? json_object_new_double(round2(v)) : NULL;
}

static struct json_object *opt_int(long long v)
{
	return v < 0 ? NULL : json_object_new_int64(v);
}

static void add(struct json_object *o, const char *key, struct json_object *v)
{
	json_object_object_add(o, key, v);
}

static struct json_object *agent_json(const struct top_row *r)
{
	const struct top_sample *s = &r->s;
	const struct aw_agent_counters *c = &s->c;
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();
	bool sys = c->syscalls > 0;
	const char *egress = top_row__egress(r);

	add(o, "instance", json_object_new_string(s->instance));
	add(o, "slot", json_object_new_int((int)s->slot));
	add(o, "cgroup_id", json_object_new_uint64(s->cgroup_id));
	add(o, "name", json_object_new_string(s->name));
	add(o, "agent_uid", json_object_new_string(s->agent_uid));
	add(o, "session", json_object_new_string(s->session));
	add(o, "pod", s->pod[0] ? json_object_new_string(s->pod) : NULL);
	add(o, "container", s->container[0] ? json_object_new_string(s->container) : NULL);
	add(o, "procs", opt_int(s->procs));
	add(o, "execs", json_object_new_uint64(c->execs));
	add(o, "forks", json_object_new_uint64(c->forks));
	add(o, "exits", json_object_new_uint64(c->exits));
	add(o, "opens", json_object_new_uint64(c->opens));
	add(o, "connects", json_object_new_uint64(c->connects));
	add(o, "syscalls", sys ? json_object_new_uint64(c->syscalls) : NULL);
	add(o, "denials", json_object_new_uint64(c->denials));
	add(o, "would_block", json_object_new_uint64(c->would_block));
	add(o, "dropped", json_object_new_uint64(c->dropped));
	add(o, "execs_per_s", rate_json(r->have_rates, r->execs));
	add(o, "opens_per_s", rate_json(r->have_rates, r->opens));
	add(o, "connects_per_s", rate_json(r->have_rates, r->connects));
	add(o, "syscalls_per_s", rate_json(r->have_rates && sys, r->syscalls));
	add(o, "denials_per_s", rate_json(r->have_rates, r->denials));
	add(o, "dropped_per_s", rate_json(r->have_rates, r->dropped));
	add(o, "top_egress", *egress ? json_object_new_string(egress) : NULL);
	add(o, "events_seen", json_object_new_uint64(r->ev ? r->ev->seen : 0));
	add(o, "enforcement", json_object_new_string(top_enforce__name(s->enforce)));
	add(e, "file", json_object_new_string(top_enforce__name(s->enforce_file)));
	add(e, "exec", json_object_new_string(top_enforce__name(s->enforce_exec)));
	add(e, "network", json_object_new_string(top_enforce__name(s->enforce_net)));
	add(o, "enforcement_by_action", e);
	return o;
}

static void print_json(const struct top_model *m)
{
	const struct top_header *h = &m->hdr;
	struct json_object *o = json_object_new_object(), *agents = json_object_new_array();
	struct json_object *caps = NULL, *kafka = NULL;
	size_t i;

	if (h->s.caps_known) {
		caps = json_object_new_object();
		add(caps, "file", json_object_new_string(aw_level__name(h->s.caps.file)));
		add(caps, "exec", json_object_new_string(aw_level__name(h->s.caps.exec)));
		add(caps, "network", json_object_new_string(aw_level__name(h->s.caps.network)));
		add(caps, "syscall_observation",
		    json_object_new_boolean(h->s.caps.syscall_observation));
	}
	if (h->s.sink_known) {
		kafka = json_object_new_object();
		add(kafka, "up", json_object_new_boolean(h->s.kafka_up));
		add(kafka, "queue_depth", opt_int(h->s.kafka_queue));
		add(kafka, "spool_bytes", opt_int(h->s.spool_bytes));
	}
	add(o, "node", json_object_new_string(h->s.node));
	add(o, "kernel", json_object_new_string(h->s.kernel));
	add(o, "capabilities", caps);
	add(o, "policy_generation", opt_int(h->s.policy_gen));
	add(o, "daemon", json_object_new_boolean(h->s.daemon));
	add(o, "instances", json_object_new_int(h->s.instances));
	add(o, "stale_instances", json_object_new_int(h->s.stale_instances));
	add(o, "interval_s", h->have_rates ? json_object_new_double(round2(h->interval)) : NULL);
	add(o, "events_per_s", rate_json(h->have_rates, h->events));
	add(o, "drops", json_object_new_uint64(h->s.drops));
	add(o, "drops_per_s", rate_json(h->have_rates, h->drops));
	add(o, "kafka", kafka);
	add(o, "follow_dropped", json_object_new_uint64(h->s.follow_dropped));
	add(o, "sort", json_object_new_string(top_col__info(m->sort)->key));
	for (i = 0; i < m->n_visible; i++)
		json_object_array_add(agents, agent_json(top_model__row(m, i)));
	add(o, "agents", agents);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static void print_table(const struct top_model *m)
{
	const struct top_header *h = &m->hdr;
	int widths[TOP_COL__COUNT], c;
	char cell[256], fit[256], ev[16], dr[16];
	size_t i;

	/* Every column, at about its preferred width. */
	top_view__layout(150, m, widths);
	top__fmt_rate(ev, sizeof(ev), h->events);
	top__fmt_rate(dr, sizeof(dr), h->drops);
	printf("node %s  kernel %s  file:%s exec:%s net:%s  policy gen ", h->s.node, h->s.kernel,
	       aw_level__name(h->s.caps.file), aw_level__name(h->s.caps.exec),
	       aw_level__name(h->s.caps.network));
	if (h->s.policy_gen >= 0)
		printf("%lld", h->s.policy_gen);
	else
		printf("n/a");
	printf("\nevents %s/s  drops %s/s  kafka %s  daemon %s  agents %zu\n",
	       h->have_rates ? ev : "-", h->have_rates ? dr : "-",
	       !h->s.sink_known ? "n/a"
	       : h->s.kafka_up	? "up"
				: "DOWN",
	       h->s.daemon ? "up" : "n/a", m->n_visible);
	for (c = 0; c < TOP_COL__COUNT; c++) {
		if (!widths[c])
			continue;
		top__fit(fit, sizeof(fit), top_col__info(c)->title, widths[c]);
		printf(top_col__info(c)->numeric ? "%*s " : "%-*s ", widths[c], fit);
	}
	printf("\n");
	for (i = 0; i < m->n_visible; i++) {
		const struct top_row *r = top_model__row(m, i);

		for (c = 0; c < TOP_COL__COUNT; c++) {
			if (!widths[c])
				continue;
			top_row__cell(r, c, cell, sizeof(cell));
			top__fit(fit, sizeof(fit), cell, widths[c]);
			printf(top_col__info(c)->numeric ? "%*s " : "%-*s ", widths[c], fit);
		}
		printf("\n");
	}
}

/* Two snapshots `delay` apart, reading the event streams in between. */
static int once(struct top_source *src, struct top_model *m, const struct top_opts *o)
{
	long long end;
	int err;

	err = snapshot(src, m);
	if (err || o->delay <= 0)
		return err;
	end = now_ms() + (long long)(o->delay * 1000);
	for (;;) {
		struct pollfd fds[256];
		long long left = end - now_ms();
		int n;

		if (left <= 0)
			break;
		n = top_source__pollfds(src, fds, 256);
		if (poll(fds, (nfds_t)n, (int)left) < 0 && errno != EINTR)
			return -errno;
		top_source__dispatch(src, m);
	}
	return snapshot(src, m);
}

int do_top(int argc, char **argv)
{
	struct top_opts o = {.delay = 1, .sort = TOP_COL_OPENS};
	struct top_source_opts so = {};
	struct top_view_opts vo = {};
	struct top_source *src;
	struct top_model m;
	int err;

	err = parse_opts(argc, argv, &o);
	if (err)
		return err > 0 ? AW_EXIT_OK : AW_EXIT_USAGE;
	so.pin_root = o.pin_root;
	so.socket = o.socket;
	so.events = !o.no_events;
	if (access(o.pin_root ?: AW_PIN_ROOT, R_OK | X_OK) && errno == EACCES) {
		log_errno(errno, "pin root '%s' (agentwatch top reads BPF maps: run it as root)",
			  o.pin_root ?: AW_PIN_ROOT);
		return AW_EXIT_FAIL;
	}
	err = top_source__open(&src, &so);
	if (err)
		return log_errno(err, "top: open the sources"), AW_EXIT_FAIL;
	top_model__init(&m);
	top_model__set_sort(&m, (enum top_col)o.sort, o.reverse);
	top_model__set_filter(&m, o.filter);
	if (o.once) {
		err = once(src, &m, &o);
		if (!err && o.json)
			print_json(&m);
		else if (!err)
			print_table(&m);
	} else {
		vo.delay_ms = (int)(o.delay * 1000);
		err = top_view__run(&m, src, &vo);
		if (err == -ENOTTY)
			log_error("top: the live view needs a terminal; use --once for a snapshot");
	}
	top_model__free(&m);
	top_source__close(src);
	if (err && err != -ENOTTY)
		log_errno(err, "top");
	return err ? AW_EXIT_FAIL : AW_EXIT_OK;
}
