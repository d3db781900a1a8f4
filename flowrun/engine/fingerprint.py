"""Fingerprints for incremental runs (SPEC §10): file digests through a stat cache, step fingerprints, results.

Pure and synchronous; the stat cache comes in and goes out as a plain dict, for
the history to keep. Paths are the relative ``/`` names :func:`globs.expand`
gives, joined to ``base_dir`` (the workflow's folder).

A file's digest is the SHA-256 of its bytes, in hex (what ``sha256sum`` prints).
SHA-256 rather than BLAKE2: OpenSSL's SHA-256 runs on the CPU's SHA extensions
(x86 SHA-NI, ARMv8), 1.7 GB/s here against 0.9 GB/s for ``blake2b``.
:func:`hashlib.file_digest` was measured too, and was slower: it zeroes a fresh
256 KiB buffer for every file, which costs more than hashing a small one.

Racy files. A file's mtime has the granularity of the clock that stamps it: the
kernel's coarse tick (a few ms), a whole second on some filesystems, two on FAT,
and an NFS server's clock may be ahead. A file written, hashed, and written again
within one tick keeps its size, mtime and inode, and a stat check would trust
the stale digest: git's "racy git" problem. As git does, such a file is not
trusted: a file whose mtime is less than :data:`RACY_NS` before the moment its
check began (or is in the future) is hashed but gets no cache entry, so it is
hashed again next time; and in an output's record (:func:`record_files`) its size
is set to -1, as git smudges a racily clean index entry, so
:func:`outputs_unchanged` compares its bytes rather than its stat.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from array import array
from collections.abc import Iterable, Mapping, MutableMapping

__all__ = [
    "RACY_NS",
    "CacheEntry",
    "FileRecord",
    "FileStat",
    "digest_files",
    "fingerprint",
    "outputs_unchanged",
    "record_files",
    "result_of",
    "stat_arrays",
    "stat_files",
]

#: path → (size, mtime_ns, inode, content digest), as git's index keeps it
CacheEntry = tuple[int, int, int, str]
#: (path, size, mtime_ns, inode)
FileStat = tuple[str, int, int, int]
#: (path, size, mtime_ns, inode, content digest); size -1 when the file was racy when recorded
FileRecord = tuple[str, int, int, int, str]

#: a file modified less than this before its check is hashed again next time (FAT's 2 s granularity)
RACY_NS = 2_000_000_000

_CHUNK = 1 << 18
#: bumped when what goes into a fingerprint changes, so no old one can match
_VERSION = 1


def _stat(path: str) -> os.stat_result | None:
    """The file's stat through symlinks, or None when it is gone or is not a regular file."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def _hash(path: str) -> str | None:
    """The SHA-256 of the file's bytes; None when it is gone or no longer a regular file."""
    try:  # O_NONBLOCK: a path swapped for a fifo since its stat must not hang the check
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        # os.read rather than hashlib.file_digest: see the module docstring
        h = hashlib.sha256(os.read(fd, _CHUNK))
        while chunk := os.read(fd, _CHUNK):
            h.update(chunk)
    finally:
        os.close(fd)
    return h.hexdigest()


