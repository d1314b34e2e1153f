// SPDX-License-Identifier: Apache-2.0
/*
 * The detector's input: one OCSF JSON line -> struct detect_event.
 *
 * Why not json-c: json-c builds a tree of every member (an agentwatch event has ~60) and parses
 * ~72 k events/s per core on the project's VM (1.26 KB lines), a third of the detector's goal of
 * 200 k/s. The detector needs about twenty fields, so this is a validating, single-pass
 * recursive-descent scanner that walks the whole document (a malformed line is rejected, never
 * half-read) and keeps only the members on a fixed tree of wanted paths. Nothing is allocated:
 * strings point into the line, or into the caller's scratch buffer when they had escapes.
 *
 * Grammar: RFC 8259. Numbers are checked for shape; only unsigned integers are converted (the
 * wanted numeric fields are ids, ports and times). A duplicated member: the last one wins.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "detect.h"

#define MAX_DEPTH 64

/* A node of the tree of wanted paths: a member name and what it holds. */
struct path_node {
	const char *key;
	uint8_t key_len;
	int8_t field; /* enum detect_field, or -1 for an object to descend into */
	uint8_t n_children;
	const struct path_node *children;
};

#define LEAF(k, f)                                             \
	{                                                      \
		.key = k, .key_len = sizeof(k) - 1, .field = f \
	}
#define NODE(k, c)                                                    \
	{                                                             \
		.key = k, .key_len = sizeof(k) - 1, .field = -1,      \
		.n_children = sizeof(c) / sizeof(c[0]), .children = c \
	}

static const struct path_node metadata_children[] = {LEAF("uid", DETECT_F_EVENT_UID)};
static const struct path_node process_file_children[] = {
	LEAF("path", DETECT_F_EXE_PATH),
	LEAF("uid", DETECT_F_EXE_UID),
};
static const struct path_node process_children[] = {
	NODE("file", process_file_children),
	LEAF("cmd_line", DETECT_F_CMD_LINE),
};
static const struct path_node actor_process_children[] = {LEAF("name", DETECT_F_ACTOR_NAME)};
static const struct path_node actor_children[] = {NODE("process", actor_process_children)};
static const struct path_node file_children[] = {
	LEAF("path", DETECT_F_FILE_PATH),
	LEAF("uid", DETECT_F_FILE_UID),
};
static const struct path_node dst_children[] = {
	LEAF("ip", DETECT_F_DST_IP),
	LEAF("port", DETECT_F_DST_PORT),
};
static const struct path_node conn_children[] = {LEAF("direction_id", DETECT_F_DIRECTION_ID)};
static const struct path_node agent_children[] = {
	LEAF("uid", DETECT_F_AGENT_UID),
	LEAF("instance_uid", DETECT_F_SESSION),
	LEAF("name", DETECT_F_AGENT_NAME),
};
static const struct path_node unmapped_children[] = {
	NODE("ai_agent", agent_children),
	LEAF("rule", DETECT_F_RULE),
	LEAF("access", DETECT_F_ACCESS),
};
static const struct path_node image_children[] = {LEAF("name", DETECT_F_IMAGE)};
static const struct path_node container_children[] = {NODE("image", image_children)};
static const struct path_node top_children[] = {
	LEAF("class_uid", DETECT_F_CLASS_UID),
	LEAF("activity_id", DETECT_F_ACTIVITY_ID),
	LEAF("time", DETECT_F_TIME),
	LEAF("disposition_id", DETECT_F_DISPOSITION_ID),
	LEAF("action_id", DETECT_F_ACTION_ID),
	LEAF("launch_type_id", DETECT_F_LAUNCH_TYPE_ID),
	NODE("metadata", metadata_children),
	NODE("process", process_children),
	NODE("actor", actor_children),
	NODE("file", file_children),
	LEAF("access_mask", DETECT_F_ACCESS_MASK),
	NODE("dst_endpoint", dst_children),
	NODE("connection_info", conn_children),
	NODE("unmapped", unmapped_children),
	NODE("container", container_children),
};
static const struct path_node top = NODE("", top_children);

/* Byte classes inside a string: 0 plain, 1 '"', 2 '\\', 3 control (invalid). */
static const uint8_t str_class[256] = {
	[0 ... 0x1f] = 3,
	['"'] = 1,
	['\\'] = 2,
};

struct parser {
	const char *p, *end;
	char *scratch, *scratch_end;
	struct detect_event *ev;
	int depth;
	int err;
};

