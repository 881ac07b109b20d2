"""Traffic paths on hand-built snapshots: one per verdict and per kind of hop.

The tables are real ``iptables-save`` text (Docker 20.10's own rules, a
kube-proxy service) run through nsview's parser, so what is replayed is what
the collector would have stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nsview.analyze.paths import TraceError, Tracer
from nsview.collect.natparse import parse_iptables_save
from nsview.model import (
    Address,
    Interface,
    Namespace,
    NetState,
    PeerRef,
    Process,
    Route,
    Snapshot,
    Socket,
    to_dict,
)

FIXTURES = Path(__file__).parent / "fixtures" / "paths"
HOST, WEB, CLIENT = 4026531840, 4026532001, 4026532002

DOCKER_NAT = (FIXTURES / "docker-nat.txt").read_text()

DOCKER_FILTER = (FIXTURES / "docker-filter.txt").read_text()

KUBE_NAT = (FIXTURES / "kube-nat.txt").read_text()


def _iface(name, ifindex, kind, *cidrs, master=None, peer=None):
    return Interface(
        name=name,
        ifindex=ifindex,
        kind=kind,
        operstate="UP",
        flags=["UP", "LOWER_UP"],
        addresses=[Address("inet", c) for c in cidrs],
        master=master,
        peer=peer,
    )


def _local(*ips):
    routes = [Route("inet", "local", "127.0.0.0/8", dev="lo", type="local")]
    return routes + [Route("inet", "local", f"{ip}/32", dev="eth0", type="local") for ip in ips]


def _snapshot(nat=DOCKER_NAT, filt=DOCKER_FILTER, forward="1", sockets=True, web_ip="172.17.0.2",
              listen_port=80):
    host = NetState(
        interfaces=[
            _iface("lo", 1, "loopback", "127.0.0.1/8"),
            _iface("eth0", 2, "device", "192.0.2.1/24"),
            _iface("docker0", 3, "bridge", "172.17.0.1/16"),
            _iface("veth1", 4, "veth", master="docker0", peer=PeerRef(WEB, 2, "eth0")),
            _iface("br-int", 5, "bridge", "172.18.0.1/16"),
            _iface("veth2", 6, "veth", master="br-int", peer=PeerRef(CLIENT, 2, "eth0")),
        ],
        routes=[
            Route("inet", "main", "default", gateway="192.0.2.254", dev="eth0"),
            Route("inet", "main", "192.0.2.0/24", dev="eth0", scope="link"),
            Route("inet", "main", "172.17.0.0/16", dev="docker0", scope="link"),
            Route("inet", "main", "172.18.0.0/16", dev="br-int", scope="link"),
            *_local("192.0.2.1", "172.17.0.1", "172.18.0.1"),
        ],
        nat=parse_iptables_save(nat, "iptables-legacy", "ipv4") if nat else [],
        filter=parse_iptables_save(filt, "iptables-legacy", "ipv4") if filt else [],
        sysctls={"net.ipv4.ip_forward": forward},
    )
    web = NetState(
        interfaces=[
            _iface("lo", 1, "loopback", "127.0.0.1/8"),
            _iface("eth0", 2, "veth", f"{web_ip}/16", peer=PeerRef(HOST, 4, "veth1")),
        ],
        routes=[
            Route("inet", "main", "default", gateway="172.17.0.1", dev="eth0"),
            Route("inet", "main", "172.17.0.0/16", dev="eth0", scope="link"),
            *_local(web_ip),
        ],
        sysctls={"net.ipv4.ip_forward": "0"},
    )
    internal = NetState(
        interfaces=[
            _iface("lo", 1, "loopback", "127.0.0.1/8"),
            _iface("eth0", 2, "veth", "172.18.0.2/16", peer=PeerRef(HOST, 6, "veth2")),
        ],
        routes=[
            Route("inet", "main", "default", gateway="172.18.0.1", dev="eth0"),
            Route("inet", "main", "172.18.0.0/16", dev="eth0", scope="link"),
            *_local("172.18.0.2"),
        ],
    )
    if sockets:
        host.sockets = [
            Socket("tcp6", "inet6", "LISTEN", "[::]:8080", address="::", port=8080, pids=[100],
                   inode=11, v6only=False),
        ]
        web.sockets = [
            Socket("tcp", "inet", "LISTEN", f"0.0.0.0:{listen_port}", address="0.0.0.0",
                   port=listen_port, pids=[200], inode=12),
        ]
    procs = [
        Process(2, 0, "kthreadd", kthread=True, ns={"net": HOST}),
        Process(100, 1, "docker-proxy",
                cmdline=["/usr/bin/docker-proxy", "-proto", "tcp", "-host-ip", "0.0.0.0",
                         "-host-port", "8080", "-container-ip", "172.17.0.2",
                         "-container-port", "80"], ns={"net": HOST}),
        Process(200, 1, "nginx", cmdline=["nginx"], ns={"net": WEB}),
    ]
    return Snapshot(
        namespaces=[
            Namespace("net", HOST, pids=[2, 100], net=host),
            Namespace("net", WEB, pids=[200], net=web, names=["web"]),
            Namespace("net", CLIENT, net=internal, names=["internal"]),
        ],
        processes=procs,
    )


def _only(trace, arrival):
    paths = [p for p in trace.paths if p.arrival == arrival]
    assert len(paths) == 1, [p.summary for p in trace.paths]
    return paths[0]


def _kinds(path):
    return [h.kind for h in path.hops]


def test_published_port_from_outside_reaches_the_container():
    path = _only(Tracer(_snapshot()).port(8080), "external")
    assert path.verdict == "reaches", path.summary
    assert path.listener.netns == WEB and path.listener.port == 80
    assert path.listener.pids == [200] and path.listener.commands == ["nginx"]
    nat = next(h for h in path.hops if h.kind == "nat")
    assert "172.17.0.2:80" in nat.description
    assert "--to-destination 172.17.0.2:80" in nat.evidence and nat.ref[0] == "nat_rule"
    forward = next(h for h in path.hops if h.kind == "filter" and "FORWARD" in h.description)
    assert "accepts" in forward.description and "--dport 80 -j ACCEPT" in forward.evidence
    links = [h.description for h in path.hops if h.kind == "link"]
    assert any("docker0" in t and "veth1" in t for t in links)
    assert _kinds(path)[0] == "arrive" and _kinds(path)[-1] == "listener"


def test_loopback_goes_through_docker_proxy_to_the_same_container():
    path = _only(Tracer(_snapshot()).port(8080), "loopback")
    assert path.verdict == "reaches", path.summary
    assert "nat" not in _kinds(path)[:3]  # OUTPUT's DNAT excludes 127/8
    proxy = next(h for h in path.hops if h.kind == "proxy")
    assert "172.17.0.2:80" in proxy.description
    listeners = [h for h in path.hops if h.kind == "listener"]
    assert "docker-proxy" in listeners[0].description and "nginx" in listeners[1].description
    assert path.listener.netns == WEB


def test_host_ip_from_the_host_itself_is_dnatted_in_output():
    trace = Tracer(_snapshot()).port(8080, host_ip="192.0.2.1")
    path = _only(trace, "loopback")
    assert path.verdict == "reaches"
    assert any(h.kind == "nat" and h.description.startswith("OUTPUT") for h in path.hops)


def test_dnat_to_a_port_nobody_listens_on():
    path = _only(Tracer(_snapshot()).port(8081), "external")
    assert path.verdict == "no-listener"
    assert "172.17.0.2:81" in path.summary and "web" in path.summary


def test_dnat_to_an_address_nobody_owns():
    path = _only(Tracer(_snapshot()).port(8082), "external")
    assert path.verdict == "no-listener"
    assert "nobody on bridge docker0" in path.summary and "172.17.0.9" in path.summary


def test_internal_network_egress_is_blocked_by_the_isolation_rule():
    path = Tracer(_snapshot()).egress(CLIENT).paths[0]
    assert path.verdict == "blocked"
    assert "DOCKER-ISOLATION-STAGE-1" in path.summary
    assert "! -d 172.18.0.0/16 -i br-int -j DROP" in path.hops[-1].evidence
    assert path.hops[-1].ref[0] == "filter_rule"


def test_egress_from_a_bridge_container_is_masqueraded_and_leaves():
    path = Tracer(_snapshot()).egress(WEB, to="198.51.100.7").paths[0]
    assert path.verdict == "reaches", path.summary
    masq = next(h for h in path.hops if h.kind == "nat")
    assert "MASQUERADE" in masq.description and "192.0.2.1" in masq.description
    assert "eth0" in path.summary and path.hops[-1].kind == "link"


def test_forwarding_off_blocks_egress():
    path = Tracer(_snapshot(forward="0")).egress(WEB).paths[0]
    assert path.verdict == "blocked" and "ip_forward = 0" in path.summary


def test_kube_service_has_one_path_per_endpoint_with_probabilities():
    snap = _snapshot(nat=KUBE_NAT, filt=None)
    trace = Tracer(snap).port(80, host_ip="100.96.0.10", netns=WEB)
    assert {p.probability for p in trace.paths} == {0.5}
    targets = sorted(
        h.description for p in trace.paths for h in p.hops if h.kind == "nat"
        and "DNAT" in h.description
    )
    assert "172.17.0.2:80" in targets[0] and "172.17.0.3:80" in targets[1]
    assert all("probability 0.50" in t for t in targets)
    assert {p.arrival for p in trace.paths} == {"external"}  # from a pod, over its veth
    # The node's own connection to the service IP: DNATed in OUTPUT, never left the host.
    own = Tracer(snap).port(80, host_ip="100.96.0.10")
    assert [p.arrival for p in own.paths] == ["loopback", "loopback"]


def test_without_sockets_the_listener_is_unknown():
    path = _only(Tracer(_snapshot(sockets=False)).port(8080), "external")
    assert path.verdict == "unknown" and "no sockets" in path.summary


def test_no_route_is_blocked():
    snap = _snapshot()
    snap.namespaces[2].net.routes = [r for r in snap.namespaces[2].net.routes if r.dst != "default"]
    path = Tracer(snap).egress(CLIENT).paths[0]
    assert path.verdict == "blocked" and "no route" in path.summary


def test_the_json_has_the_documented_shape():
    data = to_dict(Tracer(_snapshot()).port(8080))
    json.dumps(data)
    for path in data["paths"]:
        assert set(path) >= {"arrival", "verdict", "hops", "listener"}
        assert path["verdict"] in ("reaches", "no-listener", "blocked", "unknown")
        for hop in path["hops"]:
            assert set(hop) >= {"kind", "netns", "description", "evidence"}
    listener = next(p["listener"] for p in data["paths"] if p["listener"])
    assert set(listener) >= {"netns", "address", "port", "pids", "container"}


def test_a_netns_without_network_state_is_a_clear_error():
    snap = _snapshot()
    snap.namespaces[1].net = None
    with pytest.raises(TraceError, match="no network state"):
        Tracer(snap).egress(WEB)


def _without_matches(snap):
    """A snapshot as nsview wrote it before rules carried ``matches``: the replay
    falls back to reading each rule's text."""
    for ns in snap.namespaces:
        if ns.net is None:
            continue
        for table in ns.net.nat + ns.net.filter:
            for chain in table.chains:
                for rule in chain.rules:
                    rule.matches = []
                    rule.target_options = {}
    return snap


