"""Mint OpenAI Realtime ephemeral keys from a server: dependency-injected, retrying, typed."""

__version__ = "0.1.0"

from .containers import RealtimeContainer
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
from .models import (
    NOT_GIVEN,
    ClientSecret,
    RealtimeSessionCreateRequest,
    RealtimeSessionCreateResponse,
)
from .retry import RetryPolicy
from .service import RealtimeSessionService

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientSecret",
    "ConfigurationError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RealtimeContainer",
    "RealtimeServiceError",
    "RealtimeSessionCreateRequest",
    "RealtimeSessionCreateResponse",
    "RealtimeSessionService",
    "RequestValidationError",
    "ResponseValidationError",
    "RetryPolicy",
    "UnprocessableEntityError",
    "__version__",
]
