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


@contextlib.contextmanager
def keep_terminal(fd: int = 0) -> Iterator[None]:
    """Take the terminal's foreground back after the command, like a shell does.

    An interactive shell makes its own process group the terminal's foreground
    and, run in another pid namespace, cannot hand it back on exit (our
    process group is invisible there). Left as is, the caller (a shell
    without job control, the TUI) would be a background group: stopped by
    SIGTTOU at its next terminal setting.
    """
    ours = os.getpgrp()
    owned = owns_terminal(fd)
    try:
        yield
    finally:
        if owned:
            reclaim_terminal(fd, ours)


def reclaim_terminal(fd: int, pgrp: int) -> None:
    """tcsetpgrp(fd, pgrp) from a background group: SIGTTOU ignored meanwhile."""
    with contextlib.suppress(OSError):
        if os.tcgetpgrp(fd) == pgrp:
            return
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(fd, pgrp)
        finally:
            signal.signal(signal.SIGTTOU, old)


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


def wait_status(pid: int, resume_stopped: bool = False) -> int:
    """Exit code of ``pid`` the shell way: N, or 128+SIG when killed by a signal.

    ``resume_stopped``: ``pid`` leads its own foreground process group and there
    is no job control to hand it to, so a stop (Ctrl-Z) is undone with SIGCONT
    rather than leaving the terminal to a stopped group.
    """
    flags = os.WUNTRACED if resume_stopped else 0
    while True:
        try:
            _, status = os.waitpid(pid, flags)
        except InterruptedError:
            continue
        if os.WIFSTOPPED(status):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGCONT)
            continue
        break
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def owns_terminal(fd: int = 0) -> bool:
    """Our process group is the foreground of the terminal on ``fd``."""
    try:
        return os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False


def take_terminal(fd: int = 0) -> None:
    """Lead a new process group in the terminal's foreground (as a shell does for a job).

    Needed in a new pid namespace: there the caller's process group is
    invisible, and an interactive sh that cannot give the terminal back to it
    at exit fails ("Cannot set tty process group").
    """
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
        reclaim_terminal(fd, os.getpgrp())


def fork_and_wait(report_fd: int, body, foreground: bool = False) -> None:
    """Fork a grandchild running ``body`` (then exec); this child exits with its status.

    ``foreground``: the grandchild gets its own process group, in the terminal's
    foreground (see :func:`take_terminal`).
    """
    pid = os.fork()
    if pid == 0:
        if foreground:
            take_terminal()
        run_child(report_fd, body)
    os.close(report_fd)
    if foreground:
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # also here: no race with the grandchild's own call
    os._exit(wait_status(pid, resume_stopped=foreground))


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
