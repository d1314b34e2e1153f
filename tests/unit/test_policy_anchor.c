// SPDX-License-Identifier: Apache-2.0
/*
 * Anchors (include/agentwatch/policy.h, "Anchors"): which directories an apply anchors, with
 * which hash state, and the decision the kernel takes for a file reached through an alias of
 * one (policy_image__decide_file_alias). Also the raw-socket network decision (AW_PORT_ANY).
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <cmocka.h>

#include "policy.h"
#include "policy_apply.h"
#include "policy_image.h"
#include "policy_pattern.h"

struct fixture {
	char root[64], home[PATH_MAX], ws[PATH_MAX];
	struct policy_collection c;
	struct policy_image *img;
};

static const char policy[] = "apiVersion: agentwatch.dev/v1\n"
			     "kind: AgentPolicy\n"
			     "metadata: {name: anchors}\n"
			     "spec:\n"
			     "  defaults: {network: audit}\n"
			     "  files:\n"
			     "    - {name: ssh-keys, path: \"${HOME}/.ssh/**/*\", access: [read],\n"
			     "       except: [\"${HOME}/.ssh/**/*.pub\"],\n"
			     "       binaries: {except: [/usr/bin/ssh]}, action: deny}\n"
			     "    - {name: ssh-again, path: \"${HOME}/.ssh/id_*\", action: audit}\n"
			     "    - {name: aws, path: \"${HOME}/.aws/**\", action: deny}\n"
			     "    - {name: dotenv, path: \"**/.env*\", except: "
			     "[\"${WORKSPACE}/**\"],\n"
			     "       access: [read], action: deny}\n"
			     "    - {name: docs, path: \"${HOME}/docs/**\", action: allow}\n"
			     "  network:\n"
			     "    - {name: dns, cidr: 9.9.9.9/32, ports: [53], protocol: udp, "
			     "action: "
			     "deny}\n"
			     "    - {name: web, cidr: 8.8.8.8/32, ports: [443], action: allow}\n"
			     "    - {name: all, cidr: 1.1.1.1/32, action: allow}\n";

static int setup(void **state)
{
	static struct fixture f;
	struct policy_errors errs = {0};
	struct policy_agent agent = {.name = "claude", .slot = 1};
	int ret;

	memset(&f, 0, sizeof(f));
	strcpy(f.root, "/tmp/aw-anchor-test.XXXXXX");
	assert_non_null(mkdtemp(f.root));
	snprintf(f.home, sizeof(f.home), "%s/home", f.root);
	snprintf(f.ws, sizeof(f.ws), "%s/ws", f.root);
	assert_int_equal(mkdir(f.home, 0700), 0);
	assert_int_equal(mkdir(f.ws, 0700), 0);
	{
		char ssh[PATH_MAX + 8];

		snprintf(ssh, sizeof(ssh), "%s/.ssh", f.home);
		assert_int_equal(mkdir(ssh, 0700), 0); /* ~/.aws and ~/docs do not exist */
	}
	agent.home = f.home;
	agent.workspace = f.ws;
	policy_collection__init(&f.c);
	ret = policy_collection__parse(&f.c, "anchors.yaml", policy, strlen(policy), &errs);
	if (!ret) {
		f.img = policy_image__new();
		assert_non_null(f.img);
		ret = policy_image__compile(f.img, &f.c, 1, &agent, &errs);
	}
	for (int i = 0; i < errs.n; i++)
		print_error("%s\n", errs.v[i].msg);
	policy_errors__free(&errs);
	assert_int_equal(ret, 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 16];

	policy_image__free(f->img);
	policy_collection__free(&f->c);
	snprintf(path, sizeof(path), "%s/.ssh", f->home);
	rmdir(path);
	rmdir(f->home);
	rmdir(f->ws);
	rmdir(f->root);
	return 0;
}

/* FNV-1a written out again from the contract. */
static __u64 fnv(const char *s, size_t n)
{
	__u64 h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (__u8)s[i]) * 0x100000001b3ULL;
	return h;
}

struct seen {
	__u32 set; /* the set every anchor must be of (0: 1) */
	int n;
	char dirs[8][PATH_MAX];
	struct aw_file_anchor vals[8];
	__u64 inos[8];
};

static int collect(void *ctx, __u32 set, const char *dir, __u32 dev, __u64 ino,
		   const struct aw_file_anchor *val)
{
	struct seen *s = ctx;

	assert_int_equal(set, s->set ? s->set : 1);
	assert_true(s->n < 8);
	snprintf(s->dirs[s->n], PATH_MAX, "%s", dir);
	s->vals[s->n] = *val;
	s->inos[s->n] = ino;
	s->n++;
	return 0;
}

