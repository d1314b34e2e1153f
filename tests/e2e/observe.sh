#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agentwatch exec on the host kernel: exit status, cleanup, and the decoded events of a scripted
# agent asserted field by field (tracepoint file source, cgroup socket hooks).
. "$(dirname "$0")/../lib/t.sh"

work=$(mktemp -d /tmp/aw-observe.XXXXXX)
trap 'rm -rf "$work"' EXIT
cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)

our_progs() { bpftool prog show 2>/dev/null | grep -cE 'name (tp_sched_proces|tp_sys_e|cgroup_connect|cgroup_sendmsg|cgroup_bind|lsm_file_open)'; }
progs_before=$(our_progs)

"$AGENTWATCH" exec --events "$work/exit3.jsonl" -- sh -c 'exit 3'
t_eq exec-exit-status 3 $?
"$AGENTWATCH" exec --events "$work/kill.jsonl" -- sh -c 'kill -KILL $$'
t_eq exec-exit-status-sigkill 137 $?
leftover=$(find "$cg2/agentwatch" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | head -n 1)
t_eq exec-no-cgroup-left "" "$leftover"
# The kernel frees programs after an RCU grace period: give it a moment.
for _ in $(seq 20); do [ "$(our_progs)" = "$progs_before" ] && break; sleep 0.1; done
t_eq exec-no-program-left "$progs_before" "$(our_progs)"
# Its pins (for top) go with it: no exec-<pid> directory of a process that is gone.
stale=
for d in /sys/fs/bpf/agentwatch/exec-*; do
	[ -d "$d" ] || continue
	kill -0 "${d##*exec-}" 2>/dev/null || stale="$stale $d"
done
t_eq exec-no-pinned-object-left "" "$stale"
t_check exec-killed-cmd-exit-event python3 -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
ex = [e for e in evs if e["class_uid"] == 1007 and e["activity_id"] == 2]
assert any(e.get("unmapped", {}).get("signal") == 9 for e in ex), ex
' "$work/kill.jsonl"

# Left-behind processes are killed with the agent, so the cgroup can go.
"$AGENTWATCH" exec --events /dev/null -- sh -c 'sleep 300 & exit 0'
t_eq exec-orphans-reaped 0 "$(pgrep -fc 'sleep 300$' || true)"

env_out=$("$AGENTWATCH" exec --session s-123 --events /dev/null -- sh -c 'echo "$AGENTWATCH_AGENT $AGENTWATCH_SESSION"')
case $env_out in
*-*-*-*-*" s-123") t_pass exec-env-identity ;;
*) t_fail exec-env-identity "got '$env_out'" ;;
esac

# The scripted agent; a process outside any agent runs meanwhile and must not appear.
(sleep 0.3; sh -c 'echo $$ >"$1"; exec cat /etc/hostname >/dev/null' sh "$work/outside.pid") &
"$AGENTWATCH" exec --name tester --session sess-1 --events "$work/ev.jsonl" -- \
	python3 "$T_ROOT/tests/e2e/agent_actions.py" "$work" >"$work/did.json"
t_eq exec-agent-ran 0 $?
wait

check() {
	local name=$1
	shift
	t_check "$name" python3 - "$work/ev.jsonl" "$work/did.json" "$work/outside.pid" "$@"
}

check observe-identity-on-every-event <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
assert evs, "no events"
agents = {json.dumps(e["unmapped"]["ai_agent"], sort_keys=True) for e in evs}
assert len(agents) == 1, agents
a = evs[0]["unmapped"]["ai_agent"]
assert a["name"] == "tester" and a["instance_uid"] == "sess-1" and len(a["uid"]) == 36, a
ids = [int(e["metadata"]["uid"]) for e in evs]
assert len(set(ids)) == len(ids), "duplicate event ids"
for e in evs:
    assert e["metadata"]["version"] == "1.8.0" and e["metadata"]["product"]["name"] == "agentwatch"
    assert e["unmapped"]["enforcement"] in ("lsm", "cgroup", "audit", "kill"), e["unmapped"]
    assert e["unmapped"]["cgroup_id"] > 0
PY

