// SPDX-License-Identifier: Apache-2.0
/*
 * The control socket (protocol in control.h): request parsing and reply encoding, the bounded
 * per-client output queue, the daemon's non-blocking server, and the blocking client used by
 * `agentwatch exec` and `agentwatch events`.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "control.h"
#include "log.h"
#include "registry.h"

/* --- protocol -------------------------------------------------------------------------------- */

static const struct {
	const char *name;
	enum control_op op;
} ops[] = {
	{"hello", CONTROL_OP_HELLO},	       {"register", CONTROL_OP_REGISTER},
	{"unregister", CONTROL_OP_UNREGISTER}, {"status", CONTROL_OP_STATUS},
	{"follow", CONTROL_OP_FOLLOW},
};

/* Copy member `key`, a string shorter than size, into dst; *given says whether it was there. */
static int get_string(struct json_object *obj, const char *key, char *dst, size_t size, bool *given,
		      char *err, size_t errlen)
{
	struct json_object *v;
	const char *s;

	*given = json_object_object_get_ex(obj, key, &v) && !json_object_is_type(v, json_type_null);
	if (!*given)
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "'%s' must be a string", key);
		return -EINVAL;
	}
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s) || !*s) {
		snprintf(err, errlen, "'%s' must be a non-empty string without NUL", key);
		return -EINVAL;
	}
	if (strlen(s) >= size) {
		snprintf(err, errlen, "'%s' is longer than %zu bytes", key, size - 1);
		return -EINVAL;
	}
	strcpy(dst, s);
	return 0;
}

int control__parse_request(const char *line, size_t len, struct control_request *req, char *err,
			   size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *obj;
	char op[16];
	bool given;
	size_t i, end;
	int ret = -EINVAL;

	memset(req, 0, sizeof(*req));
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	obj = json_tokener_parse_ex(tok, line, (int)len);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success) {
		snprintf(err, errlen, "not JSON: %s",
			 json_tokener_error_desc(json_tokener_get_error(tok)));
		goto out;
	}
	for (end = json_tokener_get_parse_end(tok); end < len; end++)
		if (!strchr(" \t\r", line[end])) {
			snprintf(err, errlen, "text after the request object");
			goto out;
		}
	if (!json_object_is_type(obj, json_type_object)) {
		snprintf(err, errlen, "a request is a JSON object");
		goto out;
	}
	if (get_string(obj, "op", op, sizeof(op), &given, err, errlen))
		goto out;
	if (!given) {
		snprintf(err, errlen, "missing 'op'");
		goto out;
	}
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(op, ops[i].name))
			req->op = ops[i].op;
	if (!req->op) {
		snprintf(err, errlen, "unknown op '%s'", op);
		goto out;
	}
	if (req->op == CONTROL_OP_REGISTER || req->op == CONTROL_OP_UNREGISTER) {
		if (get_string(obj, "cgroup", req->cgroup, sizeof(req->cgroup), &given, err,
			       errlen))
			goto out;
		if (!given || req->cgroup[0] != '/') {
			snprintf(err, errlen, "'cgroup' must be an absolute path");
			goto out;
		}
	}
	if (req->op == CONTROL_OP_REGISTER) {
		if (get_string(obj, "name", req->name, sizeof(req->name), &req->has_name, err,
			       errlen) ||
		    get_string(obj, "session", req->session, sizeof(req->session),
			       &req->has_session, err, errlen) ||
		    get_string(obj, "home", req->home, sizeof(req->home), &req->has_home, err,
			       errlen) ||
		    get_string(obj, "workspace", req->workspace, sizeof(req->workspace),
			       &req->has_workspace, err, errlen) ||
		    get_string(obj, "workspace_default", req->workspace_default,
			       sizeof(req->workspace_default), &req->has_workspace_default, err,
			       errlen))
			goto out;
		if ((req->has_home && req->home[0] != '/') ||
		    (req->has_workspace && req->workspace[0] != '/') ||
		    (req->has_workspace_default && req->workspace_default[0] != '/')) {
			snprintf(err, errlen, "'%s' must be an absolute path",
				 req->has_home && req->home[0] != '/'		  ? "home"
				 : req->has_workspace && req->workspace[0] != '/' ? "workspace"
										  : "workspace_"
										    "default");
			goto out;
		}
	}
	ret = 0;
