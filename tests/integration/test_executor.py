"""The local executors with real processes: capture, pipes, fan-out, redirects, timeouts, cancel.

Every test drives the executor of its process path (``LocalExecutor`` on
``[linux]``, ``PortableExecutor`` on ``[portable]``: conftest.py) inside
``asyncio.run`` and waits for events (a ``ready`` line, a pidfile, a pidfd)
with deadlines, never for a fixed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from flowrun.errors import ExecutorError
from flowrun.process.choose import PROCESS_VAR
from flowrun.process.executor import (
    MERGE_INTO_STDOUT,
    FileSink,
    FileSource,
    LaunchSpec,
    MemberOutcome,
    PipelineHandle,
    PipelineSpec,
    StepSource,
    TextSource,
)
from flowrun.process.local import LocalExecutor
from flowrun.process.members import MemberExecutor
from flowrun.process.portable import PortableExecutor

SLEEPIT = (sys.executable, "-S", str(Path(__file__).resolve().parent.parent / "helpers" / "sleepit.py"))
STEP_TAG = "FLOWRUN_STEP_TAG"
MiB = 1 << 20


def make_executor(**kw: Any) -> MemberExecutor:
    """The executor of the test's process path."""
    return (LocalExecutor if os.environ[PROCESS_VAR] == "linux" else PortableExecutor)(**kw)


def step(name: str, *argv: str, cwd: str | os.PathLike[str] | None = None, **kw: Any) -> LaunchSpec:
    """A member whose env is the test's (so it carries the leftover-check tag)."""
    tag = (STEP_TAG, f"{uuid.uuid4().hex}-{name}")
    env = {**os.environ, STEP_TAG: tag[1]}
    return LaunchSpec(name=name, argv=argv, env=env, cwd=str(cwd or os.getcwd()), tag=tag, **kw)


class Sink:
    """Collects output per step; resolves waiters on text and on the pipeline's end."""

    def __init__(self) -> None:
        self.output: dict[str, bytearray] = defaultdict(bytearray)
        self.outcomes: dict[str, MemberOutcome] | None = None
        self.exits = 0
        self._changed = asyncio.Event()

    def on_output(self, step: str, data: bytes) -> None:
        self.output[step] += data
        self._changed.set()

    def on_exit(self, outcomes: tuple[MemberOutcome, ...]) -> None:
        self.exits += 1
        self.outcomes = {o.name: o for o in outcomes}
        self._changed.set()

    async def until(self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "event") -> None:
        async def loop() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}; output so far: {dict(self.output)}") from None

    async def text(self, name: str, needle: bytes, timeout: float = 10.0) -> None:
        await self.until(lambda: needle in self.output[name], timeout, f"{needle!r} from {name}")

    async def done(self, timeout: float = 20.0) -> dict[str, MemberOutcome]:
        await self.until(lambda: self.outcomes is not None, timeout, "the pipeline's end")
        assert self.outcomes is not None and self.exits == 1
        return self.outcomes


@contextlib.asynccontextmanager
async def executor(**kw: Any) -> AsyncIterator[MemberExecutor]:
    ex = make_executor(**kw)
    try:
        yield ex
    finally:
        await ex.aclose()


def launch(ex: MemberExecutor, *members: LaunchSpec) -> tuple[Sink, PipelineHandle]:
    sink = Sink()
    return sink, ex.launch(PipelineSpec(members), sink)


async def run(*members: LaunchSpec, **kw: Any) -> tuple[dict[str, MemberOutcome], Sink]:
    async with executor(**kw) as ex:
        sink, _ = launch(ex, *members)
        outcomes = await sink.done()
    return outcomes, sink


def in_loop(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))  # type: ignore[arg-type]

    return wrapper


