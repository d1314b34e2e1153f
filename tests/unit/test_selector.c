// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "selector.h"

struct match_case {
	const char *path;
	bool want;
};

static void check_glob(const char *glob, const struct match_case *cases, size_t n)
{
	struct selector s;
	char err[128];
	int ret;

	ret = selector__compile(glob, &s, err, sizeof(err));
	if (ret)
		fail_msg("glob '%s' does not compile: %s", glob, err);
	for (size_t i = 0; i < n; i++)
		if (selector__match(&s, cases[i].path) != cases[i].want)
			fail_msg("glob '%s' vs '%s': want %s", glob, cases[i].path,
				 cases[i].want ? "match" : "no match");
	selector__free(&s);
}

#define CHECK(glob, ...)                                          \
	do {                                                      \
		const struct match_case c_[] = {__VA_ARGS__};     \
		check_glob(glob, c_, sizeof(c_) / sizeof(c_[0])); \
	} while (0)

static bool matches(const char *glob, const char *path)
{
	struct selector s;
	bool m;

	assert_int_equal(selector__compile(glob, &s, NULL, 0), 0);
	m = selector__match(&s, path);
	selector__free(&s);
	return m;
}

static void test_literal(void **state)
{
	CHECK("/sys/fs/cgroup/agentwatch", {"/sys/fs/cgroup/agentwatch", true},
	      {"/sys/fs/cgroup/agentwatch/", true}, {"//sys//fs/cgroup///agentwatch", true},
	      {"/sys/fs/cgroup/agentwatch/x", false}, {"/sys/fs/cgroup", false},
	      {"/sys/fs/cgroup/agentwatc", false}, {"/sys/fs/cgroup/agentwatchx", false},
	      {"/SYS/fs/cgroup/agentwatch", false}, {"sys/fs/cgroup/agentwatch", false},
	      {"", false}, {"/", false});
	CHECK("/", {"/", true}, {"//", true}, {"/a", false}, {"", false});
	/* A trailing '/' and repeated '/' in the glob are ignored too. */
	CHECK("/a//b/", {"/a/b", true}, {"/a/b/", true}, {"/a", false});
	/* . and .. are names, not navigation. */
	CHECK("/a/../b", {"/a/../b", true}, {"/b", false});
}

static void test_star(void **state)
{
	CHECK("/a/*", {"/a/b", true}, {"/a/bcd", true}, {"/a/.hidden", true}, {"/a", false},
	      {"/a/", false}, {"/a/b/c", false}, {"/b/c", false});
	CHECK("/a/*.scope", {"/a/x.scope", true}, {"/a/.scope", true}, {"/a/x.scope/y", false},
	      {"/a/x.scopes", false}, {"/a/xscope", false});
	CHECK("/a/pre*mid*suf", {"/a/premidsuf", true}, {"/a/pre-x-mid-y-suf", true},
	      {"/a/premidmidsufsuf", true}, {"/a/presuf", false}, {"/a/pre/mid/suf", false});
	CHECK("/*/*", {"/a/b", true}, {"/a", false}, {"/a/b/c", false});
	CHECK("/a*b*c*d", {"/aXbXcXd", true}, {"/abcd", true}, {"/abdc", false});
}

static void test_question(void **state)
{
	CHECK("/a/?", {"/a/b", true}, {"/a/bb", false}, {"/a", false}, {"/a/", false});
	CHECK("/a/??c", {"/a/xyc", true}, {"/a/xc", false}, {"/a/x/c", false});
	CHECK("/a?b", {"/a/b", false}, {"/axb", true});
}

