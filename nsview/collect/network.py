"""Enter every network namespace the collector found and read what is inside.

Per namespace (on a :class:`~nsview.collect.netns.NetnsExecutor` worker):
links, addresses, routes, rules, the netnsids it uses, sysctls and NAT. Then,
on the calling thread, veth peers and lower devices are resolved across
namespaces through the netnsid maps, each checked from both ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field

from nsview.collect.links import LinkRef, LinkTable, read_links, read_routes, read_rules, set_lower
from nsview.collect.nat import NatTools, read_nat
from nsview.collect.netns import Entered, NetnsDenied, NetnsExecutor, NetnsGone, NetnsTarget
from nsview.model import Interface, NetState, PeerRef, Snapshot

WORKERS = 4  # threads; while one waits on a spawned tool, another parses (2 cores here)

# Forwarding sysctls, read through /proc/sys/net, which shows the netns of the
# reading *thread* (checked in tests/test_net_topology.py).
GLOBAL_SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.default.rp_filter",
    "net.ipv6.conf.all.forwarding",
)


@dataclass(slots=True)
class NetnsReading:
    """What one worker brought back from one namespace."""

    inode: int
    state: NetState
    links: LinkTable
    missing_tools: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Context:
    tools: NatTools | None  # None: links only (a peer's namespace outside the selection)
    candidates: list[tuple[int, int]]  # (inode, fd) of every known netns, for RTM_GETNSID


def collect_network(
    snapshot: Snapshot,
    table,
    diags,
    only: frozenset[int] | None = None,
    workers: int = WORKERS,
) -> None:
    """Set ``ns.net`` on every network namespace of ``snapshot`` (or those in ``only``).

    ``table.openers[("net", inode)]`` lists the paths that open each one.
    Namespaces outside ``only`` that hold the peers of the selected ones are
    read too (links only), so peers get names; their ``net`` stays unset.
    """
    openers = {inode: paths for (t, inode), paths in table.openers.items() if t == "net"}
    net_inodes = [ns.inode for ns in snapshot.namespaces if ns.type == "net"]
    wanted = [i for i in net_inodes if only is None or i in only]
    fds = _open_all(net_inodes, openers)
    own = _own_netns()
    # Ask for the collector's own namespace first: most peers live there (docker0, cni0 …).
    candidates = sorted(fds.items(), key=lambda item: item[0] != own)
    readings: dict[int, NetnsReading] = {}
    tools = NatTools.find()
    try:
        with NetnsExecutor(workers) as pool:
            _gather(pool, wanted, openers, _Context(tools, candidates), readings, diags)
            outside = _referenced_outside(readings, set(readings))
            outside -= set(wanted)
            if outside:
                _gather(pool, sorted(outside), openers, _Context(None, candidates), readings, diags)
            for reason in pool.retired:
                diags.add("error", "netns", reason)
    finally:
        for fd in fds.values():
            os.close(fd)
    resolve_links(readings)
    missing: dict[str, int] = {}
    for reading in readings.values():
        for tool in reading.missing_tools:
            missing[tool] = missing.get(tool, 0) + 1
    for tool, count in sorted(missing.items()):
        diags.add(
            "missing",
            "nat",
            f"{tool} not installed: its NAT tables in {count} network namespace(s) not read",
        )
    by_inode = {ns.inode: ns for ns in snapshot.namespaces if ns.type == "net"}
    for inode in wanted:
        reading = readings.get(inode)
        if reading is not None:
            by_inode[inode].net = reading.state


def _gather(
    pool: NetnsExecutor,
    inodes: Iterable[int],
    openers: dict[int, list[str]],
    ctx: _Context,
    readings: dict[int, NetnsReading],
    diags,
) -> None:
    futures: list[tuple[int, Future]] = []
    for inode in inodes:
        paths = tuple(openers.get(inode, ()))
        if not paths:
            diags.add("error", "netns", f"net:[{inode}]: no path opens it")
            continue
        futures.append((inode, pool.submit(NetnsTarget(inode, paths), _reader(ctx))))
    for inode, future in futures:
        try:
            readings[inode] = future.result()
        except NetnsDenied as exc:
            diags.add("denied", "netns", str(exc))
        except NetnsGone as exc:
            diags.add("gone", "netns", str(exc))
        except Exception as exc:  # one broken namespace must not cost the others
            diags.add("error", "netns", f"net:[{inode}]: {type(exc).__name__}: {exc}")


def _reader(ctx: _Context):
    def read(entered: Entered) -> NetnsReading:
        return read_netns(entered, ctx)

    return read


def read_netns(entered: Entered, ctx: _Context) -> NetnsReading:
    """Runs inside the target netns, on an executor worker."""
    from nsview.collect.links import netnsid_map
    from nsview.collect.rtnl import Rtnl

    state = NetState()
    # Created here, after setns, so the socket belongs to the target namespace.
    with Rtnl() as rt:
        links = read_links(rt)
        state.interfaces = links.interfaces
        wanted_ids = {ref.netnsid for ref in links.refs.values() if ref.netnsid is not None}
        state.nsids = netnsid_map(rt, wanted_ids, ctx.candidates)
        unknown = sorted(wanted_ids - set(state.nsids))
        if unknown:
            state.errors.append(
                "netnsid "
                + ", ".join(map(str, unknown))
                + " point to namespaces nsview cannot open"
            )
        if ctx.tools is None:
            return NetnsReading(entered.inode, state, links)
        names = {i.ifindex: i.name for i in links.interfaces}
        try:
            state.routes = read_routes(rt, names)
        except OSError as exc:
            state.errors.append(f"routes: {exc}")
        try:
            state.rules = read_rules(rt)
        except OSError as exc:
            state.errors.append(f"rules: {exc}")
    state.sysctls = read_sysctls(links.interfaces)
    nat = read_nat(ctx.tools)
    state.nat = nat.tables
    state.errors.extend(nat.errors)
    return NetnsReading(entered.inode, state, links, missing_tools=nat.missing)


def read_sysctls(interfaces: list[Interface]) -> dict[str, str]:
    out: dict[str, str] = {}
    names = list(GLOBAL_SYSCTLS)
    names += [f"net.ipv4.conf.{i.name}.rp_filter" for i in interfaces if "/" not in i.name]
    for name in names:
        parts = name.split(".")
        if parts[2] == "conf":
            # The interface name may itself contain dots: it is everything between.
            path = (
                "/proc/sys/" + "/".join(parts[:3]) + "/" + ".".join(parts[3:-1]) + "/" + parts[-1]
            )
        else:
            path = "/proc/sys/" + "/".join(parts)
        try:
            with open(path, encoding="ascii") as f:
                out[name] = f.read().strip()
        except OSError:
            continue  # IPv6 disabled, interface gone: absent rather than guessed
    return out


class Openers:
    """The part of the collector's NamespaceTable that collect_network needs."""

    def __init__(self) -> None:
        self.openers: dict[tuple[str, int], list[str]] = {}