@pytest.mark.parametrize("strip", [False, True], ids=["matches", "text"])
def test_rules_read_from_matches_or_from_text_agree(strip):
    def snap(**kw):
        s = _snapshot(**kw)
        return _without_matches(s) if strip else s

    verdicts = {
        "published": _only(Tracer(snap()).port(8080), "external").verdict,
        "proxy": _only(Tracer(snap()).port(8080), "loopback").verdict,
        "no-port": _only(Tracer(snap()).port(8081), "external").verdict,
        "internal": Tracer(snap()).egress(CLIENT).paths[0].verdict,
        "egress": Tracer(snap()).egress(WEB).paths[0].verdict,
    }
    assert verdicts == {"published": "reaches", "proxy": "reaches", "no-port": "no-listener",
                        "internal": "blocked", "egress": "reaches"}
    kube = Tracer(snap(nat=KUBE_NAT, filt=None)).port(80, host_ip="100.96.0.10", netns=WEB)
    assert sorted(p.probability for p in kube.paths) == [0.5, 0.5]


def test_a_drop_rule_nsview_cannot_evaluate_makes_the_verdict_unknown():
    filt = DOCKER_FILTER.replace(
        "-A FORWARD -j DOCKER-USER",
        "-A FORWARD -m set --match-set nsvt-blocked src -j DROP\n-A FORWARD -j DOCKER-USER",
    )
    path = _only(Tracer(_snapshot(filt=filt)).port(8080), "external")
    assert path.verdict == "unknown", path.summary
    assert any("--match-set nsvt-blocked" in text for text in path.assumed)


