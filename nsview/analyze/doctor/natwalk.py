"""Follow a netns's NAT chains for one packet, as far as the parsed rules allow.

Shared by the routing and forwarding checks ("is this source masqueraded on
its way out?"). Unsure means covered: a rule nsview did not fully understand,
or one restricted to some protocol or port, counts as a match, so that doctor
stays quiet rather than guess wrong.
"""

from __future__ import annotations

import ipaddress

from nsview.model import NatChain, NatRule, NetState

SNAT_TARGETS = ("MASQUERADE", "SNAT")
MAX_DEPTH = 16


def _in(cidr: str | None, ip: ipaddress.IPv4Address) -> bool | None:
    if cidr is None:
        return None
    try:
        return ip in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


def _iface_is(pattern: str, name: str) -> bool:
    if pattern.endswith("+"):
        return name.startswith(pattern[:-1])
    return pattern == name


def _applies(rule: NatRule, src: ipaddress.IPv4Address, exit_dev: str | None) -> bool:
    """Whether ``rule`` would see a packet from ``src`` leaving by ``exit_dev`` (None:
    some interface nsview cannot name) toward an arbitrary destination."""
    inside = _in(rule.source, src)
    if inside is not None and inside == ("source" in rule.negated):
        return False
    if rule.destination is not None and "destination" not in rule.negated:
        return False  # only toward some destinations: not the general way out
    if rule.out_iface is not None:
        if exit_dev is None:
            return "out_iface" in rule.negated
        return _iface_is(rule.out_iface, exit_dev) != ("out_iface" in rule.negated)
    return True


def exit_device(net: NetState, bridge: str) -> str | None:
    """The interface traffic from behind ``bridge`` leaves by: the default route's,
    else the first interface other than a bridge with a route (a host without an
    uplink route still has its link)."""
    bridges = {i.name for i in net.interfaces if i.bridge is not None or i.kind == "bridge"}
    routes = [r for r in net.routes if r.table != "local" and r.family == "inet" and r.dev
              and r.dev not in (bridge, "lo")]
    for r in routes:
        if r.dst in ("default", "0.0.0.0/0"):
            return r.dev
    # no default route: an uplink's connected subnet (another bridge is a hairpin, not out)
    uplinks = [r.dev for r in routes if r.dev not in bridges]
    return uplinks[0] if uplinks else (routes[0].dev if routes else None)


def egress_snat(net: NetState, src: ipaddress.IPv4Address, out_bridge: str,
                sure: bool = False) -> NatRule | None:
    """The rule that source-NATs ``src`` (behind ``out_bridge``) on its way out of the
    host (by :func:`exit_device`), or None when POSTROUTING lets it out unchanged.

    ``sure``: count only rules nsview fully understood that apply to any way
    out (for "would this gateway NAT us?", where guessing yes is the error).
    """
    chains: dict[str, NatChain] = {}
    hooked: list[NatChain] = []
    for table in net.nat:
        if table.family not in ("ipv4", "ip", "inet"):
            continue
        for chain in table.chains:
            chains.setdefault(chain.name, chain)
            if (chain.hook or "").lower() == "postrouting" or chain.name == "POSTROUTING":
                hooked.append(chain)
    exit_dev = exit_device(net, out_bridge)
    for chain in hooked:
        found, _ = _walk(chain, chains, src, exit_dev, 0, sure)
        if found is not None:
            return found
    return None


def _walk(chain: NatChain, chains: dict[str, NatChain], src, exit_dev: str | None,
          depth: int, sure: bool) -> tuple[NatRule | None, bool]:
    """(the SNAT rule found, whether the walk stopped here for good)."""
    if depth > MAX_DEPTH:
        return None, False
    for rule in chain.rules:
        if not _applies(rule, src, exit_dev):
            continue
        target = (rule.target or "").upper()
        partial = not rule.parsed or rule.protocol or rule.dport or rule.sport
        if target in SNAT_TARGETS:
            if sure and partial:
                continue
            return rule, True
        if partial and target in ("ACCEPT", "RETURN"):
            continue  # a condition nsview cannot weigh: a verdict on some packets only
        if target == "ACCEPT":
            return None, True
        if target == "RETURN":
            return None, False
        sub = chains.get(rule.target or "")
        if sub is not None:
            found, final = _walk(sub, chains, src, exit_dev, depth + 1, sure)
            if found is not None or final:
                return found, final
            if rule.goto:  # the goto chain returned: to our caller, not to us
                return None, False
    return None, False
