"""A Flask host app with its own call router on the phone webhook (docs/phone-calls.md, "A minimal router").

Run it: ``OPENAI_API_KEY=sk-... OPENAI_WEBHOOK_SECRET=whsec_... flask --app examples.phone_flask run``, then ring
it offline: ``realtime-service emulator ring http://127.0.0.1:5000/webhooks/openai --from +14155550100``.
"""

from dependency_injector import containers, providers
from flask import Flask

from realtime_service.web.adapters.flask_blueprint import phone_webhook
from realtime_service.web.servers.containers import TokenServerContainer
from realtime_service.webhooks import (
    Accept,
    Decision,
    Ignore,
    RealtimeCallIncoming,
    Reject,
    WebhookEvent,
    caller_number,
)

SESSION = {"type": "realtime", "model": "gpt-realtime-2.1", "instructions": "You answer the phone for Example Ltd."}
BLOCKED = frozenset({"+14155550666"})


class FrontDesk:
    """Accept every Realtime call with ``SESSION``, turn away blocked and anonymous numbers (486 Busy Here)."""

    def route(self, event: WebhookEvent) -> Decision:
        if not isinstance(event, RealtimeCallIncoming):
            return Ignore()  # the same call's live.transport.incoming, or not a call at all
        number = caller_number(event)
        if number is None or number in BLOCKED:
            return Reject(486)
        return Accept(SESSION)


class Application(containers.DeclarativeContainer):
    config = providers.Configuration(yaml_files=["config/token-server.yaml"])
    token_server = providers.Container(TokenServerContainer, config=config)


application = Application()
application.token_server.call_router.override(providers.Singleton(FrontDesk))
application.wire(modules=["realtime_service.web.adapters.flask_blueprint"])
app = Flask(__name__)
app.add_url_rule("/webhooks/openai", view_func=phone_webhook, methods=["POST"])
