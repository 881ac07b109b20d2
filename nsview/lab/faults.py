"""Planted faults: ``nsview lab break FAULT`` / ``nsview lab fix FAULT``.

Each fault breaks one thing in the running lab the way it breaks on real
hosts, so that the ``nsview doctor`` check of the same name has something to
find, and undoes it again. Faults change only lab namespaces (or make new
``nsvlab-`` ones, which ``lab down`` sweeps); the planted set is recorded in
the lab's state file (``faults``), so ``lab status`` lists it and ``lab down``
needs nothing special.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from nsview.errors import NsviewError, UsageError
from nsview.lab import system as sysx
from nsview.lab import topology as topo
from nsview.lab.state import StateFile, lab_lock

LEAK_NETNS = f"{topo.PREFIX}-leak"
LEAK_VETH = "vethleak0"
LEAK_IP = "172.17.0.9"
DANGLE_NETNS = f"{topo.PREFIX}-dangle"
DANGLE_VETH = "vethdangle0"
UNOWNED_DNAT = ("8081", "172.17.0.99:80")
NO_LISTENER_DNAT = ("8082", "172.17.0.3:6380")  # cache listens on 6379
EMPTY_TABLE = ("100", "100")  # priority, table
SPLIT_BRAIN_RULE = ["POSTROUTING", "-s", topo.POD_SUBNET, "-d", "203.0.113.0/24",
                    "-j", "MASQUERADE"]


class Lab:
    """Paths into the running lab that the faults need."""

    def __init__(self, st: StateFile) -> None:
        self.st = st

    def host(self, key: str) -> str:
        return sysx.named_netns(topo.host(key).netns)

    def container(self, name: str) -> str:
        info = self.st.data.get("containers", {}).get(name)
        if not info or not sysx.alive(info.get("pid"), info.get("start")):
            raise NsviewError(f"lab: container '{name}' is not running; run 'nsview lab up'")
        return f"/proc/{info['pid']}/ns/net"

    def overlay(self, key: str) -> str:
        return f"{topo.DOCKER_NETNS_DIR}/{topo.OVERLAY_NETNS[key]}"

    def veth(self, container: str) -> str:
        from nsview.lab.up import _veth_name

        return _veth_name(container)

    def run(self, nspath: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return sysx.run(sysx.in_netns(nspath, *argv), check=check)


@dataclass(frozen=True, slots=True)
class Fault:
    name: str
    check: str  # the doctor check that finds it
    summary: str
    plant: Callable[[Lab], dict | None]  # returns what fix needs (saved in the state file)
    undo: Callable[[Lab, dict], None]


def _sysctl(ns: Callable[[Lab], str], key: str, bad: str, good: str):
    def plant(lab: Lab):
        lab.run(ns(lab), "sysctl", "-q", "-w", f"{key}={bad}")

    def undo(lab: Lab, _info):
        lab.run(ns(lab), "sysctl", "-q", "-w", f"{key}={good}")

    return plant, undo


def _link(ns: Callable[[Lab], str], dev: Callable[[Lab], str], bad: list[str], good: list[str]):
    def plant(lab: Lab):
        lab.run(ns(lab), "ip", "link", "set", dev(lab), *bad)

    def undo(lab: Lab, _info):
        lab.run(ns(lab), "ip", "link", "set", dev(lab), *good)

    return plant, undo


def _host1(lab: Lab) -> str:
    return lab.host("host1")


def _iptables(ns, table: str, spec: list[str]):
    def plant(lab: Lab):
        lab.run(ns(lab), "iptables", "-w", "-t", table, "-A", *spec)

    def undo(lab: Lab, _info):
        lab.run(ns(lab), "iptables", "-w", "-t", table, "-D", *spec, check=False)

    return plant, undo


def _dnat(port: str, to: str) -> list[str]:
    return ["DOCKER", "-p", "tcp", "-m", "tcp", "--dport", port, "-j", "DNAT",
            "--to-destination", to]


def _plant_rule_empty(lab: Lab):
    prio, table = EMPTY_TABLE
    lab.run(lab.container("web"), "ip", "rule", "add", "from", topo.container("web").ip,
            "lookup", table, "priority", prio)


def _undo_rule_empty(lab: Lab, _info):
    lab.run(lab.container("web"), "ip", "rule", "del", "priority", EMPTY_TABLE[0], check=False)


def _plant_default_gone(lab: Lab):
    lab.run(lab.container("web"), "ip", "route", "del", "default")


def _undo_default_gone(lab: Lab, _info):
    lab.run(lab.container("web"), "ip", "route", "replace", "default", "via", topo.DOCKER0_GW)


def _plant_bad_gateway(lab: Lab):
    lab.run(lab.container("api"), "ip", "route", "replace", "default", "via", "172.18.0.254")


def _undo_bad_gateway(lab: Lab, _info):
    lab.run(lab.container("api"), "ip", "route", "replace", "default", "via", topo.USER_GW)


def _plant_duplicate(lab: Lab):
    lab.run(lab.container("cache"), "ip", "addr", "add", f"{topo.container('web').ip}/16",
            "dev", "eth0")


def _undo_duplicate(lab: Lab, _info):
    lab.run(lab.container("cache"), "ip", "addr", "del", f"{topo.container('web').ip}/16",
            "dev", "eth0", check=False)


def _plant_port_mtu(lab: Lab):
    lab.run(_host1(lab), "ip", "link", "set", lab.veth("db"), "mtu", "1400")
    lab.run(lab.container("db"), "ip", "link", "set", "eth0", "mtu", "1400")


def _undo_port_mtu(lab: Lab, _info):
    lab.run(lab.container("db"), "ip", "link", "set", "eth0", "mtu", "1500")
    lab.run(_host1(lab), "ip", "link", "set", lab.veth("db"), "mtu", "1500")


def _plant_underlay_mtu(lab: Lab):
    # The kernel refuses a vxlan MTU above its lower device's minus 50, so the fault
    # comes as it does on real hosts: the underlay shrinks under an existing vxlan.
    for key in ("host1", "host2"):
        lab.run(lab.host(key), "ip", "link", "set", "eth0", "mtu", "1480")


def _undo_underlay_mtu(lab: Lab, _info):
    for key in ("host1", "host2"):
        lab.run(lab.host(key), "ip", "link", "set", "eth0", "mtu", "1500")
    # the macvlan on host1's eth0 followed it down; it does not follow it back up
    lab.run(lab.container("sensor"), "ip", "link", "set", "eth0", "mtu", "1500", check=False)


def _plant_leak(lab: Lab):
    """A container's netns that outlived its process: named, still on docker0."""
    path = sysx.named_netns(LEAK_NETNS)
    sysx.run(["ip", "netns", "add", LEAK_NETNS])
    lab.run(_host1(lab), "ip", "link", "add", LEAK_VETH, "type", "veth", "peer", "name", "eth0",
            "netns", path)
    lab.run(_host1(lab), "ip", "link", "set", LEAK_VETH, "master", topo.DOCKER0, "up")
    lab.run(path, "ip", "addr", "add", f"{LEAK_IP}/16", "dev", "eth0")
    lab.run(path, "ip", "link", "set", "eth0", "up")


