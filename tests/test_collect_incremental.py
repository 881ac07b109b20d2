"""An incremental refresh after a change equals a cold collection.

Real namespaces, processes, mounts, links and nftables rules; each change is
made between two collections of one IncrementalCollector, and what the
refresh reports is compared with collect_snapshot's cold read of the same
objects (the host is busy: only our objects are compared).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from nsview.collect import CollectOptions, collect_snapshot
from nsview.collect.incremental import IncrementalCollector
from nsview.model import to_dict

from .conftest import run, unique

pytestmark = pytest.mark.privileged

OPTIONS = CollectOptions(net=True, containers=False)


def wait_until(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def ns_inode(pid: int, ns_type: str) -> int:
    return os.stat(f"/proc/{pid}/ns/{ns_type}").st_ino


def view(snapshot, ns_type: str, inode: int):
    """What a snapshot says about one namespace: holders, names and its network."""
    ns = snapshot.namespace(ns_type, inode)
    if ns is None:
        return None
    net = to_dict(ns.net) if ns.net is not None else None
    if net is not None:
        net.pop("sockets", None)  # carried over between full reads by design
        net.pop("socket_summary", None)
    # Other jobs on the host enter and open every netns now and then (their own
    # nsview: a thread, an fd), and the process named for a bind mount is the first
    # that sees it at the time: what is compared is processes and mount paths.
    holders = sorted({(h.kind, h.pid if h.kind != "bind_mount" else 0, h.path or "")
                      for h in ns.holders if h.kind in ("process", "bind_mount")})
    pids = sorted(h[1] for h in holders if h[0] == "process")
    return holders, pids, ns.names, net


@pytest.fixture
def collector():
    c = IncrementalCollector(OPTIONS)
    try:
        yield c
    finally:
        c.close()


def test_refresh_sees_new_processes_mounts_links_rules_and_namespace_changes(
    collector, proc_factory, netns_factory, tmp_path
):
    quiet = netns_factory()  # left alone: carried over
    busy = netns_factory()  # gets a link and an nftables rule
    quiet_inode = os.stat(f"/run/netns/{quiet}").st_ino
    busy_inode = os.stat(f"/run/netns/{busy}").st_ino
    # A process in a private mount namespace that bind-mounts a new netns only
    # after the first collection (its table changes, its links do not), and a
    # process that moves to another netns later (same pid, new links).
    target = tmp_path / f"{unique()}-net"
    target.touch()
    go, mounted, moved = tmp_path / "go", tmp_path / "mounted", tmp_path / "moved"
    mounter = proc_factory(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            f"while [ ! -e {go} ]; do sleep 0.05; done; "
                            f"unshare --net sh -c 'mount --bind /proc/self/ns/net {target}' && "
                            f"touch {mounted} && exec sleep 600"])
    mover = proc_factory(["sh", "-c", f"while [ ! -e {go} ]; do sleep 0.05; done; "
                                      f"touch {moved}; exec unshare --net sleep 600"])
    wait_until(lambda: ns_inode(mounter.pid, "mnt") != ns_inode(os.getpid(), "mnt"))
    host_net = ns_inode(os.getpid(), "net")

    first = collector.collect()
    assert collector.last_full
    assert view(first, "net", busy_inode) is not None

    # The changes.
    newcomer = proc_factory(["unshare", "--net", "--uts", "sleep", "600"])
    wait_until(lambda: ns_inode(newcomer.pid, "uts") != ns_inode(os.getpid(), "uts"))
    Path(go).touch()
    wait_until(mounted.exists)
    wait_until(lambda: moved.exists() and ns_inode(mover.pid, "net") != host_net)
    private_inode = os.stat(f"/proc/{mounter.pid}/root{target}").st_ino
    veth = unique("v")
    run("ip", "-n", busy, "link", "add", veth, "type", "veth", "peer", "name", veth + "p")
    run("ip", "netns", "exec", busy, "nft", "add table ip nsvt_t; "
        "add chain ip nsvt_t post { type nat hook postrouting priority 100; }; "
        "add rule ip nsvt_t post oifname lo masquerade")

    refreshed = collector.collect()
    for _ in range(3):  # a netns read can fail on a crowded host (diagnostics say why)
        cold = collect_snapshot(OPTIONS)
        if all(cold.namespace("net", i).net is not None for i in (busy_inode, quiet_inode)):
            break
    assert not collector.last_full
    assert collector.walk.reread < len(refreshed.processes) // 2  # it did not read all again

    # A newcomer in new namespaces.
    for ns_type in ("net", "uts"):
        inode = ns_inode(newcomer.pid, ns_type)
        assert view(refreshed, ns_type, inode) == view(cold, ns_type, inode) is not None
    # A netns held only by a mount made since, in a known process's mount namespace.
    got = view(refreshed, "net", private_inode)
    assert got is not None and ("bind_mount", 0, str(target)) in got[0]
    mount = next(h for h in refreshed.namespace("net", private_inode).holders
                 if h.kind == "bind_mount")
    assert os.stat(f"/proc/{mount.pid}/ns/mnt").st_ino == ns_inode(mounter.pid, "mnt")
    assert got[:3] == view(cold, "net", private_inode)[:3]
    # A known pid that is now in another netns.
    moved_to = ns_inode(mover.pid, "net")
    assert mover.pid in refreshed.namespace("net", moved_to).pids
    assert mover.pid not in refreshed.namespace("net", host_net).pids
    assert next(p for p in refreshed.processes if p.pid == mover.pid).ns["net"] == moved_to
    # A link and an nftables rule added in a known netns; the quiet one carried over.
    busy_view = view(refreshed, "net", busy_inode)
    assert veth in [i["name"] for i in busy_view[3]["interfaces"]]
    rules = [r["text"] for t in busy_view[3]["nat"] for c in t["chains"] for r in c["rules"]]
    assert any("masquerade" in r for r in rules)
    assert busy_view == view(cold, "net", busy_inode), [
        d for d in cold.diagnostics if str(busy_inode) in d.reason]
    assert view(refreshed, "net", quiet_inode) == view(cold, "net", quiet_inode)
    assert quiet_inode not in collector.network.last_read
    assert busy_inode in collector.network.last_read


def test_a_process_gone_and_a_netns_deleted_are_gone_after_a_refresh(
    collector, proc_factory, netns_factory
):
    name = netns_factory()
    inode = os.stat(f"/run/netns/{name}").st_ino
    p = proc_factory(["unshare", "--uts", "sleep", "600"])
    wait_until(lambda: ns_inode(p.pid, "uts") != ns_inode(os.getpid(), "uts"))
    uts = ns_inode(p.pid, "uts")
    first = collector.collect()
    assert first.namespace("net", inode) is not None and first.namespace("uts", uts) is not None
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    run("ip", "netns", "del", name)
    refreshed = collector.collect()
    assert refreshed.namespace("uts", uts) is None
    assert p.pid not in {proc.pid for proc in refreshed.processes}
    # Our watch let go of the deleted netns: nothing holds it any more.
    assert refreshed.namespace("net", inode) is None
    assert inode not in collector.network.watched


def test_every_nth_collection_reads_everything_again():
    collector = IncrementalCollector(CollectOptions(net=False, containers=False), full_every=2)
    try:
        seen = []
        for _ in range(4):
            snapshot = collector.collect()
            seen.append((collector.last_full, collector.walk.reread, len(snapshot.processes)))
        assert [full for full, _reread, _count in seen] == [True, False, True, False]
        for full, reread, count in seen:
            if full:
                assert reread >= count
            else:
                assert reread < count // 2
    finally:
        collector.close()


def test_an_unchanged_host_gives_the_same_snapshot_and_a_change_a_new_one(tmp_path):
    """On a fake /proc nothing changes unless the test says so: the refresh hands back
    the snapshot it gave before (the TUI then rebuilds nothing); a new process, a
    process in other namespaces and a changed mount table each give a new one."""
    from .test_collect_fakeproc import FakeProc

    fake = FakeProc(tmp_path / "proc")
    fake.process(10)
    fake.process(11, ns={"net": 4026532001})
    options = CollectOptions(proc=str(fake.root), net=False, containers=False)
    collector = IncrementalCollector(options)
    try:
        first = collector.collect()
        assert collector.collect() is first
        fake.process(12, ns={"uts": 4026532002})
        second = collector.collect()
        assert second is not first and second.namespace("uts", 4026532002).pids == [12]
        assert collector.walk.reread == 1
        link = fake.root / "11" / "ns" / "net"
        link.unlink()
        os.symlink("net:[4026532003]", link)
        third = collector.collect()
        assert third.namespace("net", 4026532003).pids == [11]
        assert third.namespace("net", 4026532001) is None
        assert collector.collect() is third
    finally:
        collector.close()


def test_the_first_look_is_quick_and_asks_for_more(proc_factory, tmp_path):
    collector = IncrementalCollector(CollectOptions(net=True, containers=False), first_look=True)
    try:
        quick = collector.collect()
        assert collector.more()
        assert all(ns.net is None for ns in quick.namespaces if ns.type == "net")
        assert os.getpid() in {p.pid for p in quick.processes}
        full = collector.collect()
        assert not collector.more() and collector.last_full
        host = full.namespace("net", ns_inode(os.getpid(), "net"))
        assert host.net is not None and host.net.interfaces
    finally:
        collector.close()


def test_a_process_whose_links_are_denied_is_not_read_again_while_still_denied():
    try:
        os.readlink("/proc/1/ns/net")
        pytest.skip("PID 1's links are readable here")
    except PermissionError:
        pass
    collector = IncrementalCollector(CollectOptions(net=False, containers=False))
    try:
        first = collector.collect()
        assert any(d.what == "namespaces" and 1 in d.pids for d in first.diagnostics)
        entry = collector.walk._known[1]  # kept though its links were denied
        collector.collect()
        assert collector.walk._known[1] is entry  # not read again: still there, still denied
        second = collector.collect()
        assert any(d.what == "namespaces" and 1 in d.pids for d in second.diagnostics)
    finally:
        collector.close()
