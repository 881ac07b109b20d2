"""Link-layer checks: veth ends, MTUs, bridge ports, a netns cut off, duplicate IPs."""

from __future__ import annotations

from collections.abc import Iterator

from nsview.analyze.doctor.base import (
    Context,
    Finding,
    Subject,
    admin_down,
    check,
    ipv4_interfaces,
    is_up,
)

VXLAN_OVERHEAD = 50  # outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14)


def _veth_pairs(ctx: Context):
    """Each resolved veth pair once: ((inode, iface), (inode, iface))."""
    seen = set()
    for ns in ctx.nets:
        for iface in ns.net.interfaces:
            if iface.kind != "veth":
                continue
            far = ctx.peer(ns.inode, iface)
            if far is None:
                continue
            key = frozenset({(ns.inode, iface.ifindex), (far[0], far[1].ifindex)})
            if key in seen:
                continue
            seen.add(key)
            yield (ns.inode, iface), far


@check("veth-peer-down", "warning", "link",
       "a veth is up but the other end is administratively down")
def veth_peer_down(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.nets:
        for iface in ns.net.interfaces:
            if iface.kind != "veth" or admin_down(iface):
                continue
            far = ctx.peer(ns.inode, iface)
            if far is None or not admin_down(far[1]):
                continue
            f_ns, f_if = far
            yield Finding(
                "veth-peer-down", "warning",
                [Subject(f_ns, f_if.name), Subject(ns.inode, iface.name)],
                f"veth {ctx.where(ns.inode, iface.name)} is up but its peer "
                f"{ctx.where(f_ns, f_if.name)} is down, so nothing passes between them.",
                [f"{ctx.where(ns.inode, iface.name)}: flags {','.join(iface.flags)}, "
                 f"operstate {iface.operstate}",
                 f"{ctx.where(f_ns, f_if.name)}: flags {','.join(f_if.flags) or '-'}, "
                 f"operstate {f_if.operstate}"],
                f"{ctx.enter(f_ns)}ip link set {f_if.name} up")


@check("veth-dangling", "warning", "link",
       "a veth whose other end is in a namespace nothing visible holds (a dangling end)")
def veth_dangling(ctx: Context) -> Iterator[Finding]:
    root = ctx.snapshot.host.collector_uid in (0, None)
    for ns in ctx.nets:
        for iface in ns.net.interfaces:
            if iface.kind != "veth" or iface.peer is None:
                continue
            ref = iface.peer
            if ref.status == "resolved":
                continue
            if ref.status == "unreachable":
                why = ("its peer's namespace is held by nothing a process, fd or mount shows "
                       "(a socket or a kernel reference keeps it)")
            else:
                why = (f"its peer (ifindex {ref.ifindex} in {ctx.label(ref.netns)}) does not "
                       "point back at it")
            yield Finding(
                "veth-dangling", "warning" if root else "info", [Subject(ns.inode, iface.name)],
                f"veth {ctx.where(ns.inode, iface.name)} dangles: {why}.",
                [f"peer: status {ref.status}, netns {ref.netns}, ifindex {ref.ifindex}",
                 f"{iface.name}: operstate {iface.operstate}"],
                f"{ctx.enter(ns.inode)}ip -d link show {iface.name}   "
                f"# remove it if nothing uses it: {ctx.enter(ns.inode)}ip link del {iface.name}")


@check("veth-mtu-mismatch", "warning", "link", "the two ends of a veth have different MTUs")
def veth_mtu_mismatch(ctx: Context) -> Iterator[Finding]:
    for (a_ns, a), (b_ns, b) in _veth_pairs(ctx):
        if a.mtu is None or b.mtu is None or a.mtu == b.mtu:
            continue
        small, big = ((a_ns, a), (b_ns, b)) if a.mtu < b.mtu else ((b_ns, b), (a_ns, a))
        yield Finding(
            "veth-mtu-mismatch", "warning", [Subject(a_ns, a.name), Subject(b_ns, b.name)],
            f"veth {ctx.where(a_ns, a.name)} has MTU {a.mtu} but its peer "
            f"{ctx.where(b_ns, b.name)} has {b.mtu}: larger packets are dropped one way.",
            [f"{ctx.where(a_ns, a.name)}: mtu {a.mtu}", f"{ctx.where(b_ns, b.name)}: mtu {b.mtu}"],
            f"{ctx.enter(big[0])}ip link set {big[1].name} mtu {small[1].mtu}")


@check("bridge-port-mtu-mismatch", "warning", "link",
       "a bridge port's MTU differs from its bridge's")
def bridge_port_mtu_mismatch(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.nets:
        for br in ns.net.interfaces:
            if br.bridge is None or br.mtu is None:
                continue
            for port in ctx.ports(ns.inode, br):
                if port.mtu is None or port.mtu == br.mtu:
                    continue
                yield Finding(
                    "bridge-port-mtu-mismatch", "warning",
                    [Subject(ns.inode, port.name), Subject(ns.inode, br.name)],
                    f"bridge port {port.name} has MTU {port.mtu} but bridge {br.name} in "
                    f"{ctx.label(ns.inode)} has {br.mtu}.",
                    [f"{br.name}: mtu {br.mtu}", f"{port.name} (master {br.name}): mtu {port.mtu}"],
                    f"{ctx.enter(ns.inode)}ip link set {port.name} mtu {br.mtu}")


@check("vxlan-mtu-overhead", "warning", "link",
       "a vxlan's MTU leaves no room for its 50-byte overhead over the lower device")
def vxlan_mtu_overhead(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.nets:
        for vx in ns.net.interfaces:
            if vx.vxlan is None or vx.mtu is None or not vx.vxlan.dev:
                continue
            lower_ns = vx.vxlan.dev_netns or ns.inode
            lower = ctx.iface(lower_ns, vx.vxlan.dev)
            if lower is None or lower.mtu is None:
                continue
            if vx.mtu + VXLAN_OVERHEAD <= lower.mtu:
                continue
            yield Finding(
                "vxlan-mtu-overhead", "warning",
                [Subject(ns.inode, vx.name), Subject(lower_ns, lower.name)],
                f"vxlan {ctx.where(ns.inode, vx.name)} has MTU {vx.mtu}, but its lower device "
                f"{ctx.where(lower_ns, lower.name)} has {lower.mtu}: full-size frames need "
                f"{vx.mtu + VXLAN_OVERHEAD} and are dropped.",
                [f"{vx.name}: mtu {vx.mtu}, vni {vx.vxlan.vni}, dev {vx.vxlan.dev}",
                 f"{lower.name}: mtu {lower.mtu}",
                 f"vxlan over IPv4 adds {VXLAN_OVERHEAD} bytes"],
                f"{ctx.enter(ns.inode)}ip link set {vx.name} mtu {lower.mtu - VXLAN_OVERHEAD}")


@check("bridge-port-not-forwarding", "warning", "link",
       "a bridge port that is up but not in the forwarding state")
def bridge_port_not_forwarding(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.nets:
        for port in ns.net.interfaces:
            if not port.master or port.port_state in (None, "forwarding"):
                continue
            if "UP" not in port.flags:
                continue  # a port that is down is disabled; the link checks say why
            br = ctx.iface(ns.inode, port.master)
            if br is None or br.bridge is None:
                continue
            transient = port.port_state in ("listening", "learning")
            yield Finding(
                "bridge-port-not-forwarding", "info" if transient else "warning",
                [Subject(ns.inode, port.name), Subject(ns.inode, br.name)],
                f"port {port.name} of bridge {br.name} in {ctx.label(ns.inode)} is "
                f"{port.port_state}, not forwarding: frames through it are dropped.",
                [f"{port.name}: master {br.name}, port state {port.port_state}",
                 f"{br.name}: stp_state {br.bridge.stp_state}"],
                f"{ctx.enter(ns.inode)}bridge link set dev {port.name} state 3")


@check("netns-link-down", "error", "link", "a netns whose only non-loopback link is down")
def netns_link_down(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.nets:
        links = [i for i in ns.net.interfaces if i.kind != "loopback" and i.name != "lo"]
        if len(links) != 1 or is_up(links[0]):
            continue
        (link,) = links
        if not ctx.has_processes(ns) and not ipv4_interfaces(link):
            continue  # an unused, unaddressed netns: the leak check speaks of it
        admin = "UP" in link.flags
        yield Finding(
            "netns-link-down", "error", [Subject(ns.inode, link.name)],
            f"{ctx.label(ns.inode)} has one link, {link.name}, and it is "
            f"{'up without a carrier' if admin else 'down'}: the namespace is cut off.",
            [f"{link.name}: kind {link.kind or '-'}, flags {','.join(link.flags) or '-'}, "
             f"operstate {link.operstate}"],
            f"{ctx.enter(ns.inode)}ip link set {link.name} up" if not admin else
            f"{ctx.enter(ns.inode)}ip -d link show {link.name}   # and its peer or lower device")


@check("duplicate-ipv4", "error", "link",
       "the same IPv4 address on two interfaces of one L2 segment (one bridge)")
def duplicate_ipv4(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.nets:
        for br in ns.net.interfaces:
            if br.bridge is None:
                continue
            seen: dict = {}
            for m_ns, m in ctx.segment(ns.inode, br):
                for a in ipv4_interfaces(m):
                    seen.setdefault(a.ip, []).append((m_ns, m))
            for ip, holders in sorted(seen.items()):
                if len(holders) < 2:
                    continue
                n2, second = holders[-1]
                yield Finding(
                    "duplicate-ipv4", "error", [Subject(n, i.name) for n, i in holders],
                    f"{ip} is on {len(holders)} interfaces of bridge {br.name}'s segment in "
                    f"{ctx.label(ns.inode)}: ARP answers flip between them.",
                    [f"{ip} on {ctx.where(n, i.name)}" for n, i in holders],
                    f"{ctx.enter(n2)}ip addr del "
                    f"{next(a for a in ipv4_interfaces(second) if a.ip == ip)} dev {second.name}")
