/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ring-buffer record -> struct aw_event. Pure: no BPF, no I/O, so a unit test can feed it any
 * bytes. Every length and offset in a record is checked against the record's size; strings are
 * copied out NUL-terminated into the decoder's own buffers, valid until the next decode.
 */
#ifndef AGENTWATCH_DECODE_H
#define AGENTWATCH_DECODE_H

#include <stddef.h>

#include "event.h"

struct decoder {
	char path[AW_PATH_MAX + 1];
	char argv[AW_ARGV_MAX + 1];
	char cwd[AW_PATH_MAX + 1];
	__u64 decoded;
	__u64 malformed; /* records rejected: bad version, size or string bounds */
};

/* 0, or -EINVAL for a malformed record and -EPROTONOSUPPORT for an unknown version or type. */
int decoder__decode(struct decoder *d, const void *data, size_t size, struct aw_event *ev);

#endif /* AGENTWATCH_DECODE_H */
