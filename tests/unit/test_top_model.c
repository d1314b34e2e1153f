// SPDX-License-Identifier: Apache-2.0
/* agentwatch top's data model (user/top_model.h): rates, sorting, filters, aggregation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <agentwatch/event.h>

#include "top_model.h"

static struct top_sample agent(const char *instance, __u32 slot, const char *name)
{
	struct top_sample s = {.slot = slot, .cgroup_id = 1000 + slot, .procs = 1};

	snprintf(s.instance, sizeof(s.instance), "%s", instance);
	snprintf(s.name, sizeof(s.name), "%s", name);
	snprintf(s.agent_uid, sizeof(s.agent_uid), "uid-%s-%u", instance, slot);
	snprintf(s.session, sizeof(s.session), "sess-%s", name);
	s.enforce = TOP_ENF_NONE;
	return s;
}

static void update(struct top_model *m, double t, const struct top_sample *a, size_t n)
{
	struct top_snapshot snap = {.t = t, .n = n, .agents = a};

	snap.hdr.policy_gen = -1;
	snap.hdr.events = -1;
	assert_int_equal(top_model__update(m, &snap), 0);
}

static void test_rates_over_two_snapshots(void **state)
{
	struct top_model m;
	struct top_sample a = agent("exec-1", 1, "claude");
	const struct top_row *r;

	top_model__init(&m);
	a.c.execs = 10;
	a.c.opens = 100;
	a.c.connects = 4;
	a.c.denials = 1;
	update(&m, 10.0, &a, 1);
	r = top_model__row(&m, 0);
	assert_non_null(r);
	assert_false(r->have_rates); /* one snapshot: totals, no rates */

	a.c.execs = 14;
	a.c.opens = 300;
	a.c.connects = 5;
	a.c.denials = 3;
	a.c.syscalls = 2000;
	update(&m, 12.0, &a, 1);
	r = top_model__row(&m, 0);
	assert_true(r->have_rates);
	assert_true(r->execs > 1.99 && r->execs < 2.01);
	assert_true(r->opens > 99.9 && r->opens < 100.1);
	assert_true(r->connects > 0.49 && r->connects < 0.51);
	assert_true(r->denials > 0.99 && r->denials < 1.01);
	assert_true(r->syscalls > 999 && r->syscalls < 1001);
	assert_true(m.hdr.have_rates);
	assert_true(m.hdr.interval > 1.99 && m.hdr.interval < 2.01);
	/* No daemon: the header's event rate is what the agents did (execs + opens + connects). */
	assert_true(m.hdr.events > 102.4 && m.hdr.events < 102.6);

	/* A counter going down: new maps or a reused slot; no rate for that interval. */
	a.c.opens = 5;
	update(&m, 13.0, &a, 1);
	assert_false(top_model__row(&m, 0)->have_rates);

	/* The same slot with another root cgroup is another agent. */
	a.cgroup_id++;
	a.c.opens = 50;
	update(&m, 14.0, &a, 1);
	assert_false(top_model__row(&m, 0)->have_rates);
	top_model__free(&m);
}

static void test_header_rates(void **state)
{
	struct top_model m;
	struct top_snapshot snap = {.t = 1.0};

	top_model__init(&m);
	snap.hdr.daemon = true;
	snap.hdr.events = 1000;
	snap.hdr.drops = 7;
	snap.hdr.policy_gen = 3;
	assert_int_equal(top_model__update(&m, &snap), 0);
	assert_false(m.hdr.have_rates);
	snap.t = 1.5;
	snap.hdr.events = 1600;
	snap.hdr.drops = 17;
	assert_int_equal(top_model__update(&m, &snap), 0);
	assert_true(m.hdr.have_rates);
	assert_true(m.hdr.events > 1199 && m.hdr.events < 1201);
	assert_true(m.hdr.drops > 19.9 && m.hdr.drops < 20.1);
	assert_int_equal(m.hdr.s.policy_gen, 3);
	assert_int_equal(m.n_visible, 0);
	top_model__free(&m);
}

