#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Per-syscall cost of agentwatch (observing, enforcing rules/default.yaml) and of auditd doing
# the same job, as ratios against a no-watcher baseline measured in the same rounds.
#
# Workloads: agentwatch-bench-syscall getppid, openat-fail, open-close, connect. Configurations,
# interleaved in every round (forward in odd rounds, reversed in even ones):
#   base, base2         no watcher; their mean is the round's baseline
#   observe, enforce    the benchmark runs as the agent (agentwatch exec [--policy] --events FILE)
#   auditd              auditd records execve, successful opens and connect for its uid
#   *_unwatched         the benchmark as another uid, outside any agent, while an idle agent
#                       runs or the auditd rules are loaded: what everyone else on the machine pays
# open-close and connect make one event per operation for every watcher; their extra cost per
# operation is the watcher's cost per event, compared with auditd's. (The connect benchmark
# accepts its own connections, so agentwatch also records an accept per operation: its figure
# is the cost of both.) Each watcher's record is checked: N opens of /etc/hostname and N
# connects must all be there.
#
# Within a round, each configuration runs each operation AW_BENCH_REPS times (default 5) and
# keeps its fastest repetition; the ratios are then medians over rounds.
#
# AW_BENCH_ROUNDS (default 5; AW_BENCH_SYSCALL_ROUNDS overrides it here), AW_BENCH_QUICK=1 (one
# round), AW_BENCH_NO_AUDIT=1, AW_BENCH_USER / AW_BENCH_USER2 as in workload.bench.sh.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
AW=$top/build/agentwatch
rounds=${AW_BENCH_SYSCALL_ROUNDS:-${AW_BENCH_ROUNDS:-5}}
[ -n "${AW_BENCH_QUICK:-}" ] && rounds=1
user=${AW_BENCH_USER:-nobody}
user2=${AW_BENCH_USER2:-daemon}
# Each configuration runs each operation REPS times, N each, and keeps the fastest repetition:
# short windows, so that a burst of other work on the machine spoils one repetition, not the round.
reps=${AW_BENCH_REPS:-5}
declare -A n=([getppid]=200000 [openat-fail]=50000 [open-close]=10000 [connect]=500)
ops="getppid openat-fail open-close connect"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP syscall-compare: needs root"
	exit 0
fi
if ! { uid=$(id -u "$user") && gid=$(id -g "$user") && uid2=$(id -u "$user2") &&
	gid2=$(id -g "$user2"); }; then
	echo "SKIP syscall-compare: users $user and $user2 must exist (AW_BENCH_USER, AW_BENCH_USER2)"
	exit 0
fi

