"""Load-time checks of ``${{ }}`` (SPEC §9): where expressions may stand and what they may name.

- ``env:`` values and ``cmd:`` items of steps and handlers take both forms; the
  workflow's and ``defaults:``'s ``env:`` (set for every step, the producer
  included) and a service's ``ready.tcp``/``ready.http`` take ``params`` only.
- A step reads outputs only of a step it depends on, directly or through others,
  by ``depends_on`` (a pipe runs both at once: it does not count), and never of
  a matrix step; a handler may read any step's. A parameter must be declared.
- ``run:``, ``if:`` and the paths are never substituted: ``${{ steps.`` or
  ``${{ params.`` there is an error, not text passed on (what a step printed never
  becomes shell code).

Each problem points at the expression inside its value where the loader knows
the value's column (``Locator.inside``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from flowrun.errors import Diagnostic, did_you_mean
from flowrun.spec.addresses import check_address
from flowrun.spec.expressions import OPEN, ExpressionError, OutputRef, ParamRef, has_expression, located, parse, render

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

    from flowrun.spec.model import Workflow

__all__ = ["check_references"]

Path = tuple[str | int, ...]

_STEPS, _PARAMS = len("steps."), len("params.")
#: the hints for fields never substituted: a script or condition, a path or text
_SHELL_HINT = 'set env: {{V: "{expr}"}} and use $V'
_PATH_HINT = "expressions work in env: values, cmd: items and probe addresses only"


def check_references(workflow: Workflow, by_base: Mapping[str, list[str]]) -> list[Diagnostic]:
    """Every problem with an expression in the file; ``by_base`` maps each step to its instance names."""
    checker = _Checker(workflow, by_base)
    checker.run()
    return checker.problems


class _Checker:
    def __init__(self, workflow: Workflow, by_base: Mapping[str, list[str]]) -> None:
        self.workflow, self.by_base, self.src = workflow, by_base, workflow.source
        self.params: Mapping[str, Any] = workflow.params
        handlers = getattr(workflow, "handlers", None)
        self.handlers: dict[str, Any] = handlers.declared() if handlers is not None else {}
        self.problems: list[Diagnostic] = []
        self._upstream: dict[str, set[str]] = {}

    def run(self) -> None:
        for key, value in self.workflow.env.items():
            self.value(("env", key), value, None, "the workflow env")
        for key, value in self.workflow.defaults.env.items():
            self.value(("defaults", "env", key), value, None, "the defaults env")
        for base, step in self.workflow.steps.items():
            self.step(("steps", base), base, step)
        for name, handler in self.handlers.items():
            self.step(("handlers", name), None, handler)

    def step(self, at: Path, reader: str | None, step: Any) -> None:
        """One step's (``reader``) or handler's (None) values."""
        # a plain test first: a file of 10,000 steps without ${{ pays only these
        for key, value in step.env.items():
            if OPEN in value:
                self.value((*at, "env", key), value, reader)
        for i, item in enumerate(step.cmd or ()):
            if OPEN in item:
                self.value((*at, "cmd", i), item, reader)
        run, condition, workdir = step.run, step.if_, step.workdir
        if run is not None and OPEN in run:
            self.plain((*at, "run"), run, _SHELL_HINT)
        if condition is not None and OPEN in condition:
            self.plain((*at, "if"), condition, _SHELL_HINT)
        if workdir is not None and OPEN in workdir:
            self.plain((*at, "workdir"), workdir, _PATH_HINT)
        if step.stdin is not None or step.stdout is not None or step.stderr is not None:
            self.streams(at, step)
        ready = getattr(step, "ready", None)
        if ready is not None:
            self.ready((*at, "ready"), ready)

    def streams(self, at: Path, step: Any) -> None:
        for stream in ("stdin", "stdout", "stderr"):
            value = getattr(step, stream)
            if value is not None and not isinstance(value, str):
                key = "text" if hasattr(value, "text") else "file"
                text = getattr(value, key)
                if OPEN in text:
                    self.plain((*at, stream, key), text, _PATH_HINT)

    def ready(self, at: Path, ready: Any) -> None:
        """A service's probe: its address takes parameters; its command is never substituted."""
        for kind in ("tcp", "http"):
            address = getattr(ready, kind)
            if address is not None and has_expression(address):
                self.address((*at, kind), kind, address)
        if ready.run is not None and OPEN in ready.run:
            self.plain((*at, "run"), ready.run, _SHELL_HINT)
        for i, item in enumerate(ready.cmd or ()):
            if OPEN in item:
                self.plain((*at, "cmd", i), item, _PATH_HINT)

    # -- values that take expressions ------------------------------------------------------------

    def _refs(self, path: Path, text: str) -> list[tuple[int, OutputRef | ParamRef]] | None:
        try:
            return located(text)
        except ExpressionError as exc:
            self.problems.append(Diagnostic(self.src.inside(path, exc.offset), exc.message, exc.hint))
            return None

    def value(self, path: Path, text: str, reader: str | None, params_only: str | None = None) -> None:
        """An ``env:`` value or ``cmd:`` item; ``params_only`` says why outputs cannot be read there."""
        if not has_expression(text):
            return
        for offset, ref in self._refs(path, text) or ():
            if isinstance(ref, ParamRef):
                self.param(path, offset, ref)
            elif params_only is not None:
                self.problems.append(Diagnostic(
                    self.src.inside(path, offset), f"{params_only} is set for every step (the one that writes "
                    "the output too), so it cannot read a step's output",
                    "set it in the env: of the steps that read it"))
            else:
                self.output(path, offset, ref, reader)

    def param(self, path: Path, offset: int, ref: ParamRef) -> bool:
        if ref.name in self.params:
            return True
        hint = did_you_mean(ref.name, self.params) if self.params else f"declare it: params: {{{ref.name}: VALUE}}"
        self.problems.append(Diagnostic(self.src.inside(path, offset + _PARAMS), f"unknown parameter {ref.name!r}",
                                        hint))
        return False

    def output(self, path: Path, offset: int, ref: OutputRef, reader: str | None) -> None:
        where = self.src.inside(path, offset + _STEPS)
        who = f"step {reader!r}" if reader is not None else f"handler {path[1]!r}"
        producer = ref.step
        if producer not in self.by_base:
            if producer in self.handlers:
                self.problems.append(Diagnostic(where, f"{who} reads an output of handler {producer!r}",
                                                "a handler runs after every step: no step can read its outputs"))
            else:
                self.problems.append(Diagnostic(where, f"{who} reads an output of unknown step {producer!r}",
                                                did_you_mean(producer, self.by_base)))
            return
        if producer == reader:
            self.problems.append(Diagnostic(where, f"step {reader!r} reads its own output {ref.name!r}",
                                            "a step's outputs are read by the steps that depend on it"))
            return
        instances = self.by_base[producer]
        if instances != [producer]:
            self.problems.append(Diagnostic(
                where, f"{who} reads an output of matrix step {producer!r}, whose outputs cannot be read "
                f"(it runs as {len(instances)} instance{'s' if len(instances) != 1 else ''})"))
            return
        if reader is None or producer in self.upstream(reader):
            return
        stdin = self.workflow.steps[reader].stdin
        hint = f"add {producer!r} to depends_on"
        if stdin == producer:
            hint = (f"{reader!r} reads {producer!r} through stdin, so both run at once; let a step that "
                    f"depends on {producer!r} read the output")
        self.problems.append(Diagnostic(where, f"{who} reads an output of {producer!r} but does not depend on it",
                                        hint))

    def upstream(self, base: str) -> set[str]:
        """The steps ``base`` waits for by ``depends_on``, directly or through others."""
        found = self._upstream.get(base)
        if found is None:
            found, todo = set(), [base]
            while todo:
                for dep in self.workflow.steps[todo.pop()].depends_on:
                    if dep in self.workflow.steps and dep not in found:
                        found.add(dep)
                        todo.append(dep)
            self._upstream[base] = found
        return found

    def address(self, path: Path, kind: str, address: str) -> None:
        """A probe address: parameters only; checked with their defaults when each has one."""
        refs = self._refs(path, address)
        if refs is None:
            return
        known = True
        for offset, ref in refs:
            if isinstance(ref, OutputRef):
                known = False
                self.problems.append(Diagnostic(self.src.inside(path, offset),
                                                f"ready.{kind} can read parameters only, not a step's output",
                                                "a service starts before its dependents have run"))
            else:
                known = self.param(path, offset, ref) and known
        if not known:
            return
        names = [ref.name for _, ref in refs if isinstance(ref, ParamRef)]
        defaults = {name: self.params[name].default for name in names}
        if any(value is None for value in defaults.values()):
            return  # checked when a run gives the values (spec.bindings.check_addresses)
        rendered = render(parse(address), defaults, _unreachable)
        try:
            check_address(kind, rendered)
        except ValueError as exc:
            self.problems.append(Diagnostic(self.src.value(path), f"ready.{kind} is {rendered!r} with the defaults "
                                            f"of its parameters: {exc}"))

    # -- values that never take them ---------------------------------------------------------------

    def plain(self, path: Path, text: str, hint: str) -> None:
        """A field flowrun never substitutes: a reference there would reach the command as its own text."""
        field = ".".join(str(p) for p in path[2:] if not isinstance(p, int))
        why = " (what a step printed never becomes shell code)" if hint is _SHELL_HINT else ""
        for offset, written in _lookalikes(text):
            self.problems.append(Diagnostic(self.src.inside(path, offset),
                                            f"{written!r} in {field}: is not substituted{why}",
                                            hint.format(expr=written)))


def _lookalikes(text: str) -> Iterator[tuple[int, str]]:
    """Each ``${{ steps.`` / ``${{ params.`` in ``text``: its offset and what is written up to ``}}``."""
    at = text.find(OPEN)
    while at >= 0:
        inner = text[at + len(OPEN):].lstrip(" \t")
        if inner.startswith(("steps.", "params.")):
            end = text.find("}}", at)
            yield at, text[at:end + 2] if end >= 0 else text[at:]
        at = text.find(OPEN, at + len(OPEN))


def _unreachable(step: str, name: str) -> str:  # pragma: no cover - outputs were refused above
    raise AssertionError(step, name)