out:
	json_object_put(obj);
	json_tokener_free(tok);
	return ret;
}

const char *control__line(struct json_object *obj, size_t *len)
{
	return json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
}

struct json_object *control__error(const char *msg)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

static void add_str(struct json_object *o, const char *key, const char *val)
{
	if (val && *val)
		json_object_object_add(o, key, json_object_new_string(val));
}

struct json_object *control__agent_json(const struct registry_agent *a)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "slot", json_object_new_int((int)a->agent.slot));
	add_str(o, "name", a->agent.name);
	add_str(o, "cgroup", a->path);
	json_object_object_add(o, "cgroup_id", json_object_new_uint64(a->cgroup_id));
	add_str(o, "agent_uid", a->agent.agent_uid);
	add_str(o, "session_uid", a->agent.session_uid);
	add_str(o, "source", a->source == REGISTRY_CLIENT ? "client" : "selector");
	if (a->k8s.pod_uid[0] || a->k8s.container_id[0]) {
		struct json_object *k = json_object_new_object();

		add_str(k, "pod_uid", a->k8s.pod_uid);
		add_str(k, "container_id", a->k8s.container_id);
		add_str(k, "runtime", a->k8s.runtime);
		add_str(k, "qos", a->k8s.qos);
		json_object_object_add(o, "k8s", k);
	}
	return o;
}

/* --- the output queue ------------------------------------------------------------------------ */

void control_queue__init(struct control_queue *q, size_t limit)
{
	memset(q, 0, sizeof(*q));
	q->limit = limit;
}

void control_queue__free(struct control_queue *q)
{
	free(q->buf);
	memset(q, 0, sizeof(*q));
}

/* Room for n more bytes at the end, within the limit: 0 or -ENOBUFS. */
static int queue_reserve(struct control_queue *q, size_t n)
{
	size_t cap;
	char *buf;

	if (q->len + n > q->limit)
		return -ENOBUFS;
	if (q->head + q->len + n <= q->cap)
		return 0;
	if (q->head) { /* slide the unsent bytes to the front first */
		memmove(q->buf, q->buf + q->head, q->len);
		q->head = 0;
		if (q->len + n <= q->cap)
			return 0;
	}
	for (cap = q->cap ? q->cap : 4096; cap < q->len + n; cap *= 2)
		;
	if (cap > q->limit)
		cap = q->limit;
	buf = realloc(q->buf, cap);
	if (!buf)
		return -ENOBUFS;
	q->buf = buf;
	q->cap = cap;
	return 0;
}

int control_queue__push(struct control_queue *q, const char *line, size_t len)
{
	if (queue_reserve(q, len + 1))
		return -ENOBUFS;
	memcpy(q->buf + q->head + q->len, line, len);
	q->buf[q->head + q->len + len] = '\n';
	q->len += len + 1;
	return 0;
}

void control_queue__notice_drops(struct control_queue *q)
{
	char notice[96];
	int n;

	if (!q->dropped)
		return;
	n = snprintf(notice, sizeof(notice),
		     "{\"notice\":\"dropped\",\"count\":%llu,\"total\":%llu}", q->dropped,
		     q->dropped_total);
	if (control_queue__push(q, notice, (size_t)n) == 0)
		q->dropped = 0;
}

int control_queue__push_event(struct control_queue *q, const char *line, size_t len)
{
	control_queue__notice_drops(q);
	if (q->dropped || control_queue__push(q, line, len)) {
		q->dropped++;
		q->dropped_total++;
		return -ENOBUFS;
	}
	return 0;
}

void control_queue__consume(struct control_queue *q, size_t n)
{
	if (n > q->len)
		n = q->len;
	q->head += n;
	q->len -= n;
	if (!q->len)
		q->head = 0;
}

/* --- the server ------------------------------------------------------------------------------ */

