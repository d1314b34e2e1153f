// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch rules check | dump | explain: the policy compiler and the reference matcher from the
 * command line, without a kernel (rules/README.md is the language reference).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "json_writer.h"
#include "policy.h"
#include "policy_image.h"
#include "rules_fs.h"

/* What `check` compiles against when not told: any absolute paths do for the shapes. */
#define CHECK_HOME	"/home/agent"
#define CHECK_WORKSPACE "/workspace"

struct rules_opts {
	bool json;
	const char *agent;
	const char *home;
	const char *workspace;
	const char *cgroup;
	const char *exe;
	const char *open;
	const char *access;
	const char *exec;
	const char *connect;
	const char *syscall;
	__u32 exec_flags;
	char cwd[4096];
};

enum {
	OPT_JSON = 256,
	OPT_AGENT,
	OPT_HOME,
	OPT_WORKSPACE,
	OPT_CGROUP,
	OPT_EXE,
	OPT_OPEN,
	OPT_ACCESS,
	OPT_EXEC,
	OPT_CONNECT,
	OPT_SYSCALL,
	OPT_AGENT_WRITTEN,
	OPT_MEMFD,
	OPT_HELP,
};

static const struct option all_opts[] = {
	{"json", no_argument, NULL, OPT_JSON},
	{"agent", required_argument, NULL, OPT_AGENT},
	{"home", required_argument, NULL, OPT_HOME},
	{"workspace", required_argument, NULL, OPT_WORKSPACE},
	{"cgroup", required_argument, NULL, OPT_CGROUP},
	{"exe", required_argument, NULL, OPT_EXE},
	{"open", required_argument, NULL, OPT_OPEN},
	{"access", required_argument, NULL, OPT_ACCESS},
	{"exec", required_argument, NULL, OPT_EXEC},
	{"connect", required_argument, NULL, OPT_CONNECT},
	{"syscall", required_argument, NULL, OPT_SYSCALL},
	{"agent-written", no_argument, NULL, OPT_AGENT_WRITTEN},
	{"memfd", no_argument, NULL, OPT_MEMFD},
	{"help", no_argument, NULL, OPT_HELP},
	{},
};

static void usage_rules(FILE *out)
{
	fprintf(out,
		"Usage: agentwatch rules check [--json] [--home DIR] [--workspace DIR] "
		"FILE|DIR...\n"
		"       agentwatch rules dump [--json] [--agent NAME] [--cgroup PATH] [--home "
		"DIR]\n"
		"                             [--workspace DIR] FILE|DIR...\n"
		"       agentwatch rules explain --agent NAME [--cgroup PATH] [--home DIR]\n"
		"                             [--workspace DIR] [--exe PATH] [--json]\n"
		"                             (--open PATH [--access LIST] | --exec PATH\n"
		"                              [--agent-written] [--memfd] | --connect "
		"ADDR:PORT[/tcp|udp]\n"
		"                              | --syscall CLASS) FILE|DIR...\n"
		"\n"
		"Compile AgentPolicy files (rules/README.md) without a kernel. A DIR means its "
		"*.yaml\n"
		"and *.yml files, sorted by name.\n"
		"\n"
		"  check    validate; every problem is listed as FILE:LINE:COL: message. Each "
		"policy\n"
		"           is also compiled alone (with --home/--workspace, default %s and %s)\n"
		"           to find keys that would overflow. Exit 0 when all is well, 1 "
		"otherwise.\n"
		"  dump     the compiled image, one line per map record with its key decoded and "
		"its\n"
		"           rules named. With --agent, the policies that select the agent merged "
		"in\n"
		"           set 1 (slot 1); without, each policy alone in its own set.\n"
		"  explain  the decision the kernel would take for the agent, the rule that takes "
		"it\n"
		"           and the key that matched. --exe is the running executable (for --exec, "
		"the\n"
		"           parent's). --access: "
		"read,write,create,delete,rename,exec,truncate,link\n"
		"           (default read). --open looks at this machine's file system as the "
		"kernel\n"
		"           would: symlinks are followed, and a path through a bind mount of a "
		"directory\n"
		"           a rule names is decided on that directory's own name too.\n"
		"\n"
		"  --agent NAME      agent name, for `selector.agents`\n"
		"  --cgroup PATH     the agent's cgroup path, for `selector.cgroups` and "
		"`kubernetes`\n"
		"  --home DIR        ${HOME} (default: $HOME)\n"
		"  --workspace DIR   ${WORKSPACE} (default: the current directory)\n"
		"  --json            JSON output\n"
		"\n"
		"EXAMPLES\n"
		"  agentwatch rules check rules/\n"
		"  agentwatch rules dump --agent claude --home /home/ada --workspace /src/app "
		"rules/\n"
		"  agentwatch rules explain --agent claude --exe /usr/bin/cat \\\n"
		"      --open ~/.ssh/id_rsa rules/default.yaml\n"
		"  agentwatch rules explain --agent claude --connect 169.254.169.254:80 rules/\n"
		"  agentwatch rules explain --agent claude --json --exec /tmp/x --agent-written "
		"rules/\n",
		CHECK_HOME, CHECK_WORKSPACE);
}

