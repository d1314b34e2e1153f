// SPDX-License-Identifier: Apache-2.0
/*
 * The detector's optional response: ask the local daemon to freeze an agent's cgroup.
 *
 * Request, one JSON line on the control socket (user/control.h):
 *   {"op":"freeze","agent_uid":"<uuid>","reason":"<finding uid>: <title>"}
 * Expected reply: {"ok":true} once the daemon wrote 1 to the agent's cgroup.freeze, or
 * {"ok":false,"error":"..."}. The daemon side of "freeze" belongs to the control socket's
 * owner (docs/detect.md, "Response hook"); a daemon that does not know the op answers
 * {"ok":false,"error":"unknown op 'freeze'"}, which is logged and otherwise harmless.
 */
#include <errno.h>
#include <json-c/json.h>

#include "control.h"
#include "detect.h"
#include "log.h"

int detect_respond__freeze(const char *socket_path, const char *agent_uid, const char *reason)
{
	struct control_conn c;
	struct json_object *req, *reply = NULL;
	char err[256] = "";
	int ret;

	ret = control_conn__open(&c, socket_path ? socket_path : CONTROL_SOCKET_DEFAULT);
	if (ret)
		return log_errno(ret, "detect: freeze agent '%s': control socket", agent_uid);
	req = json_object_new_object();
	if (!req) {
		control_conn__close(&c);
		return -ENOMEM;
	}
	json_object_object_add(req, "op", json_object_new_string("freeze"));
	json_object_object_add(req, "agent_uid", json_object_new_string(agent_uid));
	if (reason)
		json_object_object_add(req, "reason", json_object_new_string(reason));
	ret = control_conn__call(&c, req, &reply, err, sizeof(err));
	json_object_put(req);
	json_object_put(reply);
	control_conn__close(&c);
	if (ret == -EREMOTEIO)
		log_warn("detect: freeze agent '%s': daemon refused: %s", agent_uid, err);
	else if (ret)
		log_errno(ret, "detect: freeze agent '%s'", agent_uid);
	else
		log_info("detect: froze agent '%s' (%s)", agent_uid, reason ? reason : "");
	return ret;
}
