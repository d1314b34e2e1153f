// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static int parse(const char *text, struct config *cfg, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	err[0] = '\0';
	return config__parse(cfg, "d.yaml", text, strlen(text), err, errlen);
}

/* The file parses with exactly this message, start included. */
static void expect_error(const char *text, const char *want)
{
	struct config cfg;
	char err[512];

	if (parse(text, &cfg, err, sizeof(err)) != -EINVAL)
		fail_msg("no error for:\n%s", text);
	if (strncmp(err, want, strlen(want)))
		fail_msg("want '%s...', got '%s'", want, err);
	/* Nothing half-loaded. */
	assert_int_equal(cfg.n_watch, 0);
	assert_int_equal(cfg.n_rules, 0);
	assert_null(cfg.events);
	assert_null(cfg.socket);
	assert_null(cfg.home);
}

#define HEAD "apiVersion: agentwatch.dev/v1\nkind: DaemonConfig\n"

static void test_good(void **state)
{
	struct config cfg;
	char err[256];

	assert_int_equal(parse(HEAD "watch:\n"
				    "  - /sys/fs/cgroup/kubepods.slice/**\n"
				    "  - '/sys/fs/cgroup/agentwatch/**'\n"
				    "events: /var/log/agentwatch/events.jsonl\n"
				    "socket: /run/agentwatch/agentwatch.sock\n"
				    "cgroupRoot: /sys/fs/cgroup\n",
			       &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg.n_watch, 2);
	assert_string_equal(cfg.watch[0].glob, "/sys/fs/cgroup/kubepods.slice/**");
	assert_string_equal(cfg.watch[1].glob, "/sys/fs/cgroup/agentwatch/**");
	assert_string_equal(cfg.events, "/var/log/agentwatch/events.jsonl");
	assert_string_equal(cfg.socket, "/run/agentwatch/agentwatch.sock");
	assert_string_equal(cfg.cgroup_root, "/sys/fs/cgroup");
	assert_true(config__watches(&cfg, "/sys/fs/cgroup/kubepods.slice/x/y"));
	assert_true(config__watches(&cfg, "/sys/fs/cgroup/agentwatch"));
	assert_false(config__watches(&cfg, "/sys/fs/cgroup/system.slice"));
	config__free(&cfg);
	assert_int_equal(cfg.n_watch, 0);
}

static void test_minimal_and_flow_style(void **state)
{
	struct config cfg;
	char err[256];

	assert_int_equal(parse(HEAD, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_watch, 0);
	assert_null(cfg.events);
	config__free(&cfg);
	assert_int_equal(parse("{apiVersion: agentwatch.dev/v1, kind: DaemonConfig, "
			       "watch: [/a/**, /b/*], events: '-'}\n",
			       &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg.n_watch, 2);
	assert_string_equal(cfg.events, "-");
	config__free(&cfg);
}

static void test_unknown_field(void **state)
{
	expect_error(HEAD "watch: []\nbogus: 1\n", "d.yaml:4:1: bogus: unknown field");
	/* Case matters: cgroupRoot, not cgroup_root. */
	expect_error(HEAD "cgroup_root: /sys/fs/cgroup\n", "d.yaml:3:1: cgroup_root: unknown "
							   "field");
}

static void test_wrong_types(void **state)
{
	expect_error(HEAD "watch: /sys/fs/cgroup/**\n", "d.yaml:3:8: watch: expected a sequence of "
							"globs, got a scalar");
	expect_error(HEAD "watch:\n  - /a/**\n  - {x: 1}\n", "d.yaml:5:5: watch[1]: expected a "
							     "string, got a mapping");
	expect_error(HEAD "socket:\n  - /run/a.sock\n", "d.yaml:4:3: socket: expected a string, "
							"got a sequence");
	expect_error(HEAD "events: !!int 5\n", "d.yaml:3:9: events: expected a string, got a value "
					       "tagged "
					       "'tag:yaml.org,2002:int'");
	expect_error(HEAD "events: ~\n", "d.yaml:3:9: events: expected a string, got null");
	expect_error(HEAD "events: relative.jsonl\n", "d.yaml:3:9: events: expected an absolute "
						      "path or -, got 'relative.jsonl'");
	expect_error(HEAD "socket: run/a.sock\n", "d.yaml:3:9: socket: expected an absolute path, "
						  "got 'run/a.sock'");
	expect_error("- a\n- b\n", "d.yaml:1:1: expected a mapping with apiVersion and kind, got "
				   "a sequence");
}

static void test_bad_glob(void **state)
{
	expect_error(HEAD "watch:\n  - /sys/fs/cgroup/ok/**\n  - /sys/fs/cgroup/[abc\n",
		     "d.yaml:5:5: watch[1]: bad glob '/sys/fs/cgroup/[abc': column 16: "
		     "unterminated");
	expect_error(HEAD "watch: [relative/**]\n", "d.yaml:3:9: watch[0]: bad glob 'relative/**'");
}

static void test_identity_fields(void **state)
{
	expect_error("apiVersion: agentwatch.dev/v2\nkind: DaemonConfig\n", "d.yaml:1:13: "
									    "apiVersion: expected "
									    "'agentwatch.dev/v1', "
									    "got "
									    "'agentwatch.dev/v2'");
	expect_error("apiVersion: agentwatch.dev/v1\nkind: Policy\n", "d.yaml:2:7: kind: expected "
								      "'DaemonConfig', got "
								      "'Policy'");
	expect_error("kind: DaemonConfig\nwatch: []\n", "d.yaml:1:1: apiVersion: missing (want "
							"'agentwatch.dev/v1')");
	expect_error("\n\napiVersion: agentwatch.dev/v1\n", "d.yaml:3:1: kind: missing (want "
							    "'DaemonConfig')");
	expect_error(HEAD "events: /a\nevents: /b\n", "d.yaml:4:1: events: duplicate field");
}

static void test_yaml_errors(void **state)
{
	expect_error("", "d.yaml:1:1: empty config");
	expect_error("# only a comment\n", "d.yaml:1:1: empty config");
	/* libyaml reports where it found the problem: the unclosed flow sequence at the end. */
	expect_error(HEAD "watch: [/a/**, /b/**\n", "d.yaml:4:1: YAML: did not find expected ',' "
						    "or "
						    "']'");
	expect_error(HEAD "watch:\n  - /a/**\n   bad: indent\n", "d.yaml:5:7: YAML: mapping "
								 "values");
	expect_error(HEAD "---\n" HEAD, "d.yaml:3:1: more than one YAML document");
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/aw-test-config-XXXXXX";
	struct config cfg = {};
	char err[512];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, HEAD "socket: 7\n", strlen(HEAD "socket: 7\n")),
			 (ssize_t)strlen(HEAD "socket: 7\n"));
	close(fd);
	assert_int_equal(config__load(&cfg, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":3:9: socket: expected an absolute path, got '7'"));
	assert_memory_equal(err, path, strlen(path));
	unlink(path);
	assert_int_equal(config__load(&cfg, path, err, sizeof(err)), -ENOENT);
}

static void test_rules(void **state)
{
	struct config cfg;
	char err[256];

	assert_int_equal(parse(HEAD "rules:\n"
				    "  - /etc/agentwatch/rules\n"
				    "  - local/extra.yaml\n"
				    "home: /home/agent\n"
				    "workspace: /srv/work\n"
				    "requireEnforcement: true\n",
			       &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg.n_rules, 2);
	assert_string_equal(cfg.rules[0], "/etc/agentwatch/rules");
	/* "d.yaml" has no directory: a relative path stays relative (to the daemon's cwd) */
	assert_string_equal(cfg.rules[1], "local/extra.yaml");
	assert_string_equal(cfg.home, "/home/agent");
	assert_string_equal(cfg.workspace, "/srv/work");
	assert_true(cfg.require_enforcement);
	config__free(&cfg);
	assert_int_equal(cfg.n_rules, 0);
	assert_null(cfg.home);

	/* relative to the config file's directory */
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(config__parse(&cfg, "/etc/agentwatch/daemon.yaml",
				       HEAD "rules: [rules, /abs/p.yaml]\nrequireEnforcement: "
					    "false\n",
				       strlen(HEAD "rules: [rules, /abs/p.yaml]\n"
						   "requireEnforcement: false\n"),
				       err, sizeof(err)),
			 0);
	assert_string_equal(cfg.rules[0], "/etc/agentwatch/rules");
	assert_string_equal(cfg.rules[1], "/abs/p.yaml");
	assert_false(cfg.require_enforcement);
	/* --rules replaces the list */
	config__clear_rules(&cfg);
	assert_int_equal(config__add_rules(&cfg, "/x"), 0);
	assert_int_equal(cfg.n_rules, 1);
	config__free(&cfg);

	expect_error(HEAD "rules: /etc/agentwatch/rules\n", "d.yaml:3:8: rules: expected a "
							    "sequence of policy files or "
							    "directories, got a scalar");
	expect_error(HEAD "rules:\n  - /a\n  - [b]\n", "d.yaml:5:5: rules[1]: expected a string, "
						       "got a sequence");
	expect_error(HEAD "home: home/agent\n", "d.yaml:3:7: home: expected an absolute path, got "
						"'home/agent'");
	expect_error(HEAD "workspace: 5\n", "d.yaml:3:12: workspace: expected an absolute path, "
					    "got '5'");
	expect_error(HEAD "requireEnforcement: yes\n", "d.yaml:3:21: requireEnforcement: expected "
						       "true or false, got 'yes'");
	expect_error(HEAD "requireEnforcement: [true]\n", "d.yaml:3:21: requireEnforcement: "
							  "expected true or false, got a "
							  "sequence");
}

static void test_flags_replace_watch(void **state)
{
	struct config cfg;
	char err[256];

	assert_int_equal(parse(HEAD "watch: [/a/**]\n", &cfg, err, sizeof(err)), 0);
	config__clear_watch(&cfg);
	assert_int_equal(config__add_watch(&cfg, "/b/*", err, sizeof(err)), 0);
	assert_int_equal(cfg.n_watch, 1);
	assert_false(config__watches(&cfg, "/a/x"));
	assert_true(config__watches(&cfg, "/b/x"));
	assert_int_equal(config__add_watch(&cfg, "/b/[", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "column 4"));
	config__free(&cfg);
}

static int prefixes(const char *mount, const char *const *globs, int n,
		    char out[AW_WATCH_PREFIXES][AW_WATCH_PREFIX_LEN], char *err)
{
	struct config cfg = {};
	int i, ret;

	for (i = 0; i < n; i++)
		assert_int_equal(config__add_watch(&cfg, globs[i], err, 256), 0);
	ret = config__watch_prefixes(&cfg, mount, out, err, 256);
	config__free(&cfg);
	return ret;
}

static bool has(char out[AW_WATCH_PREFIXES][AW_WATCH_PREFIX_LEN], int n, const char *want)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(out[i], want))
			return true;
	return false;
}

