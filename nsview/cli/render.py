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

    console = rich_console(out)
    text = tree_text(snapshot_tree(snapshot))
    if console.is_terminal:
        console.print(text, soft_wrap=True)  # a long line runs on rather than wrapping
    else:
        out.write(text.plain)
        out.write("\n")


# rich.tree's guides (its default, "ascii" terminals aside).
_BRANCH, _LAST, _PIPE, _SPACE = "├── ", "└── ", "│   ", "    "


def tree_text(tree: Tree) -> Text:
    """``tree`` as one Text, line by line, drawn as rich.tree draws it.

    rich's own Tree rendering measures and wraps every line to the console's
    width: on a host with a thousand namespaces that took longer than the
    whole collection. Here each node is one line, its label as it is.
    """
    lines: list[Text] = []
    guide_style = tree.guide_style

    def add(node: Tree, prefix: str, guide: str, below: str) -> None:
        """One node's line (``prefix`` + ``guide`` + label); ``below``: its children's prefix."""
        label = node.label if isinstance(node.label, Text) else Text.from_markup(str(node.label))
        if guide:
            line = Text(prefix + guide, style=guide_style)
            line.append_text(label)
        else:
            line = label
        lines.append(line)
        children = node.children
        for i, child in enumerate(children):
            last = i == len(children) - 1
            add(child, below, _LAST if last else _BRANCH, below + (_SPACE if last else _PIPE))

    add(tree, "", "", "")
    return Text("\n").join(lines)