tmp=$(mktemp -d /tmp/aw-bench-syscall.XXXXXX)
chmod 755 "$tmp"
. "$top/tests/bench/lib/audit.sh"
. "$top/tests/bench/lib/watch.sh"
cleanup() {
	aw_idle_stop
	aw_audit_restore
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

install -m 0755 "$top/build/agentwatch-bench-syscall" "$tmp/bench-syscall"
# The whole set in one process tree, so that an agent is loaded once per configuration.
script=""
for op in $ops; do
	script+="for i in $(seq -s ' ' "$reps"); do $tmp/bench-syscall $op ${n[$op]}; done; "
done
policy=(--policy "$top/rules/default.yaml" --home /nonexistent --workspace "$tmp")
count=(--exec /nonexistent --file /etc/hostname --port 0)

run_config() { # ROUND CONFIG -> runs/ROUND.CONFIG.{ns,count,extra}
	local r=$1 cfg=$2 p=$tmp/runs/$1.$2 ev=$tmp/events.json off lost0 waited0 pol=()
	: >"$p.extra"
	sync # the previous run's logs reach the disk now, not during this run
	case $cfg in
	base | base2)
		aw_as "$uid" "$gid" sh -c "$script" >"$p.ns" 2>"$p.err"
		;;
	observe | enforce)
		rm -f "$ev"
		[ "$cfg" = enforce ] && pol=("${policy[@]}")
		"$AW" exec --summary --events "$ev" "${pol[@]}" -- setpriv --reuid="$uid" \
			--regid="$gid" --clear-groups env -i PATH=/usr/bin:/bin LC_ALL=C.UTF-8 \
			sh -c "$script" >"$p.ns" 2>"$p.err"
		python3 "$top/tools/agent-workload.py" agentwatch "$ev" "${count[@]}" >"$p.count"
		aw_summary_drops "$p.err" >>"$p.extra"
		echo "bytes=$(stat -c %s "$ev")" >>"$p.extra"
		rm -f "$ev"
		;;
	observe_unwatched | enforce_unwatched)
		[ "$cfg" = enforce_unwatched ] && pol=("${policy[@]}")
		aw_idle_start "$tmp/idle.json" "${pol[@]}" || return 1
		echo "load_ms=$AW_IDLE_LOAD_MS" >>"$p.extra"
		aw_as "$uid2" "$gid2" sh -c "$script" >"$p.ns" 2>"$p.err"
		aw_idle_stop
		;;
	auditd | auditd_unwatched)
		off=$(stat -c %s "$AW_AUDIT_LOG")
		lost0=$(aw_audit_lost)
		waited0=$(aw_audit_waited)
		aw_audit_watch "$uid" awbench
		if [ "$cfg" = auditd ]; then
			aw_as "$uid" "$gid" sh -c "$script" >"$p.ns" 2>"$p.err"
		else
			aw_as "$uid2" "$gid2" sh -c "$script" >"$p.ns" 2>"$p.err"
		fi
		# auditd may still be writing what the kernel queued: wait for the log to settle.
		python3 - "$AW_AUDIT_LOG" <<-'PY'
			import os, sys, time
			last, same, end = -1, 0, time.monotonic() + 60
			while same < 30 and time.monotonic() < end:
			    s = os.stat(sys.argv[1]).st_size
			    same, last = (same + 1, last) if s == last else (0, s)
			    time.sleep(0.01)
		PY
		aw_audit_quiet
		python3 "$top/tools/agent-workload.py" audit "$AW_AUDIT_LOG" --from "$off" \
			--key awbench "${count[@]}" >"$p.count"
		echo "lost=$(($(aw_audit_lost) - lost0)) waited=$(($(aw_audit_waited) - waited0))" >>"$p.extra"
		;;
	esac
	[ "$(wc -l <"$p.ns")" -eq $((4 * reps)) ] || {
		echo "# $cfg round $r failed: $(tail -n 3 "$p.err" | tr '\n' ' ')" >&2
		return 1
	}
}

mkdir -p "$tmp/runs"
configs=(base observe enforce base2 observe_unwatched enforce_unwatched)
if [ -z "${AW_BENCH_NO_AUDIT:-}" ]; then
	aw_audit_prepare "$tmp"
	if [ "$AW_AUDIT" = ok ]; then
		configs=(base observe enforce auditd base2 observe_unwatched enforce_unwatched auditd_unwatched)
	else
		echo "SKIP syscall.auditd: $AW_AUDIT_WHY"
	fi
else
	echo "SKIP syscall.auditd: AW_BENCH_NO_AUDIT is set"
fi

