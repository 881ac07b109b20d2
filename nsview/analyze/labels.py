"""One wording: how every kind of row is described, for the TUI and the CLI alike.

A label is a tuple of ``(text, role)`` segments. The role says what a piece of
text *means*, never how it looks; each presentation maps roles to its own
styles (the TUI to its theme's ``[roles]``, the CLI to rich styles in
``nsview.cli.styles``). The roles:

    name      the name of a thing (netns name, comm, interface)
    label     a derived name ("nginx (601)")
    muted     secondary facts
    count     "12 procs", "3 rules"
    pid       a process id
    addr      IP addresses, routes, NAT translations
    kind      interface kind, route type, rule action
    peer      ↔ the other end of a veth
    up, down  a state that passes traffic, one that does not
    warn      something incomplete or suspicious ("no process in it")
    error     something that failed
    unshared  namespaces not shared with the parent process
    holder    what keeps a namespace alive (fds, bind mounts)
    group     a row that groups others ("routes", "kernel threads")
    dnat, snat, masquerade   NAT targets
    ns-<type> a namespace type ("ns-net")
    ""        plain text (separators)

Plain-text helpers (``holder_text``, ``netns_label``…) return ``str`` for
places that need one string (relations, the detail pane).
"""

from __future__ import annotations

from nsview.analyze.index import SnapshotIndex
from nsview.model import (
    ConntrackEntry,
    ConntrackTable,
    ConntrackTuple,
    Diagnostic,
    Holder,
    Interface,
    Namespace,
    NatChain,
    NatRule,
    NatTable,
    NetState,
    Process,
    Route,
    RoutingRule,
    RuleMatch,
    Socket,
)
from nsview.model.targets import container_title

Segment = tuple[str, str]  # (text, role)
Label = tuple[Segment, ...]

NAT_ROLES = {"DNAT": "dnat", "SNAT": "snat", "MASQUERADE": "masquerade", "REDIRECT": "dnat"}
# Filter verdicts: whether the packet passes (up) or is stopped (down).
VERDICT_ROLES = {"ACCEPT": "up", "DROP": "down", "REJECT": "down", "RETURN": "muted"}
# RuleMatch kinds that are NatRule fields too: worded from the fields, in this order.
_RULE_FIELDS = (
    ("protocol", ""),
    ("in_iface", "in "),
    ("out_iface", "out "),
    ("source", "from "),
    ("destination", "to "),
    ("sport", "sport "),
    ("dport", "dport "),
)
_FIELD_KINDS = frozenset(k for k, _ in _RULE_FIELDS) | {"comment"}
CMDLINE_WIDTH = 60


class LabelBuilder:
    """Segments joined by a two-space gap (``tight`` appends without it)."""

    def __init__(self) -> None:
        self.parts: list[Segment] = []

    def add(self, text: str, role: str = "") -> LabelBuilder:
        if text:
            if self.parts:
                self.parts.append(("  ", ""))
            self.parts.append((text, role))
        return self

    def tight(self, text: str, role: str = "") -> LabelBuilder:
        """Append without the separating gap."""
        if text:
            self.parts.append((text, role))
        return self

    def build(self) -> Label:
        return tuple(self.parts)


def plain(label: Label) -> str:
    return "".join(text for text, _ in label)


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


# -- namespaces ------------------------------------------------------------------


def netns_label(index: SnapshotIndex, inode: int | None) -> str:
    """A network namespace by its short name ("web", "host", "nginx (601)")."""
    if inode is None:
        return "?"
    ns = index.namespace("net", inode)
    return index.label(ns) if ns is not None else f"net:[{inode}]"


def ns_title(ns: Namespace, index: SnapshotIndex) -> str:
    """What to call a namespace in a row: its container or pod, "host", else its
    bind-mount names, else the label (the main process in it, or its holder)."""
    if ns.names and index.ns_container(ns) is None and not index.is_initial(ns):
        return ", ".join(ns.names)
    return index.label(ns)


def ns_short(ns: Namespace, index: SnapshotIndex) -> str:
    return f"{ns.type}:[{ns.inode}] {index.label(ns)}"


