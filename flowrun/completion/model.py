"""The command line as completion data, read off the argparse parser (so it never drifts from it).

argparse has no public way to list a parser's arguments; ``_actions`` and the
subparsers action's ``choices`` are what every completion generator for it reads.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

__all__ = ["Command", "Option", "commands", "value_kind"]

#: what an option's value (or a positional) is completed with
KINDS = ("workflow", "file", "choice", "params", "targets", "steps", "runs", "any")


@dataclass(frozen=True)
class Option:
    """One option; ``kind`` None for a flag, else what its value is completed with."""

    strings: tuple[str, ...]
    help: str
    kind: str | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Command:
    """A subcommand: its options, and what its positional arguments are completed with (if any)."""

    name: str
    help: str
    options: list[Option] = field(default_factory=list)
    positional: str | None = None
    positional_choices: tuple[str, ...] = ()

    @property
    def workflow_options(self) -> tuple[str, ...]:
        """The option strings naming the workflow file (``logs`` takes ``--file`` only: ``-f`` is ``--follow``)."""
        return tuple(s for option in self.options if option.kind == "workflow" for s in option.strings)

    def valued(self) -> list[Option]:
        return [option for option in self.options if option.kind is not None]


def value_kind(command: str, action: argparse.Action) -> tuple[str, tuple[str, ...]]:
    """What completes the value of ``action`` in ``command``, and the words of a closed set."""
    choices = getattr(action.type, "choices", None) or action.choices
    if choices:
        return "choice", tuple(str(c) for c in choices)
    if action.dest == "file":
        return "workflow", ()
    if action.metavar == "FILE":
        return "file", ()
    if action.dest == "param":
        return "params", ()
    if action.dest in ("steps", "step"):
        return ("targets" if command == "up" else "steps"), ()  # `up` takes a matrix step's own name
    if action.dest == "run":
        return "runs", ()
    return "any", ()


def _options(command: str, parser: argparse.ArgumentParser) -> tuple[list[Option], tuple[str, tuple[str, ...]]]:
    options: list[Option] = []
    positional: tuple[str, tuple[str, ...]] = ("", ())
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        help_text = " ".join((action.help or "").split()).replace("%%", "%")
        if not action.option_strings:
            positional = value_kind(command, action)
        elif action.nargs == 0:
            options.append(Option(tuple(action.option_strings), help_text))
        else:
            kind, choices = value_kind(command, action)
            options.append(Option(tuple(action.option_strings), help_text, kind, choices))
    return options, positional


def commands(parser: argparse.ArgumentParser) -> tuple[list[Option], list[Command]]:
    """The top level's options and every subcommand, in the parser's order."""
    top, _ = _options("", parser)
    found: list[Command] = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
        for name, sub in action.choices.items():
            options, (kind, choices) = _options(name, sub)
            found.append(Command(name, helps.get(name, ""), options, kind or None, choices))
    return top, found
