"""Each doctor check on a hand-built snapshot: silent when healthy, found when broken."""

from __future__ import annotations

import json

import pytest

from nsview.analyze.doctor import REGISTRY, Subject, at_or_above, catalogue, run_doctor
from nsview.model import (
    BridgeInfo,
    Holder,
    Namespace,
    NatChain,
    NatRule,
    NatTable,
    NetState,
    PeerRef,
    Route,
    RoutingRule,
    VxlanInfo,
    snapshot_from_json,
    snapshot_to_json,
)

from . import doctor_data as d


def found(snapshot, check_id):
    report = run_doctor(snapshot, [check_id])
    assert not report.failed, report.failed
    return report.findings


def test_healthy_host_has_no_findings_at_all():
    report = run_doctor(d.host())
    assert report.findings == [] and not report.failed
    assert report.checked == [c.id for c in catalogue()]


def test_every_check_has_a_family_a_severity_and_a_summary():
    for chk in REGISTRY.values():
        assert chk.family in ("link", "routing", "forwarding", "namespaces", "containers"), chk
        assert chk.severity in ("info", "warning", "error") and chk.summary


def test_finding_json_names_netns_and_interface():
    s = d.host()
    d.link(s, d.HOST, "vethweb").mtu = 9000
    (f,) = found(s, "veth-mtu-mismatch")
    out = json.loads(json.dumps(f.to_dict()))
    assert out["check"] == "veth-mtu-mismatch" and out["severity"] == "warning"
    assert {"netns": d.WEB, "interface": "eth0"} in out["subjects"]
    assert {"netns": d.HOST, "interface": "vethweb"} in out["subjects"]
    assert out["fix"] == "ip link set vethweb mtu 1500"  # the host's netns: no prefix
    assert out["message"].count(".") == 1 and out["evidence"]


# -- link ----------------------------------------------------------------------

def test_veth_peer_down():
    s = d.host()
    veth = d.link(s, d.HOST, "vethweb")
    veth.flags, veth.operstate = ["BROADCAST"], "DOWN"
    (f,) = found(s, "veth-peer-down")
    assert f.subjects[0].netns == d.HOST and f.subjects[0].interface == "vethweb"
    assert f.fix == "ip link set vethweb up"


def test_veth_dangling():
    s = d.host()
    d.link(s, d.HOST, "vethweb").peer = PeerRef(netns=None, ifindex=2, status="unreachable")
    (f,) = found(s, "veth-dangling")
    assert f.severity == "warning" and f.subjects[0].interface == "vethweb"
    assert "held by nothing" in f.message


def test_veth_mtu_mismatch_fix_lowers_the_larger_end():
    s = d.host()
    d.link(s, d.WEB, "eth0").mtu = 1400
    (f,) = found(s, "veth-mtu-mismatch")
    assert "1400" in f.message and f.fix == "ip link set vethweb mtu 1400"


def test_bridge_port_mtu_mismatch():
    s = d.host()
    d.link(s, d.HOST, "vethcache").mtu = 1450
    d.link(s, d.CACHE, "eth0").mtu = 1450
    (f,) = found(s, "bridge-port-mtu-mismatch")
    assert [x.interface for x in f.subjects] == ["vethcache", "docker0"]
    assert not found(s, "veth-mtu-mismatch")


def _with_vxlan(mtu: int):
    s = d.host()
    vx = d.iface("vxlan0", 20, "vxlan", mtu=mtu, vxlan=VxlanInfo(vni=42, dev="eth0"))
    d.net(s, d.HOST).interfaces.append(vx)
    return s


def test_vxlan_mtu_overhead():
    assert not found(_with_vxlan(1450), "vxlan-mtu-overhead")
    (f,) = found(_with_vxlan(1500), "vxlan-mtu-overhead")
    assert "1550" in f.message and f.fix == "ip link set vxlan0 mtu 1450"


