// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch-bench-kafka: the Kafka sink's throughput on one core.
 *
 * Starts agentwatch-mock-kafka (next to this binary) pinned to another CPU, pins itself (and so
 * every librdkafka thread it starts) to one CPU, and pushes pre-encoded OCSF events (600-1100
 * bytes, the load generator's mix) through sink_kafka with its defaults (lz4, idempotence,
 * acks=all, linger.ms=20) until all are acked. It paces itself on the sink's in-flight count so
 * that nothing overflows to the spool: the figure is delivered events per second. CPU per event
 * is getrusage() of the whole process (all threads) over the events.
 *
 * Baseline in the same run: the same events through the file sink into /dev/null. Also: spool
 * append and read rates (the outage path), and replay from the spool into Kafka.
 * RESULT lines are for tests/bench/run.sh (`make bench`).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "log.h"
#include "ocsf.h"
#include "sink_kafka.h"
#include "spool.h"
#include "synth_event.h"

#define MIX	  64
#define SMALL_DOC 320

struct sample {
	double seconds;
	double cpu_us;
};

static const char *props[32];
static size_t n_props;
static struct aw_event mix_ev[MIX];
static char *mix_json[MIX];
static size_t mix_len[MIX];
static size_t small_len[MIX]; /* SMALL_DOC bytes of each: the goal's smallest event */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void begin(struct sample *s)
{
	s->seconds = now_s();
	s->cpu_us = cpu_us();
}

static void end(struct sample *s)
{
	s->seconds = now_s() - s->seconds;
	s->cpu_us = cpu_us() - s->cpu_us;
}

