"""Change notifications of one network namespace: rtnetlink and nf_tables multicast.

:func:`open_watch` must run on a thread inside the namespace (kernel.netns
enters it): a netlink socket belongs to the namespace it was created in, and
keeps receiving that namespace's events from any thread afterwards. It also
keeps the namespace alive while open, so the caller closes the watches of
namespaces it no longer sees.

What is watched: links, IPv4/IPv6 addresses, routes and rules, netnsids
(rtnetlink) and every nf_tables change (nftables, and iptables-nft, which
writes through it). Legacy iptables sends no event: :attr:`NetnsWatch.legacy`
says whether the namespace has such tables, so the caller can re-read it.
"""

from __future__ import annotations

import errno
import socket

from nsview.kernel.netlink import NETLINK_NETFILTER, NETLINK_ROUTE

SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
# rtnetlink multicast groups (linux/rtnetlink.h: RTNLGRP_*)
RTNL_GROUPS = (
    1,  # LINK
    5,  # IPV4_IFADDR
    7,  # IPV4_ROUTE
    8,  # IPV4_RULE
    9,  # IPV6_IFADDR
    11,  # IPV6_ROUTE
    19,  # IPV6_RULE
    28,  # NSID
)
NFNLGRP_NFTABLES = 7
_LEGACY_TABLE_FILES = ("ip_tables_names", "ip6_tables_names")


class NetnsWatch:
    """Multicast sockets of one namespace; :meth:`changed` drains them.

    ``legacy``: the namespace has rules no event reports (legacy iptables, or
    no nf_tables to listen to): whoever relies on the watch re-reads it anyway.
    """

    def __init__(self, sockets: list[socket.socket], legacy: bool) -> None:
        self.sockets = sockets
        self.legacy = legacy

    def fds(self) -> list[int]:
        return [s.fileno() for s in self.sockets]

    def changed(self) -> bool:
        """True if anything arrived since the last call (or events were lost)."""
        changed = False
        for sock in self.sockets:
            while True:
                try:
                    if not sock.recv(65536, socket.MSG_DONTWAIT):
                        break
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno == errno.ENOBUFS:  # overflowed: something changed
                        changed = True
                        continue
                    raise
                changed = True
        return changed

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets = []


def open_watch() -> NetnsWatch:
    """Watch the calling thread's network namespace (run inside it)."""
    sockets = [_multicast(NETLINK_ROUTE, RTNL_GROUPS)]
    try:
        sockets.append(_multicast(NETLINK_NETFILTER, (NFNLGRP_NFTABLES,)))
    except OSError:
        # No nf_tables here: its rules cannot be watched, so count them as legacy.
        return NetnsWatch(sockets, legacy=True)
    except BaseException:
        sockets[0].close()
        raise
    return NetnsWatch(sockets, legacy=_has_legacy_tables())


def _multicast(protocol: int, groups: tuple[int, ...]) -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, protocol)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((0, 0))
        for group in groups:
            sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)
    except BaseException:
        sock.close()
        raise
    return sock


def _has_legacy_tables() -> bool:
    """True when the calling thread's namespace has legacy (x_tables) iptables tables."""
    for name in _LEGACY_TABLE_FILES:
        try:
            with open(f"/proc/thread-self/net/{name}", "rb") as f:
                if f.read().strip():
                    return True
        except OSError:
            continue
    return False


def pending(watches: list[NetnsWatch]) -> bool:
    """True if any watch has something waiting (one poll over all of them)."""
    import select

    poller = select.poll()
    count = 0
    for watch in watches:
        for fd in watch.fds():
            poller.register(fd, select.POLLIN)
            count += 1
    return bool(count and poller.poll(0))

