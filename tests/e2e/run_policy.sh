#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agentwatch run --rules on this kernel: the daemon confines its agents.
#   - --require-enforcement (flag and config) refuses to start where doctor says enforcement is
#     partial, naming what is missing; a bad policy at start refuses to start, FILE:LINE:COL;
#   - a network deny is enforced by the cgroup hooks for an agent of a watch glob (EPERM and a
#     Blocked event with the rule name), not outside it; a cgroup made after start is confined
#     from its first process; an `agentwatch exec` registered through the daemon too;
#   - file rules report honestly where BPF-LSM is missing (Detected, enforcement audit), with
#     the exec client's ${WORKSPACE} and the daemon's --home as variables;
#   - hot reload: an edit of the rules directory (inotify) changes the rule and emits an OCSF
#     6002 event with the new generation (so does each agent added or removed); a bad edit keeps
#     the old rule in force, is logged with FILE:LINE:COL and emits a Failure event; SIGHUP
#     reloads a change inotify cannot see.
# tests/vm/run_policy.sh covers file enforcement by BPF-LSM.
. "$(dirname "$0")/../lib/t.sh"
cd "$T_ROOT" || exit 1

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
AW=$AGENTWATCH
cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [ -z "$cg2" ]; then
	t_skip run-policy "no cgroup v2 mount"
	exit 0
fi

tmp=$(mktemp -d /tmp/aw-run-policy.XXXXXX)
sock=$tmp/aw.sock
ev=$tmp/events.jsonl
base=$cg2/awpol-$$ # this run's cgroups; agents are $base/<group>/job*
glob="$base/*/job*"
daemon=
pids=()

cgroup_rm() {
	[ -d "$1" ] || return 0
	echo 1 >"$1/cgroup.kill" 2>/dev/null
	for _ in $(seq 50); do
		find "$1" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$1" ] || return 0
		sleep 0.05
	done
}

cleanup() {
	touch "$tmp/q/stop" 2>/dev/null
	[ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null
	[ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null
	wait 2>/dev/null
	cgroup_rm "$base"
	rm -rf "$tmp"
}
trap cleanup EXIT

# retry N CMD...: every 50 ms until it succeeds, at most N times
retry() {
	local n=$1
	shift
	while [ "$n" -gt 0 ]; do
		"$@" 2>/dev/null && return 0
		sleep 0.05
		n=$((n - 1))
	done
	return 1
}

# events PYTHON: the assertions hold over `evs`, the daemon's events so far
events() {
	"$PY" -c 'import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
def blocked(rule):
    return [e for e in evs if e.get("disposition_id") == 2 and e["unmapped"].get("rule") == rule]
def changes():
    return [e for e in evs if e["class_uid"] == 6002]
'"$1" "$ev"
}

# status EXPR: the daemon's status reply s makes EXPR true
status() {
	"$AW" events --json --socket "$sock" >"$tmp/status.json" 2>/dev/null &&
		"$PY" -c 'import json, sys; s = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
			"$tmp/status.json" "$1"
}
generation() {
	"$AW" events --json --socket "$sock" 2>/dev/null |
		"$PY" -c 'import json, sys; print(json.load(sys.stdin)["policy"]["generation"])'
}

# in_cgroup DIR CMD...: CMD as the first process of cgroup DIR
in_cgroup() {
	local dir=$1
	shift
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$dir" "$@"
}

policy() { # policy FILE NAME BODY
	printf 'apiVersion: agentwatch.dev/v1\nkind: AgentPolicy\nmetadata:\n  name: %s\nspec:\n%s\n' \
		"$2" "$3" >"$1.tmp" && mv "$1.tmp" "$1"
}
net_policy() { # net_policy FILE RULE ADDR PORT [POLICY-NAME]
	policy "$1" "${5:-e2e-run-net}" "  network:
    - {name: $2, cidrs: [$3/32], ports: [$4], action: deny}"
}

port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PY" tests/helpers/listen.py "$tmp/listening" "$port" $((port + 1)) &
pids+=($!)
retry 200 test -e "$tmp/listening" || { t_fail run-policy-listener "listen.py did not start"; exit 1; }

# --- refusals before anything loads --------------------------------------------------------------
full=$("$AW" doctor --json 2>/dev/null | "$PY" -c '
import json, sys
c = json.load(sys.stdin)["capabilities"]
print("yes" if c["file_enforcement"] == "lsm" and c["exec_enforcement"] == "lsm" and c["network_enforcement"] in ("lsm", "cgroup") else "no")')
printf 'apiVersion: agentwatch.dev/v1\nkind: DaemonConfig\nrequireEnforcement: true\n' >"$tmp/require.yaml"
if [ "$full" = yes ]; then
	t_skip run-policy-require-enforcement-flag "full enforcement here: nothing to refuse"
	t_skip run-policy-require-enforcement-config "full enforcement here: nothing to refuse"
else
	out=$(timeout 60 "$AW" run --require-enforcement --watch "$glob" --events /dev/null \
		--socket "$tmp/req.sock" 2>&1)
	rc=$?
	case $rc:$out in
	1:*"--require-enforcement: this kernel lacks file enforcement by BPF-LSM"*"exec enforcement"*"agentwatch doctor"*)
		t_pass run-policy-require-enforcement-flag ;;
	*) t_fail run-policy-require-enforcement-flag "rc $rc: $out" ;;
	esac
	out=$(timeout 60 "$AW" run --config "$tmp/require.yaml" --watch "$glob" --events /dev/null \
		--socket "$tmp/req.sock" 2>&1)
	rc=$?
	case $rc:$out in
	1:*"this kernel lacks file enforcement by BPF-LSM"*) t_pass run-policy-require-enforcement-config ;;
	*) t_fail run-policy-require-enforcement-config "rc $rc: $out" ;;
	esac
