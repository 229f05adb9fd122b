"""The user's tools: Python functions the model may call during a call, described to the API as JSON Schema and
run so that no tool can crash, stall or leak through the controller.

A :class:`Toolbox` holds the tools. ``definitions()`` is the Realtime session's ``tools`` list and
``responses_definitions()`` GPT-Live's ``delegation.responses.tools``; ``run(name, arguments, call_id=...)`` is
what the sideband controller calls for each function call, and always returns the output text (JSON): a tool's
failure, a timeout, arguments that are not JSON or break the schema, and an unknown name each give an
``{"error": "..."}`` result the model can speak about, logged once with the call id. Running each call exactly
once (by the API's ``call_id``) is the controller's job; the toolbox runs what it is given.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import enum
import functools
import inspect
import json
import logging
import re
import threading
import traceback
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast, overload

import jsonschema
import referencing
import referencing.exceptions
import referencing.jsonschema

from ..errors import ConfigurationError
from ..redaction import install_log_redaction, scrub, shown_name

LOGGER_NAME = "realtime_service.sideband.tools"
log = logging.getLogger(LOGGER_NAME)
install_log_redaction(loggers=(LOGGER_NAME,))  # registered secrets, whatever handler the host attaches

#: The most argument text a call may carry (the model writes it; a hostile or runaway one is refused unread).
MAX_ARGUMENT_BYTES = 256 * 1024
#: The deepest nesting arguments may have (what walks them, logs and conversion included, then never recurses far).
MAX_ARGUMENT_DEPTH = 32
#: The most output text a tool may return (a larger one is an error result, not a frame the API may refuse).
MAX_OUTPUT_BYTES = 256 * 1024
#: How much of an error message reaches the model and the log, and how much of arguments/outputs DEBUG shows.
MAX_ERROR_CHARS = 300
MAX_LOGGED_CHARS = 500
#: What a ``sensitive`` argument's value is shown as, at every log level.
REDACTED = "[redacted]"
#: The API's function names: letters, digits, ``_`` and ``-``, at most 64.
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Plain-word parameter descriptions in a sphinx docstring: ``:param name: text``.
_PARAM_LINE = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+):\s*(.*)$")

F = TypeVar("F", bound=Callable[..., Any])
Converter = Callable[[Any], Any]


@dataclasses.dataclass(frozen=True)
class ToolContext:
    """What a tool may learn about the call that invoked it: give the function a parameter annotated
    ``ToolContext`` (or an unannotated one named ``context``); it is not part of the schema the model sees."""

    #: The API's id of this function call (``call_...``): the key the controller runs it exactly once by.
    call_id: str
    #: The Realtime call id (``rtc_...``) or GPT-Live session id the call belongs to, when the controller says.
    session_id: str | None
    #: The tool's name.
    tool: str


class RawJSON(str):
    """A tool result that is already JSON text: passed to the model as it is (after a check that it parses).

    Any other result, a plain ``str`` included, is serialised with ``json.dumps``: a tool returning ``"42"``
    gives the model the JSON string ``"42"``, never the number, whatever the text looks like.
    """


@dataclasses.dataclass(frozen=True)
class Tool:
    """One registered tool: its API description and how to call it."""

    name: str
    description: str
    parameters: dict[str, Any]
    strict: bool
    timeout: float
    sensitive: frozenset[str]
    function: Callable[..., Any] = dataclasses.field(repr=False)
    is_async: bool = dataclasses.field(repr=False)
    context_parameter: str | None = dataclasses.field(repr=False)
    #: Per top-level argument, how its JSON value becomes the annotated Python value (derived schemas only).
    converters: Mapping[str, Converter] = dataclasses.field(repr=False)
    validator: Any = dataclasses.field(repr=False, compare=False)


class _Unsupported(Exception):
    """An annotation that has no JSON Schema this module can write (the reason says which and why)."""


@dataclasses.dataclass(frozen=True)
class _Shape:
    schema: dict[str, Any]
    convert: Converter


def _identity(value: Any) -> Any:
    return value


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) else value


_JSON_TYPES: dict[type, str] = {str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}


def _enum_schema(values: list[Any], where: str) -> dict[str, Any]:
    """``{"enum": values}`` with the one JSON ``type`` they share, when they share one."""
    kinds = set()
    for value in values:
        if type(value) not in _JSON_TYPES:
            raise _Unsupported(f"{where} value {value!r} is not a JSON string, number, boolean or null")
        kinds.add(_JSON_TYPES[type(value)])
    schema: dict[str, Any] = {"enum": list(values)}
    if len(kinds) == 1:
        schema = {"type": kinds.pop(), **schema}
    return schema


def _nullable(shape: _Shape) -> _Shape:
    schema = shape.schema
    if isinstance(schema.get("type"), str) and set(schema) <= {"type", "description"}:
        widened = {**schema, "type": [schema["type"], "null"]}
    else:
        widened = {"anyOf": [schema, {"type": "null"}]}
    inner = shape.convert
    return _Shape(widened, lambda value: None if value is None else inner(value))


def _union(shapes: list[_Shape]) -> _Shape:
    """``anyOf`` the members; a value becomes the first member whose schema it matches."""
    checks = [(_validator(shape.schema), shape.convert) for shape in shapes]

    def convert(value: Any) -> Any:
        for validator, member in checks:
            if validator.is_valid(value):
                return member(value)
        return value  # validated against the whole union before: not reached

    return _Shape({"anyOf": [shape.schema for shape in shapes]}, convert)


def _object_shape(
    fields: list[tuple[str, Any, bool]], build: Callable[[dict[str, Any]], Any], seen: tuple[Any, ...]
) -> _Shape:
    """An object of named fields (name, annotation, required), every other property refused."""
    properties: dict[str, Any] = {}
    converters: dict[str, Converter] = {}
    required: list[str] = []
    for name, annotation, is_required in fields:
        shape = _describe(annotation, seen)
        properties[name] = shape.schema
        converters[name] = shape.convert
        if is_required:
            required.append(name)

    def convert(value: Any) -> Any:
        return build({key: converters[key](item) for key, item in value.items()})

    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    schema["additionalProperties"] = False
    return _Shape(schema, convert)


def _describe(annotation: Any, seen: tuple[Any, ...] = ()) -> _Shape:
    """The JSON Schema of ``annotation`` and how a value valid for it becomes the annotated Python value."""
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Annotated:
        shape = _describe(arguments[0], seen)
        texts = [item for item in arguments[1:] if isinstance(item, str)]
        return _Shape({**shape.schema, "description": texts[0]}, shape.convert) if texts else shape
    if annotation is None or annotation is type(None):
        return _Shape({"type": "null"}, _identity)
    if annotation in (str, bool):
        return _Shape({"type": _JSON_TYPES[annotation]}, _identity)
    if annotation is int:  # JSON Schema's integer includes 3.0: an int parameter still gets 3
        return _Shape({"type": "integer"}, _whole)
    if annotation is float:
        return _Shape({"type": "number"}, float)  # JSON's 3 is a float parameter's 3.0
    if origin in (typing.Required, typing.NotRequired):  # a TypedDict's key markers: the value's type is inside
        return _describe(arguments[0], seen)
    if origin is typing.Literal:
        return _Shape(_enum_schema(list(arguments), "Literal"), _identity)
    if origin in (typing.Union, types.UnionType):
        members = [member for member in arguments if member is not type(None)]
        shapes = [_describe(member, seen) for member in members]
        shape = shapes[0] if len(shapes) == 1 else _union(shapes)
        return _nullable(shape) if len(members) < len(arguments) else shape
    if origin is list:
        if len(arguments) != 1:
            raise _Unsupported("a list needs its item type (list[str])")
        items = _describe(arguments[0], seen)
        convert_item = items.convert
        return _Shape({"type": "array", "items": items.schema}, lambda value: [convert_item(v) for v in value])
    if origin is dict:
        if len(arguments) != 2 or arguments[0] is not str:
            raise _Unsupported("a mapping needs str keys and a value type (dict[str, int])")
        values = _describe(arguments[1], seen)
        convert_value = values.convert
        return _Shape(
            {"type": "object", "additionalProperties": values.schema},
            lambda value: {key: convert_value(item) for key, item in value.items()},
        )
    if annotation in (list, dict):
        raise _Unsupported(f"a bare {annotation.__name__} says nothing of its items: write list[str], dict[str, int]")
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _Shape(_enum_schema([member.value for member in annotation], annotation.__name__), annotation)
    if isinstance(annotation, type) and (typing.is_typeddict(annotation) or dataclasses.is_dataclass(annotation)):
        if annotation in seen:
            raise _Unsupported(f"{annotation.__name__} refers to itself")
        try:
            hints = typing.get_type_hints(annotation, include_extras=True)
        except Exception as error:  # a forward reference that does not resolve: said at decoration
            raise _Unsupported(f"the type hints of {annotation.__name__} do not resolve ({error})") from None
        if typing.is_typeddict(annotation):
            required_keys = getattr(annotation, "__required_keys__", frozenset(hints))
            fields = [(key, hint, _typeddict_required(key, hint, required_keys)) for key, hint in hints.items()]
            return _object_shape(fields, dict, (*seen, annotation))
        fields = [
            (item.name, hints[item.name], _no_default(item))
            for item in dataclasses.fields(annotation)
            if item.init and item.name in hints
        ]
        cls: Callable[..., Any] = annotation
        return _object_shape(fields, lambda value: cls(**value), (*seen, annotation))
    if annotation is typing.Any or annotation is object:
        raise _Unsupported("Any says nothing the model could follow")
    raise _Unsupported(f"{annotation!r} has no JSON Schema here")


def _typeddict_required(key: str, hint: Any, required_keys: frozenset[str]) -> bool:
    """Whether a TypedDict key is required: its ``Required``/``NotRequired`` marker, else the class's say (on
    Python 3.11 a marker written under ``from __future__ import annotations`` is missed by the class itself)."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        origin = typing.get_origin(typing.get_args(hint)[0])
    if origin is typing.NotRequired:
        return False
    return origin is typing.Required or key in required_keys