HOLDER_WORDS = {
    "fd": ("fd", "fds"),
    "bind_mount": ("bind mount", "bind mounts"),
    "thread": ("thread", "threads"),
    "for_children": ("for children", "for children"),
}


def holder_summary(ns: Namespace) -> str:
    """What else than its processes keeps ``ns`` alive: "2 fds, 1 bind mount"."""
    counts: dict[str, int] = {}
    for holder in ns.holders:
        if holder.kind != "process":
            counts[holder.kind] = counts.get(holder.kind, 0) + 1
    out = []
    for kind, n in counts.items():
        one, many = HOLDER_WORDS.get(kind, (kind, kind))
        out.append(plural(n, one, many))
    return ", ".join(out)


def holder_text(holder: Holder, index: SnapshotIndex) -> str:
    proc = index.process(holder.pid)
    who = f"pid {holder.pid}" + (f" {proc.comm}" if proc else "") if holder.pid else ""
    if holder.kind == "bind_mount":
        return f"bind mount {holder.path or '?'}" + (f" (seen by {who})" if who else "")
    if holder.kind == "fd":
        where = holder.path or f"/proc/{holder.pid}/fd/{holder.fd}"
        return f"open fd {where}" + (f" ({who})" if who else "")
    if holder.kind == "thread":
        return f"thread {holder.tid} of {who}"
    if holder.kind == "for_children":
        return f"children-to-be of {who}"
    return f"{holder.kind} {who}".strip()


def holder_label(holder: Holder, index: SnapshotIndex) -> Label:
    return ((holder_text(holder, index), "holder"),)


def namespace_label(ns: Namespace, index: SnapshotIndex, *, with_type: bool = True) -> Label:
    b = LabelBuilder()
    if with_type:
        b.add(ns.type, f"ns-{ns.type}").tight(f":[{ns.inode}]", "muted")
    else:
        b.add(f"[{ns.inode}]", "muted")
    title = ns_title(ns, index)
    b.add(title, "name" if ns.names or index.ns_container(ns) else "label")
    if ns.names and title != ", ".join(ns.names):
        b.add(", ".join(ns.names), "muted")  # Docker's sandbox id, an ip netns name
    if ns.pids:
        b.add(plural(len(ns.pids), "proc"), "count")
    summary = holder_summary(ns)
    if summary:
        b.add(summary, "holder")
    elif not ns.pids:
        b.add("no process in it", "warn")
    if ns.type == "user" and ns.owner_uid is not None:
        b.add(f"uid {ns.owner_uid}", "muted")
    return b.build()


def ns_type_label(ns_type: str, count: int) -> Label:
    return (
        LabelBuilder()
        .add(ns_type, f"ns-{ns_type}")
        .add(plural(count, "namespace"), "count")
        .build()
    )


def hierarchy_label(ns_type: str) -> Label:
    b = LabelBuilder().add(f"{ns_type} hierarchy", f"ns-{ns_type}")
    return b.add("parent → child namespaces", "muted").build()


def group_label(title: str, count: int | str) -> Label:
    """A row grouping others: "routes  4", "kernel threads  120"."""
    return LabelBuilder().add(title, "group").add(str(count), "count").build()


def diagnostics_label(count: int) -> Label:
    b = LabelBuilder().add("diagnostics", "warn")
    return b.add(f"{plural(count, 'thing')} nsview could not see", "muted").build()


def diagnostic_label(diag: Diagnostic) -> Label:
    b = LabelBuilder().add(diag.kind, "warn" if diag.kind != "error" else "error")
    b.add(diag.what, "name").add(diag.reason, "muted")
    if diag.pids:
        b.add(plural(len(diag.pids), "process", "processes"), "count")
    return b.build()


# -- processes -------------------------------------------------------------------


def short_cmd(proc: Process, width: int = CMDLINE_WIDTH) -> str:
    # One line: an argument may hold newlines (python3 -c "…").
    cmd = " ".join(proc.cmdline).replace("\n", " ") if proc.cmdline else f"[{proc.comm}]"
    return cmd if len(cmd) <= width else cmd[: width - 1] + "…"


