// SPDX-License-Identifier: Apache-2.0
/*
 * The reference matcher (policy_image__decide_*): the worked examples of
 * include/agentwatch/policy.h, the shipped default policy, merging across policies, audit mode,
 * the kernel's fail-closed reference limit, and the hashes of the contract recomputed here
 * independently of the compiler.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "policy.h"
#include "policy_image.h"
#include "policy_pattern.h"

#define HOME "/home/ada"
#define WS   "/work/proj"

struct fixture {
	struct policy_collection c;
	struct policy_image *img;
};

static const struct policy_agent agent = {
	.name = "claude",
	.cgroup = "/sys/fs/cgroup/agentwatch/claude-1",
	.home = HOME,
	.workspace = WS,
	.slot = 1,
};

static void build(struct fixture *f, const char *name, const char *text, bool is_file)
{
	struct policy_errors errs = {0};
	char *const paths[] = {(char *)name};
	int ret;

	policy_collection__init(&f->c);
	ret = is_file ? policy_collection__load(&f->c, paths, 1, &errs)
		      : policy_collection__parse(&f->c, name, text, strlen(text), &errs);
	if (!ret) {
		f->img = policy_image__new();
		assert_non_null(f->img);
		ret = policy_image__compile(f->img, &f->c, 1, &agent, &errs);
	}
	if (ret)
		for (int i = 0; i < errs.n; i++)
			print_error("%s\n", errs.v[i].msg);
	policy_errors__free(&errs);
	assert_int_equal(ret, 0);
}

static void teardown_fixture(struct fixture *f)
{
	policy_image__free(f->img);
	policy_collection__free(&f->c);
}

static __u32 rule_id(const struct fixture *f, const char *name)
{
	for (__u32 i = 0; i < f->img->n_rules; i++)
		if (!strcmp(f->img->rules[i].name, name))
			return f->img->rules[i].id;
	fail_msg("no rule '%s'", name);
	return 0;
}

static void want_file(const struct fixture *f, const char *path, __u32 access, const char *exe,
		      enum policy_verdict verdict, __u32 rule)
{
	struct policy_decision d;

	assert_int_equal(policy_image__decide_file(f->img, 1, path, access, exe, &d), 0);
	if (d.verdict != verdict || d.rule_id != rule)
		fail_msg("open %s by %s: want %s rule %u, got %s rule %u", path, exe ? exe : "-",
			 policy_verdict__name(verdict), rule, policy_verdict__name(d.verdict),
			 d.rule_id);
}

static void want_net(const struct fixture *f, const char *addr, __u16 port, int proto,
		     enum policy_verdict verdict, __u32 rule)
{
	struct policy_decision d;
	__u8 a[16];
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(family, addr, a), 1);
	assert_int_equal(policy_image__decide_connect(f->img, 1, family, a, port, proto, &d), 0);
	if (d.verdict != verdict || d.rule_id != rule)
		fail_msg("connect %s:%u: want %s rule %u, got %s rule %u", addr, port,
			 policy_verdict__name(verdict), rule, policy_verdict__name(d.verdict),
			 d.rule_id);
}

/* FNV-1a and the mix, written out again from the contract's text. */
static __u64 fnv(const char *s)
{
	__u64 h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (__u8)*s) * 0x100000001b3ULL;
	return h;
}

static __u64 mix(__u64 dir, __u64 len, __u64 name)
{
	__u64 h = dir ^ 0x9e3779b97f4a7c15ULL;

	h = (h ^ len) * 0x100000001b3ULL;
	h = (h ^ (name & 0xffffffffULL)) * 0x100000001b3ULL;
	return (h ^ (name >> 32)) * 0x100000001b3ULL;
}

static void test_contract_hashes(void **state)
{
	assert_int_equal(policy_shape__hash(AW_FK_EXACT, "/a/b/c", NULL), fnv("/a/b/c"));
	assert_int_equal(policy_shape__hash(AW_FK_SUBTREE, "", NULL), fnv(""));
	assert_int_equal(policy_shape__hash(AW_FK_CHILD_PREFIX, "/home/ada/.ssh", "id_"),
			 mix(fnv("/home/ada/.ssh"), 3, fnv("id_")));
	assert_int_equal(policy_shape__hash(AW_FK_CHILD_SUFFIX, "/a/b", ".pem"),
			 mix(fnv("/a/b"), 4, fnv(".pem")));
	assert_int_equal(policy_shape__hash(AW_FK_UNDER_NAME, "/a", ".env"),
			 mix(fnv("/a"), 0, fnv(".env")));
	assert_int_equal(policy_shape__hash(AW_FK_UNDER_SUFFIX, "", ".pem"),
			 mix(fnv(""), 4, fnv(".pem")));
}

