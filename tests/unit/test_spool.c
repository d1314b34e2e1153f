// SPDX-License-Identifier: Apache-2.0
/*
 * The spool: records come back exactly as written (framing), in order across segments and
 * restarts; a corrupt record (bad CRC, magic or length) is skipped and the records after it are
 * found again; a torn tail is skipped and counted, never fatal; the bound refuses new records
 * (drop newest) with a gap that has the right count and times; segments go only when every
 * record handed out from them is acked; the cursor resumes a clean restart; the directory lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool.h"

struct tmp {
	char dir[64];
};

static int setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/aw-test-spool.XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tmp *t = *state;
	char path[512];
	struct dirent *de;
	DIR *d = opendir(t->dir);

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", t->dir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* A record whose every field is derived from id, so that a read-back can be checked. */
struct rec_buf {
	char topic[32], key[32], id[24], value[400];
	struct spool_record rec;
};

static const struct spool_record *make_rec(struct rec_buf *b, unsigned int id, size_t value_len)
{
	size_t i;

	snprintf(b->topic, sizeof(b->topic), "agentwatch.%u", 1000 + id % 8);
	snprintf(b->key, sizeof(b->key), "agent-%u", id % 3);
	snprintf(b->id, sizeof(b->id), "%u", id);
	if (value_len >= sizeof(b->value))
		value_len = sizeof(b->value) - 1;
	for (i = 0; i < value_len; i++)
		b->value[i] = (char)('a' + (id + i) % 26);
	snprintf(b->value, value_len + 1 < 24 ? value_len + 1 : 24, "{\"id\":%u}", id);
	memset(&b->rec, 0, sizeof(b->rec));
	b->rec.timestamp_ms = 1700000000000LL + id;
	b->rec.topic = b->topic;
	b->rec.topic_len = strlen(b->topic);
	b->rec.key = b->key;
	b->rec.key_len = id % 5 == 4 ? 0 : strlen(b->key); /* some without a key */
	b->rec.n_headers = id % 4 == 3 ? 0 : 2;
	b->rec.headers[0] = (struct spool_header){"event_id", 8, b->id, strlen(b->id)};
	b->rec.headers[1] = (struct spool_header){"schema", 6, "ocsf/1.8.0", 10};
	b->rec.value = b->value;
	b->rec.value_len = value_len;
	return &b->rec;
}

static void expect_rec(const struct spool_record *got, unsigned int id, size_t value_len)
{
	struct rec_buf b;
	const struct spool_record *want = make_rec(&b, id, value_len);
	unsigned int i;

	assert_int_equal(got->timestamp_ms, want->timestamp_ms);
	assert_int_equal(got->topic_len, want->topic_len);
	assert_memory_equal(got->topic, want->topic, want->topic_len);
	assert_int_equal(got->key_len, want->key_len);
	if (want->key_len)
		assert_memory_equal(got->key, want->key, want->key_len);
	assert_int_equal(got->n_headers, want->n_headers);
	for (i = 0; i < want->n_headers; i++) {
		assert_int_equal(got->headers[i].name_len, want->headers[i].name_len);
		assert_memory_equal(got->headers[i].name, want->headers[i].name,
				    want->headers[i].name_len);
		assert_int_equal(got->headers[i].value_len, want->headers[i].value_len);
		assert_memory_equal(got->headers[i].value, want->headers[i].value,
				    want->headers[i].value_len);
	}
	assert_int_equal(got->value_len, want->value_len);
	assert_memory_equal(got->value, want->value, want->value_len);
}

/* The id a record was made from (its timestamp carries it). */
static unsigned int rec_id(const struct spool_record *r)
{
	return (unsigned int)(r->timestamp_ms - 1700000000000LL);
}

static struct spool *open_spool(const char *dir, uint64_t max, uint64_t seg)
{
	struct spool_opts o = {.dir = dir, .max_bytes = max, .segment_bytes = seg};
	struct spool *sp = NULL;

