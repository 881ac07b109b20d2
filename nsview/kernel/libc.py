"""The few system calls Python 3.11's ``os`` lacks: setns, unshare, mount, umount2, prctl.

nsview's one ctypes binding of libc. Each wrapper raises :class:`OSError` with
the real errno, like ``os`` does. Nothing here changes the calling process by
itself being imported. :func:`setns` is called only on the threads of
:mod:`nsview.kernel.netns` and in the forked children of :mod:`nsview.kernel.userns`
and :mod:`nsview.actions`;
:func:`unshare` only in forked children (of actions, and the lab's payload).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct

from nsview.kernel.nstypes import CLONE_FLAGS, CLONE_NEWNET

__all__ = ["CLONE_FLAGS", "CLONE_NEWNET", "loopback_up", "mount", "set_name", "setns",
           "umount2", "unshare"]

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SHARED = 1 << 20
MNT_DETACH = 0x2
PR_SET_NAME = 15

_libc = ctypes.CDLL(None, use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]


def _check(result: int, what: str, path: str | None = None) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace(s) behind ``fd``: an nsfs file or (Linux 5.8+) a pidfd."""
    _check(_libc.setns(fd, nstype), "setns")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def set_name(name: str) -> None:
    """The calling thread's comm (``prctl(PR_SET_NAME)``), cut to 15 bytes as the kernel does."""
    _check(_libc.prctl(PR_SET_NAME, os.fsencode(name)[:15], 0, 0, 0), "prctl")


def _b(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def mount(source: str | None, target: str, fstype: str | None, flags: int) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, None), "mount", target)


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), "umount", target)


_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def loopback_up() -> None:
    """``ip link set lo up`` in the current network namespace, without iproute2."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        req = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(sock, _SIOCGIFFLAGS, req))[1]
        if not flags & _IFF_UP:
            fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sh14x", b"lo", flags | _IFF_UP))
