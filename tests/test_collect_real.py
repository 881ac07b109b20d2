"""The collector against real namespaces: each kind of holder is found.

Every process started here runs in its own session and is killed by the
``proc_factory`` fixture; named netns and mount points are removed in finally.
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

from nsview.collect import CollectOptions, collect_snapshot

from .conftest import run, unique

pytestmark = pytest.mark.privileged


def snapshot():
    return collect_snapshot(CollectOptions(net=False))


def ns_inode(pid: int, ns_type: str) -> int:
    return os.stat(f"/proc/{pid}/ns/{ns_type}").st_ino


def wait_until(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def child_pids(pid: int) -> list[int]:
    out = run("pgrep", "-P", str(pid), check=False).stdout.split()
    return [int(p) for p in out]


def find(snap, ns_type: str, inode: int):
    for ns in snap.namespaces:
        if ns.type == ns_type and ns.inode == inode:
            return ns
    raise AssertionError(f"{ns_type}:[{inode}] not in snapshot")


def test_processes_in_new_namespaces_are_grouped(proc_factory):
    p = proc_factory(["unshare", "--net", "--uts", "--ipc", "--mount", "--cgroup",
                      "sleep", "600"])
    wait_until(lambda: ns_inode(p.pid, "uts") != ns_inode(os.getpid(), "uts"))
    snap = snapshot()
    proc = next(x for x in snap.processes if x.pid == p.pid)
    assert proc.comm == "sleep" and proc.cmdline == ["sleep", "600"]
    for ns_type in ("net", "uts", "ipc", "mnt", "cgroup"):
        ns = find(snap, ns_type, ns_inode(p.pid, ns_type))
        assert ns.pids == [p.pid]
        assert proc.ns[ns_type] == ns.inode
        assert ns.owner == ns_inode(os.getpid(), "user")
    # shared with us: the user and pid namespaces
    assert proc.ns["pid"] == ns_inode(os.getpid(), "pid")
    assert len(proc.ns) == 8


def test_named_netns_has_its_name_and_bind_mount_holder(netns_factory):
    name = netns_factory()
    inode = os.stat(f"/run/netns/{name}").st_ino
    ns = find(snapshot(), "net", inode)
    assert name in ns.names
    assert ns.pids == []
    assert ("bind_mount", f"/run/netns/{name}") in [(h.kind, h.path) for h in ns.holders]


def test_netns_held_only_by_an_fd(proc_factory):
    # A python process opens the netns of a short-lived unshare child, which then exits.
    holder = proc_factory([sys.executable, "-c", textwrap.dedent("""
        import os, subprocess, sys, time
        child = subprocess.Popen(["unshare", "--net", "sleep", "600"])
        while os.readlink(f"/proc/{child.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            time.sleep(0.01)
        fd = os.open(f"/proc/{child.pid}/ns/net", os.O_RDONLY)
        child.kill(); child.wait()
        print(fd, os.fstat(fd).st_ino, flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    fd, inode = map(int, holder.stdout.readline().split())
    ns = find(snapshot(), "net", inode)
    assert ns.pids == []
    assert [(h.kind, h.pid, h.fd) for h in ns.holders] == [("fd", holder.pid, fd)]


def test_fd_opened_through_a_bind_mount_is_found(netns_factory, proc_factory):
    """Such an fd's link reads as the mount path, not net:[…]; after `ip netns del`
    it reads "/" — both must still be recognised as the namespace."""
    name = netns_factory()
    path = f"/run/netns/{name}"
    inode = os.stat(path).st_ino
    holder = proc_factory([sys.executable, "-c", textwrap.dedent(f"""
        import os, time
        fd = os.open({path!r}, os.O_RDONLY)
        print(fd, flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    fd = int(holder.stdout.readline())
    ns = find(snapshot(), "net", inode)
    assert ("fd", holder.pid, fd, path) in [(h.kind, h.pid, h.fd, h.path) for h in ns.holders]
    run("ip", "netns", "del", name)
    ns = find(snapshot(), "net", inode)
    assert [(h.kind, h.pid, h.fd) for h in ns.holders] == [("fd", holder.pid, fd)]
    assert ns.names == []


def test_netns_bind_mounted_only_inside_a_private_mount_namespace(proc_factory, tmp_path):
    target = tmp_path / f"{unique()}-net"
    target.touch()
    ready = tmp_path / "ready"
    # The outer shell owns a private mount namespace; an inner unshare makes a netns,
    # bind-mounts it there and exits, so only that mount keeps the netns alive.
    script = (
        f"unshare --net sh -c 'mount --bind /proc/self/ns/net {target}' && "
        f"touch {ready} && exec sleep 600"
    )
    p = proc_factory(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
    wait_until(ready.exists)
    mountinfo = Path(f"/proc/{p.pid}/mountinfo").read_text()
    line = next(x for x in mountinfo.splitlines() if str(target) in x)
    inode = int(line.split()[3].split("[")[1].rstrip("]"))
    assert str(target) not in Path("/proc/self/mountinfo").read_text()
    ns = find(snapshot(), "net", inode)
    assert ns.pids == []
    assert [(h.kind, h.pid, h.path) for h in ns.holders] == [("bind_mount", p.pid, str(target))]


def test_nested_user_and_pid_namespaces(proc_factory):
    p = proc_factory(["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc",
                      "unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc",
                      "sleep", "600"])
    # unshare(outer) -> unshare(inner, pid 1 of ns1) -> unshare -> sleep
    def innermost():
        pids = run("pgrep", "-s", str(p.pid), "-x", "sleep", check=False).stdout.split()
        return int(pids[0]) if pids else None
    sleeper = wait_until(innermost)
    snap = snapshot()
    proc = next(x for x in snap.processes if x.pid == sleeper)
    assert len(proc.nspid) == 3 and proc.nspid[0] == sleeper and proc.nspid[-1] == 1
    inner_user = find(snap, "user", proc.ns["user"])
    outer_user = find(snap, "user", inner_user.parent)
    host_user = ns_inode(os.getpid(), "user")
    assert outer_user.parent == host_user
    assert inner_user.owner == outer_user.inode
    assert inner_user.owner_uid == 0 and outer_user.owner_uid == 0
    inner_pid = find(snap, "pid", proc.ns["pid"])
    outer_pid = find(snap, "pid", inner_pid.parent)
    assert outer_pid.parent == ns_inode(os.getpid(), "pid")
    # a pid namespace is owned by the user namespace it was created in
    assert inner_pid.owner == inner_user.inode
    assert outer_pid.owner == outer_user.inode


def test_owner_held_by_nothing_but_its_child_namespace(proc_factory):
    """A user namespace whose last process left is still found, as the owner of
    the user namespace its child lives in (the walk cannot see it; the
    relations pass adopts it through the ioctl)."""
    p = proc_factory(["unshare", "--user", "--map-root-user", "sh", "-c",
                      "unshare --user --map-root-user sleep 600 & echo $!"],
                     stdout=subprocess.PIPE, text=True)
    sleeper = int(p.stdout.readline())
    p.wait()  # the outer namespace's only process is gone; the sleeper is orphaned
    try:
        snap = snapshot()
        proc = next(x for x in snap.processes if x.pid == sleeper)
        inner = find(snap, "user", proc.ns["user"])
        outer = find(snap, "user", inner.owner)
        assert outer.pids == [] and outer.holders == []
        assert outer.parent == ns_inode(os.getpid(), "user")
        assert outer.owner_uid == 0 and outer.dev == inner.dev
    finally:
        os.kill(sleeper, 9)


def test_a_cancelled_collection_stops_and_leaves_nothing_running(netns_factory):
    """``cancelled`` is asked during the walk and between network namespaces."""
    import threading

    from nsview.errors import Cancelled

    for _ in range(3):
        netns_factory("cancel")
    threads_before = threading.active_count()
    with pytest.raises(Cancelled):
        collect_snapshot(CollectOptions(net=False, cancelled=lambda: True))
    asked_while_reading_networks = []

    def once_networks_are_read():
        reading = any(t.name.startswith("nsview-netns-") for t in threading.enumerate())
        if reading:
            asked_while_reading_networks.append(1)
        return reading

    with pytest.raises(Cancelled):
        collect_snapshot(CollectOptions(net=True, cancelled=once_networks_are_read))
    assert asked_while_reading_networks
    assert threading.active_count() == threads_before  # the netns workers are gone


def test_thread_in_another_netns(proc_factory):
    p = proc_factory([sys.executable, "-c", textwrap.dedent("""
        import ctypes, os, threading, time
        libc = ctypes.CDLL(None, use_errno=True)
        CLONE_NEWNET = 0x40000000
        def worker():
            assert libc.unshare(CLONE_NEWNET) == 0, ctypes.get_errno()
            print(threading.get_native_id(), os.stat("/proc/thread-self/ns/net").st_ino,
                  flush=True)
            time.sleep(600)
        threading.Thread(target=worker, daemon=True).start()
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    tid, inode = map(int, p.stdout.readline().split())
    snap = snapshot()
    ns = find(snap, "net", inode)
    assert ns.pids == [p.pid]
    assert [(h.kind, h.pid, h.tid) for h in ns.holders] == [("thread", p.pid, tid)]
    proc = next(x for x in snap.processes if x.pid == p.pid)
    assert proc.ns["net"] == ns_inode(os.getpid(), "net")
    assert proc.threads == 2


def test_pid_for_children(proc_factory):
    # unshare --pid without --fork: the shell's children land in a new pid namespace
    p = proc_factory(["unshare", "--pid", "sh", "-c", "sleep 600 & wait"])
    def for_children():
        try:  # ENOENT until the new namespace has its init (the first child)
            link = os.readlink(f"/proc/{p.pid}/ns/pid_for_children")
        except FileNotFoundError:
            return None
        return link != os.readlink(f"/proc/{p.pid}/ns/pid") and int(link[5:-1])
    inode = wait_until(for_children)
    sleeper = wait_until(lambda: child_pids(p.pid))[0]
    snap = snapshot()
    proc = next(x for x in snap.processes if x.pid == p.pid)
    assert proc.ns_for_children == {"pid": inode}
    ns = find(snap, "pid", inode)
    assert ("for_children", p.pid) in [(h.kind, h.pid) for h in ns.holders]
    assert sleeper in ns.pids
    assert ns.parent == ns_inode(os.getpid(), "pid")


def test_pid_1_denial_is_a_diagnostic_not_a_failure():
    """This machine's PID 1 denies /proc/1/ns/*; elsewhere it is simply read."""
    try:
        os.readlink("/proc/1/ns/net")
        denied = False
    except PermissionError:
        denied = True
    snap = snapshot()
    init = next(p for p in snap.processes if p.pid == 1)
    flagged = any(d.kind == "denied" and 1 in d.pids for d in snap.diagnostics)
    assert flagged == denied
    assert (init.ns == {}) == denied


def test_finds_everything_lsns_finds(proc_factory, netns_factory):
    proc_factory(["unshare", "--net", "--uts", "sleep", "600"])
    netns_factory()

    def lsns() -> set[tuple[str, int]]:
        out = json.loads(run("lsns", "-J").stdout)
        return {(n["type"], int(n["ns"])) for n in out["namespaces"]}

    def ours() -> set[tuple[str, int]]:
        return {(ns.type, ns.inode) for ns in snapshot().namespaces}

    # Other tests' namespaces may come and go between the runs: only a namespace
    # that lsns reports before and after nsview's walks counts as missed.
    before = lsns()
    found = ours()
    missed = (before - found) & lsns() - ours()
    assert not missed


def test_fd_links_read_by_count_match_the_listing(proc_factory):
    """Reading fds 0..n-1 by the fd directory's size gives what listing gives, gaps included."""
    from nsview.kernel import procfs

    gap = textwrap.dedent("""
        import os, time
        for _ in range(3):
            os.open("/dev/null", os.O_RDONLY)
        ns = os.open("/proc/self/ns/net", os.O_RDONLY)
        os.close(ns - 2)  # a gap below the last fd
        print(ns, flush=True)
        time.sleep(600)
    """)
    plain = proc_factory(["sleep", "600"])
    holder = proc_factory([sys.executable, "-c", gap], stdout=subprocess.PIPE, text=True)
    ns_fd = int(holder.stdout.readline())
    for pid in (plain.pid, holder.pid):
        fd_dir = f"/proc/{pid}/fd"
        listed = sorted(int(name) for name in os.listdir(fd_dir))
        got = procfs.read_fd_links("/proc", pid)
        assert [fd for fd, _link in got] == listed
        assert got == [(fd, os.readlink(f"{fd_dir}/{fd}")) for fd in listed]
    assert ns_fd - 2 not in listed
    assert dict(got)[ns_fd].startswith("net:[")


def test_mountinfo_of_an_exiting_process_is_gone_not_an_error(proc_factory):
    """A zombie (or a process exiting mid-walk) has no mount namespace: EINVAL means gone."""
    from nsview.kernel import procfs

    parent = proc_factory(["sh", "-c", "sleep 0 & exec sleep 600"])  # never reaps its child

    def zombie():
        for pid in procfs.list_pids("/proc"):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == parent.pid:
                return pid
        return None

    pid = wait_until(zombie)
    with pytest.raises(procfs.Gone):
        procfs.read_nsfs_mounts("/proc", pid)
    snapshot()  # and the walk copes
