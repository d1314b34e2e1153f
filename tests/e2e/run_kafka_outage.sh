#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The daemon's Kafka outages, end to end: `agentwatch run --sink kafka --spool-dir` watching a
# test cgroup where a workload creates numbered files (WDIR/00000001, ...), each creation one
# File System Activity event; kcat consumes the stream from the mock cluster (3 brokers) and
# the numbers in file.path prove what arrived (the mock does not enforce idempotence, so its
# word is not taken). A number that arrives twice must carry the same event_id both times: a
# redelivery, which the at-least-once contract allows, never an event emitted twice.
#   b  all brokers down for 30 s while the workload runs: every event arrives afterwards
#   c  SIGTERM mid-stream with the brokers down, and with records in flight to slow brokers;
#      restart: the spool is replayed, nothing the first daemon saw is lost
#   d  SIGKILL with the brokers up, and 3 s into an outage: the loss (the in-memory window of
#      docs/kafka.md) is measured, printed and bounded; it is the newest events (and, in an
#      outage, those librdkafka held when it began), never a scattering
#   e  the spool truncated mid-record (and one record corrupted): both skipped, the rest
#      replayed
# tests/e2e/kafka.sh runs the same outages at higher rates with the load generator.
. "$(dirname "$0")/../lib/t.sh"
. "$(dirname "$0")/../lib/mock_kafka.sh"

MOCK=$T_ROOT/build/agentwatch-mock-kafka
for need in kcat python3 curl; do
	command -v "$need" >/dev/null || {
		t_skip run-kafka-outage "$need is not installed (tools/install-deps.sh test)"
		exit 0
	}
done
[ -x "$MOCK" ] || {
	t_skip run-kafka-outage "$MOCK not built (run make)"
	exit 0
}
cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$cg2" ] || {
	t_skip run-kafka-outage "no cgroup v2 mount"
	exit 0
}