	assert_int_equal(spool__open(&sp, &o), 0);
	assert_non_null(sp);
	return sp;
}

static void append_range(struct spool *sp, unsigned int from, unsigned int to, size_t len)
{
	struct rec_buf b;
	unsigned int id;

	for (id = from; id <= to; id++)
		assert_int_equal(spool__append(sp, make_rec(&b, id, len), 0), 0);
}

/* Replay everything: the ids in order into out (up to max); returns how many. */
static unsigned int drain(struct spool *sp, unsigned int *out, unsigned int max, size_t len)
{
	struct spool_record r;
	unsigned int n = 0;
	void *ticket;

	while (spool__peek(sp, &r, &ticket) == 0) {
		if (len)
			expect_rec(&r, rec_id(&r), len);
		if (n < max)
			out[n] = rec_id(&r);
		n++;
		spool__consume(sp);
		spool__ack(sp, ticket);
	}
	return n;
}

static int count_segments(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".seg"))
			n++;
	closedir(d);
	return n;
}

/* The path of the n-th segment (sorted by name, 0 first). */
static void segment_path(const char *dir, int nth, char *out, size_t size)
{
	struct dirent **list;
	int n, i, k = 0;

	n = scandir(dir, &list, NULL, alphasort);
	assert_true(n > 0);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (strstr(list[i]->d_name, ".seg") && k++ == nth)
			snprintf(out, size, "%s/%s", dir, list[i]->d_name);
		free(list[i]);
	}
	free(list);
	assert_true(out[0]);
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* Where record `id` starts in a segment that holds ids 1.. in order, each value_len long. */
static off_t rec_offset(unsigned int id, size_t value_len)
{
	off_t off = SPOOL_SEGMENT_HEADER;
	struct rec_buf b;
	unsigned int i;

	for (i = 1; i < id; i++)
		off += (off_t)spool_record__size(make_rec(&b, i, value_len));
	return off;
}

static void patch_byte(const char *path, off_t off, unsigned char x)
{
	unsigned char c;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= x;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* --- tests ------------------------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	struct tmp *t = *state;
	struct spool_record r;
	struct spool_stats st;
	unsigned int ids[16];
	struct spool *sp;
	void *ticket;

	sp = open_spool(t->dir, 0, 0);
	append_range(sp, 1, 9, 300);
	spool__stats(sp, &st);
	assert_int_equal(st.records, 9);
	assert_int_equal(st.appended, 9);
	spool__close(sp);

	/* After a restart: indexed, then read back field by field, oldest first. */
	sp = open_spool(t->dir, 0, 0);
	spool__stats(sp, &st);
	assert_int_equal(st.records, 9);
	assert_int_equal(st.segments, 1);
	assert_int_equal(drain(sp, ids, 16, 300), 9);
	for (unsigned int i = 0; i < 9; i++)
		assert_int_equal(ids[i], i + 1);
	assert_int_equal(spool__peek(sp, &r, &ticket), -ENOENT);
	spool__stats(sp, &st);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.corrupt + st.torn, 0);
	assert_int_equal(count_segments(t->dir), 0);
	spool__close(sp);
}

