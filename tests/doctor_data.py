"""Hand-built snapshots for the doctor's unit tests: a small, healthy Docker host.

``host()`` is the initial netns (inode 100) with an uplink (eth0, default via
192.0.2.1), docker0 172.17.0.1/16 forwarding and masquerading, a published port
(DNAT 8080 -> 172.17.0.2:80); two containers on docker0 (``web`` 200 and
``cache`` 300), each with a veth and a default route via 172.17.0.1. Tests
break one thing and look for the one finding that says so.
"""

from __future__ import annotations

from nsview.model import (
    Address,
    BridgeInfo,
    Holder,
    Interface,
    Namespace,
    NatChain,
    NatRule,
    NatTable,
    NetState,
    PeerRef,
    Process,
    Route,
    RoutingRule,
    RuleMatch,
    Snapshot,
    Socket,
)

HOST, WEB, CACHE = 100, 200, 300


def iface(name, ifindex, kind="veth", addrs=(), mtu=1500, up=True, **kw) -> Interface:
    return Interface(
        name=name, ifindex=ifindex, kind=kind, mtu=mtu,
        operstate="UP" if up else "DOWN",
        flags=["UP", "BROADCAST", "LOWER_UP"] if up else ["BROADCAST"],
        addresses=[Address("inet6" if ":" in a else "inet", a, "global") for a in addrs], **kw)


def peer(netns, ifindex, name) -> PeerRef:
    return PeerRef(netns=netns, ifindex=ifindex, name=name)


def rules() -> list[RoutingRule]:
    return [RoutingRule("inet", 0, table="local", action="lookup"),
            RoutingRule("inet", 32766, table="main", action="lookup"),
            RoutingRule("inet", 32767, table="default", action="lookup")]


def masquerade(src: str, bridge: str) -> NatRule:
    return NatRule(text=f"-A POSTROUTING -s {src} ! -o {bridge} -j MASQUERADE",
                   target="MASQUERADE", source=src, out_iface=bridge, negated=["out_iface"])


def dnat(port: str, to: str) -> NatRule:
    return NatRule(text=f"-A DOCKER -p tcp -m tcp --dport {port} -j DNAT --to-destination {to}",
                   target="DNAT", protocol="tcp", dport=port, to_destination=to)


def nat(postrouting: list[NatRule], docker: list[NatRule], backend="iptables-nft") -> NatTable:
    return NatTable(backend, "ipv4", "nat", [
        NatChain("PREROUTING", "ACCEPT", "prerouting", rules=[NatRule(
            text="-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER", target="DOCKER",
            parsed=False, extra=["-m addrtype", "--dst-type LOCAL"])]),
        NatChain("POSTROUTING", "ACCEPT", "postrouting", rules=postrouting),
        NatChain("DOCKER", rules=docker),
    ])


def m(kind: str, value: str, negated: bool = False) -> RuleMatch:
    return RuleMatch(kind, value, negated, text=f"{'! ' if negated else ''}{kind} {value}")


def rule(text: str, target: str, *conds: RuleMatch) -> NatRule:
    return NatRule(text=text, target=target, matches=list(conds))


def docker_filter() -> NatTable:
    """Docker's FORWARD: policy DROP, replies accepted, new connections only to the
    published container port (via the DOCKER chain)."""
    return NatTable("iptables-nft", "ipv4", "filter", [
        NatChain("FORWARD", "DROP", "forward", rules=[
            rule("-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                 "ACCEPT", m("out_iface", "docker0"), m("ctstate", "RELATED,ESTABLISHED")),
            rule("-A FORWARD -o docker0 -j DOCKER", "DOCKER", m("out_iface", "docker0")),
            rule("-A FORWARD -i docker0 ! -o docker0 -j ACCEPT", "ACCEPT",
                 m("in_iface", "docker0"), m("out_iface", "docker0", True)),
        ]),
        NatChain("DOCKER", rules=[
            rule("-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 "
                 "-j ACCEPT", "ACCEPT", m("destination", "172.17.0.2/32"),
                 m("in_iface", "docker0", True), m("out_iface", "docker0"), m("protocol", "tcp"),
                 m("dport", "80")),
        ]),
    ])


def listener(port: int, address: str = "0.0.0.0", proto: str = "tcp") -> Socket:
    return Socket(proto, "inet", "LISTEN" if proto == "tcp" else "UNCONN",
                  f"{address}:{port}", address=address, port=port, inode=1000 + port)


def container(inode, pid, ip, veth_index, host_veth) -> Namespace:
    net = NetState(
        interfaces=[iface("lo", 1, "loopback", ["127.0.0.1/8"], mtu=65536),
                    iface("eth0", 2, addrs=[f"{ip}/16"], peer=peer(HOST, veth_index, host_veth))],
        routes=[Route("inet", "main", "default", gateway="172.17.0.1", dev="eth0"),
                Route("inet", "main", "172.17.0.0/16", dev="eth0", scope="link")],
        rules=rules(),
        sysctls={"net.ipv4.ip_forward": "0", "net.ipv4.conf.all.rp_filter": "0"},
        sockets=[listener(80 if ip.endswith(".2") else 6379)])
    return Namespace("net", inode, pids=[pid], holders=[Holder("process", pid=pid)], net=net)


def host() -> Snapshot:
    docker0 = iface("docker0", 3, "bridge", ["172.17.0.1/16"], bridge=BridgeInfo(ports=[]))
    hnet = NetState(
        interfaces=[
            iface("lo", 1, "loopback", ["127.0.0.1/8"], mtu=65536),
            iface("eth0", 2, "device", ["192.0.2.10/24"]),
            docker0,
            iface("vethweb", 10, master="docker0", port_state="forwarding",
                  peer=peer(WEB, 2, "eth0")),
            iface("vethcache", 11, master="docker0", port_state="forwarding",
                  peer=peer(CACHE, 2, "eth0")),
        ],
        routes=[Route("inet", "main", "default", gateway="192.0.2.1", dev="eth0"),
                Route("inet", "main", "192.0.2.0/24", dev="eth0", scope="link"),
                Route("inet", "main", "172.17.0.0/16", dev="docker0", scope="link")],
        rules=rules(),
        nat=[nat([masquerade("172.17.0.0/16", "docker0")], [dnat("8080", "172.17.0.2:80")])],
        filter=[docker_filter()],
        sysctls={"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.rp_filter": "0"})
    namespaces = [
        Namespace("net", HOST, pids=[1, 2], holders=[Holder("process", pid=2)], net=hnet),
        container(WEB, 20, "172.17.0.2", 10, "vethweb"),
        container(CACHE, 30, "172.17.0.3", 11, "vethcache"),
    ]
    processes = [
        Process(2, ppid=0, comm="kthreadd", kthread=True, ns={"net": HOST}),
        Process(20, ppid=1, comm="nginx", ns={"net": WEB}),
        Process(30, ppid=1, comm="redis-server", ns={"net": CACHE}),
    ]
    return Snapshot(namespaces=namespaces, processes=processes)


def net(snapshot: Snapshot, inode: int) -> NetState:
    return snapshot.namespace("net", inode).net


def link(snapshot: Snapshot, inode: int, name: str) -> Interface:
    return next(i for i in net(snapshot, inode).interfaces if i.name == name)
