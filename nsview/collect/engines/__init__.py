"""Container attribution: which container, pod and engine network owns what.

``attribute(snapshot, by_key, diag, …)`` runs after the /proc walk, before
the network is read; the ``finish`` it returns runs the steps that need the
network (``AFTER_NETWORK``) once it is. It is a pipeline of small steps, in
the order of the tables below, lxkns style:

1. **match** (:mod:`.cgroups`): each process's cgroup path, as read in the
   same walk, names its engine and container id. Processes are grouped per
   container there: a pid whose cgroup changed between reads is attributed by
   what the walk read, never by a second read.
2. **readers** (``READERS``): one module per engine reads that engine's own
   state, once per container (not per process), and describes it.
3. **attach**: the pids, init and namespaces from the walk, and the
   back-pointers (``Process.container``, ``Namespace.containers``); a
   container with no live process in this walk is dropped.
4. **decorators** (``DECORATORS``, then ``AFTER_NETWORK``): generic steps over
   every container: Kubernetes labels into
   pods, compose projects, the container-side interface of each network (by
   MAC, from the kernel), the kernel's network mode, and the netns of each
   network's bridge.

Reader interface
----------------
A reader is a module ``nsview/collect/engines/<name>.py`` listed in
``READERS`` as ``Reader(module, engines, daemons)``: it runs when the matcher
found a container of one of ``engines`` (cgroup engine names: ``docker``,
``podman``, ``containerd``, ``cri-o``, ``cri``) or when a process whose comm
is in ``daemons`` runs (so a rootless engine whose containers have no cgroup
of their own still gets asked). The module defines::

    def read(ctx: EngineContext) -> EngineResult

``ctx`` (:class:`EngineContext`) gives:

- ``ctx.found(*engines) -> list[Found]``: the containers the cgroups named,
  one per id, each with ``id``, ``engine``, ``cgroup`` (the path),
  ``pids`` (walk order), ``pod_id`` / ``pod_uid`` / ``namespace`` from the path.
- ``ctx.processes``: pid -> :class:`~nsview.model.Process` of this walk;
  ``ctx.daemons(*comms)``: the running processes with one of those comms (to
  read a daemon's flags, e.g. ``dockerd --data-root``).
- ``ctx.roots(engine, discovered, defaults) -> list[str]``: the state roots to
  read, in order: ``CollectOptions.engine_roots[engine]`` (tests), else
  ``$NSVIEW_<ENGINE>_ROOTS`` (``:``-separated; ``-`` becomes ``_``), else
  ``discovered + defaults`` without repeats.
- ``ctx.daemon_path(pid, path)``: ``path`` as the daemon ``pid`` sees it (through
  ``/proc/PID/root`` when it runs in another mount namespace).
- ``ctx.read_json(path) -> object | None``: parsed JSON, cached per path; a
  missing file is None silently, anything else is None plus a diagnostic.
- ``ctx.diag(kind, what, reason, path=None)``: a snapshot diagnostic.
- ``ctx.host_ns``: type -> inode of the initial namespaces; ``ctx.namespace(type,
  inode)``: a snapshot Namespace (its ``net`` is set when the network was read).
- ``ctx.socket_timeout``: seconds an engine socket may take (0: never ask one).
- ``ctx.engine_host_net[container_id] = inode``: the netns the engine counts as
  the host's for that container (its daemon's), when the reader knows it: the
  kernel network mode says ``host`` for a container in it.
- ``ctx.proc``: the /proc root.

It returns :class:`EngineResult` (``containers``, ``networks``). For each
container it describes (normally those of ``ctx.found(...)``, same ``id``), a
reader sets what the engine's state says: ``name``, ``image``, ``image_id``,
``pod`` (:class:`~nsview.model.containers.PodRef`), ``sandbox``,
``rootless``, ``network_mode``, ``networks`` (name, ip, mac, gateway,
bridge, network_id; ``interface`` is filled from the kernel by MAC),
``ports``, ``labels``, ``namespace``, ``sandbox_key``, ``main_pid`` (the
engine's idea of the init pid, used when the walk has it in that container)
and ``source`` (fact -> file path or ``socket:PATH``: at least ``name``; the
pipeline drops the facts whose source is the same as ``name``'s).
The pipeline fills ``pids``, ``main_pid``, ``ns``, ``cgroup``,
``kernel_network_mode``, ``project`` (from compose labels) and
``source["cgroup"]``; a reader may set ``pids`` itself only for a container
the cgroups do not name (rootless without cgroups), and then it must set
``main_pid`` too: the pipeline adds that process's descendants in its pid
namespace. A found container no reader describes is still listed (id, engine,
pids), with a ``missing`` diagnostic. The first reader to describe an id wins.

Readers must not raise for bad state: a file that does not parse, a field of
the wrong type or a format of another engine version is a diagnostic, and the
container keeps what could be read. Everything is read-only; a socket, when
asked at all, is asked with ``ctx.socket_timeout``.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from nsview.collect.engines.cgroups import CgroupMatch, match
from nsview.model import Namespace, Process, Snapshot

if TYPE_CHECKING:  # loaded once a container or an engine is found (dump's start-up)
    from nsview.model.containers import Container, EngineNetwork


class Reader(NamedTuple):
    module: str  # under nsview.collect.engines
    engines: tuple[str, ...]  # cgroup engine names whose containers it reads
    daemons: tuple[str, ...] = ()  # comms whose presence alone makes it run


# In order: a container id described by an earlier reader is not asked of a later one.
READERS: tuple[Reader, ...] = (
    Reader("docker", ("docker",), ("dockerd",)),
    Reader("podman", ("podman",), ("conmon", "podman", "rootlessport")),
    Reader("containerd", ("containerd", "cri"), ("containerd", "containerd-shim")),
    Reader("crio", ("cri-o", "cri"), ("crio",)),
    # After the others (ties CNI IPs to what they found); CNI is set up by those runtimes.
    Reader("cni", ("containerd", "cri", "cri-o", "podman"),
           ("containerd", "crio", "conmon", "podman", "kubelet")),
)

DEFAULT_SOCKET_TIMEOUT = 0.5


class Found:
    """A container the cgroups named: its id, engine and the pids the walk put in it."""

    __slots__ = ("cgroup", "engine", "id", "namespace", "pid_set", "pids", "pod_id", "pod_uid")

    def __init__(self, found: CgroupMatch, cgroup: str) -> None:
        self.id = found.id
        self.engine = found.engine
        self.cgroup = cgroup
        self.pod_id = found.pod_id
        self.pod_uid = found.pod_uid
        self.namespace = found.namespace
        self.pids: list[int] = []
        self.pid_set: set[int] = set()

    def __repr__(self) -> str:
        return f"Found({self.engine!r}, {self.id[:12]!r}, pids={self.pids})"


class EngineResult(NamedTuple):
    containers: list[Container]
    networks: list[EngineNetwork]


class EngineContext:
    """What a reader may use; see the module docstring."""

    def __init__(
        self,
        snapshot: Snapshot,
        by_key: dict[tuple[str, int], Namespace],
        found: dict[str, Found],
        diag: Callable[..., None],
        proc: str = "/proc",
        engine_roots: dict[str, tuple[str, ...]] | None = None,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
    ) -> None:
        self.snapshot = snapshot
        self.proc = proc
        self.processes: dict[int, Process] = {p.pid: p for p in snapshot.processes}
        self.host_ns: dict[str, int] = _host_namespaces(snapshot.processes)
        self.socket_timeout = socket_timeout
        self._by_key = by_key
        self._found = found
        self._diag = diag
        self._engine_roots = engine_roots or {}
        self._json: dict[str, Any] = {}
        self._own_mnt: int | None = _own_mnt_ns()
        self._by_comm: dict[str, list[Process]] | None = None
        self.engine_host_net: dict[str, int] = {}  # container id -> its engine's host netns

    def found(self, *engines: str) -> list[Found]:
        return [f for f in self._found.values() if f.engine in engines]

    def daemons(self, *comms: str) -> list[Process]:
        if self._by_comm is None:
            self._by_comm = {}
            for proc in self.snapshot.processes:
                if not proc.kthread:
                    self._by_comm.setdefault(proc.comm, []).append(proc)
        return [p for comm in comms for p in self._by_comm.get(comm, ())]

    def roots(self, engine: str, discovered: list[str], defaults: list[str]) -> list[str]:
        given = self._engine_roots.get(engine)
        if given is not None:
            return list(given)
        env = os.environ.get(f"NSVIEW_{engine.upper().replace('-', '_')}_ROOTS")
        if env:
            return [p for p in env.split(":") if p]
        return list(dict.fromkeys([*discovered, *defaults]))

    def daemon_path(self, pid: int, path: str) -> str:
        proc = self.processes.get(pid)
        mnt = proc.ns.get("mnt") if proc else None
        if mnt is None or mnt == self._own_mnt or not path.startswith("/"):
            return path
        return f"{self.proc}/{pid}/root{path}"

    def read_json(self, path: str) -> Any:
        if path in self._json:
            return self._json[path]
        value = None
        try:
            with open(path, "rb") as handle:
                value = json.loads(handle.read())
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                kind = "denied" if exc.errno in (errno.EACCES, errno.EPERM) else "error"
                self.diag(kind, "engine state", exc.strerror or str(exc), path=path)
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            self.diag("error", "engine state", f"not JSON: {exc}", path=path)
        self._json[path] = value
        return value

    def diag(self, kind: str, what: str, reason: str, path: str | None = None) -> None:
        self._diag(kind, what, reason, path=path)

    def namespace(self, ns_type: str, inode: int | None) -> Namespace | None:
        return None if inode is None else self._by_key.get((ns_type, inode))


def _host_namespaces(processes: list[Process]) -> dict[str, int]:
    """The initial namespaces: a kernel thread's (PID 1's may be denied)."""
    for proc in processes:
        if proc.kthread and proc.ns:
            return dict(proc.ns)
    for proc in processes:
        if proc.pid == 1 and proc.ns:
            return dict(proc.ns)
    return {}


def _own_mnt_ns() -> int | None:
    try:
        return os.stat("/proc/self/ns/mnt").st_ino
    except OSError:
        return None


def match_processes(processes: list[Process]) -> dict[str, Found]:
    """Container id -> Found, grouping the walk's processes by their cgroup path."""
    found: dict[str, Found] = {}
    cache: dict[str, CgroupMatch | None] = {}  # many processes share one cgroup
    for proc in processes:
        path = proc.cgroup
        if not path or proc.kthread:
            continue
        hit = cache[path] if path in cache else cache.setdefault(path, match(path))
        if hit is None:
            continue
        entry = found.get(hit.id)
        if entry is None:
            entry = found[hit.id] = Found(hit, path)
        entry.pids.append(proc.pid)
        entry.pid_set.add(proc.pid)
    return found