def process_label(proc: Process, index, *, marks: bool = True) -> Label:
    """pid, comm, command line; with ``marks`` (needs a Lookup) the namespaces
    it does not share with its parent."""
    b = LabelBuilder().add(str(proc.pid), "pid").add(proc.comm or "?", "name")
    container = index.container(proc.container) if proc.container else None
    if container is not None:
        b.add(f"[{container_title(container)}]", "label")
    b.add(short_cmd(proc), "muted")
    if marks:
        unshared = index.unshared(proc)
        if unshared:
            b.add("≠ " + " ".join(unshared), "unshared")
    return b.build()


# -- network ---------------------------------------------------------------------


def peer_segment(netns: int, iface: Interface, index: SnapshotIndex) -> Segment:
    """"↔ eth0 @ web": where the other end of a veth is."""
    peer = iface.peer
    if peer is None:
        return "", ""
    if peer.status == "unreachable" or (peer.netns is None and peer.name is None):
        return "↔ peer in a netns nsview cannot see", "warn"
    name = peer.name or f"if{peer.ifindex}"
    where = "same netns" if peer.netns in (None, netns) else netns_label(index, peer.netns)
    if peer.status == "unverified":
        return f"↔ {name}? @ {where} (unverified)", "warn"
    return f"↔ {name} @ {where}", "peer"


def _elsewhere(inode: int | None, index: SnapshotIndex, here: int) -> str:
    """" @ web" when a lower device lives in another netns than ``here``."""
    if inode is None or inode == here:
        return ""
    return f" @ {netns_label(index, inode)}"


def interface_wiring(netns: int, iface: Interface, index, *, nested: bool = False) -> Label:
    """How ``iface`` is wired: veth peer, bridge and its ports, master, vxlan, macvlan,
    ipvlan, vlan. ``nested``: shown under its bridge, so "master X" goes without saying."""
    b = LabelBuilder()
    text, role = peer_segment(netns, iface, index)
    b.add(text, role)
    if iface.bridge is not None:
        br = iface.bridge
        b.add(plural(len(index.ports(netns, iface)), "port"), "count")
        if br.stp_state:
            b.add("stp on", "muted")
        if br.fdb:
            b.add(plural(len(br.fdb), "fdb entry", "fdb entries"), "muted")
    vx = iface.vxlan
    if vx is not None:
        parts = [f"vni {vx.vni}" if vx.vni is not None else "vni ?"]
        if vx.remote:
            parts.append(f"remote {vx.remote}")
        if vx.group:
            parts.append(f"group {vx.group}")
        if not vx.remote and not vx.group:
            parts.append("no remote")
        if vx.local:
            parts.append(f"local {vx.local}")
        if vx.dev:
            parts.append(f"dev {vx.dev}{_elsewhere(vx.dev_netns, index, netns)}")
        if vx.port:
            parts.append(f"port {vx.port}")
        b.add(" ".join(parts), "muted")
        vteps = sorted({e.dst for e in vx.fdb if e.dst})
        if vteps:
            b.add("fdb → " + ", ".join(vteps), "addr")
    for lower in (iface.macvlan, iface.ipvlan):
        if lower is not None:
            where = _elsewhere(lower.lower_netns, index, netns)
            b.add(f"{lower.mode or '?'} on {lower.lower or '?'}{where}", "muted")
    vlan = iface.vlan
    if vlan is not None:
        bits = [f"vlan {vlan.id if vlan.id is not None else '?'}"]
        if vlan.protocol:
            bits.append(vlan.protocol)
        if vlan.lower:
            bits.append(f"on {vlan.lower}{_elsewhere(vlan.lower_netns, index, netns)}")
        b.add(" ".join(bits), "muted")
    if iface.master and not (nested and index.interface_named(netns, iface.master)):
        b.add(f"master {iface.master}", "muted")
    if iface.port_state and iface.port_state != "forwarding":
        b.add(f"port {iface.port_state}", "down")  # frames do not pass this bridge port
    return b.build()


def state_segment(iface: Interface) -> Segment:
    state = iface.operstate or "?"
    return state, "up" if state in ("UP", "UNKNOWN") else "down"


