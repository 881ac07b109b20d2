"""``nsview net TARGET``: one network namespace from the inside.

TARGET is an ``ip netns`` name (or any name nsview knows the namespace by), a
path to an nsfs file (``/run/netns/x``, ``/proc/PID/ns/net``, a bind mount
anywhere), or a PID. Nothing is ever created: names and paths are only looked
up and opened read-only.
"""

from __future__ import annotations

import argparse
import errno
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
    from nsview.collect.namespaces import Diagnostics
    from nsview.collect.network import collect_network, openers_from_snapshot
    from nsview.model import Holder, Namespace

    inode, path = _resolve_path_or_pid(args.target, args.proc)
    snapshot = collect_snapshot(CollectOptions(proc=args.proc, net=False))
    if inode is None:
        inode, path = _resolve_name(args.target, snapshot)
    ns = snapshot.namespace("net", inode)
    openers = openers_from_snapshot(snapshot, args.proc)
    if ns is None:
        # Held by nothing the walk saw (a bind mount in another mount namespace, say):
        # the path the user gave is the way in.
        ns = Namespace(type="net", inode=inode, holders=[Holder("bind_mount", path=path)])
        snapshot.namespaces.append(ns)
    if path is not None:
        openers.openers.setdefault(("net", inode), []).insert(0, path)
    diags = Diagnostics()
    diags.extend(snapshot.diagnostics)
    walk_blind_spots = len(snapshot.diagnostics)
    collect_network(snapshot, openers, diags, only=frozenset({inode}))
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
    from nsview.analyze.index import SnapshotIndex
    from nsview.cli.net_render import namespace_view
    from nsview.cli.output import rich_console

    rich_console().print(namespace_view(ns, SnapshotIndex(snapshot)))
    return 0


def _resolve_path_or_pid(target: str, proc: str) -> tuple[int | None, str | None]:
    """(inode, path to open) for a PID or a path; (None, None) for a name."""
    if target.isdigit():
        path = f"{proc}/{int(target)}/ns/net"
        try:
            return os.stat(path).st_ino, path
        except FileNotFoundError:
            raise UsageError(f"no process {target}") from None
        except PermissionError:
            raise NsviewError(f"permission denied reading {path} (run as root)") from None
    if "/" in target or target in (".", ".."):
        return _nsfs_inode(target), target
    return None, None


def _nsfs_inode(path: str) -> int:
    from nsview.collect import nsfs

    try:
        # O_RDONLY without O_CREAT: a missing path is an error, never a new file.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise UsageError(f"{path}: no such file") from None
        raise NsviewError(f"{path}: {exc.strerror}") from None
    try:
        kind = nsfs.ns_type(fd)
        if kind is None:
            raise UsageError(f"{path} is not a namespace file")
        if kind != "net":
            raise UsageError(f"{path} is a {kind} namespace, not a network namespace")
        return os.fstat(fd).st_ino
    finally:
        os.close(fd)


def _resolve_name(name: str, snapshot) -> tuple[int, str | None]:
    matches = [ns for ns in snapshot.namespaces if ns.type == "net" and name in ns.names]
    if len(matches) == 1:
        return matches[0].inode, None
    if len(matches) > 1:
        inodes = ", ".join(str(ns.inode) for ns in matches)
        raise UsageError(
            f"name {name!r} is used by several network namespaces ({inodes}); give a path"
        )
    # `ip netns` names that the walk did not attach (a mount nsview could not read).
    path = f"/run/netns/{name}"
    if os.path.exists(path):
        return _nsfs_inode(path), path
    known = sorted({n for ns in snapshot.namespaces if ns.type == "net" for n in ns.names})
    hint = (
        f" (known: {', '.join(known[:MAX_NAMES_LISTED])}"
        + (", …)" if len(known) > MAX_NAMES_LISTED else ")")
        if known
        else " (no named network namespaces)"
    )
    raise UsageError(f"no network namespace named {name!r}{hint}")
