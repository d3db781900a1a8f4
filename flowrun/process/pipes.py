"""OS pipe wiring for a pipeline: chains, fan-out relays, file redirects, stdin text.

One consumer: the producer's stdout *is* the pipe's write end, so data never
passes through flowrun. Several consumers: the producer writes to a pipe that a
relay thread copies to one pipe per consumer (bounded memory, slowest sets the
pace). Every fd made here is close-on-exec; children get theirs through dup2.
"""

from __future__ import annotations

import fcntl
import os

from flowrun.process.executor import (
    MERGE_INTO_STDOUT,
    FileSink,
    FileSource,
    LaunchSpec,
    PipelineSpec,
    StepSource,
    TextSource,
)
from flowrun.process.fanout import PIPE_SIZE, FanoutRelay, make_pipe
from flowrun.process.kill import close_all
from flowrun.records import field, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    import asyncio

__all__ = ["PIPE_SIZE", "CapturePipes", "FanoutRelay", "MemberFds", "TextFeeder", "Wiring", "make_pipe", "wire"]


class CapturePipes:
    """Capture pipes made ahead of need: the one a step gets is ready before its launch.

    ``wire`` takes the spare, and the executor calls ``refill`` once the step is
    spawned, so making a pipe is not among what happens between one step's exit
    and the next one's spawn.
    """

    def __init__(self) -> None:
        self._spare: tuple[int, int] | None = None

    def take(self) -> tuple[int, int]:
        """(read end, non-blocking; write end), both close-on-exec."""
        pair, self._spare = self._spare, None
        if pair is None:
            pair = make_pipe()
            fcntl.fcntl(pair[0], fcntl.F_SETFL, os.O_NONBLOCK)  # a new pipe end has no other status flags to keep
        return pair

    def refill(self) -> None:
        if self._spare is None:
            self._spare = self.take()

    def close(self) -> None:
        pair, self._spare = self._spare, None
        if pair is not None:
            os.close(pair[0])
            os.close(pair[1])


