// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch-kafka-loadgen: push N synthetic OCSF events through the Kafka sink at a given
 * rate, exactly as the daemon would (encode once with ocsf__encode, then sink__write), so that
 * the outage, restart and spool tests run without BPF. Event ids are first-id, first-id + 1, ...
 * so a consumer can tell exactly which events arrived.
 *
 * On SIGTERM or SIGINT it stops writing and closes the sink (bounded flush, then purge to the
 * spool). Otherwise, after the last event it waits up to --drain-timeout for everything to be
 * delivered and the spool to be empty, then closes. The last line on stderr is a summary of
 * key=value pairs for scripts.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include "log.h"
#include "metrics.h"
#include "ocsf.h"
#include "sink_kafka.h"
#include "synth_event.h"

#define MAX_PROPS 64

static const char usage[] =
	"Usage: agentwatch-kafka-loadgen [OPTIONS]\n"
	"\n"
	"Push synthetic OCSF events (600-1100 bytes, event ids FIRST, FIRST+1, ...) through the\n"
	"Kafka sink, as `agentwatch run --sink kafka` would.\n"
	"\n"
	"Options:\n"
	"  -b, --brokers LIST       bootstrap servers\n"
	"  -t, --topic TOPIC        topic or template ({class}, {class_name});\n"
	"                           default " SINK_KAFKA_DEFAULT_TOPIC "\n"
	"  -X KEY=VALUE             librdkafka property, after the sink's defaults (repeatable)\n"
	"  -n, --count N            events to write (default 10000; 0: only replay the spool)\n"
	"  -r, --rate N             events per second (default 0: as fast as possible)\n"
	"      --first-id ID        id of the first event (default 1)\n"
	"      --node ID            node id: record key of events without an agent, `node` header\n"
	"      --spool DIR          spool directory (default: none)\n"
	"      --spool-max BYTES    spool bound (default 1 GiB)\n"
	"      --spool-segment BYTES\n"
	"      --flush-timeout MS   at close, wait this long before purging to the spool\n"
	"      --outage-ms MS       no delivery this long with records outstanding: spool\n"
	"      --drain-timeout MS   after the last event, wait this long for delivery and an\n"
	"                           empty spool (default 30000; 0: close at once)\n"
	"      --progress FILE      keep the last written id in FILE (8 bytes, mmap'ed, so it\n"
	"                           survives SIGKILL)\n"
	"      --metrics ADDR:PORT  serve Prometheus metrics while running\n"
	"      --file PATH          write JSON lines to PATH through the file sink instead\n"
	"  -v, --verbose            debug logging (librdkafka's too)\n"
	"  -h, --help               this text\n"
	"\n"
	"Summary (last line on stderr): loadgen: written=N first_id=.. last_id=.. delivered=..\n"
	"spooled=.. replayed=.. dropped=.. gap_events=.. gap_lost=.. spool_after_close=..\n"
	"spool_records=.. spool_corrupt=.. spool_torn=.. elapsed_ms=.. terminated=0|1\n"
	"\n"
	"EXAMPLES\n"
	"  agentwatch-kafka-loadgen -b 127.0.0.1:9092 -n 100000 -r 5000 --spool /tmp/spool\n"
	"  agentwatch-kafka-loadgen -b 127.0.0.1:9092 -t 'agentwatch-{class}' -X linger.ms=5\n";

static volatile sig_atomic_t terminated;

