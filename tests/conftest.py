"""Shared fixtures. The package's own pytest plugin (``realtime_service.testing.plugin``) adds the
``realtime_*`` fixtures; these build on them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from chromium import Chromium

from realtime_service.containers import RealtimeContainer
from realtime_service.emulator import Emulator
from realtime_service.service import RealtimeSessionService

# --only-system-skips (skip_gate.py); a real redis-server; each test starts from the same process-wide state;
# no ICE gathering outside a network namespace (netns.py)
pytest_plugins = ["skip_gate", "redis_server", "isolation", "netns"]

REQUEST = {"model": "gpt-realtime-2.1", "voice": "marin", "instructions": "Be brief."}


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def emulator(realtime_emulator: Emulator) -> Emulator:
    return realtime_emulator


@pytest.fixture
def container(realtime_emulator_container: RealtimeContainer) -> RealtimeContainer:
    """A container on the beta shape, so requests reach ``/realtime/sessions`` as written."""
    realtime_emulator_container.config.from_dict({"api_shape": "beta"})
    return realtime_emulator_container


@pytest.fixture
def service(container: RealtimeContainer) -> RealtimeSessionService:
    return container.realtime_session_service()


@pytest.fixture
def make_container(emulator: Emulator) -> Iterator[object]:
    """Build beta-shape containers against the emulator with extra config; all are shut down after the test."""
    built: list[RealtimeContainer] = []

    def make(config: dict[str, object] | None = None, **providers: object) -> RealtimeContainer:
        container = RealtimeContainer(environ={}, **providers)
        container.config.from_dict(
            {"api_key": emulator.api_key, "base_url": emulator.base_url, "api_shape": "beta", **(config or {})}
        )
        built.append(container)
        return container

    yield make
    for container in built:
        container.shutdown_resources()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    """One headless Chromium for the run, started by the first test that wants a browser (skipped, saying so,
    without Debian's chromium and chromium-driver) and quit when the run ends."""
    browser = Chromium()
    yield browser
    browser.quit()


@pytest.fixture
def browser(chromium: Chromium) -> Iterator[Any]:
    """The shared Chromium's driver on a new tab in a browser context of its own (cookies, storage, permissions
    and console log start empty), the fake microphone allowed."""
    with chromium.context() as driver:
        yield driver
