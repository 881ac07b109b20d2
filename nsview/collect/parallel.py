"""Read a list of /proc entries on two cores: a forked helper and the caller share it.

Reading /proc is bound by system calls and the GIL serialises threads, so a
large walk runs in two processes. The helper is forked by :meth:`SharedWalk.start`
and reads from the front of the list at once; the caller reads from the back
when it calls :meth:`SharedWalk.finish`, and the two meet wherever their
speeds put the middle. ``nsview dump`` starts the walk before it has imported
the rest of nsview, so the helper reads while the parent is still starting up.

The meeting point lives in two counters in a shared anonymous mapping: each
side publishes the next index it will take before reading it, and stops when
the other side has taken everything left. A stale read of the other counter
can only make both sides read the same item (kept once), never skip one.

The helper sends its results back through a pipe (``marshal``: plain values
only, and no import cost). Forking is only done when this process has a
single thread (the CLI); a threaded caller such as the TUI's worker reads
everything inline, since a fork there could copy a lock held by another
thread. If the helper dies, the caller reads its part too.
"""

from __future__ import annotations

import marshal
import mmap
import os
import sys

from nsview.kernel.mountinfo import WalkReader
from nsview.kernel.procfs import list_pids

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (~4 ms) here
if TYPE_CHECKING:
    from collections.abc import Callable

# Below this many items a fork costs more than it saves.
MIN_ITEMS_TO_SHARE = 200
# finish(check) calls check() once every this many items it reads itself.
CHECK_EVERY = 64

_FRONT, _BACK = 0, 1  # slots of the shared counters: next index each side will take

# signal.SIGKILL on Linux; the signal module would load enum (~8 ms of an early start).
_SIGKILL = 9


class SharedWalk:
    """``[read_one(item) for item in items]``, computed by two processes.

    ``read_one`` must return marshal-able values (tuples, lists, dicts, str,
    int, None) and may keep state between calls (each process has its own copy).
    """

    def __init__(self, read_one, items: list) -> None:
        self.read_one = read_one
        self.items = items
        self._child: int | None = None
        self._pipe: int | None = None
        self._cursor: memoryview | None = None
        self._mapping: mmap.mmap | None = None
        self.plan: dict = {}  # what start_task_walk's reader reads (see walk_plan)

    def start(self) -> SharedWalk:
        """Fork the helper (when it pays and is safe); it starts reading at once."""
        if (
            self._child is not None
            or len(self.items) < MIN_ITEMS_TO_SHARE
            or (os.cpu_count() or 1) < 2
            or not _single_threaded()
        ):
            return self
        self._mapping = mmap.mmap(-1, 16)  # anonymous and MAP_SHARED: seen by both
        cursor = self._mapping_view()
        cursor[_FRONT], cursor[_BACK] = 0, len(self.items) - 1
        read_end, write_end = os.pipe()
        try:
            child = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            self._release_mapping(cursor)
            return self
        if child == 0:  # pragma: no cover - runs in the forked helper
            os.close(read_end)
            _helper(self.read_one, self.items, cursor, write_end)
        os.close(write_end)
        self._child, self._pipe, self._cursor = child, read_end, cursor
        return self

    def finish(self, check: Callable[[], None] | None = None) -> list:
        """Every item's result, in item order (the caller reads its share now).

        ``check`` is called every CHECK_EVERY items read here and may raise to
        stop the walk (the helper is then stopped too).
        """
        try:
            return self._finish(check)
        finally:
            self.cancel()  # a no-op once the helper's results are in

    def _finish(self, check: Callable[[], None] | None) -> list:
        items, read_one = self.items, self.read_one
        if self._child is None:
            return [_checked(read_one(item), index, check) for index, item in enumerate(items)]
        cursor = self._cursor
        assert cursor is not None and self._pipe is not None
        mine = []
        index = len(items) - 1
        while index >= cursor[_FRONT]:
            cursor[_BACK] = index - 1
            mine.append(_checked(read_one(items[index]), index, check))
            index -= 1
        first_mine = index + 1
        try:
            theirs = _receive(self._pipe)
        finally:
            self._close()
        if theirs is None:  # the helper died: read what it had taken
            theirs = [read_one(item) for item in items[:first_mine]]
        mine.reverse()
        # Where both read the same items (a race at the meeting point), keep the helper's.
        overlap = len(theirs) - first_mine
        return theirs + mine[overlap:] if overlap > 0 else theirs + mine

    def cancel(self) -> None:
        """Stop the helper, if any, and forget its work (safe to call twice)."""
        if self._child is not None:
            _kill(self._child)
            self._close()

    def _mapping_view(self) -> memoryview:
        assert self._mapping is not None
        return memoryview(self._mapping).cast("q")

    def _release_mapping(self, cursor: memoryview) -> None:
        cursor.release()
        if self._mapping is not None:
            self._mapping.close()
            self._mapping = None

    def _close(self) -> None:
        child, self._child = self._child, None
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self._cursor is not None:
            self._release_mapping(self._cursor)
            self._cursor = None
        if child is None:
            return
        try:
            os.waitpid(child, 0)
        except ChildProcessError:
            return  # reaped already (SIGCHLD ignored)


def walk_plan(
    types: tuple[str, ...] | None = None,
    detail_pids: tuple[int, ...] | None = None,
    one_netns: bool = False,
) -> dict:
    """WalkReader's arguments for what a collection asks (the less, the less is read).

    ``types``: only these namespace types; ``detail_pids``: cmdline and cgroup of
    these processes only; ``one_netns``: one network namespace (``nsview net``):
    net links, and mnt ones to know who shares this process's mount table (its
    ip netns and Docker names), but no mount table read during the walk.
    """
    plan: dict = {}
    if one_netns:
        plan["types"] = ("net", "mnt")
        plan["mount_tables"] = False
    elif types is not None:
        plan["types"] = tuple(types)
    if detail_pids is not None:
        plan["details"] = frozenset(detail_pids)
    return plan


def start_task_walk(proc: str, **plan) -> SharedWalk:
    """Begin reading every process of ``proc``, and each mount namespace's table, with
    :class:`~nsview.kernel.mountinfo.WalkReader`: a forked helper starts at once;
    ``.finish()`` gives (TaskRecord tuple, mount table result) in pid order.

    ``plan``: WalkReader's types, details and mount_tables (see walk_plan), kept
    as the walk's ``plan``. Raises OSError when ``proc`` cannot be listed.
    """
    walk = SharedWalk(WalkReader(proc, **plan), list_pids(proc))
    walk.plan = plan
    return walk.start()


def _checked(result, index: int, check: Callable[[], None] | None):
    if check is not None and index % CHECK_EVERY == 0:
        check()
    return result


def _kill(pid: int) -> None:
    """SIGKILL ``pid``; gone already (reaped by the kernel when SIGCHLD is ignored) is fine."""
    try:
        os.kill(pid, _SIGKILL)
    except ProcessLookupError:
        return


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


def _helper(read_one, items: list, cursor: memoryview, write_end: int) -> None:  # pragma: no cover
    status = 1
    try:
        results = []
        index = 0
        while index <= cursor[_BACK]:
            cursor[_FRONT] = index + 1
            results.append(read_one(items[index]))
            index += 1
        data = marshal.dumps(results)
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
        return None  # a truncated message: the helper died mid-write