def test_bridge_port_not_forwarding():
    s = d.host()
    d.link(s, d.HOST, "vethweb").port_state = "blocking"
    (f,) = found(s, "bridge-port-not-forwarding")
    assert f.severity == "warning" and "state 3" in f.fix
    d.link(s, d.HOST, "vethweb").port_state = "learning"
    (f,) = found(s, "bridge-port-not-forwarding")
    assert f.severity == "info"


def test_netns_link_down():
    s = d.host()
    eth0 = d.link(s, d.CACHE, "eth0")
    eth0.flags, eth0.operstate = ["BROADCAST"], "DOWN"
    (f,) = found(s, "netns-link-down")
    assert f.severity == "error" and f.subjects[0].netns == d.CACHE
    assert f.fix == "nsenter -t 30 -n ip link set eth0 up"


def test_duplicate_ipv4_on_one_bridge():
    s = d.host()
    d.link(s, d.CACHE, "eth0").addresses[0].cidr = "172.17.0.2/16"
    (f,) = found(s, "duplicate-ipv4")
    assert {(x.netns, x.interface) for x in f.subjects} == {(d.WEB, "eth0"), (d.CACHE, "eth0")}


def test_same_address_on_two_bridges_is_no_duplicate():
    s = d.host()
    other = d.container(400, 40, "172.17.0.2", 12, "vethother")
    s.namespaces.append(other)
    d.net(s, d.HOST).interfaces.append(d.iface("vethother", 12, peer=d.peer(400, 2, "eth0")))
    assert not found(s, "duplicate-ipv4")


# -- routing -------------------------------------------------------------------

def test_no_default_route_where_the_bridge_offers_one():
    s = d.host()
    d.net(s, d.WEB).routes = [r for r in d.net(s, d.WEB).routes if r.dst != "default"]
    (f,) = found(s, "no-default-route")
    assert f.severity == "warning"
    assert f.fix == "nsenter -t 20 -n ip route add default via 172.17.0.1 dev eth0"


def test_no_default_route_without_a_gateway_is_only_info():
    s = d.host()
    d.net(s, d.HOST).nat = []  # nothing would NAT it: an --internal-like network
    d.net(s, d.WEB).routes = [r for r in d.net(s, d.WEB).routes if r.dst != "default"]
    (f,) = found(s, "no-default-route")
    assert f.severity == "info"


def test_gateway_nobody_has():
    s = d.host()
    d.net(s, d.WEB).routes[0].gateway = "172.17.0.254"
    (f,) = found(s, "gateway-unreachable")
    assert f.severity == "error" and "172.17.0.254" in f.message
    assert f.fix == "nsenter -t 20 -n ip route replace default via 172.17.0.1 dev eth0"


def test_gateway_of_one_multipath_hop():
    s = d.host()
    route = d.net(s, d.WEB).routes[0]
    route.gateway = None
    route.nexthops = ["via 172.17.0.1 dev eth0", "via 172.17.0.77 dev eth0"]
    (f,) = found(s, "gateway-unreachable")
    assert "172.17.0.77" in f.message


def test_gateway_off_link_on_a_device():
    s = d.host()
    d.net(s, d.HOST).routes[0].gateway = "198.51.100.1"
    (f,) = found(s, "gateway-unreachable")
    assert "none of eth0's subnets" in f.message


def test_route_via_down_interface():
    s = d.host()
    eth0 = d.link(s, d.HOST, "eth0")
    eth0.operstate = "LOWERLAYERDOWN"
    (f,) = found(s, "route-via-down-interface")
    assert "default" in f.message and "without a carrier" in f.message


def test_idle_bridge_route_is_no_finding():
    s = d.host()
    idle = d.iface("br-idle", 30, "bridge", ["198.18.0.1/24"], bridge=BridgeInfo())
    idle.operstate = "DOWN"  # no ports: NO-CARRIER, as Docker's unused networks are
    d.net(s, d.HOST).interfaces.append(idle)
    d.net(s, d.HOST).routes.append(Route("inet", "main", "198.18.0.0/24", dev="br-idle"))
    assert not found(s, "route-via-down-interface")


