"""Follow one new connection through the snapshot, hop by hop.

The walk does what the kernel does with the first packet of a connection, in
the kernel's order: made in a namespace (OUTPUT) or arriving on an interface
(PREROUTING), DNAT, the route lookup, local delivery (INPUT, then the socket)
or forwarding (ip_forward, FORWARD, SNAT in POSTROUTING), then across the
veth or bridge to the next namespace, where it starts again. Every step that
decides something becomes a Hop with its evidence.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from nsview.analyze.paths import routing
from nsview.analyze.paths.listeners import find_listener, proxy_of
from nsview.analyze.paths.netfilter import Branch, ChainEnd, Packet, RuleHit
from nsview.analyze.paths.result import (
    BLOCKED,
    EGRESS,
    EXTERNAL,
    LOOPBACK,
    NO_LISTENER,
    REACHES,
    UNKNOWN,
    Hop,
    Listener,
    Path,
    Trace,
)
from nsview.analyze.paths.topology import NetIndex
from nsview.model import Snapshot
from nsview.model.targets import container_title

MAX_NETNS_HOPS = 16  # namespaces one path may cross before nsview calls it a loop
# Stand-ins when the question names no address: a client somewhere outside, and
# "the outside" for egress (TEST-NET-3, never routed on the Internet).
OUTSIDE_CLIENT = "203.0.113.10"
OUTSIDE = "203.0.113.1"
# Priorities around NAT at a hook: raw/mangle before DNAT (-100), filter after.
DNAT_PRIORITY = -100
SNAT_PRIORITY = 100


# Words of NetState.errors that say netfilter tables were not (all) read.
RULE_ERRORS = ("NAT not read", "nftables", "nft ", "iptables", "-save")
SENT = "sent"  # a walk's arrival until its path says: external or loopback (see _end)


class TraceError(ValueError):
    """The question cannot be asked of this snapshot (one line, for the CLI)."""


@dataclass(slots=True)
class _Walk:
    arrival: str
    mode: str  # "port" | "egress"
    hops: list[Hop] = field(default_factory=list)
    prob: float | None = None
    assumed: list[tuple[str, str | None]] = field(default_factory=list)  # (text, target)
    visited: int = 0
    source: str | None = None
    destination: str | None = None
    via_proxy: bool = False

    def fork(self) -> _Walk:
        return _Walk(
            self.arrival,
            self.mode,
            list(self.hops),
            self.prob,
            list(self.assumed),
            self.visited,
            self.source,
            self.destination,
            self.via_proxy,
        )


def parse_ip(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        raise TraceError(f"not an IP address: {text!r}") from None


def _hp(ip: Any, port: int | None) -> str:
    if port is None:
        return str(ip)
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


class Tracer:
    """Traces over one snapshot (its indexes are built once, shared by all)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.idx = NetIndex(snapshot)
        self.sockets_read = any(net.sockets for net in self.idx.nets.values())

    # -- the two questions ------------------------------------------------------

    def port(
        self, port: int, proto: str = "tcp", host_ip: str | None = None, netns: int | None = None
    ) -> Trace:
        """Where ``[host_ip:]port/proto`` goes when it arrives in ``netns`` (the
        host when None): from outside and from the namespace itself."""
        netns = self._netns(netns)
        ip = parse_ip(host_ip)
        label = self.idx.netns_label(netns)
        trace = Trace(question=f"port {_hp(ip, port) if ip else port}/{proto} in {label}")
        if not self.sockets_read:
            trace.notes.append("the snapshot has no sockets: who listens cannot be told")
        trace.notes += self._missing_tools()
        paths: list[Path] = []
        if ip is None or not ip.is_loopback:
            if ip is None or self.idx.is_local(netns, ip):
                ext = self._external_entry(netns, ip)
                if ext is None:
                    trace.notes.append(f"{label} has no interface with an address to arrive on")
                else:
                    ext_ip, iface = ext
                    src = parse_ip(OUTSIDE_CLIENT) if ext_ip.version == 4 else None
                    pkt = Packet(
                        ext_ip.version, proto, ext_ip, port, src=src, sport=40000, iif=iface
                    )
                    walk = _Walk(
                        EXTERNAL,
                        "port",
                        source=str(src) if src else None,
                        destination=f"{_hp(ext_ip, port)}/{proto}",
                    )
                    walk.hops.append(
                        Hop(
                            "arrive",
                            netns,
                            f"arrives in {label} on {iface} for {_hp(ext_ip, port)}/{proto}",
                            f"from a client outside ({src}); {ext_ip} is an address of {label}"
                            if src
                            else "",
                            self._iface_ref(netns, iface),
                        )
                    )
                    paths += self._arrive(walk, netns, pkt)
            else:
                # Asked from a namespace that does not own the address (a client):
                # made there, it goes out and arrives wherever the address lives.
                pkt = Packet(ip.version, proto, ip, port, sport=40000)
                # "external" unless it is NATed or accepted without leaving netns
                # (a node's own connection to a service IP): then "loopback".
                walk = _Walk(SENT, "port", destination=f"{_hp(ip, port)}/{proto}")
                walk.hops.append(
                    Hop(
                        "arrive",
                        netns,
                        f"sent from {label} to {_hp(ip, port)}/{proto}",
                        "",
                        ["ns", "net", netns],
                    )
                )
                paths += self._local_out(walk, netns, pkt)
                trace.paths = paths
                return trace
        lo_ip = ip if ip is not None else ipaddress.ip_address("127.0.0.1")
        pkt = Packet(lo_ip.version, proto, lo_ip, port, sport=40000)
        walk = _Walk(LOOPBACK, "port", destination=f"{_hp(lo_ip, port)}/{proto}")
        walk.hops.append(
            Hop(
                "arrive",
                netns,
                f"made in {label} for {_hp(lo_ip, port)}/{proto}",
                "a connection from a process in the namespace itself",
                ["ns", "net", netns],
            )
        )
        paths += self._local_out(walk, netns, pkt)
        trace.paths = paths
        return trace

    def egress(
        self, netns: int, to: str | None = None, proto: str = "tcp", port: int | None = None
    ) -> Trace:
        """Can a connection made in ``netns`` reach ``to`` (an address outside when None)?"""
        netns = self._netns(netns)
        label = self.idx.netns_label(netns)
        dst = parse_ip(to) if to else parse_ip(OUTSIDE)
        trace = Trace(
            question=f"egress from {label} to {_hp(dst, port)}" + (f"/{proto}" if port else "")
        )
        if to is None:
            trace.notes.append(
                f"no --to given: {OUTSIDE} (TEST-NET-3) stands for an address outside"
            )
        trace.notes += self._missing_tools()
        pkt = Packet(dst.version, proto, dst, port or 443, sport=40000)
        walk = _Walk(EGRESS, "egress", destination=_hp(dst, port))
        walk.hops.append(
            Hop("arrive", netns, f"made in {label} for {_hp(dst, port)}", "", ["ns", "net", netns])
        )
        trace.paths = self._local_out(walk, netns, pkt)
        return trace

    def _missing_tools(self) -> list[str]:
        """The collector's "tool not installed" diagnostics: tables no trace saw."""
        return [
            d.reason
            for d in self.snapshot.diagnostics
            if d.kind == "missing" and d.what in ("nat", "filter")
        ]

    def _netns(self, netns: int | None) -> int:
        if netns is None:
            netns = self.idx.host_netns
            if netns is None:
                raise TraceError("the snapshot does not say which network namespace is the host's")
        if netns not in self.idx.nets:
            raise TraceError(
                f"the snapshot has no network state for "
                f"{self.idx.netns_label(netns)} (taken with --no-net?)"
            )
        return netns

    def _external_entry(self, netns: int, ip: Any) -> tuple[Any, str] | None:
        """(address, interface) a packet from outside arrives at: ``ip``'s own
        interface, else the address of the default route's device, else of the
        first interface that is neither a bridge nor loopback."""
        net = self.idx.nets[netns]
        if ip is not None:
            owner = self.idx.owner_in(netns, ip)
            if owner is not None and owner.kind != "loopback":
                return ip, owner.name
            default = self._default_dev(netns, ip.version)
            return ip, default or "lo"
        dev = self._default_dev(netns, 4)
        if dev is not None:
            addr = self.idx.primary_address(netns, dev, 4)
            if addr is not None:
                return addr, dev
        for kinds in (("bridge", "veth", "loopback"), ("bridge", "loopback")):
            for iface in net.interfaces:
                if iface.kind in kinds:
                    continue
                addr = self.idx.primary_address(netns, iface.name, 4)
                if addr is not None:
                    return addr, iface.name
        return None

    def _default_dev(self, netns: int, family: int) -> str | None:
        dst = ipaddress.ip_address("203.0.113.1" if family == 4 else "2001:db8::1")
        decision = routing.lookup(self.idx.nets[netns], dst)
        return decision.dev if decision.kind == "unicast" else None

    # -- stages -----------------------------------------------------------------

    def _local_out(self, w: _Walk, netns: int, pkt: Packet) -> list[Path]:
        """A connection made in ``netns``: OUTPUT, route, then local or out."""
        self._unread_rules(w, netns)
        ctx = self.idx.context(netns)
        rules = self.idx.rules(netns)
        first = self._lookup(netns, pkt.dst, mark=pkt.mark)
        pkt = pkt.copy(oif=self._oif(first), iif=None)
        if pkt.src is None:
            pkt.src = self._source_for(netns, pkt.dst, first)
            if w.source is None and pkt.src is not None:
                w.source = str(pkt.src)
        out: list[Path] = []
        for w1, p1 in self._hook(out, w, netns, "output", pkt, ctx, rules, before=DNAT_PRIORITY):
            for w2, p2, dnat in self._nat(out, w1, netns, "output", "OUTPUT", p1, ctx, rules):
                decision = first
                if dnat:  # the destination changed: routed again
                    decision = self._lookup(netns, p2.dst, mark=p2.mark)
                    p2.oif = self._oif(decision)
                for w3, p3 in self._hook(
                    out, w2, netns, "output", p2, ctx, rules, after=DNAT_PRIORITY, name="OUTPUT"
                ):
                    w4 = self._route_hop(w3, netns, p3, decision)
                    if decision.kind == "blocked":
                        out.append(
                            self._end(
                                w4, BLOCKED, f"{decision.reason} in {self.idx.netns_label(netns)}"
                            )
                        )
                    elif decision.kind == "local":
                        out += self._deliver(w4, netns, p3.copy(iif="lo"))
                    else:
                        out += self._send(w4, netns, p3, decision)
        return out

    def _arrive(self, w: _Walk, netns: int, pkt: Packet) -> list[Path]:
        """A packet that came in on ``pkt.iif``: PREROUTING, route, local or forward."""
        w.visited += 1
        if w.visited > MAX_NETNS_HOPS:
            return [self._end(w, UNKNOWN, "the path loops between namespaces")]
        net = self.idx.nets.get(netns)
        if net is None:
            return [self._end(w, UNKNOWN, f"{self.idx.netns_label(netns)}'s network was not read")]
        self._unread_rules(w, netns)
        ctx = self.idx.context(netns)
        rules = self.idx.rules(netns)
        out: list[Path] = []
        for w1, p1 in self._hook(
            out, w, netns, "prerouting", pkt, ctx, rules, before=DNAT_PRIORITY
        ):
            for w2, p2, _ in self._nat(out, w1, netns, "prerouting", "PREROUTING", p1, ctx, rules):
                for w3, p3 in self._hook(
                    out, w2, netns, "prerouting", p2, ctx, rules, after=DNAT_PRIORITY
                ):
                    decision = self._lookup(netns, p3.dst, src=p3.src, iif=p3.iif, mark=p3.mark)
                    w4 = self._route_hop(w3, netns, p3, decision)
                    if decision.kind == "blocked":
                        out.append(
                            self._end(
                                w4, BLOCKED, f"{decision.reason} in {self.idx.netns_label(netns)}"
                            )
                        )
                    elif decision.kind == "local":
                        out += self._deliver(w4, netns, p3)
                    else:
                        out += self._forward(w4, netns, p3, decision)
        return out

    def _forward(
        self, w: _Walk, netns: int, pkt: Packet, decision: routing.RouteDecision
    ) -> list[Path]:
        net = self.idx.nets[netns]
        label = self.idx.netns_label(netns)
        key = "net.ipv4.ip_forward" if pkt.family == 4 else "net.ipv6.conf.all.forwarding"
        value = net.sysctls.get(key)
        if value == "0":
            w.hops.append(
                Hop(
                    "forward",
                    netns,
                    f"{label} does not forward ({key} = 0)",
                    f"{key} = 0",
                    ["ns", "net", netns],
                )
            )
            return [self._end(w, BLOCKED, f"{label} does not forward packets ({key} = 0)")]
        w.hops.append(
            Hop(
                "forward",
                netns,
                f"{label} forwards it ({key} = {value or '?'})",
                f"{key} = {value}" if value else f"{key} was not read",
                ["ns", "net", netns],
            )
        )
        ctx = self.idx.context(netns)
        rules = self.idx.rules(netns)
        pkt = pkt.copy(oif=decision.dev)
        out: list[Path] = []
        for w1, p1 in self._hook(
            out, w, netns, "forward", pkt, ctx, rules, name="FORWARD", always=True
        ):
            out += self._send(w1, netns, p1, decision)
        return out

    def _send(
        self, w: _Walk, netns: int, pkt: Packet, decision: routing.RouteDecision
    ) -> list[Path]:
        """POSTROUTING (SNAT), then out of the route's device to the next namespace."""
        ctx = self.idx.context(netns)
        rules = self.idx.rules(netns)
        out: list[Path] = []
        for w1, p1, _ in self._nat(out, w, netns, "postrouting", "POSTROUTING", pkt, ctx, rules):
            next_hop = parse_ip(decision.gateway) if decision.gateway else p1.dst
            crossing = self.idx.cross(netns, decision.dev, next_hop)
            w1.hops += crossing.hops
            if crossing.kind == "arrive" and crossing.bridged is not None:
                walks = self._bridge_netfilter(out, w1, crossing.bridged, p1)
            else:
                walks = [w1]
            for w1 in walks:
                out += self._cross_on(w1, p1, crossing)
        return out

    def _bridge_netfilter(
        self, ended: list[Path], w: _Walk, bridged: tuple[int, str], pkt: Packet
    ) -> list[_Walk]:
        """Bridged port to port: with br_netfilter on (``bridge-nf-call-iptables``),
        the bridge netns's FORWARD sees the frame with the bridge as in and out."""
        bns, bridge = bridged
        net = self.idx.nets.get(bns)
        if net is None or net.sysctls.get("net.bridge.bridge-nf-call-iptables") != "1":
            return [w]
        ctx = self.idx.context(bns)
        rules = self.idx.rules(bns)
        p = pkt.copy(iif=bridge, oif=bridge)
        return [
            w1
            for w1, _ in self._hook(
                ended, w, bns, "forward", p, ctx, rules, name="FORWARD (bridged, br_netfilter)"
            )
        ]

    def _cross_on(self, w1: _Walk, p1: Packet, crossing: Any) -> list[Path]:
        """On from a link: into the next namespace, or the end the crossing says."""
        out: list[Path] = []
        if crossing.kind == "arrive" and crossing.netns is not None:
            label = self.idx.netns_label(crossing.netns)
            w1.hops.append(
                Hop(
                    "arrive",
                    crossing.netns,
                    f"arrives in {label} on {crossing.iface}",
                    "",
                    self._iface_ref(crossing.netns, crossing.iface),
                )
            )
            out += self._arrive(w1, crossing.netns, p1.copy(iif=crossing.iface, oif=None))
        elif crossing.kind == "exit":
            if w1.mode == "egress":
                out.append(self._end(w1, REACHES, crossing.reason))
            else:
                out.append(self._end(w1, UNKNOWN, crossing.reason))
        elif crossing.kind == "nobody":
            verdict = BLOCKED if w1.mode == "egress" else NO_LISTENER
            out.append(self._end(w1, verdict, crossing.reason))
        elif crossing.kind == "blocked":
            out.append(self._end(w1, BLOCKED, crossing.reason))
        else:
            out.append(self._end(w1, UNKNOWN, crossing.reason))
        return out

    def _deliver(self, w: _Walk, netns: int, pkt: Packet) -> list[Path]:
        """Delivered here: INPUT, then whoever listens."""
        ctx = self.idx.context(netns)
        rules = self.idx.rules(netns)
        label = self.idx.netns_label(netns)
        out: list[Path] = []
        for w1, p1 in self._hook(out, w, netns, "input", pkt, ctx, rules, name="INPUT"):
            if w1.mode == "egress":
                out.append(self._end(w1, REACHES, f"delivered to {label}, which owns {p1.dst}"))
                continue
            out += self._listen(w1, netns, p1)
        return out

    def _listen(self, w: _Walk, netns: int, pkt: Packet) -> list[Path]:
        net = self.idx.nets[netns]
        label = self.idx.netns_label(netns)
        where = f"{_hp(pkt.dst, pkt.dport)}/{pkt.proto}"
        found = find_listener(net, pkt.proto, pkt.dst, pkt.dport, self.sockets_read)
        if found.state == "unread":
            return [
                self._end(
                    w,
                    UNKNOWN,
                    f"delivered to {label} for {where}; the snapshot has "
                    "no sockets, so who listens cannot be told",
                )
            ]
        unread = [e for e in net.errors if e.startswith("sockets:")]
        if found.socket is None and unread:
            return [
                self._end(
                    w,
                    UNKNOWN,
                    f"delivered to {label} for {where}; its sockets were not read ({unread[0]})",
                )
            ]
        if found.socket is None:
            w.hops.append(
                Hop(
                    "listener",
                    netns,
                    f"nobody listens on {where} in {label}",
                    f"no {'LISTEN' if pkt.proto == 'tcp' else 'UNCONN'} socket on "
                    f"port {pkt.dport} in {label}",
                    ["ns", "net", netns],
                )
            )
            return [self._end(w, NO_LISTENER, f"nobody listens on {where} in {label}")]
        sock = found.socket
        procs = [p for p in (self.idx.process(pid) for pid in sock.pids) if p is not None]
        who = ", ".join(f"{p.comm} ({p.pid})" for p in procs) or "a socket no process holds"
        listener = Listener(
            netns=netns,
            address=sock.address or "",
            port=sock.port or 0,
            pids=list(sock.pids),
            container=self._container(netns, sock.pids),
            commands=[p.comm for p in procs],
            proto=pkt.proto,
        )
        index = net.sockets.index(sock)
        w.hops.append(
            Hop(
                "listener",
                netns,
                f"{who} listens on {sock.local}/{pkt.proto} in {label}",
                f"{sock.proto} {sock.state} {sock.local} inode {sock.inode}",
                ["socket", netns, index],
            )
        )
        proxy = proxy_of(procs)
        if proxy is not None and not w.via_proxy:
            what, args = proxy
            to_ip, to_port = args.get("container-ip"), args.get("container-port")
            if to_ip and to_port and to_port.isdigit():
                # docker-proxy connects on from the host itself: a new connection made here.
                w.hops.append(
                    Hop(
                        "proxy",
                        netns,
                        f"{what} connects on to {to_ip}:{to_port}",
                        " ".join(procs[0].cmdline),
                        ["proc", procs[0].pid],
                    )
                )
                nxt = w.fork()
                nxt.via_proxy = True
                pkt2 = Packet(pkt.family, pkt.proto, parse_ip(to_ip), int(to_port), sport=40001)
                return self._local_out(nxt, netns, pkt2)
            published = self._published(pkt)
            if published is not None and published[0].ns.get("net") in self.idx.nets:
                # rootlessport & co. carry no address on their command line; the
                # container's published port says where they forward.
                container, cport = published
                cname = container.name or container.id[:12]
                w.hops.append(
                    Hop(
                        "proxy",
                        netns,
                        f"{what} forwards in user space to container {cname} port {cport}",
                        f"published port {pkt.dport}/{pkt.proto} -> {cport} ({container.engine})",
                        ["proc", procs[0].pid] if procs else None,
                    )
                )
                nxt = w.fork()
                nxt.via_proxy = True
                ip = _container_ip(container) or parse_ip("127.0.0.1" if pkt.family == 4 else "::1")
                return self._listen(nxt, container.ns["net"], pkt.copy(dst=ip, dport=cport))
            w.hops.append(
                Hop(
                    "proxy",
                    netns,
                    f"{what}: forwards in user space, which nsview does not follow",
                    " ".join(procs[0].cmdline) if procs else "",
                    ["proc", procs[0].pid] if procs else None,
                )
            )
            path = self._end(w, REACHES, f"reaches {who} on {sock.local} in {label} ({what})")
            path.listener = listener
            return [path]
        path = self._end(w, REACHES, f"reaches {who} on {sock.local}/{pkt.proto} in {label}")
        path.listener = listener
        return [path]

    def _published(self, pkt: Packet) -> tuple[Any, int] | None:
        """(container, its port) publishing ``pkt``'s port, from the engines' state."""
        for c in self.snapshot.containers:
            if "net" not in c.ns:
                continue
            for m in c.ports:
                if m.host_port != pkt.dport or (m.protocol or "tcp") != pkt.proto:
                    continue
                if m.host_ip not in (None, "", "0.0.0.0", "::") and m.host_ip != str(pkt.dst):
                    continue
                if m.container_port is not None:
                    return c, m.container_port
        return None

    # -- netfilter as hops --------------------------------------------------------

    def _hook(
        self,
        ended: list[Path],
        w: _Walk,
        netns: int,
        hook: str,
        pkt: Packet,
        ctx: Any,
        rules: Any,
        before: int | None = None,
        after: int | None = None,
        name: str | None = None,
        always: bool = False,
    ):
        """(walk, packet) for every way through the filter-type chains at ``hook``
        that lets the packet on; the ways that stop it go to ``ended`` as paths."""
        has = any(
            b.kind == "filter"
            and (before is None or b.priority < before)
            and (after is None or b.priority >= after)
            for b in rules.base_chains(hook, pkt.family)
        )
        if not has:
            if always and name:
                w.hops.append(
                    Hop(
                        "filter",
                        netns,
                        f"{name}: no filter rules in {self.idx.netns_label(netns)} (accepts)",
                        "",
                        ["ns", "net", netns],
                    )
                )
            yield w, pkt
            return
        for br in rules.run_hook(hook, "filter", pkt, ctx, before=before, after=after):
            w1 = self._branch_walk(w, br)
            hook_name = name or hook.upper()
            if br.result in ("DROP", "REJECT"):
                w1.hops.append(self._verdict_hop(netns, hook_name, br, blocked=True))
                ended.append(
                    self._end(
                        w1,
                        BLOCKED,
                        f"{hook_name} in "
                        f"{self.idx.netns_label(netns)} "
                        f"{'rejects' if br.result == 'REJECT' else 'drops'}"
                        f" it: {_decider_text(br)}",
                    )
                )
                continue
            if br.result == "OPAQUE":
                w1.hops.append(self._verdict_hop(netns, hook_name, br, blocked=False))
                ended.append(
                    self._end(
                        w1,
                        UNKNOWN,
                        f"{hook_name} hands it to {_decider_text(br)}, which nsview cannot follow",
                    )
                )
                continue
            if name is not None or br.trail:
                w1.hops.append(self._verdict_hop(netns, hook_name, br, blocked=False))
            yield w1, br.pkt

    def _nat(
        self,
        ended: list[Path],
        w: _Walk,
        netns: int,
        hook: str,
        name: str,
        pkt: Packet,
        ctx: Any,
        rules: Any,
    ):
        """(walk, packet, dnat?) for every way through the NAT chains at ``hook``;
        the ways that stop it go to ``ended``."""
        if not rules.has_chains(hook, "nat", pkt.family):
            yield w, pkt, False
            return
        for br in rules.run_hook(hook, "nat", pkt, ctx):
            w1 = self._branch_walk(w, br)
            if br.result in ("DROP", "REJECT"):
                w1.hops.append(self._verdict_hop(netns, name, br, blocked=True))
                ended.append(self._end(w1, BLOCKED, f"{name} nat drops it: {_decider_text(br)}"))
                continue
            if br.result != "NAT" or br.nat is None:
                yield w1, br.pkt, False
                continue
            kind, to = br.nat
            p1 = br.pkt.copy()
            text = self._apply_nat(netns, p1, kind, to)
            hit = br.decider
            evidence = ""
            ref = None
            if isinstance(hit, RuleHit):
                chains = " → ".join(dict.fromkeys(h.chain.name for h in br.trail))
                evidence = f"{hit.where()} ({chains}): {hit.rule.text}"
                ref = hit.ref(netns)
                comment = _comment(hit.rule)
                if comment:
                    text += f" — {comment}"
            if br.prob < 1.0:
                text += f" (probability {br.prob:.2f})"
            w1.hops.append(Hop("nat", netns, f"{name}: {text}", evidence, ref))
            yield w1, p1, kind in ("DNAT", "REDIRECT")

    def _apply_nat(self, netns: int, pkt: Packet, kind: str, to: str | None) -> str:
        if kind in ("DNAT", "REDIRECT"):
            before = _hp(pkt.dst, pkt.dport)
            if kind == "DNAT":
                ip, port = _split_to(to)
                if ip is not None:
                    pkt.dst = ip
                if port is not None:
                    pkt.dport = port
            else:
                _ip, port = _split_to(f":{to}" if to and ":" not in to else to)
                local = (
                    self.idx.primary_address(netns, pkt.iif, pkt.family)
                    if pkt.iif and pkt.iif != "lo"
                    else None
                )
                pkt.dst = local or ipaddress.ip_address("127.0.0.1" if pkt.family == 4 else "::1")
                if port is not None:
                    pkt.dport = port
            pkt.dnat_done = True
            return f"{kind} {before} → {_hp(pkt.dst, pkt.dport)}"
        before = str(pkt.src)
        if kind == "SNAT":
            ip, _port = _split_to(to)
            if ip is not None:
                pkt.src = ip
        else:  # MASQUERADE: the outgoing device's address
            addr = self.idx.primary_address(netns, pkt.oif, pkt.family)
            if addr is not None:
                pkt.src = addr
        pkt.snat_done = True
        return f"{kind} source {before} → {pkt.src}"

    def _verdict_hop(self, netns: int, hook_name: str, br: Branch, blocked: bool) -> Hop:
        label = self.idx.netns_label(netns)
        hit = br.decider
        chains = " → ".join(dict.fromkeys(h.chain.name for h in br.trail)) or hook_name
        if isinstance(hit, RuleHit):
            verb = {
                "DROP": "drops it",
                "REJECT": "rejects it",
                "ACCEPT": "accepts it",
                "OPAQUE": f"hands it to {hit.rule.target}",
            }.get(br.result or "", "lets it on")
            if not blocked and br.result is None:
                verb = "accepts it"
            comment = _comment(hit.rule)
            return Hop(
                "filter",
                netns,
                f"{hook_name} in {label} {verb} ({hit.chain.name} rule "
                f"{hit.rule_index + 1}{': ' + comment if comment else ''})",
                f"{hit.where()} ({chains}): {hit.rule.text}",
                hit.ref(netns),
            )
        if isinstance(hit, ChainEnd):
            policy = (hit.chain.policy or "ACCEPT").upper()
            verb = "drops it" if blocked else "accepts it"
            return Hop(
                "filter",
                netns,
                f"{hook_name} in {label} {verb} (policy {policy})",
                f"{hit.where()}" + (f" after {chains}" if br.trail else ""),
                hit.ref(netns),
            )
        return Hop("filter", netns, f"{hook_name} in {label} accepts it", "", None)

    def _branch_walk(self, w: _Walk, br: Branch) -> _Walk:
        w1 = w.fork()
        if br.prob < 1.0:
            w1.prob = (w1.prob if w1.prob is not None else 1.0) * br.prob
        for hit, what in br.uncertain:
            w1.assumed.append(
                (
                    f"{hit.where()}: {hit.rule.text} — assumed not to match ({what})",
                    (hit.rule.target or "").upper(),
                )
            )
        return w1

    # -- endings ----------------------------------------------------------------

    def _route_hop(
        self, w: _Walk, netns: int, pkt: Packet, decision: routing.RouteDecision
    ) -> _Walk:
        label = self.idx.netns_label(netns)
        rule = routing.rule_text(decision.rule) if decision.rule else ""
        evidence = routing.route_text(decision.route) if decision.route else decision.reason
        if rule:
            evidence += f" (rule {rule})"
        ref = ["route", netns, decision.route_index] if decision.route_index is not None else None
        if decision.kind == "local":
            text = f"{pkt.dst} is local to {label}"
        elif decision.kind == "blocked":
            text = f"no way to {pkt.dst} in {label}: {decision.reason}"
        else:
            via = f" via {decision.gateway}" if decision.gateway else ""
            owners = sorted({self.idx.netns_label(n) for n, _ in self.idx.owners.get(pkt.dst, [])})
            owned = (
                f" (owned by {', '.join(owners)})" if owners else " (no netns nsview sees has it)"
            )
            text = f"route to {pkt.dst}{owned}: dev {decision.dev}{via} (table {decision.table})"
        w.hops.append(Hop("route", netns, text, evidence, ref))
        return w

    def _end(self, w: _Walk, verdict: str, summary: str) -> Path:
        blocking = [text for text, target in w.assumed if target in ("DROP", "REJECT")]
        if verdict in (REACHES, NO_LISTENER) and blocking:
            summary += f"; unless a rule nsview cannot evaluate matches ({len(blocking)})"
            verdict = UNKNOWN
        arrival = w.arrival
        if arrival == SENT:
            start = w.hops[0].netns if w.hops else None
            first = next((h for h in w.hops if h.kind in ("nat", "listener", "link")), None)
            stays = first is not None and first.kind != "link" and first.netns == start
            arrival = LOOPBACK if stays else EXTERNAL
        return Path(
            arrival=arrival,
            verdict=verdict,
            hops=w.hops,
            probability=w.prob,
            summary=summary,
            source=w.source,
            destination=w.destination,
            assumed=[text for text, _ in w.assumed],
        )

    def _unread_rules(self, w: _Walk, netns: int) -> None:
        """A netns whose tables could not all be read (no CAP_NET_ADMIN, a tool
        failed): what the trace says there may miss a rule that drops it."""
        net = self.idx.nets.get(netns)
        if net is None:
            return
        for error in net.errors:
            if any(word in error for word in RULE_ERRORS):
                note = f"{self.idx.netns_label(netns)}: rules not all read: {error}"
                if all(note != text for text, _ in w.assumed):
                    w.assumed.append((note, "DROP"))

    def _lookup(self, netns: int, dst: Any, **kw: Any) -> routing.RouteDecision:
        """The route lookup; an address of the namespace is local even when the
        snapshot lacks its ``local`` table routes (an older or partial one)."""
        decision = routing.lookup(self.idx.nets[netns], dst, **kw)
        if decision.kind != "local" and self.idx.is_local(netns, dst):
            owner = self.idx.owner_in(netns, dst)
            dev = owner.name if owner is not None else "lo"
            return routing.RouteDecision(
                "local",
                dev=dev,
                table="local",
                reason=f"{dst} is an address of {dev} (no local route in the snapshot)",
            )
        return decision

    def _oif(self, decision: routing.RouteDecision) -> str | None:
        if decision.kind == "local":
            return "lo"
        return decision.dev

    def _source_for(self, netns: int, dst: Any, decision: routing.RouteDecision) -> Any:
        if decision.kind == "local":
            return dst
        if decision.route is not None and decision.route.prefsrc:
            return parse_ip(decision.route.prefsrc)
        return self.idx.primary_address(netns, decision.dev, dst.version)

    def _iface_ref(self, netns: int, name: str | None) -> list | None:
        index = self.idx.iface_index(netns, name)
        return ["iface", netns, index] if index is not None else None

    def _container(self, netns: int, pids: list[int]) -> str | None:
        return container_name(self.snapshot, netns, pids)


