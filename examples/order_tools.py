"""The one tool the phone agent examples answer (``examples/order_call.yaml`` calls it): name it in configuration
as ``server.phone.tools: examples.order_tools:toolbox``, or pass it as ``Accept(SESSION, tools=toolbox)``."""

from realtime_service.sideband.tools import Toolbox

toolbox = Toolbox(timeout=10.0)


@toolbox.function
def lookup_order(order_id: str) -> dict[str, str]:
    """Where an order is and when it ships."""
    return {"order_id": order_id, "status": "shipped"}
