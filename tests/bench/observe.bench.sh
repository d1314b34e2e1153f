#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Observation overhead, as ratios against a no-agent baseline measured in the same run.
#
# For each syscall workload, rounds interleave three configurations:
#   base       no agentwatch loaded
#   unwatched  agentwatch exec running an idle agent; the workload runs outside it
#   unwatched_sysobs  the same with syscall observation on (a sys_enter program for everyone)
#   watched    the workload runs as the agent (open/connect emit one event per syscall)
#   unwatched_daemon  connect only: agentwatch run watching nothing, so its socket programs
#              (cgroup connect/sendmsg/bind, sock_ops for listen/accept) sit on the cgroup root
#              and every connect and accept of the node runs them, to leave after one lookup
# and report the median and min ratio. Then a load generator checks for drops at 200 k events/s,
# and the daemon's RSS under that load.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
aw=$top/build/agentwatch
bench=$top/build/agentwatch-bench-syscall
rounds=${AW_BENCH_ROUNDS:-5}
tmp=$(mktemp -d)
idle=
cleanup() {
	[ -n "$idle" ] && kill "$idle" 2>/dev/null && wait "$idle" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# An idle agent, loaded and attached: `exec` runs CMD only once its programs are in.
start_idle() {
	local i
	"$aw" exec --events /dev/null "$@" -- sleep 600 &
	idle=$!
	for i in $(seq 300); do
		pgrep -P "$idle" -x sleep >/dev/null && return 0
		sleep 0.05
	done
	echo "observe bench: the idle agent did not start" >&2
	exit 1
}

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP observe bench: needs root"
	exit 0
fi

cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
declare -A n=([getppid]=2000000 [openat-fail]=300000 [open-close]=300000 [connect]=3000)
ops="getppid openat-fail open-close connect"

run() { # config op -> ns per op
	local cfg=$1 op=$2
	case $cfg in
	base | unwatched) "$bench" "$op" "${n[$op]}" ;;
	watched) "$aw" exec --events /dev/null -- "$bench" "$op" "${n[$op]}" ;;
	esac | awk '{print $2}'
}

# Each round: base, unwatched (an idle agent loaded), base again, watched. The unwatched ratio
# is taken against the mean of the two bases around it.
for r in $(seq "$rounds"); do
	for op in $ops; do echo "$op base $(run base "$op")" >>"$tmp/raw"; done
	start_idle
	for op in $ops; do echo "$op unwatched $(run unwatched "$op")" >>"$tmp/raw"; done
	kill "$idle"
	wait "$idle" 2>/dev/null
	idle=
	start_idle --syscalls
	echo "getppid unwatched_sysobs $(run unwatched getppid)" >>"$tmp/raw"
	kill "$idle"
	wait "$idle" 2>/dev/null
	idle=
	"$aw" run --watch "$cg2/agentwatch-bench-none/**" --events /dev/null --socket "$tmp/d.sock" \
		2>/dev/null &
	idle=$!
	for _ in $(seq 600); do [ -S "$tmp/d.sock" ] && break; sleep 0.1; done
	echo "connect unwatched_daemon $(run unwatched connect)" >>"$tmp/raw"
	kill "$idle"
	wait "$idle" 2>/dev/null
	idle=
	for op in $ops; do echo "$op base2 $(run base "$op")" >>"$tmp/raw"; done
	for op in $ops; do echo "$op watched $(run watched "$op")" >>"$tmp/raw"; done
done

python3 - "$tmp/raw" <<'PY'
import statistics, sys
raw = {}
for line in open(sys.argv[1]):
    op, cfg, ns = line.split()
    raw.setdefault((op, cfg), []).append(float(ns))
for op in ("getppid", "openat-fail", "open-close", "connect"):
    base = [(a + b) / 2 for a, b in zip(raw[(op, "base")], raw[(op, "base2")])]
    for cfg in ("unwatched", "unwatched_sysobs", "unwatched_daemon", "watched"):
        if (op, cfg) not in raw:
            continue
        vals = raw[(op, cfg)]
        ratios = [v / b for v, b in zip(vals, base)]
        print("RESULT observe.%s.%s %.3f x ratio=%.3f min=%.3f base_ns=%.1f ns=%.1f" % (
            op, cfg, statistics.median(ratios), statistics.median(ratios), min(ratios),
            statistics.median(base), statistics.median(vals)))
PY

# Sustained load: 200 k file-open events/s for 5 s, JSON encoded (to /dev/null so the disk is
# not what is measured). Drops must be 0.
"$aw" exec --events /dev/null --summary -- "$bench" rate 200000 5 >"$tmp/rate" 2>"$tmp/sum"
rate=$(awk '/^rate/{print $2}' "$tmp/rate")
drops=$(sed -n 's/.*transport: \([0-9]*\) dropped (ring buffer full), \([0-9]*\) dropped.*/\1 \2/p' "$tmp/sum" | awk '{print $1+$2}')
rss=$(sed -n 's/.*RSS \([0-9]*\) KiB.*/\1/p' "$tmp/sum")
echo "RESULT observe.sustained_rate ${rate:-0} events/s drops=${drops:-unknown}"
echo "RESULT observe.drops_at_200k ${drops:-0} events"
echo "RESULT observe.daemon_rss $((${rss:-0} / 1024)) MiB"
