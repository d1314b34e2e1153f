// SPDX-License-Identifier: Apache-2.0
/*
 * The stdout and file sinks: JSON lines through a buffer of our own, written with write(2) when
 * it fills and on flush. Our own buffer rather than stdio, so that a failed write is seen, its
 * lost lines are counted, and a line cut short by it is ended before the next one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sink.h"

#define SINK_FILE_BUF_SIZE (1U << 20)

struct sink_file {
	struct sink base;
	int fd;
	bool own_fd;	  /* close it on close; stdout is not ours */
	bool line_flush;  /* write every line at once (a terminal is watching) */
	bool broken_line; /* a failed write left a partial line at the end of the file */
	char *path;	  /* NULL for stdout: nothing to re-open */
	char *buf;
	size_t len;	  /* bytes buffered */
	uint64_t pending; /* documents buffered */
};

static struct sink_file *to_file(struct sink *s)
{
	return (struct sink_file *)s;
}

/* Write all of an iovec array; *done gets the bytes written, also when it fails. */
static int writev_all(int fd, struct iovec *iov, int cnt, size_t *done)
{
	*done = 0;
	while (cnt > 0) {
		ssize_t n = writev(fd, iov, cnt);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		*done += (size_t)n;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* Lines completed within the first `done` bytes of iov: a failed write still delivered those. */
static uint64_t lines_written(const struct iovec *iov, int cnt, size_t done)
{
	uint64_t lines = 0;
	int i;

	for (i = 0; i < cnt && done; i++) {
		size_t n = done < iov[i].iov_len ? done : iov[i].iov_len;
		const char *p = iov[i].iov_base, *end = p + n;

		while ((p = memchr(p, '\n', (size_t)(end - p)))) {
			lines++;
			p++;
		}
		done -= n;
	}
	return lines;
}

/* The byte at offset done - 1 of iov, done > 0. */
static char last_byte(const struct iovec *iov, size_t done)
{
	while (done > iov->iov_len) {
		done -= iov->iov_len;
		iov++;
	}
	return ((const char *)iov->iov_base)[done - 1];
}

/* Write `iov` (whole lines) after ending a line a failed write cut short, if any. */
static int file_emit(struct sink_file *f, const struct iovec *iov, int cnt, uint64_t docs)
{
	struct iovec all[3], work[3];
	size_t done, fix = f->broken_line ? 1 : 0;
	uint64_t ok;
	int i, n = 0, err;

	if (fix)
		all[n++] = (struct iovec){.iov_base = "\n", .iov_len = 1};
	for (i = 0; i < cnt; i++)
		all[n++] = iov[i];
	memcpy(work, all, sizeof(all[0]) * (size_t)n);
	err = writev_all(f->fd, work, n, &done);
	if (err) {
		ok = done > fix ? lines_written(all + fix, n - (int)fix, done - fix) : 0;
		if (done)
			f->broken_line = last_byte(all, done) != '\n';
		sink_stat__add(&f->base.stats.errors, 1);
		sink_stat__add(&f->base.stats.delivered, ok);
		sink_stat__add(&f->base.stats.dropped, docs - ok);
		return err;
	}
	f->broken_line = false;
	sink_stat__add(&f->base.stats.delivered, docs);
	return 0;
}

static int file_flush(struct sink *s)
{
	struct sink_file *f = to_file(s);
	struct iovec iov = {.iov_base = f->buf, .iov_len = f->len};
	uint64_t docs = f->pending;

	if (!f->len)
		return 0;
	f->len = 0;
	f->pending = 0;
	return file_emit(f, &iov, 1, docs);
}

/*
 * Buffer one line. A failure to write out earlier lines is returned (they are counted as
 * dropped) but this line is still taken.
 */
static int file_write(struct sink *s, const struct aw_event *ev, const char *json, size_t len)
{
	struct sink_file *f = to_file(s);
	int err = 0;

	sink_stat__add(&s->stats.events, 1);
	sink_stat__add(&s->stats.bytes, len + 1);
	if (SINK_FILE_BUF_SIZE - f->len < len + 1)
		err = file_flush(s);
	if (len + 1 > SINK_FILE_BUF_SIZE) {
		struct iovec iov[2] = {{.iov_base = (void *)json, .iov_len = len},
				       {.iov_base = "\n", .iov_len = 1}};
		int e = file_emit(f, iov, 2, 1);

		return err ? err : e;
	}
	memcpy(f->buf + f->len, json, len);
	f->buf[f->len + len] = '\n';
	f->len += len + 1;
	f->pending++;
	if (f->line_flush) {
		int e = file_flush(s);

		return err ? err : e;
	}
	return err;
}

static int file_reopen(struct sink *s)
{
	struct sink_file *f = to_file(s);
	int fd, err;

	if (!f->path)
		return 0;
	file_flush(s); /* a failure is counted; the old file keeps what it got */
	fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		err = -errno;
		sink_stat__add(&s->stats.errors, 1);
		return err; /* keep writing to the old file rather than nowhere */
	}
	close(f->fd);
	f->fd = fd;
	f->broken_line = false;
	sink_stat__add(&s->stats.reopens, 1);
	return 0;
}

static void file_close(struct sink *s)
{
	struct sink_file *f = to_file(s);

	file_flush(s);
	if (f->own_fd)
		close(f->fd);
	free(f->path);
	free(f->buf);
	free(f);
}

static const struct sink_ops stdout_ops = {
	.name = "stdout",
	.write = file_write,
	.flush = file_flush,
	.close = file_close,
};

static const struct sink_ops file_ops = {
	.name = "file",
	.write = file_write,
	.flush = file_flush,
	.reopen = file_reopen,
	.close = file_close,
};

static struct sink_file *sink_file__alloc(const struct sink_ops *ops)
{
	struct sink_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->buf = malloc(SINK_FILE_BUF_SIZE);
	if (!f->buf) {
		free(f);
		return NULL;
	}
	f->base.ops = ops;
	f->fd = -1;
	return f;
}

struct sink *sink_stdout__new(void)
{
	struct sink_file *f = sink_file__alloc(&stdout_ops);

	if (!f)
		return NULL;
	f->fd = STDOUT_FILENO;
	f->line_flush = isatty(STDOUT_FILENO);
	return &f->base;
}

struct sink *sink_file__new(const char *path)
{
	struct sink_file *f = sink_file__alloc(&file_ops);
	int err;

	if (!f)
		return NULL;
	f->own_fd = true;
	f->path = strdup(path);
	if (!f->path) {
		err = -ENOMEM;
		goto out_free;
	}
	f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (f->fd < 0) {
		err = -errno;
		goto out_free;
	}
	return &f->base;

out_free:
	free(f->path);
	free(f->buf);
	free(f);
	errno = -err;
	return NULL;
}
