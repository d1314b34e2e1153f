// SPDX-License-Identifier: Apache-2.0
/*
 * The daemon's YAML configuration, read with libyaml's document API: the whole document is
 * loaded into a node tree first, so every message can point at the node it is about.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config.h"

#define YAML_STR_TAG "tag:yaml.org,2002:str"

struct cfg_parse {
	const char *name;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
};

static int cfg_error(struct cfg_parse *p, const yaml_node_t *node, const char *field,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* "FILE:LINE:COL: FIELD: message" into p->err; returns -EINVAL. */
static int cfg_error(struct cfg_parse *p, const yaml_node_t *node, const char *field,
		     const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->err || !p->errlen)
		return -EINVAL;
	n = snprintf(p->err, p->errlen, "%s:%zu:%zu: %s%s", p->name,
		     node ? node->start_mark.line + 1 : 1, node ? node->start_mark.column + 1 : 1,
		     field ? field : "", field ? ": " : "");
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *node_kind(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a sequence";
	default:
		return "a scalar";
	}
}

/* A plain `~`, `null` or empty scalar is YAML's null, not a string. */
static bool scalar_is_null(const yaml_node_t *node)
{
	const char *v = (const char *)node->data.scalar.value;

	if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

/* The node as a string, or an error naming the field. */
static int node_string(struct cfg_parse *p, const yaml_node_t *node, const char *field,
		       const char **out)
{
	if (node->type != YAML_SCALAR_NODE)
		return cfg_error(p, node, field, "expected a string, got %s", node_kind(node));
	if (node->tag && strcmp((const char *)node->tag, YAML_STR_TAG))
		return cfg_error(p, node, field, "expected a string, got a value tagged '%s'",
				 (const char *)node->tag);
	if (scalar_is_null(node))
		return cfg_error(p, node, field, "expected a string, got null");
	if (strlen((const char *)node->data.scalar.value) != node->data.scalar.length)
		return cfg_error(p, node, field, "contains a NUL byte");
	*out = (const char *)node->data.scalar.value;
	return 0;
}

static int set_string(struct cfg_parse *p, const yaml_node_t *node, const char *field, char **dst)
{
	const char *v;
	int err = node_string(p, node, field, &v);

	if (err)
		return err;
	free(*dst);
	*dst = strdup(v);
	return *dst ? 0 : -ENOMEM;
}

static int set_abs_path(struct cfg_parse *p, const yaml_node_t *node, const char *field, char **dst)
{
	const char *v;
	int err = node_string(p, node, field, &v);

	if (err)
		return err;
	if (v[0] != '/')
		return cfg_error(p, node, field, "expected an absolute path, got '%s'", v);
	return set_string(p, node, field, dst);
}

static int parse_watch(struct cfg_parse *p, struct config *cfg, const yaml_node_t *node)
{
	yaml_node_item_t *item;
	char field[32], msg[256];
	int i = 0, err;

	if (node->type != YAML_SEQUENCE_NODE)
		return cfg_error(p, node, "watch", "expected a sequence of globs, got %s",
				 node_kind(node));
	for (item = node->data.sequence.items.start; item < node->data.sequence.items.top;
	     item++, i++) {
		yaml_node_t *g = yaml_document_get_node(p->doc, *item);
		const char *glob;

		snprintf(field, sizeof(field), "watch[%d]", i);
		err = node_string(p, g, field, &glob);
		if (err)
			return err;
		err = config__add_watch(cfg, glob, msg, sizeof(msg));
		if (err == -EINVAL)
			return cfg_error(p, g, field, "bad glob '%s': %s", glob, msg);
		if (err == -E2BIG || err == -ENAMETOOLONG)
			return cfg_error(p, g, field, "%s", msg);
		if (err)
			return err;
	}
	return 0;
}

/* A relative rules path is taken from the config file's directory. */
static int add_rules_path(struct cfg_parse *p, struct config *cfg, const char *path)
{
	const char *slash = strrchr(p->name, '/');
	char *joined;
	int err;

	if (path[0] == '/' || !slash)
		return config__add_rules(cfg, path);
	if (asprintf(&joined, "%.*s/%s", (int)(slash - p->name), p->name, path) < 0)
		return -ENOMEM;
	err = config__add_rules(cfg, joined);
	free(joined);
	return err;
}

static int parse_rules(struct cfg_parse *p, struct config *cfg, const yaml_node_t *node)
{
	yaml_node_item_t *item;
	char field[32];
	int i = 0, err;

	if (node->type != YAML_SEQUENCE_NODE)
		return cfg_error(p, node, "rules",
				 "expected a sequence of policy files or directories, got %s",
				 node_kind(node));
	for (item = node->data.sequence.items.start; item < node->data.sequence.items.top;
	     item++, i++) {
		yaml_node_t *r = yaml_document_get_node(p->doc, *item);
		const char *path;

		snprintf(field, sizeof(field), "rules[%d]", i);
		err = node_string(p, r, field, &path);
		if (err)
			return err;
		err = add_rules_path(p, cfg, path);
		if (err == -E2BIG)
			return cfg_error(p, r, field, "more than %d rules paths", CONFIG_MAX_RULES);
		if (err)
			return err;
	}
	return 0;
}

static void clear_link_scan(struct config *cfg)
{
	for (int i = 0; i < cfg->link_scan.n; i++)
		free((char *)cfg->link_scan.dirs[i]);
	memset(&cfg->link_scan, 0, sizeof(cfg->link_scan));
}

/* One linkScan value (the string is the config's once added). */
static int add_link_scan(struct cfg_parse *p, struct config *cfg, const yaml_node_t *node,
			 const char *field)
{
	char msg[160], *dup;
	const char *v;
	int err = node_string(p, node, field, &v);

	if (err)
		return err;
	if (!(dup = strdup(v)))
		return -ENOMEM;
	err = policy_link_scan__add(&cfg->link_scan, dup, msg, sizeof(msg));
	if (err || cfg->link_scan.none)
		free(dup); /* `none` keeps no string */
	return err ? cfg_error(p, node, field, "%s", msg) : 0;
}

/* linkScan: none, or a sequence of absolute directories. */
static int parse_link_scan(struct cfg_parse *p, struct config *cfg, const yaml_node_t *node)
{
	yaml_node_item_t *item;
	char field[32];
	int i = 0, err;

	if (node->type == YAML_SCALAR_NODE) {
		const char *v = (const char *)node->data.scalar.value;

		if (strcmp(v, "none"))
			return cfg_error(p, node, "linkScan",
					 "expected 'none' or a sequence of absolute directories, "
					 "got '%s'",
					 v);
		return add_link_scan(p, cfg, node, "linkScan");
	}
	if (node->type != YAML_SEQUENCE_NODE)
		return cfg_error(p, node, "linkScan",
				 "expected 'none' or a sequence of absolute directories, got %s",
				 node_kind(node));
	for (item = node->data.sequence.items.start; item < node->data.sequence.items.top;
	     item++, i++) {
		snprintf(field, sizeof(field), "linkScan[%d]", i);
		err = add_link_scan(p, cfg, yaml_document_get_node(p->doc, *item), field);
		if (err)
			return err;
	}
	if (!i)
		return cfg_error(p, node, "linkScan",
				 "an empty list (write 'none' to look for links nowhere)");
	return 0;
}

static int parse_bool(struct cfg_parse *p, const yaml_node_t *node, const char *field, bool *out)
{
	const char *v;

	if (node->type != YAML_SCALAR_NODE)
		return cfg_error(p, node, field, "expected true or false, got %s", node_kind(node));
	v = (const char *)node->data.scalar.value;
	if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp(v, "true"))
		*out = true;
	else if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp(v, "false"))
		*out = false;
	else
		return cfg_error(p, node, field, "expected true or false, got '%s'", v);
	return 0;
}

