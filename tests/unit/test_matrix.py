"""Matrix include/exclude (SPEC §9) against GitHub Actions' documented examples.

Each expected outcome is copied from GitHub's docs ("Running variations of jobs in a
workflow": expanding, adding and excluding configurations), not from our output.
"""

from __future__ import annotations

import pytest

from flowrun.errors import WorkflowError
from flowrun.graph import plan_for
from flowrun.load import load_text
from flowrun.spec.matrix import combinations


def instances(matrix_yaml: str) -> dict[str, dict[str, str]]:
    """Instance name → matrix values of step `s` with this `matrix:` (indented YAML)."""
    wf = load_text("steps:\n  s:\n    run: x\n    matrix:\n" + matrix_yaml, "wf.yaml")
    return {name: inst.matrix for name, inst in plan_for(wf).instances.items()}


def errors_of(text: str) -> list[str]:
    with pytest.raises(WorkflowError) as info:
        load_text(text, "wf.yaml")
    return [str(d) for d in info.value.diagnostics]


def test_github_fruit_example_include_extends_adds_and_overwrites_added_values() -> None:
    # docs: "will result in six jobs with the following matrix combinations"
    got = instances("""
      fruit: [apple, pear]
      animal: [cat, dog]
      include:
        - color: green
        - color: pink
          animal: cat
        - fruit: apple
          shape: circle
        - fruit: banana
        - fruit: banana
          animal: cat
""")
    assert list(got.values()) == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]
    assert list(got) == [
        "s[fruit=apple,animal=cat,color=pink,shape=circle]",
        "s[fruit=apple,animal=dog,color=green,shape=circle]",
        "s[fruit=pear,animal=cat,color=pink]",
        "s[fruit=pear,animal=dog,color=green]",
        "s[fruit=banana]",
        "s[fruit=banana,animal=cat]",
    ]


def test_github_os_node_example_include_adds_a_variable_to_one_combination() -> None:
    # docs: six jobs; "When the job for the os value of windows-latest and node value of 16 runs,
    # an additional variable called npm with the value of 6 will be included in the job."
    got = instances("""
      os: [windows-latest, ubuntu-latest]
      node: [12, 14, 16]
      include:
        - os: windows-latest
          node: 16
          npm: 6
""")
    assert len(got) == 6
    assert got["s[os=windows-latest,node=16,npm=6]"] == {"os": "windows-latest", "node": "16", "npm": "6"}
    assert [name for name, values in got.items() if "npm" in values] == ["s[os=windows-latest,node=16,npm=6]"]
    assert "s[os=ubuntu-latest,node=16]" in got


def test_github_os_version_example_include_adds_a_combination() -> None:
    # docs: "this matrix will run 10 jobs, one for each combination of os and version in the matrix,
    # plus a job for the os value of windows-latest and version value of 17"
    got = instances("""
      os: [macos-latest, windows-latest, ubuntu-latest]
      version: [12, 14, 16]
      include:
        - os: windows-latest
          version: 17
""")
    assert len(got) == 10
    assert list(got)[-1] == "s[os=windows-latest,version=17]"


def test_github_perl_example() -> None:
    # docs: "will create seven jobs, testing five versions for perl and only two for macos"
    got = instances("""
      os: [ubuntu-latest]
      perl: ['5.16', '5.20', '5.26', '5.30', latest]
      include:
        - os: macos-latest
          perl: '5.26'
        - os: macos-latest
          perl: latest
""")
    assert len(got) == 7
    assert [v["perl"] for v in got.values() if v["os"] == "macos-latest"] == ["5.26", "latest"]
    assert [v["perl"] for v in got.values() if v["os"] == "ubuntu-latest"] == ["5.16", "5.20", "5.26", "5.30", "latest"]


def test_github_include_only_example() -> None:
    # docs: "the following workflow would run two jobs, one for each include entry"
    got = instances("""
      include:
        - site: "production"
          datacenter: "site-a"
        - site: "staging"
          datacenter: "site-b"
""")
    assert got == {
        "s[site=production,datacenter=site-a]": {"site": "production", "datacenter": "site-a"},
        "s[site=staging,datacenter=site-b]": {"site": "staging", "datacenter": "site-b"},
    }


def test_github_exclude_example_partial_matches() -> None:
    # docs: "will run nine jobs: one job for each of the 12 configurations, minus the one excluded job that
    # matches {os: macos-latest, version: 12, environment: production}, and the two excluded jobs that
    # match {os: windows-latest, version: 16}"
    got = instances("""
      os: [macos-latest, windows-latest]
      version: [12, 14, 16]
      environment: [staging, production]
      exclude:
        - os: macos-latest
          version: 12
          environment: production
        - os: windows-latest
          version: 16
""")
    assert len(got) == 9
    gone = {(v["os"], v["version"], v["environment"]) for v in combinations(
        {"os": ["macos-latest", "windows-latest"], "version": ["12", "14", "16"],
         "environment": ["staging", "production"]})} - {(v["os"], v["version"], v["environment"]) for v in got.values()}
    assert gone == {("macos-latest", "12", "production"), ("windows-latest", "16", "staging"),
                    ("windows-latest", "16", "production")}


