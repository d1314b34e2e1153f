// SPDX-License-Identifier: Apache-2.0
/*
 * Random policy corpora (policy_corpus.h): rules from a seeded generator, compiled and trimmed
 * until the kernel could hold them, then queries aimed at them, decided by the reference
 * matcher.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "json_writer.h"
#include "policy.h"
#include "policy_corpus.h"
#include "policy_image.h"
#include "policy_pattern.h"

struct rng {
	unsigned long long s;
};

static unsigned long long rnd(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dULL;
}

static unsigned int pick(struct rng *r, unsigned int n)
{
	return n ? (unsigned int)(rnd(r) % n) : 0;
}

static bool chance(struct rng *r, unsigned int percent)
{
	return pick(r, 100) < percent;
}

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const roots[] = {
	"${HOME}",  "${HOME}/.config", "${WORKSPACE}", "${WORKSPACE}/src", "/etc", "/srv/data",
	"/opt/app", "/var/lib/app",    "/tmp",	       "/opt/share",
};
static const char *const words[] = {
	"keys", "cache", "build", "secrets", "logs", "db", "conf", "ssh", "aws", "run", "lib", "x",
};
static const char *const names[] = {
	"id_rsa", "id_ed25519", "config",   "token.json", ".env",     ".env.local",  "server.pem",
	"ca.crt", "notes.txt",	"Makefile", "main.c",	  "creds.db", "known_hosts", "a.out",
};
/* literals of the four prefix lengths (2, 3, 4, 5) and suffix lengths (3, 4, 5) in use */
static const char *const prefixes[] = {"id", "id_", ".env", "token", "ma", "cre", "serv"};
static const char *const suffixes[] = {".db", ".pem", ".json", ".crt", ".txt", "ts", ".c"};
static const char *const globs[] = {"id_?sa",	   "[ab]*x", "*.p1?",
				    "key-[!0-9]*", "?onfig", "[.]env*"};
static const char *const exes[] = {
	"/usr/bin/cat",	 "/usr/bin/ssh",  "/usr/bin/git",	 "/usr/bin/python3",
	"/usr/bin/bash", "/usr/bin/curl", "/usr/local/bin/node",
};
static const char *const bins[] = {
	"/usr/bin/cat",	 "/usr/bin/curl", "/usr/bin/git",  "/usr/bin/python3",
	"/usr/bin/bash", "/usr/bin/ssh",  "/usr/bin/make", "/usr/local/bin/node",
};
static const char *const acc_names[] = {"read",	  "write", "create",   "delete",
					"rename", "exec",  "truncate", "link"};
static const char *const acc_testrun[] = {"read",   "write", "create", "delete",
					  "rename", "exec",  "trunc",  "link"};
static const __u32 acc_bits[] = {AW_ACC_READ,	AW_ACC_WRITE, AW_ACC_CREATE, AW_ACC_DELETE,
				 AW_ACC_RENAME, AW_ACC_EXEC,  AW_ACC_TRUNC,  AW_ACC_LINK};
static const char *const classes[] = {"bpf",   "ptrace",	  "mount", "module",
				      "kexec", "perf_event_open", "userns"};

/* One generated rule: its YAML text, and what queries aim at. */
struct gen_rule {
	char *yaml;
	int list;
	bool audit_policy;
	char dir[160]; /* with variables expanded, for queries */
	char name[64]; /* a name the pattern matches, "" when any */
	__u8 kind;
	__u8 cidr[16], bits; /* network */
	bool v4;
	int port;
	int line; /* first line in the written YAML */
	bool dropped;
};

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static void expand(const char *in, char *out, size_t len)
{
	char *exp = NULL, err[128];

	if (!policy_pattern__expand(in, POLICY_CORPUS_HOME, POLICY_CORPUS_WORKSPACE, &exp, err,
				    sizeof(err)))
		snprintf(out, len, "%s", exp);
	else
		snprintf(out, len, "%s", in);
	free(exp);
}

static const char *action_of(struct rng *r)
{
	unsigned int p = pick(r, 10);

	return p < 5 ? "deny" : p < 8 ? "allow" : "audit";
}

static void access_yaml(struct rng *r, char *buf, size_t len)
{
	size_t off = 0;
	int n = 1 + (int)pick(r, 3);

	off += snprintf(buf + off, len - off, "[");
	for (int i = 0; i < n; i++)
		off += snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
				acc_names[pick(r, ARRAY_LEN(acc_names))]);
	snprintf(buf + off, len - off, "]");
}

