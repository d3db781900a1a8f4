"""A small event loop on ``selectors``: what ``flowrun.run`` drives a run with, without importing asyncio.

The engine is callback-driven: it needs ``call_soon``, ``call_later``, readers and writers,
signal handlers, futures, and one task (the run's coroutine, which awaits a future or two).
Importing asyncio costs more than the rest of a one-step ``flowrun up`` (socket, subprocess,
concurrent.futures, logging, inspect...), so ``run`` uses this loop, and asyncio only when a
service's tcp/http probe needs its streams. The engine finds its loop with ``running_loop()``
and uses only what both have: ``arun`` in an asyncio program runs on that program's loop.

Semantics follow asyncio's where the engine can tell: callbacks run in the order scheduled,
a timer in the first iteration after its time, an exception in a callback is reported and the
loop goes on, a signal's handler runs as a callback (the C handler writes to a wakeup pipe), and
an interrupt (KeyboardInterrupt) cancels the run's task so its ``finally`` blocks run first.
"""

from __future__ import annotations

import heapq
import os
import selectors
import signal
import sys
import time
from _thread import get_ident
from collections import deque
from collections.abc import Callable, Coroutine, Generator

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Cancelled", "Future", "Handle", "SelectorLoop", "Task", "run", "running_loop"]

#: thread id → the SelectorLoop running in that thread (as asyncio's loops, one per thread)
_running: dict[int, SelectorLoop] = {}


def running_loop() -> Any:
    """The loop running in this thread: this module's, else asyncio's (RuntimeError if none)."""
    loop = _running.get(get_ident())
    if loop is not None:
        return loop
    if "asyncio" not in sys.modules:
        raise RuntimeError("no running event loop")
    import asyncio

    return asyncio.get_running_loop()


class Cancelled(BaseException):
    """A task was cancelled (a BaseException, as asyncio's CancelledError)."""


