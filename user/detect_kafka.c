// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch detect on Kafka: a consumer group over the events topic(s) and the features topic
 * (docs/detect.md, "Topology").
 *
 *   events (keyed by agent) ──▶ stage 1 shard per partition ──▶ features topic (keyed by feature)
 *   features                ──▶ stage 2 shard per partition ──▶ findings (stdout, findings topic)
 *
 * One consumer subscribes to whichever of the two its --stage runs, in one group, so Kafka's
 * assignment spreads both kinds of partitions over the group's members. Each assigned
 * partition gets its own shard of detector state, so per-agent state lives with the agent's
 * partition and per-feature state with the feature's partition, and a rebalance moves state
 * with the partition.
 *
 * No loss, at least once: offsets are committed by hand, only after
 *   1. everything the processed messages produced (observations, findings) is acknowledged,
 *   2. each shard's state is checkpointed (to --state-topic and/or --state FILE.<topic>.<p>),
 *      with the offset of the next message to process;
 * every --checkpoint-ms, when partitions are revoked, and at exit. A consumer killed between
 * checkpoints loses nothing: whoever gets its partitions loads the checkpoint, seeks to its
 * offset and processes the rest again. A finding may then be written twice, with the same
 * finding uid (detect_finding__seal), never lost.
 *
 * State topic records (compaction keeps the last of each key):
 *   key "<group>/<topic>/<partition>/<i>"  value: u64 generation, then chunk i of the blob
 *   key "<group>/<topic>/<partition>"      value: "AWCK" u32 version, u64 generation,
 *                                          i64 next offset, u32 chunks, u32 blob length
 * The blob is detect_state__blob() compressed with zlib. Chunks are written before the header
 * that names them, and a reader takes a checkpoint only when all its chunks carry its
 * generation.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include <librdkafka/rdkafka.h>
#include <zlib.h>

#include "detect_run.h"
#include "json_writer.h"
#include "log.h"

#define MAX_SHARDS    512
#define CHUNK	      (256 * 1024)
#define CKPT_MAGIC    0x4b435741u /* "AWCK" */
#define CKPT_VERSION  1u
#define FLUSH_TIMEOUT 30000

struct shard {
	char topic[128];
	int32_t partition;
	int stage; /* 1 or 2 */
	struct detect_stage1 *s1;
	struct detect_stage2 *s2;
	int64_t next_offset; /* -1: nothing processed yet */
	uint64_t generation;
	bool dirty;
};

struct krun {
	const struct detect_opts *o;
	rd_kafka_t *consumer, *producer;
	rd_kafka_topic_t *features, *state;
	struct shard *shards[MAX_SHARDS];
	int n_shards;
	struct detect_stats st;
	struct detect_output out;
	struct detect_sink s1_sink, s2_sink;
	char *scratch;
	uint64_t delivery_errors; /* updated from the producer's delivery callback */
	int fatal;
};

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool is_features_topic(const struct krun *r, const char *topic)
{
	return !strcmp(topic, r->o->features_topic);
}

/* ---- clients ------------------------------------------------------------------------------ */

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
	char errstr[256];

	if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		log_error("detect: kafka property '%s': %s", k, errstr);
		return -EINVAL;
	}
	return 0;
}

/* bootstrap.servers, then the caller's defaults, then every -X (which wins). */
static rd_kafka_conf_t *conf_new(const struct detect_opts *o, const char *const *defaults)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	int i;

	if (conf_set(conf, "bootstrap.servers", o->brokers) || conf_set(conf, "log_level", "4"))
		goto out_destroy;
	for (i = 0; defaults && defaults[i]; i += 2)
		if (conf_set(conf, defaults[i], defaults[i + 1]))
			goto out_destroy;
	for (i = 0; i < o->n_props; i++) {
		char key[256];
		const char *eq = strchr(o->props[i], '=');

		snprintf(key, sizeof(key), "%.*s", (int)(eq - o->props[i]), o->props[i]);
		/* Group and offset policy are this program's: not overridable. */
		if (!strcmp(key, "enable.auto.commit") || !strcmp(key, "group.id"))
			continue;
		if (conf_set(conf, key, eq + 1))
			goto out_destroy;
	}
	return conf;
