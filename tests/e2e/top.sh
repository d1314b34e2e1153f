#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agentwatch top on the host kernel.
#   - The full-screen view driven in tmux against a fixture instance (agentwatch-bench-top
#     fixture: pinned maps with the real layout, real cgroups, OCSF lines on an event socket):
#     rows, denials, long names, sort, filter, drill-in panes, pause, help, 80x24, resizes, and
#     the terminal given back after q, Ctrl-C and a crash.
#   - Standalone `agentwatch exec` agents: `top --once --json` reports exactly the N opens and
#     M connects a workload made (its start-up measured by a zero-work run of the same program)
#     and the D connects a policy refused; the view shows live agents, their rates, denials and,
#     when exec serves its event socket, egress and the denials' rule.
# Every wait is bounded; tmux sessions and agents are cleaned up on any exit.
. "$(dirname "$0")/../lib/t.sh"

FIXTURE=${FIXTURE:-$T_ROOT/build/agentwatch-bench-top}
work=$(mktemp -d /tmp/aw-top.XXXXXX)
sock_dir=$work/run
pin_root=/sys/fs/bpf/aw-top-test-$$
tmx=(tmux -L "aw-top-$$" -f /dev/null)
pids=()

cleanup() {
	"${tmx[@]}" kill-server 2>/dev/null
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	t_skip top "needs root (BPF maps, bpffs, cgroups)"
	exit 0
fi
if ! command -v tmux >/dev/null 2>&1; then
	t_skip top "tmux is not installed (tools/install-deps.sh test installs it)"
	exit 0
fi

# --- helpers --------------------------------------------------------------------------------

# wait_until TENTHS COMMAND...: run COMMAND every 0.1 s until it succeeds, at most TENTHS times.
wait_until() {
	local n=$1
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

screen() { "${tmx[@]}" capture-pane -p -t top; }
keys() { "${tmx[@]}" send-keys -t top "$@"; }
on_screen() { screen | grep -qE -- "$1"; }
# wait_screen REGEX [TENTHS]
wait_screen() { wait_until "${2:-50}" on_screen "$1"; }
# A cell of the agent list: cell AGENT TITLE (TITLE as in the column header).
cell() {
	screen | awk -v name="$1" -v col="$2" '
		$1 == "NAME" { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
		c && $1 == name { print $c; exit }'
}
# The last column, ENFORCE, of an agent's row.
enforce_of() { screen | awk -v name="$1" '$1 == name { print $NF; exit }'; }
# The first agent row of the list (line 4 of the screen).
first_row() { screen | sed -n 4p | awk '{print $1}'; }
row_count() { screen | sed -n '4,$p' | grep -cE '^(fx-|top-|worker)' || true; }
gt0() { awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'; }

# Start a shell in tmux (so that what top leaves behind can be looked at), then run CMD in it.
start_top() { # COLS ROWS CMD...
	local cols=$1 rows=$2
	shift 2
	"${tmx[@]}" kill-session -t top 2>/dev/null
	"${tmx[@]}" new-session -d -s top -x "$cols" -y "$rows" \
		"env PS1='prompt\$ ' TERM=xterm-256color bash --norc --noprofile"
	wait_screen 'prompt\$' 50
	keys "echo before-top; $*" Enter
}
# The terminal is back: a prompt after "before-top", and a cooked tty (icanon, echo).
terminal_restored() {
	keys "clear; stty -a | tr ' ' '\\n' | grep -xE -- '-?(icanon|echo)' | tr '\\n' ' '; echo ':'stty-ok" Enter
	wait_screen ':stty-ok$' 30 && screen | grep -q '^icanon echo :stty-ok'
}

top_fx=("$AGENTWATCH" top --pin-root "$pin_root" --socket "$sock_dir/agentwatch.sock")

# --- the fixture: 5 agents, one denied, one with a long name ----------------------------------

if [ ! -x "$FIXTURE" ]; then
	t_fail top-fixture "no $FIXTURE (run make)"
	exit 1
fi
"$FIXTURE" fixture --pin-root "$pin_root" --socket-dir "$sock_dir" --agents 5 --event-rate 30 \
	>"$work/fixture.out" 2>&1 &
pids+=($!)
if ! wait_until 50 grep -q '^ready' "$work/fixture.out"; then
	t_fail top-fixture "not ready: $(cat "$work/fixture.out")"
	exit 1
fi

start_top 80 24 "${top_fx[@]}"
if wait_screen '^fx-denied' 50 && wait_screen 'DENY/s' 10; then
	t_pass top-tui-starts
else
	t_fail top-tui-starts "$(screen | head -n 6)"
fi

# 80x24: the mandatory columns fit, nothing wraps, the long name is cut with '~'.
sleep 1.2 # a second snapshot, for rates
s80=$(screen)
hdr=$(printf '%s\n' "$s80" | sed -n 3p)
case $hdr in
NAME*PROCS*EXEC/s*OPEN/s*CONN/s*DENY*DENY/s*DROP*ENFORCE*) t_pass top-80x24-columns ;;
*) t_fail top-80x24-columns "header '$hdr'" ;;
esac
t_eq top-80x24-24-lines 24 "$(printf '%s\n' "$s80" | wc -l)"
long=$(printf '%s\n' "$s80" | grep -o '^fx-long[^ ]*')
case $long in
fx-long-*'~') t_pass top-long-name-truncated ;;
*) t_fail top-long-name-truncated "got '$long'" ;;
esac
if printf '%s\n' "$s80" | grep -q 'fx-long-agent-name-that-no-column-is-wide-enough'; then
	t_fail top-long-name-not-spilled "the full name reached the screen"
