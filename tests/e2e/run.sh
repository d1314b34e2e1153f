#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agentwatch run, the node daemon, on this kernel: cgroups that match a glob are agents whether
# they exist at start or are made later (their first process already attributed), others stay
# silent; agentwatch exec registers through the control socket; events --follow streams live;
# the socket is root-only; SIGHUP reopens the events file; SIGTERM drains and leaves nothing.
# AW_EXPECT_FILE_SOURCE=lsm|tracepoint also asserts where the file events came from.
. "$(dirname "$0")/../lib/t.sh"

cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [ -z "$cg2" ]; then
	t_skip daemon "no cgroup v2 mount"
	exit 0
fi

work=$(mktemp -d /tmp/aw-daemon.XXXXXX)
chmod 755 "$work" # the non-root client below must reach the socket to be refused by the daemon
sock=$work/aw.sock
ev=$work/events.jsonl
base=$cg2/awtest-$$ # this run's cgroups; $base itself is no agent
glob="$base/*/job*/**"
k8s_glob="$base/k8s/**" # a stand-in kubelet tree: every pod and container in it is an agent
pod=5f2d8c1e-3b4a-4c6d-9e8f-0a1b2c3d4e5f
ctr=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ctr_cg=$base/k8s/kubepods.slice/kubepods-pod${pod//-/_}.slice/cri-containerd-$ctr.scope
daemon=
followers=()

# cgroup_rm DIR: kill what runs in DIR and below, then remove the subtree.
cgroup_rm() {
	[ -d "$1" ] || return 0
	echo 1 >"$1/cgroup.kill" 2>/dev/null
	find "$1" -depth -type d -exec rmdir {} + 2>/dev/null
	for _ in $(seq 50); do
		[ -d "$1" ] || return 0
		find "$1" -depth -type d -exec rmdir {} + 2>/dev/null
		sleep 0.05
	done
}

cleanup() {
	local p
	for p in "${followers[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "$daemon" ] && kill -KILL "$daemon" 2>/dev/null
	wait 2>/dev/null
	cgroup_rm "$base"
	rm -rf "$work"
}
trap cleanup EXIT

# retry N CMD...: run CMD every 50 ms until it succeeds, at most N times.
retry() {
	local n=$1
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.05
		n=$((n - 1))
	done
	return 1
}

# match FILE EXPR: some JSON line e of FILE makes the Python expression EXPR true;
# g(e, "a.b.c") reads a nested member (None when absent).
match() {
	python3 - "$@" <<'PY'
import json, sys
def g(o, path):
    for k in path.split("."):
        if not isinstance(o, dict) or k not in o:
            return None
        o = o[k]
    return o
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if eval(sys.argv[2]):
        sys.exit(0)
sys.exit(1)
PY
}

# status EXPR: the daemon's status object s makes the Python expression EXPR true.
status() {
	"$AGENTWATCH" events --json --socket "$sock" >"$work/status.json" 2>/dev/null &&
		python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
			"$work/status.json" "$1"
}

# in_cgroup DIR CMD...: run CMD as the first process of cgroup DIR.
in_cgroup() {
	local dir=$1
	shift
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$dir" "$@"
}

cgid() { stat -c %i "$1"; }

# --- (h) a bad config file is refused with FILE:LINE:COL, before anything loads ----------------
cat >"$work/bad.yaml" <<EOF
apiVersion: agentwatch.dev/v1
kind: DaemonConfig
watch:
  - $base/ok/**
  - $base/[unclosed
EOF
out=$("$AGENTWATCH" run --config "$work/bad.yaml" --socket "$work/bad.sock" 2>&1)
rc=$?
case $out in
*"$work/bad.yaml:5:5: watch[1]: bad glob"*) t_eq daemon-bad-config-line-col 64 "$rc" ;;
*) t_fail daemon-bad-config-line-col "rc $rc, said: $out" ;;
esac
printf 'apiVersion: agentwatch.dev/v1\nkind: DaemonConfig\nsocket: 5\nextra: true\n' >"$work/bad2.yaml"
out=$("$AGENTWATCH" run --config "$work/bad2.yaml" 2>&1)
case $out in
*"$work/bad2.yaml:3:9: socket: expected an absolute path"*) t_pass daemon-bad-config-type ;;
*) t_fail daemon-bad-config-type "said: $out" ;;
esac

# --- start: one cgroup exists before, the rest come after --------------------------------------
mkdir -p "$base/pre/job-pre" "$base/other"
# Files the agents open: an open is reported with the path of the file it opened.
for m in pre other after-other k8s rotated last; do echo "$m" >"$work/marker-$m"; done
cat >"$work/daemon.yaml" <<EOF
apiVersion: agentwatch.dev/v1
kind: DaemonConfig
watch:
  - /nowhere/overridden/by/--watch/**
events: /dev/null
EOF
"$AGENTWATCH" run --config "$work/daemon.yaml" --watch "$glob" --watch "$k8s_glob" --events "$ev" \
	--socket "$sock" 2>"$work/daemon.err" &
daemon=$!
if ! retry 2400 test -S "$sock" || ! retry 100 status 'True'; then
	t_fail daemon-starts "no control socket after 120 s: $(tail -n 5 "$work/daemon.err")"
	exit 1
fi
t_pass daemon-starts

# One daemon per socket.
out=$(timeout 20 "$AGENTWATCH" run --events /dev/null --socket "$sock" 2>&1)
rc=$?
case $rc:$out in
1:*"another agentwatch daemon answers on it"*) t_pass daemon-single-instance ;;
*) t_fail daemon-single-instance "rc $rc: $out" ;;
esac

# The daemon's programs (from its fds), to check that they are gone after SIGTERM.
cat /proc/"$daemon"/fdinfo/* 2>/dev/null | sed -n 's/^prog_id:[[:space:]]*//p' | sort -u >"$work/progs"
if [ -s "$work/progs" ]; then t_pass daemon-loaded-programs; else t_fail daemon-loaded-programs "no program held by pid $daemon"; fi

# (b) the cgroup that existed before start is an agent, with its cgroup and the default name
pre_id=$(cgid "$base/pre/job-pre")
t_check daemon-preexisting-registered status \
	"any(a['name'] == 'job-pre' and a['cgroup'] == '$base/pre/job-pre' and a['cgroup_id'] == $pre_id and a['source'] == 'selector' for a in s['agents'])"
t_check daemon-nonmatching-not-agents status \
	"not any(a['cgroup'] in ('$base', '$base/pre', '$base/other') for a in s['agents'])"

# (e) followers: OCSF lines, and one-line summaries
"$AGENTWATCH" events --follow --json --socket "$sock" >"$work/follow.jsonl" 2>"$work/follow.err" &
followers+=($!)
"$AGENTWATCH" events --follow --socket "$sock" >"$work/follow.txt" 2>&1 &
followers+=($!)
retry 100 status 's["counters"]["followers"] == 2' || t_fail daemon-followers "followers did not connect"

# (a) a cgroup made after start: its very first process is attributed from its first event
mkdir -p "$base/new/job"
in_cgroup "$base/new/job" sh -c 'cat /etc/hostname' >/dev/null
job_id=$(cgid "$base/new/job")
t_check daemon-new-cgroup-exec-attributed retry 100 match "$ev" \
	"e['class_uid'] == 1007 and e.get('launch_type_id') == 3 and g(e, 'process.cmd_line') == \"sh -c 'cat /etc/hostname'\" and g(e, 'unmapped.ai_agent.name') == 'job' and g(e, 'unmapped.cgroup_id') == $job_id"
t_check daemon-new-cgroup-open-attributed retry 100 match "$ev" \
	"e['class_uid'] == 1001 and g(e, 'file.path') == '/etc/hostname' and g(e, 'unmapped.ai_agent.name') == 'job' and g(e, 'unmapped.cgroup_id') == $job_id"
t_check daemon-new-cgroup-registered status \
	"any(a['name'] == 'job' and a['cgroup_id'] == $job_id for a in s['agents'])"

# (b) and the pre-existing agent's processes are attributed to it
in_cgroup "$base/pre/job-pre" cat /etc/hostname "$work/marker-pre" >/dev/null 2>&1
t_check daemon-preexisting-events-attributed retry 100 match "$ev" \
	"e['class_uid'] == 1001 and g(e, 'file.path') == '$work/marker-pre' and g(e, 'unmapped.ai_agent.name') == 'job-pre'"

# (c) a new cgroup no glob matches (its parent's path is under the kernel prefix) stays silent
mkdir -p "$base/other/nojob"
other_id=$(cgid "$base/other/nojob")
in_cgroup "$base/other/nojob" cat /etc/hostname "$work/marker-other" >/dev/null 2>&1
# A matching cgroup's event after it shows the daemon has read past the other one's.
in_cgroup "$base/new/job" cat "$work/marker-after-other" >/dev/null 2>&1
retry 100 match "$ev" "g(e, 'file.path') == '$work/marker-after-other'"
if match "$ev" "g(e, 'unmapped.cgroup_id') == $other_id or 'marker-other' in json.dumps(e)"; then
	t_fail daemon-nonmatching-new-cgroup-silent "events from $base/other/nojob"
else
	t_pass daemon-nonmatching-new-cgroup-silent
fi

# A container's cgroup in a pod: named and identified from its path.
mkdir -p "$ctr_cg"
in_cgroup "$ctr_cg" cat "$work/marker-k8s" >/dev/null 2>&1
t_check daemon-k8s-container-agent retry 100 match "$ev" \
	"g(e, 'file.path') == '$work/marker-k8s' and g(e, 'unmapped.ai_agent.name') == 'pod-$pod/${ctr:0:12}'"
t_check daemon-k8s-identity-in-status status \
	"any(a['cgroup'] == '$ctr_cg' and a['k8s'] == {'pod_uid': '$pod', 'container_id': '$ctr', 'runtime': 'containerd', 'qos': 'guaranteed'} for a in s['agents']) and any(a['name'] == 'pod-$pod' and a['k8s']['pod_uid'] == '$pod' and 'container_id' not in a['k8s'] for a in s['agents'])"
# ... and its events carry the container (OCSF container profile) and the pod.
t_check daemon-k8s-container-in-events match "$ev" \
	"g(e, 'file.path') == '$work/marker-k8s' and 'container' in g(e, 'metadata.profiles') and g(e, 'actor.process.container') == {'uid': '$ctr', 'runtime': 'containerd', 'pod_uuid': '$pod', 'orchestrator': 'Kubernetes'} and g(e, 'unmapped.k8s') == {'pod_uid': '$pod', 'qos': 'guaranteed'}"
t_check daemon-non-k8s-no-container match "$ev" \
	"g(e, 'file.path') == '$work/marker-pre' and 'container' not in g(e, 'metadata.profiles') and g(e, 'actor.process.container') is None and g(e, 'unmapped.k8s') is None"

# TCP listen and accept, with the sock_ops program on the cgroup root: a container that listens
# and accepts connections from outside, and an agent connecting to a listener outside any agent
# (on loopback its accepts run in softirq on the agent's own thread: they must stay silent).
if "$AGENTWATCH" doctor --json 2>/dev/null | python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["probes"]["cgroup_sock_ops"] else 1)'; then
	in_cgroup "$ctr_cg" python3 "$T_ROOT/tests/helpers/accept.py" server "$work/acc.ready" 2 &
	acc_server=$!
	python3 "$T_ROOT/tests/helpers/accept.py" client "$work/acc.ready" "$work/acc.client" 2
	wait $acc_server
	# (scripts in files: retry runs them more than once)
	cat >"$work/acc-check.py" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
