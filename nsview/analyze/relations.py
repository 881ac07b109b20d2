"""Where one can jump from a row: its related rows, the most useful first.

``relations(lookup, ref, view)`` lists jump targets (``g`` takes the first): a
veth goes to its peer, a bridge port to its bridge, a process to the
namespaces it does not share with its parent, a namespace to its main process,
a DNAT rule to the interface that owns the destination address. A group row
(the routes of a netns, the namespaces of a process) relates as what it
groups. Plain data: no UI here. The detail pane's fields are in ``details``.
"""

from __future__ import annotations

from dataclasses import dataclass

from nsview.analyze.labels import holder_text, netns_label, ns_short
from nsview.analyze.lookup import Lookup
from nsview.analyze.refs import (
    ConntrackRef,
    ContainerRef,
    DiagnosticRef,
    FindingRef,
    GroupRef,
    HolderRef,
    InterfaceRef,
    NamespaceRef,
    NatRuleRef,
    ProcessRef,
    Ref,
    RouteRef,
    SocketRef,
    resolve,
)
from nsview.model import (
    NS_TYPES,
    ConntrackTable,
    Diagnostic,
    Holder,
    Interface,
    Namespace,
    NatRule,
    Process,
    Route,
    Socket,
)
from nsview.model.targets import container_title

MAX_LISTED = 50  # processes or namespaces listed as jump targets from one row


@dataclass(frozen=True, slots=True)
class Relation:
    text: str  # "veth peer eth0 @ web"
    ref: Ref  # where it leads
    view: str  # which view shows it: "namespaces" | "network" | "processes" | "containers"
    host: str | None = None  # in a fleet: the host it is on, when not the one shown


def _proc_rel(lookup: Lookup, pid: int, why: str) -> Relation | None:
    proc = lookup.process(pid)
    if proc is None:
        return None
    return Relation(f"{why}{pid} {proc.comm}", ProcessRef(pid), "processes")


def _iface_rel(lookup: Lookup, netns: int, ifindex: int, why: str) -> Relation | None:
    iface = lookup.interface(netns, ifindex)
    if iface is None:
        return None
    return Relation(
        f"{why}{iface.name} @ {netns_label(lookup, netns)}", InterfaceRef(netns, ifindex), "network"
    )


def relations(lookup: Lookup, ref: Ref | None, view: str = "") -> list[Relation]:
    """Jump targets from ``ref``, best first. ``view`` is where the row is shown."""
    if isinstance(ref, GroupRef):
        ref = ref.of  # a group of one namespace or process relates as it
    found = resolve(lookup, ref) if ref is not None else None
    if found is None:
        return []
    match ref:
        case NamespaceRef():
            out = _ns_relations(lookup, ref, found, view)
        case ProcessRef():
            out = _proc_relations(lookup, ref, found, view)
        case InterfaceRef():
            out = _iface_relations(lookup, ref, found)
            out += _conntrack_jumps(lookup, ref)
        case RouteRef():
            out = _route_relations(lookup, ref, found)
        case NatRuleRef():
            out = _nat_rule_relations(lookup, ref, found)
            out += _conntrack_jumps(lookup, ref)
        case SocketRef():
            out = _socket_relations(lookup, ref, found)
            out += _conntrack_jumps(lookup, ref)
        case ConntrackRef():
            out = _conntrack_relations(lookup, ref, found)
        case HolderRef():
            out = _holder_relations(lookup, ref, found)
        case DiagnosticRef():
            out = _diag_relations(lookup, found)
        case FindingRef():
            out = _finding_relations(lookup, found)
        case ContainerRef():
            out = _container_relations(lookup, found)
        case _:
            out = []
    seen: set[tuple[Ref, str]] = set()
    unique = []
    for rel in out:
        if rel is not None and (rel.ref, rel.view) not in seen:
            seen.add((rel.ref, rel.view))
            unique.append(rel)
    return unique


