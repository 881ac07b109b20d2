"""``nsview trace port|egress``: where a port goes, and why a container can or
cannot get out — every hop with its evidence (docs/trace.md).

The answer is computed from a snapshot (``nsview.analyze.paths``), so
``--load snap.json`` answers the same question about another machine.
"""

from __future__ import annotations

import argparse
import os
import sys

from nsview.errors import NsviewError, UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "trace",
        help="trace a port to its listener, or a container's way out, hop by hop",
        description="Follow a new connection through routes, NAT, filter rules, veths and "
        "bridges to the socket that takes it, from a snapshot. Details: docs/trace.md.",
    )
    what = p.add_subparsers(dest="trace_kind", metavar="port|egress", parser_class=type(p))
    what.required = True

    port = what.add_parser(
        "port",
        help="where [HOST_IP:]PORT[/tcp|udp] goes when it arrives in a namespace",
        description="Every path a connection to PORT takes: from outside and from the "
        "namespace itself (loopback), through DNAT, the route, FORWARD, the bridge and "
        "veth, to whoever listens.",
    )
    port.add_argument("spec", metavar="[HOST_IP:]PORT[/tcp|udp]")
    port.add_argument(
        "--from",
        dest="source",
        metavar="TARGET",
        help="the namespace the traffic arrives in (default: the host); with HOST_IP it "
        "does not own, the namespace it is sent from",
    )
    _common(port)

    egress = what.add_parser(
        "egress",
        help="why TARGET can or cannot reach an address outside",
        description="The default route, the gateway's namespace, ip_forward there, the "
        "FORWARD verdict, the SNAT/MASQUERADE that applies, and the first hop that blocks.",
    )
    egress.add_argument(
        "target", metavar="TARGET", help="netns name, container, PID, net:[INODE] or nsfs path"
    )
    egress.add_argument("--to", metavar="IP", help="the address to reach (default: one outside)")
    egress.add_argument("--port", type=int, metavar="PORT", help="destination port (TCP)")
    _common(egress)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the paths as JSON")
    p.add_argument(
        "--load",
        metavar="FILE",
        help="trace in a saved 'nsview dump --json', or in a fleet file "
        "('nsview fleet collect': across hosts, through their tunnels)",
    )
    p.add_argument(
        "--host",
        metavar="HOST",
        help="with a fleet file: the host the trace starts on (target or hostname)",
    )
    p.add_argument("--indent", type=int, default=None, metavar="N", help="indent JSON by N")
    p.add_argument("--proc", default="/proc", help=argparse.SUPPRESS)
    p.set_defaults(handler=run)


def parse_port_spec(spec: str) -> tuple[str | None, int, str]:
    """'8080' / '8080/udp' / '127.0.0.1:8080/tcp' / '[::1]:53/udp' -> (ip, port, proto)."""
    text, proto = spec, "tcp"
    if "/" in text:
        text, _, proto = text.rpartition("/")
        proto = proto.lower()
        if proto not in ("tcp", "udp"):
            raise UsageError(f"protocol must be tcp or udp, not {proto!r}")
    host: str | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        text = rest.lstrip(":")
    elif ":" in text:
        host, _, text = text.rpartition(":")
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"not a port: {spec!r} (expected [HOST_IP:]PORT[/tcp|udp])")
    if host is not None:
        import ipaddress

        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise UsageError(f"not an IP address: {host!r}") from None
    return host or None, int(text), proto


def run(args: argparse.Namespace) -> int:
    from nsview.analyze.paths import TraceError, Tracer

    if args.trace_kind == "port":
        host_ip, port, proto = parse_port_spec(args.spec)
    elif args.to is not None:
        from nsview.cli.trace_render import check_ip

        check_ip(args.to)
    if args.load:
        from nsview.cli.tui_options import load_document_file
        from nsview.model.fleet import Fleet

        document = load_document_file(args.load)
        if isinstance(document, Fleet):
            return _run_fleet(args, document)
    elif args.host:
        raise UsageError("--host picks a host of a fleet file (--load FLEET.json)")
    snapshot = _snapshot(args)
    tracer = Tracer(snapshot)
    try:
        if args.trace_kind == "port":
            netns = resolve_netns(snapshot, args.source, args.load is None) if args.source else None
            trace = tracer.port(port, proto, host_ip, netns)
        else:
            netns = resolve_netns(snapshot, args.target, args.load is None)
            trace = tracer.egress(netns, args.to, "tcp", args.port)
    except TraceError as exc:
        raise NsviewError(str(exc)) from None
    if args.json:
        _print_json(trace, args.indent)
        return 0
    from nsview.cli.output import rich_console
    from nsview.cli.trace_render import render_trace

    rich_console().print(render_trace(trace, tracer.idx), end="")
    return 0