srv, used = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
ports = {p: name for name, p in srv["ports"].items()}
mine = [e for e in evs if e["class_uid"] == 4001 and e["unmapped"].get("source") == "sock_ops" and e["dst_endpoint"]["port"] in ports]
listens = [e for e in mine if e["activity_id"] == 7]
accepts = [e for e in mine if e["activity_id"] == 1]
assert len(listens) == 3 and len(accepts) == 6, mine
for e in mine:
    assert e["actor"]["process"]["pid"] == srv["pid"] and e["unmapped"]["ai_agent"]["name"] == sys.argv[4], e
    assert e["actor"]["process"]["container"]["uid"] == sys.argv[5], e
for name, port in srv["ports"].items():
    acc = [e for e in accepts if e["dst_endpoint"]["port"] == port]
    assert sorted(e["src_endpoint"]["port"] for e in acc) == sorted(used[name]), (name, acc)
    assert all(e["src_endpoint"]["ip"] == ("::1" if name == "v6" else "127.0.0.1") for e in acc), acc
PY
	t_check daemon-listen-accept-attributed retry 100 python3 "$work/acc-check.py" "$ev" \
		"$work/acc.ready" "$work/acc.client" "pod-$pod/${ctr:0:12}" "$ctr"
	python3 "$T_ROOT/tests/helpers/accept.py" server "$work/out.ready" 1 &
	out_server=$!
	in_cgroup "$base/new/job" python3 "$T_ROOT/tests/helpers/accept.py" client "$work/out.ready" "$work/out.client" 1
	wait $out_server
	# The agent's three connects show the daemon has read past where the accepts would be.
	cat >"$work/out-connects.py" <<'PY'
