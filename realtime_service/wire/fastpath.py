"""The checked fast path: ``Schema.load``/``Schema.dump`` results for valid data at a fraction of the cost.

marshmallow's ``Schema.load`` costs about 40 us for a five-key request (it visits every declared field, builds
closures and an error store per call), which alone would eat most of the budget for encode + decode. The
functions below are compiled from the same schema instances: they walk the declared fields, run each leaf
field's own ``_deserialize`` (or an exact-type shortcut that accepts only what it would return unchanged) and
``validators`` (so the types, enums and ranges are the schema's) and the schemas' own hooks. They only ever
*accept*: anything unusual (a failing field, an unknown key, a non-dict) returns ``FALLBACK`` and the codec runs
the real ``Schema.load``, which has the last word and writes the messages. The property tests check that
whatever the fast path accepts, marshmallow accepts with the same result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, cast

from marshmallow import INCLUDE, Schema, ValidationError, fields, missing, validate

from realtime_service.wire.fields import (
    IntegerOrInf,
    JsonBoolean,
    JsonInteger,
    JsonList,
    JsonMap,
    JsonNumber,
    JsonObject,
    JsonString,
    JsonUnion,
    LenientSchema,
    LiteralOrNested,
    ModelNested,
    ModelSchema,
    TaggedNested,
    _JsonField,
    json_kind,
    utf8_encodable,
)
from realtime_service.wire.plans import FALLBACK, Plan
from realtime_service.wire.values import NOT_GIVEN

_Loader = Callable[[Any], Any]
_Check = Callable[[Any], bool]

#: The only schema hooks the fast path knows how to run (see ``compile_loader``).
_KNOWN_HOOKS = frozenset({"_make_model", "_null_means_absent"})


def compile_loader(schema: Schema, *, build: bool = True) -> _Loader:
    """A function that loads like ``schema.load`` for valid input and returns ``FALLBACK`` otherwise.

    With ``build=False`` it only validates: it returns something other than ``FALLBACK`` for what
    ``schema.load`` accepts, without building the dataclasses (what ``encode`` needs for a dumped body).
    """
    field_loaders = {name: _compile_field(field, build) for name, field in schema.load_fields.items()}
    required = tuple(name for name, field in schema.load_fields.items() if field.required)
    include = schema.unknown == INCLUDE
    # ``LenientSchema``'s pre-load hook, inlined: ``null`` for a field that cannot be null reads as absent.
    lenient = isinstance(schema, LenientSchema)
    if lenient and cast(type[LenientSchema], type(schema))._null_means_absent is not LenientSchema._null_means_absent:
        raise TypeError(f"{type(schema).__name__}: an overridden _null_means_absent is not supported")
    null_means_absent = frozenset(
        name for name, field in schema.load_fields.items() if lenient and not field.allow_none
    )
    make = _model_builder(schema) if build and isinstance(schema, ModelSchema) else None
    keep_unknown = include and make is None  # a dataclass has no room for unknown keys: they are dropped

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


def _model_builder(schema: ModelSchema) -> Callable[[dict[str, Any]], Any]:
    """What ``ModelSchema._make_model`` does, given only known keys: absent fields become ``NOT_GIVEN``. Only
    the fields whose dataclass default is something else need passing (``FunctionTool.type`` is ``"function"``)."""
    model = schema.__model__
    defaults = {f.name: f.default for f in dataclasses.fields(model)}
    explicit = tuple(name for name in schema.load_fields if defaults.get(name, dataclasses.MISSING) is not NOT_GIVEN)

    def make(out: dict[str, Any]) -> Any:
        for name in explicit:
            if name not in out:
                out[name] = NOT_GIVEN
        return model(**out)

    return make


def _compile_field(field: fields.Field[Any], build: bool) -> _Loader:
    """The loader of one field. Each loader handles ``null`` itself first, as ``Field.deserialize`` does
    (``None`` if the field allows it, else ``FALLBACK``), so no wrapper call is paid per value."""
    null = None if field.allow_none else FALLBACK
    if isinstance(field, fields.Nested):
        load = _compile_nested(field, build, null)
    elif isinstance(field, JsonList):
        load = _compile_list(field, build, null)
    elif isinstance(field, TaggedNested):
        load = _compile_tagged(field, build, null)
    elif isinstance(field, JsonUnion):
        load = _compile_union(field, build, null)
    elif isinstance(field, JsonMap):
        load = _compile_map(field, build, null)
    else:
        return _compile_leaf(field, null)
    return _with_checks(field, load)


def _with_checks(field: fields.Field[Any], load: _Loader) -> _Loader:
    """``load`` followed by the field's validators (which ``Field.deserialize`` does not run on ``null``)."""
    checks = tuple(_compile_check(validator) for validator in field.validators)
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


