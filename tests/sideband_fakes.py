"""Shared by the sideband tests: a tiny ToolRunner, a service pointed at an emulator, and a record once its
script is over."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from realtime_service.containers import RealtimeContainer
from realtime_service.emulator import CallRecord, Emulator
from realtime_service.service import RealtimeSessionService

#: The order call: the caller asks, the model calls lookup_order, the app must answer it once.
ORDER = [
    {"caller": "Hi, where is my order 1234?"},
    {"model_calls": {"name": "lookup_order", "arguments": {"order_id": "1234"}, "call_id": "call_1"}},
    {"expect_output": {"timeout": 10}},
    {"model_says": "Your order 1234 ships tomorrow."},
    "hangup",
]
FAST = {"reattach_delay": 0.01}


class Tools:
    """A tiny ToolRunner: records each run; ``lookup_order`` answers, ``explode`` raises (a runner breaking the
    contract, which the controller must survive), anything else is an unknown tool. ``gate``, when set, holds
    every tool until that many calls have started (parallel calls)."""

    def __init__(self, gate: int = 0) -> None:
        self.runs: list[tuple[str, str, str]] = []
        self.gate = gate
        self._started: asyncio.Event | None = None

    def definitions(self) -> list[dict[str, Any]]:
        return [{"type": "function", "name": "lookup_order", "parameters": {"type": "object"}}]

    async def run(self, name: str, arguments: str, *, call_id: str) -> str:
        self.runs.append((name, arguments, call_id))
        if self.gate:
            self._started = self._started or asyncio.Event()
            if len(self.runs) >= self.gate:
                self._started.set()
            await self._started.wait()
        if name == "explode":
            raise RuntimeError("boom sk-should-not-leak")
        if name != "lookup_order":
            return json.dumps({"error": f"unknown tool {name[:40]}"})
        try:
            order = json.loads(arguments)["order_id"]
        except (ValueError, KeyError, TypeError):
            return json.dumps({"error": "bad arguments"})
        return json.dumps({"order_id": order, "status": "shipped"})


def service_for(emulator: Emulator, **config: Any) -> RealtimeSessionService:
    container = RealtimeContainer(environ={})
    container.config.from_dict({"api_key": emulator.api_key, "base_url": emulator.base_url, **config})
    service: RealtimeSessionService = container.realtime_session_service()
    return service


def settled(emulator: Emulator, call_id: str) -> CallRecord:
    """The record once its script (if any) is over: the emulator closes the socket a moment before it says so."""

    def over(record: CallRecord) -> bool:
        return record.script_state is None or record.script_state.status in ("done", "failed")

    return emulator.calls.wait_until(call_id, over, timeout=10)


def delivered(record: CallRecord, kind: str) -> list[dict[str, Any]]:
    """The ``function_call_output`` items the app sent in ``kind`` events, each once: a batch re-sent after a drop
    (its pong never came back, so the app could not know it arrived) is the same item on a later connection, and
    counts once. The same item twice on one connection is a bug and fails here."""
    items: dict[str, dict[str, Any]] = {}
    connections: dict[str, set[str]] = {}
    for received in record.client_events:
        item = received.event.get("item")
        if received.event.get("type") != kind or not isinstance(item, dict):
            continue
        if item.get("type") != "function_call_output":
            continue
        key = json.dumps(item, sort_keys=True)
        seen_on = connections.setdefault(key, set())
        assert received.connection not in seen_on, f"the same output twice on one connection: {key}"
        seen_on.add(received.connection)
        items[key] = item
    return list(items.values())
