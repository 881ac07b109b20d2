"""podman, rootful and rootless: containers, pods and networks from its state on disk.

Where podman 4 keeps what (checked on 4.3; docs/containers.md has the table):

- ``<graphroot>/libpod/bolt_state.db`` (bbolt, read with :mod:`.boltdb`): bucket
  ``ctr/<id>`` holds ``config`` (JSON: name, rootfsImageName, networkMode,
  newPortMappings, labels, pod, netNsCtr, the OCI spec), ``state`` (JSON:
  state, pid, conmonPid, networkStatus: each network's interfaces, IPs,
  gateway, MAC) and ``netns`` (the SandboxKey path); bucket ``pod/<id>`` holds
  ``config`` (name) and ``state`` (InfraContainerID). The first source: it
  has everything, pods and network attachments included.
- ``<graphroot>/<driver>-containers/containers.json`` (names, the image name
  in ``metadata``) and each bundle's ``userdata/config.json`` (annotations
  ``io.kubernetes.cri-o.SandboxID`` naming a pod's infra container, the
  spec's netns path): the fallback when bolt_state.db is missing or not
  understood (podman 5 keeps ``libpod/db.sql`` instead, which is not read).
  Pod names and network attachments are only in libpod's database: the
  fallback says so in a diagnostic.
- netavark's network definitions, ``<network dir>/<name>.json``
  (``network_interface`` is the bridge): rootful ``/etc/containers/networks``,
  rootless ``<graphroot>/networks``; the built-in ``podman`` network (bridge
  ``podman0``) has no file.

The storages read: each running ``conmon``'s argv (its ``--exit-command-arg``
list repeats ``--root``, ``--runroot`` and ``--network-config-dir`` of the
podman that started it, so a podman run with its own roots is found), then
``/var/lib/containers/storage`` and every home's
``~/.local/share/containers/storage``. ``NSVIEW_PODMAN_ROOTS`` or
``CollectOptions.engine_roots["podman"]`` (graphroots) override.

Rootless containers on cgroup v1 have no cgroup of their own: the reader
gives their ``main_pid`` (state.pid) and the pipeline adds its descendants.
Their netns files are bind mounts that exist only in the rootless pause
process's mount namespace; ``sandbox_inode`` follows such a path through
``/proc/<conmon pid>/root``, and ``source["sandbox_key"]`` says the path used.
"""

from __future__ import annotations

import json
import os
import pwd
from typing import Any

from nsview.collect.engines import EngineContext, EngineResult
from nsview.collect.engines.boltdb import BoltDB, BoltError, Bucket
from nsview.model.containers import (
    Container,
    ContainerNetwork,
    EngineNetwork,
    PodRef,
    PortMapping,
)

ENGINE = "podman"
ROOTFUL_GRAPHROOT = "/var/lib/containers/storage"
ROOTFUL_NETWORK_DIR = "/etc/containers/networks"
ROOTLESS_GRAPHROOT = ".local/share/containers/storage"  # under the user's home
DEFAULT_NETWORK, DEFAULT_BRIDGE = "podman", "podman0"
_RUNNING = 3  # libpod's ContainerStateRunning


class PodmanRoot:
    """One storage: rootful, or one user's rootless one."""

    __slots__ = ("conmon_netns", "graphroot", "network_dir", "rootless", "runroot", "uid")

    def __init__(self, graphroot: str, network_dir: str | None = None,
                 runroot: str | None = None, uid: int | None = None) -> None:
        self.graphroot = graphroot
        self.uid = _owner(graphroot) if uid is None else uid
        self.rootless = self.uid != 0
        self.network_dir = network_dir or (
            os.path.join(graphroot, "networks") if self.rootless else ROOTFUL_NETWORK_DIR)
        self.runroot = runroot
        self.conmon_netns: int | None = None  # the netns podman ran in: its bridges are there

    def __repr__(self) -> str:
        return f"PodmanRoot({self.graphroot!r}, uid={self.uid})"


