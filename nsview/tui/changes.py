"""``c`` with ``--diff``: every change since the base snapshot, in one list.

Rows that appeared or changed are marked in the views (``+``/``~``); this list
has those and what went (``-``), which no view can show. ``enter`` on one that
is still there jumps to its row.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from nsview.analyze.diff import SIGNS, Change, SnapshotDiff
from nsview.analyze.diff_marks import ref_of
from nsview.analyze.lookup import Lookup
from nsview.analyze.refs import NamespaceRef
from nsview.analyze.relations import Relation

SIGN_STYLES = {"+": "green", "-": "red", "~": "yellow"}


def change_text(change: Change) -> Text:
    sign = SIGNS[change.op]
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{sign} ", style=f"bold {SIGN_STYLES[sign]}")
    where = change.scope.label if change.scope is not None and change.section != "namespace" else ""
    line.append(f"{change.section:10} ", style="dim")
    line.append(change.key)
    if where:
        line.append(f"  in {where}", style="dim")
    if change.op == "changed" and change.fields:
        line.append("  " + ", ".join(change.fields), style="italic")
    return line


def view_of(ref) -> str:
    if isinstance(ref, NamespaceRef):
        return "network" if ref.type == "net" else "namespaces"
    return "network"


class ChangesScreen(ModalScreen[Relation | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,c", "close", "Close", show=True)]

    def __init__(self, diff: SnapshotDiff, lookup: Lookup | None) -> None:
        super().__init__()
        self.diff = diff
        self.lookup = lookup
        self.targets: dict[str, Relation] = {}

    def compose(self) -> ComposeResult:
        count = len(self.diff.changes)
        title = Text(
            f"{count} change{'s' if count != 1 else ''}: "
            f"{self.diff.a.origin} → {self.diff.b.origin}",
            style="bold underline",
        )
        options = []
        for i, change in enumerate(self.diff.changes):
            ref = ref_of(change, self.lookup) if self.lookup is not None else None
            option_id = f"c{i}"
            if ref is not None:
                self.targets[option_id] = Relation(change.key, ref, view_of(ref))
            options.append(Option(change_text(change), id=option_id, disabled=ref is None))
        if not options:
            options.append(Option(Text("no changes", style="dim"), disabled=True))
        with Vertical(id="changes-box"):
            yield Static(title)
            for note in self.diff.notes:
                yield Static(Text(note, style="italic"))
            yield OptionList(*options, id="changes-list")
            yield Static(
                Text("enter jumps to the row · removed ones (-) are only listed", style="dim")
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.targets.get(event.option.id or ""))

    def action_close(self) -> None:
        self.dismiss(None)
