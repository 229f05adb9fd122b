"""Decisions, the router contract (sync and async), the target_uri check."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_service.errors import RequestValidationError
from realtime_service.webhooks import (
    Accept,
    CallRouter,
    Decision,
    Ignore,
    Refer,
    Reject,
    WebhookEvent,
    adecide,
    check_target_uri,
    decide,
    parse_event,
)

from .conftest import body_of, incoming_call

EVENT = parse_event(body_of(incoming_call()))


@pytest.mark.parametrize(
    "uri",
    [
        "tel:+14155550123",
        "tel:+1-415-555-0123;ext=12",
        "sip:agent@example.com",
        "sips:agent@example.com:5061;transport=tls",
        "SIP:+14155550123@203.0.113.9",
        "sip:[2001:db8::1]",
        "sip:queue@example.com?Replaces=abc%40host",
    ],
)
def test_transfer_targets_we_send(uri: str) -> None:
    assert check_target_uri(uri) == uri
    assert Refer(uri).target_uri == uri


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("tel:+14155559876\r\nX-Injected: 1", "control characters"),
        ("sip:agent@example.com\n", "control characters"),
        ("sip:agent@exa mple.com", "spaces"),
        ("sip:<agent@example.com>", "spaces"),
        ("http://example.com", "tel:, sip: or sips:"),
        ("mailto:a@b", "tel:, sip: or sips:"),
        ("+14155559876", "tel:, sip: or sips:"),
        ("tel:", "telephone number"),
        ("tel:abc", "telephone number"),
        ("sip:", "host"),
        ("sip:agent@", "host"),
        ("sip:agent@exa/mple", "host"),
        ("", "blank"),
        ("   ", "blank"),
        ("sip:a@" + "h" * 1100, "at most 1024"),
    ],
)
def test_transfer_targets_we_refuse_name_the_field(uri: str, why: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        check_target_uri(uri)
    assert caught.value.fields == ["target_uri"]
    assert why in str(caught.value)
    assert "14155559876" not in str(caught.value)


def test_the_checked_field_name_is_the_callers() -> None:
    with pytest.raises(RequestValidationError) as caught:
        check_target_uri(42, field="transfer.to")
    assert caught.value.fields == ["transfer.to"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_either_a_target_or_a_validation_error(value: str) -> None:
    fields: list[str] = []
    try:
        accepted = check_target_uri(value)
    except RequestValidationError as error:
        fields = error.fields
        accepted = None
    if accepted is None:
        assert fields == ["target_uri"]
    else:
        assert accepted == value
        assert not any(char in value for char in "\r\n\x00 ")


def test_decisions_check_themselves() -> None:
    assert Reject().status_code == 603
    assert Reject(486).status_code == 486
    for bad in (200, 700, "486", True, None):
        with pytest.raises(RequestValidationError, match="status_code"):
            Reject(bad)  # type: ignore[arg-type]
    with pytest.raises(RequestValidationError, match="session"):
        Accept(["not", "a", "mapping"])  # type: ignore[arg-type]
    with pytest.raises(RequestValidationError, match="target_uri"):
        Refer("tel:+1\r\n")


def test_an_accepts_session_is_a_read_only_copy() -> None:
    session = {"type": "realtime", "model": "gpt-realtime-2"}
    accept = Accept(session)
    session["model"] = "changed"
    assert accept.session["model"] == "gpt-realtime-2"
    with pytest.raises(TypeError):
        accept.session["model"] = "x"  # type: ignore[index]


def test_a_refers_repr_masks_the_number() -> None:
    assert repr(Refer("tel:+14155550123")) == "Refer(target_uri='tel:+1415*******')"


class SyncRouter:
    def route(self, event: WebhookEvent) -> Decision:
        return Reject(486)


class AsyncRouter:
    async def route(self, event: WebhookEvent) -> Decision:
        await asyncio.sleep(0)
        return Refer("sip:agent@example.com")


def function_router(event: WebhookEvent) -> Decision:
    return Ignore()


async def async_function_router(event: WebhookEvent) -> Decision:
    return Accept({"type": "realtime"})


@pytest.mark.parametrize(
    ("router", "expected"),
    [
        (SyncRouter(), Reject(486)),
        (AsyncRouter(), Refer("sip:agent@example.com")),
        (function_router, Ignore()),
        (async_function_router, Accept({"type": "realtime"})),
    ],
)
def test_routers_sync_or_async_objects_or_functions(router: Any, expected: Decision) -> None:
    assert decide(router, EVENT) == expected
    assert asyncio.run(adecide(router, EVENT)) == expected


def test_router_objects_satisfy_the_protocol() -> None:
    assert isinstance(SyncRouter(), CallRouter)
    assert isinstance(AsyncRouter(), CallRouter)


def test_a_router_returning_something_else_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="returned dict, not a decision"):
        decide(lambda event: {"accept": True}, EVENT)
    with pytest.raises(TypeError, match="not a call router"):
        decide(42, EVENT)  # type: ignore[arg-type]


def test_decide_on_a_running_loop_says_to_use_adecide() -> None:
    async def inside() -> None:
        with pytest.raises(RuntimeError, match="adecide"):
            decide(AsyncRouter(), EVENT)

    asyncio.run(inside())


def test_router_errors_propagate() -> None:
    def broken(event: WebhookEvent) -> Decision:
        raise LookupError("no such customer")

    with pytest.raises(LookupError):
        decide(broken, EVENT)
