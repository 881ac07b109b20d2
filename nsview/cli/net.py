"""``nsview net TARGET``: one network namespace from the inside.

TARGET is an ``ip netns`` name (or any name nsview knows the namespace by), a
path to an nsfs file (``/run/netns/x``, ``/proc/PID/ns/net``, a bind mount
anywhere), or a PID. Nothing is ever created: names and paths are only looked
up and opened read-only.
"""

from __future__ import annotations

import argparse
import os
import sys

from nsview.errors import NsviewError, UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "net",
        help="show one network namespace: interfaces, peers, routes, rules, NAT",
        description="Enter one network namespace and show how it is wired. "
        "Fields: docs/network.md.",
    )
    p.add_argument("target", metavar="TARGET", help="netns name, path to an nsfs file, or PID")
    p.add_argument("--json", action="store_true", help="print the namespace (with its net) as JSON")
    p.add_argument("--indent", type=int, default=None, metavar="N", help="indent JSON by N spaces")
    p.add_argument("--proc", default="/proc", help=argparse.SUPPRESS)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from nsview.cli.output import report_diagnostics
    from nsview.collect import CollectOptions, collect_snapshot
    from nsview.collect.network import NETWORK_DIAGNOSTICS
    from nsview.collect.target import NetTarget

    inode, path = _resolve_target(args.target, args.proc)
    target = NetTarget(inode, path) if inode is not None else NetTarget(name=args.target)
    early_walk = args.early_walk if args.proc == "/proc" else None  # see cli.main
    snapshot = collect_snapshot(
        CollectOptions(proc=args.proc, net=True, net_target=target, started_walk=early_walk)
    )
    ns = target.find(snapshot)
    # What the process walk could not see (PID 1's links, say) is dump's story;
    # here only what stood between us and this netns's network is worth a line.
    network = [d for d in snapshot.diagnostics if d.what in NETWORK_DIAGNOSTICS]
    report_diagnostics(replace(snapshot, diagnostics=network))
    if ns.net is None:
        why = [d.reason for d in network if f"net:[{ns.inode}]" in d.reason]
        raise NsviewError(why[0] if why else f"could not read net:[{ns.inode}] ({args.target})")
    if args.json:
        import json

        from nsview.model import to_dict

        indent = args.indent if args.indent is not None else (2 if sys.stdout.isatty() else None)
        sys.stdout.write(json.dumps(to_dict(ns), indent=indent, ensure_ascii=False) + "\n")
        return 0
    from nsview.analyze.lookup import Lookup
    from nsview.cli.net_render import namespace_view
    from nsview.cli.output import rich_console

    rich_console().print(namespace_view(ns, Lookup(snapshot)))
    return 0


def _resolve_target(spec: str, proc: str) -> tuple[int | None, str | None]:
    """(inode, path that opens it) for a PID, a path or an `ip netns` name, read the
    same way as ``nsview exec --target``; (None, None) for another name (Docker's
    sandbox ids, say), which only the snapshot knows."""
    from nsview.actions.names import NETNS_DIR
    from nsview.actions.targets import classify, resolve_target

    kind, value = classify(spec)
    if kind == "name" and not os.path.lexists(f"{NETNS_DIR}/{value}"):
        return None, None
    target = resolve_target(spec, proc)
    inode = target.namespaces.get("net")
    if inode is None:
        (have,) = target.namespaces
        raise UsageError(f"{target.describe()} is a {have} namespace, not a network namespace")
    return inode, target.path or f"{proc}/{target.pid}/ns/net"
