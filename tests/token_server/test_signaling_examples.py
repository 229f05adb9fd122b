"""The signaling host apps of docs/signaling.md (``examples/signaling_flask.py``, ``examples/signaling_fastapi.py``)
on their production servers, against the emulator: an offer in, an answer and a call id out."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from realtime_service.emulator import Emulator
from realtime_service.web.servers.serve import UvicornRunner, WaitressRunner, bind

from .conftest import realtime_config, require

ROOT = Path(__file__).resolve().parents[2]
OFFER = (ROOT / "tests" / "sdp" / "chromium_offer.sdp").read_bytes()


@pytest.fixture
def host_app(framework: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    require(framework)
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    module = importlib.import_module(f"examples.signaling_{framework}")
    application = module.application
    application.config.from_dict({"realtime": realtime_config(emulator)})
    application.token_server.environ.override({})
    adapter = f"realtime_service.web.adapters.{'flask_blueprint' if framework == 'flask' else 'fastapi_router'}"
    application.wire(modules=[adapter])
    sock = bind("127.0.0.1", 0)
    runner: Any
    if framework == "flask":
        runner = WaitressRunner(module.app, sock, threads=4, shutdown_timeout=5)
    else:
        runner = UvicornRunner(module.app, sock, shutdown_timeout=5)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    yield module, f"http://127.0.0.1:{sock.getsockname()[1]}"
    runner.stop()
    thread.join(10)
    sock.close()
    application.unwire()
    application.shutdown_resources()
    application.token_server.environ.reset_override()
    sys.modules.pop(f"examples.signaling_{framework}", None)


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