async def pidfile(path: Path, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"no pidfile {path}"
        await asyncio.sleep(0.01)
    return int(path.read_text())


async def exited(pidfd: int, timeout: float) -> bool:
    """True once the process behind ``pidfd`` has exited (zombie or gone)."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    loop.add_reader(pidfd, lambda: fut.done() or fut.set_result(True))
    try:
        return await asyncio.wait_for(fut, timeout)
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(pidfd)


def has_exited(pidfd: int) -> bool:
    return bool(select.select([pidfd], [], [], 0)[0])


def pattern(size: int) -> bytes:
    """Deterministic bytes: every value 0-255 (so invalid UTF-8 too), no structure."""
    seed = hashlib.sha256(b"flowrun").digest()
    block = b"".join(hashlib.sha256(seed + bytes([i])).digest() for i in range(256)) * 16
    return (block * (size // len(block) + 1))[:size]


@pytest.fixture(params=[True, False], ids=["posix_spawn", "popen"])
def spawn_kind(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


# --- capture ------------------------------------------------------------------


@in_loop
async def test_stdout_and_stderr_share_one_pipe_in_order(spawn_kind: bool) -> None:
    out, sink = await run(step("a", "sh", "-c", "echo out; echo err >&2; echo out2; exit 3"), libc_spawn=spawn_kind)
    assert bytes(sink.output["a"]) == b"out\nerr\nout2\n"
    assert (out["a"].exit_code, out["a"].signal, out["a"].error) == (3, None, None)
    assert 0 < out["a"].started <= out["a"].ended <= time.time()


@in_loop
async def test_killed_by_signal_reports_the_signal() -> None:
    out, _ = await run(step("a", "sh", "-c", "kill -USR1 $$"))
    assert (out["a"].exit_code, out["a"].signal) == (None, signal.SIGUSR1)


@in_loop
async def test_long_line_and_invalid_utf8_pass_intact(tmp_path: Path) -> None:
    data = b"\xff\xfe\x80" + pattern(10_000_000).replace(b"\n", b"x") + b"\xc3"
    (tmp_path / "blob").write_bytes(data)
    _, sink = await run(step("cat", "cat", "blob", cwd=tmp_path))
    assert bytes(sink.output["cat"]) == data


@in_loop
async def test_big_stdout_and_stderr_at_once_do_not_deadlock(tmp_path: Path) -> None:
    script = "import os\nfor _ in range(256):\n    os.write(1, b'o' * 32768); os.write(2, b'e' * 32768)\n"
    out, sink = await run(step("py", sys.executable, "-c", script))
    assert out["py"].exit_code == 0
    assert sorted(bytes(sink.output["py"]).count(c) for c in b"oe") == [8 * MiB, 8 * MiB]
    out, sink = await run(step("py", sys.executable, "-c", script, stdout=FileSink(str(tmp_path / "o"))))
    assert (tmp_path / "o").read_bytes() == b"o" * 8 * MiB and bytes(sink.output["py"]) == b"e" * 8 * MiB


# --- stdin --------------------------------------------------------------------


@in_loop
async def test_stdin_none_file_text_and_big_text(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_bytes(b"from file\n")
    big = "".join(f"line {i}\n" for i in range(300_000))  # > 1 MiB: fed by add_writer
    assert len(big) > 2 * MiB
    out, sink = await run(
        step("none", "cat"),
        step("file", "cat", stdin=FileSource(str(tmp_path / "in.txt"))),
        step("text", "cat", stdin=TextSource("héllo\n")),
        step("big", "sha256sum", stdin=TextSource(big)),
        step("unread", "true", stdin=TextSource(big)),  # never reads it: the feeder stops
    )
    assert all(o.exit_code == 0 for o in out.values())
    assert "none" not in sink.output
    assert bytes(sink.output["file"]) == b"from file\n"
    assert bytes(sink.output["text"]) == "héllo\n".encode()
    assert bytes(sink.output["big"]).split()[0].decode() == hashlib.sha256(big.encode()).hexdigest()


@in_loop
async def test_missing_stdin_file_fails_the_member(tmp_path: Path) -> None:
    out, sink = await run(step("cat", "cat", stdin=FileSource(str(tmp_path / "missing"))))
    assert out["cat"].exit_code == 1 and out["cat"].error is not None
    assert "missing" in out["cat"].error and "No such file" in out["cat"].error
    assert bytes(sink.output["cat"]) == out["cat"].error.encode() + b"\n"


# --- redirects ----------------------------------------------------------------


@in_loop
async def test_stdout_file_truncate_then_append(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "out.txt"
    await run(step("a", "echo", "one", stdout=FileSink(str(target))))
    await run(step("a", "echo", "two", stdout=FileSink(str(target))))
    assert target.read_text() == "two\n"
    _, sink = await run(step("a", "echo", "three", stdout=FileSink(str(target), append=True)))
    assert target.read_text() == "two\nthree\n" and "a" not in sink.output


@in_loop
async def test_stderr_merges_into_stdout_file_and_into_a_separate_file(tmp_path: Path) -> None:
    script = "echo a; echo b >&2; echo c"
    out_file, err_file = tmp_path / "out", tmp_path / "err"
    _, sink = await run(step("m", "sh", "-c", script, stdout=FileSink(str(out_file)), stderr=MERGE_INTO_STDOUT))
    assert out_file.read_text() == "a\nb\nc\n" and "m" not in sink.output
    _, sink = await run(step("s", "sh", "-c", script, stderr=FileSink(str(err_file))))
    assert bytes(sink.output["s"]) == b"a\nc\n" and err_file.read_text() == "b\n"


# --- pipes --------------------------------------------------------------------


@in_loop
async def test_chain_of_three_keeps_every_byte(tmp_path: Path) -> None:
    data = pattern(20 * MiB)
    (tmp_path / "blob").write_bytes(data)
    out, sink = await run(
        step("sum", "sha256sum", stdin=StepSource("mid")),
        step("src", "cat", "blob", cwd=tmp_path),
        step("mid", "cat", stdin=StepSource("src")),
    )
    assert [out[n].exit_code for n in ("src", "mid", "sum")] == [0, 0, 0]
    assert out["sum"].started <= out["mid"].started <= out["src"].started  # consumers first
    assert bytes(sink.output["sum"]).split()[0].decode() == hashlib.sha256(data).hexdigest()
    assert set(sink.output) == {"sum"}


@in_loop
async def test_fan_out_gives_every_consumer_every_byte(tmp_path: Path) -> None:
    data = pattern(50 * MiB)
    (tmp_path / "blob").write_bytes(data)
    out, sink = await run(
        step("src", "cat", "blob", cwd=tmp_path),
        step("a", "sha256sum", stdin=StepSource("src")),
        step("b", "sha256sum", stdin=StepSource("src")),
        step("first", "head", "-c", "10", stdin=StepSource("src")),  # leaves early: dropped
    )
    expected = hashlib.sha256(data).hexdigest()
    assert all(o.exit_code == 0 for o in out.values()), out
    assert bytes(sink.output["a"]).split()[0].decode() == expected
    assert bytes(sink.output["b"]).split()[0].decode() == expected
    assert bytes(sink.output["first"]) == data[:10]


@in_loop
async def test_producer_dies_of_sigpipe_when_its_consumers_are_done() -> None:
    out, sink = await run(step("yes", "yes"), step("head", "head", "-n", "1", stdin=StepSource("yes")))
    assert out["yes"].signal == signal.SIGPIPE and out["head"].exit_code == 0
    assert bytes(sink.output["head"]) == b"y\n"
    out, sink = await run(
        step("yes", "yes"),
        step("h1", "head", "-n", "1", stdin=StepSource("yes")),
        step("h2", "head", "-n", "2", stdin=StepSource("yes")),
    )
    assert out["yes"].signal == signal.SIGPIPE
    assert (bytes(sink.output["h1"]), bytes(sink.output["h2"])) == (b"y\n", b"y\ny\n")


# --- spawn errors ---------------------------------------------------------------


@in_loop
async def test_command_not_found_lets_the_rest_of_the_pipeline_run(spawn_kind: bool) -> None:
    async with executor(libc_spawn=spawn_kind) as ex:
        sink, _ = launch(
            ex, step("gen", "no-such-command-xyz"), step("cat", "sh", "-c", "cat; echo eof", stdin=StepSource("gen"))
        )
        assert sink.outcomes is None and not sink.output  # nothing is reported from inside launch()
        out = await sink.done()
    assert out["gen"].error == "command not found: no-such-command-xyz" and out["gen"].exit_code == 127
    assert bytes(sink.output["gen"]) == b"command not found: no-such-command-xyz\n"
    assert out["cat"].exit_code == 0 and bytes(sink.output["cat"]) == b"eof\n"


@in_loop
async def test_consumer_not_found_gives_its_producer_sigpipe(spawn_kind: bool) -> None:
    out, _ = await run(step("yes", "yes"), step("c", "/no/such/bin", stdin=StepSource("yes")), libc_spawn=spawn_kind)
    assert out["c"].exit_code == 127 and out["yes"].signal == signal.SIGPIPE


@in_loop
async def test_missing_workdir_and_not_executable(tmp_path: Path, spawn_kind: bool) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    out, sink = await run(
        step("nowhere", "true", cwd=tmp_path / "nope"),
        step("noexec", "./script.sh", cwd=tmp_path),
        libc_spawn=spawn_kind,
    )
    assert out["nowhere"].error == f"workdir does not exist: {tmp_path / 'nope'}"
    assert out["nowhere"].exit_code == 1
    assert out["noexec"].error == "permission denied: ./script.sh" and out["noexec"].exit_code == 126
    script.chmod(0o755)
    out, sink = await run(step("ok", "./script.sh", cwd=tmp_path), libc_spawn=spawn_kind)
    assert out["ok"].exit_code == 0 and bytes(sink.output["ok"]) == b"hi\n"


@in_loop
async def test_program_is_searched_in_the_steps_own_path(tmp_path: Path, spawn_kind: bool) -> None:
    (tmp_path / "bin").mkdir()
    tool = tmp_path / "bin" / "my-tool"
    tool.write_text("#!/bin/sh\necho tool in $PWD\n")
    tool.chmod(0o755)
    (tmp_path / "bin" / "not-runnable").write_text("#!/bin/sh\n")
    members = [step("t", "my-tool", cwd=tmp_path), step("n", "not-runnable", cwd=tmp_path)]
    for member in members:
        member.env["PATH"] = f"bin:{os.environ['PATH']}"  # relative entry: from the step's cwd
    out, sink = await run(*members, libc_spawn=spawn_kind)
    assert out["t"].exit_code == 0 and bytes(sink.output["t"]) == f"tool in {tmp_path}\n".encode()
    assert out["n"].exit_code == 126 and out["n"].error == "permission denied: not-runnable"


# --- timeouts, leftovers, cancel ------------------------------------------------


@in_loop
async def test_timeout_kills_the_group_and_aclose_the_escaped_grandchild(tmp_path: Path) -> None:
    bg, sid = tmp_path / "bg.pid", tmp_path / "sid.pid"
    script = (
        f"{' '.join(SLEEPIT)} default --sleep 60 --grandchild bg --pidfile {bg} & "
        f"{' '.join(SLEEPIT)} default --sleep 60 --grandchild setsid --pidfile {sid}; wait"
    )
    ex = make_executor()
    try:
        sink, _ = launch(ex, step("tree", "sh", "-c", script, timeout=3.0, kill_grace=30.0))
        bg_pid, sid_pid = await pidfile(bg), await pidfile(sid)
        bg_fd, sid_fd = os.pidfd_open(bg_pid), os.pidfd_open(sid_pid)
        out = (await sink.done())["tree"]
        assert out.timed_out and out.signal == signal.SIGTERM and not out.cancelled
        assert out.ended - out.started < 3.0 + 0.5  # honoured SIGTERM: ends at once
        assert await exited(bg_fd, 5.0), "the background grandchild survived its group's SIGTERM"
        assert not has_exited(sid_fd), "the setsid grandchild should live until aclose()"
    finally:
        await ex.aclose()
    assert has_exited(sid_fd), "aclose() left the setsid grandchild alive"
    if os.environ[PROCESS_VAR] == "linux":
        # both were orphaned and re-parented to us (subreaper): reaped, not zombies
        assert not Path(f"/proc/{bg_pid}").exists() and not Path(f"/proc/{sid_pid}").exists()
    # portable: no subreaper, so they were re-parented to init, which reaps them
    os.close(bg_fd)
    os.close(sid_fd)


@in_loop
async def test_sigterm_ignoring_step_is_killed_after_the_grace() -> None:
    async with executor() as ex:
        sink, _ = launch(ex, step("stub", *SLEEPIT, "ignore-term", "--sleep", "60", timeout=1.0, kill_grace=0.3))
        await sink.text("stub", b"ready")
        out = (await sink.done())["stub"]
    assert out.timed_out and out.signal == signal.SIGKILL
    assert 1.3 <= out.ended - out.started < 5.0


@in_loop
async def test_stopped_step_still_dies_on_timeout() -> None:
    out, _ = await run(step("stopped", "sh", "-c", "kill -STOP $$; echo never", timeout=0.3, kill_grace=30.0))
    assert out["stopped"].timed_out and out["stopped"].signal == signal.SIGTERM
    assert out["stopped"].ended - out["stopped"].started < 5.0  # SIGCONT, not the 30 s grace


@in_loop
async def test_step_ends_when_its_process_exits_though_a_child_holds_stdout() -> None:
    async with executor() as ex:
        sink, _ = launch(ex, step("bg", "sh", "-c", "(sleep 0.2; echo late) & sleep 60 & echo main"))
        out = (await sink.done(timeout=5.0))["bg"]
        assert out.exit_code == 0 and bytes(sink.output["bg"]) == b"main\n"
        assert out.ended - out.started < 5.0
        await sink.text("bg", b"late")  # leftovers' output still arrives after the end
    # aclose() killed `sleep 60`; the autouse fixture checks nothing is left


@in_loop
async def test_cancel_is_graceful_then_force_skips_the_grace() -> None:
    async with executor() as ex:
        sink, handle = launch(ex, step("h", *SLEEPIT, "handle", "--sleep", "60"))
        await sink.text("h", b"ready")
        handle.cancel()
        out = (await sink.done())["h"]
        assert out.cancelled and not out.timed_out and out.exit_code == 0
        assert b"got signal 15" in sink.output["h"] and b"cleanup done" in sink.output["h"]

        sink, handle = launch(ex, step("i", *SLEEPIT, "ignore-term", "--sleep", "60", kill_grace=60.0))
        await sink.text("i", b"ready")
        handle.cancel()
        await asyncio.sleep(0)  # let SIGTERM land (ignored)
        assert sink.outcomes is None
        start = time.monotonic()
        handle.cancel(force=True)
        out = (await sink.done())["i"]
        assert out.cancelled and out.signal == signal.SIGKILL and time.monotonic() - start < 5.0
        handle.cancel(force=True)  # after the end: nothing happens


@in_loop
async def test_aclose_kills_what_is_still_running_and_reports_it() -> None:
    ex = make_executor()
    sink, _ = launch(ex, step("long", *SLEEPIT, "default", "--sleep", "60"))
    await sink.text("long", b"ready")
    await ex.aclose()
    assert sink.outcomes is not None and sink.exits == 1
    assert sink.outcomes["long"].cancelled and sink.outcomes["long"].signal == signal.SIGKILL
    with pytest.raises(ExecutorError, match="after aclose"):
        ex.launch(PipelineSpec((step("x", "true"),)), Sink())


@in_loop
async def test_many_quick_steps_two_at_a_time_are_all_reported() -> None:
    total, jobs = 200, 2
    outcomes: list[MemberOutcome] = []
    async with executor() as ex:
        done = asyncio.get_running_loop().create_future()
        spec = PipelineSpec((step("t", "true"),))

        class Chain:
            def on_output(self, step: str, data: bytes) -> None:
                raise AssertionError(data)

            def on_exit(self, result: tuple[MemberOutcome, ...]) -> None:
                outcomes.extend(result)
                if len(outcomes) + jobs <= total:
                    ex.launch(spec, Chain())  # launching from on_exit, as the engine does
                elif len(outcomes) == total:
                    done.set_result(None)

        for _ in range(jobs):
            ex.launch(spec, Chain())
        await asyncio.wait_for(done, 30)
    assert len(outcomes) == total and all(o.exit_code == 0 for o in outcomes)


@in_loop
async def test_process_groups_instead_of_sessions() -> None:
    async with executor(new_session=False) as ex:
        sink, handle = launch(ex, step("g", "sh", "-c", "echo $$; exec sleep 60"))
        await sink.text("g", b"\n")
        pid = int(sink.output["g"])
        pgid, sid = os.getpgid(pid), os.getsid(pid)
        assert pgid == pid and sid == os.getsid(0)  # its own group, inside our session
        handle.cancel()
        out = (await sink.done())["g"]
    assert out.cancelled and out.signal == signal.SIGTERM


@in_loop
async def test_the_tag_is_added_when_the_env_lacks_it() -> None:
    member = step("t", "sh", "-c", f"echo ${STEP_TAG}")
    assert member.tag is not None
    member.env.pop(STEP_TAG)
    _, sink = await run(member)
    assert bytes(sink.output["t"]).decode().strip() == member.tag[1]


def test_works_when_stdin_stdout_and_stderr_are_closed(tmp_path: Path) -> None:
    """CI may start flowrun with no fds 0-2: pipes then get low numbers that dup2 must not clobber."""
    result = tmp_path / "result"
    code = f"""
import asyncio, os, sys
from flowrun.process.executor import LaunchSpec, PipelineSpec, TextSource
from flowrun.process.local import LocalExecutor
from flowrun.process.portable import PortableExecutor
kind = LocalExecutor if os.environ["FLOWRUN_PROCESS"] == "linux" else PortableExecutor
async def main(libc):
    ex, out, done = kind(libc_spawn=libc), bytearray(), asyncio.Event()
    class Sink:
        def on_output(self, step, data): out.extend(data)
        def on_exit(self, outcomes): done.set()
    member = LaunchSpec("a", ("sh", "-c", "cat; echo err >&2"), dict(os.environ), "/", stdin=TextSource("in\\n"))
    ex.launch(PipelineSpec((member,)), Sink())
    await done.wait()
    await ex.aclose()
    return bytes(out)
with open({str(result)!r}, "w") as f:
    f.write(repr([asyncio.run(main(True)), asyncio.run(main(False))]))
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    argv = ["sh", "-c", 'exec 0<&- 1>&- 2>&-; exec "$0" -c "$1"', sys.executable, code]
    subprocess.run(argv, check=True, timeout=60, env=env)
    assert result.read_text() == repr([b"in\nerr\n", b"in\nerr\n"])


@pytest.mark.one_path("sets FLOWRUN_PROCESS itself")
def test_a_kernel_without_pidfds_falls_back_by_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Linux before 5.3 (or valgrind) has no pidfd_open: detection picks the portable path; forcing
    the Linux one is a plain error, and so is the fast executor built by hand."""
    import errno

    import flowrun
    from flowrun.errors import UsageError
    from flowrun.process.detect import features

    def no_pidfds(pid: int, flags: int = 0) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    (tmp_path / "flowrun.yaml").write_text("steps:\n  a: {run: 'echo $FLOWRUN_STEP > ran'}\n")
    workflow = flowrun.load(tmp_path / "flowrun.yaml")
    monkeypatch.setattr(os, "pidfd_open", no_pidfds)
    features.cache_clear()
    try:
        monkeypatch.delenv(PROCESS_VAR)
        assert flowrun.run(workflow, handle_signals=False).exit_code() == 0
        assert (tmp_path / "ran").read_text() == "a\n"
        monkeypatch.setenv(PROCESS_VAR, "linux")
        with pytest.raises(UsageError, match=r"FLOWRUN_PROCESS=linux: .*pidfd_open fails .*FLOWRUN_PROCESS=portable"):
            flowrun.run(workflow, handle_signals=False)
        with pytest.raises(ExecutorError, match=r"Linux 5\.3"):
            asyncio.run(_launch_one(LocalExecutor()))
    finally:
        features.cache_clear()


async def _launch_one(ex: MemberExecutor) -> None:
    try:
        ex.launch(PipelineSpec((step("x", "true"),)), Sink())
    finally:
        await ex.aclose()


@in_loop
async def test_no_fd_is_left_open_after_aclose(tmp_path: Path) -> None:
    # capture pipes (one made ahead for the next launch), a pipe, a file, a failed spawn
    before = set(os.listdir("/proc/self/fd"))
    async with executor() as ex:
        for members in (
            (step("lone", "sh", "-c", "echo hi"),),
            (step("p", "sh", "-c", "echo data"), step("c", "cat", stdin=StepSource("p"))),
            (step("f", "sh", "-c", "echo to-file", stdout=FileSink(str(tmp_path / "out.txt"))),),
            (step("missing", "no-such-command-flowrun"),),
        ):
            sink, _ = launch(ex, *members)
            await sink.done()
        assert len(os.listdir("/proc/self/fd")) > len(before)  # the spare capture pipe (the epoll set)
    leaked = set(os.listdir("/proc/self/fd")) - before
    assert not leaked, {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in leaked
                        if os.path.exists(f"/proc/self/fd/{fd}")}
