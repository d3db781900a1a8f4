"""The ``${{ }}`` language: every form, every mistake at its offset, literal text kept byte for byte."""

from __future__ import annotations

import random

import pytest

from flowrun.spec.expressions import (
    ExpressionError,
    OutputRef,
    ParamRef,
    Text,
    has_expression,
    located,
    parse,
    references,
    render,
)


@pytest.mark.parametrize(("text", "parts"), [
    ("${{ steps.build.outputs.version }}", (OutputRef("build", "version"),)),
    ("${{ params.channel }}", (ParamRef("channel"),)),
    ("${{params.x}}", (ParamRef("x"),)),
    ("${{ \t params.x\n }}", (ParamRef("x"),)),
    ("v=${{ params.a }}-${{ steps.b.outputs.c }}!", (Text("v="), ParamRef("a"), Text("-"), OutputRef("b", "c"),
                                                      Text("!"))),
    ("${{ params.a }}${{ params.b }}", (ParamRef("a"), ParamRef("b"))),
    # STEP is all between "steps." and the last ".outputs."
    ("${{ steps.build.linux.outputs.v }}", (OutputRef("build.linux", "v"),)),
    ("${{ steps.build-1.x_y.outputs._v2 }}", (OutputRef("build-1.x_y", "_v2"),)),
    ("${{ steps.a.outputs.outputs.b }}", (OutputRef("a.outputs", "b"),)),
    ("${{ steps.outputs.outputs.v }}", (OutputRef("outputs", "v"),)),
    ("${{ steps.1.outputs.v }}", (OutputRef("1", "v"),)),
    ("${{ params.a }}}", (ParamRef("a"), Text("}"))),
])
def test_every_form(text: str, parts: tuple[object, ...]) -> None:
    assert parse(text) == parts


@pytest.mark.parametrize("text", [
    "", "plain", "$", "${", "${HOME}", "$${HOME}", "${ {", "{{ params.a }}", "}}", "$ {{ steps.a.outputs.b }}",
    "ünïcödé ✓", "a\x00b", "\\${", "${ {{", "$\n{{ params.x }}", "$${ {", "${}}",
])
def test_text_without_an_expression_is_kept_as_written(text: str) -> None:
    assert not has_expression(text)
    assert parse(text) == ((Text(text),) if text else ())


def test_hostile_text_around_expressions_is_kept_byte_for_byte() -> None:
    hostile = "$(rm -rf /) `x` ${HOME} $'\\n' \" ' ; | & }} {{ $ ${ \x1b[31m ü \t\n"
    template = parse(hostile + "${{ params.p }}" + hostile)
    assert template == (Text(hostile), ParamRef("p"), Text(hostile))
    assert render(template, {"p": "$(x)"}, _no_output) == hostile + "$(x)" + hostile


def test_random_text_is_parsed_or_refused_with_an_offset_inside_it() -> None:
    rng = random.Random(20240601)
    alphabet = ["$", "{", "}", "${{", "}}", " ", ".", "steps", "params", "outputs", "a", "1", "-", "[", "\n", "é",
                "${{ params.a }}", "${{ steps.s.outputs.o }}", "params.b", "steps.x.y.outputs.z"]
    parsed = refused = with_references = 0
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        try:
            template = parse(text)
        except ExpressionError as exc:
            assert 0 <= exc.offset <= len(text), (text, exc.offset)
            assert exc.message
            refused += 1
            continue
        parsed += 1
        with_references += len(template) != sum(isinstance(p, Text) for p in template)
        # literal parts hold no "${{", and the template written out again parses to itself
        assert all("${{" not in p.text for p in template if isinstance(p, Text))
        again = render(template, _Echo(), lambda step, name: f"${{{{ steps.{step}.outputs.{name} }}}}")
        assert parse(again) == template, text
    assert parsed > 300 and refused > 300 and with_references > 100, (parsed, refused, with_references)


