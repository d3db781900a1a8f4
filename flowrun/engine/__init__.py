"""Running a workflow: the scheduler, the run rules and the result."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterable, Mapping, Sequence

from flowrun.engine.result import RunResult, StepResult
from flowrun.engine.scheduler import Scheduler
from flowrun.errors import UsageError
from flowrun.graph import plan_for
from flowrun.process.executor import Executor
from flowrun.report.base import Reporter, Reporters
from flowrun.report.files import plan_dependencies
from flowrun.report.jsonreport import JsonReport
from flowrun.report.logs import LogWriter, new_run_id
from flowrun.report.secrets import Masker

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from flowrun.spec.model import Workflow

#: file name of the JSON run report written into every run's log folder
RUN_REPORT = "report.json"

__all__ = ["RUN_REPORT", "RunResult", "StepResult", "arun", "run", "secret_values"]


async def arun(
    workflow: Workflow,
    *,
    targets: Sequence[str] = (),
    jobs: int | None = None,
    keep_going: bool = False,
    reporters: Iterable[Reporter] = (),
    executor: Executor | str | None = None,
    scheduler: str | None = None,
    handle_signals: bool = True,
    run_id: str | None = None,
    params: Mapping[str, str] | None = None,
    force: bool = False,
    resume: bool = False,
) -> RunResult:
    """Run ``workflow`` inside a running event loop; see ``run``."""
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise UsageError(f"jobs must be a whole number of at least 1, got {jobs!r}")
    from flowrun.spec.bindings import check_addresses, resolve_params

    if resume and not targets and not params:
        from flowrun.engine.recording import last_selection

        targets, params = last_selection(workflow)
    params = resolve_params(workflow.params, params or {})  # every mistake is a UsageError before anything runs
    plan = plan_for(workflow)
    if params:
        check_addresses({inst.base: inst.step for inst in plan.instances.values()}, params)
    # the loaded workflow lives as long as the run: keep the cyclic GC off it
    gc.freeze()
    if targets:
        plan = plan.select(targets)
    chosen = jobs or workflow.jobs or os.cpu_count() or 1
    local: Executor | None = None
    if executor is None or isinstance(executor, str):  # a remote one is connected before anything runs
        from flowrun.engine.remote import open_executor
        from flowrun.process.choose import local_executor

        remote = await open_executor(workflow, executor, scheduler, chosen)
        local = local_executor()  # the fast Linux path where it works, else the portable one
        executor = remote or local
    try:  # a cluster opened above is closed if the run cannot start
        run_id = run_id or new_run_id()
        logs = LogWriter(workflow.base_dir, run_id)
        # the run's own report beside its logs (what `flowrun logs` and tools can read back)
        own_report = JsonReport(os.path.join(logs.dir, RUN_REPORT), dependencies=plan_dependencies(plan),
                                workflow_file=workflow.path or None, private=True)
        reporter: Reporter = Reporters([logs, *reporters, own_report])
        secrets = secret_values(workflow, params)

        mask: Callable[[str], str] = str
        if secrets:
            reporter = Masker(secrets, reporter)
            mask = reporter.mask_text
        from flowrun.engine.recording import close_history, open_history, record_run, steering

        history = open_history(workflow.base_dir)
        durations, incremental = steering(workflow, plan, history, params, force=force, resume=resume)
        scheduler = Scheduler(
            workflow, plan, executor, reporter, local=local,
            run_id=run_id, jobs=chosen, keep_going=keep_going,
            log_dir=logs.dir, log_path=logs.path, handle_signals=handle_signals, targets=targets,
            params=params, mask=mask, incremental=incremental, durations=durations,
        )
    except BaseException:
        if executor is not local and local is not None:
            await executor.aclose()
        raise
    try:
        result = await scheduler.run()
    finally:
        logs.close()
        gc.unfreeze()
    if history is not None:
        record_run(history, result, workflow_file=workflow.path, targets=list(targets), params=params,
                   incremental=scheduler.incremental, outputs=scheduler.dataflow.outputs, mask=mask)
        close_history(history)
    return result


def secret_values(workflow: Workflow, params: Mapping[str, str] | None = None) -> list[str]:
    """The values of the variables named in ``secrets:``, wherever they are set (a parameter's too).

    Step env is read from the plan's instances, so values a step got from
    ``defaults: {env}`` are masked too.
    """
    values = []
    steps = [inst.step for inst in plan_for(workflow).instances.values()] if workflow.secrets else []
    for name in workflow.secrets:
        for source in (os.environ, workflow.dotenv_values, workflow.env):
            if source.get(name):
                values.append(source[name])
        for step in steps:
            if step.env.get(name):
                values.append(step.env[name])
        if params and params.get(name):
            values.append(params[name])
    return list(dict.fromkeys(values))


def run(workflow: Workflow, **options: object) -> RunResult:
    """Run a loaded workflow with the same engine as ``flowrun up``.

    Options: ``targets`` (step names; their dependencies come along), ``jobs``,
    ``keep_going``, ``params`` (NAME → value; checked as ``-p`` is), ``reporters`` (event consumers), ``executor``
    (an Executor, or ``"local"``/``"dask"``), ``scheduler`` (the Dask scheduler's address),
    ``handle_signals`` (install SIGINT/SIGTERM/SIGHUP handlers; main thread only).
    """
    if _needs_asyncio(workflow, options):
        import asyncio

        return asyncio.run(arun(workflow, **options))  # type: ignore[arg-type]
    from flowrun.process import loop

    return loop.run(arun(workflow, **options))  # type: ignore[arg-type]


def _needs_asyncio(workflow: Workflow, options: dict[str, object]) -> bool:
    """A service's tcp/http probe (its streams), the dask executor (``distributed`` is asyncio) and the
    portable process path (its exit watcher) need asyncio; any other run goes on ``flowrun.process.loop``,
    which starts in a fraction of asyncio's import time."""
    chosen = options.get("executor")
    if chosen is not None and not isinstance(chosen, str):  # the caller's own executor: only the Linux one
        from flowrun.process.local import LocalExecutor  # is known to need nothing of asyncio's

        return not isinstance(chosen, LocalExecutor)
    remote = chosen if isinstance(chosen, str) else getattr(getattr(workflow, "executor", None), "type", None)
    if remote not in (None, "local"):
        return True
    from flowrun.process.choose import process_path

    if process_path() != "linux":
        return True
    for inst in plan_for(workflow).instances.values():
        ready = inst.step.ready if inst.step.service else None
        if ready is not None and (ready.tcp is not None or ready.http is not None):
            return True
    return False
