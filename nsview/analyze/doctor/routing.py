"""Routing checks: default routes, gateways, routes via down links, rp_filter, rules."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from nsview.analyze.doctor.base import (
    Context,
    Finding,
    Subject,
    check,
    ip_of,
    ipv4_interfaces,
    is_up,
)
from nsview.analyze.doctor.natwalk import egress_snat
from nsview.model import Interface, Namespace, Route

STANDARD_TABLES = ("local", "main", "default")


def _routes(ns: Namespace, family: str | None = "inet") -> list[Route]:
    return [r for r in ns.net.routes if r.table != "local" and (family is None or
                                                                 r.family == family)]


def _defaults(ns: Namespace) -> list[Route]:
    return [r for r in _routes(ns) if r.dst in ("default", "0.0.0.0/0")]


def _global_v4(iface: Interface) -> list[ipaddress.IPv4Interface]:
    return [a for a in ipv4_interfaces(iface)
            if not a.ip.is_link_local and not a.ip.is_loopback]


def _gateway_offer(ctx: Context, ns: Namespace, iface: Interface, addr) -> tuple | None:
    """A router on ``iface``'s segment that would take this netns out: an address in
    the same subnet, in a netns that forwards and source-NATs ``addr``. (netns, iface,
    ip, rule) or None."""
    for m_ns, m in ctx.segment(ns.inode, iface):
        if m_ns == ns.inode or m.bridge is None:
            continue  # a gateway for containers is a bridge in another netns
        host = ctx.net_by_inode.get(m_ns)
        if host is None or host.net is None:
            continue
        if host.net.sysctls.get("net.ipv4.ip_forward") != "1":
            continue
        for a in ipv4_interfaces(m):
            if a.ip in addr.network and a.ip != addr.ip:
                rule = egress_snat(host.net, addr.ip, m.name, sure=True)
                if rule is not None:
                    return m_ns, m, a.ip, rule
    return None


@check("no-default-route", "warning", "routing",
       "a netns with a global address but no default route, though a gateway offers one")
def no_default_route(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.nets:
        addressed = [(i, a) for i in ns.net.interfaces if i.kind != "loopback"
                     for a in _global_v4(i)]
        if not addressed or _defaults(ns):
            continue
        offer = None
        for iface, addr in addressed:
            offer = _gateway_offer(ctx, ns, iface, addr)
            if offer is not None:
                break
        evidence = [f"{i.name}: {a}" for i, a in addressed]
        evidence.append("no IPv4 default route in any table")
        if offer is None:
            # Nothing on the segment would route it out (an island, a --internal
            # network, a lab host): likely intended.
            yield Finding(
                "no-default-route", "info", [Subject(ns.inode, addressed[0][0].name)],
                f"{ctx.label(ns.inode)} has a global address but no default route; nothing on "
                "its links offers one, so it reaches only its own subnets.",
                evidence, f"{ctx.enter(ns.inode)}ip route show")
            continue
        g_ns, g_if, gw, rule = offer
        evidence.append(f"{gw} on {ctx.where(g_ns, g_if.name)} forwards and NATs "
                        f"{addr.ip} ({rule.text})")
        yield Finding(
            "no-default-route", "warning",
            [Subject(ns.inode, iface.name), Subject(g_ns, g_if.name)],
            f"{ctx.label(ns.inode)} has no default route, though {gw} "
            f"({ctx.where(g_ns, g_if.name)}) would route and NAT it out.",
            evidence, f"{ctx.enter(ns.inode)}ip route add default via {gw} dev {iface.name}")


def _on_link(ns: Namespace, dev: Interface, gw) -> bool:
    for a in ipv4_interfaces(dev):
        if gw in a.network:
            return True
    for r in _routes(ns):
        if r.dev != dev.name or r.gateway or r.dst in ("default",):
            continue
        try:
            if gw in ipaddress.ip_network(r.dst, strict=False):
                return True
        except ValueError:
            continue
    return False


def _hops(route: Route) -> list[tuple[str | None, str | None]]:
    """(gateway, dev) of each next hop: the route's own, or each multipath one
    ("via GW dev DEV")."""
    if not route.nexthops:
        return [(route.gateway, route.dev)]
    out = []
    for hop in route.nexthops:
        words = hop.split()
        via = words[words.index("via") + 1] if "via" in words[:-1] else None
        dev = words[words.index("dev") + 1] if "dev" in words[:-1] else route.dev
        out.append((via, dev))
    return out


@check("gateway-unreachable", "error", "routing",
       "a route's gateway that no interface on the route's link has")
def gateway_unreachable(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.nets:
        for route, (hop_gw, hop_dev) in ((r, h) for r in _routes(ns) for h in _hops(r)):
            gw = ip_of(hop_gw)
            dev = ctx.iface(ns.inode, hop_dev)
            if not isinstance(gw, ipaddress.IPv4Address) or dev is None:
                continue
            seg = [(n, i) for n, i in ctx.segment(ns.inode, dev) if (n, i.ifindex)
                   != (ns.inode, dev.ifindex)]
            text = f"{route.dst} via {gw} dev {dev.name}" + (
                f" table {route.table}" if route.table != "main" else "")
            if seg:
                owners = [(n, i) for n, i in seg for a in ipv4_interfaces(i) if a.ip == gw]
                if owners:
                    continue
                mine = ipv4_interfaces(dev)
                # the routers on the segment: its bridges' addresses in our subnets
                offers = sorted({str(a.ip) for _, i in seg if i.bridge is not None
                                 for a in ipv4_interfaces(i)
                                 if any(a.ip in own.network for own in mine)})
                held = [f"{ctx.where(n, i.name)} "
                        f"{','.join(str(a.ip) for a in ipv4_interfaces(i)) or '-'}"
                        for n, i in seg]
                evidence = [f"route: {text}", f"on {dev.name}'s segment: " + "; ".join(held)]
                fix = (f"{ctx.enter(ns.inode)}ip route replace {route.dst} via {offers[0]} "
                       f"dev {dev.name}" if len(offers) == 1 else
                       f"{ctx.enter(ns.inode)}ip neigh show {gw} dev {dev.name}")
                yield Finding(
                    "gateway-unreachable", "error", [Subject(ns.inode, dev.name)],
                    f"{ctx.label(ns.inode)} routes {route.dst} via {gw}, but no interface on "
                    f"{dev.name}'s segment has that address.", evidence, fix)
            elif not _on_link(ns, dev, gw):
                yield Finding(
                    "gateway-unreachable", "error", [Subject(ns.inode, dev.name)],
                    f"{ctx.label(ns.inode)} routes {route.dst} via {gw}, which is on none of "
                    f"{dev.name}'s subnets.",
                    [f"route: {text}",
                     f"{dev.name}: {', '.join(str(a) for a in ipv4_interfaces(dev)) or 'no IPv4'}"],
                    f"{ctx.enter(ns.inode)}ip route get {gw}")


@check("route-via-down-interface", "warning", "routing",
       "routes through an interface that is down or has no carrier")
def route_via_down(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.nets:
        by_dev: dict[str, list[Route]] = {}
        for route in _routes(ns, None):
            dev = ctx.iface(ns.inode, route.dev)
            if dev is None or is_up(dev) or dev.kind == "loopback":
                continue
            if dev.bridge is not None and not ctx.ports(ns.inode, dev):
                continue  # an idle bridge (a network with no container yet) has no carrier
            if route.family == "inet6" and route.dst.startswith("fe80:"):
                continue
            by_dev.setdefault(dev.name, []).append(route)
        for name, routes in sorted(by_dev.items()):
            dev = ctx.iface(ns.inode, name)
            dsts = ", ".join(r.dst for r in routes)
            yield Finding(
                "route-via-down-interface", "warning", [Subject(ns.inode, name)],
                f"{ctx.label(ns.inode)} routes {dsts} via {name}, which is "
                f"{'down' if 'UP' not in dev.flags else 'up without a carrier'}.",
                [f"{name}: flags {','.join(dev.flags) or '-'}, operstate {dev.operstate}"]
                + [f"route: {r.dst}" + (f" via {r.gateway}" if r.gateway else "")
                   + f" dev {name}" for r in routes],
                f"{ctx.enter(ns.inode)}ip link set {name} up" if "UP" not in dev.flags else
                f"{ctx.enter(ns.inode)}ip -d link show {name}   # and the far end")


def _rp(ns: Namespace, name: str) -> int:
    def val(key: str) -> int:
        try:
            return int(ns.net.sysctls.get(key, "0"))
        except ValueError:
            return 0

    return max(val("net.ipv4.conf.all.rp_filter"), val(f"net.ipv4.conf.{name}.rp_filter"))


@check("rp-filter-asymmetric", "warning", "routing",
       "strict rp_filter on an interface that the default route does not leave by")
def rp_filter_asymmetric(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.nets:
        defaults = _defaults(ns)
        out_devs = sorted({r.dev for r in defaults if r.dev})
        if not out_devs:
            continue
        for iface in ns.net.interfaces:
            if iface.kind == "loopback" or not _global_v4(iface) or _rp(ns, iface.name) != 1:
                continue
            if iface.name in out_devs and len(out_devs) == 1:
                continue
            others = [d for d in out_devs if d != iface.name] or out_devs
            yield Finding(
                "rp-filter-asymmetric", "warning", [Subject(ns.inode, iface.name)],
                f"{iface.name} in {ctx.label(ns.inode)} has strict rp_filter, but the default "
                f"route leaves by {', '.join(others)}: packets from beyond {iface.name}'s "
                "subnets arriving on it are dropped.",
                [f"{key}={ns.net.sysctls.get(key, '?')}" for key in (
                    f"net.ipv4.conf.{iface.name}.rp_filter", "net.ipv4.conf.all.rp_filter")]
                + [
f"default via {r.gateway or '-'} dev {r.dev}" for r in defaults],
                f"{ctx.enter(ns.inode)}sysctl -w net.ipv4.conf.{iface.name}.rp_filter=2")


@check("rule-empty-table", "warning", "routing", "a policy rule that looks up an empty table")
def rule_empty_table(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.nets:
        filled = {(r.family, r.table) for r in ns.net.routes}
        for rule in ns.net.rules:
            if rule.table in (None, *STANDARD_TABLES):
                continue
            if rule.action not in (None, "lookup", "to_tbl"):
                continue
            if (rule.family, rule.table) in filled:
                continue
            cond = " ".join(x for x in (
                f"from {rule.src}" if rule.src else "", f"to {rule.dst}" if rule.dst else "",
                f"iif {rule.iif}" if rule.iif else "", f"oif {rule.oif}" if rule.oif else "",
                f"fwmark {rule.fwmark:#x}" if rule.fwmark else "") if x) or "from all"
            text = f"{rule.priority}: {cond} lookup {rule.table}"
            fam = "-6 " if rule.family == "inet6" else ""
            yield Finding(
                "rule-empty-table", "warning", [Subject(ns.inode, rule=text)],
                f"policy rule '{text}' in {ctx.label(ns.inode)} looks up table {rule.table}, "
                "which has no routes.",
                [f"rule {text} ({rule.family})", f"table {rule.table}: no {rule.family} routes"],
                f"{ctx.enter(ns.inode)}ip {fam}route show table {rule.table}   # or drop it: "
                f"{ctx.enter(ns.inode)}ip {fam}rule del priority {rule.priority}")
