#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The daemon's Prometheus metrics against what really happened, and a real Prometheus server
# scraping them on loopback:
#   - a workload of known size in a watched cgroup: agentwatch_events_total by class equals what
#     an independent consumer (kcat) finds in Kafka, class by class; delivered equals consumed;
#     no drops of any reason, policy generation 0 without a policy, no denials;
#   - all brokers down: kafka_up and kafka_brokers_up fall to 0, the spool fills; brokers back:
#     every spooled record is replayed and counted;
#   - the daemon SIGSTOPped under a burst larger than the ring buffer: ring-buffer drops by
#     reason, equal to the daemon's status counters, account for every event not sent on;
#   - with a policy (when `agentwatch run` takes --rules): K refused connects are K denials of
#     the rule, and the policy generation is at least 1;
#   - `promtool check metrics` accepts the scrape;
#   - `prometheus` (Debian's package) with a generated config scrapes the daemon every second:
#     its target is healthy (/api/v1/targets) and /api/v1/query returns the workload's events.
. "$(dirname "$0")/../lib/t.sh"
. "$(dirname "$0")/../lib/mock_kafka.sh"

MOCK=$T_ROOT/build/agentwatch-mock-kafka
for need in kcat python3 curl; do
	command -v "$need" >/dev/null || {
		t_skip run-metrics "$need is not installed (tools/install-deps.sh test)"
		exit 0
	}
done
[ -x "$MOCK" ] || {
	t_skip run-metrics "$MOCK not built (run make)"
	exit 0
}
cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$cg2" ] || {
	t_skip run-metrics "no cgroup v2 mount"
	exit 0
}

work=$(mktemp -d /tmp/aw-metrics.XXXXXX)
CG=$cg2/awtest-metrics-$$
daemon= prom=
cleanup() {
	[ -n "$prom" ] && kill "$prom" 2>/dev/null && wait "$prom" 2>/dev/null
	[ -n "$daemon" ] && kill -KILL "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	mock_kafka_stop
	rmdir "$CG" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
mkdir "$CG"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

mock_kafka_start run-metrics-mock --brokers 2 --topic kmet:2

port=$(free_port)
"$AGENTWATCH" run --socket "$work/aw.sock" --watch "$CG" --sink kafka --brokers "$BOOT" \
	--topic kmet --spool-dir "$work/spool" --metrics "127.0.0.1:$port" 2>"$work/daemon.err" &
daemon=$!
for _ in $(seq 600); do
	[ -S "$work/aw.sock" ] && break
	kill -0 "$daemon" 2>/dev/null || break
	sleep 0.1
done
[ -S "$work/aw.sock" ] || {
	t_fail run-metrics-daemon-start "$(tail -n 3 "$work/daemon.err")"
	exit 1
}

scrape() { curl -sf "http://127.0.0.1:$port/metrics" >"$1"; }
metric() { curl -sf "http://127.0.0.1:$port/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }

# wait_for CASE SECONDS COMMAND...: poll COMMAND every 0.5 s; a FAIL line if it never succeeds.
wait_for() {
	local name=$1 tries=$(($2 * 2)) i
	shift 2
	for i in $(seq "$tries"); do
		"$@" && return 0
		sleep 0.5
	done
	t_fail "$name" "'$*' still false after $((tries / 2)) s"
	return 1
}
idle() {
	[ "$(metric agentwatch_kafka_in_flight_messages)" = 0 ] &&
		[ "$(metric agentwatch_spool_records)" = 0 ] &&
		[ "$(metric agentwatch_kafka_up)" = 1 ]
}

# workload DIR N: create DIR/1 .. DIR/N in the watched cgroup, then exit.
workload() {
	mkdir -p "$1"
	(
		echo "$BASHPID" >"$CG/cgroup.procs"
		exec python3 -c '
import sys
for i in range(1, int(sys.argv[2]) + 1):
    open(f"{sys.argv[1]}/{i}", "w").close()
' "$1" "$2"
	)
}

# The Prometheus server, scraping the daemon every second.
if command -v prometheus >/dev/null; then
	pport=$(free_port)
	cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: agentwatch
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
	prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
		--web.listen-address="127.0.0.1:$pport" >"$work/prometheus.log" 2>&1 &
	prom=$!
fi

N=500
workload "$work/w1" $N
# The kernel counters are sampled once a second; be sure a sample follows the workload.
wait_for run-metrics-idle 60 idle
sleep 1.5
scrape "$work/m1.txt"
kcat -b "$BOOT" -C -t kmet -o beginning -e -q -J -X log_level=3 >"$work/kmet.json" 2>/dev/null
classes=$(python3 "$T_ROOT/tests/e2e/kafka_check.py" class-counts "$work/kmet.json")
echo "consumed by class: $classes"
if command -v promtool >/dev/null; then
	t_check run-metrics-promtool sh -c "promtool check metrics <'$work/m1.txt'"
else
	t_skip run-metrics-promtool "promtool is not installed (apt: prometheus)"
fi
t_check run-metrics-match-stream python3 - "$work/m1.txt" "$work/kmet.json" "$work/w1" "$N" <<'PY'
import json, sys
m = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[1]) if l[0] != "#"}
counts, created = {}, 0
for line in open(sys.argv[2]):
    env = json.loads(line)
    ev = json.loads(env["payload"])
    counts[ev["class_uid"]] = counts.get(ev["class_uid"], 0) + 1
    if ev["class_uid"] == 1001 and ev["file"]["path"].startswith(sys.argv[3] + "/"):
        created += 1
