// SPDX-License-Identifier: Apache-2.0
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "cgroup.h"

static int parse(const char *text, struct cgroup_mounts *m)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int err;

	assert_non_null(f);
	err = cgroup__parse_mountinfo(f, m);
	fclose(f);
	return err;
}

static void test_hybrid_layout(void **state)
{
	struct cgroup_mounts m;

	assert_int_equal(parse("25 1 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
			       "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:5 - cgroup2 "
			       "cgroup2 rw\n"
			       "27 25 0:24 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n",
			       &m),
			 0);
	assert_int_equal(m.n_v2, 1);
	assert_string_equal(m.v2[0], "/sys/fs/cgroup/unified");
	assert_true(m.v1);
	assert_string_equal(cgroup__layout(&m), "hybrid");
}

static void test_unified_layout(void **state)
{
	struct cgroup_mounts m;

	assert_int_equal(parse("30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime "
			       "shared:4 master:1 - cgroup2 cgroup2 rw,nsdelegate\n",
			       &m),
			 0);
	assert_int_equal(m.n_v2, 1);
	assert_string_equal(m.v2[0], "/sys/fs/cgroup");
	assert_false(m.v1);
	assert_string_equal(cgroup__layout(&m), "unified");
}

/* Optional fields vary in number; spaces in mount points are escaped as \040. */
static void test_escaped_mount_point(void **state)
{
	struct cgroup_mounts m;

	assert_int_equal(parse("40 22 0:30 / /mnt/my\\040cgroups rw - cgroup2 none rw\n", &m), 0);
	assert_string_equal(m.v2[0], "/mnt/my cgroups");
}

static void test_no_cgroups(void **state)
{
	struct cgroup_mounts m;

	assert_int_equal(parse("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n", &m), 0);
	assert_int_equal(m.n_v2, 0);
	assert_string_equal(cgroup__layout(&m), "none");
}

static void test_malformed_line(void **state)
{
	struct cgroup_mounts m;

	assert_int_equal(parse("garbage without separator\n", &m), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hybrid_layout),	    cmocka_unit_test(test_unified_layout),
		cmocka_unit_test(test_escaped_mount_point), cmocka_unit_test(test_no_cgroups),
		cmocka_unit_test(test_malformed_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
