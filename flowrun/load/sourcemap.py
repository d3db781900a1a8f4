"""Map every key path of a YAML document to where its key and value were written.

Positions are needed only when something is wrong, so a map made with the
document's bytes builds itself on the first lookup (a second, position-keeping
parse): a valid 10,000-step file never pays for 100,000 path tuples.
"""

from __future__ import annotations

from flowrun.errors import Position

__all__ = ["Path", "SourceMap"]

Path = tuple[str | int, ...]


class SourceMap:
    """Key path → position, kept by the loader so later errors point into the file."""

    def __init__(self, file: str, data: bytes | None = None) -> None:
        self.file = file
        self._data = data
        self._keys: dict[Path, tuple[int, int]] = {}
        self._values: dict[Path, tuple[int, int]] = {}
        #: for a text value written on one line exactly as it reads (plain, or quoted without escapes):
        #: the line and column of its first character
        self._texts: dict[Path, tuple[int, int]] = {}

    def _ensure(self) -> None:
        if self._data is None:
            return
        data, self._data = self._data, None
        from flowrun.load.yamlnodes import read_yaml

        _, full = read_yaml(data, self.file, positions=True)
        self._keys, self._values, self._texts = full._keys, full._values, full._texts

    @property
    def keys(self) -> dict[Path, tuple[int, int]]:
        self._ensure()
        return self._keys

    @property
    def values(self) -> dict[Path, tuple[int, int]]:
        self._ensure()
        return self._values

    def _nearest(self, table: dict[Path, tuple[int, int]], path: Path) -> Position:
        probe = tuple(path)
        while True:
            hit = table.get(probe) or self._values.get(probe)
            if hit is not None:
                return Position(self.file, hit[0], hit[1])
            if not probe:
                return Position(self.file, 1, 1)
            probe = probe[:-1]

    def key(self, path: Path) -> Position:
        """Position of the key at ``path`` (or of the nearest parent we know)."""
        return self._nearest(self.keys, path)

    def value(self, path: Path) -> Position:
        """Position of the value at ``path`` (or of the nearest parent we know)."""
        return self._nearest(self.values, path)

    def inside(self, path: Path, offset: int) -> Position:
        """Position of character ``offset`` of the text value at ``path``.

        Known for a value written on one line as it reads; otherwise (a block
        scalar, an escape, a folded line) the position of the value itself.
        """
        self._ensure()
        hit = self._texts.get(tuple(path))
        if hit is None:
            return self.value(path)
        return Position(self.file, hit[0], hit[1] + offset)

    def has(self, path: Path) -> bool:
        return tuple(path) in self.values
