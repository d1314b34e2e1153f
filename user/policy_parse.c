// SPDX-License-Identifier: Apache-2.0
/*
 * AgentPolicy YAML -> struct policy, with libyaml's document API: each document is loaded into a
 * node tree first, so every message points at the node it is about, and parsing goes on after
 * a bad value to report every problem of the file.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "policy.h"
#include "policy_pattern.h"
#include "syscalls.h"

#define TAG_STR	 "tag:yaml.org,2002:str"
#define TAG_INT	 "tag:yaml.org,2002:int"
#define TAG_BOOL "tag:yaml.org,2002:bool"

/* Values that stand in for the variables while checking pattern shapes. */
#define CHECK_HOME	"/home/agent"
#define CHECK_WORKSPACE "/workspace"

#define FIELD_MAX 256

struct parse {
	struct policy_collection *c;
	const char *file;
	yaml_document_t *doc;
	struct policy_errors *errs;
	int n_errs;
	struct policy *pols; /* this text's policies, added to c when it is all valid */
	int n_pols;
	int cap_pols;
};

static struct policy_pos node_pos(const struct parse *p, const yaml_node_t *n)
{
	return (struct policy_pos){
		.file = p->file,
		.line = n ? (unsigned int)n->start_mark.line + 1 : 1,
		.col = n ? (unsigned int)n->start_mark.column + 1 : 1,
	};
}

static void perr(struct parse *p, const yaml_node_t *n, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "FILE:LINE:COL: FIELD: message" */
static void perr(struct parse *p, const yaml_node_t *n, const char *field, const char *fmt, ...)
{
	struct policy_pos pos = node_pos(p, n);
	char text[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (field && *field)
		policy_errors__add(p->errs, &pos, "%s: %s", field, text);
	else
		policy_errors__add(p->errs, &pos, "%s", text);
	p->n_errs++;
}

static void perr_at(struct parse *p, const struct policy_pos *pos, const char *field,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void perr_at(struct parse *p, const struct policy_pos *pos, const char *field,
		    const char *fmt, ...)
{
	char text[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	policy_errors__add(p->errs, pos, "%s: %s", field, text);
	p->n_errs++;
}

/*
 * Field names ("spec.files[3].access") for messages, built for every value read, so without
 * printf; cut at FIELD_MAX - 1 bytes, which only shortens a message.
 */
static size_t field_put(char *buf, size_t off, const char *s)
{
	size_t n = strlen(s);

	if (off + n >= FIELD_MAX)
		n = FIELD_MAX - 1 - off;
	memcpy(buf + off, s, n);
	buf[off + n] = '\0';
	return off + n;
}

static const char *subfield(char *buf, const char *field, const char *key)
{
	size_t off = 0;

	if (buf != field)
		off = field_put(buf, 0, field);
	else
		off = strlen(buf);
	if (*field)
		off = field_put(buf, off, ".");
	field_put(buf, off, key);
	return buf;
}

static const char *subindex(char *buf, const char *field, int i)
{
	char num[16], *p = num + sizeof(num) - 1;
	unsigned int v = i < 0 ? 0 : (unsigned int)i;
	size_t off;

	*p = '\0';
	*--p = ']';
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) && p > num + 1);
	*--p = '[';
	off = buf != field ? field_put(buf, 0, field) : strlen(buf);
	field_put(buf, off, p);
	return buf;
}

static yaml_node_t *node(struct parse *p, int id)
{
	return yaml_document_get_node(p->doc, id);
}

static const char *kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a sequence";
	default:
		return "a scalar";
	}
}

static bool is_null(const yaml_node_t *n)
{
	const char *v;

	if (!n)
		return true;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

static bool tag_is(const yaml_node_t *n, const char *tag)
{
	return !n->tag || !strcmp((const char *)n->tag, tag) || !strcmp((const char *)n->tag, "!");
}

/* A string scalar. */
static int get_str(struct parse *p, yaml_node_t *n, const char *field, const char **out)
{
	if (n->type != YAML_SCALAR_NODE) {
		perr(p, n, field, "expected a string, got %s", kind_name(n));
		return -EINVAL;
	}
	if (is_null(n)) {
		perr(p, n, field, "expected a string, got null");
		return -EINVAL;
	}
	if (!tag_is(n, TAG_STR) && !tag_is(n, TAG_INT)) {
		perr(p, n, field, "expected a string, got a value tagged '%s'",
		     (const char *)n->tag);
		return -EINVAL;
	}
	*out = (const char *)n->data.scalar.value;
	return 0;
}

static int get_bool(struct parse *p, yaml_node_t *n, const char *field, bool *out)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || is_null(n) ||
	    (!tag_is(n, TAG_STR) && !tag_is(n, TAG_BOOL)))
		goto bad;
	v = (const char *)n->data.scalar.value;
	if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE")) {
		*out = false;
		return 0;
	}
bad:
	perr(p, n, field, "expected true or false, got %s%s%s%s",
	     n->type == YAML_SCALAR_NODE ? "'" : "",
	     n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : kind_name(n),
	     n->type == YAML_SCALAR_NODE ? "'" : "", "");
	return -EINVAL;
}

/* A sequence; null is an empty one. */
static int get_seq(struct parse *p, yaml_node_t *n, const char *field, yaml_node_item_t **items,
		   int *count)
{
	*items = NULL;
	*count = 0;
	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE) {
		perr(p, n, field, "expected a sequence (a list such as [a, b]), got %s",
		     kind_name(n));
		return -EINVAL;
	}
	*items = n->data.sequence.items.start;
	*count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
	return 0;
}

