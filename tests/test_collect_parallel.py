"""The shared /proc walk: a forked helper and the caller split one list (collect.parallel)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

from nsview.collect.parallel import MIN_ITEMS_TO_SHARE, SharedWalk
from nsview.kernel import procfs


def tag(item):
    return (os.getpid(), item)


def my_children() -> set[int]:
    found: set[int] = set()
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/children") as f:
            found.update(int(pid) for pid in f.read().split())
    return found


def slow_tag(item):
    time.sleep(0.0005)  # long enough that the helper is surely running before the end
    return tag(item)


def test_both_processes_read_and_every_item_comes_back_once_in_order():
    items = list(range(1000))
    out = SharedWalk(slow_tag, items).start().finish()
    assert [item for _pid, item in out] == items
    assert {pid for pid, _item in out} - {os.getpid()}, "the helper read nothing"
    assert os.getpid() in {pid for pid, _item in out}


def test_no_item_is_lost_or_repeated_where_the_two_meet():
    """Many short walks, so the two sides often race for the same item."""
    items = list(range(MIN_ITEMS_TO_SHARE))
    for _ in range(30):
        out = SharedWalk(tag, items).start().finish()
        assert [item for _pid, item in out] == items


def test_a_helper_started_early_reads_before_the_caller_joins():
    walk = SharedWalk(tag, list(range(300))).start()
    time.sleep(0.3)  # the caller is busy elsewhere (the CLI: importing)
    out = walk.finish()
    readers = [pid for pid, _item in out]
    assert readers.count(os.getpid()) < 10, "the helper should have read nearly everything"


def test_the_caller_reads_the_helpers_part_when_the_helper_dies():
    parent = os.getpid()

    def work(item):
        if os.getpid() != parent:
            os._exit(3)  # the helper dies without answering
        return item * 2

    items = list(range(500))
    assert SharedWalk(work, items).start().finish() == [i * 2 for i in items]


def test_cancel_kills_and_reaps_the_helper():
    before = my_children()
    walk = SharedWalk(lambda item: time.sleep(0.01), list(range(1000))).start()
    assert my_children() - before, "no helper was forked"
    walk.cancel()
    walk.cancel()  # twice is harmless
    assert my_children() - before == set()


class Stop(Exception):
    pass


def test_a_check_that_raises_stops_the_walk_and_its_helper():
    before = my_children()
    calls = []

    def check():
        calls.append(1)
        if len(calls) == 3:
            raise Stop()

    walk = SharedWalk(lambda item: time.sleep(0.001), list(range(2000))).start()
    assert my_children() - before, "no helper was forked"
    try:
        walk.finish(check)
    except Stop:
        pass
    else:
        raise AssertionError("the check's exception must come through")
    assert my_children() - before == set()
    # inline (no helper) too
    calls.clear()
    try:
        SharedWalk(tag, list(range(500))).finish(check)
    except Stop:
        assert len(calls) == 3
    else:
        raise AssertionError("the check's exception must come through")


def test_small_lists_and_threaded_callers_read_inline():
    small = list(range(10))
    assert SharedWalk(tag, small).start().finish() == [(os.getpid(), i) for i in small]
    import threading

    result = []
    thread = threading.Thread(
        target=lambda: result.extend(SharedWalk(tag, list(range(1000))).start().finish())
    )
    thread.start()
    thread.join()
    assert {pid for pid, _item in result} == {os.getpid()}


def test_shared_walk_matches_a_walk_in_one_process(proc_factory):
    """Both processes read what one process reading everything reads."""
    for _ in range(3):
        proc_factory(["unshare", "--net", "sleep", "600"])
    pids = procfs.list_pids("/proc") * 3  # enough items to fork
    assert len(pids) >= MIN_ITEMS_TO_SHARE

    def namespaces(tuples):
        return [(values[0], values[10]) for values in tuples]  # pid, type -> inode

    inline = namespaces(record.as_tuple() for record in procfs.read_tasks("/proc", pids))
    shared = namespaces(SharedWalk(procfs.TaskReader("/proc"), pids).start().finish())
    after = namespaces(record.as_tuple() for record in procfs.read_tasks("/proc", pids))
    assert len(shared) == len(inline)
    # On a busy host processes come and go, or change namespaces, between the walks:
    # compare those that read the same before and after the shared walk.
    stable = [i for i, (a, b) in enumerate(zip(inline, after, strict=True)) if a == b]
    assert len(stable) >= len(inline) // 2
    assert [shared[i] for i in stable] == [inline[i] for i in stable]


def test_a_dump_that_fails_to_parse_leaves_no_helper_behind(monkeypatch):
    """``nsview dump`` starts the walk before parsing; a usage error must stop it."""
    from nsview.cli import main

    before = my_children()
    monkeypatch.setattr(sys, "argv", ["nsview", "dump", "--no-such-option"])
    try:
        main()
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("a usage error must exit 2")
    assert my_children() - before == set()


def test_dump_as_a_program_starts_its_walk_before_loading_the_rest():
    """Run as the program, ``dump`` forks its helper before argparse and the
    model load, and its output is the whole snapshot."""
    code = textwrap.dedent("""
        import sys
        from nsview.collect import parallel
        start = parallel.SharedWalk.start
        def spy(self):
            heavy = ("argparse", "typing", "dataclasses", "nsview.model")
            heavy = [name for name in heavy if name in sys.modules]
            print(f"walk started; loaded before it: {heavy}", file=sys.stderr)
            return start(self)
        parallel.SharedWalk.start = spy
        sys.argv = ["nsview", "dump", "--json", "--no-net"]
        from nsview.cli import main
        main()
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stderr.count("walk started") == 1, result.stderr
    assert "walk started; loaded before it: []" in result.stderr
    pids = {p["pid"] for p in json.loads(result.stdout)["processes"]}
    assert os.getpid() in pids and len(pids) > 10


def test_task_records_cross_the_pipe_whole():
    """TaskRecord(*record.as_tuple()) rebuilds the record: FIELDS, the slots and
    __init__'s parameters name the same fields in the same order."""
    import inspect

    from nsview.kernel.procfs import TaskRecord

    assert tuple(inspect.signature(TaskRecord).parameters) == TaskRecord.FIELDS
    record = TaskRecord(7, comm="x", ns={"net": 1}, fd_refs=[(3, "net", 2)], threads=3)
    again = TaskRecord(*record.as_tuple())
    assert all(getattr(again, f) == getattr(record, f) for f in TaskRecord.FIELDS)
