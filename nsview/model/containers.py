"""Containers, pods and engine networks, as the engines' own state records them.

Every container is found from the cgroup path of its processes (the same /proc
walk as the rest of the snapshot) and then described from its engine's state on
disk; ``source`` says which file (or socket) each fact came from. See
docs/containers.md for what each engine records where.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class PodRef:
    """The pod a container belongs to (Kubernetes via CRI, or a podman pod)."""

    name: str | None = None
    namespace: str | None = None  # Kubernetes namespace; None for a podman pod
    uid: str | None = None  # Kubernetes pod uid
    id: str | None = None  # the sandbox (pause/infra) container's or the pod's id


@dataclass(slots=True)
class ContainerNetwork:
    """One network a container is attached to, and its end of it."""

    name: str  # the engine's network name ("bridge", "appnet", a CNI network)
    interface: str | None = None  # the container-side ifname, from the kernel (matched by MAC)
    ip: str | None = None  # "198.18.0.2/24" where the prefix is known
    mac: str | None = None
    gateway: str | None = None
    bridge: str | None = None  # the host-side bridge ifname ("docker0", "br-7e98d5bc6bec")
    network_id: str | None = None  # the engine's network id (EngineNetwork.id)


@dataclass(slots=True)
class PortMapping:
    """A published port: host_ip:host_port/protocol -> the container's port."""

    host_port: int | None
    container_port: int | None
    protocol: str = "tcp"
    host_ip: str | None = None  # None or "" = every address


@dataclass(slots=True)
class Container:
    """A container with at least one live process on this host.

    ``network_mode`` is what the engine says (``bridge``, ``host``, ``none``,
    ``container:<name>``, ``pod``, or a user-defined network's name);
    ``kernel_network_mode`` is what the kernel shows (``host``,
    ``container:<name>``, ``pod``, ``none``, ``private``); analyze compares them.
    """

    id: str
    engine: str  # "docker" | "podman" | "containerd" | "cri-o"
    name: str | None = None
    image: str | None = None  # as the user named it ("busybox:1", "registry/x:tag")
    image_id: str | None = None
    pod: PodRef | None = None
    sandbox: bool = False  # a pause/infra container that holds its pod's namespaces
    rootless: bool = False
    pids: list[int] = field(default_factory=list)  # every process in its cgroup, this walk
    main_pid: int | None = None  # its init (the engine's State.Pid when that is alive)
    ns: dict[str, int] = field(default_factory=dict)  # type -> inode, of main_pid
    network_mode: str | None = None
    kernel_network_mode: str | None = None
    networks: list[ContainerNetwork] = field(default_factory=list)
    ports: list[PortMapping] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    project: str | None = None  # compose project (label com.docker.compose.project)
    namespace: str | None = None  # containerd namespace ("default", "k8s.io", "moby")
    cgroup: str | None = None  # the cgroup path it was found by
    sandbox_key: str | None = None  # the engine's path for its netns, when it keeps one
    # fact -> where it came from: "cgroup" -> "/proc/PID/cgroup", "name" -> a file
    # path, "networks" -> "socket:/run/docker.sock", ...
    source: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class EngineNetwork:
    """A network an engine defines (Docker/podman network, CNI network)."""

    name: str
    engine: str
    id: str | None = None
    driver: str | None = None  # "bridge", "host", "null", "macvlan", "overlay", ...
    subnet: str | None = None  # first IPv4 subnet
    gateway: str | None = None
    bridge: str | None = None  # the Linux bridge's ifname, for bridge networks
    bridge_netns: int | None = None  # inode of the netns that bridge lives in
    subnets: list[str] = field(default_factory=list)  # every subnet, IPv4 and IPv6
    source: str | None = None  # the file or socket the definition came from
