"""Mint OpenAI Realtime ephemeral keys from a server: dependency-injected, retrying, typed."""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
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

__all__ = [
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
