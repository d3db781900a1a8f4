"""Pipes, stdio forms and captured output, with real processes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from flowrun.events import StepStatus
from tests.integration.harness import cli, run_yaml, write

S = StepStatus


def test_chain_pipe_and_file_output(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          gen: {cmd: [seq, 1, 1000]}
          odd: {run: "awk '$1 % 2'", stdin: gen}
          count: {cmd: [wc, -l], stdin: odd, stdout: {file: out/count.txt}}
    """)
    assert all(result[n].status is S.SUCCESS for n in ("gen", "odd", "count"))
    assert (tmp_path / "out" / "count.txt").read_text().strip() == "500"


def test_fan_out_gives_every_reader_every_byte(tmp_path: Path) -> None:
    data = hashlib.sha256(b"seed").digest() * (40 * 1024 * 1024 // 32)  # 40 MiB
    (tmp_path / "data.bin").write_bytes(data)
    result = run_yaml(tmp_path, """
        steps:
          src: {cmd: [cat, data.bin]}
          a: {cmd: [sha256sum], stdin: src, stdout: {file: a.sha}}
          b: {run: "sleep 0.2; sha256sum", stdin: src, stdout: {file: b.sha}}
          c: {cmd: [wc, -c], stdin: src, stdout: {file: c.count}}
    """)
    want = hashlib.sha256(data).hexdigest()
    assert all(result[n].status is S.SUCCESS for n in ("src", "a", "b", "c"))
    assert (tmp_path / "a.sha").read_text().split()[0] == want
    assert (tmp_path / "b.sha").read_text().split()[0] == want
    assert int((tmp_path / "c.count").read_text()) == len(data)


def test_sigpipe_producer_counts_as_success(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          yes: {cmd: ["yes"]}
          first: {cmd: [head, -n, "1"], stdin: "yes", stdout: {file: first.txt}}
    """)
    assert result["yes"].status is S.SUCCESS
    assert result["first"].status is S.SUCCESS
    assert (tmp_path / "first.txt").read_text() == "y\n"
    assert result.exit_code() == 0


def test_a_pipe_breaking_inside_a_producer_while_its_reader_reads_is_a_failure(tmp_path: Path) -> None:
    """Exit 141 from the producer's own `yes | head` is not its reader hanging up: the script was cut short."""
    result = run_yaml(tmp_path, """
        steps:
          cut-short: {run: 'yes | head -n 1; echo "second half"'}
          reader: {run: "cat > got.txt; sleep 0.3", stdin: cut-short}
          fed: {run: "seq 1 10000000 | cat"}
          hangs-up: {run: "head -n 2 > two.txt", stdin: fed}
    """, keep_going=True)
    assert (result["cut-short"].status, result["cut-short"].exit_code) == (StepStatus.FAILED, 141)
    assert "before its readers ended" in result["cut-short"].reason
    assert (tmp_path / "got.txt").read_text() == "y\n"
    # the pipe that broke was the step's own stdout, its reader gone: a success
    assert (result["fed"].status, result["fed"].exit_code) == (StepStatus.SUCCESS, 141)
    assert result["hangs-up"].status is StepStatus.SUCCESS and (tmp_path / "two.txt").read_text() == "1\n2\n"


def test_sigpipe_inside_one_script_is_bash_pipefail(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          inline: {run: "yes | head -n 1"}
    """)
    assert (result["inline"].status, result["inline"].exit_code) == (S.FAILED, 141)


def test_failed_producer_fails_its_reader(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          bad: {run: "echo partial; exit 3"}
          reader: {cmd: [cat], stdin: bad}
    """)
    assert (result["bad"].status, result["bad"].exit_code) == (S.FAILED, 3)
    assert result["reader"].status is S.FAILED
    assert "bad" in result["reader"].reason


def test_stdin_file_and_text_stdout_append_stderr_forms(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("from file\n")
    (tmp_path / "acc.txt").write_text("before\n")
    result = run_yaml(tmp_path, """
        steps:
          f: {cmd: [cat], stdin: {file: in.txt}, stdout: {file: acc.txt, append: true}}
          t: {cmd: [cat], stdin: {text: "literal\\n"}, stdout: {file: t.txt}}
          merged: {run: "echo out; echo err >&2", stderr: stdout, stdout: {file: merged.txt}}
          split: {run: "echo out; echo err >&2", stderr: {file: err.txt}}
          missing: {cmd: [cat], stdin: {file: nope.txt}}
    """, keep_going=True)
    assert (tmp_path / "acc.txt").read_text() == "before\nfrom file\n"
    assert (tmp_path / "t.txt").read_text() == "literal\n"
    assert sorted((tmp_path / "merged.txt").read_text().split()) == ["err", "out"]
    assert (tmp_path / "err.txt").read_text() == "err\n"
    assert Path(result["split"].log_path or "").read_text() == "out\n"
    assert result["missing"].status is S.FAILED


def test_long_lines_and_invalid_utf8_reach_the_log_intact(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          big: {run: "head -c 10000000 /dev/zero | tr '\\\\0' x; printf '\\\\377\\\\376end'"}
    """)
    data = Path(result["big"].log_path or "").read_bytes()
    assert len(data) == 10_000_000 + 5
    assert data.endswith(b"\xff\xfeend") and data[:10] == b"x" * 10


def test_lots_of_stdout_and_stderr_at_once_do_not_deadlock(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          noisy: {run: "head -c 5000000 /dev/zero & head -c 5000000 /dev/zero >&2; wait"}
    """)
    assert result["noisy"].status is S.SUCCESS
    assert Path(result["noisy"].log_path or "").stat().st_size == 10_000_000


def test_pipeline_larger_than_jobs_still_runs(tmp_path: Path) -> None:
    result = run_yaml(tmp_path, """
        steps:
          a: {cmd: [seq, 3]}
          b: {cmd: [cat], stdin: a}
          c: {cmd: [wc, -l], stdin: b, stdout: {file: n.txt}}
          d: {run: "true"}
    """, jobs=1)
    assert (tmp_path / "n.txt").read_text().strip() == "3"
    assert result["d"].status is S.SUCCESS


def test_console_plain_prefixes_and_summary(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          hello: {run: "echo hi; printf 'partial'"}
          fails: {run: "echo oops >&2; exit 2", depends_on: [hello]}
    """)
    proc = cli(tmp_path, "up", "--output", "plain")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert "hello | hi" in lines
    assert "hello | partial" in lines
    assert "fails | oops" in lines
    assert "\x1b[" not in proc.stdout
    assert any(line.startswith("fails") and "failed" in line and " 2 " in line for line in lines)
    assert "    oops" in lines  # the failed step's log tail


def test_closed_stdout_does_not_stop_the_run(tmp_path: Path) -> None:
    import subprocess
    import sys

    write(tmp_path, """
        steps:
          a: {run: "seq 1 20000"}
          b: {run: "echo done > done.txt", depends_on: [a]}
    """)
    proc = subprocess.run(
        f"{sys.executable} -m flowrun up --output plain | head -n 1; exit ${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "done.txt").read_text() == "done\n"
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("closed", ["1>&-", "2>&-", "0<&- 1>&- 2>&-"])
@pytest.mark.parametrize("command", ["up", "up --output plain", "validate"])
def test_a_closed_stdout_or_stderr_at_start_changes_nothing(tmp_path: Path, closed: str, command: str) -> None:
    """``flowrun up >&-``: no traceback, the run goes on, the exit code is the run's."""
    import subprocess
    import sys

    write(tmp_path, """
        steps:
          a: {run: "echo ran > ran.txt"}
          b: {run: "exit 3", depends_on: [a]}
    """)
    proc = subprocess.run(
        ["bash", "-c", f'exec {closed}; exec "$0" -m flowrun {command} 2>>"$1"', sys.executable,
         str(tmp_path / "stderr.txt")] if "2>&-" not in closed else
        ["bash", "-c", f'exec {closed}; exec "$0" -m flowrun {command}', sys.executable],
        cwd=tmp_path, timeout=60,
    )
    if command == "validate":
        assert proc.returncode == 0
    else:
        assert proc.returncode == 1  # b failed: the run's own exit code
        assert (tmp_path / "ran.txt").read_text() == "ran\n"
    if (tmp_path / "stderr.txt").exists():
        assert "Traceback" not in (tmp_path / "stderr.txt").read_text()


def test_dry_run_runs_nothing(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          a: {run: "touch ran"}
          b: {run: "cat", stdin: a}
    """)
    proc = cli(tmp_path, "up", "--dry-run")
    assert proc.returncode == 0
    assert "a | b" in proc.stdout
    assert not (tmp_path / "ran").exists()


def test_cli_exit_codes_for_bad_input(tmp_path: Path) -> None:
    write(tmp_path, "steps: {a: {run: x}}\n")
    assert cli(tmp_path, "up", "nope").returncode == 2
    assert "unknown step 'nope'" in cli(tmp_path, "up", "nope").stderr
    assert cli(tmp_path, "up", "-j", "0").returncode == 2
    assert cli(tmp_path, "up", "-f", "missing.yaml").returncode == 2
    write(tmp_path, "steps: {a: {run: x, depends_on: [b]}}\n")
    proc = cli(tmp_path, "up")
    assert proc.returncode == 2 and proc.stderr.startswith("flowrun.yaml:1:34: ")


def test_secrets_are_masked_in_console_and_logs(tmp_path: Path) -> None:
    write(tmp_path, """
        secrets: [TOKEN]
        env: {TOKEN: "tok-123456789"}
        steps:
          leak: {run: "printf 'tok-1234'; sleep 0.05; printf '56789 and again %s\\\\n' \\"$TOKEN\\"; exit 1"}
    """)
    proc = cli(tmp_path, "up", "--output", "plain")
    assert proc.returncode == 1
    assert "tok-123456789" not in proc.stdout + proc.stderr
    assert "*** and again ***" in proc.stdout
    logs = list((tmp_path / ".flowrun" / "runs").glob("*/leak.log"))
    assert logs and "tok-123456789" not in logs[0].read_text()
    assert logs[0].read_text() == "*** and again ***\n"
