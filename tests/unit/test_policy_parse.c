// SPDX-License-Identifier: Apache-2.0
/*
 * The policy parser and compiler on bad input: each case asserts the exact FILE:LINE:COL and
 * message of every error, and that nothing of a bad file loads. Good input is checked field by
 * field.
 */
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

#include "policy.h"
#include "policy_image.h"
#include "policy_pattern.h"
#include "syscalls.h"

/* Lines 1-5; what follows starts on line 6, indented by two. */
#define HDR                               \
	"apiVersion: agentwatch.dev/v1\n" \
	"kind: AgentPolicy\n"             \
	"metadata:\n"                     \
	"  name: p\n"                     \
	"spec:\n"

static void check_errors(const char *text, const char *const *want, int n)
{
	struct policy_errors errs = {0};
	struct policy_collection c;
	bool same;
	int ret;

	policy_collection__init(&c);
	ret = policy_collection__parse(&c, "t.yaml", text, strlen(text), &errs);
	same = ret == -EINVAL && errs.n == n && c.n == 0;
	for (int i = 0; same && i < n; i++)
		same = !strcmp(errs.v[i].msg, want[i]);
	if (!same) {
		print_error("ret %d, %d policies loaded, errors:\n", ret, c.n);
		for (int i = 0; i < errs.n; i++)
			print_error("  got:  %s\n", errs.v[i].msg);
		for (int i = 0; i < n; i++)
			print_error("  want: %s\n", want[i]);
	}
	policy_collection__free(&c);
	policy_errors__free(&errs);
	assert_true(same);
}

#define ERRORS(text, ...)                                                  \
	do {                                                               \
		const char *const w_[] = {__VA_ARGS__};                    \
		check_errors(text, w_, (int)(sizeof(w_) / sizeof(w_[0]))); \
	} while (0)

static void test_syntax_error(void **state)
{
	ERRORS(HDR "  files: [a\n", "t.yaml:7:1: YAML syntax error: did not find expected ',' or "
				    "']' while parsing a flow sequence (line 6)");
	ERRORS(HDR "  files:\n  - name: a\n   action: deny\n", "t.yaml:8:4: YAML syntax error: did "
							       "not find expected key while "
							       "parsing a block "
							       "mapping (line 6)");
	/* a variable in a flow sequence needs quotes: '{' is flow syntax */
	ERRORS(HDR "  files:\n    - {name: a, paths: [${HOME}/x], action: deny}\n",
	       "t.yaml:7:26: YAML syntax error: did not find expected ',' or ']' while parsing a "
	       "flow sequence (line 7)");
	/* a good document before the error does not load either */
	ERRORS(HDR "  mode: audit\n---\nkey: [\n", "t.yaml:9:1: YAML syntax error: did not find "
						   "expected node content while parsing a "
						   "flow node (line 9)");
}

static void test_unknown_key(void **state)
{
	ERRORS(HDR "  filez: []\n", "t.yaml:6:3: spec: unknown key 'filez' (expected mode, "
				    "fallback, requireEnforcement, "
				    "selector, defaults, execProtections, files, exec, network, "
				    "syscalls)");
	ERRORS(HDR "  files:\n    - name: a\n      path: /a\n      action: deny\n      acess: "
		   "[read]\n",
	       "t.yaml:10:7: spec.files[0]: unknown key 'acess' (expected name, action, path, "
	       "paths, except, access, binaries)");
	ERRORS(HDR "  exec:\n    - {name: a, path: /a, action: deny, binaries: {only: [/x]}}\n",
	       "t.yaml:7:41: spec.exec[0]: unknown key 'binaries' (expected name, action, path, "
	       "paths, except, parent)");
	ERRORS("apiVersion: agentwatch.dev/v1\nkind: AgentPolicy\nmetadata: {name: p, namespace: "
	       "x}\n",
	       "t.yaml:3:21: metadata: unknown key 'namespace' (expected name, labels, "
	       "annotations)");
	ERRORS(HDR "  mode: audit\n  mode: enforce\n", "t.yaml:7:3: spec: duplicate key 'mode' "
						       "(first at line 6)");
}

