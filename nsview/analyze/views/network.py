"""The Network view: netns → interfaces (bridge ports nested), routes, rules, NAT and
filter tables → chains → rules, sockets, conntrack (its first entries)."""

from __future__ import annotations

from nsview.analyze.conntrack_match import VIEW_ROWS as CONNTRACK_ROWS
from nsview.analyze.labels import (
    conntrack_entry_label,
    conntrack_group_label,
    filter_rule_count,
    group_label,
    interface_label,
    nat_chain_label,
    nat_rule_count,
    nat_rule_label,
    nat_table_label,
    netns_row_label,
    plural,
    route_label,
    rule_label,
    socket_label,
)
from nsview.analyze.refs import (
    ConntrackRef,
    GroupRef,
    InterfaceRef,
    NamespaceRef,
    NatChainRef,
    NatRuleRef,
    NatTableRef,
    Ref,
    RouteRef,
    RuleRef,
    SocketRef,
    resolve,
)
from nsview.analyze.views.base import Item, Path, View, namespace_key, note
from nsview.model import Interface, Namespace, NatTable


def _table_key(table: NatTable, where: str = "nat") -> str:
    prefix = "t" if where == "nat" else "ft"
    return f"{prefix}:{table.backend}:{table.family}:{table.table}"


def _socket_order(sock) -> tuple:
    """Listeners first (by port), then connections: what a path ends at comes first."""
    listening = sock.state in ("LISTEN", "UNCONN")
    return (not listening, sock.proto == "unix", sock.port or 0, sock.local)


