// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch <verb> [options]: the verb table. Global options come before the verb.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "cli.h"
#include "log.h"

static int do_version(int argc, char **argv);
static int do_help(int argc, char **argv);

static const struct cli_verb verbs[] = {
	{"run", do_run, "the node daemon: watch the cgroups that match globs as agents"},
	{"exec", do_exec, "run a command as a watched agent and stream its events"},
	{"events", do_events, "follow the daemon's events, or show its agents and counters"},
	{"top", do_top, "live per-agent view: rates, denials, egress; drill into one agent"},
	{"detect", do_detect, "find anomalies and campaigns in the event stream (OCSF 2004)"},
	{"rules", do_rules,
	 "check, dump and explain policies (AgentPolicy YAML), no kernel needed"},
	{"doctor", do_doctor, "say what this kernel lets agentwatch observe and enforce"},
	{"version", do_version, "print the version of agentwatch and of libbpf"},
	{"help", do_help, "show this help"},
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "Usage: agentwatch [-v|--verbose] <verb> [options]\n"
		     "       agentwatch <verb> --help\n\n"
		     "Watch and confine AI agents on Linux with eBPF.\n\nVerbs:\n");
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(out, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(out, "\nGlobal options:\n"
		     "  -v, --verbose   debug logging, including libbpf's own log\n"
		     "  -h, --help      this help\n"
		     "      --version   same as the version verb\n"
		     "\nEXAMPLES\n"
		     "  agentwatch exec -- sh -c 'cat /etc/hostname'   watch one command\n"
		     "  agentwatch run --watch '/sys/fs/cgroup/kubepods.slice/**'   the daemon\n"
		     "  agentwatch events --follow   the daemon's events as they happen\n"
		     "  agentwatch top               every agent on this node, live\n"
		     "  agentwatch doctor            what can be enforced on this kernel\n"
		     "  agentwatch doctor --json     the same, for scripts\n"
		     "  agentwatch -v doctor         with libbpf's log of every probe\n");
}

static int do_help(int argc, char **argv)
{
	usage(stdout);
	return AW_EXIT_OK;
}

static int do_version(int argc, char **argv)
{
	bool json = argc > 1 && strcmp(argv[1], "--json") == 0;

	if (argc > 1 && !json) {
		if (strcmp(argv[1], "--help") == 0) {
			printf("Usage: agentwatch version [--json]\n\nPrint agentwatch's version "
			       "and "
			       "the libbpf it runs with.\n\nEXAMPLES\n  agentwatch version\n"
			       "  agentwatch version --json\n");
			return AW_EXIT_OK;
		}
		fprintf(stderr, "agentwatch version: unknown option '%s'\n", argv[1]);
		return AW_EXIT_USAGE;
	}
	if (json)
		printf("{\"version\":\"%s\",\"libbpf\":\"%s\"}\n", AW_VERSION,
		       libbpf_version_string());
	else
		printf("agentwatch %s (libbpf %s)\n", AW_VERSION, libbpf_version_string());
	return AW_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{},
	};
	bool verbose = false;
	size_t i;
	int c;

	/* '+' stops at the verb: its options are its own. */
	while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return AW_EXIT_OK;
		case 'V':
			return do_version(1, argv);
		default:
			usage(stderr);
			return AW_EXIT_USAGE;
		}
	}
	log__init(verbose);
	if (optind >= argc) {
		usage(stderr);
		return AW_EXIT_USAGE;
	}
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(argv[optind], verbs[i].name) == 0) {
			int verb = optind;

			optind = 0; /* the verb's own getopt_long starts afresh at its argv[1] */
			return verbs[i].run(argc - verb, argv + verb);
		}
	}
	fprintf(stderr, "agentwatch: unknown verb '%s' (see 'agentwatch --help')\n", argv[optind]);
	return AW_EXIT_USAGE;
}
