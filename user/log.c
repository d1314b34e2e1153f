// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "log.h"

static bool verbose;

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warning",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	if (level == LOG_DEBUG && !verbose)
		return;
	fprintf(stderr, "agentwatch: %s: ", level_names[level]);
	vfprintf(stderr, fmt, ap);
	if (fmt[0] && fmt[strlen(fmt) - 1] != '\n')
		fputc('\n', stderr);
}

void log__msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

int log_errno(int err, const char *fmt, ...)
{
	va_list ap;

	if (err < 0)
		err = -err;
	va_start(ap, fmt);
	fprintf(stderr, "agentwatch: error: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, ": %s\n", strerror(err));
	va_end(ap);
	return -err;
}

/* libbpf prints warnings for every failed probe load; they are debug detail to us. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!verbose)
		return 0;
	fprintf(stderr, "agentwatch: ");
	return vfprintf(stderr, fmt, ap);
}

void log__init(bool want_verbose)
{
	verbose = want_verbose;
	libbpf_set_print(libbpf_print);
}

bool log__verbose(void)
{
	return verbose;
}
