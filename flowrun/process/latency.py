"""Ask the kernel to let flowrun react to a step's exit at once (a latency hint, Linux 6.12+).

flowrun's own process sleeps most of the time and then has a few hundred
microseconds of work when a step ends: reap it, start the next one. On a
machine whose cores are all busy with steps, the scheduler (EEVDF) lets the
running step finish its time slice before flowrun runs, so every step start
waits on that. ``sched_setattr`` with a short ``sched_runtime`` asks for short
slices for flowrun's thread alone: its wake-ups then preempt a running step.
Its share of the CPU is unchanged (that is what nice decides), and
``SCHED_FLAG_RESET_ON_FORK`` gives every step the default slice again.

The hint is left alone where it could change what steps inherit: a process
with a negative nice value or a real-time policy (which reset-on-fork would
take away from its children). Kernels that do not know custom slices ignore
``sched_runtime`` for normal tasks; any error leaves everything as it was.
At the end of the run the previous attributes come back, except that a
process without CAP_SYS_NICE cannot clear reset-on-fork again (for a normal
policy and nice >= 0 it changes nothing).
"""

from __future__ import annotations

import ctypes
import os
import struct

__all__ = ["SLICE_NS", "LatencyHint", "sched_attr"]

#: sched_setattr / sched_getattr syscall numbers
_SYSCALLS = {"x86_64": (314, 315), "aarch64": (274, 275), "arm64": (274, 275)}
_ATTR = struct.Struct("IIQiIQQQII")  # struct sched_attr (version 1, 56 bytes)
_SCHED_OTHER, _RESET_ON_FORK = 0, 0x01
#: the shortest slice the kernel accepts
SLICE_NS = 100_000


def _syscall(getting: bool, attr: bytes | None = None) -> bytes | None:
    """sched_getattr (returns the attr) or sched_setattr (returns b"" on success) for this thread."""
    uname = os.uname()
    numbers = _SYSCALLS.get(uname.machine) if uname.sysname == "Linux" else None  # Linux's syscall numbers
    if numbers is None:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    if getting:
        buffer = ctypes.create_string_buffer(_ATTR.size)
        return buffer.raw if libc.syscall(numbers[1], 0, buffer, _ATTR.size, 0) == 0 else None
    return b"" if libc.syscall(numbers[0], 0, ctypes.create_string_buffer(attr), 0) == 0 else None


def sched_attr() -> tuple[int, ...] | None:
    """The calling thread's ``struct sched_attr`` fields: (size, policy, flags, nice, priority, runtime, ...)."""
    raw = _syscall(True)
    return None if raw is None else _ATTR.unpack(raw)


class LatencyHint:
    """Short time slices for the calling thread, from ``apply()`` until ``restore()``."""

    def __init__(self) -> None:
        self._previous: bytes | None = None

    def apply(self) -> bool:
        """Ask for short slices; True if the kernel took the request."""
        if self._previous is not None:
            return False
        raw = _syscall(True)
        if raw is None:
            return False
        _, policy, flags, nice, priority, _, *rest = _ATTR.unpack(raw)
        if policy != _SCHED_OTHER or nice < 0 or flags & _RESET_ON_FORK:
            return False
        wanted = _ATTR.pack(_ATTR.size, policy, flags | _RESET_ON_FORK, nice, priority, SLICE_NS, *rest)
        if _syscall(False, wanted) is None:
            return False
        self._previous = raw
        return True

    def restore(self) -> None:
        """Put back the thread's scheduling attributes as they were before ``apply``."""
        previous, self._previous = self._previous, None
        if previous is None or _syscall(False, previous) is not None:
            return
        # Without CAP_SYS_NICE reset-on-fork cannot be cleared again: keep it (for a
        # thread with nice >= 0 and a normal policy it changes nothing) and put the slice back.
        fields = list(_ATTR.unpack(previous))
        fields[2] |= _RESET_ON_FORK
        _syscall(False, _ATTR.pack(*fields))
