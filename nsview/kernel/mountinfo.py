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

:class:`WalkReader` reads a process and, the first time its mount namespace
is met, that namespace's table: inside the /proc walk (collect.parallel), so
the tables are read on both cores, once per mount namespace per process.
collect.namespaces keeps each (type, inode, mountpoint) once, with the first
process (in pid order) that sees it.

Import-light like procfs (``re`` only once a table has nsfs lines, and the
console script pip writes has imported it already): this runs in the walk's
forked helper, which starts before the rest of nsview has loaded.
"""

from __future__ import annotations

import errno
import os

from nsview.kernel.nstypes import NS_TYPES
from nsview.kernel.procfs import TaskReader

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
    """The nsfs lines of a mountinfo buffer, as tokens (bytes) that dedupe by value.

    A token is a line from its device field on: ``b" 0:4 net:[N] /mp opts - nsfs "``.
    It leaves out the mount ids, so the same mount seen from copies of a table
    gives equal tokens, and only tokens not seen before need :func:`entry`.
    """

    def __init__(self, device_field: bytes | None = None) -> None:
        self._pattern = None
        if device_field:
            import re

            self._pattern = re.compile(
                re.escape(device_field) + rb"(?:" + _TYPES + rb"):\[\d+\] \S+ [^\n]*? - nsfs "
            )

    def tokens(self, buf: bytes) -> list[bytes]:
        """One token per nsfs line, in table order."""
        want = buf.count(NSFS_SEPARATOR)
        if not want:
            return []
        if self._pattern is not None:
            found = self._pattern.findall(buf)
            if len(found) == want:
                return found
        return nsfs_line_tokens(buf)


def nsfs_line_tokens(buf: bytes) -> list[bytes]:
    """The exact way (the fallback of the scan): every line with the nsfs separator."""
    found = []
    for line in buf.split(b"\n"):
        if NSFS_SEPARATOR in line:
            fields = line.split(b" ", 2)
            if len(fields) == 3:
                found.append(b" " + fields[2])
    return found


def entry(token: bytes) -> Entry | None:
    """(type, inode, mountpoint) of a token; None if its root is not ``TYPE:[INODE]``."""
    fields = token.split(None, 3)
    if len(fields) < 3:
        return None
    kind, bracket, rest = fields[1].partition(b":[")
    if not (bracket and rest.endswith(b"]") and rest[:-1].isdigit()):
        return None
    return kind.decode(), int(rest[:-1]), unescape(fields[2])


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

    def __init__(self, proc: str, watch: MountWatch | None = None) -> None:
        self.proc = proc
        self.done: set[int] = set()
        self.seen: set[bytes] = set()
        self.watch = watch
        self._scanner: NsfsScanner | None = None

    def read(self, pid: int, mnt_inode: int):
        if mnt_inode in self.done:
            return None
        watch = self.watch
        found = watch.unchanged(mnt_inode) if watch is not None else None
        if found is None:
            try:
                found = self._read(pid, mnt_inode)
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.EPERM):
                    return ("denied", os.strerror(exc.errno))
                if exc.errno in (errno.ENOENT, errno.ESRCH, errno.EINVAL):
                    return ("gone",)
                raise
        self.done.add(mnt_inode)
        if not found:
            return []
        fresh = set(found) - self.seen  # copies of a table give nothing new: no loop here
        if not fresh:
            return []
        self.seen |= fresh
        entries = (entry(token) for token in dict.fromkeys(found) if token in fresh)
        return [e for e in entries if e is not None]

    def _read(self, pid: int, mnt_inode: int) -> list[bytes]:
        if self._scanner is None:
            self._scanner = NsfsScanner(nsfs_device_field())
        if self.watch is None:
            return self._scanner.tokens(read_mountinfo(f"{self.proc}/{pid}/mountinfo"))
        return self.watch.read(self.proc, pid, mnt_inode, self._scanner)


class MountWatch:
    """Mount tables kept open between collections; ``poll()`` tells which changed.

    The kernel marks an open mountinfo file readable with POLLERR|POLLPRI once
    its mount namespace's table changes, so an unchanged table costs no read
    at all. An open table pins its mount namespace (and its inode, so the
    mapping cannot go stale): :meth:`keep_only` closes the tables of
    namespaces the last walk did not meet.
    """

    def __init__(self) -> None:
        self._tables: dict[int, tuple[int, list[bytes]]] = {}  # mnt inode -> (fd, tokens)
        self._changed: set[int] = set()
        self.reads = 0  # tables read since the last poll()
        self._canonical: dict[bytes, bytes] = {}  # one object per distinct token

    def __len__(self) -> int:
        return len(self._tables)

    def poll(self, everything: bool = False) -> None:
        """Ask the kernel, once for all tables, which changed since they were read
        (``everything``: count them all as changed, to read them all again)."""
        self.reads = 0
        if everything:
            self._changed = set(self._tables)
            return
        import select

        poller = select.poll()
        by_fd = {}
        for mnt_inode, (fd, _tokens) in self._tables.items():
            poller.register(fd, select.POLLPRI | select.POLLERR)
            by_fd[fd] = mnt_inode
        self._changed = {by_fd[fd] for fd, _events in poller.poll(0)}

    def unchanged(self, mnt_inode: int) -> list[bytes] | None:
        """The tokens of a watched table that did not change, else None (read it)."""
        table = self._tables.get(mnt_inode)
        if table is None or mnt_inode in self._changed:
            return None
        return table[1]

    def read(self, proc: str, pid: int, mnt_inode: int, scanner: NsfsScanner) -> list[bytes]:
        """Read (again, through the open file, when watched) and remember a table."""
        self.reads += 1
        table = self._tables.pop(mnt_inode, None)
        if table is not None:
            fd = table[0]
            os.lseek(fd, 0, os.SEEK_SET)
        else:
            fd = os.open(f"{proc}/{pid}/mountinfo", os.O_RDONLY | os.O_CLOEXEC)
        try:
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
        except OSError:
            os.close(fd)
            raise
        tokens = scanner.tokens(b"".join(chunks))
        canonical = self._canonical
        tokens = list(map(canonical.setdefault, tokens, tokens))
        self._tables[mnt_inode] = (fd, tokens)
        self._changed.discard(mnt_inode)
        return tokens

    def keep_only(self, mnt_inodes) -> None:
        """Close the tables of every other mount namespace."""
        for mnt_inode in set(self._tables) - set(mnt_inodes):
            os.close(self._tables.pop(mnt_inode)[0])
        live = {token for _fd, tokens in self._tables.values() for token in tokens}
        if len(live) < len(self._canonical):
            self._canonical = {token: token for token in live}

    def close(self) -> None:
        self.keep_only(())


class WalkReader:
    """One item of the /proc walk: ``(TaskRecord tuple, mount table result)``.

    The mount table result is MountTableReader.read's for the process's mount
    namespace (None for kernel threads, whose namespace is the host's and is
    read through a user process, and when the links were not readable).
    ``types``, ``details`` as TaskReader's; ``mount_tables=False`` reads none
    (the caller reads the few it needs).
    """

    def __init__(
        self,
        proc: str,
        watch: MountWatch | None = None,
        types: tuple[str, ...] = NS_TYPES,
        details: frozenset[int] | None = None,
        mount_tables: bool = True,
    ) -> None:
        if mount_tables and "mnt" not in types:
            types = (*types, "mnt")  # to read each mount namespace's table once
        self.tasks = TaskReader(proc, types, details)
        self.mounts = MountTableReader(proc, watch)
        self.mount_tables = mount_tables

    def __call__(self, pid: int) -> tuple:
        record = self.tasks.read(pid)
        ns = record.ns
        mounts = None
        if self.mount_tables and ns is not None and not record.kthread and "mnt" in ns:
            mounts = self.mounts.read(pid, ns["mnt"])
        return record.as_tuple(), mounts
