"""The four trees of the interactive view, as pure data built on demand.

A view hands out :class:`Item` rows: ``roots()`` for the top level and
``children(item)`` for one row's children, computed only when asked, so a host
with thousands of processes costs nothing until a branch is opened. Each row
carries a typed reference (``nsview.analyze.refs``) to what it is about and a
role-tagged label (``nsview.analyze.labels``).

Rows are identified by their path of ``key``s from the top; keys are unique
among siblings and stable across snapshots, so expansion and the cursor can be
carried over a refresh. One module per view; a new view subclasses
``views.base.View`` and joins ``VIEW_CLASSES``.
"""

from __future__ import annotations

from nsview.analyze.lookup import Lookup
from nsview.analyze.views.base import Item, Path, View, namespace_key, note
from nsview.analyze.views.containers import ContainersView
from nsview.analyze.views.namespaces import NamespacesView
from nsview.analyze.views.network import NetworkView
from nsview.analyze.views.problems import ProblemsView
from nsview.analyze.views.processes import ProcessesView

VIEW_CLASSES: tuple[type[View], ...] = (
    NamespacesView,
    NetworkView,
    ProcessesView,
    ContainersView,
    ProblemsView,
)

__all__ = [
    "VIEW_CLASSES",
    "ContainersView",
    "Item",
    "NamespacesView",
    "NetworkView",
    "Path",
    "ProblemsView",
    "ProcessesView",
    "View",
    "build_views",
    "namespace_key",
    "note",
]


def build_views(lookup: Lookup) -> dict[str, View]:
    return {cls.name: cls(lookup) for cls in VIEW_CLASSES}
