"""Docker: containers and networks from the daemon's data root, the socket only as a fallback.

Sources (docs/containers.md has the whole table):

- ``<data-root>/containers/<id>/config.v2.json``: name, image, labels, State.Pid,
  NetworkSettings (Networks with IP/MAC/gateway/NetworkID, Ports, SandboxKey).
- ``<data-root>/containers/<id>/hostconfig.json``: NetworkMode (``default`` is
  the bridge network), PortBindings when NetworkSettings has no Ports.
- ``<data-root>/network/files/local-kv.db`` (bbolt, bucket ``libnetwork``):
  network definitions (name, driver, subnet, gateway) and each bridge network's
  BridgeName (``docker0``, ``br-<first 12 of the id>``, or the name the network
  set with ``com.docker.network.bridge.name``).
- The daemon's socket (``-H unix://…``, else ``/var/run/docker.sock``), asked
  for ``GET /networks`` with a short timeout only when local-kv.db cannot be
  read; ``source`` says ``socket:PATH`` then.

The data root comes from each running ``dockerd``'s ``--data-root`` (``-g``,
``--graph``), else its ``--config-file`` (default ``/etc/docker/daemon.json``)
``data-root``, else ``/var/lib/docker``; it is read through
``/proc/PID/root`` when the daemon runs in another mount namespace.
"""

from __future__ import annotations

import json
import os
from typing import Any

from nsview.collect.engines import EngineContext, EngineResult, Found
from nsview.model.containers import Container, ContainerNetwork, EngineNetwork, PortMapping

DEFAULT_ROOT = "/var/lib/docker"
DEFAULT_CONFIG = "/etc/docker/daemon.json"
DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT_BRIDGE = "docker0"
_KV_PREFIX = b"docker/network/v1.0/"


class Daemon:
    """A running dockerd: where its state is, as this process can read it."""

    __slots__ = ("netns", "pid", "root", "rootless", "sockets")

    def __init__(self, pid: int | None, root: str, netns: int | None, sockets: list[str],
                 rootless: bool = False) -> None:
        self.pid = pid
        self.root = root
        self.netns = netns  # where its bridges are
        self.sockets = sockets
        self.rootless = rootless


def read(ctx: EngineContext) -> EngineResult:
    daemons = discover_daemons(ctx)
    by_root = {d.root: d for d in daemons}
    roots = ctx.roots("docker", [d.root for d in daemons], [DEFAULT_ROOT])
    containers: list[Container] = []
    used: dict[str, list[Container]] = {}
    for found in ctx.found("docker"):
        for root in roots:
            container = read_container(ctx, root, found)
            if container is not None:
                daemon = by_root.get(root)
                container.rootless = bool(daemon and daemon.rootless)
                if daemon is not None and daemon.netns is not None:
                    ctx.engine_host_net[container.id] = daemon.netns
                containers.append(container)
                used.setdefault(root, []).append(container)
                break
    networks: list[EngineNetwork] = []
    for root in dict.fromkeys([*used, *by_root]):
        if root not in roots:
            continue
        daemon = by_root.get(root)
        defined = read_networks(ctx, root, daemon)
        networks.extend(defined)
        _bridges_into_containers(used.get(root, []), defined)
    return EngineResult(containers, networks)


# ---- the daemons and their roots ---------------------------------------------


