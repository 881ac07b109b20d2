"""Narrow a snapshot to some namespace types or processes (``dump --type/--pid``)."""

from __future__ import annotations

from dataclasses import replace

from nsview.model import Snapshot


def filter_snapshot(
    snapshot: Snapshot,
    types: tuple[str, ...] | None = None,
    pids: tuple[int, ...] | None = None,
) -> Snapshot:
    """A new snapshot with only the namespaces of ``types`` and/or those ``pids`` hold.

    With ``pids``, only those processes (and their containers) are kept, and
    only the namespaces they are in, hold by fd or thread, or create children
    in. Namespaces keep their full member lists, since "who else is in here"
    is the point of asking.
    """
    namespaces = snapshot.namespaces
    processes = snapshot.processes
    containers = snapshot.containers
    if pids is not None:
        wanted = set(pids)
        processes = [p for p in processes if p.pid in wanted]
        containers = [c for c in containers if wanted.intersection(c.pids)]
        namespaces = [
            ns
            for ns in namespaces
            if wanted.intersection(ns.pids) or any(h.pid in wanted for h in ns.holders)
        ]
    if types is not None:
        namespaces = [ns for ns in namespaces if ns.type in types]
    return replace(snapshot, namespaces=namespaces, processes=processes, containers=containers)

