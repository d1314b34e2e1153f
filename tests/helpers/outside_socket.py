# SPDX-License-Identifier: Apache-2.0
"""
outside_socket.py CMD [ARGS...]: make a UDP and a TCP socket here (in this process's cgroup),
leave them open across exec as AW_OUTSIDE_UDP_FD and AW_OUTSIDE_TCP_FD, and exec CMD. Run
`agentwatch exec` through it to hand the agent sockets that were created outside it.
"""
import os
import socket
import sys

socks = {"UDP": socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
         "TCP": socket.socket(socket.AF_INET, socket.SOCK_STREAM)}
for kind, s in socks.items():
    os.set_inheritable(s.fileno(), True)
    os.environ["AW_OUTSIDE_%s_FD" % kind] = str(s.detach())
os.execvp(sys.argv[1], sys.argv[1:])