static void on_signal(int sig)
{
	terminated = 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t *map_progress(const char *path)
{
	uint64_t *p;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0 || ftruncate(fd, 4096)) {
		fprintf(stderr, "loadgen: --progress %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		OPT_FIRST_ID = 256,
		OPT_NODE,
		OPT_SPOOL,
		OPT_SPOOL_MAX,
		OPT_SPOOL_SEGMENT,
		OPT_FLUSH,
		OPT_OUTAGE,
		OPT_DRAIN,
		OPT_PROGRESS,
		OPT_METRICS,
		OPT_FILE,
	};
	static const struct option opts[] = {
		{"brokers", required_argument, NULL, 'b'},
		{"topic", required_argument, NULL, 't'},
		{"count", required_argument, NULL, 'n'},
		{"rate", required_argument, NULL, 'r'},
		{"first-id", required_argument, NULL, OPT_FIRST_ID},
		{"node", required_argument, NULL, OPT_NODE},
		{"spool", required_argument, NULL, OPT_SPOOL},
		{"spool-max", required_argument, NULL, OPT_SPOOL_MAX},
		{"spool-segment", required_argument, NULL, OPT_SPOOL_SEGMENT},
		{"flush-timeout", required_argument, NULL, OPT_FLUSH},
		{"outage-ms", required_argument, NULL, OPT_OUTAGE},
		{"drain-timeout", required_argument, NULL, OPT_DRAIN},
		{"progress", required_argument, NULL, OPT_PROGRESS},
		{"metrics", required_argument, NULL, OPT_METRICS},
		{"file", required_argument, NULL, OPT_FILE},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct sink_kafka_opts ko = {0};
	const char *props[MAX_PROPS], *progress_path = NULL, *metrics_addr = NULL, *file = NULL;
	uint64_t count = 10000, rate = 0, first_id = 1, drain_ms = 30000, v, i, written = 0;
	uint64_t *progress = NULL, t0, last_id = 0;
	struct metrics *metrics = NULL;
	struct sink_kafka_stats ks = {0};
	struct sink_stats ss;
	struct sigaction sa = {.sa_handler = on_signal};
	struct ocsf_ctx *ctx;
	struct sink *sink;
	bool verbose = false;
	char *buf;
	int c, err;

	while ((c = getopt_long(argc, argv, "b:t:X:n:r:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			ko.brokers = optarg;
			break;
		case 't':
			ko.topic = optarg;
			break;
		case 'X':
			if (ko.n_props == MAX_PROPS) {
				fprintf(stderr, "loadgen: too many -X\n");
				return 2;
			}
			props[ko.n_props++] = optarg;
			break;
		case 'n':
		case 'r':
		case OPT_FIRST_ID:
		case OPT_SPOOL_MAX:
		case OPT_SPOOL_SEGMENT:
		case OPT_FLUSH:
		case OPT_OUTAGE:
		case OPT_DRAIN:
			if (parse_u64(optarg, &v)) {
				fprintf(stderr, "loadgen: '%s': not a number\n", optarg);
				return 2;
			}
			if (c == 'n')
				count = v;
			else if (c == 'r')
				rate = v;
			else if (c == OPT_FIRST_ID)
				first_id = v;
			else if (c == OPT_SPOOL_MAX)
				ko.spool_max_bytes = v;
			else if (c == OPT_SPOOL_SEGMENT)
				ko.spool_segment_bytes = v;
			else if (c == OPT_FLUSH)
				ko.flush_timeout_ms = v ? (int)v : -1;
			else if (c == OPT_OUTAGE)
				ko.outage_ms = (int)v;
			else
				drain_ms = v;
			break;
		case OPT_NODE:
			ko.node_id = optarg;
			break;
		case OPT_SPOOL:
			ko.spool_dir = optarg;
			break;
		case OPT_PROGRESS:
			progress_path = optarg;
			break;
		case OPT_METRICS:
			metrics_addr = optarg;
			break;
		case OPT_FILE:
			file = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	log__init(verbose);
	ko.props = props;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	ctx = malloc(sizeof(*ctx));
	buf = malloc(64 * 1024);
	if (!ctx || !buf || ocsf_ctx__init_host(ctx, AW_VERSION)) {
		fprintf(stderr, "loadgen: out of memory or node facts\n");
		return 1;
	}
	ko.ocsf = ctx;
	if (progress_path) {
		progress = map_progress(progress_path);
		if (!progress)
			return 1;
		__atomic_store_n(progress, 0, __ATOMIC_RELAXED);
	}
	if (metrics_addr) {
		metrics = metrics__new();
		if (!metrics || metrics__start(metrics, metrics_addr))
			return 1;
		ko.metrics = metrics;
	}
	sink = file ? sink_file__new(file) : sink_kafka__new(&ko);
	if (!sink) {
		fprintf(stderr, "loadgen: sink: %s\n", strerror(errno));
		return 1;
	}

	t0 = mono_ns();
	for (i = 0; i < count && !terminated; i++) {
		struct aw_event ev;
		int len;

		if (rate) {
			uint64_t due = t0 + i * 1000000000ULL / rate, now = mono_ns();

			/* Sleep only when a millisecond ahead: bursts within it, few syscalls. */
			if (due > now + 1000000) {
				struct timespec ts = {
					.tv_sec = (time_t)((due - now) / 1000000000ULL),
					.tv_nsec = (long)((due - now) % 1000000000ULL)};

				nanosleep(&ts, NULL);
				if (terminated)
					break;
			}
		}
		synth__event(&ev, first_id + i, wall_ns());
		len = ocsf__encode(&ev, ctx, buf, 64 * 1024);
		if (len < 0) {
			fprintf(stderr, "loadgen: encode: %s\n", strerror(-len));
			return 1;
		}
		if (metrics) {
			metrics__add_event(metrics, sink_kafka__class_uid(buf, (size_t)len));
			if (ev.disposition == AW_DISP_BLOCKED)
				metrics__add_denial(metrics, ev.rule);
		}
		sink__write(sink, &ev, buf, (size_t)len);
		written++;
		last_id = first_id + i;
		if (progress)
			__atomic_store_n(progress, last_id, __ATOMIC_RELEASE);
	}
	if (!file && !terminated && drain_ms) {
		err = sink_kafka__wait_idle(sink, (int)drain_ms);
		if (err)
			fprintf(stderr, "loadgen: not drained within %" PRIu64 " ms\n", drain_ms);
	}
	if (!file)
		sink_kafka__stats(sink, &ks);
	sink__stats(sink, &ss);
	sink__close(sink); /* flush, purge to the spool */
	if (!file) {
		uint64_t after = 0;

		/* What close left for the next run: the spool's records, counted from disk. */
		if (ko.spool_dir) {
			struct spool_opts so = {.dir = ko.spool_dir};
			struct spool_stats st;
			struct spool *sp;

			if (!spool__open(&sp, &so)) {
				spool__stats(sp, &st);
				after = st.records;
				spool__close(sp);
			}
		}
		fprintf(stderr,
			"loadgen: written=%" PRIu64 " first_id=%" PRIu64 " last_id=%" PRIu64
			" delivered=%" PRIu64 " spooled=%" PRIu64 " replayed=%" PRIu64 " dropped="
			"%" PRIu64 " gap_events=%" PRIu64 " gap_lost=%" PRIu64 " spool_after_close="
			"%" PRIu64 " queue_full=%" PRIu64 " delivery_errors=%" PRIu64
			" spool_records=%" PRIu64 " spool_corrupt=%" PRIu64 " spool_torn=%" PRIu64
			" in_flight=%" PRIu64 " elapsed_ms=%" PRIu64 " terminated=%d\n",
			written, first_id, last_id, ks.delivered, ks.spooled, ks.replayed,
			ks.dropped, ks.gap_events, ks.gap_lost, after, ks.queue_full,
			ks.delivery_errors, ks.spool.records, ks.spool.corrupt, ks.spool.torn,
			ks.in_flight, (mono_ns() - t0) / 1000000, (int)terminated);
	} else {
		fprintf(stderr,
			"loadgen: written=%" PRIu64 " first_id=%" PRIu64 " last_id=%" PRIu64
			" delivered=%" PRIu64 " dropped=%" PRIu64 " elapsed_ms=%" PRIu64 "\n",
			written, first_id, last_id, ss.delivered, ss.dropped,
			(mono_ns() - t0) / 1000000);
	}
	metrics__free(metrics);
	free(buf);
	free(ctx);
	return 0;
}
