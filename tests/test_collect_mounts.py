"""The fast nsfs scan of mount tables agrees with the exact line parser.

Unit tests on crafted tables (odd lines that look like nsfs, escapes, a table
where the scan must give way to the parser), then the real thing: every mount
namespace on this host, and a netns bind-mounted only inside a private mount
namespace, scanned and parsed both ways.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from nsview.collect.namespaces import Diagnostics, MountTables, NamespaceTable, walk_mounts
from nsview.kernel import procfs
from nsview.kernel.mountinfo import (
    MountTableReader,
    NsfsScanner,
    entry,
    nsfs_device_field,
    nsfs_line_tokens,
    read_mountinfo,
)

from .conftest import unique

DEV = b" 0:4 "

TABLE = (
    b"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    b"30 22 0:4 net:[4026532001] /run/netns/a rw shared:5 - nsfs nsfs rw\n"
    # a directory named like an nsfs root is bind-mounted: its root starts with "/"
    b"31 22 8:1 /srv/net:[77] /mnt/x rw - ext4 /dev/sda1 rw\n"
    b"32 22 0:4 mnt:[4026532002] /tmp/with\\040space rw - nsfs nsfs rw\n"
    b"33 22 0:4 user:[4026532003] /tmp/u rw master:3 - nsfs nsfs rw\n"
    b"34 22 0:4 cgroup:[4026532004] /tmp/c rw - nsfs nsfs rw\n"
    b"35 22 0:4 time:[4026532005] /tmp/t rw - nsfs nsfs rw\n"
)

EXPECTED = [
    ("net", 4026532001, "/run/netns/a"),
    ("mnt", 4026532002, "/tmp/with space"),
    ("user", 4026532003, "/tmp/u"),
    ("cgroup", 4026532004, "/tmp/c"),
    ("time", 4026532005, "/tmp/t"),
]


def scanned(scanner: NsfsScanner, buf: bytes) -> list:
    return [entry(token) for token in scanner.tokens(buf)]


def test_scan_finds_exactly_the_nsfs_lines():
    assert scanned(NsfsScanner(DEV), TABLE) == EXPECTED
    assert [entry(token) for token in nsfs_line_tokens(TABLE)] == EXPECTED


def test_tokens_leave_out_the_mount_ids():
    copy = TABLE.replace(b"30 22 0:4", b"930 922 0:4")
    assert NsfsScanner(DEV).tokens(copy) == NsfsScanner(DEV).tokens(TABLE)


def test_scan_gives_way_to_the_parser_where_it_would_be_wrong():
    # An nsfs line on another device (the scan misses it) and a non-nsfs line on
    # the nsfs device that looks like one (the scan would take it): the counts
    # disagree, so the exact parser decides.
    odd = TABLE + (
        b"40 22 0:9 ipc:[4026532006] /tmp/i rw - nsfs nsfs rw\n"
        b"41 22 0:4 pid:[12] /weird rw - tmpfs tmpfs rw\n"
    )
    want = [*EXPECTED, ("ipc", 4026532006, "/tmp/i")]
    assert scanned(NsfsScanner(DEV), odd) == want
    assert scanned(NsfsScanner(None), odd) == want


def test_a_table_without_nsfs_is_not_scanned():
    assert NsfsScanner(DEV).tokens(b"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n") == []


def test_reader_reads_each_mount_namespace_once_and_reports_new_entries(tmp_path):
    proc = tmp_path / "proc"
    for pid in (10, 11, 12):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "mountinfo").write_bytes(TABLE)
    reader = MountTableReader(str(proc))
    first = reader.read(10, 1)
    assert [entry[:2] for entry in first] == [
        ("net", 4026532001), ("mnt", 4026532002), ("user", 4026532003),
        ("cgroup", 4026532004), ("time", 4026532005),
    ]
    assert first[1][2] == "/tmp/with space"
    assert reader.read(11, 1) is None  # the same mount namespace
    assert reader.read(12, 2) == []  # a copy of the table: nothing new
    assert reader.read(99, 3) == ("gone",)


def test_walk_mounts_keeps_each_mount_once_and_retries_a_namespace_the_walk_missed(tmp_path):
    proc = tmp_path / "proc"
    (proc / "13").mkdir(parents=True)
    (proc / "13" / "mountinfo").write_bytes(
        b"50 40 0:4 net:[9001] /tmp/private rw - nsfs nsfs rw\n"
    )
    tables = MountTables()
    tables.results = [(10, 1, [("net", 7, "/run/netns/a")]),
                      (12, 2, [("net", 7, "/run/netns/a")]),  # the same mount, seen from a copy
                      (98, 4, ("denied", "Permission denied")),
                      (99, 3, ("gone",))]
    tables.pids = {1: [10], 2: [12], 3: [99, 13], 4: [98]}
    table, diags = NamespaceTable(str(proc)), Diagnostics()
    paths = walk_mounts(str(proc), tables, table, diags)
    assert paths == {"/run/netns/a", "/tmp/private"}
    assert [(h.kind, h.pid, h.path) for h in table.by_key[("net", 7)].holders] == [
        ("bind_mount", 10, "/run/netns/a")]
    assert table.by_key[("net", 7)].names == ["a"]
    # mnt 3: the walk's process exited, another one of it is read here
    assert [(h.pid, h.path) for h in table.by_key[("net", 9001)].holders] == [
        (13, "/tmp/private")]
    # mnt 4: denied to its only process
    assert [(d.kind, d.what, d.pids) for d in diags.items()] == [
        ("denied", "mountinfo", [98]), ("error", "mountinfo", [])]


def full_reader_entries(buf: bytes) -> set[tuple[str, int, str]]:
    text = buf.decode("utf-8", "surrogateescape")
    return {(m.ns_type, m.inode, m.mountpoint) for m in procfs.parse_nsfs_mounts(text, 0)}


@pytest.mark.privileged
def test_every_mount_namespace_here_scans_as_the_full_reader_parses(proc_factory, tmp_path):
    target = tmp_path / f"{unique()}-net"
    target.touch()
    ready = tmp_path / "ready"
    script = (
        f"unshare --net sh -c 'mount --bind /proc/self/ns/net {target}' && "
        f"touch {ready} && exec sleep 600"
    )
    holder = proc_factory(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
    deadline = time.monotonic() + 10
    while not ready.exists():
        assert time.monotonic() < deadline, "the private bind mount was not made"
        time.sleep(0.05)
    private_inode = os.stat(f"/proc/{holder.pid}/root{target}").st_ino
    scanner = NsfsScanner(nsfs_device_field())
    by_mnt: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                by_mnt.setdefault(os.stat(f"/proc/{name}/ns/mnt").st_ino, int(name))
            except OSError:
                continue
    compared = 0
    for pid in by_mnt.values():
        try:
            buf = read_mountinfo(f"/proc/{pid}/mountinfo")
        except OSError:
            continue  # exited meanwhile
        # One read parsed both ways: other jobs add and remove mounts all the time.
        want = full_reader_entries(buf)
        got = set(scanned(scanner, buf))
        assert got == want, pid
        compared += 1
    assert compared >= 2
    reader = MountTableReader("/proc")
    entries = reader.read(holder.pid, os.stat(f"/proc/{holder.pid}/ns/mnt").st_ino)
    assert ("net", private_inode, str(target)) in entries
    assert str(target) not in Path("/proc/self/mountinfo").read_text()