static void test_wrong_type(void **state)
{
	ERRORS(HDR "  files: {name: a}\n", "t.yaml:6:10: spec.files: expected a sequence (a list "
					   "such as [a, b]), got a mapping");
	ERRORS(HDR "  files:\n    - name: [a]\n      path: /a\n      action: deny\n", "t.yaml:7:13:"
										      " spec.files["
										      "0].name: "
										      "expected a "
										      "string, got "
										      "a sequence");
	ERRORS(HDR "  files:\n    - /etc/shadow\n", "t.yaml:7:7: spec.files[0]: expected a rule (a "
						    "mapping with name and action), got a "
						    "scalar");
	ERRORS(HDR "  execProtections: {denyMemfd: yes}\n", "t.yaml:6:32: "
							    "spec.execProtections.denyMemfd: "
							    "expected true or false, got 'yes'");
	ERRORS(HDR "  files:\n    - {name: a, path: !!int 5, action: deny}\n",
	       "t.yaml:7:23: spec.files[0].path: relative pattern '5': patterns are absolute "
	       "(start "
	       "with '/', '~/', ${HOME} or ${WORKSPACE})");
	ERRORS(HDR "  files:\n    - {name: a, path: !!bool true, action: deny}\n",
	       "t.yaml:7:23: spec.files[0].path: expected a string, got a value tagged "
	       "'tag:yaml.org,2002:bool'");
	ERRORS(HDR "  files:\n    - {name: a, path: , action: deny}\n", "t.yaml:7:23: "
									"spec.files[0].path: "
									"expected a string, got "
									"null");
	ERRORS("- a\n- b\n", "t.yaml:1:1: expected an AgentPolicy document (a mapping), got a "
			     "sequence");
}

static void test_missing_and_values(void **state)
{
	ERRORS("kind: DaemonConfig\nmetadata: {name: p}\n",
	       "t.yaml:1:1: missing 'apiVersion' (agentwatch.dev/v1)",
	       "t.yaml:1:7: kind: expected 'AgentPolicy', got 'DaemonConfig'");
	ERRORS("apiVersion: agentwatch.dev/v2\nkind: AgentPolicy\nspec: {}\n",
	       "t.yaml:1:1: missing 'metadata' (with the policy's name)",
	       "t.yaml:1:13: apiVersion: expected 'agentwatch.dev/v1', got 'agentwatch.dev/v2'");
	ERRORS(HDR "  files:\n    - {path: /a}\n", "t.yaml:7:7: spec.files[0]: missing 'name'",
	       "t.yaml:7:7: spec.files[0]: missing 'action' (allow, deny or audit)");
	ERRORS(HDR "  files:\n    - {name: a b, path: /a, action: block}\n",
	       "t.yaml:7:14: spec.files[0].name: 'a b' is not a rule name: use letters, digits, "
	       "'.', '_' and '-' (at most 63)",
	       "t.yaml:7:37: spec.files[0].action: expected allow, deny or audit, got 'block'");
	ERRORS(HDR "  syscalls:\n    - {name: a, class: bpf, action: allow}\n", "t.yaml:7:37: "
										"spec.syscalls[0]."
										"action: expected "
										"deny or audit, "
										"got 'allow'");
	ERRORS(HDR "  syscalls:\n    - {name: a, names: [ptrace], action: deny}\n",
	       "t.yaml:7:42: spec.syscalls[0].action: a rule with 'names' reports syscalls "
	       "(audit); "
	       "deny them by class");
	ERRORS(HDR "  defaults: {files: block}\n  fallback: crash\n  requireEnforcement: bpf\n",
	       "t.yaml:6:21: spec.defaults.files: expected allow, audit or deny, got 'block'",
	       "t.yaml:7:13: spec.fallback: expected audit or kill, got 'crash'",
	       "t.yaml:8:23: spec.requireEnforcement: expected lsm, got 'bpf'");
	ERRORS(HDR "  files:\n    - {name: a, path: /a, access: [], action: deny}\n",
	       "t.yaml:7:35: spec.files[0].access: expected at least one of read, write, create, "
	       "delete, rename, exec, truncate, link, all");
}

