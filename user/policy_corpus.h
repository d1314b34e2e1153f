/* SPDX-License-Identifier: Apache-2.0 */
// Random policy corpora for the differential test of the kernel matcher against the reference
// matcher (policy_image.h): from a seed, a rules YAML of two policies (one enforcing, one in
// audit mode) mixing every pattern kind, binaries, excepts, nested CIDRs, ports and
// protocols; then queries aimed at those rules (matching paths, near misses, addresses inside
// and beside the prefixes, mapped and NAT64 spellings) with the reference matcher's decision.
//
// The agent is fixed: POLICY_CORPUS_AGENT, ${HOME} POLICY_CORPUS_HOME, ${WORKSPACE}
// POLICY_CORPUS_WORKSPACE, slot 1, set 1. Rules the kernel could not hold (a key with more
// references than it reads, and the like) are dropped until the image compiles, so the rule
// count may come out a little below the one asked for. The same seed gives the same bytes.
//
// Outputs:
//   yaml    the policies
//   jsonl   a first line {"corpus": {...the context...}}, then one query per line:
//           {"op":"file","path":...,"access":["read"],"exe":... or null,
//            "verdict":"deny","action":"deny","rule_id":7,"rule":"f7"}
//           ("overflow":true when the kernel's reference table would overflow: fail closed)
//           {"op":"exec","path":...,"exe":...,...}
//           {"op":"connect","family":4|6,"addr":"10.1.2.3","port":22,"proto":"tcp",...}
//   txt     the same queries in tools/policy-testrun.c's line format, without decisions
#ifndef AGENTWATCH_POLICY_CORPUS_H
#define AGENTWATCH_POLICY_CORPUS_H

#include <stdio.h>

#define POLICY_CORPUS_AGENT	"corpus"
#define POLICY_CORPUS_HOME	"/home/ada"
#define POLICY_CORPUS_WORKSPACE "/work/proj"

struct policy_corpus_opts {
	unsigned long long seed;
	int rules;
	int queries;
	const char *yaml_name; /* the YAML's file name as jsonl's header and messages name it */
};

struct policy_corpus_stats {
	int rules;   /* rules written (after dropping those the kernel could not hold) */
	int dropped; /* rules dropped */
	int queries;
	int by_verdict[5]; /* queries per enum policy_verdict */
};

/* Write a corpus. Returns 0, -ENOMEM, or -EINVAL if it could not be made to compile. */
int policy_corpus__write(const struct policy_corpus_opts *o, FILE *yaml, FILE *jsonl, FILE *txt,
			 struct policy_corpus_stats *st);

#endif /* AGENTWATCH_POLICY_CORPUS_H */