def _undo_leak(lab: Lab, _info):
    # the veth goes with the namespace
    sysx.run(["ip", "netns", "del", LEAK_NETNS], check=False)


_HOLDER = """
import ctypes, os, signal, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
own = os.open("/proc/self/ns/net", os.O_RDONLY)
fd = os.open(sys.argv[1], os.O_RDONLY)
assert libc.setns(fd, 0x40000000) == 0
keep = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the netns's only holder
assert libc.setns(own, 0x40000000) == 0
os.close(fd)
os.close(own)
if os.fork():
    os._exit(0)
os.setsid()
print(os.getpid(), flush=True)
os.close(1)
while True:
    signal.pause()
"""


def _spawn(lab: Lab, code: str, *args: str, netns: str | None = None) -> dict:
    """Start a lab daemon running ``code`` (it forks, prints its pid, closes stdout):
    marked as a lab process, so ``lab down`` ends it with the rest."""
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           topo.ENV_MARKER: lab.st.data.get("lab_id", "fault")}
    argv = [sys.executable, "-I", "-c", code, *args]
    if netns is not None:
        argv = sysx.in_netns(netns, *argv)
    with open(topo.LOG_FILE, "a") as log:  # the daemon keeps its stderr: not a pipe
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=log, text=True, env=env,
                              timeout=30, stdin=subprocess.DEVNULL)
    words = proc.stdout.split()
    if proc.returncode != 0 or not words or not all(w.isdigit() for w in words):
        raise NsviewError(f"lab: a fault's helper process did not start; see {topo.LOG_FILE}")
    pid = int(words[0])
    return {"pid": pid, "start": sysx.start_time(pid), "more": [int(w) for w in words[1:]]}


