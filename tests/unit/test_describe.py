"""How a step's command is shown (``-v``, reports, ``--dry-run``): as the user wrote it."""

from __future__ import annotations

from pathlib import Path

from flowrun.engine.prepare import argv_for, describe
from flowrun.graph import plan_for
from flowrun.load import load
from flowrun.render import to_plan_text


def test_a_run_script_is_shown_as_written_and_a_cmd_as_a_shell_would_quote_it(tmp_path: Path) -> None:
    (tmp_path / "flowrun.yaml").write_text(
        "steps:\n"
        "  script: {run: 'echo unit; echo err >&2'}\n"
        "  posix: {run: 'echo hi', shell: sh}\n"
        "  python: {cmd: [python3, -c, 'print(1)']}\n"
        "  shell-c: {cmd: [sh, -c, 'echo a; echo b']}\n"
    )
    plan = plan_for(load(tmp_path / "flowrun.yaml"))
    shown = {name: describe(argv_for(plan.instances[name])) for name in plan.order}
    assert shown == {
        "script": "echo unit; echo err >&2",
        "posix": "echo hi",
        "python": "python3 -c 'print(1)'",
        "shell-c": "sh -c 'echo a; echo b'",
    }
    text = to_plan_text(plan, 2)
    assert "python3 -c 'print(1)'" in text and "sh -c 'echo a; echo b'" in text
