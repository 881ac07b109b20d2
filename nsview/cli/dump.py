"""``nsview dump``: the whole snapshot, as JSON for scripts or as a readable tree."""

from __future__ import annotations

import argparse
import sys

from nsview.cli import parsing


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dump",
        help="print the snapshot (namespaces, processes, network) as JSON or a tree",
        description="Collect every namespace and print it. JSON schema: docs/schema.md.",
    )
    p.add_argument("--json", action="store_true", help="print JSON (the stable schema)")
    p.add_argument("--no-net", action="store_true", help="skip entering network namespaces")
    p.add_argument(
        "--conntrack",
        action="store_true",
        help="read each network namespace's conntrack entries too (at most 10000 each)",
    )
    p.add_argument(
        "--no-containers",
        action="store_true",
        help="skip naming containers (cgroups and the engines' state, docs/containers.md)",
    )
    p.add_argument(
        "--type",
        dest="types",
        type=parsing.ns_types,
        metavar="TYPES",
        help="only these namespace types, comma-separated (e.g. net,pid)",
    )
    p.add_argument(
        "--pid",
        dest="pids",
        type=parsing.pid,
        action="append",
        metavar="PID",
        help="only this process and its namespaces (repeatable)",
    )
    p.add_argument(
        "--indent",
        type=int,
        default=None,
        metavar="N",
        help="indent JSON by N spaces (default: 2 on a terminal, compact otherwise)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--proc", default="/proc", help=argparse.SUPPRESS)  # tests point it elsewhere
    p.set_defaults(handler=run, exit_when_done=True)  # see cli.parser._exit_now


def run(args: argparse.Namespace) -> int:
    from nsview.analyze.filters import filter_snapshot
    from nsview.cli.output import open_output, report_diagnostics
    from nsview.collect import CollectOptions, collect_snapshot
    from nsview.errors import NsviewError
    from nsview.model import snapshot_to_json

    pids = tuple(args.pids) if args.pids else None
    want_net = not args.no_net and (args.types is None or "net" in args.types)
    # The walk main() began reads /proc; a test's --proc gets its own.
    early_walk = args.early_walk if args.proc == "/proc" else None
    options = CollectOptions(
        args.proc,
        net=want_net,
        net_pids=pids,
        types=args.types,  # the filters also shorten the walk
        detail_pids=pids,
        started_walk=early_walk,
        conntrack=args.conntrack,
        containers=not args.no_containers,
    )
    snapshot = collect_snapshot(options)
    report_diagnostics(snapshot)
    if pids is not None:
        seen = {p.pid for p in snapshot.processes}
        missing = [str(pid) for pid in pids if pid not in seen]
        if missing:
            raise NsviewError(f"no process {', '.join(missing)} (it may have exited)")
    if pids is not None or args.types is not None:
        snapshot = filter_snapshot(snapshot, types=args.types, pids=pids)
    with open_output(args.output) as out:
        if args.json:
            indent = args.indent
            if indent is None and out is sys.stdout and sys.stdout.isatty():
                indent = 2
            out.write(snapshot_to_json(snapshot, indent=indent))
            out.write("\n")
        else:
            from nsview.cli.render import print_snapshot

            print_snapshot(snapshot, out)
    return 0
