"""Map every key path of a YAML document to where its key and value were written."""

from __future__ import annotations

from dataclasses import dataclass, field

from flowrun.errors import Position

__all__ = ["Path", "SourceMap"]

Path = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Key path → position, kept by the loader so later errors point into the file."""

    file: str
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def _nearest(self, table: dict[Path, tuple[int, int]], path: Path) -> Position:
        probe = tuple(path)
        while True:
            hit = table.get(probe) or self.values.get(probe)
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

    def has(self, path: Path) -> bool:
        return tuple(path) in self.values
