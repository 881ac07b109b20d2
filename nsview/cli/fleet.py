"""``nsview fleet collect TARGET…`` and ``nsview fleet show FLEET.json``."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from nsview.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fleet",
        help="collect many hosts over ssh or kubectl; show a fleet file",
        description="Collect snapshots of many hosts through the user's own ssh (or "
        "kubectl) and match their overlays. docs/fleet.md.",
    )
    fleet_sub = p.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)
    c = fleet_sub.add_parser(
        "collect",
        help="run the collector on each target and write one fleet file",
        description="Targets: ssh://[USER@]HOST[:PORT], any host or alias ssh accepts, "
        "k8s://[CONTEXT][/NODE,…], or @FILE (one target a line). Exit status: 0 when every "
        "host was collected, 1 when some failed (the others are still written), 2 bad input.",
    )
    c.add_argument("targets", nargs="+", metavar="TARGET")
    c.add_argument("-o", "--output", metavar="FILE", help="write the fleet here (default stdout)")
    c.add_argument(
        "--parallel",
        type=_positive_int,
        default=8,
        metavar="N",
        help="hosts collected at once (default 8)",
    )
    c.add_argument(
        "--timeout",
        type=_positive_float,
        default=120.0,
        metavar="S",
        help="give up on a host after S seconds (default 120)",
    )
    c.add_argument("--sudo", action="store_true", help="run the collector through 'sudo -n'")
    c.add_argument(
        "--ssh-config", metavar="FILE", help="ssh's -F: this config file instead of ~/.ssh/config"
    )
    c.add_argument(
        "--k8s-daemonset",
        action="store_true",
        help="k8s:// targets: exec into deploy/nsview-node.yaml's pods instead of 'kubectl debug'",
    )
    c.add_argument(
        "--no-net", action="store_true", help="do not enter network namespaces on the nodes"
    )
    c.set_defaults(handler=run_collect)
    s = fleet_sub.add_parser("show", help="hosts, tunnels and overlay networks of a fleet file")
    s.add_argument("file", metavar="FLEET.json")
    s.add_argument("--json", action="store_true", help="print tunnels and overlays as JSON")
    s.set_defaults(handler=run_show)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got {text!r}")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def run_collect(args: argparse.Namespace) -> int:
    from nsview.cli.output import open_output
    from nsview.fleet.collect import collect_fleet
    from nsview.fleet.targets import expand_targets
    from nsview.model.fleet import fleet_to_json

    targets = expand_targets(args.targets)
    with _progress(len(targets)) as progress:
        fleet = collect_fleet(
            targets,
            parallel=args.parallel,
            timeout=args.timeout,
            sudo=args.sudo,
            progress=progress,
            ssh_config=args.ssh_config,
            k8s_daemonset=args.k8s_daemonset,
            net=not args.no_net,
        )
    with open_output(args.output) as out:
        out.write(fleet_to_json(fleet, indent=2 if out is sys.stdout and out.isatty() else None))
        out.write("\n")
    failed = [h for h in fleet.hosts if h.status != "ok"]
    if not sys.stderr.isatty():  # on a terminal the progress rows said it already
        for host in failed:
            print(f"nsview: {host.target}: {host.error}", file=sys.stderr)
    if failed:
        ok = len(fleet.hosts) - len(failed)
        print(f"nsview: {ok} of {len(fleet.hosts)} hosts collected", file=sys.stderr)
    return 1 if failed else 0


class _progress:
    """A rich progress bar, one row per host, on a terminal; silence otherwise."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar = None
        self.rows: dict[str, int] = {}

    def __enter__(self):
        if not sys.stderr.isatty():
            return None
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.bar.start()
        return self.update

    def update(self, target: str, event: str, detail: str) -> None:
        bar = self.bar
        if target not in self.rows:
            self.rows[target] = bar.add_task(f"{target}: via {detail}", total=1)
        row = self.rows[target]
        if event == "ok":
            bar.update(row, completed=1, description=f"[green]{target}: collected[/]")
        elif event == "failed":
            bar.update(row, completed=1, description=f"[red]{target}: {detail}[/]")

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def run_show(args: argparse.Namespace) -> int:
    from nsview.analyze.overlay import match_overlays

    fleet = load_fleet_file(args.file)
    result = match_overlays(fleet)
    if args.json:
        import json

        sys.stdout.write(json.dumps(overlays_to_dict(fleet, result), indent=2) + "\n")
    else:
        print_fleet(fleet, result, sys.stdout)
    return 0


def load_fleet_file(path: str):
    from nsview.errors import NsviewError
    from nsview.model import SchemaError, load_document
    from nsview.model.fleet import Fleet

    try:
        with open(path, encoding="utf-8") as fh:
            doc = load_document(fh.read())
    except OSError as exc:
        raise NsviewError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (SchemaError, UnicodeDecodeError) as exc:
        raise NsviewError(f"{path}: {exc}") from None
    if not isinstance(doc, Fleet):
        raise UsageError(f"{path} is a snapshot, not a fleet file ('nsview fleet collect -o')")
    return doc


def _end_dict(end) -> dict:
    return {
        "host": end.host,
        "hostname": end.hostname,
        "netns": end.netns,
        "netns_label": end.netns_label,
        "interface": end.interface,
        "vni": end.vni,
        "port": end.port,
        "mtu": end.mtu,
        "local": sorted(end.locals),
        "remotes": sorted(end.remotes),
        "group": end.group,
    }


def overlays_to_dict(fleet, result) -> dict:
    return {
        "hosts": [
            {
                "target": h.target,
                "status": h.status,
                "error": h.error,
                "hostname": h.identity.hostname,
                "machine_id": h.identity.machine_id,
            }
            for h in fleet.hosts
        ],
        "tunnels": [
            {"a": _end_dict(t.a), "b": _end_dict(t.b), "how": t.how, "evidence": list(t.evidence)}
            for t in result.tunnels
        ],
        "overlays": [
            {"vni": o.vni, "hosts": o.hosts, "ends": [_end_dict(e) for e in o.ends]}
            for o in result.overlays
        ],
        "unknown_remotes": [{"end": _end_dict(e), "remote": r} for e, r in result.unknown_remotes],
        "mismatched": [
            {"a": _end_dict(a), "b": _end_dict(b), "why": why} for a, b, why in result.mismatched
        ],
    }


def print_fleet(fleet, result, out: TextIO) -> None:
    out.write(f"fleet collected {fleet.collected_at}: {len(fleet.hosts)} hosts\n")
    for host in fleet.hosts:
        if host.status == "ok":
            snap = host.snapshot
            nets = sum(1 for ns in snap.namespaces if ns.type == "net")
            out.write(
                f"  ok      {host.target}  {host.identity.hostname}  "
                f"{len(snap.processes)} processes, {nets} netns\n"
            )
        else:
            out.write(f"  failed  {host.target}  {host.error}\n")
    out.write("tunnels\n" if result.tunnels else "tunnels: none matched\n")
    for tunnel in result.tunnels:
        out.write(
            f"  VNI {tunnel.a.vni}  {tunnel.a.label}  <->  {tunnel.b.label}  ({tunnel.how})\n"
        )
    for overlay in result.overlays:
        members = ", ".join(end.label for end in overlay.ends)
        out.write(f"overlay VNI {overlay.vni} on {len(overlay.hosts)} hosts: {members}\n")
    for end, remote in result.unknown_remotes:
        out.write(f"  ! {end.label} sends to {remote}, which no collected host owns\n")
    for a, b, why in result.mismatched:
        out.write(f"  ! {a.label} and {b.label} point at each other but {why}\n")
