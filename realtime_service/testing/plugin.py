"""pytest plugin (registered as the ``realtime_service`` entry point): fixtures for host-app tests.

- ``realtime_fake_gateway``: a fresh :class:`FakeGateway`.
- ``realtime_container``: a ``RealtimeContainer`` with a test key, its gateway overridden by the fake and
  retry waits recorded instead of slept (``realtime_sleeps``).
- ``realtime_emulator``: a running loopback :class:`~realtime_service.emulator.Emulator`.
- ``realtime_emulator_container``: a container pointed at that emulator, waits recorded, not slept.
- ``realtime_ring``: rings a host app's webhook endpoint from that emulator and returns the call's final
  :class:`~realtime_service.emulator.CallRecord` (``realtime_ring(url, secret=..., api="live", ...)``, the
  arguments of :meth:`Emulator.ring`). The app must send its decisions to ``realtime_emulator.base_url``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .fake import FakeGateway

if TYPE_CHECKING:
    from ..containers import RealtimeContainer
    from ..emulator import CallRecord, Emulator


@pytest.fixture
def realtime_sleeps() -> list[float]:
    """The waits the retry policy asked for, in order."""
    return []


@pytest.fixture
def realtime_fake_gateway() -> FakeGateway:
    return FakeGateway()


def _container(config: dict[str, object], sleeps: list[float]) -> RealtimeContainer:
    from ..containers import RealtimeContainer

    async def asleep(seconds: float) -> None:
        sleeps.append(seconds)

    container = RealtimeContainer(environ={})
    container.config.from_dict(config)
    container.sleep.override(sleeps.append)
    container.asleep.override(asleep)
    return container


@pytest.fixture
def realtime_container(realtime_fake_gateway: FakeGateway, realtime_sleeps: list[float]) -> Iterator[RealtimeContainer]:
    container = _container({"api_key": "sk-test-fixture-key"}, realtime_sleeps)
    with container.gateway.override(realtime_fake_gateway):
        yield container
    container.shutdown_resources()


@pytest.fixture
def realtime_emulator() -> Iterator[Emulator]:
    from ..emulator import Emulator

    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def realtime_emulator_container(
    realtime_emulator: Emulator, realtime_sleeps: list[float]
) -> Iterator[RealtimeContainer]:
    container = _container(
        {"api_key": realtime_emulator.api_key, "base_url": realtime_emulator.base_url}, realtime_sleeps
    )
    yield container
    container.shutdown_resources()


@pytest.fixture
def realtime_ring(realtime_emulator: Emulator) -> Callable[..., CallRecord]:
    """``ring(webhook_url, sip_headers=None, **options) -> CallRecord``: one signed incoming call, followed to
    its end (accepted, rejected, referred, hung up or timed out)."""

    def ring(webhook_url: str, sip_headers: Any = None, **options: Any) -> CallRecord:
        return realtime_emulator.ring(webhook_url, sip_headers, **options)

    return ring
