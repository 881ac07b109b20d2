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

from nsview.collect import procfs
from nsview.collect.mounts import (
    MountTableReader,
    NsfsScanner,
    merge_mounts,
    nsfs_device_field,
    parse_nsfs_lines,
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
    (b"net", b"4026532001", b"/run/netns/a"),
    (b"mnt", b"4026532002", b"/tmp/with\\040space"),
    (b"user", b"4026532003", b"/tmp/u"),
    (b"cgroup", b"4026532004", b"/tmp/c"),
    (b"time", b"4026532005", b"/tmp/t"),
]


def test_scan_finds_exactly_the_nsfs_lines():
    assert NsfsScanner(DEV).raw(TABLE) == EXPECTED
    assert parse_nsfs_lines(TABLE) == EXPECTED


def test_scan_gives_way_to_the_parser_where_it_would_be_wrong():
    # An nsfs line on another device (the scan misses it) and a non-nsfs line on
    # the nsfs device that looks like one (the scan would take it): the counts
    # disagree, so the exact parser decides.
    odd = TABLE + (
        b"40 22 0:9 ipc:[4026532006] /tmp/i rw - nsfs nsfs rw\n"
        b"41 22 0:4 pid:[12] /weird rw - tmpfs tmpfs rw\n"
    )
    want = [*EXPECTED, (b"ipc", b"4026532006", b"/tmp/i")]
    assert NsfsScanner(DEV).raw(odd) == want
    assert NsfsScanner(None).raw(odd) == want


def test_a_table_without_nsfs_is_not_scanned():
    assert NsfsScanner(DEV).raw(b"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n") == []


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
    mounts, read, denied = merge_mounts([(10, 1, first), (11, 1, None), (12, 2, []),
                                         (99, 3, ("gone",)), (98, 4, ("denied", "no"))])
    assert [m[3] for m in mounts] == [10] * 5
    assert read == {1, 2}
    assert denied == [(98, "no")]


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
        got = {(t.decode(), int(i), procfs.unescape_mountinfo(m.decode()))
               for t, i, m in scanner.raw(buf)}
        assert got == want, pid
        compared += 1
    assert compared >= 2
    reader = MountTableReader("/proc")
    entries = reader.read(holder.pid, os.stat(f"/proc/{holder.pid}/ns/mnt").st_ino)
    assert ("net", private_inode, str(target)) in entries
    assert str(target) not in Path("/proc/self/mountinfo").read_text()
