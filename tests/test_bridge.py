"""The beta-to-GA bridge, field by field, both directions, as pure translations."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from realtime_service import RequestValidationError
from realtime_service.beta.bridge import Bridge

BRIDGE = Bridge()


def ga_session(beta: dict[str, Any]) -> dict[str, Any]:
    session: dict[str, Any] = BRIDGE.to_ga(beta)["session"]
    return session


@pytest.mark.parametrize(
    ("beta", "ga"),
    [
        ({"model": "gpt-realtime"}, {"model": "gpt-realtime"}),
        ({"instructions": "Be brief."}, {"instructions": "Be brief."}),
        ({"tracing": "auto"}, {"tracing": "auto"}),
        ({"tracing": None}, {"tracing": None}),
        (
            {"tools": [{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}}]},
            {"tools": [{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}}]},
        ),
        ({"tool_choice": "auto"}, {"tool_choice": "auto"}),
        ({"tool_choice": "required"}, {"tool_choice": "required"}),
        ({"tool_choice": "lookup_weather"}, {"tool_choice": {"type": "function", "name": "lookup_weather"}}),
        ({"voice": "marin"}, {"audio": {"output": {"voice": "marin"}}}),
        ({"speed": 1.25}, {"audio": {"output": {"speed": 1.25}}}),
        ({"input_audio_format": "pcm16"}, {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}}}),
        ({"input_audio_format": "g711_ulaw"}, {"audio": {"input": {"format": {"type": "audio/pcmu"}}}}),
        ({"output_audio_format": "g711_alaw"}, {"audio": {"output": {"format": {"type": "audio/pcma"}}}}),
        (
            {"input_audio_transcription": {"model": "whisper-1", "language": "en"}},
            {"audio": {"input": {"transcription": {"model": "whisper-1", "language": "en"}}}},
        ),
        ({"input_audio_transcription": None}, {}),  # GA transcription is off unless given, and cannot be null
        (
            {"input_audio_noise_reduction": {"type": "far_field"}},
            {"audio": {"input": {"noise_reduction": {"type": "far_field"}}}},
        ),
        ({"turn_detection": None}, {"audio": {"input": {"turn_detection": None}}}),
        (
            {"turn_detection": {"threshold": 0.7}},
            {"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.7}}}},
        ),
        (
            {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}},
            {"audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}}}},
        ),
        ({"modalities": ["audio", "text"]}, {"output_modalities": ["audio"]}),
        ({"modalities": ["text", "audio"]}, {"output_modalities": ["audio"]}),
        ({"modalities": ["audio"]}, {"output_modalities": ["audio"]}),
        ({"modalities": ["text"]}, {"output_modalities": ["text"]}),
        ({"modalities": ["text", "text"]}, {"output_modalities": ["text"]}),  # GA takes one item at most
        ({"modalities": ["audio", "audio", "text"]}, {"output_modalities": ["audio"]}),
        ({"modalities": []}, {"output_modalities": []}),
        ({"max_response_output_tokens": 512}, {"max_output_tokens": 512}),
        ({"max_response_output_tokens": "inf"}, {"max_output_tokens": "inf"}),
    ],
)
def test_each_beta_field_maps_to_its_ga_place(beta: dict[str, Any], ga: dict[str, Any]) -> None:
    assert ga_session(beta) == {"type": "realtime", **ga}


def test_voice_and_formats_share_one_audio_object() -> None:
    session = ga_session({"voice": "cedar", "input_audio_format": "pcm16", "output_audio_format": "g711_ulaw"})
    assert session["audio"] == {
        "input": {"format": {"type": "audio/pcm", "rate": 24000}},
        "output": {"voice": "cedar", "format": {"type": "audio/pcmu"}},
    }


def test_expires_after_moves_to_the_top_level() -> None:
    ga = BRIDGE.to_ga({"client_secret": {"expires_after": {"anchor": "created_at", "seconds": 300}}})
    assert ga["expires_after"] == {"anchor": "created_at", "seconds": 300}
    assert "client_secret" not in ga["session"]


def test_expires_after_without_seconds_keeps_the_ga_default() -> None:
    ga = BRIDGE.to_ga({"client_secret": {"expires_after": {"anchor": "created_at"}}})
    assert ga["expires_after"] == {"anchor": "created_at"}


def test_no_client_secret_keeps_the_beta_60_second_lifetime() -> None:
    assert BRIDGE.to_ga({})["expires_after"] == {"anchor": "created_at", "seconds": 60}
    assert Bridge(default_ttl=120).to_ga({})["expires_after"]["seconds"] == 120


def test_extra_goes_into_the_ga_session() -> None:
    ga = BRIDGE.to_ga({"voice": "marin"}, extra={"reasoning": {"effort": "low"}})
    assert ga["session"]["reasoning"] == {"effort": "low"}


@pytest.mark.parametrize(
    ("beta", "field"),
    [
        ({"temperature": 0.8}, "temperature"),
        ({"turn_detection": {"type": "server_vad", "eagerness": "low"}}, "turn_detection.eagerness"),
        ({"turn_detection": {"type": "semantic_vad", "threshold": 0.5}}, "turn_detection.threshold"),
        (
            {"turn_detection": {"type": "semantic_vad", "silence_duration_ms": 300}},
            "turn_detection.silence_duration_ms",
        ),
    ],
)
def test_a_field_with_no_ga_meaning_is_refused_by_its_beta_path_when_strict(beta: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        BRIDGE.to_ga(beta)
    assert caught.value.fields == [field]
    assert "bridge.strict" in str(caught.value)


def test_a_field_with_no_ga_meaning_is_dropped_with_one_warning_when_lenient(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lenient = Bridge(strict=False)
    with caplog.at_level(logging.WARNING, logger="realtime_service"):
        ga = lenient.to_ga({"temperature": 0.9, "turn_detection": {"type": "semantic_vad", "threshold": 0.5}})
    assert ga["session"] == {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}
    (record,) = caplog.records
    assert "temperature" in record.getMessage()
    assert "turn_detection.threshold" in record.getMessage()


GA_ANSWER: dict[str, Any] = {
    "value": "ek_abcdefghijklmnopqrstuvwxyz012345",
    "expires_at": 1_900_000_000,
    "session": {
        "type": "realtime",
        "object": "realtime.session",
        "id": "sess_1",
        "model": "gpt-realtime",
        "output_modalities": ["audio"],
        "instructions": "Be brief.",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {"type": "server_vad", "threshold": 0.5},
            },
            "output": {"format": {"type": "audio/pcmu"}, "voice": "marin", "speed": 1.0},
        },
        "tools": [],
        "tool_choice": {"type": "function", "name": "lookup_weather"},
        "tracing": None,
        "max_output_tokens": "inf",
    },
}


def test_the_ga_answer_reads_back_in_beta_names() -> None:
    assert Bridge.from_ga(GA_ANSWER) == {
        "id": "sess_1",
        "object": "realtime.session",
        "model": "gpt-realtime",
        "instructions": "Be brief.",
        "tools": [],
        "tracing": None,
        "modalities": ["audio", "text"],
        "tool_choice": "lookup_weather",
        "max_response_output_tokens": "inf",
        "voice": "marin",
        "speed": 1.0,
        "input_audio_transcription": None,
        "input_audio_noise_reduction": None,
        "turn_detection": {"type": "server_vad", "threshold": 0.5},
        "input_audio_format": "pcm16",
        "output_audio_format": "g711_ulaw",
        "client_secret": {"value": GA_ANSWER["value"], "expires_at": 1_900_000_000},
    }


def test_text_only_output_reads_back_as_text_only() -> None:
    answer = {**GA_ANSWER, "session": {**GA_ANSWER["session"], "output_modalities": ["text"]}}
    assert Bridge.from_ga(answer)["modalities"] == ["text"]


@pytest.mark.parametrize("answer", [None, [], "text", {"session": {}}])
def test_an_answer_without_a_secret_is_passed_on_for_the_decoder_to_reject(answer: Any) -> None:
    assert Bridge.from_ga(answer) == answer


@pytest.mark.parametrize(
    ("beta", "extra", "field"),
    [
        ({}, {"type": "transcription"}, "extra.type"),
        ({"voice": "marin"}, {"audio": {"output": {"speed": 1.1}}}, "extra.audio"),
        ({"modalities": ["text"]}, {"output_modalities": ["audio"]}, "extra.output_modalities"),
        ({"max_response_output_tokens": 5}, {"max_output_tokens": 6}, "extra.max_output_tokens"),
    ],
)
def test_an_extra_key_may_not_replace_what_the_typed_fields_set_in_the_ga_session(
    beta: dict[str, Any], extra: dict[str, Any], field: str
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        BRIDGE.to_ga(beta, extra=extra)
    assert caught.value.fields == [field]


def test_an_extra_key_the_typed_fields_left_unset_is_merged() -> None:
    ga = BRIDGE.to_ga({"modalities": ["text"]}, extra={"audio": {"input": {"format": {"type": "audio/pcmu"}}}})
    assert ga["session"]["audio"] == {"input": {"format": {"type": "audio/pcmu"}}}


# --- the words callers read (from mutmut's survivors) -----------------------------------------------------------


def test_a_strict_refusal_says_why_and_what_to_do() -> None:
    with pytest.raises(RequestValidationError) as caught:
        BRIDGE.to_ga({"temperature": 0.8})
    assert caught.value.messages == {
        "temperature": [
            "has no equivalent in the GA Realtime API",
            "remove it, or set bridge.strict: false to drop it, or api_shape: beta",
        ]
    }


def test_an_extra_key_the_bridge_sets_is_refused_with_a_message_that_says_where_it_belongs() -> None:
    with pytest.raises(RequestValidationError) as caught:
        BRIDGE.to_ga({"voice": "marin"}, extra={"audio": {}})
    assert caught.value.messages == {
        "extra.audio": ["is set by the GA bridge from the request's typed fields; set it there or remove it from extra"]
    }


def test_the_lenient_warning_names_the_dropped_fields_in_its_text_and_its_extra(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="realtime_service"):
        Bridge(strict=False).to_ga({"temperature": 0.9, "turn_detection": {"type": "server_vad", "eagerness": "low"}})
    (record,) = caplog.records
    assert record.getMessage() == "dropped beta fields with no GA meaning: temperature, turn_detection.eagerness"
    assert record.dropped == ["temperature", "turn_detection.eagerness"]  # type: ignore[attr-defined]


def test_a_ga_format_the_beta_shape_has_no_name_for_is_passed_on_as_its_type() -> None:
    answer = {**GA_ANSWER, "session": {**GA_ANSWER["session"], "audio": {"output": {"format": {"type": "audio/opus"}}}}}
    assert Bridge.from_ga(answer)["output_audio_format"] == "audio/opus"
