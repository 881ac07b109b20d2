"""Snapshots one after another, each re-reading only what may have changed (the TUI's source).

A cold collection on a large host reads ~25 system calls per process, every
mount table and every network namespace. Between two refreshes of a live
view almost none of it changes, and the kernel can say what did:

- **processes**: each known process keeps an open ``/proc/PID`` directory.
  Reads through it fail once that process is gone, even if its pid was
  reused, so (pid, open directory) is (pid, start time) without reading
  ``stat``. A process still there whose namespace links read the same keeps
  its record (status, cmdline, cgroup, fds, threads); anything else is read
  in full;
- **mount tables**: kept open (kernel.mountinfo.MountWatch); one ``poll()``
  over all of them says which changed, and only those are read again;
- **network**: per network namespace, rtnetlink and nf_tables multicast
  sockets (kernel.netwatch) report link, address, route, rule and nftables
  changes (iptables-nft included). When no namespace reports anything, the
  set of network namespaces is the same and none uses legacy iptables
  (which sends no events), the network state is carried over; otherwise it is
  read again in full.

When in doubt it reads everything: every FULL_EVERY-th collection is a cold
one, which also catches what sends no event (a sysctl, a thread that joined
another namespace, an fd opened by an old process, pid/time_for_children
after an unshare, sockets and conntrack). A refresh that finds nothing
changed hands back the snapshot it gave before (collected_at updated), so
its reader can keep what it built from it.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import replace

from nsview.collect.snapshot import CollectOptions, collect_snapshot
from nsview.kernel.mountinfo import MountTableReader, MountWatch
from nsview.kernel.nstypes import NS_TYPES
from nsview.kernel.procfs import TaskReader, TaskRecord, list_pids
from nsview.model import Snapshot

# Every this many collections, one reads everything (the safety net for what
# sends no event). At the TUI's default 5 s interval: once a minute.
FULL_EVERY = 12

_NS_FIELD = TaskRecord.FIELDS.index("ns")
_KTHREAD_FIELD = TaskRecord.FIELDS.index("kthread")
_LINK_NAMES = tuple(f"ns/{t}" for t in NS_TYPES)


class _Known:
    """A process read before: its open /proc/PID directory and its record's values."""

    __slots__ = ("dirfd", "values")

    def __init__(self, dirfd: int, values: tuple) -> None:
        self.dirfd = dirfd
        self.values = values


class IncrementalWalk:
    """The /proc walk with memory: ``begin()`` before each collection, which then
    calls ``finish()`` like collect.parallel.SharedWalk's (it runs in the caller)."""

    def __init__(self, proc: str = "/proc") -> None:
        self.proc = proc
        self.mounts = MountWatch()
        self._known: dict[int, _Known] = {}
        self._full = True
        self.reread = 0  # processes read in full by the last walk (for tests and benchmarks)
        self.changed = True  # whether the last walk found anything different

    def begin(self, full: bool) -> IncrementalWalk:
        self._full = full
        return self

    def finish(self, check: Callable[[], None] | None = None) -> list:
        proc = self.proc
        pids = list_pids(proc)
        if self._full:
            self._forget()
        self.mounts.poll(everything=self._full)
        tasks = TaskReader(proc)
        mounts = MountTableReader(proc, self.mounts)
        known, now = self._known, {}
        results = []
        self.reread = 0
        for index, pid in enumerate(pids):
            if check is not None and index % 64 == 0:
                check()
            values = None
            entry = known.pop(pid, None)
            if entry is not None:
                if _links_unchanged(entry.dirfd, entry.values):
                    values = entry.values
                    now[pid] = entry
                else:
                    os.close(entry.dirfd)
            if values is None:
                self.reread += 1
                values = self._read(tasks, pid, now)
            ns = values[_NS_FIELD]
            table = None
            if ns is not None and not values[_KTHREAD_FIELD] and "mnt" in ns:
                table = mounts.read(pid, ns["mnt"])
            results.append((values, table))
        for entry in known.values():  # exited since the last walk
            os.close(entry.dirfd)
        # Nothing came, went, moved or remounted: the last snapshot still holds.
        self.changed = bool(self.reread or known or self.mounts.reads)
        self._known = now
        self.mounts.keep_only(
            values[_NS_FIELD]["mnt"]
            for values, _table in results
            if values[_NS_FIELD] and "mnt" in values[_NS_FIELD]
        )
        return results

    def _read(self, tasks: TaskReader, pid: int, now: dict[int, _Known]) -> tuple:
        # The directory first: if the pid is reused between the two, the next walk's
        # reads through it fail and the new process is read again.
        try:
            dirfd = os.open(f"{self.proc}/{pid}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            dirfd = None
        values = tasks.read(pid).as_tuple()
        if dirfd is not None:
            if values[1] is None:  # its status was read (its links may be denied): keep it
                now[pid] = _Known(dirfd, values)
            else:
                os.close(dirfd)
        return values

    def _forget(self) -> None:
        for entry in self._known.values():
            os.close(entry.dirfd)
        self._known = {}

    def cancel(self) -> None:
        """Nothing runs in the background (the collection's cancel path calls it)."""

    def close(self) -> None:
        self._forget()
        self.mounts.close()


def _links_unchanged(dirfd: int, values: tuple) -> bool:
    """True when the process behind ``dirfd`` is alive and in the same namespaces.

    Its eight links are read again; a kernel thread never changes namespace, so
    one read tells it is still there, as it does for a process whose links are
    denied (still denied: unchanged). pid/time_for_children (which change only
    when a process unshares a pid or time namespace for its future children)
    are left to the next full collection.
    """
    ns = values[_NS_FIELD]
    try:
        if ns is None:  # its links were denied (PID 1 here): still there, still denied?
            try:
                os.readlink(_LINK_NAMES[0], dir_fd=dirfd)
            except PermissionError:
                return True
            return False
        if values[_KTHREAD_FIELD]:
            os.readlink(_LINK_NAMES[0], dir_fd=dirfd)
            return True
        for ns_type, name in zip(NS_TYPES, _LINK_NAMES, strict=True):
            inode = ns.get(ns_type)
            target = os.readlink(name, dir_fd=dirfd)
            if inode is None or int(target[len(ns_type) + 2 : -1]) != inode:
                return False
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ESRCH, errno.EACCES, errno.EPERM):
            return False
        raise
    except ValueError:
        return False
    return True


