"""The one tool the phone agent examples answer (``examples/order_call.yaml`` calls it): name it in configuration
as ``server.phone.tools: examples.order_tools:toolbox``, or pass it as ``Accept(SESSION, tools=toolbox)``; and the
same answer for GPT-Live client delegation (``answer_order``)."""

import re

from realtime_service.sideband.live import DelegationContext
from realtime_service.sideband.tools import Toolbox

toolbox = Toolbox(timeout=10.0)


@toolbox.function
def lookup_order(order_id: str) -> dict[str, str]:
    """Where an order is and when it ships."""
    return {"order_id": order_id, "status": "shipped"}


def answer_order(context: DelegationContext) -> str:
    """A GPT-Live client delegation's answer (``server.sideband.delegate: examples.order_tools:answer_order``):
    the task is in the transcript heard so far; the returned text is spoken (``session.commentary.append``)."""
    numbers = re.findall(r"\d+", context.text)
    if not numbers:
        return "Which order number is it?"
    return f"Order {numbers[-1]} has {lookup_order(numbers[-1])['status']}."
