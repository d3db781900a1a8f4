"""What a person sees: the real CLI in a pseudo-terminal, through a pipe, and in GitHub mode."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections import Counter
from pathlib import Path

from tests.integration.harness import cli, flowrun_cmd, write

ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[ -/]*[0-~])")
CSI = re.compile(r"\x1b\[([0-?]*)[ -/]*([@-~])|\x1b[ -/]*[0-~]|\r|\n|[^\x1b\r\n]+")


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "NO_COLOR", "FORCE_COLOR")}
    return {**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40", **(extra or {})}


def in_pty(tmp: Path, *args: str, timeout: float = 30, interrupt_at: bytes | None = None) -> tuple[int, bytes]:
    """Run ``flowrun ARGS`` with a pseudo-terminal as stdin/stdout/stderr; all it wrote, until EOF.

    With ``interrupt_at``, flowrun gets SIGINT (as from Ctrl-C) once its output holds those bytes.
    """
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(flowrun_cmd(*args), cwd=tmp, stdin=slave, stdout=slave, stderr=slave,
                            env=_env(), start_new_session=True)
    os.close(slave)
    out, deadline = bytearray(), time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([master], [], [], left)[0]:
                continue
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # EIO: every slave end is closed
                break
            if not data:
                break
            out += data
            if interrupt_at is not None and interrupt_at in out:
                os.kill(proc.pid, signal.SIGINT)
                interrupt_at = None
        else:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"flowrun did not finish in {timeout}s; output so far:\n{out[-2000:]!r}")
        return proc.wait(timeout=10), bytes(out)
    finally:
        os.close(master)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def visible_lines(raw: bytes) -> list[str]:
    """Every line as drawn, colours stripped; a line shows what follows its last carriage return."""
    text = ANSI.sub("", raw.decode(errors="replace"))
    return [line.rstrip("\r").rsplit("\r", 1)[-1].rstrip() for line in text.split("\n")]


def final_screen(raw: bytes) -> list[str]:
    """A tiny terminal (text, CR, LF, cursor up, erase line): what the scrollback holds at the end."""
    lines, row, col = [""], 0, 0
    for match in CSI.finditer(raw.decode(errors="replace")):
        token = match.group(0)
        if token == "\n":
            row, col = row + 1, 0
            lines += [""] * (row + 1 - len(lines))
        elif token == "\r":
            col = 0
        elif match.group(2) == "A":
            row = max(0, row - int(match.group(1) or 1))
        elif match.group(2) == "K":
            lines[row] = "" if match.group(1) == "2" else lines[row][:col]
        elif not token.startswith("\x1b"):
            line = lines[row].ljust(col)
            lines[row] = line[:col] + token + line[col + len(token):]
            col += len(token)
    screen = [line.rstrip() for line in lines]
    while screen and not screen[-1]:
        screen.pop()
    return screen


def test_tty_live_view_output_and_summary(tmp_path: Path) -> None:
    write(tmp_path, r"""
        steps:
          fast:
            run: |
              echo 'hello [bold]x[/bold]'
              printf 'bad \377\376 bytes\n'
              printf '\033[2J\033[5Aclean \033[31mred\033[0m\n'
              printf '10%%\r50%%\r100%%\n'
              printf partial
          slow: {run: "sleep 1.2; echo slept", timeout: 30s}
          fails: {run: "echo oops; exit 3", depends_on: [fast]}
          "m": {run: "echo hi from $V", matrix: {V: ["a,b"]}}
    """)
    code, raw = in_pty(tmp_path, "up", "--keep-going")
    assert code == 1
    # the cursor is hidden while the view is live and shown again at the end
    assert raw.count(b"\x1b[?25l") >= 1 and raw.rfind(b"\x1b[?25h") > raw.rfind(b"\x1b[?25l")
    assert b"\x1b[2J" not in raw and b"\x1b[5A" not in raw  # a step cannot take over the terminal
    frames = visible_lines(raw)
    assert any(re.search(r"slow\s+\d+\.\ds\s+timeout in \d+(\.\d)?s", line) for line in frames), frames
    assert any(re.search(r"\d+/4 done · \d+ running · \d+ waiting", line) for line in frames)
    screen = final_screen(raw)
    for expected in ("fast     | hello [bold]x[/bold]", "fast     | bad \ufffd\ufffd bytes", "fast     | clean red",
                     "fast     | 100%", "fast     | partial", "slow     | slept", "fails    | oops",
                     "m[V=a,b] | hi from a,b", "    oops"):
        assert expected in screen, (expected, screen)
    assert screen.index("slow     | slept") < next(i for i, line in enumerate(screen) if "flowrun summary" in line)
    assert any(re.search(r"│ fails\s+│ failed\s+│.*│\s+3 │\s+1 │", line) for line in screen), screen
    assert screen[-1].startswith("flowrun: 1 failed, 3 success")
    assert not any(" done · " in line or "timeout in" in line for line in screen)  # the live region is gone
    # each step keeps one colour for its prefix
    colours: dict[str, set[bytes]] = {}
    for code_, name in re.findall(rb"(\x1b\[[0-9;]*m)([a-z]+\S*) +\|", raw):
        colours.setdefault(name.decode(), set()).add(code_)
    assert set(colours) >= {"fast", "slow", "fails"} and all(len(c) == 1 for c in colours.values()), colours


def test_tty_second_run_shows_the_time_left(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          first: {run: "sleep 0.6"}
          second: {run: "sleep 0.6", depends_on: [first]}
    """)
    code, raw = in_pty(tmp_path, "up")
    assert code == 0
    assert b" left" not in raw, "no estimate without a history"
    code, raw = in_pty(tmp_path, "up")
    assert code == 0
    lefts = [float(v) for v in re.findall(r"about (\d+\.\d)s left", ANSI.sub("", raw.decode(errors="replace")))]
    assert lefts, raw
    assert max(lefts) <= 1.6 and max(lefts) >= 0.6, lefts  # about 1.2 s of chain at the start
    assert lefts == sorted(lefts, reverse=True), "the estimate only goes down while the steps keep time"


