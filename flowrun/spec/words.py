"""Closed sets of words (conditions, shells, signals): one error shape for a word outside them.

A validator raises ``unknown_word(...)``; the loader turns it, like pydantic's own
``enum`` and ``literal_error``, into ``unknown NOUN 'word' in PATH — did you mean ...?``.
``problem(...)`` is the error for a check that needs its own sentence and hint
(the loader prints it as written, at the key or the value it is raised for).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic_core import PydanticCustomError

__all__ = ["PROBLEM", "UNKNOWN_WORD", "problem", "unknown_word"]

#: the pydantic error types the loader recognises
UNKNOWN_WORD = "unknown_word"
PROBLEM = "flowrun_problem"


def unknown_word(
    noun: str, word: object, choices: Iterable[str], also: str = "", *, at_key: bool = False
) -> PydanticCustomError:
    """The error for ``word`` outside ``choices``; ``also`` names what else the field takes.

    ``at_key``: the word is a mapping key (point at it, not at its value).
    """
    return PydanticCustomError(
        UNKNOWN_WORD, "unknown {noun} {word}",
        {"noun": noun, "word": repr(word if isinstance(word, str) else str(word)), "choices": list(choices),
         "also": also, "at_key": at_key},
    )


def problem(message: str, hint: str | None = None, *, at_key: bool = False) -> PydanticCustomError:
    """An error printed as ``message — hint``, without the field's path in front."""
    return PydanticCustomError(PROBLEM, "{message}", {"message": message, "hint": hint, "at_key": at_key})