static int parse_opts(int argc, char **argv, struct rules_opts *o, const char *allowed)
{
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+h", all_opts, NULL)) != -1) {
		const char *name = NULL;

		for (const struct option *op = all_opts; op->name; op++)
			if (op->val == c)
				name = op->name;
		if (c == 'h' || c == OPT_HELP) {
			usage_rules(stdout);
			return 1;
		}
		if (c == '?' || !name || !strstr(allowed, name)) {
			if (c != '?')
				fprintf(stderr, "agentwatch rules %s: option --%s does not apply\n",
					argv[0], name ? name : "?");
			fprintf(stderr, "see 'agentwatch rules --help'\n");
			return -AW_EXIT_USAGE;
		}
		switch (c) {
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_AGENT:
			o->agent = optarg;
			break;
		case OPT_HOME:
			o->home = optarg;
			break;
		case OPT_WORKSPACE:
			o->workspace = optarg;
			break;
		case OPT_CGROUP:
			o->cgroup = optarg;
			break;
		case OPT_EXE:
			o->exe = optarg;
			break;
		case OPT_OPEN:
			o->open = optarg;
			break;
		case OPT_ACCESS:
			o->access = optarg;
			break;
		case OPT_EXEC:
			o->exec = optarg;
			break;
		case OPT_CONNECT:
			o->connect = optarg;
			break;
		case OPT_SYSCALL:
			o->syscall = optarg;
			break;
		case OPT_AGENT_WRITTEN:
			o->exec_flags |= POLICY_EXEC_AGENT_WRITTEN;
			break;
		case OPT_MEMFD:
			o->exec_flags |= POLICY_EXEC_MEMFD;
			break;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "agentwatch rules %s: no FILE or DIR given\n", argv[0]);
		return -AW_EXIT_USAGE;
	}
	return 0;
}

static void print_errors(const struct policy_errors *errs, bool json)
{
	if (!json) {
		policy_errors__print(errs, stderr);
		return;
	}
	char *buf = malloc(1 << 16);
	struct json_writer w;

	if (!buf)
		return;
	printf("{\"ok\":%s,\"errors\":[", errs->n ? "false" : "true");
	for (int i = 0; i < errs->n; i++) {
		const struct policy_error *e = &errs->v[i];
		const char *msg = e->msg;

		/* the message without its FILE:LINE:COL: prefix */
		if (e->file && !strncmp(msg, e->file, strlen(e->file)))
			for (int k = 0; k < 3 && msg; k++)
				msg = strchr(msg + (k ? 1 : strlen(e->file)), ':');
		msg = msg && e->file ? msg + 2 : e->msg;
		json_writer__init(&w, buf, 1 << 16);
		json_writer__object_begin(&w);
		json_writer__kv_string(&w, "file", e->file);
		json_writer__kv_uint(&w, "line", e->line);
		json_writer__kv_uint(&w, "col", e->col);
		json_writer__kv_string(&w, "message", msg);
		json_writer__object_end(&w);
		if (json_writer__finish(&w) >= 0)
			printf("%s%s", i ? "," : "", buf);
	}
	printf("]}\n");
	free(buf);
}

static void context(struct rules_opts *o, struct policy_agent *a, bool check)
{
	if (!o->home)
		o->home = check ? CHECK_HOME : getenv("HOME");
	bool ws_default = !o->workspace;

	if (!o->workspace)
		o->workspace = check ? CHECK_WORKSPACE : getcwd(o->cwd, sizeof(o->cwd));
	*a = (struct policy_agent){
		.name = o->agent,
		.cgroup = o->cgroup,
		.home = o->home,
		.workspace = o->workspace,
		.workspace_is_default = ws_default,
	};
}

/* Each policy alone in set i + 1. */
static int compile_each(struct policy_image *img, const struct policy_collection *c,
			const struct policy_agent *a, struct policy_errors *errs)
{
	int ret = 0;

	for (int i = 0; i < c->n; i++) {
		const struct policy *p = &c->pols[i];
		int r = policy_image__compile_policies(img, c, i + 1, &p, 1, a, errs);

		if (r == -ENOMEM)
			return r;
		if (r && !ret)
			ret = r;
	}
	return ret;
}

