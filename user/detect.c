// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch detect: the verb. Parses options, runs the file input here or the Kafka input
 * (detect_kafka.c), and owns the output side shared by both (detect_run.h).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>

#include "cli.h"
#include "detect.h"
#include "detect_run.h"
#include "log.h"

/* ---- parameters settable with --set ------------------------------------------------------ */

enum param_type { P_MS, P_U32, P_DOUBLE };

struct param {
	const char *name;
	enum param_type type;
	size_t off;
	const char *help;
};

#define PARAM(n, t, f, h)                                  \
	{                                                  \
		n, t, offsetof(struct detect_config, f), h \
	}
static const struct param params[] = {
	PARAM("kind_warmup_ms", P_MS, kind_warmup_ms, "learn a kind's baseline silently"),
	PARAM("established_agents", P_U32, established_agents, "agents that make an item usual"),
	PARAM("novelty_per_hour", P_U32, novelty_per_hour, "novelty findings per agent-hour"),
	PARAM("rate_bucket_ms", P_MS, rate_bucket_ms, "rate bucket"),
	PARAM("rate_alpha", P_DOUBLE, rate_alpha, "EWMA weight of a new active bucket"),
	PARAM("rate_warmup", P_U32, rate_warmup, "active buckets before rates are judged"),
	PARAM("rate_z", P_DOUBLE, rate_z, "deviations above the mean"),
	PARAM("rate_ratio", P_DOUBLE, rate_ratio, "and this multiple of the mean"),
	PARAM("rate_min_opens", P_U32, rate_min[DETECT_M_OPENS], "and at least this many"),
	PARAM("rate_min_execs", P_U32, rate_min[DETECT_M_EXECS], "and at least this many"),
	PARAM("rate_min_connects", P_U32, rate_min[DETECT_M_CONNECTS], "and at least this many"),
	PARAM("rate_min_denials", P_U32, rate_min[DETECT_M_DENIALS], "and at least this many"),
	PARAM("seq_exfil_ms", P_MS, seq_exfil_ms, "sensitive read -> new egress"),
	PARAM("burst_reads", P_U32, burst_reads, "reads around an archiver that make a burst"),
	PARAM("burst_ms", P_MS, burst_ms, "the window around the archiver"),
	PARAM("archive_egress_ms", P_MS, archive_egress_ms, "archiver -> new egress"),
	PARAM("deny_alt_ms", P_MS, deny_alt_ms, "denial -> alternate path"),
	PARAM("context_ms", P_MS, context_ms, "how long a session's context lasts"),
	PARAM("campaign_k", P_U32, campaign_k, "agents for a campaign with context"),
	PARAM("campaign_ctx_agents", P_U32, campaign_ctx_agents, "of which with context"),
	PARAM("campaign_k_plain", P_U32, campaign_k_plain, "agents for one without (0: never)"),
	PARAM("campaign_plain_window_ms", P_MS, campaign_plain_window_ms, "... within this"),
	PARAM("campaign_window_ms", P_MS, campaign_window_ms, "the window W"),
	PARAM("campaign_rare_max", P_U32, campaign_rare_max, "agents before W for 'rare'"),
	PARAM("campaign_hold_ms", P_MS, campaign_hold_ms, "watch a context-free candidate"),
	PARAM("campaign_fleet_max", P_DOUBLE, campaign_fleet_max, "share of fleet = rollout"),
	PARAM("campaign_warmup_ms", P_MS, campaign_warmup_ms, "learn fleet history silently"),
	PARAM("max_agents", P_U32, max_agents, "agents per stage-1 shard"),
	PARAM("max_features", P_U32, max_features, "rare features per stage-2 shard"),
	PARAM("max_evidence", P_U32, max_evidence, "event ids per finding (<= 16)"),
};