static void test_empty_value_and_sizes(void **state)
{
	struct tmp *t = *state;
	struct spool *sp = open_spool(t->dir, 0, 0);
	struct spool_record rec = {.timestamp_ms = -5}, r;
	struct spool_stats st;
	void *ticket;

	/* Nothing but a timestamp: the smallest record. */
	assert_int_equal(spool__append(sp, &rec, 0), 0);
	spool__stats(sp, &st);
	assert_int_equal(st.bytes, SPOOL_SEGMENT_HEADER + spool_record__size(&rec));
	assert_int_equal(spool_record__size(&rec), SPOOL_FRAME_OVERHEAD + 8 + 2 + 2 + 1 + 4);
	assert_int_equal(spool__peek(sp, &r, &ticket), 0);
	assert_int_equal(r.timestamp_ms, -5);
	assert_int_equal(r.topic_len + r.key_len + r.value_len + r.n_headers, 0);
	spool__consume(sp);
	spool__ack(sp, ticket);

	/* Too many headers: refused and counted as lost. */
	rec.n_headers = SPOOL_MAX_HEADERS + 1;
	assert_int_equal(spool__append(sp, &rec, 0), -EMSGSIZE);
	rec.n_headers = 0;
	rec.value_len = SPOOL_RECORD_MAX;
	rec.value = "";
	assert_int_equal(spool__append(sp, &rec, 0), -EMSGSIZE);
	spool__stats(sp, &st);
	assert_int_equal(st.refused, 2);
	spool__close(sp);
}

/* Replay interleaved with appends, acks out of order, many small segments. */
static void test_order_across_segments(void **state)
{
	struct tmp *t = *state;
	struct spool *sp = open_spool(t->dir, 0, 4096);
	void *tickets[64];
	unsigned int next = 1, expect = 1, round, i, n;
	struct spool_record r;
	struct spool_stats st;

	for (round = 0; round < 20; round++) {
		append_range(sp, next, next + 24, 200);
		next += 25;
		/* Hand out up to 40, ack them in reverse order. */
		for (n = 0; n < 40 && spool__peek(sp, &r, &tickets[n]) == 0; n++) {
			assert_int_equal(rec_id(&r), expect);
			expect_rec(&r, expect, 200);
			expect++;
			spool__consume(sp);
		}
		spool__stats(sp, &st);
		assert_true(st.segments >= 1);
		for (i = n; i-- > 0;)
			spool__ack(sp, tickets[i]);
	}
	while (spool__peek(sp, &r, &tickets[0]) == 0) {
		assert_int_equal(rec_id(&r), expect);
		expect++;
		spool__consume(sp);
		spool__ack(sp, tickets[0]);
	}
	assert_int_equal(expect, next);
	spool__stats(sp, &st);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.segments, 0);
	assert_int_equal(count_segments(t->dir), 0);
	spool__close(sp);
}

/* A segment is deleted only when every record handed out from it is acked. */
static void test_segment_kept_until_acked(void **state)
{
	struct tmp *t = *state;
	struct spool *sp = open_spool(t->dir, 0, 4096);
	void *held = NULL, *ticket;
	struct spool_record r;
	unsigned int n = 0;

	append_range(sp, 1, 30, 200); /* several segments */
	assert_true(count_segments(t->dir) > 2);
	while (spool__peek(sp, &r, &ticket) == 0) {
		spool__consume(sp);
		if (rec_id(&r) == 1)
			held = ticket; /* the first record's fate is not known yet */
		else
			spool__ack(sp, ticket);
		n++;
	}
	assert_int_equal(n, 30);
	assert_int_equal(count_segments(t->dir), 1);
	assert_int_equal(spool__pending(sp), 1);
	spool__ack(sp, held);
	assert_int_equal(count_segments(t->dir), 0);
	spool__close(sp);
}

/* A crash during replay (records handed out, never acked): everything comes back. */
static void test_crash_during_replay_duplicates(void **state)
{
	struct tmp *t = *state;
	struct spool *sp = open_spool(t->dir, 0, 0);
	unsigned int ids[16];
	struct spool_record r;
	void *ticket;
	int i;

	append_range(sp, 1, 10, 100);
	for (i = 0; i < 4; i++) {
		assert_int_equal(spool__peek(sp, &r, &ticket), 0);
		spool__consume(sp); /* in flight, never acked */
	}
	spool__close(sp);
	sp = open_spool(t->dir, 0, 0);
	assert_int_equal(drain(sp, ids, 16, 100), 10);
	assert_int_equal(ids[0], 1);
	spool__close(sp);
}

