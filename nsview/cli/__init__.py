"""Command line: ``nsview [dump|net|exec|unshare|netns|lab] …``; no sub-command opens the TUI.

Each sub-command lives in its own module exposing ``register(subparsers)``;
heavy imports (textual, rich, the model) happen inside the handlers, so
``nsview dump --json`` starts fast. This module imports nothing but ``sys``:
for ``dump`` it first starts the /proc walk, whose forked helper then reads
while this process imports argparse and the model (about a fifth of a
dump's time on a large host).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing before the walk
if TYPE_CHECKING:
    from nsview.collect.parallel import SharedWalk


def main(argv: list[str] | None = None) -> int:
    early_walk = _start_dump_walk() if argv is None else None
    try:
        from nsview.cli.parser import run

        return run(argv, early_walk)
    finally:
        if early_walk is not None:
            early_walk.cancel()  # not used up: a usage error, --help, another --proc


def _start_dump_walk() -> SharedWalk | None:
    """The process walk of /proc, begun now if this looks like ``nsview dump`` or
    ``nsview net`` (which reads less of each process).

    Only a guess from the first word: argparse decides later, whatever does
    not take the walk cancels it, and a collection whose plan differs from the
    guess (collect.parallel.walk_plan) reads anew.
    """
    words = sys.argv[1:]
    if any(word.startswith("--proc") for word in words):
        return None
    from nsview.collect.parallel import start_task_walk, walk_plan

    if words[:1] == ["net"]:
        plan = walk_plan(one_netns=True)
    elif words[:1] == ["dump"] and not any(w.startswith(("--type", "--pid")) for w in words):
        plan = walk_plan()  # a filtered dump reads less: its walk starts once parsed
    else:
        return None
    try:
        return start_task_walk("/proc", **plan)
    except OSError:
        return None  # the collection reports it
