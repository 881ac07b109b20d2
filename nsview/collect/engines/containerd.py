"""containerd (``ctr``, nerdctl, and Kubernetes through its CRI plugin), from disk.

Sources (docs/containers.md has the table):

- The task bundle ``<state>/io.containerd.runtime.v2.task/<namespace>/<id>/``:
  ``config.json`` (the OCI spec: CRI annotations, the namespaces it joined)
  and ``init.pid``. The CRI annotations name the pod and the container:
  ``io.kubernetes.cri.container-type`` (``sandbox`` for the pause container,
  which owns the pod's net/ipc/uts, or ``container``), ``…sandbox-id``,
  ``…sandbox-name``, ``…sandbox-namespace``, ``…sandbox-uid``,
  ``…container-name``, ``…image-name``.
- The metadata store ``<root>/io.containerd.metadata.v1.bolt/meta.db`` (bbolt:
  ``v1/<namespace>/containers/<id>`` with ``image`` and ``labels``): the image
  of a container that has no CRI annotation (``ctr run``), read only then,
  once per root.
- CNI (:mod:`.cni`): the IPs, MACs and network of each container that CNI set
  up, by the id containerd gave CNI (``<namespace>-<id>`` for ``ctr run
  --cni``, the sandbox id for CRI).

Where the state is: each running ``containerd``'s ``--config`` (default
``/etc/containerd/config.toml``: ``root``, ``state``) or ``--root`` /
``--state``; each shim's working directory (``containerd-shim-runc-v2`` runs
in its task's bundle, so its parents name the state dir); then
``/run/containerd``. Docker's own containerd (namespace ``moby``) is left to
the Docker reader. ``ctr run`` names need not be 64-hex ids, which the cgroup
matcher wants, so such a container is found through its shim and its init
(``init.pid``), and the pipeline adds the init's descendants.
"""

from __future__ import annotations

import os
from typing import Any

from nsview.collect.engines import EngineContext, EngineResult, cni
from nsview.collect.engines.boltdb import BoltDB, BoltError, Bucket
from nsview.model.containers import Container, ContainerNetwork, PodRef

ENGINE = "containerd"
TASKS = "io.containerd.runtime.v2.task"
META_DB = "io.containerd.metadata.v1.bolt/meta.db"
DEFAULT_STATE, DEFAULT_ROOT = "/run/containerd", "/var/lib/containerd"
DEFAULT_CONFIG = "/etc/containerd/config.toml"
DOCKER_NAMESPACE = "moby"  # Docker's containers: the Docker reader describes them
CRI = "io.kubernetes.cri."


class Instance:
    """One containerd's state dir (bundles) and root (metadata), as readable here."""

    __slots__ = ("netns", "root", "state")

    def __init__(self, state: str, root: str | None, netns: int | None = None) -> None:
        self.state = state
        self.root = root
        self.netns = netns


def read(ctx: EngineContext) -> EngineResult:
    instances = discover(ctx)
    by_state = {i.state: i for i in instances}
    found = {f.id: f for f in ctx.found(ENGINE, "cri")}
    states = ctx.roots(ENGINE, [i.state for i in instances], [DEFAULT_STATE])
    cni_state = cni.state_for(ctx)
    containers: list[Container] = []
    seen: set[str] = set()
    for state in states:
        instance = by_state.get(state) or Instance(state, _root_beside(state))
        meta: _Meta | None = None
        for namespace, cid, bundle in _bundles(state):
            if cid in seen or namespace == DOCKER_NAMESPACE:
                continue
            spec = ctx.read_json(f"{bundle}/config.json")
            if not isinstance(spec, dict):
                continue
            main_pid = _init_pid(bundle)
            entry = found.get(cid)
            if entry is None and not _is_its_init(ctx, main_pid, namespace, cid):
                continue  # no live init in this walk
            annotations = _dict(spec.get("annotations"))
            if meta is None and not annotations.get(CRI + "image-name"):
                meta = _Meta(ctx, instance.root)
            container = describe(cid, namespace, bundle, spec, main_pid, meta)
            if entry is None:
                container.pids = [main_pid]  # a name the cgroup matcher cannot see
            _attach_cni(container, cni_state)
            seen.add(cid)
            containers.append(container)
    _modes_from_owners(containers)
    return EngineResult(containers, [])  # CNI's networks: the cni reader lists them


# ---- where the state is ------------------------------------------------------


