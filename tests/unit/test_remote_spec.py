"""``executor:`` and ``resources:`` in the file (SPEC §11): validation and the plan cache (no Dask needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

import flowrun
from flowrun.errors import WorkflowError
from flowrun.load.cache import load_for_run


def _write(tmp: Path, text: str) -> Path:
    path = tmp / "flowrun.yaml"
    path.write_text(text)
    return path


def test_executor_and_resources_are_read_and_kept_by_the_plan_cache(tmp_path: Path) -> None:
    path = _write(tmp_path, "executor: {type: dask, scheduler: 'tcp://h:8786', workdir: /mnt/p}\n"
                            "steps:\n  train: {run: 'true', resources: {gpu: 1, memory.gb: 2.5}}\n")
    for _ in range(2):  # a miss (yaml and pydantic), then a hit (the cached plan)
        workflow = load_for_run(str(path))
        assert (workflow.executor.type, workflow.executor.scheduler, workflow.executor.workdir) == (
            "dask", "tcp://h:8786", "/mnt/p")
        assert dict(workflow.steps["train"].resources) == {"gpu": 1.0, "memory.gb": 2.5}
    assert type(workflow).__name__ == "RunWorkflow"


@pytest.mark.parametrize(("text", "message"), [
    ("executor: {type: k8s}\n", "unknown executor 'k8s'"),
    ("executor: {type: dask, sheduler: x}\n", "sheduler"),
    ("steps:\n  b: {run: 'true', resources: {gpu: 0}}\n", "greater than 0"),
    ("steps:\n  b: {run: 'true', resources: {'9 gpus': 1}}\n", "invalid key '9 gpus'"),
])
def test_mistakes_are_diagnostics(tmp_path: Path, text: str, message: str) -> None:
    body = text if "steps:" in text else text + "steps:\n  a: {run: 'true'}\n"
    with pytest.raises(WorkflowError) as info:
        flowrun.load(_write(tmp_path, body))
    shown = "\n".join(str(d) for d in info.value.diagnostics)
    assert message in shown and "flowrun.yaml:" in shown, shown


def test_the_local_executor_ignores_resources(tmp_path: Path) -> None:
    result = flowrun.run(flowrun.load(_write(tmp_path, "steps:\n  a: {run: 'true', resources: {gpu: 1}}\n")),
                         handle_signals=False)
    assert result["a"].status.value == "success"
