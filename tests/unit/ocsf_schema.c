// SPDX-License-Identifier: Apache-2.0
/*
 * OCSF schema validator for tests; see ocsf_schema.h. Included by the test that uses it, so every
 * function is static.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ocsf_schema.h"

#define OCSF_SCHEMA_DIR "tests/ocsf/schema-1.8.0"

static void report_add(struct ocsf_report *r, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report_add(struct ocsf_report *r, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	r->errors++;
	if (r->len >= sizeof(r->text) - 1)
		return;
	n = snprintf(r->text + r->len, sizeof(r->text) - r->len,
		     "%s: ", path[0] ? path : "(event)");
	if (n > 0)
		r->len = r->len + (size_t)n < sizeof(r->text) ? r->len + (size_t)n
							      : sizeof(r->text) - 1;
	va_start(ap, fmt);
	n = vsnprintf(r->text + r->len, sizeof(r->text) - r->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->len = r->len + (size_t)n < sizeof(r->text) ? r->len + (size_t)n
							      : sizeof(r->text) - 1;
	if (r->len < sizeof(r->text) - 1)
		r->text[r->len++] = '\n';
	r->text[r->len] = '\0';
}

static bool is_dir(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

#define PATH_LEN 512

/* "path.key" or "path[i]", cut short if it must be: it only labels an error. */
static void member_path(char *dst, const char *path, const char *key)
{
	if (snprintf(dst, PATH_LEN, "%s%s%s", path, path[0] ? "." : "", key) >= PATH_LEN)
		dst[PATH_LEN - 1] = '\0';
}

static void index_path(char *dst, const char *path, size_t i)
{
	if (snprintf(dst, PATH_LEN, "%s[%zu]", path, i) >= PATH_LEN)
		dst[PATH_LEN - 1] = '\0';
}