def openers_from_snapshot(snapshot: Snapshot, proc: str = "/proc") -> Openers:
    """Paths that open each netns, rebuilt from a snapshot's holders.

    For callers that collected without ``net`` and enter a few namespaces later
    (``nsview net``): the same paths the collector would have used.
    """
    out = Openers()
    for ns in snapshot.namespaces:
        if ns.type != "net":
            continue
        paths = out.openers.setdefault(("net", ns.inode), [])
        for h in ns.holders:
            if h.kind == "process" and h.pid is not None:
                paths.append(f"{proc}/{h.pid}/ns/net")
            elif h.kind == "thread" and h.pid is not None and h.tid is not None:
                paths.append(f"{proc}/{h.pid}/task/{h.tid}/ns/net")
            elif h.kind == "fd" and h.pid is not None and h.fd is not None:
                paths.append(f"{proc}/{h.pid}/fd/{h.fd}")
            elif h.kind == "bind_mount" and h.path:
                # Through the mounting process's root: the mount may be in another mount ns.
                if h.pid is not None:
                    paths.append(f"{proc}/{h.pid}/root{h.path}")
                paths.append(h.path)
            if len(paths) >= 4:
                break
    return out


def _own_netns() -> int | None:
    try:
        return os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return None


def _open_all(inodes: list[int], openers: dict[int, list[str]]) -> dict[int, int]:
    """An fd on each namespace, for RTM_GETNSID queries from inside the others."""
    fds: dict[int, int] = {}
    for inode in inodes:
        for path in openers.get(inode, ()):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            if os.fstat(fd).st_ino == inode:
                fds[inode] = fd
                break
            os.close(fd)
    return fds


def _referenced_outside(readings: dict[int, NetnsReading], read: set[int]) -> set[int]:
    out: set[int] = set()
    for reading in readings.values():
        for ref in reading.links.refs.values():
            if ref.netnsid is not None:
                target = reading.state.nsids.get(ref.netnsid)
                if target is not None and target not in read:
                    out.add(target)
    return out


def _ref_target(reading: NetnsReading, ref: LinkRef) -> int | None:
    if ref.netnsid is None:
        return reading.inode
    return reading.state.nsids.get(ref.netnsid)


def resolve_links(readings: dict[int, NetnsReading]) -> None:
    """Fill veth peers and cross-namespace lower devices.

    A veth peer is "resolved" only when the other end points back at this one
    (same ifindex, and its netnsid leads back to this namespace); a pointer into
    a namespace nsview read but whose end does not point back is "unverified";
    a netnsid that maps to no namespace nsview can open is "unreachable".
    """
    for reading in readings.values():
        by_index = reading.links.by_index
        for ifindex, ref in reading.links.refs.items():
            iface = by_index[ifindex]
            target = _ref_target(reading, ref)
            other = readings.get(target) if target is not None else None
            if ref.role == "lower":
                if ref.netnsid is None:
                    continue  # named already, from the same namespace's links
                far = other.links.by_index.get(ref.ifindex) if other else None
                set_lower(iface, far.name if far else None, target)
                continue
            if target is None:
                iface.peer = PeerRef(netns=None, ifindex=ref.ifindex, status="unreachable")
                continue
            peer_iface = other.links.by_index.get(ref.ifindex) if other else None
            back = other.links.refs.get(ref.ifindex) if other else None
            points_back = (
                peer_iface is not None
                and peer_iface.kind == "veth"
                and back is not None
                and back.ifindex == iface.ifindex
                and _ref_target(other, back) == reading.inode
            )
            iface.peer = PeerRef(
                netns=target,
                ifindex=ref.ifindex,
                name=peer_iface.name if points_back and peer_iface else None,
                status="resolved" if points_back else "unverified",
            )
