// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch top's reader of the event stream: one OCSF line (user/ocsf.h) to a struct
 * top_event, in one pass and without allocating. Only the members top shows are decoded; whole
 * subtrees top has no use for (metadata, device, ancestry, ...) are skipped unread. A DOM parser
 * costs several times as much per event, and top reads every event of every agent.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <agentwatch/event.h>

#include "top_source.h"

enum field {
	F_CLASS,
	F_ACTIVITY,
	F_LAUNCH,
	F_TIME,
	F_DISP,
	F_STATUS,
	F_DIRECTION,
	F_PROTO,
	F_P_PID,
	F_P_NAME,
	F_P_PPID,
	F_P_PATH,
	F_P_CMD,
	F_A_PID,
	F_A_NAME,
	F_A_PPID,
	F_FILE_PATH,
	F_DST_IP,
	F_DST_PORT,
	F_SRC_IP,
	F_SRC_PORT,
	F_SYSCALL,
	F_RULE,
	F_AGENT_UID,
	F_ACCESS,
	F_NOTICE,
	F_COUNT,
	F_OK,
	F__COUNT,
};

/* The members read, by their path from the top-level object. */
static const char *const paths[F__COUNT] = {
	[F_CLASS] = "class_uid",
	[F_ACTIVITY] = "activity_id",
	[F_LAUNCH] = "launch_type_id",
	[F_TIME] = "time",
	[F_DISP] = "disposition_id",
	[F_STATUS] = "status_code",
	[F_DIRECTION] = "connection_info.direction_id",
	[F_PROTO] = "connection_info.protocol_name",
	[F_P_PID] = "process.pid",
	[F_P_NAME] = "process.name",
	[F_P_PPID] = "process.parent_process.pid",
	[F_P_PATH] = "process.file.path",
	[F_P_CMD] = "process.cmd_line",
	[F_A_PID] = "actor.process.pid",
	[F_A_NAME] = "actor.process.name",
	[F_A_PPID] = "actor.process.parent_process.pid",
	[F_FILE_PATH] = "file.path",
	[F_DST_IP] = "dst_endpoint.ip",
	[F_DST_PORT] = "dst_endpoint.port",
	[F_SRC_IP] = "src_endpoint.ip",
	[F_SRC_PORT] = "src_endpoint.port",
	[F_SYSCALL] = "kernel.system_call",
	[F_RULE] = "unmapped.rule",
	[F_AGENT_UID] = "unmapped.ai_agent.uid",
	[F_ACCESS] = "unmapped.access",
	[F_NOTICE] = "notice",
	[F_COUNT] = "count",
	[F_OK] = "ok",
};

#define SCAN_DEPTH    16
#define SCAN_PATH_MAX 96
#define NO_FIELD      (-1) /* skip the value */
#define DESCEND	      (-2) /* an object on the way to a member that is read */

