"""Overlays across hosts: VXLAN ends matched into tunnels, VNIs into networks.

Pure analysis over a Fleet. Two vxlan devices on different hosts form a tunnel
when they carry the same VNI and one end's remote (its ``remote`` or an FDB
``dst``) is an address the other end's host sends from (its ``local``, else an
address of its lower device), or both join the same multicast group. An
overlay network is one VNI with ends on several hosts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from nsview.analyze.index import SnapshotIndex
from nsview.model.fleet import Fleet, FleetHost
from nsview.model.net import Interface, NetState


@dataclass(frozen=True, slots=True)
class VxlanEnd:
    host: str  # the fleet host's target
    hostname: str
    netns: int  # inode of the netns the vxlan device is in
    netns_label: str
    interface: str
    ifindex: int
    vni: int | None
    port: int | None
    mtu: int | None
    locals: frozenset[str]  # addresses this end sends from
    remotes: frozenset[str]  # unicast peers: remote + FDB dst entries
    group: str | None

    @property
    def label(self) -> str:
        return f"{self.hostname or self.host}:{self.netns_label}/{self.interface}"


@dataclass(frozen=True, slots=True)
class Tunnel:
    a: VxlanEnd
    b: VxlanEnd
    how: str  # "unicast" | "multicast"
    evidence: tuple[str, ...]  # the facts that tie the two ends


@dataclass(slots=True)
class Overlay:
    vni: int
    ends: list[VxlanEnd] = field(default_factory=list)

    @property
    def hosts(self) -> list[str]:
        return sorted({end.host for end in self.ends})


@dataclass(slots=True)
class FleetOverlays:
    ends: list[VxlanEnd]
    tunnels: list[Tunnel]
    overlays: list[Overlay]  # VNIs with ends on two or more hosts
    # Ends that point at a remote no collected host sends from.
    unknown_remotes: list[tuple[VxlanEnd, str]]
    # A remote that is another host's end, but the VNIs or ports differ.
    mismatched: list[tuple[VxlanEnd, VxlanEnd, str]]


def vxlan_ends(fleet: Fleet) -> list[VxlanEnd]:
    ends: list[VxlanEnd] = []
    for host in fleet.ok_hosts():
        ends.extend(_host_ends(host))
    return ends


def _host_ends(host: FleetHost) -> list[VxlanEnd]:
    snapshot = host.snapshot
    index = SnapshotIndex(snapshot)
    nets = {ns.inode: ns for ns in snapshot.namespaces if ns.type == "net" and ns.net is not None}
    out = []
    for inode, ns in nets.items():
        for iface in ns.net.interfaces:
            if iface.kind != "vxlan" or iface.vxlan is None:
                continue
            info = iface.vxlan
            locals_ = {info.local} if info.local else set(_lower_addresses(ns.net, nets, iface))
            remotes = {info.remote} if info.remote and not _is_multicast(info.remote) else set()
            remotes |= {e.dst for e in info.fdb if e.dst and not _is_multicast(e.dst)}
            group = info.group or (
                info.remote if info.remote and _is_multicast(info.remote) else None
            )
            out.append(
                VxlanEnd(
                    host=host.target,
                    hostname=host.identity.hostname or snapshot.host.hostname,
                    netns=inode,
                    netns_label=index.label(ns),
                    interface=iface.name,
                    ifindex=iface.ifindex,
                    vni=info.vni,
                    port=info.port,
                    mtu=iface.mtu,
                    locals=frozenset(a for a in locals_ if a),
                    remotes=frozenset(remotes),
                    group=group,
                )
            )
    return out


def _lower_addresses(net: NetState, nets: dict, iface: Interface) -> list[str]:
    """Without ``local``, the end sends from its lower device's addresses."""
    info = iface.vxlan
    lower_net = nets[info.dev_netns].net if info.dev_netns in nets else net
    for candidate in lower_net.interfaces:
        if info.dev and candidate.name == info.dev:
            return [a.cidr.split("/")[0] for a in candidate.addresses if a.scope != "link"]
    return []


