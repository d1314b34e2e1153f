// SPDX-License-Identifier: Apache-2.0
/*
 * Policy lifecycle events in OCSF 1.8.0: the mapping is documented in ocsf.h
 * (struct ocsf_policy_change); tests/unit/test_ocsf.c validates them against the schema.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json_writer.h"
#include "ocsf.h"

enum {
	CATEGORY_APPLICATION = 6, /* categories.json "application" */
	CLASS_APPLICATION_LIFECYCLE =
		6002,	     /* events/application/application_lifecycle.json, uid 2 */
	ACTIVITY_UPDATE = 8, /* its activity_id "Update" */
	SEVERITY_INFORMATIONAL = 1,
	SEVERITY_HIGH = 4,
	STATUS_SUCCESS = 1,
	STATUS_FAILURE = 2,
};

/* The errors, one line each, as a JSON array of strings. */
static void write_error_lines(struct json_writer *w, const char *errors)
{
	const char *line = errors, *nl;

	json_writer__array_begin(w);
	while (line && *line) {
		nl = strchr(line, '\n');
		json_writer__string_len(w, line, nl ? (size_t)(nl - line) : strlen(line));
		line = nl ? nl + 1 : NULL;
	}
	json_writer__array_end(w);
}

int ocsf__encode_policy_change(const struct ocsf_policy_change *pc, const struct ocsf_ctx *ctx,
			       char *buf, size_t size)
{
	const char *errors = pc->errors && pc->errors[0] ? pc->errors : NULL;
	struct json_writer w;
	char gen[16], msg[160];
	int i;

	snprintf(gen, sizeof(gen), "%u", pc->generation);
	if (pc->ok)
		snprintf(msg, sizeof(msg), "policy generation %u in force (was %u)", pc->generation,
			 pc->previous_generation);
	else
		snprintf(msg, sizeof(msg), "policy reload failed; generation %u stays in force",
			 pc->generation);

	json_writer__init(&w, buf, size);
	json_writer__object_begin(&w);
	json_writer__kv_uint(&w, "activity_id", ACTIVITY_UPDATE);
	json_writer__kv_string(&w, "activity_name", "Update");
	json_writer__kv_uint(&w, "category_uid", CATEGORY_APPLICATION);
	json_writer__kv_string(&w, "category_name", "Application Activity");
	json_writer__kv_uint(&w, "class_uid", CLASS_APPLICATION_LIFECYCLE);
	json_writer__kv_string(&w, "class_name", "Application Lifecycle");
	json_writer__kv_uint(&w, "type_uid", CLASS_APPLICATION_LIFECYCLE * 100 + ACTIVITY_UPDATE);
	json_writer__kv_string(&w, "type_name", "Application Lifecycle: Update");
	json_writer__kv_uint(&w, "severity_id", pc->ok ? SEVERITY_INFORMATIONAL : SEVERITY_HIGH);
	json_writer__kv_string(&w, "severity", pc->ok ? "Informational" : "High");
	json_writer__kv_uint(&w, "status_id", pc->ok ? STATUS_SUCCESS : STATUS_FAILURE);
	json_writer__kv_string(&w, "status", pc->ok ? "Success" : "Failure");
	if (!pc->ok && errors)
		json_writer__kv_string(&w, "status_detail", errors);
	json_writer__kv_string(&w, "message", msg);
	json_writer__kv_uint(&w, "time", pc->wall_ns / 1000000);

	json_writer__key(&w, "metadata");
	json_writer__object_begin(&w);
	json_writer__fragment(&w, ctx->metadata.json, ctx->metadata.len);
	json_writer__key(&w, "uid");
	json_writer__uint_string(&w, pc->event_id);
	json_writer__object_end(&w);
	json_writer__fragment(&w, ctx->device, ctx->device_len);

	json_writer__key(&w, "app");
	json_writer__object_begin(&w);
	json_writer__kv_string(&w, "name", OCSF_PRODUCT_NAME);
	json_writer__kv_string(&w, "vendor_name", OCSF_PRODUCT_NAME);
	if (ctx->product_version[0])
		json_writer__kv_string(&w, "version", ctx->product_version);
	json_writer__key(&w, "feature");
	json_writer__object_begin(&w);
	json_writer__kv_string(&w, "name", "policy");
	json_writer__kv_string(&w, "version", gen);
	json_writer__object_end(&w);
	json_writer__object_end(&w);

	json_writer__key(&w, "unmapped");
	json_writer__object_begin(&w);
	json_writer__key(&w, "policy");
	json_writer__object_begin(&w);
	json_writer__kv_uint(&w, "generation", pc->generation);
	json_writer__kv_uint(&w, "previous_generation", pc->previous_generation);
	if (pc->trigger)
		json_writer__kv_string(&w, "trigger", pc->trigger);
	if (pc->agent)
		json_writer__kv_string(&w, "agent", pc->agent);
	json_writer__key(&w, "paths");
	json_writer__array_begin(&w);
	for (i = 0; i < pc->n_paths; i++)
		json_writer__string(&w, pc->paths[i]);
	json_writer__array_end(&w);
	if (!pc->ok) {
		json_writer__key(&w, "errors");
		write_error_lines(&w, errors);
	}
	json_writer__kv_uint(&w, "reload_failures", pc->reload_failures);
	json_writer__object_end(&w);
	if (w.replaced)
		json_writer__kv_bool(&w, "invalid_utf8", true);
	json_writer__object_end(&w);
	json_writer__object_end(&w);
	return json_writer__finish(&w);
}
