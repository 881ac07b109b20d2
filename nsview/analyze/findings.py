"""From a doctor finding's subjects to the rows that show them (typed refs).

A Subject names a netns by inode and, inside it, an interface by name or a
rule by its text; the views know rows by ref. This is the one translation,
used by the Problems view (its subject rows) and by relations (``g`` from a
finding).
"""

from __future__ import annotations

from nsview.analyze.labels import netns_label
from nsview.analyze.lookup import Lookup
from nsview.analyze.refs import InterfaceRef, NamespaceRef, NatRuleRef, ProcessRef, Ref


def subject_view(ref: Ref) -> str:
    """The view that shows a subject's row."""
    if isinstance(ref, ProcessRef):
        return "processes"
    if isinstance(ref, NamespaceRef) and ref.type != "net":
        return "namespaces"
    return "network"


def subject_ref(lk: Lookup, subject) -> Ref | None:
    """The row a subject points at: its interface, its NAT rule, else its netns (or,
    outside any netns, its namespace or process)."""
    if subject.netns is None:
        if subject.namespace:
            kind, _, inode = subject.namespace.partition(":")
            if inode.isdigit() and lk.namespace(kind, int(inode)) is not None:
                return NamespaceRef(kind, int(inode))
        if subject.pid is not None and lk.process(subject.pid) is not None:
            return ProcessRef(subject.pid)
        return None
    if subject.interface:
        iface = lk.interface_named(subject.netns, subject.interface)
        if iface is not None:
            return InterfaceRef(subject.netns, iface.ifindex)
    net = lk.net(subject.netns)
    if subject.rule and net is not None:
        for where, tables in (("nat", net.nat), ("filter", net.filter)):
            for t, table in enumerate(tables):
                for c, chain in enumerate(table.chains):
                    for r, rule in enumerate(chain.rules):
                        if rule.text == subject.rule:
                            return NatRuleRef(subject.netns, t, c, r, where)
    if lk.namespace("net", subject.netns) is None:
        return None
    return NamespaceRef("net", subject.netns)


def subject_text(lk: Lookup, subject) -> str:
    if subject.netns is None:
        if subject.pid is not None:
            proc = lk.process(subject.pid)
            return f"process {subject.pid}" + (f" {proc.comm}" if proc else "")
        return subject.namespace or "?"
    where = netns_label(lk, subject.netns)
    what = subject.interface or subject.rule or (
        f"container {subject.container}" if subject.container else None)
    return f"{what} @ {where}" if what else where
