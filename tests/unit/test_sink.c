// SPDX-License-Identifier: Apache-2.0
/*
 * File and stdout sinks: lines land whole and in order, reopen follows log rotation, failures
 * are counted, and the counters add up.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "sink.h"

struct tmp {
	char dir[64];
	char path[128];
	char rotated[128];
};

static int setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/aw-test-sink.XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/events.jsonl", t->dir);
	snprintf(t->rotated, sizeof(t->rotated), "%s/events.jsonl.1", t->dir);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tmp *t = *state;

	unlink(t->path);
	unlink(t->rotated);
	rmdir(t->path); /* when a test made it a directory */
	rmdir(t->dir);
	free(t);
	return 0;
}

/* The whole file, NUL-terminated; caller frees. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void expect_file(const char *path, const char *want)
{
	char *got = slurp(path);

	assert_string_equal(got, want);
	free(got);
}

static int put(struct sink *s, const char *json)
{
	return sink__write(s, NULL, json, strlen(json));
}

static void test_lines_and_stats(void **state)
{
	struct tmp *t = *state;
	struct sink_stats st;
	struct sink *s = sink_file__new(t->path);

	assert_non_null(s);
	assert_string_equal(sink__name(s), "file");
	assert_int_equal(put(s, "{\"a\":1}"), 0);
	assert_int_equal(put(s, "{\"b\":2}"), 0);
	assert_int_equal(put(s, "{}"), 0);

	/* Buffered until flushed. */
	expect_file(t->path, "");
	sink__stats(s, &st);
	assert_int_equal(st.events, 3);
	assert_int_equal(st.bytes, 8 + 8 + 3);
	assert_int_equal(st.delivered, 0);

	assert_int_equal(sink__flush(s), 0);
	expect_file(t->path, "{\"a\":1}\n{\"b\":2}\n{}\n");
	sink__stats(s, &st);
	assert_int_equal(st.delivered, 3);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.errors, 0);
	assert_int_equal(sink__flush(s), 0); /* nothing left: a no-op */

	/* Close flushes. */
	assert_int_equal(put(s, "{\"c\":3}"), 0);
	sink__close(s);
	expect_file(t->path, "{\"a\":1}\n{\"b\":2}\n{}\n{\"c\":3}\n");

	/* A new sink appends. */
	s = sink_file__new(t->path);
	assert_non_null(s);
	assert_int_equal(put(s, "{\"d\":4}"), 0);
	sink__close(s);
	expect_file(t->path, "{\"a\":1}\n{\"b\":2}\n{}\n{\"c\":3}\n{\"d\":4}\n");
}

static void test_reopen_after_rotation(void **state)
{
	struct tmp *t = *state;
	struct sink_stats st;
	struct sink *s = sink_file__new(t->path);

	assert_non_null(s);
	assert_int_equal(put(s, "{\"n\":1}"), 0);
	assert_int_equal(sink__flush(s), 0);

	/* logrotate renames; lines written before the SIGHUP still go to the renamed file. */
	assert_int_equal(rename(t->path, t->rotated), 0);
	assert_int_equal(put(s, "{\"n\":2}"), 0);
	assert_int_equal(sink__reopen(s), 0);
	assert_int_equal(put(s, "{\"n\":3}"), 0);
	assert_int_equal(sink__flush(s), 0);

	expect_file(t->rotated, "{\"n\":1}\n{\"n\":2}\n");
	expect_file(t->path, "{\"n\":3}\n");
	sink__stats(s, &st);
	assert_int_equal(st.events, 3);
	assert_int_equal(st.delivered, 3);
	assert_int_equal(st.reopens, 1);
	assert_int_equal(st.errors, 0);
	sink__close(s);
}

static void test_reopen_failure_keeps_old_file(void **state)
{
	struct tmp *t = *state;
	struct sink_stats st;
	struct sink *s = sink_file__new(t->path);

	assert_non_null(s);
	assert_int_equal(rename(t->path, t->rotated), 0);
	assert_int_equal(mkdir(t->path, 0700),
			 0); /* the path can no longer be opened for writing */
	assert_int_equal(sink__reopen(s), -EISDIR);

	/* Still writing, to the file it had rather than nowhere. */
	assert_int_equal(put(s, "{\"still\":true}"), 0);
	assert_int_equal(sink__flush(s), 0);
	expect_file(t->rotated, "{\"still\":true}\n");
	sink__stats(s, &st);
	assert_int_equal(st.errors, 1);
	assert_int_equal(st.reopens, 0);
	assert_int_equal(st.delivered, 1);
	sink__close(s);
}

