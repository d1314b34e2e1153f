// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch-bench-policy: how long the policy compiler takes (YAML parse + compile into an
 * image, user/policy_image.h) for 10, 1 000 and 100 000 rules, and what one reference-matcher
 * decision costs at each size. The goal: 100 000 rules compile in well under a second (the
 * load into the kernel's maps comes on top), and a decision costs the same whatever the rule
 * count, as in the kernel: lookups per path level and name length, never per rule.
 *
 * Rules are generated in a realistic mix: 70% file rules over every pattern kind (exact
 * files, subtrees, name prefixes and suffixes, names below a directory), 10% exec rules with
 * parent binaries, 20% network rules (/24s and /32s, with ports). Queries are paths and
 * addresses of the same shape, a quarter of them matching a rule.
 *
 * Prints RESULT lines (tests/bench/run.sh): compile times with ratio = time / 1 s goal, and
 * decision costs with ratio = cost / cost at 10 rules. The decisions here are the userspace
 * reference matcher's (policy_image__decide_*, what `rules explain` uses), named
 * policy.reference_decision.*; the kernel matcher's, the acceptance figures, are
 * policy.kernel_decision.* of agentwatch-bench-policy-kernel. Both look keys up in hash tables
 * a fixed number of times per decision; what grows with the rule count is the tables' memory,
 * so 200 000 distinct queries miss the CPU caches more often at 100 k rules.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "policy.h"
#include "policy_image.h"

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned long long rng(void)
{
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

/* Rule i of the generated policy: distinct keys, so no key needs more than the kernel reads. */
static void rule_yaml(FILE *f, long i)
{
	long d = i / 16, k = i % 10;
	const char *act = i % 3 ? "deny" : i % 5 ? "allow" : "audit";

	if (k < 7) {
		switch (i % 7) {
		case 0:
			fprintf(f, "    - {name: f%ld, path: /srv/t%ld/d%ld/file%ld, action: %s}\n",
				i, i % 64, d, i, act);
			break;
		case 1:
			fprintf(f,
				"    - {name: f%ld, path: \"/srv/t%ld/s%ld/**\", access: [read], "
				"action: %s}\n",
				i, i % 64, i, act);
			break;
		case 2:
			fprintf(f, "    - {name: f%ld, path: \"${HOME}/p%ld/id_*\", action: %s}\n",
				i, i, act);
			break;
		case 3:
			fprintf(f,
				"    - {name: f%ld, path: \"/srv/t%ld/x%ld/*.pem\", action: %s}\n",
				i, i % 64, i, act);
			break;
		case 4:
			fprintf(f,
				"    - {name: f%ld, path: \"${WORKSPACE}/u%ld/**/.env*\", except: "
				"[\"${WORKSPACE}/u%ld/ok/**\"], action: %s}\n",
				i, i, i, act);
			break;
		case 5:
			fprintf(f,
				"    - {name: f%ld, path: /opt/a%ld/config, binaries: {except: "
				"[/usr/bin/ssh, /usr/bin/git]}, action: %s}\n",
				i, i, act);
			break;
		default:
			fprintf(f,
				"    - {name: f%ld, path: \"/var/lib/v%ld/*\", access: [write, "
				"create], action: %s}\n",
				i, i, act);
		}
	} else if (k < 8) {
		fprintf(f,
			"    - {name: e%ld, path: /usr/libexec/b%ld/tool, parent: {only: "
			"[/usr/bin/python3]}, action: %s}\n",
			i, i, act);
	} else if (i % 2) {
		fprintf(f,
			"    - {name: n%ld, cidr: 10.%ld.%ld.0/24, ports: [22, \"8000-8999\"], "
			"action: %s}\n",
			i, (i >> 8) & 255, i & 255, act);
	} else {
		fprintf(f,
			"    - {name: n%ld, cidr: 172.%ld.%ld.%ld/32, protocol: tcp, action: %s}\n",
			i, 16 + ((i >> 16) & 15), (i >> 8) & 255, i & 255, act);
	}
}

static char *policy_text(long rules, size_t *len)
{
	static const char *const lists[] = {"files", "exec", "network"};
	char *out = NULL;
	FILE *f = open_memstream(&out, len);

	if (!f)
		return NULL;
	fprintf(f, "apiVersion: agentwatch.dev/v1\nkind: AgentPolicy\nmetadata: {name: bench}\n"
		   "spec:\n  defaults: {files: allow, exec: audit, network: audit}\n");
	/* one list at a time: the generator's kinds land in their lists */
	for (int l = 0; l < 3; l++) {
		fprintf(f, "  %s:\n", lists[l]);
		for (long i = 0; i < rules; i++) {
			long k = i % 10;

			if ((l == 0 && k < 7) || (l == 1 && k == 7) || (l == 2 && k >= 8))
				rule_yaml(f, i);
		}
	}
	fclose(f);
	return out;
}

static const struct policy_agent agent = {
	.name = "bench",
	.home = "/home/ada",
	.workspace = "/work/proj",
	.slot = 1,
};

/* Parse + compile once; the image is returned when img is not NULL. */
static double compile_once(const char *text, size_t len, struct policy_collection *c,
			   struct policy_image **img)
{
	struct policy_errors errs = {0};
	struct policy_image *im;
	double t0 = now(), t;
	int ret;

	policy_collection__init(c);
	ret = policy_collection__parse(c, "bench.yaml", text, len, &errs);
	im = policy_image__new();
	if (!ret && im)
		ret = policy_image__compile(im, c, 1, &agent, &errs);
	t = now() - t0;
	if (ret || errs.n) {
		policy_errors__print(&errs, stderr);
		fprintf(stderr, "bench-policy: compile failed: %d\n", ret);
		exit(1);
	}
	policy_errors__free(&errs);
	if (img)
		*img = im;
	else {
		policy_image__free(im);
		policy_collection__free(c);
	}
	return t;
}

struct query {
	char path[96];
	__u8 addr[4];
	__u16 port;
};

/* A quarter of the queries hit rules of a `rules`-sized policy; the rest are look-alikes. */
static void make_queries(struct query *q, long n, long rules)
{
	for (long j = 0; j < n; j++) {
		long i = (long)(rng() % (unsigned long long)rules), hit = rng() % 4 == 0;

		switch (rng() % 6) {
		case 0:
			snprintf(q[j].path, sizeof(q[j].path), "/srv/t%ld/d%ld/file%ld", i % 64,
				 i / 16, hit ? i : i + 1);
			break;
		case 1:
			snprintf(q[j].path, sizeof(q[j].path), "/srv/t%ld/s%ld/a/b/c.txt", i % 64,
				 hit ? i : i + rules);
			break;
		case 2:
			snprintf(q[j].path, sizeof(q[j].path), "/home/ada/p%ld/%s", i,
				 hit ? "id_rsa" : "config");
			break;
		case 3:
			snprintf(q[j].path, sizeof(q[j].path), "/work/proj/u%ld/src/%s", i,
				 hit ? ".env" : "main.c");
			break;
		case 4:
			snprintf(q[j].path, sizeof(q[j].path),
				 "/usr/lib/x86_64-linux-gnu/libc.so.%ld", i % 7);
			break;
		default:
			snprintf(q[j].path, sizeof(q[j].path), "/var/lib/v%ld/data", i);
		}
		q[j].addr[0] = hit ? 10 : 11;
		q[j].addr[1] = (__u8)((i >> 8) & 255);
		q[j].addr[2] = (__u8)(i & 255);
		q[j].addr[3] = (__u8)(rng() & 255);
		q[j].port = rng() % 2 ? 22 : 443;
	}
}

/* ns per decision: files and connects, best of 3 passes. */
static void decide_cost(const struct policy_image *img, long rules, long n, double *file_ns,
			double *net_ns)
{
	struct query *q = calloc(n, sizeof(*q));
	struct policy_decision *d = malloc(sizeof(*d));
	long sink = 0;

	if (!q || !d) {
		fprintf(stderr, "bench-policy: out of memory\n");
		exit(1);
	}
	rng_state = 0x9e3779b97f4a7c15ULL; /* the same queries for every size */
	make_queries(q, n, rules);
	*file_ns = *net_ns = 1e18;
	for (int pass = 0; pass < 3; pass++) {
		double t0 = now(), t;

		for (long j = 0; j < n; j++) {
			policy_image__decide_file(img, 1, q[j].path, AW_ACC_READ, "/usr/bin/cat",
						  d);
			sink += d->verdict;
		}
		t = (now() - t0) * 1e9 / n;
		if (t < *file_ns)
			*file_ns = t;
		t0 = now();
		for (long j = 0; j < n; j++) {
			policy_image__decide_connect(img, 1, AF_INET, q[j].addr, q[j].port,
						     IPPROTO_TCP, d);
			sink += d->verdict;
		}
		t = (now() - t0) * 1e9 / n;
		if (t < *net_ns)
			*net_ns = t;
	}
	if (sink == 42)
		printf("#\n");
	free(q);
	free(d);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: agentwatch-bench-policy [--queries N]\n"
		   "\n"
		   "Times parse + compile of generated policies of 10, 1000 and 100000 rules "
		   "(best\n"
		   "of 3) and the reference matcher's decision cost at each size (N queries, "
		   "default\n"
		   "200000, best of 3 passes). Prints RESULT lines for make bench.\n"
		   "\n"
		   "EXAMPLES\n"
		   "  agentwatch-bench-policy\n"
		   "  agentwatch-bench-policy --queries 1000000\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"queries", required_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	static const struct {
		long rules;
		const char *tag;
	} sizes[] = {{10, "10"}, {1000, "1k"}, {100000, "100k"}};
	double base_file = 0, base_net = 0;
	long queries = 200000;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'q') {
			queries = atol(optarg);
		} else {
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 64;
		}
	}
	if (queries < 1) {
		usage(stderr);
		return 64;
	}
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct policy_collection col;
		struct policy_image *img;
		double best = 1e9, file_ns, net_ns, t;
		size_t len;
		char *text = policy_text(sizes[s].rules, &len);

		if (!text)
			return 1;
		for (int run = 0; run < 3; run++) {
			t = compile_once(text, len, &col, NULL);
			if (t < best)
				best = t;
		}
		compile_once(text, len, &col, &img);
		decide_cost(img, sizes[s].rules, queries, &file_ns, &net_ns);
		if (s == 0) {
			base_file = file_ns;
			base_net = net_ns;
		}
		printf("RESULT policy_compile_%s %.2f ms ratio=%.4f baseline=1000 rules=%ld "
		       "file_keys=%zu net_prefixes=%zu yaml_bytes=%zu\n",
		       sizes[s].tag, best * 1e3, best, sizes[s].rules, img->n_files, img->n_nets,
		       len);
		printf("RESULT policy.reference_decision.file_%s %.1f ns ratio=%.2f baseline=%.1f "
		       "rules=%ld\n",
		       sizes[s].tag, file_ns, file_ns / base_file, base_file, sizes[s].rules);
		printf("RESULT policy.reference_decision.connect_%s %.1f ns ratio=%.2f "
		       "baseline=%.1f "
		       "rules=%ld\n",
		       sizes[s].tag, net_ns, net_ns / base_net, base_net, sizes[s].rules);
		fflush(stdout);
		policy_image__free(img);
		policy_collection__free(&col);
		free(text);
	}
	return 0;
}
