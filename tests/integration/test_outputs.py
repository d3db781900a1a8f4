"""Outputs and parameters at run time (SPEC §9): values reach readers literally and never run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import flowrun
from flowrun.errors import UsageError
from flowrun.events import StepStatus
from tests.integration.harness import cli, run_yaml, write

S = StepStatus

HOSTILE = [
    "$(touch pwned-dollar)",
    "`touch pwned-backtick`",
    "it's \"quoted\" and 'single'",
    "a; touch pwned-semicolon",
    "${HOME} $HOME ${{ params.x }}",
    "line one\nline $(touch pwned-two)\n  indented",
]


READ_ENV = ("import json, os, sys; "
            "json.dump([os.environ[f'V{i}'] for i in range(int(sys.argv[1]))], open('env.json', 'w'))")


def test_hostile_values_reach_the_reader_literally_and_run_nothing(tmp_path: Path) -> None:
    (tmp_path / "values.json").write_text(json.dumps(HOSTILE))
    writer = (
        "import json, os\n"
        "values = json.load(open('values.json'))\n"
        "with open(os.environ['FLOWRUN_OUTPUT'], 'a') as out:\n"
        "    for i, v in enumerate(values):\n"
        "        out.write(f'v{i}<<END_OF_VALUE\\n{v}\\nEND_OF_VALUE\\n')\n"
    )
    (tmp_path / "writer.py").write_text(writer)
    reads = "\n".join(f'              V{i}: "${{{{ steps.make.outputs.v{i} }}}}"' for i in range(len(HOSTILE)))
    args = ", ".join(f'"${{{{ steps.make.outputs.v{i} }}}}"' for i in range(len(HOSTILE)))
    result = run_yaml(tmp_path, f"""
        steps:
          make: {{cmd: [python3, writer.py]}}
          by-env:
            depends_on: [make]
            cmd: [python3, -c, "{READ_ENV}", "{len(HOSTILE)}"]
            env:
{reads}
          by-argv:
            depends_on: [make]
            cmd: [python3, -c, "import json, sys; json.dump(sys.argv[1:], open('argv.json', 'w'))", {args}]
    """)
    assert result.ok, [(s.name, s.status, s.reason) for s in result]
    assert json.loads((tmp_path / "env.json").read_text()) == HOSTILE
    assert json.loads((tmp_path / "argv.json").read_text()) == HOSTILE
    assert not list(tmp_path.glob("pwned-*")), "a value was run as shell code"
    assert result["make"].outputs == {f"v{i}": v for i, v in enumerate(HOSTILE)}


def test_an_unset_output_fails_its_reader_before_it_starts(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          build: {run: "echo other=1 >> $FLOWRUN_OUTPUT"}
          deploy:
            cmd: [touch, "deployed-${{ steps.build.outputs.version }}"]
            depends_on: [build]
          after: {run: "true", depends_on: [deploy]}
    """)
    assert result["deploy"].status is S.FAILED
    assert result["deploy"].reason == "build did not set output 'version'"
    assert result["after"].status is S.SKIPPED
    assert not list(tmp_path.glob("deployed-*"))
    assert result.exit_code() == 1


def test_a_nul_in_a_value_fails_the_reader(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          make: {run: "printf 'v=a\\\\0b\\\\n' >> $FLOWRUN_OUTPUT"}
          use: {cmd: [echo, "${{ steps.make.outputs.v }}"], depends_on: [make]}
    """)
    assert result["make"].status is S.SUCCESS and result["make"].outputs == {"v": "a\x00b"}
    assert result["use"].status is S.FAILED and "NUL" in result["use"].reason


def test_outputs_over_1_mib_or_malformed_fail_the_step(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          big: {run: "python3 -c \\"import os; open(os.environ['FLOWRUN_OUTPUT'], 'w').write('v=' + 'x' * 2**20)\\""}
          junk: {run: "echo 'not an output' >> $FLOWRUN_OUTPUT"}
          open-heredoc: {run: "printf 'v<<EOF\\\\nno end\\\\n' >> $FLOWRUN_OUTPUT"}
    """, keep_going=True)
    assert (result["big"].status, result["big"].reason) == (S.FAILED, "$FLOWRUN_OUTPUT its outputs are over 1 MiB")
    assert result["junk"].status is S.FAILED and "expected NAME=VALUE" in result["junk"].reason
    assert result["open-heredoc"].status is S.FAILED and "no line 'EOF'" in result["open-heredoc"].reason


def test_outputs_are_masked_in_the_report_and_the_results_file(tmp_path: Path) -> None:
    write(tmp_path, """
        secrets: [TOKEN]
        steps:
          make: {run: 'echo "token=$TOKEN" >> $FLOWRUN_OUTPUT; echo "plain=ok" >> $FLOWRUN_OUTPUT'}
          show: {run: 'cp "$FLOWRUN_RESULTS" copy.jsonl', depends_on: [make]}
    """)
    result = cli(tmp_path, "up", "--output", "plain", "--json", "r.json", env={"TOKEN": "s3cret-0ut"})
    assert result.returncode == 0, result.stderr
    steps = {s["name"]: s for s in json.loads((tmp_path / "r.json").read_text())["steps"]}
    assert steps["make"]["outputs"] == {"token": "***", "plain": "ok"}
    assert json.loads((tmp_path / "copy.jsonl").read_text().splitlines()[0])["outputs"]["token"] == "***"
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and b"s3cret-0ut" in p.read_bytes()]
    assert leaked == []


def test_parameters_reach_steps_between_workflow_and_step_env(tmp_path: Path) -> None:
    path = write(tmp_path, """
        params:
          region: {default: eu}
          size: {choices: [s, m], default: s}
        env: {region: from-workflow, WHERE: "in-${{ params.region }}"}
        steps:
          show: {run: 'echo "$region $size $WHERE" > seen.txt'}
          own: {run: 'echo "$region" > own.txt', env: {region: from-step}}
    """)
    result = flowrun.run(flowrun.load(path), params={"region": "us"}, handle_signals=False)
    assert result.ok
    assert (tmp_path / "seen.txt").read_text() == "us s in-us\n"
    assert (tmp_path / "own.txt").read_text() == "from-step\n"
    with pytest.raises(UsageError, match="did you mean 'region'"):
        flowrun.run(flowrun.load(path), params={"regoin": "us"}, handle_signals=False)
    with pytest.raises(UsageError, match="not one of its choices"):
        flowrun.run(flowrun.load(path), params={"size": "xl"}, handle_signals=False)


def test_the_json_report_records_the_parameters(tmp_path: Path) -> None:
    write(tmp_path, """
        params: {version: {default: 0.1.0}, channel: beta}
        steps: {a: {run: "true"}}
    """)
    result = cli(tmp_path, "up", "--output", "plain", "-p", "version=2.0.0", "--json", "r.json")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["params"] == {"version": "2.0.0", "channel": "beta"}


def test_the_html_report_lists_parameters_and_outputs(tmp_path: Path) -> None:
    write(tmp_path, """
        params: {version: {default: 0.1.0}}
        steps:
          stamp: {run: 'echo "tag=<v${version}>" >> $FLOWRUN_OUTPUT'}
    """)
    result = cli(tmp_path, "up", "--output", "plain", "-p", "version=9.9", "--html", "r.html")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "r.html").read_text()
    assert "<h3>Parameters</h3>" in page and "<code>9.9</code>" in page
    assert "<h3>Outputs</h3>" in page and "<code>&lt;v9.9&gt;</code>" in page, "values are escaped"