static int load(struct policy_collection *c, int argc, char **argv, struct policy_errors *errs)
{
	policy_collection__init(c);
	return policy_collection__load(c, argv + optind, argc - optind, errs);
}

static int rules_check(int argc, char **argv)
{
	struct rules_opts o = {0};
	struct policy_errors errs = {0};
	struct policy_collection c;
	struct policy_image *img = NULL;
	struct policy_agent a;
	int ret;

	ret = parse_opts(argc, argv, &o, "json home workspace");
	if (ret)
		return ret > 0 ? AW_EXIT_OK : -ret;
	context(&o, &a, true);
	ret = load(&c, argc, argv, &errs);
	if (!ret) {
		img = policy_image__new();
		ret = img ? compile_each(img, &c, &a, &errs) : -ENOMEM;
	}
	if (ret == -ENOMEM)
		fprintf(stderr, "agentwatch rules check: out of memory\n");
	print_errors(&errs, o.json);
	if (!ret && !o.json)
		printf("%d %s, %u rules: ok\n", c.n, c.n == 1 ? "policy" : "policies", c.n_rules);
	policy_image__free(img);
	policy_collection__free(&c);
	policy_errors__free(&errs);
	return ret ? AW_EXIT_FAIL : AW_EXIT_OK;
}

static int rules_dump(int argc, char **argv)
{
	struct rules_opts o = {0};
	struct policy_errors errs = {0};
	struct policy_collection c;
	struct policy_image *img = NULL;
	struct policy_agent a;
	int ret;

	ret = parse_opts(argc, argv, &o, "json agent home workspace cgroup");
	if (ret)
		return ret > 0 ? AW_EXIT_OK : -ret;
	context(&o, &a, false);
	ret = load(&c, argc, argv, &errs);
	if (!ret) {
		img = policy_image__new();
		if (!img)
			ret = -ENOMEM;
		else if (o.agent) {
			a.slot = 1;
			ret = policy_image__compile(img, &c, 1, &a, &errs);
			if (ret == -ENOENT)
				fprintf(stderr,
					"agentwatch rules dump: no policy selects agent '%s'\n",
					o.agent);
		} else {
			ret = compile_each(img, &c, &a, &errs);
		}
	}
	policy_errors__print(&errs, stderr);
	if (!ret)
		ret = policy_image__dump(img, stdout, o.json);
	policy_image__free(img);
	policy_collection__free(&c);
	policy_errors__free(&errs);
	return ret ? AW_EXIT_FAIL : AW_EXIT_OK;
}

static int parse_access(const char *s, __u32 *out)
{
	static const struct {
		const char *name;
		__u32 bits;
	} names[] = {
		{"read", AW_ACC_READ},	    {"write", AW_ACC_WRITE},   {"create", AW_ACC_CREATE},
		{"delete", AW_ACC_DELETE},  {"rename", AW_ACC_RENAME}, {"exec", AW_ACC_EXEC},
		{"truncate", AW_ACC_TRUNC}, {"link", AW_ACC_LINK},
	};
	char *copy = strdup(s), *save = NULL, *tok;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	*out = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t k;

		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (!strcmp(names[k].name, tok))
				break;
		if (k == sizeof(names) / sizeof(names[0])) {
			fprintf(stderr, "agentwatch rules explain: unknown access '%s'\n", tok);
			ret = -EINVAL;
			break;
		}
		*out |= names[k].bits;
	}
	free(copy);
	return !ret && !*out ? -EINVAL : ret;
}

/* ADDR:PORT[/tcp|udp], IPv6 as [ADDR]:PORT */
static int parse_connect(const char *s, int *family, __u8 addr[16], __u16 *port, int *proto)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *p, *colon;
	char *end;
	long v;
	size_t n;

	*proto = IPPROTO_TCP;
	if (s[0] == '[') {
		p = strchr(s, ']');
		if (!p || p[1] != ':')
			return -EINVAL;
		n = p - s - 1;
		colon = p + 1;
		s++;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		n = colon - s;
	}
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	v = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || v < 0 || v > 65535)
		return -EINVAL;
	if (*end == '/') {
		if (!strcmp(end + 1, "udp"))
			*proto = IPPROTO_UDP;
		else if (strcmp(end + 1, "tcp"))
			return -EINVAL;
	} else if (*end) {
		return -EINVAL;
	}
	*port = (__u16)v;
	if (inet_pton(AF_INET, host, addr) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, host, addr) == 1)
		*family = AF_INET6;
	else
		return -EINVAL;
	return 0;
}

