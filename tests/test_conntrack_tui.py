"""Conntrack in the TUI: a netns's conntrack row (count, per-state summary, the first
entries, "… N more"), the entries of a socket, DNAT rule or address in the detail
pane; on a loaded ``dump --conntrack`` file without reading anything, and on this
host read lazily (opening the row, or C) and never by a refresh."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nsview.analyze.refs import (
    ConntrackRef,
    GroupRef,
    InterfaceRef,
    NamespaceRef,
    NatRuleRef,
    SocketRef,
)
from nsview.model import (
    ConntrackEntry,
    ConntrackTable,
    ConntrackTuple,
    Socket,
    snapshot_to_json,
)
from nsview.tui import factory
from nsview.tui.detail import DetailPane
from nsview.tui.factory import AppOptions, SnapshotSource
from nsview.tui.themes import load_themes
from tests.conftest import run
from tests.test_net_conntrack import TRAFFIC
from tests.test_tui_app import drive, until
from tests.tui_data import HOST_NS, fixture_snapshot
from tests.tui_drive import visible_rows, walk_to

HOST_NET = HOST_NS["net"]
CT = (f"ns:net:{HOST_NET}", "conntrack")


def _entry(proto, o, r, state=None, status=("CONFIRMED", "SEEN_REPLY")):
    return ConntrackEntry(
        family="ipv4", proto=proto,
        original=ConntrackTuple(o[0], o[2], o[1], o[3]),
        reply=ConntrackTuple(r[0], r[2], r[1], r[3]),
        state=state, status=list(status),
    )


def busy_snapshot():
    """The fixture, its host netns with a published port's flow (8080 DNATed to the web
    container's 172.17.0.2:80, as the fixture's DOCKER rule says), a listener for it,
    and 104 UDP flows more, of 300 the kernel listed (the rest past the cap)."""
    snap = fixture_snapshot()
    net = next(ns for ns in snap.namespaces if ns.inode == HOST_NET).net
    dnat = _entry("tcp", ("203.0.113.7", 50000, "192.168.1.10", 8080),
                  ("172.17.0.2", 80, "203.0.113.7", 50000), "ESTABLISHED",
                  ("CONFIRMED", "SEEN_REPLY", "ASSURED", "DST_NAT"))
    fill = [_entry("udp", ("192.168.1.10", 40000 + i, "198.51.100.53", 53),
                   ("198.51.100.53", 53, "192.168.1.10", 40000 + i)) for i in range(104)]
    net.conntrack = ConntrackTable(entries=[dnat, *fill], count=300, truncated=True,
                                   by_state={"tcp ESTABLISHED": 1, "udp": 299})
    net.sockets.append(Socket(proto="tcp", family="inet", state="LISTEN", local="0.0.0.0:8080",
                              address="0.0.0.0", port=8080))
    return snap


def _loaded_app(tmp_path):
    from nsview.cli.tui_options import load_snapshot_file

    path = tmp_path / "ct.json"
    path.write_text(snapshot_to_json(busy_snapshot()))
    source = SnapshotSource.file(str(path), load_snapshot_file)
    return factory.make_app(AppOptions(source, themes=load_themes()))


def test_a_loaded_dump_conntrack_file_shows_counts_entries_and_matches(tmp_path):
    app = _loaded_app(tmp_path)

    async def script(pilot):
        await walk_to(pilot, CT, view="network")
        row = app.tree().cursor_item().text
        assert "300 entries: udp 299, tcp ESTABLISHED 1" in row and "first 105 kept" in row
        pane = app.query_one(DetailPane)
        assert ("entries", "300") in pane.detail.rows and ("udp", "299") in pane.detail.rows
        await pilot.press("l")
        rows = visible_rows(app)
        assert any("203.0.113.7:50000 → 192.168.1.10:8080" in r and "DNAT to 172.17.0.2:80" in r
                   for r in rows)
        assert any("… 200 more" in r for r in rows)  # 100 listed of 300
        assert sum(1 for r in rows if "198.51.100.53:53" in r) == 99

        # The DNAT rule lists the flow it made; the listener and eth0's address too.
        view = app.views["network"]
        net = app.lookup.net(HOST_NET)
        t = next(i for i, tb in enumerate(net.nat) if tb.table == "nat")
        c = next(i for i, ch in enumerate(net.nat[t].chains) if ch.name == "DOCKER")
        await walk_to(pilot, view.locate(NatRuleRef(HOST_NET, t, c, 0)))
        assert ("conntrack", "1 entry for this rule among the first 105") in pane.detail.rows
        assert any(k == "  entry" and "DNAT to 172.17.0.2:80" in v for k, v in pane.detail.rows)
        # Its entries are jump targets too (after the interface the rule translates to).
        to_entry = [r for r in pane.relations if r.ref == ConntrackRef(HOST_NET, 0)]
        assert to_entry and pane.relations[0].ref != to_entry[0].ref
        assert app.jump_to(to_entry[0])
        assert app.tree().cursor_path() == (*CT, "ct:0")
        assert pane.detail.rows[3] == ("original", "203.0.113.7:50000 → 192.168.1.10:8080")
        # From the entry, g goes to the listener of its flow.
        s = len(net.sockets) - 1
        assert pane.relations[0].ref == SocketRef(HOST_NET, s)
        await walk_to(pilot, (*CT[:1], "sockets", f"s:{s}"))
        assert ("conntrack", "1 entry for this socket among the first 105") in pane.detail.rows
        eth0 = next(i for i in net.interfaces if i.name == "eth0")
        await walk_to(pilot, view.locate(InterfaceRef(HOST_NET, eth0.ifindex)))
        among = "105 entries for its addresses among the first 105"
        assert ("conntrack", among) in pane.detail.rows
        assert ("  …", "85 more") in pane.detail.rows  # 20 listed whole

        # C on a file reads nothing: the file is what there is.
        await pilot.press("C")
        assert "saved snapshot" in app.notices[-1][1]

    drive(app, script)


def test_a_netns_without_conntrack_says_how_to_get_it():
    app = factory.make_app(AppOptions(SnapshotSource.given(fixture_snapshot()),
                                      themes=load_themes()))

    async def script(pilot):
        await walk_to(pilot, CT, view="network")
        assert "not read (C reads it)" in app.tree().cursor_item().text
        await pilot.press("l")
        assert any("dump --conntrack" in r for r in visible_rows(app))
        assert app.conntrack.reading == set()  # not live: nothing read

    drive(app, script)


def test_the_filter_finds_conntrack_entries_by_address(tmp_path):
    app = _loaded_app(tmp_path)

    async def script(pilot):
        await pilot.press("2")
        app.set_filter("203.0.113.7")
        await pilot.pause()
        found = app.filtered["network"].matches
        assert (*CT, "ct:0") in found

    drive(app, script)


# -- this host: read lazily ------------------------------------------------------------


@pytest.fixture
def traffic_ns(netns_factory):
    ns = netns_factory("ctui")
    run("ip", "-n", ns, "link", "set", "lo", "up")
    run(
        "ip", "netns", "exec", ns, "iptables-nft", "-t", "nat", "-A", "OUTPUT", "-p", "tcp",
        "-d", "127.0.0.1", "--dport", "18081", "-j", "DNAT", "--to-destination", "127.0.0.1:18080",
    )  # fmt: skip
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", TRAFFIC],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = proc.stdout.readline().split()
        assert line and line[0] == "ready", "the traffic did not start"
        yield proc.pid, int(line[2])
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.privileged
def test_live_conntrack_is_read_on_opening_its_row_and_on_c_never_on_refresh(traffic_ns):
    import os

    from nsview.collect import CollectOptions, collect_snapshot

    pid, nat_port = traffic_ns
    inode = os.stat(f"/proc/{pid}/ns/net").st_ino
    fetched = []  # what each refresh itself brought: conntrack read or not

    def fetch(_cancelled):
        snap = collect_snapshot(CollectOptions(net_pids=(pid,), containers=False))
        net = next(ns.net for ns in snap.namespaces if ns.inode == inode)
        fetched.append(net.conntrack)
        return snap

    app = factory.make_app(AppOptions(SnapshotSource.collector(fetch), themes=load_themes()))
    path = (f"ns:net:{inode}", "conntrack")

    async def script(pilot):
        await until(pilot, lambda: app.collections >= 1, "the first collection", steps=1500)
        await walk_to(pilot, path, view="network")
        assert "not read" in app.tree().cursor_item().text
        await pilot.press("l")  # opening it reads it, on a worker
        await until(pilot, lambda: app.lookup.net(inode).conntrack is not None,
                    "the lazy read", steps=1500)
        await pilot.pause()
        table = app.lookup.net(inode).conntrack
        assert table.source == "netlink" and table.by_state.get("tcp ESTABLISHED", 0) >= 2
        rows = visible_rows(app)
        through = f"127.0.0.1:{nat_port} → 127.0.0.1:18081"
        assert any(through in r and "DNAT to 127.0.0.1:18080" in r for r in rows), rows

        # The DNAT rule lists that flow.
        net = app.lookup.net(inode)
        t = next(i for i, tb in enumerate(net.nat) if tb.table == "nat")
        c = next(i for i, ch in enumerate(net.nat[t].chains) if ch.name == "OUTPUT")
        await walk_to(pilot, app.views["network"].locate(NatRuleRef(inode, t, c, 0)))
        pane = app.query_one(DetailPane)
        assert any(k == "  entry" and through in v for k, v in pane.detail.rows), pane.detail.rows

        # A refresh does not read conntrack; the table read stays on the new snapshot.
        before = app.collections
        await pilot.press("r")
        await until(pilot, lambda: len(fetched) >= 2 and not app.collecting, "the refresh",
                    steps=1500)
        assert all(ct is None for ct in fetched)
        assert app.lookup.net(inode).conntrack is not None
        assert app.collections >= before

        # C reads it again (here on the traffic's process row), and says what it found.
        await pilot.press("3")
        app.set_filter(str(pid))
        await pilot.pause()
        tree = app.tree()
        hit = next(p for p in sorted(app.filtered["processes"].matches) if p[-1] == f"p:{pid}")
        assert tree.reveal(hit)
        await pilot.press("C")
        await until(pilot, lambda: any("conntrack of net:" in m for _, m in app.notices),
                    "C's read", steps=1500)
        assert app.conntrack.tables[inode] is app.lookup.net(inode).conntrack
        await pilot.press("escape", "2")
        await walk_to(pilot, path)
        assert isinstance(app.selected_ref(), GroupRef)
        assert app.selected_ref().of == NamespaceRef("net", inode)

    drive(app, script)


def test_every_conntrack_row_has_a_detail_and_its_jumps_land():
    from nsview.analyze.details import details
    from nsview.analyze.lookup import Lookup
    from nsview.analyze.relations import relations
    from nsview.analyze.views import build_views
    from tests.test_tui_analyze import walk

    lk = Lookup(busy_snapshot())
    views = build_views(lk)
    seen = 0
    for name, view in views.items():
        for _path, item in walk(view):
            detail = details(lk, item.ref)
            assert detail.title and "gone" not in detail.title, item.ref
            for rel in relations(lk, item.ref, name):
                assert views[rel.view].locate(rel.ref) is not None, (item.ref, rel)
            seen += isinstance(item.ref, ConntrackRef)
    assert seen == 100  # the first 100 listed, of 105 kept