def _finding_relations(lk: Lookup, finding) -> list[Relation | None]:
    from nsview.analyze.findings import subject_ref, subject_text, subject_view

    out: list[Relation | None] = []
    for subject in finding.subjects:
        target = subject_ref(lk, subject)
        if target is not None:
            out.append(Relation(f"about {subject_text(lk, subject)}", target,
                                subject_view(target)))
    return out


def _ns_relations(lk: Lookup, ref: NamespaceRef, ns: Namespace, view: str) -> list[Relation | None]:
    out: list[Relation | None] = []
    here = Relation(f"{ns_short(ns, lk)} in Namespaces", ref, "namespaces")
    net = Relation(f"interfaces of {lk.label(ns)} in Network", ref, "network")
    main = lk.main_process(ns)
    if view == "processes":  # a namespace row under a process: open the namespace
        out.append(here)
        if ns.type == "net":
            out.append(net)
    elif view == "network":
        out.append(here)
    elif ns.type == "net":
        out.append(net)
    if main is not None:
        out.append(_proc_rel(lk, main.pid, "main process "))
    owner = lk.ns_container(ns)
    if owner is not None:
        out.append(_container_rel(owner))
    for pid in ns.pids[:MAX_LISTED]:
        out.append(_proc_rel(lk, pid, "process "))
    for i, holder in enumerate(ns.holders):
        if holder.kind != "process" and holder.pid is not None:
            out.append(
                Relation(f"held by {holder_text(holder, lk)}", ProcessRef(holder.pid), "processes")
            )
        elif holder.kind != "process":
            out.append(
                Relation(holder_text(holder, lk), HolderRef(ns.type, ns.inode, i), "namespaces")
            )
    if ns.parent is not None:
        parent = lk.namespace(ns.type, ns.parent)
        if parent is not None:
            out.append(
                Relation(
                    f"parent {ns_short(parent, lk)}", NamespaceRef(ns.type, ns.parent), "namespaces"
                )
            )
    for child in lk.ns_children.get((ns.type, ns.inode), [])[:MAX_LISTED]:
        out.append(
            Relation(
                f"child {ns_short(child, lk)}", NamespaceRef(child.type, child.inode), "namespaces"
            )
        )
    if ns.owner is not None and ns.type != "user":
        owner = lk.namespace("user", ns.owner)
        if owner is not None:
            out.append(
                Relation(
                    f"owner {ns_short(owner, lk)}", NamespaceRef("user", ns.owner), "namespaces"
                )
            )
    if ns.type == "user":
        for owned in lk.owned.get(ns.inode, [])[:MAX_LISTED]:
            out.append(
                Relation(
                    f"owns {ns_short(owned, lk)}",
                    NamespaceRef(owned.type, owned.inode),
                    "namespaces",
                )
            )
    if view != "namespaces":
        out.append(here)
    return out


def _proc_relations(lk: Lookup, ref: ProcessRef, proc: Process, view: str) -> list[Relation | None]:
    out: list[Relation | None] = []
    if view == "namespaces":  # a process row under a namespace: open it in the process tree
        out.append(Relation(f"{proc.pid} {proc.comm} in Processes", ref, "processes"))
    unshared = lk.unshared(proc)
    # The ones it does not share with its parent first; then its network (the usual question).
    rest = [t for t in NS_TYPES if t not in unshared]
    order = unshared + sorted(rest, key=lambda t: t != "net")
    for t in order:
        inode = proc.ns.get(t)
        ns = lk.namespace(t, inode)
        if ns is not None:
            mark = " (not shared with parent)" if t in unshared else ""
            out.append(
                Relation(f"{ns_short(ns, lk)}{mark}", NamespaceRef(t, ns.inode), "namespaces")
            )
    if "net" in proc.ns and lk.namespace("net", proc.ns["net"]) is not None:
        out.append(
            Relation("its network in Network", NamespaceRef("net", proc.ns["net"]), "network")
        )
    for netns, i in lk.sockets_of.get(proc.pid, [])[:MAX_LISTED]:
        sock = lk.net(netns).sockets[i]
        out.append(Relation(f"socket {_socket_words(sock)}", SocketRef(netns, i), "network"))
    container = lk.container(proc.container)
    if container is not None:
        out.append(_container_rel(container))
    parent = lk.parent_of(proc)
    if parent is not None:
        out.append(_proc_rel(lk, parent.pid, "parent "))
    if view != "namespaces":
        out.append(Relation(f"{proc.pid} {proc.comm} in Processes", ref, "processes"))
    return out


