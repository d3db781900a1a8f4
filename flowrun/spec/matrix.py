"""A step's ``matrix:`` with ``include`` and ``exclude``, expanded as GitHub Actions expands it (SPEC §9).

GitHub's rules (docs, "Expanding or adding matrix configurations" and "Excluding
matrix configurations"; its workflow parser's ``MatrixBuilder`` does the same):

- the variables' cross product, first variable slowest;
- ``exclude`` first: "An excluded configuration only has to be a partial match for
  it to be excluded", and "All include combinations are processed after exclude";
- then each ``include`` entry: "the key:value pairs in the object will be added to
  each of the matrix combinations if none of the key:value pairs overwrite any of
  the original matrix values", and "the original matrix values will not be
  overwritten, but added matrix values can be overwritten" (a later entry wins);
- "If the object cannot be added to any of the matrix combinations, a new matrix
  combination will be created instead"; entries match original combinations only.

Values are compared as the file spelled them (they are text here, SPEC §6).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from flowrun.spec.fields import MatrixValue, distinct_values
from flowrun.spec.words import problem, unknown_word

__all__ = ["EMPTY", "MATRIX_SCHEMA", "VARIABLE_PATTERN", "Matrix", "check_secret_variables", "combinations", "label"]

VARIABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

Combination = dict[str, str]
Entry = Mapping[str, str]


def combinations(
    variables: Mapping[str, Sequence[str]], include: Sequence[Entry] = (), exclude: Sequence[Entry] = ()
) -> list[Combination]:
    """Every combination, in order: the kept product extended by ``include``, then the entries that matched none.

    Each combination lists the matrix's own variables first (in the order they were
    written), then those an ``include`` adds, in the order the entries first name them.
    """
    return [values for values, _ in _expand(variables, include, exclude)]


def _matches(combination: Mapping[str, str], entry: Entry, variables: Mapping[str, object]) -> bool:
    """Does ``entry`` agree with every original value it names? (Keys the matrix does not have never block.)"""
    return all(combination.get(key) == value for key, value in entry.items() if key in variables)


def _expand(
    variables: Mapping[str, Sequence[str]], include: Sequence[Entry], exclude: Sequence[Entry]
) -> list[tuple[Combination, int | None]]:
    """Each combination, with the index of the include entry that made it (None: from the product)."""
    names = list(variables)
    order = names + list(dict.fromkeys(key for entry in include for key in entry if key not in variables))
    product = [dict(zip(names, values, strict=True)) for values in itertools.product(*variables.values())] \
        if names else []
    kept = [c for c in product if not any(_matches(c, entry, variables) for entry in exclude)]
    added: list[Combination] = [{} for _ in kept]
    unmatched: list[int] = []
    for index, entry in enumerate(include):
        extra = {key: value for key, value in entry.items() if key not in variables}
        hits = [more for combination, more in zip(kept, added, strict=True) if _matches(combination, entry, variables)]
        for more in hits:
            more.update(extra)  # a later entry overwrites what an earlier one added
        if not hits:
            unmatched.append(index)

    def ordered(values: Mapping[str, str]) -> Combination:
        return {name: values[name] for name in order if name in values}

    out: list[tuple[Combination, int | None]] = [
        (ordered({**c, **more}), None) for c, more in zip(kept, added, strict=True)
    ]
    return out + [(ordered(include[index]), index) for index in unmatched]


def label(values: Mapping[str, str]) -> str:
    """``os=linux,py=3.11``: what an instance's name holds between its brackets."""
    return ",".join(f"{name}={value}" for name, value in values.items())


_Value = Annotated[list[MatrixValue], Field(min_length=1), AfterValidator(distinct_values)]
_Entry = Annotated[dict[Annotated[str, StringConstraints(pattern=VARIABLE_PATTERN)], MatrixValue], Field(min_length=1)]