static const char *ocsf_schema__locate(char *buf, size_t size)
{
	const char *env = getenv("AW_OCSF_SCHEMA");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && env[0]) {
		snprintf(buf, size, "%s", env);
		return is_dir(buf) ? buf : NULL;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(buf, size, "%s/../../../%s", dirname(exe), OCSF_SCHEMA_DIR);
		if (is_dir(buf))
			return buf;
	}
	snprintf(buf, size, "%s", OCSF_SCHEMA_DIR);
	return is_dir(buf) ? buf : NULL;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *get_string(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* A schema file by path relative to the root, parsed once and kept. */
static json_object *schema_file(struct ocsf_schema *s, const char *rel)
{
	json_object *doc = get(s->files, rel);
	char path[PATH_MAX * 2];

	if (doc)
		return doc;
	snprintf(path, sizeof(path), "%s/%s", s->root, rel);
	doc = json_object_from_file(path);
	if (!doc)
		return NULL;
	json_object_object_add(s->files, rel, doc);
	return doc;
}

static int scan_events(struct ocsf_schema *s, const char *rel)
{
	char path[PATH_MAX * 2], sub[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	int err = 0;

	snprintf(path, sizeof(path), "%s/%s", s->root, rel);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while (!err && (de = readdir(dir))) {
		size_t len = strlen(de->d_name);
		json_object *doc;
		const char *name;

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name);
		snprintf(path, sizeof(path), "%s/%s", s->root, sub);
		if (is_dir(path)) {
			err = scan_events(s, sub);
			continue;
		}
		if (len < 5 || strcmp(de->d_name + len - 5, ".json"))
			continue;
		doc = schema_file(s, sub);
		name = get_string(doc, "name");
		if (!doc || !name) {
			err = -EINVAL;
			break;
		}
		json_object_object_add(s->classes, name, json_object_get(doc));
	}
	closedir(dir);
	return err;
}

/* The category uid of a class: its own "category" or the nearest parent's. */
static int class_category(struct ocsf_schema *s, json_object *cls)
{
	int depth;

	for (depth = 0; cls && depth < 16; depth++) {
		const char *cat = get_string(cls, "category");
		const char *parent;

		if (cat) {
			json_object *c = get(get(s->categories, cat), "uid");

			return c ? json_object_get_int(c) : 0; /* "other": the base event */
		}
		parent = get_string(cls, "extends");
		cls = parent ? get(s->classes, parent) : NULL;
	}
	return -1;
}

static int ocsf_schema__open(struct ocsf_schema *s, const char *root)
{
	json_object *dict, *cats;
	int err;

	memset(s, 0, sizeof(*s));
	snprintf(s->root, sizeof(s->root), "%s", root);
	s->files = json_object_new_object();
	s->classes = json_object_new_object();
	s->class_names = json_object_new_object();
	s->resolved = json_object_new_object();
	dict = schema_file(s, "dictionary.json");
	cats = schema_file(s, "categories.json");
	if (!dict || !cats)
		return -ENOENT;
	s->dictionary = get(dict, "attributes");
	s->types = get(get(dict, "types"), "attributes");
	s->categories = get(cats, "attributes");
	err = scan_events(s, "events");
	if (err)
		return err;

	json_object_object_foreach (s->classes, name, cls) {
		json_object *uid = get(cls, "uid");
		int cat = class_category(s, cls);
		char key[32];

		if (!uid)
			continue; /* an abstract parent such as "system" */
		if (cat < 0)
			return -EINVAL;
		snprintf(key, sizeof(key), "%d", cat * 1000 + json_object_get_int(uid));
		json_object_object_add(s->class_names, key, json_object_new_string(name));
	}
	return 0;
}

static void ocsf_schema__close(struct ocsf_schema *s)
{
	json_object_put(s->resolved);
	json_object_put(s->class_names);
	json_object_put(s->classes);
	json_object_put(s->files);
	memset(s, 0, sizeof(*s));
}

/* --- resolving a class or an object into one attribute map --------------------------------- */

/* Merge one attribute definition into `attrs`; a later definition overrides, enums add up. */
static void merge_attribute(json_object *attrs, const char *name, json_object *def,
			    const char *profile)
{
	json_object *cur = get(attrs, name);

	if (!cur) {
		cur = json_object_new_object();
		json_object_object_add(attrs, name, cur);
		if (profile)
			json_object_object_add(cur, "_profile", json_object_new_string(profile));
	}
	json_object_object_foreach (def, key, val) {
		if (!strcmp(key, "enum") && json_object_is_type(val, json_type_object)) {
			json_object *en = get(cur, "enum");

			if (!en) {
				en = json_object_new_object();
				json_object_object_add(cur, "enum", en);
			}
			json_object_object_foreach (val, id, item) {
				json_object_object_add(en, id, json_object_get(item));
			}
		} else if (!strcmp(key, "profile")) {
			/* "profile": null makes a profile's attribute the class's own. */
			if (!val)
				json_object_object_del(cur, "_profile");
		} else {
			json_object_object_add(cur, key, json_object_get(val));
		}
	}
}

static int merge_block(struct ocsf_schema *s, json_object *attrs, json_object *block)
{
	json_object *inc = get(block, "$include");
	size_t i;

	if (!block)
		return 0;
	for (i = 0; inc && i < json_object_array_length(inc); i++) {
		const char *rel = json_object_get_string(json_object_array_get_idx(inc, i));
		json_object *prof = schema_file(s, rel);
		const char *pname = get_string(prof, "name");

		if (!prof || !pname || !get(prof, "attributes"))
			return -ENOENT;
		json_object_object_foreach (get(prof, "attributes"), name, def) {
			merge_attribute(attrs, name, def, pname);
		}
	}
	json_object_object_foreach (block, name, def) {
		if (strcmp(name, "$include"))
			merge_attribute(attrs, name, def, NULL);
	}
	return 0;
}

/*
 * {"attributes": {...}, "constraints": {...}} for a class ("class") or an object ("object"),
 * merged along `extends`, base first; the nearest "constraints" wins. NULL if a file is missing.
 */
static json_object *resolve(struct ocsf_schema *s, const char *kind, const char *name)
{
	json_object *chain[16], *res, *attrs, *constraints = NULL;
	char key[256], rel[PATH_MAX];
	int n = 0, i;

	snprintf(key, sizeof(key), "%s:%s", kind, name);
	res = get(s->resolved, key);
	if (res)
		return res;
	while (name && strcmp(name, "object") && n < 16) {
		json_object *doc;

		if (!strcmp(kind, "class")) {
			doc = get(s->classes, name);
		} else {
			snprintf(rel, sizeof(rel), "objects/%s.json", name);
			doc = schema_file(s, rel);
		}
		if (!doc)
			return NULL;
		chain[n++] = doc;
		name = get_string(doc, "extends");
	}
	res = json_object_new_object();
	attrs = json_object_new_object();
	json_object_object_add(res, "attributes", attrs);
	for (i = n - 1; i >= 0; i--) {
		if (merge_block(s, attrs, get(chain[i], "attributes"))) {
			json_object_put(res);
			return NULL;
		}
		if (get(chain[i], "constraints"))
			constraints = get(chain[i], "constraints");
	}
	if (constraints)
		json_object_object_add(res, "constraints", json_object_get(constraints));
	json_object_object_add(s->resolved, key, res);
	return res;
}

/* --- checking values ----------------------------------------------------------------------- */

struct walk {
	struct ocsf_schema *s;
	struct ocsf_report *r;
	json_object *profiles; /* metadata.profiles of the event */
};

static bool profile_applied(struct walk *w, const char *profile)
{
	size_t i;

	for (i = 0; w->profiles && i < json_object_array_length(w->profiles); i++)
		if (!strcmp(json_object_get_string(json_object_array_get_idx(w->profiles, i)),
			    profile))
			return true;
	return false;
}

static void check_object(struct walk *w, const char *path, json_object *obj, json_object *res);

/* A scalar type's chain down to a base type (port_t -> integer_t), checking each level. */
static void check_scalar(struct walk *w, const char *path, const char *type, json_object *v)
{
	int depth;

	for (depth = 0; type && depth < 8; depth++) {
		json_object *t = get(w->s->types, type), *range = get(t, "range"),
			    *max_len = get(t, "max_len");

		if (!t) {
			report_add(w->r, path, "unknown type '%s'", type);
			return;
		}
		if (!strcmp(type, "string_t")) {
			if (!json_object_is_type(v, json_type_string))
				report_add(w->r, path, "want a string");
		} else if (!strcmp(type, "integer_t")) {
			int64_t i = json_object_get_int64(v);

			if (!json_object_is_type(v, json_type_int) || i < INT32_MIN ||
			    i > INT32_MAX)
				report_add(w->r, path, "want a 32-bit integer");
		} else if (!strcmp(type, "long_t")) {
			if (!json_object_is_type(v, json_type_int))
				report_add(w->r, path, "want a long integer");
		} else if (!strcmp(type, "float_t")) {
			if (!json_object_is_type(v, json_type_double) &&
			    !json_object_is_type(v, json_type_int))
				report_add(w->r, path, "want a number");
		} else if (!strcmp(type, "boolean_t")) {
			if (!json_object_is_type(v, json_type_boolean))
				report_add(w->r, path, "want a boolean");
		} else if (!strcmp(type, "ip_t") && json_object_is_type(v, json_type_string)) {
			unsigned char addr[16];
			const char *ip = json_object_get_string(v);

			if (inet_pton(AF_INET, ip, addr) != 1 && inet_pton(AF_INET6, ip, addr) != 1)
				report_add(w->r, path, "'%s' is not an IP address", ip);
		}
		if (range && json_object_is_type(v, json_type_int)) {
			int64_t i = json_object_get_int64(v);

			if (i < json_object_get_int64(json_object_array_get_idx(range, 0)) ||
			    i > json_object_get_int64(json_object_array_get_idx(range, 1)))
				report_add(w->r, path, "%lld out of range", (long long)i);
		}
		if (max_len && json_object_is_type(v, json_type_string) &&
		    json_object_get_string_len(v) > json_object_get_int(max_len))
			report_add(w->r, path, "longer than %d", json_object_get_int(max_len));
		type = get_string(t, "type");
	}
}

static void check_one(struct walk *w, const char *path, const char *type, json_object *v)
{
	json_object *res;

	if (!strcmp(type, "object") || !strcmp(type, "json_t")) {
		if (!strcmp(type, "object") && !json_object_is_type(v, json_type_object))
			report_add(w->r, path, "want an object");
		return; /* free-form */
	}
	if (strlen(type) > 2 && !strcmp(type + strlen(type) - 2, "_t")) {
		check_scalar(w, path, type, v);
		return;
	}
	if (!json_object_is_type(v, json_type_object)) {
		report_add(w->r, path, "want a '%s' object", type);
		return;
	}
	res = resolve(w->s, "object", type);
	if (!res) {
		report_add(w->r, path, "object '%s' is not in the schema files", type);
		return;
	}
	check_object(w, path, v, res);
}

static void check_enum(struct walk *w, const char *path, const char *name, json_object *def,
		       json_object *dict, json_object *v, json_object *parent)
{
	json_object *en = get(def, "enum"), *den = get(dict, "enum"), *item;
	const char *sibling = get_string(dict, "sibling"), *caption;
	char id[32];

	/* The schema compiler generates these two enums from the classes and categories; the
	 * validator checks them against the resolved class instead. */
	if ((!en && !den) || !strcmp(name, "class_uid") || !strcmp(name, "category_uid"))
		return;
	if (!json_object_is_type(v, json_type_int)) {
		report_add(w->r, path, "enum value is not an integer");
		return;
	}
	snprintf(id, sizeof(id), "%lld", (long long)json_object_get_int64(v));
	item = get(en, id);
	if (!item)
		item = get(den, id);
	if (!item) {
		report_add(w->r, path, "%s is not in the enum of '%s'", id, name);
		return;
	}
	/* The caption sibling (activity_name, status, ...) names the same value, except Other. */
	caption = sibling ? get_string(parent, sibling) : NULL;
	if (caption && strcmp(id, "99") && strcmp(caption, get_string(item, "caption")))
		report_add(w->r, path, "%s is '%s' but %s says '%s'", id,
			   get_string(item, "caption"), sibling, caption);
}

static void check_attribute(struct walk *w, const char *path, const char *name, json_object *def,
			    json_object *v, json_object *parent)
{
	json_object *dict = get(w->s->dictionary, name), *arr;
	const char *type = get_string(def, "type");
	bool is_array;
	size_t i;

	if (!type)
		type = get_string(dict, "type");
	arr = get(def, "is_array") ? get(def, "is_array") : get(dict, "is_array");
	is_array = arr && json_object_get_boolean(arr);
	if (!type) {
		report_add(w->r, path, "'%s' has no type in the dictionary", name);
		return;
	}
	if (get(def, "@deprecated") || get(dict, "@deprecated"))
		report_add(w->r, path, "'%s' is deprecated", name);
	if (!is_array) {
		check_one(w, path, type, v);
		check_enum(w, path, name, def, dict, v, parent);
		return;
	}
	if (!json_object_is_type(v, json_type_array)) {
		report_add(w->r, path, "want an array");
		return;
	}
	for (i = 0; i < json_object_array_length(v); i++) {
		char sub[PATH_LEN];

		index_path(sub, path, i);
		check_one(w, sub, type, json_object_array_get_idx(v, i));
	}
}

static void check_constraints(struct walk *w, const char *path, json_object *obj, json_object *c)
{
	json_object *list;
	size_t i, found = 0;

	if ((list = get(c, "at_least_one"))) {
		for (i = 0; i < json_object_array_length(list); i++)
			if (get(obj, json_object_get_string(json_object_array_get_idx(list, i))))
				found++;
		if (!found)
			report_add(w->r, path, "needs at least one of %s",
				   json_object_to_json_string(list));
	}
	found = 0;
	if ((list = get(c, "just_one"))) {
		for (i = 0; i < json_object_array_length(list); i++)
			if (get(obj, json_object_get_string(json_object_array_get_idx(list, i))))
				found++;
		if (found != 1)
			report_add(w->r, path, "needs exactly one of %s",
				   json_object_to_json_string(list));
	}
}

static void check_object(struct walk *w, const char *path, json_object *obj, json_object *res)
{
	json_object *attrs = get(res, "attributes");
	char sub[PATH_LEN];

	json_object_object_foreach (attrs, name, def) {
		const char *prof = get_string(def, "_profile");
		const char *req = get_string(def, "requirement");

		if (req && !strcmp(req, "required") && (!prof || profile_applied(w, prof)) &&
		    !get(obj, name)) {
			member_path(sub, path, name);
			report_add(w->r, sub, "required attribute missing");
		}
	}
	json_object_object_foreach (obj, key, val) {
		json_object *def = get(attrs, key);
		const char *prof = get_string(def, "_profile");

		member_path(sub, path, key);
		if (!def) {
			report_add(w->r, sub, "not an attribute here");
			continue;
		}
		if (prof && !profile_applied(w, prof))
			report_add(w->r, sub, "needs profile '%s' in metadata.profiles", prof);
		if (!val) {
			report_add(w->r, sub, "null");
			continue;
		}
		check_attribute(w, sub, key, def, val, obj);
	}
	check_constraints(w, path, obj, get(res, "constraints"));
}

static int ocsf_schema__validate(struct ocsf_schema *s, json_object *event, struct ocsf_report *r)
{
	struct walk w = {.s = s, .r = r};
	json_object *cls, *uid = get(event, "class_uid"), *act = get(event, "activity_id");
	json_object *type_uid = get(event, "type_uid"), *cat = get(event, "category_uid");
	const char *name;
	char key[32];
	int category;

	memset(r, 0, sizeof(*r));
	if (!event || !json_object_is_type(event, json_type_object)) {
		report_add(r, "", "not a JSON object");
		return r->errors;
	}
	snprintf(key, sizeof(key), "%d", uid ? json_object_get_int(uid) : -1);
	name = get_string(s->class_names, key);
	cls = name ? resolve(s, "class", name) : NULL;
	if (!cls) {
		report_add(r, "class_uid", "no class %s in the schema files", key);
		return r->errors;
	}
	category = class_category(s, get(s->classes, name));
	if (!cat || json_object_get_int(cat) != category)
		report_add(r, "category_uid", "want %d for class %s", category, name);
	if (!act || !type_uid ||
	    json_object_get_int64(type_uid) !=
		    json_object_get_int64(uid) * 100 + json_object_get_int64(act))
		report_add(r, "type_uid", "want class_uid * 100 + activity_id");
	w.profiles = get(get(event, "metadata"), "profiles");
	check_object(&w, "", event, cls);
	return r->errors;
}
