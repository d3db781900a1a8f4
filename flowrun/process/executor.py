"""The one seam between the engine and processes.

Everything here is plain, serialisable data plus two small protocols, so that a
remote executor (Dask, SPEC §11) can implement the same interface: no file
descriptors, no ``spec.Step``, no asyncio objects cross it. The classes built
for every step are read-only by convention, not ``frozen``: a frozen dataclass
costs a ``object.__setattr__`` per field to build, on the per-step path.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping

from flowrun.records import field, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Literal, Protocol
else:
    Protocol = object  # the protocols are plain base classes at run time

__all__ = [
    "CAPTURE",
    "MERGE_INTO_STDOUT",
    "Executor",
    "FileSink",
    "FileSource",
    "LaunchSpec",
    "MemberOutcome",
    "PipelineHandle",
    "PipelineSink",
    "PipelineSpec",
    "StepEnv",
    "StepSource",
    "TextSource",
]


@record(frozen=True)
class FileSource:
    """Read stdin from a file (absolute path)."""

    path: str


@record(frozen=True)
class TextSource:
    """Feed a literal text to stdin."""

    text: str


@record(frozen=True)
class StepSource:
    """Stream another member's stdout into stdin (an OS pipe)."""

    producer: str


@record(frozen=True)
class FileSink:
    """Write a stream to a file (absolute path); parent folders are created."""

    path: str
    append: bool = False
    #: permission bits for a file that does not exist yet (before the umask)
    mode: int = 0o666


#: Output goes to the engine through ``PipelineSink.on_output`` (log + console).
CAPTURE: Literal["capture"] = "capture"
#: stderr joins stdout (``2>&1``).
MERGE_INTO_STDOUT: Literal["stdout"] = "stdout"

StdinSpec = FileSource | TextSource | StepSource | None
if TYPE_CHECKING:
    StdoutSpec = FileSink | Literal["capture"]
    StderrSpec = FileSink | Literal["capture", "stdout"]
else:  # typing is not imported at run time
    StdoutSpec = StderrSpec = FileSink | str


class StepEnv(ChainMap[str, str]):
    """A step's environment as ``StepEnv(own, shared)``: a ChainMap whose ``get`` is one call.

    ``ChainMap.get`` goes through ``__contains__`` (a generator) and ``__getitem__``;
    the executor reads a step's environment on every spawn.
    """

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        for mapping in self.maps:
            if key in mapping:
                return mapping[key]
        return default


@record(slots=True)
class LaunchSpec:
    """One process to start. ``stdout`` is ignored when other members read it."""

    name: str
    argv: tuple[str, ...]
    #: the whole environment; as ``StepEnv(own, shared)`` (or any two-map ChainMap) the
    #: local executor encodes ``shared`` once for every spec that shares it (it must
    #: not change meanwhile)
    env: Mapping[str, str]
    cwd: str
    stdin: StdinSpec = None
    stdout: StdoutSpec = CAPTURE
    stderr: StderrSpec = CAPTURE
    timeout: float | None = None
    kill_signal: int = 15
    kill_grace: float = 5.0
    #: environment markers used to find processes that left the step's group
    tag: tuple[str, str] | None = None
    #: what it needs of a worker (``resources:``, SPEC §11); the local executor ignores it
    resources: Mapping[str, float] | None = None


@record(slots=True)
class PipelineSpec:
    """Members joined by ``stdin: producer``; all start together, consumers first."""

    members: tuple[LaunchSpec, ...]

    def consumers_of(self, name: str) -> tuple[str, ...]:
        return tuple(
            m.name for m in self.members if isinstance(m.stdin, StepSource) and m.stdin.producer == name
        )


@record(slots=True)
class MemberOutcome:
    """What happened to one member: raw facts, no status policy."""

    name: str
    #: exit status when it exited normally, else None
    exit_code: int | None
    #: the signal that ended it, else None
    signal: int | None
    started: float
    ended: float
    timed_out: bool = False
    cancelled: bool = False
    #: the process could not be started (command not found, missing workdir, ...)
    error: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    #: the order in which the executor saw its pipeline's members exit (0 first), None if
    #: it cannot tell: a producer's SIGPIPE is benign only after its readers ended (SPEC §2)
    exit_order: int | None = None


class PipelineSink(Protocol):
    """Where an executor reports a pipeline's output and end."""

    def on_output(self, step: str, data: bytes) -> None: ...

    def on_exit(self, outcomes: tuple[MemberOutcome, ...]) -> None: ...


class PipelineHandle(Protocol):
    """A launched pipeline."""

    def cancel(self, force: bool = False) -> None:
        """Stop every member: kill_signal, kill_grace, SIGKILL (force: SIGKILL now)."""
        ...


class Executor(Protocol):
    """Starts pipelines. Must be used from inside the running asyncio loop."""

    def launch(self, pipeline: PipelineSpec, sink: PipelineSink) -> PipelineHandle: ...

    async def aclose(self) -> None:
        """End of run: kill whatever steps left behind, reap it, stop readers."""
        ...
