// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch-bench-policy-kernel: the kernel policy matcher at 10, 1 k and 100 k rules.
 *
 * For each size it compiles a generated policy, applies it to the maps of
 * bpf/policy_test.bpf.c with the real applier, and times the BPF matcher with
 * BPF_PROG_TEST_RUN (the kernel's own average over `repeat` runs) on a fixed set of queries.
 * Then it re-applies the 100 k policy (the reload path: a full new generation and the switch)
 * while a second thread keeps querying, and checks that no query ever saw no policy.
 * Prints RESULT lines (tests/bench/run.sh); ratios are against the 10-rule figure of the run.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <agentwatch/policy_test.h>

#include "log.h"
#include "policy_apply.h"
#include "policy_image.h"
#include "policy_test.skel.h"

static const char *const queries[] = {
	"/data/d7/x/y/secret",	   /* under a subtree rule */
	"/data/d3/z/cert.pem",	   /* suffix rule */
	"/srv/app/src/main.c",	   /* matches nothing */
	"/home/test/.ssh/id_rsa",  /* exact rule */
	"/usr/lib/x86_64/libc.so", /* matches nothing, deeper */
	"/data/d5/a/b/c/d/e/f/g",  /* deep */
};
#define N_QUERIES (sizeof(queries) / sizeof(queries[0]))

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* n rules of four kinds on distinct directories, plus the fixed rules the queries hit. */
static char *generate(int n, size_t *len)
{
	size_t cap = 256 + (size_t)n * 96;
	char *buf = malloc(cap), *p = buf;
	int i;

	if (!buf)
		return NULL;
	p += sprintf(p, "apiVersion: agentwatch.dev/v1\nkind: AgentPolicy\nmetadata:\n"
			"  name: bench\nspec:\n  mode: enforce\n  files:\n"
			"    - {name: keys, path: /home/test/.ssh/id_rsa, action: deny}\n");
	for (i = 0; i < n; i++) {
		switch (i % 4) {
		case 0:
			p += sprintf(p, "    - {name: r%d, path: \"/data/d%d/**\", action: deny}\n",
				     i, i);
			break;
		case 1:
			p += sprintf(p,
				     "    - {name: r%d, path: \"/data/d%d/*.pem\", action: deny}\n",
				     i, i);
			break;
		case 2:
			p += sprintf(p, "    - {name: r%d, path: /data/e%d/file, action: audit}\n",
				     i, i);
			break;
		default:
			p += sprintf(p,
				     "    - {name: r%d, path: \"/data/d%d/**/secret\", action: "
				     "deny}\n",
				     i, i);
		}
	}
	*len = p - buf;
	return buf;
}

struct bench {
	struct aw_policy_test *skel;
	struct policy_backend_bpf backend;
};

static int run_query(struct aw_policy_test *skel, const char *path, __u32 repeat, __u32 *ns,
		     struct aw_policy_query *out)
{
	struct aw_policy_query q = {.slot = 1, .access = 1 /* read */};
	char pkt[64] = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .repeat = repeat, .data_in = pkt,
		    .data_size_in = sizeof(pkt));
	struct bpf_program *prog = repeat > 1 ? skel->progs.policy_test_decide_timed
					      : skel->progs.policy_test_decide;
	int fd = bpf_map__fd(skel->maps.policy_query), err;
	__u32 zero = 0;

	q.path_len = strlen(path);
	memcpy(q.path, path, q.path_len);
	if (bpf_map_update_elem(fd, &zero, &q, BPF_ANY))
		return -errno;
	if (repeat <= 1) { /* the raw tracepoint program: no data, no repeat */
		opts.data_in = NULL;
		opts.data_size_in = 0;
		opts.repeat = 0;
	}
	err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
	if (err)
		return err;
	if (ns)
		*ns = opts.duration;
	return out ? (bpf_map_lookup_elem(fd, &zero, out) ? -errno : 0) : 0;
}

static int build_image(int n, struct policy_collection *c, struct policy_image **img,
		       double *compile_ms)
{
	struct policy_agent agent = {
		.name = "bench", .home = "/home/test", .workspace = "/w", .slot = 1};
	struct policy_errors errs = {};
	size_t len;
	char *text = generate(n, &len);
	double t0 = now_ms();
	int err;

	if (!text)
		return -ENOMEM;
	policy_collection__init(c);
	err = policy_collection__parse(c, "bench.yaml", text, len, &errs);
	*img = err ? NULL : policy_image__new();
	if (!err)
		err = *img ? policy_image__compile(*img, c, 1, &agent, &errs) : -ENOMEM;
	*compile_ms = now_ms() - t0;
	if (err)
		policy_errors__print(&errs, stderr);
	policy_errors__free(&errs);
	free(text);
	return err;
}

