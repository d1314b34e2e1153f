/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's control socket: a Unix stream socket (default CONTROL_SOCKET_DEFAULT, mode 0600)
 * that only root may use; the daemon also checks SO_PEERCRED on accept and refuses any other uid
 * with one error line.
 *
 * Protocol: line-delimited JSON. The client sends one request object per line; the daemon
 * answers each with one object on one line, {"ok":true,...} or {"ok":false,"error":"..."},
 * in order. Requests (unknown members are ignored, so old daemons accept new clients):
 *
 *   {"op":"hello"}
 *     -> {"ok":true,"version":"0.1.0","pid":123,"cgroup_root":"/sys/fs/cgroup",
 *         "exec_parent":"/sys/fs/cgroup/agentwatch"}
 *        cgroup_root is the cgroup v2 mount the daemon watches; exec_parent is where
 *        `agentwatch exec` makes agent cgroups.
 *   {"op":"register","cgroup":"/sys/fs/cgroup/agentwatch/claude-1a2b","name":"claude",
 *    "session":"s-42","home":"/home/alice","workspace":"/home/alice/src"}
 *    (or "workspace_default":"/home/alice/src": a ${WORKSPACE} that the spec.selector.workspace
 *    of a policy selecting the agent replaces, as `exec` sends its current directory)
 *     -> {"ok":true,"slot":3,"agent_uid":"<uuid>","session_uid":"s-42"}
 *        Makes an existing cgroup (absolute path under cgroup_root) an agent before the reply
 *        is sent, so a process started after the reply is watched from its first instruction,
 *        and, when the daemon enforces policies (`run --rules`), confined by them: the reply
 *        comes after the policy for the agent is in force, and a policy that cannot be put in
 *        force for it is an error reply. name, session, home and workspace are optional
 *        (default: the naming rules of user/registry.h, a random UUID, and the daemon's
 *        ${HOME} and ${WORKSPACE} defaults, user/run_policy.h); home and workspace, absolute
 *        paths, are the agent's ${HOME} and ${WORKSPACE} in the policy. Registering an agent
 *        again updates its name, session and policy in place.
 *   {"op":"unregister","cgroup":"/sys/fs/cgroup/agentwatch/claude-1a2b"}
 *     -> {"ok":true,"removed":true}
 *        Events already in the ring are delivered (attributed) first. "removed" is false when
 *        the cgroup was no agent (any more: the daemon drops agents whose cgroup is gone).
 *   {"op":"status"}
 *     -> {"ok":true,"version":..,"pid":..,"cgroup_root":..,"watch":["<glob>",..],
 *         "agents":[<agent>,..],"counters":{"events":N,"unattributed":N,"ringbuf_full":N,
 *         "no_scratch":N,"malformed":N,"written":N,"sink_dropped":N,"sink_errors":N,
 *         "followers":N,"follow_dropped":N,"refused":N},
 *         "policy":{"generation":N,"reload_failures":N,"paths":[..]}}
 *        (policy only when the daemon enforces rules, user/run_policy.h)
 *   {"op":"follow"}
 *     -> {"ok":true}, then every later event as the line the sinks get (one OCSF 1.8.0 object),
 *        interleaved with notices, objects with a "notice" member:
 *          {"notice":"agent","agent":<agent>}           an agent was registered (and, right
 *                                                      after {"ok":true}, one per live agent)
 *          {"notice":"agent_removed","agent":<agent>}   it is gone
 *          {"notice":"dropped","count":N,"total":M}     N lines were not sent to this client
 *                                                      because it read too slowly (M so far)
 *        until the client disconnects; the daemon reads nothing more from it.
 *
 * <agent> = {"slot":3,"name":"claude","cgroup":"/sys/fs/cgroup/...","cgroup_id":9001,
 *            "agent_uid":"<uuid>","session_uid":"<uuid>","source":"selector"|"client",
 *            "k8s":{"pod_uid":..,"container_id":..,"runtime":..,"qos":..}}
 *           (k8s only when the cgroup path names a pod or container; empty members left out)
 *
 * A request line is at most CONTROL_LINE_MAX bytes. A follower's unsent lines are bounded by
 * CONTROL_FOLLOW_BUF bytes: the daemon never waits for a client; what does not fit is dropped
 * and counted, and the client is told with a "dropped" notice as soon as there is room.
 *
 * Example with socat(1):
 *   echo '{"op":"status"}' | sudo socat - UNIX-CONNECT:/run/agentwatch/agentwatch.sock
 */
#ifndef AGENTWATCH_CONTROL_H
#define AGENTWATCH_CONTROL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <agentwatch/agent.h>
#include <json-c/json.h>

#define CONTROL_SOCKET_DEFAULT "/run/agentwatch/agentwatch.sock"
#define CONTROL_LINE_MAX       (64 * 1024)
#define CONTROL_FOLLOW_BUF     (1024 * 1024)
#define CONTROL_REPLY_BUF      (8 * 1024 * 1024) /* a status reply with every agent fits */
#define CONTROL_MAX_CLIENTS    64

/* --- protocol (pure) ------------------------------------------------------------------------- */

enum control_op {
	CONTROL_OP_HELLO = 1,
	CONTROL_OP_REGISTER,
	CONTROL_OP_UNREGISTER,
	CONTROL_OP_STATUS,
	CONTROL_OP_FOLLOW,
};

struct control_request {
	enum control_op op;
	char cgroup[PATH_MAX]; /* register, unregister */
	char name[AW_AGENT_NAME_LEN];
	char session[AW_AGENT_UID_LEN];
	char home[PATH_MAX]; /* register: the agent's ${HOME} and ${WORKSPACE} */
	char workspace[PATH_MAX];
	char workspace_default[PATH_MAX]; /* register: a ${WORKSPACE} a selector's replaces */
	bool has_name, has_session, has_home, has_workspace, has_workspace_default;
};

