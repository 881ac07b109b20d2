"""Run a command inside a target's namespaces: ``nsview exec``.

The namespaces are opened here, in the parent (so errors are clean and a
recycled PID cannot swap the target underneath); a forked, single-threaded
child joins them with setns(2) and execs. For a PID target on Linux 5.8+ one
``setns(pidfd, flags)`` call joins all of them atomically; otherwise each nsfs
fd is joined in nsenter's order (everything but user, then user, then what
failed before it). A pid namespace applies to children only, so the child
forks once more and CMD runs as the grandchild.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal

from nsview.actions import _child
from nsview.actions.targets import NS_ORDER, JoinPlan
from nsview.errors import NsviewError, describe_errno
from nsview.kernel import libc
from nsview.kernel.nstypes import CLONE_FLAGS


def run_join(plan: JoinPlan, proc: str = "/proc") -> int:
    """Run ``plan.argv`` in the planned namespaces; return its exit status (signals: 128+N)."""
    fds: dict[str, int] = {}
    pidfd: int | None = None
    cwd_fd: int | None = None
    try:
        target = plan.target
        if target.kind == "pid":
            pidfd = _pidfd(target.pid)
            for t in plan.types:
                fds[t] = _open_ns(f"{proc}/{target.pid}/ns/{t}", target.describe(), t)
                _check_same(fds[t], target.namespaces[t], target, t)
            if plan.workdir == "target":
                with contextlib.suppress(OSError):
                    cwd_fd = os.open(f"{proc}/{target.pid}/cwd", os.O_RDONLY | os.O_DIRECTORY)
            if pidfd is not None and not _alive(pidfd):
                raise NsviewError(f"{target.describe()} exited")
        else:
            assert target.path is not None
            fds[plan.types[0]] = _open_ns(target.path, target.describe(), plan.types[0])
        return _fork_and_join(plan, fds, pidfd, cwd_fd)
    finally:
        for fd in (*fds.values(), pidfd, cwd_fd):
            if fd is not None:
                os.close(fd)


def _pidfd(pid: int | None) -> int | None:
    assert pid is not None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        raise NsviewError(f"no process with PID {pid} (it exited)") from None
    except OSError:
        return None  # kernel < 5.3: fall back to the nsfs fds


def _alive(pidfd: int) -> bool:
    try:
        signal.pidfd_send_signal(pidfd, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # EPERM etc.: alive
    return True


def _open_ns(path: str, what: str, ns_type: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NsviewError(f"{what} exited or has no {ns_type} namespace") from None
    except OSError as exc:
        raise NsviewError(f"cannot open {path}: {describe_errno(exc.errno)}") from None


def _check_same(fd: int, inode: int, target, ns_type: str) -> None:
    """The namespace opened now is the one resolved before (the PID was not recycled)."""
    if os.fstat(fd).st_ino != inode:
        raise NsviewError(f"{target.describe()} changed its {ns_type} namespace meanwhile; retry")


def _fork_and_join(
    plan: JoinPlan, fds: dict[str, int], pidfd: int | None, cwd_fd: int | None
) -> int:
    read_fd, write_fd = os.pipe()
    with _child.parent_ignores_interrupts(), _child.keep_terminal():
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            _child.run_child(write_fd, lambda: _child_main(plan, fds, pidfd, cwd_fd, write_fd))
        os.close(write_fd)
        try:
            report = _child.read_report(read_fd)
        finally:
            os.close(read_fd)
        code = _child.wait_status(pid)
    if report:
        raise NsviewError(report, exit_code=code or _child.EXIT_SETUP_FAILED)
    return code


# ---- everything below runs in the forked child only ----


def _child_main(
    plan: JoinPlan, fds: dict[str, int], pidfd: int | None, cwd_fd: int | None, report_fd: int
) -> None:
    tty = _child.owns_terminal()  # asked before setns: our group is visible here
    _enter(plan, fds, pidfd)
    if "user" in plan.types:
        _become_root_inside(plan)
    if plan.workdir == "target" and cwd_fd is not None:
        try:
            os.fchdir(cwd_fd)
        except OSError:
            os.chdir("/")
    elif plan.workdir is not None:
        os.chdir("/")
    fallback = ("/bin/sh",) if plan.default_shell and plan.argv != ("/bin/sh",) else None
    if plan.fork:
        _child.fork_and_wait(
            report_fd, lambda: _child.exec_command(plan.argv, fallback), foreground=tty
        )
    _child.exec_command(plan.argv, fallback)


def _enter(plan: JoinPlan, fds: dict[str, int], pidfd: int | None) -> None:
    flags = 0
    for t in plan.types:
        flags |= CLONE_FLAGS[t]
    if pidfd is not None:
        try:
            libc.setns(pidfd, flags)
            return
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: no pidfd setns (< 5.8); use the fds
                raise _child.ChildFailure(_setns_message(plan, None, exc.errno)) from None
    failed: list[str] = []
    # nsenter's two passes: as root, join user last (keeping privileges for the
    # others); unprivileged, the others fail first and are retried after user.
    for t in NS_ORDER:
        if t in fds and t != "user":
            try:
                libc.setns(fds[t], CLONE_FLAGS[t])
            except OSError:
                failed.append(t)
    for t in ("user", *failed):
        if t not in fds:
            continue
        try:
            libc.setns(fds[t], CLONE_FLAGS[t])
        except OSError as exc:
            raise _child.ChildFailure(_setns_message(plan, t, exc.errno)) from None


def _setns_message(plan: JoinPlan, ns_type: str | None, err: int | None) -> str:
    what = f"the {ns_type} namespace" if ns_type else f"the {','.join(plan.types)} namespaces"
    return f"cannot join {what} of {plan.target.describe()}: {describe_errno(err)}"


def _become_root_inside(plan: JoinPlan) -> None:
    """Like nsenter -U: uid/gid 0 inside the joined user namespace, no supplementary groups."""
    with contextlib.suppress(OSError):
        os.setgroups([])  # denied when the namespace has setgroups=deny
    try:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    except OSError as exc:
        raise _child.ChildFailure(
            f"cannot become root in the user namespace of {plan.target.describe()}: "
            f"{describe_errno(exc.errno)} (is uid 0 mapped there?)"
        ) from None