static int rules_explain(int argc, char **argv)
{
	struct rules_fs_path *fp = NULL;
	struct rules_opts o = {0};
	struct policy_errors errs = {0};
	struct policy_collection c;
	struct policy_image *img = NULL;
	struct policy_decision *d = NULL;
	struct policy_agent a;
	int ret, queries, family = 0, proto = 0, sc = -1;
	__u32 access = AW_ACC_READ;
	__u8 addr[16];
	__u16 port = 0;

	ret = parse_opts(argc, argv, &o,
			 "json agent home workspace cgroup exe open access exec connect syscall "
			 "agent-written memfd");
	if (ret)
		return ret > 0 ? AW_EXIT_OK : -ret;
	queries = !!o.open + !!o.exec + !!o.connect + !!o.syscall;
	if (!o.agent || queries != 1) {
		fprintf(stderr, "agentwatch rules explain: give --agent and one of --open, --exec, "
				"--connect, --syscall\n");
		return AW_EXIT_USAGE;
	}
	if ((o.access && parse_access(o.access, &access)) ||
	    (o.connect && parse_connect(o.connect, &family, addr, &port, &proto))) {
		fprintf(stderr, "agentwatch rules explain: bad %s '%s'\n",
			o.connect ? "--connect (ADDR:PORT[/tcp|udp], [V6ADDR]:PORT)" : "--access",
			o.connect ? o.connect : o.access);
		return AW_EXIT_USAGE;
	}
	if (o.syscall) {
		for (sc = 0; policy_sc__name(sc) && strcmp(policy_sc__name(sc), o.syscall); sc++)
			;
		if (!policy_sc__name(sc)) {
			fprintf(stderr,
				"agentwatch rules explain: unknown syscall class '%s' (bpf, "
				"ptrace, "
				"mount, module, kexec, perf_event_open, userns)\n",
				o.syscall);
			return AW_EXIT_USAGE;
		}
	}
	context(&o, &a, false);
	a.slot = 1;
	ret = load(&c, argc, argv, &errs);
	if (!ret) {
		img = policy_image__new();
		d = malloc(sizeof(*d));
		ret = img && d ? policy_image__compile(img, &c, 1, &a, &errs) : -ENOMEM;
		if (ret == -ENOENT)
			ret = 0; /* no policy: the decision says so */
	}
	policy_errors__print(&errs, stderr);
	if (ret)
		goto out;
	if (o.open) {
		fp = malloc(sizeof(*fp));
		ret = !fp		 ? -ENOMEM
		      : o.open[0] != '/' ? -EINVAL
					 : rules_fs__resolve(img, 1, o.open, fp);
		if (!ret)
			ret = policy_image__decide_file_alias(img, 1, fp->walked, fp->rest_len,
							      fp->via[0] ? fp->anchor : NULL,
							      access, o.exe, d);
		if (!ret) {
			d->walked = fp->walked;
			d->resolved = fp->resolved;
			d->via = fp->via[0] ? fp->via : NULL;
			d->anchor = fp->via[0] ? fp->anchor : NULL;
		}
	} else if (o.exec)
		ret = policy_image__decide_exec(img, 1, o.exec, o.exe, o.exec_flags, d);
	else if (o.connect)
		ret = policy_image__decide_connect(img, 1, family, addr, port, proto, d);
	else
		ret = policy_image__decide_syscall(img, 1, 1U << sc, d);
	if (ret) {
		fprintf(stderr, "agentwatch rules explain: %s: %s\n",
			o.open	    ? o.open
			: o.exec    ? o.exec
			: o.connect ? o.connect
				    : o.syscall,
			ret == -EINVAL ? "not an absolute path" : strerror(-ret));
		goto out;
	}
	if (!o.json) {
		if (o.open)
			printf("open %s (%s) by %s, agent '%s'\n", o.open,
			       o.access ? o.access : "read", o.exe ? o.exe : "any executable",
			       o.agent);
		else if (o.exec)
			printf("exec %s by %s, agent '%s'\n", o.exec,
			       o.exe ? o.exe : "any executable", o.agent);
		else if (o.connect)
			printf("connect %s, agent '%s'\n", o.connect, o.agent);
		else
			printf("syscall class %s, agent '%s'\n", o.syscall, o.agent);
	}
	policy_decision__print(img, d, stdout, o.json);
out:
	free(fp);
	free(d);
	policy_image__free(img);
	policy_collection__free(&c);
	policy_errors__free(&errs);
	return ret ? AW_EXIT_FAIL : AW_EXIT_OK;
}

int do_rules(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} subs[] = {
		{"check", rules_check},
		{"dump", rules_dump},
		{"explain", rules_explain},
	};

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage_rules(argc < 2 ? stderr : stdout);
		return argc < 2 ? AW_EXIT_USAGE : AW_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "agentwatch rules: unknown subcommand '%s' (check, dump, explain)\n",
		argv[1]);
	return AW_EXIT_USAGE;
}
