"""Group every process, thread, fd and nsfs mount by the namespaces it holds."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from nsview.collect.parallel import SharedWalk, start_task_walk
from nsview.kernel import nsfs, procfs
from nsview.kernel.procfs import Denied, Gone, TaskRecord
from nsview.model import Diagnostic, Holder, Namespace, Process, Snapshot

Key = tuple[str, int]


class Diagnostics:
    """Collects what could not be read, merging alike events."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str, str, str | None], Diagnostic] = {}

    def add(
        self, kind: str, what: str, reason: str, pid: int | None = None, path: str | None = None
    ) -> None:
        key = (kind, what, reason, path)
        diag = self._items.get(key)
        if diag is None:
            diag = self._items[key] = Diagnostic(kind, what, reason, path=path)
        if pid is not None:
            diag.pids.append(pid)

    def extend(self, items: Iterable[Diagnostic]) -> None:
        for item in items:
            self._items.setdefault((item.kind, item.what, item.reason, item.path), item)

    def items(self) -> list[Diagnostic]:
        return list(self._items.values())


class NamespaceTable:
    """Namespaces by (type, inode), and the paths through which each can be opened."""

    # A few fallbacks per namespace, in case the first holder exits meanwhile.
    MAX_OPENERS = 3

    def __init__(self, proc: str = "/proc") -> None:
        self.proc = proc
        self.by_key: dict[Key, Namespace] = {}

    def get(self, ns_type: str, inode: int) -> Namespace:
        key = (ns_type, inode)
        ns = self.by_key.get(key)
        if ns is None:
            ns = self.by_key[key] = Namespace(type=ns_type, inode=inode)
        return ns

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot, proc: str = "/proc") -> NamespaceTable:
        """A table over a snapshot's namespaces, for entering some of them later."""
        table = cls(proc)
        table.by_key = {(ns.type, ns.inode): ns for ns in snapshot.namespaces}
        return table

    def opener_paths(self, ns: Namespace) -> list[str]:
        paths = []
        for holder in ns.holders:
            path = holder_path(self.proc, ns.type, holder)
            if path:
                paths.append(path)
                if len(paths) == self.MAX_OPENERS:
                    break
        return paths


def holder_path(proc: str, ns_type: str, holder: Holder) -> str | None:
    """The /proc path through which ``holder`` reaches its namespace."""
    pid = holder.pid
    if holder.kind == "process":
        return f"{proc}/{pid}/ns/{ns_type}"
    if holder.kind == "thread":
        return f"{proc}/{pid}/task/{holder.tid}/ns/{ns_type}"
    if holder.kind == "for_children":
        return f"{proc}/{pid}/ns/{ns_type}_for_children"
    if holder.kind == "fd":
        return f"{proc}/{pid}/fd/{holder.fd}"
    if holder.kind == "bind_mount" and holder.path:
        # Through a process's root: the mount may be in another mount namespace.
        return holder.path if pid is None else f"{proc}/{pid}/root{holder.path}"
    return None


