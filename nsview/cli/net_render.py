"""Readable views of one network namespace (``nsview net``) and a one-line summary
for the ``dump`` tree. The words come from ``nsview.analyze.labels`` (the TUI's
too); ``nsview.cli.styles`` maps their roles to rich styles."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from nsview.analyze import labels
from nsview.analyze.lookup import Lookup
from nsview.cli.styles import styled
from nsview.model import Namespace, NatRule, NetState


def interfaces_table(net: NetState, index: Lookup, here: int) -> Table:
    table = Table(title="Interfaces", title_justify="left", expand=False, show_lines=False)
    for column in ("name", "kind", "state", "mtu", "mac", "addresses", "wiring"):
        table.add_column(column, overflow="fold")
    for iface in net.interfaces:
        table.add_row(
            Text(iface.name, style="bold"),
            Text(iface.kind),
            styled((labels.state_segment(iface),)) if iface.operstate else Text(""),
            str(iface.mtu or ""),
            Text(iface.mac or ""),
            Text("\n".join(a.cidr for a in iface.addresses)),
            styled(labels.interface_wiring(here, iface, index), sep="; "),
        )
    return table


def routes_table(net: NetState) -> Table:
    table = Table(title="Routes (all tables)", title_justify="left")
    for column in ("table", "family", "dst", "gateway", "dev", "protocol", "scope", "type"):
        table.add_column(column, overflow="fold")
    for r in net.routes:
        gateway = r.gateway or ("; ".join(r.nexthops) if r.nexthops else "")
        table.add_row(
            Text(r.table),
            r.family,
            Text(r.dst, style="bold" if r.dst == "default" else ""),
            Text(gateway),
            Text(r.dev or ""),
            Text(r.protocol or ""),
            Text(r.scope or ""),
            Text(r.type or ""),
        )
    return table


def rules_table(net: NetState) -> Table:
    table = Table(title="Policy rules", title_justify="left")
    for column in ("priority", "family", "from", "to", "iif/oif", "fwmark", "action"):
        table.add_column(column)
    for r in net.rules:
        action = f"lookup {r.table}" if r.action in (None, "lookup") else (r.action or "")
        iface = " / ".join(x for x in (r.iif, r.oif) if x)
        table.add_row(
            str(r.priority),
            r.family,
            Text(r.src or "all"),
            Text(r.dst or "all"),
            Text(iface),
            hex(r.fwmark) if r.fwmark else "",
            Text(action),
        )
    return table


def nat_rule_text(rule: NatRule) -> Text:
    """The rule as the TUI words it, then (dim) the rule as iptables/nft wrote it."""
    text = styled(labels.nat_rule_label(rule))
    if rule.parsed:
        text.append("  ")
        text.append(rule.text, style="dim")
    else:
        text.append("  (partly understood: see text)", style="yellow")
    return text


def nat_tree(net: NetState, where: str = "nat") -> Tree:
    """The NAT tables, or (``where="filter"``) the filter/mangle/raw ones, as a tree."""
    tables = net.nat if where == "nat" else net.filter
    title = "NAT" if where == "nat" else "Filter (filter, mangle, raw)"
    head = Text(title, style="bold")
    if not tables:
        head.append(f" (no {'NAT' if where == 'nat' else 'filter'} tables)", style="dim")
    tree = Tree(head)
    for table in tables:
        node = tree.add(styled(labels.nat_table_label(table)))
        for chain in table.chains:
            chain_node = node.add(styled(labels.nat_chain_label(chain)))
            for rule in chain.rules:
                chain_node.add(nat_rule_text(rule))
    return tree


def sockets_table(net: NetState, index: Lookup) -> Table:
    """Listeners first, then connections, each with the processes holding it."""
    table = Table(title="Sockets", title_justify="left")
    for column in ("proto", "state", "local", "remote", "processes"):
        table.add_column(column, overflow="fold")
    listening = ("LISTEN", "UNCONN")
    order = sorted(
        net.sockets, key=lambda s: (s.state not in listening, s.proto == "unix", s.port or 0)
    )
    for s in order:
        procs = []
        for pid in s.pids:
            proc = index.process(pid)
            procs.append(f"{proc.comm} ({pid})" if proc else str(pid))
        local = s.local + (f" dev {s.interface}" if s.interface else "")
        table.add_row(
            s.proto,
            Text(s.state, style="green" if s.state in listening else ""),
            Text(local, style="bold" if s.state in listening else ""),
            Text(s.remote or ""),
            Text(", ".join(procs), style="" if procs else "dim"),
        )
    if net.socket_summary is not None:
        table.caption = (
            f"{net.socket_summary.total} sockets in all; connections past the cap counted only"
        )
    return table


def sysctl_lines(net: NetState) -> Text:
    text = Text("Forwarding: ", style="bold")
    fwd = net.sysctls.get("net.ipv4.ip_forward")
    text.append(
        f"ip_forward={fwd if fwd is not None else '?'}", style="green" if fwd == "1" else ""
    )
    v6 = net.sysctls.get("net.ipv6.conf.all.forwarding")
    if v6 is not None:
        text.append(f"  ipv6 forwarding={v6}")
    rp = {k: v for k, v in net.sysctls.items() if k.endswith(".rp_filter") and v != "0"}
    if rp:
        shown = ", ".join(
            f"{k.removeprefix('net.ipv4.conf.').removesuffix('.rp_filter')}={v}"
            for k, v in rp.items()
        )
        text.append(f"  rp_filter: {shown}")
    else:
        text.append("  rp_filter off everywhere")
    return text


def namespace_view(ns: Namespace, index: Lookup) -> RenderableType:
    head = styled(labels.netns_row_label(ns, index))
    if ns.net is None:
        return Group(head, Text("network state not read (see diagnostics)", style="red"))
    net = ns.net
    parts: list[RenderableType] = [head, interfaces_table(net, index, ns.inode)]
    parts.append(routes_table(net))
    if net.rules:
        parts.append(rules_table(net))
    parts.append(nat_tree(net))
    if net.filter:
        parts.append(nat_tree(net, "filter"))
    if net.sockets:
        parts.append(sockets_table(net, index))
    if net.conntrack is not None:
        ct = net.conntrack
        counts = ", ".join(f"{k} {v}" for k, v in sorted(ct.by_state.items()))
        line = Text(f"Conntrack: {ct.count} entries", style="bold")
        if counts:
            line.append(f"  ({counts})", style="dim")
        parts.append(line)
    parts.append(sysctl_lines(net))
    for error in net.errors:
        parts.append(Text.assemble(("error", "red"), f" {error}"))
    problems = problems_lines(ns, index)
    if problems is not None:
        parts.append(problems)
    return Group(*parts)


def problems_lines(ns: Namespace, index: Lookup) -> Text | None:
    """nsview doctor's findings about this netns (at any severity), with their fixes."""
    found = [f for f in index.findings if any(s.netns == ns.inode for s in f.subjects)]
    if not found:
        return None
    text = Text("Problems (nsview doctor)", style="bold")
    for f in found:
        text.append("\n")
        text.append_text(styled(labels.finding_label(f)))
        if f.fix:
            text.append(f"\n    fix (not run): {f.fix}", style="dim")
    return text


def net_summary(net: NetState, index: Lookup, here: int) -> Text:
    """One line for the dump tree: interfaces with their peers, then counts."""
    out = Text()
    for iface in net.interfaces:
        if iface.kind == "loopback":
            continue
        if out:
            out.append("; ")
        b = labels.LabelBuilder().add(iface.name, "")
        b.add(*labels.peer_segment(here, iface, index))
        addrs = [a.cidr for a in iface.addresses if a.scope != "link"]
        if addrs:
            b.add(" ".join(addrs), "muted")
        out.append_text(styled(b.build(), sep=" "))
    if not out:
        out.append("only lo", style="dim")
    routes = labels.plural(len(net.routes), "route")
    nat = labels.plural(labels.nat_rule_count(net), "NAT rule")
    counts = [routes, nat]
    if net.filter:
        counts.append(labels.plural(labels.filter_rule_count(net), "filter rule"))
    listening = sum(1 for s in net.sockets if s.state == "LISTEN")
    if listening:
        counts.append(f"{listening} listening")
    out.append("  " + ", ".join(counts), style="dim")
    return out