static inline void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int hex4(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

static int put_utf8(struct parser *ps, char **o, uint32_t cp)
{
	char *q = *o;

	if (ps->scratch_end - q < 4)
		return -E2BIG;
	if (cp < 0x80) {
		*q++ = (char)cp;
	} else if (cp < 0x800) {
		*q++ = (char)(0xc0 | (cp >> 6));
		*q++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*q++ = (char)(0xe0 | (cp >> 12));
		*q++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*q++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*q++ = (char)(0xf0 | (cp >> 18));
		*q++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*q++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*q++ = (char)(0x80 | (cp & 0x3f));
	}
	*o = q;
	return 0;
}

/*
 * A string, ps->p at the opening quote. When `out` is given, it receives the unescaped value
 * (pointing into the line when there was no escape). Returns 0 or -errno.
 */
static int parse_string(struct parser *ps, struct detect_str *out)
{
	const char *s = ++ps->p, *p = s, *end = ps->end;
	char *o;
	uint32_t cp, lo;

	for (;;) {
		while (p < end && !str_class[(unsigned char)*p])
			p++;
		if (p >= end)
			return -EINVAL;
		if (*p == '"') {
			if (out) {
				out->p = s;
				out->len = (uint32_t)(p - s);
			}
			ps->p = p + 1;
			return 0;
		}
		if (*p != '\\')
			return -EINVAL; /* a raw control byte */
		break;
	}
	/* Escapes: validate, and unescape into scratch when the value is wanted. */
	o = ps->scratch;
	if (out) {
		if (ps->scratch_end - o < p - s)
			return -E2BIG;
		memcpy(o, s, (size_t)(p - s));
		o += p - s;
	}
	while (p < end) {
		unsigned char c = (unsigned char)*p;

		if (c == '"') {
			if (out) {
				out->p = ps->scratch;
				out->len = (uint32_t)(o - ps->scratch);
				ps->scratch = o;
			}
			ps->p = p + 1;
			return 0;
		}
		if (c < 0x20)
			return -EINVAL;
		if (c != '\\') {
			if (out) {
				if (o >= ps->scratch_end)
					return -E2BIG;
				*o++ = (char)c;
			}
			p++;
			continue;
		}
		if (++p >= end)
			return -EINVAL;
		switch (*p) {
		case '"':
		case '\\':
		case '/':
			cp = (unsigned char)*p;
			break;
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'u':
			if (end - p < 5 || hex4(p + 1, &cp))
				return -EINVAL;
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00) {
				/* A high surrogate must be followed by an escaped low one. */
				if (end - p < 7 || p[1] != '\\' || p[2] != 'u' ||
				    hex4(p + 3, &lo) || lo < 0xdc00 || lo >= 0xe000)
					return -EINVAL;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				return -EINVAL;
			}
			break;
		default:
			return -EINVAL;
		}
		p++;
		if (out && put_utf8(ps, &o, cp))
			return -E2BIG;
	}
	return -EINVAL;
}

/* A number, checked for shape; *u receives it when it is an unsigned integer that fits. */
static int parse_number(struct parser *ps, uint64_t *u, bool *is_uint)
{
	const char *p = ps->p, *end = ps->end;
	uint64_t v = 0;
	bool ok = true;

	if (p < end && *p == '-') {
		ok = false;
		p++;
	}
	if (p >= end)
		return -EINVAL;
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (p < end && *p >= '0' && *p <= '9') {
			if (v > (UINT64_MAX - 9) / 10)
				ok = false;
			v = v * 10 + (uint64_t)(*p - '0');
			p++;
		}
	} else {
		return -EINVAL;
	}
	if (p < end && *p == '.') {
		ok = false;
		if (++p >= end || *p < '0' || *p > '9')
			return -EINVAL;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		ok = false;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return -EINVAL;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	ps->p = p;
	*u = v;
	*is_uint = ok;
	return 0;
}

static int parse_literal(struct parser *ps, const char *lit, size_t n)
{
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n))
		return -EINVAL;
	ps->p += n;
	return 0;
}

static uint32_t access_bit(const struct detect_str *s)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} names[] = {
		{"read", DETECT_ACC_READ},     {"write", DETECT_ACC_WRITE},
		{"create", DETECT_ACC_CREATE}, {"truncate", DETECT_ACC_TRUNC},
		{"exec", DETECT_ACC_EXEC},
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == s->len && !memcmp(names[i].name, s->p, s->len))
			return names[i].bit;
	return 0;
}

static int parse_value(struct parser *ps, const struct path_node *node);

