"""What a run reads of a validated workflow, as plain data (no pydantic).

The plan cache (``flowrun.load.cache``) writes a validated workflow in this
shape and reads it back, so ``flowrun up`` of an unchanged file skips yaml and
pydantic. ``RunStep`` has the attribute names of ``spec.Step`` that the engine
reads, so the engine takes either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FileIn", "FileOut", "RetryPolicy", "RunStep", "RunWorkflow", "TextIn", "step_data", "step_from_data"]


@dataclass(frozen=True, slots=True)
class FileIn:
    file: str


@dataclass(frozen=True, slots=True)
class TextIn:
    text: str


@dataclass(frozen=True, slots=True)
class FileOut:
    file: str
    append: bool = False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int
    delay: float
    backoff: float


@dataclass(frozen=True)
class RunStep:
    """A step after defaults were applied, as the engine uses it."""

    run: str | None = None
    cmd: list[str] | None = None
    shell: str | None = None
    workdir: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    kill_signal: int | None = None
    kill_grace: float | None = None
    retry: RetryPolicy | None = None
    continue_on_error: bool | None = None
    stdin: str | FileIn | TextIn | None = None
    stdout: FileOut | None = None
    stderr: str | FileOut | None = None
    if_: str | None = None
    lock: list[str] = field(default_factory=list)
    description: str | None = None


@dataclass
class RunWorkflow:
    """The workflow-level fields a run reads; ``steps`` maps each step name to its (first) instance's step."""

    name: str | None
    path: str
    base_dir: str
    jobs: int | None
    timeout: float | None
    env: dict[str, str]
    dotenv_values: dict[str, str]
    secrets: list[str]
    steps: dict[str, RunStep]
    _plan: Any = None


_PLAIN = ("run", "cmd", "shell", "workdir", "env", "timeout", "kill_signal", "kill_grace", "continue_on_error",
          "if_", "lock", "description")


def step_data(step: Any) -> dict[str, Any]:
    """A validated ``spec.Step`` (or a ``RunStep``) as JSON-ready data."""
    data = {name: getattr(step, name) for name in _PLAIN}
    data["cmd"] = list(step.cmd) if step.cmd is not None else None
    data["lock"], data["env"] = list(step.lock), dict(step.env)
    retry = step.retry
    data["retry"] = None if retry is None else [retry.attempts, retry.delay, retry.backoff]
    data["stdin"] = _stream(step.stdin)
    data["stdout"] = _stream(step.stdout)
    data["stderr"] = _stream(step.stderr)
    return data


def _stream(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "text"):
        return {"text": value.text}
    if hasattr(value, "append"):
        return {"file": value.file, "append": value.append}
    return {"file": value.file}


def step_from_data(data: dict[str, Any]) -> RunStep:
    """The inverse of ``step_data``."""
    fields = {name: data[name] for name in _PLAIN}
    retry = data["retry"]
    stdin, stdout, stderr = data["stdin"], data["stdout"], data["stderr"]
    return RunStep(
        **fields,
        retry=None if retry is None else RetryPolicy(*retry),
        stdin=stdin if stdin is None or isinstance(stdin, str) else
        (TextIn(stdin["text"]) if "text" in stdin else FileIn(stdin["file"])),
        stdout=None if stdout is None else FileOut(stdout["file"], stdout["append"]),
        stderr=stderr if stderr is None or isinstance(stderr, str) else FileOut(stderr["file"], stderr["append"]),
    )
