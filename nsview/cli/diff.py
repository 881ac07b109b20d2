"""``nsview diff A.json [B.json]``: what changed between two snapshots.

B defaults to the live host. Exit status as diff(1): 0 when nothing changed,
1 when something did, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

CHANGES_PER_SECTION_SHOWN = 200


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff",
        help="what changed between two snapshots (B defaults to the live host)",
        description="Compare two 'nsview dump --json' snapshots: namespaces and containers "
        "that appeared or went, and in each network namespace the interfaces, addresses, "
        "routes, rules, NAT/filter rules, sockets and sysctls added, removed or changed. "
        "Exit status: 0 no change, 1 changes, 2 bad input.",
    )
    p.add_argument("a", metavar="A.json", help="the earlier snapshot")
    p.add_argument("b", metavar="B.json", nargs="?", help="the later snapshot (default: live host)")
    p.add_argument("--json", action="store_true", help="print the changes as JSON")
    p.add_argument("--indent", type=int, default=None, metavar="N", help="indent JSON by N spaces")
    p.add_argument("--proc", default="/proc", help=argparse.SUPPRESS)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nsview.analyze.diff import diff_snapshots

    a = _load(args.a)
    if args.b:
        b, b_origin = _load(args.b), args.b
    else:
        from nsview.cli.output import report_diagnostics
        from nsview.collect import CollectOptions, collect_snapshot

        b, b_origin = collect_snapshot(CollectOptions(args.proc)), "live"
        report_diagnostics(b)
    result = diff_snapshots(a, b, a_origin=args.a, b_origin=b_origin)
    if args.json:
        sys.stdout.write(json.dumps(diff_to_dict(result), indent=args.indent, ensure_ascii=False))
        sys.stdout.write("\n")
    else:
        print_diff(result, sys.stdout)
    return 0 if result.empty else 1


def _load(path: str):
    """A snapshot file; any problem with it is bad input (exit 2, as diff(1) says trouble)."""
    from nsview.cli.tui_options import load_snapshot_file
    from nsview.errors import NsviewError, UsageError

    try:
        return load_snapshot_file(path)
    except NsviewError as exc:
        raise UsageError(str(exc)) from None


def diff_to_dict(result) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        "a": asdict(result.a),
        "b": asdict(result.b),
        "processes": {"appeared": result.processes[0], "went": result.processes[1]},
        "notes": list(result.notes),
        "changes": [asdict(change) for change in result.changes],
    }


def print_diff(result, out: TextIO) -> None:
    from nsview.analyze.diff import SIGNS

    color = out.isatty()
    paint = {"+": "\x1b[32m", "-": "\x1b[31m", "~": "\x1b[33m"} if color else {}
    reset = "\x1b[0m" if color else ""
    out.write(f"A: {result.a.origin}  {result.a.collected_at}  {result.a.hostname}\n")
    out.write(f"B: {result.b.origin}  {result.b.collected_at}  {result.b.hostname}\n")
    for note in result.notes:
        out.write(f"note: {note}\n")
    appeared, went = result.processes
    if appeared or went:
        out.write(f"processes: {appeared} appeared, {went} went\n")
    if result.empty:
        out.write("no changes\n")
        return
    for heading, changes in _grouped(result.changes):
        out.write(f"\n{heading}\n")
        last_section = None
        for shown, change in enumerate(changes):
            if change.section != last_section and heading.startswith("netns "):
                out.write(f"  {change.section}\n")
                last_section = change.section
            if shown == CHANGES_PER_SECTION_SHOWN:
                out.write(f"    … {len(changes) - shown} more (use --json for all)\n")
                break
            sign = SIGNS[change.op]
            indent = "    " if heading.startswith("netns ") else "  "
            out.write(f"{indent}{paint.get(sign, '')}{sign} {_describe(change)}{reset}\n")


def _grouped(changes) -> list[tuple[str, list]]:
    """Namespaces first, then containers, then each netns's own changes."""
    groups: dict[str, list] = {}
    for change in changes:
        if change.section == "namespace":
            heading = "namespaces"
        elif change.section == "container":
            heading = "containers"
        else:
            scope = change.scope
            inode = scope.b_inode if scope.b_inode is not None else scope.a_inode
            heading = f"netns {scope.label} [{inode}]"
        groups.setdefault(heading, []).append(change)
    order = {"namespaces": 0, "containers": 1}
    return sorted(groups.items(), key=lambda item: (order.get(item[0], 2), item[0]))


def _describe(change) -> str:
    if change.op == "changed":
        if change.fields:
            parts = [
                f"{name}: {_value(change.before.get(name))} → {_value(change.after.get(name))}"
                for name in change.fields
            ]
            return f"{change.key}: " + ", ".join(parts)
        return f"{change.key}: {_value(change.before)} → {_value(change.after)}"
    record = change.after if change.op == "added" else change.before
    if change.section == "namespace":
        procs = ", ".join(record.get("processes", [])) or "no process"
        held = ", ".join(record.get("holders", []))
        return f"{change.key}  [{record['inode']}]  {procs}" + (
            f"  (held by {held})" if held else ""
        )
    if change.section == "interface" and isinstance(record, dict):
        bits = [record.get("kind") or "", record.get("operstate") or ""]
        if record.get("mtu"):
            bits.append(f"mtu {record['mtu']}")
        if record.get("peer"):
            bits.append(f"peer {record['peer'].get('name')}")
        return f"{change.key}  " + " ".join(b for b in bits if b)
    if change.section == "route" and isinstance(record, dict):
        via = f" via {record['gateway']}" if record.get("gateway") else ""
        dev = f" dev {record['dev']}" if record.get("dev") else ""
        return f"{change.key}{via}{dev}"
    if change.section == "sysctl":
        return f"{change.key} = {record}"
    if change.section == "container" and isinstance(record, dict):
        image = record.get("image")
        return change.key + (f"  image {image}" if image else "")
    return change.key


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "[]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} {_value(v)}" for k, v in value.items()) + "}"
    return str(value)
