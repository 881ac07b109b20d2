"""The lab: a Docker- and Kubernetes-like host built from real namespaces.

Python API (the CLI ``nsview lab up|down|status|check`` and ``nsview --demo``
use exactly these; all need root):

- :func:`lab_up` builds the lab (idempotent) and returns its :class:`LabState`.
- :func:`lab_down` removes everything the lab made, also after a crash.
- :func:`lab_status` reports what exists, without changing anything.
- :func:`lab_check` probes every path with real traffic: ``list[CheckResult]``.
- :func:`demo_session` is a context manager: lab up on entry, lab down on exit,
  also on an exception, Ctrl-C (KeyboardInterrupt) or SIGTERM.

Layout, addresses and what each mode shows: docs/lab.md and ``topology.py``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from nsview.errors import NsviewError
from nsview.lab import system as sysx
from nsview.lab import topology as topo
from nsview.lab.check import CheckResult
from nsview.lab.state import StateFile, lab_lock

__all__ = [
    "CheckResult",
    "ContainerState",
    "LabState",
    "demo_session",
    "lab_check",
    "lab_down",
    "lab_status",
    "lab_up",
]


@dataclass(slots=True)
class ContainerState:
    """One lab process playing a container, a pod's pause/app, or a host daemon."""

    name: str
    comm: str
    mode: str  # bridge, host, container, none, user-bridge, overlay, macvlan, pod, daemon
    host: str  # lab host key: host1 | host2
    pid: int | None
    alive: bool
    ip: str | None = None
    id: str | None = None  # the fake container id (64 hex)
    hostname: str | None = None
    cgroup: str | None = None
    netns_inode: int | None = None


@dataclass(slots=True)
class LabState:
    """What the lab consists of right now.

    status: "up" (complete and every process alive), "partial" (a crashed or
    damaged lab: ``lab down`` cleans it) or "down" (nothing of the lab exists).
    changed: whether the call that returned this built something (``lab_up``).
    """

    status: str
    lab_id: str | None = None
    started: str | None = None
    state_file: str = topo.STATE_FILE
    changed: bool = False
    hosts: list[dict] = field(default_factory=list)
    containers: list[ContainerState] = field(default_factory=list)
    netns: list[dict] = field(default_factory=list)  # hidden/overlay/pod namespaces
    cgroup_root: str | None = None
    pod: dict | None = None
    # lab up --nodes: host key -> {hostname, address, pid, init, alive, ssh_config}
    nodes: dict[str, dict] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)  # planted by `lab break` (lab/faults.py)

    def container(self, name: str) -> ContainerState:
        for c in self.containers:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict:
        return asdict(self)


def _mounted_lab_paths() -> list[str]:
    return [p for p, _ in sysx.mount_points()
            if p.startswith(topo.RUN_DIR + "/") or
            p.startswith(f"{topo.NAMED_NETNS_DIR}/{topo.PREFIX}-") or
            p == f"{topo.NAMED_NETNS_DIR}/{topo.CNI_NETNS}"]


def _status(st: StateFile | None) -> LabState:
    if st is None:
        leftovers = sysx.marked_pids() or _mounted_lab_paths()
        if leftovers:
            return LabState("partial", problems=[
                "lab objects exist without a state file; run 'nsview lab down'"])
        return LabState("down")
    data = st.data
    lab = LabState("up", lab_id=data.get("lab_id"), started=data.get("started"),
                   cgroup_root=data.get("cgroup_root"), pod=data.get("pod"),
                   warnings=list(data.get("warnings", [])),
                   faults=sorted(data.get("faults") or {}))
    if data.get("corrupt"):
        lab.problems.append(f"state file {st.path} is unreadable")
    if not data.get("complete"):
        lab.problems.append("'lab up' did not finish (crashed or interrupted)")
    for host in topo.HOSTS:
        path = sysx.named_netns(host.netns)
        ino = sysx.netns_inode(path)
        lab.hosts.append({"name": host.key, "netns": path, "hostname": host.hostname,
                          "underlay_ip": host.underlay_ip, "inode": ino})
        if ino is None and data.get("complete"):
            lab.problems.append(f"lab host netns {path} is missing")
    for name, info in data.get("containers", {}).items():
        alive = sysx.alive(info.get("pid"), info.get("start"))
        ino = sysx.netns_inode(f"/proc/{info['pid']}/ns/net") if alive else None
        lab.containers.append(ContainerState(
            name=name, comm=info.get("comm", ""), mode=info.get("mode", ""),
            host=info.get("host", ""), pid=info.get("pid"), alive=alive, ip=info.get("ip"),
            id=info.get("id"), hostname=info.get("hostname"), cgroup=info.get("cgroup"),
            netns_inode=ino))
        if not alive:
            lab.problems.append(f"container '{name}' (pid {info.get('pid')}) is not running")
    mounted = {p for p, _ in sysx.mount_points()}
    for o in st.of_kind("nsmount"):
        holder = "bind mount"
        lab.netns.append({"path": o["path"], "holder": holder, "mounted": o["path"] in mounted,
                          "inode": sysx.netns_inode(o["path"])})
        if o["path"] not in mounted and data.get("complete"):
            lab.problems.append(f"netns bind mount {o['path']} is missing")
    for key, node in data.get("nodes", {}).items():
        alive = sysx.alive(node.get("pid"), node.get("start"))
        lab.nodes[key] = {**node, "alive": alive, "ssh_config": topo.SSH_CONFIG}
        if not alive:
            lab.problems.append(f"node {node.get('hostname')} (sshd) is not running")
    fd = data.get("fd_only_netns")
    if fd:
        path = f"/proc/{fd['pid']}/fd/{fd['fd']}"
        lab.netns.append({"path": path, "holder": "fd", "mounted": False,
                          "inode": sysx.netns_inode(path)})
    if lab.problems:
        lab.status = "partial"
    return lab