check observe-exec-resolved-binary <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
did = json.load(open(sys.argv[2]))
ex = [e for e in evs if e["class_uid"] == 1007 and e.get("launch_type_id") == 3 and e["process"]["pid"] == did["exec_child"]]
assert len(ex) == 1, ex
p = ex[0]["process"]
# /bin/sh is a symlink: the event names the binary the kernel ran.
import os
assert p["file"]["path"] == os.path.realpath("/bin/sh"), p["file"]
assert p["cmd_line"] == "sh -c exit 7" or p["cmd_line"].startswith("sh -c"), p["cmd_line"]
assert p["parent_process"]["pid"] == did["pid"]
assert p["uid"] and p["parent_process"].get("uid"), "exec_id and parent exec_id"
exits = [e for e in evs if e["class_uid"] == 1007 and e["activity_id"] == 2 and e["process"]["pid"] == did["exec_child"]]
assert len(exits) == 1 and exits[0]["exit_code"] == 7, exits
# Ancestry, from the process cache: its own binary, then the python agent that forked it.
anc = ex[0]["unmapped"]["ancestry"]
assert anc[0] == os.path.realpath("/bin/sh") and "python3" in anc[1], anc
# Every process instance has its own id, and an exec names its parent's.
launches = [e for e in evs if e["class_uid"] == 1007 and e["activity_id"] == 1 and e.get("launch_type_id") in (2, 3)]
by_pid = {}
for e in launches:
    by_pid.setdefault(e["process"]["pid"], set()).add(e["process"]["uid"])
uids = [u for s in by_pid.values() for u in s]
assert len(uids) == len(set(uids)), "two processes share a process.uid"
PY

check observe-file-canonical-paths <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
did = json.load(open(sys.argv[2]))
import os
secret = os.path.realpath(did["secret"])
opens = [e for e in evs if e["class_uid"] == 1001 and e["file"]["path"] == secret]
acc = [sorted(e["unmapped"]["access"]) for e in opens]
# create+write, then five reads (symlink, relative, .., fd, /proc/self/fd), r+w, write+trunc
assert acc[0] == ["create", "truncate", "write"], acc
assert acc.count(["read"]) == 5, acc
assert ["read", "write"] in acc and ["truncate", "write"] in acc, acc
assert not any("link" in e["file"]["path"] or "/proc/" in e["file"]["path"] for e in evs if e["class_uid"] == 1001 and e["actor"]["process"]["pid"] == did["pid"] and "aw-observe" in e["file"]["path"])
for e in opens:
    assert e["file"]["uid"].count(":") == 2 and e["unmapped"]["source"] in ("tracepoint", "lsm")
    assert e["actor"]["process"]["pid"] == did["pid"]
PY

check observe-network-mapped-v6-and-udp <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
did = json.load(open(sys.argv[2]))
net = [e for e in evs if e["class_uid"] == 4001 and e.get("dst_endpoint", {}).get("port") == did["port"]]
conn = [e for e in net if e["activity_id"] == 1]
assert len(conn) == 2, net  # ::ffff:127.0.0.1 and 127.0.0.1
for e in conn:
    assert e["dst_endpoint"]["ip"] == "127.0.0.1", e["dst_endpoint"]
    assert e["connection_info"]["protocol_name"] == "tcp" and e["connection_info"]["direction_id"] == 2
udp = [e for e in net if e["connection_info"]["protocol_name"] == "udp"]
assert len(udp) == 1 and udp[0]["dst_endpoint"]["ip"] == "127.0.0.1", net
PY

check observe-attribution-thread-fork-orphan-nested <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
did = json.load(open(sys.argv[2]))
def opened(path, pid):
    return [e for e in evs if e["class_uid"] == 1001 and e["file"]["path"] == path and e["actor"]["process"]["pid"] == pid]
th = opened("/etc/hostname", did["pid"])
assert th, "thread's open not attributed to the process"
assert opened("/etc/passwd", did["grandchild"]), "double-forked orphan's open missing"
nested = opened("/etc/group", did["nested_child"])
assert nested, "nested cgroup child's open missing"
root_cg = [e for e in evs if e["class_uid"] == 1001 and e["actor"]["process"]["pid"] == did["pid"]][0]["unmapped"]["cgroup_id"]
assert nested[0]["unmapped"]["cgroup_id"] != root_cg, "nested child should be in its own cgroup"
forks = {e["process"]["pid"] for e in evs if e["class_uid"] == 1007 and e.get("launch_type_id") == 2}
assert did["child"] in forks and did["grandchild"] in forks and did["nested_child"] in forks, forks
PY

check observe-outside-agent-silent <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
pid = int(open(sys.argv[3]).read())
seen = [e for e in evs if e.get("actor", {}).get("process", {}).get("pid") == pid or e.get("process", {}).get("pid") == pid]
assert not seen, seen[:1]
PY
t_done
