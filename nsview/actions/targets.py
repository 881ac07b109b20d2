"""What ``nsview exec --target`` means: a PID, an ``ip netns`` name, an nsfs file, or a
name the snapshot knows (a container, ``pod/NAME``, ``NAMESPACE/POD``, Docker's netns names).

:func:`resolve_target` reads /proc and opens nothing it keeps; :func:`plan_join`
is pure and decides which namespaces to join and the command to run there.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from nsview.actions import commands
from nsview.actions.names import NETNS_DIR, validate_netns_name
from nsview.errors import NsviewError, UsageError
from nsview.kernel import nsfs, procfs
from nsview.model import NS_TYPES, parse_ns_types

# The order in which nsenter enters namespaces (user first, mnt late).
NS_ORDER: tuple[str, ...] = commands.ORDER


def parse_types(text: str) -> tuple[str, ...]:
    """'net,uts' -> ('net', 'uts') in nsenter's order; UsageError on empty or unknown names."""
    try:
        names = parse_ns_types(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return tuple(t for t in NS_ORDER if t in names)


@dataclass(frozen=True)
class Target:
    """A place to join. ``namespaces`` is what it offers: type -> inode."""

    kind: str  # "pid", "name" or "path"
    spec: str  # as the user gave it
    namespaces: Mapping[str, int]
    own: Mapping[str, int]  # nsview's own namespaces, to compare with
    pid: int | None = None
    path: str | None = None  # the nsfs file of a "name" or "path" target
    comm: str = ""
    what: str = ""  # a name the snapshot resolved: "container web", "pod default/web"

    def describe(self) -> str:
        if self.what:
            return f"{self.what} (PID {self.pid})" if self.kind == "pid" else self.what
        if self.kind == "pid":
            return f"PID {self.pid} ({self.comm})" if self.comm else f"PID {self.pid}"
        if self.kind == "name":
            return f"netns {self.spec}"
        (ns_type,) = self.namespaces
        return f"{self.path} ({ns_type})"


def classify(spec: str) -> tuple[str, str]:
    """('pid', '123'), ('path', '/x/y') or ('name', 'blue'); no I/O.

    All digits is a PID; anything with a '/' is a path; the rest is an
    ``ip netns`` name (a netns named only with digits is reached by its path,
    /run/netns/123).
    """
    if not spec:
        raise UsageError("empty target: give a PID, an ip netns name or an nsfs file path")
    if spec.isascii() and spec.isdigit():
        return "pid", spec
    if "/" in spec:
        return "path", spec
    return "name", spec


def resolve_target(spec: str, proc: str = "/proc") -> Target:
    """Find what ``spec`` names. NsviewError (one line) when it is not there or not readable."""
    kind, value = classify(spec)
    own = own_namespaces(proc)
    if kind == "pid":
        return _pid_target(spec, int(value), proc, own)
    if kind == "path" and not value.startswith(("/", ".")) and not os.path.lexists(value):
        return snapshot_target(spec, proc, own)  # pod/NAME, NAMESPACE/POD
    if kind == "name":
        validate_netns_name(value)  # no container or pod name is refused by this either
        path = f"{NETNS_DIR}/{value}"
        if not os.path.lexists(path):
            return snapshot_target(spec, proc, own)
        ns_type, inode = _nsfs_file(path, what=f"netns {value!r}")
        if ns_type is None:
            raise NsviewError(
                f"{path} is not a mounted namespace (a stale entry? 'nsview netns del {value}')"
            )
        return Target("name", spec, {ns_type: inode}, own, path=path)
    ns_type, inode = _nsfs_file(value, what=value)
    if ns_type is None:
        raise NsviewError(f"{value} is not a namespace file (expected nsfs, e.g. /proc/PID/ns/net)")
    return Target("path", spec, {ns_type: inode}, own, path=value)


def snapshot_target(spec: str, proc: str, own: Mapping[str, int]) -> Target:
    """A name only a snapshot knows (a container, a pod, Docker's netns names):
    the walk and the engines' state are read to find it (nsview.model.targets)."""
    from nsview.collect import CollectOptions, collect_snapshot
    from nsview.model.targets import TargetError, find_name

    snapshot = collect_snapshot(CollectOptions(proc=proc, net=False))
    try:
        found = find_name(snapshot, spec)
    except TargetError as exc:
        raise NsviewError(str(exc)) from None
    if found.container is not None:
        if found.pid is None:
            raise NsviewError(f"{found.what}: no process of it is readable to join")
        target = _pid_target(str(found.pid), found.pid, proc, own)
        return replace(target, spec=spec, what=found.what)
    ns = found.namespace
    path = _holder_path(ns, proc) if ns is not None else None
    if ns is None or path is None:
        raise NsviewError(f"{found.what}: nothing that nsview can open leads into it")
    return Target("path", spec, {ns.type: ns.inode}, own, path=path, what=found.what)


def _holder_path(ns, proc: str) -> str | None:
    """A path that opens ``ns``: a process in it, else a bind mount through its root."""
    for holder in ns.holders:
        if holder.kind == "process" and holder.pid is not None:
            return f"{proc}/{holder.pid}/ns/{ns.type}"
    for holder in ns.holders:
        if holder.kind == "bind_mount" and holder.path:
            return holder.path if holder.pid is None else f"{proc}/{holder.pid}/root{holder.path}"
    return None


def own_namespaces(proc: str = "/proc") -> dict[str, int]:
    try:
        links, _children = procfs.read_ns_links(f"{proc}/self/ns")
    except (procfs.Gone, procfs.Denied, OSError):
        return {}
    return links


def _pid_target(spec: str, pid: int, proc: str, own: Mapping[str, int]) -> Target:
    if pid <= 0:
        raise UsageError(f"not a process id: {spec}")
    if not os.path.isdir(f"{proc}/{pid}"):
        raise NsviewError(f"no process with PID {pid}")
    try:
        links, _children = procfs.read_ns_links(f"{proc}/{pid}/ns")
    except procfs.Gone:
        raise NsviewError(f"no process with PID {pid} (it exited)") from None
    except procfs.Denied:
        hint = "" if os.geteuid() == 0 else "; run nsview as root"
        raise NsviewError(
            f"permission denied reading the namespaces of PID {pid} (/proc/{pid}/ns){hint}"
        ) from None
    except OSError as exc:
        raise NsviewError(f"cannot read /proc/{pid}/ns: {exc.strerror}") from None
    try:
        with open(f"{proc}/{pid}/comm", encoding="utf-8", errors="replace") as f:
            comm = f.read().strip()
    except OSError:
        comm = ""
    if not links or _state(proc, pid) in ("Z", "X"):  # only its pid and user ns are left
        shown = f"PID {pid} ({comm})" if comm else f"PID {pid}"
        raise NsviewError(f"{shown} has exited (a zombie): no namespaces left to join")
    return Target("pid", spec, links, own, pid=pid, comm=comm)


def _state(proc: str, pid: int) -> str:
    """The state letter of /proc/PID/stat ('R', 'S', 'Z'…), '' if unreadable."""
    try:
        with open(f"{proc}/{pid}/stat", encoding="utf-8", errors="replace") as f:
            rest = f.read().rpartition(")")[2].split()
    except OSError:
        return ""
    return rest[0] if rest else ""


def _nsfs_file(path: str, what: str) -> tuple[str | None, int]:
    """(type, inode) of an nsfs file; (None, inode) for a file that is not nsfs."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise NsviewError(f"permission denied opening {path}") from None
        if exc.errno == errno.ENOENT:
            raise NsviewError(f"{what}: no such file") from None
        raise NsviewError(f"{what}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        return None, st.st_ino
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise NsviewError(f"permission denied opening {path}") from None
        raise NsviewError(f"{what}: {exc.strerror}") from None
    try:
        return nsfs.ns_type(fd), st.st_ino
    finally:
        os.close(fd)


def default_types(target: Target) -> tuple[str, ...]:
    """A PID: each of its namespaces that differs from nsview's own. A file: its type."""
    if target.kind != "pid":
        return tuple(target.namespaces)
    return tuple(
        t for t in NS_ORDER if t in target.namespaces and target.namespaces[t] != target.own.get(t)
    )


SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ash", "ksh", "mksh", "fish", "busybox"})


def is_shell(argv: Sequence[str]) -> bool:
    """``/bin/bash`` alone (an interactive shell), not ``bash -c '…'``."""
    return len(argv) == 1 and os.path.basename(argv[0]) in SHELLS


def default_command(env: Mapping[str, str]) -> tuple[str, ...]:
    shell = env.get("SHELL", "").strip()
    return (shell if shell.startswith("/") else "/bin/sh",)


@dataclass(frozen=True)
class JoinPlan:
    """Which namespaces to join, in which order, and what to run there."""

    target: Target
    types: tuple[str, ...]  # in NS_ORDER
    argv: tuple[str, ...]
    default_shell: bool = False  # argv is the default shell: fall back to /bin/sh inside
    notes: tuple[str, ...] = field(default=())

    @property
    def fork(self) -> bool:
        """A pid namespace applies to children only: CMD must be forked after setns."""
        return "pid" in self.types

    @property
    def workdir(self) -> str | None:
        """'target' (the target's cwd), '/' or None (keep nsview's)."""
        if "mnt" not in self.types:
            return None
        return "target" if self.target.kind == "pid" else "/"

    def nsview_args(self) -> list[str]:
        """The same join as an ``nsview exec`` command line (argv after 'nsview').

        A defaulted shell is left out, so ``nsview exec`` picks it again (and
        falls back to /bin/sh inside a target that lacks it).
        """
        args = ["exec", "--target", self.target.spec, "--types", ",".join(self.types)]
        return args if self.default_shell else [*args, "--", *self.argv]

    @property
    def interactive(self) -> bool:
        """CMD is a shell of its own (nothing to read once it exits)."""
        return self.default_shell or is_shell(self.argv)

    def equivalent_line(self) -> str:
        """The equivalent nsenter command, quoted for a shell (display only)."""
        return commands.shell_line([self.equivalent()])

    def equivalent(self) -> list[str]:
        if self.target.kind == "pid":
            assert self.target.pid is not None
            return commands.nsenter_for_pid(self.target.pid, self.types, self.argv)
        assert self.target.path is not None
        return commands.nsenter_for_file(self.types[0], self.target.path, self.argv)


def plan_join(
    target: Target,
    types: Sequence[str] | None,
    argv: Sequence[str] | None,
    env: Mapping[str, str] | None = None,
) -> JoinPlan:
    """Check the requested types against what the target offers and settle the command."""
    env = os.environ if env is None else env
    notes: list[str] = []
    if types is None:
        chosen = default_types(target)
        if not chosen:
            raise NsviewError(
                f"{target.describe()} shares all of nsview's namespaces; nothing to join"
                " (name some with --types)"
            )
    else:
        wanted = set(types)
        unknown = sorted(wanted - set(NS_TYPES))
        if unknown:
            raise UsageError(f"unknown namespace type {unknown[0]!r}")
        missing = [t for t in NS_ORDER if t in wanted and t not in target.namespaces]
        if missing:
            if target.kind == "pid":
                raise NsviewError(f"{target.describe()} has no {missing[0]} namespace to join")
            (have,) = target.namespaces
            raise UsageError(
                f"{target.describe()} is a {have} namespace; it cannot give --types {missing[0]}"
            )
        chosen = tuple(t for t in NS_ORDER if t in wanted)
    if "user" in chosen and target.namespaces.get("user") == target.own.get("user"):
        # setns(2) refuses to re-enter one's own user namespace (EINVAL).
        chosen = tuple(t for t in chosen if t != "user")
        notes.append("already in that user namespace; not joining it again")
        if not chosen:
            raise NsviewError(f"{target.describe()} is in nsview's user namespace; nothing to join")
    default_shell = not argv
    command = tuple(argv) if argv else default_command(env)
    return JoinPlan(target, chosen, command, default_shell=default_shell, notes=tuple(notes))


def spec_for(item: object) -> tuple[str, tuple[str, ...] | None] | None:
    """How to reach a snapshot item: (TARGET for ``nsview exec``, types to pre-select).

    A process: its PID, default types. A namespace: its ``ip netns`` name, else
    a process whose main thread is in it (joining only that type), else the
    nsfs file of a thread, an fd, a ``*_for_children`` link or a bind mount
    (seen through the holder's root). None when nothing leads into it.
    """
    from nsview.model import Namespace, Process

    if isinstance(item, Process):
        return str(item.pid), None
    if not isinstance(item, Namespace):
        return None
    one = (item.type,)
    if item.type == "net" and item.names:
        return item.names[0], one
    by_kind: dict[str, list] = {}
    for holder in item.holders:
        if holder.pid is not None:
            by_kind.setdefault(holder.kind, []).append(holder)
    for holder in by_kind.get("process", []):
        return str(holder.pid), one
    for holder in by_kind.get("thread", []):
        if holder.tid is not None:
            return f"/proc/{holder.pid}/task/{holder.tid}/ns/{item.type}", one
    for holder in by_kind.get("fd", []):
        if holder.fd is not None:
            return f"/proc/{holder.pid}/fd/{holder.fd}", one
    for holder in by_kind.get("for_children", []):
        return f"/proc/{holder.pid}/ns/{item.type}_for_children", one
    for holder in by_kind.get("bind_mount", []):
        if holder.path:
            return f"/proc/{holder.pid}/root{holder.path}", one
    return None
