/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kafka sink: OCSF events as Kafka records through librdkafka, with the on-disk spool
 * (spool.h) for whatever the broker cannot take. docs/kafka.md is the operator's guide; this is
 * the contract.
 *
 * Record: key = the agent's uid (the node id for events of no agent), so one agent's events stay
 * in one partition and in order there; timestamp = the event's time (ms); headers ocsf_class
 * (class_uid, decimal), event_id (decimal, or "gap-<ns>-<n>" for gap events), node, schema
 * ("ocsf/1.8.0"); value = the OCSF JSON document, unchanged.
 *
 * Topic: opts.topic, where "{class}" becomes the class_uid (agentwatch-{class} ->
 * agentwatch-1007) and "{class_name}" the class's name (process_activity); without either, one
 * topic for everything.
 *
 * Never blocks the caller. write() hands the record to librdkafka without waiting; when
 * librdkafka's bounded queue is full, or the sink believes the brokers are unreachable
 * ("down": all brokers down, a delivery failed, or nothing delivered for outage_ms while
 * records were outstanding), the record goes to the spool instead. Every record's fate is
 * known: a delivery report either counts it delivered or puts it in the spool (failure, purge).
 * A record that neither Kafka nor the spool can take is lost, counted, and reported by a gap
 * event (OCSF 1008 Event Log Activity, see docs/kafka.md) that goes through the same path.
 *
 * A thread of the sink serves delivery reports, replays the spool (oldest first, when up; one
 * probe record a second when down, whose delivery brings the sink back up), emits gap events,
 * applies the spool's fsync policy and updates the metrics. close() flushes for at most
 * flush_timeout_ms, purges what is still queued or in flight (their reports spool them), and
 * only then frees: nothing held in memory is lost. A SIGKILL loses what librdkafka held in
 * memory and had not yet delivered (docs/kafka.md measures this window).
 */
#ifndef AGENTWATCH_SINK_KAFKA_H
#define AGENTWATCH_SINK_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink.h"
#include "spool.h"

struct metrics;
struct ocsf_ctx;

#define SINK_KAFKA_DEFAULT_TOPIC     "agentwatch-events"
#define SINK_KAFKA_DEFAULT_FLUSH_MS  5000
#define SINK_KAFKA_DEFAULT_OUTAGE_MS 5000
#define SINK_KAFKA_SCHEMA	     "ocsf/1.8.0"
#define SINK_KAFKA_GAP_CLASS_UID     1008

struct sink_kafka_opts {
	const char *brokers; /* bootstrap.servers; required unless a prop sets it */
	const char *topic;   /* NULL: SINK_KAFKA_DEFAULT_TOPIC; may hold {class}, {class_name} */
	const char *node_id; /* NULL: /etc/machine-id, else the hostname */
	const char *const *props; /* "key=value" librdkafka properties (-X), after the defaults */
	size_t n_props;
	const char *spool_dir;	      /* NULL or "": no spool (what Kafka cannot take is lost) */
	uint64_t spool_max_bytes;     /* 0: SPOOL_DEFAULT_MAX_BYTES */
	uint64_t spool_segment_bytes; /* 0: the spool's default */
	enum spool_fsync spool_fsync;
	int flush_timeout_ms;	 /* close: wait this long for deliveries; 0: default, < 0: none */
	int outage_ms;		 /* nothing delivered this long with records outstanding: down */
	struct metrics *metrics; /* optional: updated by the sink's thread */
	const struct ocsf_ctx *ocsf; /* the gap event's device and product; NULL: this host */
};

struct sink_kafka_stats {
	uint64_t produced;	  /* records handed to librdkafka (live, replayed, gap) */
	uint64_t delivered;	  /* acked by the broker */
	uint64_t delivery_errors; /* delivery reports with an error, purges excluded */
	uint64_t purged;	  /* purged at close (spooled) */
	uint64_t queue_full;	  /* writes that found librdkafka's queue full */
	uint64_t spooled;	  /* records written to the spool */
	uint64_t replayed;	  /* spooled records delivered */
	uint64_t dropped;	  /* records lost: neither Kafka nor the spool took them */
	uint64_t gap_events;	  /* gap events emitted */
	uint64_t gap_lost;	  /* records the gap events account for */
	uint64_t in_flight;	  /* records in librdkafka without a delivery report yet */
	uint64_t queue_depth;	  /* rd_kafka_outq_len(): messages and requests queued */
	bool up;		  /* brokers believed reachable */
	bool fatal; /* librdkafka raised a fatal error: everything goes to the spool */
	struct spool_stats spool;
};

/* Returns NULL and sets errno on failure (bad property, spool directory, librdkafka). */
struct sink *sink_kafka__new(const struct sink_kafka_opts *opts);
/* Counters of a sink made by sink_kafka__new(); -EINVAL for another sink. */
int sink_kafka__stats(struct sink *s, struct sink_kafka_stats *out);
/*
 * Wait until nothing is in flight and the spool is empty, or timeout_ms passes (tests, tools):
 * 0 or -ETIMEDOUT.
 */
int sink_kafka__wait_idle(struct sink *s, int timeout_ms);

/* The top-level "class_uid" of an OCSF document (found in its first 512 bytes), or -ENOENT. */
int sink_kafka__class_uid(const char *json, size_t len);
/* Expand a topic template for a class: 0, or -ENAMETOOLONG. */
int sink_kafka__topic_name(const char *tmpl, int class_uid, char *buf, size_t size);
/* Render the gap event (OCSF 1008) for `gap`: its length, or -ENOSPC. */
int sink_kafka__gap_event(const struct ocsf_ctx *ctx, const struct spool_gap *gap, const char *uid,
			  uint64_t now_ms, char *buf, size_t size);

#endif /* AGENTWATCH_SINK_KAFKA_H */
