// SPDX-License-Identifier: Apache-2.0
#include "sink.h"

int sink__write(struct sink *s, const struct aw_event *ev, const char *json, size_t len)
{
	return s->ops->write(s, ev, json, len);
}

int sink__flush(struct sink *s)
{
	return s->ops->flush ? s->ops->flush(s) : 0;
}

int sink__reopen(struct sink *s)
{
	return s->ops->reopen ? s->ops->reopen(s) : 0;
}

void sink__close(struct sink *s)
{
	if (s)
		s->ops->close(s);
}

const char *sink__name(const struct sink *s)
{
	return s->ops->name;
}

void sink__stats(const struct sink *s, struct sink_stats *out)
{
	out->events = __atomic_load_n(&s->stats.events, __ATOMIC_RELAXED);
	out->bytes = __atomic_load_n(&s->stats.bytes, __ATOMIC_RELAXED);
	out->delivered = __atomic_load_n(&s->stats.delivered, __ATOMIC_RELAXED);
	out->dropped = __atomic_load_n(&s->stats.dropped, __ATOMIC_RELAXED);
	out->errors = __atomic_load_n(&s->stats.errors, __ATOMIC_RELAXED);
	out->reopens = __atomic_load_n(&s->stats.reopens, __ATOMIC_RELAXED);
}
