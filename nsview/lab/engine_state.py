"""The engine state the lab's containers carry, so nsview names them as on a real host.

Written after the containers run (their pids and MACs are real), under the
lab's own directory, in the engines' own formats, found the way nsview finds
a real engine's state (from the daemons' command lines):

- Docker: host1's ``dockerd`` stand-in runs with ``--data-root DOCKER_ROOT``;
  ``containers/<id>/config.v2.json`` and ``hostconfig.json`` for each Docker
  container, and ``network/files/local-kv.db`` (bbolt) with the network
  definitions (``bridge`` → docker0, ``appnet`` → br-5a1b0c2d3e4f, ...).
- containerd (CRI): host2's ``containerd`` stand-in runs with ``--config``
  (``state``, the CRI plugin's CNI ``conf_dir``) and ``--state``;
  ``io.containerd.runtime.v2.task/k8s.io/<id>/config.json`` (OCI spec with
  the CRI annotations) and ``init.pid`` for the pod's pause and apps.
- CNI: the host-local IPAM's ``dataDir`` (set in the lab's conflist):
  ``networks/<net>/<ip>`` holds the sandbox id and the ifname.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING

from nsview.lab import boltwrite
from nsview.lab import system as sysx
from nsview.lab import topology as topo

if TYPE_CHECKING:
    from nsview.lab.up import Builder

CRI = "io.kubernetes.cri."
CNI_NETWORK = "nsvlab-pod-net"

# Per Docker container: image, labels, the network it is on (None: its mode says).
_DOCKER = {
    "web": ("nginx:1.25", {}),
    "cache": ("redis:7.2", {}),
    "web-logs": ("grafana/promtail:2.9", {}),
    "metrics": ("prom/node-exporter:1.7", {}),
    "batch": ("backup-job:latest", {}),
    "api": ("shop/api:3", {"com.docker.compose.project": "shop",
                           "com.docker.compose.service": "api"}),
    "db": ("postgres:16", {"com.docker.compose.project": "shop",
                           "com.docker.compose.service": "db"}),
    "frontend": ("haproxy:2.8", {}),
    "backend": ("memcached:1.6", {}),
    "sensor": ("eclipse-mosquitto:2", {}),
}
_APP_IMAGES = {"pod-nginx": ("nginx", "docker.io/library/nginx:1.25"),
               "pod-envoy": ("envoy", "docker.io/envoyproxy/envoy:v1.28")}

# name -> (driver, bridge ifname or None, subnet, gateway)
NETWORKS = {
    "bridge": ("bridge", topo.DOCKER0, topo.DOCKER0_SUBNET, topo.DOCKER0_GW),
    "appnet": ("bridge", topo.USER_BRIDGE, topo.USER_SUBNET, topo.USER_GW),
    "docker_gwbridge": ("bridge", topo.GWBRIDGE, topo.GWBRIDGE_SUBNET, topo.GWBRIDGE_GW),
    "ovl": ("overlay", None, topo.OVERLAY_SUBNET, None),
    "lan": ("macvlan", None, "198.51.100.0/24", None),
    "host": ("host", None, None, None),
    "none": ("null", None, None, None),
}
# the lab mode -> (Docker's NetworkMode, the network the container is attached to)
_MODES = {"bridge": ("default", "bridge"), "user-bridge": ("appnet", "appnet"),
          "overlay": ("ovl", "ovl"), "macvlan": ("lan", "lan"), "host": ("host", "host"),
          "none": ("none", "none")}


def network_id(name: str) -> str:
    """Stable 64-hex network ids; appnet's begins with its bridge's 12 (br-<12>)."""
    digest = hashlib.sha256(f"{topo.PREFIX}:net:{name}".encode()).hexdigest()
    if name == "appnet":
        return topo.USER_BRIDGE.removeprefix("br-") + digest[:52]
    return digest


def write(builder: Builder) -> None:
    """All of it; each file is recorded in the lab's state (teardown removes it)."""
    containers = builder.containers
    for name in _DOCKER:
        if name in containers:
            _docker_container(builder, containers[name])
    _docker_networks(builder)
    _containerd(builder)


def _json(builder: Builder, path: str, data: object) -> None:
    builder.mkdir(os.path.dirname(path))
    builder.write_file(path, json.dumps(data, indent=2) + "\n")


def _mac(pid: int, ifname: str) -> str | None:
    out = sysx.run(sysx.in_netns(f"/proc/{pid}/ns/net", "ip", "-j", "link", "show", "dev", ifname),
                   check=False)
    try:
        return json.loads(out.stdout)[0].get("address")
    except (ValueError, IndexError, AttributeError):
        return None


