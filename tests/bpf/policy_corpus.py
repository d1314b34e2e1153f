#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Random policies and queries for the differential test of the kernel policy matcher.

    policy_corpus.py SEED RULES QUERIES OUTDIR

writes OUTDIR/rules.yaml (one policy set for the agent context HOME=/home/test,
WORKSPACE=/work/ws) and OUTDIR/queries (agentwatch-policy-testrun's query lines). Paths,
names and addresses come from small universes so that rules and queries collide often, and
every pattern kind of include/agentwatch/policy.h is drawn."""
import ipaddress
import os
import random
import sys

seed, n_rules, n_queries, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rnd = random.Random(seed)

DIRS = ["/home/test", "/home/test/.ssh", "/home/test/.aws", "/home/test/proj", "/home/test/proj/src",
        "/work/ws", "/work/ws/sub", "/etc", "/etc/conf.d", "/srv/data", "/srv/data/deep/er", "/tmp"]
NAMES = ["id_rsa", "id_rsa.pub", "id_ed25519", "known_hosts", "config", "credentials", ".env",
         ".env.local", ".envrc", "key.pem", "cert.pem", "main.c", "abc.conf", "bxc.conf", "shadow",
         "notes.txt", "a", "ab", "x.tar.gz"]
EXES = ["/usr/bin/cat", "/usr/bin/ssh", "/usr/bin/git", "/usr/bin/python3"]
ACCESS = ["read", "write", "create", "delete", "rename", "exec"]
PREFIXES = ["id_", ".env", "ke", "a"]
SUFFIXES = [".pem", ".pub", ".conf", ".gz"]
GLOBS = ["[ab]?c*.conf", "id_?s*", "*.p?m", "[!k]*.pem", "?", "*_*"]


def pattern():
    d = rnd.choice(DIRS)
    k = rnd.randrange(9)
    if k == 0:
        return d + "/" + rnd.choice(NAMES)
    if k == 1:
        return d + "/**"
    if k == 2:
        return d + "/*"
    if k == 3:
        return d + "/" + rnd.choice(PREFIXES) + "*"
    if k == 4:
        return d + "/*" + rnd.choice(SUFFIXES)
    if k == 5:
        return d + "/" + rnd.choice(GLOBS)
    base = rnd.choice([d, ""])
    if k == 6:
        return base + "/**/" + rnd.choice(NAMES)
    if k == 7:
        return base + "/**/" + rnd.choice(PREFIXES) + "*"
    return base + "/**/*" + rnd.choice(SUFFIXES)


def q(s):
    return '"' + s + '"'


lines = ["apiVersion: agentwatch.dev/v1", "kind: AgentPolicy", "metadata:", "  name: corpus-a", "spec:",
         "  mode: enforce", "  defaults:", "    files: %s" % rnd.choice(["allow", "allow", "deny"]),
         "    network: %s" % rnd.choice(["allow", "allow", "deny"]), "  files:"]
audit_lines = ["---", "apiVersion: agentwatch.dev/v1", "kind: AgentPolicy", "metadata:", "  name: corpus-b",
               "spec:", "  mode: audit", "  files:"]
for i in range(n_rules):
    target = lines if rnd.random() < 0.8 else audit_lines
    target.append("    - name: r%d" % i)
    target.append("      path: %s" % q(pattern()))
    target.append("      action: %s" % rnd.choice(["deny", "deny", "allow", "audit"]))
    if rnd.random() < 0.6:
        target.append("      access: [%s]" % ", ".join(sorted(set(rnd.sample(ACCESS, rnd.randint(1, 3))))))
    if rnd.random() < 0.2:
        target.append("      binaries:")
        target.append("        %s: [%s]" % (rnd.choice(["only", "except"]), rnd.choice(EXES)))
    if rnd.random() < 0.15:
        target.append("      except: [%s]" % q(pattern()))
lines.append("  network:")
NETS = ["10.0.0.0/8", "10.1.2.0/24", "10.1.2.3/32", "169.254.169.254/32", "192.168.0.0/16", "fd00::/8",
        "fd00:ec2::254/128", "2001:db8::/32", "0.0.0.0/0"]
for i in range(max(1, n_rules // 4)):
    lines.append("    - name: n%d" % i)
    lines.append("      cidr: %s" % rnd.choice(NETS))
    lines.append("      action: %s" % rnd.choice(["deny", "allow", "audit"]))
    if rnd.random() < 0.5:
        lo = rnd.choice([22, 53, 80, 443, 8000])
        lines.append("      ports: [%s]" % (str(lo) if rnd.random() < 0.5 else "%d-%d" % (lo, lo + 100)))
    if rnd.random() < 0.4:
        lines.append("      protocol: %s" % rnd.choice(["tcp", "udp"]))

os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "rules.yaml"), "w") as f:
    f.write("\n".join(lines + (audit_lines if len(audit_lines) > 8 else [])) + "\n")

ADDRS = ["10.1.2.3", "10.1.2.4", "10.9.9.9", "169.254.169.254", "::ffff:169.254.169.254",
         "64:ff9b::a9fe:a9fe", "192.168.1.1", "8.8.8.8", "fd00::1", "fd00:ec2::254", "2001:db8::5", "::1"]
with open(os.path.join(out, "queries"), "w") as f:
    for _ in range(n_queries):
        r = rnd.random()
        if r < 0.7:
            path = rnd.choice(DIRS) + "/" + rnd.choice(NAMES)
            acc = ",".join(sorted(set(rnd.sample(ACCESS, rnd.randint(1, 2)))))
            f.write("file %s %s %s\n" % (acc, rnd.choice(EXES + ["-"]), path))
        elif r < 0.8:
            f.write("exec %s %s\n" % (rnd.choice(EXES + ["-"]), rnd.choice(DIRS) + "/" + rnd.choice(NAMES)))
        else:
            f.write("connect %s %d %s\n" % (rnd.choice(ADDRS), rnd.choice([22, 53, 80, 443, 8050, 9000]),
                                            rnd.choice(["tcp", "udp"])))
