"""pytest plugin (registered as the ``realtime_service`` entry point): fixtures for host-app tests.

- ``realtime_fake_gateway``: a fresh :class:`FakeGateway`.
- ``realtime_container``: a ``RealtimeContainer`` with a test key, its gateway overridden by the fake and
  retry waits recorded instead of slept (``realtime_sleeps``).
- ``realtime_emulator``: a running loopback :class:`~realtime_service.emulator.Emulator`.
- ``realtime_emulator_container``: a container pointed at that emulator, waits recorded, not slept.
- ``realtime_ring``: rings a host app's webhook endpoint from that emulator and returns the call's final
  :class:`~realtime_service.emulator.CallRecord` (``realtime_ring(url, secret=..., api="live", ...)``, the
  arguments of :meth:`Emulator.ring`). The app must send its decisions to ``realtime_emulator.base_url``.
- ``realtime_scripted_call``: an accepted call on that emulator playing a script, with the host app's tools
  attached to its sideband, so the app's own tools are tested offline (:class:`ScriptedCalls`;
  ``await realtime_scripted_call(script=[...], tools=toolbox)`` in an async test, ``.play(...)`` in a sync one).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from .fake import FakeGateway

if TYPE_CHECKING:
    from ..containers import RealtimeContainer
    from ..emulator import CallRecord, Emulator
    from ..sideband.handle import CallHandle
    from ..sideband.realtime import CallEnd

#: Seconds :meth:`ScriptedCall.record` waits for the script's outcome after the sideband ended (the emulator
#: closes the socket a moment before it records it), and the default bound of :meth:`ScriptedCalls.play`.
SETTLE_SECONDS = 10.0
PLAY_SECONDS = 120.0
_POLL_SECONDS = 0.05


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


@dataclass(frozen=True)
class ScriptedCall:
    """One scripted call with the app's tools attached: ``handle`` steers it (``await handle.closed()`` waits for
    its end; a failed script closes the sideband, reason ``closed``); :meth:`record` is the emulator's record of
    it (``script_state``: ``done``, or ``failed`` at a step and why; ``client_events``: everything the app sent)."""

    call_id: str
    handle: CallHandle
    emulator: Emulator

    def record(self, timeout: float = SETTLE_SECONDS) -> CallRecord:
        """The call's record once its script is over (``done`` or ``failed``), or as it is after ``timeout``."""

        def over(record: CallRecord) -> bool:
            state = record.script_state
            return state is not None and state.status in ("done", "failed")

        return self.emulator.calls.wait_until(self.call_id, over, timeout=timeout)


@dataclass(frozen=True)
class PlayedCall:
    """A call :meth:`ScriptedCalls.play` ran to its end: why the sideband ended, the record, the handle."""

    end: CallEnd
    record: CallRecord
    handle: CallHandle


class ScriptedCalls:
    """Starts accepted Realtime SIP calls on the emulator, each playing ``script`` (the steps of
    docs/emulator-calls.md: ``caller``, ``model_calls``, ``expect_output``...), and attaches ``tools`` and
    ``observers`` with the service's own ``aattach_call`` (the same controller the phone webhook uses)."""

    def __init__(self, emulator: Emulator, container: RealtimeContainer) -> None:
        self.emulator = emulator
        self.container = container
        self._watchers: set[asyncio.Task[None]] = set()

    async def __call__(
        self,
        script: Sequence[Any] | str,
        *,
        tools: Any = None,
        observers: Iterable[Any] = (),
        call_id: str | None = None,
        **attach_options: Any,
    ) -> ScriptedCall:
        """Start the call and attach (on the running loop); ``attach_options`` go to ``aattach_call``
        (``tool_timeout``, ``max_call_seconds``...). A bad script is a ``ScriptError`` before anything starts."""
        from ..emulator import CallRecord

        call_id = call_id or "rtc_" + secrets.token_hex(12)
        self.emulator.calls.add(
            CallRecord(id=call_id, api="realtime", transport="sip", state="accepted", created_at=0.0)
        )
        self.emulator.script_call(call_id, script)
        service = self.container.realtime_session_service()
        handle = await service.aattach_call(call_id, tools=tools, observers=observers, **attach_options)
        call = ScriptedCall(call_id, handle, self.emulator)
        self._watchers.add(asyncio.get_running_loop().create_task(self._close_on_failure(call)))
        return call

    async def _close_on_failure(self, call: ScriptedCall) -> None:
        """A failed script leaves the call's socket to re-attach to: close the sideband then, so
        ``handle.closed()`` returns (reason ``closed``) and the test reads the failure from the record."""
        try:
            while True:
                record = self.emulator.calls.get(call.call_id)
                state = record.script_state if record is not None else None
                if state is not None and state.status == "failed":
                    await call.handle.close()
                    return
                if state is not None and state.status == "done":
                    return
                await asyncio.sleep(_POLL_SECONDS)
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._watchers.discard(task)

    def play(
        self,
        script: Sequence[Any] | str,
        *,
        tools: Any = None,
        observers: Iterable[Any] = (),
        timeout: float = PLAY_SECONDS,
        **attach_options: Any,
    ) -> PlayedCall:
        """From a sync test: start the call, wait for its end (at most ``timeout`` seconds, then it is closed
        and ``TimeoutError`` raised) and return it with its settled record."""

        async def run() -> PlayedCall:
            call = await self(script, tools=tools, observers=observers, **attach_options)
            try:
                async with asyncio.timeout(timeout):
                    end = await call.handle.closed()
            except TimeoutError:
                await call.handle.close()
                raise
            return PlayedCall(end, call.record(), call.handle)

        return asyncio.run(run())


@pytest.fixture
def realtime_scripted_call(
    realtime_emulator: Emulator, realtime_emulator_container: RealtimeContainer
) -> ScriptedCalls:
    """``await realtime_scripted_call(script=[...], tools=toolbox)`` -> :class:`ScriptedCall` (async tests), or
    ``realtime_scripted_call.play(script=[...], tools=toolbox)`` -> :class:`PlayedCall` (sync tests)."""
    return ScriptedCalls(realtime_emulator, realtime_emulator_container)
