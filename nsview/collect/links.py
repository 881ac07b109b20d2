"""Interfaces, addresses, routes and policy rules of the calling thread's netns.

Everything here reads through an rtnetlink socket that the caller created
*inside* the namespace (see :mod:`nsview.kernel.netns`). The parse functions
are pure and take decoded messages named as pyroute2 names them — dicts
from our lean decoder (:mod:`nsview.kernel.rtnl`) or pyroute2's own
messages — so they are tested on captured messages for link kinds this
kernel cannot create (dummy, vlan, ipvlan).

Links that point into another namespace (a veth peer, the lower device of a
macvlan or vxlan that was moved) only say "ifindex N in the namespace I call
netnsid K". :class:`LinkRef` keeps that raw pointer; the collector turns K
into a namespace with :func:`netnsid_map` and checks the back-pointer.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nsview.model import (
    Address,
    BridgeInfo,
    FdbEntry,
    Interface,
    LowerLinkInfo,
    Route,
    RoutingRule,
    VxlanInfo,
)
from nsview.model.net import VlanInfo

# <linux/if.h> IFF_* bits, in `ip link` order.
IFF_FLAGS: tuple[tuple[int, str], ...] = (
    (0x1, "UP"),
    (0x2, "BROADCAST"),
    (0x8, "LOOPBACK"),
    (0x10, "POINTOPOINT"),
    (0x80, "NOARP"),
    (0x100, "PROMISC"),
    (0x200, "ALLMULTI"),
    (0x1000, "MULTICAST"),
    (0x10000, "LOWER_UP"),
    (0x20000, "DORMANT"),
)
ARPHRD_LOOPBACK = 772
ARPHRD_NONE = 65534  # tun in L3 mode, wireguard …

TABLE_NAMES = {253: "default", 254: "main", 255: "local"}
SCOPE_NAMES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
PROTO_NAMES = {
    0: "unspec",
    1: "redirect",
    2: "kernel",
    3: "boot",
    4: "static",
    8: "gated",
    9: "ra",
    10: "mrt",
    11: "zebra",
    12: "bird",
    13: "dnrouted",
    14: "xorp",
    15: "ntk",
    16: "dhcp",
    18: "keepalived",
    42: "babel",
    99: "openr",
    186: "bgp",
    187: "isis",
    188: "ospf",
    189: "rip",
    192: "eigrp",
}
ROUTE_TYPES = {
    1: "unicast",
    2: "local",
    3: "broadcast",
    4: "anycast",
    5: "multicast",
    6: "blackhole",
    7: "unreachable",
    8: "prohibit",
    9: "throw",
    10: "nat",
}
RULE_ACTIONS = {1: "lookup", 2: "goto", 3: "nop", 6: "blackhole", 7: "unreachable", 8: "prohibit"}
FAMILIES = {socket.AF_INET: "inet", socket.AF_INET6: "inet6"}
IPVLAN_MODES = {0: "l2", 1: "l3", 2: "l3s"}
VLAN_PROTOCOLS = {0x8100: "802.1Q", 0x88A8: "802.1ad"}


@dataclass(slots=True)
class LinkRef:
    """A link's raw pointer to another link: ifindex, in the netns named by netnsid.

    ``netnsid`` None means "in this same namespace". ``role`` is "peer" (veth)
    or "lower" (macvlan, ipvlan, vlan, vxlan).
    """

    ifindex: int
    netnsid: int | None
    role: str


@dataclass(slots=True)
class LinkTable:
    """What one namespace's link dump gave, before cross-namespace resolution."""

    interfaces: list[Interface]
    refs: dict[int, LinkRef]  # our ifindex -> where its peer/lower is
    by_index: dict[int, Interface] = field(init=False)  # looked up once per peer: keep it

    def __post_init__(self) -> None:
        self.by_index = {i.ifindex: i for i in self.interfaces}


def _attrs(msg: Any) -> dict[str, Any]:
    """Attribute name -> value for one message (the last one wins, as in the kernel).

    The lean decoder's ``attrs`` is that dict already (read, never changed
    here); pyroute2's is a list of pairs. Anything that is not a decoded
    message (None, raw bytes of a kind pyroute2 has no parser for) gives no
    attributes.
    """
    try:
        attrs = msg["attrs"]
        return attrs if type(attrs) is dict else dict(attrs)
    except (TypeError, KeyError, IndexError):
        return {}


