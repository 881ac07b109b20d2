"""Would this rule match this packet? Three answers: yes, no, or "cannot tell".

The filter checks walk a chain for one imagined packet (a new TCP connection
to a published port, say). A condition nsview does not model (a set, a mark,
an unknown match) answers None, and each check decides what None means so
that it stays quiet rather than guess.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from nsview.model import NatChain, NatRule

OUTSIDE = "\0outside"  # an interface name no rule names: "some other interface"


@dataclass(frozen=True, slots=True)
class Packet:
    src: ipaddress.IPv4Address | None = None
    dst: ipaddress.IPv4Address | None = None
    proto: str | None = None  # "tcp" | "udp"
    dport: int | None = None
    in_iface: str = OUTSIDE
    out_iface: str = OUTSIDE
    ctstate: str = "NEW"


def _iface(pattern: str, name: str) -> bool:
    if pattern.endswith("+") or pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return pattern == name


def _net(value: str, ip) -> bool | None:
    if ip is None:
        return None
    try:
        return any(ip in ipaddress.ip_network(part.strip(), strict=False)
                   for part in value.split(","))
    except ValueError:
        return None


def _ports(value: str, port: int | None) -> bool | None:
    if port is None:
        return None
    try:
        for part in value.replace("{", "").replace("}", "").split(","):
            part = part.strip()
            lo, sep, hi = part.replace("-", ":").partition(":")
            if (int(lo) <= port <= int(hi)) if sep else port == int(lo):
                return True
    except ValueError:
        return None
    return False


def _one(kind: str, value: str | None, pkt: Packet) -> bool | None:
    if value is None:
        return None
    if kind == "in_iface":
        return _iface(value, pkt.in_iface)
    if kind == "out_iface":
        return _iface(value, pkt.out_iface)
    if kind == "source":
        return _net(value, pkt.src)
    if kind == "destination":
        return _net(value, pkt.dst)
    if kind == "protocol":
        return None if pkt.proto is None else value.lower() == pkt.proto
    if kind == "dport":
        return _ports(value, pkt.dport)
    if kind == "ctstate":
        return pkt.ctstate in {s.strip() for s in value.upper().split(",")}
    if kind == "comment":
        return True
    return None


def matches(rule: NatRule, pkt: Packet) -> bool | None:
    """True when every condition holds, False when one fails, else None."""
    if rule.matches:
        conds = [(m.kind, m.value, m.negated) for m in rule.matches]
    else:
        conds = [(k, getattr(rule, k), k in rule.negated) for k in (
            "in_iface", "out_iface", "source", "destination", "protocol", "dport")
            if getattr(rule, k) is not None]
        if not rule.parsed:
            conds.append(("other", "?", False))
    unsure = False
    for kind, value, negated in conds:
        got = _one(kind, value, pkt)
        if got is None:
            unsure = True
            continue
        if got == negated:
            return False
    return None if unsure else True


def verdict(chain: NatChain, chains: dict[str, NatChain], pkt: Packet,
            depth: int = 0) -> tuple[str | None, NatRule | None]:
    """Walk ``chain`` for ``pkt``: ("ACCEPT"/"DROP"/"REJECT", the rule), ("RETURN", None)
    at the chain's end, or (None, rule) when a rule that may match could not be
    weighed (the walk stops there: nsview cannot tell)."""
    if depth > 16:
        return None, None
    for rule in chain.rules:
        if rule.vmap is not None:
            return None, rule
        hit = matches(rule, pkt)
        if hit is False:
            continue
        target = (rule.target or "").upper()
        if hit is None:
            return None, rule
        if target in ("ACCEPT", "DROP", "REJECT"):
            return target, rule
        if target == "RETURN":
            return "RETURN", None
        sub = chains.get(rule.target or "")
        if sub is None:
            continue  # LOG, MARK, a non-terminating target: the walk goes on
        got, why = verdict(sub, chains, pkt, depth + 1)
        if got is None or got in ("ACCEPT", "DROP", "REJECT"):
            return got, why
        if rule.goto:
            return "RETURN", None
    return "RETURN", None
