"""Readable rich trees of a snapshot for the terminal (``nsview dump`` without --json)."""

from __future__ import annotations

from typing import TextIO

from rich.markup import escape
from rich.tree import Tree

from nsview.analyze import labels
from nsview.analyze.index import SnapshotIndex
from nsview.model import NS_TYPES, Namespace, Snapshot

MAX_PROCESSES_SHOWN = 20


def holder_summary(ns: Namespace) -> str:
    """Processes, then what else holds it (the TUI's wording, from analyze.labels)."""
    others = labels.holder_summary(ns)
    parts = [f"{len(ns.pids)} process{'es' if len(ns.pids) != 1 else ''}"] if ns.pids else []
    parts += [others] if others else []
    return ", ".join(parts) if parts else "no holder (kept alive by a child namespace)"


def namespace_line(ns: Namespace, index: SnapshotIndex) -> str:
    parts = [f"[bold]{ns.type}:[{ns.inode}][/]"]
    if ns.names:
        parts.append("[green]" + escape(", ".join(ns.names)) + "[/]")
    else:
        parts.append(escape(index.label(ns)))
    parts.append(f"[dim]{holder_summary(ns)}[/]")
    if ns.parent is not None:
        parts.append(f"[dim]parent {ns.parent}[/]")
    if ns.owner is not None and ns.type != "user":
        parts.append(f"[dim]owner user:[{ns.owner}][/]")
    if ns.owner_uid is not None:
        parts.append(f"[dim]uid {ns.owner_uid}[/]")
    return "  ".join(parts)


def snapshot_tree(snapshot: Snapshot) -> Tree:
    index = SnapshotIndex(snapshot)
    host = snapshot.host
    root = Tree(
        f"[bold]{escape(host.hostname)}[/] kernel {escape(host.kernel)}  "
        f"{len(snapshot.namespaces)} namespaces, {len(snapshot.processes)} processes  "
        f"[dim]{snapshot.collected_at}[/]"
    )
    for ns_type in NS_TYPES:
        of_type = [ns for ns in snapshot.namespaces if ns.type == ns_type]
        if not of_type:
            continue
        branch = root.add(f"[bold cyan]{ns_type}[/] ({len(of_type)})")
        for ns in of_type:
            node = branch.add(namespace_line(ns, index))
            if ns.net is not None:
                from nsview.cli.net_render import net_summary

                node.add("[cyan]net[/] " + net_summary(ns.net, index, ns.inode))
            for holder in ns.holders:
                if holder.kind in ("fd", "bind_mount"):
                    where = holder.path or f"/proc/{holder.pid}/fd/{holder.fd}"
                    node.add(f"[yellow]{holder.kind}[/] {escape(where)} [dim](pid {holder.pid})[/]")
            add_processes(node, ns, index)
    for diag in snapshot.diagnostics:
        if diag.kind != "gone":
            root.add(f"[red]{diag.kind}[/] {escape(diag.what)}: {escape(diag.reason)}")
    return root


def add_processes(node: Tree, ns: Namespace, index: SnapshotIndex) -> None:
    """The first processes of ``ns``; kernel threads (the host's first hundred
    pids) only counted, so the processes people run come first."""
    members = [proc for proc in map(index.process, ns.pids) if proc is not None]
    shown = [proc for proc in members if not proc.kthread]
    for proc in shown[:MAX_PROCESSES_SHOWN]:
        cmd = " ".join(proc.cmdline) or f"[{proc.comm}]"
        node.add(f"{proc.pid} [bold]{escape(proc.comm)}[/] [dim]{escape(cmd[:100])}[/]")
    rest = []
    if len(shown) > MAX_PROCESSES_SHOWN:
        rest.append(f"{len(shown) - MAX_PROCESSES_SHOWN} more processes")
    kernel = len(members) - len(shown)
    if kernel:
        rest.append(f"{kernel} kernel thread{'s' if kernel > 1 else ''}")
    if rest:
        node.add(f"[dim]… {' and '.join(rest)}[/]")


def print_snapshot(snapshot: Snapshot, out: TextIO) -> None:
    from nsview.cli.output import rich_console

    rich_console(out).print(snapshot_tree(snapshot))
