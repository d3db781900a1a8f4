"""Pydantic v2 models of the workflow file. ``extra="forbid"`` everywhere.

Scalars arrive from ``flowrun.load`` as YAML 1.2 resolved them; values that end
up in a process environment keep the spelling of the file (``1.10``, ``true``).
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from flowrun.errors import Position
from flowrun.spec.conditions import Condition
from flowrun.spec.fields import (
    DURATION_SCHEMA,
    ENV_NAME_PATTERN,
    STEP_NAME_PATTERN,
    ArgText,
    Bool,
    Duration,
    EnvMap,
    Globs,
    SignalNumber,
    StepName,
    Text,
    Timeout,
    argv_list,
    scalar_text,
)
from flowrun.spec.matrix import EMPTY, Matrix, check_secret_variables
from flowrun.spec.params import Params
from flowrun.spec.remote import ExecutorConfig, Resources
from flowrun.spec.scalars import SpelledBool
from flowrun.spec.service import Ready
from flowrun.spec.words import unknown_word

__all__ = [
    "STEP_NAME_PATTERN",
    "Condition",
    "Defaults",
    "FileInput",
    "FileOutput",
    "Locator",
    "Retry",
    "Step",
    "TextInput",
    "Workflow",
    "scalar_text",
]

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FileInput(_Model):
    """``stdin: {file: PATH}``."""

    file: Text


class TextInput(_Model):
    """``stdin: {text: "literal"}``."""

    text: Text


class FileOutput(_Model):
    """``stdout: {file: PATH, append: false}``."""

    file: Text
    append: Bool = False


class Retry(_Model):
    """``attempts`` counts all tries; ``delay`` doubles by ``backoff`` after each."""

    attempts: int = Field(1, ge=1, le=1000)
    delay: Duration = 0.0
    backoff: float = Field(1.0, ge=1.0, le=100.0)


def _retry(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("retry must be 0 or more extra attempts")
        return {"attempts": value + 1}
    return value


RetrySpec = Annotated[
    Retry,
    BeforeValidator(_retry),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "description": "extra attempts"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "attempts": {"type": "integer", "minimum": 1},
                        "delay": DURATION_SCHEMA,
                        "backoff": {"type": "number", "minimum": 1},
                    },
                },
            ]
        }
    ),
]


class _StepFields(_Model):
    """Fields a step and ``defaults:`` share."""

    shell: Literal["bash", "sh"] | None = None
    workdir: Text | None = None
    env: EnvMap = Field(default_factory=dict)
    timeout: Timeout | None = None
    kill_signal: SignalNumber | None = None
    kill_grace: Duration | None = None
    retry: RetrySpec | None = None
    continue_on_error: Bool | None = None


class Defaults(_StepFields):
    """``defaults:`` applied where a step does not set the field (env is merged under)."""


def _depends_on(value: object) -> object:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        out: dict[str, str] = {}
        for i, name in enumerate(value):
            if isinstance(name, int | float | SpelledBool):
                name = scalar_text(name)  # a step named `1` or `true`
            if not isinstance(name, str):
                raise ValueError(f"entry {i + 1} of depends_on must be a step name")
            if name in out:
                raise ValueError(f"{name!r} is listed twice in depends_on")
            out[name] = "success"
        return out
    return value


def _stdin(value: object) -> object:
    if isinstance(value, int | float | SpelledBool):
        return scalar_text(value)  # a step named `1` or `true`
    if isinstance(value, dict) and len(value) == 1:
        if "file" in value:
            return FileInput.model_validate(value)
        if "text" in value:
            return TextInput.model_validate(value)
    if value is not None and not isinstance(value, str):  # one line, not one per form it is not
        raise ValueError("stdin takes a step name, {file: PATH} or {text: TEXT}")
    return value


def _stderr(value: object) -> object:
    if isinstance(value, str) and value != "stdout":
        raise unknown_word("stderr target", value, ["stdout"], also="or {file: PATH}")
    return value


def _lock(value: object) -> object:
    return [value] if isinstance(value, str) else value


class Step(_StepFields):
    """One step of a workflow (SPEC §1 'Step fields')."""

    run: Text | None = None
    cmd: Annotated[list[ArgText] | None, BeforeValidator(argv_list)] = Field(None, min_length=1)
    description: Text | None = None
    depends_on: Annotated[
        dict[str, Condition],
        BeforeValidator(_depends_on),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "array", "items": {"type": "string"}},
                    {
                        "type": "object",
                        "additionalProperties": {"enum": ["success", "failure", "completed"]},
                    },
                ]
            }
        ),
    ] = Field(default_factory=dict)
    stdin: Annotated[
        str | FileInput | TextInput | None,
        BeforeValidator(_stdin),
    ] = None
    stdout: FileOutput | None = None
    stderr: Annotated[Literal["stdout"] | FileOutput | None, BeforeValidator(_stderr)] = None
    if_: Text | None = Field(None, alias="if")
    lock: Annotated[
        list[Text],
        BeforeValidator(_lock),
        WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
    ] = Field(default_factory=list)
    matrix: Matrix = Field(default_factory=lambda: EMPTY)  # spec/matrix.py: variables, include, exclude
    service: Bool | None = None
    ready: Ready | None = None
    sources: Globs = Field(default_factory=list)  # SPEC §10: inputs whose change makes it run again
    outputs: Globs = Field(default_factory=list)  # and the files it makes: its result for its dependents
    resources: Resources = Field(default_factory=dict)  # spec/remote.py (SPEC §11)

    #: "list" or "mapping": how depends_on was written (to point errors at it)
    _depends_form: str = PrivateAttr(default="mapping")

    @model_validator(mode="wrap")
    @classmethod
    def _keep_form(cls, data: Any, handler: Any) -> Step:
        listed = isinstance(data, dict) and isinstance(data.get("depends_on"), list | str)
        step = handler(data)
        step._depends_form = "list" if listed else "mapping"
        return step

    @model_validator(mode="after")
    def _one_command(self) -> Step:
        if (self.run is None) == (self.cmd is None):
            raise ValueError("a step needs exactly one of 'run' (a shell script) or 'cmd' (an argv list)")
        return self

    @field_validator("stdin")
    @classmethod
    def _stdin_name(cls, value: object) -> object:
        if isinstance(value, str) and not value:
            raise ValueError("stdin names a step")
        return value

    @property
    def depends_form(self) -> str:
        return self._depends_form


class Workflow(_Model):
    """A whole workflow file. ``source`` is attached by the loader."""

    version: Literal[1] = 1
    name: Text | None = None
    jobs: int | None = Field(None, ge=1, le=10_000)
    timeout: Timeout | None = None
    env: EnvMap = Field(default_factory=dict)
    dotenv: Annotated[
        list[Text],
        BeforeValidator(lambda v: [v] if isinstance(v, str) else v),
        WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
    ] = Field(default_factory=list)
    defaults: Defaults = Field(default_factory=Defaults)
    secrets: list[Annotated[str, StringConstraints(pattern=ENV_NAME_PATTERN)]] = Field(default_factory=list)
    params: Params = Field(default_factory=dict)  # spec/params.py
    steps: dict[StepName, Step] = Field(min_length=1)
    handlers: Handlers | None = None
    executor: ExecutorConfig | None = None  # spec/remote.py (SPEC §11)

    _secret_matrix = model_validator(mode="after")(check_secret_variables)  # spec/matrix.py

    # Attached by the loader: where the file is, its key positions, dotenv values.
    _path: str = PrivateAttr(default="")
    _source: Any = PrivateAttr(default=None)
    _dotenv: dict[str, str] = PrivateAttr(default_factory=dict)
    _plan: Any = PrivateAttr(default=None)
    _base_dir: str = PrivateAttr(default="")

    def attach(self, *, path: str, source: Locator | None, dotenv: dict[str, str]) -> None:
        """Record where this workflow came from (called by ``flowrun.load``)."""
        self._path, self._source, self._dotenv = path, source, dict(dotenv)
        self._base_dir = os.path.dirname(os.path.abspath(path)) if path else ""

    @property
    def path(self) -> str:
        """The workflow file ('' when built in memory)."""
        return self._path

    @property
    def base_dir(self) -> str:
        """Folder that relative paths in the file resolve against."""
        return self._base_dir or os.getcwd()

    @property
    def source(self) -> Locator:
        """Key path → position in the file (a stand-in when built in memory)."""
        return self._source if self._source is not None else _NoSource(self._path or "<memory>")

    @property
    def dotenv_values(self) -> dict[str, str]:
        return dict(self._dotenv)


class Locator(Protocol):
    """What later layers need of the loader's SourceMap."""

    def key(self, path: tuple[str | int, ...]) -> Position: ...

    def value(self, path: tuple[str | int, ...]) -> Position: ...

    def inside(self, path: tuple[str | int, ...], offset: int) -> Position:
        """Where character ``offset`` of the text value at ``path`` is (the value itself, if not known)."""
        ...


class _NoSource:
    def __init__(self, file: str) -> None:
        self.file = file

    def key(self, path: tuple[str | int, ...]) -> Position:
        return Position(self.file)

    def value(self, path: tuple[str | int, ...]) -> Position:
        return Position(self.file)

    def inside(self, path: tuple[str | int, ...], offset: int) -> Position:
        return Position(self.file)


from flowrun.spec.handlers import Handlers  # noqa: E402 - handlers are steps: the module builds on Step

Workflow.model_rebuild()
