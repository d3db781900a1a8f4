"""A worker's guard: SIGKILLs what its worker's steps left running when the worker itself dies.

A Dask worker killed outright (SIGKILL, the OOM killer) cannot stop its steps:
they run in their own sessions and would be re-parented and live on. So the
dask executor's runner starts this small process once per worker
(``python -m flowrun.process.guard``, in its own session) and tells it, on its
stdin, the tag of each attempt it starts (``+HEX``) and ends (``-HEX``), HEX
being the hex of the tag's ``NAME=value`` entry. When stdin reaches EOF (the
worker is gone, however it went) the guard SIGKILLs every process carrying a
tag still open, waits for them (bounded), and exits. Stdlib only, and
``flowrun.process.kill``: it starts in a few milliseconds.
"""

from __future__ import annotations

import os
import select
import sys
import time

from flowrun.process.kill import close_all, sweep

__all__ = ["main"]


def main() -> None:
    live: dict[bytes, int] = {}
    buffer = b""
    while True:
        data = os.read(0, 65536)
        if not data:
            break
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            entry = bytes.fromhex(line[1:].decode())
            if line[:1] == b"+":
                live[entry] = live.get(entry, 0) + 1
            elif line[:1] == b"-" and live.get(entry, 0) > 1:
                live[entry] -= 1
            else:
                live.pop(entry, None)
    for _ in range(5):  # again: something may fork between scan and kill
        pidfds = sweep((), list(live))
        if not pidfds:
            break
        deadline = time.monotonic() + 5
        pending = list(pidfds)
        while pending and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(pending, [], [], left)
            pending = [fd for fd in pending if fd not in ready]
        close_all(pidfds)


if __name__ == "__main__":
    sys.exit(main())