def discover_daemons(ctx: EngineContext) -> list[Daemon]:
    daemons = []
    for proc in ctx.daemons("dockerd"):
        flags = _flags(proc.cmdline[1:])
        data_root = flags.get("data-root") or flags.get("graph") or flags.get("g")
        hosts = flags.get_all("host") + flags.get_all("H")
        if data_root is None or not hosts:
            config_path = flags.get("config-file") or DEFAULT_CONFIG
            config = ctx.read_json(ctx.daemon_path(proc.pid, config_path))
            if isinstance(config, dict):
                data_root = data_root or _str(config.get("data-root") or config.get("graph"))
                if not hosts and isinstance(config.get("hosts"), list):
                    hosts = [h for h in config["hosts"] if isinstance(h, str)]
        sockets = [h.removeprefix("unix://") for h in hosts if h.startswith(("unix://", "/"))]
        if not hosts:
            sockets = [DEFAULT_SOCKET]
        user_ns = proc.ns.get("user")
        rootless = user_ns is not None and user_ns != ctx.host_ns.get("user", user_ns)
        daemons.append(
            Daemon(
                proc.pid,
                ctx.daemon_path(proc.pid, data_root or DEFAULT_ROOT),
                proc.ns.get("net"),
                [ctx.daemon_path(proc.pid, s) for s in sockets],
                rootless,
            )
        )
    return daemons


class _Flags:
    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}

    def get(self, name: str) -> str | None:
        values = self.values.get(name)
        return values[-1] if values else None

    def get_all(self, name: str) -> list[str]:
        return list(self.values.get(name, ()))


# dockerd flags that take a value (the ones nsview reads, and the common others,
# so that a value is never mistaken for a flag).
_VALUED = {"data-root", "graph", "g", "host", "H", "config-file", "exec-root", "pidfile", "p",
           "bridge", "b", "bip", "default-address-pool", "log-level", "l", "group", "G",
           "containerd", "containerd-namespace", "containerd-plugins-namespace", "storage-driver",
           "s", "mtu", "dns", "userns-remap", "cgroup-parent", "exec-opt", "iptables"}


def _flags(argv: list[str]) -> _Flags:
    flags = _Flags()
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if not eq and name in _VALUED and i < len(argv):
            value = argv[i]
            i += 1
        flags.values.setdefault(name, []).append(value)
    return flags


# ---- one container -------------------------------------------------------------


def read_container(ctx: EngineContext, root: str, found: Found) -> Container | None:
    """The container ``found`` from ``root``'s state, or None when ``root`` lacks it."""
    directory = f"{root}/containers/{found.id}"
    config_path = f"{directory}/config.v2.json"
    config = ctx.read_json(config_path)
    if not isinstance(config, dict):
        return None
    host_path = f"{directory}/hostconfig.json"
    hostconfig = ctx.read_json(host_path)
    if not isinstance(hostconfig, dict):
        hostconfig = {}
    inner = _dict(config.get("Config"))
    state = _dict(config.get("State"))
    settings = _dict(config.get("NetworkSettings"))
    container = Container(
        id=found.id,
        engine="docker",
        name=_str(config.get("Name"), "").lstrip("/") or None,
        image=_str(inner.get("Image")),
        image_id=_str(config.get("Image")),
        labels={str(k): str(v) for k, v in _dict(inner.get("Labels")).items()},
        sandbox_key=_str(settings.get("SandboxKey")) or None,
    )
    pid = state.get("Pid")
    if isinstance(pid, int) and pid > 0 and state.get("Running"):
        container.main_pid = pid
    source = container.source
    for fact in ("name", "image", "labels", "networks", "ports", "main_pid"):
        source[fact] = config_path
    container.network_mode = _network_mode(ctx, root, _str(hostconfig.get("NetworkMode")))
    if hostconfig:
        source["network_mode"] = host_path
    container.networks = [
        _attachment(name, _dict(value)) for name, value in _dict(settings.get("Networks")).items()
    ]
    ports = settings.get("Ports")
    if not isinstance(ports, dict) or not ports:
        ports = hostconfig.get("PortBindings")
        if isinstance(ports, dict) and ports:
            source["ports"] = host_path
    container.ports = _ports(_dict(ports))
    return container


def _network_mode(ctx: EngineContext, root: str, mode: str | None) -> str | None:
    if mode in (None, ""):
        return None
    if mode == "default":
        return "bridge"
    if mode.startswith("container:"):
        other = mode.partition(":")[2]
        config = ctx.read_json(f"{root}/containers/{other}/config.v2.json")
        name = _str(config.get("Name")) if isinstance(config, dict) else None
        return f"container:{name.lstrip('/') if name else other[:12]}"
    return mode


