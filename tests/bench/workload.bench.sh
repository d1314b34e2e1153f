#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The coding-agent workload (tools/agent-workload.sh: shells, a file walk over a generated tree,
# edits, python start-ups, loopback HTTP) under each watcher, as ratios against a no-watcher
# baseline measured in the same rounds.
#
# Configurations, interleaved in every round (forward in odd rounds, reversed in even ones, so a
# steady drift in the machine's load cancels out):
#   base, base2         no watcher (their mean is the round's baseline)
#   observe             agentwatch exec --events FILE -- workload
#   enforce             the same with --policy rules/default.yaml
#   auditd              auditd recording execve, successful opens and connect for the
#                       workload's uid (tests/bench/lib/audit.sh)
#   *_unwatched         the workload as another uid, outside any agent, while an idle agent
#                       (observe, enforce) runs or the auditd rules are loaded
# The workload runs as AW_BENCH_USER (default nobody) when watched and as AW_BENCH_USER2
# (default daemon) when not; both are real accounts, because auditd's log format resolves uids.
#
# Besides wall time: the events each watcher recorded (and whether the workload's marker exec,
# file and port are all there, expected vs recorded), events per second, the daemon's CPU
# (agentwatch exec; auditd plus kauditd) from /proc/PID/stat, log bytes per event, and the
# overhead per event against auditd's.
#
# AW_BENCH_ROUNDS (default 5), AW_BENCH_WORKLOAD_ROUNDS overrides it here; AW_BENCH_QUICK=1 is one
# round at a quarter of the tree. AW_BENCH_NO_AUDIT=1 leaves auditd out.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
AW=$top/build/agentwatch
rounds=${AW_BENCH_WORKLOAD_ROUNDS:-${AW_BENCH_ROUNDS:-5}}
files=3000
if [ -n "${AW_BENCH_QUICK:-}" ]; then
	rounds=1
	files=750
fi
port=${AW_BENCH_PORT:-38471}
user=${AW_BENCH_USER:-nobody}
user2=${AW_BENCH_USER2:-daemon}

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP workload: needs root"
	exit 0
fi

tmp=$(mktemp -d /tmp/aw-bench-workload.XXXXXX)
chmod 755 "$tmp" # the workload's users stat the watchers' logs in here
. "$top/tests/bench/lib/audit.sh"
. "$top/tests/bench/lib/watch.sh"
cleanup() {
	aw_idle_stop
	aw_audit_restore
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! { uid=$(id -u "$user") && gid=$(id -g "$user") && uid2=$(id -u "$user2") &&
	gid2=$(id -g "$user2"); }; then
	echo "SKIP workload: users $user and $user2 must exist (AW_BENCH_USER, AW_BENCH_USER2)"
	exit 0
fi

# The workload and its two workspaces (one per uid), generated once, outside the timing.
install -m 0755 "$top/tools/agent-workload.sh" "$tmp/agent-workload.sh"
for w in 1 2; do
	bash "$tmp/agent-workload.sh" prepare "$tmp/ws$w" --files "$files"
done
chown -R "$uid:$gid" "$tmp/ws1"
chown -R "$uid2:$gid2" "$tmp/ws2"
mkdir -p "$tmp/runs"

policy=(--policy "$top/rules/default.yaml" --home "$tmp/ws1/home" --workspace "$tmp/ws1")
policy2=(--policy "$top/rules/default.yaml" --home "$tmp/ws2/home" --workspace "$tmp/ws2")
marker=(--exec "$tmp/ws1/bin/aw-marker" --file "$tmp/ws1/marker.txt" --port "$port")

workload() { # 1|2 (which workspace and user) ARGS...
	local w=$1
	shift
	if [ "$w" = 1 ]; then
		aw_as "$uid" "$gid" bash "$tmp/agent-workload.sh" run "$tmp/ws1" --port "$port" "$@"
	else
		aw_as "$uid2" "$gid2" bash "$tmp/agent-workload.sh" run "$tmp/ws2" --port "$port" "$@"
	fi
}

# run_config ROUND CONFIG: one run; leaves runs/ROUND.CONFIG.{wl,count,extra}.
run_config() {
	local r=$1 cfg=$2 p=$tmp/runs/$1.$2 ev=$tmp/events.json off lost0 waited0
	: >"$p.extra"
	sync # the previous run's logs reach the disk now, not during this run
	case $cfg in
	base | base2)
		workload 1 >"$p.wl" 2>"$p.err"
		;;
	observe | enforce)
		rm -f "$ev"
		local pol=()
		[ "$cfg" = enforce ] && pol=("${policy[@]}")
		"$AW" exec --summary --events "$ev" "${pol[@]}" -- \
			setpriv --reuid="$uid" --regid="$gid" --clear-groups \
			env -i PATH=/usr/bin:/bin LC_ALL=C.UTF-8 \
			bash "$tmp/agent-workload.sh" run "$tmp/ws1" --port "$port" \
			--settle "$ev" --cpu daemon=ppid >"$p.wl" 2>"$p.err"
		python3 "$top/tools/agent-workload.py" agentwatch "$ev" "${marker[@]}" >"$p.count"
		aw_summary_drops "$p.err" >>"$p.extra"
		rm -f "$ev"
		;;
	observe_unwatched | enforce_unwatched)
		local pol=()
		[ "$cfg" = enforce_unwatched ] && pol=("${policy2[@]}")
		aw_idle_start "$tmp/idle.json" "${pol[@]}" || return 1
		workload 2 --cpu daemon="$AW_IDLE" >"$p.wl" 2>"$p.err"
		aw_idle_stop
		;;
	auditd | auditd_unwatched)
		off=$(stat -c %s "$AW_AUDIT_LOG")
		lost0=$(aw_audit_lost)
		waited0=$(aw_audit_waited)
		aw_audit_watch "$uid" awbench
		local w=1
		[ "$cfg" = auditd_unwatched ] && w=2
		workload $w --settle "$AW_AUDIT_LOG" --cpu auditd="$AW_AUDITD_PID" \
			--cpu kauditd="$AW_KAUDITD_PID" >"$p.wl" 2>"$p.err"
		aw_audit_quiet
		python3 "$top/tools/agent-workload.py" audit "$AW_AUDIT_LOG" --from "$off" \
			--key awbench "${marker[@]}" >"$p.count"
		echo "lost=$(($(aw_audit_lost) - lost0)) waited=$(($(aw_audit_waited) - waited0))" >>"$p.extra"
		;;
	esac
	grep -q '^WORKLOAD' "$p.wl" || {
		echo "# $cfg round $r failed: $(tail -n 3 "$p.err" | tr '\n' ' ')" >&2
		return 1
	}
}

