"""Tear the lab down (``nsview lab down``), from the state file and by sweeping.

Works after a clean ``up``, a crashed or half-finished one, or a lost state
file: processes are found by their recorded pid+start time *and* by the
environment marker every lab process carries; mounts by their recorded paths
*and* by location (under /run/nsview-lab, or /run/netns/nsvlab-*); cgroups by
walking the lab's own subtree. Links, addresses, routes and iptables rules live
only inside lab network namespaces and vanish with them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass, field

from nsview.lab import system as sysx
from nsview.lab import topology as topo
from nsview.lab.state import StateFile


@dataclass(slots=True)
class TeardownReport:
    processes: int = 0
    mounts: int = 0
    cgroups: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)
    # Killed, but still in /proc when ``lab down`` stopped waiting: zombies their
    # parent has not reaped yet (PID 1 here reaps slowly), "pid N (parent P)".
    exiting: list[str] = field(default_factory=list)

    @property
    def removed_anything(self) -> bool:
        return bool(self.processes or self.mounts or self.cgroups or self.files)


def _lab_mount(point: str, recorded: set[str]) -> bool:
    if point in recorded or point.startswith(topo.RUN_DIR + "/"):
        return True
    if point == f"{topo.NAMED_NETNS_DIR}/{topo.CNI_NETNS}":
        return True
    return point.startswith(f"{topo.NAMED_NETNS_DIR}/{topo.PREFIX}-")


def teardown(st: StateFile | None) -> TeardownReport:
    rep = TeardownReport()
    objects = st.objects if st else []
    _kill_processes(objects, rep)

    recorded = {o["path"] for o in objects if o.get("kind") in ("nsmount", "netns") and
                o.get("path")}
    for point, _fstype in reversed(sysx.mount_points()):
        if not _lab_mount(point, recorded):
            continue
        proc = sysx.run(["umount", point], check=False)
        if proc.returncode != 0:
            proc = sysx.run(["umount", "-l", point], check=False)
        if proc.returncode == 0:
            rep.mounts += 1
        else:
            rep.problems.append(f"could not unmount {point}: {proc.stderr.strip()}")
    # files of named lab netns whose mount never happened (crash between touch and mount)
    if os.path.isdir(topo.NAMED_NETNS_DIR):
        for name in os.listdir(topo.NAMED_NETNS_DIR):
            if name.startswith(f"{topo.PREFIX}-") or name == topo.CNI_NETNS:
                recorded.add(f"{topo.NAMED_NETNS_DIR}/{name}")
    for path in sorted(recorded):
        if os.path.lexists(path) and not path.startswith(topo.RUN_DIR + "/"):
            try:
                os.unlink(path)
                rep.files += 1
            except OSError as exc:
                rep.problems.append(f"could not remove {path}: {exc.strerror}")

    _remove_cgroups(st, objects, rep)
    _remove_run_dir(rep)
    return rep


def _kill_processes(objects: list[dict], rep: TeardownReport) -> None:
    targets: dict[int, int | None] = {}
    for o in objects:
        if (o.get("kind") == "process" and o.get("pid")
                and sysx.alive(o["pid"], o.get("start"))):
            targets[o["pid"]] = o.get("start")
    for pid in sysx.marked_pids():
        if pid != os.getpid():
            targets.setdefault(pid, sysx.start_time(pid))
    for pid in targets:
        try:
            os.kill(pid, signal.SIGKILL)
            rep.processes += 1
        except ProcessLookupError:
            pass
    _wait_gone(targets, rep)


def _wait_gone(targets: dict[int, int | None], rep: TeardownReport,
               timeout: float = 10) -> None:
    """Wait until every killed process has left /proc, not merely died.

    A killed process stays in /proc as a zombie until its parent reaps it. Our own
    children (a lab started from this process) are reaped here; the lab's daemons
    were reparented to PID 1 (or a subreaper), which reaps when it gets to it —
    seconds on this machine — so those are waited for, and named in
    ``rep.exiting`` if the wait runs out.
    """
    me = os.getpid()
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for pid, start in targets.items():
            state = sysx.proc_state(pid, start)
            if state is None:
                continue
            if state[0] == "Z" and state[1] == me:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                if sysx.proc_state(pid, start) is None:
                    continue
            left.append((pid, *state))
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    running = [pid for pid, st, _ppid in left if st != "Z"]
    if running:
        rep.problems.append(f"processes still alive after SIGKILL: {running}")
    rep.exiting = [f"pid {pid} (a zombie; parent {ppid} has not reaped it)"
                   for pid, st, ppid in left if st == "Z"]


def _remove_cgroups(st: StateFile | None, objects: list[dict], rep: TeardownReport) -> None:
    roots = set()
    if st and st.data.get("cgroup_root"):
        roots.add(st.data["cgroup_root"])
    found = sysx.cgroup2_root()
    if found:
        roots.add(os.path.join(found, topo.CGROUP_DIR_NAME))
    dirs = [o["path"] for o in objects if o.get("kind") == "cgroup" and o.get("path")]
    for root in roots:
        if os.path.isdir(root):
            for dirpath, _dirnames, _files in os.walk(root, topdown=False):
                dirs.append(dirpath)
    # deepest first; each at most once
    for path in sorted(set(dirs), key=lambda p: p.count("/"), reverse=True):
        if not os.path.isdir(path):
            continue
        for attempt in range(50):
            try:
                os.rmdir(path)
                rep.cgroups += 1
                break
            except OSError as exc:
                if attempt == 49:
                    rep.problems.append(f"could not remove cgroup {path}: {exc.strerror}")
                time.sleep(0.02)


def _remove_run_dir(rep: TeardownReport) -> None:
    if not os.path.isdir(topo.RUN_DIR):
        return
    still = [p for p, _ in sysx.mount_points() if p.startswith(topo.RUN_DIR + "/")]
    if still:
        rep.problems.append(f"left {topo.RUN_DIR} in place: still mounted {still}")
        return
    for _dirpath, dirnames, filenames in os.walk(topo.RUN_DIR):
        rep.files += len(filenames) + len(dirnames)
    # The state file goes last: remove the rest first, so a failure keeps the record.
    for entry in os.listdir(topo.RUN_DIR):
        path = os.path.join(topo.RUN_DIR, entry)
        if path == topo.STATE_FILE:
            continue
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            rep.problems.append(f"could not remove {path}: {exc.strerror}")
    if rep.problems:
        return
    try:
        if os.path.exists(topo.STATE_FILE):
            os.unlink(topo.STATE_FILE)
        os.rmdir(topo.RUN_DIR)
    except FileNotFoundError:
        pass
    except OSError as exc:
        rep.problems.append(f"could not remove {topo.RUN_DIR}: {exc.strerror}")
