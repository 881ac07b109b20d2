"""Typed references: what a row of a view (a jump target, a filter hit) is about.

A reference names one thing in one snapshot by the indexes the snapshot itself
uses (a namespace by type and inode, an interface by netns inode and ifindex, a
route by its position in its netns's list). References are small frozen
dataclasses: they hash and compare, so they key caches and sets, and code that
handles several kinds dispatches with ``match``.

``resolve(lookup, ref)`` gives the model object a reference names (or None when
the snapshot has no such thing); ``ref.subject`` gives the namespace or process
a row stands for when an action (join, delete) asks "which one?": an interface
or a route gives its network namespace, a holder its namespace, a group row
(the routes of a netns, the namespaces of a process) what it groups.

Adding a kind of row: one dataclass here (with ``subject`` if it belongs to a
namespace or process, and a ``case`` in ``resolve``), a label function in
``labels.py``, an entry in ``relations.py`` and ``details.py``; see
docs/DEVELOPING.md "Adding a new kind of row".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nsview.analyze.lookup import Lookup


class RefBase:
    __slots__ = ()

    @property
    def subject(self) -> NamespaceRef | ProcessRef | None:
        """The namespace or process this row stands for (for actions), if any."""
        return None


@dataclass(frozen=True, slots=True)
class NamespaceRef(RefBase):
    type: str  # "net", "pid", …
    inode: int

    @property
    def subject(self) -> NamespaceRef:
        return self


@dataclass(frozen=True, slots=True)
class ProcessRef(RefBase):
    pid: int

    @property
    def subject(self) -> ProcessRef:
        return self


@dataclass(frozen=True, slots=True)
class InNetns(RefBase):
    """Something inside one network namespace (``netns`` is its inode)."""

    netns: int

    @property
    def subject(self) -> NamespaceRef:
        return NamespaceRef("net", self.netns)


@dataclass(frozen=True, slots=True)
class InterfaceRef(InNetns):
    ifindex: int


@dataclass(frozen=True, slots=True)
class RouteRef(InNetns):
    index: int  # in NetState.routes


@dataclass(frozen=True, slots=True)
class RuleRef(InNetns):
    index: int  # in NetState.rules


# A packet-filter table, chain or rule: ``where`` names the NetState list the
# table is in, "nat" (NetState.nat) or "filter" (NetState.filter: filter,
# mangle, raw and nft filter/route chains). Both lists hold NatTables.
TABLE_LISTS = ("nat", "filter")


@dataclass(frozen=True, slots=True)
class NatTableRef(InNetns):
    table: int  # in NetState.nat (or NetState.filter)
    where: str = "nat"


@dataclass(frozen=True, slots=True)
class NatChainRef(InNetns):
    table: int
    chain: int  # in NatTable.chains
    where: str = "nat"


@dataclass(frozen=True, slots=True)
class NatRuleRef(InNetns):
    table: int
    chain: int
    rule: int  # in NatChain.rules
    where: str = "nat"


@dataclass(frozen=True, slots=True)
class SocketRef(InNetns):
    index: int  # in NetState.sockets


@dataclass(frozen=True, slots=True)
class ConntrackRef(InNetns):
    index: int  # in NetState.conntrack.entries


@dataclass(frozen=True, slots=True)
class HolderRef(RefBase):
    type: str
    inode: int
    index: int  # in Namespace.holders

    @property
    def subject(self) -> NamespaceRef:
        return NamespaceRef(self.type, self.inode)


@dataclass(frozen=True, slots=True)
class DiagnosticRef(RefBase):
    index: int  # in Snapshot.diagnostics


@dataclass(frozen=True, slots=True)
class FindingRef(RefBase):
    """A doctor finding: ``index`` in ``Lookup.findings``; ``netns`` its first subject's."""

    index: int
    netns: int | None = None

    @property
    def subject(self) -> NamespaceRef | None:
        return NamespaceRef("net", self.netns) if self.netns is not None else None


