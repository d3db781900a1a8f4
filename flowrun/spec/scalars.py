"""YAML scalars that remember how the file spelled them (SPEC §6: a step sees values as written).

The loader makes them; the models read ``text`` wherever a value becomes text
(``env``, ``matrix``, ``cmd`` items), and the number or boolean everywhere else.
"""

from __future__ import annotations

__all__ = ["SpelledBool", "SpelledFloat", "SpelledInt"]


class SpelledInt(int):
    """An int that remembers its source text (``0x1F``, ``010``)."""

    text: str

    def __new__(cls, value: int, text: str) -> SpelledInt:
        obj = super().__new__(cls, value)
        obj.text = text
        return obj


class SpelledFloat(float):
    """A float that remembers its source text (``1.10``)."""

    text: str

    def __new__(cls, value: float, text: str) -> SpelledFloat:
        obj = super().__new__(cls, value)
        obj.text = text
        return obj


class SpelledBool:
    """``True``, ``TRUE``, ``False`` or ``FALSE``: a YAML 1.2 boolean not spelled in lower case.

    Not a ``bool`` (which cannot be subclassed): a boolean field takes ``value``,
    text takes ``text``, so ``DEBUG: True`` gives a step ``DEBUG=True``.
    """

    __slots__ = ("text", "value")

    def __init__(self, value: bool, text: str) -> None:
        self.value, self.text = value, text

    def __bool__(self) -> bool:
        return self.value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SpelledBool):
            return self.value == other.value and self.text == other.text
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.value, self.text))

    def __repr__(self) -> str:
        return self.text