import json, sys
ports = set(json.load(open(sys.argv[2]))["ports"].values())
evs = [json.loads(l) for l in open(sys.argv[1])]
n = sum(1 for e in evs if e["class_uid"] == 4001 and e["activity_id"] == 1 and e["connection_info"]["direction_id"] == 2 and e["dst_endpoint"]["port"] in ports)
sys.exit(0 if n == 3 else 1)
PY
	retry 100 python3 "$work/out-connects.py" "$ev" "$work/out.ready"
	t_check daemon-listen-accept-outside-silent python3 - "$ev" "$work/out.ready" <<'PY'
import json, sys
ports = set(json.load(open(sys.argv[2]))["ports"].values())
evs = [json.loads(l) for l in open(sys.argv[1])]
bad = [e for e in evs if e["class_uid"] == 4001 and e["unmapped"].get("source") == "sock_ops" and e["dst_endpoint"]["port"] in ports]
assert not bad, bad[:1]
PY
else
	t_skip daemon-listen-accept "the kernel failed the cgroup_sock_ops probe (agentwatch doctor)"
fi

# (d) agentwatch exec registers through the socket; the daemon's sinks get the events
out=$("$AGENTWATCH" exec --socket "$sock" --name "awexec$$" -- cat /etc/hostname 2>"$work/exec.err")
rc=$?
t_eq daemon-exec-status 0 "$rc"
t_eq daemon-exec-prints-only-cmd "$(cat /etc/hostname)" "$out"
t_eq daemon-exec-stderr-empty "" "$(cat "$work/exec.err")"
t_check daemon-exec-events-in-daemon-sink retry 100 match "$ev" \
	"e['class_uid'] == 1007 and e.get('launch_type_id') == 3 and g(e, 'process.file.path') == '$(readlink -f "$(command -v cat)")' and g(e, 'unmapped.ai_agent.name') == 'awexec$$'"
