"""Typed events from real-shaped bodies; unknown types kept read-only; reprs that mask numbers."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from realtime_service import WebhookVerificationError
from realtime_service.webhooks import (
    LiveCallIncoming,
    LiveTransportConnected,
    LiveTransportIncoming,
    RealtimeCallIncoming,
    SipHeaders,
    UnknownEvent,
    parse_event,
)

from .conftest import FROM, NOW, SIP_HEADERS, body_of, incoming_call, live_incoming


def malformed(payload: Any) -> str:
    with pytest.raises(WebhookVerificationError) as caught:
        parse_event(payload)
    assert caught.value.reason == "malformed"
    return str(caught.value)


def test_realtime_call_incoming_keeps_headers_in_order_with_duplicates() -> None:
    event = parse_event(body_of(incoming_call()))
    assert isinstance(event, RealtimeCallIncoming)
    assert event.type == "realtime.call.incoming"
    assert event.id == "evt_685343a1381c819085d44c354e1b330e"
    assert event.created_at == NOW
    assert event.sip_media_security == "srtp"
    assert event.sip_headers == tuple((h["name"], h["value"]) for h in SIP_HEADERS)
    assert event.sip_headers.get_all("x-custom") == ("one", "two")
    assert event.sip_headers.get("FROM") == FROM


def test_sip_media_security_and_object_may_be_absent() -> None:
    body = incoming_call()
    del body["object"]
    del body["data"]["sip_media_security"]
    event = parse_event(body_of(body))
    assert isinstance(event, RealtimeCallIncoming)
    assert event.sip_media_security is None


def test_sip_media_security_may_be_any_string() -> None:
    event = parse_event(body_of(incoming_call(sip_media_security="zrtp-future")))
    assert isinstance(event, RealtimeCallIncoming)
    assert event.sip_media_security == "zrtp-future"


def test_live_transport_incoming_with_or_without_data_type() -> None:
    event = parse_event(body_of(live_incoming()))
    assert isinstance(event, LiveTransportIncoming)
    assert (event.session_id, event.transport, event.type) == ("live_123", "sip", "live.transport.incoming")
    body = live_incoming()
    del body["data"]["type"]
    body["data"]["sip_media_security"] = "srtp"
    event = parse_event(body_of(body))
    assert isinstance(event, LiveTransportIncoming)
    assert (event.transport, event.sip_media_security) == (None, "srtp")


def test_the_deprecated_live_call_incoming_reads_as_a_live_incoming_call() -> None:
    body = live_incoming()
    body["type"] = "live.call.incoming"
    del body["data"]["type"]
    event = parse_event(body_of(body))
    assert isinstance(event, LiveCallIncoming)
    assert isinstance(event, LiveTransportIncoming)
    assert event.type == "live.call.incoming"


def test_live_transport_connected() -> None:
    body = {"object": "event", "id": "evt_1", "type": "live.transport.connected", "created_at": NOW}
    body["data"] = {"session_id": "live_abc", "type": "webrtc"}
    event = parse_event(json.dumps(body))
    assert event == LiveTransportConnected("evt_1", NOW, "live_abc", "webrtc")


def test_any_other_type_is_kept_read_only_never_a_crash() -> None:
    body = {
        "id": "evt_2",
        "type": "response.completed",
        "created_at": NOW,
        "data": {"id": "resp_1", "list": [1, {"a": 2}]},
    }
    event = parse_event(body_of(body))
    assert isinstance(event, UnknownEvent)
    assert event.type == "response.completed"
    assert event.data["list"][1]["a"] == 2
    with pytest.raises(TypeError):
        event.data["id"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        event.data["list"][1]["a"] = 3
    assert event.raw["data"]["id"] == "resp_1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.type = "x"  # type: ignore[misc]


def test_an_unknown_type_without_data_or_id_is_still_kept() -> None:
    event = parse_event(b'{"type": "something.new"}')
    assert event == UnknownEvent("something.new", None, None, {})


def test_events_are_frozen() -> None:
    event = parse_event(body_of(incoming_call()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.call_id = "rtc_other"  # type: ignore[misc, union-attr]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "data.call_id"),
        ({"call_id": 5}, "data.call_id"),
        ({"call_id": "rtc_1/../../accept"}, "data.call_id"),
        ({"call_id": "rtc 1"}, "data.call_id"),
        ({"call_id": "rtc_1", "sip_headers": {"From": "x"}}, "data.sip_headers"),
        ({"call_id": "rtc_1", "sip_headers": [["From", "x"]]}, "data.sip_headers[0]"),
        ({"call_id": "rtc_1", "sip_headers": [{"name": "", "value": "x"}]}, "data.sip_headers[0]"),
        (
            {"call_id": "rtc_1", "sip_headers": [{"name": "A", "value": "x"}, {"name": "B", "value": 1}]},
            "data.sip_headers[1]",
        ),
        ({"call_id": "rtc_1", "sip_media_security": 1}, "data.sip_media_security"),
    ],
)
def test_a_known_type_without_a_usable_field_is_malformed_naming_it(data: dict[str, Any], field: str) -> None:
    body = {"id": "evt_1", "type": "realtime.call.incoming", "created_at": NOW, "data": data}
    assert field in malformed(body_of(body))


def test_a_header_value_of_null_reads_as_empty() -> None:
    event = parse_event(body_of(incoming_call(sip_headers=[{"name": "Subject", "value": None}, {"name": "X-Empty"}])))
    assert isinstance(event, RealtimeCallIncoming)
    assert event.sip_headers == (("Subject", ""), ("X-Empty", ""))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b'"text"',
        b'{"type": 3}',
        b'{"type": "realtime.call.incoming", "data": {"call_id": "rtc_1"}}',
        b'{"type": "x", "id": 5}',
        b'{"type": "x", "created_at": "today"}',
        b'{"type": "x", "created_at": true}',
        b'{"type": "x", "data": [1]}',
        b'{"type": "x", "v": Infinity}',
    ],
)
def test_bodies_that_are_not_events_are_malformed(body: bytes) -> None:
    malformed(body)


def test_reprs_mask_phone_numbers() -> None:
    event = parse_event(body_of(incoming_call()))
    unknown = parse_event(body_of({"type": "x.y", "data": {"caller": "+14155550100"}}))
    for text in (repr(event), str(event), repr(event.sip_headers), str(event.sip_headers), repr(unknown)):
        assert "+14155550100" not in text
        assert "4155550111" not in text
        assert "18005550199" not in text
    assert "+1415*******" in repr(event)
    assert "rtc_u1_9c6574da8b8a41a18da9308f4ad974ce" in repr(event)
    assert isinstance(event, RealtimeCallIncoming)
    assert "+14155550100" in event.sip_headers.get("From", "")


def test_sip_headers_compare_and_hash_like_tuples() -> None:
    headers = SipHeaders([("From", "a"), ("To", "b")])
    assert headers == (("From", "a"), ("To", "b"))
    assert hash(headers) == hash((("From", "a"), ("To", "b")))
    event = parse_event(body_of(incoming_call()))
    assert hash(event) == hash(parse_event(body_of(incoming_call())))
