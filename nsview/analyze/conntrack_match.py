"""Which conntrack entries concern a socket, a DNAT rule or an address (pure).

Conntrack is per network namespace: every function here looks at one netns's
:class:`~nsview.model.ConntrackTable` (the socket's, the rule's, the
interface's) and gives the positions in ``table.entries`` that match, in table
order. The table holds at most the collector's cap of entries whole, so on a
busy host the matches are among those (``table.truncated`` says so).

An entry's *original* tuple is the first packet as it arrived (before DNAT), its
*reply* tuple the answer as it is expected back (from the real destination, so
after DNAT ``reply.src`` is the translated address).
"""

from __future__ import annotations

import functools
import ipaddress

from nsview.analyze.paths.rulespec import ip_in, port_in
from nsview.model import ConntrackEntry, ConntrackTable, ConntrackTuple, NatRule, Socket

Endpoint = tuple[str, int | None]  # (normalised IP, port or None)

DETAIL_CAP = 20  # matching entries a detail pane lists whole; the rest are counted
# Entries the Network view lists under a netns's conntrack row (the rest are
# counted in one "… N more" row); only those are jump targets.
VIEW_ROWS = 100
JUMPS = 10  # entries offered as jump targets from a socket, rule or interface


# A table of 10 000 entries holds few distinct addresses: parsing each once keeps
# a detail pane on a busy host quick (the cursor moves over sockets and rules).
@functools.lru_cache(maxsize=1 << 16)
def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip


@functools.lru_cache(maxsize=1 << 16)
def norm_ip(text: str | None) -> str | None:
    """The address in its canonical text (``::ffff:1.2.3.4`` as ``1.2.3.4``, the
    procfs file's long IPv6 form compressed), or None."""
    if not text:
        return None
    ip = _ip(text)
    return str(ip) if ip is not None else None


def _src(t: ConntrackTuple) -> Endpoint:
    return norm_ip(t.src) or t.src, t.sport


def _dst(t: ConntrackTuple) -> Endpoint:
    return norm_ip(t.dst) or t.dst, t.dport


def base_proto(proto: str) -> str:
    """A socket's ``tcp6``/``udp6`` as conntrack names it (``tcp``/``udp``)."""
    return proto[:-1] if proto.endswith("6") else proto


def for_address(table: ConntrackTable | None, ip: str) -> list[int]:
    """Entries with ``ip`` anywhere in either tuple (source or destination)."""
    want = norm_ip(ip)
    if table is None or want is None:
        return []
    out = []
    for i, e in enumerate(table.entries):
        addrs = (e.original.src, e.original.dst, e.reply.src, e.reply.dst)
        # IPv4 texts from ctnetlink and procfs are already canonical; IPv6 from
        # procfs is written long, and either may be IPv4-mapped.
        if want in addrs or any(":" in a and norm_ip(a) == want for a in addrs):
            out.append(i)
    return out


def _wildcard(address: str | None) -> bool:
    return address in (None, "", "*", "0.0.0.0", "::")


def local_ips(net) -> set[str]:
    """Every address on the interfaces of a NetState (what a wildcard bind takes)."""
    return {
        ip
        for iface in net.interfaces
        for addr in iface.addresses
        if (ip := norm_ip(addr.cidr.split("/", 1)[0])) is not None
    }


def _local_matches(sock: Socket, end: Endpoint, local: set[str] | None) -> bool:
    """``end`` is the socket's local address and port (a wildcard bind takes any
    address of its family this netns owns, all of them when ``local`` is None,
    and ``::`` without v6only IPv4 too)."""
    ip, port = end
    if port != sock.port:
        return False
    if not _wildcard(sock.address):
        return ip == norm_ip(sock.address)
    if local is not None and ip not in local:
        return False
    is_v6 = ":" in (ip or "")
    if sock.family == "inet6":
        return is_v6 or sock.v6only is False
    return not is_v6


