"""Pilot tests: every key of the TUI, against the fixture snapshot and a live collection."""

from __future__ import annotations

import asyncio
import copy
import html
import os
import re
import threading

import pytest
from textual.widgets import Footer, Input, OptionList, Tabs

from nsview.analyze.refs import InterfaceRef, ProcessRef
from nsview.model import Namespace, Process
from nsview.tui import factory
from nsview.tui.app import NsviewApp, NsviewCommands
from nsview.tui.detail import DetailPane
from nsview.tui.factory import AppOptions, SnapshotSource
from nsview.tui.screens import HelpScreen
from nsview.tui.themes import load_themes
from tests.tui_data import HOST_NS, LAB_A_NET, LAB_B_NET, WEB_NET, fixture_snapshot, large_snapshot
from tests.tui_drive import goto_text, visible_rows, walk_to

HOST_NET = HOST_NS["net"]
VETHAAA = (f"ns:net:{HOST_NET}", "if:3", "if:5")  # a veth port of docker0, its peer in WEB_NET
SIZE = (100, 30)


def make_app(*, snapshot=None, source=None, interval=0.0) -> NsviewApp:
    """The app through the factory: on ``source`` (a live collector), else on ``snapshot``."""
    feed = (
        SnapshotSource.collector(source)
        if source is not None
        else SnapshotSource.given(snapshot or fixture_snapshot())
    )
    return factory.make_app(AppOptions(feed, interval=interval, themes=load_themes()))


def drive(app: NsviewApp, script, size=SIZE):
    """Run ``script(pilot)`` against ``app`` at a fixed terminal size."""

    async def main():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await script(pilot)

    asyncio.run(main())


async def until(pilot, condition, what="condition", steps=400):
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"never happened: {what}")


def cursor(app: NsviewApp):
    return app.tree().cursor_path()


# -- moving, expanding, collapsing ----------------------------------------------------


def test_move_expand_collapse_keys():
    app = make_app()

    async def script(pilot):
        assert cursor(app) == ("type:cgroup",)
        assert app.focused is app.tree()
        await pilot.press("j", "j", "down")
        assert cursor(app) == ("type:net",)
        await pilot.press("k", "up")
        assert cursor(app) == ("type:ipc",)
        await pilot.press("j", "j", "l")  # expand net
        assert app.tree().cursor_node.is_expanded
        rows = visible_rows(app)
        assert any("nsvlab-a" in r for r in rows)
        await pilot.press("l")  # on an open row: to its first child
        assert cursor(app) == ("type:net", f"ns:net:{HOST_NET}")
        await pilot.press("enter")  # enter expands too
        assert app.tree().cursor_node.is_expanded
        await pilot.press("enter")  # on an open row: its first child
        assert cursor(app)[-1] == "p:1"
        await pilot.press("h")  # on a leaf: to its parent
        assert cursor(app) == ("type:net", f"ns:net:{HOST_NET}")
        await pilot.press("h")  # collapse it
        assert not app.tree().cursor_node.is_expanded
        await pilot.press("h", "h")
        assert cursor(app) == ("type:net",) and not app.tree().cursor_node.is_expanded
        await pilot.press("right", "left")
        assert not app.tree().cursor_node.is_expanded

    drive(app, script)


def test_views_switch_with_1_2_3_and_tabs_follow():
    app = make_app()

    async def script(pilot):
        tabs = app.query_one(Tabs)
        await pilot.press("2")
        assert app.current_view == "network" and tabs.active == "tab-network"
        assert app.focused is app.tree("network")
        assert visible_rows(app)[0].startswith("systemd (1)  net:[4026531840]")
        await pilot.press("3")
        assert app.current_view == "processes" and tabs.active == "tab-processes"
        # the top of the process tree starts open
        assert visible_rows(app)[:3] == [
            "1  systemd  /sbin/init",
            "namespaces  (parent not seen)",
            "400  sshd  sshd: /usr/sbin/sshd -D",
        ]
        await pilot.press("1")
        assert app.current_view == "namespaces" and tabs.active == "tab-namespaces"

    drive(app, script)


def test_a_view_key_right_at_start_sticks():
    """The tab shown at start announces itself late; that must not switch back (it used
    to ping-pong between two views for ever)."""
    app = make_app()
    switches = []

    async def main():
        async with app.run_test(size=SIZE) as pilot:
            original = app.show_view
            app.show_view = lambda name: (switches.append(name), original(name))[1]
            await pilot.press("2")  # before the first pause
            await pilot.pause(0.3)
            assert app.current_view == "network"
            assert switches == ["network"]
            assert app.focused is app.tree("network")

    asyncio.run(main())