out_destroy:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct krun *r = opaque;

	if (m->err) {
		__atomic_add_fetch(&r->delivery_errors, 1, __ATOMIC_RELAXED);
		log_error("detect: delivery to '%s': %s", rd_kafka_topic_name(m->rkt),
			  rd_kafka_err2str(m->err));
	}
}

static int produce(struct krun *r, rd_kafka_topic_t *t, const char *key, size_t klen,
		   const void *val, size_t vlen)
{
	int err, tries;

	for (tries = 0; tries < 600; tries++) {
		err = rd_kafka_producev(r->producer, RD_KAFKA_V_RKT(t), RD_KAFKA_V_KEY(key, klen),
					RD_KAFKA_V_VALUE((void *)val, vlen),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(r->producer, 100);
	}
	if (err) {
		log_error("detect: produce to '%s': %s", rd_kafka_topic_name(t),
			  rd_kafka_err2str(err));
		return -EIO;
	}
	return 0;
}

/* Everything produced so far is acknowledged (or an error was counted). */
static int producer_drain(struct krun *r)
{
	uint64_t before = __atomic_load_n(&r->delivery_errors, __ATOMIC_RELAXED);

	if (rd_kafka_flush(r->producer, FLUSH_TIMEOUT) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		log_error("detect: producer: not flushed within %d ms", FLUSH_TIMEOUT);
		return -ETIMEDOUT;
	}
	return __atomic_load_n(&r->delivery_errors, __ATOMIC_RELAXED) != before ? -EIO : 0;
}

/* ---- observations on the features topic --------------------------------------------------- */

static int obs_encode(const struct detect_obs *o, char *buf, size_t size)
{
	struct json_writer w;
	char h[24], a[24];

	snprintf(h, sizeof(h), "%016" PRIx64, o->feature_hash);
	snprintf(a, sizeof(a), "%016" PRIx64, o->agent_hash);
	json_writer__init(&w, buf, size);
	json_writer__object_begin(&w);
	json_writer__kv_string(&w, "h", h);
	json_writer__kv_string(&w, "a", a);
	json_writer__kv_uint(&w, "t", o->time_ms);
	json_writer__kv_uint(&w, "ty", o->type);
	json_writer__kv_uint(&w, "c", o->ctx);
	json_writer__kv_string(&w, "f", o->feature);
	json_writer__kv_string(&w, "u", o->agent.uid);
	json_writer__kv_string(&w, "s", o->agent.session);
	json_writer__kv_string(&w, "n", o->agent.name);
	json_writer__kv_string(&w, "e", o->event_uid);
	json_writer__object_end(&w);
	return json_writer__finish(&w);
}

static void get_str(json_object *j, const char *k, char *dst, size_t size)
{
	json_object *v;

	dst[0] = '\0';
	if (json_object_object_get_ex(j, k, &v) && json_object_is_type(v, json_type_string))
		snprintf(dst, size, "%s", json_object_get_string(v));
}

static int obs_decode(const char *buf, size_t len, struct detect_obs *o)
{
	json_tokener *tok = json_tokener_new();
	json_object *j, *v;
	char hex[24];
	int ret = -EINVAL;

	if (!tok)
		return -ENOMEM;
	j = json_tokener_parse_ex(tok, buf, (int)len);
	json_tokener_free(tok);
	if (!j || !json_object_is_type(j, json_type_object))
		goto out;
	memset(o, 0, sizeof(*o));
	get_str(j, "h", hex, sizeof(hex));
	o->feature_hash = strtoull(hex, NULL, 16);
	get_str(j, "a", hex, sizeof(hex));
	o->agent_hash = strtoull(hex, NULL, 16);
	if (!o->feature_hash || !o->agent_hash || !json_object_object_get_ex(j, "t", &v))
		goto out;
	o->time_ms = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(j, "ty", &v))
		o->type = (uint8_t)json_object_get_int(v);
	if (json_object_object_get_ex(j, "c", &v))
		o->ctx = (uint8_t)json_object_get_int(v);
	get_str(j, "f", o->feature, sizeof(o->feature));
	get_str(j, "u", o->agent.uid, sizeof(o->agent.uid));
	get_str(j, "s", o->agent.session, sizeof(o->agent.session));
	get_str(j, "n", o->agent.name, sizeof(o->agent.name));
	get_str(j, "e", o->event_uid, sizeof(o->event_uid));
	ret = o->type < DETECT_FT__COUNT ? 0 : -EINVAL;
out:
	json_object_put(j);
	return ret;
}