def _iface_relations(lk: Lookup, ref: InterfaceRef, iface: Interface) -> list[Relation | None]:
    netns = ref.netns
    out: list[Relation | None] = []
    peer = lk.peer(netns, iface)
    if peer is not None:
        out.append(_iface_rel(lk, peer[0], peer[1].ifindex, "veth peer "))
    if iface.master:
        master = lk.interface_named(netns, iface.master)
        if master is not None:
            out.append(_iface_rel(lk, netns, master.ifindex, "bridge "))
    for port in lk.ports(netns, iface)[:MAX_LISTED]:
        out.append(_iface_rel(lk, netns, port.ifindex, "port "))
    for lower_name in (
        iface.vxlan.dev if iface.vxlan else None,
        iface.macvlan.lower if iface.macvlan else None,
        iface.ipvlan.lower if iface.ipvlan else None,
    ):
        lower = lk.interface_named(netns, lower_name)
        if lower is not None:
            out.append(_iface_rel(lk, netns, lower.ifindex, "lower device "))
    if iface.vxlan and iface.vxlan.remote:
        for where in lk.owners_of_ip(iface.vxlan.remote):
            out.append(_iface_rel(lk, where[0], where[1], "vxlan remote on "))
    ns = lk.namespace("net", netns)
    if ns is not None:
        main = lk.main_process(ns)
        if main is not None:
            out.append(_proc_rel(lk, main.pid, "netns main process "))
        out.append(Relation(f"{ns_short(ns, lk)} in Namespaces", ref.subject, "namespaces"))
    return out


def _route_relations(lk: Lookup, ref: RouteRef, route: Route) -> list[Relation | None]:
    out: list[Relation | None] = []
    dev = lk.interface_named(ref.netns, route.dev)
    if dev is not None:
        out.append(_iface_rel(lk, ref.netns, dev.ifindex, "dev "))
    for where in lk.owners_of_ip(route.gateway):
        out.append(_iface_rel(lk, where[0], where[1], "gateway "))
    return out


def _nat_rule_relations(lk: Lookup, ref: NatRuleRef, rule: NatRule) -> list[Relation | None]:
    out: list[Relation | None] = []
    for what, text in (("destination ", rule.to_destination), ("source ", rule.to_source)):
        for where in lk.owners_of_ip(text):
            out.append(_iface_rel(lk, where[0], where[1], f"NAT {what}on "))
    for name in (rule.in_iface, rule.out_iface):
        iface = lk.interface_named(ref.netns, name)
        if iface is not None:
            out.append(_iface_rel(lk, ref.netns, iface.ifindex, "matches "))
    return out


def _socket_words(sock: Socket) -> str:
    remote = f" → {sock.remote}" if sock.remote else ""
    return f"{sock.proto} {sock.state} {sock.local}{remote}"


def _conntrack_jumps(lk: Lookup, ref: Ref) -> list[Relation | None]:
    """The first conntrack entries of a socket, rule or interface (those the view lists)."""
    from nsview.analyze.conntrack_match import JUMPS, VIEW_ROWS, for_ref
    from nsview.analyze.labels import conntrack_entry_text

    net = lk.net(ref.netns)
    hits = [i for i in for_ref(lk, ref) if i < VIEW_ROWS][:JUMPS]
    return [
        Relation(f"conntrack {conntrack_entry_text(net.conntrack.entries[i])}",
                 ConntrackRef(ref.netns, i), "network")
        for i in hits
    ]