/* Three agents, each first in a different way, and the order of every column. */
static void test_sort_each_column(void **state)
{
	struct top_sample a[3] = {agent("daemon", 1, "alpha"), agent("daemon", 2, "bravo"),
				  agent("exec-9", 1, "charlie")};
	struct top_model m;
	struct top_event ev = {.kind = TOP_EV_CONNECT,
			       .ip = "10.0.0.1",
			       .port = 443,
			       .proto = "tcp",
			       .agent_uid = a[1].agent_uid};
	/* The expected first row of each column's default order (busiest / A first). */
	static const char *const first[TOP_COL__COUNT] = {
		[TOP_COL_NAME] = "alpha",     [TOP_COL_SESSION] = "alpha",
		[TOP_COL_POD] = "charlie",    [TOP_COL_PROCS] = "bravo",
		[TOP_COL_EXECS] = "charlie",  [TOP_COL_OPENS] = "alpha",
		[TOP_COL_CONNECTS] = "bravo", [TOP_COL_SYSCALLS] = "charlie",
		[TOP_COL_DENIALS] = "bravo",  [TOP_COL_DENY_RATE] = "charlie",
		[TOP_COL_AUDITS] = "alpha",   [TOP_COL_DROPPED] = "charlie",
		[TOP_COL_EGRESS] = "bravo",   [TOP_COL_ENFORCE] = "alpha",
	};
	int col;

	top_model__init(&m);
	snprintf(a[2].pod, sizeof(a[2].pod), "5f2d8c1e-3b4a-4c6d-9e8f-0a1b2c3d4e5f");
	a[1].procs = 7;
	a[0].enforce = TOP_ENF_NONE;
	a[1].enforce = AW_LEVEL_LSM;
	a[2].enforce = TOP_ENF_UNKNOWN;
	update(&m, 0, a, 3);
	a[0].c.opens = 500;
	a[0].c.execs = 1;
	a[1].c.opens = 20;
	a[1].c.connects = 30;
	a[1].c.denials = 100; /* many denials in total, none lately */
	a[2].c.execs = 40;
	a[2].c.syscalls = 9000;
	a[2].c.denials = 5;
	a[2].c.dropped = 3;
	a[0].c.would_block = 8;
	update(&m, 1, a, 3);
	a[0].c.opens += 10;
	a[2].c.denials += 5;
	a[2].c.execs += 10;
	a[2].c.syscalls += 100;
	a[1].c.connects += 10;
	a[0].c.execs += 1;
	update(&m, 2, a, 3);
	assert_int_equal(top_model__event(&m, "daemon", &ev), 0);

	for (col = 0; col < TOP_COL__COUNT; col++) {
		const struct top_row *r0, *r2;

		top_model__set_sort(&m, (enum top_col)col, false);
		assert_int_equal(m.n_visible, 3);
		r0 = top_model__row(&m, 0);
		if (strcmp(r0->s.name, first[col]))
			fail_msg("column %s: first row %s, want %s", top_col__info(col)->key,
				 r0->s.name, first[col]);
		for (size_t i = 1; i < 3; i++)
			assert_true(top_model__compare(&m, top_model__row(&m, i - 1),
						       top_model__row(&m, i)) <= 0);
		/* Reversed: still sorted; where all three differ, the last row comes first. */
		r2 = top_model__row(&m, 2);
		top_model__set_sort(&m, (enum top_col)col, true);
		for (size_t i = 1; i < 3; i++)
			assert_true(top_model__compare(&m, top_model__row(&m, i - 1),
						       top_model__row(&m, i)) <= 0);
		if (col == TOP_COL_NAME || col == TOP_COL_SESSION || col == TOP_COL_EXECS ||
		    col == TOP_COL_DENIALS || col == TOP_COL_ENFORCE)
			assert_string_equal(top_model__row(&m, 0)->s.name, r2->s.name);
	}
	/* Ties keep a stable order: by name, then instance, then slot. */
	top_model__set_sort(&m, TOP_COL_DROPPED, false);
	assert_string_equal(top_model__row(&m, 1)->s.name, "alpha");
	assert_string_equal(top_model__row(&m, 2)->s.name, "bravo");
	assert_int_equal(top_col__parse("opens"), TOP_COL_OPENS);
	assert_int_equal(top_col__parse("DENY/s"), TOP_COL_DENY_RATE);
	assert_int_equal(top_col__parse("nope"), -ENOENT);
	top_model__free(&m);
}

