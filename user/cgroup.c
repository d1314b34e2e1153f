// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cgroup.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo; decode in place. */
static void unescape_octal(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

/*
 * A mountinfo line: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=..."
 * Field 5 is the mount point; the filesystem type follows the " - " separator.
 */
static int parse_line(char *line, struct cgroup_mounts *m)
{
	char *sep, *mnt, *fstype, *save = NULL;
	int i;

	sep = strstr(line, " - ");
	if (!sep)
		return -EINVAL;
	*sep = '\0';
	fstype = strtok_r(sep + 3, " \n", &save);
	if (!fstype)
		return -EINVAL;

	save = NULL;
	mnt = strtok_r(line, " ", &save);
	for (i = 0; mnt && i < 4; i++)
		mnt = strtok_r(NULL, " ", &save);
	if (!mnt)
		return -EINVAL;

	if (strcmp(fstype, "cgroup") == 0) {
		m->v1 = true;
	} else if (strcmp(fstype, "cgroup2") == 0 && m->n_v2 < CGROUP_MAX_MOUNTS) {
		unescape_octal(mnt);
		snprintf(m->v2[m->n_v2++], sizeof(m->v2[0]), "%s", mnt);
	}
	return 0;
}

int cgroup__parse_mountinfo(FILE *f, struct cgroup_mounts *m)
{
	char line[4 * PATH_MAX];

	memset(m, 0, sizeof(*m));
	while (fgets(line, sizeof(line), f)) {
		int err = parse_line(line, m);

		if (err)
			return err;
	}
	return ferror(f) ? -EIO : 0;
}

int cgroup__find_mounts(struct cgroup_mounts *m)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int err;

	if (!f)
		return -errno;
	err = cgroup__parse_mountinfo(f, m);
	fclose(f);
	return err;
}

const char *cgroup__layout(const struct cgroup_mounts *m)
{
	if (m->n_v2 && m->v1)
		return "hybrid";
	if (m->n_v2)
		return "unified";
	return m->v1 ? "legacy" : "none";
}
