"""``_block``: the ``char *[]`` handed to posix_spawn must read back as the strings given."""

from __future__ import annotations

import ctypes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowrun.process.spawn import _block

_TEXT = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=20)


@given(st.lists(_TEXT | st.just("bad=\udcff"), max_size=8))
def test_pointers_read_back_as_the_strings(strings: list[str]) -> None:
    blob, ptrs = _block(strings)
    assert ptrs[-1] == 0 and len(ptrs) == len(strings) + 1
    read = [ctypes.string_at(address).decode("utf-8", "surrogateescape") for address in ptrs[:-1]]
    assert read == strings
    del blob


def test_an_embedded_null_byte_is_refused() -> None:
    with pytest.raises(ValueError, match="null"):
        _block(["a", "b\0c"])
