"""One wording: the TUI's rows and the CLI's tables say the same things the same way."""

from __future__ import annotations

import io

from rich.console import Console

from nsview.analyze.labels import interface_label, interface_wiring, plain, route_label
from nsview.analyze.lookup import Lookup
from nsview.analyze.refs import NamespaceRef
from nsview.analyze.views import build_views
from nsview.cli.net_render import namespace_view
from nsview.cli.render import snapshot_tree
from nsview.model import (
    FdbEntry,
    Holder,
    Host,
    Interface,
    LowerLinkInfo,
    Namespace,
    NetState,
    PeerRef,
    Process,
    Route,
    Snapshot,
    VlanInfo,
    VxlanInfo,
)

HERE, THERE = 100, 200


def snapshot() -> Snapshot:
    here = NetState(
        interfaces=[
            Interface("eth0", 2, kind="device", operstate="UP"),
            Interface("vl7", 3, kind="vlan", operstate="UP", vlan=VlanInfo(7, "802.1Q", "eth0")),
            Interface(
                "mv0",
                4,
                kind="macvlan",
                operstate="UP",
                macvlan=LowerLinkInfo("bridge", "uplink", lower_netns=THERE),
            ),
            Interface(
                "vx0",
                5,
                kind="vxlan",
                operstate="UNKNOWN",
                vxlan=VxlanInfo(
                    vni=42,
                    port=4789,
                    dev="uplink",
                    dev_netns=THERE,
                    fdb=[FdbEntry("00:00:00:00:00:00", dst="198.51.100.7")],
                ),
            ),
            Interface(
                "v0", 6, kind="veth", operstate="UP", peer=PeerRef(THERE, 2, "v1", "unverified")
            ),
        ],
        routes=[
            Route(
                "inet",
                "main",
                "default",
                nexthops=["via 192.0.2.1 dev eth0", "via 192.0.2.2 dev vl7"],
            )
        ],
    )
    there = NetState(interfaces=[Interface("uplink", 2, kind="device", operstate="UP")])
    holders = [Holder("thread", pid=10, tid=11 + i) for i in range(7)] + [
        Holder("bind_mount", pid=10, path="/run/netns/far")
    ]
    return Snapshot(
        host=Host(hostname="h", kernel="k"),
        collected_at="2026-01-01T00:00:00Z",
        namespaces=[
            Namespace("net", HERE, pids=[10], net=here),
            Namespace("net", THERE, names=["far"], holders=holders, net=there),
        ],
        processes=[Process(pid=10, ppid=0, comm="init", ns={"net": HERE})],
    )


def test_tui_rows_show_vlan_lower_netns_fdb_remotes_and_nexthops():
    lk = Lookup(snapshot())
    net = lk.net(HERE)
    text = {i.name: plain(interface_label(HERE, i, lk)) for i in net.interfaces}
    assert "vlan 7 802.1Q on eth0" in text["vl7"]
    assert "bridge on uplink @ far" in text["mv0"]
    assert "dev uplink @ far" in text["vx0"] and "fdb → 198.51.100.7" in text["vx0"]
    assert "↔ v1? @ far (unverified)" in text["v0"]
    assert "nexthops via 192.0.2.1 dev eth0; via 192.0.2.2 dev vl7" in plain(
        route_label(net.routes[0])
    )
    view = build_views(lk)["network"]
    here = next(i for i in view.roots() if i.ref == NamespaceRef("net", HERE))
    rows = [i.text for i in view.children(here)]
    assert any("fdb → 198.51.100.7" in r for r in rows)


def test_counts_are_pluralised():
    lk = Lookup(snapshot())
    view = build_views(lk)["namespaces"]
    net = next(i for i in view.roots() if i.key == "type:net")
    far = next(i for i in view.children(net) if "far" in i.text)
    assert "7 threads, 1 bind mount" in far.text


def test_cli_says_what_the_tui_says():
    snap = snapshot()
    lk = Lookup(snap)
    out = io.StringIO()
    console = Console(file=out, width=400, color_system=None)
    console.print(namespace_view(snap.namespaces[0], lk))
    console.print(snapshot_tree(snap))
    text = out.getvalue()
    for iface in snap.namespaces[0].net.interfaces:
        wiring = plain(interface_wiring(HERE, iface, lk)).replace("  ", "; ")
        assert wiring in text, wiring
    assert "7 threads, 1 bind mount" in text
    assert "1 route, 0 NAT rules" in text
