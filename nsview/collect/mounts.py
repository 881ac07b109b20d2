"""nsfs bind mounts in every mount namespace, each mount table read once and scanned in C.

A host where every process has its own mount namespace (``ip netns exec``
gives each a copy of the host's table) has a thousand tables of a hundred
nsfs lines each: ~10 MB of text. Splitting that into lines and fields in
Python cost more than lsns's whole run. Here each table's bytes are scanned
by one regular expression anchored on the nsfs device (``" 0:4 "``, a literal
the regex engine searches for fast) and ending at the line's ``" - nsfs "``,
which yields only (type, inode, mountpoint) of nsfs lines; a line that cannot
be nsfs is never looked at in Python. The count of ``" - nsfs "`` separators
checks the scan: where they disagree (an odd table), the exact line parser
decides. Tables copied from
one another give the same entries, and only entries not seen before are
turned into strings.

:class:`MountTableReader` runs inside the /proc walk (collect.parallel), so
the tables are read on both cores, once per mount namespace per process;
:func:`merge_mounts` keeps each (type, inode, mountpoint) once, with the
first process (in pid order) that sees it.

Import-light like collect.procfs: this runs in the walk's forked helper.
"""

from __future__ import annotations

import errno
import os

# What separates a mountinfo line's optional fields from its filesystem type.
NSFS_SEPARATOR = b" - nsfs "
_TYPES = b"cgroup|ipc|mnt|net|pid|time|user|uts"

Entry = tuple  # (type, inode, mountpoint): marshal-able, crosses the walk's pipe


def nsfs_device_field() -> bytes | None:
    """``b" MAJ:MIN "`` of the nsfs superblock (one per boot), or None where unknown."""
    try:
        dev = os.stat("/proc/self/ns/net").st_dev
    except OSError:
        return None
    return f" {os.major(dev)}:{os.minor(dev)} ".encode()


class NsfsScanner:
    """(type, inode, mountpoint) of every nsfs line of a mountinfo buffer."""

    def __init__(self, device_field: bytes | None = None) -> None:
        self._pattern = None
        if device_field:
            import re  # the console script pip writes has imported it already

            self._pattern = re.compile(
                re.escape(device_field) + rb"(" + _TYPES + rb"):\[(\d+)\] (\S+) [^\n]*? - nsfs "
            )

    def raw(self, buf: bytes) -> list[tuple[bytes, bytes, bytes]]:
        """The nsfs lines' (type, inode, escaped mountpoint) as bytes, in table order."""
        want = buf.count(NSFS_SEPARATOR)
        if not want:
            return []
        if self._pattern is not None:
            found = self._pattern.findall(buf)
            if len(found) == want:
                return found
        return parse_nsfs_lines(buf)


def parse_nsfs_lines(buf: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """The exact parser: split every nsfs line into its fields (the fallback of the scan)."""
    found = []
    for line in buf.split(b"\n"):
        if NSFS_SEPARATOR not in line:
            continue
        fields = line.split(b" ", 5)
        if len(fields) < 6:
            continue
        kind, bracket, rest = fields[3].partition(b":[")
        if bracket and rest.endswith(b"]") and rest[:-1].isdigit():
            found.append((kind, rest[:-1], fields[4]))
    return found


def decode_entry(raw: tuple[bytes, bytes, bytes]) -> Entry:
    kind, inode, mountpoint = raw
    return kind.decode(), int(inode), unescape(mountpoint)


def unescape(field: bytes) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    if b"\\" in field:
        out = bytearray()
        i = 0
        while i < len(field):
            if field[i] == 0x5C and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
                out.append(int(field[i + 1 : i + 4], 8))
                i += 4
            else:
                out.append(field[i])
                i += 1
        field = bytes(out)
    return field.decode("utf-8", "surrogateescape")


def read_mountinfo(path: str) -> bytes:
    """The whole table (a seq_file returns about a page per read).

    Raises OSError; EINVAL means the process is exiting (no mount namespace left).
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


class MountTableReader:
    """Reads each mount namespace's table once (per process) during the /proc walk.

    ``read(pid, mnt_inode)`` returns None when this mount namespace was read
    already here, ``("gone",)`` or ``("denied", reason)`` when this process's
    table could not be read (another process of the namespace may be tried),
    else the entries not seen in any table read here before.
    """

    def __init__(self, proc: str) -> None:
        self.proc = proc
        self.done: set[int] = set()
        self.seen: set[tuple[bytes, bytes, bytes]] = set()
        self._scanner: NsfsScanner | None = None

    def read(self, pid: int, mnt_inode: int):
        if mnt_inode in self.done:
            return None
        try:
            buf = read_mountinfo(f"{self.proc}/{pid}/mountinfo")
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                return ("denied", os.strerror(exc.errno))
            if exc.errno in (errno.ENOENT, errno.ESRCH, errno.EINVAL):
                return ("gone",)
            raise
        self.done.add(mnt_inode)
        if self._scanner is None:
            self._scanner = NsfsScanner(nsfs_device_field())
        found = self._scanner.raw(buf)
        if not found:
            return []
        fresh = set(found) - self.seen  # copies of a table give nothing new: no loop here
        if not fresh:
            return []
        self.seen |= fresh
        return [decode_entry(raw) for raw in dict.fromkeys(found) if raw in fresh]


def merge_mounts(tables) -> tuple[list[tuple[str, int, str, int]], set[int], list]:
    """Fold ``(pid, mnt_inode, result)`` (results of MountTableReader.read, in pid order).

    Returns the mounts ``(type, inode, mountpoint, pid)`` each once, the mount
    namespaces whose table was read, and ``(pid, reason)`` for denied reads.
    """
    mounts = []
    seen: set[tuple[str, int, str]] = set()
    read: set[int] = set()
    denied = []
    for pid, mnt_inode, result in tables:
        if result is None:
            continue
        if type(result) is tuple:
            if result[0] == "denied":
                denied.append((pid, result[1]))
            continue
        read.add(mnt_inode)
        for entry in result:
            if entry not in seen:
                seen.add(entry)
                mounts.append((*entry, pid))
    return mounts, read, denied