static int expect_value(struct cfg_parse *p, const yaml_node_t *node, const char *field,
			const char *want)
{
	const char *v;
	int err = node_string(p, node, field, &v);

	if (err)
		return err;
	if (strcmp(v, want))
		return cfg_error(p, node, field, "expected '%s', got '%s'", want, v);
	return 0;
}

enum cfg_field {
	F_API_VERSION,
	F_KIND,
	F_WATCH,
	F_EVENTS,
	F_SOCKET,
	F_CGROUP_ROOT,
	F_RULES,
	F_HOME,
	F_WORKSPACE,
	F_REQUIRE_ENFORCEMENT,
	F_LINK_SCAN,
	F__COUNT,
};

static const char *const field_names[F__COUNT] = {
	[F_API_VERSION] = "apiVersion",
	[F_KIND] = "kind",
	[F_WATCH] = "watch",
	[F_EVENTS] = "events",
	[F_SOCKET] = "socket",
	[F_CGROUP_ROOT] = "cgroupRoot",
	[F_RULES] = "rules",
	[F_HOME] = "home",
	[F_WORKSPACE] = "workspace",
	[F_REQUIRE_ENFORCEMENT] = "requireEnforcement",
	[F_LINK_SCAN] = "linkScan",
};

static int parse_root(struct cfg_parse *p, struct config *cfg, const yaml_node_t *root)
{
	bool seen[F__COUNT] = {};
	yaml_node_pair_t *pair;
	int f, err;

	if (root->type != YAML_MAPPING_NODE)
		return cfg_error(p, root, NULL,
				 "expected a mapping with apiVersion and kind, got %s",
				 node_kind(root));
	for (pair = root->data.mapping.pairs.start; pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = yaml_document_get_node(p->doc, pair->key);
		yaml_node_t *val = yaml_document_get_node(p->doc, pair->value);
		const char *name;

		if (key->type != YAML_SCALAR_NODE)
			return cfg_error(p, key, NULL, "expected a field name, got %s",
					 node_kind(key));
		name = (const char *)key->data.scalar.value;
		for (f = 0; f < F__COUNT; f++)
			if (!strcmp(name, field_names[f]))
				break;
		if (f == F__COUNT)
			return cfg_error(p, key, name,
					 "unknown field (known: apiVersion, kind, "
					 "watch, events, socket, cgroupRoot, rules, home, "
					 "workspace, requireEnforcement, linkScan)");
		if (seen[f])
			return cfg_error(p, key, name, "duplicate field");
		seen[f] = true;
		switch (f) {
		case F_API_VERSION:
			err = expect_value(p, val, name, CONFIG_API_VERSION);
			break;
		case F_KIND:
			err = expect_value(p, val, name, CONFIG_KIND);
			break;
		case F_WATCH:
			err = parse_watch(p, cfg, val);
			break;
		case F_EVENTS:
			err = set_string(p, val, name, &cfg->events);
			if (!err && strcmp(cfg->events, "-") && cfg->events[0] != '/')
				err = cfg_error(p, val, name,
						"expected an absolute path or -, got '%s'",
						cfg->events);
			break;
		case F_SOCKET:
			err = set_abs_path(p, val, name, &cfg->socket);
			break;
		case F_CGROUP_ROOT:
			err = set_abs_path(p, val, name, &cfg->cgroup_root);
			break;
		case F_RULES:
			err = parse_rules(p, cfg, val);
			break;
		case F_HOME:
			err = set_abs_path(p, val, name, &cfg->home);
			break;
		case F_WORKSPACE:
			err = set_abs_path(p, val, name, &cfg->workspace);
			break;
		case F_LINK_SCAN:
			err = parse_link_scan(p, cfg, val);
			break;
		default:
			err = parse_bool(p, val, name, &cfg->require_enforcement);
			break;
		}
		if (err)
			return err;
	}
	if (!seen[F_API_VERSION])
		return cfg_error(p, root, "apiVersion", "missing (want '%s')", CONFIG_API_VERSION);
	if (!seen[F_KIND])
		return cfg_error(p, root, "kind", "missing (want '%s')", CONFIG_KIND);
	return 0;
}