static void test_class(void **state)
{
	CHECK("/[abc]", {"/a", true}, {"/c", true}, {"/d", false}, {"/ab", false});
	CHECK("/x[a-z]y", {"/xmy", true}, {"/xAy", false}, {"/x-y", false});
	CHECK("/x[!a-z]y", {"/xAy", true}, {"/x-y", true}, {"/xmy", false}, {"/x/y", false});
	CHECK("/x[^0-9]", {"/xa", true}, {"/x5", false});
	CHECK("/x[]]", {"/x]", true}, {"/xa", false});
	CHECK("/x[!]]", {"/xa", true}, {"/x]", false});
	CHECK("/x[a-]", {"/xa", true}, {"/x-", true}, {"/xb", false});
	CHECK("/x[-a]", {"/xa", true}, {"/x-", true});
	CHECK("/x[\\]a]", {"/x]", true}, {"/xa", true}, {"/x\\", false});
	CHECK("/x[*?]", {"/x*", true}, {"/x?", true}, {"/xa", false});
	CHECK("/pod[0-9a-f_]*", {"/pod12_ab", true}, {"/podz", false});
	CHECK("/[a-a]", {"/a", true}, {"/b", false});
	/* Bytes above 127 are compared as unsigned. */
	CHECK("/[\x80-\xff]", {"/\xc3", true}, {"/a", false});
}

static void test_escape(void **state)
{
	CHECK("/a\\*b", {"/a*b", true}, {"/axb", false});
	CHECK("/a\\?", {"/a?", true}, {"/ab", false});
	CHECK("/\\[x]", {"/[x]", true}, {"/x", false});
	CHECK("/a\\\\b", {"/a\\b", true});
	CHECK("/\\*\\*", {"/**", true}, {"/ab", false}, {"/a/b", false});
	CHECK("/x\\y", {"/xy", true});
}

static void test_globstar(void **state)
{
	/* At the end: the directory itself and everything below. */
	CHECK("/sys/fs/cgroup/kubepods.slice/**", {"/sys/fs/cgroup/kubepods.slice", true},
	      {"/sys/fs/cgroup/kubepods.slice/", true},
	      {"/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice", true},
	      {"/sys/fs/cgroup/kubepods.slice/a/b/c/d/e/f", true},
	      {"/sys/fs/cgroup/kubepods.slicex", false}, {"/sys/fs/cgroup", false},
	      {"/sys/fs/cgroup/system.slice/kubepods.slice", false});
	/* At the start. */
	CHECK("/**/init.scope", {"/init.scope", true}, {"/a/init.scope", true},
	      {"/a/b/c/init.scope", true}, {"/a/init.scope/x", false}, {"/a/xinit.scope", false});
	/* In the middle, zero segments included. */
	CHECK("/a/**/z", {"/a/z", true}, {"/a/b/z", true}, {"/a/b/c/d/z", true}, {"/a/z/z", true},
	      {"/a", false}, {"/a/b", false}, {"/z", false}, {"/a/z/y", false});
	CHECK("/**", {"/", true}, {"/a", true}, {"/a/b/c", true});
	/* Several. */
	CHECK("/a/**/b/**/c", {"/a/b/c", true}, {"/a/x/b/y/c", true}, {"/a/b/b/c", true},
	      {"/a/c/b", false}, {"/a/b", false}, {"/a/x/c", false});
	CHECK("/**/kubepods*/**/cri-containerd-*.scope",
	      {"/kubepods.slice/a/cri-containerd-1.scope", true},
	      {"/sys/fs/cgroup/kubepods/cri-containerd-1.scope", true},
	      {"/sys/fs/cgroup/kubepods/cri-containerd-1.scope/init.scope", false},
	      {"/sys/fs/cgroup/system.slice/cri-containerd-1.scope", false});
	/* Runs of `**` behave like one. */
	CHECK("/**/**/**", {"/", true}, {"/a/b", true});
	CHECK("/a/**/**/b", {"/a/b", true}, {"/a/x/y/b", true}, {"/a/x", false});
	/* The last block must fit at the end even when it also fits earlier. */
	CHECK("/**/a/b", {"/a/b/a/b", true}, {"/a/b/x", false}, {"/x/a/b", true});
	/* A segment pattern next to `**`. */
	CHECK("/**/*.slice/*", {"/x.slice/y", true}, {"/a/b/x.slice/y", true}, {"/x.slice", false},
	      {"/x.slice/y/z", false});
}

