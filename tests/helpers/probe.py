# SPDX-License-Identifier: Apache-2.0
"""
probe.py: one operation, or many, each answered with one word: "ok" or the errno's name.

  probe.py OP ARGS...                  one operation, its answer on stdout
  probe.py batch "OP ARGS" ...         each in turn, one answer per line
  probe.py serve DIR                   a long-running agent: for N = 1, 2, ... wait for DIR/cmd-N
                                       (one "OP ARGS" line), answer in DIR/res-N; ends when
                                       DIR/stop appears, or after 10 minutes

OPs: tcp HOST PORT (connect), udp HOST PORT (unconnected sendto), udp-connect HOST PORT
(connect, then send), read PATH (open and read).
"""
import errno
import os
import socket
import sys
import time


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def run(line):
    op, *args = line.split()
    try:
        if op == "read":
            with open(args[0], "rb") as f:
                f.read(64)
        elif op in ("tcp", "udp", "udp-connect"):
            host, port = args[0], int(args[1])
            s = socket.socket(family(host), socket.SOCK_STREAM if op == "tcp"
                              else socket.SOCK_DGRAM)
            s.settimeout(5)
            try:
                if op == "udp":
                    s.sendto(b"x", (host, port))
                else:
                    s.connect((host, port))
                    if op == "udp-connect":
                        s.send(b"x")
            finally:
                s.close()
        else:
            return "EBADOP"
    except socket.timeout:
        return "TIMEOUT"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    return "ok"


def serve(d):
    end = time.time() + 600
    n = 1
    while time.time() < end and not os.path.exists(os.path.join(d, "stop")):
        cmd = os.path.join(d, "cmd-%d" % n)
        if not os.path.exists(cmd):
            time.sleep(0.05)
            continue
        with open(cmd) as f:
            answer = run(f.read().strip())
        tmp = os.path.join(d, "res-%d.tmp" % n)
        with open(tmp, "w") as f:
            f.write(answer + "\n")
        os.rename(tmp, os.path.join(d, "res-%d" % n))
        n += 1


def main(argv):
    if argv[0] == "serve":
        serve(argv[1])
    elif argv[0] == "batch":
        for line in argv[1:]:
            print(run(line), flush=True)
    else:
        print(run(" ".join(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
