"""The snapshot: namespaces, processes, holders and what could not be read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from nsview.kernel.nstypes import NS_TYPES

if TYPE_CHECKING:  # imported lazily: `dump --no-net` never needs the network model
    from nsview.model.containers import Container, EngineNetwork
    from nsview.model.net import NetState


SCHEMA_VERSION = 1


def parse_ns_types(text: str) -> tuple[str, ...]:
    """'net, pid' -> ('net', 'pid'), in the order given, without repeats.

    ValueError (a one-line message) for an empty list or an unknown name; the
    CLI's option parsers and the actions share this one definition.
    """
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise ValueError("no namespace types given (e.g. net,uts)")
    for name in names:
        if name not in NS_TYPES:
            raise ValueError(f"unknown namespace type {name!r} (choose from {','.join(NS_TYPES)})")
    return names


@dataclass(slots=True)
class Holder:
    """Something that keeps a namespace alive.

    kind: "process" (its main thread is in it), "thread" (only some thread is),
    "fd" (an open file descriptor), "bind_mount" (an nsfs mount), or
    "for_children" (a process's pid_for_children/time_for_children).
    """

    __json_omit_none__: ClassVar[tuple[str, ...]] = ("tid", "fd", "path")

    kind: str
    pid: int | None = None
    tid: int | None = None
    fd: int | None = None
    path: str | None = None


@dataclass(slots=True)
class Namespace:
    type: str
    inode: int
    id: int | None = None  # NS_GET_ID, where the kernel has it
    dev: int | None = None  # nsfs device; (type, dev, inode) is the identity
    pids: list[int] = field(default_factory=list)
    holders: list[Holder] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    parent: int | None = None  # pid/user namespaces: the parent's inode
    owner: int | None = None  # the owning user namespace's inode
    owner_uid: int | None = None  # user namespaces: the creator's uid
    net: NetState | None = None
    containers: list[str] = field(default_factory=list)  # ids of the containers whose init is in it


@dataclass(slots=True)
class Process:
    pid: int
    ppid: int | None = None
    comm: str = ""
    cmdline: list[str] = field(default_factory=list)
    uid: int | None = None
    nspid: list[int] = field(default_factory=list)  # outermost first, as /proc/PID/status
    cgroup: str | None = None  # the unified (v2) path, else the first v1 path
    ns: dict[str, int] = field(default_factory=dict)  # type -> inode, all eight when readable
    ns_for_children: dict[str, int] = field(default_factory=dict)  # only where it differs
    threads: int = 1
    kthread: bool = False  # kernel thread: always in the initial namespaces
    container: str | None = None  # id of the container whose cgroup it is in


@dataclass(slots=True)
class Diagnostic:
    """Something nsview could not see, and why.

    kind: "denied" (EACCES/EPERM), "gone" (vanished mid-walk), "missing" (a tool
    or kernel feature is absent) or "error". Alike events are merged: ``pids``
    lists every process it concerns.
    """

    kind: str
    what: str  # e.g. "namespaces", "fds", "mountinfo", "netns"
    reason: str
    pids: list[int] = field(default_factory=list)
    path: str | None = None


@dataclass(slots=True)
class Host:
    hostname: str = ""
    kernel: str = ""
    collector_uid: int | None = None  # who ran the collection (0 = root sees everything)
    nsview_version: str = ""
    # /proc/sys/kernel/random/boot_id: namespace ids (NS_GET_ID) compare only within one boot.
    boot_id: str = ""


@dataclass(slots=True)
class Snapshot:
    schema_version: int = SCHEMA_VERSION
    collected_at: str = ""  # ISO 8601, UTC
    host: Host = field(default_factory=Host)
    namespaces: list[Namespace] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    containers: list[Container] = field(default_factory=list)  # see model/containers.py
    networks: list[EngineNetwork] = field(default_factory=list)  # the engines' networks

    def namespace(self, ns_type: str, inode: int) -> Namespace | None:
        for ns in self.namespaces:
            if ns.inode == inode and ns.type == ns_type:
                return ns
        return None

    def process(self, pid: int) -> Process | None:
        for proc in self.processes:
            if proc.pid == pid:
                return proc
        return None
