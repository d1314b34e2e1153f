// SPDX-License-Identifier: Apache-2.0
/*
 * Golden files: every tests/rules/NAME.yaml (and the shipped rules/default.yaml) compiled for
 * the fixed agent of tests/rules/README.md must dump exactly as tests/rules/NAME.expected (or,
 * for a bad file, list exactly those errors). A mismatch prints a unified diff.
 * AW_UPDATE_GOLDEN=1 rewrites the expected files instead.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "policy.h"
#include "policy_image.h"

/* The golden agent (tests/rules/README.md). */
#define GOLDEN_POD	 "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
#define GOLDEN_CONTAINER "4f2a9c1be0d3a7c6b5e4d3c2b1a09f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a"
#define GOLDEN_CGROUP                                                        \
	"/sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice/"           \
	"kubepods-besteffort-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice/" \
	"cri-containerd-" GOLDEN_CONTAINER ".scope"

static const struct policy_agent golden_agent = {
	.name = "golden",
	.cgroup = GOLDEN_CGROUP,
	.home = "/home/ada",
	.workspace = "/work/proj",
	.slot = 1,
};

struct golden {
	char yaml[PATH_MAX];
	char expected[PATH_MAX];
};

/* Everything `agentwatch rules dump --agent golden ...` would print, or the errors. */
static char *render(const char *yaml, size_t *len)
{
	struct policy_errors errs = {0};
	struct policy_collection c;
	struct policy_image *img = NULL;
	char *const paths[] = {(char *)yaml};
	char *out = NULL;
	FILE *f;
	int ret;

	f = open_memstream(&out, len);
	assert_non_null(f);
	policy_collection__init(&c);
	ret = policy_collection__load(&c, paths, 1, &errs);
	if (!ret) {
		img = policy_image__new();
		assert_non_null(img);
		ret = policy_image__compile(img, &c, 1, &golden_agent, &errs);
	}
	if (ret == -ENOENT)
		fprintf(f, "no policy selects agent '%s'\n", golden_agent.name);
	else if (ret)
		fprintf(f, "errors (%d):\n", errs.n);
	policy_errors__print(&errs, f);
	if (!ret)
		assert_int_equal(policy_image__dump(img, f, false), 0);
	fclose(f);
	policy_image__free(img);
	policy_collection__free(&c);
	policy_errors__free(&errs);
	return out;
}

static char *slurp(const char *path, size_t *len)
{
	char *buf = NULL;
	FILE *f = fopen(path, "r");
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_golden(void **state)
{
	const struct golden *g = *state;
	size_t got_len, want_len = 0;
	char *got = render(g->yaml, &got_len);
	char *want = slurp(g->expected, &want_len);

	if (getenv("AW_UPDATE_GOLDEN") && strcmp(getenv("AW_UPDATE_GOLDEN"), "0")) {
		write_file(g->expected, got, got_len);
		print_message("# rewrote %s\n", g->expected);
	} else if (!want || want_len != got_len || memcmp(want, got, got_len)) {
		char tmp[] = "/tmp/aw-golden-XXXXXX", cmd[PATH_MAX * 2 + 64];
		int fd = mkstemp(tmp);

		assert_true(fd >= 0);
		close(fd);
		write_file(tmp, got, got_len);
		snprintf(cmd, sizeof(cmd), "diff -u '%s' '%s' | sed 's/^/# /' >&2",
			 want ? g->expected : "/dev/null", tmp);
		if (system(cmd) < 0)
			print_error("# diff failed\n");
		unlink(tmp);
		free(got);
		free(want);
		fail_msg("%s does not compile to %s (diff above; AW_UPDATE_GOLDEN=1 rewrites it)",
			 g->yaml, g->expected);
	}
	free(got);
	free(want);
}

/* Run from the repository root, wherever the binary is started from. */
static void go_to_root(const char *argv0)
{
	char path[PATH_MAX], *slash;

	if (!access("tests/rules", F_OK))
		return;
	if (!realpath(argv0, path))
		return;
	for (int i = 0; i < 4 && (slash = strrchr(path, '/')); i++)
		*slash = '\0'; /* build/tests/unit/test_x -> the root */
	if (chdir(path))
		fprintf(stderr, "cannot chdir to %s\n", path);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct golden *)a)->yaml, ((const struct golden *)b)->yaml);
}

int main(int argc, char **argv)
{
	struct CMUnitTest *tests;
	struct golden *g;
	struct dirent *de;
	int n = 0, ret;
	DIR *d;

	go_to_root(argv[0]);
	d = opendir("tests/rules");
	if (!d) {
		fprintf(stderr, "tests/rules: %s\n", strerror(errno));
		return 1;
	}
	g = calloc(256, sizeof(*g));
	tests = calloc(256, sizeof(*tests));
	assert_non_null(g);
	assert_non_null(tests);
	while ((de = readdir(d)) && n < 255) {
		size_t len = strlen(de->d_name);

		if (len < 6 || strcmp(de->d_name + len - 5, ".yaml"))
			continue;
		snprintf(g[n].yaml, sizeof(g[n].yaml), "tests/rules/%s", de->d_name);
		snprintf(g[n].expected, sizeof(g[n].expected), "tests/rules/%.*s.expected",
			 (int)(len - 5), de->d_name);
		n++;
	}
	closedir(d);
	qsort(g, n, sizeof(*g), name_cmp);
	/* the shipped default policy, under its own name */
	snprintf(g[n].yaml, sizeof(g[n].yaml), "rules/default.yaml");
	snprintf(g[n].expected, sizeof(g[n].expected), "tests/rules/rules-default.expected");
	n++;
	for (int i = 0; i < n; i++)
		tests[i] = (struct CMUnitTest){
			.name = g[i].yaml,
			.test_func = test_golden,
			.initial_state = &g[i],
		};
	ret = _cmocka_run_group_tests("policy_golden", tests, n, NULL, NULL);
	free(tests);
	free(g);
	return ret;
}