def interface_label(netns: int, iface: Interface, index, *, nested: bool = True) -> Label:
    """name, kind, state, addresses (not link-local), then the wiring."""
    b = LabelBuilder().add(iface.name, "name").add(iface.kind or "?", "kind")
    if iface.kind == "bridge":
        network = index.network_of_bridge(netns, iface.name)
        if network is not None and network.name != iface.name:
            b.add(f"network {network.name}", "label")  # Docker's br-<12> is "appnet"
    b.add(*state_segment(iface))
    addrs = [a.cidr for a in iface.addresses if not a.cidr.startswith("fe80:")]
    if addrs:
        b.add(" ".join(addrs), "addr")
    return join(b.build(), interface_wiring(netns, iface, index, nested=nested))


def join(*labels: Label) -> Label:
    """Labels one after the other, with the usual gap between non-empty ones."""
    out: list[Segment] = []
    for label in labels:
        if label:
            if out:
                out.append(("  ", ""))
            out.extend(label)
    return tuple(out)


def netns_row_label(ns: Namespace, index: SnapshotIndex) -> Label:
    """A network namespace at the top of the Network view: name, counts, addresses, NAT."""
    b = LabelBuilder()
    b.add(ns_title(ns, index), "name")
    b.add(f"net:[{ns.inode}]", "ns-net")
    net = ns.net
    if net is None:
        b.add("network not read", "warn")
        return b.build()
    b.add(plural(len(net.interfaces), "if", "ifs"), "count")
    addrs = [
        f"{i.name} {a.cidr}"
        for i in net.interfaces
        if i.kind != "loopback" and i.name != "lo"
        for a in i.addresses
        if a.family == "inet"
    ]
    if addrs:
        more = f" +{len(addrs) - 2}" if len(addrs) > 2 else ""
        b.add(", ".join(addrs[:2]) + more, "addr")
    nat_targets = {
        r.target for t in net.nat for c in t.chains for r in c.rules if r.target in NAT_ROLES
    }
    if nat_targets:
        b.add("NAT " + " ".join(sorted(nat_targets)), "dnat")
    listening = sorted(
        {s.port for s in net.sockets if s.state == "LISTEN" and s.port is not None}
    )
    if listening:
        more = f" +{len(listening) - 4}" if len(listening) > 4 else ""
        b.add("listen " + ",".join(map(str, listening[:4])) + more, "kind")
    if net.errors:
        b.add(plural(len(net.errors), "error"), "warn")
    return b.build()


def nat_rule_count(net: NetState) -> int:
    return sum(len(c.rules) for t in net.nat for c in t.chains)


def filter_rule_count(net: NetState) -> int:
    return sum(len(c.rules) for t in net.filter for c in t.chains)


def match_words(m: RuleMatch) -> str:
    """One condition of a rule in words ("ctstate RELATED,ESTABLISHED", "dst-type LOCAL")."""
    neg = "! " if m.negated else ""
    value = m.value or ""
    match m.kind:
        case "dst_type" | "src_type":
            extra = "".join(f" {k}" for k in m.options)
            return f"{neg}{m.kind.replace('_', '-')} {value}{extra}"
        case "set":
            how = m.options.get("flags") or m.options.get("on") or ""
            return f"{neg}set {value} {how}".rstrip()
        case "statistic":
            if value:
                return f"{neg}probability {value.rstrip('0').rstrip('.') or '0'}"
            every, packet = m.options.get("every"), m.options.get("packet")
            return f"{neg}every {every} from {packet or 0}" if every else f"{neg}statistic"
        case "icmp_type":
            return f"{neg}type {value}"
        case "physdev_in" | "physdev_out":
            return f"{neg}{m.kind.replace('_', '-')} {value}"
        case "other":
            return m.text
    return f"{neg}{m.kind} {value}".rstrip()


