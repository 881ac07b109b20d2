"""Group every process, thread, fd and nsfs mount by the namespaces it holds."""

from __future__ import annotations

import os
from collections.abc import Iterable

from nsview.collect import nsfs, procfs
from nsview.collect.procfs import Denied, Gone
from nsview.model import HIERARCHICAL_TYPES, Diagnostic, Holder, Namespace, Process

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
    """Namespaces by (type, inode), with the paths through which each can be opened."""

    def __init__(self) -> None:
        self.by_key: dict[Key, Namespace] = {}
        self.openers: dict[Key, list[str]] = {}

    def get(self, ns_type: str, inode: int) -> Namespace:
        key = (ns_type, inode)
        ns = self.by_key.get(key)
        if ns is None:
            ns = self.by_key[key] = Namespace(type=ns_type, inode=inode)
            self.openers[key] = []
        return ns

    def add_opener(self, ns_type: str, inode: int, path: str) -> None:
        paths = self.openers[(ns_type, inode)]
        if len(paths) < 3:  # a few fallbacks in case the first holder exits
            paths.append(path)


def walk_processes(
    proc: str, table: NamespaceTable, diags: Diagnostics
) -> tuple[list[Process], dict[int, list[int]]]:
    """Read every process and its threads; returns processes and mnt-ns -> pids in it."""
    processes: list[Process] = []
    mnt_reps: dict[int, list[int]] = {}
    try:
        pids = procfs.list_pids(proc)
    except OSError as exc:
        diags.add("error", "proc", f"cannot list {proc}: {exc.strerror}")
        return processes, {}
    for pid in pids:
        try:
            process = procfs.read_process(proc, pid)
        except Gone:
            diags.add("gone", "process", "exited during the walk", pid)
            continue
        except Denied as exc:
            diags.add("denied", "process", str(exc), pid)
            continue
        try:
            links, children = procfs.read_ns_links(f"{proc}/{pid}/ns")
        except Gone:
            diags.add("gone", "process", "exited during the walk", pid)
            continue
        except Denied as exc:
            diags.add("denied", "namespaces", str(exc), pid)
            processes.append(process)
            continue
        process.ns = links
        process.ns_for_children = children
        processes.append(process)
        for ns_type, inode in links.items():
            ns = table.get(ns_type, inode)
            ns.pids.append(pid)
            ns.holders.append(Holder("process", pid=pid))
            table.add_opener(ns_type, inode, f"{proc}/{pid}/ns/{ns_type}")
        for ns_type, inode in children.items():
            table.get(ns_type, inode).holders.append(Holder("for_children", pid=pid))
            table.add_opener(ns_type, inode, f"{proc}/{pid}/ns/{ns_type}_for_children")
        if process.threads > 1:
            _walk_threads(proc, process, table, diags)
        if "mnt" in links:
            mnt_reps.setdefault(links["mnt"], []).append(pid)
    return processes, mnt_reps


def _walk_threads(proc: str, process: Process, table: NamespaceTable, diags: Diagnostics) -> None:
    pid = process.pid
    try:
        tids = procfs.list_tids(proc, pid)
    except (Gone, Denied):
        return
    for tid in tids:
        if tid == pid:
            continue
        try:
            links, _children = procfs.read_ns_links(f"{proc}/{pid}/task/{tid}/ns")
        except Gone:
            continue
        except Denied as exc:
            diags.add("denied", "thread namespaces", str(exc), pid)
            continue
        for ns_type, inode in links.items():
            if process.ns.get(ns_type) == inode:
                continue
            ns = table.get(ns_type, inode)
            if pid not in ns.pids:
                ns.pids.append(pid)
            ns.holders.append(Holder("thread", pid=pid, tid=tid))
            table.add_opener(ns_type, inode, f"{proc}/{pid}/task/{tid}/ns/{ns_type}")


def walk_fds(
    proc: str, processes: list[Process], table: NamespaceTable, diags: Diagnostics, nsfs_dev: int | None
) -> None:
    """Add every namespace held by an open fd (found or not through a process)."""
    for process in processes:
        pid = process.pid
        try:
            refs = procfs.read_ns_fds(proc, pid, nsfs_dev)
        except Gone:
            continue
        except Denied as exc:
            diags.add("denied", "fds", str(exc), pid)
            continue
        for ref in refs:
            fd_path = f"{proc}/{pid}/fd/{ref.fd}"
            ns_type = ref.ns_type or _type_of_path(fd_path)
            if ns_type is None:
                continue
            table.get(ns_type, ref.inode).holders.append(
                Holder("fd", pid=pid, fd=ref.fd, path=ref.path)
            )
            table.add_opener(ns_type, ref.inode, fd_path)


def _type_of_path(path: str) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return nsfs.ns_type(fd)
    finally:
        os.close(fd)


def walk_mounts(
    proc: str, mnt_reps: dict[int, list[int]], table: NamespaceTable, diags: Diagnostics
) -> None:
    """Add namespaces bind-mounted anywhere, reading mountinfo once per mount namespace.

    A mount propagated into many mount namespaces is recorded once per path.
    """
    seen: set[tuple[str, int, str]] = set()
    for mnt_inode, pids in mnt_reps.items():
        mounts = None
        for pid in pids:
            try:
                mounts = procfs.read_nsfs_mounts(proc, pid)
                break
            except Gone:
                continue
            except Denied as exc:
                diags.add("denied", "mountinfo", str(exc), pid)
                continue
        if mounts is None:
            diags.add("error", "mountinfo", f"no readable process in mnt:[{mnt_inode}]")
            continue
        for mount in mounts:
            key = (mount.ns_type, mount.inode, mount.mountpoint)
            if key in seen:
                continue
            seen.add(key)
            ns = table.get(mount.ns_type, mount.inode)
            ns.holders.append(Holder("bind_mount", pid=mount.pid, path=mount.mountpoint))
            name = procfs.netns_name(mount.mountpoint)
            if name and name not in ns.names:
                ns.names.append(name)
            table.add_opener(mount.ns_type, mount.inode, f"{proc}/{mount.pid}/root{mount.mountpoint}")


def resolve_relations(table: NamespaceTable, diags: Diagnostics) -> None:
    """Fill id, owner, parent and owner_uid with the nsfs ioctls.

    Owners and parents that no process, fd or mount holds (kept alive only by
    their children) are added to the table as they are met.
    """
    pending: list[tuple[Namespace, int | None]] = [(ns, None) for ns in table.by_key.values()]
    while pending:
        ns, fd = pending.pop()
        if fd is None:
            fd = _open_any(table.openers.get((ns.type, ns.inode), []))
            if fd is None:
                continue
        try:
            st = os.fstat(fd)
            ns.dev = st.st_dev
            ns.id = nsfs.ns_id(fd)
            if ns.type == "user":
                ns.owner_uid = nsfs.owner_uid(fd)
            owner_fd = nsfs.open_related(fd, nsfs.NS_GET_USERNS)
            if owner_fd is not None:
                ns.owner = _adopt(table, "user", owner_fd, pending)
            if ns.type in HIERARCHICAL_TYPES:
                if ns.type == "user":
                    ns.parent = ns.owner
                else:
                    parent_fd = nsfs.open_related(fd, nsfs.NS_GET_PARENT)
                    if parent_fd is not None:
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
