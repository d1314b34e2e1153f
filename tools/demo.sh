#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make demo: run a scripted stand-in agent under `agentwatch exec`, print its audit events and a
# per-agent summary, and say what this kernel limited.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
aw=$top/build/agentwatch
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root to load BPF programs: sudo make demo" >&2
	exit 1
fi

out=$top/build/demo
ws=$(mktemp -d /tmp/agentwatch-demo.XXXXXX)
fakehome=$ws/home
server=
cleanup() {
	[ -n "$server" ] && kill "$server" 2>/dev/null
	rm -rf "$ws"
}
trap cleanup EXIT
mkdir -p "$out" "$ws/project/src" "$fakehome/.ssh"
echo "# demo project" >"$ws/project/README.md"
printf 'int main(void) { return 0; } /* TODO */\n' >"$ws/project/src/main.c"
echo "not a real key" >"$fakehome/.ssh/id_demo"

python3 -m http.server --bind 127.0.0.1 0 --directory "$ws/project" >"$ws/http.log" 2>&1 &
server=$!
for _ in $(seq 50); do
	port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$ws/http.log" | head -n 1)
	[ -n "$port" ] && break
	sleep 0.1
done

echo "== What this kernel lets agentwatch do"
"$aw" doctor | sed -n '/What agentwatch can do here/,/^Verdict/p'
echo
echo "== Running the demo agent under: agentwatch exec --name demo-agent -- tools/demo-agent.sh"
HOME=$fakehome "$aw" exec --name demo-agent --workspace "$ws/project" --summary \
	--events "$out/events.jsonl" -- "$top/tools/demo-agent.sh" "$ws/project" "${port:-1}"
rc=$?
echo
echo "== Its audit events (OCSF 1.8.0; full JSON in build/demo/events.jsonl), interesting ones:"
python3 - "$out/events.jsonl" "$ws" <<'PY'
import json, sys
ws = sys.argv[2]
for line in open(sys.argv[1]):
    e = json.loads(line)
    c, p = e["class_uid"], e.get("process") or e.get("actor", {}).get("process", {})
    who = "%-6s %-8s" % (p.get("pid", ""), p.get("name", ""))
    if c == 1007 and e.get("launch_type_id") == 3:
        print("exec    %s %s" % (who, p.get("cmd_line", "")))
    elif c == 1001 and (e["file"]["path"].startswith(ws) or "/.ssh/" in e["file"]["path"]):
        print("open    %s %s [%s]" % (who, e["file"]["path"], ",".join(e["unmapped"].get("access", []))))
    elif c == 4001:
        d = e.get("dst_endpoint", {})
        print("net     %s %s %s:%s" % (who, e["activity_name"].lower(), d.get("ip"), d.get("port")))
PY
echo
echo "demo: agent exited $rc; $(wc -l <"$out/events.jsonl") events written to build/demo/events.jsonl"
