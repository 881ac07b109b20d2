"""nsview's one netlink socket loop: send a request, collect its replies.

Every netlink family nsview speaks (rtnetlink in :mod:`nsview.kernel.rtnl`,
nf_tables in :mod:`nsview.kernel.nftables`) goes through
:meth:`NetlinkSocket.request`, which numbers each request and keeps only the
replies that carry its sequence number (a late answer to an earlier request
is dropped), stops at NLMSG_DONE or the single answer, and raises
:class:`NetlinkError` with the kernel's errno.

The socket is created by the caller's thread: it belongs to that thread's netns.
"""

from __future__ import annotations

import os
import socket
import struct

NETLINK_ROUTE = 0
NETLINK_NETFILTER = 12

NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_HDR = struct.Struct("=IHHII")  # length, type, flags, seq, port id
NLA_HDR = struct.Struct("=HH")  # length, type
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER


class NetlinkError(OSError):
    """The kernel answered a request with an error (errno as in OSError)."""


def attr_blocks(data: bytes | memoryview, start: int, end: int):
    """(type, value bytes) of each attribute in ``data[start:end]``; stops at a malformed one."""
    pos = start
    while pos + 4 <= end:
        length, atype = NLA_HDR.unpack_from(data, pos)
        if length < 4 or pos + length > end:
            return
        yield atype & NLA_TYPE_MASK, bytes(data[pos + 4 : pos + length])
        pos += (length + 3) & ~3


class NetlinkSocket:
    """One netlink socket of ``protocol``, in the calling thread's netns."""

    def __init__(self, protocol: int, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, protocol
        )
        try:
            if rcvbuf is not None:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.bind((0, 0))
        except OSError:
            self.sock.close()
            raise
        self.seq = 0
        self._buf = bytearray(1 << 16)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> NetlinkSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, msg_type: int, flags: int, payload: bytes) -> list[bytes]:
        """Send one request; the bodies (after the netlink header) of every reply
        up to DONE, or of the single answer when ``flags`` asks no dump.

        NetlinkError when the kernel answers with an error.
        """
        self.seq += 1
        seq = self.seq
        self.sock.send(
            NLMSG_HDR.pack(NLMSG_HDR.size + len(payload), msg_type, flags, seq, 0) + payload
        )
        bodies: list[bytes] = []
        dump = flags & NLM_F_DUMP
        while True:
            n = self.sock.recv_into(self._buf)
            data = memoryview(self._buf)[:n]
            pos = 0
            while pos + NLMSG_HDR.size <= n:
                length, mtype, _flags, mseq, _pid = NLMSG_HDR.unpack_from(data, pos)
                if length < NLMSG_HDR.size:
                    return bodies
                body = bytes(data[pos + NLMSG_HDR.size : pos + length])
                pos += (length + 3) & ~3
                if mseq != seq:
                    continue  # a late answer to an earlier request
                if mtype == NLMSG_DONE:
                    return bodies
                if mtype == NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", body)
                    if err:
                        raise NetlinkError(-err, os.strerror(-err))
                    return bodies
                bodies.append(body)
                if not dump:
                    return bodies

    def dump(self, msg_type: int, payload: bytes) -> list[bytes]:
        return self.request(msg_type, NLM_F_REQUEST | NLM_F_DUMP, payload)
