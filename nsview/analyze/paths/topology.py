"""Where addresses live and how a frame crosses from one namespace to the next:
veth peers, bridges and their ports, as the snapshot recorded them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from nsview.analyze.index import SnapshotIndex
from nsview.analyze.labels import netns_label
from nsview.analyze.paths.netfilter import Rules, TableRef
from nsview.analyze.paths.result import Hop
from nsview.model import Interface, NetState, Snapshot

LOOPBACK4 = ipaddress.ip_network("127.0.0.0/8")


def _ip(text: str | None) -> Any:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.split("/", 1)[0].split("%", 1)[0])
    except ValueError:
        return None


def is_loopback(ip: Any) -> bool:
    return ip is not None and ip.is_loopback


@dataclass(slots=True)
class Crossing:
    """The far side of a link.

    kind: "arrive" (``netns``/``iface`` receive it: ``iface`` is the name its
    L3 sees, the bridge for a bridge port), "exit" (it leaves through a
    device nsview cannot see past), "nobody" (every end is known and none has
    the address), "blocked" (a link down, a bridge port not forwarding) or
    "unknown" (an end nsview could not read).
    """

    kind: str
    hops: list[Hop] = field(default_factory=list)
    netns: int | None = None
    iface: str | None = None
    reason: str = ""
    # (netns, bridge) when the frame was bridged from one port to another there:
    # with br_netfilter on, that netns's FORWARD chains see it too.
    bridged: tuple[int, str] | None = None


class NetIndex(SnapshotIndex):
    """What a trace asks of a snapshot's network, computed once."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__(snapshot)

    @cached_property
    def nets(self) -> dict[int, NetState]:
        return {ns.inode: ns.net for ns in self.snapshot.namespaces if ns.type == "net" and ns.net}

    @cached_property
    def host_netns(self) -> int | None:
        for t, inode in self.initial:
            if t == "net":
                return inode
        nets = [ns for ns in self.snapshot.namespaces if ns.type == "net" and 1 in ns.pids]
        return nets[0].inode if nets else None

    def netns_label(self, inode: int | None) -> str:
        """The one wording (labels.py): a container's or pod's netns by its name."""
        return netns_label(self, inode)

    def iface(self, netns: int, name: str | None) -> Interface | None:
        return self._ifaces.get((netns, name)) if name else None

    def iface_index(self, netns: int, name: str | None) -> int | None:
        found = self.iface(netns, name)
        return found.ifindex if found else None

    @cached_property
    def _ifaces(self) -> dict[tuple[int, str], Interface]:
        return {(inode, i.name): i for inode, net in self.nets.items() for i in net.interfaces}

    @cached_property
    def _by_index(self) -> dict[tuple[int, int], Interface]:
        return {(inode, i.ifindex): i for inode, net in self.nets.items() for i in net.interfaces}

    @cached_property
    def owners(self) -> dict[Any, list[tuple[int, Interface]]]:
        """IP -> (netns, interface) that carry it (loopback addresses left out:
        every namespace has its own 127.0.0.1)."""
        out: dict[Any, list[tuple[int, Interface]]] = {}
        for inode, net in self.nets.items():
            for iface in net.interfaces:
                for addr in iface.addresses:
                    ip = _ip(addr.cidr)
                    if ip is not None and not ip.is_loopback:
                        out.setdefault(ip, []).append((inode, iface))
        return out

    def owner_in(self, netns: int, ip: Any) -> Interface | None:
        for inode, iface in self.owners.get(ip, []):
            if inode == netns:
                return iface
        return None

    def is_local(self, netns: int, ip: Any) -> bool:
        """Would this namespace deliver ``ip`` to itself (its local table)?"""
        net = self.nets.get(netns)
        if net is None or ip is None:
            return False
        if self.owner_in(netns, ip) is not None:
            return True
        if ip.is_loopback:  # 127.0.0.1/8 on lo covers all of 127/8, as its local route does
            for iface in net.interfaces:
                for addr in iface.addresses:
                    try:
                        if ip in ipaddress.ip_network(addr.cidr, strict=False):
                            return True
                    except ValueError:
                        continue
        family = "inet" if ip.version == 4 else "inet6"
        for route in net.routes:
            if route.table == "local" and route.type == "local" and route.family == family:
                try:
                    if ip in ipaddress.ip_network(route.dst, strict=False):
                        return True
                except ValueError:
                    continue
        return is_loopback(ip) and not any(r.table == "local" for r in net.routes)

    def addr_types(self, netns: int, ip: Any) -> set[str]:
        kinds: set[str] = set()
        if self.is_local(netns, ip):
            kinds.add("LOCAL")
        if ip.is_multicast:
            kinds.add("MULTICAST")
        elif ip.version == 4 and (
            ip == ipaddress.ip_address("255.255.255.255") or self._is_broadcast(netns, ip)
        ):
            kinds.add("BROADCAST")
        else:
            kinds.add("UNICAST")
        return kinds

    def _is_broadcast(self, netns: int, ip: Any) -> bool:
        net = self.nets.get(netns)
        if net is None:
            return False
        for route in net.routes:
            if route.type == "broadcast" and route.dst.split("/")[0] == str(ip):
                return True
        return False

    def primary_address(self, netns: int, iface_name: str | None, family: int) -> Any:
        iface = self.iface(netns, iface_name)
        if iface is None:
            return None
        fam = "inet" if family == 4 else "inet6"
        for addr in iface.addresses:
            ip = _ip(addr.cidr)
            if addr.family == fam and ip is not None and not ip.is_link_local:
                return ip
        return None

    def peer(self, netns: int, iface: Interface) -> tuple[int, Interface] | None:
        ref = iface.peer
        if ref is None or ref.ifindex is None or ref.status == "unreachable":
            return None
        where = ref.netns if ref.netns is not None else netns
        other = self._by_index.get((where, ref.ifindex))
        if other is None and ref.name:
            other = self._ifaces.get((where, ref.name))
        return (where, other) if other is not None else None

    def ports(self, netns: int, bridge: Interface) -> list[Interface]:
        net = self.nets.get(netns)
        if net is None:
            return []
        return [i for i in net.interfaces if i.master == bridge.name and i.name != bridge.name]

    # -- netfilter ------------------------------------------------------------------

    def rules(self, netns: int) -> Rules:
        found = self._rules.get(netns)
        if found is None:
            net = self.nets.get(netns)
            tables: list[TableRef] = []
            if net is not None:
                tables = [TableRef("nat", i, t) for i, t in enumerate(net.nat)]
                tables += [TableRef("filter", i, t) for i, t in enumerate(net.filter)]
            found = self._rules[netns] = Rules(tables)
        return found

    @cached_property
    def _rules(self) -> dict[int, Rules]:
        return {}

    def context(self, netns: int) -> NetnsContext:
        return NetnsContext(self, netns)

    # -- links ----------------------------------------------------------------------

    def cross(self, netns: int, dev: str | None, next_hop: Any) -> Crossing:
        """Send a frame for ``next_hop`` out of ``dev`` in ``netns``: who gets it."""
        iface = self.iface(netns, dev)
        label = self.netns_label(netns)
        if iface is None:
            return Crossing("unknown", reason=f"no interface {dev} in {label} in the snapshot")
        down = _down(iface)
        if down:
            return Crossing(
                "blocked",
                hops=[self._link_hop(netns, iface, f"{iface.name} is {down}")],
                reason=f"{iface.name} in {label} is {down}",
            )
        if iface.kind == "bridge":
            return self._into_bridge(netns, iface, next_hop, via=None)
        if iface.kind == "veth":
            found = self.peer(netns, iface)
            if found is None:
                ref = iface.peer
                if ref is not None and ref.netns is not None and ref.netns not in self.nets:
                    why = f"its far end is in net:[{ref.netns}], whose network was not read"
                else:
                    why = f"its peer is {ref.status if ref else 'unknown'}"
                return Crossing("unknown", reason=f"veth {iface.name} in {label}: {why}")
            pns, pif = found
            hop = self._link_hop(
                netns,
                iface,
                f"veth {iface.name} → {pif.name} in {self.netns_label(pns)}",
                evidence=f"peer of {iface.name}: ifindex {pif.ifindex} in net:[{pns}]",
            )
            if pif.master:
                bridge = self.iface(pns, pif.master)
                if bridge is not None and bridge.kind == "bridge":
                    state = pif.port_state
                    if state not in (None, "forwarding"):
                        return Crossing(
                            "blocked", hops=[hop], reason=f"bridge port {pif.name} is {state}"
                        )
                    inner = self._into_bridge(pns, bridge, next_hop, via=pif)
                    inner.hops.insert(0, hop)
                    return inner
            on_top = self._macvlan_owner(pns, pif, next_hop)
            if on_top is not None:
                mns, mif = on_top
                hop2 = self._link_hop(
                    mns,
                    mif,
                    f"{mif.kind} {mif.name} in {self.netns_label(mns)} on {pif.name}",
                    evidence=f"{mif.name} has {next_hop}; its lower device is "
                    f"{pif.name} in {self.netns_label(pns)}",
                )
                return Crossing("arrive", hops=[hop, hop2], netns=mns, iface=mif.name)
            pdown = _down(pif)
            if pdown:
                return Crossing(
                    "blocked",
                    hops=[hop],
                    reason=f"{pif.name} in {self.netns_label(pns)} is {pdown}",
                )
            return Crossing("arrive", hops=[hop], netns=pns, iface=pif.name)
        if iface.kind == "loopback":
            return Crossing("arrive", netns=netns, iface=iface.name)
        if iface.kind == "vxlan":
            across = self._across_vxlan(netns, iface, next_hop)
            if across is not None:
                return across
        lower = iface.macvlan or iface.ipvlan
        if lower is not None and lower.lower:
            # Out of a macvlan/ipvlan is out of its lower device's wire.
            lns = lower.lower_netns if lower.lower_netns is not None else netns
            dev = self.iface(lns, lower.lower)
            if dev is not None and dev.kind in ("veth", "bridge"):
                inner = self.cross(lns, dev.name, next_hop)
                inner.hops.insert(
                    0,
                    self._link_hop(
                        netns,
                        iface,
                        f"{iface.kind} {iface.name} → its lower device {dev.name} "
                        f"in {self.netns_label(lns)}",
                    ),
                )
                return inner
        what = iface.kind or "device"  # a NIC, vxlan, tun …: beyond the snapshot
        return Crossing(
            "exit",
            hops=[self._link_hop(netns, iface, f"out of {iface.name} ({what})")],
            netns=netns,
            iface=iface.name,
            reason=f"leaves {label} through {iface.name} ({what}); nsview does not follow "
            "packets past it",
        )

    def _into_bridge(
        self, netns: int, bridge: Interface, next_hop: Any, via: Interface | None
    ) -> Crossing:
        """A frame on ``bridge`` (in ``netns``) for ``next_hop``: the bridge itself
        (L3 of ``netns``), or the port whose far end owns the address."""
        label = self.netns_label(netns)
        if via is not None and self.is_local(netns, next_hop):
            return Crossing("arrive", netns=netns, iface=bridge.name)
        opaque: list[str] = []
        for port in self.ports(netns, bridge):
            if via is not None and port.name == via.name:
                continue
            if port.kind == "vxlan":
                across = self._across_vxlan(netns, port, next_hop)
                if across is not None and across.kind != "nobody":
                    across.hops.insert(
                        0,
                        self._link_hop(
                            netns,
                            bridge,
                            f"bridge {bridge.name} in {label} → port {port.name}",
                            evidence=_fdb_hint(bridge, port),
                        ),
                    )
                    return across
                if across is None:
                    opaque.append(f"{port.name} (vxlan)")
                continue
            if port.kind != "veth":
                opaque.append(f"{port.name} ({port.kind or 'device'})")
                continue
            found = self.peer(netns, port)
            if found is None:
                opaque.append(f"{port.name} (peer not read)")
                continue
            pns, pif = found
            if self.owner_in(pns, next_hop) is not None:
                hops = [
                    self._link_hop(
                        netns,
                        bridge,
                        f"bridge {bridge.name} in {label} → port {port.name}",
                        evidence=_fdb_hint(bridge, port),
                    ),
                    self._link_hop(
                        netns,
                        port,
                        f"veth {port.name} → {pif.name} in {self.netns_label(pns)}",
                        evidence=f"peer of {port.name}: ifindex {pif.ifindex} in net:[{pns}]",
                    ),
                ]
                if port.port_state not in (None, "forwarding"):
                    return Crossing(
                        "blocked", hops=hops, reason=f"bridge port {port.name} is {port.port_state}"
                    )
                down = _down(pif)
                if down:
                    return Crossing(
                        "blocked",
                        hops=hops,
                        reason=f"{pif.name} in {self.netns_label(pns)} is {down}",
                    )
                bridged = (netns, bridge.name) if via is not None else None
                return Crossing("arrive", hops=hops, netns=pns, iface=pif.name, bridged=bridged)
        if opaque:
            return Crossing(
                "unknown",
                reason=f"nobody nsview sees on bridge {bridge.name} "
                f"has {next_hop}; it may be beyond {', '.join(opaque)}",
            )
        return Crossing(
            "nobody", reason=f"nobody on bridge {bridge.name} in {label} has {next_hop}"
        )

    def _across_vxlan(self, netns: int, vx: Interface, next_hop: Any) -> Crossing | None:
        """Over a VXLAN to the VTEPs its remote / FDB names: the vxlan device with the
        same VNI whose underlay is the namespace owning that VTEP address, and the
        bridge it is a port of there. None when no far end is in the snapshot (the
        underlay's own way between the VTEPs is not traced)."""
        info = vx.vxlan
        if info is None or info.vni is None:
            return None
        remotes = [info.remote] if info.remote else []
        remotes += [e.dst for e in info.fdb if e.dst]
        found_any = False
        for remote in dict.fromkeys(remotes):
            rip = _ip(remote)
            for owner_ns, _owner_if in self.owners.get(rip, []):
                for cand_ns, net in self.nets.items():
                    for other in net.interfaces:
                        oi = other.vxlan
                        if other.kind != "vxlan" or oi is None or oi.vni != info.vni:
                            continue
                        if cand_ns == netns and other.name == vx.name:
                            continue
                        under = oi.dev_netns if oi.dev_netns is not None else cand_ns
                        if under != owner_ns:
                            continue
                        found_any = True
                        hop = self._link_hop(
                            netns,
                            vx,
                            f"vxlan {vx.name} (VNI {info.vni}) → VTEP {remote} in "
                            f"{self.netns_label(owner_ns)} → {other.name} in "
                            f"{self.netns_label(cand_ns)}",
                            evidence=f"{vx.name} fdb/remote: {remote}; {other.name} has VNI "
                            f"{oi.vni}",
                        )
                        bridge = self.iface(cand_ns, other.master)
                        if bridge is not None and bridge.kind == "bridge":
                            inner = self._into_bridge(cand_ns, bridge, next_hop, via=other)
                        elif self.owner_in(cand_ns, next_hop) is not None:
                            inner = Crossing("arrive", netns=cand_ns, iface=other.name)
                        else:
                            continue
                        if inner.kind == "nobody":
                            continue
                        inner.hops.insert(0, hop)
                        return inner
        if found_any:
            return Crossing("nobody", reason=f"no VTEP of VNI {info.vni} has {next_hop} behind it")
        return None

    def _macvlan_owner(self, netns: int, lower: Interface, ip: Any) -> tuple[int, Interface] | None:
        """A macvlan/ipvlan on ``lower`` (in ``netns``) that has ``ip``: the frame is
        its, not the lower device's namespace's."""
        for owner_ns, iface in self.owners.get(ip, []):
            info = iface.macvlan or iface.ipvlan
            if info is None or info.lower != lower.name:
                continue
            where = info.lower_netns if info.lower_netns is not None else owner_ns
            if where == netns:
                return owner_ns, iface
        return None

    def _link_hop(self, netns: int, iface: Interface, text: str, evidence: str = "") -> Hop:
        return Hop("link", netns, text, evidence, ["iface", netns, iface.ifindex])


def _down(iface: Interface) -> str | None:
    if not iface.flags:
        return None  # not read: do not guess
    if "UP" not in iface.flags:
        return "down"
    if iface.kind != "loopback" and "LOWER_UP" not in iface.flags:
        return "up but without carrier (NO-CARRIER)"
    return None


def _fdb_hint(bridge: Interface, port: Interface) -> str:
    if bridge.bridge and port.mac:
        for entry in bridge.bridge.fdb:
            if entry.port == port.name:
                return f"{port.name} is a port of {bridge.name} (fdb has {entry.mac})"
    return f"{port.name} is a port of {bridge.name}"


class NetnsContext:
    """What the rule tests need to know about the namespace they run in."""

    def __init__(self, index: NetIndex, netns: int) -> None:
        self.index = index
        self.netns = netns

    def addr_types(self, ip: Any) -> set[str]:
        return self.index.addr_types(self.netns, ip)

    def nft_set(self, table: Any, name: str) -> list[Any] | None:
        sets = getattr(table, "sets", None)
        if not sets:
            return None
        for s in sets:
            if getattr(s, "name", None) == name:
                return list(getattr(s, "elements", []) or [])
        return None