static int param_set(struct detect_config *c, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *end;
	size_t i;

	if (!eq)
		return -EINVAL;
	for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		const struct param *p = &params[i];
		char *field = (char *)c + p->off;

		if (strlen(p->name) != (size_t)(eq - kv) || strncmp(p->name, kv, eq - kv))
			continue;
		errno = 0;
		switch (p->type) {
		case P_MS:
			*(uint64_t *)field = strtoull(eq + 1, &end, 10);
			break;
		case P_U32:
			*(uint32_t *)field = (uint32_t)strtoul(eq + 1, &end, 10);
			break;
		case P_DOUBLE:
			*(double *)field = strtod(eq + 1, &end);
			break;
		}
		return errno || *end || end == eq + 1 ? -EINVAL : 0;
	}
	return -ENOENT;
}

static void params_print(const struct detect_config *c)
{
	size_t i;

	for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		const struct param *p = &params[i];
		const char *field = (const char *)c + p->off;

		switch (p->type) {
		case P_MS:
			printf("%-26s %-10llu %s\n", p->name,
			       (unsigned long long)*(const uint64_t *)field, p->help);
			break;
		case P_U32:
			printf("%-26s %-10u %s\n", p->name, *(const uint32_t *)field, p->help);
			break;
		case P_DOUBLE:
			printf("%-26s %-10g %s\n", p->name, *(const double *)field, p->help);
			break;
		}
	}
}

/* ---- output ----------------------------------------------------------------------------- */