def test_clicking_a_tab_while_typing_a_filter_switches_views():
    app = make_app()

    async def script(pilot):
        await pilot.press("slash", "n", "g", "i")
        assert isinstance(app.focused, Input)
        await pilot.click("#tab-processes")
        await pilot.pause()
        assert app.current_view == "processes" and app.is_running
        assert app.focused is app.tree("processes")

    drive(app, script)


def test_digits_slash_g_and_enter_are_text_in_the_filter_box():
    app = make_app()

    async def script(pilot):
        await pilot.press("slash", "1", "0", "slash", "2", "g", "3")
        assert app.query_one("#filter", Input).value == "10/2g3"
        assert app.current_view == "namespaces" and isinstance(app.focused, Input)
        await pilot.press("enter")
        assert app.focused is app.tree() and app.filter_query.text == "10/2g3"

    drive(app, script)


def test_detail_pane_follows_the_cursor():
    app = make_app()

    async def script(pilot):
        await walk_to(pilot, VETHAAA, view="network")
        pane = app.query_one(DetailPane)
        assert pane.detail.title == "interface vethaaa @ systemd (1)"
        assert ("peer", "eth0 (ifindex 2) @ nginx (601) [resolved]") in pane.detail.rows
        assert pane.relations[0].ref == InterfaceRef(WEB_NET, 2)
        await goto_text(pilot, "vethbbb")
        assert pane.detail.title == "interface vethbbb @ systemd (1)"

    drive(app, script)


# -- jumping --------------------------------------------------------------------------


def test_g_jumps_veth_to_peer_and_back():
    app = make_app()

    async def script(pilot):
        await walk_to(pilot, VETHAAA, view="network")
        await pilot.press("g")
        assert cursor(app) == (f"ns:net:{WEB_NET}", "if:2")
        assert "↔ vethaaa" in app.tree().cursor_item().text
        await pilot.press("g")
        assert cursor(app) == (f"ns:net:{HOST_NET}", "if:3", "if:5")

    drive(app, script)


def test_g_from_process_goes_to_its_own_namespace_then_to_its_main_process():
    app = make_app()

    async def script(pilot):
        await pilot.press("3")
        await goto_text(pilot, "400  sshd")
        await pilot.press("l")
        await goto_text(pilot, "410  bash")
        await pilot.press("l")
        await goto_text(pilot, "800  sleep")
        await pilot.press("g")
        assert app.current_view == "namespaces"
        assert cursor(app) == ("type:net", f"ns:net:{LAB_A_NET}")
        await pilot.press("g")  # a netns: its interfaces in the Network view
        assert app.current_view == "network" and cursor(app) == (f"ns:net:{LAB_A_NET}",)
        await pilot.press("g")  # from the Network view: the namespace itself
        assert app.current_view == "namespaces"

    drive(app, script)


def test_g_on_a_row_without_relations_says_so():
    app = make_app()

    async def script(pilot):
        assert cursor(app) == ("type:cgroup",)
        await pilot.press("g")
        assert cursor(app) == ("type:cgroup",) and app.current_view == "namespaces"
        assert app.notices[-1] == ("information", "nothing related to jump to from here")

    drive(app, script)


def test_enter_on_a_related_row_in_the_detail_pane_jumps():
    app = make_app()

    async def script(pilot):
        await walk_to(pilot, VETHAAA, view="network")
        await pilot.press("tab")
        assert isinstance(app.focused, OptionList)
        await pilot.press("down")  # second relation: the bridge
        await pilot.press("enter")
        assert cursor(app) == (f"ns:net:{HOST_NET}", "if:3")
        assert app.focused is app.tree()

    drive(app, script)


def test_mouse_clicks_tabs_rows_and_relations():
    app = make_app()

    async def script(pilot):
        await pilot.click("#tab-network")
        await pilot.pause()
        assert app.current_view == "network"
        tree = app.tree()
        # click the second row (lo of the host netns, once it is open)
        await pilot.press("l")
        await pilot.click(tree, offset=(10, 1))
        await pilot.pause()
        assert cursor(app) == (f"ns:net:{HOST_NET}", "if:1")
        options = app.query_one("#relations", OptionList)
        assert options.option_count > 0
        await pilot.click(options, offset=(5, 0))
        await pilot.pause()
        assert app.current_view == "processes"  # lo's first relation: the netns main process
        assert cursor(app)[-1] == "p:1"

    drive(app, script)


