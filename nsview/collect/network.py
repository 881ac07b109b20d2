"""Enter every network namespace the collector found and read what is inside.

Per namespace (on a :class:`~nsview.kernel.netns.NetnsExecutor` worker):
links, addresses, routes, rules, the netnsids it uses, sysctls and NAT. Then,
on the calling thread, veth peers and lower devices are resolved across
namespaces through the netnsid maps, each checked from both ends.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field

from nsview.collect.links import (
    LinkRef,
    LinkTable,
    attach_fdb,
    netnsid_map,
    read_links,
    read_routes,
    read_rules,
    set_lower,
)
from nsview.collect.namespaces import Diagnostics, NamespaceTable
from nsview.collect.nat import NatTools, read_nat
from nsview.collect.sockdiag import read_sockets
from nsview.kernel.netns import Entered, NetnsDenied, NetnsExecutor, NetnsGone, NetnsTarget
from nsview.kernel.rtnl import Rtnl
from nsview.model import Interface, NetState, PeerRef, Snapshot

# Diagnostic.what of what this step reports (the process walk reports others).
NETWORK_DIAGNOSTICS = frozenset({"netns", "nat"})

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
    # The namespace's rtnetlink socket, kept open while its netnsids are unmapped: a
    # socket stays in the namespace it was created in, so RTM_GETNSID can be asked
    # from any thread later, without entering again.
    rt: Rtnl | None = None

    @property
    def pending_nsids(self) -> set[int]:
        used = {r.netnsid for r in self.links.refs.values() if r.netnsid is not None}
        return used - set(self.state.nsids)


@dataclass(slots=True)
class _Context:
    tools: NatTools | None  # None: links only (a peer's namespace outside the selection)
    conntrack: bool = False  # read the conntrack table too (dump --conntrack)


def collect_network(
    snapshot: Snapshot,
    table: NamespaceTable,
    diags: Diagnostics,
    only: frozenset[int] | None = None,
    workers: int = WORKERS,
    check: Callable[[], None] | None = None,
    socket_owners: dict[int, list[int]] | None = None,
    conntrack: bool = False,
) -> None:
    """Set ``ns.net`` on every network namespace of ``snapshot`` (or those in ``only``).

    ``table.opener_paths(ns)`` lists the paths that open each one. ``check``
    is called before waiting for each namespace and may raise to stop: the
    reads not started yet are then dropped.
    Namespaces outside ``only`` that hold the peers of the selected ones are
    read too (links only), so peers get names; their ``net`` stays unset.
    ``socket_owners`` (socket inode -> pids, from the fd walk) fills ``Socket.pids``;
    ``conntrack`` reads each namespace's conntrack table too.
    """
    openers = {ns.inode: table.opener_paths(ns) for ns in snapshot.namespaces if ns.type == "net"}
    net_inodes = [ns.inode for ns in snapshot.namespaces if ns.type == "net"]
    wanted = [i for i in net_inodes if only is None or i in only]
    _raise_fd_limit(len(net_inodes) * 2 + 64)
    fds = _open_all(net_inodes, openers)
    readings: dict[int, NetnsReading] = {}
    tools = NatTools.find()
    try:
        with NetnsExecutor(workers) as pool:
            _gather(pool, wanted, openers, _Context(tools, conntrack), readings, diags, check)
            map_netnsids(readings, fds)
            outside = _referenced_outside(readings, set(readings)) - set(wanted)
            if outside:
                _gather(pool, sorted(outside), openers, _Context(None), readings, diags, check)
                map_netnsids(readings, fds)
            for reason in pool.retired:
                diags.add("error", "netns", reason)
    finally:
        for fd in fds.values():
            os.close(fd)
        for reading in readings.values():
            if reading.rt is not None:
                reading.rt.close()
                reading.rt = None
    for reading in readings.values():
        unknown = sorted(reading.pending_nsids)
        if unknown:
            reading.state.errors.append(
                f"netnsid {', '.join(map(str, unknown))}: no namespace nsview can open has"
                " this id here; links pointing there are unreachable"
            )
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
            if socket_owners:
                for sock in reading.state.sockets:
                    if sock.inode:
                        sock.pids = socket_owners.get(sock.inode, [])


def _gather(
    pool: NetnsExecutor,
    inodes: Iterable[int],
    openers: dict[int, list[str]],
    ctx: _Context,
    readings: dict[int, NetnsReading],
    diags,
    check: Callable[[], None] | None = None,
) -> None:
    futures: list[tuple[int, Future]] = []
    for inode in inodes:
        paths = tuple(openers.get(inode, ()))
        if not paths:
            diags.add("error", "netns", f"net:[{inode}]: no path opens it")
            continue
        futures.append((inode, pool.submit(NetnsTarget(inode, paths), _reader(ctx))))
    denied: dict[str, int] = {}
    for inode, future in futures:
        if check is not None:
            check()  # raising leaves the pool's `with`, which cancels what has not started
        try:
            readings[inode] = future.result()
        except NetnsDenied as exc:
            if os.geteuid() != 0:  # a rootless container's, perhaps: its owner may join
                try:
                    readings[inode] = read_via_userns(inode, openers[inode], ctx)
                    continue
                except PermissionError:
                    pass  # not a user namespace this user created: counted below
                except OSError as retry:
                    diags.add("denied", "netns", f"net:[{inode}]: joining its user namespace "
                              f"first: {retry.strerror or retry}")
                    continue
            denied[exc.cause] = denied.get(exc.cause, 0) + 1
        except NetnsGone as exc:
            diags.add("gone", "netns", str(exc))
        except Exception as exc:  # one broken namespace must not cost the others
            diags.add("error", "netns", f"net:[{inode}]: {type(exc).__name__}: {exc}")
    for cause, count in sorted(denied.items()):
        diags.add("denied", "netns", f"{count} network namespace(s) not read: {cause}")


def read_via_userns(inode: int, net_paths: list[str], ctx: _Context) -> NetnsReading:
    """Read one netns from a forked child that joins its owning user namespace
    first (kernel.userns), as ``nsenter -U -n`` does: for a non-root user, the
    netns of a rootless container it runs. PermissionError when the owning user
    namespace is not one this user created (or is its own); another OSError when
    joining or reading failed. The child's netlink socket stays in the child:
    netnsids this netns uses that need asking later are reported unmapped."""
    from nsview.kernel.nsfs import NS_GET_USERNS, open_related, owner_uid
    from nsview.kernel.userns import UsernsFailed, run_in_userns

    def inside() -> NetnsReading:
        here = os.stat("/proc/thread-self/ns/net").st_ino
        if here != inode:
            raise OSError(errno.ESTALE, f"now net:[{here}]")
        reading = read_netns(Entered(inode, -1, "(joined in a child)"), ctx)
        if reading.rt is not None:
            reading.rt.close()
            reading.rt = None
        return reading

    own_user = os.stat("/proc/self/ns/user").st_ino
    last: OSError = PermissionError(errno.EPERM, "no path opens it")
    for net_path in net_paths:
        try:
            fd = os.open(net_path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            last = exc
            continue
        try:
            if os.fstat(fd).st_ino != inode:
                continue
            user_fd = open_related(fd, NS_GET_USERNS)
        finally:
            os.close(fd)
        if user_fd is None:
            continue
        try:
            if owner_uid(user_fd) != os.geteuid() or os.fstat(user_fd).st_ino == own_user:
                raise PermissionError(errno.EPERM, "not a user namespace this user created")
            return run_in_userns(f"/proc/self/fd/{user_fd}", net_path, inside)
        except UsernsFailed as exc:
            last = OSError(exc.errno or errno.EPERM, str(exc))
        finally:
            os.close(user_fd)
    raise last


def _reader(ctx: _Context):
    def read(entered: Entered) -> NetnsReading:
        return read_netns(entered, ctx)

    return read


def read_netns(entered: Entered, ctx: _Context) -> NetnsReading:
    """Runs inside the target netns, on an executor worker."""
    state = NetState()
    # Created here, after setns, so the socket belongs to the target namespace.
    rt = Rtnl()
    try:
        links = read_links(rt)
        state.interfaces = links.interfaces
        if ctx.tools is not None:
            names = {i.ifindex: i.name for i in links.interfaces}
            try:
                state.routes = read_routes(rt, names)
            except OSError as exc:
                state.errors.append(f"routes: {exc.strerror or exc}")
            try:
                state.rules = read_rules(rt)
            except OSError as exc:
                state.errors.append(f"rules: {exc.strerror or exc}")
            if any(i.bridge is not None or i.vxlan is not None for i in links.interfaces):
                try:
                    dropped = attach_fdb(links, rt.fdb())
                except OSError as exc:
                    state.errors.append(f"fdb: {exc.strerror or exc}")
                else:
                    if dropped:
                        state.errors.append(f"fdb: {dropped} entries past the per-device cap")
    except BaseException:
        rt.close()
        raise
    reading = NetnsReading(entered.inode, state, links)
    if reading.pending_nsids:
        reading.rt = rt
    else:
        rt.close()
    if ctx.tools is None:
        return reading
    state.sysctls = read_sysctls(links.interfaces)
    try:
        sockets = read_sockets({i.ifindex: i.name for i in links.interfaces})
    except OSError as exc:
        state.errors.append(f"sockets: {exc.strerror or exc}")
    else:
        state.sockets, state.socket_summary = sockets.sockets, sockets.summary
        state.errors.extend(sockets.errors)
    if ctx.conntrack:
        from nsview.collect.conntrack import read_conntrack

        state.conntrack, errors = read_conntrack()
        state.errors.extend(errors)
    nat = read_nat(ctx.tools)
    state.nat = nat.tables
    state.filter = nat.filter
    state.errors.extend(nat.errors)
    reading.missing_tools = nat.missing
    return reading


def map_netnsids(readings: dict[int, NetnsReading], fds: dict[int, int]) -> None:
    """Fill ``state.nsids`` of every reading whose links use netnsids.

    Asking a namespace about every other one costs N queries each, N² in all
    (a host with 500 pods: 250 000). The links tell which namespace to ask
    about first: if our veth (ifindex i) points at ifindex p, the likely peer
    namespace has a veth p pointing back at i. That hint is only an order; the
    answer always comes from RTM_GETNSID. The collector's own namespace comes
    next (most lower devices are there), then everything else.
    """
    own = _own_netns()
    back_index: dict[tuple[int, int], list[int]] = {}  # (veth ifindex, peer ifindex) -> inodes
    for reading in readings.values():
        for ifindex, ref in reading.links.refs.items():
            if ref.role == "peer":
                back_index.setdefault((ifindex, ref.ifindex), []).append(reading.inode)
    for reading in readings.values():
        wanted = reading.pending_nsids
        if not wanted or reading.rt is None:
            continue
        hinted: list[int] = []
        for ifindex, ref in reading.links.refs.items():
            if ref.netnsid is not None and ref.netnsid in wanted:
                for inode in back_index.get((ref.ifindex, ifindex), ()):
                    if inode != reading.inode and inode not in hinted:
                        hinted.append(inode)
        order = hinted + ([own] if own is not None and own not in hinted else [])
        seen = set(order)
        order += [inode for inode in fds if inode not in seen]
        candidates = [(inode, fds[inode]) for inode in order if inode in fds]
        reading.state.nsids.update(netnsid_map(reading.rt, wanted, candidates))
        # Every candidate was tried: ids still unmapped stay so (asking again won't help).
        reading.rt.close()
        reading.rt = None


def _raise_fd_limit(needed: int) -> None:
    """One fd per namespace (plus a socket each, briefly): lift the soft limit if short."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        # If refused we open what we can; the rest become "unreachable" peers.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def read_sysctls(interfaces: list[Interface]) -> dict[str, str]:
    out: dict[str, str] = {}
    names = list(GLOBAL_SYSCTLS)
    names += [f"net.ipv4.conf.{i.name}.rp_filter" for i in interfaces if "/" not in i.name]
    if any(i.kind == "bridge" for i in interfaces):
        # br_netfilter (when loaded): bridged frames also traverse iptables' FORWARD.
        names.append("net.bridge.bridge-nf-call-iptables")
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