static void binaries_yaml(struct rng *r, const char *key, char *buf, size_t len)
{
	int n = 1 + (int)pick(r, 2);
	size_t off;

	off = snprintf(buf, len, ", %s: {%s: [", key, chance(r, 50) ? "only" : "except");
	for (int i = 0; i < n; i++)
		off += snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
				bins[pick(r, ARRAY_LEN(bins))]);
	snprintf(buf + off, len - off, "]}");
}

/* A pattern under `dir` of a random kind; fills rule->kind/name for queries. */
static void pattern(struct rng *r, const char *dir, struct gen_rule *g, char *buf, size_t len)
{
	const char *p;

	g->name[0] = '\0';
	switch (pick(r, 10)) {
	case 0:
		g->kind = AW_FK_EXACT;
		p = names[pick(r, ARRAY_LEN(names))];
		snprintf(g->name, sizeof(g->name), "%s", p);
		snprintf(buf, len, "%s/%s", dir, p);
		break;
	case 1:
		g->kind = AW_FK_SUBTREE;
		snprintf(buf, len, "%s/**%s", dir, chance(r, 30) ? "/*" : "");
		break;
	case 2:
		g->kind = AW_FK_CHILD_ANY;
		snprintf(buf, len, "%s/*", dir);
		break;
	case 3:
		g->kind = AW_FK_CHILD_PREFIX;
		p = prefixes[pick(r, ARRAY_LEN(prefixes))];
		snprintf(g->name, sizeof(g->name), "%s%s", p, chance(r, 50) ? "x" : "");
		snprintf(buf, len, "%s/%s*", dir, p);
		break;
	case 4:
		g->kind = AW_FK_CHILD_SUFFIX;
		p = suffixes[pick(r, ARRAY_LEN(suffixes))];
		snprintf(g->name, sizeof(g->name), "%s%s", chance(r, 50) ? "f" : "", p);
		snprintf(buf, len, "%s/*%s", dir, p);
		break;
	case 5:
		g->kind = AW_FK_CHILD_GLOB;
		p = globs[pick(r, ARRAY_LEN(globs))];
		snprintf(buf, len, "%s/%s", dir, p);
		break;
	case 6:
		g->kind = AW_FK_UNDER_NAME;
		p = names[pick(r, ARRAY_LEN(names))];
		snprintf(g->name, sizeof(g->name), "%s", p);
		snprintf(buf, len, "%s/**/%s", dir, p);
		break;
	case 7:
		g->kind = AW_FK_UNDER_PREFIX;
		p = prefixes[pick(r, ARRAY_LEN(prefixes))];
		snprintf(g->name, sizeof(g->name), "%s1", p);
		snprintf(buf, len, "%s/**/%s*", dir, p);
		break;
	case 8:
		g->kind = AW_FK_UNDER_SUFFIX;
		p = suffixes[pick(r, ARRAY_LEN(suffixes))];
		snprintf(g->name, sizeof(g->name), "z%s", p);
		snprintf(buf, len, "%s/**/*%s", dir, p);
		break;
	default:
		g->kind = AW_FK_SUBTREE;
		snprintf(buf, len, "%s/", dir);
		break;
	}
}

static void random_dir(struct rng *r, char *buf, size_t len)
{
	size_t off = snprintf(buf, len, "%s", roots[pick(r, ARRAY_LEN(roots))]);
	int depth = (int)pick(r, 3);

	for (int i = 0; i < depth; i++)
		off += snprintf(buf + off, len - off, "/%s", words[pick(r, ARRAY_LEN(words))]);
}

/* A rule on the chain /srv/deep/l0/.../l4 that every path below the chain passes through. */
static int gen_deep_rule(struct rng *r, int id, struct gen_rule *g)
{
	static const char *const kinds[] = {"/**", "/**/*.txt", "/**/x*", "/**/x.txt", "/"};
	int depth = (int)pick(r, 6);
	char dir[128];
	size_t off = snprintf(dir, sizeof(dir), "/srv/deep");

	for (int i = 0; i < depth; i++)
		off += snprintf(dir + off, sizeof(dir) - off, "/l%d", i);
	/* queries aim at the bottom of the chain, through every level */
	snprintf(g->dir, sizeof(g->dir), "/srv/deep/l0/l1/l2/l3/l4");
	snprintf(g->name, sizeof(g->name), "x.txt");
	g->kind = AW_FK_SUBTREE;
	g->list = POLICY_FILES;
	g->yaml = xasprintf("    - {name: f%d, path: \"%s%s\", action: %s}\n", id, dir,
			    kinds[pick(r, ARRAY_LEN(kinds))],
			    /* mostly allow: past the kernel's reference table, fail closed */
			    chance(r, 10)   ? "deny"
			    : chance(r, 30) ? "audit"
					    : "allow");
	return g->yaml ? 0 : -ENOMEM;
}