def test_rp_filter_strict_on_the_side_interface():
    s = d.host()
    wnet = d.net(s, d.WEB)
    wnet.interfaces.append(d.iface("eth1", 3, addrs=["100.64.10.2/24"]))
    wnet.sysctls["net.ipv4.conf.eth1.rp_filter"] = "1"
    (f,) = found(s, "rp-filter-asymmetric")
    assert f.subjects[0].interface == "eth1" and "eth0" in f.message
    wnet.sysctls["net.ipv4.conf.eth1.rp_filter"] = "2"
    assert not found(s, "rp-filter-asymmetric")


def test_rule_to_empty_table():
    s = d.host()
    d.net(s, d.WEB).rules.append(RoutingRule("inet", 100, src="172.17.0.2", table="100",
                                             action="lookup"))
    (f,) = found(s, "rule-empty-table")
    assert f.subjects[0].rule == "100: from 172.17.0.2 lookup 100"
    d.net(s, d.WEB).routes.append(Route("inet", "100", "default", gateway="172.17.0.1",
                                        dev="eth0"))
    assert not found(s, "rule-empty-table")


# -- forwarding ----------------------------------------------------------------

def test_forwarding_disabled():
    s = d.host()
    d.net(s, d.HOST).sysctls["net.ipv4.ip_forward"] = "0"
    (f,) = found(s, "forwarding-disabled")
    assert f.severity == "error" and f.fix == "sysctl -w net.ipv4.ip_forward=1"
    assert {x.interface for x in f.subjects} >= {"docker0"}
    assert any(x.rule and "DNAT" in x.rule for x in f.subjects)


def test_forwarding_disabled_on_an_island_bridge_is_fine():
    s = d.host()
    h = d.net(s, d.HOST)
    h.sysctls["net.ipv4.ip_forward"] = "0"
    h.nat = []
    h.interfaces = [i for i in h.interfaces if i.name != "eth0"]
    h.routes = [r for r in h.routes if r.dev != "eth0"]
    assert not found(s, "forwarding-disabled")


def test_egress_without_snat():
    s = d.host()
    # Docker's rule for the host's own traffic onto the bridge does not NAT egress
    d.net(s, d.HOST).nat[0].chains[1].rules = [NatRule(
        "-A POSTROUTING -o docker0 -m addrtype --src-type LOCAL -j MASQUERADE",
        target="MASQUERADE", out_iface="docker0", parsed=False)]
    (f,) = found(s, "egress-without-snat")
    assert "172.17.0.0/16" in f.message and "MASQUERADE" in f.fix
    assert {x.netns for x in f.subjects} == {d.HOST, d.WEB, d.CACHE}


def test_egress_snat_through_a_cni_chain():
    s = d.host()
    chains = d.net(s, d.HOST).nat[0].chains
    chains[1].rules = [NatRule("-A POSTROUTING -s 172.17.0.0/16 -j CNI-x", target="CNI-x",
                               source="172.17.0.0/16")]
    chains.append(NatChain("CNI-x", rules=[
        NatRule("-A CNI-x -d 172.17.0.0/16 -j ACCEPT", target="ACCEPT",
                destination="172.17.0.0/16"),
        NatRule("-A CNI-x ! -d 224.0.0.0/4 -j MASQUERADE", target="MASQUERADE",
                destination="224.0.0.0/4", negated=["destination"])]))
    assert not found(s, "egress-without-snat")
    chains[-1].rules.pop()
    assert found(s, "egress-without-snat")


def test_internal_network_dropped_by_forward_needs_no_snat():
    # Docker 20.10's --internal: a default route and no MASQUERADE, but FORWARD drops
    # everything that would leave the subnet.
    s = d.host()
    d.net(s, d.HOST).nat[0].chains[1].rules = []
    forward = d.net(s, d.HOST).filter[0].chains[0]
    forward.rules.insert(0, d.rule("-A FORWARD ! -d 172.17.0.0/16 -i docker0 -j DROP", "DROP",
                                   d.m("destination", "172.17.0.0/16", True),
                                   d.m("in_iface", "docker0")))
    assert not found(s, "egress-without-snat")