# IFLA_BRPORT_STATE (BR_STATE_*): whether a bridge port passes frames.
BRIDGE_PORT_STATES = {0: "disabled", 1: "listening", 2: "learning", 3: "forwarding", 4: "blocking"}


def flag_names(flags: int) -> list[str]:
    return [name for bit, name in IFF_FLAGS if flags & bit]


def parse_link(msg: Any) -> tuple[Interface, LinkRef | None, str | None]:
    """One RTM_NEWLINK message -> (Interface, its pointer if any, the master's ifindex as str).

    The master is returned by index because its name is only known once every
    link of the namespace has been parsed.
    """
    a = _attrs(msg)
    linkinfo = _attrs(a.get("IFLA_LINKINFO"))
    kind = linkinfo.get("IFLA_INFO_KIND")
    data = _attrs(linkinfo.get("IFLA_INFO_DATA"))
    if not kind:
        kind = "loopback" if msg.get("ifi_type") == ARPHRD_LOOPBACK else "device"
    iface = Interface(
        name=a.get("IFLA_IFNAME", ""),
        ifindex=msg["index"],
        kind=kind,
        operstate=str(a.get("IFLA_OPERSTATE", "")),
        flags=flag_names(msg.get("flags", 0)),
        mtu=a.get("IFLA_MTU"),
        mac=a.get("IFLA_ADDRESS") if msg.get("ifi_type") not in (ARPHRD_NONE,) else None,
    )
    alias = a.get("IFLA_IFALIAS")
    if alias:
        iface.alias = alias
    link = a.get("IFLA_LINK")
    netnsid = a.get("IFLA_LINK_NETNSID")
    ref: LinkRef | None = None
    if kind == "veth":
        if link is not None:
            ref = LinkRef(link, netnsid, "peer")
    elif kind in ("macvlan", "macvtap"):
        iface.macvlan = LowerLinkInfo(mode=_str_or_none(data.get("IFLA_MACVLAN_MODE")))
        if link:
            ref = LinkRef(link, netnsid, "lower")
    elif kind == "ipvlan":
        mode = data.get("IFLA_IPVLAN_MODE")
        if isinstance(mode, int):
            mode = IPVLAN_MODES.get(mode, str(mode))
        elif isinstance(mode, str):
            mode = mode.removeprefix("IPVLAN_MODE_").lower()
        iface.ipvlan = LowerLinkInfo(mode=mode)
        if link:
            ref = LinkRef(link, netnsid, "lower")
    elif kind == "vlan":
        proto = data.get("IFLA_VLAN_PROTOCOL")
        iface.vlan = VlanInfo(
            id=data.get("IFLA_VLAN_ID"),
            protocol=VLAN_PROTOCOLS.get(proto, hex(proto)) if isinstance(proto, int) else proto,
        )
        if link:
            ref = LinkRef(link, netnsid, "lower")
    elif kind == "vxlan":
        iface.vxlan = parse_vxlan(data)
        lower = data.get("IFLA_VXLAN_LINK")
        if lower:
            ref = LinkRef(lower, netnsid, "lower")
    elif kind == "bridge":
        iface.bridge = BridgeInfo(stp_state=data.get("IFLA_BR_STP_STATE"))
    if linkinfo.get("IFLA_INFO_SLAVE_KIND") == "bridge":
        state = _attrs(linkinfo.get("IFLA_INFO_SLAVE_DATA")).get("IFLA_BRPORT_STATE")
        if state is not None:
            iface.port_state = BRIDGE_PORT_STATES.get(state, str(state))
    master = a.get("IFLA_MASTER")
    return iface, ref, (str(master) if master else None)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def is_multicast(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr).is_multicast
    except ValueError:
        return False


def parse_vxlan(data: dict[str, Any]) -> VxlanInfo:
    """The kernel reports a unicast remote and a multicast group in the same attribute."""
    info = VxlanInfo(vni=data.get("IFLA_VXLAN_ID"), port=data.get("IFLA_VXLAN_PORT"))
    far = data.get("IFLA_VXLAN_GROUP") or data.get("IFLA_VXLAN_GROUP6")
    if far in ("0.0.0.0", "::"):
        far = None
    if far:
        if is_multicast(far):
            info.group = far
        else:
            info.remote = far
    local = data.get("IFLA_VXLAN_LOCAL") or data.get("IFLA_VXLAN_LOCAL6")
    if local not in (None, "0.0.0.0", "::"):
        info.local = local
    return info


