"""The Namespaces view: type → namespace → holders and processes; the pid and user hierarchies."""

from __future__ import annotations

from nsview.analyze.labels import (
    diagnostic_label,
    diagnostics_label,
    group_label,
    hierarchy_label,
    holder_label,
    holder_summary,
    namespace_label,
    ns_type_label,
    plural,
)
from nsview.analyze.refs import (
    DiagnosticRef,
    GroupRef,
    HolderRef,
    NamespaceRef,
    Ref,
)
from nsview.analyze.views.base import Item, Path, View, namespace_key
from nsview.model import NS_TYPES, Namespace

HIER = "hier"  # Item.branch of a namespace row inside a hierarchy


class NamespacesView(View):
    """type → namespace → holders and processes; plus the pid and user hierarchies."""

    name = "namespaces"
    title = "Namespaces"

    def roots(self) -> list[Item]:
        lk = self.lookup
        out = []
        for t in NS_TYPES:
            items = lk.by_type.get(t, [])
            if items:
                ref = GroupRef("type", ns_type=t)
                out.append(Item(f"type:{t}", ref, ns_type_label(t, len(items)), True))
        for t in ("pid", "user"):
            if lk.by_type.get(t):
                out.append(Item(f"hier:{t}", GroupRef("hier", ns_type=t), hierarchy_label(t), True))
        diags = lk.snapshot.diagnostics
        if diags:
            out.append(Item("diags", GroupRef("diags"), diagnostics_label(len(diags)), True))
        return out

    def _build_children(self, item: Item) -> list[Item]:
        lk = self.lookup
        match item.ref:
            case GroupRef(what="type", ns_type=t):
                return [self._ns_item(ns) for ns in lk.by_type.get(t, [])]
            case GroupRef(what="hier", ns_type=t):
                return [self._ns_item(ns, hier=True) for ns in lk.hierarchy_roots(t)]
            case GroupRef(what="diags"):
                return [
                    Item(f"d:{i}", DiagnosticRef(i), diagnostic_label(d))
                    for i, d in enumerate(lk.snapshot.diagnostics)
                ]
            case GroupRef(what="kthreads", of=NamespaceRef(type=t, inode=inode)):
                ns = lk.namespace(t, inode)
                return (
                    self._process_items([p for p in ns.pids if self._is_kthread(p)]) if ns else []
                )
            case NamespaceRef(type=t, inode=inode):
                ns = lk.namespace(t, inode)
                if ns is None:
                    return []
                members = self._members(ns)
                if item.branch != HIER:
                    return members
                kids = lk.ns_children.get((t, inode), [])
                return [self._ns_item(c, hier=True) for c in kids] + members
        return []

    def _ns_item(self, ns: Namespace, hier: bool = False) -> Item:
        label = namespace_label(ns, self.lookup)
        if hier:
            kids = self.lookup.ns_children.get((ns.type, ns.inode), [])
            if kids:
                label = (*label, ("  ", ""), (plural(len(kids), "child", "children"), "count"))
        expandable = bool(ns.pids or holder_summary(ns)) or hier
        ref = NamespaceRef(ns.type, ns.inode)
        return Item(namespace_key(ns), ref, label, expandable, HIER if hier else "")

    def _members(self, ns: Namespace) -> list[Item]:
        # The host's lowest pids are ~100 kernel threads: the processes people
        # run come first, the kernel threads folded into one row after them.
        kernel = [pid for pid in ns.pids if self._is_kthread(pid)]
        items = [
            Item(f"h:{i}", HolderRef(ns.type, ns.inode, i), holder_label(h, self.lookup))
            for i, h in enumerate(ns.holders)
            if h.kind != "process"
        ]
        items += self._process_items([pid for pid in ns.pids if not self._is_kthread(pid)])
        if kernel:
            ref = GroupRef("kthreads", of=NamespaceRef(ns.type, ns.inode))
            items.append(Item("kthreads", ref, group_label("kernel threads", len(kernel)), True))
        return items

    def _is_kthread(self, pid: int) -> bool:
        proc = self.lookup.process(pid)
        return proc is not None and proc.kthread

    def locate(self, ref: Ref) -> Path | None:
        lk = self.lookup
        match ref:
            case NamespaceRef(type=t, inode=inode):
                ns = lk.namespace(t, inode)
                return (f"type:{t}", namespace_key(ns)) if ns else None
            case HolderRef(type=t, inode=inode, index=i):
                ns = lk.namespace(t, inode)
                return (f"type:{t}", namespace_key(ns), f"h:{i}") if ns else None
            case DiagnosticRef(index=i):
                return ("diags", f"d:{i}")
        return None