@dataclass(frozen=True, slots=True)
class GroupRef(RefBase):
    """A row that groups others: ``what`` says which group, ``of`` whose.

    what: "type" and "hier" (``ns_type`` set; namespaces of one type, their
    hierarchy), "diags", "kthreads" (of a namespace), "procns" (of a process),
    "routes", "local_routes", "rules", "nat", "filter", "sockets", "conntrack" (of
    a network namespace).
    A group of one namespace or process is about it: its relations, details and
    actions are those of ``of``.
    """

    what: str
    of: NamespaceRef | ProcessRef | None = None
    ns_type: str = ""

    @property
    def subject(self) -> NamespaceRef | ProcessRef | None:
        return self.of


@dataclass(frozen=True, slots=True)
class ContainerRef(RefBase):
    """A container (``Snapshot.containers``) by id; ``pid`` is its init, what actions join."""

    id: str
    pid: int | None = None

    @property
    def subject(self) -> ProcessRef | None:
        return ProcessRef(self.pid) if self.pid is not None else None


@dataclass(frozen=True, slots=True)
class ContainerGroupRef(RefBase):
    """The Containers view's grouping rows: an engine, or a pod (``pod`` its key)."""

    engine: str
    pod: str = ""


@dataclass(frozen=True, slots=True)
class NoteRef(RefBase):
    """A row that only says something ("network not read", "error: …")."""

    text: str


Ref = (
    NamespaceRef
    | ProcessRef
    | InterfaceRef
    | RouteRef
    | RuleRef
    | NatTableRef
    | NatChainRef
    | NatRuleRef
    | SocketRef
    | ConntrackRef
    | HolderRef
    | DiagnosticRef
    | FindingRef
    | GroupRef
    | ContainerRef
    | ContainerGroupRef
    | NoteRef
)


def _at(items, index: int):
    return items[index] if 0 <= index < len(items) else None


def resolve(lk: Lookup, ref: Ref | None):
    """The model object ``ref`` names in ``lk``'s snapshot, or None (gone, or a group/note).

    NamespaceRef → Namespace, ProcessRef → Process, InterfaceRef → Interface,
    RouteRef → Route, RuleRef → RoutingRule, NatTableRef/NatChainRef/NatRuleRef →
    NatTable/NatChain/NatRule (``where``: from NetState.nat or .filter), SocketRef →
    Socket, ConntrackRef → ConntrackEntry, HolderRef → Holder, DiagnosticRef → Diagnostic,
    FindingRef → doctor Finding.
    """
    match ref:
        case NamespaceRef(type=t, inode=inode):
            return lk.namespace(t, inode)
        case ProcessRef(pid=pid):
            return lk.process(pid)
        case InterfaceRef(netns=netns, ifindex=ifindex):
            return lk.interface(netns, ifindex)
        case RouteRef(netns=netns, index=i):
            net = lk.net(netns)
            return _at(net.routes, i) if net else None
        case RuleRef(netns=netns, index=i):
            net = lk.net(netns)
            return _at(net.rules, i) if net else None
        case NatTableRef(netns=netns, table=t, where=where):
            net = lk.net(netns)
            if net is None or where not in TABLE_LISTS:
                return None
            return _at(getattr(net, where), t)
        case NatChainRef(netns=netns, table=t, chain=c, where=where):
            table = resolve(lk, NatTableRef(netns, t, where))
            return _at(table.chains, c) if table else None
        case NatRuleRef(netns=netns, table=t, chain=c, rule=r, where=where):
            chain = resolve(lk, NatChainRef(netns, t, c, where))
            return _at(chain.rules, r) if chain else None
        case SocketRef(netns=netns, index=i):
            net = lk.net(netns)
            return _at(net.sockets, i) if net else None
        case ConntrackRef(netns=netns, index=i):
            net = lk.net(netns)
            return _at(net.conntrack.entries, i) if net and net.conntrack else None
        case HolderRef(type=t, inode=inode, index=i):
            ns = lk.namespace(t, inode)
            return _at(ns.holders, i) if ns else None
        case DiagnosticRef(index=i):
            return _at(lk.snapshot.diagnostics, i)
        case FindingRef(index=i):
            return _at(lk.findings, i)
        case ContainerRef(id=cid):
            return lk.container(cid)
    return None
