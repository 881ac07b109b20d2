"""Readable views of one network namespace (``nsview net``) and a one-line summary
for the ``dump`` tree. Meaning → colour happens here only."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from nsview.analyze.index import SnapshotIndex
from nsview.model import Interface, Namespace, NatRule, NetState

NAT_TARGET_STYLES = {
    "DNAT": "bold magenta",
    "SNAT": "bold cyan",
    "MASQUERADE": "bold cyan",
    "REDIRECT": "bold magenta",
}
STATE_STYLES = {"UP": "green", "DOWN": "red", "LOWERLAYERDOWN": "red", "UNKNOWN": "yellow"}


def netns_label(index: SnapshotIndex, inode: int | None) -> str:
    if inode is None:
        return "?"
    ns = index.namespace("net", inode)
    return index.label(ns) if ns is not None else f"net:[{inode}]"


def peer_text(iface: Interface, index: SnapshotIndex, here: int) -> str:
    peer = iface.peer
    if peer is None:
        return ""
    if peer.status == "unreachable":
        return f"[red]↔ ifindex {peer.ifindex} in a netns nsview cannot reach[/]"
    where = "this netns" if peer.netns == here else netns_label(index, peer.netns)
    name = peer.name or f"ifindex {peer.ifindex}"
    text = f"↔ {escape(name)} @ {escape(where)}"
    return text if peer.status == "resolved" else f"[yellow]{text} (unverified)[/]"


def interface_details(iface: Interface, index: SnapshotIndex, here: int) -> str:
    parts: list[str] = []
    if iface.peer is not None:
        parts.append(peer_text(iface, index, here))
    if iface.master:
        state = iface.port_state
        stuck = f" [red]({state})[/]" if state and state != "forwarding" else ""
        parts.append(f"master [bold]{escape(iface.master)}[/]{stuck}")
    if iface.bridge is not None:
        stp = "on" if iface.bridge.stp_state else "off"
        ports = ", ".join(iface.bridge.ports) or "no ports"
        parts.append(f"ports {escape(ports)}; stp {stp}; fdb {len(iface.bridge.fdb)} entries")
    vx = iface.vxlan
    if vx is not None:
        far = (
            f"group {vx.group}" if vx.group else f"remote {vx.remote}" if vx.remote else "no remote"
        )
        bits = [f"vni {vx.vni}", far, f"port {vx.port}"]
        if vx.local:
            bits.append(f"local {vx.local}")
        if vx.dev:
            bits.append(f"dev {vx.dev}" + _elsewhere(vx.dev_netns, index, here))
        vteps = sorted({e.dst for e in vx.fdb if e.dst})
        if vteps:
            bits.append("fdb → " + ", ".join(vteps))
        parts.append(escape(" ".join(bits)))
    for label, info in (("macvlan", iface.macvlan), ("ipvlan", iface.ipvlan)):
        if info is not None:
            lower = f" on {info.lower}" if info.lower else ""
            parts.append(escape(f"{label} {info.mode or '?'}{lower}"))
            if info.lower_netns is not None:
                parts[-1] += escape(_elsewhere(info.lower_netns, index, here))
    if iface.vlan is not None:
        lower = f" on {iface.vlan.lower}" if iface.vlan.lower else ""
        parts.append(escape(f"vlan {iface.vlan.id} {iface.vlan.protocol or ''}{lower}"))
    return "; ".join(parts)


def _elsewhere(inode: int | None, index: SnapshotIndex, here: int) -> str:
    if inode is None or inode == here:
        return ""
    return f" @ {netns_label(index, inode)}"


def interfaces_table(net: NetState, index: SnapshotIndex, here: int) -> Table:
    table = Table(title="Interfaces", title_justify="left", expand=False, show_lines=False)
    for column in ("name", "kind", "state", "mtu", "mac", "addresses", "wiring"):
        table.add_column(column, overflow="fold")
    for iface in net.interfaces:
        state = iface.operstate or ""
        style = STATE_STYLES.get(state, "")
        table.add_row(
            f"[bold]{escape(iface.name)}[/]",
            escape(iface.kind),
            f"[{style}]{escape(state)}[/]" if style else escape(state),
            str(iface.mtu or ""),
            escape(iface.mac or ""),
            escape("\n".join(a.cidr for a in iface.addresses)),
            interface_details(iface, index, here),
        )
    return table


def routes_table(net: NetState) -> Table:
    table = Table(title="Routes (all tables)", title_justify="left")
    for column in ("table", "family", "dst", "gateway", "dev", "protocol", "scope", "type"):
        table.add_column(column, overflow="fold")
    for r in net.routes:
        dst = r.dst
        gateway = r.gateway or ("; ".join(r.nexthops) if r.nexthops else "")
        table.add_row(
            escape(r.table),
            r.family,
            f"[bold]{escape(dst)}[/]" if dst == "default" else escape(dst),
            escape(gateway),
            escape(r.dev or ""),
            escape(r.protocol or ""),
            escape(r.scope or ""),
            escape(r.type or ""),
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
            escape(r.src or "all"),
            escape(r.dst or "all"),
            escape(iface),
            hex(r.fwmark) if r.fwmark else "",
            escape(action),
        )
    return table


def nat_rule_text(rule: NatRule) -> Text:
    text = Text()
    style = NAT_TARGET_STYLES.get(rule.target or "")
    if rule.target:
        text.append(f"{rule.target}", style=style or "bold")
        to = rule.to_destination or rule.to_source or rule.to_ports
        if to:
            text.append(f" → {to}", style=style or "")
        text.append("  ")
    text.append(rule.text, style="dim" if style is None else "")
    if not rule.parsed:
        text.append("  (partly understood: see text)", style="yellow")
    return text


def nat_tree(net: NetState) -> Tree:
    tree = Tree("[bold]NAT[/]" + ("" if net.nat else " [dim](no NAT tables)[/]"))
    for table in net.nat:
        node = tree.add(
            f"[bold]{escape(table.backend)}[/] {escape(table.family)} {escape(table.table)}"
        )
        for chain in table.chains:
            head = f"[cyan]{escape(chain.name)}[/]"
            if chain.hook:
                head += f" [dim]hook {escape(chain.hook)}[/]"
            if chain.policy:
                head += f" [dim]policy {escape(chain.policy)}[/]"
            chain_node = node.add(head)
            for rule in chain.rules:
                chain_node.add(nat_rule_text(rule))
    return tree


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


def namespace_view(ns: Namespace, index: SnapshotIndex) -> RenderableType:
    head = f"[bold]net:[{ns.inode}][/] [green]{escape(index.label(ns))}[/]"
    if ns.net is None:
        return Group(head, "[red]network state not read (see diagnostics)[/]")
    net = ns.net
    parts: list[RenderableType] = [head, interfaces_table(net, index, ns.inode)]
    parts.append(routes_table(net))
    if net.rules:
        parts.append(rules_table(net))
    parts.append(nat_tree(net))
    parts.append(sysctl_lines(net))
    for error in net.errors:
        parts.append(f"[red]error[/] {escape(error)}")
    return Group(*parts)


def net_summary(net: NetState, index: SnapshotIndex, here: int) -> str:
    """One line for the dump tree: interfaces with their wiring, then counts."""
    names = []
    for iface in net.interfaces:
        if iface.kind == "loopback":
            continue
        bit = escape(iface.name)
        if iface.peer is not None:
            bit += " " + peer_text(iface, index, here)
        addrs = [a.cidr for a in iface.addresses if a.scope != "link"]
        if addrs:
            bit += f" [dim]{escape(' '.join(addrs))}[/]"
        names.append(bit)
    nat_rules = sum(len(c.rules) for t in net.nat for c in t.chains)
    counts = f"[dim]{len(net.routes)} routes, {nat_rules} NAT rules[/]"
    return ("; ".join(names) or "[dim]only lo[/]") + "  " + counts