static int gen_file_rule(struct rng *r, int id, bool exec, struct gen_rule *g)
{
	char dir[128], pat[256], ex[300] = "", acc[96] = "", bin[160] = "";

	if (!exec && chance(r, 20))
		return gen_deep_rule(r, id, g);
	if (exec) {
		static const char *const exec_dirs[] = {"/usr/bin", "/usr/local/bin", "/tmp",
							"${WORKSPACE}/bin", "${HOME}/.local/bin"};

		snprintf(dir, sizeof(dir), "%s", exec_dirs[pick(r, ARRAY_LEN(exec_dirs))]);
	} else {
		random_dir(r, dir, sizeof(dir));
	}
	pattern(r, dir, g, pat, sizeof(pat));
	expand(dir, g->dir, sizeof(g->dir));
	if (chance(r, 25)) {
		char expat[256];
		struct gen_rule tmp;

		pattern(r, dir, &tmp, expat, sizeof(expat));
		snprintf(ex, sizeof(ex), ", except: [\"%s\"]", expat);
	}
	if (!exec && chance(r, 70)) {
		char a[80];

		access_yaml(r, a, sizeof(a));
		snprintf(acc, sizeof(acc), ", access: %s", a);
	}
	if (chance(r, 20))
		binaries_yaml(r, exec ? "parent" : "binaries", bin, sizeof(bin));
	g->list = exec ? POLICY_EXEC : POLICY_FILES;
	g->yaml = xasprintf("    - {name: %c%d, path: \"%s\"%s%s%s, action: %s}\n",
			    exec ? 'e' : 'f', id, pat, ex, acc, bin, action_of(r));
	return g->yaml ? 0 : -ENOMEM;
}

static int gen_net_rule(struct rng *r, int id, struct gen_rule *g)
{
	char cidr[64], ports[64] = "", proto[32] = "", addr[INET6_ADDRSTRLEN];
	__u8 a[16] = {0};
	int bits;

	g->v4 = chance(r, 75);
	if (g->v4) {
		/* a few /8s so prefixes nest often */
		static const __u8 nets[] = {10, 172, 192, 100};

		a[10] = a[11] = 0xff;
		a[12] = nets[pick(r, ARRAY_LEN(nets))];
		a[13] = (__u8)pick(r, 4);
		a[14] = (__u8)pick(r, 4);
		a[15] = (__u8)pick(r, 256);
		bits = 8 + (int)pick(r, 25);
	} else {
		a[0] = 0xfd;
		a[1] = (__u8)pick(r, 3);
		a[2] = (__u8)pick(r, 3);
		a[15] = (__u8)pick(r, 256);
		bits = 8 + (int)pick(r, 121);
	}
	g->bits = (__u8)(g->v4 ? 96 + bits : bits);
	for (int b = g->bits; b < 128; b++)
		a[b / 8] &= (__u8) ~(0x80 >> (b % 8));
	memcpy(g->cidr, a, 16);
	if (g->v4)
		inet_ntop(AF_INET, a + 12, addr, sizeof(addr));
	else
		inet_ntop(AF_INET6, a, addr, sizeof(addr));
	snprintf(cidr, sizeof(cidr), "%s/%d", addr, bits);
	g->port = -1;
	if (chance(r, 50)) {
		g->port = 1 + (int)pick(r, 1024);
		if (chance(r, 30))
			snprintf(ports, sizeof(ports), ", ports: [\"%d-%d\"]", g->port,
				 g->port + (int)pick(r, 100));
		else
			snprintf(ports, sizeof(ports), ", ports: [%d]", g->port);
	}
	if (chance(r, 50))
		snprintf(proto, sizeof(proto), ", protocol: %s", chance(r, 50) ? "tcp" : "udp");
	g->list = POLICY_NETWORK;
	g->yaml = xasprintf("    - {name: n%d, cidr: \"%s\"%s%s, action: %s}\n", id, cidr, ports,
			    proto, action_of(r));
	return g->yaml ? 0 : -ENOMEM;
}

