"""Decisions carried out by name through the service's call-control operations (sync and a-twins).

The service's operations are another part of issue 13; this checks the mapping against an object that records
the calls it receives, and the whole CallDesk path with it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from realtime_service.webhooks import (
    Accept,
    CallDesk,
    DecisionLedger,
    Ignore,
    Refer,
    Reject,
    WebhookDelivery,
    aservice_act,
    operation_for,
    parse_event,
    service_act,
)
from realtime_service.webhooks.actions import OPERATIONS

from .conftest import body_of, incoming_call, live_incoming

NAMES = {name for names in OPERATIONS.values() for name in names[:2]}
REALTIME = parse_event(body_of(incoming_call(call_id="rtc_abc")))
LIVE = parse_event(body_of(live_incoming(session_id="live_abc")))


class CallControl:
    """Records each operation by name, as the service would receive it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        if name not in NAMES and name[1:] in NAMES:

            async def twin(ident: str, argument: Any) -> None:
                self.calls.append((name, ident, argument))

            return twin

        def operation(ident: str, argument: Any) -> None:
            self.calls.append((name, ident, argument))

        return operation


@pytest.mark.parametrize(
    ("event", "decision", "expected"),
    [
        (REALTIME, Accept({"type": "realtime"}), ("accept_call", "rtc_abc", {"type": "realtime"})),
        (REALTIME, Reject(), ("reject_call", "rtc_abc", 603)),
        (REALTIME, Refer("tel:+14155550123"), ("refer_call", "rtc_abc", "tel:+14155550123")),
        (LIVE, Accept({"type": "live"}), ("accept_live_session", "live_abc", {"type": "live"})),
        (LIVE, Reject(486), ("reject_live_session", "live_abc", 486)),
        (LIVE, Refer("sip:a@b.example"), ("refer_live_session", "live_abc", "sip:a@b.example")),
    ],
)
def test_each_decision_maps_to_its_operation_sync_and_async(event: Any, decision: Any, expected: Any) -> None:
    assert operation_for(event, decision) == expected
    control = CallControl()
    service_act(control)(event, decision)
    asyncio.run(aservice_act(control)(event, decision))
    assert control.calls == [expected, ("a" + expected[0], *expected[1:])]


def test_ignore_has_no_operation() -> None:
    with pytest.raises(ValueError, match="nothing is sent"):
        operation_for(REALTIME, Ignore())


def test_the_desk_over_the_operations_decides_once() -> None:
    control = CallControl()
    desk = CallDesk(DecisionLedger(), lambda event: Reject(486), service_act(control))
    assert desk.handle(WebhookDelivery("wh_1", 0), REALTIME).result == "rejected:486"
    assert desk.handle(WebhookDelivery("wh_2", 0), LIVE).result == "duplicate"
    assert control.calls == [("reject_call", "rtc_abc", 486)]
    adesk = CallDesk(DecisionLedger(), lambda event: Reject(486), aservice_act(control))
    assert asyncio.run(adesk.ahandle(WebhookDelivery("wh_3", 0), LIVE)).result == "rejected:486"
    assert control.calls[-1] == ("areject_live_session", "live_abc", 486)