def _docker_container(builder: Builder, info: dict) -> None:
    name, cid, pid, mode = info["name"], info["id"], info["pid"], info["mode"]
    image, labels = _DOCKER[name]
    sandbox = hashlib.sha256(f"{topo.PREFIX}:sandbox:{name}".encode()).hexdigest()
    networks = {}
    if mode == "container":
        network_mode = f"container:{topo.container_id(topo.container(name).join_net)}"
    else:
        network_mode, net = _MODES[mode]
        _driver, _bridge, subnet, gateway = NETWORKS[net]
        attachment = {"NetworkID": network_id(net), "EndpointID": "", "Gateway": "",
                      "IPAddress": "", "IPPrefixLen": 0, "MacAddress": ""}
        if info.get("ip") and subnet:
            attachment.update(IPAddress=info["ip"], IPPrefixLen=int(subnet.split("/")[1]),
                              Gateway=gateway or "", MacAddress=_mac(pid, "eth0") or "")
        networks[net] = attachment
    ports: dict = {}
    if name == "web":
        ports = {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(topo.PUBLISHED_PORT)}]}
    elif name == "api":
        ports = {"8000/tcp": None}  # exposed, not published
    spec = topo.container(name)
    config = {
        "ID": cid,
        "Name": f"/{name}",
        "Path": spec.comm,
        "Args": [],
        "Config": {"Hostname": info.get("hostname") or cid[:12], "Image": image,
                   "Labels": labels, "Cmd": [spec.comm]},
        "Image": "sha256:" + hashlib.sha256(image.encode()).hexdigest(),
        "State": {"Running": True, "Pid": pid, "ExitCode": 0},
        "NetworkSettings": {
            "SandboxID": sandbox,
            "SandboxKey": "" if mode == "container" else f"/var/run/docker/netns/{sandbox[:12]}",
            "Networks": networks,
            "Ports": ports,
        },
        "Driver": "overlay2",
    }
    host_config = {"NetworkMode": network_mode,
                   "PortBindings": {k: v for k, v in ports.items() if v}}
    base = f"{topo.DOCKER_ROOT}/containers/{cid}"
    _json(builder, f"{base}/config.v2.json", config)
    _json(builder, f"{base}/hostconfig.json", host_config)


def _docker_networks(builder: Builder) -> None:
    prefix = b"docker/network/v1.0/"
    entries: dict[bytes, bytes] = {}
    for index, (name, (driver, bridge, subnet, gateway)) in enumerate(NETWORKS.items(), 1):
        net_id = network_id(name)
        record: dict = {"name": name, "id": net_id, "networkType": driver, "scope": "local",
                        "generic": {"com.docker.network.generic": {}}}
        if subnet:
            plen = subnet.split("/")[1]
            ipam = {"AddressSpace": "LocalDefault", "Pool": subnet}
            if gateway:
                ipam["Gateway"] = f"{gateway}/{plen}"
            record["ipamV4Info"] = json.dumps([{"IPAMData": json.dumps(ipam),
                                                "PoolID": f"LocalDefault/{subnet}"}])
        if bridge:
            record["generic"]["com.docker.network.generic"][
                "com.docker.network.bridge.name"] = bridge
            entries[prefix + f"bridge/{net_id}/".encode()] = _kv(
                index, {"ID": net_id, "BridgeName": bridge})
        entries[prefix + f"network/{net_id}/".encode()] = _kv(index, record)
    path = f"{topo.DOCKER_ROOT}/network/files/local-kv.db"
    builder.mkdir(os.path.dirname(path))
    entry = builder.st.record("file", path=path)
    with open(path, "wb") as handle:
        handle.write(boltwrite.build({b"libnetwork": entries}))
    builder.st.done(entry)


def _kv(index: int, record: dict) -> bytes:
    """libnetwork's value: an 8-byte index, then the JSON record."""
    return index.to_bytes(8, "little") + json.dumps(record).encode()


def _containerd(builder: Builder) -> None:
    containers = builder.containers
    if "pause" not in containers:
        return
    pod = builder.st.data.get("pod", {})
    pause_id = containers["pause"]["id"]
    common = {f"{CRI}sandbox-id": pause_id, f"{CRI}sandbox-name": topo.POD_NAME,
              f"{CRI}sandbox-namespace": topo.POD_NAMESPACE, f"{CRI}sandbox-uid": topo.POD_UID}
    uid = topo.POD_UID.replace("-", "_")
    for name in ("pause", *_APP_IMAGES):
        info = containers.get(name)
        if info is None:
            continue
        annotations = dict(common)
        if name == "pause":
            annotations[f"{CRI}container-type"] = "sandbox"
        else:
            container_name, image = _APP_IMAGES[name]
            annotations.update({f"{CRI}container-type": "container",
                                f"{CRI}container-name": container_name,
                                f"{CRI}image-name": image})
        netns = pod.get("netns")  # CRI gives the apps the sandbox's netns path too
        spec = {
            "ociVersion": "1.0.2-dev",
            "process": {"args": [topo.container(name).comm]},
            "root": {"path": "rootfs"},
            "hostname": topo.POD_NAME,
            "annotations": annotations,
            "linux": {
                "cgroupsPath": f"kubepods-besteffort-pod{uid}.slice:cri-containerd:{info['id']}",
                "namespaces": [{"type": "pid"}, {"type": "mount"},
                               {"type": "network", "path": netns},
                               {"type": "ipc"}, {"type": "uts"}],
            },
        }
        bundle = f"{topo.CONTAINERD_STATE}/io.containerd.runtime.v2.task/k8s.io/{info['id']}"
        _json(builder, f"{bundle}/config.json", spec)
        builder.write_file(f"{bundle}/init.pid", str(info["pid"]))
    cni_dir = f"{topo.CNI_DATA_DIR}/{CNI_NETWORK}"
    builder.mkdir(cni_dir)
    builder.write_file(f"{cni_dir}/{topo.POD_IP}", f"{pause_id}\neth0")
    builder.write_file(f"{cni_dir}/last_reserved_ip.0", topo.POD_IP)


def containerd_config() -> str:
    """The containerd stand-in's config.toml: where its state and CNI configs are."""
    return (
        "version = 2\n"
        f'state = "{topo.CONTAINERD_STATE}"\n'
        '[plugins."io.containerd.grpc.v1.cri".cni]\n'
        f'  conf_dir = "{topo.CNI_CONF_DIR}"\n'
    )
