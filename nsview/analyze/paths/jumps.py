"""Paths in the TUI: which traces a row asks for (``p``), and where each hop jumps.

Pure: the TUI shows the traces and calls ``jump_to`` with the Relation of the
hop picked. A hop's ``ref`` (the JSON's list form) becomes a typed reference
(``analyze/refs.py``) and the view that shows it; what no view lists (a
sysctl, a chain policy's netns) leads to the network namespace's row.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from nsview.analyze import refs as R
from nsview.analyze.lookup import Lookup
from nsview.analyze.paths.engine import Tracer
from nsview.analyze.paths.result import Hop, Trace
from nsview.analyze.relations import Relation

MAX_QUESTIONS = 6  # traces one row opens (a container with many published ports)


@dataclass(frozen=True, slots=True)
class Question:
    """One trace to run: ``port`` (``port``/``proto`` arriving in ``netns``, for
    ``host_ip`` when set) or ``egress`` (out of ``netns``)."""

    kind: str
    netns: int
    port: int | None = None
    proto: str = "tcp"
    host_ip: str | None = None

    def run(self, tracer: Tracer) -> Trace:
        if self.kind == "port":
            return tracer.port(self.port or 0, self.proto, self.host_ip, self.netns)
        return tracer.egress(self.netns)


def questions_for(lk: Lookup, ref: R.Ref | None) -> list[Question]:
    """What ``p`` traces from a row: a DNAT rule its port; a socket its port (and the
    DNATs and published ports that lead to it); a container, process, netns or
    interface the ways into it and its way out."""
    out: list[Question] = []
    if isinstance(ref, R.GroupRef):
        return questions_for(lk, ref.of) if ref.of is not None else []
    if isinstance(ref, R.NatRuleRef) and ref.where == "nat":
        rule = R.resolve(lk, ref)
        q = _dnat_question(ref.netns, rule) if rule is not None else None
        if q is not None:
            return [q]
    socket = _socket_of(lk, ref)
    if socket is not None:
        netns, sock = socket
        out += _into(lk, netns, [sock])
        out.append(Question("port", netns, sock.port, _proto(sock), None))
    else:
        # Any other row in a netns (a rule, a route, an interface), a process, a netns.
        netns = _netns_of(lk, ref)
        if netns is not None:
            listening = _listening(lk, netns, ref)
            out += _into(lk, netns, listening)
            if not out:
                out += [Question("port", netns, s.port, _proto(s)) for s in listening]
            out.append(Question("egress", netns))
    return list(dict.fromkeys(out))[:MAX_QUESTIONS]


def traces_for(lk: Lookup, ref: R.Ref | None) -> list[Trace]:
    questions = questions_for(lk, ref)
    if not questions:
        return []
    tracer = Tracer(lk.snapshot)
    return [q.run(tracer) for q in questions if q.netns in tracer.idx.nets]


def hop_relation(lk: Lookup, hop: Hop) -> Relation | None:
    """Where picking ``hop`` jumps to, or None when it points at nothing shown."""
    ref = hop.ref or []
    kind = ref[0] if ref else None
    text = hop.description
    try:
        if kind in ("nat_rule", "filter_rule"):
            where = kind.split("_")[0]
            return Relation(text, R.NatRuleRef(ref[1], ref[2], ref[3], ref[4], where), "network")
        if kind in ("nat_chain", "filter_chain"):
            where = kind.split("_")[0]
            return Relation(text, R.NatChainRef(ref[1], ref[2], ref[3], where), "network")
        if kind == "route":
            return Relation(text, R.RouteRef(ref[1], ref[2]), "network")
        if kind == "iface":
            return Relation(text, R.InterfaceRef(ref[1], ref[2]), "network")
        if kind == "proc":
            return Relation(text, R.ProcessRef(ref[1]), "processes")
        if kind == "socket":
            return Relation(text, R.SocketRef(ref[1], ref[2]), "network")
    except (IndexError, TypeError):
        return None
    if hop.netns is not None:  # filter rules, sysctls, the netns itself
        return Relation(text, R.NamespaceRef("net", hop.netns), "network")
    return None


# -- helpers ---------------------------------------------------------------------


def _proto(sock) -> str:
    return "udp" if sock.proto.startswith("udp") else "tcp"


def _first_port(text: str | None) -> int | None:
    if not text:
        return None
    head = text.replace(":", "-").split(",")[0].split("-")[0].strip("{} ")
    return int(head) if head.isdigit() else None


def _dnat_question(netns: int, rule) -> Question | None:
    port = _first_port(rule.dport)
    if port is None or "dport" in (rule.negated or []):
        return None
    host_ip = None
    if rule.destination and "destination" not in (rule.negated or []):
        try:
            net = ipaddress.ip_network(rule.destination, strict=False)
        except ValueError:
            net = None
        if net is not None and net.num_addresses == 1:
            host_ip = str(net.network_address)
    proto = (rule.protocol or "tcp").lower()
    return Question("port", netns, port, proto if proto in ("tcp", "udp") else "tcp", host_ip)


def _socket_of(lk: Lookup, ref) -> tuple[int, object] | None:
    if not isinstance(ref, R.SocketRef):
        return None
    sock = R.resolve(lk, ref)
    return (ref.netns, sock) if sock is not None and sock.port else None


def _netns_of(lk: Lookup, ref) -> int | None:
    subject = getattr(ref, "subject", None)
    if isinstance(subject, R.NamespaceRef):
        return subject.inode if subject.type == "net" else None
    if isinstance(subject, R.ProcessRef):
        proc = lk.process(subject.pid)
        return proc.ns.get("net") if proc is not None else None
    container_ns = getattr(ref, "netns", None)  # a container row, when views list them
    return container_ns if isinstance(container_ns, int) else None


def _listening(lk: Lookup, netns: int, ref) -> list:
    """The netns's listeners; for a process row only those it holds."""
    net = lk.net(netns)
    if net is None:
        return []
    pid = ref.pid if isinstance(ref, R.ProcessRef) else None
    return [
        s
        for s in net.sockets
        if s.state in ("LISTEN", "UNCONN")
        and s.port
        and s.family != "unix"
        and (pid is None or pid in s.pids)
        and not (s.address or "").startswith("127.")
    ]


def _into(lk: Lookup, netns: int, sockets: list) -> list[Question]:
    """The ways into ``netns``: DNAT rules anywhere whose destination it owns, and
    ports its containers publish (traced from the netns the rule lives in)."""
    owned = {ip for ip, where in _owners(lk).items() if any(n == netns for n, _ in where)}
    ports = {s.port for s in sockets}
    out: list[Question] = []
    for ns in lk.netns:
        if ns.net is None:
            continue
        for table in ns.net.nat:
            for chain in table.chains:
                for rule in chain.rules:
                    if (rule.target or "").upper() != "DNAT" or not rule.to_destination:
                        continue
                    ip, _, port = rule.to_destination.rpartition(":")
                    ip = ip.strip("[]") or rule.to_destination
                    if ip not in owned or (ports and port.isdigit() and int(port) not in ports):
                        continue
                    q = _dnat_question(ns.inode, rule)
                    if q is not None:
                        out.append(q)
    host = next((ns.inode for ns in lk.netns if lk.is_initial(ns)), None)
    for c in lk.snapshot.containers:
        if c.ns.get("net") != netns or host is None:
            continue
        for m in c.ports:
            if m.host_port:
                out.append(
                    Question("port", host, m.host_port, m.protocol or "tcp", m.host_ip or None)
                )
    return out


def _owners(lk: Lookup) -> dict[str, list[tuple[int, int]]]:
    return lk.addresses
