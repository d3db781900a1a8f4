"""A step's source stat cache as one compact blob (the history's ``source_sets`` table).

The up-to-date check of a step over 10,000 files must cost about what ``git
status`` does. Reading its stat cache as 10,000 SQLite rows costs 20 ms of row
conversion alone; one blob of packed arrays decodes in about 2 ms: the paths
are one NUL-joined string split in C, sizes, mtimes and inodes are ``array``
buffers, the digests one ASCII string of fixed-width hex.

The common case needs less still: when a step's files have the names and stats
its set recorded, the combined digest recorded with it is the answer, and the
check compares packed arrays (:meth:`SourceSet.same_stats`) instead of looking
up 10,000 entries.

Layout (little-endian): ``FRS1``, the entry count ``n`` and the paths' length in
bytes (u32 each), the combined
digest of exactly these files (64 hex characters, or 64 spaces when the set did
not cover every file of its step's check), then ``n`` sizes
(i64), ``n`` mtimes in ns (i64), ``n`` inodes (u64), ``n`` digests of 64 hex
characters, and the ``n`` paths, UTF-8 (surrogateescape), NUL-separated. A blob
that does not decode (written by something else, cut short) reads as empty: the
files are hashed again, which is always correct.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Mapping, Sequence

from flowrun.records import record

__all__ = ["SourceSet", "decode", "encode"]

_MAGIC = b"FRS1"
_COUNT = struct.Struct("<II")  # entries, bytes of the paths
_DIGEST = 64  # hex SHA-256
_HEAD = len(_MAGIC) + _COUNT.size + _DIGEST
_NO_DIGEST = " " * _DIGEST

#: path → (size, mtime_ns, inode, hex digest)
Entries = Mapping[str, tuple[int, int, int, str]]


def _array(code: str, values: object) -> array:  # type: ignore[type-arg]
    packed = array(code, values)  # type: ignore[arg-type]
    if sys.byteorder != "little":
        packed.byteswap()
    return packed


@record(slots=True)
class SourceSet:
    """A decoded blob: the files in name order, their stats as packed arrays, their digests."""

    names: list[str]
    sizes: array  # type: ignore[type-arg]
    mtimes: array  # type: ignore[type-arg]
    inodes: array  # type: ignore[type-arg]
    hexes: str
    #: the combined digest over exactly ``names`` (``fingerprint.digest_files``), or None
    combined: str | None

    def same_stats(self, names: Sequence[str], sizes: array, mtimes: array, inodes: array) -> bool:  # type: ignore[type-arg]
        """Whether these files are this set's, with the stats it recorded (array comparisons, in C)."""
        return names == self.names and sizes == self.sizes and mtimes == self.mtimes and inodes == self.inodes

    def entries(self) -> dict[str, tuple[int, int, int, str]]:
        """path → (size, mtime_ns, inode, digest), for the file-by-file check."""
        digests = [self.hexes[i : i + _DIGEST] for i in range(0, len(self.hexes), _DIGEST)]
        return dict(zip(self.names, zip(self.sizes, self.mtimes, self.inodes, digests)))  # noqa: B905 (same lengths)


def encode(entries: Entries, combined: str | None = None) -> bytes:
    """The blob for ``entries`` (and their combined digest, when it covers exactly them).

    An entry whose digest is not 64 characters, or whose path holds NUL, is left
    out (and the combined digest with it).
    """
    kept = sorted((p, e) for p, e in entries.items() if len(e[3]) == _DIGEST and "\0" not in p)
    if combined is None or len(combined) != _DIGEST or len(kept) != len(entries):
        combined = _NO_DIGEST
    names = "\0".join(p for p, _ in kept).encode("utf-8", "surrogateescape")
    return b"".join((
        _MAGIC, _COUNT.pack(len(kept), len(names)), combined.encode("ascii"),
        _array("q", (e[0] for _, e in kept)).tobytes(),
        _array("q", (e[1] for _, e in kept)).tobytes(),
        _array("Q", (e[2] for _, e in kept)).tobytes(),
        "".join(e[3] for _, e in kept).encode("ascii"),
        names,
    ))


def decode(blob: bytes | None) -> SourceSet | None:
    """The set a blob :func:`encode` wrote; None for anything else (the files are hashed again)."""
    if not blob or blob[: len(_MAGIC)] != _MAGIC or len(blob) < _HEAD:
        return None
    n, names_length = _COUNT.unpack_from(blob, len(_MAGIC))
    at = _HEAD
    columns = []
    for code in ("q", "q", "Q"):
        column = array(code)
        end = at + n * column.itemsize
        if end > len(blob):
            return None
        column.frombytes(blob[at:end])
        if sys.byteorder != "little":
            column.byteswap()
        columns.append(column)
        at = end
    end = at + n * _DIGEST
    if end + names_length != len(blob):
        return None
    try:
        combined = blob[_HEAD - _DIGEST : _HEAD].decode("ascii")
        hexes = blob[at:end].decode("ascii")
        names = blob[end:].decode("utf-8", "surrogateescape").split("\0") if n else []
    except UnicodeDecodeError:
        return None
    if len(hexes) != n * _DIGEST or len(names) != n:
        return None
    return SourceSet(names, *columns, hexes, None if combined == _NO_DIGEST else combined)