def walk_processes(
    proc: str,
    table: NamespaceTable,
    diags: Diagnostics,
    started: SharedWalk | None = None,
    check: Callable[[], None] | None = None,
    types: tuple[str, ...] | None = None,
    plan: dict | None = None,
) -> tuple[list[Process], MountTables, list[TaskRecord]]:
    """Read every process and its threads (``started``: a walk already begun;
    ``check``: called now and then, may raise to stop, see SharedWalk.finish).
    ``types``: only these namespace types (None: all); ``plan``: what to read
    (collect.parallel.walk_plan), when the walk is not ``started`` already.

    Returns the processes, the mount tables the walk read (for walk_mounts),
    and the raw records (their fds are resolved later, once the nsfs mount
    points are known).
    """
    try:
        walk = started or start_task_walk(proc, **(plan or {}))
    except OSError as exc:
        diags.add("error", "proc", f"cannot list {proc}: {exc.strerror}")
        return [], MountTables(), []
    results = walk.finish(check)
    records = [TaskRecord(*values) for values, _mounts in results]
    tables = MountTables(results)
    processes: list[Process] = []
    mnt_reps = tables.pids
    by_key = table.by_key
    for record in records:
        pid = record.pid
        if record.error == "gone":
            diags.add("gone", "process", "exited during the walk", pid)
            continue
        if record.error:
            diags.add("denied", "process", record.error.removeprefix("denied: "), pid)
            continue
        links = record.ns
        if types is not None and links:  # mnt may be read for the mount tables only
            links = {t: inode for t, inode in links.items() if t in types}
        processes.append(_process(record, links))
        if links is None:
            diags.add("denied", "namespaces", record.ns_error or "", pid)
            continue
        holder = Holder("process", pid=pid)  # one object shared by the 8 namespaces
        for key in links.items():  # (type, inode): the table's key
            ns = by_key.get(key) or table.get(*key)
            ns.pids.append(pid)
            ns.holders.append(holder)
        for ns_type, inode in (record.ns_for_children or {}).items():
            table.get(ns_type, inode).holders.append(Holder("for_children", pid=pid))
        for tid, links in record.thread_ns or ():
            for ns_type, inode in links.items():
                ns = table.get(ns_type, inode)
                if pid not in ns.pids:
                    ns.pids.append(pid)
                ns.holders.append(Holder("thread", pid=pid, tid=tid))
        if record.thread_error:
            diags.add("denied", "thread namespaces", record.thread_error, pid)
        if "mnt" in record.ns and not record.kthread:
            mnt_reps.setdefault(record.ns["mnt"], []).append(pid)
    return processes, tables, records


class MountTables:
    """What the walk read of mount tables (kernel.mountinfo.WalkReader), in pid order.

    ``results``: (pid, mnt inode, entries or None or ("gone",)/("denied", why))
    for each process that had a mount namespace; ``pids``: mnt inode -> its
    processes (filled by walk_processes).
    """

    def __init__(self, walk_results: list | None = None) -> None:
        self.results = [
            (values[0], values[_NS_FIELD]["mnt"], mounts)
            for values, mounts in walk_results or ()
            if mounts is not None
        ]
        self.pids: dict[int, list[int]] = {}


_NS_FIELD = TaskRecord.FIELDS.index("ns")


def _process(record: TaskRecord, links: dict[str, int] | None) -> Process:
    return Process(
        pid=record.pid,
        ppid=record.ppid,
        comm=record.comm,
        cmdline=record.cmdline or [],
        uid=record.uid,
        nspid=record.nspid or [record.pid],
        cgroup=record.cgroup,
        ns=links or {},
        ns_for_children=record.ns_for_children or {},
        threads=record.threads,
        kthread=record.kthread,
    )


def walk_fds(
    proc: str,
    records: list[TaskRecord],
    table: NamespaceTable,
    diags: Diagnostics,
    nsfs_paths: frozenset[str],
) -> None:
    """Add every namespace held by an open fd (found or not through a process).

    ``nsfs_paths``: every nsfs mount point seen in any mount namespace; an fd
    opened through one reads as that path rather than "TYPE:[INODE]", and as
    "/" once the mount is detached (``ip netns del`` while the fd stays open).
    """
    for record in records:
        pid = record.pid
        if record.fd_error:
            diags.add("denied", "fds", record.fd_error, pid)
        for fd, ns_type, inode in record.fd_refs or ():
            table.get(ns_type, inode).holders.append(Holder("fd", pid=pid, fd=fd))
        for fd, link in record.fd_paths or ():
            if link != "/" and link not in nsfs_paths:
                continue
            fd_path = f"{proc}/{pid}/fd/{fd}"
            found = _nsfs_identity(fd_path)
            if found is None:
                continue  # a plain directory or file, not a namespace
            ns_type, inode = found
            table.get(ns_type, inode).holders.append(Holder("fd", pid=pid, fd=fd, path=link))


