"""Conntrack read lazily: one netns's table on ``C`` or when its conntrack row opens.

A refresh never reads conntrack (a busy host tracks hundreds of thousands of
flows). On a live host, ``C`` on any row of a network namespace, or opening that
namespace's "conntrack" row while it says "not read", reads that one table on a
worker thread (``collect.conntrack.read_netns_conntrack``: the network
collector's netns machinery, no setns here). The table is put on the shown
snapshot's ``NetState.conntrack`` (where a ``dump --conntrack`` file has it), so
the views, the detail pane and the filter treat a lazily read table and a
loaded one alike; later snapshots get it back until ``C`` reads it again.
Rendering only: the matching is in ``nsview.analyze.conntrack_match``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nsview.analyze.refs import GroupRef, InNetns, NamespaceRef, Ref
from nsview.model import ConntrackTable, Snapshot

if TYPE_CHECKING:
    from nsview.tui.app import NsviewApp


def netns_of(ref: Ref | None) -> int | None:
    """The network namespace a row is in or about, if any."""
    match ref:
        case InNetns(netns=netns):
            return netns
        case NamespaceRef(type="net", inode=inode):
            return inode
        case GroupRef(of=NamespaceRef(type="net", inode=inode)):
            return inode
    return None


def attach_tables(snapshot: Snapshot, tables: dict[int, ConntrackTable]) -> None:
    """Put the tables read earlier back on a new snapshot's namespaces that lack one."""
    if not tables:
        return
    for ns in snapshot.namespaces:
        if ns.type == "net" and ns.net is not None and ns.net.conntrack is None:
            table = tables.get(ns.inode)
            if table is not None:
                ns.net.conntrack = table


class ConntrackReader:
    """The app's lazy conntrack reads: which netns are being read, what was read."""

    def __init__(self, app: NsviewApp) -> None:
        self.app = app
        self.tables: dict[int, ConntrackTable] = {}  # netns inode -> the last table read
        self.reading: set[int] = set()
        self.failed: set[int] = set()  # opening the row does not retry these (C does)

    def request(self, inode: int, *, asked: bool) -> bool:
        """Read ``inode``'s table unless a read is under way; ``asked``: the user
        pressed C (read again, and say what came of it). False when nothing starts."""
        app = self.app
        if not app.feed.live:
            if asked:
                app.say("a saved snapshot: conntrack is what the file has (dump --conntrack)",
                        timeout=4)
            return False
        if inode in self.reading or (not asked and inode in self.failed):
            return False
        snapshot = app.snapshot
        if snapshot is None:
            return False
        self.reading.add(inode)
        app.run_worker(
            lambda: self._read(snapshot, inode, asked),
            thread=True,
            group=f"conntrack-{inode}",
            exit_on_error=False,
        )
        return True

    def _read(self, snapshot: Snapshot, inode: int, asked: bool) -> None:
        from nsview.collect.conntrack import read_netns_conntrack

        try:
            table, errors = read_netns_conntrack(snapshot, inode)
        except Exception as exc:  # one failed read must not take the app down
            table, errors = None, [f"{type(exc).__name__}: {exc}"]
        self.app.call_from_thread(self._done, inode, table, errors, asked)

    def _done(self, inode: int, table: ConntrackTable | None, errors: list[str],
              asked: bool) -> None:
        app = self.app
        self.reading.discard(inode)
        if table is None:
            self.failed.add(inode)
            app.say(f"conntrack of net:[{inode}] not read: {'; '.join(errors) or 'unknown'}",
                    severity="warning", timeout=6)
            return
        self.failed.discard(inode)
        self.tables[inode] = table
        snapshot = app.snapshot
        net = app.lookup.net(inode) if app.lookup is not None else None
        if snapshot is None or net is None:
            return  # gone from the snapshot meanwhile: kept for when it is back
        net.conntrack = table
        app.apply_snapshot(snapshot)  # a new Lookup: every view rebuilt, state kept
        if asked:
            from nsview.analyze.labels import conntrack_summary

            app.say(f"conntrack of net:[{inode}]: {conntrack_summary(table)}", timeout=4)
            if app.current_view == "network":
                tree = app.tree("network")
                path = (f"ns:net:{inode}", "conntrack")
                if tree.reveal(path):
                    node = tree.node_at(path)
                    if node is not None:
                        tree.open_node(node)
                    app._update_detail()
