"""Requests shared by the GA tests: the full sample requests, hypothesis strategies for every valid GA request,
the unknown-field paths, and jsonschema validators over the published spec (vendored in ``tests/spec``).

A plain module (``tests/`` is not a package; pytest puts this directory on ``sys.path``), so the codec tests and
the tests over the emulator draw from one definition.
"""

from __future__ import annotations

import copy
import math
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import strategies as st

from realtime_service.beta.models import ExpiresAfter, FunctionTool, NoiseReduction, TracingConfig
from realtime_service.ga.models import (
    CONNECTORS,
    AudioInput,
    AudioOutput,
    AudioPCM,
    AudioPCMU,
    AudioTranscription,
    ClientSecretCreateRequest,
    Include,
    InputFileContent,
    InputImageContent,
    InputTextContent,
    MCPApprovalFilter,
    MCPTool,
    MCPToolFilter,
    Prompt,
    PromptCacheBreakpoint,
    RealtimeAudioConfig,
    RealtimeSessionConfig,
    Reasoning,
    RetentionRatioTruncation,
    ServerVad,
    TokenLimits,
    ToolChoiceMCP,
)

MCP_TOKEN = "mcp_oauth_9c1f4b7e2a6d4e0f8b3a"
HEADER_SECRET = "hdr_secret_5e8a2c9d7b1f3a6e"
TUNNEL = "tunnel_" + "a1" * 16
LOGPROBS: Include = "item.input_audio_transcription.logprobs"
SPEC_DIR = Path(__file__).resolve().parent / "spec"

WEATHER_PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}

FULL_SESSION: dict[str, Any] = {
    "type": "realtime",
    "output_modalities": ["audio"],
    "model": "gpt-realtime-2.1",
    "instructions": "You are a friendly assistant.",
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {
                "model": "gpt-transcribe",
                "language": "en",
                "languages": ["en", "de"],
                "keywords": ["Realtime"],
                "prompt": "expect tech words",
                "delay": "low",
            },
            "noise_reduction": {"type": "near_field"},
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 500,
                "create_response": True,
                "interrupt_response": False,
                "idle_timeout_ms": 6000,
            },
        },
        "output": {"format": {"type": "audio/pcmu"}, "voice": "marin", "speed": 1.25},
    },
    "include": [LOGPROBS],
    "tracing": {"workflow_name": "support", "group_id": "g1", "metadata": {"tier": "gold"}},
    "tools": [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Look up the weather.",
            "parameters": WEATHER_PARAMETERS,
        },
        {
            "type": "mcp",
            "server_label": "docs",
            "server_url": "https://mcp.example.com/sse",
            "authorization": MCP_TOKEN,
            "server_description": "Product docs",
            "headers": {"X-Api-Key": HEADER_SECRET},
            "allowed_tools": {"tool_names": ["search"], "read_only": True},
            "allowed_callers": ["direct", "programmatic"],
            "require_approval": {"always": {"tool_names": ["delete"]}, "never": {"read_only": True}},
            "defer_loading": False,
        },
        {
            "type": "mcp",
            "server_label": "drive",
            "connector_id": "connector_googledrive",
            "headers": None,
            "allowed_tools": ["list"],
            "require_approval": "never",
        },
        {
            "type": "mcp",
            "server_label": "tunnel",
            "tunnel_id": TUNNEL,
            "allowed_tools": None,
            "allowed_callers": None,
            "require_approval": None,
        },
    ],
    "tool_choice": {"type": "mcp", "server_label": "docs", "name": "search"},
    "parallel_tool_calls": True,
    "reasoning": {"effort": "medium"},
    "max_output_tokens": 4096,
    "truncation": {"type": "retention_ratio", "retention_ratio": 0.8, "token_limits": {"post_instructions": 5000}},
    "prompt": {
        "id": "pmpt_123",
        "version": "2",
        "variables": {
            "city": "Paris",
            "greeting": {"type": "input_text", "text": "Hi", "prompt_cache_breakpoint": {"mode": "explicit"}},
            "logo": {
                "type": "input_image",
                "detail": "auto",
                "image_url": "https://img.example/l.png",
                "file_id": None,
            },
            "brief": {
                "type": "input_file",
                "file_id": "file_1",
                "filename": "brief.pdf",
                "file_data": "JVBERi0=",
                "file_url": "https://files.example/brief.pdf",
                "detail": "low",
            },
        },
    },
}
FULL_REQUEST: dict[str, Any] = {"expires_after": {"anchor": "created_at", "seconds": 600}, "session": FULL_SESSION}