def _attachment(name: str, value: dict) -> ContainerNetwork:
    ip = _str(value.get("IPAddress")) or None
    prefix = value.get("IPPrefixLen")
    if ip and isinstance(prefix, int) and prefix:
        ip = f"{ip}/{prefix}"
    return ContainerNetwork(
        name=name,
        ip=ip,
        mac=_str(value.get("MacAddress")) or None,
        gateway=_str(value.get("Gateway")) or None,
        network_id=_str(value.get("NetworkID")) or None,
    )


def _ports(ports: dict) -> list[PortMapping]:
    """{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]} -> mappings; an
    exposed port that is not published (null) is left out."""
    out = []
    for key, bindings in ports.items():
        port, _, protocol = str(key).partition("/")
        if not isinstance(bindings, list):
            continue
        for binding in bindings:
            binding = _dict(binding)
            out.append(
                PortMapping(
                    host_port=_int(binding.get("HostPort")),
                    container_port=_int(port),
                    protocol=protocol or "tcp",
                    host_ip=_str(binding.get("HostIp")) or None,
                )
            )
    return out


# ---- networks ----------------------------------------------------------------


def read_networks(ctx: EngineContext, root: str, daemon: Daemon | None) -> list[EngineNetwork]:
    """The networks ``root`` defines: from local-kv.db, else from the daemon's socket."""
    path = f"{root}/network/files/local-kv.db"
    networks = _networks_from_kv(ctx, path)
    if networks is None and daemon is not None and ctx.socket_timeout > 0:
        networks = _networks_from_socket(ctx, daemon)
    networks = networks or []
    for network in networks:
        if network.bridge and daemon is not None and network.bridge_netns is None:
            network.bridge_netns = daemon.netns
    return networks


