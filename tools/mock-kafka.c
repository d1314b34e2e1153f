// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch-mock-kafka: a Kafka cluster for tests, from librdkafka's mock cluster
 * (<librdkafka/rdkafka_mock.h>), with fault injection from stdin or a FIFO.
 *
 * The first line on stdout is the bootstrap list (host:port,...), then "ready". Each command
 * is answered with one line, "ok ..." or "error: ...". It runs until `quit`, SIGTERM or SIGINT.
 * End of input on stdin does not stop it (run it with </dev/null and drive it with --control).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_TOPICS 64

static const char usage[] =
	"Usage: agentwatch-mock-kafka [OPTIONS]\n"
	"\n"
	"Start a mock Kafka cluster on 127.0.0.1 (librdkafka's mock brokers) and print its\n"
	"bootstrap list as the first line on stdout.\n"
	"\n"
	"Options:\n"
	"  --brokers N            brokers, ids 1..N (default 3)\n"
	"  --topic NAME:PARTS     create a topic (repeatable; replication min(3, N))\n"
	"  --control PATH         read commands from the FIFO at PATH (created if absent)\n"
	"                         instead of stdin\n"
	"  -h, --help             this text\n"
	"\n"
	"Commands (one a line):\n"
	"  down all|ID            disconnect the broker(s) and refuse connections\n"
	"  up all|ID              accept connections again\n"
	"  rtt all|ID MS          delay every response by MS milliseconds\n"
	"  error APIKEY ERR COUNT fail the next COUNT requests of APIKEY with ERR\n"
	"  error TOPIC APIKEY ERR COUNT\n"
	"                         set TOPIC's error in Metadata responses (APIKEY must be\n"
	"                         Metadata/3; COUNT is ignored; ERR 0 clears it)\n"
	"  clear APIKEY           drop the pending errors of APIKEY\n"
	"  topic NAME:PARTS       create a topic\n"
	"  quit                   stop\n"
	"APIKEY: a number or a name (Produce, Fetch, ListOffsets, Metadata, OffsetCommit,\n"
	"OffsetFetch, FindCoordinator, JoinGroup, Heartbeat, ApiVersions, InitProducerId).\n"
	"ERR: a number or librdkafka's name without the prefix (NOT_LEADER_FOR_PARTITION,\n"
	"REQUEST_TIMED_OUT, _TRANSPORT for a disconnect).\n"
	"\n"
	"Mock quirks: the mock does not enforce idempotent producer sequences (prove no loss\n"
	"with your own ids); a consumer group rejoin waits for session.timeout.ms (set it low);\n"
	"Metadata requests create unknown topics (4 partitions); each partition keeps only 5 MiB\n"
	"(or 100000 batches) and drops the oldest beyond that, which looks like loss.\n"
	"\n"
	"EXAMPLES\n"
	"  mkfifo /tmp/kctl; agentwatch-mock-kafka --brokers 3 --topic aw:4 --control /tmp/kctl "
	"\\\n"
	"      </dev/null >/tmp/kafka.out &\n"
	"  echo 'down all' >/tmp/kctl; sleep 30; echo 'up all' >/tmp/kctl; echo quit >/tmp/kctl\n";

static rd_kafka_mock_cluster_t *mc;
static int n_brokers = 3;