def discover(ctx: EngineContext) -> list[Instance]:
    instances: dict[str, Instance] = {}
    for proc in ctx.daemons("containerd"):
        state, root = _daemon_dirs(ctx, proc.pid, proc.cmdline)
        instances.setdefault(state, Instance(state, root, proc.ns.get("net")))
    for proc in ctx.daemons("containerd-shim", "containerd-shim-runc-v2"):
        try:
            bundle = os.readlink(f"{ctx.proc}/{proc.pid}/cwd")
        except OSError:
            continue
        tasks = os.path.dirname(os.path.dirname(bundle))
        if os.path.basename(tasks) != TASKS:
            continue
        state = ctx.daemon_path(proc.pid, os.path.dirname(tasks))
        instances.setdefault(state, Instance(state, _root_beside(state), proc.ns.get("net")))
    return list(instances.values())


def _daemon_dirs(ctx: EngineContext, pid: int, argv: list[str]) -> tuple[str, str]:
    flags = _flags(argv[1:])
    config_path = flags.get("config") or flags.get("c") or DEFAULT_CONFIG
    config = _toml(ctx, ctx.daemon_path(pid, config_path))
    state = flags.get("state") or _str(config.get("state")) or DEFAULT_STATE
    root = flags.get("root") or _str(config.get("root")) or DEFAULT_ROOT
    return ctx.daemon_path(pid, state), ctx.daemon_path(pid, root)


_VALUED = ("config", "c", "root", "state", "address", "a", "log-level", "l")