static void test_relative_and_null(void **state)
{
	struct selector s;

	assert_int_equal(selector__compile("/**", &s, NULL, 0), 0);
	assert_false(selector__match(&s, "a/b"));
	assert_false(selector__match(&s, ""));
	assert_false(selector__match(&s, NULL));
	assert_false(selector__match(NULL, "/a"));
	assert_false(selector__may_match_under(&s, NULL));
	assert_false(selector__may_match_under(&s, "relative"));
	selector__free(&s);
	selector__free(&s); /* idempotent */
	selector__free(NULL);
	/* A freed or zeroed selector matches nothing. */
	assert_false(selector__match(&s, "/a"));
	assert_string_equal(selector__static_prefix(&s), "/");
	assert_int_equal(selector__compile("/x", NULL, NULL, 0), -EINVAL);
}

struct error_case {
	const char *glob;
	int ret;
	const char *msg;
};

static void test_errors(void **state)
{
	static const struct error_case cases[] = {
		{"", -EINVAL, "column 1: empty selector"},
		{"sys/fs", -EINVAL, "column 1: selector must start with '/'"},
		{"*", -EINVAL, "column 1: selector must start with '/'"},
		{"/sys/fs/cg[", -EINVAL, "column 11: unterminated '['"},
		{"/sys/fs/cg[abc", -EINVAL, "column 11: unterminated '['"},
		{"/sys/fs/cg[]", -EINVAL, "column 11: unterminated '['"},
		{"/sys/fs/cg[!]", -EINVAL, "column 11: unterminated '['"},
		{"/[ab\\", -EINVAL, "column 2: unterminated '['"},
		{"/[a-\\", -EINVAL, "column 2: unterminated '['"},
		{"/a[b/c]", -EINVAL, "column 5: '/' inside '[...]' never matches"},
		{"/a[b-/]", -EINVAL, "column 6: '/' inside '[...]' never matches"},
		{"/a[\\/]", -EINVAL, "column 5: '/' inside '[...]' never matches"},
		{"/a[z-a]", -EINVAL, "column 4: range 'z-a' is reversed"},
		{"/a[xz-a]", -EINVAL, "column 5: range 'z-a' is reversed"},
		{"/abc\\", -EINVAL, "column 5: '\\' at the end escapes nothing"},
		{"/a\\/b", -EINVAL, "column 3: '/' cannot be escaped: it always separates"},
		{"/kubepods**", -EINVAL, "column 10: '**' must be a whole path segment"},
		{"/**x", -EINVAL, "column 2: '**' must be a whole path segment"},
		{"/a/***", -EINVAL, "column 4: '**' must be a whole path segment"},
		{"/a/x**y/b", -EINVAL, "column 5: '**' must be a whole path segment"},
	};
	struct selector s;
	char err[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(err, 'x', sizeof(err));
		int ret = selector__compile(cases[i].glob, &s, err, sizeof(err));

		if (ret != cases[i].ret || strcmp(err, cases[i].msg) != 0)
			fail_msg("glob '%s': got %d '%s', want %d '%s'", cases[i].glob, ret, err,
				 cases[i].ret, cases[i].msg);
		/* out is left zeroed: freeing it is harmless, matching it is false. */
		assert_null(s.segs);
		assert_false(selector__match(&s, "/"));
	}
	assert_int_equal(selector__compile(NULL, &s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "column 1: empty selector");
}

static void test_error_buffer(void **state)
{
	struct selector s;
	char small[8];

	/* Truncated, still terminated; a NULL or empty buffer is allowed. */
	assert_int_equal(selector__compile("/a[", &s, small, sizeof(small)), -EINVAL);
	assert_string_equal(small, "column ");
	assert_int_equal(selector__compile("/a[", &s, NULL, 0), -EINVAL);
	assert_int_equal(selector__compile("/a[", &s, small, 0), -EINVAL);
	/* Success clears a previous message. */
	assert_int_equal(selector__compile("/a", &s, small, sizeof(small)), 0);
	assert_string_equal(small, "");
	selector__free(&s);
}

static void test_length_limit(void **state)
{
	char *glob = malloc(SELECTOR_GLOB_MAX + 2);
	struct selector s;
	char err[128];

	assert_non_null(glob);
	glob[0] = '/';
	memset(glob + 1, 'a', SELECTOR_GLOB_MAX);
	glob[SELECTOR_GLOB_MAX + 1] = '\0';
	assert_int_equal(selector__compile(glob, &s, err, sizeof(err)), -ENAMETOOLONG);
	assert_string_equal(err, "column 4097: selector longer than 4096 bytes");
	glob[SELECTOR_GLOB_MAX] = '\0'; /* exactly the limit */
	assert_int_equal(selector__compile(glob, &s, err, sizeof(err)), 0);
	assert_true(selector__match(&s, glob));
	selector__free(&s);
	free(glob);
}

static void test_static_prefix(void **state)
{
	static const char *const cases[][2] = {
		{"/sys/fs/cgroup/kubepods.slice/**", "/sys/fs/cgroup/kubepods.slice"},
		{"/sys/fs/cgroup/kubepods.slice/kube*/x", "/sys/fs/cgroup/kubepods.slice"},
		{"/sys/fs/cgroup/agentwatch/claude", "/sys/fs/cgroup/agentwatch/claude"},
		{"/sys/fs/cgroup/agentwatch/claude/", "/sys/fs/cgroup/agentwatch/claude"},
		{"//sys//fs", "/sys/fs"},
		{"/**", "/"},
		{"/", "/"},
		{"/*", "/"},
		{"/a/b?c/d", "/a"},
		{"/a/[b]/d", "/a"},
		{"/a/\\*b/**", "/a/*b"},
		{"/a/b\\[c\\]/d*", "/a/b[c]"},
		{"/**/a", "/"},
	};
	struct selector s;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(selector__compile(cases[i][0], &s, NULL, 0), 0);
		if (strcmp(selector__static_prefix(&s), cases[i][1]) != 0)
			fail_msg("glob '%s': prefix '%s', want '%s'", cases[i][0],
				 selector__static_prefix(&s), cases[i][1]);
		selector__free(&s);
	}
	assert_string_equal(selector__static_prefix(NULL), "/");
}