static void test_watch_prefixes(void **state)
{
	char out[AW_WATCH_PREFIXES][AW_WATCH_PREFIX_LEN], err[256];
	const char *k8s[] = {"/sys/fs/cgroup/kubepods.slice/**", "/sys/fs/cgroup/agentwatch/**"};
	const char *covered[] = {"/sys/fs/cgroup/a/b/**", "/sys/fs/cgroup/a/**",
				 "/sys/fs/cgroup/a/b/c*"};
	const char *hybrid[] = {"/sys/fs/cgroup/unified/awtest-*/**"};
	const char *above[] = {"/sys/fs/cg*/x"};
	const char *outside[] = {"/sys/fs/cgroup/kubepods.slice/**"};
	const char *escaped[] = {"/sys/fs/cgroup//a\\*b/c?"};
	const char *all[] = {"/sys/fs/cgroup/**"};
	const char *many[] = {"/r/p0/x/**", "/r/p1/**", "/r/p2/**", "/r/p3/**", "/r/p4/**",
			      "/r/p5/**",   "/r/p6/**", "/r/p7/**", "/r/q8/**", "/r/q9/**"};
	int n;

	n = prefixes("/sys/fs/cgroup", k8s, 2, out, err);
	assert_int_equal(n, 2);
	assert_true(has(out, n, "/kubepods.slice"));
	assert_true(has(out, n, "/agentwatch"));

	n = prefixes("/sys/fs/cgroup/", covered, 3, out, err);
	assert_int_equal(n, 1);
	assert_string_equal(out[0], "/a");

	n = prefixes("/sys/fs/cgroup/unified", hybrid, 1, out, err);
	assert_int_equal(n, 1);
	assert_string_equal(out[0], "/awtest-");

	n = prefixes("/sys/fs/cgroup/unified", above, 1, out, err);
	assert_int_equal(n, 1);
	assert_string_equal(out[0], "/");

	n = prefixes("/sys/fs/cgroup", escaped, 1, out, err);
	assert_int_equal(n, 1);
	assert_string_equal(out[0], "/a*b/c");

	n = prefixes("/sys/fs/cgroup", all, 1, out, err);
	assert_int_equal(n, 1);
	assert_string_equal(out[0], "/");

	assert_int_equal(prefixes("/sys/fs/cgroup/unified", outside, 1, out, err), -EINVAL);
	assert_string_equal(err, "watch glob '/sys/fs/cgroup/kubepods.slice/**' is not under the "
				 "cgroup v2 mount '/sys/fs/cgroup/unified'");

	/* Ten prefixes into at most eight: merged into common prefixes that cover every glob. */
	n = prefixes("/r", many, 10, out, err);
	assert_true(n > 0 && n <= AW_WATCH_PREFIXES);
	for (int i = 0; i < 10; i++) {
		bool covered_by_one = false;

		for (int j = 0; j < n; j++)
			covered_by_one |= !strncmp(many[i] + 2, out[j], strlen(out[j]));
		if (!covered_by_one)
			fail_msg("glob %s is covered by no prefix", many[i]);
	}
	assert_true(has(out, n, "/p"));
}

