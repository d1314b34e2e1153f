#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# In the guest (BPF-LSM active): `agentwatch run --require-enforcement --rules rules/default.yaml`
# starts (full enforcement here) and confines its agents by BPF-LSM: a watch-glob agent that
# existed at start, one made after start (from its first process), and an `agentwatch exec`
# registered through the daemon cannot read the credentials the default policy protects (EPERM,
# a Blocked event naming the rule, enforcement lsm), while the same reads outside any agent
# work. ${HOME} is the daemon's --home for glob agents; ${WORKSPACE} is exec's own --workspace,
# and glob agents have none, so every .env file is out of their reach.
# One daemon for every case: loading the programs takes a minute or more under TCG.
# (tests/e2e/run_policy.sh covers reloads and network rules on the host.)
# The daemon's load can take minutes on a busy machine under TCG, hence:
# vm-timeout: 600
. "$(dirname "$0")/../lib/t.sh"
cd "$T_ROOT" || exit 1

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
AW=$AGENTWATCH
if [ -z "${AGENTWATCH_VM:-}" ]; then
	t_skip run-policy-lsm "needs BPF-LSM: runs in the VM guest only (tests/vm/run.sh)"
	exit 0
fi
cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
tmp=$(mktemp -d /tmp/aw-vm-run-policy.XXXXXX)
base=$cg2/awvmpol-$$
sock=$tmp/aw.sock
ev=$tmp/events.jsonl
daemon=

cleanup() {
	[ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null
	wait 2>/dev/null
	echo 1 >"$base/cgroup.kill" 2>/dev/null
	find "$base" -depth -type d -exec rmdir {} + 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

retry() { # retry N CMD...: every 100 ms until it succeeds, at most N times
	local n=$1
	shift
	while [ "$n" -gt 0 ]; do
		"$@" 2>/dev/null && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
status() { # status EXPR: the daemon's status reply s makes EXPR true
	"$AW" events --json --socket "$sock" >"$tmp/status.json" 2>/dev/null &&
		"$PY" -c 'import json, sys; s = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
			"$tmp/status.json" "$1"
}
in_cgroup() { # in_cgroup DIR CMD...: CMD as the first process of cgroup DIR
	local dir=$1
	shift
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$dir" "$@"
}
reads() { # reads PATH...: one answer per path, on one line
	"$PY" tests/helpers/probe.py batch "${@/#/read }" | tr '\n' ' '
}

home=$tmp/home
mkdir -p "$home/.ssh" "$home/.aws" "$tmp/proj" "$base/pre/job-pre"
echo "-----BEGIN OPENSSH PRIVATE KEY-----" >"$home/.ssh/id_ed25519"
echo "ssh-ed25519 AAAA vm@test" >"$home/.ssh/id_ed25519.pub"
printf '[default]\naws_access_key_id = AKIA\n' >"$home/.aws/credentials"
echo "TOKEN=1" >"$tmp/proj/.env"
files=("$home/.ssh/id_ed25519" "$home/.aws/credentials" /etc/shadow "$home/.ssh/id_ed25519.pub" "$tmp/proj/.env")

t_eq run-policy-outside-reads-work "ok ok ok ok ok" "$(reads "${files[@]}" | sed 's/ $//')"

start=$(date +%s)
# --link-scan: hard links of **/.env* files are looked for in $tmp only (the guest's / is the
# host's, over 9p: a walk of it takes minutes under TCG).
"$AW" run --require-enforcement --watch "$base/*/job*" --rules rules/default.yaml --home "$home" \
	--events "$ev" --socket "$sock" --link-scan "$tmp" 2>"$tmp/daemon.err" &
daemon=$!
if ! retry 3000 test -S "$sock" || ! retry 100 status 'True'; then
	t_fail run-policy-require-enforcement-starts "no control socket after 300 s: $(tail -n 5 "$tmp/daemon.err" | tr '\n' ' ')"
	exit 1
fi
echo "daemon: ready after $(($(date +%s) - start)) s" >&2
t_pass run-policy-require-enforcement-starts

# A glob agent that existed at start: credentials denied, the public key readable; no
# workspace, so the .env file is outside it.
t_eq run-policy-preexisting-reads "EPERM EPERM EPERM ok EPERM" \
	"$(in_cgroup "$base/pre/job-pre" "$PY" tests/helpers/probe.py batch "${files[@]/#/read }" | tr '\n' ' ' | sed 's/ $//')"
# A cgroup made after start: its first process.
mkdir -p "$base/new/job-late"
t_eq run-policy-new-cgroup-reads "EPERM EPERM EPERM ok EPERM" \
	"$(in_cgroup "$base/new/job-late" "$PY" tests/helpers/probe.py batch "${files[@]/#/read }" | tr '\n' ' ' | sed 's/ $//')"
# agentwatch exec through the daemon: its own ${HOME} and ${WORKSPACE}.
out=$("$AW" exec --socket "$sock" --name "awvmexec$$" --home "$home" --workspace "$tmp/proj" -- \
	"$PY" tests/helpers/probe.py batch "${files[@]/#/read }" 2>"$tmp/exec.err")
t_eq run-policy-exec-reads "EPERM EPERM EPERM ok ok" "$(tr '\n' ' ' <<<"$out" | sed 's/ $//')"
t_eq run-policy-outside-still-works "ok ok ok ok ok" "$(reads "${files[@]}" | sed 's/ $//')"

t_check run-policy-blocked-events retry 100 "$PY" -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
home, me = sys.argv[2], sys.argv[3]
def blocked(agent, rule):
    return [e for e in evs if e.get("disposition_id") == 2 and e["unmapped"].get("rule") == rule
            and e["unmapped"]["ai_agent"]["name"] == agent]
for agent in ("job-pre", "job-late", me):
    k = blocked(agent, "ssh-private-keys")
    assert k and k[0]["file"]["path"] == home + "/.ssh/id_ed25519", (agent, k)
    assert all(e["unmapped"]["enforcement"] == "lsm" and e["status_code"] == "EPERM" for e in k), k
    assert blocked(agent, "aws-credentials") and blocked(agent, "shadow"), agent
assert blocked("job-pre", "dotenv-outside-workspace") and not blocked(me, "dotenv-outside-workspace")
' "$ev" "$home" "awvmexec$$"
t_check run-policy-start-event "$PY" -c '
import json, sys
c = [e for e in map(json.loads, open(sys.argv[1])) if e["class_uid"] == 6002]
assert c and c[0]["status_id"] == 1 and c[0]["unmapped"]["policy"]["paths"] == ["rules/default.yaml"], c' "$ev"

kill -TERM "$daemon"
wait "$daemon"
t_eq run-policy-daemon-exit-0 0 $?
daemon=
[ "$T_FAILED" -eq 0 ] || tail -n 20 "$tmp/daemon.err" >&2
t_done