static void test_may_match_under(void **state)
{
	struct selector s;

	assert_int_equal(selector__compile("/sys/fs/cgroup/kubepods.slice/*/x", &s, NULL, 0), 0);
	assert_true(selector__may_match_under(&s, "/"));
	assert_true(selector__may_match_under(&s, "/sys/fs"));
	assert_true(selector__may_match_under(&s, "/sys/fs/cgroup/kubepods.slice"));
	assert_true(selector__may_match_under(&s, "/sys/fs/cgroup/kubepods.slice/a"));
	assert_true(selector__may_match_under(&s, "/sys/fs/cgroup/kubepods.slice/a/x"));
	assert_false(selector__may_match_under(&s, "/sys/fs/cgroup/kubepods.slice/a/y"));
	assert_false(selector__may_match_under(&s, "/sys/fs/cgroup/kubepods.slice/a/x/z"));
	assert_false(selector__may_match_under(&s, "/sys/fs/cgroup/system.slice"));
	selector__free(&s);

	assert_int_equal(selector__compile("/a/**/z", &s, NULL, 0), 0);
	assert_true(selector__may_match_under(&s, "/a"));
	assert_true(selector__may_match_under(&s, "/a/b/c/d"));
	assert_false(selector__may_match_under(&s, "/b"));
	selector__free(&s);
}

/*
 * The defining property of the prefix, on generated globs and paths: a match is the prefix or
 * lies below it, and may_match_under() says yes for every ancestor of a match.
 */
