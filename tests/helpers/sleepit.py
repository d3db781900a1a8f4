"""Port of go-task's ``cmd/sleepit``: a process that sleeps and reacts to signals on cue.

    sleepit default|handle|ignore-term --sleep SECS [--term-sleep SECS]
            [--grandchild bg|setsid] [--pidfile PATH]

- ``default``: SIGTERM/SIGINT keep their default action (the process dies).
- ``handle``: on SIGTERM/SIGINT print ``got signal N``, clean up for
  ``--term-sleep`` seconds, print ``cleanup done`` and exit 0. Exit 0 on
  purpose: a step that exits cleanly after its timeout is still ``timed_out``.
- ``ignore-term``: SIGTERM is ignored; only SIGKILL (or the end of the sleep) ends it.

``--grandchild bg`` forks a sleeping child in the same process group;
``--grandchild setsid`` double-forks one into a new session (it escapes
``killpg`` and, its parent gone, is re-parented). Either way the grandchild's pid
is written atomically to ``--pidfile`` and it keeps stdout/stderr open.
``ready`` is printed (and flushed) once handlers are set and the grandchild exists;
``--sleep`` elapsed, it prints ``slept`` and exits 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

__all__ = ["main"]


def _write_pidfile(path: str, pid: int) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{pid}\n")
    os.replace(tmp, path)  # readers never see a partial file


def _sleep_forever_child(seconds: float) -> None:
    """In a forked child: default signals, sleep, and leave without cleanup."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    try:
        time.sleep(seconds)
    finally:
        os._exit(0)


def _start_grandchild(mode: str, seconds: float, pidfile: str | None) -> None:
    if mode == "bg":
        pid = os.fork()
        if pid == 0:
            _sleep_forever_child(seconds)
    else:
        r, w = os.pipe()
        middle = os.fork()
        if middle == 0:
            os.close(r)
            os.setsid()
            pid = os.fork()
            if pid == 0:
                os.close(w)
                _sleep_forever_child(seconds)
            os.write(w, f"{pid}".encode())
            os._exit(0)
        os.close(w)
        pid = int(os.read(r, 64))
        os.close(r)
        os.waitpid(middle, 0)
    if pidfile:
        _write_pidfile(pidfile, pid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sleepit")
    parser.add_argument("mode", choices=["default", "handle", "ignore-term"])
    parser.add_argument("--sleep", type=float, default=5.0)
    parser.add_argument("--term-sleep", type=float, default=0.0)
    parser.add_argument("--grandchild", choices=["bg", "setsid"])
    parser.add_argument("--pidfile")
    args = parser.parse_args(argv)

    if args.mode == "handle":

        def handler(signum: int, frame: object) -> None:
            print(f"got signal {signum}", flush=True)
            time.sleep(args.term_sleep)
            print("cleanup done", flush=True)
            sys.exit(0)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
    elif args.mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    if args.grandchild:
        _start_grandchild(args.grandchild, args.sleep, args.pidfile)
    print("ready", flush=True)
    time.sleep(args.sleep)
    print("slept", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
