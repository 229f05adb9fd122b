"""The token endpoint: hand browsers ephemeral keys under a server-side policy.

Framework-neutral core (:class:`TokenEndpoint`, no web framework imported here), the container that nests the
service's own (:class:`TokenServerContainer`), adapters in :mod:`.flask_blueprint` and :mod:`.fastapi_router`
(optional extras), and ``serve`` in :mod:`.serve`.

The admission seam: every route takes the framework-neutral :class:`TokenRequest` (an alias,
:data:`~.messages.HttpRequest`, for routes that mint nothing) and runs the steps it needs through
:class:`~.admission.Admission`, one module per concern, each raising :class:`~.answers.Refused` with an answer in
OpenAI's error shape and ``no-store``: :mod:`.hosts` (the ``Host`` allow-list), :mod:`.cors`, :mod:`.auth`,
:mod:`.throttle` (failed authentication) and :mod:`.budget` (per-identity rate limit), :mod:`.bodies` (size, and
the JSON object of JSON routes; a route with a raw SDP or signed webhook body reads ``request.body`` itself),
then :mod:`.accesslog` writes the one escaped access line. The servers' own limits (connections, header and body
sizes, arrival deadlines) are in :mod:`.waitress_guard` and :mod:`.uvicorn_guard`, so they hold for every route.
"""

from .admission import Admission, Admitted, ClientKeys
from .answers import Refused, error_answer
from .containers import ServeContainer, TokenServerContainer
from .endpoint import TokenEndpoint
from .messages import HttpRequest, HttpResponse, TokenRequest, TokenResponse
from .minting import Minter, choose_minter
from .policy import PolicyError, SessionPolicy, SessionTerms
from .ratelimit import IdentityRateLimiter, LimiterUnavailable
from .settings import ServerSettings, load_server_settings

__all__ = [
    "Admission",
    "Admitted",
    "ClientKeys",
    "HttpRequest",
    "HttpResponse",
    "IdentityRateLimiter",
    "LimiterUnavailable",
    "Minter",
    "PolicyError",
    "Refused",
    "ServeContainer",
    "ServerSettings",
    "SessionPolicy",
    "SessionTerms",
    "TokenEndpoint",
    "TokenRequest",
    "TokenResponse",
    "TokenServerContainer",
    "choose_minter",
    "error_answer",
    "load_server_settings",
]