static void test_big_line(void **state)
{
	struct tmp *t = *state;
	size_t big = (1U << 20) + 100, i;
	char *line = malloc(big + 1), *got;
	struct sink_stats st;
	struct sink *s = sink_file__new(t->path);

	assert_non_null(s);
	assert_non_null(line);
	for (i = 0; i < big; i++)
		line[i] = (char)('a' + i % 26);
	line[big] = '\0';
	assert_int_equal(put(s, "{\"first\":1}"), 0);
	assert_int_equal(put(s, line), 0); /* larger than the buffer: written straight through */
	assert_int_equal(put(s, "{\"last\":1}"), 0);
	sink__stats(s, &st);
	sink__close(s);

	got = slurp(t->path);
	assert_int_equal(strlen(got), 12 + big + 1 + 11);
	assert_memory_equal(got, "{\"first\":1}\n", 12);
	assert_memory_equal(got + 12, line, big);
	assert_string_equal(got + 12 + big, "\n{\"last\":1}\n");
	assert_int_equal(st.events, 3);
	free(got);
	free(line);
}

static void test_many_lines_fill_the_buffer(void **state)
{
	struct tmp *t = *state;
	struct sink_stats st;
	struct sink *s = sink_file__new(t->path);
	char line[64], *got, *p;
	int i, n = 100000;

	assert_non_null(s);
	for (i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "{\"i\":%d}", i);
		assert_int_equal(put(s, line), 0);
	}
	sink__stats(s, &st);
	assert_true(st.delivered > 0 &&
		    st.delivered < (uint64_t)n); /* some went out on their own */
	assert_int_equal(sink__flush(s), 0);
	sink__stats(s, &st);
	assert_int_equal(st.delivered, n);
	sink__close(s);

	got = slurp(t->path);
	for (i = 0, p = got; i < n; i++) {
		int len = snprintf(line, sizeof(line), "{\"i\":%d}\n", i);

		assert_memory_equal(p, line, (size_t)len);
		p += len;
	}
	assert_int_equal(*p, '\0');
	free(got);
}

static void test_write_error_counted(void **state)
{
	struct sink_stats st;
	struct sink *s = sink_file__new("/dev/full");

	if (!s) {
		skip(); /* no /dev/full here */
		return;
	}
	assert_int_equal(put(s, "{\"lost\":1}"), 0);
	assert_int_equal(put(s, "{\"lost\":2}"), 0);
	assert_int_equal(sink__flush(s), -ENOSPC);
	sink__stats(s, &st);
	assert_int_equal(st.events, 2);
	assert_int_equal(st.delivered, 0);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(st.errors, 1);
	sink__close(s);
}

/* A write cut short (here by RLIMIT_FSIZE): whole lines are delivered, the rest dropped, and the
 * partial line is ended before the next one so that every line still parses on its own. */
static void test_partial_write(void **state)
{
	struct tmp *t = *state;
	struct rlimit old, lim;
	struct sink_stats st;
	struct sink *s = sink_file__new(t->path);
	void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);

	assert_non_null(s);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 20;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(put(s, "{\"n\":1}"), 0); /* 8 bytes with the newline */
	assert_int_equal(put(s, "{\"n\":2}"), 0);
	assert_int_equal(put(s, "{\"n\":3}"), 0); /* cut after 4 bytes */
	assert_int_equal(put(s, "{\"n\":4}"), 0);
	assert_int_equal(sink__flush(s), -EFBIG);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_handler);
	sink__stats(s, &st);
	assert_int_equal(st.delivered, 2);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(st.errors, 1);

	assert_int_equal(put(s, "{\"n\":5}"), 0);
	assert_int_equal(sink__flush(s), 0);
	sink__close(s);
	expect_file(t->path, "{\"n\":1}\n{\"n\":2}\n{\"n\"\n{\"n\":5}\n");
}

static void test_open_error(void **state)
{
	struct tmp *t = *state;
	char path[192];

	snprintf(path, sizeof(path), "%s/no/such/dir/x.jsonl", t->dir);
	errno = 0;
	assert_null(sink_file__new(path));
	assert_int_equal(errno, ENOENT);
	sink__close(NULL);
}

static void test_stdout(void **state)
{
	struct tmp *t = *state;
	struct sink_stats st;
	struct sink *s;
	int saved, fd;

	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	fd = open(t->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
	close(fd);

	s = sink_stdout__new();
	assert_non_null(s);
	assert_string_equal(sink__name(s), "stdout");
	assert_int_equal(put(s, "{\"out\":1}"), 0);
	assert_int_equal(sink__reopen(s), 0); /* nothing to re-open */
	sink__stats(s, &st);
	sink__close(s); /* flushes, but leaves fd 1 open */
	assert_true(fcntl(STDOUT_FILENO, F_GETFD) >= 0);

	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);
	assert_int_equal(st.events, 1);
	expect_file(t->path, "{\"out\":1}\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lines_and_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_after_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_failure_keeps_old_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_big_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_lines_fill_the_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_error_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stdout, setup, teardown),
	};

	return cmocka_run_group_tests_name("sink", tests, NULL, NULL);
}