def lab_status() -> LabState:
    """What exists of the lab now (no changes; safe while another ``up`` runs)."""
    return _status(StateFile.load())


def lab_up(*, nodes: bool = False) -> LabState:
    """Build the lab and return its state.

    Idempotent: when a complete, healthy lab exists nothing is changed
    (``changed`` is False). A partial lab (crash, killed processes) is torn down
    and rebuilt. On any failure, including KeyboardInterrupt, everything made so
    far is removed again before the exception propagates. Raises NsviewError
    naming what is missing (root, a tool, a kernel link type, iptables nat).

    ``nodes``: each lab host is also a node reachable by ssh (its own pid, mount
    and uts namespaces, a real sshd on its underlay address; nsview.lab.nodes),
    for ``nsview fleet collect``. A lab that is up with the other setting is
    rebuilt.
    """
    sysx.preflight()
    if nodes:
        from nsview.lab.nodes import require_sshd

        require_sshd()
    from nsview.lab.down import teardown
    from nsview.lab.up import Builder

    with lab_lock():
        existing = StateFile.load()
        current = _status(existing)
        if current.status == "up" and bool(current.nodes) == nodes:
            return current
        if existing is not None or current.status != "down":
            rep = teardown(existing)
            if rep.problems:
                raise NsviewError("lab: could not clear the previous partial lab: "
                                  + "; ".join(rep.problems))
        st = StateFile.new(secrets.token_hex(8))
        st.save()
        try:
            Builder(st, nodes=nodes).build()
        except BaseException as exc:
            rep = teardown(st)
            if isinstance(exc, (NsviewError, OSError)):
                what = str(exc) if isinstance(exc, NsviewError) else f"lab: {exc}"
                extra = "" if not rep.problems else " (rollback left: " + \
                    "; ".join(rep.problems) + ")"
                raise NsviewError(f"{what}; partial lab rolled back{extra}") from exc
            raise
        st.data["complete"] = True
        st.save()
        lab = _status(st)
        lab.changed = True
        return lab


def _down():
    from nsview.lab.down import teardown

    if os.geteuid() != 0:
        raise NsviewError("nsview lab needs root (it removes namespaces, mounts and cgroups); "
                          "run it with sudo")
    with lab_lock():
        rep = teardown(StateFile.load())
    if rep.problems:
        raise NsviewError("lab down incomplete: " + "; ".join(rep.problems))
    return rep


def lab_down() -> None:
    """Remove every process, namespace, mount, cgroup and file of the lab.

    Works after a clean ``lab_up``, a crashed or half-finished one, and when
    nothing is up (then it does nothing). Raises NsviewError listing what could
    not be removed.
    """
    _down()


def lab_check() -> list[CheckResult]:
    """Probe every lab path with real traffic; one CheckResult per path.

    Raises NsviewError when the lab is not up.
    """
    from nsview.lab.check import run_checks

    if os.geteuid() != 0:
        raise NsviewError("nsview lab check needs root (it sends traffic inside lab "
                          "namespaces); run it with sudo")
    st = StateFile.load()
    lab = _status(st)
    if lab.status != "up" or st is None:
        raise NsviewError(f"lab is {lab.status}; run 'nsview lab up' first"
                          + (f" ({lab.problems[0]})" if lab.problems else ""))
    return run_checks(st)


@contextlib.contextmanager
def demo_session(*, keep_existing: bool = False) -> Iterator[LabState]:
    """Bring the lab up for the body of a ``with`` and take it down afterwards.

    The lab comes down on normal exit, on any exception, on KeyboardInterrupt
    (Ctrl-C), and on SIGTERM and SIGHUP (a closed terminal, a dropped SSH
    session), which are turned into SystemExit while the session runs, when
    entered from the main thread. While the lab comes down, a second signal
    (Ctrl-C pressed again, the hangup that follows a SIGTERM) no longer
    interrupts it. With ``keep_existing=True`` a lab that was already up before
    entry is left up on exit.
    """
    on_main = threading.current_thread() is threading.main_thread()
    previous: dict = {}
    if on_main:
        def _term(signum, _frame):
            raise SystemExit(128 + signum)

        previous = {sig: signal.signal(sig, _term) for sig in _END_SIGNALS}
    try:
        was_up = lab_status().status == "up"
        try:
            lab = lab_up()
            yield lab
        finally:
            if not (keep_existing and was_up):
                _down_undisturbed(on_main)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_END_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _down_undisturbed(on_main: bool) -> None:
    """lab_down, with SIGINT/SIGTERM/SIGHUP held off until it is done (a handler,
    not a blocked mask, so the commands it runs start with default dispositions)."""
    if not on_main:
        lab_down()
        return
    held: list[int] = []
    sigs = (signal.SIGINT, *_END_SIGNALS)
    saved = {sig: signal.signal(sig, lambda signum, _frame: held.append(signum))
             for sig in sigs}
    try:
        lab_down()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