def _no_default(item: dataclasses.Field[Any]) -> bool:
    return item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING


def _strict_problem(schema: Any, path: str = "parameters") -> str | None:
    """Why ``schema`` cannot be used with ``strict: true`` (every object closed and every property required), or
    ``None`` when it can."""
    if not isinstance(schema, dict):
        return None
    properties = schema.get("properties")
    if schema.get("type") == "object" or isinstance(properties, dict):
        if schema.get("additionalProperties") is not False:
            return f"{path} is an open object (additionalProperties is not false)"
        missing = sorted(set(properties or {}) - set(schema.get("required") or ()))
        if missing:
            return f"{path}.{missing[0]} is optional (strict needs every property required)"
    for key, child in (properties or {}).items():
        if problem := _strict_problem(child, f"{path}.{key}"):
            return problem
    children = [schema.get("items"), *(schema.get("anyOf") or ()), *(schema.get("$defs") or {}).values()]
    for child in children:
        if problem := _strict_problem(child, path):
            return problem
    return None


def _docstring_parts(function: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """A function's description (its docstring's first paragraph, lines joined) and ``:param x:`` texts."""
    doc = inspect.getdoc(function) if inspect.isfunction(function) or inspect.ismethod(function) else None
    if not doc:
        return "", {}
    params: dict[str, str] = {}
    current: str | None = None
    for line in doc.splitlines():
        stripped = line.strip()
        match = _PARAM_LINE.match(stripped)
        if match:
            current = match.group(1)
            params[current] = match.group(2).strip()
        elif current and stripped and line[:1].isspace():
            params[current] = f"{params[current]} {stripped}".strip()
        else:
            current = None
    paragraph = []
    for line in doc.splitlines():
        if not line.strip() or line.lstrip().startswith(":"):
            break
        paragraph.append(line.strip())
    return " ".join(paragraph), params


class Toolbox:
    """The tools a call may use. Register with :meth:`function`; the controller reads :meth:`definitions` (or
    :meth:`responses_definitions`) and calls :meth:`run` for each function call.

    Sync functions run on a thread of the toolbox's own bounded pool (``max_workers``), so a blocking tool never
    blocks the event loop; async functions run on the loop. Each run is bounded by its tool's ``timeout``
    (default ``timeout``). When the run is cancelled (the call ended) a running async tool is cancelled with it;
    a sync tool already running on its thread cannot be stopped and finishes on its own (its result is dropped),
    while one still waiting for a thread never starts. Give blocking tools their own timeouts (an HTTP client's,
    a database's) so no thread is held for long; :meth:`close` at shutdown drops the pool.
    """

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        max_workers: int = 8,
        max_argument_bytes: int = MAX_ARGUMENT_BYTES,
        max_output_bytes: int = MAX_OUTPUT_BYTES,
    ) -> None:
        if not timeout > 0:
            raise ConfigurationError(f"Toolbox timeout must be a positive number of seconds, not {timeout!r}")
        if max_workers < 1:
            raise ConfigurationError(f"Toolbox max_workers must be at least 1, not {max_workers!r}")
        self.timeout = float(timeout)
        self.max_workers = max_workers
        self.max_argument_bytes = max_argument_bytes
        self.max_output_bytes = max_output_bytes
        self._tools: dict[str, Tool] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"Toolbox({sorted(self._tools)!r}, timeout={self.timeout:g})"

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    @property
    def tools(self) -> tuple[Tool, ...]:
        """The registered tools, in registration order."""
        return tuple(self._tools.values())

    # -- registration -----------------------------------------------------------------------------------------

    @overload
    def function(self, function: F, /) -> F: ...

    @overload
    def function(
        self,
        function: None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        sensitive: Iterable[str] = (),
        strict: bool | None = None,
    ) -> Callable[[F], F]: ...

    def function(
        self,
        function: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        sensitive: Iterable[str] = (),
        strict: bool | None = None,
    ) -> Any:
        """Register a tool (as ``@toolbox.function`` or ``@toolbox.function(...)``); the function is returned
        unchanged.

        The name is the function's, the description its docstring's first paragraph, and the parameters a JSON
        Schema derived from its type hints (``str``, ``int``, ``float``, ``bool``, ``None``/``Optional``,
        ``list[T]``, ``dict[str, T]``, ``Literal``, ``Enum``, ``TypedDict``, dataclasses, unions,
        ``Annotated[T, "description"]``; a parameter with a default is not required), unless given. ``strict``
        (for Responses delegation) defaults to whether the schema allows it. ``sensitive`` names arguments whose
        values are never logged. What cannot be described is refused here with a :class:`ConfigurationError`.
        """

        def register(target: Callable[..., Any]) -> Callable[..., Any]:
            tool = self._build(
                target,
                name=name,
                description=description,
                parameters=parameters,
                timeout=timeout,
                sensitive=sensitive,
                strict=strict,
            )
            with self._lock:
                if tool.name in self._tools:
                    raise ConfigurationError(f"tool {tool.name}: a tool of that name is already registered")
                self._tools[tool.name] = tool
            return target

        return register(function) if function is not None else register

    def _build(
        self,
        function: Callable[..., Any],
        *,
        name: str | None,
        description: str | None,
        parameters: Mapping[str, Any] | None,
        timeout: float | None,
        sensitive: Iterable[str],
        strict: bool | None,
    ) -> Tool:
        if not callable(function):
            raise ConfigurationError(f"a tool must be a function, not {type(function).__name__}")
        tool_name = name if name is not None else getattr(function, "__name__", "")
        if not isinstance(tool_name, str) or not _TOOL_NAME.fullmatch(tool_name):
            raise ConfigurationError(
                f"tool {tool_name!r}: a tool name is 1-64 letters, digits, '_' or '-' (pass name=...)"
            )
        where = f"tool {tool_name}"
        if timeout is not None and not timeout > 0:
            raise ConfigurationError(f"{where}: timeout must be a positive number of seconds, not {timeout!r}")
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError) as error:
            raise ConfigurationError(f"{where}: its signature cannot be read ({error})") from None
        try:
            hints = typing.get_type_hints(function, include_extras=True)
        except Exception as error:  # a name in an annotation that does not resolve
            why = f"{type(error).__name__}: {error}"
            raise ConfigurationError(f"{where}: its type hints do not resolve ({why})") from None
        summary, param_texts = _docstring_parts(function)
        context_parameter: str | None = None
        takes_kwargs = False
        plain: list[inspect.Parameter] = []
        for parameter in signature.parameters.values():
            annotation = hints.get(parameter.name, parameter.annotation)
            if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
                raise ConfigurationError(f"{where}: parameter *{parameter.name}: the model passes named arguments only")
            if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
                raise ConfigurationError(f"{where}: parameter {parameter.name} is positional-only; arguments are named")
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                takes_kwargs = True
                continue
            if _is_context(annotation) or (parameter.name == "context" and annotation is inspect.Parameter.empty):
                context_parameter = parameter.name
                continue
            plain.append(parameter)
        names = {parameter.name for parameter in plain}
        converters: dict[str, Converter] = {}
        if parameters is not None:
            schema = self._given_schema(where, parameters, plain, names, takes_kwargs, context_parameter)
        else:
            if takes_kwargs:
                raise ConfigurationError(f"{where}: **kwargs cannot be described; pass parameters= (a JSON Schema)")
            properties: dict[str, Any] = {}
            required: list[str] = []
            for parameter in plain:
                annotation = hints.get(parameter.name, parameter.annotation)
                if annotation is inspect.Parameter.empty:
                    raise ConfigurationError(f"{where}: parameter {parameter.name} has no type hint to describe it by")
                try:
                    shape = _describe(annotation)
                except _Unsupported as error:
                    raise ConfigurationError(f"{where}: parameter {parameter.name}: {error}") from None
                schema_of = dict(shape.schema)
                if parameter.name in param_texts and "description" not in schema_of:
                    schema_of["description"] = param_texts[parameter.name]
                properties[parameter.name] = schema_of
                converters[parameter.name] = shape.convert
                if parameter.default is inspect.Parameter.empty:
                    required.append(parameter.name)
            schema = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
        marked = frozenset(sensitive)
        known = set(schema.get("properties") or {})
        unknown = sorted(marked - known)
        if unknown:
            raise ConfigurationError(f"{where}: sensitive names {unknown[0]!r}, which is not one of its arguments")
        problem = _strict_problem(schema)
        if strict and problem:
            raise ConfigurationError(f"{where}: strict=True, but {problem}")
        return Tool(
            name=tool_name,
            description=(description if description is not None else summary).strip(),
            parameters=schema,
            strict=problem is None if strict is None else strict,
            timeout=float(timeout) if timeout is not None else self.timeout,
            sensitive=marked,
            function=function,
            is_async=_is_async(function),
            context_parameter=context_parameter,
            converters=converters,
            validator=_validator(schema),
        )

    @staticmethod
    def _given_schema(
        where: str,
        parameters: Mapping[str, Any],
        plain: list[inspect.Parameter],
        names: set[str],
        takes_kwargs: bool,
        context_parameter: str | None,
    ) -> dict[str, Any]:
        """A schema the user wrote: a valid JSON Schema of an object whose properties the function accepts."""
        schema = json.loads(json.dumps(parameters))  # a private copy, and proof that it is JSON
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as error:
            raise ConfigurationError(f"{where}: parameters is not a valid JSON Schema: {error.message}") from None
        if schema.get("type") != "object":
            raise ConfigurationError(f"{where}: parameters must describe an object (type: object)")
        if remote := _remote_reference(schema):
            raise ConfigurationError(f"{where}: parameters refers to {remote!r}; only local references (#/...) work")
        if broken := _broken_reference(schema):
            raise ConfigurationError(f"{where}: parameters refers to {broken!r}, which is not in the schema")
        properties = set(schema.get("properties") or {})
        if context_parameter in properties:
            raise ConfigurationError(f"{where}: parameter {context_parameter} is the ToolContext, not an argument")
        if not takes_kwargs and (extra := sorted(properties - names)):
            raise ConfigurationError(f"{where}: parameters names {extra[0]!r}, which the function does not take")
        required = set(schema.get("required") or ())
        for parameter in plain:
            if parameter.default is inspect.Parameter.empty and parameter.name not in required:
                raise ConfigurationError(
                    f"{where}: parameter {parameter.name} has no default, so parameters must list it as required"
                )
        return dict(schema)

    # -- what the API reads -------------------------------------------------------------------------------------

    def definitions(self) -> list[dict[str, Any]]:
        """The Realtime session's ``tools`` entries (``RealtimeFunctionToolParam``): a fresh copy each time."""
        return [
            {
                "type": "function",
                "name": tool.name,
                "description": tool.description,
                "parameters": json.loads(json.dumps(tool.parameters)),
            }
            for tool in self._tools.values()
        ]

    def responses_definitions(self) -> list[dict[str, Any]]:
        """GPT-Live's ``delegation.responses.tools`` entries (the Responses function tool, with ``strict``)."""
        strict = {tool.name: tool.strict for tool in self._tools.values()}
        return [{**entry, "strict": strict[entry["name"]]} for entry in self.definitions()]

    # -- running ------------------------------------------------------------------------------------------------

    async def run(self, name: str, arguments: str, *, call_id: str, session_id: str | None = None) -> str:
        """The output text (JSON) of one function call. Never raises for the tool's own failure, a timeout, bad
        arguments or an unknown name: those give ``{"error": ...}``, logged once with the call id. Cancelling the
        run (the call ended) is passed on (:class:`asyncio.CancelledError`)."""
        call = _shown_id(call_id)
        tool = self._tools.get(name) if isinstance(name, str) else None
        if tool is None:
            return _failure(_shown_tool(name), call, f"unknown tool {_shown_tool(name)}", ())
        try:
            values = self._parse(arguments)
        except _BadArguments as error:
            return _failure(tool.name, call, f"invalid arguments: {error}", ())
        secrets = _sensitive_values(tool, values)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("tool %s, call %s: arguments %s", tool.name, call, _logged(_masked(tool, values), secrets))
        problems = _validation_problems(tool, values)
        if problems:
            return _failure(tool.name, call, f"invalid arguments: {problems}", secrets)
        context = ToolContext(call_id=call_id, session_id=session_id, tool=tool.name)
        limit = asyncio.timeout(tool.timeout)
        try:
            async with limit:
                result = await self._call(tool, values, context)
        except TimeoutError as error:
            if limit.expired():
                return _failure(tool.name, call, f"timed out after {tool.timeout:g} s", secrets)
            return _failure(tool.name, call, _describe_error(error, secrets), secrets, error)
        except asyncio.CancelledError as error:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # the run itself was cancelled: the call ended
            return _failure(tool.name, call, "the tool was cancelled", secrets, error)
        except (Exception, SystemExit) as error:
            return _failure(tool.name, call, _describe_error(error, secrets), secrets, error)
        try:
            output = _serialise(result)
        except _BadResult as error:
            return _failure(tool.name, call, str(error), secrets)
        size = len(output.encode("utf-8"))
        if size > self.max_output_bytes:
            return _failure(
                tool.name, call, f"the result is too large ({size} bytes; at most {self.max_output_bytes})", secrets
            )
        if log.isEnabledFor(logging.DEBUG):
            log.debug("tool %s, call %s: output %s", tool.name, call, _logged(output, secrets))
        return output

    def _parse(self, arguments: object) -> dict[str, Any]:
        if not isinstance(arguments, str):
            raise _BadArguments(f"expected JSON text, not {type(arguments).__name__}")
        too_long = len(arguments) > self.max_argument_bytes  # before encoding: a huge text is not copied first
        if too_long or len(arguments.encode("utf-8", "surrogatepass")) > self.max_argument_bytes:
            raise _BadArguments(f"more than {self.max_argument_bytes} bytes")
        if not arguments.strip():
            return {}  # a function without parameters may be called with no argument text at all
        try:
            values = json.loads(arguments, parse_constant=_refuse_constant, parse_float=_finite_float)
        except (ValueError, RecursionError):
            raise _BadArguments("not JSON") from None
        if not isinstance(values, dict):
            raise _BadArguments(f"expected a JSON object, not {_json_kind(values)}")
        if _deeper_than(values, MAX_ARGUMENT_DEPTH):
            raise _BadArguments(f"nested deeper than {MAX_ARGUMENT_DEPTH} levels")
        return values

    async def _call(self, tool: Tool, values: dict[str, Any], context: ToolContext) -> Any:
        """Call the tool's function with the converted arguments: on the loop if async, else on the pool."""
        kwargs = {key: tool.converters.get(key, _identity)(value) for key, value in values.items()}
        if tool.context_parameter:
            kwargs[tool.context_parameter] = context
        if tool.is_async:
            result = await tool.function(**kwargs)
        else:
            pool = self._executor()
            call = functools.partial(contextvars.copy_context().run, tool.function, **kwargs)
            # Cancelling the awaited future (timeout, end of call) cancels the pool's job if it has not started.
            result = await asyncio.get_running_loop().run_in_executor(pool, call)
        if inspect.isawaitable(result):
            result = await result
        return result

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the toolbox is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="realtime-tool")
            return self._pool

    def close(self) -> None:
        """Drop the thread pool: queued sync tools never start; running ones finish on their own threads. Later
        runs of sync tools give an error result."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


class _BadArguments(Exception):
    """The call's argument text is not a JSON object this module will read."""