class NetworkCarry:
    """Carries each network namespace's state over while it reports no change.

    collect_snapshot asks :meth:`carry` after the walk which namespaces to
    read, reads those (their peers' links too), then calls :meth:`remember`.
    """

    WORKERS = 2

    def __init__(self) -> None:
        self._watches: dict[int, object] = {}  # inode -> kernel.netwatch.NetnsWatch
        self._states: dict[int, object] = {}  # inode -> NetState of the last full read
        # What the last collection did (for tests and benchmarks).
        self.carried = False  # every namespace carried over
        self.last_read: frozenset[int] = frozenset()  # the namespaces read

    def carry(self, snapshot: Snapshot, table) -> frozenset[int]:
        """Set ``ns.net`` from the last read where nothing changed; the inodes left to read.

        Read again: namespaces new since the last read, those that reported a
        change or cannot be watched, and those with legacy iptables tables.
        """
        nets = [ns for ns in snapshot.namespaces if ns.type == "net"]
        inodes = {ns.inode for ns in nets}
        self._watch_only(inodes, table, nets)
        # Drain every watch: what arrived before the read that follows is in that read.
        changed = {
            inode for inode, watch in self._watches.items() if watch.changed() or watch.legacy
        }
        stale = (inodes - set(self._states)) | (inodes - set(self._watches)) | changed
        for ns in nets:
            if ns.inode not in stale:
                ns.net = self._states[ns.inode]
        self.last_read = frozenset(stale)
        self.carried = not stale
        return self.last_read

    @property
    def watched(self) -> set[int]:
        return set(self._watches)

    def remember(self, snapshot: Snapshot) -> None:
        """What each network namespace holds now (read or carried)."""
        self._states = {
            ns.inode: ns.net for ns in snapshot.namespaces if ns.type == "net" and ns.net
        }

    def forget(self) -> None:
        self._states = {}

    def _watch_only(self, inodes: set[int], table, nets) -> None:
        for inode in set(self._watches) - inodes:  # a watch keeps its netns alive: let go
            self._watches.pop(inode).close()
        new = [ns for ns in nets if ns.inode not in self._watches]
        if not new:
            return
        from nsview.kernel.netns import NetnsExecutor, NetnsTarget
        from nsview.kernel.netwatch import open_watch

        with NetnsExecutor(self.WORKERS) as pool:
            futures = [
                (ns.inode, pool.submit(NetnsTarget(ns.inode, tuple(table.opener_paths(ns))),
                                       lambda _entered: open_watch()))
                for ns in new
            ]
            for inode, future in futures:
                try:
                    self._watches[inode] = future.result()
                except Exception:  # gone or denied: without a watch it is read every time
                    continue

    def close(self) -> None:
        for watch in self._watches.values():
            watch.close()
        self._watches = {}
        self._states = {}


class IncrementalCollector:
    """``collect()`` gives a snapshot like collect_snapshot(options) would, cheaply.

    Not thread-safe: one collection at a time (the TUI's refresh worker).
    """

    def __init__(
        self,
        options: CollectOptions | None = None,
        full_every: int = FULL_EVERY,
        first_look: bool = False,
    ):
        """``first_look``: the first collect() is a quick one (processes and their
        namespaces: no mount tables, network or containers), and :meth:`more` says
        to collect again at once (the TUI paints that while the full one runs)."""
        self.options = options or CollectOptions()
        self.full_every = full_every
        self._first_look = first_look
        self.walk = IncrementalWalk(self.options.proc)
        self.network = NetworkCarry()
        self.collections = 0
        self.last_full = True
        self._last: Snapshot | None = None

    def more(self) -> bool:
        """True when the last collection was the quick first look."""
        return self._first_look is None

    def collect(self, cancelled: Callable[[], bool] | None = None) -> Snapshot:
        if self._first_look:
            self._first_look = None  # more() until the next collection
            quick = replace(self.options, cancelled=cancelled, net=False, containers=False,
                            mount_tables=False, started_walk=None, net_carry=None)
            return collect_snapshot(quick)
        self._first_look = False
        full = self.collections % self.full_every == 0
        self.collections += 1
        self.last_full = full
        if full:
            self.network.forget()
        options = replace(
            self.options,
            cancelled=cancelled,
            started_walk=self.walk.begin(full),
            net_carry=self.network,
        )
        try:
            snapshot = collect_snapshot(options)
        except BaseException:
            self.collections = 0  # a cancelled or failed collection: the next one reads all
            raise
        last = self._last
        unchanged = not full and not self.walk.changed and (
            not self.options.net or self.network.carried
        )
        if unchanged and last is not None:
            # The same object, so that its reader (the TUI) can tell nothing changed
            # and keep what it built from it; only the time moves on.
            last.collected_at = snapshot.collected_at
            return last
        self._last = snapshot
        return snapshot

    def close(self) -> None:
        self.walk.close()
        self.network.close()
