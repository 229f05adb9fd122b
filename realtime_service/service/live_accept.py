"""The strict schema of a GPT-Live accept's ``session`` (CALLS-LIVE-NOTES 3.2), apart from
:mod:`.call_control` so marshmallow is imported by the first Live accept, not by importing the service.

Minimal until the ``realtime_service.live`` family lands (branch signal-svc); then this should delegate to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from ..errors import RequestValidationError
from ..wire.codec import flatten_messages


class _Voice(fields.Field[Any]):
    """A built-in voice name or ``{"id": "voice_..."}``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and value:
            return value
        if isinstance(value, Mapping) and set(value) == {"id"} and isinstance(value["id"], str) and value["id"]:
            return dict(value)
        raise ValidationError('Must be a voice name or {"id": "voice_..."}.')


class _StrictBoolean(fields.Field[bool]):
    """``true`` or ``false`` only (marshmallow's Boolean also takes ``1``, ``"yes"``...)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        raise ValidationError("Not a valid boolean.")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class _LiveAudioOutput(_Strict):
    voice = _Voice()


class _LiveAudio(_Strict):
    # No ``format``: SIP negotiates it (CALLS-LIVE-NOTES 3.2), so it is refused as an unknown field.
    output = fields.Nested(_LiveAudioOutput)


class _Delegation(Schema):
    """The three delegation kinds; their inner objects are passed through (the notes list them two levels deep)."""

    class Meta:
        unknown = RAISE

    type = fields.String(required=True, validate=validate.OneOf(("client", "responses", "decisions")))
    acknowledgement_delay_ms = fields.Integer(strict=True, validate=validate.Range(min=0))
    responses = fields.Dict(keys=fields.String())
    decisions = fields.Dict(keys=fields.String())


class _Content(_Strict):
    type = fields.String(required=True, validate=validate.OneOf(("input_text", "text", "output_text")))
    text = fields.String(required=True)


class _Message(_Strict):
    type = fields.String(required=True, validate=validate.Equal("message"))
    role = fields.String(required=True, validate=validate.OneOf(("developer", "user", "assistant")))
    content = fields.List(fields.Nested(_Content), required=True, validate=validate.Length(min=1, max=1))


class _Trigger(_Strict):
    type = fields.String(required=True, validate=validate.Equal("decisions"))
    event_type = fields.String(
        required=True,
        validate=validate.OneOf(("session.input_transcript.delta", "session.output_transcript.delta")),
    )
    decisions = fields.Dict(keys=fields.String(), required=True)


class LiveAcceptSessionSchema(_Strict):
    """The ``session`` of ``POST /live/sessions/{id}/accept`` (CALLS-LIVE-NOTES 3.2): ``type: "live"`` and ``model``
    required, unknown fields refused. A minimal strict schema until the ``realtime_service.live`` family lands;
    then this should delegate to it."""

    type = fields.String(required=True, validate=validate.Equal("live"))
    model = fields.String(required=True, validate=validate.Length(min=1))
    audio = fields.Nested(_LiveAudio)
    delegation = fields.Nested(_Delegation, allow_none=True)
    input = fields.List(fields.Nested(_Message), validate=validate.Length(max=128))
    instructions = fields.String(allow_none=True)
    safety_identifier = fields.String(allow_none=True)
    store = _StrictBoolean()
    triggers = fields.List(fields.Nested(_Trigger), validate=validate.Length(max=2))


_LIVE_SCHEMA = LiveAcceptSessionSchema()


def check_live_session(body: Mapping[str, Any]) -> None:
    """Raise :class:`RequestValidationError` naming each bad field (``session.<path>``) of ``body``."""
    problems = _LIVE_SCHEMA.validate(body)
    if problems:
        flat = flatten_messages(problems)
        raise RequestValidationError(
            {("session" if name == "_schema" else f"session.{name}"): msgs for name, msgs in flat.items()}
        )