# -- filter ---------------------------------------------------------------------------


def test_filter_narrows_every_view_and_escape_clears():
    app = make_app()

    async def script(pilot):
        await pilot.press("slash")
        box = app.query_one("#filter", Input)
        assert box.display and app.focused is box
        await pilot.press(*"nsvlab-a")  # 'q', 'g', 't' etc. type, they do not act
        await pilot.press("enter")
        assert app.focused is app.tree()
        assert app.current_view == "namespaces"
        rows = visible_rows(app)
        assert rows == [
            "net  5 namespaces",
            "net:[4026532500]  nsvlab-a  1 proc  1 bind mount",
        ]
        assert cursor(app) == ("type:net", f"ns:net:{LAB_A_NET}")  # on the first match
        await pilot.press("2")
        assert visible_rows(app) == ["nsvlab-a  net:[4026532500]  2 ifs  veth-a1 10.9.0.2/24"]
        await pilot.press("l")  # a match shows everything under it
        assert len(visible_rows(app)) == 5  # lo, veth-a1, routes, conntrack
        await pilot.press("3")
        assert visible_rows(app)[-1].startswith("net:[4026532500]  nsvlab-a")
        assert cursor(app)[-2:] == ("ns", "ns:net")
        await pilot.press("escape")
        assert app.filter_query is None and not box.display
        # the row found stays under the cursor, now among everything else
        assert cursor(app) == ("p:1", "p:400", "p:410", "p:800", "ns", "ns:net")
        assert len(visible_rows(app)) > 10
        await pilot.press("1")
        assert visible_rows(app)[0] == "cgroup  2 namespaces"
        assert cursor(app) == ("type:net", f"ns:net:{LAB_A_NET}")

    drive(app, script)


@pytest.mark.parametrize(
    ("query", "view", "expected"),
    [
        ("602", "processes", "602  nginx  nginx: worker process"),  # pid
        (str(WEB_NET), "namespaces", "net:[4026532300]  nginx (601)  2 procs"),  # inode
        ("172.17.0.3", "network", "eth0  veth  UP  172.17.0.3/16  ↔ vethbbb @ systemd (1)"),  # IP
        ("veth-a1", "network", "veth-a1  veth  UP  10.9.0.2/24  ↔ veth-a0 @ systemd (1)"),  # iface
        (
            "redis",
            "processes",
            "701  redis-server  redis-server *:6379  ≠ ipc mnt net pid user uts",
        ),
    ],
)
def test_filter_kinds(query, view, expected):
    app = make_app()

    async def script(pilot):
        await pilot.press({"namespaces": "1", "network": "2", "processes": "3"}[view])
        await pilot.press("slash", *query, "enter")
        assert app.tree().cursor_item().text == expected

    drive(app, script)


def test_filter_with_no_match_and_escape_from_the_box():
    app = make_app()

    async def script(pilot):
        await pilot.press("slash", *"zzz-nothing", "enter")
        assert visible_rows(app) == []
        status = str(app.query_one("#status").render())
        assert "filter “zzz-nothing”: 0 here" in status
        await pilot.press("slash", "escape")
        assert app.filter_query is None and visible_rows(app)[0] == "cgroup  2 namespaces"

    drive(app, script)


def test_jump_clears_a_filter_that_hides_the_target():
    app = make_app()

    async def script(pilot):
        await pilot.press("2", "slash", *"vethaaa", "enter")
        assert cursor(app) == (f"ns:net:{HOST_NET}", "if:3", "if:5")
        await pilot.press("g")
        assert app.filter_query is None
        assert cursor(app) == (f"ns:net:{WEB_NET}", "if:2")
        assert ("information", "filter cleared to show the target") in app.notices

    drive(app, script)


# -- help, palette, theme, quit -------------------------------------------------------


def test_help_screen_lists_every_key_and_closes():
    app = make_app()

    async def script(pilot):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {k for k, _, _ in app.screen.keys}
        assert {"?", "/", "g", "r", "t", "q", "1", "2", "3", "escape", "enter/l", "h"} <= keys
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark", "q")  # q closes help, does not quit
        assert not isinstance(app.screen, HelpScreen) and app.is_running

    drive(app, script)