struct field {
	const char *key;
	yaml_node_t *val;
	yaml_node_t *keynode;
};

/*
 * The values of a mapping's keys, which must all be among `fields` (NULL-key terminated); an
 * unknown or repeated key is an error, and the rest are still read. Null is an empty mapping.
 */
static int get_map(struct parse *p, yaml_node_t *n, const char *field, struct field *fields)
{
	yaml_node_pair_t *pair;
	int ret = 0;

	if (is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE) {
		perr(p, n, field, "expected a mapping, got %s", kind_name(n));
		return -EINVAL;
	}
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = node(p, pair->key);
		const char *key;
		struct field *f;

		if (k->type != YAML_SCALAR_NODE) {
			perr(p, k, field, "keys must be strings, got %s", kind_name(k));
			ret = -EINVAL;
			continue;
		}
		key = (const char *)k->data.scalar.value;
		for (f = fields; f->key && (f->key[0] != key[0] || strcmp(f->key, key)); f++)
			;
		if (!f->key) {
			char expected[512];
			size_t off = 0;

			expected[0] = '\0';
			for (f = fields; f->key && off < sizeof(expected); f++)
				off += snprintf(expected + off, sizeof(expected) - off, "%s%s",
						f == fields ? "" : ", ", f->key);
			perr(p, k, field, "unknown key '%s' (expected %s)", key, expected);
			ret = -EINVAL;
			continue;
		}
		if (f->val) {
			perr(p, k, field, "duplicate key '%s' (first at line %zu)", key,
			     f->keynode->start_mark.line + 1);
			ret = -EINVAL;
			continue;
		}
		f->val = node(p, pair->value);
		f->keynode = k;
	}
	return ret;
}

static yaml_node_t *fval(struct field *fields, const char *key)
{
	for (struct field *f = fields; f->key; f++)
		if (!strcmp(f->key, key))
			return f->val;
	return NULL;
}

