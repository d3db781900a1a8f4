"""SPEC §1: no file flowrun writes (logs, reports, caches) holds a secret's value,
whether it came from the environment, a dotenv file or the workflow file."""

from __future__ import annotations

from pathlib import Path

from flowrun.load.cache import cache_file, read_cached
from tests.integration.harness import cli, write

FROM_DOTENV = "dotenv-s3cret-4711"
FROM_ENVIRON = "environ-s3cret-0815"
FROM_FILE = "file-s3cret-1234"


def _files_holding(folder: Path, value: str, skip: set[Path]) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p not in skip and value.encode() in p.read_bytes()]


def test_dotenv_and_environment_secrets_reach_no_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"DOT_TOKEN={FROM_DOTENV}\n")
    path = write(tmp_path, """
        dotenv: [.env]
        secrets: [DOT_TOKEN, ENV_TOKEN]
        steps:
          show: {run: 'echo "dot=$DOT_TOKEN env=$ENV_TOKEN"'}
          leak: {run: 'echo "$DOT_TOKEN $ENV_TOKEN" >&2; exit 3', depends_on: [show]}
    """)
    reports = ["--json", "r.json", "--junit", "r.xml", "--html", "r.html"]
    for _ in range(2):  # the first run writes the plan cache, the second reads it back
        result = cli(tmp_path, "up", "--output", "plain", *reports, env={"ENV_TOKEN": FROM_ENVIRON})
        assert result.returncode == 1, result.stdout + result.stderr
        assert "dot=*** env=***" in result.stdout
        assert FROM_DOTENV not in result.stdout + result.stderr
    cached = read_cached(str(path), path.read_bytes())
    assert cached is not None, "the plan should be cached"
    assert cached.dotenv_values == {"DOT_TOKEN": FROM_DOTENV}, "a cache hit still gives steps the dotenv values"
    assert Path(cache_file(str(path))).exists()
    written = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert {"r.json", "r.xml", "r.html", "show.log", "leak.log", "report.json"} <= set(written), written
    skip = {tmp_path / ".env", path}
    for value in (FROM_DOTENV, FROM_ENVIRON):
        assert _files_holding(tmp_path, value, skip) == [], value


def test_a_secret_the_file_sets_reaches_no_other_file(tmp_path: Path) -> None:
    path = write(tmp_path, f"""
        secrets: [TOKEN]
        env: {{TOKEN: {FROM_FILE}}}
        steps:
          leak: {{run: 'echo "$TOKEN"; exit 1'}}
    """)
    for _ in range(2):
        result = cli(tmp_path, "up", "--output", "plain", "--json", "r.json")
        assert result.returncode == 1, result.stdout + result.stderr
    assert _files_holding(tmp_path, FROM_FILE, {path}) == []