work=$(mktemp -d /tmp/aw-kout.XXXXXX)
CG=$cg2/awtest-kout-$$
daemon= wl=
cleanup() {
	[ -n "$wl" ] && kill -KILL "$wl" 2>/dev/null && wait "$wl" 2>/dev/null
	[ -n "$daemon" ] && kill -KILL "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	mock_kafka_stop
	rmdir "$CG" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
mkdir "$CG"

mock_kafka_start run-kafka-outage-mock --brokers 3
NODE=$(cat /etc/machine-id 2>/dev/null || hostname)
SCHEMA=$T_ROOT/tests/ocsf/schema-1.8.0
[ -d "$SCHEMA" ] || SCHEMA=$T_ROOT/../shared/ocsf/schema-1.8.0

check() { python3 "$T_ROOT/tests/e2e/kafka_check.py" "$@"; }
stage() { echo "[${SECONDS}s] $*"; }


free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_daemon NAME TOPIC: the daemon watching $CG, spooling to $work/spool-TOPIC, metrics on
# $port; returns once its control socket answers (the cgroup is then registered).
start_daemon() {
	local name=$1 topic=$2
	port=$(free_port)
	rm -f "$work/aw.sock"
	"$AGENTWATCH" run --socket "$work/aw.sock" --watch "$CG" --sink kafka --brokers "$BOOT" \
		--topic "$topic" --spool-dir "$work/spool-$topic" --metrics "127.0.0.1:$port" \
		2>"$work/$name.err" &
	daemon=$!
	for _ in $(seq 600); do
		[ -S "$work/aw.sock" ] && return 0
		kill -0 "$daemon" 2>/dev/null || break
		sleep 0.1
	done
	t_fail "run-kafka-outage-$name-start" "the daemon did not start: $(tail -n 3 "$work/$name.err")"
	exit 1
}

# stop_daemon SIGNAL: signal the daemon and wait for it; its exit status.
stop_daemon() {
	local rc
	kill "-$1" "$daemon"
	wait "$daemon"
	rc=$?
	daemon=
	return $rc
}

# metric NAME: its value in a scrape of the running daemon (empty if absent).
metric() {
	curl -sf "http://127.0.0.1:$port/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

# wait_idle: until the running daemon has nothing in flight and nothing spooled (or 120 s).
wait_idle() {
	local i
	for i in $(seq 240); do
		[ "$(metric agentwatch_kafka_in_flight_messages)" = 0 ] &&
			[ "$(metric agentwatch_spool_records)" = 0 ] &&
			[ "$(metric agentwatch_kafka_up)" = 1 ] && return 0
		sleep 0.5
	done
	return 1
}

# start_workload DIR RATE: create DIR/00000001, ... at RATE a second, in $CG, until stopped.
start_workload() {
	mkdir -p "$1"
	(
		echo "$BASHPID" >"$CG/cgroup.procs"
		exec python3 -c '
import os, signal, sys, time
d, rate = sys.argv[1], float(sys.argv[2])
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
t0, i = time.monotonic(), 0
while True:
    i += 1
    open(f"{d}/{i:08d}", "w").close()
    delay = t0 + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
' "$1" "$2"
	) &
	wl=$!
}

# stop_workload [SIGNAL]: stop it and wait.
stop_workload() {
	kill "-${1:-TERM}" "$wl"
	wait "$wl" 2>/dev/null
	wl=
}

# created DIR: how many files the workload created (they are numbered 1..N).
created() { find "$1" -maxdepth 1 -type f | wc -l; }

consume() {
	kcat -b "$BOOT" -C -t "$1" -o beginning -e -q -J -X log_level=3 >"$work/$1.json" 2>"$work/kcat.err"
}

# not_pruned TOPIC PARTITIONS: the mock keeps 5 MiB per partition and drops the oldest beyond
# that, which would look like loss; make sure it did not.
not_pruned() {
	local p low
	for p in $(seq 0 $(($2 - 1))); do
		low=$(kcat -b "$BOOT" -Q -t "$1:$p:-2" -X log_level=3 2>/dev/null | awk '{print $NF}')
		if [ "${low:-0}" != 0 ]; then
			t_fail "run-kafka-outage-retention-$1" "the mock pruned partition $p below offset $low"
			return 1
		fi
	done
}

stage b
# --- b: all brokers down for 30 s while the workload runs ----------------------------------
ctl topic kout.b:4
start_daemon b kout.b
start_workload "$work/b" 200
sleep 5
ctl down all
sleep 15
curl -sf "http://127.0.0.1:$port/metrics" >"$work/b-metrics.txt"
if command -v promtool >/dev/null; then
	t_check run-kafka-outage-b-metrics-promtool sh -c "promtool check metrics <'$work/b-metrics.txt'"
else
	t_skip run-kafka-outage-b-metrics-promtool "promtool is not installed (apt: prometheus)"
fi
t_check run-kafka-outage-b-metrics-show-outage python3 - "$work/b-metrics.txt" <<'PY'
import sys
m = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[1]) if l[0] != "#"}
assert m["agentwatch_kafka_up"] == 0, m["agentwatch_kafka_up"]
assert m["agentwatch_kafka_brokers_up"] == 0, m["agentwatch_kafka_brokers_up"]
assert m["agentwatch_spool_records"] > 500, m["agentwatch_spool_records"]
assert m["agentwatch_spool_bytes"] > 0
PY
sleep 15
ctl up all
sleep 5
stop_workload
n=$(created "$work/b")
t_check run-kafka-outage-b-drained wait_idle
spooled=$(metric agentwatch_kafka_spooled_total)
stop_daemon TERM
t_eq run-kafka-outage-b-daemon-exit 0 $?
consume kout.b
not_pruned kout.b 4
echo "outage 30 s: $n events created, ${spooled:-?} spooled; $(check seq "$work/b" "1-$n" 1 "$work/kout.b.json")"
t_check run-kafka-outage-b-30s-no-loss check seq "$work/b" "1-$n" 1 "$work/kout.b.json"
[ "${spooled:-0}" -gt 3000 ] && t_pass run-kafka-outage-b-went-to-spool ||
	t_fail run-kafka-outage-b-went-to-spool "only ${spooled:-0} of $n spooled during 30 s down"
t_check run-kafka-outage-b-records-ocsf check validate "$SCHEMA" "$work/kout.b.json" "$NODE"