fi
t_eq run-policy-require-enforcement-no-socket "" "$(ls "$tmp/req.sock" 2>/dev/null)"

out=$(timeout 20 "$AW" run --rules tests/policies/bad-cidr.yaml --watch "$glob" --events /dev/null \
	--socket "$tmp/bad.sock" 2>&1)
rc=$?
if [ $rc -eq 64 ] && grep -q "^tests/policies/bad-cidr.yaml:10:15: " <<<"$out"; then
	t_pass run-policy-bad-at-start
else
	t_fail run-policy-bad-at-start "rc $rc: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
fi

# --- the daemon ------------------------------------------------------------------------------------
mkdir -p "$tmp/rules" "$tmp/other" "$tmp/home" "$tmp/ws" "$tmp/sws" "$tmp/q" "$base/pre/job-pre" \
	"$base/svc/job-serve"
net_policy "$tmp/rules/net.yaml" deny-port-a 127.0.0.2 "$port"
policy "$tmp/rules/files.yaml" e2e-run-files "  files:
    - name: home-netrc
      path: \${HOME}/.netrc
      access: [read]
      action: deny
    - name: workspace-secret
      path: \${WORKSPACE}/secret
      access: [read]
      action: deny"
# Only through a symlink: inotify (on the link's directory, for its name) cannot see an edit
# of the target, SIGHUP can.
net_policy "$tmp/other/real.yaml" deny-sighup-before 127.0.0.4 "$port" e2e-run-sighup
ln -s "$tmp/other/real.yaml" "$tmp/linked.yaml"
echo "machine example.com" >"$tmp/home/.netrc"
echo "s3cret" >"$tmp/ws/secret"
echo "s3cret" >"$tmp/sws/secret"
# A selector's workspace is ${WORKSPACE} for the agents it selects (the daemon gives none).
policy "$tmp/rules/selws.yaml" e2e-run-selws "  selector: {agents: [job-serve], workspace: $tmp/sws}
  files:
    - {name: selector-workspace-secret, path: \"\${WORKSPACE}/secret\", access: [read], action: deny}"

mport=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$AW" run --watch "$glob" --rules "$tmp/rules" --rules "$tmp/linked.yaml" --home "$tmp/home" \
	--events "$ev" --socket "$sock" --metrics "127.0.0.1:$mport" 2>"$tmp/daemon.err" &
daemon=$!
if ! retry 2400 test -S "$sock" || ! retry 100 status 'True'; then
	t_fail run-policy-daemon-starts "no control socket after 120 s: $(tail -n 5 "$tmp/daemon.err")"
	exit 1
fi
t_pass run-policy-daemon-starts
"$AW" events --follow --socket "$sock" >"$tmp/follow.txt" 2>&1 &
pids+=($!)
t_check run-policy-status-generation status 's["policy"]["generation"] >= 1 and s["policy"]["paths"] == ["'"$tmp/rules"'", "'"$tmp/linked.yaml"'"]'
t_check run-policy-start-event events "
c = changes()
assert c and c[0]['status_id'] == 1 and c[0]['activity_id'] == 8, c
assert c[0]['unmapped']['policy']['trigger'] == 'start', c[0]
# the agents found at start (job-pre, job-serve) go in force together: one more generation
assert c[1]['unmapped']['policy']['trigger'] == 'agents-at-start' and c[1]['status_id'] == 1, c[1]
assert c[1]['unmapped']['policy']['generation'] == c[0]['unmapped']['policy']['generation'] + 1, c[1]
assert not [e for e in c if e['unmapped']['policy'].get('agent') in ('job-pre', 'job-serve')], c
assert c[0]['app']['feature'] == {'name': 'policy', 'version': str(c[0]['unmapped']['policy']['generation'])}, c[0]
"

# A watch-glob agent that existed at start: the deny holds for it, and only for it.
read -r -a got <<<"$(in_cgroup "$base/pre/job-pre" "$PY" tests/helpers/probe.py batch \
	"tcp 127.0.0.2 $port" "tcp 127.0.0.2 $((port + 1))" "tcp 127.0.0.3 $port" | tr '\n' ' ')"
t_eq run-policy-preexisting-denied EPERM "${got[0]}"
t_eq run-policy-preexisting-other-port-allowed ok "${got[1]}"
t_eq run-policy-preexisting-other-address-allowed ok "${got[2]}"
t_eq run-policy-outside-allowed ok "$("$PY" tests/helpers/probe.py tcp 127.0.0.2 "$port")"
t_check run-policy-blocked-event retry 100 events "
b = blocked('deny-port-a')
assert b, 'no blocked event'
e = b[0]
assert e['unmapped']['ai_agent']['name'] == 'job-pre', e['unmapped']
assert e['dst_endpoint']['ip'] == '127.0.0.2' and e['dst_endpoint']['port'] == $port, e
assert e['unmapped']['enforcement'] == 'cgroup' and e['status_code'] == 'EPERM', e
assert e['action'] == 'Denied' and e['disposition'] == 'Blocked', e
"

# A cgroup made after start: its first process is confined already.
mkdir "$base/new" && mkdir "$base/new/job-late"
t_eq run-policy-new-cgroup-first-process EPERM \
	"$(in_cgroup "$base/new/job-late" "$PY" tests/helpers/probe.py tcp 127.0.0.2 "$port")"
t_check run-policy-new-cgroup-event retry 100 events "
assert [e for e in blocked('deny-port-a') if e['unmapped']['ai_agent']['name'] == 'job-late'], 'no event'
"
# The same without time for the daemon to match the new cgroup first: one process makes it, moves
# itself in and connects at once; the kernel holds it as pending until the daemon decides, and
# pending cgroups are under the merge of every policy.
t_eq run-policy-new-cgroup-before-registration EPERM "$("$PY" -c '
import errno, os, socket, sys
os.mkdir(sys.argv[1])
with open(sys.argv[1] + "/cgroup.procs", "w") as f:
    f.write(str(os.getpid()))
s = socket.socket()  # a socket belongs to the cgroup it was made in
try:
    s.connect(("127.0.0.2", int(sys.argv[2])))
    print("ok")
except OSError as e:
    print(errno.errorcode[e.errno])
' "$base/new/job-instant" "$port")"
t_check run-policy-new-cgroup-registered-after retry 100 status \
	"any(a['name'] == 'job-instant' for a in s['agents'])"
# A new cgroup no glob matches is free once the daemon has read past its mkdir (until then it
# is pending, under the merge of every policy), which a later matching cgroup's registration shows.
mkdir -p "$base/new/nojob" "$base/new/job-marker"
retry 100 status "any(a['name'] == 'job-marker' for a in s['agents'])"
t_eq run-policy-new-nonmatching-free ok \
	"$(in_cgroup "$base/new/nojob" "$PY" tests/helpers/probe.py tcp 127.0.0.2 "$port")"

# agentwatch exec through the daemon: the daemon's policy, with the client's ${WORKSPACE}; the
# agent is in the policy while registered (one generation to add it, one to take it out).
gen_before=$(generation)
out=$("$AW" exec --socket "$sock" --name "awpolexec$$" --workspace "$tmp/ws" -- \
	"$PY" tests/helpers/probe.py batch "tcp 127.0.0.2 $port" "read $tmp/ws/secret" 2>"$tmp/exec.err")
rc=$?
read -r -a got <<<"$(tr '\n' ' ' <<<"$out")"
t_eq run-policy-exec-exit 0 "$rc"
t_eq run-policy-exec-denied EPERM "${got[0]}"
t_check run-policy-exec-removed-from-policy status \
	"s['policy']['generation'] >= $gen_before + 2 and not any(a['name'] == 'awpolexec$$' for a in s['agents'])"
t_check run-policy-exec-event retry 100 events "
assert [e for e in blocked('deny-port-a') if e['unmapped']['ai_agent']['name'] == 'awpolexec$$'], 'no event'
"
# Each generation an agent brings or takes away is an OCSF 6002 event naming the agent.
t_check run-policy-agent-change-events retry 100 events "
def of(trigger, name):
    return [e['unmapped']['policy'] for e in changes() if e['unmapped']['policy']['trigger'] == trigger and e['unmapped']['policy'].get('agent') == name]
late = of('agent-added', 'job-late')
assert late and late[0]['generation'] == late[0]['previous_generation'] + 1, late
added, removed = of('agent-added', 'awpolexec$$'), of('agent-removed', 'awpolexec$$')
assert len(added) == 1 and len(removed) == 1, (added, removed)
assert added[0]['generation'] > $gen_before and removed[0]['previous_generation'] >= added[0]['generation'], (added, removed)
assert all(e['status_id'] == 1 for e in changes() if e['unmapped']['policy']['trigger'].startswith('agent-')), changes()
"

# File rules without BPF-LSM report honestly; with it they are tests/vm/run_policy.sh's.
file_level=$("$AW" doctor --json 2>/dev/null | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["capabilities"]["file_enforcement"])')
got_read=$(in_cgroup "$base/pre/job-pre" "$PY" tests/helpers/probe.py batch "read $tmp/home/.netrc" \
	"read $tmp/ws/secret" "read $tmp/sws/secret" | tr '\n' ' ')
got_selws=$(in_cgroup "$base/svc/job-serve" "$PY" tests/helpers/probe.py read "$tmp/sws/secret")
if [ "$file_level" = lsm ]; then
	t_skip run-policy-file-audit-read-works "file enforcement here: lsm"
	t_skip run-policy-file-audit-events "file enforcement here: lsm"
	t_skip run-policy-exec-workspace-variable "file enforcement here: lsm"
	t_skip run-policy-selector-workspace "file enforcement here: lsm"
else
	t_eq run-policy-file-audit-read-works "ok ok ok" "${got_read% }"
	t_eq run-policy-selector-workspace-read-works ok "$got_selws"
	t_eq run-policy-exec-workspace-read-works ok "${got[1]}"
	# --home is the glob agent's ${HOME}; it has no ${WORKSPACE}; exec's is its own.
	t_check run-policy-file-audit-events retry 100 events "
d = [e for e in evs if e['class_uid'] == 1001 and e['unmapped'].get('rule') == 'home-netrc']
assert d and all(e['unmapped']['ai_agent']['name'] == 'job-pre' for e in d), d
assert all(e['disposition'] == 'Detected' and e['unmapped']['enforcement'] == 'audit' for e in d), d
assert not blocked('home-netrc'), 'Blocked, but nothing was refused'
w = [e for e in evs if e['class_uid'] == 1001 and e['unmapped'].get('rule') == 'workspace-secret']
assert w and {e['unmapped']['ai_agent']['name'] for e in w} == {'awpolexec$$'}, w
assert all(e['unmapped']['enforcement'] == 'audit' and e['disposition_id'] == 15 for e in w), w
s = [e for e in evs if e['class_uid'] == 1001 and e['unmapped'].get('rule') == 'selector-workspace-secret']
assert s and {e['unmapped']['ai_agent']['name'] for e in s} == {'job-serve'}, s
assert all(e['file']['path'] == '$tmp/sws/secret' for e in s), s
"
fi

# --- hot reload, seen by a long-running agent ---------------------------------------------------
. tests/helpers/probe_client.sh
PROBE_DIR=$tmp/q
in_cgroup "$base/svc/job-serve" "$PY" tests/helpers/probe.py serve "$tmp/q" &
pids+=($!)
probe_ask "tcp 127.0.0.2 $port"
t_eq run-policy-reload-initial-deny EPERM "$answer"
probe_ask "tcp 127.0.0.4 $port"
t_eq run-policy-reload-initial-linked-deny EPERM "$answer"

# inotify: the rules directory changes the denied port
gen0=$(generation)
net_policy "$tmp/rules/net.yaml" deny-port-b 127.0.0.2 $((port + 1))
probe_until EPERM "tcp 127.0.0.2 $((port + 1))"
t_eq run-policy-inotify-new-rule EPERM "$answer"
probe_ask "tcp 127.0.0.2 $port"
t_eq run-policy-inotify-old-rule-gone ok "$answer"
gen1=$(generation)
t_check run-policy-inotify-event retry 100 events "
c = [e for e in changes() if e['unmapped']['policy']['trigger'] == 'inotify' and e['status_id'] == 1]
assert c, 'no inotify reload event'
p = c[-1]['unmapped']['policy']
assert p['generation'] == $gen1 and p['previous_generation'] >= $gen0 and p['generation'] > p['previous_generation'], p
assert c[-1]['app']['feature']['version'] == '$gen1', c[-1]['app']
"
t_check run-policy-inotify-blocked-by-new-rule retry 100 events "
assert [e for e in blocked('deny-port-b') if e['unmapped']['ai_agent']['name'] == 'job-serve'], 'no event'
"

# a bad edit: logged with FILE:LINE:COL, a Failure event, the old rule still in force
cp tests/policies/bad-syntax.yaml "$tmp/bad.tmp" && mv "$tmp/bad.tmp" "$tmp/rules/net.yaml"
if retry 200 grep -q "reload failed" "$tmp/daemon.err"; then
	t_pass run-policy-bad-reload-logged
else
	t_fail run-policy-bad-reload-logged "no 'reload failed' in: $(tail -n 3 "$tmp/daemon.err" | tr '\n' ' ')"
fi
t_check run-policy-bad-reload-positioned grep -q "^$tmp/rules/net.yaml:11:13: " "$tmp/daemon.err"
t_check run-policy-bad-reload-event retry 100 events "
c = [e for e in changes() if e['status_id'] == 2]
assert c, 'no failure event'
e = c[-1]
p = e['unmapped']['policy']
assert p['generation'] == $gen1 and p['previous_generation'] == $gen1 and p['reload_failures'] == 1, p
assert p['errors'] and p['errors'][0].startswith('$tmp/rules/net.yaml:11:13: '), p
assert e['status_detail'].startswith('$tmp/rules/net.yaml:11:13: ') and e['severity_id'] == 4, e
assert 'generation $gen1 stays in force' in e['message'], e
"
t_check run-policy-bad-reload-followers retry 100 grep -qE \
	"  policy +policy reload failed; generation $gen1 stays in force: $tmp/rules/net.yaml:11:13: " \
	"$tmp/follow.txt"
probe_ask "tcp 127.0.0.2 $((port + 1))"
t_eq run-policy-bad-reload-keeps-rule EPERM "$answer"
probe_ask "tcp 127.0.0.2 $port"
t_eq run-policy-bad-reload-keeps-allow ok "$answer"
t_check run-policy-bad-reload-status status "s['policy']['generation'] == $gen1 and s['policy']['reload_failures'] == 1"
t_check run-policy-bad-reload-metrics "$PY" -c '
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10).read().decode()
m = {l.split()[0]: l.split()[1] for l in text.splitlines() if l and not l.startswith("#")}
assert m["agentwatch_policy_generation"] == sys.argv[2], m.get("agentwatch_policy_generation")
assert m["agentwatch_policy_reload_failures_total"] == "1", m.get("agentwatch_policy_reload_failures_total")
' "$mport" "$gen1"

