# SPDX-License-Identifier: Apache-2.0
"""
Policy acceptance cases: one operation per case, run inside an agent, checked from outside.

An `agentwatch exec` costs over a minute in the TCG guest (loading and verifying the programs),
so a suite runs all of its cases in one agent. A suite file (policy_*_cases.py next to this one)
defines setup(env) and cases(env) and calls main(); the test script drives the phases:

  SUITE setup BASE [KEY=VALUE...]    (re)create the fixture under BASE, remember KEY=VALUEs
  SUITE baseline BASE OUT.jsonl      run every case outside any agent (before the agent run)
  SUITE run BASE OUT.jsonl           run every case; this is the agent's command
  SUITE outside BASE                 serve the agent's requests for outside actions (background)
  SUITE check BASE RESULTS EVENTS BASELINE
                                     print one PASS/FAIL line per case (tests/lib/t.sh format)

A case expects one of:
  deny    the operation fails with EPERM (or one of `errs`), an event with disposition Blocked
          names `rule` (and matches `ev`: path, destination or syscall, and the pid that did it),
          the operation works outside any agent (`baseline`: "ok", "not-eperm" (it may fail, but not
          with EPERM), or None), and `post` (the file system afterwards) holds;
  allow   the operation works and no Blocked event matches `ev`;
  detect  the operation works and a Detected event ("would block") names `rule`;
  audit   the operation works and an Allowed event names `rule` (action: audit, or an audit
          default posture).
"""
import ctypes
import errno as E
import hashlib
import json
import os
import socket
import subprocess
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.syscall.restype = ctypes.c_long

EPERM = "EPERM"
AT_FDCWD = -100

# --- results ------------------------------------------------------------------------------


def ok(detail="", pid=None):
    return {"err": None, "detail": detail, "pid": pid}


def failed(err, detail="", pid=None):
    name = E.errorcode.get(err, str(err)) if isinstance(err, int) else err
    return {"err": name, "detail": detail, "pid": pid}


def from_ret(ret, detail="", pid=None):
    """A ctypes libc/syscall return: -1 and errno, or success."""
    if ret == -1:
        return failed(ctypes.get_errno(), detail, pid)
    return ok(detail or str(ret), pid)


def sys_call(nr, *args):
    return libc.syscall(ctypes.c_long(nr), *args)


# stderr wording of the errors a command line tool reports, checked in this order
_MESSAGES = [("EPERM", "Operation not permitted"), ("EACCES", "Permission denied"),
             ("ENOENT", "No such file or directory"), ("EEXIST", "File exists"),
             ("ENETUNREACH", "Network is unreachable"), ("ECONNREFUSED", "Connection refused")]


def cmd(argv, cwd=None, data=None, timeout=60):
    """Run a command line tool; its error is read from its stderr wording."""
    try:
        p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE if data else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:
        return failed(e.errno, "spawn %s: %s" % (argv[0], e))
    try:
        out, err = p.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return failed("TIMEOUT", " ".join(argv), p.pid)
    text = err.decode(errors="replace").strip()
    if p.returncode == 0:
        return ok(out.decode(errors="replace")[:200], p.pid)
    if p.returncode < 0:
        return failed("SIG%d" % -p.returncode, text[-300:], p.pid)
    for name, msg in _MESSAGES:
        if msg in text:
            return failed(name, "exit %d: %s" % (p.returncode, text[-300:]), p.pid)
    return failed("EXIT%d" % p.returncode, text[-300:], p.pid)