def _flags(argv: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-"):
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if not eq and name in _VALUED and i < len(argv):
            value = argv[i]
            i += 1
        out[name] = value
    return out


def _toml(ctx: EngineContext, path: str) -> dict:
    import tomllib

    try:
        with open(path, "rb") as f:
            value = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        ctx.diag("error", "containerd config", exc.strerror or str(exc), path=path)
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        ctx.diag("error", "containerd config", f"not TOML: {exc}", path=path)
        return {}
    return value if isinstance(value, dict) else {}


def _root_beside(state: str) -> str | None:
    """Without a daemon to ask: the default root goes with the default state, and
    ``X/state`` with ``X/root`` (containerd run with ``--root X/root --state
    X/state``, as the tests and their copied state do)."""
    if state == DEFAULT_STATE:
        return DEFAULT_ROOT
    sibling = os.path.join(os.path.dirname(state.rstrip("/")), "root")
    return sibling if os.path.basename(state.rstrip("/")) == "state" and os.path.isdir(
        sibling) else None


def _bundles(state: str) -> list[tuple[str, str, str]]:
    tasks = os.path.join(state, TASKS)
    out = []
    try:
        namespaces = sorted(os.listdir(tasks))
    except OSError:
        return out
    for namespace in namespaces:
        try:
            ids = sorted(os.listdir(os.path.join(tasks, namespace)))
        except OSError:
            continue
        out.extend((namespace, cid, os.path.join(tasks, namespace, cid)) for cid in ids)
    return out


def _is_its_init(ctx: EngineContext, pid: int | None, namespace: str, cid: str) -> bool:
    """The walk has ``pid`` and it is this container's: its cgroup (as the walk
    read it) ends with ``/<namespace>/<id>`` (``ctr``'s default cgroup) or
    holds the id. A pid reused after a crash is not taken for the container."""
    proc = ctx.processes.get(pid) if pid else None
    if proc is None or not proc.cgroup:
        return False
    return proc.cgroup.endswith(f"/{namespace}/{cid}") or f"/{cid}" in proc.cgroup or (
        f"-{cid}." in proc.cgroup)


def _init_pid(bundle: str) -> int | None:
    try:
        with open(f"{bundle}/init.pid") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


# ---- one container -------------------------------------------------------------


class _Meta:
    """containerd's metadata store, read once per root and only when needed."""

    def __init__(self, ctx: EngineContext, root: str | None) -> None:
        self.path = f"{root}/{META_DB}" if root else None
        self.db: BoltDB | None = None
        if self.path is None:
            return
        try:
            self.db = BoltDB.open(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            ctx.diag("error", "containerd metadata", exc.strerror or str(exc), path=self.path)
        except BoltError as exc:
            ctx.diag("error", "containerd metadata", f"not understood: {exc}", path=self.path)

    def container(self, namespace: str, cid: str) -> tuple[str | None, dict[str, str]]:
        """(image, labels) of one container, or (None, {})."""
        if self.db is None:
            return None, {}
        try:
            bucket = self.db.bucket(b"v1", namespace.encode(), b"containers", cid.encode())
            if bucket is None:
                return None, {}
            image = bucket.get(b"image")
            labels = bucket.bucket(b"labels")
            return (image.decode("utf-8", "replace") if isinstance(image, bytes) else None,
                    _labels(labels))
        except BoltError:
            return None, {}


def _labels(bucket: Bucket | None) -> dict[str, str]:
    if bucket is None:
        return {}
    return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
            for k, v in bucket.items() if isinstance(v, bytes)}


def describe(cid: str, namespace: str, bundle: str, spec: dict, main_pid: int | None,
             meta: _Meta | None) -> Container:
    """A container from its bundle (and, for ``ctr`` ones, the metadata store)."""
    annotations = {str(k): str(v) for k, v in _dict(spec.get("annotations")).items()}
    kind = annotations.get(CRI + "container-type")
    config_path = f"{bundle}/config.json"
    container = Container(id=cid, engine=ENGINE, namespace=namespace, main_pid=main_pid)
    source = container.source
    if kind:
        container.sandbox = kind == "sandbox"
        container.pod = PodRef(
            name=annotations.get(CRI + "sandbox-name"),
            namespace=annotations.get(CRI + "sandbox-namespace"),
            uid=annotations.get(CRI + "sandbox-uid"),
            id=annotations.get(CRI + "sandbox-id") or (cid if container.sandbox else None),
        )
        container.name = (annotations.get(CRI + "sandbox-name") if container.sandbox
                          else annotations.get(CRI + "container-name"))
        container.image = annotations.get(CRI + "image-name")
        for fact in ("name", "pod", "image"):
            source[fact] = config_path
    if container.image is None and meta is not None:
        image, labels = meta.container(namespace, cid)
        if image:
            container.image = image
            source["image"] = meta.path or ""
        if labels:
            container.labels = labels
            source["labels"] = meta.path or ""
    if container.name is None:
        container.name = cid  # ctr run: the id is the name the user gave
        source["name"] = bundle
    if main_pid is not None:
        source["main_pid"] = f"{bundle}/init.pid"
    netns = _spec_netns(spec)
    if netns is None:
        container.network_mode = "host"
    elif netns.get("path"):
        container.sandbox_key = netns["path"]
        if kind == "container":
            container.network_mode = "pod"  # CRI: every app container joins its sandbox's
    source["network_mode"] = config_path
    return container


def _spec_netns(spec: dict) -> dict | None:
    for ns in _list(_dict(spec.get("linux")).get("namespaces")):
        if _dict(ns).get("type") == "network":
            return _dict(ns)
    return None


def _attach_cni(container: Container, cni_state: cni.CniState) -> None:
    """The container's CNI attachments: by ``<namespace>-<id>`` (ctr), the pod's
    sandbox id (CRI) or the id."""
    keys = [f"{container.namespace}-{container.id}", container.id]
    if container.sandbox and container.pod and container.pod.id:
        keys.append(container.pod.id)
    for key in keys:
        attachments = cni_state.attachments.get(key)
        if not attachments:
            continue
        for a in attachments:
            ip = f"{a['ip']}/{a['prefixlen']}" if a["ip"] and a["prefixlen"] else a["ip"]
            container.networks.append(ContainerNetwork(
                name=a["network"], interface=a["interface"], ip=ip, mac=a["mac"],
                gateway=a["gateway"], bridge=a["bridge"]))
            container.source.setdefault("networks", a["source"])
        if container.network_mode is None:
            container.network_mode = container.networks[0].name  # its CNI network
        break


def _modes_from_owners(containers: list[Container]) -> None:
    """What a bundle leaves open: an own netns with no CNI attachment is
    ``none``; a joined one (``/proc/PID/ns/net`` or a netns file) is
    ``container:<name>`` of the container whose init that is."""
    by_pid = {c.main_pid: c for c in containers if c.main_pid}
    for container in containers:
        if container.network_mode is not None:
            continue
        path = container.sandbox_key or ""
        if not path:
            container.network_mode = "none"
            continue
        parts = path.split("/")
        owner = by_pid.get(int(parts[2])) if path.startswith("/proc/") and parts[2].isdigit() \
            else None
        if owner is not None and owner is not container:
            container.network_mode = f"container:{owner.name or owner.id[:12]}"
        # else: a netns file set up by someone else; the kernel's mode says the rest


# ---- defensive field access --------------------------------------------------


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
