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
class RuleMatch:
    """One condition of a packet-filter rule; a rule matches when all of its hold.

    ``kind`` names what is tested and ``value`` what it must equal (as the
    backend prints it). Kinds: ``protocol``, ``source``, ``destination``,
    ``in_iface``, ``out_iface``, ``sport``, ``dport`` (``80``, ``80:90``,
    ``80,443``), ``src_type`` / ``dst_type`` (``-m addrtype`` and nft
    ``fib saddr/daddr type``: ``LOCAL``, ``BROADCAST`` …, upper case),
    ``ctstate`` (``RELATED,ESTABLISHED``, upper case), ``ctstatus``,
    ``comment``, ``set`` (``-m set --match-set NAME FLAGS`` / nft ``@NAME``:
    value NAME, options ``{"flags": "dst,dst"}`` or ``{"on": "ip daddr"}``),
    ``statistic`` (value the probability ``"0.50000000000"``, options
    ``mode``/``every``/``packet``), ``mark``, ``connmark``, ``icmp_type``,
    ``physdev_in``/``physdev_out``; ``other`` for anything nsview does not
    know (``parsed`` false, ``text`` is the truth).
    """

    kind: str
    value: str | None = None
    negated: bool = False
    options: dict[str, str] = field(default_factory=dict)
    text: str = ""  # this condition as the backend wrote it
    parsed: bool = True


@dataclass(slots=True)
class VerdictMap:
    """nftables ``KEY vmap { ELEMENT : VERDICT, … }``: one verdict per key value."""

    key: str  # the tested expression, e.g. "iifname", "ip daddr . tcp dport"
    entries: dict[str, str] = field(default_factory=dict)  # "docker0" -> "jump DOCKER"
    set: str | None = None  # a named map (@name) instead of inline elements


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
    # Every condition of the rule, in order (a superset of the fields above).
    matches: list[RuleMatch] = field(default_factory=list)
    # The target's own options that have no field above (REJECT --reject-with …).
    target_options: dict[str, str] = field(default_factory=dict)
    vmap: VerdictMap | None = None  # nftables verdict map: the verdict depends on a key


@dataclass(slots=True)
class NatChain:
    name: str
    policy: str | None = None  # ACCEPT/DROP for built-in chains, None for user chains
    hook: str | None = None  # prerouting, postrouting, output, input (nft); None for user chains
    priority: int | str | None = None  # nftables base chains
    type: str | None = None  # nftables base chains: "filter", "nat", "route"
    rules: list[NatRule] = field(default_factory=list)


@dataclass(slots=True)
class NatTable:
    backend: str  # "iptables-legacy" | "iptables-nft" | "nftables"
    family: str  # "ipv4" | "ipv6" | "inet" | "ip" | "ip6" (nft family names kept)
    table: str  # "nat" / "filter" / "mangle" / "raw" or the nftables table name
    chains: list[NatChain] = field(default_factory=list)


# The same shapes hold every table: NatTable is the historical name.
RuleTable = NatTable
RuleChain = NatChain
Rule = NatRule


@dataclass(slots=True)
class Socket:
    """One socket in a netns, as sock_diag reports it, with the processes holding it.

    ``local``/``remote`` are ``"ip:port"`` (IPv6 in brackets: ``"[::1]:53"``)
    for inet sockets and the name for unix ones (``"@abstract"`` or a path);
    ``address``/``port`` and ``remote_address``/``remote_port`` are the same
    split for matching. ``remote`` is None when not connected.
    """

    proto: str  # "tcp" | "udp" | "tcp6" | "udp6" | "unix"
    family: str  # "inet" | "inet6" | "unix"
    state: str  # LISTEN, ESTABLISHED, TIME_WAIT, … ; UNCONN for unconnected udp
    local: str
    remote: str | None = None
    address: str | None = None  # local IP ("0.0.0.0", "::" for any)
    port: int | None = None  # local port
    remote_address: str | None = None
    remote_port: int | None = None
    inode: int = 0  # 0 for TIME_WAIT and other sockets no file holds
    pids: list[int] = field(default_factory=list)  # processes with an fd on it
    uid: int | None = None
    interface: str | None = None  # bound with SO_BINDTODEVICE
    v6only: bool | None = None  # inet6 only: False means "::" also takes IPv4
    type: str | None = None  # unix only: "stream" | "dgram" | "seqpacket"


@dataclass(slots=True)
class SocketSummary:
    """How many sockets a netns holds, by proto and state, when not all are listed."""

    total: int = 0
    by_state: dict[str, int] = field(default_factory=dict)  # "tcp ESTABLISHED" -> 12


@dataclass(slots=True)
class ConntrackTuple:
    src: str
    dst: str
    sport: int | None = None  # tcp/udp/sctp; icmp: None
    dport: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    icmp_id: int | None = None


@dataclass(slots=True)
class ConntrackEntry:
    family: str  # "ipv4" | "ipv6"
    proto: str  # "tcp", "udp", "icmp", "icmpv6", … or the number
    original: ConntrackTuple
    reply: ConntrackTuple
    state: str | None = None  # tcp: ESTABLISHED, TIME_WAIT, SYN_SENT, …
    status: list[str] = field(default_factory=list)  # ASSURED, SEEN_REPLY, DST_NAT, SRC_NAT …
    mark: int | None = None
    zone: int | None = None
    timeout: int | None = None  # seconds left


@dataclass(slots=True)
class ConntrackTable:
    """The netns's conntrack entries, read only when asked (``dump --conntrack``)."""

    entries: list[ConntrackEntry] = field(default_factory=list)
    count: int = 0  # entries the kernel listed (``entries`` holds at most the cap)
    truncated: bool = False  # True: more than the cap; ``by_state`` still counts them all
    by_state: dict[str, int] = field(default_factory=dict)  # "tcp ESTABLISHED" -> n, "udp" -> n
    source: str = "netlink"  # "netlink" | "proc" (/proc/net/nf_conntrack)


@dataclass(slots=True)
class NetState:
    interfaces: list[Interface] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    rules: list[RoutingRule] = field(default_factory=list)
    nat: list[NatTable] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    nsids: dict[int, int] = field(default_factory=dict)  # netnsid -> netns inode
    errors: list[str] = field(default_factory=list)
    # Every table other than nat (filter, mangle, raw, security; nft filter/route chains).
    filter: list[NatTable] = field(default_factory=list)
    sockets: list[Socket] = field(default_factory=list)
    # Set when sockets were capped (a busy host): counts of all, listed or not.
    socket_summary: SocketSummary | None = None
    conntrack: ConntrackTable | None = None  # None: not asked for (dump --conntrack)
