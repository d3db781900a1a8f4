"""The ``flowrun`` command: parse arguments, call the library, return an exit code.

Only ``main`` turns exceptions into exit codes; the CLI can do nothing the API cannot.
"""

from __future__ import annotations

import os
import sys

from flowrun.errors import EXIT_INVALID, FlowrunError, UsageError, WorkflowError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:  # argparse, json and the parsers load after the `__complete` check (main)
    import argparse
    from collections.abc import Sequence
    from typing import Any

__all__ = ["main"]

_ENDS_PROCESS = False  # run_console: the process ends with os._exit after the command


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from flowrun.load import load

    return load(args.file)


def _cmd_validate(args: argparse.Namespace) -> int:
    from flowrun.graph import plan_for

    workflow = _load(args)
    print(f"{workflow.path}: ok ({len(plan_for(workflow).order)} steps)")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from flowrun.graph import plan_for
    from flowrun.render import dependency_text, label

    workflow = _load(args)
    plan = plan_for(workflow)
    rows = [(label(plan, n), _first_line(plan.instances[n].step.description), dependency_text(plan, n))
            for n in plan.order]
    params = _param_rows(workflow)
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        console = Console()
        for headers, body in ((("step", "description", "depends on"), rows),
                              (("param", "value", "choices", "description"), params)):
            if body or headers[0] == "step":
                table = Table(*headers)
                for row in body:
                    table.add_row(*row)
                console.print(table)
    else:
        _print_columns(rows)
        if params:
            print("\nparams:")
            _print_columns(params, indent="  ")
    return 0


def _print_columns(rows: list[tuple[str, ...]], indent: str = "") -> None:
    """Rows as columns two spaces apart, each as wide as its widest cell (the last is not padded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]
        print((indent + "  ".join(cells)).rstrip())


def _param_rows(workflow: Any) -> list[tuple[str, str, str, str]]:
    """``flowrun list``'s parameters: name, default or ``required``, choices, description (secrets masked)."""
    secret = set(workflow.secrets)
    rows = []
    for name, param in workflow.params.items():
        default = param.default or ""
        shown = "''" if not default else "***" if name in secret else default
        value = "required" if param.required else f"default {shown}"
        choices = ", ".join(param.choices) if param.choices is not None else ""
        rows.append((name, value, choices, _first_line(param.description)))
    return rows


def _first_line(text: str | None) -> str:
    """A description is one line for humans; ``list`` shows the first of several."""
    return (text or "").strip().split("\n", 1)[0]


def _cmd_graph(args: argparse.Namespace) -> int:
    from flowrun.graph import plan_for
    from flowrun.render import to_dot, to_mermaid, to_tree

    plan = plan_for(_load(args))
    print({"tree": to_tree, "mermaid": to_mermaid, "dot": to_dot}[args.format](plan))
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    import json

    from flowrun.spec.schema import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def _cmd_logs(args: argparse.Namespace) -> int:
    from flowrun.report.logview import print_logs

    workflow = _load(args)
    return print_logs(workflow.base_dir, step=args.step, run_id=args.run, follow=args.follow)


def _cmd_history(args: argparse.Namespace) -> int:
    from flowrun.engine.history_query import history_view
    from flowrun.load import find_workflow

    view = history_view(os.path.dirname(os.path.abspath(find_workflow(args.file))), args.step, args.limit)
    if args.json:
        import json

        print(json.dumps(view.document, indent=2))
        if view.message:
            print(f"flowrun: {view.message}", file=sys.stderr)
    elif view.message:
        print(view.message)
    else:  # columns on a terminal too: a rich table in 80 columns would cut the run ids `logs --run` takes
        _print_columns([view.headers, *view.rows])
    if view.note and not args.json:
        print(view.note)
    return 0


def _cmd_completion(args: argparse.Namespace) -> int:
    from flowrun.commandline import build_parser
    from flowrun.completion.scripts import script

    print(script(args.shell, build_parser()), end="")
    return 0


def _output_mode(args: argparse.Namespace) -> str:
    if args.output != "auto":
        return str(args.output)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        return "github"
    return "tty" if sys.stdout.isatty() else "plain"


