"""Helpers shared by the forked children of :mod:`join` and :mod:`create`.

A child reports a failure before exec as one line on a close-on-exec pipe and
exits; the parent turns that line into an :class:`~nsview.errors.NsviewError`.
An empty pipe at EOF means exec succeeded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
from collections.abc import Iterator, Sequence

# Signals Python (or nsview while it waits) ignores; a child resets them before exec.
_RESET_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTSTP)

EXIT_SETUP_FAILED = 125  # like env(1)/docker: the tool failed, CMD never ran
EXIT_CANNOT_EXEC = 126
EXIT_NOT_FOUND = 127


class ChildFailure(Exception):
    """Raised inside a child; its message goes to the parent."""

    def __init__(self, message: str, code: int = EXIT_SETUP_FAILED) -> None:
        super().__init__(message)
        self.code = code


@contextlib.contextmanager
def parent_ignores_interrupts() -> Iterator[None]:
    """Like system(3): Ctrl-C and Ctrl-\\ go to CMD, nsview just waits for it."""
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGQUIT)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def run_child(report_fd: int, body) -> None:
    """In a freshly forked child: run ``body()``, report failures, never return."""
    code = EXIT_SETUP_FAILED
    try:
        body()
        code = 0
    except ChildFailure as exc:
        code = exc.code
        _report(report_fd, str(exc))
    except BaseException as exc:  # never let a child unwind into the parent's code
        _report(report_fd, f"internal error in child: {exc!r}")
    finally:
        os._exit(code)


def _report(fd: int, message: str) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, message.replace("\n", " ").encode("utf-8", "replace") + b"\n")


def exec_command(argv: Sequence[str], fallback: Sequence[str] | None = None) -> None:
    """Reset signals and exec ``argv`` (PATH lookup in the current mount namespace)."""
    for sig in _RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    try:
        os.execvp(argv[0], list(argv))
    except OSError as exc:
        if fallback and exc.errno == errno.ENOENT:
            exec_command(fallback)
        if exc.errno == errno.ENOENT:
            raise ChildFailure(f"{argv[0]}: command not found", EXIT_NOT_FOUND) from None
        raise ChildFailure(f"{argv[0]}: {os.strerror(exc.errno or 0)}", EXIT_CANNOT_EXEC) from None


def wait_status(pid: int) -> int:
    """Exit code of ``pid`` the shell way: N, or 128+SIG when killed by a signal."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def fork_and_wait(report_fd: int, body) -> None:
    """Fork a grandchild running ``body`` (then exec); this child exits with its status."""
    pid = os.fork()
    if pid == 0:
        run_child(report_fd, body)
    os.close(report_fd)
    os._exit(wait_status(pid))


def read_report(fd: int) -> str:
    """Everything the children wrote, until every copy of the write end is closed."""
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except InterruptedError:
            continue
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace").strip()
