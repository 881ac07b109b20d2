"""Where CLI output goes, and the stderr summary of what could not be seen."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Iterator
from typing import TextIO

from nsview.errors import NsviewError
from nsview.model import Snapshot


@contextlib.contextmanager
def open_output(path: str | None) -> Iterator[TextIO]:
    """stdout, or ``path``.

    A regular file (or a new one) is written to a temporary file beside it and
    renamed into place, so a failed dump never leaves half a file; anything
    else (``/dev/null``, a FIFO, a terminal) is written as it is — renaming over
    a device node would replace it with a plain file.
    """
    if path is None or path == "-":
        yield sys.stdout
        return
    try:
        is_special = not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        is_special = False
    except OSError as exc:
        raise NsviewError(f"cannot write {path}: {exc.strerror}") from None
    target = path if is_special else f"{path}.tmp.{os.getpid()}"
    try:
        f = open(target, "w", encoding="utf-8")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise NsviewError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with f:
            yield f
        if not is_special:
            os.replace(target, path)
    except BaseException:
        if not is_special:
            with contextlib.suppress(OSError):
                os.unlink(target)
        raise


def rich_console(file: TextIO | None = None):
    """A rich Console for readable output: the terminal's width on a terminal, and
    wide (not 80 columns) when piped into a file or a pager, so tables stay legible."""
    from rich.console import Console

    stream = file or sys.stdout
    width = None
    if not stream.isatty() and "COLUMNS" not in os.environ:
        width = 160
    return Console(file=stream, highlight=False, soft_wrap=False, width=width)


def report_diagnostics(snapshot: Snapshot, stream: TextIO | None = None) -> None:
    """One line per kind of blind spot, so a partial view is never mistaken for the whole."""
    stream = stream or sys.stderr
    for diag in snapshot.diagnostics:
        if diag.kind == "gone":
            continue  # processes exit all the time; the JSON keeps the record
        who = ""
        if diag.pids:
            shown = ",".join(str(p) for p in diag.pids[:5])
            more = f" and {len(diag.pids) - 5} more" if len(diag.pids) > 5 else ""
            who = f" (pid {shown}{more})"
        where = f" {diag.path}" if diag.path else ""
        print(f"nsview: {diag.kind}: {diag.what}{where}{who}: {diag.reason}", file=stream)
    uid = snapshot.host.collector_uid
    if uid not in (None, 0) and any(d.kind == "denied" for d in snapshot.diagnostics):
        print(
            "nsview: running as non-root: other users' namespaces, fds and mounts are hidden;"
            " run as root (sudo nsview …) for the whole picture",
            file=stream,
        )
