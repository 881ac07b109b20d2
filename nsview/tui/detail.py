"""The detail pane: every field the snapshot has for the selected row, and its relations."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from nsview.analyze.details import Detail
from nsview.analyze.relations import Relation


class DetailPane(Vertical):
    """Fields on top; below, the related rows as a list to jump to (enter or click)."""

    class JumpRequested(Message):
        def __init__(self, relation: Relation) -> None:
            super().__init__()
            self.relation = relation

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.relations: list[Relation] = []
        self.detail: Detail | None = None

    def compose(self) -> ComposeResult:
        # The related list comes first so that tab reaches it first; CSS docks it at the bottom.
        with Vertical(id="related"):
            yield Label("related", id="relations-title")
            yield OptionList(id="relations")
        with VerticalScroll(id="detail-scroll"):
            yield Static(id="detail-title")
            yield Static(id="detail-body")

    def on_mount(self) -> None:
        # Tab goes from the tree to the related list; the fields scroll with the mouse.
        self.query_one("#detail-scroll", VerticalScroll).can_focus = False

    def show(self, detail: Detail, relations: list[Relation]) -> None:
        self.detail = detail
        self.relations = relations
        self.query_one("#detail-title", Static).update(Text(detail.title, style="bold"))
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(style="dim", no_wrap=True, max_width=16, overflow="ellipsis")
        table.add_column(overflow="fold", ratio=1)
        for key, value in detail.rows:
            table.add_row(Text(key), Text(value))
        self.query_one("#detail-body", Static).update(table)
        options = self.query_one("#relations", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        for i, rel in enumerate(relations):
            key = "g " if i == 0 else "  "
            options.add_option(Option(Text.assemble((key, "bold"), f"→ {rel.text}"), id=str(i)))
        if relations:
            # The first is what g jumps to; keep the user's place if the list is the same length.
            same = highlighted is not None and options.option_count == len(relations)
            options.highlighted = min(highlighted, len(relations) - 1) if same else 0
        title = self.query_one("#relations-title", Label)
        title.update(
            f"related ({len(relations)}) · g: first · tab, enter: any"
            if relations
            else "related: nothing"
        )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        index = int(event.option.id or 0)
        if 0 <= index < len(self.relations):
            self.post_message(self.JumpRequested(self.relations[index]))