def test_rootlessport_forwards_to_the_container_that_publishes_the_port():
    from nsview.model import Container, ContainerNetwork, PortMapping

    snap = _snapshot(nat=None, filt=None)
    proxy = snap.process(100)
    proxy.comm, proxy.cmdline = "rootlessport", ["rootlessport"]
    snap.containers = [
        Container(id="ab" * 32, engine="podman", name="web", rootless=True, pids=[200],
                  ns={"net": WEB}, networks=[ContainerNetwork("podman", ip="172.17.0.2/16")],
                  ports=[PortMapping(8080, 80)]),
    ]
    path = _only(Tracer(snap).port(8080), "loopback")
    assert path.verdict == "reaches", path.summary
    proxy_hop = next(h for h in path.hops if h.kind == "proxy")
    assert "rootlessport" in proxy_hop.description
    assert "container web port 80" in proxy_hop.description
    assert path.listener.netns == WEB and path.listener.container == "web"


def test_ipv6_loopback_reaches_docker_proxy_on_a_dual_stack_socket():
    snap = _snapshot()
    snap.namespaces[0].net.interfaces[0].addresses.append(Address("inet6", "::1/128"))
    snap.namespaces[0].net.routes.append(Route("inet6", "local", "::1/128", dev="lo",
                                               type="local"))
    path = _only(Tracer(snap).port(8080, host_ip="::1"), "loopback")
    assert path.verdict == "reaches", path.summary
    first = next(h for h in path.hops if h.kind == "listener")
    assert "[::]:8080" in first.description  # :: with v6only false takes ::1 too
    assert path.listener.netns == WEB  # docker-proxy connects on over IPv4


