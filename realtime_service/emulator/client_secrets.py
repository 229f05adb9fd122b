"""``POST /v1/realtime/client_secrets`` (GA): the request table and the 200 answer.

The table follows HEAD's ``RealtimeCreateClientSecretRequest`` with its ``*GA`` session schemas (NOTES.md
section 3); ``session.type`` (``realtime`` or ``transcription``) picks the session table, and an omitted
``session`` is a realtime session with the defaults. Decisions where the spec is loose:

- an audio ``format`` without ``type`` is PCM (no branch of ``RealtimeAudioFormats`` requires ``type``), and a
  function tool may omit ``type`` (``RealtimeFunctionTool`` does not require it);
- MCP tools are not checked for "one of ``server_url``, ``connector_id`` or ``tunnel_id``" (prose only);
- ``output_modalities`` holds one item at most ("not possible to request both").

The secret lives ``expires_after.seconds`` (600 by default); the session's own ``expires_at`` is the same
instant (the spec's example shows a placeholder 0). The session echoes the request over the GA defaults, as
``RealtimeSessionCreateResponseGA`` (or the transcription one) types it: no ``parallel_tool_calls``, a
custom ``{"id": ...}`` voice as its id, no ``keywords``/``delay`` in transcription, ``reasoning`` only when
sent, and never an MCP ``authorization`` (a secret). Transcription and noise reduction default to ``null``
(off), turn detection to server VAD with the documented defaults (``silence_duration_ms`` 500, although the
spec's example answer shows 200). A transcription session reports only the VAD settings of its turn
detection, as its response schema lists them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .replies import Reply, random_id
from .shapes import (
    DEFAULT_INSTRUCTIONS,
    EAGERNESS,
    EXPIRY,
    FUNCTION_TOOL,
    MAX_OUTPUT_TOKENS,
    NOISE_REDUCTION,
    SERVER_VAD_DEFAULTS,
    SERVER_VAD_FIELDS,
    TRACING,
    TRANSCRIPTION_TEXT_FIELDS,
    VAD_RESPONSE_FIELDS,
    answer,
    fill_turn_detection,
    mint,
    transcription_turn_detection,
)
from .validation import (
    AnyOf,
    Array,
    Boolean,
    Enum,
    Integer,
    MapOf,
    Nullable,
    Number,
    Object,
    String,
    Tagged,
    variant,
)

DEFAULT_MODEL = "gpt-realtime"

_URL = String(url=True)
_LEVELS = ("minimal", "low", "medium", "high", "xhigh")  # reasoning effort and transcription delay

AUDIO_FORMATS = Tagged(
    "type",
    {
        "audio/pcm": variant("audio/pcm", {"rate": Enum((24000,), "an integer")}),
        "audio/pcmu": variant("audio/pcmu"),
        "audio/pcma": variant("audio/pcma"),
    },
    default="audio/pcm",
)

AUDIO_TRANSCRIPTION = Nullable(
    Object(
        {
            "model": String(),
            **TRANSCRIPTION_TEXT_FIELDS,
            "languages": Array(String(), min_items=1),
            "keywords": Array(String()),
            "delay": Enum(_LEVELS),
        }
    )
)

TURN_DETECTION = Nullable(
    Tagged(
        "type",
        {
            "server_vad": variant(
                "server_vad",
                {**SERVER_VAD_FIELDS, **VAD_RESPONSE_FIELDS, "idle_timeout_ms": Nullable(Integer(5000, 30000))},
            ),
            "semantic_vad": variant("semantic_vad", {"eagerness": EAGERNESS, **VAD_RESPONSE_FIELDS}),
        },
    )
)

AUDIO_INPUT = Object(
    {
        "format": AUDIO_FORMATS,
        "transcription": AUDIO_TRANSCRIPTION,
        "noise_reduction": NOISE_REDUCTION,
        "turn_detection": TURN_DETECTION,
    }
)

INCLUDE = Array(Enum(("item.input_audio_transcription.logprobs",)))

VOICE = AnyOf((String(), Object({"id": String()}, required=frozenset({"id"}))), expected="a string or an object")

MCP_CONNECTORS = (
    "connector_dropbox",
    "connector_gmail",
    "connector_googlecalendar",
    "connector_googledrive",
    "connector_microsoftteams",
    "connector_outlookcalendar",
    "connector_outlookemail",
    "connector_sharepoint",
)
_MCP_TOOL_FILTER = Object({"tool_names": Array(String()), "read_only": Boolean()})

MCP_TOOL = variant(
    "mcp",
    {
        "server_label": String(),
        "server_url": _URL,
        "connector_id": Enum(MCP_CONNECTORS),
        "tunnel_id": String(pattern=re.compile(r"^tunnel_[a-z0-9]{32}$")),
        "authorization": String(),
        "server_description": String(),
        "headers": Nullable(MapOf(String())),
        "allowed_tools": Nullable(AnyOf((Array(String()), _MCP_TOOL_FILTER), expected="an array or an object")),
        "allowed_callers": Nullable(Array(Enum(("direct", "programmatic")), min_items=1)),
        "require_approval": Nullable(
            AnyOf(
                (Object({"always": _MCP_TOOL_FILTER, "never": _MCP_TOOL_FILTER}), Enum(("always", "never"))),
                expected="an object or a string",
            )
        ),
        "defer_loading": Boolean(),
    },
    required=("type", "server_label"),
)

TOOLS = Array(Tagged("type", {"function": FUNCTION_TOOL, "mcp": MCP_TOOL}, default="function"))

TOOL_CHOICE = AnyOf(
    (
        Enum(("none", "auto", "required")),
        Tagged(
            "type",
            {
                "function": variant("function", {"name": String()}, required=("name",)),
                "mcp": variant(
                    "mcp", {"server_label": String(), "name": Nullable(String())}, required=("server_label",)
                ),
            },
        ),
    ),
    expected="a string or an object",
)

TRUNCATION = AnyOf(
    (
        Enum(("auto", "disabled")),
        variant(
            "retention_ratio",
            {"retention_ratio": Number(0, 1), "token_limits": Object({"post_instructions": Integer(0)})},
            required=("type", "retention_ratio"),
        ),
    ),
    expected="a string or an object",
)

_CACHE_BREAKPOINT = {"prompt_cache_breakpoint": variant("explicit", key="mode", required=("mode",))}
_PROMPT_VARIABLE = AnyOf(
    (
        String(),
        Tagged(
            "type",
            {
                "input_text": variant("input_text", {"text": String(), **_CACHE_BREAKPOINT}, required=("text",)),
                "input_image": variant(
                    "input_image",
                    {
                        "image_url": Nullable(_URL),
                        "file_id": Nullable(String()),
                        "detail": Enum(("low", "high", "auto", "original")),
                        **_CACHE_BREAKPOINT,
                    },
                    required=("detail",),
                ),
                "input_file": variant(
                    "input_file",
                    {
                        "file_id": Nullable(String()),
                        "filename": String(),
                        "file_data": String(),
                        "file_url": _URL,
                        "detail": Enum(("auto", "low", "high")),
                        **_CACHE_BREAKPOINT,
                    },
                ),
            },
        ),
    ),
    expected="a string or an object",
)
PROMPT = Nullable(
    Object(
        {"id": String(), "version": Nullable(String()), "variables": Nullable(MapOf(_PROMPT_VARIABLE))},
        required=frozenset({"id"}),
    )
)

REALTIME_SESSION = variant(
    "realtime",
    {
        "output_modalities": Array(Enum(("text", "audio")), max_items=1),
        "model": String(),
        "instructions": String(),
        "audio": Object(
            {
                "input": AUDIO_INPUT,
                "output": Object({"format": AUDIO_FORMATS, "voice": VOICE, "speed": Number(0.25, 1.5)}),
            }
        ),
        "include": INCLUDE,
        "tracing": TRACING,
        "tools": TOOLS,
        "tool_choice": TOOL_CHOICE,
        "parallel_tool_calls": Boolean(),
        "reasoning": Object({"effort": Enum(_LEVELS)}),
        "max_output_tokens": MAX_OUTPUT_TOKENS,
        "truncation": TRUNCATION,
        "prompt": PROMPT,
    },
)

TRANSCRIPTION_SESSION = variant("transcription", {"audio": Object({"input": AUDIO_INPUT}), "include": INCLUDE})

CLIENT_SECRET_CREATE_REQUEST = Object(
    {
        "expires_after": EXPIRY,
        "session": Tagged("type", {"realtime": REALTIME_SESSION, "transcription": TRANSCRIPTION_SESSION}),
    }
)

# the answer

_PCM: dict[str, Any] = {"type": "audio/pcm", "rate": 24000}
_GA_SERVER_VAD_DEFAULTS: dict[str, Any] = {**SERVER_VAD_DEFAULTS, "idle_timeout_ms": None}
_TRANSCRIPTION_ECHO_KEYS = ("model", "language", "languages", "prompt")  # AudioTranscriptionResponse
_DEFAULT_SESSION: dict[str, Any] = {"type": "realtime"}


def _audio_format(requested: Any) -> dict[str, Any]:
    if requested is None or requested.get("type", "audio/pcm") == "audio/pcm":
        return _PCM
    return {"type": requested["type"]}


def _transcription(requested: Any) -> dict[str, Any] | None:
    if requested is None:
        return None
    return {key: requested[key] for key in _TRANSCRIPTION_ECHO_KEYS if key in requested}


def _audio_input(requested: dict[str, Any], turn_detection: Any) -> dict[str, Any]:
    return {
        "format": _audio_format(requested.get("format")),
        "transcription": _transcription(requested.get("transcription")),
        "noise_reduction": requested.get("noise_reduction"),
        "turn_detection": turn_detection,
    }


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") == "mcp":
        return {key: value for key, value in tool.items() if key != "authorization"}
    return {"type": "function", **tool}


def realtime_session(session: dict[str, Any], expires_at: int) -> dict[str, Any]:
    """A ``realtime.session`` echoing a validated GA realtime session over the GA defaults."""
    audio = session.get("audio", {})
    audio_in, audio_out = audio.get("input", {}), audio.get("output", {})
    voice = audio_out.get("voice", "alloy")
    echoed: dict[str, Any] = {
        "type": "realtime",
        "object": "realtime.session",
        "id": random_id("sess_"),
        "model": session.get("model", DEFAULT_MODEL),
        "output_modalities": session.get("output_modalities", ["audio"]),
        "instructions": session.get("instructions", DEFAULT_INSTRUCTIONS),
        "tools": [_tool(tool) for tool in session.get("tools", ())],
        "tool_choice": session.get("tool_choice", "auto"),
        "max_output_tokens": session.get("max_output_tokens", "inf"),
        "tracing": session.get("tracing"),
        "truncation": session.get("truncation", "auto"),
        "prompt": session.get("prompt"),
        "expires_at": expires_at,
        "audio": {
            "input": _audio_input(
                audio_in, fill_turn_detection(audio_in.get("turn_detection", {}), _GA_SERVER_VAD_DEFAULTS)
            ),
            "output": {
                "format": _audio_format(audio_out.get("format")),
                "voice": voice["id"] if isinstance(voice, dict) else voice,
                "speed": audio_out.get("speed", 1.0),
            },
        },
        "include": session.get("include"),
    }
    if "reasoning" in session:
        echoed["reasoning"] = {"effort": "low", **session["reasoning"]}
    return echoed


def transcription_session(session: dict[str, Any], expires_at: int) -> dict[str, Any]:
    """A ``realtime.transcription_session`` echoing a validated GA transcription session."""
    audio_in = session.get("audio", {}).get("input", {})
    return {
        "type": "transcription",
        "object": "realtime.transcription_session",
        "id": random_id("sess_"),
        "expires_at": expires_at,
        "include": session.get("include"),
        "audio": {"input": _audio_input(audio_in, transcription_turn_detection(audio_in.get("turn_detection", {})))},
    }


_SESSIONS: dict[str, Callable[[dict[str, Any], int], dict[str, Any]]] = {
    "realtime": realtime_session,
    "transcription": transcription_session,
}


def client_secret_object(body: dict[str, Any], now: float) -> dict[str, Any]:
    """The 200 body for a validated request: ``{value, expires_at, session}``."""
    session = body.get("session", _DEFAULT_SESSION)
    build = _SESSIONS[session["type"]]
    return mint(body, now, lambda expires_at: build(session, expires_at))


def create_client_secret(body: dict[str, Any], now: float) -> Reply:
    """Validate like the real API (first problem wins, 400) or answer 200 with a secret and its session."""
    return answer(CLIENT_SECRET_CREATE_REQUEST, body, lambda valid: client_secret_object(valid, now))
