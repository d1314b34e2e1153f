/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event stream: decoded events get what only userspace knows (a node-unique event id,
 * wall-clock time, the enforcement level the kernel allows, ancestry), are encoded once as OCSF
 * JSON and handed to a sink. Also keeps per-agent counts for summaries.
 */
#ifndef AGENTWATCH_STREAM_H
#define AGENTWATCH_STREAM_H

#include <stdio.h>

#include "event.h"
#include "features.h"
#include "sink.h"

struct stream;

int stream__new(struct stream **out, struct sink *sink, const struct aw_capabilities *caps);
/* Where rule names come from (the policy in force); without it events carry no rule name. */
typedef const char *(*stream_rule_name_fn)(const void *ctx, __u32 rule_id);
void stream__set_rule_names(struct stream *s, stream_rule_name_fn fn, const void *ctx);
/* observe_event_fn: enrich, encode and write one event. */
void stream__on_event(const struct aw_event *ev, void *ctx);
/*
 * Write a policy load or reload event (ocsf.h, struct ocsf_policy_change): the stream gives it
 * its event id and time, and hands it to the sink with no decoded event (ev NULL).
 */
struct ocsf_policy_change;
int stream__policy_change(struct stream *s, struct ocsf_policy_change *pc);
int stream__flush(struct stream *s);
void stream__print_summary(const struct stream *s, FILE *out);
/* Events the encoder refused (too large, malformed); they reached no sink. */
__u64 stream__encode_errors(const struct stream *s);
void stream__free(struct stream *s);

/* The enforcement level an event of this type had on this kernel. */
enum aw_level stream__enforcement(const struct aw_capabilities *caps, __u8 type);

#endif /* AGENTWATCH_STREAM_H */
