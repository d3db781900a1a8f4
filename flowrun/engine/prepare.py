"""Turn a step instance into a LaunchSpec: argv, environment, folders, stdio (pure)."""

from __future__ import annotations

import functools
import os
import shlex
import signal
from collections.abc import Collection, Mapping

from flowrun.graph import Plan
from flowrun.process.executor import (
    CAPTURE,
    MERGE_INTO_STDOUT,
    FileSink,
    FileSource,
    LaunchSpec,
    StepEnv,
    StepSource,
    TextSource,
)
from flowrun.spec.instance import StepInstance

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from flowrun.spec.model import Workflow

__all__ = [
    "ATTEMPT_VAR",
    "DEFAULT_KILL_GRACE",
    "RUN_ID_VAR",
    "STEP_VAR",
    "TAG_VAR",
    "argv_for",
    "base_env",
    "describe",
    "launch_spec",
    "step_env",
]

DEFAULT_KILL_GRACE = 5.0
#: every step sees these; they also tag its processes so none can outlive the run
RUN_ID_VAR = "FLOWRUN_RUN_ID"
STEP_VAR = "FLOWRUN_STEP"
ATTEMPT_VAR = "FLOWRUN_ATTEMPT"
TAG_VAR = "FLOWRUN_STEP_ID"


def argv_for(inst: StepInstance, script: str | None = None) -> tuple[str, ...]:
    """``bash --noprofile --norc -eo pipefail -c SCRIPT``, ``sh -ec SCRIPT`` or the argv."""
    step = inst.step
    text = script if script is not None else step.run
    if text is None:
        assert step.cmd is not None
        return tuple(step.cmd)
    if (step.shell or "bash") == "sh":
        return ("sh", "-ec", text)
    return ("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", text)


#: how ``argv_for`` wraps a ``run:`` script (all but the script itself)
_SCRIPT_SHELLS = (("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"), ("sh", "-ec"))


@functools.lru_cache(maxsize=4096)
def describe(argv: tuple[str, ...]) -> str:
    """The command a user wrote: a ``run:`` script as written, a ``cmd:`` as a shell would quote it.

    Kept: retries and matrix steps ask again.
    """
    if argv[:-1] in _SCRIPT_SHELLS:
        return argv[-1]
    return shlex.join(argv)


def base_env(workflow: Workflow, inherited: Mapping[str, str] | None = None) -> dict[str, str]:
    """Inherited env < dotenv < workflow env: the same for every step, built once a run."""
    env = dict(os.environ if inherited is None else inherited)
    env.update(workflow.dotenv_values)
    env.update(workflow.env)
    return env


def step_env(
    workflow: Workflow, inst: StepInstance, run_id: str, base: Mapping[str, str] | None = None, attempt: int = 1
) -> StepEnv:
    """Inherited env < dotenv < workflow env < step env < matrix values (SPEC §1).

    The step's own entries over the run's shared ``base``, which is not copied:
    the executor can then encode the shared part once a run, not once a step.
    """
    own = {**inst.step.env, **inst.matrix}
    own[RUN_ID_VAR] = run_id
    own[STEP_VAR] = inst.name
    own[ATTEMPT_VAR] = str(attempt)
    own[TAG_VAR] = f"{run_id}/{inst.name}"
    return StepEnv(own, base if base is not None else base_env(workflow))


def _path(base: str, value: str) -> str:
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))


def launch_spec(
    workflow: Workflow,
    plan: Plan,
    inst: StepInstance,
    run_id: str,
    *,
    timeout: float | None,
    members: Collection[str] | None = None,
    script: str | None = None,
    env_base: Mapping[str, str] | None = None,
    base_dir: str | None = None,
    attempt: int = 1,
) -> LaunchSpec:
    """The LaunchSpec for one pipeline member (or for its ``if:`` check, via ``script``)."""
    step = inst.step
    base = base_dir or workflow.base_dir
    cwd = _path(base, step.workdir) if step.workdir else base
    stdin: FileSource | TextSource | StepSource | None = None
    stdout: FileSink | str = CAPTURE
    stderr: FileSink | str = CAPTURE
    if script is None:
        # a validated Step or a cached RunStep: {file} and {text} are told apart by their field
        if step.stdin is None:
            pass
        elif isinstance(step.stdin, str):
            producer = plan.producer(inst.name)
            if producer is not None and (members is None or producer in members):
                stdin = StepSource(producer)
        elif hasattr(step.stdin, "file"):
            stdin = FileSource(_path(base, step.stdin.file))
        elif hasattr(step.stdin, "text"):
            stdin = TextSource(step.stdin.text)
        if step.stdout is not None:
            stdout = FileSink(_path(base, step.stdout.file), step.stdout.append)
        if step.stderr == "stdout":
            stderr = MERGE_INTO_STDOUT
        elif step.stderr is not None:
            stderr = FileSink(_path(base, step.stderr.file), step.stderr.append)
    env = step_env(workflow, inst, run_id, env_base, attempt)
    return LaunchSpec(
        name=inst.name,
        argv=argv_for(inst, script),
        env=env,
        cwd=cwd,
        stdin=stdin,
        stdout=stdout,  # type: ignore[arg-type]
        stderr=stderr,  # type: ignore[arg-type]
        timeout=timeout,
        kill_signal=step.kill_signal or int(signal.SIGTERM),
        kill_grace=DEFAULT_KILL_GRACE if step.kill_grace is None else step.kill_grace,
        tag=(TAG_VAR, env.maps[0][TAG_VAR]),
        resources=step.resources or None,
    )
