"""nsview doctor on a real Docker 20.10 host (tests/docker_daemon.py): quiet when healthy.

Every network mode at once — a published port on the default bridge, a
user-defined network, an --internal one, host, none and container:… — and
no finding at warning or above about the daemon's netns or its containers'.
Then one real fault (the container's IP changed behind Docker's back) is found.
"""

from __future__ import annotations

import pytest

from nsview.analyze.doctor import at_or_above, run_doctor
from nsview.collect import CollectOptions, collect_snapshot
from tests.conftest import unique
from tests.docker_daemon import IMAGE, docker_daemon_fixture

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def dockerd():
    yield from docker_daemon_fixture()


def _ours(snap, daemon, names):
    pids = {daemon.pid} | {daemon.inspect(n)["State"]["Pid"] for n in names}
    inodes = {daemon.netns_inode()}
    for p in snap.processes:
        if p.pid in pids and "net" in p.ns:
            inodes.add(p.ns["net"])
    return inodes


def _findings(daemon, names, severity="warning"):
    pids = [daemon.inspect(n)["State"]["Pid"] for n in names]
    snap = collect_snapshot(CollectOptions(net=True, net_pids=(*pids, daemon.pid),
                                           conntrack=True))
    inodes = _ours(snap, daemon, names)
    ids = {daemon.inspect(n)["Id"] for n in names}
    report = run_doctor(snap)
    assert not report.failed, report.failed
    names_ = set(names)
    return [f for f in at_or_above(report.findings, severity)
            if any(s.netns in inodes or s.container in names_ or s.container in ids
                   for s in f.subjects)]


def test_a_healthy_docker_host_is_quiet(dockerd):
    made, nets = [], []
    try:
        appnet, internal = unique("an"), unique("in")
        dockerd.docker("network", "create", appnet)
        dockerd.docker("network", "create", "--internal", internal)
        nets += [appnet, internal]
        web, api, iso, host, none, join = (unique(s) for s in
                                           ("web", "api", "iso", "host", "none", "join"))
        made += [web, api, iso, host, none, join]
        dockerd.docker("run", "-d", "--name", web, "-p", "18080:80", IMAGE, "httpd", "-f",
                       "-p", "80")
        dockerd.docker("run", "-d", "--name", api, "--network", appnet, IMAGE, "sleep", "600")
        dockerd.docker("run", "-d", "--name", iso, "--network", internal, IMAGE, "sleep", "600")
        dockerd.docker("run", "-d", "--name", host, "--network", "host", IMAGE, "sleep", "600")
        dockerd.docker("run", "-d", "--name", none, "--network", "none", IMAGE, "sleep", "600")
        dockerd.docker("run", "-d", "--name", join, "--network", f"container:{web}", IMAGE,
                       "sleep", "600")
        found = _findings(dockerd, made)
        assert found == [], "\n".join(f"{f.check}: {f.message}" for f in found)

        # A real fault: the container's address changed behind the engine's back.
        pid = dockerd.inspect(api)["State"]["Pid"]
        ip = dockerd.inspect(api)["NetworkSettings"]["Networks"][appnet]["IPAddress"]
        from tests.conftest import run

        run("nsenter", "-t", str(pid), "-n", "ip", "addr", "flush", "dev", "eth0")
        found = _findings(dockerd, made)
        assert [f.check for f in found if ip in f.message] == ["container-state-mismatch"], \
            [f.message for f in found]
    finally:
        if made:
            dockerd.docker("rm", "-f", *made, check=False)
        for net in nets:
            dockerd.docker("network", "rm", net, check=False)


def test_a_healthy_podman_host_is_quiet():
    """podman 4 + netavark: a bridge with a published port, a pod, host/none/container:."""
    import os

    from tests.real_engines import IMAGE as PODMAN_IMAGE
    from tests.real_engines import rootful_podman

    with rootful_podman() as podman:
        net = podman.network()
        n = {k: unique(k) for k in ("web", "pod", "app", "join", "host", "none")}
        podman("run", "-d", "--name", n["web"], "--network", net, "-p", "18080:80", PODMAN_IMAGE,
               "httpd", "-f", "-p", "80")
        podman("pod", "create", "--name", n["pod"], "--network", net, "--infra-image", PODMAN_IMAGE,
               "--infra-command", "sleep infinity")
        podman("run", "-d", "--pod", n["pod"], "--name", n["app"], PODMAN_IMAGE, "sleep", "600")
        podman("run", "-d", "--name", n["join"], "--network", f"container:{n['web']}", PODMAN_IMAGE,
               "sleep", "600")
        podman("run", "-d", "--name", n["host"], "--network", "host", PODMAN_IMAGE, "sleep", "600")
        podman("run", "-d", "--name", n["none"], "--network", "none", PODMAN_IMAGE, "sleep", "600")
        names = [n[k] for k in ("web", "app", "join", "host", "none")]
        pids = [podman.pid(name) for name in names]
        snap = collect_snapshot(CollectOptions(net=True, net_pids=tuple(pids), conntrack=True))
        inodes = {os.stat(f"/run/netns/{podman.netns}").st_ino}
        inodes |= {snap.process(p).ns["net"] for p in pids if snap.process(p)}
        report = run_doctor(snap)
        assert not report.failed, report.failed
        found = [f for f in at_or_above(report.findings, "warning")
                 if any(s.netns in inodes or s.container in names for s in f.subjects)]
        assert found == [], "\n".join(f"{f.check}: {f.message} {f.evidence}" for f in found)
