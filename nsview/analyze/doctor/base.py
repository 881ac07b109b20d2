"""What every doctor check shares: Finding, Subject, the registry and a Context.

A check is a small pure function ``(Context) -> Iterable[Finding]`` registered
with :func:`check` under a stable id. It reads only the Snapshot (through the
Context's lookups), never the live host, so ``nsview doctor --load`` on another
machine gives the same answers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

from nsview.analyze.index import SnapshotIndex
from nsview.model import Interface, Namespace, Snapshot

SEVERITIES = ("info", "warning", "error")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


@dataclass(frozen=True, slots=True)
class Subject:
    """What a finding is about, as a reference the TUI can jump to.

    ``netns`` is the network namespace's inode; ``interface`` an interface name
    inside it, ``container`` a container's name or id, ``rule`` a rule's text
    (a NAT/filter rule as its backend printed it, or a policy rule); for
    what is not in a netns, ``namespace`` ("pid:4026532201") and ``pid``.
    """

    netns: int | None = None
    interface: str | None = None
    container: str | None = None
    rule: str | None = None
    host: str | None = None  # in a fleet: the host's target
    namespace: str | None = None  # a namespace of another type, as "TYPE:INODE"
    pid: int | None = None  # a process

    def to_dict(self) -> dict:
        out: dict = {"netns": self.netns}
        for key in ("interface", "container", "rule", "host", "namespace", "pid"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(slots=True)
class Finding:
    check: str  # the registered id, e.g. "veth-mtu-mismatch"
    severity: str  # info | warning | error
    subjects: list[Subject]
    message: str  # one sentence
    evidence: list[str] = field(default_factory=list)  # the facts it saw
    fix: str = ""  # the plain command that verifies or repairs it (shown, never run)

    def to_dict(self) -> dict:
        return {"check": self.check, "severity": self.severity,
                "subjects": [s.to_dict() for s in self.subjects], "message": self.message,
                "evidence": list(self.evidence), "fix": self.fix}


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    severity: str  # the usual severity; a finding may say another
    family: str  # link | routing | forwarding | namespaces
    summary: str  # what it looks for, for `doctor --list` and docs
    run: Callable[[Context], Iterable[Finding]]


REGISTRY: dict[str, Check] = {}


def check(check_id: str, severity: str, family: str, summary: str):
    """Register the decorated function as the check ``check_id``."""
    assert severity in SEVERITIES, severity

    def register(func: Callable[[Context], Iterable[Finding]]):
        if check_id in REGISTRY:
            raise ValueError(f"doctor check {check_id!r} registered twice")
        REGISTRY[check_id] = Check(check_id, severity, family, summary, func)
        return func

    return register


# -- addresses --------------------------------------------------------------------

def ipv4_interfaces(iface: Interface) -> list[ipaddress.IPv4Interface]:
    out = []
    for addr in iface.addresses:
        if addr.family != "inet":
            continue
        try:
            out.append(ipaddress.IPv4Interface(addr.cidr))
        except ValueError:
            continue
    return out


def ip_of(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in "1.2.3.4", "1.2.3.4:80", "[::1]:80" or "1.2.3.4/32"; None for
    ranges and anything else."""
    if not text:
        return None
    text = text.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    text = text.split("/", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_up(iface: Interface) -> bool:
    """Administratively up and with a carrier (what the kernel routes through).

    Without flags (a hand-written or trimmed snapshot) the operstate alone
    decides, and with neither it counts as up: unknown is not down."""
    if iface.operstate in ("DOWN", "LOWERLAYERDOWN", "NOTPRESENT"):
        return False
    return "UP" in iface.flags or not iface.flags


def admin_down(iface: Interface) -> bool:
    """Set down (``ip link set X down``), as far as the snapshot says."""
    return bool(iface.flags) and "UP" not in iface.flags


# -- the context ----------------------------------------------------------------------

class Context:
    """Lookups over one snapshot that several checks need; built once per doctor run."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.index = SnapshotIndex(snapshot)

    @cached_property
    def nets(self) -> list[Namespace]:
        """Network namespaces whose insides were read."""
        return [ns for ns in self.snapshot.namespaces if ns.type == "net" and ns.net is not None]

    @cached_property
    def net_by_inode(self) -> dict[int, Namespace]:
        return {ns.inode: ns for ns in self.snapshot.namespaces if ns.type == "net"}

    @cached_property
    def _ifaces(self) -> dict[tuple[int, str], Interface]:
        return {(ns.inode, i.name): i for ns in self.nets for i in ns.net.interfaces}

    @cached_property
    def _ifaces_by_index(self) -> dict[tuple[int, int], Interface]:
        return {(ns.inode, i.ifindex): i for ns in self.nets for i in ns.net.interfaces}

    def iface(self, inode: int | None, name: str | None) -> Interface | None:
        if inode is None or name is None:
            return None
        return self._ifaces.get((inode, name))

    def peer(self, inode: int, iface: Interface) -> tuple[int, Interface] | None:
        """The other end of a veth, when both ends point at each other."""
        ref = iface.peer
        if ref is None or ref.status != "resolved" or ref.netns is None or ref.ifindex is None:
            return None
        far = self._ifaces_by_index.get((ref.netns, ref.ifindex))
        return (ref.netns, far) if far is not None else None

    def ports(self, inode: int, bridge: Interface) -> list[Interface]:
        ns = self.net_by_inode[inode]
        return [i for i in ns.net.interfaces if i.master == bridge.name]

    @cached_property
    def ipv4_owners(self) -> dict[ipaddress.IPv4Address, list[tuple[int, str]]]:
        """Every IPv4 address on any interface -> (netns inode, interface) having it."""
        out: dict[ipaddress.IPv4Address, list[tuple[int, str]]] = {}
        for ns in self.nets:
            for i in ns.net.interfaces:
                for a in ipv4_interfaces(i):
                    out.setdefault(a.ip, []).append((ns.inode, i.name))
        return out

    @cached_property
    def connected_v4(self) -> list[ipaddress.IPv4Network]:
        """Every IPv4 subnet some interface of the snapshot is on (loopback left out)."""
        nets = set()
        for ns in self.nets:
            for i in ns.net.interfaces:
                if i.kind == "loopback":
                    continue
                for a in ipv4_interfaces(i):
                    if a.network.prefixlen < 32:
                        nets.add(a.network)
        return sorted(nets)

    def segment(self, inode: int, iface: Interface) -> list[tuple[int, Interface]]:
        """The interfaces on the same L2 segment as ``iface`` (itself included), as far
        as veths and bridges show it: a veth's peer, and a bridge with its ports' peers.
        """
        start: list[tuple[int, Interface]] = [(inode, iface)]
        far = self.peer(inode, iface)
        if far is not None:
            start.append(far)
        out: dict[tuple[int, int], tuple[int, Interface]] = {}
        for n, i in start:
            bridge = i if i.bridge is not None else self.iface(n, i.master)
            members = [(n, i)]
            if bridge is not None and bridge.bridge is not None:
                members = [(n, bridge)] + [(n, p) for p in self.ports(n, bridge)]
            for m_ns, m in members:
                out.setdefault((m_ns, m.ifindex), (m_ns, m))
                if m.kind == "veth":
                    p = self.peer(m_ns, m)
                    if p is not None:
                        out.setdefault((p[0], p[1].ifindex), p)
        return list(out.values())

    # -- naming and commands --------------------------------------------------------
    def label(self, inode: int | None) -> str:
        if inode is None:
            return "an unknown netns"
        ns = self.net_by_inode.get(inode)
        return self.index.label(ns) if ns is not None else f"net:[{inode}]"

    def is_initial(self, inode: int) -> bool:
        ns = self.net_by_inode.get(inode)
        return ns is not None and self.index.is_initial(ns)

    def has_processes(self, ns: Namespace) -> bool:
        return bool(ns.pids) or any(h.kind in ("process", "thread") for h in ns.holders)

    def enter(self, inode: int) -> str:
        """The command prefix that runs the rest inside netns ``inode`` ('' for the host's)."""
        ns = self.net_by_inode.get(inode)
        if ns is None or self.index.is_initial(ns):
            return ""
        for h in ns.holders:
            if h.kind == "bind_mount" and h.path and h.path.rsplit("/", 1)[0] in (
                    "/run/netns", "/var/run/netns"):
                return f"ip netns exec {h.path.rsplit('/', 1)[1]} "
        proc = self.index.main_process(ns)
        if proc is not None:
            return f"nsenter -t {proc.pid} -n "
        for h in ns.holders:
            if h.kind == "bind_mount" and h.path:
                return f"nsenter --net={h.path} "
            if h.kind == "fd" and h.pid is not None and h.fd is not None:
                return f"nsenter --net=/proc/{h.pid}/fd/{h.fd} "
        return f"nsenter --net=<net:[{inode}]> "

    def where(self, inode: int, name: str | None = None) -> str:
        """'eth0 in nsvlab-host1' / 'nsvlab-host1'."""
        return f"{name} in {self.label(inode)}" if name else self.label(inode)

