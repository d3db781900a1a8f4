"""``sources:`` / ``outputs:`` globs → the regular files they match (SPEC §10).

Rules, beyond the spec's:

- A pattern is relative to the workflow's folder; an absolute one, or one whose
  leading literal part climbs out with ``..``, is allowed (they are the user's
  files). ``..`` and ``.`` are resolved lexically, as in a URL, not through
  symlinks; ``..`` after a wildcard is an error (:func:`pattern_problem`).
- Matches are named relative to the workflow's folder with ``/``, outside ones
  with a leading ``../``, so ``src/a.py`` and ``/abs/wf/src/a.py`` are one file.
- ``*``, ``?`` and ``[...]`` (``[!...]`` negates) stay within one name and match
  hidden names too; ``**`` as a whole segment spans zero or more folders; a
  trailing ``dir/**`` matches every file below ``dir``. No wildcard matches the
  names ``.git`` or ``.flowrun``: neither is ever entered or matched unless the
  pattern names it literally (``.git/HEAD``).
- Only regular files match. A symlink to a file matches (its target's bytes are
  hashed); a wildcard never enters a symlinked folder (no cycles, each file once,
  as git does), while a literal segment goes through it as the OS does. A pattern
  naming a folder matches nothing: write ``dir/**``. A folder that cannot be read
  is passed over.

The tree is walked once with :func:`os.scandir`: every directory is listed at
most once for all patterns together, and only directories some pattern can still
match, or that lead to one pattern's literal prefix, are entered.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
from collections.abc import Callable, Iterable, Sequence

__all__ = ["EXCLUDED_NAMES", "expand", "pattern_problem"]

#: names no wildcard matches: git's and flowrun's own state
EXCLUDED_NAMES = frozenset({".git", ".flowrun"})

_MAGIC = re.compile(r"[*?\[]")
_GLOBSTAR = "**"

#: one segment: a literal name, ``**``, or a wildcard within one name
_Segment = str | re.Pattern[str]
#: (pattern number, index of the segment the next name must match)
_State = tuple[int, int]


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used, or ``None`` when it is fine (for the loader)."""
    if not pattern.strip():
        return "an empty glob matches nothing"
    if "\0" in pattern:
        return "a glob cannot hold a NUL character"
    wild = False
    for part in pattern.split("/"):
        wild = wild or bool(_MAGIC.search(part))
        if wild and part == "..":
            return f"'..' after a wildcard in glob {pattern!r}: put it before the first wildcard"
    return None


def _split(base: str, pattern: str) -> tuple[str, list[_Segment]]:
    """The pattern's root folder (absolute, normalised) and its segments from the first wildcard on."""
    problem = pattern_problem(pattern)
    if problem:
        raise ValueError(problem)
    parts = [p for p in pattern.split("/") if p not in ("", ".")]
    first_wild = next((i for i, p in enumerate(parts) if _MAGIC.search(p)), len(parts))
    if first_wild == len(parts):  # no wildcard: the last name is the file itself
        first_wild = max(len(parts) - 1, 0)
    prefix = "/".join(parts[:first_wild])
    root = posixpath.normpath(posixpath.join("/" if pattern.startswith("/") else base, prefix))
    segments: list[_Segment] = []
    for part in parts[first_wild:]:
        if part == _GLOBSTAR:
            segments.append(_GLOBSTAR)
        elif _MAGIC.search(part):
            segments.append(re.compile(fnmatch.translate(part)))
        else:
            segments.append(part)
    return root, segments


