"""A Flask host app that mounts the token endpoint (docs/token-endpoint.md).

Run it: ``OPENAI_API_KEY=sk-... flask --app examples.token_flask run`` (or serve ``app`` with waitress).
"""

from dependency_injector import containers, providers
from flask import Flask

from realtime_service.web.adapters.flask_blueprint import blueprint
from realtime_service.web.servers.containers import TokenServerContainer


class Application(containers.DeclarativeContainer):
    config = providers.Configuration(yaml_files=["config/token-server.yaml"])
    token_server = providers.Container(TokenServerContainer, config=config)


application = Application()
application.wire(modules=["realtime_service.web.adapters.flask_blueprint"])
app = Flask(__name__)
app.register_blueprint(blueprint, url_prefix="/realtime")  # POST /realtime/token, GET /realtime/healthz
