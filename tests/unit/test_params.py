"""``params:``: the model, a run's values (``resolve_params``), ``-p`` parsing, probe addresses, the cache data."""

from __future__ import annotations

import pytest

from flowrun.errors import UsageError, WorkflowError
from flowrun.load import load_text
from flowrun.spec.bindings import check_addresses, parse_assignments, resolve_params
from flowrun.spec.runtime import ReadyProbe, RunParam, RunStep, params_data, params_from_data

FILE = """
params:
  version: {default: "0.0.0-dev", description: Version to stamp}
  channel: {choices: [beta, stable], required: true}
  dry_run: "false"
  ratio: 1.10
  flag: true
  loud: True
  optional:
  region: {required: true}
steps:
  a: {cmd: [echo, "${{ params.version }}"]}
"""


def _declared() -> dict[str, RunParam]:
    return dict(load_text(FILE, "wf.yaml").params)  # type: ignore[arg-type]


def test_short_and_long_forms_keep_values_as_spelled() -> None:
    params = load_text(FILE, "wf.yaml").params
    assert params["version"].default == "0.0.0-dev" and params["version"].description == "Version to stamp"
    assert params["channel"].required and params["channel"].choices == ["beta", "stable"]
    assert params["channel"].default is None
    assert (params["dry_run"].default, params["ratio"].default, params["flag"].default, params["loud"].default) == \
        ("false", "1.10", "true", "True")
    assert params["optional"].default is None and not params["optional"].required


def test_defaults_apply_and_given_values_win() -> None:
    values = resolve_params(_declared(), {"channel": "beta", "region": "eu", "version": "1.2.3"})
    assert values == {"version": "1.2.3", "channel": "beta", "dry_run": "false", "ratio": "1.10", "flag": "true",
                      "loud": "True", "optional": "", "region": "eu"}


def test_an_unknown_name_gets_a_did_you_mean() -> None:
    with pytest.raises(UsageError, match=r"^unknown parameter 'chanel' — did you mean 'channel'\?$"):
        resolve_params(_declared(), {"chanel": "beta", "region": "eu"})


def test_unknown_names_far_from_any_list_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"^unknown parameter 'zzz' \(known: 'version', 'channel', "):
        resolve_params(_declared(), {"zzz": "1"})
    with pytest.raises(UsageError, match=r"^unknown parameters 'zzz', 'yyy' \(known: "):
        resolve_params(_declared(), {"zzz": "1", "yyy": "2"})


def test_a_workflow_without_params_says_so() -> None:
    with pytest.raises(UsageError, match="this workflow declares no params"):
        resolve_params({}, {"x": "1"})


def test_every_missing_required_parameter_is_named_in_one_line() -> None:
    with pytest.raises(UsageError) as info:
        resolve_params(_declared(), {})
    assert str(info.value) == ("missing required parameters 'channel', 'region' "
                               "(give -p channel=VALUE -p region=VALUE)")
    with pytest.raises(UsageError, match=r"^missing required parameter 'region' \(give -p region=VALUE\)$"):
        resolve_params(_declared(), {"channel": "beta"})


def test_a_value_outside_the_choices_lists_them() -> None:
    with pytest.raises(UsageError) as info:
        resolve_params(_declared(), {"channel": "prod", "region": "eu"})
    assert str(info.value) == "parameter 'channel' is 'prod', not one of its choices 'beta', 'stable'"
    with pytest.raises(UsageError, match=r"— did you mean 'stable'\?$"):
        resolve_params(_declared(), {"channel": "stabel", "region": "eu"})


def test_choices_are_compared_as_spelled() -> None:
    declared = {"py": RunParam(default="3.10", choices=["3.10", "3.11"])}
    assert resolve_params(declared, {}) == {"py": "3.10"}
    with pytest.raises(UsageError):
        resolve_params(declared, {"py": "3.1"})


def test_a_value_must_be_text_without_nul() -> None:
    declared = {"n": RunParam(default="1")}
    with pytest.raises(UsageError, match="takes text"):
        resolve_params(declared, {"n": 3})  # type: ignore[dict-item]
    with pytest.raises(UsageError, match="NUL"):
        resolve_params(declared, {"n": "a\x00b"})


@pytest.mark.parametrize(("items", "values"), [
    ([], {}),
    (["a=1"], {"a": "1"}),
    (["a=x=y", "b="], {"a": "x=y", "b": ""}),
    (["a=1", "a=2"], {"a": "2"}),
    (["a= spaced value "], {"a": " spaced value "}),
])
def test_assignments(items: list[str], values: dict[str, str]) -> None:
    assert parse_assignments(items) == values


