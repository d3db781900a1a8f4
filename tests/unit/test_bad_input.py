"""Whatever a file holds, `flowrun validate` loads it or answers with a located error and exit 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowrun.cli import main

LOCATED = re.compile(r"^[^\n]+:\d+:\d+: \S.*$")
GOOD = """\
name: demo
env: {A: "1"}
steps:
  lint:
    run: echo lint
    timeout: 5s
  unit:
    cmd: [echo, unit]
    depends_on: [lint]
    retry: {attempts: 2, delay: 1s}
  gen:
    run: seq 3
  count:
    run: wc -l
    stdin: gen
    stdout: {file: out/count.txt}
  report:
    run: cat out/count.txt
    depends_on: {count: success, unit: completed}
"""


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> int:
    code = main(["validate", "-f", str(path)])
    err = capsys.readouterr().err
    if code == 0:
        assert err == ""
    else:
        assert code == 2
        lines = err.splitlines()
        assert lines and lines[-1].startswith("flowrun: ")
        for line in lines[:-1]:
            assert LOCATED.match(line), line
            assert str(path) in line or ".env" in line
    return code


BAD_INPUTS = {
    "binary": bytes(range(256)) * 64,
    "nul-bytes": b"steps:\x00\n  a: {run: x}\n",
    "nested-lists": b"[" * 10_000 + b"]" * 10_000,
    "nested-maps": b"a: " + b"{b: " * 5_000 + b"1" + b"}" * 5_000,
    "tabs": b"steps:\n\ta:\n\t\trun: x\n",
    "python-object": b"steps: !!python/object:os.system {}\n",
    "python-name": b"steps:\n  a: {run: !!python/name:os.system }\n",
    "non-mapping": b"just a string\n",
    "empty": b"",
    "only-comments": b"# nothing\n",
    "two-documents": b"steps: {a: {run: x}}\n---\nsteps: {b: {run: y}}\n",
    "utf16": "steps: {a: {run: x}}".encode("utf-16"),
    "latin1": "steps: {a: {run: 'caf\xe9'}}".encode("latin-1"),
    "unknown-alias": b"steps: *nope\n",
    "recursive-alias": b"a: &a [*a]\nsteps: {x: {run: y}}\n",
    "complex-key": b"? [a, b]\n: 1\nsteps: {a: {run: x}}\n",
    "int-keys": b"steps:\n  1: {run: x}\n  2: {run: y, depends_on: [1]}\n",
    "null-step": b"steps:\n  a:\n",
    "steps-list": b"steps: [a, b]\n",
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_a_located_error(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "flowrun.yaml"
    path.write_bytes(BAD_INPUTS[name])
    code = check(path, capsys)
    assert code == (0 if name in ("int-keys", "utf16") else 2)  # YAML allows UTF-16 with a BOM


def test_bom_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "flowrun.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert check(path, capsys) == 0


def test_huge_file_fails_fast_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "flowrun.yaml"
    with open(path, "wb") as handle:  # 50 MB document
        handle.write(b"steps:\n  a: {run: x}\nx: '")
        handle.write(b"y" * (50 * 1024 * 1024))
        handle.write(b"'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "flowrun", "validate", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"{path}:1:1: file is larger than 16 MiB")


def test_alias_bomb_in_a_subprocess_is_bounded(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghijklm":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\nsteps: {a: {run: x}}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "flowrun", "validate", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert "alias" in proc.stderr and "Traceback" not in proc.stderr


def _mutations() -> st.SearchStrategy[bytes]:
    base = GOOD.encode()
    splice = st.tuples(
        st.integers(0, len(base)), st.integers(0, 20), st.binary(max_size=12) | st.sampled_from(
            [b":", b"- ", b"{", b"}", b"[", b"]", b"&a ", b"*a", b"\t", b"'", b'"', b"\n  ", b"!!", b"<<: ", b"~",
             b"depends_on: [x]", b"stdin: gen", b"matrix: {a: [1]}", b"timeout: 1x", b"lint", b"\xff"]
        )
    )
    return st.lists(splice, min_size=1, max_size=4).map(lambda edits: _apply(base, edits))


def _apply(base: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    data = base
    for at, cut, insert in edits:
        at = min(at, len(data))
        data = data[:at] + insert + data[at + cut:]
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_mutations())
def test_mutated_files_load_or_fail_located(
    data: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "flowrun.yaml"
    path.write_bytes(data)
    check(path, capsys)