def _cmd_up(args: argparse.Namespace) -> int:
    from flowrun.engine import run
    from flowrun.graph import plan_for
    from flowrun.load import find_workflow
    from flowrun.load.cache import load_for_run
    from flowrun.report.choose import console_reporters, step_summary_reporters
    from flowrun.report.files import file_reporters, plan_dependencies
    from flowrun.spec.bindings import check_addresses, parse_assignments, resolve_params

    given = parse_assignments(args.param)  # a malformed -p is exit 2 before the file is read
    if args.resume and (args.param or args.steps):
        raise UsageError("--resume repeats the last run's steps and parameters: give neither STEP nor -p with it")
    workflow = load_for_run(find_workflow(args.file))  # a file unchanged since its last run skips yaml/pydantic
    if _ENDS_PROCESS:  # the process ends right after the run: no WAL checkpoint (History.leave_open)
        from flowrun.engine import recording

        recording.ends_process = True
    if args.resume:
        from flowrun.engine.recording import last_selection

        args.steps, given = last_selection(workflow)  # exit 2 when no run is recorded
    plan = plan_for(workflow)
    if args.steps:
        plan = plan.select(args.steps)
    params = resolve_params(workflow.params, given)  # every mistake is exit 2 before anything runs
    check_addresses({inst.base: inst.step for inst in plan.instances.values()}, params)
    jobs = args.jobs or workflow.jobs or os.cpu_count() or 1
    if args.dry_run:
        from flowrun.engine import secret_values
        from flowrun.render import to_plan_text
        from flowrun.report.secrets import masked

        secrets = secret_values(workflow, params)
        text = to_plan_text(plan, jobs)
        if params:
            text += "\nparams:\n" + "\n".join(f"  {name}={value}" for name, value in params.items())
        print(masked(text, secrets))
        return 0
    mode = _output_mode(args)
    reporters = console_reporters(mode, quiet=args.quiet, verbose=args.verbose, base_dir=workflow.base_dir)
    reporters += step_summary_reporters(os.environ)  # GitHub sets it, whatever the output mode
    if args.junit or args.json or args.html:
        _distinct_reports(args)
        reporters += file_reporters(junit=args.junit, json=args.json, html=args.html,
                                    dependencies=plan_dependencies(plan), workflow_file=workflow.path)
    result = run(workflow, targets=args.steps, jobs=jobs, keep_going=args.keep_going, reporters=reporters,
                 params=params, force=args.force, resume=args.resume, executor=args.executor, scheduler=args.scheduler)
    return result.exit_code()


def _distinct_reports(args: argparse.Namespace) -> None:
    """Two reports into one file would leave only the one written last."""
    seen: dict[str, str] = {}
    for option in ("junit", "json", "html"):
        path = getattr(args, option)
        if path:
            other = seen.setdefault(os.path.realpath(path), option)
            if other != option:
                raise UsageError(f"--{other} and --{option} name the same file: {path}")


_COMMANDS = {
    "up": _cmd_up,
    "validate": _cmd_validate,
    "list": _cmd_list,
    "graph": _cmd_graph,
    "schema": _cmd_schema,
    "logs": _cmd_logs,
    "history": _cmd_history,
    "completion": _cmd_completion,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flowrun`` console script; returns the exit code."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["__complete"]:  # the shell scripts' callback: before argparse, and imports little
        from flowrun.completion.words import answer

        return answer(arguments[1:])
    from flowrun.commandline import SUBCOMMANDS, build_parser

    parser = build_parser(arguments[0] if arguments and arguments[0] in SUBCOMMANDS else None)
    args = parser.parse_args(arguments)
    if args.version:
        print(f"flowrun {__import__('importlib.metadata').metadata.version('flowrun')}")
        return 0
    if args.command is None:
        parser.print_help()
        return EXIT_INVALID
    try:
        return _COMMANDS[args.command](args)
    except WorkflowError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)
        count = len(exc.diagnostics)
        print(f"flowrun: {count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
        return exc.exit_code
    except FlowrunError as exc:
        print(f"flowrun: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # flowrun's own stdout was closed (`flowrun list | head`): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _open_standard_fds() -> None:
    """Put /dev/null on whichever of fds 0-2 is closed (``flowrun up >&-``).

    Python then has no ``sys.stdout`` (or ``sys.stderr``) to print to, and the
    first file flowrun opened would become its stdout. As with a closed pipe
    (SPEC §3), the run goes on and what it prints goes nowhere.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free fd: ``fd`` itself, or one below 3
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)  # lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)


def run_console() -> None:
    """``main`` as a process: flush, then leave without tearing the interpreter down.

    Python's shutdown (freeing every module) costs up to 0.1 s and does nothing a finished
    command needs; so does SQLite's checkpoint of the history at its close (see
    ``History.leave_open``). ``ssl`` is marked absent: asyncio (a run with tcp/http probes)
    imports it only to offer TLS. ``flowrun.run`` in another program is not affected.
    """
    global _ENDS_PROCESS
    _ENDS_PROCESS = True
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]
    _open_standard_fds()
    code = main()
    try:
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        # stdout was closed (`flowrun up | head`): the run's exit code still stands
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    try:
        sys.stderr.flush()
    except OSError:
        pass
    os._exit(code)
