"""The Flask adapter: a blueprint whose views get the endpoint injected (``pip install realtime-service[flask]``).

Nest :class:`~realtime_service.web.servers.containers.TokenServerContainer` as ``token_server`` in your container, wire
this module, register the blueprint::

    application.wire(modules=["realtime_service.web.adapters.flask_blueprint"])
    app.register_blueprint(blueprint, url_prefix="/realtime")     # POST /realtime/token, /realtime/session

Or write the view yourself with your own provider names: it is ``to_flask(endpoint.handle(token_request(...)))``.
"""

from __future__ import annotations

from dependency_injector.wiring import Provide, inject
from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from ...webhooks.headers import request_headers
from ..messages import WebRequest, WebResponse
from ..routes.demo.page import DemoAssets
from ..routes.phone import PhoneEndpoint
from ..routes.session.endpoint import SignalingEndpoint
from ..routes.token.endpoint import TokenEndpoint

ENDPOINT = "token_server.token_endpoint"
SIGNALING = "token_server.signaling_endpoint"
DEMO = "token_server.demo_assets"
PHONE = "token_server.phone_endpoint"

blueprint = Blueprint("realtime_token", __name__)


def token_request(max_body_bytes: int) -> WebRequest:
    """Flask's current request as a :class:`WebRequest`, reading at most ``max_body_bytes + 1`` body bytes."""
    length = request.content_length
    too_large = length is not None and length > max_body_bytes
    body = b"" if too_large else request.stream.read(max_body_bytes + 1)
    return WebRequest(
        method=request.method,
        path=request.path,
        headers=request_headers(request.headers.items()),  # a repeated webhook header: its values joined
        body=body,
        client=request.remote_addr,
        query=request.query_string.decode("latin-1"),
        body_too_large=too_large or len(body) > max_body_bytes,
        scheme=request.scheme,
    )


def to_flask(response: WebResponse) -> Response:
    """``response`` for Flask. ``Connection`` is hop-by-hop, which PEP 3333 forbids an application to set: the
    WSGI server owns the connection (waitress has read the whole, bounded, body before the app runs)."""
    headers = [(name, value) for name, value in response.headers if name.lower() != "connection"]
    flask_response = Response(response.body, status=response.status, headers=headers)
    if response.content_type is None:
        flask_response.headers.pop("Content-Type", None)
    return flask_response


@blueprint.route("/token", methods=["POST", "OPTIONS"], provide_automatic_options=False)
@inject
def token(endpoint: TokenEndpoint = Provide[ENDPOINT]) -> Response:
    """Mint a key (``POST``) or answer the CORS preflight (``OPTIONS``)."""
    return to_flask(endpoint.handle(token_request(endpoint.settings.max_body_bytes)))


@blueprint.route("/session", methods=["POST", "OPTIONS"], provide_automatic_options=False)
@inject
def session(endpoint: SignalingEndpoint = Provide[SIGNALING]) -> Response:
    """Start a call for the browser's SDP offer (``POST``, ``application/sdp``) or answer the preflight."""
    return to_flask(endpoint.handle(token_request(endpoint.settings.max_body_bytes)))


@inject
def phone_webhook(endpoint: PhoneEndpoint = Provide[PHONE]) -> Response:
    """OpenAI's signed webhook for incoming calls (``server.phone.path``): the raw body goes to the endpoint."""
    return to_flask(endpoint.handle(token_request(endpoint.settings.max_body_bytes)))


@blueprint.get("/healthz", provide_automatic_options=False)
@inject
def healthz(endpoint: TokenEndpoint = Provide[ENDPOINT]) -> Response:
    return to_flask(endpoint.healthz(token_request(0)))


@blueprint.get("/readyz", provide_automatic_options=False)
@inject
def readyz(endpoint: TokenEndpoint = Provide[ENDPOINT]) -> Response:
    return to_flask(endpoint.readyz(token_request(0)))


@inject
def demo_page(
    name: str = "index.html", assets: DemoAssets = Provide[DEMO], endpoint: TokenEndpoint = Provide[ENDPOINT]
) -> Response:
    described = token_request(0)
    return to_flask(endpoint.host_refusal(described) or assets.asset(described, name))


@inject
def demo_config(assets: DemoAssets = Provide[DEMO], endpoint: TokenEndpoint = Provide[ENDPOINT]) -> Response:
    described = token_request(0)
    return to_flask(endpoint.host_refusal(described) or assets.config(described))


@inject
def refuse(error: Exception, endpoint: TokenEndpoint = Provide[ENDPOINT]) -> Response:
    """Fallback for every answer Flask would give itself (404, 405, a malformed request's 400): the endpoint's
    JSON error with ``no-store``, logged like every request."""
    status = getattr(error, "code", None)
    return to_flask(endpoint.refuse(token_request(0), status if isinstance(status, int) else 400))


def create_flask_app(
    path: str = "/token", *, demo: bool = True, session_path: str | None = None, phone_path: str | None = None
) -> Flask:
    """The app ``serve`` runs: the token view at ``path``, the signaling view at ``session_path`` (if given),
    health checks, the demo page at ``/``, and the phone webhook at ``phone_path`` (``server.phone.path``)
    when given.

    Wire this module to a container with ``token_server`` first (``serve`` does).
    """
    app = Flask("realtime_service.web", static_folder=None)
    app.add_url_rule(path, "token", token, methods=["POST", "OPTIONS"], provide_automatic_options=False)
    if session_path is not None:
        app.add_url_rule(session_path, "session", session, methods=["POST", "OPTIONS"], provide_automatic_options=False)
    # No automatic OPTIONS or HEAD answers: every answer is the endpoint's, in OpenAI's shape.
    if phone_path is not None:
        app.add_url_rule(phone_path, "phone_webhook", phone_webhook, methods=["POST"], provide_automatic_options=False)
    app.add_url_rule("/healthz", "healthz", healthz, methods=["GET"], provide_automatic_options=False)
    app.add_url_rule("/readyz", "readyz", readyz, methods=["GET"], provide_automatic_options=False)
    if demo:
        app.add_url_rule("/", "demo_page", demo_page, methods=["GET"], provide_automatic_options=False)
        app.add_url_rule("/static/<name>", "demo_asset", demo_page, methods=["GET"], provide_automatic_options=False)
        app.add_url_rule(
            "/demo-config.json", "demo_config", demo_config, methods=["GET"], provide_automatic_options=False
        )
    app.register_error_handler(HTTPException, refuse)
    return app
