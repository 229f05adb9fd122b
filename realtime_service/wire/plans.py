"""The checked fast path without marshmallow: loaders and dumpers compiled from a *plan*, a plain-data snapshot of
a schema tree, so a process can validate and encode its first request without importing marshmallow or building
the schema classes (most of a cold start).

A plan is what :func:`realtime_service.wire.fastpath.describe` reads off a schema instance: nested tuples naming
each field's kind, its validators (``OneOf``, ``Range``, ``Length``, ``Regexp``), its sub-plans and the dataclass
each schema builds. A family keeps the plans of the operations a first call needs as a generated module, and a
test checks that they equal what ``describe`` reads off the live schemas, so they cannot drift.

Like :mod:`realtime_service.wire.fastpath`, the functions here only ever *accept*: they take the exact JSON types
(``str``, ``int``, ``float``, ``bool``, ``list``, ``dict``) and run checks equal to the validators' own; for
anything else they return :data:`FALLBACK` (loaders) or raise :class:`Unsure` (dumpers), and the codec builds
the real schema, which has the last word and writes the messages.

Plan shapes (every field plan is ``(kind, allow_none, checks, ...)``)::

    schema:  ("schema", model | None, include, lenient, ((name, field, required), ...))
    leaf:    ("leaf", allow_none, checks, "string" | "integer" | "boolean" | "number" | "object"
                                        | ("integer_or_inf", minimum, maximum))
    nested:  ("nested", allow_none, checks, literals | None, schema)
    list:    ("list", allow_none, checks, inner)
    tagged:  ("tagged", allow_none, checks, tag, default, ((name, nested), ...))
    union:   ("union", allow_none, checks, (("string" | "array" | "object", field), ...))
    map:     ("map", allow_none, checks, values)
    checks:  ("one_of", choices) | ("range", min, max, min_inclusive, max_inclusive)
             | ("length", min, max, equal) | ("regexp", pattern, flags)
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from realtime_service.wire.values import NOT_GIVEN, json_copy, json_kind, json_problem, utf8_encodable

#: What a compiled loader returns when it is not sure (the same object as ``fastpath.FALLBACK``).
FALLBACK: Any = object()

Plan = tuple[Any, ...]
_Loader = Callable[[Any], Any]
_Dumper = Callable[[Any], Any]
_Check = Callable[[Any], bool]


class Unsure(Exception):
    """A compiled dumper met a value it cannot dump exactly like the schema (the caller asks the schema)."""


# --- loading -------------------------------------------------------------------------------------------------


def compile_plan_loader(plan: Plan, *, build: bool = True) -> _Loader:
    """A function that loads like the planned schema's ``load`` for valid input and returns ``FALLBACK``
    otherwise; with ``build=False`` it only validates (see ``fastpath.compile_loader``)."""
    _, model, include, lenient, fields = plan
    field_loaders = {name: _compile_field(field, build) for name, field, _ in fields}
    required = tuple(name for name, _, is_required in fields if is_required)
    null_means_absent = frozenset(name for name, field, _ in fields if lenient and not field[1])
    make = _model_builder(model, tuple(name for name, _, _ in fields)) if build and model is not None else None
    keep_unknown = include and make is None

    def load(data: Any) -> Any:
        if type(data) is not dict:
            return FALLBACK
        out: dict[str, Any] = {}
        for key, value in data.items():
            loader = field_loaders.get(key)
            if loader is None:
                if not include:
                    return FALLBACK
                if keep_unknown:
                    out[key] = value
                continue
            if value is None and key in null_means_absent:
                continue
            result = loader(value)
            if result is FALLBACK:
                return FALLBACK
            out[key] = result
        for name in required:
            if name not in out:
                return FALLBACK
        return out if make is None else make(out)

    return load


def _model_builder(model: type[Any], names: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    defaults = {f.name: f.default for f in dataclasses.fields(model)}
    explicit = tuple(name for name in names if defaults.get(name, dataclasses.MISSING) is not NOT_GIVEN)

    def make(out: dict[str, Any]) -> Any:
        for name in explicit:
            if name not in out:
                out[name] = NOT_GIVEN
        return model(**out)

    return make


def _compile_field(field: Plan, build: bool) -> _Loader:
    kind, allow_none = field[0], field[1]
    null = None if allow_none else FALLBACK
    if kind == "leaf":
        return _compile_leaf(field[3], null, _checks(field[2]))
    if kind == "nested":
        load = _compile_nested(field[4], field[3], build, null)
    elif kind == "list":
        load = _compile_list(field[3], build, null)
    elif kind == "tagged":
        load = _compile_tagged(field[3], field[4], field[5], build, null)
    elif kind == "union":
        load = _compile_union(field[3], build, null)
    elif kind == "map":
        load = _compile_map(field[3], build, null)
    else:
        raise TypeError(f"unknown field plan {kind!r}")
    return _with_checks(load, _checks(field[2]))


def _with_checks(load: _Loader, checks: tuple[_Check, ...]) -> _Loader:
    if not checks:
        return load

    def checked(value: Any) -> Any:
        result = load(value)
        if result is FALLBACK or result is None:
            return result
        for check in checks:
            if not check(result):
                return FALLBACK
        return result

    return checked


def _checks(plans: tuple[Plan, ...]) -> tuple[_Check, ...]:
    return tuple(_compile_check(plan) for plan in plans)


def _compile_check(plan: Plan) -> _Check:
    """A predicate true exactly where the validator passes (the validators' own comparisons)."""
    kind = plan[0]
    if kind == "one_of":
        members = frozenset(plan[1])
        return members.__contains__
    if kind == "range":
        low, high, low_inclusive, high_inclusive = plan[1:]

        def in_range(value: Any) -> bool:
            if low is not None and (value < low if low_inclusive else value <= low):
                return False
            return not (high is not None and (value > high if high_inclusive else value >= high))

        return in_range
    if kind == "length":
        shortest, longest, equal = plan[1:]

        def of_length(value: Any) -> bool:
            length = len(value)
            if equal is not None:
                return bool(length == equal)
            return (shortest is None or length >= shortest) and (longest is None or length <= longest)

        return of_length
    if kind == "regexp":
        match = re.compile(plan[1], plan[2]).match
        return lambda value: match(value) is not None
    raise TypeError(f"unknown check plan {kind!r}")


def _compile_nested(schema: Plan, literals: tuple[str, ...] | None, build: bool, null: Any) -> _Loader:
    nested = compile_plan_loader(schema, build=build)
    accepted = frozenset(literals or ())

    def load_nested(value: Any) -> Any:
        if value is None:
            return null
        if type(value) is str:
            return value if value in accepted else FALLBACK
        return nested(value)

    return load_nested


def _compile_list(inner_plan: Plan, build: bool, null: Any) -> _Loader:
    inner = _compile_field(inner_plan, build)

    def load_list(value: Any) -> Any:
        if type(value) is not list:
            return null if value is None else FALLBACK
        items = []
        for each in value:
            result = inner(each)
            if result is FALLBACK:
                return FALLBACK
            items.append(result)
        return tuple(items)

    return load_list


def _compile_tagged(
    tag_key: str, default: str | None, variant_plans: tuple[tuple[str, Plan], ...], build: bool, null: Any
) -> _Loader:
    variants = {name: _compile_field(variant, build) for name, variant in variant_plans}

    def load_tagged(value: Any) -> Any:
        if type(value) is not dict:
            return null if value is None else FALLBACK
        tag = value.get(tag_key, default)
        if type(tag) is not str:
            return FALLBACK
        loader = variants.get(tag)
        return FALLBACK if loader is None else loader(value)

    return load_tagged


def _compile_union(alternatives: tuple[tuple[str, Plan], ...], build: bool, null: Any) -> _Loader:
    json_types: dict[str, type] = {"string": str, "array": list, "object": dict}
    by_type = {json_types[kind]: _compile_field(alt, build) for kind, alt in alternatives}

    def load_union(value: Any) -> Any:
        loader = by_type.get(type(value))
        if loader is None:
            return null if value is None else FALLBACK
        return loader(value)

    return load_union


def _compile_map(values_plan: Plan, build: bool, null: Any) -> _Loader:
    values = _compile_field(values_plan, build)

    def load_map(value: Any) -> Any:
        if type(value) is not dict:
            return null if value is None else FALLBACK
        out = {}
        for key, item in value.items():
            result = values(item)
            if type(key) is not str or not utf8_encodable(key) or result is FALLBACK:
                return FALLBACK
            out[key] = result
        return out

    return load_map


def _load_string(value: Any) -> Any:
    return value if type(value) is str and utf8_encodable(value) else FALLBACK


def _load_integer(value: Any) -> Any:
    return value if type(value) is int else FALLBACK


def _load_boolean(value: Any) -> Any:
    return value if type(value) is bool else FALLBACK


def _load_number(value: Any) -> Any:
    kind = type(value)
    return value if kind is int or (kind is float and math.isfinite(value)) else FALLBACK


def _load_object(value: Any) -> Any:
    return json_copy(value) if type(value) is dict and json_problem(value) is None else FALLBACK


def _integer_or_inf(minimum: int | None, maximum: int | None) -> _Loader:
    def load(value: Any) -> Any:
        if type(value) is str:
            return value if value == "inf" else FALLBACK
        if type(value) is not int or (minimum is not None and value < minimum):
            return FALLBACK
        return FALLBACK if maximum is not None and value > maximum else value

    return load


#: What each leaf field's ``_deserialize`` returns for the exact JSON types it accepts (``FALLBACK`` otherwise).
LEAF_LOADERS: dict[str, _Loader] = {
    "string": _load_string,
    "integer": _load_integer,
    "boolean": _load_boolean,
    "number": _load_number,
    "object": _load_object,
}


def leaf_loader(kind: str | tuple[Any, ...]) -> _Loader:
    """The loader of one planned leaf kind, without its null handling and validators."""
    if isinstance(kind, tuple):
        if kind[0] != "integer_or_inf":
            raise TypeError(f"unknown leaf plan {kind!r}")
        return _integer_or_inf(kind[1], kind[2])
    return LEAF_LOADERS[kind]


def _compile_leaf(kind: str | tuple[Any, ...], null: Any, checks: tuple[_Check, ...]) -> _Loader:
    deserialize = leaf_loader(kind)

    def load_leaf(value: Any) -> Any:
        if value is None:
            return null
        value = deserialize(value)
        if value is FALLBACK:
            return FALLBACK
        for check in checks:
            if not check(value):
                return FALLBACK
        return value

    return load_leaf


# --- dumping -------------------------------------------------------------------------------------------------


def compile_plan_dumper(plan: Plan) -> _Dumper:
    """A function that dumps a planned ``ModelSchema``'s dataclass like ``schema.dump`` (``NOT_GIVEN`` left out);
    it raises :class:`Unsure` where the schema would hand a value to marshmallow's own ``dump``."""
    _, model, _, _, fields = plan
    if model is None:
        raise TypeError("only a schema that builds a dataclass can be dumped from its plan")
    dumpers = tuple((name, _compile_dump(field)) for name, field, _ in fields)

    def dump(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, dumper in dumpers:
            value = getattr(obj, name, NOT_GIVEN)
            if value is not NOT_GIVEN:
                out[name] = value if dumper is None else dumper(value)
        return out

    return dump


def _compile_dump(field: Plan) -> _Dumper | None:
    """One field's dump, as ``fastpath._compile_dump`` does it; ``None`` where it is the identity."""
    kind = field[0]
    if kind == "leaf":
        return json_copy if field[3] == "object" else None
    if kind == "nested":
        literals, schema = field[3], field[4]
        model = schema[1]
        other = _pass_strings if literals is not None else json_copy
        if model is None:
            return other
        nested = compile_plan_dumper(schema)
        return lambda value: nested(value) if isinstance(value, model) else other(value)
    if kind == "list":
        inner = _compile_dump(field[3])
        if inner is None:
            return lambda value: list(value) if isinstance(value, list | tuple) else value
        return lambda value: [inner(each) for each in value] if isinstance(value, list | tuple) else value
    if kind == "tagged":
        by_model: dict[type[Any], _Dumper] = {}
        models: list[type[Any]] = []
        for _, variant in field[5]:
            model = variant[4][1]
            if model is not None:
                by_model[model] = compile_plan_dumper(variant[4])
                models.append(model)
        candidates = tuple(models)

        def dump_tagged(value: Any) -> Any:
            dumper = by_model.get(type(value))
            if dumper is not None:
                return dumper(value)
            if isinstance(value, candidates):  # a subclass: the schema's own ``dump`` would run
                raise Unsure
            return json_copy(value)

        return dump_tagged
    if kind == "union":
        by_kind = {name: _compile_dump(alt) or _identity for name, alt in field[3]}

        def dump_union(value: Any) -> Any:
            found = json_kind(value)
            dumper = None if found is None else by_kind.get(found)
            return json_copy(value) if dumper is None else dumper(value)

        return dump_union
    if kind == "map":
        values = _compile_dump(field[3]) or _identity
        return lambda value: (
            {key: values(item) for key, item in value.items()} if isinstance(value, Mapping) else json_copy(value)
        )
    raise TypeError(f"unknown field plan {kind!r}")


def _pass_strings(value: Any) -> Any:
    return value if isinstance(value, str) else json_copy(value)


def _identity(value: Any) -> Any:
    return value


def field_names(plan: Plan) -> tuple[str, ...]:
    """The planned schema's field names, in declaration order (``tuple(schema.fields)``)."""
    return tuple(name for name, _, _ in plan[4])


class Planned:
    """A schema given by its plan, built only when needed: a codec compiles its fast path from ``plan`` and calls
    ``build`` (once, thread-safe) the first time the real schema must speak (an input the plan is not sure of,
    an error message to write, a lenient read)."""

    def __init__(self, plan: Plan, build: Callable[[], Any]) -> None:
        self.plan = plan
        self._build = build
        self._schema: Any = None
        self._lock = threading.Lock()

    def schema(self) -> Any:
        schema = self._schema
        if schema is None:
            with self._lock:
                if self._schema is None:
                    self._schema = self._build()
                schema = self._schema
        return schema

    @property
    def built(self) -> bool:
        """Whether the real schema has been built."""
        return self._schema is not None


__all__ = [
    "FALLBACK",
    "LEAF_LOADERS",
    "Plan",
    "Planned",
    "Unsure",
    "compile_plan_dumper",
    "compile_plan_loader",
    "field_names",
    "leaf_loader",
]