# SIGHUP: an edit inotify cannot see (a symlink's target) is applied on SIGHUP
net_policy "$tmp/rules/net.yaml" deny-port-b 127.0.0.2 $((port + 1)) # the directory good again
retry 200 events "assert len([e for e in changes() if e['status_id'] == 1 and e['unmapped']['policy']['trigger'] == 'inotify']) >= 2"
net_policy "$tmp/other/real.yaml" deny-sighup-after 127.0.0.5 "$port" e2e-run-sighup
sleep 1 # nothing reloads it on its own
probe_ask "tcp 127.0.0.4 $port"
t_eq run-policy-unwatched-edit-not-applied EPERM "$answer"
kill -HUP "$daemon"
probe_until EPERM "tcp 127.0.0.5 $port"
t_eq run-policy-sighup-new-rule EPERM "$answer"
probe_ask "tcp 127.0.0.4 $port"
t_eq run-policy-sighup-old-rule-gone ok "$answer"
t_check run-policy-sighup-event retry 100 events "
c = [e for e in changes() if e['unmapped']['policy']['trigger'] == 'sighup' and e['status_id'] == 1]
assert c and c[-1]['unmapped']['policy']['generation'] > $gen1, c
assert blocked('deny-sighup-after'), 'no event with the new rule'
"

