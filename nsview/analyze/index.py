"""Lookups over a Snapshot that presentation layers need again and again."""

from __future__ import annotations

from functools import cached_property

from nsview.model import Namespace, Process, Snapshot


class SnapshotIndex:
    """Dictionaries over one snapshot; build once per snapshot, not per lookup."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    @cached_property
    def namespaces(self) -> dict[tuple[str, int], Namespace]:
        return {(ns.type, ns.inode): ns for ns in self.snapshot.namespaces}

    @cached_property
    def processes(self) -> dict[int, Process]:
        return {p.pid: p for p in self.snapshot.processes}

    @cached_property
    def children(self) -> dict[int, list[int]]:
        """ppid -> child pids (processes whose parent is not in the snapshot go under 0)."""
        out: dict[int, list[int]] = {}
        for p in self.snapshot.processes:
            parent = p.ppid if p.ppid in self.processes else 0
            out.setdefault(parent, []).append(p.pid)
        return out

    def namespace(self, ns_type: str, inode: int | None) -> Namespace | None:
        return None if inode is None else self.namespaces.get((ns_type, inode))

    def process(self, pid: int | None) -> Process | None:
        return None if pid is None else self.processes.get(pid)

    def label(self, ns: Namespace) -> str:
        """A short human name: the `ip netns` name, else the main process that holds it."""
        if ns.names:
            return ns.names[0]
        proc = self.main_process(ns)
        if proc is not None:
            return f"{proc.comm} ({proc.pid})"
        for holder in ns.holders:
            if holder.path:
                return holder.path
        return f"{ns.type}:[{ns.inode}]"

    def main_process(self, ns: Namespace) -> Process | None:
        """The oldest process whose parent is outside ``ns``: the container's init."""
        members = [self.processes[pid] for pid in ns.pids if pid in self.processes]
        for proc in members:
            parent = self.processes.get(proc.ppid or 0)
            if parent is None or parent.ns.get(ns.type) != ns.inode:
                return proc
        return members[0] if members else None