def in_child(fn):
    """Run fn() in a forked child (for chroot, exec, unshare); it returns a result dict. The
    child's pid is the result's pid."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            res = fn()
        except OSError as e:
            res = failed(e.errno, str(e))
        except BaseException as e:  # noqa: BLE001 - report anything
            res = failed("EXC", repr(e))
        os.write(w, json.dumps(res).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if not data:  # the child exec'd something, which ran to its end
        if os.WIFSIGNALED(status):
            return failed("SIG%d" % os.WTERMSIG(status), "child killed", pid)
        if os.WEXITSTATUS(status) == 0:
            return ok("exec'd a program that exited 0", pid)
        return failed("EXIT%d" % os.WEXITSTATUS(status), "child exec'd, program failed", pid)
    res = json.loads(data)
    res["pid"] = pid
    return res


def exec_child(path, argv=None, fd=None):
    """Exec path (or fd, by fexecve) in a forked child: its errno, or its exit status."""
    r, w = os.pipe()
    os.set_inheritable(w, False)
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            dn = os.open(os.devnull, os.O_RDWR)
            os.dup2(dn, 1)
            os.dup2(dn, 2)
            if fd is not None:
                os.execve(fd, argv or ["x"], os.environ)
            os.execv(path, argv or [path])
        except OSError as e:
            os.write(w, str(e.errno).encode())
        os._exit(127)
    os.close(w)
    data = os.read(r, 64)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if data:
        return failed(int(data), "exec refused", pid)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return ok("ran", pid)
    return failed("STATUS%d" % status, "exec worked, program failed", pid)


# --- small operations -----------------------------------------------------------------------


def read_file(path, **kw):
    try:
        fd = os.open(path, os.O_RDONLY, **kw)
    except OSError as e:
        return failed(e.errno, "open", os.getpid())
    try:
        os.read(fd, 64)
    except OSError as e:
        return failed(e.errno, "read", os.getpid())
    finally:
        os.close(fd)
    return ok("read", os.getpid())


def write_file(path, data=b"planted\n", flags=os.O_WRONLY | os.O_CREAT | os.O_APPEND):
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        return failed(e.errno, "open", os.getpid())
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return ok("written", os.getpid())


def open_close(path, flags):
    try:
        os.close(os.open(path, flags))
    except OSError as e:
        return failed(e.errno, "open", os.getpid())
    return ok("opened", os.getpid())


def py_op(fn, *args):
    """Call fn(*args) in this process; an OSError is the result."""
    try:
        fn(*args)
    except OSError as e:
        return failed(e.errno, "%s: %s" % (getattr(fn, "__name__", "op"), e), os.getpid())
    return ok(getattr(fn, "__name__", "op"), os.getpid())


def umount_under(base):
    """Detach every mount at or below base, deepest first."""
    prefix = base.rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted({p for p in points if p.startswith(prefix)}, key=len, reverse=True):
        subprocess.run(["umount", "-l", p], stderr=subprocess.DEVNULL)


def sha(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def net_op(family, kind, addr, port, how="connect", timeout=5):
    """One egress: kind = tcp | udp | mptcp, how = connect | sendto | connect+send | fastopen."""
    stype = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    try:
        s = socket.socket(family, stype, 262 if kind == "mptcp" else 0)  # IPPROTO_MPTCP
    except OSError as e:
        return failed(e.errno, "socket: %s" % e, os.getpid())
    s.settimeout(timeout)
    try:
        if how == "connect":
            s.connect((addr, port))
        elif how == "sendto":
            s.sendto(b"x", (addr, port))
        elif how == "connect+send":
            s.connect((addr, port))
            s.send(b"x")
        elif how == "fastopen":
            try:
                s.sendto(b"GET / HTTP/1.0\r\n\r\n", socket.MSG_FASTOPEN, (addr, port))
            except BlockingIOError:  # (a timeout makes the socket non-blocking)
                return ok("fastopen: connect under way", os.getpid())
        else:
            raise ValueError(how)
    except OSError as e:
        return failed(e.errno if e.errno is not None else "TIMEOUT", str(e), os.getpid())
    finally:
        s.close()
    return ok(how, os.getpid())


# --- outside actions: what the agent asks a process outside it to do ------------------------

MODE = "run"  # "run" inside the agent, "baseline" outside


def ask_outside(env, what, timeout=60):
    """Have the `outside` phase (a process outside the agent) do the suite's outside action
    `what`, and wait for it; in the baseline run, do it right here."""
    if MODE == "baseline":
        SUITE["outside"](env, what)
        return True
    req = os.path.join(env["T"], "req-" + what)
    done = os.path.join(env["T"], "done-" + what)
    with open(req, "w") as f:
        f.write(what)
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(done):
            return True
        time.sleep(0.05)
    return False


# --- cases -----------------------------------------------------------------------------------


class Case:
    def __init__(self, name, op, expect="deny", rule=None, ev=None, baseline="ok", post=None,
                 errs=(EPERM,), why=""):
        self.name, self.op, self.expect, self.rule = name, op, expect, rule
        self.ev, self.baseline, self.post, self.errs, self.why = ev, baseline, post, errs, why


def ev_file(path=None, suffix=None):
    def match(e):
        if e.get("class_uid") != 1001:
            return False
        p = e.get("file", {}).get("path", "")
        return p == path if path else p.endswith(suffix)
    match.desc = "file %s" % (path or "*" + suffix)
    return match


def ev_exec(path=None, suffix=None):
    """A refused exec (Process Activity) or a refused PROT_EXEC mapping (File System Activity)."""
    def match(e):
        if e.get("class_uid") == 1007:
            p = e.get("process", {}).get("file", {}).get("path", "")
        elif e.get("class_uid") == 1001:
            p = e.get("file", {}).get("path", "")
        else:
            return False
        return p == path if path else p.endswith(suffix)
    match.desc = "exec %s" % (path or "*" + suffix)
    return match


def ev_exec_any():
    """Any exec event: for a program without a path (a memfd's shows as "/")."""
    def match(e):
        return e.get("class_uid") == 1007
    match.desc = "exec"
    return match


def ev_net(ip, port):
    def match(e):
        d = e.get("dst_endpoint", {})
        return e.get("class_uid") == 4001 and d.get("ip") == ip and d.get("port") == port
    match.desc = "net %s:%d" % (ip, port)
    return match


def ev_kernel(syscall=None):
    def match(e):
        if e.get("class_uid") != 1003:
            return False
        return syscall is None or e.get("kernel", {}).get("system_call") == syscall
    match.desc = "syscall %s" % (syscall or "(any)")
    return match


def _pid_of(e):
    if e.get("class_uid") == 1007:
        return e.get("process", {}).get("pid")
    return e.get("actor", {}).get("process", {}).get("pid")


def _rules(rule):
    return rule if isinstance(rule, (tuple, list)) else (rule,)


def check_case(c, res, base, events):
    """Reasons the case failed; empty when it passed."""
    why = []
    if res is None:
        return ["the agent never ran this case"]
    got = res["err"] or "ok"
    pid = res.get("pid")

    def matching(disp):
        out = []
        for e in events:
            if e.get("disposition_id") != disp or (c.ev and not c.ev(e)):
                continue
            if pid and _pid_of(e) != pid:
                continue
            out.append(e)
        return out

    if c.expect == "deny":
        if got not in c.errs:
            why.append("not refused: got %s (want %s) %s" % (got, "/".join(c.errs),
                                                            res.get("detail", "")[:160]))
        blocked = matching(2)
        if not [e for e in blocked if e.get("unmapped", {}).get("rule") in _rules(c.rule)]:
            seen = sorted({str(e.get("unmapped", {}).get("rule")) for e in blocked})
            why.append("no Blocked event for %s naming rule %s%s" % (
                c.ev.desc if c.ev else "it", "|".join(_rules(c.rule)),
                " (Blocked by: %s)" % ", ".join(seen) if seen else ""))
    elif c.expect == "allow":
        if got != "ok":
            why.append("refused: got %s %s" % (got, res.get("detail", "")[:160]))
        if c.ev and matching(2):
            why.append("a Blocked event for %s" % c.ev.desc)
    elif c.expect in ("detect", "audit"):
        disp, label = (15, "Detected") if c.expect == "detect" else (1, "Allowed")
        if got != "ok":
            why.append("refused: got %s %s" % (got, res.get("detail", "")[:160]))
        det = [e for e in matching(disp) if e.get("unmapped", {}).get("rule") in _rules(c.rule)]
        if not det:
            why.append("no %s event naming %s" % (label, "|".join(_rules(c.rule))))
    if c.baseline and base is not None:
        b = base["err"] or "ok"
        if c.baseline == "ok" and b != "ok":
            why.append("outside the agent it fails too: %s %s" % (b, base.get("detail", "")[:120]))
        if c.baseline == "not-eperm" and b == EPERM:
            why.append("outside the agent it fails with EPERM too: the test proves nothing")
    elif c.baseline:
        why.append("no baseline result")
    if c.post:
        p = c.post()
        if p:
            why.append(p)
    return why


# --- post conditions ---------------------------------------------------------------------------

def unchanged(path, digest):
    def post():
        now = sha(path)
        return None if now == digest else "%s changed (%s -> %s)" % (path, digest and digest[:8],
                                                                     now and now[:8])
    return post


def absent(path):
    def post():
        return "%s exists" % path if os.path.lexists(path) else None
    return post


def not_planted(path):
    """Nothing planted at path: absent, or an empty regular file. A refused O_CREAT open leaves
    an empty file behind (the inode is made before lsm/file_open runs); the strict `absent`
    check of that is a case of its own."""
    def post():
        if not os.path.lexists(path):
            return None
        if os.path.islink(path) or os.path.getsize(path):
            return "%s was planted (%s)" % (path, "symlink" if os.path.islink(path) else
                                             "%d bytes" % os.path.getsize(path))
        return None
    return post


def present(path):
    def post():
        return None if os.path.lexists(path) else "%s is gone" % path
    return post


# --- driver ----------------------------------------------------------------------------------

SUITE = {}


def load_env(base):
    with open(os.path.join(base, "env.json")) as f:
        return json.load(f)


def run_cases(env, out, mode):
    global MODE
    MODE = mode
    with open(out, "w") as f:
        for c in SUITE["cases"](env):
            t0 = time.time()
            try:
                res = c.op()
            except Exception as e:  # noqa: BLE001 - a crash is a result too
                res = failed("EXC", repr(e), os.getpid())
            res["name"] = c.name
            res["ms"] = int((time.time() - t0) * 1000)
            f.write(json.dumps(res) + "\n")
            f.flush()
            print("%s %s: %s" % (mode, c.name, res["err"] or "ok"), file=sys.stderr)


def serve_outside(env, base):
    """Until BASE/t/stop appears (at most 30 min): do each requested outside action once."""
    end = time.time() + 1800
    done = set()
    while time.time() < end and not os.path.exists(os.path.join(env["T"], "stop")):
        try:
            names = os.listdir(env["T"])
        except OSError:
            names = []
        for n in names:
            if n.startswith("req-") and n[4:] not in done:
                what = n[4:]
                SUITE["outside"](env, what)
                done.add(what)
                open(os.path.join(env["T"], "done-" + what), "w").close()
        time.sleep(0.05)


def read_jsonl(path):
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


# Bypasses the kernel side does not close yet, each tracked in the policy issue (#4). A known
# gap that still fails is reported as SKIP with its reason, never as a pass; one that starts to
# pass is reported as PASS and must then be taken off this list.
KNOWN_GAPS = {
    # (none open: alias-hardlink-premade-dotenv was closed by the link inventory,
    # user/policy_links.h, which gives the multi-link files any-depth rules name an inode entry)
}


def check(env, results, events, baseline):
    res = {r["name"]: r for r in read_jsonl(results)}
    base = {r["name"]: r for r in read_jsonl(baseline)}
    evs = read_jsonl(events)
    failures = 0
    for c in SUITE["cases"](env):
        why = check_case(c, res.get(c.name), base.get(c.name), evs)
        if why and c.name in KNOWN_GAPS:
            print("SKIP %s: known bypass, not enforced yet (issue #4): %s" % (c.name, KNOWN_GAPS[c.name]))
        elif why:
            failures += 1
            print("FAIL %s: %s" % (c.name, "; ".join(why).replace("\n", " ")))
        elif c.name in KNOWN_GAPS:
            print("PASS %s (a known gap now closed: take it off KNOWN_GAPS)" % c.name)
        else:
            print("PASS %s" % c.name)
    return failures


def main(setup, cases, outside=None):
    SUITE.update(setup=setup, cases=cases, outside=outside or (lambda env, what: None))
    phase, base = sys.argv[1], os.path.abspath(sys.argv[2])
    if phase == "setup":
        env = {"BASE": base}
        for kv in sys.argv[3:]:
            k, v = kv.split("=", 1)
            env[k] = v
        setup(env)
        with open(os.path.join(base, "env.json"), "w") as f:
            json.dump(env, f)
        return 0
    env = load_env(base)
    if phase in ("run", "baseline"):
        run_cases(env, sys.argv[3], phase)
        return 0
    if phase == "outside":
        serve_outside(env, base)
        return 0
    if phase == "check":
        check(env, *sys.argv[3:6])
        return 0
    print("unknown phase %s" % phase, file=sys.stderr)
    return 2