def test_internal_network_without_snat_is_fine():
    s = d.host()
    d.net(s, d.HOST).nat[0].chains[1].rules = []
    for inode in (d.WEB, d.CACHE):
        d.net(s, inode).routes = [r for r in d.net(s, inode).routes if r.dst != "default"]
    assert not found(s, "egress-without-snat")


def test_dnat_to_unowned_address():
    s = d.host()
    d.net(s, d.HOST).nat[0].chains[2].rules.append(d.dnat("8081", "172.17.0.99:80"))
    (f,) = found(s, "dnat-to-unowned-address")
    assert "172.17.0.99" in f.message
    assert f.fix == ("iptables-nft -t nat -D DOCKER -p tcp -m tcp --dport 8081 -j DNAT "
                     "--to-destination 172.17.0.99:80")


def test_dnat_to_a_remote_subnet_is_not_judged():
    s = d.host()
    d.net(s, d.HOST).nat[0].chains[2].rules.append(d.dnat("8081", "203.0.113.7:80"))
    assert not found(s, "dnat-to-unowned-address")


def test_iptables_split_brain_names_both():
    s = d.host()
    legacy = NatTable("iptables-legacy", "ipv4", "nat", [NatChain(
        "POSTROUTING", "ACCEPT", "postrouting", rules=[d.masquerade("10.0.0.0/8", "x")])])
    d.net(s, d.HOST).nat.append(legacy)
    (f,) = found(s, "iptables-split-brain")
    assert "postrouting" in f.message
    assert any("iptables-legacy" in e for e in f.evidence)
    assert any("iptables-nft" in e for e in f.evidence)


def test_dnat_to_a_port_nobody_listens_on():
    s = d.host()
    d.net(s, d.HOST).nat[0].chains[2].rules.append(d.dnat("8082", "172.17.0.3:6380"))
    (f,) = found(s, "dnat-no-listener")
    assert "172.17.0.3:6380/tcp" in f.message
    assert {(x.netns, x.interface) for x in f.subjects} >= {(d.CACHE, "eth0")}
    d.net(s, d.CACHE).sockets.append(d.listener(6380, "172.17.0.3"))
    assert not found(s, "dnat-no-listener")


def test_dnat_to_loopback_is_about_the_netns_itself():
    s = d.host()
    d.net(s, d.HOST).nat[0].chains[2].rules.append(d.dnat("18080", "127.0.0.1:18080"))
    (f,) = found(s, "dnat-no-listener")
    assert [x.netns for x in f.subjects] == [d.HOST, d.HOST]
    d.net(s, d.HOST).sockets.append(d.listener(18080, "127.0.0.1"))
    assert not found(s, "dnat-no-listener")


def test_dnat_listener_check_needs_sockets():
    s = d.host()
    for ns in s.namespaces:
        ns.net.sockets = []  # an older snapshot: sockets were not read
    assert not found(s, "dnat-no-listener")


def test_forward_policy_drop_without_accept_for_the_published_port():
    s = d.host()
    docker_chain = d.net(s, d.HOST).filter[0].chains[1]
    docker_chain.rules = []
    (f,) = found(s, "forward-drop-published")
    assert "172.17.0.2:80" in f.message and "policy DROP" in f.message
    assert f.subjects[0].interface == "docker0"
    assert f.fix == "iptables -I FORWARD -d 172.17.0.2/32 -o docker0 -p tcp --dport 80 -j ACCEPT"


def test_forward_with_an_unknown_match_is_not_judged():
    s = d.host()
    docker_chain = d.net(s, d.HOST).filter[0].chains[1]
    docker_chain.rules = [d.rule("-A DOCKER -m set --match-set x dst -j ACCEPT", "ACCEPT",
                                 d.m("set", "x"))]
    assert not found(s, "forward-drop-published")


def test_split_brain_in_filter_tables():
    s = d.host()
    d.net(s, d.HOST).filter.append(NatTable("iptables-legacy", "ipv4", "filter", [
        NatChain("FORWARD", "DROP", "forward")]))
    (f,) = found(s, "iptables-split-brain")
    assert "forward" in f.message


