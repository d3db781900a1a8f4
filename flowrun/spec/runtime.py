"""What a run reads of a validated workflow, as plain data (no pydantic).

The plan cache (``flowrun.load.cache``) writes a validated workflow in this
shape and reads it back, so ``flowrun up`` of an unchanged file skips yaml and
pydantic. ``RunStep`` has the attribute names of ``spec.Step`` that the engine
reads, so the engine takes either.
"""

from __future__ import annotations

from flowrun.records import MISSING, field, record
from flowrun.records import fields as dataclass_fields

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "EXECUTORS",
    "FileIn",
    "FileOut",
    "ReadyProbe",
    "RetryPolicy",
    "RunExecutor",
    "RunParam",
    "RunStep",
    "RunWorkflow",
    "TextIn",
    "executor_data",
    "executor_from_data",
    "params_data",
    "params_from_data",
    "step_data",
    "step_from_data",
]


@record(frozen=True, slots=True)
class FileIn:
    file: str


@record(frozen=True, slots=True)
class TextIn:
    text: str


@record(frozen=True, slots=True)
class FileOut:
    file: str
    append: bool = False


@record(frozen=True, slots=True)
class RetryPolicy:
    attempts: int
    delay: float
    backoff: float


@record(frozen=True, slots=True)
class ReadyProbe:
    """A service's ``ready:`` (the fields of ``spec.service.Ready``)."""

    tcp: str | None = None
    http: str | None = None
    cmd: list[str] | None = None
    run: str | None = None
    log: str | None = None
    interval: float = 0.25
    timeout: float = 60.0
    probe_timeout: float = 5.0

    @property
    def probe(self) -> str:
        return next(kind for kind in ("tcp", "http", "cmd", "run", "log") if getattr(self, kind) is not None)


_READY_FIELDS = ("tcp", "http", "cmd", "run", "log", "interval", "timeout", "probe_timeout")


@record(frozen=True)
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
    service: bool | None = None
    ready: ReadyProbe | None = None
    sources: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    resources: dict[str, float] = field(default_factory=dict)


#: the executors flowrun knows (SPEC §11); ``local`` runs steps as children of ``flowrun up``
EXECUTORS = ("local", "dask")


@record(frozen=True, slots=True)
class RunExecutor:
    """The workflow's ``executor:`` (the fields of ``spec.remote.ExecutorConfig``)."""

    type: str = "local"
    scheduler: str | None = None
    workdir: str | None = None


def executor_data(executor: Any) -> dict[str, Any] | None:
    """``executor:`` as JSON-ready data (None when the file has none)."""
    if executor is None:
        return None
    return {"type": executor.type, "scheduler": executor.scheduler, "workdir": executor.workdir}


def executor_from_data(data: dict[str, Any] | None) -> RunExecutor | None:
    return None if data is None else RunExecutor(**data)


@record(frozen=True, slots=True)
class RunParam:
    """A declared parameter (the fields of ``spec.params.Param``)."""

    default: str | None = None
    required: bool = False
    choices: list[str] | None = None
    description: str | None = None


def params_data(params: Any) -> dict[str, dict[str, Any]]:
    """Declared parameters (``spec.params.Param`` or ``RunParam``) as JSON-ready data; defaults left out."""
    out: dict[str, dict[str, Any]] = {}
    for name, param in params.items():
        item: dict[str, Any] = {}
        if param.default is not None:
            item["default"] = param.default
        if param.required:
            item["required"] = True
        if param.choices is not None:
            item["choices"] = list(param.choices)
        if param.description is not None:
            item["description"] = param.description
        out[name] = item
    return out


def params_from_data(data: dict[str, dict[str, Any]]) -> dict[str, RunParam]:
    """The inverse of ``params_data``."""
    return {name: RunParam(**item) for name, item in data.items()}


@record
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
    #: ``params:``, by name (what ``spec.bindings.resolve_params`` reads)
    params: dict[str, RunParam] = field(default_factory=dict)
    executor: RunExecutor | None = None
    _plan: Any = None


_PLAIN = ("run", "cmd", "shell", "workdir", "env", "timeout", "kill_signal", "kill_grace", "continue_on_error",
          "if_", "lock", "description", "service")


_STEP_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclass_fields(RunStep) if f.default is not MISSING}


def step_data(step: Any) -> dict[str, Any]:
    """A validated ``spec.Step`` (or a ``RunStep``) as JSON-ready data; fields left at their default are left out."""
    data: dict[str, Any] = {}
    for name in _PLAIN:
        value = getattr(step, name)
        if value is not None and name not in ("cmd", "env", "lock"):
            data[name] = value
    if step.cmd is not None:
        data["cmd"] = list(step.cmd)
    if step.lock:
        data["lock"] = list(step.lock)
    for name in ("sources", "outputs"):
        globs = getattr(step, name, None)
        if globs:
            data[name] = list(globs)
    if getattr(step, "resources", None):
        data["resources"] = dict(step.resources)
    if step.env:
        data["env"] = dict(step.env)
    if step.retry is not None:
        data["retry"] = [step.retry.attempts, step.retry.delay, step.retry.backoff]
    ready = getattr(step, "ready", None)
    if ready is not None:
        data["ready"] = {name: getattr(ready, name) for name in _READY_FIELDS if getattr(ready, name) is not None}
        if ready.cmd is not None:
            data["ready"]["cmd"] = list(ready.cmd)
    for name in ("stdin", "stdout", "stderr"):
        stream = _stream(getattr(step, name))
        if stream is not None:
            data[name] = stream
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
    """The inverse of ``step_data``.

    Built without ``__init__``: a frozen dataclass sets each of its 15 fields
    through ``object.__setattr__``, which is most of a plan-cache hit's time.
    """
    step = object.__new__(RunStep)
    fields = step.__dict__
    fields.update(_STEP_DEFAULTS)
    fields["env"], fields["lock"], fields["sources"], fields["outputs"], fields["resources"] = {}, [], [], [], {}
    fields.update(data)
    retry, stdin, stdout, stderr = fields["retry"], fields["stdin"], fields["stdout"], fields["stderr"]
    if retry is not None:
        fields["retry"] = RetryPolicy(*retry)
    if fields["ready"] is not None:
        fields["ready"] = ReadyProbe(**fields["ready"])
    if stdin is not None and not isinstance(stdin, str):
        fields["stdin"] = TextIn(stdin["text"]) if "text" in stdin else FileIn(stdin["file"])
    if stdout is not None:
        fields["stdout"] = FileOut(stdout["file"], stdout["append"])
    if stderr is not None and not isinstance(stderr, str):
        fields["stderr"] = FileOut(stderr["file"], stderr["append"])
    return step
