"""A step's source stat cache as one blob: round trips, and anything else reads as nothing known."""

from __future__ import annotations

from array import array

from hypothesis import given
from hypothesis import strategies as st

from flowrun.engine.statblob import decode, encode

DIGEST = "ab" * 32
entry = st.tuples(st.integers(0, 2**62), st.integers(-(2**62), 2**62), st.integers(0, 2**63),
                  st.text("0123456789abcdef", min_size=64, max_size=64))
names = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), min_size=1, max_size=40)


@given(st.dictionaries(names, entry, max_size=30), st.booleans())
def test_entries_and_the_combined_digest_come_back(entries: dict, with_digest: bool) -> None:
    found = decode(encode(entries, DIGEST if with_digest else None))
    assert found is not None
    assert found.entries() == entries
    assert found.names == sorted(entries)
    assert found.combined == (DIGEST if with_digest else None)


def test_same_stats_compares_names_and_every_stat() -> None:
    entries = {"b.txt": (1, 20, 300, DIGEST), "a.txt": (4, 50, 600, DIGEST)}
    found = decode(encode(entries, DIGEST))
    assert found is not None
    same = (array("q", [4, 1]), array("q", [50, 20]), array("Q", [600, 300]))
    assert found.same_stats(["a.txt", "b.txt"], *same)
    assert not found.same_stats(["a.txt", "c.txt"], *same)
    for column in range(3):
        changed = [array(a.typecode, a) for a in same]
        changed[column][1] += 1
        assert not found.same_stats(["a.txt", "b.txt"], *changed), column


def test_an_entry_it_cannot_hold_drops_the_combined_digest() -> None:
    found = decode(encode({"a": (1, 2, 3, DIGEST), "nul\0name": (1, 2, 3, DIGEST), "short": (1, 2, 3, "ab")},
                          DIGEST))
    assert found is not None and found.entries() == {"a": (1, 2, 3, DIGEST)} and found.combined is None


def test_garbage_reads_as_nothing_known() -> None:
    good = encode({"a": (1, 2, 3, DIGEST), "é/b": (4, 5, 6, DIGEST)}, DIGEST)
    for blob in (None, b"", b"FRS1", b"not a blob at all", good[: len(good) // 2], good[:-1],
                 good[:12] + b"\xff" * 64 + good[76:], b"FRS2" + good[4:]):
        assert decode(blob) is None, blob
    # bytes changed inside a name still decode (surrogateescape): as another name, which only misses the cache
    found = decode(good[:-3] + b"\xff\xfe\xfd")
    assert found is not None and "é/b" not in found.entries()