def _print_json(trace, indent: int | None) -> None:
    import json

    from nsview.model import to_dict

    indent = indent if indent is not None else (2 if sys.stdout.isatty() else None)
    sys.stdout.write(json.dumps(to_dict(trace), indent=indent, ensure_ascii=False) + "\n")


def _run_fleet(args: argparse.Namespace, fleet) -> int:
    """A trace over a fleet: starts on --host, follows tunnels to other hosts."""
    from nsview.analyze import fleet_trace
    from nsview.analyze.index import SnapshotIndex
    from nsview.analyze.paths import TraceError

    host = _fleet_host(fleet, args.host)
    try:
        if args.trace_kind == "port":
            host_ip, port, proto = parse_port_spec(args.spec)
            if args.source:
                netns = resolve_netns(host.snapshot, args.source, False)
            else:
                netns = next(
                    (inode for t, inode in SnapshotIndex(host.snapshot).initial if t == "net"), None
                )
                if netns is None:
                    raise UsageError(f"{host.target}: no host netns in its snapshot; use --from")
            trace = fleet_trace.trace_port(fleet, host, netns, port, proto, host_ip)
        else:
            netns = resolve_netns(host.snapshot, args.target, False)
            trace = fleet_trace.trace_egress(fleet, host, netns, args.to, "tcp", args.port)
    except TraceError as exc:
        raise NsviewError(str(exc)) from None
    if args.json:
        _print_json(trace, args.indent)
        return 0
    for path in trace.paths:
        print(f"{path.arrival}: {path.verdict}  {path.summary}")
        for hop in path.hops:
            where = f"[{hop.host}] " if hop.host else ""
            print(f"  {hop.kind:9} {where}{hop.description}")
            if hop.evidence:
                print(f"            {hop.evidence}")
        if path.listener is not None:
            lst = path.listener
            print(f"  listener  [{lst.host}] {lst.address}:{lst.port} pids {lst.pids}")
    for note in trace.notes:
        print(f"note: {note}")
    return 0


def _fleet_host(fleet, wanted: str | None):
    ok = fleet.ok_hosts()
    if wanted is None:
        if len(ok) == 1:
            return ok[0]
        names = ", ".join(h.target for h in ok)
        raise UsageError(
            f"a fleet file: say which host the trace starts on (--host; one of {names})"
        )
    for host in fleet.hosts:
        if wanted in (host.target, host.identity.hostname):
            if host.snapshot is None:
                raise UsageError(f"host {wanted} was not collected: {host.error}")
            return host
    raise UsageError(
        f"no host {wanted!r} in the fleet (hosts: {', '.join(h.target for h in fleet.hosts)})"
    )


def _snapshot(args: argparse.Namespace):
    if args.load:
        from nsview.cli.tui_options import load_snapshot_file

        return load_snapshot_file(args.load)
    from nsview.cli.output import report_diagnostics
    from nsview.collect import CollectOptions, collect_snapshot

    snapshot = collect_snapshot(CollectOptions(proc=args.proc))
    # Only what hides part of the network is worth a line here.
    shown = [d for d in snapshot.diagnostics if d.what in ("netns", "nat", "sockets", "filter")]
    if shown:
        from dataclasses import replace

        report_diagnostics(replace(snapshot, diagnostics=shown))
    return snapshot


def resolve_netns(snapshot, spec: str, live: bool) -> int:
    """The network namespace ``spec`` names in ``snapshot``: a PID, ``net:[INODE]`` or
    an inode, ``host``, a container / pod / netns name (``model.targets``: the same
    names as ``nsview net`` and ``exec``), or (live) a path to an nsfs file.
    UsageError, one line, when nothing or several match."""
    from nsview.analyze.paths.topology import NetIndex
    from nsview.model.targets import TargetError, find_name

    idx = NetIndex(snapshot)
    nets = {ns.inode for ns in snapshot.namespaces if ns.type == "net"}
    text = spec.strip()
    if text.startswith("net:[") and text.endswith("]"):
        text = text[5:-1]
    if text.isdigit():
        number = int(text)
        proc = idx.process(number)
        if proc is not None and "net" in proc.ns:
            return proc.ns["net"]
        if number in nets:
            return number
        raise UsageError(f"no process or network namespace {spec} in the snapshot")
    if text == "host" and idx.host_netns is not None:
        return idx.host_netns
    try:
        match = find_name(snapshot, text)
    except TargetError as exc:
        if live and text.startswith("/") and os.path.exists(text):
            inode = os.stat(text).st_ino
            if inode in nets:
                return inode
            raise UsageError(f"{spec} is not a network namespace nsview found") from None
        raise UsageError(str(exc)) from None
    inode = match.netns_inode()
    if inode is None:
        raise UsageError(f"{match.what} has no network namespace in the snapshot")
    return inode