def socket_label(sock: Socket, index: SnapshotIndex) -> Label:
    """"tcp  LISTEN  0.0.0.0:80  nginx (601)": proto, state, addresses, holders."""
    b = LabelBuilder().add(sock.proto, "kind")
    b.add(sock.state, "up" if sock.state in ("LISTEN", "UNCONN") else "muted")
    b.add(sock.local, "addr")
    if sock.remote:
        b.add(f"→ {sock.remote}", "addr")
    if sock.interface:
        b.add(f"dev {sock.interface}", "name")
    if sock.family == "inet6" and sock.v6only is False and sock.address == "::":
        b.add("v4 too", "muted")
    holders = []
    for pid in sock.pids[:3]:
        proc = index.process(pid)
        holders.append(f"{proc.comm} ({pid})" if proc else str(pid))
    if len(sock.pids) > 3:
        holders.append(f"+{len(sock.pids) - 3}")
    if holders:
        b.add(", ".join(holders), "label")
    elif sock.inode:
        b.add("no process seen", "muted")
    return b.build()


def _endpoint(ip: str, port: int | None) -> str:
    if port is None:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def conntrack_tuple_text(t: ConntrackTuple) -> str:
    """"192.0.2.1:40000 → 198.51.100.2:80" (icmp: "… type 8 id 3")."""
    text = f"{_endpoint(t.src, t.sport)} → {_endpoint(t.dst, t.dport)}"
    if t.icmp_type is not None:
        text += f" type {t.icmp_type}"
        if t.icmp_id is not None:
            text += f" id {t.icmp_id}"
    return text


def conntrack_nat_text(e: ConntrackEntry) -> str | None:
    """How the reply differs from the mirror of the original: "DNAT to 10.0.0.2:80",
    "SNAT to 203.0.113.1:40000" (both, comma separated); None without NAT."""
    o, r = e.original, e.reply
    parts = []
    if (r.src, r.sport) != (o.dst, o.dport):
        parts.append(f"DNAT to {_endpoint(r.src, r.sport)}")
    if (r.dst, r.dport) != (o.src, o.sport):
        parts.append(f"SNAT to {_endpoint(r.dst, r.dport)}")
    return ", ".join(parts) or None


def conntrack_entry_text(e: ConntrackEntry) -> str:
    """One line for the detail pane: proto, state, original tuple, NAT, flags."""
    return plain(conntrack_entry_label(e))


def conntrack_entry_label(e: ConntrackEntry) -> Label:
    """"tcp  ESTABLISHED  192.0.2.1:40000 → 198.51.100.1:8080  DNAT to 10.0.0.2:80  unreplied"."""
    b = LabelBuilder().add(e.proto, "kind")
    if e.state:
        b.add(e.state, "up" if e.state == "ESTABLISHED" else "muted")
    b.add(conntrack_tuple_text(e.original), "addr")
    nat = conntrack_nat_text(e)
    if nat:
        b.add(nat, "dnat" if nat.startswith("DNAT") else "snat")
    if "SEEN_REPLY" not in e.status:
        b.add("unreplied", "warn")
    if e.mark:
        b.add(f"mark {e.mark:#x}", "muted")
    if e.zone:
        b.add(f"zone {e.zone}", "muted")
    return b.build()


def conntrack_summary(table: ConntrackTable, most: int = 4) -> str:
    """"120 entries: tcp ESTABLISHED 80, udp 30, tcp TIME_WAIT 10, …"."""
    head = plural(table.count, "entry", "entries")
    if not table.by_state:
        return head
    ranked = sorted(table.by_state.items(), key=lambda kv: (-kv[1], kv[0]))
    states = ", ".join(f"{k} {n}" for k, n in ranked[:most])
    return f"{head}: {states}" + (", …" if len(ranked) > most else "")


def conntrack_group_label(table: ConntrackTable | None) -> Label:
    """The conntrack row of a netns: its summary, or that it is not read yet."""
    b = LabelBuilder().add("conntrack", "group")
    if table is None:
        return b.add("not read (C reads it)", "muted").build()
    b.add(conntrack_summary(table), "count")
    if table.truncated:
        b.add(f"first {len(table.entries)} kept", "warn")
    return b.build()


