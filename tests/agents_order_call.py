"""The order call the Agents SDK tests play (test_agents_sdk.py, test_agents_handoff.py): the script, the output
its ``expect_output`` step wants, and an SDK ``RealtimeAgent`` whose one function tool answers it.

Imports ``agents``: import this module after the test module's ``pytest.importorskip("agents")``."""

from __future__ import annotations

import json
from typing import Any

from agents import function_tool
from agents.realtime import RealtimeAgent

TOOL_OUTPUT = {"order_id": "A-1", "status": "shipped"}
ORDER_CALL: list[Any] = [
    {"caller": "Hi, where is my order A-1?"},
    {"model_calls": {"name": "lookup_order", "arguments": {"order_id": "A-1"}, "call_id": "call_A1"}},
    {"expect_output": {"timeout": 10, "output": TOOL_OUTPUT}},
    {"model_says": "Your order A-1 ships tomorrow."},
    "hangup",
]


def order_agent(ran: list[str]) -> RealtimeAgent[Any]:
    """An agent whose ``lookup_order`` answers :data:`TOOL_OUTPUT`, appending each order id it is asked to ``ran``."""

    @function_tool
    def lookup_order(order_id: str) -> str:
        """Look up an order's status by its id."""
        ran.append(order_id)
        return json.dumps(TOOL_OUTPUT)

    return RealtimeAgent(name="Orders", instructions="Answer questions about orders.", tools=[lookup_order])
