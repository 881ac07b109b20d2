"""``p``: the traffic paths of the row under the cursor, one line per hop.

Every hop is a jump target: enter (or a click) closes the list and goes to the
row the hop comes from (the DNAT rule, the route, the veth, the process). The
traces themselves are pure analysis (``nsview.analyze.paths.jumps``).
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

from nsview.analyze.lookup import Lookup
from nsview.analyze.paths.jumps import hop_relation
from nsview.analyze.paths.result import Trace
from nsview.analyze.relations import Relation

VERDICT_STYLE = {
    "reaches": "bold green",
    "no-listener": "bold yellow",
    "blocked": "bold red",
    "unknown": "bold magenta",
}


class PathScreen(ModalScreen[Relation | None]):
    """The paths of one or more traces; dismissed with the Relation of the hop picked."""

    DEFAULT_CSS = """
    PathScreen { align: center middle; background: $background 60%; }
    #path-box {
        width: 90%; max-width: 140; height: 85%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    #path-title { text-style: bold; }
    #path-list { height: 1fr; border: none; background: $surface; }
    #path-hint { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,p", "close", "Close", show=True),
    ]

    def __init__(self, title: str, traces: list[Trace], lookup: Lookup) -> None:
        super().__init__()
        self.title_text = title
        self.traces = traces
        self.lookup = lookup
        self.jumps: dict[str, Relation] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="path-box"):
            yield Static(self.title_text, id="path-title")
            yield OptionList(*self._options(), id="path-list")
            yield Static("enter: go to the hop's row · escape: close", id="path-hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        first = next((i for i in range(options.option_count)
                      if not options.get_option_at_index(i).disabled), None)
        if first is not None:
            options.highlighted = first

    def _options(self) -> list[Option]:
        out: list[Option] = []
        for t, trace in enumerate(self.traces):
            out.append(Option(Text(f"trace {trace.question}", style="bold underline"),
                              disabled=True))
            for note in trace.notes:
                out.append(Option(Text(f"  note: {note}", style="dim"), disabled=True))
            if not trace.paths:
                out.append(Option(Text("  no path", style="dim"), disabled=True))
            for p, path in enumerate(trace.paths):
                head = Text("  ")
                head.append(f"{path.arrival}", style="bold")
                if path.probability is not None:
                    head.append(f" (p={path.probability:.2f})")
                head.append("  ")
                head.append(path.verdict.upper(), style=VERDICT_STYLE.get(path.verdict, "bold"))
                head.append(f"  {path.summary}")
                out.append(Option(head, disabled=True))
                for h, hop in enumerate(path.hops):
                    where = self.lookup_label(hop.netns)
                    line = Text(f"    {h + 1:>2} ")
                    line.append(f"{hop.kind:<8}", style="bold")
                    line.append(f" [{where}] ", style="dim")
                    line.append(hop.description)
                    if hop.evidence:
                        line.append(f"\n               {hop.evidence}", style="dim")
                    key = f"hop-{t}-{p}-{h}"
                    rel = hop_relation(self.lookup, hop)
                    if rel is not None:
                        self.jumps[key] = rel
                    out.append(Option(line, id=key))
        return out

    def lookup_label(self, inode: int | None) -> str:
        from nsview.analyze.labels import netns_label

        return netns_label(self.lookup, inode) if inode is not None else "-"

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        rel = self.jumps.get(event.option.id or "")
        if rel is None:
            self.app.notify("this hop points at nothing nsview lists", timeout=3)
            return
        self.dismiss(rel)

    def action_close(self) -> None:
        self.dismiss(None)


def open_paths(app) -> None:
    """The ``p`` action: trace what the selected row asks for and show the paths."""
    from nsview.analyze.paths.jumps import traces_for

    ref = app.selected_ref()
    lookup = app.lookup
    traces = traces_for(lookup, ref) if lookup is not None else []
    if not traces:
        app.say("no path to trace from here (try a DNAT rule, a container, a process or "
                "a network namespace)", timeout=4)
        return

    def done(rel: Relation | None) -> None:
        if rel is not None:
            app.jump_to(rel)

    title = "paths: " + "; ".join(t.question for t in traces[:3]) + (
        " …" if len(traces) > 3 else "")
    app.push_screen(PathScreen(title, traces, lookup), done)
