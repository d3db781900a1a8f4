"""File digests through the stat cache, racy files, step fingerprints and results (SPEC §10), on real files."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from flowrun.engine.fingerprint import (
    RACY_NS,
    digest_files,
    fingerprint,
    outputs_unchanged,
    record_files,
    result_of,
    stat_files,
)
from flowrun.engine.globs import expand

OLD = 10 * RACY_NS  # how far back aged files are dated: well out of the racy window


def write(path: Path, data: bytes, *, age: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if age:
        then = time.time_ns() - OLD
        os.utime(path, ns=(then, then))
    return path


def rewrite_keeping_stat(path: Path, data: bytes) -> None:
    """New bytes of the same length in the same inode, with the old mtime put back: only reading can tell."""
    before = path.stat()
    assert len(data) == before.st_size
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)


def digest(base: Path, paths: list[str], cache: dict | None = None) -> str:
    return digest_files(str(base), paths, cache or {})[0]


# -- digest_files ------------------------------------------------------------------------------------------


def test_digest_covers_names_and_contents_not_stat(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", b"one")
    write(tmp_path / "b.txt", b"two")
    first = digest(tmp_path, ["a.txt", "b.txt"])
    assert digest(tmp_path, ["b.txt", "a.txt", "a.txt"]) == first  # order and repeats do not matter
    write(tmp_path / "b.txt", b"two", age=False)  # same bytes, new mtime
    assert digest(tmp_path, ["a.txt", "b.txt"]) == first
    write(tmp_path / "b.txt", b"tw0")
    assert digest(tmp_path, ["a.txt", "b.txt"]) != first
    write(tmp_path / "b.txt", b"two")
    (tmp_path / "b.txt").rename(tmp_path / "c.txt")  # a rename, same bytes
    assert digest(tmp_path, ["a.txt", "c.txt"]) != first
    assert digest(tmp_path, ["a.txt"]) != first


def test_names_and_digests_cannot_run_into_each_other(tmp_path: Path) -> None:
    write(tmp_path / "ab", b"x")
    write(tmp_path / "a", b"x")
    write(tmp_path / "b", b"x")
    assert digest(tmp_path, ["ab"]) != digest(tmp_path, ["a", "b"])
    # a name that spells out another file's name and digest: "a" + digest(a) + "b", holding b's bytes
    glued = tmp_path / "glued"
    write(glued / ("a" + hashlib.sha256(b"x").hexdigest() + "b"), b"x")
    assert digest(glued, os.listdir(glued)) != digest(tmp_path, ["a", "b"])
    assert digest(tmp_path, []) != digest(tmp_path, ["a"])
    assert digest(tmp_path, []) == digest(tmp_path / "elsewhere", [])  # no files is a value too


def test_gone_folders_and_fifos_are_left_out(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", b"one")
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    alone = digest(tmp_path, ["a.txt"])
    assert digest(tmp_path, ["a.txt", "gone.txt", "dir", "fifo", "a.txt/x"]) == alone


def test_cache_entries_hold_stat_and_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    path = write(tmp_path / "src/a.py", b"print(1)\n")
    _, store = digest_files(str(tmp_path), ["src/a.py"], {})
    st = path.stat()
    assert store == {"src/a.py": (st.st_size, st.st_mtime_ns, st.st_ino, hashlib.sha256(b"print(1)\n").hexdigest())}
    assert digest_files(str(tmp_path), ["src/a.py"], store) == (digest(tmp_path, ["src/a.py"]), {})


def test_a_file_whose_stat_matches_its_entry_is_not_read(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", b"before")
    before, cache = digest_files(str(tmp_path), ["a.txt"], {})
    rewrite_keeping_stat(path, b"after!")
    assert digest_files(str(tmp_path), ["a.txt"], cache) == (before, {})  # trusted, as git's index
    assert digest(tmp_path, ["a.txt"]) != before  # the bytes did change


def test_a_new_mtime_size_or_inode_is_read_again(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", b"before")
    before, cache = digest_files(str(tmp_path), ["a.txt"], {})
    st = path.stat()

    rewrite_keeping_stat(path, b"after!")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 1))
    again, store = digest_files(str(tmp_path), ["a.txt"], cache)
    assert again != before and store["a.txt"][1] == st.st_mtime_ns - 1

    write(tmp_path / "new.txt", b"inode!")  # another inode, moved in with the cached size and mtime
    os.utime(tmp_path / "new.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp_path / "new.txt", path)
    assert path.stat().st_ino != st.st_ino
    assert digest_files(str(tmp_path), ["a.txt"], cache)[0] == digest(tmp_path, ["a.txt"]) != before


def test_a_racy_file_gets_no_entry_so_it_is_read_next_time(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", b"before", age=False)  # written just now
    old = write(tmp_path / "old.txt", b"old")
    before, store = digest_files(str(tmp_path), ["a.txt", "old.txt"], {})
    assert list(store) == ["old.txt"]
    rewrite_keeping_stat(path, b"after!")  # within the same mtime tick, as far as stat can tell
    after, _ = digest_files(str(tmp_path), ["a.txt", "old.txt"], store)
    assert after != before
    future = time.time_ns() + OLD
    os.utime(old, ns=(future, future))  # an mtime in the future is not trusted either
    assert digest_files(str(tmp_path), ["old.txt"], {})[1] == {}


def test_a_symlink_hashes_its_target_and_is_cached_by_its_own_name(tmp_path: Path) -> None:
    write(tmp_path / "one.txt", b"one")
    write(tmp_path / "two.txt", b"two")
    link = tmp_path / "link.txt"
    link.symlink_to("one.txt")
    first, cache = digest_files(str(tmp_path), ["link.txt"], {})
    assert list(cache) == ["link.txt"] and cache["link.txt"][3] == hashlib.sha256(b"one").hexdigest()
    link.unlink()
    link.symlink_to("two.txt")  # re-pointed: the target's inode differs
    assert digest_files(str(tmp_path), ["link.txt"], cache)[0] != first


def test_stat_files(tmp_path: Path) -> None:
    a = write(tmp_path / "a.txt", b"one")
    b = write(tmp_path / "sub/b.txt", b"three")
    (tmp_path / "dir").mkdir()
    got = stat_files(str(tmp_path), ["sub/b.txt", "dir", "gone", "a.txt"])
    assert got == [
        (name, p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_ino) for name, p in [("a.txt", a), ("sub/b.txt", b)]
    ]


def test_expand_then_digest_sees_a_new_matching_file(tmp_path: Path) -> None:
    write(tmp_path / "src/a.py", b"a")
    before = digest(tmp_path, expand(str(tmp_path), ["src/**/*.py"]))
    write(tmp_path / "src/.hidden/b.py", b"b")
    write(tmp_path / ".git/c.py", b"c")  # not a source
    after = digest(tmp_path, expand(str(tmp_path), ["src/**/*.py"]))
    assert after != before
    (tmp_path / "src/.hidden/b.py").unlink()
    assert digest(tmp_path, expand(str(tmp_path), ["src/**/*.py"])) == before


# -- records and outputs_unchanged ------------------------------------------------------------------------


def test_records_smudge_the_size_of_racy_files(tmp_path: Path) -> None:
    old = write(tmp_path / "old.bin", b"12345")
    write(tmp_path / "new.bin", b"123", age=False)
    combined, records, store = record_files(str(tmp_path), ["new.bin", "old.bin"], {})
    assert combined == digest(tmp_path, ["new.bin", "old.bin"])
    st = old.stat()
    assert records[1] == ("old.bin", 5, st.st_mtime_ns, st.st_ino, hashlib.sha256(b"12345").hexdigest())
    assert records[0][0] == "new.bin" and records[0][1] == -1
    assert list(store) == ["old.bin"]


def outputs(base: Path, *names: str) -> list:
    return record_files(str(base), list(names), {})[1]


def test_outputs_unchanged_while_the_bytes_stay(tmp_path: Path) -> None:
    write(tmp_path / "dist/a.whl", b"wheel")
    write(tmp_path / "dist/b.whl", b"other")
    recorded = outputs(tmp_path, "dist/a.whl", "dist/b.whl")
    assert outputs_unchanged(str(tmp_path), recorded, {})
    assert outputs_unchanged(str(tmp_path), [], {})

    write(tmp_path / "dist/b.whl", b"other", age=False)  # touched: same bytes, read to be sure
    updates: dict = {}
    assert outputs_unchanged(str(tmp_path), recorded, {}, updates)
    assert updates == {}  # just written: racy, no entry
    old = time.time_ns() - OLD
    os.utime(tmp_path / "dist/b.whl", ns=(old, old))
    assert outputs_unchanged(str(tmp_path), recorded, {}, updates)
    assert list(updates) == ["dist/b.whl"] and updates["dist/b.whl"][1] == old


@pytest.mark.parametrize("change", ["delete", "rewrite", "folder", "fifo"])
def test_outputs_changed(tmp_path: Path, change: str) -> None:
    path = write(tmp_path / "out.txt", b"result")
    write(tmp_path / "keep.txt", b"keep")
    recorded = outputs(tmp_path, "keep.txt", "out.txt")
    path.unlink()
    if change == "rewrite":
        write(path, b"resulT")
    elif change == "folder":
        path.mkdir()
    elif change == "fifo":
        os.mkfifo(path)
    assert not outputs_unchanged(str(tmp_path), recorded, {})


def test_a_racy_output_is_compared_by_its_bytes(tmp_path: Path) -> None:
    path = write(tmp_path / "out.txt", b"result", age=False)  # as a step leaves it
    recorded = outputs(tmp_path, "out.txt")
    rewrite_keeping_stat(path, b"RESULT")  # e.g. a background process it left, in the same tick
    assert not outputs_unchanged(str(tmp_path), recorded, {})


def test_an_old_output_whose_stat_is_the_recorded_one_is_not_read(tmp_path: Path) -> None:
    path = write(tmp_path / "out.txt", b"result")
    recorded = outputs(tmp_path, "out.txt")
    rewrite_keeping_stat(path, b"RESULT")
    assert outputs_unchanged(str(tmp_path), recorded, {})  # trusted by stat, as git's index


def test_outputs_rewritten_with_the_same_bytes_leave_the_same_result(tmp_path: Path) -> None:
    """Early cutoff: a dependency that ran again but wrote the same bytes leaves its dependents' fingerprint."""
    write(tmp_path / "dist/a.whl", b"wheel")
    first = result_of(record_files(str(tmp_path), ["dist/a.whl"], {})[0], "fp1")
    write(tmp_path / "dist/a.whl", b"wheel", age=False)
    second = result_of(record_files(str(tmp_path), ["dist/a.whl"], {})[0], "fp2")
    assert first == second
    base = {"command": ("sh", "-c", "test"), "workdir": None, "env": {}, "sources_digest": "s"}
    assert fingerprint(**base, dependency_results={"build": first}) == fingerprint(
        **base, dependency_results={"build": second}
    )


