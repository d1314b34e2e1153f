#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Kafka sink end to end, against the mock cluster (build/agentwatch-mock-kafka, 3 brokers)
# with kcat as an independent consumer (no consumer group: every partition from the start):
#   a  records are valid OCSF 1.8.0, with the right key, timestamp and headers; topic per class;
#      failing produce requests are retried
#   b  all brokers down for 30 s under load: every event arrives afterwards (duplicates allowed)
#   c  SIGTERM mid-stream (brokers down; then slow brokers with records in flight), restart:
#      the spool is replayed, nothing lost
#   d  SIGKILL: the loss is what librdkafka held in memory, measured and printed
#   e  a spool segment truncated mid-record and one corrupted: both skipped, the rest replayed
#   f  spool full: gap events whose counts add up to exactly what is missing
#   metrics: promtool check on a scrape taken during the outage
#
# The producer is one variable, KAFKA_PRODUCER (default: the load generator). Anything that
# takes the load generator's options (-b -t -X --spool --spool-max -n -r --first-id --node
# --flush-timeout --drain-timeout --progress --metrics) and prints its summary line
# ("loadgen: written=.. last_id=.. spooled=.. spool_after_close=.. ...") on stderr can stand in.
# tests/e2e/run_kafka_outage.sh runs the outage, restart, SIGKILL and spool-damage cases with the
# daemon itself as producer (`agentwatch run --sink kafka` watching a workload's cgroup).
. "$(dirname "$0")/../lib/t.sh"
. "$(dirname "$0")/../lib/mock_kafka.sh"

BUILD=${BUILD:-$T_ROOT/build}
MOCK=$BUILD/agentwatch-mock-kafka
KAFKA_PRODUCER=${KAFKA_PRODUCER:-$BUILD/agentwatch-kafka-loadgen}
NODE=node-e2e-7f3a
SCHEMA=$T_ROOT/tests/ocsf/schema-1.8.0
[ -d "$SCHEMA" ] || SCHEMA=$T_ROOT/../shared/ocsf/schema-1.8.0

for need in kcat python3; do
	if ! command -v $need >/dev/null; then
		t_skip kafka "$need not installed (tools/install-deps.sh test)"
		exit 0
	fi
done
for bin in "$MOCK" "${KAFKA_PRODUCER%% *}"; do
	if [ ! -x "$bin" ]; then
		t_skip kafka "$bin not built (run make)"
		exit 0
	fi
done

work=$(mktemp -d /tmp/aw-kafka.XXXXXX)
producer_pid=
cleanup() {
	[ -n "$producer_pid" ] && kill -9 "$producer_pid" 2>/dev/null
	mock_kafka_stop
	rm -rf "$work"
}
trap cleanup EXIT

# --- helpers ------------------------------------------------------------------------------

mock_kafka_start kafka-mock --brokers 3


# producer NAME ARGS...: run the producer in the background; its stderr goes to $work/NAME.err.
producer() {
	local name=$1
	shift
	$KAFKA_PRODUCER -b "$BOOT" --node "$NODE" "$@" 2>"$work/$name.err" &
	producer_pid=$!
}

# wait_producer: wait for it; its exit status.
wait_producer() {
	local rc
	wait "$producer_pid"
	rc=$?
	producer_pid=
	return $rc
}

