// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "syscalls.h"

static const char *const names[AW_SYSCALL_MAX] = {
#include "syscall_names.h"
};

const char *syscalls__name(unsigned int nr)
{
	return nr < AW_SYSCALL_MAX ? names[nr] : NULL;
}

int syscalls__number(const char *name)
{
	int nr;

	for (nr = 0; nr < AW_SYSCALL_MAX; nr++)
		if (names[nr] && strcmp(names[nr], name) == 0)
			return nr;
	return -ENOENT;
}

int syscalls__parse_list(const char *list, struct aw_syscall_mask *mask, char *err, size_t errlen)
{
	const char *p = list;

	memset(mask, 0, sizeof(*mask));
	while (*p) {
		size_t len = strcspn(p, ",");
		char name[64];
		int nr;

		if (len == 0 || len >= sizeof(name)) {
			snprintf(err, errlen, "column %zu: expected a syscall name",
				 (size_t)(p - list) + 1);
			return -EINVAL;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		nr = syscalls__number(name);
		if (nr < 0) {
			snprintf(err, errlen, "column %zu: unknown syscall '%s'",
				 (size_t)(p - list) + 1, name);
			return -ENOENT;
		}
		mask->bits[nr / 64] |= 1ULL << (nr % 64);
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}
