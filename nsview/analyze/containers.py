"""Containers for presentation: network modes compared, labels, pods grouped.

The engine's ``network_mode`` and the kernel's ``kernel_network_mode``
(collect/engines) are compared here: they agree when the kernel shows what
the engine's mode makes (``bridge`` or a user network: a netns of its own;
``host``: the host's; ``container:web``: web's). A container that says
``bridge`` but sits in the host's netns is news, and its label says so.
"""

from __future__ import annotations

from nsview.analyze.labels import Label, LabelBuilder, plural
from nsview.model.containers import Container
from nsview.model.targets import container_title, pod_title

PRIVATE_MODES = ("private", "none")


def modes_disagree(container: Container) -> bool:
    """True when the kernel shows another network mode than the engine says."""
    engine, kernel = container.network_mode, container.kernel_network_mode
    if not engine or not kernel:
        return False
    if engine == "host":
        return kernel != "host"
    if engine.startswith("container:"):
        return not (kernel == engine or kernel in ("pod", "host"))
    if engine == "pod":
        return not (kernel == "pod" or kernel.startswith("container:"))
    if engine == "none":
        return kernel not in PRIVATE_MODES
    # bridge, a user-defined network, slirp4netns/pasta, CNI: a netns of its own
    # (a pod's app containers join the sandbox's: kernel "pod")
    if container.pod is not None and kernel == "pod":
        return False
    if kernel == "none":
        return any(n.ip for n in container.networks)  # addresses on paper, none in the kernel
    return kernel != "private"


def network_mode_text(container: Container) -> str:
    """ "bridge", or "bridge ≠ kernel host" when they disagree."""
    mode = container.network_mode or container.kernel_network_mode or "?"
    if modes_disagree(container):
        return f"{mode} ≠ kernel {container.kernel_network_mode}"
    return mode


def pod_key(container: Container) -> str:
    """The pod a container belongs to, as a row key (empty: none)."""
    pod = container.pod
    if pod is None:
        return ""
    return pod.uid or pod.id or pod_title(pod)


def container_label(container: Container) -> Label:
    b = LabelBuilder().add(container_title(container), "name")
    if container.image:
        b.add(container.image, "muted")
    if container.sandbox:
        b.add("sandbox", "kind")
    mode = network_mode_text(container)
    b.add(mode, "warn" if modes_disagree(container) else "kind")
    addrs = [n.ip for n in container.networks if n.ip]
    if addrs:
        b.add(" ".join(addrs), "addr")
    ports = [
        f"{p.host_port}→{p.container_port}/{p.protocol}"
        for p in container.ports
        if p.host_port is not None
    ]
    if ports:
        b.add(" ".join(dict.fromkeys(ports)), "dnat")
    if container.rootless:
        b.add("rootless", "muted")
    b.add(plural(len(container.pids), "proc"), "count")
    b.add(container.id[:12], "muted")
    return b.build()


def engine_label(engine: str, count: int) -> Label:
    return LabelBuilder().add(engine, "group").add(plural(count, "container"), "count").build()


def pod_label(container: Container, count: int) -> Label:
    pod = container.pod
    b = LabelBuilder().add(f"pod {pod_title(pod)}" if pod else "pod ?", "name")
    return b.add(plural(count, "container"), "count").build()