static const struct path_node *child_of(const struct path_node *node, const struct detect_str *k)
{
	unsigned int i;

	if (!node || node->field >= 0)
		return NULL;
	for (i = 0; i < node->n_children; i++) {
		const struct path_node *c = &node->children[i];

		if (c->key_len == k->len && !memcmp(c->key, k->p, k->len))
			return c;
	}
	return NULL;
}

static int parse_object(struct parser *ps, const struct path_node *node)
{
	struct detect_str key;
	int err;

	ps->p++; /* '{' */
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		return 0;
	}
	for (;;) {
		if (ps->p >= ps->end || *ps->p != '"')
			return -EINVAL;
		/* Keys of interest never have escapes; scratch is used only if one does. */
		err = parse_string(ps, node && node->field < 0 ? &key : NULL);
		if (err)
			return err;
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != ':')
			return -EINVAL;
		ps->p++;
		skip_ws(ps);
		err = parse_value(ps, node && node->field < 0 ? child_of(node, &key) : NULL);
		if (err)
			return err;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return -EINVAL;
		if (*ps->p == ',') {
			ps->p++;
			skip_ws(ps);
			continue;
		}
		if (*ps->p == '}') {
			ps->p++;
			return 0;
		}
		return -EINVAL;
	}
}

static int parse_array(struct parser *ps, const struct path_node *node)
{
	bool access = node && node->field == DETECT_F_ACCESS;
	struct detect_str s;
	int err;

	ps->p++; /* '[' */
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		if (access)
			ps->ev->have |= 1u << DETECT_F_ACCESS;
		return 0;
	}
	for (;;) {
		if (access && ps->p < ps->end && *ps->p == '"') {
			err = parse_string(ps, &s);
			if (!err) {
				ps->ev->access |= access_bit(&s);
				ps->ev->have |= 1u << DETECT_F_ACCESS;
			}
		} else {
			err = parse_value(ps, NULL);
		}
		if (err)
			return err;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return -EINVAL;
		if (*ps->p == ',') {
			ps->p++;
			skip_ws(ps);
			continue;
		}
		if (*ps->p == ']') {
			ps->p++;
			return 0;
		}
		return -EINVAL;
	}
}

static void store_uint(struct detect_event *ev, int field, uint64_t v)
{
	switch (field) {
	case DETECT_F_CLASS_UID:
		ev->class_uid = (uint32_t)v;
		break;
	case DETECT_F_ACTIVITY_ID:
		ev->activity_id = (uint32_t)v;
		break;
	case DETECT_F_TIME:
		ev->time_ms = v;
		break;
	case DETECT_F_DISPOSITION_ID:
		ev->disposition_id = (uint32_t)v;
		break;
	case DETECT_F_ACTION_ID:
		ev->action_id = (uint32_t)v;
		break;
	case DETECT_F_LAUNCH_TYPE_ID:
		ev->launch_type_id = (uint32_t)v;
		break;
	case DETECT_F_ACCESS_MASK:
		ev->access_mask = v;
		break;
	case DETECT_F_DST_PORT:
		ev->dst_port = (uint32_t)v;
		break;
	case DETECT_F_DIRECTION_ID:
		ev->direction_id = (uint32_t)v;
		break;
	default:
		return; /* a string field given a number: ignore it */
	}
	ev->have |= 1u << field;
}

static bool is_string_field(int field)
{
	switch (field) {
	case DETECT_F_EVENT_UID:
	case DETECT_F_EXE_PATH:
	case DETECT_F_EXE_UID:
	case DETECT_F_CMD_LINE:
	case DETECT_F_ACTOR_NAME:
	case DETECT_F_FILE_PATH:
	case DETECT_F_FILE_UID:
	case DETECT_F_DST_IP:
	case DETECT_F_AGENT_UID:
	case DETECT_F_SESSION:
	case DETECT_F_AGENT_NAME:
	case DETECT_F_IMAGE:
	case DETECT_F_RULE:
		return true;
	}
	return false;
}

static int parse_value(struct parser *ps, const struct path_node *node)
{
	int field = node ? node->field : -1;
	uint64_t u;
	bool is_uint;
	int err;

	if (ps->p >= ps->end)
		return -EINVAL;
	switch (*ps->p) {
	case '{':
		if (++ps->depth > MAX_DEPTH)
			return -E2BIG;
		err = parse_object(ps, node && field < 0 ? node : NULL);
		ps->depth--;
		return err;
	case '[':
		if (++ps->depth > MAX_DEPTH)
			return -E2BIG;
		err = parse_array(ps, node);
		ps->depth--;
		return err;
	case '"':
		if (field >= 0 && is_string_field(field)) {
			err = parse_string(ps, &ps->ev->s[field]);
			if (!err)
				ps->ev->have |= 1u << field;
			return err;
		}
		return parse_string(ps, NULL);
	case 't':
		return parse_literal(ps, "true", 4);
	case 'f':
		return parse_literal(ps, "false", 5);
	case 'n':
		return parse_literal(ps, "null", 4);
	default:
		err = parse_number(ps, &u, &is_uint);
		if (!err && field >= 0 && is_uint)
			store_uint(ps->ev, field, u);
		return err;
	}
}

