"""What a network namespace holds, as read from inside it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Address:
    family: str  # "inet" | "inet6"
    cidr: str  # "172.17.0.1/16"
    scope: str | None = None
    label: str | None = None


@dataclass(slots=True)
class PeerRef:
    """The other end of a veth (or the lower device of a link in another netns)."""

    netns: int | None = None  # inode of the peer's netns, None when unreachable
    ifindex: int | None = None
    name: str | None = None
    status: str = "resolved"  # "resolved" | "unreachable" | "unverified"


@dataclass(slots=True)
class FdbEntry:
    mac: str
    port: str | None = None
    vlan: int | None = None
    dst: str | None = None  # vxlan remote for this MAC
    flags: list[str] = field(default_factory=list)  # permanent, static, self, master, extern_learn


@dataclass(slots=True)
class BridgeInfo:
    ports: list[str] = field(default_factory=list)
    stp_state: int | None = None  # 0 = off
    fdb: list[FdbEntry] = field(default_factory=list)


@dataclass(slots=True)
class VxlanInfo:
    vni: int | None = None
    remote: str | None = None  # unicast peer
    group: str | None = None  # multicast group
    port: int | None = None
    local: str | None = None
    dev: str | None = None  # lower device name
    dev_netns: int | None = None  # inode of the lower device's netns when it is not this one
    fdb: list[FdbEntry] = field(default_factory=list)  # MAC -> remote VTEP (dst) entries


@dataclass(slots=True)
class LowerLinkInfo:
    """macvlan/ipvlan: the mode and the lower ("physical") device."""

    mode: str | None = None
    lower: str | None = None
    lower_netns: int | None = None  # inode of the lower device's netns when it is not this one


@dataclass(slots=True)
class VlanInfo:
    """802.1Q/802.1ad sub-interface: the VLAN id and the lower device."""

    id: int | None = None
    protocol: str | None = None  # "802.1Q" | "802.1ad"
    lower: str | None = None
    lower_netns: int | None = None


@dataclass(slots=True)
class Interface:
    name: str
    ifindex: int
    kind: str = ""  # veth, bridge, vxlan, macvlan, ipvlan, tun, loopback, device, ...
    operstate: str = ""
    flags: list[str] = field(default_factory=list)
    mtu: int | None = None
    mac: str | None = None
    addresses: list[Address] = field(default_factory=list)
    master: str | None = None  # the bridge (or bond) this is a port of
    # As a bridge port: disabled, listening, learning, forwarding or blocking (STP).
    port_state: str | None = None
    peer: PeerRef | None = None  # veth
    bridge: BridgeInfo | None = None
    vxlan: VxlanInfo | None = None
    macvlan: LowerLinkInfo | None = None
    ipvlan: LowerLinkInfo | None = None
    vlan: VlanInfo | None = None
    alias: str | None = None


@dataclass(slots=True)
class Route:
    family: str
    table: str  # "main" | "local" | "default" | the number
    dst: str  # "default" or CIDR
    gateway: str | None = None
    dev: str | None = None
    scope: str | None = None
    protocol: str | None = None
    type: str | None = None
    metric: int | None = None
    prefsrc: str | None = None
    nexthops: list[str] = field(default_factory=list)  # multipath: "via GW dev DEV" each


@dataclass(slots=True)
class RoutingRule:
    family: str
    priority: int | None = None
    src: str | None = None
    dst: str | None = None
    table: str | None = None
    action: str | None = None
    iif: str | None = None
    oif: str | None = None
    fwmark: int | None = None


@dataclass(slots=True)
class NatRule:
    text: str  # the rule as the backend printed it; never dropped
    target: str | None = None  # DNAT, SNAT, MASQUERADE, REDIRECT, RETURN, ACCEPT, a chain …
    to_destination: str | None = None
    to_source: str | None = None
    to_ports: str | None = None
    protocol: str | None = None
    dport: str | None = None
    sport: str | None = None
    in_iface: str | None = None
    out_iface: str | None = None
    source: str | None = None
    destination: str | None = None
    negated: list[str] = field(default_factory=list)  # names of fields matched with "!"
    comment: str | None = None
    parsed: bool = True  # False: some part was not understood; see `extra`, trust `text`
    goto: bool = False  # -g / goto: the target chain does not return here
    target_flags: list[str] = field(default_factory=list)  # random, persistent, fully-random …
    extra: list[str] = field(default_factory=list)  # the parts nsview has no field for
    handle: int | None = None  # nftables rule handle


@dataclass(slots=True)
class NatChain:
    name: str
    policy: str | None = None  # ACCEPT/DROP for built-in chains, None for user chains
    hook: str | None = None  # prerouting, postrouting, output, input (nft); None for user chains
    priority: int | str | None = None  # nftables base chains
    rules: list[NatRule] = field(default_factory=list)


@dataclass(slots=True)
class NatTable:
    backend: str  # "iptables-legacy" | "iptables-nft" | "nftables"
    family: str  # "ipv4" | "ipv6" | "inet" | "ip" | "ip6" (nft family names kept)
    table: str  # "nat" or the nftables table name
    chains: list[NatChain] = field(default_factory=list)


@dataclass(slots=True)
class NetState:
    interfaces: list[Interface] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    rules: list[RoutingRule] = field(default_factory=list)
    nat: list[NatTable] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    nsids: dict[int, int] = field(default_factory=dict)  # netnsid -> netns inode
    errors: list[str] = field(default_factory=list)
