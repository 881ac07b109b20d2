"""A read-only reader of BoltDB (bbolt) files, enough for engines' state.

Docker keeps its network definitions in ``<data-root>/network/files/local-kv.db``
and podman its pods and networks in ``libpod/bolt_state.db``; both are bbolt
files. The engine holds a lock while it runs, but bbolt writes copy-on-write
and flips one of two meta pages last, so reading the file while it is in use
sees the last committed transaction (or, at worst, a page written after the
meta we chose: :class:`BoltError`, never wrong data silently).

Layout (go.etcd.io/bbolt): pages of ``page_size`` bytes; page 0 and 1 are meta
pages (the valid one with the larger txid wins); the meta names the root
bucket's page. A page is a 16-byte header (id u64, flags u16, count u16,
overflow u32) and ``count`` elements; branch elements (pos u32, ksize u32,
pgid u64) point at child pages, leaf elements (flags u32, pos u32, ksize u32,
vsize u32) hold a key and a value, or a sub-bucket when flags & 1. A bucket
value is (root pgid u64, sequence u64) followed, when root is 0, by an inline
page holding the whole bucket.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

_MAGIC = 0xED0CDAED
_BRANCH_PAGE, _LEAF_PAGE, _META_PAGE = 0x01, 0x02, 0x04
_BUCKET_LEAF = 0x01
_PAGE_HEADER = struct.Struct("<QHHI")
# magic, version, page_size, flags, root, sequence, freelist, pgid, txid, checksum
_META = struct.Struct("<IIII QQ QQQQ")
_BRANCH_ELEM = struct.Struct("<IIQ")
_LEAF_ELEM = struct.Struct("<IIII")
_BUCKET = struct.Struct("<QQ")
_FNV_OFFSET, _FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3


class BoltError(ValueError):
    """The file is not a bbolt database this reader understands."""


def _fnv64a(data: bytes) -> int:
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


class Bucket:
    """A bucket: its keys map to values (bytes) or to sub-buckets."""

    def __init__(self, db: BoltDB, root: int, inline: bytes | None) -> None:
        self._db = db
        self._root = root
        self._inline = inline

    def items(self) -> Iterator[tuple[bytes, bytes | Bucket]]:
        """Every (key, value) in key order; a sub-bucket's value is a Bucket."""
        if self._inline is not None:
            yield from self._db._leaf_items(self._inline, 0)
        else:
            yield from self._db._page_items(self._root, 0)

    def get(self, key: bytes) -> bytes | Bucket | None:
        for k, value in self.items():
            if k == key:
                return value
        return None

    def bucket(self, *names: bytes) -> Bucket | None:
        """The sub-bucket at ``names`` (a path), or None."""
        current: Bucket | None = self
        for name in names:
            found = current.get(name) if current is not None else None
            current = found if isinstance(found, Bucket) else None
        return current


class BoltDB:
    """A bbolt file read whole into memory (engines' state files are small)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        meta = self._meta()
        self.page_size: int = meta[2]
        self.txid: int = meta[8]
        self.root = Bucket(self, meta[4], None)

    @classmethod
    def open(cls, path: str) -> BoltDB:
        """Read ``path``; OSError when unreadable, BoltError when not bbolt."""
        with open(path, "rb") as handle:
            return cls(handle.read())

    def bucket(self, *names: bytes) -> Bucket | None:
        return self.root.bucket(*names)

    def _meta(self) -> tuple:
        best = None
        # The page size is in the meta itself; try the common ones for page 1.
        for offset in (0, 4096, 8192, 16384, 65536):
            start = offset + _PAGE_HEADER.size
            if len(self._data) < start + _META.size:
                continue
            _pgid, flags, _count, _overflow = _PAGE_HEADER.unpack_from(self._data, offset)
            meta = _META.unpack_from(self._data, start)
            if not flags & _META_PAGE or meta[0] != _MAGIC:
                continue
            if offset not in (0, meta[2]):
                continue
            if meta[9] != _fnv64a(self._data[start : start + _META.size - 8]):
                continue  # torn write of this meta: the other one is the good one
            if best is None or meta[8] > best[8]:
                best = meta
        if best is None:
            raise BoltError("no valid bbolt meta page")
        return best

    def _page(self, pgid: int) -> tuple[int, int, int]:
        """(offset, flags, count) of page ``pgid``."""
        offset = pgid * self.page_size
        if offset + _PAGE_HEADER.size > len(self._data):
            raise BoltError(f"page {pgid} beyond the end of the file")
        _id, flags, count, _overflow = _PAGE_HEADER.unpack_from(self._data, offset)
        return offset, flags, count

    def _page_items(self, pgid: int, depth: int) -> Iterator[tuple[bytes, bytes | Bucket]]:
        if depth > 64:
            raise BoltError("bucket tree too deep (a cycle?)")
        offset, flags, count = self._page(pgid)
        if flags & _LEAF_PAGE:
            yield from self._leaf_items(self._data, offset)
            return
        if not flags & _BRANCH_PAGE:
            raise BoltError(f"page {pgid} is neither branch nor leaf")
        base = offset + _PAGE_HEADER.size
        for i in range(count):
            _pos, _ksize, child = _BRANCH_ELEM.unpack_from(self._data, base + i * 16)
            yield from self._page_items(child, depth + 1)

    def _leaf_items(self, data: bytes, offset: int) -> Iterator[tuple[bytes, bytes | Bucket]]:
        _id, flags, count, _overflow = _PAGE_HEADER.unpack_from(data, offset)
        if not flags & _LEAF_PAGE:
            raise BoltError("expected a leaf page")
        base = offset + _PAGE_HEADER.size
        for i in range(count):
            elem = base + i * 16
            eflags, pos, ksize, vsize = _LEAF_ELEM.unpack_from(data, elem)
            key = bytes(data[elem + pos : elem + pos + ksize])
            value = bytes(data[elem + pos + ksize : elem + pos + ksize + vsize])
            if eflags & _BUCKET_LEAF:
                root, _seq = _BUCKET.unpack_from(value, 0)
                yield key, Bucket(self, root, value[_BUCKET.size :] if root == 0 else None)
            else:
                yield key, value