static int strv_push(struct policy_strv *v, const char *s, struct policy_pos pos)
{
	struct policy_str *nv = realloc(v->v, (v->n + 1) * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	v->v = nv;
	nv[v->n].s = strdup(s);
	if (!nv[v->n].s)
		return -ENOMEM;
	nv[v->n].pos = pos;
	v->n++;
	return 0;
}

static bool valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static int get_action(struct parse *p, yaml_node_t *n, const char *field, enum policy_list list,
		      __u8 *out)
{
	const char *v;

	if (get_str(p, n, field, &v))
		return -EINVAL;
	if (!strcmp(v, "deny"))
		*out = AW_ACT_DENY;
	else if (!strcmp(v, "audit"))
		*out = AW_ACT_AUDIT;
	else if (!strcmp(v, "allow") && list != POLICY_SYSCALLS)
		*out = AW_ACT_ALLOW;
	else {
		perr(p, n, field, "expected %s, got '%s'",
		     list == POLICY_SYSCALLS ? "deny or audit" : "allow, deny or audit", v);
		return -EINVAL;
	}
	return 0;
}

/* ---- patterns ------------------------------------------------------------------------------ */

static int check_pattern(struct parse *p, yaml_node_t *n, const char *field, const char *pat)
{
	struct policy_shape shape;
	char err[512], *exp;
	int ret;

	ret = policy_pattern__expand(pat, CHECK_HOME, CHECK_WORKSPACE, &exp, err, sizeof(err));
	if (!ret) {
		ret = policy_pattern__shape(exp, pat, &shape, err, sizeof(err));
		free(exp);
		if (!ret)
			policy_shape__free(&shape);
	}
	if (ret) {
		perr(p, n, field, "%s", err);
		return -EINVAL;
	}
	return 0;
}

/* A string or a sequence of strings, each a pattern, appended to v. */
static int get_patterns(struct parse *p, yaml_node_t *n, const char *field, bool seq,
			struct policy_strv *v)
{
	yaml_node_item_t *items;
	char f[FIELD_MAX];
	int count, ret = 0;
	const char *s;

	if (!seq) {
		if (get_str(p, n, field, &s) || check_pattern(p, n, field, s))
			return -EINVAL;
		return strv_push(v, s, node_pos(p, n));
	}
	if (get_seq(p, n, field, &items, &count))
		return -EINVAL;
	for (int i = 0; i < count; i++) {
		yaml_node_t *e = node(p, items[i]);

		subindex(f, field, i);
		if (get_str(p, e, f, &s) || check_pattern(p, e, f, s)) {
			ret = -EINVAL;
			continue;
		}
		if (strv_push(v, s, node_pos(p, e)))
			return -ENOMEM;
	}
	return ret;
}

static int get_paths(struct parse *p, struct field *fields, yaml_node_t *rule, const char *field,
		     struct policy_strv *v)
{
	yaml_node_t *one = fval(fields, "path"), *many = fval(fields, "paths");
	char f[FIELD_MAX];
	int ret = 0;

	if (one && many) {
		perr(p, many, field, "give 'path' or 'paths', not both");
		return -EINVAL;
	}
	if (one)
		ret = get_patterns(p, one, subfield(f, field, "path"), false, v);
	else if (many)
		ret = get_patterns(p, many, subfield(f, field, "paths"), true, v);
	if (!ret && !v->n && !(one || many)) {
		perr(p, rule, field, "missing 'path' or 'paths'");
		return -EINVAL;
	}
	if (!ret && !v->n) {
		perr(p, many, f, "expected at least one pattern");
		return -EINVAL;
	}
	return ret;
}

static int get_bins(struct parse *p, yaml_node_t *n, const char *field, struct policy_bins *b)
{
	struct field fields[] = {{.key = "only"}, {.key = "except"}, {.key = NULL}};
	yaml_node_t *list;
	yaml_node_item_t *items;
	char f[FIELD_MAX], g[FIELD_MAX];
	int count, ret;

	if (n->type != YAML_MAPPING_NODE) {
		perr(p, n, field, "expected a mapping {only: [...]} or {except: [...]}, got %s",
		     kind_name(n));
		return -EINVAL;
	}
	ret = get_map(p, n, field, fields);
	if (fields[0].val && fields[1].val) {
		perr(p, fields[1].keynode, field, "give 'only' or 'except', not both");
		return -EINVAL;
	}
	if (!fields[0].val && !fields[1].val) {
		if (!ret)
			perr(p, n, field, "expected 'only' or 'except'");
		return -EINVAL;
	}
	b->flags = fields[0].val ? AW_REF_BIN_ONLY : AW_REF_BIN_EXCEPT;
	list = fields[0].val ? fields[0].val : fields[1].val;
	subfield(f, field, fields[0].val ? "only" : "except");
	if (get_seq(p, list, f, &items, &count))
		return -EINVAL;
	if (!count) {
		perr(p, list, f, "expected at least one executable path");
		return -EINVAL;
	}
	for (int i = 0; i < count; i++) {
		yaml_node_t *e = node(p, items[i]);
		char err[256], *exp;
		const char *s;

		subindex(g, f, i);
		if (get_str(p, e, g, &s)) {
			ret = -EINVAL;
			continue;
		}
		if (policy_pattern__expand(s, CHECK_HOME, CHECK_WORKSPACE, &exp, err,
					   sizeof(err))) {
			perr(p, e, g, "%s", err);
			ret = -EINVAL;
			continue;
		}
		if (exp[0] != '/' || exp[strlen(exp) - 1] == '/')
			perr(p, e, g, "'%s' is not an absolute path to an executable", s);
		else if (strpbrk(exp, "*?[\\"))
			perr(p, e, g,
			     "'%s': executables are exact paths, without wildcards (the kernel "
			     "looks up the hash of the executable's path)",
			     s);
		else if (strv_push(&b->paths, s, node_pos(p, e))) {
			free(exp);
			return -ENOMEM;
		} else {
			free(exp);
			continue;
		}
		free(exp);
		ret = -EINVAL;
	}
	return ret;
}

static int get_access(struct parse *p, yaml_node_t *n, const char *field, __u8 *out)
{
	static const struct {
		const char *name;
		__u8 bits;
	} names[] = {
		{"read", AW_ACC_READ},	    {"write", AW_ACC_WRITE | AW_ACC_TRUNC},
		{"create", AW_ACC_CREATE},  {"delete", AW_ACC_DELETE},
		{"rename", AW_ACC_RENAME},  {"exec", AW_ACC_EXEC},
		{"truncate", AW_ACC_TRUNC}, {"link", AW_ACC_LINK},
		{"all", AW_ACC_ALL},
	};
	yaml_node_item_t *items;
	char f[FIELD_MAX];
	int count, ret = 0;

	*out = 0;
	if (get_seq(p, n, field, &items, &count))
		return -EINVAL;
	if (!count) {
		perr(p, n, field,
		     "expected at least one of read, write, create, delete, rename, "
		     "exec, truncate, link, all");
		return -EINVAL;
	}
	for (int i = 0; i < count; i++) {
		yaml_node_t *e = node(p, items[i]);
		const char *s;
		size_t k;

		subindex(f, field, i);
		if (get_str(p, e, f, &s)) {
			ret = -EINVAL;
			continue;
		}
		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (!strcmp(names[k].name, s))
				break;
		if (k == sizeof(names) / sizeof(names[0])) {
			perr(p, e, f,
			     "unknown access '%s' (expected read, write, create, delete, rename, "
			     "exec, truncate, link or all)",
			     s);
			ret = -EINVAL;
			continue;
		}
		*out |= names[k].bits;
	}
	return ret;
}

/* ---- network --------------------------------------------------------------------------------- */

static int get_cidr(struct parse *p, yaml_node_t *n, const char *field, struct policy_rule *r)
{
	struct policy_cidr c = {.pos = node_pos(p, n)}, *nc;
	char err[512];
	const char *s;

	if (get_str(p, n, field, &s))
		return -EINVAL;
	if (policy_cidr__parse(s, c.addr, &c.bits, &c.v4, err, sizeof(err))) {
		perr(p, n, field, "%s", err);
		return -EINVAL;
	}
	nc = realloc(r->cidrs, (r->n_cidrs + 1) * sizeof(*nc));
	if (!nc)
		return -ENOMEM;
	r->cidrs = nc;
	nc[r->n_cidrs++] = c;
	return 0;
}

static bool parse_port(const char *s, size_t n, unsigned long *out)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return v <= 65535;
}

