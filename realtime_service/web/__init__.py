"""The HTTP side: the routes browsers and OpenAI call, framework-neutral, and what serves them.

The folders read bottom-up, each importing only the ones before it (``tests/test_layout.py`` checks):

- :mod:`.messages`, :mod:`.settings`, :mod:`.authority`: the request and response every route takes and gives
  (:class:`WebRequest`, :class:`WebResponse`), the ``server`` settings, the one ``Host``/``Origin`` parser;
- :mod:`.admission`: the steps every route composes (hosts, CORS, auth, throttle, budget, bodies, access log);
- :mod:`.routes`: ``/token`` (:class:`TokenEndpoint`), ``/session``, ``/webhooks/openai``, the demo page;
- :mod:`.adapters`: Flask, FastAPI and the plain ASGI fast routes;
- :mod:`.servers`: ``serve``, the containers that build the routes (:class:`TokenServerContainer`), the
  waitress and uvicorn guards.
"""

from __future__ import annotations

import warnings
from typing import Any

from .admission.answers import Refused, error_answer
from .admission.pipeline import Admission, Admitted, ClientKeys
from .admission.ratelimit import IdentityRateLimiter, LimiterUnavailable
from .messages import WebRequest, WebResponse
from .routes.policy import PolicyError, SessionPolicy, SessionTerms
from .routes.token.endpoint import TokenEndpoint
from .routes.token.minting import Minter, choose_minter
from .servers.containers import ServeContainer, TokenServerContainer
from .settings import ServerSettings, load_server_settings

#: The names these types had in 0.1 (they are not only ``/token``'s, and not the gateway's ``Http*``).
_RENAMED = {
    "TokenRequest": "WebRequest",
    "TokenResponse": "WebResponse",
    "HttpRequest": "WebRequest",
    "HttpResponse": "WebResponse",
}


def __getattr__(name: str) -> Any:
    if name in _RENAMED:
        warnings.warn(f"realtime_service.web.{name} is now {_RENAMED[name]}", DeprecationWarning, stacklevel=2)
        return globals()[_RENAMED[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Admission",
    "Admitted",
    "ClientKeys",
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
    "TokenServerContainer",
    "WebRequest",
    "WebResponse",
    "choose_minter",
    "error_answer",
    "load_server_settings",
]
