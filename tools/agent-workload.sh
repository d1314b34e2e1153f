#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# agent-workload.sh: what a coding agent does to a machine, in fixed amounts, for `make bench`.
#
#   agent-workload.sh prepare DIR [--files N]
#       generate the workspace DIR (not timed): a source tree of N files (default 3000), a web
#       root, a marker file and a marker binary. DIR must be writable by whoever runs `run`.
#   agent-workload.sh run DIR [--port P] [--scale S] [--settle FILE] [--cpu NAME=PID]...
#       do the work and print one line:
#         WORKLOAD elapsed_ms=... execs=... marker_execs=M marker_opens=N marker_connects=K ...
#
# The work: short-lived shells, a git-like walk over the tree (find, grep, sha1sum, cat),
# edits and writes in DIR/out, python start-ups, and HTTP requests over loopback to a python
# http.server the workload starts on 127.0.0.1:P (curl, then one python client). Three markers
# are touched an exact number of times so that a watcher's record can be checked against it:
#   DIR/bin/aw-marker   exec'd exactly marker_execs times (a copy of true)
#   DIR/marker.txt      opened exactly marker_opens times (from bash and from cat)
#   127.0.0.1:P         connected to exactly marker_connects times (curl and python)
# Nothing else execs, opens or connects to them. `execs` counts the commands the script starts
# itself (xargs children and the server's own work are extra); `python_starts`, `files_written`
# and `http_requests` likewise count what was asked for.
#
# elapsed_ms covers the work only: not the server's start-up wait, not the settle wait; cpu_ms is
# the user+system time of the work's processes (this shell and all it waited for). After the
# work, --settle FILE waits until FILE stops growing (a watcher's log, so that the watcher has
# written everything), then --cpu NAME=PID reports cpu_NAME=<utime+stime in ms> spent by PID
# (a daemon) from the start of the work to then; PID "ppid" is our parent (agentwatch exec).
set -euo pipefail
export LC_ALL=C.UTF-8 PATH=/usr/bin:/bin

usage() {
	sed -n '4,12p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 64
}

PY=/usr/bin/python3
CLK_TCK=$(getconf CLK_TCK)

prepare() {
	local dir=$1 files=3000
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--files) files=$2; shift 2 ;;
		*) usage ;;
		esac
	done
	mkdir -p "$dir"
	"$PY" - "$dir" "$files" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
exts = [".c", ".py", ".md", ".txt", ".h"]
words = ["alpha", "beta", "gamma", "delta", "TODO", "return", "def", "struct", "foo", "bar"]
paths = []
for i in range(n):
    d = os.path.join(root, "tree", "src", "mod%02d" % (i % 30), "sub%d" % (i // 30 % 5))
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "file%04d%s" % (i, exts[i % len(exts)]))
    with open(p, "w") as f:
        for line in range(40):
            f.write("%s %s %d foo\n" % (words[(i + line) % 10], words[(i * 7 + line) % 10], line))
    paths.append(p)
with open(os.path.join(root, "catlist"), "w") as f:
    f.write("\n".join(sorted(paths)[: 200]) + "\n")
os.makedirs(os.path.join(root, "www"), exist_ok=True)
with open(os.path.join(root, "www", "index.html"), "w") as f:
    f.write("<html><body>" + "agentwatch bench " * 64 + "</body></html>\n")
with open(os.path.join(root, "marker.txt"), "w") as f:
    f.write("marker\n")
os.makedirs(os.path.join(root, "bin"), exist_ok=True)
os.makedirs(os.path.join(root, "home"), exist_ok=True)
PY
	cp /bin/true "$dir/bin/aw-marker"
}