@pytest.mark.parametrize(("text", "offset", "message", "hint"), [
    ("x ${{ steps.a.outputs.b", 2, "unclosed '${{'", "'}}'"),
    ("${{ params.a }} ${{ params.b }", 16, "unclosed '${{'", None),
    ("${{ params.a ${{ params.b }}", 0, "another '${{' opens", None),
    ("${{ }}", 0, "empty expression '${{ }}'", "${{ params.NAME }}"),
    ("ab${{}}", 2, "empty expression '${{}}'", None),
    ("${{ step.build.outputs.v }}", 4, "unknown name 'step'", "did you mean 'steps'?"),
    ("${{ param.x }}", 4, "unknown name 'param'", "did you mean 'params'?"),
    ("${{ Steps.a.outputs.b }}", 4, "unknown name 'Steps'", "did you mean 'steps'?"),
    ("${{ needs.a.outputs.b }}", 4, "unknown name 'needs'", "did you mean 'steps'?"),
    ("${{ inputs.x }}", 4, "unknown name 'inputs'", "did you mean 'params'?"),
    ("${{ env.HOME }}", 4, "unknown name 'env'", "$NAME"),
    ("${{ github.sha }}", 4, "unknown name 'github'", "${{ params.NAME }}"),
    ("${{ 'a' }}", 4, "unexpected \"'\" at the start", None),
    ("${{ steps.build.outptus.v }}", 16, "unknown word 'outptus'", "did you mean 'outputs'?"),
    ("${{ steps.build.output.v }}", 16, "unknown word 'output'", "did you mean 'outputs'?"),
    ("${{ steps.build.outputs }}", 23, "missing output name after 'outputs'", None),
    ("${{ steps.build.outputs. }}", 24, "missing output name after 'steps.build.outputs.'", None),
    ("${{ steps }}", 9, "missing step name after 'steps'", None),
    ("${{ steps. }}", 10, "missing step name after 'steps.'", None),
    ("${{ steps..outputs.x }}", 10, "missing step name after 'steps.'", None),
    ("${{ steps.outputs.x }}", 10, "missing step name between", None),
    ("${{ steps.build }}", 15, "'steps.build' names no output", None),
    ("${{ steps.build.v }}", 17, "'steps.build.v' names no output", None),
    ("${{ steps . build.outputs.v }}", 9, "missing step name after 'steps'", None),
    ("${{ steps.a.outputs.b.c }}", 21, "unexpected '.c' after 'steps.a.outputs.b'", "no dot"),
    ("${{ steps.b[os=linux].outputs.v }}", 11, "unexpected '['", "matrix step"),
    ("${{ steps.b.outputs.v-1 }}", 20, "'v-1' is not a valid output name", None),
    ("${{ steps.b.outputs.1v }}", 20, "'1v' is not a valid output name", None),
    ("${{ params }}", 10, "missing parameter name after 'params'", None),
    ("${{ params. }}", 11, "missing parameter name after 'params.'", None),
    ("${{ params.1x }}", 11, "'1x' is not a valid parameter name", None),
    ("${{ params.a-b }}", 11, "'a-b' is not a valid parameter name", None),
    ("${{ params.a b }}", 13, "unexpected 'b' after 'params.a'", "one reference"),
    ("${{ params.a.b }}", 12, "unexpected '.' after 'params.a'", "holds no dot"),
    ("${{ params.a || params.b }}", 13, "unexpected '|' after 'params.a'", None),
    ("${{ params.a }", 0, "unclosed '${{'", None),
    ("${{ format('{0}', params.a) }}", 4, "unknown name 'format'", None),
])
def test_every_mistake_has_its_offset(text: str, offset: int, message: str, hint: str | None) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    error = info.value
    assert error.offset == offset, text[error.offset:]
    assert message in error.message
    if hint is not None:
        assert error.hint is not None and hint in error.hint
    assert str(error).startswith(error.message)
    assert isinstance(error, ValueError)


def test_has_expression() -> None:
    assert has_expression("a ${{ b")
    assert not has_expression("${ {") and not has_expression("$ {{")


def test_render_and_references() -> None:
    template = parse("${{ params.a }}/${{ steps.s.outputs.o }}/${{ params.a }}/${{ steps.t.u.outputs.o }}")
    assert render(template, {"a": "A"}, lambda step, name: f"{step}:{name}") == "A/s:o/A/t.u:o"
    assert references(template) == [ParamRef("a"), OutputRef("s", "o"), OutputRef("t.u", "o")]
    with pytest.raises(KeyError):
        render(template, {}, lambda step, name: "")


def test_render_passes_errors_of_output_through() -> None:
    class Unset(Exception):
        pass

    def output(step: str, name: str) -> str:
        raise Unset(step, name)

    with pytest.raises(Unset):
        render(parse("${{ steps.a.outputs.b }}"), {}, output)


def test_located_gives_the_offset_of_each_reference() -> None:
    text = "x${{ params.abc }} ${{   steps.b.c.outputs.d }}"
    found = located(text)
    assert found == [(5, ParamRef("abc")), (25, OutputRef("b.c", "d"))]
    assert text[5 + len("params."):].startswith("abc")
    assert text[25 + len("steps."):].startswith("b.c")


def _no_output(step: str, name: str) -> str:
    raise AssertionError(step, name)


class _Echo(dict):  # type: ignore[type-arg]
    """Renders ``params.NAME`` as the expression itself."""

    def __missing__(self, key: str) -> str:
        return f"${{{{ params.{key} }}}}"