FULL_TRANSCRIPTION_REQUEST: dict[str, Any] = {
    "expires_after": {"seconds": 120},
    "session": {
        "type": "transcription",
        "audio": {
            "input": {
                "format": {"type": "audio/pcma"},
                "transcription": {"model": "gpt-realtime-whisper", "delay": "minimal"},
                "noise_reduction": None,
                "turn_detection": {"type": "semantic_vad", "eagerness": "high", "create_response": False},
            }
        },
        "include": [LOGPROBS],
    },
}

FULL_DATACLASS = ClientSecretCreateRequest(
    expires_after=ExpiresAfter(seconds=600),
    session=RealtimeSessionConfig(
        output_modalities=["audio"],
        model="gpt-realtime-2.1",
        instructions="You are a friendly assistant.",
        audio=RealtimeAudioConfig(
            input=AudioInput(
                format=AudioPCM(rate=24000),
                transcription=AudioTranscription(
                    model="gpt-transcribe",
                    language="en",
                    languages=["en", "de"],
                    keywords=["Realtime"],
                    prompt="expect tech words",
                    delay="low",
                ),
                noise_reduction=NoiseReduction(type="near_field"),
                turn_detection=ServerVad(
                    threshold=0.5,
                    prefix_padding_ms=300,
                    silence_duration_ms=500,
                    create_response=True,
                    interrupt_response=False,
                    idle_timeout_ms=6000,
                ),
            ),
            output=AudioOutput(format=AudioPCMU(), voice="marin", speed=1.25),
        ),
        include=[LOGPROBS],
        tracing=TracingConfig(workflow_name="support", group_id="g1", metadata={"tier": "gold"}),
        tools=[
            FunctionTool(name="get_weather", description="Look up the weather.", parameters=WEATHER_PARAMETERS),
            MCPTool(
                server_label="docs",
                server_url="https://mcp.example.com/sse",
                authorization=MCP_TOKEN,
                server_description="Product docs",
                headers={"X-Api-Key": HEADER_SECRET},
                allowed_tools=MCPToolFilter(tool_names=["search"], read_only=True),
                allowed_callers=["direct", "programmatic"],
                require_approval=MCPApprovalFilter(
                    always=MCPToolFilter(tool_names=["delete"]), never=MCPToolFilter(read_only=True)
                ),
                defer_loading=False,
            ),
            MCPTool(
                server_label="drive",
                connector_id="connector_googledrive",
                headers=None,
                allowed_tools=["list"],
                require_approval="never",
            ),
            MCPTool(
                server_label="tunnel", tunnel_id=TUNNEL, allowed_tools=None, allowed_callers=None, require_approval=None
            ),
        ],
        tool_choice=ToolChoiceMCP(server_label="docs", name="search"),
        parallel_tool_calls=True,
        reasoning=Reasoning(effort="medium"),
        max_output_tokens=4096,
        truncation=RetentionRatioTruncation(retention_ratio=0.8, token_limits=TokenLimits(post_instructions=5000)),
        prompt=Prompt(
            id="pmpt_123",
            version="2",
            variables={
                "city": "Paris",
                "greeting": InputTextContent(text="Hi", prompt_cache_breakpoint=PromptCacheBreakpoint()),
                "logo": InputImageContent(detail="auto", image_url="https://img.example/l.png", file_id=None),
                "brief": InputFileContent(
                    file_id="file_1",
                    filename="brief.pdf",
                    file_data="JVBERi0=",
                    file_url="https://files.example/brief.pdf",
                    detail="low",
                ),
            },
        ),
    ),
)