class _Spec(BaseModel):
    """``matrix:`` as written: the variables are its other keys."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, _Value] = Field(init=False)

    include: list[_Entry] | None = None
    exclude: list[_Entry] | None = None


_SCALAR = {"type": ["string", "number", "boolean"]}
_ENTRY = {"type": "object", "minProperties": 1, "propertyNames": {"pattern": VARIABLE_PATTERN},
          "additionalProperties": _SCALAR}
MATRIX_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "NAME → list of values; include: combinations to extend or add; exclude: combinations to drop",
    "properties": {
        "include": {"type": "array", "items": _ENTRY},
        "exclude": {"type": "array", "items": _ENTRY},
    },
    "propertyNames": {"pattern": VARIABLE_PATTERN},
    "additionalProperties": {"type": "array", "minItems": 1, "items": _SCALAR},
}


class Matrix(Mapping[str, tuple[str, ...]]):
    """A step's matrix: its own variables → their values, as a mapping, with ``include`` and ``exclude``.

    ``combinations`` is what they make (empty: the step is not a matrix step). Iterating
    gives the matrix's own variables only, as a plain ``dict`` of lists did before.
    """

    __slots__ = ("_variables", "combinations", "exclude", "include")

    def __init__(
        self, variables: Mapping[str, Sequence[str]] | None = None,
        include: Sequence[Entry] = (), exclude: Sequence[Entry] = (),
    ) -> None:
        self._variables = {name: tuple(values) for name, values in (variables or {}).items()}
        self.include: tuple[Combination, ...] = tuple(dict(entry) for entry in include)
        self.exclude: tuple[Combination, ...] = tuple(dict(entry) for entry in exclude)
        self.combinations: tuple[Combination, ...] = tuple(combinations(self._variables, self.include, self.exclude))

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return self._variables[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._variables)

    def __len__(self) -> int:
        return len(self._variables)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Matrix):
            return NotImplemented
        return (self._variables, self.include, self.exclude) == (other._variables, other.include, other.exclude)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Matrix({self._variables!r}, include={list(self.include)!r}, exclude={list(self.exclude)!r})"

    def as_data(self) -> dict[str, Any]:
        """The ``matrix:`` mapping this was read from."""
        data: dict[str, Any] = {name: list(values) for name, values in self._variables.items()}
        for key in ("include", "exclude"):
            if getattr(self, key):
                data[key] = [dict(entry) for entry in getattr(self, key)]
        return data

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        # a mapping first, so `matrix: [a]` reads "Input should be a valid dictionary" like any mapping field
        parse = core_schema.chain_schema([core_schema.dict_schema(), handler.generate_schema(_Spec)])
        return core_schema.no_info_wrap_validator_function(
            lambda value, inner: value if isinstance(value, Matrix) else _from_spec(inner(value)), parse,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda m: m.as_data()),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return dict(MATRIX_SCHEMA)


EMPTY = Matrix()


def _from_spec(spec: _Spec) -> Matrix:
    """Check what one entry alone cannot show (names, exclude against the variables, the result), then build."""
    variables: dict[str, list[str]] = dict(spec.__pydantic_extra__ or {})
    include, exclude = spec.include or [], spec.exclude or []
    problems = [
        InitErrorDetails(type="string_pattern_mismatch", loc=(name, "[key]"), input=name,
                         ctx={"pattern": VARIABLE_PATTERN})
        for name in variables if not re.match(VARIABLE_PATTERN, name)
    ]
    for i, entry in enumerate(exclude):
        for key, value in entry.items():
            if key not in variables:  # GitHub: "Matrix exclude key ... does not match any key within the matrix"
                error = unknown_word("matrix variable", key, variables, at_key=True) if variables else problem(
                    f"exclude names {key!r}, but this matrix has no variables of its own to exclude", at_key=True)
                problems.append(InitErrorDetails(type=error, loc=("exclude", i, key), input=key))
            elif value not in variables[key]:  # could never match: a typo, or 1.1 for 1.10 (compared as spelled)
                error = unknown_word(f"{key} value", value, variables[key])
                problems.append(InitErrorDetails(type=error, loc=("exclude", i, key), input=value))
    if problems:
        raise ValidationError.from_exception_data("Matrix", problems)
    expanded = _expand(variables, include, exclude)
    seen: dict[str, int | None] = {}
    for values, made_by in expanded:
        name = label(values)
        if name not in seen:
            seen[name] = made_by
        elif made_by is None:  # only a value holding ',' or '=' can do that
            problems.append(_value_error((), f"two combinations are both named [{name}]"))
        else:
            earlier = seen[name]
            first = "the matrix's own combinations" if earlier is None else f"include entry {earlier + 1}"
            problems.append(_value_error(("include", made_by), f"makes the instance [{name}] a second time "
                                         f"({first} made it already); each instance runs once"))
    if not expanded and (variables or spec.model_fields_set):
        why = "exclude drops every combination and no include adds one" if variables \
            else "a matrix needs a variable (NAME: [values]) or an include entry"
        problems.append(_value_error((), why))
    if problems:
        raise ValidationError.from_exception_data("Matrix", problems)
    return Matrix(variables, include, exclude) if expanded else EMPTY


def _value_error(loc: tuple[str | int, ...], message: str) -> InitErrorDetails:
    return InitErrorDetails(type="value_error", loc=loc, input=None, ctx={"error": ValueError(message)})


def check_secret_variables(workflow: Any) -> Any:
    """``Workflow``'s after-validator: an ``include`` may add a variable named in ``secrets``, whose values
    would name instances, as for the matrix's own variables (which the plan checks).

    One error per step and variable, at its first key; the workflow is returned as it came.
    """
    secret = set(workflow.secrets)
    problems: list[InitErrorDetails] = []
    for base, step in workflow.steps.items():
        reported: set[str] = set()
        for i, entry in enumerate(step.matrix.include):
            for name in entry:
                if name in secret and name not in step.matrix and name not in reported:
                    reported.add(name)
                    error: PydanticCustomError = problem(
                        f"matrix variable {name!r} is in secrets, but its values name the step's instances "
                        f"({base}[{name}=...]) in logs and reports", "pass a secret through env instead", at_key=True)
                    problems.append(InitErrorDetails(type=error, loc=("steps", base, "matrix", "include", i, name),
                                                     input=name))
    if problems:
        raise ValidationError.from_exception_data("Workflow", problems)
    return workflow
