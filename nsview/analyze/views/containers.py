"""The Containers view: engine → pod → container → its namespaces, interfaces, networks, ports."""

from __future__ import annotations

from nsview.analyze.containers import (
    container_label,
    engine_label,
    network_mode_text,
    pod_key,
    pod_label,
)
from nsview.analyze.labels import LabelBuilder, interface_label, ns_title
from nsview.analyze.refs import (
    ContainerGroupRef,
    ContainerRef,
    InterfaceRef,
    NamespaceRef,
    Ref,
)
from nsview.analyze.views.base import Item, Path, View, note
from nsview.model import NS_TYPES
from nsview.model.containers import Container


def _engine_key(engine: str) -> str:
    return f"engine:{engine}"


def _container_key(container: Container) -> str:
    return f"c:{container.id}"


class ContainersView(View):
    """engine → pod → container → its namespaces, interfaces, networks, ports."""

    name = "containers"
    title = "Containers"

    def _by_engine(self) -> dict[str, list[Container]]:
        out: dict[str, list[Container]] = {}
        for container in self.lookup.snapshot.containers:
            out.setdefault(container.engine, []).append(container)
        return out

    def roots(self) -> list[Item]:
        engines = self._by_engine()
        if not engines:
            return [note("none", "no containers found (docs/containers.md says where nsview "
                                 "looks)")]
        return [
            Item(_engine_key(engine), ContainerGroupRef(engine), engine_label(engine, len(items)),
                 True)
            for engine, items in sorted(engines.items())
        ]

    def _container_item(self, container: Container) -> Item:
        return Item(
            _container_key(container),
            ContainerRef(container.id, container.main_pid),
            container_label(container),
            True,
        )

    def _build_children(self, item: Item) -> list[Item]:
        match item.ref:
            case ContainerGroupRef(engine=engine, pod=""):
                return self._engine_children(engine)
            case ContainerGroupRef(engine=engine, pod=pod):
                members = [c for c in self._by_engine().get(engine, []) if pod_key(c) == pod]
                members.sort(key=lambda c: (not c.sandbox, c.name or c.id))
                return [self._container_item(c) for c in members]
            case ContainerRef(id=cid):
                container = self.lookup.container(cid)
                return self._container_children(container) if container else []
        return []

    def _engine_children(self, engine: str) -> list[Item]:
        pods: dict[str, list[Container]] = {}
        alone: list[Container] = []
        for container in self._by_engine().get(engine, []):
            key = pod_key(container)
            (pods.setdefault(key, []) if key else alone).append(container)
        out = []
        for key, members in sorted(pods.items(), key=lambda kv: pod_label(kv[1][0], 0)):
            head = next((c for c in members if c.sandbox), members[0])
            out.append(
                Item(f"pod:{key}", ContainerGroupRef(engine, key), pod_label(head, len(members)),
                     True)
            )
        alone.sort(key=lambda c: c.name or c.id)
        return out + [self._container_item(c) for c in alone]

    def _container_children(self, container: Container) -> list[Item]:
        lk = self.lookup
        out = []
        b = LabelBuilder().add("network mode", "group").add(network_mode_text(container), "kind")
        if container.kernel_network_mode:
            b.add(f"kernel: {container.kernel_network_mode}", "muted")
        out.append(Item("mode", ContainerRef(container.id, container.main_pid), b.build()))
        for t in NS_TYPES:
            inode = container.ns.get(t)
            if inode is None:
                continue
            ns = lk.namespace(t, inode)
            nb = LabelBuilder().add(t, f"ns-{t}").tight(f":[{inode}]", "muted")
            if ns is not None:
                nb.add(ns_title(ns, lk), "label")
                if lk.is_initial(ns):
                    nb.add("the host's", "muted")
            out.append(Item(f"ns:{t}", NamespaceRef(t, inode), nb.build()))
        netns = container.ns.get("net")
        net = lk.net(netns) if netns is not None else None
        if net is not None and container.kernel_network_mode != "host":
            for iface in net.interfaces:
                if iface.kind == "loopback" or iface.name == "lo":
                    continue
                out.append(Item(f"if:{iface.ifindex}", InterfaceRef(netns, iface.ifindex),
                                interface_label(netns, iface, lk)))
        for i, attachment in enumerate(container.networks):
            nb = LabelBuilder().add(f"network {attachment.name}", "group")
            nb.add(attachment.interface or "", "name").add(attachment.ip or "", "addr")
            if attachment.gateway:
                nb.add(f"via {attachment.gateway}", "addr")
            if attachment.bridge:
                nb.add(f"bridge {attachment.bridge}", "muted")
            if attachment.mac:
                nb.add(attachment.mac, "muted")
            ref = ContainerRef(container.id, container.main_pid)
            out.append(Item(f"net:{i}:{attachment.name}", ref, nb.build()))
        for i, port in enumerate(container.ports):
            host = f"{port.host_ip or '*'}:{port.host_port}"
            text = f"port {host} → {port.container_port}/{port.protocol}"
            out.append(Item(f"port:{i}", ContainerRef(container.id, container.main_pid),
                            ((text, "dnat"),)))
        return out

    def locate(self, ref: Ref) -> Path | None:
        match ref:
            case ContainerRef(id=cid):
                container = self.lookup.container(cid)
                if container is None:
                    return None
                top = _engine_key(container.engine)
                key = pod_key(container)
                if key:
                    return (top, f"pod:{key}", _container_key(container))
                return (top, _container_key(container))
        return None
