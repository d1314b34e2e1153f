# SPDX-License-Identifier: Apache-2.0
"""
listen.py READY_FILE PORT...: accept TCP on [::]:PORT (dual stack, so IPv4 too) and read UDP on
the same ports, closing every connection at once, until killed or 30 minutes have passed.
READY_FILE is created once every socket is bound. The policy tests run it outside the agent so
that a destination they expect to be refused is one that would otherwise answer.
"""
import os
import select
import socket
import sys
import time


def main():
    ready, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
    socks = []
    for port in ports:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET6, kind)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.IPPROTO_TCP, 23, 16)  # TCP_FASTOPEN: accept TFO too
            s.bind(("::", port))
            if kind == socket.SOCK_STREAM:
                s.listen(64)
            socks.append(s)
    open(ready, "w").close()
    end = time.time() + 1800
    while time.time() < end:
        r, _, _ = select.select(socks, [], [], 1.0)
        for s in r:
            try:
                if s.type == socket.SOCK_STREAM:
                    c, _ = s.accept()
                    c.close()
                else:
                    s.recv(65536)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
