"""What steps hand each other (SPEC §9): outputs, the results file, ``${{ }}`` values, parameters.

- A step sets outputs by writing ``NAME=VALUE`` (or ``NAME<<DELIM`` … ``DELIM``)
  lines to ``$FLOWRUN_OUTPUT``, a file of its own per attempt in the run folder.
  flowrun reads it once the step has exited (a service's, once it is ready), then
  removes it: the values live on in memory and, masked, in the reports.
- ``$FLOWRUN_RESULTS`` is a JSON Lines file, one line appended per step as it
  reaches its final state (masked), so any step can see what ended before it.
- ``${{ steps.S.outputs.N }}`` and ``${{ params.N }}`` in ``env:`` values and
  ``cmd:`` items are rendered just before the step starts: a value becomes one
  argv item or one variable's value, never shell code. An output that was not
  set fails the reader before it starts.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring  # the C encoder json.dumps uses for a str

from flowrun.events import StepStatus
from flowrun.process.executor import LaunchSpec

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from flowrun.engine.result import StepResult
    from flowrun.graph import Plan
    from flowrun.spec.expressions import Template

__all__ = ["MAX_OUTPUTS", "OUTPUT_VAR", "RESULTS_VAR", "DataFlow", "parse_outputs"]

OUTPUT_VAR = "FLOWRUN_OUTPUT"
RESULTS_VAR = "FLOWRUN_RESULTS"
#: all of a step's outputs together, in bytes
MAX_OUTPUTS = 1 << 20


@functools.cache
def _name() -> re.Pattern[str]:
    """A name (a parameter's, an output's): compiled on first use, not at every start."""
    return re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")



class OutputsError(ValueError):
    """A step's ``$FLOWRUN_OUTPUT`` file that cannot be read as outputs."""


def parse_outputs(text: str) -> dict[str, str]:
    """``NAME=VALUE`` and ``NAME<<DELIM`` … ``DELIM`` lines (GitHub's ``$GITHUB_OUTPUT`` forms)."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    i = 0
    while i < len(lines):
        line = lines[i].removesuffix("\r")
        i += 1
        if not line:
            continue
        name, eq, value = line.partition("=")
        if eq and _name().match(name) and "<<" not in name:
            out[name] = value
            continue
        name, heredoc, delimiter = line.partition("<<")
        if not (heredoc and _name().match(name) and delimiter):
            raise OutputsError(f"line {i}: expected NAME=VALUE or NAME<<DELIMITER, got {line[:60]!r}")
        body: list[str] = []
        while i < len(lines) and lines[i].removesuffix("\r") != delimiter:
            body.append(lines[i].removesuffix("\r"))
            i += 1
        if i >= len(lines):
            raise OutputsError(f"output {name!r}: no line {delimiter!r} ends its value")
        i += 1
        out[name] = "\n".join(body)
    return out


def read_outputs(path: str) -> dict[str, str] | None:
    """The outputs a step wrote (None: it wrote none); the file is removed. Raises OutputsError."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputsError(f"cannot read $FLOWRUN_OUTPUT: {exc.strerror}") from None
    try:
        with open(fd, "rb") as handle:
            data = handle.read(MAX_OUTPUTS + 1)
    finally:
        os.unlink(path)
    if len(data) > MAX_OUTPUTS:
        raise OutputsError("its outputs are over 1 MiB")
    return parse_outputs(data.decode("utf-8", "surrogateescape"))


