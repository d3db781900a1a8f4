"""A producer read by several consumers: a relay thread hands its pipe to each of theirs.

Also ``make_pipe``, the close-on-exec pipe every wiring uses.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import select
from collections.abc import Callable

__all__ = ["PIPE_SIZE", "FanoutRelay", "make_pipe"]

#: Size asked for pipes that carry bulk data (fewer wake-ups than the 64 KiB default).
PIPE_SIZE = 1 << 20
_SPLICE_F_NONBLOCK = 0x02
#: Linux's pipe-resize fcntl; other systems size pipes themselves
_F_SETPIPE_SZ: int | None = getattr(fcntl, "F_SETPIPE_SZ", None)


def _load_tee() -> Callable[[int, int, int, int], int] | None:
    """glibc's ``tee(2)`` (Python has ``os.splice`` but no tee), or None."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        tee = libc.tee
    except (OSError, AttributeError):
        return None
    tee.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint]
    tee.restype = ctypes.c_ssize_t
    return tee if hasattr(os, "splice") else None


_TEE = _load_tee()


def make_pipe(size: int | None = None) -> tuple[int, int]:
    """A close-on-exec pipe, enlarged to ``size`` bytes when the kernel allows it."""
    r, w = os.pipe()
    if size and _F_SETPIPE_SZ is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(w, _F_SETPIPE_SZ, size)
    return r, w


class FanoutRelay:
    """A thread handing a producer's pipe to every consumer's pipe.

    Zero-copy where the kernel allows: ``tee(2)`` duplicates the pipe's pages
    into each consumer's pipe without consuming them, and once every consumer
    holds a span it is dropped from the source by ``splice(2)`` into /dev/null.
    A consumer only gets a new span once it has taken the last (its *lead* is
    spent), so the slowest reader sets the pace and nobody gets a byte twice.
    Where tee/splice are missing (or ``zero_copy`` is False: the portable path),
    bytes are copied through one PIPE_SIZE buffer.

    Non-blocking fds plus poll() on a stop pipe, so ``stop()`` always ends it. A
    consumer that has gone (EPIPE) is dropped; with none left the source is closed
    and the producer gets SIGPIPE.
    """

    def __init__(self, src: int, outs: list[int], zero_copy: bool = True) -> None:
        self._zero_copy = zero_copy and _TEE is not None
        self._stop_r, self._stop_w = os.pipe()
        self._src, self._outs = src, outs
        self._pollers: dict[tuple[int, ...], select.poll] = {}
        import threading  # only a run with a fan-out pays for it

        self._thread = threading.Thread(target=self._run, name="flowrun-fanout", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 1.0) -> None:
        """Wake the thread, wait for it; it closes every fd it holds."""
        if self._stop_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._stop_w, b"x")
            if self._thread.is_alive():
                self._thread.join(timeout)
            os.close(self._stop_w)
            self._stop_w = -1

    def _wait(self, fd: int, event: int) -> bool:
        poller = self._pollers.get((fd, event))
        if poller is None:
            poller = self._pollers[fd, event] = select.poll()
            poller.register(fd, event)
            poller.register(self._stop_r, select.POLLIN)
        return all(ready_fd != self._stop_r for ready_fd, _ in poller.poll())

    def _run(self) -> None:
        src, outs = self._src, self._outs
        try:
            os.set_blocking(src, False)
            for fd in outs:
                os.set_blocking(fd, False)
            if not self._zero_copy or not self._run_tee():
                self._run_copy()
        except OSError:
            return
        finally:
            for fd in (src, *outs, self._stop_r):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _run_tee(self) -> bool:
        """The zero-copy loop; False (nothing sent yet) when this kernel cannot tee these fds."""
        src, outs = self._src, self._outs
        lead = dict.fromkeys(outs, 0)  # bytes a consumer holds beyond what the source dropped
        sink = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        try:
            while lead:
                blocked = None
                for fd in [fd for fd, ahead in lead.items() if ahead == 0]:
                    n = _TEE(src, fd, PIPE_SIZE, _SPLICE_F_NONBLOCK)
                    if n > 0:
                        lead[fd] = n
                        continue
                    err = ctypes.get_errno() if n < 0 else 0
                    if n == 0:
                        return True  # end of input: every consumer has it all
                    if err in (errno.ENOSYS, errno.EINVAL) and not any(lead.values()):
                        return False
                    if err == errno.EPIPE:
                        del lead[fd]
                        outs.remove(fd)
                        os.close(fd)
                    elif err == errno.EAGAIN:
                        blocked = fd
                    else:
                        raise OSError(err, os.strerror(err))
                if not lead:
                    return True
                spent = min(lead.values())
                if spent:
                    while spent:
                        moved = os.splice(src, sink, spent)
                        spent -= moved
                        for fd in lead:
                            lead[fd] -= moved
                    continue
                if blocked is None:
                    continue
                # the source is empty, or a consumer is full: wait for whichever it is
                readable = select.select([src], [], [], 0)[0]
                if not (self._wait(blocked, select.POLLOUT) if readable else self._wait(src, select.POLLIN)):
                    raise OSError("stopped")
            return True
        finally:
            os.close(sink)

    def _run_copy(self) -> None:
        buf = bytearray(PIPE_SIZE)
        src, outs = self._src, self._outs
        while outs:
            try:
                n = os.readv(src, [buf])
            except BlockingIOError:
                if not self._wait(src, select.POLLIN):
                    return
                continue
            if n == 0:
                return
            for fd in list(outs):
                if not self._send(fd, memoryview(buf)[:n]):
                    outs.remove(fd)
                    os.close(fd)

    def _send(self, fd: int, data: memoryview) -> bool:
        """Write all of ``data``; False when the consumer is gone or we must stop."""
        while data:
            try:
                data = data[os.write(fd, data) :]
            except BlockingIOError:
                if not self._wait(fd, select.POLLOUT):
                    raise OSError("stopped") from None
            except BrokenPipeError:
                return False
        return True