static int k_obs(void *ctx, const struct detect_obs *o)
{
	struct krun *r = ctx;
	char buf[1024], key[24];
	int n = obs_encode(o, buf, sizeof(buf));

	if (n < 0)
		return 0;
	snprintf(key, sizeof(key), "%016" PRIx64, o->feature_hash);
	return produce(r, r->features, key, strlen(key), buf, (size_t)n);
}

static int k_finding(void *ctx, const struct detect_finding *f)
{
	return detect_output__finding(&((struct krun *)ctx)->out, f);
}

/* ---- checkpoints -------------------------------------------------------------------------- */

static void shard_key(const struct krun *r, const struct shard *s, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s/%" PRId32, r->o->group, s->topic, s->partition);
}

static int shard_blob(const struct shard *s, unsigned char **out, size_t *out_len, size_t *raw_len)
{
	char *raw = NULL;
	uLongf zlen;
	size_t len;
	int err;

	err = detect_state__blob(s->s1, s->s2, &raw, &len);
	if (err)
		return err;
	zlen = compressBound(len);
	*out = malloc(zlen);
	if (!*out) {
		free(raw);
		return -ENOMEM;
	}
	if (compress2(*out, &zlen, (const Bytef *)raw, len, 1) != Z_OK) {
		free(raw);
		free(*out);
		return -EIO;
	}
	free(raw);
	*out_len = zlen;
	*raw_len = len;
	return 0;
}

static int shard_unblob(struct krun *r, struct shard *s, const unsigned char *z, size_t zlen,
			size_t raw_len)
{
	uLongf len = raw_len;
	char *raw = malloc(raw_len ? raw_len : 1);
	struct detect_stage1 *s1;
	struct detect_stage2 *s2;
	int err;

	if (!raw)
		return -ENOMEM;
	if (uncompress((Bytef *)raw, &len, z, zlen) != Z_OK || len != raw_len) {
		free(raw);
		return -EINVAL;
	}
	err = detect_state__from_blob(raw, len, &r->o->cfg, &s1, &s2);
	free(raw);
	if (err)
		return err;
	if ((s->stage == 1 && !s1) || (s->stage == 2 && !s2)) {
		detect_stage1__free(s1);
		detect_stage2__free(s2);
		return -EINVAL;
	}
	detect_stage1__free(s->s1);
	detect_stage2__free(s->s2);
	s->s1 = s1;
	s->s2 = s2;
	return 0;
}

static int checkpoint_shard_topic(struct krun *r, struct shard *s, const unsigned char *z,
				  size_t zlen, size_t raw_len)
{
	char key[512], ckey[560];
	unsigned char hdr[32];
	uint32_t magic = CKPT_MAGIC, version = CKPT_VERSION, chunks, blen = (uint32_t)raw_len;
	uint32_t zl = 0;
	unsigned char *buf;
	uint32_t i;
	int err = 0;

	shard_key(r, s, key, sizeof(key));
	chunks = (uint32_t)((zlen + CHUNK - 1) / CHUNK);
	buf = malloc(CHUNK + 8);
	if (!buf)
		return -ENOMEM;
	s->generation++;
	for (i = 0; i < chunks && !err; i++) {
		size_t off = (size_t)i * CHUNK, n = zlen - off < CHUNK ? zlen - off : CHUNK;

		memcpy(buf, &s->generation, 8);
		memcpy(buf + 8, z + off, n);
		snprintf(ckey, sizeof(ckey), "%s/%u", key, i);
		err = produce(r, r->state, ckey, strlen(ckey), buf, n + 8);
	}
	free(buf);
	if (err)
		return err;
	/* magic, version, generation, next offset, chunks, raw length, compressed length */
	memcpy(hdr, &magic, 4);
	memcpy(hdr + 4, &version, 4);
	memcpy(hdr + 8, &s->generation, 8);
	memcpy(hdr + 16, &s->next_offset, 8);
	memcpy(hdr + 24, &chunks, 4);
	memcpy(hdr + 28, &blen, 4);
	(void)zl;
	return produce(r, r->state, key, strlen(key), hdr, sizeof(hdr));
}