class NetworkView(View):
    """netns → interfaces (bridge ports nested), routes, rules, NAT tables → chains → rules."""

    name = "network"
    title = "Network"

    def roots(self) -> list[Item]:
        return [self._netns_item(ns) for ns in self.lookup.netns]

    def _netns_item(self, ns: Namespace) -> Item:
        label = netns_row_label(ns, self.lookup)
        return Item(namespace_key(ns), NamespaceRef("net", ns.inode), label, True)

    def _top_interfaces(self, inode: int) -> list[Interface]:
        net = self.lookup.net(inode)
        if net is None:
            return []
        names = {i.name for i in net.interfaces}
        return [i for i in net.interfaces if not (i.master and i.master in names)]

    def _iface_item(self, inode: int, iface: Interface) -> Item:
        return Item(
            f"if:{iface.ifindex}",
            InterfaceRef(inode, iface.ifindex),
            interface_label(inode, iface, self.lookup),
            bool(self.lookup.ports(inode, iface)),
        )

    def _build_children(self, item: Item) -> list[Item]:
        lk = self.lookup
        match item.ref:
            case NamespaceRef(type="net", inode=inode):
                return self._netns_children(inode)
            case InterfaceRef(netns=inode) as ref:
                bridge = resolve(lk, ref)
                return (
                    [self._iface_item(inode, p) for p in lk.ports(inode, bridge)] if bridge else []
                )
            case GroupRef(what="routes" | "local_routes" as what, of=NamespaceRef(inode=inode)):
                net = lk.net(inode)
                if net is None:
                    return []
                local = what == "local_routes"
                out = [
                    Item(f"r:{i}", RouteRef(inode, i), route_label(r))
                    for i, r in enumerate(net.routes)
                    if (r.table == "local") == local
                ]
                n_local = sum(1 for r in net.routes if r.table == "local")
                if not local and n_local:
                    ref = GroupRef("local_routes", of=NamespaceRef("net", inode))
                    out.append(Item("local", ref, group_label("table local", n_local), True))
                return out
            case GroupRef(what="rules", of=NamespaceRef(inode=inode)):
                net = lk.net(inode)
                if net is None:
                    return []
                return [
                    Item(f"rule:{i}", RuleRef(inode, i), rule_label(rule))
                    for i, rule in enumerate(net.rules)
                ]
            case GroupRef(what="nat" | "filter" as where, of=NamespaceRef(inode=inode)):
                net = lk.net(inode)
                if net is None:
                    return []
                return [
                    Item(
                        _table_key(table, where),
                        NatTableRef(inode, t, where),
                        nat_table_label(table),
                        True,
                    )
                    for t, table in enumerate(getattr(net, where))
                ]
            case GroupRef(what="sockets", of=NamespaceRef(inode=inode)):
                net = lk.net(inode)
                if net is None:
                    return []
                order = sorted(range(len(net.sockets)), key=lambda i: _socket_order(net.sockets[i]))
                return [
                    Item(f"s:{i}", SocketRef(inode, i), socket_label(net.sockets[i], lk))
                    for i in order
                ]
            case GroupRef(what="conntrack", of=NamespaceRef(inode=inode)):
                return self._conntrack_children(inode)
            case NatTableRef(netns=inode, table=t, where=where) as ref:
                table = resolve(lk, ref)
                if table is None:
                    return []
                return [
                    Item(
                        f"c:{chain.name}",
                        NatChainRef(inode, t, c, where),
                        nat_chain_label(chain),
                        bool(chain.rules),
                    )
                    for c, chain in enumerate(table.chains)
                ]
            case NatChainRef(netns=inode, table=t, chain=c, where=where) as ref:
                chain = resolve(lk, ref)
                if chain is None:
                    return []
                return [
                    Item(f"n:{i}", NatRuleRef(inode, t, c, i, where), nat_rule_label(rule))
                    for i, rule in enumerate(chain.rules)
                ]
        return []

    def _netns_children(self, inode: int) -> list[Item]:
        net = self.lookup.net(inode)
        if net is None:
            return [
                note(
                    "unread",
                    "network not read (started with --no-net, or this netns could not be entered)",
                    "warn",
                )
            ]
        netns = NamespaceRef("net", inode)
        out = [note(f"err:{i}", f"error: {e}", "warn") for i, e in enumerate(net.errors)]
        out += [self._iface_item(inode, i) for i in self._top_interfaces(inode)]
        routes = [r for r in net.routes if r.table != "local"]
        out.append(
            Item("routes", GroupRef("routes", of=netns), group_label("routes", len(routes)), True)
        )
        if net.rules:
            out.append(
                Item(
                    "rules", GroupRef("rules", of=netns), group_label("rules", len(net.rules)), True
                )
            )
        if net.nat:
            label = group_label("NAT", plural(nat_rule_count(net), "rule"))
            out.append(Item("nat", GroupRef("nat", of=netns), label, True))
        if net.filter:
            label = group_label("filter", plural(filter_rule_count(net), "rule"))
            out.append(Item("filter", GroupRef("filter", of=netns), label, True))
        if net.sockets:
            listening = sum(1 for s in net.sockets if s.state in ("LISTEN", "UNCONN"))
            count = f"{len(net.sockets)}, {listening} listening"
            out.append(
                Item("sockets", GroupRef("sockets", of=netns), group_label("sockets", count), True)
            )
        # Always there: conntrack is read only when asked (C, or opening this row live).
        ct = GroupRef("conntrack", of=netns)
        out.append(Item("conntrack", ct, conntrack_group_label(net.conntrack), True))
        return out

    def _conntrack_children(self, inode: int) -> list[Item]:
        net = self.lookup.net(inode)
        table = net.conntrack if net is not None else None
        if table is None:
            return [
                note(
                    "ct-unread",
                    "not read: C reads it on a live host; a file has it from dump --conntrack",
                )
            ]
        out = [
            Item(f"ct:{i}", ConntrackRef(inode, i), conntrack_entry_label(e))
            for i, e in enumerate(table.entries[:CONNTRACK_ROWS])
        ]
        more = table.count - len(out)
        if more > 0:
            out.append(note("ct-more", f"… {more} more (counted by state above)"))
        elif not out:
            out.append(note("ct-empty", "no entries"))
        return out

    def locate(self, ref: Ref) -> Path | None:
        lk = self.lookup
        match ref:
            case NamespaceRef(type="net", inode=inode):
                ns = lk.namespace("net", inode)
                return (namespace_key(ns),) if ns else None
            case InterfaceRef(netns=inode, ifindex=ifindex):
                ns = lk.namespace("net", inode)
                iface = lk.interface(inode, ifindex)
                if ns is None or iface is None:
                    return None
                path: Path = (namespace_key(ns),)
                master = lk.interface_named(inode, iface.master) if iface.master else None
                if master is not None and master.ifindex != iface.ifindex:
                    path += (f"if:{master.ifindex}",)
                return (*path, f"if:{iface.ifindex}")
            case RouteRef(netns=inode, index=i):
                route = resolve(lk, ref)
                if route is None:
                    return None
                base = (f"ns:net:{inode}", "routes")
                return (*base, "local", f"r:{i}") if route.table == "local" else (*base, f"r:{i}")
            case RuleRef(netns=inode, index=i):
                return (f"ns:net:{inode}", "rules", f"rule:{i}") if resolve(lk, ref) else None
            case NatTableRef(netns=inode) | NatChainRef(netns=inode) | NatRuleRef(netns=inode):
                if resolve(lk, ref) is None:
                    return None
                table = resolve(lk, NatTableRef(inode, ref.table, ref.where))
                path = (f"ns:net:{inode}", ref.where, _table_key(table, ref.where))
                if isinstance(ref, NatTableRef):
                    return path
                path += (f"c:{table.chains[ref.chain].name}",)
                return path if isinstance(ref, NatChainRef) else (*path, f"n:{ref.rule}")
            case SocketRef(netns=inode, index=i):
                return (f"ns:net:{inode}", "sockets", f"s:{i}") if resolve(lk, ref) else None
            case ConntrackRef(netns=inode, index=i):
                if i >= CONNTRACK_ROWS or resolve(lk, ref) is None:
                    return None  # kept in the snapshot but not listed
                return (f"ns:net:{inode}", "conntrack", f"ct:{i}")
        return None
