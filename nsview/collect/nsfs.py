"""The nsfs ioctls: who owns a namespace, who its parent is, what it is.

Each function takes an open fd on an nsfs file (``/proc/PID/ns/TYPE``, a bind
mount of one, or an fd returned by another of these ioctls).
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys

_NSIO = 0xB7
NS_GET_USERNS = (_NSIO << 8) | 0x1
NS_GET_PARENT = (_NSIO << 8) | 0x2
NS_GET_NSTYPE = (_NSIO << 8) | 0x3
NS_GET_OWNER_UID = (_NSIO << 8) | 0x4
NS_GET_ID = (2 << 30) | (8 << 16) | (_NSIO << 8) | 13  # _IOR(NSIO, 13, __u64), Linux 6.18+

# CLONE_NEW* flag -> type name, as NS_GET_NSTYPE returns them.
CLONE_FLAG_TYPES: dict[int, str] = {
    0x02000000: "cgroup",
    0x08000000: "ipc",
    0x00020000: "mnt",
    0x40000000: "net",
    0x20000000: "pid",
    0x00000080: "time",
    0x10000000: "user",
    0x04000000: "uts",
}

# ioctls the running kernel rejects; asked once, then not again.
_UNSUPPORTED: set[int] = set()


def ns_type(fd: int) -> str | None:
    """The namespace type of an nsfs fd, or None if fd is not on nsfs."""
    try:
        flag = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        return None
    return CLONE_FLAG_TYPES.get(flag)


def related_ns(fd: int, request: int) -> tuple[int, int] | None:
    """(inode, dev) of the user namespace (NS_GET_USERNS) or parent (NS_GET_PARENT).

    None when there is none the caller may see: EPERM means the relative is
    outside the caller's user namespace tree, ENOTTY that the type has no parent.
    """
    try:
        rel_fd = fcntl.ioctl(fd, request)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.ENOTTY, errno.EINVAL, errno.ENOENT):
            return None
        raise
    try:
        st = os.fstat(rel_fd)
        return st.st_ino, st.st_dev
    finally:
        os.close(rel_fd)


def open_related(fd: int, request: int) -> int | None:
    """Like :func:`related_ns` but returns the new fd (caller closes it)."""
    try:
        return fcntl.ioctl(fd, request)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.ENOTTY, errno.EINVAL, errno.ENOENT):
            return None
        raise


def owner_uid(fd: int) -> int | None:
    """The uid that created a user namespace (NS_GET_OWNER_UID)."""
    buf = bytearray(4)  # a uid_t, filled in by the kernel
    try:
        fcntl.ioctl(fd, NS_GET_OWNER_UID, buf, True)
    except OSError:
        return None
    return int.from_bytes(buf, sys.byteorder)


def ns_id(fd: int) -> int | None:
    """The kernel's 64-bit namespace id (never reused, unlike inodes), or None."""
    if NS_GET_ID in _UNSUPPORTED:
        return None
    buf = bytearray(8)  # a __u64
    try:
        fcntl.ioctl(fd, NS_GET_ID, buf, True)
    except OSError as exc:
        if exc.errno in (errno.ENOTTY, errno.EINVAL):
            _UNSUPPORTED.add(NS_GET_ID)
        return None
    return int.from_bytes(buf, sys.byteorder)
