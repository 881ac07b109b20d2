"""Write a small bbolt file: the lab's Docker network database (local-kv.db).

Just enough of go.etcd.io/bbolt's layout for nsview.collect.engines.boltdb (and
bbolt itself) to read: two meta pages, an empty freelist, and one root leaf
page whose buckets are stored inline. Not a general writer: everything is
written once, in one transaction.
"""

from __future__ import annotations

import struct

PAGE_SIZE = 4096
_MAGIC, _VERSION = 0xED0CDAED, 2
_LEAF, _META, _FREELIST = 0x02, 0x04, 0x10
_BUCKET_FLAG = 0x01
_FNV_OFFSET, _FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3


def _fnv64a(data: bytes) -> int:
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def _leaf(pgid: int, items: list[tuple[bytes, bytes, int]], overflow: int = 0) -> bytes:
    """A leaf page: header, one 16-byte element per item, then keys and values."""
    items = sorted(items)
    header = struct.pack("<QHHI", pgid, _LEAF, len(items), overflow)
    elements = b""
    data = b""
    data_start = 16 + 16 * len(items)
    for i, (key, value, flags) in enumerate(items):
        elem_offset = 16 + 16 * i
        pos = data_start + len(data) - elem_offset
        elements += struct.pack("<IIII", flags, pos, len(key), len(value))
        data += key + value
    return header + elements + data


def _inline_bucket(entries: dict[bytes, bytes]) -> bytes:
    return struct.pack("<QQ", 0, 0) + _leaf(0, [(k, v, 0) for k, v in entries.items()])


def build(buckets: dict[bytes, dict[bytes, bytes]]) -> bytes:
    """The bytes of a bbolt file holding ``buckets`` (name -> key -> value)."""
    root = _leaf(3, [(name, _inline_bucket(entries), _BUCKET_FLAG)
                     for name, entries in buckets.items()])
    pages = -(-len(root) // PAGE_SIZE)
    root = _leaf(3, [(name, _inline_bucket(entries), _BUCKET_FLAG)
                     for name, entries in buckets.items()], overflow=pages - 1)
    high_water = 3 + pages
    out = bytearray()
    for pgid, txid in ((0, 1), (1, 2)):
        meta = struct.pack("<IIIIQQQQQ", _MAGIC, _VERSION, PAGE_SIZE, 0, 3, 0, 2, high_water, txid)
        page = struct.pack("<QHHI", pgid, _META, 0, 0) + meta + struct.pack("<Q", _fnv64a(meta))
        out += page.ljust(PAGE_SIZE, b"\0")
    out += struct.pack("<QHHI", 2, _FREELIST, 0, 0).ljust(PAGE_SIZE, b"\0")
    out += root.ljust(pages * PAGE_SIZE, b"\0")
    return bytes(out)