struct control_client {
	struct loop_source src;
	struct control_server *srv;
	struct control_client *next;
	char *in;
	size_t in_len;
	struct control_queue out;
	unsigned int mask; /* the epoll events asked for */
	bool follower, closing, dead;
};

struct control_server {
	struct loop_source src;
	int epfd;
	char *path;
	dev_t dev;
	ino_t ino;
	const struct control_ops *ops;
	void *ctx;
	struct control_client *clients, *dead;
	int n_clients, n_followers;
	unsigned long long refused, follow_dropped;
};

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static void client_close(struct control_client *c)
{
	struct control_server *s = c->srv;
	struct control_client **pp;

	if (c->dead)
		return;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->src.fd, NULL);
	close(c->src.fd);
	c->src.fd = -1;
	c->dead = true;
	if (c->follower) {
		s->n_followers--;
		s->follow_dropped += c->out.dropped_total;
	}
	s->n_clients--;
	for (pp = &s->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	/* Freed by the next flush: the loop may still hold this client's epoll event. */
	c->next = s->dead;
	s->dead = c;
}

/* Wait for input unless the client is done asking, and for room to write when out is set. */
static void client_watch(struct control_client *c, bool out)
{
	unsigned int mask = (c->closing ? 0 : EPOLLIN) | (out ? EPOLLOUT : 0);
	struct epoll_event ev = {.events = mask, .data.ptr = &c->src};

	if (c->mask == mask)
		return;
	c->mask = mask;
	epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->src.fd, &ev);
}

/* Write what is queued, as far as the socket takes it now. */
static void client_write(struct control_client *c)
{
	while (!c->dead) {
		size_t pending = control_queue__pending(&c->out);
		ssize_t n;

		if (!pending) {
			control_queue__notice_drops(&c->out);
			if (!control_queue__pending(&c->out))
				break;
			continue;
		}
		n = send(c->src.fd, control_queue__data(&c->out), pending,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			control_queue__consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			client_watch(c, true);
			return;
		}
		client_close(c); /* the peer went away */
		return;
	}
	if (c->dead)
		return;
	client_watch(c, false);
	if (c->closing)
		client_close(c);
}

static void client_reply(struct control_client *c, struct json_object *obj)
{
	size_t len;
	const char *line = control__line(obj, &len);

	if (control_queue__push(&c->out, line, len)) {
		log_warn("control: a reply of %zu bytes does not fit the client's queue", len);
		c->closing = true;
	}
	json_object_put(obj);
}

void control_client__send(struct control_client *c, struct json_object *obj)
{
	size_t len;
	const char *line = control__line(obj, &len);

	control_queue__push_event(&c->out, line, len);
}

static void client_request(struct control_client *c, const char *line, size_t len)
{
	struct control_server *s = c->srv;
	struct control_request req;
	struct json_object *reply;
	char err[256];
	int ret;

	if (control__parse_request(line, len, &req, err, sizeof(err))) {
		client_reply(c, control__error(err));
		return;
	}
	reply = json_object_new_object();
	json_object_object_add(reply, "ok", json_object_new_boolean(1));
	if (req.op == CONTROL_OP_FOLLOW) {
		client_reply(c, reply);
		c->follower = true;
		c->out.limit = CONTROL_FOLLOW_BUF;
		s->n_followers++;
		if (s->ops->follow)
			s->ops->follow(s->ctx, c);
		return;
	}
	err[0] = '\0';
	ret = s->ops->request(s->ctx, &req, reply, err, sizeof(err));
	if (ret) {
		json_object_put(reply);
		reply = control__error(err[0] ? err : strerror(-ret));
	}
	client_reply(c, reply);
}

static void client_read(struct control_client *c)
{
	for (;;) {
		ssize_t n;
		char *nl;

		if (c->in_len == CONTROL_LINE_MAX) {
			client_reply(c, control__error("request line too long"));
			c->closing = true;
			return;
		}
		n = recv(c->src.fd, c->in + c->in_len, CONTROL_LINE_MAX - c->in_len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* End of requests: answer what was asked, then close. */
			c->closing = true;
			return;
		}
		if (c->follower) /* a follower has nothing more to say */
			continue;
		c->in_len += (size_t)n;
		while (!c->follower && (nl = memchr(c->in, '\n', c->in_len))) {
			size_t line = (size_t)(nl - c->in);

			client_request(c, c->in, line);
			memmove(c->in, nl + 1, c->in_len - line - 1);
			c->in_len -= line + 1;
		}
		if (c->follower)
			c->in_len = 0;
	}
}