def test_udp_needs_an_unconnected_udp_socket():
    snap = _snapshot()
    web = snap.namespaces[1].net
    web.sockets.append(Socket("udp", "inet", "UNCONN", "0.0.0.0:53", address="0.0.0.0",
                              port=53, pids=[200], inode=13))
    trace = Tracer(snap).port(53, "udp", host_ip="172.17.0.2", netns=CLIENT)
    (path,) = trace.paths
    # internal's FORWARD isolation lets nothing out of br-int: blocked before the socket.
    assert path.verdict == "blocked"
    trace = Tracer(snap).port(53, "udp", netns=WEB)
    assert {p.arrival: p.verdict for p in trace.paths} == {"external": "reaches",
                                                           "loopback": "reaches"}
    assert Tracer(snap).port(53, "tcp", netns=WEB).paths[0].verdict == "no-listener"


def test_matches_the_collector_has_no_kind_for_are_read_from_their_text():
    import ipaddress

    from nsview.analyze.paths.netfilter import Packet
    from nsview.analyze.paths.rulespec import parse_rule
    from nsview.collect.natparse import parse_iptables_rule

    _, rule = parse_iptables_rule("-A X -m iprange --src-range 10.0.0.1-10.0.0.9 -j DROP")
    assert [m.kind for m in rule.matches] == ["other"]
    spec = parse_rule(rule, "iptables-legacy", None)
    (cond,) = spec.conditions

    def pkt(src):
        return Packet(4, "tcp", ipaddress.ip_address("192.0.2.1"), 80,
                      src=ipaddress.ip_address(src))

    assert cond.test(pkt("10.0.0.5"), None) is True
    assert cond.test(pkt("10.0.0.20"), None) is False