now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# cpu_ms PID: utime+stime of PID in milliseconds (fields 14 and 15 of /proc/PID/stat, after
# the parenthesised command name).
cpu_ms() {
	local stat rest
	read -r stat <"/proc/$1/stat" 2>/dev/null || { echo -1; return; }
	rest=${stat##*) }
	# shellcheck disable=SC2086 # split into the fields
	set -- $rest
	echo $(((${12} + ${13}) * 1000 / CLK_TCK))
}

# times_ms FILE: user+system ms of this shell and its waited-for children, from FILE written by
# `times >FILE` (which has to run in this shell itself, not in a $(...) subshell).
times_ms() {
	tr -d 's' <"$1" | tr 'm' ' ' | awk '{t += $1 * 60 + $2 + $3 * 60 + $4} END {printf "%d", t * 1000}'
}

# settle FILE: wait until FILE has not grown for 300 ms (at most 60 s). One python process that
# only stat()s, so that waiting makes no events of its own (an exec'd sleep per poll would).
settle() {
	"$PY" -c '
import os, sys, time
last, same, end = -2, 0, time.monotonic() + 60
while same < 30 and time.monotonic() < end:
    try:
        size = os.stat(sys.argv[1]).st_size
    except OSError:
        size = -1
    same, last = (same + 1, last) if size == last else (0, size)
    time.sleep(0.01)
' "$1"
}

run() {
	local dir=$1 port=38471 scale=1 settle_file="" cpus=() t0 t1 s0 i n
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--port) port=$2; shift 2 ;;
		--scale) scale=$2; shift 2 ;;
		--settle) settle_file=$2; shift 2 ;;
		--cpu) cpus+=("$2"); shift 2 ;;
		*) usage ;;
		esac
	done
	if ! [ -d "$dir/tree" ] || ! [ -x "$dir/bin/aw-marker" ]; then
		echo "$dir: not prepared" >&2
		exit 1
	fi
	local tree=$dir/tree out=$dir/out marker=$dir/marker.txt bin=$dir/bin/aw-marker
	local execs=0 marker_execs=0 marker_opens=0 marker_connects=0 written=0 pys=0 reqs=0
	rm -rf "$out"
	mkdir -p "$out/gen" "$out/py"
	export HOME=$dir/home

	# The dev server, started before the clock: its start-up is not the agent's work.
	"$PY" -u -m http.server --bind 127.0.0.1 --directory "$dir/www" "$port" \
		>"$out/server.log" 2>&1 &
	local server=$!
	for i in $(seq 500); do
		grep -q '^Serving HTTP' "$out/server.log" 2>/dev/null && break
		kill -0 "$server" 2>/dev/null || { cat "$out/server.log" >&2; exit 1; }
		sleep 0.01
	done

	declare -A c0
	local spec
	for spec in "${cpus[@]}"; do
		local pid=${spec#*=}
		[ "$pid" = ppid ] && pid=$PPID
		c0[$spec]=$(cpu_ms "$pid")
	done
	local cpu0
	times >"$out/.times"
	cpu0=$(times_ms "$out/.times")
	t0=$(now_ms)

	# 1. Short-lived shells, as an agent's tool calls are.
	for i in $(seq $((150 * scale))); do
		sh -c 'x=$((1 + 1)); echo "$x" >/dev/null'
		execs=$((execs + 1))
	done

	# 2. The marker binary.
	for i in $(seq $((100 * scale))); do
		"$bin"
		execs=$((execs + 1)) marker_execs=$((marker_execs + 1))
	done

	# 3. A git-like walk: list, search, hash, read.
	for i in $(seq "$scale"); do
		find "$tree" -type f | wc -l >/dev/null
		find "$tree" -name '*.c' -print0 | xargs -0 grep -l TODO >/dev/null
		grep -rn --include='*.py' 'def ' "$tree" | wc -l >/dev/null
		find "$tree" -type f -print0 | sort -z | xargs -0 sha1sum >"$out/manifest"
		execs=$((execs + 9))
	done
	while read -r f; do
		for i in $(seq "$scale"); do
			cat "$f" >/dev/null
			execs=$((execs + 1))
		done
	done <"$dir/catlist"

	# 4. Edits: files written from the shell, sed -i, a python script, a copy.
	for i in $(seq $((300 * scale))); do
		printf 'generated %d\nfoo line\n' "$i" >"$out/gen/f$i.txt"
		written=$((written + 1))
	done
	for i in $(seq $((50 * scale))); do
		sed -i 's/foo/bar/' "$out/gen/f$i.txt"
		execs=$((execs + 1))
	done
	"$PY" -c '
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, "p%d.txt" % i), "w") as f:
        f.write("python wrote %d\n" % i)
' "$out/py" $((500 * scale))
	execs=$((execs + 1)) pys=$((pys + 1)) written=$((written + 500 * scale))
	cp -r "$tree/src/mod00" "$out/copy"
	execs=$((execs + 1))

	# 5. Python start-ups (a linter, a test runner, a tool call each).
	for i in $(seq $((30 * scale))); do
		"$PY" -c 'import json, os; json.dumps(dict(os.environ))'
		execs=$((execs + 1)) pys=$((pys + 1))
	done

	# 6. The marker file: from the shell itself and from cat.
	for i in $(seq $((400 * scale))); do
		: <"$marker"
		marker_opens=$((marker_opens + 1))
	done
	for i in $(seq $((100 * scale))); do
		cat "$marker" >/dev/null
		execs=$((execs + 1)) marker_opens=$((marker_opens + 1))
	done

	# 7. Loopback HTTP: curl per request, then one python client, a new connection each.
	for i in $(seq $((50 * scale))); do
		curl -sf -o /dev/null "http://127.0.0.1:$port/index.html"
		execs=$((execs + 1)) marker_connects=$((marker_connects + 1)) reqs=$((reqs + 1))
	done
	n=$((200 * scale))
	"$PY" -c '
import http.client, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
for _ in range(n):
    c = http.client.HTTPConnection("127.0.0.1", port)
    c.request("GET", "/index.html")
    c.getresponse().read()
    c.close()
' "$port" "$n"
	execs=$((execs + 1)) pys=$((pys + 1)) marker_connects=$((marker_connects + n)) reqs=$((reqs + n))

	t1=$(now_ms)
	kill "$server"
	wait "$server" 2>/dev/null || true
	# CPU of the work: this shell and every process it waited for (the server included).
	local work_cpu
	times >"$out/.times"
	work_cpu=$(($(times_ms "$out/.times") - cpu0))

	s0=$(now_ms)
	[ -n "$settle_file" ] && settle "$settle_file"
	local line="WORKLOAD elapsed_ms=$((t1 - t0)) cpu_ms=$work_cpu execs=$execs"
	line+=" marker_execs=$marker_execs"
	line+=" marker_opens=$marker_opens marker_connects=$marker_connects files_written=$written"
	line+=" python_starts=$pys http_requests=$reqs settle_ms=$(($(now_ms) - s0))"
	line+=" marker_exec_path=$bin marker_file_path=$marker marker_port=$port"
	for spec in "${cpus[@]}"; do
		local pid=${spec#*=} c1
		[ "$pid" = ppid ] && pid=$PPID
		c1=$(cpu_ms "$pid")
		line+=" cpu_${spec%%=*}=$((c1 - ${c0[$spec]}))"
	done
	echo "$line"
}

[ $# -ge 2 ] || usage
cmd=$1
shift
case $cmd in
prepare) prepare "$@" ;;
run) run "$@" ;;
*) usage ;;
esac
