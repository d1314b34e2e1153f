// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch-bench-detect: the detector's stage-1 throughput on one core, and its memory as
 * the fleet grows.
 *
 * Throughput: a mix of agentwatch-shaped OCSF lines (75% opens, 10% execs, 5% connects, 10%
 * exits, ~1.1 KB each like the encoder's, over 200 agents) is parsed, classified and run through
 * stage 1, feature observations included (into a counting sink), for a few seconds, pinned to
 * the CPU it starts on. Baseline in the same run: the same lines through json-c's tokener,
 * parse only (what the detector would cost with json-c before any detection). The ratio is the
 * figure to compare across machines.
 *
 * Memory: stage 1 and stage 2 fed 60 events per agent for 100, 1 000 and 10 000 agents, with
 * the engine's own accounting (detect_stage1__memory, detect_stage2__memory) and the process's
 * resident set growth.
 *
 * RESULT lines are for tests/bench/run.sh (`make bench`).
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "detect.h"

#define N_LINES	 4096
#define LINE_MAX 4096
#define SECONDS	 2.0

static char *lines[N_LINES];
static size_t lens[N_LINES];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ULL;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static const char head[] = "\"severity_id\":1,\"severity\":\"Informational\",\"action_id\":1,"
			   "\"action\":\"Allowed\","
			   "\"disposition_id\":1,\"disposition\":\"Allowed\",\"time\":%llu,"
			   "\"metadata\":{\"version\":"
			   "\"1.8.0\",\"product\":{\"name\":\"agentwatch\",\"vendor_name\":"
			   "\"agentwatch\",\"version\":"
			   "\"0.1.0\"},\"profiles\":[\"host\",\"security_control\"],\"uid\":\"%"
			   "llu\"},\"device\":"
			   "{\"type_id\":0,\"hostname\":\"node-%u\",\"uid\":"
			   "\"3d1219c7c4c5404aaa1f6d2a48adfda4\","
			   "\"boot_uid\":\"b60a4ab6-82ca-4715-b722-5fc9d142858b\",\"os\":{\"name\":"
			   "\"Linux\","
			   "\"type_id\":200,\"kernel_release\":\"6.1.0-18-amd64\"}},\"status_id\":"
			   "1,\"status\":"
			   "\"Success\",";
static const char tail[] = "\"unmapped\":{\"enforcement\":\"audit\",\"cgroup_id\":%u,\"ai_agent\":{"
			   "\"uid\":"
			   "\"0b7c6a52-3f7e-4a39-9d55-%012u\",\"instance_uid\":\"5e55-%08u\","
			   "\"name\":\"%s\"}%s}}";

static int make_line(char *buf, size_t size, uint32_t agents, uint64_t t, uint64_t id)
{
	static const char *const kinds[] = {"claude-code", "codex", "aider"};
	static const char *const bins[] = {"/usr/bin/git",  "/usr/bin/python3", "/usr/bin/grep",
					   "/usr/bin/node", "/usr/bin/make",	"/usr/bin/tar"};
	uint32_t a = rnd(agents), k = rnd(100);
	char h[1024], body[1800], un[96];
	int n;

	snprintf(h, sizeof(h), head, (unsigned long long)t, (unsigned long long)id, a / 16);
	un[0] = '\0';
	if (k < 75) {
		snprintf(body, sizeof(body),
			 "\"activity_id\":14,\"activity_name\":\"Open\",\"category_uid\":1,"
			 "\"category_name\":\"System Activity\",\"class_uid\":1001,\"class_name\":"
			 "\"File System Activity\",\"type_uid\":100114,\"type_name\":\"File System "
			 "Activity: Open\",%s\"actor\":{\"process\":{\"pid\":%u,\"uid\":"
			 "\"5550590214016752\",\"name\":\"python3\",\"user\":{\"uid\":\"1000\"}}},"
			 "\"file\":{\"type_id\":1,\"name\":\"mod%u.py\",\"path\":\"/home/dev%u/src/"
			 "repo/pkg/mod%u.py\",\"parent_folder\":\"/home/dev%u/src/repo/"
			 "pkg\",\"uid\":"
			 "\"254:0:%u\"},\"access_mask\":557056,",
			 h, 1000 + a, k, a, rnd(500), a, rnd(1000000));
		snprintf(un, sizeof(un), ",\"access\":[\"read\"],\"source\":\"tracepoint\"");
	} else if (k < 85) {
		const char *b = bins[rnd(6)];

		snprintf(body, sizeof(body),
			 "\"activity_id\":1,\"activity_name\":\"Launch\",\"category_uid\":1,"
			 "\"category_name\":\"System Activity\",\"class_uid\":1007,\"class_name\":"
			 "\"Process Activity\",\"type_uid\":100701,\"type_name\":\"Process "
			 "Activity: "
			 "Launch\",%s\"actor\":{\"process\":{\"pid\":%u}},\"process\":{\"pid\":%u,"
			 "\"uid\":\"5550590214016752\",\"name\":\"x\",\"cmd_line\":\"%s --flag "
			 "value "
			 "%u\",\"file\":{\"type_id\":1,\"name\":\"x\",\"path\":\"%s\",\"parent_"
			 "folder\":"
			 "\"/usr/bin\",\"uid\":\"254:0:%u\"},\"user\":{\"uid\":\"1000\"},"
			 "\"working_directory\":\"/home/dev%u/src/repo\"},\"launch_type_id\":3,"
			 "\"launch_type\":\"Exec\",",
			 h, 1000 + a, 2000 + a, b, rnd(50), b, rnd(1000), a);
	} else if (k < 90) {
		snprintf(body, sizeof(body),
			 "\"activity_id\":1,\"activity_name\":\"Open\",\"category_uid\":4,"
			 "\"category_name\":\"Network Activity\",\"class_uid\":4001,\"class_name\":"
			 "\"Network Activity\",\"type_uid\":400101,\"type_name\":\"Network "
			 "Activity: "
			 "Open\",%s\"actor\":{\"process\":{\"pid\":%u,\"name\":\"curl\"}},"
			 "\"dst_endpoint\":{\"ip\":\"140.82.112.%u\",\"port\":443},\"connection_"
			 "info\":"
			 "{\"protocol_name\":\"tcp\",\"protocol_num\":6,\"protocol_ver_id\":4,"
			 "\"direction_id\":2},",
			 h, 1000 + a, rnd(8));
		snprintf(un, sizeof(un), ",\"source\":\"cgroup\"");
	} else {
		snprintf(body, sizeof(body),
			 "\"activity_id\":2,\"activity_name\":\"Terminate\",\"category_uid\":1,"
			 "\"category_name\":\"System Activity\",\"class_uid\":1007,\"class_name\":"
			 "\"Process Activity\",\"type_uid\":100702,\"type_name\":\"Process "
			 "Activity: "
			 "Terminate\",%s\"actor\":{\"process\":{\"pid\":%u}},\"process\":{\"pid\":%"
			 "u,"
			 "\"name\":\"x\",\"terminated_time\":%llu},\"exit_code\":0,",
			 h, 1000 + a, 1000 + a, (unsigned long long)t);
	}
	n = snprintf(buf, size, "{%s", body);
	n += snprintf(buf + n, size - (size_t)n, tail, 5000 + a, a, a, kinds[a % 3], un);
	return n;
}

static void make_lines(uint32_t agents, uint64_t t0)
{
	uint32_t i;

	for (i = 0; i < N_LINES; i++) {
		if (!lines[i])
			lines[i] = malloc(LINE_MAX);
		lens[i] = (size_t)make_line(lines[i], LINE_MAX, agents, t0 + i * 5ULL, i + 1);
	}
}

static uint64_t obs_count;

static int count_obs(void *ctx, const struct detect_obs *o)
{
	obs_count++;
	return 0;
}

static int count_finding(void *ctx, const struct detect_finding *f)
{
	return 0;
}

static char scratch[1 << 16];

/* Events per second through parse + classify + stage 1. */
static double bench_stage1(uint64_t *n_out)
{
	struct detect_config cfg;
	struct detect_stats st = {0};
	struct detect_sink sink = {.finding = count_finding, .obs = count_obs};
	struct detect_stage1 *s1;
	struct detect_event ev;
	uint64_t n = 0, t = 1790000000000ULL;
	double start, el;
	uint32_t i;

	detect_config__defaults(&cfg);
	s1 = detect_stage1__new(&cfg);
	start = now_s();
	do {
		for (i = 0; i < N_LINES; i++) {
			if (detect_input__parse(lines[i], lens[i], &ev, scratch, sizeof(scratch)) ||
			    detect_event__classify(&ev))
				continue;
			ev.time_ms = t + n; /* time moves on, as a stream's does */
			n++;
			if (ev.type != DETECT_EV_IGNORED)
				detect_stage1__event(s1, &ev, &sink, &st);
		}
		el = now_s() - start;
	} while (el < SECONDS);
	detect_stage1__free(s1);
	*n_out = n;
	return (double)n / el;
}

static double bench_parse_only(void)
{
	struct detect_event ev;
	uint64_t n = 0;
	double start = now_s(), el;
	uint32_t i;

	do {
		for (i = 0; i < N_LINES; i++, n++)
			detect_input__parse(lines[i], lens[i], &ev, scratch, sizeof(scratch));
		el = now_s() - start;
	} while (el < SECONDS);
	return (double)n / el;
}

static double bench_json_c(void)
{
	json_tokener *tok = json_tokener_new();
	uint64_t n = 0;
	double start = now_s(), el;
	uint32_t i;

	do {
		for (i = 0; i < N_LINES; i++, n++) {
			json_object *o;

			json_tokener_reset(tok);
			o = json_tokener_parse_ex(tok, lines[i], (int)lens[i]);
			json_object_put(o);
		}
		el = now_s() - start;
	} while (el < SECONDS);
	json_tokener_free(tok);
	return (double)n / el;
}

static long rss_kb(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

struct fwd {
	struct detect_stage2 *s2;
	struct detect_stats *st;
};

static int fwd_obs(void *ctx, const struct detect_obs *o)
{
	struct fwd *f = ctx;
	struct detect_sink none = {.finding = count_finding};

	return detect_stage2__obs(f->s2, o, &none, f->st);
}

static void bench_memory(uint32_t agents)
{
	struct detect_config cfg;
	struct detect_stats st = {0};
	struct detect_stage1 *s1;
	struct detect_stage2 *s2;
	struct fwd fw;
	struct detect_sink sink = {.ctx = &fw, .finding = count_finding, .obs = fwd_obs};
	struct detect_event ev;
	char line[LINE_MAX];
	long before = rss_kb();
	uint64_t i, n = (uint64_t)agents * 60;
	size_t m1, m2;

	detect_config__defaults(&cfg);
	s1 = detect_stage1__new(&cfg);
	s2 = detect_stage2__new(&cfg);
	fw.s2 = s2;
	fw.st = &st;
	for (i = 0; i < n; i++) {
		int len = make_line(line, sizeof(line), agents, 1790000000000ULL + i * 20, i + 1);

		if (detect_input__parse(line, (size_t)len, &ev, scratch, sizeof(scratch)) ||
		    detect_event__classify(&ev) || ev.type == DETECT_EV_IGNORED)
			continue;
		detect_stage1__event(s1, &ev, &sink, &st);
	}
	m1 = detect_stage1__memory(s1);
	m2 = detect_stage2__memory(s2);
	printf("RESULT detect_memory_stage1_%u_agents %.1f MiB agents=%u per_agent_bytes=%zu "
	       "rss_growth_mib=%.1f\n",
	       agents, m1 / 1048576.0, detect_stage1__agents(s1),
	       (m1 - detect_stage1__memory(detect_stage1__new(&cfg))) / detect_stage1__agents(s1),
	       (rss_kb() - before) / 1024.0);
	printf("RESULT detect_memory_stage2_%u_agents %.1f MiB features_tracked_bytes=%zu\n",
	       agents, m2 / 1048576.0, m2);
	detect_stage1__free(s1);
	detect_stage2__free(s2);
}

int main(int argc, char **argv)
{
	cpu_set_t set;
	double jc, parse, s1;
	uint64_t n;
	int cpu = sched_getcpu();
	size_t i, bytes = 0;

	if (cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	make_lines(200, 1790000000000ULL);
	for (i = 0; i < N_LINES; i++)
		bytes += lens[i];
	jc = bench_json_c();
	parse = bench_parse_only();
	s1 = bench_stage1(&n);
	printf("# %zu-byte lines on average, %llu events through stage 1, %llu observations\n",
	       bytes / N_LINES, (unsigned long long)n, (unsigned long long)obs_count);
	printf("RESULT detect_json_c_parse %.0f events/s\n", jc);
	printf("RESULT detect_parse %.0f events/s ratio=%.2f baseline=%.0f\n", parse, parse / jc,
	       jc);
	printf("RESULT detect_stage1 %.0f events/s ratio=%.2f baseline=%.0f goal=200000\n", s1,
	       s1 / jc, jc);
	bench_memory(100);
	bench_memory(1000);
	bench_memory(10000);
	for (i = 0; i < N_LINES; i++)
		free(lines[i]);
	return 0;
}
