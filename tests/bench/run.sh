#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make bench: run every benchmark and collect one results file.
#
# Each benchmark is a build/agentwatch-bench-* binary or a tests/bench/*.bench.sh script. It
# measures its own baseline in the same run and prints lines of the form
#   RESULT <name> <value> <unit> [ratio=<x>] [baseline=<value>]
# which this script gathers into build/bench/results.json and prints as a table.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/bench
mkdir -p "$out"
raw=$out/results.txt
: >"$raw"

machine="$(uname -r), $(nproc) CPUs, $(awk '/model name/{$1=$2=$3="";print;exit}' /proc/cpuinfo | sed 's/^ *//')"
echo "agentwatch bench on: $machine"

for b in "$top"/build/agentwatch-bench-* "$top"/tests/bench/*.bench.sh; do
	[ -e "$b" ] || continue
	echo "== $(basename "$b")"
	if [[ $b == *.sh ]]; then bash "$b"; else "$b"; fi | tee -a "$raw"
done

python3 - "$raw" "$out/results.json" "$machine" <<'PY'
import json, sys
raw, dst, machine = sys.argv[1:4]
results = []
for line in open(raw):
    f = line.split()
    if len(f) < 4 or f[0] != "RESULT":
        continue
    r = {"name": f[1], "value": float(f[2]), "unit": f[3]}
    for kv in f[4:]:
        if "=" in kv:
            k, v = kv.split("=", 1)
            try:
                r[k] = float(v)
            except ValueError:
                r[k] = v
    results.append(r)
json.dump({"machine": machine, "results": results}, open(dst, "w"), indent=1)
print("\n%-40s %14s %-10s %8s" % ("benchmark", "value", "unit", "ratio"))
for r in results:
    ratio = "%.2fx" % r["ratio"] if "ratio" in r else ""
    print("%-40s %14.1f %-10s %8s" % (r["name"], r["value"], r["unit"], ratio))
print("\nwrote " + dst)
PY