# -- namespaces ----------------------------------------------------------------

def _leak(s, names=(), wired=True):
    h = Holder("bind_mount", pid=1, path=f"/run/netns/{names[0]}" if names else "/run/x/y")
    ifaces = [d.iface("lo", 1, "loopback", ["127.0.0.1/8"], mtu=65536)]
    if wired:
        ifaces.append(d.iface("eth0", 2, addrs=["172.17.0.9/16"], peer=d.peer(d.HOST, 13, "v")))
        d.net(s, d.HOST).interfaces.append(d.iface("v", 13, master="docker0",
                                                   port_state="forwarding",
                                                   peer=d.peer(500, 2, "eth0")))
    s.namespaces.append(Namespace("net", 500, holders=[h], names=list(names),
                                  net=NetState(interfaces=ifaces)))
    return s


def test_leaked_netns_still_plugged_in():
    (f,) = found(_leak(d.host(), ["nsvtleak"]), "leaked-netns")
    assert f.severity == "warning" and f.fix == "ip netns del nsvtleak"
    assert (500, "eth0") in {(x.netns, x.interface) for x in f.subjects}


def test_leaked_netns_named_like_a_sandbox():
    name = "cni-0d6c2f3e-1a2b-4c5d-8e9f-0a1b2c3d4e5f"
    (f,) = found(_leak(d.host(), [name], wired=False), "leaked-netns")
    assert f.severity == "warning" and name in f.message


def test_netns_with_only_lo_is_info():
    (f,) = found(_leak(d.host(), wired=False), "leaked-netns")
    assert f.severity == "info" and f.fix == "umount /run/x/y && rm /run/x/y"


def test_hub_netns_is_not_leaked():
    # Docker's overlay netns: no process, but a bridge whose ports lead to containers.
    s = _leak(d.host(), ["nsvthub"])
    hub = s.namespace("net", 500).net
    hub.interfaces[1].master = "br0"
    assert not found(s, "leaked-netns")


def _conntrack(s, dst: str, status: list[str]):
    from nsview.model import ConntrackEntry, ConntrackTable, ConntrackTuple

    entry = ConntrackEntry("ipv4", "tcp", ConntrackTuple("172.17.0.2", dst, 40000, 5432),
                           ConntrackTuple(dst, "172.17.0.2", 5432, 40000), "SYN_SENT", status)
    d.net(s, d.WEB).conntrack = ConntrackTable(entries=[entry], count=1)
    return s


def test_conntrack_unreplied_to_nobody():
    (f,) = found(_conntrack(d.host(), "172.17.0.50", []), "conntrack-unreplied")
    assert "172.17.0.50" in f.message and f.subjects[0].netns == d.WEB
    assert not found(_conntrack(d.host(), "172.17.0.3", []), "conntrack-unreplied")
    assert not found(_conntrack(d.host(), "172.17.0.50", ["SEEN_REPLY"]), "conntrack-unreplied")
    assert not found(_conntrack(d.host(), "203.0.113.9", []), "conntrack-unreplied")


def _zombie_pidns(s, cmdline=()):
    from nsview.model import Process

    s.namespaces.append(Namespace("pid", 900, pids=[70], holders=[Holder("process", pid=70)]))
    s.processes.append(Process(60, ppid=1, comm="shim", cmdline=["shim"],
                               ns={"net": d.HOST, "pid": 1, "mnt": 2}))
    s.processes.append(Process(70, ppid=60, comm="app", cmdline=list(cmdline),
                               ns={"pid": 900, "user": 5}))
    return s


def test_zombie_holds_a_pid_namespace():
    (f,) = found(_zombie_pidns(d.host()), "zombie-holds-namespace")
    assert "pid:[900]" in f.message and "60 (shim)" in f.message
    assert f.subjects[0].to_dict() == {"netns": None, "namespace": "pid:900"}
    assert f.subjects[1].pid == 70 and f.fix.startswith("kill -CHLD 60")


