"""Closed sets of words (conditions, shells, signals): one error shape for a word outside them.

A validator raises ``unknown_word(...)``; the loader turns it, like pydantic's own
``enum`` and ``literal_error``, into ``unknown NOUN 'word' in PATH — did you mean ...?``.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic_core import PydanticCustomError

__all__ = ["UNKNOWN_WORD", "unknown_word"]

#: the pydantic error type the loader recognises
UNKNOWN_WORD = "unknown_word"


def unknown_word(noun: str, word: object, choices: Iterable[str], also: str = "") -> PydanticCustomError:
    """The error for ``word`` outside ``choices``; ``also`` names what else the field takes."""
    return PydanticCustomError(
        UNKNOWN_WORD, "unknown {noun} {word}",
        {"noun": noun, "word": repr(word if isinstance(word, str) else str(word)), "choices": list(choices),
         "also": also},
    )