stage c
# --- c: SIGTERM mid-stream, restart --------------------------------------------------------
# c1: brokers down, so everything the daemon holds at SIGTERM is purged into the spool.
# c2: brokers answering after 7 s, so records are in flight at SIGTERM (the flush waits 5 s).
for c in c1 c2; do
	ctl topic "kout.$c:4"
	if [ $c = c1 ]; then ctl down all; else ctl rtt all 7000; fi
	start_daemon "$c" "kout.$c"
	start_workload "$work/$c" 300
	sleep 4
	s1=$(created "$work/$c") # created while the daemon watched: must all arrive
	stop_daemon TERM
	t_eq "run-kafka-outage-$c-sigterm-exit" 0 $?
	in_spool=$(check spool-count "$work/spool-kout.$c")
	if [ $c = c1 ]; then ctl up all; else ctl rtt all 0; fi
	start_daemon "$c-restart" "kout.$c"
	s2=$(created "$work/$c") # from here on the restarted daemon watches
	sleep 3
	stop_workload
	n=$(created "$work/$c")
	t_check "run-kafka-outage-$c-replayed" wait_idle
	stop_daemon TERM
	consume "kout.$c"
	echo "$c: $s1 created before SIGTERM, $in_spool records in the spool after it, $s2 before" \
		"the restart, $n in all; $(check seq "$work/$c" "1-$s1,$((s2 + 1))-$n" 2 "$work/kout.$c.json")"
	[ "$in_spool" -gt 0 ] && t_pass "run-kafka-outage-$c-sigterm-spooled" ||
		t_fail "run-kafka-outage-$c-sigterm-spooled" "nothing in the spool after SIGTERM"
	t_check "run-kafka-outage-$c-sigterm-restart-no-loss" \
		check seq "$work/$c" "1-$s1,$((s2 + 1))-$n" 2 "$work/kout.$c.json"
done

stage d
# --- d: SIGKILL: the in-memory window, measured --------------------------------------------
# The workload is killed first, then the daemon: every file that exists was seen by the
# daemon, and what of it never arrives is what the daemon held in memory (ring buffer not yet
# drained, librdkafka's queue) at the kill. The restart replays what was spooled.
rate=1000
# Bound (docs/kafka.md): librdkafka's queue (100 000 records) plus the 8 MiB ring buffer,
# whose records are at least 64 bytes.
bound=$((100000 + 8 * 1024 * 1024 / 64))
for d in d1 d2; do
	ctl topic "kout.$d:4"
	start_daemon "$d" "kout.$d"
	start_workload "$work/$d" $rate
	if [ $d = d1 ]; then
		sleep 5
	else
		sleep 2
		ctl down all
		sleep 3
	fi
	kill -KILL "$wl" "$daemon"
	wait "$wl" "$daemon" 2>/dev/null
	wl= daemon=
	n=$(created "$work/$d")
	ctl up all
	start_daemon "$d-restart" "kout.$d"
	t_check "run-kafka-outage-$d-replayed" wait_idle
	stop_daemon TERM
	consume "kout.$d"
	read -r lost lo hi tail < <(check seq-lost "$work/$d" "$n" "$work/kout.$d.json")
	what="brokers up"
	[ $d = d2 ] && what="3 s into an outage"
	echo "SIGKILL at $rate events/s, $what: $lost of $n events lost (numbers $lo..$hi," \
		"~$((lost * 1000 / rate)) ms of events; bound $bound)"
	[ "$lost" -le "$bound" ] && [ "$lost" -lt "$n" ] && t_pass "run-kafka-outage-$d-sigkill-loss-bounded" ||
		t_fail "run-kafka-outage-$d-sigkill-loss-bounded" "$lost of $n lost, bound $bound"
	if [ $d = d1 ]; then
		# Brokers up: what is lost is the newest events, those still in memory.
		t_eq "run-kafka-outage-$d-sigkill-loses-newest-only" 1 "$tail"
		runs=1
	else
		# In an outage, also what librdkafka held when the outage began (later events went
		# to the spool directly): at most one stretch besides the newest.
		runs=2
	fi
	t_check "run-kafka-outage-$d-loss-in-at-most-$runs-stretches" \
		check seq "$work/$d" "" $runs "$work/kout.$d.json"
done

stage e
# --- e: the spool truncated mid-record, and a record corrupted -----------------------------
ctl topic kout.e:4
ctl down all
start_daemon e kout.e
start_workload "$work/e" 300
sleep 3
stop_workload
n=$(created "$work/e")
sleep 1
stop_daemon TERM
read -r total torn corrupt < <(check damage-seq "$work/spool-kout.e" "$work/e")
ctl up all
start_daemon e-restart kout.e
t_check run-kafka-outage-e-replayed wait_idle
t_eq run-kafka-outage-e-torn-counted 1 "$(metric 'agentwatch_spool_skipped_total{reason="torn"}')"
t_eq run-kafka-outage-e-corrupt-counted 1 "$(metric 'agentwatch_spool_skipped_total{reason="corrupt"}')"
stop_daemon TERM
consume kout.e
echo "damaged spool: $total records, torn: number $torn, corrupt: number $corrupt (0: not a workload record)"
t_check run-kafka-outage-e-rest-replayed \
	check seq-except "$work/e" "$n" "$torn,$corrupt" "$work/kout.e.json"
t_done
