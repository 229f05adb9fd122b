"""Beta session requests shared by the tests: hypothesis strategies for every request the beta codec accepts.

A plain module (``tests/`` is not a package; pytest puts this directory on ``sys.path``), so the codec tests and
the bridge tests over the emulator draw from one definition.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

text = st.text(max_size=20)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=12
)
json_objects = st.dictionaries(text, json_values, max_size=4)
any_scalars = st.none() | st.booleans() | st.integers() | st.floats() | text
any_json = st.recursive(
    any_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=12
)


def number_between(low: float, high: float) -> st.SearchStrategy[float | int]:
    return st.floats(low, high) | st.integers(math.ceil(low), math.floor(high))


def optional_keys(**strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=strategies)


turn_detections = optional_keys(
    type=st.sampled_from(["server_vad", "semantic_vad"]),
    eagerness=st.sampled_from(["low", "medium", "high", "auto"]),
    threshold=number_between(0, 1),
    prefix_padding_ms=st.integers(),
    silence_duration_ms=st.integers(),
    create_response=st.booleans(),
    interrupt_response=st.booleans(),
)
tools = optional_keys(type=st.just("function"), name=text, description=text, parameters=json_objects)
tracings = st.just("auto") | optional_keys(workflow_name=text, group_id=text, metadata=json_objects)
client_secrets = st.fixed_dictionaries(
    {
        "expires_after": st.fixed_dictionaries(
            {"anchor": st.just("created_at")}, optional={"seconds": st.integers(10, 7200)}
        )
    }
)
FORMATS = ["pcm16", "g711_ulaw", "g711_alaw"]

VALID_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "model": text,
    "modalities": st.lists(st.sampled_from(["text", "audio"]), max_size=3),
    "instructions": st.text(),
    "voice": text,
    "input_audio_format": st.sampled_from(FORMATS),
    "output_audio_format": st.sampled_from(FORMATS),
    "input_audio_transcription": st.none() | optional_keys(model=text, language=text, prompt=text),
    "turn_detection": st.none() | turn_detections,
    "input_audio_noise_reduction": st.none() | optional_keys(type=st.sampled_from(["near_field", "far_field"])),
    "tools": st.lists(tools, max_size=3),
    "tool_choice": text,
    "temperature": number_between(0.6, 1.2),
    "max_response_output_tokens": st.integers(1, 4096) | st.just("inf"),
    "speed": number_between(0.25, 1.5),
    "tracing": st.none() | tracings,
    "client_secret": client_secrets,
}
valid_requests = optional_keys(**VALID_FIELDS)