def read(ctx: EngineContext) -> EngineResult:
    discovered = discover_roots(ctx)
    by_path = {r.graphroot: r for r in discovered}
    defaults = [ROOTFUL_GRAPHROOT, *_home_graphroots()]
    found = {f.id: f for f in ctx.found(ENGINE)}
    containers: list[Container] = []
    networks: list[EngineNetwork] = []
    seen: set[str] = set()
    for path in ctx.roots(ENGINE, [r.graphroot for r in discovered], defaults):
        if not os.path.isdir(path):
            continue
        root = by_path.get(path) or PodmanRoot(path)
        records, defined = read_root(ctx, root)
        used: set[str] = set()
        for container in records:
            if container.id in seen:
                continue
            if container.id in found:
                pass
            elif container.rootless and _is_its_init(ctx, container):
                container.pids = [container.main_pid]  # no cgroup: the pipeline adds the rest
            else:
                continue  # not running, or its cgroup named another engine
            seen.add(container.id)
            container.source.pop("_conmon", None)
            containers.append(container)
            used.update(n.name for n in container.networks)
        for network in defined.values():
            if network.source == _BUILT_IN.source and network.name not in used:
                continue  # the built-in default, unused here
            networks.append(network)
    return EngineResult(containers, networks)


def _is_its_init(ctx: EngineContext, container: Container) -> bool:
    """A rootless container has no cgroup to prove its pid: the walk must have
    it as a child of the conmon the state names (a reused pid is not it)."""
    proc = ctx.processes.get(container.main_pid) if container.main_pid else None
    conmon = container.source.get("_conmon")
    return proc is not None and conmon is not None and str(proc.ppid) == conmon


# ---- where the storages are --------------------------------------------------


def discover_roots(ctx: EngineContext) -> list[PodmanRoot]:
    """The storages named by running conmon processes (one per container)."""
    roots: dict[str, PodmanRoot] = {}
    for proc in ctx.daemons("conmon"):
        root = root_from_conmon(proc.cmdline)
        if root is None:
            continue
        root.graphroot = _readable(ctx.daemon_path(proc.pid, root.graphroot), root.graphroot)
        known = roots.setdefault(root.graphroot, root)
        if known.conmon_netns is None:
            known.conmon_netns = proc.ns.get("net")
    return list(roots.values())


def _readable(via_daemon: str, path: str) -> str:
    """The plain path when it is the same directory as the one seen through the
    daemon's /proc/PID/root (a rootless user's home is the same in both mount
    namespaces): sources stay readable, and a root found twice is read once."""
    if via_daemon == path:
        return path
    try:
        return path if os.path.samefile(via_daemon, path) else via_daemon
    except OSError:
        return via_daemon


def root_from_conmon(argv: list[str]) -> PodmanRoot | None:
    """conmon's ``--exit-command-arg`` values repeat the podman options that
    started it: ``--root X``, ``--runroot Y``, ``--network-config-dir Z``."""
    exit_args = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == "--exit-command-arg"]
    opts: dict[str, str] = {}
    for i in range(len(exit_args) - 1):
        if exit_args[i].startswith("--") and not exit_args[i + 1].startswith("--"):
            opts.setdefault(exit_args[i], exit_args[i + 1])
    graphroot = opts.get("--root")
    if not graphroot:
        return None
    return PodmanRoot(graphroot, opts.get("--network-config-dir") or None, opts.get("--runroot"))


def _home_graphroots() -> list[str]:
    try:
        entries = pwd.getpwall()
    except OSError:
        return []
    homes = dict.fromkeys(e.pw_dir for e in entries if e.pw_uid != 0 and e.pw_dir not in ("", "/"))
    return [os.path.join(home, ROOTLESS_GRAPHROOT) for home in homes]


def _owner(path: str) -> int:
    try:
        return os.stat(path).st_uid
    except OSError:
        return 0


# ---- one storage -------------------------------------------------------------


def read_root(
    ctx: EngineContext, root: PodmanRoot
) -> tuple[list[Container], dict[str, EngineNetwork]]:
    """Every container the storage knows (running or not) and its networks."""
    networks = read_networks(ctx, root)
    bolt_path = os.path.join(root.graphroot, "libpod", "bolt_state.db")
    containers = None
    if os.path.exists(bolt_path):
        try:
            containers = _from_bolt(BoltDB.open(bolt_path), bolt_path, root)
        except OSError as exc:
            ctx.diag("error", "podman state", exc.strerror or str(exc), path=bolt_path)
        except (BoltError, ValueError, KeyError, TypeError, AttributeError) as exc:
            ctx.diag("error", "podman state", f"not understood: {exc}", path=bolt_path)
    if containers is None:
        containers = _from_storage(ctx, root)
        if containers:
            ctx.diag("missing", "podman state", "no readable libpod/bolt_state.db: pods and "
                     "network attachments unknown", path=bolt_path)
    for container in containers:
        _bridges(container, networks, root)
        _follow_sandbox_key(ctx, container)
    return containers, networks


