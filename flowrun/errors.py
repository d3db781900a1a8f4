"""One exception tree for flowrun, with the exit codes the CLI returns."""

from __future__ import annotations

from collections.abc import Iterable

from flowrun.records import record

__all__ = [
    "EXIT_FAILED",
    "EXIT_INVALID",
    "EXIT_OK",
    "Diagnostic",
    "ExecutorError",
    "FlowrunError",
    "Position",
    "UsageError",
    "WorkflowError",
    "WorkflowNotFound",
    "did_you_mean",
    "one_of",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """``did you mean 'x'?`` for the closest choice, if one is close enough."""
    import difflib

    match = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None


def one_of(word: str, choices: Iterable[str]) -> str:
    """The hint for a word outside a closed set: the closest choice, else the whole set."""
    listed = list(dict.fromkeys(choices))
    return did_you_mean(word, listed) or "expected " + ", ".join(repr(c) for c in listed)


@record(frozen=True, order=True)
class Position:
    """A place in a workflow file: 1-based line and column."""

    file: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@record(frozen=True)
class Diagnostic:
    """One problem in a user's file, printed as ``FILE:LINE:COLUMN: message``."""

    position: Position
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.position}: {self.message}"
        return f"{text} — {self.hint}" if self.hint else text

    def sort_key(self) -> tuple[str, int, int, str]:
        p = self.position
        return (p.file, p.line, p.column, self.message)


class FlowrunError(Exception):
    """Base of every error flowrun raises on purpose; carries the exit code."""

    exit_code: int = EXIT_FAILED


class WorkflowError(FlowrunError):
    """The workflow file is invalid; holds every problem found, sorted by position."""

    exit_code = EXIT_INVALID

    def __init__(self, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]) -> None:
        unique = {(str(d)): d for d in diagnostics}
        self.diagnostics: tuple[Diagnostic, ...] = tuple(
            sorted(unique.values(), key=Diagnostic.sort_key)
        )
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class WorkflowNotFound(FlowrunError):
    """No workflow file at the given path or in the default places."""

    exit_code = EXIT_INVALID

    def __init__(self, tried: list[str]) -> None:
        self.tried = tried
        super().__init__("no workflow file found (tried: " + ", ".join(tried) + ")")


class UsageError(FlowrunError):
    """The command line asked for something impossible (unknown step, bad flag)."""

    exit_code = EXIT_INVALID


class ExecutorError(FlowrunError):
    """The executor itself broke (not a step failing)."""

    exit_code = EXIT_FAILED
