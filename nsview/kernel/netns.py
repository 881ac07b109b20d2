"""Run functions inside other network namespaces, on threads that come back.

With the forked children of :mod:`nsview.actions` (which join namespaces and
exec), the only place nsview calls setns (:func:`nsview.kernel.libc.setns`).

``setns(CLONE_NEWNET)`` changes the network namespace of the calling *thread*
only. Every call therefore happens on a worker thread of a
:class:`NetnsExecutor`, never on the main thread, and each worker returns to
the namespace it started in after every task, checking
``/proc/thread-self/ns/net`` to be sure. A worker that cannot return is retired
(it never runs another task) and the failure is reported, so a stray namespace
can never leak into later work, the main thread or processes spawned later.

Targets are opened by path (``/proc/PID/ns/net``, ``/proc/PID/fd/N``, a bind
mount): nothing here creates a namespace. Sockets and subprocesses created by
the task inside the target belong to the target, because both take the
namespace of the thread that creates them.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from nsview.kernel.libc import CLONE_NEWNET, setns

__all__ = [
    "Entered",
    "NetnsDenied",
    "NetnsExecutor",
    "NetnsGone",
    "NetnsTarget",
    "RestoreFailed",
    "thread_netns_inode",
]

T = TypeVar("T")


class NetnsGone(Exception):
    """The target namespace no longer exists (or is no longer behind its paths)."""


class NetnsDenied(NetnsGone):
    """We may not open or enter the target (EACCES/EPERM), e.g. /proc/1/ns/net.

    ``cause`` says why in words that are the same for every namespace, so a
    non-root run reports one line, not one per namespace.
    """

    def __init__(self, message: str, cause: str = "permission denied") -> None:
        super().__init__(message)
        self.cause = cause


class RestoreFailed(Exception):
    """A worker could not get back to its own namespace; it has been retired."""


@dataclass(slots=True, frozen=True)
class NetnsTarget:
    """A network namespace to enter: its inode and the paths that open it.

    The inode guards against reuse: ``/proc/PID/ns/net`` of a PID that exited
    and was recycled opens some *other* namespace, which is then refused.
    """

    inode: int
    paths: tuple[str, ...]


@dataclass(slots=True)
class Entered:
    """What a task sees while inside the target: its inode and an open fd on it."""

    inode: int
    fd: int
    path: str


def thread_netns_inode() -> int:
    """The inode of the calling thread's network namespace."""
    return os.stat("/proc/thread-self/ns/net").st_ino


def _setns(fd: int) -> None:
    setns(fd, CLONE_NEWNET)


def open_target(target: NetnsTarget) -> tuple[int, str]:
    """An fd on the target namespace and the path that opened it; NetnsGone if none does."""
    reasons: list[str] = []
    denied = 0
    for path in target.paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            reasons.append(f"{path}: {exc.strerror}")
            denied += exc.errno in (errno.EACCES, errno.EPERM)
            continue
        try:
            st = os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            reasons.append(f"{path}: {exc.strerror}")
            continue
        if st.st_ino != target.inode:
            os.close(fd)
            reasons.append(f"{path}: now net:[{st.st_ino}]")
            continue
        return fd, path
    why = "; ".join(reasons) if reasons else "no path to open it"
    if denied and denied == len(target.paths):
        raise NetnsDenied(
            f"net:[{target.inode}]: cannot open ({why})", cause="cannot open its paths (EACCES)"
        )
    raise NetnsGone(f"net:[{target.inode}] is gone ({why})")


_STOP = object()