/* A clean stop with everything acked leaves a cursor: the next run resumes after it. */
static void test_cursor(void **state)
{
	struct tmp *t = *state;
	struct spool *sp = open_spool(t->dir, 0, 0);
	struct spool_stats st;
	unsigned int ids[16];
	struct spool_record r;
	void *ticket;
	int i;

	append_range(sp, 1, 10, 100);
	for (i = 0; i < 4; i++) {
		assert_int_equal(spool__peek(sp, &r, &ticket), 0);
		spool__consume(sp);
		spool__ack(sp, ticket);
	}
	/* Peeked, not handed out: it must come back. */
	assert_int_equal(spool__peek(sp, &r, &ticket), 0);
	assert_int_equal(rec_id(&r), 5);
	spool__close(sp);

	sp = open_spool(t->dir, 0, 0);
	spool__stats(sp, &st);
	assert_int_equal(st.records, 6);
	assert_int_equal(drain(sp, ids, 16, 100), 6);
	assert_int_equal(ids[0], 5);
	assert_int_equal(ids[5], 10);
	spool__close(sp);

	/* Opening again without reading keeps the cursor; ids are not reused after it. */
	sp = open_spool(t->dir, 0, 0);
	spool__close(sp);
	sp = open_spool(t->dir, 0, 0);
	spool__stats(sp, &st);
	assert_int_equal(st.records, 0);
	spool__close(sp);
	/* A new segment after the cursor's is read from its beginning. */
	sp = open_spool(t->dir, 0, 0);
	append_range(sp, 20, 22, 100);
	spool__close(sp);
	sp = open_spool(t->dir, 0, 0);
	assert_int_equal(drain(sp, ids, 16, 100), 3);
	assert_int_equal(ids[0], 20);
	spool__close(sp);
}

static void test_crc_corruption(void **state)
{
	struct tmp *t = *state;
	struct spool *sp = open_spool(t->dir, 0, 0);
	unsigned int ids[16];
	struct spool_stats st;
	char path[512];

	append_range(sp, 1, 5, 120);
	spool__close(sp);
	segment_path(t->dir, 0, path, sizeof(path));
	/* A byte in the middle of record 3's payload. */
	patch_byte(path, rec_offset(3, 120) + 80, 0x20);

	sp = open_spool(t->dir, 0, 0);
	spool__stats(sp, &st);
	assert_int_equal(st.records, 4); /* the index already skips it */
	assert_int_equal(drain(sp, ids, 16, 120), 4);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 2);
	assert_int_equal(ids[2], 4);
	assert_int_equal(ids[3], 5);
	spool__stats(sp, &st);
	assert_int_equal(st.corrupt, 1);
	assert_int_equal(st.torn, 0);
	spool__close(sp);
}

static void test_bad_magic_and_length(void **state)
{
	struct tmp *t = *state;
	struct spool *sp = open_spool(t->dir, 0, 0);
	unsigned int ids[16];
	struct spool_stats st;
	char path[512];

	append_range(sp, 1, 6, 120);
	spool__close(sp);
	segment_path(t->dir, 0, path, sizeof(path));
	patch_byte(path, rec_offset(2, 120), 0xff);	    /* record 2: magic */
	patch_byte(path, rec_offset(4, 120) + 4 + 3, 0x7f); /* record 4: length, top byte */

	sp = open_spool(t->dir, 0, 0);
	assert_int_equal(drain(sp, ids, 16, 120), 4);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 3);
	assert_int_equal(ids[2], 5);
	assert_int_equal(ids[3], 6);
	spool__stats(sp, &st);
	assert_int_equal(st.corrupt, 2);
	spool__close(sp);
}