static void test_bad_cidr(void **state)
{
	ERRORS(HDR "  network:\n    - name: a\n      cidrs: [10.0.0.256/8, 10.0.0.0/33, fd00::/129,"
		   " 10.1.0.0/8, 64:ff9b::/32, 10.0.0.0/]\n      action: deny\n",
	       "t.yaml:8:15: spec.network[0].cidrs[0]: bad CIDR '10.0.0.256/8': expected an IPv4 "
	       "or "
	       "IPv6 address with an optional /prefix (10.0.0.0/8, fd00::/8)",
	       "t.yaml:8:29: spec.network[0].cidrs[1]: bad CIDR '10.0.0.0/33': expected an IPv4 or "
	       "IPv6 address with an optional /prefix (10.0.0.0/8, fd00::/8)",
	       "t.yaml:8:42: spec.network[0].cidrs[2]: bad CIDR 'fd00::/129': expected an IPv4 or "
	       "IPv6 address with an optional /prefix (10.0.0.0/8, fd00::/8)",
	       "t.yaml:8:54: spec.network[0].cidrs[3]: bad CIDR '10.1.0.0/8': bits set after the "
	       "/8 prefix (write the network address)",
	       "t.yaml:8:66: spec.network[0].cidrs[4]: CIDR '64:ff9b::/32' covers part of the "
	       "NAT64 "
	       "prefix 64:ff9b::/96, whose addresses are matched as the IPv4 address they carry; "
	       "write IPv4 CIDRs for them",
	       "t.yaml:8:80: spec.network[0].cidrs[5]: bad CIDR '10.0.0.0/': expected an IPv4 or "
	       "IPv6 address with an optional /prefix (10.0.0.0/8, fd00::/8)");
	ERRORS(HDR "  network:\n    - {name: a, cidr: 10.0.0.0/8, ports: [\"9-1\", x, 65536],"
		   " protocol: sctp, direction: ingress, action: deny}\n",
	       "t.yaml:7:43: spec.network[0].ports[0]: bad port range '9-1': 9 is above 1",
	       "t.yaml:7:50: spec.network[0].ports[1]: bad port 'x': expected a number 0-65535 or "
	       "a "
	       "range 'lo-hi'",
	       "t.yaml:7:53: spec.network[0].ports[2]: bad port '65536': expected a number 0-65535 "
	       "or a range 'lo-hi'",
	       "t.yaml:7:71: spec.network[0].protocol: expected tcp, udp or any, got 'sctp'",
	       "t.yaml:7:88: spec.network[0].direction: only 'egress' is supported (connections "
	       "the "
	       "agent makes), got 'ingress'");
	ERRORS(HDR "  network:\n    - {name: a, action: deny}\n", "t.yaml:7:7: spec.network[0]: "
								  "missing 'cidr' or 'cidrs' "
								  "(0.0.0.0/0 and ::/0 for every "
								  "address)");
}

static void test_bad_glob(void **state)
{
	ERRORS(HDR "  files:\n    - {name: a, path: \"/a/[bc\", action: deny}\n", "t.yaml:7:23: "
										  "spec.files[0]."
										  "path: "
										  "unterminated "
										  "'[' at byte 1 "
										  "of '[bc'");
	ERRORS(HDR "  files:\n    - {name: a, path: "
		   "/k/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		   "aaaaaaaaaaaaaaa?, action: deny}\n",
	       "t.yaml:7:23: spec.files[0].path: name glob "
	       "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	       "aaaaaaaaaaaaaaaaaaaaaa?' is 65 bytes; the kernel evaluates at most 63");
	ERRORS(HDR "  selector:\n    agents: [\"claude[\"]\n    cgroups: [\"sys/fs\"]\n",
	       "t.yaml:7:14: spec.selector.agents[0]: bad glob 'claude[': column 7: unterminated "
	       "'['",
	       "t.yaml:8:15: spec.selector.cgroups[0]: cgroup globs are absolute paths "
	       "(/sys/fs/cgroup/...)");
}

static void test_unknown_syscall_class(void **state)
{
	ERRORS(HDR "  syscalls:\n    - {name: a, classes: [bpf, modules], action: deny}\n"
		   "    - {name: b, names: [ptrace, frobnicate], action: audit}\n"
		   "    - {name: c, class: bpf, names: [ptrace], action: audit}\n",
	       "t.yaml:7:32: spec.syscalls[0].classes[1]: unknown syscall class 'modules' "
	       "(expected "
	       "bpf, ptrace, mount, module, kexec, perf_event_open or userns)",
	       "t.yaml:8:33: spec.syscalls[1].names[1]: unknown syscall 'frobnicate'",
	       "t.yaml:9:36: spec.syscalls[2]: a rule has classes (deny or audit) or names "
	       "(audit), "
	       "not both");
}