class _Worker(threading.Thread):
    def __init__(self, executor: NetnsExecutor, number: int) -> None:
        super().__init__(name=f"nsview-netns-{number}", daemon=True)
        self.executor = executor

    def run(self) -> None:
        try:
            home_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            home_inode = os.fstat(home_fd).st_ino
        except OSError as exc:
            self.executor._worker_retired(self, f"cannot open own netns: {exc.strerror}")
            return
        try:
            while True:
                item = self.executor._tasks.get()
                if item is _STOP:
                    return
                future, target, fn = item
                if not future.set_running_or_notify_cancel():
                    continue
                restored = self._run_one(future, target, fn, home_fd, home_inode)
                if not restored:
                    return
        finally:
            os.close(home_fd)

    def _run_one(
        self, future: Future, target: NetnsTarget, fn: Callable, home_fd: int, home_inode: int
    ) -> bool:
        """Run one task; False when this thread must not run another."""
        try:
            fd, path = open_target(target)
        except NetnsGone as exc:
            future.set_exception(exc)
            return True
        entered = False
        result: Any = None
        error: BaseException | None = None
        try:
            # Already there (the collector's own netns): no setns, so nothing to undo —
            # and an unprivileged user can still read the namespace they are in.
            if target.inode != home_inode:
                try:
                    _setns(fd)
                except OSError as exc:
                    if exc.errno in (errno.EINVAL, errno.EBADF):
                        raise NetnsGone(f"net:[{target.inode}]: {path} is not a netns") from None
                    if exc.errno == errno.EPERM:
                        raise NetnsDenied(
                            f"net:[{target.inode}]: setns: {os.strerror(exc.errno or 0)}",
                            cause="entering needs CAP_SYS_ADMIN (run as root)",
                        ) from None
                    raise
                entered = True
            result = fn(Entered(inode=target.inode, fd=fd, path=path))
        except BaseException as exc:  # handed to the caller through the future
            error = exc
        finally:
            os.close(fd)
            restored = not entered or self._go_home(home_fd, home_inode)
        if not restored:
            problem = RestoreFailed(
                f"thread {self.name} could not return to net:[{home_inode}] after"
                f" net:[{target.inode}]; it was retired"
            )
            self.executor._worker_retired(self, str(problem))
            # The task's own error, if any, says more; otherwise the caller learns of the
            # retirement rather than getting a result from a thread in an unknown state.
            future.set_exception(error or problem)
            return False
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
        return True

    @staticmethod
    def _go_home(home_fd: int, home_inode: int) -> bool:
        try:
            _setns(home_fd)
            return thread_netns_inode() == home_inode
        except OSError:
            return False


class NetnsExecutor:
    """A small pool of threads that run functions inside network namespaces.

    ``submit(target, fn)`` returns a Future; ``fn(entered)`` runs on a worker
    that is inside ``target`` for the duration of the call. Use as a context
    manager, or call :meth:`shutdown`.
    """

    def __init__(self, workers: int = 2) -> None:
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._spawned = 0
        self.retired: list[str] = []  # why each retired worker was retired
        self._closed = False
        self._broken: str | None = None
        # Retired workers are replaced, but not endlessly if every new one fails too.
        self._replacements_left = 4 * max(1, workers)
        for _ in range(max(1, workers)):
            self._start_worker()

    def _start_worker(self) -> None:
        self._spawned += 1
        worker = _Worker(self, self._spawned)
        self._workers.append(worker)
        worker.start()

    def _worker_retired(self, worker: _Worker, reason: str) -> None:
        with self._lock:
            self.retired.append(reason)
            if worker in self._workers:
                self._workers.remove(worker)
            if self._closed:
                return
            if self._replacements_left > 0:
                self._replacements_left -= 1
                self._start_worker()  # keep the pool size; the broken thread just ends
                return
            if self._workers:
                return
            # Threads keep failing (no /proc/thread-self?): stop instead of spawning
            # forever, and fail what is queued so no caller waits for ever.
            self._broken = reason
        self._fail_queued(RestoreFailed(f"no worker left to enter namespaces: {reason}"))

    def _fail_queued(self, error: BaseException) -> None:
        while True:
            try:
                item = self._tasks.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP and item[0].set_running_or_notify_cancel():
                item[0].set_exception(error)

    def submit(self, target: NetnsTarget, fn: Callable[[Entered], T]) -> Future:
        if self._closed:
            raise RuntimeError("executor is shut down")
        future: Future = Future()
        with self._lock:  # against the last worker retiring between the check and the put
            if self._broken is None:
                self._tasks.put((future, target, fn))
                return future
        future.set_exception(RestoreFailed(f"no worker left: {self._broken}"))
        return future

    def map(
        self, targets: Iterable[NetnsTarget], fn: Callable[[Entered], T]
    ) -> list[tuple[NetnsTarget, Future]]:
        return [(t, self.submit(t, fn)) for t in targets]

    def shutdown(self, cancel_pending: bool = False) -> None:
        """Stop the workers after their current task; with ``cancel_pending`` the tasks
        not started yet are cancelled instead of run (Ctrl-C should not wait for 500
        namespaces)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers)
        if cancel_pending:
            while True:
                try:
                    item = self._tasks.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    item[0].cancel()
        for _ in workers:
            self._tasks.put(_STOP)
        for worker in workers:
            worker.join()

    def __enter__(self) -> NetnsExecutor:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.shutdown(cancel_pending=exc_type is not None)