class DataFlow:
    """One run's outputs, results file and rendered values."""

    def __init__(self, plan: Plan, run_dir: str, params: Mapping[str, str], mask: Callable[[str], str]) -> None:
        self.params, self.mask = dict(params), mask
        self.outputs: dict[str, dict[str, str]] = {}
        self.folder = os.path.join(run_dir, "outputs")
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        self.results_path = os.path.join(run_dir, "results.jsonl")
        self._results = os.open(self.results_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        #: per instance with ``${{ }}``: (env templates by variable, cmd templates by index)
        self.templates: dict[str, tuple[dict[str, Template], dict[int, Template]]] = {}
        for name, inst in plan.instances.items():
            found = _templates(inst.step)
            if found is not None:
                self.templates[name] = found
        from flowrun.report.logs import log_file_name

        self._file_name = log_file_name
        self._prefixes: dict[str, str] = {}  # by step: its output files' path up to the attempt number

    def output_path(self, step: str, attempt: int) -> str:
        prefix = self._prefixes.get(step)
        if prefix is None:
            prefix = self._prefixes[step] = os.path.join(self.folder, self._file_name(step)[:-4]) + "."
        return prefix + str(attempt)

    # -- before a start ----------------------------------------------------
    def render(self, spec: LaunchSpec, attempt: int) -> str | None:
        """Give ``spec`` its output file and its rendered values; the reason it cannot start, or None."""
        spec.env.maps[0][OUTPUT_VAR] = self.output_path(spec.name, attempt)  # type: ignore[attr-defined]
        found = self.templates.get(spec.name)
        if found is None:
            return None
        env, cmd = found
        try:
            for key, template in env.items():
                spec.env.maps[0][key] = self._value(template)  # type: ignore[attr-defined]
            if cmd:
                argv = list(spec.argv)
                for index, template in cmd.items():
                    argv[index] = self._value(template)
                spec.argv = tuple(argv)
        except _Unset as why:
            return str(why)
        return None

    def render_text(self, text: str) -> str:
        """``text`` with its ``${{ params.N }}`` rendered (workflow env, probe addresses: no outputs there)."""
        from flowrun.spec.expressions import parse

        return self._value(parse(text))

    def _value(self, template: Template) -> str:
        from flowrun.spec.expressions import render

        value = render(template, self.params, self._output)
        if "\x00" in value:
            raise _Unset("a value it reads holds a NUL character, which no process can be given")
        return value

    def _output(self, step: str, name: str) -> str:
        outputs = self.outputs.get(step)
        if outputs is None or name not in outputs:
            raise _Unset(f"{step} did not set output {name!r}")
        return outputs[name]

    # -- after an end ------------------------------------------------------
    def collect(self, step: str, attempt: int) -> str | None:
        """Read what the step wrote to ``$FLOWRUN_OUTPUT``; the reason it fails for it, or None."""
        try:
            found = read_outputs(self.output_path(step, attempt))
        except OutputsError as exc:
            return f"$FLOWRUN_OUTPUT {exc}"
        if found is not None:
            self.outputs[step] = found
        return None

    def ended(self, record: StepResult) -> None:
        """Append the step's final state to ``$FLOWRUN_RESULTS`` (one line, encoded by hand: once per step)."""
        outputs = self.outputs.get(record.name)
        duration = record.duration
        code = record.exit_code
        line = (f'{{"name":{encode_basestring(record.name)},"status":"{record.status.value}",'
                f'"exit_code":{"null" if code is None else code},"attempts":{record.attempts},'
                f'"duration":{"null" if duration is None else round(duration, 3)},"outputs":'
                + (json.dumps({k: self.mask(v) for k, v in outputs.items()}, ensure_ascii=False) if outputs else "{}"))
        if record.status is StepStatus.SKIPPED:
            line += f',"reason":{encode_basestring(self.mask(record.reason))}'
        os.write(self._results, (line + "}\n").encode("utf-8", "surrogateescape"))

    def close(self) -> None:
        if self._results >= 0:
            os.close(self._results)
            self._results = -1
        try:
            os.rmdir(self.folder)  # empty unless a step wrote outputs after it ended
        except OSError:
            pass


class _Unset(Exception):
    """A value cannot be rendered: the reason the step fails before it starts."""


def _templates(step: object) -> tuple[dict[str, Template], dict[int, Template]] | None:
    """The step's ``env:`` values and ``cmd:`` items that hold ``${{ }}`` (checked at load), parsed."""
    env_items = [(k, v) for k, v in step.env.items() if "${{" in v]  # type: ignore[attr-defined]
    cmd_items = [(i, v) for i, v in enumerate(step.cmd or ()) if "${{" in v]  # type: ignore[attr-defined]
    if not env_items and not cmd_items:
        return None
    from flowrun.spec.expressions import parse

    return {k: parse(v) for k, v in env_items}, {i: parse(v) for i, v in cmd_items}