static int get_ports(struct parse *p, yaml_node_t *n, const char *field, struct policy_rule *r)
{
	yaml_node_item_t *items;
	char f[FIELD_MAX];
	int count, ret = 0;

	if (get_seq(p, n, field, &items, &count))
		return -EINVAL;
	if (!count) {
		perr(p, n, field, "expected at least one port; leave 'ports' out for every port");
		return -EINVAL;
	}
	r->ports = calloc(count, sizeof(*r->ports));
	if (!r->ports)
		return -ENOMEM;
	for (int i = 0; i < count; i++) {
		yaml_node_t *e = node(p, items[i]);
		unsigned long lo, hi;
		const char *s, *dash;

		subindex(f, field, i);
		if (get_str(p, e, f, &s)) {
			ret = -EINVAL;
			continue;
		}
		dash = strchr(s, '-');
		if (dash ? !(parse_port(s, dash - s, &lo) &&
			     parse_port(dash + 1, strlen(dash + 1), &hi))
			 : !parse_port(s, strlen(s), &lo)) {
			perr(p, e, f, "bad port '%s': expected a number 0-65535 or a range 'lo-hi'",
			     s);
			ret = -EINVAL;
			continue;
		}
		if (!dash)
			hi = lo;
		if (lo > hi) {
			perr(p, e, f, "bad port range '%s': %lu is above %lu", s, lo, hi);
			ret = -EINVAL;
			continue;
		}
		r->ports[r->n_ports++] = (struct policy_ports){(__u16)lo, (__u16)hi};
	}
	return ret;
}

/* ---- rules ----------------------------------------------------------------------------------- */

static int get_classes(struct parse *p, yaml_node_t *n, const char *field, bool seq, __u32 *out)
{
	yaml_node_item_t *items, one = 0;
	char f[FIELD_MAX];
	int count, ret = 0;

	if (!seq) {
		items = &one;
		count = 1;
	} else if (get_seq(p, n, field, &items, &count)) {
		return -EINVAL;
	} else if (!count) {
		perr(p, n, field, "expected at least one syscall class");
		return -EINVAL;
	}
	for (int i = 0; i < count; i++) {
		yaml_node_t *e = seq ? node(p, items[i]) : n;
		const char *s;
		int b;

		if (seq)
			subindex(f, field, i);
		else
			snprintf(f, sizeof(f), "%s", field);
		if (get_str(p, e, f, &s)) {
			ret = -EINVAL;
			continue;
		}
		for (b = 0; policy_sc__name(b) && strcmp(policy_sc__name(b), s); b++)
			;
		if (!policy_sc__name(b)) {
			perr(p, e, f,
			     "unknown syscall class '%s' (expected bpf, ptrace, mount, module, "
			     "kexec, "
			     "perf_event_open or userns)",
			     s);
			ret = -EINVAL;
			continue;
		}
		*out |= 1U << b;
	}
	return ret;
}

static int get_syscall_names(struct parse *p, yaml_node_t *n, const char *field,
			     struct policy_rule *r)
{
	yaml_node_item_t *items;
	char f[FIELD_MAX];
	int count, ret = 0;

	if (get_seq(p, n, field, &items, &count))
		return -EINVAL;
	if (!count) {
		perr(p, n, field, "expected at least one syscall name");
		return -EINVAL;
	}
	for (int i = 0; i < count; i++) {
		yaml_node_t *e = node(p, items[i]);
		const char *s;
		int nr;

		subindex(f, field, i);
		if (get_str(p, e, f, &s)) {
			ret = -EINVAL;
			continue;
		}
		nr = syscalls__number(s);
		if (nr < 0) {
			perr(p, e, f, "unknown syscall '%s'", s);
			ret = -EINVAL;
			continue;
		}
		r->names.bits[nr / 64] |= 1ULL << (nr % 64);
		r->n_names++;
	}
	return ret;
}

static int parse_rule(struct parse *p, yaml_node_t *n, const char *field, enum policy_list list,
		      struct policy_rule *r)
{
	struct field files[] = {{.key = "name"},     {.key = "action"}, {.key = "path"},
				{.key = "paths"},    {.key = "except"}, {.key = "access"},
				{.key = "binaries"}, {.key = NULL}};
	struct field exec[] = {{.key = "name"},	 {.key = "action"}, {.key = "path"},
			       {.key = "paths"}, {.key = "except"}, {.key = "parent"},
			       {.key = NULL}};
	struct field net[] = {{.key = "name"},	    {.key = "action"}, {.key = "cidr"},
			      {.key = "cidrs"},	    {.key = "ports"},  {.key = "protocol"},
			      {.key = "direction"}, {.key = NULL}};
	struct field sys[] = {{.key = "name"},	  {.key = "action"}, {.key = "class"},
			      {.key = "classes"}, {.key = "names"},  {.key = NULL}};
	struct field *fields = list == POLICY_FILES	? files
			       : list == POLICY_EXEC	? exec
			       : list == POLICY_NETWORK ? net
							: sys;
	int ret, errs0 = p->n_errs;
	char f[FIELD_MAX];
	yaml_node_t *v;
	const char *s;

	r->list = list;
	r->pos = node_pos(p, n);
	if (n->type != YAML_MAPPING_NODE) {
		perr(p, n, field, "expected a rule (a mapping with name and action), got %s",
		     kind_name(n));
		return -EINVAL;
	}
	ret = get_map(p, n, field, fields);
	if (ret == -ENOMEM)
		return ret;

	v = fval(fields, "name");
	if (!v)
		perr(p, n, field, "missing 'name'");
	else if (!get_str(p, v, subfield(f, field, "name"), &s)) {
		r->pos = node_pos(p, v);
		if (!valid_name(s, POLICY_RULE_NAME_MAX))
			perr(p, v, f,
			     "'%s' is not a rule name: use letters, digits, '.', '_' and '-' (at "
			     "most %d)",
			     s, POLICY_RULE_NAME_MAX);
		else if (!(r->name = strdup(s)))
			return -ENOMEM;
	}
	v = fval(fields, "action");
	if (!v)
		perr(p, n, field, "missing 'action' (%s)",
		     list == POLICY_SYSCALLS ? "deny or audit" : "allow, deny or audit");
	else
		get_action(p, v, subfield(f, field, "action"), list, &r->action);