struct scan {
	const char *p, *end;
	char path[SCAN_PATH_MAX];
	size_t plen;
	int depth;
	char *out; /* decoded strings go here, NUL-terminated */
	size_t out_len, out_cap;
	bool set[F__COUNT];
	long long num[F__COUNT];
	const char *str[F__COUNT];
	unsigned int access;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* What the current path is: a member read, the way to one, or neither. */
static int interest(const struct scan *s)
{
	static size_t len[F__COUNT];
	int i, way = NO_FIELD;

	if (!len[0])
		for (i = 0; i < F__COUNT; i++)
			len[i] = strlen(paths[i]);
	for (i = 0; i < F__COUNT; i++) {
		const char *want = paths[i];

		/* Cheap tests first: this runs for every member name of every event. */
		if (len[i] < s->plen || want[0] != s->path[0] ||
		    (want[s->plen] != '\0' && want[s->plen] != '.') ||
		    memcmp(want, s->path, s->plen))
			continue;
		if (want[s->plen] == '\0')
			return i;
		way = DESCEND;
	}
	return way;
}

static bool is_delim(char c)
{
	switch (c) {
	case ',':
	case ':':
	case '{':
	case '}':
	case '[':
	case ']':
	case '"':
	case ' ':
	case '\t':
	case '\r':
	case '\n':
		return true;
	default:
		return false;
	}
}

static int skip_string(struct scan *s)
{
	s->p++; /* the opening quote */
	while (s->p < s->end) {
		const char *q = memchr(s->p, '"', (size_t)(s->end - s->p));
		const char *b;

		if (!q)
			break;
		/* Escaped if an odd number of backslashes precede it. */
		for (b = q; b > s->p && b[-1] == '\\'; b--)
			;
		s->p = q + 1;
		if ((q - b) % 2 == 0)
			return 0;
	}
	return -EINVAL;
}

static void put_utf8(struct scan *s, unsigned int cp)
{
	char b[4];
	int n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (s->out_len + (size_t)n < s->out_cap) {
		memcpy(s->out + s->out_len, b, (size_t)n);
		s->out_len += (size_t)n;
	}
}

static int hex4(const char *p, unsigned int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		char c = p[i];

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (unsigned int)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	return 0;
}

/* Decode a string into the scratch buffer (cut where it is full); *out is NUL-terminated. */
static int read_string(struct scan *s, const char **out)
{
	size_t start = s->out_len;

	s->p++;
	while (s->p < s->end && *s->p != '"') {
		unsigned int cp, lo;
		char c = *s->p++;

		if (c != '\\') {
			if (s->out_len + 1 < s->out_cap)
				s->out[s->out_len++] = c;
			continue;
		}
		if (s->p >= s->end)
			return -EINVAL;
		c = *s->p++;
		switch (c) {
		case 'b':
			c = '\b';
			break;
		case 'f':
			c = '\f';
			break;
		case 'n':
			c = '\n';
			break;
		case 'r':
			c = '\r';
			break;
		case 't':
			c = '\t';
			break;
		case 'u':
			if (s->end - s->p < 4 || hex4(s->p, &cp))
				return -EINVAL;
			s->p += 4;
			/* A surrogate pair is one code point; a lone surrogate becomes U+FFFD. */
			if (cp >= 0xd800 && cp < 0xdc00 && s->end - s->p >= 6 && s->p[0] == '\\' &&
			    s->p[1] == 'u' && !hex4(s->p + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				s->p += 6;
			} else if (cp >= 0xd800 && cp < 0xe000) {
				cp = 0xfffd;
			}
			put_utf8(s, cp);
			continue;
		default: /* '"', '\\', '/' stand for themselves */
			break;
		}
		if (s->out_len + 1 < s->out_cap)
			s->out[s->out_len++] = c;
	}
	if (s->p >= s->end)
		return -EINVAL;
	s->p++;
	if (s->out_len >= s->out_cap) {
		*out = ""; /* no room left, not even for the NUL */
		return 0;
	}
	s->out[s->out_len++] = '\0';
	*out = s->out + start;
	return 0;
}

static int skip_value(struct scan *s)
{
	int depth = 0;

	do {
		skip_ws(s);
		if (s->p >= s->end)
			return -EINVAL;
		switch (*s->p) {
		case '"':
			if (skip_string(s))
				return -EINVAL;
			break;
		case '{':
		case '[':
			depth++;
			s->p++;
			break;
		case '}':
		case ']':
			depth--;
			s->p++;
			break;
		default: /* numbers, literals, ',' and ':' inside a container */
			s->p++;
			while (s->p < s->end && !is_delim(*s->p))
				s->p++;
			break;
		}
	} while (depth > 0);
	return depth ? -EINVAL : 0;
}

static int read_value(struct scan *s, int field);

/* A decimal integer that ends at `end` at the latest (lines are not NUL-terminated). */
static const char *read_int(const char *p, const char *end, long long *v)
{
	const char *start = p;
	bool neg = p < end && *p == '-';
	unsigned long long n = 0;

	if (neg)
		p++;
	if (p >= end || *p < '0' || *p > '9')
		return start;
	while (p < end && *p >= '0' && *p <= '9')
		n = n * 10 + (unsigned long long)(*p++ - '0');
	*v = neg ? -(long long)n : (long long)n;
	return p;
}

static int read_array(struct scan *s, int field)
{
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 0;
	}
	for (;;) {
		const char *v;

		skip_ws(s);
		if (field == F_ACCESS && s->p < s->end && *s->p == '"') {
			if (read_string(s, &v))
				return -EINVAL;
			if (!strcmp(v, "read"))
				s->access |= AW_ACC_READ;
			else if (!strcmp(v, "write"))
				s->access |= AW_ACC_WRITE;
			else if (!strcmp(v, "create"))
				s->access |= AW_ACC_CREATE;
			else if (!strcmp(v, "truncate"))
				s->access |= AW_ACC_TRUNC;
			else if (!strcmp(v, "exec"))
				s->access |= AW_ACC_EXEC;
		} else if (skip_value(s)) {
			return -EINVAL;
		}
		skip_ws(s);
		if (s->p >= s->end)
			return -EINVAL;
		if (*s->p == ']') {
			s->p++;
			return 0;
		}
		if (*s->p++ != ',')
			return -EINVAL;
	}
}

static int read_object(struct scan *s)
{
	size_t plen = s->plen;

	if (++s->depth > SCAN_DEPTH)
		return -EINVAL;
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		const char *key, *kend;
		size_t klen;
		int field;

		skip_ws(s);
		if (s->p >= s->end || *s->p != '"')
			return -EINVAL;
		key = s->p + 1;
		if (skip_string(s))
			return -EINVAL;
		kend = s->p - 1;
		klen = (size_t)(kend - key);
		/* Member names of OCSF are plain: one that is escaped or long is nothing we read. */
		if (memchr(key, '\\', klen) || plen + klen + 2 > sizeof(s->path)) {
			field = NO_FIELD;
		} else {
			if (plen)
				s->path[s->plen++] = '.';
			memcpy(s->path + s->plen, key, klen);
			s->plen += klen;
			s->path[s->plen] = '\0';
			field = interest(s);
		}
		skip_ws(s);
		if (s->p >= s->end || *s->p++ != ':')
			return -EINVAL;
		skip_ws(s);
		if (read_value(s, field))
			return -EINVAL;
		s->plen = plen;
		s->path[plen] = '\0';
		skip_ws(s);
		if (s->p >= s->end)
			return -EINVAL;
		if (*s->p == '}') {
			s->p++;
			s->depth--;
			return 0;
		}
		if (*s->p++ != ',')
			return -EINVAL;
	}
}

