"""Options of plain ``nsview`` (the TUI) and its launcher.

``nsview`` opens the TUI on a live collection, ``nsview --load snap.json`` on a
saved ``nsview dump --json``; ``--demo`` brings the lab up first and always
tears it down afterwards.
"""

from __future__ import annotations

import argparse
import sys

from nsview.cli import parsing

DEFAULT_INTERVAL = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("interactive view (no COMMAND)")
    group.add_argument(
        "--load",
        metavar="SNAP.json",
        help="open a snapshot saved with 'nsview dump --json' (or a fleet file from "
        "'nsview fleet collect': H picks the host) instead of reading this host",
    )
    group.add_argument(
        "--diff",
        metavar="B.json",
        help="with --load A.json: open B.json with what changed since A marked "
        "(+ appeared, ~ changed; c lists everything, removed too)",
    )
    group.add_argument(
        "--interval",
        type=parsing.seconds,
        metavar="SECONDS",
        default=None,
        help=f"refresh every SECONDS (0 = never; default {DEFAULT_INTERVAL:g}, or 0 with --load)",
    )
    group.add_argument(
        "--theme",
        metavar="NAME",
        help="colour theme (nsview-dark, nsview-light, nsview-contrast, or a file in "
        "~/.config/nsview/themes/NAME.toml)",
    )
    group.add_argument(
        "--demo",
        action="store_true",
        help="build the demo lab (namespaces, veths, bridge, NAT), open it, tear it down on exit",
    )
    group.add_argument(
        "--no-net",
        action="store_true",
        help="do not enter network namespaces (faster; the Network view stays empty)",
    )


def load_document_file(path: str):
    """The snapshot or fleet in ``path`` (a Snapshot or a Fleet), or NsviewError with
    one line saying what is wrong."""
    from nsview.errors import NsviewError
    from nsview.model import SchemaError, load_document

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise NsviewError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise NsviewError(
            f"{path}: not a text file (expected 'nsview dump --json' output)"
        ) from None
    try:
        return load_document(text)
    except SchemaError as exc:
        raise NsviewError(f"{path}: {exc}") from None


def load_snapshot_file(path: str):
    """The snapshot in ``path``, or NsviewError with one line saying what is wrong."""
    from nsview.errors import NsviewError
    from nsview.model.fleet import Fleet

    doc = load_document_file(path)
    if isinstance(doc, Fleet):
        raise NsviewError(f"{path} is a fleet file: this command reads one snapshot")
    return doc


def run(args: argparse.Namespace) -> int:
    from nsview.errors import UsageError

    if args.demo and args.load:
        raise UsageError("--demo and --load cannot be combined")
    if args.diff and not args.load:
        raise UsageError("--diff B.json needs --load A.json (the snapshot to compare with)")
    if args.demo:
        return _run_demo(args)
    return launch(args)


def _run_demo(args: argparse.Namespace) -> int:
    from nsview.lab import demo_session

    print("nsview: building the demo lab (torn down again when you quit)…", file=sys.stderr)
    # A lab that was already up (nsview lab up) is left up.
    with demo_session(keep_existing=True):
        return launch(args)


def launch(args: argparse.Namespace) -> int:
    from nsview.errors import UsageError
    from nsview.tui.factory import AppOptions, SnapshotSource, make_app
    from nsview.tui.themes import load_themes, resolve_theme

    themes = load_themes()
    theme, warnings = resolve_theme(args.theme, themes)
    for line in warnings:
        print(f"nsview: {line}", file=sys.stderr)
    if args.load:
        from nsview.model.fleet import Fleet

        document = load_document_file(args.load)
        if isinstance(document, Fleet):
            if args.diff:
                raise UsageError("--diff compares two snapshots, not fleet files")
            source = SnapshotSource.fleet_file(args.load, document)
        elif args.diff:
            source = SnapshotSource.file(args.diff, load_snapshot_file).with_diff_base(
                document, args.load
            )
        else:
            source = SnapshotSource.file(args.load, load_snapshot_file)
        interval = args.interval if args.interval is not None else 0.0
    else:
        source = SnapshotSource.host(net=not args.no_net)
        interval = args.interval if args.interval is not None else DEFAULT_INTERVAL
    options = AppOptions(
        source=source,
        interval=interval,
        theme=theme,
        themes=themes,
        startup_messages=tuple(warnings),
    )
    app = make_app(options)
    app.run()
    return app.return_code or 0