class Handle:
    """A scheduled callback (``call_soon``) or timer (``call_later``); ``cancel()`` stops it."""

    __slots__ = ("_args", "_callback", "_cancelled", "_loop", "_when")

    def __init__(self, callback: Callable[..., object], args: tuple[Any, ...], loop: SelectorLoop,
                 when: float = 0.0) -> None:
        self._callback, self._args, self._loop, self._when = callback, args, loop, when
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True
        self._callback, self._args = None, ()  # type: ignore[assignment]

    def __lt__(self, other: Handle) -> bool:
        return self._when < other._when

    def _run(self) -> None:
        try:
            self._callback(*self._args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler(
                {"message": f"Exception in callback {self._callback!r}", "exception": exc})


_PENDING, _DONE, _CANCELLED = 0, 1, 2
_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class Future:
    """A result to come, set once; ``await`` it from a ``Task``."""

    __slots__ = ("_callbacks", "_exception", "_loop", "_result", "_state")

    def __init__(self, loop: SelectorLoop) -> None:
        self._loop = loop
        self._state = _PENDING
        self._result: Any = None
        self._exception: BaseException | None = None
        self._callbacks: list[Callable[[Future], object]] = []

    def done(self) -> bool:
        return self._state != _PENDING

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def result(self) -> Any:
        if self._state == _CANCELLED:
            raise Cancelled
        if self._state == _PENDING:
            raise RuntimeError("result is not set yet")
        if self._exception is not None:
            raise self._exception
        return self._result

    def exception(self) -> BaseException | None:
        if self._state != _DONE:
            self.result()  # raises: Cancelled, or RuntimeError while pending
        return self._exception

    def set_result(self, result: Any) -> None:
        if self._state != _PENDING:
            raise RuntimeError("result already set")
        self._result, self._state = result, _DONE
        self._schedule_callbacks()

    def set_exception(self, exc: BaseException) -> None:
        if self._state != _PENDING:
            raise RuntimeError("result already set")
        self._exception, self._state = exc, _DONE
        self._schedule_callbacks()

    def cancel(self) -> bool:
        if self._state != _PENDING:
            return False
        self._state = _CANCELLED
        self._schedule_callbacks()
        return True

    def add_done_callback(self, fn: Callable[[Future], object]) -> None:
        if self._state != _PENDING:
            self._loop.call_soon(fn, self)
        else:
            self._callbacks.append(fn)

    def _schedule_callbacks(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            self._loop.call_soon(fn, self)

    def __await__(self) -> Generator[Future, None, Any]:
        if self._state == _PENDING:
            yield self  # the task resumes once this is done
        return self.result()


class Task(Future):
    """Drives a coroutine that awaits ``Future``s of the same loop."""

    __slots__ = ("_coro", "_must_cancel", "_waiting")

    def __init__(self, coro: Coroutine[Any, Any, Any], loop: SelectorLoop) -> None:
        super().__init__(loop)
        self._coro = coro
        self._must_cancel = False
        self._waiting: Future | None = None
        loop.call_soon(self._step, None)

    def cancel(self) -> bool:
        if self.done():
            return False
        self._must_cancel = True
        if self._waiting is not None:
            self._waiting.cancel()  # its done callback, _wakeup, throws Cancelled in
        return True

    def _step(self, exc: BaseException | None) -> None:
        if self.done():
            return
        if self._must_cancel and not isinstance(exc, Cancelled):
            exc = Cancelled()
        self._must_cancel = False
        self._waiting = None
        try:
            waited = self._coro.send(None) if exc is None else self._coro.throw(exc)
        except StopIteration as stop:
            self.set_result(stop.value)
        except Cancelled:
            Future.cancel(self)
        except (SystemExit, KeyboardInterrupt) as error:
            self.set_exception(error)
            raise
        except BaseException as error:
            self.set_exception(error)
        else:
            if not isinstance(waited, Future) or waited._loop is not self._loop:
                self._loop.call_soon(self._step, RuntimeError(f"a flowrun loop task cannot await {waited!r}"))
                return
            self._waiting = waited
            waited.add_done_callback(self._wakeup)

    def _wakeup(self, future: Future) -> None:
        self._step(Cancelled() if future.cancelled() else None)


class SelectorLoop:
    """The subset of asyncio's event loop the engine uses."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._ready: deque[Handle] = deque()
        self._timers: list[Handle] = []
        self._readers: dict[int, Handle] = {}
        self._writers: dict[int, Handle] = {}
        self._signals: dict[int, Handle] = {}
        self._wakeup = (-1, -1)

    # -- time and callbacks ---------------------------------------------------
    def time(self) -> float:
        return time.monotonic()

    def call_soon(self, callback: Callable[..., object], *args: Any) -> Handle:
        handle = Handle(callback, args, self)
        self._ready.append(handle)
        return handle

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Handle:
        handle = Handle(callback, args, self, time.monotonic() + delay)
        heapq.heappush(self._timers, handle)
        return handle

    def create_future(self) -> Future:
        return Future(self)

    def create_task(self, coro: Coroutine[Any, Any, Any]) -> Task:
        return Task(coro, self)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        """As asyncio's default handler: the message and the traceback on stderr."""
        import traceback

        exc = context.get("exception")
        text = context.get("message", "Unhandled exception in event loop") + "\n"
        if exc is not None:
            text += "".join(traceback.format_exception(exc))
        try:
            sys.stderr.write(text)
        except (OSError, ValueError, AttributeError):
            pass

    # -- file descriptors ---------------------------------------------------------
    def _watch(self, fd: int, table: dict[int, Handle], callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        old = table.get(fd)
        if old is not None:
            old.cancel()
        table[fd] = Handle(callback, args, self)
        events = self._events(fd)
        try:
            self._selector.modify(fd, events)
        except KeyError:
            self._selector.register(fd, events)
        except OSError:  # an fd closed while watched, and its number given to a new one
            self._selector.unregister(fd)
            self._selector.register(fd, events)

    def _unwatch(self, fd: int, table: dict[int, Handle]) -> bool:
        handle = table.pop(fd, None)
        if handle is None:
            return False
        handle.cancel()  # already among this iteration's ready callbacks: it does not run
        events = self._events(fd)
        try:
            self._selector.modify(fd, events) if events else self._selector.unregister(fd)
        except (KeyError, ValueError, OSError):
            pass  # closed already: epoll dropped it
        return True

    def _events(self, fd: int) -> int:
        return (_READ if fd in self._readers else 0) | (_WRITE if fd in self._writers else 0)

    def add_reader(self, fd: int, callback: Callable[..., object], *args: Any) -> None:
        self._watch(fd, self._readers, callback, args)

    def remove_reader(self, fd: int) -> bool:
        return self._unwatch(fd, self._readers)

    def add_writer(self, fd: int, callback: Callable[..., object], *args: Any) -> None:
        self._watch(fd, self._writers, callback, args)

    def remove_writer(self, fd: int) -> bool:
        return self._unwatch(fd, self._writers)

    # -- signals -----------------------------------------------------------------
    def add_signal_handler(self, sig: int, callback: Callable[..., object], *args: Any) -> None:
        """As asyncio's: the handler runs as a callback; ValueError outside the main thread."""
        if self._wakeup[0] < 0:
            r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                signal.set_wakeup_fd(w)
            except ValueError:
                os.close(r)
                os.close(w)
                raise
            self._wakeup = (r, w)
            self.add_reader(r, self._read_signals)
        self._signals[sig] = Handle(callback, args, self)
        signal.signal(sig, _noop)
        signal.siginterrupt(sig, False)

    def remove_signal_handler(self, sig: int) -> bool:
        if self._signals.pop(sig, None) is None:
            return False
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
        if not self._signals:
            self._close_wakeup()
        return True

    def _read_signals(self) -> None:
        try:
            data = os.read(self._wakeup[0], 4096)
        except (BlockingIOError, InterruptedError):
            return
        for signum in data:
            handle = self._signals.get(signum)
            if handle is not None:
                self._ready.append(Handle(handle._callback, handle._args, self))

    def _close_wakeup(self) -> None:
        r, w = self._wakeup
        if r >= 0:
            signal.set_wakeup_fd(-1)
            self.remove_reader(r)
            os.close(r)
            os.close(w)
            self._wakeup = (-1, -1)

    # -- running -------------------------------------------------------------------
    def _run_once(self) -> None:
        timers, ready = self._timers, self._ready
        while timers and timers[0]._cancelled:
            heapq.heappop(timers)
        if ready:
            timeout: float | None = 0
        elif timers:
            timeout = max(0.0, timers[0]._when - time.monotonic())
        else:
            timeout = None
        for key, events in self._selector.select(timeout):
            fd = key.fd
            if events & _READ and fd in self._readers:
                ready.append(self._readers[fd])
            if events & _WRITE and fd in self._writers:
                ready.append(self._writers[fd])
        end = time.monotonic() + 1e-9
        while timers and timers[0]._when <= end:
            handle = heapq.heappop(timers)
            if not handle._cancelled:
                ready.append(handle)
        for _ in range(len(ready)):  # only what is ready now; what these schedule runs next time
            handle = ready.popleft()
            if not handle._cancelled:
                handle._run()

    def run_until_complete(self, coro: Coroutine[Any, Any, Any]) -> Any:
        thread = get_ident()
        if thread in _running:
            raise RuntimeError("a flowrun loop is already running in this thread")
        _running[thread] = self
        task = Task(coro, self)
        interrupt: BaseException | None = None
        try:
            while not task.done():
                try:
                    self._run_once()
                except KeyboardInterrupt as exc:  # as asyncio.run: the run's finally blocks first
                    if interrupt is not None or not task.cancel():
                        raise
                    interrupt = exc
        finally:
            del _running[thread]
        if interrupt is not None:
            raise interrupt
        return task.result()

    def close(self) -> None:
        for sig in list(self._signals):
            self.remove_signal_handler(sig)
        self._close_wakeup()
        self._selector.close()


def _noop(signum: int, frame: object) -> None:
    """The Python-level handler: the C handler has written the signal to the wakeup pipe."""


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to its end on a new ``SelectorLoop`` (as ``asyncio.run`` does on an asyncio loop)."""
    loop = SelectorLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