def _conntrack_relations(lk: Lookup, ref: ConntrackRef, entry) -> list[Relation | None]:
    """The sockets of this flow in its netns, then the interfaces owning its addresses."""
    from nsview.analyze.conntrack_match import for_socket, local_ips

    net = lk.net(ref.netns)
    out: list[Relation | None] = []
    if net is None or net.conntrack is None:
        return out
    single = ConntrackTable(entries=[entry], count=1)  # match this entry alone
    here = local_ips(net)
    for i, sock in enumerate(net.sockets):
        if sock.family != "unix" and for_socket(single, sock, here):
            words = f"socket {_socket_words(sock)}"
            out.append(Relation(words, SocketRef(ref.netns, i), "network"))
            if len(out) >= MAX_LISTED:
                break
    seen = set()
    for ip in (entry.original.dst, entry.reply.src, entry.original.src):
        for where in lk.owners_of_ip(ip):
            if where not in seen:
                seen.add(where)
                out.append(_iface_rel(lk, where[0], where[1], f"{ip} is on "))
    out.append(Relation(f"netns {netns_label(lk, ref.netns)}", NamespaceRef("net", ref.netns),
                        "network"))
    return out


def _socket_relations(lk: Lookup, ref: SocketRef, sock: Socket) -> list[Relation | None]:
    out: list[Relation | None] = [_proc_rel(lk, pid, "held by ") for pid in sock.pids[:MAX_LISTED]]
    if sock.address and sock.address not in ("0.0.0.0", "::"):
        for where in lk.owners_of_ip(sock.address):
            out.append(_iface_rel(lk, where[0], where[1], "bound to an address of "))
    if sock.interface:
        iface = lk.interface_named(ref.netns, sock.interface)
        if iface is not None:
            out.append(_iface_rel(lk, ref.netns, iface.ifindex, "bound to device "))
    # The other end of a connection inside the same netns (loopback, a local peer).
    if sock.remote:
        net = lk.net(ref.netns)
        for i, other in enumerate(net.sockets if net else []):
            if (
                other.local == sock.remote
                and other.remote == sock.local
                and other.proto == sock.proto
            ):
                out.append(
                    Relation(
                        f"other end {_socket_words(other)}", SocketRef(ref.netns, i), "network"
                    )
                )
    return out


def _holder_relations(lk: Lookup, ref: HolderRef, holder: Holder) -> list[Relation | None]:
    ns = resolve(lk, ref.subject)
    out: list[Relation | None] = []
    if holder.pid is not None:
        out.append(_proc_rel(lk, holder.pid, "holder "))
    out.append(Relation(ns_short(ns, lk), ref.subject, "namespaces"))
    return out


def _diag_relations(lk: Lookup, diag: Diagnostic) -> list[Relation | None]:
    return [_proc_rel(lk, pid, "process ") for pid in diag.pids[:MAX_LISTED]]


def _container_rel(container) -> Relation:
    return Relation(
        f"{container_title(container)} in Containers",
        ContainerRef(container.id, container.main_pid),
        "containers",
    )


def _container_relations(lk: Lookup, container) -> list[Relation | None]:
    """Its network first (the usual question), its init, its namespaces, its pod."""
    out: list[Relation | None] = []
    netns = container.ns.get("net")
    if netns is not None and lk.namespace("net", netns) is not None:
        out.append(
            Relation(f"its network ({netns_label(lk, netns)}) in Network",
                     NamespaceRef("net", netns), "network")
        )
    if container.main_pid is not None:
        out.append(_proc_rel(lk, container.main_pid, "init "))
    for t in NS_TYPES:
        ns = lk.namespace(t, container.ns.get(t))
        if ns is not None:
            out.append(Relation(ns_short(ns, lk), NamespaceRef(t, ns.inode), "namespaces"))
    for other in lk.snapshot.containers:
        if other.id != container.id and netns is not None and other.ns.get("net") == netns:
            out.append(_container_rel(other))
    return out