def for_socket(
    table: ConntrackTable | None, sock: Socket, local: set[str] | None = None
) -> list[int]:
    """Entries of ``sock``'s flows (``local``: the netns's addresses, see
    :func:`local_ips`; without it a wildcard bind takes any address, forwarded
    flows too).

    A connected socket: an entry with the socket's local and remote endpoints as
    the two ends of either tuple (either direction: it may have connected or
    been accepted). A listener or an unconnected UDP socket: entries arriving at
    its address and port, before DNAT (``original.dst``) or after
    (``reply.src``); an unconnected UDP socket's own sends (``original.src``) too.
    """
    if table is None or sock.family == "unix" or sock.port is None:
        return []
    proto = base_proto(sock.proto)
    remote = None
    if sock.remote_address and sock.remote_port is not None:
        remote = (norm_ip(sock.remote_address), sock.remote_port)
    out = []
    for i, e in enumerate(table.entries):
        if e.proto != proto:
            continue
        if remote is not None:
            hit = False
            for t in (e.original, e.reply):
                a, b = _src(t), _dst(t)
                if (_local_matches(sock, a, local) and b == remote) or (
                    _local_matches(sock, b, local) and a == remote
                ):
                    hit = True
                    break
        else:
            ends = [_dst(e.original), _src(e.reply)]
            if sock.state == "UNCONN":
                ends.append(_src(e.original))
            hit = any(_local_matches(sock, end, local) for end in ends)
        if hit:
            out.append(i)
    return out


def _split_nat_to(text: str) -> tuple[str | None, str | None]:
    """``10.0.0.2:80`` / ``[fd00::2]:80`` / ``10.0.0.2-10.0.0.5:80-90`` / ``10.0.0.2``
    -> (address part, port part)."""
    text = text.strip()
    if text.startswith("["):
        addr, _, rest = text[1:].partition("]")
        return addr, rest.lstrip(":") or None
    if text.count(":") == 1:
        addr, _, port = text.partition(":")
        return addr or None, port or None
    return text or None, None


def _translated(e: ConntrackEntry) -> bool:
    """The reply comes from somewhere else than the original went to: a DNAT (or
    REDIRECT) rewrote the destination."""
    return _dst(e.original) != _src(e.reply) or "DST_NAT" in e.status


def for_ref(lk, ref) -> list[int]:
    """The entries of the row ``ref`` names (a socket, a DNAT/REDIRECT rule, an
    interface's addresses) in its netns's table; [] for anything else or unread."""
    from nsview.analyze.refs import InterfaceRef, NatRuleRef, SocketRef, resolve

    if not isinstance(ref, (SocketRef, NatRuleRef, InterfaceRef)):
        return []
    net = lk.net(ref.netns)
    found = resolve(lk, ref)
    if net is None or net.conntrack is None or found is None:
        return []
    match ref:
        case SocketRef():
            return for_socket(net.conntrack, found, local_ips(net))
        case NatRuleRef():
            return for_dnat_rule(net.conntrack, found)
    hits: set[int] = set()
    for addr in found.addresses:
        hits.update(for_address(net.conntrack, addr.cidr.split("/", 1)[0]))
    return sorted(hits)


def for_dnat_rule(table: ConntrackTable | None, rule: NatRule) -> list[int]:
    """Entries a DNAT (or REDIRECT) rule made: translated flows whose reply comes
    from the rule's ``to-destination`` (address and port, where given), whose
    original destination port is in the rule's ``dport``, of its protocol and
    (unless negated) to its destination. Other rules match nothing."""
    target = (rule.target or "").upper()
    if table is None or target not in ("DNAT", "REDIRECT"):
        return []
    to_addr = to_port = None
    if target == "DNAT":
        if not rule.to_destination:
            return []
        to_addr, to_port = _split_nat_to(rule.to_destination)
    else:
        to_port = rule.to_ports
    proto = (rule.protocol or "").lower() if "protocol" not in rule.negated else ""
    out = []
    for i, e in enumerate(table.entries):
        if proto and base_proto(e.proto) != proto:
            continue
        if not _translated(e):
            continue
        reply_ip, reply_port = _src(e.reply)
        if to_addr:
            ip = _ip(reply_ip)
            if ip is None or not ip_in(ip, to_addr):
                continue
        if to_port and not port_in(reply_port, to_port):
            continue
        if rule.dport:
            inside = port_in(e.original.dport, rule.dport)
            if inside is None or inside == ("dport" in rule.negated):
                continue
        if rule.destination and "destination" not in rule.negated:
            dst = _ip(_dst(e.original)[0])
            if dst is None or not ip_in(dst, rule.destination):
                continue
        out.append(i)
    return out
