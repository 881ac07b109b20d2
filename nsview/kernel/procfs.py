"""Read processes, threads, namespace links, fds and nsfs mounts from /proc.

Every read may race with an exiting process or be denied; each helper either
returns what it read or raises :class:`Gone` / :class:`Denied`, which the walk
turns into diagnostics. Nothing here imports anything heavier than ``os`` (not
even the model or ``dataclasses``): ``nsview dump`` forks its /proc reader
before the rest of nsview has loaded (see collect.parallel, which runs
:class:`TaskReader` on two cores).
"""

from __future__ import annotations

import errno
import operator
import os

from nsview.kernel.nstypes import NS_TYPES

# Entries under /proc/PID/ns that are not namespaces of the task itself.
FOR_CHILDREN = {"pid_for_children": "pid", "time_for_children": "time"}

# nsfs link targets look like "net:[4026531833]".
_NS_PREFIXES = tuple(f"{t}:[" for t in NS_TYPES)

# Directories where tools keep bind-mounted netns files; the file name is the name.
NETNS_DIRS = ("/run/netns", "/var/run/netns", "/run/docker/netns", "/var/run/docker/netns")


class Gone(Exception):
    """The process or thread exited while being read."""


class Denied(Exception):
    """The kernel refused the read (EACCES/EPERM)."""


def _classify(exc: OSError) -> Exception:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return Denied(os.strerror(exc.errno))
    if exc.errno in (errno.ENOENT, errno.ESRCH):
        return Gone(os.strerror(exc.errno))
    return exc


def parse_ns_link(target: str) -> tuple[str, int] | None:
    """'net:[4026531833]' -> ('net', 4026531833); None for anything else."""
    if not target.startswith(_NS_PREFIXES) or not target.endswith("]"):
        return None
    kind, _, rest = target.partition(":[")
    try:
        return kind, int(rest[:-1])
    except ValueError:
        return None


def read_ns_links(
    ns_dir: str, types: tuple[str, ...] = NS_TYPES
) -> tuple[dict[str, int], dict[str, int]]:
    """(type -> inode, for_children type -> inode) from a /proc/.../ns directory,
    for ``types`` only (default: all).

    A type the kernel lacks (no time namespaces before 5.6) is simply absent.
    Raises Gone when the task vanished and Denied when its links are hidden.
    """
    links: dict[str, int] = {}
    for ns_type in types:
        try:
            target = os.readlink(f"{ns_dir}/{ns_type}")
        except FileNotFoundError:
            if not links and not os.path.isdir(ns_dir):
                raise Gone("no such process") from None
            continue
        except OSError as exc:
            raise _classify(exc) from None
        # Slicing is faster than parse_ns_link here, and the target is known nsfs.
        links[ns_type] = int(target[len(ns_type) + 2 : -1])
    children: dict[str, int] = {}
    for name, ns_type in FOR_CHILDREN.items():
        if ns_type not in links:
            continue
        try:
            target = os.readlink(f"{ns_dir}/{name}")
        except OSError:
            continue
        parsed = parse_ns_link(target)
        if parsed and parsed[1] != links.get(ns_type):
            children[ns_type] = parsed[1]
    return links, children


def parse_cgroup(text: str) -> str | None:
    """The unified (v2) path of /proc/PID/cgroup, else the first v1 path."""
    first = None
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        _controllers, _, path = rest.partition(":")
        if hierarchy == "0" and _controllers == "":
            return path
        if first is None and path:
            first = path
    return first


def _read_text(path: str, until_eof: bool = False) -> str:
    # os.open/os.read: a buffered file object costs more than the read itself here.
    # until_eof: for record-by-record seq_files (mountinfo), which return about
    # one page per read however large the buffer.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise _classify(exc) from None
    try:
        # single_open procfs files fill a read as far as they can, so there a
        # short read is the end.
        data = os.read(fd, _READ_SIZE)
        if until_eof or len(data) == _READ_SIZE:
            chunks = [data]
            while chunk := os.read(fd, _READ_SIZE):
                chunks.append(chunk)
            data = b"".join(chunks)
    except OSError as exc:
        raise _classify(exc) from None
    finally:
        os.close(fd)
    return data.decode("utf-8", "surrogateescape")


_READ_SIZE = 65536


def _read_if_allowed(path: str) -> str | None:
    """The text, or None where the kernel denies it (a vanished process raises Gone)."""
    try:
        return _read_text(path)
    except Denied:
        return None


