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


def _applies(rule: NatRule, src: ipaddress.IPv4Address, out_bridge: str) -> bool:
    """Whether ``rule`` would see a packet from ``src`` leaving by some interface other
    than ``out_bridge`` toward an arbitrary destination."""
    inside = _in(rule.source, src)
    if inside is not None and inside == ("source" in rule.negated):
        return False
    if rule.destination is not None and "destination" not in rule.negated:
        return False  # only toward some destinations: not the general way out
    if rule.out_iface is not None and "out_iface" not in rule.negated:
        name = rule.out_iface
        if name == out_bridge or (name.endswith("+") and out_bridge.startswith(name[:-1])):
            return False  # back onto the bridge: hairpin, not egress
    return True


def egress_snat(net: NetState, src: ipaddress.IPv4Address, out_bridge: str,
                sure: bool = False) -> NatRule | None:
    """The rule that source-NATs ``src`` leaving by another interface than
    ``out_bridge``, or None when POSTROUTING lets it out unchanged.

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
    for chain in hooked:
        found, _ = _walk(chain, chains, src, out_bridge, 0, sure)
        if found is not None:
            return found
    return None


def _walk(chain: NatChain, chains: dict[str, NatChain], src, out_bridge: str,
          depth: int, sure: bool) -> tuple[NatRule | None, bool]:
    """(the SNAT rule found, whether the walk stopped here for good)."""
    if depth > MAX_DEPTH:
        return None, False
    for rule in chain.rules:
        if not _applies(rule, src, out_bridge):
            continue
        target = (rule.target or "").upper()
        partial = not rule.parsed or rule.protocol or rule.dport or rule.sport
        if target in SNAT_TARGETS:
            if sure and (partial or (rule.out_iface and "out_iface" not in rule.negated)):
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
            found, final = _walk(sub, chains, src, out_bridge, depth + 1, sure)
            if found is not None or final:
                return found, final
            if rule.goto:  # the goto chain returned: to our caller, not to us
                return None, False
    return None, False