	switch (list) {
	case POLICY_FILES:
	case POLICY_EXEC:
		get_paths(p, fields, n, field, &r->paths);
		if ((v = fval(fields, "except")))
			get_patterns(p, v, subfield(f, field, "except"), true, &r->except);
		r->access = AW_ACC_ALL;
		if (list == POLICY_EXEC)
			r->access = AW_ACC_EXEC;
		else if ((v = fval(fields, "access")))
			get_access(p, v, subfield(f, field, "access"), &r->access);
		if ((v = fval(fields, list == POLICY_EXEC ? "parent" : "binaries")))
			get_bins(p, v,
				 subfield(f, field, list == POLICY_EXEC ? "parent" : "binaries"),
				 &r->bins);
		break;
	case POLICY_NETWORK: {
		yaml_node_t *one = fval(fields, "cidr"), *many = fval(fields, "cidrs");
		yaml_node_item_t *items;
		int count;

		if (one && many) {
			perr(p, many, field, "give 'cidr' or 'cidrs', not both");
		} else if (one) {
			get_cidr(p, one, subfield(f, field, "cidr"), r);
		} else if (many) {
			subfield(f, field, "cidrs");
			if (!get_seq(p, many, f, &items, &count)) {
				if (!count)
					perr(p, many, f, "expected at least one CIDR");
				for (int i = 0; i < count; i++) {
					char g[FIELD_MAX];

					get_cidr(p, node(p, items[i]), subindex(g, f, i), r);
				}
			}
		} else {
			perr(p, n, field,
			     "missing 'cidr' or 'cidrs' (0.0.0.0/0 and ::/0 for every "
			     "address)");
		}
		if ((v = fval(fields, "ports")))
			get_ports(p, v, subfield(f, field, "ports"), r);
		r->protos = AW_PROTO_ANY;
		if ((v = fval(fields, "protocol")) &&
		    !get_str(p, v, subfield(f, field, "protocol"), &s)) {
			if (!strcmp(s, "tcp"))
				r->protos = AW_PROTO_TCP;
			else if (!strcmp(s, "udp"))
				r->protos = AW_PROTO_UDP;
			else if (strcmp(s, "any"))
				perr(p, v, f, "expected tcp, udp or any, got '%s'", s);
		}
		if ((v = fval(fields, "direction")) &&
		    !get_str(p, v, subfield(f, field, "direction"), &s) && strcmp(s, "egress"))
			perr(p, v, f,
			     "only 'egress' is supported (connections the agent makes), got '%s'",
			     s);
		break;
	}
	case POLICY_SYSCALLS: {
		yaml_node_t *one = fval(fields, "class"), *many = fval(fields, "classes");
		yaml_node_t *names = fval(fields, "names");

		if (one && many)
			perr(p, many, field, "give 'class' or 'classes', not both");
		else if ((one || many) && names)
			perr(p, names, field,
			     "a rule has classes (deny or audit) or names (audit), not both");
		else if (one)
			get_classes(p, one, subfield(f, field, "class"), false, &r->classes);
		else if (many)
			get_classes(p, many, subfield(f, field, "classes"), true, &r->classes);
		else if (names) {
			get_syscall_names(p, names, subfield(f, field, "names"), r);
			if (r->action == AW_ACT_DENY)
				perr(p, fval(fields, "action"), subfield(f, field, "action"),
				     "a rule with 'names' reports syscalls (audit); deny them by "
				     "class");
		} else
			perr(p, n, field, "missing 'class', 'classes' or 'names'");
		break;
	}
	default:
		break;
	}
	return p->n_errs > errs0 ? -EINVAL : 0;
}

/* Open-addressing set of rule names, to find duplicates in large policies without a scan. */
struct name_set {
	int *slot; /* index into rules + 1; 0 = empty */
	size_t mask;
};

static size_t name_hash(const char *s)
{
	return (size_t)policy_hash__str(s);
}

static int parse_lists(struct parse *p, struct field *spec, struct policy *pol)
{
	static const char *const keys[] = {"files", "exec", "network", "syscalls"};
	struct name_set set = {0};
	int total = 0, ret = 0;

	for (int l = 0; l < POLICY_LISTS; l++) {
		yaml_node_t *v = fval(spec, keys[l]);

		if (v && v->type == YAML_SEQUENCE_NODE)
			total += (int)(v->data.sequence.items.top - v->data.sequence.items.start);
	}
	if (total) {
		size_t size = 16;

		while (size < (size_t)total * 2)
			size *= 2;
		set.slot = calloc(size, sizeof(*set.slot));
		pol->rules = calloc(total, sizeof(*pol->rules));
		if (!set.slot || !pol->rules) {
			free(set.slot);
			return -ENOMEM;
		}
		set.mask = size - 1;
	}
	for (int l = 0; l < POLICY_LISTS; l++) {
		yaml_node_t *v = fval(spec, keys[l]);
		yaml_node_item_t *items;
		char field[FIELD_MAX], f[FIELD_MAX];
		int count;

		if (!v)
			continue;
		subfield(field, "spec", keys[l]);
		if (get_seq(p, v, field, &items, &count))
			continue;
		for (int i = 0; i < count && pol->n_rules < total; i++) {
			struct policy_rule *r = &pol->rules[pol->n_rules++];
			size_t h;

			ret = parse_rule(p, node(p, items[i]), subindex(f, field, i), l, r);
			if (ret == -ENOMEM)
				goto out;
			if (!r->name)
				continue;
			for (h = name_hash(r->name) & set.mask; set.slot[h]; h = (h + 1) & set.mask)
				if (!strcmp(pol->rules[set.slot[h] - 1].name, r->name))
					break;
			if (set.slot[h]) {
				const struct policy_rule *first = &pol->rules[set.slot[h] - 1];
				char g[FIELD_MAX];

				perr_at(p, &r->pos, subfield(g, f, "name"),
					"duplicate rule name '%s' in policy '%s' (first at line "
					"%u)",
					r->name, pol->name ? pol->name : "?", first->pos.line);
				continue;
			}
			set.slot[h] = pol->n_rules;
		}
	}
	ret = 0;
out:
	free(set.slot);
	return ret;
}

