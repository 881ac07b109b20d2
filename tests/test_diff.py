"""nsview diff: pure matching on hand-built snapshots, and real before/after pairs."""

from __future__ import annotations

import copy
import json
import subprocess
import time

import pytest

from nsview.analyze.diff import diff_snapshots
from nsview.model import (
    Address,
    Host,
    Interface,
    Namespace,
    NatChain,
    NatRule,
    NatTable,
    NetState,
    Process,
    Route,
    Snapshot,
)
from tests.conftest import nsview_bin, run, unique

BOOT = "6a0e1b9c-0000-4000-8000-000000000001"


def _snap(namespaces, processes=(), boot=BOOT) -> Snapshot:
    return Snapshot(
        collected_at="2026-12-02T00:00:00Z",
        host=Host(hostname="h", boot_id=boot),
        namespaces=list(namespaces),
        processes=list(processes),
    )


def _netns(inode, ns_id, *, names=(), pids=(), net=None) -> Namespace:
    return Namespace(
        type="net",
        inode=inode,
        id=ns_id,
        names=list(names),
        pids=list(pids),
        net=net if net is not None else NetState(),
    )


def _ops(result, section=None):
    return sorted(
        (c.section, c.op, c.key) for c in result.changes if section is None or c.section == section
    )


def test_identical_snapshots_have_no_changes():
    snap = _snap([_netns(100, 1, names=["web"])])
    result = diff_snapshots(snap, snap)
    assert result.empty
    assert result.changes == []


def test_a_reused_inode_with_another_id_is_a_new_namespace():
    # Same inode, same name, but the kernel's namespace id differs: the old one went
    # and a new one took its inode (and its name).
    a = _snap([_netns(100, 1, names=["web"])])
    b = _snap([_netns(100, 7, names=["web"])])
    assert _ops(diff_snapshots(a, b), "namespace") == [
        ("namespace", "added", "net web"),
        ("namespace", "removed", "net web"),
    ]


def test_one_namespace_with_a_new_inode_is_matched_by_id_only_on_one_boot():
    a = _snap([_netns(100, 5, names=["web"])])
    b = _snap([_netns(100, 5, names=["web"])], boot="another-boot")
    # Another boot: the id means nothing, the name still matches it.
    result = diff_snapshots(a, b)
    assert result.empty
    assert any("different boots" in n for n in result.notes)


def test_an_inode_alone_never_matches():
    # Another boot, no names, no shared process: the same inode is not identity.
    a = _snap([_netns(100, 5, pids=[10])], [Process(pid=10, comm="a")])
    b = _snap([_netns(100, 5, pids=[20])], [Process(pid=20, comm="b")], boot="other")
    assert _ops(diff_snapshots(a, b), "namespace") == [
        ("namespace", "added", "net b (20)"),
        ("namespace", "removed", "net a (10)"),
    ]


def test_changes_inside_a_matched_netns():
    def net(mtu, routes, rules, forward):
        return NetState(
            interfaces=[
                Interface(
                    name="eth0",
                    ifindex=2,
                    kind="veth",
                    operstate="UP",
                    mtu=mtu,
                    addresses=[Address("inet", "198.18.0.2/24", "global")],
                )
            ],
            routes=routes,
            nat=[
                NatTable(
                    "iptables-nft",
                    "ipv4",
                    "nat",
                    [
                        NatChain(
                            "PREROUTING", policy="ACCEPT", rules=[NatRule(text=t) for t in rules]
                        )
                    ],
                )
            ],
            sysctls={"net.ipv4.ip_forward": forward},
        )

    default = Route("inet", "main", "default", gateway="198.18.0.1", dev="eth0")
    subnet = Route("inet", "main", "198.18.0.0/24", dev="eth0", scope="link")
    dnat = "-A PREROUTING -p tcp --dport 80 -j DNAT --to-destination 198.18.0.3:80"
    a = _snap([_netns(100, 1, names=["web"], net=net(1500, [default, subnet], [], "0"))])
    b = _snap([_netns(100, 1, names=["web"], net=net(1400, [subnet], [dnat], "1"))])
    result = diff_snapshots(a, b)
    assert _ops(result) == [
        ("interface", "changed", "eth0"),
        ("nat", "added", f"iptables-nft ipv4 nat PREROUTING: {dnat}"),
        ("route", "removed", "default table main"),
        ("sysctl", "changed", "net.ipv4.ip_forward"),
    ]
    mtu = next(c for c in result.changes if c.section == "interface")
    assert mtu.fields == ("mtu",)
    assert (mtu.before, mtu.after) == ({"mtu": 1500}, {"mtu": 1400})
    assert all(c.scope.label == "web" for c in result.changes)


