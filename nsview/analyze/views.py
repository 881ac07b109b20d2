"""The three trees of the interactive view, as pure data built on demand.

A view hands out :class:`Item` rows: ``roots()`` for the top level and
``children(item)`` for one row's children, computed only when asked, so a host
with thousands of processes costs nothing until a branch is opened. Labels are
``(text, role)`` pairs: the roles say what a piece of text *means* (a namespace
type, a DNAT target, a state that is down); only the presentation layer maps
roles to colours.

Rows are identified by their path of ``key``s from the top; keys are unique
among siblings and stable across snapshots, so expansion and the cursor can be
carried over a refresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from nsview.analyze.lookup import Lookup, Ref
from nsview.model import NS_TYPES, Holder, Interface, Namespace, NatRule, Process, Route

Label = tuple[tuple[str, str], ...]
Path = tuple[str, ...]

NAT_ROLES = {"DNAT": "dnat", "SNAT": "snat", "MASQUERADE": "masquerade", "REDIRECT": "dnat"}
CMDLINE_WIDTH = 60


@dataclass(frozen=True, slots=True)
class Item:
    key: str  # unique among siblings, stable across snapshots
    ref: Ref  # what the row is about (detail, relations, filter)
    label: Label
    node: tuple | None = None  # how to compute the children; None for a leaf

    @property
    def expandable(self) -> bool:
        return self.node is not None

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.label)


class LabelBuilder:
    def __init__(self) -> None:
        self.parts: list[tuple[str, str]] = []

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


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def ns_key(ns: Namespace) -> str:
    return f"ns:{ns.type}:{ns.inode}"


def short_cmd(proc: Process, width: int = CMDLINE_WIDTH) -> str:
    cmd = " ".join(proc.cmdline) if proc.cmdline else f"[{proc.comm}]"
    return cmd if len(cmd) <= width else cmd[: width - 1] + "…"


def process_label(proc: Process, lookup: Lookup, *, marks: bool = True) -> Label:
    b = LabelBuilder().add(str(proc.pid), "pid").add(proc.comm or "?", "name")
    b.add(short_cmd(proc), "muted")
    if marks:
        unshared = lookup.unshared(proc)
        if unshared:
            b.add("≠ " + " ".join(unshared), "unshared")
    return b.build()


def holder_text(holder: Holder, lookup: Lookup) -> str:
    proc = lookup.process(holder.pid)
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


def holder_summary(ns: Namespace) -> str:
    counts: dict[str, int] = {}
    for holder in ns.holders:
        if holder.kind != "process":
            counts[holder.kind] = counts.get(holder.kind, 0) + 1
    words = {
        "fd": "fd",
        "bind_mount": "bind mount",
        "thread": "thread",
        "for_children": "for children",
    }
    return ", ".join(f"{n} {words.get(k, k)}" for k, n in counts.items())


def namespace_label(ns: Namespace, lookup: Lookup, *, with_type: bool = True) -> Label:
    b = LabelBuilder()
    if with_type:
        b.add(ns.type, f"ns-{ns.type}").tight(f":[{ns.inode}]", "muted")
    else:
        b.add(f"[{ns.inode}]", "muted")
    if ns.names:
        b.add(", ".join(ns.names), "name")
    else:
        b.add(lookup.label(ns), "label")
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


def peer_text(netns: int, iface: Interface, lookup: Lookup) -> tuple[str, str]:
    peer = iface.peer
    if peer is None:
        return "", ""
    if peer.status == "unreachable" or (peer.netns is None and peer.name is None):
        return "↔ peer in a netns nsview cannot see", "warn"
    name = peer.name or f"if{peer.ifindex}"
    where = "same netns" if peer.netns in (None, netns) else lookup.netns_label(peer.netns)
    mark = "?" if peer.status == "unverified" else ""
    return f"↔ {name}{mark} @ {where}", "peer"


def interface_label(netns: int, iface: Interface, lookup: Lookup) -> Label:
    b = LabelBuilder().add(iface.name, "name").add(iface.kind or "?", "kind")
    state = iface.operstate or "?"
    b.add(state, "up" if state in ("UP", "UNKNOWN") else "down")
    addrs = [a.cidr for a in iface.addresses if not a.cidr.startswith("fe80:")]
    if addrs:
        b.add(" ".join(addrs), "addr")
    text, role = peer_text(netns, iface, lookup)
    b.add(text, role)
    if iface.bridge is not None:
        b.add(plural(len(lookup.ports(netns, iface)), "port"), "count")
    if iface.vxlan is not None:
        vx = iface.vxlan
        parts = [f"vni {vx.vni}" if vx.vni is not None else "vni ?"]
        if vx.remote:
            parts.append(f"remote {vx.remote}")
        if vx.group:
            parts.append(f"group {vx.group}")
        if vx.local:
            parts.append(f"local {vx.local}")
        if vx.dev:
            parts.append(f"dev {vx.dev}")
        if vx.port:
            parts.append(f"port {vx.port}")
        b.add(" ".join(parts), "muted")
    for lower in (iface.macvlan, iface.ipvlan):
        if lower is not None:
            b.add(f"{lower.mode or '?'} on {lower.lower or '?'}", "muted")
    if iface.master and lookup.interface_named(netns, iface.master) is None:
        b.add(f"master {iface.master}", "muted")
    if iface.port_state and iface.port_state != "forwarding":
        b.add(f"port {iface.port_state}", "down")  # frames do not pass this bridge port
    return b.build()


def route_label(route: Route) -> Label:
    b = LabelBuilder().add(route.dst, "addr")
    if route.type and route.type not in ("unicast",):
        b.add(route.type, "kind")
    if route.gateway:
        b.add(f"via {route.gateway}", "addr")
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


def nat_rule_label(rule: NatRule) -> Label:
    if not rule.parsed:
        return LabelBuilder().add(rule.text, "muted").build()
    b = LabelBuilder()
    target = rule.target or "?"
    b.add(target, NAT_ROLES.get(target, "kind"))
    match = []
    neg = set(rule.negated)
    for field, word in (
        ("protocol", ""),
        ("in_iface", "in "),
        ("out_iface", "out "),
        ("source", "from "),
        ("destination", "to "),
        ("sport", "sport "),
        ("dport", "dport "),
    ):
        value = getattr(rule, field)
        if value:
            match.append(f"{'! ' if field in neg else ''}{word}{value}")
    if match:
        b.add(" ".join(match), "muted")
    if rule.to_destination:
        b.add(f"→ {rule.to_destination}", "addr")
    if rule.to_source:
        b.add(f"→ src {rule.to_source}", "addr")
    if rule.to_ports:
        b.add(f"→ ports {rule.to_ports}", "addr")
    if rule.comment:
        b.add(f"/* {rule.comment} */", "muted")
    return b.build()


def note(key: str, text: str, role: str = "muted") -> Item:
    return Item(key, ("note", text), ((text, role),))


class View:
    """A lazily built tree over one snapshot."""

    name = ""
    title = ""

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self._children: dict[tuple, list[Item]] = {}  # built once per snapshot
        # A process shows under each of its namespaces: its label is built once.
        self._process_labels: dict[int, Label] = {}

    def roots(self) -> list[Item]:
        raise NotImplementedError

    def children(self, item: Item) -> list[Item]:
        """The rows under ``item``, built on first use (a view lives as long as its snapshot)."""
        if not item.node:
            return []
        cached = self._children.get(item.node)
        if cached is None:
            handler = getattr(self, f"_children_{item.node[0]}", None)
            cached = self._children[item.node] = handler(*item.node[1:]) if handler else []
        return cached

    def locate(self, ref: Ref) -> Path | None:
        """The path of the row that shows ``ref`` in this view, if it has one."""
        return None

    def _process_items(self, pids: list[int]) -> list[Item]:
        out = []
        labels = self._process_labels
        for pid in pids:
            label = labels.get(pid)
            if label is None:
                proc = self.lookup.process(pid)
                if proc is None:
                    continue
                label = labels[pid] = process_label(proc, self.lookup)
            out.append(Item(f"p:{pid}", ("proc", pid), label))
        return out

    def _holder_items(self, ns: Namespace) -> list[Item]:
        return [
            Item(
                f"h:{i}",
                ("holder", ns.type, ns.inode, i),
                ((holder_text(h, self.lookup), "holder"),),
            )
            for i, h in enumerate(ns.holders)
            if h.kind != "process"
        ]


class NamespacesView(View):
    """type → namespace → holders and processes; plus the pid and user hierarchies."""

    name = "namespaces"
    title = "Namespaces"

    def roots(self) -> list[Item]:
        lk = self.lookup
        out = []
        for t in NS_TYPES:
            items = lk.by_type.get(t, [])
            if items:
                label = (
                    LabelBuilder().add(t, f"ns-{t}").add(plural(len(items), "namespace"), "count")
                )
                out.append(Item(f"type:{t}", ("group", "type", t), label.build(), ("type", t)))
        for t in ("pid", "user"):
            items = lk.by_type.get(t, [])
            if items:
                label = LabelBuilder().add(f"{t} hierarchy", f"ns-{t}")
                label.add("parent → child namespaces", "muted")
                out.append(Item(f"hier:{t}", ("group", "hier", t), label.build(), ("hier", t)))
        diags = lk.snapshot.diagnostics
        if diags:
            label = (
                LabelBuilder()
                .add("diagnostics", "warn")
                .add(f"{plural(len(diags), 'thing')} nsview could not see", "muted")
            )
            out.append(Item("diags", ("group", "diags"), label.build(), ("diags",)))
        return out

    def _ns_item(self, ns: Namespace, hier: bool = False) -> Item:
        label = namespace_label(ns, self.lookup)
        if hier:
            kids = self.lookup.ns_children.get((ns.type, ns.inode), [])
            if kids:
                label = (*label, ("  ", ""), (plural(len(kids), "child", "children"), "count"))
        node = ("hns", ns.type, ns.inode) if hier else ("ns", ns.type, ns.inode)
        expandable = bool(ns.pids or holder_summary(ns)) or hier
        return Item(ns_key(ns), ("ns", ns.type, ns.inode), label, node if expandable else None)

    def _children_type(self, t: str) -> list[Item]:
        return [self._ns_item(ns) for ns in self.lookup.by_type.get(t, [])]

    def _children_hier(self, t: str) -> list[Item]:
        return [self._ns_item(ns, hier=True) for ns in self.lookup.hierarchy_roots(t)]

    def _children_ns(self, t: str, inode: int) -> list[Item]:
        ns = self.lookup.namespace(t, inode)
        if ns is None:
            return []
        # The host's lowest pids are ~100 kernel threads: the processes people
        # run come first, the kernel threads folded into one row after them.
        kernel = [pid for pid in ns.pids if self._is_kthread(pid)]
        items = self._holder_items(ns)
        items += self._process_items([pid for pid in ns.pids if not self._is_kthread(pid)])
        if kernel:
            label = LabelBuilder().add("kernel threads", "group").add(str(len(kernel)), "count")
            ref = ("group", "kthreads", t, inode)
            items.append(Item("kthreads", ref, label.build(), ("kthreads", t, inode)))
        return items

    def _children_kthreads(self, t: str, inode: int) -> list[Item]:
        ns = self.lookup.namespace(t, inode)
        return self._process_items([p for p in ns.pids if self._is_kthread(p)]) if ns else []

    def _is_kthread(self, pid: int) -> bool:
        proc = self.lookup.process(pid)
        return proc is not None and proc.kthread

    def _children_hns(self, t: str, inode: int) -> list[Item]:
        kids = [self._ns_item(c, hier=True) for c in self.lookup.ns_children.get((t, inode), [])]
        return kids + self._children_ns(t, inode)

    def _children_diags(self) -> list[Item]:
        out = []
        for i, d in enumerate(self.lookup.snapshot.diagnostics):
            b = LabelBuilder().add(d.kind, "warn" if d.kind != "error" else "error")
            b.add(d.what, "name").add(d.reason, "muted")
            if d.pids:
                b.add(plural(len(d.pids), "process", "processes"), "count")
            out.append(Item(f"d:{i}", ("diag", i), b.build()))
        return out

    def locate(self, ref: Ref) -> Path | None:
        if ref[0] == "ns":
            ns = self.lookup.namespace(ref[1], ref[2])
            return (f"type:{ns.type}", ns_key(ns)) if ns else None
        if ref[0] == "holder":
            ns = self.lookup.namespace(ref[1], ref[2])
            return (f"type:{ns.type}", ns_key(ns), f"h:{ref[3]}") if ns else None
        if ref[0] == "diag":
            return ("diags", f"d:{ref[1]}")
        return None


class NetworkView(View):
    """netns → interfaces (bridge ports nested), routes, rules, NAT tables → chains → rules."""

    name = "network"
    title = "Network"

    def roots(self) -> list[Item]:
        return [self._netns_item(ns) for ns in self.lookup.netns]

    def _netns_item(self, ns: Namespace) -> Item:
        lk = self.lookup
        b = LabelBuilder()
        b.add(", ".join(ns.names) if ns.names else lk.label(ns), "name")
        b.add(f"net:[{ns.inode}]", "ns-net")
        net = ns.net
        if net is None:
            b.add("network not read", "warn")
        else:
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
                r.target
                for t in net.nat
                for c in t.chains
                for r in c.rules
                if r.target in NAT_ROLES
            }
            if nat_targets:
                b.add("NAT " + " ".join(sorted(nat_targets)), "dnat")
            if net.errors:
                b.add(plural(len(net.errors), "error"), "warn")
        return Item(ns_key(ns), ("ns", "net", ns.inode), b.build(), ("netns", ns.inode))

    def _top_interfaces(self, inode: int) -> list[Interface]:
        net = self.lookup.net(inode)
        if net is None:
            return []
        names = {i.name for i in net.interfaces}
        return [i for i in net.interfaces if not (i.master and i.master in names)]

    def _iface_item(self, inode: int, iface: Interface) -> Item:
        node = ("ports", inode, iface.ifindex) if self.lookup.ports(inode, iface) else None
        return Item(
            f"if:{iface.ifindex}",
            ("iface", inode, iface.ifindex),
            interface_label(inode, iface, self.lookup),
            node,
        )

    def _children_netns(self, inode: int) -> list[Item]:
        net = self.lookup.net(inode)
        if net is None:
            return [
                note(
                    "unread",
                    "network not read (started with --no-net, or this netns could not be entered)",
                    "warn",
                )
            ]
        out = [note(f"err:{i}", f"error: {e}", "warn") for i, e in enumerate(net.errors)]
        out += [self._iface_item(inode, i) for i in self._top_interfaces(inode)]
        routes = [r for r in net.routes if r.table != "local"]
        label = LabelBuilder().add("routes", "group").add(str(len(routes)), "count")
        out.append(Item("routes", ("group", "routes", inode), label.build(), ("routes", inode)))
        if net.rules:
            label = LabelBuilder().add("rules", "group").add(str(len(net.rules)), "count")
            out.append(Item("rules", ("group", "rules", inode), label.build(), ("rules", inode)))
        if net.nat:
            n = sum(len(c.rules) for t in net.nat for c in t.chains)
            label = LabelBuilder().add("NAT", "group").add(plural(n, "rule"), "count")
            out.append(Item("nat", ("group", "nat", inode), label.build(), ("nat", inode)))
        return out

    def _children_ports(self, inode: int, ifindex: int) -> list[Item]:
        bridge = self.lookup.interface(inode, ifindex)
        if bridge is None:
            return []
        return [self._iface_item(inode, p) for p in self.lookup.ports(inode, bridge)]

    def _children_routes(self, inode: int) -> list[Item]:
        net = self.lookup.net(inode)
        if net is None:
            return []
        out = [
            Item(f"r:{i}", ("route", inode, i), route_label(r))
            for i, r in enumerate(net.routes)
            if r.table != "local"
        ]
        local = sum(1 for r in net.routes if r.table == "local")
        if local:
            label = LabelBuilder().add("table local", "group").add(str(local), "count")
            out.append(
                Item("local", ("group", "local_routes", inode), label.build(), ("local", inode))
            )
        return out

    def _children_local(self, inode: int) -> list[Item]:
        net = self.lookup.net(inode)
        if net is None:
            return []
        return [
            Item(f"r:{i}", ("route", inode, i), route_label(r))
            for i, r in enumerate(net.routes)
            if r.table == "local"
        ]

    def _children_rules(self, inode: int) -> list[Item]:
        net = self.lookup.net(inode)
        if net is None:
            return []
        out = []
        for i, rule in enumerate(net.rules):
            b = LabelBuilder().add(
                f"{rule.priority if rule.priority is not None else '?'}:", "count"
            )
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
            out.append(Item(f"rule:{i}", ("rule", inode, i), b.build()))
        return out

    def _children_nat(self, inode: int) -> list[Item]:
        net = self.lookup.net(inode)
        if net is None:
            return []
        out = []
        for t, table in enumerate(net.nat):
            n = sum(len(c.rules) for c in table.chains)
            b = LabelBuilder().add(f"{table.family} {table.table}", "name")
            b.add(table.backend, "muted").add(plural(n, "rule"), "count")
            out.append(
                Item(
                    f"t:{table.backend}:{table.family}:{table.table}",
                    ("nat_table", inode, t),
                    b.build(),
                    ("nat_table", inode, t),
                )
            )
        return out

    def _children_nat_table(self, inode: int, t: int) -> list[Item]:
        net = self.lookup.net(inode)
        if net is None or t >= len(net.nat):
            return []
        out = []
        for c, chain in enumerate(net.nat[t].chains):
            b = LabelBuilder().add(chain.name, "name")
            if chain.hook:
                b.add(chain.hook, "muted")
            if chain.policy:
                b.add(f"policy {chain.policy}", "muted")
            b.add(plural(len(chain.rules), "rule"), "count")
            targets = sorted({r.target for r in chain.rules if r.target in NAT_ROLES})
            if targets:
                b.add(" ".join(targets), "dnat")
            node = ("nat_chain", inode, t, c) if chain.rules else None
            out.append(Item(f"c:{chain.name}", ("nat_chain", inode, t, c), b.build(), node))
        return out

    def _children_nat_chain(self, inode: int, t: int, c: int) -> list[Item]:
        net = self.lookup.net(inode)
        if net is None or t >= len(net.nat) or c >= len(net.nat[t].chains):
            return []
        return [
            Item(f"n:{i}", ("nat_rule", inode, t, c, i), nat_rule_label(rule))
            for i, rule in enumerate(net.nat[t].chains[c].rules)
        ]

    def locate(self, ref: Ref) -> Path | None:
        lk = self.lookup
        if ref[0] == "ns" and ref[1] == "net":
            ns = lk.namespace("net", ref[2])
            return (ns_key(ns),) if ns else None
        if ref[0] == "iface":
            ns = lk.namespace("net", ref[1])
            iface = lk.interface(ref[1], ref[2])
            if ns is None or iface is None:
                return None
            path: Path = (ns_key(ns),)
            master = lk.interface_named(ref[1], iface.master) if iface.master else None
            if master is not None and master.ifindex != iface.ifindex:
                path += (f"if:{master.ifindex}",)
            return (*path, f"if:{iface.ifindex}")
        if ref[0] in ("route", "rule", "nat_table", "nat_chain", "nat_rule"):
            ns = lk.namespace("net", ref[1])
            net = ns.net if ns else None
            if net is None:
                return None
            base: Path = (ns_key(ns),)
            if ref[0] == "route":
                if ref[2] >= len(net.routes):
                    return None
                if net.routes[ref[2]].table == "local":
                    return (*base, "routes", "local", f"r:{ref[2]}")
                return (*base, "routes", f"r:{ref[2]}")
            if ref[0] == "rule":
                return (*base, "rules", f"rule:{ref[2]}")
            if ref[2] >= len(net.nat):
                return None
            table = net.nat[ref[2]]
            path = (*base, "nat", f"t:{table.backend}:{table.family}:{table.table}")
            if ref[0] == "nat_table":
                return path
            if ref[3] >= len(table.chains):
                return None
            path += (f"c:{table.chains[ref[3]].name}",)
            return path if ref[0] == "nat_chain" else (*path, f"n:{ref[4]}")
        return None


class ProcessesView(View):
    """The process tree; under each process its namespaces, marked where not shared."""

    name = "processes"
    title = "Processes"

    def roots(self) -> list[Item]:
        return [self._proc_item(pid) for pid in sorted(self.lookup.children.get(0, []))]

    def _proc_item(self, pid: int) -> Item:
        proc = self.lookup.processes[pid]
        return Item(f"p:{pid}", ("proc", pid), process_label(proc, self.lookup), ("proc", pid))

    def _children_proc(self, pid: int) -> list[Item]:
        proc = self.lookup.process(pid)
        if proc is None:
            return []
        unshared = self.lookup.unshared(proc)
        b = LabelBuilder().add("namespaces", "group")
        parent = self.lookup.parent_of(proc)
        if parent is None:
            b.add("(parent not seen)", "muted")
        elif not any(t in parent.ns for t in proc.ns):
            b.add("(the parent's are not readable: nothing to compare)", "muted")
        elif unshared:
            b.add(f"{len(unshared)} not shared with parent: {' '.join(unshared)}", "unshared")
        else:
            b.add("all shared with parent", "muted")
        out = [Item("ns", ("group", "procns", pid), b.build(), ("procns", pid))]
        kids = sorted(k for k in self.lookup.children.get(pid, []) if k != pid)
        out += [self._proc_item(k) for k in kids]
        return out

    def _children_procns(self, pid: int) -> list[Item]:
        lk = self.lookup
        proc = lk.process(pid)
        if proc is None:
            return []
        parent = lk.parent_of(proc)
        out = []
        for t in NS_TYPES:
            inode = proc.ns.get(t)
            if inode is None:
                out.append(note(f"ns:{t}", f"{t}: not readable", "muted"))
                continue
            b = LabelBuilder().add(t, f"ns-{t}").tight(f":[{inode}]", "muted")
            ns = lk.namespace(t, inode)
            b.add(", ".join(ns.names) if ns and ns.names else (lk.label(ns) if ns else ""), "label")
            if parent is not None and t in parent.ns and parent.ns[t] != inode:
                b.add("≠ parent", "unshared")
            out.append(Item(f"ns:{t}", ("ns", t, inode), b.build()))
        for t, inode in sorted(proc.ns_for_children.items()):
            b = LabelBuilder().add(f"{t} for children", f"ns-{t}").tight(f":[{inode}]", "muted")
            b.add("its next children start here", "muted")
            out.append(Item(f"nsfc:{t}", ("ns", t, inode), b.build()))
        return out

    def locate(self, ref: Ref) -> Path | None:
        if ref[0] == "proc" and ref[1] in self.lookup.processes:
            return tuple(f"p:{pid}" for pid in self.lookup.ancestors(ref[1]))
        return None


VIEW_CLASSES: tuple[type[View], ...] = (NamespacesView, NetworkView, ProcessesView)
VIEW_NAMES: tuple[str, ...] = tuple(v.name for v in VIEW_CLASSES)


def build_views(lookup: Lookup) -> dict[str, View]:
    return {cls.name: cls(lookup) for cls in VIEW_CLASSES}
