"""CNI's state on disk: which container got which IP on which network.

- ``/var/lib/cni/results/<network>-<container id>-<ifname>`` (libcni's cache,
  ``kind: cniCacheV1``): the network name, the whole network config (base64),
  and the plugin's result (interfaces with MACs, IPs with gateways, the netns
  path). The first source: one file says all of it.
- ``/var/lib/cni/networks/<network>/<ip>`` (host-local IPAM): the file's first
  line is the container id, the second the interface. Read for attachments the
  cache lacks (a runtime that keeps no cache, or a cache cleaned up early).
- The conflists in the conf dirs (``/etc/cni/net.d``): network names, bridge
  names and subnets of networks nobody is attached to yet.

The container id is what the runtime passed to CNI: containerd's ``ctr`` uses
``<namespace>-<id>``, CRI the pod sandbox id, podman 3 the container id.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
from dataclasses import dataclass, field

from nsview.collect.engines import EngineContext, EngineResult
from nsview.model.containers import EngineNetwork

DEFAULT_STATE = "/var/lib/cni"
DEFAULT_CONF_DIRS = ("/etc/cni/net.d",)
CONF_SUFFIXES = (".conflist", ".conf", ".json")


def read(ctx: EngineContext) -> EngineResult:
    """The CNI networks in use (some container has an IP on it, per the cache
    or IPAM); a conflist nobody is attached to is not listed (hosts keep
    leftovers, such as podman's own 87-podman-bridge.conflist). The containers
    are described by the containerd and CRI-O readers, which take their
    attachments from ``state_for``."""
    state = state_for(ctx)
    used = {a["network"] for attachments in state.attachments.values() for a in attachments}
    networks = [
        EngineNetwork(name=n["name"], engine="cni", driver=n["driver"], subnet=n["subnet"],
                      gateway=n["gateway"], bridge=n["bridge"],
                      subnets=[n["subnet"]] if n["subnet"] else [], source=n["source"])
        for n in sorted(state.networks.values(), key=lambda n: n["name"])
        if n["name"] in used
    ]
    return EngineResult([], networks)


def state_for(ctx: EngineContext) -> CniState:
    """CNI's state for this collection, read once: the first of
    ``ctx.roots("cni", …)`` (default /var/lib/cni) and the conf dirs of
    ``ctx.roots("cni-conf", …)`` (default /etc/cni/net.d)."""
    cached = getattr(ctx, "_cni_state", None)
    if cached is None:
        states = ctx.roots("cni", [], [DEFAULT_STATE])
        conf_dirs = tuple(ctx.roots("cni-conf", [], list(DEFAULT_CONF_DIRS)))
        cached = read_cni(states[0] if states else DEFAULT_STATE, conf_dirs)
        for path, reason in cached.problems:
            ctx.diag("error", "cni state", reason, path=path)
        ctx._cni_state = cached  # type: ignore[attr-defined]
    return cached


@dataclass(slots=True)
class CniState:
    # One per (container id, interface, IP): network, interface, ip, prefixlen,
    # mac, gateway, bridge, sandbox (the netns path the plugin was given).
    attachments: dict[str, list[dict]] = field(default_factory=dict)  # container id -> …
    networks: dict[str, dict] = field(default_factory=dict)  # name -> network
    problems: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""


def read_cni(state_dir: str = DEFAULT_STATE,
             conf_dirs: tuple[str, ...] = DEFAULT_CONF_DIRS) -> CniState:
    state = CniState(source=f"cni {state_dir}")
    for directory in conf_dirs:
        _read_conf_dir(directory, state)
    _read_cache(os.path.join(state_dir, "results"), state)
    _read_ipam(os.path.join(state_dir, "networks"), state)
    return state


def _listdir(path: str, state: CniState) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []
    except OSError as exc:
        state.problems.append((path, f"not read: {exc.strerror}"))
        return []


def network_from_config(conf: dict, origin: str) -> dict | None:
    """A network entry from a CNI network config (a conflist, or a single
    plugin's .conf): the bridge and subnet come from the first plugin that has them."""
    name = conf.get("name")
    if not isinstance(name, str):
        return None
    plugins = conf.get("plugins") if isinstance(conf.get("plugins"), list) else [conf]
    bridge = subnet = gateway = driver = None
    for plugin in plugins:
        if not isinstance(plugin, dict):
            continue
        driver = driver or plugin.get("type")
        bridge = bridge or plugin.get("bridge")
        ipam = plugin.get("ipam") or {}
        if subnet is None and isinstance(ipam, dict):
            subnet, gateway = _ipam_subnet(ipam)
    return {"name": name, "engine": "cni", "id": None, "driver": driver, "subnet": subnet,
            "gateway": gateway, "bridge": bridge, "source": origin}


def _ipam_subnet(ipam: dict) -> tuple[str | None, str | None]:
    if ipam.get("subnet"):
        return ipam.get("subnet"), ipam.get("gateway")
    for range_set in ipam.get("ranges") or []:
        for r in range_set or []:
            if isinstance(r, dict) and r.get("subnet"):
                return r["subnet"], r.get("gateway")
    return None, None


def _read_conf_dir(directory: str, state: CniState) -> None:
    for entry in _listdir(directory, state):
        if not entry.endswith(CONF_SUFFIXES):
            continue
        path = os.path.join(directory, entry)
        try:
            with open(path, "rb") as f:
                net = network_from_config(json.load(f), path)
        except (OSError, ValueError) as exc:
            state.problems.append((path, f"not read: {exc}"))
            continue
        if net is not None:
            state.networks.setdefault(net["name"], net)


def _read_cache(directory: str, state: CniState) -> None:
    for entry in _listdir(directory, state):
        path = os.path.join(directory, entry)
        try:
            with open(path, "rb") as f:
                cached = json.load(f)
            _add_cached(cached, path, state)
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            state.problems.append((path, f"not read: {exc}"))


def _add_cached(cached: dict, path: str, state: CniState) -> None:
    container_id = cached["containerId"]
    network = cached.get("networkName")
    net = None
    if cached.get("config"):
        try:
            conf = json.loads(base64.b64decode(cached["config"]))
            net = network_from_config(conf, path)
        except ValueError:
            net = None
    if net is not None:
        network = network or net["name"]
        state.networks.setdefault(net["name"], net)
    known = state.networks.get(network or "") or {}
    bridge = known.get("bridge")
    result = cached.get("result") or {}
    interfaces = result.get("interfaces") or []
    ifname = cached.get("ifName")
    if net is not None and net["driver"] == "loopback":
        return  # CRI's cni-loopback: every pod's lo, nothing to attribute
    for ip in result.get("ips") or []:
        iface = {}
        index = ip.get("interface")
        if isinstance(index, int) and 0 <= index < len(interfaces):
            iface = interfaces[index]
        address = ip.get("address") or ""
        if known and known.get("gateway") is None and ip.get("gateway"):
            known["gateway"] = ip["gateway"]  # host-local's default: the subnet's first
        state.attachments.setdefault(container_id, []).append({
            "network": network,
            "interface": iface.get("name") or ifname,
            "ip": address.split("/")[0] or None,
            "prefixlen": int(address.split("/")[1]) if "/" in address else None,
            "mac": iface.get("mac"),
            "gateway": ip.get("gateway"),
            "bridge": bridge,
            "sandbox": iface.get("sandbox"),
            "source": path,
        })


def _read_ipam(directory: str, state: CniState) -> None:
    """host-local's files: ``<network>/<ip>`` holding "<container id>\\n<ifname>"."""
    for network in _listdir(directory, state):
        net_dir = os.path.join(directory, network)
        if not os.path.isdir(net_dir):
            continue
        for entry in _listdir(net_dir, state):
            try:
                ip = str(ipaddress.ip_address(entry))
            except ValueError:
                continue  # lock, last_reserved_ip.0
            path = os.path.join(net_dir, entry)
            try:
                with open(path) as f:
                    lines = f.read().split("\n")
            except OSError as exc:
                state.problems.append((path, f"not read: {exc.strerror}"))
                continue
            container_id = lines[0].strip()
            if not container_id:
                continue
            known = state.attachments.setdefault(container_id, [])
            if any(a["ip"] == ip for a in known):
                continue
            net = state.networks.get(network) or {}
            known.append({
                "network": network,
                "interface": lines[1].strip() if len(lines) > 1 and lines[1].strip() else None,
                "ip": ip,
                "prefixlen": _prefixlen(ip, net.get("subnet")),
                "mac": None,
                "gateway": net.get("gateway"),
                "bridge": net.get("bridge"),
                "sandbox": None,
                "source": path,
            })
            if network not in state.networks:
                state.networks[network] = {
                    "name": network, "engine": "cni", "id": None, "driver": None,
                    "subnet": None, "gateway": None, "bridge": None, "source": net_dir}


def _prefixlen(ip: str, subnet: str | None) -> int | None:
    if not subnet:
        return None
    try:
        net = ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        return None
    return net.prefixlen if ipaddress.ip_address(ip) in net else None
