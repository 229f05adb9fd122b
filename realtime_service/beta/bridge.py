"""The beta-to-GA bridge: ``create_realtime_session`` requests sent to ``POST /realtime/client_secrets``.

The beta endpoint was retired on 2026-05-12. The bridge rewrites an already validated beta body into a GA
``client_secrets`` body and the GA answer back into the beta response shape, so code written against the seed's
``createRealtimeSession`` keeps working. It works on JSON mappings, after the beta schema has validated the
request, so every error names the beta field the caller wrote.

| beta request                        | GA request                                               |
|-------------------------------------|----------------------------------------------------------|
| `model`, `instructions`, `tools`, `tracing` | `session.<same>`                                 |
| `tool_choice` `auto`/`none`/`required` | `session.tool_choice` unchanged                       |
| `tool_choice` `<function name>`     | `session.tool_choice {type: function, name}`             |
| `voice`, `speed`                    | `session.audio.output.voice`, `.speed`                   |
| `input_audio_format` `pcm16`        | `session.audio.input.format {type: audio/pcm, rate: 24000}` |
| `output_audio_format` (likewise)    | `session.audio.output.format`                            |
| ... `g711_ulaw` / `g711_alaw`       | ... `{type: audio/pcmu}` / `{type: audio/pcma}`          |
| `input_audio_transcription`         | `session.audio.input.transcription`                      |
| `input_audio_transcription` `null`  | left out (GA transcription is off unless given; it cannot be `null`) |
| `input_audio_noise_reduction`       | `session.audio.input.noise_reduction`                    |
| `turn_detection` (no `type` = `server_vad`) | `session.audio.input.turn_detection`             |
| `modalities` with `audio`           | `session.output_modalities ["audio"]`                    |
| `modalities ["text"]` (or repeated) | `session.output_modalities ["text"]` (GA allows one item) |
| `max_response_output_tokens`        | `session.max_output_tokens`                              |
| `client_secret.expires_after`       | `expires_after`                                          |
| no `client_secret`                  | `expires_after {anchor: created_at, seconds: bridge.default_ttl (60)}` |
| `extra`                             | merged into `session`; refused (`extra.<key>`) where the table set a key |
| `temperature`                       | no GA meaning: refused or dropped, see below             |
| server_vad `turn_detection.eagerness` | no GA meaning                                          |
| semantic_vad `threshold`, `prefix_padding_ms`, `silence_duration_ms` | no GA meaning             |

A field with no GA meaning is a `RequestValidationError` under `bridge.strict: true` (the default) and is dropped
with one warning log line per call under `false`.

Back from GA: `value`/`expires_at` become `client_secret`, the session's settings go back to their beta names,
formats back to strings, a `{type: function, name}` tool choice back to the name, and `output_modalities
["audio"]` reads as `["audio", "text"]` (beta audio always carried a transcript).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import RequestValidationError

logger = logging.getLogger("realtime_service")

FORMAT_TO_GA: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
FORMAT_FROM_GA = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
TOOL_CHOICE_MODES = frozenset({"auto", "none", "required"})

#: Turn-detection fields each GA VAD type does not have.
_VAD_FIELDS_WITHOUT_GA_MEANING = {
    "server_vad": ("eagerness",),
    "semantic_vad": ("threshold", "prefix_padding_ms", "silence_duration_ms"),
}
_UNCHANGED = ("model", "instructions", "tools", "tracing")


@dataclass(frozen=True, slots=True)
class Bridge:
    """Translates between the beta and GA shapes. ``strict`` refuses lossy requests; ``default_ttl`` is the key
    lifetime for a beta request without ``client_secret`` (the beta docs' 60 s; GA's own default is 600 s)."""

    strict: bool = True
    default_ttl: int = 60

    def to_ga(self, beta: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A GA ``client_secrets`` body for a validated beta body. ``extra`` goes into ``session``, but may not
        replace what the typed fields put there (``type``, ``audio`` when a voice or format was given, ...)."""
        lossy: dict[str, list[str]] = {}
        session: dict[str, Any] = {"type": "realtime"}
        audio_in: dict[str, Any] = {}
        audio_out: dict[str, Any] = {}
        for key in _UNCHANGED:
            if key in beta:
                session[key] = beta[key]
        if "tool_choice" in beta:
            choice = beta["tool_choice"]
            session["tool_choice"] = choice if choice in TOOL_CHOICE_MODES else {"type": "function", "name": choice}
        if "modalities" in beta:
            modalities = beta["modalities"]
            session["output_modalities"] = ["audio"] if "audio" in modalities else list(dict.fromkeys(modalities))
        if "max_response_output_tokens" in beta:
            session["max_output_tokens"] = beta["max_response_output_tokens"]
        if "voice" in beta:
            audio_out["voice"] = beta["voice"]
        if "speed" in beta:
            audio_out["speed"] = beta["speed"]
        if "output_audio_format" in beta:
            audio_out["format"] = dict(FORMAT_TO_GA[beta["output_audio_format"]])
        if "input_audio_format" in beta:
            audio_in["format"] = dict(FORMAT_TO_GA[beta["input_audio_format"]])
        if beta.get("input_audio_transcription") is not None:
            audio_in["transcription"] = beta["input_audio_transcription"]
        if "input_audio_noise_reduction" in beta:
            audio_in["noise_reduction"] = beta["input_audio_noise_reduction"]
        if "turn_detection" in beta:
            audio_in["turn_detection"] = self._turn_detection(beta["turn_detection"], lossy)
        if "temperature" in beta:
            lossy["temperature"] = ["has no equivalent in the GA Realtime API"]
        if audio_in or audio_out:
            session["audio"] = {
                **({"input": audio_in} if audio_in else {}),
                **({"output": audio_out} if audio_out else {}),
            }
        clashes = sorted(key for key in extra or () if key in session)
        if clashes:
            message = "is set by the GA bridge from the request's typed fields; set it there or remove it from extra"
            raise RequestValidationError({f"extra.{key}": [message] for key in clashes})
        if lossy:
            self._refuse_or_warn(lossy)
        if extra:
            session.update(extra)
        expires_after = beta.get("client_secret", {}).get("expires_after")
        if expires_after is None:
            expires_after = {"anchor": "created_at", "seconds": self.default_ttl}
        return {"expires_after": expires_after, "session": session}

    def _turn_detection(self, beta: Mapping[str, Any] | None, lossy: dict[str, list[str]]) -> dict[str, Any] | None:
        if beta is None:
            return None
        ga = {"type": "server_vad", **beta}
        for name in _VAD_FIELDS_WITHOUT_GA_MEANING[ga["type"]]:
            if name in ga:
                del ga[name]
                lossy[f"turn_detection.{name}"] = [f"has no meaning for {ga['type']} in the GA Realtime API"]
        return ga

    def _refuse_or_warn(self, lossy: dict[str, list[str]]) -> None:
        if self.strict:
            hint = "remove it, or set bridge.strict: false to drop it, or api_shape: beta"
            raise RequestValidationError({path: [*messages, hint] for path, messages in lossy.items()})
        logger.warning(
            "dropped beta fields with no GA meaning: %s", ", ".join(sorted(lossy)), extra={"dropped": sorted(lossy)}
        )

    @staticmethod
    def from_ga(ga: Any) -> Any:
        """The beta response shape for a GA ``client_secrets`` answer; anything else is returned unchanged, for
        the beta decoder to reject."""
        if not isinstance(ga, Mapping) or "value" not in ga:
            return ga
        session = ga.get("session")
        session = session if isinstance(session, Mapping) else {}
        beta: dict[str, Any] = {
            key: session[key] for key in ("id", "object", "model", "instructions", "tools", "tracing") if key in session
        }
        if "output_modalities" in session:
            modalities = session["output_modalities"]
            beta["modalities"] = ["audio", "text"] if modalities == ["audio"] else modalities
        if "tool_choice" in session:
            choice = session["tool_choice"]
            is_function = isinstance(choice, Mapping) and choice.get("type") == "function"
            beta["tool_choice"] = choice.get("name") if is_function else choice
        if "max_output_tokens" in session:
            beta["max_response_output_tokens"] = session["max_output_tokens"]
        audio = _mapping(session.get("audio"))
        audio_in, audio_out = _mapping(audio.get("input")), _mapping(audio.get("output"))
        for beta_key, source, key in (
            ("voice", audio_out, "voice"),
            ("speed", audio_out, "speed"),
            ("input_audio_transcription", audio_in, "transcription"),
            ("input_audio_noise_reduction", audio_in, "noise_reduction"),
            ("turn_detection", audio_in, "turn_detection"),
        ):
            if key in source:
                beta[beta_key] = source[key]
        for beta_key, source in (("input_audio_format", audio_in), ("output_audio_format", audio_out)):
            fmt = source.get("format")
            if isinstance(fmt, Mapping):
                beta[beta_key] = FORMAT_FROM_GA.get(str(fmt.get("type")), fmt.get("type"))
        beta["client_secret"] = {"value": ga.get("value"), "expires_at": ga.get("expires_at")}
        return beta


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