static bool valid_pod_uid(const char *s)
{
	size_t n = strlen(s);

	if (n == 32)
		return strspn(s, "0123456789abcdef") == 32;
	if (n != K8S_POD_UID_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
			return false;
	}
	return true;
}

/* spec.selector.workspace: an absolute path, without variables, `.` or `..` segments. */
static int parse_selector_workspace(struct parse *p, yaml_node_t *n, struct policy_selector *s)
{
	const char *field = "spec.selector.workspace", *str;
	size_t len;

	if (get_str(p, n, field, &str))
		return 0;
	len = strlen(str);
	if (str[0] != '/' || strstr(str, "${") || strstr(str, "/./") || strstr(str, "/../") ||
	    (len >= 2 && !strcmp(str + len - 2, "/.")) ||
	    (len >= 3 && !strcmp(str + len - 3, "/..")) || len >= PATH_MAX) {
		perr(p, n, field,
		     "'%s' is not a workspace: an absolute path, without variables, '.' or '..'",
		     str);
		return 0;
	}
	while (len > 1 && str[len - 1] == '/')
		len--; /* "/srv/ws/" is /srv/ws */
	s->workspace = strndup(str, len);
	if (!s->workspace)
		return -ENOMEM;
	s->workspace_pos = node_pos(p, n);
	return 0;
}

static int parse_selector(struct parse *p, yaml_node_t *n, struct policy_selector *s)
{
	struct field fields[] = {{.key = "agents"},
				 {.key = "cgroups"},
				 {.key = "kubernetes"},
				 {.key = "workspace"},
				 {.key = NULL}};
	struct field k8s[] = {
		{.key = "podUIDs"}, {.key = "containerIDs"}, {.key = "namespaces"}, {.key = NULL}};
	const char *field = "spec.selector";
	char f[FIELD_MAX], g[FIELD_MAX];
	yaml_node_item_t *items;
	int count;

	get_map(p, n, field, fields);
	for (int w = 0; w < 2; w++) {
		yaml_node_t *v = fields[w].val;

		if (!v)
			continue;
		subfield(f, field, fields[w].key);
		if (get_seq(p, v, f, &items, &count))
			continue;
		struct policy_glob *globs = calloc(count ? count : 1, sizeof(*globs));

		if (!globs)
			return -ENOMEM;
		if (w == 0)
			s->agents = globs;
		else
			s->cgroups = globs;
		for (int i = 0; i < count; i++) {
			yaml_node_t *e = node(p, items[i]);
			char err[256], *glob;
			const char *str;
			int col;

			subindex(g, f, i);
			if (get_str(p, e, g, &str))
				continue;
			if (w == 1 && str[0] != '/') {
				perr(p, e, g,
				     "cgroup globs are absolute paths (/sys/fs/cgroup/...)");
				continue;
			}
			if (asprintf(&glob, "%s%s", w == 0 ? "/" : "", str) < 0)
				return -ENOMEM;
			if (selector__compile(glob, &globs[w == 0 ? s->n_agents : s->n_cgroups].sel,
					      err, sizeof(err))) {
				/* the agent glob got a '/' in front: columns count from the name */
				if (w == 0 && sscanf(err, "column %d:", &col) == 1)
					perr(p, e, g, "bad glob '%s': column %d%s", str, col - 1,
					     strchr(err, ':'));
				else
					perr(p, e, g, "bad glob '%s': %s", str, err);
				free(glob);
				continue;
			}
			free(glob);
			globs[w == 0 ? s->n_agents : s->n_cgroups].pos = node_pos(p, e);
			if (w == 0)
				s->n_agents++;
			else
				s->n_cgroups++;
		}
	}
	if (fields[2].val) {
		subfield(f, field, "kubernetes");
		get_map(p, fields[2].val, f, k8s);
		if (k8s[2].val)
			perr(p, k8s[2].keynode, f,
			     "'namespaces' is not known from a cgroup path; select pods by podUIDs "
			     "or containers by containerIDs");
		for (int w = 0; w < 2; w++) {
			struct policy_strv *out = w == 0 ? &s->pod_uids : &s->container_ids;
			yaml_node_t *v = k8s[w].val;
			char h[FIELD_MAX];

			if (!v)
				continue;
			subfield(g, f, k8s[w].key);
			if (get_seq(p, v, g, &items, &count))
				continue;
			for (int i = 0; i < count; i++) {
				yaml_node_t *e = node(p, items[i]);
				const char *str;
				size_t len, hex;

				subindex(h, g, i);
				if (get_str(p, e, h, &str))
					continue;
				len = strlen(str);
				hex = strspn(str, "0123456789abcdef");
				if (w == 0 && !valid_pod_uid(str))
					perr(p, e, h,
					     "'%s' is not a pod UID (a lowercase UUID, or 32 hex "
					     "digits for a static pod)",
					     str);
				else if (w == 1 && (hex != len || len < 12 || len > 64))
					perr(p, e, h,
					     "'%s' is not a container ID (12 to 64 lowercase hex "
					     "digits; a shorter one matches as a prefix)",
					     str);
				else if (strv_push(out, str, node_pos(p, e)))
					return -ENOMEM;
			}
		}
	}
	if (fields[3].val)
		return parse_selector_workspace(p, fields[3].val, s);
	return 0;
}

