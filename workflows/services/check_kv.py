"""The test of the cache service: a value set is read back."""

import socket
import sys

with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as conn:
    stream = conn.makefile("rw")
    stream.write("SET greeting hello\n")
    stream.flush()
    assert stream.readline().strip() == "OK"
    stream.write("GET greeting\n")
    stream.flush()
    value = stream.readline().strip()
assert value == "hello", value
print("cache: SET then GET gives the value back")
