#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What a watcher recorded of one tools/agent-workload.sh run, as one JSON object on stdout.

  agent-workload.py agentwatch EVENTS.jsonl --exec PATH --file PATH --port P
  agent-workload.py audit AUDIT.LOG --from OFFSET [--to OFFSET] --key KEY
                    --exec PATH --file PATH --port P

Both print {"events": N, "exec": N, "open": N, "connect": N, "other": N, "bytes": N,
"marker_execs": N, "marker_opens": N, "marker_connects": N, ...}:
  events   everything the watcher recorded for the run (agentwatch: every JSON line, which
           includes forks, exits and threads; audit: every event tagged KEY)
  exec     successful execs; open: successful opens; connect: connect attempts
  bytes    log bytes those events took (audit: the records of those events; the whole log
           segment is in segment_bytes)
  marker_* the events that name the workload's marker binary, file and port.
"""
import argparse
import json
import os
import sys

EXEC_NR = {59, 322}  # execve, execveat
OPEN_NR = {2, 85, 257, 437}  # open, creat, openat, openat2
CONNECT_NR = {42}


def count_agentwatch(a):
    r = dict.fromkeys(("events", "exec", "open", "connect", "fork", "exit", "other",
                       "marker_execs", "marker_opens", "marker_connects", "malformed"), 0)
    r["bytes"] = os.path.getsize(a.log)
    with open(a.log, "rb") as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                r["malformed"] += 1
                continue
            r["events"] += 1
            cls, act = e.get("class_uid"), e.get("activity_id")
            if cls == 1007 and act == 1 and e.get("launch_type") == "Exec":
                r["exec"] += 1
                if e.get("process", {}).get("file", {}).get("path") == a.exec:
                    r["marker_execs"] += 1
            elif cls == 1007 and act == 1:
                r["fork"] += 1
            elif cls == 1007 and act == 2:
                r["exit"] += 1
            elif cls == 1001 and act == 14:
                r["open"] += 1
                if e.get("file", {}).get("path") == a.file:
                    r["marker_opens"] += 1
            elif cls == 4001 and act == 1 and e.get("connection_info", {}).get("direction_id") != 1:
                # (direction 1: an accept of the workload's own server, not a connect)
                r["connect"] += 1
                if e.get("dst_endpoint", {}).get("port") == a.port:
                    r["marker_connects"] += 1
            else:
                r["other"] += 1
    return r


def audit_fields(body):
    """key=value pairs of one audit record (the raw part, before ENRICHED's \\x1d)."""
    out = {}
    for tok in body.split("\x1d", 1)[0].split():
        k, sep, v = tok.partition("=")
        if sep:
            out[k] = v.strip('"')
    return out


def audit_name(v):
    """A PATH name: quoted text, or hex when it has odd characters."""
    if v and all(c in "0123456789ABCDEF" for c in v) and len(v) % 2 == 0:
        try:
            return bytes.fromhex(v).decode()
        except ValueError:
            pass
    return v


def sockaddr_port(hexaddr):
    b = bytes.fromhex(hexaddr)
    fam = int.from_bytes(b[0:2], "little")
    if fam in (2, 10) and len(b) >= 4:  # AF_INET, AF_INET6
        return int.from_bytes(b[2:4], "big")
    return None


def count_audit(a):
    with open(a.log, "rb") as f:
        f.seek(a.frm)
        data = f.read(a.to - a.frm if a.to is not None else -1)
    events = {}  # serial -> {"records": [...], "bytes": n}
    for raw in data.decode("utf-8", "replace").splitlines(keepends=True):
        i, j = raw.find("msg=audit("), raw.find("):")
        if i < 0 or j < 0:
            continue
        serial = raw[i + 10:j].split(":")[-1]
        typ = raw[5:raw.find(" ")] if raw.startswith("type=") else "?"
        ev = events.setdefault(serial, {"records": [], "bytes": 0})
        ev["records"].append((typ, audit_fields(raw[j + 2:])))
        ev["bytes"] += len(raw.encode())
    r = dict.fromkeys(("events", "exec", "open", "connect", "other", "records", "bytes",
                       "failed_exec", "marker_execs", "marker_opens", "marker_connects"), 0)
    r["segment_bytes"] = len(data)
    for ev in events.values():
        sc = next((f for t, f in ev["records"] if t == "SYSCALL"), None)
        if sc is None or sc.get("key") != a.key:
            continue
        r["events"] += 1
        r["records"] += len(ev["records"])
        r["bytes"] += ev["bytes"]
        nr, ok = int(sc.get("syscall", -1)), sc.get("success") == "yes"
        if nr in EXEC_NR:
            if ok:
                r["exec"] += 1
                r["marker_execs"] += sc.get("exe") == a.exec
            else:
                r["failed_exec"] += 1
        elif nr in OPEN_NR:
            r["open"] += 1
            names = {audit_name(f.get("name", "")) for t, f in ev["records"] if t == "PATH"}
            r["marker_opens"] += a.file in names
        elif nr in CONNECT_NR:
            r["connect"] += 1
            for t, f in ev["records"]:
                if t == "SOCKADDR" and sockaddr_port(f.get("saddr", "")) == a.port:
                    r["marker_connects"] += 1
        else:
            r["other"] += 1
    return r


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=("agentwatch", "audit"))
    p.add_argument("log")
    p.add_argument("--exec", required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--from", dest="frm", type=int, default=0)
    p.add_argument("--to", type=int)
    p.add_argument("--key", default="awbench")
    a = p.parse_args()
    r = count_agentwatch(a) if a.kind == "agentwatch" else count_audit(a)
    json.dump(r, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