def _open_sink(sink: FileSink) -> int:
    parent = os.path.dirname(sink.path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    mode = os.O_APPEND if sink.append else os.O_TRUNC
    return os.open(sink.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | mode, sink.mode)


@record(slots=True)
class MemberFds:
    """What one member's child gets as fds 0, 1, 2, and what the parent keeps."""

    stdin: int = -1
    stdout: int = -1
    stderr: int = -1
    #: our non-blocking read end of the capture pipe, or -1
    capture: int = -1
    #: parent copies to close right after this member is spawned (or fails to be)
    owned: list[int] = field(default_factory=list)
    error: str | None = None


@record(slots=True)
class Wiring:
    members: list[MemberFds]
    #: member indices, consumers before their producers
    order: list[int]
    relays: list[FanoutRelay]
    #: (write fd, remaining bytes) for stdin texts that did not fit in the pipe
    feeds: list[tuple[int, bytes]]


def _spawn_order(spec: PipelineSpec) -> list[int]:
    if len(spec.members) == 1 and not isinstance(spec.members[0].stdin, StepSource):
        return [0]  # the common case, kept cheap
    index = {m.name: i for i, m in enumerate(spec.members)}
    if len(index) != len(spec.members):
        raise ValueError("pipeline members must have distinct names")
    depth: dict[int, int] = {}
    for start in range(len(spec.members)):
        path: list[int] = []
        i: int | None = start
        while i is not None and i not in depth:
            if i in path:
                raise ValueError("pipeline members feed each other in a cycle")
            path.append(i)
            src = spec.members[i].stdin
            if isinstance(src, StepSource):
                if src.producer not in index:
                    raise ValueError(f"unknown producer {src.producer!r} in pipeline")
                i = index[src.producer]
            else:
                i = None
        base = depth[i] + 1 if i is not None else 0
        for offset, j in enumerate(reversed(path)):
            depth[j] = base + offset
    return sorted(range(len(spec.members)), key=lambda j: -depth[j])


def wire(
    spec: PipelineSpec, devnull: int, captures: CapturePipes | None = None, zero_copy: bool = True
) -> Wiring:
    """Open every pipe and file of a pipeline; failures become ``MemberFds.error``.

    ``zero_copy=False``: fan-out relays copy through their bounded buffer, never tee/splice.
    """
    captures = captures or CapturePipes()
    if len(spec.members) == 1 and not isinstance(spec.members[0].stdin, StepSource):  # a lone step
        lone, feeds = MemberFds(), []
        try:
            _wire_member(spec.members[0], lone, False, devnull, feeds, captures)
        except OSError as exc:
            lone.error = f"{lone.error}: {exc.strerror or exc}"
        return Wiring([lone], [0], [], feeds)
    order = _spawn_order(spec)
    fds = [MemberFds() for _ in spec.members]
    index = {m.name: i for i, m in enumerate(spec.members)}
    relays: list[FanoutRelay] = []
    feeds: list[tuple[int, bytes]] = []
    consumers: dict[int, list[int]] = {}
    for i, m in enumerate(spec.members):
        if isinstance(m.stdin, StepSource):
            consumers.setdefault(index[m.stdin.producer], []).append(i)
    for p, cons in consumers.items():
        made: list[int] = []
        try:
            relay = _wire_pipe(fds[p], [fds[c] for c in cons], made, zero_copy)
        except OSError as exc:  # out of fds: these members fail, the rest can run
            close_all(made)
            for i in (p, *cons):
                fds[i].owned.clear()
                fds[i].error = f"cannot create pipe: {exc.strerror or exc}"
            continue
        if relay is not None:
            relays.append(relay)
    for i, m in enumerate(spec.members):
        if fds[i].error is not None:
            continue
        try:
            _wire_member(m, fds[i], i in consumers, devnull, feeds, captures)
        except OSError as exc:
            fds[i].error = f"{fds[i].error}: {exc.strerror or exc}"
    return Wiring(fds, order, relays, feeds)


def _wire_pipe(
    producer: MemberFds, consumers: list[MemberFds], made: list[int], zero_copy: bool
) -> FanoutRelay | None:
    """One consumer: a plain pipe, kernel-only. Several: a pipe per consumer and a relay."""
    if len(consumers) == 1:
        r, w = make_pipe(PIPE_SIZE)
        made += (r, w)
        producer.stdout, consumers[0].stdin = w, r
        producer.owned.append(w)
        consumers[0].owned.append(r)
        return None
    src, producer.stdout = make_pipe(PIPE_SIZE)
    made += (src, producer.stdout)
    producer.owned.append(producer.stdout)
    outs: list[int] = []
    for c in consumers:
        r, w = make_pipe(PIPE_SIZE)
        made += (r, w)
        c.stdin = r
        c.owned.append(r)
        outs.append(w)
    return FanoutRelay(src, outs, zero_copy)


def _wire_member(
    m: LaunchSpec, f: MemberFds, read: bool, devnull: int, feeds: list[tuple[int, bytes]], captures: CapturePipes
) -> None:
    """Open one member's own redirects; ``f.error`` names the step that raised, if any."""
    if m.stdin is None:
        f.stdin = devnull
    elif isinstance(m.stdin, FileSource):
        f.error = f"cannot open stdin file: {m.stdin.path}"
        f.stdin = os.open(m.stdin.path, os.O_RDONLY | os.O_CLOEXEC)
        f.owned.append(f.stdin)
    elif isinstance(m.stdin, TextSource):
        f.error = "cannot create stdin pipe"
        f.stdin = _text_pipe(m.stdin.text, feeds)
        f.owned.append(f.stdin)
    if not read:  # stdout is ignored when other members read it
        if isinstance(m.stdout, FileSink):
            f.error = f"cannot open stdout file: {m.stdout.path}"
            f.stdout = _open_sink(m.stdout)
            f.owned.append(f.stdout)
        else:
            f.error = "cannot create output pipe"
            f.stdout = _capture_pipe(f, captures)
    if m.stderr == MERGE_INTO_STDOUT:
        f.stderr = f.stdout
    elif not isinstance(m.stderr, FileSink):
        f.error = "cannot create output pipe"
        f.stderr = f.stdout if f.capture >= 0 else _capture_pipe(f, captures)
    elif m.stderr == m.stdout and not read:
        f.stderr = f.stdout  # the same file twice: share one offset, like 2>&1
    else:
        f.error = f"cannot open stderr file: {m.stderr.path}"
        f.stderr = _open_sink(m.stderr)
        f.owned.append(f.stderr)
    f.error = None


def _capture_pipe(f: MemberFds, captures: CapturePipes) -> int:
    """One pipe for stdout and stderr, like a terminal: their order is kept."""
    r, w = captures.take()
    f.capture = r
    f.owned.append(w)
    return w


def _text_pipe(text: str, feeds: list[tuple[int, bytes]]) -> int:
    """A pipe pre-filled with ``text``; what does not fit is fed later by the loop."""
    data = text.encode("utf-8", "surrogateescape")
    r, w = make_pipe(PIPE_SIZE if len(data) > 65536 else None)
    os.set_blocking(w, False)
    try:
        done = os.write(w, data) if data else 0
    except BlockingIOError:
        done = 0
    if done < len(data):
        feeds.append((w, data[done:]))
    else:
        os.close(w)
    return r


class TextFeeder:
    """Writes the rest of a stdin text whenever the pipe has room (``add_writer``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, data: bytes) -> None:
        self._loop, self._fd, self._data = loop, fd, memoryview(data)
        loop.add_writer(fd, self._write)

    def _write(self) -> None:
        try:
            self._data = self._data[os.write(self._fd, self._data) :]
        except BlockingIOError:
            return
        except OSError:  # EPIPE: the reader is gone; it did not want the rest
            self._data = self._data[:0]
        if not self._data:
            self.close()

    def close(self) -> None:
        if self._fd >= 0:
            self._loop.remove_writer(self._fd)
            os.close(self._fd)
            self._fd = -1

    @property
    def done(self) -> bool:
        return self._fd < 0
