"""Run a function in a network namespace owned by another user namespace, as
``nsenter -U -n`` does: in a forked child that joins the user namespace first.

A rootless container's netns is owned by its user namespace. Its owner (the
unprivileged user who ran podman) has no CAP_SYS_ADMIN over it from outside,
so ``setns(CLONE_NEWNET)`` on a :mod:`~nsview.kernel.netns` worker is refused
(EPERM); inside that user namespace the owner has every capability, and the
kernel allows joining it. Joining a user namespace needs a single-threaded
caller, so it happens in a child forked for the purpose (the collector has
threads): the child joins the user namespace, then the netns, calls the
function and sends its pickled result back through a pipe, then ``_exit``\\ s.
The parent's namespaces never change. The child is reaped (and killed when
it takes longer than ``timeout``).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from typing import TypeVar

from nsview.kernel.libc import setns
from nsview.kernel.nstypes import CLONE_FLAGS

__all__ = ["UsernsFailed", "run_in_userns"]

T = TypeVar("T")
CLONE_NEWUSER = CLONE_FLAGS["user"]
CLONE_NEWNET = CLONE_FLAGS["net"]


class UsernsFailed(Exception):
    """The child could not join, or the function raised there (the message says which)."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


def run_in_userns(user_path: str, net_path: str, fn: Callable[[], T],
                  timeout: float = 30.0) -> T:
    """``fn()`` run inside the user namespace at ``user_path`` and then the
    network namespace at ``net_path`` (nsfs paths such as ``/proc/PID/ns/user``);
    its result must pickle. UsernsFailed when joining fails or ``fn`` raises."""
    user_fd = os.open(user_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        net_fd = os.open(net_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        os.close(user_fd)
        raise
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:  # the child: one thread, whatever the parent had
            os.close(read_end)
            _child(user_fd, net_fd, write_end, fn)
    finally:
        os.close(user_fd)
        os.close(net_fd)
        os.close(write_end)
    try:
        data = _read_all(read_end, pid, timeout)
    finally:
        os.close(read_end)
        _reap(pid)
    try:
        kind, value, errno = pickle.loads(data)
    except Exception as exc:
        raise UsernsFailed(f"the child sent nothing usable ({type(exc).__name__})") from None
    if kind != "ok":
        raise UsernsFailed(value, errno)
    return value


def _child(user_fd: int, net_fd: int, out: int, fn: Callable[[], T]) -> None:
    status = 0
    try:
        try:
            setns(user_fd, CLONE_NEWUSER)
            setns(net_fd, CLONE_NEWNET)
            payload = ("ok", fn(), None)
        except OSError as exc:
            payload = ("error", f"{type(exc).__name__}: {exc.strerror or exc}", exc.errno)
        except BaseException as exc:
            payload = ("error", f"{type(exc).__name__}: {exc}", None)
        try:
            data = pickle.dumps(payload)
        except Exception as exc:
            data = pickle.dumps(("error", f"result does not pickle: {exc}", None))
        view = memoryview(data)
        while view:
            view = view[os.write(out, view):]
    except BaseException:
        status = 1
    finally:
        os._exit(status)


def _read_all(fd: int, pid: int, timeout: float) -> bytes:
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            raise UsernsFailed(f"the child took longer than {timeout:g} s")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
