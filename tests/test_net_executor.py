"""The setns executor: tasks run inside their target and every thread comes home."""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time

import pytest

from nsview.kernel import netns as netns_mod
from nsview.kernel.netns import NetnsExecutor, NetnsGone, NetnsTarget, RestoreFailed

pytestmark = pytest.mark.privileged


def _inode(path: str) -> int:
    return os.stat(path).st_ino


def _subprocess_netns() -> int:
    out = subprocess.run(
        ["stat", "-L", "-c", "%i", "/proc/self/ns/net"], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


def _inside(entered) -> tuple[int, int, int]:
    """Where this thread is, and where a process it spawns is."""
    here = netns_mod.thread_netns_inode()
    spawned = _subprocess_netns() if random.random() < 0.1 else here
    return entered.inode, here, spawned


def test_hammer_with_targets_deleted_midway(netns_factory, proc_factory, monkeypatch):
    home = _inode("/proc/thread-self/ns/net")
    # Every setns a worker makes is recorded with where the thread was before it:
    # entries (even calls) must start from home, or a worker failed to return.
    before_setns: dict[str, list[int]] = {}
    real_setns = netns_mod._setns

    def recording_setns(fd: int) -> None:
        name = threading.current_thread().name
        before_setns.setdefault(name, []).append(netns_mod.thread_netns_inode())
        real_setns(fd)

    monkeypatch.setattr(netns_mod, "_setns", recording_setns)
    named = [netns_factory("x") for _ in range(6)]
    targets = [NetnsTarget(_inode(f"/run/netns/{n}"), (f"/run/netns/{n}",)) for n in named]
    # Namespaces held only by a process: they vanish when it is killed.
    sleepers = [proc_factory(["unshare", "--net", "sleep", "60"]) for _ in range(4)]
    for p in sleepers:
        for _ in range(100):
            if _inode(f"/proc/{p.pid}/ns/net") != home:
                break
            time.sleep(0.01)
        path = f"/proc/{p.pid}/ns/net"
        targets.append(NetnsTarget(_inode(path), (path,)))

    # A bystander thread keeps checking it never moves while the pool works.
    stop = threading.Event()
    bystander_seen: set[int] = set()

    def bystander() -> None:
        while not stop.is_set():
            bystander_seen.add(netns_mod.thread_netns_inode())

    watcher = threading.Thread(target=bystander)
    watcher.start()
    done = gone = 0
    try:
        with NetnsExecutor(workers=4) as pool:
            futures = []
            for i in range(600):
                futures.append(pool.submit(targets[i % len(targets)], _inside))
                if i == 200:
                    subprocess.run(["ip", "netns", "del", named[0]], check=True)
                    os.kill(sleepers[0].pid, 9)
                    sleepers[0].wait()
                if i == 400:
                    subprocess.run(["ip", "netns", "del", named[1]], check=True)
                    os.kill(sleepers[1].pid, 9)
                    sleepers[1].wait()
            for fut in futures:
                try:
                    wanted, here, spawned = fut.result(timeout=60)
                except NetnsGone:
                    gone += 1
                    continue
                assert here == wanted
                assert spawned == wanted
                done += 1
            assert pool.retired == []
            assert netns_mod.thread_netns_inode() == home
    finally:
        stop.set()
        watcher.join()
    assert done > 0
    assert len(before_setns) == 4
    for calls in before_setns.values():
        assert calls[0::2] == [home] * len(calls[0::2])
        assert home not in calls[1::2]
    assert gone > 0, "some targets were deleted mid-way: their late tasks must say so"
    assert bystander_seen == {home}
    assert _inode("/proc/thread-self/ns/net") == home
    assert _inode("/proc/self/ns/net") == home
    assert _subprocess_netns() == home
    assert not any(t.name.startswith("nsview-netns") for t in threading.enumerate())


def test_path_reused_by_another_namespace_is_refused(netns_factory):
    name = netns_factory()
    path = f"/run/netns/{name}"
    stale = NetnsTarget(_inode(path) + 1, (path,))  # as if the path now held another netns
    with NetnsExecutor(workers=1) as pool, pytest.raises(NetnsGone, match="now net:"):
        pool.submit(stale, _inside).result(timeout=10)


def test_task_error_reaches_caller_and_worker_still_comes_home(netns_factory):
    name = netns_factory()
    target = NetnsTarget(_inode(f"/run/netns/{name}"), (f"/run/netns/{name}",))
    home = _inode("/proc/thread-self/ns/net")

    def boom(entered):
        raise ValueError("inside")

    def where(entered):
        return netns_mod.thread_netns_inode()

    with NetnsExecutor(workers=1) as pool:
        with pytest.raises(ValueError, match="inside"):
            pool.submit(target, boom).result(timeout=10)
        assert pool.submit(target, where).result(timeout=10) == target.inode
        assert pool.retired == []
    assert _inode("/proc/thread-self/ns/net") == home


def test_worker_that_cannot_return_is_retired_and_replaced(netns_factory, monkeypatch):
    name = netns_factory()
    target = NetnsTarget(_inode(f"/run/netns/{name}"), (f"/run/netns/{name}",))
    real_go_home = netns_mod._Worker._go_home
    calls = {"n": 0}

    def failing_once(home_fd, home_inode):
        calls["n"] += 1
        if calls["n"] == 1:
            return False  # as if setns back home had failed: the thread is now suspect
        return real_go_home(home_fd, home_inode)

    monkeypatch.setattr(netns_mod._Worker, "_go_home", staticmethod(failing_once))
    broken: list[threading.Thread] = []

    def note_thread(entered):
        broken.append(threading.current_thread())
        return netns_mod.thread_netns_inode()

    with NetnsExecutor(workers=1) as pool:
        with pytest.raises(RestoreFailed, match="retired"):
            pool.submit(target, note_thread).result(timeout=10)
        assert len(pool.retired) == 1
        assert pool.submit(target, note_thread).result(timeout=10) == target.inode
        assert broken[0] is not broken[1], "a retired thread must never run another task"
        broken[0].join(timeout=10)
        assert not broken[0].is_alive()


def test_leaving_on_an_exception_cancels_tasks_not_started(netns_factory):
    name = netns_factory()
    target = NetnsTarget(_inode(f"/run/netns/{name}"), (f"/run/netns/{name}",))
    started = threading.Event()
    release = threading.Event()

    def slow(entered):
        started.set()
        release.wait(10)
        return netns_mod.thread_netns_inode()

    futures = []
    with pytest.raises(KeyboardInterrupt), NetnsExecutor(workers=1) as pool:
        futures = [pool.submit(target, slow) for _ in range(50)]
        started.wait(10)
        release.set()
        raise KeyboardInterrupt
    assert futures[0].result(timeout=10) == target.inode
    assert sum(f.cancelled() for f in futures) >= 45


def test_workers_that_cannot_start_do_not_respawn_forever(netns_factory, monkeypatch):
    name = netns_factory()
    target = NetnsTarget(_inode(f"/run/netns/{name}"), (f"/run/netns/{name}",))
    real_open = os.open

    def no_thread_self(path, *args, **kw):
        if path == "/proc/thread-self/ns/net":
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kw)

    monkeypatch.setattr(netns_mod.os, "open", no_thread_self)
    pool = NetnsExecutor(workers=2)
    try:
        future = pool.submit(target, lambda entered: 1)
        with pytest.raises(RestoreFailed, match="no worker left"):
            future.result(timeout=10)
        assert len(pool.retired) == 2 + 4 * 2
    finally:
        pool.shutdown()
    assert not any(t.name.startswith("nsview-netns") for t in threading.enumerate())
