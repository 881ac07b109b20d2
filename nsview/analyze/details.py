"""Everything known about the row under the cursor: the detail pane's fields.

``details(lookup, ref)`` gives a title and (field, value) rows. A group row
(the routes of a netns, the namespaces of a process) shows what it groups.
Plain data: no UI here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nsview.analyze import conntrack_match
from nsview.analyze.labels import (
    conntrack_entry_text,
    conntrack_nat_text,
    conntrack_tuple_text,
    holder_summary,
    holder_text,
    match_words,
    netns_label,
    ns_short,
    short_cmd,
)
from nsview.analyze.lookup import Lookup
from nsview.analyze.refs import (
    ConntrackRef,
    ContainerGroupRef,
    ContainerRef,
    DiagnosticRef,
    FindingRef,
    GroupRef,
    HolderRef,
    InterfaceRef,
    NamespaceRef,
    NatChainRef,
    NatRuleRef,
    NatTableRef,
    NoteRef,
    ProcessRef,
    Ref,
    RouteRef,
    RuleRef,
    SocketRef,
    resolve,
)
from nsview.model import (
    NS_TYPES,
    ConntrackEntry,
    Diagnostic,
    Holder,
    Interface,
    Namespace,
    NatChain,
    NatRule,
    NatTable,
    Process,
    Route,
    RoutingRule,
    Socket,
)


@dataclass(slots=True)
class Detail:
    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)


def details(lk: Lookup, ref: Ref | None) -> Detail:
    if ref is None:
        return Detail("(nothing selected)")
    if isinstance(ref, GroupRef) and ref.what == "conntrack" and ref.of is not None:
        return _conntrack_group_detail(lk, ref.of.inode)
    if isinstance(ref, GroupRef) and ref.of is not None:
        ref = ref.of  # a group of one namespace or process shows it
    match ref:
        case GroupRef():
            return _group_detail(lk, ref)
        case NoteRef(text=text):
            return Detail(text)
        case ContainerGroupRef():
            return _container_group_detail(lk, ref)
    found = resolve(lk, ref)
    if found is None:
        return Detail("(gone from this snapshot)")
    match ref, found:
        case NamespaceRef(), Namespace():
            return _ns_detail(lk, found)
        case ProcessRef(), Process():
            return _proc_detail(lk, found)
        case InterfaceRef(netns=netns), Interface():
            d = _iface_detail(lk, netns, found)
            if found.addresses:
                _conntrack_rows(lk, netns, conntrack_match.for_ref(lk, ref), d, "its addresses")
            return d
        case RouteRef(), Route():
            return _route_detail(found)
        case RuleRef(), RoutingRule():
            return _rule_detail(found)
        case NatTableRef(), NatTable():
            return _nat_table_detail(found, ref.where)
        case NatChainRef(), NatChain():
            table = resolve(lk, NatTableRef(ref.netns, ref.table, ref.where))
            return _nat_chain_detail(table, found, ref.where)
        case NatRuleRef(), NatRule():
            d = _nat_rule_detail(
                resolve(lk, NatChainRef(ref.netns, ref.table, ref.chain, ref.where)),
                found,
                ref.where,
            )
            if (found.target or "").upper() in ("DNAT", "REDIRECT"):
                _conntrack_rows(lk, ref.netns, conntrack_match.for_ref(lk, ref), d, "this rule")
            return d
        case SocketRef(), Socket():
            d = _socket_detail(lk, ref.netns, found)
            if found.family != "unix":
                hits = conntrack_match.for_ref(lk, ref)
                _conntrack_rows(lk, ref.netns, hits, d, "this socket")
            return d
        case ConntrackRef(), ConntrackEntry():
            return _conntrack_entry_detail(lk, ref.netns, found)
        case HolderRef(), Holder():
            return _holder_detail(lk, ref, found)
        case DiagnosticRef(), Diagnostic():
            return _diag_detail(found)
        case FindingRef(), _:
            return _finding_detail(lk, found)
        case ContainerRef(), _:
            return _container_detail(lk, found)
    return Detail("(gone from this snapshot)")


def _finding_detail(lk: Lookup, f) -> Detail:
    d = Detail(f"{f.severity}: {f.check}")
    d.rows.append(("problem", f.message))
    for fact in f.evidence:
        d.rows.append(("seen", fact))
    if f.fix:
        d.rows.append(("fix (not run)", f.fix))
    for s in f.subjects:
        where = netns_label(lk, s.netns) if s.netns is not None else "-"
        what = s.interface or s.container or s.rule
        d.rows.append(("about", f"{what} @ {where}" if what else where))
    d.rows.append(("docs", "docs/doctor.md; nsview doctor --only " + f.check))
    return d


def _opt(value) -> str:
    return "—" if value is None or value == "" or value == [] else str(value)


def _ns_detail(lk: Lookup, ns: Namespace) -> Detail:
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
            if net.filter:
                rules = sum(len(c.rules) for t in net.filter for c in t.chains)
                rows.append(("filter rules", f"{rules} in {len(net.filter)} tables"))
            listening = [s for s in net.sockets if s.state == "LISTEN"]
            rows.append(("sockets", f"{len(net.sockets)}, {len(listening)} listening"))
            if net.socket_summary is not None:
                rows.append(("sockets in all", f"{net.socket_summary.total} (list capped)"))
            if net.conntrack is not None:
                ct = net.conntrack
                rows.append(
                    ("conntrack", f"{ct.count} entries" + (" (capped)" if ct.truncated else ""))
                )
            for key, value in sorted(net.sysctls.items()):
                rows.append(("sysctl", f"{key} = {value}"))
            for err in net.errors:
                rows.append(("error", err))
    return d


def _proc_detail(lk: Lookup, proc: Process) -> Detail:
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
    for netns, i in lk.sockets_of.get(proc.pid, []):
        s = lk.net(netns).sockets[i]
        remote = f" → {s.remote}" if s.remote else ""
        rows.append(("socket", f"{s.proto} {s.state} {s.local}{remote}"))
    return d


def _iface_detail(lk: Lookup, netns: int, iface: Interface) -> Detail:
    d = Detail(f"interface {iface.name} @ {netns_label(lk, netns)}")
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
        where = netns_label(lk, p.netns) if p.netns is not None else "?"
        rows.append(("peer", f"{p.name or '?'} (ifindex {_opt(p.ifindex)}) @ {where} [{p.status}]"))
    if iface.bridge is not None:
        b = iface.bridge
        rows.append(
            (
                "ports",
                ", ".join(b.ports) or ", ".join(p.name for p in lk.ports(netns, iface)) or "none",
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
    rows.append(("netns", f"net:[{netns}] {netns_label(lk, netns)}"))
    return d


def _route_detail(r: Route) -> Detail:
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


def _rule_detail(r: RoutingRule) -> Detail:
    d = Detail(f"routing rule {_opt(r.priority)}")
    for name in ("family", "priority", "src", "dst", "table", "action", "iif", "oif", "fwmark"):
        d.rows.append((name, _opt(getattr(r, name))))
    return d


def _table_word(where: str) -> str:
    return "NAT" if where == "nat" else "filter"


def _nat_table_detail(table: NatTable, where: str = "nat") -> Detail:
    d = Detail(f"{_table_word(where)} table {table.family} {table.table}")
    d.rows += [("backend", table.backend), ("chains", ", ".join(c.name for c in table.chains))]
    return d


def _nat_chain_detail(table: NatTable, chain: NatChain, where: str = "nat") -> Detail:
    d = Detail(f"{_table_word(where)} chain {chain.name}")
    d.rows += [
        ("table", f"{table.backend} {table.family} {table.table}"),
        ("type", _opt(chain.type)),
        ("hook", _opt(chain.hook)),
        ("policy", _opt(chain.policy)),
        ("rules", str(len(chain.rules))),
    ]
    return d


def _nat_rule_detail(chain: NatChain, rule: NatRule, where: str = "nat") -> Detail:
    d = Detail(f"{_table_word(where)} rule {rule.target or ''} in {chain.name}".strip())
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
    for m in rule.matches:
        if m.kind not in (
            "protocol",
            "dport",
            "sport",
            "in_iface",
            "out_iface",
            "source",
            "destination",
            "comment",
        ):
            d.rows.append(("match", match_words(m) if m.parsed else f"{m.text} (not understood)"))
    for key, value in rule.target_options.items():
        d.rows.append(("target option", f"{key} {value}".strip()))
    if rule.vmap is not None:
        d.rows.append(
            ("verdict map", f"{rule.vmap.key}" + (f" @{rule.vmap.set}" if rule.vmap.set else ""))
        )
        for key, verdict in rule.vmap.entries.items():
            d.rows.append(("  " + key, verdict))
    if not rule.parsed:
        d.rows.append(("parsed", "no: only the rule text above is reliable"))
    return d


def _socket_detail(lk: Lookup, netns: int, s: Socket) -> Detail:
    d = Detail(f"socket {s.proto} {s.local}")
    rows = d.rows
    rows += [("proto", s.proto), ("state", s.state), ("local", s.local)]
    rows.append(("remote", _opt(s.remote)))
    if s.interface:
        rows.append(("bound to device", s.interface))
    if s.v6only is not None:
        rows.append(("v6only", "yes" if s.v6only else "no (takes IPv4 too)"))
    if s.type:
        rows.append(("type", s.type))
    rows += [("inode", _opt(s.inode or None)), ("uid", _opt(s.uid))]
    for pid in s.pids:
        proc = lk.process(pid)
        rows.append(("process", f"{pid} {proc.comm}: {short_cmd(proc, 80)}" if proc else str(pid)))
    if not s.pids:
        rows.append(("process", "none seen" if s.inode else "none (no file holds it)"))
    rows.append(("netns", f"net:[{netns}] {netns_label(lk, netns)}"))
    return d


def _conntrack_of(lk: Lookup, netns: int):
    net = lk.net(netns)
    return net.conntrack if net is not None else None


def _conntrack_rows(lk: Lookup, netns: int, hits: list[int], d: Detail, what: str) -> None:
    """The conntrack entries of ``what`` (positions ``hits``), the first few whole."""
    table = _conntrack_of(lk, netns)
    if table is None:
        d.rows.append(("conntrack", "not read (C reads this netns's table)"))
        return
    among = f" among the first {len(table.entries)}" if table.truncated else ""
    d.rows.append(("conntrack", f"{len(hits)} entr{'y' if len(hits) == 1 else 'ies'} "
                   f"for {what}{among}"))
    for i in hits[: conntrack_match.DETAIL_CAP]:
        d.rows.append(("  entry", conntrack_entry_text(table.entries[i])))
    if len(hits) > conntrack_match.DETAIL_CAP:
        d.rows.append(("  …", f"{len(hits) - conntrack_match.DETAIL_CAP} more"))


def _conntrack_group_detail(lk: Lookup, netns: int) -> Detail:
    d = Detail(f"conntrack @ {netns_label(lk, netns)}")
    table = _conntrack_of(lk, netns)
    if table is None:
        d.rows.append(("read", "not yet: C reads it (a live host), or open this row"))
        return d
    d.rows += [("entries", str(table.count)), ("source", table.source)]
    if table.truncated:
        d.rows.append(("kept", f"the first {len(table.entries)} whole; all counted by state"))
    for key, n in sorted(table.by_state.items(), key=lambda kv: (-kv[1], kv[0])):
        d.rows.append((key, str(n)))
    return d


def _conntrack_entry_detail(lk: Lookup, netns: int, e: ConntrackEntry) -> Detail:
    d = Detail(f"conntrack {e.proto} {conntrack_tuple_text(e.original)}")
    d.rows += [
        ("family", e.family),
        ("proto", e.proto),
        ("state", _opt(e.state)),
        ("original", conntrack_tuple_text(e.original)),
        ("reply", conntrack_tuple_text(e.reply)),
        ("nat", conntrack_nat_text(e) or "none"),
        ("status", " ".join(e.status) or "—"),
        ("mark", _opt(f"{e.mark:#x}" if e.mark is not None else None)),
        ("zone", _opt(e.zone)),
        ("timeout", _opt(f"{e.timeout}s" if e.timeout is not None else None)),
        ("netns", f"net:[{netns}] {netns_label(lk, netns)}"),
    ]
    return d


def _holder_detail(lk: Lookup, ref: HolderRef, h: Holder) -> Detail:
    d = Detail(f"holder of {ref.type}:[{ref.inode}]")
    d.rows += [("what", holder_text(h, lk)), ("kind", h.kind), ("pid", _opt(h.pid))]
    if h.tid is not None:
        d.rows.append(("tid", str(h.tid)))
    if h.fd is not None:
        d.rows.append(("fd", str(h.fd)))
    if h.path:
        d.rows.append(("path", h.path))
    return d


def _diag_detail(x: Diagnostic) -> Detail:
    d = Detail(f"{x.kind}: {x.what}")
    d.rows += [("reason", x.reason), ("path", _opt(x.path))]
    if x.pids:
        shown = " ".join(str(p) for p in x.pids[:40])
        more = f" … +{len(x.pids) - 40}" if len(x.pids) > 40 else ""
        d.rows.append(("processes", shown + more))
    return d


def _group_detail(lk: Lookup, ref: GroupRef) -> Detail:
    match ref:
        case GroupRef(what="type", ns_type=t):
            items = lk.by_type.get(t, [])
            d = Detail(f"{t} namespaces")
            d.rows.append(("count", str(len(items))))
            d.rows.append(("named", str(sum(1 for ns in items if ns.names))))
            d.rows.append(("without processes", str(sum(1 for ns in items if not ns.pids))))
            return d
        case GroupRef(what="hier", ns_type=t):
            d = Detail(f"{t} namespace hierarchy")
            d.rows.append(("roots", str(len(lk.hierarchy_roots(t)))))
            d.rows.append(("namespaces", str(len(lk.by_type.get(t, [])))))
            return d
        case GroupRef(what="diags"):
            d = Detail("diagnostics")
            for x in lk.snapshot.diagnostics:
                d.rows.append((x.kind, f"{x.what}: {x.reason}"))
            return d
    return Detail("(gone from this snapshot)")


def _container_detail(lk: Lookup, c) -> Detail:
    from nsview.analyze.containers import modes_disagree
    from nsview.model.targets import container_title, pod_title

    d = Detail(f"{c.engine} container {container_title(c)}")
    rows = d.rows
    rows.append(("id", c.id))
    rows.append(("name", _opt(c.name)))
    rows.append(("image", _opt(c.image)))
    if c.pod is not None:
        rows.append(("pod", f"{pod_title(c.pod)}" + (" (its sandbox)" if c.sandbox else "")))
    if c.project:
        rows.append(("compose project", c.project))
    if c.namespace:
        rows.append(("containerd namespace", c.namespace))
    rows.append(("rootless", "yes" if c.rootless else "no"))
    rows.append(("init", _opt(c.main_pid)))
    shown = " ".join(str(p) for p in c.pids[:40])
    rows.append(("processes", shown + (f" … +{len(c.pids) - 40}" if len(c.pids) > 40 else "")))
    rows.append(("network mode", _opt(c.network_mode)))
    mode = _opt(c.kernel_network_mode)
    rows.append(("kernel network mode", mode + ("  (disagrees)" if modes_disagree(c) else "")))
    for n in c.networks:
        bits = [n.interface or "?", n.ip or "", f"via {n.gateway}" if n.gateway else "",
                f"bridge {n.bridge}" if n.bridge else "", n.mac or ""]
        rows.append((f"network {n.name}", " ".join(b for b in bits if b)))
    for p in c.ports:
        rows.append(("port", f"{p.host_ip or '*'}:{p.host_port} → {p.container_port}/{p.protocol}"))
    for t in NS_TYPES:
        ns = lk.namespace(t, c.ns.get(t))
        if ns is not None:
            rows.append((t, ns_short(ns, lk)))
    if c.cgroup:
        rows.append(("cgroup", c.cgroup))
    if c.sandbox_key:
        rows.append(("sandbox key", c.sandbox_key))
    for key, value in sorted(c.labels.items())[:20]:
        rows.append((f"label {key}", value))
    for fact, where in sorted(c.source.items()):
        rows.append((f"source of {fact}", where))
    return d


def _container_group_detail(lk: Lookup, ref: ContainerGroupRef) -> Detail:
    from nsview.analyze.containers import pod_key

    members = [c for c in lk.snapshot.containers if c.engine == ref.engine
               and (not ref.pod or pod_key(c) == ref.pod)]
    if ref.pod:
        head = next((c for c in members if c.sandbox), members[0] if members else None)
        pod = head.pod if head is not None else None
        d = Detail(f"pod {pod.name if pod else ref.pod}")
        if pod is not None:
            d.rows += [("namespace", _opt(pod.namespace)), ("uid", _opt(pod.uid)),
                       ("sandbox", _opt(pod.id))]
    else:
        d = Detail(f"{ref.engine} containers")
        nets = [n.name for n in lk.snapshot.networks if n.engine == ref.engine]
        if nets:
            d.rows.append(("networks", ", ".join(nets)))
    d.rows.append(("containers", str(len(members))))
    for c in members[:40]:
        d.rows.append((c.name or c.id[:12], c.image or ""))
    return d