static void check_value(const char *dir, const struct aw_file_anchor *a)
{
	__u32 levels = 0;

	assert_true(a->h == fnv(dir, strlen(dir)));
	for (size_t i = 0; dir[i]; i++) {
		if (dir[i] != '/')
			continue;
		/* D() of each level: the hash of what precedes its '/' */
		assert_true(a->dirs[levels] == fnv(dir, i));
		levels++;
	}
	assert_int_equal(a->ndirs, levels);
}

/*
 * ~/.ssh (two rules, one anchor) exists; ~/.aws does not, so its rule anchors on ~; the
 * root-level **\/.env* rule, the except-only workspace and the allow-only ~/docs get none.
 */
static void test_anchored_directories(void **state)
{
	struct fixture *f = *state;
	struct seen s = {0};
	char ssh[PATH_MAX + 8];
	struct stat st;

	int i_ssh, i_home;

	snprintf(ssh, sizeof(ssh), "%s/.ssh", f->home);
	assert_int_equal(policy_anchor__each(f->img, collect, &s), 0);
	assert_int_equal(s.n, 2);
	i_ssh = strcmp(s.dirs[0], ssh) == 0 ? 0 : 1;
	i_home = 1 - i_ssh;
	assert_string_equal(s.dirs[i_ssh], ssh);
	assert_string_equal(s.dirs[i_home], f->home);
	assert_int_equal(stat(ssh, &st), 0);
	assert_true(s.inos[i_ssh] == st.st_ino);
	assert_int_equal(stat(f->home, &st), 0);
	assert_true(s.inos[i_home] == st.st_ino);
	check_value(ssh, &s.vals[i_ssh]);
	check_value(f->home, &s.vals[i_home]);
}

/*
 * Many rules below directories that do not exist: each tree is anchored once, on its nearest
 * existing ancestor (~ for ~/gone/..., ~/.ssh for ~/.ssh/sub/...), whatever the order. Set 2:
 * what the applier remembers per set must not be taken for what it remembers per name.
 */
static void test_missing_trees(void **state)
{
	static const char missing[] = "apiVersion: agentwatch.dev/v1\n"
				      "kind: AgentPolicy\n"
				      "metadata: {name: missing}\n"
				      "spec:\n"
				      "  files:\n"
				      "    - {name: a, path: \"${HOME}/gone/a/**\", action: deny}\n"
				      "    - {name: b, path: \"${HOME}/gone/b/*.pem\", action: "
				      "deny}\n"
				      "    - {name: c, path: \"${HOME}/gone/a/deep/x\", action: "
				      "audit}\n"
				      "    - {name: d, path: \"${HOME}/.ssh/sub/**\", action: "
				      "deny}\n"
				      "    - {name: e, path: \"${HOME}/gone/c/d/e/**\", action: "
				      "deny}\n";
	struct fixture *f = *state;
	struct policy_agent agent = {
		.name = "claude", .slot = 1, .home = f->home, .workspace = f->ws};
	struct policy_errors errs = {0};
	struct policy_collection c;
	struct policy_image *img = policy_image__new();
	struct seen s = {.set = 2};
	char ssh[PATH_MAX + 8];
	int i_ssh;

	assert_non_null(img);
	policy_collection__init(&c);
	assert_int_equal(
		policy_collection__parse(&c, "missing.yaml", missing, strlen(missing), &errs), 0);
	assert_int_equal(policy_image__compile(img, &c, 2, &agent, &errs), 0);
	assert_int_equal(policy_anchor__each(img, collect, &s), 0);
	snprintf(ssh, sizeof(ssh), "%s/.ssh", f->home);
	assert_int_equal(s.n, 2);
	i_ssh = strcmp(s.dirs[0], ssh) == 0 ? 0 : 1;
	assert_string_equal(s.dirs[i_ssh], ssh);
	assert_string_equal(s.dirs[1 - i_ssh], f->home);
	check_value(ssh, &s.vals[i_ssh]);
	check_value(f->home, &s.vals[1 - i_ssh]);
	policy_image__free(img);
	policy_collection__free(&c);
	policy_errors__free(&errs);
}

static __u32 rule_id(const struct fixture *f, const char *name)
{
	for (__u32 i = 0; i < f->img->n_rules; i++)
		if (!strcmp(f->img->rules[i].name, name))
			return f->img->rules[i].id;
	fail_msg("no rule '%s'", name);
	return 0;
}