static void test_duplicate_names(void **state)
{
	/* across lists: rule names are unique within a policy */
	ERRORS(HDR "  files:\n    - {name: keys, path: /a, action: deny}\n"
		   "  network:\n    - {name: keys, cidr: 10.0.0.0/8, action: deny}\n",
	       "t.yaml:9:14: spec.network[0].name: duplicate rule name 'keys' in policy 'p' (first "
	       "at line 7)");
	ERRORS(HDR "  mode: audit\n---\n" HDR "  mode: enforce\n", "t.yaml:11:9: metadata.name: "
								   "duplicate policy name 'p' "
								   "(first at t.yaml:4:9)");
}

static void test_duplicate_policy_across_files(void **state)
{
	struct policy_errors errs = {0};
	struct policy_collection c;
	const char *text = HDR "  mode: audit\n";

	policy_collection__init(&c);
	assert_int_equal(policy_collection__parse(&c, "a.yaml", text, strlen(text), &errs), 0);
	assert_int_equal(policy_collection__parse(&c, "b.yaml", text, strlen(text), &errs),
			 -EINVAL);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.v[0].msg, "b.yaml:4:9: metadata.name: duplicate policy name 'p' "
					   "(first at a.yaml:4:9)");
	assert_int_equal(c.n, 1);
	policy_collection__free(&c);
	policy_errors__free(&errs);
}

static void test_unsupported_shape(void **state)
{
	ERRORS(HDR "  files:\n    - name: a\n      action: deny\n      paths:\n"
		   "        - /home/*/.ssh/id_rsa\n"
		   "        - /a/**/b/c\n"
		   "        - /a/**/x/**\n"
		   "        - /a/b**\n"
		   "        - /a/**/x?y\n"
		   "        - /a/./b\n"
		   "        - /a/../b\n"
		   "        - /a/\\*b\n"
		   "        - /a/b*/\n",
	       "t.yaml:10:11: spec.files[0].paths[0]: '/home/*/.ssh/id_rsa': wildcards are "
	       "supported only in the last segment (and one '**'); '*' is a directory",
	       "t.yaml:11:11: spec.files[0].paths[1]: '/a/**/b/c': '**' must be the last or "
	       "next-to-last segment (/dir/** or /dir/**/name)",
	       "t.yaml:12:11: spec.files[0].paths[2]: '/a/**/x/**': at most one '**' per pattern "
	       "is supported",
	       "t.yaml:13:11: spec.files[0].paths[3]: '/a/b**': '**' must be a whole segment (as "
	       "in "
	       "/dir/**/name); 'b**' is not supported",
	       "t.yaml:14:11: spec.files[0].paths[4]: '/a/**/x?y': after '**' the last segment "
	       "must be a name, 'prefix*' or '*suffix'; a glob like 'x?y' is supported only "
	       "directly in a directory (/dir/x?y)",
	       "t.yaml:15:11: spec.files[0].paths[5]: '/a/./b': '.' and '..' segments never match "
	       "(the kernel matches canonical paths); write the path they lead to",
	       "t.yaml:16:11: spec.files[0].paths[6]: '/a/../b': '.' and '..' segments never match "
	       "(the kernel matches canonical paths); write the path they lead to",
	       "t.yaml:17:11: spec.files[0].paths[7]: '/a/\\*b': '\\' escapes are not supported",
	       "t.yaml:18:11: spec.files[0].paths[8]: '/a/b*/': a directory prefix (ending in '/') "
	       "must be a literal path");
}