def with_field(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A deep copy of ``base`` (the full request) with the dotted ``path`` set to ``value``."""
    body = copy.deepcopy(FULL_REQUEST if base is None else base)
    *parents, last = path.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return body


#: Unknown keys at every level of the full request; ``with_field(path, 1)`` adds one.
UNKNOWN_NESTED = [
    "expires_after.minutes",
    "session.temperature",
    "session.audio.bogus",
    "session.audio.input.bogus",
    "session.audio.input.format.bogus",
    "session.audio.output.format.rate",
    "session.audio.input.transcription.bogus",
    "session.audio.input.noise_reduction.strength",
    "session.audio.input.turn_detection.bogus",
    "session.audio.output.bogus",
    "session.tracing.sample_rate",
    "session.tools.0.strict",
    "session.tools.1.bogus",
    "session.tools.1.allowed_tools.bogus",
    "session.tools.1.require_approval.always.bogus",
    "session.tool_choice.bogus",
    "session.reasoning.summary",
    "session.truncation.bogus",
    "session.truncation.token_limits.bogus",
    "session.prompt.bogus",
    "session.prompt.variables.greeting.bogus",
    "session.prompt.variables.greeting.prompt_cache_breakpoint.ttl",
    "session.prompt.variables.logo.bogus",
    "session.prompt.variables.brief.bogus",
]

#: Objects the spec closes itself (``additionalProperties: false``): the MCP tool filters and a custom voice.
SPEC_CLOSED = {"session.tools.1.allowed_tools.bogus", "session.tools.1.require_approval.always.bogus"}


# --- strategies ------------------------------------------------------------------------------------------------

text = st.text(max_size=12)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=8
)
json_objects = st.dictionaries(text, json_values, max_size=3)
any_scalars = st.none() | st.booleans() | st.integers() | st.floats() | text
any_json = st.recursive(
    any_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=8
)
lower_alnum = string.ascii_lowercase + string.digits
uris = st.builds(
    "https://{}.example/{}".format,
    st.text(lower_alnum, min_size=1, max_size=8),
    st.text(lower_alnum + "/-_", max_size=8),
)


def number_between(low: float, high: float) -> st.SearchStrategy[float | int]:
    return st.floats(low, high) | st.integers(math.ceil(low), math.floor(high))


def optional_keys(**strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=strategies)


def tagged(tag: str, required: dict[str, st.SearchStrategy[Any]] | None = None, **optional: Any) -> Any:
    return st.fixed_dictionaries({"type": st.just(tag), **(required or {})}, optional=optional)


formats = st.sampled_from(
    [
        {"type": "audio/pcm", "rate": 24000},
        {"type": "audio/pcm"},
        {"rate": 24000},
        {},
        {"type": "audio/pcmu"},
        {"type": "audio/pcma"},
    ]
)
transcriptions = optional_keys(
    model=text,
    language=text,
    languages=st.lists(text, min_size=1, max_size=3),
    keywords=st.lists(text, max_size=3),
    prompt=text,
    delay=st.sampled_from(["minimal", "low", "medium", "high", "xhigh"]),
)
turn_detections = (
    st.none()
    | tagged(
        "server_vad",
        threshold=number_between(0, 1),
        prefix_padding_ms=st.integers(),
        silence_duration_ms=st.integers(),
        create_response=st.booleans(),
        interrupt_response=st.booleans(),
        idle_timeout_ms=st.none() | st.integers(5000, 30000),
    )
    | tagged(
        "semantic_vad",
        eagerness=st.sampled_from(["low", "medium", "high", "auto"]),
        create_response=st.booleans(),
        interrupt_response=st.booleans(),
    )
)
noise_reductions = st.none() | optional_keys(type=st.sampled_from(["near_field", "far_field"]))
audio_inputs = optional_keys(
    format=formats, transcription=transcriptions, noise_reduction=noise_reductions, turn_detection=turn_detections
)
audio_outputs = optional_keys(
    format=formats, voice=text | st.fixed_dictionaries({"id": text}), speed=number_between(0.25, 1.5)
)
tool_filters = optional_keys(tool_names=st.lists(text, max_size=3), read_only=st.booleans())
mcp_tools = tagged(
    "mcp",
    {"server_label": text},
    server_url=uris,
    connector_id=st.sampled_from(CONNECTORS),
    tunnel_id=st.text(lower_alnum, min_size=32, max_size=32).map("tunnel_".__add__),
    authorization=text,
    server_description=text,
    headers=st.none() | st.dictionaries(text, text, max_size=3),
    allowed_tools=st.none() | st.lists(text, max_size=3) | tool_filters,
    allowed_callers=st.none() | st.lists(st.sampled_from(["direct", "programmatic"]), min_size=1, max_size=2),
    require_approval=st.none()
    | st.sampled_from(["always", "never"])
    | optional_keys(always=tool_filters, never=tool_filters),
    defer_loading=st.booleans(),
)
function_tools = optional_keys(type=st.just("function"), name=text, description=text, parameters=json_objects)
tool_choices = (
    st.sampled_from(["none", "auto", "required"])
    | tagged("function", {"name": text})
    | tagged("mcp", {"server_label": text}, name=st.none() | text)
)
truncations = st.sampled_from(["auto", "disabled"]) | tagged(
    "retention_ratio",
    {"retention_ratio": number_between(0, 1)},
    token_limits=optional_keys(post_instructions=st.integers(min_value=0)),
)
breakpoints = st.just({"mode": "explicit"})
prompt_values = (
    text
    | tagged("input_text", {"text": text}, prompt_cache_breakpoint=breakpoints)
    | tagged(
        "input_image",
        {"detail": st.sampled_from(["low", "high", "auto", "original"])},
        image_url=st.none() | uris,
        file_id=st.none() | text,
        prompt_cache_breakpoint=breakpoints,
    )
    | tagged(
        "input_file",
        file_id=st.none() | text,
        filename=text,
        file_data=text,
        file_url=uris,
        detail=st.sampled_from(["auto", "low", "high"]),
        prompt_cache_breakpoint=breakpoints,
    )
)
prompts = st.none() | st.fixed_dictionaries(
    {"id": text},
    optional={"version": st.none() | text, "variables": st.none() | st.dictionaries(text, prompt_values, max_size=3)},
)
includes = st.lists(st.just(LOGPROBS), max_size=2)
realtime_sessions = tagged(
    "realtime",
    output_modalities=st.lists(st.sampled_from(["text", "audio"]), max_size=1),
    model=text,
    instructions=st.text(max_size=30),
    audio=optional_keys(input=audio_inputs, output=audio_outputs),
    include=includes,
    tracing=st.none() | st.just("auto") | optional_keys(workflow_name=text, group_id=text, metadata=json_objects),
    tools=st.lists(function_tools | mcp_tools, max_size=3),
    tool_choice=tool_choices,
    parallel_tool_calls=st.booleans(),
    reasoning=optional_keys(effort=st.sampled_from(["minimal", "low", "medium", "high", "xhigh"])),
    max_output_tokens=st.integers(1, 4096) | st.just("inf"),
    truncation=truncations,
    prompt=prompts,
)
transcription_sessions = tagged("transcription", audio=optional_keys(input=audio_inputs), include=includes)
expiries = optional_keys(anchor=st.just("created_at"), seconds=st.integers(10, 7200))
valid_requests = optional_keys(expires_after=expiries, session=realtime_sessions | transcription_sessions)


# --- the published spec ----------------------------------------------------------------------------------------


def nulls_allowed(node: Any) -> Any:
    """The spec's schemas with ``null`` allowed where the document means it but its types cannot say it.

    The file's header lists the ``default: null`` keys it renamed to ``x-source-default`` because their
    ``type: object`` schemas do not allow ``null`` (noise reduction, tracing); their descriptions say "set to
    ``null`` to turn off". The request's ``tracing`` also carries OpenAPI 3.0's ``nullable: true``, which JSON
    Schema 2020-12 ignores. Both are read as "or null" here, and nothing else is changed.
    """
    if isinstance(node, list):
        return [nulls_allowed(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: nulls_allowed(value) for key, value in node.items()}
    if ("x-source-default" in node and node["x-source-default"] is None) or node.get("nullable") is True:
        converted.pop("nullable", None)
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def build_spec_validators() -> dict[str, Any]:
    """jsonschema validators for the client-secret request and response, resolved over the whole document.

    Call it from a fixture: it skips the test, saying why, when jsonschema is missing; the vendored spec file is
    always there (a checkout without it fails)."""
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is needed to check against the spec")
    referencing = pytest.importorskip("referencing")
    from referencing.jsonschema import DRAFT202012

    path = SPEC_DIR / "openai-realtime-sessions.yaml"
    document = nulls_allowed(yaml.safe_load(path.read_text(encoding="utf-8")))
    uri = "urn:openai-realtime-sessions"
    registry = referencing.Registry().with_resource(uri, DRAFT202012.create_resource(document))

    def validator(name: str) -> Any:
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": f"{uri}#/components/schemas/{name}",
        }
        return jsonschema.Draft202012Validator(schema, registry=registry)

    return {
        "request": validator("RealtimeCreateClientSecretRequest"),
        "response": validator("RealtimeCreateClientSecretResponse"),
    }


def spec_errors(validator: Any, body: Any) -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(body)]