def _end(info: dict) -> None:
    """SIGKILL a daemon from :func:`_spawn` and wait until it (and the zombies it left,
    which PID 1 then reaps) are gone from /proc."""
    import signal

    pid = info.get("pid")
    if pid and sysx.alive(pid, info.get("start")):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all(sysx.proc_state(p, info.get("start") if p == pid else None) is None
               for p in [pid, *info.get("more", [])] if p):
            return
        time.sleep(0.05)


def _plant_dangling(lab: Lab) -> dict:
    """A veth whose far end is in a netns kept alive by nothing but a socket."""
    path = sysx.named_netns(DANGLE_NETNS)
    sysx.run(["ip", "netns", "add", DANGLE_NETNS])
    lab.run(_host1(lab), "ip", "link", "add", DANGLE_VETH, "type", "veth", "peer", "name",
            "eth0", "netns", path)
    lab.run(_host1(lab), "ip", "link", "set", DANGLE_VETH, "up")
    try:
        info = _spawn(lab, _HOLDER, path)
    except NsviewError:
        sysx.run(["ip", "netns", "del", DANGLE_NETNS], check=False)
        raise
    sysx.run(["ip", "netns", "del", DANGLE_NETNS])  # now only the socket holds it
    if not sysx.alive(info["pid"], None):
        raise NsviewError(f"lab: the socket holder (pid {info['pid']}) exited; "
                          f"see {topo.LOG_FILE}")
    return info


def _undo_dangling(lab: Lab, info: dict):
    _end(info)
    sysx.run(["ip", "netns", "del", DANGLE_NETNS], check=False)
    # The netns (and with it the veth) goes once the kernel frees the socket.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if lab.run(_host1(lab), "ip", "link", "show", DANGLE_VETH, check=False).returncode:
            return
        time.sleep(0.05)
    lab.run(_host1(lab), "ip", "link", "del", DANGLE_VETH, check=False)


_ZOMBIE = """
import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
if os.fork():
    os._exit(0)
os.setsid()
assert libc.unshare(0x20000000) == 0  # CLONE_NEWPID: the next child is pid 1 of a new one
child = os.fork()
if child == 0:
    os._exit(0)  # gone at once, never reaped: a zombie holding its pid namespace
print(os.getpid(), child, flush=True)
os.close(1)
while True:
    signal.pause()
"""

_UNANSWERED = """
import os, socket, sys, time
if os.fork():
    os._exit(0)
os.setsid()
print(os.getpid(), flush=True)
os.close(1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
while True:
    s.sendto(b"nsvlab", (sys.argv[1], 53))
    time.sleep(0.5)
"""
UNANSWERED_IP = "198.51.100.99"  # the underlay (FORWARD lets docker0 out there); nobody has it


def _plant_zombie(lab: Lab) -> dict:
    return _spawn(lab, _ZOMBIE)


def _plant_unanswered(lab: Lab) -> dict:
    """web sends to an address on host1's underlay subnet that nobody has: host1's
    conntrack keeps the flow UNREPLIED."""
    return _spawn(lab, _UNANSWERED, UNANSWERED_IP, netns=lab.container("web"))


def _undo_spawned(lab: Lab, info: dict):
    _end(info)


def _undo_unanswered(lab: Lab, info: dict):
    """Stop the sender, then wait for host1's conntrack to let the flow expire (the
    kernel's UDP timeout, 30 s unreplied): fixed means doctor no longer sees it."""
    _end(info)
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        table = lab.run(_host1(lab), "cat", "/proc/net/nf_conntrack", check=False).stdout
        if f"dst={UNANSWERED_IP} " not in table:
            return
        time.sleep(0.5)


def _split_brain():
    def plant(lab: Lab):
        lab.run(lab.host("host2"), "iptables-legacy", "-w", "-t", "nat", "-A", *SPLIT_BRAIN_RULE)

    def undo(lab: Lab, _info):
        lab.run(lab.host("host2"), "iptables-legacy", "-w", "-t", "nat", "-D",
                *SPLIT_BRAIN_RULE, check=False)

    return plant, undo


