/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus metrics: a registry the daemon and its sinks update, and a small HTTP server
 * (libmicrohttpd, its own thread) that renders it in the text exposition format (0.0.4) at
 * /metrics.
 *
 * Every value is a 64-bit atomic: updates are lock-free and may come from any thread; a scrape
 * reads each value once (a scrape is not a snapshot across values). Counters only go up: update
 * them with metrics__add(), or mirror a cumulative source (a BPF per-CPU counter, a sink's
 * statistics) with metrics__set(). Label sets that grow at run time (event classes, rules) are
 * bounded; past the bound, updates land in a series labelled "other". Label values never come
 * from what an agent does: classes are the encoder's (5 today), rule names the operator's
 * policy files (at most METRICS_MAX_RULES series, then "other").
 *
 * Metrics (all prefixed agentwatch_):
 *   events_total{class_uid}                 counter  events encoded, by OCSF class
 *   drops_total{reason}                     counter  events lost: ring_buffer, decode, encode,
 *                                                    sink (neither Kafka nor the spool took it)
 *   ring_buffer_drops_total{reason}         counter  the ring_buffer drops by the BPF side's
 *                                                    reason: full, no_scratch (AW_DROP_*)
 *   denials_total{rule}                     counter  operations the kernel refused, by rule
 *   kafka_queue_messages                    gauge    librdkafka's out queue
 *   kafka_in_flight_messages                gauge    records without a delivery report
 *   kafka_up                                gauge    1 while the brokers are believed reachable
 *   kafka_brokers_up                        gauge    brokers librdkafka holds a connection to
 *                                                    (from its statistics, once a second)
 *   kafka_delivered_total                   counter  records acked by the broker
 *   kafka_delivery_errors_total             counter  failed delivery reports (not purges)
 *   kafka_spooled_total                     counter  records written to the spool
 *   spool_bytes, spool_records              gauge    on disk now
 *   spool_replayed_total                    counter  spooled records delivered
 *   spool_skipped_total{reason}             counter  corrupt stretches and torn tails skipped
 *   gap_events_total                        counter  gap events emitted
 *   policy_generation                       gauge    generation of the policy in the kernel
 *   policy_reload_failures_total            counter  reloads rejected
 *   enforcement_level{action,level}         gauge    1 for the effective level of each action
 *                                                    (exec, file, network), 0 for the others
 *   build_info{version}                     gauge    1
 */
#ifndef AGENTWATCH_METRICS_H
#define AGENTWATCH_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "features.h"

enum metric_id {
	METRIC_KAFKA_QUEUE_MESSAGES,
	METRIC_KAFKA_IN_FLIGHT,
	METRIC_KAFKA_UP,
	METRIC_KAFKA_BROKERS_UP,
	METRIC_KAFKA_DELIVERED,
	METRIC_KAFKA_DELIVERY_ERRORS,
	METRIC_KAFKA_SPOOLED,
	METRIC_SPOOL_BYTES,
	METRIC_SPOOL_RECORDS,
	METRIC_SPOOL_REPLAYED,
	METRIC_SPOOL_CORRUPT, /* spool_skipped_total{reason="corrupt"} */
	METRIC_SPOOL_TORN,    /* spool_skipped_total{reason="torn"} */
	METRIC_GAP_EVENTS,
	METRIC_POLICY_GENERATION,
	METRIC_POLICY_RELOAD_FAILURES,
	METRIC_RING_BUFFER_FULL,       /* ring_buffer_drops_total{reason="full"} */
	METRIC_RING_BUFFER_NO_SCRATCH, /* ring_buffer_drops_total{reason="no_scratch"} */
	METRIC__COUNT,
};

enum metric_drop {
	METRIC_DROP_RING_BUFFER,
	METRIC_DROP_DECODE,
	METRIC_DROP_ENCODE,
	METRIC_DROP_SINK,
	METRIC_DROP__COUNT,
};

#define METRICS_MAX_CLASSES 32
#define METRICS_MAX_RULES   1024

struct metrics;

struct metrics *metrics__new(void);
/* Stops the server if running; NULL is ignored. */
void metrics__free(struct metrics *m);

void metrics__add(struct metrics *m, enum metric_id id, uint64_t n);
void metrics__set(struct metrics *m, enum metric_id id, uint64_t v);
uint64_t metrics__get(struct metrics *m, enum metric_id id);
void metrics__add_drop(struct metrics *m, enum metric_drop reason, uint64_t n);
void metrics__set_drop(struct metrics *m, enum metric_drop reason, uint64_t v);
/* One event of an OCSF class (class_uid from sink_kafka__class_uid() or the encoder). */
void metrics__add_event(struct metrics *m, int class_uid);
/* One denial by `rule` (NULL or "": "unknown"). Takes a lock for a rule seen the first time. */
void metrics__add_denial(struct metrics *m, const char *rule);
void metrics__set_enforcement(struct metrics *m, const struct aw_capabilities *caps);

/*
 * Render the exposition text into a malloc'ed buffer: 0 with *out (caller frees) and *len, or
 * -ENOMEM.
 */
int metrics__render(struct metrics *m, char **out, size_t *len);

/*
 * Serve GET /metrics on addr_port: "HOST:PORT", "[V6]:PORT" or ":PORT" (all addresses); port 0
 * picks a free one (metrics__port()). Returns 0 or -errno (-EINVAL for a malformed address).
 */
int metrics__start(struct metrics *m, const char *addr_port);
/* The port being served, 0 if none. */
int metrics__port(struct metrics *m);
void metrics__stop(struct metrics *m);

#endif /* AGENTWATCH_METRICS_H */
