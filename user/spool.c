// SPDX-License-Identifier: Apache-2.0
/*
 * The on-disk spool (format, drop policy and fsync policy: spool.h).
 *
 * In memory the spool is a list of segments, oldest first. The newest may be `active` (open for
 * appends); the reader seals it when it has nothing older left to read, so the next append
 * starts a new segment and the reader only ever reads files nobody writes. A segment carries how
 * many of its records are handed out and not yet acked; it is deleted when it has been read to
 * the end and that count is zero.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "log.h"
#include "spool.h"

#define SEG_MAGIC     "AWSPOOL1"
#define SEG_VERSION   1
#define REC_MAGIC     0x4c525741U /* "AWRL" in a little-endian file */
#define REC_MAGIC_STR "AWRL"
#define READ_WINDOW   (1U << 20)
#define CURSOR_NAME   "cursor"
#define CURSOR_TMP    "cursor.tmp"

struct spool_seg {
	struct spool_seg *next;
	uint64_t id;
	uint64_t bytes;	      /* file size */
	uint64_t records;     /* valid records in it not yet acked */
	uint64_t start;	      /* the reader starts here: after the header, or at the cursor */
	uint32_t outstanding; /* handed out, not acked */
	int fd;		      /* write fd: the active segment, or a sealed one not yet synced */
	bool sealed;
	bool dirty; /* written since its last fdatasync */
	bool read_done;
};

struct spool {
	pthread_mutex_t lock;
	int dirfd; /* -1: no spool */
	char *dir;
	uint64_t max_bytes;
	uint64_t segment_bytes;
	enum spool_fsync fsync;
	unsigned int fsync_interval_ms;
	uint64_t last_sync_ms;
	bool dir_dirty; /* a segment was created or deleted since the directory's last fsync */

	struct spool_seg *head, *tail;
	struct spool_seg *active;
	uint64_t next_id;
	uint64_t cursor_id;    /* segment the cursor file names; UINT64_MAX: none */
	struct spool_stats st; /* bytes, records, segments and the counters */
	struct spool_gap gap;

	char *wbuf; /* one encoded record */
	size_t wcap;

	/* Reader. */
	struct spool_seg *rseg;
	int rfd;
	uint64_t roff; /* offset of the next record in rseg */
	char *rbuf;
	size_t rcap;
	uint64_t rbuf_off; /* file offset of rbuf[0] */
	size_t rbuf_len;
	bool peeked;
	uint64_t peek_next; /* offset after the peeked record */
	bool counting;	    /* indexing at open: count nothing, log nothing */
};

/* --- encoding ---------------------------------------------------------------------------- */

static void put16(char **p, uint16_t v)
{
	v = htole16(v);
	memcpy(*p, &v, 2);
	*p += 2;
}

static void put32(char **p, uint32_t v)
{
	v = htole32(v);
	memcpy(*p, &v, 4);
	*p += 4;
}

static void put64(char **p, uint64_t v)
{
	v = htole64(v);
	memcpy(*p, &v, 8);
	*p += 8;
}

static void put_bytes(char **p, const void *s, size_t n)
{
	if (n)
		memcpy(*p, s, n);
	*p += n;
}

static uint16_t get16(const char *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return le16toh(v);
}

