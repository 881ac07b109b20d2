"""The /proc walk on a fake tree: grouping, threads, fds, mounts, races, denials.

The fake tree holds real files and symlinks whose targets read like nsfs links
("net:[4026532001]"); the nsfs ioctls find nothing to open there, which is
itself a case the collector must tolerate.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from nsview.collect import CollectOptions, collect_snapshot
from nsview.kernel import procfs
from nsview.model import NS_TYPES

HOST_NS = {t: 4026531830 + i for i, t in enumerate(NS_TYPES)}


class FakeProc:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(exist_ok=True)

    def process(
        self,
        pid: int,
        comm: str = "sleep",
        ppid: int = 1,
        uid: int = 0,
        ns: dict[str, int] | None = None,
        nspid: str | None = None,
        cmdline: list[str] | None = None,
        cgroup: str = "0::/system.slice/x.service\n",
        threads: dict[int, dict[str, int]] | None = None,
        fds: dict[int, str] | None = None,
        mountinfo: str = "",
        for_children: dict[str, int] | None = None,
        kthread: bool = False,
    ) -> Path:
        base = self.root / str(pid)
        (base / "ns").mkdir(parents=True)
        tids = {pid: {}, **(threads or {})}
        (base / "status").write_text(
            f"Name:\t{comm}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{pid}\n"
            f"Pid:\t{pid}\nPPid:\t{ppid}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
            f"NSpid:\t{nspid or pid}\nThreads:\t{len(tids)}\n"
            f"Kthread:\t{1 if kthread else 0}\n"
        )
        (base / "cmdline").write_bytes(
            b"".join(a.encode() + b"\0" for a in (cmdline if cmdline is not None else [comm]))
        )
        (base / "cgroup").write_text(cgroup)
        (base / "mountinfo").write_text(mountinfo)
        links = {**HOST_NS, **(ns or {})}
        self._links(base / "ns", links)
        for name, t in (("pid_for_children", "pid"), ("time_for_children", "time")):
            inode = (for_children or {}).get(t, links[t])
            os.symlink(f"{t}:[{inode}]", base / "ns" / name)
        for tid, extra in tids.items():
            tdir = base / "task" / str(tid) / "ns"
            tdir.mkdir(parents=True)
            self._links(tdir, {**links, **extra})
        (base / "fd").mkdir()
        for fd, target in (fds or {}).items():
            os.symlink(target, base / "fd" / str(fd))
        return base

    @staticmethod
    def _links(directory: Path, links: dict[str, int]) -> None:
        for t, inode in links.items():
            os.symlink(f"{t}:[{inode}]", directory / t)


@pytest.fixture
def fake(tmp_path: Path) -> FakeProc:
    return FakeProc(tmp_path / "proc")


def collect(fake: FakeProc):
    return collect_snapshot(CollectOptions(proc=str(fake.root), net=False))


def by_key(snapshot):
    return {(ns.type, ns.inode): ns for ns in snapshot.namespaces}


def test_processes_grouped_by_all_eight_types(fake):
    fake.process(10, comm="init", ppid=0)
    fake.process(20, comm="nginx", ppid=10, ns={"net": 5001, "uts": 5002, "pid": 5003},
                 nspid="20\t1", cmdline=["nginx", "-g", "daemon off;"])
    fake.process(21, comm="worker", ppid=20, ns={"net": 5001, "uts": 5002, "pid": 5003},
                 nspid="21\t2")
    snap = collect(fake)
    namespaces = by_key(snap)
    assert {t for t, _ in namespaces} == set(NS_TYPES)
    assert namespaces[("net", 5001)].pids == [20, 21]
    assert namespaces[("net", HOST_NS["net"])].pids == [10]
    assert namespaces[("ipc", HOST_NS["ipc"])].pids == [10, 20, 21]
    nginx = next(p for p in snap.processes if p.pid == 20)
    assert nginx.comm == "nginx"
    assert nginx.cmdline == ["nginx", "-g", "daemon off;"]
    assert nginx.nspid == [20, 1]
    assert nginx.ppid == 10
    assert nginx.uid == 0
    assert nginx.cgroup == "/system.slice/x.service"
    assert set(nginx.ns) == set(NS_TYPES)
    assert nginx.ns["net"] == 5001
    holder_kinds = {h.kind for h in namespaces[("net", 5001)].holders}
    assert holder_kinds == {"process"}


def test_thread_in_another_namespace_lists_process_and_thread(fake):
    fake.process(30, comm="agent", threads={31: {"net": 6001}, 32: {}})
    snap = collect(fake)
    ns = by_key(snap)[("net", 6001)]
    assert ns.pids == [30]
    assert [(h.kind, h.pid, h.tid) for h in ns.holders] == [("thread", 30, 31)]
    # the process itself still belongs to the host netns
    assert 30 in by_key(snap)[("net", HOST_NS["net"])].pids


def test_namespace_held_only_by_fd(fake):
    fake.process(40, fds={0: "/dev/null", 1: "pipe:[123]", 3: "net:[7001]", 4: "socket:[9]"})
    snap = collect(fake)
    ns = by_key(snap)[("net", 7001)]
    assert ns.pids == []
    assert [(h.kind, h.pid, h.fd) for h in ns.holders] == [("fd", 40, 3)]


def test_namespace_held_only_by_bind_mount_gets_its_netns_name(fake):
    mountinfo = (
        "22 1 0:21 / /proc rw,relatime - proc proc rw\n"
        "43 42 0:4 net:[8001] /run/netns/blue rw shared:2 - nsfs nsfs rw\n"
        "44 42 0:4 net:[8002] /var/run/docker/netns/1a2b3c rw - nsfs nsfs rw\n"
        "45 42 0:4 net:[8003] /srv/my\\040ns rw - nsfs nsfs rw\n"
    )
    fake.process(50, mountinfo=mountinfo)
    fake.process(51, mountinfo=mountinfo)  # same mount namespace: read once
    snap = collect(fake)
    namespaces = by_key(snap)
    assert namespaces[("net", 8001)].names == ["blue"]
    assert namespaces[("net", 8002)].names == ["1a2b3c"]
    unnamed = namespaces[("net", 8003)]
    assert unnamed.names == []
    assert [(h.kind, h.path) for h in unnamed.holders] == [("bind_mount", "/srv/my ns")]
    assert len(namespaces[("net", 8001)].holders) == 1


def test_mounts_read_per_mount_namespace(fake):
    """A netns mounted only inside a private mount namespace is found too."""
    fake.process(60, mountinfo="")
    fake.process(61, ns={"mnt": 9000},
                 mountinfo="50 40 0:4 net:[9001] /tmp/private rw - nsfs nsfs rw\n")
    snap = collect(fake)
    ns = by_key(snap)[("net", 9001)]
    assert [(h.kind, h.pid, h.path) for h in ns.holders] == [("bind_mount", 61, "/tmp/private")]


def test_pid_for_children_is_recorded(fake):
    fake.process(70, comm="unshare", for_children={"pid": 9100})
    snap = collect(fake)
    proc = snap.processes[0]
    assert proc.ns_for_children == {"pid": 9100}
    ns = by_key(snap)[("pid", 9100)]
    assert [(h.kind, h.pid) for h in ns.holders] == [("for_children", 70)]
    assert ns.pids == []


def test_vanished_process_is_skipped_with_a_diagnostic(fake):
    fake.process(80)
    (fake.root / "81").mkdir()  # exited: the directory lingers without files
    snap = collect(fake)
    assert [p.pid for p in snap.processes] == [80]
    gone = [d for d in snap.diagnostics if d.kind == "gone"]
    assert gone and gone[0].pids == [81]


def test_process_whose_ns_links_vanish_mid_read(fake):
    base = fake.process(85)
    for link in (base / "ns").iterdir():
        link.unlink()
    (base / "ns").rmdir()
    snap = collect(fake)
    assert [d.pids for d in snap.diagnostics if d.kind == "gone"] == [[85]]


def test_denied_namespaces_are_recorded_not_fatal(fake, monkeypatch):
    fake.process(1, comm="init", ppid=0)
    fake.process(90)
    real_readlink = os.readlink
    denied_dir = f"{fake.root}/1/ns/"

    def readlink(path, *args, **kwargs):
        if str(path).startswith(denied_dir):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_readlink(path, *args, **kwargs)

    monkeypatch.setattr(procfs.os, "readlink", readlink)
    snap = collect(fake)
    init = next(p for p in snap.processes if p.pid == 1)
    assert init.comm == "init" and init.ns == {}
    denied = [d for d in snap.diagnostics if d.kind == "denied"]
    assert [(d.what, d.pids) for d in denied] == [("namespaces", [1])]
    assert 90 in by_key(snap)[("net", HOST_NS["net"])].pids


def test_kernel_threads_share_the_initial_namespaces(fake):
    fake.process(2, comm="kthreadd", ppid=0, kthread=True, cmdline=[])
    fake.process(3, comm="kworker/0:0", ppid=2, kthread=True, cmdline=[])
    snap = collect(fake)
    assert all(p.kthread for p in snap.processes)
    assert by_key(snap)[("net", HOST_NS["net"])].pids == [2, 3]
    assert snap.processes[1].cmdline == []


def test_empty_or_missing_proc_root(tmp_path):
    snap = collect_snapshot(CollectOptions(proc=str(tmp_path / "nope"), net=False))
    assert snap.processes == [] and snap.namespaces == []
    assert snap.diagnostics[0].kind == "error"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0::/user.slice/session-1.scope\n", "/user.slice/session-1.scope"),
        ("12:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n", "/"),
        ("12:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n", "/docker/abc"),
        ("", None),
    ],
)
def test_parse_cgroup(text, expected):
    assert procfs.parse_cgroup(text) == expected


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("net:[4026531833]", ("net", 4026531833)),
        ("pid:[1]", ("pid", 1)),
        ("socket:[123]", None),
        ("pipe:[4]", None),
        ("net:[abc]", None),
        ("/run/netns/x", None),
        ("net:[12", None),
    ],
)
def test_parse_ns_link(link, expected):
    assert procfs.parse_ns_link(link) == expected


def test_unescape_mountinfo_octal():
    assert procfs.unescape_mountinfo(r"/a\040b\011c\134d") == "/a b\tc\\d"
    assert procfs.unescape_mountinfo("/plain") == "/plain"


@pytest.mark.parametrize(
    ("mountpoint", "name"),
    [
        ("/run/netns/blue", "blue"),
        ("/var/run/netns/red", "red"),
        ("/var/run/docker/netns/0123abcd", "0123abcd"),
        ("/tmp/x", None),
        ("/run/netns/", None),
    ],
)
def test_netns_name(mountpoint, name):
    assert procfs.netns_name(mountpoint) == name


def test_net_target_by_a_name_only_the_walk_knows():
    """``nsview net NAME`` for a name outside /run/netns (Docker's sandbox ids)."""
    from nsview.collect.target import NetTarget
    from nsview.errors import UsageError
    from nsview.model import Holder, Namespace, Snapshot

    blue = Namespace(type="net", inode=11, names=["blue"])
    twins = [Namespace(type="net", inode=i, names=["twin"]) for i in (12, 13)]
    snap = Snapshot(namespaces=[blue, *twins])
    assert NetTarget(name="blue").find(snap) is blue
    with pytest.raises(UsageError, match=r"'twin' matches 2 things: netns twin \(net:\[12\]\)"):
        NetTarget(name="twin").find(snap)
    with pytest.raises(UsageError, match=r"nothing named 'red' \(tried .*netns names"):
        NetTarget(name="red").find(snap)
    with pytest.raises(UsageError, match=r"nothing named 'twins' .*; close: twin"):
        NetTarget(name="twins").find(snap)
    # Held by nothing the walk saw: the path the user gave is the way in.
    hidden = NetTarget(14, "/x/nsvt").find(snap)
    assert hidden.holders == [Holder("bind_mount", path="/x/nsvt")] and hidden in snap.namespaces
    assert NetTarget(14, "/x/nsvt").find(snap) is hidden