else
	t_pass top-long-name-not-spilled
fi

# Denials: counted by the kernel maps, with their rate, under the agent's policy.
deny=$(cell fx-denied DENY)
rate=$(cell fx-denied DENY/s)
if gt0 "$deny" && gt0 "$rate"; then t_pass top-denials-shown; else
	t_fail top-denials-shown "DENY '$deny' DENY/s '$rate'"; fi
t_eq top-denials-none-elsewhere 0 "$(cell fx-002 DENY)"
t_eq top-enforcement-under-policy audit "$(enforce_of fx-denied)"
t_eq top-enforcement-no-policy none "$(enforce_of fx-003)"
t_eq top-procs-from-cgroup 1 "$(cell fx-003 PROCS)"
# fx-003 opens 4 files a tick, 40 a second.
r=$(cell fx-003 OPEN/s)
awk -v r="$r" 'BEGIN { exit !(r >= 35 && r <= 45) }' && t_pass top-opens-rate || t_fail top-opens-rate "OPEN/s '$r'"

# Sort: opens/s by default (fx-004 opens most); s three times is DENY; < and > step; r reverses.
t_eq top-sort-default fx-004 "$(first_row)"
keys s s s
if wait_screen 'sort DENY ' 30 && [ "$(first_row)" = fx-denied ]; then t_pass top-sort-denials; else
	t_fail top-sort-denials "first row $(first_row), footer $(screen | tail -n 1)"; fi
keys '<'
wait_screen 'sort SYSC/s' 30 && t_pass top-sort-previous || t_fail top-sort-previous "$(screen | tail -n 1)"
keys '>' r
if wait_screen 'sort DENY rev' 30 && [ "$(first_row)" != fx-denied ]; then t_pass top-sort-reverse; else
	t_fail top-sort-reverse "first row $(first_row)"; fi
keys r

# Filter: live as typed, Enter keeps it, Esc while editing goes back to the one before.
keys /
keys -l fx-00
keys Enter
if wait_screen "filter 'fx-00'" 30 && [ "$(row_count)" = 3 ]; then t_pass top-filter; else
	t_fail top-filter "$(row_count) rows"; fi
keys /
keys -l zzz
wait_screen 'no agent matches' 30 && t_pass top-filter-no-match || t_fail top-filter-no-match "$(screen | sed -n 4,5p)"
keys Escape
if wait_screen "filter 'fx-00'" 30 && [ "$(row_count)" = 3 ]; then t_pass top-filter-esc-restores; else
	t_fail top-filter-esc-restores "$(row_count) rows"; fi
keys / Enter
five_rows() { [ "$(row_count)" = 5 ]; }
wait_until 30 five_rows && t_pass top-filter-cleared || t_fail top-filter-cleared "$(row_count) rows"

# Drill into fx-denied: identity, enforcement, and each pane.
keys /
keys -l fx-denied
keys Enter Enter
if wait_screen '^fx-denied +instance exec-' 30 && on_screen 'enforcement audit'; then
	t_pass top-drill-in