static void client_ready(struct loop_source *src, unsigned int events)
{
	struct control_client *c = container_of(src, struct control_client, src);

	if (c->dead)
		return;
	if (events & EPOLLERR) {
		client_close(c);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP))
		client_read(c);
	if (!c->dead)
		client_write(c);
}

static void refuse(struct control_server *s, int fd, const char *why)
{
	char line[160];
	int n = snprintf(line, sizeof(line), "{\"ok\":false,\"error\":\"%s\"}\n", why);

	send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
	s->refused++;
}

static void server_ready(struct loop_source *src, unsigned int events)
{
	struct control_server *s = container_of(src, struct control_server, src);

	for (;;) {
		struct ucred cred = {.uid = (uid_t)-1};
		socklen_t clen = sizeof(cred);
		struct control_client *c;
		struct epoll_event ev = {.events = EPOLLIN};
		int fd = accept4(s->src.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_errno(errno, "control socket '%s': accept", s->path);
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) || cred.uid != 0) {
			log_warn("control socket '%s': refused pid %d uid %d: root only", s->path,
				 (int)cred.pid, (int)cred.uid);
			refuse(s, fd, "permission denied: the control socket is for root only");
			continue;
		}
		if (s->n_clients >= CONTROL_MAX_CLIENTS) {
			refuse(s, fd, "too many clients");
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c)
			c->in = malloc(CONTROL_LINE_MAX);
		if (!c || !c->in) {
			if (c)
				free(c);
			refuse(s, fd, "out of memory");
			continue;
		}
		c->src.fd = fd;
		c->src.ready = client_ready;
		c->mask = EPOLLIN;
		c->srv = s;
		control_queue__init(&c->out, CONTROL_REPLY_BUF);
		ev.data.ptr = &c->src;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			log_errno(errno, "control socket '%s': epoll", s->path);
			free(c->in);
			free(c);
			close(fd);
			continue;
		}
		c->next = s->clients;
		s->clients = c;
		s->n_clients++;
	}
}

static int mkdir_parents(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)], *p;

	snprintf(dir, sizeof(dir), "%s", path);
	for (p = dir + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* Is a daemon answering on the address? A file nobody listens on is stale. */
static bool socket_in_use(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool used;

	if (fd < 0)
		return false;
	used = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return used;
}

bool control__in_use(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(sa.sun_path))
		return false;
	strcpy(sa.sun_path, path);
	return socket_in_use(&sa);
}

int control_server__open(struct control_server **out, const char *path, int epfd,
			 const struct control_ops *cops, void *ctx)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct epoll_event ev = {.events = EPOLLIN};
	struct control_server *s;
	struct stat st;
	mode_t old;
	int err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return log_errno(ENAMETOOLONG, "control socket '%s'", path);
	strcpy(sa.sun_path, path);
	err = mkdir_parents(path);
	if (err)
		return log_errno(err, "control socket '%s': make its directory", path);
	if (socket_in_use(&sa)) {
		log_error("control socket '%s': another agentwatch daemon answers on it", path);
		return -EADDRINUSE;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->path = strdup(path);
	s->epfd = epfd;
	s->ops = cops;
	s->ctx = ctx;
	s->src.ready = server_ready;
	s->src.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!s->path || s->src.fd < 0) {
		err = log_errno(s->path ? errno : ENOMEM, "control socket '%s': socket", path);
		goto out_free;
	}
	unlink(path); /* stale: nobody answered on it */
	old = umask(0177);
	err = bind(s->src.fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old);
	if (err) {
		log_errno(err, "control socket '%s': bind", path);
		goto out_close;
	}
	if (chmod(path, 0600) || stat(path, &st) || listen(s->src.fd, 16)) {
		err = log_errno(errno, "control socket '%s': listen", path);
		goto out_unlink;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	ev.data.ptr = &s->src;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->src.fd, &ev)) {
		err = log_errno(errno, "control socket '%s': epoll", path);
		goto out_unlink;
	}
	*out = s;
	return 0;