# summary NAME KEY: a value from the producer's summary line.
summary() {
	grep '^loadgen: ' "$work/$1.err" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# consume TOPIC: every record of TOPIC, one kcat JSON envelope per line, into $work/TOPIC.json.
consume() {
	kcat -b "$BOOT" -C -t "$1" -o beginning -e -q -J -X log_level=3 >"$work/$1.json" 2>"$work/kcat.err"
}

# Record, id and spool checks shared with run_kafka_outage.sh.
check() { python3 "$T_ROOT/tests/e2e/kafka_check.py" "$@"; }

now_ms() { date +%s%3N; }

# stage NAME: where the time goes.
stage() { echo "[${SECONDS}s] $*"; }

# not_pruned TOPIC PARTITIONS: the mock keeps 5 MiB (and 100000 batches) per partition and drops
# the oldest beyond that, which would look like loss; make sure it did not.
not_pruned() {
	local p low
	for p in $(seq 0 $(($2 - 1))); do
		low=$(kcat -b "$BOOT" -Q -t "$1:$p:-2" -X log_level=3 2>/dev/null | awk '{print $NF}')
		if [ "${low:-0}" != 0 ]; then
			t_fail "kafka-mock-retention-$1" "the mock pruned partition $p below offset $low:" \
				"lower the test's volume"
			return 1
		fi
	done
}

stage a
# --- a: valid OCSF, key, timestamp, headers; topic per class ------------------------------
ctl topic kafka.a:4
producer a -t kafka.a -n 2000 --spool "$work/spool-a"
wait_producer
consume kafka.a
t_check kafka-a-ocsf-key-headers check validate "$SCHEMA" "$work/kafka.a.json" "$NODE"
t_check kafka-a-all-delivered check ids 1 2000 "$work/kafka.a.json"

producer a2 -t 'kafka.a2.{class}' -n 800 --first-id 5001
wait_producer
for c in 1001 1003 1007 4001; do consume "kafka.a2.$c"; done
t_check kafka-a-topic-per-class python3 - "$work" <<'PY'
import json, sys
n = 0
for c in ("1001", "1003", "1007", "4001"):
    for line in open(f"{sys.argv[1]}/kafka.a2.{c}.json"):
        e = json.loads(line)
        assert json.loads(e["payload"])["class_uid"] == int(c), (c, e["payload"][:80])
        n += 1
assert n == 800, n
PY

# Produce requests failing (not leader, a disconnect) are retried by librdkafka: no loss.
ctl topic kafka.a3:4
ctl error Produce NOT_LEADER_FOR_PARTITION 5
ctl error Produce _TRANSPORT 2
producer a3 -t kafka.a3 -n 3000
wait_producer
consume kafka.a3
t_check kafka-a-request-errors-retried check ids 1 3000 "$work/kafka.a3.json"

stage b
# --- b: all brokers down for 30 s under load ----------------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ctl topic kafka.b:6
producer b -t kafka.b -n 40000 -r 1000 --spool "$work/spool-b" --drain-timeout 60000 \
	--metrics "127.0.0.1:$port"
sleep 5
ctl down all
sleep 15
if command -v curl >/dev/null && curl -sf "http://127.0.0.1:$port/metrics" >"$work/metrics.txt"; then
	if command -v promtool >/dev/null; then
		t_check kafka-metrics-promtool promtool check metrics <"$work/metrics.txt"
	else
		t_skip kafka-metrics-promtool "promtool not installed (tools/install-deps.sh test)"
	fi
	t_check kafka-metrics-outage-visible python3 - "$work/metrics.txt" <<'PY'
import sys
m = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[1]) if l[0] != "#"}
assert m["agentwatch_kafka_up"] == 0, m["agentwatch_kafka_up"]
assert m["agentwatch_spool_records"] > 1000, m["agentwatch_spool_records"]
assert m["agentwatch_spool_bytes"] > 0
assert m['agentwatch_events_total{class_uid="1001"}'] > 0
PY
else
	t_fail kafka-metrics-scrape "no answer on 127.0.0.1:$port/metrics"
fi
sleep 15
ctl up all
wait_producer
t_eq kafka-b-producer-exit 0 $?
consume kafka.b
not_pruned kafka.b 6
echo "outage: $(grep '^loadgen:' "$work/b.err")"
t_check kafka-b-outage-30s-no-loss check ids 1 40000 "$work/kafka.b.json"
spooled=$(summary b spooled)
[ "${spooled:-0}" -gt 20000 ] && t_pass kafka-b-outage-went-to-spool ||
	t_fail kafka-b-outage-went-to-spool "only ${spooled:-0} of 40000 spooled during 30 s down"

stage c
# --- c: SIGTERM mid-stream and restart ----------------------------------------------------
# c1: brokers down, so what librdkafka holds at SIGTERM is purged into the spool.
ctl topic kafka.c:4
ctl down all
producer c1 -t kafka.c -n 20000 -r 2000 --spool "$work/spool-c" --flush-timeout 1000
sleep 3
kill -TERM "$producer_pid"
wait_producer
last=$(summary c1 last_id)
after=$(summary c1 spool_after_close)
t_eq kafka-c-sigterm-everything-spooled "$last" "$after"
ctl up all
producer c1b -t kafka.c -n $((20000 - last)) --first-id $((last + 1)) --spool "$work/spool-c"
wait_producer
consume kafka.c
t_check kafka-c-sigterm-restart-no-loss check ids 1 20000 "$work/kafka.c.json"

# c2: slow brokers (3 s a response), so records are in flight at SIGTERM: purged, spooled.
ctl topic kafka.c2:4
ctl rtt all 3000
producer c2 -t kafka.c2 -n 20000 -r 2000 --spool "$work/spool-c2" --flush-timeout 500
sleep 3
kill -TERM "$producer_pid"
wait_producer
last=$(summary c2 last_id)
ctl rtt all 0
producer c2b -t kafka.c2 -n $((20000 - last)) --first-id $((last + 1)) --spool "$work/spool-c2"
wait_producer
consume kafka.c2
echo "in-flight purge: $(grep '^loadgen:' "$work/c2.err")"
t_check kafka-c-sigterm-in-flight-no-loss check ids 1 20000 "$work/kafka.c2.json"

