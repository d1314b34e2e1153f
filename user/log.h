/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The project logger. A line leads with the object it concerns ("map 'file_rules': ...").
 * libbpf's own output is routed here too (log__init), shown only with -v/--verbose.
 */
#ifndef AGENTWATCH_LOG_H
#define AGENTWATCH_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

void log__init(bool verbose);
bool log__verbose(void);
void log__msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log__msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log__msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log__msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log__msg(LOG_DEBUG, __VA_ARGS__)

/*
 * Log "<what>: <strerror(err)>" at error level and return -err, so a failure path is one line:
 *	return log_errno(errno, "cgroup '%s': mkdir", path);
 * err may be given positive or negative.
 */
int log_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* AGENTWATCH_LOG_H */