# The rules directory removed: a failed reload, the policy kept; made again, SIGHUP loads it and
# watches it again, so that later edits are seen.
failures=$("$AW" events --json --socket "$sock" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["policy"]["reload_failures"])')
rm -rf "$tmp/rules"
t_check run-policy-dir-removed-failure retry 200 status "s['policy']['reload_failures'] == $failures + 1"
probe_ask "tcp 127.0.0.2 $((port + 1))"
t_eq run-policy-dir-removed-keeps-rule EPERM "$answer"
mkdir "$tmp/rules"
net_policy "$tmp/rules/net.yaml" deny-port-c 127.0.0.6 "$port"
kill -HUP "$daemon"
probe_until EPERM "tcp 127.0.0.6 $port"
t_eq run-policy-dir-back-sighup EPERM "$answer"
net_policy "$tmp/rules/net.yaml" deny-port-d 127.0.0.7 "$port"
probe_until EPERM "tcp 127.0.0.7 $port"
t_eq run-policy-dir-back-watched-again EPERM "$answer"

# --- the end -----------------------------------------------------------------------------------------
touch "$tmp/q/stop"
kill -TERM "$daemon"
wait "$daemon"
t_eq run-policy-daemon-exit-0 0 $?
daemon=
t_eq run-policy-after-stop-free ok \
	"$(in_cgroup "$base/pre/job-pre" "$PY" tests/helpers/probe.py tcp 127.0.0.2 $((port + 1)))"