static void test_prefix_property(void **state)
{
	static const char *const globs[] = {
		"/a/**",   "/a/b/*",  "/a/*/c", "/**/c", "/a/b/c", "/a/?/**/c",
		"/[ab]/b", "/a/**/b", "/*",	"/a/b*", "/**/**", "/a/\\*/**",
	};
	static const char *const names[] = {"a", "b", "c", "*", "ab"};
	char path[64], anc[64];
	struct selector s;
	unsigned int seed = 7;

	for (size_t g = 0; g < sizeof(globs) / sizeof(globs[0]); g++) {
		assert_int_equal(selector__compile(globs[g], &s, NULL, 0), 0);
		const char *pre = selector__static_prefix(&s);
		size_t plen = strlen(pre);

		for (int iter = 0; iter < 2000; iter++) {
			int depth = (int)(rand_r(&seed) % 5);
			size_t at = 0;

			path[0] = '\0';
			for (int d = 0; d < depth; d++)
				at += (size_t)snprintf(path + at, sizeof(path) - at, "/%s",
						       names[rand_r(&seed) % 5]);
			if (!depth)
				strcpy(path, "/");
			if (!selector__match(&s, path))
				continue;
			if (strcmp(pre, "/") != 0)
				assert_true(strncmp(path, pre, plen) == 0 &&
					    (path[plen] == '\0' || path[plen] == '/'));
			/* Every ancestor (and the path itself) may have a match under it. */
			for (size_t k = 1; k <= strlen(path); k++) {
				if (path[k] != '/' && path[k] != '\0')
					continue;
				memcpy(anc, path, k);
				anc[k] = '\0';
				assert_true(selector__may_match_under(&s, k == 0 ? "/" : anc));
			}
			assert_true(selector__may_match_under(&s, "/"));
		}
		selector__free(&s);
	}
}

/* A reference matcher: plain recursion, exponential but obviously right, for short inputs. */
static bool ref_seg(const char *g, size_t gn, const char *p, size_t pn)
{
	if (!gn)
		return !pn;
	if (g[0] == '*')
		return ref_seg(g + 1, gn - 1, p, pn) || (pn && ref_seg(g, gn, p + 1, pn - 1));
	if (!pn)
		return false;
	if (g[0] == '?' || g[0] == p[0])
		return ref_seg(g + 1, gn - 1, p + 1, pn - 1);
	return false;
}

/* Globs and paths here are '/'-joined segments, each a non-empty run of [ab*?] or "**". */
static bool ref_match(const char *g, const char *p)
{
	const char *ge, *pe;

	while (*g == '/')
		g++;
	while (*p == '/')
		p++;
	if (!*g)
		return !*p;
	ge = strchrnul(g, '/');
	if (ge - g == 2 && g[0] == '*' && g[1] == '*') {
		if (ref_match(ge, p))
			return true;
		return *p && ref_match(g, strchrnul(p, '/'));
	}
	if (!*p)
		return false;
	pe = strchrnul(p, '/');
	return ref_seg(g, (size_t)(ge - g), p, (size_t)(pe - p)) && ref_match(ge, pe);
}

static void random_name(char *out, unsigned int *seed, const char *alphabet, int maxlen)
{
	int n = 1 + (int)(rand_r(seed) % (unsigned int)maxlen);

	for (int i = 0; i < n; i++)
		out[i] = alphabet[rand_r(seed) % strlen(alphabet)];
	out[n] = '\0';
}