static int checkpoint_shard_file(struct krun *r, struct shard *s)
{
	char path[4096];
	FILE *f;
	int err;

	snprintf(path, sizeof(path), "%s.%s.%" PRId32, r->o->state_file, s->topic, s->partition);
	err = detect_state__save_file(path, s->s1, s->s2);
	if (err)
		return err;
	/* The offset beside it: the state is valid from there. */
	snprintf(path + strlen(path), sizeof(path) - strlen(path), ".offset");
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "%" PRId64 "\n", s->next_offset);
	return fclose(f) ? -errno : 0;
}

/* Drain the producer, checkpoint dirty shards, then commit their offsets. */
static int checkpoint(struct krun *r)
{
	rd_kafka_topic_partition_list_t *offs;
	int i, err, n = 0;

	for (i = 0; i < r->n_shards; i++)
		n += r->shards[i]->dirty;
	if (!n)
		return 0;
	if (r->out.out && fflush(r->out.out))
		return log_errno(errno, "detect: checkpoint: stdout, not committing");
	err = producer_drain(r);
	if (err)
		return log_errno(err, "detect: checkpoint: outputs not acknowledged, not "
				      "committing");
	for (i = 0; i < r->n_shards; i++) {
		struct shard *s = r->shards[i];
		unsigned char *z;
		size_t zlen, raw;

		if (!s->dirty)
			continue;
		if (r->o->state_topic) {
			err = shard_blob(s, &z, &zlen, &raw);
			if (!err) {
				err = checkpoint_shard_topic(r, s, z, zlen, raw);
				free(z);
			}
			if (err)
				return log_errno(err, "detect: checkpoint %s[%d]", s->topic,
						 s->partition);
		}
		if (r->o->state_file && (err = checkpoint_shard_file(r, s)))
			return log_errno(err, "detect: checkpoint %s[%d] to file", s->topic,
					 s->partition);
	}
	if (r->o->state_topic && (err = producer_drain(r)))
		return log_errno(err, "detect: checkpoint: state not acknowledged, not committing");
	offs = rd_kafka_topic_partition_list_new(n);
	for (i = 0; i < r->n_shards; i++) {
		struct shard *s = r->shards[i];

		if (s->dirty && s->next_offset >= 0)
			rd_kafka_topic_partition_list_add(offs, s->topic, s->partition)->offset =
				s->next_offset;
	}
	err = offs->cnt ? rd_kafka_commit(r->consumer, offs, 0) : 0;
	rd_kafka_topic_partition_list_destroy(offs);
	if (err) {
		/* The state checkpoints above hold the offsets too: the next owner resumes there. */
		log_warn("detect: commit: %s (the checkpoints hold the offsets)",
			 rd_kafka_err2str(err));
		return -EIO;
	}
	for (i = 0; i < r->n_shards; i++)
		r->shards[i]->dirty = false;
	log_debug("detect: checkpoint of %d partition(s) committed", n);
	return 0;
}

/* ---- loading checkpoints ------------------------------------------------------------------ */

struct ckpt {
	char key[512];
	uint64_t generation;
	int64_t next_offset;
	uint32_t chunks, raw_len;
	unsigned char **chunk;
	size_t *chunk_len;
	uint64_t *chunk_gen;
	bool found;
};

static void ckpt_take(struct ckpt *c, int n, const rd_kafka_message_t *m)
{
	int i;

	for (i = 0; i < n; i++) {
		size_t kl = strlen(c[i].key);
		const char *k = m->key;

		if (m->key_len < kl || memcmp(k, c[i].key, kl))
			continue;
		if (m->key_len != kl && (m->key_len <= kl + 1 || k[kl] != '/'))
			continue; /* another partition's key with this one as a prefix */
		if (m->key_len == kl && m->len == 32) {
			uint32_t magic, chunks;

			memcpy(&magic, m->payload, 4);
			memcpy(&chunks, (const char *)m->payload + 24, 4);
			if (magic != CKPT_MAGIC || chunks > 4096)
				continue;
			memcpy(&c[i].generation, (const char *)m->payload + 8, 8);
			memcpy(&c[i].next_offset, (const char *)m->payload + 16, 8);
			memcpy(&c[i].raw_len, (const char *)m->payload + 28, 4);
			c[i].chunks = chunks;
			c[i].found = true;
		} else if (m->key_len > kl + 1 && k[kl] == '/' && m->len >= 8) {
			char num[16];
			unsigned long idx;

			snprintf(num, sizeof(num), "%.*s", (int)(m->key_len - kl - 1), k + kl + 1);
			idx = strtoul(num, NULL, 10);
			if (idx >= 4096)
				continue;
			if (!c[i].chunk) {
				c[i].chunk = calloc(4096, sizeof(*c[i].chunk));
				c[i].chunk_len = calloc(4096, sizeof(*c[i].chunk_len));
				c[i].chunk_gen = calloc(4096, sizeof(*c[i].chunk_gen));
				if (!c[i].chunk || !c[i].chunk_len || !c[i].chunk_gen)
					continue;
			}
			free(c[i].chunk[idx]);
			c[i].chunk[idx] = malloc(m->len - 8);
			if (!c[i].chunk[idx])
				continue;
			memcpy(&c[i].chunk_gen[idx], m->payload, 8);
			memcpy(c[i].chunk[idx], (const char *)m->payload + 8, m->len - 8);
			c[i].chunk_len[idx] = m->len - 8;
		}
		return;
	}
}

