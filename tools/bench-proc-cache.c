// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch-bench-proc-cache: how fast the process cache (user/proc_cache.c) absorbs the
 * exec/fork/exit stream and answers lookups, with a node-sized population of live processes.
 *
 * The mix models a busy node: each round forks a child of a random live process, execs it,
 * looks up a random live process (as every file or network event does), and ends a random live
 * process, so the live count stays constant and exited ones pile up as ghosts. In the same run
 * it times what a cache miss would cost instead: reading the binary and the parent from /proc.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proc_cache.h"

#define PID_MASK 0x3fffff /* pid_max on 64-bit */

static const char *const binaries[] = {
	"/usr/bin/bash",	 "/usr/bin/python3.11", "/usr/bin/git",
	"/usr/bin/node",	 "/usr/local/bin/uv",	"/usr/bin/grep",
	"/usr/bin/sed",		 "/usr/bin/make",	"/usr/bin/cc1",
	"/usr/bin/ld",		 "/usr/bin/curl",	"/usr/bin/ssh",
	"/usr/bin/rg",		 "/usr/bin/cat",	"/usr/lib/git-core/git",
	"/usr/local/bin/claude",
};
#define N_BINARIES (sizeof(binaries) / sizeof(binaries[0]))

static __u64 rng_state = 0x9e3779b97f4a7c15ULL;