else
	t_fail top-drill-in "$(screen | sed -n 3,5p)"
fi
keys 3
if wait_screen 'ssh-keys .*blocked.*/root/\.ssh/id_rsa' 40; then t_pass top-drill-denials-with-rule; else
	t_fail top-drill-denials-with-rule "$(screen | sed -n 6,9p)"; fi
keys 4
wait_screen '10\.1\.2\.3:443' 30 && t_pass top-drill-egress || t_fail top-drill-egress "$(screen | sed -n 6,9p)"
keys 5
wait_screen 'r +/root/\.ssh/id_rsa' 30 && t_pass top-drill-files || t_fail top-drill-files "$(screen | sed -n 6,9p)"
keys 2
wait_screen 'BLOCK +\[ssh-keys\] /root/\.ssh/id_rsa r \(EPERM\)' 30 && t_pass top-drill-events ||
	t_fail top-drill-events "$(screen | sed -n 6,9p)"
keys 1
wait_screen '^ +[0-9]+ +[0-9]+ .* agentwatch-bench-top fixture' 30 && t_pass top-drill-process-tree || t_fail top-drill-process-tree "$(screen | sed -n 6,9p)"
keys Escape
if wait_screen '^NAME +PROCS' 30 && wait_screen "filter 'fx-denied'" 10; then t_pass top-drill-back; else
	t_fail top-drill-back "$(screen | sed -n 3p)"; fi
keys / Enter

# Help, pause.
keys '?'
wait_screen 'agentwatch top: keys' 30 && t_pass top-help || t_fail top-help "no help"
keys x
keys p
if wait_screen PAUSED 30; then
	a=$(screen)
	sleep 1.5
	[ "$a" = "$(screen)" ] && t_pass top-pause-freezes || t_fail top-pause-freezes "the screen changed"
else
	t_fail top-pause-freezes "no PAUSED"
fi
keys p

# Resizes: 200 columns show every column; back to 80x24 cleanly.
"${tmx[@]}" resize-window -t top -x 200 -y 40
if wait_screen 'AUDIT +DROP +TOP EGRESS +ENFORCE' 30 && wait_screen '10\.1\.2\.3:443' 20; then
	t_pass top-resize-200-columns
else
	t_fail top-resize-200-columns "$(screen | sed -n 3p)"
fi
"${tmx[@]}" resize-window -t top -x 80 -y 24
fits_80() { screen | sed -n 3p | awk '{ exit !(length($0) <= 80 && /ENFORCE$/) }'; }
if wait_until 30 fits_80; then
	t_pass top-resize-back
else
	t_fail top-resize-back "$(screen | sed -n 3p)"
fi

# q gives the terminal back: the shell's screen and a cooked tty.
keys q
if wait_screen 'prompt\$ *$' 30 && on_screen before-top && terminal_restored; then
	t_pass top-quit-restores-terminal
else
	t_fail top-quit-restores-terminal "$(screen | tail -n 4)"
fi
# So do Ctrl-C and a crash.
keys "clear; ${top_fx[*]}" Enter
wait_screen '^fx-denied' 50
keys C-c
if wait_screen 'prompt\$ *$' 30 && terminal_restored; then t_pass top-sigint-restores-terminal; else
	t_fail top-sigint-restores-terminal "$(screen | tail -n 4)"; fi
keys "clear; ulimit -c 0; ${top_fx[*]}; echo crashed:\$?" Enter
wait_screen '^fx-denied' 50
shell=$("${tmx[@]}" display -p -t top '#{pane_pid}')
kill -SEGV "$(pgrep -P "$shell" -x agentwatch)" 2>/dev/null
if wait_screen 'crashed:139' 60 && terminal_restored; then t_pass top-crash-restores-terminal; else
	t_fail top-crash-restores-terminal "$(screen | tail -n 4)"; fi

