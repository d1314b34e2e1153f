#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Syscall observation: off unless asked for (no sys_enter program at all), per-agent counts, and
# one Kernel Activity event per call of a listed syscall.
. "$(dirname "$0")/../lib/t.sh"

work=$(mktemp -d /tmp/aw-sys.XXXXXX)
trap 'rm -rf "$work"' EXIT
sys_enter_progs() { bpftool prog show 2>/dev/null | grep -c 'name tp_sys_enter '; }

"$AGENTWATCH" exec --events /dev/null -- sh -c "sleep 1; bpftool prog show | grep -c 'name tp_sys_enter ' > $work/off" || true
t_eq syscalls-off-no-sys-enter 0 "$(cat "$work/off" 2>/dev/null || echo missing)"
"$AGENTWATCH" exec --syscalls --events /dev/null -- sh -c "bpftool prog show | grep -c 'name tp_sys_enter ' > $work/on" || true
t_eq syscalls-on-sys-enter-attached 1 "$(cat "$work/on" 2>/dev/null || echo missing)"

"$AGENTWATCH" exec --summary --syscall-events getppid --events "$work/ev.jsonl" -- \
	python3 -c 'import os; [os.getppid() for _ in range(20000)]; print(os.getpid())' >"$work/pid" 2>"$work/summary"
t_eq syscalls-agent-ran 0 $?
t_check syscalls-events-per-call python3 - "$work/ev.jsonl" "$work/pid" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
pid = int(open(sys.argv[2]).read())
k = [e for e in evs if e["class_uid"] == 1003 and e["actor"]["process"]["pid"] == pid]
assert len(k) >= 20000, len(k)
for e in k:
    assert e["kernel"]["system_call"] == "getppid" and e["unmapped"]["syscall"]["nr"] == 110, e["kernel"]
other = {e["kernel"]["system_call"] for e in evs if e["class_uid"] == 1003}
assert other == {"getppid"}, other  # only the listed syscall becomes events
PY
count=$(sed -n 's/.* getppid=\([0-9]*\).*/\1/p' "$work/summary")
if [ "${count:-0}" -ge 20000 ]; then t_pass syscalls-counted; else t_fail syscalls-counted "summary: $(cat "$work/summary")"; fi
"$AGENTWATCH" exec --syscall-events nosuchcall -- true 2>"$work/err"
t_eq syscalls-unknown-name-usage-error 64 $?
t_check syscalls-unknown-name-message grep -q "column 1: unknown syscall 'nosuchcall'" "$work/err"
t_done