/* Start the mock on `cpu` (-1: anywhere); its bootstrap list into boot. Returns its pid. */
static pid_t start_mock(const char *path, int cpu, char *boot, size_t size, int *ctl)
{
	int out[2], in[2];
	FILE *f;
	pid_t pid;

	if (pipe(out) || pipe(in))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		if (cpu >= 0) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			sched_setaffinity(0, sizeof(set), &set);
		}
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		close(in[1]);
		close(out[0]);
		execl(path, path, "--brokers", "1", "--topic", "bench:8", "--topic", "replay:8",
		      (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	*ctl = in[1];
	f = fdopen(out[0], "r");
	if (!f || !fgets(boot, (int)size, f)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	boot[strcspn(boot, "\n")] = '\0';
	return pid;
}

static void stop_mock(pid_t pid, int ctl)
{
	if (write(ctl, "quit\n", 5) != 5)
		kill(pid, SIGTERM);
	close(ctl);
	waitpid(pid, NULL, 0);
}

static void build_mix(const struct ocsf_ctx *ctx)
{
	static char buf[MIX][8192];
	int i, len;

	for (i = 0; i < MIX; i++) {
		synth__event(&mix_ev[i], (unsigned long long)i + 1, 1712345678901234567ULL);
		len = ocsf__encode(&mix_ev[i], ctx, buf[i], sizeof(buf[i]));
		if (len < 0) {
			fprintf(stderr, "bench-kafka: encode: %s\n", strerror(-len));
			exit(1);
		}
		mix_json[i] = buf[i];
		mix_len[i] = (size_t)len;
		small_len[i] = mix_len[i] < SMALL_DOC ? mix_len[i] : SMALL_DOC;
	}
}

/* Write n events; with pace, keep in flight below `pace` (Kafka), else as fast as it takes. */
static void push(struct sink *s, unsigned long n, uint64_t pace, const size_t *lens)
{
	struct sink_kafka_stats st;
	unsigned long i;

	for (i = 0; i < n; i++) {
		struct aw_event ev = mix_ev[i % MIX];

		ev.event_id = i + 1;
		if (pace && i % 1024 == 0) {
			for (;;) {
				sink_kafka__stats(s, &st);
				if (st.in_flight < pace)
					break;
				usleep(200);
			}
		}
		sink__write(s, &ev, mix_json[i % MIX], lens[i % MIX]);
	}
}

static struct sink *kafka_sink(const char *boot, const char *topic, const char *spool,
			       const struct ocsf_ctx *ctx)
{
	struct sink_kafka_opts o = {
		.brokers = boot,
		.topic = topic,
		.node_id = "bench-node",
		.spool_dir = spool,
		.ocsf = ctx,
		.props = props,
		.n_props = n_props,
	};
	struct sink *s = sink_kafka__new(&o);

	if (!s) {
		fprintf(stderr, "bench-kafka: sink: %s\n", strerror(errno));
		exit(1);
	}
	return s;
}

static void rm_spool(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "bench-kafka: could not remove %s\n", dir);
}

/* The spool record of event i, as the sink writes it. */
static void spool_rec(struct spool_record *r, unsigned long i, char idbuf[24])
{
	snprintf(idbuf, 24, "%lu", i + 1);
	memset(r, 0, sizeof(*r));
	r->timestamp_ms = 1712345678901LL;
	r->topic = "replay";
	r->topic_len = 6;
	r->key = synth_agents[0].agent_uid;
	r->key_len = strlen(synth_agents[0].agent_uid);
	r->n_headers = 4;
	r->headers[0] = (struct spool_header){"ocsf_class", 10, "1001", 4};
	r->headers[1] = (struct spool_header){"event_id", 8, idbuf, strlen(idbuf)};
	r->headers[2] = (struct spool_header){"node", 4, "bench-node", 10};
	r->headers[3] = (struct spool_header){"schema", 6, "ocsf/1.8.0", 10};
	r->value = mix_json[i % MIX];
	r->value_len = mix_len[i % MIX];
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"events", required_argument, NULL, 'n'}, {"no-pin", no_argument, NULL, 'P'},
		{"pace", required_argument, NULL, 'p'},	  {"only-kafka", no_argument, NULL, 'K'},
		{"help", no_argument, NULL, 'h'},	  {},
	};
	unsigned long n = 1000000, spool_n, i;
	uint64_t pace = 30000;
	char exe[PATH_MAX], mock[PATH_MAX], boot[512], dir[] = "/tmp/aw-bench-spool.XXXXXX";
	struct sample kafka, small, file, sw, sr, replay;
	struct sink_kafka_stats st;
	struct spool_opts so = {0};
	struct spool_stats sst;
	struct ocsf_ctx *ctx;
	struct spool *sp;
	struct sink *s;
	cpu_set_t set;
	double bytes = 0;
	int c, cpus[2] = {-1, -1}, ctl, err;
	bool pin = true, only_kafka = false;
	ssize_t len;
	pid_t pid;

	while ((c = getopt_long(argc, argv, "hX:", opts, NULL)) != -1) {
		switch (c) {
		case 'X':
			if (n_props < sizeof(props) / sizeof(props[0]))
				props[n_props++] = optarg;
			break;
		case 'p':
			pace = strtoull(optarg, NULL, 0);
			break;
		case 'K':
			only_kafka = true;
			break;
		case 'n':
			n = strtoul(optarg, NULL, 0);
			break;
		case 'P':
			pin = false;
			break;
		default:
			printf("Usage: agentwatch-bench-kafka [--events N] [--no-pin] [--pace N] "
			       "[--only-kafka] [-X KEY=VALUE]...\n\n"
			       "  --events N     events per phase (default 1000000)\n"
			       "  --no-pin       do not pin this process and the mock to CPUs\n"
			       "  --pace N       keep at most N records in flight (default 30000)\n"
			       "  --only-kafka   only the two Kafka phases (for profiling)\n"
			       "  -X KEY=VALUE   librdkafka property for the sink\n\n"
			       "EXAMPLES\n  agentwatch-bench-kafka --events 2000000\n"
			       "  agentwatch-bench-kafka -X linger.ms=50 --only-kafka\n");
			return c == 'h' ? 0 : 2;
		}
	}
	log__init(false);
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0)
		return 1;
	exe[len] = '\0';
	snprintf(mock, sizeof(mock), "%s/agentwatch-mock-kafka", dirname(exe));
	if (access(mock, X_OK)) {
		printf("bench-kafka: %s not built: skipped\n", mock);
		return 0;
	}
	/* This process on the first CPU it may use, the mock on the next one. */
	if (pin && !sched_getaffinity(0, sizeof(set), &set)) {
		for (c = 0; c < CPU_SETSIZE && cpus[1] < 0; c++)
			if (CPU_ISSET(c, &set))
				cpus[cpus[0] < 0 ? 0 : 1] = c;
	}
	pid = start_mock(mock, cpus[1], boot, sizeof(boot), &ctl);
	if (pid < 0) {
		fprintf(stderr, "bench-kafka: could not start %s\n", mock);
		return 1;
	}
	if (cpus[0] >= 0) {
		CPU_ZERO(&set);
		CPU_SET(cpus[0], &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	ctx = malloc(sizeof(*ctx));
	if (!ctx || ocsf_ctx__init_host(ctx, AW_VERSION))
		return 1;
	build_mix(ctx);
	for (i = 0; i < MIX; i++)
		bytes += (double)mix_len[i];
	if (!mkdtemp(dir))
		return 1;

	/* Kafka: warm up (connections, metadata, producer id), then measure. */
	s = kafka_sink(boot, "bench", dir, ctx);
	push(s, 50000, pace, mix_len);
	sink_kafka__wait_idle(s, 30000);
	sink_kafka__stats(s, &st);
	begin(&kafka);
	push(s, n, pace, mix_len);
	err = sink_kafka__wait_idle(s, 120000);
	end(&kafka);
	sink_kafka__stats(s, &st);
	sink__close(s);
	if (err || st.spooled || st.dropped)
		fprintf(stderr,
			"bench-kafka: %lu delivered, %lu spooled, %lu dropped: not a clean run\n",
			(unsigned long)st.delivered, (unsigned long)st.spooled,
			(unsigned long)st.dropped);

	/* The goal's size: the first SMALL_DOC bytes of each event (realistic compressibility). */
	s = kafka_sink(boot, "bench", dir, ctx);
	push(s, 50000, pace, small_len);
	sink_kafka__wait_idle(s, 30000);
	begin(&small);
	push(s, n, pace, small_len);
	err = sink_kafka__wait_idle(s, 120000);
	end(&small);
	sink_kafka__stats(s, &st);
	sink__close(s);
	if (err || st.spooled || st.dropped)
		fprintf(stderr, "bench-kafka: small: %lu spooled, %lu dropped: not a clean run\n",
			(unsigned long)st.spooled, (unsigned long)st.dropped);

	if (only_kafka) {
		stop_mock(pid, ctl);
		rm_spool(dir);
		printf("RESULT kafka_sink_events_per_s %.0f events/s\n", (double)n / kafka.seconds);
		printf("RESULT kafka_sink_cpu_per_event %.3f us\n", kafka.cpu_us / (double)n);
		printf("RESULT kafka_sink_events_per_s_320b %.0f events/s\n",
		       (double)n / small.seconds);
		printf("RESULT kafka_sink_cpu_per_event_320b %.3f us\n", small.cpu_us / (double)n);
		return 0;
	}

	/* Baseline: the file sink into /dev/null. */
	s = sink_file__new("/dev/null");
	if (!s)
		return 1;
	begin(&file);
	push(s, n, 0, mix_len);
	sink__close(s);
	end(&file);

	/* The spool: append, then replay into Kafka, then append again and read it back raw. */
	spool_n = n / 10 < 100000 ? n / 10 : 100000; /* ~140 MB of disk at most */
	so.dir = dir;
	so.max_bytes = 4ULL << 30;
	if (spool__open(&sp, &so))
		return 1;
	begin(&sw);
	for (i = 0; i < spool_n; i++) {
		struct spool_record r;
		char id[24];

		spool_rec(&r, i, id);
		if (spool__append(sp, &r, 0))
			return 1;
	}
	spool__sync(sp);
	end(&sw);
	spool__stats(sp, &sst);
	spool__close(sp);

	begin(&replay);
	s = kafka_sink(boot, "replay", dir, ctx);
	err = sink_kafka__wait_idle(s, 120000);
	end(&replay);
	sink_kafka__stats(s, &st);
	sink__close(s);
	if (err || st.replayed != spool_n)
		fprintf(stderr, "bench-kafka: replayed %lu of %lu\n", (unsigned long)st.replayed,
			spool_n);

	if (spool__open(&sp, &so))
		return 1;
	for (i = 0; i < spool_n; i++) {
		struct spool_record r;
		char id[24];

		spool_rec(&r, i, id);
		spool__append(sp, &r, 0);
	}
	spool__close(sp);
	if (spool__open(&sp, &so))
		return 1;
	begin(&sr);
	for (i = 0;; i++) {
		struct spool_record r;
		void *ticket;

		if (spool__peek(sp, &r, &ticket))
			break;
		spool__consume(sp);
		spool__ack(sp, ticket);
	}
	end(&sr);
	spool__close(sp);
	rm_spool(dir);
	stop_mock(pid, ctl);

	printf("# %lu events of %.0f bytes on average (OCSF JSON), lz4, acks=all, idempotence, "
	       "pinned to CPU %d (mock on CPU %d)\n",
	       n, bytes / MIX, cpus[0], cpus[1]);
	printf("RESULT kafka_sink_events_per_s %.0f events/s ratio=%.3f baseline=%.0f\n",
	       (double)n / kafka.seconds, file.seconds / kafka.seconds, (double)n / file.seconds);
	printf("RESULT kafka_sink_cpu_per_event %.3f us ratio=%.2f baseline=%.3f\n",
	       kafka.cpu_us / (double)n, kafka.cpu_us / file.cpu_us, file.cpu_us / (double)n);
	printf("RESULT kafka_sink_mb_per_s %.1f MB/s\n",
	       (double)n * bytes / MIX / 1e6 / kafka.seconds);
	printf("RESULT kafka_sink_events_per_s_320b %.0f events/s ratio=%.3f baseline=%.0f\n",
	       (double)n / small.seconds, kafka.seconds / small.seconds, (double)n / kafka.seconds);
	printf("RESULT kafka_sink_cpu_per_event_320b %.3f us\n", small.cpu_us / (double)n);
	printf("RESULT spool_append_records_per_s %.0f records/s mb_per_s=%.1f\n",
	       (double)spool_n / sw.seconds, (double)sst.bytes / 1e6 / sw.seconds);
	printf("RESULT spool_read_records_per_s %.0f records/s\n", (double)i / sr.seconds);
	printf("RESULT kafka_replay_records_per_s %.0f records/s ratio=%.3f baseline=%.0f\n",
	       (double)spool_n / replay.seconds,
	       kafka.seconds / (double)n * (double)spool_n / replay.seconds,
	       (double)n / kafka.seconds);
	free(ctx);
	return 0;
}
