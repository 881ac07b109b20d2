"""The argument parser and the run of one parsed command (see nsview.cli.main)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from nsview import __version__
from nsview.errors import NsviewError

if TYPE_CHECKING:
    from nsview.collect.parallel import SharedWalk

SUBCOMMAND_MODULES = (
    "dump",
    "net",
    "trace",
    "diff",
    "doctor",
    "fleet",
    "actions",
    "lab",
)


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit 2) instead of usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter per add_argument, and without a width each
        # imports shutil (with zlib, bz2, lzma: ~4 ms of every start) to ask it.
        return self.formatter_class(prog=self.prog, width=_help_width())


def _help_width() -> int:
    """The width argparse would use: $COLUMNS, else the terminal's, else 80; minus 2."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


def build_parser(command: str | None = None) -> Parser:
    """The whole command line; with ``command`` (a sub-command that is also its
    module's name, e.g. "dump"), only that sub-command is registered: parsing
    ``nsview dump …`` then skips building the others (~2 ms of every start)."""
    parser = Parser(
        prog="nsview",
        description="Inspect Linux namespaces: processes, hidden namespaces, network wiring, NAT.",
    )
    parser.add_argument("--version", action="version", version=f"nsview {__version__}")
    from nsview.cli import tui_options

    tui_options.add_arguments(parser)
    parser.set_defaults(handler=tui_options.run)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    names = [command] if command in SUBCOMMAND_MODULES else SUBCOMMAND_MODULES
    for name in names:
        module = __import__(f"nsview.cli.{name}", fromlist=["register"])
        module.register(sub)
    return parser


def run(argv: list[str] | None, early_walk: SharedWalk | None = None) -> int:
    """Parse ``argv`` (None: sys.argv) and run the command; see nsview.cli.main.

    ``early_walk``: the /proc walk main() began for ``dump``, handed to it.
    """
    words = sys.argv[1:] if argv is None else argv
    parser = build_parser(words[0] if words else None)
    args = parser.parse_args(argv)
    args.early_walk = early_walk
    try:
        status = int(args.handler(args) or 0)
        if argv is None and getattr(args, "exit_when_done", False):
            _exit_now(status)
        return status
    except NsviewError as exc:
        print(f"nsview: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (head, less) went away; don't let Python complain on exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        # The environment said no (disk full, read-only, EIO…) somewhere no command
        # expected it: still one line. Bugs (other exceptions) keep their traceback.
        where = f": {exc.filename}" if exc.filename else ""
        print(f"nsview: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1


def _exit_now(status: int) -> None:
    """End the process without tearing the interpreter down.

    For one-shot commands that leave nothing behind (``dump``): the teardown
    (module cleanup, a last GC pass, freeing every arena) takes ~10 ms after
    a large snapshot, about a twentieth of the whole dump. Only when running
    as the program (``argv`` None), never inside a test or another caller.
    A flush that fails (the reader went away) raises into ``main`` as usual.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
