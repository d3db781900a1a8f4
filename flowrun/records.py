"""``@record``: the part of ``dataclasses.dataclass`` flowrun uses, made with one ``exec`` per class.

flowrun defines some 45 plain data classes on the path of every ``flowrun up``.
``dataclasses`` imports ``inspect`` (with ``ast``, ``dis``, ``tokenize``) and
compiles each generated method on its own; together that was the largest
single cost of a one-step run after asyncio. ``record`` takes the same
arguments flowrun passes to ``dataclass`` (``frozen``, ``slots``, ``eq``,
``order``) and gives the same ``__init__`` (defaults, ``field(default_factory=)``,
``__post_init__``), ``__repr__``, ``__eq__``, ordering, ``__hash__`` (frozen and
eq: by value; eq alone: unhashable), ``__match_args__``, and, when frozen, a
``__setattr__``/``__delattr__`` raising ``FrozenInstanceError``. A method the
class defines itself is kept. ``fields`` and ``replace`` stand for their
``dataclasses`` namesakes. Nothing else of ``dataclasses`` is offered (no
``asdict``, ``InitVar``, ``KW_ONLY``).
"""

from __future__ import annotations

import os
import sys

__all__ = ["FrozenInstanceError", "field", "fields", "record", "replace"]

_MISSING = object()
_FACTORY = object()  # the __init__ default of a field with a default_factory


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


class Field:
    """A field's name, default and default factory (as ``dataclasses.Field``'s)."""

    __slots__ = ("default", "default_factory", "name")

    def __init__(self, default: object = _MISSING, default_factory: object = _MISSING) -> None:
        self.name = ""
        self.default, self.default_factory = default, default_factory


def field(*, default: object = _MISSING, default_factory: object = _MISSING) -> object:
    """A field with a default factory (``field(default_factory=list)``) or a plain default."""
    return Field(default, default_factory)


MISSING = _MISSING


def fields(cls_or_instance: object) -> tuple[Field, ...]:
    """The fields of a record class or instance, in ``__init__`` order."""
    return getattr(cls_or_instance, "__record_fields__")  # noqa: B009 - AttributeError for anything else


def replace(obj: object, **changes: object) -> object:
    """A copy of ``obj`` with ``changes`` (through ``__init__``, as ``dataclasses.replace``)."""
    values = {f.name: getattr(obj, f.name) for f in fields(obj)}
    values.update(changes)
    return obj.__class__(**values)


