"""``Toolbox`` (realtime_service.sideband.tools): schemas derived from type hints, refusals at decoration, arguments
validated before a call, sync tools on a pool and async ones on the loop, timeouts, error results without
secrets, redacted logs, concurrency, and one tool call answered over a real socket to the emulator."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal, NotRequired, Optional, Protocol, TypedDict

import jsonschema
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_service.emulator import CallRecord, Emulator
from realtime_service.emulator.scripts import ScriptState
from realtime_service.errors import ConfigurationError
from realtime_service.redaction import SECRETS
from realtime_service.sideband.tools import LOGGER_NAME, RawJSON, Toolbox, ToolContext

#: A secret registered for this module's tests only: it must never reach an output or a log line.
API_KEY = "sk-proj-toolbox-test-0123456789abcdefSECRET"
SECRETS.add(API_KEY)
CARD = "4111111111111111"


class ToolRunner(Protocol):
    """The controller's view of a toolbox (issue 24): what ``Toolbox`` must implement."""

    def definitions(self) -> list[dict[str, Any]]: ...

    async def run(self, name: str, arguments: str, *, call_id: str) -> str: ...


def run(toolbox: Toolbox, name: str, arguments: Any, call_id: str = "call_1") -> Any:
    """One run on a fresh loop, its output parsed."""
    output = asyncio.run(
        toolbox.run(name, arguments if isinstance(arguments, str) else json.dumps(arguments), call_id=call_id)
    )
    assert isinstance(output, str)
    return json.loads(output)


def probe(annotation: Any, default: Any = ...) -> Callable[..., Any]:
    """A one-parameter function annotated ``annotation`` that returns what it received."""

    def probe(value):  # type: ignore[no-untyped-def]
        """Echo."""
        return value

    probe.__annotations__ = {"value": annotation}
    if default is not ...:
        probe.__defaults__ = (default,)
    return probe


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 2


class Address(TypedDict):
    street: str
    number: int


class PartialAddress(TypedDict, total=False):
    street: str


class Contact(TypedDict):
    name: str
    phone: NotRequired[str]


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0


