"""A small TCP or HTTP server for service tests, with marks a test can read.

    server.py tcp|http PORT [--delay SECS] [--listen-mark FILE] [--term-mark FILE]
              [--ignore-term] [--exit-after SECS] [--status CODE] [--no-answer]

- ``--delay``: wait this long before listening (a slow start).
- ``--listen-mark``: once it listens (accepts connections), write ``time.time()`` there.
- ``--term-mark``: on SIGTERM write ``time.time()`` there, then exit 0 (unless ``--ignore-term``).
- ``--ignore-term``: SIGTERM is ignored (only SIGKILL ends it).
- ``--exit-after``: exit 3 by itself this long after listening.
- ``http``: answers every GET with ``--status`` (default 200); ``--no-answer`` accepts and never answers.
Binds 127.0.0.1 only; prints ``listening on PORT`` once it does.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time

__all__ = ["main"]


def _mark(path: str | None) -> None:
    if path:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as handle:
            handle.write(repr(time.time()))
        os.replace(tmp, path)


def _serve_http(conn: socket.socket, status: int, answer: bool) -> None:
    with conn:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        if not answer:
            time.sleep(3600)
        body = b"ok\n"
        conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                     + body)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("tcp", "http"))
    parser.add_argument("port", type=int)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--listen-mark")
    parser.add_argument("--term-mark")
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--exit-after", type=float)
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--no-answer", action="store_true")
    args = parser.parse_args(argv)

    def on_term(signum: int, frame: object) -> None:
        _mark(args.term_mark)
        if not args.ignore_term:
            os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    time.sleep(args.delay)
    sock = socket.socket()
    sock.bind(("127.0.0.1", args.port))  # no SO_REUSEADDR: a taken port is an error, as for a real server
    sock.listen(64)
    _mark(args.listen_mark)
    print(f"listening on {args.port}", flush=True)
    if args.exit_after is not None:
        threading.Timer(args.exit_after, lambda: os._exit(3)).start()
    while True:
        conn, _ = sock.accept()
        if args.kind == "http":
            threading.Thread(target=_serve_http, args=(conn, args.status, not args.no_answer), daemon=True).start()
        else:
            conn.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
