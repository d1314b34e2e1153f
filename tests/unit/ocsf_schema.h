/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A validator for OCSF events, driven by the schema's own JSON files (tests/ocsf/schema-1.8.0).
 * Tests only: it uses json-c and reads files.
 *
 * For an event it:
 *   - resolves the class by class_uid: the "uid" of a class file under events/ plus its
 *     category's uid * 1000, the category coming from the class or the nearest one it `extends`;
 *   - collects the class's attributes along `extends`, base first, with the attributes of each
 *     `$include`d profile; a profile's attribute is allowed only when metadata.profiles names the
 *     profile, unless a class re-declares it with "profile": null;
 *   - checks: every "required" attribute is present; no attribute is unknown or deprecated; each
 *     value has its dictionary type (string, integer in 32 bits, long, boolean, object, array,
 *     ranges such as port_t, an IP address for ip_t); an enum attribute holds a listed value
 *     (class and parents' enums plus the dictionary's) and its caption sibling, when present,
 *     matches; at_least_one / just_one constraints; category_uid and type_uid agree with the
 *     class;
 *   - does the same for every nested object against objects/<type>.json, walking its `extends`.
 *     Attributes of type "object" (unmapped) are free-form.
 *
 * This header is the interface; the implementation is ocsf_schema.c, which a test includes
 * (`#include "ocsf_schema.c"`) because the Makefile builds each tests/unit/test_*.c alone.
 */
#ifndef AGENTWATCH_TESTS_OCSF_SCHEMA_H
#define AGENTWATCH_TESTS_OCSF_SCHEMA_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

struct ocsf_schema {
	char root[PATH_MAX];
	json_object *dictionary;  /* dictionary.json "attributes" */
	json_object *types;	  /* dictionary.json "types"."attributes" */
	json_object *categories;  /* categories.json "attributes" */
	json_object *classes;	  /* class name -> its events/ file */
	json_object *class_names; /* "<class_uid>" -> class name */
	json_object *resolved;	  /* "class:<name>" / "object:<name>" -> merged attributes */
	json_object *files;	  /* relative path -> parsed file: every file read */
};

/* What went wrong, one "path: message" line each. */
struct ocsf_report {
	int errors;
	size_t len;
	char text[8192];
};

/*
 * Where the schema is: $AW_OCSF_SCHEMA, else tests/ocsf/schema-1.8.0 found from the test binary
 * (build/tests/unit/x -> ../../../tests/ocsf/...), else from the current directory. NULL if none.
 */
static const char *ocsf_schema__locate(char *buf, size_t size);
/* Returns 0 or -errno. */
static int ocsf_schema__open(struct ocsf_schema *s, const char *root);
static void ocsf_schema__close(struct ocsf_schema *s);
/* Validate one parsed event; returns the number of errors, described in `r`. */
static int ocsf_schema__validate(struct ocsf_schema *s, json_object *event, struct ocsf_report *r);

#endif /* AGENTWATCH_TESTS_OCSF_SCHEMA_H */
