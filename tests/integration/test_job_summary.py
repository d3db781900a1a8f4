"""The GitHub Actions job summary: real runs append Markdown to ``$GITHUB_STEP_SUMMARY``, rendered here.

The Markdown is parsed with markdown-it-py (CommonMark plus GFM tables, as GitHub
reads it) and the assertions are on its tokens and HTML, not on the text.
"""

from __future__ import annotations

import re
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from flowrun.report.jobsummary import code_block, markdown_text
from tests.integration.harness import cli, write

SECRET = "hunter2-s3cr3t"

FAILING = f"""\
name: "ci | nightly"
secrets: [TOKEN]
env:
  TOKEN: {SECRET}
steps:
  ok:
    run: echo fine
  shout:
    matrix:
      word: ["a|b", "*x*"]
    run: echo "$word"
  broken:
    run: |
      echo "token is $TOKEN"
      echo '| not | a | row |'
      echo '```'
      echo '</details> <b>bold</b>'
      echo 'last words'
      exit 3
    depends_on: [ok]
  after:
    run: echo never
    depends_on: [broken]
"""


def _md() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def _rows(tokens: list[Token]) -> list[list[str]]:
    """The table's body rows as cell texts (inline content, escapes resolved)."""
    rows: list[list[str]] = []
    in_body = False
    for tok in tokens:
        if tok.type == "tbody_open":
            in_body = True
        elif tok.type == "tbody_close":
            in_body = False
        elif in_body and tok.type == "tr_open":
            rows.append([])
        elif in_body and tok.type == "inline":
            rows[-1].append("".join(child.content for child in tok.children or [] if child.type == "text"))
    return rows


def _summaries(text: str) -> list[str]:
    return [part for part in re.split(r"(?m)^(?=### flowrun: )", text) if part.strip()]


def test_a_failing_run_gets_a_table_and_its_log_tail_and_no_secret(tmp_path: Path) -> None:
    write(tmp_path, FAILING)
    summary = tmp_path / "step-summary.md"
    summary.write_text("")  # GitHub creates it empty
    done = cli(tmp_path, "up", "--output", "plain", "--keep-going", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == 1, done.stderr
    text = summary.read_text()
    assert SECRET not in text
    tokens = _md().parse(text)
    rows = {row[0]: row[1:] for row in _rows(tokens)}
    assert set(rows) == {"ok", "shout[word=a|b]", "shout[word=*x*]", "broken", "after"}, rows
    assert rows["ok"][0] == "success" and rows["ok"][2] == "1"
    assert rows["broken"][0] == "failed (exit 3)" and rows["broken"][2] == "1"
    assert rows["after"][0] == "skipped" and rows["after"][2] == "-"
    assert re.fullmatch(r"\d+ms|\d+\.\d+s", rows["ok"][1]), rows["ok"]
    heading = next(t for i, t in enumerate(tokens) if i and tokens[i - 1].type == "heading_open")
    assert heading.content.replace("\\", "") == "flowrun: ci | nightly failed (exit 1)"
    html = _md().render(text)
    assert "<b>bold</b>" not in html  # the step's output stays text
    assert html.count("<details>") == 1 and "<summary><code>broken</code> failed (exit 3)" in html
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1
    tail = fences[0].content.splitlines()
    assert tail == ["token is ***", "| not | a | row |", "```", "</details> <b>bold</b>", "last words"]
    paragraphs = [t.content for t in tokens if t.type == "inline"]
    assert any(re.fullmatch(r"5 steps: 3 success, 1 failed, 1 skipped, 0 cached in \S+", p) for p in paragraphs), \
        paragraphs


def test_cached_steps_are_counted_and_two_runs_append_two_summaries(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("one\n")
    write(tmp_path, """\
        steps:
          build:
            run: cat src/a.txt
            sources: ["src/**"]
          check:
            run: "true"
            sources: ["src/*.txt"]
            depends_on: [build]
          always:
            run: "true"
        """)
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    for output in ("plain", "github"):  # any output mode: it is GitHub that sets the variable
        done = cli(tmp_path, "up", "--output", output, "-q", env=env)
        assert done.returncode == 0, done.stderr
    first, second = _summaries(summary.read_text())
    rows = [{row[0]: row[1] for row in _rows(_md().parse(part))} for part in (first, second)]
    assert rows[0] == {"build": "success", "check": "success", "always": "success"}
    assert rows[1] == {"build": "cached", "check": "cached", "always": "success"}
    assert "flowrun: flowrun.yaml succeeded" in _md().render(second).replace("\\", "")
    counts = [t.content for t in _md().parse(second) if t.type == "inline" and t.content.startswith("3 steps")]
    assert counts and counts[0].startswith("3 steps: 1 success, 0 skipped, 2 cached in "), counts
    assert "<details>" not in _md().render(second)


def test_without_the_variable_nothing_is_written(tmp_path: Path) -> None:
    write(tmp_path, "steps:\n  a:\n    run: 'true'\n")
    done = cli(tmp_path, "up", "--output", "plain", "-q")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".flowrun", "flowrun.yaml"]


def test_a_summary_that_cannot_be_written_leaves_the_exit_code(tmp_path: Path) -> None:
    write(tmp_path, "steps:\n  a:\n    run: 'true'\n")
    done = cli(tmp_path, "up", "--output", "plain", "-q", env={"GITHUB_STEP_SUMMARY": str(tmp_path / "no" / "x.md")})
    assert done.returncode == 0
    assert "could not write the GitHub job summary" in done.stderr


def test_markdown_pieces_survive_hostile_text() -> None:
    md = _md()
    for name in ("a|b", "*x*", "[l](http://e)", "`c`", "<i>", "\\|", "_u_ ~s~ # h", "&amp;"):
        table = f"| step |\n|--|\n| {markdown_text(name)} |\n"
        assert _rows(md.parse(table)) == [[name]], name
    for body in (["```"], ["a ```` b", "`"], ["~~~", "    indented", ""]):
        fences = [t for t in md.parse(code_block(body)) if t.type == "fence"]
        assert len(fences) == 1 and fences[0].content.split("\n")[:-1] == body, body
