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

from flowrun.process import fanout

pytestmark = pytest.mark.one_path("drives FanoutRelay directly (both of its copy modes)")


@pytest.fixture(params=["tee", "copy"])
def relay_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "copy":
        monkeypatch.setattr(fanout, "_TEE", None)  # as on a system without tee(2)
    elif fanout._TEE is None:
        pytest.skip("this system has no tee(2)")
    return str(request.param)


def _fan_out(producer: list[str], readers: list[list[str]]) -> tuple[int, list[bytes], fanout.FanoutRelay]:
    """Run ``producer`` into every reader through a relay; (producer's returncode, readers' stdout, relay)."""
    src_r, src_w = fanout.make_pipe(fanout.PIPE_SIZE)
    ends = [fanout.make_pipe(fanout.PIPE_SIZE) for _ in readers]
    source = subprocess.Popen(producer, stdout=src_w)
    procs = [subprocess.Popen(argv, stdin=r, stdout=subprocess.PIPE)
             for argv, (r, _) in zip(readers, ends, strict=True)]
    os.close(src_w)
    for r, _ in ends:
        os.close(r)
    relay = fanout.FanoutRelay(src_r, [w for _, w in ends])
    relay.start()
    try:
        outputs = [proc.communicate(timeout=60)[0] for proc in procs]
        return source.wait(timeout=60), outputs, relay
    finally:
        relay.stop()


def test_every_reader_gets_every_byte_and_an_early_leaver_is_dropped(tmp_path: Path, relay_kind: str) -> None:
    data = hashlib.sha256(relay_kind.encode()).digest() * (24 * 1024 * 1024 // 32)  # 24 MiB, not all zeros
    blob = tmp_path / "blob"
    blob.write_bytes(data)
    code, outputs, relay = _fan_out(
        ["cat", str(blob)], [["sha256sum"], ["sh", "-c", "sleep 0.2; sha256sum"], ["head", "-c", "10"]])
    want = hashlib.sha256(data).hexdigest()
    assert code == 0
    assert outputs[0].split()[0].decode() == want
    assert outputs[1].split()[0].decode() == want
    assert outputs[2] == data[:10]
    assert not relay.alive


def test_when_every_reader_has_gone_the_producer_gets_sigpipe(relay_kind: str) -> None:
    code, outputs, _ = _fan_out(["yes"], [["head", "-n", "1"], ["head", "-n", "2"]])
    assert outputs == [b"y\n", b"y\ny\n"]
    assert code == -13  # SIGPIPE
