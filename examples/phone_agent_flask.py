"""A phone agent with one private tool, on Flask and the package's own sideband controller: the router accepts
each Realtime SIP call with a ``Toolbox``; once the accept succeeded, this worker attaches the call's sideband in
the background (under the call's lease) and answers ``lookup_order`` (docs/tools-and-delegation.md, "Phone
calls"). The hand-written SDK version of the same app is ``examples/phone_sideband.py``.

Run it against the emulator, in two shells::

    export OPENAI_WEBHOOK_SECRET=whsec_c2NyaXB0ZWQtY2FsbC1leGFtcGxlLXNlY3JldC0zMmI=
    OPENAI_API_KEY=sk-emulator-local OPENAI_BASE_URL=http://127.0.0.1:8765/v1 python -m examples.phone_agent_flask
    realtime-service emulator ring http://127.0.0.1:8000/webhooks/openai --port 8765 --api-key sk-emulator-local \\
        --script examples/order_call.yaml

``ring`` prints ``script: done``: the model called the tool, this app answered it once, the caller hung up.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys

from dependency_injector import containers, providers
from flask import Flask

from realtime_service.sideband.tools import Toolbox
from realtime_service.web.adapters.flask_blueprint import phone_webhook
from realtime_service.web.servers.containers import TokenServerContainer
from realtime_service.webhooks import Accept, Decision, Ignore, RealtimeCallIncoming, WebhookEvent

toolbox = Toolbox(timeout=10.0)


@toolbox.function
def lookup_order(order_id: str) -> dict[str, str]:
    """Where an order is and when it ships."""
    return {"order_id": order_id, "status": "shipped"}  # a real app queries with its own credentials here


SESSION = {"type": "realtime", "model": "gpt-realtime-2.1", "instructions": "Look orders up with lookup_order."}


def route(event: WebhookEvent) -> Decision:
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
application.wire(modules=["realtime_service.web.adapters.flask_blueprint"])
app = Flask(__name__)
app.add_url_rule("/webhooks/openai", view_func=phone_webhook, methods=["POST"])


def main(argv: list[str] | None = None) -> None:
    """Serve ``app`` with waitress on 127.0.0.1; SIGTERM or Ctrl-C closes every call's sideband on the way out."""
    import waitress

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sock = socket.create_server(("127.0.0.1", args.port))
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}/webhooks/openai", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        waitress.serve(app, sockets=[sock], threads=4)
    except KeyboardInterrupt:
        pass
    finally:
        application.token_server.shutdown_resources()  # cancels the attaches, closes their sockets
        sock.close()


if __name__ == "__main__":
    main()