static int yaml_error(struct cfg_parse *p, const yaml_parser_t *parser)
{
	yaml_node_t at = {.start_mark = parser->problem_mark};

	if (parser->context)
		return cfg_error(p, &at, NULL, "YAML: %s %s",
				 parser->problem ? parser->problem : "syntax error",
				 parser->context);
	return cfg_error(p, &at, NULL, "YAML: %s",
			 parser->problem ? parser->problem : "syntax error");
}

int config__parse(struct config *out, const char *name, const char *text, size_t len, char *err,
		  size_t errlen)
{
	struct config cfg = {};
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	struct cfg_parse p = {.name = name, .doc = &doc, .err = err, .errlen = errlen};
	yaml_node_t *root;
	int ret;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		ret = yaml_error(&p, &parser);
		goto out_parser;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		ret = cfg_error(&p, NULL, NULL, "empty config (want apiVersion: %s, kind: %s)",
				CONFIG_API_VERSION, CONFIG_KIND);
		goto out_doc;
	}
	ret = parse_root(&p, &cfg, root);
	if (ret)
		goto out_doc;
	/* One document per file: a second one would be silently ignored otherwise. */
	if (!yaml_parser_load(&parser, &extra)) {
		ret = yaml_error(&p, &parser);
		goto out_doc;
	}
	if (yaml_document_get_root_node(&extra)) {
		yaml_node_t at = {.start_mark = extra.start_mark};

		ret = cfg_error(&p, &at, NULL, "more than one YAML document");
	}
	yaml_document_delete(&extra);
