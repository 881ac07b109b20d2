"""The ``/`` filter: which rows match a query, and which rows stay visible.

A query matches by name (``ip netns`` names, interface names, comm, command
line), pid, inode or IP address; case does not matter. Numbers match pids and
inodes exactly (and names containing them); a full IP address matches the
interfaces carrying it, routes and NAT rules mentioning it.

Filtering a view keeps the matching rows, all of their ancestors, and
everything below a match (a matching netns shows all of its interfaces).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nsview.analyze.lookup import Lookup, Ref, ip_of
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


def matches(lk: Lookup, ref: Ref, q: Query) -> bool:
    kind = ref[0] if ref else ""
    if kind == "ns":
        ns = lk.namespace(ref[1], ref[2])
        if ns is None:
            return False
        return q.number == ns.inode or _has(q, *ns.names)
    if kind == "proc":
        proc = lk.process(ref[1])
        if proc is None:
            return False
        if q.number is not None and (q.number == proc.pid or q.number in proc.nspid[1:]):
            return True
        return _has(q, proc.comm, " ".join(proc.cmdline))
    if kind == "iface":
        iface = lk.interface(ref[1], ref[2])
        if iface is None:
            return False
        if _has(q, iface.name, iface.mac):
            return True
        for addr in iface.addresses:
            if q.ip is not None:
                if ip_of(addr.cidr) == q.ip:
                    return True
            elif _has(q, addr.cidr):
                return True
        return False
    if kind == "route":
        net = lk.net(ref[1])
        if net is None or ref[2] >= len(net.routes):
            return False
        r = net.routes[ref[2]]
        if q.ip is not None:
            return q.ip in (ip_of(r.gateway), ip_of(r.prefsrc), ip_of(r.dst))
        return _has(q, r.dst, r.gateway, r.dev, r.prefsrc)
    if kind == "nat_rule":
        net = lk.net(ref[1])
        try:
            rule = net.nat[ref[2]].chains[ref[3]].rules[ref[4]]  # type: ignore[union-attr]
        except (AttributeError, IndexError):
            return False
        return _has(q, rule.text, rule.to_destination, rule.to_source)
    if kind == "holder":
        ns = lk.namespace(ref[1], ref[2])
        if ns is None or ref[3] >= len(ns.holders):
            return False
        h = ns.holders[ref[3]]
        return (q.number is not None and q.number == h.pid) or _has(q, h.path)
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