def _follow_sandbox_key(ctx: EngineContext, container: Container) -> None:
    conmon = container.source.get("_conmon")
    if not container.sandbox_key or container.sandbox_key.startswith("/proc/"):
        return
    via = [int(conmon)] if conmon else []
    path = sandbox_path(container.sandbox_key, via, ctx.proc)
    if path is not None and path != container.sandbox_key:
        container.source["sandbox_key"] = path


def _bridges(container: Container, networks: dict[str, EngineNetwork], root: PodmanRoot) -> None:
    for attachment in container.networks:
        network = networks.get(attachment.name)
        if network is not None:
            attachment.bridge = network.bridge
            attachment.network_id = network.id
            if network.source:
                container.source.setdefault("bridges", network.source)
            # Rootful podman runs netavark where it runs (conmon's netns); a rootless
            # one puts its bridges in its own rootless-netns: left to the decorator.
            if network.bridge_netns is None and root.conmon_netns is not None and (
                    not root.rootless):
                network.bridge_netns = root.conmon_netns


_BUILT_IN = EngineNetwork(name=DEFAULT_NETWORK, engine=ENGINE, source="built-in default")


def read_networks(ctx: EngineContext, root: PodmanRoot) -> dict[str, EngineNetwork]:
    """netavark's definitions, plus podman's built-in default network."""
    networks = {DEFAULT_NETWORK: EngineNetwork(
        name=DEFAULT_NETWORK, engine=ENGINE, driver="bridge", bridge=DEFAULT_BRIDGE,
        source=_BUILT_IN.source)}
    # The rootless layout keeps them in the storage; a rootful storage copied
    # with its networks (tests/fixtures) has them there too.
    directories = dict.fromkeys([root.network_dir, os.path.join(root.graphroot, "networks")])
    paths = []
    for directory in directories:
        try:
            paths += [os.path.join(directory, e) for e in sorted(os.listdir(directory))
                      if e.endswith(".json")]
        except (OSError, TypeError):
            continue
    for path in paths:
        net = ctx.read_json(path)
        if not isinstance(net, dict) or not isinstance(net.get("name"), str):
            continue
        if networks.get(net["name"], _BUILT_IN).source != _BUILT_IN.source:
            continue  # the first directory's definition wins
        subnets = [s for s in _list(net.get("subnets")) if isinstance(s, dict)]
        v4 = [s for s in subnets if ":" not in str(s.get("subnet", ""))]
        networks[net["name"]] = EngineNetwork(
            name=net["name"],
            engine=ENGINE,
            id=_str(net.get("id")),
            driver=_str(net.get("driver")),
            subnet=_str(v4[0].get("subnet")) if v4 else None,
            gateway=_str(v4[0].get("gateway")) if v4 else None,
            bridge=_str(net.get("network_interface")),
            subnets=[s["subnet"] for s in subnets if isinstance(s.get("subnet"), str)],
            source=path,
        )
    return networks


# ---- libpod's bolt_state.db --------------------------------------------------


def _json(bucket: Bucket, key: bytes) -> dict:
    raw = bucket.get(key)
    if not isinstance(raw, bytes) or not raw:
        return {}
    value = json.loads(raw)
    return value if isinstance(value, dict) else {}


def _buckets(bucket: Bucket | None) -> list[tuple[str, Bucket]]:
    if bucket is None:
        return []
    return [(k.decode("utf-8", "replace"), v) for k, v in bucket.items() if isinstance(v, Bucket)]


