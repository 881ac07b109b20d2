"""The nsview TUI: three trees over one snapshot, a detail pane, a filter, auto-refresh.

Adding an action is a small edit: append a ``Binding`` to ``BINDINGS`` here
or in a base class (with a description and a tooltip: the footer, the ``?``
screen and the command palette all read them, from every class of the app)
and write ``action_<name>``; ``selected_target()`` gives the process or
namespace under the cursor, ``push_screen`` shows a modal (auto-refresh
pauses while one is open) and ``refresh_now()`` re-reads the system
afterwards. The join/create/delete keys (x, n, d) come that way from
``nsview.tui.actions_mixin.NamespaceActions``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.actions import SkipAction
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import var
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Footer, Input, Static, Tab, Tabs
from textual.worker import get_current_worker

from nsview.analyze.details import details
from nsview.analyze.labels import plural
from nsview.analyze.lookup import Lookup
from nsview.analyze.overlay import match_overlays, tunnel_relations
from nsview.analyze.refs import GroupRef, InterfaceRef, Ref, resolve
from nsview.analyze.relations import Relation, relations
from nsview.analyze.search import Filtered, Query, filter_view, parse_query
from nsview.analyze.views import VIEW_CLASSES, View, build_views
from nsview.errors import Cancelled
from nsview.model import Namespace, Process, Snapshot
from nsview.tui.actions_mixin import NamespaceActions
from nsview.tui.conntrack import ConntrackReader, attach_tables, netns_of
from nsview.tui.detail import DetailPane
from nsview.tui.factory import Fetch, SnapshotSource
from nsview.tui.screens import HelpScreen
from nsview.tui.themes import (
    DEFAULT_THEME,
    ThemeSet,
    resolve_references,
    theme_variable_defaults,
)
from nsview.tui.tree import NsTree

FILTER_DELAY = 0.15  # seconds of quiet typing before the filter runs


def warm_lookup(snapshot: Snapshot) -> Lookup:
    """A Lookup with its indexes already built (they are cached properties)."""
    lookup = Lookup(snapshot)
    for name in ("namespaces", "processes", "children", "by_type", "ns_children", "interfaces",
                 "findings"):
        getattr(lookup, name)
    return lookup


class NsviewCommands(Provider):
    """The command palette: every action of the app, by name."""

    async def discover(self) -> Hits:
        app = self.app
        assert isinstance(app, NsviewApp)
        for key, title, help_text, action in app.action_list():
            yield DiscoveryHit(f"{title} ({key})", partial(app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, NsviewApp)
        matcher = self.matcher(query)
        for key, title, help_text, action in app.action_list():
            text = f"{title} ({key})"
            score = matcher.match(text)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(text), partial(app.run_action, action), help=help_text
                )


class NsviewApp(NamespaceActions):  # x / n / d: nsview/tui/actions_mixin.py
    CSS_PATH = "nsview.tcss"
    TITLE = "nsview"
    COMMANDS = App.COMMANDS | {NsviewCommands}
    COMMAND_PALETTE_BINDING = "ctrl+p"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "question_mark",
            "help",
            "Help",
            key_display="?",
            id="help",
            tooltip="every key, and what it does",
        ),
        Binding(
            "slash",
            "filter",
            "Filter",
            key_display="/",
            id="filter",
            tooltip="show only rows matching a name, pid, inode, IP, interface or comm",
            priority=True,
        ),
        Binding(
            "escape",
            "clear_filter",
            "Clear filter",
            show=False,
            id="clear_filter",
            tooltip="drop the filter and show everything",
            priority=True,
        ),
        Binding(
            "g",
            "jump",
            "Jump",
            id="jump",
            tooltip="go to the related row: veth peer, bridge, namespace, process…",
            priority=True,
        ),
        Binding(
            "p",
            "trace_path",
            "Path",
            show=False,  # the footer is full at 80 columns; ? and the palette list it
            id="path",
            tooltip="trace the traffic paths of this row (DNAT rule, container, process, "
            "netns); every hop jumps to its row",
        ),
        Binding(
            "C",
            "read_conntrack",
            "Conntrack",
            show=False,
            id="conntrack",
            tooltip="read this network namespace's conntrack table now (a refresh never "
            "does); sockets, DNAT rules and addresses then list their entries",
        ),
        Binding("r", "refresh", "Refresh", id="refresh", tooltip="read the system again now"),
        Binding(
            "H",
            "pick_host",
            "Hosts",
            show=False,
            id="hosts",
            tooltip="a fleet file: choose the host to show (with filter matches per host)",
        ),
        Binding("t", "cycle_theme", "Theme", id="theme", tooltip="next colour theme"),
        Binding(
            "c",
            "show_changes",
            "Changes",
            show=False,
            id="changes",
            tooltip="--diff: every change since the base snapshot, removed ones too; "
            "enter jumps to the row",
        ),
        Binding(
            "1",
            "show_view('namespaces')",
            "Namespaces",
            show=False,
            id="view_namespaces",
            tooltip="namespaces by type, and the pid/user hierarchies",
            priority=True,
        ),
        Binding(
            "2",
            "show_view('network')",
            "Network",
            show=False,
            id="view_network",
            tooltip="network namespaces: interfaces, routes, rules, NAT",
            priority=True,
        ),
        Binding(
            "3",
            "show_view('processes')",
            "Processes",
            show=False,
            id="view_processes",
            tooltip="the process tree and the namespaces of each process",
            priority=True,
        ),
        Binding(
            "4",
            "show_view('containers')",
            "Containers",
            show=False,
            id="view_containers",
            tooltip="containers by engine and pod: their namespaces, interfaces, networks, ports",
            priority=True,
        ),
        Binding(
            "5",
            "show_view('problems')",
            "Problems",
            show=False,
            id="view_problems",
            tooltip="what nsview doctor finds wrong, each jumping (g) to what it is about",
            priority=True,
        ),
        Binding("q", "quit", "Quit", id="quit", tooltip="leave nsview"),
        Binding(
            "enter",
            "filter_done",
            "Keep filter",
            show=False,
            priority=True,
            id="filter_done",
            tooltip="in the filter box: keep the filter and go back to the tree",
        ),
    ]
    # Keys that move the focus are priority bindings: handled as soon as they are
    # read, so keys typed right after them reach the new focus (with ordinary
    # bindings textual may hand them to the old one first). Each of those actions
    # steps aside (SkipAction) where the key is text: in the filter box, in a dialog.

    # Tree actions listed in the help screen and the palette (the tree owns the keys).
    TREE_ACTIONS = (
        ("enter/l", "Expand", "open the row under the cursor", "expand_node"),
        ("h", "Collapse", "close the row, or go to its parent", "collapse_node"),
    )

    # The state the screen follows: setting one of these updates what shows it
    # (the trees, the status line, the detail pane) in its watch_ method.
    lookup: var[Lookup | None] = var(None, init=False)  # the snapshot shown, indexed
    current_view: var[str] = var("namespaces", init=False)
    filter_query: var[Query | None] = var(None, init=False)
    collecting: var[bool] = var(False, init=False)  # a collection is under way

    class SnapshotReady(Message):
        def __init__(self, snapshot: Snapshot, seq: int, lookup: Lookup | None = None) -> None:
            super().__init__()
            self.snapshot = snapshot
            self.seq = seq
            self.lookup = lookup  # built off the event loop

    class CollectFailed(Message):
        def __init__(self, error: str, seq: int) -> None:
            super().__init__()
            self.error = error
            self.seq = seq

    def __init__(
        self,
        *,
        source: SnapshotSource,
        interval: float = 0.0,
        themes: ThemeSet | None = None,
        theme: str | None = None,
        startup_messages: Iterable[str] = (),
    ) -> None:
        """Build it with ``nsview.tui.factory.make_app``."""
        super().__init__()
        self.feed = source  # where snapshots come from: live, a file, or given
        self.interval = interval
        self.theme_set = themes or ThemeSet()
        for t in self.theme_set.themes.values():
            self.register_theme(t)
        wanted = theme or DEFAULT_THEME
        if wanted not in self.available_themes:
            wanted = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
        self.theme = wanted
        self.startup_messages = list(startup_messages)
        self.views: dict[str, View] = {}
        self.filtered: dict[str, Filtered] = {}
        self.collections = 0  # snapshots applied
        self._seq = itertools.count(1)
        self._latest_seq = 0
        self._timer: Timer | None = None
        self._filter_timer: Timer | None = None
        self._stale: set[str] = set()
        self.notices: list[tuple[str, str]] = []  # (severity, message), oldest first
        self.diff = None  # --diff: the SnapshotDiff of the shown snapshot against the base
        # A fleet file: the host shown (its target) and the fleet's matched overlays.
        self.host_target: str | None = None
        self._overlays = None
        if source.fleet is not None:
            ok = source.fleet.ok_hosts()
            self.host_target = ok[0].target if ok else None
        self.conntrack = ConntrackReader(self)  # C, and opening a conntrack row: one netns

    # -- theme variables --------------------------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults()

    def get_css_variables(self) -> dict[str, str]:
        variables = resolve_references(super().get_css_variables())
        self.theme_variables = variables
        return variables

    # -- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield Input(
            placeholder="filter: name, pid, inode, IP, interface, comm (escape clears)",
            id="filter",
        )
        yield Tabs(
            *(
                Tab(f"{i}·{cls.title}", id=f"tab-{cls.name}")
                for i, cls in enumerate(VIEW_CLASSES, 1)
            ),
            id="tabs",
        )
        with Horizontal(id="main"):
            with ContentSwitcher(initial=f"tree-{self.current_view}", id="trees"):
                for cls in VIEW_CLASSES:
                    yield NsTree(cls.name, id=f"tree-{cls.name}")
            yield DetailPane(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#tabs", Tabs).can_focus = False  # a click switches, the tree keeps focus
        filter_input = self.query_one("#filter", Input)
        filter_input.cursor_blink = False
        filter_input.display = False
        for message in self.startup_messages:
            self.say(message, severity="warning", timeout=15)
        self.tree().focus()
        if self.feed.initial is not None:
            self.apply_snapshot(self.feed.initial)
            self._schedule_next()
        elif self.fetch is not None:
            self.refresh_now()
        self._update_status()

    # -- helpers ----------------------------------------------------------------------

    @property
    def fetch(self) -> Fetch | None:
        """What a refresh calls: the live collector, the file reader, or nothing."""
        return self.feed.fetch

    @property
    def source(self) -> Fetch | None:
        """The live collector; None when the snapshot came from a file or was given."""
        return self.feed.fetch if self.feed.live else None

    @property
    def origin(self) -> str:
        return self.feed.origin

    @property
    def snapshot(self) -> Snapshot | None:
        return self.lookup.snapshot if self.lookup is not None else None

    def say(self, message: str, *, severity: str = "information", **kwargs) -> None:
        """A notification (plain text, never markup); kept in ``notices`` as well."""
        self.notices.append((severity, message))
        self.notify(message, severity=severity, markup=False, **kwargs)  # type: ignore[arg-type]

    def _typing(self) -> bool:
        """True where keys are text, not commands: the filter box, a dialog."""
        return isinstance(self.screen, ModalScreen) or isinstance(self.focused, Input)

    def _not_while_typing(self) -> None:
        if self._typing():
            raise SkipAction()

    def focus_now(self, widget) -> None:
        """Focus ``widget`` before the next key is read (``focus()`` waits a turn, and
        keys typed quickly after ``/`` or ``2`` would land in the old widget)."""
        self.screen.set_focus(widget)

    def tree(self, view: str | None = None) -> NsTree:
        return self.query_one(f"#tree-{view or self.current_view}", NsTree)

    def selected_ref(self) -> Ref | None:
        item = self.tree().cursor_item()
        return item.ref if item is not None else None

    def selected_target(self) -> Process | Namespace | None:
        """The process or namespace under the cursor, for actions (join, delete…).

        A row about an interface, route, rule or NAT entry gives its network
        namespace; a holder its namespace; a "namespaces" group its process.
        """
        ref = self.selected_ref()
        if ref is None or self.lookup is None:
            return None
        return resolve(self.lookup, ref.subject)

    def selected_relations(self) -> list[Relation]:
        ref = self.selected_ref()
        if ref is None or self.lookup is None:
            return []
        found = relations(self.lookup, ref, self.current_view)
        if self.feed.fleet is not None and isinstance(ref, InterfaceRef):
            found += tunnel_relations(self.overlays(), self.host_target, ref.netns, ref.ifindex)
        return found

    # -- a fleet: one host at a time ------------------------------------------------

    def overlays(self):
        if self._overlays is None:
            self._overlays = match_overlays(self.feed.fleet)
        return self._overlays

    def action_pick_host(self) -> None:
        self._not_while_typing()
        if self.feed.fleet is None:
            self.say("one host only: open a fleet file (nsview fleet collect) for more",
                     timeout=3)
            return
        from nsview.tui.hosts import HostsScreen

        def chosen(target: str | None) -> None:
            if target is not None:
                self.show_host(target)

        self.push_screen(HostsScreen(self.feed.fleet, self.host_target or "",
                                     self.filter_query), chosen)

    def show_host(self, target: str) -> bool:
        """Show the fleet host ``target`` in every view (the filter stays)."""
        for host in self.feed.fleet.hosts if self.feed.fleet is not None else ():
            if host.target == target and host.snapshot is not None:
                self.host_target = target
                self.apply_snapshot(host.snapshot)
                return True
        self.say(f"host {target} has no snapshot in this fleet", severity="warning", timeout=4)
        return False

    def action_list(self) -> list[tuple[str, str, str, str]]:
        """(key, title, help, action) of every action, from the bindings."""
        out = []
        seen = set()
        for cls in type(self).__mro__:
            for binding in cls.__dict__.get("BINDINGS", []):
                if not isinstance(binding, Binding) or binding.action in seen or binding.system:
                    continue
                seen.add(binding.action)
                key = binding.key_display or binding.key
                out.append(
                    (key, binding.description or binding.action, binding.tooltip, binding.action)
                )
        for key, title, help_text, action in self.TREE_ACTIONS:
            out.append((key, title, help_text, action))
        return out

    # -- snapshot ---------------------------------------------------------------------

    def apply_snapshot(self, snapshot: Snapshot, lookup: Lookup | None = None) -> None:
        if lookup is None or lookup.snapshot is not snapshot:
            lookup = Lookup(snapshot)
        self.lookup = lookup

    def watch_lookup(self, lookup: Lookup | None) -> None:
        if lookup is None:
            return
        self.views = build_views(lookup)
        self.filtered = {}
        self.collections += 1
        self._mark_changes(lookup)
        if self.collections == 1:
            procs = self.tree("processes")
            procs.expanded = {(f"p:{pid}",) for pid in lookup.children.get(0, [])}
        self._stale = set(self.views)
        with self.batch_update():
            self._show_tree(self.current_view)
        self._update_detail()
        self._update_status()

    def _mark_changes(self, lookup: Lookup) -> None:
        """--diff: compare the new snapshot with the base and mark its changed rows."""
        if self.feed.diff_base is None:
            return
        from nsview.analyze.diff import diff_snapshots
        from nsview.analyze.diff_marks import marks

        self.diff = diff_snapshots(self.feed.diff_base, lookup.snapshot,
                                   a_origin=self.feed.diff_origin, b_origin=self.feed.origin)
        found = marks(self.diff, lookup)
        for cls in VIEW_CLASSES:
            self.tree(cls.name).marks = found

    def action_show_changes(self) -> None:
        self._not_while_typing()
        if self.diff is None:
            self.say("no diff: open two snapshots with --load A.json --diff B.json", timeout=3)
            return
        from nsview.tui.changes import ChangesScreen

        def chosen(rel: Relation | None) -> None:
            if rel is not None:
                self.jump_to(rel)

        self.push_screen(ChangesScreen(self.diff, self.lookup), chosen)

    def _filtered_for(self, name: str) -> Filtered | None:
        if self.filter_query is None:
            return None
        found = self.filtered.get(name)
        if found is None:
            found = self.filtered[name] = filter_view(self.views[name], self.filter_query)
        return found

    def _show_tree(self, name: str) -> None:
        if name not in self.views:
            return
        self.tree(name).show(self.views[name], self._filtered_for(name))
        self._stale.discard(name)

    # -- refresh ----------------------------------------------------------------------

    def refresh_now(self) -> None:
        """Collect again now (in a thread); the next automatic refresh follows it."""
        if self.fetch is None:
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        seq = next(self._seq)
        self._latest_seq = seq
        self.collecting = True
        self._collect(seq)

    @work(thread=True, exclusive=True, group="collect", exit_on_error=False)
    def _collect(self, seq: int) -> None:
        worker = get_current_worker()
        source = self.fetch
        assert source is not None
        try:
            snapshot = source(lambda: worker.is_cancelled)
            shown = self.lookup
            if shown is not None and shown.snapshot is snapshot:
                lookup = shown  # nothing changed (collect/incremental.py): same indexes
            else:
                lookup = warm_lookup(snapshot)  # the indexes, built here, off the event loop
        except Cancelled:
            return
        except Exception as exc:
            if not worker.is_cancelled:
                self.post_message(self.CollectFailed(f"{type(exc).__name__}: {exc}", seq))
            return
        if not worker.is_cancelled:
            self.post_message(self.SnapshotReady(snapshot, seq, lookup))

    def on_nsview_app_snapshot_ready(self, message: SnapshotReady) -> None:
        if message.seq != self._latest_seq or not self.is_running:
            return  # overtaken by a newer request
        self.collecting = False
        try:
            if self.lookup is not None and message.lookup is self.lookup:
                self._update_status()  # the same snapshot, only newer: nothing to rebuild
            else:
                attach_tables(message.snapshot, self.conntrack.tables)  # read on C, kept
                self.apply_snapshot(message.snapshot, message.lookup)
        except Exception as exc:
            self.log.error(f"applying snapshot failed: {exc!r}")
            self.say(f"could not show the new snapshot: {exc}", severity="error", timeout=10)
        if self.feed.more is not None and self.feed.more():
            self.refresh_now()  # that was a quick first look: the full collection follows
        else:
            self._schedule_next()

    def on_nsview_app_collect_failed(self, message: CollectFailed) -> None:
        if message.seq != self._latest_seq or not self.is_running:
            return
        self.collecting = False
        self.say(
            f"collection failed: {message.error}", title="refresh", severity="error", timeout=10
        )
        self._schedule_next()

    def _schedule_next(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = None
        if self.interval > 0 and self.fetch is not None:
            self._timer = self.set_timer(self.interval, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if not self.is_running or not self.screen_stack:
            return  # shutting down
        if isinstance(self.screen, ModalScreen):
            self._schedule_next()  # a dialog is open: poll later, not under it
            return
        self.refresh_now()

    # -- status and detail ------------------------------------------------------------

    def watch_collecting(self, collecting: bool) -> None:
        self._update_status()

    def _update_status(self) -> None:
        """One line, most important first: host, counts, the filter, then when and how."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" nsview ", style="bold reverse")
        snap = self.snapshot
        if snap is None:
            text.append("  collecting…" if self.collecting else "  no snapshot")
        else:
            fleet = self.feed.fleet
            if fleet is not None:
                order = [h.target for h in fleet.hosts]
                at = order.index(self.host_target) + 1 if self.host_target in order else 0
                text.append(f"  host {at}/{len(order)} ", style="bold reverse")
            text.append(f"  {snap.host.hostname or '?'}", style="bold")
            text.append(f"  {len(snap.namespaces)} ns · {len(snap.processes)} procs")
            denied = sum(1 for d in snap.diagnostics if d.kind != "gone")
            if denied:
                text.append(f"  ⚠ {denied} unseen", style="bold")
            problems = self.lookup.problems if self.lookup is not None else 0
            if problems:
                text.append(f"  {plural(problems, 'problem')} (5)", style="bold")
        if self.filter_query is not None:
            found = self.filtered.get(self.current_view)
            count = len(found.matches) if found else 0
            text.append(f"  filter “{self.filter_query.text}”: {count} here", style="bold")
        if snap is not None:
            text.append(f"  {snap.collected_at.replace('T', ' ')}", style="dim")
        if self.diff is not None:
            count = len(self.diff.changes)
            text.append(f"  {count} change{'s' if count != 1 else ''} since "
                        f"{self.feed.diff_origin} (c)", style="bold")
        if self.feed.origin:
            kind = "fleet" if self.feed.fleet is not None else "file"
            text.append(f"  {kind} {self.feed.origin}", style="dim")
            if self.feed.fleet is not None:
                text.append("  H: hosts", style="dim")
        if self.collecting and snap is not None:
            text.append("  refreshing…", style="italic")
        elif self.fetch is not None and self.interval > 0:
            text.append(f"  every {self.interval:g}s", style="dim")
        self.query_one("#status", Static).update(text)

    def _update_detail(self) -> None:
        pane = self.query_one(DetailPane)
        ref = self.selected_ref()
        if self.lookup is None:
            return
        pane.show(details(self.lookup, ref), self.selected_relations())

    @on(NsTree.NodeHighlighted)
    def _highlighted(self, event: NsTree.NodeHighlighted) -> None:
        if event.control is self.tree():
            self._update_detail()

    @on(NsTree.NodeExpanded)
    def _expanded(self, event: NsTree.NodeExpanded) -> None:
        """Opening a netns's "conntrack" row that is not read yet reads it (live only)."""
        row = event.node.data
        ref = row.item.ref if row is not None and row.item is not None else None
        if isinstance(ref, GroupRef) and ref.what == "conntrack" and ref.of is not None:
            net = self.lookup.net(ref.of.inode) if self.lookup is not None else None
            if net is not None and net.conntrack is None and self.feed.live:
                self.conntrack.request(ref.of.inode, asked=False)

    # -- views ------------------------------------------------------------------------

    def action_show_view(self, name: str) -> None:
        self._not_while_typing()
        self.show_view(name)

    def show_view(self, name: str) -> None:
        """Switch to the Namespaces, Network, Processes or Containers view, the cursor in
        its tree."""
        if name not in {cls.name for cls in VIEW_CLASSES}:
            return
        self.current_view = name
        tree = self.tree()
        self.focus_now(tree)
        if tree.cursor_line < 0 and tree.root.children:
            tree.cursor_line = 0
            self._update_detail()

    def watch_current_view(self, name: str) -> None:
        self.query_one("#trees", ContentSwitcher).current = f"tree-{name}"
        tabs = self.query_one("#tabs", Tabs)
        if tabs.active != f"tab-{name}":
            tabs.active = f"tab-{name}"
        if name in self._stale:
            self._show_tree(name)
        self._update_detail()
        self._update_status()

    @on(Tabs.TabActivated, "#tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        # Only a message about the tab that is active now: an older one (the tab
        # shown at start, or one a key switched away from) must not switch back.
        if event.tab.id != event.tabs.active:
            return
        name = (event.tab.id or "").removeprefix("tab-")
        if name and name != self.current_view:
            self.show_view(name)

    # -- filter -----------------------------------------------------------------------

    def action_filter(self) -> None:
        self._not_while_typing()
        box = self.query_one("#filter", Input)
        box.display = True
        self.focus_now(box)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DELAY, partial(self.set_filter, event.value))

    def action_filter_done(self) -> None:
        """Enter in the filter box: apply now, back to the tree (else enter is not ours)."""
        box = self.query_one("#filter", Input)
        if isinstance(self.screen, ModalScreen) or self.focused is not box:
            raise SkipAction()
        if self._filter_timer is not None:
            self._filter_timer.stop()
            self._filter_timer = None
        self.set_filter(box.value)
        if not box.value.strip():
            box.display = False
        self.focus_now(self.tree())

    def set_filter(self, text: str) -> None:
        """Filter every view by ``text`` (empty: no filter)."""
        if self.screen_stack:
            self.filter_query = parse_query(text)

    def watch_filter_query(self, query: Query | None) -> None:
        self.filtered = {}
        self._stale = set(self.views)
        with self.batch_update():
            self._show_tree(self.current_view)
        self._update_detail()
        self._update_status()

    def action_clear_filter(self) -> None:
        if isinstance(self.screen, ModalScreen):
            raise SkipAction()  # escape closes the dialog
        self.clear_filter()

    def clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if self.filter_query is None and not box.display:
            return
        if self._filter_timer is not None:
            self._filter_timer.stop()
            self._filter_timer = None
        box.value = ""
        box.display = False
        self.set_filter("")
        self.focus_now(self.tree())

    # -- jumps ------------------------------------------------------------------------

    def action_jump(self) -> None:
        self._not_while_typing()
        rels = self.selected_relations()
        if not rels:
            self.say("nothing related to jump to from here", timeout=3)
            return
        self.jump_to(rels[0])

    @on(DetailPane.JumpRequested)
    def _jump_requested(self, event: DetailPane.JumpRequested) -> None:
        self.jump_to(event.relation)

    def jump_to(self, rel: Relation) -> bool:
        if rel.host is not None and rel.host != self.host_target and not self.show_host(rel.host):
            return False
        view = self.views.get(rel.view)
        path = view.locate(rel.ref) if view is not None else None
        if path is None:
            self.say(f"{rel.text}: not shown in this snapshot", severity="warning", timeout=4)
            return False
        if self.current_view != rel.view:
            self.show_view(rel.view)
        tree = self.tree(rel.view)
        if not tree.reveal(path):
            if self.filter_query is not None:
                self.say("filter cleared to show the target", timeout=3)
                self.clear_filter()
            if not tree.reveal(path):
                self.say(f"{rel.text}: not found", severity="warning", timeout=4)
                return False
        self.focus_now(tree)
        self._update_detail()
        return True

    # -- other actions ----------------------------------------------------------------

    def action_trace_path(self) -> None:
        self._not_while_typing()
        from nsview.tui.paths import open_paths

        open_paths(self)

    def action_read_conntrack(self) -> None:
        self._not_while_typing()
        inode = netns_of(self.selected_ref())
        target = self.selected_target() if inode is None else None
        if isinstance(target, Process):
            inode = target.ns.get("net")  # a process row: its network namespace
        if inode is None:
            self.say("conntrack: go to a row of a network namespace first (2: Network)",
                     timeout=3)
            return
        if self.conntrack.request(inode, asked=True):
            self.say(f"reading the conntrack table of net:[{inode}]…", timeout=2)

    def action_help(self) -> None:
        keys = [(key, title, help_text) for key, title, help_text, _ in self.action_list()]
        self.push_screen(HelpScreen(keys))

    def action_refresh(self) -> None:
        if self.fetch is None:
            self.say("nothing to refresh: this snapshot was given, not collected", timeout=3)
            return
        self.refresh_now()

    def action_cycle_theme(self) -> None:
        names = self.theme_set.names or ["textual-dark", "textual-light"]
        try:
            index = names.index(self.theme)
        except ValueError:
            index = -1
        self.theme = names[(index + 1) % len(names)]
        self.say(f"theme: {self.theme}", timeout=2)

    def action_expand_node(self) -> None:
        self.tree().action_expand()

    def action_collapse_node(self) -> None:
        self.tree().action_collapse()