/* A write cut short at the end: skipped and counted, the rest replayed, appends go on. */
static void test_torn_tail(void **state)
{
	struct tmp *t = *state;
	struct spool *sp = open_spool(t->dir, 0, 0);
	unsigned int ids[32], n;
	struct spool_stats st;
	char path[512];
	int cut;

	append_range(sp, 1, 8, 150);
	spool__close(sp);
	segment_path(t->dir, 0, path, sizeof(path));
	assert_int_equal(file_size(path), rec_offset(9, 150));

	/* Cut inside the last record's payload, then inside record 7's frame header. */
	for (cut = 0; cut < 2; cut++) {
		off_t keep = cut == 0 ? rec_offset(8, 150) + 60 : rec_offset(7, 150) + 5;

		assert_int_equal(truncate(path, keep), 0);
		sp = open_spool(t->dir, 0, 0);
		spool__stats(sp, &st);
		assert_int_equal(st.records, cut == 0 ? 7 : 6);
		spool__close(sp);
	}
	/* Replay: 1..6, torn counted once; a new run appends to a new segment. */
	sp = open_spool(t->dir, 0, 0);
	append_range(sp, 100, 101, 150);
	n = drain(sp, ids, 32, 150);
	assert_int_equal(n, 8);
	assert_int_equal(ids[5], 6);
	assert_int_equal(ids[6], 100);
	assert_int_equal(ids[7], 101);
	spool__stats(sp, &st);
	assert_int_equal(st.torn, 1);
	assert_int_equal(st.corrupt, 0);
	spool__close(sp);
}

static void test_torn_header(void **state)
{
	struct tmp *t = *state;
	struct spool_stats st;
	unsigned int ids[4];
	struct spool *sp;
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/0000000000000007.seg", t->dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "AWSP", 4), 4);
	close(fd);
	sp = open_spool(t->dir, 0, 0);
	append_range(sp, 1, 2, 50);
	assert_int_equal(drain(sp, ids, 4, 50), 2);
	assert_int_equal(ids[0], 1);
	spool__stats(sp, &st);
	assert_int_equal(st.torn, 1);
	assert_int_equal(count_segments(t->dir), 0);
	spool__close(sp);
}

/* The bound: drop newest, one gap with the count and the first and last lost times. */
static void test_bound_and_gap(void **state)
{
	struct tmp *t = *state;
	const uint64_t max = 64 << 10, seg = 8 << 10;
	struct spool *sp = open_spool(t->dir, max, seg);
	unsigned int id, accepted = 0, refused = 0, first_refused = 0, ids[512];
	struct spool_record r;
	struct spool_stats st;
	struct spool_gap gap;
	struct rec_buf b;
	void *ticket;
	int err;

	assert_false(spool__take_gap(sp, &gap));
	for (id = 1; id <= 400; id++) {
		err = spool__append(sp, make_rec(&b, id, 300), 0);
		if (!err) {
			assert_int_equal(refused, 0); /* nothing is taken once refusing started */
			accepted++;
		} else {
			assert_int_equal(err, -ENOSPC);
			if (!refused++)
				first_refused = id;
		}
	}
	assert_true(accepted > 100);
	assert_int_equal(accepted + refused, 400);
	spool__stats(sp, &st);
	assert_true(st.bytes <= max);
	assert_true(st.full);
	assert_int_equal(st.refused, refused);
	assert_false(spool__has_room(sp));

	assert_true(spool__take_gap(sp, &gap));
	assert_int_equal(gap.lost, refused);
	assert_int_equal(gap.first_ms, 1700000000000LL + first_refused);
	assert_int_equal(gap.last_ms, 1700000000000LL + 400);
	assert_false(spool__take_gap(sp, &gap)); /* taken: reset */

	/* Losses outside the spool join the next gap. */
	spool__note_loss(sp, 1700000000999LL, 3);
	assert_int_equal(spool__append(sp, make_rec(&b, 401, 300), 0), -ENOSPC);
	assert_true(spool__take_gap(sp, &gap));
	assert_int_equal(gap.lost, 4);
	assert_int_equal(gap.first_ms, 1700000000401LL);
	assert_int_equal(gap.last_ms, 1700000000999LL);

	/* Forced appends (gap records, failed replays) pass the bound. */
	assert_int_equal(spool__append(sp, make_rec(&b, 500, 300), SPOOL_F_FORCE), 0);

	/* Room again only once a whole segment's worth is free (hysteresis). */
	for (id = 0; !spool__has_room(sp); id++) {
		assert_int_equal(spool__append(sp, make_rec(&b, 599, 300), 0), -ENOSPC);
		assert_int_equal(spool__peek(sp, &r, &ticket), 0);
		spool__consume(sp);
		spool__ack(sp, ticket);
	}
	spool__stats(sp, &st);
	assert_true(st.bytes + seg <= max);
	assert_true(id >= (seg - SPOOL_SEGMENT_HEADER) / spool_record__size(&b.rec));
	assert_int_equal(spool__append(sp, make_rec(&b, 600, 300), 0), 0);
	assert_true(spool__take_gap(sp, &gap));
	assert_int_equal(gap.lost, id);

	/* What is left comes out oldest first, the forced and the new record last. */
	refused = id;
	id = drain(sp, ids, 512, 300);
	assert_int_equal(id, accepted - refused + 2);
	assert_int_equal(ids[id - 2], 500);
	assert_int_equal(ids[id - 1], 600);
	spool__close(sp);
}

