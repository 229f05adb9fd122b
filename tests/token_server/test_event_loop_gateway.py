"""``serve`` on FastAPI mints through the event-loop gateway: the attempt runs on the server's loop, not
in a ``realtime-mint`` worker thread; an overriding sync fake still reaches every call (in a worker thread)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import requests

from realtime_service.emulator import Emulator
from realtime_service.testing import FakeGateway
from realtime_service.web.servers.runners import ServedApp

from .conftest import make_container, require

pytest.importorskip("httptools")

Serve = Callable[..., ServedApp]
JSON = {"Content-Type": "application/json"}


def attempt_threads(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The threads that ran the upstream attempts (the service logs one line per attempt, in that thread)."""
    return [r.threadName for r in caplog.records if r.name == "realtime_service" and "client_secrets ->" in r.message]


@pytest.mark.parametrize("framework", ["fastapi"])
def test_serve_on_fastapi_sends_the_mint_on_the_event_loop(
    serve: Serve, emulator: Emulator, framework: str, caplog: pytest.LogCaptureFixture
) -> None:
    require(framework)
    from realtime_service.transport.aio import EventLoopGateway

    container = make_container(emulator)
    served = serve(container=container)
    with caplog.at_level(logging.INFO, logger="realtime_service"):
        for _ in range(2):
            response = requests.post(served.url + "/token", data=b"{}", headers=JSON, timeout=10)
            assert response.status_code == 200
            assert response.json()["value"].startswith("ek_")
    assert isinstance(container.token_server.realtime.gateway(), EventLoopGateway)
    threads = attempt_threads(caplog)
    assert len(threads) == 2
    assert all(name == "served-fastapi" for name in threads), threads


@pytest.mark.parametrize("framework", ["fastapi"])
def test_an_overriding_sync_fake_reaches_the_served_mint_from_a_worker_thread(
    serve: Serve, emulator: Emulator, framework: str, caplog: pytest.LogCaptureFixture
) -> None:
    require(framework)
    container = make_container(emulator)
    fake = FakeGateway()
    fake.queue_response({"value": "ek_fake", "expires_at": 2_000_000_000, "session": {"type": "realtime"}})
    with container.token_server.realtime.gateway.override(fake):
        served = serve(container=container)
        with caplog.at_level(logging.INFO, logger="realtime_service"):
            response = requests.post(served.url + "/token", data=b"{}", headers=JSON, timeout=10)
    assert response.status_code == 200
    assert response.json()["value"] == "ek_fake"
    assert emulator.requests == []
    (thread,) = attempt_threads(caplog)
    assert thread.startswith("realtime-mint")
