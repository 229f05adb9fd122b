"""The marshmallow building blocks every wire format in this package is made of.

* Strict JSON leaf fields: ``"5"`` is not a number, ``True`` is not a number or an integer, ``5.0`` is not an
  integer, NaN and infinities are not JSON, ``1`` is not a boolean, lone surrogates cannot be sent as UTF-8.
  They dump values untouched (no coercion), so validating the dumped dict validates exactly what the caller put
  in the dataclass.
* Containers: :class:`JsonList` (loads to a tuple), :class:`JsonMap` (string keys, one kind of value),
  :class:`JsonObject` (free-form JSON).
* Unions: :class:`LiteralOrNested` (``"auto"`` or an object), :class:`TaggedNested` (an object whose ``type``
  picks its schema) and :class:`JsonUnion` (one field per JSON kind: a string, an array or an object).
* Schema bases: :class:`ModelSchema` loads into a frozen dataclass (absent keys become ``NOT_GIVEN``),
  :class:`LenientSchema` reads what the API sends back, and :func:`echo_schema` derives the lenient response
  twin of a request schema.

The checked fast path (:mod:`realtime_service.wire.fastpath`) knows every field class defined here.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import is_dataclass
from typing import Any, ClassVar, cast

from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, missing, post_load, pre_load, validate

from realtime_service.wire.values import NOT_GIVEN, json_copy, json_kind, json_problem, utf8_encodable

# --- leaf fields ---------------------------------------------------------------------------------------------


class _JsonField(fields.Field[Any]):
    """Base of our leaf fields: dumping hands the value over untouched, loading type-checks strictly.

    marshmallow's own fields coerce on dump (``String`` calls ``str()``, ``Float`` calls ``float()``), which
    would turn ``instructions=5`` into ``"5"`` before we validate the dumped dict.
    """

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class JsonString(_JsonField):
    """A JSON string that can be sent as UTF-8 (``bytes`` are not strings; lone surrogates are refused)."""

    default_error_messages = {
        "invalid": "Not a valid string.",
        "surrogate": "Not valid Unicode (a lone surrogate cannot be sent as UTF-8).",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if not utf8_encodable(value):
            raise self.make_error("surrogate")
        return value


class JsonNumber(_JsonField):
    """A finite JSON number; ints stay ints. Booleans and numeric strings are rejected."""

    default_error_messages = {
        "invalid": "Not a valid number.",
        "special": "Special numeric values (nan or infinity) are not permitted.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int | float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.make_error("special")
        return value


class JsonInteger(_JsonField):
    """A JSON integer: not a bool, not a float (not even ``5.0``), not a string."""

    default_error_messages = {"invalid": "Not a valid integer."}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class JsonBoolean(_JsonField):
    """A JSON boolean; ``1``, ``"true"`` and ``"yes"`` are not (marshmallow's ``Boolean`` accepts them)."""

    default_error_messages = {"invalid": "Not a valid boolean."}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class IntegerOrInf(_JsonField):
    """``max_output_tokens``: an integer in ``[minimum, maximum]`` or the string ``"inf"``."""

    default_error_messages = {
        "invalid": 'Not a valid integer or "inf".',
        "range": 'Must be "inf" or an integer between {min} and {max}.',
    }

    def __init__(self, *, minimum: int | None = None, maximum: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum = minimum
        self.maximum = maximum

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int | str:
        if isinstance(value, str) and value == "inf":
            return "inf"
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise self.make_error("range", min=self.minimum, max=self.maximum)
        return value


class JsonObject(_JsonField):
    """A free-form JSON object (a tool's JSON Schema ``parameters``, tracing ``metadata``).

    Not checked against any schema, only checked to be JSON: string keys; values null, booleans, finite
    numbers, strings, lists or objects. Loading returns a deep copy, so the caller's dict is never shared.
    """

    default_error_messages = {
        "invalid": "Not a valid JSON object.",
        "not_json": "Not JSON at {where}: {why}",
    }

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return json_copy(value)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.make_error("invalid")
        problem = json_problem(value)
        if problem is not None:
            where, why = problem
            raise self.make_error("not_json", where=where or "the top level", why=why)
        copied: dict[str, Any] = json_copy(value)
        return copied


def one_of(*choices: str) -> validate.OneOf:
    return validate.OneOf(choices)


def between(low: float, high: float) -> validate.Range:
    return validate.Range(min=low, max=high)


# --- containers ----------------------------------------------------------------------------------------------


class ModelNested(fields.Nested):
    """``Nested`` for a schema that builds a dataclass: dumps that dataclass, hands anything else over as is.

    marshmallow's ``Nested`` would dump any object by ``getattr`` (so ``turn_detection=5`` would become ``{}``);
    passing foreign values through lets the load that follows reject them.
    """

    def _serialize(  # type: ignore[override]  # Field and Nested name the first argument differently
        self, value: Any, attr: str | None, obj: Any, **kwargs: Any
    ) -> Any:
        schema = self.schema
        if isinstance(schema, ModelSchema) and isinstance(value, schema.__model__):
            return schema.dump(value)
        return json_copy(value)


class LiteralOrNested(ModelNested):
    """A union of a few literal strings and a nested object: ``tracing`` is ``"auto"`` or an object."""

    default_error_messages = {"literal": "Must be {choices} or an object."}

    def __init__(self, nested: type[Schema], *, literals: Iterable[str], **kwargs: Any) -> None:
        super().__init__(nested, **kwargs)
        self.literals = frozenset(literals)

    def _serialize(  # type: ignore[override]  # Field and Nested name the first argument differently
        self, value: Any, attr: str | None, obj: Any, **kwargs: Any
    ) -> Any:
        if isinstance(value, str):
            return value
        return super()._serialize(value, attr, obj, **kwargs)

    def _deserialize(
        self,
        value: Any,
        attr: str | None,
        data: Mapping[str, Any] | None,
        partial: bool | Sequence[str] | AbstractSet[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        if isinstance(value, str):
            if value in self.literals:
                return value
            raise self.make_error("literal", choices=" or ".join(f'"{lit}"' for lit in sorted(self.literals)))
        return super()._deserialize(value, attr, data, partial=partial, **kwargs)


class JsonList(fields.List[Any]):
    """A JSON array. Loads to a tuple (the dataclasses are frozen), dumps to a list.

    Sets, strings and generators are rejected (marshmallow's ``List`` accepts any non-string collection).
    """

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, list | tuple):
            return [self.inner._serialize(each, attr, obj, **kwargs) for each in value]
        return value

    def _deserialize(  # type: ignore[override]  # a tuple, not a list: the dataclasses are frozen
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise self.make_error("invalid")
        return tuple(super()._deserialize(value, attr, data, **kwargs))


class _Composite(fields.Field[Any]):
    """A field made of other fields (its ``children``), which it binds to its schema like ``List`` binds ``inner``."""

    def children(self) -> dict[str, fields.Field[Any]]:
        raise NotImplementedError

    def with_children(self, children: Mapping[str, fields.Field[Any]]) -> None:
        raise NotImplementedError

    def _bind_to_schema(self, field_name: str, parent: Schema | fields.Field[Any]) -> None:
        super()._bind_to_schema(field_name, parent)
        bound = {key: copy.deepcopy(child) for key, child in self.children().items()}
        for child in bound.values():
            child._bind_to_schema(field_name, self)
        self.with_children(bound)


class JsonMap(_Composite):
    """A JSON object with string keys and one kind of value (MCP ``headers``, prompt ``variables``).

    Loads to a fresh dict; errors are reported per key (``headers.X-Token``).
    """

    default_error_messages = {"invalid": "Not a valid JSON object.", "key": "Object keys must be strings."}

    def __init__(self, values: fields.Field[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.values = values

    def children(self) -> dict[str, fields.Field[Any]]:
        return {"values": self.values}

    def with_children(self, children: Mapping[str, fields.Field[Any]]) -> None:
        self.values = children["values"]

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, Mapping):
            return {key: self.values._serialize(item, attr, obj, **kwargs) for key, item in value.items()}
        return json_copy(value)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.make_error("invalid")
        out: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not utf8_encodable(key):
                raise self.make_error("key")
            try:
                out[key] = self.values.deserialize(item)
            except ValidationError as exc:
                errors[key] = exc.messages
        if errors:
            raise ValidationError(errors)
        return out


class TaggedNested(_Composite):
    """An object whose tag key (``type``) picks its schema: ``{"type": "mcp", ...}`` loads as an MCP tool.

    ``default`` names the variant for an object without the tag (a function tool may leave ``type`` out);
    without a default the tag is required. A missing or unknown tag is reported at ``<field>.type``. Dumping
    picks the variant by the dataclass's class; anything else is handed over as is, for the load to reject.
    """

    default_error_messages = {
        "invalid": "Invalid input type.",
        "tag": "Must be one of: {choices}.",
        "no_tag": "Missing data for required field.",
    }

    def __init__(
        self, variants: Mapping[str, type[Schema]], *, tag: str = "type", default: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.tag = tag
        self.default = default
        self.variants: dict[str, ModelNested] = {name: ModelNested(schema) for name, schema in variants.items()}

    def children(self) -> dict[str, fields.Field[Any]]:
        return dict(self.variants)

    def with_children(self, children: Mapping[str, fields.Field[Any]]) -> None:
        self.variants = {name: child for name, child in children.items() if isinstance(child, ModelNested)}

    def variant_for_dump(self, value: Any) -> ModelNested | None:
        """The variant whose dataclass ``value`` is, if any."""
        for variant in self.variants.values():
            schema = variant.schema
            if isinstance(schema, ModelSchema) and isinstance(value, schema.__model__):
                return variant
        return None

    def tag_error(self, tag: Any) -> ValidationError:
        """The error for a missing (``missing``) or unknown tag, at ``<field>.<tag key>``."""
        if tag is missing:
            return ValidationError({self.tag: self.make_error("no_tag").messages})
        return ValidationError({self.tag: self.make_error("tag", choices=", ".join(self.variants)).messages})

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        variant = self.variant_for_dump(value)
        return json_copy(value) if variant is None else variant._serialize(value, attr, obj, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        if not isinstance(value, Mapping):
            raise self.make_error("invalid")
        tag = value.get(self.tag, missing)
        name = self.default if tag is missing else tag
        if not isinstance(name, str) or name not in self.variants:
            raise self.tag_error(tag)
        return self.variants[name].deserialize(value, attr, data, **kwargs)


_KIND_NAMES = {"string": "a string", "array": "an array", "object": "an object"}


class JsonUnion(_Composite):
    """A value of one of a few JSON kinds, each read by its own field.

    ``voice`` is a string or ``{"id": ...}``; ``tool_choice`` is a mode string or a tagged object;
    ``allowed_tools`` is a list of names or a filter object. Dumping picks the field by the value's kind (a
    dataclass counts as an object).
    """

    default_error_messages = {"invalid": "Must be {expected}."}

    def __init__(
        self,
        *,
        string: fields.Field[Any] | None = None,
        array: fields.Field[Any] | None = None,
        object: fields.Field[Any] | None = None,  # noqa: A002 - the JSON kind's name
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        kinds = {"string": string, "array": array, "object": object}
        self.alternatives: dict[str, fields.Field[Any]] = {kind: f for kind, f in kinds.items() if f is not None}

    def children(self) -> dict[str, fields.Field[Any]]:
        return dict(self.alternatives)

    def with_children(self, children: Mapping[str, fields.Field[Any]]) -> None:
        self.alternatives = dict(children)

    def alternative_for(self, value: Any) -> fields.Field[Any] | None:
        """The field for ``value``'s JSON kind, if this union has one."""
        kind = json_kind(value)
        return None if kind is None else self.alternatives.get(kind)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        alternative = self.alternative_for(value)
        return json_copy(value) if alternative is None else alternative._serialize(value, attr, obj, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        alternative = None if is_dataclass(value) else self.alternative_for(value)
        if alternative is None:
            raise self.make_error("invalid", expected=" or ".join(_KIND_NAMES[kind] for kind in self.alternatives))
        return alternative.deserialize(value, attr, data, **kwargs)


# --- schemas -------------------------------------------------------------------------------------------------


class ModelSchema(Schema):
    """A schema that loads into a frozen dataclass and dumps from one.

    Absent keys load as ``NOT_GIVEN`` (not as the dataclass default), so ``encode(load(x)) == x``.
    ``NOT_GIVEN`` attributes are left out on dump.
    """

    __model__: ClassVar[type[Any]]

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        value = getattr(obj, attr, default)
        return missing if value is NOT_GIVEN else value

    @post_load
    def _make_model(self, data: dict[str, Any], **kwargs: Any) -> Any:
        return self.__model__(**{name: data.get(name, NOT_GIVEN) for name in self.load_fields})


class RequestSchema(ModelSchema):
    """Base of every request schema: it builds its dataclass, and an unknown key is an error.

    Subclasses inherit this ``Meta`` (``unknown = RAISE``). marshmallow's ``Nested`` does not pass ``unknown``
    down at load time, which is why every nested request schema derives from this base.
    """

    class Meta:
        unknown = RAISE


class LenientSchema(Schema):
    """Response-side base: ``null`` for a key that cannot be null reads as "not given" (the raw body keeps it).

    The transcription example in the spec echoes ``"language": null``, for instance.
    """

    @pre_load
    def _null_means_absent(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        for value in data.values():
            if value is None:
                break
        else:
            return data  # the usual case: nothing to drop, no copy
        fields_ = self.load_fields
        return {
            key: value
            for key, value in data.items()
            if value is not None or key not in fields_ or fields_[key].allow_none
        }


@functools.cache
def echo_schema(request_schema: type[Schema]) -> type[Schema]:
    """The response twin of a request schema: how the API's echo of the same object is read.

    Same fields, same dataclass, same enums (they load into ``Literal``-typed attributes), same required keys;
    but unknown keys are kept (``INCLUDE``), ``null`` where null is not allowed reads as not given, ranges,
    lengths and patterns are not checked (limits bind what we send, not the echo). Nested schemas get their
    echo twins too. One class per request schema (cached), so every codec shares them.
    """
    meta = type("Meta", (), {"unknown": INCLUDE})
    namespace: dict[str, Any] = {"Meta": meta, "__module__": request_schema.__module__}
    for name, field in request_schema._declared_fields.items():
        namespace[name] = _echo_field(field)
    name = request_schema.__name__.removesuffix("Schema") + "EchoSchema"
    # ``type`` hands the class over to marshmallow's metaclass, which collects the fields and hooks.
    return cast("type[Schema]", type(name, (LenientSchema, request_schema), namespace))


def _echo_field(field: fields.Field[Any]) -> fields.Field[Any]:
    echo = copy.copy(field)
    echo.validators = [check for check in field.validators if isinstance(check, validate.OneOf)]
    if isinstance(echo, IntegerOrInf):
        echo.minimum = echo.maximum = None
    elif isinstance(echo, fields.Nested):
        if isinstance(echo.nested, type) and issubclass(echo.nested, Schema):
            echo.nested = echo_schema(echo.nested)
        echo._schema = None
    elif isinstance(echo, fields.List):
        echo.inner = _echo_field(echo.inner)
    elif isinstance(echo, _Composite):
        echo.with_children({key: _echo_field(child) for key, child in echo.children().items()})
    return echo


__all__ = [
    "IntegerOrInf",
    "JsonBoolean",
    "JsonInteger",
    "JsonList",
    "JsonMap",
    "JsonNumber",
    "JsonObject",
    "JsonString",
    "JsonUnion",
    "LenientSchema",
    "LiteralOrNested",
    "ModelNested",
    "ModelSchema",
    "RequestSchema",
    "TaggedNested",
    "between",
    "echo_schema",
    "json_kind",
    "json_problem",
    "one_of",
    "utf8_encodable",
]