def test_a_veth_peer_in_a_replaced_netns_is_a_change():
    def veth(peer_netns):
        from nsview.model import PeerRef

        return NetState(
            interfaces=[
                Interface(name="v0", ifindex=3, kind="veth", peer=PeerRef(peer_netns, 2, "eth0"))
            ]
        )

    # The host's veth points into netns 200 before and into 300 after; 200 and 300
    # are different namespaces (different ids) although "web" names both.
    a = _snap([_netns(100, 1, names=["host"], net=veth(200)), _netns(200, 2, names=["web"])])
    b = _snap([_netns(100, 1, names=["host"], net=veth(300)), _netns(300, 3, names=["web"])])
    changes = {(c.section, c.op, c.key) for c in diff_snapshots(a, b).changes}
    assert ("interface", "changed", "v0") in changes
    # While the peer netns is the same namespace, a new inode number is no change.
    a2 = _snap([_netns(100, 1, names=["host"], net=veth(200)), _netns(200, 2, names=["web"])])
    assert diff_snapshots(a2, a2).empty


# -- real before/after pairs ------------------------------------------------------------


def _collect():
    from nsview.collect import CollectOptions, collect_snapshot

    return collect_snapshot(CollectOptions())


def _mine(result, stem):
    """Only this test's own changes: the host is shared with other tests and engineers."""
    return sorted(
        (c.section, c.op, c.key)
        for c in result.changes
        if stem in c.key or (c.scope is not None and stem in c.scope.label)
    )


@pytest.mark.privileged
def test_real_before_and_after(netns_factory, proc_factory):
    web = netns_factory("dw")
    leak = unique("dl")
    host_end, web_end = unique("h"), unique("w")
    run("ip", "link", "add", host_end, "type", "veth", "peer", "name", web_end, "netns", web)
    try:
        run("ip", "-n", web, "link", "set", "lo", "up")
        run("ip", "-n", web, "link", "set", web_end, "up")
        run("ip", "-n", web, "addr", "add", "198.18.7.2/24", "dev", web_end)
        run("ip", "-n", web, "route", "add", "198.19.7.0/24", "via", "198.18.7.1")
        before = _collect()

        # A rule added, a route removed, an MTU changed, a netns leaked (its only
        # process exits, a bind mount keeps it), a "container" started.
        run(
            "ip",
            "netns",
            "exec",
            web,
            "iptables",
            "-t",
            "nat",
            "-A",
            "PREROUTING",
            "-p",
            "tcp",
            "--dport",
            "8080",
            "-j",
            "DNAT",
            "--to-destination",
            "198.18.7.9:80",
        )
        run("ip", "-n", web, "route", "del", "198.19.7.0/24")
        run("ip", "-n", web, "link", "set", web_end, "mtu", "1400")
        run("ip", "netns", "add", leak)
        started = proc_factory(["unshare", "--net", "--", "sleep", "600"])
        time.sleep(0.3)
        after = _collect()
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True)
        subprocess.run(["ip", "netns", "del", leak], capture_output=True)

    result = diff_snapshots(before, after)
    mine = _mine(result, web)
    assert ("interface", "changed", web_end) in mine
    assert ("route", "removed", "198.19.7.0/24 table main") in mine
    assert any(s == "nat" and op == "added" and "--dport 8080" in k for s, op, k in mine)
    assert ("namespace", "added", f"net {leak}") in _mine(result, leak)
    # The new process's netns appeared, labelled by its process.
    new_net = [
        c
        for c in result.changes
        if c.section == "namespace"
        and c.op == "added"
        and c.after["type"] == "net"
        and f"{started.pid} " in " ".join(c.after["processes"])
    ]
    assert len(new_net) == 1
    # Nothing of this test's that did not change is reported.
    assert not [c for c in result.changes if c.section == "namespace" and web in c.key]


