"""Extra lookups the interactive views need: hierarchies, interfaces, addresses.

Everything is computed lazily, once per snapshot; a ``Lookup`` is thrown away
with its snapshot (inodes are reused, so nothing here outlives it).
"""

from __future__ import annotations

import ipaddress
from functools import cached_property

from nsview.analyze.index import SnapshotIndex
from nsview.model import NS_TYPES, Interface, Namespace, NetState, Process


class Lookup(SnapshotIndex):
    """SnapshotIndex plus the lookups the TUI's trees, filter and relations use."""

    # -- doctor -----------------------------------------------------------------------

    @cached_property
    def findings(self) -> list:
        """Every doctor finding about this snapshot, worst first (analyze.doctor)."""
        from nsview.analyze.doctor import run_doctor

        return run_doctor(self.snapshot).findings

    @cached_property
    def problems(self) -> int:
        """How many findings are at warning or above (the header's badge)."""
        return sum(1 for f in self.findings if f.severity != "info")

    # -- namespaces -----------------------------------------------------------------

    @cached_property
    def by_type(self) -> dict[str, list[Namespace]]:
        out: dict[str, list[Namespace]] = {t: [] for t in NS_TYPES}
        for ns in self.snapshot.namespaces:
            out.setdefault(ns.type, []).append(ns)
        for t, items in out.items():
            items.sort(key=self._ns_sort_key)
            out[t] = items
        return out

    def _ns_sort_key(self, ns: Namespace) -> tuple:
        # The host's namespace (the one pid 1 or the lowest pid is in) first, then
        # named ones, then by the lowest pid in it; inode breaks ties.
        first = ns.pids[0] if ns.pids else 1 << 30
        return (first != 1, not ns.names, ns.names[:1], first, ns.inode)

    @cached_property
    def ns_children(self) -> dict[tuple[str, int], list[Namespace]]:
        """(type, parent inode) -> child namespaces, for the pid/user hierarchies."""
        out: dict[tuple[str, int], list[Namespace]] = {}
        for t, items in self.by_type.items():
            for ns in items:
                if ns.parent is not None:
                    out.setdefault((t, ns.parent), []).append(ns)
        return out

    def hierarchy_roots(self, ns_type: str) -> list[Namespace]:
        """Namespaces of ``ns_type`` whose parent is not in the snapshot (usually one)."""
        return [
            ns
            for ns in self.by_type.get(ns_type, [])
            if ns.parent is None or (ns_type, ns.parent) not in self.namespaces
        ]

    @cached_property
    def owned(self) -> dict[int, list[Namespace]]:
        """user namespace inode -> namespaces it owns."""
        out: dict[int, list[Namespace]] = {}
        for ns in self.snapshot.namespaces:
            if ns.owner is not None and not (ns.type == "user" and ns.owner == ns.parent):
                out.setdefault(ns.owner, []).append(ns)
        return out

    # -- processes ------------------------------------------------------------------

    def ancestors(self, pid: int) -> list[int]:
        """pids from the top of the process tree down to ``pid`` (inclusive)."""
        chain = [pid]
        seen = {pid}
        proc = self.processes.get(pid)
        while proc is not None and proc.ppid in self.processes and proc.ppid not in seen:
            chain.append(proc.ppid)
            seen.add(proc.ppid)
            proc = self.processes[proc.ppid]
        chain.reverse()
        return chain

    def parent_of(self, proc: Process) -> Process | None:
        return self.processes.get(proc.ppid) if proc.ppid else None

    def unshared(self, proc: Process) -> list[str]:
        """Namespace types in which ``proc`` differs from its parent (parent known)."""
        parent = self.parent_of(proc)
        if parent is None:
            return []
        return [
            t for t in NS_TYPES if t in proc.ns and t in parent.ns and proc.ns[t] != parent.ns[t]
        ]

    # -- network --------------------------------------------------------------------

    @cached_property
    def netns(self) -> list[Namespace]:
        return self.by_type.get("net", [])

    def net(self, inode: int) -> NetState | None:
        ns = self.namespace("net", inode)
        return ns.net if ns is not None else None

    @cached_property
    def interfaces(self) -> dict[tuple[int, int], Interface]:
        out: dict[tuple[int, int], Interface] = {}
        for ns in self.netns:
            if ns.net is not None:
                for iface in ns.net.interfaces:
                    out[(ns.inode, iface.ifindex)] = iface
        return out

    @cached_property
    def _iface_by_name(self) -> dict[tuple[int, str], Interface]:
        return {(inode, i.name): i for (inode, _), i in self.interfaces.items()}

    def interface(self, netns: int | None, ifindex: int | None) -> Interface | None:
        if netns is None or ifindex is None:
            return None
        return self.interfaces.get((netns, ifindex))

    def interface_named(self, netns: int, name: str | None) -> Interface | None:
        return None if name is None else self._iface_by_name.get((netns, name))

    def ports(self, netns: int, bridge: Interface) -> list[Interface]:
        net = self.net(netns)
        if net is None:
            return []
        return [i for i in net.interfaces if i.master == bridge.name and i.name != bridge.name]

    def peer(self, netns: int, iface: Interface) -> tuple[int, Interface] | None:
        """The other end of a veth as (netns inode, Interface), when the snapshot has it."""
        ref = iface.peer
        if ref is None or ref.ifindex is None:
            return None
        where = ref.netns if ref.netns is not None else netns
        other = self.interface(where, ref.ifindex)
        if other is None and ref.name:
            other = self.interface_named(where, ref.name)
        return (where, other) if other is not None else None

    @cached_property
    def addresses(self) -> dict[str, list[tuple[int, int]]]:
        """IP address (no prefix) -> [(netns inode, ifindex)] that carry it."""
        out: dict[str, list[tuple[int, int]]] = {}
        for (inode, ifindex), iface in self.interfaces.items():
            for addr in iface.addresses:
                ip = addr.cidr.split("/", 1)[0]
                out.setdefault(ip, []).append((inode, ifindex))
        return out

    @cached_property
    def sockets_of(self) -> dict[int, list[tuple[int, int]]]:
        """pid -> [(netns inode, index in NetState.sockets)] of the sockets it holds."""
        out: dict[int, list[tuple[int, int]]] = {}
        for ns in self.netns:
            if ns.net is not None:
                for i, sock in enumerate(ns.net.sockets):
                    for pid in sock.pids:
                        out.setdefault(pid, []).append((ns.inode, i))
        return out

    def owners_of_ip(self, text: str | None) -> list[tuple[int, int]]:
        """Interfaces carrying the IP in ``text`` ("10.0.0.2", "10.0.0.2:80", "[fe80::1]:80")."""
        ip = ip_of(text)
        return self.addresses.get(ip, []) if ip else []


def ip_of(text: str | None) -> str | None:
    """The bare IP address in an address, address:port, [v6]:port or range; else None."""
    if not text:
        return None
    text = text.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    else:
        text = text.split("-", 1)[0]
        if text.count(":") == 1:
            text = text.split(":", 1)[0]
    text = text.split("/", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
