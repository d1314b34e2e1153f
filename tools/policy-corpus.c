// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch-policy-corpus: a random policy and queries with the reference matcher's decisions
 * (user/policy_corpus.h), for the differential test against the kernel matcher.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy_corpus.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: agentwatch-policy-corpus [--seed N] [--rules K] [--queries Q] [--out DIR]\n"
		"\n"
		"Writes DIR/corpus.yaml (two policies, K rules in all, default 200), "
		"DIR/queries.jsonl\n"
		"(Q queries, default 10000, each with the reference matcher's verdict and rule) "
		"and\n"
		"DIR/queries.txt (the same queries for agentwatch-policy-testrun). DIR defaults "
		"to\n"
		"build/policy-corpus. The agent: %s, HOME %s, WORKSPACE %s, slot 1.\n"
		"Same seed, same bytes.\n"
		"\n"
		"EXAMPLES\n"
		"  agentwatch-policy-corpus --seed 7 --rules 500 --queries 20000\n"
		"  sudo build/agentwatch-policy-testrun --agent %s --home %s --workspace %s \\\n"
		"      build/policy-corpus/corpus.yaml < build/policy-corpus/queries.txt\n",
		POLICY_CORPUS_AGENT, POLICY_CORPUS_HOME, POLICY_CORPUS_WORKSPACE,
		POLICY_CORPUS_AGENT, POLICY_CORPUS_HOME, POLICY_CORPUS_WORKSPACE);
}

static FILE *open_out(const char *dir, const char *name, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "agentwatch-policy-corpus: %s: %s\n", path, strerror(errno));
	return f;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"seed", required_argument, NULL, 's'},	   {"rules", required_argument, NULL, 'r'},
		{"queries", required_argument, NULL, 'q'}, {"out", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},	   {},
	};
	struct policy_corpus_opts o = {.seed = 1, .rules = 200, .queries = 10000};
	struct policy_corpus_stats st;
	const char *dir = "build/policy-corpus";
	char yaml_path[4096], path[4096];
	FILE *yaml, *jsonl, *txt;
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.seed = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			o.rules = atoi(optarg);
			break;
		case 'q':
			o.queries = atoi(optarg);
			break;
		case 'o':
			dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (o.rules < 1 || o.queries < 0 || optind != argc) {
		usage(stderr);
		return 64;
	}
	mkdir(dir, 0755);
	yaml = open_out(dir, "corpus.yaml", yaml_path, sizeof(yaml_path));
	jsonl = open_out(dir, "queries.jsonl", path, sizeof(path));
	txt = open_out(dir, "queries.txt", path, sizeof(path));
	if (!yaml || !jsonl || !txt)
		return 1;
	o.yaml_name = yaml_path;
	ret = policy_corpus__write(&o, yaml, jsonl, txt, &st);
	if (fclose(yaml) || fclose(jsonl) || fclose(txt))
		ret = ret ? ret : -EIO;
	if (ret) {
		fprintf(stderr, "agentwatch-policy-corpus: %s\n", strerror(-ret));
		return 1;
	}
	printf("%s: %d rules (%d dropped), %d queries: %d allow, %d audit, %d would-block, %d "
	       "deny\n",
	       dir, st.rules, st.dropped, st.queries, st.by_verdict[1], st.by_verdict[2],
	       st.by_verdict[3], st.by_verdict[4]);
	return 0;
}