static uint32_t get32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get64(const char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static size_t payload_size(const struct spool_record *rec)
{
	size_t n = 8 + 2 + rec->topic_len + 2 + rec->key_len + 1 + 4 + rec->value_len;
	unsigned int i;

	for (i = 0; i < rec->n_headers && i < SPOOL_MAX_HEADERS; i++)
		n += 2 + rec->headers[i].name_len + 4 + rec->headers[i].value_len;
	return n;
}

size_t spool_record__size(const struct spool_record *rec)
{
	return SPOOL_FRAME_OVERHEAD + payload_size(rec);
}

static int record_check(const struct spool_record *rec)
{
	unsigned int i;

	if (rec->n_headers > SPOOL_MAX_HEADERS || rec->topic_len > UINT16_MAX ||
	    rec->key_len > UINT16_MAX || rec->value_len > SPOOL_RECORD_MAX)
		return -EMSGSIZE;
	for (i = 0; i < rec->n_headers; i++)
		if (rec->headers[i].name_len > UINT16_MAX ||
		    rec->headers[i].value_len > SPOOL_RECORD_MAX)
			return -EMSGSIZE;
	if (payload_size(rec) > SPOOL_RECORD_MAX)
		return -EMSGSIZE;
	return 0;
}

static uint32_t frame_crc(const char *len_le, const char *payload, size_t len)
{
	uLong crc = crc32(0L, Z_NULL, 0);

	crc = crc32(crc, (const Bytef *)len_le, 4);
	return (uint32_t)crc32(crc, (const Bytef *)payload, (uInt)len);
}

/* Encode rec into buf (spool_record__size() bytes). */
static void record_encode(const struct spool_record *rec, char *buf)
{
	size_t len = payload_size(rec);
	char *p = buf;
	unsigned int i;

	put32(&p, REC_MAGIC);
	put32(&p, (uint32_t)len);
	p += 4; /* crc, below */
	put64(&p, (uint64_t)rec->timestamp_ms);
	put16(&p, (uint16_t)rec->topic_len);
	put_bytes(&p, rec->topic, rec->topic_len);
	put16(&p, (uint16_t)rec->key_len);
	put_bytes(&p, rec->key, rec->key_len);
	*p++ = (char)rec->n_headers;
	for (i = 0; i < rec->n_headers; i++) {
		put16(&p, (uint16_t)rec->headers[i].name_len);
		put_bytes(&p, rec->headers[i].name, rec->headers[i].name_len);
		put32(&p, (uint32_t)rec->headers[i].value_len);
		put_bytes(&p, rec->headers[i].value, rec->headers[i].value_len);
	}
	put32(&p, (uint32_t)rec->value_len);
	put_bytes(&p, rec->value, rec->value_len);
	p = buf + 8;
	put32(&p, frame_crc(buf + 4, buf + SPOOL_FRAME_OVERHEAD, len));
}

/* Parse a payload whose CRC checked out; -EBADMSG if its lengths do not add up to len. */
static int record_decode(const char *p, size_t len, struct spool_record *rec)
{
	const char *end = p + len;
	unsigned int i;
	size_t n;

#define NEED(k)                              \
	do {                                 \
		if ((size_t)(end - p) < (k)) \
			return -EBADMSG;     \
	} while (0)
	memset(rec, 0, sizeof(*rec));
	NEED(8);
	rec->timestamp_ms = (int64_t)get64(p);
	p += 8;
	NEED(2);
	n = get16(p);
	p += 2;
	NEED(n);
	rec->topic = p;
	rec->topic_len = n;
	p += n;
	NEED(2);
	n = get16(p);
	p += 2;
	NEED(n);
	rec->key = p;
	rec->key_len = n;
	p += n;
	NEED(1);
	rec->n_headers = (unsigned char)*p++;
	if (rec->n_headers > SPOOL_MAX_HEADERS)
		return -EBADMSG;
	for (i = 0; i < rec->n_headers; i++) {
		NEED(2);
		n = get16(p);
		p += 2;
		NEED(n);
		rec->headers[i].name = p;
		rec->headers[i].name_len = n;
		p += n;
		NEED(4);
		n = get32(p);
		p += 4;
		NEED(n);
		rec->headers[i].value = p;
		rec->headers[i].value_len = n;
		p += n;
	}
	NEED(4);
	n = get32(p);
	p += 4;
	NEED(n);
	rec->value = p;
	rec->value_len = n;
	p += n;
#undef NEED
	return p == end ? 0 : -EBADMSG;
}

/* --- segments ---------------------------------------------------------------------------- */

static void seg_name(char *buf, size_t size, uint64_t id)
{
	snprintf(buf, size, "%016" PRIx64 ".seg", id);
}

static void gap_add(struct spool_gap *g, int64_t ts, uint64_t n)
{
	if (!g->lost || ts < g->first_ms)
		g->first_ms = ts;
	if (!g->lost || ts > g->last_ms)
		g->last_ms = ts;
	g->lost += n;
}

static void seg_unlink_list(struct spool *sp, struct spool_seg *seg)
{
	struct spool_seg **pp = &sp->head, *prev = NULL;

	while (*pp && *pp != seg) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = seg->next;
	if (sp->tail == seg)
		sp->tail = prev;
}

/* Room for a whole segment again: stop refusing. */
static void update_full(struct spool *sp)
{
	if (sp->st.full && sp->st.bytes + sp->segment_bytes <= sp->max_bytes)
		sp->st.full = false;
}

static void seg_delete(struct spool *sp, struct spool_seg *seg)
{
	char name[32];

	seg_name(name, sizeof(name), seg->id);
	if (unlinkat(sp->dirfd, name, 0) && errno != ENOENT) {
		sp->st.io_errors++;
		log_warn("spool '%s': delete %s: %s", sp->dir, name, strerror(errno));
	}
	if (seg->fd >= 0)
		close(seg->fd);
	seg_unlink_list(sp, seg);
	if (sp->active == seg)
		sp->active = NULL;
	if (sp->rseg == seg)
		sp->rseg = NULL;
	sp->st.bytes -= seg->bytes < sp->st.bytes ? seg->bytes : sp->st.bytes;
	sp->st.records -= seg->records < sp->st.records ? seg->records : sp->st.records;
	sp->st.segments--;
	sp->dir_dirty = true;
	if (seg->id == sp->cursor_id) {
		unlinkat(sp->dirfd, CURSOR_NAME, 0);
		sp->cursor_id = UINT64_MAX;
	}
	free(seg);
	update_full(sp);
}

static struct spool_seg *seg_add(struct spool *sp, uint64_t id)
{
	struct spool_seg *seg = calloc(1, sizeof(*seg));

	if (!seg)
		return NULL;
	seg->id = id;
	seg->fd = -1;
	seg->start = SPOOL_SEGMENT_HEADER;
	if (sp->tail)
		sp->tail->next = seg;
	else
		sp->head = seg;
	sp->tail = seg;
	sp->st.segments++;
	return seg;
}

/* The active segment takes no more appends; spool__tick() syncs and closes its fd. */
static void seg_seal(struct spool *sp)
{
	if (sp->active)
		sp->active->sealed = true;
	sp->active = NULL;
}

static int seg_create(struct spool *sp)
{
	char name[32], hdr[SPOOL_SEGMENT_HEADER], *p = hdr;
	struct spool_seg *seg;
	ssize_t n;
	int fd, err;

	seg_seal(sp);
	seg_name(name, sizeof(name), sp->next_id);
	fd = openat(sp->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	memcpy(p, SEG_MAGIC, 8);
	p += 8;
	put32(&p, SEG_VERSION);
	put32(&p, 0);
	n = write(fd, hdr, sizeof(hdr));
	if (n != (ssize_t)sizeof(hdr)) {
		err = n < 0 ? -errno : -EIO;
		close(fd);
		unlinkat(sp->dirfd, name, 0);
		return err;
	}
	seg = seg_add(sp, sp->next_id);
	if (!seg) {
		close(fd);
		unlinkat(sp->dirfd, name, 0);
		return -ENOMEM;
	}
	sp->next_id++;
	seg->fd = fd;
	seg->bytes = SPOOL_SEGMENT_HEADER;
	seg->dirty = true;
	sp->st.bytes += SPOOL_SEGMENT_HEADER;
	sp->active = seg;
	sp->dir_dirty = true;
	return 0;
}

/* --- reader ------------------------------------------------------------------------------ */

static void reader_reset(struct spool *sp)
{
	if (sp->rfd >= 0)
		close(sp->rfd);
	sp->rfd = -1;
	sp->rseg = NULL;
	sp->rbuf_len = 0;
	sp->rbuf_off = 0;
	sp->peeked = false;
}

/*
 * Bytes [off, off + want) of the reader's segment, as far as the file has them: returns a
 * pointer to off in the buffer and the bytes available there (fewer than want at the end).
 */
static const char *reader_fill(struct spool *sp, uint64_t off, size_t want, size_t *avail)
{
	uint64_t size = sp->rseg->bytes;
	size_t cap, got = 0;

	if (off >= size) {
		*avail = 0;
		return sp->rbuf;
	}
	if (want > size - off)
		want = (size_t)(size - off);
	if (off >= sp->rbuf_off && off + want <= sp->rbuf_off + sp->rbuf_len) {
		*avail = want;
		return sp->rbuf + (off - sp->rbuf_off);
	}
	cap = want > READ_WINDOW ? want : READ_WINDOW;
	if (cap > sp->rcap) {
		char *b = realloc(sp->rbuf, cap);

		if (!b) {
			*avail = 0;
			return sp->rbuf;
		}
		sp->rbuf = b;
		sp->rcap = cap;
	}
	while (got < sp->rcap && off + got < size) {
		ssize_t n = pread(sp->rfd, sp->rbuf + got, sp->rcap - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	sp->rbuf_off = off;
	sp->rbuf_len = got;
	*avail = got < want ? got : want;
	return sp->rbuf;
}

/* Is there a valid record at off? 0 and its payload length, or -EBADMSG / -ENODATA. */
static int frame_check(struct spool *sp, uint64_t off, struct spool_record *rec, size_t *plen)
{
	const char *p;
	size_t avail;
	uint32_t len;

	p = reader_fill(sp, off, SPOOL_FRAME_OVERHEAD, &avail);
	if (avail < SPOOL_FRAME_OVERHEAD)
		return -ENODATA;
	if (get32(p) != REC_MAGIC)
		return -EBADMSG;
	len = get32(p + 4);
	if (len > SPOOL_RECORD_MAX)
		return -EBADMSG;
	p = reader_fill(sp, off, SPOOL_FRAME_OVERHEAD + (size_t)len, &avail);
	if (avail < SPOOL_FRAME_OVERHEAD + (size_t)len)
		return -ENODATA;
	if (get32(p + 8) != frame_crc(p + 4, p + SPOOL_FRAME_OVERHEAD, len))
		return -EBADMSG;
	if (record_decode(p + SPOOL_FRAME_OVERHEAD, len, rec))
		return -EBADMSG;
	*plen = len;
	return 0;
}

/* The offset of the next valid record at or after `from`, or the segment's size. */
static uint64_t reader_resync(struct spool *sp, uint64_t from)
{
	uint64_t size = sp->rseg->bytes, pos = from;
	struct spool_record rec;
	size_t avail, plen;

	while (pos + SPOOL_FRAME_OVERHEAD <= size) {
		const char *p = reader_fill(sp, pos, READ_WINDOW, &avail);
		const char *hit = memmem(p, avail, REC_MAGIC_STR, 4);
		uint64_t cand;

		if (!hit) {
			if (avail <= 3)
				break;
			pos += avail - 3;
			continue;
		}
		cand = pos + (uint64_t)(hit - p);
		if (!frame_check(sp, cand, &rec, &plen))
			return cand;
		pos = cand + 1;
	}
	return size;
}

/* The next valid record of the reader's segment at or after roff; -ENOENT at its end. */
static int reader_next(struct spool *sp, struct spool_record *rec)
{
	uint64_t size = sp->rseg->bytes;
	size_t plen;

	while (sp->roff < size) {
		uint64_t bad = sp->roff, next;
		int err = frame_check(sp, sp->roff, rec, &plen);

		if (!err) {
			sp->peek_next = sp->roff + SPOOL_FRAME_OVERHEAD + plen;
			return 0;
		}
		next = reader_resync(sp, bad + 1);
		if (!sp->counting) {
			if (next < size) {
				sp->st.corrupt++;
				log_warn("spool '%s': segment %016" PRIx64 ": %" PRIu64
					 " corrupt bytes at offset %" PRIu64 " skipped",
					 sp->dir, sp->rseg->id, next - bad, bad);
			} else {
				sp->st.torn++;
				log_warn("spool '%s': segment %016" PRIx64 ": torn tail of %" PRIu64
					 " bytes at offset %" PRIu64 " skipped",
					 sp->dir, sp->rseg->id, size - bad, bad);
			}
		}
		sp->roff = next;
	}
	return -ENOENT;
}

static int reader_open(struct spool *sp, struct spool_seg *seg)
{
	char name[32];
	const char *p;
	size_t avail;

	seg_name(name, sizeof(name), seg->id);
	sp->rfd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (sp->rfd < 0)
		return -errno;
	sp->rseg = seg;
	sp->rbuf_len = 0;
	sp->roff = seg->start;
	p = reader_fill(sp, 0, SPOOL_SEGMENT_HEADER, &avail);
	if (avail < SPOOL_SEGMENT_HEADER) {
		/* Created, but its header never made it to disk: a torn segment, nothing in it. */
		if (!sp->counting) {
			sp->st.torn++;
			log_warn("spool '%s': segment %016" PRIx64 ": torn header", sp->dir,
				 seg->id);
		}
		sp->roff = seg->bytes;
	} else if (memcmp(p, SEG_MAGIC, 8) || get32(p + 8) != SEG_VERSION) {
		/* Not ours or damaged: look for records anyway; the reader resyncs on magic. */
		if (!sp->counting) {
			sp->st.corrupt++;
			log_warn("spool '%s': segment %016" PRIx64 ": bad header", sp->dir,
				 seg->id);
		}
	}
	return 0;
}

/* --- open and close ---------------------------------------------------------------------- */

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX], *p;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void read_cursor(struct spool *sp, uint64_t *id, uint64_t *off)
{
	char buf[64] = "";
	ssize_t n;
	int fd;

	*id = UINT64_MAX;
	*off = 0;
	fd = openat(sp->dirfd, CURSOR_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		if (sscanf(buf, "AWCURSOR1 %" SCNx64 " %" SCNu64, id, off) != 2)
			*id = UINT64_MAX;
	}
}

/* Count the valid records of a segment found on disk, from its start. */
static void index_segment(struct spool *sp, struct spool_seg *seg)
{
	struct spool_record rec;

	sp->counting = true;
	if (!reader_open(sp, seg)) {
		while (!reader_next(sp, &rec)) {
			seg->records++;
			sp->roff = sp->peek_next;
		}
	}
	reader_reset(sp);
	sp->counting = false;
}

static int load_segments(struct spool *sp)
{
	uint64_t *ids = NULL, cursor_id, cursor_off;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	int fd, err = 0;

	read_cursor(sp, &cursor_id, &cursor_off);
	sp->cursor_id = cursor_id;
	/* Ids are never reused, so a cursor can only ever name the segment it was written for. */
	if (cursor_id != UINT64_MAX)
		sp->next_id = cursor_id + 1;
	fd = openat(sp->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		uint64_t id;
		char tail[8];

		if (sscanf(de->d_name, "%16" SCNx64 "%7s", &id, tail) != 2 ||
		    strcmp(tail, ".seg") || strlen(de->d_name) != 20)
			continue;
		if (n == cap) {
			uint64_t *p = realloc(ids, (cap ? cap * 2 : 64) * sizeof(*ids));

			if (!p) {
				err = -ENOMEM;
				goto out;
			}
			ids = p;
			cap = cap ? cap * 2 : 64;
		}
		ids[n++] = id;
	}
	qsort(ids, n, sizeof(*ids), cmp_u64);
	for (i = 0; i < n; i++) {
		struct spool_seg *seg = seg_add(sp, ids[i]);
		char name[32];
		struct stat stt;

		if (!seg) {
			err = -ENOMEM;
			goto out;
		}
		seg->sealed = true;
		seg_name(name, sizeof(name), ids[i]);
		if (fstatat(sp->dirfd, name, &stt, 0) == 0)
			seg->bytes = (uint64_t)stt.st_size;
		if (ids[i] == cursor_id && cursor_off > seg->start)
			seg->start = cursor_off < seg->bytes ? cursor_off : seg->bytes;
		index_segment(sp, seg);
		sp->st.bytes += seg->bytes;
		sp->st.records += seg->records;
		if (ids[i] >= sp->next_id)
			sp->next_id = ids[i] + 1;
	}
out:
	closedir(d);
	free(ids);
	return err;
}

int spool__open(struct spool **out, const struct spool_opts *opts)
{
	struct spool *sp = calloc(1, sizeof(*sp));
	int err;

	if (!sp)
		return -ENOMEM;
	pthread_mutex_init(&sp->lock, NULL);
	sp->dirfd = -1;
	sp->rfd = -1;
	sp->next_id = 1;
	sp->cursor_id = UINT64_MAX;
	sp->fsync = opts->fsync;
	sp->fsync_interval_ms = opts->fsync_interval_ms ? opts->fsync_interval_ms : 1000;
	sp->max_bytes = opts->max_bytes ? opts->max_bytes : SPOOL_DEFAULT_MAX_BYTES;
	sp->segment_bytes = opts->segment_bytes;
	if (!sp->segment_bytes) {
		sp->segment_bytes = sp->max_bytes / 8;
		if (sp->segment_bytes > SPOOL_SEGMENT_MAX)
			sp->segment_bytes = SPOOL_SEGMENT_MAX;
		if (sp->segment_bytes < SPOOL_SEGMENT_MIN)
			sp->segment_bytes = SPOOL_SEGMENT_MIN;
	}
	if (!opts->dir || !opts->dir[0]) {
		*out = sp;
		return 0;
	}
	sp->dir = strdup(opts->dir);
	if (!sp->dir) {
		err = -ENOMEM;
		goto out_free;
	}
	err = mkdir_p(sp->dir);
	if (err) {
		log_error("spool '%s': create: %s", sp->dir, strerror(-err));
		goto out_free;
	}
	sp->dirfd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0) {
		err = log_errno(errno, "spool '%s': open", sp->dir);
		goto out_free;
	}
	/* Two writers would interleave segments: one process per spool directory. */
	if (flock(sp->dirfd, LOCK_EX | LOCK_NB)) {
		err = log_errno(errno == EWOULDBLOCK ? EBUSY : errno,
				"spool '%s': locked by another process", sp->dir);
		goto out_free;
	}
	err = load_segments(sp);
	if (err) {
		log_error("spool '%s': index: %s", sp->dir, strerror(-err));
		goto out_free;
	}
	if (sp->st.records)
		log_info("spool '%s': %" PRIu64 " records in %" PRIu64 " segments to replay",
			 sp->dir, sp->st.records, sp->st.segments);
	*out = sp;
	return 0;

out_free:
	spool__close(sp);
	return err;
}

static void write_cursor(struct spool *sp)
{
	char buf[64];
	int fd, n;

	if (!sp->rseg || sp->rseg->outstanding || sp->roff <= sp->rseg->start)
		return;
	n = snprintf(buf, sizeof(buf), "AWCURSOR1 %016" PRIx64 " %" PRIu64 "\n", sp->rseg->id,
		     sp->roff);
	fd = openat(sp->dirfd, CURSOR_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, buf, (size_t)n) != n || fdatasync(fd)) {
		close(fd);
		unlinkat(sp->dirfd, CURSOR_TMP, 0);
		return;
	}
	close(fd);
	if (renameat(sp->dirfd, CURSOR_TMP, sp->dirfd, CURSOR_NAME) == 0) {
		sp->cursor_id = sp->rseg->id;
		fsync(sp->dirfd);
	}
}

void spool__close(struct spool *sp)
{
	struct spool_seg *seg, *next;

	if (!sp)
		return;
	if (sp->dirfd >= 0) {
		spool__sync(sp);
		write_cursor(sp);
	}
	reader_reset(sp);
	for (seg = sp->head; seg; seg = next) {
		next = seg->next;
		if (seg->fd >= 0)
			close(seg->fd);
		free(seg);
	}
	if (sp->dirfd >= 0)
		close(sp->dirfd); /* drops the flock */
	pthread_mutex_destroy(&sp->lock);
	free(sp->wbuf);
	free(sp->rbuf);
	free(sp->dir);
	free(sp);
}

/* --- append ------------------------------------------------------------------------------ */

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int refuse(struct spool *sp, const struct spool_record *rec, int err)
{
	sp->st.refused++;
	gap_add(&sp->gap, rec->timestamp_ms, 1);
	return err;
}

int spool__append(struct spool *sp, const struct spool_record *rec, unsigned int flags)
{
	size_t size = spool_record__size(rec);
	struct spool_seg *seg;
	int err;

	pthread_mutex_lock(&sp->lock);
	err = record_check(rec);
	if (err) {
		err = refuse(sp, rec, err);
		goto out;
	}
	if (sp->dirfd < 0) {
		err = refuse(sp, rec, -ENOSPC);
		goto out;
	}
	if (!(flags & SPOOL_F_FORCE)) {
		uint64_t need = size;

		if (!sp->active || sp->active->bytes + size > sp->segment_bytes)
			need += SPOOL_SEGMENT_HEADER;
		update_full(sp);
		if (!sp->st.full && sp->st.bytes + need > sp->max_bytes) {
			sp->st.full = true;
			log_warn("spool '%s': full (%" PRIu64 " bytes): dropping new records until "
				 "a segment's worth is replayed",
				 sp->dir, sp->st.bytes);
		}
		if (sp->st.full) {
			err = refuse(sp, rec, -ENOSPC);
			goto out;
		}
	}
	if (!sp->active || (sp->active->bytes + size > sp->segment_bytes &&
			    sp->active->bytes > SPOOL_SEGMENT_HEADER)) {
		err = seg_create(sp);
		if (err) {
			sp->st.io_errors++;
			log_warn("spool '%s': new segment: %s", sp->dir, strerror(-err));
			err = refuse(sp, rec, err);
			goto out;
		}
	}
	if (size > sp->wcap) {
		size_t cap = size < 4096 ? 4096 : size;
		char *b = realloc(sp->wbuf, cap);

		if (!b) {
			err = refuse(sp, rec, -ENOMEM);
			goto out;
		}
		sp->wbuf = b;
		sp->wcap = cap;
	}
	seg = sp->active;
	record_encode(rec, sp->wbuf);
	err = write_all(seg->fd, sp->wbuf, size);
	if (err) {
		/* Cut a partial record off, so the segment stays a clean sequence of records. */
		if (ftruncate(seg->fd, (off_t)seg->bytes))
			seg_seal(sp);
		sp->st.io_errors++;
		err = refuse(sp, rec, err);
		goto out;
	}
	seg->bytes += size;
	seg->records++;
	seg->dirty = true;
	sp->st.bytes += size;
	sp->st.records++;
	sp->st.appended++;
	if (sp->fsync == SPOOL_FSYNC_ALWAYS && fdatasync(seg->fd))
		sp->st.io_errors++;
out:
	pthread_mutex_unlock(&sp->lock);
	return err;
}

void spool__note_loss(struct spool *sp, int64_t timestamp_ms, uint64_t n)
{
	if (!n)
		return;
	pthread_mutex_lock(&sp->lock);
	gap_add(&sp->gap, timestamp_ms, n);
	pthread_mutex_unlock(&sp->lock);
}

bool spool__take_gap(struct spool *sp, struct spool_gap *gap)
{
	bool any;

	pthread_mutex_lock(&sp->lock);
	any = sp->gap.lost > 0;
	*gap = sp->gap;
	memset(&sp->gap, 0, sizeof(sp->gap));
	pthread_mutex_unlock(&sp->lock);
	return any;
}

bool spool__has_room(struct spool *sp)
{
	bool room;

	pthread_mutex_lock(&sp->lock);
	update_full(sp);
	room = sp->dirfd >= 0 && !sp->st.full;
	pthread_mutex_unlock(&sp->lock);
	return room;
}

/* --- replay ------------------------------------------------------------------------------ */

int spool__peek(struct spool *sp, struct spool_record *rec, void **ticket)
{
	int err = -ENOENT;

	pthread_mutex_lock(&sp->lock);
	if (sp->dirfd < 0)
		goto out;
	for (;;) {
		struct spool_seg *seg = sp->rseg;

		if (!seg) {
			for (seg = sp->head; seg && seg->read_done; seg = seg->next)
				;
			if (!seg) {
				err = -ENOENT;
				goto out;
			}
			if (seg == sp->active) {
				if (!seg->records) {
					err = -ENOENT;
					goto out;
				}
				seg_seal(sp);
			}
			err = reader_open(sp, seg);
			if (err) {
				sp->st.io_errors++;
				log_warn("spool '%s': open segment %016" PRIx64 ": %s", sp->dir,
					 seg->id, strerror(-err));
				seg->read_done = true;
				goto out;
			}
		}
		err = reader_next(sp, rec);
		if (!err) {
			*ticket = seg;
			sp->peeked = true;
			goto out;
		}
		seg->read_done = true;
		reader_reset(sp);
		if (!seg->outstanding)
			seg_delete(sp, seg);
	}
out:
	pthread_mutex_unlock(&sp->lock);
	return err;
}

void spool__consume(struct spool *sp)
{
	pthread_mutex_lock(&sp->lock);
	if (sp->peeked && sp->rseg) {
		sp->roff = sp->peek_next;
		sp->rseg->outstanding++;
		sp->st.consumed++;
		sp->peeked = false;
	}
	pthread_mutex_unlock(&sp->lock);
}

void spool__ack(struct spool *sp, void *ticket)
{
	struct spool_seg *seg = ticket;

	pthread_mutex_lock(&sp->lock);
	if (seg->outstanding)
		seg->outstanding--;
	if (seg->records) {
		seg->records--;
		sp->st.records--;
	}
	if (seg->read_done && !seg->outstanding)
		seg_delete(sp, seg);
	pthread_mutex_unlock(&sp->lock);
}

/* --- sync and stats ---------------------------------------------------------------------- */

/*
 * Sync what is due without holding the lock during the I/O: sealed segments' fds are taken
 * over and closed here; the active one is synced through a dup.
 */
static int sync_due(struct spool *sp, uint64_t now_ms, bool force)
{
	int fds[64], n = 0, active = -1, dirfd = -1, err = 0, i;
	struct spool_seg *seg;
	bool due;

	pthread_mutex_lock(&sp->lock);
	if (sp->dirfd < 0) {
		pthread_mutex_unlock(&sp->lock);
		return 0;
	}
	due = force || (sp->fsync == SPOOL_FSYNC_INTERVAL &&
			now_ms - sp->last_sync_ms >= sp->fsync_interval_ms);
	for (seg = sp->head; seg && n < (int)(sizeof(fds) / sizeof(fds[0])); seg = seg->next) {
		if (seg->fd < 0 || seg == sp->active)
			continue;
		/* Sealed: sync (unless the policy is never) and close. */
		fds[n++] = (seg->dirty && sp->fsync != SPOOL_FSYNC_NEVER) ? seg->fd : -seg->fd - 2;
		seg->fd = -1;
		seg->dirty = false;
	}
	if (due && sp->active && sp->active->dirty && sp->fsync != SPOOL_FSYNC_NEVER) {
		active = dup(sp->active->fd);
		sp->active->dirty = false;
	}
	if (due && sp->dir_dirty && sp->fsync != SPOOL_FSYNC_NEVER) {
		dirfd = dup(sp->dirfd);
		sp->dir_dirty = false;
	}
	if (due)
		sp->last_sync_ms = now_ms;
	pthread_mutex_unlock(&sp->lock);

	for (i = 0; i < n; i++) {
		if (fds[i] >= 0) {
			if (fdatasync(fds[i]))
				err = -errno;
			close(fds[i]);
		} else {
			close(-fds[i] - 2);
		}
	}
	if (active >= 0) {
		if (fdatasync(active))
			err = -errno;
		close(active);
	}
	if (dirfd >= 0) {
		if (fsync(dirfd))
			err = -errno;
		close(dirfd);
	}
	if (err) {
		pthread_mutex_lock(&sp->lock);
		sp->st.io_errors++;
		pthread_mutex_unlock(&sp->lock);
	}
	return err;
}

int spool__tick(struct spool *sp, uint64_t now_ms)
{
	return sync_due(sp, now_ms, false);
}

int spool__sync(struct spool *sp)
{
	return sync_due(sp, sp->last_sync_ms, true);
}

void spool__stats(struct spool *sp, struct spool_stats *st)
{
	pthread_mutex_lock(&sp->lock);
	*st = sp->st;
	pthread_mutex_unlock(&sp->lock);
}

uint64_t spool__pending(struct spool *sp)
{
	uint64_t n;

	pthread_mutex_lock(&sp->lock);
	n = sp->st.records;
	pthread_mutex_unlock(&sp->lock);
	return n;
}
