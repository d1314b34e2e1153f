#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A scripted stand-in agent for the observe tests: it does known things, each in a way a
hostile agent might use to hide the real target, and prints what it did as one JSON object."""
import json
import os
import socket
import sys
import threading

work = sys.argv[1]
did = {"pid": os.getpid()}

secret = os.path.join(work, "data", "secret.txt")
os.makedirs(os.path.dirname(secret), exist_ok=True)
with open(secret, "w") as f:  # create + write
    f.write("s3cret\n")
os.symlink(secret, os.path.join(work, "link"))

def read(path, **kw):
    with open(path, **kw) as f:
        f.read()

read(os.path.join(work, "link"))  # through a symlink
os.chdir(os.path.join(work, "data"))
read("secret.txt")  # relative
read(os.path.join(work, "data", "..", "data", "secret.txt"))  # with ..
fd = os.open(secret, os.O_RDONLY)
read("/proc/self/fd/%d" % fd)  # re-open through /proc/self/fd
os.close(fd)
with open(secret, "r+") as f:  # truncating write through O_TRUNC
    os.truncate(f.fileno(), 0)
fd = os.open(secret, os.O_WRONLY | os.O_TRUNC)
os.close(fd)

# IPv4-mapped IPv6 connect, a plain IPv4 connect and an unconnected UDP sendto.
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen(4)
port = srv.getsockname()[1]
did["port"] = port
c6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
c6.connect(("::ffff:127.0.0.1", port))
c6.close()
c4 = socket.create_connection(("127.0.0.1", port))
c4.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"x", ("127.0.0.1", port))
u.close()

# A thread that opens a file: attributed to this process.
def in_thread():
    did["thread_tid"] = threading.get_native_id()
    read("/etc/hostname")
t = threading.Thread(target=in_thread)
t.start()
t.join()

# Double fork: the grandchild is orphaned (reparented) and still belongs to the agent.
r, w = os.pipe()
child = os.fork()
if child == 0:
    grandchild = os.fork()
    if grandchild == 0:
        os.close(r)
        os.read(os.open("/etc/passwd", os.O_RDONLY), 1)
        os.write(w, str(os.getpid()).encode())
        os._exit(0)
    os._exit(0)
os.close(w)
os.waitpid(child, 0)
did["grandchild"] = int(os.read(r, 64))
did["child"] = child

# A nested cgroup inside the agent's: its processes still belong to the agent.
def cgroup2_mount():
    for line in open("/proc/self/mountinfo"):
        pre, post = line.split(" - ", 1)
        if post.split()[0] == "cgroup2":
            return pre.split()[4]
mine = open("/proc/self/cgroup").read().split("0::", 1)[1].split("\n")[0]
nested = cgroup2_mount() + mine + "/nested"
os.mkdir(nested)
pid = os.fork()
if pid == 0:
    with open(nested + "/cgroup.procs", "w") as f:
        f.write("0")
    read("/etc/group")
    os._exit(0)
os.waitpid(pid, 0)
did["nested_child"] = pid

# exec through a child with a known exit status.
pid = os.fork()
if pid == 0:
    os.execv("/bin/sh", ["sh", "-c", "exit 7"])
os.waitpid(pid, 0)
did["exec_child"] = pid
did["secret"] = secret
print(json.dumps(did), flush=True)