def _compile_check(validator: Any) -> _Check:
    """A predicate that is true where ``validator`` passes (inlined for ``OneOf`` and ``Range``)."""
    if type(validator) is validate.OneOf:
        choices = validator.choices
        try:
            members = frozenset(choices)
        except TypeError:
            members = None
        if members is not None and all(type(choice) in (str, int) for choice in choices):
            return members.__contains__
    if type(validator) is validate.Range and validator.min_inclusive and validator.max_inclusive:
        low, high = validator.min, validator.max
        return lambda value: (low is None or value >= low) and (high is None or value <= high)

    def check(value: Any) -> bool:
        try:
            return validator(value) is not False
        except ValidationError:
            return False

    return check


def _compile_nested(field: fields.Nested, build: bool, null: Any) -> _Loader:
    nested = compile_loader(field.schema, build=build)
    literals = field.literals if isinstance(field, LiteralOrNested) else frozenset()

    def load_nested(value: Any) -> Any:
        if value is None:
            return null
        if type(value) is str:
            return value if value in literals else FALLBACK
        return nested(value)

    return load_nested


def _compile_list(field: JsonList, build: bool, null: Any) -> _Loader:
    inner = _compile_field(field.inner, build)

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


def _compile_tagged(field: TaggedNested, build: bool, null: Any) -> _Loader:
    variants = {name: _compile_field(variant, build) for name, variant in field.variants.items()}
    tag_key, default = field.tag, field.default

    def load_tagged(value: Any) -> Any:
        if type(value) is not dict:
            return null if value is None else FALLBACK
        tag = value.get(tag_key, default)
        if type(tag) is not str:
            return FALLBACK
        loader = variants.get(tag)
        return FALLBACK if loader is None else loader(value)

    return load_tagged


def _compile_union(field: JsonUnion, build: bool, null: Any) -> _Loader:
    json_types: dict[str, type] = {"string": str, "array": list, "object": dict}
    by_type: dict[type, _Loader] = {
        json_types[kind]: _compile_field(alt, build) for kind, alt in field.alternatives.items()
    }

    def load_union(value: Any) -> Any:
        loader = by_type.get(type(value))
        if loader is None:
            return null if value is None else FALLBACK
        return loader(value)

    return load_union


def _compile_map(field: JsonMap, build: bool, null: Any) -> _Loader:
    values = _compile_field(field.values, build)

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


#: Leaf fields whose ``_deserialize`` returns a value of this exact type unchanged (strings: ASCII ones).
_UNCHANGED_TYPES: dict[type[fields.Field[Any]], tuple[type, ...]] = {
    JsonString: (str,),
    JsonInteger: (int,),
    JsonBoolean: (bool,),
    JsonNumber: (int,),
}


def _compile_leaf(field: fields.Field[Any], null: Any) -> _Loader:
    # What ``Field.deserialize`` does for our fields (no pre_load/post_load, checked at start-up), minus the
    # per-call ``And(*validators)`` it builds.
    deserialize = field._deserialize
    unchanged = _UNCHANGED_TYPES.get(type(field), ())
    checks = tuple(_compile_check(validator) for validator in field.validators)

    def load_leaf(value: Any) -> Any:
        if value is None:
            return null
        kind = type(value)
        if kind not in unchanged or (kind is str and not value.isascii()):
            if value is missing:
                return FALLBACK
            try:
                value = deserialize(value, None, None)
            except ValidationError:
                return FALLBACK
        for check in checks:
            if not check(value):
                return FALLBACK
        return value

    return load_leaf


# --- dumping -------------------------------------------------------------------------------------------------

_Dumper = Callable[[Any], Any]


def fast_dump(schema: Schema, obj: Any) -> dict[str, Any]:
    """What ``schema.dump(obj)`` returns, without marshmallow's per-field machinery (same fields, same order).

    The compiled dumper is kept on the schema instance (compiling twice in a race is harmless).
    """
    dump: _Dumper | None = schema.__dict__.get("_fast_dumper")
    if dump is None:
        dump = schema.__dict__["_fast_dumper"] = compile_dumper(schema)
    result: dict[str, Any] = dump(obj)
    return result