class _Matcher:
    """All patterns at once: each folder carries the set of pattern positions still alive there."""

    def __init__(self, base: str, patterns: Iterable[str]) -> None:
        self.segments: list[list[_Segment]] = []
        self._file_tests: dict[frozenset[_State], tuple[frozenset[str], Callable[[str], object] | None, bool]] = {}
        self.starts: dict[str, set[_State]] = {}  # root folder → positions that begin there
        for number, pattern in enumerate(patterns):
            root, segments = _split(base, pattern)
            self.segments.append(segments)
            self.starts.setdefault(root, set()).update(self.closure({(number, 0)}))
        self.roots = _outermost(self.starts)
        # folders on the way from a walk's root to a nested pattern root: entered even when nothing matches there
        self.leads = {parent for root in self.starts for parent in _parents(root)}

    def closure(self, states: Iterable[_State]) -> set[_State]:
        """Add the positions past each ``**`` (it may span zero folders); drop positions past the end."""
        out: set[_State] = set()
        todo = list(states)
        while todo:
            number, index = todo.pop()
            segments = self.segments[number]
            if index >= len(segments) or (number, index) in out:
                continue
            out.add((number, index))
            if segments[index] == _GLOBSTAR:
                todo.append((number, index + 1))
        return out

    def into(self, states: set[_State], name: str, symlink: bool) -> set[_State]:
        """The positions alive inside folder ``name``."""
        moved: list[_State] = []
        hidden = name in EXCLUDED_NAMES
        for number, index in states:
            segments = self.segments[number]
            segment = segments[index]
            if segment == _GLOBSTAR:
                if not (hidden or symlink):
                    moved.append((number, index))
            elif index + 1 < len(segments):
                if isinstance(segment, str):
                    if segment == name:
                        moved.append((number, index + 1))
                elif not (hidden or symlink) and segment.match(name):
                    moved.append((number, index + 1))
        return self.closure(moved)

    def file_test(self, states: set[_State]) -> tuple[frozenset[str], Callable[[str], object] | None, bool]:
        """What a file in a folder with ``states`` must be called: literal names, one wildcard, or anything."""
        key = frozenset(states)
        known = self._file_tests.get(key)
        if known is None:
            names: set[str] = set()
            wildcards: list[str] = []
            everything = False
            for number, index in key:
                segments = self.segments[number]
                if index != len(segments) - 1:
                    continue
                segment = segments[index]
                if segment == _GLOBSTAR:
                    everything = True
                elif isinstance(segment, str):
                    names.add(segment)
                else:
                    wildcards.append(segment.pattern)
            # one regular expression for all the wildcards: a call per file, not one per wildcard
            wild = re.compile("|".join(sorted(wildcards))).match if wildcards else None
            known = self._file_tests[key] = (frozenset(names), wild, everything)
        return known


def _parents(path: str) -> Iterable[str]:
    while path != "/":
        path = posixpath.dirname(path)
        yield path


def _outermost(roots: Iterable[str]) -> list[str]:
    """The roots not below another root: each subtree is walked once."""
    kept: list[str] = []
    for root in sorted(roots):
        if not any(root == k or root.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(root)
    return kept


def _name_of(base: str, path: str) -> str:
    rel = posixpath.relpath(path, base)
    return "" if rel == "." else rel + "/"


def _symlink_kind(entry: os.DirEntry[str]) -> str | None:
    """``"file"`` or ``"folder"`` for a symlink to one, else None (broken, looping, fifo, device)."""
    try:
        if entry.is_file():
            return "file"
        return "folder" if entry.is_dir() else None
    except OSError:
        return None


def _walk(matcher: _Matcher, base: str, root: str, found: list[str]) -> None:
    """Add to ``found`` the files below ``root`` some pattern matches (depth-first, no recursion).

    Each folder is listed once, so each name is added once: no set needed.
    """
    stack = [(root, _name_of(base, root), matcher.starts.get(root, set()))]
    excluded = EXCLUDED_NAMES
    while stack:
        folder, prefix, states = stack.pop()
        try:
            entries = os.scandir(folder)
        except OSError:  # gone, not a folder, or unreadable: nothing to match there
            continue
        names, wild, everything = matcher.file_test(states)
        with entries:
            for entry in entries:
                name = entry.name
                if entry.is_file(follow_symlinks=False):
                    is_file = True
                elif entry.is_dir(follow_symlinks=False):
                    is_file = linked = False
                elif entry.is_symlink() and (kind := _symlink_kind(entry)):
                    is_file, linked = kind == "file", True
                else:
                    continue
                if is_file:  # a symlink to a file matches too: its target's bytes are hashed
                    if name in names or (name not in excluded and (everything or (wild is not None and wild(name)))):
                        found.append(prefix + name)
                    continue
                path = entry.path
                inner = matcher.into(states, name, linked) if states else set()
                started = matcher.starts.get(path)
                if started:
                    inner |= started
                if inner or path in matcher.leads:
                    stack.append((path, prefix + name + "/", inner))


def expand(base_dir: str, patterns: Sequence[str]) -> list[str]:
    """The regular files the globs match under ``base_dir``: sorted, each once, relative with ``/``.

    Raises ``ValueError`` for a pattern :func:`pattern_problem` rejects.
    """
    if isinstance(patterns, str):  # a lone string would be taken for a list of one-letter globs
        raise TypeError("expand() takes a list of globs, not one string")
    base = posixpath.normpath(os.path.abspath(base_dir))
    matcher = _Matcher(base, patterns)
    found: list[str] = []
    for root in matcher.roots:  # disjoint subtrees: a name is found once
        _walk(matcher, base, root, found)
    found.sort()
    return found
