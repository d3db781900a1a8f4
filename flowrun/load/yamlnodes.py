"""A safe YAML reader that builds plain data and a SourceMap in one pass.

It consumes libyaml's event stream (pure-Python parser as fallback) with an
explicit stack, so it never recurses, never constructs Python objects from tags,
and can enforce limits while it reads: nesting depth, alias expansion (alias
bombs), duplicate keys. Plain scalars are resolved by the YAML 1.2 core schema:
only ``true``/``false`` are booleans, ``yes``/``no``/``on``/``off`` stay text.
Numbers remember how they were spelled (``1.10`` stays ``1.10`` in env values).
"""

from __future__ import annotations

import re
from typing import Any

import yaml
import yaml.reader

from flowrun.errors import Diagnostic, Position
from flowrun.load.sourcemap import Path, SourceMap
from flowrun.records import record
from flowrun.spec.scalars import SpelledBool, SpelledFloat, SpelledInt

__all__ = ["MAX_DEPTH", "MAX_NODES", "YamlProblem", "read_yaml"]

MAX_DEPTH = 200
#: nodes after alias expansion; a 10,000-step workflow has ~200,000
MAX_NODES = 5_000_000

try:  # libyaml is ~10x faster; it ships in PyYAML's wheels
    from yaml.cyaml import CParser as _Parser
except ImportError:  # pragma: no cover - depends on the build
    from yaml.parser import Parser as _PyParser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, _PyParser):  # type: ignore[no-redef]
        def __init__(self, stream: bytes) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            _PyParser.__init__(self)


class YamlProblem(Exception):
    """Reading stopped at a located problem (or several: every duplicate key of a file)."""

    def __init__(self, diagnostic: Diagnostic, *more: Diagnostic) -> None:
        self.diagnostic = diagnostic
        self.diagnostics = (diagnostic, *more)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}
_INT = re.compile(r"[-+]?[0-9]+$")
_OCT = re.compile(r"0o[0-7]+$")
_HEX = re.compile(r"0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)$")
_NAN = re.compile(r"\.(nan|NaN|NAN)$")
_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}


def resolve_plain(text: str) -> Any:
    """Resolve an untagged plain scalar the way YAML 1.2's core schema does."""
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True if text == "true" else SpelledBool(True, text)
    if text in _FALSE:
        return False if text == "false" else SpelledBool(False, text)
    first = text[:1]
    if first.isdigit() or first in "-+.":
        if _INT.match(text):
            return SpelledInt(int(text), text)
        if _OCT.match(text):
            return SpelledInt(int(text[2:], 8), text)
        if _HEX.match(text):
            return SpelledInt(int(text[2:], 16), text)
        if _FLOAT.match(text):
            return SpelledFloat(float(text), text)
        if _INF.match(text):
            return SpelledFloat(float("-inf" if text[0] == "-" else "inf"), text)
        if _NAN.match(text):
            return SpelledFloat(float("nan"), text)
    return text


def _tagged(text: str, tag: str, pos: Position) -> Any:
    kind = tag[len(_CORE):]
    if kind == "str":
        return text
    value = resolve_plain(text)
    wanted = {"int": int, "float": (int, float), "bool": (bool, SpelledBool), "null": type(None)}[kind]
    if isinstance(value, wanted) and not (kind in ("int", "float") and isinstance(value, bool)):
        return SpelledFloat(float(value), text) if kind == "float" else value
    raise YamlProblem(Diagnostic(pos, f"value {text!r} is not a valid !!{kind}"))


@record
class _Frame:
    container: dict[str, Any] | list[Any]
    path: Path
    anchor: str | None
    size: int = 1
    key: str | None = None
    key_pos: tuple[int, int] | None = None
    explicit: set[str] | None = None  # keys written in this mapping (not merged)
    merge_pending: bool = False
    repeated: bool = False  # the pending key was written before: its value is read, then dropped


def _pos(file: str, mark: Any) -> Position:
    return Position(file, mark.line + 1, mark.column + 1)