stage d
# --- d: SIGKILL: the in-memory window, measured -------------------------------------------
ctl topic kafka.d:4
rate=10000
producer d -t kafka.d -n 2000000 -r $rate --spool "$work/spool-d" --progress "$work/d.progress"
sleep 3
kill -KILL "$producer_pid"
wait_producer
written=$(od -An -t u8 -N 8 "$work/d.progress" | tr -d ' ')
producer d2 -t kafka.d -n 0 --spool "$work/spool-d"
wait_producer
consume kafka.d
not_pruned kafka.d 4
read -r lost lo hi < <(check lost 1 "$written" "$work/kafka.d.json")
echo "SIGKILL at $((written / 3)) events/s, brokers up: $lost of $written written events lost" \
	"(ids $lo..$hi, ~$((lost * 3000 / written)) ms of events; bound: 100000 records)"
[ "$lost" -le 100000 ] && t_pass kafka-d-sigkill-loss-bounded ||
	t_fail kafka-d-sigkill-loss-bounded "$lost lost, above the 100000-record queue bound"

# During an outage: records go to the spool (page cache), so the window is the queue at the
# moment the outage was noticed.
ctl topic kafka.d2:4
producer d3 -t kafka.d2 -n 2000000 -r $rate --spool "$work/spool-d2" --progress "$work/d2.progress"
sleep 2
ctl down all
sleep 3
kill -KILL "$producer_pid"
wait_producer
written=$(od -An -t u8 -N 8 "$work/d2.progress" | tr -d ' ')
ctl up all
producer d4 -t kafka.d2 -n 0 --spool "$work/spool-d2"
wait_producer
consume kafka.d2
not_pruned kafka.d2 4
read -r lost lo hi < <(check lost 1 "$written" "$work/kafka.d2.json")
echo "SIGKILL at $((written / 5)) events/s, 3 s into an outage: $lost of $written lost" \
	"(ids $lo..$hi, ~$((lost * 5000 / written)) ms of events)"
[ "$lost" -le 100000 ] && t_pass kafka-d-sigkill-in-outage-loss-bounded ||
	t_fail kafka-d-sigkill-in-outage-loss-bounded "$lost lost"

stage e
# --- e: a torn and a corrupt spool record ---------------------------------------------------
ctl topic kafka.e:4
ctl down all
producer e -t kafka.e -n 1000 --spool "$work/spool-e" --spool-segment 65536 --flush-timeout 300 \
	--drain-timeout 0
wait_producer
read -r total torn_id corrupt_id < <(check damage "$work/spool-e")
ctl up all
producer e2 -t kafka.e -n 0 --spool "$work/spool-e"
wait_producer
consume kafka.e
echo "damaged spool: $total records, torn $torn_id, corrupt $corrupt_id; $(grep '^loadgen:' "$work/e2.err")"
t_eq kafka-e-torn-detected 1 "$(summary e2 spool_torn)"
t_eq kafka-e-corrupt-detected 1 "$(summary e2 spool_corrupt)"
t_check kafka-e-rest-replayed python3 - "$work/kafka.e.json" "$torn_id" "$corrupt_id" <<'PY'
import json, sys
ids = [int(dict(zip(*[iter(json.loads(l)["headers"])] * 2))["event_id"]) for l in open(sys.argv[1])]
gone = {int(sys.argv[2]), int(sys.argv[3])}
missing = set(range(1, 1001)) - set(ids)
assert missing == gone, (sorted(missing)[:10], gone)
PY

stage f
# --- f: spool full: gap events ------------------------------------------------------------
ctl topic kafka.f:4
ctl down all
t0=$(now_ms)
producer f -t kafka.f -n 3000 --spool "$work/spool-f" --spool-max 262144 --flush-timeout 300 \
	--drain-timeout 0
wait_producer
t1=$(now_ms)
ctl up all
producer f2 -t kafka.f -n 0 --spool "$work/spool-f"
wait_producer
consume kafka.f
t_check kafka-f-spool-full-gap-event check gaps "$SCHEMA" 1 3000 "$t0" "$t1" "$work/kafka.f.json"
echo "spool full: $(check gaps "$SCHEMA" 1 3000 "$t0" "$t1" "$work/kafka.f.json")"

stage done
t_done