/* Read the whole state topic and keep the last checkpoint of each wanted key. */
static int ckpt_read(struct krun *r, struct ckpt *c, int n)
{
	static const char *const defaults[] = {"enable.auto.commit", "false", NULL};
	char errstr[256], gid[300];
	rd_kafka_conf_t *conf = conf_new(r->o, defaults);
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_topic_t *t;
	rd_kafka_t *rk;
	int64_t *high;
	int i, left = 0, err = 0;
	uint64_t deadline;

	if (!conf)
		return -EINVAL;
	snprintf(gid, sizeof(gid), "%s-state-reader", r->o->group);
	conf_set(conf, "group.id", gid);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		log_error("detect: state reader: %s", errstr);
		return -EINVAL;
	}
	t = rd_kafka_topic_new(rk, r->o->state_topic, NULL);
	if (rd_kafka_metadata(rk, 0, t, &md, 10000) || !md->topic_cnt || md->topics[0].err) {
		log_warn("detect: state topic '%s': no metadata; starting without checkpoints",
			 r->o->state_topic);
		goto out;
	}
	parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
	high = calloc((size_t)md->topics[0].partition_cnt, sizeof(*high));
	for (i = 0; high && i < md->topics[0].partition_cnt; i++) {
		int64_t lo = 0, hi = 0;
		int32_t p = md->topics[0].partitions[i].id;

		if (rd_kafka_query_watermark_offsets(rk, r->o->state_topic, p, &lo, &hi, 10000))
			continue;
		high[i] = hi;
		if (hi > lo) {
			rd_kafka_topic_partition_list_add(parts, r->o->state_topic, p)->offset = lo;
			left++;
		}
	}
	if (left)
		rd_kafka_assign(rk, parts);
	deadline = wall_ms() + 60000;
	while (left > 0 && wall_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);

		if (!m)
			continue;
		if (!m->err) {
			ckpt_take(c, n, m);
			for (i = 0; i < md->topics[0].partition_cnt; i++)
				if (md->topics[0].partitions[i].id == m->partition &&
				    m->offset + 1 >= high[i] && high[i]) {
					high[i] = 0;
					left--;
				}
		} else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			log_warn("detect: state topic: %s", rd_kafka_message_errstr(m));
		}
		rd_kafka_message_destroy(m);
	}
	if (left > 0) {
		log_error("detect: state topic '%s': not read to its end in time",
			  r->o->state_topic);
		err = -ETIMEDOUT;
	}
	free(high);
	rd_kafka_topic_partition_list_destroy(parts);
out:
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(t);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return err;
}

static void ckpt_free(struct ckpt *c, int n)
{
	int i;
	uint32_t j;

	for (i = 0; i < n; i++) {
		if (c[i].chunk)
			for (j = 0; j < 4096; j++)
				free(c[i].chunk[j]);
		free(c[i].chunk);
		free(c[i].chunk_len);
		free(c[i].chunk_gen);
	}
	free(c);
}

