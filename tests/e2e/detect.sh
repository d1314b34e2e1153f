#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agentwatch detect end to end: file input, and the Kafka consumer group on a mock cluster.
#
#   file      a generated scenario with malformed lines: counted and skipped, findings are
#             OCSF 2004 lines, the planted campaigns are found; the recorded real trace in
#             tests/detect/ replays without a malformed line
#   kafka     6-partition events topic: one consumer, then three in one group, give the same
#             set of campaign findings as the file run; then two consumers where one is
#             killed (SIGKILL) mid-stream: after the rebalance the survivor loads the dead
#             one's checkpoints and no campaign finding is lost
# Needs no root; runs in about two minutes. Every process it starts is stopped on exit.
set -uo pipefail
. "$(dirname "$0")/../lib/t.sh"

BUILD=${BUILD:-$T_ROOT/build}
AW=$BUILD/agentwatch
GEN=$BUILD/agentwatch-scenario-gen
MOCK=$BUILD/agentwatch-mock-kafka
work=${DETECT_E2E_DIR:-$(mktemp -d)}
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${DETECT_E2E_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

if [ ! -x "$AW" ] || [ ! -x "$GEN" ]; then
	t_skip detect "build/agentwatch or build/agentwatch-scenario-gen missing (run make)"
	t_done
	exit
fi

# A light scenario (~19 k events) that fits the mock broker's retention, with warm-ups shortened
# to match its 1.5 h.
SCEN=(--seed 7 --agents 24 --hours 1.5 --attacks 1 --think 10)
SETS=(--set kind_warmup_ms=900000 --set campaign_warmup_ms=900000)

campaigns() { # findings file -> sorted campaign features, one a line
	# (a consumer killed mid-write leaves a partial last line: skipped)
	python3 -c '
import json, sys
s = set()
for l in open(sys.argv[1]):
    try:
        f = json.loads(l)
    except ValueError:
        continue
    if f["unmapped"]["detector"] == "campaign":
        s.add(f["unmapped"]["feature"]["value"])
print("\n".join(sorted(s)))' "$1"
}

# ---- file input ------------------------------------------------------------------------------
"$GEN" "${SCEN[@]}" --noise --labels "$work/labels" >"$work/events.jsonl" 2>/dev/null
"$AW" detect --input "$work/events.jsonl" "${SETS[@]}" --stats >"$work/file.jsonl" 2>"$work/file.err"
t_eq detect/file-exit 0 $?
stats=$(grep detect_stats "$work/file.err")
t_check detect/file-counts-malformed python3 -c '
import json, sys
s = json.loads(sys.argv[1])
assert s["malformed"] > 0 and s["unknown_class"] > 0 and s["missing_field"] > 0, s
assert s["events"] > 15000, s' "$stats"
t_check detect/file-findings-are-2004 python3 -c '
import json, sys
n = 0
for l in open(sys.argv[1]):
    f = json.loads(l); n += 1
    assert f["class_uid"] == 2004 and f["type_uid"] == 200401 and f["finding_info"]["uid"], f
    assert f["unmapped"]["ai_agents"] and f["message"], f
assert n > 0' "$work/file.jsonl"
campaigns "$work/file.jsonl" >"$work/file.campaigns"
t_check detect/file-finds-planted-campaigns python3 -c '
import json, sys
want = [json.loads(l)["feature"] for l in open(sys.argv[1]) if "campaign" in l]
got = open(sys.argv[2]).read()
assert want and all(w in got for w in want), (want, got)' "$work/labels" "$work/file.campaigns"

for trace in "$T_ROOT"/tests/detect/*.jsonl; do
	[ -e "$trace" ] || continue
	s=$("$AW" detect --input "$trace" --stats 2>&1 >/dev/null | grep detect_stats)
	t_check "detect/replay-$(basename "$trace" .jsonl)" python3 -c '
import json, sys
s = json.loads(sys.argv[1])
assert s["malformed"] == 0 and s["missing_field"] == 0 and s["events"] > 0, s' "$s"
done

# ---- Kafka -----------------------------------------------------------------------------------
if [ ! -x "$MOCK" ]; then
	t_skip detect/kafka "build/agentwatch-mock-kafka missing"
	t_done
	exit
fi
topics=(--topic events:6 --topic events-kill:6 --topic findings:1)
for g in one three kill; do topics+=(--topic "feat-$g:6" --topic "state-$g:1"); done
"$MOCK" --brokers 1 "${topics[@]}" </dev/null >"$work/mock.out" 2>"$work/mock.err" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/mock.out" ] && break; sleep 0.1; done
B=$(head -n 1 "$work/mock.out")
if [ -z "$B" ]; then
	t_fail detect/kafka-mock "the mock cluster did not start: $(cat "$work/mock.err")"
	t_done
	exit
fi
"$GEN" "${SCEN[@]}" --brokers "$B" --topic events 2>/dev/null
t_eq detect/kafka-produce 0 $?

consumer() { # group out [extra...]: runs in the foreground; its pid goes to out.pid
	local g=$1 out=$2 p
	shift 2
	"$AW" detect --brokers "$B" --topic "${EVT:-events}" --group "$g" --features-topic "feat-$g" \
		--state-topic "state-$g" --checkpoint-ms 1000 --idle-exit-ms "${IDLE:-12000}" \
		-X session.timeout.ms=6000 -X heartbeat.interval.ms=500 "${SETS[@]}" "$@" \
		>"$out" 2>"$out.err" &
	p=$!
	echo "$p" >"$out.pid"
	wait "$p"
}

consumer one "$work/one.jsonl"
t_eq detect/kafka-one-exit 0 $?
campaigns "$work/one.jsonl" >"$work/one.campaigns"
t_check detect/kafka-one-same-as-file diff "$work/file.campaigns" "$work/one.campaigns"

# (a longer idle exit: each join makes the mock wait session.timeout.ms before assigning)
for i in 1 2 3; do
	IDLE=20000 consumer three "$work/three.$i.jsonl" &
	pids+=($!)
done
wait "${pids[@]:1}"
cat "$work"/three.?.jsonl >"$work/three.jsonl"
campaigns "$work/three.jsonl" >"$work/three.campaigns"
t_check detect/kafka-three-same-as-one diff "$work/one.campaigns" "$work/three.campaigns"
t_check detect/kafka-three-shared-work bash -c '
n=0; for f in "$@"; do grep -q "assigned" "$f.err" && n=$((n + 1)); done; [ $n -ge 2 ]' _ \
	"$work"/three.?.jsonl

# Killed mid-stream: the same stream on a fresh topic and group, produced slowly while two
# consumers run; one is killed with SIGKILL (no revoke, no final checkpoint) part way through.
# librdkafka 2.0.2's mock broker never expires a dead member's session, so the rebalance that a
# real broker starts after session.timeout.ms is started here by a replacement consumer joining
# (what a restarted pod does); the dead member's partitions then move with their checkpoints.
"$GEN" "${SCEN[@]}" --brokers "$B" --topic events-kill --pace 2500 2>/dev/null &
gen=$!
IDLE=25000 EVT=events-kill consumer kill "$work/kill.a.jsonl" &
IDLE=25000 EVT=events-kill consumer kill "$work/kill.b.jsonl" &
survivor=$!
# Kill the victim once both members have their partitions and it has processed some events.
for _ in $(seq 150); do
	grep -q assigned "$work/kill.a.jsonl.err" 2>/dev/null &&
		grep -q assigned "$work/kill.b.jsonl.err" 2>/dev/null && break
	sleep 0.2
done
sleep 3 # a few checkpoints, and events processed after the last one
kill -KILL "$(cat "$work/kill.a.jsonl.pid")"
IDLE=25000 EVT=events-kill consumer kill "$work/kill.c.jsonl" &
replacement=$!
wait "$gen"
wait "$survivor"
t_eq detect/kafka-kill-survivor-exit 0 $?
wait "$replacement"
cat "$work"/kill.?.jsonl >"$work/kill.jsonl"
campaigns "$work/kill.jsonl" >"$work/kill.campaigns"
t_check detect/kafka-kill-loses-no-finding diff "$work/one.campaigns" "$work/kill.campaigns"
# Each of the victim's partitions went to another member with the victim's checkpoint.
t_check detect/kafka-kill-rebalanced-from-checkpoints bash -c '
parts=$(sed -n "s/.*assigned \([^ ]*\) from .*/\1/p" "$1")
[ -n "$parts" ] || exit 1
for p in $parts; do
	grep -qF "assigned $p from its checkpoint" "$2" "$3" || { echo "$p"; exit 1; }
done' _ "$work/kill.a.jsonl.err" "$work/kill.b.jsonl.err" "$work/kill.c.jsonl.err"
t_done
