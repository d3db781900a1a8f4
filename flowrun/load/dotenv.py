"""Read ``KEY=VALUE`` files (SPEC §6): no expansion, no execution."""

from __future__ import annotations

import re

from flowrun.errors import Diagnostic, Position

__all__ = ["parse_dotenv"]

_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$")


def parse_dotenv(text: str, file: str) -> tuple[dict[str, str], list[Diagnostic]]:
    """Values and problems of one dotenv file; quotes around a value are stripped."""
    values: dict[str, str] = {}
    problems: list[Diagnostic] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            problems.append(Diagnostic(Position(file, number, 1), "expected KEY=VALUE"))
            continue
        key, value = match.group(1), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values, problems
