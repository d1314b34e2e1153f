/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The command-line verbs. Each verb is a do_<verb>() in the file of the feature it drives, parses
 * its own options, answers --help with text that ends in EXAMPLES, and returns the process exit
 * status.
 */
#ifndef AGENTWATCH_CLI_H
#define AGENTWATCH_CLI_H

struct cli_verb {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

int do_doctor(int argc, char **argv);
int do_events(int argc, char **argv);
int do_exec(int argc, char **argv);
int do_detect(int argc, char **argv);
int do_run(int argc, char **argv);
int do_rules(int argc, char **argv);
int do_top(int argc, char **argv);

/* Exit statuses shared by the verbs. */
#define AW_EXIT_OK	0
#define AW_EXIT_FAIL	1
#define AW_EXIT_PARTIAL 2 /* doctor: the kernel allows only part of the enforcement */
#define AW_EXIT_USAGE	64

#endif /* AGENTWATCH_CLI_H */
