"""Traces on real engines: Docker 20.10 (tests/docker_daemon.py) — a published
port from outside (DNAT) and from loopback (docker-proxy), an --internal
network blocked by FORWARD, a bridge container's way out; podman 4 with
netavark (rootful: DNAT) and rootless (rootlessport in user space, no rule at
all). The kernel's own connections agree with each verdict.

Each engine lives in a netns of the test's (``nsvt…``); an "outside" netns on a
veth plays the uplink, so nothing reaches the root netns.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

from nsview.analyze.paths import Tracer
from nsview.collect import CollectOptions, collect_snapshot
from tests.conftest import run, unique
from tests.docker_daemon import IMAGE, docker_daemon_fixture

pytestmark = pytest.mark.privileged

LISTEN = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(8); print('ready', flush=True)\n"
    "while True:\n"
    "    c, _ = s.accept(); c.sendall(b'hi'); c.close()\n"
)


@pytest.fixture(scope="module")
def dockerd():
    yield from docker_daemon_fixture()


@contextlib.contextmanager
def uplink(host_netns: str, octet: int) -> Iterator[tuple[str, str, int]]:
    """An "outside" for an engine's netns: a veth to netns ``nsvtou…``
    (198.19.OCTET.2, the engine side .1) with a listener on 7000 there, and the
    engine netns's default route through it. Yields (netns, its address, the
    listener's pid)."""
    name = unique("ou")
    run("ip", "netns", "add", name)
    proc = None
    try:
        a, b = unique("a"), unique("b")
        run("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        run("ip", "link", "set", a, "netns", host_netns)
        run("ip", "link", "set", b, "netns", name)
        run("ip", "-n", host_netns, "addr", "add", f"198.19.{octet}.1/24", "dev", a)
        run("ip", "-n", name, "addr", "add", f"198.19.{octet}.2/24", "dev", b)
        for ns, dev in ((host_netns, a), (name, b), (name, "lo")):
            run("ip", "-n", ns, "link", "set", dev, "up")
        run("ip", "-n", host_netns, "route", "add", "default", "via", f"198.19.{octet}.2")
        run("ip", "-n", name, "route", "add", "default", "via", f"198.19.{octet}.1")
        proc = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, "-c", LISTEN,
                                 "7000"], stdout=subprocess.PIPE, text=True,
                                start_new_session=True)
        assert proc.stdout.readline().strip() == "ready"
        yield name, f"198.19.{octet}.2", proc.pid
    finally:
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
        subprocess.run(["ip", "-n", host_netns, "route", "del", "default"], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture
def outside(dockerd) -> Iterator[tuple[str, str, int]]:
    with uplink(dockerd.netns, 250) as found:
        yield found


def _snapshot(daemon, names, *more):
    """The network of the daemon, these containers and ``more`` pids only."""
    pids = [daemon.inspect(n)["State"]["Pid"] for n in names]
    return collect_snapshot(CollectOptions(net_pids=(*pids, daemon.pid, *more)))


def _only(trace, arrival):
    paths = [p for p in trace.paths if p.arrival == arrival]
    assert len(paths) == 1, [(p.arrival, p.summary) for p in trace.paths]
    return paths[0]


def test_docker_published_port_internal_network_and_egress(dockerd, outside):
    made, nets = [], []
    try:
        internal = unique("in")
        dockerd.docker("network", "create", "--internal", internal)
        nets.append(internal)
        web, iso = unique("web"), unique("iso")
        made += [web, iso]
        dockerd.docker("run", "-d", "--name", web, "-p", "18080:80", IMAGE, "httpd", "-f",
                       "-p", "80")
        dockerd.docker("run", "-d", "--name", iso, "--network", internal, IMAGE, "sleep", "600")
        web_ip = dockerd.inspect(web)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        # The kernel: web gets out to the outside listener; iso does not.
        ok = dockerd.docker("exec", web, "nc", "-w", "5", outside[1], "7000", check=False)
        assert ok == "hi"
        snap = _snapshot(dockerd, made, outside[2])
        host = dockerd.netns_inode()
        t = Tracer(snap)

        trace = t.port(18080, netns=host)
        ext = _only(trace, "external")
        assert ext.verdict == "reaches", ext.summary
        assert ext.listener.container == web and ext.listener.port == 80
        nat = next(h for h in ext.hops if h.kind == "nat" and "DNAT" in h.description)
        assert f"{web_ip}:80" in nat.description and "DOCKER" in nat.evidence
        assert any(h.kind == "filter" and "FORWARD" in h.description and "accepts"
                   in h.description for h in ext.hops)
        loop = _only(trace, "loopback")
        assert loop.verdict == "reaches", loop.summary
        first = next(h for h in loop.hops if h.kind == "listener")
        assert "docker-proxy" in first.description
        assert loop.listener.container == web

        egress = t.egress(snap.process(dockerd.inspect(web)["State"]["Pid"]).ns["net"],
                          to=outside[1], port=7000)
        (path,) = egress.paths
        assert path.verdict == "reaches", path.summary
        assert any(h.kind == "nat" and "MASQUERADE" in h.description for h in path.hops)

        iso_ns = snap.process(dockerd.inspect(iso)["State"]["Pid"]).ns["net"]
        (blocked,) = t.egress(iso_ns, to=outside[1], port=7000).paths
        assert blocked.verdict == "blocked", blocked.summary
        assert "DOCKER-ISOLATION-STAGE-1" in blocked.summary
        assert blocked.hops[-1].kind == "filter" and blocked.hops[-1].netns == host
        assert "-j DROP" in blocked.hops[-1].evidence
        # The kernel agrees: nothing comes back (a DROP: nc gives up after 3 s).
        assert dockerd.docker("exec", iso, "nc", "-w", "3", outside[1], "7000",
                              check=False) != "hi"
    finally:
        if made:
            dockerd.docker("rm", "-f", *made, check=False)
        for net in nets:
            dockerd.docker("network", "rm", net, check=False)


def _netns_inode(name: str) -> int:
    import os

    return os.stat(f"/run/netns/{name}").st_ino


def test_podman_netavark_published_port():
    from tests.real_engines import IMAGE as PODMAN_IMAGE
    from tests.real_engines import rootful_podman

    with rootful_podman() as podman:
        net = podman.network()
        web = unique("web")
        podman("run", "-d", "--name", web, "--network", net, "-p", "18080:80", PODMAN_IMAGE,
               "httpd", "-f", "-p", "80")
        pid = podman.pid(web)
        host = _netns_inode(podman.netns)
        with uplink(podman.netns, 251) as (client, _addr, client_pid):
            assert _connects(client, "198.19.251.1", 18080)  # the kernel agrees
            client_ns = _netns_inode(client)
            pids = (pid, client_pid, *_pids_in(podman.netns))
            snap = collect_snapshot(CollectOptions(net_pids=pids))
        trace = Tracer(snap).port(18080, netns=host)
        ext = _only(trace, "external")
        assert ext.verdict == "reaches", ext.summary
        assert ext.listener.container == web
        nat = next(h for h in ext.hops if h.kind == "nat" and "DNAT" in h.description)
        assert "NETAVARK" in nat.evidence or "netavark" in nat.evidence, nat.evidence
        sent = Tracer(snap).port(18080, host_ip="198.19.251.1", netns=client_ns)
        assert _only(sent, "external").listener.container == web


def test_rootless_podman_port_goes_through_rootlessport():
    from tests.real_engines import IMAGE as PODMAN_IMAGE
    from tests.real_engines import rootless_podman

    with rootless_podman() as podman:
        name = unique("rl")
        podman("run", "-d", "--name", name, "-p", "18081:80", PODMAN_IMAGE, "httpd", "-f",
               "-p", "80")
        pid = podman.pid(name)
        host = _netns_inode(podman.netns)
        with uplink(podman.netns, 252) as (client, _addr, client_pid):
            assert _connects(client, "198.19.252.1", 18081)  # the kernel agrees
            snap = collect_snapshot(CollectOptions(net_pids=(pid, client_pid,
                                                             *_pids_in(podman.netns))))
        trace = Tracer(snap).port(18081, netns=host)
        for arrival in ("external", "loopback"):
            path = _only(trace, arrival)
            assert path.verdict == "reaches", path.summary
            assert not any(h.kind == "nat" for h in path.hops)  # no rule at all
            proxy = next(h for h in path.hops if h.kind == "proxy")
            assert "rootlessport" in proxy.description and name in proxy.description
            assert path.listener.container == name and path.listener.port == 80


def _connects(netns: str, addr: str, port: int) -> bool:
    code = ("import socket,sys\n"
            "c=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)\n"
            "c.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print(c.recv(12).decode())\n")
    r = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", code, addr,
                        str(port)], capture_output=True, text=True)
    return r.returncode == 0 and r.stdout.startswith("HTTP/")


def _pids_in(netns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]