def route_label(route: Route) -> Label:
    b = LabelBuilder().add(route.dst, "addr")
    if route.type and route.type not in ("unicast",):
        b.add(route.type, "kind")
    if route.gateway:
        b.add(f"via {route.gateway}", "addr")
    elif route.nexthops:
        b.add("nexthops " + "; ".join(route.nexthops), "addr")
    if route.dev:
        b.add(f"dev {route.dev}", "name")
    if route.prefsrc:
        b.add(f"src {route.prefsrc}", "muted")
    if route.metric is not None:
        b.add(f"metric {route.metric}", "muted")
    if route.table not in ("main", "local"):
        b.add(f"table {route.table}", "muted")
    if route.family == "inet6":
        b.add("v6", "muted")
    return b.build()


def rule_label(rule: RoutingRule) -> Label:
    b = LabelBuilder().add(f"{rule.priority if rule.priority is not None else '?'}:", "count")
    b.add(f"from {rule.src or 'all'}", "addr")
    if rule.dst:
        b.add(f"to {rule.dst}", "addr")
    if rule.iif:
        b.add(f"iif {rule.iif}", "name")
    if rule.oif:
        b.add(f"oif {rule.oif}", "name")
    if rule.fwmark is not None:
        b.add(f"fwmark {rule.fwmark:#x}", "muted")
    b.add(f"lookup {rule.table}" if rule.table else (rule.action or ""), "kind")
    if rule.family == "inet6":
        b.add("v6", "muted")
    return b.build()


def nat_table_label(table: NatTable) -> Label:
    n = sum(len(c.rules) for c in table.chains)
    b = LabelBuilder().add(f"{table.family} {table.table}", "name")
    return b.add(table.backend, "muted").add(plural(n, "rule"), "count").build()


def nat_chain_label(chain: NatChain) -> Label:
    b = LabelBuilder().add(chain.name, "name")
    if chain.hook:
        b.add(chain.hook, "muted")
    if chain.policy:
        b.add(f"policy {chain.policy}", "muted")
    b.add(plural(len(chain.rules), "rule"), "count")
    targets = sorted({r.target for r in chain.rules if r.target in NAT_ROLES})
    if targets:
        b.add(" ".join(targets), "dnat")
    return b.build()


def nat_rule_label(rule: NatRule) -> Label:
    if not rule.parsed:
        return LabelBuilder().add(rule.text, "muted").build()
    b = LabelBuilder()
    if rule.vmap is not None:
        entries = ", ".join(f"{k}: {v}" for k, v in rule.vmap.entries.items())
        named = f"@{rule.vmap.set} " if rule.vmap.set else ""
        b.add(f"vmap {rule.vmap.key} {named}{{{entries}}}", "kind")
    else:
        target = rule.target or "?"
        b.add(target, NAT_ROLES.get(target) or VERDICT_ROLES.get(target, "kind"))
    match = []
    neg = set(rule.negated)
    for field, word in _RULE_FIELDS:
        value = getattr(rule, field)
        if value:
            match.append(f"{'! ' if field in neg else ''}{word}{value}")
    # An nft set match on a field (ip saddr @allowed) shows through that field already.
    match += [
        match_words(m)
        for m in rule.matches
        if m.kind not in _FIELD_KINDS and not (m.kind == "set" and "on" in m.options)
    ]
    if match:
        b.add(" ".join(match), "muted")
    if rule.to_destination:
        b.add(f"→ {rule.to_destination}", "addr")
    if rule.to_source:
        b.add(f"→ src {rule.to_source}", "addr")
    if rule.to_ports:
        b.add(f"→ ports {rule.to_ports}", "addr")
    for key, value in rule.target_options.items():
        b.add(f"{key} {value}".strip(), "muted")
    if rule.comment:
        b.add(f"/* {rule.comment} */", "muted")
    return b.build()


SEVERITY_ROLES = {"error": "error", "warning": "warn", "info": "muted"}


def finding_label(finding) -> Label:
    """A doctor finding: severity, check id, the sentence."""
    return (
        (finding.severity.upper(), SEVERITY_ROLES.get(finding.severity, "muted")),
        ("  ", ""),
        (finding.check, "kind"),
        ("  ", ""),
        (finding.message, ""),
    )