def compile_dumper(schema: Schema) -> _Dumper:
    """A function that dumps like ``schema.dump`` (``NOT_GIVEN`` attributes left out)."""
    dumpers = tuple((name, _compile_dump(field)) for name, field in schema.dump_fields.items())
    get_attribute = schema.get_attribute

    def dump(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, dumper in dumpers:
            value = get_attribute(obj, name, missing)
            if value is not missing:
                out[name] = value if dumper is None else dumper(value)
        return out

    return dump


def _compile_dump(field: fields.Field[Any]) -> _Dumper | None:
    """A function dumping one field's value like ``field._serialize``; ``None`` where that is the identity."""
    serialize = field._serialize
    if isinstance(field, ModelNested):
        schema = field.schema
        if not isinstance(schema, ModelSchema):
            return _serializer(serialize)
        model, nested = schema.__model__, compile_dumper(schema)
        return lambda value: nested(value) if isinstance(value, model) else serialize(value, None, None)
    if isinstance(field, JsonList):
        inner = _compile_dump(field.inner)
        if inner is None:
            return lambda value: list(value) if isinstance(value, list | tuple) else value
        return lambda value: [inner(each) for each in value] if isinstance(value, list | tuple) else value
    if isinstance(field, TaggedNested):
        by_model = {}
        for variant in field.variants.values():
            if isinstance(variant.schema, ModelSchema):
                by_model[variant.schema.__model__] = compile_dumper(variant.schema)
        return lambda value: by_model[type(value)](value) if type(value) in by_model else serialize(value, None, None)
    if isinstance(field, JsonUnion):
        by_kind = {kind: _compile_dump(alt) or _identity for kind, alt in field.alternatives.items()}

        def dump_union(value: Any) -> Any:
            kind = json_kind(value)
            dumper = None if kind is None else by_kind.get(kind)
            return serialize(value, None, None) if dumper is None else dumper(value)

        return dump_union
    if isinstance(field, JsonMap):
        values = _compile_dump(field.values) or _identity
        return lambda value: (
            {key: values(item) for key, item in value.items()}
            if isinstance(value, Mapping)
            else serialize(value, None, None)
        )
    if type(field)._serialize is _JsonField._serialize:
        return None
    return _serializer(serialize)


def _serializer(serialize: Callable[..., Any]) -> _Dumper:
    return lambda value: serialize(value, None, None)


def _identity(value: Any) -> Any:
    return value


def check_fast_path_assumptions(schema: Schema) -> None:
    """Refuse schemas the fast path would read differently from marshmallow, so a future edit cannot skew it.

    The fast path keys fields by name and runs only the hooks it knows. Building the nested schemas here also
    means that first use from several threads races on nothing.
    """
    unknown_hooks = {name for hooks in schema._hooks.values() for name, _, _ in hooks} - _KNOWN_HOOKS
    if unknown_hooks:
        raise TypeError(f"{type(schema).__name__}: hooks {sorted(unknown_hooks)} are not supported")
    for name, field in schema.fields.items():
        if field.data_key not in (None, name) or field.attribute not in (None, name):
            raise TypeError(f"{type(schema).__name__}.{name}: data_key/attribute are not supported")
        _check_field(field, f"{type(schema).__name__}.{name}")


def _check_field(field: fields.Field[Any], where: str) -> None:
    if field.pre_load or field.post_load:
        raise TypeError(f"{where}: field-level pre_load/post_load are not supported")
    if isinstance(field, fields.Nested):
        check_fast_path_assumptions(field.schema)
    elif isinstance(field, fields.List):
        _check_field(field.inner, where)
    elif isinstance(field, TaggedNested | JsonUnion | JsonMap):
        for child in field.children().values():
            _check_field(child, where)


# --- plans: the same walk, written down as data (see :mod:`realtime_service.wire.plans`) ----------------------

#: Leaf field classes a plan can name, by the name the plan gives them.
_LEAF_KINDS: dict[type[fields.Field[Any]], str] = {
    JsonString: "string",
    JsonInteger: "integer",
    JsonBoolean: "boolean",
    JsonNumber: "number",
    JsonObject: "object",
}


def describe(schema: Schema) -> Plan:
    """The plan of ``schema``: what the fast path compiles from it, as plain data that
    :func:`realtime_service.wire.plans.compile_plan_loader` and ``compile_plan_dumper`` compile without
    marshmallow. Refuses (``TypeError``) anything a plan cannot say exactly: an unknown field class or
    validator, different load and dump fields, an overridden ``get_attribute``."""
    check_fast_path_assumptions(schema)
    names = tuple(schema.fields)
    if tuple(schema.load_fields) != names or tuple(schema.dump_fields) != names:
        raise TypeError(f"{type(schema).__name__}: load-only or dump-only fields cannot be planned")
    model = schema.__model__ if isinstance(schema, ModelSchema) else None
    if model is not None and type(schema).get_attribute is not ModelSchema.get_attribute:
        raise TypeError(f"{type(schema).__name__}: an overridden get_attribute cannot be planned")
    lenient = isinstance(schema, LenientSchema)
    planned = tuple((name, _describe_field(field), bool(field.required)) for name, field in schema.fields.items())
    return ("schema", model, schema.unknown == INCLUDE, lenient, planned)


def _describe_field(field: fields.Field[Any]) -> Plan:
    allow_none, checks = bool(field.allow_none), tuple(_describe_check(v) for v in field.validators)
    where = type(field).__name__
    if isinstance(field, fields.Nested):
        if not isinstance(field, ModelNested) or type(field) not in (ModelNested, LiteralOrNested):
            raise TypeError(f"{where}: only ModelNested and LiteralOrNested can be planned")
        literals = tuple(sorted(field.literals)) if isinstance(field, LiteralOrNested) else None
        return ("nested", allow_none, checks, literals, describe(field.schema))
    if type(field) is JsonList:
        return ("list", allow_none, checks, _describe_field(field.inner))
    if type(field) is TaggedNested:
        variants = tuple((name, _describe_field(variant)) for name, variant in field.variants.items())
        return ("tagged", allow_none, checks, field.tag, field.default, variants)
    if type(field) is JsonUnion:
        alternatives = tuple((kind, _describe_field(alt)) for kind, alt in field.alternatives.items())
        return ("union", allow_none, checks, alternatives)
    if type(field) is JsonMap:
        return ("map", allow_none, checks, _describe_field(field.values))
    if type(field) is IntegerOrInf:
        return ("leaf", allow_none, checks, ("integer_or_inf", field.minimum, field.maximum))
    kind = _LEAF_KINDS.get(type(field))
    if kind is None:
        raise TypeError(f"{where}: this field class cannot be planned")
    return ("leaf", allow_none, checks, kind)


def _describe_check(validator: Any) -> Plan:
    kind = type(validator)
    if kind is validate.OneOf and all(type(choice) in (str, int) for choice in validator.choices):
        return ("one_of", tuple(validator.choices))
    if kind is validate.Range:
        return ("range", validator.min, validator.max, validator.min_inclusive, validator.max_inclusive)
    if kind is validate.Length:
        return ("length", validator.min, validator.max, validator.equal)
    if kind is validate.Regexp and isinstance(validator.regex.pattern, str):
        return ("regexp", validator.regex.pattern, validator.regex.flags)
    raise TypeError(f"{kind.__name__}: this validator cannot be planned")


#: The widest line :func:`render_plans` writes (the project's line length).
_WIDTH = 120


def render_plans(doc: str, plans: Mapping[str, Plan], command: str) -> str:
    """The source of a module that defines ``plans`` (name -> plan), importing the dataclasses they build, under
    a ``# Generated by <command>; do not edit.`` line. It lays the source out itself (a tuple on one line when it
    fits in :data:`_WIDTH` columns, else one item a line) rather than through a formatter, so the same plans give
    the same bytes whatever tools are installed: a test compares a fresh rendering with the committed module."""
    imports: dict[str, set[str]] = {}

    def flat(value: Any) -> str:
        if isinstance(value, type):
            imports.setdefault(value.__module__, set()).add(value.__qualname__)
            return value.__qualname__
        if isinstance(value, tuple):
            inner = ", ".join(flat(item) for item in value)
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        if isinstance(value, str):
            literal = repr(value)  # in double quotes, as the rest of the code, when that needs no new escape
            return f'"{literal[1:-1]}"' if literal[0] == "'" and '"' not in value else literal
        if value is None or isinstance(value, bool | int | float):
            return repr(value)
        raise TypeError(f"cannot render {type(value).__name__} in a plan")

    def laid(value: Any, indent: int, used: int, after: int) -> str:
        """``value`` starting at column ``used`` of a line indented by ``indent``, ``after`` columns following it."""
        one_line = flat(value)
        if not isinstance(value, tuple) or not value or used + len(one_line) + after <= _WIDTH:
            return one_line
        pad = " " * (indent + 4)
        items = [f"{pad}{laid(item, indent + 4, indent + 4, 1)}," for item in value]
        return "\n".join(["(", *items, " " * indent + ")"])

    body: list[str] = []
    for name, plan in plans.items():
        head = f"{name}: Plan = "
        body.append(head + laid(plan, 0, len(head), 0))
    import_lines: list[str] = []
    for module, names in sorted({**imports, "realtime_service.wire.plans": {"Plan"}}.items()):
        line = f"from {module} import {', '.join(sorted(names))}"
        if len(line) > _WIDTH:
            line = "\n".join([f"from {module} import (", *(f"    {name}," for name in sorted(names)), ")"])
        import_lines.append(line)
    lines = [f"# Generated by {command}; do not edit.", f'"""{doc}"""', "", "from __future__ import annotations", ""]
    lines += [*import_lines, "", *body, "", f"__all__ = [{', '.join(flat(name) for name in sorted(plans))}]", ""]
    return "\n".join(lines)


__all__ = [
    "FALLBACK",
    "check_fast_path_assumptions",
    "compile_dumper",
    "compile_loader",
    "describe",
    "fast_dump",
    "render_plans",
]