static void test_relative_path(void **state)
{
	ERRORS(HDR "  files:\n    - name: a\n      action: deny\n      path: .ssh/id_rsa\n"
		   "      except: [\"*.pub\", \"${HOME}x\", \"${HOMES}/x\"]\n",
	       "t.yaml:9:13: spec.files[0].path: relative pattern '.ssh/id_rsa': patterns are "
	       "absolute (start with '/', '~/', ${HOME} or ${WORKSPACE})",
	       "t.yaml:10:16: spec.files[0].except[0]: relative pattern '*.pub': patterns are "
	       "absolute (start with '/', '~/', ${HOME} or ${WORKSPACE})",
	       "t.yaml:10:37: spec.files[0].except[2]: unknown variable '${HOMES}' (known: "
	       "${HOME}, "
	       "${WORKSPACE})");
	ERRORS(HDR "  files:\n    - name: a\n      action: deny\n      path: /x\n"
		   "      binaries: {only: [ssh, /usr/bin/*]}\n",
	       "t.yaml:10:25: spec.files[0].binaries.only[0]: 'ssh' is not an absolute path to an "
	       "executable",
	       "t.yaml:10:30: spec.files[0].binaries.only[1]: '/usr/bin/*': executables are exact "
	       "paths, without wildcards (the kernel looks up the hash of the executable's path)");
}

static void test_selector_errors(void **state)
{
	ERRORS(HDR "  selector:\n    kubernetes:\n      namespaces: [default]\n"
		   "      podUIDs: [not-a-uid]\n      containerIDs: [abc]\n",
	       "t.yaml:8:7: spec.selector.kubernetes: 'namespaces' is not known from a cgroup "
	       "path; "
	       "select pods by podUIDs or containers by containerIDs",
	       "t.yaml:9:17: spec.selector.kubernetes.podUIDs[0]: 'not-a-uid' is not a pod UID (a "
	       "lowercase UUID, or 32 hex digits for a static pod)",
	       "t.yaml:10:22: spec.selector.kubernetes.containerIDs[0]: 'abc' is not a container "
	       "ID "
	       "(12 to 64 lowercase hex digits; a shorter one matches as a prefix)");
	ERRORS(HDR "  selector:\n    workspace: src/app\n", "t.yaml:7:16: spec.selector.workspace: "
							    "'src/app' is not a workspace: an "
							    "absolute "
							    "path, without variables, '.' or '..'");
	ERRORS(HDR "  selector:\n    workspace: ${HOME}/src\n", "t.yaml:7:16: "
								"spec.selector.workspace: "
								"'${HOME}/src' is not a workspace: "
								"an "
								"absolute path, without variables, "
								"'.' or '..'");
	ERRORS(HDR "  selector:\n    workspace: /srv/../etc\n", "t.yaml:7:16: "
								"spec.selector.workspace: "
								"'/srv/../etc' is not a workspace: "
								"an "
								"absolute path, without variables, "
								"'.' or '..'");
	ERRORS(HDR "  selector:\n    workspace: [/srv]\n", "t.yaml:7:16: spec.selector.workspace: "
							   "expected a string, got a sequence");
}

static void test_all_errors_listed(void **state)
{
	/* three documents: errors of all are listed, in position order, none loads */
	ERRORS(HDR "  mode: sometimes\n---\n" HDR "  files:\n    - {name: a, path: a, action: "
		   "deny}\n---\n" HDR "  bogus: 1\n",
	       "t.yaml:6:9: spec.mode: expected enforce or audit, got 'sometimes'",
	       "t.yaml:11:9: metadata.name: duplicate policy name 'p' (first at t.yaml:4:9)",
	       "t.yaml:14:23: spec.files[0].path: relative pattern 'a': patterns are absolute "
	       "(start with '/', '~/', ${HOME} or ${WORKSPACE})",
	       "t.yaml:19:9: metadata.name: duplicate policy name 'p' (first at t.yaml:4:9)",
	       "t.yaml:21:3: spec: unknown key 'bogus' (expected mode, fallback, "
	       "requireEnforcement, selector, defaults, execProtections, files, exec, network, "
	       "syscalls)");
}