def test_a_live_process_without_net_links_is_no_zombie():
    # denied links look different: a live process keeps its cmdline
    assert not found(_zombie_pidns(d.host(), ["app"]), "zombie-holds-namespace")


# -- containers ----------------------------------------------------------------

def _web_container(s, mode="bridge", kernel="private", ip="172.17.0.2/16"):
    from nsview.model.containers import Container, ContainerNetwork

    s.containers.append(Container(
        "f" * 64, "docker", name="web", main_pid=20, ns={"net": d.WEB}, network_mode=mode,
        kernel_network_mode=kernel, networks=[ContainerNetwork("bridge", "eth0", ip)],
        source={"networks": "/var/lib/docker/containers/fff/config.v2.json"}))
    return s


def test_container_agreeing_with_the_kernel():
    assert not found(_web_container(d.host()), "container-state-mismatch")
    assert not found(_web_container(d.host(), "appnet"), "container-state-mismatch")


def test_container_ip_the_kernel_does_not_show():
    (f,) = found(_web_container(d.host(), ip="172.17.0.42/16"), "container-state-mismatch")
    assert "172.17.0.42" in f.message
    assert f.subjects == [Subject(d.WEB, "eth0", container="web")]
    assert any("172.17.0.2/16 on eth0" in e for e in f.evidence)


def test_container_mode_the_kernel_does_not_show():
    (f,) = found(_web_container(d.host(), "host", "private"), "container-state-mismatch")
    assert "network mode host" in f.message and "private" in f.message


# -- the whole run ---------------------------------------------------------------

def test_severity_floor_and_order():
    s = d.host()
    d.link(s, d.HOST, "vethweb").port_state = "learning"  # info
    d.net(s, d.HOST).sysctls["net.ipv4.ip_forward"] = "0"  # error
    d.link(s, d.WEB, "eth0").mtu = 1400  # warning
    report = run_doctor(s)
    assert [f.severity for f in report.findings] == ["error", "warning", "info"]
    assert len(at_or_above(report.findings, "warning")) == 2


def test_survives_the_json_round_trip():
    s = d.host()
    d.link(s, d.WEB, "eth0").mtu = 1400
    again = snapshot_from_json(snapshot_to_json(s))
    assert [f.to_dict() for f in run_doctor(again).findings] == \
        [f.to_dict() for f in run_doctor(s).findings]


def test_a_broken_check_does_not_hide_the_others(monkeypatch):
    from nsview.analyze.doctor import base

    def boom(ctx):
        raise RuntimeError("bug")

    chk = REGISTRY["veth-mtu-mismatch"]
    monkeypatch.setitem(REGISTRY, chk.id, base.Check(chk.id, chk.severity, chk.family,
                                                     chk.summary, boom))
    s = d.host()
    d.net(s, d.HOST).sysctls["net.ipv4.ip_forward"] = "0"
    report = run_doctor(s)
    assert report.failed == {"veth-mtu-mismatch": "RuntimeError: bug"}
    assert [f.check for f in report.findings] == ["forwarding-disabled"]


@pytest.mark.parametrize("argv,code", [(["--only", "nope"], 2), (["--only", ","], 2),
                                       (["--severity", "fatal"], 2)])
def test_cli_usage_errors_are_one_line(argv, code, capsys):
    from nsview.cli import main

    try:
        status = main(["doctor", *argv])
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    assert status == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err


def test_cli_on_a_saved_snapshot(tmp_path, capsys):
    from nsview.cli import main

    s = d.host()
    path = tmp_path / "snap.json"
    path.write_text(snapshot_to_json(s))
    assert main(["doctor", "--load", str(path)]) == 0
    assert "no problems" in capsys.readouterr().out
    d.link(s, d.WEB, "eth0").mtu = 1400
    path.write_text(snapshot_to_json(s))
    assert main(["doctor", "--load", str(path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert [f["check"] for f in out["findings"]] == ["veth-mtu-mismatch"]
    assert main(["doctor", "--load", str(path), "--severity", "error"]) == 0
    assert main(["doctor", "--load", str(path), "--only", "leaked-netns"]) == 0
