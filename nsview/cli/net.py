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

MAX_NAMES_LISTED = 8


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
    from nsview.collect.namespaces import Diagnostics, NamespaceTable
    from nsview.collect.network import collect_network
    from nsview.model import Holder, Namespace

    inode, path = _resolve_target(args.target, args.proc)
    snapshot = collect_snapshot(CollectOptions(proc=args.proc, net=False))
    if inode is None:
        inode, path = _resolve_known_name(args.target, snapshot)
    ns = snapshot.namespace("net", inode)
    if ns is None:
        # Held by nothing the walk saw (a bind mount in another mount namespace, say):
        # the path the user gave is the way in.
        ns = Namespace(type="net", inode=inode, holders=[Holder("bind_mount", path=path)])
        snapshot.namespaces.append(ns)
    diags = Diagnostics()
    diags.extend(snapshot.diagnostics)
    walk_blind_spots = len(snapshot.diagnostics)
    table = NamespaceTable.from_snapshot(snapshot, args.proc)
    collect_network(snapshot, table, diags, only=frozenset({inode}))
    snapshot.diagnostics = diags.items()
    # What the process walk could not see (PID 1's links, say) is dump's story;
    # here only what stood between us and this netns's network is worth a line.
    report_diagnostics(replace(snapshot, diagnostics=snapshot.diagnostics[walk_blind_spots:]))
    if ns.net is None:
        why = [d.reason for d in snapshot.diagnostics if f"net:[{inode}]" in d.reason]
        raise NsviewError(why[0] if why else f"could not read net:[{inode}] ({args.target})")
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


def _resolve_known_name(name: str, snapshot) -> tuple[int, str | None]:
    matches = [ns for ns in snapshot.namespaces if ns.type == "net" and name in ns.names]
    if len(matches) == 1:
        return matches[0].inode, None
    if len(matches) > 1:
        inodes = ", ".join(str(ns.inode) for ns in matches)
        raise UsageError(
            f"name {name!r} is used by several network namespaces ({inodes}); give a path"
        )
    known = sorted({n for ns in snapshot.namespaces if ns.type == "net" for n in ns.names})
    hint = (
        f" (known: {', '.join(known[:MAX_NAMES_LISTED])}"
        + (", …)" if len(known) > MAX_NAMES_LISTED else ")")
        if known
        else " (no named network namespaces)"
    )
    raise UsageError(f"no network namespace named {name!r}{hint}")