# --once over the fixture: the same numbers as JSON.
"${top_fx[@]}" --once --json -d 0.5 >"$work/fx.json"
t_check top-once-json-fixture python3 - "$work/fx.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
a = {x["name"]: x for x in d["agents"]}
assert len(a) == 5, list(a)
den = a["fx-denied"]
assert den["denials"] > 0 and den["denials_per_s"] > 0, den
assert den["enforcement"] == "audit" and a["fx-002"]["enforcement"] == "none", den
assert den["top_egress"] == "10.1.2.3:443", den
assert a["fx-002"]["top_egress"] == "192.0.2.7:8443", a["fx-002"]
assert a["fx-003"]["procs"] == 1 and 35 <= a["fx-003"]["opens_per_s"] <= 45, a["fx-003"]
assert d["policy_generation"] == 1 and d["instances"] == 1, d
assert [x["name"] for x in d["agents"]][0] == "fx-004"  # sorted by opens/s
PY
"${tmx[@]}" kill-session -t top 2>/dev/null

# --- standalone agentwatch exec agents --------------------------------------------------------

# Does this exec pin its counters (exec-<pid>) and serve its events (exec-<pid>.sock)?
"$AGENTWATCH" exec --name top-pincheck --events /dev/null -- sleep 30 &
probe=$!
pids+=("$probe")
pinned=no
wait_until 50 test -e "/sys/fs/bpf/agentwatch/exec-$probe/agent_counters" && pinned=yes
streams=no
[ $pinned = yes ] && wait_until 20 test -S "/run/agentwatch/exec-$probe.sock" && streams=yes
kill "$probe" 2>/dev/null
wait "$probe" 2>/dev/null

if [ $pinned = no ]; then
	t_skip top-exec "agentwatch exec does not pin its counters yet (no /sys/fs/bpf/agentwatch/exec-<pid>)"
	t_done
	exit $?
fi

# A listener outside any agent, and a workload that makes exactly N opens and M connects.
python3 - "$work/port" <<'PY' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(128)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c, _ = s.accept()
    c.close()
PY
pids+=($!)
wait_until 50 test -s "$work/port"
port=$(cat "$work/port")
# N opens, M connects to the listener, D connects the policy below refuses.
cat >"$work/work.py" <<'PY'
import os, socket, sys, time
n, m, d, port = (int(a) for a in sys.argv[1:5])
ready = sys.argv[5]
for _ in range(n):
    os.close(os.open("/etc/hostname", os.O_RDONLY))
for i in range(m + d):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:  # numeric addresses: no resolver, no file opened
        s.connect(("127.0.0.1", port) if i < m else ("127.0.0.9", 9))
    except PermissionError:
        pass
    s.close()
os.close(os.open(ready, os.O_WRONLY | os.O_CREAT, 0o600))
time.sleep(120)
PY
cat >"$work/policy.yaml" <<'YAML'
apiVersion: agentwatch.dev/v1
kind: AgentPolicy
metadata:
  name: top-test
spec:
  network:
    - name: no-port-9
      cidrs: [127.0.0.9/32]
      action: deny
YAML

# run_counted NAME N M D [EXEC OPTIONS]: run the workload as an agent; print
# "opens connects denials" as `top --once --json` reports them.
run_counted() {
	local name=$1 n=$2 m=$3 d=$4 agent json
	shift 4
	rm -f "$work/ready.$name"
	"$AGENTWATCH" exec --name "$name" --events /dev/null "$@" -- \
		python3 "$work/work.py" "$n" "$m" "$d" "$port" "$work/ready.$name" \
		>/dev/null 2>>"$work/exec.err" &
	agent=$!
	pids+=("$agent")
	if wait_until 100 test -e "$work/ready.$name"; then
		json=$("$AGENTWATCH" top --once --json -d 0 --filter "$name")
		printf '%s' "$json" | python3 -c '
import json, sys
a = [x for x in json.load(sys.stdin)["agents"] if x["name"] == sys.argv[1]]
print(a[0]["opens"], a[0]["connects"], a[0]["denials"]) if len(a) == 1 else print("missing", len(a))
' "$name"
	else
		echo "not-ready"
	fi
	kill "$agent" 2>/dev/null
	wait "$agent" 2>/dev/null
}
N=37
M=11
D=5
read -r base_opens base_connects _ <<<"$(run_counted top-base 0 0 0)"
read -r opens connects denials <<<"$(run_counted top-work $N $M 0)"
if ! [[ $base_opens =~ ^[0-9]+$ && $opens =~ ^[0-9]+$ ]]; then
	t_fail top-once-json-counts "baseline '$base_opens $base_connects', work '$opens $connects'"