def _networks_from_kv(ctx: EngineContext, path: str) -> list[EngineNetwork] | None:
    from nsview.collect.engines.boltdb import BoltDB, BoltError

    try:
        db = BoltDB.open(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        ctx.diag("error", "docker networks", exc.strerror or str(exc), path=path)
        return None
    except BoltError as exc:
        ctx.diag("error", "docker networks", f"not understood: {exc}", path=path)
        return None
    bucket = db.bucket(b"libnetwork")
    if bucket is None:
        ctx.diag("error", "docker networks", "no libnetwork bucket", path=path)
        return None
    definitions: dict[str, dict] = {}
    bridge_names: dict[str, str] = {}
    try:
        for key, value in bucket.items():
            if not isinstance(value, bytes) or not key.startswith(_KV_PREFIX):
                continue
            kind, _, rest = key[len(_KV_PREFIX) :].decode("utf-8", "replace").partition("/")
            if kind not in ("network", "bridge"):
                continue
            record = _kv_json(value)
            if record is None:
                continue
            net_id = rest.strip("/")
            if kind == "network":
                definitions[net_id] = record
            elif isinstance(record.get("BridgeName"), str):
                bridge_names[net_id] = record["BridgeName"]
    except BoltError as exc:
        ctx.diag("error", "docker networks", f"not understood: {exc}", path=path)
        return None
    networks = []
    for net_id, record in definitions.items():
        driver = _str(record.get("networkType"))
        subnets, gateways = _ipam_pools(record.get("ipamV4Info"))
        v6, _gw6 = _ipam_pools(record.get("ipamV6Info"))
        bridge = None
        if driver == "bridge":
            generic = _dict(_dict(record.get("generic")).get("com.docker.network.generic"))
            bridge = (
                bridge_names.get(net_id)
                or _str(generic.get("com.docker.network.bridge.name"))
                or f"br-{net_id[:12]}"
            )
        networks.append(
            EngineNetwork(
                name=_str(record.get("name"), net_id[:12]),
                engine="docker",
                id=net_id,
                driver=driver,
                subnet=subnets[0] if subnets else None,
                gateway=gateways[0] if gateways else None,
                bridge=bridge,
                subnets=subnets + v6,
                source=path,
            )
        )
    return sorted(networks, key=lambda n: n.name)


def _kv_json(value: bytes) -> dict | None:
    """libnetwork stores an 8-byte index before each JSON record."""
    start = value.find(b"{")
    if start < 0:
        return None
    try:
        record = json.loads(value[start:])
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _ipam_pools(info: Any) -> tuple[list[str], list[str]]:
    """ipamV4Info is JSON in a string, whose IPAMData is JSON in a string again."""
    subnets: list[str] = []
    gateways: list[str] = []
    try:
        entries = json.loads(info) if isinstance(info, str) else []
    except ValueError:
        return subnets, gateways
    for entry in entries if isinstance(entries, list) else []:
        data = _dict(entry).get("IPAMData")
        try:
            data = json.loads(data) if isinstance(data, str) else _dict(data)
        except ValueError:
            continue
        if isinstance(data, dict):
            if isinstance(data.get("Pool"), str):
                subnets.append(data["Pool"])
            if isinstance(data.get("Gateway"), str):
                gateways.append(data["Gateway"].partition("/")[0])
    return subnets, gateways


def _networks_from_socket(ctx: EngineContext, daemon: Daemon) -> list[EngineNetwork] | None:
    from nsview.collect.engines.sockets import SocketError, get_json

    for socket_path in daemon.sockets:
        if not os.path.exists(socket_path):
            continue
        try:
            listing = get_json(socket_path, "/networks", ctx.socket_timeout)
        except SocketError as exc:
            ctx.diag("error", "docker socket", str(exc), path=socket_path)
            continue
        networks = []
        for item in listing if isinstance(listing, list) else []:
            item = _dict(item)
            configs = [_dict(c) for c in _list(_dict(item.get("IPAM")).get("Config"))]
            subnets = [c["Subnet"] for c in configs if isinstance(c.get("Subnet"), str)]
            gateways = [c["Gateway"] for c in configs if isinstance(c.get("Gateway"), str)]
            driver = _str(item.get("Driver"))
            net_id = _str(item.get("Id"), "")
            bridge = None
            if driver == "bridge":
                options = _dict(item.get("Options"))
                bridge = _str(options.get("com.docker.network.bridge.name")) or (
                    f"br-{net_id[:12]}"
                )
            networks.append(
                EngineNetwork(
                    name=_str(item.get("Name"), net_id[:12]),
                    engine="docker",
                    id=net_id or None,
                    driver=driver,
                    subnet=next((s for s in subnets if ":" not in s), None),
                    gateway=next((g for g in gateways if ":" not in g), None),
                    bridge=bridge,
                    subnets=subnets,
                    source=f"socket:{socket_path}",
                )
            )
        return sorted(networks, key=lambda n: n.name)
    return None


def _bridges_into_containers(containers: list[Container], networks: list[EngineNetwork]) -> None:
    """Each attachment's bridge, from its network's definition."""
    by_id = {n.id: n for n in networks if n.id}
    by_name = {n.name: n for n in networks}
    for container in containers:
        for attachment in container.networks:
            network = by_id.get(attachment.network_id) or by_name.get(attachment.name)
            if network is not None:
                attachment.bridge = network.bridge
                if network.source:
                    container.source.setdefault("bridges", network.source)
            elif attachment.name == "bridge":
                attachment.bridge = DEFAULT_BRIDGE
                container.source.setdefault("bridges", "default (docker0)")
            elif attachment.name not in ("host", "none") and attachment.network_id:
                # Docker's own naming, when the definition could not be read.
                attachment.bridge = f"br-{attachment.network_id[:12]}"
                container.source.setdefault("bridges", "derived from NetworkID")


# ---- defensive field access --------------------------------------------------


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _str(value: Any, default: str | None = None) -> str | None:
    return value if isinstance(value, str) else default


def _int(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