configs=(base observe enforce base2 observe_unwatched enforce_unwatched)
if [ -z "${AW_BENCH_NO_AUDIT:-}" ]; then
	aw_audit_prepare "$tmp"
	if [ "$AW_AUDIT" = ok ]; then
		configs=(base observe enforce auditd base2 observe_unwatched enforce_unwatched auditd_unwatched)
	else
		echo "SKIP workload.auditd: $AW_AUDIT_WHY"
	fi
else
	echo "SKIP workload.auditd: AW_BENCH_NO_AUDIT is set"
fi

# One run to warm the page cache and python's bytecode caches, not counted.
workload 1 >/dev/null 2>&1
workload 2 >/dev/null 2>&1
t_start=$SECONDS
for r in $(seq "$rounds"); do
	order=("${configs[@]}")
	if [ $((r % 2)) -eq 0 ]; then
		order=()
		for ((i = ${#configs[@]} - 1; i >= 0; i--)); do order+=("${configs[i]}"); done
	fi
	for cfg in "${order[@]}"; do
		run_config "$r" "$cfg"
	done
	echo "# workload round $r/$rounds done ($((SECONDS - t_start)) s)" >&2
done

rm -rf "$top/build/bench/raw/workload"
mkdir -p "$top/build/bench/raw" && cp -r "$tmp/runs" "$top/build/bench/raw/workload"

python3 - "$tmp/runs" "$rounds" "$files" <<'PY'
import glob, json, os, statistics, sys

runs_dir, rounds, files = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def kv(path):
    out = {}
    if os.path.exists(path):
        for tok in open(path).read().split():
            k, sep, v = tok.partition("=")
            if sep:
                try:
                    out[k] = int(v)
                except ValueError:
                    out[k] = v
    return out

runs = {}  # (round, cfg) -> dict
for wl in glob.glob(os.path.join(runs_dir, "*.wl")):
    stem = wl[:-3]
    r, cfg = os.path.basename(stem).split(".", 1)
    line = next((l for l in open(wl) if l.startswith("WORKLOAD")), None)
    if line is None:
        continue
    d = {}
    d["wl"] = {k: (int(v) if v.lstrip("-").isdigit() else v)
               for k, _, v in (t.partition("=") for t in line.split()[1:])}
    d["count"] = json.load(open(stem + ".count")) if os.path.exists(stem + ".count") else None
    d["extra"] = kv(stem + ".extra")
    runs[(int(r), cfg)] = d

def med(xs):
    return statistics.median(xs) if xs else float("nan")

base = {}
for r in range(1, rounds + 1):
    b = [runs[(r, c)]["wl"]["elapsed_ms"] for c in ("base", "base2") if (r, c) in runs]
    if b:
        base[r] = sum(b) / len(b)
if not base:
    print("SKIP workload: no baseline run completed")
    sys.exit(0)

print("RESULT workload.base.wall %.0f ms min=%.0f rounds=%d files=%s" % (
    med(list(base.values())), min(base.values()), len(base), files))
base_cpu = {}
for r in base:
    b = [runs[(r, c)]["wl"]["cpu_ms"] for c in ("base", "base2") if (r, c) in runs]
    base_cpu[r] = sum(b) / len(b)
print("RESULT workload.base.cpu %.0f ms min=%.0f rounds=%d" % (
    med(list(base_cpu.values())), min(base_cpu.values()), len(base_cpu)))

ratios = {}
for cfg in ("observe", "enforce", "auditd", "observe_unwatched", "enforce_unwatched",
            "auditd_unwatched"):
    rs = [(r, runs[(r, cfg)]["wl"]["elapsed_ms"] / base[r]) for r in base if (r, cfg) in runs]
    if not rs:
        continue
    vals = [x for _, x in rs]
    ratios[cfg] = rs
    ms = [runs[(r, cfg)]["wl"]["elapsed_ms"] for r, _ in rs]
    print("RESULT workload.%s.wall %.3f x ratio=%.3f min=%.3f ms=%.0f base_ms=%.0f rounds=%d" % (
        cfg, med(vals), med(vals), min(vals), med(ms), med([base[r] for r, _ in rs]), len(rs)))
    cr = [runs[(r, cfg)]["wl"]["cpu_ms"] / base_cpu[r] for r, _ in rs]
    print("RESULT workload.%s.cpu %.3f x ratio=%.3f min=%.3f ms=%.0f base_ms=%.0f rounds=%d" % (
        cfg, med(cr), med(cr), min(cr), med([runs[(r, cfg)]["wl"]["cpu_ms"] for r, _ in rs]),
        med([base_cpu[r] for r, _ in rs]), len(rs)))

tools = [c for c in ("observe", "enforce", "auditd") if c in ratios]
same_kind = {}
for cfg in tools:
    rs = [r for r, _ in ratios[cfg]]
    cnt = [runs[(r, cfg)]["count"] for r in rs]
    wl = [runs[(r, cfg)]["wl"] for r in rs]
    ev = [c["events"] for c in cnt]
    sk = [c["exec"] + c["open"] + c["connect"] for c in cnt]
    same_kind[cfg] = med(sk)
    secs = [w["elapsed_ms"] / 1000 for w in wl]
    print("RESULT workload.%s.events %d events exec=%d open=%d connect=%d same_kind=%d" % (
        cfg, med(ev), med([c["exec"] for c in cnt]), med([c["open"] for c in cnt]),
        med([c["connect"] for c in cnt]), med(sk)))
    print("RESULT workload.%s.events_per_s %.0f events/s same_kind_per_s=%.0f" % (
        cfg, med([e / s for e, s in zip(ev, secs)]), med([e / s for e, s in zip(sk, secs)])))
    print("RESULT workload.%s.bytes_per_event %.0f B" % (
        cfg, med([c["bytes"] / max(c["events"], 1) for c in cnt])))
    if cfg == "auditd":
        cpu = [w.get("cpu_auditd", 0) + w.get("cpu_kauditd", 0) for w in wl]
        detail = "auditd_ms=%.0f kauditd_ms=%.0f" % (
            med([w.get("cpu_auditd", 0) for w in wl]), med([w.get("cpu_kauditd", 0) for w in wl]))
    else:
        cpu = [w.get("cpu_daemon", 0) for w in wl]
        detail = ""
    print("RESULT workload.%s.daemon_cpu %.0f ms per_event_us=%.2f %s" % (
        cfg, med(cpu), med([c * 1000 / max(e, 1) for c, e in zip(cpu, ev)]), detail))
    over = [(runs[(r, cfg)]["wl"]["elapsed_ms"] - base[r]) * 1000 / max(s, 1)
            for r, s in zip(rs, sk)]
    print("RESULT workload.%s.overhead_per_event %.2f us min=%.2f" % (cfg, med(over), min(over)))
    # All the CPU the watching took, per event: the workload's extra CPU (BPF programs or audit
    # records made in its own syscalls) plus the daemon's.
    cpe = [((runs[(r, cfg)]["wl"]["cpu_ms"] - base_cpu[r]) + c) * 1000 / max(s, 1)
           for r, c, s in zip(rs, cpu, sk)]
    print("RESULT workload.%s.cpu_per_event %.2f us min=%.2f" % (cfg, med(cpe), min(cpe)))
    # The event-count check: every marker action recorded exactly once per action.
    for m in ("marker_execs", "marker_opens", "marker_connects"):
        exp = [w[m] for w in wl]
        got = [c[m] for c in cnt]
        ok = all(g == e for g, e in zip(got, exp))
        print("RESULT workload.check.%s.%s %d events expected=%d ok=%s worst=%d" % (
            cfg, m, med(got), med(exp), "yes" if ok else "no", min(got)))
    ex = [runs[(r, cfg)]["extra"] for r in rs]
    if cfg == "auditd":
        # Records the kernel dropped during the run, anyone's (the marker checks say whether
        # any were ours).
        print("RESULT workload.auditd.kernel_lost %d records" % max(e.get("lost", 0) for e in ex))
        print("RESULT workload.check.auditd.failed_execs %d events" % med([c["failed_exec"] for c in cnt]))
        print("RESULT workload.auditd.backlog_wait %.0f ms" % med([int(e.get("waited", 0)) for e in ex]))
    else:
        drops = [sum(e.get(k, 0) for k in ("ringbuf_drops", "scratch_drops", "sink_drops")) for e in ex]
        print("RESULT workload.check.%s.drops %d events expected=0 ok=%s" % (
            cfg, max(drops), "yes" if all(d == 0 for d in drops) else "no"))

for cfg in ("observe_unwatched", "enforce_unwatched", "auditd_unwatched"):
    if cfg not in ratios:
        continue
    wl = [runs[(r, cfg)]["wl"] for r, _ in ratios[cfg]]
    key = "cpu_daemon" if cfg != "auditd_unwatched" else None
    cpu = [(w.get("cpu_auditd", 0) + w.get("cpu_kauditd", 0)) if key is None else w.get(key, 0) for w in wl]
    print("RESULT workload.%s.daemon_cpu %.0f ms" % (cfg, med(cpu)))
    if cfg == "auditd_unwatched":
        cnt = [runs[(r, cfg)]["count"]["events"] for r, _ in ratios[cfg]]
        print("RESULT workload.check.auditd_unwatched.events %d events expected=0 ok=%s" % (
            max(cnt), "yes" if max(cnt) == 0 else "no"))

# The goal: agentwatch's overhead per event at most a tenth of auditd's on the same job. Both
# are per event of the kinds both record (exec, open, connect), against the same baseline.
if "auditd" in ratios:
    def per_event(cfg):
        return med([(runs[(r, cfg)]["wl"]["elapsed_ms"] - base[r]) /
                    max(runs[(r, cfg)]["count"]["exec"] + runs[(r, cfg)]["count"]["open"] +
                        runs[(r, cfg)]["count"]["connect"], 1) for r, _ in ratios[cfg]])
    # An overhead below the noise comes out negative: counted as 0, the raw figure kept.
    def cpu_per_event(cfg):
        def daemon(w):
            return w.get("cpu_auditd", 0) + w.get("cpu_kauditd", 0) + w.get("cpu_daemon", 0)
        return med([(runs[(r, cfg)]["wl"]["cpu_ms"] - base_cpu[r] + daemon(runs[(r, cfg)]["wl"])) /
                    max(runs[(r, cfg)]["count"]["exec"] + runs[(r, cfg)]["count"]["open"] +
                        runs[(r, cfg)]["count"]["connect"], 1) for r, _ in ratios[cfg]])
    for name, f in (("per_event_vs_auditd", per_event), ("cpu_per_event_vs_auditd", cpu_per_event)):
        a = f("auditd")
        for cfg in ("observe", "enforce"):
            if cfg in ratios and a > 0:
                x = f(cfg) / a
                print("RESULT workload.%s.%s %.3f x raw=%.3f goal=0.1 ok=%s" % (
                    cfg, name, max(x, 0), x, "yes" if x <= 0.1 else "no"))
PY