static void reply(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static const struct {
	const char *name;
	int key;
} api_keys[] = {
	{"Produce", 0},		{"Fetch", 1},	    {"ListOffsets", 2},	     {"Metadata", 3},
	{"OffsetCommit", 8},	{"OffsetFetch", 9}, {"FindCoordinator", 10}, {"JoinGroup", 11},
	{"Heartbeat", 12},	{"LeaveGroup", 13}, {"SyncGroup", 14},	     {"ApiVersions", 18},
	{"InitProducerId", 22},
};

static int parse_int(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < -2147483647 || v > 2147483647)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static int parse_api_key(const char *s, int *out)
{
	size_t i;

	if (!parse_int(s, out))
		return 0;
	for (i = 0; i < sizeof(api_keys) / sizeof(api_keys[0]); i++) {
		if (!strcasecmp(s, api_keys[i].name)) {
			*out = api_keys[i].key;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_err(const char *s, rd_kafka_resp_err_t *out)
{
	const struct rd_kafka_err_desc *descs;
	size_t n, i;
	int v;

	if (!parse_int(s, &v)) {
		*out = (rd_kafka_resp_err_t)v;
		return 0;
	}
	if (!strncmp(s, "RD_KAFKA_RESP_ERR_", 18))
		s += 18;
	else if (!strncmp(s, "ERR_", 4))
		s += 4;
	rd_kafka_get_err_descs(&descs, &n);
	for (i = 0; i < n; i++) {
		if (descs[i].name && !strcasecmp(descs[i].name, s)) {
			*out = descs[i].code;
			return 0;
		}
	}
	return -EINVAL;
}

/* "all" -> -1, else a broker id 1..N. */
static int parse_broker(const char *s, int *out)
{
	if (!strcmp(s, "all")) {
		*out = -1;
		return 0;
	}
	if (parse_int(s, out) || *out < 1 || *out > n_brokers)
		return -EINVAL;
	return 0;
}

static int create_topic(const char *spec)
{
	char name[256];
	const char *colon = strrchr(spec, ':');
	int parts = 4;
	size_t n;

	n = colon ? (size_t)(colon - spec) : strlen(spec);
	if (!n || n >= sizeof(name) || (colon && (parse_int(colon + 1, &parts) || parts < 1)))
		return -EINVAL;
	memcpy(name, spec, n);
	name[n] = '\0';
	return rd_kafka_mock_topic_create(mc, name, parts, n_brokers < 3 ? n_brokers : 3) ? -EIO
											  : 0;
}

/* Run one command line; returns 1 on quit. */
static int command(char *line)
{
	char *argv[8], *save = NULL, *tok;
	rd_kafka_resp_err_t err;
	int argc = 0, id, v, key, cnt;

	for (tok = strtok_r(line, " \t\r", &save); tok && argc < 8;
	     tok = strtok_r(NULL, " \t\r", &save))
		argv[argc++] = tok;
	if (!argc || argv[0][0] == '#')
		return 0;
	if (!strcmp(argv[0], "quit")) {
		reply("ok quit");
		return 1;
	}
	if ((!strcmp(argv[0], "down") || !strcmp(argv[0], "up")) && argc == 2) {
		if (parse_broker(argv[1], &id))
			goto bad;
		err = argv[0][0] == 'd' ? rd_kafka_mock_broker_set_down(mc, id)
					: rd_kafka_mock_broker_set_up(mc, id);
		if (err)
			return reply("error: %s", rd_kafka_err2str(err)), 0;
		reply("ok %s %s", argv[0], argv[1]);
		return 0;
	}
	if (!strcmp(argv[0], "rtt") && argc == 3) {
		if (parse_broker(argv[1], &id) || parse_int(argv[2], &v) || v < 0)
			goto bad;
		err = rd_kafka_mock_broker_set_rtt(mc, id, v);
		if (err)
			return reply("error: %s", rd_kafka_err2str(err)), 0;
		reply("ok rtt %s %d", argv[1], v);
		return 0;
	}
	if (!strcmp(argv[0], "error") && (argc == 4 || argc == 5)) {
		int a = argc - 3; /* index of APIKEY */

		if (parse_api_key(argv[a], &key) || parse_err(argv[a + 1], &err) ||
		    parse_int(argv[a + 2], &cnt) || cnt < 0)
			goto bad;
		if (argc == 5) {
			if (key != 3)
				return reply("error: a topic's error applies to Metadata (3) only"),
				       0;
			rd_kafka_mock_topic_set_error(mc, argv[1], err);
			reply("ok error %s Metadata %s", argv[1], rd_kafka_err2name(err));
			return 0;
		}
		if (cnt) {
			rd_kafka_resp_err_t *errs = calloc((size_t)cnt, sizeof(*errs));

			if (!errs)
				return reply("error: out of memory"), 0;
			for (v = 0; v < cnt; v++)
				errs[v] = err;
			rd_kafka_mock_push_request_errors_array(mc, (int16_t)key, (size_t)cnt,
								errs);
			free(errs);
		}
		reply("ok error %d %s x%d", key, rd_kafka_err2name(err), cnt);
		return 0;
	}
	if (!strcmp(argv[0], "clear") && argc == 2) {
		if (parse_api_key(argv[1], &key))
			goto bad;
		rd_kafka_mock_clear_request_errors(mc, (int16_t)key);
		reply("ok clear %d", key);
		return 0;
	}
	if (!strcmp(argv[0], "topic") && argc == 2) {
		if (create_topic(argv[1]))
			goto bad;
		reply("ok topic %s", argv[1]);
		return 0;
	}
bad:
	reply("error: bad command '%s' (see --help)", argv[0]);
	return 0;
}

static int open_control(const char *path)
{
	struct stat st;

	if (stat(path, &st)) {
		if (mkfifo(path, 0600)) {
			fprintf(stderr, "mock-kafka: mkfifo %s: %s\n", path, strerror(errno));
			return -1;
		}
	} else if (!S_ISFIFO(st.st_mode)) {
		fprintf(stderr, "mock-kafka: %s: not a FIFO\n", path);
		return -1;
	}
	/* Read-write: we hold a writer, so writers coming and going never give us EOF. */
	return open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	if (level <= 3 && getenv("AW_MOCK_KAFKA_DEBUG"))
		fprintf(stderr, "mock-kafka: %s: %s\n", fac, buf);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"brokers", required_argument, NULL, 'b'},
		{"topic", required_argument, NULL, 't'},
		{"control", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	const char *topics[MAX_TOPICS], *control = NULL;
	char errstr[256], buf[4096];
	int n_topics = 0, c, i, in_fd = STDIN_FILENO, sfd, quit = 0;
	size_t used = 0;
	rd_kafka_conf_t *conf;
	struct pollfd pfd[2];
	rd_kafka_t *rk;
	sigset_t mask;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (parse_int(optarg, &n_brokers) || n_brokers < 1 || n_brokers > 32) {
				fprintf(stderr, "mock-kafka: --brokers: 1..32\n");
				return 2;
			}
			break;
		case 't':
			if (n_topics == MAX_TOPICS) {
				fprintf(stderr, "mock-kafka: too many topics\n");
				return 2;
			}
			topics[n_topics++] = optarg;
			break;
		case 'c':
			control = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}

	/* Blocked before librdkafka starts its threads, so that only signalfd sees them. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);

	conf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(conf, on_log);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "mock-kafka: %s\n", errstr);
		return 1;
	}
	mc = rd_kafka_mock_cluster_new(rk, n_brokers);
	if (!mc) {
		fprintf(stderr, "mock-kafka: could not start the mock cluster\n");
		rd_kafka_destroy(rk);
		return 1;
	}
	for (i = 0; i < n_topics; i++) {
		if (create_topic(topics[i])) {
			fprintf(stderr, "mock-kafka: --topic %s: expected NAME:PARTITIONS\n",
				topics[i]);
			quit = 2;
		}
	}
	if (control) {
		in_fd = open_control(control);
		if (in_fd < 0)
			quit = 1;
	}
	if (!quit) {
		printf("%s\nready\n", rd_kafka_mock_cluster_bootstraps(mc));
		fflush(stdout);
	}

	pfd[0] = (struct pollfd){.fd = in_fd, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
	while (!quit) {
		ssize_t n;
		char *nl;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents & POLLIN)
			break;
		if (!(pfd[0].revents & (POLLIN | POLLHUP)))
			continue;
		n = read(in_fd, buf + used, sizeof(buf) - 1 - used);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			pfd[0].fd = -1; /* stdin ended: keep serving until a signal */
			continue;
		}
		used += (size_t)n;
		buf[used] = '\0';
		while (!quit && (nl = strchr(buf, '\n'))) {
			*nl = '\0';
			quit = command(buf);
			used -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, used + 1);
		}
		if (used == sizeof(buf) - 1) {
			reply("error: line too long");
			used = 0;
		}
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	if (control && in_fd >= 0)
		close(in_fd);
	return quit == 2 ? 2 : 0;
}
