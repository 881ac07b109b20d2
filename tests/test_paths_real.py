"""Traffic paths on real topologies: namespaces, veths, bridges, iptables/nft
rules and listening processes made here, read by the collector, then traced.

The "host" is a namespace of its own (nsvt…H) with a client on a veth and
containers on bridges, so nothing touches the root namespace. Where a path is
said to reach, a real connection is made too: the trace and the kernel agree.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from nsview.analyze.paths import Tracer
from nsview.collect import CollectOptions, collect_snapshot
from tests.conftest import nsview_bin, run, unique

pytestmark = pytest.mark.privileged

LISTEN = (
    "import socket,sys,time\n"
    "s=socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)\n"
    "print('ready', flush=True)\n"
    "while True:\n"
    "    c, _ = s.accept(); c.sendall(b'hi'); c.close()\n"
)
CONNECT = (
    "import socket,sys\n"
    "c=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)\n"
    "print(c.recv(2).decode())\n"
)


class Topology:
    """Namespaces and links made for one test; everything goes in ``close``."""

    def __init__(self) -> None:
        self.netns: dict[str, str] = {}  # role -> netns name
        self.procs: list[subprocess.Popen] = []
        self.holders: list[subprocess.Popen] = []

    def ns(self, role: str) -> str:
        name = unique(role[:3])
        run("ip", "netns", "add", name)
        self.netns[role] = name
        self.ip(role, "link", "set", "lo", "up")
        # A process in each netns, so a collection limited to their netns finds them all.
        self.holders.append(self.start(role, "sleep", "infinity"))
        return name

    def ip(self, role: str, *argv: str) -> None:
        run("ip", "-n", self.netns[role], *argv)

    def sh(self, role: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return run("ip", "netns", "exec", self.netns[role], *argv, check=check)

    def veth(self, a: str, a_if: str, b: str, b_if: str) -> None:
        tmp_a, tmp_b = unique("a"), unique("b")
        run("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        run("ip", "link", "set", tmp_a, "netns", self.netns[a])
        run("ip", "link", "set", tmp_b, "netns", self.netns[b])
        self.ip(a, "link", "set", tmp_a, "name", a_if)
        self.ip(b, "link", "set", tmp_b, "name", b_if)
        self.ip(a, "link", "set", a_if, "up")
        self.ip(b, "link", "set", b_if, "up")

    def bridge(self, role: str, name: str, cidr: str) -> None:
        self.ip(role, "link", "add", name, "type", "bridge")
        self.ip(role, "addr", "add", cidr, "dev", name)
        self.ip(role, "link", "set", name, "up")

    def container(self, role: str, host: str, bridge: str, cidr: str, gateway: str) -> None:
        """A container-like netns with eth0 on ``bridge`` of ``host``."""
        self.ns(role)
        port = f"v{role[:6]}"
        self.veth(role, "eth0", host, port)
        self.ip(host, "link", "set", port, "master", bridge)
        self.ip(role, "addr", "add", cidr, "dev", "eth0")
        self.ip(role, "route", "add", "default", "via", gateway)

    def listen(self, role: str, addr: str, port: int) -> subprocess.Popen:
        p = subprocess.Popen(
            ["ip", "netns", "exec", self.netns[role], sys.executable, "-c", LISTEN, addr,
             str(port)],
            stdout=subprocess.PIPE, start_new_session=True, text=True,
        )
        self.procs.append(p)
        assert p.stdout.readline().strip() == "ready"
        return p

    def start(self, role: str, *argv: str) -> subprocess.Popen:
        p = subprocess.Popen(["ip", "netns", "exec", self.netns[role], *argv],
                             start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def connects(self, role: str, addr: str, port: int) -> bool:
        r = self.sh(role, sys.executable, "-c", CONNECT, addr, str(port), check=False)
        return r.returncode == 0 and r.stdout.strip() == "hi"

    def snapshot(self):
        """A snapshot with the network of this topology's namespaces only (fast on a
        crowded host); the processes are all there."""
        pids = tuple(p.pid for p in self.holders)
        return collect_snapshot(CollectOptions(net_pids=pids, containers=False))

    def inode(self, role: str) -> int:
        import os

        return os.stat(f"/run/netns/{self.netns[role]}").st_ino

    def close(self) -> None:
        import os
        import signal

        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        for name in self.netns.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture
def topo() -> Iterator[Topology]:
    t = Topology()
    try:
        yield t
    finally:
        t.close()


IPT = {"iptables-legacy": "iptables-legacy", "iptables-nft": "iptables-nft"}


def docker_like(t: Topology, backend: str = "iptables-legacy") -> None:
    """host with a client on a veth (198.18.0.0/24) and a web container on bridge
    nsvtbr0 (198.18.1.0/24), port 8080 published to web:80 the way Docker does."""
    t.ns("host")
    t.ns("client")
    t.veth("client", "eth0", "host", "hc0")
    t.ip("client", "addr", "add", "198.18.0.2/24", "dev", "eth0")
    t.ip("client", "route", "add", "default", "via", "198.18.0.1")
    t.ip("host", "addr", "add", "198.18.0.1/24", "dev", "hc0")
    t.bridge("host", "nsvtbr0", "198.18.1.1/24")
    t.container("web", "host", "nsvtbr0", "198.18.1.2/24", "198.18.1.1")
    t.sh("host", "sysctl", "-qw", "net.ipv4.ip_forward=1")
    if backend == "nftables":
        ruleset = """
