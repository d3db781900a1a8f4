"""``sources:``/``outputs:`` globs on a real tree: hidden folders, .git, .flowrun, symlinks (SPEC §10)."""

from __future__ import annotations

import fnmatch
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowrun.engine.globs import expand, pattern_problem

FILES = [
    "flowrun.yaml",
    "pyproject.toml",
    ".env",
    "a.py",
    "src/main.py",
    "src/util.py",
    "src/.hidden.py",
    "src/pkg/mod.py",
    "src/pkg/data.txt",
    "src/pkg/deep/x.py",
    "src/.cache/c.py",
    "docs/index.md",
    "docs/guide/intro.md",
    ".git/HEAD",
    ".git/objects/ab/cdef.py",
    ".flowrun/history.db",
    ".flowrun/runs/1/log.py",
    "sub/.git",  # a submodule's .git is a file
    "sub/b.py",
    "sub/.flowrun/x.py",
]


@pytest.fixture
def wf(tmp_path: Path) -> Path:
    root = tmp_path / "wf"
    for name in FILES:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    links = root / "links"
    links.mkdir()
    (links / "to_file.py").symlink_to("../src/main.py")
    (links / "to_dir").symlink_to("../src")
    (links / "broken.py").symlink_to("../nope.py")
    (links / "loop").symlink_to(".")
    (links / "self.py").symlink_to("self.py")  # a symlink loop
    os.mkfifo(root / "fifo.py")
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "shared.txt").write_text("s")
    (outside / "deep" / "more.txt").write_text("m")
    return root


def test_double_star_spans_folders_hidden_ones_too_but_never_git_or_flowrun(wf: Path) -> None:
    assert expand(str(wf), ["**/*.py"]) == [
        "a.py",
        "links/to_file.py",
        "src/.cache/c.py",
        "src/.hidden.py",
        "src/main.py",
        "src/pkg/deep/x.py",
        "src/pkg/mod.py",
        "src/util.py",
        "sub/b.py",
    ]


def test_double_star_alone_is_every_regular_file(wf: Path) -> None:
    expected = sorted(n for n in FILES if not n.startswith((".git/", ".flowrun/")) and "/.flowrun/" not in n)
    expected.remove("sub/.git")
    assert expand(str(wf), ["**"]) == sorted([*expected, "links/to_file.py"])


def test_trailing_double_star_is_every_file_below(wf: Path) -> None:
    assert expand(str(wf), ["src/**"]) == [
        "src/.cache/c.py",
        "src/.hidden.py",
        "src/main.py",
        "src/pkg/data.txt",
        "src/pkg/deep/x.py",
        "src/pkg/mod.py",
        "src/util.py",
    ]
    assert expand(str(wf), ["docs/**/"]) == ["docs/guide/intro.md", "docs/index.md"]


def test_double_star_in_the_middle_spans_zero_folders_or_more(wf: Path) -> None:
    assert expand(str(wf), ["src/**/*.py"]) == [
        "src/.cache/c.py",
        "src/.hidden.py",
        "src/main.py",
        "src/pkg/deep/x.py",
        "src/pkg/mod.py",
        "src/util.py",
    ]
    assert expand(str(wf), ["**/deep/*"]) == ["src/pkg/deep/x.py"]
    assert expand(str(wf), ["src/**/**/deep/x.py"]) == ["src/pkg/deep/x.py"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*.py", ["a.py"]),  # fifo.py is no regular file
        ("*", [".env", "a.py", "flowrun.yaml", "pyproject.toml"]),
        ("src/*.py", ["src/.hidden.py", "src/main.py", "src/util.py"]),
        ("src/*/*.py", ["src/.cache/c.py", "src/pkg/mod.py"]),
        ("?.py", ["a.py"]),
        ("src/[mu]*.py", ["src/main.py", "src/util.py"]),
        ("src/[!m]*.py", ["src/.hidden.py", "src/util.py"]),
        ("*/index.md", ["docs/index.md"]),
        ("*/*/log.py", []),  # a wildcard never matches .flowrun
        ("*/HEAD", []),  # ... nor .git
        ("sub/*", ["sub/b.py"]),  # ... not even a .git file
    ],
)
def test_single_star_question_mark_and_brackets_stay_in_one_name(wf: Path, pattern: str, expected: list[str]) -> None:
    assert expand(str(wf), [pattern]) == expected


def test_literal_paths(wf: Path) -> None:
    assert expand(str(wf), ["pyproject.toml"]) == ["pyproject.toml"]
    assert expand(str(wf), ["./src//main.py"]) == ["src/main.py"]
    assert expand(str(wf), ["src"]) == []  # a folder matches nothing: write src/**
    assert expand(str(wf), ["nope.txt", "missing/**", "a.py/*"]) == []
    assert expand(str(wf), []) == []


def test_git_and_flowrun_are_reached_only_when_named(wf: Path) -> None:
    assert expand(str(wf), [".git/HEAD"]) == [".git/HEAD"]
    assert expand(str(wf), [".git/**"]) == [".git/HEAD", ".git/objects/ab/cdef.py"]
    assert expand(str(wf), ["sub/.flowrun/*.py"]) == ["sub/.flowrun/x.py"]