/* A shard from its checkpoint; returns 0 with *offset set, or -ENOENT when there is none. */
static int ckpt_apply(struct krun *r, struct shard *s, struct ckpt *c, int64_t *offset)
{
	unsigned char *z;
	size_t zlen = 0, off = 0;
	uint32_t i;
	int err;

	if (!c->found || !c->chunk)
		return -ENOENT;
	for (i = 0; i < c->chunks; i++) {
		if (!c->chunk[i] || c->chunk_gen[i] != c->generation)
			return log_errno(EINVAL, "detect: checkpoint '%s': chunk %u missing",
					 c->key, i);
		zlen += c->chunk_len[i];
	}
	z = malloc(zlen ? zlen : 1);
	if (!z)
		return -ENOMEM;
	for (i = 0; i < c->chunks; i++) {
		memcpy(z + off, c->chunk[i], c->chunk_len[i]);
		off += c->chunk_len[i];
	}
	err = shard_unblob(r, s, z, zlen, c->raw_len);
	free(z);
	if (err)
		return log_errno(err, "detect: checkpoint '%s': not loadable", c->key);
	s->generation = c->generation;
	*offset = c->next_offset;
	return 0;
}

static int ckpt_from_file(struct krun *r, struct shard *s, int64_t *offset)
{
	char path[4096], opath[4200];
	struct detect_stage1 *s1;
	struct detect_stage2 *s2;
	long long off;
	FILE *f;
	int err;

	snprintf(path, sizeof(path), "%s.%s.%" PRId32, r->o->state_file, s->topic, s->partition);
	snprintf(opath, sizeof(opath), "%s.offset", path);
	f = fopen(opath, "r");
	if (!f)
		return -ENOENT;
	err = fscanf(f, "%lld", &off) == 1 ? 0 : -EINVAL;
	fclose(f);
	if (err)
		return err;
	err = detect_state__load_file(path, &r->o->cfg, &s1, &s2);
	if (err)
		return err;
	detect_stage1__free(s->s1);
	detect_stage2__free(s->s2);
	s->s1 = s1;
	s->s2 = s2;
	*offset = off;
	return 0;
}

/* ---- rebalancing -------------------------------------------------------------------------- */

static struct shard *shard_find(struct krun *r, const char *topic, int32_t partition)
{
	int i;

	for (i = 0; i < r->n_shards; i++)
		if (r->shards[i]->partition == partition && !strcmp(r->shards[i]->topic, topic))
			return r->shards[i];
	return NULL;
}

static void shard_free(struct shard *s)
{
	detect_stage1__free(s->s1);
	detect_stage2__free(s->s2);
	free(s);
}

static int on_assign(struct krun *r, rd_kafka_topic_partition_list_t *parts)
{
	struct ckpt *c = NULL;
	int i, err;

	if (r->o->state_topic) {
		c = calloc((size_t)parts->cnt + 1, sizeof(*c));
		if (!c)
			return -ENOMEM;
	}
	for (i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *p = &parts->elems[i];
		struct shard *s;
		int64_t off = -1;

		if (r->n_shards == MAX_SHARDS)
			return log_errno(E2BIG, "detect: more than %d partitions", MAX_SHARDS);
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		snprintf(s->topic, sizeof(s->topic), "%s", p->topic);
		s->partition = p->partition;
		s->stage = is_features_topic(r, p->topic) ? 2 : 1;
		s->next_offset = -1;
		r->shards[r->n_shards++] = s;
		if (c)
			shard_key(r, s, c[i].key, sizeof(c[i].key));
		/* A file checkpoint first; the topic's, when newer, replaces it below. */
		p->offset = RD_KAFKA_OFFSET_INVALID; /* the committed offset */
		if (r->o->state_file && !ckpt_from_file(r, s, &off)) {
			p->offset = off;
			s->next_offset = off;
		}
	}
	if (c) {
		err = ckpt_read(r, c, parts->cnt);
		for (i = 0; !err && i < parts->cnt; i++) {
			rd_kafka_topic_partition_t *p = &parts->elems[i];
			struct shard *s = shard_find(r, p->topic, p->partition);
			int64_t off = -1;

			if (s && !ckpt_apply(r, s, &c[i], &off) &&
			    (p->offset == RD_KAFKA_OFFSET_INVALID || off > p->offset)) {
				p->offset = off;
				s->next_offset = off;
			}
		}
		ckpt_free(c, parts->cnt);
		if (err)
			return err;
	}
	for (i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *p = &parts->elems[i];
		struct shard *s = shard_find(r, p->topic, p->partition);

		if (!s->s1 && s->stage == 1)
			s->s1 = detect_stage1__new(&r->o->cfg);
		if (!s->s2 && s->stage == 2)
			s->s2 = detect_stage2__new(&r->o->cfg);
		if ((s->stage == 1 && !s->s1) || (s->stage == 2 && !s->s2))
			return -ENOMEM;
		log_info("detect: assigned %s[%d] from %s", p->topic, p->partition,
			 p->offset >= 0 ? "its checkpoint" : "the committed offset");
	}
	return 0;
}