out_unlink:
	unlink(path);
out_close:
	close(s->src.fd);
out_free:
	free(s->path);
	free(s);
	return err;
}

static void reap(struct control_server *s)
{
	while (s->dead) {
		struct control_client *c = s->dead;

		s->dead = c->next;
		control_queue__free(&c->out);
		free(c->in);
		free(c);
	}
}

void control_server__close(struct control_server *s)
{
	struct stat st;

	if (!s)
		return;
	while (s->clients)
		client_close(s->clients);
	reap(s);
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->src.fd, NULL);
	close(s->src.fd);
	/* Only our own socket: a newer daemon may have replaced it. */
	if (!stat(s->path, &st) && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	free(s->path);
	free(s);
}

void control_server__broadcast(struct control_server *s, const char *line, size_t len)
{
	struct control_client *c, *next;

	if (!s || !s->n_followers)
		return;
	for (c = s->clients; c; c = next) {
		next = c->next;
		if (!c->follower || c->dead)
			continue;
		control_queue__push_event(&c->out, line, len);
		/* Keep a fast reader's queue short during a long batch. */
		if (control_queue__pending(&c->out) > CONTROL_FOLLOW_BUF / 4)
			client_write(c);
	}
}

void control_server__notice(struct control_server *s, struct json_object *obj)
{
	size_t len;
	const char *line;

	if (s && s->n_followers) {
		line = control__line(obj, &len);
		control_server__broadcast(s, line, len);
	}
	json_object_put(obj);
}

void control_server__flush(struct control_server *s)
{
	struct control_client *c, *next;

	if (!s)
		return;
	for (c = s->clients; c; c = next) {
		next = c->next;
		client_write(c);
	}
	reap(s);
}

void control_server__stats(const struct control_server *s, struct control_stats *st)
{
	const struct control_client *c;

	memset(st, 0, sizeof(*st));
	if (!s)
		return;
	st->clients = s->n_clients;
	st->followers = s->n_followers;
	st->refused = s->refused;
	st->follow_dropped = s->follow_dropped;
	for (c = s->clients; c; c = c->next)
		if (c->follower)
			st->follow_dropped += c->out.dropped_total;
}

/* --- clients --------------------------------------------------------------------------------- */

int control_conn__open(struct control_conn *c, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int err;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		close(c->fd);
		c->fd = -1;
		return err;
	}
	return 0;
}

void control_conn__close(struct control_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int control_conn__read_line(struct control_conn *c, const char **line, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	char *nl;

	/* Drop the line returned last time. */
	if (c->start) {
		memmove(c->buf, c->buf + c->start, c->len - c->start);
		c->len -= c->start;
		c->start = 0;
	}
	for (;;) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		ssize_t n;
		int wait;

		nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		if (nl) {
			*nl = '\0';
			c->start = (size_t)(nl - c->buf) + 1;
			*line = c->buf;
			return (int)(nl - c->buf);
		}
		if (c->len + 1 >= c->cap) {
			size_t cap = c->cap ? 2 * c->cap : 65536;
			char *buf;

			if (cap > 4 * CONTROL_REPLY_BUF)
				return -EPROTO;
			buf = realloc(c->buf, cap);
			if (!buf)
				return -ENOMEM;
			c->buf = buf;
			c->cap = cap;
		}
		wait = deadline < 0 ? -1 : (int)(deadline - now_ms());
		if (deadline >= 0 && wait <= 0)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, wait);
		if (n < 0 && errno == EINTR)
			return -EINTR;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
		if (n < 0 && errno == EINTR)
			return -EINTR;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		c->len += (size_t)n;
	}
}

static int send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

#define CONTROL_CALL_TIMEOUT_MS 10000