def test_symlinks_to_files_match_symlinked_folders_only_by_name(wf: Path) -> None:
    assert "links/to_file.py" in expand(str(wf), ["links/*"])
    assert expand(str(wf), ["links/*"]) == ["links/to_file.py"]  # not broken.py, self.py, to_dir, loop
    assert expand(str(wf), ["links/*/main.py", "links/**/util.py"]) == []  # wildcards do not enter to_dir
    assert expand(str(wf), ["links/to_dir/*.py"]) == [
        "links/to_dir/.hidden.py",
        "links/to_dir/main.py",
        "links/to_dir/util.py",
    ]
    assert expand(str(wf), ["links/loop/loop/to_file.py"]) == ["links/loop/loop/to_file.py"]


def test_several_patterns_are_one_sorted_list_without_repeats(wf: Path) -> None:
    got = expand(str(wf), ["src/*.py", "src/**/*.py", "**/main.py", "docs/**", ".git/HEAD", "src/pkg/**"])
    assert got == sorted(set(got))
    assert got == [
        ".git/HEAD",
        "docs/guide/intro.md",
        "docs/index.md",
        "src/.cache/c.py",
        "src/.hidden.py",
        "src/main.py",
        "src/pkg/data.txt",
        "src/pkg/deep/x.py",
        "src/pkg/mod.py",
        "src/util.py",
    ]


def test_outside_and_absolute_patterns_are_named_from_the_workflow_folder(wf: Path) -> None:
    assert expand(str(wf), ["../outside/*.txt"]) == ["../outside/shared.txt"]
    assert expand(str(wf), ["../outside/**"]) == ["../outside/deep/more.txt", "../outside/shared.txt"]
    assert expand(str(wf), [f"{wf.parent}/outside/**"]) == ["../outside/deep/more.txt", "../outside/shared.txt"]
    assert expand(str(wf), [f"{wf}/src/*.py", "src/*.py"]) == expand(str(wf), ["src/*.py"])
    assert expand(str(wf), ["src/../docs/*.md"]) == ["docs/index.md"]
    assert expand(str(wf / "src"), ["../a.py"]) == ["../a.py"]


def test_a_relative_base_dir_gives_the_same_names(wf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(wf.parent)
    assert expand("wf", ["src/*.py"]) == expand(str(wf), ["src/*.py"])


@pytest.mark.parametrize("pattern", ["", "  ", "src/**/../x.py", "*/..", "a\0b"])
def test_unusable_patterns(wf: Path, pattern: str) -> None:
    problem = pattern_problem(pattern)
    assert problem
    with pytest.raises(ValueError, match="glob"):
        expand(str(wf), [pattern])


def test_dot_dot_before_the_first_wildcard_is_fine() -> None:
    assert pattern_problem("../shared/**/*.py") is None
    assert pattern_problem("/etc/*.conf") is None


# -- against an independent reference: a backtracking matcher over os.walk's paths --------------------------

DIRS = ["a", "b", ".h", "ab"]
FILE_NAMES = ["a", "b.py", ".x", "ab.py", "a.txt"]
SEGMENTS = ["a", "b", ".h", "ab", "*", "**", "a*", "*.py", "?", "[ab]", "*b*", "b.py", ".x", "[!a]*"]


def reference(pattern: str, path: str) -> bool:
    def match(ps: list[str], ns: list[str]) -> bool:
        if not ps:
            return not ns
        if ps[0] == "**":
            if len(ps) == 1:
                return len(ns) >= 1
            return match(ps[1:], ns) or (len(ns) > 1 and match(ps, ns[1:]))
        return bool(ns) and fnmatch.fnmatchcase(ns[0], ps[0]) and match(ps[1:], ns[1:])

    return match(pattern.split("/"), path.split("/"))


trees = st.lists(
    st.tuples(st.lists(st.sampled_from(DIRS), max_size=3), st.sampled_from(FILE_NAMES)), min_size=1, max_size=12
)
patterns = st.lists(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4).map("/".join), min_size=1, max_size=3)


@settings(max_examples=300, deadline=None)
@given(tree=trees, globs=patterns)
def test_matches_what_a_backtracking_reference_matches(tree: list[tuple[list[str], str]], globs: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files: set[str] = set()
        for folders, name in tree:
            path = "/".join([*folders, name])
            if any(f == path or f.startswith(path + "/") or path.startswith(f + "/") for f in files):
                continue  # a name both file and folder
            os.makedirs(os.path.join(tmp, *folders), exist_ok=True)
            Path(tmp, path).write_text(path)
            files.add(path)
        expected = sorted(f for f in files if any(reference(g, f) for g in globs))
        assert expand(tmp, globs) == expected


def test_one_string_is_not_a_list_of_globs(wf: Path) -> None:
    with pytest.raises(TypeError):
        expand(str(wf), "*.py")
