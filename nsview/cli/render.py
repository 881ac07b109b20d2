"""Readable rich trees of a snapshot for the terminal (``nsview dump`` without --json).

The words come from ``nsview.analyze.labels`` (the TUI's too); ``nsview.cli.styles``
maps their roles to rich styles."""

from __future__ import annotations

from typing import TextIO

from rich.text import Text
from rich.tree import Tree

from nsview.analyze import labels
from nsview.analyze.index import SnapshotIndex
from nsview.cli.styles import styled
from nsview.model import NS_TYPES, Namespace, Snapshot

MAX_PROCESSES_SHOWN = 20


def namespace_line(ns: Namespace, index: SnapshotIndex) -> Text:
    """The TUI's namespace label, plus parent and owner (the dump tree is flat)."""
    b = labels.LabelBuilder()
    if ns.parent is not None:
        b.add(f"parent {ns.parent}", "muted")
    if ns.owner is not None and ns.type != "user":
        b.add(f"owner user:[{ns.owner}]", "muted")
    return styled(labels.join(labels.namespace_label(ns, index), b.build()))


def snapshot_tree(snapshot: Snapshot) -> Tree:
    index = SnapshotIndex(snapshot)
    host = snapshot.host
    head = Text()
    head.append(host.hostname, style="bold")
    head.append(f" kernel {host.kernel}  ")
    head.append(
        f"{labels.plural(len(snapshot.namespaces), 'namespace')}, "
        f"{labels.plural(len(snapshot.processes), 'process', 'processes')}  "
    )
    head.append(snapshot.collected_at, style="dim")
    root = Tree(head)
    for ns_type in NS_TYPES:
        of_type = [ns for ns in snapshot.namespaces if ns.type == ns_type]
        if not of_type:
            continue
        branch = root.add(Text.assemble((ns_type, "bold cyan"), f" ({len(of_type)})"))
        for ns in of_type:
            node = branch.add(namespace_line(ns, index))
            if ns.net is not None:
                from nsview.cli.net_render import net_summary

                node.add(Text.assemble(("net", "cyan"), " ", net_summary(ns.net, index, ns.inode)))
            for holder in ns.holders:
                if holder.kind in ("fd", "bind_mount"):
                    node.add(styled(labels.holder_label(holder, index)))
            add_processes(node, ns, index)
    for diag in snapshot.diagnostics:
        if diag.kind != "gone":
            root.add(Text.assemble((diag.kind, "red"), f" {diag.what}: {diag.reason}"))
    return root


def add_processes(node: Tree, ns: Namespace, index: SnapshotIndex) -> None:
    """The first processes of ``ns``; kernel threads (the host's first hundred
    pids) only counted, so the processes people run come first."""
    members = [proc for proc in map(index.process, ns.pids) if proc is not None]
    shown = [proc for proc in members if not proc.kthread]
    for proc in shown[:MAX_PROCESSES_SHOWN]:
        node.add(styled(labels.process_label(proc, index, marks=False)))
    rest = []
    if len(shown) > MAX_PROCESSES_SHOWN:
        rest.append(f"{len(shown) - MAX_PROCESSES_SHOWN} more processes")
    kernel = len(members) - len(shown)
    if kernel:
        rest.append(labels.plural(kernel, "kernel thread"))
    if rest:
        node.add(Text(f"… {' and '.join(rest)}", style="dim"))


def print_snapshot(snapshot: Snapshot, out: TextIO) -> None:
    from nsview.cli.output import rich_console

    rich_console(out).print(snapshot_tree(snapshot))
