"""The Problems view: doctor's findings, worst first; under each, what it is about
(rows that jump to the namespace, interface or rule), the facts seen and the fix."""

from __future__ import annotations

import hashlib

from nsview.analyze.findings import subject_ref, subject_text
from nsview.analyze.labels import (
    finding_label,
    interface_label,
    namespace_label,
    nat_rule_label,
    netns_row_label,
    process_label,
)
from nsview.analyze.refs import (
    FindingRef,
    InterfaceRef,
    NamespaceRef,
    NatRuleRef,
    ProcessRef,
    Ref,
    resolve,
)
from nsview.analyze.views.base import Item, Path, View, note


def finding_key(finding) -> str:
    """Stable across refreshes while the same problem persists (index and pids change)."""
    about = "|".join(f"{s.netns}:{s.interface}:{s.rule}:{s.container}:{s.namespace}:{s.pid}"
                     for s in finding.subjects)
    return "f:" + finding.check + ":" + hashlib.sha1(about.encode()).hexdigest()[:12]


class ProblemsView(View):
    """Doctor's findings → their subjects, evidence and fix."""

    name = "problems"
    title = "Problems"

    def roots(self) -> list[Item]:
        findings = self.lookup.findings
        if not findings:
            return [note("none", "no problems found (nsview doctor: docs/doctor.md)")]
        items, seen = [], set()
        for index, f in enumerate(findings):
            key = finding_key(f)
            while key in seen:
                key += "+"
            seen.add(key)
            netns = next((s.netns for s in f.subjects if s.netns is not None), None)
            items.append(Item(key, FindingRef(index, netns), finding_label(f), True))
        return items

    def _build_children(self, item: Item) -> list[Item]:
        match item.ref:
            case FindingRef(index=index):
                return self._finding_children(index)
        return []

    def _subject_item(self, n: int, subject) -> Item:
        lk = self.lookup
        ref = subject_ref(lk, subject)
        match ref:
            case InterfaceRef(netns=netns):
                label = interface_label(netns, resolve(lk, ref), lk, nested=False)
            case NatRuleRef():
                label = nat_rule_label(resolve(lk, ref))
            case NamespaceRef(type="net", inode=inode):
                label = netns_row_label(lk.namespace("net", inode), lk)
            case NamespaceRef(type=kind, inode=inode):
                label = namespace_label(lk.namespace(kind, inode), lk)
            case ProcessRef(pid=pid):
                label = process_label(lk.process(pid), lk)
            case _:
                return note(f"s{n}", subject_text(lk, subject))
        return Item(f"s{n}", ref, label)

    def _finding_children(self, index: int) -> list[Item]:
        findings = self.lookup.findings
        if not 0 <= index < len(findings):
            return []
        f = findings[index]
        out = [self._subject_item(n, s) for n, s in enumerate(f.subjects)]
        out += [note(f"e{n}", f"seen: {fact}") for n, fact in enumerate(f.evidence)]
        if f.fix:
            out.append(note("fix", f"fix (not run): {f.fix}", "label"))
        return out

    def locate(self, ref: Ref) -> Path | None:
        if isinstance(ref, FindingRef):
            for item in self.roots():
                if item.ref == ref:
                    return (item.key,)
        return None