else
	t_eq top-once-json-opens $N "$((opens - base_opens))"
	t_eq top-once-json-connects $M "$((connects - base_connects))"
	t_eq top-once-json-baseline-connects 0 "$base_connects"
	t_eq top-once-json-no-denials 0 "$denials"
fi
# Denials the kernel counted: D connects refused by a network rule (cgroup hooks enforce it).
read -r opens connects denials <<<"$(run_counted top-refused 0 0 $D --policy "$work/policy.yaml")"
t_eq top-once-json-denials "$D" "$denials"
t_eq top-once-json-denied-connects "$D" "$connects"

# The view with live agents: rates, processes, denials and (with exec's event socket) egress
# and the rule of the denials.
"$AGENTWATCH" exec --name top-opener --events /dev/null -- \
	sh -c 'while :; do cat /etc/hostname >/dev/null; sleep 0.1; done' &
pids+=($!)
"$AGENTWATCH" exec --name top-connector --events /dev/null -- python3 -c '
import socket, sys, time
while True:
    s = socket.socket(); s.connect(("127.0.0.1", int(sys.argv[1]))); s.close(); time.sleep(0.2)
' "$port" &
pids+=($!)
"$AGENTWATCH" exec --name top-denier --events /dev/null --policy "$work/policy.yaml" -- python3 -c '
import socket, time
while True:
    s = socket.socket()
    try:
        s.connect(("127.0.0.9", 9))
    except PermissionError:
        pass
    s.close(); time.sleep(0.2)
' 2>>"$work/exec.err" &
pids+=($!)
start_top 120 30 "$AGENTWATCH" top
if wait_screen '^top-opener' 50 && wait_screen '^top-connector' 50; then
	t_pass top-exec-rows
else
	t_fail top-exec-rows "$(screen | sed -n 3,8p)"
fi
opener_busy() { gt0 "$(cell top-opener OPEN/s)"; }
wait_until 40 opener_busy
gt0 "$(cell top-opener OPEN/s)" && t_pass top-exec-open-rate || t_fail top-exec-open-rate "OPEN/s '$(cell top-opener OPEN/s)'"
gt0 "$(cell top-opener PROCS)" && t_pass top-exec-procs || t_fail top-exec-procs "PROCS '$(cell top-opener PROCS)'"
connector_busy() { gt0 "$(cell top-connector CONN/s)"; }
wait_until 40 connector_busy
gt0 "$(cell top-connector CONN/s)" && t_pass top-exec-connect-rate || t_fail top-exec-connect-rate "CONN/s '$(cell top-connector CONN/s)'"
denier_denied() { gt0 "$(cell top-denier DENY)" && gt0 "$(cell top-denier DENY/s)"; }
wait_until 30 denier_denied && t_pass top-exec-denials || t_fail top-exec-denials "$(screen | grep top-denier)"
t_eq top-exec-no-denials-elsewhere 0 "$(cell top-connector DENY)"
if [ $streams = yes ]; then
	wait_screen "^top-connector .*127\\.0\\.0\\.1:$port" 50 && t_pass top-exec-egress ||
		t_fail top-exec-egress "$(screen | grep top-connector)"
	keys /
	keys -l top-conn
	keys Enter Enter 4
	wait_screen "127\\.0\\.0\\.1:$port" 30 && t_pass top-exec-drill-egress ||
		t_fail top-exec-drill-egress "$(screen | sed -n 6,9p)"
	# The denials pane of the refused agent: its rule, what was refused, how often.
	keys Escape /
	keys -l top-denier
	keys Enter Enter 3
	wait_screen '^ +[0-9]+ [0-9:]{8} no-port-9 +connect +blocked +127\.0\.0\.9:9' 40 &&
		t_pass top-exec-drill-denials || t_fail top-exec-drill-denials "$(screen | sed -n 6,9p)"
else
	for c in top-exec-egress top-exec-drill-egress top-exec-drill-denials; do
		t_skip $c "agentwatch exec serves no event socket (/run/agentwatch/exec-<pid>.sock)"
	done
fi
keys q
wait_screen 'prompt\$ *$' 30 && t_pass top-exec-quit || t_fail top-exec-quit "$(screen | tail -n 3)"

t_done
