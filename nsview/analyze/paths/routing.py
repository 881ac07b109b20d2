"""The kernel's route lookup, replayed over a NetState: policy rules in priority
order, then the longest matching prefix of the table a rule names."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from nsview.model import NetState, Route, RoutingRule

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# What the kernel uses when a namespace has no rules of a family (it always has
# these three unless someone deleted them).
DEFAULT_RULES = (
    (0, "local"),
    (32766, "main"),
    (32767, "default"),
)
BLOCKING_TYPES = frozenset({"blackhole", "unreachable", "prohibit", "throw"})


@dataclass(slots=True)
class RouteDecision:
    """What the lookup chose.

    kind: "local" (delivered in this namespace), "unicast" (sent out ``dev``,
    to ``gateway`` or straight to the destination), "blocked" (no route, or a
    blackhole/unreachable/prohibit route or rule).
    """

    kind: str
    route: Route | None = None
    route_index: int | None = None  # index in NetState.routes
    rule: RoutingRule | None = None  # None: the kernel's default rules (none were read)
    table: str | None = None
    dev: str | None = None
    gateway: str | None = None
    reason: str = ""

    @property
    def next_hop(self) -> str | None:
        return self.gateway


def family_of(ip: IPAddress) -> str:
    return "inet" if ip.version == 4 else "inet6"


def _network(cidr: str | None, family: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if cidr in (None, "default"):
        return ipaddress.ip_network("0.0.0.0/0" if family == "inet" else "::/0")
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


def _rule_matches(
    rule: RoutingRule, dst: IPAddress, src: IPAddress | None, iif: str | None, mark: int
) -> bool:
    if rule.dst:
        net = _network(rule.dst, rule.family)
        if net is None or dst not in net:
            return False
    if rule.src:
        net = _network(rule.src, rule.family)
        if net is None or src is None or src.version != net.version or src not in net:
            return False
    if rule.iif and rule.iif != (iif or "lo"):  # locally generated packets have iif lo
        return False
    if rule.oif:  # only sockets bound to a device set oif; a trace never does
        return False
    return not (rule.fwmark is not None and rule.fwmark != 0 and rule.fwmark != mark)


def _rules(net: NetState, family: str) -> list[RoutingRule]:
    rules = [r for r in net.rules if r.family == family]
    if rules:
        return sorted(rules, key=lambda r: r.priority or 0)
    return [
        RoutingRule(family=family, priority=p, table=t, action="lookup") for p, t in DEFAULT_RULES
    ]


def _table_lookup(
    net: NetState, table: str, dst: IPAddress, family: str, oif: str | None = None
) -> tuple[int, Route] | None:
    best: tuple[tuple[int, int], int, Route] | None = None
    for i, route in enumerate(net.routes):
        if route.family != family or route.table != table:
            continue
        if oif is not None and route.dev not in (None, oif):
            continue
        net_ = _network(route.dst, family)
        if net_ is None or dst.version != net_.version or dst not in net_:
            continue
        # Longest prefix first, then the lowest metric (the kernel's order).
        key = (-net_.prefixlen, route.metric or 0)
        if best is None or key < best[0]:
            best = (key, i, route)
    return (best[1], best[2]) if best else None


def lookup(
    net: NetState,
    dst: IPAddress,
    src: IPAddress | None = None,
    iif: str | None = None,
    mark: int = 0,
) -> RouteDecision:
    family = family_of(dst)
    for rule in _rules(net, family):
        if not _rule_matches(rule, dst, src, iif, mark):
            continue
        action = rule.action or "lookup"
        if action in ("blackhole", "unreachable", "prohibit"):
            return RouteDecision("blocked", rule=rule, reason=f"policy rule {rule_text(rule)}")
        if action != "lookup" or rule.table is None:
            continue  # goto/nop: what they lead to is another rule further down
        found = _table_lookup(net, rule.table, dst, family)
        if found is None:
            continue
        index, route = found
        rtype = route.type or "unicast"
        if rtype == "throw":
            continue  # "look further": the next rule
        decision = RouteDecision(
            kind="unicast",
            route=route,
            route_index=index,
            rule=rule,
            table=rule.table,
            dev=route.dev,
            gateway=route.gateway,
        )
        if rtype == "local":
            decision.kind = "local"
        elif rtype in BLOCKING_TYPES:
            decision.kind = "blocked"
            decision.reason = f"{rtype} route {route_text(route)}"
        elif route.gateway is None and route.nexthops:
            # Multipath: the kernel hashes the flow onto one; the first is shown.
            first = route.nexthops[0].split()
            if "via" in first:
                decision.gateway = first[first.index("via") + 1]
            if "dev" in first:
                decision.dev = first[first.index("dev") + 1]
        return decision
    where = "" if net.rules else " (default rules)"
    return RouteDecision("blocked", reason=f"no route to {dst}{where}")


def route_text(route: Route) -> str:
    """The route as ``ip route show table all`` prints it (the parts nsview has)."""
    parts: list[str] = []
    if route.type and route.type != "unicast":
        parts.append(route.type)
    parts.append(route.dst)
    if route.gateway:
        parts += ["via", route.gateway]
    if route.dev:
        parts += ["dev", route.dev]
    if route.table and route.table != "main":
        parts += ["table", route.table]
    if route.protocol and route.protocol not in ("boot", "unspec"):
        parts += ["proto", route.protocol]
    if route.scope and route.scope not in ("universe", "global"):
        parts += ["scope", route.scope]
    if route.prefsrc:
        parts += ["src", route.prefsrc]
    if route.metric:
        parts += ["metric", str(route.metric)]
    parts += [f"nexthop {hop}" for hop in route.nexthops]
    return " ".join(parts)


def rule_text(rule: RoutingRule) -> str:
    """The rule as ``ip rule`` prints it."""
    parts = [f"{rule.priority or 0}:"]
    parts += ["from", rule.src or "all"]
    if rule.dst:
        parts += ["to", rule.dst]
    if rule.fwmark:
        parts += ["fwmark", hex(rule.fwmark)]
    if rule.iif:
        parts += ["iif", rule.iif]
    if rule.oif:
        parts += ["oif", rule.oif]
    action = rule.action or "lookup"
    if action == "lookup":
        parts += ["lookup", rule.table or "?"]
    else:
        parts.append(action)
    return " ".join(parts)