def test_command_palette_offers_every_action_and_runs_them():
    app = make_app()

    async def script(pilot):
        provider = NsviewCommands(app.screen)
        hits = [hit async for hit in provider.discover()]
        titles = {str(h.display) for h in hits}
        for key, title, _, _ in app.action_list():
            assert f"{title} ({key})" in titles
        actions = {a for _, _, _, a in app.action_list()}
        assert {
            "help",
            "filter",
            "clear_filter",
            "jump",
            "refresh",
            "cycle_theme",
            "quit",
            "show_view('namespaces')",
            "show_view('network')",
            "show_view('processes')",
            "expand_node",
            "collapse_node",
        } <= actions
        for action in actions - {"quit", "help", "filter"}:
            assert hasattr(app, "action_" + action.split("(")[0]), action
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Network (2)")
        await pilot.pause(0.5)  # the palette searches in the background
        await pilot.press("enter")
        await until(pilot, lambda: app.current_view == "network", "palette switched view")

    drive(app, script)


def test_t_cycles_the_theme_files():
    app = make_app()

    async def script(pilot):
        assert app.theme == "nsview-dark"
        seen = [app.theme]
        for _ in range(3):
            await pilot.press("t")
            seen.append(app.theme)
        assert seen[0] == seen[-1] and set(seen) == {
            "nsview-dark",
            "nsview-light",
            "nsview-contrast",
        }
        await pilot.pause()
        assert app.theme_variables["ns-net"] == "#7dcfff"  # from nsview-dark.toml again

    drive(app, script)


def test_q_quits():
    app = make_app()

    async def script(pilot):
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running

    drive(app, script)
    assert app.return_code == 0


# -- refresh --------------------------------------------------------------------------


class Source:
    """A collector stand-in: serves snapshots (or raises) and counts calls, from any thread."""

    def __init__(self, *results):
        self.results = list(results)
        self.calls = 0
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, cancelled):
        with self.lock:
            self.calls += 1
            self.threads.add(threading.current_thread().name)
            result = self.results[min(self.calls - 1, len(self.results) - 1)]
        if isinstance(result, Exception):
            raise result
        return copy.deepcopy(result)


def test_r_refreshes_in_a_worker_thread():
    source = Source(fixture_snapshot())
    app = make_app(source=source, interval=0)

    async def script(pilot):
        await until(pilot, lambda: app.collections == 1, "first collection")
        await pilot.press("r")
        await until(pilot, lambda: app.collections == 2, "refresh on r")
        assert source.calls == 2
        assert threading.main_thread().name not in source.threads

    drive(app, script)


def test_quitting_mid_refresh_stops_the_collection():
    """q during a refresh tells the collector to stop instead of waiting for it."""
    started = threading.Event()
    saw_cancel = threading.Event()

    def slow_source(cancelled):
        started.set()
        for _ in range(3000):  # a 30 s collection, unless told to stop
            if cancelled():
                saw_cancel.set()
                from nsview.errors import Cancelled

                raise Cancelled()
            threading.Event().wait(0.01)
        return fixture_snapshot()

    app = make_app(source=slow_source, interval=0)

    async def script(pilot):
        await until(pilot, started.is_set, "the collection starts")
        await pilot.press("q")

    drive(app, script)
    assert saw_cancel.wait(30), "the collector was never told to stop"


def test_a_loaded_file_is_read_again_on_r_and_is_not_live(tmp_path):
    from nsview.cli.tui_options import load_snapshot_file
    from nsview.model import snapshot_to_json

    path = tmp_path / "snap.json"
    path.write_text(snapshot_to_json(fixture_snapshot()))
    options = AppOptions(SnapshotSource.file(str(path), load_snapshot_file), themes=load_themes())
    app = factory.make_app(options)

    async def script(pilot):
        assert app.collections == 1 and app.source is None  # shown at once; not this host
        status = str(app.query_one("#status").render())
        assert f"file {path}" in status
        await pilot.press("r")
        await until(pilot, lambda: app.collections == 2, "the file read again")
        await pilot.press("x")  # join: needs a live view
        assert "actions need a live view" in app.notices[-1][1]

    drive(app, script)


def test_r_without_a_source_says_so():
    app = make_app(interval=0)

    async def script(pilot):
        await pilot.press("r")
        assert app.notices[-1][1].startswith("nothing to refresh")

    drive(app, script)