table ip nsvt {
  chain pre {
    type nat hook prerouting priority dstnat;
    fib daddr type local meta mark set mark or 0x2000 jump pub;
  }
  chain out {
    type nat hook output priority -100;
    ip daddr != 127.0.0.0/8 fib daddr type local jump pub;
  }
  chain pub {
    iifname "nsvtbr0" return
    tcp dport 8080 dnat to 198.18.1.2:80
    tcp dport 8081 dnat to 198.18.1.2:81
    tcp dport 8082 dnat to 198.18.1.9:80
  }
  chain post {
    type nat hook postrouting priority srcnat;
    ip saddr 198.18.1.0/24 oifname != "nsvtbr0" masquerade;
    meta mark & 0x2000 == 0x2000 masquerade;
  }
  chain forward_nsvt {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "nsvtbr0" accept
    oifname "nsvtbr0" ip daddr 198.18.1.2 tcp dport { 80, 81 } accept
    oifname "nsvtbr0" ip daddr 198.18.1.9 tcp dport 80 accept
  }
}
"""
        subprocess.run(["ip", "netns", "exec", t.netns["host"], "nft", "-f", "-"],
                       input=ruleset, text=True, check=True, capture_output=True)
        return
    ipt = IPT[backend]
    rules = [
        ("nat", "-N", "NSVT"),
        ("nat", "-A", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "NSVT"),
        ("nat", "-A", "OUTPUT", "!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type",
         "LOCAL", "-j", "NSVT"),
        ("nat", "-A", "POSTROUTING", "-s", "198.18.1.0/24", "!", "-o", "nsvtbr0", "-j",
         "MASQUERADE"),
        ("nat", "-A", "NSVT", "-i", "nsvtbr0", "-j", "RETURN"),
        ("nat", "-A", "NSVT", "!", "-i", "nsvtbr0", "-p", "tcp", "--dport", "8080", "-j", "DNAT",
         "--to-destination", "198.18.1.2:80"),
        ("nat", "-A", "NSVT", "!", "-i", "nsvtbr0", "-p", "tcp", "--dport", "8081", "-j", "DNAT",
         "--to-destination", "198.18.1.2:81"),
        ("nat", "-A", "NSVT", "!", "-i", "nsvtbr0", "-p", "tcp", "--dport", "8082", "-j", "DNAT",
         "--to-destination", "198.18.1.9:80"),
        ("filter", "-P", "FORWARD", "DROP"),
        ("filter", "-N", "NSVT"),
        ("filter", "-A", "FORWARD", "-o", "nsvtbr0", "-m", "conntrack", "--ctstate",
         "RELATED,ESTABLISHED", "-j", "ACCEPT"),
        ("filter", "-A", "FORWARD", "-o", "nsvtbr0", "-j", "NSVT"),
        ("filter", "-A", "FORWARD", "-i", "nsvtbr0", "-j", "ACCEPT"),
        ("filter", "-A", "NSVT", "-d", "198.18.1.2/32", "!", "-i", "nsvtbr0", "-o", "nsvtbr0",
         "-p", "tcp", "-m", "multiport", "--dports", "80,81", "-j", "ACCEPT"),
        # Left behind by a container that is gone (its address with it).
        ("filter", "-A", "NSVT", "-d", "198.18.1.9/32", "!", "-i", "nsvtbr0", "-o", "nsvtbr0",
         "-p", "tcp", "-m", "tcp", "--dport", "80", "-j", "ACCEPT"),
    ]
    for table, *argv in rules:
        t.sh("host", ipt, "-w", "-t", table, *argv)


def _only(trace, arrival):
    paths = [p for p in trace.paths if p.arrival == arrival]
    assert len(paths) == 1, [(p.arrival, p.summary) for p in trace.paths]
    return paths[0]


@pytest.mark.parametrize("backend", ["iptables-legacy", "iptables-nft", "nftables"])
def test_published_port_from_outside_reaches_the_container(topo, backend):
    docker_like(topo, backend)
    topo.listen("web", "0.0.0.0", 80)
    assert topo.connects("client", "198.18.0.1", 8080)  # the kernel agrees
    snap = topo.snapshot()
    host, web, client = topo.inode("host"), topo.inode("web"), topo.inode("client")

    # Arriving in the host (no --from client): on hc0, the host's address.
    path = _only(Tracer(snap).port(8080, netns=host), "external")
    assert path.verdict == "reaches", path.summary
    assert path.listener.netns == web and path.listener.port == 80
    nat = next(h for h in path.hops if h.kind == "nat")
    assert "198.18.1.2:80" in nat.description and nat.netns == host
    assert backend in nat.evidence
    if backend == "nftables":  # netavark's way: a mark set on the way in, SNAT on it
        masq = [h for h in path.hops if h.kind == "nat" and "MASQUERADE" in h.description]
        assert masq and "nsvt post #2" in masq[0].evidence  # the mark rule, not #1

    # Sent from the client netns to the host's address: the same way in.
    path = _only(Tracer(snap).port(8080, host_ip="198.18.0.1", netns=client), "external")
    assert path.verdict == "reaches", path.summary
    assert [h.netns for h in path.hops if h.kind == "arrive"] == [client, host, web]
    assert path.listener.netns == web and path.listener.pids


def test_loopback_is_served_by_docker_proxy(topo):
    docker_like(topo)
    topo.listen("web", "0.0.0.0", 80)
    # Docker hands docker-proxy a pipe on fd 3 and it closes fd 3 when ready: without one,
    # fd 3 is its own listening socket.
    topo.start("host", "sh", "-c", "exec docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port "
               "8080 -container-ip 198.18.1.2 -container-port 80 3>/dev/null")
    # docker-proxy is listening once it connects us through (no sleep: ask the kernel).
    for _ in range(200):
        if topo.connects("host", "127.0.0.1", 8080):
            break
    else:
        pytest.fail("docker-proxy never listened")
    snap = topo.snapshot()
    trace = Tracer(snap).port(8080, netns=topo.inode("host"))
    path = _only(trace, "loopback")
    assert path.verdict == "reaches", path.summary
    assert not any(h.kind == "nat" and "DNAT" in h.description for h in path.hops)
    first = next(h for h in path.hops if h.kind == "listener")
    assert "docker-proxy" in first.description and first.netns == topo.inode("host")
    assert any(h.kind == "proxy" and "198.18.1.2:80" in h.description for h in path.hops)
    assert path.listener.netns == topo.inode("web")
    external = _only(trace, "external")
    assert external.listener.netns == topo.inode("web")
    assert not any(h.kind == "proxy" for h in external.hops)  # DNAT, not the proxy


def test_dnat_to_a_port_nobody_listens_on(topo):
    docker_like(topo)
    topo.listen("web", "0.0.0.0", 80)
    snap = topo.snapshot()
    path = _only(Tracer(snap).port(8081, netns=topo.inode("host")), "external")
    assert path.verdict == "no-listener", path.summary
    assert "198.18.1.2:81" in path.summary
    assert not topo.connects("client", "198.18.0.1", 8081)


def test_dnat_to_an_address_nobody_owns(topo):
    docker_like(topo)
    snap = topo.snapshot()
    path = _only(Tracer(snap).port(8082, netns=topo.inode("host")), "external")
    assert path.verdict == "no-listener", path.summary
    assert "nobody on bridge nsvtbr0" in path.summary and "198.18.1.9" in path.summary


def test_host_mode_listener(topo):
    docker_like(topo)
    topo.listen("host", "0.0.0.0", 9100)
    snap = topo.snapshot()
    trace = Tracer(snap).port(9100, netns=topo.inode("host"))
    for arrival in ("external", "loopback"):
        path = _only(trace, arrival)
        assert path.verdict == "reaches", path.summary
        assert path.listener.netns == topo.inode("host") and path.listener.pids


def test_containers_on_a_user_defined_bridge_reach_each_other(topo):
    docker_like(topo)
    topo.container("api", "host", "nsvtbr0", "198.18.1.3/24", "198.18.1.1")
    topo.listen("web", "198.18.1.2", 80)
    snap = topo.snapshot()
    path = _only(Tracer(snap).port(80, host_ip="198.18.1.2", netns=topo.inode("api")),
                 "external")
    assert path.verdict == "reaches", path.summary
    # Bridged: the host's L3 (and its FORWARD) is not on the way.
    assert [h.netns for h in path.hops if h.kind == "arrive"] == [topo.inode("api"),
                                                                   topo.inode("web")]
    assert any(h.kind == "link" and "nsvtbr0" in h.description for h in path.hops)
    egress = Tracer(snap).egress(topo.inode("api"), to="198.18.0.2").paths[0]
    assert egress.verdict == "reaches", egress.summary
    assert any(h.kind == "nat" and "MASQUERADE" in h.description for h in egress.hops)


def test_kube_proxy_service_with_two_endpoints(topo):
    topo.ns("node")
    topo.bridge("node", "nsvtcni0", "198.18.2.1/24")
    topo.container("pod-a", "node", "nsvtcni0", "198.18.2.2/24", "198.18.2.1")
    topo.container("pod-b", "node", "nsvtcni0", "198.18.2.3/24", "198.18.2.1")
    topo.listen("pod-a", "0.0.0.0", 8080)
    topo.listen("pod-b", "0.0.0.0", 8080)
    topo.sh("node", "sysctl", "-qw", "net.ipv4.ip_forward=1")
    svc, ep_a, ep_b = "KUBE-SVC-NSVTWEB", "KUBE-SEP-NSVTA", "KUBE-SEP-NSVTB"
    for argv in (
        ["-N", "KUBE-SERVICES"], ["-N", svc], ["-N", ep_a], ["-N", ep_b],
        ["-N", "KUBE-MARK-MASQ"],
        ["-A", "OUTPUT", "-m", "comment", "--comment", "kubernetes service portals", "-j",
         "KUBE-SERVICES"],
        ["-A", "KUBE-SERVICES", "-d", "100.64.0.10/32", "-p", "tcp", "-m", "comment",
         "--comment", "default/web cluster IP", "-m", "tcp", "--dport", "80", "-j", svc],
        ["-A", svc, "-m", "comment", "--comment", "default/web -> 198.18.2.2:8080", "-m",
         "statistic", "--mode", "random", "--probability", "0.50000000000", "-j", ep_a],
        ["-A", svc, "-m", "comment", "--comment", "default/web -> 198.18.2.3:8080", "-j", ep_b],
        ["-A", ep_a, "-s", "198.18.2.2/32", "-j", "KUBE-MARK-MASQ"],
        ["-A", ep_a, "-p", "tcp", "-m", "tcp", "-j", "DNAT", "--to-destination",
         "198.18.2.2:8080"],
        ["-A", ep_b, "-s", "198.18.2.3/32", "-j", "KUBE-MARK-MASQ"],
        ["-A", ep_b, "-p", "tcp", "-m", "tcp", "-j", "DNAT", "--to-destination",
         "198.18.2.3:8080"],
        ["-A", "KUBE-MARK-MASQ", "-j", "MARK", "--set-xmark", "0x4000/0x4000"],
    ):
        topo.sh("node", "iptables-legacy", "-w", "-t", "nat", *argv)
    snap = topo.snapshot()
    trace = Tracer(snap).port(80, host_ip="100.64.0.10", netns=topo.inode("node"))
    assert len(trace.paths) == 2, [p.summary for p in trace.paths]
    assert sorted(p.probability for p in trace.paths) == [0.5, 0.5]
    reached = {p.listener.netns for p in trace.paths if p.verdict == "reaches"}
    assert reached == {topo.inode("pod-a"), topo.inode("pod-b")}
    assert all(any("KUBE-SEP-NSVT" in h.evidence for h in p.hops) for p in trace.paths)


def test_cli_json_and_load(topo, tmp_path):
    docker_like(topo)
    topo.listen("web", "0.0.0.0", 80)
    out = run(nsview_bin(), "trace", "port", "8080", "--from", topo.netns["host"], "--json")
    data = json.loads(out.stdout)
    paths = {p["arrival"]: p for p in data["paths"]}
    assert paths["external"]["verdict"] == "reaches"
    assert paths["external"]["listener"]["netns"] == topo.inode("web")
    snap_file = tmp_path / "snap.json"
    run(nsview_bin(), "dump", "--json", "-o", str(snap_file))
    text = run(nsview_bin(), "trace", "port", "8080", "--from", topo.netns["host"], "--load",
               str(snap_file)).stdout
    assert "REACHES" in text and "198.18.1.2:80" in text
    bad = run(nsview_bin(), "trace", "egress", "nsvt-no-such", "--load", str(snap_file),
              check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_internal_network_egress_is_blocked_by_forward_and_the_trace_names_the_rule(topo):
    docker_like(topo)
    topo.bridge("host", "nsvtbri", "198.18.3.1/24")
    topo.container("int", "host", "nsvtbri", "198.18.3.2/24", "198.18.3.1")
    # Docker's --internal network: DOCKER-ISOLATION-STAGE-1 drops what leaves it.
    for argv in (
        ["-N", "NSVT-ISOLATION"],
        ["-I", "FORWARD", "1", "-j", "NSVT-ISOLATION"],
        ["-A", "NSVT-ISOLATION", "!", "-s", "198.18.3.0/24", "-o", "nsvtbri", "-j", "DROP"],
        ["-A", "NSVT-ISOLATION", "!", "-d", "198.18.3.0/24", "-i", "nsvtbri", "-j", "DROP"],
        ["-A", "NSVT-ISOLATION", "-j", "RETURN"],
    ):
        topo.sh("host", "iptables-legacy", "-w", "-t", "filter", *argv)
    topo.listen("client", "0.0.0.0", 7000)
    assert topo.connects("web", "198.18.0.2", 7000)  # the ordinary bridge gets out
    snap = topo.snapshot()
    path = Tracer(snap).egress(topo.inode("int"), to="198.18.0.2").paths[0]
    assert path.verdict == "blocked", path.summary
    last = path.hops[-1]
    assert last.kind == "filter" and last.netns == topo.inode("host")
    assert "! -d 198.18.3.0/24 -i nsvtbri -j DROP" in last.evidence
    assert "NSVT-ISOLATION" in path.summary
    ok = Tracer(snap).egress(topo.inode("web"), to="198.18.0.2").paths[0]
    assert ok.verdict == "reaches", ok.summary
    assert any("MASQUERADE" in h.description for h in ok.hops)


def test_bridged_traffic_meets_forward_when_br_netfilter_is_on(topo):
    """Docker's --icc=false: containers on one bridge are kept apart by FORWARD,
    which sees bridged frames because bridge-nf-call-iptables is 1."""
    docker_like(topo)
    topo.container("api", "host", "nsvtbr0", "198.18.1.3/24", "198.18.1.1")
    topo.listen("web", "198.18.1.2", 80)
    topo.sh("host", "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")
    assert topo.connects("api", "198.18.1.2", 80)
    snap = topo.snapshot()
    path = _only(Tracer(snap).port(80, host_ip="198.18.1.2", netns=topo.inode("api")),
                 "external")
    assert path.verdict == "reaches", path.summary
    assert any(h.kind == "filter" and "br_netfilter" in h.description for h in path.hops)

    topo.sh("host", "iptables-legacy", "-w", "-I", "FORWARD", "1", "-i", "nsvtbr0", "-o",
            "nsvtbr0", "-j", "REJECT")
    assert not topo.connects("api", "198.18.1.2", 80)
    snap = topo.snapshot()
    path = _only(Tracer(snap).port(80, host_ip="198.18.1.2", netns=topo.inode("api")),
                 "external")
    assert path.verdict == "blocked", path.summary
    assert "-i nsvtbr0 -o nsvtbr0 -j REJECT" in path.hops[-1].evidence