t_start=$SECONDS
for r in $(seq "$rounds"); do
	order=("${configs[@]}")
	if [ $((r % 2)) -eq 0 ]; then
		order=()
		for ((i = ${#configs[@]} - 1; i >= 0; i--)); do order+=("${configs[i]}"); done
	fi
	for cfg in "${order[@]}"; do run_config "$r" "$cfg"; done
	echo "# syscall-compare round $r/$rounds done ($((SECONDS - t_start)) s)" >&2
done

rm -rf "$top/build/bench/raw/syscall-compare"
mkdir -p "$top/build/bench/raw" && cp -r "$tmp/runs" "$top/build/bench/raw/syscall-compare"

python3 - "$tmp/runs" "$rounds" "$reps" "${n[getppid]}" "${n[openat-fail]}" "${n[open-close]}" \
	"${n[connect]}" <<'PY'
import glob, json, os, statistics, sys

runs_dir, rounds, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
n_per = dict(zip(("getppid", "openat-fail", "open-close", "connect"), map(int, sys.argv[4:8])))
n_open, n_connect = reps * n_per["open-close"], reps * n_per["connect"]
ns, counts, extra = {}, {}, {}
for f in glob.glob(os.path.join(runs_dir, "*.ns")):
    r, cfg = os.path.basename(f)[:-3].split(".", 1)
    r = int(r)
    lines = [l.split() for l in open(f) if len(l.split()) == 2]
    for op, v in lines:  # the fastest repetition
        ns[(r, cfg, op)] = min(float(v), ns.get((r, cfg, op), float("inf")))
    stem = f[:-3]
    if os.path.exists(stem + ".count"):
        counts[(r, cfg)] = json.load(open(stem + ".count"))
    extra[(r, cfg)] = dict(t.split("=", 1) for t in open(stem + ".extra").read().split() if "=" in t)

med = statistics.median
ops = ("getppid", "openat-fail", "open-close", "connect")
cfgs = ("observe", "enforce", "auditd", "observe_unwatched", "enforce_unwatched", "auditd_unwatched")
base = {}
for r in range(1, rounds + 1):
    for op in ops:
        b = [ns[(r, c, op)] for c in ("base", "base2") if (r, c, op) in ns]
        if b:
            base[(r, op)] = sum(b) / len(b)
per_event = {}
for op in ops:
    bs = [base[(r, op)] for r in range(1, rounds + 1) if (r, op) in base]
    if not bs:
        continue
    print("RESULT syscall.%s.base %.1f ns min=%.1f rounds=%d reps=%d n=%d" % (
        op, med(bs), min(bs), len(bs), reps, n_per[op]))
    for cfg in cfgs:
        rs = [r for r in range(1, rounds + 1) if (r, cfg, op) in ns and (r, op) in base]
        if not rs:
            continue
        ratios = [ns[(r, cfg, op)] / base[(r, op)] for r in rs]
        print("RESULT syscall.%s.%s %.3f x ratio=%.3f min=%.3f ns=%.1f base_ns=%.1f rounds=%d" % (
            op, cfg, med(ratios), med(ratios), min(ratios), med([ns[(r, cfg, op)] for r in rs]),
            med([base[(r, op)] for r in rs]), len(rs)))
        if op in ("open-close", "connect") and cfg in ("observe", "enforce", "auditd"):
            over = [ns[(r, cfg, op)] - base[(r, op)] for r in rs]
            per_event[(op, cfg)] = med(over)
            print("RESULT syscall.%s.%s.per_event_ns %.0f ns min=%.0f" % (op, cfg, med(over), min(over)))
for op in ("open-close", "connect"):
    a = per_event.get((op, "auditd"))
    for cfg in ("observe", "enforce"):
        v = per_event.get((op, cfg))
        if a and v is not None and a > 0:
            # An overhead below the noise comes out negative: counted as 0, the raw figure kept.
            print("RESULT syscall.%s.%s.per_event_vs_auditd %.3f x raw=%.3f goal=0.1 ok=%s" % (
                op, cfg, max(v / a, 0), v / a, "yes" if v / a <= 0.1 else "no"))
# How long an agent takes to start (load, attach) on this machine: from the unwatched rounds.
for cfg in ("observe", "enforce"):
    ms = [int(extra[(r, cfg + "_unwatched")]["load_ms"]) for r in range(1, rounds + 1)
          if "load_ms" in extra.get((r, cfg + "_unwatched"), {})]
    if ms:
        print("RESULT syscall.agent_load.%s %.0f ms min=%d rounds=%d" % (cfg, med(ms), min(ms), len(ms)))
# The record check: every open of /etc/hostname and every connect, once.
for cfg in ("observe", "enforce", "auditd"):
    rs = [r for r in range(1, rounds + 1) if (r, cfg) in counts]
    if not rs:
        continue
    for what, key, exp in (("open-close", "marker_opens", n_open), ("connect", "connect", n_connect)):
        got = [counts[(r, cfg)][key] for r in rs]
        print("RESULT syscall.check.%s.%s %d events expected=%d ok=%s worst=%d" % (
            cfg, what, med(got), exp, "yes" if all(g == exp for g in got) else "no", min(got)))
    if cfg == "auditd":
        lost = [int(extra[(r, cfg)].get("lost", 0)) for r in rs]
        # Records the kernel dropped during the runs, anyone's (the checks above say whether any
        # were ours).
        print("RESULT syscall.auditd.kernel_lost %d records" % max(lost))
        print("RESULT syscall.auditd.backlog_wait %.0f ms" % med(
            [int(extra[(r, cfg)].get("waited", 0)) for r in rs]))
        print("RESULT syscall.auditd.bytes_per_event %.0f B" % med(
            [counts[(r, cfg)]["bytes"] / max(counts[(r, cfg)]["events"], 1) for r in rs]))
    else:
        drops = [sum(int(extra[(r, cfg)].get(k, 0)) for k in ("ringbuf_drops", "scratch_drops", "sink_drops")) for r in rs]
        print("RESULT syscall.check.%s.drops %d events expected=0 ok=%s" % (
            cfg, max(drops), "yes" if max(drops) == 0 else "no"))
        print("RESULT syscall.%s.bytes_per_event %.0f B" % (cfg, med(
            [counts[(r, cfg)]["bytes"] / max(counts[(r, cfg)]["events"], 1) for r in rs])))
PY