int detect_output__finding(struct detect_output *o, const struct detect_finding *f)
{
	char buf[16384];
	int len, err;
	uint32_t i;

	if (f->severity_id < o->opts->min_severity)
		return 0;
	len = detect_finding__encode(f, buf, sizeof(buf) - 1);
	if (len < 0) {
		o->errors++;
		return 0; /* cannot happen with the bounded fields; never fatal */
	}
	if (o->out) {
		buf[len] = '\n';
		if (fwrite(buf, 1, (size_t)len + 1, o->out) != (size_t)len + 1) {
			o->errors++;
			return log_errno(errno ? errno : EIO, "detect: stdout");
		}
	}
	if (o->producer) {
		char key[24];

		snprintf(key, sizeof(key), "%016llx", (unsigned long long)f->uid);
		err = rd_kafka_producev((rd_kafka_t *)o->producer,
					RD_KAFKA_V_RKT((rd_kafka_topic_t *)o->findings_topic),
					RD_KAFKA_V_KEY(key, strlen(key)),
					RD_KAFKA_V_VALUE(buf, (size_t)len),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			rd_kafka_poll((rd_kafka_t *)o->producer, 100);
			err = rd_kafka_producev(
				(rd_kafka_t *)o->producer,
				RD_KAFKA_V_RKT((rd_kafka_topic_t *)o->findings_topic),
				RD_KAFKA_V_KEY(key, strlen(key)),
				RD_KAFKA_V_VALUE(buf, (size_t)len),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		}
		if (err) {
			o->errors++;
			log_error("detect: findings topic: %s", rd_kafka_err2str(err));
		}
	}
	o->written++;
	if (o->opts->freeze_severity && f->severity_id >= o->opts->freeze_severity) {
		char reason[160];

		snprintf(reason, sizeof(reason), "finding %016llx: %s", (unsigned long long)f->uid,
			 detect_kind__name(f->kind));
		for (i = 0; i < f->n_agents; i++)
			detect_respond__freeze(o->opts->control_socket, f->agents[i].uid, reason);
	}
	return 0;
}

void detect_stats__print(const struct detect_stats *st, const char *what, size_t memory,
			 uint32_t agents)
{
	int k;

	fprintf(stderr,
		"{\"detect_stats\":\"%s\",\"lines\":%llu,\"events\":%llu,\"ignored\":%llu,"
		"\"malformed\":%llu,\"unknown_class\":%llu,\"missing_field\":%llu,"
		"\"observations\":%llu,\"agents\":%u,\"agents_evicted\":%llu,"
		"\"features_evicted\":%llu,\"baseline_full\":%llu,\"rollouts_suppressed\":%llu,"
		"\"memory_bytes\":%zu,\"findings\":{",
		what, (unsigned long long)st->lines, (unsigned long long)st->events,
		(unsigned long long)st->ignored, (unsigned long long)st->malformed,
		(unsigned long long)st->unknown_class, (unsigned long long)st->missing_field,
		(unsigned long long)st->observations, agents,
		(unsigned long long)st->agents_evicted, (unsigned long long)st->features_evicted,
		(unsigned long long)st->baseline_full, (unsigned long long)st->rollouts_suppressed,
		memory);
	for (k = 0; k < DETECT_K__COUNT; k++)
		fprintf(stderr, "%s\"%s\":%llu", k ? "," : "", detect_kind__name(k),
			(unsigned long long)st->findings[k]);
	fprintf(stderr, "}}\n");
}

/* ---- file input ------------------------------------------------------------------------- */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

struct file_run {
	struct detect_output out;
	struct detect_stage1 *s1;
	struct detect_stage2 *s2;
	struct detect_stats st;
	struct detect_sink s1_sink, s2_sink;
};

static int file_finding(void *ctx, const struct detect_finding *f)
{
	return detect_output__finding(&((struct file_run *)ctx)->out, f);
}

static int file_obs(void *ctx, const struct detect_obs *o)
{
	struct file_run *r = ctx;

	return r->s2 ? detect_stage2__obs(r->s2, o, &r->s2_sink, &r->st) : 0;
}

/* One line through the parser and stage 1; malformed and unknown input is counted, never fatal. */
static int file_line(struct file_run *r, const char *line, size_t len, char *scratch,
		     size_t scratch_size)
{
	struct detect_event ev;
	int err;

	r->st.lines++;
	err = detect_input__parse(line, len, &ev, scratch, scratch_size);
	if (err) {
		r->st.malformed++;
		return 0;
	}
	err = detect_event__classify(&ev);
	if (err == -EPROTONOSUPPORT) {
		r->st.unknown_class++;
		return 0;
	}
	if (err) {
		r->st.missing_field++;
		return 0;
	}
	if (ev.type == DETECT_EV_IGNORED) {
		r->st.ignored++;
		return 0;
	}
	return detect_stage1__event(r->s1, &ev, &r->s1_sink, &r->st);
}

static int run_file(const struct detect_opts *o)
{
	struct file_run r = {.out = {.opts = o}};
	char *line = NULL, *scratch;
	size_t cap = 0;
	ssize_t n;
	FILE *in;
	int err = 0;

	r.out.out = o->no_stdout ? NULL : stdout;
	in = strcmp(o->input, "-") ? fopen(o->input, "r") : stdin;
	if (!in)
		return log_errno(errno, "detect: input '%s'", o->input);
	if (o->state_file) {
		err = detect_state__load_file(o->state_file, &o->cfg, &r.s1, &r.s2);
		if (err == -ENOENT)
			err = 0;
		else if (err)
			goto out_close;
		else
			log_info("detect: state '%s': loaded", o->state_file);
	}
	if (!r.s1)
		r.s1 = detect_stage1__new(&o->cfg);
	if (!r.s2)
		r.s2 = detect_stage2__new(&o->cfg);
	scratch = malloc(1 << 16);
	if (!r.s1 || !r.s2 || !scratch) {
		err = -ENOMEM;
		goto out_free;
	}
	r.s1_sink = (struct detect_sink){.ctx = &r, .finding = file_finding, .obs = file_obs};
	r.s2_sink = (struct detect_sink){.ctx = &r, .finding = file_finding};

	while (!stop && (n = getline(&line, &cap, in)) >= 0) {
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (!n)
			continue;
		err = file_line(&r, line, (size_t)n, scratch, 1 << 16);
		if (err)
			break;
	}
	if (!err)
		err = detect_stage2__flush(r.s2, &r.s2_sink, &r.st);
	if (r.out.out)
		fflush(r.out.out);
	if (o->state_file && !err)
		err = detect_state__save_file(o->state_file, r.s1, r.s2);
	if (o->stats)
		detect_stats__print(&r.st, "file",
				    detect_stage1__memory(r.s1) + detect_stage2__memory(r.s2),
				    detect_stage1__agents(r.s1));
out_free:
	free(scratch);
	free(line);
	detect_stage1__free(r.s1);
	detect_stage2__free(r.s2);
out_close:
	if (in != stdin)
		fclose(in);
	return err;
}

/* ---- the verb --------------------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: agentwatch detect --input FILE|- [options]\n"
		"       agentwatch detect --brokers LIST --topic T [--topic T2...] [options]\n"
		"\n"
		"Find anomalies in agentwatch's OCSF event stream: per agent (novelty against the\n"
		"agent kind's baseline, rate anomalies, suspicious sequences in a session) and "
		"across\n"
		"agents (the same rare behaviour in many agents at once). Findings are OCSF 1.8.0\n"
		"Detection Findings (class 2004), one JSON line each. See docs/detect.md.\n"
		"\n"
		"Input:\n"
		"  --input FILE|-          OCSF JSON lines (replay, demo, evaluation)\n"
		"  --brokers LIST          Kafka bootstrap servers (consumer group mode)\n"
		"  --topic NAME            events topic, keyed by agent (repeatable)\n"
		"  --group ID              consumer group (default agentwatch-detect)\n"
		"  -X KEY=VALUE            librdkafka property for every client (repeatable)\n"
		"  --stage 1|2|both        stages this process runs (default both)\n"
		"  --features-topic NAME   stage 1 -> 2 observations, keyed by feature\n"
		"                          (default agentwatch-features)\n"
		"Output:\n"
		"  --findings-topic NAME   also produce findings to this topic\n"
		"  --no-stdout             do not write findings to stdout\n"
		"  --min-severity N        write findings of severity >= N (1-5, default 1)\n"
		"State:\n"
		"  --state FILE            load at start, save at exit and at each checkpoint\n"
		"  --state-topic NAME      Kafka: per-partition checkpoints (a compacted topic)\n"
		"  --checkpoint-ms N       Kafka: checkpoint and commit at least every N ms "
		"(5000)\n"
		"  --idle-exit-ms N        Kafka: exit after N ms without a message (default "
		"never)\n"
		"Response (off by default):\n"
		"  --freeze-severity N     ask the daemon to freeze the agents of a finding >= N\n"
		"  --control-socket PATH   the daemon's control socket (default %s)\n"
		"Tuning:\n"
		"  --set NAME=VALUE        a detector parameter (repeatable)\n"
		"  --params                list the parameters with their values, and exit\n"
		"  --stats                 counters as one JSON line on stderr at exit\n"
		"\n"
		"EXAMPLES\n"
		"  agentwatch detect --input events.jsonl\n"
		"  agentwatch exec --events - -- ./agent | agentwatch detect --input -\n"
		"  agentwatch detect --brokers kafka:9092 --topic agentwatch-events \\\n"
		"      --group detect --findings-topic agentwatch-findings --state-topic "
		"detect-state\n"
		"  agentwatch detect --input events.jsonl --set campaign_k=5 --min-severity 3\n",
		"/run/agentwatch/agentwatch.sock");
}

int do_detect(int argc, char **argv)
{
	enum {
		O_INPUT = 256,
		O_BROKERS,
		O_TOPIC,
		O_GROUP,
		O_STAGE,
		O_FEATURES,
		O_FINDINGS,
		O_NO_STDOUT,
		O_MIN_SEV,
		O_STATE,
		O_STATE_TOPIC,
		O_CHECKPOINT,
		O_IDLE,
		O_FREEZE,
		O_CONTROL,
		O_SET,
		O_PARAMS,
		O_STATS,
	};
	static const struct option opts[] = {
		{"input", required_argument, NULL, O_INPUT},
		{"brokers", required_argument, NULL, O_BROKERS},
		{"topic", required_argument, NULL, O_TOPIC},
		{"group", required_argument, NULL, O_GROUP},
		{"stage", required_argument, NULL, O_STAGE},
		{"features-topic", required_argument, NULL, O_FEATURES},
		{"findings-topic", required_argument, NULL, O_FINDINGS},
		{"no-stdout", no_argument, NULL, O_NO_STDOUT},
		{"min-severity", required_argument, NULL, O_MIN_SEV},
		{"state", required_argument, NULL, O_STATE},
		{"state-topic", required_argument, NULL, O_STATE_TOPIC},
		{"checkpoint-ms", required_argument, NULL, O_CHECKPOINT},
		{"idle-exit-ms", required_argument, NULL, O_IDLE},
		{"freeze-severity", required_argument, NULL, O_FREEZE},
		{"control-socket", required_argument, NULL, O_CONTROL},
		{"set", required_argument, NULL, O_SET},
		{"params", no_argument, NULL, O_PARAMS},
		{"stats", no_argument, NULL, O_STATS},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	static struct detect_opts o; /* large; the verb runs once */
	bool list = false;
	int c, err;

	memset(&o, 0, sizeof(o));
	detect_config__defaults(&o.cfg);
	o.stage = DETECT_STAGE_BOTH;
	o.group = "agentwatch-detect";
	o.features_topic = "agentwatch-features";
	o.min_severity = 1;
	o.checkpoint_ms = 5000;
	while ((c = getopt_long(argc, argv, "hX:", opts, NULL)) != -1) {
		switch (c) {
		case O_INPUT:
			o.input = optarg;
			break;
		case O_BROKERS:
			o.brokers = optarg;
			break;
		case O_TOPIC:
			if (o.n_topics == DETECT_MAX_TOPICS)
				goto bad;
			o.topics[o.n_topics++] = optarg;
			break;
		case O_GROUP:
			o.group = optarg;
			break;
		case 'X':
			if (o.n_props == DETECT_MAX_PROPS || !strchr(optarg, '='))
				goto bad;
			o.props[o.n_props++] = optarg;
			break;
		case O_STAGE:
			if (!strcmp(optarg, "1"))
				o.stage = DETECT_STAGE_1;
			else if (!strcmp(optarg, "2"))
				o.stage = DETECT_STAGE_2;
			else if (!strcmp(optarg, "both"))
				o.stage = DETECT_STAGE_BOTH;
			else
				goto bad;
			break;
		case O_FEATURES:
			o.features_topic = optarg;
			break;
		case O_FINDINGS:
			o.findings_topic = optarg;
			break;
		case O_NO_STDOUT:
			o.no_stdout = true;
			break;
		case O_MIN_SEV:
			o.min_severity = (uint8_t)atoi(optarg);
			break;
		case O_STATE:
			o.state_file = optarg;
			break;
		case O_STATE_TOPIC:
			o.state_topic = optarg;
			break;
		case O_CHECKPOINT:
			o.checkpoint_ms = strtoull(optarg, NULL, 10);
			break;
		case O_IDLE:
			o.idle_exit_ms = strtoull(optarg, NULL, 10);
			break;
		case O_FREEZE:
			o.freeze_severity = (uint8_t)atoi(optarg);
			break;
		case O_CONTROL:
			o.control_socket = optarg;
			break;
		case O_SET:
			err = param_set(&o.cfg, optarg);
			if (err) {
				fprintf(stderr,
					"agentwatch detect: --set '%s': %s (see --params)\n",
					optarg, err == -ENOENT ? "unknown parameter" : "bad value");
				return AW_EXIT_USAGE;
			}
			break;
		case O_PARAMS:
			list = true;
			break;
		case O_STATS:
			o.stats = true;
			break;
		case 'h':
			usage(stdout);
			return AW_EXIT_OK;
		default:
			goto bad;
		}
	}
	if (list) {
		params_print(&o.cfg);
		return AW_EXIT_OK;
	}
	if (o.cfg.max_evidence > DETECT_EVIDENCE_MAX)
		o.cfg.max_evidence = DETECT_EVIDENCE_MAX;
	if (!o.cfg.rate_bucket_ms || !o.cfg.max_agents || !o.cfg.max_features ||
	    (!o.input == !o.brokers) || (o.brokers && !o.n_topics && o.stage != DETECT_STAGE_2))
		goto bad;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	err = o.input ? run_file(&o) : detect_kafka__run(&o);
	return err ? AW_EXIT_FAIL : AW_EXIT_OK;
bad:
	usage(stderr);
	return AW_EXIT_USAGE;
}

bool detect__stopping(void)
{
	return stop;
}