class _BadResult(Exception):
    """The tool's result cannot be given to the model as JSON."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether parsed JSON ``value`` nests more than ``limit`` arrays/objects deep (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:20]} is beyond a float")
    return value


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _is_async(function: Callable[..., Any]) -> bool:
    # A callable object whose ``__call__`` is ``async def`` is an async tool too.
    call = None if inspect.isroutine(function) else getattr(type(function), "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(call)


def _validator(schema: dict[str, Any]) -> Any:
    """A validator of ``schema`` that never fetches anything: an empty registry, so a ``$ref`` to a URL fails
    instead of being downloaded (jsonschema's default retrieves remote references)."""
    return jsonschema.Draft202012Validator(schema, registry=referencing.Registry())


def _references(schema: Any) -> Iterable[Any]:
    """Every ``$ref``/``$dynamicRef`` value in ``schema``."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("$ref", "$dynamicRef"):
                yield value
            else:
                yield from _references(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _references(value)


def _broken_reference(schema: dict[str, Any]) -> str | None:
    """The first local reference that points at nothing in ``schema``, or ``None``."""
    resource = referencing.jsonschema.DRAFT202012.create_resource(schema)
    resolver = referencing.Registry().with_resource("urn:tool", resource).resolver(base_uri="urn:tool")
    for reference in _references(schema):
        try:
            resolver.lookup(reference)
        except referencing.exceptions.Unresolvable:
            return str(reference)
    return None


def _remote_reference(schema: Any) -> str | None:
    """The first reference in ``schema`` that is not a local ``#...`` pointer, or ``None``."""
    for reference in _references(schema):
        if not (isinstance(reference, str) and reference.startswith("#")):
            return str(reference)
    return None


def _is_context(annotation: Any) -> bool:
    """``ToolContext``, ``ToolContext | None`` or either ``Annotated``: the parameter the toolbox fills."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return set(typing.get_args(annotation)) == {ToolContext, type(None)}
    return annotation is ToolContext


def _validation_problems(tool: Tool, values: dict[str, Any]) -> str:
    """The schema's objections to ``values``, each naming its field, at most five; empty when valid."""
    try:
        errors = sorted(tool.validator.iter_errors(values), key=lambda error: [str(p) for p in error.absolute_path])
    except Exception as error:  # a given schema that cannot be applied (a reference that does not resolve)
        log.debug("tool %s: its schema could not be applied: %s", tool.name, type(error).__name__)
        return "arguments: the tool's schema could not be applied"
    return "; ".join(_problem(error) for error in errors[:5])


def _problem(error: jsonschema.ValidationError) -> str:
    """One validation error in words that quote no value (a value may be sensitive; a key is shown by
    :func:`~realtime_service.redaction.shown_name`)."""
    path = ".".join(shown_name(part) for part in error.absolute_path) or "arguments"
    kind, expected, schema = error.validator, cast(Any, error.validator_value), cast(Any, error.schema)
    if kind == "required":
        missing = [key for key in expected if isinstance(error.instance, dict) and key not in error.instance]
        return f"{path}: missing {', '.join(missing)}" if missing else f"{path}: missing a required field"
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(schema.get("properties") or {})
        extra = sorted(shown_name(key) for key in error.instance if key not in allowed)
        return f"{path}: unexpected {', '.join(extra[:3])}"
    if kind == "type":
        return f"{path}: must be of type {expected if isinstance(expected, str) else ' or '.join(expected)}"
    if kind == "enum":
        return f"{path}: must be one of {json.dumps(expected)[:200]}"
    if kind == "anyOf":
        return f"{path}: matches none of the allowed types"
    return f"{path}: fails {kind}"


def _sensitive_values(tool: Tool, values: Mapping[str, Any]) -> tuple[str, ...]:
    """The text forms of this call's sensitive argument values (what logs and error messages must not show)."""
    found: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)
        elif value is not None and not isinstance(value, bool):
            text = str(value)
            if len(text) >= 3:  # shorter ones would blank out unrelated text, and identify no one
                found.extend({text, json.dumps(text)[1:-1]})

    for name in tool.sensitive:
        if name in values:
            collect(values[name])
    return tuple(sorted(set(found), key=len, reverse=True))