def _nsfs_identity(path: str) -> tuple[str, int] | None:
    """(type, inode) when ``path`` opens an nsfs file, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        ns_type = nsfs.ns_type(fd)
        return (ns_type, os.fstat(fd).st_ino) if ns_type else None
    finally:
        os.close(fd)


def walk_mounts(
    proc: str,
    tables: MountTables,
    table: NamespaceTable,
    diags: Diagnostics,
    only_mnt: frozenset[int] | None = None,
) -> frozenset[str]:
    """Add namespaces bind-mounted anywhere, from each mount namespace's table.

    The walk read each table once on its side (two processes: a namespace may
    be read twice, a mount seen by many namespaces is kept once per path,
    with the first process in pid order that sees it). A namespace none of
    whose processes the walk could read is tried again here through the others
    (``only_mnt``: only these mount namespaces, for a walk that read no tables).
    Returns every nsfs mount point seen.
    """
    seen: set[tuple[str, int, str]] = set()

    def add(ns_type: str, inode: int, mountpoint: str, pid: int) -> None:
        key = (ns_type, inode, mountpoint)
        if key in seen:
            return
        seen.add(key)
        ns = table.get(ns_type, inode)
        ns.holders.append(Holder("bind_mount", pid=pid, path=mountpoint))
        name = procfs.netns_name(mountpoint)
        if name and name not in ns.names:
            ns.names.append(name)

    read: set[int] = set()
    tried: set[int] = set()
    for pid, mnt_inode, result in tables.results:
        if type(result) is tuple:  # ("gone",) or ("denied", why): another process may do
            tried.add(pid)
            if result[0] == "denied":
                diags.add("denied", "mountinfo", result[1], pid)
            continue
        read.add(mnt_inode)
        for ns_type, inode, mountpoint in result:
            add(ns_type, inode, mountpoint, pid)
    for mnt_inode, pids in tables.pids.items():
        if mnt_inode in read or (only_mnt is not None and mnt_inode not in only_mnt):
            continue
        mounts = _read_mounts(proc, [pid for pid in pids if pid not in tried], diags)
        if mounts is None:
            diags.add("error", "mountinfo", f"no readable process in mnt:[{mnt_inode}]")
            continue
        for mount in mounts:
            add(mount.ns_type, mount.inode, mount.mountpoint, mount.pid)
    return frozenset(path for _type, _inode, path in seen)


def _read_mounts(proc: str, pids: list[int], diags: Diagnostics) -> list[procfs.NsfsMount] | None:
    """The nsfs mounts seen by the first of ``pids`` (one mount namespace) that can be read."""
    for pid in pids:
        try:
            return procfs.read_nsfs_mounts(proc, pid)
        except Gone:
            continue
        except Denied as exc:
            diags.add("denied", "mountinfo", str(exc), pid)
    return None


def resolve_relations(
    table: NamespaceTable, diags: Diagnostics, types: tuple[str, ...] | None = None
) -> None:
    """Fill id, owner, parent and owner_uid with the nsfs ioctls (``types``: of
    namespaces of these types only, and the owners and parents they lead to).

    Owners and parents that no process, fd or mount holds (kept alive only by
    their children) are added to the table as they are met.
    """
    pending: list[tuple[Namespace, int | None]] = [
        (ns, None) for ns in table.by_key.values() if types is None or ns.type in types
    ]
    while pending:
        ns, fd = pending.pop()
        if fd is None:
            fd = _open_any(table.opener_paths(ns))
            if fd is None:
                continue
        try:
            ns.dev, ns.id, ns.owner_uid, owner_fd, parent_fd = nsfs.describe(fd, ns.type)
            if owner_fd is not None:
                ns.owner = _adopt(table, "user", owner_fd, pending)
            if ns.type == "user":
                ns.parent = ns.owner
            elif parent_fd is not None:
                ns.parent = _adopt(table, ns.type, parent_fd, pending)
        except OSError as exc:
            diags.add("error", "nsfs ioctl", f"{ns.type}:[{ns.inode}]: {exc.strerror}")
        finally:
            os.close(fd)


def _adopt(table: NamespaceTable, ns_type: str, fd: int, pending: list) -> int:
    """Inode of the namespace behind ``fd``; queue it (keeping fd) if it is new."""
    inode = os.fstat(fd).st_ino
    if (ns_type, inode) in table.by_key:
        os.close(fd)
    else:
        pending.append((table.get(ns_type, inode), fd))
    return inode


def _open_any(paths: list[str]) -> int | None:
    for path in paths:
        try:
            return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
    return None
