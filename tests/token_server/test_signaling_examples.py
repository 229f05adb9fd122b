"""The signaling host apps of docs/signaling.md (``examples/signaling_flask.py``, ``examples/signaling_fastapi.py``)
on their production servers, against the emulator: an offer in, an answer and a call id out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from realtime_service.emulator import Emulator

from .conftest import realtime_config
from .example_apps import served_example

ROOT = Path(__file__).resolve().parents[2]
OFFER = (ROOT / "tests" / "sdp" / "chromium_offer.sdp").read_bytes()


@pytest.fixture
def host_app(framework: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    yield from served_example("signaling", framework, {"realtime": realtime_config(emulator)}, monkeypatch)


def test_the_example_starts_a_call_for_an_offer(host_app: tuple[Any, str], emulator: Emulator, framework: str) -> None:
    _, url = host_app
    response = requests.post(
        url + "/voice/session?voice=cedar", data=OFFER, headers={"Content-Type": "application/sdp"}, timeout=10
    )
    assert response.status_code == 201, response.content[:300]
    assert response.headers["content-type"] == "application/sdp"
    record = emulator.calls.get(response.headers["x-call-id"])
    assert record is not None
    assert record.offer == OFFER
    assert record.api == ("realtime" if framework == "flask" else "live")
    voice = record.session["audio"]["output"]["voice"]
    assert voice == "cedar"
    assert response.content.decode() == record.answer