def _is_classvar(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return text.startswith(("ClassVar", "typing.ClassVar"))


def record(cls: type | None = None, /, *, frozen: bool = False, slots: bool = False, eq: bool = True,
           order: bool = False) -> object:
    """``@record`` or ``@record(frozen=..., slots=..., eq=..., order=...)``, as ``@dataclass``."""

    def wrap(cls: type) -> type:
        return _process(cls, frozen, slots, eq, order)

    return wrap if cls is None else wrap(cls)


def _process(cls: type, frozen: bool, slots: bool, eq: bool, order: bool) -> type:
    all_fields, own = _collect(cls)
    names = list(all_fields)
    defined = set(cls.__dict__)
    if eq and not frozen and "__hash__" not in defined:
        cls.__hash__ = None  # type: ignore[assignment] # as dataclasses: eq without frozen is unhashable
    cls.__record_fields__ = tuple(all_fields.values())  # type: ignore[attr-defined]
    cls.__match_args__ = tuple(names)  # type: ignore[attr-defined]
    if slots:
        cls = _with_slots(cls, own)
    groups = {"__init__": "init", "__repr__": "repr"}
    if eq:
        groups.update(__eq__="compare", __hash__="compare" if frozen else None)
    if order:
        groups.update(__lt__="compare", __le__="compare", __gt__="compare", __ge__="compare")
    options = (frozen, eq, order)
    for method, group in groups.items():
        if group is not None and method not in defined:
            setattr(cls, method, _stub(cls, method, group, options))
    if frozen:
        _freeze(cls, frozenset(names))
    return cls


def _stub(cls: type, method: str, group: str, options: tuple[bool, bool, bool]) -> object:
    """A method that compiles its group of methods on first use, then hands over to the real one.

    Most records of a run are defined and never compared or printed, many never made:
    compiling only what is used keeps the definitions nearly free.
    """

    def stub(self: object, *args: object, **kwargs: object) -> object:
        if cls.__dict__.get(method) is stub:
            _compile(cls, group, options)
        return getattr(cls, method)(self, *args, **kwargs)

    stub.__qualname__ = f"{cls.__qualname__}.{method}"
    stub.__name__ = method
    stub._record_stub = True  # type: ignore[attr-defined]
    return stub


def _freeze(cls: type, names: frozenset[str]) -> None:
    """``__setattr__``/``__delattr__`` raising FrozenInstanceError (nothing to compile)."""
    if "__setattr__" not in cls.__dict__:
        def __setattr__(self: object, name: str, value: object) -> None:
            if type(self) is cls or name in names:
                raise FrozenInstanceError(f"cannot assign to field {name!r}")
            super(cls, self).__setattr__(name, value)

        __setattr__.__qualname__ = f"{cls.__qualname__}.__setattr__"
        cls.__setattr__ = __setattr__  # type: ignore[method-assign,assignment]
    if "__delattr__" not in cls.__dict__:
        def __delattr__(self: object, name: str) -> None:
            if type(self) is cls or name in names:
                raise FrozenInstanceError(f"cannot delete field {name!r}")
            super(cls, self).__delattr__(name)

        __delattr__.__qualname__ = f"{cls.__qualname__}.__delattr__"
        cls.__delattr__ = __delattr__  # type: ignore[method-assign,assignment]


def _compile(cls: type, group: str, options: tuple[bool, bool, bool]) -> None:
    frozen, eq, order = options
    all_fields = {f.name: f for f in cls.__record_fields__}  # type: ignore[attr-defined]
    names = list(all_fields)
    namespace: dict[str, object] = {"_FACTORY": _FACTORY, "_set": object.__setattr__}
    if group == "init":
        src = _init_source(cls, all_fields, frozen, namespace)
    elif group == "repr":
        shown = ", ".join(f"{n}={{self.{n}!r}}" for n in names)
        src = ["def __repr__(self):", f"    return f'{{self.__class__.__qualname__}}({shown})'"]
    else:
        src = _compare_source(names, frozen, eq, order)
    exec(_code("\n".join(src)), namespace)
    for name, fn in namespace.items():
        if name.startswith("__") and callable(fn) and getattr(cls.__dict__.get(name), "_record_stub", False):
            fn.__qualname__ = f"{cls.__qualname__}.{name}"
            setattr(cls, name, fn)


#: generated source → its code object. Compiling the ~20 ``__init__`` a one-step run makes takes
#: 4-5 ms, unmarshalling them 0.05 ms: the code is kept in a file in ``__pycache__`` beside this
#: module, as Python keeps a module's bytecode (and only there: never in a project's folder, where
#: a file from a cloned repository would be code that even a shell's TAB runs).
_CODES: dict[str, object] | None = None
_TAG = sys.implementation.cache_tag or "python"
_PYCACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__", f"records.{_TAG}.marshal")
_codes_file = _PYCACHE
_MAX_CODES = 512  # sources of older flowrun versions pile up: start afresh past this


def _code(text: str) -> object:
    global _CODES
    if _CODES is None:
        _CODES = _read_codes()
    code = _CODES.get(text)
    if code is None:
        code = compile(text, "<flowrun.records>", "exec")
        if len(_CODES) >= _MAX_CODES:
            _CODES = {}
        _CODES[text] = code
        _write_codes(_CODES)
    return code


def _read_codes() -> dict[str, object]:
    import marshal

    try:
        with open(_codes_file, "rb") as handle:
            codes = marshal.loads(handle.read())
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    code_type = type(_read_codes.__code__)
    if not isinstance(codes, dict) or not all(isinstance(k, str) and type(v) is code_type for k, v in codes.items()):
        return {}
    return codes


def _write_codes(codes: dict[str, object]) -> None:
    """Best effort; in ``__pycache__`` as Python's own .pyc files: not with PYTHONDONTWRITEBYTECODE."""
    if _codes_file == _PYCACHE and (sys.dont_write_bytecode or sys.implementation.cache_tag is None):
        return
    import marshal

    tmp = f"{_codes_file}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(_codes_file), mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with open(fd, "wb") as handle:
            handle.write(marshal.dumps(codes))
        os.replace(tmp, _codes_file)
    except (OSError, ValueError):
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _collect(cls: type) -> tuple[dict[str, Field], list[str]]:
    """Every field (the bases' first) and the names of the class's own."""
    inherited: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in base.__dict__.get("__record_fields__", ()):
            inherited[f.name] = f
    own: dict[str, Field] = {}
    annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 - inspect is what this module avoids
    for name, annotation in annotations.items():
        if _is_classvar(annotation):
            continue
        default = cls.__dict__.get(name, _MISSING)
        f = default if isinstance(default, Field) else Field(default)
        f.name = name
        own[name] = f
        if isinstance(default, Field):  # as dataclasses: a plain default stays a class attribute
            if f.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
    return {**inherited, **own}, list(own)


def _init_source(cls: type, all_fields: dict[str, Field], frozen: bool, namespace: dict[str, object]) -> list[str]:
    params, body = [], []
    for i, f in enumerate(all_fields.values()):
        value = f.name
        if f.default_factory is not _MISSING:
            namespace[f"_f{i}"] = f.default_factory
            params.append(f"{f.name}=_FACTORY")
            value = f"_f{i}() if {f.name} is _FACTORY else {f.name}"
        elif f.default is not _MISSING:
            namespace[f"_d{i}"] = f.default
            params.append(f"{f.name}=_d{i}")
        else:
            params.append(f.name)
        body.append(f"    _set(self, {f.name!r}, {value})" if frozen else f"    self.{f.name} = {value}")
    if any("__post_init__" in c.__dict__ for c in cls.__mro__[:-1]):
        body.append("    self.__post_init__()")
    return [f"def __init__(self, {', '.join(params)}):", *(body or ["    pass"])]


def _compare_source(names: list[str], frozen: bool, eq: bool, order: bool) -> list[str]:
    values = "(" + "".join(f"self.{n}," for n in names) + ")"
    others = "(" + "".join(f"other.{n}," for n in names) + ")"
    compare = [("==", "__eq__")] if eq else []
    if order:
        compare += [("<", "__lt__"), ("<=", "__le__"), (">", "__gt__"), (">=", "__ge__")]
    src = []
    for op, name in compare:
        src += [f"def {name}(self, other):", "    if other.__class__ is self.__class__:",
                f"        return {values} {op} {others}", "    return NotImplemented"]
    if eq and frozen:
        src += ["def __hash__(self):", f"    return hash({values})"]
    return src


def _with_slots(cls: type, own: list[str]) -> type:
    """The class again with ``__slots__`` for its own fields (as ``dataclass(slots=True)``)."""
    body = dict(cls.__dict__)
    for name in own:
        body.pop(name, None)
    body.pop("__dict__", None)
    body.pop("__weakref__", None)
    body["__slots__"] = tuple(own)
    new = type(cls)(cls.__name__, cls.__bases__, body)
    new.__qualname__ = cls.__qualname__
    return new
