"""The docs' minimal routers (``examples/phone_flask.py``, ``examples/phone_fastapi.py``) on their production
servers, rung by the emulator: a caller is accepted with the example's session, a blocked one gets 486."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from realtime_service.emulator import Emulator

from .conftest import realtime_config
from .example_apps import served_example

SECRET = "whsec_" + base64.b64encode(b"phone-example-test-secret-00001").decode()


@pytest.fixture
def phone_app(framework: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    config = {"realtime": realtime_config(emulator), "server": {"phone": {"webhook_secret": SECRET}}}
    yield from served_example("phone", framework, config, monkeypatch, path="/webhooks/openai")


def test_the_example_router_accepts_a_caller(phone_app: tuple[Any, str], emulator: Emulator) -> None:
    module, url = phone_app
    record = emulator.ring(url, secret=SECRET, decide_within=10)
    assert record.state == "accepted"
    assert [(d.action, d.body) for d in record.decisions] == [("accept", module.SESSION)]


def test_the_example_router_turns_a_blocked_number_away(phone_app: tuple[Any, str], emulator: Emulator) -> None:
    _, url = phone_app
    record = emulator.ring(url, [("From", "<sip:+14155550666@example.com>")], secret=SECRET, decide_within=10)
    assert record.state == "rejected"
    assert [(d.action, d.body) for d in record.decisions] == [("reject", {"status_code": 486})]


def test_the_example_router_ignores_the_live_announcement(phone_app: tuple[Any, str], emulator: Emulator) -> None:
    _, url = phone_app
    record = emulator.ring(url, secret=SECRET, api="live", decide_within=1)
    assert record.state == "timed_out"  # ignored: nobody decided it on the Live surface
    assert record.decisions == ()
    assert record.webhook_statuses == (200,)
