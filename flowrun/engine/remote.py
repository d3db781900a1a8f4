"""Which executor runs a workflow's steps (SPEC §11): ``--executor``, the file's ``executor:``, the variable.

Services, their probes and nothing else stay on the local executor whatever is
chosen (SPEC §8); the scheduler holds both (``Scheduler.local``).
"""

from __future__ import annotations

import os

from flowrun.errors import UsageError, one_of
from flowrun.process.executor import Executor
from flowrun.spec.runtime import EXECUTORS  # not spec.remote: a plan-cache hit needs no pydantic

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SCHEDULER_VAR", "open_executor"]

#: gives the Dask scheduler's address when the dask executor is chosen (it does not choose it)
SCHEDULER_VAR = "FLOWRUN_DASK_SCHEDULER"


async def open_executor(workflow: Any, kind: str | None, scheduler: str | None, jobs: int) -> Executor | None:
    """The executor for the workflow's steps, connected; None for the local one.

    ``kind`` and ``scheduler`` come from the command line (or the API) and win
    over ``FLOWRUN_DASK_SCHEDULER``, which wins over the file.
    """
    config = getattr(workflow, "executor", None)
    kind = kind or (config.type if config is not None else "local")
    if kind not in EXECUTORS:
        raise UsageError(f"unknown executor {kind!r} — {one_of(kind, EXECUTORS)}")
    if kind == "local":
        if scheduler:
            raise UsageError("--scheduler is for the dask executor: add --executor dask")
        return None
    address = scheduler or os.environ.get(SCHEDULER_VAR) or (config.scheduler if config is not None else None)
    from flowrun.process.dask_executor import DaskExecutor  # a UsageError naming the extra when it is missing

    return await DaskExecutor.open(address, base_dir=workflow.base_dir, jobs=jobs,
                                   workdir=config.workdir if config is not None else None)
