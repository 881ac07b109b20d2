"""Snapshots for the TUI tests, built by hand (no kernel needed).

``fixture_snapshot()`` is a small host with two containers, a rootless user
namespace, named netns, a bridge with veth ports, vxlan, macvlan and NAT;
tests/fixtures/tui_snapshot.json is its JSON form (regenerate with
``python tests/tui_data.py``). ``large_snapshot()`` makes a host of any size.
"""

from __future__ import annotations

from pathlib import Path

from nsview.model import (
    NS_TYPES,
    Address,
    BridgeInfo,
    Diagnostic,
    FdbEntry,
    Holder,
    Host,
    Interface,
    LowerLinkInfo,
    Namespace,
    NatChain,
    NatRule,
    NatTable,
    NetState,
    PeerRef,
    Process,
    Route,
    RoutingRule,
    Snapshot,
    VxlanInfo,
    snapshot_to_json,
)

FIXTURE = Path(__file__).parent / "fixtures" / "tui_snapshot.json"

HOST_NS = {
    "cgroup": 4026531835,
    "ipc": 4026531839,
    "mnt": 4026531841,
    "net": 4026531840,
    "pid": 4026531836,
    "time": 4026531834,
    "user": 4026531837,
    "uts": 4026531838,
}
WEB_NET, REDIS_NET, LAB_A_NET, LAB_B_NET = 4026532300, 4026532400, 4026532500, 4026532600
ROOTLESS_USER = 4026532405


def _proc(pid, ppid, comm, cmdline, ns=None, nspid=None, uid=0) -> Process:
    full = dict(HOST_NS)
    full.update(ns or {})
    return Process(
        pid=pid,
        ppid=ppid,
        comm=comm,
        cmdline=cmdline,
        uid=uid,
        nspid=nspid or [pid],
        cgroup="/system.slice",
        ns=full,
    )


def _lo() -> Interface:
    return Interface(
        name="lo",
        ifindex=1,
        kind="loopback",
        operstate="UNKNOWN",
        flags=["LOOPBACK", "UP"],
        mtu=65536,
        addresses=[Address("inet", "127.0.0.1/8", "host")],
    )


