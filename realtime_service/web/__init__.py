"""The token endpoint: hand browsers ephemeral keys under a server-side policy.

Framework-neutral core (:class:`TokenEndpoint`, no web framework imported here), the container that nests the
service's own (:class:`TokenServerContainer`), adapters in :mod:`.flask_blueprint` and :mod:`.fastapi_router`
(optional extras), and ``serve`` in :mod:`.serve`.
"""

from .containers import ServeContainer, TokenServerContainer
from .endpoint import TokenEndpoint
from .messages import TokenRequest, TokenResponse
from .minting import Minter, choose_minter
from .policy import PolicyError, SessionPolicy, SessionTerms
from .ratelimit import IdentityRateLimiter, LimiterUnavailable
from .settings import ServerSettings, load_server_settings

__all__ = [
    "IdentityRateLimiter",
    "LimiterUnavailable",
    "Minter",
    "PolicyError",
    "ServeContainer",
    "ServerSettings",
    "SessionPolicy",
    "SessionTerms",
    "TokenEndpoint",
    "TokenRequest",
    "TokenResponse",
    "TokenServerContainer",
    "choose_minter",
    "load_server_settings",
]
