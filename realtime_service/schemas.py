"""marshmallow 4 schemas for the beta ``POST /realtime/sessions`` wire format, and the codec built on them.

The schemas are the single source of truth for what may be sent (request schemas, ``unknown = RAISE``) and how
what comes back is read (response schemas, ``unknown = INCLUDE``). Sources: the 2025-04-29 spec plus the
mid-2025 additions listed in ``spec/NOTES.md`` section 1 (never HEAD's swapped schema names).

Rules worth knowing:

* Numbers are JSON numbers only: ``"5"`` is not a number, ``True`` is not a number or an integer, ``5.5`` and
  ``5.0`` are not integers, NaN and infinities are rejected (they are not JSON). Booleans are JSON booleans only.
* The fields dump values untouched (no coercion), so validating the dumped dict validates exactly what the
  caller put in the dataclass.
* Limits are the spec's; none are invented. ``model``, ``voice`` and ``tool_choice`` are open strings.
* Responses are read leniently; see :meth:`BetaSessionCodec.decode`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, ClassVar

from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, missing, post_load, pre_load, validate

from realtime_service.errors import RequestValidationError, ResponseValidationError
from realtime_service.models import (
    NOT_GIVEN,
    ClientSecret,
    ClientSecretConfig,
    ExpiresAfter,
    FunctionTool,
    InputAudioTranscription,
    NoiseReduction,
    RealtimeSessionCreateRequest,
    RealtimeSessionCreateResponse,
    TracingConfig,
    TurnDetection,
    json_copy,
)

_MAX_TOKENS = 4096

# --- fields --------------------------------------------------------------------------------------------------


class _JsonField(fields.Field[Any]):
    """Base of our leaf fields: dumping hands the value over untouched, loading type-checks strictly.

    marshmallow's own fields coerce on dump (``String`` calls ``str()``, ``Float`` calls ``float()``), which
    would turn ``instructions=5`` into ``"5"`` before we validate the dumped dict.
    """

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


def _is_utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class JsonString(_JsonField):
    """A JSON string that can be sent as UTF-8 (``bytes`` are not strings; lone surrogates are refused)."""

    default_error_messages = {
        "invalid": "Not a valid string.",
        "surrogate": "Not valid Unicode (a lone surrogate cannot be sent as UTF-8).",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if not value.isascii() and not _is_utf8_encodable(value):
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
    """``max_response_output_tokens``: an integer in ``[minimum, maximum]`` or the string ``"inf"``."""

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


def json_problem(value: Any, path: str = "") -> tuple[str, str] | None:
    """Where (dotted path) and why ``value`` is not JSON data, or ``None`` if it is. Too deep is a problem too."""
    try:
        return _json_problem(value, path)
    except RecursionError:
        return path, "nested too deeply."


def _json_problem(value: Any, path: str) -> tuple[str, str] | None:
    if isinstance(value, str):
        return None if value.isascii() or _is_utf8_encodable(value) else (path, "a lone surrogate is not UTF-8.")
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, "NaN and infinities are not JSON.")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not (key.isascii() or _is_utf8_encodable(key)):
                return path, "object keys must be strings (of valid Unicode)."
            found = _json_problem(item, f"{path}.{key}" if path else key)
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _json_problem(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
        return None
    return path, f"a {type(value).__name__} is not a JSON value."


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


def _one_of(*choices: str) -> validate.OneOf:
    return validate.OneOf(choices)


def _between(low: float, high: float) -> validate.Range:
    return validate.Range(min=low, max=high)


# --- request schemas (what we send: unknown = RAISE on each) -------------------------------------------------


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


class TurnDetectionSchema(ModelSchema):
    __model__ = TurnDetection

    class Meta:
        unknown = RAISE

    type = JsonString(validate=_one_of("server_vad", "semantic_vad"))
    eagerness = JsonString(validate=_one_of("low", "medium", "high", "auto"))
    threshold = JsonNumber(validate=_between(0, 1))
    prefix_padding_ms = JsonInteger()
    silence_duration_ms = JsonInteger()
    create_response = JsonBoolean()
    interrupt_response = JsonBoolean()


class InputAudioTranscriptionSchema(ModelSchema):
    __model__ = InputAudioTranscription

    class Meta:
        unknown = RAISE

    model = JsonString()
    language = JsonString()
    prompt = JsonString()


class NoiseReductionSchema(ModelSchema):
    __model__ = NoiseReduction

    class Meta:
        unknown = RAISE

    type = JsonString(validate=_one_of("near_field", "far_field"))


class FunctionToolSchema(ModelSchema):
    __model__ = FunctionTool

    class Meta:
        unknown = RAISE

    type = JsonString(validate=_one_of("function"))
    name = JsonString()
    description = JsonString()
    parameters = JsonObject()


class TracingConfigSchema(ModelSchema):
    __model__ = TracingConfig

    class Meta:
        unknown = RAISE

    workflow_name = JsonString()
    group_id = JsonString()
    metadata = JsonObject()


class ExpiresAfterSchema(ModelSchema):
    __model__ = ExpiresAfter

    class Meta:
        unknown = RAISE

    anchor = JsonString(required=True, validate=_one_of("created_at"))
    seconds = JsonInteger(validate=_between(10, 7200))


class ClientSecretConfigSchema(ModelSchema):
    __model__ = ClientSecretConfig

    class Meta:
        unknown = RAISE

    expires_after = ModelNested(ExpiresAfterSchema, required=True)


class RealtimeSessionCreateRequestSchema(ModelSchema):
    """The request body. Nullable, per the spec: the transcription, turn detection, noise reduction, tracing."""

    __model__ = RealtimeSessionCreateRequest

    class Meta:
        unknown = RAISE

    model = JsonString()
    modalities = JsonList(JsonString(validate=_one_of("text", "audio")))
    instructions = JsonString()
    voice = JsonString()
    input_audio_format = JsonString(validate=_one_of("pcm16", "g711_ulaw", "g711_alaw"))
    output_audio_format = JsonString(validate=_one_of("pcm16", "g711_ulaw", "g711_alaw"))
    input_audio_transcription = ModelNested(InputAudioTranscriptionSchema, allow_none=True)
    turn_detection = ModelNested(TurnDetectionSchema, allow_none=True)
    input_audio_noise_reduction = ModelNested(NoiseReductionSchema, allow_none=True)
    tools = JsonList(ModelNested(FunctionToolSchema))
    # Open string: "auto", "none", "required" or a function's name. Not checked against ``tools``: the beta
    # docs only say "or specify a function" and never pinned the format down, so the API has the last word.
    tool_choice = JsonString()
    temperature = JsonNumber(validate=_between(0.6, 1.2))
    max_response_output_tokens = IntegerOrInf(minimum=1, maximum=_MAX_TOKENS)
    speed = JsonNumber(validate=_between(0.25, 1.5))
    tracing = LiteralOrNested(TracingConfigSchema, literals=("auto",), allow_none=True)
    client_secret = ModelNested(ClientSecretConfigSchema)


# --- response schemas (what we receive: unknown = INCLUDE on each) -------------------------------------------


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


class TurnDetectionResponseSchema(LenientSchema, TurnDetectionSchema):
    """Echoed turn detection: same types, no range on ``threshold`` (limits bind what we send, not the echo)."""

    class Meta:
        unknown = INCLUDE

    threshold = JsonNumber()


class InputAudioTranscriptionResponseSchema(LenientSchema, InputAudioTranscriptionSchema):
    class Meta:
        unknown = INCLUDE


class NoiseReductionResponseSchema(LenientSchema, NoiseReductionSchema):
    class Meta:
        unknown = INCLUDE


class FunctionToolResponseSchema(LenientSchema, FunctionToolSchema):
    class Meta:
        unknown = INCLUDE


class TracingConfigResponseSchema(LenientSchema, TracingConfigSchema):
    class Meta:
        unknown = INCLUDE


class ClientSecretSchema(LenientSchema, ModelSchema):
    """The minted secret: the only part of the answer that must be valid."""

    __model__ = ClientSecret

    class Meta:
        unknown = INCLUDE

    value = JsonString(required=True, validate=validate.Length(min=1))
    expires_at = JsonInteger(required=True)


class RealtimeSessionCreateResponseSchema(LenientSchema):
    """The 200 body. Loads to a dict (the codec adds ``request_id`` and the raw body to build the dataclass).

    Enums the spec types as plain strings in the response (formats, ``tool_choice``, modalities) are open
    strings here; nested objects keep the request's enums, since they load into the same Literal-typed
    dataclasses. Ranges are not checked on the echo.
    """

    class Meta:
        unknown = INCLUDE

    client_secret = ModelNested(ClientSecretSchema, required=True)
    id = JsonString()
    object = JsonString()
    model = JsonString()
    modalities = JsonList(JsonString())
    instructions = JsonString()
    voice = JsonString()
    input_audio_format = JsonString()
    output_audio_format = JsonString()
    input_audio_transcription = ModelNested(InputAudioTranscriptionResponseSchema, allow_none=True)
    turn_detection = ModelNested(TurnDetectionResponseSchema, allow_none=True)
    input_audio_noise_reduction = ModelNested(NoiseReductionResponseSchema, allow_none=True)
    tools = JsonList(ModelNested(FunctionToolResponseSchema))
    tool_choice = JsonString()
    temperature = JsonNumber()
    max_response_output_tokens = IntegerOrInf()
    speed = JsonNumber()
    tracing = LiteralOrNested(TracingConfigResponseSchema, literals=("auto",), allow_none=True)


# --- fast path -----------------------------------------------------------------------------------------------
#
# marshmallow's ``Schema.load`` costs about 40 us for a five-key request (it visits every declared field, builds
# closures and an error store per call), which alone would eat most of the ~100 us budget for encode + decode.
# The functions below are compiled from the same schema instances: they walk the declared fields, call each
# leaf field's own ``_deserialize`` and ``validators`` (so the types, enums and ranges are the schema's) and the
# schemas' own hooks. They only ever *accept*: anything unusual (a failing field, an unknown key, a non-dict) returns
# ``FALLBACK`` and the codec runs the real ``Schema.load``, which has the last word and writes the messages.
# The property tests check that whatever the fast path accepts, marshmallow accepts with the same result.

#: What a compiled loader returns when it is not sure; the caller then runs the real ``Schema.load``.
FALLBACK: Any = object()

_Loader = Callable[[Any], Any]


def compile_loader(schema: Schema) -> _Loader:
    """A function that loads like ``schema.load`` for valid input and returns ``FALLBACK`` otherwise."""
    field_loaders = {name: _compile_field(field) for name, field in schema.load_fields.items()}
    required = tuple(name for name, field in schema.load_fields.items() if field.required)
    include = schema.unknown == INCLUDE
    pre = schema._null_means_absent if isinstance(schema, LenientSchema) else None
    post = schema._make_model if isinstance(schema, ModelSchema) else None

    def load(data: Any) -> Any:
        if type(data) is not dict:
            return FALLBACK
        if pre is not None:
            data = pre(data)
        out: dict[str, Any] = {}
        for key, value in data.items():
            loader = field_loaders.get(key)
            if loader is None:
                if not include:
                    return FALLBACK
                out[key] = value
                continue
            result = loader(value)
            if result is FALLBACK:
                return FALLBACK
            out[key] = result
        for name in required:
            if name not in out:
                return FALLBACK
        return out if post is None else post(out)

    return load


def _compile_field(field: fields.Field[Any]) -> _Loader:
    if isinstance(field, fields.Nested):
        nested = compile_loader(field.schema)
        allow_none = field.allow_none
        literals = field.literals if isinstance(field, LiteralOrNested) else frozenset()

        def load_nested(value: Any) -> Any:
            if value is None:
                return None if allow_none else FALLBACK
            if type(value) is str:
                return value if value in literals else FALLBACK
            return nested(value)

        return load_nested

    if isinstance(field, JsonList):
        inner = _compile_field(field.inner)

        def load_list(value: Any) -> Any:
            if type(value) is not list:
                return FALLBACK
            items = []
            for each in value:
                result = inner(each)
                if result is FALLBACK:
                    return FALLBACK
                items.append(result)
            return tuple(items)

        return load_list

    # What ``Field.deserialize`` does for our fields (no pre_load/post_load, checked at start-up), minus the
    # per-call ``And(*validators)`` it builds.
    deserialize = field._deserialize
    validators = tuple(field.validators)
    allow_none = field.allow_none

    def load_leaf(value: Any) -> Any:
        if value is None:
            return None if allow_none else FALLBACK
        if value is missing:
            return FALLBACK
        try:
            result = deserialize(value, None, None)
            for validator in validators:
                if validator(result) is False:
                    return FALLBACK
        except ValidationError:
            return FALLBACK
        return result

    return load_leaf


def fast_dump(schema: Schema, obj: Any) -> dict[str, Any]:
    """What ``schema.dump(obj)`` returns, without marshmallow's per-field machinery (same fields, same order)."""
    out: dict[str, Any] = {}
    get_attribute = schema.get_attribute
    for name, field in schema.dump_fields.items():
        value = get_attribute(obj, name, missing)
        if value is not missing:
            out[name] = _dump_field(field, value)
    return out