def build_link_table(link_msgs: Iterable[Any], addr_msgs: Iterable[Any]) -> LinkTable:
    interfaces: list[Interface] = []
    refs: dict[int, LinkRef] = {}
    masters: dict[int, str] = {}
    for msg in link_msgs:
        iface, ref, master = parse_link(msg)
        interfaces.append(iface)
        if ref is not None:
            refs[iface.ifindex] = ref
        if master is not None:
            masters[iface.ifindex] = master
    by_index = {i.ifindex: i for i in interfaces}
    for ifindex, master_index in masters.items():
        master = by_index.get(int(master_index))
        iface = by_index[ifindex]
        iface.master = master.name if master else master_index
        if master is not None and master.bridge is not None:
            master.bridge.ports.append(iface.name)
    for iface in interfaces:
        ref = refs.get(iface.ifindex)
        if ref is not None and ref.role == "lower" and ref.netnsid is None:
            # The lower device is in this namespace: name it now.
            lower = by_index.get(ref.ifindex)
            _set_lower(iface, lower.name if lower else None, None)
    for msg in addr_msgs:
        address, ifindex = parse_address(msg)
        iface = by_index.get(ifindex)
        if iface is not None and address is not None:
            iface.addresses.append(address)
    return LinkTable(interfaces=interfaces, refs=refs)


def _set_lower(iface: Interface, name: str | None, netns: int | None) -> None:
    info = iface.macvlan or iface.ipvlan or iface.vlan
    if info is not None:
        info.lower = name
        info.lower_netns = netns
    elif iface.vxlan is not None:
        iface.vxlan.dev = name
        iface.vxlan.dev_netns = netns


def set_lower(iface: Interface, name: str | None, netns: int | None) -> None:
    """Record the lower device found in another namespace (collector use)."""
    _set_lower(iface, name, netns)


def parse_address(msg: Any) -> tuple[Address | None, int]:
    a = _attrs(msg)
    family = FAMILIES.get(msg["family"])
    # For IPv4 IFA_LOCAL is our address; IFA_ADDRESS is the far end on point-to-point links.
    addr = a.get("IFA_LOCAL") or a.get("IFA_ADDRESS")
    if family is None or addr is None:
        return None, msg["index"]
    scope = msg.get("scope")
    return (
        Address(
            family=family,
            cidr=f"{addr}/{msg['prefixlen']}",
            scope=SCOPE_NAMES.get(scope, str(scope)) if scope is not None else None,
            label=a.get("IFA_LABEL"),
        ),
        msg["index"],
    )


def table_name(number: int) -> str:
    return TABLE_NAMES.get(number, str(number))


def parse_route(msg: Any, names: dict[int, str]) -> Route | None:
    family = FAMILIES.get(msg["family"])
    if family is None:
        return None  # MPLS, multicast routing cache …: not what nsview shows
    a = _attrs(msg)
    table = a.get("RTA_TABLE", msg.get("table"))
    dst = a.get("RTA_DST")
    dst_text = f"{dst}/{msg['dst_len']}" if dst is not None else "default"
    oif = a.get("RTA_OIF")
    scope = msg.get("scope")
    proto = msg.get("proto")
    rtype = msg.get("type")
    route = Route(
        family=family,
        table=table_name(table) if table is not None else "main",
        dst=dst_text,
        gateway=a.get("RTA_GATEWAY"),
        dev=names.get(oif, str(oif)) if oif is not None else None,
        scope=SCOPE_NAMES.get(scope, str(scope)) if scope is not None else None,
        protocol=PROTO_NAMES.get(proto, str(proto)) if proto is not None else None,
        type=ROUTE_TYPES.get(rtype, str(rtype)) if rtype is not None else None,
        metric=a.get("RTA_PRIORITY"),
        prefsrc=a.get("RTA_PREFSRC"),
    )
    via = a.get("RTA_VIA")
    if route.gateway is None and isinstance(via, dict):
        route.gateway = via.get("addr")
    for hop in a.get("RTA_MULTIPATH") or ():
        hop_attrs = _attrs(hop)
        gw = hop_attrs.get("RTA_GATEWAY")
        dev = names.get(hop.get("oif"), str(hop.get("oif")))
        route.nexthops.append(f"via {gw} dev {dev}" if gw else f"dev {dev}")
    return route


