"""A lab "container" process, run as ``python -I _payload.py LABEL``.

Loads nothing of nsview but the kernel floor (its system calls).

Reads a JSON spec on stdin, then:

1. moves itself into the lab cgroup named by the spec (children inherit it);
2. ``unshare``s the namespaces listed in ``spec["unshare"]`` (joined namespaces
   were entered by ``nsenter`` before this program started);
3. forks: the child becomes the container's main process (pid 1 of its own pid
   namespace when ``pid`` is unshared), sets its hostname, makes its mount tree
   private, detaches inherited nsfs bind mounts, mounts a fresh ``/proc``, sets
   ``comm`` (``nginx``, ``redis-server``…), opens its listening socket and, for
   the fd holder, creates a network namespace kept alive only by an open fd;
4. the parent prints ``{"pid": <child's pid as the lab sees it>, ...}`` and exits,
   so the child is daemonized (own session, stdio on /dev/null, stderr on the lab
   log) and outlives ``nsview lab up``.

Roles: ``sleep`` (wait for a signal), ``http`` (answers GET with a line naming
the container), ``tcp`` (sends ``banner`` to each client and closes).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys

# Run as a file under -I (no PYTHONPATH, no script directory): find the package
# this file belongs to, for the kernel floor's system calls.
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _PACKAGE_ROOT not in sys.path:
    sys.path.insert(0, _PACKAGE_ROOT)

from nsview.kernel import libc  # noqa: E402
from nsview.kernel.nstypes import CLONE_FLAGS  # noqa: E402
from nsview.kernel.procfs import unescape_mountinfo  # noqa: E402


def _detach_nsfs_mounts() -> None:
    """Drop copies of the host's netns bind mounts from this private mount tree.

    A container never sees the host's /run/netns; leaving the copies would also
    keep those namespaces alive as long as this mount namespace lives.
    """
    with open("/proc/self/mountinfo") as f:
        lines = f.read().splitlines()
    points = []
    for line in lines:
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "nsfs":
            points.append(unescape_mountinfo(left.split(" ")[4]))
    for point in reversed(points):
        with contextlib.suppress(OSError):
            libc.umount2(point, libc.MNT_DETACH)


def _hold_new_netns() -> int:
    """Create a network namespace referenced only by an fd of this process."""
    r, w = os.pipe()
    ready_r, ready_w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(w)
            os.close(ready_r)
            libc.unshare(CLONE_FLAGS["net"])
            os.write(ready_w, b"1")
            os.read(r, 1)  # returns at EOF: the parent holds the namespace now
        finally:
            os._exit(0)
    os.close(r)
    os.close(ready_w)
    if os.read(ready_r, 1) != b"1":
        raise OSError("fd-holder child failed to create its netns")
    fd = os.open(f"/proc/{child}/ns/net", os.O_RDONLY)
    os.close(w)
    os.close(ready_r)
    os.waitpid(child, 0)
    return fd


def _listener(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    sock.listen(16)
    return sock


def _serve_http(sock: socket.socket, spec: dict) -> None:
    body = f"nsvlab {spec['name']} ({spec['comm']}) on {os.uname().nodename}\n".encode()
    while True:
        conn, _ = sock.accept()
        with conn:
            conn.settimeout(2)
            try:
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 8192:
                    chunk = conn.recv(1024)
                    if not chunk:
                        break
                    data += chunk
                head = (
                    "HTTP/1.0 200 OK\r\nServer: {}\r\nContent-Type: text/plain\r\n"
                    "Content-Length: {}\r\nConnection: close\r\n\r\n"
                ).format(spec["comm"], len(body))
                conn.sendall(head.encode() + body)
            except OSError:
                pass


def _serve_tcp(sock: socket.socket, spec: dict) -> None:
    banner = (spec.get("banner") or spec["comm"]).encode() + b"\r\n"
    while True:
        conn, _ = sock.accept()
        with conn, contextlib.suppress(OSError):
            conn.sendall(banner)


def _child(spec: dict, report_w: int, log_fd: int) -> None:
    os.setsid()
    os.chdir("/")  # a daemon must not pin the directory `lab up` ran in
    unshared = set(spec.get("unshare", ()))
    if "mnt" in unshared:
        _detach_nsfs_mounts()
        if "pid" in unshared:
            libc.mount("proc", "/proc", "proc", libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC)
    if "uts" in unshared and spec.get("hostname"):
        socket.sethostname(spec["hostname"])
    with contextlib.suppress(OSError):
        libc.set_name(spec["comm"])
    extra: dict = {}
    sock = None
    if spec.get("port"):
        sock = _listener(int(spec["port"]))
    if spec.get("hold_netns_fd"):
        extra["netns_fd"] = _hold_new_netns()
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(log_fd, 2)
    os.close(null)
    os.close(log_fd)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    os.write(report_w, json.dumps({"ok": True, **extra}).encode())
    os.close(report_w)
    role = spec.get("role", "sleep")
    if role == "http" and sock is not None:
        _serve_http(sock, spec)
    elif role == "tcp" and sock is not None:
        _serve_tcp(sock, spec)
    while True:
        signal.pause()


def main() -> int:
    spec = json.loads(sys.stdin.read())
    log_fd = os.dup(2)
    if spec.get("cgroup"):
        with open(os.path.join(spec["cgroup"], "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    flags = 0
    for name in spec.get("unshare", ()):
        flags |= CLONE_FLAGS[name]
    if flags:
        libc.unshare(flags)
    if "mnt" in spec.get("unshare", ()):
        # Never let the container's mounts propagate back to the lab's host.
        libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(report_r)
        try:
            _child(spec, report_w, log_fd)
        except BaseException as exc:  # report, never return into the parent's code
            try:
                os.write(report_w, json.dumps({"ok": False, "error": str(exc)}).encode())
            finally:
                os._exit(1)
        os._exit(0)
    os.close(report_w)
    data = b""
    while True:
        chunk = os.read(report_r, 4096)
        if not chunk:
            break
        data += chunk
    try:
        msg = json.loads(data.decode() or "{}")
    except ValueError:
        msg = {}
    if not msg.get("ok"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        print(json.dumps({"ok": False, "error": msg.get("error", "container process died")}))
        return 1
    msg["pid"] = pid
    print(json.dumps(msg), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