static void on_revoke(struct krun *r, rd_kafka_topic_partition_list_t *parts)
{
	int i, j;

	if (checkpoint(r))
		log_warn("detect: revoke: checkpoint incomplete; the next owner resumes from the "
			 "last complete one");
	for (i = 0; i < parts->cnt; i++) {
		for (j = 0; j < r->n_shards; j++) {
			struct shard *s = r->shards[j];

			if (s->partition == parts->elems[i].partition &&
			    !strcmp(s->topic, parts->elems[i].topic)) {
				shard_free(s);
				r->shards[j] = r->shards[--r->n_shards];
				break;
			}
		}
	}
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct krun *r = opaque;
	bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");

	switch (err) {
	case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
		if (on_assign(r, parts)) {
			log_error("detect: assignment failed; stopping");
			r->fatal = 1;
		}
		if (coop)
			rd_kafka_incremental_assign(rk, parts);
		else
			rd_kafka_assign(rk, parts);
		break;
	case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
		on_revoke(r, parts);
		if (coop)
			rd_kafka_incremental_unassign(rk, parts);
		else
			rd_kafka_assign(rk, NULL);
		break;
	default:
		log_error("detect: rebalance: %s", rd_kafka_err2str(err));
		rd_kafka_assign(rk, NULL);
	}
}

/* ---- the loop ----------------------------------------------------------------------------- */

static int handle(struct krun *r, rd_kafka_message_t *m)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	struct shard *s = shard_find(r, topic, m->partition);
	struct detect_event ev;
	struct detect_obs o;
	int err;

	if (!s)
		return 0; /* revoked meanwhile */
	if (s->next_offset >= 0 && m->offset < s->next_offset)
		return 0; /* already in the state */
	s->next_offset = m->offset + 1;
	s->dirty = true;
	if (s->stage == 2) {
		if (obs_decode(m->payload, m->len, &o)) {
			r->st.malformed++;
			return 0;
		}
		return detect_stage2__obs(s->s2, &o, &r->s2_sink, &r->st);
	}
	r->st.lines++;
	if (detect_input__parse(m->payload, m->len, &ev, r->scratch, 1 << 16)) {
		r->st.malformed++;
		return 0;
	}
	err = detect_event__classify(&ev);
	if (err == -EPROTONOSUPPORT) {
		r->st.unknown_class++;
		return 0;
	}
	if (err) {
		r->st.missing_field++;
		return 0;
	}
	if (ev.type == DETECT_EV_IGNORED) {
		r->st.ignored++;
		return 0;
	}
	return detect_stage1__event(s->s1, &ev, &r->s1_sink, &r->st);
}

