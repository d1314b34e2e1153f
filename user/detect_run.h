/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How `agentwatch detect` runs: its options, and the output side shared by the file input
 * (detect.c) and the Kafka input (detect_kafka.c): findings to stdout and/or a findings topic,
 * filtered by severity, and the optional freeze hook.
 */
#ifndef AGENTWATCH_DETECT_RUN_H
#define AGENTWATCH_DETECT_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "detect.h"

#define DETECT_MAX_TOPICS 16
#define DETECT_MAX_PROPS  64

enum detect_stage_sel {
	DETECT_STAGE_1 = 1,
	DETECT_STAGE_2 = 2,
	DETECT_STAGE_BOTH = 3,
};

struct detect_opts {
	const char *input; /* file or "-"; NULL for Kafka */
	const char *brokers;
	const char *topics[DETECT_MAX_TOPICS];
	int n_topics;
	const char *group;
	const char *props[DETECT_MAX_PROPS]; /* "key=value", librdkafka properties */
	int n_props;
	int stage; /* enum detect_stage_sel */
	const char *features_topic;
	const char *findings_topic;
	const char *state_file;
	const char *state_topic;
	bool no_stdout;
	bool stats;
	uint8_t min_severity;
	uint8_t freeze_severity; /* 0: off */
	const char *control_socket;
	uint64_t checkpoint_ms; /* Kafka: commit and checkpoint at least this often */
	uint64_t idle_exit_ms;	/* Kafka: exit after this long without a message (0: never) */
	struct detect_config cfg;
};

struct detect_output {
	const struct detect_opts *opts;
	FILE *out;		  /* stdout, or NULL */
	void *producer;		  /* rd_kafka_t for --findings-topic, or NULL */
	void *findings_topic;	  /* rd_kafka_topic_t */
	uint64_t written, errors; /* findings written, write errors */
};

/* Write a finding: filter by severity, encode once, stdout and/or topic, freeze hook. */
int detect_output__finding(struct detect_output *o, const struct detect_finding *f);

/* Print the counters as one JSON line on stderr. */
void detect_stats__print(const struct detect_stats *st, const char *what, size_t memory,
			 uint32_t agents);

/* Save or load stage state to a file, atomically (write then rename). */
int detect_state__save_file(const char *path, const struct detect_stage1 *s1,
			    const struct detect_stage2 *s2);
int detect_state__load_file(const char *path, const struct detect_config *cfg,
			    struct detect_stage1 **s1, struct detect_stage2 **s2);
/* One stage's state as a memory blob (malloc'd), and back. */
int detect_state__blob(const struct detect_stage1 *s1, const struct detect_stage2 *s2, char **data,
		       size_t *len);
int detect_state__from_blob(const char *data, size_t len, const struct detect_config *cfg,
			    struct detect_stage1 **s1, struct detect_stage2 **s2);

int detect_kafka__run(const struct detect_opts *o);
/* Whether SIGINT or SIGTERM asked the run to stop. */
bool detect__stopping(void);

#endif /* AGENTWATCH_DETECT_RUN_H */
