"""A tiny key-value server: one line per request, ``SET KEY VALUE`` or ``GET KEY``."""

import socketserver
import sys

STORE: dict[str, str] = {}


class Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for raw in self.rfile:
            words = raw.decode().split(maxsplit=2)
            if len(words) == 3 and words[0] == "SET":
                STORE[words[1]] = words[2].strip()
                self.wfile.write(b"OK\n")
            elif len(words) == 2 and words[0] == "GET":
                self.wfile.write((STORE.get(words[1], "") + "\n").encode())
            else:
                self.wfile.write(b"ERR\n")


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    with socketserver.ThreadingTCPServer((host, port), Handler) as server:
        print(f"kv listening on {host}:{port}")
        server.serve_forever()
