/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sinks: where encoded audit events go (stdout, a file, Kafka). The daemon encodes each event
 * once (user/ocsf.h) and hands the same bytes to every sink, so a sink only moves bytes and
 * never formats.
 *
 * A sink is a struct sink embedded first in the implementation's own struct, plus a table of
 * operations:
 *   write   take one JSON document (`json`, `len` bytes, no trailing newline; the framing is
 *           the sink's: the file sinks add '\n', Kafka sends it as one message). `ev` is the
 *           decoded event, for sinks that key or route on it (Kafka: the agent as the key).
 *           May buffer. Returns 0 or -errno; an event it could not take is counted as dropped.
 *   flush   push buffered events out (the daemon calls it after each ring-buffer batch and on
 *           a timer). Returns 0 or -errno.
 *   reopen  re-open the destination: the file sink opens its path again, so that after
 *           logrotate renamed the file the next line goes to a new one (SIGHUP). Optional.
 *   close   flush what can be flushed and free the sink.
 *
 * The daemon calls a sink from one thread. A sink may run threads of its own (Kafka's delivery
 * callbacks); that is why the counters are updated with atomics and read with sink__stats().
 *
 * Constructors return NULL and set errno on failure, as libbpf's do.
 */
#ifndef AGENTWATCH_SINK_H
#define AGENTWATCH_SINK_H

#include <stddef.h>
#include <stdint.h>

struct aw_event;
struct sink;

struct sink_stats {
	uint64_t events;    /* documents accepted by write */
	uint64_t bytes;	    /* bytes accepted by write, framing included */
	uint64_t delivered; /* documents the destination has taken (written to the fd, acked) */
	uint64_t dropped;   /* documents lost: refused by write or lost with a failed flush */
	uint64_t errors;    /* failed writes, flushes and reopens */
	uint64_t reopens;   /* successful reopens */
};

struct sink_ops {
	const char *name;
	int (*write)(struct sink *s, const struct aw_event *ev, const char *json, size_t len);
	int (*flush)(struct sink *s);
	int (*reopen)(struct sink *s); /* NULL: nothing to re-open */
	void (*close)(struct sink *s);
};

struct sink {
	const struct sink_ops *ops;
	struct sink_stats stats; /* update with sink_stat__add(), read with sink__stats() */
};

int sink__write(struct sink *s, const struct aw_event *ev, const char *json, size_t len);
int sink__flush(struct sink *s);
int sink__reopen(struct sink *s);
/* Flush and free; NULL is ignored. */
void sink__close(struct sink *s);
const char *sink__name(const struct sink *s);
/* A consistent-enough snapshot of the counters, safe against the sink's own threads. */
void sink__stats(const struct sink *s, struct sink_stats *out);

static inline void sink_stat__add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

/* JSON lines on standard output; flushed at every line when stdout is a terminal. */
struct sink *sink_stdout__new(void);
/* JSON lines appended to `path` (created 0640 if absent); reopen follows log rotation. */
struct sink *sink_file__new(const char *path);

/*
 * Kafka: sink_kafka__new() in sink_kafka.h (librdkafka, with the on-disk spool of spool.h and
 * Prometheus metrics of metrics.h); its extra counters through sink_kafka__stats().
 */

#endif /* AGENTWATCH_SINK_H */
