// SPDX-License-Identifier: Apache-2.0
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "features.h"

static void test_lsm_list_contains(void **state)
{
	assert_true(lsm_list__contains("lockdown,capability,landlock,bpf", "bpf"));
	assert_true(lsm_list__contains("bpf", "bpf"));
	assert_true(lsm_list__contains("bpf,yama\n", "yama"));
	assert_false(lsm_list__contains("lockdown,capability,apparmor", "bpf"));
	assert_false(lsm_list__contains("bpfx,xbpf", "bpf"));
	assert_false(lsm_list__contains("", "bpf"));
}

static void set_probes(struct aw_features *f, const enum aw_probe_id *ok, int n)
{
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < n; i++)
		f->probes[ok[i]].ok = true;
}

/* This host: tracing and cgroup hooks work, BPF-LSM does not. */
static void test_capabilities_without_lsm(void **state)
{
	const enum aw_probe_id ok[] = {AW_PROBE_BTF, AW_PROBE_RINGBUF, AW_PROBE_TP_BTF,
				       AW_PROBE_RAW_TP, AW_PROBE_CGROUP_SOCK_ADDR};
	struct aw_capabilities caps;
	struct aw_features f;

	set_probes(&f, ok, 5);
	features__capabilities(&f, &caps);
	assert_string_equal(aw_level__name(caps.file), "unavailable");
	assert_string_equal(aw_level__name(caps.exec), "unavailable");
	assert_string_equal(aw_level__name(caps.network), "cgroup");
	assert_true(caps.syscall_observation);
	assert_true(caps.event_transport);
	assert_false(features__full_enforcement(&caps));
}

/* An LSM program that loads but never denies (bpf not in the LSM list) is not enforcement. */
static void test_lsm_loads_but_does_not_enforce(void **state)
{
	const enum aw_probe_id ok[] = {AW_PROBE_LSM_LOAD, AW_PROBE_LSM_BPRM,
				       AW_PROBE_LSM_SOCKET_CONNECT, AW_PROBE_RINGBUF,
				       AW_PROBE_TP_BTF};
	struct aw_capabilities caps;
	struct aw_features f;

	set_probes(&f, ok, 5);
	features__capabilities(&f, &caps);
	assert_int_equal(caps.file, AW_LEVEL_UNAVAILABLE);
	assert_int_equal(caps.network, AW_LEVEL_UNAVAILABLE);
}

static void test_full_lsm(void **state)
{
	const enum aw_probe_id ok[] = {AW_PROBE_LSM_LOAD,
				       AW_PROBE_LSM_ENFORCE,
				       AW_PROBE_LSM_BPRM,
				       AW_PROBE_LSM_SOCKET_CONNECT,
				       AW_PROBE_CGROUP_SOCK_ADDR,
				       AW_PROBE_RINGBUF,
				       AW_PROBE_RAW_TP};
	struct aw_capabilities caps;
	struct aw_features f;

	set_probes(&f, ok, 7);
	features__capabilities(&f, &caps);
	assert_string_equal(aw_level__name(caps.file), "lsm");
	assert_string_equal(aw_level__name(caps.exec), "lsm");
	assert_string_equal(aw_level__name(caps.network), "lsm");
	assert_true(features__full_enforcement(&caps));
}

static void test_probe_keys_are_unique(void **state)
{
	for (int i = 0; i < AW_PROBE__COUNT; i++)
		for (int j = i + 1; j < AW_PROBE__COUNT; j++)
			assert_string_not_equal(aw_probe__key(i), aw_probe__key(j));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lsm_list_contains),
		cmocka_unit_test(test_capabilities_without_lsm),
		cmocka_unit_test(test_lsm_loads_but_does_not_enforce),
		cmocka_unit_test(test_full_lsm),
		cmocka_unit_test(test_probe_keys_are_unique),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
