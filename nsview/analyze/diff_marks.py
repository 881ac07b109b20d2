"""Where a diff's changes are in the newer snapshot: refs to mark in the TUI.

``marks(diff, lookup)`` maps each row that appeared (``added``) or changed
(``changed``) in B — the snapshot ``lookup`` is over — to that op. A network
namespace with any change inside it is marked ``changed`` too, so the change is
visible before its row is opened. What went (``removed``) has no row in B: the
TUI lists it in the changes screen instead.
"""

from __future__ import annotations

from nsview.analyze.diff import (
    ADDED,
    CHANGED,
    REMOVED,
    Change,
    SnapshotDiff,
    chain_key,
    route_key,
    rule_key,
    socket_key,
    table_rule_key,
)
from nsview.analyze.lookup import Lookup
from nsview.analyze.refs import (
    InterfaceRef,
    NamespaceRef,
    NatChainRef,
    NatRuleRef,
    Ref,
    RouteRef,
    RuleRef,
    SocketRef,
)
from nsview.model import to_dict


def marks(diff: SnapshotDiff, lookup: Lookup) -> dict[Ref, str]:
    out: dict[Ref, str] = {}
    by_netns: dict[int, list[Change]] = {}
    for change in diff.changes:
        if change.op == REMOVED or change.scope is None or change.scope.b_inode is None:
            continue
        if change.section == "namespace":
            out[NamespaceRef(change.scope.type, change.scope.b_inode)] = change.op
        elif change.scope.type == "net":
            by_netns.setdefault(change.scope.b_inode, []).append(change)
    for netns, changes in by_netns.items():
        ns = lookup.namespace("net", netns)
        if ns is None or ns.net is None:
            continue
        out.setdefault(NamespaceRef("net", netns), CHANGED)
        out.update(_in_netns(netns, to_dict(ns.net), changes))
    return out


def ref_of(change: Change, lookup: Lookup) -> Ref | None:
    """The row in B that ``change`` is about (None: it went, or has no row)."""
    if change.op == REMOVED or change.scope is None or change.scope.b_inode is None:
        return None
    if change.section == "namespace":
        return NamespaceRef(change.scope.type, change.scope.b_inode)
    ns = lookup.namespace("net", change.scope.b_inode)
    if ns is None or ns.net is None:
        return None
    for ref, _op in _in_netns(ns.inode, to_dict(ns.net), [change]).items():
        return ref
    return NamespaceRef("net", ns.inode)


def _in_netns(netns: int, net: dict, changes: list[Change]) -> dict[Ref, str]:
    wanted: dict[tuple[str, str], str] = {(c.section, c.key): c.op for c in changes}
    out: dict[Ref, str] = {}
    for iface in net.get("interfaces", []):
        ref = InterfaceRef(netns, iface["ifindex"])
        op = wanted.get(("interface", iface["name"]))
        if op is not None:
            out[ref] = op
        for addr in iface.get("addresses", []):
            if ("address", f"{iface['name']} {addr['cidr']}") in wanted:
                out.setdefault(ref, CHANGED)  # an address is part of its interface's row
    for i, route in enumerate(net.get("routes", [])):
        op = wanted.get(("route", route_key(route)))
        if op is not None:
            out[RouteRef(netns, i)] = op
    for i, rule in enumerate(net.get("rules", [])):
        if ("rule", rule_key(rule)) in wanted:
            out[RuleRef(netns, i)] = ADDED
    for where in ("nat", "filter"):
        for t, table in enumerate(net.get(where) or []):
            for c, chain in enumerate(table.get("chains", [])):
                op = wanted.get((f"{where} chain", chain_key(table, chain)))
                if op is not None:
                    out[NatChainRef(netns, t, c, where)] = op
                for r, rule in enumerate(chain.get("rules", [])):
                    if (where, table_rule_key(table, chain, rule)) in wanted:
                        out[NatRuleRef(netns, t, c, r, where)] = ADDED
                        out.setdefault(NatChainRef(netns, t, c, where), CHANGED)
    for i, sock in enumerate(net.get("sockets") or []):
        key = socket_key(sock)
        if key is not None and ("sockets", key) in wanted:
            out[SocketRef(netns, i)] = ADDED
    return out