_STATUS_FIELDS = ("Name", "PPid", "Uid", "NSpid", "Threads", "Kthread")
# (field, what precedes its value): Name is the first line, the others follow a newline.
_STATUS_NEEDLES = tuple(
    (key, f"{key}:\t" if key == "Name" else f"\n{key}:\t") for key in _STATUS_FIELDS
)


def _status_fields(text: str) -> dict[str, str]:
    """Only the /proc/PID/status fields nsview uses (the file has ~50)."""
    fields: dict[str, str] = {}
    for key, needle in _STATUS_NEEDLES:
        start = text.find(needle)
        if start < 0:
            continue
        start += len(needle)
        end = text.find("\n", start)
        fields[key] = text[start : end if end >= 0 else len(text)].strip()
    return fields


class TaskRecord:
    """Everything read about one process, in plain values (it may cross a pipe).

    ``error`` is set ("gone" or "denied: …") when not even the status was readable.
    """

    # In the order of __init__'s parameters: as_tuple() and TaskRecord(*values) agree.
    FIELDS = (
        "pid",
        "error",
        "comm",
        "ppid",
        "uid",
        "nspid",
        "threads",
        "kthread",
        "cmdline",
        "cgroup",
        "ns",  # type -> inode; None: the links were denied (ns_error says why)
        "ns_error",
        "ns_for_children",
        "thread_ns",  # [(tid, {type: inode})] for threads whose ns differ
        "thread_error",
        "fd_refs",  # [(fd, type, inode)]
        "fd_paths",  # [(fd, link)] that may be nsfs mounts
        "fd_error",
        "socket_inodes",  # [inode] of every socket:[N] fd (who owns which socket)
    )
    __slots__ = FIELDS

    def __init__(
        self,
        pid: int,
        error: str | None = None,
        comm: str = "",
        ppid: int | None = None,
        uid: int | None = None,
        nspid: list[int] | None = None,
        threads: int = 1,
        kthread: bool = False,
        cmdline: list[str] | None = None,
        cgroup: str | None = None,
        ns: dict[str, int] | None = None,
        ns_error: str | None = None,
        ns_for_children: dict[str, int] | None = None,
        thread_ns: list[tuple[int, dict[str, int]]] | None = None,
        thread_error: str | None = None,
        fd_refs: list[tuple[int, str, int]] | None = None,
        fd_paths: list[tuple[int, str]] | None = None,
        fd_error: str | None = None,
        socket_inodes: list[int] | None = None,
    ) -> None:
        self.pid = pid
        self.error = error
        self.comm = comm
        self.ppid = ppid
        self.uid = uid
        self.nspid = nspid
        self.threads = threads
        self.kthread = kthread
        self.cmdline = cmdline
        self.cgroup = cgroup
        self.ns = ns
        self.ns_error = ns_error
        self.ns_for_children = ns_for_children
        self.thread_ns = thread_ns
        self.thread_error = thread_error
        self.fd_refs = fd_refs
        self.fd_paths = fd_paths
        self.fd_error = fd_error
        self.socket_inodes = socket_inodes

    def as_tuple(self) -> tuple:
        """The fields in order: ``TaskRecord(*record.as_tuple())`` rebuilds it."""
        return _record_fields(self)


_record_fields = operator.attrgetter(*TaskRecord.FIELDS)


class TaskReader:
    """Reads processes one pid at a time (collect.parallel shares them out), into tuples
    for :class:`TaskRecord`. A vanished or denied process yields a record saying so.

    Kernel threads never leave the initial namespaces: after the first one,
    the others reuse its links.
    """

    def __init__(
        self, proc: str, types: tuple[str, ...] = NS_TYPES, details: frozenset[int] | None = None
    ) -> None:
        self.proc = proc
        self.types = types  # the namespace links to read
        self.details = details  # pids whose cmdline and cgroup are read (None: all)
        self._kthread_ns: tuple[dict[str, int], dict[str, int]] | None = None

    def __call__(self, pid: int) -> tuple:
        return self.read(pid).as_tuple()

    def read(self, pid: int) -> TaskRecord:
        details = self.details is None or pid in self.details
        try:
            record = read_task(self.proc, pid, self._kthread_ns, self.types, details)
        except Gone:
            return TaskRecord(pid, error="gone")
        except Denied as exc:
            return TaskRecord(pid, error=f"denied: {exc}")
        if record.kthread and record.ns and self._kthread_ns is None:
            self._kthread_ns = record.ns, record.ns_for_children or {}
        return record