"$AGENTWATCH" exec --socket "$sock" --name "awexec$$" -- sh -c 'exit 7' 2>>"$work/exec.err"
t_eq daemon-exec-status-passthrough 7 $?
t_check daemon-exec-unregistered status "not any(a['name'] == 'awexec$$' for a in s['agents'])"
t_eq daemon-exec-cgroup-removed "" "$(ls -d "$cg2"/agentwatch/awexec$$-* 2>/dev/null)"

# (e) the followers saw it live, with the agent notices first
t_check daemon-follow-json retry 100 match "$work/follow.jsonl" \
	"e.get('class_uid') == 1001 and g(e, 'file.path') == '/etc/hostname' and g(e, 'unmapped.ai_agent.name') == 'awexec$$'"
t_check daemon-follow-json-only-ocsf python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines and all("class_uid" in e for e in lines), "non-event lines in --json output"' "$work/follow.jsonl"
t_check daemon-follow-summary retry 100 grep -qE "^[0-9:.]+  awexec$$  +open +pid [0-9]+ /etc/hostname" "$work/follow.txt"
t_check daemon-follow-summary-k8s grep -qF "pod-$pod/${ctr:0:12} pod=$pod ctr=${ctr:0:12}  open    pid" "$work/follow.txt"

# A follower that does not read never holds the daemon up: its lines are dropped and counted,
# and it is told so once it reads again.
python3 - "$sock" "$work/slow" <<'PY' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"op":"follow"}\n')
open(sys.argv[2] + ".connected", "w").close()
while not os.path.exists(sys.argv[2] + ".read"):
    time.sleep(0.05)
s.settimeout(10)
buf = b""
while b'"notice":"dropped"' not in buf:
    chunk = s.recv(1 << 20)
    if not chunk:
        break
    buf += chunk
with open(sys.argv[2] + ".out", "wb") as f:
    f.write(buf)
PY
slow=$!
followers+=($slow)
retry 100 test -e "$work/slow.connected"
echo flood >"$work/marker-flood"
in_cgroup "$base/new/job" sh -c 'for i in $(seq 300); do cat /etc/hostname >/dev/null; done; cat "$1"' sh \
	"$work/marker-flood" >/dev/null
