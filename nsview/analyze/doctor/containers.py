"""Container checks: the engine's record against what the kernel shows."""

from __future__ import annotations

from collections.abc import Iterator

from nsview.analyze.doctor.base import Context, Finding, Subject, check, ip_of

# engine network mode -> the kernel modes it may show as
_KERNEL = {"host": ("host",), "none": ("none",), "pod": ("pod",)}


def _mode_agrees(engine: str, kernel: str) -> bool:
    if engine in _KERNEL:
        return kernel in _KERNEL[engine]
    if engine.startswith("container:"):
        return kernel.startswith("container:") or kernel == "pod"
    # bridge, a user-defined network, slirp4netns, a CNI network: a netns of its own
    return kernel in ("private", "pod")


@check("container-state-mismatch", "warning", "containers",
       "a container whose engine state disagrees with the kernel (network mode, IP)")
def container_state_mismatch(ctx: Context) -> Iterator[Finding]:
    for c in ctx.snapshot.containers:
        name = c.name or c.id[:12]
        inode = c.ns.get("net")
        netns = ctx.net_by_inode.get(inode) if inode is not None else None
        src = c.source.get("network_mode") or c.source.get("networks") or c.source.get("name")
        if c.network_mode and c.kernel_network_mode and not _mode_agrees(
                c.network_mode, c.kernel_network_mode):
            yield Finding(
                "container-state-mismatch", "warning", [Subject(inode, container=name)],
                f"{c.engine} says container {name} has network mode {c.network_mode}, but "
                f"the kernel shows {c.kernel_network_mode}.",
                [f"engine: network mode {c.network_mode}" + (f" ({src})" if src else ""),
                 f"kernel: {c.kernel_network_mode} (net:[{inode}], pid {c.main_pid})"],
                f"nsenter -t {c.main_pid} -n ip addr   # and the engine's inspect of {name}")
        if netns is None or netns.net is None or c.kernel_network_mode == "host":
            continue
        have = {str(a.cidr).split("/")[0]: i.name for i in netns.net.interfaces
                for a in i.addresses}
        for n in c.networks:
            ip = ip_of(n.ip)
            if ip is None or str(ip) in have:
                continue
            on = n.interface or "eth0"
            shown = [f"{a.cidr} on {i.name}" for i in netns.net.interfaces
                     if i.kind != "loopback" for a in i.addresses if a.family == "inet"]
            yield Finding(
                "container-state-mismatch", "warning",
                [Subject(inode, n.interface, container=name)],
                f"{c.engine} says container {name} has {ip} on network {n.name}, but its "
                "netns has no such address.",
                [f"engine: {n.name} ip {n.ip}" + (f" ({src})" if src else ""),
                 "kernel: " + (", ".join(shown) or "no IPv4 address")],
                f"{ctx.enter(inode)}ip addr show {on}   # the engine's record is stale or "
                "the address was changed behind its back")
