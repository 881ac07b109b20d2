"""Labels and lookups over a hand-built snapshot."""

from __future__ import annotations

from nsview.analyze.filters import filter_snapshot
from nsview.analyze.index import SnapshotIndex
from nsview.model import Holder, Namespace, Process, Snapshot

HOST = {"net": 100, "pid": 200, "user": 300, "uts": 400}


def snapshot() -> Snapshot:
    procs = [
        Process(pid=2, ppid=0, comm="kthreadd", kthread=True, ns=dict(HOST)),
        Process(pid=10, ppid=1, comm="containerd-shim", ns=dict(HOST)),
        Process(pid=11, ppid=10, comm="nginx", ns={**HOST, "net": 101, "uts": 401}),
        Process(pid=12, ppid=11, comm="worker", ns={**HOST, "net": 101, "uts": 401}),
        Process(pid=20, ppid=1, comm="holder", ns=dict(HOST)),
        Process(pid=30, ppid=1, comm="unshare", ns=dict(HOST), ns_for_children={"pid": 201}),
    ]
    namespaces = [
        Namespace("net", 100, pids=[2, 10, 20, 30], holders=[Holder("process", pid=2)]),
        Namespace("net", 101, pids=[11, 12], holders=[Holder("process", pid=11)]),
        Namespace("net", 102, holders=[Holder("fd", pid=20, fd=7)]),
        Namespace("net", 103, names=["blue"], holders=[Holder("bind_mount", pid=2,
                                                              path="/run/netns/blue")]),
        Namespace("net", 104, holders=[Holder("bind_mount", pid=2, path="/srv/x")]),
        Namespace("pid", 201, holders=[Holder("for_children", pid=30)]),
        Namespace("uts", 401, pids=[11, 12]),
    ]
    return Snapshot(namespaces=namespaces, processes=procs)


def test_labels_name_what_a_person_would_look_for():
    index = SnapshotIndex(snapshot())
    label = {(ns.type, ns.inode): index.label(ns) for ns in index.snapshot.namespaces}
    assert label[("net", 100)] == "host"
    assert label[("net", 101)] == "nginx (11)"  # the container's init, not its worker
    assert label[("net", 102)] == "fd 7 of holder (20)"
    assert label[("net", 103)] == "blue"
    assert label[("net", 104)] == "/srv/x"
    assert label[("pid", 201)] == "children of unshare (30)"


def test_children_and_main_process():
    index = SnapshotIndex(snapshot())
    assert index.children[10] == [11]
    assert index.children[0] == [2, 10, 20, 30]  # parents outside the snapshot
    assert index.main_process(index.namespace("uts", 401)).pid == 11


def test_filter_by_pid_keeps_its_namespaces_with_all_members():
    snap = filter_snapshot(snapshot(), pids=(12,))
    assert [p.pid for p in snap.processes] == [12]
    assert {(ns.type, ns.inode) for ns in snap.namespaces} == {("net", 101), ("uts", 401)}
    assert snap.namespaces[0].pids == [11, 12]


def test_filter_by_pid_includes_namespaces_held_by_fd():
    snap = filter_snapshot(snapshot(), pids=(20,))
    assert ("net", 102) in {(ns.type, ns.inode) for ns in snap.namespaces}


def test_filter_by_type():
    snap = filter_snapshot(snapshot(), types=("uts",))
    assert [(ns.type, ns.inode) for ns in snap.namespaces] == [("uts", 401)]
    assert len(snap.processes) == 6