def _web_accept() -> list[str]:
    web = topo.container("web")
    return ["DOCKER", "-d", f"{web.ip}/32", "!", "-i", topo.DOCKER0, "-o", topo.DOCKER0, "-p",
            "tcp", "-m", "tcp", "--dport", str(web.port), "-j", "ACCEPT"]


def _forward_drop():
    def plant(lab: Lab):
        lab.run(_host1(lab), "iptables", "-w", "-t", "filter", "-D", *_web_accept())

    def undo(lab: Lab, _info):
        lab.run(_host1(lab), "iptables", "-w", "-t", "filter", "-A", *_web_accept())

    return plant, undo


def _masquerade_gone():
    spec = ["POSTROUTING", "-s", topo.USER_SUBNET, "!", "-o", topo.USER_BRIDGE, "-j",
            "MASQUERADE"]

    def plant(lab: Lab):
        lab.run(_host1(lab), "iptables", "-w", "-t", "nat", "-D", *spec)

    def undo(lab: Lab, _info):
        lab.run(_host1(lab), "iptables", "-w", "-t", "nat", "-I", spec[0], "2", *spec[1:])

    return plant, undo


STALE_IP = "172.17.0.42"


def _web_config(lab: Lab) -> str:
    cid = lab.st.data["containers"]["web"]["id"]
    return f"{topo.DOCKER_ROOT}/containers/{cid}/config.v2.json"


def _set_web_ip(lab: Lab, ip: str) -> str:
    """Rewrite the IP Docker's state records for web; return the one it had."""
    import json

    path = _web_config(lab)
    try:
        with open(path) as f:
            config = json.load(f)
    except OSError as exc:
        raise NsviewError(f"lab: no Docker state for web ({path}: {exc.strerror})") from None
    net = config["NetworkSettings"]["Networks"]["bridge"]
    old, net["IPAddress"] = net["IPAddress"], ip
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(config, f)
    os.replace(tmp, path)
    return old


def _plant_stale_state(lab: Lab) -> dict:
    return {"ip": _set_web_ip(lab, STALE_IP)}


def _undo_stale_state(lab: Lab, info: dict):
    _set_web_ip(lab, info.get("ip") or topo.container("web").ip)


def _fault(name, check, summary, pair) -> Fault:
    plant, undo = pair
    return Fault(name, check, summary, plant, undo)


