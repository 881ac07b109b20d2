"""Forwarding and NAT checks: ip_forward, egress without SNAT, DNAT targets, split brain."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from nsview.analyze.doctor.base import Context, Finding, Subject, check, ip_of, ipv4_interfaces
from nsview.analyze.doctor.natwalk import egress_snat
from nsview.model import Interface, Namespace, NatChain, NatRule, NatTable

NFT_BACKENDS = ("iptables-nft", "nftables")


def iter_rules(ns: Namespace) -> Iterator[tuple[NatTable, NatChain, NatRule]]:
    for table in ns.net.nat:
        for chain in table.chains:
            for rule in chain.rules:
                yield table, chain, rule


def delete_command(ctx: Context, inode: int, table: NatTable, chain: NatChain,
                   rule: NatRule) -> str:
    """The command that removes ``rule`` (shown, never run)."""
    enter = ctx.enter(inode)
    if table.backend == "nftables":
        handle = rule.handle if rule.handle is not None else "<handle: nft -a list chain>"
        return f"{enter}nft delete rule {table.family} {table.table} {chain.name} handle {handle}"
    tool = {"iptables-legacy": "iptables-legacy", "iptables-nft": "iptables-nft"}.get(
        table.backend, "iptables")
    if table.family == "ipv6":
        tool = tool.replace("iptables", "ip6tables")
    text = rule.text
    if text.startswith("-A "):
        return f"{enter}{tool} -t {table.table} -D {text[3:]}"
    return f"{enter}{tool} -t {table.table} -L {chain.name} --line-numbers   # then -D"


def _routes_via(ctx: Context, inode: int, gateways: set) -> bool:
    ns = ctx.net_by_inode.get(inode)
    return ns is not None and ns.net is not None and any(
        ip_of(r.gateway) in gateways for r in ns.net.routes if r.table != "local")


def _gateway_bridges(ctx: Context, ns: Namespace) -> list[tuple[Interface, list]]:
    """Bridges this netns routes for: an IPv4 address that namespaces behind its ports
    use as their gateway. (bridge, [(netns, iface) behind it])."""
    out = []
    for br in ns.net.interfaces:
        if br.bridge is None or not ipv4_interfaces(br):
            continue
        gws = {a.ip for a in ipv4_interfaces(br)}
        behind = []
        for port in ctx.ports(ns.inode, br):
            far = ctx.peer(ns.inode, port)
            if far is not None and far[0] != ns.inode:
                behind.append(far)
        if any(_routes_via(ctx, n, gws) for n, _ in behind):
            out.append((br, behind))
    return out


def _own(ns: Namespace, ip) -> bool:
    return ip.is_loopback or any(
        a.ip == ip for i in ns.net.interfaces for a in ipv4_interfaces(i))


@check("forwarding-disabled", "error", "forwarding",
       "bridges or DNAT that need routing in a netns with ip_forward=0")
def forwarding_disabled(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.nets:
        if ns.net.sysctls.get("net.ipv4.ip_forward") != "0":
            continue
        subjects, evidence = [], ["net.ipv4.ip_forward=0"]
        for br, behind in _gateway_bridges(ctx, ns):
            if not _leaves_host(ns, br.name):
                continue  # nowhere else to route to: the bridge's own subnet is all there is
            subjects.append(Subject(ns.inode, br.name))
            evidence.append(f"bridge {br.name} ({', '.join(str(a) for a in ipv4_interfaces(br))})"
                            f" is the gateway of {len(behind)} netns")
        for _table, chain, rule in iter_rules(ns):
            ip = ip_of(rule.to_destination)
            if (rule.target or "").upper() == "DNAT" and ip is not None and not _own(ns, ip):
                subjects.append(Subject(ns.inode, rule=rule.text))
                evidence.append(f"{chain.name}: {rule.text}")
        if not subjects:
            continue
        yield Finding(
            "forwarding-disabled", "error", subjects,
            f"{ctx.label(ns.inode)} has ip_forward=0, so it does not route for the "
            "namespaces behind its bridges or its DNAT targets.",
            evidence, f"{ctx.enter(ns.inode)}sysctl -w net.ipv4.ip_forward=1")


def _leaves_host(ns: Namespace, bridge: str) -> bool:
    """Whether the netns has some route out by another interface than ``bridge``."""
    return any(r.table != "local" and r.family == "inet" and r.dev and r.dev != bridge
               and r.dev != "lo" for r in ns.net.routes)


OUTSIDE_ADDRESS = ipaddress.IPv4Address("203.0.113.1")  # "anywhere else" (TEST-NET-3)


def _forwarded_out(ns: Namespace, src, bridge: str) -> bool:
    """Whether FORWARD lets a new connection from ``src`` behind ``bridge`` out by the
    host's exit. False when a chain drops it (Docker's --internal networks: isolation
    rules, no NAT on purpose) or nsview cannot tell; True without filter tables."""
    from nsview.analyze.doctor.natwalk import exit_device
    from nsview.analyze.doctor.packet import Packet, verdict

    exit_dev = exit_device(ns.net, bridge)
    pkt = Packet(src=src, dst=OUTSIDE_ADDRESS, proto="tcp", dport=443, in_iface=bridge,
                 out_iface=exit_dev or "\0outside")
    for _table, chain, chains in _forward_chains(ns):
        result, _why = verdict(chain, chains, pkt)
        if result is None or result in ("DROP", "REJECT"):
            return False
        if result == "RETURN" and (chain.policy or "ACCEPT").upper() == "DROP":
            return False
    return True


@check("egress-without-snat", "warning", "forwarding",
       "a container subnet that leaves the host without MASQUERADE/SNAT")
def egress_without_snat(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.nets:
        if ns.net.sysctls.get("net.ipv4.ip_forward") != "1":
            continue
        for br, behind in _gateway_bridges(ctx, ns):
            if not _leaves_host(ns, br.name):
                continue
            gws = {a.ip for a in ipv4_interfaces(br)}
            nets = [a.network for a in ipv4_interfaces(br)]
            bare = []
            for c_ns, c_if in behind:
                c = ctx.net_by_inode.get(c_ns)
                if c is None or c.net is None:
                    continue
                via_us = any(r.dst in ("default", "0.0.0.0/0") and ip_of(r.gateway) in gws
                             for r in c.net.routes)
                if not via_us:
                    continue  # it does not try to leave through us (an --internal network)
                for a in ipv4_interfaces(c_if):
                    if not any(a.ip in n for n in nets) or not _forwarded_out(ns, a.ip, br.name):
                        continue
                    if egress_snat(ns.net, a.ip, br.name) is None:
                        bare.append((c_ns, c_if, a.ip))
            if not bare:
                continue
            subnet = ", ".join(str(n) for n in nets)
            yield Finding(
                "egress-without-snat", "warning",
                [Subject(ns.inode, br.name)] + [Subject(n, i.name) for n, i, _ in bare],
                f"{subnet} behind {br.name} in {ctx.label(ns.inode)} leaves the host without "
                "MASQUERADE/SNAT, so replies to its private addresses never come back.",
                [f"{ip} ({ctx.where(n, i.name)}) routes out via {br.name}; no POSTROUTING rule "
                 "source-NATs it" for n, i, ip in bare],
                f"{ctx.enter(ns.inode)}iptables -t nat -A POSTROUTING -s {nets[0]} ! -o {br.name} "
                "-j MASQUERADE")


@check("dnat-to-unowned-address", "error", "forwarding",
       "a DNAT to an address on a local subnet that no netns has")
def dnat_to_unowned(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.nets:
        for table, chain, rule in iter_rules(ns):
            if (rule.target or "").upper() != "DNAT":
                continue
            ip = ip_of(rule.to_destination)
            if not isinstance(ip, ipaddress.IPv4Address) or ip.is_loopback:
                continue
            if ip in ctx.ipv4_owners:
                continue
            local = [n for n in ctx.connected_v4 if ip in n]
            if not local:
                continue  # routed elsewhere (another node's pod, say): not ours to judge
            yield Finding(
                "dnat-to-unowned-address", "error", [Subject(ns.inode, rule=rule.text)],
                f"{ctx.label(ns.inode)} DNATs to {rule.to_destination}, but no interface on "
                f"this host has {ip}.",
                [f"{table.backend} {table.table} {chain.name}: {rule.text}",
                 f"{ip} is inside {local[0]}, a subnet on this host; nobody owns it"],
                delete_command(ctx, ns.inode, table, chain, rule))


def _backend_group(backend: str) -> str:
    return "nftables" if backend in NFT_BACKENDS else backend


@check("iptables-split-brain", "warning", "forwarding",
       "rules for the same hook in both iptables-legacy and nftables")
def split_brain(ctx: Context) -> Iterator[Finding]:
    for ns in ctx.nets:
        hooks: dict[tuple[str, str], dict[str, list[str]]] = {}
        for table in [*ns.net.nat, *ns.net.filter]:
            for chain in table.chains:
                if not chain.hook or not (chain.rules or (chain.policy or "").upper() == "DROP"):
                    continue
                fam = "ipv6" if table.family in ("ipv6", "ip6") else "ipv4"
                where = f"{table.backend} {table.family} {table.table} {chain.name}"
                hooks.setdefault((fam, chain.hook.lower()), {}).setdefault(
                    _backend_group(table.backend), []).append(
                        f"{where}: {len(chain.rules)} rules, policy {chain.policy or '-'}")
        for (fam, hook), groups in sorted(hooks.items()):
            if "iptables-legacy" not in groups or "nftables" not in groups:
                continue
            yield Finding(
                "iptables-split-brain", "warning", [Subject(ns.inode)],
                f"{ctx.label(ns.inode)} has {fam} {hook} rules in both iptables-legacy and "
                "nftables; both run, and each tool shows only half.",
                groups["iptables-legacy"] + groups["nftables"],
                f"{ctx.enter(ns.inode)}iptables-legacy-save; {ctx.enter(ns.inode)}nft list ruleset")


def _dnat_target(rule: NatRule) -> tuple[ipaddress.IPv4Address, int | None] | None:
    """(address, port) a DNAT rule sends to; the port is the rule's own when the
    target keeps it; None for ranges and IPv6."""
    if (rule.target or "").upper() != "DNAT":
        return None
    ip = ip_of(rule.to_destination)
    if not isinstance(ip, ipaddress.IPv4Address):
        return None
    text = rule.to_destination or ""
    port_text = text.rsplit(":", 1)[1] if text.count(":") == 1 else (rule.dport or "")
    return ip, int(port_text) if port_text.isdigit() else None


def _sockets_read(ctx: Context) -> bool:
    return any(ns.net.sockets or ns.net.socket_summary for ns in ctx.nets)


def _listens(ns: Namespace, proto: str, ip, port: int) -> bool:
    want = ("tcp", "tcp6") if proto == "tcp" else ("udp", "udp6")
    for s in ns.net.sockets:
        if s.proto not in want or s.port != port:
            continue
        if proto == "tcp" and s.state != "LISTEN":
            continue
        if s.address in (str(ip), "0.0.0.0") or (s.address == "::" and s.v6only is False):
            return True
    return False


@check("dnat-no-listener", "warning", "forwarding",
       "a DNAT to an address:port that nothing in the owning netns listens on")
def dnat_no_listener(ctx: Context) -> Iterator[Finding]:
    if not _sockets_read(ctx):
        return
    for ns in ctx.nets:
        for table, chain, rule in iter_rules(ns):
            got = _dnat_target(rule)
            if got is None or got[1] is None:
                continue
            ip, port = got
            proto = (rule.protocol or "tcp").lower()
            if proto not in ("tcp", "udp"):
                continue
            owners = ctx.ipv4_owners.get(ip, [])
            if _own(ns, ip):  # to itself (loopback, its own address): nobody else
                owners = [(ns.inode, next((n for i, n in owners if i == ns.inode), "lo"))]
            for owner_inode, name in owners:
                owner = ctx.net_by_inode.get(owner_inode)
                if owner is None or owner.net is None or owner.net.socket_summary is not None:
                    continue  # sockets capped: an absent listener proves nothing
                if _listens(owner, proto, ip, port):
                    continue
                yield Finding(
                    "dnat-no-listener", "warning",
                    [Subject(ns.inode, rule=rule.text), Subject(owner_inode, name)],
                    f"{ctx.label(ns.inode)} DNATs to {ip}:{port}/{proto}, but nothing in "
                    f"{ctx.label(owner_inode)} listens on port {port}.",
                    [f"{table.backend} {table.table} {chain.name}: {rule.text}",
                     f"{ip} is on {ctx.where(owner_inode, name)}",
                     f"{len(owner.net.sockets)} sockets there, none {proto} on {port}"],
                    f"{ctx.enter(owner_inode)}ss -ltnup   # is the service up, on port {port}?")


def _forward_chains(ns: Namespace):
    for table in ns.net.filter:
        chains = {c.name: c for c in table.chains}
        for chain in table.chains:
            hook = (chain.hook or "").lower()
            if hook == "forward" or (chain.name == "FORWARD" and table.table == "filter"):
                yield table, chain, chains


@check("forward-drop-published", "error", "forwarding",
       "FORWARD drops new connections to a published port (no accept for its bridge)")
def forward_drop_published(ctx: Context) -> Iterator[Finding]:
    from nsview.analyze.doctor.packet import Packet, verdict

    for ns in ctx.nets:
        if not ns.net.filter:
            continue
        published = []
        for _table, _chain, rule in iter_rules(ns):
            got = _dnat_target(rule)
            if got is None or _own(ns, got[0]):
                continue
            out = next((i for i in ns.net.interfaces for a in ipv4_interfaces(i)
                        if got[0] in a.network and i.kind != "loopback"), None)
            if out is not None:
                published.append((rule, got, out))
        for table, chain, chains in _forward_chains(ns):
            for rule, (ip, port), out in published:
                pkt = Packet(dst=ip, proto=(rule.protocol or "tcp").lower(), dport=port,
                             out_iface=out.name)
                result, why = verdict(chain, chains, pkt)
                if result == "RETURN":
                    if (chain.policy or "ACCEPT").upper() != "DROP":
                        continue
                    how = f"falls through to {chain.name}'s policy DROP"
                elif result in ("DROP", "REJECT"):
                    how = f"is dropped by '{why.text}'"
                else:
                    continue
                yield Finding(
                    "forward-drop-published", "error",
                    [Subject(ns.inode, out.name), Subject(ns.inode, rule=rule.text)],
                    f"a new connection to the published {ip}:{port} via {out.name} in "
                    f"{ctx.label(ns.inode)} {how}.",
                    [f"nat: {rule.text}",
                     f"{table.backend} {table.table} {chain.name}: policy {chain.policy}, "
                     f"{len(chain.rules)} rules"] + ([f"dropped by: {why.text}"] if why else []),
                    f"{ctx.enter(ns.inode)}iptables -I FORWARD -d {ip}/32 -o {out.name} -p "
                    f"{pkt.proto} --dport {port} -j ACCEPT")