static void test_filters(void **state)
{
	struct top_sample a[4] = {agent("daemon", 1, "claude-code"), agent("daemon", 2, "aider"),
				  agent("exec-77", 1, "Claude-2"), agent("daemon", 3, "codex")};
	struct top_model m;
	struct top_event ev = {
		.kind = TOP_EV_CONNECT, .ip = "140.82.112.3", .port = 443, .proto = "tcp"};

	top_model__init(&m);
	snprintf(a[1].pod, sizeof(a[1].pod), "pod-1234");
	snprintf(a[3].container, sizeof(a[3].container), "abcdef0123456789");
	update(&m, 1, a, 4);
	ev.agent_uid = a[3].agent_uid;
	assert_int_equal(top_model__event(&m, "daemon", &ev), 0);

	top_model__set_filter(&m, "claude");
	assert_int_equal(m.n_visible, 2); /* case-insensitive */
	top_model__set_filter(&m, "pod-12");
	assert_int_equal(m.n_visible, 1);
	assert_string_equal(top_model__row(&m, 0)->s.name, "aider");
	top_model__set_filter(&m, "exec-77");
	assert_int_equal(m.n_visible, 1);
	assert_string_equal(top_model__row(&m, 0)->s.name, "Claude-2");
	top_model__set_filter(&m, "140.82");
	assert_int_equal(m.n_visible, 1);
	assert_string_equal(top_model__row(&m, 0)->s.name, "codex");
	top_model__set_filter(&m, "ABCDEF01");
	assert_int_equal(m.n_visible, 1);
	top_model__set_filter(&m, "sess-aider");
	assert_int_equal(m.n_visible, 1);
	top_model__set_filter(&m, "nothing-matches");
	assert_int_equal(m.n_visible, 0);
	assert_null(top_model__row(&m, 0));
	/* A filter survives the next snapshot. */
	top_model__set_filter(&m, "claude");
	update(&m, 2, a, 4);
	assert_int_equal(m.n_visible, 2);
	top_model__set_filter(&m, "");
	assert_int_equal(m.n_visible, 4);
	assert_true(top_model__find(&m, "exec-77", 1, 1001) >= 0);
	assert_int_equal(top_model__find(&m, "exec-78", 1, 1001), -ENOENT);
	top_model__free(&m);
}