def test_auto_refresh_keeps_expansion_cursor_and_scroll():
    source = Source(fixture_snapshot())
    app = make_app(source=source, interval=0.05)

    async def script(pilot):
        await until(pilot, lambda: app.collections >= 1, "first collection")
        app.interval = 0  # hold still while we set up
        await pilot.press("2")
        for _ in range(3):
            await pilot.press("l", "j")
        await goto_text(pilot, "docker0")
        await pilot.press("l", "j")
        tree = app.tree()
        before_cursor = cursor(app)
        before_rows = visible_rows(app)
        before_screen_row = tree.cursor_line - round(tree.scroll_y)
        count = app.collections
        app.interval = 0.05
        app.refresh_now()
        await until(pilot, lambda: app.collections >= count + 3, "three more refreshes")
        assert cursor(app) == before_cursor
        assert visible_rows(app) == before_rows
        assert tree.cursor_line - round(tree.scroll_y) == before_screen_row

    drive(app, script, size=(100, 16))


def test_vanished_namespace_disappears_without_moving_the_cursor_row():
    full = fixture_snapshot()
    gone = copy.deepcopy(full)
    gone.namespaces = [ns for ns in gone.namespaces if ns.inode != LAB_B_NET]
    source = Source(full, gone)
    app = make_app(source=source, interval=0)

    async def script(pilot):
        await until(pilot, lambda: app.collections == 1, "first collection")
        await pilot.press("2")
        await goto_text(pilot, "nsvlab-b")
        line = app.tree().cursor_line
        await pilot.press("r")
        await until(pilot, lambda: app.collections == 2, "second collection")
        assert not any("nsvlab-b" in r for r in visible_rows(app))
        assert app.tree().cursor_line == line  # the next netns took its place
        assert cursor(app) == (f"ns:net:{WEB_NET}",)
        assert app.query_one(DetailPane).detail.title == f"net namespace [{WEB_NET}]"

    drive(app, script)


def test_collection_error_is_a_notification_and_refresh_goes_on():
    source = Source(
        fixture_snapshot(), PermissionError(13, "Permission denied"), fixture_snapshot()
    )
    app = make_app(source=source, interval=0)

    async def script(pilot):
        await until(pilot, lambda: app.collections == 1, "first collection")
        await pilot.press("r")
        await until(pilot, lambda: any(s == "error" for s, _ in app.notices), "error notice")
        assert app.notices[-1] == (
            "error",
            "collection failed: PermissionError: [Errno 13] Permission denied",
        )
        assert app.is_running and app.snapshot is not None
        await pilot.press("r")
        await until(pilot, lambda: app.collections == 2, "recovered")

    drive(app, script)


def test_first_collection_failing_leaves_an_empty_app_not_a_crash():
    source = Source(RuntimeError("no /proc"))
    app = make_app(source=source, interval=0)

    async def script(pilot):
        await until(pilot, lambda: app.notices, "error notice")
        assert app.notices == [("error", "collection failed: RuntimeError: no /proc")]
        await pilot.press("j", "l", "g", "2", "slash", "x", "enter", "escape", "3", "question_mark")
        assert app.is_running

    drive(app, script)


def test_refresh_pauses_while_a_dialog_is_open():
    source = Source(fixture_snapshot())
    app = make_app(source=source, interval=0.02)

    async def script(pilot):
        await until(pilot, lambda: app.collections >= 2, "auto refresh running")
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        calls = source.calls
        await pilot.pause(0.3)
        assert source.calls <= calls + 1  # at most one already under way
        await pilot.press("escape")
        await until(pilot, lambda: source.calls > calls + 1, "refresh resumed")

    drive(app, script)


# -- what actions build on ------------------------------------------------------------


def test_selected_target_gives_process_or_namespace():
    app = make_app()

    async def script(pilot):
        assert app.selected_target() is None  # a type group
        await pilot.press("3")
        target = app.selected_target()
        assert isinstance(target, Process) and target.pid == 1
        await walk_to(pilot, (f"ns:net:{HOST_NET}", "if:1"), view="network")
        target = app.selected_target()
        assert isinstance(target, Namespace) and target.inode == HOST_NET  # lo → its netns

    drive(app, script)


# -- terminal sizes, colour -----------------------------------------------------------


def test_works_at_80x24():
    app = make_app()

    async def script(pilot):
        tree = app.tree()
        pane = app.query_one(DetailPane)
        assert tree.size.width >= 45 and pane.size.width >= 30
        assert tree.size.height >= 15
        footer = app.query_one(Footer)
        assert footer.size.height == 1
        await walk_to(pilot, VETHAAA, view="network")
        await pilot.press("g")
        assert cursor(app) == (f"ns:net:{WEB_NET}", "if:2")
        text = app.export_screenshot()
        assert "Quit" in text and "Filter" in text

    drive(app, script, size=(80, 24))


