"""Errors meant for the user: one line, no traceback."""

import errno
import os


class NsviewError(Exception):
    """A failure with a message a person can act on. ``exit_code`` is the CLI's."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Cancelled(Exception):
    """The caller asked a collection to stop before it was done (the TUI quitting
    mid-refresh); not an error to show anyone."""


class UsageError(NsviewError):
    """Bad command-line input (exit code 2, like argparse)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


def describe_errno(err: int | None) -> str:
    """'permission denied' rather than '[Errno 13] Permission denied'.

    Not being root is the usual reason for a denial: then the text says so.
    """
    if err is None:
        return "unknown error"
    if err in (errno.EPERM, errno.EACCES):
        return "permission denied" + ("" if os.geteuid() == 0 else " (run nsview as root)")
    return os.strerror(err).lower()