def test_tty_interrupted_run_restores_the_cursor(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          talk: {run: "echo started; sleep 30"}
    """)
    code, raw = in_pty(tmp_path, "up", interrupt_at=b"started")
    assert code == 130
    assert raw.rfind(b"\x1b[?25h") > raw.rfind(b"\x1b[?25l") > -1
    screen = final_screen(raw)
    assert "talk | started" in screen and any(re.search(r"│ talk\s+│ cancelled", line) for line in screen), screen
    assert screen[-1].endswith("exit 130, interrupted by SIGINT"), screen


def test_tty_fifty_steps_of_two_thousand_lines(tmp_path: Path) -> None:
    steps = "".join(f"  s{i:02d}: {{run: \"seq -f 's{i:02d} line %g' 1 2000\"}}\n" for i in range(50))
    write(tmp_path, "steps:\n" + steps)
    started = time.monotonic()
    code, raw = in_pty(tmp_path, "up", "-j", "50", timeout=60)
    took = time.monotonic() - started
    assert code == 0
    seen: dict[str, set[int]] = {}
    count: Counter[str] = Counter()
    for line in visible_lines(raw):
        match = re.fullmatch(r"(s\d\d) \| (s\d\d) line (\d+)", line)
        if match and match.group(1) == match.group(2):
            count[match.group(1)] += 1
            seen.setdefault(match.group(1), set()).add(int(match.group(3)))
    assert len(count) == 50
    assert all(n == 2000 and seen[s] == set(range(1, 2001)) for s, n in count.items()), count
    assert took < 15, f"took {took:.1f}s"


def test_tty_quiet_and_verbose(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          ok: {run: "echo visible-ok"}
          bad: {run: "echo visible-bad; exit 2", depends_on: [ok]}
          after: {run: "true", depends_on: [bad]}
    """)
    code, raw = in_pty(tmp_path, "up", "-q")
    screen = final_screen(raw)
    assert code == 1
    assert b"\x1b[?25l" not in raw and not any(" done · " in line for line in visible_lines(raw))
    assert not any(line.startswith(("ok    |", "after |")) for line in screen), screen
    assert "bad   | visible-bad" not in screen
    assert any(line.startswith("bad   | -- failed (exit 2)") for line in screen)
    assert "    visible-bad" in screen and any("flowrun summary" in line for line in screen)

    code, raw = in_pty(tmp_path, "up", "-v")
    screen = final_screen(raw)
    assert "ok    | $ echo visible-ok" in screen and "bad   | visible-bad" in screen
    assert any(line.startswith("after | skipped") for line in screen), screen


def _read_line(fd: int, buffer: bytearray, deadline: float) -> bytes:
    while b"\n" not in buffer:
        left = deadline - time.monotonic()
        assert left > 0, f"no complete line in time: {bytes(buffer)!r}"
        if select.select([fd], [], [], left)[0]:
            data = os.read(fd, 4096)
            assert data, f"EOF before a complete line: {bytes(buffer)!r}"
            buffer += data
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line


