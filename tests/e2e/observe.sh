#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agentwatch exec on the host kernel: exit status, cleanup, and the decoded events of a scripted
# agent asserted field by field (tracepoint file source, cgroup socket hooks).
. "$(dirname "$0")/../lib/t.sh"

work=$(mktemp -d /tmp/aw-observe.XXXXXX)
trap 'rm -rf "$work"' EXIT
cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)

our_progs() { bpftool prog show 2>/dev/null | grep -cE 'name (tp_sched_proces|tp_sys_e|cgroup_connect|cgroup_sendmsg|cgroup_bind|cgroup_sock_ops|lsm_file_open)'; }
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
conn = [e for e in net if e["activity_id"] == 1 and e["connection_info"]["direction_id"] == 2]
assert len(conn) == 2, net  # ::ffff:127.0.0.1 and 127.0.0.1
for e in conn:
    assert e["dst_endpoint"]["ip"] == "127.0.0.1", e["dst_endpoint"]
    assert e["connection_info"]["protocol_name"] == "tcp" and e["connection_info"]["direction_id"] == 2
udp = [e for e in net if e["connection_info"]["protocol_name"] == "udp"]
assert len(udp) == 1 and udp[0]["dst_endpoint"]["ip"] == "127.0.0.1", net
PY

check observe-network-own-listener <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
did = json.load(open(sys.argv[2]))
# The agent's listener took both of its own connects: one listen, two accepts (the accepts run
# in softirq, on the connecting thread: attributed through the socket, not the current task).
net = [e for e in evs if e["class_uid"] == 4001 and e.get("dst_endpoint", {}).get("port") == did["port"] and e["unmapped"]["source"] == "sock_ops"]
listens = [e for e in net if e["activity_id"] == 7]
accepts = [e for e in net if e["activity_id"] == 1]
assert len(listens) == 1 and len(accepts) == 2, net
assert all(e["src_endpoint"]["ip"] == "127.0.0.1" and e["actor"]["process"]["pid"] == did["pid"] for e in accepts), accepts
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

# TCP listen and accept (cgroup sock_ops): an agent listens on an IPv4, an IPv6 and a dual-stack
# socket and accepts connections from outside; then an agent connects to a listener outside any
# agent, whose listen and accepts must not appear.
if ! "$AGENTWATCH" doctor --json 2>/dev/null | python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["probes"]["cgroup_sock_ops"] else 1)'; then
	t_skip observe-listen-accept "the kernel failed the cgroup_sock_ops probe (agentwatch doctor)"
	t_done
	exit
fi
accepts=3
"$AGENTWATCH" exec --name listener --session sess-acc --events "$work/acc.jsonl" -- \
	python3 "$T_ROOT/tests/helpers/accept.py" server "$work/acc.ready" $accepts &
server=$!
python3 "$T_ROOT/tests/helpers/accept.py" client "$work/acc.ready" "$work/acc.client" $accepts
t_eq observe-accept-client-ran 0 $?
wait $server
t_eq observe-accept-agent-ran 0 $?

python3 "$T_ROOT/tests/helpers/accept.py" server "$work/out.ready" 1 &
outside_server=$!
"$AGENTWATCH" exec --name connector --events "$work/conn.jsonl" -- \
	python3 "$T_ROOT/tests/helpers/accept.py" client "$work/out.ready" "$work/out.client" 1
t_eq observe-accept-outside-client-ran 0 $?
wait $outside_server
t_eq observe-accept-outside-server-ran 0 $?

check observe-listen-one-per-socket "$work/acc.jsonl" "$work/acc.ready" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[4])]
srv = json.load(open(sys.argv[5]))
want = {"v4": ("127.0.0.1", 4), "v6": ("::1", 6), "dual": ("::", 6)}
listens = [e for e in evs if e["class_uid"] == 4001 and e["activity_id"] == 7]
assert len(listens) == 3, listens
for name, port in srv["ports"].items():
    ls = [e for e in listens if e["dst_endpoint"]["port"] == port]
    assert len(ls) == 1, (name, listens)
    e = ls[0]
    assert e["activity_name"] == "Listen" and e["type_uid"] == 400107, e
    assert e["dst_endpoint"]["ip"] == want[name][0], (name, e["dst_endpoint"])
    assert "src_endpoint" not in e, e
    ci = e["connection_info"]
    assert ci["protocol_name"] == "tcp" and ci["protocol_num"] == 6, ci
    assert ci["protocol_ver_id"] == want[name][1] and ci["direction_id"] == 1, ci
    p = e["actor"]["process"]
    assert p["pid"] == srv["pid"] and p["name"] == "python3" and p["uid"], p
    assert p["user"]["uid"] == "0" and p["parent_process"]["pid"] > 0, p
    u = e["unmapped"]
    assert u["source"] == "sock_ops" and u["enforcement"] == "audit", u
    assert u["ai_agent"]["name"] == "listener" and u["ai_agent"]["instance_uid"] == "sess-acc", u
    assert e["status_id"] == 1 and e["disposition_id"] == 1, e
PY

check observe-accept-each-connection "$work/acc.jsonl" "$work/acc.ready" "$work/acc.client" "$accepts" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[4])]
srv = json.load(open(sys.argv[5]))
used = json.load(open(sys.argv[6]))
n = int(sys.argv[7])
# The dual-stack socket accepting an IPv4 client reports IPv4 (not ::ffff:127.0.0.1).
want = {"v4": ("127.0.0.1", 4), "v6": ("::1", 6), "dual": ("127.0.0.1", 4)}
listen_uid = {e["dst_endpoint"]["port"]: e["actor"]["process"]["uid"] for e in evs if e["class_uid"] == 4001 and e["activity_id"] == 7}
accepts = [e for e in evs if e["class_uid"] == 4001 and e["activity_id"] == 1 and e["connection_info"]["direction_id"] == 1]
assert len(accepts) == 3 * n, [(e["src_endpoint"], e["dst_endpoint"]) for e in accepts]
for name, port in srv["ports"].items():
    acc = [e for e in accepts if e["dst_endpoint"]["port"] == port]
    assert sorted(e["src_endpoint"]["port"] for e in acc) == sorted(used[name]), (name, acc)
    ip, ver = want[name]
    for e in acc:
        assert e["activity_name"] == "Open" and e["type_uid"] == 400101, e
        assert e["src_endpoint"]["ip"] == ip and e["dst_endpoint"]["ip"] == ip, (name, e["src_endpoint"], e["dst_endpoint"])
        assert e["connection_info"]["protocol_ver_id"] == ver and e["connection_info"]["protocol_name"] == "tcp", e
        p = e["actor"]["process"]
        # the process that listened, as it was at listen(2)
        assert p["pid"] == srv["pid"] and p["name"] == "python3" and p["uid"] == listen_uid[port], p
        u = e["unmapped"]
        assert u["source"] == "sock_ops" and u["ai_agent"]["name"] == "listener", u
PY

check observe-listen-accept-outside-agent-silent "$work/conn.jsonl" "$work/out.ready" "$work/out.client" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[4])]
srv = json.load(open(sys.argv[5]))
used = json.load(open(sys.argv[6]))
ports = set(srv["ports"].values())
inbound = [e for e in evs if e["class_uid"] == 4001 and (e["activity_id"] == 7 or e["connection_info"]["direction_id"] == 1)]
assert not inbound, inbound[:1]
# The agent's own connects are there: the stream did work.
conns = [e for e in evs if e["class_uid"] == 4001 and e["activity_id"] == 1 and e["dst_endpoint"]["port"] in ports]
assert len(conns) == 3, conns
PY
t_done