static void test_against_reference(void **state)
{
	unsigned int seed = 42;
	char glob[128], path[128], name[8];
	struct selector s;
	int matched = 0;

	for (int iter = 0; iter < 20000; iter++) {
		size_t gl = 0, pl = 0;
		int gd = (int)(rand_r(&seed) % 5), pd = (int)(rand_r(&seed) % 6);

		for (int d = 0; d < gd; d++) {
			if (rand_r(&seed) % 4 == 0)
				strcpy(name, "**");
			else
				random_name(name, &seed, "ab*?", 4);
			/* Skip accidental `**` inside a segment: it is an error by design. */
			if (strcmp(name, "**") != 0 && strstr(name, "**"))
				strcpy(name, "*");
			gl += (size_t)snprintf(glob + gl, sizeof(glob) - gl, "/%s", name);
		}
		if (!gd)
			strcpy(glob, "/");
		for (int d = 0; d < pd; d++) {
			random_name(name, &seed, "ab", 3);
			pl += (size_t)snprintf(path + pl, sizeof(path) - pl, "/%s", name);
		}
		if (!pd)
			strcpy(path, "/");

		assert_int_equal(selector__compile(glob, &s, NULL, 0), 0);
		bool want = ref_match(glob, path), got = selector__match(&s, path);

		if (want != got)
			fail_msg("glob '%s' vs '%s': got %d, reference %d", glob, path, got, want);
		matched += got;
		selector__free(&s);
	}
	assert_true(matched > 1000); /* the generator reaches both answers */
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Patterns that make backtracking matchers exponential finish in a bounded time here. */
static void test_no_exponential_backtracking(void **state)
{
	char glob[1024], path[4096];
	struct selector s;
	size_t at = 0;
	double t0;

	/* Thirty `**`/a pairs, then a segment that is not in the path. */
	for (int i = 0; i < 30; i++)
		at += (size_t)snprintf(glob + at, sizeof(glob) - at, "/**/a");
	snprintf(glob + at, sizeof(glob) - at, "/**/b");
	at = 0;
	for (int i = 0; i < 500; i++)
		at += (size_t)snprintf(path + at, sizeof(path) - at, "/a");
	assert_int_equal(selector__compile(glob, &s, NULL, 0), 0);
	t0 = now_s();
	for (int i = 0; i < 100; i++)
		assert_false(selector__match(&s, path));
	assert_true(now_s() - t0 < 2.0);
	selector__free(&s);

	/* Within a segment: a*a*a*...*b against aaaa...a. */
	at = 0;
	at += (size_t)snprintf(glob, sizeof(glob), "/");
	for (int i = 0; i < 100; i++)
		at += (size_t)snprintf(glob + at, sizeof(glob) - at, "a*");
	snprintf(glob + at, sizeof(glob) - at, "b");
	path[0] = '/';
	memset(path + 1, 'a', 3000);
	path[3001] = '\0';
	assert_int_equal(selector__compile(glob, &s, NULL, 0), 0);
	t0 = now_s();
	for (int i = 0; i < 100; i++)
		assert_false(selector__match(&s, path));
	assert_true(now_s() - t0 < 2.0);
	selector__free(&s);

	/* Runs of `**` collapse, so this is one globstar. */
	assert_int_equal(selector__compile("/**/**/**/**/**/**/**/**/x", &s, NULL, 0), 0);
	assert_int_equal(s.n_segs, 2);
	assert_true(selector__match(&s, "/1/2/3/4/5/6/7/8/9/x"));
	selector__free(&s);
}

static void test_config_examples(void **state)
{
	assert_true(matches("/sys/fs/cgroup/kubepods.slice/**", "/sys/fs/cgroup/kubepods.slice/"
								"kubepods-burstable.slice/"
								"kubepods-burstable-pod0e4f3c5a_"
								"1b2c_4d3e_8f9a_0b1c2d3e4f5a.slice/"
								"cri-containerd-"
								"3f4e5d6c7b8a99887766554433221100ff"
								"eeddccbbaa00112233445566778899."
								"scope"));
	assert_true(matches("/sys/fs/cgroup/agentwatch/*", "/sys/fs/cgroup/agentwatch/claude-1"));
	assert_false(matches("/sys/fs/cgroup/agentwatch/*", "/sys/fs/cgroup/agentwatch/claude-1/"
							    "make"));
	assert_true(matches("/sys/fs/cgroup/agentwatch/claude-*/**", "/sys/fs/cgroup/agentwatch/"
								     "claude-1/make"));
	assert_true(matches("/sys/fs/cgroup/**/kubepods-besteffort-pod*.slice", "/sys/fs/cgroup/"
										"kubepods.slice/"
										"kubepods-"
										"besteffort.slice/"
										"kubepods-"
										"besteffort-podabc."
										"slice"));
	assert_true(matches("/sys/fs/cgroup/user.slice/user-[0-9]*.slice/**", "/sys/fs/cgroup/"
									      "user.slice/"
									      "user-1000.slice/"
									      "session-3.scope"));
	assert_false(matches("/sys/fs/cgroup/user.slice/user-[0-9]*.slice/**", "/sys/fs/cgroup/"
									       "user.slice/"
									       "user-x.slice/"
									       "session-3.scope"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_star),
		cmocka_unit_test(test_question),
		cmocka_unit_test(test_class),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_globstar),
		cmocka_unit_test(test_relative_and_null),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_static_prefix),
		cmocka_unit_test(test_may_match_under),
		cmocka_unit_test(test_prefix_property),
		cmocka_unit_test(test_against_reference),
		cmocka_unit_test(test_no_exponential_backtracking),
		cmocka_unit_test(test_config_examples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