def _dump_field(field: fields.Field[Any], value: Any) -> Any:
    if isinstance(field, ModelNested):
        schema = field.schema
        if isinstance(schema, ModelSchema) and isinstance(value, schema.__model__):
            return fast_dump(schema, value)
    elif isinstance(field, JsonList) and isinstance(value, list | tuple):
        return [_dump_field(field.inner, each) for each in value]
    return field._serialize(value, None, None)


def _check_fast_path_assumptions(schema: Schema) -> None:
    """The fast path keys fields by name: refuse schemas that rename keys, so a future edit cannot skew it."""
    for name, field in schema.fields.items():
        if field.data_key not in (None, name) or field.attribute not in (None, name):
            raise TypeError(f"{type(schema).__name__}.{name}: data_key/attribute are not supported")
        if field.pre_load or field.post_load:
            raise TypeError(f"{type(schema).__name__}.{name}: field-level pre_load/post_load are not supported")
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            _check_fast_path_assumptions(inner.schema)


# --- codec ---------------------------------------------------------------------------------------------------


def flatten_messages(messages: Any) -> dict[str, list[str]]:
    """marshmallow's nested error messages as ``{dotted.path: [messages]}`` (``tools.0.name``).

    A ``_schema`` level names the object itself (``turn_detection: Invalid input type.``); at the top it stays
    ``_schema`` (the body as a whole is wrong).
    """
    out: dict[str, list[str]] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, Mapping):
            for key, sub in node.items():
                walk(sub, path if key == "_schema" else (*path, str(key)))
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item, path)
        else:
            out.setdefault(".".join(path) or "_schema", []).append(str(node))

    walk(messages, ())
    return out


