"""Collections that read less (dump --type/--pid, nsview net TARGET) find the same things.

Each shortcut is compared with the full collection, filtered afterwards, on
real namespaces held in every way the shortcut could miss: by a bind mount in
a private mount namespace only, by an fd only, by a thread, by a process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nsview.analyze.filters import filter_snapshot
from nsview.collect import CollectOptions, collect_snapshot
from nsview.collect.target import NetTarget

from .conftest import nsview_bin, run, unique

pytestmark = pytest.mark.privileged

NO_NET = CollectOptions(net=False, containers=False)


def wait_until(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def holders(snapshot, ns_type: str, inode: int):
    ns = snapshot.namespace(ns_type, inode)
    assert ns is not None, f"{ns_type}:[{inode}] missing"
    return sorted((h.kind, h.pid or 0, h.fd or 0, h.path or "") for h in ns.holders), ns.names


@pytest.fixture
def hidden_netns(proc_factory, tmp_path):
    """(inode held only by a private bind mount, inode held only by an fd, holder pids)."""
    target = tmp_path / f"{unique()}-net"
    target.touch()
    ready = tmp_path / "ready"
    mounter = proc_factory(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            f"unshare --net sh -c 'mount --bind /proc/self/ns/net {target}' && "
                            f"touch {ready} && exec sleep 600"])
    wait_until(ready.exists)
    mounted = os.stat(f"/proc/{mounter.pid}/root{target}").st_ino
    opener = proc_factory([sys.executable, "-c", textwrap.dedent("""
        import os, subprocess, time
        child = subprocess.Popen(["unshare", "--net", "sleep", "600"])
        while os.readlink(f"/proc/{child.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            time.sleep(0.01)
        fd = os.open(f"/proc/{child.pid}/ns/net", os.O_RDONLY)
        child.kill()
        child.wait()
        print(fd, os.fstat(fd).st_ino, flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    _fd, held = map(int, opener.stdout.readline().split())
    return mounted, held, (mounter.pid, opener.pid)


def test_type_net_reads_less_and_finds_every_net_namespace(hidden_netns, netns_factory):
    mounted, held, _pids = hidden_netns
    named = os.stat(f"/run/netns/{netns_factory()}").st_ino
    short = collect_snapshot(CollectOptions(net=False, containers=False, types=("net",)))
    full = filter_snapshot(collect_snapshot(NO_NET), types=("net",))
    # net, and the user namespaces that own them (filter_snapshot drops those)
    assert {ns.type for ns in short.namespaces} <= {"net", "user"}
    for inode in (mounted, held, named):
        assert holders(short, "net", inode) == holders(full, "net", inode)
    assert all(set(p.ns) == {"net"} for p in short.processes if p.ns)
    me = next(p for p in short.processes if p.pid == os.getpid())
    assert me.cmdline == next(p for p in full.processes if p.pid == os.getpid()).cmdline


def test_pid_reads_the_details_of_that_process_only(proc_factory):
    p = proc_factory(["unshare", "--uts", "sleep", "600"])
    wait_until(lambda: os.readlink(f"/proc/{p.pid}/ns/uts") != os.readlink("/proc/self/ns/uts"))
    short = collect_snapshot(CollectOptions(net=False, containers=False, detail_pids=(p.pid,)))
    full = collect_snapshot(NO_NET)
    mine = next(x for x in short.processes if x.pid == p.pid)
    assert mine == next(x for x in full.processes if x.pid == p.pid)
    assert mine.cmdline == ["sleep", "600"]
    uts = mine.ns["uts"]
    assert holders(short, "uts", uts) == holders(full, "uts", uts)
    others = [x for x in short.processes if x.pid != p.pid and not x.kthread]
    assert others and all(x.cmdline == [] for x in others)  # not read: not shown


def test_one_netns_reads_it_like_the_full_collection(netns_factory):
    name = netns_factory()
    inode = os.stat(f"/run/netns/{name}").st_ino
    run("ip", "-n", name, "link", "set", "lo", "up")
    run("ip", "-n", name, "link", "add", "nsvtsa", "type", "veth", "peer", "name", "nsvtsb")
    one = collect_snapshot(CollectOptions(containers=False,
                                          net_target=NetTarget(inode, f"/run/netns/{name}")))
    full = collect_snapshot(CollectOptions(containers=False))
    a, b = one.namespace("net", inode), full.namespace("net", inode)
    assert a.names == b.names == [name]
    assert [h for h in a.holders if h.kind == "bind_mount"] == [
        h for h in b.holders if h.kind == "bind_mount" and h.path.startswith("/run/netns/")]
    assert [i.name for i in a.net.interfaces] == [i.name for i in b.net.interfaces]
    assert a.net.routes == b.net.routes and a.net.nat == b.net.nat


def test_nsview_net_by_name_and_pid_through_the_cli(netns_factory, proc_factory):
    name = netns_factory()
    inode = os.stat(f"/run/netns/{name}").st_ino
    out = json.loads(run(nsview_bin(), "net", name, "--json").stdout)
    assert out["inode"] == inode and out["names"] == [name]
    p = proc_factory(["ip", "netns", "exec", name, "sleep", "600"])
    wait_until(lambda: os.stat(f"/proc/{p.pid}/ns/net").st_ino == inode)
    out = json.loads(run(nsview_bin(), "net", str(p.pid), "--json").stdout)
    assert out["inode"] == inode and p.pid in out["pids"] and out["names"] == [name]
    assert Path(f"/proc/{p.pid}").exists()
