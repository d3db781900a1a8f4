"""Where steps run (SPEC §11): the workflow's ``executor:`` and a step's ``resources:``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from flowrun.spec.fields import Text
from flowrun.spec.runtime import EXECUTORS
from flowrun.spec.words import unknown_word

__all__ = ["EXECUTORS", "ExecutorConfig", "Resources"]

def _executor_type(value: object) -> object:
    if isinstance(value, str) and value not in EXECUTORS:
        raise unknown_word("executor", value, EXECUTORS)
    return value


class ExecutorConfig(BaseModel):
    """``executor: {type: dask, scheduler: tcp://HOST:8786, workdir: /mnt/project}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Annotated[str, BeforeValidator(_executor_type)] = "local"
    #: the Dask scheduler's address (the command line and FLOWRUN_DASK_SCHEDULER come first)
    scheduler: Text | None = None
    #: where workers see the workflow's folder, when not at the same path
    workdir: Text | None = None


#: ``resources: {gpu: 1}``: what a step needs of a worker (Dask resources); the local executor ignores it
Resources = dict[
    Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")],
    Annotated[float, Field(gt=0)],
]