def attribute(
    snapshot: Snapshot,
    by_key: dict[tuple[str, int], Namespace],
    diag: Callable[..., None],
    *,
    proc: str = "/proc",
    engine_roots: dict[str, tuple[str, ...]] | None = None,
    socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
    readers: tuple[Reader, ...] = READERS,
) -> Callable[[], None]:
    """Fill ``snapshot.containers`` and ``snapshot.networks`` and the back-pointers.

    Runs before the network is read (``nsview net web`` must know web's netns
    first); returns ``finish``, to call once the network is in the snapshot
    (or at once without it): the steps that look at interfaces
    (``AFTER_NETWORK``).
    """
    found = match_processes(snapshot.processes)
    ctx = EngineContext(snapshot, by_key, found, diag, proc, engine_roots, socket_timeout)
    wanted = [reader for reader in readers if _wanted(ctx, reader)]
    if not found and not wanted:
        return _nothing  # no container and no engine: nothing more to load or read
    from nsview.model.containers import Container
    containers: dict[str, Container] = {}
    networks: list[EngineNetwork] = []
    for reader in wanted:
        try:
            module = importlib.import_module(f"nsview.collect.engines.{reader.module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"nsview.collect.engines.{reader.module}":
                raise
            continue  # not written yet: its containers stay undescribed
        result = module.read(ctx)
        for container in result.containers:
            containers.setdefault(container.id, container)
        networks.extend(result.networks)
    for entry in found.values():
        if entry.id not in containers:
            containers[entry.id] = Container(id=entry.id, engine=entry.engine)
            diag("missing", "engine state", f"no state found for {entry.engine} container "
                 f"{entry.id[:12]}", path=entry.cgroup)
    described = sorted(containers.values(), key=lambda c: (c.engine, c.name or c.id))
    attach_processes(ctx, described, networks)
    # Only containers with a live process in this walk: the snapshot is of the host now.
    snapshot.containers = [c for c in described if c.pids]
    snapshot.networks = networks
    for decorate in DECORATORS:
        decorate(ctx, snapshot.containers, snapshot.networks)

    def finish() -> None:
        for decorate in AFTER_NETWORK:
            decorate(ctx, snapshot.containers, snapshot.networks)

    return finish


def _nothing() -> None:
    return None


def _wanted(ctx: EngineContext, reader: Reader) -> bool:
    if not reader.engines and not reader.daemons:
        return True  # cni: its networks are there whoever set them up
    for name in (reader.module, *reader.engines):
        if name in ctx._engine_roots or os.environ.get(
            f"NSVIEW_{name.upper().replace('-', '_')}_ROOTS"
        ):
            return True  # roots given: read them even with no daemon or cgroup seen
    if reader.engines and ctx.found(*reader.engines):
        return True
    return bool(reader.daemons and ctx.daemons(*reader.daemons))


# ---- decorators: generic steps over every container, in this order ----------


def attach_processes(ctx: EngineContext, containers: list[Container], _nets) -> None:
    """pids, init and namespaces from the walk; Process.container, Namespace.containers."""
    for container in containers:
        entry = ctx._found.get(container.id)
        if entry is not None:
            container.pids = list(entry.pids)
            container.cgroup = entry.cgroup
            container.source.setdefault("cgroup", f"{ctx.proc}/{entry.pids[0]}/cgroup")
            if container.namespace is None and entry.namespace:
                container.namespace = entry.namespace
            pid_set = entry.pid_set
        else:
            pid_set = _descendants(ctx, container)
            container.pids = sorted(pid_set)
        container.main_pid = _init_pid(ctx, container, pid_set)
        main = ctx.processes.get(container.main_pid) if container.main_pid else None
        container.ns = dict(main.ns) if main else {}
        _compact_source(container.source)
        processes = ctx.processes
        cid = container.id
        for pid in container.pids:
            process = processes.get(pid)
            if process is not None and process.container is None:
                process.container = cid
        for ns_type, inode in container.ns.items():
            ns = ctx.namespace(ns_type, inode)
            if ns is not None and container.id not in ns.containers:
                ns.containers.append(container.id)


def _compact_source(source: dict[str, str]) -> None:
    """A fact whose source is the file that gave the name is left out: the JSON
    says each path once per container (docs/schema.md ``source``)."""
    named = source.get("name")
    if named is not None:
        for fact in [f for f, where in source.items() if where == named and f != "name"]:
            del source[fact]


def _descendants(ctx: EngineContext, container: Container) -> set[int]:
    """A container the cgroups do not name: its init and init's descendants
    that share init's pid namespace."""
    main = ctx.processes.get(container.main_pid) if container.main_pid else None
    if main is None:
        return set(container.pids)
    pidns = main.ns.get("pid")
    children: dict[int, list[int]] = {}
    for proc in ctx.processes.values():
        if proc.ppid is not None:
            children.setdefault(proc.ppid, []).append(proc.pid)
    seen = {main.pid, *container.pids}
    todo = [main.pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in seen and ctx.processes[child].ns.get("pid") == pidns:
                seen.add(child)
                todo.append(child)
    return seen


def _init_pid(ctx: EngineContext, container: Container, pid_set: set[int]) -> int | None:
    """The engine's init pid when the walk saw it in the container, else the
    process whose parent is outside it (the lowest such pid)."""
    if container.main_pid in pid_set:
        return container.main_pid
    if len(pid_set) == 1:
        return next(iter(pid_set))
    roots = [
        pid
        for pid in pid_set
        if pid in ctx.processes and ctx.processes[pid].ppid not in pid_set
    ]
    return min(roots or pid_set, default=None)


_K8S_LABELS = ("io.kubernetes.pod.name", "io.kubernetes.pod.namespace", "io.kubernetes.pod.uid")


def pods_from_labels(_ctx: EngineContext, containers: list[Container], _nets) -> None:
    """Kubernetes through dockershim/cri-dockerd: the pod is in the labels."""
    from nsview.model.containers import PodRef

    for container in containers:
        labels = container.labels
        if container.pod is not None or _K8S_LABELS[0] not in labels:
            continue
        container.pod = PodRef(
            name=labels.get(_K8S_LABELS[0]),
            namespace=labels.get(_K8S_LABELS[1]),
            uid=labels.get(_K8S_LABELS[2]),
            id=labels.get("io.kubernetes.sandbox.id"),
        )
        if labels.get("io.kubernetes.docker.type") == "podsandbox":
            container.sandbox = True
            container.pod.id = container.id


_PROJECT_LABELS = ("com.docker.compose.project", "io.podman.compose.project")


def compose_projects(_ctx: EngineContext, containers: list[Container], _nets) -> None:
    for container in containers:
        if container.project is None:
            for label in _PROJECT_LABELS:
                if container.labels.get(label):
                    container.project = container.labels[label]
                    break


def interfaces_by_mac(ctx: EngineContext, containers: list[Container], _nets) -> None:
    """Each network's container-side ifname, from the container's netns as read."""
    for container in containers:
        netns = ctx.namespace("net", container.ns.get("net"))
        if netns is None or netns.net is None:
            continue
        by_mac = {i.mac.lower(): i.name for i in netns.net.interfaces if i.mac}
        by_ip = {
            a.cidr.partition("/")[0]: i.name
            for i in netns.net.interfaces
            for a in i.addresses
        }
        for network in container.networks:
            if network.interface:
                continue
            name = by_mac.get((network.mac or "").lower())
            if name is None and network.ip:
                name = by_ip.get(network.ip.partition("/")[0])
            network.interface = name


def kernel_network_modes(ctx: EngineContext, containers: list[Container], _nets) -> None:
    """What the kernel shows: host (the initial netns, its engine daemon's, or
    the one its launcher runs in), container:<name>, pod, none (only loopback)
    or private."""
    owners: dict[int, Container] = {}
    for container in sorted(containers, key=_owner_rank):
        inode = container.ns.get("net")
        if inode is not None:
            owners.setdefault(inode, container)
    host_net = ctx.host_ns.get("net")
    for container in containers:
        inode = container.ns.get("net")
        if inode is None:
            continue
        owner = owners[inode]
        if inode in (host_net, ctx.engine_host_net.get(container.id),
                     _launcher_netns(ctx, container)):
            mode = "host"
        elif owner is not container:
            same_pod = owner.sandbox and container.pod and owner.pod and (
                container.pod.id == owner.pod.id or container.pod.uid == owner.pod.uid
            )
            mode = "pod" if same_pod else f"container:{owner.name or owner.id[:12]}"
        else:
            netns = ctx.namespace("net", inode)
            net = netns.net if netns else None
            only_lo = net is not None and all(i.kind == "loopback" or i.name == "lo"
                                              for i in net.interfaces)
            mode = "none" if only_lo else "private"
        container.kernel_network_mode = mode


def _launcher_netns(ctx: EngineContext, container: Container) -> int | None:
    """The netns of the process that started the container's init (the shim,
    conmon): the engine's host, even when the engine itself runs in a netns."""
    main = ctx.processes.get(container.main_pid) if container.main_pid else None
    parent = ctx.processes.get(main.ppid) if main and main.ppid else None
    if parent is None or parent.pid in container.pids:
        return None
    return parent.ns.get("net")


def _owner_rank(container: Container) -> tuple:
    """Who owns a shared netns: a sandbox, then one that did not join another, then
    the oldest (lowest) init pid."""
    joined = (container.network_mode or "").startswith("container:")
    return (not container.sandbox, joined, container.main_pid or 1 << 30)


def bridge_namespaces(ctx: EngineContext, _containers, networks: list[EngineNetwork]) -> None:
    """A network's bridge netns, when a reader did not say: where that bridge exists."""
    pending = [n for n in networks if n.bridge and n.bridge_netns is None]
    if not pending:
        return
    bridges: dict[str, list[int]] = {}
    for ns in ctx.snapshot.namespaces:
        if ns.type == "net" and ns.net is not None:
            for iface in ns.net.interfaces:
                if iface.kind == "bridge":
                    bridges.setdefault(iface.name, []).append(ns.inode)
    for network in pending:
        places = bridges.get(network.bridge or "", [])
        if len(places) == 1:
            network.bridge_netns = places[0]
        elif ctx.host_ns.get("net") in places:
            network.bridge_netns = ctx.host_ns["net"]


# (ctx, containers, networks) -> None
Decorator = Callable[..., None]
DECORATORS: tuple[Decorator, ...] = (pods_from_labels, compose_projects)
# After the network is read (they look at interfaces; without it they do what they can).
AFTER_NETWORK: tuple[Decorator, ...] = (
    interfaces_by_mac,
    kernel_network_modes,
    bridge_namespaces,
)
