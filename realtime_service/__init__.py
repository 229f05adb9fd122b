"""Mint OpenAI Realtime ephemeral keys from a server: dependency-injected, retrying, typed."""

__version__ = "0.1.0"

from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RealtimeServiceError,
    RequestValidationError,
    ResponseValidationError,
    UnprocessableEntityError,
)
from .containers import RealtimeContainer  # noqa: E402
from .models import (  # noqa: E402
    NOT_GIVEN,
    ClientSecret,
    RealtimeSessionCreateRequest,
    RealtimeSessionCreateResponse,
)
from .retry import RetryPolicy  # noqa: E402
from .service import RealtimeSessionService  # noqa: E402

__all__ = [
    "NOT_GIVEN",
    "ClientSecret",
    "RealtimeContainer",
    "RealtimeSessionCreateRequest",
    "RealtimeSessionCreateResponse",
    "RealtimeSessionService",
    "RetryPolicy",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RealtimeServiceError",
    "RequestValidationError",
    "ResponseValidationError",
    "UnprocessableEntityError",
    "__version__",
]