def test_pipe_plain_lines_flushed_per_line_without_ansi(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          waiter: {run: "echo first; while [ ! -e go ]; do sleep 0.01; done; echo second"}
    """)
    proc = subprocess.Popen(flowrun_cmd("up"), cwd=tmp_path, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=_env())
    assert proc.stdout is not None
    try:
        buffer = bytearray()
        assert _read_line(proc.stdout.fileno(), buffer, time.monotonic() + 20) == b"waiter | first"
        (tmp_path / "go").touch()  # only now can the step go on: the line came while it ran
        rest = bytes(buffer) + proc.stdout.read()
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert b"\x1b" not in rest
    lines = rest.decode().splitlines()
    assert lines[0] == "waiter | second" and lines[1].startswith("waiter | -- success")
    assert lines[2].split() == ["step", "status", "duration", "exit", "attempts"]


def test_pipe_quiet_and_verbose(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          ok: {run: "echo visible-ok"}
          flaky: {run: "echo try; exit 1", retry: {attempts: 2, delay: 0}, depends_on: [ok]}
          after: {run: "true", depends_on: [flaky]}
    """)
    quiet = cli(tmp_path, "up", "-q", "--output", "plain").stdout.splitlines()
    assert not any(line.startswith(("ok    |", "after |")) for line in quiet), quiet
    assert "flaky | try" not in quiet and "flaky | -- failed (exit 1): exit code 1" in " ".join(quiet)
    assert "    try" in quiet  # the log tail in the summary
    verbose = cli(tmp_path, "up", "-v", "--output", "plain").stdout.splitlines()
    assert "ok    | $ echo visible-ok" in verbose
    assert "flaky | retrying in 0s (attempt 2)" in verbose
    assert any(line.startswith("after | skipped") for line in verbose), verbose


def _groups(lines: list[str]) -> dict[str, list[str]]:
    """Group title → its lines; fails on nested or unclosed groups."""
    groups: dict[str, list[str]] = {}
    current: str | None = None
    for line in lines:
        if line.startswith("::group::"):
            assert current is None, f"group {line} opened inside {current}"
            current = line.removeprefix("::group::")
            groups[current] = []
        elif line == "::endgroup::":
            assert current is not None
            current = None
        elif current is not None:
            groups[current].append(line)
    assert current is None
    return groups


def test_github_groups_do_not_interleave_and_errors_carry_the_tail(tmp_path: Path) -> None:
    write(tmp_path, r"""
        steps:
          front: {run: "echo f1; while [ ! -e go ]; do sleep 0.01; done; echo f2"}
          quick: {run: "echo q1; echo q2"}
          bad:
            run: |
              printf 'b1\n50%% done\n'
              exit 4
          "t": {run: "echo value $V; exit 1", matrix: {V: ["x:y"]}}
    """)
    proc = subprocess.Popen(flowrun_cmd("up", "-j", "4", "--keep-going"), cwd=tmp_path, stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=_env({"GITHUB_ACTIONS": "true"}))
    assert proc.stdout is not None
    try:
        buffer = bytearray()
        deadline = time.monotonic() + 20
        assert _read_line(proc.stdout.fileno(), buffer, deadline) == b"::group::front"
        assert _read_line(proc.stdout.fileno(), buffer, deadline) == b"front    | f1"  # the front step streams
        (tmp_path / "go").touch()
        out = (bytes(buffer) + proc.stdout.read()).decode()
        assert proc.wait(timeout=20) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    lines = ["::group::front", "front    | f1", *out.splitlines()]
    groups = _groups(lines)
    assert groups == {
        "front": ["front    | f1", "front    | f2"],
        "quick": ["quick    | q1", "quick    | q2"],
        "bad": ["bad      | b1", "bad      | 50% done"],
        "t[V=x:y]": ["t[V=x:y] | value x:y"],
    }
    assert lines[lines.index("::endgroup::") + 1].startswith("front    | -- success")
    assert "::error title=bad failed::b1%0A50%25 done" in lines
    assert "::error title=t[V=x%3Ay] failed::value x:y" in lines
    assert lines.index("::error title=bad failed::b1%0A50%25 done") < lines.index("--- bad: failed (exit code 4)")


def test_github_quiet_has_no_groups(tmp_path: Path) -> None:
    write(tmp_path, """
        steps:
          ok: {run: "echo fine"}
          bad: {run: "echo broken; exit 1"}
    """)
    proc = cli(tmp_path, "up", "-q", "--output", "github")
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1
    assert not any(line.startswith(("::group::", "ok  |")) for line in lines), lines
    assert "::error title=bad failed::broken" in lines and "    broken" in lines


def test_workflow_command_escaping_and_line_cleaning() -> None:
    from flowrun.report.github import escape_data, escape_property
    from flowrun.report.live import clean_line

    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("t[a:b,c] failed\n") == "t[a%3Ab%2Cc] failed%0A"
    assert clean_line("10%\r50%\r100%\r") == "100%"
    assert clean_line("\x1b[2J\x1b[Hhi \x1b[1;31mred\x1b[0m\x07\x1b]0;title\x07!") == "hi \x1b[1;31mred\x1b[0m!\x1b[0m"
    assert clean_line("\x1b[31mred", keep_colour=False) == "red"
