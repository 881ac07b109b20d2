"""Traces on the lab agree with ``lab check``'s real traffic: every path the lab
probes is traced from one snapshot, and the verdict is the probe's outcome."""

from __future__ import annotations

import pytest

from nsview.analyze.paths import Tracer

pytestmark = pytest.mark.privileged


def _netns(snap, name: str) -> int:
    return next(ns.inode for ns in snap.namespaces if ns.type == "net" and name in ns.names)


def test_lab_paths_match_lab_check(running_lab):
    from nsview.collect import CollectOptions, collect_snapshot

    lab = running_lab
    snap = collect_snapshot(CollectOptions())
    t = Tracer(snap)

    def c(name: str) -> int:
        proc = next(p for p in snap.processes if p.pid == lab.container(name).pid)
        return proc.ns["net"]

    host1, host2 = _netns(snap, "nsvlab-host1"), _netns(snap, "nsvlab-host2")
    web = c("web")
    reaches = {
        "bridge-hairpin": (t.port(8080, host_ip="172.17.0.1", netns=c("cache")), web),
        "host-mode-published": (t.port(8080, host_ip="172.17.0.1", netns=host1), web),
        "published-port-external": (t.port(8080, host_ip="198.51.100.1", netns=host2), web),
        "bridge-direct": (t.port(80, host_ip="172.17.0.2", netns=c("cache")), web),
        "container-mode": (t.port(80, host_ip="127.0.0.1", netns=c("web-logs")), web),
        "user-bridge": (t.port(5432, host_ip="172.18.0.3", netns=c("api")), c("db")),
        "overlay-http": (t.port(80, host_ip="100.64.10.2", netns=c("backend")), c("frontend")),
        "overlay-egress-nat": (t.port(10250, host_ip="198.51.100.2", netns=c("frontend")),
                               host2),
        "macvlan-in": (t.port(1883, host_ip="198.51.100.50", netns=host2), c("sensor")),
        "pod-ip": (t.port(80, host_ip="100.96.1.2", netns=host2), c("pod-nginx")),
    }
    for name, (trace, where) in reaches.items():
        for path in trace.paths:
            assert path.verdict == "reaches", (name, path.summary)
            assert path.listener.netns == where, (name, path.summary)
    blocked = {
        "isolation-user-to-docker0": t.egress(c("api"), to="172.17.0.3", port=6379),
        "isolation-docker0-to-user": t.egress(c("cache"), to="172.18.0.3", port=5432),
        "none-mode": t.egress(c("batch"), to="172.17.0.1"),
        "no-uplink": t.egress(host1),
    }
    for name, trace in blocked.items():
        (path,) = trace.paths
        assert path.verdict == "blocked", (name, path.summary)
    # Every hop names the container it is in; the listener says whose it is.
    published = reaches["published-port-external"][0].paths[0]
    assert published.listener.container == "web"
    assert "reaches nginx" in published.summary and published.summary.endswith("in web")
    pod = reaches["pod-ip"][0].paths[0]
    assert pod.summary.endswith("in pod default/web-7f9c6d5b8-x2k4q"), pod.summary
    iso = blocked["isolation-user-to-docker0"].paths[0]
    assert "DOCKER-ISOLATION-STAGE-2" in iso.summary and iso.hops[-1].kind == "filter"
    assert "no route" in blocked["none-mode"].paths[0].summary
    # The published port from host1 itself: DNATed in OUTPUT, not by a proxy.
    (local,) = [p for p in reaches["host-mode-published"][0].paths if p.arrival == "loopback"]
    assert any(h.kind == "nat" and h.description.startswith("OUTPUT") for h in local.hops)