static int gen_sys_rule(struct rng *r, int id, struct gen_rule *g)
{
	g->list = POLICY_SYSCALLS;
	g->yaml = xasprintf("    - {name: s%d, class: %s, action: %s}\n", id,
			    classes[pick(r, ARRAY_LEN(classes))], chance(r, 60) ? "deny" : "audit");
	return g->yaml ? 0 : -ENOMEM;
}

static const char *posture(struct rng *r)
{
	unsigned int p = pick(r, 10);

	return p < 6 ? "allow" : p < 8 ? "audit" : "deny";
}

/* Render the kept rules of both policies; record each rule's first line. */
static char *render(struct gen_rule *rules, int n, const char *defaults[2][3], size_t *len)
{
	static const char *const lists[] = {"files", "exec", "network", "syscalls"};
	char *out = NULL;
	FILE *f = open_memstream(&out, len);
	int line = 1;

	if (!f)
		return NULL;
	fprintf(f, "# SPDX-License-Identifier: Apache-2.0\n");
	for (int p = 0; p < 2; p++) {
		fprintf(f,
			"%sapiVersion: agentwatch.dev/v1\nkind: AgentPolicy\nmetadata: {name: "
			"corpus-%s}\nspec:\n  mode: %s\n  defaults: {files: %s, exec: %s, network: "
			"%s}\n",
			p ? "---\n" : "", p ? "audit" : "enforce", p ? "audit" : "enforce",
			defaults[p][0], defaults[p][1], defaults[p][2]);
		line += p ? 7 : 6;
		for (int l = 0; l < POLICY_LISTS; l++) {
			fprintf(f, "  %s:\n", lists[l]);
			line++;
			for (int i = 0; i < n; i++) {
				if (rules[i].dropped || rules[i].list != l ||
				    rules[i].audit_policy != (p == 1))
					continue;
				rules[i].line = ++line;
				fputs(rules[i].yaml, f);
			}
		}
	}
	fclose(f);
	return out;
}

static int compile_text(const char *name, const char *text, size_t len, struct policy_collection *c,
			struct policy_image **img, struct policy_errors *errs)
{
	const struct policy_agent agent = {
		.name = POLICY_CORPUS_AGENT,
		.home = POLICY_CORPUS_HOME,
		.workspace = POLICY_CORPUS_WORKSPACE,
		.slot = 1,
	};
	int ret;

	policy_collection__init(c);
	*img = NULL;
	ret = policy_collection__parse(c, name, text, len, errs);
	if (ret)
		return ret;
	*img = policy_image__new();
	if (!*img)
		return -ENOMEM;
	return policy_image__compile(*img, c, 1, &agent, errs);
}

/* ---- queries ---- */

static void query_path(struct rng *r, const struct gen_rule *g, char *buf, size_t len)
{
	static const char *const any[] = {"a", "b", "zz", "id_rsa", ".env", "x.pem", "config"};
	const char *name = g->name[0] ? g->name : any[pick(r, ARRAY_LEN(any))];

	switch (pick(r, 8)) {
	case 0: /* the directory itself */
		snprintf(buf, len, "%s", *g->dir ? g->dir : "/");
		break;
	case 1: /* deeper */
		snprintf(buf, len, "%s/%s/%s", g->dir, words[pick(r, ARRAY_LEN(words))], name);
		break;
	case 2: /* a near miss: a sibling directory */
		snprintf(buf, len, "%sx/%s", g->dir, name);
		break;
	case 3: /* another name */
		snprintf(buf, len, "%s/%s", g->dir, any[pick(r, ARRAY_LEN(any))]);
		break;
	case 4: /* a glob's kind of name */
		snprintf(buf, len, "%s/%s", g->dir,
			 (const char *[]){"id_rsa", "id_dsa", "box", "ax", "c.p12", "key-a",
					  "config", ".envrc"}[pick(r, 8)]);
		break;
	default:
		snprintf(buf, len, "%s/%s", g->dir, name);
	}
}