static void test_worked_example_1(void **state)
{
	struct fixture f = {0};
	const struct policy_file_rec *r;

	build(&f, "ex1.yaml",
	      "apiVersion: agentwatch.dev/v1\nkind: AgentPolicy\nmetadata: {name: ex1}\nspec:\n"
	      "  files:\n"
	      "    - {name: ssh-keys, path: \"${HOME}/.ssh/id_*\", access: [read], action: deny,\n"
	      "       binaries: {except: [/usr/bin/ssh]}}\n",
	      false);
	r = policy_image__file(f.img, 1, AW_FK_CHILD_PREFIX,
			       mix(fnv("/home/ada/.ssh"), 3, fnv("id_")));
	assert_non_null(r);
	assert_int_equal(r->val.refs[0].rule_id, 1);
	assert_int_equal(r->val.refs[0].pad, 0); /* the action is the rule's verdict */
	assert_int_equal(policy_image__verdict(f.img, 1).action, AW_ACT_DENY);
	assert_int_equal(policy_image__verdict(f.img, 1).flags, 0);
	assert_int_equal(r->val.refs[0].access, AW_ACC_READ);
	assert_int_equal(r->val.refs[0].flags, AW_REF_BIN_EXCEPT);
	assert_int_equal(r->val.refs[0].binset, 1);
	assert_true(policy_image__in_binset(f.img, 1, fnv("/usr/bin/ssh")));
	assert_int_equal(f.img->n_prefix_lens, 1);
	assert_int_equal(f.img->prefix_lens[0], 3);
	want_file(&f, HOME "/.ssh/id_rsa", AW_ACC_READ, "/usr/bin/cat", POLICY_DENY, 1);
	want_file(&f, HOME "/.ssh/id_rsa", AW_ACC_READ, "/usr/bin/ssh", POLICY_ALLOW, 0);
	want_file(&f, HOME "/.ssh/id_rsa", AW_ACC_WRITE, "/usr/bin/cat", POLICY_ALLOW, 0);
	want_file(&f, HOME "/.ssh/id_", AW_ACC_READ, NULL, POLICY_DENY, 1);
	want_file(&f, HOME "/.ssh/i", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	want_file(&f, HOME "/.ssh/config", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	want_file(&f, HOME "/.ssh/sub/id_rsa", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	/* the kernel's paths have one '/' between names; a query may not */
	want_file(&f, HOME "//.ssh///id_rsa", AW_ACC_READ, NULL, POLICY_DENY, 1);
	teardown_fixture(&f);
}

static void test_worked_examples_2_to_4(void **state)
{
	struct fixture f = {0};

	build(&f, "ex.yaml",
	      "apiVersion: agentwatch.dev/v1\nkind: AgentPolicy\nmetadata: {name: ex}\nspec:\n"
	      "  files:\n"
	      "    - {name: aws, path: \"${HOME}/.aws/**\", action: deny}\n"
	      "  network:\n"
	      "    - {name: metadata, cidr: 169.254.169.254/32, action: deny}\n"
	      "    - {name: lan, cidr: 10.0.0.0/8, action: deny}\n"
	      "    - {name: git, cidr: 10.1.2.0/24, ports: [22], action: allow}\n",
	      false);
	assert_non_null(policy_image__file(f.img, 1, AW_FK_SUBTREE, fnv(HOME "/.aws")));
	assert_non_null(policy_image__file(f.img, 1, AW_FK_EXACT, fnv(HOME "/.aws")));
	want_file(&f, HOME "/.aws/credentials", AW_ACC_READ, NULL, POLICY_DENY, 1);
	want_file(&f, HOME "/.aws/sso/cache/x.json", AW_ACC_WRITE, NULL, POLICY_DENY, 1);
	want_file(&f, HOME "/.aws", AW_ACC_READ, NULL, POLICY_DENY, 1);
	want_file(&f, HOME "/.awsx", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	want_file(&f, HOME, AW_ACC_READ, NULL, POLICY_ALLOW, 0);

	want_net(&f, "169.254.169.254", 80, IPPROTO_TCP, POLICY_DENY, 2);
	want_net(&f, "::ffff:169.254.169.254", 80, IPPROTO_TCP, POLICY_DENY, 2);
	want_net(&f, "64:ff9b::a9fe:a9fe", 80, IPPROTO_TCP, POLICY_DENY, 2); /* NAT64 */
	want_net(&f, "169.254.169.253", 80, IPPROTO_TCP, POLICY_ALLOW, 0);
	/* example 4: the /24 carries the /8's deny; deny beats allow */
	want_net(&f, "10.1.2.3", 22, IPPROTO_TCP, POLICY_DENY, 3);
	want_net(&f, "10.1.2.3", 443, IPPROTO_UDP, POLICY_DENY, 3);
	want_net(&f, "10.9.9.9", 22, IPPROTO_TCP, POLICY_DENY, 3);
	want_net(&f, "11.0.0.1", 22, IPPROTO_TCP, POLICY_ALLOW, 0);
	want_net(&f, "2001:db8::1", 22, IPPROTO_TCP, POLICY_ALLOW, 0);
	teardown_fixture(&f);
}

static void test_default_policy(void **state)
{
	struct fixture f = {0};
	struct policy_decision d;
	__u32 ssh, aws, dotenv, shadow, rc, authkeys, cron, meta, kernel, escape;

	build(&f, "rules/default.yaml", NULL, true);
	ssh = rule_id(&f, "ssh-private-keys");
	aws = rule_id(&f, "aws-credentials");
	dotenv = rule_id(&f, "dotenv-outside-workspace");
	shadow = rule_id(&f, "shadow");
	rc = rule_id(&f, "shell-startup-files");
	authkeys = rule_id(&f, "ssh-authorized-keys");
	cron = rule_id(&f, "crontabs");
	meta = rule_id(&f, "cloud-metadata");
	kernel = rule_id(&f, "kernel-tampering");
	escape = rule_id(&f, "escape-primitives");

	/* cat ~/.ssh/id_rsa is refused; ssh and git still read it */
	want_file(&f, HOME "/.ssh/id_rsa", AW_ACC_READ, "/usr/bin/cat", POLICY_DENY, ssh);
	want_file(&f, HOME "/.ssh/id_rsa", AW_ACC_READ, "/usr/bin/ssh", POLICY_ALLOW, 0);
	want_file(&f, HOME "/.ssh/id_ed25519", AW_ACC_READ, "/usr/bin/git", POLICY_ALLOW, 0);
	want_file(&f, HOME "/.ssh/keys/work", AW_ACC_READ, "/usr/bin/python3", POLICY_DENY, ssh);
	/* public keys and known_hosts are readable by anyone */
	want_file(&f, HOME "/.ssh/id_rsa.pub", AW_ACC_READ, "/usr/bin/cat", POLICY_ALLOW, 0);
	want_file(&f, HOME "/.ssh/known_hosts", AW_ACC_READ, "/usr/bin/cat", POLICY_ALLOW, 0);
	/* listing ~/.ssh is fine, planting a key is not */
	want_file(&f, HOME "/.ssh", AW_ACC_READ, "/usr/bin/ls", POLICY_ALLOW, 0);
	want_file(&f, HOME "/.ssh/authorized_keys", AW_ACC_WRITE, "/usr/bin/tee", POLICY_DENY,
		  authkeys);
	want_file(&f, HOME "/.ssh/authorized_keys", AW_ACC_READ, "/usr/bin/cat", POLICY_DENY, ssh);
	/* cloud credentials */
	want_file(&f, HOME "/.aws/credentials", AW_ACC_READ, "/usr/bin/aws", POLICY_DENY, aws);
	/* .env: the workspace's own are readable, others' are not */
	want_file(&f, WS "/.env", AW_ACC_READ, "/usr/bin/node", POLICY_ALLOW, 0);
	want_file(&f, WS "/services/api/.env.local", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	want_file(&f, HOME "/other-project/.env", AW_ACC_READ, NULL, POLICY_DENY, dotenv);
	want_file(&f, "/tmp/.envrc", AW_ACC_READ, NULL, POLICY_DENY, dotenv);
	want_file(&f, "/tmp/.en", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	want_file(&f, "/work/project/.env", AW_ACC_READ, NULL, POLICY_DENY, dotenv);
	/* system secrets and persistence */
	want_file(&f, "/etc/shadow", AW_ACC_READ, NULL, POLICY_DENY, shadow);
	want_file(&f, "/etc/passwd", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	want_file(&f, HOME "/.bashrc", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	want_file(&f, HOME "/.bashrc", AW_ACC_WRITE, NULL, POLICY_DENY, rc);
	want_file(&f, HOME "/.bashrc", AW_ACC_RENAME, NULL, POLICY_DENY, rc);
	want_file(&f, "/etc/cron.d/backdoor", AW_ACC_CREATE, NULL, POLICY_DENY, cron);
	want_file(&f, "/etc/cron.allow", AW_ACC_WRITE, NULL, POLICY_DENY, cron);
	want_file(&f, "/var/spool/cron/crontabs/ada", AW_ACC_WRITE, NULL, POLICY_DENY, cron);
	want_file(&f, HOME "/.config/systemd/user/evil.service", AW_ACC_CREATE, NULL, POLICY_DENY,
		  rule_id(&f, "systemd-user-units"));
	/* metadata endpoints, in every spelling */
	want_net(&f, "169.254.169.254", 80, IPPROTO_TCP, POLICY_DENY, meta);
	want_net(&f, "::ffff:169.254.169.254", 80, IPPROTO_TCP, POLICY_DENY, meta);
	want_net(&f, "64:ff9b::a9fe:a9fe", 80, IPPROTO_TCP, POLICY_DENY, meta);
	want_net(&f, "fd00:ec2::254", 80, IPPROTO_TCP, POLICY_DENY, meta);
	want_net(&f, "100.100.100.200", 80, IPPROTO_UDP, POLICY_DENY, meta);
	want_net(&f, "140.82.112.3", 443, IPPROTO_TCP, POLICY_AUDIT, AW_RULE_DEFAULT);
	/* exec: audited; memfd refused; agent-written allowed */
	assert_int_equal(policy_image__decide_exec(f.img, 1, "/usr/bin/ls", "/usr/bin/bash", 0, &d),
			 0);
	assert_int_equal(d.verdict, POLICY_AUDIT);
	assert_int_equal(d.rule_id, AW_RULE_DEFAULT);
	assert_int_equal(policy_image__decide_exec(f.img, 1, "/memfd:x (deleted)", NULL,
						   POLICY_EXEC_MEMFD, &d),
			 0);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_int_equal(d.rule_id, AW_RULE_MEMFD);
	assert_int_equal(policy_image__decide_exec(f.img, 1, WS "/a.out", "/usr/bin/bash",
						   POLICY_EXEC_AGENT_WRITTEN, &d),
			 0);
	assert_int_equal(d.verdict, POLICY_AUDIT);
	/* syscall classes */
	assert_int_equal(policy_image__decide_syscall(f.img, 1, AW_SC_BPF, &d), 0);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_int_equal(d.rule_id, kernel);
	assert_int_equal(policy_image__decide_syscall(f.img, 1, AW_SC_USERNS, &d), 0);
	assert_int_equal(d.verdict, POLICY_WOULD_BLOCK);
	assert_int_equal(d.rule_id, escape);
	assert_int_equal(policy_image__decide_syscall(f.img, 1, AW_SC_PTRACE, &d), 0);
	assert_int_equal(d.verdict, POLICY_DENY);
	/* no policy for set 2 */
	assert_int_equal(policy_image__decide_file(f.img, 2, "/etc/shadow", AW_ACC_READ, NULL, &d),
			 0);
	assert_int_equal(d.verdict, POLICY_NO_POLICY);
	/* file_inodes values: a private key gets the deny, a public key none */
	struct aw_rule_val v;

	assert_int_equal(policy_image__inode_value(f.img, 1, HOME "/.ssh/id_rsa", &v), 0);
	assert_int_equal(v.refs[0].rule_id, ssh);
	assert_int_equal(v.refs[1].rule_id, 0);
	assert_int_equal(policy_image__inode_value(f.img, 1, HOME "/.ssh/id_rsa.pub", &v), -ENOENT);
	assert_int_equal(policy_image__inode_value(f.img, 1, HOME "/.ssh/authorized_keys", &v), 0);
	assert_int_equal(v.refs[0].rule_id, authkeys); /* EXACT is looked up first */
	assert_int_equal(v.refs[1].rule_id, ssh);
	teardown_fixture(&f);
}

#define POLICY(name, body)                                                                    \
	"apiVersion: agentwatch.dev/v1\nkind: AgentPolicy\nmetadata: {name: " name "}\nspec:" \
	"\n" body

static void test_deny_beats_allow_across_policies(void **state)
{
	struct fixture f = {0};

	build(&f, "m.yaml",
	      POLICY("open",
		     "  files:\n    - {name: srv-allow, path: /srv/**, action: allow}\n"
		     "    - {name: secret-allow, path: /srv/secret, action: allow}\n") "---"
										       "\n" POLICY(
											       "clo"
											       "se"
											       "d",
											       "  "
											       "fil"
											       "es:"
											       "\n "
											       "   "
											       "- "
											       "{na"
											       "me:"
											       " se"
											       "cre"
											       "t-"
											       "den"
											       "y, "
											       "pat"
											       "h: "
											       "/sr"
											       "v/"
											       "sec"
											       "ret"
											       ", "
											       "act"
											       "ion"
											       ": "
											       "den"
											       "y}"
											       "\n"
											       "   "
											       " - "
											       "{na"
											       "me:"
											       " lo"
											       "gs-"
											       "aud"
											       "it,"
											       " pa"
											       "th:"
											       " /"
											       "srv"
											       "/lo"
											       "gs/"
											       "**,"
											       " ac"
											       "tio"
											       "n: "
											       "aud"
											       "it}"
											       "\n"),
	      false);
	want_file(&f, "/srv/secret", AW_ACC_READ, NULL, POLICY_DENY, rule_id(&f, "secret-deny"));
	want_file(&f, "/srv/other", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	/* audit beats allow: allowed, reported */
	want_file(&f, "/srv/logs/a", AW_ACC_READ, NULL, POLICY_AUDIT, rule_id(&f, "logs-audit"));
	teardown_fixture(&f);
}

static void test_audit_mode(void **state)
{
	struct fixture f = {0};
	struct policy_decision d;

	/* the audit-mode rule is written first (lower id): the enforced deny still decides */
	build(&f, "a.yaml",
	      POLICY("trial",
		     "  mode: audit\n  defaults: {files: deny}\n"
		     "  execProtections: {denyAgentWritten: true}\n"
		     "  files:\n    - {name: trial-deny, paths: [/srv/x, /srv/y], action: deny}\n"
		     "    - {name: trial-allow, path: /srv/ok, action: allow}\n") "---\n" POLICY("r"
												 "e"
												 "a"
												 "l",
												 " "
												 " "
												 "e"
												 "x"
												 "e"
												 "c"
												 ":"
												 "\n    - {name: no-tmp, path: /tmp/*, action: deny}\n"
												 " "
												 " "
												 "f"
												 "i"
												 "l"
												 "e"
												 "s"
												 ":"
												 "\n    - {name: real-deny, path: /srv/y, action: deny}\n"),
	      false);
	assert_int_equal(f.img->sets[0].defaults.files, AW_ACT_DENY);
	assert_true(f.img->sets[0].defaults.flags & AW_DEF_AUDIT_MODE);
	want_file(&f, "/srv/x", AW_ACC_READ, NULL, POLICY_WOULD_BLOCK, rule_id(&f, "trial-deny"));
	want_file(&f, "/srv/y", AW_ACC_READ, NULL, POLICY_DENY, rule_id(&f, "real-deny"));
	want_file(&f, "/srv/ok", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	/* the audit-mode default deny only would block */
	want_file(&f, "/srv/z", AW_ACC_READ, NULL, POLICY_WOULD_BLOCK, AW_RULE_DEFAULT);
	/* agent-written exec: would block; but it does not weaken an enforced deny */
	assert_int_equal(policy_image__decide_exec(f.img, 1, "/srv/run", NULL,
						   POLICY_EXEC_AGENT_WRITTEN, &d),
			 0);
	assert_int_equal(d.verdict, POLICY_WOULD_BLOCK);
	assert_int_equal(d.rule_id, AW_RULE_AGENT_WRITTEN);
	assert_int_equal(policy_image__decide_exec(f.img, 1, "/tmp/run", NULL,
						   POLICY_EXEC_AGENT_WRITTEN, &d),
			 0);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_int_equal(d.rule_id, rule_id(&f, "no-tmp"));
	teardown_fixture(&f);
}

/*
 * What a rule decides is its verdict, not its records (policy.h, "Verdicts"): the same
 * policy in audit mode, or with its actions edited, compiles to byte-identical file and
 * network records; only the verdicts, the decisions and the inode values differ.
 */
static void test_verdicts_carry_the_action(void **state)
{
#define VERDICT_POLICY(mode, keys, lan)                                                      \
	POLICY("flip", "  mode: " mode "\n  files:\n"                                        \
		       "    - {name: keys, path: \"${HOME}/.ssh/id_*\", action: " keys "}\n" \
		       "    - {name: logs, path: /var/log/**, except: [/var/log/pub/**], "   \
		       "action: audit}\n"                                                    \
		       "  network:\n    - {name: lan, cidr: 10.0.0.0/8, action: " lan "}\n")
	static const char *const texts[3] = {
		VERDICT_POLICY("audit", "deny", "deny"),
		VERDICT_POLICY("enforce", "deny", "deny"),
		VERDICT_POLICY("enforce", "allow", "allow"),
	};
	struct fixture f[3] = {0};
	struct aw_rule_val v;
	__u32 keys, lan;

	for (int i = 0; i < 3; i++)
		build(&f[i], "flip.yaml", texts[i], false);
	keys = rule_id(&f[0], "keys");
	lan = rule_id(&f[0], "lan");
	for (int i = 1; i < 3; i++) {
		assert_int_equal(f[i].img->n_files, f[0].img->n_files);
		assert_int_equal(f[i].img->n_nets, f[0].img->n_nets);
		for (size_t k = 0; k < f[0].img->n_files; k++)
			assert_memory_equal(&f[i].img->files[k].key, &f[0].img->files[k].key,
					    sizeof(struct aw_file_key) +
						    sizeof(struct aw_rule_val));
		for (size_t k = 0; k < f[0].img->n_nets; k++)
			assert_memory_equal(&f[i].img->nets[k].key, &f[0].img->nets[k].key,
					    sizeof(struct aw_net_key) + sizeof(struct aw_net_val));
	}
	assert_int_equal(policy_image__verdict(f[0].img, keys).action, AW_ACT_DENY);
	assert_int_equal(policy_image__verdict(f[0].img, keys).flags, AW_REF_AUDIT_MODE);
	assert_int_equal(policy_image__verdict(f[1].img, keys).flags, 0);
	assert_int_equal(policy_image__verdict(f[2].img, keys).action, AW_ACT_ALLOW);
	assert_int_equal(policy_image__verdict(f[0].img, 99).action, AW_ACT_NONE);

	want_file(&f[0], HOME "/.ssh/id_rsa", AW_ACC_READ, NULL, POLICY_WOULD_BLOCK, keys);
	want_file(&f[1], HOME "/.ssh/id_rsa", AW_ACC_READ, NULL, POLICY_DENY, keys);
	want_file(&f[2], HOME "/.ssh/id_rsa", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	want_net(&f[0], "10.1.2.3", 443, IPPROTO_TCP, POLICY_WOULD_BLOCK, lan);
	want_net(&f[1], "10.1.2.3", 443, IPPROTO_TCP, POLICY_DENY, lan);
	want_net(&f[2], "10.1.2.3", 443, IPPROTO_TCP, POLICY_ALLOW, 0);
	/* a raw socket: an ALLOW verdict covering every port applies, a DENY does too */
	want_net(&f[2], "10.1.2.3", 0, IPPROTO_RAW, POLICY_ALLOW, 0);
	want_net(&f[1], "10.1.2.3", 0, IPPROTO_RAW, POLICY_DENY, lan);

	/* inode values hold DENY references only: the deny -> allow edit drops them */
	assert_int_equal(policy_image__inode_value(f[0].img, 1, HOME "/.ssh/id_rsa", &v), 0);
	assert_int_equal(v.refs[0].rule_id, keys);
	assert_int_equal(v.refs[0].pad, 0);
	/* the audit mode is the verdict's; an inode reference is the file's identity */
	assert_int_equal(v.refs[0].flags, AW_REF_IDENTITY);
	assert_int_equal(policy_image__inode_value(f[1].img, 1, HOME "/.ssh/id_rsa", &v), 0);
	assert_int_equal(policy_image__inode_value(f[2].img, 1, HOME "/.ssh/id_rsa", &v), -ENOENT);
	assert_int_equal(f[1].img->n_inodes, 1);
	assert_int_equal(f[2].img->n_inodes, 0);
	for (int i = 0; i < 3; i++)
		teardown_fixture(&f[i]);
#undef VERDICT_POLICY
}

/*
 * Rule ids index rule_verdicts: AW_RULES_MAX - 1 rules compile, one more is an error naming
 * the first rule beyond. The collection is built by hand (parsing 262 144 rules is slow).
 */
static void compile_n_rules(__u32 n, int want, const char *want_msg)
{
	struct policy_rule *rules = calloc(n, sizeof(*rules));
	struct policy pol = {.name = "big", .rules = rules, .n_rules = (int)n};
	struct policy_collection c = {.pols = &pol, .n = 1, .n_rules = n};
	const struct policy *pols[] = {&pol};
	struct policy_errors errs = {0};
	struct policy_image *img = policy_image__new();

	assert_non_null(rules);
	assert_non_null(img);
	for (__u32 i = 0; i < n; i++)
		rules[i] = (struct policy_rule){
			.id = i + 1,
			.name = i + 1 == AW_RULES_MAX ? "one-too-many" : "r",
			.pos = {"big.yaml", 8 + i, 7},
			.list = POLICY_FILES,
			.action = AW_ACT_DENY,
		};
	assert_int_equal(policy_image__compile_policies(img, &c, 1, pols, 1, &agent, &errs), want);
	if (want_msg) {
		assert_int_equal(errs.n, 1);
		assert_string_equal(errs.v[0].msg, want_msg);
	} else {
		assert_int_equal(errs.n, 0);
		assert_int_equal(img->n_rules, n);
		assert_int_equal(policy_image__verdict(img, n).action, AW_ACT_DENY);
	}
	policy_errors__free(&errs);
	policy_image__free(img);
	free(rules);
}

static void test_rule_ids_fit_the_verdicts(void **state)
{
	char msg[256];

	compile_n_rules(AW_RULES_MAX - 1, 0, NULL);
	snprintf(msg, sizeof(msg),
		 "big.yaml:%u:7: rule 'one-too-many': rule %u of the policies loaded; the "
		 "kernel's rule_verdicts holds at most %u rules (ids 1..%u)",
		 8 + AW_RULES_MAX - 1, AW_RULES_MAX, AW_RULES_MAX - 1, AW_RULES_MAX - 1);
	compile_n_rules(AW_RULES_MAX, -EINVAL, msg);
}

static void test_tie_break_and_allow_rule(void **state)
{
	struct fixture f = {0};
	struct policy_decision d;

	build(&f, "t.yaml",
	      POLICY("t", "  files:\n    - {name: first, path: /d/**, action: deny}\n"
			  "    - {name: second, path: /d/f, action: deny}\n"
			  "    - {name: open, path: /e/**, action: allow}\n"),
	      false);
	want_file(&f, "/d/f", AW_ACC_READ, NULL, POLICY_DENY, rule_id(&f, "first"));
	/* an allow is reported as rule 0, explain still names it */
	assert_int_equal(policy_image__decide_file(f.img, 1, "/e/x", AW_ACC_READ, NULL, &d), 0);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	assert_int_equal(d.rule_id, 0);
	assert_false(d.by_default);
	assert_true(d.decider >= 0);
	assert_int_equal(d.matches[d.decider].rule_id, rule_id(&f, "open"));
	assert_string_equal(d.matches[d.decider].where, "SUBTREE /e/**");
	teardown_fixture(&f);
}

static void test_fail_closed_beyond_kernel_refs(void **state)
{
	struct fixture f = {0};
	struct policy_decision d;
	char body[4096];
	size_t off = 0;

	/* 5 levels x 4 allow rules = 20 matching references; the kernel holds 16 */
	off += snprintf(body + off, sizeof(body) - off, "  files:\n");
	for (int lvl = 0; lvl < 5; lvl++)
		for (int k = 0; k < 4; k++)
			off += snprintf(body + off, sizeof(body) - off,
					"    - {name: r%d%d, path: /a%.*s/**, access: [read%s], "
					"action: allow}\n",
					lvl, k, lvl * 2, "/b/c/d/e/f", k ? ", exec" : "");
	{
		char text[8192];

		snprintf(text, sizeof(text), POLICY("many", "%s"), body);
		build(&f, "many.yaml", text, false);
	}
	assert_int_equal(policy_image__decide_file(f.img, 1, "/a/b/c/d/e/x", AW_ACC_READ, NULL, &d),
			 0);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_int_equal(d.rule_id, AW_RULE_DEFAULT);
	assert_true(d.overflow);
	/* with fewer matching, allowed */
	want_file(&f, "/a/b/c/x", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	/* only references whose access matches count */
	want_file(&f, "/a/b/c/d/e/x", AW_ACC_WRITE, NULL, POLICY_ALLOW, 0);
	teardown_fixture(&f);
}

static void test_kinds_and_binsets(void **state)
{
	struct fixture f = {0};
	struct policy_decision d;

	build(&f, "k.yaml",
	      POLICY("k", "  defaults: {exec: deny}\n"
			  "  files:\n"
			  "    - {name: globs, paths: [/opt/keys/id_?sa, \"/opt/keys/[ab]*x\"], "
			  "action: "
			  "deny}\n"
			  "    - {name: pem, path: /srv/**/*.pem, action: deny}\n"
			  "    - {name: cred, path: \"${WORKSPACE}/**/.git-credentials\", action: "
			  "deny}\n"
			  "    - {name: key-files, path: /etc/ssl/*.key, action: deny}\n"
			  "    - {name: root, path: /**, access: [link], action: audit}\n"
			  "  exec:\n"
			  "    - {name: bins, path: /usr/bin/**, action: allow}\n"
			  "    - {name: no-curl, path: /usr/bin/curl, parent: {only: "
			  "[/usr/bin/python3]}, action: deny}\n"),
	      false);
	want_file(&f, "/opt/keys/id_rsa", AW_ACC_READ, NULL, POLICY_DENY, 1);
	want_file(&f, "/opt/keys/id_dsa", AW_ACC_READ, NULL, POLICY_DENY, 1);
	want_file(&f, "/opt/keys/id_ecdsa", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	want_file(&f, "/opt/keys/box", AW_ACC_READ, NULL, POLICY_DENY, 1);
	want_file(&f, "/opt/keys/cox", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	want_file(&f, "/srv/a/b/c/server.pem", AW_ACC_READ, NULL, POLICY_DENY, 2);
	want_file(&f, "/srv/server.pem", AW_ACC_READ, NULL, POLICY_DENY, 2);
	want_file(&f, "/srv.pem", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	want_file(&f, WS "/a/.git-credentials", AW_ACC_READ, NULL, POLICY_DENY, 3);
	want_file(&f, WS "/.git-credentials", AW_ACC_READ, NULL, POLICY_DENY, 3);
	want_file(&f, WS "/.git-credentials.bak", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	want_file(&f, "/etc/ssl/server.key", AW_ACC_READ, NULL, POLICY_DENY, 4);
	want_file(&f, "/etc/ssl/private/server.key", AW_ACC_READ, NULL, POLICY_ALLOW, 0);
	want_file(&f, "/", AW_ACC_LINK, NULL, POLICY_AUDIT, 5);
	want_file(&f, "/x/y", AW_ACC_LINK, NULL, POLICY_AUDIT, 5);
	/* exec allow-list, and a deny that holds only under python */
	assert_int_equal(
		policy_image__decide_exec(f.img, 1, "/usr/bin/curl", "/usr/bin/python3", 0, &d), 0);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_int_equal(d.rule_id, 7);
	assert_int_equal(
		policy_image__decide_exec(f.img, 1, "/usr/bin/curl", "/usr/bin/bash", 0, &d), 0);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	assert_int_equal(policy_image__decide_exec(f.img, 1, "/tmp/x", "/usr/bin/bash", 0, &d), 0);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_int_equal(d.rule_id, AW_RULE_DEFAULT);
	teardown_fixture(&f);
}

static void test_network_ports_and_protocols(void **state)
{
	struct fixture f = {0};

	build(&f, "n.yaml",
	      POLICY("n", "  defaults: {network: deny}\n  network:\n"
			  "    - {name: web, cidr: 0.0.0.0/0, ports: [80, 443], protocol: tcp, "
			  "action: "
			  "allow}\n"
			  "    - {name: dns, cidrs: [10.0.0.53, fd00::53], ports: [53], protocol: "
			  "udp, "
			  "action: allow}\n"
			  "    - {name: hi, cidr: 192.168.0.0/16, ports: [\"8000-8999\"], action: "
			  "audit}\n"),
	      false);
	want_net(&f, "1.2.3.4", 443, IPPROTO_TCP, POLICY_ALLOW, 0);
	want_net(&f, "1.2.3.4", 443, IPPROTO_UDP, POLICY_DENY, AW_RULE_DEFAULT);
	want_net(&f, "1.2.3.4", 22, IPPROTO_TCP, POLICY_DENY, AW_RULE_DEFAULT);
	want_net(&f, "2001:db8::1", 443, IPPROTO_TCP, POLICY_DENY, AW_RULE_DEFAULT);
	want_net(&f, "10.0.0.53", 53, IPPROTO_UDP, POLICY_ALLOW, 0);
	want_net(&f, "10.0.0.53", 80, IPPROTO_TCP, POLICY_ALLOW, 0); /* pushed down */
	want_net(&f, "fd00::53", 53, IPPROTO_UDP, POLICY_ALLOW, 0);
	want_net(&f, "192.168.1.1", 8080, IPPROTO_UDP, POLICY_AUDIT, 3);
	want_net(&f, "192.168.1.1", 9000, IPPROTO_UDP, POLICY_DENY, AW_RULE_DEFAULT);
	teardown_fixture(&f);
}

static void test_glob_matcher(void **state)
{
	static const struct {
		const char *glob, *name;
		bool want;
	} cases[] = {
		{"id_?sa", "id_rsa", true},
		{"id_?sa", "id_ecdsa", false},
		{"*", "", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbYcZ", false},
		{"a*b*c", "abcbc", true},
		{"[ab]*x", "bx", true},
		{"[ab]*x", "cx", false},
		{"[!0-9]*", "x1", true},
		{"[!0-9]*", "1x", false},
		{"[^a-c]", "d", true},
		{"[]]", "]", true},
		{"[a-]", "-", true},
		{"*.p1?", "cert.p12", true},
		{"*.p1?", "cert.p1", false},
		{"**", "anything", true},
		{"?", "", false},
		{"x*", "x", true},
		{"*x*x*x*x*x*y", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (policy_glob__match(cases[i].glob, cases[i].name, strlen(cases[i].name)) !=
		    cases[i].want)
			fail_msg("glob '%s' vs '%s': want %d", cases[i].glob, cases[i].name,
				 cases[i].want);
}

/* Run from the repository root (for rules/default.yaml), wherever started from. */
static void go_to_root(const char *argv0)
{
	char path[4096], *slash;

	if (!access("rules/default.yaml", F_OK) || !realpath(argv0, path))
		return;
	for (int i = 0; i < 4 && (slash = strrchr(path, '/')); i++)
		*slash = '\0'; /* build/tests/unit/test_x -> the root */
	if (chdir(path))
		fprintf(stderr, "cannot chdir to %s\n", path);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contract_hashes),
		cmocka_unit_test(test_worked_example_1),
		cmocka_unit_test(test_worked_examples_2_to_4),
		cmocka_unit_test(test_default_policy),
		cmocka_unit_test(test_deny_beats_allow_across_policies),
		cmocka_unit_test(test_audit_mode),
		cmocka_unit_test(test_verdicts_carry_the_action),
		cmocka_unit_test(test_rule_ids_fit_the_verdicts),
		cmocka_unit_test(test_tie_break_and_allow_rule),
		cmocka_unit_test(test_fail_closed_beyond_kernel_refs),
		cmocka_unit_test(test_kinds_and_binsets),
		cmocka_unit_test(test_network_ports_and_protocols),
		cmocka_unit_test(test_glob_matcher),
	};

	go_to_root(argv[0]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