static void test_no_spool(void **state)
{
	struct spool_opts o = {0};
	struct spool *sp = NULL;
	struct spool_record r;
	struct spool_gap gap;
	struct rec_buf b;
	void *ticket;

	assert_int_equal(spool__open(&sp, &o), 0);
	assert_false(spool__has_room(sp));
	assert_int_equal(spool__append(sp, make_rec(&b, 7, 10), 0), -ENOSPC);
	assert_int_equal(spool__append(sp, make_rec(&b, 9, 10), SPOOL_F_FORCE), -ENOSPC);
	assert_int_equal(spool__peek(sp, &r, &ticket), -ENOENT);
	assert_int_equal(spool__pending(sp), 0);
	assert_true(spool__take_gap(sp, &gap));
	assert_int_equal(gap.lost, 2);
	assert_int_equal(gap.first_ms, 1700000000007LL);
	assert_int_equal(gap.last_ms, 1700000000009LL);
	assert_int_equal(spool__tick(sp, 5000), 0);
	spool__close(sp);
}

static void test_lock(void **state)
{
	struct tmp *t = *state;
	struct spool_opts o = {.dir = t->dir};
	struct spool *a = open_spool(t->dir, 0, 0), *b = NULL;

	assert_int_equal(spool__open(&b, &o), -EBUSY);
	spool__close(a);
	assert_int_equal(spool__open(&b, &o), 0);
	spool__close(b);
}

static void test_sync_policy(void **state)
{
	struct tmp *t = *state;
	enum spool_fsync modes[] = {SPOOL_FSYNC_INTERVAL, SPOOL_FSYNC_ALWAYS, SPOOL_FSYNC_NEVER};
	unsigned int ids[64];
	size_t i;

	for (i = 0; i < 3; i++) {
		struct spool_opts o = {.dir = t->dir, .segment_bytes = 2048, .fsync = modes[i]};
		struct spool_stats st;
		struct spool *sp;

		assert_int_equal(spool__open(&sp, &o), 0);
		append_range(sp, 1, 20, 200);
		assert_int_equal(spool__tick(sp, 0), 0);
		assert_int_equal(spool__tick(sp, 2000), 0);
		assert_int_equal(spool__sync(sp), 0);
		assert_int_equal(drain(sp, ids, 64, 200), 20);
		spool__stats(sp, &st);
		assert_int_equal(st.io_errors, 0);
		spool__close(sp);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_value_and_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_across_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_segment_kept_until_acked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_during_replay_duplicates, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crc_corruption, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_magic_and_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound_and_gap, setup, teardown),
		cmocka_unit_test(test_no_spool),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_policy, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