static void want_alias(const struct fixture *f, const char *walked, const char *rest,
		       const char *anchor, const char *exe, enum policy_verdict verdict, __u32 rule)
{
	struct policy_decision d;

	assert_int_equal(policy_image__decide_file_alias(f->img, 1, walked, strlen(rest), anchor,
							 AW_ACC_READ, exe, &d),
			 0);
	if (d.verdict != verdict || d.rule_id != rule)
		fail_msg("read %s (anchor %s): want %s rule %u, got %s rule %u", walked, anchor,
			 policy_verdict__name(verdict), rule, policy_verdict__name(d.verdict),
			 d.rule_id);
}

static void test_alias_decisions(void **state)
{
	struct fixture *f = *state;
	char ssh[PATH_MAX + 8], aws_walk[PATH_MAX + 32];
	__u32 keys = rule_id(f, "ssh-keys"), again = rule_id(f, "ssh-again");
	__u32 aws = rule_id(f, "aws"), dotenv = rule_id(f, "dotenv");

	snprintf(ssh, sizeof(ssh), "%s/.ssh", f->home);
	/* a bind mount of ~/.ssh on /mnt/s: decided as ~/.ssh/id_new */
	want_alias(f, "/mnt/s/id_new", "/id_new", ssh, "/usr/bin/cat", POLICY_DENY, keys);
	/* ssh may read keys, but the audit rule on id_* still reports it */
	want_alias(f, "/mnt/s/id_new", "/id_new", ssh, "/usr/bin/ssh", POLICY_AUDIT, again);
	want_alias(f, "/mnt/s/x.pub", "/x.pub", ssh, "/usr/bin/cat", POLICY_ALLOW, 0);
	/* an open_tree clone: the walk ends at the clone's root */
	want_alias(f, "/deep/key", "/deep/key", ssh, NULL, POLICY_DENY, keys);
	/* ~/.aws did not exist at apply time: the anchor is ~ */
	want_alias(f, "/x/.aws/credentials", "/.aws/credentials", f->home, NULL, POLICY_DENY, aws);
	want_alias(f, "/x/notes", "/notes", f->home, NULL, POLICY_ALLOW, 0);
	/* the walked name's deny stands even where the canonical name is excepted */
	want_alias(f, "/x/.env", "/.env", f->ws, NULL, POLICY_DENY, dotenv);
	/* no anchor: the walked name alone */
	want_alias(f, "/mnt/s/id_new", "/id_new", NULL, NULL, POLICY_ALLOW, 0);
	/* a rest that is not the walked path's end is refused */
	snprintf(aws_walk, sizeof(aws_walk), "%s/.aws/x", f->home);
	{
		struct policy_decision d;

		assert_int_equal(policy_image__decide_file_alias(f->img, 1, aws_walk, 3, f->home,
								 AW_ACC_READ, NULL, &d),
				 -EINVAL);
	}
}

static void want_raw(const struct fixture *f, const char *addr, enum policy_verdict verdict,
		     __u32 rule)
{
	struct policy_decision d;
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, addr, &a), 1);
	assert_int_equal(policy_image__decide_connect(f->img, 1, AF_INET, &a, 0, IPPROTO_RAW, &d),
			 0);
	if (d.verdict != verdict || d.rule_id != rule)
		fail_msg("raw to %s: want %s rule %u, got %s rule %u", addr,
			 policy_verdict__name(verdict), rule, policy_verdict__name(d.verdict),
			 d.rule_id);
}

/* A raw socket's port is user data: every port of every protocol (AW_PORT_ANY). */
static void test_raw_socket_any_port(void **state)
{
	struct fixture *f = *state;

	want_raw(f, "9.9.9.9", POLICY_DENY, rule_id(f, "dns")); /* a deny of udp/53 only */
	/* the allow of 443 does not cover every port: the default posture decides */
	want_raw(f, "8.8.8.8", POLICY_AUDIT, AW_RULE_DEFAULT);
	want_raw(f, "1.1.1.1", POLICY_ALLOW, 0);
	assert_int_equal(f->img->sets[0].defaults.flags & AW_DEF_DENY_RAW_PACKETS,
			 AW_DEF_DENY_RAW_PACKETS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anchored_directories),
		cmocka_unit_test(test_missing_trees),
		cmocka_unit_test(test_alias_decisions),
		cmocka_unit_test(test_raw_socket_any_port),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
