"""Sockets and filter tables as people see them: the TUI's Network view rows, their
details and jumps, a process's detail, and `nsview net` — on a real snapshot of a
test netns with a listener, a connection and the filter rules of the build script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nsview.analyze.details import details
from nsview.analyze.lookup import Lookup
from nsview.analyze.refs import (
    NamespaceRef,
    NatChainRef,
    NatRuleRef,
    ProcessRef,
    SocketRef,
)
from nsview.analyze.relations import relations
from nsview.analyze.search import matches, parse_query
from nsview.analyze.views import build_views
from nsview.collect import CollectOptions, collect_snapshot

from .conftest import nsview_bin, run

pytestmark = pytest.mark.privileged

FIXTURES = Path(__file__).parent / "fixtures" / "net"
SERVER = r"""
import socket, time
srv = socket.socket(); srv.bind(("0.0.0.0", 18080)); srv.listen()
c = socket.create_connection(("127.0.0.1", 18080)); a, _ = srv.accept()
print("ready", flush=True); time.sleep(600)
"""


@pytest.fixture(scope="module")
def world():
    name = f"nsvt-vw{os.getpid()}"
    run("ip", "netns", "add", name)
    proc = None
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        run("bash", str(FIXTURES / "build-filter-netns.sh"), name)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-c", SERVER],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        snap = collect_snapshot(CollectOptions(net_pids=(proc.pid,)))
        inode = next(p for p in snap.processes if p.pid == proc.pid).ns["net"]
        yield name, proc.pid, inode, Lookup(snap)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _find(view, ref):
    path = view.locate(ref)
    assert path is not None, ref
    items = view.roots()
    item = None
    for key in path:
        item = next(i for i in items if i.key == key)
        items = view.children(item)
    return item


def _text(label) -> str:
    return "".join(t for t, _ in label)


def test_network_view_has_sockets_and_filter_under_the_netns(world):
    _name, pid, inode, lk = world
    view = build_views(lk)["network"]
    netns_item = _find(view, NamespaceRef("net", inode))
    assert "listen 18080" in _text(netns_item.label)
    groups = {i.key: i for i in view.children(netns_item)}
    assert {"nat", "filter", "sockets"} <= set(groups)
    sockets = view.children(groups["sockets"])
    first = _text(sockets[0].label)  # listeners first
    assert first.startswith("tcp  LISTEN  0.0.0.0:18080") and f"({pid})" in first
    tables = {_text(i.label) for i in view.children(groups["filter"])}
    assert "ipv4 filter  iptables-legacy  13 rules" in tables
    assert any(t.startswith("inet nsvtfw  nftables") for t in tables)


def test_every_new_row_has_a_detail_and_its_jumps_land(world):
    _name, _pid, inode, lk = world
    views = build_views(lk)
    view = views["network"]
    netns_item = _find(view, NamespaceRef("net", inode))
    seen = 0
    stack = [i for i in view.children(netns_item) if i.key in ("filter", "sockets", "nat")]
    while stack:
        item = stack.pop()
        stack.extend(view.children(item))
        detail = details(lk, item.ref)
        assert detail.title and "gone" not in detail.title, item.ref
        for rel in relations(lk, item.ref, "network"):
            assert views[rel.view].locate(rel.ref) is not None, (item.ref, rel)
        seen += 1
    assert seen > 40


def test_socket_detail_relations_and_search(world):
    _name, pid, inode, lk = world
    net = lk.net(inode)
    (i,) = [n for n, s in enumerate(net.sockets) if s.state == "LISTEN" and s.port == 18080]
    ref = SocketRef(inode, i)
    rows = dict(details(lk, ref).rows)
    assert rows["state"] == "LISTEN" and rows["process"].startswith(f"{pid} python")
    rels = relations(lk, ref, "network")
    assert rels[0].ref == ProcessRef(pid)
    # The connection's two ends lead to each other.
    (client,) = [
        n for n, s in enumerate(net.sockets) if s.remote == "127.0.0.1:18080" and s.pids == [pid]
    ]
    other_end = [
        r for r in relations(lk, SocketRef(inode, client), "network") if "other end" in r.text
    ]
    assert len(other_end) == 1 and lk.net(inode).sockets[other_end[0].ref.index].port == 18080
    assert matches(lk, ref, parse_query("18080")) and matches(lk, ref, parse_query(str(pid)))
    assert not matches(lk, ref, parse_query("18099"))


def test_a_process_detail_lists_its_sockets_and_jumps_to_them(world):
    _name, pid, inode, lk = world
    rows = details(lk, ProcessRef(pid)).rows
    sockets = [v for k, v in rows if k == "socket"]
    assert "tcp LISTEN 0.0.0.0:18080" in sockets
    assert any(v.startswith("tcp ESTABLISHED 127.0.0.1:") for v in sockets)
    rels = [r for r in relations(lk, ProcessRef(pid), "processes") if isinstance(r.ref, SocketRef)]
    assert {r.ref.netns for r in rels} == {inode} and len(rels) == len(sockets)


def test_filter_rule_rows_word_their_matches(world):
    _name, _pid, inode, lk = world
    net = lk.net(inode)
    (t,) = [
        n for n, x in enumerate(net.filter) if (x.backend, x.table) == ("iptables-legacy", "filter")
    ]
    chains = net.filter[t].chains
    (c,) = [n for n, ch in enumerate(chains) if ch.name == "FORWARD"]
    view = build_views(lk)["network"]
    chain = _find(view, NatChainRef(inode, t, c, "filter"))
    assert "policy DROP" in _text(chain.label)
    rows = [_text(i.label) for i in view.children(chain)]
    assert "ACCEPT  out nsvtbr0 ctstate RELATED,ESTABLISHED" in rows
    d = dict(details(lk, NatRuleRef(inode, t, c, 2, "filter")).rows)
    assert d["match"] == "ctstate RELATED,ESTABLISHED"


def test_nsview_net_prints_sockets_and_filter_tables(world):
    name, pid, *_ = world
    out = subprocess.run(
        [nsview_bin(), "net", name],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Filter (filter, mangle, raw)" in text and "Sockets" in text
    assert "FORWARD  forward  policy DROP  5 rules" in text
    assert "DROP  out nsvtbr1" in text and "probability 0.5" in text
    assert f"python3 ({pid})" in text or f"({pid})" in text
    assert "vmap iifname {nsvtv0: jump web, nsvtv1: drop}" in text
