"""What every operation's codec does the same way: validate and encode requests, read answers leniently.

:class:`RequestEncoder` turns a request dataclass or JSON-named mapping into the validated body;
:class:`ResponseReader` turns a 200 body into the loaded attributes of a response dataclass. Each codec
(``BetaSessionCodec``, ``ClientSecretCodec``, ...) is one of each plus the dataclass it builds.

Only :class:`RequestValidationError` leaves the encoder and only :class:`ResponseValidationError` leaves the
reader, whatever the input. Validation produces those errors; a last-resort ``except Exception`` also turns into
them whatever a caller-supplied object may raise (a self-referencing list, a ``Mapping`` whose ``items()``
fails, nesting past the recursion limit), with the original exception chained for debugging. Messages never
quote values, so never a secret.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from dataclasses import fields, is_dataclass
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast

from realtime_service.errors import RequestValidationError, ResponseValidationError
from realtime_service.redaction import shown_name
from realtime_service.wire.plans import (
    FALLBACK,
    Planned,
    Unsure,
    compile_plan_dumper,
    compile_plan_loader,
    field_names,
)
from realtime_service.wire.values import NOT_GIVEN, json_copy, json_problem, utf8_encodable

if TYPE_CHECKING:  # marshmallow is imported when a schema is built: a planned codec may never need it
    from marshmallow import Schema

    from realtime_service.wire.fields import ModelSchema

T = TypeVar("T")
P = ParamSpec("P")

_NOT_AN_OBJECT = {"_schema": ["Invalid input type: expected a JSON object."]}


def flatten_messages(messages: Any) -> dict[str, list[str]]:
    """marshmallow's nested error messages as ``{dotted.path: [messages]}`` (``tools.0.name``).

    A ``_schema`` level names the object itself (``turn_detection: Invalid input type.``); at the top it stays
    ``_schema`` (the body as a whole is wrong). A key that is the empty string is named as itself (``""``). Each
    key is shown through :func:`~realtime_service.redaction.shown_name`: an unknown field is the caller's own
    string (a pasted secret, say), so one not shaped like a field name is named by its length only.
    """
    out: dict[str, list[str]] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, Mapping):
            for key, sub in node.items():
                walk(sub, path if key == "_schema" else (*path, shown_name(key)))
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item, path)
        else:
            out.setdefault(".".join(path) if path else "_schema", []).append(str(node))

    walk(messages, ())
    return out


def reason(exc: Exception) -> str:
    """Why a caller-supplied object could not be read, without quoting any value."""
    return "nested too deeply" if isinstance(exc, RecursionError) else f"unreadable input ({type(exc).__name__})"


def _guard_request(method: Callable[P, T]) -> Callable[P, T]:
    """Let only :class:`RequestValidationError` out of ``method``."""

    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except RequestValidationError:
            raise
        except Exception as exc:  # see the module docstring
            raise RequestValidationError({"_schema": [f"Could not validate: {reason(exc)}."]}) from exc

    return guarded


class RequestEncoder:
    """Validates one operation's requests against its (``unknown = RAISE``) request schema and encodes them.

    ``schema`` is the schema instance, or a :class:`~realtime_service.wire.plans.Planned` one: the fast path is
    then compiled from the plan, and the schema is built the first time it must have its say (an input the
    plan is not sure of, an error to write). ``nested_extras`` names attributes of the request holding
    dataclasses that have an ``extra`` of their own (GA's ``session``): that ``extra`` is merged into the
    matching object of the body.
    """

    def __init__(self, schema: ModelSchema | Planned, *, nested_extras: tuple[str, ...] = ()) -> None:
        if isinstance(schema, Planned):
            self._planned: Planned | None = schema
            self._model = schema.plan[1]
            self._fast_load = compile_plan_loader(schema.plan)
            self._fast_check = compile_plan_loader(schema.plan, build=False)
            self._plan_dump = compile_plan_dumper(schema.plan)
            self._dump: Callable[[Any], dict[str, Any]] = self._dump_planned
        else:
            from realtime_service.wire.fastpath import check_fast_path_assumptions, compile_dumper, compile_loader

            check_fast_path_assumptions(schema)
            self._planned = None
            self._built: ModelSchema = schema
            self._model = schema.__model__
            self._fast_load = compile_loader(schema)
            self._fast_check = compile_loader(schema, build=False)
            self._dump = compile_dumper(schema)
        self._nested_extras = nested_extras

    @property
    def _schema(self) -> ModelSchema:
        """The schema itself (built on first use when planned)."""
        if self._planned is None:
            return self._built
        schema: ModelSchema = self._planned.schema()
        return schema

    def _dump_planned(self, request: Any) -> dict[str, Any]:
        try:
            dumped: dict[str, Any] = self._plan_dump(request)
        except Unsure:  # a value only marshmallow's own dump handles (a subclass of a session's dataclass)
            from realtime_service.wire.fastpath import fast_dump

            return fast_dump(self._schema, request)
        return dumped

    @_guard_request
    def load(self, data: Mapping[str, Any]) -> Any:
        """Validate a JSON-named mapping into the dataclass. Unknown keys are errors (``"extra"`` included)."""
        if not isinstance(data, Mapping):
            raise RequestValidationError(_NOT_AN_OBJECT)
        loaded = self._fast_load(data)
        if loaded is not FALLBACK:
            return loaded
        from marshmallow import ValidationError

        try:
            return self._schema.load(data)
        except ValidationError as exc:
            errors = flatten_messages(exc.messages)
        raise RequestValidationError(errors)

    @_guard_request
    def encode(self, request: Any) -> dict[str, Any]:
        """The validated, JSON-ready body: fresh dicts and lists, ``NOT_GIVEN`` left out, ``None`` kept as null.

        A mapping is loaded and dumped back. A dataclass is dumped and the dump validated (dumping alone
        validates nothing); its ``extra`` is then merged in, checked only to be JSON (``NOT_GIVEN`` values are
        skipped) and not to collide with a known field.
        """
        if not isinstance(request, self._model):
            loaded: dict[str, Any] = self._dump(self.load(request))
            return loaded
        body: dict[str, Any] = self._dump(request)
        errors: dict[str, list[str]] = {}
        if self._fast_check(body) is FALLBACK:
            from marshmallow import ValidationError

            try:
                self._schema.load(body)
            except ValidationError as exc:
                errors.update(flatten_messages(exc.messages))
        _merge_extra(body, request, "", errors)
        for name in self._nested_extras:
            child, target = getattr(request, name, NOT_GIVEN), body.get(name)
            if is_dataclass(child) and hasattr(child, "extra") and isinstance(target, dict):
                _merge_extra(target, child, f"{name}.", errors)
        if errors:
            raise RequestValidationError(errors)
        return body


def _merge_extra(body: dict[str, Any], obj: Any, prefix: str, errors: dict[str, list[str]]) -> None:
    """Merge ``obj.extra`` into ``body``, recording problems under ``<prefix>extra.<key>``."""
    extra = obj.extra
    if not isinstance(extra, Mapping):
        errors[f"{prefix}extra"] = ["Not a mapping."]
        return
    known: frozenset[str] | None = None
    for key, value in extra.items():
        if value is NOT_GIVEN:
            continue
        if known is None:
            known = frozenset(f.name for f in fields(obj)) - {"extra"}
        if not isinstance(key, str) or not utf8_encodable(key):
            errors.setdefault(f"{prefix}extra", []).append("Keys must be strings (of valid Unicode).")
        elif key in known:
            errors[f"{prefix}extra.{key}"] = [f"Collides with the field {key!r}: set the field instead."]
        elif (problem := json_problem(value)) is not None:
            where, why = problem
            errors[f"{prefix}extra.{shown_name(key)}"] = [f"Not JSON at {where or 'the top level'}: {why}"]
        else:
            body[key] = json_copy(value)


# --- responses -----------------------------------------------------------------------------------------------

_DROP: Any = object()
_MAX_PASSES = 16


class ResponseReader:
    """Reads one operation's 200 body with its (``unknown = INCLUDE``) response schema, leniently.

    Strict on ``required`` (top-level keys the caller cannot do without, such as the secret): anything wrong
    there raises :class:`ResponseValidationError` carrying the request id. Lenient on the rest: a value that
    does not fit its type is left out of the loaded attributes and its dotted path recorded, while the raw body
    keeps it. ``deep`` decides what is left out: the innermost failing key, list item or object (GA: a bad
    ``threshold`` costs only the threshold), or the whole top-level setting (beta, as it always was). A
    successful mint never fails because the echo changed shape.
    """

    def __init__(self, schema: Schema | Planned, *, required: tuple[str, ...], deep: bool) -> None:
        if isinstance(schema, Planned):
            self._planned: Planned | None = schema
            self._fast_load = compile_plan_loader(schema.plan)
        else:
            from realtime_service.wire.fastpath import check_fast_path_assumptions, compile_loader

            check_fast_path_assumptions(schema)
            self._planned = None
            self._built: Schema = schema
            self._fast_load = compile_loader(schema)
        self._required = required
        self._deep = deep

    @property
    def _schema(self) -> Schema:
        """The schema itself (built on first use when planned)."""
        if self._planned is None:
            return self._built
        schema: Schema = self._planned.schema()
        return schema

    def read(self, body: Any, *, request_id: str | None) -> tuple[dict[str, Any], dict[str, Any], tuple[str, ...]]:
        """``(raw, loaded, invalid_fields)``: a private deep copy of ``body``, what loaded, what did not."""
        if not isinstance(body, Mapping):
            raise ResponseValidationError(
                f"response body is not a JSON object (got {type(body).__name__})", request_id=request_id
            )
        try:
            raw: dict[str, Any] = json_copy(body)
            fast = self._fast_load(raw)
            if fast is not FALLBACK:
                return raw, fast, ()
            loaded, invalid, fatal = self._load_leniently(raw)
        except Exception as exc:  # see the module docstring
            raise ResponseValidationError(
                f"response body could not be read: {reason(exc)}", request_id=request_id
            ) from exc
        if fatal:
            detail = "; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in sorted(fatal.items()))
            names = " or ".join(self._required)
            raise ResponseValidationError(f"response has no valid {names} ({detail})", request_id=request_id)
        return raw, loaded, invalid

    def _load_leniently(self, raw: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...], dict[str, list[str]]]:
        """Load, leave out what failed, load again. Only the first pass's errors are reported: later passes
        only see what leaving things out caused (a required key now missing), never a new problem."""
        from marshmallow import ValidationError

        data: Any = raw
        invalid: tuple[str, ...] | None = None
        for _ in range(_MAX_PASSES):
            try:
                loaded: dict[str, Any] = self._schema.load(data)
            except ValidationError as exc:
                messages = exc.messages
            else:
                return loaded, invalid or (), {}
            errors = flatten_messages(messages)
            fatal = {path: msgs for path, msgs in errors.items() if path.split(".")[0] in (*self._required, "_schema")}
            if fatal or not isinstance(messages, Mapping):
                return {}, (), fatal or errors
            if invalid is None:
                invalid = tuple(sorted(errors))
            data = _prune(data, messages, self._deep)
            if data is _DROP:
                break
        # Out of passes (or nothing left): keep only what must be there, which loaded fine the first time.
        loaded = self._schema.load({key: raw[key] for key in self._required if key in raw})
        return loaded, invalid or (), {}


def _prune(data: Any, messages: Any, deep: bool) -> Any:
    """``data`` without the parts ``messages`` (marshmallow's nested errors about it) blame, or ``_DROP`` when
    ``data`` as a whole must go: it is wrong itself, a key it requires is missing, or its ``type`` does not
    fit (its other keys mean something else under another type, and without ``type`` a tool would pass for
    the default, a function tool)."""
    if not isinstance(messages, Mapping) or "_schema" in messages:
        return _DROP
    if isinstance(data, Mapping):
        kept = dict(data)
        for key, sub in messages.items():
            if key not in kept or (deep and key == "type"):
                return _DROP
            pruned = _prune(kept[key], sub, deep) if deep else _DROP
            if pruned is _DROP:
                del kept[key]
            else:
                kept[key] = pruned
        return kept
    if isinstance(data, list):
        items: list[Any] = list(data)
        dropped: set[int] = set()
        for index, sub in messages.items():
            if not isinstance(index, int) or not 0 <= index < len(items):
                return _DROP
            pruned = _prune(items[index], sub, deep)
            if pruned is _DROP:
                dropped.add(index)
            else:
                items[index] = pruned
        return [item for index, item in enumerate(items) if index not in dropped]
    return _DROP


Req = TypeVar("Req")
Resp = TypeVar("Resp")


class OperationCodec(Generic[Req, Resp]):
    """Validates and encodes one operation's requests, decodes its answers into ``response_model``.

    Build one and share it: it holds the schema instances, which are safe to reuse from many threads. Every
    operation's codec has the same three methods, which are all the service needs. Either schema may be
    :class:`~realtime_service.wire.plans.Planned` (see :class:`RequestEncoder`).
    """

    def __init__(
        self,
        request_schema: ModelSchema | Planned,
        response_schema: Schema | Planned,
        response_model: Callable[..., Resp],
        *,
        required: tuple[str, ...],
        deep: bool,
        nested_extras: tuple[str, ...] = (),
    ) -> None:
        self._encoder = RequestEncoder(request_schema, nested_extras=nested_extras)
        self._reader = ResponseReader(response_schema, required=required, deep=deep)
        self._response_model = response_model
        self._response_keys = (
            field_names(response_schema.plan) if isinstance(response_schema, Planned) else tuple(response_schema.fields)
        )

    def load_request(self, data: Mapping[str, Any]) -> Req:
        """Validate a JSON-named mapping into the dataclass. Unknown keys are errors (``"extra"`` included)."""
        loaded: Req = self._encoder.load(data)
        return loaded

    def encode(self, request: Req | Mapping[str, Any]) -> dict[str, Any]:
        """The validated, JSON-ready body: fresh dicts and lists, ``NOT_GIVEN`` left out, ``None`` kept as null.

        A mapping is loaded and dumped back. A dataclass is dumped and the dump validated (dumping alone
        validates nothing); its ``extra`` is then merged in, checked only to be JSON (``NOT_GIVEN`` values are
        skipped) and not to collide with a known field.
        """
        return self._encoder.encode(request)

    def decode(self, body: Any, *, request_id: str | None) -> Resp:
        """Read a 200 body (already parsed JSON) into the response dataclass; see :class:`ResponseReader`."""
        raw, loaded, invalid = self._reader.read(body, request_id=request_id)
        attributes = {name: loaded.get(name, NOT_GIVEN) for name in self._response_keys}
        self._complete(attributes, raw)
        return self._response_model(**attributes, request_id=request_id, invalid_fields=invalid, _raw=raw)

    def _complete(self, attributes: dict[str, Any], raw: dict[str, Any]) -> None:
        """Adjust the loaded attributes before the dataclass is built (a hook; nothing by default)."""


_C = TypeVar("_C")


def shared_codec(codec_class: type[_C], build: Callable[[], _C] | None = None) -> _C:
    """The process-wide instance of a codec class, for callers without a container (``request.to_dict()``);
    ``build`` makes it (default: ``codec_class()``)."""
    with _SHARED_LOCK:
        codec = _SHARED.get(codec_class)
        if codec is None:
            codec = _SHARED[codec_class] = (build or codec_class)()
    return cast(_C, codec)


_SHARED: dict[type[Any], Any] = {}
_SHARED_LOCK = threading.Lock()


__all__ = [
    "OperationCodec",
    "RequestEncoder",
    "ResponseReader",
    "flatten_messages",
    "reason",
    "shared_codec",
]
