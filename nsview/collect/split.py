"""Run a /proc-reading function over a list on both cores, by forking once.

Reading /proc is syscall-bound and the GIL serialises threads, so the walk of
a large host runs in two processes: a forked child reads one half and sends
its results back through a pipe (``marshal``: plain values only, and no import
cost) while the parent reads the other half. Forking
is only done when this process has a single thread (the CLI); a threaded
caller such as the TUI's worker reads inline, since a fork there could copy a
lock held by another thread.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Below this many items a fork costs more than it saves.
MIN_ITEMS_TO_SPLIT = 200


def split_map(fn: Callable[[list[T]], list[R]], items: list[T]) -> list[R]:
    """``fn(items)``, computed as ``fn(first half) + fn(second half)`` in two processes.

    ``fn`` must return marshal-able values (tuples, lists, dicts, str, int, None).
    """
    if len(items) < MIN_ITEMS_TO_SPLIT or not _single_threaded() or os.cpu_count() == 1:
        return fn(items)
    half = len(items) // 2
    read_end, write_end = os.pipe()
    try:
        child = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return fn(items)
    if child == 0:  # pragma: no cover - runs in the forked child
        _child(fn, items[half:], read_end, write_end)
    os.close(write_end)
    try:
        first = fn(items[:half])
        second = _receive(read_end)
    finally:
        os.close(read_end)
        _reap(child)
    if second is None:  # the child died: read its half here
        second = fn(items[half:])
    return first + second


def _single_threaded() -> bool:
    """True when this process has one thread, counted by the kernel (C threads too).

    Without /proc, ask the threading module; a program that never imported it
    started no Python thread (and importing it just to ask costs ~1 ms).
    """
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        threading = sys.modules.get("threading")
        return threading is None or threading.active_count() == 1


def _child(fn: Callable, items: list, read_end: int, write_end: int) -> None:  # pragma: no cover
    status = 1
    try:
        os.close(read_end)
        data = marshal.dumps(fn(items))
        view = memoryview(data)
        while view:
            view = view[os.write(write_end, view) :]
        status = 0
    finally:
        os._exit(status)  # never run the parent's atexit handlers or finally blocks


def _receive(read_end: int) -> list | None:
    chunks = []
    while chunk := os.read(read_end, 1 << 20):
        chunks.append(chunk)
    if not chunks:
        return None
    try:
        return marshal.loads(b"".join(chunks))
    except (EOFError, ValueError, TypeError):
        return None  # a truncated message: the child died mid-write


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