FAULTS: tuple[Fault, ...] = (
    _fault("veth-peer-down", "veth-peer-down", "cache's host-side veth set down",
           _link(_host1, lambda lab: lab.veth("cache"), ["down"], ["up"])),
    _fault("veth-dangling", "veth-dangling",
           f"{DANGLE_VETH} on host1, its peer in a netns only a socket holds",
           (_plant_dangling, _undo_dangling)),
    _fault("veth-mtu-mismatch", "veth-mtu-mismatch", "web's eth0 MTU 1400 (its peer 1500)",
           _link(lambda lab: lab.container("web"), lambda lab: "eth0", ["mtu", "1400"],
                 ["mtu", "1500"])),
    _fault("bridge-port-mtu-mismatch", "bridge-port-mtu-mismatch",
           "db's veth pair MTU 1400 on a 1500 bridge", (_plant_port_mtu, _undo_port_mtu)),
    _fault("vxlan-mtu-overhead", "vxlan-mtu-overhead",
           "the underlay (both eth0) shrunk to MTU 1480 under the overlay's 1450 vxlan0",
           (_plant_underlay_mtu, _undo_underlay_mtu)),
    _fault("bridge-port-not-forwarding", "bridge-port-not-forwarding",
           "api's bridge port set to the disabled state",
           (lambda lab: lab.run(_host1(lab), "bridge", "link", "set", "dev", lab.veth("api"),
                                "state", "0"),
            lambda lab, _i: lab.run(_host1(lab), "bridge", "link", "set", "dev",
                                    lab.veth("api"), "state", "3"))),
    _fault("netns-link-down", "netns-link-down", "sensor's only link (macvlan eth0) set down",
           _link(lambda lab: lab.container("sensor"), lambda lab: "eth0", ["down"], ["up"])),
    _fault("duplicate-ipv4", "duplicate-ipv4", "cache also takes web's 172.17.0.2",
           (_plant_duplicate, _undo_duplicate)),
    _fault("no-default-route", "no-default-route", "web's default route deleted",
           (_plant_default_gone, _undo_default_gone)),
    _fault("gateway-unreachable", "gateway-unreachable", "api's default via 172.18.0.254",
           (_plant_bad_gateway, _undo_bad_gateway)),
    _fault("route-via-down-interface", "route-via-down-interface",
           "db's host-side veth down: db's routes lose their carrier",
           _link(_host1, lambda lab: lab.veth("db"), ["down"], ["up"])),
    _fault("rp-filter-asymmetric", "rp-filter-asymmetric",
           "strict rp_filter on frontend's overlay eth0 (default route leaves by eth1)",
           _sysctl(lambda lab: lab.container("frontend"), "net.ipv4.conf.eth0.rp_filter",
                   "1", "0")),
    _fault("rule-empty-table", "rule-empty-table", "web: 'from 172.17.0.2 lookup 100', empty",
           (_plant_rule_empty, _undo_rule_empty)),
    _fault("forwarding-disabled", "forwarding-disabled", "host2's ip_forward=0",
           _sysctl(lambda lab: lab.host("host2"), "net.ipv4.ip_forward", "0", "1")),
    _fault("egress-without-snat", "egress-without-snat",
           f"host1's MASQUERADE for {topo.USER_SUBNET} deleted", _masquerade_gone()),
    _fault("dnat-to-unowned-address", "dnat-to-unowned-address",
           f"host1 DNATs :{UNOWNED_DNAT[0]} to {UNOWNED_DNAT[1]} (nobody's)",
           _iptables(_host1, "nat", _dnat(*UNOWNED_DNAT))),
    _fault("dnat-no-listener", "dnat-no-listener",
           f"host1 DNATs :{NO_LISTENER_DNAT[0]} to {NO_LISTENER_DNAT[1]} (cache listens on 6379)",
           _iptables(_host1, "nat", _dnat(*NO_LISTENER_DNAT))),
    _fault("forward-drop-published", "forward-drop-published",
           "host1's FORWARD accept for the published web:80 deleted (policy DROP)",
           _forward_drop()),
    _fault("iptables-split-brain", "iptables-split-brain",
           "an iptables-legacy nat rule on host2, whose nat is in nftables", _split_brain()),
    _fault("leaked-netns", "leaked-netns",
           f"/run/netns/{LEAK_NETNS}: no process, still plugged into docker0",
           (_plant_leak, _undo_leak)),
    _fault("zombie-holds-namespace", "zombie-holds-namespace",
           "a lab process whose child (pid 1 of a new pid namespace) exited unreaped",
           (_plant_zombie, _undo_spawned)),
    _fault("conntrack-unreplied", "conntrack-unreplied",
           f"web sends UDP to {UNANSWERED_IP} every 0.5 s; nobody has it",
           (_plant_unanswered, _undo_unanswered)),
    _fault("container-state-mismatch", "container-state-mismatch",
           f"Docker's state for web says {STALE_IP}; the kernel has 172.17.0.2",
           (_plant_stale_state, _undo_stale_state)),
)


def fault(name: str) -> Fault:
    for f in FAULTS:
        if f.name == name:
            return f
    raise UsageError(f"unknown fault {name!r} (see 'nsview lab break --list')")


def _running() -> StateFile:
    from nsview.lab import _status

    if os.geteuid() != 0:
        raise NsviewError("nsview lab break/fix needs root (it changes lab namespaces); "
                          "run it with sudo")
    st = StateFile.load()
    lab = _status(st)
    if lab.status != "up" or st is None:
        raise NsviewError(f"lab is {lab.status}; run 'nsview lab up' first")
    return st


def planted(st: StateFile | None) -> list[str]:
    return sorted((st.data.get("faults") or {}) if st else {})


def break_fault(name: str) -> bool:
    """Plant ``name``; False when it was planted already."""
    f = fault(name)
    with lab_lock():
        st = _running()
        faults = st.data.setdefault("faults", {})
        if name in faults:
            return False
        faults[name] = {"planting": True}
        st.save()  # recorded first: a crash half-way still lets 'lab fix' try the undo
        info = f.plant(Lab(st))
        faults[name] = info if isinstance(info, dict) else {}
        st.save()
        return True


def fix_fault(name: str) -> bool:
    """Undo ``name``; False when it was not planted."""
    f = fault(name)
    with lab_lock():
        st = _running()
        faults = st.data.setdefault("faults", {})
        if name not in faults:
            return False
        f.undo(Lab(st), faults[name])
        del faults[name]
        st.save()
        return True