@pytest.mark.privileged
def test_cli_diff_files_and_exit_status(tmp_path, netns_factory):
    a_file, b_file = tmp_path / "a.json", tmp_path / "b.json"
    subprocess.run(
        [nsview_bin(), "dump", "--json", "-o", str(a_file)], check=True, capture_output=True
    )
    name = netns_factory("dc")
    subprocess.run(
        [nsview_bin(), "dump", "--json", "-o", str(b_file)], check=True, capture_output=True
    )

    same = subprocess.run(
        [nsview_bin(), "diff", str(a_file), str(a_file)], capture_output=True, text=True
    )
    assert same.returncode == 0, same.stderr
    assert "no changes" in same.stdout

    text = subprocess.run(
        [nsview_bin(), "diff", str(a_file), str(b_file)], capture_output=True, text=True
    )
    assert text.returncode == 1, text.stderr
    assert f"+ net {name}" in text.stdout

    js = subprocess.run(
        [nsview_bin(), "diff", str(a_file), str(b_file), "--json"], capture_output=True, text=True
    )
    assert js.returncode == 1
    changes = json.loads(js.stdout)["changes"]
    added = [c for c in changes if c["section"] == "namespace" and c["key"] == f"net {name}"]
    assert added and added[0]["op"] == "added" and added[0]["scope"]["b_inode"]

    # B defaults to the live host, where the netns still exists.
    live = subprocess.run([nsview_bin(), "diff", str(a_file)], capture_output=True, text=True)
    assert live.returncode == 1 and f"+ net {name}" in live.stdout


def test_cli_diff_bad_input_is_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    for argv in ([str(bad)], [str(tmp_path / "missing.json")]):
        out = subprocess.run(
            [nsview_bin(), "diff", *argv, str(bad)], capture_output=True, text=True
        )
        assert out.returncode == 2
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_listening_sockets_and_filter_policies():
    from nsview.model import Socket

    def net(listen_port, policy, connected_port):
        return NetState(
            sockets=[
                Socket("tcp", "inet", "LISTEN", f"0.0.0.0:{listen_port}", inode=listen_port),
                # Connected sockets come and go: never a change.
                Socket(
                    "tcp",
                    "inet",
                    "ESTABLISHED",
                    f"198.18.0.2:{connected_port}",
                    remote="198.18.0.9:443",
                    inode=connected_port,
                ),
            ],
            filter=[NatTable("iptables-legacy", "ipv4", "filter", [NatChain("FORWARD", policy)])],
        )

    a = _snap([_netns(100, 1, names=["web"], net=net(80, "ACCEPT", 40000))])
    b = _snap([_netns(100, 1, names=["web"], net=net(8080, "DROP", 40001))])
    assert _ops(diff_snapshots(a, b)) == [
        ("filter chain", "changed", "iptables-legacy ipv4 filter FORWARD"),
        ("sockets", "added", "tcp 0.0.0.0:8080 LISTEN"),
        ("sockets", "removed", "tcp 0.0.0.0:80 LISTEN"),
    ]


def test_a_peer_in_a_netns_outside_the_snapshot_is_no_change():
    from nsview.model import PeerRef

    # The peer's netns (999) is listed by neither side (it vanished mid-walk):
    # diffing a snapshot with itself must still say nothing changed.
    net = NetState(
        interfaces=[Interface(name="v0", ifindex=3, kind="veth", peer=PeerRef(999, 2, "eth0"))]
    )
    snap = _snap([_netns(100, 1, names=["host"], net=net)])
    assert diff_snapshots(snap, copy.deepcopy(snap)).empty
