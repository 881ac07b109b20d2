"""nf_tables over netlink: which tables and chains exist (no rules), without spawning nft.

The socket is created by the caller's thread: it belongs to that thread's netns.
"""

from __future__ import annotations

import struct

from nsview.kernel.netlink import NETLINK_NETFILTER, NetlinkSocket, attr_blocks

NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_GETTABLE = 1
NFT_MSG_GETCHAIN = 4
NFTA_TABLE_NAME = 1
NFTA_CHAIN_TABLE = 1
NFTA_CHAIN_NAME = 3
NFTA_CHAIN_HOOK = 4
NFTA_CHAIN_TYPE = 7
NFPROTO_NAMES = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}

# nfgenmsg: family AF_UNSPEC (every family), version 0, res_id 0
_NFGENMSG = struct.pack("=BBH", 0, 0, 0)


def nft_chains() -> dict[tuple[str, str], dict[str, tuple[str | None, bool]]]:
    """(family, table) -> chain name -> (chain type, is a base chain), for every table.

    Tables without chains are listed with no chains. OSError (NetlinkError) as
    the kernel answers: EPERM without CAP_NET_ADMIN, EPROTONOSUPPORT without nf_tables.
    """
    out: dict[tuple[str, str], dict[str, tuple[str | None, bool]]] = {}
    with NetlinkSocket(NETLINK_NETFILTER) as sock:
        for family, attrs in _dump(sock, NFT_MSG_GETTABLE):
            name = _nla_str(attrs.get(NFTA_TABLE_NAME))
            if name is not None:
                out.setdefault((family, name), {})
        if not out:
            return out
        for family, attrs in _dump(sock, NFT_MSG_GETCHAIN):
            table = _nla_str(attrs.get(NFTA_CHAIN_TABLE))
            name = _nla_str(attrs.get(NFTA_CHAIN_NAME))
            if table is None or name is None:
                continue
            ctype = _nla_str(attrs.get(NFTA_CHAIN_TYPE))
            out.setdefault((family, table), {})[name] = (ctype, NFTA_CHAIN_HOOK in attrs)
    return out


def _dump(sock: NetlinkSocket, msg: int) -> list[tuple[str, dict[int, bytes]]]:
    """(family name, attributes by type) of each object the dump lists."""
    results = []
    for body in sock.dump((NFNL_SUBSYS_NFTABLES << 8) | msg, _NFGENMSG):
        if len(body) < len(_NFGENMSG):
            continue
        family = body[0]
        attrs = dict(attr_blocks(body, len(_NFGENMSG), len(body)))
        results.append((NFPROTO_NAMES.get(family, str(family)), attrs))
    return results


def _nla_str(value: bytes | None) -> str | None:
    if value is None:
        return None
    return value.split(b"\0", 1)[0].decode("utf-8", "replace")
