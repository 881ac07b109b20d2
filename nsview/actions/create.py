"""Create and delete namespaces: ``nsview unshare`` and ``nsview netns add/del``.

A forked child calls unshare(2) and reports "ready" on a pipe; for a named
netns the parent (still in the initial mount namespace) then bind-mounts the
child's /proc/PID/ns/net on /run/netns/NAME, exactly as ``ip netns add``
does, and lets the child go on. The calling process never changes namespace.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from nsview.actions import _child
from nsview.actions.names import NETNS_DIR, netns_path
from nsview.actions.plans import UnsharePlan
from nsview.errors import NsviewError, describe_errno
from nsview.kernel import libc, nsfs, procfs
from nsview.kernel.nstypes import CLONE_FLAGS


def prepare_netns_dir(netns_dir: str = NETNS_DIR) -> None:
    """What ``ip netns add`` does first: /run/netns exists and is a shared mount point.

    Shared, so a netns mounted or unmounted there shows up in every mount
    namespace (a later ``ip netns exec`` sees it; ``del`` frees it everywhere).
    If it is not a mount point yet, it is bind-mounted onto itself first. An
    exclusive flock serialises concurrent callers, like iproute2.
    """
    try:
        os.makedirs(netns_dir, mode=0o755, exist_ok=True)
        lock = os.open(netns_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise NsviewError(f"cannot create {netns_dir}: {describe_errno(exc.errno)}") from None
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(lock, fcntl.LOCK_EX)
        made_mount_point = False
        while True:
            try:
                libc.mount("", netns_dir, "none", libc.MS_SHARED | libc.MS_REC)
                return
            except OSError as exc:
                if exc.errno != errno.EINVAL or made_mount_point:
                    raise NsviewError(
                        f"mount --make-shared {netns_dir} failed: {describe_errno(exc.errno)}"
                    ) from None
            try:
                libc.mount(netns_dir, netns_dir, "none", libc.MS_BIND | libc.MS_REC)
            except OSError as exc:
                raise NsviewError(
                    f"mount --bind {netns_dir} {netns_dir} failed: {describe_errno(exc.errno)}"
                ) from None
            made_mount_point = True
    finally:
        os.close(lock)  # releases the flock


def _create_placeholder(name: str) -> str:
    path = netns_path(name)
    if os.path.lexists(path):
        raise NsviewError(f"netns {name!r} already exists ({path})")
    prepare_netns_dir()
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0))
    except FileExistsError:
        raise NsviewError(f"netns {name!r} already exists ({path})") from None
    except OSError as exc:
        raise NsviewError(f"cannot create {path}: {describe_errno(exc.errno)}") from None
    return path


def _remove_named(path: str) -> None:
    with contextlib.suppress(OSError):
        libc.umount2(path, libc.MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def add_netns(name: str) -> str:
    """``ip netns add NAME`` + lo up. Returns /run/netns/NAME."""
    plan = UnsharePlan(("net",), None, netns_name=name)
    _run(plan)
    assert plan.netns_name is not None
    return netns_path(plan.netns_name)


def run_unshare(plan: UnsharePlan) -> int:
    """Run ``plan.argv`` in new namespaces; return its exit status (signals: 128+N)."""
    if plan.argv is None:
        raise ValueError("run_unshare needs a command")
    return _run(plan)


def _run(plan: UnsharePlan) -> int:
    uid, gid = os.geteuid(), os.getegid()
    path = _create_placeholder(plan.netns_name) if plan.netns_name else None
    mounted = False
    report_r, report_w = os.pipe()
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    try:
        with _child.parent_ignores_interrupts(), _child.keep_terminal():
            pid = os.fork()
            if pid == 0:
                os.close(report_r)
                os.close(ready_r)
                os.close(go_w)
                _child.run_child(
                    report_w, lambda: _child_main(plan, uid, gid, ready_w, go_r, report_w)
                )
            for fd in (report_w, ready_w, go_r):
                os.close(fd)
            try:
                ready = os.read(ready_r, 1) == b"R"
                if ready and path is not None:
                    _bind_netns(pid, path)
                    mounted = True
                if ready:
                    os.write(go_w, b"G")
            finally:
                os.close(go_w)
                report = _child.read_report(report_r)
                code = _child.wait_status(pid)
        if report:
            if mounted:
                _remove_named(path)  # CMD never ran: leave nothing behind
                mounted = False
                report += f" (netns {plan.netns_name!r} removed again)"
            raise NsviewError(report, exit_code=code or _child.EXIT_SETUP_FAILED)
        if path is not None and not mounted:
            raise NsviewError(f"the new netns was not mounted on {path}")
        return code
    finally:
        for fd in (report_r, ready_r):
            os.close(fd)
        if path is not None and not mounted:
            _remove_named(path)


def _bind_netns(pid: int, path: str) -> None:
    try:
        libc.mount(f"/proc/{pid}/ns/net", path, "none", libc.MS_BIND)
    except OSError as exc:
        why = describe_errno(exc.errno)
        raise NsviewError(f"cannot bind-mount the new netns on {path}: {why}") from None


# ---- runs in the forked child only ----


def _child_main(
    plan: UnsharePlan, uid: int, gid: int, ready_w: int, go_r: int, report_fd: int
) -> None:
    tty = _child.owns_terminal()
    flags = 0
    for t in plan.types:
        flags |= CLONE_FLAGS[t]
    try:
        libc.unshare(flags)
    except OSError as exc:
        raise _child.ChildFailure(
            f"cannot create new {','.join(plan.types)} namespaces: {describe_errno(exc.errno)}"
        ) from None
    if "user" in plan.types:
        _map_root(uid, gid)
    if "mnt" in plan.types:
        try:  # like unshare(1): mounts made inside do not leak out
            libc.mount("none", "/", None, libc.MS_REC | libc.MS_PRIVATE)
        except OSError as exc:
            raise _child.ChildFailure(
                f"cannot make the new mount namespace private: {describe_errno(exc.errno)}"
            ) from None
    if "net" in plan.types:
        try:
            libc.loopback_up()
        except OSError as exc:
            raise _child.ChildFailure(f"cannot bring lo up: {describe_errno(exc.errno)}") from None
    os.write(ready_w, b"R")
    os.close(ready_w)
    go = os.read(go_r, 1)
    os.close(go_r)
    if go != b"G":
        os._exit(_child.EXIT_SETUP_FAILED)  # the parent failed and says why
    if plan.argv is None:
        return
    fallback = ("/bin/sh",) if plan.default_shell and plan.argv != ("/bin/sh",) else None
    if "pid" in plan.types or "time" in plan.types:
        # Both apply to children only: CMD is forked, and is pid 1 of a new pid ns.
        _child.fork_and_wait(report_fd, lambda: _grandchild(plan, fallback), foreground=tty)
    _child.exec_command(plan.argv, fallback)


def _grandchild(plan: UnsharePlan, fallback: Sequence[str] | None) -> None:
    assert plan.argv is not None
    if "pid" in plan.types and "mnt" in plan.types:
        try:  # unshare --mount-proc: ps and /proc show the new pid namespace
            libc.mount("none", "/proc", None, libc.MS_REC | libc.MS_PRIVATE)
            libc.mount("proc", "/proc", "proc", libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC)
        except OSError as exc:
            raise _child.ChildFailure(f"cannot mount /proc: {describe_errno(exc.errno)}") from None
    _child.exec_command(plan.argv, fallback)


def _map_root(uid: int, gid: int) -> None:
    """unshare --map-root-user: our uid/gid become 0 inside; setgroups denied."""
    try:
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
    except OSError as exc:
        raise _child.ChildFailure(
            f"cannot write the new user namespace's id maps: {describe_errno(exc.errno)}"
        ) from None


# ---- deleting a named netns ----


@dataclass(frozen=True)
class NetnsUsers:
    """What keeps a network namespace alive besides its name.

    ``processes`` run in it (a process with only some thread in it is listed
    too: its comm says which thread); deleting the name is refused for them.
    ``others`` (open fds, bind mounts elsewhere) only keep it alive: worth
    saying, not worth refusing for.
    """

    processes: list[tuple[int, str]] = field(default_factory=list)  # (pid, comm)
    unchecked: list[int] = field(default_factory=list)  # pids whose ns could not be read
    others: list[str] = field(default_factory=list)  # "fd 5 of pid 123 (runc)", "mount /x"

    def summary(self, limit: int = 8) -> str:
        shown = ", ".join(f"{pid} {comm}" for pid, comm in self.processes[:limit])
        more = len(self.processes) - limit
        return shown + (f" and {more} more" if more > 0 else "")

    def others_summary(self, limit: int = 4) -> str:
        more = len(self.others) - limit
        return ", ".join(self.others[:limit]) + (f" and {more} more" if more > 0 else "")


def netns_users(path: str, proc: str = "/proc") -> NetnsUsers:
    """Processes and threads in the netns at ``path``, and the fds and other
    mounts (in this mount namespace) that hold it."""
    try:
        want = os.stat(path)
    except OSError as exc:
        raise NsviewError(f"cannot stat {path}: {describe_errno(exc.errno)}") from None
    identity = (want.st_dev, want.st_ino)
    links = frozenset({f"net:[{want.st_ino}]", path, os.path.realpath(path)})
    users = NetnsUsers()
    for pid in procfs.list_pids(proc):
        try:
            inside = _same_file(f"{proc}/{pid}/ns/net", identity)
        except FileNotFoundError:
            continue  # exited
        except OSError:
            users.unchecked.append(pid)
            continue
        comm = None
        if inside:
            comm = _comm(proc, pid)
            users.processes.append((pid, comm))
        else:
            tid = _thread_inside(proc, pid, identity)
            if tid is not None:
                comm = _comm(proc, pid)
                users.processes.append((pid, f"{comm} [thread {tid}]"))
        for fd in _fds_linking(proc, pid, links):
            users.others.append(f"fd {fd} of pid {pid} ({comm or _comm(proc, pid)})")
    users.others.extend(f"mount {where}" for where in _other_mounts(want.st_ino, path))
    return users


def _same_file(path: str, identity: tuple[int, int]) -> bool:
    st = os.stat(path)
    return (st.st_dev, st.st_ino) == identity


def _comm(proc: str, pid: int) -> str:
    try:
        with open(f"{proc}/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return "?"


def _thread_inside(proc: str, pid: int, identity: tuple[int, int]) -> int | None:
    """A thread of ``pid`` (not its main thread) whose netns is ``identity``."""
    try:
        tids = procfs.list_tids(proc, pid)
    except (procfs.Gone, procfs.Denied):
        return None
    for tid in tids:
        if tid == pid:
            continue
        try:
            if _same_file(f"{proc}/{pid}/task/{tid}/ns/net", identity):
                return tid
        except OSError:
            continue
    return None


def _fds_linking(proc: str, pid: int, links: frozenset[str]) -> list[int]:
    """The fds of ``pid`` whose link reads one of ``links``: "net:[INODE]", or the
    mount path for an fd opened through the bind mount."""
    try:
        return [fd for fd, target in procfs.read_fd_links(proc, pid) if target in links]
    except (procfs.Gone, procfs.Denied):
        return []


def _other_mounts(inode: int, path: str) -> list[str]:
    """Where else this mount namespace has the netns ``inode`` bind-mounted."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            mounts = procfs.parse_nsfs_mounts(f.read(), os.getpid())
    except OSError:
        return []
    real = os.path.realpath(path)
    return sorted(
        {
            m.mountpoint
            for m in mounts
            if m.ns_type == "net" and m.inode == inode and m.mountpoint not in (path, real)
        }
    )


