"""The docs' minimal routers (``examples/phone_flask.py``, ``examples/phone_fastapi.py``) on their production
servers, rung by the emulator: a caller is accepted with the example's session, a blocked one gets 486."""

from __future__ import annotations

import base64
import importlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realtime_service.emulator import Emulator
from realtime_service.web.servers.serve import UvicornRunner, WaitressRunner, bind

from .conftest import realtime_config, require

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_" + base64.b64encode(b"phone-example-test-secret-00001").decode()


@pytest.fixture
def phone_app(framework: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    require(framework)
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    module = importlib.import_module(f"examples.phone_{framework}")
    application = module.application
    application.config.from_dict(
        {"realtime": realtime_config(emulator), "server": {"phone": {"webhook_secret": SECRET}}}
    )
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
    yield module, f"http://127.0.0.1:{sock.getsockname()[1]}/webhooks/openai"
    runner.stop()
    thread.join(10)
    sock.close()
    application.unwire()
    application.shutdown_resources()
    application.token_server.environ.reset_override()
    sys.modules.pop(f"examples.phone_{framework}", None)


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