static __u64 rng(void)
{
	/* xorshift64*: a few ns, so it does not dominate what is measured */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct proc_info exec_info(__u32 tgid, __u32 ppid, __u64 exec_id, __u64 start_ns)
{
	const char *path = binaries[rng() % N_BINARIES];

	return (struct proc_info){
		.tgid = tgid,
		.ppid = ppid,
		.agent_slot = 1,
		.exec_id = exec_id,
		.start_ns = start_ns,
		.path = path,
		.path_len = strlen(path),
	};
}

/* What a cache miss costs: the binary and the parent, from /proc. */
static double bench_proc_baseline(long n)
{
	char exe[4096], stat[1024];
	double t0 = now();
	long i;

	for (i = 0; i < n; i++) {
		int fd;

		if (readlink("/proc/self/exe", exe, sizeof(exe)) < 0)
			return -1;
		fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		if (read(fd, stat, sizeof(stat)) < 0) {
			close(fd);
			return -1;
		}
		close(fd);
	}
	return (double)n / (now() - t0);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: agentwatch-bench-proc-cache [--live N] [--capacity N] [--rounds N]\n"
		   "\n"
		   "Times the process cache on a fork/exec/lookup/exit mix with N live processes\n"
		   "(default 10000, capacity 16384, 2000000 rounds of 4 operations), then lookups\n"
		   "and ancestry walks alone, then the /proc reads a cache miss would cost.\n"
		   "\n"
		   "EXAMPLES\n"
		   "  agentwatch-bench-proc-cache\n"
		   "  agentwatch-bench-proc-cache --live 100000 --capacity 131072\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"live", required_argument, NULL, 'l'},
		{"capacity", required_argument, NULL, 'c'},
		{"rounds", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	long live = 10000, capacity = 16384, rounds = 2000000, i;
	struct proc_cache_stats st;
	const char *paths[8];
	struct proc_cache *c;
	__u32 *alive, next_pid;
	double t0, mix, lookups, walks, base;
	long depth_sum = 0;
	int opt;

	while ((opt = getopt_long(argc, argv, "l:c:r:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			live = strtol(optarg, NULL, 0);
			break;
		case 'c':
			capacity = strtol(optarg, NULL, 0);
			break;
		case 'r':
			rounds = strtol(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (live < 1 || capacity <= live || rounds < 1 || live > PID_MASK / 2) {
		fprintf(stderr, "bench-proc-cache: need 1 <= live < capacity, rounds >= 1\n");
		return 2;
	}

	c = proc_cache__new((size_t)capacity);
	alive = calloc((size_t)live, sizeof(*alive));
	if (!c || !alive) {
		fprintf(stderr, "bench-proc-cache: %s\n", strerror(errno ? errno : ENOMEM));
		return 1;
	}

	/* The population: a tree in which each process's parent is an earlier one. */
	for (i = 0; i < live; i++) {
		struct proc_info in = exec_info((__u32)(i + 2), i ? alive[rng() % (__u64)i] : 1,
						(__u64)i + 1, (__u64)i + 1);

		alive[i] = (__u32)(i + 2);
		if (proc_cache__insert(c, &in)) {
			fprintf(stderr, "bench-proc-cache: insert failed\n");
			return 1;
		}
	}
	next_pid = (__u32)(live + 2);

	t0 = now();
	for (i = 0; i < rounds; i++) {
		__u64 r = rng();
		long pi = (long)(r % (__u64)live), xi = (long)((r >> 32) % (__u64)live);
		__u32 parent = alive[pi], child = next_pid;
		__u64 start = (__u64)(live + i + 1);
		struct proc_info in;

		next_pid = (next_pid + 1) & PID_MASK;
		if (next_pid < 2)
			next_pid = 2;
		proc_cache__on_fork(c, parent, child, 1, start);
		in = exec_info(child, parent, start << 8, start);
		proc_cache__on_exec(c, &in);
		if (!proc_cache__lookup(c, alive[(pi + 1) % live])) {
			fprintf(stderr, "bench-proc-cache: live process %u missing\n",
				alive[(pi + 1) % live]);
			return 1;
		}
		/* A random live process ends and the child takes its place. */
		proc_cache__on_exit(c, alive[xi]);
		alive[xi] = child;
	}
	mix = (double)rounds * 4 / (now() - t0);

	t0 = now();
	for (i = 0; i < rounds; i++)
		if (!proc_cache__lookup(c, alive[rng() % (__u64)live]))
			return 1;
	lookups = (double)rounds / (now() - t0);

	t0 = now();
	for (i = 0; i < rounds; i++)
		depth_sum += proc_cache__ancestry(c, alive[rng() % (__u64)live], paths, 8);
	walks = (double)rounds / (now() - t0);

	base = bench_proc_baseline(rounds / 20 > 20000 ? 20000 : rounds / 20 + 1);

	proc_cache__stats(c, &st);
	printf("proc_cache: %.0f ops/s (fork+exec+lookup+exit, %ld live, capacity %ld)\n", mix,
	       live, capacity);
	printf("proc_cache lookup: %.0f ops/s\n", lookups);
	printf("proc_cache ancestry: %.0f walks/s (mean depth %.2f, max 8)\n", walks,
	       (double)depth_sum / (double)rounds);
	if (base > 0)
		printf("baseline /proc read (readlink exe + read stat): %.0f ops/s; a lookup is "
		       "%.0fx faster\n",
		       base, lookups / base);
	/* The baseline: what each event would cost without the cache, reading /proc. */
	printf("RESULT proc_cache.lookup_rate %.0f lookups/s ratio=%.1f baseline=%.0f\n", lookups,
	       base > 0 ? lookups / base : 0.0, base);
	printf("RESULT proc_cache.churn_rate %.0f ops/s ratio=%.1f baseline=%.0f live=%ld\n", mix,
	       base > 0 ? mix / base : 0.0, base, live);
	printf("RESULT proc_cache.ancestry_rate %.0f walks/s ratio=%.1f baseline=%.0f\n", walks,
	       base > 0 ? walks / base : 0.0, base);
	printf("stats: live %zu ghosts %zu evictions %llu reclaimed %llu replaced %llu\n", st.live,
	       st.exited, (unsigned long long)st.evictions, (unsigned long long)st.reclaimed,
	       (unsigned long long)st.replaced);
	free(alive);
	proc_cache__free(c);
	return 0;
}