def _from_bolt(db: BoltDB, path: str, root: PodmanRoot) -> list[Container]:
    pods: dict[str, tuple[PodRef, str | None]] = {}
    for pod_id, bucket in _buckets(db.bucket(b"pod")):
        config, state = _json(bucket, b"config"), _json(bucket, b"state")
        ref = PodRef(name=_str(config.get("name")), namespace=_str(config.get("namespace")) or None,
                     id=pod_id)
        pods[pod_id] = (ref, _str(state.get("InfraContainerID")))
    records = []
    for cid, bucket in _buckets(db.bucket(b"ctr")):
        netns = bucket.get(b"netns")
        records.append((cid, _json(bucket, b"config"), _json(bucket, b"state"),
                        netns.decode() if isinstance(netns, bytes) and netns else None))
    names = {cid: _str(config.get("name")) for cid, config, _s, _n in records}
    containers = []
    for cid, config, state, netns in records:
        pod, infra = pods.get(_str(config.get("pod")) or "", (None, None))
        running = state.get("state") == _RUNNING
        pid = state.get("pid")
        container = Container(
            id=cid,
            engine=ENGINE,
            name=names[cid],
            image=_str(config.get("rootfsImageName")) or _str(config.get("RawImageName")),
            image_id=_str(config.get("rootfsImageID")),
            pod=PodRef(pod.name, pod.namespace, pod.uid, pod.id) if pod else None,
            sandbox=bool(pod and infra == cid),
            rootless=root.rootless,
            main_pid=pid if running and isinstance(pid, int) and pid > 0 else None,
            network_mode=_network_mode(config, infra if pod else None, names),
            networks=_attachments(_dict(state.get("networkStatus"))),
            ports=_ports(_list(config.get("newPortMappings"))),
            labels={str(k): str(v) for k, v in _dict(config.get("labels")).items()},
            sandbox_key=netns,
        )
        for fact in ("name", "image", "pod", "network_mode", "networks", "ports", "labels",
                     "main_pid", "sandbox_key"):
            container.source[fact] = path
        if running and isinstance(state.get("conmonPid"), int):
            container.source["_conmon"] = str(state["conmonPid"])  # popped by read()
        containers.append(container)
    return containers


def _network_mode(config: dict, infra: str | None, names: dict[str, str | None]) -> str:
    """podman's ``networkMode`` ("bridge", "slirp4netns", "pasta", "ns:…"); a
    joined netns as the issue says it: ``pod`` for a pod member sharing its
    infra container's, ``container:<name>`` otherwise; ``host`` and ``none``
    look alike in the config (no networkMode, no createNetNS) and the spec
    tells them apart (host: no network namespace entry at all)."""
    joined = _str(config.get("netNsCtr"))
    if joined:
        if joined == infra:
            return "pod"
        return f"container:{names.get(joined) or joined[:12]}"
    if _str(config.get("networkMode")):
        return config["networkMode"]
    spec = _dict(config.get("spec"))
    namespaces = _list(_dict(spec.get("linux")).get("namespaces"))
    if spec and not any(_dict(ns).get("type") == "network" for ns in namespaces):
        return "host"
    return "bridge" if config.get("createNetNS") else "none"


def _attachments(status: dict) -> list[ContainerNetwork]:
    """netavark's status: {network: {interfaces: {ifname: {subnets, mac_address}}}}."""
    out = []
    for name, result in sorted(status.items()):
        for ifname, iface in sorted(_dict(_dict(result).get("interfaces")).items()):
            iface = _dict(iface)
            for sub in _list(iface.get("subnets")) or [{}]:
                sub = _dict(sub)
                out.append(ContainerNetwork(
                    name=name,
                    interface=ifname,
                    ip=_str(sub.get("ipnet")),
                    mac=_str(iface.get("mac_address")),
                    gateway=_str(sub.get("gateway")),
                ))
    return out


def _ports(mappings: list) -> list[PortMapping]:
    out = []
    for m in mappings:
        m = _dict(m)
        count = m.get("range") if isinstance(m.get("range"), int) and m["range"] > 0 else 1
        host, inner = _int(m.get("host_port")), _int(m.get("container_port"))
        for protocol in (_str(m.get("protocol")) or "tcp").split(","):
            for i in range(count):
                out.append(PortMapping(
                    host_port=host + i if host is not None else None,
                    container_port=inner + i if inner is not None else None,
                    protocol=protocol,
                    host_ip=_str(m.get("host_ip")) or None,
                ))
    return out


# ---- containers/storage and the bundles (fallback) ---------------------------


