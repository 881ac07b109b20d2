"""Link parsing from netlink bytes, and peer resolution across namespaces.

This kernel cannot create dummy, vlan or ipvlan links, so their RTM_NEWLINK
messages are encoded to the kernel's binary format with pyroute2 and decoded
back, exactly as a dump from a kernel that has them would arrive.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from nsview.collect.links import LinkRef, LinkTable, build_link_table, parse_link, parse_vxlan
from nsview.collect.network import NetnsReading, resolve_links
from nsview.model import Interface, NetState

from .conftest import run

IFF_UP_BROADCAST_MULTICAST = 0x1 | 0x2 | 0x1000


def _wire(cls, fields: dict, attrs: list):
    """Encode a message to bytes and decode it again, as a dump delivers it."""
    msg = cls()
    for key, value in fields.items():
        msg[key] = value
    msg["attrs"] = attrs
    msg.encode()
    data = bytes(msg.data[: msg["header"]["length"]])
    out = cls(data)
    out.decode()
    return out


def _link(index: int, name: str, kind: str | None, data=None, extra=(), ifi_type=1):
    attrs = [
        ("IFLA_IFNAME", name),
        ("IFLA_MTU", 1500),
        ("IFLA_OPERSTATE", "UP"),
        ("IFLA_ADDRESS", f"02:00:00:00:00:{index:02x}"),
        *extra,
    ]
    if kind is not None:
        info = [("IFLA_INFO_KIND", kind)]
        if data is not None:
            info.append(("IFLA_INFO_DATA", {"attrs": data}))
        attrs.append(("IFLA_LINKINFO", {"attrs": info}))
    return _wire(
        ifinfmsg,
        {
            "family": 0,
            "index": index,
            "flags": IFF_UP_BROADCAST_MULTICAST,
            "ifi_type": ifi_type,
            "change": 0,
        },
        attrs,
    )


def test_dummy_vlan_ipvlan_from_netlink_bytes():
    eth = _link(3, "eth0", None)
    dummy = _link(4, "dummy0", "dummy")
    vlan = _link(
        5,
        "eth0.10",
        "vlan",
        [("IFLA_VLAN_ID", 10), ("IFLA_VLAN_PROTOCOL", 0x8100)],
        extra=[("IFLA_LINK", 3)],
    )
    ipvlan = _link(6, "ipv0", "ipvlan", [("IFLA_IPVLAN_MODE", 2)], extra=[("IFLA_LINK", 3)])
    lo = _link(1, "lo", None, ifi_type=772)
    addr = _wire(
        ifaddrmsg,
        {"family": 2, "prefixlen": 24, "flags": 0, "scope": 0, "index": 5},
        [("IFA_ADDRESS", "192.0.2.10"), ("IFA_LOCAL", "192.0.2.10"), ("IFA_LABEL", "eth0.10")],
    )
    table = build_link_table([lo, eth, dummy, vlan, ipvlan], [addr])
    by = {i.name: i for i in table.interfaces}
    assert by["lo"].kind == "loopback"
    assert by["eth0"].kind == "device"
    assert by["dummy0"].kind == "dummy"
    assert by["dummy0"].flags == ["UP", "BROADCAST", "MULTICAST"]
    assert (by["eth0.10"].vlan.id, by["eth0.10"].vlan.protocol, by["eth0.10"].vlan.lower) == (
        10,
        "802.1Q",
        "eth0",
    )
    assert (by["ipv0"].ipvlan.mode, by["ipv0"].ipvlan.lower) == ("l3s", "eth0")
    assert [a.cidr for a in by["eth0.10"].addresses] == ["192.0.2.10/24"]
    assert by["eth0.10"].addresses[0].scope == "global"


def test_veth_with_netnsid_keeps_a_raw_pointer_only():
    veth = _link(9, "eth0", "veth", extra=[("IFLA_LINK", 12), ("IFLA_LINK_NETNSID", 3)])
    iface, ref, master = parse_link(veth)
    assert iface.peer is None  # resolved later, across namespaces
    assert ref == LinkRef(ifindex=12, netnsid=3, role="peer")
    assert master is None


def test_bridge_ports_from_master():
    br = _link(2, "br0", "bridge", [("IFLA_BR_STP_STATE", 1)])
    port = _link(3, "vethA", "veth", extra=[("IFLA_MASTER", 2), ("IFLA_LINK", 4)])
    table = build_link_table([br, port], [])
    by = {i.name: i for i in table.interfaces}
    assert by["br0"].bridge.ports == ["vethA"]
    assert by["br0"].bridge.stp_state == 1
    assert by["vethA"].master == "br0"


@pytest.mark.privileged
def test_bridge_port_state_from_the_kernel(netns_factory):
    """A port with its link up forwards; a port whose peer is down is disabled;
    with STP on, a new port starts listening. Read as `nsview net --json`."""
    import json
    import subprocess

    from .conftest import nsview_bin

    name = netns_factory("stp")
    for argv in (
        ["link", "add", "nsvbr", "type", "bridge"],
        ["link", "add", "nsvp0", "type", "veth", "peer", "name", "nsvq0"],
        ["link", "add", "nsvp1", "type", "veth", "peer", "name", "nsvq1"],
        ["link", "set", "nsvp0", "master", "nsvbr"],
        ["link", "set", "nsvp1", "master", "nsvbr"],
        ["link", "set", "nsvbr", "up"],
        ["link", "set", "nsvp0", "up"],
        ["link", "set", "nsvq0", "up"],
        ["link", "set", "nsvp1", "up"],  # its peer nsvq1 stays down: no carrier
    ):
        run("ip", "-n", name, *argv)

    def states() -> dict[str, str | None]:
        out = subprocess.run([nsview_bin(), "net", name, "--json"], capture_output=True,
                             text=True, timeout=60, check=True).stdout
        return {i["name"]: i["port_state"] for i in json.loads(out)["net"]["interfaces"]}

    found = states()
    assert found["nsvp0"] == "forwarding"
    assert found["nsvp1"] == "disabled"
    assert found["nsvbr"] is None and found["nsvq0"] is None  # not bridge ports
    run("ip", "-n", name, "link", "set", "nsvbr", "type", "bridge", "stp_state", "1")
    run("ip", "-n", name, "link", "add", "nsvp2", "type", "veth", "peer", "name", "nsvq2")
    run("ip", "-n", name, "link", "set", "nsvp2", "master", "nsvbr", "up")
    run("ip", "-n", name, "link", "set", "nsvq2", "up")
    assert states()["nsvp2"] in ("listening", "learning", "blocking")


def test_vxlan_group_vs_remote():
    assert parse_vxlan({"IFLA_VXLAN_GROUP": "239.0.0.1"}).group == "239.0.0.1"
    assert parse_vxlan({"IFLA_VXLAN_GROUP": "10.0.0.1"}).remote == "10.0.0.1"
    v6 = parse_vxlan({"IFLA_VXLAN_GROUP6": "ff05::1", "IFLA_VXLAN_LOCAL6": "fd00::1"})
    assert (v6.group, v6.remote, v6.local) == ("ff05::1", None, "fd00::1")
    none = parse_vxlan({"IFLA_VXLAN_GROUP": "0.0.0.0", "IFLA_VXLAN_ID": 7})
    assert (none.group, none.remote, none.vni) == (None, None, 7)


# ------------------------------------------------------------- peer resolution


def _reading(inode: int, links: list[tuple[int, str, LinkRef | None]], nsids: dict[int, int]):
    interfaces = [Interface(name=name, ifindex=index, kind="veth") for index, name, _ in links]
    refs = {index: ref for index, _, ref in links if ref is not None}
    return NetnsReading(
        inode, NetState(interfaces=interfaces, nsids=nsids), LinkTable(interfaces, refs)
    )


def test_same_ifindex_in_other_namespaces_is_never_guessed():
    # Host (100) has veth ifindex 5 whose peer is ifindex 2 in the netns it calls nsid 1 (=300).
    # Namespace 200 also has an ifindex 2 veth — but it points elsewhere.
    host = _reading(100, [(5, "vethhost", LinkRef(2, 1, "peer"))], {1: 300})
    decoy = _reading(200, [(2, "eth0", LinkRef(7, 0, "peer"))], {0: 100})
    real = _reading(300, [(2, "eth0", LinkRef(5, 0, "peer"))], {0: 100})
    readings = {100: host, 200: decoy, 300: real}
    resolve_links(readings)
    peer = host.state.interfaces[0].peer
    assert (peer.netns, peer.ifindex, peer.name, peer.status) == (300, 2, "eth0", "resolved")
    assert real.state.interfaces[0].peer.netns == 100
    assert real.state.interfaces[0].peer.status == "resolved"
    # The decoy points at host ifindex 7, which does not exist: not verified.
    assert decoy.state.interfaces[0].peer.status == "unverified"
    assert decoy.state.interfaces[0].peer.name is None


def test_unreachable_and_unverified_peers():
    lonely = _reading(100, [(5, "veth0", LinkRef(2, 9, "peer"))], {})
    resolve_links({100: lonely})
    peer = lonely.state.interfaces[0].peer
    assert (peer.netns, peer.ifindex, peer.status) == (None, 2, "unreachable")

    # The peer's namespace is known but was not read (denied, gone …): unverified, not named.
    half = _reading(100, [(5, "veth0", LinkRef(2, 1, "peer"))], {1: 400})
    resolve_links({100: half})
    peer = half.state.interfaces[0].peer
    assert (peer.netns, peer.name, peer.status) == (400, None, "unverified")


def test_peer_in_same_namespace():
    both = _reading(
        100, [(2, "a", LinkRef(3, None, "peer")), (3, "b", LinkRef(2, None, "peer"))], {}
    )
    resolve_links({100: both})
    a, b = both.state.interfaces
    assert (a.peer.netns, a.peer.name, a.peer.status) == (100, "b", "resolved")
    assert (b.peer.netns, b.peer.name, b.peer.status) == (100, "a", "resolved")


def test_lower_device_in_another_namespace():
    mv = Interface(name="mv0", ifindex=4, kind="macvlan")
    from nsview.model import LowerLinkInfo

    mv.macvlan = LowerLinkInfo(mode="bridge")
    inner = NetnsReading(
        200, NetState(interfaces=[mv], nsids={0: 100}), LinkTable([mv], {4: LinkRef(2, 0, "lower")})
    )
    eth = Interface(name="eth0", ifindex=2, kind="device")
    host = NetnsReading(100, NetState(interfaces=[eth]), LinkTable([eth], {}))
    resolve_links({100: host, 200: inner})
    assert (mv.macvlan.lower, mv.macvlan.lower_netns) == ("eth0", 100)


# ------------------------------------------ our decoder against pyroute2's, on kernel bytes


@pytest.mark.privileged
def test_lean_decoder_agrees_with_pyroute2_on_real_dumps(netns_factory):
    from pyroute2.netlink.rtnl.fibmsg import fibmsg
    from pyroute2.netlink.rtnl.rtmsg import rtmsg

    from nsview.collect.links import parse_address, parse_route, parse_rule
    from nsview.kernel import rtnl
    from nsview.kernel.netns import NetnsExecutor, NetnsTarget

    a, b = netns_factory("d"), netns_factory("e")
    for argv in (
        ["-n", a, "link", "add", "nsvtv0", "type", "veth", "peer", "name", "nsvtv1", "netns", b],
        ["-n", a, "link", "add", "nsvtbr", "type", "bridge"],
        ["-n", a, "link", "set", "nsvtv0", "master", "nsvtbr"],
        [
            "-n",
            a,
            "link",
            "add",
            "nsvtvx",
            "type",
            "vxlan",
            "id",
            "9",
            "group",
            "239.9.9.9",
            "dev",
            "nsvtbr",
            "dstport",
            "4789",
        ],
        ["-n", a, "link", "add", "nsvtmv", "link", "nsvtbr", "type", "macvlan", "mode", "vepa"],
        ["-n", a, "addr", "add", "10.7.0.1/24", "dev", "nsvtbr"],
        ["-n", a, "-6", "addr", "add", "fd07::1/64", "dev", "nsvtbr", "nodad"],
        ["-n", a, "link", "set", "nsvtbr", "up"],
        ["-n", a, "route", "add", "10.8.0.0/16", "via", "10.7.0.9", "table", "7"],
        ["-n", a, "rule", "add", "to", "10.8.0.0/16", "fwmark", "0x5", "table", "7", "pref", "77"],
    ):
        run("ip", *argv)

    def both(entered):
        out = []
        with rtnl.Rtnl() as rt:
            for msg_type, header, extra, ours, theirs in (
                (
                    rtnl.RTM_GETLINK,
                    rtnl._IFINFO.pack(0, 0, 0, 0, 0),
                    b"",
                    rtnl.decode_link,
                    ifinfmsg,
                ),
                (
                    rtnl.RTM_GETADDR,
                    rtnl._IFADDR.pack(0, 0, 0, 0, 0),
                    b"",
                    rtnl.decode_addr,
                    ifaddrmsg,
                ),
                (
                    rtnl.RTM_GETROUTE,
                    rtnl._RTMSG.pack(2, 0, 0, 0, 0, 0, 0, 0, 0),
                    b"",
                    rtnl.decode_route,
                    rtmsg,
                ),
                (
                    rtnl.RTM_GETRULE,
                    rtnl._FIBRULE.pack(2, 0, 0, 0, 0, 0, 0, 0, 0),
                    b"",
                    rtnl.decode_rule,
                    fibmsg,
                ),
            ):
                for body in rt.dump(msg_type, header, extra):
                    raw = rtnl.NLMSG_HDR.pack(16 + len(body), msg_type + 2, 0, 0, 0) + body
                    theirs_msg = theirs(raw)
                    theirs_msg.decode()
                    out.append((msg_type, ours(body), theirs_msg))
        return out

    path = f"/run/netns/{a}"
    with NetnsExecutor(1) as pool:
        import os

        messages = pool.submit(NetnsTarget(os.stat(path).st_ino, (path,)), both).result(30)
    seen = set()
    for msg_type, ours, theirs in messages:
        seen.add(msg_type)
        if msg_type == rtnl.RTM_GETLINK:
            assert parse_link(ours) == parse_link(theirs)
        elif msg_type == rtnl.RTM_GETADDR:
            assert parse_address(ours) == parse_address(theirs)
        elif msg_type == rtnl.RTM_GETROUTE:
            assert parse_route(ours, {}) == parse_route(theirs, {})
        else:
            assert parse_rule(ours) == parse_rule(theirs)
    assert len(seen) == 4
    kinds = {parse_link(m[1])[0].kind for m in messages if m[0] == rtnl.RTM_GETLINK}
    assert {"veth", "bridge", "vxlan", "macvlan", "loopback"} <= kinds


class _FakeRtnl:
    """Answers RTM_GETNSID from a table; counts the questions."""

    def __init__(self, ids_by_fd: dict[int, int]) -> None:
        self.ids_by_fd = ids_by_fd
        self.asked = 0
        self.closed = False

    def netnsid_of_fd(self, fd: int) -> int | None:
        self.asked += 1
        return self.ids_by_fd.get(fd)

    def close(self) -> None:
        self.closed = True


def test_netnsid_mapping_asks_the_hinted_namespace_first():
    from nsview.collect.network import map_netnsids

    count = 60
    hub_inode = 1000
    fds = {hub_inode: 3}
    hub_links = []
    readings = {}
    hub_ids = {}
    for i in range(count):
        inode, fd, nsid = 2000 + i, 100 + i, 40 + i
        fds[inode] = fd
        hub_ids[fd] = nsid
        hub_links.append((10 + i, f"veth{i}", LinkRef(2, nsid, "peer")))
        pod = _reading(inode, [(2, "eth0", LinkRef(10 + i, 0, "peer"))], {})
        pod.rt = _FakeRtnl({3: 0})
        readings[inode] = pod
    hub = _reading(hub_inode, hub_links, {})
    hub_rt = hub.rt = _FakeRtnl(hub_ids)
    readings[hub_inode] = hub
    map_netnsids(readings, fds)
    assert hub.state.nsids == {40 + i: 2000 + i for i in range(count)}
    # One question per veth, not one per (veth, namespace) pair.
    assert hub_rt.asked == count and hub_rt.closed
    assert readings[2000].state.nsids == {0: hub_inode}
    resolve_links(readings)
    assert all(i.peer.status == "resolved" for i in hub.state.interfaces)


def test_netnsid_mapping_question_count(monkeypatch):
    from nsview.collect import network

    fake = _FakeRtnl({5: 7})
    reading = _reading(1, [(2, "eth0", LinkRef(9, 7, "peer"))], {})
    reading.rt = fake
    other = _reading(2, [(9, "veth", LinkRef(2, 0, "peer"))], {0: 1})
    fds = {1: 4, 2: 5, **{100 + k: 200 + k for k in range(50)}}
    network.map_netnsids({1: reading, 2: other}, fds)
    assert reading.state.nsids == {7: 2}
    assert fake.asked == 1 and fake.closed


def _neigh(
    ifindex: int,
    mac: str,
    state: int,
    flags: int,
    master: int | None = None,
    dst: str | None = None,
) -> dict:
    attrs = [("NDA_LLADDR", mac)]
    if master is not None:
        attrs.append(("NDA_MASTER", master))
    if dst is not None:
        attrs.append(("NDA_DST", dst))
    return {"family": 7, "ifindex": ifindex, "state": state, "flags": flags, "attrs": attrs}


def test_fdb_entries_go_to_their_bridge_or_vxlan():
    from nsview.collect.links import attach_fdb

    br = _link(2, "br0", "bridge", [("IFLA_BR_STP_STATE", 0)])
    port = _link(3, "p0", "veth", extra=[("IFLA_MASTER", 2), ("IFLA_LINK", 9)])
    vx = _link(4, "vx0", "vxlan", [("IFLA_VXLAN_ID", 5)], extra=[("IFLA_MASTER", 2)])
    table = build_link_table([br, port, vx], [])
    dropped = attach_fdb(
        table,
        [
            _neigh(3, "6a:5f:20:6b:f7:01", 0x80, 0x04, master=2),  # the port's own MAC
            _neigh(3, "02:aa:bb:cc:dd:ee", 0x02, 0x04, master=2),  # learned (reachable)
            _neigh(4, "02:11:22:33:44:55", 0x80, 0x02, dst="10.0.0.8"),  # vxlan: MAC -> VTEP
            _neigh(4, "00:00:00:00:00:00", 0x80, 0x02, dst="10.0.0.7"),  # flood entry
            _neigh(2, "33:33:00:00:00:01", 0x80, 0x02),  # br0's multicast list: not forwarding
        ],
    )
    by = {i.name: i for i in table.interfaces}
    assert dropped == 0
    assert [(e.mac, e.port, e.flags) for e in by["br0"].bridge.fdb] == [
        ("6a:5f:20:6b:f7:01", "p0", ["permanent", "master"]),
        ("02:aa:bb:cc:dd:ee", "p0", ["master"]),
    ]
    assert [(e.mac, e.dst, e.flags) for e in by["vx0"].vxlan.fdb] == [
        ("02:11:22:33:44:55", "10.0.0.8", ["permanent", "self"]),
        ("00:00:00:00:00:00", "10.0.0.7", ["permanent", "self"]),
    ]


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=16, max_size=400))
def test_lean_decoder_survives_any_bytes(blob):
    from nsview.collect.links import parse_address, parse_route, parse_rule
    from nsview.kernel import rtnl

    # The kernel never sends garbage, but a malformed attribute must cost only itself.
    parse_link(rtnl.decode_link(blob))
    parse_address(rtnl.decode_addr(blob))
    parse_route(rtnl.decode_route(blob), {})
    parse_rule(rtnl.decode_rule(blob))
    rtnl.decode_neigh(blob)


def test_invalid_utf8_interface_name_is_escaped():
    import struct

    from nsview.kernel import rtnl

    name = b"nsvt\xff\x00"
    attr = struct.pack("=HH", 4 + len(name), 3) + name + b"\0" * (-len(name) % 4)
    body = rtnl._IFINFO.pack(0, 1, 7, 0, 0) + attr
    iface, _, _ = parse_link(rtnl.decode_link(body))
    assert iface.name == "nsvt\\xff"
    iface.name.encode("utf-8")  # JSON-safe
