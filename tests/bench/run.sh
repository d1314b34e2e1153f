#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make bench: run every benchmark and collect one results file.
#
# Each benchmark is a build/agentwatch-bench-* binary or a tests/bench/*.bench.sh script. It
# measures its own baseline in the same run and prints lines of the form
#   RESULT <name> <value> <unit> [ratio=<x>] [min=<x>] [baseline=<value>] [k=v...]
#   SKIP <name>: <reason>
# (value is the median over interleaved rounds where there are rounds, min their minimum) which
# this script gathers into build/bench/results.json, prints as a table, and renders with
# tools/render-performance.py into build/bench/performance.md; a complete run (not quick, not a
# subset) also writes docs/performance.md.
#
# Knobs: AW_BENCH_ROUNDS (rounds of the interleaved benchmarks, default 5), AW_BENCH_QUICK=1
# (CI smoke: one round, smaller workloads, no VM), AW_BENCH_ONLY=REGEX (only benchmarks whose
# file name matches), AW_BENCH_PUBLISH=0 (never write docs/). Exits 1 if a benchmark failed.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/bench
mkdir -p "$out"
raw=$out/results.txt
: >"$raw"
if [ -n "${AW_BENCH_QUICK:-}" ]; then
	export AW_BENCH_ROUNDS=${AW_BENCH_ROUNDS:-1}
else
	export AW_BENCH_ROUNDS=${AW_BENCH_ROUNDS:-5}
fi

# Tools other benchmarks drive, not benchmarks of their own.
helpers=" agentwatch-bench-syscall "

# What this kernel lets agentwatch use, from agentwatch doctor (securityfs may not be mounted).
lsm=$({ "$top/build/agentwatch" doctor --json 2>/dev/null || true; } | python3 -c '
import json, sys
d = json.load(sys.stdin)
l, c = d.get("lsm", {}), d.get("capabilities", {})
print("active LSMs %s; BPF-LSM %s; file enforcement %s, network enforcement %s" % (
    l.get("active") or "unknown", "active" if l.get("bpf_active") else "not active",
    c.get("file_enforcement"), c.get("network_enforcement")))
' 2>/dev/null || echo "unknown (agentwatch doctor failed)")
machine="$(uname -r), $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "agentwatch bench on: $machine; $lsm; load average $load0"

# Once audit has been enabled since boot (an earlier auditd comparison did that), every new
# process takes the audit syscall path, rules or not, and every baseline would include it. With
# no audit rules loaded, hold one `-a never,task` for the run, as a machine that never enabled
# audit behaves, and take it out again at exit (the auditd comparisons save and restore around
# it: tests/bench/lib/audit.sh).
audit_never_task=
if [ "$(id -u)" -eq 0 ] && command -v auditctl >/dev/null && [ "$(auditctl -l 2>/dev/null)" = "No rules" ] &&
	auditctl -a never,task >/dev/null 2>&1; then
	audit_never_task=1
	echo "# audit: \`-a never,task\` held for the run (no audit rules were loaded)"
fi
release_audit() { [ -z "$audit_never_task" ] || auditctl -d never,task >/dev/null 2>&1; }
trap release_audit EXIT

t0=$SECONDS
failed=0
: >"$out/timings.txt"
for b in "$top"/build/agentwatch-bench-* "$top"/tests/bench/*.bench.sh; do
	[ -e "$b" ] || continue
	name=$(basename "$b")
	[[ $helpers == *" $name "* ]] && continue
	if [ -n "${AW_BENCH_ONLY:-}" ] && ! [[ $name =~ $AW_BENCH_ONLY ]]; then continue; fi
	echo "== $name"
	t=$SECONDS
	if [[ $b == *.sh ]]; then bash "$b"; else "$b"; fi | tee -a "$raw"
	rc=${PIPESTATUS[0]}
	echo "$name $((SECONDS - t))" >>"$out/timings.txt"
	if [ "$rc" -ne 0 ]; then
		echo "FAIL $name: exit $rc" | tee -a "$raw"
		failed=1
	fi
done
total=$((SECONDS - t0))

python3 - "$raw" "$out/results.json" "$machine" "$lsm" "$started" "$total" "$load0" \
	"$(cut -d' ' -f1-3 /proc/loadavg)" "$out/timings.txt" <<'PY'
import json, os, sys
raw, dst, machine, lsm, started, total, load0, load1, timings = sys.argv[1:10]
results, skipped, failed = [], [], []
for line in open(raw):
    f = line.split()
    if len(f) >= 2 and f[0] in ("SKIP", "FAIL"):
        name, _, why = line[5:].strip().partition(": ")
        (skipped if f[0] == "SKIP" else failed).append({"name": name.rstrip(":"), "reason": why})
        continue
    if len(f) < 4 or f[0] != "RESULT":
        continue
    try:
        r = {"name": f[1], "value": float(f[2]), "unit": f[3]}
    except ValueError:
        continue
    for kv in f[4:]:
        if "=" in kv:
            k, v = kv.split("=", 1)
            try:
                r[k] = float(v)
            except ValueError:
                r[k] = v
    results.append(r)
doc = {
    "machine": machine,
    "lsm": lsm,
    "started": started,
    "total_seconds": int(total),
    "load_average": {"start": load0, "end": load1},
    "rounds": int(os.environ.get("AW_BENCH_ROUNDS", "5")),
    "quick": bool(os.environ.get("AW_BENCH_QUICK")),
    "only": os.environ.get("AW_BENCH_ONLY", ""),
    "command": os.environ.get("AW_BENCH_COMMAND", "sudo make bench"),
    "timings": {l.split()[0]: int(l.split()[1]) for l in open(timings) if len(l.split()) == 2},
    "results": results,
    "skipped": skipped,
    "failed": failed,
}
json.dump(doc, open(dst, "w"), indent=1)
print("\n%-52s %12s %-9s %8s %8s" % ("benchmark", "value", "unit", "ratio", "min"))
for r in results:
    ratio = "%.3fx" % r["ratio"] if isinstance(r.get("ratio"), float) else ""
    mn = ("%.3f" % r["min"]) if isinstance(r.get("min"), float) else ""
    note = ""
    if "expected" in r:
        note = "  expected %g %s" % (r["expected"], "ok" if r.get("ok") == "yes" else "MISMATCH")
    elif r.get("ok") in ("yes", "no"):
        note = "  goal %s" % ("met" if r["ok"] == "yes" else "NOT met")
    v = r["value"]
    val = "%.0f" % v if abs(v) >= 1000 else "%.1f" % v if abs(v) >= 10 else "%.3f" % v
    print("%-52s %12s %-9s %8s %8s%s" % (r["name"], val, r["unit"], ratio, mn, note))
for s in skipped:
    print("SKIP %s: %s" % (s["name"], s["reason"]))
for s in failed:
    print("FAIL %s: %s" % (s["name"], s["reason"]))
print("\ntotal %d s (%s); wrote %s" % (int(total), ", ".join(
    "%s %s s" % kv for kv in doc["timings"].items()), dst))
PY

python3 "$top/tools/render-performance.py" "$out/results.json" -o "$out/performance.md" &&
	echo "wrote $out/performance.md"
if [ -z "${AW_BENCH_QUICK:-}" ] && [ -z "${AW_BENCH_ONLY:-}" ] && [ "${AW_BENCH_PUBLISH:-1}" != 0 ] &&
	[ $failed -eq 0 ] && [ -s "$out/performance.md" ]; then
	cp "$out/performance.md" "$top/docs/performance.md" && echo "wrote docs/performance.md"
fi
exit $failed
