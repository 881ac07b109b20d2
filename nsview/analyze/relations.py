"""What a selected row is related to (jump targets) and everything known about it.

``relations(lookup, ref, view)`` lists where one can jump from a row, the most
useful first (``g`` takes the first): a veth goes to its peer, a bridge port to
its bridge, a process to the namespaces it does not share with its parent, a
namespace to its main process, a DNAT rule to the interface that owns the
destination address. ``details(lookup, ref)`` gives the fields for the detail
pane. Both are plain data: no UI here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nsview.analyze.lookup import Lookup, Ref
from nsview.analyze.views import holder_summary, holder_text, short_cmd
from nsview.model import NS_TYPES, Namespace

MAX_LISTED = 50  # processes or namespaces listed as jump targets from one row


@dataclass(frozen=True, slots=True)
class Relation:
    text: str  # "veth peer eth0 @ web"
    ref: Ref  # where it leads
    view: str  # which view shows it: "namespaces" | "network" | "processes"


@dataclass(slots=True)
class Detail:
    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)


def ns_short(ns: Namespace, lookup: Lookup) -> str:
    return f"{ns.type}:[{ns.inode}] {lookup.label(ns)}"


def _proc_rel(lookup: Lookup, pid: int, why: str) -> Relation | None:
    proc = lookup.process(pid)
    if proc is None:
        return None
    return Relation(f"{why}{pid} {proc.comm}", ("proc", pid), "processes")


def _iface_rel(lookup: Lookup, netns: int, ifindex: int, why: str) -> Relation | None:
    iface = lookup.interface(netns, ifindex)
    if iface is None:
        return None
    return Relation(
        f"{why}{iface.name} @ {lookup.netns_label(netns)}", ("iface", netns, ifindex), "network"
    )


def relations(lookup: Lookup, ref: Ref, view: str = "") -> list[Relation]:
    """Jump targets from ``ref``, best first. ``view`` is where the row is shown."""
    kind = ref[0] if ref else ""
    handler = _HANDLERS.get(kind)
    out = handler(lookup, ref, view) if handler else []
    seen: set[tuple[Ref, str]] = set()
    unique = []
    for rel in out:
        if rel is not None and (rel.ref, rel.view) not in seen:
            seen.add((rel.ref, rel.view))
            unique.append(rel)
    return unique


def _ns_relations(lk: Lookup, ref: Ref, view: str) -> list[Relation | None]:
    ns = lk.namespace(ref[1], ref[2])
    if ns is None:
        return []
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
    for pid in ns.pids[:MAX_LISTED]:
        out.append(_proc_rel(lk, pid, "process "))
    for i, holder in enumerate(ns.holders):
        if holder.kind != "process" and holder.pid is not None:
            out.append(
                Relation(f"held by {holder_text(holder, lk)}", ("proc", holder.pid), "processes")
            )
        elif holder.kind != "process":
            out.append(
                Relation(holder_text(holder, lk), ("holder", ns.type, ns.inode, i), "namespaces")
            )
    if ns.parent is not None:
        parent = lk.namespace(ns.type, ns.parent)
        if parent is not None:
            out.append(
                Relation(f"parent {ns_short(parent, lk)}", ("ns", ns.type, ns.parent), "namespaces")
            )
    for child in lk.ns_children.get((ns.type, ns.inode), [])[:MAX_LISTED]:
        out.append(
            Relation(f"child {ns_short(child, lk)}", ("ns", child.type, child.inode), "namespaces")
        )
    if ns.owner is not None and ns.type != "user":
        owner = lk.namespace("user", ns.owner)
        if owner is not None:
            out.append(
                Relation(f"owner {ns_short(owner, lk)}", ("ns", "user", ns.owner), "namespaces")
            )
    if ns.type == "user":
        for owned in lk.owned.get(ns.inode, [])[:MAX_LISTED]:
            out.append(
                Relation(
                    f"owns {ns_short(owned, lk)}", ("ns", owned.type, owned.inode), "namespaces"
                )
            )
    if view != "namespaces":
        out.append(here)
    return out


def _proc_relations(lk: Lookup, ref: Ref, view: str) -> list[Relation | None]:
    proc = lk.process(ref[1])
    if proc is None:
        return []
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
            out.append(Relation(f"{ns_short(ns, lk)}{mark}", ("ns", t, inode), "namespaces"))
    if "net" in proc.ns and lk.namespace("net", proc.ns["net"]) is not None:
        out.append(Relation("its network in Network", ("ns", "net", proc.ns["net"]), "network"))
    parent = lk.parent_of(proc)
    if parent is not None:
        out.append(_proc_rel(lk, parent.pid, "parent "))
    if view != "namespaces":
        out.append(Relation(f"{proc.pid} {proc.comm} in Processes", ref, "processes"))
    return out


def _iface_relations(lk: Lookup, ref: Ref, view: str) -> list[Relation | None]:
    netns, ifindex = ref[1], ref[2]
    iface = lk.interface(netns, ifindex)
    if iface is None:
        return []
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
        out.append(
            Relation(f"{ns_short(ns, lk)} in Namespaces", ("ns", "net", netns), "namespaces")
        )
    return out


def _route_relations(lk: Lookup, ref: Ref, view: str) -> list[Relation | None]:
    net = lk.net(ref[1])
    if net is None or ref[2] >= len(net.routes):
        return []
    route = net.routes[ref[2]]
    out: list[Relation | None] = []
    dev = lk.interface_named(ref[1], route.dev)
    if dev is not None:
        out.append(_iface_rel(lk, ref[1], dev.ifindex, "dev "))
    for where in lk.owners_of_ip(route.gateway):
        out.append(_iface_rel(lk, where[0], where[1], "gateway "))
    return out


def _nat_rule_relations(lk: Lookup, ref: Ref, view: str) -> list[Relation | None]:
    net = lk.net(ref[1])
    try:
        rule = net.nat[ref[2]].chains[ref[3]].rules[ref[4]]  # type: ignore[union-attr]
    except (AttributeError, IndexError):
        return []
    out: list[Relation | None] = []
    for what, text in (("destination ", rule.to_destination), ("source ", rule.to_source)):
        for where in lk.owners_of_ip(text):
            out.append(_iface_rel(lk, where[0], where[1], f"NAT {what}on "))
    for name in (rule.in_iface, rule.out_iface):
        iface = lk.interface_named(ref[1], name)
        if iface is not None:
            out.append(_iface_rel(lk, ref[1], iface.ifindex, "matches "))
    return out


def _holder_relations(lk: Lookup, ref: Ref, view: str) -> list[Relation | None]:
    ns = lk.namespace(ref[1], ref[2])
    if ns is None or ref[3] >= len(ns.holders):
        return []
    holder = ns.holders[ref[3]]
    out: list[Relation | None] = []
    if holder.pid is not None:
        out.append(_proc_rel(lk, holder.pid, "holder "))
    out.append(Relation(ns_short(ns, lk), ("ns", ns.type, ns.inode), "namespaces"))
    return out


def _diag_relations(lk: Lookup, ref: Ref, view: str) -> list[Relation | None]:
    diags = lk.snapshot.diagnostics
    if ref[1] >= len(diags):
        return []
    return [_proc_rel(lk, pid, "process ") for pid in diags[ref[1]].pids[:MAX_LISTED]]


def _group_relations(lk: Lookup, ref: Ref, view: str) -> list[Relation | None]:
    if ref[1] == "procns":
        return _proc_relations(lk, ("proc", ref[2]), view)
    if ref[1] in ("routes", "local_routes", "rules", "nat"):
        return _ns_relations(lk, ("ns", "net", ref[2]), view)
    if ref[1] == "kthreads":
        return _ns_relations(lk, ("ns", ref[2], ref[3]), view)
    return []


_HANDLERS = {
    "ns": _ns_relations,
    "proc": _proc_relations,
    "iface": _iface_relations,
    "route": _route_relations,
    "nat_rule": _nat_rule_relations,
    "holder": _holder_relations,
    "diag": _diag_relations,
    "group": _group_relations,
}


# -- details ------------------------------------------------------------------------


def details(lk: Lookup, ref: Ref) -> Detail:
    kind = ref[0] if ref else ""
    handler = _DETAILS.get(kind)
    detail = handler(lk, ref) if handler else None
    return detail or Detail("(nothing selected)" if not ref else "(gone from this snapshot)")


def _opt(value) -> str:
    return "—" if value is None or value == "" or value == [] else str(value)


def _ns_detail(lk: Lookup, ref: Ref) -> Detail | None:
    ns = lk.namespace(ref[1], ref[2])
    if ns is None:
        return None
    d = Detail(f"{ns.type} namespace [{ns.inode}]")
    rows = d.rows
    rows.append(("label", lk.label(ns)))
    if ns.names:
        rows.append(("names", ", ".join(ns.names)))
    rows.append(("inode", str(ns.inode)))
    if ns.id is not None:
        rows.append(("ns id", str(ns.id)))
    if ns.dev is not None:
        rows.append(("nsfs dev", str(ns.dev)))
    rows.append(("processes", str(len(ns.pids))))
    main = lk.main_process(ns)
    if main is not None:
        rows.append(("main process", f"{main.pid} {main.comm}: {short_cmd(main, 80)}"))
    summary = holder_summary(ns)
    if summary:
        rows.append(("held by", summary))
    for holder in ns.holders:
        if holder.kind != "process":
            rows.append(("holder", holder_text(holder, lk)))
    if not ns.pids and not summary:
        rows.append(("held by", "nothing visible (a child namespace keeps it alive?)"))
    if ns.parent is not None:
        parent = lk.namespace(ns.type, ns.parent)
        rows.append(("parent", ns_short(parent, lk) if parent else f"[{ns.parent}] (not visible)"))
    kids = lk.ns_children.get((ns.type, ns.inode), [])
    if kids:
        rows.append(("children", str(len(kids))))
    if ns.owner is not None:
        owner = lk.namespace("user", ns.owner)
        rows.append(("owner", ns_short(owner, lk) if owner else f"user:[{ns.owner}]"))
    if ns.owner_uid is not None:
        rows.append(("owner uid", str(ns.owner_uid)))
    if ns.type == "net":
        net = ns.net
        if net is None:
            rows.append(("network", "not read"))
        else:
            rows.append(("interfaces", ", ".join(i.name for i in net.interfaces) or "none"))
            rows.append(("routes", str(len(net.routes))))
            nat = sum(len(c.rules) for t in net.nat for c in t.chains)
            rows.append(("NAT rules", str(nat)))
            for key, value in sorted(net.sysctls.items()):
                rows.append(("sysctl", f"{key} = {value}"))
            for err in net.errors:
                rows.append(("error", err))
    return d


def _proc_detail(lk: Lookup, ref: Ref) -> Detail | None:
    proc = lk.process(ref[1])
    if proc is None:
        return None
    d = Detail(f"process {proc.pid} {proc.comm}")
    rows = d.rows
    rows.append(("pid", str(proc.pid)))
    parent = lk.parent_of(proc)
    rows.append(("ppid", f"{proc.ppid} {parent.comm}" if parent else _opt(proc.ppid)))
    rows.append(("comm", proc.comm))
    rows.append(("cmdline", " ".join(proc.cmdline) or f"[{proc.comm}] (kernel thread or zombie)"))
    rows.append(("uid", _opt(proc.uid)))
    if len(proc.nspid) > 1:
        rows.append(("pid per pid ns", " → ".join(str(p) for p in proc.nspid)))
    rows.append(("cgroup", _opt(proc.cgroup)))
    rows.append(("threads", str(proc.threads)))
    unshared = set(lk.unshared(proc))
    for t in NS_TYPES:
        inode = proc.ns.get(t)
        if inode is None:
            rows.append((t, "not readable"))
            continue
        ns = lk.namespace(t, inode)
        text = f"[{inode}] {lk.label(ns) if ns else ''}".rstrip()
        if t in unshared:
            text += "  ≠ parent"
        rows.append((t, text))
    for t, inode in sorted(proc.ns_for_children.items()):
        rows.append((f"{t}_for_children", f"[{inode}]"))
    return d


def _iface_detail(lk: Lookup, ref: Ref) -> Detail | None:
    iface = lk.interface(ref[1], ref[2])
    if iface is None:
        return None
    d = Detail(f"interface {iface.name} @ {lk.netns_label(ref[1])}")
    rows = d.rows
    rows += [
        ("kind", _opt(iface.kind)),
        ("ifindex", str(iface.ifindex)),
        ("state", _opt(iface.operstate)),
        ("flags", " ".join(iface.flags) or "—"),
        ("mtu", _opt(iface.mtu)),
        ("mac", _opt(iface.mac)),
    ]
    for addr in iface.addresses:
        extra = f" scope {addr.scope}" if addr.scope else ""
        rows.append(("address", f"{addr.cidr}{extra}"))
    if iface.master:
        rows.append(("master", iface.master))
    if iface.port_state:
        rows.append(("port state", iface.port_state))
    if iface.peer is not None:
        p = iface.peer
        where = lk.netns_label(p.netns) if p.netns is not None else "?"
        rows.append(("peer", f"{p.name or '?'} (ifindex {_opt(p.ifindex)}) @ {where} [{p.status}]"))
    if iface.bridge is not None:
        b = iface.bridge
        rows.append(
            (
                "ports",
                ", ".join(b.ports) or ", ".join(p.name for p in lk.ports(ref[1], iface)) or "none",
            )
        )
        rows.append(("stp", "off" if not b.stp_state else f"state {b.stp_state}"))
        rows.append(("fdb entries", str(len(b.fdb))))
        for entry in b.fdb[:20]:
            rows.append(("fdb", f"{entry.mac} {entry.port or ''} {entry.dst or ''}".strip()))
    if iface.vxlan is not None:
        vx = iface.vxlan
        rows += [
            ("vni", _opt(vx.vni)),
            ("remote", _opt(vx.remote)),
            ("group", _opt(vx.group)),
            ("local", _opt(vx.local)),
            ("dev", _opt(vx.dev)),
            ("port", _opt(vx.port)),
        ]
    for name, lower in (("macvlan", iface.macvlan), ("ipvlan", iface.ipvlan)):
        if lower is not None:
            rows.append((name, f"mode {_opt(lower.mode)} on {_opt(lower.lower)}"))
    rows.append(("netns", f"net:[{ref[1]}] {lk.netns_label(ref[1])}"))
    return d


def _route_detail(lk: Lookup, ref: Ref) -> Detail | None:
    net = lk.net(ref[1])
    if net is None or ref[2] >= len(net.routes):
        return None
    r = net.routes[ref[2]]
    d = Detail(f"route {r.dst}")
    for name in (
        "family",
        "table",
        "dst",
        "gateway",
        "dev",
        "scope",
        "protocol",
        "type",
        "metric",
        "prefsrc",
    ):
        d.rows.append((name, _opt(getattr(r, name))))
    return d


def _rule_detail(lk: Lookup, ref: Ref) -> Detail | None:
    net = lk.net(ref[1])
    if net is None or ref[2] >= len(net.rules):
        return None
    r = net.rules[ref[2]]
    d = Detail(f"routing rule {_opt(r.priority)}")
    for name in ("family", "priority", "src", "dst", "table", "action", "iif", "oif", "fwmark"):
        d.rows.append((name, _opt(getattr(r, name))))
    return d


def _nat_detail(lk: Lookup, ref: Ref) -> Detail | None:
    net = lk.net(ref[1])
    try:
        table = net.nat[ref[2]]  # type: ignore[union-attr]
        if ref[0] == "nat_table":
            d = Detail(f"NAT table {table.family} {table.table}")
            d.rows += [
                ("backend", table.backend),
                ("chains", ", ".join(c.name for c in table.chains)),
            ]
            return d
        chain = table.chains[ref[3]]
        if ref[0] == "nat_chain":
            d = Detail(f"NAT chain {chain.name}")
            d.rows += [
                ("table", f"{table.backend} {table.family} {table.table}"),
                ("hook", _opt(chain.hook)),
                ("policy", _opt(chain.policy)),
                ("rules", str(len(chain.rules))),
            ]
            return d
        rule = chain.rules[ref[4]]
    except (AttributeError, IndexError):
        return None
    d = Detail(f"NAT rule {rule.target or ''} in {chain.name}".strip())
    d.rows.append(("rule", rule.text))
    for name in (
        "target",
        "to_destination",
        "to_source",
        "to_ports",
        "protocol",
        "dport",
        "sport",
        "in_iface",
        "out_iface",
        "source",
        "destination",
        "comment",
    ):
        value = getattr(rule, name)
        if value:
            neg = "! " if name in rule.negated else ""
            d.rows.append((name.replace("_", " "), f"{neg}{value}"))
    if not rule.parsed:
        d.rows.append(("parsed", "no: only the rule text above is reliable"))
    return d


def _holder_detail(lk: Lookup, ref: Ref) -> Detail | None:
    ns = lk.namespace(ref[1], ref[2])
    if ns is None or ref[3] >= len(ns.holders):
        return None
    h = ns.holders[ref[3]]
    d = Detail(f"holder of {ns.type}:[{ns.inode}]")
    d.rows += [("what", holder_text(h, lk)), ("kind", h.kind), ("pid", _opt(h.pid))]
    if h.tid is not None:
        d.rows.append(("tid", str(h.tid)))
    if h.fd is not None:
        d.rows.append(("fd", str(h.fd)))
    if h.path:
        d.rows.append(("path", h.path))
    return d


def _diag_detail(lk: Lookup, ref: Ref) -> Detail | None:
    diags = lk.snapshot.diagnostics
    if ref[1] >= len(diags):
        return None
    x = diags[ref[1]]
    d = Detail(f"{x.kind}: {x.what}")
    d.rows += [("reason", x.reason), ("path", _opt(x.path))]
    if x.pids:
        shown = " ".join(str(p) for p in x.pids[:40])
        more = f" … +{len(x.pids) - 40}" if len(x.pids) > 40 else ""
        d.rows.append(("processes", shown + more))
    return d


def _group_detail(lk: Lookup, ref: Ref) -> Detail | None:
    what = ref[1]
    if what == "type":
        items = lk.by_type.get(ref[2], [])
        d = Detail(f"{ref[2]} namespaces")
        d.rows.append(("count", str(len(items))))
        d.rows.append(("named", str(sum(1 for ns in items if ns.names))))
        d.rows.append(("without processes", str(sum(1 for ns in items if not ns.pids))))
        return d
    if what == "hier":
        d = Detail(f"{ref[2]} namespace hierarchy")
        d.rows.append(("roots", str(len(lk.hierarchy_roots(ref[2])))))
        d.rows.append(("namespaces", str(len(lk.by_type.get(ref[2], [])))))
        return d
    if what == "diags":
        d = Detail("diagnostics")
        for x in lk.snapshot.diagnostics:
            d.rows.append((x.kind, f"{x.what}: {x.reason}"))
        return d
    if what == "procns":
        return _proc_detail(lk, ("proc", ref[2]))
    if what in ("routes", "local_routes", "rules", "nat"):
        return _ns_detail(lk, ("ns", "net", ref[2]))
    if what == "kthreads":
        return _ns_detail(lk, ("ns", ref[2], ref[3]))
    return None


def _note_detail(lk: Lookup, ref: Ref) -> Detail:
    return Detail(str(ref[1]))


_DETAILS = {
    "ns": _ns_detail,
    "proc": _proc_detail,
    "iface": _iface_detail,
    "route": _route_detail,
    "rule": _rule_detail,
    "nat_table": _nat_detail,
    "nat_chain": _nat_detail,
    "nat_rule": _nat_detail,
    "holder": _holder_detail,
    "diag": _diag_detail,
    "group": _group_detail,
    "note": _note_detail,
}