def container_name(snapshot: Any, netns: int, pids: list[int]) -> str | None:
    """The container a listener belongs to: the one whose processes hold the
    socket, else the one (not a pod's sandbox) whose network namespace it is."""
    containers = getattr(snapshot, "containers", None) or []
    wanted = set(pids)
    for c in containers:
        if wanted & set(c.pids):
            return container_title(c)
    in_netns = [c for c in containers if c.ns.get("net") == netns]
    in_netns.sort(key=lambda c: c.sandbox)  # an app container before its pause container
    return container_title(in_netns[0]) if in_netns else None


def _container_ip(container: Any) -> Any:
    for net in container.networks:
        if net.ip:
            try:
                return ipaddress.ip_address(net.ip.split("/", 1)[0])
            except ValueError:
                continue
    return None


def _split_to(to: str | None) -> tuple[Any, int | None]:
    """'172.17.0.2:80' / '172.17.0.2' / ':80' / '[fd00::2]:80' / 'a-b:80-90' -> (ip, port)."""
    if not to:
        return None, None
    to = to.strip()
    ip_text, port_text = to, None
    if to.startswith("["):
        ip_text, _, rest = to[1:].partition("]")
        port_text = rest.lstrip(":") or None
    elif to.count(":") == 1:
        ip_text, _, port_text = to.partition(":")
    ip_text = ip_text.split("-", 1)[0]
    port = None
    if port_text:
        head = port_text.split("-", 1)[0]
        port = int(head) if head.isdigit() else None
    ip = None
    if ip_text:
        try:
            ip = ipaddress.ip_address(ip_text)
        except ValueError:
            ip = None
    return ip, port


def _comment(rule: Any) -> str | None:
    if getattr(rule, "comment", None):
        return rule.comment
    for m in getattr(rule, "matches", None) or []:
        if m.kind == "comment" and m.value:
            return m.value
    return None


def _decider_text(br: Branch) -> str:
    hit = br.decider
    if isinstance(hit, RuleHit):
        return f"{hit.chain.name} rule {hit.rule_index + 1} ({hit.rule.text})"
    if isinstance(hit, ChainEnd):
        return f"{hit.chain.name} policy {(hit.chain.policy or 'ACCEPT').upper()}"
    return "a rule"