out_doc:
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	if (ret)
		config__free(&cfg);
	else
		*out = cfg;
	return ret;
}

int config__load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f, *mem;
	char buf[4096];
	size_t n;
	int ret = 0;

	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	mem = open_memstream(&text, &len);
	if (!mem) {
		fclose(f);
		return -ENOMEM;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, mem);
	if (ferror(f)) {
		ret = -EIO;
		snprintf(err, errlen, "%s: read error", path);
	}
	fclose(f);
	if (fclose(mem) && !ret)
		ret = -ENOMEM;
	if (!ret)
		ret = config__parse(cfg, path, text, len, err, errlen);
	free(text);
	return ret;
}

int config__add_watch(struct config *cfg, const char *glob, char *err, size_t errlen)
{
	int ret;

	if (cfg->n_watch == CONFIG_MAX_WATCH) {
		snprintf(err, errlen, "more than %d watch globs", CONFIG_MAX_WATCH);
		return -E2BIG;
	}
	ret = selector__compile(glob, &cfg->watch[cfg->n_watch], err, errlen);
	if (ret)
		return ret;
	cfg->n_watch++;
	return 0;
}

void config__clear_watch(struct config *cfg)
{
	while (cfg->n_watch)
		selector__free(&cfg->watch[--cfg->n_watch]);
}

int config__add_rules(struct config *cfg, const char *path)
{
	if (cfg->n_rules == CONFIG_MAX_RULES)
		return -E2BIG;
	cfg->rules[cfg->n_rules] = strdup(path);
	if (!cfg->rules[cfg->n_rules])
		return -ENOMEM;
	cfg->n_rules++;
	return 0;
}

void config__clear_rules(struct config *cfg)
{
	while (cfg->n_rules)
		free(cfg->rules[--cfg->n_rules]);
}

int config__set_link_scan(struct config *cfg, const struct policy_link_scan *s)
{
	clear_link_scan(cfg);
	cfg->link_scan.set = s->set;
	cfg->link_scan.none = s->none;
	for (int i = 0; i < s->n; i++) {
		if (!(cfg->link_scan.dirs[i] = strdup(s->dirs[i]))) {
			clear_link_scan(cfg);
			return -ENOMEM;
		}
		cfg->link_scan.n = i + 1;
	}
	return 0;
}

