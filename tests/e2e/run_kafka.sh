#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The daemon with --sink kafka into the mock broker: an agent's events reach Kafka with the
# agent uid as key and the OCSF headers (kcat as an independent consumer), and --metrics serves
# Prometheus text that promtool accepts.
. "$(dirname "$0")/../lib/t.sh"

for need in kcat python3 curl; do
	command -v "$need" >/dev/null || { t_skip run-kafka "$need is not installed"; t_done; exit; }
done
work=$(mktemp -d /tmp/aw-runkafka.XXXXXX)
mock= daemon=
cleanup() {
	[ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	[ -n "$mock" ] && kill "$mock" 2>/dev/null && wait "$mock" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/ctl"
"$T_ROOT/build/agentwatch-mock-kafka" --brokers 1 --topic agentwatch-events:3 --control "$work/ctl" >"$work/mock.out" 2>"$work/mock.err" &
mock=$!
for _ in $(seq 100); do [ -s "$work/mock.out" ] && break; sleep 0.1; done
boot=$(head -n 1 "$work/mock.out")
port=$((20000 + RANDOM % 20000))
cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
"$AGENTWATCH" run --socket "$work/aw.sock" --watch "$cg2/awtest-kafka-none/**" --sink kafka \
	--brokers "$boot" --spool-dir "$work/spool" --metrics "127.0.0.1:$port" 2>"$work/daemon.err" &
daemon=$!
for _ in $(seq 300); do [ -S "$work/aw.sock" ] && break; sleep 0.1; done
t_check run-kafka-daemon-up test -S "$work/aw.sock"

out=$("$AGENTWATCH" exec --socket "$work/aw.sock" --name kafka-agent -- sh -c 'cat /etc/hostname >/dev/null; echo $AGENTWATCH_AGENT')
t_eq run-kafka-exec-through-daemon 36 "${#out}"
sleep 2
kcat -b "$boot" -C -t agentwatch-events -o beginning -e -q -J -X log_level=3 >"$work/records.json" 2>/dev/null
t_check run-kafka-records python3 - "$work/records.json" "$out" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
uid = sys.argv[2]
mine = [r for r in recs if r.get("key") == uid]
assert mine, "no record keyed by the agent uid %s among %d" % (uid, len(recs))
for r in mine:
    h = dict(zip(r["headers"][0::2], r["headers"][1::2]))
    v = json.loads(r["payload"])
    assert h["schema"] == "ocsf/1.8.0" and h["event_id"] == v["metadata"]["uid"], h
    assert int(h["ocsf_class"]) == v["class_uid"], h
    assert v["unmapped"]["ai_agent"]["uid"] == uid
assert any(json.loads(r["payload"])["class_uid"] == 1001 and
           json.loads(r["payload"])["file"]["path"] == "/etc/hostname" for r in mine)
PY
curl -sf "http://127.0.0.1:$port/metrics" >"$work/metrics.txt"
t_check run-kafka-metrics-served grep -q "^agentwatch_" "$work/metrics.txt"
if command -v promtool >/dev/null; then
	t_check run-kafka-metrics-promtool sh -c "promtool check metrics < '$work/metrics.txt'"
else
	t_skip run-kafka-metrics-promtool "promtool is not installed (apt: prometheus)"
fi
kill -TERM "$daemon"
wait "$daemon"
t_eq run-kafka-daemon-sigterm 0 $?
daemon=
t_done