def read_tasks(proc: str, pids: list[int]) -> list[TaskRecord]:
    """Read each pid in turn, in this process."""
    reader = TaskReader(proc)
    return [reader.read(pid) for pid in pids]


def read_task(
    proc: str,
    pid: int,
    kthread_ns: tuple[dict[str, int], dict[str, int]] | None = None,
    types: tuple[str, ...] = NS_TYPES,
    details: bool = True,
) -> TaskRecord:
    """One process: identity, namespaces, differing threads, namespace fds.

    ``kthread_ns``: the namespaces of a kernel thread already read; kernel
    threads never leave the initial namespaces, so the others reuse them.
    ``types``: the namespace links to read; ``details``: False skips cmdline
    and cgroup (a filtered dump that will not show this process).
    Raises Gone or Denied only when the process itself is unreadable.
    """
    base = f"{proc}/{pid}"
    status = _status_fields(_read_text(f"{base}/status"))
    ppid = status.get("PPid", "")
    # "Kthread" exists since Linux 6.x; before it, kernel threads are kthreadd's children.
    kthread = status.get("Kthread") == "1" or (
        "Kthread" not in status and (pid == 2 or ppid == "2")
    )
    cmdline_raw = None if kthread or not details else _read_if_allowed(f"{base}/cmdline")
    cgroup_text = _read_if_allowed(f"{base}/cgroup") if details else None
    cgroup = None if cgroup_text is None else parse_cgroup(cgroup_text)
    uid_field = status.get("Uid", "").split()
    nspid = status.get("NSpid", "").split()
    threads = int(status.get("Threads") or 1)

    ns = children = None
    ns_error = None
    if kthread and kthread_ns is not None:
        ns, children = kthread_ns
    else:
        try:
            ns, children = read_ns_links(f"{base}/ns", types)
        except Denied as exc:
            ns_error = str(exc)

    thread_ns = thread_error = None
    if threads > 1 and ns is not None:
        thread_ns, thread_error = _read_thread_ns(proc, pid, ns, types)

    fd_refs = fd_paths = fd_error = sockets = None
    if not kthread:
        try:
            fd_refs, fd_paths, sockets = read_ns_fds(proc, pid)
        except Denied as exc:
            fd_error = str(exc)
        except Gone:
            pass

    return TaskRecord(
        pid=pid,
        comm=status.get("Name", ""),
        ppid=int(ppid) if ppid.isdigit() else None,
        uid=int(uid_field[0]) if uid_field else None,
        nspid=[int(p) for p in nspid] if nspid else [pid],
        threads=threads,
        kthread=kthread,
        cmdline=cmdline_raw.split("\0")[:-1] if cmdline_raw else [],
        cgroup=cgroup,
        ns=ns,
        ns_error=ns_error,
        ns_for_children=children,
        thread_ns=thread_ns,
        thread_error=thread_error,
        fd_refs=fd_refs,
        fd_paths=fd_paths,
        fd_error=fd_error,
        socket_inodes=sockets,
    )


def _read_thread_ns(
    proc: str, pid: int, main_ns: dict[str, int], types: tuple[str, ...] = NS_TYPES
) -> tuple[list[tuple[int, dict[str, int]]], str | None]:
    """Threads whose namespaces differ from the main thread's, with only those types."""
    try:
        tids = list_tids(proc, pid)
    except (Gone, Denied):
        return [], None
    differing = []
    error = None
    for tid in tids:
        if tid == pid:
            continue
        try:
            links, _children = read_ns_links(f"{proc}/{pid}/task/{tid}/ns", types)
        except Gone:
            continue
        except Denied as exc:
            error = str(exc)
            continue
        diff = {t: inode for t, inode in links.items() if main_ns.get(t) != inode}
        if diff:
            differing.append((tid, diff))
    return differing, error


def list_pids(proc: str) -> list[int]:
    return sorted(int(name) for name in os.listdir(proc) if name.isdigit())


def list_tids(proc: str, pid: int) -> list[int]:
    try:
        return sorted(int(name) for name in os.listdir(f"{proc}/{pid}/task") if name.isdigit())
    except OSError as exc:
        raise _classify(exc) from None