int detect_kafka__run(const struct detect_opts *o)
{
	static const char *const consumer_defaults[] = {
		"enable.auto.commit",
		"false",
		"enable.auto.offset.store",
		"false",
		"auto.offset.reset",
		"earliest",
		"enable.partition.eof",
		"false",
		NULL,
	};
	static const char *const producer_defaults[] = {
		"enable.idempotence", "true", "linger.ms", "5", "compression.type", "lz4", NULL,
	};
	struct krun r = {.o = o, .out = {.opts = o}};
	rd_kafka_topic_partition_list_t *subs;
	rd_kafka_conf_t *cconf, *pconf;
	uint64_t last_ckpt, last_msg;
	char errstr[256];
	size_t mem;
	int i, err = 0;

	r.out.out = o->no_stdout ? NULL : stdout;
	r.scratch = malloc(1 << 16);
	pconf = conf_new(o, producer_defaults);
	cconf = conf_new(o, consumer_defaults);
	if (!r.scratch || !pconf || !cconf || conf_set(cconf, "group.id", o->group)) {
		err = -EINVAL;
		goto out_conf;
	}
	rd_kafka_conf_set_dr_msg_cb(pconf, on_delivery);
	rd_kafka_conf_set_opaque(pconf, &r);
	r.producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof(errstr));
	if (!r.producer) {
		log_error("detect: producer: %s", errstr);
		err = -EINVAL;
		goto out_conf;
	}
	pconf = NULL;
	r.features = rd_kafka_topic_new(r.producer, o->features_topic, NULL);
	if (o->state_topic)
		r.state = rd_kafka_topic_new(r.producer, o->state_topic, NULL);
	if (o->findings_topic) {
		r.out.producer = r.producer;
		r.out.findings_topic = rd_kafka_topic_new(r.producer, o->findings_topic, NULL);
	}
	rd_kafka_conf_set_rebalance_cb(cconf, on_rebalance);
	rd_kafka_conf_set_opaque(cconf, &r);
	r.consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, sizeof(errstr));
	if (!r.consumer) {
		log_error("detect: consumer: %s", errstr);
		err = -EINVAL;
		goto out_conf;
	}
	cconf = NULL;
	rd_kafka_poll_set_consumer(r.consumer);
	r.s1_sink = (struct detect_sink){.ctx = &r, .finding = k_finding, .obs = k_obs};
	r.s2_sink = (struct detect_sink){.ctx = &r, .finding = k_finding};

	subs = rd_kafka_topic_partition_list_new(o->n_topics + 1);
	if (o->stage & DETECT_STAGE_1)
		for (i = 0; i < o->n_topics; i++)
			rd_kafka_topic_partition_list_add(subs, o->topics[i],
							  RD_KAFKA_PARTITION_UA);
	if (o->stage & DETECT_STAGE_2)
		rd_kafka_topic_partition_list_add(subs, o->features_topic, RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(r.consumer, subs);
	rd_kafka_topic_partition_list_destroy(subs);
	if (err) {
		log_error("detect: subscribe: %s", rd_kafka_err2str(err));
		err = -EINVAL;
		goto out_close;
	}
	log_info("detect: consumer group '%s', stage %s", o->group,
		 o->stage == DETECT_STAGE_BOTH ? "1+2"
		 : o->stage == 1	       ? "1"
					       : "2");

	last_ckpt = last_msg = wall_ms();
	while (!detect__stopping() && !r.fatal) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(r.consumer, 100);
		uint64_t now = wall_ms();

		rd_kafka_poll(r.producer, 0);
		if (m) {
			if (!m->err) {
				last_msg = now;
				err = handle(&r, m);
			} else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				log_warn("detect: consume: %s", rd_kafka_message_errstr(m));
			}
			rd_kafka_message_destroy(m);
			if (err)
				break;
		}
		if (now - last_ckpt >= o->checkpoint_ms) {
			if (r.out.out)
				fflush(r.out.out);
			checkpoint(&r);
			last_ckpt = now;
		}
		if (o->idle_exit_ms && now - last_msg >= o->idle_exit_ms)
			break;
	}
	if (r.out.out)
		fflush(r.out.out);
	/* A failed last commit loses nothing (the next start replays from the last checkpoint or
	 * commit); it is logged by checkpoint() and does not fail the run. */
	if (!err)
		checkpoint(&r);
	if (o->stats) {
		uint32_t agents = 0;

		mem = 0;
		for (i = 0; i < r.n_shards; i++) {
			if (r.shards[i]->s1) {
				mem += detect_stage1__memory(r.shards[i]->s1);
				agents += detect_stage1__agents(r.shards[i]->s1);
			}
			if (r.shards[i]->s2)
				mem += detect_stage2__memory(r.shards[i]->s2);
		}
		detect_stats__print(&r.st, "kafka", mem, agents);
	}
out_close:
	/* Leaving the group revokes (and checkpoints) what is left. */
	rd_kafka_consumer_close(r.consumer);

	for (i = 0; i < r.n_shards; i++)
		shard_free(r.shards[i]);
	rd_kafka_destroy(r.consumer);
	if (r.out.findings_topic)
		rd_kafka_topic_destroy(r.out.findings_topic);
	if (r.state)
		rd_kafka_topic_destroy(r.state);
	rd_kafka_topic_destroy(r.features);
	rd_kafka_flush(r.producer, FLUSH_TIMEOUT);
	rd_kafka_destroy(r.producer);
out_conf:
	if (pconf)
		rd_kafka_conf_destroy(pconf);
	if (cconf)
		rd_kafka_conf_destroy(cconf);
	free(r.scratch);
	return err;
}