struct watcher {
	struct aw_policy_test *skel;
	atomic_int stop;
	long queries, unprotected;
};

/* Keeps asking while the main thread reloads: every answer must come from some policy. */
static void *watch(void *arg)
{
	struct watcher *w = arg;
	struct aw_policy_query q;

	while (!atomic_load(&w->stop)) {
		int err = run_query(w->skel, "/home/test/.ssh/id_rsa", 1, NULL, &q);

		if (err) {
			fprintf(stderr, "policy reload watcher: %s\n", strerror(-err));
			break;
		}
		w->queries++;
		if (!q.applied || q.action != AW_ACT_DENY)
			w->unprotected++;
	}
	return NULL;
}

int main(void)
{
	static const int sizes[] = {10, 1000, 100000};
	struct policy_image *imgs[3] = {};
	struct policy_collection colls[3];
	struct policy_apply_stats st;
	struct bench b = {};
	double base = 0, t0;
	int fd[POLICY_MAP__COUNT], i, err;

	log__init(false);
	b.skel = aw_policy_test__open_and_load();
	if (!b.skel) {
		fprintf(stderr, "SKIP policy kernel bench: cannot load the test program: %s\n",
			strerror(errno));
		return 0;
	}
	fd[POLICY_MAP_CONFIG] = bpf_map__fd(b.skel->maps.policy_config);
	fd[POLICY_MAP_OF_SLOT] = bpf_map__fd(b.skel->maps.policy_of_slot);
	fd[POLICY_MAP_DEFAULTS] = bpf_map__fd(b.skel->maps.policy_defaults);
	fd[POLICY_MAP_FILE_RULES] = bpf_map__fd(b.skel->maps.file_rules);
	fd[POLICY_MAP_FILE_INODES] = bpf_map__fd(b.skel->maps.file_inodes);
	fd[POLICY_MAP_NAME_GLOBS] = bpf_map__fd(b.skel->maps.name_globs);
	fd[POLICY_MAP_BINSETS] = bpf_map__fd(b.skel->maps.binsets);
	fd[POLICY_MAP_NET_RULES] = bpf_map__fd(b.skel->maps.net_rules);
	fd[POLICY_MAP_FILE_ANCHORS] = bpf_map__fd(b.skel->maps.file_anchors);
	policy_backend__bpf(&b.backend, fd);

	for (i = 0; i < 3; i++) {
		double compile_ms, apply_ms, sum = 0;
		__u32 ns;
		size_t q;

		err = build_image(sizes[i], &colls[i], &imgs[i], &compile_ms);
		if (err)
			goto out;
		t0 = now_ms();
		err = policy_apply(&b.backend.ops, imgs[i], &st);
		apply_ms = now_ms() - t0;
		if (err)
			goto out;
		for (q = 0; q < N_QUERIES; q++) {
			err = run_query(b.skel, queries[q], 20000, &ns, NULL);
			if (err)
				goto out;
			sum += ns;
		}
		sum /= N_QUERIES;
		if (i == 0)
			base = sum;
		printf("RESULT policy.kernel_decision.%d_rules %.1f ns ratio=%.3f records=%zu\n",
		       sizes[i], sum, sum / base, st.records);
		printf("RESULT policy.compile_and_load.%d_rules %.1f ms compile_ms=%.1f "
		       "apply_ms=%.1f\n",
		       sizes[i], compile_ms + apply_ms, compile_ms, apply_ms);
	}

	/* Reload the 100 k policy while another thread keeps deciding. */
	{
		struct watcher w = {.skel = b.skel};
		pthread_t th;

		if (pthread_create(&th, NULL, watch, &w)) {
			err = -errno;
			goto out;
		}
		double ms;

		t0 = now_ms();
		err = policy_apply(&b.backend.ops, imgs[2], &st);
		ms = now_ms() - t0;
		atomic_store(&w.stop, 1);
		pthread_join(th, NULL);
		printf("RESULT policy.reload.100000_rules %.1f ms queries_during=%ld "
		       "unprotected=%ld\n",
		       ms, w.queries, w.unprotected);
		if (w.unprotected) {
			fprintf(stderr, "policy reload: %ld queries saw no policy\n",
				w.unprotected);
			err = -EPROTO;
		}
	}
out:
	for (i = 0; i < 3; i++) {
		policy_image__free(imgs[i]);
		if (imgs[i])
			policy_collection__free(&colls[i]);
	}
	policy_backend__bpf_free(&b.backend);
	aw_policy_test__destroy(b.skel);
	if (err)
		fprintf(stderr, "policy kernel bench: %s\n", strerror(-err));
	return err ? 1 : 0;
}
