/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The spool: a bounded on-disk queue of Kafka records, for events the broker could not take
 * (outage, local queue full, delivery failed, shutdown). Records are replayed oldest first when
 * the broker is reachable again, also after a restart. The spool knows nothing about Kafka or
 * OCSF: a record is a topic, a key, headers, a value and a timestamp, so that replay rebuilds
 * the exact record.
 *
 * Layout: a directory of segment files named <id>.seg, <id> 16 hex digits, increasing. Appends
 * go to the newest segment until it holds segment_bytes; a new run never appends to an old
 * segment, it starts a new one. Every integer is little-endian.
 *
 *   segment = header record*
 *   header  = "AWSPOOL1" (8 bytes) | u32 version (1) | u32 zero            16 bytes
 *   record  = u32 magic "AWRL" (0x4c525741) | u32 len | u32 crc | payload[len]
 *             crc = zlib crc32 over the 4 bytes of len, then the payload
 *   payload = i64 timestamp_ms
 *             u16 topic_len   topic
 *             u16 key_len     key
 *             u8  n_headers   { u16 name_len name  u32 value_len value } * n_headers
 *             u32 value_len   value
 *             (the lengths add up to len exactly)
 *
 * Reading: a record is accepted when its magic, length (<= SPOOL_RECORD_MAX), CRC and payload
 * lengths all check out. Otherwise the reader searches forward for the next magic that starts a
 * valid record: if it finds one, the bytes skipped count as one `corrupt` incident; if the rest
 * of the file holds none, it was a torn tail (a write cut short by a crash or a full disk) and
 * counts as `torn`. Neither is fatal; both are logged.
 *
 * Replay protocol (one reader thread): spool__peek() returns the oldest record not yet handed
 * out and a ticket; spool__consume() hands it out; spool__ack(ticket) says its fate is settled
 * (delivered, or appended to the spool again). A segment is deleted when it has been read to
 * the end and every record handed out from it is acked, so a crash during replay replays the
 * segment again: duplicates, never loss. spool__close() writes a cursor (file `cursor`: segment
 * id and offset) when everything handed out from the segment being read is acked, so a clean
 * restart resumes there instead of from the segment's start. Segment ids are never reused, so a
 * cursor can only apply to the segment it was written for; it is removed with that segment.
 *
 * Bound and drop policy: the spool holds at most max_bytes of segments. When an append would
 * exceed it, the append is refused (-ENOSPC) and the record is lost: **drop newest, keep
 * oldest.** Records already on disk are never deleted to make room: they are a promise kept,
 * and refusing new ones makes each loss one contiguous interval, described by one gap (count,
 * first and last lost timestamp, spool__take_gap()). Once full, appends stay refused until
 * there is room for a whole segment again, so the spool does not flap between taking and
 * dropping records. SPOOL_F_FORCE appends past the bound, for records that are not new data:
 * a replayed record whose delivery failed (its old copy goes when its segment does) and the gap
 * record itself. The overshoot is bounded by the replay window and a few gap records.
 *
 * Durability (fsync policy): SPOOL_FSYNC_INTERVAL (default) writes each record with one write(2)
 * to the page cache, so it survives the process being killed, and fdatasync()s the segment (and
 * the directory after creating or deleting a segment) from spool__tick() at most every
 * fsync_interval_ms: a power loss or kernel crash loses at most that window. SPOOL_FSYNC_ALWAYS
 * fdatasync()s every append (slow; for disks that must not lose a record). SPOOL_FSYNC_NEVER
 * leaves it to the kernel. Sealed segments are synced and closed by spool__tick(), not by the
 * appending thread.
 *
 * Thread safety: all functions take the spool's lock; appends may come from any thread,
 * peek/consume from one reader thread at a time.
 */
#ifndef AGENTWATCH_SPOOL_H
#define AGENTWATCH_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_MAX_HEADERS	16
#define SPOOL_RECORD_MAX	(16U << 20) /* largest payload accepted, write and read */
#define SPOOL_DEFAULT_MAX_BYTES (1ULL << 30)
#define SPOOL_SEGMENT_MAX	(16ULL << 20) /* default segment size: the smaller of this, max/8 */
#define SPOOL_SEGMENT_MIN	(64ULL << 10)
#define SPOOL_FRAME_OVERHEAD	12 /* magic, len, crc */
#define SPOOL_SEGMENT_HEADER	16

