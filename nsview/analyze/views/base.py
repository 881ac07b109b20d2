"""What every view is made of: rows (:class:`Item`) and a lazily built tree (:class:`View`)."""

from __future__ import annotations

from dataclasses import dataclass

from nsview.analyze.labels import Label, plain, process_label
from nsview.analyze.lookup import Lookup
from nsview.analyze.refs import NoteRef, ProcessRef, Ref

Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Item:
    key: str  # unique among siblings, stable across snapshots
    ref: Ref  # what the row is about (detail, relations, filter)
    label: Label
    expandable: bool = False  # has children (computed by the view when opened)
    # Where a view shows the same ref in two ways, which one this row is (the
    # Namespaces view lists a namespace under its type and in its hierarchy).
    branch: str = ""

    @property
    def text(self) -> str:
        return plain(self.label)


def namespace_key(ns) -> str:
    """The row key of a namespace: unique among its siblings in every view."""
    return f"ns:{ns.type}:{ns.inode}"


def note(key: str, text: str, role: str = "muted") -> Item:
    return Item(key, NoteRef(text), ((text, role),))


class View:
    """A lazily built tree over one snapshot.

    A view says which rows are at the top (``roots``) and which rows are under
    one (``_build_children``, a ``match`` on the row's ref); ``locate`` finds
    the row that shows a ref, for jumps.
    """

    name = ""
    title = ""

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self._children: dict[tuple[Ref, str], list[Item]] = {}  # built once per snapshot
        # A process shows under each of its namespaces: its label is built once.
        self._process_labels: dict[int, Label] = {}

    def roots(self) -> list[Item]:
        raise NotImplementedError

    def children(self, item: Item) -> list[Item]:
        """The rows under ``item``, built on first use (a view lives as long as its snapshot)."""
        if not item.expandable:
            return []
        key = (item.ref, item.branch)
        cached = self._children.get(key)
        if cached is None:
            cached = self._children[key] = self._build_children(item)
        return cached

    def _build_children(self, item: Item) -> list[Item]:
        return []

    def locate(self, ref: Ref) -> Path | None:
        """The path of the row that shows ``ref`` in this view, if it has one."""
        return None

    def _process_items(self, pids: list[int], *, expandable: bool = False) -> list[Item]:
        out = []
        labels = self._process_labels
        for pid in pids:
            label = labels.get(pid)
            if label is None:
                proc = self.lookup.process(pid)
                if proc is None:
                    continue
                label = labels[pid] = process_label(proc, self.lookup)
            out.append(Item(f"p:{pid}", ProcessRef(pid), label, expandable))
        return out