/* Parse one request line (without its '\n'). Returns 0, or -EINVAL with a message in err. */
int control__parse_request(const char *line, size_t len, struct control_request *req, char *err,
			   size_t errlen);
/* Serialise obj as one compact line with its '\n'; the string belongs to obj. */
const char *control__line(struct json_object *obj, size_t *len);
/* {"ok":false,"error":msg} */
struct json_object *control__error(const char *msg);
struct registry_agent;
/* The <agent> object of an agent. */
struct json_object *control__agent_json(const struct registry_agent *a);

/*
 * A client's queue of unsent output: lines are taken whole or not at all, up to `limit` bytes.
 * Event lines (push_event) that do not fit are dropped and counted; the next line that is
 * taken after a drop is preceded by {"notice":"dropped","count":N,"total":M}.
 */
struct control_queue {
	char *buf;
	size_t head, len, cap, limit; /* unsent bytes are buf[head, head + len) */
	unsigned long long dropped, dropped_total;
};

void control_queue__init(struct control_queue *q, size_t limit);
void control_queue__free(struct control_queue *q);
/* Take a line (a '\n' is added): 0, or -ENOBUFS when it does not fit (nothing is taken). */
int control_queue__push(struct control_queue *q, const char *line, size_t len);
/* Same for a droppable line: a line that does not fit is counted in dropped. */
int control_queue__push_event(struct control_queue *q, const char *line, size_t len);
/* Queue the pending "dropped" notice, if any and if it fits. */
void control_queue__notice_drops(struct control_queue *q);
static inline size_t control_queue__pending(const struct control_queue *q)
{
	return q->len;
}
static inline const char *control_queue__data(const struct control_queue *q)
{
	return q->buf + q->head;
}
void control_queue__consume(struct control_queue *q, size_t n);

/* --- the daemon's side ----------------------------------------------------------------------- */

/* What the daemon's epoll loop waits on: an epoll_event's data.ptr points at one. */
struct loop_source {
	int fd;
	void (*ready)(struct loop_source *src, unsigned int events);
};

struct control_server;
struct control_client;

struct control_ops {
	/*
	 * Answer a request other than follow: fill `reply` (the server adds "ok":true), or return
	 * -errno with a message in err.
	 */
	int (*request)(void *ctx, const struct control_request *req, struct json_object *reply,
		       char *err, size_t errlen);
	/* A client became a follower; send it what it needs first (control_client__send). */
	void (*follow)(void *ctx, struct control_client *c);
};

/* Does a daemon answer on `path`? (A socket file nobody listens on is stale.) */
bool control__in_use(const char *path);
/*
 * Listen on `path` (its directory is made 0755 if missing; the socket is 0600) and register the
 * listening socket with epfd. -EADDRINUSE when another daemon answers on it; a stale socket
 * file is replaced.
 */
int control_server__open(struct control_server **out, const char *path, int epfd,
			 const struct control_ops *ops, void *ctx);
/* Stop listening, close every client and remove the socket file. */
void control_server__close(struct control_server *s);
/* Queue one event line (the sink's bytes, no '\n') to every follower, dropping for slow ones. */
void control_server__broadcast(struct control_server *s, const char *line, size_t len);
/* Queue a notice object to every follower (droppable like an event). */
void control_server__notice(struct control_server *s, struct json_object *obj);
/* Write what is queued without blocking; free clients that went away. */
void control_server__flush(struct control_server *s);
/* Send one line (droppable) to one follower. */
void control_client__send(struct control_client *c, struct json_object *obj);

struct control_stats {
	int clients, followers;
	unsigned long long follow_dropped; /* lines dropped for slow followers, all time */
	unsigned long long refused;	   /* connections refused: not root, or too many */
};
void control_server__stats(const struct control_server *s, struct control_stats *st);

/* --- clients (agentwatch exec, agentwatch events) -------------------------------------------- */

/* A blocking connection to the daemon. */
struct control_conn {
	int fd;
	char *buf;
	size_t start, len, cap; /* unread bytes are buf[start, len) */
};

/* Connect to the daemon at path: 0, -ENOENT / -ECONNREFUSED when none runs, -EACCES, ... */
int control_conn__open(struct control_conn *c, const char *path);
void control_conn__close(struct control_conn *c);
/*
 * Read one line (without '\n', NUL-terminated, valid until the next read). timeout_ms < 0 waits
 * for ever. Returns its length, -EPIPE at end of stream, -ETIMEDOUT, -EPROTO (too long), -errno.
 */
int control_conn__read_line(struct control_conn *c, const char **line, int timeout_ms);
/*
 * Send a request and read its reply. Returns 0 with *reply set (the caller puts it), or
 * -EREMOTEIO when the daemon said {"ok":false} (its message in err), or another -errno.
 */
int control_conn__call(struct control_conn *c, struct json_object *req, struct json_object **reply,
		       char *err, size_t errlen);

/* agentwatch exec's conversation: where to make cgroups, register, unregister. */
int control_exec__hello(struct control_conn *c, char *exec_parent, size_t len);
/*
 * home and workspace (NULL: not sent) are the agent's ${HOME} and ${WORKSPACE};
 * workspace_default, sent when workspace is NULL, one a selector's workspace replaces.
 */
int control_exec__register(struct control_conn *c, const char *cgroup, struct aw_agent *agent,
			   bool session_given, const char *home, const char *workspace,
			   const char *workspace_default);
int control_exec__unregister(struct control_conn *c, const char *cgroup);

#endif /* AGENTWATCH_CONTROL_H */