#define SPOOL_F_FORCE (1U << 0) /* append even when the spool is full */

enum spool_fsync {
	SPOOL_FSYNC_INTERVAL = 0,
	SPOOL_FSYNC_ALWAYS,
	SPOOL_FSYNC_NEVER,
};

struct spool_opts {
	const char *dir;	/* NULL or "": no spool; every append is refused and counted */
	uint64_t max_bytes;	/* 0: SPOOL_DEFAULT_MAX_BYTES */
	uint64_t segment_bytes; /* 0: min(SPOOL_SEGMENT_MAX, max_bytes / 8) */
	enum spool_fsync fsync; /* default SPOOL_FSYNC_INTERVAL */
	unsigned int fsync_interval_ms; /* 0: 1000 */
};

struct spool_header {
	const char *name; /* not NUL-terminated when read back */
	size_t name_len;
	const void *value;
	size_t value_len;
};

/* One record. Pointers returned by spool__peek() are valid until the next spool call. */
struct spool_record {
	int64_t timestamp_ms;
	const char *topic;
	size_t topic_len;
	const void *key;
	size_t key_len;
	unsigned int n_headers;
	struct spool_header headers[SPOOL_MAX_HEADERS];
	const void *value;
	size_t value_len;
};

struct spool_stats {
	uint64_t bytes;	    /* segment bytes on disk now */
	uint64_t records;   /* records on disk not yet acked */
	uint64_t segments;  /* segment files now */
	uint64_t appended;  /* records appended by this process */
	uint64_t consumed;  /* records handed out for replay */
	uint64_t refused;   /* appends refused: spool full or no spool; each is a lost record */
	uint64_t corrupt;   /* corrupt stretches skipped (bad magic, length or CRC) */
	uint64_t torn;	    /* torn tails skipped */
	uint64_t io_errors; /* failed writes, syncs, opens */
	bool full;	    /* refusing appends until a segment's worth of room frees up */
};

/* Records lost since the last spool__take_gap(): how many, and their first and last timestamp. */
struct spool_gap {
	uint64_t lost;
	int64_t first_ms;
	int64_t last_ms;
};

struct spool;

/* Create the directory if needed and index the segments in it. Returns 0 or -errno. */
int spool__open(struct spool **out, const struct spool_opts *opts);
/* Sync, write the cursor, free. NULL is ignored. */
void spool__close(struct spool *sp);

/*
 * Append one record: 0; -ENOSPC when the spool is full or absent; -EMSGSIZE when it is larger
 * than SPOOL_RECORD_MAX or has too many headers; -errno from write(2). A refused record is lost
 * and counted in the gap.
 */
int spool__append(struct spool *sp, const struct spool_record *rec, unsigned int flags);
/* Count records lost outside the spool (e.g. no spool configured) in the same gap. */
void spool__note_loss(struct spool *sp, int64_t timestamp_ms, uint64_t n);
/* The loss since the last call; false when nothing was lost. Resets it. */
bool spool__take_gap(struct spool *sp, struct spool_gap *gap);
/* Would an ordinary append be taken now (not full, not absent)? */
bool spool__has_room(struct spool *sp);

/*
 * The oldest record not yet handed out: 0 and *ticket, -ENOENT when there is none, -errno on an
 * I/O error. Corrupt and torn stretches are skipped (and counted) on the way.
 */
int spool__peek(struct spool *sp, struct spool_record *rec, void **ticket);
/* Hand out the record the last spool__peek() returned. */
void spool__consume(struct spool *sp);
/* The fate of a handed-out record is settled; may delete its segment. */
void spool__ack(struct spool *sp, void *ticket);

/* Apply the fsync policy: sync what is due. now_ms: any monotonic clock. Returns 0 or -errno. */
int spool__tick(struct spool *sp, uint64_t now_ms);
/* Sync everything now. Returns 0 or -errno. */
int spool__sync(struct spool *sp);
void spool__stats(struct spool *sp, struct spool_stats *st);
/* Records not yet acked (what replay still has to do); 0 without a spool. */
uint64_t spool__pending(struct spool *sp);

/* The encoded size of a record in a segment, frame included. */
size_t spool_record__size(const struct spool_record *rec);

#endif /* AGENTWATCH_SPOOL_H */