def _veth(name, ifindex, cidr, peer_ns, peer_ifindex, peer_name, master=None) -> Interface:
    return Interface(
        name=name,
        ifindex=ifindex,
        kind="veth",
        operstate="UP",
        flags=["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
        mtu=1500,
        mac=f"02:42:ac:11:00:{ifindex:02x}",
        addresses=[Address("inet", cidr)] if cidr else [],
        master=master,
        peer=PeerRef(netns=peer_ns, ifindex=peer_ifindex, name=peer_name),
    )


def _namespaces(processes: list[Process], extra: dict) -> list[Namespace]:
    table: dict[tuple[str, int], Namespace] = {}
    for proc in processes:
        for t, inode in proc.ns.items():
            ns = table.setdefault((t, inode), Namespace(type=t, inode=inode, dev=4))
            ns.pids.append(proc.pid)
            ns.holders.append(Holder("process", pid=proc.pid))
    for key, fields in extra.items():
        ns = table.setdefault(key, Namespace(type=key[0], inode=key[1], dev=4))
        for name, value in fields.items():
            if name == "holders":
                ns.holders.extend(value)
            else:
                setattr(ns, name, value)
    out = sorted(table.values(), key=lambda ns: (ns.type, ns.inode))
    for ns in out:
        ns.pids.sort()
        if ns.owner is None and ns.type != "user":
            ns.owner = HOST_NS["user"]
    return out


def fixture_snapshot() -> Snapshot:
    web = {
        "cgroup": 4026532305,
        "ipc": 4026532304,
        "mnt": 4026532301,
        "net": WEB_NET,
        "pid": 4026532302,
        "uts": 4026532303,
    }
    redis = {
        "ipc": 4026532404,
        "mnt": 4026532401,
        "net": REDIS_NET,
        "pid": 4026532402,
        "uts": 4026532403,
        "user": ROOTLESS_USER,
    }
    processes = [
        _proc(1, 0, "systemd", ["/sbin/init"]),
        _proc(400, 1, "sshd", ["sshd: /usr/sbin/sshd -D"]),
        _proc(410, 400, "bash", ["-bash"]),
        _proc(500, 1, "containerd", ["/usr/bin/containerd"]),
        _proc(600, 500, "containerd-shim", ["containerd-shim-runc-v2", "-id", "web"]),
        _proc(601, 600, "nginx", ["nginx: master process nginx"], web, [601, 1]),
        _proc(602, 601, "nginx", ["nginx: worker process"], web, [602, 7], uid=101),
        _proc(700, 500, "containerd-shim", ["containerd-shim-runc-v2", "-id", "cache"]),
        _proc(701, 700, "redis-server", ["redis-server *:6379"], redis, [701, 1], uid=1000),
        _proc(800, 410, "sleep", ["sleep", "infinity"], {"net": LAB_A_NET}),
    ]
    processes[0].ns_for_children = {}
    processes[9].threads = 1

    host_net = NetState(
        interfaces=[
            _lo(),
            Interface(
                name="eth0",
                ifindex=2,
                kind="device",
                operstate="UP",
                mtu=1500,
                mac="52:54:00:12:34:56",
                addresses=[
                    Address("inet", "192.168.1.10/24", "global"),
                    Address("inet6", "fe80::5054:ff:fe12:3456/64", "link"),
                ],
            ),
            Interface(
                name="docker0",
                ifindex=3,
                kind="bridge",
                operstate="UP",
                mtu=1500,
                mac="02:42:9a:00:00:01",
                addresses=[Address("inet", "172.17.0.1/16", "global")],
                bridge=BridgeInfo(
                    ports=["vethaaa", "vethbbb"],
                    stp_state=0,
                    fdb=[FdbEntry(mac="02:42:ac:11:00:02", port="vethaaa")],
                ),
            ),
            Interface(
                name="vx0",
                ifindex=4,
                kind="vxlan",
                operstate="UNKNOWN",
                mtu=1450,
                addresses=[Address("inet", "10.200.0.1/24")],
                vxlan=VxlanInfo(vni=42, remote="192.168.1.20", port=4789, dev="eth0"),
            ),
            _veth("vethaaa", 5, None, WEB_NET, 2, "eth0", master="docker0"),
            _veth("vethbbb", 6, None, REDIS_NET, 2, "eth0", master="docker0"),
            Interface(
                name="mv0",
                ifindex=7,
                kind="macvlan",
                operstate="UP",
                macvlan=LowerLinkInfo(mode="bridge", lower="eth0"),
            ),
            _veth("veth-a0", 8, "10.9.0.1/24", LAB_A_NET, 2, "veth-a1"),
        ],
        routes=[
            Route("inet", "main", "default", gateway="192.168.1.1", dev="eth0", protocol="dhcp"),
            Route(
                "inet", "main", "172.17.0.0/16", dev="docker0", scope="link", prefsrc="172.17.0.1"
            ),
            Route("inet", "main", "10.9.0.0/24", dev="veth-a0", scope="link"),
            Route("inet", "local", "192.168.1.10", dev="eth0", type="local", scope="host"),
        ],
        rules=[
            RoutingRule("inet", 0, table="local"),
            RoutingRule("inet", 32766, table="main"),
            RoutingRule("inet", 32767, table="default"),
        ],
        nat=[
            NatTable(
                backend="iptables-nft",
                family="ipv4",
                table="nat",
                chains=[
                    NatChain(
                        "PREROUTING",
                        policy="ACCEPT",
                        hook="prerouting",
                        rules=[
                            NatRule(
                                text="-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
                                target="DOCKER",
                            )
                        ],
                    ),
                    NatChain(
                        "POSTROUTING",
                        policy="ACCEPT",
                        hook="postrouting",
                        rules=[
                            NatRule(
                                text="-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
                                target="MASQUERADE",
                                source="172.17.0.0/16",
                                out_iface="docker0",
                                negated=["out_iface"],
                            ),
                            NatRule(
                                text=(
                                    "-A POSTROUTING -s 10.9.0.0/24 -j SNAT --to-source 192.168.1.10"
                                ),
                                target="SNAT",
                                source="10.9.0.0/24",
                                to_source="192.168.1.10",
                            ),
                        ],
                    ),
                    NatChain(
                        "DOCKER",
                        rules=[
                            NatRule(
                                text=(
                                    "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080"
                                    " -j DNAT --to-destination 172.17.0.2:80"
                                ),
                                target="DNAT",
                                protocol="tcp",
                                dport="8080",
                                in_iface="docker0",
                                negated=["in_iface"],
                                to_destination="172.17.0.2:80",
                            ),
                            NatRule(text="-A DOCKER -m weird --thing", parsed=False),
                        ],
                    ),
                ],
            )
        ],
        sysctls={"net.ipv4.ip_forward": "1"},
    )
    web_net = NetState(
        interfaces=[_lo(), _veth("eth0", 2, "172.17.0.2/16", HOST_NS["net"], 5, "vethaaa")],
        routes=[
            Route("inet", "main", "default", gateway="172.17.0.1", dev="eth0"),
            Route("inet", "main", "172.17.0.0/16", dev="eth0", scope="link", prefsrc="172.17.0.2"),
        ],
    )
    redis_net = NetState(
        interfaces=[_lo(), _veth("eth0", 2, "172.17.0.3/16", HOST_NS["net"], 6, "vethbbb")],
        routes=[Route("inet", "main", "default", gateway="172.17.0.1", dev="eth0")],
    )
    lab_a_net = NetState(
        interfaces=[_lo(), _veth("veth-a1", 2, "10.9.0.2/24", HOST_NS["net"], 8, "veth-a0")],
        routes=[Route("inet", "main", "default", gateway="10.9.0.1", dev="veth-a1")],
    )
    lonely = _veth("veth-b1", 2, "10.10.0.2/24", None, 99, None)
    lonely.peer = PeerRef(netns=None, ifindex=99, name=None, status="unreachable")
    lab_b_net = NetState(interfaces=[_lo(), lonely])

    extra = {
        ("net", HOST_NS["net"]): {"net": host_net},
        ("net", WEB_NET): {"net": web_net},
        ("net", REDIS_NET): {"net": redis_net, "owner": ROOTLESS_USER},
        ("net", LAB_A_NET): {
            "net": lab_a_net,
            "names": ["nsvlab-a"],
            "holders": [Holder("bind_mount", pid=410, path="/run/netns/nsvlab-a")],
        },
        ("net", LAB_B_NET): {
            "net": lab_b_net,
            "names": ["nsvlab-b"],
            "holders": [Holder("bind_mount", pid=410, path="/run/netns/nsvlab-b")],
        },
        ("pid", 4026532302): {"parent": HOST_NS["pid"]},
        ("pid", 4026532402): {"parent": HOST_NS["pid"], "owner": ROOTLESS_USER},
        ("user", ROOTLESS_USER): {
            "parent": HOST_NS["user"],
            "owner": HOST_NS["user"],
            "owner_uid": 1000,
        },
        ("user", HOST_NS["user"]): {"owner_uid": 0},
        ("ipc", 4026532404): {"owner": ROOTLESS_USER},
        ("mnt", 4026532401): {"owner": ROOTLESS_USER},
        ("uts", 4026532403): {"owner": ROOTLESS_USER},
        ("mnt", 4026532999): {"holders": [Holder("fd", pid=400, fd=7)]},
    }
    return Snapshot(
        collected_at="2026-01-01T03:00:00Z",
        host=Host(
            hostname="fixture-host", kernel="6.1.0-fixture", collector_uid=0, nsview_version="0.1.0"
        ),
        namespaces=_namespaces(processes, extra),
        processes=processes,
        diagnostics=[Diagnostic("denied", "fds", "permission denied (EACCES)", pids=[410])],
    )


def large_snapshot(n_netns: int = 100, per_netns: int = 10) -> Snapshot:
    """A host with ``n_netns`` container-like groups of ``per_netns`` processes each,
    every container's eth0 a veth whose peer is a port of the host bridge br0."""
    base = 4026600000
    processes = [_proc(1, 0, "init", ["/sbin/init"])]
    host_ifaces = [
        _lo(),
        Interface(
            "br0",
            2,
            "bridge",
            "UP",
            addresses=[Address("inet", "10.0.0.1/16")],
            bridge=BridgeInfo(),
        ),
    ]
    extra: dict = {}
    pid = 100
    for k in range(n_netns):
        ns = {t: base + k * 10 + i for i, t in enumerate(NS_TYPES) if t not in ("user", "time")}
        shim = pid
        processes.append(_proc(shim, 1, "shim", ["shim", "-id", f"c{k}"]))
        pid += 1
        leader = pid
        for j in range(per_netns - 1):
            parent = shim if j == 0 else leader
            processes.append(
                _proc(pid, parent, f"app{k}", ["app", f"--worker={j}"], ns, [pid, j + 1])
            )
            pid += 1
        ifindex = 10 + k
        host_ifaces.append(_veth(f"veth{k}", ifindex, None, ns["net"], 2, "eth0", master="br0"))
        ip = f"10.0.{k // 250}.{k % 250 + 2}/16"
        extra[("net", ns["net"])] = {
            "net": NetState(
                interfaces=[_lo(), _veth("eth0", 2, ip, HOST_NS["net"], ifindex, f"veth{k}")],
                routes=[Route("inet", "main", "default", gateway="10.0.0.1", dev="eth0")],
            )
        }
        extra[("pid", ns["pid"])] = {"parent": HOST_NS["pid"]}
    extra[("net", HOST_NS["net"])] = {"net": NetState(interfaces=host_ifaces)}
    return Snapshot(
        collected_at="2026-01-01T03:00:00Z",
        host=Host(hostname="big-host", kernel="6.1.0-fixture"),
        namespaces=_namespaces(processes, extra),
        processes=processes,
    )


if __name__ == "__main__":
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(snapshot_to_json(fixture_snapshot()) + "\n")
    print(f"wrote {FIXTURE}")