def _from_storage(ctx: EngineContext, root: PodmanRoot) -> list[Container]:
    try:
        dirs = sorted(e for e in os.listdir(root.graphroot) if e.endswith("-containers"))
    except OSError:
        return []
    containers: list[Container] = []
    spec_netns: dict[str, dict | None] = {}
    for driver_dir in dirs:
        listing_path = os.path.join(root.graphroot, driver_dir, "containers.json")
        listing = ctx.read_json(listing_path)
        for entry in listing if isinstance(listing, list) else []:
            entry = _dict(entry)
            cid = _str(entry.get("id"))
            if not cid:
                continue
            bundle = os.path.join(root.graphroot, driver_dir, cid, "userdata", "config.json")
            spec = _dict(ctx.read_json(bundle))
            annotations = _dict(spec.get("annotations"))
            network = next((_dict(ns) for ns in _list(_dict(spec.get("linux")).get("namespaces"))
                            if _dict(ns).get("type") == "network"), None)
            spec_netns[cid] = network if spec else {}
            names = [n for n in _list(entry.get("names")) if isinstance(n, str)]
            sandbox_id = _str(annotations.get("io.kubernetes.cri-o.SandboxID"))
            container = Container(
                id=cid,
                engine=ENGINE,
                name=names[0] if names else None,
                image=_image_name(entry),
                image_id=_str(entry.get("image")),
                # the pod's name is only in libpod's database; its infra container's
                # id is what the bundle knows
                pod=PodRef(id=sandbox_id) if sandbox_id else None,
                rootless=root.rootless,
                main_pid=_pidfile(root, driver_dir, cid),
                labels={},
                sandbox_key=_str((network or {}).get("path")),
            )
            container.source.update(name=listing_path, image=listing_path)
            if spec:
                container.source.update(pod=bundle, sandbox_key=bundle, network_mode=bundle)
            containers.append(container)
    by_pid = {c.main_pid: c for c in containers if c.main_pid}
    infra_ids = {c.pod.id for c in containers if c.pod}
    for container in containers:
        if container.id in infra_ids:  # podman 4 marks the members, naming their infra
            container.sandbox = True
            container.pod = PodRef(id=container.id)
        container.network_mode = _bundle_network_mode(container, spec_netns[container.id], by_pid)
    return containers


def _image_name(entry: dict) -> str | None:
    try:
        return _str(_dict(json.loads(_str(entry.get("metadata")) or "{}")).get("image-name"))
    except ValueError:
        return None


def _bundle_network_mode(container: Container, network: dict | None,
                         by_pid: dict[int, Container]) -> str | None:
    """From the bundle alone: no netns entry is host; a ``/proc/PID/ns/net`` path
    is another container's netns (the pod's, when the SandboxID annotation says
    so); an own netns may be bridge or none, which the bundle cannot tell."""
    if network is None:
        return "host"
    path = _str(network.get("path")) or ""
    if not path.startswith("/proc/"):
        return None
    if container.pod is not None and not container.sandbox:
        return "pod"
    pid = path.split("/")[2]
    owner = by_pid.get(int(pid)) if pid.isdigit() else None
    return f"container:{owner.name or owner.id[:12]}" if owner else None


def _pidfile(root: PodmanRoot, driver_dir: str, cid: str) -> int | None:
    """conmon writes the init pid to ``<runroot>/<driver>-containers/<id>/userdata/
    pidfile``; the runroot is not in containers.json: conmon's argv named it, or
    the default one (rootful /run/containers/storage, rootless /run/user/UID/containers)."""
    runroots = [root.runroot] if root.runroot else []
    runroots.append(f"/run/user/{root.uid}/containers" if root.rootless
                    else "/run/containers/storage")
    for runroot in runroots:
        try:
            with open(os.path.join(runroot, driver_dir, cid, "userdata", "pidfile")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            continue
    return None


# ---- a SandboxKey in another mount namespace ---------------------------------


def sandbox_path(path: str, via_pids: list[int], proc: str = "/proc") -> str | None:
    """A path through which the netns file ``path`` opens as a netns: ``path``
    itself, else ``/proc/PID/root<path>`` for the first of ``via_pids`` that
    sees it (a rootless podman's netns files are bind mounts only in its pause
    process's mount namespace: the host's path is an empty file). None when
    no way reaches an nsfs file."""
    for candidate in [path] + [f"{proc}/{pid}/root{path}" for pid in via_pids if pid]:
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if st.st_dev == _nsfs_dev():
            return candidate
    return None


def sandbox_inode(path: str, via_pids: list[int], proc: str = "/proc") -> int | None:
    """The netns inode behind a SandboxKey (see ``sandbox_path``), or None."""
    found = sandbox_path(path, via_pids, proc)
    return os.stat(found).st_ino if found else None


_NSFS: list[int] = []


def _nsfs_dev() -> int:
    if not _NSFS:
        _NSFS.append(os.stat("/proc/self/ns/net").st_dev)
    return _NSFS[0]


# ---- defensive field access --------------------------------------------------


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
