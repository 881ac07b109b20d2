"""The Processes view: the process tree; under each process its namespaces, marked where
not shared with the parent."""

from __future__ import annotations

from nsview.analyze.labels import LabelBuilder, ns_title, process_label
from nsview.analyze.refs import GroupRef, NamespaceRef, ProcessRef, Ref
from nsview.analyze.views.base import Item, Path, View, note
from nsview.model import NS_TYPES


class ProcessesView(View):
    """The process tree; under each process its namespaces, marked where not shared."""

    name = "processes"
    title = "Processes"

    def roots(self) -> list[Item]:
        return [self._proc_item(pid) for pid in sorted(self.lookup.children.get(0, []))]

    def _proc_item(self, pid: int) -> Item:
        proc = self.lookup.processes[pid]
        return Item(f"p:{pid}", ProcessRef(pid), process_label(proc, self.lookup), True)

    def _build_children(self, item: Item) -> list[Item]:
        match item.ref:
            case ProcessRef(pid=pid):
                return self._proc_children(pid)
            case GroupRef(what="procns", of=ProcessRef(pid=pid)):
                return self._proc_namespaces(pid)
        return []

    def _proc_children(self, pid: int) -> list[Item]:
        proc = self.lookup.process(pid)
        if proc is None:
            return []
        unshared = self.lookup.unshared(proc)
        b = LabelBuilder().add("namespaces", "group")
        parent = self.lookup.parent_of(proc)
        if parent is None:
            b.add("(parent not seen)", "muted")
        elif not any(t in parent.ns for t in proc.ns):
            b.add("(the parent's are not readable: nothing to compare)", "muted")
        elif unshared:
            b.add(f"{len(unshared)} not shared with parent: {' '.join(unshared)}", "unshared")
        else:
            b.add("all shared with parent", "muted")
        out = [Item("ns", GroupRef("procns", of=ProcessRef(pid)), b.build(), True)]
        kids = sorted(k for k in self.lookup.children.get(pid, []) if k != pid)
        out += [self._proc_item(k) for k in kids]
        return out

    def _proc_namespaces(self, pid: int) -> list[Item]:
        lk = self.lookup
        proc = lk.process(pid)
        if proc is None:
            return []
        parent = lk.parent_of(proc)
        out = []
        for t in NS_TYPES:
            inode = proc.ns.get(t)
            if inode is None:
                out.append(note(f"ns:{t}", f"{t}: not readable", "muted"))
                continue
            b = LabelBuilder().add(t, f"ns-{t}").tight(f":[{inode}]", "muted")
            ns = lk.namespace(t, inode)
            b.add(ns_title(ns, lk) if ns else "", "label")
            if parent is not None and t in parent.ns and parent.ns[t] != inode:
                b.add("≠ parent", "unshared")
            out.append(Item(f"ns:{t}", NamespaceRef(t, inode), b.build()))
        for t, inode in sorted(proc.ns_for_children.items()):
            b = LabelBuilder().add(f"{t} for children", f"ns-{t}").tight(f":[{inode}]", "muted")
            b.add("its next children start here", "muted")
            out.append(Item(f"nsfc:{t}", NamespaceRef(t, inode), b.build()))
        return out

    def locate(self, ref: Ref) -> Path | None:
        match ref:
            case ProcessRef(pid=pid) if pid in self.lookup.processes:
                return tuple(f"p:{p}" for p in self.lookup.ancestors(pid))
        return None
