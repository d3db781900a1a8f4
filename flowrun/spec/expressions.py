"""``${{ steps.STEP.outputs.NAME }}`` and ``${{ params.NAME }}`` inside text (SPEC §9); pure, no pydantic.

The language, in EBNF (``ws`` is spaces, tabs and line breaks; no space may
stand inside a reference)::

    template   = { text | expression } ;
    text       = ? any characters, up to the next "${{" ? ;
    expression = "${{" , ws , reference , ws , "}}" ;
    reference  = output | param ;
    output     = "steps" , "." , step , "." , "outputs" , "." , name ;
    param      = "params" , "." , name ;
    step       = word , { "." , word } ;   (* all between "steps." and the last ".outputs." *)
    word       = ( letter | digit | "_" | "-" ) , { letter | digit | "_" | "-" } ;
    name       = ( letter | "_" ) , { letter | digit | "_" } ;
    ws         = { " " | "\\t" | "\\r" | "\\n" } ;

Since a ``name`` holds no dot, the ``.outputs.`` that ends a step is the last
one, and dotted step names (``steps.build.linux.outputs.v``) read as expected.
Text outside ``${{ }}`` is kept exactly as written: ``$``, ``${`` and
``${HOME}`` are text. There is no escape: every ``${{`` in a value that takes
expressions opens one.

``parse`` runs a scanner over the text and, inside each ``${{ }}``, a tokenizer
and a recursive-descent parser over its tokens; every mistake is an
``ExpressionError`` carrying the 0-based offset of the offending part.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping

from flowrun.errors import did_you_mean
from flowrun.records import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import NoReturn

__all__ = [
    "OPEN",
    "ExpressionError",
    "OutputRef",
    "ParamRef",
    "Part",
    "Template",
    "Text",
    "has_expression",
    "located",
    "parse",
    "references",
    "render",
]

#: what opens an expression
OPEN = "${{"
_CLOSE = "}}"
_SPACE = " \t\r\n"
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


@functools.cache
def _name() -> re.Pattern[str]:
    """A name (a parameter's, an output's): compiled on first use, not at every start."""
    return re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

_FORMS = "write ${{ steps.STEP.outputs.NAME }} or ${{ params.NAME }}"
#: roots users bring from GitHub Actions, and what flowrun calls them
_KNOWN_ROOTS = {
    "needs": "did you mean 'steps'? (a step's outputs are steps.STEP.outputs.NAME)",
    "jobs": "did you mean 'steps'? (a step's outputs are steps.STEP.outputs.NAME)",
    "inputs": "did you mean 'params'?",
    "vars": "did you mean 'params'?",
    "env": "an environment variable is read by the command itself ($NAME in run:)",
    "matrix": "a matrix value is an environment variable of the instance ($NAME in run:)",
    "secrets": "a secret is an environment variable (listed in secrets:); read it as $NAME in run:",
}


@record(frozen=True, slots=True)
class Text:
    """Literal text, kept as written."""

    text: str


@record(frozen=True, slots=True)
class ParamRef:
    """``${{ params.NAME }}``."""

    name: str


@record(frozen=True, slots=True)
class OutputRef:
    """``${{ steps.STEP.outputs.NAME }}``."""

    step: str
    name: str


Part = Text | ParamRef | OutputRef
Template = tuple[Part, ...]


class ExpressionError(ValueError):
    """A mistake in a ``${{ }}``: ``offset`` is the 0-based index in the text of the part at fault."""

    def __init__(self, offset: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.offset, self.message, self.hint = offset, message, hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


def has_expression(text: str) -> bool:
    """Might ``text`` hold an expression? (The cheap test before ``parse``.)"""
    return OPEN in text


def parse(text: str) -> Template:
    """``text`` as literal parts and references; raises ExpressionError for any mistake."""
    return tuple(part for _, part in _scan(text))


def located(text: str) -> list[tuple[int, OutputRef | ParamRef]]:
    """Each reference with the offset of its first character (the ``s`` of ``steps``, the ``p`` of ``params``).

    No space stands inside a reference, so the offsets of its pieces follow:
    STEP at ``offset + 6``, a parameter's NAME at ``offset + 7``.
    """
    return [(offset, part) for offset, part in _scan(text) if not isinstance(part, Text)]


def render(template: Template, params: Mapping[str, str], output: Callable[[str, str], str]) -> str:
    """The text with each reference replaced: ``params[NAME]``, ``output(STEP, NAME)``.

    A parameter missing from ``params`` raises KeyError; ``output`` raises what it likes.
    """
    pieces: list[str] = []
    for part in template:
        if isinstance(part, Text):
            pieces.append(part.text)
        elif isinstance(part, ParamRef):
            pieces.append(params[part.name])
        else:
            pieces.append(output(part.step, part.name))
    return "".join(pieces)


def references(template: Template) -> list[OutputRef | ParamRef]:
    """The references of ``template``, each once, in the order they first appear."""
    return list(dict.fromkeys(part for part in template if not isinstance(part, Text)))


# -- the scanner: text and expressions ----------------------------------------------------------


def _scan(text: str) -> Iterator[tuple[int, Part]]:
    """(offset, part) for each literal piece and each reference, in order."""
    at = 0
    while True:
        start = text.find(OPEN, at)
        if start < 0:
            if at < len(text):
                yield at, Text(text[at:])
            return
        if start > at:
            yield at, Text(text[at:start])
        if text.find(_CLOSE, start + len(OPEN)) < 0:
            raise ExpressionError(start, f"unclosed {OPEN!r}: no '}}}}' follows it", "end the expression with '}}'")
        offset, reference, at = _Parser(text, start).expression()
        yield offset, reference


# -- the tokenizer and parser of one expression --------------------------------------------------


@record(frozen=True, slots=True)
class _Token:
    kind: str  # "word", ".", "space", "close", "open", "other", "end"
    text: str
    offset: int


def _tokens(text: str, at: int) -> Iterator[_Token]:
    """The tokens from ``at`` to the first ``}}`` (included); then "end" forever."""
    n = len(text)
    while at < n:
        char = text[at]
        if char in _WORD:
            end = at + 1
            while end < n and text[end] in _WORD:
                end += 1
            yield _Token("word", text[at:end], at)
            at = end
        elif char in _SPACE:
            end = at + 1
            while end < n and text[end] in _SPACE:
                end += 1
            yield _Token("space", text[at:end], at)
            at = end
        elif text.startswith(_CLOSE, at):
            yield _Token("close", _CLOSE, at)
            at += len(_CLOSE)
            break
        elif text.startswith(OPEN, at):
            yield _Token("open", OPEN, at)
            at += len(OPEN)
        else:
            yield _Token("." if char == "." else "other", char, at)
            at += 1
    while True:
        yield _Token("end", "", at)


class _Parser:
    """Recursive descent over the tokens of the expression that opens at ``start``."""

    def __init__(self, text: str, start: int) -> None:
        self.text, self.start = text, start
        self._tokens = _tokens(text, start + len(OPEN))
        self.token = next(self._tokens)
        self._ref_start = start

    def _advance(self) -> _Token:
        token, self.token = self.token, next(self._tokens)
        return token

    def _skip_space(self) -> None:
        if self.token.kind == "space":
            self._advance()

    def expression(self) -> tuple[int, OutputRef | ParamRef, int]:
        """expression = "${{" ws reference ws "}}"; returns (offset of the reference, it, offset after "}}")."""
        self._skip_space()
        token = self.token
        if token.kind == "close":
            raise ExpressionError(self.start, f"empty expression {self.text[self.start:token.offset + 2]!r}", _FORMS)
        if token.kind != "word":
            raise self._unexpected(token, "at the start of an expression")
        reference = self._reference()
        end = self.token.offset  # the end of the reference: nothing stands inside it
        self._skip_space()
        token = self.token
        if token.kind != "close":
            written = self.text[self._ref_start:end]
            hint = "an expression holds one reference; write several ${{ }} side by side" \
                if token.kind == "word" else "a parameter's name holds no dot" \
                if token.kind == "." and isinstance(reference, ParamRef) else None
            raise self._unexpected(token, f"after {written!r}", hint)
        return self._ref_start, reference, token.offset + len(_CLOSE)

    def _reference(self) -> OutputRef | ParamRef:
        """reference = output | param; the current token is its root word."""
        root = self._advance()
        self._ref_start = root.offset
        if root.text == "steps":
            return self._output(root)
        if root.text == "params":
            return ParamRef(self._name(root, "parameter", "params.NAME"))
        hint = _KNOWN_ROOTS.get(root.text) or did_you_mean(root.text, ["steps", "params"]) or _FORMS
        raise ExpressionError(root.offset, f"unknown name {root.text!r} in an expression "
                                           "(expected 'steps' or 'params')", hint)

    def _name(self, after: _Token, noun: str, form: str) -> str:
        """"." name, after the word ``after``."""
        if self.token.kind != ".":
            raise ExpressionError(self.token.offset, f"missing {noun} name after {after.text!r}", f"write {form}")
        dot = self._advance()
        token = self.token
        if token.kind != "word":
            raise ExpressionError(dot.offset + 1, f"missing {noun} name after '{after.text}.'", f"write {form}")
        self._advance()
        if not _name().match(token.text):
            raise ExpressionError(token.offset, f"{token.text!r} is not a valid {noun} name",
                                  "a name has letters, digits and '_', and does not start with a digit")
        return token.text

    def _output(self, root: _Token) -> OutputRef:
        """output = "steps" "." step "." "outputs" "." name, with step all before the last ".outputs."."""
        form = "steps.STEP.outputs.NAME"
        if self.token.kind != ".":
            raise ExpressionError(self.token.offset, "missing step name after 'steps'", f"write {form}")
        words: list[_Token] = []  # the dotted words after "steps."
        while self.token.kind == ".":
            dot = self._advance()
            if self.token.kind != "word":
                what = "step name" if not words else \
                    "output name" if len(words) >= 2 and words[-1].text == "outputs" else "name"
                written = self.text[root.offset:dot.offset + 1]
                raise ExpressionError(dot.offset + 1, f"missing {what} after {written!r}", f"write {form}")
            words.append(self._advance())
        if self.token.text == "[":
            written = self.text[root.offset:self.token.offset]
            raise ExpressionError(self.token.offset, f"unexpected '[' after {written!r}",
                                  "the outputs of a matrix step cannot be read")
        last = max((i for i, w in enumerate(words) if w.text == "outputs" and i > 0), default=None)
        if last is None:
            self._no_outputs(root, words, form)
        if last == len(words) - 1:
            raise ExpressionError(words[-1].offset + len("outputs"), "missing output name after 'outputs'",
                                  f"write {form}")
        name = words[last + 1]
        if last + 2 < len(words):  # an output name holds no dot
            end = name.offset + len(name.text)
            raise ExpressionError(end, f"unexpected {self.text[end:words[-1].offset + len(words[-1].text)]!r} "
                                       f"after {self.text[root.offset:end]!r}", "an output name holds no dot")
        if not _name().match(name.text):
            raise ExpressionError(name.offset, f"{name.text!r} is not a valid output name",
                                  "a name has letters, digits and '_', and does not start with a digit")
        step = words[:last]
        return OutputRef(self.text[step[0].offset:step[-1].offset + len(step[-1].text)], name.text)

    def _no_outputs(self, root: _Token, words: list[_Token], form: str) -> NoReturn:
        """Raise the error for ``steps.…`` without ``.outputs.`` after a step name."""
        if words[0].text == "outputs":
            raise ExpressionError(words[0].offset, "missing step name between 'steps.' and '.outputs.'",
                                  f"write {form}")
        for word in words[1:]:  # a misspelt "outputs": outptus, output, Outputs
            if did_you_mean(word.text, ["outputs"]):
                raise ExpressionError(word.offset, f"unknown word {word.text!r} in {form}",
                                      "did you mean 'outputs'?")
        end = words[-1].offset + len(words[-1].text)
        written = self.text[root.offset:end]
        raise ExpressionError(end, f"{written!r} names no output: '.outputs.NAME' is missing", f"write {form}")

    def _unexpected(self, token: _Token, where: str, hint: str | None = None) -> ExpressionError:
        if token.kind == "open":
            return ExpressionError(self.start, f"unclosed {OPEN!r}: another {OPEN!r} opens before '}}}}'",
                                   "close each expression with '}}' before the next one")
        if token.text == "(":
            hint = "flowrun expressions have no functions; " + _FORMS
        return ExpressionError(token.offset, f"unexpected {token.text!r} {where}", hint or _FORMS)