void config__free(struct config *cfg)
{
	clear_link_scan(cfg);
	config__clear_watch(cfg);
	config__clear_rules(cfg);
	free(cfg->home);
	free(cfg->workspace);
	free(cfg->events);
	free(cfg->socket);
	free(cfg->cgroup_root);
	memset(cfg, 0, sizeof(*cfg));
}

bool config__watches(const struct config *cfg, const char *path)
{
	int i;

	for (i = 0; i < cfg->n_watch; i++)
		if (selector__match(&cfg->watch[i], path))
			return true;
	return false;
}

/* The glob's text before its first wildcard, with '/' runs squeezed and a trailing '/' cut. */
static void literal_prefix(const char *glob, char *out, size_t size)
{
	size_t n = 0;

	for (; *glob && n + 1 < size; glob++) {
		if (*glob == '*' || *glob == '?' || *glob == '[')
			break;
		if (*glob == '\\') {
			if (!glob[1])
				break;
			glob++;
		} else if (*glob == '/' && n && out[n - 1] == '/') {
			continue;
		}
		out[n++] = *glob;
	}
	if (n > 1 && out[n - 1] == '/')
		n--;
	out[n] = '\0';
}

static size_t common_prefix(const char *a, const char *b)
{
	size_t n = 0;

	while (a[n] && a[n] == b[n])
		n++;
	return n;
}

/* Drop every prefix that another one starts; n afterwards. */
static int drop_covered(char out[][AW_WATCH_PREFIX_LEN], int n)
{
	int i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < n; j++) {
			if (i == j || strncmp(out[i], out[j], strlen(out[j])))
				continue;
			/* out[j] covers out[i] (equal ones: keep the first) */
			if (strlen(out[j]) < strlen(out[i]) || j < i) {
				memmove(out[i], out[n - 1], AW_WATCH_PREFIX_LEN);
				n--;
				i = -1;
				break;
			}
		}
	}
	return n;
}

int config__watch_prefixes(const struct config *cfg, const char *mount,
			   char out[AW_WATCH_PREFIXES][AW_WATCH_PREFIX_LEN], char *err,
			   size_t errlen)
{
	char all[CONFIG_MAX_WATCH][AW_WATCH_PREFIX_LEN];
	size_t mlen = strlen(mount);
	char lit[SELECTOR_GLOB_MAX + 1];
	int i, j, n = 0, bi = 0, bj = 1;

	while (mlen > 1 && mount[mlen - 1] == '/')
		mlen--;
	if (mlen == 1)
		mlen = 0; /* the mount is "/": every absolute path is under it */
	for (i = 0; i < cfg->n_watch; i++) {
		const char *rel;

		literal_prefix(cfg->watch[i].glob, lit, sizeof(lit));
		if (!strncmp(lit, mount, mlen) && (lit[mlen] == '/' || !lit[mlen]))
			rel = lit[mlen] ? lit + mlen : "/";
		else if (!strncmp(mount, lit, strlen(lit)))
			rel = "/"; /* the wildcard is in the mount's own path */
		else {
			snprintf(err, errlen,
				 "watch glob '%s' is not under the cgroup v2 mount '%.*s'",
				 cfg->watch[i].glob, (int)mlen, mount);
			return -EINVAL;
		}
		snprintf(all[n++], AW_WATCH_PREFIX_LEN, "%s", rel);
	}
	n = drop_covered(all, n);
	while (n > AW_WATCH_PREFIXES) {
		size_t best = 0;

		for (i = 0; i < n; i++)
			for (j = i + 1; j < n; j++)
				if (common_prefix(all[i], all[j]) >= best) {
					best = common_prefix(all[i], all[j]);
					bi = i;
					bj = j;
				}
		all[bi][best] = '\0';
		memmove(all[bj], all[n - 1], AW_WATCH_PREFIX_LEN);
		n = drop_covered(all, n - 1);
	}
	for (i = 0; i < n; i++)
		memcpy(out[i], all[i], AW_WATCH_PREFIX_LEN);
	return n;
}
