"""The phone agent of ``examples/phone_agent_flask.py`` on FastAPI and uvicorn: the router (async here) accepts
each Realtime SIP call with a ``Toolbox``, and this worker attaches the call's sideband in the background and
answers ``lookup_order`` (docs/tools-and-delegation.md, "Phone calls"). Run and ring it as the Flask one, with
``python -m examples.phone_agent_fastapi``.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys

from dependency_injector import containers, providers
from fastapi import FastAPI

from realtime_service.sideband.tools import Toolbox
from realtime_service.web.adapters.fastapi_router import phone_webhook
from realtime_service.web.servers.containers import TokenServerContainer
from realtime_service.webhooks import Accept, Decision, Ignore, RealtimeCallIncoming, WebhookEvent

toolbox = Toolbox(timeout=10.0)


@toolbox.function
async def lookup_order(order_id: str) -> dict[str, str]:
    """Where an order is and when it ships."""
    return {"order_id": order_id, "status": "shipped"}


SESSION = {"type": "realtime", "model": "gpt-realtime-2.1", "instructions": "Look orders up with lookup_order."}


async def route(event: WebhookEvent) -> Decision:
    """Accept every Realtime call with the toolbox (the call's other announcement, if any, is ignored)."""
    if not isinstance(event, RealtimeCallIncoming):
        return Ignore()
    return Accept(SESSION, tools=toolbox)


class Application(containers.DeclarativeContainer):
    config = providers.Configuration()
    token_server = providers.Container(TokenServerContainer, config=config)


application = Application()
application.config.from_dict({"server": {"allowed_hosts": ["127.0.0.1", "localhost"]}})
application.token_server.call_router.override(providers.Object(route))
application.wire(modules=["realtime_service.web.adapters.fastapi_router"])
app = FastAPI()
app.add_api_route("/webhooks/openai", phone_webhook, methods=["POST"])


def main(argv: list[str] | None = None) -> None:
    """Serve ``app`` with uvicorn on 127.0.0.1; on SIGTERM or Ctrl-C uvicorn stops, then every sideband closes."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sock = socket.create_server(("127.0.0.1", args.port))
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}/webhooks/openai", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    try:
        server.run(sockets=[sock])
    finally:
        application.token_server.shutdown_resources()  # cancels the attaches, closes their sockets
        sock.close()


if __name__ == "__main__":
    main()
