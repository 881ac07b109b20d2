"""The nsfs ioctls: who owns a namespace, who its parent is, what it is.

Each function takes an open fd on an nsfs file (``/proc/PID/ns/TYPE``, a bind
mount of one, or an fd returned by another of these ioctls).
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys

from nsview.kernel.nstypes import CLONE_FLAG_TYPES, HIERARCHICAL_TYPES

_NSIO = 0xB7
NS_GET_USERNS = (_NSIO << 8) | 0x1
NS_GET_PARENT = (_NSIO << 8) | 0x2
NS_GET_NSTYPE = (_NSIO << 8) | 0x3
NS_GET_OWNER_UID = (_NSIO << 8) | 0x4
NS_GET_ID = (2 << 30) | (8 << 16) | (_NSIO << 8) | 13  # _IOR(NSIO, 13, __u64), Linux 6.18+

# ioctls the running kernel rejects; asked once, then not again.
_UNSUPPORTED: set[int] = set()


def ns_type(fd: int) -> str | None:
    """The namespace type of an nsfs fd, or None if fd is not on nsfs."""
    try:
        flag = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        return None
    return CLONE_FLAG_TYPES.get(flag)


def open_related(fd: int, request: int) -> int | None:
    """An fd on the user namespace (NS_GET_USERNS) or parent (NS_GET_PARENT) of ``fd``.

    The caller closes it. None when there is none the caller may see: EPERM
    means the relative is outside the caller's user namespace tree, ENOTTY
    that the type has no parent.
    """
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


def describe(fd: int, ns_type: str) -> tuple[int, int | None, int | None, int | None, int | None]:
    """(dev, id, owner uid, owner fd, parent fd) of the ``ns_type`` namespace behind ``fd``.

    owner fd: its owning user namespace; parent fd: its parent, for pid
    namespaces (a user namespace's parent is its owner). Both are new fds the
    caller closes, or None where the kernel shows none; owner uid is for user
    namespaces only. OSError if an ioctl fails unexpectedly.
    """
    dev = os.fstat(fd).st_dev
    uid = owner_uid(fd) if ns_type == "user" else None
    nsid = ns_id(fd)
    owner_fd = open_related(fd, NS_GET_USERNS)
    parent_fd = None
    if ns_type in HIERARCHICAL_TYPES and ns_type != "user":
        try:
            parent_fd = open_related(fd, NS_GET_PARENT)
        except OSError:
            if owner_fd is not None:
                os.close(owner_fd)
            raise
    return dev, nsid, uid, owner_fd, parent_fd