static int read_value(struct scan *s, int field)
{
	const char *v, *end;

	if (s->p >= s->end)
		return -EINVAL;
	if (field == NO_FIELD)
		return skip_value(s);
	switch (*s->p) {
	case '{':
		return field == DESCEND ? read_object(s) : skip_value(s);
	case '[':
		return read_array(s, field);
	case '"':
		if (field < 0)
			return skip_string(s);
		if (read_string(s, &v))
			return -EINVAL;
		s->str[field] = v;
		s->set[field] = true;
		return 0;
	case 't':
	case 'f':
		if (field >= 0) {
			s->num[field] = *s->p == 't';
			s->set[field] = true;
		}
		return skip_value(s);
	default:
		if (field < 0)
			return skip_value(s);
		end = read_int(s->p, s->end, &s->num[field]);
		if (end == s->p)
			return skip_value(s); /* null */
		s->set[field] = true;
		/* A fraction or an exponent, should one come, is cut off. */
		while (end < s->end && strchr("0123456789.eE+-", *end))
			end++;
		s->p = end;
		return 0;
	}
}

static long long num(const struct scan *s, enum field f, long long dflt)
{
	return s->set[f] && !s->str[f] ? s->num[f] : dflt;
}

static const char *str(const struct scan *s, enum field f)
{
	return s->str[f];
}

static int scan_line(struct scan *s, const char *line, size_t len, char *scratch, size_t size)
{
	memset(s, 0, sizeof(*s));
	s->p = line;
	s->end = line + len;
	s->out = scratch;
	s->out_cap = size;
	skip_ws(s);
	if (s->p >= s->end || *s->p != '{')
		return -EINVAL;
	return read_object(s);
}

