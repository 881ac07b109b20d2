"""The lab's state file: a write-ahead record of everything ``lab up`` makes.

Every object is recorded *before* it is created and the file is replaced
atomically after each change, so a crash at any point leaves a record that
``lab down`` can work from. ``lab down`` also sweeps by name prefix and by the
environment marker of lab processes, so even an object created between its
record and a crash (a process whose pid was not yet written) is found.

Test hook: ``NSVIEW_LAB_STOP_AFTER=N`` makes the process SIGKILL itself at the
N-th record/update, to simulate a crash half-way through ``lab up``;
``N:TERM`` (any signal name) sends that signal instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

from nsview.lab import topology as topo

STATE_VERSION = 1
STOP_AFTER_ENV = "NSVIEW_LAB_STOP_AFTER"


class StateFile:
    def __init__(self, data: dict[str, Any] | None = None, path: str = topo.STATE_FILE) -> None:
        self.path = path
        self.data: dict[str, Any] = data or {}
        self._ticks = 0
        count, _, sig = os.environ.get(STOP_AFTER_ENV, "").partition(":")
        self._stop_after = int(count) if count.isdigit() else None
        self._stop_signal = getattr(signal, f"SIG{sig}", signal.SIGKILL) if sig else signal.SIGKILL

    # -- reading -------------------------------------------------------------
    @classmethod
    def load(cls, path: str = topo.STATE_FILE) -> StateFile | None:
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            # A torn or foreign file: keep what can be known (nothing) and let the
            # prefix sweep of `lab down` do the work.
            return cls({"version": STATE_VERSION, "objects": [], "corrupt": True}, path)
        if not isinstance(data, dict):
            data = {"objects": [], "corrupt": True}
        data.setdefault("objects", [])
        return cls(data, path)

    @classmethod
    def new(cls, lab_id: str) -> StateFile:
        st = cls(
            {
                "version": STATE_VERSION,
                "lab_id": lab_id,
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "complete": False,
                "objects": [],
                "containers": {},
                "warnings": [],
            }
        )
        return st

    @property
    def objects(self) -> list[dict[str, Any]]:
        return self.data.setdefault("objects", [])

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]

    # -- writing -------------------------------------------------------------
    def record(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Append an object (before creating it) and persist; returns the entry."""
        entry = {"kind": kind, "done": False, **fields}
        self.objects.append(entry)
        self.save()
        return entry

    def done(self, entry: dict[str, Any], **fields: Any) -> None:
        entry.update(fields)
        entry["done"] = True
        self.save()

    def save(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = f"{self.path}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, self.path)
        self._tick()

    def tick(self) -> None:
        """A crash point without a write (e.g. a process started, pid not yet saved)."""
        self._tick()

    def _tick(self) -> None:
        self._ticks += 1
        if self._stop_after is not None and self._ticks == self._stop_after:
            os.kill(os.getpid(), self._stop_signal)


@contextlib.contextmanager
def lab_lock() -> Iterator[None]:
    """Serialize lab up/down across processes: flock on the run directory.

    ``lab down`` removes the directory while holding the lock, so a waiter may
    wake up holding a lock on a deleted directory while a newcomer locks a new
    one; after acquiring, check that the path still is the locked inode, else
    retry.
    """
    while True:
        os.makedirs(topo.RUN_DIR, exist_ok=True)
        try:
            fd = os.open(topo.RUN_DIR, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            now = os.stat(topo.RUN_DIR)
        except FileNotFoundError:
            now = None
        held = os.fstat(fd)
        if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)