@pytest.mark.parametrize("item", ["a", "=1", " =1", "", "a =1"])
def test_a_malformed_assignment_is_one_usage_error(item: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_assignments(["ok=1", item])
    assert "\n" not in str(info.value) and "NAME=VALUE" in str(info.value)


def test_probe_addresses_are_checked_with_the_values() -> None:
    steps = {
        "db": RunStep(run="x", service=True, ready=ReadyProbe(tcp="${{ params.host }}:${{ params.port }}")),
        "web": RunStep(run="x", service=True, ready=ReadyProbe(http="http://${{ params.host }}/")),
        "fixed": RunStep(run="x", service=True, ready=ReadyProbe(tcp="127.0.0.1:1")),
    }
    check_addresses(steps, {"host": "localhost", "port": "5432"})
    with pytest.raises(UsageError, match=r"^step 'db': ready.tcp .* is 'localhost:99999' .*outside 1-65535"):
        check_addresses(steps, {"host": "localhost", "port": "99999"})
    with pytest.raises(UsageError, match=r"step 'web': ready.http .* is 'http:///'"):
        check_addresses({"web": steps["web"]}, {"host": ""})


def test_declared_params_round_trip_through_the_cache_data() -> None:
    params = load_text(FILE, "wf.yaml").params
    data = params_data(params)
    assert data["version"] == {"default": "0.0.0-dev", "description": "Version to stamp"}
    assert data["channel"] == {"required": True, "choices": ["beta", "stable"]}
    assert data["optional"] == {}
    back = params_from_data(data)
    assert params_data(back) == data
    given = {"channel": "beta", "region": "eu"}
    assert resolve_params(back, given) == resolve_params(params, given)


def _errors(text: str) -> list[str]:
    with pytest.raises(WorkflowError) as info:
        load_text(text, "wf.yaml")
    return [str(d) for d in info.value.diagnostics]


def test_a_probe_address_with_params_loads_and_is_checked_with_the_defaults() -> None:
    ok = load_text("""
params: {port: "5432", host: {required: true}}
steps:
  db: {service: true, run: x, ready: {tcp: "127.0.0.1:${{ params.port }}"}}
  web: {service: true, run: x, ready: {http: "http://${{ params.host }}/"}}
""", "wf.yaml")
    assert ok.steps["db"].ready is not None and ok.steps["db"].ready.tcp == "127.0.0.1:${{ params.port }}"
    assert _errors("""
params: {port: "0"}
steps:
  db: {service: true, run: x, ready: {tcp: "127.0.0.1:${{ params.port }}"}}
""") == ["wf.yaml:4:44: ready.tcp is '127.0.0.1:0' with the defaults of its parameters: port 0 is outside 1-65535"]
    # without ${{ the address is still checked as the model reads it
    assert _errors("steps: {db: {service: true, run: x, ready: {tcp: 'nohost'}}}")[0].startswith(
        "wf.yaml:1:50: steps.db.ready.tcp: expected HOST:PORT")


def test_references_positions_and_reading_through_others() -> None:
    text = """
params: {v: "1"}
steps:
  build.linux: {run: x}
  check: {run: x, depends_on: [build.linux]}
  deploy:
    depends_on: {check: failure}
    cmd: [echo, "${{ steps.build.linux.outputs.v }}", '${{ params.v }}${{ params.vv }}']
"""
    assert _errors(text) == ["wf.yaml:8:82: unknown parameter 'vv' — did you mean 'v'?"]
    load_text(text.replace("${{ params.vv }}", ""), "wf.yaml")  # through check, on any condition


def test_a_workflow_without_params_hints_at_declaring_one() -> None:
    assert _errors("steps: {a: {cmd: [echo, '${{ params.x }}']}}") == [
        "wf.yaml:1:37: unknown parameter 'x' — declare it: params: {x: VALUE}"]


def test_handlers_read_any_step_but_a_matrix_step() -> None:
    text = """
steps:
  build: {run: x}
  test: {run: x, matrix: {os: [a, b]}}
handlers:
  finally:
    env: {A: "${{ steps.build.outputs.v }}", B: "${{ steps.test.outputs.v }}", C: "${{ steps.buil.outputs.v }}"}
    run: x
"""
    assert _errors(text) == [
        "wf.yaml:7:60: handler 'finally' reads an output of matrix step 'test', whose outputs cannot be read "
        "(it runs as 2 instances)",
        "wf.yaml:7:94: handler 'finally' reads an output of unknown step 'buil' — did you mean 'build'?",
    ]


def test_a_step_cannot_read_a_handler() -> None:
    text = """
steps:
  a: {cmd: [echo, "${{ steps.on_failure.outputs.v }}"]}
handlers:
  on_failure: {run: x}
"""
    assert _errors(text) == ["wf.yaml:3:30: step 'a' reads an output of handler 'on_failure' — a handler runs after "
                             "every step: no step can read its outputs"]


def test_other_templates_in_a_script_stay_text() -> None:
    wf = load_text("steps: {a: {run: 'echo ${{ github.sha }} ${{ matrix.os }}', description: '${{ params.x }}'}}",
                   "wf.yaml")
    assert wf.steps["a"].run == "echo ${{ github.sha }} ${{ matrix.os }}"


def test_a_block_scalar_points_at_its_value() -> None:
    assert _errors("steps:\n  a:\n    env:\n      V: |\n        ${{ param.x }}\n    run: x\n") == [
        "wf.yaml:4:10: unknown name 'param' in an expression (expected 'steps' or 'params') — did you mean 'params'?"]


def test_the_schema_takes_both_forms_and_refuses_bad_names_and_fields() -> None:
    import jsonschema

    from flowrun.spec.schema import json_schema

    schema = json_schema()
    good = {"a": "x", "b": 1.5, "c": True, "d": None,
            "e": {"default": "x", "choices": ["x", 1], "required": False, "description": "d"}}
    jsonschema.validate({"params": good, "steps": {"s": {"run": "x"}}}, schema)
    for bad in ({"bad-name": "x"}, {"a": {"defualt": 1}}, {"a": [1]}, {"a": {"choices": []}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"params": bad, "steps": {"s": {"run": "x"}}}, schema)
