"""The codec machinery every operation shares, at the edges mutmut found untested: error paths named the
way callers read them, list items pruned in place, and an ``extra`` key that happens to be called ``extra``."""

from __future__ import annotations

from typing import Any

import pytest

from realtime_service.beta.models import FunctionTool
from realtime_service.errors import ResponseValidationError
from realtime_service.ga.models import ClientSecretCreateRequest, MCPTool, RealtimeSessionConfig
from realtime_service.ga.schemas import ClientSecretCodec
from realtime_service.wire.codec import flatten_messages

CODEC = ClientSecretCodec()


@pytest.mark.parametrize(
    ("messages", "flat"),
    [
        ({"_schema": ["Invalid input type."]}, {"_schema": ["Invalid input type."]}),
        ({"turn_detection": {"_schema": ["Invalid input type."]}}, {"turn_detection": ["Invalid input type."]}),
        ({"tools": {0: {"name": ["Missing."]}}}, {"tools.0.name": ["Missing."]}),
        ({"": ["Unknown field."]}, {"": ["Unknown field."]}),
        ({"a": ["one", "two"], "b": {"c": ["three"]}}, {"a": ["one", "two"], "b.c": ["three"]}),
    ],
)
def test_marshmallow_messages_flatten_to_dotted_paths(messages: dict[Any, Any], flat: dict[str, list[str]]) -> None:
    assert flatten_messages(messages) == flat


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"session": {}},
            "response has no valid value or expires_at (expires_at: Missing data for required field.; "
            "value: Missing data for required field.) (request_id=req_1)",
        ),
        (
            {"value": 5, "expires_at": "x"},
            "response has no valid value or expires_at (expires_at: Not a valid integer.; value: Not a valid "
            "string.) (request_id=req_1)",
        ),
    ],
)
def test_an_answer_without_a_usable_key_says_what_is_wrong_with_each_required_field(
    body: dict[str, Any], message: str
) -> None:
    with pytest.raises(ResponseValidationError) as caught:
        CODEC.decode(body, request_id="req_1")
    assert str(caught.value) == message
    assert caught.value.request_id == "req_1"


def test_a_list_item_with_one_bad_value_keeps_its_place_and_its_other_fields() -> None:
    body = {
        "value": "ek_abcdefghijklmnopqrstuvwxyz",
        "expires_at": 1,
        "session": {
            "type": "realtime",
            "id": "sess_1",
            "object": "realtime.session",
            "tools": [
                {"type": "function", "name": "a"},
                {"type": "mcp", "server_label": "docs", "allowed_tools": 5},
                {"type": "function", "name": "c"},
            ],
        },
    }
    response = CODEC.decode(body, request_id=None)
    assert response.invalid_fields == ("session.tools.1.allowed_tools",)
    assert response.session.tools == (  # type: ignore[union-attr]
        FunctionTool(name="a"),
        MCPTool(server_label="docs"),
        FunctionTool(name="c"),
    )
    assert response.to_dict() == body


def test_an_extra_key_named_extra_is_sent_like_any_other() -> None:
    request = ClientSecretCreateRequest(session=RealtimeSessionConfig(extra={"extra": 1}))
    assert CODEC.encode(request) == {"session": {"type": "realtime", "extra": 1}}