# -- fingerprint and result_of ----------------------------------------------------------------------------

BASE = {
    "command": ("/bin/sh", "-c", "make all"),
    "workdir": None,
    "env": {"A": "1", "B": "2"},
    "sources_digest": "d" * 64,
    "dependency_results": {"build": "outputs:" + "e" * 64, "lint": None},
}


def fp(**changes: object) -> str:
    return fingerprint(**{**BASE, **changes})  # type: ignore[arg-type]


def test_fingerprint_is_stable_and_ignores_mapping_order() -> None:
    assert fp() == fp()
    assert len(fp()) == 64 and int(fp(), 16) >= 0
    assert fp(env={"B": "2", "A": "1"}) == fp()
    assert fp(dependency_results={"lint": None, "build": "outputs:" + "e" * 64}) == fp()


@pytest.mark.parametrize(
    "changes",
    [
        {"command": ("/bin/bash", "-c", "make all")},  # the shell
        {"command": ("/bin/sh", "-c", "make al")},  # the script
        {"command": ("/bin/sh", "-c", "make", "all")},
        {"workdir": "."},
        {"workdir": ""},
        {"env": {"A": "1"}},
        {"env": {"A": "1", "B": "2", "C": ""}},
        {"env": {"A": "1", "B": "3"}},
        {"sources_digest": "f" * 64},
        {"dependency_results": {"build": "outputs:" + "f" * 64}},
        {"dependency_results": {"make": "outputs:" + "e" * 64}},
        {"dependency_results": {}},
    ],
)
def test_every_part_counts(changes: dict) -> None:
    assert fp(**changes) != fp()