static int get_posture(struct parse *p, yaml_node_t *n, const char *field, __u8 *out)
{
	const char *s;

	if (get_str(p, n, field, &s))
		return -EINVAL;
	if (!strcmp(s, "allow"))
		*out = AW_ACT_ALLOW;
	else if (!strcmp(s, "audit"))
		*out = AW_ACT_AUDIT;
	else if (!strcmp(s, "deny"))
		*out = AW_ACT_DENY;
	else {
		perr(p, n, field, "expected allow, audit or deny, got '%s'", s);
		return -EINVAL;
	}
	return 0;
}

static int parse_spec(struct parse *p, yaml_node_t *n, struct policy *pol)
{
	struct field spec[] = {
		{.key = "mode"},     {.key = "fallback"}, {.key = "requireEnforcement"},
		{.key = "selector"}, {.key = "defaults"}, {.key = "execProtections"},
		{.key = "files"},    {.key = "exec"},	  {.key = "network"},
		{.key = "syscalls"}, {.key = NULL}};
	struct field defs[] = {
		{.key = "files"}, {.key = "exec"}, {.key = "network"}, {.key = NULL}};
	struct field prot[] = {{.key = "denyAgentWritten"}, {.key = "denyMemfd"}, {.key = NULL}};
	char f[FIELD_MAX];
	yaml_node_t *v;
	const char *s;
	bool b;

	if (get_map(p, n, "spec", spec) && n->type != YAML_MAPPING_NODE)
		return -EINVAL;
	if ((v = fval(spec, "mode")) && !get_str(p, v, "spec.mode", &s)) {
		if (!strcmp(s, "audit"))
			pol->audit_mode = true;
		else if (strcmp(s, "enforce"))
			perr(p, v, "spec.mode", "expected enforce or audit, got '%s'", s);
	}
	if ((v = fval(spec, "fallback")) && !get_str(p, v, "spec.fallback", &s)) {
		if (!strcmp(s, "kill"))
			pol->flags |= AW_DEF_FALLBACK_KILL;
		else if (strcmp(s, "audit"))
			perr(p, v, "spec.fallback", "expected audit or kill, got '%s'", s);
	}
	if ((v = fval(spec, "requireEnforcement")) &&
	    !get_str(p, v, "spec.requireEnforcement", &s)) {
		if (!strcmp(s, "lsm"))
			pol->flags |= AW_DEF_REQUIRE_LSM;
		else
			perr(p, v, "spec.requireEnforcement", "expected lsm, got '%s'", s);
	}
	if ((v = fval(spec, "selector")) && parse_selector(p, v, &pol->selector) == -ENOMEM)
		return -ENOMEM;
	if ((v = fval(spec, "defaults"))) {
		get_map(p, v, "spec.defaults", defs);
		for (int i = 0; i < 3; i++)
			if (defs[i].val)
				get_posture(p, defs[i].val,
					    subfield(f, "spec.defaults", defs[i].key),
					    &pol->defaults[i]);
	}
	if ((v = fval(spec, "execProtections"))) {
		get_map(p, v, "spec.execProtections", prot);
		if (prot[0].val &&
		    !get_bool(p, prot[0].val, "spec.execProtections.denyAgentWritten", &b) && b)
			pol->flags |= AW_DEF_DENY_AGENT_WRITTEN_EXEC;
		if (prot[1].val &&
		    !get_bool(p, prot[1].val, "spec.execProtections.denyMemfd", &b) && b)
			pol->flags |= AW_DEF_DENY_MEMFD_EXEC;
	}
	return parse_lists(p, spec, pol);
}