def test_wide_terminal_gives_the_tree_the_room():
    app = make_app()

    async def script(pilot):
        assert app.tree().size.width >= 150
        assert app.query_one(DetailPane).size.width <= 80

    drive(app, script, size=(240, 50))


def test_no_color_renders_in_greys(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()

    async def script(pilot):
        await pilot.press("3", "slash", *"nginx", "enter")
        svg = html.unescape(app.export_screenshot())
        # (textual's SVG frame draws a title bar with three coloured buttons)
        frame = {"28c840", "c5c8c6", "febc2e", "ff5f57"}
        colours = set(re.findall(r"#([0-9a-f]{6})", svg)) - frame
        assert colours
        chromatic = {c for c in colours if not (c[0:2] == c[2:4] == c[4:6])}
        assert not chromatic
        # the meaning survives without colour
        assert "≠" in svg

    drive(app, script)
    assert app.no_color


# -- size -----------------------------------------------------------------------------


def test_1000_processes_in_100_netns_open_and_navigate():
    app = make_app(snapshot=large_snapshot(100, 10))

    async def script(pilot):
        # Namespaces: open net (100 netns + host), go deep
        await pilot.press("j", "j", "j", "l", "l", "l")
        assert len(visible_rows(app)) > 100
        for _ in range(150):
            await pilot.press("j")
        assert app.tree().cursor_line == 154
        # Network: the host bridge with 100 veth ports
        await pilot.press("2", "l")
        await goto_text(pilot, "br0  bridge")
        await pilot.press("l")
        assert len(visible_rows(app)) >= 103
        await pilot.press("j", "g")
        assert cursor(app)[-1] == "if:2" and cursor(app)[0] != f"ns:net:{HOST_NET}"
        # Processes: 100 container shims under init, each with 9 processes below
        await pilot.press("3")
        assert len(visible_rows(app)) == 1 + 1 + 100
        await pilot.press("slash", *"app99", "enter")
        assert "app99" in app.tree().cursor_item().text
        await pilot.press("escape", "end", "home", "pagedown", "pageup")
        assert app.is_running

    drive(app, script, size=(120, 40))


# -- live -----------------------------------------------------------------------------


@pytest.mark.privileged
def test_every_key_against_a_live_collection(netns_factory):
    from nsview.collect import CollectOptions, collect_snapshot

    name = netns_factory("tui")
    def source(cancelled):
        return collect_snapshot(CollectOptions(net=True, cancelled=cancelled))

    app = make_app(source=source, interval=0)
    mine = os.getpid()

    async def script(pilot):
        await until(pilot, lambda: app.collections == 1, "first live collection", steps=1500)
        assert app.snapshot.process(mine) is not None
        for key in ("j", "k", "down", "up", "l", "enter", "h", "2", "3", "1"):
            await pilot.press(key)
        await pilot.press("slash", *name, "enter")
        assert name in app.tree().cursor_item().text
        await pilot.press("2")
        assert app.tree().cursor_item().text.startswith(name)
        await pilot.press("escape", "3", "slash", *str(mine), "enter")
        assert app.tree().cursor_item().ref == ProcessRef(mine)
        await pilot.press("g")
        assert app.current_view == "namespaces"
        await pilot.press("r")
        await until(pilot, lambda: app.collections == 2, "live refresh", steps=1500)
        await pilot.press("t", "question_mark", "escape", "q")
        await pilot.pause()
        assert not app.is_running

    drive(app, script)


def test_a_match_that_arrives_with_a_later_snapshot_is_opened():
    # The live TUI shows a quick first look, then the full collection: a filter typed
    # in between must open the way to matches that only the full one has.
    full = fixture_snapshot()
    first = copy.deepcopy(full)
    first.namespaces = [ns for ns in first.namespaces if ns.inode != LAB_A_NET]
    app = make_app(snapshot=first)

    async def script(pilot):
        app.set_filter("nsvlab-a")
        await pilot.pause(0.3)
        assert not app.filtered[app.current_view].matches
        app.apply_snapshot(full)
        await pilot.pause(0.3)
        (match,) = app.filtered[app.current_view].matches
        node = app.tree().node_at(match)
        assert node is not None and node.parent.is_expanded

    drive(app, script)