@dataclass(frozen=True)
class DeleteResult:
    name: str
    path: str
    stale: bool  # the file was not a mounted namespace; only the file was removed
    users: NetnsUsers  # processes left in the now-anonymous netns (with force)


def inspect_named(name: str) -> tuple[str, str | None]:
    """(path, type) of /run/netns/NAME; type None when it is a stale plain file."""
    path = netns_path(name)
    if not os.path.lexists(path):
        raise NsviewError(f"no named netns {name!r} ({path} does not exist; see 'ip netns list')")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise NsviewError(f"cannot open {path}: {describe_errno(exc.errno)}") from None
    try:
        return path, nsfs.ns_type(fd)
    finally:
        os.close(fd)


def delete_netns(name: str, force: bool = False, proc: str = "/proc") -> DeleteResult:
    """``ip netns del NAME``, but refusing while processes are in it (unless ``force``).

    With ``force`` only the name goes: processes inside keep the network
    namespace alive, now anonymous (still visible in nsview, lsns -t net).
    """
    path, ns_type = inspect_named(name)
    if ns_type is None:
        _unlink(path)
        return DeleteResult(name, path, stale=True, users=NetnsUsers())
    if ns_type != "net":
        raise NsviewError(f"{path} holds a {ns_type} namespace, not a netns; not touching it")
    users = netns_users(path, proc)
    if users.processes and not force:
        count = len(users.processes)
        raise NsviewError(
            f"netns {name!r} is in use by {count} process{'es' if count > 1 else ''}"
            f" ({users.summary()}); not deleted. Stop them, or use --force to remove the"
            " name only (they keep running in an anonymous netns)"
        )
    try:
        libc.umount2(path, libc.MNT_DETACH)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # EINVAL: not mounted (any more)
            raise NsviewError(f"cannot unmount {path}: {describe_errno(exc.errno)}") from None
    _unlink(path)
    return DeleteResult(name, path, stale=False, users=users)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise NsviewError(f"cannot remove {path}: {describe_errno(exc.errno)}") from None