def test_no_two_fingerprints_read_alike() -> None:
    assert fp(env={"A": "1B=2"}) != fp(env={"A": "1", "B": "2"})
    assert fp(env={"A": "1\0B=2"}) != fp(env={"A": "1", "B": "2"})
    assert fp(env={"A=1": ""}) != fp(env={"A": "=1"})
    assert fp(command=("echo a", "b")) != fp(command=("echo", "a b"))
    assert fp(command=("echo a b",)) != fp(command=("echo", "a", "b"))
    assert fp(workdir=None) != fp(workdir="null") != fp(workdir="")
    assert fp(dependency_results={"a": "b"}) != fp(dependency_results={"ab": ""})


def test_a_dependency_without_a_result_only_orders() -> None:
    assert fp(dependency_results={"build": "outputs:" + "e" * 64}) == fp()
    assert fp(dependency_results={"build": "outputs:" + "e" * 64, "fmt": None}) == fp()


def test_fingerprint_takes_keywords_only() -> None:
    with pytest.raises(TypeError):
        fingerprint(("sh",), None, {}, "", {})  # type: ignore[misc]


@pytest.mark.parametrize(
    ("outputs_digest", "fingerprint_", "expected"),
    [
        ("o", "f", "outputs:o"),  # outputs declared: their contents
        ("o", None, "outputs:o"),  # outputs without sources
        (None, "f", "fingerprint:f"),  # sources only
        (None, None, None),  # neither: it only orders the run
    ],
)
def test_result_of(outputs_digest: str | None, fingerprint_: str | None, expected: str | None) -> None:
    assert result_of(outputs_digest, fingerprint_) == expected


def test_an_outputs_digest_never_passes_for_a_fingerprint() -> None:
    assert result_of("x", None) != result_of(None, "x")


def test_a_file_larger_than_one_read_and_one_outside_the_folder(tmp_path: Path) -> None:
    big = os.urandom(700_000)  # more than one 256 KiB read
    write(tmp_path / "wf/big.bin", big)
    write(tmp_path / "shared.txt", b"shared")
    _, store = digest_files(str(tmp_path / "wf"), ["big.bin", "../shared.txt"], {})
    assert store["big.bin"][3] == hashlib.sha256(big).hexdigest()
    assert store["../shared.txt"][3] == hashlib.sha256(b"shared").hexdigest()