int top_line__parse(const char *line, size_t len, struct top_line *out, char *scratch, size_t size)
{
	struct top_event *ev = &out->ev;
	struct scan s;
	long long cls, act, disp;
	bool actor = true;

	memset(out, 0, sizeof(*out));
	if (scan_line(&s, line, len, scratch, size))
		return -EINVAL;
	if (s.set[F_OK] && !s.set[F_CLASS]) {
		out->kind = TOP_LINE_REPLY;
		out->ok = num(&s, F_OK, 0) != 0;
		return 0;
	}
	if (str(&s, F_NOTICE)) {
		out->kind = TOP_LINE_NOTICE;
		out->notice = str(&s, F_NOTICE);
		out->count = (unsigned long long)num(&s, F_COUNT, 0);
		return 0;
	}
	ev->agent_uid = str(&s, F_AGENT_UID);
	if (!ev->agent_uid)
		return -EINVAL;
	out->kind = TOP_LINE_EVENT;
	cls = num(&s, F_CLASS, -1);
	act = num(&s, F_ACTIVITY, -1);
	switch (cls) {
	case 1007: /* process activity: the process object is the subject */
		actor = false;
		if (act == 2)
			ev->kind = TOP_EV_EXIT;
		else if (num(&s, F_LAUNCH, 0) == 3)
			ev->kind = TOP_EV_EXEC;
		else if (num(&s, F_LAUNCH, 0) == 2)
			ev->kind = TOP_EV_FORK;
		else
			return -EINVAL; /* a new thread, not a process */
		break;
	case 1001:
		ev->kind = TOP_EV_OPEN;
		break;
	case 4001:
		switch (act) {
		case 1:
			ev->kind = num(&s, F_DIRECTION, 2) == 1 ? TOP_EV_ACCEPT : TOP_EV_CONNECT;
			break;
		case 6:
			ev->kind = TOP_EV_SEND;
			break;
		case 7:
			ev->kind = TOP_EV_LISTEN;
			break;
		default:
			ev->kind = TOP_EV_BIND;
			break;
		}
		break;
	case 1003:
		ev->kind = TOP_EV_SYSCALL;
		break;
	default:
		ev->kind = TOP_EV_OTHER;
		break;
	}
	ev->time_ms = (unsigned long long)num(&s, F_TIME, 0);
	ev->pid = (unsigned int)num(&s, actor ? F_A_PID : F_P_PID, 0);
	ev->ppid = (unsigned int)num(&s, actor ? F_A_PPID : F_P_PPID, 0);
	ev->comm = str(&s, actor ? F_A_NAME : F_P_NAME);
	switch (ev->kind) {
	case TOP_EV_EXEC:
		ev->path = str(&s, F_P_PATH);
		ev->cmdline = str(&s, F_P_CMD);
		break;
	case TOP_EV_OPEN:
		ev->path = str(&s, F_FILE_PATH);
		ev->access = s.access;
		break;
	case TOP_EV_ACCEPT:
		ev->ip = str(&s, F_SRC_IP);
		ev->port = (unsigned int)num(&s, F_SRC_PORT, 0);
		break;
	case TOP_EV_CONNECT:
	case TOP_EV_SEND:
	case TOP_EV_BIND:
	case TOP_EV_LISTEN:
		ev->ip = str(&s, F_DST_IP);
		ev->port = (unsigned int)num(&s, F_DST_PORT, 0);
		break;
	case TOP_EV_SYSCALL:
		ev->syscall = str(&s, F_SYSCALL);
		break;
	default:
		break;
	}
	ev->proto = str(&s, F_PROTO);
	ev->status = str(&s, F_STATUS);
	disp = num(&s, F_DISP, 1);
	ev->disp = disp == 2	? TOP_DISP_BLOCKED
		   : disp == 15 ? TOP_DISP_WOULD_BLOCK
				: TOP_DISP_ALLOWED;
	ev->rule = str(&s, F_RULE);
	return 0;
}