int detect_input__parse(const char *line, size_t len, struct detect_event *ev, char *scratch,
			size_t scratch_size)
{
	struct parser ps = {
		.p = line,
		.end = line + len,
		.scratch = scratch,
		.scratch_end = scratch + scratch_size,
		.ev = ev,
	};
	int err;

	memset(ev, 0, sizeof(*ev));
	skip_ws(&ps);
	if (ps.p >= ps.end || *ps.p != '{')
		return -EINVAL;
	err = parse_value(&ps, &top);
	if (err)
		return err;
	skip_ws(&ps);
	return ps.p == ps.end ? 0 : -EINVAL;
}

/* open(2) flags, as access_mask carries them (O_ACCMODE, O_CREAT, O_TRUNC). */
static uint32_t access_from_mask(uint64_t m)
{
	uint32_t a = 0;

	switch (m & 3) {
	case 0:
		a = DETECT_ACC_READ;
		break;
	case 1:
		a = DETECT_ACC_WRITE;
		break;
	default:
		a = DETECT_ACC_READ | DETECT_ACC_WRITE;
	}
	if (m & 0100)
		a |= DETECT_ACC_CREATE;
	if (m & 01000)
		a |= DETECT_ACC_TRUNC;
	return a;
}

#define HAS(ev, f) ((ev)->have & (1u << (f)))

int detect_event__classify(struct detect_event *ev)
{
	const uint32_t base = (1u << DETECT_F_CLASS_UID) | (1u << DETECT_F_TIME) |
			      (1u << DETECT_F_EVENT_UID) | (1u << DETECT_F_AGENT_UID);

	ev->type = DETECT_EV_IGNORED;
	if (!HAS(ev, DETECT_F_CLASS_UID))
		return -ENODATA;
	switch (ev->class_uid) {
	case 1007: /* Process Activity */
		if ((ev->have & base) != base || !HAS(ev, DETECT_F_ACTIVITY_ID))
			return -ENODATA;
		/* Launch by exec: launch_type_id 3, or absent (producers before 1.8). */
		if (ev->activity_id != 1 ||
		    (HAS(ev, DETECT_F_LAUNCH_TYPE_ID) && ev->launch_type_id != 3))
			return 0;
		if (!HAS(ev, DETECT_F_EXE_PATH) || !ev->s[DETECT_F_EXE_PATH].len)
			return -ENODATA;
		ev->type = DETECT_EV_EXEC;
		break;
	case 1001: /* File System Activity */
		if ((ev->have & base) != base || !HAS(ev, DETECT_F_ACTIVITY_ID))
			return -ENODATA;
		if (ev->activity_id != 14) /* Open */
			return 0;
		if (!HAS(ev, DETECT_F_FILE_PATH) || !ev->s[DETECT_F_FILE_PATH].len)
			return -ENODATA;
		if (!HAS(ev, DETECT_F_ACCESS) && HAS(ev, DETECT_F_ACCESS_MASK))
			ev->access = access_from_mask(ev->access_mask);
		else if (!HAS(ev, DETECT_F_ACCESS))
			ev->access = DETECT_ACC_READ;
		ev->type = DETECT_EV_FILE;
		break;
	case 4001: /* Network Activity */
		if ((ev->have & base) != base || !HAS(ev, DETECT_F_ACTIVITY_ID))
			return -ENODATA;
		/* Outbound opens (connect) and traffic (sendmsg); inbound and bind are not egress. */
		if ((ev->activity_id != 1 && ev->activity_id != 6) ||
		    (HAS(ev, DETECT_F_DIRECTION_ID) && ev->direction_id != 2))
			return 0;
		if (!HAS(ev, DETECT_F_DST_IP) || !HAS(ev, DETECT_F_DST_PORT))
			return -ENODATA;
		ev->type = DETECT_EV_NET;
		break;
	case 1003: /* Kernel Activity: syscalls are counted by the daemon, not used here */
		return 0;
	default:
		return -EPROTONOSUPPORT;
	}
	ev->denied = ev->disposition_id == 2 || ev->disposition_id == 15 || ev->action_id == 2;
	return 0;
}