SCHEMAS: list[tuple[Any, dict[str, Any]]] = [
    (str, {"type": "string"}),
    (int, {"type": "integer"}),
    (float, {"type": "number"}),
    (bool, {"type": "boolean"}),
    (None, {"type": "null"}),
    (Optional[str], {"type": ["string", "null"]}),  # noqa: UP045  # the spelling is what is tested
    (int | None, {"type": ["integer", "null"]}),
    (list[int], {"type": "array", "items": {"type": "integer"}}),
    (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
    (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
    (Literal[1, "x"], {"enum": [1, "x"]}),
    (Color, {"type": "string", "enum": ["red", "blue"]}),
    (Size, {"type": "integer", "enum": [1, 2]}),
    (int | str, {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
    (
        list[Color] | None,
        {"anyOf": [{"type": "array", "items": {"type": "string", "enum": ["red", "blue"]}}, {"type": "null"}]},
    ),
    (Annotated[str, "The order's id"], {"type": "string", "description": "The order's id"}),
    (
        Address,
        {
            "type": "object",
            "properties": {"street": {"type": "string"}, "number": {"type": "integer"}},
            "required": ["street", "number"],
            "additionalProperties": False,
        },
    ),
    (
        PartialAddress,
        {"type": "object", "properties": {"street": {"type": "string"}}, "required": [], "additionalProperties": False},
    ),
    (
        Contact,
        {
            "type": "object",
            "properties": {"name": {"type": "string"}, "phone": {"type": "string"}},
            "required": ["name"],
            "additionalProperties": False,
        },
    ),
    (
        Point,
        {
            "type": "object",
            "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
]


@pytest.mark.parametrize(("annotation", "schema"), SCHEMAS, ids=[str(i) for i in range(len(SCHEMAS))])
def test_each_supported_annotation_has_its_schema(annotation: Any, schema: dict[str, Any]) -> None:
    toolbox = Toolbox()
    toolbox.function(probe(annotation))
    (definition,) = toolbox.definitions()
    assert definition == {
        "type": "function",
        "name": "probe",
        "description": "Echo.",
        "parameters": {
            "type": "object",
            "properties": {"value": schema},
            "required": ["value"],
            "additionalProperties": False,
        },
    }
    jsonschema.Draft202012Validator.check_schema(definition["parameters"])


def test_name_description_defaults_and_docstring_params() -> None:
    toolbox = Toolbox()

    @toolbox.function
    def lookup_order(order_id: str, verbose: bool = False, context: ToolContext | None = None) -> dict[str, str]:
        """Where an order is, and when it ships.

        Call it when the caller names an order.

        :param order_id: the order's number, as the caller said it
            (digits only)
        """
        return {}

    @toolbox.function(name="book", description="Book a slot.", timeout=2.5)
    async def book_slot(day: str) -> str:
        """Not this text."""
        return day

    lookup, book = toolbox.definitions()
    assert lookup["name"] == "lookup_order"
    assert lookup["description"] == "Where an order is, and when it ships."
    assert lookup["parameters"]["properties"] == {
        "order_id": {"type": "string", "description": "the order's number, as the caller said it (digits only)"},
        "verbose": {"type": "boolean"},
    }
    assert lookup["parameters"]["required"] == ["order_id"]  # a default: not required; the context: not there
    assert (book["name"], book["description"]) == ("book", "Book a slot.")
    assert [tool.timeout for tool in toolbox.tools] == [10.0, 2.5]
    assert lookup_order("1") == {}  # the decorator gives the function back unchanged


def test_responses_definitions_carry_strict_when_the_schema_allows_it() -> None:
    toolbox = Toolbox()
    toolbox.function(probe(str))

    @toolbox.function
    def optional(value: str = "") -> str:
        """Optional."""
        return value

    @toolbox.function(parameters={"type": "object", "properties": {"value": {"type": "string"}}})
    def given(value: str = "") -> str:
        """Given."""
        return value

    definitions = toolbox.responses_definitions()
    assert [(d["name"], d["strict"]) for d in definitions] == [("probe", True), ("optional", False), ("given", False)]
    assert set(definitions[0]) == {"type", "name", "description", "parameters", "strict"}
    # The SDK's types name these keys (Realtime: RealtimeFunctionToolParam; Live: FunctionToolParam)
    from openai.types.live.function_tool_param import FunctionToolParam
    from openai.types.realtime.realtime_function_tool_param import RealtimeFunctionToolParam

    assert set(definitions[0]) <= set(FunctionToolParam.__annotations__)
    assert set(toolbox.definitions()[0]) == set(RealtimeFunctionToolParam.__annotations__)
    toolbox.definitions()[0]["parameters"]["properties"].clear()  # a copy: the toolbox is unchanged
    assert toolbox.definitions()[0]["parameters"]["properties"] == {"value": {"type": "string"}}
    runner: ToolRunner = toolbox
    assert runner.definitions() == toolbox.definitions()
    # The package's own GA session schema (what a session.update is checked by) takes the Realtime shape, and
    # refuses the Responses one: each list is for its API.
    from marshmallow import ValidationError

    from realtime_service.ga.schemas import RealtimeSessionConfigSchema

    loaded = RealtimeSessionConfigSchema().load({"type": "realtime", "tools": toolbox.definitions()})
    assert [tool.name for tool in loaded.tools] == ["probe", "optional", "given"]
    with pytest.raises(ValidationError, match="strict"):
        RealtimeSessionConfigSchema().load({"type": "realtime", "tools": definitions})


# -- refusals at decoration -----------------------------------------------------------------------------------


def _args_tool(*values: str) -> None:
    """Varargs."""


def _kwargs_tool(**values: str) -> None:
    """Kwargs."""


def _untyped(order_id):  # type: ignore[no-untyped-def]
    """No hint."""


def _positional(order_id: str, /) -> None:
    """Positional only."""


class Opaque:
    pass


@pytest.mark.parametrize(
    ("function", "options", "words"),
    [
        (_args_tool, {}, ["_args_tool", "*values"]),
        (_kwargs_tool, {}, ["_kwargs_tool", "**kwargs"]),
        (_untyped, {}, ["_untyped", "order_id", "no type hint"]),
        (_positional, {}, ["_positional", "order_id", "positional-only"]),
        (probe(Any), {}, ["probe", "value", "Any"]),
        (probe(list), {}, ["probe", "value", "list[str]"]),
        (probe(dict[int, str]), {}, ["probe", "value", "str keys"]),
        (probe(set[int]), {}, ["probe", "value", "set[int]"]),
        (probe(tuple[int, int]), {}, ["probe", "value"]),
        (probe(Opaque), {}, ["probe", "value", "Opaque"]),
        (probe(Literal[(1, 2)] | Literal[Color.RED]), {}, ["probe", "value"]),
        (probe(str), {"sensitive": ("card",)}, ["probe", "sensitive", "card"]),
        (probe(str, ""), {"strict": True}, ["probe", "strict", "parameters.value"]),
        (probe(str), {"name": "has space"}, ["has space", "name"]),
        (lambda: None, {}, ["<lambda>", "name="]),
        (probe(str), {"timeout": 0}, ["probe", "timeout"]),
        (probe(str), {"parameters": {"type": "array"}}, ["probe", "object"]),
        (
            probe(str),
            {"parameters": {"type": "object", "properties": {"value": {"type": 5}}}},
            ["probe", "JSON Schema"],
        ),
        (probe(str), {"parameters": {"type": "object", "properties": {"other": {}}, "required": ["value"]}}, ["other"]),
        (probe(str), {"parameters": {"type": "object", "properties": {"value": {}}}}, ["value", "required"]),
        (  # a validator would download this: refused, so nothing leaves the host
            probe(str),
            {"parameters": {"type": "object", "properties": {"value": {"$ref": "http://127.0.0.2:9/s.json"}}}},
            ["probe", "http://127.0.0.2:9/s.json", "local references"],
        ),
    ],
)
def test_what_cannot_be_described_is_refused_at_decoration(
    function: Callable[..., Any], options: dict[str, Any], words: list[str]
) -> None:
    toolbox = Toolbox()
    with pytest.raises(ConfigurationError) as raised:
        toolbox.function(**options)(function)
    for word in words:
        assert word in str(raised.value)
    assert len(toolbox) == 0


@dataclasses.dataclass
class Node:
    child: Node | None


def test_recursive_or_unresolvable_types_and_a_duplicate_name_are_refused() -> None:
    @dataclasses.dataclass
    class Local:
        child: Local | None  # a name only the function's frame knows: get_type_hints cannot resolve it

    toolbox = Toolbox()
    with pytest.raises(ConfigurationError, match="refers to itself"):
        toolbox.function(probe(Node))
    with pytest.raises(ConfigurationError, match="tool probe: parameter value: the type hints of Local do not resolve"):
        toolbox.function(probe(Local))
    toolbox.function(probe(str))
    with pytest.raises(ConfigurationError, match="already registered"):
        toolbox.function(probe(int))


# -- property: what the schema allows reaches the function as the annotated Python types ---------------------


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of a derived schema (the subset this module writes)."""
    if "anyOf" in schema:
        return st.one_of(*[from_schema(member) for member in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of(*[from_schema({**schema, "type": each}) for each in kind])
    simple: dict[str, st.SearchStrategy[Any]] = {
        "string": st.text(max_size=12),
        "integer": st.integers(-(2**53), 2**53) | st.integers(-1000, 1000).map(float),  # 3.0 is an integer too
        "number": st.floats(allow_nan=False, allow_infinity=False) | st.integers(-1000, 1000),
        "boolean": st.booleans(),
        "null": st.none(),
    }
    if kind in simple:
        return simple[kind]
    if kind == "array":
        return st.lists(from_schema(schema["items"]), max_size=3)
    assert kind == "object", schema
    if "properties" not in schema:
        return st.dictionaries(st.text(max_size=6), from_schema(schema["additionalProperties"]), max_size=3)
    required = set(schema["required"])
    return st.fixed_dictionaries(
        {key: from_schema(value) for key, value in schema["properties"].items() if key in required},
        optional={key: from_schema(value) for key, value in schema["properties"].items() if key not in required},
    )


RECEIVED: list[dict[str, Any]] = []


async def everything(
    text: str,
    count: int,
    ratio: float,
    flag: bool,
    maybe: int | None,
    tags: list[str],
    scores: dict[str, float],
    mode: Literal["a", "b"],
    color: Color,
    size: Size,
    address: Address,
    point: Point,
    points: list[Point],
    either: int | str = 0,
    nothing: None = None,
) -> str:
    """Every supported kind of parameter."""
    RECEIVED.append(dict(locals()))
    return "ok"


EVERYTHING = Toolbox()
EVERYTHING.function(everything)
EVERYTHING_SCHEMA = EVERYTHING.definitions()[0]["parameters"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arguments=from_schema(EVERYTHING_SCHEMA))
def test_a_value_of_the_derived_schema_reaches_the_function_as_python_types(arguments: dict[str, Any]) -> None:
    jsonschema.validate(arguments, EVERYTHING_SCHEMA)
    RECEIVED.clear()
    assert run(EVERYTHING, "everything", arguments) == "ok"
    (got,) = RECEIVED
    assert type(got["text"]) is str
    assert type(got["count"]) is int
    assert type(got["flag"]) is bool
    assert type(got["ratio"]) is float
    assert got["ratio"] == arguments["ratio"]
    assert got["count"] == arguments["count"]
    assert got["maybe"] is None or type(got["maybe"]) is int
    assert all(type(value) is float for value in got["scores"].values())
    assert got["color"] is Color(arguments["color"])
    assert got["size"] is Size(arguments["size"])
    assert got["mode"] == arguments["mode"]
    assert got["address"] == arguments["address"]
    assert isinstance(got["point"], Point)
    assert type(got["point"].x) is float
    assert type(got["point"].y) is float
    assert [type(p) for p in got["points"]] == [Point] * len(arguments["points"])
    assert got["either"] == arguments.get("either", 0)
    assert type(got["either"]) is (str if isinstance(arguments.get("either", 0), str) else int)
    assert got["nothing"] is None


# -- arguments: refused before the call ------------------------------------------------------------------------


@pytest.fixture
def calls() -> list[Any]:
    return []


@pytest.fixture
def orders(calls: list[Any]) -> Toolbox:
    toolbox = Toolbox()

    @toolbox.function
    def lookup_order(order_id: str, address: Address | None = None) -> dict[str, str]:
        """Where an order is."""
        calls.append(order_id)
        return {"order_id": order_id, "status": "shipped"}

    return toolbox


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"order_id": 12}, "invalid arguments: order_id: must be of type string"),
        ({}, "invalid arguments: arguments: missing order_id"),
        ({"order_id": "1", "coupon": "x"}, "invalid arguments: arguments: unexpected coupon"),
        ({"order_id": "1", API_KEY: "x"}, "invalid arguments: arguments: unexpected <name of 43 characters>"),
        (
            {"order_id": "1", "address": {"street": "Main", "number": "7"}},
            "invalid arguments: address: matches none of the allowed types",
        ),
        ("not json", "invalid arguments: not JSON"),
        ("[1]", "invalid arguments: expected a JSON object, not an array"),
        ('{"order_id": NaN}', "invalid arguments: not JSON"),
        ("[" * 100_000, "invalid arguments: not JSON"),
        ("\ud800" * 100_000, "invalid arguments: more than 262144 bytes"),  # lone surrogates: counted, not a crash
        ('{"order_id": ["\ud800"]}', "invalid arguments: order_id: must be of type string"),
        ('{"order_id": ' + "[" * 40 + "]" * 40 + "}", "invalid arguments: nested deeper than 32 levels"),
        (
            '{"order_id": "1", "address": ' + '{"a": ' * 40 + "1" + "}" * 41,
            "invalid arguments: nested deeper than 32 levels",
        ),
        (json.dumps({"order_id": "x" * 300_000}), "invalid arguments: more than 262144 bytes"),
    ],
)
def test_bad_arguments_give_an_error_naming_the_field_and_never_call(
    orders: Toolbox, calls: list[Any], arguments: Any, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, LOGGER_NAME)
    assert run(orders, "lookup_order", arguments) == {"error": error}
    assert calls == []
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "call call_1" in warnings[0].getMessage()
    assert API_KEY not in caplog.text


def test_given_schemas_validate_with_local_references_and_never_crash_on_a_broken_one() -> None:
    toolbox = Toolbox()
    schema = {
        "type": "object",
        "$defs": {"id": {"type": "string", "pattern": "^[0-9]+$"}},
        "properties": {"order_id": {"$ref": "#/$defs/id"}, "note": {"type": "string"}},
        "required": ["order_id"],
    }

    @toolbox.function(parameters=schema)
    def lookup(order_id: str, note: str = "") -> str:
        """Lookup."""
        return order_id

    assert run(toolbox, "lookup", {"order_id": "12"}) == "12"
    assert run(toolbox, "lookup", {"order_id": "x"}) == {"error": "invalid arguments: order_id: fails pattern"}
    with pytest.raises(ConfigurationError, match=r"tool lookup: parameters refers to '#/\$defs/missing', which is not"):
        toolbox.function(name="lookup", parameters={**schema, "properties": {"order_id": {"$ref": "#/$defs/missing"}}})(
            lookup
        )
    assert run(toolbox, "lookup", '{"order_id": "1", "note": 1e999}') == {"error": "invalid arguments: not JSON"}
    assert toolbox.responses_definitions()[0]["parameters"] == schema


def test_unknown_names_and_empty_arguments(orders: Toolbox, calls: list[Any]) -> None:
    assert run(orders, "drop_tables", {}) == {"error": "unknown tool drop_tables"}
    assert run(orders, "x" * 100, {}) == {"error": "unknown tool <name of 100 characters>"}
    toolbox = Toolbox()

    @toolbox.function
    def ping() -> str:
        """Ping."""
        return "pong"

    assert run(toolbox, "ping", "") == run(toolbox, "ping", "{}") == "pong"


# -- running -----------------------------------------------------------------------------------------------------


def test_sync_tools_run_on_a_pool_thread_and_async_ones_on_the_loop() -> None:
    toolbox = Toolbox()
    seen: dict[str, Any] = {}

    @toolbox.function
    def sync_tool(context: ToolContext) -> str:
        """Sync."""
        seen["sync"] = (threading.get_ident(), context)
        return "s"

    @toolbox.function
    async def async_tool(ctx: ToolContext) -> str:
        """Async."""
        seen["async"] = (threading.get_ident(), ctx)
        return "a"

    async def scenario() -> tuple[str, str]:
        first = await toolbox.run("sync_tool", "{}", call_id="call_s", session_id="rtc_1")
        second = await toolbox.run("async_tool", "{}", call_id="call_a")
        return first, second

    assert asyncio.run(scenario()) == ('"s"', '"a"')
    assert seen["sync"][0] != threading.get_ident()
    assert seen["async"][0] == threading.get_ident()
    assert seen["sync"][1] == ToolContext(call_id="call_s", session_id="rtc_1", tool="sync_tool")
    assert seen["async"][1] == ToolContext(call_id="call_a", session_id=None, tool="async_tool")
    assert toolbox.definitions()[0]["parameters"]["properties"] == {}
    toolbox.close()
    assert run(toolbox, "sync_tool", {}) == {"error": "RuntimeError: the toolbox is closed"}


class Result:
    pass


@pytest.mark.parametrize(
    ("result", "output"),
    [
        ("42", '"42"'),  # a str is a JSON string, whatever it looks like
        (RawJSON('{"a": [1, 2]}'), '{"a": [1, 2]}'),  # already JSON: as given
        (None, "null"),
        ({"point": Point(1.0), "color": Color.RED}, '{"point": {"x": 1.0, "y": 0.0}, "color": "red"}'),
        (RawJSON("{nope"), '{"error": "the tool\'s RawJSON result is not JSON"}'),
        (
            Result(),
            '{"error": "the tool\'s result is not JSON-serialisable (TypeError: Result is not JSON-serialisable)"}',
        ),
        (
            float("nan"),
            '{"error": "the tool\'s result is not JSON-serialisable (ValueError: Out of range float values*',
        ),  # * the rest: Python's wording
        ("x" * 300_000, '{"error": "the result is too large (300002 bytes; at most 262144)"}'),
        ({"key": API_KEY}, '{"key": "sk-...CRET"}'),  # a registered secret never reaches the model
        ("caf\u00e9", '"caf\u00e9"'),  # UTF-8 as it is
        ("caf\u00e9 \ud800", '"caf\\u00e9 \\ud800"'),  # a lone surrogate: all escaped, so a socket can send it
        (RawJSON('["\ud800"]'), '["\\ud800"]'),
    ],
)
def test_results_are_json(result: Any, output: str) -> None:
    toolbox = Toolbox()
    toolbox.function(name="give")(lambda: result)
    got = asyncio.run(toolbox.run("give", "{}", call_id="call_1"))
    assert got.startswith(output[:-1]) if output.endswith("*") else got == output


def test_an_exception_is_an_error_result_logged_once_without_traceback_or_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, LOGGER_NAME)
    toolbox = Toolbox()

    @toolbox.function
    def fetch(url: str) -> str:
        """Fetch."""
        raise PermissionError(f"upstream refused Authorization: Bearer {API_KEY}\nsecond line")

    @toolbox.function
    async def echo_key() -> str:
        """Leak."""
        raise ValueError(API_KEY)

    assert run(toolbox, "fetch", {"url": "http://127.0.0.1/"}, call_id="call_9") == {
        "error": "PermissionError: upstream refused Authorization: Bearer sk-...CRET"
    }
    assert run(toolbox, "echo_key", {}) == {"error": "ValueError: sk-...CRET"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "tool fetch, call call_9 failed: PermissionError: upstream refused Authorization: Bearer sk-...CRET",
        "tool echo_key, call call_1 failed: ValueError: sk-...CRET",
    ]
    assert "Traceback" in caplog.text  # at DEBUG only, and scrubbed
    assert API_KEY not in caplog.text
    assert all(API_KEY not in r.getMessage() for r in caplog.records)


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


@dataclasses.dataclass
class Holds:
    lock: Any


def test_hostile_exceptions_and_results_are_error_results_too() -> None:
    toolbox = Toolbox()

    @toolbox.function
    def unprintable() -> None:
        """Raises an exception that cannot be shown."""
        raise Unprintable

    @toolbox.function
    def uncopyable() -> Holds:
        """A dataclass result that asdict cannot copy."""
        return Holds(threading.Lock())

    @toolbox.function
    def exits() -> None:
        """Calls sys.exit in its thread."""
        raise SystemExit(3)

    assert run(toolbox, "unprintable", {}) == {"error": "Unprintable: (its message could not be read)"}
    assert run(toolbox, "uncopyable", {})["error"].startswith("the tool's result is not JSON-serialisable (TypeError")
    assert run(toolbox, "exits", {}) == {"error": "SystemExit: 3"}
    toolbox.close()


def test_sensitive_arguments_are_redacted_at_every_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, LOGGER_NAME)
    toolbox = Toolbox()

    @toolbox.function(sensitive=("card_number",))
    def charge(card_number: str, amount: int) -> dict[str, Any]:
        """Charge a card."""
        if amount > 100:
            raise ValueError(f"card {card_number} declined for {amount}")
        return {"charged": amount, "card": card_number[-4:]}

    assert run(toolbox, "charge", {"card_number": CARD, "amount": 5}) == {"charged": 5, "card": "1111"}
    assert run(toolbox, "charge", {"card_number": CARD, "amount": 500}) == {
        "error": "ValueError: card [redacted] declined for 500"
    }
    assert run(toolbox, "charge", {"card_number": CARD, "amount": "x"})["error"].startswith("invalid arguments")
    assert CARD not in caplog.text
    assert '"card_number": "[redacted]"' in caplog.text  # the arguments at DEBUG, the value hidden
    assert '"amount": 5' in caplog.text


def test_arguments_and_outputs_are_logged_at_debug_only_and_truncated(caplog: pytest.LogCaptureFixture) -> None:
    toolbox = Toolbox()
    toolbox.function(probe(str))
    caplog.set_level(logging.INFO, LOGGER_NAME)
    assert run(toolbox, "probe", {"value": "quiet"}) == "quiet"
    assert caplog.records == []
    caplog.set_level(logging.DEBUG, LOGGER_NAME)
    assert run(toolbox, "probe", {"value": "y" * 5000}) == "y" * 5000
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert all(len(line) < 700 and "characters)" in line for line in lines)


def test_a_hung_tool_times_out_sync_or_async_and_the_call_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    never = threading.Event()
    toolbox = Toolbox(timeout=0.05)

    @toolbox.function
    def blocking() -> str:
        """Blocks."""
        never.wait()
        return "late"

    @toolbox.function(timeout=0.02)
    async def hanging() -> str:
        """Hangs."""
        await asyncio.Event().wait()
        return "late"

    @toolbox.function
    async def own_timeout() -> str:
        """Its own TimeoutError, not the toolbox's."""
        raise TimeoutError("the database did not answer")

    try:
        assert run(toolbox, "blocking", {}) == {"error": "timed out after 0.05 s"}
        assert run(toolbox, "hanging", {}) == {"error": "timed out after 0.02 s"}
        assert run(toolbox, "own_timeout", {}) == {"error": "TimeoutError: the database did not answer"}
    finally:
        never.set()
        toolbox.close()
    assert sum("timed out" in r.getMessage() for r in caplog.records) == 2


def test_a_blocking_sync_tool_does_not_block_an_async_one() -> None:
    release = threading.Event()
    started = threading.Event()
    toolbox = Toolbox(timeout=60)

    @toolbox.function
    def blocking() -> str:
        """Blocks until released."""
        started.set()
        release.wait()
        return "released"

    @toolbox.function
    async def quick() -> str:
        """Quick."""
        return "quick"

    async def scenario() -> tuple[str, str]:
        slow = asyncio.create_task(toolbox.run("blocking", "{}", call_id="call_1"))
        await asyncio.to_thread(started.wait)
        answered = await toolbox.run("quick", "{}", call_id="call_2")  # hangs (test timeout) if the loop blocked
        assert not slow.done()
        release.set()
        return answered, await slow

    try:
        assert asyncio.run(scenario()) == ('"quick"', '"released"')
    finally:
        release.set()
        toolbox.close()


def test_several_runs_at_once() -> None:
    toolbox = Toolbox(timeout=60, max_workers=3)
    barrier = threading.Barrier(3, timeout=60)
    arrived: list[int] = []
    all_in = asyncio.Event()

    @toolbox.function
    def sync_meet(n: int) -> int:
        """Returns only once three run at once."""
        barrier.wait()
        return n

    @toolbox.function
    async def async_meet(n: int) -> int:
        """Returns only once four run at once."""
        arrived.append(n)
        if len(arrived) == 4:
            all_in.set()
        await all_in.wait()
        return n

    async def scenario() -> list[str]:
        runs = [toolbox.run("sync_meet", json.dumps({"n": n}), call_id=f"call_s{n}") for n in range(3)]
        runs += [toolbox.run("async_meet", json.dumps({"n": n}), call_id=f"call_a{n}") for n in range(4)]
        return await asyncio.gather(*runs)

    try:
        assert asyncio.run(scenario()) == ["0", "1", "2", "0", "1", "2", "3"]
    finally:
        toolbox.close()


def test_cancelling_a_run_cancels_its_async_tool_and_a_queued_sync_tool_never_starts() -> None:
    toolbox = Toolbox(timeout=60, max_workers=1)
    release = threading.Event()
    holding = threading.Event()
    ran: list[str] = []
    cancelled = threading.Event()

    @toolbox.function
    def hold() -> str:
        """Holds the only worker."""
        holding.set()
        release.wait()
        return "held"

    @toolbox.function
    def queued(tag: str) -> str:
        """Would run after hold."""
        ran.append(tag)
        return tag

    @toolbox.function
    async def waits() -> str:
        """Waits forever."""
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        return "never"

    async def scenario() -> None:
        task = asyncio.create_task(toolbox.run("waits", "{}", call_id="call_w"))
        held = asyncio.create_task(toolbox.run("hold", "{}", call_id="call_h"))
        await asyncio.to_thread(holding.wait)
        late = asyncio.create_task(toolbox.run("queued", '{"tag": "late"}', call_id="call_q"))
        await asyncio.sleep(0)  # let both runs reach their awaits (no waiting on time: one loop turn)
        await asyncio.sleep(0)
        task.cancel()
        late.cancel()
        for cancelled_run in (task, late):
            with pytest.raises(asyncio.CancelledError):
                await cancelled_run
        release.set()
        assert await held == '"held"'
        assert await toolbox.run("queued", '{"tag": "after"}', call_id="call_after") == '"after"'

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        toolbox.close()
    assert cancelled.is_set()
    assert ran == ["after"]  # the cancelled one never started, though the worker came free before "after"


# -- over a real socket -----------------------------------------------------------------------------------------


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    script = [
        {"caller": "Hi, where is my order 1234?"},
        {"model_calls": {"name": "lookup_order", "arguments": {"order_id": "1234"}, "call_id": "call_ok"}},
        {"expect_output": {"output": {"order_id": "1234", "status": "shipped"}, "timeout": 10}},
        {"model_calls": {"name": "lookup_order", "arguments": {"order_id": 1234}, "call_id": "call_bad"}},
        {"expect_output": {"output": {"error": "invalid arguments: order_id: must be of type string"}, "timeout": 10}},
        {"model_says": "Your order 1234 has shipped."},
        "hangup",
    ]
    with Emulator(script=script) as emu:
        emu.calls.add(CallRecord(id="rtc_tools", api="realtime", transport="webrtc", state="active", created_at=0.0))
        yield emu


def test_a_tool_call_answered_over_the_sideband_with_the_shape_the_api_expects(
    emulator: Emulator, orders: Toolbox, calls: list[Any]
) -> None:
    async def attend() -> None:
        client = openai.AsyncOpenAI(api_key=emulator.api_key, base_url=emulator.base_url)
        outputs: list[tuple[str, str]] = []
        async with client.realtime.connect(call_id="rtc_tools") as conn:
            await conn.session.update(session={"type": "realtime", "tools": orders.definitions()})  # type: ignore[typeddict-item]
            async for event in conn:  # ends when the script hangs up
                if event.type == "response.output_item.done" and event.item.type == "function_call":
                    item = event.item
                    assert item.status == "completed"
                    assert item.call_id
                    assert item.name
                    outputs.append(
                        (item.call_id, await orders.run(item.name, item.arguments or "", call_id=item.call_id))
                    )
                elif event.type == "response.done" and outputs:
                    for call_id, output in outputs:
                        await conn.conversation.item.create(
                            item={"type": "function_call_output", "call_id": call_id, "output": output}
                        )
                    await conn.response.create()
                    outputs.clear()

    asyncio.run(attend())
    record = emulator.calls.wait_until(
        "rtc_tools", lambda r: r.script_state is not None and r.script_state.status != "playing", timeout=10
    )
    assert record.script_state == ScriptState("done")
    assert calls == ["1234"]  # the bad call never reached the function
    sent = [e.event["item"] for e in record.client_events if e.event["type"] == "conversation.item.create"]
    assert [item["call_id"] for item in sent] == ["call_ok", "call_bad"]
