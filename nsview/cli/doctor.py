"""``nsview doctor``: what is broken in the host's namespace and container wiring.

Runs the checks of :mod:`nsview.analyze.doctor` over the live host (or a saved
snapshot with ``--load``) and prints each finding with its evidence and the
command that verifies or repairs it; nothing is ever changed. Exit status 1
when a finding is at or above ``--severity`` (default warning), else 0.
"""

from __future__ import annotations

import argparse
import sys

SEVERITIES = ("info", "warning", "error")  # as nsview.analyze.doctor.SEVERITIES (kept light)


def _only(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("no check named (e.g. --only veth-mtu-mismatch)")
    return names


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor",
        help="find broken namespace, link, routing and NAT wiring (shows fixes, runs none)",
        description="Run a catalogue of checks over the host (or a saved snapshot) and say "
        "what is broken, with the evidence and the command that verifies or repairs it. "
        "Exit status 1 when a finding is at or above --severity. Catalogue: docs/doctor.md.",
    )
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.add_argument("--load", metavar="FILE",
                   help="check a saved snapshot (nsview dump --json) or a fleet file "
                   "(nsview fleet collect: every host, and the overlays across them)")
    p.add_argument("--only", type=_only, metavar="CHECK,…",
                   help="run only these checks (ids as in --list)")
    p.add_argument("--severity", choices=SEVERITIES, default="warning",
                   help="show, and fail on, findings at or above this (default: warning)")
    p.add_argument("--list", action="store_true", help="list the checks and exit")
    p.add_argument("--proc", default="/proc", help=argparse.SUPPRESS)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nsview.analyze.doctor import at_or_above, catalogue, run_doctor, unknown_checks
    from nsview.analyze.doctor.fleet import FLEET_REGISTRY
    from nsview.errors import UsageError

    if args.list:
        for chk in catalogue():
            print(f"{chk.id:28} {chk.severity:8} {chk.family:11} {chk.summary}")
        for chk in sorted(FLEET_REGISTRY.values(), key=lambda c: c.id):
            print(f"{chk.id:28} {chk.severity:8} {'fleet':11} {chk.summary}")
        return 0
    if args.only:
        bad = [n for n in unknown_checks(args.only) if n not in FLEET_REGISTRY]
        if bad:
            raise UsageError(f"unknown check {', '.join(bad)} (see 'nsview doctor --list')")
    if args.load:
        from nsview.cli.tui_options import load_document_file
        from nsview.model.fleet import Fleet

        snapshot = load_document_file(args.load)
        if isinstance(snapshot, Fleet):
            return _run_fleet(args, snapshot)
    else:
        from nsview.cli.output import report_diagnostics
        from nsview.collect import CollectOptions, collect_snapshot

        snapshot = collect_snapshot(CollectOptions(args.proc, net=True, conntrack=True))
        report_diagnostics(snapshot)
    report = run_doctor(snapshot, args.only)
    shown = at_or_above(report.findings, args.severity)
    for check_id, error in report.failed.items():
        print(f"nsview: doctor check {check_id} failed (a bug): {error}", file=sys.stderr)
    if args.json:
        import json

        out = report.to_dict()
        out["findings"] = [f.to_dict() for f in shown]
        out["severity"] = args.severity
        out["hidden"] = len(report.findings) - len(shown)
        sys.stdout.write(json.dumps(out, indent=2 if sys.stdout.isatty() else None) + "\n")
    else:
        _print(report, shown, args.severity)
    return 1 if shown else 0


def _print_finding(f) -> None:
    print(f"{f.severity.upper():7}  {f.check}: {f.message}")
    for fact in f.evidence:
        print(f"         · {fact}")
    if f.fix:
        print(f"         fix: {f.fix}")


def _print(report, shown, severity: str) -> None:
    for f in shown:
        _print_finding(f)
    counts = {s: sum(1 for f in shown if f.severity == s) for s in reversed(SEVERITIES)}
    hidden = len(report.findings) - len(shown)
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no problems"
    tail = f"; {hidden} below {severity} not shown (--severity info)" if hidden else ""
    print(f"{summary} ({len(report.checked)} checks){tail}")


def _run_fleet(args: argparse.Namespace, fleet) -> int:
    """Every collected host's checks, then the cross-host ones; subjects name hosts."""
    from nsview.analyze.doctor import at_or_above
    from nsview.analyze.doctor.fleet import run_fleet_doctor

    result = run_fleet_doctor(fleet, args.only)
    findings = result.findings()
    shown = at_or_above(findings, args.severity)
    for host in result.hosts:
        if host.report is not None:
            for check_id, error in host.report.failed.items():
                print(f"nsview: {host.target}: doctor check {check_id} failed (a bug): {error}",
                      file=sys.stderr)
    if args.json:
        import json

        out = {
            "hosts": [{"target": h.target, "status": h.status, "error": h.error}
                      for h in result.hosts],
            "findings": [f.to_dict() for f in shown],
            "checked": result.checked,
            "severity": args.severity,
            "hidden": len(findings) - len(shown),
        }
        sys.stdout.write(json.dumps(out, indent=2 if sys.stdout.isatty() else None) + "\n")
        return 1 if shown else 0
    for host in result.hosts:
        if host.report is None:
            print(f"{host.target}: not collected ({host.error})")
    by_host: dict[str, list] = {}
    for f in shown:
        hosts = sorted({s.host for s in f.subjects if s.host})
        by_host.setdefault(hosts[0] if len(hosts) == 1 else "across hosts", []).append(f)
    for where, items in by_host.items():
        print(f"== {where}")
        for f in items:
            _print_finding(f)
    hidden = len(findings) - len(shown)
    ok = sum(1 for h in result.hosts if h.report is not None)
    summary = f"{len(shown)} finding{'s' if len(shown) != 1 else ''}" if shown else "no problems"
    tail = f"; {hidden} below {args.severity} not shown" if hidden else ""
    print(f"{summary} on {ok} of {len(result.hosts)} hosts ({len(result.checked)} checks){tail}")
    return 1 if shown else 0