t_check daemon-slow-follower-sink-unaffected retry 100 match "$ev" "g(e, 'file.path') == '$work/marker-flood'"
t_check daemon-slow-follower-counted status 's["counters"]["follow_dropped"] > 0'
touch "$work/slow.read"
wait "$slow"
t_check daemon-slow-follower-told grep -qE '^\{"notice":"dropped","count":[1-9][0-9]*,"total":[1-9]' "$work/slow.out"

# (g) the socket is root's: mode 0600, and the daemon itself refuses other uids
t_eq daemon-socket-mode 600 "$(stat -c %a "$sock")"
if command -v setpriv >/dev/null; then
	nobody=(setpriv --reuid 65534 --regid 65534 --clear-groups)
	out=$("${nobody[@]}" "$AGENTWATCH" events --socket "$sock" 2>&1)
	rc=$?
	case $rc:$out in
	1:*"root only"*) t_pass daemon-nonroot-refused-by-mode ;;
	*) t_fail daemon-nonroot-refused-by-mode "rc $rc: $out" ;;
	esac
	chmod 666 "$sock"
	out=$("${nobody[@]}" "$AGENTWATCH" events --follow --socket "$sock" 2>&1)
	rc=$?
	chmod 600 "$sock"
	case $rc:$out in
	1:*"permission denied: the control socket is for root only"*) t_pass daemon-nonroot-refused-by-peercred ;;
	*) t_fail daemon-nonroot-refused-by-peercred "rc $rc: $out" ;;
	esac
	t_check daemon-refusal-counted status 's["counters"]["refused"] >= 1'
else
	t_skip daemon-nonroot-refused "setpriv not found"
fi

# SIGHUP reopens the events file (log rotation)
mv "$ev" "$ev.1"
kill -HUP "$daemon"
retry 100 grep -q 'events: reopened' "$work/daemon.err"
in_cgroup "$base/new/job" cat "$work/marker-rotated" >/dev/null 2>&1
t_check daemon-sighup-reopens retry 100 match "$ev" "g(e, 'file.path') == '$work/marker-rotated'"

# Agents go when their cgroup goes.
cgroup_rm "$base/pre"
t_check daemon-removed-cgroup-unregistered retry 60 status \
	"not any(a['name'] == 'job-pre' for a in s['agents'])"

# Where the caller knows the kernel (the VM tier: BPF-LSM), every file open came from that source.
if [ -n "${AW_EXPECT_FILE_SOURCE:-}" ]; then
	t_check "daemon-file-source-$AW_EXPECT_FILE_SOURCE" python3 -c '
import json, sys
files = [e for e in map(json.loads, open(sys.argv[1])) if e["class_uid"] == 1001]
srcs = {e["unmapped"]["source"] for e in files}
assert files and srcs == {sys.argv[2]}, srcs
assert sys.argv[2] != "lsm" or all(e["unmapped"]["enforcement"] == "lsm" for e in files)' \
		"$ev" "$AW_EXPECT_FILE_SOURCE"
fi

# (f) SIGTERM: what is in flight is written, the daemon exits 0 and leaves nothing behind
in_cgroup "$base/new/job" cat "$work/marker-last" >/dev/null 2>&1
kill -TERM "$daemon"
wait "$daemon"
rc=$?
daemon=
t_eq daemon-sigterm-exit-0 0 "$rc"
t_check daemon-sigterm-drained match "$ev" "g(e, 'file.path') == '$work/marker-last'"
t_eq daemon-socket-removed "" "$(ls "$sock" 2>/dev/null)"
gone() {
	local ids
	ids=$(bpftool prog show 2>/dev/null | sed -n 's/^\([0-9]*\):.*/\1/p')
	! grep -qxF -f "$work/progs" <<<"$ids"
}
if retry 40 gone; then t_pass daemon-no-program-left; else t_fail daemon-no-program-left "programs $(tr '\n' ' ' <"$work/progs")still loaded"; fi
t_eq daemon-no-exec-cgroup-left "" "$(ls -d "$cg2"/agentwatch/awexec$$-* 2>/dev/null)"
t_check daemon-followers-see-end retry 40 grep -q "closed the stream" "$work/follow.err"
t_done
