"""The lab's fixed layout: names, addresses, ports. docs/lab.md draws it.

Only lab-internal ranges are used: Docker's own 172.17-19.0.0/16
(inside the lab hosts only), TEST-NET-1/2 (192.0.2.0/24, 198.51.100.0/24) and
CGNAT (100.64.0.0/10). No lab namespace has a route off the machine.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

PREFIX = "nsvlab"
RUN_DIR = "/run/nsview-lab"
STATE_FILE = f"{RUN_DIR}/state.json"
LOG_FILE = f"{RUN_DIR}/lab.log"
DOCKER_NETNS_DIR = f"{RUN_DIR}/docker/netns"  # like /var/run/docker/netns: not `ip netns`
HIDDEN_NETNS_DIR = f"{RUN_DIR}/netns"  # the bind-mount-only namespace lives here
CNI_CONF_DIR = f"{RUN_DIR}/cni/net.d"
NAMED_NETNS_DIR = "/run/netns"  # `ip netns` names (lab hosts, the pod's cni-<uuid>)
CGROUP_DIR_NAME = PREFIX  # <cgroup2 mount>/nsvlab/…
# Engine state the lab's containers carry (nsview.lab.engine_state), where the
# daemon stand-ins' command lines say it is, as a real dockerd/containerd's do.
DOCKER_ROOT = f"{RUN_DIR}/docker/data"  # dockerd --data-root
CONTAINERD_STATE = f"{RUN_DIR}/containerd/state"  # containerd --state
CONTAINERD_CONFIG = f"{RUN_DIR}/containerd/config.toml"  # containerd --config
CNI_DATA_DIR = f"{RUN_DIR}/cni/networks"  # host-local IPAM dataDir (default /var/lib/cni/networks)
ENV_MARKER = "NSVIEW_LAB_ID"  # in the environment of every lab process

# Programs the lab runs; checked before anything is built (system.py probes the link types).
TOOLS = ("ip", "iptables", "iptables-restore", "bridge", "nsenter", "unshare", "mount", "umount",
         "sysctl", "true")


@dataclass(frozen=True, slots=True)
class LabHost:
    key: str
    netns: str  # name under /run/netns
    hostname: str
    underlay_ip: str  # on eth0, the host's "physical" link (the underlay veth)
    daemon_comm: str  # the stand-in daemon that carries the host's uts namespace


# With `lab up --nodes`: each lab host is a node (its own pid, mount and uts
# namespaces and /proc, a real sshd on its underlay address), the underlay is a
# bridge in its own netns, and an operator's netns on it runs `nsview fleet`.
UNDERLAY_NETNS = f"{PREFIX}-underlay"
UNDERLAY_BRIDGE = "br-underlay"
OPS_NETNS = f"{PREFIX}-ops"
OPS_IP = "198.51.100.10"
SSH_DIR = f"{RUN_DIR}/ssh"  # keys, sshd configs, the client's ssh_config
SSH_CONFIG = f"{SSH_DIR}/ssh_config"

HOST1 = LabHost("host1", f"{PREFIX}-host1", f"{PREFIX}-host1", "198.51.100.1", "dockerd")
HOST2 = LabHost("host2", f"{PREFIX}-host2", f"{PREFIX}-host2", "198.51.100.2", "kubelet")
HOSTS = (HOST1, HOST2)
UNDERLAY_PREFIXLEN = 24

# docker0 on host1
DOCKER0 = "docker0"
DOCKER0_GW = "172.17.0.1"
DOCKER0_SUBNET = "172.17.0.0/16"
PUBLISHED_PORT = 8080  # host1:8080 -> web:80 (DNAT in nat DOCKER)

# user-defined bridge on host1 (docker network create --driver bridge)
USER_BRIDGE = "br-5a1b0c2d3e4f"
USER_GW = "172.18.0.1"
USER_SUBNET = "172.18.0.0/16"

# overlay (both hosts): br0 + vxlan in a netns per host, files in DOCKER_NETNS_DIR
OVERLAY_VNI = 4097
VXLAN_PORT = 4789
OVERLAY_MTU = 1450
OVERLAY_SUBNET = "100.64.10.0/24"
OVERLAY_NETNS = {"host1": f"{PREFIX}-ovl-host1", "host2": f"{PREFIX}-ovl-host2"}
# overlay containers' second interface (eth1): NAT'ed egress via each host's gwbridge
GWBRIDGE = "docker_gwbridge"
GWBRIDGE_GW = "172.19.0.1"
GWBRIDGE_SUBNET = "172.19.0.0/16"

# macvlan on host1's eth0, addresses on the underlay segment
MACVLAN_IP = "198.51.100.50"

# Kubernetes node (host2): CNI bridge and one pod
CNI_BRIDGE = "cni0"
POD_GW = "100.96.1.1"
POD_SUBNET = "100.96.1.0/24"
POD_IP = "100.96.1.2"
POD_NAME = "web-7f9c6d5b8-x2k4q"
POD_NAMESPACE = "default"
# Stable ids, so that screenshots and docs show the same names on every run.
POD_UID = str(uuid.uuid5(uuid.NAMESPACE_DNS, "pod.nsvlab.invalid"))
CNI_NETNS = f"cni-{uuid.uuid5(uuid.NAMESPACE_DNS, 'netns.nsvlab.invalid')}"  # in /run/netns

# the hidden namespaces
BIND_ONLY_NETNS = f"{PREFIX}-orphan"  # file in HIDDEN_NETNS_DIR, no process, no fd
BIND_ONLY_ADDR = "192.0.2.66"
FD_ONLY_ADDR = "192.0.2.77"


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """One lab process that plays a container (or a daemon, or a pod's pause)."""

    name: str
    comm: str
    host: str  # "host1" | "host2"
    mode: str  # bridge, host, container, none, user-bridge, overlay, macvlan, pod, daemon
    unshare: tuple[str, ...]
    role: str = "sleep"  # sleep | http | tcp
    port: int | None = None
    banner: str | None = None
    ip: str | None = None
    gw_ip: str | None = None  # overlay: eth1 on the host's docker_gwbridge
    join_net: str | None = None  # "host" (the lab host's netns) or another container's name
    join_ipc_uts: str | None = None  # pod apps: the pause container's name
    runtime: str = "docker"  # docker | cri (decides the cgroup name)
    hold_netns_fd: bool = False
    args: tuple[str, ...] = ()  # extra command-line arguments (a daemon's flags)


ALL_NS = ("net", "uts", "ipc", "pid", "mnt")

CONTAINERS: tuple[ContainerSpec, ...] = (
    ContainerSpec("dockerd", "dockerd", "host1", "daemon", ("uts",), join_net="host",
                  runtime="none", hold_netns_fd=True, args=("--data-root", DOCKER_ROOT)),
    ContainerSpec("kubelet", "kubelet", "host2", "daemon", ("uts",), role="tcp", port=10250,
                  banner="kubelet", join_net="host", runtime="none"),
    ContainerSpec("containerd", "containerd", "host2", "daemon", (), join_net="host",
                  runtime="none",
                  args=("--config", CONTAINERD_CONFIG, "--state", CONTAINERD_STATE)),
    ContainerSpec("web", "nginx", "host1", "bridge", ALL_NS, role="http", port=80,
                  ip="172.17.0.2"),
    ContainerSpec("cache", "redis-server", "host1", "bridge", ALL_NS, role="tcp", port=6379,
                  banner="+PONG", ip="172.17.0.3"),
    ContainerSpec("web-logs", "promtail", "host1", "container",
                  ("uts", "ipc", "pid", "mnt"), join_net="web"),
    ContainerSpec("metrics", "node_exporter", "host1", "host", ("uts", "ipc", "pid", "mnt"),
                  role="tcp", port=9100, banner="node_exporter", join_net="host"),
    ContainerSpec("batch", "backup-job", "host1", "none", ALL_NS),
    ContainerSpec("api", "gunicorn", "host1", "user-bridge", ALL_NS, role="http", port=8000,
                  ip="172.18.0.2"),
    ContainerSpec("db", "postgres", "host1", "user-bridge", ALL_NS, role="tcp", port=5432,
                  banner="postgres", ip="172.18.0.3"),
    ContainerSpec("frontend", "haproxy", "host1", "overlay", ALL_NS, role="http", port=80,
                  ip="100.64.10.2", gw_ip="172.19.0.2"),
    ContainerSpec("backend", "memcached", "host2", "overlay", ALL_NS, role="tcp", port=11211,
                  banner="memcached", ip="100.64.10.3", gw_ip="172.19.0.2"),
    ContainerSpec("sensor", "mosquitto", "host1", "macvlan", ALL_NS, role="tcp", port=1883,
                  banner="mosquitto", ip=MACVLAN_IP),
    ContainerSpec("pause", "pause", "host2", "pod", ALL_NS, ip=POD_IP, runtime="cri"),
    ContainerSpec("pod-nginx", "nginx", "host2", "pod", ("pid", "mnt"), role="http", port=80,
                  join_net="pause", join_ipc_uts="pause", runtime="cri"),
    ContainerSpec("pod-envoy", "envoy", "host2", "pod", ("pid", "mnt"), role="tcp", port=15001,
                  banner="envoy", join_net="pause", join_ipc_uts="pause", runtime="cri"),
)


def container_id(name: str) -> str:
    """The container's 64-hex id (Docker/containerd style), stable across runs."""
    return hashlib.sha256(f"{PREFIX}:{name}".encode()).hexdigest()


def container(name: str) -> ContainerSpec:
    for spec in CONTAINERS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def host(key: str) -> LabHost:
    return HOST1 if key == "host1" else HOST2