def read_yaml(data: bytes, file: str, *, positions: bool = False) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain data; raise YamlProblem on the first problem.

    ``positions=False`` returns a SourceMap that re-reads ``data`` on first use.
    """
    smap = SourceMap(file) if positions else SourceMap(file, data)
    parser = None
    try:
        parser = _Parser(data)
        return _compose(parser, file, smap if positions else None), smap
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = _pos(file, mark) if mark is not None else Position(file)
        message = exc.problem or exc.context or "invalid YAML"
        lines = data.count(b"\n") + (not data.endswith(b"\n"))
        if pos.line > lines:  # the end of the file: point at what was left open there, else the last line
            if exc.context_mark is not None and exc.context:
                what = exc.context.removeprefix("while parsing ").removeprefix("while scanning ")
                pos, message = _pos(file, exc.context_mark), f"{what} that starts here is never closed ({message})"
            else:
                pos = Position(file, max(lines, 1), 1)
        if _char_at(data, pos) == "\t":
            message = "a tab cannot start a token; indent YAML with spaces"
        raise YamlProblem(Diagnostic(pos, f"invalid YAML: {message}")) from None
    except yaml.reader.ReaderError as exc:  # bad encoding, control characters
        offset = max(0, min(exc.position, len(data)))
        line = data.count(b"\n", 0, offset) + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        raise YamlProblem(Diagnostic(Position(file, line, column), f"invalid YAML: {exc.reason}: "
                                     f"character {exc.character!r} is not allowed")) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(Diagnostic(Position(file), f"invalid YAML: {exc}")) from None
    finally:
        dispose = getattr(parser, "dispose", None)
        if dispose is not None:
            dispose()


def _char_at(data: bytes, pos: Position) -> str:
    lines = data.split(b"\n", pos.line)
    if len(lines) < pos.line:
        return ""
    text = lines[pos.line - 1].decode(errors="replace")
    return text[pos.column - 1] if 0 < pos.column <= len(text) else ""


def _compose(parser: Any, file: str, smap: SourceMap | None) -> Any:  # noqa: C901 - one state machine
    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Frame] = []
    root: Any = None
    total = 0
    documents = 0
    repeated_keys: list[Diagnostic] = []  # reported together at the end: every one, not the first

    def problem(mark: Any, message: str) -> YamlProblem:
        return YamlProblem(Diagnostic(_pos(file, mark), message))

    def expects_key() -> bool:
        return bool(stack) and isinstance(stack[-1].container, dict) and stack[-1].key is None

    def child_path() -> Path:
        top = stack[-1]
        if isinstance(top.container, list):
            return (*top.path, len(top.container))
        assert top.key is not None
        return (*top.path, top.key)

    def note_value(mark: Any) -> None:
        if smap is not None:
            smap._values[child_path() if stack else ()] = (mark.line + 1, mark.column + 1)

    def note_text(event: Any) -> None:
        """Where a one-line scalar's text starts, if the file holds it as it reads (no escape, no tag)."""
        start, end = event.start_mark, event.end_mark
        if smap is None or start.line != end.line:
            return
        width, length = end.column - start.column, len(event.value)
        if (not event.style and width == length) or (event.style in ("'", '"') and width == length + 2):
            smap._texts[child_path() if stack else ()] = (start.line + 1, start.column + 1 + (width != length))

    def merge(top: _Frame, value: Any, mark: Any) -> None:
        assert isinstance(top.container, dict) and top.explicit is not None
        for source in value if isinstance(value, list) else [value]:
            if not isinstance(source, dict):
                raise problem(mark, "'<<' merges a mapping or a list of mappings")
            for k, v in source.items():
                if k not in top.explicit and k not in top.container:
                    top.container[k] = v
        top.merge_pending = False

    def attach(value: Any, size: int, mark: Any, anchor: str | None, merge_key: bool = False) -> None:
        nonlocal root, total
        total += size
        if total > MAX_NODES:
            raise problem(mark, "document too large after alias expansion (alias bomb?)")
        if anchor is not None:
            anchors[anchor] = (value, size)
        if not stack:
            root = value
            return
        top = stack[-1]
        top.size += size
        if isinstance(top.container, list):
            top.container.append(value)
        elif top.key is None:  # this value is a key
            if not isinstance(value, str):
                raise problem(mark, "mapping keys must be plain text")
            assert top.explicit is not None
            if merge_key:
                top.merge_pending = True
            elif value in top.explicit:
                repeated_keys.append(Diagnostic(_pos(file, mark), f"duplicate key {value!r}"))
                top.repeated = True
            else:
                top.explicit.add(value)
                if smap is not None:
                    smap._keys[(*top.path, value)] = (mark.line + 1, mark.column + 1)
            top.key = value
        else:
            if top.merge_pending:
                merge(top, value, mark)
            elif top.repeated:
                top.repeated = False
            else:
                top.container[top.key] = value
            top.key = None

    while True:
        event = parser.get_event()
        kind = type(event)
        if kind is yaml.StreamStartEvent or kind is yaml.DocumentEndEvent:
            continue
        if kind is yaml.StreamEndEvent:
            break
        mark = event.start_mark
        if kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise problem(mark, "a workflow file holds one YAML document, found a second")
            continue
        if kind is yaml.AliasEvent:
            if event.anchor not in anchors:
                raise problem(mark, f"unknown alias *{event.anchor}")
            value, size = anchors[event.anchor]
            if not expects_key():
                note_value(mark)
            attach(value, size, mark, None)
            continue
        tag = getattr(event, "tag", None)
        if kind is yaml.ScalarEvent:
            is_key = expects_key()
            if tag is not None and tag != "!" and not (event.implicit[0] or event.implicit[1]):
                if tag not in _ALLOWED_TAGS:
                    raise problem(mark, f"tag {tag!r} is not allowed (flowrun reads plain YAML only)")
                value = _tagged(event.value, tag, _pos(file, mark))
            elif not event.style and event.implicit[0] and not is_key:  # plain ('' from libyaml)
                value = resolve_plain(event.value)
            else:
                value = event.value  # quoted scalars, and keys: text as spelled (`1:` is "1")
            if not is_key:
                note_value(mark)
                note_text(event)
            merge_key = is_key and not event.style and event.value == "<<"
            attach(value, 1, mark, event.anchor, merge_key)
            continue
        if kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
            if tag is not None and not event.implicit and tag not in _ALLOWED_TAGS:
                raise problem(mark, f"tag {tag!r} is not allowed (flowrun reads plain YAML only)")
            if expects_key():
                raise problem(mark, "mapping keys must be plain text")
            if len(stack) >= MAX_DEPTH:
                raise problem(mark, f"nesting deeper than {MAX_DEPTH} levels")
            path: Path = ()
            if smap is not None:
                path = child_path() if stack else ()
                smap._values[path] = (mark.line + 1, mark.column + 1)
            if kind is yaml.SequenceStartEvent:
                stack.append(_Frame([], path, event.anchor))
            else:
                stack.append(_Frame({}, path, event.anchor, explicit=set()))
            continue
        frame = stack.pop()  # SequenceEndEvent / MappingEndEvent
        total -= frame.size - 1  # its children were counted as they arrived
        attach(frame.container, frame.size, mark, frame.anchor)
    if repeated_keys:
        raise YamlProblem(*repeated_keys)
    return root