def _is_multicast(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_multicast
    except ValueError:
        return False


def host_addresses(host: FleetHost) -> set[str]:
    out: set[str] = set()
    for ns in host.snapshot.namespaces:
        if ns.type == "net" and ns.net is not None:
            for iface in ns.net.interfaces:
                out.update(a.cidr.split("/")[0] for a in iface.addresses)
    return out


def match_overlays(fleet: Fleet) -> FleetOverlays:
    ends = vxlan_ends(fleet)
    by_local: dict[str, list[VxlanEnd]] = {}
    for end in ends:
        for address in end.locals:
            by_local.setdefault(address, []).append(end)
    owned = set()
    for host in fleet.ok_hosts():
        owned |= host_addresses(host)

    tunnels: dict[tuple, Tunnel] = {}
    mismatched: list[tuple[VxlanEnd, VxlanEnd, str]] = []
    unknown: list[tuple[VxlanEnd, str]] = []
    for end in ends:
        for remote in sorted(end.remotes):
            others = [o for o in by_local.get(remote, []) if o.host != end.host]
            if not others:
                if remote not in owned:
                    unknown.append((end, remote))
                continue
            same_vni = [o for o in others if o.vni == end.vni]
            if not same_vni:
                for other in others:
                    mismatched.append((end, other, f"VNI {end.vni} here, {other.vni} there"))
                continue
            for other in same_vni:
                key = tuple(sorted((_end_key(end), _end_key(other))))
                evidence = f"{end.label} sends to {remote}, which {other.label} sends from"
                if end.port != other.port:
                    mismatched.append((end, other, f"UDP port {end.port} here, {other.port} there"))
                found = tunnels.get(key)
                if found is None:
                    first, second = sorted((end, other), key=_end_key)
                    tunnels[key] = Tunnel(first, second, "unicast", (f"VNI {end.vni}", evidence))
                elif evidence not in found.evidence:
                    tunnels[key] = Tunnel(found.a, found.b, found.how, (*found.evidence, evidence))
    by_group: dict[tuple[str, int | None], list[VxlanEnd]] = {}
    for end in ends:
        if end.group:
            by_group.setdefault((end.group, end.vni), []).append(end)
    for (group, vni), members in by_group.items():
        for i, end in enumerate(members):
            for other in members[i + 1 :]:
                if other.host == end.host:
                    continue
                key = tuple(sorted((_end_key(end), _end_key(other))))
                tunnels.setdefault(
                    key, Tunnel(end, other, "multicast", (f"VNI {vni}", f"both in group {group}"))
                )
    overlays: dict[int, Overlay] = {}
    for end in ends:
        if end.vni is not None:
            overlays.setdefault(end.vni, Overlay(end.vni)).ends.append(end)
    multi = [o for o in sorted(overlays.values(), key=lambda o: o.vni) if len(o.hosts) > 1]
    return FleetOverlays(
        ends=ends,
        tunnels=sorted(tunnels.values(), key=lambda t: (t.a.vni or 0, t.a.label, t.b.label)),
        overlays=multi,
        unknown_remotes=unknown,
        mismatched=_dedupe(mismatched),
    )


def _end_key(end: VxlanEnd) -> tuple:
    return (end.host, end.netns, end.interface)


def _dedupe(items: list[tuple[VxlanEnd, VxlanEnd, str]]) -> list[tuple[VxlanEnd, VxlanEnd, str]]:
    seen, out = set(), []
    for a, b, why in items:
        key = (*sorted((_end_key(a), _end_key(b))), why.split(" ")[0])
        if key not in seen:
            seen.add(key)
            out.append((a, b, why))
    return out


def tunnel_relations(overlays: FleetOverlays, host: str, netns: int, ifindex: int) -> list:
    """Jump targets from one vxlan end: the other end of each of its tunnels, on
    its host (nsview.analyze.relations.Relation with ``host`` set)."""
    from nsview.analyze.refs import InterfaceRef
    from nsview.analyze.relations import Relation

    out = []
    for tunnel in overlays.tunnels:
        for here, there in ((tunnel.a, tunnel.b), (tunnel.b, tunnel.a)):
            if (here.host, here.netns, here.ifindex) == (host, netns, ifindex):
                out.append(
                    Relation(
                        f"tunnel VNI {there.vni} to {there.label}",
                        InterfaceRef(there.netns, there.ifindex),
                        "network",
                        host=there.host,
                    )
                )
    return out
