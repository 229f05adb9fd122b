"""A Flask host app whose browsers start voice calls with no key: ``POST /voice/session`` (docs/signaling.md).

The browser posts its WebRTC SDP offer (``Content-Type: application/sdp``); the server starts the call with its
own API key and the session of ``server.session`` and answers ``201`` with the SDP answer and ``X-Call-Id``.
Run it: ``OPENAI_API_KEY=sk-... flask --app examples.signaling_flask run`` (or serve ``app`` with waitress).
"""

from dependency_injector import containers, providers
from flask import Flask

from realtime_service.web.adapters.flask_blueprint import blueprint
from realtime_service.web.servers.containers import TokenServerContainer


class Application(containers.DeclarativeContainer):
    config = providers.Configuration(yaml_files=["config/token-server.yaml"])
    token_server = providers.Container(TokenServerContainer, config=config)


application = Application()
# The Realtime API ("live" for GPT-Live), calls hung up after ten minutes: keys of the server: sub-tree.
application.config.from_dict({"server": {"voice_api": "realtime", "max_call_seconds": 600}})
application.wire(modules=["realtime_service.web.adapters.flask_blueprint"])
app = Flask(__name__)
app.register_blueprint(blueprint, url_prefix="/voice")  # POST /voice/session (and /voice/token)