assert created == int(sys.argv[4]), f"{created} of the workload's {sys.argv[4]} opens in Kafka"
# events by class: exactly what reached Kafka, class by class, and no other class
series = {k: v for k, v in m.items() if k.startswith("agentwatch_events_total{")}
want = {f'agentwatch_events_total{{class_uid="{c}"}}': float(n) for c, n in counts.items()}
assert series == want, (series, want)
assert m["agentwatch_kafka_delivered_total"] == sum(counts.values()), m
for k in ("agentwatch_kafka_delivery_errors_total", "agentwatch_kafka_spooled_total",
          "agentwatch_spool_records", "agentwatch_kafka_in_flight_messages",
          "agentwatch_gap_events_total", "agentwatch_policy_generation",
          'agentwatch_drops_total{reason="decode"}', 'agentwatch_drops_total{reason="encode"}',
          'agentwatch_drops_total{reason="sink"}'):
    assert m[k] == 0, (k, m[k])
rb = m['agentwatch_ring_buffer_drops_total{reason="full"}'] + \
     m['agentwatch_ring_buffer_drops_total{reason="no_scratch"}']
assert m['agentwatch_drops_total{reason="ring_buffer"}'] == rb == 0, rb
assert not any(k.startswith("agentwatch_denials_total{") for k in m), "denials without a policy"
assert m["agentwatch_kafka_up"] == 1 and m["agentwatch_kafka_brokers_up"] >= 1, m
PY

# All brokers down: the sink's health metrics show it, the spool takes the events.
ctl down all
workload "$work/w2" 300
wait_for run-metrics-outage-seen 30 sh -c "[ \"\$(curl -sf http://127.0.0.1:$port/metrics |
	awk '\$1 == \"agentwatch_kafka_brokers_up\" { print \$2 }')\" = 0 ]" &&
	t_pass run-metrics-outage-brokers-up-0
scrape "$work/m2.txt"
ctl up all
wait_for run-metrics-replayed 90 idle
sleep 1.5
scrape "$work/m3.txt"
kcat -b "$BOOT" -C -t kmet -o beginning -e -q -J -X log_level=3 >"$work/kmet2.json" 2>/dev/null
t_check run-metrics-outage-and-replay python3 - "$work/m2.txt" "$work/m3.txt" "$work/kmet2.json" <<'PY'
import json, sys
down = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[1]) if l[0] != "#"}
m = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[2]) if l[0] != "#"}
recs = [json.loads(l) for l in open(sys.argv[3])]
assert down["agentwatch_kafka_up"] == 0 and down["agentwatch_kafka_brokers_up"] == 0, down
assert down["agentwatch_spool_records"] > 0 and down["agentwatch_spool_bytes"] > 0, down
assert m["agentwatch_kafka_spooled_total"] >= down["agentwatch_spool_records"], m
# every spooled record was replayed once, none is left, nothing was lost
assert m["agentwatch_spool_replayed_total"] == m["agentwatch_kafka_spooled_total"], m
assert m["agentwatch_spool_records"] == 0 and m["agentwatch_kafka_up"] == 1, m
assert m["agentwatch_kafka_brokers_up"] >= 1, m
assert m['agentwatch_drops_total{reason="sink"}'] == 0 and m["agentwatch_gap_events_total"] == 0
assert m["agentwatch_kafka_delivery_errors_total"] <= m["agentwatch_kafka_spooled_total"], m
# delivered counts every record acked, replays included: what the topic holds
assert m["agentwatch_kafka_delivered_total"] == len(recs), (m["agentwatch_kafka_delivered_total"], len(recs))
total = sum(v for k, v in m.items() if k.startswith("agentwatch_events_total{"))
ids = {dict(zip(r["headers"][0::2], r["headers"][1::2]))["event_id"] for r in recs}
assert total == len(ids), (total, len(ids))
PY