def _masked(tool: Tool, values: Mapping[str, Any]) -> str:
    shown = {key: REDACTED if key in tool.sensitive else value for key, value in values.items()}
    return json.dumps(shown, ensure_ascii=False, default=str)


def _without(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every registered secret and every sensitive value in it replaced."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return scrub(text)


def _logged(text: str, secrets: Iterable[str]) -> str:
    text = _without(text, secrets)
    return text if len(text) <= MAX_LOGGED_CHARS else f"{text[:MAX_LOGGED_CHARS]}... ({len(text)} characters)"


def _describe_error(error: BaseException, secrets: Iterable[str]) -> str:
    """``Type: message`` of a tool's exception, its first line, scrubbed and short: no traceback, no secret."""
    try:
        lines = str(error).strip().splitlines()
    except Exception:  # an exception whose __str__ fails: its type is all there is to say
        lines = ["(its message could not be read)"]
    message = lines[0] if lines else ""
    text = _without(f"{type(error).__name__}: {message}" if message else type(error).__name__, secrets)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def _failure(tool: str, call: str, message: str, secrets: Iterable[str], error: BaseException | None = None) -> str:
    """Log a failed run once (WARNING, with the call id; the scrubbed traceback at DEBUG) and give its result."""
    secrets = tuple(secrets)
    log.warning("tool %s, call %s failed: %s", tool, call, message)
    if error is not None and log.isEnabledFor(logging.DEBUG):
        trace = "".join(traceback.format_exception(error))
        log.debug("tool %s, call %s: traceback\n%s", tool, call, _without(trace, secrets)[-4000:])
    return json.dumps({"error": message})  # ASCII: a lone surrogate in a message is escaped, never unsendable


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _serialise(result: Any) -> str:
    """The output text: :class:`RawJSON` as given (once it parses), anything else through ``json.dumps``;
    registered secrets scrubbed either way (a tool must not hand the model the API key)."""
    if isinstance(result, RawJSON):
        try:
            json.loads(result, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            raise _BadResult("the tool's RawJSON result is not JSON") from None
        return _sendable(scrub(str(result)))
    try:
        return _sendable(scrub(json.dumps(result, default=_json_default, allow_nan=False, ensure_ascii=False)))
    except Exception as error:  # TypeError, ValueError (NaN), RecursionError, or whatever a result's own code raises
        raise _BadResult(f"the tool's result is not JSON-serialisable ({_describe_error(error, ())})") from None


def _sendable(text: str) -> str:
    """``text`` as UTF-8 can carry it: JSON holding a lone surrogate (which no socket can send) re-written with
    ``\\u`` escapes, the same JSON value."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(json.loads(text))
    return text


def _shown_id(value: object) -> str:
    """An id the API sent, as a log line may show it: its text when short and plain, else its length."""
    if isinstance(value, str) and _TOOL_NAME.fullmatch(value):
        return value
    return f"<id of {len(value)} characters>" if isinstance(value, str) else f"<{type(value).__name__} id>"


def _shown_tool(value: object) -> str:
    """A tool name the model sent: itself when it has a tool name's shape, else its length."""
    if isinstance(value, str) and _TOOL_NAME.fullmatch(value):
        return value
    return f"<name of {len(value)} characters>" if isinstance(value, str) else f"<{type(value).__name__} name>"