def read_ns_fds(
    proc: str, pid: int
) -> tuple[list[tuple[int, str, int]], list[tuple[int, str]], list[int]]:
    """The fds of ``pid`` that point at namespaces: (fd, type, inode) and (fd, link),
    and the inodes of its sockets (the same links: no second pass over /proc).

    Most read "TYPE:[INODE]". An fd opened through a bind mount reads as the
    mount's path instead ("/" once the mount is detached); those links are
    returned as candidates for the caller to check against the nsfs mount
    points it knows (stat'ing every file fd would cost more than the walk).
    """
    refs: list[tuple[int, str, int]] = []
    paths: list[tuple[int, str]] = []
    sockets: list[int] = []
    for fd, target in read_fd_links(proc, pid):
        if target.startswith("socket:["):
            if target[8:-1].isdigit():
                sockets.append(int(target[8:-1]))
            continue
        parsed = parse_ns_link(target)
        if parsed:
            refs.append((fd, parsed[0], parsed[1]))
        elif target.startswith("/") and not target.startswith(("/dev/", "/proc/", "/sys/")):
            paths.append((fd, target))
    return refs, paths, sockets


def read_fd_links(proc: str, pid: int) -> list[tuple[int, str]]:
    """(fd, link target) of every open fd of ``pid``, in fd order.

    Since Linux 6.2 the size of /proc/PID/fd is the number of open fds. Most
    processes hold exactly fds 0..n-1, and reading those n links directly
    saves listing the directory (5 of the ~27 syscalls a process costs). A gap
    (a link missing below n), any error, or another kernel falls back to the
    listing, so the result is what listing and reading gives.
    """
    fd_dir = f"{proc}/{pid}/fd"
    links: dict[int, str] = {}
    if _fd_dir_counts(proc):
        try:
            count = os.stat(fd_dir).st_size
        except OSError as exc:
            raise _classify(exc) from None
        try:
            for fd in range(count):
                links[fd] = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            pass  # a gap, or denied: list the directory
        else:
            if count:
                return list(links.items())
    try:
        names = os.listdir(fd_dir)
    except OSError as exc:
        raise _classify(exc) from None
    for fd in sorted(int(name) for name in names if name.isdigit()):
        if fd in links:
            continue
        try:
            links[fd] = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue  # closed meanwhile
    return sorted(links.items())


def _fd_dir_counts(proc: str) -> bool:
    """True when ``proc`` is the procfs of /proc (a test's fake tree is not)."""
    counts = _FD_DIR_COUNTS.get(proc)
    if counts is None:
        try:
            counts = os.stat(proc).st_dev == os.stat("/proc/self").st_dev
        except OSError:
            counts = False
        _FD_DIR_COUNTS[proc] = counts
    return counts


_FD_DIR_COUNTS: dict[str, bool] = {}


class NsfsMount:
    """A bind mount of an nsfs file, as one mount namespace sees it."""

    __slots__ = ("inode", "mountpoint", "ns_type", "pid")

    def __init__(self, ns_type: str, inode: int, mountpoint: str, pid: int) -> None:
        self.ns_type = ns_type
        self.inode = inode
        self.mountpoint = mountpoint
        self.pid = pid  # a process in the mount namespace that sees it


def unescape_mountinfo(field_text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    if "\\" not in field_text:
        return field_text
    out = bytearray()
    raw = field_text.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(raw):
        if raw[i] == 0x5C and i + 3 < len(raw) and raw[i + 1 : i + 4].isdigit():
            out.append(int(raw[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "surrogateescape")


def parse_nsfs_mounts(text: str, pid: int) -> list[NsfsMount]:
    mounts = []
    for line in text.splitlines():
        if " - nsfs " not in line:
            continue
        fields = line.split(" ")
        parsed = parse_ns_link(fields[3]) if len(fields) > 4 else None
        if parsed:
            mounts.append(NsfsMount(parsed[0], parsed[1], unescape_mountinfo(fields[4]), pid))
    return mounts


def read_nsfs_mounts(proc: str, pid: int) -> list[NsfsMount]:
    try:
        text = _read_text(f"{proc}/{pid}/mountinfo", until_eof=True)
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # an exiting process has no mount namespace left
            raise Gone(os.strerror(exc.errno)) from None
        raise
    return parse_nsfs_mounts(text, pid)


def netns_name(mountpoint: str) -> str | None:
    """The `ip netns`/Docker name of a bind mount in a well-known directory."""
    directory, _, name = mountpoint.rpartition("/")
    return name if directory in NETNS_DIRS and name else None