def _read(
    base_dir: str, paths: Iterable[str], cache: Mapping[str, CacheEntry], records: list[FileRecord] | None,
    keep: dict[str, CacheEntry] | None = None,
) -> tuple[str, dict[str, CacheEntry]]:
    """The combined digest and the cache entries to store; each file's record appended to ``records``.

    The combined digest is one SHA-256 over ``name NUL digest NUL name NUL ...``
    in name order: a name never holds NUL and a digest never does, so the text
    splits back only one way, and a rename, a file gained or lost, or new bytes
    all change it. This loop is the warm check (a stat per file), hence its
    local names.
    """
    started = time.time_ns()  # before any stat: a file changed during the check counts as racy
    trusted = started - RACY_NS  # mtimes up to this one are old enough to trust
    folder = os.path.join(base_dir, "")
    flat: list[str] = []
    add, lookup, stat_of, regular = flat.append, cache.get, os.stat, stat.S_ISREG
    store: dict[str, CacheEntry] = {}
    previous = None
    for name in sorted(paths):  # expand()'s list is sorted already: timsort then only checks it
        if name == previous:
            continue
        previous = name
        path = folder + name
        try:
            st = stat_of(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if not regular(st.st_mode):
            continue
        size, mtime, ino = st.st_size, st.st_mtime_ns, st.st_ino
        entry = lookup(name)
        if entry is not None and entry[1] == mtime and entry[0] == size and entry[2] == ino:
            digest = entry[3]
            if keep is not None:
                keep[name] = entry
        else:
            found = _hash(path)
            if found is None:
                continue
            digest = found
            if mtime <= trusted:
                store[name] = (size, mtime, ino, digest)
                if keep is not None:
                    keep[name] = store[name]
        add(name)
        add(digest)
        if records is not None:
            records.append((name, size if mtime <= trusted else -1, mtime, ino, digest))
    text = "\0".join(flat).encode("utf-8", "surrogateescape")
    return hashlib.sha256(b"flowrun files\n" + text).hexdigest(), store


def record_files(
    base_dir: str, paths: Iterable[str], cache: Mapping[str, CacheEntry]
) -> tuple[str, list[FileRecord], dict[str, CacheEntry]]:
    """The files' combined digest, each file's record, and the cache entries to store back.

    A file whose size, mtime and inode match its cache entry is not read. A path
    that is gone or is no longer a regular file is left out, as if unmatched. An
    unreadable file raises ``OSError``. Only new or changed entries come back, and
    none for a racy file (module docstring), whose record has size -1.
    """
    records: list[FileRecord] = []
    digest, store = _read(base_dir, paths, cache, records)
    return digest, records, store


def digest_files(
    base_dir: str, paths: Iterable[str], cache: Mapping[str, CacheEntry], keep: dict[str, CacheEntry] | None = None
) -> tuple[str, dict[str, CacheEntry]]:
    """One digest over the files' names and contents, and the cache entries to store back.

    As :func:`record_files`, without the records; the order of ``paths`` and repeats do not matter.
    ``keep``, when given, receives the entry of every trusted file (cached or new): the
    whole stat cache of this set of files as it should be now.
    """
    return _read(base_dir, paths, cache, None, keep)


def stat_arrays(base_dir: str, names: Iterable[str]) -> tuple[array, array, array] | None:  # type: ignore[type-arg]
    """The sizes, mtimes (ns) and inodes of ``names``, packed as ``statblob`` keeps them; None if one is gone.

    The up-to-date check's fast path: a stat per file and nothing else, compared
    with the recorded arrays in one go.
    """
    folder = os.path.join(base_dir, "")
    sizes, mtimes, inodes = array("q"), array("q"), array("Q")
    add_size, add_mtime, add_inode, stat_of = sizes.append, mtimes.append, inodes.append, os.stat
    try:
        for name in names:
            st = stat_of(folder + name)
            add_size(st.st_size)
            add_mtime(st.st_mtime_ns)
            add_inode(st.st_ino)
    except OSError:
        return None
    return sizes, mtimes, inodes


def stat_files(base_dir: str, paths: Iterable[str]) -> list[FileStat]:
    """(path, size, mtime_ns, inode) of each path that is a regular file (through symlinks), in path order."""
    out: list[FileStat] = []
    for name in sorted(set(paths)):
        st = _stat(os.path.join(base_dir, name))
        if st is not None:
            out.append((name, st.st_size, st.st_mtime_ns, st.st_ino))
    return out


def outputs_unchanged(
    base_dir: str,
    recorded: Iterable[FileRecord],
    cache: Mapping[str, CacheEntry],
    updates: MutableMapping[str, CacheEntry] | None = None,
) -> bool:
    """Whether every recorded output file is still there with the same bytes.

    A file whose stat is the recorded one is trusted; otherwise its digest comes
    from the cache when the stat matches there, else from its bytes. Stops at the
    first file missing or changed. Entries for files it hashed (not racy) go into
    ``updates`` when given.
    """
    started = time.time_ns()
    for name, size, mtime, ino, digest in recorded:
        path = os.path.join(base_dir, name)
        st = _stat(path)
        if st is None:
            return False
        now = (st.st_size, st.st_mtime_ns, st.st_ino)
        if now == (size, mtime, ino):
            continue
        entry = cache.get(name)
        if entry is not None and entry[:3] == now:
            current = entry[3]
        else:
            current = _hash(path)
            if current is None:
                return False
            if updates is not None and started - st.st_mtime_ns >= RACY_NS:
                updates[name] = (*now, current)
        if current != digest:
            return False
    return True


def fingerprint(
    *,
    command: tuple[str, ...],
    workdir: str | None,
    env: Mapping[str, str],
    sources_digest: str,
    dependency_results: Mapping[str, str | None],
) -> str:
    """The step's fingerprint (SPEC §10): a digest of the canonical JSON of all its parts.

    ``command`` is the argv flowrun runs (shell and script included); ``env`` only
    the variables the workflow file gives the step (never ``os.environ``), its
    order irrelevant. A dependency whose result is ``None`` (it declares neither
    sources nor outputs) only orders the run, and is left out.
    """
    parts = {
        "version": _VERSION,
        "command": list(command),
        "workdir": workdir,
        "env": dict(env),
        "sources": sources_digest,
        "dependencies": {name: result for name, result in dependency_results.items() if result is not None},
    }
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(b"flowrun step\n" + text.encode()).hexdigest()


def result_of(outputs_digest: str | None, fingerprint: str | None) -> str | None:
    """A step's result (SPEC §10): its outputs' contents when it declares outputs, else its fingerprint, else None.

    Pass ``outputs_digest`` only for a step that declares ``outputs:`` (even when
    they matched no file) and ``fingerprint`` only for one with ``sources:``. The
    two kinds are tagged, so an outputs digest can never pass for a fingerprint.
    """
    if outputs_digest is not None:
        return "outputs:" + outputs_digest
    if fingerprint is not None:
        return "fingerprint:" + fingerprint
    return None
