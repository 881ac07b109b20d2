"""Real topologies: what `collect_network` reads from inside each netns.

One module-wide topology (built in test namespaces only, torn down at the end):

    nsvt-a ── veth nsvtab ↔ nsvtba ── nsvt-b   (nsvtab is a port of bridge nsvtbr)
    nsvt-a ── veth nsvtä ↔ nsvtü ── C          (C: held only by a bind mount in a tmp dir)
    nsvt-a: bridge nsvtbr (IPv4 + IPv6), vxlan unicast + multicast, NAT from
            iptables-nft, iptables-legacy and native nftables, policy rule + table 100
    nsvt-b: macvlan nsvtmv on nsvtba
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from nsview.collect import CollectOptions, collect_snapshot
from nsview.collect.namespaces import NamespaceTable
from nsview.model import snapshot_from_json, snapshot_to_json

from .conftest import nsview_bin, run

pytestmark = pytest.mark.privileged


def _ip(ns: str, *args: str) -> None:
    run("ip", "-n", ns, *args)


def _in(ns: str, *argv: str) -> None:
    run("ip", "netns", "exec", ns, *argv)


@pytest.fixture(scope="module")
def topo():
    tag = uuid.uuid4().hex[:5]
    a, b = f"nsvt-a{tag}", f"nsvt-b{tag}"
    tmp = tempfile.mkdtemp(prefix="nsvt")
    holder_file = os.path.join(tmp, "netns-c")
    made: list[str] = []
    mounted = False
    sleeper = None
    try:
        for name in (a, b):
            run("ip", "netns", "add", name)
            made.append(name)
        # C: created by a process, then kept alive only by a bind mount outside /run/netns.
        sleeper = subprocess.Popen(["unshare", "--net", "sleep", "600"], start_new_session=True)
        own = os.stat("/proc/self/ns/net").st_ino
        for _ in range(200):
            if os.stat(f"/proc/{sleeper.pid}/ns/net").st_ino != own:
                break
            time.sleep(0.01)
        open(holder_file, "w").close()
        run("mount", "--bind", f"/proc/{sleeper.pid}/ns/net", holder_file)
        mounted = True
        sleeper.kill()
        sleeper.wait()
        sleeper = None
        c_inode = os.stat(holder_file).st_ino

        _ip(a, "link", "add", "nsvtab", "type", "veth", "peer", "name", "nsvtba", "netns", b)
        # The far end goes into C through its bind mount; its name is not ASCII.
        _ip(a, "link", "add", "nsvtä", "type", "veth", "peer", "name", "nsvtü")
        run("ip", "-n", a, "link", "set", "nsvtü", "netns", holder_file)
        _ip(a, "link", "add", "nsvtbr", "type", "bridge")
        _ip(a, "link", "set", "nsvtab", "master", "nsvtbr")
        _ip(a, "addr", "add", "10.99.0.1/24", "dev", "nsvtbr")
        _ip(a, "-6", "addr", "add", "fd99::1/64", "dev", "nsvtbr", "nodad")
        _ip(a, "link", "set", "nsvtbr", "up")
        _ip(a, "link", "set", "nsvtab", "up")
        _ip(
            a,
            "link",
            "add",
            "nsvtvxu",
            "type",
            "vxlan",
            "id",
            "42",
            "remote",
            "10.98.0.2",
            "local",
            "10.99.0.1",
            "dstport",
            "4789",
        )
        _ip(
            a,
            "link",
            "add",
            "nsvtvxm",
            "type",
            "vxlan",
            "id",
            "43",
            "group",
            "239.1.1.1",
            "dev",
            "nsvtbr",
            "dstport",
            "4790",
        )
        run(
            "bridge",
            "-n",
            a,
            "fdb",
            "append",
            "00:00:00:00:00:00",
            "dev",
            "nsvtvxu",
            "dst",
            "10.98.0.3",
        )
        _ip(a, "route", "add", "default", "via", "10.99.0.254")
        _ip(a, "route", "add", "192.168.77.0/24", "dev", "nsvtbr", "table", "100")
        _ip(a, "rule", "add", "from", "10.99.0.0/24", "table", "100", "priority", "1000")
        _in(a, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        _in(a, "sysctl", "-qw", "net.ipv4.conf.nsvtbr.rp_filter=2")
        _in(
            a,
            "iptables-nft",
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
            "10.99.0.2:80",
        )
        _in(
            a,
            "iptables-legacy",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-s",
            "10.99.0.0/24",
            "!",
            "-o",
            "nsvtbr",
            "-j",
            "MASQUERADE",
        )
        _in(a, "nft", "add table inet nsvtnat")
        _in(a, "nft", "add chain inet nsvtnat pre { type nat hook prerouting priority -100; }")
        _in(
            a,
            "nft",
            'add rule inet nsvtnat pre iifname "nsvtab" tcp dport 2222 '
            'dnat ip to 10.99.0.3:22 comment "ssh"',
        )

        _ip(b, "link", "add", "nsvtmv", "link", "nsvtba", "type", "macvlan", "mode", "bridge")
        _ip(b, "addr", "add", "10.99.0.2/24", "dev", "nsvtba")
        yield {"a": a, "b": b, "c_path": holder_file, "c_inode": c_inode}
    finally:
        if sleeper is not None:
            sleeper.kill()
            sleeper.wait()
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        if mounted and subprocess.run(["umount", holder_file], capture_output=True).returncode:
            subprocess.run(["umount", "--lazy", holder_file], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def _inode_of(name: str) -> int:
    return os.stat(f"/run/netns/{name}").st_ino


@pytest.fixture(scope="module")
def snapshot(topo):
    root_before = _root_state()
    snap = collect_snapshot(CollectOptions())
    assert _root_state() == root_before, "collecting must not change the root netns"
    return snap


def _root_state() -> tuple:
    """What nsview could change by accident in the root netns: a new netns file
    (a pyroute2 netns= that creates), a legacy nat table instantiated by running
    iptables-legacy-save where none existed, an nftables table. Other people's
    test objects (nsvt…/nsvlab… names) come and go meanwhile and are ignored."""
    netns = []
    if os.path.isdir("/run/netns"):
        netns = sorted(n for n in os.listdir("/run/netns") if not n.startswith(("nsvt", "nsvlab")))
    legacy = ""
    if os.path.exists("/proc/self/net/ip_tables_names"):
        with open("/proc/self/net/ip_tables_names") as f:
            legacy = f.read()
    nft = run("nft", "list", "tables").stdout
    return netns, legacy, nft


def _net(snap, inode):
    ns = snap.namespace("net", inode)
    assert ns is not None and ns.net is not None, f"net:[{inode}] not read"
    return ns.net


def _iface(net, name):
    found = [i for i in net.interfaces if i.name == name]
    assert found, f"{name} not in {[i.name for i in net.interfaces]}"
    return found[0]


def test_veth_peers_resolved_across_namespaces(topo, snapshot):
    a, b = _inode_of(topo["a"]), _inode_of(topo["b"])
    net_a, net_b = _net(snapshot, a), _net(snapshot, b)
    ab, ba = _iface(net_a, "nsvtab"), _iface(net_b, "nsvtba")
    assert ab.kind == "veth" and ba.kind == "veth"
    assert (ab.peer.netns, ab.peer.name, ab.peer.ifindex, ab.peer.status) == (
        b,
        "nsvtba",
        ba.ifindex,
        "resolved",
    )
    assert (ba.peer.netns, ba.peer.name, ba.peer.ifindex, ba.peer.status) == (
        a,
        "nsvtab",
        ab.ifindex,
        "resolved",
    )


def test_peer_in_namespace_held_only_by_bind_mount_with_non_ascii_names(topo, snapshot):
    a, c = _inode_of(topo["a"]), topo["c_inode"]
    ns_c = snapshot.namespace("net", c)
    assert ns_c is not None
    assert [h.kind for h in ns_c.holders] == ["bind_mount"]
    near = _iface(_net(snapshot, a), "nsvtä")
    far = _iface(_net(snapshot, c), "nsvtü")
    assert (near.peer.netns, near.peer.name, near.peer.status) == (c, "nsvtü", "resolved")
    assert (far.peer.netns, far.peer.name, far.peer.status) == (a, "nsvtä", "resolved")


def test_bridge_ports_addresses_and_stp(topo, snapshot):
    net_a = _net(snapshot, _inode_of(topo["a"]))
    br = _iface(net_a, "nsvtbr")
    assert br.kind == "bridge"
    assert br.bridge.ports == ["nsvtab"]
    assert br.bridge.stp_state == 0
    port_mac = _iface(net_a, "nsvtab").mac
    assert (port_mac, "nsvtab") in {(e.mac, e.port) for e in br.bridge.fdb}
    assert _iface(net_a, "nsvtab").master == "nsvtbr"
    cidrs = {(x.family, x.cidr) for x in br.addresses}
    assert ("inet", "10.99.0.1/24") in cidrs
    assert ("inet6", "fd99::1/64") in cidrs
    assert "UP" in br.flags
    assert br.mtu == 1500 and br.mac and len(br.mac) == 17


def test_vxlan_unicast_and_multicast(topo, snapshot):
    net_a = _net(snapshot, _inode_of(topo["a"]))
    uni, multi = _iface(net_a, "nsvtvxu").vxlan, _iface(net_a, "nsvtvxm").vxlan
    assert (uni.vni, uni.remote, uni.group, uni.port, uni.local) == (
        42,
        "10.98.0.2",
        None,
        4789,
        "10.99.0.1",
    )
    flood = [(e.mac, e.dst) for e in uni.fdb]
    assert ("00:00:00:00:00:00", "10.98.0.3") in flood
    assert (multi.vni, multi.remote, multi.group, multi.port, multi.dev) == (
        43,
        None,
        "239.1.1.1",
        4790,
        "nsvtbr",
    )


def test_macvlan_mode_and_lower(topo, snapshot):
    mv = _iface(_net(snapshot, _inode_of(topo["b"])), "nsvtmv")
    assert mv.kind == "macvlan"
    assert (mv.macvlan.mode, mv.macvlan.lower, mv.macvlan.lower_netns) == ("bridge", "nsvtba", None)


def test_routes_rules_and_second_table(topo, snapshot):
    net_a = _net(snapshot, _inode_of(topo["a"]))
    by = {(r.table, r.family, r.dst): r for r in net_a.routes}
    default = by[("main", "inet", "default")]
    assert (default.gateway, default.dev) == ("10.99.0.254", "nsvtbr")
    assert by[("100", "inet", "192.168.77.0/24")].dev == "nsvtbr"
    local = by[("local", "inet", "10.99.0.1/32")]
    assert (local.type, local.scope, local.protocol) == ("local", "host", "kernel")
    assert ("main", "inet6", "fd99::/64") in by
    rules = [(r.priority, r.src, r.table) for r in net_a.rules if r.family == "inet"]
    assert (1000, "10.99.0.0/24", "100") in rules
    assert (32766, None, "main") in rules


def test_sysctls_are_read_inside_each_namespace(topo, snapshot):
    net_a = _net(snapshot, _inode_of(topo["a"]))
    net_b = _net(snapshot, _inode_of(topo["b"]))
    assert net_a.sysctls["net.ipv4.ip_forward"] == "1"
    assert net_b.sysctls["net.ipv4.ip_forward"] == "0"
    assert net_a.sysctls["net.ipv4.conf.nsvtbr.rp_filter"] == "2"


def test_nat_from_all_three_backends(topo, snapshot):
    net_a = _net(snapshot, _inode_of(topo["a"]))
    tables = {(t.backend, t.family, t.table): t for t in net_a.nat}
    nft_ipt = tables[("iptables-nft", "ipv4", "nat")]
    (dnat,) = [r for c in nft_ipt.chains if c.name == "PREROUTING" for r in c.rules]
    assert (dnat.target, dnat.to_destination, dnat.protocol, dnat.dport) == (
        "DNAT",
        "10.99.0.2:80",
        "tcp",
        "8080",
    )
    legacy = tables[("iptables-legacy", "ipv4", "nat")]
    (masq,) = [r for c in legacy.chains if c.name == "POSTROUTING" for r in c.rules]
    assert (masq.target, masq.source, masq.out_iface, masq.negated) == (
        "MASQUERADE",
        "10.99.0.0/24",
        "nsvtbr",
        ["out_iface"],
    )
    native = tables[("nftables", "inet", "nsvtnat")]
    (chain,) = native.chains
    assert (chain.name, chain.hook, chain.policy) == ("pre", "prerouting", "ACCEPT")
    (rule,) = chain.rules
    assert (rule.target, rule.to_destination, rule.in_iface, rule.dport, rule.comment) == (
        "DNAT",
        "10.99.0.3:22",
        "nsvtab",
        "2222",
        "ssh",
    )
    # iptables-nft's own table is read through iptables-nft-save, not listed twice.
    assert ("nftables", "ip", "nat") not in tables
    assert net_a.errors == []


def test_namespace_without_nat_has_none(topo, snapshot):
    assert _net(snapshot, _inode_of(topo["b"])).nat == []


def test_snapshot_round_trips_through_json(topo, snapshot):
    again = snapshot_from_json(snapshot_to_json(snapshot))
    a = _inode_of(topo["a"])
    assert again.namespace("net", a).net == snapshot.namespace("net", a).net


def test_dump_json_end_to_end(topo):
    out = subprocess.run(
        [nsview_bin(), "dump", "--json"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    by_inode = {ns["inode"]: ns for ns in data["namespaces"] if ns["type"] == "net"}
    net_c = by_inode[topo["c_inode"]]["net"]
    (far,) = [i for i in net_c["interfaces"] if i["name"] == "nsvtü"]
    assert far["peer"] == {
        "netns": _inode_of(topo["a"]),
        "ifindex": far["peer"]["ifindex"],
        "name": "nsvtä",
        "status": "resolved",
    }
    assert "Traceback" not in out.stderr


def test_net_command_json_by_name_and_by_path(topo):
    a = _inode_of(topo["a"])
    for target in (topo["a"], f"/run/netns/{topo['a']}"):
        out = subprocess.run(
            [nsview_bin(), "net", target, "--json"], capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["inode"] == a and data["type"] == "net"
        names = {i["name"]: i for i in data["net"]["interfaces"]}
        # The peer's namespace is outside the selection, yet the peer has its name.
        assert names["nsvtab"]["peer"]["name"] == "nsvtba"
        assert names["nsvtab"]["peer"]["status"] == "resolved"
    out = subprocess.run(
        [nsview_bin(), "net", topo["c_path"], "--json"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["inode"] == topo["c_inode"]


def test_net_command_readable(topo):
    out = subprocess.run(
        [nsview_bin(), "net", topo["a"]],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert out.returncode == 0, out.stderr
    assert "nsvtab" in out.stdout and "nsvtba" in out.stdout
    assert "DNAT" in out.stdout and "MASQUERADE" in out.stdout
    assert "10.99.0.1/24" in out.stdout


@pytest.mark.parametrize(
    "target", ["nsvt-no-such-netns", "/nonexistent/nsvt", "999999999", "/etc/hostname"]
)
def test_net_command_bad_target(target):
    def named() -> set[str]:
        # Other people's tests add and remove nsvt…/nsvlab… namespaces meanwhile.
        entries = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
        return {n for n in entries if not n.startswith(("nsvlab", "nsvt"))}

    before = named()
    out = subprocess.run([nsview_bin(), "net", target], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert named() == before
    # What an accidental create (pyroute2's default O_CREAT, `ip netns add`) would leave:
    assert not os.path.exists(f"/run/netns/{target}")
    assert not os.path.exists(target) or target == "/etc/hostname"


def test_missing_tool_reported_once_and_only_where_needed(topo, monkeypatch):
    from nsview.collect import nat, network
    from nsview.collect.namespaces import Diagnostics

    real = nat.NatTools.find()
    gone = {"iptables-legacy-save", "ip6tables-legacy-save", "nft"}

    def without():
        return nat.NatTools({k: (None if k in gone else v) for k, v in real.paths.items()})

    monkeypatch.setattr(network.NatTools, "find", staticmethod(without))
    snap = collect_snapshot(CollectOptions(net=False))
    diags = Diagnostics()
    a = _inode_of(topo["a"])
    # Only nsvt-a: other people's namespaces on this host may need other tools.
    network.collect_network(snap, NamespaceTable.from_snapshot(snap), diags, only=frozenset({a}))
    missing = [d for d in diags.items() if d.kind == "missing"]
    reasons = sorted(d.reason for d in missing)
    # nsvt-a needs the legacy IPv4 tool and nft; nothing here needs ip6tables-legacy-save.
    assert [r.split()[0] for r in reasons] == ["iptables-legacy-save", "nft"]
    assert all(d.what == "nat" for d in missing)
    net_a = snap.namespace("net", a).net
    backends = {t.backend for t in net_a.nat}
    assert backends == {"iptables-nft"}  # what could still be read, was


def test_native_nft_table_under_iptables_name_is_read_with_nft(netns_factory):
    """`table ip nat` made with nft: iptables-nft-save refuses it (exit 0 in 1.8.9),
    so it must come from nft -j instead of vanishing."""
    from nsview.collect import network
    from nsview.collect.namespaces import Diagnostics

    name = netns_factory("g")
    _in(name, "nft", "add table ip nat")
    _in(name, "nft", "add chain ip nat PREROUTING { type nat hook prerouting priority -100; }")
    _in(name, "nft", "add set ip nat nsvtset { type ipv4_addr; }")
    _in(name, "nft", "add rule ip nat PREROUTING ip saddr @nsvtset tcp dport 80 dnat to 10.0.0.1")
    snap = collect_snapshot(CollectOptions(net=False))
    inode = _inode_of(name)
    network.collect_network(
        snap, NamespaceTable.from_snapshot(snap), Diagnostics(), only=frozenset({inode})
    )
    net = snap.namespace("net", inode).net
    assert [(t.backend, t.family, t.table) for t in net.nat] == [("nftables", "ip", "nat")]
    (rule,) = net.nat[0].chains[0].rules
    assert (rule.target, rule.to_destination, rule.source, rule.dport) == (
        "DNAT",
        "10.0.0.1",
        "@nsvtset",
        "80",
    )
    assert rule.text == "ip saddr @nsvtset tcp dport 80 dnat to 10.0.0.1"
    assert net.errors == []


def test_without_iptables_nft_save_its_table_is_read_through_nft(topo, monkeypatch):
    from nsview.collect import nat, network
    from nsview.collect.namespaces import Diagnostics

    real = nat.NatTools.find()
    monkeypatch.setattr(
        network.NatTools,
        "find",
        staticmethod(lambda: nat.NatTools({**real.paths, "iptables-nft-save": None})),
    )
    snap = collect_snapshot(CollectOptions(net=False))
    diags = Diagnostics()
    a = _inode_of(topo["a"])
    network.collect_network(snap, NamespaceTable.from_snapshot(snap), diags, only=frozenset({a}))
    assert any(d.kind == "missing" and "iptables-nft-save" in d.reason for d in diags.items())
    tables = {(t.backend, t.family, t.table): t for t in snap.namespace("net", a).net.nat}
    ipt = tables[("iptables-nft", "ipv4", "nat")]
    (dnat,) = [r for c in ipt.chains for r in c.rules]
    # nft shows the match, but the xt DNAT target's arguments are opaque to it.
    assert (dnat.target, dnat.dport, dnat.parsed) == ("DNAT", "8080", False)
    assert ("nftables", "inet", "nsvtnat") in tables


def test_unprivileged_run_reads_its_own_netns_and_says_once_why_not_the_rest(topo):
    out = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            nsview_bin(),
            "dump",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    netns_lines = [line for line in out.stderr.splitlines() if ": netns" in line]
    # One line per cause (cannot open / cannot enter), never one per namespace.
    assert 1 <= len(netns_lines) <= 2
    assert all("network namespace(s) not read" in line for line in netns_lines)
    assert any("CAP_SYS_ADMIN" in line for line in netns_lines)
    data = json.loads(out.stdout)
    own = os.stat("/proc/self/ns/net").st_ino
    read = [ns["inode"] for ns in data["namespaces"] if ns["type"] == "net" and ns["net"]]
    assert read == [own]
