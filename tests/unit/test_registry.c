// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "registry.h"

#define POD_UID	 "5f2d8c1e-3b4a-4c6d-9e8f-0a1b2c3d4e5f"
#define POD_UID_ "5f2d8c1e_3b4a_4c6d_9e8f_0a1b2c3d4e5f"
#define CTR_ID	 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define REL_POD_PATH \
	"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" POD_UID_ ".slice"
#define POD_PATH "/sys/fs/cgroup" REL_POD_PATH

static void test_uuid5_known_vector(void **state)
{
	char out[REGISTRY_UUID_LEN];

	/* RFC 9562's DNS namespace; Python's uuid.uuid5(NAMESPACE_DNS, "python.org"). */
	assert_int_equal(registry__uuid5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org", out),
			 0);
	assert_string_equal(out, "886313e1-3b8a-5372-9b90-0c9aee199e5d");
	/* More than one SHA-1 block of input. */
	assert_int_equal(registry__uuid5("6ba7b811-9dad-11d1-80b4-00c04fd430c8",
					 "https://example.com/a/rather/long/path/that/spans/more/"
					 "than/one/sixty-four/byte/block",
					 out),
			 0);
	assert_string_equal(out, "8001b723-4a54-5fab-b6ab-39caf86e4e8a");
	assert_int_equal(registry__uuid5("not-a-uuid", "x", out), -EINVAL);
}

static void test_uuid4(void **state)
{
	char a[REGISTRY_UUID_LEN], b[REGISTRY_UUID_LEN];

	registry__uuid4(a);
	registry__uuid4(b);
	assert_int_equal(strlen(a), 36);
	assert_int_equal(a[14], '4');
	assert_string_not_equal(a, b);
}

static void expect_uid(const struct aw_agent *a, const char *name)
{
	char want[REGISTRY_UUID_LEN];

	registry__uuid5(REGISTRY_UUID_NS, name, want);
	assert_string_equal(a->agent_uid, want);
}

static void test_identify_plain_cgroup(void **state)
{
	struct aw_agent a = {}, b = {};
	struct k8s_identity k;

	registry__identify("/sys/fs/cgroup", "/sys/fs/cgroup/agentwatch/claude-1", &a, &k);
	assert_string_equal(a.name, "claude-1");
	expect_uid(&a, "cgroup:/agentwatch/claude-1");
	assert_string_equal(k.pod_uid, "");
	/* The same cgroup under a hybrid layout's mount is the same agent. */
	registry__identify("/sys/fs/cgroup/unified/", "/sys/fs/cgroup/unified/agentwatch/claude-1",
			   &b, &k);
	assert_string_equal(a.agent_uid, b.agent_uid);
	registry__identify("/sys/fs/cgroup", "/sys/fs/cgroup", &a, &k);
	assert_string_equal(a.name, "root");
	expect_uid(&a, "cgroup:/");
}

static void test_identify_kubernetes(void **state)
{
	struct aw_agent a = {};
	struct k8s_identity k;

	registry__identify("/sys/fs/cgroup", POD_PATH, &a, &k);
	assert_string_equal(a.name, "pod-" POD_UID);
	expect_uid(&a, "pod:" POD_UID);
	assert_string_equal(k.pod_uid, POD_UID);
	assert_string_equal(k.qos, "burstable");

	registry__identify("/sys/fs/cgroup", POD_PATH "/cri-containerd-" CTR_ID ".scope", &a, &k);
	assert_string_equal(a.name, "pod-" POD_UID "/0123456789ab");
	expect_uid(&a, "container:" CTR_ID);
	assert_string_equal(k.container_id, CTR_ID);
	assert_string_equal(k.runtime, "containerd");

	/* Below the container's cgroup: named by path, but still that container's. */
	registry__identify("/sys/fs/cgroup", POD_PATH "/cri-containerd-" CTR_ID ".scope/init.scope",
			   &a, &k);
	assert_string_equal(a.name, "init.scope");
	expect_uid(&a, "cgroup:" REL_POD_PATH "/cri-containerd-" CTR_ID ".scope/init.scope");
	assert_string_equal(k.container_id, CTR_ID);

	/* A container outside Kubernetes. */
	registry__identify("/sys/fs/cgroup", "/sys/fs/cgroup/system.slice/docker-" CTR_ID ".scope",
			   &a, &k);
	assert_string_equal(a.name, "0123456789ab");
	expect_uid(&a, "container:" CTR_ID);
}

static struct aw_agent agent(__u32 slot, __u64 cgroup_id)
{
	struct aw_agent a = {.slot = slot, .root_cgroup_id = cgroup_id};

	snprintf(a.name, sizeof(a.name), "a%u", slot);
	return a;
}