# --- agents found at start: one generation for all; one whose policy cannot compile stays out ----
# Five policies deny the same file to job-serve: its key would need more references than the
# kernel holds, so job-serve's set cannot compile (nor can the pending merge).
rm -rf "$tmp/rules" && mkdir "$tmp/rules"
net_policy "$tmp/rules/net.yaml" deny-start-all 127.0.0.8 "$port"
for i in 1 2 3 4 5; do
	policy "$tmp/rules/over$i.yaml" "e2e-run-over$i" "  selector: {agents: [job-serve]}
  files:
    - {name: over$i, path: $tmp/over, action: deny}"
done
: >"$ev"
"$AW" run --watch "$glob" --rules "$tmp/rules" --events "$ev" --socket "$sock" 2>"$tmp/daemon2.err" &
daemon=$!
if retry 2400 test -S "$sock" && retry 100 status 'True'; then
	t_eq run-policy-start-batch-in-force EPERM \
		"$(in_cgroup "$base/pre/job-pre" "$PY" tests/helpers/probe.py tcp 127.0.0.8 "$port")"
	t_eq run-policy-start-batch-failed-agent-out ok \
		"$(in_cgroup "$base/svc/job-serve" "$PY" tests/helpers/probe.py tcp 127.0.0.8 "$port")"
	t_check run-policy-start-batch-logged grep -q "agent 'job-serve' (cgroup '$base/svc/job-serve'): not under the policy" "$tmp/daemon2.err"
	t_check run-policy-start-batch-events events "
c = changes()
assert [e['unmapped']['policy']['trigger'] for e in c] == ['start', 'agents-at-start'], c
p = c[1]['unmapped']['policy']
assert c[1]['status_id'] == 2 and p['generation'] > p['previous_generation'], p
assert len(p['errors']) >= 1 and all(l.startswith(\"agent 'job-serve': \") for l in p['errors'][:1]), p
"
else
	t_fail run-policy-start-batch "the second daemon did not start: $(tail -n 5 "$tmp/daemon2.err")"
fi
kill -TERM "$daemon"
wait "$daemon"
daemon=

[ "$T_FAILED" -eq 0 ] || tail -n 20 "$tmp/daemon.err" >&2
t_done