def test_include_is_applied_after_exclude_and_can_add_back() -> None:
    # docs: "All include combinations are processed after exclude. This allows you to use include to add
    # back combinations that were previously excluded."
    got = combinations({"os": ["linux", "mac"], "py": ["3.11", "3.12"]},
                       include=[{"os": "mac", "py": "3.12", "note": "back"}, {"os": "mac", "extra": "x"}],
                       exclude=[{"os": "mac"}])
    assert got == [
        {"os": "linux", "py": "3.11"},
        {"os": "linux", "py": "3.12"},
        {"os": "mac", "py": "3.12", "note": "back"},  # matched no kept combination: a new one
        {"os": "mac", "extra": "x"},  # extends nothing (mac was excluded): a new one, not a mix with the above
    ]


def test_an_include_matches_only_original_combinations() -> None:
    got = combinations({"a": ["1"]}, include=[{"a": "2"}, {"a": "2", "b": "x"}, {"c": "y"}])
    # {c: y} extends the one original combination only; {a: 2, b: x} does not extend the new {a: 2}
    assert got == [{"a": "1", "c": "y"}, {"a": "2"}, {"a": "2", "b": "x"}]


def test_name_order_own_variables_then_added_ones_in_the_order_the_file_names_them() -> None:
    got = instances("""
      animal: [cat, dog]
      fruit: [apple]
      include:
        - animal: cat
          x: 1
        - y: 2
        - animal: dog
          y: 3
          x: 4
        - fruit: banana
          animal: cat
""")
    assert list(got) == [
        "s[animal=cat,fruit=apple,x=1,y=2]",
        "s[animal=dog,fruit=apple,x=4,y=3]",  # y was added to dog first, but names list x first everywhere
        "s[animal=cat,fruit=banana]",  # the matrix's order, not the entry's
    ]


def test_values_are_compared_and_named_as_spelled() -> None:
    got = instances("""
      v: [1.10, true]
      include:
        - v: 1.10
          note: ten
        - v: "true"
          note: yes
        - v: 1.1
""")
    assert list(got) == ["s[v=1.10,note=ten]", "s[v=true,note=yes]", "s[v=1.1]"]


def test_a_missing_variable_is_absent_from_the_instance() -> None:
    got = instances("""
      os: [linux]
      include: [{os: linux, extra: on}, {os: mac}]
""")
    assert got == {"s[os=linux,extra=on]": {"os": "linux", "extra": "on"}, "s[os=mac]": {"os": "mac"}}


def test_matrix_without_include_or_exclude_is_unchanged() -> None:
    assert combinations({"a": ["1", "2"], "b": ["x"]}) == [{"a": "1", "b": "x"}, {"a": "2", "b": "x"}]
    assert list(instances("      {}\n")) == ["s"]  # `matrix: {}` is no matrix, as before


def test_an_include_only_matrix_of_two_cannot_be_a_pipe_producer() -> None:
    assert errors_of("""
steps:
  gen: {run: x, matrix: {include: [{n: 1}, {n: 2}]}}
  read: {run: cat, stdin: gen}
""") == ["wf.yaml:4:27: step 'read' reads stdin from matrix step 'gen', which has 2 instances; a pipe has one producer"]


def test_an_include_variable_in_secrets_is_an_error_at_its_key() -> None:
    assert errors_of("""
secrets: [TOKEN]
steps:
  s:
    run: x
    matrix:
      os: [linux]
      include:
        - os: linux
          TOKEN: abc
        - TOKEN: def
""") == ["wf.yaml:10:11: matrix variable 'TOKEN' is in secrets, but its values name the step's instances "
         "(s[TOKEN=...]) in logs and reports — pass a secret through env instead"]


def test_exclude_errors_point_at_the_key_or_the_value() -> None:
    assert errors_of("""
steps:
  s:
    run: x
    matrix:
      os: [linux, macos]
      exclude: [{oss: linux}, {os: macoss}]
""") == [
        "wf.yaml:7:18: unknown matrix variable 'oss' in steps.s.matrix.exclude.0.oss — did you mean 'os'?",
        "wf.yaml:7:36: unknown os value 'macoss' in steps.s.matrix.exclude.1.os — did you mean 'macos'?",
    ]