static void test_long_names_truncated(void **state)
{
	struct top_sample a = agent("daemon", 1, "");
	struct top_model m;
	char cell[256], out[32];

	memset(a.name, 'n', sizeof(a.name) - 1);
	a.name[sizeof(a.name) - 1] = '\0';
	a.name[3] = '\x1b'; /* an escape sequence must never reach the terminal */
	a.name[4] = '\n';
	top_model__init(&m);
	update(&m, 1, &a, 1);
	top_row__cell(top_model__row(&m, 0), TOP_COL_NAME, cell, sizeof(cell));
	assert_int_equal(strlen(cell), 63);
	assert_int_equal(top__fit(out, sizeof(out), cell, 12), 12);
	assert_string_equal(out, "nnn??nnnnnn~");
	/* Short strings are left alone, and nothing is written past the buffer. */
	assert_int_equal(top__fit(out, sizeof(out), "abc", 12), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(top__fit(out, 5, "abcdefgh", 12), 4);
	assert_string_equal(out, "abc~");
	assert_int_equal(top__fit(out, sizeof(out), "abc", 0), 0);
	assert_string_equal(out, "");
	assert_int_equal(top__fit(out, sizeof(out), "\xc3\xa9t\xc3\xa9", 10), 5);
	assert_string_equal(out, "??t??");
	assert_int_equal(top__fit(out, sizeof(out), NULL, 10), 0);
	/* An unnamed agent is shown by slot. */
	a.name[0] = '\0';
	update(&m, 2, &a, 1);
	top_row__cell(top_model__row(&m, 0), TOP_COL_NAME, cell, sizeof(cell));
	assert_string_equal(cell, "(slot 1)");
	top_model__free(&m);
}

static void test_formats(void **state)
{
	char b[16];

	top__fmt_count(b, sizeof(b), 0);
	assert_string_equal(b, "0");
	top__fmt_count(b, sizeof(b), 999);
	assert_string_equal(b, "999");
	top__fmt_count(b, sizeof(b), 1234);
	assert_string_equal(b, "1.2k");
	top__fmt_count(b, sizeof(b), 9999);
	assert_string_equal(b, "9.9k");
	top__fmt_count(b, sizeof(b), 123456);
	assert_string_equal(b, "123k");
	top__fmt_count(b, sizeof(b), 4500000);
	assert_string_equal(b, "4.5M");
	top__fmt_count(b, sizeof(b), 18446744073709551615ULL);
	assert_string_equal(b, "18E");
	top__fmt_rate(b, sizeof(b), 0);
	assert_string_equal(b, "0");
	top__fmt_rate(b, sizeof(b), 0.5);
	assert_string_equal(b, "0.5");
	top__fmt_rate(b, sizeof(b), 42.4);
	assert_string_equal(b, "42");
	top__fmt_rate(b, sizeof(b), 25000);
	assert_string_equal(b, "25k");
	assert_string_equal(top_enforce__name(TOP_ENF_NONE), "none");
	assert_string_equal(top_enforce__name(TOP_ENF_UNKNOWN), "n/a");
	assert_string_equal(top_enforce__name(AW_LEVEL_CGROUP), "cgroup");
}

static void test_cells(void **state)
{
	struct top_sample a = agent("daemon", 4, "x");
	struct top_model m;
	char cell[64];

	top_model__init(&m);
	a.procs = -1;
	a.c.denials = 1500;
	update(&m, 1, &a, 1);
	top_row__cell(top_model__row(&m, 0), TOP_COL_PROCS, cell, sizeof(cell));
	assert_string_equal(cell, "-");
	top_row__cell(top_model__row(&m, 0), TOP_COL_OPENS, cell, sizeof(cell));
	assert_string_equal(cell, "-"); /* no rate yet */
	top_row__cell(top_model__row(&m, 0), TOP_COL_DENIALS, cell, sizeof(cell));
	assert_string_equal(cell, "1.5k");
	top_row__cell(top_model__row(&m, 0), TOP_COL_EGRESS, cell, sizeof(cell));
	assert_string_equal(cell, "-");
	top_row__cell(top_model__row(&m, 0), TOP_COL_POD, cell, sizeof(cell));
	assert_string_equal(cell, "-");
	update(&m, 2, &a, 1);
	top_row__cell(top_model__row(&m, 0), TOP_COL_OPENS, cell, sizeof(cell));
	assert_string_equal(cell, "0");
	top_row__cell(top_model__row(&m, 0), TOP_COL_SYSCALLS, cell, sizeof(cell));
	assert_string_equal(cell, "-"); /* never counted: syscall observation is off */
	snprintf(a.pod, sizeof(a.pod), "5f2d8c1e-3b4a-4c6d-9e8f-0a1b2c3d4e5f");
	snprintf(a.container, sizeof(a.container), "0123456789abcdef");
	update(&m, 3, &a, 1);
	top_row__cell(top_model__row(&m, 0), TOP_COL_POD, cell, sizeof(cell));
	assert_string_equal(cell, "5f2d8c1e/0123456789ab");
	top_model__free(&m);
}

static void test_events_aggregate(void **state)
{
	struct top_sample a = agent("exec-5", 1, "claude");
	struct top_model m;
	const struct top_row *r;
	const struct top_tally_entry *t[8];
	const struct top_recent *rec;
	struct top_event ev = {.agent_uid = a.agent_uid, .time_ms = 1000};
	size_t n, i;

	top_model__init(&m);
	update(&m, 1, &a, 1);
	ev.kind = TOP_EV_EXEC;
	ev.pid = 100;
	ev.ppid = 1;
	ev.comm = "bash";
	ev.path = "/usr/bin/bash";
	ev.cmdline = "bash -c work";
	assert_int_equal(top_model__event(&m, "exec-5", &ev), 0);
	ev = (struct top_event){.agent_uid = a.agent_uid,
				.kind = TOP_EV_FORK,
				.pid = 101,
				.ppid = 100,
				.time_ms = 1001};
	assert_int_equal(top_model__event(&m, "exec-5", &ev), 0);
	for (i = 0; i < 5; i++) {
		ev = (struct top_event){.agent_uid = a.agent_uid,
					.kind = TOP_EV_OPEN,
					.pid = 101,
					.comm = "bash",
					.path = i < 3 ? "/etc/hosts" : "/tmp/x",
					.access = i < 3 ? AW_ACC_READ : AW_ACC_WRITE,
					.time_ms = 1002 + i};
		assert_int_equal(top_model__event(&m, "exec-5", &ev), 0);
	}
	for (i = 0; i < 4; i++) {
		ev = (struct top_event){.agent_uid = a.agent_uid,
					.kind = TOP_EV_CONNECT,
					.pid = 100,
					.ip = i ? "10.0.0.1" : "::1",
					.port = i ? 443 : 80,
					.proto = "tcp",
					.time_ms = 1010 + i};
		assert_int_equal(top_model__event(&m, "exec-5", &ev), 0);
	}
	ev = (struct top_event){.agent_uid = a.agent_uid,
				.kind = TOP_EV_OPEN,
				.pid = 101,
				.path = "/root/.ssh/id_rsa",
				.disp = TOP_DISP_BLOCKED,
				.rule = "ssh-keys",
				.status = "EPERM",
				.time_ms = 1020};
	assert_int_equal(top_model__event(&m, "exec-5", &ev), 0);
	ev.disp = TOP_DISP_WOULD_BLOCK;
	assert_int_equal(top_model__event(&m, "exec-5", &ev), 0);
	ev = (struct top_event){.agent_uid = a.agent_uid,
				.kind = TOP_EV_CONNECT,
				.pid = 101,
				.ip = "169.254.169.254",
				.port = 80,
				.proto = "tcp",
				.disp = TOP_DISP_BLOCKED,
				.rule = "cloud-metadata",
				.time_ms = 1021};
	assert_int_equal(top_model__event(&m, "exec-5", &ev), 0);
	ev = (struct top_event){
		.agent_uid = a.agent_uid, .kind = TOP_EV_EXIT, .pid = 101, .time_ms = 1030};
	assert_int_equal(top_model__event(&m, "exec-5", &ev), 0);
	/* Without an agent uid there is nothing to attribute the event to. */
	ev.agent_uid = NULL;
	assert_int_equal(top_model__event(&m, "exec-5", &ev), -EINVAL);

	r = top_model__row(&m, 0);
	assert_non_null(r->ev); /* the row learns of its events before the next snapshot */
	assert_int_equal(r->ev->seen, 15);
	assert_string_equal(top_row__egress(r), "10.0.0.1:443");

	rec = top_agent_events__recent(r->ev, 0);
	assert_int_equal(rec->kind, TOP_EV_EXIT);
	rec = top_agent_events__recent(r->ev, 14);
	assert_int_equal(rec->kind, TOP_EV_EXEC);
	assert_string_equal(rec->detail, "bash -c work");
	assert_null(top_agent_events__recent(r->ev, 15));
	rec = top_agent_events__recent(r->ev, 3);
	assert_string_equal(rec->detail, "/root/.ssh/id_rsa (EPERM)");
	assert_string_equal(rec->rule, "ssh-keys");
	rec = top_agent_events__recent(r->ev, 5);
	assert_string_equal(rec->detail, "10.0.0.1:443/tcp");
	rec = top_agent_events__recent(r->ev, 7);
	assert_string_equal(rec->detail, "[::1]:80/tcp");

	/* Processes: the fork inherited the exec'd image, then exited. */
	assert_int_equal(r->ev->n_procs, 2);
	assert_int_equal(r->ev->procs[0].pid, 100);
	assert_int_equal(r->ev->procs[0].execs, 1);
	assert_int_equal(r->ev->procs[0].forks, 1);
	assert_int_equal(r->ev->procs[0].connects, 4);
	assert_int_equal(r->ev->procs[1].pid, 101);
	assert_int_equal(r->ev->procs[1].ppid, 100);
	assert_string_equal(r->ev->procs[1].exe, "/usr/bin/bash");
	assert_int_equal(r->ev->procs[1].opens, 7);
	assert_int_equal(r->ev->procs[1].denials, 3);
	assert_true(r->ev->procs[1].exited);

	/* Files, by count, with the access seen. */
	n = top_tally__sorted(&r->ev->files, t, 8);
	assert_int_equal(n, 3);
	assert_string_equal(t[0]->key, "/etc/hosts");
	assert_int_equal(t[0]->count, 3);
	assert_int_equal(t[0]->flags, AW_ACC_READ);
	assert_string_equal(t[1]->key, "/root/.ssh/id_rsa"); /* equal counts: by path */
	assert_string_equal(t[2]->key, "/tmp/x");
	assert_int_equal(t[2]->flags, AW_ACC_WRITE);
	/* Denials, with rule names, blocked and would-block of the same rule together. */
	n = top_tally__sorted(&r->ev->denials, t, 8);
	assert_int_equal(n, 2);
	assert_string_equal(t[0]->key, "/root/.ssh/id_rsa");
	assert_string_equal(t[0]->tag, "ssh-keys");
	assert_int_equal(t[0]->count, 2);
	assert_int_equal(t[0]->flags, (1U << TOP_DISP_BLOCKED) | (1U << TOP_DISP_WOULD_BLOCK));
	assert_string_equal(t[1]->key, "169.254.169.254:80");
	assert_string_equal(t[1]->tag, "cloud-metadata");
	assert_int_equal(t[1]->kind, TOP_EV_CONNECT);
	n = top_tally__sorted(&r->ev->egress, t, 1);
	assert_int_equal(n, 1);
	assert_int_equal(t[0]->count, 3);
	top_model__free(&m);
}

static void test_bounds(void **state)
{
	struct top_sample a = agent("daemon", 1, "busy");
	struct top_model m;
	struct top_event ev = {.agent_uid = a.agent_uid, .kind = TOP_EV_OPEN};
	const struct top_row *r;
	char path[64];
	size_t i;

	top_model__init(&m);
	update(&m, 1, &a, 1);
	for (i = 0; i < 3 * TOP_TALLY_MAX; i++) {
		snprintf(path, sizeof(path), "/src/file%zu.c", i);
		ev.path = path;
		ev.pid = 1000 + (unsigned int)i;
		ev.time_ms = i;
		assert_int_equal(top_model__event(&m, "daemon", &ev), 0);
	}
	r = top_model__row(&m, 0);
	assert_int_equal(r->ev->files.n, TOP_TALLY_MAX);
	assert_int_equal(r->ev->files.other, 2 * TOP_TALLY_MAX);
	assert_int_equal(r->ev->n_recent, TOP_RECENT_MAX);
	snprintf(path, sizeof(path), "/src/file%d.c", 3 * TOP_TALLY_MAX - 1);
	assert_string_equal(top_agent_events__recent(r->ev, 0)->detail, path);
	assert_int_equal(r->ev->n_procs, TOP_PROCS_MAX);
	assert_int_equal(r->ev->procs_other, 3 * TOP_TALLY_MAX - TOP_PROCS_MAX);

	/* An agent gone for good takes its event state with it after a while. */
	for (i = 0; i <= TOP_EVSTATE_KEEP + 1; i++)
		update(&m, 2.0 + (double)i, NULL, 0);
	assert_int_equal(m.n_evs, 0);
	top_model__free(&m);
}

static void test_100_agents(void **state)
{
	struct top_sample *a = calloc(100, sizeof(*a));
	struct top_model m;
	char name[32];
	size_t i;

	assert_non_null(a);
	top_model__init(&m);
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "agent-%03zu", i);
		a[i] = agent(i < 50 ? "daemon" : "exec-4242", (__u32)(i % 50) + 1, name);
		a[i].c.opens = 1000 * i;
	}
	update(&m, 1, a, 100);
	for (i = 0; i < 100; i++)
		a[i].c.opens += 10 * i; /* agent-i opens 10 i per second */
	update(&m, 2, a, 100);
	assert_int_equal(m.n_visible, 100);
	top_model__set_sort(&m, TOP_COL_OPENS, false);
	for (i = 0; i < 100; i++) {
		const struct top_row *r = top_model__row(&m, i);

		snprintf(name, sizeof(name), "agent-%03zu", 99 - i);
		assert_string_equal(r->s.name, name);
		assert_true(r->have_rates);
		assert_true(r->opens > 10.0 * (double)(99 - i) - 0.01 &&
			    r->opens < 10.0 * (double)(99 - i) + 0.01);
	}
	top_model__set_sort(&m, TOP_COL_NAME, false);
	assert_string_equal(top_model__row(&m, 0)->s.name, "agent-000");
	top_model__set_filter(&m, "agent-09");
	assert_int_equal(m.n_visible, 10);
	top_model__set_filter(&m, "exec-4242");
	assert_int_equal(m.n_visible, 50);
	/* Agents come and go between snapshots: the survivors keep their rates. */
	update(&m, 3, a + 10, 80);
	top_model__set_filter(&m, NULL);
	assert_int_equal(m.n_visible, 80);
	for (i = 0; i < 80; i++)
		assert_true(top_model__row(&m, i)->have_rates);
	top_model__free(&m);
	free(a);
}