def test_three_endpoints_come_out_in_rule_order_with_a_third_each():
    lines = KUBE_NAT.splitlines()
    svc = [i for i, line in enumerate(lines) if line.startswith("-A KUBE-SVC-WEB")]
    lines[svc[0]] = lines[svc[0]].replace("0.50000000000", "0.33333333349")
    lines.insert(svc[1], lines[svc[1]].replace("-j KUBE-SEP-B", "-m statistic --mode random "
                                              "--probability 0.50000000000 -j KUBE-SEP-C"))
    lines.insert(lines.index(":KUBE-MARK-MASQ - [0:0]"), ":KUBE-SEP-C - [0:0]")
    lines.insert(lines.index("COMMIT"), "-A KUBE-SEP-C -p tcp -m tcp -j DNAT "
                 "--to-destination 172.17.0.4:80")
    snap = _snapshot(nat="\n".join(lines) + "\n", filt=None)
    trace = Tracer(snap).port(80, host_ip="100.96.0.10", netns=WEB)
    dnats = [next(h.description for h in p.hops if "DNAT" in h.description) for p in trace.paths]
    assert [d.split("→ ")[1].split(" ")[0] for d in dnats] == [
        "172.17.0.2:80", "172.17.0.4:80", "172.17.0.3:80"]
    assert [round(p.probability, 3) for p in trace.paths] == [0.333, 0.333, 0.333]


def test_tables_that_could_not_be_read_make_a_path_unknown():
    snap = _snapshot()
    snap.namespaces[0].net.errors.append("iptables-nft-save: Permission denied (you must be root)")
    path = _only(Tracer(snap).port(8080), "external")
    assert path.verdict == "unknown", path.summary
    assert any("rules not all read" in a for a in path.assumed)
    snap = _snapshot()
    snap.namespaces[1].net.sockets = []
    snap.namespaces[1].net.errors.append("sockets: Operation not permitted")
    path = _only(Tracer(snap).port(8080), "external")
    assert path.verdict == "unknown" and "were not read" in path.summary


def test_p_on_a_container_row_traces_its_published_ports_and_its_way_out():
    from nsview.analyze.lookup import Lookup
    from nsview.analyze.paths.jumps import questions_for
    from nsview.analyze.refs import ContainerRef
    from nsview.model.containers import Container, PortMapping
    from tests.tui_data import HOST_NS, WEB_NET, fixture_snapshot

    snap = fixture_snapshot()
    cid = "c" * 64
    snap.containers.append(Container(id=cid, engine="docker", name="web", main_pid=601,
                                     ns={"net": WEB_NET}, ports=[PortMapping(8080, 80)]))
    questions = questions_for(Lookup(snap), ContainerRef(cid, 601))
    kinds = {(q.kind, q.netns, q.port) for q in questions}
    assert ("port", HOST_NS["net"], 8080) in kinds  # its published port, from the host
    assert ("egress", WEB_NET, None) in kinds  # and its own way out
