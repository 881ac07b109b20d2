"""The ``/`` filter: which rows match a query, and which rows stay visible.

A query matches by name (``ip netns`` names, interface names, comm, command
line, container names, images and pods; a container id prefix matches the
container, its namespaces and the processes in its cgroup), pid, inode or IP
address; case does not matter. Numbers match pids and
inodes exactly (and names containing them); a full IP address matches the
interfaces carrying it, routes and NAT rules mentioning it.

Filtering a view keeps the matching rows, all of their ancestors, and
everything below a match (a matching netns shows all of its interfaces).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nsview.analyze.lookup import Lookup, ip_of
from nsview.analyze.refs import (
    ConntrackRef,
    ContainerGroupRef,
    ContainerRef,
    FindingRef,
    HolderRef,
    InterfaceRef,
    NamespaceRef,
    NatRuleRef,
    ProcessRef,
    Ref,
    RouteRef,
    SocketRef,
    resolve,
)
from nsview.analyze.views import Item, Path, View

MAX_DEPTH = 64  # a guard against a malformed (cyclic) process tree in a loaded file


@dataclass(frozen=True, slots=True)
class Query:
    text: str  # lower case, stripped
    number: int | None = None
    ip: str | None = None


def parse_query(text: str) -> Query | None:
    text = text.strip().lower()
    if not text:
        return None
    digits = text.isascii() and text.isdigit()  # "²".isdigit() is True, int("²") fails
    number = int(text) if digits else None
    return Query(text=text, number=number, ip=None if digits else ip_of(text))


def _has(q: Query, *values: str | None) -> bool:
    return any(v and q.text in v.lower() for v in values)


def _container_has(q: Query, container) -> bool:
    """A container by its name, id (prefix), image or pod."""
    if container is None:
        return False
    if q.text.isalnum() and len(q.text) >= 3 and container.id.startswith(q.text):
        return True
    pod = container.pod
    return _has(q, container.name, container.image, pod.name if pod else None,
                f"{pod.namespace}/{pod.name}" if pod and pod.namespace else None)


def matches(lk: Lookup, ref: Ref, q: Query) -> bool:
    """Whether the row about ``ref`` matches ``q`` (False when it is gone)."""
    if isinstance(ref, ContainerGroupRef):
        return _has(q, ref.engine)
    found = resolve(lk, ref)
    if found is None:
        return False
    match ref:
        case NamespaceRef():
            if q.number == found.inode or _has(q, *found.names):
                return True
            return _container_has(q, lk.ns_container(found))
        case ProcessRef():
            if q.number is not None and (q.number == found.pid or q.number in found.nspid[1:]):
                return True
            if _has(q, found.comm, " ".join(found.cmdline)):
                return True
            # the processes in a container's cgroup, by the container's name or id
            return _container_has(q, lk.container(found.container))
        case ContainerRef():
            return _container_has(q, found)
        case InterfaceRef():
            if _has(q, found.name, found.mac):
                return True
            for addr in found.addresses:
                if q.ip is not None:
                    if ip_of(addr.cidr) == q.ip:
                        return True
                elif _has(q, addr.cidr):
                    return True
            return False
        case RouteRef():
            if q.ip is not None:
                return q.ip in (ip_of(found.gateway), ip_of(found.prefsrc), ip_of(found.dst))
            return _has(q, found.dst, found.gateway, found.dev, found.prefsrc)
        case NatRuleRef():
            return _has(q, found.text, found.to_destination, found.to_source)
        case SocketRef():
            if q.number is not None:  # a port, or a pid holding it
                return q.number in (found.port, found.remote_port) or q.number in found.pids
            if q.ip is not None:
                return q.ip in (found.address, found.remote_address)
            return _has(q, found.local, found.remote)
        case ConntrackRef():
            o, r = found.original, found.reply
            if q.number is not None:
                return q.number in (o.sport, o.dport, r.sport, r.dport)
            if q.ip is not None:
                return q.ip in (ip_of(o.src), ip_of(o.dst), ip_of(r.src), ip_of(r.dst))
            return _has(q, o.src, o.dst, r.src, r.dst, found.state)
        case HolderRef():
            return (q.number is not None and q.number == found.pid) or _has(q, found.path)
        case FindingRef():
            return _has(q, found.check, found.message, *found.evidence)
    return False


@dataclass(slots=True)
class Filtered:
    """The outcome of filtering one view."""

    query: Query
    matches: set[Path] = field(default_factory=set)
    keep: set[Path] = field(default_factory=set)  # strict ancestors of matches

    def visible(self, path: Path, items: list[Item]) -> list[Item]:
        """Of ``items`` (the children of the row at ``path``), those to show."""
        if self.under_match(path):
            return items
        return [i for i in items if (*path, i.key) in self.keep or (*path, i.key) in self.matches]

    def under_match(self, path: Path) -> bool:
        return any(path[:n] in self.matches for n in range(1, len(path) + 1))


def filter_view(view: View, q: Query) -> Filtered:
    """Walk ``view`` (building it as it goes) and record where ``q`` matches."""
    out = Filtered(q)
    lk = view.lookup
    stack: list[tuple[Path, Item]] = [((item.key,), item) for item in reversed(view.roots())]
    while stack:
        path, item = stack.pop()
        if matches(lk, item.ref, q):
            out.matches.add(path)
            for n in range(1, len(path)):
                out.keep.add(path[:n])
            continue  # everything below a match is shown anyway
        if item.expandable and len(path) < MAX_DEPTH:
            for child in reversed(view.children(item)):
                stack.append(((*path, child.key), child))
    return out