static void test_good_policy(void **state)
{
	const char *text = HDR "  mode: audit\n"
			       "  fallback: kill\n"
			       "  requireEnforcement: lsm\n"
			       "  defaults: {files: deny, network: audit}\n"
			       "  execProtections: {denyAgentWritten: true, denyMemfd: false}\n"
			       "  selector:\n"
			       "    agents: [\"claude*\"]\n"
			       "    kubernetes: {containerIDs: [0123456789ab]}\n"
			       "    workspace: /srv/agents/ws/\n"
			       "  syscalls:\n"
			       "    - {name: s, classes: [bpf, userns], action: deny}\n"
			       "    - {name: t, names: [ptrace, mount], action: audit}\n"
			       "  network:\n"
			       "    - {name: n, cidr: 10.0.0.0/8, ports: [22, \"80-90\"], "
			       "protocol: "
			       "udp, action: allow}\n"
			       "  files:\n"
			       "    - {name: f, path: ~/x, access: [read, write], action: deny,\n"
			       "       binaries: {except: [/usr/bin/ssh]}, except: [~/x/y]}\n"
			       "  exec:\n"
			       "    - {name: e, path: /bin/*, parent: {only: [/bin/sh]}, action: "
			       "audit}\n"
			       "---\n"
			       "# an empty document is skipped\n";
	struct policy_errors errs = {0};
	struct policy_collection c;
	const struct policy_rule *r;
	const struct policy *p;

	policy_collection__init(&c);
	assert_int_equal(policy_collection__parse(&c, "g.yaml", text, strlen(text), &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(c.n, 1);
	p = &c.pols[0];
	assert_string_equal(p->name, "p");
	assert_true(p->audit_mode);
	assert_int_equal(p->flags, AW_DEF_FALLBACK_KILL | AW_DEF_REQUIRE_LSM |
					   AW_DEF_DENY_AGENT_WRITTEN_EXEC);
	assert_int_equal(p->defaults[0], AW_ACT_DENY);
	assert_int_equal(p->defaults[1], 0);
	assert_int_equal(p->defaults[2], AW_ACT_AUDIT);
	assert_int_equal(p->selector.n_agents, 1);
	assert_int_equal(p->selector.container_ids.n, 1);
	assert_string_equal(p->selector.workspace, "/srv/agents/ws"); /* trailing '/' dropped */
	/* ids follow the list order files, exec, network, syscalls, not the YAML order */
	assert_int_equal(c.n_rules, 5);
	r = &p->rules[0];
	assert_string_equal(r->name, "f");
	assert_int_equal(r->id, 1);
	assert_int_equal(r->list, POLICY_FILES);
	assert_int_equal(r->access, AW_ACC_READ | AW_ACC_WRITE | AW_ACC_TRUNC);
	assert_int_equal(r->bins.flags, AW_REF_BIN_EXCEPT);
	assert_int_equal(r->except.n, 1);
	assert_int_equal(r->pos.line, 21);
	assert_int_equal(r->pos.col, 14);
	r = &p->rules[1];
	assert_string_equal(r->name, "e");
	assert_int_equal(r->list, POLICY_EXEC);
	assert_int_equal(r->access, AW_ACC_EXEC);
	assert_int_equal(r->bins.flags, AW_REF_BIN_ONLY);
	r = &p->rules[2];
	assert_string_equal(r->name, "n");
	assert_int_equal(r->n_cidrs, 1);
	assert_int_equal(r->cidrs[0].bits, 96 + 8);
	assert_true(r->cidrs[0].v4);
	assert_int_equal(r->n_ports, 2);
	assert_int_equal(r->ports[1].lo, 80);
	assert_int_equal(r->ports[1].hi, 90);
	assert_int_equal(r->protos, AW_PROTO_UDP);
	r = &p->rules[3];
	assert_string_equal(r->name, "s");
	assert_int_equal(r->classes, AW_SC_BPF | AW_SC_USERNS);
	r = &p->rules[4];
	assert_string_equal(r->name, "t");
	assert_int_equal(r->n_names, 2);
	assert_true(r->names.bits[syscalls__number("ptrace") / 64] &
		    (1ULL << (syscalls__number("ptrace") % 64)));
	assert_ptr_equal(policy_collection__rule(&c, 3, &p), &c.pols[0].rules[2]);
	policy_collection__free(&c);
	policy_errors__free(&errs);
}

static void test_load_dir(void **state)
{
	char dir[] = "/tmp/aw-rules-XXXXXX", path[256];
	const char *names[] = {"b.yaml", "a.yml", ".hidden.yaml", "c.txt"};
	struct policy_errors errs = {0};
	struct policy_collection c;
	char *paths[] = {dir};

	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; i < 4; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		f = fopen(path, "w");
		assert_non_null(f);
		fprintf(f,
			"apiVersion: agentwatch.dev/v1\nkind: AgentPolicy\nmetadata: {name: "
			"n%zu}\n",
			i);
		fclose(f);
	}
	policy_collection__init(&c);
	assert_int_equal(policy_collection__load(&c, paths, 1, &errs), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.pols[0].name, "n1"); /* a.yml sorts first */
	assert_string_equal(c.pols[1].name, "n0");
	policy_collection__free(&c);
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	/* a missing path is an error too */
	paths[0] = "/nonexistent/aw-rules";
	policy_collection__init(&c);
	assert_int_equal(policy_collection__load(&c, paths, 1, &errs), -ENOENT);
	assert_string_equal(errs.v[errs.n - 1].msg, "/nonexistent/aw-rules: No such file or "
						    "directory");
	policy_collection__free(&c);
	policy_errors__free(&errs);
}

/* Compile-time errors: what only the agent's context, or the kernel's limits, make wrong. */
static void check_compile(const char *text, const struct policy_agent *a, const char *const *want,
			  int n)
{
	struct policy_errors errs = {0};
	struct policy_collection c;
	struct policy_image *img = policy_image__new();
	bool same;
	int ret;

	policy_collection__init(&c);
	assert_int_equal(policy_collection__parse(&c, "t.yaml", text, strlen(text), &errs), 0);
	ret = policy_image__compile(img, &c, 1, a, &errs);
	same = ret == -EINVAL && errs.n == n;
	for (int i = 0; same && i < n; i++)
		same = !strcmp(errs.v[i].msg, want[i]);
	if (!same)
		for (int i = 0; i < errs.n; i++)
			print_error("  got: %s\n", errs.v[i].msg);
	policy_image__free(img);
	policy_collection__free(&c);
	policy_errors__free(&errs);
	assert_true(same);
}

#define COMPILE_ERRORS(text, agent, ...)                                           \
	do {                                                                       \
		const char *const w_[] = {__VA_ARGS__};                            \
		check_compile(text, agent, w_, (int)(sizeof(w_) / sizeof(w_[0]))); \
	} while (0)

static void test_compile_errors(void **state)
{
	const struct policy_agent no_ws = {.name = "a", .home = "/home/a"};
	const struct policy_agent ok = {.name = "a", .home = "/home/a", .workspace = "/w"};

	COMPILE_ERRORS(HDR "  files:\n    - {name: a, path: \"${WORKSPACE}/x\", action: deny}\n",
		       &no_ws, "t.yaml:7:23: ${WORKSPACE} is not defined for this agent");
	COMPILE_ERRORS(HDR "  files:\n    - name: g\n      action: deny\n      paths: [/d/a?, "
			   "/d/b?, /d/c?, /d/d?, /d/e?]\n",
		       &ok,
		       "t.yaml:9:43: rule 'g': '/d/e?' would be a 5th name glob in directory '/d'; "
		       "the kernel evaluates at most 4 per directory");
	/* five rules on one except key */
	COMPILE_ERRORS(HDR "  files:\n"
			   "    - {name: a, path: /x, access: [read], action: deny}\n"
			   "    - {name: b, path: /x, access: [write], action: deny}\n"
			   "    - {name: c, path: /x, access: [create], action: deny}\n"
			   "    - {name: d, path: /x, access: [delete], action: deny}\n"
			   "    - {name: e, path: /y, except: [/x], action: deny}\n",
		       &ok,
		       "t.yaml:11:36: rule 'e': key EXACT /x would hold 5 rule references; the "
		       "kernel reads at most 4 per key (held by: a, b, c, d)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_missing_and_values),
		cmocka_unit_test(test_bad_cidr),
		cmocka_unit_test(test_bad_glob),
		cmocka_unit_test(test_unknown_syscall_class),
		cmocka_unit_test(test_duplicate_names),
		cmocka_unit_test(test_duplicate_policy_across_files),
		cmocka_unit_test(test_unsupported_shape),
		cmocka_unit_test(test_relative_path),
		cmocka_unit_test(test_selector_errors),
		cmocka_unit_test(test_all_errors_listed),
		cmocka_unit_test(test_good_policy),
		cmocka_unit_test(test_load_dir),
		cmocka_unit_test(test_compile_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