static void query_addr(struct rng *r, const struct gen_rule *g, int *family, __u8 a[16])
{
	memcpy(a, g->cidr, 16);
	/* random host bits inside the prefix, sometimes just outside it */
	for (int b = g->bits; b < 128; b++)
		if (chance(r, 50))
			a[b / 8] |= (__u8)(0x80 >> (b % 8));
	if (g->bits > 0 && chance(r, 15))
		a[(g->bits - 1) / 8] ^= (__u8)(0x80 >> ((g->bits - 1) % 8));
	*family = AF_INET6;
	if (g->v4 && !memcmp(a, (const __u8[12]){0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 12)) {
		unsigned int spell = pick(r, 4);

		if (spell < 2) {
			*family = AF_INET;
			memmove(a, a + 12, 4);
		} else if (spell == 2) {
			static const __u8 wk[12] = {0, 0x64, 0xff, 0x9b};

			memcpy(a, wk, 12); /* NAT64 */
		}
	}
}

static void write_decision(struct json_writer *w, const struct policy_image *img,
			   const struct policy_decision *d)
{
	const struct policy_rule_info *ri = policy_image__rule(img, d->rule_id);

	json_writer__kv_string(w, "verdict", policy_verdict__name(d->verdict));
	json_writer__kv_string(w, "action", policy_action__name(d->action));
	json_writer__kv_uint(w, "rule_id", d->rule_id);
	json_writer__kv_string(w, "rule", ri ? ri->name : NULL);
	if (d->overflow)
		json_writer__kv_bool(w, "overflow", true); /* failed closed: > POLICY_MATCH_REFS */
}

static int write_queries(const struct policy_corpus_opts *o, struct rng *r,
			 const struct policy_image *img, const struct gen_rule *rules, int n,
			 FILE *jsonl, FILE *txt, struct policy_corpus_stats *st)
{
	int *kept = calloc(n ? n : 1, sizeof(*kept)), nk = 0, ret = 0;
	char buf[2048], path[512], addr[INET6_ADDRSTRLEN];
	struct policy_decision *d = malloc(sizeof(*d));
	struct json_writer w;

	if (!kept || !d) {
		free(kept);
		free(d);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++)
		if (!rules[i].dropped && rules[i].list != POLICY_SYSCALLS)
			kept[nk++] = i;
	for (int q = 0; q < o->queries && nk; q++) {
		const struct gen_rule *g = &rules[kept[pick(r, nk)]];
		const char *exe = chance(r, 15) ? NULL : exes[pick(r, ARRAY_LEN(exes))];

		json_writer__init(&w, buf, sizeof(buf));
		json_writer__object_begin(&w);
		if (g->list == POLICY_NETWORK) {
			int family, proto = chance(r, 50) ? IPPROTO_TCP : IPPROTO_UDP;
			__u16 port = g->port >= 0 && chance(r, 70) ? (__u16)(g->port + pick(r, 3))
								   : (__u16)pick(r, 65536);
			__u8 a[16];

			query_addr(r, g, &family, a);
			inet_ntop(family, a, addr, sizeof(addr));
			ret = policy_image__decide_connect(img, 1, family, a, port, proto, d);
			json_writer__kv_string(&w, "op", "connect");
			json_writer__kv_uint(&w, "family", family == AF_INET ? 4 : 6);
			json_writer__kv_string(&w, "addr", addr);
			json_writer__kv_uint(&w, "port", port);
			json_writer__kv_string(&w, "proto", proto == IPPROTO_TCP ? "tcp" : "udp");
			fprintf(txt, "connect %s %u %s\n", addr, port,
				proto == IPPROTO_TCP ? "tcp" : "udp");
		} else if (g->list == POLICY_EXEC || chance(r, 10)) {
			query_path(r, g, path, sizeof(path));
			ret = policy_image__decide_exec(img, 1, path, exe, 0, d);
			json_writer__kv_string(&w, "op", "exec");
			json_writer__kv_string(&w, "path", path);
			json_writer__kv_string(&w, "exe", exe);
			fprintf(txt, "exec %s %s\n", exe ? exe : "-", path);
		} else {
			__u32 access = 0;
			char acc[96] = "";
			size_t off = 0;
			int k = 1 + (int)pick(r, 2);

			query_path(r, g, path, sizeof(path));
			json_writer__kv_string(&w, "op", "file");
			json_writer__kv_string(&w, "path", path);
			json_writer__key(&w, "access");
			json_writer__array_begin(&w);
			for (int i = 0; i < k; i++) {
				unsigned int b = pick(r, ARRAY_LEN(acc_bits));

				if (access & acc_bits[b])
					continue;
				access |= acc_bits[b];
				json_writer__string(&w, acc_names[b]);
				off += snprintf(acc + off, sizeof(acc) - off, "%s%s",
						off ? "," : "", acc_testrun[b]);
			}
			json_writer__array_end(&w);
			json_writer__kv_string(&w, "exe", exe);
			ret = policy_image__decide_file(img, 1, path, access, exe, d);
			fprintf(txt, "file %s %s %s\n", acc, exe ? exe : "-", path);
		}
		if (ret)
			break;
		write_decision(&w, img, d);
		json_writer__object_end(&w);
		if (json_writer__finish(&w) < 0) {
			ret = -ENOSPC;
			break;
		}
		fprintf(jsonl, "%s\n", buf);
		st->queries++;
		st->by_verdict[d->verdict]++;
	}
	free(kept);
	free(d);
	return ret;
}

int policy_corpus__write(const struct policy_corpus_opts *o, FILE *yaml, FILE *jsonl, FILE *txt,
			 struct policy_corpus_stats *st)
{
	const char *name = o->yaml_name ? o->yaml_name : "corpus.yaml";
	struct rng r = {o->seed * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL};
	struct gen_rule *rules = calloc(o->rules ? o->rules : 1, sizeof(*rules));
	const char *defaults[2][3];
	struct policy_collection c = {0};
	struct policy_image *img = NULL;
	char *text = NULL;
	size_t len = 0;
	int ret = 0, round;

	memset(st, 0, sizeof(*st));
	if (!rules)
		return -ENOMEM;
	for (int i = 0; i < 32; i++)
		rnd(&r); /* spread a small seed */
	for (int p = 0; p < 2; p++)
		for (int l = 0; l < 3; l++)
			defaults[p][l] = posture(&r);
	for (int i = 0; i < o->rules && !ret; i++) {
		unsigned int kind = pick(&r, 100);

		rules[i].audit_policy = chance(&r, 20);
		if (kind < 55)
			ret = gen_file_rule(&r, i + 1, false, &rules[i]);
		else if (kind < 70)
			ret = gen_file_rule(&r, i + 1, true, &rules[i]);
		else if (kind < 95)
			ret = gen_net_rule(&r, i + 1, &rules[i]);
		else
			ret = gen_sys_rule(&r, i + 1, &rules[i]);
	}
	/* compile; drop the rules an error points into; again until clean */
	for (round = 0; !ret && round < 64; round++) {
		struct policy_errors errs = {0};
		int dropped = 0;

		free(text);
		text = render(rules, o->rules, defaults, &len);
		if (!text) {
			ret = -ENOMEM;
			break;
		}
		policy_image__free(img);
		policy_collection__free(&c);
		ret = compile_text(name, text, len, &c, &img, &errs);
		if (ret == -ENOMEM)
			break;
		for (int e = 0; e < errs.n; e++)
			for (int i = 0; i < o->rules; i++)
				if (!rules[i].dropped && rules[i].line == (int)errs.v[e].line) {
					rules[i].dropped = true;
					dropped++;
				}
		policy_errors__free(&errs);
		if (!ret)
			break;
		st->dropped += dropped;
		if (!dropped) {
			ret = -EINVAL;
			break;
		}
		ret = 0;
	}
	if (!ret) {
		fwrite(text, 1, len, yaml);
		st->rules = o->rules - st->dropped;
		fprintf(jsonl,
			"{\"corpus\":{\"seed\":%llu,\"rules\":%d,\"dropped\":%d,\"yaml\":\"%s\","
			"\"agent\":\"%s\",\"home\":\"%s\",\"workspace\":\"%s\",\"slot\":1,"
			"\"set\":1}}\n",
			o->seed, st->rules, st->dropped, name, POLICY_CORPUS_AGENT,
			POLICY_CORPUS_HOME, POLICY_CORPUS_WORKSPACE);
		ret = write_queries(o, &r, img, rules, o->rules, jsonl, txt, st);
	}
	for (int i = 0; i < o->rules; i++)
		free(rules[i].yaml);
	free(rules);
	free(text);
	policy_image__free(img);
	policy_collection__free(&c);
	return ret;
}
