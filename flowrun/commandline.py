"""The ``flowrun`` command line: its subcommands and their options, as argparse parsers.

``cli`` parses with it; ``flowrun completion SHELL`` generates its scripts from
the same parsers (``flowrun.completion.scripts``), so the options a shell offers
are the ones argparse takes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SHELLS", "SUBCOMMANDS", "Choice", "build_parser"]

#: the shells ``flowrun completion`` writes a script for
SHELLS = ("bash", "zsh", "fish")


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, told the terminal width so that it need not import shutil (with bz2, lzma)."""

    def __init__(self, prog: str, **options: Any) -> None:
        if options.get("width") is None:
            try:
                columns = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(sys.__stdout__.fileno()).columns
            except (ValueError, OSError, AttributeError):
                columns = 80
            options["width"] = max(columns - 2, 10)  # what argparse does with shutil's answer
        super().__init__(prog, **options)


def build_parser(wanted: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or only the top level and ``wanted``'s subcommand.

    Building a subcommand's parser costs argparse a few milliseconds (a message
    catalogue lookup per option): ``flowrun up ...`` builds only ``up``'s.
    """
    parser = argparse.ArgumentParser(prog="flowrun", description="Run workflows of parallel steps declared in YAML.",
                                     formatter_class=_Formatter)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments) in SUBCOMMANDS.items():
        if wanted is None or name == wanted:
            add_arguments(sub.add_parser(name, help=help_text, formatter_class=_Formatter))
    return parser


def _with_file(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--file", help="workflow file (default: flowrun.yaml, then flowrun.yml)")


def _up_arguments(up: argparse.ArgumentParser) -> None:
    _with_file(up)
    up.add_argument("steps", nargs="*", metavar="STEP")
    up.add_argument("-j", "--jobs", type=_positive, help="max steps running at once (default: file's jobs, else CPUs)")
    up.add_argument("--keep-going", action="store_true", help="run everything that does not depend on a failure")
    up.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    up.add_argument("--output", type=Choice("output", ("auto", "tty", "plain", "github")), default="auto",
                    metavar="{auto,tty,plain,github}")
    amount = up.add_mutually_exclusive_group()
    amount.add_argument("-q", "--quiet", action="store_true", help="only failures and the summary")
    amount.add_argument("-v", "--verbose", action="store_true", help="commands and scheduler decisions too")
    up.add_argument("--junit", metavar="FILE", help="write a JUnit XML report (one testcase per step)")
    up.add_argument("--json", metavar="FILE", help="write a JSON run report")
    up.add_argument("--html", metavar="FILE", help="write a self-contained HTML page with a timeline")
    up.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                    help="give the parameter NAME a value (repeatable; the last one given wins)")
    up.add_argument("--force", action="store_true", help="run steps with sources: even when nothing changed")
    up.add_argument("--resume", action="store_true",
                    help="the last recorded run's selection and parameters again; what succeeded then is cached")
    up.add_argument("--executor", metavar="NAME", help="where steps run: local (default) or dask")
    up.add_argument("--scheduler", metavar="ADDR", help="the Dask scheduler (default: $FLOWRUN_DASK_SCHEDULER)")


def _graph_arguments(graph: argparse.ArgumentParser) -> None:
    _with_file(graph)
    graph.add_argument("--format", type=Choice("format", ("tree", "mermaid", "dot")), default="tree",
                       metavar="{tree,mermaid,dot}")


def _logs_arguments(logs: argparse.ArgumentParser) -> None:
    logs.add_argument("--file", dest="file", help="workflow file (default: flowrun.yaml, then flowrun.yml)")
    logs.add_argument("step", nargs="?")
    logs.add_argument("--run", help="run id (default: the latest)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")


def _history_arguments(history: argparse.ArgumentParser) -> None:
    _with_file(history)
    history.add_argument("step", nargs="?", metavar="STEP", help="show this step across runs")
    history.add_argument("--json", action="store_true", help="print a JSON document")
    history.add_argument("--limit", type=_positive, default=20, metavar="N", help="at most N runs (default: 20)")


def _completion_arguments(completion: argparse.ArgumentParser) -> None:
    completion.add_argument("shell", type=Choice("shell", SHELLS), metavar="{" + ",".join(SHELLS) + "}")


SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "up": ("run the workflow, or only the named steps and what they need", _up_arguments),
    "validate": ("check the file and graph; print every error", _with_file),
    "list": ("the steps, their descriptions and dependencies", _with_file),
    "graph": ("the DAG as a tree, Mermaid or Graphviz dot", _graph_arguments),
    "schema": ("the JSON Schema of the workflow file (for editors)", lambda p: None),
    "logs": ("logs of the last run (or --run ID)", _logs_arguments),
    "history": ("past runs, or one step across runs", _history_arguments),
    "completion": ("print the shell completion script for bash, zsh or fish", _completion_arguments),
}


class Choice:
    """An option taking one word of a closed set; a word outside it gets a did-you-mean, as in a file."""

    def __init__(self, noun: str, choices: tuple[str, ...]) -> None:
        self.noun, self.choices = noun, choices
        self.__name__ = noun  # argparse names the type in some messages

    def __call__(self, text: str) -> str:
        if text in self.choices:
            return text
        from flowrun.errors import one_of

        raise argparse.ArgumentTypeError(f"unknown {self.noun} {text!r} — {one_of(text, self.choices)}")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