/* linkScan: none, or absolute directories; --link-scan replaces it (config__set_link_scan). */
static void test_link_scan(void **state)
{
	struct policy_link_scan flags = {.set = true, .n = 1, .dirs = {"/data"}};
	struct config cfg;
	char err[256];

	(void)state;
	assert_int_equal(parse(HEAD "linkScan: [/home, /srv/]\n", &cfg, err, sizeof(err)), 0);
	assert_true(cfg.link_scan.set && !cfg.link_scan.none);
	assert_int_equal(cfg.link_scan.n, 2);
	assert_string_equal(cfg.link_scan.dirs[0], "/home");
	assert_string_equal(cfg.link_scan.dirs[1], "/srv/");
	assert_int_equal(config__set_link_scan(&cfg, &flags), 0);
	assert_int_equal(cfg.link_scan.n, 1);
	assert_string_equal(cfg.link_scan.dirs[0], "/data");
	config__free(&cfg);
	assert_false(cfg.link_scan.set);

	assert_int_equal(parse(HEAD "linkScan: none\n", &cfg, err, sizeof(err)), 0);
	assert_true(cfg.link_scan.set && cfg.link_scan.none);
	assert_int_equal(cfg.link_scan.n, 0);
	config__free(&cfg);

	assert_int_equal(parse(HEAD "watch: []\n", &cfg, err, sizeof(err)), 0);
	assert_false(cfg.link_scan.set); /* not given: the rules' own directories */
	config__free(&cfg);

	expect_error(HEAD "linkScan: [/home, srv]\n", "d.yaml:3:19: linkScan[1]: expected an "
						      "absolute directory or 'none', got "
						      "'srv'");
	expect_error(HEAD "linkScan: [/home, none]\n", "d.yaml:3:19: linkScan[1]: 'none' together "
						       "with directories");
	expect_error(HEAD "linkScan: all\n", "d.yaml:3:11: linkScan: expected 'none' or a sequence "
					     "of absolute "
					     "directories, got 'all'");
	expect_error(HEAD "linkScan: []\n", "d.yaml:3:11: linkScan: an empty list");
	expect_error(HEAD "linkScan: {a: 1}\n", "d.yaml:3:11: linkScan: expected 'none' or a "
						"sequence of absolute directories, got a mapping");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_minimal_and_flow_style),
		cmocka_unit_test(test_unknown_field),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_bad_glob),
		cmocka_unit_test(test_identity_fields),
		cmocka_unit_test(test_yaml_errors),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_flags_replace_watch),
		cmocka_unit_test(test_watch_prefixes),
		cmocka_unit_test(test_link_scan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
