"""Read processes, threads, namespace links, fds and nsfs mounts from /proc.

Every read may race with an exiting process or be denied; each helper either
returns what it read or raises :class:`Gone` / :class:`Denied`, which the walk
turns into diagnostics. Nothing here imports anything heavier than ``os``.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field

from nsview.model import NS_TYPES, Process

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


def read_ns_links(ns_dir: str) -> tuple[dict[str, int], dict[str, int]]:
    """(type -> inode, for_children type -> inode) from a /proc/.../ns directory.

    A type the kernel lacks (no time namespaces before 5.6) is simply absent.
    Raises Gone when the task vanished and Denied when its links are hidden.
    """
    links: dict[str, int] = {}
    for ns_type in NS_TYPES:
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
        try:
            target = os.readlink(f"{ns_dir}/{name}")
        except OSError:
            continue
        parsed = parse_ns_link(target)
        if parsed and parsed[1] != links.get(ns_type):
            children[ns_type] = parsed[1]
    return links, children


def parse_status(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    return fields


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


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "surrogateescape")
    except OSError as exc:
        raise _classify(exc) from None


def read_process(proc: str, pid: int) -> Process:
    """Identity of one process (no namespaces yet). Raises Gone or Denied."""
    base = f"{proc}/{pid}"
    status = parse_status(_read_text(f"{base}/status"))
    try:
        cmdline_raw = _read_text(f"{base}/cmdline")
    except Denied:
        cmdline_raw = ""
    try:
        cgroup = parse_cgroup(_read_text(f"{base}/cgroup"))
    except Denied:
        cgroup = None
    uid_field = status.get("Uid", "").split()
    nspid = status.get("NSpid", "").split()
    return Process(
        pid=pid,
        ppid=int(status["PPid"]) if status.get("PPid", "").isdigit() else None,
        comm=status.get("Name", ""),
        cmdline=cmdline_raw.split("\0")[:-1] if cmdline_raw else [],
        uid=int(uid_field[0]) if uid_field else None,
        nspid=[int(p) for p in nspid] if nspid else [pid],
        cgroup=cgroup,
        threads=int(status.get("Threads", "1") or 1),
    )


def list_pids(proc: str) -> list[int]:
    return sorted(int(name) for name in os.listdir(proc) if name.isdigit())


def list_tids(proc: str, pid: int) -> list[int]:
    try:
        return sorted(int(name) for name in os.listdir(f"{proc}/{pid}/task") if name.isdigit())
    except OSError as exc:
        raise _classify(exc) from None


@dataclass(slots=True)
class FdRef:
    """An fd of some process that refers to a namespace."""

    pid: int
    fd: int
    ns_type: str | None  # None: an nsfs file seen by path; type found by ioctl later
    inode: int
    path: str | None = None  # what the link reads when it is not "TYPE:[INODE]"


def read_ns_fds(proc: str, pid: int, nsfs_dev: int | None) -> list[FdRef]:
    """The fds of ``pid`` that point at namespaces.

    Most read "TYPE:[INODE]"; an fd opened through a bind mount reads as the
    mount's path instead, so absolute paths outside /dev are fstat'ed and kept
    when they live on the nsfs device.
    """
    fd_dir = f"{proc}/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError as exc:
        raise _classify(exc) from None
    refs: list[FdRef] = []
    for name in names:
        try:
            target = os.readlink(f"{fd_dir}/{name}")
        except OSError:
            continue  # closed meanwhile
        parsed = parse_ns_link(target)
        if parsed:
            refs.append(FdRef(pid, int(name), parsed[0], parsed[1]))
        elif nsfs_dev is not None and target.startswith("/") and not target.startswith("/dev/"):
            try:
                st = os.stat(f"{fd_dir}/{name}")
            except OSError:
                continue
            if st.st_dev == nsfs_dev:
                refs.append(FdRef(pid, int(name), None, st.st_ino, target))
    return refs


@dataclass(slots=True)
class NsfsMount:
    """A bind mount of an nsfs file, as one mount namespace sees it."""

    ns_type: str
    inode: int
    mountpoint: str
    pid: int  # a process in the mount namespace that sees it


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
    return parse_nsfs_mounts(_read_text(f"{proc}/{pid}/mountinfo"), pid)


def netns_name(mountpoint: str) -> str | None:
    """The `ip netns`/Docker name of a bind mount in a well-known directory."""
    directory, _, name = mountpoint.rpartition("/")
    return name if directory in NETNS_DIRS and name else None


@dataclass(slots=True)
class ThreadNs:
    """A thread whose namespaces differ from its process's main thread."""

    pid: int
    tid: int
    ns: dict[str, int] = field(default_factory=dict)  # only the differing types
