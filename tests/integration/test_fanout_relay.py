"""FanoutRelay on its own, both ways it can copy: tee/splice (zero-copy) and the read/write fallback.

Real processes on real pipes: a producer, readers that checksum what they got, a
slow reader and one that leaves after a few bytes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from flowrun.process import pipes


@pytest.fixture(params=["tee", "copy"])
def relay_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "copy":
        monkeypatch.setattr(pipes, "_TEE", None)  # as on a system without tee(2)
    elif pipes._TEE is None:
        pytest.skip("this system has no tee(2)")
    return str(request.param)


def test_every_reader_gets_every_byte_and_an_early_leaver_is_dropped(tmp_path: Path, relay_kind: str) -> None:
    data = hashlib.sha256(relay_kind.encode()).digest() * (24 * 1024 * 1024 // 32)  # 24 MiB, not all zeros
    blob = tmp_path / "blob"
    blob.write_bytes(data)
    src_r, src_w = pipes.make_pipe(pipes.PIPE_SIZE)
    ends = [pipes.make_pipe(pipes.PIPE_SIZE) for _ in range(3)]
    producer = subprocess.Popen(["cat", str(blob)], stdout=src_w)
    readers = [
        subprocess.Popen(["sha256sum"], stdin=ends[0][0], stdout=subprocess.PIPE),
        subprocess.Popen(["sh", "-c", "sleep 0.2; sha256sum"], stdin=ends[1][0], stdout=subprocess.PIPE),
        subprocess.Popen(["head", "-c", "10"], stdin=ends[2][0], stdout=subprocess.PIPE),
    ]
    os.close(src_w)
    for r, _ in ends:
        os.close(r)
    relay = pipes.FanoutRelay(src_r, [w for _, w in ends])
    relay.start()
    try:
        outputs = [reader.communicate(timeout=60)[0] for reader in readers]
        assert producer.wait(timeout=60) == 0
    finally:
        relay.stop()
    want = hashlib.sha256(data).hexdigest()
    assert outputs[0].split()[0].decode() == want
    assert outputs[1].split()[0].decode() == want
    assert outputs[2] == data[:10]
    assert not relay.alive


def test_when_every_reader_has_gone_the_producer_gets_sigpipe(relay_kind: str) -> None:
    src_r, src_w = pipes.make_pipe()
    ends = [pipes.make_pipe() for _ in range(2)]
    producer = subprocess.Popen(["yes"], stdout=src_w)
    readers = [subprocess.Popen(["head", "-n", str(n)], stdin=r, stdout=subprocess.PIPE) for n, (r, _) in
               zip((1, 2), ends, strict=True)]
    os.close(src_w)
    for r, _ in ends:
        os.close(r)
    relay = pipes.FanoutRelay(src_r, [w for _, w in ends])
    relay.start()
    try:
        assert [reader.communicate(timeout=30)[0] for reader in readers] == [b"y\n", b"y\ny\n"]
        assert producer.wait(timeout=30) == -13  # SIGPIPE
    finally:
        relay.stop()