static int add_policy(struct parse *p, struct policy *pol)
{
	if (p->n_pols == p->cap_pols) {
		int cap = p->cap_pols ? p->cap_pols * 2 : 4;
		struct policy *np = realloc(p->pols, cap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		p->pols = np;
		p->cap_pols = cap;
	}
	p->pols[p->n_pols++] = *pol;
	return 0;
}

static const struct policy *find_policy(const struct parse *p, const char *name)
{
	for (int i = 0; i < p->c->n; i++)
		if (!strcmp(p->c->pols[i].name, name))
			return &p->c->pols[i];
	for (int i = 0; i < p->n_pols; i++)
		if (!strcmp(p->pols[i].name, name))
			return &p->pols[i];
	return NULL;
}

static int parse_doc(struct parse *p, yaml_node_t *root)
{
	struct field top[] = {{.key = "apiVersion"},
			      {.key = "kind"},
			      {.key = "metadata"},
			      {.key = "spec"},
			      {.key = NULL}};
	struct field meta[] = {
		{.key = "name"}, {.key = "labels"}, {.key = "annotations"}, {.key = NULL}};
	struct policy pol = {0};
	int errs0 = p->n_errs, ret;
	const struct policy *dup;
	yaml_node_t *v;
	const char *s;

	if (root->type != YAML_MAPPING_NODE) {
		perr(p, root, NULL, "expected an AgentPolicy document (a mapping), got %s",
		     kind_name(root));
		return -EINVAL;
	}
	get_map(p, root, "", top);
	if (!(v = fval(top, "apiVersion")))
		perr(p, root, NULL, "missing 'apiVersion' (%s)", POLICY_API_VERSION);
	else if (!get_str(p, v, "apiVersion", &s) && strcmp(s, POLICY_API_VERSION))
		perr(p, v, "apiVersion", "expected '%s', got '%s'", POLICY_API_VERSION, s);
	if (!(v = fval(top, "kind")))
		perr(p, root, NULL, "missing 'kind' (%s)", POLICY_KIND);
	else if (!get_str(p, v, "kind", &s) && strcmp(s, POLICY_KIND))
		perr(p, v, "kind", "expected '%s', got '%s'", POLICY_KIND, s);
	if (!(v = fval(top, "metadata"))) {
		perr(p, root, NULL, "missing 'metadata' (with the policy's name)");
	} else {
		get_map(p, v, "metadata", meta);
		if (meta[1].val && meta[1].val->type != YAML_MAPPING_NODE && !is_null(meta[1].val))
			perr(p, meta[1].val, "metadata.labels", "expected a mapping, got %s",
			     kind_name(meta[1].val));
		if (meta[2].val && meta[2].val->type != YAML_MAPPING_NODE && !is_null(meta[2].val))
			perr(p, meta[2].val, "metadata.annotations", "expected a mapping, got %s",
			     kind_name(meta[2].val));
		if (!meta[0].val && v->type == YAML_MAPPING_NODE)
			perr(p, v, "metadata", "missing 'name'");
		else if (meta[0].val && !get_str(p, meta[0].val, "metadata.name", &s)) {
			pol.pos = node_pos(p, meta[0].val);
			if (!valid_name(s, POLICY_NAME_MAX))
				perr(p, meta[0].val, "metadata.name",
				     "'%s' is not a policy name: use letters, digits, '.', '_' and "
				     "'-' (at most %d)",
				     s, POLICY_NAME_MAX);
			else if ((dup = find_policy(p, s)))
				perr(p, meta[0].val, "metadata.name",
				     "duplicate policy name '%s' (first at %s:%u:%u)", s,
				     dup->pos.file, dup->pos.line, dup->pos.col);
			else if (!(pol.name = strdup(s)))
				return -ENOMEM;
		}
	}
	v = fval(top, "spec");
	ret = v ? parse_spec(p, v, &pol) : 0;
	if (ret == -ENOMEM || !pol.name) {
		policy__free(&pol);
		return ret == -ENOMEM ? ret : -EINVAL;
	}
	/* kept even when bad, so a later document's duplicate name is reported; a text with any
	 * error adds nothing to the collection */
	ret = add_policy(p, &pol);
	if (ret)
		policy__free(&pol);
	return ret ? ret : p->n_errs > errs0 ? -EINVAL : 0;
}

static const char *intern_file(struct policy_collection *c, const char *name)
{
	char **files = realloc(c->files, (c->n_files + 1) * sizeof(*files));

	if (!files)
		return NULL;
	c->files = files;
	files[c->n_files] = strdup(name);
	if (!files[c->n_files])
		return NULL;
	return files[c->n_files++];
}

int policy_collection__parse(struct policy_collection *c, const char *name, const char *text,
			     size_t len, struct policy_errors *errs)
{
	struct parse p = {.c = c, .errs = errs};
	int errs0 = errs->n, ret = 0;
	yaml_parser_t parser;

	p.file = intern_file(c, name);
	if (!p.file)
		return -ENOMEM;
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	for (;;) {
		yaml_document_t doc;
		yaml_node_t *root;

		if (!yaml_parser_load(&parser, &doc)) {
			struct policy_pos pos = {p.file, (unsigned int)parser.problem_mark.line + 1,
						 (unsigned int)parser.problem_mark.column + 1};

			if (parser.context)
				policy_errors__add(errs, &pos,
						   "YAML syntax error: %s %s (line %zu)",
						   parser.problem ? parser.problem : "unknown",
						   parser.context, parser.context_mark.line + 1);
			else
				policy_errors__add(errs, &pos, "YAML syntax error: %s",
						   parser.problem ? parser.problem : "unknown");
			p.n_errs++;
			break;
		}
		root = yaml_document_get_root_node(&doc);
		if (!root) {
			yaml_document_delete(&doc);
			break;
		}
		p.doc = &doc;
		if (!is_null(root))
			ret = parse_doc(&p, root);
		yaml_document_delete(&doc);
		if (ret == -ENOMEM)
			break;
	}
	yaml_parser_delete(&parser);
	policy_errors__sort(errs, errs0);
	if (ret == -ENOMEM || p.n_errs) {
		for (int i = 0; i < p.n_pols; i++)
			policy__free(&p.pols[i]);
		free(p.pols);
		return ret == -ENOMEM ? ret : -EINVAL;
	}
	if (p.n_pols) {
		struct policy *np = realloc(c->pols, (c->n + p.n_pols) * sizeof(*np));

		if (!np) {
			for (int i = 0; i < p.n_pols; i++)
				policy__free(&p.pols[i]);
			free(p.pols);
			return -ENOMEM;
		}
		c->pols = np;
		for (int i = 0; i < p.n_pols; i++) {
			struct policy *pol = &p.pols[i];

			for (int r = 0; r < pol->n_rules; r++)
				pol->rules[r].id = ++c->n_rules;
			c->pols[c->n++] = *pol;
		}
	}
	free(p.pols);
	return 0;
}
