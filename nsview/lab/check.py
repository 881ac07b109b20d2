"""``nsview lab check``: probe every lab path with real traffic.

Each probe runs ``_probe.py`` inside the client's network namespace (``nsenter
--net=/proc/PID/ns/net``) and reports whether the peer answered; a check passes
when that matches what the topology promises (reachable, or blocked/isolated).
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nsview.errors import NsviewError
from nsview.lab import system as sysx
from nsview.lab import topology as topo
from nsview.lab.state import StateFile

PROBE = str(Path(__file__).with_name("_probe.py"))


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One probed path. ``ok`` is the verdict; ``answered`` what the traffic did."""

    name: str
    path: str  # what was probed, in words: client → target
    expect: str  # "reach" or "blocked"
    ok: bool
    answered: bool
    detail: str

    def to_dict(self) -> dict:
        return {"name": self.name, "path": self.path, "expect": self.expect, "ok": self.ok,
                "answered": self.answered, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class _Probe:
    name: str
    path: str
    client: str  # a container name, "ns:host1"/"ns:host2", "bind-only" or "fd-only"
    request: dict
    expect: str = "reach"
    # for "blocked": how it must fail (a DROP times out, a missing route is
    # unreachable), so a probe broken for another reason does not pass
    fail_reason: str = ""


WEB = "nsvlab web (nginx)"
CHECKS: tuple[_Probe, ...] = (
    _Probe("bridge-hairpin", "cache (docker0) → 172.17.0.1:8080 → DNAT → web:80",
           "cache", {"kind": "http", "host": topo.DOCKER0_GW, "port": topo.PUBLISHED_PORT,
                     "expect": WEB}),
    _Probe("host-mode-published", "metrics (host mode) → 172.17.0.1:8080 via nat OUTPUT → web",
           "metrics", {"kind": "http", "host": topo.DOCKER0_GW, "port": topo.PUBLISHED_PORT,
                       "expect": WEB}),
    _Probe("published-port-external", "host2 → host1 198.51.100.1:8080 via nat PREROUTING → web",
           "ns:host2", {"kind": "http", "host": topo.HOST1.underlay_ip,
                        "port": topo.PUBLISHED_PORT, "expect": WEB}),
    _Probe("bridge-direct", "cache → web 172.17.0.2:80 across docker0",
           "cache", {"kind": "http", "host": "172.17.0.2", "port": 80, "expect": WEB}),
    _Probe("container-mode", "web-logs → 127.0.0.1:80 in web's shared netns",
           "web-logs", {"kind": "http", "host": "127.0.0.1", "port": 80, "expect": WEB}),
    _Probe("user-bridge", "api → db 172.18.0.3:5432 on the user-defined bridge",
           "api", {"kind": "tcp", "host": "172.18.0.3", "port": 5432}),
    _Probe("isolation-user-to-docker0", "api (user bridge) ↛ cache 172.17.0.3:6379",
           "api", {"kind": "tcp", "host": "172.17.0.3", "port": 6379, "timeout": 1},
           "blocked", "timed out"),
    _Probe("isolation-docker0-to-user", "cache (docker0) ↛ db 172.18.0.3:5432",
           "cache", {"kind": "tcp", "host": "172.18.0.3", "port": 5432, "timeout": 1},
           "blocked", "timed out"),
    _Probe("none-mode", "batch (none) ↛ 172.17.0.1:8080: only lo, no route",
           "batch", {"kind": "tcp", "host": topo.DOCKER0_GW, "port": topo.PUBLISHED_PORT,
                     "timeout": 1}, "blocked", "unreachable"),
    _Probe("overlay-icmp-mtu", "frontend (host1) → backend (host2) over vxlan, 1450-byte "
           "packet with DF", "frontend",
           {"kind": "icmp", "host": "100.64.10.3", "size": topo.OVERLAY_MTU - 28,
            "dont_fragment": True}),
    _Probe("overlay-http", "backend (host2) → frontend 100.64.10.2:80 over vxlan",
           "backend", {"kind": "http", "host": "100.64.10.2", "port": 80,
                       "expect": "nsvlab frontend"}),
    _Probe("overlay-egress-nat", "frontend → host2 kubelet 198.51.100.2:10250 via eth1, "
           "docker_gwbridge and MASQUERADE", "frontend",
           {"kind": "tcp", "host": topo.HOST2.underlay_ip, "port": 10250}),
    _Probe("macvlan-out", "sensor (macvlan on host1 eth0) → host2 198.51.100.2",
           "sensor", {"kind": "icmp", "host": topo.HOST2.underlay_ip}),
    _Probe("macvlan-in", "host2 → sensor 198.51.100.50:1883 on the physical segment",
           "ns:host2", {"kind": "tcp", "host": topo.MACVLAN_IP, "port": 1883}),
    _Probe("pod-localhost", "pod envoy → 127.0.0.1:80 (nginx) in the pause netns",
           "pod-envoy", {"kind": "http", "host": "127.0.0.1", "port": 80,
                         "expect": "nsvlab pod-nginx"}),
    _Probe("pod-ip", "host2 (node) → pod 100.96.1.2:80 over cni0",
           "ns:host2", {"kind": "http", "host": topo.POD_IP, "port": 80,
                        "expect": "nsvlab pod-nginx"}),
    _Probe("no-uplink", "host1 ↛ 203.0.113.1: the lab has no route off the machine",
           "ns:host1", {"kind": "tcp", "host": "203.0.113.1", "port": 80, "timeout": 1},
           "blocked", "unreachable"),
    _Probe("bind-only-netns", "inside the bind-mount-only netns → its own 192.0.2.66",
           "bind-only", {"kind": "icmp", "host": topo.BIND_ONLY_ADDR}),
    _Probe("fd-only-netns", "inside the fd-only netns (via dockerd's fd) → its own 192.0.2.77",
           "fd-only", {"kind": "icmp", "host": topo.FD_ONLY_ADDR}),
)


def _client_netns(st: StateFile, client: str) -> str:
    if client.startswith("ns:"):
        return sysx.named_netns(topo.host(client[3:]).netns)
    if client == "bind-only":
        return st.data["bind_only_netns"]["path"]
    if client == "fd-only":
        fd = st.data["fd_only_netns"]
        return f"/proc/{fd['pid']}/fd/{fd['fd']}"
    info = st.data["containers"][client]
    if not sysx.alive(info["pid"], info.get("start")):
        raise NsviewError(f"lab container '{client}' (pid {info['pid']}) is gone")
    return f"/proc/{info['pid']}/ns/net"


def _run(st: StateFile, probe: _Probe) -> CheckResult:
    try:
        nspath = _client_netns(st, probe.client)
        argv = sysx.in_netns(nspath, sys.executable, "-I", PROBE, json.dumps(probe.request))
        proc = sysx.run(argv, check=False, timeout=20)
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        answered, detail = bool(out["ok"]), str(out["detail"])
    except (NsviewError, KeyError, ValueError, IndexError) as exc:
        return CheckResult(probe.name, probe.path, probe.expect, False, False,
                           f"probe could not run: {exc}")
    if probe.expect == "reach":
        ok = answered
    else:
        ok = not answered and probe.fail_reason.lower() in detail.lower()
    return CheckResult(probe.name, probe.path, probe.expect, ok, answered, detail)


def run_checks(st: StateFile) -> list[CheckResult]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda p: _run(st, p), CHECKS))
