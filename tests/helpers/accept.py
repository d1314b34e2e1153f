# SPDX-License-Identifier: Apache-2.0
"""
accept.py server READY N: listen on three TCP sockets on ephemeral ports, an IPv4 one on
127.0.0.1 ("v4"), an IPv6-only one on ::1 ("v6") and a dual-stack one on :: ("dual"), write
{"pid", "ports": {name: port}} to READY (atomically, once all listen), accept N connections on
each, close them, and exit 0. Gives up after 60 s.

accept.py client READY OUT N: wait for READY, connect N times to each socket (to the dual-stack
one over IPv4, so that the server sees a v4-mapped peer), and write the client ports it used,
{name: [port...]}, to OUT.

The observe test runs the server as an agent and the client outside it (and the reverse).
"""
import json
import os
import socket
import sys
import time


def server(ready, n):
    socks = {}
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks["v4"] = s
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind(("::1", 0))
    socks["v6"] = s
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", 0))
    socks["dual"] = s
    for s in socks.values():
        s.listen(n)
        s.settimeout(60)
    tmp = ready + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"pid": os.getpid(), "ports": {k: s.getsockname()[1] for k, s in socks.items()}}, f)
    os.rename(tmp, ready)
    for s in socks.values():
        for _ in range(n):
            c, _ = s.accept()
            c.close()
    return 0


def client(ready, out, n):
    end = time.time() + 60
    while not os.path.exists(ready):
        if time.time() > end:
            return 1
        time.sleep(0.05)
    ports = json.load(open(ready))["ports"]
    dest = {"v4": ("127.0.0.1", socket.AF_INET), "v6": ("::1", socket.AF_INET6), "dual": ("127.0.0.1", socket.AF_INET)}
    used = {}
    for name, (addr, family) in dest.items():
        used[name] = []
        for _ in range(n):
            c = socket.socket(family, socket.SOCK_STREAM)
            c.connect((addr, ports[name]))
            used[name].append(c.getsockname()[1])
            c.close()
    with open(out, "w") as f:
        json.dump(used, f)
    return 0


def main():
    if sys.argv[1] == "server":
        return server(sys.argv[2], int(sys.argv[3]))
    return client(sys.argv[2], sys.argv[3], int(sys.argv[4]))


if __name__ == "__main__":
    sys.exit(main())