static bool alive_even(__u64 id, void *ctx)
{
	return id % 2 == 0;
}

static void test_table(void **state)
{
	struct registry *r = registry__new();
	struct aw_agent a1 = agent(1, 100), a2 = agent(2, 200);

	assert_non_null(r);
	assert_int_equal(registry__add(r, &a1, "/cg/a", NULL, REGISTRY_SELECTOR), 0);
	assert_int_equal(registry__add(r, &a2, "/cg/a/b", NULL, REGISTRY_CLIENT), 0);
	assert_int_equal(r->n_agents, 2);
	assert_int_equal(registry__add(r, &(struct aw_agent){.slot = AW_AGENT_SLOT_PENDING}, "/x",
				       NULL, REGISTRY_SELECTOR),
			 -ERANGE);

	assert_ptr_equal(registry__agent_by_cgroup(r, 100), registry__agent(r, 1));
	assert_ptr_equal(registry__agent_by_path(r, "/cg/a/b"), registry__agent(r, 2));
	assert_null(registry__agent_by_path(r, "/cg/a/c"));

	/* Descendants map to their nearest agent; they are not agents themselves. */
	assert_int_equal(registry__map_cgroup(r, 101, 1), 0);
	assert_int_equal(registry__map_cgroup(r, 201, 2), 0);
	assert_int_equal(registry__map_cgroup(r, 203, 2), 0);
	assert_null(registry__agent_by_cgroup(r, 101));
	assert_int_equal(registry__cgroup_slot(r, 101), 1);

	/* Attribution: the table first, then the kernel's slot, never the pending slot. */
	assert_string_equal(registry__attribute(r, 201, AW_AGENT_SLOT_PENDING)->agent.name, "a2");
	assert_string_equal(registry__attribute(r, 201, 1)->agent.name, "a2");
	assert_string_equal(registry__attribute(r, 999, 1)->agent.name, "a1");
	assert_null(registry__attribute(r, 999, AW_AGENT_SLOT_PENDING));
	assert_null(registry__attribute(r, 999, 0));
	assert_null(registry__attribute(r, 999, 7));

	/* Vanished descendants are forgotten; agent roots are kept whatever alive() says. */
	registry__prune(r, alive_even, NULL);
	assert_int_equal(registry__cgroup_slot(r, 101), 0);
	assert_int_equal(registry__cgroup_slot(r, 201), 0);
	assert_int_equal(registry__cgroup_slot(r, 203), 0);
	assert_int_equal(registry__cgroup_slot(r, 100), 1);
	assert_int_equal(registry__map_cgroup(r, 204, 2), 0);

	/* Removing an agent drops what was mapped to it. */
	registry__remove(r, 2);
	assert_null(registry__agent(r, 2));
	assert_int_equal(registry__cgroup_slot(r, 200), 0);
	assert_int_equal(registry__cgroup_slot(r, 204), 0);
	assert_int_equal(r->n_agents, 1);
	assert_int_equal(r->n_cgroups, 1);

	/* Re-registering a slot with another cgroup replaces the old agent entirely. */
	registry__map_cgroup(r, 102, 1);
	a1.root_cgroup_id = 300;
	assert_int_equal(registry__add(r, &a1, "/cg/c", NULL, REGISTRY_SELECTOR), 0);
	assert_int_equal(registry__cgroup_slot(r, 100), 0);
	assert_int_equal(registry__cgroup_slot(r, 102), 0);
	assert_int_equal(registry__cgroup_slot(r, 300), 1);
	assert_int_equal(r->n_agents, 1);
	registry__free(r);
}

static void test_table_many(void **state)
{
	struct registry *r = registry__new();
	struct aw_agent a = agent(5, 1);
	__u64 id;

	registry__add(r, &a, "/cg", NULL, REGISTRY_SELECTOR);
	/* Out of order, so that inserts land in the middle. */
	for (id = 1000; id > 2; id--)
		assert_int_equal(registry__map_cgroup(r, id * 7919 % 100003, 5), 0);
	for (id = 3; id <= 1000; id++)
		assert_int_equal(registry__cgroup_slot(r, id * 7919 % 100003), 5);
	for (size_t i = 1; i < r->n_cgroups; i++)
		assert_true(r->cgroups[i - 1].id < r->cgroups[i].id);
	registry__unmap_cgroup(r, 3 * 7919 % 100003);
	assert_int_equal(registry__cgroup_slot(r, 3 * 7919 % 100003), 0);
	registry__free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid5_known_vector),
		cmocka_unit_test(test_uuid4),
		cmocka_unit_test(test_identify_plain_cgroup),
		cmocka_unit_test(test_identify_kubernetes),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