int control_conn__call(struct control_conn *c, struct json_object *req, struct json_object **reply,
		       char *err, size_t errlen)
{
	struct json_object *r, *ok, *msg;
	const char *line;
	size_t len;
	int n, ret;

	line = control__line(req, &len);
	ret = send_all(c->fd, line, len);
	if (!ret)
		ret = send_all(c->fd, "\n", 1);
	/* A daemon that refused us may have closed before our request: its reason is still there. */
	do {
		n = control_conn__read_line(c, &line, ret ? 1000 : CONTROL_CALL_TIMEOUT_MS);
	} while (n == -EINTR);
	if (n < 0)
		return ret ? ret : n;
	r = json_tokener_parse(line);
	if (!r || !json_object_is_type(r, json_type_object) ||
	    !json_object_object_get_ex(r, "ok", &ok)) {
		json_object_put(r);
		snprintf(err, errlen, "the daemon's reply is not a protocol object");
		return -EPROTO;
	}
	if (!json_object_get_boolean(ok)) {
		snprintf(err, errlen, "%s",
			 json_object_object_get_ex(r, "error", &msg) ? json_object_get_string(msg)
								     : "request refused");
		json_object_put(r);
		return -EREMOTEIO;
	}
	*reply = r;
	return 0;
}

static const char *reply_string(struct json_object *reply, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(reply, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

int control_exec__hello(struct control_conn *c, char *exec_parent, size_t len)
{
	struct json_object *req = json_object_new_object(), *reply;
	char err[256];
	const char *parent;
	int ret;

	json_object_object_add(req, "op", json_object_new_string("hello"));
	ret = control_conn__call(c, req, &reply, err, sizeof(err));
	json_object_put(req);
	if (ret == -EREMOTEIO)
		log_error("control: hello: %s", err);
	if (ret)
		return ret;
	parent = reply_string(reply, "exec_parent");
	if (!parent || strlen(parent) >= len)
		ret = -EPROTO;
	else
		strcpy(exec_parent, parent);
	json_object_put(reply);
	return ret;
}

int control_exec__register(struct control_conn *c, const char *cgroup, struct aw_agent *agent,
			   bool session_given, const char *home, const char *workspace,
			   const char *workspace_default)
{
	struct json_object *req = json_object_new_object(), *reply, *slot;
	const char *uid, *session;
	char err[256];
	int ret;

	json_object_object_add(req, "op", json_object_new_string("register"));
	json_object_object_add(req, "cgroup", json_object_new_string(cgroup));
	json_object_object_add(req, "name", json_object_new_string(agent->name));
	if (session_given)
		json_object_object_add(req, "session", json_object_new_string(agent->session_uid));
	if (home)
		json_object_object_add(req, "home", json_object_new_string(home));
	if (workspace)
		json_object_object_add(req, "workspace", json_object_new_string(workspace));
	else if (workspace_default)
		json_object_object_add(req, "workspace_default",
				       json_object_new_string(workspace_default));
	ret = control_conn__call(c, req, &reply, err, sizeof(err));
	json_object_put(req);
	if (ret == -EREMOTEIO)
		log_error("cgroup '%s': the daemon refused to register it: %s", cgroup, err);
	if (ret)
		return ret;
	uid = reply_string(reply, "agent_uid");
	session = reply_string(reply, "session_uid");
	if (!uid || !session || !json_object_object_get_ex(reply, "slot", &slot)) {
		ret = -EPROTO;
	} else {
		agent->slot = (__u32)json_object_get_int(slot);
		snprintf(agent->agent_uid, sizeof(agent->agent_uid), "%s", uid);
		snprintf(agent->session_uid, sizeof(agent->session_uid), "%s", session);
	}
	json_object_put(reply);
	return ret;
}

int control_exec__unregister(struct control_conn *c, const char *cgroup)
{
	struct json_object *req = json_object_new_object(), *reply;
	char err[256];
	int ret;

	json_object_object_add(req, "op", json_object_new_string("unregister"));
	json_object_object_add(req, "cgroup", json_object_new_string(cgroup));
	ret = control_conn__call(c, req, &reply, err, sizeof(err));
	json_object_put(req);
	if (ret == -EREMOTEIO)
		log_warn("cgroup '%s': unregister: %s", cgroup, err);
	if (!ret)
		json_object_put(reply);
	return ret;
}
