"""Lookups over a Snapshot that presentation layers need again and again."""

from __future__ import annotations

from functools import cached_property

from nsview.model import Namespace, Process, Snapshot
from nsview.model.containers import Container, EngineNetwork
from nsview.model.targets import container_title


def _owner_rank(container: Container) -> tuple:
    """Who a shared namespace is named after: a sandbox, then a container that
    did not join another's, then the oldest init."""
    joined = (container.network_mode or "").startswith("container:")
    return (not container.sandbox, joined, container.main_pid or 1 << 30)


class SnapshotIndex:
    """Dictionaries over one snapshot; build once per snapshot, not per lookup."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    @cached_property
    def namespaces(self) -> dict[tuple[str, int], Namespace]:
        return {(ns.type, ns.inode): ns for ns in self.snapshot.namespaces}

    @cached_property
    def processes(self) -> dict[int, Process]:
        return {p.pid: p for p in self.snapshot.processes}

    @cached_property
    def children(self) -> dict[int, list[int]]:
        """ppid -> child pids (processes whose parent is not in the snapshot go under 0)."""
        out: dict[int, list[int]] = {}
        for p in self.snapshot.processes:
            parent = p.ppid if p.ppid in self.processes else 0
            out.setdefault(parent, []).append(p.pid)
        return out

    def namespace(self, ns_type: str, inode: int | None) -> Namespace | None:
        return None if inode is None else self.namespaces.get((ns_type, inode))

    def process(self, pid: int | None) -> Process | None:
        return None if pid is None else self.processes.get(pid)

    @cached_property
    def initial(self) -> frozenset[tuple[str, int]]:
        """The host's initial namespaces: kernel threads never leave them, and unlike
        PID 1 (whose links may be denied) they are always readable."""
        for proc in self.snapshot.processes:
            if proc.kthread and proc.ns:
                return frozenset(proc.ns.items())
        return frozenset()

    def is_initial(self, ns: Namespace) -> bool:
        return (ns.type, ns.inode) in self.initial

    def label(self, ns: Namespace) -> str:
        """A short human name: the `ip netns` name, "host" for the initial namespace,
        else the main process in it, else what holds it open. Computed once per
        namespace: every row of a process lists its eight namespaces by label."""
        key = (ns.type, ns.inode)
        found = self._labels.get(key)
        if found is None:
            found = self._labels[key] = self._label(ns)
        return found

    @cached_property
    def _labels(self) -> dict[tuple[str, int], str]:
        return {}

    def _label(self, ns: Namespace) -> str:
        # The host's is "host" whatever bind mounts it carries (Docker's
        # /run/docker/netns/default); a container's is named by the container.
        if self.is_initial(ns):
            return "host"
        owner = self.ns_container(ns)
        if owner is not None:
            return container_title(owner)
        if ns.names:
            return ns.names[0]
        proc = self.main_process(ns)
        if proc is not None:
            return f"{proc.comm} ({proc.pid})"
        for holder in ns.holders:
            if holder.kind == "bind_mount" and holder.path:
                return holder.path
            if holder.kind == "fd":
                owner = self.processes.get(holder.pid or 0)
                comm = f"{owner.comm} " if owner else ""
                return f"fd {holder.fd} of {comm}({holder.pid})"
            if holder.kind == "for_children":
                owner = self.processes.get(holder.pid or 0)
                comm = f"{owner.comm} " if owner else ""
                return f"children of {comm}({holder.pid})"
        return f"{ns.type}:[{ns.inode}]"

    # -- containers -------------------------------------------------------------

    @cached_property
    def containers(self) -> dict[str, Container]:
        return {c.id: c for c in self.snapshot.containers}

    def container(self, cid: str | None) -> Container | None:
        return None if cid is None else self.containers.get(cid)

    def ns_container(self, ns: Namespace) -> Container | None:
        """The container (a pod's sandbox first) whose own namespace ``ns`` is:
        one whose init is in it, not one that only shares its engine's host's."""
        owners = [
            c
            for cid in ns.containers
            if (c := self.containers.get(cid)) is not None
            and not (ns.type == "net" and c.kernel_network_mode == "host")
        ]
        if not owners:
            return None
        return min(owners, key=_owner_rank)

    @cached_property
    def _bridges(self) -> dict[str, list[EngineNetwork]]:
        out: dict[str, list[EngineNetwork]] = {}
        for network in self.snapshot.networks:
            if network.bridge:
                out.setdefault(network.bridge, []).append(network)
        return out

    def network_of_bridge(self, netns: int, ifname: str) -> EngineNetwork | None:
        """The engine network whose bridge ``ifname`` in ``netns`` is (``appnet``)."""
        for network in self._bridges.get(ifname, ()):
            if network.bridge_netns in (None, netns):
                return network
        return None

    def main_process(self, ns: Namespace) -> Process | None:
        """The oldest process whose parent is outside ``ns``: the container's init."""
        first = None
        for pid in ns.pids:  # lowest first: usually the init is the first one tried
            proc = self.processes.get(pid)
            if proc is None:
                continue
            first = first or proc
            parent = self.processes.get(proc.ppid or 0)
            if parent is None or parent.ns.get(ns.type) != ns.inode:
                return proc
        return first