def parse_rule(msg: Any) -> RoutingRule | None:
    family = FAMILIES.get(msg["family"])
    if family is None:
        return None
    a = _attrs(msg)
    src = a.get("FRA_SRC")
    dst = a.get("FRA_DST")
    table = a.get("FRA_TABLE", msg.get("table"))
    action = msg.get("action")
    rule = RoutingRule(
        family=family,
        priority=a.get("FRA_PRIORITY", 0),
        src=f"{src}/{msg['src_len']}" if src is not None else None,
        dst=f"{dst}/{msg['dst_len']}" if dst is not None else None,
        table=table_name(table) if table else None,
        action=RULE_ACTIONS.get(action, str(action)) if action is not None else None,
        iif=a.get("FRA_IIFNAME"),
        oif=a.get("FRA_OIFNAME"),
        fwmark=a.get("FRA_FWMARK"),
    )
    return rule


# ndm_state / ndm_flags bits, named as `bridge fdb` names them.
NUD_PERMANENT = 0x80
NUD_NOARP = 0x40
NTF_FLAGS = ((0x02, "self"), (0x04, "master"), (0x10, "extern_learn"), (0x20, "offload"))
MAX_FDB_PER_DEVICE = 4096  # a learning bridge on a busy segment: keep the snapshot bounded


def attach_fdb(table: LinkTable, msgs: Iterable[Any]) -> int:
    """Put FDB entries under their bridge (by master) or vxlan device; returns how many
    were left out past MAX_FDB_PER_DEVICE."""
    by_index = table.by_index
    dropped = 0
    for msg in msgs:
        a = _attrs(msg)
        mac = a.get("NDA_LLADDR")
        dev = by_index.get(msg.get("ifindex"))
        if mac is None or dev is None:
            continue
        flags = []
        state = msg.get("state", 0)
        if state & NUD_PERMANENT:
            flags.append("permanent")
        elif state & NUD_NOARP:
            flags.append("static")
        flags += [name for bit, name in NTF_FLAGS if msg.get("flags", 0) & bit]
        entry = FdbEntry(
            mac=mac, port=dev.name, vlan=a.get("NDA_VLAN"), dst=a.get("NDA_DST"), flags=flags
        )
        master = by_index.get(a.get("NDA_MASTER") or 0)
        if master is None and dev.vxlan is None and int(mac[:2], 16) & 1:
            continue  # a device's own multicast filter list ("self"), not forwarding state
        if master is not None and master.bridge is not None:
            target = master.bridge.fdb
        elif dev.vxlan is not None:
            target = dev.vxlan.fdb
        elif dev.bridge is not None:
            target = dev.bridge.fdb  # the bridge's own address (port = the bridge itself)
        else:
            continue  # a plain NIC's own unicast/multicast list: not forwarding state
        if len(target) >= MAX_FDB_PER_DEVICE:
            dropped += 1
            continue
        target.append(entry)
    return dropped


def read_links(rt: Any) -> LinkTable:
    """Links and addresses through an :class:`~nsview.kernel.rtnl.Rtnl` opened inside."""
    return build_link_table(rt.links(), rt.addresses())


def read_routes(rt: Any, names: dict[int, str]) -> list[Route]:
    """Routes of every table, both families."""
    routes = (parse_route(m, names) for m in rt.routes())
    return [r for r in routes if r is not None]


def read_rules(rt: Any) -> list[RoutingRule]:
    rules = (parse_rule(m) for m in rt.rules())
    return sorted((r for r in rules if r is not None), key=lambda r: (r.family, r.priority or 0))


def netnsid_map(rt: Any, wanted: set[int], candidates: Iterable[tuple[int, int]]) -> dict[int, int]:
    """netnsid -> namespace inode, for the netnsids in ``wanted``.

    ``candidates`` are (inode, open fd) of every namespace nsview knows; each is
    asked "what netnsid do you have here?" (RTM_GETNSID, which never assigns
    one) until every wanted id is found. Ids left over belong to namespaces
    nsview cannot reach.
    """
    found: dict[int, int] = {}
    if not wanted:
        return found
    for inode, fd in candidates:
        try:
            nsid = rt.netnsid_of_fd(fd)
        except OSError:
            continue
        if nsid is not None and nsid in wanted:
            found[nsid] = inode
            if len(found) == len(wanted):
                break
    return found