static void test_tree_order(void **state)
{
	/* 1 -> {5 -> {9}, 3}; 20 is an orphan (parent not in the list); 30 <-> 31 a cycle. */
	struct top_tree_node n[] = {
		{.pid = 9, .ppid = 5},	 {.pid = 3, .ppid = 1}, {.pid = 20, .ppid = 2},
		{.pid = 5, .ppid = 1},	 {.pid = 1, .ppid = 0}, {.pid = 30, .ppid = 31},
		{.pid = 31, .ppid = 30},
	};
	static const unsigned int want_pid[] = {1, 3, 5, 9, 20, 30, 31};
	static const int want_depth[] = {0, 1, 1, 2, 0, 0, 1};
	size_t i;

	assert_int_equal(top_tree__order(n, 7), 0);
	for (i = 0; i < 7; i++) {
		assert_int_equal(n[i].pid, want_pid[i]);
		assert_int_equal(n[i].depth, want_depth[i]);
	}
	assert_int_equal(top_tree__order(n, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rates_over_two_snapshots),
		cmocka_unit_test(test_header_rates),
		cmocka_unit_test(test_sort_each_column),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_long_names_truncated),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_cells),
		cmocka_unit_test(test_events_aggregate),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_100_agents),
		cmocka_unit_test(test_tree_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