# Ring-buffer drops: the daemon stopped (SIGSTOP) while the workload creates more files than the
# 8 MiB ring holds. What the kernel could not put in the ring is counted per CPU; the metric
# must show it by reason, agree with the daemon's own status counters, and account for every
# workload event that never reached the sinks.
N3=60000
before=$(metric 'agentwatch_events_total{class_uid="1001"}')
kill -STOP "$daemon"
workload "$work/w3" $N3
kill -CONT "$daemon"
wait_for run-metrics-ring-idle 120 idle
sleep 1.5
scrape "$work/m5.txt"
"$AGENTWATCH" events --json --socket "$work/aw.sock" >"$work/status.json" 2>"$work/status.err"
t_check run-metrics-ring-buffer-drops python3 - "$work/m5.txt" "$work/status.json" "$before" "$N3" <<'PY'
import json, sys
m = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[1]) if l[0] != "#"}
st = json.load(open(sys.argv[2]))["counters"]
full = m['agentwatch_ring_buffer_drops_total{reason="full"}']
scratch = m['agentwatch_ring_buffer_drops_total{reason="no_scratch"}']
assert full == st["ringbuf_full"] and scratch == st["no_scratch"], (full, scratch, st)
assert m['agentwatch_drops_total{reason="ring_buffer"}'] == full + scratch, m
assert m['agentwatch_drops_total{reason="decode"}'] == st["malformed"], (m, st)
delivered = m['agentwatch_events_total{class_uid="1001"}'] - float(sys.argv[3])
# every workload open was either sent on (counted by class) or dropped (counted by reason)
assert full > 0 and full + scratch >= int(sys.argv[4]) - delivered, (full, scratch, delivered)
print(f"ring full: {full:.0f} dropped, {delivered:.0f} file events delivered of {sys.argv[4]}+")
PY

# Prometheus: the target is up, and a query returns the workload's events.
if [ -z "$prom" ]; then
	t_skip run-metrics-prometheus-scrape "prometheus is not installed (apt: prometheus)"
else
	target_up() {
		curl -sf "http://127.0.0.1:$pport/api/v1/targets" | python3 -c '
import json, sys
t = json.load(sys.stdin)["data"]["activeTargets"]
sys.exit(0 if any(x["health"] == "up" and x["labels"]["job"] == "agentwatch" for x in t) else 1)'
	}
	# The value Prometheus stored for the workload's class must be the daemon's current one.
	queried() {
		local want
		want=$(metric 'agentwatch_events_total{class_uid="1001"}')
		curl -sf "http://127.0.0.1:$pport/api/v1/query" \
			--data-urlencode 'query=agentwatch_events_total{job="agentwatch",class_uid="1001"}' |
			python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
v = float(r[0]["value"][1]) if r else -1
sys.exit(0 if v == float(sys.argv[1]) and v >= float(sys.argv[2]) else 1)' "$want" 800
	}
	wait_for run-metrics-prometheus-target-up 60 target_up && t_pass run-metrics-prometheus-target-up
	wait_for run-metrics-prometheus-query 30 queried && t_pass run-metrics-prometheus-query
	echo "prometheus: $(curl -sf "http://127.0.0.1:$pport/api/v1/query" \
		--data-urlencode 'query=sum(agentwatch_events_total)' | head -c 300)"
	kill "$prom"
	wait "$prom"
	t_eq run-metrics-prometheus-stopped 0 $?
	prom=
fi

kill -TERM "$daemon"
wait "$daemon"
t_eq run-metrics-daemon-sigterm 0 $?
daemon=

# Denials by rule and the policy generation, with a policy the host can enforce (cgroup socket
# hooks refuse egress without BPF-LSM): K refused connects are K denials of that rule.
cat >"$work/deny.yaml" <<EOF
apiVersion: agentwatch.dev/v1
kind: AgentPolicy
metadata:
  name: kmet-policy
spec:
  network:
    - name: kmet-deny-loopback-2
      cidrs: [127.0.0.2/32]
      action: deny
EOF
port=$(free_port)
rm -f "$work/aw.sock"
"$AGENTWATCH" run --socket "$work/aw.sock" --watch "$CG" --sink kafka --brokers "$BOOT" \
	--topic kmet-deny --spool-dir "$work/spool" --metrics "127.0.0.1:$port" \
	--rules "$work/deny.yaml" 2>"$work/daemon2.err" &
daemon=$!
for _ in $(seq 1200); do
	[ -S "$work/aw.sock" ] && break
	kill -0 "$daemon" 2>/dev/null || break
	sleep 0.1
done
K=7
refused=$(
	echo "$BASHPID" >"$CG/cgroup.procs"
	exec python3 -c '
import socket, sys
n = 0
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    try:
        s.connect(("127.0.0.2", 9))
    except PermissionError:
        n += 1
    except OSError:
        pass
    s.close()
print(n)' $K
)
t_eq run-metrics-denials-refused "$K" "$refused"
wait_for run-metrics-denials-idle 60 idle
sleep 1.5
scrape "$work/m4.txt"
t_eq run-metrics-denials-by-rule "$K" \
	"$(awk '$1 == "agentwatch_denials_total{rule=\"kmet-deny-loopback-2\"}" { print $2 }' "$work/m4.txt")"
gen=$(awk '$1 == "agentwatch_policy_generation" { print $2 }' "$work/m4.txt")
[ "${gen:-0}" -ge 1 ] && t_pass run-metrics-policy-generation ||
	t_fail run-metrics-policy-generation "generation '$gen' with a policy in force"
kill -TERM "$daemon"
wait "$daemon"
daemon=
t_done