def _reason(exc: Exception) -> str:
    """Why a caller-supplied object could not be read, without quoting any value."""
    return "nested too deeply" if isinstance(exc, RecursionError) else f"unreadable input ({type(exc).__name__})"


_NOT_AN_OBJECT = {"_schema": ["Invalid input type: expected a JSON object."]}


class BetaSessionCodec:
    """Validates and encodes beta session requests, decodes the answers.

    Build one and share it: it holds the schema instances, which are safe to reuse from many threads.

    Only :class:`RequestValidationError` leaves ``load_request``/``encode`` and only
    :class:`ResponseValidationError` leaves ``decode``, whatever the input. Validation produces those errors;
    a last-resort ``except Exception`` also turns into them whatever a caller-supplied object may raise (a
    self-referencing list, a ``Mapping`` whose ``items()`` fails, nesting past the recursion limit), with the
    original exception chained for debugging.
    """

    def __init__(self) -> None:
        self._request_schema = RealtimeSessionCreateRequestSchema()
        self._response_schema = RealtimeSessionCreateResponseSchema()
        self._request_keys = frozenset(self._request_schema.fields)
        self._response_keys = tuple(name for name in self._response_schema.fields if name != "client_secret")
        _check_fast_path_assumptions(self._request_schema)  # also builds every nested schema now, so that
        _check_fast_path_assumptions(self._response_schema)  # first use from several threads races on nothing
        self._fast_load_request = compile_loader(self._request_schema)
        self._fast_load_response = compile_loader(self._response_schema)

    def load_request(self, data: Mapping[str, Any]) -> RealtimeSessionCreateRequest:
        """Validate a JSON-named mapping into the dataclass. Unknown keys are errors (``"extra"`` included)."""
        try:
            return self._load_request(data)
        except RequestValidationError:
            raise
        except Exception as exc:  # see "Only ... leaves" in the class docstring
            raise RequestValidationError({"_schema": [f"Could not validate: {_reason(exc)}."]}) from exc

    def encode(self, request: RealtimeSessionCreateRequest | Mapping[str, Any]) -> dict[str, Any]:
        """The validated, JSON-ready body: fresh dicts and lists, ``NOT_GIVEN`` left out, ``None`` kept as null.

        A mapping is loaded and dumped back. A dataclass is dumped and the dump validated (dumping alone
        validates nothing); its ``extra`` is then merged in, checked only to be JSON (``NOT_GIVEN`` values are
        skipped) and not to collide with a known field.
        """
        try:
            if isinstance(request, RealtimeSessionCreateRequest):
                return self._encode_model(request)
            return fast_dump(self._request_schema, self._load_request(request))
        except RequestValidationError:
            raise
        except Exception as exc:  # see "Only ... leaves" in the class docstring
            raise RequestValidationError({"_schema": [f"Could not validate: {_reason(exc)}."]}) from exc

    def decode(self, body: Any, *, request_id: str | None) -> RealtimeSessionCreateResponse:
        """Read a 200 body (already parsed JSON) into the response dataclass.

        Strict on the one thing the caller needs, ``client_secret{value: non-empty string, expires_at: int}``:
        anything else there raises :class:`ResponseValidationError` carrying ``request_id``. Lenient on the
        echoed settings: a top-level setting whose value does not fit its type is left ``NOT_GIVEN``, its
        dotted path recorded in ``invalid_fields``, and the raw value stays in ``to_dict()``. A successful mint
        never fails because the echo changed shape. Error messages never quote values, so never the secret.
        """
        if not isinstance(body, Mapping):
            raise ResponseValidationError(
                f"response body is not a JSON object (got {type(body).__name__})", request_id=request_id
            )
        try:
            raw: dict[str, Any] = json_copy(body)
            loaded, invalid = self._load_response(raw)
        except Exception as exc:  # see "Only ... leaves" in the class docstring
            raise ResponseValidationError(
                f"response body could not be read: {_reason(exc)}", request_id=request_id
            ) from exc
        if loaded is None:
            detail = "; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in sorted(invalid.items()))
            raise ResponseValidationError(f"response has no valid client_secret ({detail})", request_id=request_id)
        return RealtimeSessionCreateResponse(
            client_secret=loaded["client_secret"],
            **{name: loaded.get(name, NOT_GIVEN) for name in self._response_keys},
            request_id=request_id,
            invalid_fields=tuple(sorted(invalid)),
            _raw=raw,
        )

    # --- internals ---

    def _load_request(self, data: Mapping[str, Any]) -> RealtimeSessionCreateRequest:
        if not isinstance(data, Mapping):
            raise RequestValidationError(_NOT_AN_OBJECT)
        loaded: RealtimeSessionCreateRequest = self._fast_load_request(data)
        if loaded is not FALLBACK:
            return loaded
        try:
            loaded = self._request_schema.load(data)
        except ValidationError as exc:
            errors = flatten_messages(exc.messages)
        else:
            return loaded
        raise RequestValidationError(errors)

    def _encode_model(self, request: RealtimeSessionCreateRequest) -> dict[str, Any]:
        body = fast_dump(self._request_schema, request)
        errors: dict[str, list[str]] = {}
        if self._fast_load_request(body) is FALLBACK:
            try:
                self._request_schema.load(body)
            except ValidationError as exc:
                errors.update(flatten_messages(exc.messages))
        extra = request.extra
        if not isinstance(extra, Mapping):
            errors["extra"] = ["Not a mapping."]
        else:
            for key, value in extra.items():
                if value is NOT_GIVEN:
                    continue
                if not isinstance(key, str) or not (key.isascii() or _is_utf8_encodable(key)):
                    errors.setdefault("extra", []).append("Keys must be strings (of valid Unicode).")
                elif key in self._request_keys:
                    errors[f"extra.{key}"] = [f"Collides with the field {key!r}: set the field instead."]
                elif (problem := json_problem(value)) is not None:
                    where, why = problem
                    errors[f"extra.{key}"] = [f"Not JSON at {where or 'the top level'}: {why}"]
                else:
                    body[key] = json_copy(value)
        if errors:
            raise RequestValidationError(errors)
        return body

    def _load_response(self, raw: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
        """Load leniently: drop the top-level keys that fail and load again. ``None`` if the secret failed."""
        fast = self._fast_load_response(raw)
        if fast is not FALLBACK:
            return fast, {}
        invalid: dict[str, list[str]] = {}
        data = raw
        for _ in range(3):  # the second load succeeds: dropping a key cannot make another one fail
            try:
                loaded: dict[str, Any] = self._response_schema.load(data)
            except ValidationError as exc:
                messages = exc.messages
            else:
                return loaded, invalid
            errors = flatten_messages(messages)
            fatal = {path: msgs for path, msgs in errors.items() if path.split(".")[0] in ("client_secret", "_schema")}
            if fatal or not isinstance(messages, Mapping):
                return None, fatal or errors
            invalid.update(errors)
            data = {key: value for key, value in data.items() if key not in messages}
        return None, invalid


@functools.cache
def default_codec() -> BetaSessionCodec:
    """The process-wide codec, for callers without a container (``RealtimeSessionCreateRequest.to_dict``)."""
    return BetaSessionCodec()


__all__ = [
    "FALLBACK",
    "BetaSessionCodec",
    "ClientSecretConfigSchema",
    "ClientSecretSchema",
    "ExpiresAfterSchema",
    "FunctionToolSchema",
    "InputAudioTranscriptionSchema",
    "NoiseReductionSchema",
    "RealtimeSessionCreateRequestSchema",
    "RealtimeSessionCreateResponseSchema",
    "TracingConfigSchema",
    "TurnDetectionSchema",
    "compile_loader",
    "default_codec",
    "fast_dump",
    "flatten_messages",
    "json_problem",
]
